/*
 * bench_trace.c - the execution tracer's costs (a benchmark, not a test:
 * it asserts nothing; see docs/performance.md and docs/tracing.md):
 *
 *   1. one recorded event: a wait slice (sp_trace_wait), a region begin
 *      and end (the public inline calls, clock reads included), and a
 *      contended release (sp_trace_release with one waiter registered:
 *      the wait table walk that gives the flow, and the hold slice);
 *   2. T threads incrementing one counter under one mutex (wall time):
 *      raw pthreads, syncprof with no trace, syncprof tracing (to a
 *      file), interleaved round by round; with the waits the last traced
 *      round recorded and lost;
 *   3. uncontended lock+unlock pairs, the same three ways.
 *
 * Events are recorded in batches that fit a thread's ring, with a pause
 * between batches for the writer thread to drain it, so that every timed
 * event is recorded (a full ring drops events, which is cheaper). Each
 * figure is the best of ROUNDS rounds.
 *
 * Usage: bench_trace [threads] [increments-per-thread]
 */
#define SYNCPROF_NO_MACROS /* we call both the raw and the wrapped functions */
#include <syncprof/pthread.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <syncprof/trace.h>

#include "bench_counter.h"
#include "trace.h"
#include "trace_reader.h"
#include "wait_table.h"

#define ROUNDS 7
#define BATCH 400     /* events per batch: well inside a 64 KiB ring */
#define BATCHES 50

static void pause_for_writer(void)
{
    struct timespec d = { 0, 25 * 1000000L };
    nanosleep(&d, NULL);
}

static int64_t best(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* ---- 1. recorded events ------------------------------------------------- */

static pthread_mutex_t object = PTHREAD_MUTEX_INITIALIZER;

/* ns per event, over BATCHES batches of BATCH events of kind k. */
static double per_event(int k)
{
    int64_t total = 0;
    struct sp_waiter w, waiter;
    for (int b = 0; b < BATCHES; b++) {
        if (k == 2)
            sp_wait_begin(&waiter, &object, SP_WAIT_MUTEX, bench_now_ns());
        int64_t t0 = bench_now_ns();
        for (int i = 0; i < BATCH; i++) {
            switch (k) {
            case 0: /* the registration alone: subtracted below */
                sp_wait_begin(&w, &object, SP_WAIT_MUTEX, t0);
                sp_wait_end(&w);
                break;
            case 1:
                syncprof_region_begin("region");
                syncprof_region_end("region");
                break;
            default:
                sp_trace_release(&object, SP_WAIT_MUTEX);
                break;
            }
        }
        int64_t t1 = bench_now_ns();
        if (k == 0) {
            /* the same loop with the wait slice recorded, minus the loop without */
            int64_t t2 = bench_now_ns();
            for (int i = 0; i < BATCH; i++) {
                sp_wait_begin(&w, &object, SP_WAIT_MUTEX, t2);
                sp_wait_end(&w);
                sp_trace_wait(&w, t2 + 1000);
            }
            total += (bench_now_ns() - t2) - (t1 - t0);
        } else {
            total += t1 - t0;
        }
        if (k == 2)
            sp_wait_end(&waiter);
        pause_for_writer();
    }
    return (double)total / (BATCHES * BATCH) / (k == 1 ? 2 : 1);
}

/* ---- 2. contended counter, 3. uncontended pairs ---------------------------- */

static pthread_mutex_t solo = PTHREAD_MUTEX_INITIALIZER;
static volatile uint64_t sink;

static __attribute__((noinline)) int64_t pairs(long n, int wrapped)
{
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        if (wrapped) {
            syncprof_inline_mutex_lock(&solo);
            sink++;
            syncprof_inline_mutex_unlock(&solo);
        } else {
            pthread_mutex_lock(&solo);
            sink++;
            pthread_mutex_unlock(&solo);
        }
    }
    return bench_now_ns() - t0;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 4;
    long incs = argc > 2 ? atol(argv[2]) : 1000000;
    if (threads < 1 || threads > 64)
        threads = 4;
    int devnull = open("/dev/null", O_WRONLY);

    if (syncprof_trace_start(devnull) != 0)
        return 1;
    static const char *const names[] = { "wait slice", "region begin or end", "contended release (hold + flow)" };
    for (int k = 0; k < 3; k++) {
        double ns = 1e18;
        for (int r = 0; r < ROUNDS; r++) {
            double x = per_event(k);
            ns = x < ns ? x : ns;
        }
        printf("recorded event, %s: %.0f ns\n", names[k], ns);
    }
    syncprof_trace_stop();

    char path[] = "/tmp/bench_trace.XXXXXX";
    int fd = mkstemp(path);
    int64_t raw = INT64_MAX, off = INT64_MAX, on = INT64_MAX;
    for (int r = 0; r < ROUNDS; r++) {
        raw = best(raw, counter(threads, incs, 0));
        off = best(off, counter(threads, incs, 1));
        if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0 || syncprof_trace_start(fd) != 0)
            return 1;
        on = best(on, counter(threads, incs, 1));
        syncprof_trace_stop();
    }
    struct sp_trace t;
    size_t waits = 0;
    long long lost = -1;
    if (sp_trace_read(path, (size_t)1 << 31, &t) == 0) {
        for (size_t i = 0; i < t.nslices; i++)
            waits += strcmp(t.slices[i].category, "wait") == 0;
        lost = t.lost;
        sp_trace_free(&t);
    }
    unlink(path);
    close(fd);
    printf("contended counter (%d threads x %ld): raw %.1f ms, no trace %.1f ms (%.3fx), "
           "tracing %.1f ms (%.3fx; last traced round: %zu waits recorded, %lld lost)\n",
           threads, incs, raw / 1e6, off / 1e6, (double)off / raw, on / 1e6, (double)on / raw,
           waits, lost);

    long n = 20000000;
    raw = off = on = INT64_MAX;
    for (int r = 0; r < ROUNDS; r++) {
        raw = best(raw, pairs(n, 0));
        off = best(off, pairs(n, 1));
        syncprof_trace_start(devnull);
        on = best(on, pairs(n, 1));
        syncprof_trace_stop();
    }
    printf("uncontended lock+unlock: raw %.2f ns, no trace %.2f ns (%.3fx), tracing %.2f ns (%.3fx)\n",
           (double)raw / n, (double)off / n, (double)off / raw, (double)on / n, (double)on / raw);
    close(devnull);
    return 0;
}
