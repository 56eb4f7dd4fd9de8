/*
 * deadlock.c - a program that deadlocks on purpose, to show syncprof's
 * watchdog report (docs/dumps.md).
 *
 *   deadlock [abba|three|rwlock|lost-signal]
 *
 *   abba         two threads take lock-A then lock-B, and lock-B then lock-A
 *                (the default);
 *   three        three threads in a cycle of three mutexes;
 *   rwlock       one thread holds a rwlock for writing and wants a mutex,
 *                another holds the mutex and wants the rwlock;
 *   lost-signal  a thread waits for a condition that nobody signals: a hang,
 *                not a deadlock (the main thread keeps sleeping, awake);
 *   all-asleep   the same, but the main thread joins the waiter: every
 *                thread is asleep (Go's "all goroutines are asleep").
 *
 * The watchdog runs with a 2 s timeout unless SYNCPROF_HANG_TIMEOUT sets
 * another. Run with SYNCPROF_DEADLOCK_ABORT=1 to end with abort() after
 * the report instead of hanging; or send SIGQUIT with SYNCPROF_DUMP_SIGNAL=QUIT.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <syncprof/pthread.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t locks[3] = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
                                    PTHREAD_MUTEX_INITIALIZER };
static pthread_rwlock_t table = PTHREAD_RWLOCK_INITIALIZER;
static pthread_cond_t ready = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t all_hold_one;
static int nthreads;

/* Thread i takes lock i, waits until every thread holds its first lock,
 * then takes lock i + 1: a cycle. */
static void *take_two(void *arg)
{
    int i = (int)(long)arg;
    char name[16];
    snprintf(name, sizeof name, "worker-%d", i);
    pthread_setname_np(pthread_self(), name);
    pthread_mutex_lock(&locks[i]);
    pthread_barrier_wait(&all_hold_one);
    pthread_mutex_lock(&locks[(i + 1) % nthreads]);
    pthread_mutex_unlock(&locks[(i + 1) % nthreads]);
    pthread_mutex_unlock(&locks[i]);
    return NULL;
}

static void *writer_then_mutex(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "table-writer");
    pthread_rwlock_wrlock(&table);
    pthread_barrier_wait(&all_hold_one);
    pthread_mutex_lock(&locks[0]);
    pthread_mutex_unlock(&locks[0]);
    pthread_rwlock_unlock(&table);
    return NULL;
}

static void *mutex_then_reader(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "table-reader");
    pthread_mutex_lock(&locks[0]);
    pthread_barrier_wait(&all_hold_one);
    pthread_rwlock_rdlock(&table);
    pthread_rwlock_unlock(&table);
    pthread_mutex_unlock(&locks[0]);
    return NULL;
}

static void *wait_for_ready(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "waiter");
    pthread_mutex_lock(&locks[0]);
    pthread_cond_wait(&ready, &locks[0]); /* nobody signals */
    pthread_mutex_unlock(&locks[0]);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "abba";
    if (!getenv("SYNCPROF_HANG_TIMEOUT"))
        syncprof_watchdog_start(2.0);
    syncprof_set_name(&locks[0], "lock-A");
    syncprof_set_name(&locks[1], "lock-B");
    syncprof_set_name(&locks[2], "lock-C");
    syncprof_set_name(&table, "table");
    printf("deadlock: pid %d, mode %s\n", (int)getpid(), mode);
    fflush(stdout);

    pthread_t t[3];
    if (strcmp(mode, "lost-signal") == 0 || strcmp(mode, "all-asleep") == 0) {
        pthread_create(&t[0], NULL, wait_for_ready, NULL);
        while (strcmp(mode, "lost-signal") == 0)
            sleep(1); /* awake: not every thread is asleep, so it is a hang */
        pthread_join(t[0], NULL);
    }
    if (strcmp(mode, "rwlock") == 0) {
        pthread_barrier_init(&all_hold_one, NULL, 2);
        pthread_create(&t[0], NULL, writer_then_mutex, NULL);
        pthread_create(&t[1], NULL, mutex_then_reader, NULL);
        nthreads = 2;
    } else {
        nthreads = strcmp(mode, "three") == 0 ? 3 : 2;
        pthread_barrier_init(&all_hold_one, NULL, (unsigned)nthreads);
        for (int i = 0; i < nthreads; i++)
            pthread_create(&t[i], NULL, take_two, (void *)(long)i);
    }
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    printf("deadlock: no deadlock this time?\n");
    return 0;
}
