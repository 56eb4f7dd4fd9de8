/*
 * test_http.c - the live-profile server (<syncprof/http.h>).
 *
 * Specification: `go tool pprof` fetches the mutex, block and goroutine
 * profiles over HTTP; ?seconds=N holds exactly what was recorded during
 * those N seconds; delta_mutex/delta_block hold exactly what was recorded
 * since the previous request to the same path; status codes, content types
 * and headers are Go's net/http/pprof's (404, 400 with a message); the
 * server binds to loopback unless told otherwise; several clients at once
 * are served; random and truncated requests never crash or hang it; its
 * own work never shows in the profiles; SYNCPROF_HTTP starts it.
 *
 * Every server listens on an ephemeral port of 127.0.0.1 or ::1 only.
 * Without libmicrohttpd syncprof_http_start returns ENOTSUP, and each test
 * checks that and stops.
 */
#include <syncprof/pthread.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http_client.h"
#include "http_endpoint.h"
#include "pprof_raw.h"
#include "profile_reader.h"

static int port;

static bool start_server(void)
{
    return hc_start_server(&port);
}

static void setup(void)
{
    syncprof_set_mutex_profile_fraction(1);
    syncprof_set_block_profile_rate(1);
}

static void teardown(void)
{
    syncprof_http_stop();
}

/* ---- Contention ------------------------------------------------------- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void *lock_once(void *m)
{
    pthread_mutex_lock(m);
    pthread_mutex_unlock(m);
    return NULL;
}

/* Holds mu while another thread waits for it about a millisecond: one
 * mutex event (this stack) and one block event (lock_once's). noipa: the
 * compiler must neither inline these helpers nor fold the identical ones
 * into one (they name the phases of a test). Their loops may be unrolled,
 * so one phase may be several samples: tests add samples up. */
static TEST_NOIPA void contend(void)
{
    pthread_t t;
    pthread_mutex_lock(&mu);
    cr_assert_eq(pthread_create(&t, NULL, lock_once, &mu), 0);
    tp_wait_until_blocked(&mu);
    tp_sleep_ns(1000000);
    pthread_mutex_unlock(&mu);
    pthread_join(t, NULL);
}

/* Distinct callers, so each phase of a test has stacks of its own. */
static TEST_NOIPA void contend_before(int n)
{
    for (int i = 0; i < n; i++)
        contend();
}

static TEST_NOIPA void contend_during(int n)
{
    for (int i = 0; i < n; i++)
        contend();
}

/* ---- Reading profiles ------------------------------------------------- */

/* go tool pprof -raw [flags] url (or file); its output parsed into p. */
static void go_raw(const char *flags, const char *what, struct pr_profile *p)
{
    char cmd[1024];
    char *out;
    snprintf(cmd, sizeof cmd, "%s tool pprof -raw %s '%s' 2>&1", GO_EXECUTABLE, flags, what);
    int st = tp_run(cmd, &out);
    cr_assert_eq(st, 0, "%s:\n%s", cmd, out);
    cr_assert(pr_parse(out, p), "%s:\n%s", cmd, out);
    free(out);
}

static void url_of(char *buf, size_t n, const char *path)
{
    snprintf(buf, n, "http://127.0.0.1:%d/debug/pprof/%s", port, path);
}

/* GETs path into a temporary file and reads it with go tool pprof -raw. */
static void fetch_raw(const char *path, struct pr_profile *p)
{
    struct hc_response r;
    char file[] = "/tmp/syncprof-http-XXXXXX";
    int fd = mkstemp(file);
    cr_assert_geq(fd, 0);
    cr_assert_eq(hc_get(port, path, &r), 0, "GET %s", path);
    cr_assert_eq(r.status, 200, "GET %s: %d %s", path, r.status, r.body);
    cr_assert_eq(write(fd, r.body, r.body_len), (ssize_t)r.body_len);
    close(fd);
    go_raw("", file, p);
    unlink(file);
    hc_free(&r);
}

/* The totals the profile table holds for the stacks through fn. */
static void table_totals(const char *name, const char *fn, int64_t *count, int64_t *delay)
{
    struct tp_profile t;
    tp_read(name, &t);
    *count = *delay = 0;
    for (size_t i = 0; i < t.n; i++)
        for (int j = 0; j < t.recs[i].nframes; j++)
            if (strcmp(t.recs[i].frames[j], fn) == 0) {
                *count += t.recs[i].count;
                *delay += t.recs[i].delay_ns;
                break;
            }
    tp_free(&t);
}

