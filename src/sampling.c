/*
 * sampling.c - the sampling math of the mutex and block profiles, and the
 * one place where a kept event is recorded. It follows Go's
 * runtime/mprof.go (blockevent, mutexevent, saveblockevent) as of Go 1.22.
 *
 * Settings are two atomics read with relaxed loads: a change becomes visible
 * to other threads soon, and each event uses the value it read once.
 *
 * Labels: a kept sample carries the recording thread's labels and the
 * lock's identity: lock=<name> when it has a name, else its birth site
 * (labels.h, lock_identity.h); looking them up takes
 * spinlocks only, inside the "in profiler" section like the stack capture.
 *
 * Locking: none here. sp_profile_add takes the table's own spinlock. The
 * per-thread "in profiler" flag keeps the profiler from recording (and
 * recursing into) locks taken by the code it calls, such as libunwind's.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <syncprof/syncprof.h>

#include "alt_stack.h"
#include "clock.h"
#include "export.h"
#include "labels.h"
#include "lock_stats.h"
#include "profile_table.h"
#include "sampling.h"
#include "stack_capture.h"


static _Atomic int mutex_fraction;   /* runtime.SetMutexProfileFraction */
static _Atomic int64_t block_rate;   /* runtime.SetBlockProfileRate, ns */

static SP_TLS uint64_t rand_state;   /* 0 until the thread's first draw */
static SP_TLS int in_profiler;       /* nesting depth, see sampling.h */

/* ---- Settings -------------------------------------------------------- */

SP_PUBLIC int syncprof_set_mutex_profile_fraction(int rate)
{
    if (rate < 0)
        return atomic_load_explicit(&mutex_fraction, memory_order_relaxed);
    return atomic_exchange(&mutex_fraction, rate);
}

SP_PUBLIC void syncprof_set_block_profile_rate(int64_t rate_ns)
{
    atomic_store(&block_rate, rate_ns <= 0 ? 0 : rate_ns);
}

SP_PUBLIC int64_t syncprof_block_profile_rate(void)
{
    return atomic_load_explicit(&block_rate, memory_order_relaxed);
}

int sp_mutex_fraction(void)
{
    return atomic_load_explicit(&mutex_fraction, memory_order_relaxed);
}

int64_t sp_block_rate(void)
{
    return atomic_load_explicit(&block_rate, memory_order_relaxed);
}

/* ---- Randomness ------------------------------------------------------ */

/*
 * splitmix64 over a per-thread state seeded from the clock and the thread
 * id: cheap, good enough for Bernoulli trials, and no shared cache line.
 */
