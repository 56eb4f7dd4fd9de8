/*
 * test_http_hostile.c - the live-profile server (<syncprof/http.h>) against
 * clients that mean harm, as a local user could be.
 *
 * Specification (docs/continuous-profiling.md, "Limits"):
 * - a ?seconds=N request whose client goes away is abandoned within 1 s;
 *   at most SP_HTTP_MAX_SECONDS_REQUESTS wait at once, the others get 503
 *   at once, and plain fetches are served meanwhile;
 * - clients that trickle their header (or send none) cannot lock anyone
 *   out: a fetch, also go tool pprof's, succeeds within 2 s with 200 such
 *   connections open; one client's crowd never evicts another client's
 *   connection; a header must be complete within SP_HTTP_HEADER_TIMEOUT_MS;
 * - a NUL (raw or %00) in the path or a parameter, and any byte a strict
 *   parser refuses, gets 400;
 * - with SYNCPROF_HTTP_TOKEN_FILE every request needs "Authorization:
 *   Bearer <token>" (401 without, 200 with); a bad token file refuses to
 *   start; beyond loopback without a token, one warning line; addresses
 *   are numeric or localhost, never looked up;
 * - thread dumps a client asks for (goroutine?debug=2) do not make the
 *   program's threads return early: a thread in a wrapped wait is never
 *   signalled (docs/dumps.md), and with SYNCPROF_DUMP_INTERRUPT=0 neither
 *   is one asleep in nanosleep.
 *
 * Every server listens on an ephemeral port of loopback, except the one
 * warning check, which binds 0.0.0.0 for a second. Every wait is bounded.
 */
#include <syncprof/pthread.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http_client.h"
#include "http_endpoint.h"
#include "profile_reader.h"
#include "thread_dump.h"

static int port;

static bool start_server(void)
{
    return hc_start_server(&port);
}

/* Room for a few hundred sockets on both ends (this process is both). */
static void setup(void)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 2048 && rl.rlim_max > rl.rlim_cur) {
        rl.rlim_cur = rl.rlim_max < 2048 ? rl.rlim_max : 2048;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    syncprof_set_mutex_profile_fraction(1);
    syncprof_set_block_profile_rate(1);
}

static void teardown(void)
{
    syncprof_http_stop();
    unsetenv("SYNCPROF_HTTP_TOKEN_FILE");
}

/* A socket connected to port from source address src (any 127.x.y.z:
 * Linux routes all of 127/8 to loopback), or -1. */
