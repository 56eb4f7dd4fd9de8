/*
 * spinlock.h - the profiler's own lock, for the short critical sections of
 * the wait table and the profile table.
 *
 * It is not a pthread lock on purpose: under the LD_PRELOAD interposer every
 * pthread_mutex_lock in the process, including one the library made itself,
 * would come back into the profiler. These locks are never profiled and
 * never show in a profile. Holders do a few loads and stores and no calls
 * that can block, so spinning and then yielding is enough.
 */
#ifndef SP_SPINLOCK_H
#define SP_SPINLOCK_H

#include <sched.h>
#include <stdbool.h>

static inline void sp_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* One step of a wait on another thread: a pause for the first 64 steps,
 * then a yield, so that a waiter on a busy machine lets the thread it
 * waits for run. */
static inline void sp_spin_pause(unsigned spins)
{
    if (spins < 64)
        sp_cpu_relax();
    else
        sched_yield();
}

typedef struct {
    int locked; /* 0 or 1; accessed only with __atomic builtins */
} sp_spinlock;

#define SP_SPINLOCK_INIT { 0 }

/* One try. The exchange is seq_cst, not only acquire: the channels' lock
 * takes part in a Dekker check (chan/chan.c, "The slot"), where the holder
 * reads another word after taking the lock. On x86 the two are one
 * instruction. */
static inline bool sp_spin_try(sp_spinlock *l)
{
    return !__atomic_load_n(&l->locked, __ATOMIC_RELAXED) &&
           !__atomic_exchange_n(&l->locked, 1, __ATOMIC_SEQ_CST);
}

static inline void sp_spin_lock(sp_spinlock *l)
{
    for (unsigned spins = 0; !sp_spin_try(l); spins++)
        sp_spin_pause(spins);
}

/* sp_spin_lock that gives up (false) after spins tries: for a caller that
 * may run in a signal handler which interrupted the holder, its own
 * thread, where waiting would never end. */
static inline bool sp_spin_lock_bounded(sp_spinlock *l, unsigned spins)
{
    for (unsigned i = 0; i < spins; i++) {
        if (sp_spin_try(l))
            return true;
        sp_cpu_relax();
    }
    return false;
}

/* Whether the lock is held now; seq_cst, for the same Dekker check. */
static inline bool sp_spin_is_locked(sp_spinlock *l)
{
    return __atomic_load_n(&l->locked, __ATOMIC_SEQ_CST) != 0;
}

static inline void sp_spin_unlock(sp_spinlock *l)
{
    __atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

/* In the child of fork only the forking thread runs: a spinlock another
 * thread held at the fork would never be released, and the child's next
 * wait would spin forever (tests/harm/fork_busy.c). Each file that owns a
 * spinlock frees it in a fork child handler of its own with this, which
 * says whether the lock was held, that is, whether the state it guards may
 * be half-written. */
static inline bool sp_spin_reset_in_child(sp_spinlock *l)
{
    bool held = __atomic_load_n(&l->locked, __ATOMIC_RELAXED) != 0;
    __atomic_store_n(&l->locked, 0, __ATOMIC_RELAXED);
    return held;
}

#endif /* SP_SPINLOCK_H */
