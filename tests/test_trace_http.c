/*
 * test_trace_http.c - /debug/pprof/trace?seconds=N, as Go's: an execution
 * trace of the next N seconds (1 by default) served as an attachment
 * named "trace", which decodes against Perfetto's own schema and holds the
 * waits of threads contending meanwhile; 500 while another trace runs.
 * Without libmicrohttpd syncprof_http_start returns ENOTSUP and the tests
 * stop there.
 */
#include <syncprof/pthread.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <syncprof/http.h>
#include <syncprof/trace.h>

#include "http_client.h"
#include "preload_support.h"
#include "trace_check.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool stop;

static void *contend(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        pthread_mutex_lock(&mu);
        usleep(200);
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

static int start_server(void)
{
    int r = syncprof_http_start("127.0.0.1:0");
    if (r == ENOTSUP)
        return 0;
    cr_assert_eq(r, 0, "syncprof_http_start: %s", strerror(r));
    return syncprof_http_port();
}

Test(trace_http, one_second_trace_while_threads_contend)
{
    int port = start_server();
    if (!port) {
        cr_log_info("built without libmicrohttpd: nothing to test");
        return;
    }
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, contend, NULL);
    struct hc_response r;
    int64_t t0 = tp_now_ns();
    cr_assert_eq(hc_get(port, "/debug/pprof/trace?seconds=1", &r), 0);
    int64_t took = tp_now_ns() - t0;
    atomic_store(&stop, true);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    syncprof_http_stop();
    cr_assert_eq(r.status, 200, "%s", r.head);
    cr_expect(took >= 1000000000, "answered after %lld ns", (long long)took);
    char h[128];
    cr_expect_str_eq(hc_header(&r, "Content-Disposition", h, sizeof h), "attachment; filename=\"trace\"");
    char dir[64], path[128];
    ps_tmpdir(dir);
    ps_save(dir, "http.pftrace", r.body, r.body_len, path, sizeof path);
    hc_free(&r);
    struct sp_trace tr;
    tc_read(path, &tr);
    size_t waits = 0;
    for (size_t i = 0; i < tr.nslices; i++)
        waits += tr.slices[i].object == (uintptr_t)&mu && strcmp(tr.slices[i].category, "wait") == 0;
    cr_expect(waits > 10, "%zu waits on the contended mutex in a second", waits);
    cr_expect(tr.lost >= 0, "no lost-event count");
    sp_trace_free(&tr);
}

Test(trace_http, busy_while_another_trace_runs)
{
    int port = start_server();
    if (!port)
        return;
    int fd = open("/dev/null", O_WRONLY);
    cr_assert_eq(syncprof_trace_start(fd), 0);
    struct hc_response r;
    cr_assert_eq(hc_get(port, "/debug/pprof/trace?seconds=1", &r), 0);
    cr_expect_eq(r.status, 500, "%s", r.head);
    hc_free(&r);
    cr_assert_eq(syncprof_trace_stop(), 0);
    close(fd);
    syncprof_http_stop();
}
