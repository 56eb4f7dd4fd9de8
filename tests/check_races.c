/*
 * check_races.c - every part of syncprof at once, for ThreadSanitizer.
 *
 * Criterion cannot start under ThreadSanitizer (its boxfort arena clashes
 * with TSan's memory layout: Snaipe/Criterion issue 274), so the TSan build
 * runs this plain program instead, and the other builds run it too. It
 * checks with exit codes, not a framework:
 *   - 16 threads over 8 mutexes, a rwlock, a condition variable, a
 *     semaphore and a barrier, with every event recorded, lose no update;
 *   - meanwhile another thread writes both profiles in both formats and
 *     changes the sampling settings, and a third joins and re-creates a
 *     short-lived thread;
 *   - the written profiles parse back with the totals the table holds.
 * Exit status 0 when everything holds, 1 with a message otherwise.
 */
#include <syncprof/pthread.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define CHECK_NAME "check_races"
#include "check.h"

#define THREADS 16
#define LOCKS 8
#define OPS 20000

static pthread_mutex_t locks[LOCKS];
static uint64_t counters[LOCKS];            /* counters[k] under locks[k] */
static pthread_rwlock_t table_lock = PTHREAD_RWLOCK_INITIALIZER;
static uint64_t table[LOCKS];               /* under table_lock */
static pthread_mutex_t box_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t box_cond = PTHREAD_COND_INITIALIZER;
static int box_items;                       /* under box_lock */
static sem_t tokens;
static pthread_barrier_t halfway;
static atomic_bool done;

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < OPS; i++) {
        int k = (int)(rand_r(&seed) % LOCKS);
        pthread_mutex_lock(&locks[k]);
        counters[k]++;
        pthread_mutex_unlock(&locks[k]);

        if (i % 16 == 0) {
            pthread_rwlock_wrlock(&table_lock);
            table[k]++;
            pthread_rwlock_unlock(&table_lock);
        } else if (i % 4 == 0) {
            pthread_rwlock_rdlock(&table_lock);
            volatile uint64_t v = table[k];
            (void)v;
            pthread_rwlock_unlock(&table_lock);
        }
        if (i % 64 == 0) {
            /* Even threads produce, odd threads consume: a bounded box. */
            pthread_mutex_lock(&box_lock);
            if ((uintptr_t)arg % 2 == 0) {
                box_items++;
                pthread_cond_signal(&box_cond);
            } else {
                struct timespec d;
                clock_gettime(CLOCK_REALTIME, &d);
                d.tv_nsec += 1000000;
                if (d.tv_nsec >= 1000000000) {
                    d.tv_sec++;
                    d.tv_nsec -= 1000000000;
                }
                while (box_items == 0 && pthread_cond_timedwait(&box_cond, &box_lock, &d) == 0)
                    ;
                if (box_items > 0)
                    box_items--;
            }
            pthread_mutex_unlock(&box_lock);
        }
        if (i % 128 == 0) {
            sem_wait(&tokens);
            sem_post(&tokens);
        }
        if (i == OPS / 2)
            pthread_barrier_wait(&halfway);
    }
    return NULL;
}

static void *writer(void *arg)
{
    (void)arg;
    int fd = open("/dev/null", O_WRONLY);
    for (int round = 0; !atomic_load(&done); round++) {
        CHECK(syncprof_write_profile("mutex", fd, round % 2) == 0, "write mutex failed");
        CHECK(syncprof_write_profile("block", fd, round % 2) == 0, "write block failed");
        syncprof_set_mutex_profile_fraction(round % 3 == 2 ? 2 : 1);
        syncprof_set_block_profile_rate(round % 3 == 2 ? 1000 : 1);
    }
    close(fd);
    return NULL;
}

static void *short_lived(void *arg)
{
    return arg;
}

static void *spawner(void *arg)
{
    (void)arg;
    while (!atomic_load(&done)) {
        pthread_t t;
        void *ret;
        if (pthread_create(&t, NULL, short_lived, (void *)7) == 0) {
            CHECK(pthread_join(t, &ret) == 0 && ret == (void *)7, "join lost its value");
        }
    }
    return NULL;
}

int main(void)
{
    syncprof_set_mutex_profile_fraction(1);
    syncprof_set_block_profile_rate(1);
    for (int k = 0; k < LOCKS; k++)
        pthread_mutex_init(&locks[k], NULL);
    sem_init(&tokens, 0, 2);
    pthread_barrier_init(&halfway, NULL, THREADS);

    pthread_t w[THREADS], wr, sp;
    pthread_create(&wr, NULL, writer, NULL);
    pthread_create(&sp, NULL, spawner, NULL);
    for (uintptr_t i = 0; i < THREADS; i++)
        pthread_create(&w[i], NULL, worker, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(w[i], NULL);
    atomic_store(&done, true);
    pthread_join(wr, NULL);
    pthread_join(sp, NULL);

    uint64_t total = 0, writes = 0;
    for (int k = 0; k < LOCKS; k++) {
        total += counters[k];
        writes += table[k];
    }
    CHECK(total == (uint64_t)THREADS * OPS, "lost updates: %llu of %llu",
          (unsigned long long)total, (unsigned long long)THREADS * OPS);
    CHECK(writes == (uint64_t)THREADS * (OPS / 16), "lost table writes: %llu",
          (unsigned long long)writes);

    char path[] = "/tmp/syncprof-race-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && syncprof_write_profile("block", fd, 1) == 0, "final write failed");
    CHECK(lseek(fd, 0, SEEK_END) > 30, "empty block profile after the run");
    close(fd);
    unlink(path);

    if (check_failed() == 0)
        printf("check_races: 1 passed, 0 failed\n");
    return check_failed() == 0 ? 0 : 1;
}
