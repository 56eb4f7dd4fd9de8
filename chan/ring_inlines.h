/*
 * ring_inlines.h - the ring of a buffered channel, lock-free: putting a
 * value in and taking one out (ring_put, ring_get), by CAS or, for the
 * thread holding an end's bias, by a plain store (ring_try), and the
 * polling of a full or empty ring before a call queues (ring_op). All of
 * it is inlined into send_fast and recv_fast (chan.c), each specialised
 * by direction; bench_chan's buffered SPSC and MPMC exercise it. The
 * ring's layout and protocol are in chan.c's top comment.
 */
#ifndef SP_CHAN_RING_INLINES_H
#define SP_CHAN_RING_INLINES_H

#include <stdbool.h>
#include <stdint.h>

#include "bias_inlines.h"
#include "chan_inlines.h"
#include "chan_internal.h"
#include "spinlock.h"

/* Moves a position word from *seen to next: a CAS (false, *seen
 * reloaded, if another thread moved it first), or a store when the caller
 * is the only one that moves it (plain). */
static inline bool claim(uint64_t *word, uint64_t *seen, uint64_t next, bool plain)
{
    if (plain) {
        __atomic_store_n(word, next, __ATOMIC_RELAXED);
        return true;
    }
    return __atomic_compare_exchange_n(word, seen, next, false, __ATOMIC_SEQ_CST,
                                       __ATOMIC_RELAXED);
}

static inline unsigned char *slot_at(const syncprof_chan *c, uint64_t pos)
{
    uint64_t i = c->mask ? (pos & c->mask) : (pos % c->cap);
    return c->slots + i * c->stride;
}

static inline uint64_t *slot_seq(unsigned char *slot)
{
    return (uint64_t *)(void *)slot;
}

/*
 * Puts the value at elem into the ring. RING_WOULD_BLOCK when it is full
 * (the decision is taken on a seq_cst load of deq, see chan.c's top
 * comment), RING_CLOSED when the channel is closed. With exact false, a
 * look while spinning: RING_WOULD_BLOCK as soon as the next slot is not
 * free, without reading deq, the receivers' line. plain: the caller holds the senders'
 * bias and claims with a store (see bias.c).
 */
static ALWAYS_INLINE enum ring_result ring_put(syncprof_chan *c, const void *elem, bool exact,
                                       bool plain)
{
    uint64_t e = __atomic_load_n(&c->enq, __ATOMIC_RELAXED);
    for (;;) {
        if (e & 1)
            return RING_CLOSED;
        uint64_t pos = e >> 1;
        unsigned char *s = slot_at(c, pos);
        uint64_t seq = __atomic_load_n(slot_seq(s), __ATOMIC_ACQUIRE);
        if (seq == 2 * pos) {
            if (claim(&c->enq, &e, e + 2, plain)) {
                if (c->elem_size)
                    copy_value(s + 8, elem, c->elem_size);
                __atomic_store_n(slot_seq(s), 2 * pos + 1, __ATOMIC_RELEASE);
                return RING_OK;
            }
            continue; /* e was reloaded by the failed CAS */
        }
        if ((int64_t)(seq - 2 * pos) < 0) {
            /* The slot still holds the value of the previous lap: the ring is
             * full, or that value's receiver is copying it out. */
            if (!exact)
                return RING_WOULD_BLOCK;
            uint64_t d = __atomic_load_n(&c->deq, __ATOMIC_SEQ_CST);
            uint64_t e2 = __atomic_load_n(&c->enq, __ATOMIC_SEQ_CST);
            if (e2 == e && pos - d >= c->cap)
                return RING_WOULD_BLOCK;
            if (e2 == e)
                sp_cpu_relax();
            e = e2;
            continue;
        }
        e = __atomic_load_n(&c->enq, __ATOMIC_RELAXED);
    }
}