/* ---- go tool pprof over HTTP ------------------------------------------ */

Test(http, go_tool_pprof_fetches_mutex_and_block, .init = setup, .fini = teardown)
{
    if (!start_server())
        return;
    contend_before(3);
    char url[128];
    struct pr_profile m, b;
    url_of(url, sizeof url, "mutex");
    go_raw("", url, &m);
    url_of(url, sizeof url, "block");
    go_raw("", url, &b);

    int64_t count, delay;
    long long c, d;
    table_totals("mutex", "contend_before", &count, &delay);
    cr_expect_geq(pr_sum(&m, "contend_before", NULL, &c, &d), 1);
    cr_expect(pr_sum(&m, "pthread_mutex_unlock", NULL, NULL, NULL) >= 1);
    cr_expect(c == count && d == delay, "%lld %lld vs %ld %ld", c, d, (long)count, (long)delay);
    cr_expect_eq(c, 3);
    table_totals("block", "lock_once", &count, &delay);
    cr_expect_geq(pr_sum(&b, "lock_once", NULL, &c, &d), 1);
    cr_expect(pr_sum(&b, "pthread_mutex_lock", NULL, NULL, NULL) >= 1);
    cr_expect(c == count && d == delay);
    pr_free(&m);
    pr_free(&b);
}

Test(http, goroutine_serves_the_threads_profile, .init = setup, .fini = teardown)
{
    if (!start_server())
        return;
    /* The threads profile is another module's (the thread dumps). Until it
     * exists, syncprof_write_profile("threads") is EINVAL and the path
     * answers 404 "Unknown profile", as Go answers an unknown profile: the
     * only thing this test tolerates. */
    int devnull = open("/dev/null", O_WRONLY);
    bool have_threads = syncprof_write_profile("threads", devnull, 0) != EINVAL;
    close(devnull);
    struct hc_response r;
    cr_assert_eq(hc_get(port, "/debug/pprof/goroutine?debug=1", &r), 0);
    if (!have_threads) {
        cr_log_info("no threads profile in this build yet: /debug/pprof/goroutine is 404");
        cr_expect_eq(r.status, 404);
        cr_expect_str_eq(r.body, "Unknown profile\n");
        hc_free(&r);
        return;
    }
    cr_expect_eq(r.status, 200);
    hc_free(&r);
    char url[128];
    struct pr_profile g;
    url_of(url, sizeof url, "goroutine");
    go_raw("", url, &g);
    cr_expect_geq(g.n, 1, "at least this thread");
    pr_free(&g);
}

struct go_fetch {
    char flags[64];
    char url[128];
    struct pr_profile p;
};

static void *go_fetch_thread(void *arg)
{
    struct go_fetch *f = arg;
    go_raw(f->flags, f->url, &f->p);
    return NULL;
}

/* Waits (at most 30 s) until the server holds n ?seconds requests. */
static void wait_for_waiting(size_t n)
{
    for (int i = 0; i < 30000 && sp_http_waiting() != n; i++)
        tp_sleep_ns(1000000);
    cr_assert_eq(sp_http_waiting(), n);
}

Test(http, seconds_delta_holds_only_what_happened_during_it, .init = setup, .fini = teardown)
{
    if (!start_server())
        return;
    contend_before(2);
    int64_t count0, delay0, count1, delay1;
    table_totals("mutex", "contend_during", &count0, &delay0);
    cr_assert_eq(count0, 0);

    /* go tool pprof -seconds 2 asks for mutex?seconds=2, as for Go. */
    struct go_fetch f = { .flags = "-seconds 2" };
    url_of(f.url, sizeof f.url, "mutex");
    pthread_t t;
    pthread_create(&t, NULL, go_fetch_thread, &f);
    wait_for_waiting(1); /* its first snapshot is taken */
    contend_during(3);
    pthread_join(t, NULL);

    table_totals("mutex", "contend_during", &count1, &delay1);
    long long c, d;
    cr_expect_geq(pr_sum(&f.p, "contend_during", NULL, &c, &d), 1);
    cr_expect(c == count1 && d == delay1, "%lld %lld vs %ld %ld", c, d, (long)count1,
              (long)delay1);
    cr_expect_eq(c, 3);
    cr_expect_eq(pr_sum(&f.p, "contend_before", NULL, NULL, NULL), 0, "before the window");
    cr_expect_eq(pr_sum(&f.p, NULL, NULL, NULL, NULL), pr_sum(&f.p, "contend_during", NULL, NULL, NULL),
                 "nothing else happened in the window");
    pr_free(&f.p);

    /* The raw reply: Go's headers for a delta. */
    struct hc_response r;
    char h[128];
    cr_assert_eq(hc_get(port, "/debug/pprof/block?seconds=1", &r), 0);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(hc_header(&r, "Content-Disposition", h, sizeof h),
                     "attachment; filename=\"block-delta\"");
    cr_expect(r.body_len > 2 && (unsigned char)r.body[0] == 0x1f &&
              (unsigned char)r.body[1] == 0x8b, "gzip");
    hc_free(&r);
}

