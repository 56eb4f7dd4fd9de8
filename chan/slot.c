/*
 * slot.c - the slot: unbuffered hand-offs without the lock. Owns the
 * slot's protocol (registering, completing, closing, taking back) and the
 * plain unbuffered send and receive that go through it (handoff), with
 * the owner's wait in the slot. bench_chan's unbuffered SPSC and
 * ping-pong exercise it.
 *
 * An unbuffered send or receive without a deadline, meeting no queued
 * waiter, waits in the channel's slot instead of a queue. The slot holds
 * its state and its value (up to 8 bytes; for a larger one, the address
 * of the owner's buffer) on its own line. A partner completes it with
 * one CAS of state and value together (where the machine has a 16-byte
 * CAS; elsewhere, and for large values, it claims the slot, copies and
 * stores DONE); the owner, spinning on that line, reads the result and
 * frees the slot with two plain stores. So a hand-off moves one cache
 * line there and back, in one atomic operation on each side, and no
 * waiter's own line is involved; queueing every waiter costs more
 * (bench_chan's unbuffered SPSC and ping-pong guard this;
 * docs/dev/channel-tuning.md has the history).
 *
 * Moves of the state:
 *   FREE -> WAITING: a registrant, by CAS (the value with it). It then
 *     reads the lock, the queue counts and the closed flag (no_slot) and,
 *     if the lock is held, a waiter queued or the channel closed, takes
 *     the registration back (a CAS to FREE; if that fails the slot was
 *     completed or closed meanwhile, and it is the owner) and goes the
 *     locked way, which queues. Its CAS and a lock holder's taking of the
 *     lock are both seq_cst, and each then looks at the other's word
 *     (Dekker): a lock holder that found no registration is seen by the
 *     registrant. So the slot is kept only while no waiter is queued: its
 *     owner is older than every queued waiter of its side, and partners,
 *     who look in the slot before the queues, keep Go's order.
 *   WAITING <-> SLEEPING: the owner, by CAS.
 *   WAITING or SLEEPING -> DONE: a partner, by CAS, or by CAS to CLAIMED,
 *     a copy and a store; -> DONE_CLOSED: close, under the lock.
 *   DONE or DONE_CLOSED -> FREE, value 0: the owner, by stores.
 * A partner that finds the slot CLAIMED waits: that lasts a few
 * instructions. A FREE slot's value is 0, which lets a partner's first
 * CAS guess the word of a waiting receiver exactly.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "chan_inlines.h"
#include "chan_internal.h"
#include "observed_wait.h"
#include "slot_inlines.h"
#include "spinlock.h"
#include "trace.h"
#include "wait_inlines.h"

/* Whether a call must keep out of the slot (see the top comment): the lock is
 * held, a waiter is queued, or the channel is closed. The lock is read
 * first, with acquire: a holder that queued a waiter or closed the channel
 * did so before it let go, so a free lock shows what it did. The counts
 * and the lock share a line. */
static bool no_slot(syncprof_chan *c)
{
    return sp_spin_is_locked(&c->lock) || __atomic_load_n(&c->sendq.n, __ATOMIC_RELAXED) ||
           __atomic_load_n(&c->recvq.n, __ATOMIC_RELAXED) ||
           __atomic_load_n(&c->closed, __ATOMIC_RELAXED);
}

/* The slot's word for the value at elem: the value itself, or its
 * address. */
static inline uint64_t word_of(const syncprof_chan *c, const void *elem)
{
    uint64_t x = 0;
    if (!value_inline(c))
        x = (uint64_t)(uintptr_t)elem;
    else if (c->elem_size && elem)
        copy_value(&x, elem, c->elem_size);
    return x;
}

/* The slot as a thread last saw it. */
struct slot_seen {
    uint64_t st, v;
};

static inline struct slot_seen slot_look(syncprof_chan *c)
{
    struct slot_seen x;
    x.st = slot_state(c);
    x.v = slot_value(c);
    return x;
}

