/*
 * <syncprof/internal/pthread_inline.h> - not an API: the inline fast paths
 * of <syncprof/pthread.h>, which includes it (on glibc only). Nothing here
 * may be called or relied on by a program; the names end in _ and may
 * change with any release.
 *
 * The coupling to glibc: the inline twins of mutex lock and unlock read
 * glibc's private mutex field __data.__lock (0: free; 1: held, no sleeping
 * waiter since it was taken; 2: waiters; robust and priority-inheritance
 * mutexes keep the owner's thread id there) in the program's own compiled
 * code, to skip the wrapper when there is nothing to observe. So a program
 * compiled with this header depends on that layout as glibc's own inline
 * code would: glibc has kept it (struct __pthread_mutex_s, in
 * <bits/struct_mutex.h>) since NPTL, and pthread.h uses these paths only
 * when <bits/struct_mutex.h> is there. A file that must not depend on it
 * defines SYNCPROF_NO_MACROS and calls the out-of-line syncprof_ wrappers
 * by name; a whole program can use `syncprof run` (the interposer) instead,
 * which reads nothing of glibc in the program's code.
 *
 * How: GNU inline definitions (as glibc's own __extern_always_inline:
 * never emitted, always inlined, valid in C and C++ with GCC and Clang), so
 * that an uncontended operation makes the same single libc call as raw
 * code; only when that call says the operation would block, or that a
 * waiter may exist, or while lock tracking is on (syncprof__lock_tracking),
 * is the out-of-line wrapper called. The other twins are inline only so
 * that they are never tail calls (SYNCPROF_SLOW_CALL_).
 */
#ifndef SYNCPROF_INTERNAL_PTHREAD_INLINE_H
#define SYNCPROF_INTERNAL_PTHREAD_INLINE_H

#ifndef SYNCPROF_PTHREAD_H
#error "include <syncprof/pthread.h>, not <syncprof/internal/pthread_inline.h>"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* What glibc's __THROWNL says in each language: its declarations of the
 * twins (through the macros) and ours must agree in C++. */
#ifdef __cplusplus
#if __cplusplus >= 201103L
#define SYNCPROF_NOTHROW_ noexcept(true)
#else
#define SYNCPROF_NOTHROW_ throw()
#endif
#else
#define SYNCPROF_NOTHROW_
#endif
#define SYNCPROF_MAYTHROW_ /* a cancellation point: no exception specification */

#define SYNCPROF_INLINE_ extern __inline__ __attribute__((__gnu_inline__, __always_inline__))
#define SYNCPROF_STR2_(x) #x
#define SYNCPROF_STR_(x) SYNCPROF_STR2_(x)
#ifdef __USER_LABEL_PREFIX__
#define SYNCPROF_ASM_(name) __asm__(SYNCPROF_STR_(__USER_LABEL_PREFIX__) name)
#else
#define SYNCPROF_ASM_(name) __asm__(name)
#endif
#define SYNCPROF_EINVAL_ 22 /* EINVAL on every Linux architecture */

struct timespec;

/* Internal: nonzero while lock tracking (lock-order checking, the held
 * locks of thread dumps) or the hold profile is on; then every operation
 * goes to the wrapper, except that with the hold profile alone
 * (SYNCPROF_HOLD_ONLY_) a mutex lock counts down this thread's
 * acquisitions until the next timed one here, and a mutex unlock stays
 * here (a timed hold changes the lock word, which sends its unlock to the
 * wrapper). */
extern unsigned char syncprof__lock_tracking;
#define SYNCPROF_FLAGS_() __atomic_load_n(&syncprof__lock_tracking, __ATOMIC_RELAXED)
#define SYNCPROF_TRACKING_() __builtin_expect(SYNCPROF_FLAGS_(), 0)
#define SYNCPROF_HOLD_ONLY_ 2
extern __thread long syncprof__hold_countdown __attribute__((__tls_model__("initial-exec")));

/*
 * Calls the out-of-line wrapper so that it cannot become a tail call: a
 * function ending in pthread_mutex_unlock(m) would otherwise jump to the
 * wrapper, and its own frame would be missing from the sample's stack. The
 * empty asm needs the result, so the call must return here first.
 */
#define SYNCPROF_SLOW_CALL_(call)                 \
    do {                                          \
        int syncprof_r_ = (call);                 \
        __asm__ __volatile__("" : "+r"(syncprof_r_)); \
        return syncprof_r_;                       \
    } while (0)

/* glibc declares the twins (through the macros) with nonnull: the empty asm
 * hides the pointer from it, so the NULL check stays and warns nothing. */
