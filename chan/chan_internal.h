/*
 * chan_internal.h - the channel's data structures (struct syncprof_chan,
 * its ring, slot and waiter queues, a blocked call's sel and waiters), its
 * tuning constants and per-thread spin state, and what each file of chan/
 * offers the others. The design is in chan.c's top comment; each idea's
 * own file says the rest.
 */
#ifndef SP_CHAN_INTERNAL_H
#define SP_CHAN_INTERNAL_H

#include "chan_namespace.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <syncprof/chan.h>

#include "export.h"
#include "spinlock.h"
#include "wait_table.h"

/* What this header declares is hidden like every definition of the
 * library (-fvisibility=hidden), and declared so, so that the code using
 * it calls and loads it directly, not through the GOT. */
#pragma GCC visibility push(hidden)

/* For the hot paths of the *_inlines.h headers (ring_op, ring_put,
 * ring_get, bias_held), which send_fast and recv_fast specialise by
 * direction: left to itself GCC keeps them out of line, and bench_chan's
 * buffered SPSC (or ab_chan.sh) shows the cost of the calls. */
#define ALWAYS_INLINE inline __attribute__((always_inline))

/* Pause iterations a waiter spins on its state before sleeping, and ring
 * polls a buffered operation makes before it queues: a few microseconds,
 * enough for the other side of a hand-off on another core (bench_chan). */
#define SPIN_WAIT 500
#define SPIN_YIELD 2
#define SPIN_RING 128
/* Pauses between two looks at a full or empty ring: looking less often
 * leaves the other side the slot lines it is filling or draining, so it
 * moves several values per cache line transfer (bench_chan's buffered
 * SPSC guards the count). */
#define RING_PAUSE 16
#define SPIN_MIN 8
/* Polls of a taken slot before an unbuffered operation queues instead. */
#define SPIN_SLOT 8
#define SPIN_SLOT_MIN 1

/*
 * Spinning only pays when the other side runs on another core meanwhile.
 * Each thread adapts its three spin lengths (a waiter's, a ring poller's,
 * a taken slot's poller's), as glibc's adaptive mutexes do: a spin that
 * ended in success doubles the next one (up to the maximum), a spin that
 * ended in sleeping (or yielding, or queueing) anyway halves it, so on a
 * machine whose cores are busy the threads soon stop burning the time
 * their partner needs.
 */
extern SP_TLS int wait_spins;
extern SP_TLS int ring_spins;
extern SP_TLS int slot_spins;

/*
 * A thread that has just woken a sleeping partner spins longer in its
 * next wait: up to SPIN_AFTER_WAKE pauses (tens of microseconds) instead
 * of its adapted length. The partner it woke takes a futex wake-up's
 * latency to come back (long where an idle virtual CPU halts), and it is
 * the partner, most often, that this thread waits for next. Without the
 * long spin, that wait runs out and sleeps too, so the partner wakes it
 * in turn: two threads handing off through an unbuffered channel fall
 * into a chain of sleeps, each hand-off paying a wake-up, for thousands
 * of hand-offs at a time. ab_chan.sh's sleeps per round (unbuffered SPSC,
 * ping-pong) show such a chain if it comes back. Its length adapts in
 * every wait that follows a wake-up, as the others do: a thread whose
 * partner stays busy for long after each wake-up (a slow consumer) soon
 * stops paying it, and takes it up again once such spins pay.
 */
#define SPIN_AFTER_WAKE 4000
extern SP_TLS int wake_spins;
extern SP_TLS bool woke_partner;

/* One CAS for a slot's state and value together: x86-64 with cmpxchg16b
 * (-mcx16), except under ThreadSanitizer, which checks the two-step way
 * (claim, copy, store) that every other machine uses. */
#if defined(__x86_64__) && defined(__GCC_HAVE_SYNC_COMPARE_AND_SWAP_16) && \
    !defined(__SANITIZE_THREAD__)
#define SLOT_CAS16 1
#else
#define SLOT_CAS16 0
#endif

#define MAX_CASES 65536
#define STACK_CASES 64
#define MAX_BUFFER_BYTES (1ULL << 40)

/* ---- Types ---------------------------------------------------------------- */

enum sel_state { SEL_WAITING, SEL_SLEEPING, SEL_CLAIMED, SEL_DONE, SEL_CANCELLED };

/* One blocked call (a send, a receive or a whole select). */
struct sel {
    uint32_t state;  /* enum sel_state; futex word; atomic */
    uint16_t index;  /* the case that proceeded (< MAX_CASES); written by the claimer before DONE */
    bool ok;         /* that case's result; likewise */
};

/* One case of a blocked call, queued on its channel. */
struct waiter {
    struct waiter *prev, *next;  /* in the channel's queue; under its lock */
    struct sel *sel;             /* never changes */
    syncprof_chan *chan;         /* never changes */
    void *elem;                  /* send: the value; receive: where it goes (may be NULL) */
    uint32_t thread;             /* the waiting thread's bias id (thread_id); never changes */
    uint16_t index;              /* the case's index (< MAX_CASES); never changes */
    bool queued;                 /* linked; under the channel's lock */
    bool send;                   /* never changes */
};

/*
 * A call with one case (every send and receive): its sel, its waiter and,
 * for values of at most 8 bytes, the value itself on one cache line, so a
 * hand-off moves one line of the waiting thread's to the completing one
 * and back instead of three. Every blocking call's sel is one of these
 * (select_run): a call of several cases, which leaves w unused, keeps in
 * w.chan the object its wait is registered on, as a call of one case has
 * it there anyway, so that whoever completes a case can draw a trace's
 * arrow to the wait (registered_object).
 */
