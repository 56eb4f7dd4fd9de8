/*
 * queue.c - the waiter queues of a channel (sendq, recvq), under its lock,
 * as in Go's runtime/chan.go: a blocked call queues one struct waiter per
 * case; a thread that can complete one claims its sel (claim_first_locked)
 * and finishes it. Settling moves values between a buffered channel's
 * ring and its queued waiters.
 */
#include <stdbool.h>
#include <stdint.h>

#include "chan_inlines.h"
#include "chan_internal.h"
#include "spinlock.h"

void enqueue_locked(struct queue *q, struct waiter *w)
{
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
    w->queued = true;
    /* seq_cst: ordered before the settle_locked that follows (Dekker). The
     * count of an unbuffered channel is read under the lock or after a
     * look at the lock (no_slot). Every write is under the lock, so a load
     * and a store suffice there. */
    if (w->chan->cap)
        __atomic_fetch_add(&q->n, 1, __ATOMIC_SEQ_CST);
    else
        __atomic_store_n(&q->n, __atomic_load_n(&q->n, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

void unlink_locked(struct queue *q, struct waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        q->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        q->tail = w->prev;
    w->queued = false;
    /* Every write of n is under the lock: no read-modify-write needed. */
    __atomic_store_n(&q->n, __atomic_load_n(&q->n, __ATOMIC_RELAXED) - 1, __ATOMIC_RELAXED);
}

/*
 * The oldest waiter of q whose call still waits, claimed (its sel is
 * CLAIMED; *prev is the state it had), or NULL. Waiters whose call was
 * completed elsewhere or cancelled are unlinked on the way.
 */
struct waiter *claim_first_locked(struct queue *q, uint32_t *prev)
{
    struct waiter *w;
    while ((w = q->head)) {
        uint32_t s = __atomic_load_n(&w->sel->state, __ATOMIC_ACQUIRE);
        if (s == SEL_WAITING || s == SEL_SLEEPING) {
            if (__atomic_compare_exchange_n(&w->sel->state, &s, SEL_CLAIMED, false,
                                            __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
                *prev = s;
                return w;
            }
        } else if (s == SEL_CLAIMED) {
            sp_cpu_relax(); /* another channel's lock holder; bounded */
        } else {
            unlink_locked(q, w);
        }
    }
    return NULL;
}

/* w was claimed but its operation could not be done: back as it was. */
static void unclaim(struct waiter *w, uint32_t prev)
{
    __atomic_store_n(&w->sel->state, prev, __ATOMIC_RELEASE);
}

/* w's operation is done with result ok: unlinked, and its owner told. */
void finish_locked(struct queue *q, struct waiter *w, uint32_t prev, bool ok,
                          struct wakeups *wk)
{
    unlink_locked(q, w);
    struct sel *s = w->sel;
    s->index = w->index;
    s->ok = ok;
    if (prev == SEL_SLEEPING)
        wake_later(wk, &s->state, registered_object(s));
    __atomic_store_n(&s->state, SEL_DONE, __ATOMIC_RELEASE); /* s may vanish now */
}

/*
 * Moves values between the ring and the waiters of a buffered channel until
 * no waiter can proceed: the ring's oldest values to the oldest waiting
 * receivers, the oldest waiting senders' values into free slots.
 */
void settle_locked(syncprof_chan *c, struct wakeups *wk)
{
    bool moved;
    do {
        moved = false;
        uint32_t prev;
        struct waiter *w;
        while (__atomic_load_n(&c->recvq.n, __ATOMIC_RELAXED) &&
               (w = claim_first_locked(&c->recvq, &prev))) {
            if (ring_locked(c, false, w->elem, w->thread) != RING_OK) {
                unclaim(w, prev);
                break;
            }
            finish_locked(&c->recvq, w, prev, true, wk);
            moved = true;
        }
        while (__atomic_load_n(&c->sendq.n, __ATOMIC_RELAXED) &&
               (w = claim_first_locked(&c->sendq, &prev))) {
            if (ring_locked(c, true, w->elem, w->thread) != RING_OK) {
                unclaim(w, prev);
                break;
            }
            finish_locked(&c->sendq, w, prev, true, wk);
            moved = true;
        }
    } while (moved);
}

/* A fast-path operation saw waiters on the other side: let them proceed. */
void settle(syncprof_chan *c)
{
    struct wakeups wk = { .n = 0 };
    sp_spin_lock(&c->lock);
    settle_locked(c, &wk);
    sp_spin_unlock(&c->lock);
    wake_now(&wk);
}
