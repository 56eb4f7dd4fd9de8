/*
 * chan_inlines.h - the small helpers every file of chan/ uses: futex
 * waits and wakes (a wake sets woke_partner, see wait_inlines.h), wakes
 * owed until a lock is released, deadlines, values copied without a call
 * for the common sizes, and a spin length's adaptation.
 */
#ifndef SP_CHAN_INLINES_H
#define SP_CHAN_INLINES_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "chan_internal.h"
#include "clock.h"
#include "futex.h"
#include "trace.h"

/* A trace shows the wake-up as an arrow from this thread to the waiters
 * registered on object (a channel, or the first channel of a select). */
static inline void futex_wake_one(const void *object, uint32_t *addr)
{
    woke_partner = true;
    if (sp_tracing())
        sp_trace_wake(object, SP_WAKE_CHAN);
    sp_futex_wake(addr, 1);
}

/* Sleeps while *addr == val, until the absolute CLOCK_MONOTONIC deadline
 * (NULL: none). false when the deadline passed. */
static inline bool futex_wait_until(uint32_t *addr, uint32_t val, const struct timespec *deadline)
{
    long r = sp_futex_wait_until(addr, val, deadline);
    return !(r == -1 && errno == ETIMEDOUT);
}

static inline void wake_later(struct wakeups *wk, uint32_t *addr, const void *object)
{
    if (wk->n == (int)(sizeof wk->addr / sizeof wk->addr[0])) {
        futex_wake_one(object, addr); /* rare (close): wake under the lock */
    } else {
        wk->object[wk->n] = object;
        wk->addr[wk->n++] = addr;
    }
}

static inline void wake_now(struct wakeups *wk)
{
    for (int i = 0; i < wk->n; i++)
        futex_wake_one(wk->object[i], wk->addr[i]);
    wk->n = 0;
}

static inline bool deadline_passed(const struct timespec *t)
{
    return t && sp_now_ns() >= (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static inline bool is_closed(const syncprof_chan *c)
{
    return __atomic_load_n(&c->enq, __ATOMIC_SEQ_CST) & 1;
}

static inline void zero(void *out, size_t n)
{
    if (out && n)
        memset(out, 0, n);
}

/* memcpy without a call for the common sizes. */
static inline void copy_value(void *dst, const void *src, size_t n)
{
    if (n == 8)
        memcpy(dst, src, 8);
    else if (n == 4)
        memcpy(dst, src, 4);
    else
        memcpy(dst, src, n);
}

static inline struct queue *queue_of(syncprof_chan *c, bool send)
{
    return send ? &c->sendq : &c->recvq;
}

static inline int adapt(int spins, bool worked, int min, int max)
{
    if (worked)
        return spins * 2 > max ? max : spins * 2;
    return spins / 2 < min ? min : spins / 2;
}

#endif /* SP_CHAN_INLINES_H */
