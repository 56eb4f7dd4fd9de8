/*
 * syncprof.h - the public API of syncprof: Go's mutex and block profiles for
 * pthread programs.
 *
 * Errors, stated once for every header of <syncprof/...>: a function that
 * can fail returns int, 0 on success or a positive errno value (the value
 * is the error; errno is left alone). The deliberate exceptions:
 *   - the pthread wrappers (syncprof_mutex_lock ... syncprof_barrier_wait)
 *     return exactly what their pthread twin returns, so that they can
 *     stand in for it, with one addition: a NULL object gives EINVAL;
 *   - syncprof_sem_wait, syncprof_sem_timedwait, syncprof_sem_post: as
 *     their twins, 0 or -1 with errno set (the semaphore API's own rule);
 *   - syncprof_select (<syncprof/chan.h>): the index of the case that
 *     proceeded (>= 0) or a negative errno value, one int for both;
 *   - syncprof_chan_make: the channel, or NULL with errno set (a
 *     constructor returns its object, as malloc);
 *   - what cannot fail returns its value, or nothing: the previous
 *     fraction of syncprof_set_mutex_profile_fraction, syncprof_version,
 *     syncprof_block_profile_rate, syncprof_lock_order_reports,
 *     syncprof_http_port, syncprof_chan_len and _cap, the tracer's marks
 *     (<syncprof/trace.h>); syncprof_set_block_profile_rate and
 *     syncprof_http_stop return void; syncprof_lock_tracking_enable and
 *     syncprof_watchdog_stop return int for the rule's sake and always 0.
 * Each function's comment names the errors it returns.
 *
 * No init call is needed: the library configures itself from the
 * environment when it is loaded (see docs/api.md):
 *   SYNCPROF_MUTEX_FRACTION  as syncprof_set_mutex_profile_fraction
 *   SYNCPROF_BLOCK_RATE      as syncprof_set_block_profile_rate (ns)
 *   SYNCPROF_HOLD_RATE       as syncprof_set_hold_profile_rate (ns)
 *   SYNCPROF_MAX_STACKS      as syncprof_set_max_stacks
 *   SYNCPROF_OUT             a directory; at exit every enabled profile is
 *                            written there as mutex.<pid>.pb.gz,
 *                            block.<pid>.pb.gz and hold.<pid>.pb.gz
 * A bad value prints one warning line on stderr and keeps the default.
 */
#ifndef SYNCPROF_SYNCPROF_H
#define SYNCPROF_SYNCPROF_H

#include <pthread.h>
#include <semaphore.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version ---------------------------------------------------------- */

/* The version of these headers; CMake's project VERSION must be the same
 * (the configure step checks it). */
#define SYNCPROF_VERSION_MAJOR 0
#define SYNCPROF_VERSION_MINOR 1
#define SYNCPROF_VERSION_PATCH 0

/* The version of the library the program runs with, "MAJOR.MINOR.PATCH"
 * (which may differ from the headers' when it is a shared library).
 * Cannot fail. */
const char *syncprof_version(void);

/* ---- Sampling, as Go's runtime ---------------------------------------- */

/*
 * As runtime.SetMutexProfileFraction: rate < 0 only reads the current
 * value; 0 turns the mutex profile off (what was recorded stays); 1 records
 * every contention event; N keeps each event with probability 1/N and scales
 * it by N when it is recorded. Returns the previous value. Cannot fail.
 */
int syncprof_set_mutex_profile_fraction(int rate);

/*
 * As runtime.SetBlockProfileRate: rate_ns <= 0 turns the block profile off;
 * 1 records every blocking event; otherwise, on average, one sample per
 * rate_ns nanoseconds spent blocked. Cannot fail.
 */
void syncprof_set_block_profile_rate(int64_t rate_ns);

/* The current block profile rate in nanoseconds (0 when off). */
int64_t syncprof_block_profile_rate(void);

/*
 * The hold profile: how long locks (mutexes, rwlocks) are held, with the
 * unlocker's stack ("hold" profile, sample values holds/count and
 * hold/nanoseconds). rate_ns <= 0 turns it off (the default); 1 times and
 * records every hold; otherwise each thread times about one hold per
 * rate_ns of its time (a countdown of acquisitions) and a timed hold of d
 * ns is kept with probability min(1, d / rate_ns), both scaled back, so
 * the totals are unbiased estimates. 10000 (10 us) costs little. While it
 * is on, every lock and unlock goes through the out-of-line wrapper.
 * Cannot fail.
 */
void syncprof_set_hold_profile_rate(int64_t rate_ns);

/* The current hold profile rate in nanoseconds (0 when off). */
int64_t syncprof_hold_profile_rate(void);

/*
 * Sets how many distinct stacks each profile keeps (default 16384). Samples
 * whose stack does not fit are added to one stack named
 * syncprof_lost_samples, so totals stay honest. Stacks already recorded are
 * kept even if n is smaller. EINVAL if n is 0 or larger than 1 << 24.
 */
int syncprof_set_max_stacks(size_t n);

/* ---- Writing profiles ------------------------------------------------- */

/*
 * Writes the profile called name to fd: "mutex" or "block" with debug 0 as
 * gzip-compressed pprof protobuf and any debug > 0 as Go's text format;
 * "threads" (every thread of the process by stack, as Go's goroutine
 * profile, see <syncprof/dump.h>) with debug 0 as pprof, 1 as grouped text
 * and 2 as the full dump. The profile itself is not changed. EINVAL for an
 * unknown name or a negative debug, ENOMEM, or the errno of the failed
 * write (EBADF for a closed descriptor).
 */
