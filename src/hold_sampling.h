/*
 * hold_sampling.h - which lock holds are timed, and timing them: the hold
 * profile's per-thread countdown (hold_sampling.c).
 *
 * A hold is timed when the acquiring thread's countdown of acquisitions
 * reaches zero; the countdown is drawn from a geometric distribution, so
 * each acquisition is timed with probability 1/K independently of how long
 * it will be held (as jemalloc samples allocations), and a timed hold
 * stands for K holds. K adapts to the thread: about SP_HOLD_PACE timed
 * holds per hold-rate nanoseconds of the thread's time, never below 1 (at
 * rate 1, every hold is timed). The timed hold of d ns then goes to
 * sp_hold_event, which keeps it as the block profile keeps a wait.
 *
 * Cost: when hold profiling is off, nothing (the fast paths test the byte
 * they test anyway). When on, an uncontended mutex lock in
 * <syncprof/pthread.h>'s inline fast path decrements a thread-local
 * counter, and an unlock costs nothing more: a timed hold marks its mutex's
 * lock word, which sends its unlock to the wrapper (pthread_wrappers.c,
 * TIMED_HOLD_WORD). The out-of-line wrappers (the interposer, other
 * operations) do the same. Only a timed hold reads the clock (twice: when
 * it begins and when it ends). A thread times at most SP_HOLD_OPEN holds
 * at once; a deeper one is not timed. bench_mutex's "hold profile on"
 * lines measure both.
 */
#ifndef SP_HOLD_SAMPLING_H
#define SP_HOLD_SAMPLING_H

#include <stdbool.h>
#include <stdint.h>

#include "export.h"
#include "lock_tracking.h"
#include "sampling.h"

#define SP_HOLD_OPEN 4
/* Timed holds per rate nanoseconds of a thread's time, about: enough for
 * the lock table's hold totals (tests/test_hold_profile.c's truth tests at
 * the default rate), few enough that a thread locking in a tight loop
 * spends a few percent of its time timing (bench_mutex). */
#define SP_HOLD_PACE 4
/* The default of SYNCPROF_HOLD_RATE and `syncprof run --hold-rate`. */
#define SP_HOLD_RATE_DEFAULT 10000

/* Acquisitions left before this thread times one: exported, counted down
 * by the inline fast path of <syncprof/pthread.h>. */
extern SP_TLS long syncprof__hold_countdown;
/* The timed holds this thread has open. */
extern SP_TLS int sp_hold_open;

/* The current rate in ns (0: off). */
int64_t sp_hold_rate(void);

/* The countdown reached zero on an acquisition of lock: time this hold
 * (true), unless the profile is off or the thread's slots are full. */
bool sp_hold_begin(const void *lock);

/* A timed hold that ended. */
struct sp_hold {
    int64_t d;     /* ns held */
    double weight; /* the holds it stands for */
};

/* lock is being released: true with its hold in *h if this thread timed it. */
bool sp_hold_end(const void *lock, struct sp_hold *h);

/*
 * lock was acquired (any wrapper): counts down, and times the hold when
 * due. The profiler's own locks are not the program's acquisitions: they
 * use none of the countdown, or the program's holds would be timed less
 * often than their weight says. True if this hold is timed.
 */
static inline bool sp_hold_acquired(const void *lock)
{
    return __builtin_expect(sp_lock_flags() & SP_LOCK_FLAG_HOLD, 0) && !sp_in_profiler() &&
           --syncprof__hold_countdown <= 0 && sp_hold_begin(lock);
}

/* A timed hold of lock (an rwlock if rwlock, else a mutex) ended in the
 * unlock wrapper leaf, called from caller: kept as the block profile keeps
 * a wait, scaled by its weight. */
void sp_hold_event(const void *lock, bool rwlock, const struct sp_hold *h, void *leaf,
                   uintptr_t caller);

/* lock is about to be released: true (with *h) if its hold was timed. */
static inline bool sp_hold_releasing(const void *lock, struct sp_hold *h)
{
    return __builtin_expect(sp_hold_open != 0, 0) && sp_hold_end(lock, h);
}

#endif /* SP_HOLD_SAMPLING_H */