/*
 * CAS of the slot from *seen to (st1, v1). With a 16-byte CAS the value
 * is compared and written too; without, only the state, and v1 must
 * equal seen->v. On failure *seen is what the slot held.
 */
static inline bool slot_cas(syncprof_chan *c, struct slot_seen *seen, uint64_t st1, uint64_t v1)
{
#if SLOT_CAS16
    unsigned __int128 old = (unsigned __int128)seen->v << 64 | seen->st;
    unsigned __int128 got =
        __sync_val_compare_and_swap(&c->slot.both, old, (unsigned __int128)v1 << 64 | st1);
    seen->st = (uint64_t)got;
    seen->v = (uint64_t)(got >> 64);
    return got == old;
#else
    (void)v1;
    bool ok = __atomic_compare_exchange_n(&c->slot.h.state, &seen->st, st1, false,
                                          __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE);
    seen->v = slot_value(c);
    return ok;
#endif
}

/* The owner's operation is over: the slot to FREE, value 0. */
static void slot_free(syncprof_chan *c)
{
    __atomic_store_n(&c->slot.h.value, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&c->slot.h.state, SLOT_FREE, __ATOMIC_RELEASE);
}

/* The two-step completion, slot CLAIMED by the caller: the value moved
 * between elem and the owner, then DONE. */
static void slot_transfer_done(syncprof_chan *c, bool send, void *elem)
{
    size_t n = c->elem_size;
    uint64_t v = slot_value(c);
    if (n && value_inline(c)) {
        if (send)
            __atomic_store_n(&c->slot.h.value, word_of(c, elem), __ATOMIC_RELAXED);
        else if (elem)
            copy_value(elem, &v, n);
    } else if (n) {
        void *theirs = (void *)(uintptr_t)v;
        if (send && theirs)
            memcpy(theirs, elem, n);
        else if (!send && elem)
            memcpy(elem, theirs, n);
    }
    __atomic_store_n(&c->slot.h.state, SLOT_DONE, __ATOMIC_RELEASE);
}

enum { COMPLETE_DONE, COMPLETE_RETRY, COMPLETE_NONE };


/*
 * One attempt to complete the operation of the other direction waiting in
 * the slot, believed to be *seen (a guess is fine): COMPLETE_DONE;
 * COMPLETE_RETRY, *seen updated; or COMPLETE_NONE when *seen holds no
 * such operation. word is word_of(our value) for a send. The owner's wake
 * goes to wk, or is made at once when wk is NULL.
 */
static inline int slot_try_complete(syncprof_chan *c, bool send, void *elem, uint64_t word,
                                    struct slot_seen *seen, struct wakeups *wk)
{
    uint64_t partner = slot_waiting(!send);
    uint64_t st = seen->st;
    if (st != partner && st != partner + 1)
        return COMPLETE_NONE;
    if (SLOT_CAS16 && value_inline(c)) {
        /* One step: a receiver's word becomes our value; a sender's value,
         * as the CAS saw it, is ours. */
        uint64_t theirs = seen->v;
        if (!slot_cas(c, seen, SLOT_DONE, send ? word : theirs))
            return COMPLETE_RETRY;
        if (!send && elem && c->elem_size)
            copy_value(elem, &theirs, c->elem_size);
    } else {
        if (!slot_cas(c, seen, SLOT_CLAIMED, seen->v))
            return COMPLETE_RETRY;
        slot_transfer_done(c, send, elem);
    }
    if (st == partner + 1) {
        if (wk)
            wake_later(wk, slot_futex(c), c);
        else
            futex_wake_one(c, slot_futex(c));
    }
    return COMPLETE_DONE;
}

/* The locked path's look at the slot: completes a partner waiting there
 * (true), after any claim in progress has settled. */
