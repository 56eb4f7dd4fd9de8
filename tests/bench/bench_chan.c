/*
 * bench_chan.c - ns per operation of syncprof channels against a plain
 * mutex + condition variable bounded queue, on the workloads of Go's
 * tests/bench/gochan (run both with tests/bench/run_chan_bench.sh):
 *
 *   buffered_spsc     capacity 128, one producer, one consumer
 *   unbuffered_spsc   capacity 0, one producer, one consumer
 *   pingpong          one round trip over two unbuffered channels
 *   buffered_4p4c     capacity 128, 4 producers, 4 consumers
 *   buffered_spsc_profiled  buffered_spsc at block rate 10000 ns (ours only)
 *
 * Each workload runs ROUNDS times (the machines are shared and noisy).
 * Usage: bench_chan [messages per run, default 2000000] [ours]
 * ("ours": skip the mutex+condvar baseline, reported as 0, for quick runs).
 * Output: one line per workload, "name ours_best ours_median mutexcond_best",
 * each after the "run name ns" lines of its rounds.
 */
#include <syncprof/chan.h>
#include <syncprof/syncprof.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_stats.h"

#define ROUNDS 5

static long messages = 2000000;
static bool baseline = true;

/* ---- The baseline: a bounded queue under one mutex and two condvars ---- */

struct mcq {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full, taken;
    int64_t *buf;
    size_t cap, head, len;   /* cap 0: a one-slot hand-off whose sender waits until taken */
    uint64_t puts, takes;
};

static struct mcq *mcq_make(size_t cap)
{
    struct mcq *q = calloc(1, sizeof *q);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    pthread_cond_init(&q->taken, NULL);
    q->cap = cap;
    q->buf = calloc(cap ? cap : 1, sizeof(int64_t));
    return q;
}

static void mcq_send(struct mcq *q, int64_t v)
{
    size_t room = q->cap ? q->cap : 1;
    pthread_mutex_lock(&q->mu);
    while (q->len == room)
        pthread_cond_wait(&q->not_full, &q->mu);
    q->buf[(q->head + q->len++) % room] = v;
    uint64_t mine = ++q->puts;
    pthread_cond_signal(&q->not_empty);
    while (q->cap == 0 && q->takes < mine)
        pthread_cond_wait(&q->taken, &q->mu);
    pthread_mutex_unlock(&q->mu);
}

static int64_t mcq_recv(struct mcq *q)
{
    size_t room = q->cap ? q->cap : 1;
    pthread_mutex_lock(&q->mu);
    while (q->len == 0)
        pthread_cond_wait(&q->not_empty, &q->mu);
    int64_t v = q->buf[q->head];
    q->head = (q->head + 1) % room;
    q->len--;
    q->takes++;
    pthread_cond_signal(&q->not_full);
    if (q->cap == 0)
        pthread_cond_broadcast(&q->taken);
    pthread_mutex_unlock(&q->mu);
    return v;
}

static void mcq_free(struct mcq *q)
{
    free(q->buf);
    free(q);
}

/* ---- One queue type or the other, behind two calls ---- */

struct queue {
    syncprof_chan *c;
    struct mcq *m;
};

static void q_send(struct queue *q, int64_t v)
{
    if (q->c)
        syncprof_chan_send(q->c, &v);
    else
        mcq_send(q->m, v);
}

static int64_t q_recv(struct queue *q)
{
    int64_t v = 0;
    if (q->c)
        syncprof_chan_recv(q->c, &v, NULL);
    else
        v = mcq_recv(q->m);
    return v;
}

static struct queue q_make(bool ours, size_t cap)
{
    struct queue q = { NULL, NULL };
    if (ours)
        q.c = syncprof_chan_make(sizeof(int64_t), cap);
    else
        q.m = mcq_make(cap);
    return q;
}

static void q_free(struct queue *q)
{
    if (q->c)
        syncprof_chan_free(q->c);
    else
        mcq_free(q->m);
}

/* ---- Workloads ---- */

struct job {
    struct queue *a, *b;
    long n;
};

static void *producer(void *arg)
{
    struct job *j = arg;
    struct queue a = *j->a;
    long n = j->n;
    for (long i = 0; i < n; i++)
        q_send(&a, i);
    return NULL;
}

static void *consumer(void *arg)
{
    struct job *j = arg;
    struct queue a = *j->a;
    long n = j->n;
    int64_t sum = 0;
    for (long i = 0; i < n; i++)
        sum += q_recv(&a);
    return (void *)(intptr_t)sum;
}

