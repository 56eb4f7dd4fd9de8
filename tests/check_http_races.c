/*
 * check_http_races.c - the live-profile server under load, for
 * ThreadSanitizer (criterion cannot start under it; see check_races.c).
 *
 * Four threads contend on a named lock and an unnamed one with labels
 * that change as they go, while six clients scrape every path (the delta
 * paths included) and one ?seconds=1 request waits; then the server is
 * stopped with a ?seconds request still waiting, started again and
 * stopped again. Checks: every answer is 200 with a body of the right
 * kind, the counter under the lock lost no update, and the mutex profile
 * holds only the workers' stacks (never the server's). Loopback only.
 * Exit status 0 when everything holds (or without libmicrohttpd), 1 with
 * a message otherwise.
 */
#include <syncprof/pthread.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_client.h"
#include "http_endpoint.h"

#define CHECK_NAME "check_http_races"
#include "check.h"

#define WORKERS 4
#define CLIENTS 6
#define OPS 3000
#define REQUESTS 8

static pthread_mutex_t named = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t unnamed = PTHREAD_MUTEX_INITIALIZER;
static long counter; /* under named */
static int port;

static void *worker(void *arg)
{
    static const char *const users[] = { "alice", "bob", "carol" };
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < OPS; i++) {
        syncprof_labels_push("user", users[(id + i) % 3]);
        pthread_mutex_lock(&named);
        counter++;
        if (i == 0)
            usleep(20000); /* the other workers queue up: contention is certain */
        pthread_mutex_unlock(&named);
        pthread_mutex_lock(&unnamed);
        pthread_mutex_unlock(&unnamed);
        syncprof_labels_pop();
    }
    return NULL;
}

static void *client(void *arg)
{
    static const char *const paths[] = { "/debug/pprof/mutex", "/debug/pprof/block?debug=1",
                                         "/debug/pprof/delta_mutex", "/debug/pprof/delta_block",
                                         "/debug/pprof/", "/debug/pprof/mutex?debug=1" };
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < REQUESTS; i++) {
        int k = (id + i) % 6;
        struct hc_response r;
        int got = hc_get(port, paths[k], &r);
        CHECK(got == 0 && r.status == 200, "GET %s: %d", paths[k], r.status);
        if (got == 0 && r.status == 200 && (k == 0 || k == 2 || k == 3))
            CHECK(r.body_len > 2 && (unsigned char)r.body[0] == 0x1f, "%s: not gzip", paths[k]);
        if (got == 0 && r.status == 200 && (k == 1 || k == 5))
            CHECK(strncmp(r.body, "--- ", 4) == 0, "%s: not text", paths[k]);
        hc_free(&r);
    }
    return NULL;
}

static void *seconds_client(void *arg)
{
    (void)arg;
    struct hc_response r;
    int got = hc_get(port, "/debug/pprof/mutex?seconds=1", &r);
    CHECK(got == 0 && r.status == 200, "?seconds=1: %d", r.status);
    hc_free(&r);
    return NULL;
}

/* A ?seconds=600 request left waiting when the server stops. */
static int leave_waiting(void)
{
    int fd = hc_connect(port);
    const char req[] = "GET /debug/pprof/block?seconds=600 HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK(fd >= 0 && hc_send(fd, req, sizeof req - 1), "cannot send");
    for (int i = 0; i < 10000 && sp_http_waiting() == 0; i++) {
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
    CHECK(sp_http_waiting() == 1, "the ?seconds=600 request is not waiting");
    return fd;
}

int main(void)
{
    syncprof_set_mutex_profile_fraction(1);
    syncprof_set_block_profile_rate(1);
    syncprof_set_name(&named, "counter");
    int r = syncprof_http_start("127.0.0.1:0");
    if (r == ENOTSUP) {
        printf("check_http_races: built without libmicrohttpd, nothing to check\n");
        return 0;
    }
    CHECK(r == 0, "syncprof_http_start: %s", strerror(r));
    if (r != 0)
        return 1;
    port = syncprof_http_port();

    pthread_t w[WORKERS], c[CLIENTS], s;
    pthread_create(&s, NULL, seconds_client, NULL);
    for (int i = 0; i < WORKERS; i++)
        pthread_create(&w[i], NULL, worker, (void *)(intptr_t)i);
    for (int i = 0; i < CLIENTS; i++)
        pthread_create(&c[i], NULL, client, (void *)(intptr_t)i);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(w[i], NULL);
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(c[i], NULL);
    pthread_join(s, NULL);
    CHECK(counter == (long)WORKERS * OPS, "counter %ld, want %ld", counter, (long)WORKERS * OPS);

    /* Stop with a request waiting, start again, stop again. */
    int fd = leave_waiting();
    syncprof_http_stop();
    close(fd);
    CHECK(sp_http_waiting() == 0, "a ?seconds request outlived stop");
    r = syncprof_http_start("127.0.0.1:0");
    CHECK(r == 0, "restart: %s", strerror(r));
    port = syncprof_http_port();
    pthread_create(&c[0], NULL, client, (void *)(intptr_t)0);
    pthread_join(c[0], NULL);
    syncprof_http_stop();

    /* The mutex profile holds the workers' unlocks only. */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    fflush(f);
    char path[] = "/tmp/check-http-XXXXXX";
    int pfd = mkstemp(path);
    CHECK(syncprof_write_profile("mutex", pfd, 1) == 0, "write_profile");
    lseek(pfd, 0, SEEK_SET);
    char buf[4096];
    ssize_t n;
    while ((n = read(pfd, buf, sizeof buf)) > 0)
        fwrite(buf, 1, (size_t)n, f);
    fclose(f);
    close(pfd);
    unlink(path);
    CHECK(strstr(text, "worker"), "no worker stack in the mutex profile");
    CHECK(!strstr(text, "MHD_") && !strstr(text, "microhttpd") && !strstr(text, "src/http_"),
          "the server's own locks are in the profile:\n%s", text);
    free(text);
    if (check_failed() == 0)
        printf("check_http_races: ok\n");
    return check_failed() == 0 ? 0 : 1;
}