bool slot_complete_locked(syncprof_chan *c, bool send, void *elem, struct wakeups *wk)
{
    uint64_t word = send ? word_of(c, elem) : 0;
    struct slot_seen seen = { __atomic_load_n(&c->slot.h.state, __ATOMIC_SEQ_CST), 0 };
    seen.v = slot_value(c); /* seq_cst above: after taking the lock, see the top comment */
    for (;;) {
        if (seen.st == SLOT_CLAIMED) {
            backoff();
            seen = slot_look(c);
            continue;
        }
        int r = slot_try_complete(c, send, elem, word, &seen, wk);
        if (r != COMPLETE_RETRY)
            return r == COMPLETE_DONE;
    }
}

/* Close, under the lock (closed set): the slot's owner, if any, is
 * done with "closed". */
void slot_close_locked(syncprof_chan *c, struct wakeups *wk)
{
    uint64_t st = __atomic_load_n(&c->slot.h.state, __ATOMIC_SEQ_CST);
    for (;;) {
        if (st == SLOT_CLAIMED) {
            backoff();
            st = slot_state(c);
            continue;
        }
        if (st < SLOT_RECV_WAITING || st > SLOT_SEND_SLEEPING)
            return;
        if (__atomic_compare_exchange_n(&c->slot.h.state, &st, SLOT_DONE_CLOSED, false,
                                        __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE)) {
            if (st == SLOT_RECV_SLEEPING || st == SLOT_SEND_SLEEPING)
                wake_later(wk, slot_futex(c), c);
            return;
        }
    }
}

enum { REG_OWNER, REG_RETRY, REG_SLOW };


/*
 * Takes the FREE slot (as seen) for a send or receive whose slot word
 * (word_of) is word. REG_OWNER:
 * the caller owns the slot (and may have been completed already);
 * REG_RETRY: the slot changed meanwhile; REG_SLOW: the lock is held, a
 * waiter is queued or the channel closed, and the registration was taken
 * back.
 */
static int slot_register(syncprof_chan *c, bool send, uint64_t word, struct slot_seen seen)
{
    uint64_t waiting = slot_waiting(send);
    if (SLOT_CAS16 || word == 0) {
        if (!slot_cas(c, &seen, waiting, word))
            return REG_RETRY;
    } else {
        /* Claim, fill, then show as waiting. */
        if (!slot_cas(c, &seen, SLOT_CLAIMED, seen.v))
            return REG_RETRY;
        __atomic_store_n(&c->slot.h.value, word, __ATOMIC_RELAXED);
        __atomic_store_n(&c->slot.h.state, waiting, __ATOMIC_SEQ_CST);
    }
    if (!no_slot(c))
        return REG_OWNER;
    /* Take it back (through CLAIMED, so that the value is cleared before
     * the slot is FREE), unless it was completed or closed meanwhile. */
    seen = (struct slot_seen){ waiting, word };
    if (!slot_cas(c, &seen, SLOT_CLAIMED, word))
        return REG_OWNER;
    slot_free(c);
    return REG_SLOW;
}

static bool slot_done(const void *c)
{
    return slot_state((syncprof_chan *)(uintptr_t)c) >= SLOT_DONE;
}

/* The slot's owner waits until it is done: SLOT_DONE or SLOT_DONE_CLOSED. */
static uint64_t slot_await(syncprof_chan *c, bool send, const struct wait_desc *d)
{
    int64_t spin_from = sp_tracing() ? sp_now_ns() : 0;
    if (!spin_until(slot_done, c)) {
        int saved = errno;
        uint64_t mine = slot_waiting(send);
        if (sp_in_profiler()) {
            slot_sleep(c, mine);
        } else {
            struct sp_observed o;
            sp_observe_begin(&o, d->object, d->reason);
            o.w.spun_from_ns = spin_from;
            SP_OBSERVE_REGS(&o, &o.w);
            slot_sleep(c, mine);
            sp_observe_end(&o, true, d->leaf, d->caller);
        }
        errno = saved;
    }
    return slot_state(c);
}

enum { ENTER_DONE, ENTER_OWNER, ENTER_SLOW };


/* This thread's polls of a taken slot ended: in success (the slot came
 * free or its partner came) or not. */
static inline void slot_polls_ended(int max_polls, bool paid)
{
    slot_spins = adapt(max_polls, paid, SPIN_SLOT_MIN, SPIN_SLOT);
}