static int connect_from(const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    inet_pton(AF_INET, src, &a.sin_addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (connect(fd, (struct sockaddr *)&to, sizeof to) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* GET path on a fresh connection, reading the answer for at most
 * timeout_ms in all: its status (-1: none in time) and, when wanted, the
 * whole response. */
static int fetch_within(const char *path, const char *extra_headers, int timeout_ms,
                        struct hc_response *out)
{
    int64_t end = tp_now_ns() + timeout_ms * 1000000LL;
    int fd = hc_connect(port);
    if (fd < 0)
        return -1;
    char req[1024];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sConnection: close\r\n\r\n",
                     path, extra_headers ? extra_headers : "");
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    bool closed = false;
    if (hc_send(fd, req, (size_t)n)) {
        for (int64_t now = tp_now_ns(); now < end; now = tp_now_ns()) {
            struct pollfd p = { fd, POLLIN, 0 };
            if (poll(&p, 1, (int)((end - now) / 1000000) + 1) <= 0)
                continue;
            if (len == cap)
                buf = realloc(buf, (cap *= 2) + 1);
            ssize_t r = recv(fd, buf + len, cap - len, 0);
            if (r <= 0) {
                closed = true;
                break;
            }
            len += (size_t)r;
        }
    }
    close(fd);
    buf[len] = '\0';
    struct hc_response r;
    hc_parse(buf, len, &r);
    free(buf);
    int status = closed ? r.status : -1;
    if (out)
        *out = r;
    else
        hc_free(&r);
    return status;
}

/* Whether the peer closed fd (EOF or reset), waiting at most ms; what it
 * sent first, if anything, goes to *got. */
static bool closed_by_peer(int fd, int ms, char *got, size_t gotsz)
{
    struct pollfd p = { fd, POLLIN, 0 };
    size_t n = 0;
    if (got)
        got[0] = '\0';
    while (poll(&p, 1, ms) > 0) {
        char tmp[512];
        ssize_t r = recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
        if (r <= 0)
            return r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
        if (got && n + 1 < gotsz) {
            size_t k = (size_t)r < gotsz - 1 - n ? (size_t)r : gotsz - 1 - n;
            memcpy(got + n, tmp, k);
            got[n += k] = '\0';
        }
        ms = 50; /* the rest of an answer comes at once */
    }
    return false;
}

/* Waits (at most ms) until what(): true when it came. */
static bool eventually(bool (*what)(void), int ms)
{
    int64_t end = tp_now_ns() + ms * 1000000LL;
    while (!what()) {
        if (tp_now_ns() > end)
            return false;
        tp_sleep_ns(5000000);
    }
    return true;
}

static bool all_slots_waiting(void)
{
    return sp_http_waiting() == SP_HTTP_MAX_SECONDS_REQUESTS;
}

static bool nothing_held(void)
{
    struct sp_http_stats st;
    sp_http_stats(&st);
    return st.waiting == 0 && st.active == 0 && st.pending == 0;
}

/* ---- ?seconds=86400 from clients that leave ----------------------------- */

#define SECONDS_CLIENTS 64

Test(http_hostile, seconds_requests_whose_clients_leave_are_abandoned, .init = setup,
     .fini = teardown, .timeout = 60)
{
    if (!start_server())
        return;
    int fd[SECONDS_CLIENTS];
    const char req[] = "GET /debug/pprof/mutex?seconds=86400 HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < SECONDS_CLIENTS; i++) {
        fd[i] = hc_connect(port);
        cr_assert_geq(fd[i], 0, "connection %d: %s", i, strerror(errno));
        cr_assert(hc_send(fd[i], req, sizeof req - 1));
    }
    /* The ?seconds slots fill, and no more than that wait... */
    cr_assert(eventually(all_slots_waiting, 5000), "waiting: %zu", sp_http_waiting());
    /* ...every other request is answered 503 at once... */
    int refused = 0;
    bool done[SECONDS_CLIENTS] = { false };
    for (int64_t end = tp_now_ns() + 3000000000LL;
         refused < SECONDS_CLIENTS - SP_HTTP_MAX_SECONDS_REQUESTS && tp_now_ns() < end;
         tp_sleep_ns(10000000)) {
        for (int i = 0; i < SECONDS_CLIENTS; i++) {
            char got[512];
            if (!done[i] && closed_by_peer(fd[i], 0, got, sizeof got)) {
                cr_expect(strncmp(got, "HTTP/1.1 503 ", 13) == 0, "connection %d: %s", i, got);
                done[i] = true;
                refused++;
            }
        }
    }
    tp_sleep_ns(200000000);
    for (int i = 0; i < SECONDS_CLIENTS; i++)
        if (!done[i] && closed_by_peer(fd[i], 0, NULL, 0))
            refused++;
    cr_expect_eq(refused, SECONDS_CLIENTS - SP_HTTP_MAX_SECONDS_REQUESTS);
    cr_expect_eq(sp_http_waiting(), SP_HTTP_MAX_SECONDS_REQUESTS);
    /* ...and a plain fetch is served while they wait. */
    int64_t t0 = tp_now_ns();
    cr_expect_eq(fetch_within("/debug/pprof/mutex", NULL, 2000, NULL), 200);
    cr_expect_lt(tp_now_ns() - t0, 2000000000LL);

    /* The clients leave: their requests are abandoned within 1 s. */
    t0 = tp_now_ns();
    for (int i = 0; i < SECONDS_CLIENTS; i++)
        close(fd[i]);
    cr_expect(eventually(nothing_held, 1000), "still held after 1 s: waiting %zu",
              sp_http_waiting());
    int64_t gone = tp_now_ns() - t0;
    cr_expect_lt(gone, 1000000000LL, "abandoned after %lld ns", (long long)gone);
    /* Then a fetch succeeds within 2 s. */
    t0 = tp_now_ns();
    struct hc_response r;
    cr_expect_eq(fetch_within("/debug/pprof/mutex?debug=1", NULL, 2000, &r), 200);
    cr_expect(strncmp(r.body, "--- mutex:", 10) == 0, "%s", r.body);
    hc_free(&r);
    cr_expect_lt(tp_now_ns() - t0, 2000000000LL);
}

/* ---- Slow header clients ------------------------------------------------ */

#define SLOW_CLIENTS 200

Test(http_hostile, slow_header_clients_cannot_lock_others_out, .init = setup, .fini = teardown,
     .timeout = 60)
{
    if (!start_server())
        return;
    /* Another client (127.0.0.2) starts a request and trickles it. */
    int other = connect_from("127.0.0.2");
    cr_assert_geq(other, 0, "connect from 127.0.0.2: %s", strerror(errno));
    int64_t other_since = tp_now_ns();
    const char line[] = "GET /debug/pprof/mutex HTTP/1.1\r\nHost: x\r\n";
    size_t other_sent = 0;
    cr_assert(hc_send(other, line, 1));
    other_sent++;

    /* 200 slow clients from 127.0.0.1, each one byte of a request, then
     * one more each. */
    static int fd[SLOW_CLIENTS];
    for (int i = 0; i < SLOW_CLIENTS; i++) {
        fd[i] = hc_connect(port);
        cr_assert_geq(fd[i], 0, "connection %d: %s", i, strerror(errno));
        hc_send(fd[i], "G", 1);
    }
    for (int i = 0; i < SLOW_CLIENTS; i++)
        send(fd[i], "E", 1, MSG_NOSIGNAL);

    /* A fetch succeeds within 2 s... */
    int64_t t0 = tp_now_ns();
    struct hc_response r;
    cr_expect_eq(fetch_within("/debug/pprof/block?debug=1", NULL, 2000, &r), 200);
    cr_expect(strncmp(r.body, "--- contention:", 15) == 0, "%s", r.body);
    hc_free(&r);
    cr_expect_lt(tp_now_ns() - t0, 2000000000LL);

    /* ...and so does go tool pprof's, within its own 2 s timeout. */
    char cmd[512], *out;
    snprintf(cmd, sizeof cmd, "%s tool pprof -timeout 2 -raw http://127.0.0.1:%d/debug/pprof/mutex 2>&1",
             GO_EXECUTABLE, port);
    t0 = tp_now_ns();
    cr_expect_eq(tp_run(cmd, &out), 0, "%s", out);
    cr_expect(strstr(out, "Samples:"), "%s", out);
    cr_log_info("go tool pprof took %lld ms with %d slow clients", (long long)((tp_now_ns() - t0) / 1000000), SLOW_CLIENTS);
    free(out);

    /* One client's crowd only ever evicted its own: at most
     * SP_HTTP_MAX_PENDING_PER_CLIENT of the 200 are still held... */
    int open_ones = 0;
    for (int i = 0; i < SLOW_CLIENTS; i++)
        open_ones += !closed_by_peer(fd[i], 0, NULL, 0);
    cr_expect_leq(open_ones, SP_HTTP_MAX_PENDING_PER_CLIENT);
    cr_expect_geq(open_ones, 1);
    struct sp_http_stats st;
    sp_http_stats(&st);
    cr_expect_leq(st.pending, SP_HTTP_MAX_PENDING_PER_CLIENT + 1);
    /* ...and the other client's connection is still there. */
    cr_expect(!closed_by_peer(other, 0, NULL, 0), "127.0.0.2's connection was evicted");

    /* Trickling does not extend the header's time: one byte every 0.25 s,
     * and the connection is closed (with a 408) once the header has taken
     * SP_HTTP_HEADER_TIMEOUT_MS. */
    char got[512] = "";
    bool closed = false;
    while (!closed && tp_now_ns() - other_since < (SP_HTTP_HEADER_TIMEOUT_MS + 3000) * 1000000LL) {
        if (other_sent < sizeof line - 3)
            send(other, line + other_sent++, 1, MSG_NOSIGNAL);
        closed = closed_by_peer(other, 250, got, sizeof got);
    }
    int64_t took = tp_now_ns() - other_since;
    cr_expect(closed, "a trickling header was never cut off");
    cr_expect_geq(took, (SP_HTTP_HEADER_TIMEOUT_MS - 100) * 1000000LL, "cut at %lld ns",
                  (long long)took);
    cr_expect_lt(took, (SP_HTTP_HEADER_TIMEOUT_MS + 1500) * 1000000LL, "cut at %lld ns",
                 (long long)took);
    cr_expect(strncmp(got, "HTTP/1.1 408 ", 13) == 0, "%s", got);
    close(other);
    for (int i = 0; i < SLOW_CLIENTS; i++)
        close(fd[i]);
    cr_expect(eventually(nothing_held, 2000));
}

/* ---- Strict parsing ----------------------------------------------------- */

/* Sends raw on a new connection; the status of the answer. */
static int raw_status(const char *raw, size_t len, char *body, size_t bodysz)
{
    struct hc_response r;
    int st = hc_request(port, raw, len, &r) == 0 ? r.status : -1;
    if (body)
        snprintf(body, bodysz, "%s", r.body ? r.body : "");
    hc_free(&r);
    return st;
}

Test(http_hostile, nul_and_bytes_a_strict_parser_refuses_get_400, .init = setup, .fini = teardown,
     .timeout = 60)
{
    if (!start_server())
        return;
    static const struct {
        const char *path, *why;
    } bad[] = {
        { "/debug/pprof/mutex%00", "NUL (%00) in the request target" },
        { "/debug/pprof/mutex?seconds=%00", "NUL (%00) in the request target" },
        { "/debug/pprof/mutex?debug=1%00", "NUL (%00) in the request target" },
        { "/debug/pprof/mutex?%00=1", "NUL (%00) in the request target" },
        { "/debug/pprof/mutex%zz", "bad %-escape in the request target" },
        { "/debug/pprof/mutex?debug=%4", "bad %-escape in the request target" },
        { "/debug/pprof/mutex?debug=\"1\"", "invalid character in the request target" },
        { "/debug/pprof/mutex?x=<script>", "invalid character in the request target" },
        { "/debug/pprof/mutex\x7f", "invalid character in the request target" },
        { "/debug/pprof/mutex\xc3\xa9", "invalid character in the request target" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char body[256], req[512];
        int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                         bad[i].path);
        cr_expect_eq(raw_status(req, (size_t)n, body, sizeof body), 400, "%s", bad[i].path);
        char want[256];
        snprintf(want, sizeof want, "400 Bad Request: %s\n", bad[i].why);
        cr_expect_str_eq(body, want, "%s", bad[i].path);
    }
    /* Raw NULs and control bytes, in the target and in header fields. */
    static const char raw_nul_path[] = "GET /debug/pprof/mutex\0x HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char raw_nul_field[] = "GET /debug/pprof/mutex HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n";
    static const char ctl_field[] = "GET /debug/pprof/mutex HTTP/1.1\r\nHost: x\r\nX-A: a\x01\r\n\r\n";
    static const char bare_cr[] = "GET /debug/pprof/mutex HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n";
    static const char folded[] = "GET /debug/pprof/mutex HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n";
    static const char space_colon[] = "GET /debug/pprof/mutex HTTP/1.1\r\nHost : x\r\n\r\n";
    static const char no_host[] = "GET /debug/pprof/mutex HTTP/1.1\r\nConnection: close\r\n\r\n";
    static const char two_hosts[] = "GET /debug/pprof/mutex HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
    static const char bad_version[] = "GET /debug/pprof/mutex HTTP/1.x\r\nHost: a\r\n\r\n";
    static const char two_spaces[] = "GET  /debug/pprof/mutex HTTP/1.1\r\nHost: a\r\n\r\n";
    static const struct {
        const char *raw;
        size_t len;
    } raws[] = {
        { raw_nul_path, sizeof raw_nul_path - 1 }, { raw_nul_field, sizeof raw_nul_field - 1 },
        { ctl_field, sizeof ctl_field - 1 },       { bare_cr, sizeof bare_cr - 1 },
        { folded, sizeof folded - 1 },             { space_colon, sizeof space_colon - 1 },
        { no_host, sizeof no_host - 1 },           { two_hosts, sizeof two_hosts - 1 },
        { bad_version, sizeof bad_version - 1 },   { two_spaces, sizeof two_spaces - 1 },
    };
    for (size_t i = 0; i < sizeof raws / sizeof raws[0]; i++)
        cr_expect_eq(raw_status(raws[i].raw, raws[i].len, NULL, 0), 400, "raw request %zu", i);

    /* What a strict parser accepts is still served: every RFC 3986 byte,
     * escapes, a lone-LF request, HTTP/1.0 without Host. */
    cr_expect_eq(fetch_within("/debug/pprof/mutex?debug=1&x=a-b_c.d~e!$'()*+,;=:@/?%41%2F", NULL,
                              5000, NULL),
                 200);
    static const char lf_only[] = "GET /debug/pprof/mutex?debug=1 HTTP/1.1\nHost: x\n\n";
    cr_expect_eq(raw_status(lf_only, sizeof lf_only - 1, NULL, 0), 200);
    static const char http10[] = "GET /debug/pprof/mutex?debug=1 HTTP/1.0\r\n\r\n";
    cr_expect_eq(raw_status(http10, sizeof http10 - 1, NULL, 0), 200);

    /* The checker itself, on the cases above and its edges. */
    cr_expect_null(sp_http_check_head("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27));
    cr_expect_null(sp_http_check_head("GET / HTTP/1.1\r\nHost:\r\nX: \t\xff\r\n\r\n", 33));
    cr_expect_str_eq(sp_http_check_head("GET / HTTP/1.1\r\n\r\n", 18), "missing required Host header");
    cr_expect_str_eq(sp_http_check_head("GET /%0 HTTP/1.1\r\nHost: x\r\n\r\n", 29),
                     "bad %-escape in the request target");
    size_t start;
    cr_expect_eq(sp_http_head_end("\r\n\r\nGET / HTTP/1.0\r\n\r\n", 22, &start), 22);
    cr_expect_eq(start, 4);
    cr_expect_eq(sp_http_head_end("GET / HTTP/1.0\r\nHost: x\r\n", 25, &start), 0);
}

/* ---- The token ---------------------------------------------------------- */

static void write_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");
    cr_assert(f, "%s: %s", path, strerror(errno));
    fputs(content, f);
    fclose(f);
}

Test(http_hostile, token_is_required_when_configured, .init = setup, .fini = teardown,
     .timeout = 60)
{
    if (syncprof_http_start("127.0.0.1:0") == ENOTSUP)
        return;
    syncprof_http_stop();
    char dir[] = "/tmp/syncprof-token-XXXXXX", file[128];
    cr_assert(mkdtemp(dir));
    snprintf(file, sizeof file, "%s/token", dir);
    const char *token = "s3cr3t-Token_1.2~+/==";
    char content[128];
    snprintf(content, sizeof content, "%s\n", token);
    write_file(file, content);
    setenv("SYNCPROF_HTTP_TOKEN_FILE", file, 1);
    if (!start_server())
        return;

    struct hc_response r;
    char h[128], auth[256];
    cr_expect_eq(fetch_within("/debug/pprof/mutex", NULL, 5000, &r), 401);
    cr_expect_str_eq(hc_header(&r, "WWW-Authenticate", h, sizeof h), "Bearer realm=\"syncprof\"");
    cr_expect_str_eq(r.body, "Unauthorized\n");
    hc_free(&r);
    static const char *const wrong[] = {
        "Authorization: Bearer wrong\r\n",
        "Authorization: Bearer s3cr3t-Token_1.2~+/=\r\n", /* one byte short */
        "Authorization: Bearer s3cr3t-Token_1.2~+/===\r\n", /* one byte more */
        "Authorization: Basic czNjcjN0\r\n",
        "Authorization: s3cr3t-Token_1.2~+/==\r\n",
        "X-Token: s3cr3t-Token_1.2~+/==\r\n",
    };
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++)
        cr_expect_eq(fetch_within("/debug/pprof/", wrong[i], 5000, NULL), 401, "%s", wrong[i]);
    /* The index, the symbol path and every profile need it alike. */
    cr_expect_eq(fetch_within("/debug/pprof/symbol", NULL, 5000, NULL), 401);
    cr_expect_eq(fetch_within("/debug/pprof/goroutine?debug=1", NULL, 5000, NULL), 401);

    snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", token);
    cr_expect_eq(fetch_within("/debug/pprof/mutex?debug=1", auth, 5000, &r), 200);
    cr_expect(strncmp(r.body, "--- mutex:", 10) == 0, "%s", r.body);
    hc_free(&r);
    snprintf(auth, sizeof auth, "Authorization: bearer   %s\r\n", token); /* scheme: any case */
    cr_expect_eq(fetch_within("/debug/pprof/", auth, 5000, NULL), 200);
    syncprof_http_stop();

    /* A token file that cannot be used refuses to start: never serve
     * without the token that was asked for. */
    static const struct {
        const char *content;
        int err;
    } bad[] = { { "", EINVAL }, { "\n\n", EINVAL }, { "two words\n", EINVAL },
                { "=abc\n", EINVAL }, { "ab\x01" "c", EINVAL } };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(file, bad[i].content);
        cr_expect_eq(syncprof_http_start("127.0.0.1:0"), bad[i].err, "token file \"%s\"",
                     bad[i].content);
        syncprof_http_stop();
    }
    char longtok[SP_HTTP_MAX_TOKEN + 2];
    memset(longtok, 'a', sizeof longtok - 1);
    longtok[sizeof longtok - 1] = '\0';
    write_file(file, longtok);
    cr_expect_eq(syncprof_http_start("127.0.0.1:0"), EINVAL, "a token over 4096 bytes");
    unlink(file);
    cr_expect_eq(syncprof_http_start("127.0.0.1:0"), ENOENT);
    setenv("SYNCPROF_HTTP_TOKEN_FILE", dir, 1);
    cr_expect_eq(syncprof_http_start("127.0.0.1:0"), EINVAL, "a directory");
    rmdir(dir);

    /* The comparison itself. */
    cr_expect(sp_http_token_ok("abc", 3, "Bearer abc"));
    cr_expect(sp_http_token_ok("abc", 3, "BEARER abc "));
    cr_expect(!sp_http_token_ok("abc", 3, "Bearer ab"));
    cr_expect(!sp_http_token_ok("abc", 3, "Bearer abcd"));
    cr_expect(!sp_http_token_ok("abc", 3, "Bearer"));
    cr_expect(!sp_http_token_ok("abc", 3, NULL));
}