#define INLINE_ELEM 8
struct single {
    struct sel s;
    struct waiter w;
    unsigned char buf[INLINE_ELEM]; /* the value, when w.elem points here */
} __attribute__((aligned(64)));
_Static_assert(sizeof(struct single) == 64, "struct single is one cache line");

/* The object the call owning s registered its wait on (see struct single). */
static inline const void *registered_object(const struct sel *s)
{
    return ((const struct single *)(const void *)s)->w.chan;
}

/*
 * The hand-off slot of an unbuffered channel (see slot.c): a state
 * and a value, updated together by one 16-byte CAS where the machine has
 * one.
 */
struct slot {
    union {
        struct {
            uint64_t state; /* enum slot_state; its low half is a futex word */
            uint64_t value; /* a value of up to 8 bytes, or the owner's buffer's address */
        } h;
#if SLOT_CAS16
        unsigned __int128 both;
#endif
    };
} __attribute__((aligned(16)));

/* One end of a ring: the thread it is biased to, and that thread's flag
 * while it claims (see bias.c). */
struct bias {
    uint32_t owner; /* a thread id, or BIAS_NONE, BIAS_REVOKING, BIAS_OFF; atomic */
    uint32_t busy;  /* 1 while the owner claims; written by the owner only; atomic */
};

struct queue {
    struct waiter *head, *tail;  /* under the channel's lock */
    uint32_t n;                  /* waiters linked; written under the lock, read anywhere */
};

/*
 * Layout: the fields that never change, then the sender's word, the
 * receiver's word and the slow-path state each on its own cache line, so a
 * producer and a consumer on two cores write disjoint lines except for the
 * slots they hand over.
 */
struct syncprof_chan {
    size_t elem_size;         /* never changes */
    size_t cap;               /* never changes; 0: unbuffered */
    size_t stride;            /* bytes per slot: seq word + element, 8-aligned */
    uint64_t mask;            /* cap - 1 when cap is a power of two, else 0 */
    unsigned char *slots;     /* cap slots; never changes */

    uint64_t enq __attribute__((aligned(64)));  /* (next send position << 1) | closed; atomic */
    struct bias sendb;        /* the senders' end's bias (see bias.c) */
    uint64_t deq __attribute__((aligned(64)));  /* next receive position; atomic */
    struct bias recvb;        /* the receivers' end's bias */

    /* The slot's line: the hand-off slot, and a copy of enq's closed bit
     * that the slot's registrants and a spinning ring operation read
     * without touching the senders' line. */
    uint32_t closed __attribute__((aligned(64)));  /* 1 once closed (under the lock); atomic */
    struct slot slot;         /* see slot.c */

    /* The lock and what it guards, on a line of their own: a lock holder
     * under contention works on one line, as in Go's hchan. Taking the
     * lock is seq_cst: see slot.c for why a holder's later look at the
     * slot cannot miss a registration. */
    sp_spinlock lock __attribute__((aligned(64)));
    struct queue sendq;       /* blocked senders; under lock */
    struct queue recvq;       /* blocked receivers; under lock */
};

/* Futex wakes owed once the lock is released, each with the object its
 * waiter's wait is registered on, for a trace's arrow. */
struct wakeups {
    int n;
    uint32_t *addr[4];
    const void *object[4];
};

enum ring_result { RING_OK, RING_WOULD_BLOCK, RING_CLOSED };

/* What a channel wait is, for the profiler: the object and reason it is
 * registered with, and the leaf and caller of its block sample. */
struct wait_desc {
    const void *object;
    enum sp_wait_reason reason;
    void *leaf;
    uintptr_t caller;
};

/* ---- What one file offers the others -------------------------------------- */

/* bias.c: the bias (see its top comment). */
bool bias_take(syncprof_chan *c, struct bias *b, uint32_t me);
void bias_lock_out(syncprof_chan *c, bool send, uint32_t who);
bool bias_needs_fence(syncprof_chan *c, bool send, uint32_t me);
void membarrier_all(void);
extern uint64_t next_thread_id;
extern SP_TLS uint32_t my_thread_id;

/* queue.c: the waiter queues, under the channel's lock. */
void enqueue_locked(struct queue *q, struct waiter *w);
void unlink_locked(struct queue *q, struct waiter *w);
struct waiter *claim_first_locked(struct queue *q, uint32_t *prev);
void finish_locked(struct queue *q, struct waiter *w, uint32_t prev, bool ok, struct wakeups *wk);
void settle_locked(syncprof_chan *c, struct wakeups *wk);
void settle(syncprof_chan *c);

/* slot.c: the unbuffered hand-off slot. */
#define HANDOFF_SLOW (-1)
int handoff(syncprof_chan *c, bool send, void *elem, bool *ok, const struct wait_desc *o);
bool slot_complete_locked(syncprof_chan *c, bool send, void *elem, struct wakeups *wk);
void slot_close_locked(syncprof_chan *c, struct wakeups *wk);

/* locked.c: one operation with the lock held. */
enum ring_result ring_locked(syncprof_chan *c, bool send, void *elem, uint32_t who);
int try_send_locked(syncprof_chan *c, const void *elem, bool *ok, struct wakeups *wk);
int try_recv_locked(syncprof_chan *c, void *out, bool *ok, struct wakeups *wk);

/* wait.c: sleeping. */
bool sleep_until_done(struct sel *s, const struct timespec *deadline);
void slot_sleep(syncprof_chan *c, uint64_t mine);

/* select.c: every blocking path. */
int select_run(syncprof_select_case *cases, size_t n, const struct timespec *deadline,
               bool nonblock, const struct wait_desc *o);

#pragma GCC visibility pop

#endif /* SP_CHAN_INTERNAL_H */
