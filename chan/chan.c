/*
 * chan.c - Go-style channels and select (include/syncprof/chan.h), whose
 * blocking operations feed the block profile and the wait table. This
 * file owns the public operations (send, receive and their try and timed
 * forms, make, free, close, len, cap) and the buffered fast paths
 * (send_fast, recv_fast); the design below is the whole channel's.
 *
 * The files of chan/, one idea each:
 *   chan_internal.h   the data structures, tuning constants, and what one
 *                     file offers the others (chan_namespace.h: their
 *                     link names)
 *   chan_inlines.h    small helpers: futexes, owed wakes, copies
 *   ring_inlines.h    the lock-free ring of a buffered channel
 *   bias.c, bias_inlines.h   one sending and one receiving thread claim
 *                     ring positions without a CAS
 *   queue.c           the waiter queues, under the channel's lock
 *   slot.c, slot_inlines.h   unbuffered hand-offs without the lock
 *   locked.c          one operation with the lock held
 *   wait.c, wait_inlines.h   spinning, then sleeping as an observed wait
 *   select.c          select, the one blocking path of every call
 * The hot paths live in the *_inlines.h headers (as jemalloc keeps its
 * *_inlines.h), so that they inline into send_fast, recv_fast and handoff
 * across the split.
 *
 * Design. A channel has three parts:
 *   - the ring (buffered channels only): a bounded lock-free queue in the
 *     manner of D. Vyukov's MPMC ring. Each slot carries a sequence number:
 *     2p when it is free for the send at position p, 2p + 1 once that
 *     value is in it. A sender reserves p with a CAS on enq and publishes
 *     with seq = 2p + 1; a receiver reserves p with a CAS on deq and frees
 *     the slot with seq = 2(p + cap). (Doubling keeps "full at p" and "free
 *     for p + cap" apart when cap is 1.) The closed flag is bit 0 of enq, so a
 *     send and a close are ordered by one word and no value can enter the
 *     ring after the close.
 *   - the waiter queues (sendq, recvq) under the channel's spinlock, as in
 *     Go's runtime/chan.go. A thread that must wait puts one struct waiter
 *     per case on the queues; all waiters of one call share a struct sel,
 *     whose state word is claimed with a CAS by whichever thread completes
 *     the operation, who copies the value directly to or from the waiter
 *     (unbuffered hand-off) or between the ring and the waiter (buffered).
 *   - the slot (unbuffered channels only): one waiting plain send or
 *     receive, its state and value on the slot's line, completed by its
 *     partner with one CAS and no lock while nobody is queued (see
 *     slot.c). It is what makes an unbuffered hand-off cheap.
 *
 * Fast path (buffered): a send is one CAS on enq plus a copy and a release
 * store; a receive likewise on deq. The only sending thread and the only
 * receiving thread of a channel claim with a plain store instead (see
 * bias.c). Neither takes the lock unless the other side has waiters
 * (nrecvq / nsendq non-zero). The lost wake-up is
 * excluded as in Dekker's algorithm, by seq_cst operations on both sides:
 * a waiter increments its queue count and then, under the lock, looks at
 * the ring again (settle_locked); a fast-path operation does its CAS on
 * enq/deq and then loads the count. In the single total order of seq_cst
 * operations one of the two sees the other. (A plain claim has no such
 * order; the waiter's membarrier() stands in for it, see bias.c.)
 *
 * Select, timed and non-blocking unbuffered operations, and plain ones
 * that find a waiter queued, take the lock(s): select takes the locks of
 * all its channels in address order (as Go's sellock), polls the cases in a
 * random order (an unbuffered case looks in the slot, then the queue), and
 * registers on every channel only if none was ready. A thread never holds
 * one channel lock while taking another except in that sorted
 * acquisition, so there is no lock-order deadlock.
 *
 * Sel states: WAITING (spinning), SLEEPING (in futex_wait, or about to be),
 * CLAIMED (a thread holding the lock of one of its channels is completing or
 * trying to complete it: bounded, it never waits while claiming), DONE
 * (completed; index and ok written before), CANCELLED (deadline passed).
 * Only the owner moves WAITING <-> SLEEPING and to CANCELLED; only a claimer
 * moves to CLAIMED and from it (to DONE, or back when a fast-path thread
 * took the ring value first). A claimer meeting a CLAIMED sel spins: the
 * claim is bounded and its holder takes no lock while holding it.
 *
 * A queued call of one case keeps its sel, its waiter and a value of up to
 * 8 bytes together on one cache line (struct single): the completing thread
 * copies the value into or out of that line rather than the caller's
 * variable. The queue counts of an unbuffered channel, written only under
 * the lock, are kept without atomic read-modify-writes.
 *
 * Memory: struct sel and the waiters live on the waiting thread's stack.
 * Before returning, the owner unlinks every waiter still queued, under each
 * channel's lock; a claimer touches a sel only under the lock of a channel
 * it is queued on and before storing DONE, except for the futex wake,
 * which is harmless on a reused address (waiters re-check their state).
 *
 * Blocking and profiling: a waiting thread first spins (up to SPIN_WAIT
 * pause iterations, a few microseconds, then SPIN_YIELD sched_yields so
 * that the other side of a hand-off can run on a busy machine;
 * tests/bench/bench_chan.c guards the lengths), then sleeps as an
 * observed wait (src/observed_wait.h): registered in the wait table
 * ("chan send", "chan receive", "select"; the object is the channel, for
 * select the first non-NULL channel of the cases, or the case array when
 * there is none) with its registers saved for thread dumps, asleep on the
 * sel's (or the slot's) futex word, and reported to sp_block_event when
 * woken. Operations that never sleep read no clock and record nothing.
 * The library's internal synchronisation is atomics, the channel's
 * spinlock and futexes, never pthread locks.
 *
 * Errno is preserved by every public function of chan/.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <syncprof/chan.h>
#include <syncprof/syncprof.h>

#include "bias_inlines.h"
#include "chan_inlines.h"
#include "chan_internal.h"
#include "config.h"
#include "export.h"
#include "observed_wait.h"
#include "ring_inlines.h"
#include "slot_inlines.h"
#include "spinlock.h"

/* Links the environment's configuration into every program that uses a
 * channel (see sp_configure_from_environment in config.h). */
