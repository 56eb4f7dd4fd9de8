/*
 * <syncprof/pthread.h> - compile with -include syncprof/pthread.h (or
 * include it before <pthread.h>) and every mutex, rwlock, condition
 * variable, join, barrier and semaphore wait of the translation unit is
 * profiled.
 *
 * Each wrapped pthread name becomes an object-like macro for its syncprof_
 * twin (pthread_mutex_lock -> syncprof_mutex_lock). Defined before the
 * program includes <pthread.h>, the macros make the C library's own header
 * declare the twins, with the exact pthread prototype and attributes: so
 * &pthread_mutex_lock still works and has the pthread type (it is the
 * wrapper's address), and no prototype of ours can conflict with a
 * configure test's `char pthread_create ();` (pthread_create is not
 * wrapped).
 *
 * Invisible to valid code. Read first (a forced include, or the first line
 * of a file), this header includes no C library header that reads
 * <features.h>: the feature-test macros a file sets later (_GNU_SOURCE,
 * _POSIX_C_SOURCE, _FILE_OFFSET_BITS, in a config.h included first) keep
 * their effect. It takes the pthread types from glibc's
 * <bits/pthreadtypes.h>, which depends on no feature macro, and defines no
 * other name outside syncprof_ / SYNCPROF_ than the wrapped pthread and
 * semaphore names (no bool, no true, no errno constant). Under
 * __ASSEMBLER__ (.S files get CFLAGS too) it is empty. It works in C89 to
 * C23 and C++98 to C++23.
 *
 * So read first, it declares nothing else: the file includes <pthread.h>
 * itself (and <syncprof/syncprof.h> for the API). When the C library is
 * already configured when it is read (a C library header came first, or a
 * C file defines _GNU_SOURCE before it), nothing can change any more and it
 * also includes <errno.h>, <pthread.h>, <semaphore.h> and
 * <syncprof/syncprof.h>, so that `#include <syncprof/pthread.h>` can stand
 * in for `#include <pthread.h>` there, as it always could; that holds for
 * a second reading too (forced, then included by the file after a C
 * library header).
 *
 * The most frequent operations (mutex lock, trylock and unlock, rwlock read
 * and write lock) have GNU inline definitions (as glibc's own
 * __extern_always_inline: never emitted, always inlined, valid in C and
 * C++ with GCC and Clang), so that an uncontended operation makes the same
 * single libc call as raw code: only when that call says the operation
 * would block, or that a waiter may exist, is the out-of-line wrapper
 * called. The other twins are inline only so that they are never tail
 * calls (see SYNCPROF_SLOW_CALL_).
 *
 * SYNCPROF_NO_MACROS: no macros; the syncprof_ functions (with their
 * inline fast paths) are declared, the pthread names are left alone.
 */
#ifndef SYNCPROF_PTHREAD_H
#define SYNCPROF_PTHREAD_H

#ifndef __ASSEMBLER__

/* ---- Which way: glibc's types alone, or the full headers ----------------- */

/* glibc, whose <bits/pthreadtypes.h> can be read on its own: the inline fast
 * paths read its mutex lock word. Elsewhere every call goes to the wrapper. */
#if defined(__has_include) && !defined(SYNCPROF_GLIBC_)
#if __has_include(<bits/pthreadtypes.h>) && __has_include(<bits/struct_mutex.h>) && \
    __has_include(<gnu/libc-version.h>)
#define SYNCPROF_GLIBC_ 1
#endif
#endif

/* The C library is configured already (or a C file chose _GNU_SOURCE, the
 * configuration that enables everything, before this header): including
 * its headers now changes nothing. g++ always defines _GNU_SOURCE, so C++
 * is read the invisible way until a C library header has been read. */
#if defined(_FEATURES_H) || (defined(_GNU_SOURCE) && !defined(__cplusplus)) || \
    !defined(SYNCPROF_GLIBC_)
#define SYNCPROF_FULL_ 1
#endif

#ifdef SYNCPROF_FULL_
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <syncprof/syncprof.h>
#else
/* The pthread types alone. <bits/pthreadtypes.h> defines pthread_rwlock_t and
 * pthread_barrier_t only under these two internal macros, which <features.h>
 * clears and sets again itself when the program's first C library header
 * reads it; its include guard would otherwise keep the types out for good. */
#ifndef __USE_XOPEN2K
#define __USE_XOPEN2K 1
#define SYNCPROF_UNDEF_XOPEN2K_
#endif
#ifndef __USE_UNIX98
#define __USE_UNIX98 1
#define SYNCPROF_UNDEF_UNIX98_
#endif
#include <bits/pthreadtypes.h>
#ifdef SYNCPROF_UNDEF_XOPEN2K_
#undef __USE_XOPEN2K
#undef SYNCPROF_UNDEF_XOPEN2K_
#endif
#ifdef SYNCPROF_UNDEF_UNIX98_
#undef __USE_UNIX98
#undef SYNCPROF_UNDEF_UNIX98_
#endif
#endif /* SYNCPROF_FULL_ */

#ifdef SYNCPROF_GLIBC_

/* ---- The inline twins (glibc) -------------------------------------------- */

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
 * locks of thread dumps) is on; then every operation goes to the wrapper. */
extern unsigned char syncprof__track_locks;
#define SYNCPROF_TRACKING_() __builtin_expect(__atomic_load_n(&syncprof__track_locks, __ATOMIC_RELAXED), 0)

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
 * glibc's trylock costs about twice its lock (measured: 13 ns against 7 ns a
 * pair), so "trylock first" would double the price of every uncontended
 * lock. A wait that begins in the few nanoseconds between this load and the
 * lock's own compare-and-swap is not observed; any other wait goes through
 * syncprof_mutex_lock, which observes it.
 */
