/*
 * lock_track.h - the hooks through which the wrappers report every
 * acquisition and release, for the features that need to know which locks
 * each thread holds (lock-order checking, the held locks of a thread dump).
 *
 * Cost when off: the wrappers test syncprof__track_locks, one byte read
 * with a relaxed load, on their fast paths (the inline ones in
 * <syncprof/pthread.h> too) and call nothing. It is turned on by the
 * features that need it and never off again while threads may be inside a
 * hook.
 */
#ifndef SP_LOCK_TRACK_H
#define SP_LOCK_TRACK_H

#include <stdbool.h>

#include "wait_table.h"

/* Nonzero while tracking is on; exported, read by the inline fast paths. */
extern unsigned char syncprof__track_locks;

static inline bool sp_tracking(void)
{
    return __atomic_load_n(&syncprof__track_locks, __ATOMIC_RELAXED) != 0;
}

/* Turns tracking on (for good). */
void sp_tracking_enable(void);

/*
 * The calling thread now holds object (acquired as reason says: mutex,
 * read or write lock); trylock is true when it came from a try operation,
 * which cannot deadlock. Called only when sp_tracking().
 */
void sp_track_acquired(const void *object, enum sp_wait_reason reason, bool trylock);

/* The calling thread released object (once, for a recursive lock). */
void sp_track_released(const void *object);

#endif /* SP_LOCK_TRACK_H */