uint64_t sp_rand64(void)
{
    if (rand_state == 0)
        rand_state = (uint64_t)sp_now_ns() ^ ((uint64_t)syscall(SYS_gettid) << 32) ^ 1;
    uint64_t z = (rand_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* ---- The block profile ----------------------------------------------- */

/*
 * An event of d >= rate ns is always kept; a shorter one with probability
 * (d + 1) / rate, as Go's `cheaprand64() % rate <= cycles`. The expected
 * number of kept events per nanosecond blocked is then about 1/rate
 * whatever the mix of event lengths.
 */
bool sp_block_sampled(int64_t d, int64_t rate, uint64_t rnd)
{
    if (rate <= 0)
        return false;
    if (d >= rate)
        return true;
    return (int64_t)(rnd % (uint64_t)rate) <= d;
}

/*
 * Unbiasing (Go 1.17, golang/go issue 44192). A short event is kept with
 * probability p = d/rate, so each kept one stands for 1/p = rate/d events
 * and rate/d * d = rate nanoseconds. Recording count 1 and delay d, as Go
 * did before, under-reported short events by the factor p.
 */
void sp_block_scale(int64_t d, int64_t rate, double *count, int64_t *delay)
{
    if (d < rate) {
        *count = (double)rate / (double)d;
        *delay = rate;
    } else {
        *count = 1;
        *delay = d;
    }
}

/* ---- Recording one kept event ------------------------------------------ */

struct record_job {
    enum sp_profile_kind kind;
    const void *object;
    const char *wait; /* the "wait" label, NULL for none */
    uintptr_t birth;  /* where a lock not yet known is born (lock_identity.h), or 0 */
    void *leaf;
    uintptr_t caller;
    double count;
    int64_t delay;
};

static void record_here(void *arg)
{
    struct record_job *j = arg;
    uintptr_t pcs[SP_MAX_FRAMES];
    int n = sp_stack_capture(pcs, j->leaf, j->caller);
    sp_profile_add(j->kind, pcs, n, sp_labels_for_sample(j->object, j->wait, j->birth), j->count, j->delay);
}

/*
 * The one place a kept event is recorded: the caller's stack, the labels,
 * the profile table. Inside the profiler (cancellation disabled, wrapped
 * calls unobserved), and on a borrowed stack when the thread's own is small
 * (alt_stack.h): with the unwinder, the labels and the first calls through
 * the dynamic linker's lazy binding, recording needs more stack than a
 * minimum-size thread has. A sample that finds no stack to run on is
 * counted as lost.
 */
static void record(const struct record_job *job)
{
    sp_enter_profiler();
    if (!sp_alt_stack_run(record_here, (void *)job))
        sp_profile_add_lost(job->kind, job->count, job->delay);
    sp_leave_profiler();
}

void sp_block_event(const void *object, const char *wait, int64_t d, void *leaf,
                    uintptr_t caller)
{
    /* A wait on a mutex, rwlock or condition variable: its object gets a
     * birth site (lock_identity.h); a join, a semaphore, a barrier or a
     * channel does not. */
    enum sp_lock_kind kind = sp_lock_kind_of_wait(wait);
    if (kind != SP_LOCK_UNKNOWN && !in_profiler)
        sp_lock_stats_wait(object, kind, d, caller); /* every wait: the lock table's tail */
    int64_t rate = sp_block_rate();
    if (rate <= 0 || in_profiler)
        return;
    if (d <= 0)
        d = 1; /* as Go: every kept event has a positive length */
    if (!sp_block_sampled(d, rate, rate > 1 ? sp_rand64() : 0))
        return;
    struct record_job job = { SP_PROFILE_BLOCK, object, wait, kind != SP_LOCK_UNKNOWN ? caller : 0,
                              leaf, caller, 0, 0 };
    sp_block_scale(d, rate, &job.count, &job.delay);
    record(&job);
}

/* ---- The mutex profile ----------------------------------------------- */

/*
 * Kept with probability 1/fraction, recorded as fraction events and
 * fraction * d nanoseconds (Go 1.20): the expectation is the true total,
 * and a later change of the fraction does not rescale what was recorded.
 */
void sp_mutex_event(const void *object, int64_t d, void *leaf, uintptr_t caller)
{
    int fraction = sp_mutex_fraction();
    if (fraction <= 0 || d <= 0 || in_profiler)
        return;
    if (fraction > 1 && sp_rand64() % (uint64_t)fraction != 0)
        return;

    struct record_job job = { SP_PROFILE_MUTEX, object, NULL, caller, leaf, caller,
                              (double)fraction, (int64_t)fraction * d };
    record(&job);
}

/* ---- Any other kind -------------------------------------------------- */

void sp_record_event(enum sp_profile_kind kind, const void *object, uintptr_t birth, void *leaf,
                     uintptr_t caller, double count, int64_t delay)
{
    if (in_profiler)
        return;
    struct record_job job = { kind, object, NULL, birth, leaf, caller, count, delay };
    record(&job);
}

/* ---- Re-entrancy guard ------------------------------------------------ */

/*
 * The one re-entrancy rule (docs/semantics.md): while in_profiler is
 * nonzero, every wrapped call of this thread goes straight to the real
 * function and nothing is recorded. It is set around everything syncprof
 * does on a program's thread (recording a sample, a dump's signal handler,
 * the public calls that write or dump), and for the whole life of
 * syncprof's own threads, so the locks of libunwind, libdw, zlib,
 * protobuf-c, libmicrohttpd and the allocator are never observed and a
 * sample can never re-enter the code that is taking it.
 *
 * The outermost entry also disables cancellation, and the matching leave
 * restores the caller's state: stack capture and writing reach libc
 * cancellation points (open, read), and a thread unwound there would leave
 * a profiler lock held. A cancel that arrives meanwhile stays pending and
 * is acted on where the program's own code next allows it.
 */
static SP_TLS int cancel_state_outside; /* the caller's state, saved at depth 0 */

bool sp_in_profiler(void)
{
    return in_profiler != 0;
}

void sp_enter_profiler(void)
{
    if (in_profiler++ == 0)
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state_outside);
}

/* The saved state is read before the depth drops: a signal handler that
 * enters and leaves in between then saves and restores "disabled", and
 * this restore still puts back the caller's own state. */
void sp_leave_profiler(void)
{
    int outside = cancel_state_outside;
    if (--in_profiler == 0)
        pthread_setcancelstate(outside, NULL);
}

/* libunwind is set up at load, inside the profiler: it takes its own lock,
 * which a program's hold profile would otherwise show (under `syncprof
 * run`, as a hold of every program's). */
__attribute__((constructor)) static void unwinder_setup_at_load(void)
{
    sp_enter_profiler();
    sp_unwinder_setup();
    sp_leave_profiler();
}
