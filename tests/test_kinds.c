/*
 * test_kinds.c - every kind of wait shows up in the block profile.
 *
 * Specification: at block rate 1, a thread that blocks about 20 ms in any
 * wrapped primitive gives a block sample whose stack is the syncprof_
 * wrapper, then the function of this file that called it; the sample's
 * delay covers the time it blocked. Calls go through <syncprof/pthread.h>,
 * as a user's code would.
 */
#include <syncprof/pthread.h>

#include <criterion/criterion.h>
#include <stdatomic.h>
#include <string.h>

#include "profile_reader.h"

#define HOLD_NS 20000000LL /* how long each primitive is kept unavailable */

static void setup(void)
{
    syncprof_set_block_profile_rate(1);
}

/* The block profile has at least one sample [leaf, caller] whose delay is
 * at least most of HOLD_NS. */
static void expect_block_sample(const char *leaf, const char *caller)
{
    struct tp_profile p;
    tp_read("block", &p);
    int64_t delay, count;
    size_t n = tp_sum(&p, leaf, caller, &delay, &count);
    cr_expect(n >= 1, "no block sample [%s, %s] in:\n%s", leaf, caller, p.text);
    cr_expect(count >= 1, "count %lld", (long long)count);
    cr_expect(delay >= HOLD_NS * 8 / 10, "[%s, %s] delay %lld ns, blocked ~%lld", leaf, caller,
              (long long)delay, HOLD_NS);
    tp_free(&p);
}

static void *run_in_thread(void *(*fn)(void *))
{
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, fn, NULL), 0);
    return (void *)t;
}

static void finish_thread(void *t)
{
    cr_assert_eq(pthread_join((pthread_t)t, NULL), 0);
}


/* ---- mutexes ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static __attribute__((noinline)) void *lock_mutex(void *arg)
{
    (void)arg;
    cr_assert_eq(pthread_mutex_lock(&mu), 0);
    cr_assert_eq(pthread_mutex_unlock(&mu), 0);
    return NULL;
}

static __attribute__((noinline)) void *timedlock_mutex(void *arg)
{
    (void)arg;
    struct timespec d = tp_deadline_in(CLOCK_REALTIME, 10 * HOLD_NS);
    cr_assert_eq(pthread_mutex_timedlock(&mu, &d), 0);
    cr_assert_eq(pthread_mutex_unlock(&mu), 0);
    return NULL;
}

static __attribute__((noinline)) void *clocklock_mutex(void *arg)
{
    (void)arg;
    struct timespec d = tp_deadline_in(CLOCK_MONOTONIC, 10 * HOLD_NS);
    cr_assert_eq(pthread_mutex_clocklock(&mu, CLOCK_MONOTONIC, &d), 0);
    cr_assert_eq(pthread_mutex_unlock(&mu), 0);
    return NULL;
}

static void mutex_case(void *(*fn)(void *))
{
    cr_assert_eq(pthread_mutex_lock(&mu), 0);
    void *t = run_in_thread(fn);
    tp_wait_until_blocked(&mu);
    tp_sleep_ns(HOLD_NS);
    cr_assert_eq(pthread_mutex_unlock(&mu), 0);
    finish_thread(t);
}

Test(kinds, mutex_lock, .init = setup)
{
    mutex_case(lock_mutex);
    expect_block_sample("pthread_mutex_lock", "lock_mutex");
}

Test(kinds, mutex_timedlock, .init = setup)
{
    mutex_case(timedlock_mutex);
    expect_block_sample("pthread_mutex_timedlock", "timedlock_mutex");
}

Test(kinds, mutex_clocklock, .init = setup)
{
    mutex_case(clocklock_mutex);
    expect_block_sample("pthread_mutex_clocklock", "clocklock_mutex");
}

/* ---- read-write locks ---- */

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;

static __attribute__((noinline)) void *read_lock(void *arg)
{
    (void)arg;
    cr_assert_eq(pthread_rwlock_rdlock(&rw), 0);
    cr_assert_eq(pthread_rwlock_unlock(&rw), 0);
    return NULL;
}

static __attribute__((noinline)) void *write_lock(void *arg)
{
    (void)arg;
    cr_assert_eq(pthread_rwlock_wrlock(&rw), 0);
    cr_assert_eq(pthread_rwlock_unlock(&rw), 0);
    return NULL;
}