int syncprof_write_profile(const char *name, int fd, int debug);

/*
 * As syncprof_write_profile, into path: written to a temporary file in the
 * same directory and renamed, so a failed write never leaves a truncated
 * profile behind. Errors as above plus those of open and rename.
 */
int syncprof_write_profile_file(const char *name, const char *path, int debug);

/* ---- Names ------------------------------------------------------------ */

/*
 * Names a mutex, rwlock, condition variable or channel: its samples carry a
 * "lock" label with the name, and thread dumps show it. The name is copied
 * (cut at 63 bytes); NULL or "" removes it. Call it again with NULL before
 * freeing a named object whose address may be reused. EINVAL for a NULL
 * object, ENOSPC when 4096 objects already have names.
 */
int syncprof_set_name(const void *object, const char *name);

/* ---- Wrappers --------------------------------------------------------- */
/*
 * Each behaves exactly as its pthread twin. An uncontended acquisition costs
 * one trylock; only an operation that would block is timed and sampled.
 * <syncprof/pthread.h> maps the pthread names to these.
 */
/* In C++ their exception specifications are glibc's for the pthread twin
 * (noexcept, except at cancellation points): <syncprof/pthread.h> makes
 * <pthread.h> declare these names too, and the declarations must agree. */
#if defined(__cplusplus) && __cplusplus >= 201103L
#define SYNCPROF_NOTHROW noexcept(true)
#elif defined(__cplusplus)
#define SYNCPROF_NOTHROW throw()
#else
#define SYNCPROF_NOTHROW
#endif

int syncprof_mutex_lock(pthread_mutex_t *m) SYNCPROF_NOTHROW;
int syncprof_mutex_trylock(pthread_mutex_t *m) SYNCPROF_NOTHROW;
int syncprof_mutex_timedlock(pthread_mutex_t *m, const struct timespec *abstime) SYNCPROF_NOTHROW;
int syncprof_mutex_clocklock(pthread_mutex_t *m, clockid_t clock,
                             const struct timespec *abstime) SYNCPROF_NOTHROW;
int syncprof_mutex_unlock(pthread_mutex_t *m) SYNCPROF_NOTHROW;
int syncprof_mutex_destroy(pthread_mutex_t *m) SYNCPROF_NOTHROW;
/* The init call's site becomes the lock's identity in samples ("lock"
 * label) when it has no name; destroy forgets it. */
int syncprof_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *attr) SYNCPROF_NOTHROW;

int syncprof_rwlock_rdlock(pthread_rwlock_t *rw) SYNCPROF_NOTHROW;
int syncprof_rwlock_wrlock(pthread_rwlock_t *rw) SYNCPROF_NOTHROW;
int syncprof_rwlock_tryrdlock(pthread_rwlock_t *rw) SYNCPROF_NOTHROW;
int syncprof_rwlock_trywrlock(pthread_rwlock_t *rw) SYNCPROF_NOTHROW;
int syncprof_rwlock_timedrdlock(pthread_rwlock_t *rw, const struct timespec *abstime) SYNCPROF_NOTHROW;
int syncprof_rwlock_timedwrlock(pthread_rwlock_t *rw, const struct timespec *abstime) SYNCPROF_NOTHROW;
int syncprof_rwlock_unlock(pthread_rwlock_t *rw) SYNCPROF_NOTHROW;
int syncprof_rwlock_destroy(pthread_rwlock_t *rw) SYNCPROF_NOTHROW;
int syncprof_rwlock_init(pthread_rwlock_t *rw, const pthread_rwlockattr_t *attr) SYNCPROF_NOTHROW;

int syncprof_cond_wait(pthread_cond_t *c, pthread_mutex_t *m);
int syncprof_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
                            const struct timespec *abstime);
int syncprof_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clock,
                            const struct timespec *abstime);
int syncprof_cond_signal(pthread_cond_t *c) SYNCPROF_NOTHROW;
int syncprof_cond_broadcast(pthread_cond_t *c) SYNCPROF_NOTHROW;
int syncprof_cond_init(pthread_cond_t *c, const pthread_condattr_t *attr) SYNCPROF_NOTHROW;
int syncprof_cond_destroy(pthread_cond_t *c) SYNCPROF_NOTHROW;

int syncprof_join(pthread_t t, void **retval);
int syncprof_barrier_wait(pthread_barrier_t *b) SYNCPROF_NOTHROW;

/* 0, or -1 with errno set, as sem_wait, sem_timedwait and sem_post.
 * syncprof_sem_post is async-signal-safe, as sem_post. */
int syncprof_sem_wait(sem_t *s);
int syncprof_sem_timedwait(sem_t *s, const struct timespec *abstime);
int syncprof_sem_post(sem_t *s);

#ifdef __cplusplus
}
#endif

/* The other parts of the API, each in a header of its own. (The channel
 * type's, <syncprof/chan.h>, is not included: it brings <stdbool.h>.) */
#include <syncprof/dump.h>
#include <syncprof/http.h>
#include <syncprof/labels.h>
#include <syncprof/trace.h>

#endif /* SYNCPROF_SYNCPROF_H */
