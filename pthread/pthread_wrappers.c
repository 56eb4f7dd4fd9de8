/*
 * pthread_wrappers.c - the syncprof_ twin of every profiled pthread and
 * semaphore call; its waits are observed through src/observed_wait.h.
 *
 * Each wrapper first tries the operation without blocking (trylock,
 * tryrdlock, tryjoin, sem_trywait). Only when that says it would block does
 * the slow path run: the thread registers in the wait table, makes the real
 * blocking call, unregisters and reports its wait to the block profile.
 * Unlocks report the waiting they ended to the mutex profile, but only when
 * the wait table says someone may be waiting.
 *
 * Contract: every wrapper returns exactly what the real call returns, with
 * the same side effects. Where a real call validates its arguments before
 * trying to acquire (rwlock deadlines, semaphore deadlines, clock ids) the
 * wrapper validates first too, so a bad argument fails the same way whether
 * or not the object is free. NULL objects give EINVAL.
 *
 * This file does not include <syncprof/pthread.h>: the calls below are the
 * real pthread functions.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>

#include <syncprof/syncprof.h>

#include "clock.h"
#include "config.h"
#include "export.h"
#include "hold_sampling.h"
#include "lock_identity.h"
#include "lock_tracking.h"
#include "observed_wait.h"
#include "real.h"
#include "sampling.h"
#include "thread_registry.h"
#include "trace.h"
#include "wait_table.h"

/* Links the environment's configuration into every program that uses a
 * wrapper (see sp_configure_from_environment): a static link takes
 * config.o only if something refers to it. */
__attribute__((used)) static void (*const link_configuration)(void) = sp_configure_from_environment;

/* ---- The unlocker's side of a wait ------------------------------------- */

/*
 * object is about to be released: the waiting its hold caused so far, in
 * ns, charged now. It must be taken before the real unlock, or a woken
 * waiter could acquire and unregister before it is counted.
 */
static int64_t observe_release(const void *object, enum sp_wait_reason kind)
{
    if (!sp_wait_maybe(object) || sp_in_profiler())
        return 0;
    if (sp_tracing())
        sp_trace_release(object, kind);
    if (sp_mutex_fraction() <= 0)
        return 0;
    return sp_wait_charge(object, sp_now_ns());
}

/* The release happened (the real unlock succeeded): record the charge with
 * the releaser's stack, outside the critical section. */
static void observe_released(const void *object, int64_t charged, void *leaf, uintptr_t caller)
{
    if (charged > 0)
        sp_mutex_event(object, charged, leaf, caller);
}

static bool futex_clock(clockid_t c)
{
    return c == CLOCK_REALTIME || c == CLOCK_MONOTONIC;
}

/* ---- Mutexes ------------------------------------------------------------ */

enum deadline { NO_DEADLINE, REALTIME_DEADLINE, CLOCK_DEADLINE };

static int mutex_lock_real(pthread_mutex_t *m, enum deadline how, clockid_t clock,
                           const struct timespec *abstime)
{
    switch (how) {
    case REALTIME_DEADLINE:
        return REAL(pthread_mutex_timedlock)(m, abstime);
    case CLOCK_DEADLINE:
        return REAL(pthread_mutex_clocklock)(m, clock, abstime);
    default:
        return REAL(pthread_mutex_lock)(m);
    }
}

/*
 * glibc's lock word: 0 free, 1 held with no sleeper (see the inline fast
 * paths of <syncprof/pthread.h>, which the out-of-line wrappers repeat for
 * callers that reach them directly, such as the LD_PRELOAD interposer).
 * -1 where the C library is not glibc: no fast path.
 */
static int lock_word(const pthread_mutex_t *m)
{
#ifdef __GLIBC__
    return __atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED);
#else
    (void)m;
    return -1;
#endif
}

/*
 * A mutex whose lock word glibc keeps as 0/1/2 (normal, recursive,
 * error-checking, adaptive). Robust, priority-inheritance and
 * priority-protect mutexes keep a thread id there, which may be 1 or 3
 * (a container's first process), and are left alone.
 */
static bool plain_kind(const pthread_mutex_t *m)
{
#ifdef __GLIBC__
    const int special_kinds = 16 | 32 | 64; /* robust, PI, PP (glibc's __kind bits) */
    return !(__atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED) & special_kinds);