/* ---- Where it listens ---------------------------------------------------- */

/* Runs the http_server example with SYNCPROF_HTTP=addr (and the token file,
 * when given) for half a second (it ends cleanly on SIGTERM); its stderr. */
static char *example_stderr(const char *addr, const char *token_file)
{
    char cmd[1024], *out;
    snprintf(cmd, sizeof cmd,
             "SYNCPROF_HTTP='%s' %s%s%s timeout --preserve-status 0.5 %s/http_server '' 20 "
             "2>&1 >/dev/null",
             addr, token_file ? "SYNCPROF_HTTP_TOKEN_FILE='" : "", token_file ? token_file : "",
             token_file ? "'" : "", EXAMPLES_DIR);
    int st = tp_run(cmd, &out);
    cr_expect_eq(st, 0, "%s: %s", cmd, out);
    return out;
}

static int count_lines_with(const char *text, const char *what)
{
    int n = 0;
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        const char *e = strchr(l, '\n');
        char line[512];
        snprintf(line, sizeof line, "%.*s", e ? (int)(e - l) : (int)strlen(l), l);
        n += strstr(line, what) != NULL;
    }
    return n;
}

Test(http_hostile, beyond_loopback_warns_and_names_are_not_resolved, .timeout = 60)
{
    if (syncprof_http_start("127.0.0.1:0") == ENOTSUP)
        return;
    syncprof_http_stop();
    const char *warning = "syncprof: warning: serving profiles beyond loopback on 0.0.0.0:";
    char *out = example_stderr("0.0.0.0:0", NULL);
    cr_expect_eq(count_lines_with(out, warning), 1, "%s", out);
    cr_expect_eq(count_lines_with(out, "syncprof: "), 2, "the warning and where: %s", out);
    free(out);
    out = example_stderr("127.0.0.1:0", NULL);
    cr_expect_eq(count_lines_with(out, "warning"), 0, "%s", out);
    free(out);
    char dir[] = "/tmp/syncprof-token-XXXXXX", file[128];
    cr_assert(mkdtemp(dir));
    snprintf(file, sizeof file, "%s/token", dir);
    write_file(file, "abc123\n");
    out = example_stderr("0.0.0.0:0", file);
    cr_expect_eq(count_lines_with(out, "warning"), 0, "with a token: %s", out);
    cr_expect_eq(count_lines_with(out, "syncprof: serving profiles on http://0.0.0.0:"), 1, "%s", out);
    free(out);
    write_file(file, "");
    out = example_stderr("127.0.0.1:0", file);
    cr_expect_eq(count_lines_with(out, "syncprof: not serving profiles: SYNCPROF_HTTP_TOKEN_FILE="),
                 1, "%s", out);
    free(out);
    unlink(file);
    rmdir(dir);

    /* Numeric addresses and localhost only: a name, even one /etc/hosts
     * has, is refused, never looked up. */
    struct sockaddr_storage ss;
    socklen_t len;
    cr_expect_eq(sp_http_parse_addr("localhost:80", &ss, &len), 0);
    cr_expect_eq(ss.ss_family, AF_INET);
    cr_expect_eq(ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr), INADDR_LOOPBACK);
    cr_expect_eq(sp_http_parse_addr("[::1]:80", &ss, &len), 0);
    cr_expect_eq(ss.ss_family, AF_INET6);
    cr_expect(sp_http_is_loopback(&ss));
    cr_expect_eq(sp_http_parse_addr("10.1.2.3:80", &ss, &len), 0);
    cr_expect(!sp_http_is_loopback(&ss));
    cr_expect_eq(sp_http_parse_addr("127.9.9.9:80", &ss, &len), 0);
    cr_expect(sp_http_is_loopback(&ss));
    static const char *const names[] = { "ip6-localhost:80", "example.invalid:80", "127.1:80",
                                         "0x7f.0.0.1:80", "[127.0.0.1]:80" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        cr_expect_eq(sp_http_parse_addr(names[i], &ss, &len), EINVAL, "%s", names[i]);
    /* This host's own name, as /etc/hosts gives it. */
    char host[256];
    if (gethostname(host, sizeof host) == 0 && strcmp(host, "localhost") != 0) {
        char addr[300];
        snprintf(addr, sizeof addr, "%s:80", host);
        cr_expect_eq(sp_http_parse_addr(addr, &ss, &len), EINVAL, "%s", addr);
    }
}