Test(http, delta_paths_hold_what_happened_since_the_previous_scrape, .init = setup,
     .fini = teardown)
{
    if (!start_server())
        return;
    contend_before(2);
    static const char *const paths[] = { "/debug/pprof/delta_mutex", "/debug/pprof/delta_block" };
    static const char *const fns[] = { "contend_before", "lock_once" };
    struct pr_profile p;
    long long c, d;

    /* The first scrape: everything so far. */
    for (int k = 0; k < 2; k++) {
        fetch_raw(paths[k], &p);
        cr_expect_geq(pr_sum(&p, fns[k], NULL, &c, NULL), 1, "%s", paths[k]);
        cr_expect_eq(c, 2, "%s", paths[k]);
        pr_free(&p);
    }
    int64_t m0, md0, b0, bd0;
    table_totals("mutex", "contend_during", &m0, &md0);
    table_totals("block", "lock_once", &b0, &bd0);

    contend_during(3);

    /* The second: only what happened in between. */
    int64_t m1, md1, b1, bd1;
    table_totals("mutex", "contend_during", &m1, &md1);
    table_totals("block", "lock_once", &b1, &bd1);
    fetch_raw(paths[0], &p);
    cr_expect_geq(pr_sum(&p, "contend_during", NULL, &c, &d), 1);
    cr_expect(c == m1 - m0 && d == md1 - md0, "%lld %lld", c, d);
    cr_expect_eq(c, 3);
    cr_expect_eq(pr_sum(&p, "contend_before", NULL, NULL, NULL), 0);
    pr_free(&p);
    fetch_raw(paths[1], &p);
    cr_expect_geq(pr_sum(&p, "lock_once", NULL, &c, &d), 1);
    cr_expect(c == b1 - b0 && d == bd1 - bd0, "%lld %lld", c, d);
    cr_expect_eq(c, 3);
    pr_free(&p);

    /* The third, with nothing in between: empty, and still a profile. */
    fetch_raw(paths[0], &p);
    cr_expect_eq(p.n, 0);
    pr_free(&p);
    /* The plain path is not affected by the delta paths. */
    fetch_raw("/debug/pprof/mutex", &p);
    pr_sum(&p, NULL, NULL, &c, NULL);
    cr_expect_eq(c, 5);
    pr_free(&p);
}

/* ---- Status codes and headers ----------------------------------------- */

static void expect_reply(const char *path, int status, const char *body)
{
    struct hc_response r;
    char h[128];
    cr_assert_eq(hc_get(port, path, &r), 0, "GET %s", path);
    cr_expect_eq(r.status, status, "GET %s: %d %s", path, r.status, r.body);
    if (body)
        cr_expect_str_eq(r.body, body, "GET %s", path);
    cr_expect_str_eq(hc_header(&r, "X-Content-Type-Options", h, sizeof h), "nosniff", "%s", path);
    if (status >= 400)
        cr_expect_str_eq(hc_header(&r, "Content-Type", h, sizeof h), "text/plain; charset=utf-8");
    hc_free(&r);
}

