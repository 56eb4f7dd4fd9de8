/*
 * wait.c - sleeping: a blocked call's sleep on its sel until it is done or
 * its deadline passes (and the cancel at the deadline), the slot owner's
 * sleep, and the per-thread spin lengths that wait_inlines.h adapts.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "chan_inlines.h"
#include "chan_internal.h"
#include "slot_inlines.h"
#include "spinlock.h"

SP_TLS int wait_spins = SPIN_WAIT;
SP_TLS int ring_spins = SPIN_RING;
SP_TLS int slot_spins = SPIN_SLOT;
SP_TLS int wake_spins = SPIN_AFTER_WAKE;
SP_TLS bool woke_partner;

/* The owner gives up at the deadline: true if it cancelled, false if the
 * call was completed meanwhile. */
static bool cancel(struct sel *s)
{
    for (;;) {
        uint32_t st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
        if (st == SEL_DONE)
            return false;
        if (st == SEL_CLAIMED) {
            sp_cpu_relax();
            continue;
        }
        if (__atomic_compare_exchange_n(&s->state, &st, SEL_CANCELLED, false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return true;
    }
}

/* Sleeps until s is done (true) or the deadline passed and the call was
 * cancelled (false). */
bool sleep_until_done(struct sel *s, const struct timespec *deadline)
{
    for (;;) {
        uint32_t st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
        switch (st) {
        case SEL_DONE:
            return true;
        case SEL_CLAIMED:
            sp_cpu_relax();
            break;
        case SEL_WAITING:
            __atomic_compare_exchange_n(&s->state, &st, SEL_SLEEPING, false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED);
            break;
        default: /* SEL_SLEEPING */
            if (!futex_wait_until(&s->state, SEL_SLEEPING, deadline) && cancel(s))
                return false;
            break;
        }
    }
}

/* Sleeps until the slot is done, from state mine (the owner's waiting
 * state): announces the sleep (mine + 1), then sleeps on the slot's futex. */
void slot_sleep(syncprof_chan *c, uint64_t mine)
{
    for (;;) {
        uint64_t st = slot_state(c);
        if (st >= SLOT_DONE)
            return;
        if (st == mine)
            __atomic_compare_exchange_n(&c->slot.h.state, &st, mine + 1, false,
                                        __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
        else if (st == mine + 1)
            futex_wait_until(slot_futex(c), (uint32_t)st, NULL); /* woken, or it moved */
        else
            backoff(); /* CLAIMED: being completed */
    }
}
