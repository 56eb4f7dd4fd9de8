/*
 * fuzz_http.c - libFuzzer target: the live-profile server's request
 * handling through its real socket on 127.0.0.1: the gate (header
 * completeness, the strict checks), libmicrohttpd's parsing behind it, and
 * the routing and parameters of src/http_*.c (compiled into this
 * program with coverage; the rest of the library is linked as built).
 *
 * Each input is sent as it is on a new connection, whose sending side is
 * then shut; the answer is read for at most 300 ms (a valid ?seconds=N
 * request is then abandoned by its client, as a real one may be). Every
 * 64 inputs the server must still answer a plain fetch within 5 s, or the
 * run fails.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <syncprof/syncprof.h>

static int port;

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Sends req on a new connection, shuts the sending side, reads for at
 * most ms; the bytes read into buf (NUL-terminated), or -1. */
static ssize_t exchange(const void *req, size_t len, int ms, char *buf, size_t bufsz)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    const char *p = req;
    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        p += w;
        len -= (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    size_t n = 0;
    for (int64_t end = now_ms() + ms; now_ms() < end;) {
        struct pollfd pf = { fd, POLLIN, 0 };
        int r = poll(&pf, 1, (int)(end - now_ms()) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        char tmp[4096];
        ssize_t got = recv(fd, tmp, sizeof tmp, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        size_t k = n + (size_t)got < bufsz ? (size_t)got : bufsz - 1 - n;
        memcpy(buf + n, tmp, k);
        n += k;
    }
    buf[n] = '\0';
    close(fd);
    return (ssize_t)n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    syncprof_set_mutex_profile_fraction(1);
    syncprof_set_block_profile_rate(1);
    int r = syncprof_http_start("127.0.0.1:0");
    if (r != 0) {
        fprintf(stderr, "fuzz_http: syncprof_http_start: %s\n", strerror(r));
        abort();
    }
    port = syncprof_http_port();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned runs;
    static char buf[1 << 16];
    exchange(data, size, 300, buf, sizeof buf);
    if (++runs % 64 == 0) {
        static const char req[] = "GET /debug/pprof/ HTTP/1.1\r\nHost: x\r\n\r\n";
        if (exchange(req, sizeof req - 1, 5000, buf, sizeof buf) < 12 ||
            strncmp(buf, "HTTP/1.1 200", 12) != 0) {
            fprintf(stderr, "fuzz_http: the server no longer answers: \"%.200s\"\n", buf);
            abort();
        }
    }
    return 0;
}
