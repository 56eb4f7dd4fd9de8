/*
 * <syncprof/pthread.h> - include this instead of <pthread.h> (or compile with
 * -include syncprof/pthread.h) and every mutex, rwlock, condition variable,
 * join, barrier and semaphore wait of the translation unit is profiled.
 *
 * Each wrapped pthread name becomes a macro for its syncprof twin. The most
 * frequent operations (mutex lock, trylock and unlock, rwlock read and write
 * lock) go through the small always-inline functions below, so that an
 * uncontended operation makes the same single libc call as raw code: only
 * when that call says the operation would block, or that a waiter may exist,
 * is the out-of-line wrapper called.
 *
 * The names are object-like macros, so taking the address of
 * pthread_mutex_lock still works and gives the wrapper.
 */
#ifndef SYNCPROF_PTHREAD_H
#define SYNCPROF_PTHREAD_H

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <syncprof/syncprof.h>

#define SYNCPROF_INLINE static inline __attribute__((always_inline, unused))

/* Internal: nonzero while lock tracking (lock-order checking, the held
 * locks of thread dumps) is on; then every operation goes to the wrapper. */
extern unsigned char syncprof__track_locks;
#define SYNCPROF_TRACKING_() __builtin_expect(__atomic_load_n(&syncprof__track_locks, __ATOMIC_RELAXED), 0)

/*
 * Calls the out-of-line wrapper so that it cannot become a tail call: a
 * function ending in pthread_mutex_unlock(m) would otherwise jump to the
 * wrapper, and its own frame would be missing from the sample's stack. The
 * empty asm needs the result, so the call must return here first.
 */
#define SYNCPROF_SLOW_CALL(call)                 \
    do {                                         \
        int syncprof_r_ = (call);                \
        __asm__ volatile("" : "+r"(syncprof_r_)); \
        return syncprof_r_;                      \
    } while (0)

/*
 * A mutex whose lock word reads 0 is free: the real lock is called at once.
 * glibc's trylock costs about twice its lock (measured: 13 ns against 7 ns a
 * pair), so "trylock first" would double the price of every uncontended
 * lock. A wait that begins in the few nanoseconds between this load and the
 * lock's own compare-and-swap is not observed; any other wait goes through
 * syncprof_mutex_lock, which observes it.
 */
SYNCPROF_INLINE int syncprof_inline_mutex_lock(pthread_mutex_t *m)
{
    if (__builtin_expect(m == NULL, 0))
        return EINVAL;
#ifdef __GLIBC__
    if (__builtin_expect(__atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) == 0, 1) &&
        !SYNCPROF_TRACKING_())
        return pthread_mutex_lock(m);
#endif
    SYNCPROF_SLOW_CALL(syncprof_mutex_lock(m));
}

SYNCPROF_INLINE int syncprof_inline_mutex_trylock(pthread_mutex_t *m)
{
    if (__builtin_expect(m == NULL, 0))
        return EINVAL;
    if (SYNCPROF_TRACKING_())
        SYNCPROF_SLOW_CALL(syncprof_mutex_trylock(m));
    return pthread_mutex_trylock(m);
}

/*
 * Unlock. glibc's lock word (__data.__lock) is 1 for a normal, recursive, error-
 * checking or adaptive mutex that is held and has never had a sleeping
 * waiter since it was taken; waiters make it 2, and robust or
 * priority-inheritance mutexes keep the owner's thread id there. Only 1 is
 * taken as "nobody to account for": everything else goes to the wrapper,
 * which looks for recorded waiters. The load is relaxed: a waiter that
 * arrives just after it is still woken by the real unlock, and its wait so
 * far is too short to matter.
 */
SYNCPROF_INLINE int syncprof_inline_mutex_unlock(pthread_mutex_t *m)
{
#ifdef __GLIBC__
    if (__builtin_expect(m != NULL, 1) &&
        __builtin_expect(__atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) == 1, 1) &&
        !SYNCPROF_TRACKING_())
        return pthread_mutex_unlock(m);
#endif
    SYNCPROF_SLOW_CALL(syncprof_mutex_unlock(m));
}

SYNCPROF_INLINE int syncprof_inline_rwlock_rdlock(pthread_rwlock_t *rw)
{
    if (__builtin_expect(rw == NULL, 0))
        return EINVAL;
    if (!SYNCPROF_TRACKING_() && __builtin_expect(pthread_rwlock_tryrdlock(rw) == 0, 1))
        return 0;
    SYNCPROF_SLOW_CALL(syncprof_rwlock_rdlock(rw));
}

