/*
 * dump_server.c - a small threaded key-value server, the program
 * dump_under_load.sh dumps again and again while dump_load.c loads it.
 *
 * `dump_server PORTFILE`: listens on 127.0.0.1 (a port the kernel picks),
 * writes "PORT PID" to PORTFILE, and serves line requests on persistent
 * connections:
 *   PING            -> PONG
 *   SET key value   -> OK
 *   GET key         -> VALUE value | NONE
 * The main thread accepts connections and queues them (a mutex and a
 * condition variable); 128 worker threads take them from the queue. Items
 * live in a hash table guarded by 64 item locks (pthread mutexes, as
 * memcached's item locks); a statistics rwlock is read on GET and written
 * on SET. SIGTERM (or SIGINT) ends it cleanly: the handler writes to a
 * self-pipe, the main thread stops accepting, shuts the open connections
 * down, joins the workers and returns 0 from main.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "harm.h"

#define WORKERS 128
#define ITEM_LOCKS 64
#define BUCKETS 4096
#define QUEUE 1024
#define MAX_CONNS 1024

struct item {
    struct item *next;
    char key[48];
    long value;
};

static struct item *table[BUCKETS];
static pthread_mutex_t item_locks[ITEM_LOCKS];
static pthread_rwlock_t stats_lock = PTHREAD_RWLOCK_INITIALIZER;
static long stat_sets, stat_gets; /* sets under the write lock; gets atomically */

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_nonempty = PTHREAD_COND_INITIALIZER;
static int queue[QUEUE];
static int queue_head, queue_len;
static int stopping; /* under queue_lock */

static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static int conns[MAX_CONNS]; /* open connections, -1 = free slot; under conns_lock */

static int wake_pipe[2];

static void on_term(int sig)
{
    (void)sig;
    int e = errno;
    ssize_t w = write(wake_pipe[1], "x", 1);
    (void)w;
    errno = e;
}

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

static void item_set(const char *key, long value)
{
    unsigned h = hash(key) % BUCKETS;
    pthread_mutex_t *lock = &item_locks[h % ITEM_LOCKS];
    pthread_mutex_lock(lock);
    struct item *it = table[h];
    while (it && strcmp(it->key, key) != 0)
        it = it->next;
    if (!it) {
        it = calloc(1, sizeof *it);
        if (!it)
            die("out of memory");
        snprintf(it->key, sizeof it->key, "%s", key);
        it->next = table[h];
        table[h] = it;
    }
    it->value = value;
    pthread_mutex_unlock(lock);
    pthread_rwlock_wrlock(&stats_lock);
    stat_sets++;
    pthread_rwlock_unlock(&stats_lock);
}

static int item_get(const char *key, long *value)
{
    pthread_rwlock_rdlock(&stats_lock);
    __atomic_add_fetch(&stat_gets, 1, __ATOMIC_RELAXED);
    pthread_rwlock_unlock(&stats_lock);
    unsigned h = hash(key) % BUCKETS;
    pthread_mutex_t *lock = &item_locks[h % ITEM_LOCKS];
    pthread_mutex_lock(lock);
    struct item *it = table[h];
    while (it && strcmp(it->key, key) != 0)
        it = it->next;
    int found = it != NULL;
    if (found)
        *value = it->value;
    pthread_mutex_unlock(lock);
    return found;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Answers one request line; -1 to close the connection. */
static int answer(int fd, char *line)
{
    char key[48], reply[96];
    long value;
    if (strcmp(line, "PING") == 0)
        return write_all(fd, "PONG\n", 5);
    if (sscanf(line, "SET %47s %ld", key, &value) == 2) {
        item_set(key, value);
        return write_all(fd, "OK\n", 3);
    }
    if (sscanf(line, "GET %47s", key) == 1) {
        int n = item_get(key, &value) ? snprintf(reply, sizeof reply, "VALUE %ld\n", value)
                                       : snprintf(reply, sizeof reply, "NONE\n");
        return write_all(fd, reply, (size_t)n);
    }
    write_all(fd, "ERROR\n", 6);
    return -1;
}

static void serve(int fd)
{
    char buf[4096];
    size_t have = 0;
    for (;;) {
        ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return;
        have += (size_t)r;
        buf[have] = '\0';
        char *start = buf, *nl;
        while ((nl = strchr(start, '\n')) != NULL) {
            *nl = '\0';
            if (nl > start && nl[-1] == '\r')
                nl[-1] = '\0';
            if (answer(fd, start) != 0)
                return;
            start = nl + 1;
        }
        have = (size_t)(buf + have - start);
        memmove(buf, start, have);
        if (have == sizeof buf - 1)
            return; /* a line too long */
    }
}

/* Registers fd as open (so shutdown can reach it); 0 if stopping. */
static int conn_add(int fd)
{
    int ok = 0;
    pthread_mutex_lock(&conns_lock);
    pthread_mutex_lock(&queue_lock);
    int stop = stopping;
    pthread_mutex_unlock(&queue_lock);
    if (!stop)
        for (int i = 0; i < MAX_CONNS; i++)
            if (conns[i] < 0) {
                conns[i] = fd;
                ok = 1;
                break;
            }
    pthread_mutex_unlock(&conns_lock);
    return ok;
}

static void conn_remove(int fd)
{
    pthread_mutex_lock(&conns_lock);
    for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i] == fd)
            conns[i] = -1;
    close(fd);
    pthread_mutex_unlock(&conns_lock);
}

