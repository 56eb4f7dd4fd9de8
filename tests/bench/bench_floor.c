/*
 * bench_floor.c - what the machine allows a channel, measured beside ours:
 *
 *   line_round_trip   one cache line written in turn by two threads: the
 *                     time for a write to reach the other core and back
 *                     (an unbuffered hand-off needs at least one)
 *   bare_ring         a bounded MPMC ring of the kind syncprof's buffered
 *                     channel is (a sequence word per slot, a CAS to claim
 *                     a position), one producer one consumer, capacity 128
 *   bare_ring_plain   the same ring with plain stores for the claim: right
 *                     only for one producer and one consumer, it shows
 *                     what the claiming CAS costs
 *   syncprof_buffered syncprof_chan, capacity 128, one producer one consumer
 *   bare_handoff      the protocol of an unbuffered channel's slot alone,
 *                     one producer one consumer: the receiver registers
 *                     by CAS, the sender completes it by CAS, the
 *                     receiver takes the value and frees the slot with a
 *                     store; no channel code around it
 *   syncprof_unbuffered  syncprof_chan, unbuffered, one producer one
 *                     consumer: against line_round_trip, what a hand-off
 *                     costs beyond the one round trip it needs, and
 *                     against bare_handoff, what our code around the
 *                     slot's protocol costs
 *
 * Each round runs the six in turn, so that the machine's drift touches
 * all of them; the figures are the median and best of ROUNDS rounds, in ns
 * per message (per round trip for line_round_trip).
 * Usage: bench_floor [messages per run, default 4000000]
 */
#include <syncprof/chan.h>
#include <syncprof/syncprof.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench_stats.h"
#include "spinlock.h"

#define ROUNDS 9
#define CAP 128

static long messages = 4000000;

/* ---- A cache line written in turn ---- */

static uint64_t line __attribute__((aligned(128)));

static void *line_echo(void *arg)
{
    long n = *(long *)arg;
    for (uint64_t i = 1; i <= (uint64_t)n; i++) {
        while (__atomic_load_n(&line, __ATOMIC_ACQUIRE) != 2 * i - 1)
            sp_cpu_relax();
        __atomic_store_n(&line, 2 * i, __ATOMIC_RELEASE);
    }
    return NULL;
}

static double run_line(void)
{
    long n = messages / 10;
    pthread_t t;
    __atomic_store_n(&line, 0, __ATOMIC_RELAXED);
    double t0 = bench_now_s();
    pthread_create(&t, NULL, line_echo, &n);
    for (uint64_t i = 1; i <= (uint64_t)n; i++) {
        __atomic_store_n(&line, 2 * i - 1, __ATOMIC_RELEASE);
        while (__atomic_load_n(&line, __ATOMIC_ACQUIRE) != 2 * i)
            sp_cpu_relax();
    }
    pthread_join(t, NULL);
    return (bench_now_s() - t0) * 1e9 / (double)n;
}

/* ---- The bare ring ---- */

struct ring_slot {
    uint64_t seq; /* pos: free for the lap of pos; pos + 1: holds its value */
    int64_t value;
};

/* The two position words and the slots, each a cache line pair apart. */
struct ring {
    uint64_t enq __attribute__((aligned(128)));
    uint64_t deq __attribute__((aligned(128)));
    struct ring_slot slots[CAP] __attribute__((aligned(128)));
    bool plain; /* claim with plain stores (one producer, one consumer only) */
};

static struct ring bare;

/* Moves *pos on to pos + 1: a CAS, or a plain store in plain mode. */
static bool claim(uint64_t *word, uint64_t *pos)
{
    if (bare.plain) {
        __atomic_store_n(word, *pos + 1, __ATOMIC_RELAXED);
        return true;
    }
    return __atomic_compare_exchange_n(word, pos, *pos + 1, false, __ATOMIC_SEQ_CST,
                                       __ATOMIC_RELAXED);
}

/* Spins until the slot at pos is free, then fills it; as ring_put in
 * chan/chan.c, looking again every 16 pauses when the ring is full. */
static void bare_put(int64_t v)
{
    uint64_t pos = __atomic_load_n(&bare.enq, __ATOMIC_RELAXED);
    for (;;) {
        struct ring_slot *s = &bare.slots[pos % CAP];
        if (__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) == pos) {
            if (claim(&bare.enq, &pos)) {
                s->value = v;
                __atomic_store_n(&s->seq, pos + 1, __ATOMIC_RELEASE);
                return;
            }
            continue;
        }
        for (int k = 0; k < 16; k++)
            sp_cpu_relax();
        pos = __atomic_load_n(&bare.enq, __ATOMIC_RELAXED);
    }
}

static int64_t bare_get(void)
{
    uint64_t pos = __atomic_load_n(&bare.deq, __ATOMIC_RELAXED);
    for (;;) {
        struct ring_slot *s = &bare.slots[pos % CAP];
        if (__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) == pos + 1) {
            if (claim(&bare.deq, &pos)) {
                int64_t v = s->value;
                __atomic_store_n(&s->seq, pos + CAP, __ATOMIC_RELEASE);
                return v;
            }
            continue;
        }
        for (int k = 0; k < 16; k++)
            sp_cpu_relax();
        pos = __atomic_load_n(&bare.deq, __ATOMIC_RELAXED);
    }
}

