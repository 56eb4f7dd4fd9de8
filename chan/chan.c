/*
 * chan.c - Go-style channels and select (include/syncprof/chan.h), whose
 * blocking operations feed the block profile and the wait table.
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
 *     partner with one CAS and no lock while nobody is queued (see "The
 *     slot" below). It is what makes an unbuffered hand-off cheap.
 *
 * Fast path (buffered): a send is one CAS on enq plus a copy and a release
 * store; a receive likewise on deq. The only sending thread and the only
 * receiving thread of a channel claim with a plain store instead (see "The
 * bias"). Neither takes the lock unless the other side has waiters
 * (nrecvq / nsendq non-zero). The lost wake-up is
 * excluded as in Dekker's algorithm, by seq_cst operations on both sides:
 * a waiter increments its queue count and then, under the lock, looks at
 * the ring again (settle_locked); a fast-path operation does its CAS on
 * enq/deq and then loads the count. In the single total order of seq_cst
 * operations one of the two sees the other. (A plain claim has no such
 * order; the waiter's membarrier() stands in for it, see "The bias".)
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
 * Blocking and profiling: a waiting thread first spins (SPIN_WAIT pause
 * iterations, about 7 us here, then SPIN_YIELD sched_yields so that the
 * other side of a hand-off can run on a busy machine; chosen with
 * tests/bench/bench_chan.c on 2 cores), then reads the clock, registers in the wait table ("chan
 * send", "chan receive", "select"; the object is the channel, for select
 * the first non-NULL channel of the cases, or the case array when there is
 * none), sleeps on the sel's (or the slot's) futex word and, when woken,
 * reports the sleep to sp_block_event. Operations that never sleep read no clock and record
 * nothing. The library's internal synchronisation is atomics, the
 * channel's spinlock and futexes, never pthread locks.
 *
 * Errno is preserved by every function here.
 */
#include <errno.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <syncprof/chan.h>
#include <syncprof/syncprof.h>

#include "clock.h"
#include "config.h"
#include "export.h"
#include "futex.h"
#include "observed_wait.h"
#include "sampling.h"
#include "spinlock.h"
#include "trace.h"
#include "wait_table.h"

/* Links the environment's configuration into every program that uses a
 * channel (see sp_configure_from_environment in config.h). */
__attribute__((used)) static void (*const link_configuration)(void) = sp_configure_from_environment;

/* For the ring's fast path, which is specialised by direction in send_fast
 * and recv_fast. Left to itself GCC keeps ring_op, ring_put and ring_get
 * out of line since the bias came in: buffered SPSC medians 33.1 against
 * 20.5 ns (10 alternating runs of 3 rounds). */
#define ALWAYS_INLINE inline __attribute__((always_inline))

/* Pause iterations a waiter spins on its state before sleeping, and ring
 * polls a buffered operation makes before it queues: a few microseconds,
 * enough for the other side of a hand-off on another core (bench_chan). */
#define SPIN_WAIT 500
#define SPIN_YIELD 2
#define SPIN_RING 128
/* Pauses between two looks at a full or empty ring: looking less often
 * leaves the other side the slot lines it is filling or draining, so it
 * moves several values per cache line transfer (bench_chan: buffered
 * SPSC 30-40% faster than one pause). */
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
static SP_TLS int wait_spins = SPIN_WAIT;
static SP_TLS int ring_spins = SPIN_RING;
static SP_TLS int slot_spins = SPIN_SLOT;

/*
 * A thread that has just woken a sleeping partner spins longer in its
 * next wait: up to SPIN_AFTER_WAKE pauses (about 65 us here) instead of
 * its adapted length. The partner it woke takes a futex wake-up's latency
 * to come back (25 us by median on this virtual machine, where an idle
 * vCPU halts), and it is the partner, most often, that this thread waits
 * for next. Without the long spin, that wait ran out and slept too, so
 * the partner woke it in turn: two threads handing off through an
 * unbuffered channel fell into a chain of sleeps, each hand-off paying a
 * wake-up, for thousands of hand-offs at a time (counted: up to 7,000
 * sleeps in a round of 300,000 hand-offs, which then took 1.7 times as
 * long; with the long spin, under 20). Its length adapts in every wait
 * that follows a wake-up, as the others do: a thread whose partner stays
 * busy for long after each wake-up (a slow consumer) soon stops paying
 * it, and takes it up again once such spins pay.
 */