SYNCPROF_INLINE int syncprof_inline_rwlock_wrlock(pthread_rwlock_t *rw)
{
    if (__builtin_expect(rw == NULL, 0))
        return EINVAL;
    if (!SYNCPROF_TRACKING_() && __builtin_expect(pthread_rwlock_trywrlock(rw) == 0, 1))
        return 0;
    SYNCPROF_SLOW_CALL(syncprof_rwlock_wrlock(rw));
}

/* The other wrapped calls go straight to their wrapper, through an inline
 * twin only so that they are never tail calls (see SYNCPROF_SLOW_CALL). */
#define SYNCPROF_CALL_TWIN(name, params, args) \
    SYNCPROF_INLINE int syncprof_inline_##name params { SYNCPROF_SLOW_CALL(syncprof_##name args); }

SYNCPROF_CALL_TWIN(mutex_timedlock, (pthread_mutex_t *m, const struct timespec *t), (m, t))
SYNCPROF_CALL_TWIN(mutex_clocklock, (pthread_mutex_t *m, clockid_t c, const struct timespec *t),
                   (m, c, t))
SYNCPROF_CALL_TWIN(rwlock_timedrdlock, (pthread_rwlock_t *rw, const struct timespec *t), (rw, t))
SYNCPROF_CALL_TWIN(rwlock_timedwrlock, (pthread_rwlock_t *rw, const struct timespec *t), (rw, t))
SYNCPROF_CALL_TWIN(rwlock_unlock, (pthread_rwlock_t *rw), (rw))
SYNCPROF_CALL_TWIN(cond_wait, (pthread_cond_t *c, pthread_mutex_t *m), (c, m))
SYNCPROF_CALL_TWIN(cond_timedwait, (pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *t),
                   (c, m, t))
SYNCPROF_CALL_TWIN(cond_clockwait,
                   (pthread_cond_t *c, pthread_mutex_t *m, clockid_t k, const struct timespec *t),
                   (c, m, k, t))
SYNCPROF_CALL_TWIN(join, (pthread_t t, void **ret), (t, ret))
SYNCPROF_CALL_TWIN(barrier_wait, (pthread_barrier_t *b), (b))
SYNCPROF_CALL_TWIN(sem_wait, (sem_t *s), (s))
SYNCPROF_CALL_TWIN(sem_timedwait, (sem_t *s, const struct timespec *t), (s, t))

#ifndef SYNCPROF_NO_MACROS
#define pthread_mutex_lock          syncprof_inline_mutex_lock
#define pthread_mutex_trylock       syncprof_inline_mutex_trylock
#define pthread_mutex_timedlock     syncprof_inline_mutex_timedlock
#define pthread_mutex_clocklock     syncprof_inline_mutex_clocklock
#define pthread_mutex_unlock        syncprof_inline_mutex_unlock
#define pthread_mutex_destroy       syncprof_mutex_destroy
#define pthread_rwlock_rdlock       syncprof_inline_rwlock_rdlock
#define pthread_rwlock_wrlock       syncprof_inline_rwlock_wrlock
#define pthread_rwlock_tryrdlock    syncprof_rwlock_tryrdlock
#define pthread_rwlock_trywrlock    syncprof_rwlock_trywrlock
#define pthread_rwlock_timedrdlock  syncprof_inline_rwlock_timedrdlock
#define pthread_rwlock_timedwrlock  syncprof_inline_rwlock_timedwrlock
#define pthread_rwlock_unlock       syncprof_inline_rwlock_unlock
#define pthread_rwlock_destroy      syncprof_rwlock_destroy
#define pthread_cond_wait           syncprof_inline_cond_wait
#define pthread_cond_timedwait      syncprof_inline_cond_timedwait
#define pthread_cond_clockwait      syncprof_inline_cond_clockwait
#define pthread_cond_signal         syncprof_cond_signal
#define pthread_cond_broadcast      syncprof_cond_broadcast
#define pthread_join                syncprof_inline_join
#define pthread_barrier_wait        syncprof_inline_barrier_wait
#define sem_wait                    syncprof_inline_sem_wait
#define sem_timedwait               syncprof_inline_sem_timedwait
#endif

#endif /* SYNCPROF_PTHREAD_H */