SYNCPROF_INLINE_ int syncprof_mutex_lock(pthread_mutex_t *syncprof_m) SYNCPROF_NOTHROW_
{
    SYNCPROF_OPAQUE_(syncprof_m);
    if (__builtin_expect(!syncprof_m, 0))
        return SYNCPROF_EINVAL_;
    if (__builtin_expect(__atomic_load_n(&syncprof_m->__data.__lock, __ATOMIC_RELAXED) == 0, 1) &&
        !SYNCPROF_TRACKING_())
        return syncprof_real_mutex_lock_(syncprof_m);
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
 */
SYNCPROF_INLINE_ int syncprof_mutex_unlock(pthread_mutex_t *syncprof_m) SYNCPROF_NOTHROW_
{
    SYNCPROF_OPAQUE_(syncprof_m);
    if (__builtin_expect(syncprof_m != 0, 1) &&
        __builtin_expect(__atomic_load_n(&syncprof_m->__data.__lock, __ATOMIC_RELAXED) == 1, 1) &&
        !SYNCPROF_TRACKING_())
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

#endif /* SYNCPROF_GLIBC_ */

/* Earlier spellings of the inline twins (they are the syncprof_ names now). */
#define syncprof_inline_mutex_lock syncprof_mutex_lock
#define syncprof_inline_mutex_trylock syncprof_mutex_trylock
#define syncprof_inline_mutex_unlock syncprof_mutex_unlock
#define syncprof_inline_rwlock_rdlock syncprof_rwlock_rdlock
#define syncprof_inline_rwlock_wrlock syncprof_rwlock_wrlock
#define syncprof_inline_rwlock_unlock syncprof_rwlock_unlock

/* ---- The names ------------------------------------------------------------ */

#ifndef SYNCPROF_NO_MACROS
#define pthread_mutex_lock          syncprof_mutex_lock
#define pthread_mutex_trylock       syncprof_mutex_trylock
#define pthread_mutex_timedlock     syncprof_mutex_timedlock
#define pthread_mutex_clocklock     syncprof_mutex_clocklock
#define pthread_mutex_unlock        syncprof_mutex_unlock
#define pthread_mutex_destroy       syncprof_mutex_destroy
#define pthread_mutex_init          syncprof_mutex_init
#define pthread_rwlock_rdlock       syncprof_rwlock_rdlock
#define pthread_rwlock_wrlock       syncprof_rwlock_wrlock
#define pthread_rwlock_tryrdlock    syncprof_rwlock_tryrdlock
#define pthread_rwlock_trywrlock    syncprof_rwlock_trywrlock
#define pthread_rwlock_timedrdlock  syncprof_rwlock_timedrdlock
#define pthread_rwlock_timedwrlock  syncprof_rwlock_timedwrlock
#define pthread_rwlock_unlock       syncprof_rwlock_unlock
#define pthread_rwlock_destroy      syncprof_rwlock_destroy
#define pthread_rwlock_init         syncprof_rwlock_init
#define pthread_cond_wait           syncprof_cond_wait
#define pthread_cond_timedwait      syncprof_cond_timedwait
#define pthread_cond_clockwait      syncprof_cond_clockwait
#define pthread_cond_signal         syncprof_cond_signal
#define pthread_cond_broadcast      syncprof_cond_broadcast
#define pthread_cond_init           syncprof_cond_init
#define pthread_cond_destroy        syncprof_cond_destroy
#define pthread_join                syncprof_join
#define pthread_barrier_wait        syncprof_barrier_wait
#define sem_wait                    syncprof_sem_wait
#define sem_timedwait               syncprof_sem_timedwait
#endif

#endif /* !__ASSEMBLER__ */

#endif /* SYNCPROF_PTHREAD_H */

/*
 * Outside the include guard: read again (forced, then included by the file
 * itself after a C library header), or read once the C library is
 * configured, the header brings what it could not bring the first time.
 */
#if defined(SYNCPROF_PTHREAD_H) && !defined(__ASSEMBLER__)
#if !defined(SYNCPROF_FULL_) && defined(_FEATURES_H)
#define SYNCPROF_FULL_ 1
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <syncprof/syncprof.h>
#endif

/* Semaphores: sem_t has no name before <semaphore.h> (an anonymous union),
 * so their twins are inline only once it was read; otherwise a
 * `return sem_wait(s);` may be a tail call into the wrapper (the caller's
 * caller is then the sample's second frame, as under `syncprof run`). */
#if defined(SYNCPROF_GLIBC_) && defined(_SEMAPHORE_H) && !defined(SYNCPROF_SEM_TWINS_)
#define SYNCPROF_SEM_TWINS_ 1
#ifdef __cplusplus
extern "C" {
#endif
extern int syncprof_slow_sem_wait_(sem_t *) SYNCPROF_ASM_("syncprof_sem_wait");
extern int syncprof_slow_sem_timedwait_(sem_t *, const struct timespec *)
    SYNCPROF_ASM_("syncprof_sem_timedwait");
extern int syncprof_sem_wait(sem_t *);
extern int syncprof_sem_timedwait(sem_t *, const struct timespec *);
SYNCPROF_CALL_TWIN_(sem_wait, (sem_t *syncprof_s), (syncprof_s), SYNCPROF_MAYTHROW_)
SYNCPROF_CALL_TWIN_(sem_timedwait, (sem_t *syncprof_s, const struct timespec *syncprof_t),
                    (syncprof_s, syncprof_t), SYNCPROF_MAYTHROW_)
#ifdef __cplusplus
}
#endif
#endif
#endif