#define SYNCPROF_OPAQUE_(p) __asm__("" : "+r"(p))

/* The real functions and the out-of-line wrappers, under names the inline
 * definitions can call (an inline definition cannot call its own name). */
#define SYNCPROF_REAL_(ret, name, params, sym) \
    extern ret syncprof_real_##name##_ params SYNCPROF_NOTHROW_ SYNCPROF_ASM_(sym);
SYNCPROF_REAL_(int, mutex_lock, (pthread_mutex_t *), "pthread_mutex_lock")
SYNCPROF_REAL_(int, mutex_trylock, (pthread_mutex_t *), "pthread_mutex_trylock")
SYNCPROF_REAL_(int, mutex_unlock, (pthread_mutex_t *), "pthread_mutex_unlock")
SYNCPROF_REAL_(int, rwlock_tryrdlock, (pthread_rwlock_t *), "pthread_rwlock_tryrdlock")
SYNCPROF_REAL_(int, rwlock_trywrlock, (pthread_rwlock_t *), "pthread_rwlock_trywrlock")
#undef SYNCPROF_REAL_

/* wrapper name, parameters, arguments, exception specification */
#define SYNCPROF_TWINS_(X)                                                            \
    X(mutex_lock, (pthread_mutex_t *syncprof_m), (syncprof_m), SYNCPROF_NOTHROW_)     \
    X(mutex_trylock, (pthread_mutex_t *syncprof_m), (syncprof_m), SYNCPROF_NOTHROW_)  \
    X(mutex_unlock, (pthread_mutex_t *syncprof_m), (syncprof_m), SYNCPROF_NOTHROW_)   \
    X(mutex_timedlock, (pthread_mutex_t *syncprof_m, const struct timespec *syncprof_t), \
      (syncprof_m, syncprof_t), SYNCPROF_NOTHROW_)                                    \
    X(mutex_clocklock,                                                                \
      (pthread_mutex_t *syncprof_m, int syncprof_c, const struct timespec *syncprof_t), \
      (syncprof_m, syncprof_c, syncprof_t), SYNCPROF_NOTHROW_)                        \
    X(rwlock_rdlock, (pthread_rwlock_t *syncprof_rw), (syncprof_rw), SYNCPROF_NOTHROW_) \
    X(rwlock_wrlock, (pthread_rwlock_t *syncprof_rw), (syncprof_rw), SYNCPROF_NOTHROW_) \
    X(rwlock_timedrdlock, (pthread_rwlock_t *syncprof_rw, const struct timespec *syncprof_t), \
      (syncprof_rw, syncprof_t), SYNCPROF_NOTHROW_)                                   \
    X(rwlock_timedwrlock, (pthread_rwlock_t *syncprof_rw, const struct timespec *syncprof_t), \
      (syncprof_rw, syncprof_t), SYNCPROF_NOTHROW_)                                   \
    X(rwlock_unlock, (pthread_rwlock_t *syncprof_rw), (syncprof_rw), SYNCPROF_NOTHROW_) \
    X(cond_wait, (pthread_cond_t *syncprof_c, pthread_mutex_t *syncprof_m),           \
      (syncprof_c, syncprof_m), SYNCPROF_MAYTHROW_)                           \
    X(cond_timedwait,                                                                 \
      (pthread_cond_t *syncprof_c, pthread_mutex_t *syncprof_m,                       \
       const struct timespec *syncprof_t),                                            \
      (syncprof_c, syncprof_m, syncprof_t), SYNCPROF_MAYTHROW_)                       \
    X(cond_clockwait,                                                                 \
      (pthread_cond_t *syncprof_c, pthread_mutex_t *syncprof_m, int syncprof_k,       \
       const struct timespec *syncprof_t),                                            \
      (syncprof_c, syncprof_m, syncprof_k, syncprof_t), SYNCPROF_MAYTHROW_)           \
    X(join, (pthread_t syncprof_th, void **syncprof_ret), (syncprof_th, syncprof_ret),     \
      SYNCPROF_MAYTHROW_)                                                             \
    X(barrier_wait, (pthread_barrier_t *syncprof_b), (syncprof_b), SYNCPROF_NOTHROW_)  \
    X(mutex_init, (pthread_mutex_t *syncprof_m, const pthread_mutexattr_t *syncprof_a), \
      (syncprof_m, syncprof_a), SYNCPROF_NOTHROW_)                                    \
    X(rwlock_init, (pthread_rwlock_t *syncprof_rw, const pthread_rwlockattr_t *syncprof_a), \
      (syncprof_rw, syncprof_a), SYNCPROF_NOTHROW_)                                   \
    X(cond_init, (pthread_cond_t *syncprof_c, const pthread_condattr_t *syncprof_a),    \
      (syncprof_c, syncprof_a), SYNCPROF_NOTHROW_)                                    \
    X(cond_destroy, (pthread_cond_t *syncprof_c), (syncprof_c), SYNCPROF_NOTHROW_)

