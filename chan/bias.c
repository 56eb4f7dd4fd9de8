/*
 * bias.c - the bias: one sending and one receiving thread of a buffered
 * channel claim ring positions without a CAS. Owns taking and revoking a
 * bias, the membarrier(2) that makes revoking safe, and the thread ids;
 * the owner's fast check is bias_held in bias_inlines.h.
 *
 * The CAS that claims a ring position is most of the cost of a buffered
 * operation between two threads: a locked instruction waits until this
 * thread's earlier stores have left its store buffer, among them the
 * previous slot's sequence number, whose line the other side is reading
 * (bench_floor's bare ring, with and without the CAS, measures it). Most
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
 * The owner pays no fence; the revoker pays a system call, once per
 * channel end.
 *
 * The same asymmetry stands in for the fence of the waiter check (see the
 * Dekker paragraph of chan.c's top comment): a plain claim is no locked
 * instruction, so the owner's later load of the other side's queue count
 * may be served before its claim is visible. A thread that queues on a buffered channel whose
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
#include <errno.h>
#include <linux/membarrier.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bias_inlines.h"
#include "chan_internal.h"
#include "spinlock.h"

uint64_t next_thread_id = 1; /* atomic */
SP_TLS uint32_t my_thread_id;

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

/* Registration is quick while the process has one thread, but once it
 * has several the kernel waits for an RCU grace period (milliseconds): so
 * it is done when the library is loaded, not at the first channel
 * operation. */
__attribute__((constructor)) static void register_membarrier_at_load(void)
{
    membarrier_usable();
}

/* Returns once every running thread of the process has executed a full
 * memory barrier. Only called after membarrier_usable() said yes. */
void membarrier_all(void)
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
__attribute__((noinline)) bool bias_take(syncprof_chan *c, struct bias *b, uint32_t me)
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

/* Before a claim by CAS under c's lock on behalf of thread who (the caller,
 * or the queued waiter it completes): revokes the end's bias unless it has
 * no owner or who owns it. */
void bias_lock_out(syncprof_chan *c, bool send, uint32_t who)
{
    uint32_t o = __atomic_load_n(&bias_of(c, send)->owner, __ATOMIC_ACQUIRE);
    if (o != BIAS_NONE && o != BIAS_OFF && o != who)
        bias_revoke(bias_of(c, send));
}

/* Whether a thread (id me) that queued a waiter on c, sending or not,
 * must call membarrier() before it looks at the ring again: the other end
 * is biased to another thread. */
bool bias_needs_fence(syncprof_chan *c, bool send, uint32_t me)
{
    uint32_t o = __atomic_load_n(&bias_of(c, !send)->owner, __ATOMIC_ACQUIRE);
    return c->cap && o != BIAS_NONE && o != BIAS_OFF && o != me;
}
