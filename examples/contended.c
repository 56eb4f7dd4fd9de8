/*
 * contended.c - a small work-queue program with a deliberately hot lock,
 * written against plain pthreads.
 *
 * Producers put jobs into a bounded queue (a mutex and two condition
 * variables); workers take them, compute, and add the result to a shared
 * tally under one global mutex that they hold far too long (hot_tally_add).
 * A read-mostly table of weights sits behind a rwlock.
 *
 * Built twice by CMake: as `contended` (raw pthreads) and as
 * `contended_profiled` (compiled with -include syncprof/pthread.h, linked
 * with -lsyncprof). Both print the same totals; the second, run with
 * SYNCPROF_MUTEX_FRACTION, SYNCPROF_BLOCK_RATE and SYNCPROF_OUT set, also
 * writes its mutex and block profiles.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define QUEUE_CAP 1024
#define PRODUCERS 2
#define WORKERS 4
#define JOBS_PER_PRODUCER 2000

struct queue {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    uint64_t jobs[QUEUE_CAP];
    int head, len, producers_left;
};

static struct queue q = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .not_empty = PTHREAD_COND_INITIALIZER,
    .not_full = PTHREAD_COND_INITIALIZER,
    .producers_left = PRODUCERS,
};

static pthread_mutex_t tally_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t tally, tally_jobs;

static pthread_rwlock_t weights_lock = PTHREAD_RWLOCK_INITIALIZER;
static uint64_t weights[64];

static void spin_for_us(int us)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do
        clock_gettime(CLOCK_MONOTONIC, &t);
    while ((t.tv_sec - t0.tv_sec) * 1000000 + (t.tv_nsec - t0.tv_nsec) / 1000 < us);
}

static void queue_put(uint64_t job)
{
    pthread_mutex_lock(&q.lock);
    while (q.len == QUEUE_CAP)
        pthread_cond_wait(&q.not_full, &q.lock);
    q.jobs[(q.head + q.len++) % QUEUE_CAP] = job;
    pthread_cond_signal(&q.not_empty);
    pthread_mutex_unlock(&q.lock);
}

/* 0 when the queue is drained and every producer is done. */
static int queue_take(uint64_t *job)
{
    pthread_mutex_lock(&q.lock);
    while (q.len == 0 && q.producers_left > 0)
        pthread_cond_wait(&q.not_empty, &q.lock);
    int got = q.len > 0;
    if (got) {
        *job = q.jobs[q.head];
        q.head = (q.head + 1) % QUEUE_CAP;
        q.len--;
        pthread_cond_signal(&q.not_full);
    }
    pthread_mutex_unlock(&q.lock);
    return got;
}

/* The hot spot: the "statistics" are updated with the lock held while
 * doing slow work that did not need it. */
static __attribute__((noinline)) void hot_tally_add(uint64_t value)
{
    pthread_mutex_lock(&tally_lock);
    spin_for_us(20);
    tally += value;
    tally_jobs++;
    pthread_mutex_unlock(&tally_lock);
}

static uint64_t weigh(uint64_t job)
{
    pthread_rwlock_rdlock(&weights_lock);
    uint64_t w = weights[job % 64];
    pthread_rwlock_unlock(&weights_lock);
    return w;
}

static void *producer(void *arg)
{
    uint64_t base = (uint64_t)(uintptr_t)arg * JOBS_PER_PRODUCER;
    for (uint64_t i = 0; i < JOBS_PER_PRODUCER; i++)
        queue_put(base + i);
    pthread_mutex_lock(&q.lock);
    q.producers_left--;
    pthread_cond_broadcast(&q.not_empty);
    pthread_mutex_unlock(&q.lock);
    return NULL;
}

static void *worker(void *arg)
{
    (void)arg;
    uint64_t job = 0;
    while (queue_take(&job))
        hot_tally_add(job * weigh(job));
    return NULL;
}

int main(void)
{
    pthread_rwlock_wrlock(&weights_lock);
    for (int i = 0; i < 64; i++)
        weights[i] = (uint64_t)i % 7 + 1;
    pthread_rwlock_unlock(&weights_lock);

    pthread_t p[PRODUCERS], w[WORKERS];
    for (uintptr_t i = 0; i < PRODUCERS; i++)
        pthread_create(&p[i], NULL, producer, (void *)i);
    for (int i = 0; i < WORKERS; i++)
        pthread_create(&w[i], NULL, worker, NULL);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(p[i], NULL);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(w[i], NULL);

    printf("jobs=%llu tally=%llu\n", (unsigned long long)tally_jobs, (unsigned long long)tally);
    return tally_jobs == PRODUCERS * JOBS_PER_PRODUCER ? 0 : 1;
}