/* Each twin's declaration, and the wrapper under a second name. */
#define SYNCPROF_DECLARE_(name, params, args, nothrow)                   \
    extern int syncprof_##name params nothrow;                           \
    extern int syncprof_slow_##name##_ params nothrow SYNCPROF_ASM_("syncprof_" #name);
SYNCPROF_TWINS_(SYNCPROF_DECLARE_)

/*
 * A mutex whose lock word reads 0 is free: the real lock is called at once.
 * Not "trylock first": glibc's trylock costs more than its lock, and an
 * uncontended lock would pay both (tests/bench/bench_mutex.c, its
 * uncontended pairs raw against wrapped, measures it). A wait that begins
 * in the few nanoseconds between this load and the lock's own
 * compare-and-swap is not observed; any other wait goes through
 * syncprof_mutex_lock, which observes it.
 */
SYNCPROF_INLINE_ int syncprof_mutex_lock(pthread_mutex_t *syncprof_m) SYNCPROF_NOTHROW_
{
    SYNCPROF_OPAQUE_(syncprof_m);
    if (__builtin_expect(!syncprof_m, 0))
        return SYNCPROF_EINVAL_;
    if (__builtin_expect(__atomic_load_n(&syncprof_m->__data.__lock, __ATOMIC_RELAXED) == 0, 1)) {
        unsigned char syncprof_f_ = SYNCPROF_FLAGS_();
        if (__builtin_expect(syncprof_f_ == 0, 1))
            return syncprof_real_mutex_lock_(syncprof_m);
        /* The acquisition that ends the countdown is timed by the wrapper. */
        if (syncprof_f_ == SYNCPROF_HOLD_ONLY_ && __builtin_expect(--syncprof__hold_countdown > 0, 1))
            return syncprof_real_mutex_lock_(syncprof_m);
    }
    SYNCPROF_SLOW_CALL_(syncprof_slow_mutex_lock_(syncprof_m));
}