#else
    (void)m;
    return false;
#endif
}

/* Lock word from to to, if it is from; relaxed: the lock orders nothing
 * else through it. */
static void swap_lock_word(pthread_mutex_t *m, int from, int to)
{
#ifdef __GLIBC__
    __atomic_compare_exchange_n(&m->__data.__lock, &from, to, false, __ATOMIC_RELAXED,
                                __ATOMIC_RELAXED);
#else
    (void)m, (void)from, (void)to;
#endif
}

/*
 * Makes sure the holder's unlock will look for waiters. The inline unlock of
 * <syncprof/pthread.h> skips the wait table when glibc's lock word is 1
 * ("held, no sleeper"); glibc turns it to 2 only once a waiter is about to
 * sleep in the kernel, which may be later than this thread registered. So
 * the waiter turns 1 into 2 itself, as glibc's own lock-wait path does with
 * an exchange: 2 only means "waiters possible", and costs the unlocker a
 * futex wake at most.
 */
static void mark_waiting(pthread_mutex_t *m)
{
    if (plain_kind(m))
        swap_lock_word(m, 1, 2);
}

/*
 * A timed hold marks its mutex (hold_sampling.h): the lock word goes from
 * 1 to TIMED_HOLD_WORD while the hold is timed, so that the unlock fast
 * paths, which pass only a word of 1, send its release to the wrapper that
 * ends the timing, and no unlock reads per-thread state (bench_mutex, the
 * uncontended pairs with the hold profile on, measures why). glibc treats
 * a word above 1 as "a waiter may sleep": a locker that finds 3 sets 2 and
 * sleeps as on 2, and an unlock that finds more than 1 wakes a sleeper.
 * The mark comes off (3 to 1) just before the real unlock: if a waiter made
 * the word 2 meanwhile, the compare fails and the real unlock wakes it; a
 * waiter that comes after it finds 1, sets 2, and is woken the same way.
 * A robust or priority-inheritance mutex owned by thread id 1 also has a
 * word of 1, which no unlock would send to the wrapper: its holds are not
 * timed.
 */
#define TIMED_HOLD_WORD 3

static void mutex_hold_acquired(pthread_mutex_t *m)
{
    if (plain_kind(m)) {
        if (sp_hold_acquired(m))
            swap_lock_word(m, 1, TIMED_HOLD_WORD);
    } else if (lock_word(m) != 1) {
        sp_hold_acquired(m);
    }
}

/* m is about to be released: true (with *h) if its hold was timed. */
static bool mutex_hold_releasing(pthread_mutex_t *m, struct sp_hold *h)
{
    if (!sp_hold_releasing(m, h))
        return false;
    if (plain_kind(m))
        swap_lock_word(m, TIMED_HOLD_WORD, 1);
    return true;
}

static int mutex_lock_slow(pthread_mutex_t *m, enum deadline how, clockid_t clock,
                           const struct timespec *abstime, void *leaf, uintptr_t caller)
{
    if (sp_in_profiler())
        return mutex_lock_real(m, how, clock, abstime);
    struct sp_observed o;
    int r;
    /* Marked before registering: once the registration is visible, an
     * unlock is sure to take the path that charges it. */
    mark_waiting(m);
    sp_observe_begin_cancellable(&o, m, SP_WAIT_MUTEX);
    if (how != NO_DEADLINE)
        sp_wait_set_deadline(&o.w);
    SP_OBSERVE_CANCELLABLE(&o, &o.w, sp_observe_cancelled,
                           r = mutex_lock_real(m, how, clock, abstime));
    sp_observe_end_cancellable(&o, r == 0 || r == EOWNERDEAD || r == ETIMEDOUT, leaf, caller);
    return r;
}

static bool acquired(int r)
{
    return r == 0 || r == EOWNERDEAD;
}

/* Any mutex acquisition: a free mutex is locked at once (the real call
 * costs half a trylock); otherwise trylock, and an observed wait only if
 * it fails. */