/* ---- Thread dumps a client asks for ------------------------------------- */

#define DUMPS 50

static sem_t sem;
static atomic_bool posted;
static atomic_int sem_eintr, sem_early;

/* Waits on sem (a wrapped wait) until it is posted: how many times the
 * wait returned early (EINTR, or before the post) is counted. */
static TEST_NOIPA void *sem_waiter(void *arg)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 60;
    for (;;) {
        int r = sem_timedwait(&sem, &deadline);
        if (r == 0) {
            if (!atomic_load(&posted))
                atomic_fetch_add(&sem_early, 1);
            return arg;
        }
        if (errno == EINTR) {
            atomic_fetch_add(&sem_eintr, 1);
            continue;
        }
        atomic_fetch_add(&sem_early, 1); /* ETIMEDOUT after 60 s: never, here */
        return arg;
    }
}

/* One goroutine?debug=2 dump; its body. */
static char *full_dump(void)
{
    struct hc_response r;
    cr_assert_eq(hc_get(port, "/debug/pprof/goroutine?debug=2", &r), 0);
    cr_assert_eq(r.status, 200, "%d %s", r.status, r.body);
    char *body = strdup(r.body);
    hc_free(&r);
    return body;
}

Test(http_hostile, dumps_never_wake_a_thread_in_a_wrapped_wait, .init = setup, .fini = teardown,
     .timeout = 120)
{
    if (!start_server())
        return;
    pthread_t t;
    cr_assert_eq(sem_init(&sem, 0, 0), 0);
    cr_assert_eq(pthread_create(&t, NULL, sem_waiter, NULL), 0);
    tp_wait_until_blocked(&sem);
    char *last = NULL;
    for (int i = 0; i < DUMPS; i++) {
        free(last);
        last = full_dump();
    }
    /* Its stack was taken from the context its wrapper saved. */
    cr_expect(strstr(last, "sem_waiter"), "%s", last);
    free(last);
    cr_expect_eq(atomic_load(&sem_eintr), 0, "the wait returned EINTR during the dumps");
    cr_expect_eq(atomic_load(&sem_early), 0, "the wait ended before its post");
    atomic_store(&posted, true);
    sem_post(&sem);
    pthread_join(t, NULL);
    cr_expect_eq(atomic_load(&sem_early), 0);
    sem_destroy(&sem);
}

