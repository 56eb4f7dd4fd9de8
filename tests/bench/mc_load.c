/*
 * mc_load.c - a bounded load for memcached's text protocol over loopback,
 * for tests/bench/real_programs.sh: T client threads, each with its own
 * connection, alternate "set" and "get" of keys drawn from a small key space
 * (so the server's item locks are contended) for S seconds, and the total
 * number of answered requests is printed as "ops N".
 *
 *   mc_load PORT THREADS SECONDS
 *
 * Every reply is read and checked: a wrong or missing one ends the run
 * with status 1. No syncprof here: this is the client, not the program
 * being measured.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define KEYS 64
#define VALUE_LEN 100

static int port;
static double seconds;
static atomic_long total_ops;
static atomic_int failed;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int connect_once(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Reads until the buffer ends with end (a full reply); false on error. */
static int read_reply(int fd, char *buf, size_t cap, const char *end)
{
    size_t len = 0, elen = strlen(end);
    for (;;) {
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r <= 0)
            return 0;
        len += (size_t)r;
        buf[len] = '\0';
        if (len >= elen && strcmp(buf + len - elen, end) == 0)
            return 1;
        if (len + 1 >= cap)
            return 0;
    }
}

static int send_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w <= 0)
            return 0;
        s += w;
        n -= (size_t)w;
    }
    return 1;
}

static void *client(void *arg)
{
    unsigned seed = (unsigned)(long)arg;
    int fd = -1;
    for (int tries = 0; fd < 0 && tries < 100; tries++) {
        fd = connect_once();
        if (fd < 0)
            usleep(20000);
    }
    if (fd < 0) {
        atomic_store(&failed, 1);
        return NULL;
    }
    char value[VALUE_LEN + 1], req[256], buf[4096];
    memset(value, 'v', VALUE_LEN);
    value[VALUE_LEN] = '\0';
    long ops = 0;
    double until = now() + seconds;
    while (now() < until && !atomic_load(&failed)) {
        int k = (int)(rand_r(&seed) % KEYS);
        int n = snprintf(req, sizeof req, "set key%d 0 0 %d\r\n%s\r\n", k, VALUE_LEN, value);
        if (!send_all(fd, req, (size_t)n) || !read_reply(fd, buf, sizeof buf, "STORED\r\n"))
            break;
        n = snprintf(req, sizeof req, "get key%d\r\n", k);
        if (!send_all(fd, req, (size_t)n) || !read_reply(fd, buf, sizeof buf, "END\r\n"))
            break;
        ops += 2;
    }
    if (now() < until && !atomic_load(&failed))
        atomic_store(&failed, 1);
    close(fd);
    atomic_fetch_add(&total_ops, ops);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: mc_load PORT THREADS SECONDS\n");
        return 2;
    }
    port = atoi(argv[1]);
    int threads = atoi(argv[2]);
    seconds = atof(argv[3]);
    if (port <= 0 || threads <= 0 || threads > 256 || !(seconds > 0)) {
        fprintf(stderr, "mc_load: bad arguments\n");
        return 2;
    }
    pthread_t t[256];
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, client, (void *)(long)(i + 1));
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    if (atomic_load(&failed)) {
        fprintf(stderr, "mc_load: a request failed\n");
        return 1;
    }
    printf("ops %ld\n", atomic_load(&total_ops));
    return 0;
}