static int mutex_acquire(pthread_mutex_t *m, enum deadline how, clockid_t clock,
                         const struct timespec *abstime, void *leaf, uintptr_t caller)
{
    if (!m)
        return EINVAL;
    if (how == CLOCK_DEADLINE && !futex_clock(clock))
        return REAL(pthread_mutex_clocklock)(m, clock, abstime); /* EINVAL, as glibc checks first */
    unsigned flags = sp_lock_flags();
    if (lock_word(m) == 0 && flags == 0)
        return mutex_lock_real(m, how, clock, abstime);
    int r;
    if (lock_word(m) == 0 && !(flags & SP_LOCK_FLAG_TRACK)) {
        r = mutex_lock_real(m, how, clock, abstime); /* only the hold profile is on */
    } else {
        r = REAL(pthread_mutex_trylock)(m);
        if (r == EBUSY)
            r = mutex_lock_slow(m, how, clock, abstime, leaf, caller);
        if (acquired(r) && sp_lock_tracking())
            sp_lock_tracking_acquired(m, SP_WAIT_MUTEX, false);
    }
    if (acquired(r))
        mutex_hold_acquired(m);
    return r;
}

SP_PUBLIC int syncprof_mutex_lock(pthread_mutex_t *m)
{
    return mutex_acquire(m, NO_DEADLINE, 0, NULL, LEAF(syncprof_mutex_lock), CALLER);
}

SP_PUBLIC int syncprof_mutex_timedlock(pthread_mutex_t *m, const struct timespec *abstime)
{
    return mutex_acquire(m, REALTIME_DEADLINE, CLOCK_REALTIME, abstime,
                         LEAF(syncprof_mutex_timedlock), CALLER);
}

SP_PUBLIC int syncprof_mutex_clocklock(pthread_mutex_t *m, clockid_t clock,
                                       const struct timespec *abstime)
{
    return mutex_acquire(m, CLOCK_DEADLINE, clock, abstime, LEAF(syncprof_mutex_clocklock),
                         CALLER);
}

SP_PUBLIC int syncprof_mutex_trylock(pthread_mutex_t *m)
{
    if (!m)
        return EINVAL;
    int r = REAL(pthread_mutex_trylock)(m);
    if (acquired(r)) {
        if (sp_lock_tracking())
            sp_lock_tracking_acquired(m, SP_WAIT_MUTEX, true);
        mutex_hold_acquired(m);
    }
    return r;
}

SP_PUBLIC int syncprof_mutex_unlock(pthread_mutex_t *m)
{
    if (!m)
        return EINVAL;
    if (lock_word(m) == 1 && !sp_lock_tracking())
        return REAL(pthread_mutex_unlock)(m); /* nobody ever slept on it; its hold is not timed */
    struct sp_hold hold;
    bool timed = mutex_hold_releasing(m, &hold);
    int64_t charged = observe_release(m, SP_WAIT_MUTEX);
    int r = REAL(pthread_mutex_unlock)(m);
    if (r == 0) {
        if (sp_lock_tracking())
            sp_lock_tracking_released(m);
        observe_released(m, charged, LEAF(syncprof_mutex_unlock), CALLER);
        if (timed)
            sp_hold_event(m, false, &hold, LEAF(syncprof_mutex_unlock), CALLER);
    }
    return r;
}

/* ---- Read-write locks --------------------------------------------------- */

static int rwlock_real(pthread_rwlock_t *rw, bool write, const struct timespec *abstime)
{
    if (write)
        return abstime ? REAL(pthread_rwlock_timedwrlock)(rw, abstime) : REAL(pthread_rwlock_wrlock)(rw);
    return abstime ? REAL(pthread_rwlock_timedrdlock)(rw, abstime) : REAL(pthread_rwlock_rdlock)(rw);
}

/* The rwlock would block: an observed wait. */
static int rwlock_wait(pthread_rwlock_t *rw, bool write, const struct timespec *abstime,
                       void *leaf, uintptr_t caller)
{
    if (sp_in_profiler())
        return rwlock_real(rw, write, abstime);
    struct sp_observed o;
    int r;
    sp_observe_begin_cancellable(&o, rw, write ? SP_WAIT_RWLOCK_WRITE : SP_WAIT_RWLOCK_READ);
    if (abstime)
        sp_wait_set_deadline(&o.w);
    SP_OBSERVE_CANCELLABLE(&o, &o.w, sp_observe_cancelled, r = rwlock_real(rw, write, abstime));
    sp_observe_end_cancellable(&o, r == 0 || r == ETIMEDOUT, leaf, caller);
    return r;
}

