/*
 * ab_chan.c - two builds of the channel (chan/) in one process, rounds
 * alternating (A B, B A, A B, ...), for tests/bench/ab_chan.sh.
 *
 * Runs apart in time land in different spells of a shared machine (its
 * cross-core latency changes by 30% for minutes: docs/dev/channel-tuning.md), so
 * two builds timed in separate processes can differ by more than any
 * change between them. Here each round of A has a round of B beside it.
 * ab_chan.sh compiles the two folders with their public functions renamed
 * A_chan_* and B_chan_*.
 *
 * Usage: ab_chan [rounds, default 12] [messages, default 500000]
 * Prints, per workload, the median and quartiles of each build (ns per
 * message, per round trip for pingpong), B/A of the medians, and each
 * build's sleeps per round (the two threads' voluntary context switches:
 * futex waits that slept, mostly); exits 1 if a build lost or changed a
 * message (the sum of what was received).
 */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "bench_stats.h"

typedef struct syncprof_chan syncprof_chan;

#define DECLARE(p)                                                         \
    syncprof_chan *p##_chan_make(size_t elem_size, size_t capacity);       \
    int p##_chan_send(syncprof_chan *c, const void *elem);                 \
    int p##_chan_recv(syncprof_chan *c, void *out, bool *ok);              \
    int p##_chan_free(syncprof_chan *c);
DECLARE(A)
DECLARE(B)

struct build {
    const char *name;
    syncprof_chan *(*make)(size_t, size_t);
    int (*send)(syncprof_chan *, const void *);
    int (*recv)(syncprof_chan *, void *, bool *);
    int (*chan_free)(syncprof_chan *);
};

static const struct build builds[2] = {
    { "A", A_chan_make, A_chan_send, A_chan_recv, A_chan_free },
    { "B", B_chan_make, B_chan_send, B_chan_recv, B_chan_free },
};

/* The job of the other thread, copied onto its own stack first (a line
 * shared with the main thread's variables would cost every message a
 * miss). */
struct job {
    const struct build *b;
    syncprof_chan *in, *out; /* out NULL: consume only */
    long n;
    long sleeps; /* the other thread's, written when it ends */
};

/* The calling thread's voluntary context switches so far. */
static long thread_sleeps(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return ru.ru_nvcsw;
}

static void *other(void *arg)
{
    struct job j = *(struct job *)arg;
    long sleeps0 = thread_sleeps();
    int64_t v, sum = 0;
    for (long i = 0; i < j.n; i++) {
        j.b->recv(j.in, &v, NULL);
        sum += v;
        if (j.out)
            j.b->send(j.out, &v);
    }
    ((struct job *)arg)->sleeps = thread_sleeps() - sleeps0;
    return (void *)(intptr_t)sum;
}

/* One round: ns per message (per round trip when pingpong); the two
 * threads' sleeps are added to *sleeps. */
static double round_of(const struct build *b, size_t cap, bool pingpong, long n, long *sleeps)
{
    static struct job j __attribute__((aligned(128)));
    j = (struct job){ b, b->make(sizeof(int64_t), cap),
                      pingpong ? b->make(sizeof(int64_t), 0) : NULL, n, 0 };
    long sleeps0 = thread_sleeps();
    pthread_t t;
    double t0 = bench_now_s();
    pthread_create(&t, NULL, other, &j);
    for (long i = 0; i < n; i++) {
        int64_t v = i;
        b->send(j.in, &v);
        if (pingpong)
            b->recv(j.out, &v, NULL);
    }
    void *sum;
    pthread_join(t, &sum);
    double ns = (bench_now_s() - t0) * 1e9 / (double)n;
    *sleeps += thread_sleeps() - sleeps0 + j.sleeps;
    if ((intptr_t)sum != (intptr_t)(n * (n - 1) / 2)) {
        fprintf(stderr, "ab_chan: build %s lost or changed messages\n", b->name);
        exit(1);
    }
    b->chan_free(j.in);
    if (j.out)
        b->chan_free(j.out);
    return ns;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        size_t cap;
        bool pingpong;
        long div; /* messages / div */
    } workloads[] = {
        { "unbuffered_spsc", 0, false, 1 },
        { "pingpong", 0, true, 2 },
        { "buffered_spsc", 128, false, 1 },
    };
    int rounds = argc > 1 ? atoi(argv[1]) : 12;
    long messages = argc > 2 ? atol(argv[2]) : 500000;
    if (rounds < 1 || rounds > 1000 || messages < 1000) {
        fprintf(stderr, "usage: ab_chan [rounds 1-1000] [messages >= 1000]\n");
        return 2;
    }
    double *t[2];
    t[0] = calloc((size_t)rounds, sizeof(double));
    t[1] = calloc((size_t)rounds, sizeof(double));
    printf("%-16s %28s   %28s   %5s  %s\n", "workload", "A q1/median/q3", "B q1/median/q3",
           "B/A", "sleeps/round A B");
    for (size_t w = 0; w < sizeof workloads / sizeof workloads[0]; w++) {
        long n = messages / workloads[w].div;
        long sleeps[2] = { 0, 0 }, warmup = 0;
        for (int r = -1; r < rounds; r++) /* round -1: a warm-up, not counted */
            for (int k = 0; k < 2; k++) {
                int which = (r & 1) ? 1 - k : k;
                double ns = round_of(&builds[which], workloads[w].cap, workloads[w].pingpong, n,
                                     r >= 0 ? &sleeps[which] : &warmup);
                if (r >= 0)
                    t[which][r] = ns;
            }
        double m[2];
        printf("%-16s", workloads[w].name);
        for (int k = 0; k < 2; k++) {
            m[k] = bench_median(t[k], rounds); /* sorts t[k]: the quartiles below */
            printf(" %9.1f %9.1f %9.1f  ", t[k][rounds / 4], m[k], t[k][3 * rounds / 4]);
        }
        printf(" %5.3f  %7.1f %7.1f\n", m[1] / m[0], (double)sleeps[0] / rounds,
               (double)sleeps[1] / rounds);
    }
    free(t[0]);
    free(t[1]);
    return 0;
}