/*
 * The way into the slot for a plain unbuffered send or receive whose slot
 * word is word: ENTER_DONE, a partner waiting there was completed;
 * ENTER_OWNER, the caller took the slot and must wait in it (slot_own);
 * ENTER_SLOW, the locked path must do it: the lock is held, a waiter is
 * queued, the channel is closed, or the slot stayed taken.
 */
static inline int slot_enter(syncprof_chan *c, bool send, void *elem, uint64_t word)
{
    const uint64_t mine = slot_waiting(send);
    /* First guess, tried by CAS without a look: a sender finds a receiver
     * waiting (whose value is 0), a receiver finds the slot free and takes
     * it. A receiver cannot guess a waiting sender's value, and in a
     * steady stream the consumer owns the slot in most hand-offs, and
     * guessing a sender there would cost a failed CAS per receive
     * (bench_chan's unbuffered SPSC guards this). On that first try
     * the flags are checked only after the registration (slot_register). */
    struct slot_seen seen = { send ? SLOT_RECV_WAITING : SLOT_FREE, 0 };
    /* Polls of a slot taken by another hand-off adapt like the spins: with
     * more threads than cores its owner is often not running, and polling
     * only delays the queueing that would serve us. */
    int polls = 0, max_polls = slot_spins;
    for (int tries = 0;; tries++) {
        int r = slot_try_complete(c, send, elem, word, &seen, NULL);
        if (r == COMPLETE_DONE) {
            if (polls)
                slot_polls_ended(max_polls, true);
            return ENTER_DONE;
        }
        if (r == COMPLETE_RETRY)
            continue;
        if (seen.st == SLOT_FREE) {
            /* Queued waiters or the lock: the locked way, without first
             * taking the slot only to give it back. */
            if (tries && no_slot(c))
                return ENTER_SLOW;
            int g = slot_register(c, send, word, seen);
            if (g == REG_SLOW)
                return ENTER_SLOW;
            if (g == REG_OWNER) {
                if (polls)
                    slot_polls_ended(max_polls, true);
                return ENTER_OWNER;
            }
        } else if (seen.st == mine || seen.st == mine + 1) {
            return ENTER_SLOW; /* queue behind our side */
        } else if (polls++ == max_polls) {
            slot_polls_ended(max_polls, false);
            return ENTER_SLOW;
        } else {
            sp_cpu_relax(); /* DONE or CLAIMED: its owner or partner is at work */
        }
        seen = slot_look(c);
    }
}

/* The slot's owner: waits until a partner or close completes it, takes
 * the result and frees the slot. 0 (*ok set for a receive) or EPIPE for a
 * send that met close. */
static inline int slot_own(syncprof_chan *c, bool send, void *elem, bool *ok,
                           const struct wait_desc *o)
{
    uint64_t st = slot_await(c, send, o);
    size_t n = c->elem_size;
    if (!send && st == SLOT_DONE && n && value_inline(c) && elem) {
        uint64_t x = slot_value(c);
        copy_value(elem, &x, n);
    }
    slot_free(c);
    if (st == SLOT_DONE_CLOSED && !send)
        zero(elem, n);
    if (ok)
        *ok = st == SLOT_DONE;
    return st == SLOT_DONE || !send ? 0 : EPIPE;
}

/*
 * An unbuffered send or receive with no deadline, through the slot (see
 * the top comment): 0 done (*ok set for a receive), EPIPE when a send met close
 * while it waited, or HANDOFF_SLOW when the locked path must do it.
 */
int handoff(syncprof_chan *c, bool send, void *elem, bool *ok, const struct wait_desc *o)
{
    const uint64_t word = word_of(c, send || !value_inline(c) ? elem : NULL);
    switch (slot_enter(c, send, elem, word)) {
    case ENTER_DONE:
        if (ok)
            *ok = true;
        return 0;
    case ENTER_OWNER:
        return slot_own(c, send, elem, ok, o);
    default:
        return HANDOFF_SLOW;
    }
}