Test(http, headers_are_gos, .init = setup, .fini = teardown)
{
    if (!start_server())
        return;
    contend_before(1);
    struct hc_response r;
    char h[128];
    cr_assert_eq(hc_get(port, "/debug/pprof/mutex", &r), 0);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(hc_header(&r, "Content-Type", h, sizeof h), "application/octet-stream");
    cr_expect_str_eq(hc_header(&r, "Content-Disposition", h, sizeof h),
                     "attachment; filename=\"mutex\"");
    cr_expect_str_eq(hc_header(&r, "X-Content-Type-Options", h, sizeof h), "nosniff");
    hc_free(&r);

    for (int debug = 1; debug <= 2; debug++) {
        char path[64];
        snprintf(path, sizeof path, "/debug/pprof/block?debug=%d", debug);
        cr_assert_eq(hc_get(port, path, &r), 0);
        cr_expect_eq(r.status, 200);
        cr_expect_str_eq(hc_header(&r, "Content-Type", h, sizeof h), "text/plain; charset=utf-8");
        cr_expect_null(hc_header(&r, "Content-Disposition", h, sizeof h));
        cr_expect(strncmp(r.body, "--- contention:\ncycles/second=", 30) == 0, "%s", r.body);
        hc_free(&r);
    }
    cr_assert_eq(hc_get(port, "/debug/pprof/delta_mutex", &r), 0);
    cr_expect_str_eq(hc_header(&r, "Content-Disposition", h, sizeof h),
                     "attachment; filename=\"mutex.pprof.gz\"");
    hc_free(&r);
    cr_assert_eq(hc_get(port, "/debug/pprof/delta_mutex?debug=1", &r), 0);
    cr_expect(strncmp(r.body, "--- mutex:\n", 11) == 0, "%s", r.body);
    hc_free(&r);

    /* HEAD: the same headers, no body. */
    const char head[] = "HEAD /debug/pprof/mutex?debug=1 HTTP/1.1\r\nHost: x\r\n"
                        "Connection: close\r\n\r\n";
    cr_assert_eq(hc_request(port, head, sizeof head - 1, &r), 0);
    cr_expect_eq(r.status, 200);
    cr_expect_eq(r.body_len, 0);
    hc_free(&r);
}

Test(http, index_lists_every_path, .init = setup, .fini = teardown)
{
    if (!start_server())
        return;
    struct hc_response r;
    char h[128];
    cr_assert_eq(hc_get(port, "/debug/pprof/", &r), 0);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(hc_header(&r, "Content-Type", h, sizeof h), "text/html; charset=utf-8");
    static const char *const names[] = { "mutex", "block", "goroutine", "delta_mutex",
                                         "delta_block" };
    for (int i = 0; i < 5; i++) {
        char link[64];
        snprintf(link, sizeof link, "<a href='%s?debug=1'>%s</a>", names[i], names[i]);
        cr_expect(strstr(r.body, link), "no link %s in\n%s", link, r.body);
    }
    cr_expect(strstr(r.body, "Stack traces of holders of contended mutexes"));
    hc_free(&r);
    cr_assert_eq(hc_get(port, "/debug/pprof", &r), 0);
    cr_expect_eq(r.status, 301);
    cr_expect_str_eq(hc_header(&r, "Location", h, sizeof h), "/debug/pprof/");
    hc_free(&r);
}

Test(http, unknown_paths_404_bad_parameters_400, .init = setup, .fini = teardown)
{
    if (!start_server())
        return;
    expect_reply("/debug/pprof/heap", 404, "Unknown profile\n");
    expect_reply("/debug/pprof/mutex/x", 404, "Unknown profile\n");
    expect_reply("/", 404, "404 page not found\n");
    expect_reply("/metrics", 404, "404 page not found\n");
    const char *seconds = "invalid value for \"seconds\" - must be a positive integer of at "
                          "most 86400\n";
    expect_reply("/debug/pprof/mutex?seconds=0", 400, seconds);
    expect_reply("/debug/pprof/mutex?seconds=-3", 400, seconds);
    expect_reply("/debug/pprof/mutex?seconds=2x", 400, seconds);
    expect_reply("/debug/pprof/mutex?seconds=86401", 400, seconds);
    expect_reply("/debug/pprof/block?seconds=99999999999999999999", 400, seconds);
    const char *debug = "invalid value for \"debug\" - must be a non-negative integer\n";
    expect_reply("/debug/pprof/mutex?debug=x", 400, debug);
    expect_reply("/debug/pprof/mutex?debug=-1", 400, debug);
    expect_reply("/debug/pprof/mutex?debug=%20", 400, debug);
    expect_reply("/debug/pprof/mutex?seconds=1&debug=1", 400,
                 "seconds and debug params are incompatible\n");
    expect_reply("/debug/pprof/delta_mutex?seconds=1", 400,
                 "\"seconds\" parameter is not supported for this profile type\n");
    expect_reply("/debug/pprof/goroutine?seconds=1", 400,
                 "\"seconds\" parameter is not supported for this profile type\n");
    /* Empty and unknown parameters are ignored, as Go does. */
    expect_reply("/debug/pprof/mutex?debug=&seconds=&gc=1&x", 200, NULL);

    struct hc_response r;
    const char del[] = "DELETE /debug/pprof/mutex HTTP/1.1\r\nHost: x\r\n"
                       "Connection: close\r\n\r\n";
    cr_assert_eq(hc_request(port, del, sizeof del - 1, &r), 0);
    cr_expect_eq(r.status, 405);
    hc_free(&r);
}

