/*
 * each.c - every interposed function, contended once, in a plain pthread
 * program (no syncprof header): `each OP` runs one operation, `each all`
 * runs them all. A holder takes the object, a waiter thread blocks on it
 * in do_<OP>, and after HOLD_MS the holder releases it in release_<kind>,
 * so the block profile shows [the pthread call, do_<OP>] and the mutex
 * profile [the unlock, release_<kind>]. Exit status 0 when every call
 * returned what it should.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
#define HOLD_MS 30

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t barrier;
static sem_t sem;
static int ready, failures;
static int started; /* the waiter is about to call; atomic */

static void check(int r, const char *what)
{
    if (r != 0) {
        fprintf(stderr, "each: %s returned %d\n", what, r);
        failures++;
    }
}

static struct timespec in(clockid_t clock, int seconds)
{
    struct timespec t;
    clock_gettime(clock, &t);
    t.tv_sec += seconds;
    return t;
}

static void pause_ms(int ms)
{
    struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000 };
    nanosleep(&t, NULL);
}

/* ---- Waiters: the call sites the block profile must show ---------------- */

NOINLINE static void do_mutex_lock(void) { check(pthread_mutex_lock(&mu), "lock"); pthread_mutex_unlock(&mu); }
NOINLINE static void do_mutex_timedlock(void)
{
    struct timespec t = in(CLOCK_REALTIME, 10);
    check(pthread_mutex_timedlock(&mu, &t), "timedlock");
    pthread_mutex_unlock(&mu);
}
NOINLINE static void do_mutex_clocklock(void)
{
    struct timespec t = in(CLOCK_MONOTONIC, 10);
    check(pthread_mutex_clocklock(&mu, CLOCK_MONOTONIC, &t), "clocklock");
    pthread_mutex_unlock(&mu);
}
NOINLINE static void do_rwlock_rdlock(void) { check(pthread_rwlock_rdlock(&rw), "rdlock"); pthread_rwlock_unlock(&rw); }
NOINLINE static void do_rwlock_wrlock(void) { check(pthread_rwlock_wrlock(&rw), "wrlock"); pthread_rwlock_unlock(&rw); }
NOINLINE static void do_rwlock_timedrdlock(void)
{
    struct timespec t = in(CLOCK_REALTIME, 10);
    check(pthread_rwlock_timedrdlock(&rw, &t), "timedrdlock");
    pthread_rwlock_unlock(&rw);
}
NOINLINE static void do_rwlock_timedwrlock(void)
{
    struct timespec t = in(CLOCK_REALTIME, 10);
    check(pthread_rwlock_timedwrlock(&rw, &t), "timedwrlock");
    pthread_rwlock_unlock(&rw);
}
NOINLINE static void do_cond_wait(void)
{
    pthread_mutex_lock(&mu);
    while (!ready)
        check(pthread_cond_wait(&cv, &mu), "cond_wait");
    pthread_mutex_unlock(&mu);
}
NOINLINE static void do_cond_timedwait(void)
{
    struct timespec t = in(CLOCK_REALTIME, 10);
    pthread_mutex_lock(&mu);
    while (!ready)
        check(pthread_cond_timedwait(&cv, &mu, &t), "cond_timedwait");
    pthread_mutex_unlock(&mu);
}
NOINLINE static void do_cond_clockwait(void)
{
    struct timespec t = in(CLOCK_MONOTONIC, 10);
    pthread_mutex_lock(&mu);
    while (!ready)
        check(pthread_cond_clockwait(&cv, &mu, CLOCK_MONOTONIC, &t), "cond_clockwait");
    pthread_mutex_unlock(&mu);
}
NOINLINE static void do_barrier_wait(void)
{
    int r = pthread_barrier_wait(&barrier);
    check(r == PTHREAD_BARRIER_SERIAL_THREAD ? 0 : r, "barrier_wait");
}
NOINLINE static void do_sem_wait(void) { check(sem_wait(&sem), "sem_wait"); }
NOINLINE static void do_sem_timedwait(void)
{
    struct timespec t = in(CLOCK_REALTIME, 10);
    check(sem_timedwait(&sem, &t), "sem_timedwait");
}

/* ---- Holders and releasers ------------------------------------------------- */