/*
 * Read or write lock, with or without a deadline. glibc checks a deadline
 * before it tries the lock, so a bad one fails even on a free lock; so does
 * this. A NULL deadline, which glibc accepts on a free lock and crashes on
 * a held one, waits without a deadline.
 */
static int rwlock_acquire(pthread_rwlock_t *rw, bool write, const struct timespec *abstime,
                          void *leaf, uintptr_t caller)
{
    if (!rw)
        return EINVAL;
    if (abstime && !sp_timespec_valid(abstime))
        return EINVAL;
    enum sp_wait_reason why = write ? SP_WAIT_RWLOCK_WRITE : SP_WAIT_RWLOCK_READ;
    int r = write ? REAL(pthread_rwlock_trywrlock)(rw) : REAL(pthread_rwlock_tryrdlock)(rw);
    if (r != 0)
        r = rwlock_wait(rw, write, abstime, leaf, caller);
    if (r == 0 && sp_lock_tracking())
        sp_lock_tracking_acquired(rw, why, false);
    if (r == 0)
        sp_hold_acquired(rw);
    return r;
}

SP_PUBLIC int syncprof_rwlock_rdlock(pthread_rwlock_t *rw)
{
    return rwlock_acquire(rw, false, NULL, LEAF(syncprof_rwlock_rdlock), CALLER);
}

SP_PUBLIC int syncprof_rwlock_wrlock(pthread_rwlock_t *rw)
{
    return rwlock_acquire(rw, true, NULL, LEAF(syncprof_rwlock_wrlock), CALLER);
}

SP_PUBLIC int syncprof_rwlock_timedrdlock(pthread_rwlock_t *rw, const struct timespec *abstime)
{
    return rwlock_acquire(rw, false, abstime, LEAF(syncprof_rwlock_timedrdlock), CALLER);
}

SP_PUBLIC int syncprof_rwlock_timedwrlock(pthread_rwlock_t *rw, const struct timespec *abstime)
{
    return rwlock_acquire(rw, true, abstime, LEAF(syncprof_rwlock_timedwrlock), CALLER);
}

static int rwlock_try(pthread_rwlock_t *rw, bool write)
{
    if (!rw)
        return EINVAL;
    int r = write ? REAL(pthread_rwlock_trywrlock)(rw) : REAL(pthread_rwlock_tryrdlock)(rw);
    if (r == 0 && sp_lock_tracking())
        sp_lock_tracking_acquired(rw, write ? SP_WAIT_RWLOCK_WRITE : SP_WAIT_RWLOCK_READ, true);
    if (r == 0)
        sp_hold_acquired(rw);
    return r;
}

SP_PUBLIC int syncprof_rwlock_tryrdlock(pthread_rwlock_t *rw)
{
    return rwlock_try(rw, false);
}

SP_PUBLIC int syncprof_rwlock_trywrlock(pthread_rwlock_t *rw)
{
    return rwlock_try(rw, true);
}

/* How the calling thread holds rw, which it is releasing: glibc keeps the
 * writer's thread id in __cur_writer while the lock is held for writing. */
static enum sp_wait_reason rwlock_held_as(const pthread_rwlock_t *rw)
{
    return __atomic_load_n(&rw->__data.__cur_writer, __ATOMIC_RELAXED) == sp_self_tid()
               ? SP_WAIT_RWLOCK_WRITE
               : SP_WAIT_RWLOCK_READ;
}

SP_PUBLIC int syncprof_rwlock_unlock(pthread_rwlock_t *rw)
{
    if (!rw)
        return EINVAL;
    struct sp_hold hold;
    bool timed = sp_hold_releasing(rw, &hold);
    /* The kind names the hold in a trace; nothing else reads it. */
    enum sp_wait_reason kind = sp_tracing() ? rwlock_held_as(rw) : SP_WAIT_RWLOCK_WRITE;
    int64_t charged = observe_release(rw, kind);
    int r = REAL(pthread_rwlock_unlock)(rw);
    if (r == 0) {
        if (sp_lock_tracking())
            sp_lock_tracking_released(rw);
        observe_released(rw, charged, LEAF(syncprof_rwlock_unlock), CALLER);
        if (timed)
            sp_hold_event(rw, true, &hold, LEAF(syncprof_rwlock_unlock), CALLER);
    }
    return r;
}