/* Echoes each value from a back on b. The queues are copied first: the
 * job lives on the stack of the other thread, which is busy writing its
 * own variables next to it (a cache line shared by accident would cost
 * every operation a miss). */
static void *echo(void *arg)
{
    struct job *j = arg;
    struct queue a = *j->a, b = *j->b;
    long n = j->n;
    for (long i = 0; i < n; i++)
        q_send(&b, q_recv(&a));
    return NULL;
}

/* ns per message with p producers and p consumers on one queue. */
static double run_pc(bool ours, size_t cap, int p)
{
    struct queue q = q_make(ours, cap);
    /* the baseline is 10 to 50 times slower: a tenth of the messages */
    struct job j = { &q, NULL, (ours ? messages : messages / 10) / p };
    pthread_t tp[8], tc[8];
    double t0 = bench_now_s();
    for (int i = 0; i < p; i++) {
        pthread_create(&tc[i], NULL, consumer, &j);
        pthread_create(&tp[i], NULL, producer, &j);
    }
    for (int i = 0; i < p; i++) {
        pthread_join(tp[i], NULL);
        pthread_join(tc[i], NULL);
    }
    double t = bench_now_s() - t0;
    q_free(&q);
    return t * 1e9 / (double)(j.n * p);
}

/* ns per round trip. */
static double run_pingpong(bool ours)
{
    struct queue a = q_make(ours, 0), b = q_make(ours, 0);
    long n = ours ? messages / 10 : messages / 100;
    struct job j = { &a, &b, n };
    pthread_t t;
    double t0 = bench_now_s();
    pthread_create(&t, NULL, echo, &j);
    for (long i = 0; i < n; i++) {
        q_send(&a, i);
        q_recv(&b);
    }
    pthread_join(t, NULL);
    double s = bench_now_s() - t0;
    q_free(&a);
    q_free(&b);
    return s * 1e9 / (double)n;
}

/*
 * One workload's line: the best and the median of our rounds, the best of
 * the baseline's (0 when skipped); before it, each of our rounds as
 * "run <name> <ns>", which run_chan_bench.sh pools across processes.
 */
static void report(const char *name, double *ours, int n, double mutexcond)
{
    for (int i = 0; i < n; i++)
        printf("run %s %.1f\n", name, ours[i]);
    double b = bench_lowest(ours, n);
    printf("%-24s %10.1f %10.1f %12.1f\n", name, b, bench_median(ours, n), mutexcond);
}

static void pc_workload(const char *name, size_t cap, int p)
{
    double ours[ROUNDS], mc[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        ours[r] = run_pc(true, cap, p);
        mc[r] = baseline ? run_pc(false, cap, p) : 0;
    }
    report(name, ours, ROUNDS, bench_lowest(mc, ROUNDS));
}

int main(int argc, char **argv)
{
    if (argc > 1)
        messages = atol(argv[1]);
    if (messages < 1000)
        messages = 1000;
    baseline = !(argc > 2 && strcmp(argv[2], "ours") == 0);
    syncprof_set_block_profile_rate(0);

    /* A warm-up round, as go test -bench makes one (b.N = 1 first): the
     * first run of a process is slower (thread start-up, the CPUs' clock). */
    run_pc(true, 128, 1);
    printf("%-24s %10s %10s %12s\n", "workload", "ours_best", "ours_med", "mutexcond_ns");
    pc_workload("buffered_spsc", 128, 1);
    pc_workload("unbuffered_spsc", 0, 1);
    double pp[ROUNDS], pp_mc[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        pp[r] = run_pingpong(true);
        pp_mc[r] = baseline ? run_pingpong(false) : 0;
    }
    report("pingpong", pp, ROUNDS, bench_lowest(pp_mc, ROUNDS));
    pc_workload("buffered_4p4c", 128, 4);

    /* profiling off and on, alternating rounds: more rounds, as the two
     * differ by less than the machine's noise */
    double off[3 * ROUNDS], on[3 * ROUNDS];
    for (int r = 0; r < 3 * ROUNDS; r++) {
        syncprof_set_block_profile_rate(0);
        off[r] = run_pc(true, 128, 1);
        syncprof_set_block_profile_rate(10000);
        on[r] = run_pc(true, 128, 1);
    }
    syncprof_set_block_profile_rate(0);
    report("buffered_spsc_prof_off", off, 3 * ROUNDS, 0);
    report("buffered_spsc_prof_on", on, 3 * ROUNDS, 0);
    return 0;
}