Test(http, profiling_off_gives_an_empty_valid_profile, .fini = teardown)
{
    if (!start_server())
        return;
    char url[128];
    struct pr_profile p;
    static const char *const names[] = { "mutex", "block", "delta_mutex", "delta_block" };
    for (int i = 0; i < 4; i++) {
        url_of(url, sizeof url, names[i]);
        go_raw("", url, &p);
        cr_expect_eq(p.n, 0, "%s", names[i]);
        pr_free(&p);
    }
}

/* ---- Addresses --------------------------------------------------------- */

/* Whether /proc/net/tcp (or tcp6) lists a listening socket on port whose
 * local address is addr (as that file prints it). */
static bool listening_on(const char *file, const char *addr, int p)
{
    char want[80], line[512];
    snprintf(want, sizeof want, "%s:%04X 00000000", addr, p);
    FILE *f = fopen(file, "r");
    bool found = false;
    if (!f)
        return false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, want) && strstr(line, " 0A ");
    fclose(f);
    return found;
}

Test(http, binds_loopback_by_default, .fini = teardown)
{
    static const char *const addrs[] = { ":0", "0" };
    for (int i = 0; i < 2; i++) {
        int r = syncprof_http_start(addrs[i]);
        if (r == ENOTSUP)
            return;
        cr_assert_eq(r, 0, "%s", addrs[i]);
        int p = syncprof_http_port();
        cr_expect(listening_on("/proc/net/tcp", "0100007F", p), "%s: not on 127.0.0.1", addrs[i]);
        cr_expect(!listening_on("/proc/net/tcp", "00000000", p), "%s: on every address", addrs[i]);
        syncprof_http_stop();
        cr_expect_eq(syncprof_http_port(), 0);
    }
    struct sockaddr_storage ss;
    socklen_t len;
    cr_assert_eq(sp_http_parse_addr(NULL, &ss, &len), 0);
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    cr_expect_eq(in->sin_family, AF_INET);
    cr_expect_eq(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
    cr_expect_eq(ntohs(in->sin_port), 6060, "the default is 127.0.0.1:6060");
}

Test(http, ipv6_loopback, .fini = teardown)
{
    int r = syncprof_http_start("[::1]:0");
    if (r == ENOTSUP || r == EADDRNOTAVAIL || r == EAFNOSUPPORT) {
        cr_log_info("no IPv6 loopback here (%s)", strerror(r));
        return;
    }
    cr_assert_eq(r, 0, "%s", strerror(r));
    int p = syncprof_http_port();
    int fd = hc_connect_family(AF_INET6, p);
    cr_assert_geq(fd, 0);
    const char req[] = "GET /debug/pprof/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    cr_assert(hc_send(fd, req, sizeof req - 1));
    size_t len;
    bool timed_out;
    char *raw = hc_read_all(fd, HC_TIMEOUT_MS, &len, &timed_out);
    cr_expect(strncmp(raw, "HTTP/1.1 200", 12) == 0, "%s", raw);
    free(raw);
    close(fd);
    cr_expect_lt(hc_connect(p), 0, "IPv6 only: nothing on 127.0.0.1:%d", p);
}

Test(http, start_reports_errors, .fini = teardown)
{
    if (!start_server())
        return;
    cr_expect_eq(syncprof_http_start("127.0.0.1:0"), EBUSY);
    syncprof_http_stop();
    syncprof_http_stop(); /* twice is fine */
    static const char *const bad[] = { "nonsense", "127.0.0.1:99999", "127.0.0.1:", "::1:80",
                                       "[::1]80", "1.2.3.4.5:80", "127.0.0.1:12x" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_eq(syncprof_http_start(bad[i]), EINVAL, "%s", bad[i]);
    /* A port in use: bind one, then ask for it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(fd, 1), 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(a.sin_port));
    cr_expect_eq(syncprof_http_start(addr), EADDRINUSE);
    close(fd);
    cr_expect_eq(syncprof_http_port(), 0);
    /* And it starts again after all that. */
    cr_expect_eq(syncprof_http_start("127.0.0.1:0"), 0);
}

/* ---- Load and abuse ---------------------------------------------------- */

#define CLIENTS 8
#define REQUESTS 12

static atomic_int client_failures;

static void *client(void *arg)
{
    static const char *const paths[] = { "/debug/pprof/mutex", "/debug/pprof/block?debug=1",
                                         "/debug/pprof/", "/debug/pprof/delta_block",
                                         "/debug/pprof/mutex?debug=1", "/debug/pprof/nope" };
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < REQUESTS; i++) {
        int k = (id + i) % 6;
        struct hc_response r;
        bool ok = hc_get(port, paths[k], &r) == 0;
        ok = ok && r.status == (k == 5 ? 404 : 200);
        if (ok && k == 0)
            ok = r.body_len > 2 && (unsigned char)r.body[0] == 0x1f;
        if (ok && (k == 1 || k == 4))
            ok = strncmp(r.body, "--- ", 4) == 0;
        if (!ok)
            atomic_fetch_add(&client_failures, 1);
        hc_free(&r);
    }
    return NULL;
}

Test(http, concurrent_clients_and_no_profile_of_the_server_itself, .init = setup,
     .fini = teardown)
{
    if (!start_server())
        return;
    /* A waiting ?seconds request does not hold the others up. */
    int slow = hc_connect(port);
    const char req[] = "GET /debug/pprof/mutex?seconds=30 HTTP/1.1\r\nHost: x\r\n\r\n";
    cr_assert(hc_send(slow, req, sizeof req - 1));
    wait_for_waiting(1);

    pthread_t t[CLIENTS];
    for (int i = 0; i < CLIENTS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, client, (void *)(intptr_t)i), 0);
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(t[i], NULL);
    cr_expect_eq(atomic_load(&client_failures), 0);
    close(slow);

    /* The program made no contention of its own: every recorded sample
     * would be the server's (the clients use raw sockets; joining them
     * waited, so the block profile holds exactly those joins). */
    struct tp_profile m, b;
    tp_read("mutex", &m);
    tp_read("block", &b);
    cr_expect_eq(m.n, 0, "%s", m.text);
    for (size_t i = 0; i < b.n; i++)
        cr_expect_str_eq(b.recs[i].frames[0], "pthread_join", "%s", b.text);
    tp_free(&m);
    tp_free(&b);
}