NOINLINE static void hold_mutex(void) { check(pthread_mutex_trylock(&mu), "trylock"); }
NOINLINE static void release_mutex(void) { check(pthread_mutex_unlock(&mu), "unlock"); }
NOINLINE static void hold_write(void) { check(pthread_rwlock_trywrlock(&rw), "trywrlock"); }
NOINLINE static void hold_read(void) { check(pthread_rwlock_tryrdlock(&rw), "tryrdlock"); }
NOINLINE static void release_rwlock(void) { check(pthread_rwlock_unlock(&rw), "rwlock_unlock"); }
NOINLINE static void nothing(void) {}
NOINLINE static void release_cond_signal(void)
{
    pthread_mutex_lock(&mu);
    ready = 1;
    check(pthread_cond_signal(&cv), "cond_signal");
    pthread_mutex_unlock(&mu);
}
NOINLINE static void release_cond_broadcast(void)
{
    pthread_mutex_lock(&mu);
    ready = 1;
    check(pthread_cond_broadcast(&cv), "cond_broadcast");
    pthread_mutex_unlock(&mu);
}
NOINLINE static void release_barrier(void) { do_barrier_wait(); }
NOINLINE static void release_sem(void) { check(sem_post(&sem), "sem_post"); }

static void *waiter_main(void *arg)
{
    __atomic_store_n(&started, 1, __ATOMIC_RELEASE);
    ((void (*)(void))arg)();
    return NULL;
}

static void *sleeper_main(void *arg)
{
    (void)arg;
    pause_ms(HOLD_MS);
    return arg;
}

NOINLINE static void do_join(void)
{
    pthread_t t;
    void *ret = &ret;
    pthread_create(&t, NULL, sleeper_main, NULL);
    check(pthread_join(t, &ret), "join");
    check(ret != NULL, "join's value");
}

/* ---- Driving one operation ------------------------------------------------- */

struct op {
    const char *name;
    void (*hold)(void), (*wait)(void), (*release)(void);
};

static const struct op ops[] = {
    { "mutex_lock", hold_mutex, do_mutex_lock, release_mutex },
    { "mutex_timedlock", hold_mutex, do_mutex_timedlock, release_mutex },
    { "mutex_clocklock", hold_mutex, do_mutex_clocklock, release_mutex },
    { "rwlock_rdlock", hold_write, do_rwlock_rdlock, release_rwlock },
    { "rwlock_wrlock", hold_read, do_rwlock_wrlock, release_rwlock },
    { "rwlock_timedrdlock", hold_write, do_rwlock_timedrdlock, release_rwlock },
    { "rwlock_timedwrlock", hold_read, do_rwlock_timedwrlock, release_rwlock },
    { "cond_wait", nothing, do_cond_wait, release_cond_signal },
    { "cond_timedwait", nothing, do_cond_timedwait, release_cond_signal },
    { "cond_clockwait", nothing, do_cond_clockwait, release_cond_broadcast },
    { "barrier_wait", nothing, do_barrier_wait, release_barrier },
    { "sem_wait", nothing, do_sem_wait, release_sem },
    { "sem_timedwait", nothing, do_sem_timedwait, release_sem },
    { "join", nothing, do_join, nothing },
};

static void run(const struct op *op)
{
    pthread_t t;
    ready = 0;
    started = 0;
    op->hold();
    check(pthread_create(&t, NULL, waiter_main, (void *)op->wait), "create");
    /* The hold is timed from the waiter's start: on a loaded machine a
     * new thread can take milliseconds to run. */
    while (!__atomic_load_n(&started, __ATOMIC_ACQUIRE))
        pause_ms(1);
    pause_ms(HOLD_MS);
    op->release();
    check(pthread_join(t, NULL), "join waiter");
}

int main(int argc, char **argv)
{
    pthread_barrier_init(&barrier, NULL, 2);
    sem_init(&sem, 0, 0);
    const char *which = argc > 1 ? argv[1] : "all";
    int ran = 0;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(which, "all") == 0 || strcmp(which, ops[i].name) == 0) {
            run(&ops[i]);
            ran++;
        }
    if (!ran) {
        fprintf(stderr, "each: unknown operation %s\n", which);
        return 2;
    }
    return failures ? 1 : 0;
}
