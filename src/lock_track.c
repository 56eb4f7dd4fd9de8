/*
 * lock_track.c - the acquisition and release hooks of lock_track.h.
 *
 * For now they only exist: nothing turns tracking on yet. The thread dump
 * (held locks) and lock-order checking build on them.
 */
#include "export.h"
#include "lock_track.h"

SP_PUBLIC unsigned char syncprof__track_locks;

void sp_tracking_enable(void)
{
    __atomic_store_n(&syncprof__track_locks, 1, __ATOMIC_RELEASE);
}

void sp_track_acquired(const void *object, enum sp_wait_reason reason, bool trylock)
{
    (void)object;
    (void)reason;
    (void)trylock;
}

void sp_track_released(const void *object)
{
    (void)object;
}
