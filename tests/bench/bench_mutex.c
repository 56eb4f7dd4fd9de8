/*
 * bench_mutex.c - raw pthreads against syncprof, side by side in one run
 * (a benchmark, not a test: it asserts nothing; see docs/performance.md).
 *
 *   1. uncontended lock+unlock pairs, one thread (mutex, then rwlock read);
 *   2. T threads incrementing one counter under one mutex (wall time);
 *   (1 and 2 also with the hold profile on at its default rate;)
 *   3. the cost of one sampled event with a 32-frame stack, in a thread
 *      that samples often and in a new thread's first 64 samples.
 *
 * Profiling is on throughout the syncprof runs: mutex fraction 10, block
 * rate 10000 ns, as the core issue specifies. Each measurement alternates
 * raw and wrapped runs and keeps the best of several rounds, so a noisy
 * neighbour hurts both sides alike.
 *
 * Usage: bench_mutex [pairs] [threads] [increments-per-thread]
 */
#define SYNCPROF_NO_MACROS /* we call both the raw and the wrapped functions */
#include <syncprof/pthread.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench_counter.h"
#include "hold_sampling.h" /* SP_HOLD_RATE_DEFAULT */
#include "sampling.h"      /* sp_mutex_event, for the per-event cost */

#define ROUNDS 7

/* ---- 1. uncontended pairs ------------------------------------------------ */

static pthread_mutex_t solo = PTHREAD_MUTEX_INITIALIZER;
static volatile uint64_t sink;

static __attribute__((noinline)) int64_t pairs_raw(long n)
{
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        pthread_mutex_lock(&solo);
        sink++;
        pthread_mutex_unlock(&solo);
    }
    return bench_now_ns() - t0;
}

static __attribute__((noinline)) int64_t pairs_wrapped(long n)
{
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        syncprof_inline_mutex_lock(&solo);
        sink++;
        syncprof_inline_mutex_unlock(&solo);
    }
    return bench_now_ns() - t0;
}

static pthread_rwlock_t solo_rw = PTHREAD_RWLOCK_INITIALIZER;

static __attribute__((noinline)) int64_t read_pairs_raw(long n)
{
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        pthread_rwlock_rdlock(&solo_rw);
        sink++;
        pthread_rwlock_unlock(&solo_rw);
    }
    return bench_now_ns() - t0;
}

static __attribute__((noinline)) int64_t read_pairs_wrapped(long n)
{
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        syncprof_inline_rwlock_rdlock(&solo_rw);
        sink++;
        syncprof_inline_rwlock_unlock(&solo_rw);
    }
    return bench_now_ns() - t0;
}

/* ---- 2. contended counter: counter() of bench_counter.h ------------------- */

/* ---- 3. one sampled event ----------------------------------------------------- */

static __attribute__((noinline)) int64_t events_at_depth(int depth, long n)
{
    if (depth > 0) {
        int64_t r = events_at_depth(depth - 1, n);
        sink += (uint64_t)r; /* not a tail call: every frame stays */
        return r;
    }
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++)
        sp_mutex_event(NULL, 1000, (void *)syncprof_mutex_unlock, (uintptr_t)__builtin_return_address(0));
    return bench_now_ns() - t0;
}

/* A new thread's first 64 sampled events (stack_capture.c: libgcc's
 * unwinder, before the thread's libunwind trace cache is made). */
static void *first_events(void *arg)
{
    *(int64_t *)arg = events_at_depth(30, 64);
    return NULL;
}

static int64_t best(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

int main(int argc, char **argv)
{
    long pairs = argc > 1 ? atol(argv[1]) : 20000000;
    int threads = argc > 2 ? atoi(argv[2]) : 4;
    long incs = argc > 3 ? atol(argv[3]) : 1000000;
    if (threads < 1 || threads > 64)
        threads = 4;

    syncprof_set_mutex_profile_fraction(10);
    syncprof_set_block_profile_rate(10000);

    /* Raw, wrapped with the hold profile off, and on at its default rate,
     * rounds interleaved. */
    int64_t raw = INT64_MAX, wrapped = INT64_MAX, held = INT64_MAX;
    for (int r = 0; r < ROUNDS; r++) {
        raw = best(raw, pairs_raw(pairs));
        wrapped = best(wrapped, pairs_wrapped(pairs));
        syncprof_set_hold_profile_rate(SP_HOLD_RATE_DEFAULT);
        held = best(held, pairs_wrapped(pairs));
        syncprof_set_hold_profile_rate(0);
    }
    printf("uncontended lock+unlock: raw %.2f ns/pair, syncprof %.2f ns/pair, ratio %.3f\n",
           (double)raw / pairs, (double)wrapped / pairs, (double)wrapped / raw);
    printf("  hold profile on (rate %d ns): %.2f ns/pair, ratio %.3f\n", SP_HOLD_RATE_DEFAULT,
           (double)held / pairs, (double)held / raw);

    raw = wrapped = INT64_MAX;
    for (int r = 0; r < ROUNDS; r++) {
        raw = best(raw, read_pairs_raw(pairs / 2));
        wrapped = best(wrapped, read_pairs_wrapped(pairs / 2));
    }
    printf("uncontended rwlock read+unlock: raw %.2f ns/pair, syncprof %.2f ns/pair, ratio %.3f\n",
           (double)raw / (pairs / 2), (double)wrapped / (pairs / 2), (double)wrapped / raw);

    raw = wrapped = held = INT64_MAX;
    for (int r = 0; r < ROUNDS; r++) {
        raw = best(raw, counter(threads, incs, 0));
        wrapped = best(wrapped, counter(threads, incs, 1));
        syncprof_set_hold_profile_rate(SP_HOLD_RATE_DEFAULT);
        held = best(held, counter(threads, incs, 1));
        syncprof_set_hold_profile_rate(0);
    }
    printf("contended counter (%d threads x %ld): raw %.1f ms, syncprof %.1f ms, ratio %.3f\n",
           threads, incs, raw / 1e6, wrapped / 1e6, (double)wrapped / raw);
    printf("  hold profile on: %.1f ms, ratio %.3f\n", held / 1e6, (double)held / raw);

    syncprof_set_mutex_profile_fraction(1);
    long events = 200000;
    int64_t ev = INT64_MAX;
    for (int r = 0; r < ROUNDS; r++)
        ev = best(ev, events_at_depth(30, events));
    printf("sampled event, 32-frame stack: %.0f ns/event\n", (double)ev / events);
    int64_t first = INT64_MAX;
    for (int r = 0; r < ROUNDS; r++) {
        int64_t t = INT64_MAX;
        pthread_t th;
        if (pthread_create(&th, NULL, first_events, &t) == 0 && pthread_join(th, NULL) == 0)
            first = best(first, t);
    }
    printf("  a new thread's first 64 sampled events: %.0f ns/event\n", (double)first / 64);
    return 0;
}