#define SPIN_AFTER_WAKE 4000
static SP_TLS int wake_spins = SPIN_AFTER_WAKE;
static SP_TLS bool woke_partner;

static int adapt(int spins, bool worked, int min, int max)
{
    if (worked)
        return spins * 2 > max ? max : spins * 2;
    return spins / 2 < min ? min : spins / 2;
}

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

/* ---- Types -------------------------------------------------------------- */

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
 * and back instead of three.
 */
#define INLINE_ELEM 8
struct single {
    struct sel s;
    struct waiter w;
    unsigned char buf[INLINE_ELEM]; /* the value, when w.elem points here */
} __attribute__((aligned(64)));
_Static_assert(sizeof(struct single) == 64, "struct single is one cache line");

/*
 * The hand-off slot of an unbuffered channel (see "The slot"): a state
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
 * while it claims (see "The bias"). */
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
    struct bias sendb;        /* the senders' end's bias (see "The bias") */
    uint64_t deq __attribute__((aligned(64)));  /* next receive position; atomic */
    struct bias recvb;        /* the receivers' end's bias */

    /* The slot's line: the hand-off slot, and a copy of enq's closed bit
     * that the slot's registrants and a spinning ring operation read
     * without touching the senders' line. */
    uint32_t closed __attribute__((aligned(64)));  /* 1 once closed (under the lock); atomic */
    struct slot slot;         /* see "The slot" */

    /* The lock and what it guards, on a line of their own: a lock holder
     * under contention works on one line, as in Go's hchan. Taking the
     * lock is seq_cst: see "The slot" for why a holder's later look at the
     * slot cannot miss a registration. */
    sp_spinlock lock __attribute__((aligned(64)));
    struct queue sendq;       /* blocked senders; under lock */
    struct queue recvq;       /* blocked receivers; under lock */
};

/* Futex wakes owed once the lock is released. */
struct wakeups {
    int n;
    uint32_t *addr[4];
    const syncprof_chan *chan; /* the channel of the waiters woken, for a trace; NULL: several */
};

/* ---- Futexes and small helpers ---------------------------------------- */

/* A trace shows the wake-up as an arrow from this thread to the waiter on
 * chan (NULL: unknown, no arrow). */
static void futex_wake_one(const syncprof_chan *chan, uint32_t *addr)
{
    woke_partner = true;
    if (chan && sp_tracing())
        sp_trace_wake(chan, SP_WAKE_CHAN);
    sp_futex_wake(addr, 1);
}

/* Sleeps while *addr == val, until the absolute CLOCK_MONOTONIC deadline
 * (NULL: none). false when the deadline passed. */
static bool futex_wait_until(uint32_t *addr, uint32_t val, const struct timespec *deadline)
{
    long r = sp_futex_wait_until(addr, val, deadline);
    return !(r == -1 && errno == ETIMEDOUT);
}

static void wake_later(struct wakeups *wk, uint32_t *addr)
{
    if (wk->n == (int)(sizeof wk->addr / sizeof wk->addr[0]))
        futex_wake_one(wk->chan, addr); /* rare (close): wake under the lock */
    else
        wk->addr[wk->n++] = addr;
}

static void wake_now(struct wakeups *wk)
{
    for (int i = 0; i < wk->n; i++)
        futex_wake_one(wk->chan, wk->addr[i]);
    wk->n = 0;
}