static void *worker(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&queue_lock);
        while (queue_len == 0 && !stopping)
            pthread_cond_wait(&queue_nonempty, &queue_lock);
        if (stopping) {
            pthread_mutex_unlock(&queue_lock);
            return NULL;
        }
        int fd = queue[queue_head];
        queue_head = (queue_head + 1) % QUEUE;
        queue_len--;
        pthread_mutex_unlock(&queue_lock);
        if (!conn_add(fd)) {
            close(fd);
            continue;
        }
        serve(fd);
        conn_remove(fd);
    }
}

int main(int argc, char **argv)
{
    harm_init("harm_dump_server");
    if (argc != 2) {
        fprintf(stderr, "usage: dump_server PORTFILE\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < ITEM_LOCKS; i++)
        pthread_mutex_init(&item_locks[i], NULL);
    for (int i = 0; i < MAX_CONNS; i++)
        conns[i] = -1;
    if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        die("pipe2: %s", strerror(errno));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof addr;
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 256) != 0 ||
        getsockname(lfd, (struct sockaddr *)&addr, &alen) != 0)
        die("bind/listen: %s", strerror(errno));

    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        int r = pthread_create(&t[i], NULL, worker, NULL);
        if (r != 0)
            die("pthread_create: %s", strerror(r));
    }

    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%d %d\n", ntohs(addr.sin_port), (int)getpid()) < 0 || fclose(f) != 0 ||
        rename(tmp, argv[1]) != 0)
        die("cannot write %s", argv[1]);

    for (;;) {
        struct pollfd p[2] = { { lfd, POLLIN, 0 }, { wake_pipe[0], POLLIN, 0 } };
        int n = poll(p, 2, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("poll: %s", strerror(errno));
        }
        if (p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
                continue;
            die("accept: %s", strerror(errno));
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_mutex_lock(&queue_lock);
        if (queue_len == QUEUE) {
            pthread_mutex_unlock(&queue_lock);
            close(fd); /* overloaded: the client sees a closed connection */
            continue;
        }
        queue[(queue_head + queue_len) % QUEUE] = fd;
        queue_len++;
        pthread_cond_signal(&queue_nonempty);
        pthread_mutex_unlock(&queue_lock);
    }

    /* SIGTERM: stop accepting, end every connection, join the workers. */
    close(lfd);
    pthread_mutex_lock(&conns_lock);
    pthread_mutex_lock(&queue_lock);
    stopping = 1;
    while (queue_len > 0) {
        close(queue[queue_head]);
        queue_head = (queue_head + 1) % QUEUE;
        queue_len--;
    }
    pthread_cond_broadcast(&queue_nonempty);
    pthread_mutex_unlock(&queue_lock);
    for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i] >= 0)
            shutdown(conns[i], SHUT_RDWR);
    pthread_mutex_unlock(&conns_lock);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);
    printf("dump_server: %ld sets, %ld gets; stopped by SIGTERM\n", stat_sets,
           __atomic_load_n(&stat_gets, __ATOMIC_RELAXED));
    return 0;
}