static void *bare_consumer(void *arg)
{
    (void)arg;
    int64_t sum = 0;
    for (long i = 0; i < messages; i++)
        sum += bare_get();
    return (void *)(intptr_t)sum;
}

static double run_bare(bool plain)
{
    bare.enq = bare.deq = 0;
    bare.plain = plain;
    for (uint64_t i = 0; i < CAP; i++)
        bare.slots[i].seq = i;
    pthread_t t;
    double t0 = bench_now_s();
    pthread_create(&t, NULL, bare_consumer, NULL);
    for (long i = 0; i < messages; i++)
        bare_put(i);
    pthread_join(t, NULL);
    return (bench_now_s() - t0) * 1e9 / (double)messages;
}

static double run_bare_cas(void) { return run_bare(false); }
static double run_bare_plain(void) { return run_bare(true); }

/* ---- The slot's protocol alone ---- */

/* State in the low byte, the value above it, in one word: free, a
 * receiver waiting, done. */
enum { HO_FREE, HO_WAITING, HO_DONE };
static uint64_t handoff_word __attribute__((aligned(128)));

static void *handoff_receiver(void *arg)
{
    long n = *(long *)arg;
    uint64_t sum = 0;
    for (long i = 0; i < n; i++) {
        uint64_t free_word = HO_FREE;
        while (!__atomic_compare_exchange_n(&handoff_word, &free_word, HO_WAITING, false,
                                            __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
            free_word = HO_FREE;
            sp_cpu_relax();
        }
        uint64_t w;
        while (((w = __atomic_load_n(&handoff_word, __ATOMIC_ACQUIRE)) & 0xff) != HO_DONE)
            sp_cpu_relax();
        sum += w >> 8;
        __atomic_store_n(&handoff_word, HO_FREE, __ATOMIC_RELEASE);
    }
    return (void *)(uintptr_t)sum;
}

static double run_handoff(void)
{
    long n = messages / 10;
    pthread_t t;
    __atomic_store_n(&handoff_word, HO_FREE, __ATOMIC_RELAXED);
    double t0 = bench_now_s();
    pthread_create(&t, NULL, handoff_receiver, &n);
    for (long i = 0; i < n; i++) {
        /* a blind first CAS, as the channel's sender makes, then polls */
        uint64_t waiting = HO_WAITING;
        while (!__atomic_compare_exchange_n(&handoff_word, &waiting, (uint64_t)i << 8 | HO_DONE,
                                            false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
            do
                sp_cpu_relax();
            while (__atomic_load_n(&handoff_word, __ATOMIC_RELAXED) != HO_WAITING);
            waiting = HO_WAITING;
        }
    }
    pthread_join(t, NULL);
    return (bench_now_s() - t0) * 1e9 / (double)n;
}

/* ---- syncprof's channels, the same way ---- */

struct chan_job {
    syncprof_chan *c;
    long n;
};

/* The job is copied first: it lives on the producer's stack, beside the
 * variable it writes for every message, and a shared line would make every
 * operation a cache miss: this row would then time the false sharing
 * instead of the channel. */
static void *chan_consumer(void *arg)
{
    struct chan_job j = *(struct chan_job *)arg;
    int64_t v, sum = 0;
    for (long i = 0; i < j.n; i++) {
        syncprof_chan_recv(j.c, &v, NULL);
        sum += v;
    }
    return (void *)(intptr_t)sum;
}

/* ns per message through a channel of capacity cap, n messages. */
static double run_chan(size_t cap, long n)
{
    struct chan_job j = { syncprof_chan_make(sizeof(int64_t), cap), n };
    pthread_t t;
    double t0 = bench_now_s();
    pthread_create(&t, NULL, chan_consumer, &j);
    for (long i = 0; i < n; i++) {
        int64_t v = i;
        syncprof_chan_send(j.c, &v);
    }
    pthread_join(t, NULL);
    double s = bench_now_s() - t0;
    syncprof_chan_free(j.c);
    return s * 1e9 / (double)n;
}

static double run_chan_buffered(void) { return run_chan(CAP, messages); }
/* a hand-off costs about as much as line_round_trip: a tenth of the messages */
static double run_chan_unbuffered(void) { return run_chan(0, messages / 10); }

/* ---- Rounds ---- */

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        double (*run)(void);
    } runs[] = {
        { "line_round_trip", run_line },
        { "bare_ring", run_bare_cas },
        { "bare_ring_plain", run_bare_plain },
        { "syncprof_buffered", run_chan_buffered },
        { "bare_handoff", run_handoff },
        { "syncprof_unbuffered", run_chan_unbuffered },
    };
    enum { N = sizeof runs / sizeof runs[0] };
    if (argc > 1)
        messages = atol(argv[1]);
    if (messages < 1000)
        messages = 1000;
    syncprof_set_block_profile_rate(0);
    double ns[N][ROUNDS];
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < N; i++)
            ns[i][r] = runs[i].run();
    printf("%-20s %10s %10s\n", "workload", "median_ns", "best_ns");
    for (int i = 0; i < N; i++)
        printf("%-20s %10.1f %10.1f\n", runs[i].name, bench_median(ns[i], ROUNDS),
               bench_lowest(ns[i], ROUNDS));
    return 0;
}
