/*
 * bench_counter.h - the contended counter of bench_mutex.c and
 * bench_trace.c: T threads incrementing one counter under one mutex, raw
 * or through syncprof's inline wrappers, timed wall to wall. Include after
 * <syncprof/pthread.h> with SYNCPROF_NO_MACROS.
 */
#ifndef BENCH_COUNTER_H
#define BENCH_COUNTER_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct counter_run {
    pthread_mutex_t lock;
    uint64_t value;
    long per_thread;
    int wrapped;
};

static void *incrementer(void *arg)
{
    struct counter_run *c = arg;
    for (long i = 0; i < c->per_thread; i++) {
        if (c->wrapped) {
            syncprof_inline_mutex_lock(&c->lock);
            c->value++;
            syncprof_inline_mutex_unlock(&c->lock);
        } else {
            pthread_mutex_lock(&c->lock);
            c->value++;
            pthread_mutex_unlock(&c->lock);
        }
    }
    return NULL;
}

/* ns for threads (at most 64) x per_thread increments; exits the program
 * if an update was lost. */
static inline int64_t counter(int threads, long per_thread, int wrapped)
{
    struct counter_run c = { PTHREAD_MUTEX_INITIALIZER, 0, per_thread, wrapped };
    pthread_t t[64];
    int64_t t0 = bench_now_ns();
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, incrementer, &c);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    int64_t dt = bench_now_ns() - t0;
    if (c.value != (uint64_t)threads * (uint64_t)per_thread) {
        fprintf(stderr, "lost updates: %llu\n", (unsigned long long)c.value);
        exit(1);
    }
    return dt;
}

#endif /* BENCH_COUNTER_H */