/* ---- Condition variables ------------------------------------------------ */

static int cond_wait_real(pthread_cond_t *c, pthread_mutex_t *m, enum deadline how,
                          clockid_t clock, const struct timespec *abstime)
{
    switch (how) {
    case REALTIME_DEADLINE:
        return REAL(pthread_cond_timedwait)(c, m, abstime);
    case CLOCK_DEADLINE:
        return REAL(pthread_cond_clockwait)(c, m, clock, abstime);
    default:
        return REAL(pthread_cond_wait)(c, m);
    }
}

/* A condition wait's records: on the condition and, as its re-acquirer, on
 * the mutex (wait_table.h); the registers are published with the
 * re-acquirer, the record a thread dump describes. */
struct observed_cond {
    struct sp_observed on_cond; /* first: the cleanup handler's argument */
    struct sp_waiter on_mutex;
    pthread_mutex_t *m;
    bool tracking;       /* lock tracking was on when the wait began */
};

/* Cleanup handler: cancelled in the real wait, which re-acquired the mutex
 * before unwinding (POSIX), so the thread holds m again. */
static void cond_wait_cancelled(void *arg)
{
    struct observed_cond *o = arg;
    sp_wait_end(&o->on_mutex);
    sp_wait_end(&o->on_cond.w);
    if (o->tracking)
        sp_lock_tracking_acquired(o->m, SP_WAIT_MUTEX, false);
}

/*
 * A condition wait always blocks, so it is always observed. The real call
 * releases m: like Go's Cond.Wait, which calls L.Unlock, the waiting that
 * this hold of m caused is charged here. Waking up, the thread waits for m
 * again; the wait table counts that part as mutex contention from the
 * signal or broadcast on (see sp_wait_begin_cond).
 */
static int cond_wait(pthread_cond_t *c, pthread_mutex_t *m, enum deadline how, clockid_t clock,
                     const struct timespec *abstime, void *leaf, uintptr_t caller)
{
    if (!c || !m)
        return EINVAL;
    if (sp_in_profiler())
        return cond_wait_real(c, m, how, clock, abstime);
    struct observed_cond o = { .m = m };
    int r;
    sp_observe_begin_cond_cancellable(&o.on_cond, &o.on_mutex, c, m);
    if (how != NO_DEADLINE)
        sp_wait_set_deadline(&o.on_cond.w);
    int64_t released = observe_release(m, SP_WAIT_MUTEX);
    struct sp_hold hold; /* the wait releases m: a timed hold of it ends here */
    bool timed = mutex_hold_releasing(m, &hold);
    o.tracking = sp_lock_tracking();
    if (o.tracking)
        sp_lock_tracking_released(m);

    SP_OBSERVE_CANCELLABLE(&o.on_cond, &o.on_mutex, cond_wait_cancelled,
                           r = cond_wait_real(c, m, how, clock, abstime));

    sp_wait_end(&o.on_mutex);
    sp_observe_end(&o.on_cond, r == 0 || r == ETIMEDOUT, leaf, caller);
    if (o.tracking && (r == 0 || r == ETIMEDOUT || r == EOWNERDEAD))
        sp_lock_tracking_acquired(m, SP_WAIT_MUTEX, false); /* re-acquired by the real wait */
    observe_released(m, released, leaf, caller);
    if (timed)
        sp_hold_event(m, false, &hold, leaf, caller);
    if (r == 0 || r == ETIMEDOUT || r == EOWNERDEAD)
        mutex_hold_acquired(m);
    pthread_setcancelstate(o.on_cond.cancel_state, NULL);
    return r;
}

SP_PUBLIC int syncprof_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
    return cond_wait(c, m, NO_DEADLINE, 0, NULL, LEAF(syncprof_cond_wait), CALLER);
}

SP_PUBLIC int syncprof_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
                                      const struct timespec *abstime)
{
    return cond_wait(c, m, REALTIME_DEADLINE, CLOCK_REALTIME, abstime,
                     LEAF(syncprof_cond_timedwait), CALLER);
}

SP_PUBLIC int syncprof_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clock,
                                      const struct timespec *abstime)
{
    return cond_wait(c, m, CLOCK_DEADLINE, clock, abstime, LEAF(syncprof_cond_clockwait), CALLER);
}

