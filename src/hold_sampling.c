/*
 * hold_sampling.c - the hold profile's setting and its per-thread
 * countdown (see hold_sampling.h for the rule).
 *
 * Unbiased: each acquisition is timed with probability 1/K, where K was
 * fixed when the previous timed hold began, before the holds it applies to
 * happened; the timed hold is weighted by that K. K is the thread's
 * acquisitions per rate / SP_HOLD_PACE nanoseconds over its last countdown,
 * so a thread taking locks in a tight loop times one in hundreds and a
 * thread whose holds last a microsecond or more times nearly every one: a
 * timed hold then stands for few others, so a rare long one (a hold the
 * scheduler preempted) is not multiplied into a large error.
 *
 * Turning the profile off clears the wrappers' flag: holds then open stay
 * in their thread's slots, so each enable starts a new generation and a
 * thread drops slots of an older one.
 */
#include <stdatomic.h>
#include <string.h>

#include <syncprof/syncprof.h>

#include "clock.h"
#include "hold_sampling.h"
#include "lock_stats.h"
#include "sampling.h"

struct open_hold {
    const void *lock;
    int64_t start_ns;
    double weight;
};

SP_PUBLIC SP_TLS long syncprof__hold_countdown;
SP_PUBLIC SP_TLS int syncprof__hold_open;
static SP_TLS struct open_hold open_holds[SP_HOLD_OPEN];
static SP_TLS unsigned thread_generation;
static SP_TLS int64_t last_begin_ns; /* when this thread last timed a hold; 0: never */
static SP_TLS long last_gap;         /* the countdown drawn then */
static SP_TLS double current_k;      /* its K; 0 before the first */

static _Atomic int64_t hold_rate;    /* ns; 0: off */
static _Atomic unsigned generation;  /* enables so far */

SP_PUBLIC void syncprof_set_hold_profile_rate(int64_t rate_ns)
{
    if (rate_ns <= 0) {
        atomic_store(&hold_rate, 0);
        __atomic_fetch_and(&syncprof__lock_tracking, (unsigned char)~SP_LOCK_FLAG_HOLD,
                           __ATOMIC_RELEASE);
        return;
    }
    if (atomic_exchange(&hold_rate, rate_ns) == 0)
        atomic_fetch_add(&generation, 1);
    __atomic_fetch_or(&syncprof__lock_tracking, SP_LOCK_FLAG_HOLD, __ATOMIC_RELEASE);
}

SP_PUBLIC int64_t syncprof_hold_profile_rate(void)
{
    return sp_hold_rate();
}

int64_t sp_hold_rate(void)
{
    return atomic_load_explicit(&hold_rate, memory_order_relaxed);
}

/* Natural logarithm of x > 0, to about 1e-9 relative, without libm. */
static double ln(double x)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & ((1ULL << 52) - 1)) | (1023ULL << 52); /* mantissa in [1, 2) */
    double m;
    memcpy(&m, &bits, sizeof m);
    if (m > 1.4142135623730951) {
        m /= 2;
        e++;
    }
    double s = (m - 1) / (m + 1), s2 = s * s; /* |s| < 0.172 */
    double series = 1 + s2 * (1.0 / 3 + s2 * (1.0 / 5 + s2 * (1.0 / 7 + s2 * (1.0 / 9))));
    return e * 0.6931471805599453 + 2 * s * series;
}

/* Acquisitions until the next timed one: geometric with mean k >= 1. */
static long draw_countdown(double k)
{
    if (k <= 1)
        return 1;
    double u = ((double)(sp_rand64() >> 11) + 0.5) / 9007199254740992.0; /* (0, 1) */
    double g = ln(u) / ln(1 - 1 / k);
    return g >= 1e15 ? (long)1e15 : 1 + (long)g;
}

/* A thread that saw the profile turned off and on again forgets the holds
 * and the pace of the old generation. */
static bool same_generation(void)
{
    unsigned g = atomic_load_explicit(&generation, memory_order_relaxed);
    if (thread_generation == g)
        return true;
    thread_generation = g;
    syncprof__hold_open = 0;
    last_begin_ns = 0;
    current_k = 0;
    return false;
}

void sp_hold_begin(const void *lock)
{
    int64_t rate = sp_hold_rate();
    if (rate <= 0)
        return;
    same_generation();
    int64_t now = sp_now_ns();
    double weight = current_k > 1 ? current_k : 1;
    double k = 1;
    if (last_begin_ns != 0 && now > last_begin_ns)
        k = (double)rate / SP_HOLD_PACE * (double)last_gap / (double)(now - last_begin_ns);
    if (k > (double)(1 << 30))
        k = (double)(1 << 30);
    current_k = k;
    last_gap = draw_countdown(k);
    syncprof__hold_countdown = last_gap;
    last_begin_ns = now;
    /* The hold starts now: read again, so that the work above is not
     * counted in it. */
    if (syncprof__hold_open < SP_HOLD_OPEN)
        open_holds[syncprof__hold_open++] = (struct open_hold){ lock, sp_now_ns(), weight };
}

/*
 * Kept with probability min(1, d / rate) and scaled by its inverse, as
 * sp_block_sampled and sp_block_scale do for a wait, and by the weight.
 */
void sp_hold_event(const void *lock, const struct sp_hold *h, void *leaf, uintptr_t caller)
{
    int64_t rate = sp_hold_rate(), d = h->d > 0 ? h->d : 1;
    if (rate <= 0 || sp_in_profiler())
        return;
    sp_lock_stats_hold(lock, d, h->weight, caller); /* every timed hold: the lock table */
    if (!sp_block_sampled(d, rate, rate > 1 ? sp_rand64() : 0))
        return;
    double count;
    int64_t delay;
    sp_block_scale(d, rate, &count, &delay);
    sp_record_event(SP_PROFILE_HOLD, lock, caller, leaf, caller, count * h->weight,
                    (int64_t)((double)delay * h->weight));
}

bool sp_hold_end(const void *lock, struct sp_hold *h)
{
    int64_t now = sp_now_ns(); /* first: the search is not part of the hold */
    if (!same_generation())
        return false;
    for (int i = syncprof__hold_open - 1; i >= 0; i--) {
        if (open_holds[i].lock != lock)
            continue;
        h->d = now - open_holds[i].start_ns;
        h->weight = open_holds[i].weight;
        open_holds[i] = open_holds[--syncprof__hold_open];
        return true;
    }
    return false;
}
