/*
 * hold_sampling.c - the hold profile's setting and its per-thread
 * countdown (see hold_sampling.h for the rule).
 *
 * Unbiased: each acquisition is timed with probability 1/K, where K was
 * fixed when the countdown that times it was drawn, before the
 * acquisitions it applies to happened; the timed hold is weighted by that
 * K. K is the thread's acquisitions per rate / SP_HOLD_PACE nanoseconds,
 * measured between the ends of its last two timed holds, so a thread taking
 * locks in a tight loop times one in hundreds and a thread whose holds last
 * a microsecond or more times nearly every one: a timed hold then stands
 * for few others, so a rare long one (a hold the scheduler preempted) is
 * not multiplied into a large error.
 *
 * Two clock reads per timed hold: sp_hold_begin draws the next countdown
 * first and reads the clock last, so its own work is not part of the hold;
 * sp_hold_end reads the clock first and only then updates K.
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
    double weight; /* the K of the countdown that timed it */
    long gap;      /* that countdown: acquisitions since the previous timed one */
};

SP_PUBLIC SP_TLS long syncprof__hold_countdown;
SP_TLS int sp_hold_open; /* open_holds in use */
static SP_TLS struct open_hold open_holds[SP_HOLD_OPEN];
static SP_TLS unsigned thread_generation;
static SP_TLS int64_t last_end_ns; /* when this thread's last timed hold ended; 0: never */
static SP_TLS long last_gap;       /* the countdown drawn last */
static SP_TLS double drawn_k;      /* its K */
static SP_TLS double current_k;    /* K for the next draw; <= 1: time every acquisition */
/*
 * 1 / ln(1 - 1/current_k). For K >= 8 from its series,
 * -(K - 1/2 - 1/(12K) - 1/(24K^2) - ...), cut after the third term: off by
 * less than 1/(24K^2), which moves the draws' mean by under 0.01% and
 * saves the timed hold a logarithm and a division (bench_mutex, hold on).
 */
static SP_TLS double current_inv_log;

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

/* Acquisitions until the next timed one: geometric with mean current_k,
 * as -ln(u) / -ln(1 - 1/k) for u uniform in (0, 1). */
static long draw_countdown(void)
{
    if (current_k <= 1)
        return 1;
    double u = ((double)(sp_rand64() >> 11) + 0.5) / 9007199254740992.0; /* (0, 1) */
    double g = ln(u) * current_inv_log;
    return g >= 1e15 ? (long)1e15 : 1 + (long)g;
}

/* A timed hold ended at now, gap acquisitions after the one before it
 * began: K for the next draw, from this thread's acquisitions per ns. */
static void pace(int64_t now, long gap)
{
    double k = 1;
    if (last_end_ns != 0 && now > last_end_ns)
        k = (double)sp_hold_rate() / SP_HOLD_PACE * (double)gap / (double)(now - last_end_ns);
    if (k > (double)(1 << 30))
        k = (double)(1 << 30);
    last_end_ns = now;
    current_k = k;
    current_inv_log = k >= 8 ? -(k - 0.5 - 1 / (12 * k)) : k > 1 ? 1 / ln(1 - 1 / k) : 0;
}

/* A thread that saw the profile turned off and on again forgets the holds
 * and the pace of the old generation. */
static bool same_generation(void)
{
    unsigned g = atomic_load_explicit(&generation, memory_order_relaxed);
    if (thread_generation == g)
        return true;
    thread_generation = g;
    sp_hold_open = 0;
    last_end_ns = 0;
    last_gap = 1;
    drawn_k = 1;
    current_k = 1;
    return false;
}

bool sp_hold_begin(const void *lock)
{
    if (sp_hold_rate() <= 0)
        return false;
    same_generation();
    double weight = drawn_k > 1 ? drawn_k : 1;
    long gap = last_gap;
    drawn_k = current_k;
    last_gap = draw_countdown();
    syncprof__hold_countdown = last_gap;
    if (sp_hold_open == SP_HOLD_OPEN)
        return false;
    struct open_hold *h = &open_holds[sp_hold_open++];
    *h = (struct open_hold){ lock, 0, weight, gap };
    h->start_ns = sp_now_ns(); /* last: the work above is not held time */
    return true;
}

/*
 * Kept with probability min(1, d / rate) and scaled by its inverse, as
 * sp_block_sampled and sp_block_scale do for a wait, and by the weight.
 */
void sp_hold_event(const void *lock, bool rwlock, const struct sp_hold *h, void *leaf,
                   uintptr_t caller)
{
    int64_t rate = sp_hold_rate(), d = h->d > 0 ? h->d : 1;
    if (rate <= 0 || sp_in_profiler())
        return;
    /* every timed hold: the lock table */
    sp_lock_stats_hold(lock, rwlock ? SP_LOCK_RWLOCK : SP_LOCK_MUTEX, d, h->weight, caller);
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
    for (int i = sp_hold_open - 1; i >= 0; i--) {
        if (open_holds[i].lock != lock)
            continue;
        h->d = now - open_holds[i].start_ns;
        h->weight = open_holds[i].weight;
        long gap = open_holds[i].gap;
        open_holds[i] = open_holds[--sp_hold_open];
        pace(now, gap);
        return true;
    }
    return false;
}
