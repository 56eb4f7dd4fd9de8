/*
 * check_dump_stress.c - dumps, the watchdog and lock-order checking while
 * threads lock and unlock at full speed, for ThreadSanitizer (criterion
 * cannot start under it) and every other build. Plain program: exit 0 when
 * every check holds.
 *   - 6 threads take 4 mutexes and a rwlock in one consistent order;
 *   - meanwhile 20 dumps and 10 "threads" profiles (debug 0 and 1) are
 *     written, with the watchdog polling every 100 ms;
 *   - no update is lost, every dump succeeds, no inversion is reported,
 *     and an A->B / B->A pair made afterwards is reported exactly once.
 */
#include <syncprof/pthread.h>

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define CHECK_NAME "check_dump_stress"
#include "check.h"

#define THREADS 6
#define OPS 20000

static pthread_mutex_t locks[4];
static pthread_rwlock_t table = PTHREAD_RWLOCK_INITIALIZER;
static long counts[4];

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(long)arg;
    for (int i = 0; i < OPS; i++) {
        int k = (int)(rand_r(&seed) % 4);
        pthread_rwlock_rdlock(&table);
        for (int j = k; j < 4 && j < k + 2; j++)
            pthread_mutex_lock(&locks[j]);
        counts[k]++;
        for (int j = (k + 1 < 4 ? k + 1 : k); j >= k; j--)
            pthread_mutex_unlock(&locks[j]);
        pthread_rwlock_unlock(&table);
    }
    return NULL;
}

static void *ab(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&locks[0]);
    pthread_mutex_lock(&locks[1]);
    pthread_mutex_unlock(&locks[1]);
    pthread_mutex_unlock(&locks[0]);
    return NULL;
}

static void *ba(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&locks[1]);
    pthread_mutex_lock(&locks[0]);
    pthread_mutex_unlock(&locks[0]);
    pthread_mutex_unlock(&locks[1]);
    return NULL;
}

int main(void)
{
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2); /* reports would go to stderr; counted through the API */
    for (int k = 0; k < 4; k++)
        pthread_mutex_init(&locks[k], NULL);
    CHECK(syncprof_lock_order_enable() == 0, "lock order");
    CHECK(syncprof_watchdog_start(30) == 0, "watchdog");
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < 20; i++)
        CHECK(syncprof_dump_threads(devnull) == 0, "dump %d failed", i);
    for (int i = 0; i < 10; i++)
        CHECK(syncprof_write_profile("threads", devnull, i % 2) == 0, "threads profile failed");
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    long total = counts[0] + counts[1] + counts[2] + counts[3];
    CHECK(total == (long)THREADS * OPS, "lost updates: %ld", total);
    CHECK(syncprof_lock_order_reports() == 0, "a consistent order was reported");
    pthread_t x;
    pthread_create(&x, NULL, ab, NULL);
    pthread_join(x, NULL);
    pthread_create(&x, NULL, ba, NULL);
    pthread_join(x, NULL);
    CHECK(syncprof_lock_order_reports() == 1, "the inversion: %llu reports",
          (unsigned long long)syncprof_lock_order_reports());
    CHECK(syncprof_watchdog_stop() == 0, "stop");
    if (check_failed() == 0)
        printf("check_dump_stress: passed\n");
    return check_failed() == 0 ? 0 : 1;
}