static bool deadline_passed(const struct timespec *t)
{
    return t && sp_now_ns() >= (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static bool is_closed(const syncprof_chan *c)
{
    return __atomic_load_n(&c->enq, __ATOMIC_SEQ_CST) & 1;
}

static void zero(void *out, size_t n)
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

/* ---- Keeping out of the slot ------------------------------------------------ */

/* Whether a call must keep out of the slot (see "The slot"): the lock is
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

/* ---- The bias: one sending and one receiving thread claim without a CAS --- */

/*
 * The CAS that claims a ring position is most of the cost of a buffered
 * operation between two threads: a locked instruction waits until this
 * thread's earlier stores have left its store buffer, among them the
 * previous slot's sequence number, whose line the other side is reading
 * (bench_floor: 23.6 ns a message with the CAS, 14.1 without). Most
 * channels have one sending and one receiving thread, so each end of the
 * ring (the senders' position word, the receivers') is biased to the first
 * thread that uses it, as the JVM biases a lock to its first user: while
 * no other thread uses that end, its owner claims with a plain store.
 *
 * The owner brackets each look at the ring with the end's busy flag: busy
 * = 1, then it reads the owner word again and claims plainly only if that
 * still names it. Any other thread that wants the end revokes the bias for
 * good: owner = REVOKING, membarrier(2), wait until busy is 0, owner = OFF;
 * from then on every thread claims by CAS. membarrier() makes each running
 * thread of the process execute a full barrier, so either the owner's busy
 * = 1 is visible to the revoker or the owner's second read sees REVOKING.
 * The owner pays no fence; the revoker pays a system call (2 us here), once
 * per channel end.
 *
 * The same asymmetry stands in for the fence of the waiter check (see the
 * file comment on Dekker): a plain claim is no locked instruction, so the
 * owner's later load of the other side's queue count may be served before
 * its claim is visible. A thread that queues on a buffered channel whose
 * other end is biased to another thread therefore calls membarrier() after
 * it increments the count and before it looks at the ring again.
 *
 * Who else may claim by CAS while an end is biased: only a thread holding
 * the channel's lock, on behalf of the owner itself (its own locked
 * operation, or its queued waiter, whose owner cannot be claiming while it
 * waits for that very operation). An end without owner stays so while the
 * lock is held, because a bias is taken under the lock. Every other claim
 * revokes first (bias_lock_out).
 *
 * Where membarrier() is missing or denied, no end is ever biased. Channel
 * operations were never async-signal-safe (the lock), and the bias relies
 * on that too: a signal handler of the owner must not use the channel.
 */
#define BIAS_NONE 0u
#define BIAS_ANON (UINT32_MAX - 2) /* the id of threads past 2^32 - 4: never an owner */
#define BIAS_REVOKING (UINT32_MAX - 1)
#define BIAS_OFF UINT32_MAX

static uint64_t next_thread_id = 1; /* atomic */
static SP_TLS uint32_t my_thread_id;

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

static long membarrier(int cmd)
{
    return syscall(SYS_membarrier, cmd, 0, 0);
}

/* 0 not tried yet, 1 registered for private expedited membarriers, -1
 * unavailable (an old kernel, or a seccomp filter); atomic. */
static int membarrier_state;

static bool membarrier_usable(void)
{
    int st = __atomic_load_n(&membarrier_state, __ATOMIC_ACQUIRE);
    if (st == 0) {
        int saved = errno;
        st = membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0 ? 1 : -1;
        errno = saved;
        __atomic_store_n(&membarrier_state, st, __ATOMIC_RELEASE);
    }
    return st > 0;
}

/* Registration takes 1-2 us while the process has one thread, but 6-10 ms
 * once it has several (the kernel waits for an RCU grace period): so it is
 * done when the library is loaded, not at the first channel operation. */
__attribute__((constructor)) static void register_membarrier_at_load(void)
{
    membarrier_usable();
}

/* Returns once every running thread of the process has executed a full
 * memory barrier. Only called after membarrier_usable() said yes. */
static void membarrier_all(void)
{
    int saved = errno;
    if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
        /* a child after fork(2) may have to register again */
        (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) != 0 ||
         membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0) &&
        membarrier(MEMBARRIER_CMD_GLOBAL) != 0) {
        /* Refused after it was granted (a seccomp filter installed since
         * the library was loaded): a bias cannot be revoked safely. */
        static const char msg[] = "syncprof: membarrier(2) refused after registration; "
                                  "cannot revoke a channel's bias\n";
        (void)!write(2, msg, sizeof msg - 1);
        abort();
    }
    errno = saved;
}

static inline struct bias *bias_of(syncprof_chan *c, bool send)
{
    return send ? &c->sendb : &c->recvb;
}

/* Revokes b's bias for good and returns once no thread claims plainly on
 * its end. A thread that finds another revoking waits until it is done. */