__attribute__((used)) static void (*const link_configuration)(void) = sp_configure_from_environment;

/* The slow path of a send: 0, EPIPE, EAGAIN or ETIMEDOUT. */
static int send_slow(syncprof_chan *c, const void *elem, const struct timespec *deadline,
                     bool nonblock, void *leaf, uintptr_t caller)
{
    int saved = errno;
    syncprof_select_case cs = { c, SYNCPROF_SELECT_SEND, (void *)(uintptr_t)elem, false };
    struct wait_desc o = { c, SP_WAIT_CHAN_SEND, leaf, caller };
    int r = select_run(&cs, 1, deadline, nonblock, &o);
    errno = saved;
    if (r < 0)
        return -r;
    return cs.ok ? 0 : EPIPE;
}

/* The slow path of a receive: 0, EAGAIN or ETIMEDOUT. */
static int recv_slow(syncprof_chan *c, void *out, bool *ok, const struct timespec *deadline,
                     bool nonblock, void *leaf, uintptr_t caller)
{
    int saved = errno;
    syncprof_select_case cs = { c, SYNCPROF_SELECT_RECV, out, false };
    struct wait_desc o = { c, SP_WAIT_CHAN_RECEIVE, leaf, caller };
    int r = select_run(&cs, 1, deadline, nonblock, &o);
    errno = saved;
    if (r < 0)
        return -r;
    if (ok)
        *ok = cs.ok;
    return 0;
}

/*
 * send_fast and recv_fast stay out of line (noinline), each the whole
 * ring path of one direction with ring_op inlined into it: inlined in
 * turn into syncprof_chan_send and syncprof_chan_recv, the same ring
 * instructions ran markedly slower in bench_chan's buffered SPSC
 * (docs/dev/channel-tuning.md). ab_chan.sh, with and without the
 * attribute, tells whether that still holds.
 */

