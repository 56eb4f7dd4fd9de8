/*
 * lock_tracking.h - lock tracking: the hooks through which the wrappers
 * report every acquisition and release, for the features that need to
 * know which locks each thread holds (lock-order checking, the held locks
 * of a thread dump). One concept, one spelling: syncprof_lock_tracking_enable
 * (public), syncprof__lock_tracking (the flag the inline fast paths read),
 * sp_lock_tracking*, this file; only the environment variable keeps its
 * published name, SYNCPROF_TRACK_LOCKS.
 *
 * Cost when off: the wrappers test syncprof__lock_tracking, one byte read
 * with a relaxed load, on their fast paths (the inline ones in
 * <syncprof/pthread.h> too) and call nothing. It is turned on by the
 * features that need it and never off again while threads may be inside a
 * hook.
 */
#ifndef SP_LOCK_TRACKING_H
#define SP_LOCK_TRACKING_H

#include <stdbool.h>

#include "wait_table.h"

/*
 * Nonzero while some feature needs every lock operation in the wrappers:
 * lock tracking (SP_LOCK_FLAG_TRACK) or the hold profile
 * (SP_LOCK_FLAG_HOLD, hold_sampling.h). Exported: the inline fast paths
 * of <syncprof/pthread.h> call the wrapper whenever it is not 0 (but for
 * the hold profile's countdown, which they keep themselves).
 */
extern unsigned char syncprof__lock_tracking;
#define SP_LOCK_FLAG_TRACK 1
#define SP_LOCK_FLAG_HOLD 2

static inline unsigned sp_lock_flags(void)
{
    return __atomic_load_n(&syncprof__lock_tracking, __ATOMIC_RELAXED);
}

static inline bool sp_lock_tracking(void)
{
    return (sp_lock_flags() & SP_LOCK_FLAG_TRACK) != 0;
}

/* Turns tracking on (for good). */
void sp_lock_tracking_enable(void);

/*
 * The calling thread now holds object (acquired as reason says: mutex,
 * read or write lock); trylock is true when it came from a try operation,
 * which cannot deadlock. Called only when sp_lock_tracking().
 */
void sp_lock_tracking_acquired(const void *object, enum sp_wait_reason reason, bool trylock);

/* The calling thread released object (once, for a recursive lock). */
void sp_lock_tracking_released(const void *object);

/* object (a mutex or rwlock) was destroyed: it leaves the lock-order graph. */
void sp_lock_tracking_destroyed(const void *object);

/*
 * The thread id of the holder of object, read from glibc's own fields
 * (pthread_mutex_t.__data.__owner, or the thread id kept in __lock by robust
 * and priority-inheritance mutexes; pthread_rwlock_t.__data.__cur_writer),
 * without any bookkeeping: 0 when it is free, held only by readers, or not
 * a mutex or rwlock (reason says which it is: SP_WAIT_MUTEX or
 * SP_WAIT_COND_REACQUIRE for a mutex, SP_WAIT_RWLOCK_* for an rwlock). The
 * object must be valid memory, e.g. read while a waiter on it is
 * registered (sp_wait_foreach).
 */
int sp_lock_owner(const void *object, enum sp_wait_reason reason);

/* The threads whose held lists (lock tracking on) include object, up to
 * max of them into tids; returns how many were found. Linear in the number
 * of thread records; reads other threads' lists as they change. */
int sp_lock_holders_tracked(const void *object, int *tids, int max);

/* Read once at load (config.c): SYNCPROF_TRACK_LOCKS, and
 * SYNCPROF_LOCK_ORDER (lock-order checking, which tracking serves). */
void sp_lock_tracking_from_environment(void);
void sp_lock_order_from_environment(void);

#endif /* SP_LOCK_TRACKING_H */