static __attribute__((noinline)) void *timed_read_lock(void *arg)
{
    (void)arg;
    struct timespec d = tp_deadline_in(CLOCK_REALTIME, 10 * HOLD_NS);
    cr_assert_eq(pthread_rwlock_timedrdlock(&rw, &d), 0);
    cr_assert_eq(pthread_rwlock_unlock(&rw), 0);
    return NULL;
}

static __attribute__((noinline)) void *timed_write_lock(void *arg)
{
    (void)arg;
    struct timespec d = tp_deadline_in(CLOCK_REALTIME, 10 * HOLD_NS);
    cr_assert_eq(pthread_rwlock_timedwrlock(&rw, &d), 0);
    cr_assert_eq(pthread_rwlock_unlock(&rw), 0);
    return NULL;
}

/* Holds rw for writing (readers block) or reading (writers block). */
static void rwlock_case(bool hold_write, void *(*fn)(void *))
{
    cr_assert_eq(hold_write ? pthread_rwlock_wrlock(&rw) : pthread_rwlock_rdlock(&rw), 0);
    void *t = run_in_thread(fn);
    tp_wait_until_blocked(&rw);
    tp_sleep_ns(HOLD_NS);
    cr_assert_eq(pthread_rwlock_unlock(&rw), 0);
    finish_thread(t);
}

Test(kinds, rwlock_read, .init = setup)
{
    rwlock_case(true, read_lock);
    expect_block_sample("pthread_rwlock_rdlock", "read_lock");
}

Test(kinds, rwlock_write, .init = setup)
{
    rwlock_case(false, write_lock);
    expect_block_sample("pthread_rwlock_wrlock", "write_lock");
}

Test(kinds, rwlock_timed_read, .init = setup)
{
    rwlock_case(true, timed_read_lock);
    expect_block_sample("pthread_rwlock_timedrdlock", "timed_read_lock");
}

Test(kinds, rwlock_timed_write, .init = setup)
{
    rwlock_case(false, timed_write_lock);
    expect_block_sample("pthread_rwlock_timedwrlock", "timed_write_lock");
}

/* ---- condition variables ---- */

static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool ready;

static __attribute__((noinline)) void *cond_wait_for_ready(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    while (!ready)
        cr_assert_eq(pthread_cond_wait(&cv, &mu), 0);
    pthread_mutex_unlock(&mu);
    return NULL;
}

static __attribute__((noinline)) void *cond_timedwait_for_ready(void *arg)
{
    (void)arg;
    struct timespec d = tp_deadline_in(CLOCK_REALTIME, 10 * HOLD_NS);
    pthread_mutex_lock(&mu);
    while (!ready)
        cr_assert_eq(pthread_cond_timedwait(&cv, &mu, &d), 0);
    pthread_mutex_unlock(&mu);
    return NULL;
}