/* A buffered send without the lock: 0, EPIPE, or EAGAIN (full). Lets
 * waiting receivers proceed. */
static __attribute__((noinline)) int send_fast(syncprof_chan *c, const void *elem, bool spin)
{
    enum ring_result r = ring_op(c, true, (void *)(uintptr_t)elem, spin);
    if (r == RING_OK) {
        if (__atomic_load_n(&c->recvq.n, __ATOMIC_SEQ_CST))
            settle(c);
        return 0;
    }
    return r == RING_CLOSED ? EPIPE : EAGAIN;
}

/* A buffered receive without the lock: 0, or EAGAIN (empty). Lets waiting
 * senders proceed. */
static __attribute__((noinline)) int recv_fast(syncprof_chan *c, void *out, bool *ok, bool spin)
{
    enum ring_result r = ring_op(c, false, out, spin);
    if (r == RING_WOULD_BLOCK)
        return EAGAIN;
    if (r == RING_OK && __atomic_load_n(&c->sendq.n, __ATOMIC_SEQ_CST))
        settle(c);
    if (r == RING_CLOSED)
        zero(out, c->elem_size);
    if (ok)
        *ok = r == RING_OK;
    return 0;
}

/* A macro, not a function: an inlined function at the entry would show as
 * the leaf frame of the samples. */
#define BAD_SEND(c, elem) (!(c) || (!(elem) && (c)->elem_size))

SP_PUBLIC int syncprof_chan_send(syncprof_chan *c, const void *elem)
{
    if (BAD_SEND(c, elem))
        return EINVAL;
    if (c->cap) {
        int r = send_fast(c, elem, true);
        if (r != EAGAIN)
            return r;
    } else {
        struct wait_desc o = { c, SP_WAIT_CHAN_SEND, LEAF(syncprof_chan_send), CALLER };
        int r = handoff(c, true, (void *)(uintptr_t)elem, NULL, &o);
        if (r != HANDOFF_SLOW)
            return r;
    }
    return send_slow(c, elem, NULL, false, LEAF(syncprof_chan_send), CALLER);
}

SP_PUBLIC int syncprof_chan_trysend(syncprof_chan *c, const void *elem)
{
    if (BAD_SEND(c, elem))
        return EINVAL;
    if (c->cap)
        return send_fast(c, elem, false);
    return send_slow(c, elem, NULL, true, NULL, 0);
}

SP_PUBLIC int syncprof_chan_timedsend(syncprof_chan *c, const void *elem,
                                      const struct timespec *deadline)
{
    if (BAD_SEND(c, elem) || !deadline || !sp_timespec_valid(deadline))
        return EINVAL;
    if (c->cap) {
        int r = send_fast(c, elem, true);
        if (r != EAGAIN)
            return r;
    }
    return send_slow(c, elem, deadline, false, LEAF(syncprof_chan_timedsend), CALLER);
}

SP_PUBLIC int syncprof_chan_recv(syncprof_chan *c, void *out, bool *ok)
{
    if (!c)
        return EINVAL;
    if (c->cap && recv_fast(c, out, ok, true) == 0)
        return 0;
    if (!c->cap) {
        struct wait_desc o = { c, SP_WAIT_CHAN_RECEIVE, LEAF(syncprof_chan_recv), CALLER };
        if (handoff(c, false, out, ok, &o) == 0)
            return 0;
    }
    return recv_slow(c, out, ok, NULL, false, LEAF(syncprof_chan_recv), CALLER);
}

SP_PUBLIC int syncprof_chan_tryrecv(syncprof_chan *c, void *out, bool *ok)
{
    if (!c)
        return EINVAL;
    if (c->cap)
        return recv_fast(c, out, ok, false);
    return recv_slow(c, out, ok, NULL, true, NULL, 0);
}

