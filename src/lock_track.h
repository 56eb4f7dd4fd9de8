/*
 * lock_track.h - the earlier spellings of lock tracking (lock_tracking.h),
 * for pthread/pthread_wrappers.c alone: it includes this header until it
 * moves to the sp_lock_tracking names, and then this file goes. Nothing
 * else includes it.
 */
#ifndef SP_LOCK_TRACK_H
#define SP_LOCK_TRACK_H

#include "lock_tracking.h"

#define sp_tracking sp_lock_tracking
#define sp_track_acquired sp_lock_tracking_acquired
#define sp_track_released sp_lock_tracking_released
#define sp_track_destroyed sp_lock_tracking_destroyed

#endif /* SP_LOCK_TRACK_H */