static void bias_revoke(struct bias *b)
{
    uint32_t o = __atomic_load_n(&b->owner, __ATOMIC_ACQUIRE);
    for (unsigned spins = 0; o != BIAS_OFF; spins++) {
        if (o == BIAS_REVOKING) {
            sp_spin_pause(spins);
            o = __atomic_load_n(&b->owner, __ATOMIC_ACQUIRE);
        } else if (__atomic_compare_exchange_n(&b->owner, &o, BIAS_REVOKING, false,
                                               __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE)) {
            membarrier_all();
            for (unsigned k = 0; __atomic_load_n(&b->busy, __ATOMIC_ACQUIRE); k++)
                sp_spin_pause(k); /* the owner's look at the ring: bounded */
            __atomic_store_n(&b->owner, BIAS_OFF, __ATOMIC_RELEASE);
            return;
        }
    }
}

/* The first use of an end by this thread (id me): takes its bias if it has
 * no owner (true), else revokes the owner's. */
static __attribute__((noinline)) bool bias_take(syncprof_chan *c, struct bias *b, uint32_t me)
{
    if (__atomic_load_n(&b->owner, __ATOMIC_ACQUIRE) == BIAS_NONE) {
        uint32_t mine = me != BIAS_ANON && membarrier_usable() ? me : BIAS_OFF;
        sp_spin_lock(&c->lock); /* see bias_lock_out */
        if (__atomic_load_n(&b->owner, __ATOMIC_RELAXED) == BIAS_NONE)
            __atomic_store_n(&b->owner, mine, __ATOMIC_RELAXED);
        sp_spin_unlock(&c->lock);
        if (__atomic_load_n(&b->owner, __ATOMIC_RELAXED) == me)
            return true;
    }
    bias_revoke(b);
    return false;
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

/* Before a claim by CAS under c's lock on behalf of thread who (the caller,
 * or the queued waiter it completes): revokes the end's bias unless it has
 * no owner or who owns it. */
static void bias_lock_out(syncprof_chan *c, bool send, uint32_t who)
{
    uint32_t o = __atomic_load_n(&bias_of(c, send)->owner, __ATOMIC_ACQUIRE);
    if (o != BIAS_NONE && o != BIAS_OFF && o != who)
        bias_revoke(bias_of(c, send));
}

/* Whether a thread (id me) that queued a waiter on c, sending or not,
 * must call membarrier() before it looks at the ring again: the other end
 * is biased to another thread. */
static bool bias_needs_fence(syncprof_chan *c, bool send, uint32_t me)
{
    uint32_t o = __atomic_load_n(&bias_of(c, !send)->owner, __ATOMIC_ACQUIRE);
    return c->cap && o != BIAS_NONE && o != BIAS_OFF && o != me;
}

/* ---- The ring (buffered channels), lock-free ----------------------------- */

enum ring_result { RING_OK, RING_WOULD_BLOCK, RING_CLOSED };

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
 * (the decision is taken on a seq_cst load of deq, see the file comment),
 * RING_CLOSED when the channel is closed. With exact false, a look while
 * spinning: RING_WOULD_BLOCK as soon as the next slot is not free, without
 * reading deq, the receivers' line. plain: the caller holds the senders'
 * bias and claims with a store (see "The bias").
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

/* A ring operation under c's lock on behalf of thread who: by CAS. */
static enum ring_result ring_locked(syncprof_chan *c, bool send, void *elem, uint32_t who)
{
    bias_lock_out(c, send, who);
    return send ? ring_put(c, elem, true, false) : ring_get(c, elem, true, false);
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

/* ---- Waiter queues (under the channel's lock) ------------------------------ */

static void enqueue_locked(struct queue *q, struct waiter *w)
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

static void unlink_locked(struct queue *q, struct waiter *w)
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

static struct queue *queue_of(syncprof_chan *c, bool send)
{
    return send ? &c->sendq : &c->recvq;
}

/*
 * The oldest waiter of q whose call still waits, claimed (its sel is
 * CLAIMED; *prev is the state it had), or NULL. Waiters whose call was
 * completed elsewhere or cancelled are unlinked on the way.
 */
static struct waiter *claim_first_locked(struct queue *q, uint32_t *prev)
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
static void finish_locked(struct queue *q, struct waiter *w, uint32_t prev, bool ok,
                          struct wakeups *wk)
{
    unlink_locked(q, w);
    struct sel *s = w->sel;
    s->index = w->index;
    s->ok = ok;
    if (prev == SEL_SLEEPING)
        wake_later(wk, &s->state);
    __atomic_store_n(&s->state, SEL_DONE, __ATOMIC_RELEASE); /* s may vanish now */
}

/*
 * Moves values between the ring and the waiters of a buffered channel until
 * no waiter can proceed: the ring's oldest values to the oldest waiting
 * receivers, the oldest waiting senders' values into free slots.
 */
static void settle_locked(syncprof_chan *c, struct wakeups *wk)
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
static void settle(syncprof_chan *c)
{
    struct wakeups wk = { .chan = c };
    sp_spin_lock(&c->lock);
    settle_locked(c, &wk);
    sp_spin_unlock(&c->lock);
    wake_now(&wk);
}

/* ---- The slot: unbuffered hand-offs without the lock ---------------------- */

/*
 * An unbuffered send or receive without a deadline, meeting no queued
 * waiter, waits in the channel's slot instead of a queue. The slot holds
 * its state and its value (up to 8 bytes; for a larger one, the address
 * of the owner's buffer) on its own line. A partner completes it with
 * one CAS of state and value together (where the machine has a 16-byte
 * CAS; elsewhere, and for large values, it claims the slot, copies and
 * stores DONE); the owner, spinning on that line, reads the result and
 * frees the slot with two plain stores. So a hand-off moves one cache
 * line there and back, in one atomic operation on each side, and no
 * waiter's own line is involved: on 2 cores this cut the cost of an
 * unbuffered hand-off by about a third against queueing
 * (docs/dev/channel-tuning.md).
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
            wake_later(wk, slot_futex(c));
        else
            futex_wake_one(c, slot_futex(c));
    }
    return COMPLETE_DONE;
}

/* The locked path's look at the slot: completes a partner waiting there
 * (true), after any claim in progress has settled. */
static bool slot_complete_locked(syncprof_chan *c, bool send, void *elem, struct wakeups *wk)
{
    uint64_t word = send ? word_of(c, elem) : 0;
    struct slot_seen seen = { __atomic_load_n(&c->slot.h.state, __ATOMIC_SEQ_CST), 0 };
    seen.v = slot_value(c); /* seq_cst above: after taking the lock, see "The slot" */
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
static void slot_close_locked(syncprof_chan *c, struct wakeups *wk)
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
                wake_later(wk, slot_futex(c));
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

/* ---- One operation with the lock held: done now, or EAGAIN ----------------- */

/* 0 (sent, *ok true), 0 with *ok false (closed), or EAGAIN. */
static int try_send_locked(syncprof_chan *c, const void *elem, bool *ok, struct wakeups *wk)
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
static int try_recv_locked(syncprof_chan *c, void *out, bool *ok, struct wakeups *wk)
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

/* ---- Waiting --------------------------------------------------------------- */

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
static bool sleep_until_done(struct sel *s, const struct timespec *deadline)
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

/* What a channel wait is, for the profiler: the object and reason it is
 * registered with, and the leaf and caller of its block sample. */
struct wait_desc {
    const void *object;
    enum sp_wait_reason reason;
    void *leaf;
    uintptr_t caller;
};

/* A wait's spin ended, in success or not: the length it used adapts. */
static inline void spun(bool after_wake, bool worked)
{
    if (after_wake)
        wake_spins = adapt(wake_spins, worked, SPIN_MIN, SPIN_AFTER_WAKE);
    else
        wait_spins = adapt(wait_spins, worked, SPIN_MIN, SPIN_WAIT);
}

/*
 * Spins until done(arg) (true), adapting this thread's spin length; false
 * when the spin ran out.
 */
static inline bool spin_until(bool (*done)(const void *), const void *arg)
{
    int spins = wait_spins;
    bool after_wake = woke_partner; /* then wake_spins adapts, even when not longer */
    woke_partner = false;
    if (after_wake && wake_spins > spins)
        spins = wake_spins;
    for (int i = 0; i < spins + SPIN_YIELD; i++) {
        if (done(arg)) {
            /* done only after a yield: the spin did not pay, the yield did */
            spun(after_wake, i <= spins);
            return true;
        }
        if (i < spins)
            sp_cpu_relax();
        else
            sched_yield(); /* the other side may need this core */
    }
    spun(after_wake, false);
    return false;
}

static bool sel_done(const void *s)
{
    return __atomic_load_n(&((const struct sel *)s)->state, __ATOMIC_ACQUIRE) == SEL_DONE;
}

/*
 * Waits for s: spins, then sleeps as a registered, profiled wait. true
 * when done, false when cancelled at the deadline.
 */
static bool await(struct sel *s, const struct timespec *deadline, const struct wait_desc *d)
{
    int64_t spin_from = sp_tracing() ? sp_now_ns() : 0;
    if (spin_until(sel_done, s))
        return true;
    if (sp_in_profiler())
        return sleep_until_done(s, deadline);
    struct sp_observed o;
    sp_observe_begin(&o, d->object, d->reason);
    o.w.spun_from_ns = spin_from;
    SP_OBSERVE_REGS(&o, &o.w);
    bool done = sleep_until_done(s, deadline);
    sp_observe_end(&o, true, d->leaf, d->caller);
    return done;
}

static bool slot_done(const void *c)
{
    return slot_state((syncprof_chan *)(uintptr_t)c) >= SLOT_DONE;
}

/* Sleeps until the slot is done, from state mine (the owner's waiting
 * state): announces the sleep (mine + 1), then sleeps on the slot's futex. */
static void slot_sleep(syncprof_chan *c, uint64_t mine)
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
     * steady stream the consumer owns the slot in most hand-offs (about
     * 80%, bench_chan); guessing a sender there cost a failed CAS per
     * receive (unbuffered SPSC median 293 -> 195 ns). On that first try
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

#define HANDOFF_SLOW (-1)

/*
 * An unbuffered send or receive with no deadline, through the slot (see
 * "The slot"): 0 done (*ok set for a receive), EPIPE when a send met close
 * while it waited, or HANDOFF_SLOW when the locked path must do it.
 */
static int handoff(syncprof_chan *c, bool send, void *elem, bool *ok, const struct wait_desc *o)
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

/* ---- select ---------------------------------------------------------------- */

static int cmp_by_chan(const void *a, const void *b, void *arg)
{
    const syncprof_select_case *cases = arg;
    uintptr_t x = (uintptr_t)cases[*(const uint32_t *)a].chan;
    uintptr_t y = (uintptr_t)cases[*(const uint32_t *)b].chan;
    return x < y ? -1 : x > y;
}

/* Locks the channels of cases in lockorder (sorted by address), each once. */
static void lock_all(const syncprof_select_case *cases, const uint32_t *lockorder, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        syncprof_chan *c = cases[lockorder[i]].chan;
        if (i == 0 || c != cases[lockorder[i - 1]].chan)
            sp_spin_lock(&c->lock);
    }
}

static void unlock_all(const syncprof_select_case *cases, const uint32_t *lockorder, size_t n)
{
    for (size_t i = n; i-- > 0;) {
        syncprof_chan *c = cases[lockorder[i]].chan;
        if (i == 0 || c != cases[lockorder[i - 1]].chan)
            sp_spin_unlock(&c->lock);
    }
}

/* The bookkeeping of one select: on the stack for a few cases. */
struct select_space {
    uint32_t *pollorder, *lockorder;
    struct waiter *waiters;
    void *heap;
    uint32_t stack_order[2 * STACK_CASES];
    struct waiter stack_waiters[STACK_CASES];
};

static int select_space_init(struct select_space *sp, size_t n)
{
    sp->heap = NULL;
    if (n <= STACK_CASES) {
        /* order_cases fills them; zeroed first because GCC at -O3 cannot
         * see that and warns (an error under -Werror) */
        memset(sp->stack_order, 0, 2 * n * sizeof sp->stack_order[0]);
        sp->pollorder = sp->stack_order;
        sp->waiters = sp->stack_waiters;
    } else {
        sp->heap = malloc(n * (2 * sizeof(uint32_t) + sizeof(struct waiter)));
        if (!sp->heap)
            return ENOMEM;
        sp->waiters = sp->heap;
        sp->pollorder = (uint32_t *)(void *)(sp->waiters + n);
    }
    sp->lockorder = sp->pollorder + n;
    return 0;
}

/*
 * The non-NULL cases of cases[0..n) in a uniformly random order
 * (Fisher-Yates), in pollorder, and by channel address in lockorder.
 * Returns how many there are.
 */
static size_t order_cases(syncprof_select_case *cases, size_t n, struct select_space *sp)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!cases[i].chan)
            continue;
        size_t j = m > 0 ? (size_t)(sp_rand64() % (m + 1)) : 0;
        sp->pollorder[m] = sp->pollorder[j];
        sp->pollorder[j] = (uint32_t)i;
        sp->lockorder[m] = (uint32_t)i;
        m++;
    }
    if (m > 1)
        qsort_r(sp->lockorder, m, sizeof(uint32_t), cmp_by_chan, cases);
    return m;
}