SP_PUBLIC int syncprof_chan_timedrecv(syncprof_chan *c, void *out, bool *ok,
                                      const struct timespec *deadline)
{
    if (!c || !deadline || !sp_timespec_valid(deadline))
        return EINVAL;
    if (c->cap && recv_fast(c, out, ok, true) == 0)
        return 0;
    return recv_slow(c, out, ok, deadline, false, LEAF(syncprof_chan_timedrecv), CALLER);
}

/* ---- Life cycle ------------------------------------------------------------ */

SP_PUBLIC syncprof_chan *syncprof_chan_make(size_t elem_size, size_t capacity)
{
    size_t stride = (8 + elem_size + 7) & ~(size_t)7;
    if (elem_size > SYNCPROF_CHAN_MAX_ELEM || capacity > MAX_BUFFER_BYTES / stride) {
        errno = EINVAL;
        return NULL;
    }
    syncprof_chan *c = aligned_alloc(64, sizeof *c);
    if (!c) {
        errno = ENOMEM;
        return NULL;
    }
    memset(c, 0, sizeof *c);
    c->elem_size = elem_size;
    c->cap = capacity;
    c->stride = stride;
    c->mask = (capacity & (capacity - 1)) == 0 && capacity ? capacity - 1 : 0;
    if (capacity) {
        c->slots = aligned_alloc(64, (capacity * stride + 63) & ~(size_t)63);
        if (!c->slots) {
            free(c);
            errno = ENOMEM;
            return NULL;
        }
        for (size_t i = 0; i < capacity; i++)
            *slot_seq(c->slots + i * stride) = 2 * i;
    }
    /* Published to other threads by whatever hands them the pointer. */
    return c;
}

SP_PUBLIC int syncprof_chan_free(syncprof_chan *c)
{
    if (!c)
        return EINVAL;
    sp_spin_lock(&c->lock);
    /* A slot being completed, or whose owner is returning, is settled in
     * a few instructions; a slot that waits makes the channel busy. */
    uint64_t st;
    while ((st = slot_state(c)) >= SLOT_CLAIMED)
        sp_cpu_relax();
    bool busy = c->sendq.n || c->recvq.n || st != SLOT_FREE;
    sp_spin_unlock(&c->lock);
    if (busy)
        return EBUSY;
    int saved = errno;
    syncprof_set_name(c, NULL); /* a later object at this address starts unnamed */
    free(c->slots);
    free(c);
    errno = saved;
    return 0;
}

SP_PUBLIC int syncprof_chan_close(syncprof_chan *c)
{
    if (!c)
        return EINVAL;
    struct wakeups wk = { .n = 0 };
    int saved = errno;
    sp_spin_lock(&c->lock);
    bias_lock_out(c, true, thread_id()); /* enq is written below */
    uint64_t e = __atomic_fetch_or(&c->enq, 1, __ATOMIC_SEQ_CST);
    if (!(e & 1)) {
        __atomic_store_n(&c->closed, 1, __ATOMIC_SEQ_CST);
        if (c->cap)
            settle_locked(c, &wk); /* buffered values to waiting receivers first */
        else
            slot_close_locked(c, &wk);
        uint32_t prev;
        struct waiter *w;
        while ((w = claim_first_locked(&c->recvq, &prev)))
            finish_locked(&c->recvq, w, prev, false, &wk);
        while ((w = claim_first_locked(&c->sendq, &prev)))
            finish_locked(&c->sendq, w, prev, false, &wk);
    }
    sp_spin_unlock(&c->lock);
    wake_now(&wk);
    errno = saved;
    return (e & 1) ? EPIPE : 0;
}

SP_PUBLIC size_t syncprof_chan_len(syncprof_chan *c)
{
    if (!c || !c->cap)
        return 0;
    uint64_t d = __atomic_load_n(&c->deq, __ATOMIC_ACQUIRE);
    uint64_t e = __atomic_load_n(&c->enq, __ATOMIC_ACQUIRE) >> 1;
    if (e <= d)
        return 0;
    return e - d > c->cap ? c->cap : (size_t)(e - d);
}

SP_PUBLIC size_t syncprof_chan_cap(syncprof_chan *c)
{
    return c ? c->cap : 0;
}
