/*
 * wait_inlines.h - waiting and spinning: a blocked call spins on its
 * state for this thread's adapted spin length, then sleeps as an observed
 * wait (src/observed_wait.h). Inlined into select_run and handoff, whose
 * frames then live through the wait.
 */
#ifndef SP_CHAN_WAIT_INLINES_H
#define SP_CHAN_WAIT_INLINES_H

#include <sched.h>
#include <stdbool.h>

#include "chan_inlines.h"
#include "chan_internal.h"
#include "observed_wait.h"
#include "spinlock.h"
#include "trace.h"

/* A wait's spin ended, in success or not: the length it used adapts. */
static inline void spun(bool after_wake, bool worked)
{
    if (after_wake)
        wake_spins = adapt(wake_spins, worked, SPIN_MIN, SPIN_AFTER_WAKE);
    else
        wait_spins = adapt(wait_spins, worked, SPIN_MIN, SPIN_WAIT);
}

/*
 * Spins until done(arg) (true), adapting this thread's spin length; false
 * when the spin ran out.
 */
static inline bool spin_until(bool (*done)(const void *), const void *arg)
{
    int spins = wait_spins;
    bool after_wake = woke_partner; /* then wake_spins adapts, even when not longer */
    woke_partner = false;
    if (after_wake && wake_spins > spins)
        spins = wake_spins;
    for (int i = 0; i < spins + SPIN_YIELD; i++) {
        if (done(arg)) {
            /* done only after a yield: the spin did not pay, the yield did */
            spun(after_wake, i <= spins);
            return true;
        }
        if (i < spins)
            sp_cpu_relax();
        else
            sched_yield(); /* the other side may need this core */
    }
    spun(after_wake, false);
    return false;
}

static inline bool sel_done(const void *s)
{
    return __atomic_load_n(&((const struct sel *)s)->state, __ATOMIC_ACQUIRE) == SEL_DONE;
}

/*
 * Waits for s: spins, then sleeps as a registered, profiled wait. true
 * when done, false when cancelled at the deadline.
 */
static inline bool await(struct sel *s, const struct timespec *deadline, const struct wait_desc *d)
{
    int64_t spin_from = sp_tracing() ? sp_now_ns() : 0;
    if (spin_until(sel_done, s))
        return true;
    if (sp_in_profiler())
        return sleep_until_done(s, deadline);
    struct sp_observed o;
    sp_observe_begin(&o, d->object, d->reason);
    o.w.spun_from_ns = spin_from;
    SP_OBSERVE_REGS(&o, &o.w);
    bool done = sleep_until_done(s, deadline);
    sp_observe_end(&o, true, d->leaf, d->caller);
    return done;
}

#endif /* SP_CHAN_WAIT_INLINES_H */
