/*
 * dump_load.c - the load generator of dump_under_load.sh (plain program).
 *
 *   dump_load PORT SECONDS THREADS   THREADS clients, each on its own
 *       connection, do SET then GET round trips on keys of their own for
 *       SECONDS, checking every answer. Exit 0 if every request was
 *       answered correctly (each within 5 s).
 *   dump_load PORT once   one connection, PING then GET; exit 0 if both
 *       are answered within 2 s.
 * Failures print one line and exit 1.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "harm.h"

static int port;
static int64_t end_ns;
static atomic_long round_trips;

struct conn {
    int fd;
    char buf[512];
    size_t have;
};

static int64_t ms_left(int64_t deadline)
{
    int64_t left = (deadline - harm_now_ns(CLOCK_MONOTONIC)) / 1000000;
    return left < 0 ? 0 : left;
}

static void conn_open(struct conn *c, int timeout_ms)
{
    int64_t deadline = harm_now_ns(CLOCK_MONOTONIC) + (int64_t)timeout_ms * 1000000;
    c->have = 0;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (c->fd < 0)
        die("socket: %s", strerror(errno));
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (errno != EINPROGRESS)
            die("connect to port %d: %s", port, strerror(errno));
        struct pollfd p = { c->fd, POLLOUT, 0 };
        int n;
        while ((n = poll(&p, 1, (int)ms_left(deadline))) < 0 && errno == EINTR)
            ;
        if (n == 0)
            die("connect to port %d: no connection within %d ms", port, timeout_ms);
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0)
            die("connect to port %d: %s", port, strerror(err));
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* A request in a message: its first line. */
#define RQ(request) (int)strcspn(request, "\n"), request

/* Sends request, reads one answer line into line (without '\n') within
 * timeout_ms. */
static void round_trip(struct conn *c, const char *request, char *line, size_t cap,
                       int timeout_ms)
{
    int64_t deadline = harm_now_ns(CLOCK_MONOTONIC) + (int64_t)timeout_ms * 1000000;
    size_t len = strlen(request), off = 0;
    while (off < len) {
        ssize_t w = send(c->fd, request + off, len - off, MSG_NOSIGNAL);
        if (w < 0 && (errno == EINTR || errno == EAGAIN)) {
            struct pollfd p = { c->fd, POLLOUT, 0 };
            if (ms_left(deadline) == 0)
                die("request \"%.*s\": could not send within %d ms", RQ(request), timeout_ms);
            poll(&p, 1, (int)ms_left(deadline));
            continue;
        }
        if (w <= 0)
            die("request \"%.*s\": send: %s", RQ(request), strerror(errno));
        off += (size_t)w;
    }
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->have);
        if (nl) {
            size_t n = (size_t)(nl - c->buf);
            if (n >= cap)
                die("answer too long");
            memcpy(line, c->buf, n);
            line[n] = '\0';
            c->have -= n + 1;
            memmove(c->buf, nl + 1, c->have);
            return;
        }
        if (c->have == sizeof c->buf)
            die("answer too long");
        struct pollfd p = { c->fd, POLLIN, 0 };
        int pr = poll(&p, 1, (int)ms_left(deadline));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0)
            die("request \"%.*s\": no answer within %d ms", RQ(request), timeout_ms);
        ssize_t r = recv(c->fd, c->buf + c->have, sizeof c->buf - c->have, 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r == 0)
            die("request \"%.*s\": the server closed the connection", RQ(request));
        if (r < 0)
            die("request \"%.*s\": recv: %s", RQ(request), strerror(errno));
        c->have += (size_t)r;
    }
}

static void *client(void *arg)
{
    long id = (long)arg;
    struct conn c;
    conn_open(&c, 5000);
    char req[96], line[96], want[64];
    for (long i = 0; harm_now_ns(CLOCK_MONOTONIC) < end_ns; i++) {
        long value = id * 1000000007L + i;
        snprintf(req, sizeof req, "SET c%ld-%ld %ld\n", id, i % 256, value);
        round_trip(&c, req, line, sizeof line, 5000);
        if (strcmp(line, "OK") != 0)
            die("client %ld: SET answered \"%s\"", id, line);
        snprintf(req, sizeof req, "GET c%ld-%ld\n", id, i % 256);
        round_trip(&c, req, line, sizeof line, 5000);
        snprintf(want, sizeof want, "VALUE %ld", value);
        if (strcmp(line, want) != 0)
            die("client %ld: GET answered \"%s\", not \"%s\"", id, line, want);
        atomic_fetch_add(&round_trips, 2);
    }
    close(c.fd);
    return NULL;
}

int main(int argc, char **argv)
{
    harm_init("dump_load");
    if (argc < 3) {
        fprintf(stderr, "usage: dump_load PORT SECONDS THREADS | dump_load PORT once\n");
        return 2;
    }
    port = atoi(argv[1]);
    if (strcmp(argv[2], "once") == 0) {
        struct conn c;
        char line[96];
        int64_t t0 = harm_now_ns(CLOCK_MONOTONIC);
        conn_open(&c, 2000);
        round_trip(&c, "PING\n", line, sizeof line, 2000);
        if (strcmp(line, "PONG") != 0)
            die("PING answered \"%s\"", line);
        int left = 2000 - (int)((harm_now_ns(CLOCK_MONOTONIC) - t0) / 1000000);
        round_trip(&c, "GET once\n", line, sizeof line, left > 1 ? left : 1);
        if (strcmp(line, "NONE") != 0 && strncmp(line, "VALUE ", 6) != 0)
            die("GET answered \"%s\"", line);
        close(c.fd);
        return 0;
    }
    double seconds = atof(argv[2]);
    int threads = argc > 3 ? atoi(argv[3]) : 8;
    if (threads < 1 || threads > 256 || seconds <= 0)
        die("bad arguments");
    end_ns = harm_now_ns(CLOCK_MONOTONIC) + (int64_t)(seconds * 1e9);
    pthread_t t[256];
    for (long i = 0; i < threads; i++)
        if (pthread_create(&t[i], NULL, client, (void *)i) != 0)
            die("pthread_create");
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    long n = atomic_load(&round_trips);
    if (n == 0)
        die("no request was answered");
    printf("dump_load: %ld requests answered by %d clients in %.1f s\n", n, threads, seconds);
    return 0;
}