struct sleeper {
    int64_t slept_ns;
    int result, err;
};

static TEST_NOIPA void *nanosleeper(void *arg)
{
    struct sleeper *z = arg;
    struct timespec ts = { 1, 500000000 };
    int64_t t0 = tp_now_ns();
    z->result = nanosleep(&ts, NULL);
    z->err = errno;
    z->slept_ns = tp_now_ns() - t0;
    return NULL;
}

/* Takes full dumps while a thread sleeps 1.5 s in nanosleep (not a
 * wrapped wait): what the sleep returned, and the last dump. */
static char *dumps_during_a_sleep(struct sleeper *z)
{
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, nanosleeper, z), 0);
    tp_sleep_ns(100000000); /* it is asleep */
    char *last = NULL;
    for (int i = 0; i < 20; i++) {
        free(last);
        last = full_dump();
        tp_sleep_ns(20000000);
    }
    pthread_join(t, NULL);
    return last;
}

Test(http_hostile, dump_interrupt_0_lets_a_sleep_take_its_full_time, .init = setup,
     .fini = teardown, .timeout = 120)
{
    if (!start_server())
        return;
    /* SYNCPROF_DUMP_INTERRUPT=0, read as the library reads it at load. */
    setenv("SYNCPROF_DUMP_INTERRUPT", "0", 1);
    sp_dump_from_environment();
    struct sleeper z = { 0 };
    char *last = dumps_during_a_sleep(&z);
    cr_expect_eq(z.result, 0, "nanosleep: %s", strerror(z.err));
    cr_expect_geq(z.slept_ns, 1500000000LL, "slept %lld ns", (long long)z.slept_ns);
    cr_expect(strstr(last, "stack not taken: asleep in a system call, not interrupted"), "%s",
              last);
    free(last);

    /* The default: full dumps interrupt sleeping threads for their stacks,
     * and nanosleep then returns early with EINTR (what the setting is
     * for; docs/dumps.md). */
    setenv("SYNCPROF_DUMP_INTERRUPT", "1", 1);
    sp_dump_from_environment();
    memset(&z, 0, sizeof z);
    last = dumps_during_a_sleep(&z);
    cr_expect(z.result == -1 && z.err == EINTR, "nanosleep: %d, slept %lld ns", z.result,
              (long long)z.slept_ns);
    free(last);
    unsetenv("SYNCPROF_DUMP_INTERRUPT");
}