SP_PUBLIC int syncprof_cond_signal(pthread_cond_t *c)
{
    if (!c)
        return EINVAL;
    if (sp_wait_maybe(c)) {
        sp_wait_wake_cond(c, false, sp_now_ns());
        if (sp_tracing() && !sp_in_profiler())
            sp_trace_wake(c, SP_WAKE_SIGNAL);
    }
    return REAL(pthread_cond_signal)(c);
}

SP_PUBLIC int syncprof_cond_broadcast(pthread_cond_t *c)
{
    if (!c)
        return EINVAL;
    if (sp_wait_maybe(c)) {
        sp_wait_wake_cond(c, true, sp_now_ns());
        if (sp_tracing() && !sp_in_profiler())
            sp_trace_wake(c, SP_WAKE_BROADCAST);
    }
    return REAL(pthread_cond_broadcast)(c);
}

/* ---- Join and barriers ---------------------------------------------------- */

/*
 * While a trace runs, a join that waited draws an arrow from the joined
 * thread's end, which no wrapper sees: its tid and name are read before the
 * real join (after it, the thread and its descriptor are gone), and the
 * end is recorded by this thread when the join returns, at that time.
 */
struct joined {
    int tid;
    char name[16];
};

static void joined_read(pthread_t t, struct joined *j)
{
    j->tid = sp_tracing() ? sp_thread_tid_of(t) : 0;
    j->name[0] = '\0';
    if (j->tid && pthread_getname_np(t, j->name, sizeof j->name) != 0)
        j->name[0] = '\0';
}

SP_PUBLIC int syncprof_join(pthread_t t, void **retval)
{
    int r = REAL(pthread_tryjoin_np)(t, retval);
    if (r != EBUSY || sp_in_profiler())
        return r == EBUSY ? REAL(pthread_join)(t, retval) : r;
    struct sp_observed o;
    struct joined j;
    joined_read(t, &j);
    sp_observe_begin_cancellable(&o, (const void *)t, SP_WAIT_JOIN);
    SP_OBSERVE_CANCELLABLE(&o, &o.w, sp_observe_cancelled, r = REAL(pthread_join)(t, retval));
    if (r == 0 && j.tid && sp_tracing())
        __atomic_store_n(&o.w.wake_flow, sp_trace_thread_end((const void *)t, j.tid, j.name, sp_now_ns()),
                         __ATOMIC_RELAXED);
    sp_observe_end_cancellable(&o, r == 0, LEAF(syncprof_join), CALLER);
    return r;
}

/* Every arrival but the last blocks; the last one's wait is near zero, so at
 * a coarse rate it is almost never sampled. */
SP_PUBLIC int syncprof_barrier_wait(pthread_barrier_t *b)
{
    if (!b)
        return EINVAL;
    if (sp_in_profiler())
        return REAL(pthread_barrier_wait)(b);
    struct sp_observed o;
    int r;
    if (sp_tracing() && sp_wait_maybe(b))
        sp_trace_wake(b, SP_WAKE_BARRIER); /* in case this arrival is the last */
    sp_observe_begin_cancellable(&o, b, SP_WAIT_BARRIER);
    SP_OBSERVE_CANCELLABLE(&o, &o.w, sp_observe_cancelled, r = REAL(pthread_barrier_wait)(b));
    sp_observe_end_cancellable(&o, r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD,
                               LEAF(syncprof_barrier_wait), CALLER);
    return r;
}

/* ---- Semaphores (0, or -1 with errno, as sem_wait) ------------------------ */

static int sem_wait_slow(sem_t *s, const struct timespec *abstime, int saved_errno,
                         void *leaf, uintptr_t caller)
{
    if (sp_in_profiler()) {
        errno = saved_errno;
        return abstime ? REAL(sem_timedwait)(s, abstime) : REAL(sem_wait)(s);
    }
    struct sp_observed o;
    int r, e;
    sp_observe_begin_cancellable(&o, s, SP_WAIT_SEMAPHORE);
    if (abstime)
        sp_wait_set_deadline(&o.w);
    SP_OBSERVE_CANCELLABLE(&o, &o.w, sp_observe_cancelled, errno = saved_errno;
                   r = abstime ? REAL(sem_timedwait)(s, abstime) : REAL(sem_wait)(s); e = errno);
    sp_observe_end_cancellable(&o, r == 0 || e == ETIMEDOUT, leaf, caller);
    errno = e;
    return r;
}

