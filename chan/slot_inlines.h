/*
 * slot_inlines.h - the hand-off slot of an unbuffered channel (see
 * slot.c): its states and the accessors every file that looks at it
 * uses.
 */
#ifndef SP_CHAN_SLOT_INLINES_H
#define SP_CHAN_SLOT_INLINES_H

#include <stdbool.h>
#include <stdint.h>

#include "chan_internal.h"
#include "spinlock.h"

enum slot_state {
    SLOT_FREE,
    SLOT_RECV_WAITING,  /* a receiver waits, spinning */
    SLOT_RECV_SLEEPING, /* ... in futex_wait on the state's low half, or about to be */
    SLOT_SEND_WAITING,
    SLOT_SEND_SLEEPING,
    SLOT_CLAIMED,       /* a partner is completing it (or an owner taking it back) */
    SLOT_DONE,          /* completed; the owner reads the result, then frees it */
    SLOT_DONE_CLOSED,   /* completed by close */
};

static inline uint32_t slot_waiting(bool send)
{
    return send ? SLOT_SEND_WAITING : SLOT_RECV_WAITING;
}

static inline uint64_t slot_state(syncprof_chan *c)
{
    return __atomic_load_n(&c->slot.h.state, __ATOMIC_ACQUIRE);
}

static inline uint64_t slot_value(syncprof_chan *c)
{
    return __atomic_load_n(&c->slot.h.value, __ATOMIC_RELAXED);
}

/* The futex word: the low half of the state. */
static inline uint32_t *slot_futex(syncprof_chan *c)
{
    return (uint32_t *)(void *)&c->slot.h.state + (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__);
}

/* Values of up to 8 bytes travel in the slot; larger ones are copied
 * between the two threads' buffers. */
static inline bool value_inline(const syncprof_chan *c)
{
    return c->elem_size <= sizeof c->slot.h.value;
}

/* A pause while another thread holds the slot CLAIMED: long enough for it
 * to finish without our reads taking the slot's line from it. */
static inline void backoff(void)
{
    for (int i = 0; i < 4; i++)
        sp_cpu_relax();
}

#endif /* SP_CHAN_SLOT_INLINES_H */
