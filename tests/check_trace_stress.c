/*
 * check_trace_stress.c - the execution tracer started and stopped 100
 * times while 8 threads contend, and a trace that overflows its buffers:
 * every trace decodes (against Perfetto's own schema with protoc, and
 * with src/trace_reader.c), and what did not fit is counted exactly.
 * A plain program, so that it also runs under ThreadSanitizer.
 */
#define CHECK_NAME "check_trace_stress"
#include <syncprof/pthread.h>

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <syncprof/trace.h>

#include "check.h"
#include "trace_reader.h"

#define THREADS 8
#define ROUNDS 100

static pthread_mutex_t locks[2] = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER };
static pthread_cond_t cvs[2] = { PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER }; /* cvs[i] with locks[i] */
static atomic_bool stop;
static long counters[2]; /* counters[i] under locks[i] */

static void *contend(void *arg)
{
    long id = (long)arg;
    for (unsigned n = 1; !atomic_load(&stop); n++) {
        pthread_mutex_t *m = &locks[id % 2];
        long *counter = &counters[id % 2];
        pthread_cond_t *cv = &cvs[id % 2];
        syncprof_region_begin("work");
        pthread_mutex_lock(m);
        ++*counter;
        if (*counter % 64 == 0)
            pthread_cond_broadcast(cv);
        else if (*counter % 61 == 0) {
            struct timespec t;
            clock_gettime(CLOCK_REALTIME, &t);
            t.tv_nsec += 100000;
            if (t.tv_nsec >= 1000000000) {
                t.tv_sec++;
                t.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(cv, m, &t);
        }
        pthread_mutex_unlock(m);
        syncprof_region_end("work");
        if (n % 16 == 0)
            sched_yield(); /* the main thread, starting and stopping, gets its turn */
    }
    return NULL;
}

/* path decodes with protoc against Perfetto's schema. */
static bool protoc_decodes(const char *path)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s --decode=perfetto.protos.Trace -I'%s' perfetto_trace.proto < '%s' >/dev/null",
             PROTOC, PERFETTO_PROTO_DIR, path);
    return system(cmd) == 0;
}

static void start_stop_while_contending(const char *dir)
{
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, contend, (void *)i);
    char path[256];
    for (int round = 0; round < ROUNDS; round++) {
        snprintf(path, sizeof path, "%s/round.pftrace", dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        CHECK(fd >= 0, "open %s", path);
        CHECK(syncprof_trace_start(fd) == 0, "round %d: start", round);
        CHECK(syncprof_trace_start(fd) != 0, "round %d: a second trace started", round);
        struct timespec d = { 0, (round % 5 + 1) * 1000000L };
        nanosleep(&d, NULL);
        CHECK(syncprof_trace_stop() == 0, "round %d: stop", round);
        close(fd);
        struct sp_trace tr;
        int e = sp_trace_read(path, (size_t)1 << 30, &tr);
        CHECK(e == 0, "round %d: trace does not read back: %s", round, strerror(e));
        CHECK(tr.lost >= 0, "round %d: no lost-event count in the trace", round);
        if (e == 0)
            sp_trace_free(&tr);
        /* protoc is slow: every tenth round, and the last. */
        if (round % 10 == 0 || round == ROUNDS - 1)
            CHECK(protoc_decodes(path), "round %d: does not decode against Perfetto's schema", round);
    }
    CHECK(syncprof_trace_stop() != 0, "stop with no trace running succeeded");
    atomic_store(&stop, true);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
}

/* One thread logs far more than its ring holds between two drains: the
 * lines in the trace and the lost count add up to the lines logged. */
static void overflow(const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/overflow.pftrace", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(syncprof_trace_start(fd) == 0, "overflow: start");
    const long lines = 200000;
    for (long i = 0; i < lines; i++)
        syncprof_trace_log("flood", "line");
    CHECK(syncprof_trace_stop() == 0, "overflow: stop");
    close(fd);
    struct sp_trace tr;
    int e = sp_trace_read(path, (size_t)1 << 30, &tr);
    CHECK(e == 0, "overflow: trace does not read back: %s", strerror(e));
    if (e != 0)
        return;
    long seen = 0;
    for (size_t i = 0; i < tr.nslices; i++)
        seen += strcmp(tr.slices[i].name, "line") == 0;
    CHECK(tr.lost > 0, "overflow: nothing lost out of %ld lines", lines);
    CHECK(seen + tr.lost == lines, "overflow: %ld lines shown + %lld lost != %ld logged", seen,
          (long long)tr.lost, lines);
    sp_trace_free(&tr);
    CHECK(protoc_decodes(path), "overflow: does not decode against Perfetto's schema");
}

int main(void)
{
    char dir[] = "/tmp/syncprof-trace-stress.XXXXXX";
    if (!mkdtemp(dir))
        return 2;
    start_stop_while_contending(dir);
    overflow(dir);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    (void)!system(cmd);
    return check_failed() ? 1 : 0;
}
