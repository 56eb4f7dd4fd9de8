/*
 * http_client.h - test support: a minimal HTTP/1.1 client over a raw
 * loopback socket, to check the live-profile server's status lines,
 * headers and bodies byte for byte. Plain C with no test framework, so the
 * check_* programs (run under ThreadSanitizer) use it too.
 *
 * Only 127.0.0.1 and ::1 are ever connected to. Every read has a timeout
 * (HC_TIMEOUT_MS), so a hung server fails a test instead of hanging it.
 */
#ifndef TESTS_HTTP_CLIENT_H
#define TESTS_HTTP_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define HC_TIMEOUT_MS 30000

struct hc_response {
    int status;       /* from the status line; -1 when there was none */
    char *head;       /* status line and headers, NUL-terminated */
    char *body;       /* NUL-terminated too (bodies may hold NULs) */
    size_t body_len;
};

/* A socket connected to the loopback address of family (AF_INET or
 * AF_INET6) at port, or -1. */
static inline int hc_connect_family(int family, int port)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int r;
    if (family == AF_INET6) {
        struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port),
                                  .sin6_addr = IN6ADDR_LOOPBACK_INIT };
        r = connect(fd, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        r = connect(fd, (struct sockaddr *)&a, sizeof a);
    }
    if (r != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static inline int hc_connect(int port)
{
    return hc_connect_family(AF_INET, port);
}

/* Sends len bytes; false if the peer went away. */
static inline bool hc_send(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        len -= (size_t)w;
    }
    return true;
}

/* Reads until the peer closes, or timeout_ms pass without data. Returns
 * the bytes read (malloc'd, NUL-terminated) and their count in *len;
 * *timed_out tells which ended it. */
static inline char *hc_read_all(int fd, int timeout_ms, size_t *len, bool *timed_out)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    *timed_out = false;
    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        int ready = poll(&p, 1, timeout_ms);
        if (ready < 0 && errno == EINTR)
            continue; /* a thread dump signals every thread (thread_stacks.h) */
        if (ready <= 0) {
            *timed_out = true;
            break;
        }
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
        ssize_t r = recv(fd, buf + n, cap - n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Splits raw (an entire response) into r. */
static inline void hc_parse(char *raw, size_t len, struct hc_response *r)
{
    char *end = strstr(raw, "\r\n\r\n");
    r->status = -1;
    sscanf(raw, "HTTP/1.%*d %d", &r->status);
    size_t headlen = end ? (size_t)(end - raw) : len;
    size_t bodyoff = end ? headlen + 4 : len;
    r->head = strndup(raw, headlen);
    r->body_len = len - bodyoff;
    r->body = malloc(r->body_len + 1);
    memcpy(r->body, raw + bodyoff, r->body_len);
    r->body[r->body_len] = '\0';
}

/* Sends the raw request on a new connection to port and reads the whole
 * response (the request should say Connection: close). 0, or -1 when the
 * connection failed or the server did not close within the timeout. */
static inline int hc_request(int port, const char *req, size_t reqlen, struct hc_response *r)
{
    int fd = hc_connect(port);
    memset(r, 0, sizeof *r);
    r->status = -1;
    if (fd < 0)
        return -1;
    bool timed_out = false;
    size_t len = 0;
    char *raw = NULL;
    if (hc_send(fd, req, reqlen))
        raw = hc_read_all(fd, HC_TIMEOUT_MS, &len, &timed_out);
    close(fd);
    if (!raw)
        return -1;
    hc_parse(raw, len, r);
    free(raw);
    return timed_out ? -1 : 0;
}

/* GET path (with its query) from 127.0.0.1:port. */
static inline int hc_get(int port, const char *path, struct hc_response *r)
{
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n",
                     path, port);
    return hc_request(port, req, (size_t)n, r);
}

/* The value of header name in r (copied into buf), or NULL. */
static inline const char *hc_header(const struct hc_response *r, const char *name, char *buf,
                                    size_t bufsz)
{
    size_t nl = strlen(name);
    for (const char *l = r->head; l && *l; l = strstr(l, "\r\n") ? strstr(l, "\r\n") + 2 : NULL) {
        if (strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
            const char *v = l + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = strcspn(v, "\r\n");
            if (vl >= bufsz)
                vl = bufsz - 1;
            memcpy(buf, v, vl);
            buf[vl] = '\0';
            return buf;
        }
    }
    return NULL;
}

static inline void hc_free(struct hc_response *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof *r);
}

#ifdef CRITERION_H_
#include <syncprof/http.h>

/*
 * With criterion: starts the server on an ephemeral loopback port, its
 * number in *port; false (the test then returns: it is skipped) when the
 * library was built without libmicrohttpd.
 */
static inline bool hc_start_server(int *port)
{
    int r = syncprof_http_start("127.0.0.1:0");
    if (r == ENOTSUP) {
        cr_log_info("built without libmicrohttpd: nothing to test");
        return false;
    }
    cr_assert_eq(r, 0, "syncprof_http_start: %s", strerror(r));
    *port = syncprof_http_port();
    cr_assert_gt(*port, 0);
    return true;
}
#endif

#endif /* TESTS_HTTP_CLIENT_H */
