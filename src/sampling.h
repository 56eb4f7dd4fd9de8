/*
 * sampling.h - which contention events are kept, how they are scaled, and
 * recording them: Go's runtime/mprof.go rules (see sampling.c).
 *
 * The wrappers call sp_block_event when a blocking call returns,
 * sp_mutex_event when an unlock released waiters, and hold_sampling.c
 * sp_record_event when a timed hold ends; nothing else records.
 */
#ifndef SP_SAMPLING_H
#define SP_SAMPLING_H

#include <stdbool.h>
#include <stdint.h>

#include "profile_table.h"

/* The current settings (relaxed loads; safe from any thread). */
int sp_mutex_fraction(void);
int64_t sp_block_rate(void);

/* Go's blocksampled: is an event of d ns kept at rate? */
bool sp_block_sampled(int64_t d, int64_t rate, uint64_t rnd);

/* Go's saveblockevent scaling for the block profile (issue 44192). */
void sp_block_scale(int64_t d, int64_t rate, double *count, int64_t *delay);

/*
 * A thread blocked d ns on object in the wrapper whose entry is leaf,
 * called from the return address caller; wait is the kind of wait
 * (sp_wait_label: "mutex", "cond_timed", ...), recorded as the sample's
 * "wait" label. Sampled at the block rate and, when kept, recorded with
 * the calling thread's stack.
 */
void sp_block_event(const void *object, const char *wait, int64_t d, void *leaf,
                    uintptr_t caller);

/*
 * An unlock of object (in the wrapper leaf, called from caller) ended
 * waiting that sums to d ns across all waiters. Kept with probability
 * 1/fraction and recorded scaled by fraction.
 */
void sp_mutex_event(const void *object, int64_t d, void *leaf, uintptr_t caller);

/*
 * Records a kept event of another kind (the hold profile's, see
 * hold_sampling.h), already scaled, with the calling thread's stack; a
 * lock not yet known is born at birth unless it is 0 (lock_identity.h).
 * Nothing inside the profiler.
 */
void sp_record_event(enum sp_profile_kind kind, const void *object, uintptr_t birth, void *leaf,
                     uintptr_t caller, double count, int64_t delay);

/* A per-thread pseudo-random 64-bit number (not for cryptography). */
uint64_t sp_rand64(void);

/*
 * True while this thread is inside the profiler (capturing a stack,
 * recording, writing). Wrappers called then do the real operation only, so
 * the profiler never records its own locks and never recurses.
 */
bool sp_in_profiler(void);
void sp_enter_profiler(void);
void sp_leave_profiler(void);

#endif /* SP_SAMPLING_H */
