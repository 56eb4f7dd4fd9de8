/*
 * locked.c - one channel operation with the channel's lock held: done now
 * or EAGAIN. What select polls (and so every send or receive that left its
 * fast path): the slot, then the other side's queue, of an unbuffered
 * channel; the ring, by CAS on behalf of a thread, of a buffered one.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "bias_inlines.h"
#include "chan_inlines.h"
#include "chan_internal.h"
#include "ring_inlines.h"

/* A ring operation under c's lock on behalf of thread who: by CAS. */
enum ring_result ring_locked(syncprof_chan *c, bool send, void *elem, uint32_t who)
{
    bias_lock_out(c, send, who);
    return send ? ring_put(c, elem, true, false) : ring_get(c, elem, true, false);
}

/* 0 (sent, *ok true), 0 with *ok false (closed), or EAGAIN. */
int try_send_locked(syncprof_chan *c, const void *elem, bool *ok, struct wakeups *wk)
{
    *ok = false;
    if (is_closed(c))
        return 0;
    if (c->cap == 0) {
        if (slot_complete_locked(c, true, (void *)(uintptr_t)elem, wk)) {
            *ok = true;
            return 0;
        }
        uint32_t prev;
        struct waiter *w = claim_first_locked(&c->recvq, &prev);
        if (!w)
            return EAGAIN;
        if (w->elem && c->elem_size)
            memcpy(w->elem, elem, c->elem_size);
        finish_locked(&c->recvq, w, prev, true, wk);
        *ok = true;
        return 0;
    }
    enum ring_result r = ring_locked(c, true, (void *)(uintptr_t)elem, thread_id());
    if (r == RING_WOULD_BLOCK)
        return EAGAIN;
    if (r == RING_OK) {
        *ok = true;
        if (__atomic_load_n(&c->recvq.n, __ATOMIC_SEQ_CST))
            settle_locked(c, wk);
    }
    return 0;
}

/* 0 (received, *ok true), 0 with *ok false (closed and drained), or EAGAIN. */
int try_recv_locked(syncprof_chan *c, void *out, bool *ok, struct wakeups *wk)
{
    *ok = false;
    if (c->cap == 0) {
        if (slot_complete_locked(c, false, out, wk)) {
            *ok = true;
            return 0;
        }
        uint32_t prev;
        struct waiter *w = claim_first_locked(&c->sendq, &prev);
        if (w) {
            if (out && c->elem_size)
                memcpy(out, w->elem, c->elem_size);
            finish_locked(&c->sendq, w, prev, true, wk);
            *ok = true;
            return 0;
        }
        return is_closed(c) ? 0 : EAGAIN;
    }
    enum ring_result r = ring_locked(c, false, out, thread_id());
    if (r == RING_WOULD_BLOCK)
        return EAGAIN;
    if (r == RING_OK) {
        *ok = true;
        if (__atomic_load_n(&c->sendq.n, __ATOMIC_SEQ_CST))
            settle_locked(c, wk);
    }
    return 0;
}
