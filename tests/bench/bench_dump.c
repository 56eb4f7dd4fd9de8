/*
 * bench_dump.c - what dumps and lock tracking cost (a benchmark, not a
 * test: it asserts nothing; see docs/performance.md).
 *
 *   1. a dump of N threads (default 1000) parked in sem_wait, written to
 *      /dev/null: the first (which opens the symbolizer) and the best of
 *      the next rounds; also the stack capture alone;
 *   2. uncontended lock+unlock pairs through <syncprof/pthread.h> with
 *      tracking off, tracking on, and lock-order checking on, taking the
 *      lock while holding another (so every acquisition is checked).
 *
 * Tracking and lock order, once on, stay on: the three runs of 2 go in
 * that order. Usage: bench_dump [threads] [pairs]
 */
#include <syncprof/pthread.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "thread_stacks.h"

#define ROUNDS 5

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static sem_t park;

static void *parked(void *arg)
{
    (void)arg;
    sem_wait(&park);
    return NULL;
}

static void bench_dumps(int nthreads)
{
    sem_init(&park, 0, 0);
    pthread_t *t = malloc(sizeof *t * (size_t)nthreads);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    int made = 0;
    while (made < nthreads && pthread_create(&t[made], &attr, parked, NULL) == 0)
        made++;
    usleep(200000);
    int fd = open("/dev/null", O_WRONLY);
    int64_t t0 = now_ns();
    syncprof_dump_threads(fd);
    int64_t first = now_ns() - t0, best = INT64_MAX, best_capture = INT64_MAX;
    for (int r = 0; r < ROUNDS; r++) {
        t0 = now_ns();
        syncprof_dump_threads(fd);
        int64_t d = now_ns() - t0;
        best = d < best ? d : best;
        struct sp_thread_stack *v;
        size_t n;
        t0 = now_ns();
        sp_threads_capture(&v, &n, NULL, 0, NULL, 0, SP_CAPTURE_FULL);
        d = now_ns() - t0;
        best_capture = d < best_capture ? d : best_capture;
        free(v);
    }
    printf("dump of %d threads: first %.1f ms, then best of %d: %.1f ms "
           "(stack capture alone %.1f ms)\n",
           made + 1, first / 1e6, ROUNDS, best / 1e6, best_capture / 1e6);
    close(fd);
    for (int i = 0; i < made; i++)
        sem_post(&park);
    for (int i = 0; i < made; i++)
        pthread_join(t[i], NULL);
    free(t);
}

static pthread_mutex_t outer = PTHREAD_MUTEX_INITIALIZER, inner = PTHREAD_MUTEX_INITIALIZER;
static volatile uint64_t sink;

static __attribute__((noinline)) int64_t pairs(long n)
{
    int64_t best = INT64_MAX;
    for (int r = 0; r < ROUNDS; r++) {
        pthread_mutex_lock(&outer);
        int64_t t0 = now_ns();
        for (long i = 0; i < n; i++) {
            pthread_mutex_lock(&inner);
            sink++;
            pthread_mutex_unlock(&inner);
        }
        int64_t d = now_ns() - t0;
        pthread_mutex_unlock(&outer);
        best = d < best ? d : best;
    }
    return best;
}

int main(int argc, char **argv)
{
    int nthreads = argc > 1 ? atoi(argv[1]) : 1000;
    long n = argc > 2 ? atol(argv[2]) : 2000000;
    bench_dumps(nthreads);
    double off = (double)pairs(n) / (double)n;
    syncprof_lock_tracking_enable();
    double tracked = (double)pairs(n) / (double)n;
    syncprof_lock_order_enable();
    double ordered = (double)pairs(n) / (double)n;
    printf("uncontended lock+unlock pair (holding another lock): tracking off %.1f ns, "
           "tracking on %.1f ns, lock order on %.1f ns\n", off, tracked, ordered);
    return 0;
}