SYNCPROF_INLINE_ int syncprof_mutex_trylock(pthread_mutex_t *syncprof_m) SYNCPROF_NOTHROW_
{
    SYNCPROF_OPAQUE_(syncprof_m);
    if (__builtin_expect(!syncprof_m, 0))
        return SYNCPROF_EINVAL_;
    if (SYNCPROF_TRACKING_())
        SYNCPROF_SLOW_CALL_(syncprof_slow_mutex_trylock_(syncprof_m));
    return syncprof_real_mutex_trylock_(syncprof_m);
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
 *
 * The hold profile alone (SYNCPROF_HOLD_ONLY_) stays here too: the mutex
 * of a timed hold has a lock word of 3, not 1 (pthread_wrappers.c,
 * TIMED_HOLD_WORD). Masking the flags keeps that one test.
 */
SYNCPROF_INLINE_ int syncprof_mutex_unlock(pthread_mutex_t *syncprof_m) SYNCPROF_NOTHROW_
{
    SYNCPROF_OPAQUE_(syncprof_m);
    if (__builtin_expect(syncprof_m != 0, 1) &&
        __builtin_expect(__atomic_load_n(&syncprof_m->__data.__lock, __ATOMIC_RELAXED) == 1, 1) &&
        __builtin_expect((SYNCPROF_FLAGS_() & ~SYNCPROF_HOLD_ONLY_) == 0, 1))
        return syncprof_real_mutex_unlock_(syncprof_m);
    SYNCPROF_SLOW_CALL_(syncprof_slow_mutex_unlock_(syncprof_m));
}

SYNCPROF_INLINE_ int syncprof_rwlock_rdlock(pthread_rwlock_t *syncprof_rw) SYNCPROF_NOTHROW_
{
    SYNCPROF_OPAQUE_(syncprof_rw);
    if (__builtin_expect(!syncprof_rw, 0))
        return SYNCPROF_EINVAL_;
    if (!SYNCPROF_TRACKING_() && __builtin_expect(syncprof_real_rwlock_tryrdlock_(syncprof_rw) == 0, 1))
        return 0;
    SYNCPROF_SLOW_CALL_(syncprof_slow_rwlock_rdlock_(syncprof_rw));
}

SYNCPROF_INLINE_ int syncprof_rwlock_wrlock(pthread_rwlock_t *syncprof_rw) SYNCPROF_NOTHROW_
{
    SYNCPROF_OPAQUE_(syncprof_rw);
    if (__builtin_expect(!syncprof_rw, 0))
        return SYNCPROF_EINVAL_;
    if (!SYNCPROF_TRACKING_() && __builtin_expect(syncprof_real_rwlock_trywrlock_(syncprof_rw) == 0, 1))
        return 0;
    SYNCPROF_SLOW_CALL_(syncprof_slow_rwlock_wrlock_(syncprof_rw));
}

/* The other twins go straight to their wrapper, never as a tail call. */
#define SYNCPROF_CALL_TWIN_(name, params, args, nothrow) \
    SYNCPROF_INLINE_ int syncprof_##name params nothrow { SYNCPROF_SLOW_CALL_(syncprof_slow_##name##_ args); }
SYNCPROF_CALL_TWIN_(mutex_timedlock, (pthread_mutex_t *syncprof_m, const struct timespec *syncprof_t),
                    (syncprof_m, syncprof_t), SYNCPROF_NOTHROW_)
SYNCPROF_CALL_TWIN_(mutex_clocklock,
                    (pthread_mutex_t *syncprof_m, int syncprof_c, const struct timespec *syncprof_t),
                    (syncprof_m, syncprof_c, syncprof_t), SYNCPROF_NOTHROW_)
SYNCPROF_CALL_TWIN_(rwlock_timedrdlock,
                    (pthread_rwlock_t *syncprof_rw, const struct timespec *syncprof_t),
                    (syncprof_rw, syncprof_t), SYNCPROF_NOTHROW_)
SYNCPROF_CALL_TWIN_(rwlock_timedwrlock,
                    (pthread_rwlock_t *syncprof_rw, const struct timespec *syncprof_t),
                    (syncprof_rw, syncprof_t), SYNCPROF_NOTHROW_)
SYNCPROF_CALL_TWIN_(rwlock_unlock, (pthread_rwlock_t *syncprof_rw), (syncprof_rw), SYNCPROF_NOTHROW_)
SYNCPROF_CALL_TWIN_(cond_wait, (pthread_cond_t *syncprof_c, pthread_mutex_t *syncprof_m),
                    (syncprof_c, syncprof_m), SYNCPROF_MAYTHROW_)
SYNCPROF_CALL_TWIN_(cond_timedwait,
                    (pthread_cond_t *syncprof_c, pthread_mutex_t *syncprof_m,
                     const struct timespec *syncprof_t),
                    (syncprof_c, syncprof_m, syncprof_t), SYNCPROF_MAYTHROW_)
SYNCPROF_CALL_TWIN_(cond_clockwait,
                    (pthread_cond_t *syncprof_c, pthread_mutex_t *syncprof_m, int syncprof_k,
                     const struct timespec *syncprof_t),
                    (syncprof_c, syncprof_m, syncprof_k, syncprof_t), SYNCPROF_MAYTHROW_)
SYNCPROF_CALL_TWIN_(join, (pthread_t syncprof_th, void **syncprof_ret), (syncprof_th, syncprof_ret), SYNCPROF_MAYTHROW_)
SYNCPROF_CALL_TWIN_(barrier_wait, (pthread_barrier_t *syncprof_b), (syncprof_b), SYNCPROF_NOTHROW_)
/* Never a tail call: the init call's own site is the lock's birth site. */
SYNCPROF_CALL_TWIN_(mutex_init, (pthread_mutex_t *syncprof_m, const pthread_mutexattr_t *syncprof_a),
                    (syncprof_m, syncprof_a), SYNCPROF_NOTHROW_)
SYNCPROF_CALL_TWIN_(rwlock_init,
                    (pthread_rwlock_t *syncprof_rw, const pthread_rwlockattr_t *syncprof_a),
                    (syncprof_rw, syncprof_a), SYNCPROF_NOTHROW_)
SYNCPROF_CALL_TWIN_(cond_init, (pthread_cond_t *syncprof_c, const pthread_condattr_t *syncprof_a),
                    (syncprof_c, syncprof_a), SYNCPROF_NOTHROW_)
SYNCPROF_CALL_TWIN_(cond_destroy, (pthread_cond_t *syncprof_c), (syncprof_c), SYNCPROF_NOTHROW_)

#undef SYNCPROF_DECLARE_

#ifdef __cplusplus
}
#endif

#endif /* SYNCPROF_INTERNAL_PTHREAD_INLINE_H */