Test(http, stop_answers_a_waiting_request, .init = setup, .fini = teardown)
{
    if (!start_server())
        return;
    int fd = hc_connect(port);
    const char req[] = "GET /debug/pprof/mutex?seconds=600 HTTP/1.1\r\nHost: x\r\n\r\n";
    cr_assert(hc_send(fd, req, sizeof req - 1));
    wait_for_waiting(1);
    int64_t t0 = tp_now_ns();
    syncprof_http_stop();
    cr_expect_lt(tp_now_ns() - t0, 5000000000LL, "stop does not wait the 600 s");
    size_t len;
    bool timed_out;
    char *raw = hc_read_all(fd, 5000, &len, &timed_out);
    cr_expect(!timed_out);
    cr_expect(len == 0 || strncmp(raw, "HTTP/1.1 503", 12) == 0, "%s", raw);
    free(raw);
    close(fd);
    cr_expect_eq(sp_http_waiting(), 0);
}

/* A server still answering a real request, within HC_TIMEOUT_MS. */
static void expect_alive(void)
{
    struct hc_response r;
    cr_assert_eq(hc_get(port, "/debug/pprof/mutex?debug=1", &r), 0, "the server hangs");
    cr_assert_eq(r.status, 200, "the server is broken: %d", r.status);
    hc_free(&r);
}

/* Sends junk: random bytes, or a valid request cut short, or one with
 * bad pieces, then closes early or reads what comes back. */