/*
 * Takes the oldest value out of the ring into out (NULL: dropped).
 * RING_WOULD_BLOCK when it is empty, RING_CLOSED when it is empty and the
 * channel closed (decided on a seq_cst load of enq). With exact false, a
 * look while spinning: RING_WOULD_BLOCK as soon as the next slot is not
 * filled, without reading enq, the senders' line. plain: as for ring_put.
 */
static ALWAYS_INLINE enum ring_result ring_get(syncprof_chan *c, void *out, bool exact, bool plain)
{
    uint64_t pos = __atomic_load_n(&c->deq, __ATOMIC_RELAXED);
    for (;;) {
        unsigned char *s = slot_at(c, pos);
        uint64_t seq = __atomic_load_n(slot_seq(s), __ATOMIC_ACQUIRE);
        int64_t dif = (int64_t)(seq - (2 * pos + 1));
        if (dif == 0) {
            if (claim(&c->deq, &pos, pos + 1, plain)) {
                if (out && c->elem_size)
                    copy_value(out, s + 8, c->elem_size);
                __atomic_store_n(slot_seq(s), 2 * (pos + c->cap), __ATOMIC_RELEASE);
                return RING_OK;
            }
            continue;
        }
        if (dif < 0) {
            /* Not filled for this lap: empty, or its sender is copying in. */
            if (!exact)
                return RING_WOULD_BLOCK;
            uint64_t e = __atomic_load_n(&c->enq, __ATOMIC_SEQ_CST);
            uint64_t p2 = __atomic_load_n(&c->deq, __ATOMIC_RELAXED);
            if (p2 == pos && (e >> 1) == pos)
                return (e & 1) ? RING_CLOSED : RING_WOULD_BLOCK;
            if (p2 == pos)
                sp_cpu_relax();
            pos = p2;
            continue;
        }
        pos = __atomic_load_n(&c->deq, __ATOMIC_RELAXED);
    }
}

/* A ring operation by this thread without the lock: with a plain claim when
 * it holds the end's bias (bias_id its id, else 0), inside the busy flag. */
static ALWAYS_INLINE enum ring_result ring_try(syncprof_chan *c, bool send, void *elem, bool exact,
                                        uint32_t bias_id)
{
    if (!bias_id)
        return send ? ring_put(c, elem, exact, false) : ring_get(c, elem, exact, false);
    struct bias *b = bias_of(c, send);
    __atomic_store_n(&b->busy, 1, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST); /* the CPU's order: membarrier in bias_revoke */
    bool plain = __atomic_load_n(&b->owner, __ATOMIC_RELAXED) == bias_id;
    enum ring_result r =
        send ? ring_put(c, elem, exact, plain) : ring_get(c, elem, exact, plain);
    __atomic_store_n(&b->busy, 0, __ATOMIC_RELEASE);
    return r;
}

/*
 * One ring operation and, if it would block and spin is set, more looks
 * for as long as this thread's ring spin lasts. The looks read only the
 * next slot (and the closed flag): the exact decision, which reads the
 * other side's position word and so takes its cache line away while it
 * works, is made once, after the spin (bench_chan's buffered SPSC guards
 * this).
 */
static ALWAYS_INLINE enum ring_result ring_op(syncprof_chan *c, bool send, void *elem, bool spin)
{
    uint32_t me = thread_id();
    uint32_t bias_id = bias_held(c, send, me) ? me : 0;
    if (spin) {
        int spins = ring_spins;
        for (int i = 0; i <= spins; i++) {
            if (i)
                for (int k = 0; k < RING_PAUSE; k++)
                    sp_cpu_relax();
            enum ring_result r = ring_try(c, send, elem, false, bias_id);
            if (r != RING_WOULD_BLOCK) {
                if (i)
                    ring_spins = adapt(spins, true, SPIN_MIN, SPIN_RING);
                return r;
            }
            if (__atomic_load_n(&c->closed, __ATOMIC_RELAXED))
                break;
        }
        ring_spins = adapt(spins, false, SPIN_MIN, SPIN_RING);
    }
    return ring_try(c, send, elem, true, bias_id);
}

#endif /* SP_CHAN_RING_INLINES_H */