static int check_cases(const syncprof_select_case *cases, size_t n)
{
    if ((!cases && n > 0) || n > MAX_CASES)
        return EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (cases[i].dir != SYNCPROF_SELECT_SEND && cases[i].dir != SYNCPROF_SELECT_RECV)
            return EINVAL;
        if (cases[i].chan && cases[i].dir == SYNCPROF_SELECT_SEND && !cases[i].elem &&
            cases[i].chan->elem_size)
            return EINVAL;
    }
    return 0;
}

/* Tries every case in poll order: the index of the one done, or -1. */
static int poll_locked(syncprof_select_case *cases, const uint32_t *pollorder, size_t m,
                       struct wakeups *wk)
{
    for (size_t k = 0; k < m; k++) {
        syncprof_select_case *cs = &cases[pollorder[k]];
        int r = cs->dir == SYNCPROF_SELECT_SEND ? try_send_locked(cs->chan, cs->elem, &cs->ok, wk)
                                                : try_recv_locked(cs->chan, cs->elem, &cs->ok, wk);
        if (r == 0)
            return (int)pollorder[k];
    }
    return -1;
}

/* Queues one waiter per case; then lets buffered channels settle, which
 * may complete the call at once. */
static void register_locked(syncprof_select_case *cases, const uint32_t *lockorder, size_t m,
                            struct sel *s, struct waiter *ws, void *inline_elem,
                            struct wakeups *wk)
{
    bool fence = false;
    for (size_t k = 0; k < m; k++) {
        uint32_t i = lockorder[k];
        struct waiter *w = &ws[k];
        *w = (struct waiter){ .sel = s, .chan = cases[i].chan,
                              .elem = inline_elem ? inline_elem : cases[i].elem,
                              .thread = thread_id(), .index = (uint16_t)i,
                              .send = cases[i].dir == SYNCPROF_SELECT_SEND };
        enqueue_locked(queue_of(w->chan, w->send), w);
        fence |= bias_needs_fence(w->chan, w->send, w->thread);
    }
    if (fence)
        membarrier_all(); /* see "The bias" */
    for (size_t k = 0; k < m; k++)
        if (ws[k].chan->cap && (k == 0 || ws[k].chan != ws[k - 1].chan))
            settle_locked(ws[k].chan, wk);
}