static __attribute__((noinline)) void *cond_clockwait_for_ready(void *arg)
{
    (void)arg;
    struct timespec d = tp_deadline_in(CLOCK_MONOTONIC, 10 * HOLD_NS);
    pthread_mutex_lock(&mu);
    while (!ready)
        cr_assert_eq(pthread_cond_clockwait(&cv, &mu, CLOCK_MONOTONIC, &d), 0);
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void cond_case(void *(*fn)(void *))
{
    void *t = run_in_thread(fn);
    tp_wait_until_blocked(&cv);
    tp_sleep_ns(HOLD_NS);
    pthread_mutex_lock(&mu);
    ready = true;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    finish_thread(t);
}

Test(kinds, cond_wait, .init = setup)
{
    cond_case(cond_wait_for_ready);
    expect_block_sample("pthread_cond_wait", "cond_wait_for_ready");
}

Test(kinds, cond_timedwait, .init = setup)
{
    cond_case(cond_timedwait_for_ready);
    expect_block_sample("pthread_cond_timedwait", "cond_timedwait_for_ready");
}

Test(kinds, cond_clockwait, .init = setup)
{
    cond_case(cond_clockwait_for_ready);
    expect_block_sample("pthread_cond_clockwait", "cond_clockwait_for_ready");
}

Test(kinds, cond_timedwait_timeout, .init = setup)
{
    /* Nobody signals: the wait times out, and the time it blocked counts. */
    struct timespec d = tp_deadline_in(CLOCK_REALTIME, HOLD_NS);
    pthread_mutex_lock(&mu);
    int r = pthread_cond_timedwait(&cv, &mu, &d);
    pthread_mutex_unlock(&mu);
    cr_assert_eq(r, ETIMEDOUT);
    struct tp_profile p;
    tp_read("block", &p);
    int64_t delay;
    cr_expect(tp_sum(&p, "pthread_cond_timedwait", NULL, &delay, NULL) == 1, "%s", p.text);
    cr_expect(delay >= HOLD_NS * 9 / 10);
    tp_free(&p);
}

/* ---- join, barrier, semaphore ---- */

static void *sleep_then_exit(void *arg)
{
    (void)arg;
    tp_sleep_ns(HOLD_NS);
    return (void *)42;
}

static __attribute__((noinline)) void join_sleeper(void)
{
    pthread_t t;
    void *ret = NULL;
    cr_assert_eq(pthread_create(&t, NULL, sleep_then_exit, NULL), 0);
    cr_assert_eq(pthread_join(t, &ret), 0);
    cr_assert_eq(ret, (void *)42);
}

Test(kinds, join, .init = setup)
{
    join_sleeper();
    expect_block_sample("pthread_join", "join_sleeper");
}

static pthread_barrier_t barrier;

static __attribute__((noinline)) void *wait_at_barrier(void *arg)
{
    (void)arg;
    int r = pthread_barrier_wait(&barrier);
    cr_assert(r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD);
    return NULL;
}

Test(kinds, barrier, .init = setup)
{
    cr_assert_eq(pthread_barrier_init(&barrier, NULL, 2), 0);
    void *t = run_in_thread(wait_at_barrier);
    tp_wait_until_blocked(&barrier);
    tp_sleep_ns(HOLD_NS);
    wait_at_barrier(NULL);
    finish_thread(t);
    expect_block_sample("pthread_barrier_wait", "wait_at_barrier");
    pthread_barrier_destroy(&barrier);
}

static sem_t sem;

static __attribute__((noinline)) void *wait_on_semaphore(void *arg)
{
    (void)arg;
    cr_assert_eq(sem_wait(&sem), 0);
    return NULL;
}

static __attribute__((noinline)) void *timedwait_on_semaphore(void *arg)
{
    (void)arg;
    struct timespec d = tp_deadline_in(CLOCK_REALTIME, 10 * HOLD_NS);
    cr_assert_eq(sem_timedwait(&sem, &d), 0);
    return NULL;
}

static void sem_case(void *(*fn)(void *))
{
    cr_assert_eq(sem_init(&sem, 0, 0), 0);
    void *t = run_in_thread(fn);
    tp_wait_until_blocked(&sem);
    tp_sleep_ns(HOLD_NS);
    cr_assert_eq(sem_post(&sem), 0);
    finish_thread(t);
    sem_destroy(&sem);
}

Test(kinds, sem_wait, .init = setup)
{
    sem_case(wait_on_semaphore);
    expect_block_sample("sem_wait", "wait_on_semaphore");
}

Test(kinds, sem_timedwait, .init = setup)
{
    sem_case(timedwait_on_semaphore);
    expect_block_sample("sem_timedwait", "timedwait_on_semaphore");
}

/* ---- what does not block records nothing ---- */

Test(kinds, uncontended_records_nothing, .init = setup)
{
    syncprof_set_mutex_profile_fraction(1);
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&mu);
        pthread_mutex_unlock(&mu);
        pthread_rwlock_rdlock(&rw);
        pthread_rwlock_unlock(&rw);
        pthread_rwlock_wrlock(&rw);
        pthread_rwlock_unlock(&rw);
    }
    cr_assert_eq(sem_init(&sem, 0, 1), 0);
    cr_assert_eq(sem_wait(&sem), 0);
    struct tp_profile b, m;
    tp_read("block", &b);
    tp_read("mutex", &m);
    cr_expect_eq(b.n, 0, "block profile should be empty:\n%s", b.text);
    cr_expect_eq(m.n, 0, "mutex profile should be empty:\n%s", m.text);
    tp_free(&b);
    tp_free(&m);
}
