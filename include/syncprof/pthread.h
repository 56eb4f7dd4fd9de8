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
 * and write lock) have inline fast paths, in
 * <syncprof/internal/pthread_inline.h> (not an API: it reads glibc's
 * private mutex fields in the program's own code; that header says how),
 * so that an uncontended operation makes the same single libc call as raw
 * code.
 *
 * SYNCPROF_NO_MACROS: no macros; the syncprof_ functions (with their
 * inline fast paths) are declared, the pthread names are left alone. It
 * is the escape hatch for a file that must call the real pthread
 * functions by their names, or that must not depend on glibc's layout:
 * it calls syncprof_mutex_lock and friends where it wants them profiled.
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
#include <syncprof/internal/pthread_inline.h>
#endif

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
#define sem_post                    syncprof_sem_post
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