/*
 * A semaphore wait, with (timed) or without a deadline: sem_trywait first,
 * an observed wait only if it would block. errno is left alone on success.
 * sem_wait and sem_timedwait are cancellation points even when they need
 * not block (glibc tests for a pending cancel right after checking the
 * deadline), and sem_trywait is not one: so the test comes first here too.
 */
static int sem_acquire(sem_t *s, bool timed, const struct timespec *abstime, void *leaf,
                       uintptr_t caller)
{
    if (!s || (timed && !sp_timespec_valid(abstime))) {
        errno = EINVAL; /* glibc checks the deadline before trying */
        return -1;
    }
    pthread_testcancel();
    int saved = errno;
    if (REAL(sem_trywait)(s) == 0) {
        errno = saved;
        return 0;
    }
    if (errno != EAGAIN)
        return -1;
    return sem_wait_slow(s, timed ? abstime : NULL, saved, leaf, caller);
}

SP_PUBLIC int syncprof_sem_wait(sem_t *s)
{
    return sem_acquire(s, false, NULL, LEAF(syncprof_sem_wait), CALLER);
}

SP_PUBLIC int syncprof_sem_timedwait(sem_t *s, const struct timespec *abstime)
{
    return sem_acquire(s, true, abstime, LEAF(syncprof_sem_timedwait), CALLER);
}

/*
 * sem_post is async-signal-safe, and programs call it from signal handlers:
 * so is this. It does more than the real post only while a trace runs and
 * a thread of this process may wait on s (sp_wait_maybe, one load): then
 * the post is drawn with an arrow to the waiters it may wake, before the
 * real post (after it, they may be gone). sp_trace_post cannot deadlock a
 * handler, and errno is the real post's alone.
 */
SP_PUBLIC int syncprof_sem_post(sem_t *s)
{
    if (sp_tracing() && s && sp_wait_maybe(s)) {
        int saved = errno;
        sp_trace_post(s);
        errno = saved;
    }
    return REAL(sem_post)(s);
}

/* ---- Birth and death (lock identity; lock-order checking forgets) -------- */

/* The call site of each init is the lock's birth site (lock_identity.h).
 * The profiler's own locks (libunwind's, libdw's) get none. */
static void born(const void *object, int r, uintptr_t caller)
{
    if (r == 0 && !sp_in_profiler())
        sp_lock_born(object, caller);
}

SP_PUBLIC int syncprof_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *attr)
{
    if (!m)
        return EINVAL;
    int r = REAL(pthread_mutex_init)(m, attr);
    born(m, r, CALLER);
    return r;
}

SP_PUBLIC int syncprof_rwlock_init(pthread_rwlock_t *rw, const pthread_rwlockattr_t *attr)
{
    if (!rw)
        return EINVAL;
    int r = REAL(pthread_rwlock_init)(rw, attr);
    born(rw, r, CALLER);
    return r;
}

SP_PUBLIC int syncprof_cond_init(pthread_cond_t *c, const pthread_condattr_t *attr)
{
    if (!c)
        return EINVAL;
    int r = REAL(pthread_cond_init)(c, attr);
    born(c, r, CALLER);
    return r;
}

SP_PUBLIC int syncprof_mutex_destroy(pthread_mutex_t *m)
{
    if (!m)
        return EINVAL;
    int r = REAL(pthread_mutex_destroy)(m);
    if (r == 0) {
        sp_lock_gone(m);
        if (sp_lock_tracking())
            sp_lock_tracking_destroyed(m);
    }
    return r;
}

SP_PUBLIC int syncprof_rwlock_destroy(pthread_rwlock_t *rw)
{
    if (!rw)
        return EINVAL;
    int r = REAL(pthread_rwlock_destroy)(rw);
    if (r == 0) {
        sp_lock_gone(rw);
        if (sp_lock_tracking())
            sp_lock_tracking_destroyed(rw);
    }
    return r;
}

SP_PUBLIC int syncprof_cond_destroy(pthread_cond_t *c)
{
    if (!c)
        return EINVAL;
    int r = REAL(pthread_cond_destroy)(c);
    if (r == 0)
        sp_lock_gone(c);
    return r;
}
