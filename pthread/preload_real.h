/*
 * preload_real.h - the real pthread and semaphore functions for the LD_PRELOAD
 * interposer (pthread/real.h includes this when SYNCPROF_PRELOAD is set).
 *
 * In libsyncprof-preload.so the pthread names belong to the interposer, so
 * REAL(f) is a pointer to the next definition of f in the process, found
 * with dlsym(RTLD_NEXT) (dlvsym for the condition variables, see below) the
 * first time any interposed function runs or when the library is loaded,
 * whichever comes first. Until then each pointer holds a bootstrap
 * function of preload.c that resolves every pointer and then calls the real
 * one; a call made from inside that resolution (dlsym may call malloc,
 * and an allocator may lock a pthread mutex) gets a bootstrap behaviour
 * instead of recursing (see preload.c). A resolved pointer never changes
 * again, so REAL(f) costs one load and an indirect call.
 *
 * Condition variables: glibc exports two versions of pthread_cond_init,
 * destroy, wait, timedwait, signal and broadcast: GLIBC_2.3.2 (the current
 * ones, what every program linked since 2003 calls) and GLIBC_2.2.5 (the
 * LinuxThreads-era ones, which keep a pointer to a separately allocated
 * condition variable in the first word). The interposer defines its
 * condition-variable functions at version GLIBC_2.3.2 only (preload.map),
 * and the real functions it calls are the GLIBC_2.3.2 ones (dlvsym). A
 * program bound to the old version therefore never reaches the interposer:
 * its condition variables work exactly as without it, unprofiled. Defining
 * the names without a version would be wrong: an unversioned definition
 * also satisfies references to the old version, and those programs' old
 * pthread_cond_init/destroy would then meet new-version waits on the same
 * object (glibc's old destroy frees the pointer the new code overwrote).
 *
 * Every function a wrapper calls through REAL must be in the list below;
 * the compiler says so otherwise (sp_real_<name> undeclared).
 */
#ifndef SP_PRELOAD_REAL_H
#define SP_PRELOAD_REAL_H

#include <pthread.h>
#include <semaphore.h>

/* X(name, parameters, arguments, symbol version or NULL for the default) */
#define SP_PRELOAD_REAL_FUNCS(X)                                                        \
    X(pthread_mutex_lock, (pthread_mutex_t *m), (m), NULL)                              \
    X(pthread_mutex_trylock, (pthread_mutex_t *m), (m), NULL)                           \
    X(pthread_mutex_unlock, (pthread_mutex_t *m), (m), NULL)                            \
    X(pthread_mutex_timedlock, (pthread_mutex_t *m, const struct timespec *t), (m, t),  \
      NULL)                                                                             \
    X(pthread_mutex_clocklock,                                                          \
      (pthread_mutex_t *m, clockid_t c, const struct timespec *t), (m, c, t), NULL)     \
    X(pthread_mutex_init, (pthread_mutex_t *m, const pthread_mutexattr_t *a), (m, a),   \
      NULL)                                                                             \
    X(pthread_mutex_destroy, (pthread_mutex_t *m), (m), NULL)                           \
    X(pthread_rwlock_init, (pthread_rwlock_t *rw, const pthread_rwlockattr_t *a),       \
      (rw, a), NULL)                                                                    \
    X(pthread_rwlock_destroy, (pthread_rwlock_t *rw), (rw), NULL)                       \
    X(pthread_cond_init, (pthread_cond_t *c, const pthread_condattr_t *a), (c, a),      \
      "GLIBC_2.3.2")                                                                    \
    X(pthread_cond_destroy, (pthread_cond_t *c), (c), "GLIBC_2.3.2")                    \
    X(pthread_rwlock_rdlock, (pthread_rwlock_t *rw), (rw), NULL)                        \
    X(pthread_rwlock_wrlock, (pthread_rwlock_t *rw), (rw), NULL)                        \
    X(pthread_rwlock_tryrdlock, (pthread_rwlock_t *rw), (rw), NULL)                     \
    X(pthread_rwlock_trywrlock, (pthread_rwlock_t *rw), (rw), NULL)                     \
    X(pthread_rwlock_unlock, (pthread_rwlock_t *rw), (rw), NULL)                        \
    X(pthread_rwlock_timedrdlock, (pthread_rwlock_t *rw, const struct timespec *t),     \
      (rw, t), NULL)                                                                    \
    X(pthread_rwlock_timedwrlock, (pthread_rwlock_t *rw, const struct timespec *t),     \
      (rw, t), NULL)                                                                    \
    X(pthread_cond_wait, (pthread_cond_t *c, pthread_mutex_t *m), (c, m), "GLIBC_2.3.2") \
    X(pthread_cond_timedwait,                                                           \
      (pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *t), (c, m, t),     \
      "GLIBC_2.3.2")                                                                    \
    X(pthread_cond_clockwait,                                                           \
      (pthread_cond_t *c, pthread_mutex_t *m, clockid_t k, const struct timespec *t),   \
      (c, m, k, t), NULL)                                                               \
    X(pthread_cond_signal, (pthread_cond_t *c), (c), "GLIBC_2.3.2")                     \
    X(pthread_cond_broadcast, (pthread_cond_t *c), (c), "GLIBC_2.3.2")                  \
    X(pthread_join, (pthread_t t, void **ret), (t, ret), NULL)                          \
    X(pthread_tryjoin_np, (pthread_t t, void **ret), (t, ret), NULL)                    \
    X(pthread_barrier_wait, (pthread_barrier_t *b), (b), NULL)                          \
    X(sem_wait, (sem_t *s), (s), NULL)                                                  \
    X(sem_trywait, (sem_t *s), (s), NULL)                                               \
    X(sem_timedwait, (sem_t *s, const struct timespec *t), (s, t), NULL)                \
    X(sem_post, (sem_t *s), (s), NULL)

/* The pointers, defined in preload.c; hidden, so reading one is a
 * PC-relative load. */
#define SP_PRELOAD_REAL_DECLARE(name, params, args, version) \
    extern __attribute__((visibility("hidden"))) __typeof__(name) *sp_real_##name;
SP_PRELOAD_REAL_FUNCS(SP_PRELOAD_REAL_DECLARE)
#undef SP_PRELOAD_REAL_DECLARE

/* Relaxed: a pointer only ever changes from its bootstrap function to the
 * real one, and either is fine to call. */
#define REAL(f) (__atomic_load_n(&sp_real_##f, __ATOMIC_RELAXED))

#endif /* SP_PRELOAD_REAL_H */