/* The owner, done waiting: unlinks the waiters still queued. */
static void unregister(struct waiter *ws, size_t m)
{
    for (size_t k = 0; k < m; k++) {
        syncprof_chan *c = ws[k].chan;
        bool first = k == 0 || c != ws[k - 1].chan;
        bool last = k + 1 == m || c != ws[k + 1].chan;
        if (first)
            sp_spin_lock(&c->lock);
        if (ws[k].queued)
            unlink_locked(queue_of(c, ws[k].send), &ws[k]);
        if (last)
            sp_spin_unlock(&c->lock);
    }
}

/* The result of the case that proceeded while its caller waited. */
static int completed(syncprof_select_case *cases, const struct sel *s)
{
    syncprof_select_case *cs = &cases[s->index];
    cs->ok = s->ok;
    if (!s->ok && cs->dir == SYNCPROF_SELECT_RECV)
        zero(cs->elem, cs->chan->elem_size);
    return s->index;
}

/*
 * Every blocking path: a select over cases (a send or receive is a select
 * of one case). Returns the index of the case done, or a negative errno
 * value. Arguments were checked by the caller.
 */
static int select_run(syncprof_select_case *cases, size_t n, const struct timespec *deadline,
                      bool nonblock, const struct wait_desc *o)
{
    struct select_space sp;
    if (select_space_init(&sp, n) != 0)
        return -ENOMEM;
    size_t m = order_cases(cases, n, &sp);
    struct wakeups wk = { .chan = m == 1 ? cases[sp.lockorder[0]].chan : NULL };
    struct single one;
    struct sel *s = &one.s;
    struct waiter *ws = m == 1 ? &one.w : sp.waiters;
    *s = (struct sel){ .state = SEL_WAITING };
    bool wait = false, inl = false;

    lock_all(cases, sp.lockorder, m);
    int r = poll_locked(cases, sp.pollorder, m, &wk);
    if (r < 0 && (nonblock || deadline_passed(deadline))) {
        r = nonblock ? -EAGAIN : -ETIMEDOUT;
    } else if (r < 0) {
        if (m == 1) {
            /* The value goes through the waiter's own line (see struct
             * single): filled now for a send, copied out below for a
             * receive. Before register_locked, which may complete it. */
            syncprof_select_case *cs = &cases[sp.lockorder[0]];
            size_t size = cs->chan->elem_size;
            inl = size && size <= INLINE_ELEM && cs->elem;
            if (inl && cs->dir == SYNCPROF_SELECT_SEND)
                memcpy(one.buf, cs->elem, size);
        }
        register_locked(cases, sp.lockorder, m, s, ws, inl ? one.buf : NULL, &wk);
        wait = true;
    }
    unlock_all(cases, sp.lockorder, m);
    wake_now(&wk);

    if (wait) {
        bool done = await(s, deadline, o);
        /* A claimer unlinks the waiter it completes: a done call of one
         * case has nothing left on any queue. */
        if (m > 1 || (m == 1 && !done))
            unregister(ws, m);
        if (done && inl && s->ok && cases[s->index].dir == SYNCPROF_SELECT_RECV)
            memcpy(cases[s->index].elem, one.buf, cases[s->index].chan->elem_size);
        r = done ? completed(cases, s) : -ETIMEDOUT;
    } else if (r >= 0 && !cases[r].ok && cases[r].dir == SYNCPROF_SELECT_RECV) {
        zero(cases[r].elem, cases[r].chan->elem_size);
    }
    free(sp.heap);
    return r;
}

