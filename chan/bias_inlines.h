/*
 * bias_inlines.h - the bias's hot path: this thread's id, and whether it
 * holds the bias of a channel end (see bias.c), inlined into
 * every ring operation.
 */
#ifndef SP_CHAN_BIAS_INLINES_H
#define SP_CHAN_BIAS_INLINES_H

#include <stdbool.h>
#include <stdint.h>

#include "chan_internal.h"

#define BIAS_NONE 0u
#define BIAS_ANON (UINT32_MAX - 2) /* the id of threads past 2^32 - 4: never an owner */
#define BIAS_REVOKING (UINT32_MAX - 1)
#define BIAS_OFF UINT32_MAX

/* This thread's id for the bias: 1, 2, ... in the order threads first
 * use a channel, never reused. */
static inline uint32_t thread_id(void)
{
    uint32_t id = my_thread_id;
    if (__builtin_expect(id == 0, 0)) {
        uint64_t n = __atomic_fetch_add(&next_thread_id, 1, __ATOMIC_RELAXED);
        id = n < BIAS_ANON ? (uint32_t)n : BIAS_ANON;
        my_thread_id = id;
    }
    return id;
}

static inline struct bias *bias_of(syncprof_chan *c, bool send)
{
    return send ? &c->sendb : &c->recvb;
}

/* Whether this thread (id me) holds the bias of c's sending or receiving
 * end, taking or revoking it on first use. */
static ALWAYS_INLINE bool bias_held(syncprof_chan *c, bool send, uint32_t me)
{
    struct bias *b = bias_of(c, send);
    uint32_t o = __atomic_load_n(&b->owner, __ATOMIC_RELAXED);
    if (o == me)
        return true;
    if (o == BIAS_OFF)
        return false;
    return bias_take(c, b, me);
}

#endif /* SP_CHAN_BIAS_INLINES_H */