static void send_junk(unsigned *seed)
{
    static const char *const valid[] = {
        "GET /debug/pprof/mutex?debug=1 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /debug/pprof/block?seconds=1 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /debug/pprof/delta_mutex HTTP/1.0\r\n\r\n",
        "POST /debug/pprof/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "GET /debug/pprof/%zz%00?debug=%ff HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /debug/pprof/mutex HTTP/9.9\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        "\r\n\r\nGET / HTTP/1.1\r\n\r\n",
    };
    char buf[2048];
    size_t len;
    int kind = (int)(rand_r(seed) % 3);
    if (kind == 0) { /* random bytes */
        len = 1 + rand_r(seed) % sizeof buf;
        for (size_t i = 0; i < len; i++)
            buf[i] = (char)rand_r(seed);
    } else { /* a request, cut short or with random bytes flipped */
        const char *v = valid[rand_r(seed) % (sizeof valid / sizeof valid[0])];
        len = strlen(v);
        memcpy(buf, v, len);
        if (kind == 1)
            len = rand_r(seed) % len;
        else
            for (int i = 0; i < 3; i++)
                buf[rand_r(seed) % len] = (char)rand_r(seed);
    }
    int fd = hc_connect(port);
    cr_assert_geq(fd, 0, "cannot connect: %s", strerror(errno));
    hc_send(fd, buf, len);
    if (rand_r(seed) % 2) {
        shutdown(fd, SHUT_WR);
        bool timed_out;
        size_t n;
        free(hc_read_all(fd, 50, &n, &timed_out)); /* a truncated request may wait */
    }
    close(fd);
}

Test(http, malformed_requests_never_crash_or_hang_it, .init = setup, .fini = teardown)
{
    if (!start_server())
        return;
    unsigned seed = 12345;
    int64_t t0 = tp_now_ns();
    for (int i = 0; i < 1000 && tp_now_ns() - t0 < 8000000000LL; i++) {
        send_junk(&seed);
        if (i % 50 == 49)
            expect_alive();
    }
    /* Connections left open mid-request (slowloris) do not block others. */
    int idle[8];
    for (int i = 0; i < 8; i++) {
        idle[i] = hc_connect(port);
        hc_send(idle[i], "GET /debug/pp", 13);
    }
    expect_alive();
    /* An oversized request line and header get an error, not a crash. */
    size_t big = 200000;
    char *huge = malloc(big + 64);
    int n = sprintf(huge, "GET /debug/pprof/mutex?x=");
    memset(huge + n, 'a', big);
    strcpy(huge + n + big, " HTTP/1.1\r\nHost: x\r\n\r\n");
    struct hc_response r;
    hc_request(port, huge, strlen(huge), &r);
    cr_expect(r.status == -1 || r.status >= 400, "%d", r.status);
    hc_free(&r);
    free(huge);
    for (int i = 0; i < 8; i++)
        close(idle[i]);
    expect_alive();
}

/* ---- SYNCPROF_HTTP ----------------------------------------------------- */

Test(http, environment_variable_starts_it)
{
    if (syncprof_http_start("127.0.0.1:0") == ENOTSUP)
        return;
    syncprof_http_stop();
    int out[2];
    cr_assert_eq(pipe(out), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], 2);
        close(out[0]);
        setenv("SYNCPROF_HTTP", "127.0.0.1:0", 1);
        execl(EXAMPLES_DIR "/http_server", "http_server", "", "20", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char line[256] = "";
    FILE *f = fdopen(out[0], "r");
    cr_assert(fgets(line, sizeof line, f), "no output from the example");
    int p = 0;
    cr_assert_eq(sscanf(line, "syncprof: serving profiles on http://127.0.0.1:%d/debug/pprof/", &p),
                 1, "%s", line);
    port = p;
    struct hc_response r = { 0 };
    bool seen = false;
    for (int i = 0; i < 100 && !seen; i++) { /* until its workers contended */
        hc_free(&r);
        cr_assert_eq(hc_get(port, "/debug/pprof/mutex?debug=1", &r), 0);
        cr_assert_eq(r.status, 200);
        seen = strstr(r.body, "worker") != NULL;
        if (!seen)
            tp_sleep_ns(100000000);
    }
    cr_expect(seen, "the example's contention: %s", r.body);
    hc_free(&r);
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    fclose(f);

    /* A bad value: one warning, the program runs on. */
    char cmd[512];
    char *o;
    snprintf(cmd, sizeof cmd, "SYNCPROF_HTTP=nonsense %s/http_server 127.0.0.1:0 1 2>&1",
             EXAMPLES_DIR);
    cr_expect_eq(tp_run(cmd, &o), 0, "%s", o);
    cr_expect(strstr(o, "syncprof: ignoring SYNCPROF_HTTP=\"nonsense\""), "%s", o);
    free(o);
}