SP_PUBLIC int syncprof_select(syncprof_select_case *cases, size_t n,
                              const struct timespec *deadline, bool nonblock)
{
    if (check_cases(cases, n) != 0 || (deadline && !sp_timespec_valid(deadline)))
        return -EINVAL;
    const void *object = cases;
    for (size_t i = 0; i < n; i++) {
        if (cases[i].chan) {
            object = cases[i].chan;
            break;
        }
    }
    int saved = errno;
    struct wait_desc o = { object, SP_WAIT_SELECT, LEAF(syncprof_select), CALLER };
    int r = select_run(cases, n, deadline, nonblock, &o);
    errno = saved;
    return r;
}

/* ---- Send and receive ----------------------------------------------------- */

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
 * One ring operation and, if it would block and spin is set, more looks
 * for as long as this thread's ring spin lasts. The looks read only the
 * next slot (and the closed flag): the exact decision, which reads the
 * other side's position word and so takes its cache line away while it
 * works, is made once, after the spin (buffered SPSC medians of 30
 * alternating runs: 37.1 -> 34.8 ns, and 34.1 -> 30.5 ns with both ends
 * on new threads).
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

/*
 * send_fast and recv_fast stay out of line. When GCC inlined recv_fast
 * into syncprof_chan_recv (dccb0ee, after an unrelated change made the
 * code smaller), buffered SPSC went from a median of 31-34 ns to a steady
 * 44-47 ns in alternating runs, with the instructions of the ring path
 * the same; the cause (code layout, or the two threads' rhythm) is not
 * understood. bench_chan shows it if it comes back.
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
    struct wakeups wk = { .chan = c };
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
