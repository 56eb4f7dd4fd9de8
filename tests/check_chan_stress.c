/*
 * check_chan_stress.c - channels under load, a plain program so that the
 * ThreadSanitizer build runs it too (criterion cannot start under TSan).
 *
 *   - 8 producers and 8 consumers on one channel, buffered (capacity 64)
 *     and unbuffered, 1,000,000 messages in all (500,000 each way): every
 *     message is received exactly once;
 *   - the same through selects (each consumer selects over two channels);
 *   - unbuffered again with plain, timed and non-blocking calls mixed on
 *     both sides (a plain call may wait in the channel's slot, the others
 *     queue or poll: the two ways must meet);
 *   - buffered (capacity 8) with one producer and one consumer alone for
 *     the first 20,000 messages, then all of them, plain and mixed calls;
 *   - 200 buffered channels, on each of which a second producer and a
 *     second consumer join the first ones under way;
 *   - close while 8 receivers, then 8 senders, are blocked wakes all of them.
 *
 * Exit status 0 when everything holds, 1 with a message otherwise.
 */
#include <syncprof/chan.h>
#include <syncprof/syncprof.h>

#include <errno.h>
#include <sched.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK_NAME "check_chan_stress"
#include "check.h"

/* The full count under ThreadSanitizer too: the check's point is the
 * interleavings TSan sees, and the run stays well inside the 300 s ctest
 * timeout there. */
#define TOTAL 1000000
#define THREADS 8

struct run {
    syncprof_chan *c, *c2;   /* c2: the second channel of the select run */
    int per_producer;
    atomic_uchar *seen;      /* seen[id * per_producer + seq] */
    atomic_long received;
    int errors;
    bool mixed;              /* plain, timed and try calls in turn */
};

/* A deadline far enough never to pass. */
static struct timespec far_deadline(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += 3600;
    return t;
}

/* Call i's send of v: plain, timed or non-blocking. A non-blocking call
 * only meets a partner that waits, so after a few tries it blocks: with
 * every thread polling, nobody would ever wait. */
static int send_kind(syncprof_chan *c, const int64_t *v, int i, bool mixed)
{
    struct timespec far;
    int e;
    switch (mixed ? i % 3 : 0) {
    case 1:
        far = far_deadline();
        return syncprof_chan_timedsend(c, v, &far);
    case 2:
        for (int k = 0; k < 20; k++) {
            if ((e = syncprof_chan_trysend(c, v)) != EAGAIN)
                return e;
            sched_yield();
        }
        return syncprof_chan_send(c, v);
    default:
        return syncprof_chan_send(c, v);
    }
}

/* Call i's receive, the same three ways. */
static int recv_kind(syncprof_chan *c, int64_t *v, bool *ok, int i, bool mixed)
{
    struct timespec far;
    int e;
    switch (mixed ? i % 3 : 0) {
    case 1:
        far = far_deadline();
        return syncprof_chan_timedrecv(c, v, ok, &far);
    case 2:
        for (int k = 0; k < 20; k++) {
            if ((e = syncprof_chan_tryrecv(c, v, ok)) != EAGAIN)
                return e;
            sched_yield();
        }
        return syncprof_chan_recv(c, v, ok);
    default:
        return syncprof_chan_recv(c, v, ok);
    }
}

struct worker {
    struct run *run;
    int id;
};

static void *producer(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->run;
    for (int i = 0; i < r->per_producer; i++) {
        int64_t v = (int64_t)w->id * r->per_producer + i;
        syncprof_chan *to = r->c2 && (i & 1) ? r->c2 : r->c;
        if (send_kind(to, &v, i + w->id, r->mixed) != 0)
            __atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void note(struct run *r, int64_t v)
{
    int64_t total = (int64_t)r->per_producer * THREADS;
    if (v < 0 || v >= total || atomic_fetch_add(&r->seen[v], 1) != 0)
        __atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
    atomic_fetch_add(&r->received, 1);
}

/* Receives until both channels are closed and drained. */
static void *consumer(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->run;
    bool open1 = true, open2 = r->c2 != NULL;
    for (int i = w->id; open1 || open2; i++) {
        int64_t v;
        bool ok;
        if (!r->c2) {
            if (recv_kind(r->c, &v, &ok, i, r->mixed) != 0)
                __atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
            if (ok)
                note(r, v);
            else
                open1 = false;
            continue;
        }
        int64_t v1, v2;
        syncprof_select_case cs[2] = {
            { open1 ? r->c : NULL, SYNCPROF_SELECT_RECV, &v1, false },
            { open2 ? r->c2 : NULL, SYNCPROF_SELECT_RECV, &v2, false },
        };
        int k = syncprof_select(cs, 2, NULL, false);
        if (k < 0) {
            __atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
            break;
        }
        if (cs[k].ok)
            note(r, k == 0 ? v1 : v2);
        else if (k == 0)
            open1 = false;
        else
            open2 = false;
    }
    return NULL;
}

/* stagger: one producer and one consumer start alone, and the others
 * join once 20,000 messages went through (a buffered channel's ends are
 * first biased to one thread each, then shared: see chan/chan.c). */
static void run_case(const char *name, size_t cap, bool with_select, bool mixed, bool stagger)
{
    struct run r = { .per_producer = TOTAL / 2 / THREADS, .mixed = mixed };
    int64_t total = (int64_t)r.per_producer * THREADS;
    r.c = syncprof_chan_make(sizeof(int64_t), cap);
    r.c2 = with_select ? syncprof_chan_make(sizeof(int64_t), cap) : NULL;
    r.seen = calloc((size_t)total, 1);
    pthread_t p[THREADS], q[THREADS];
    struct worker wp[THREADS], wq[THREADS];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < THREADS; i++) {
        wp[i] = (struct worker){ &r, i };
        wq[i] = (struct worker){ &r, i };
        pthread_create(&q[i], NULL, consumer, &wq[i]);
        pthread_create(&p[i], NULL, producer, &wp[i]);
        while (stagger && i == 0 && atomic_load(&r.received) < 20000)
            sched_yield();
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(p[i], NULL);
    CHECK(syncprof_chan_close(r.c) == 0, "%s: close", name);
    if (r.c2)
        CHECK(syncprof_chan_close(r.c2) == 0, "%s: close", name);
    for (int i = 0; i < THREADS; i++)
        pthread_join(q[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(r.errors == 0, "%s: %d errors (failed send or duplicate)", name, r.errors);
    CHECK(atomic_load(&r.received) == total, "%s: received %ld of %lld", name,
          atomic_load(&r.received), (long long)total);
    for (int64_t v = 0; v < total; v++)
        if (atomic_load(&r.seen[v]) != 1) {
            CHECK(false, "%s: message %lld received %d times", name, (long long)v,
                  atomic_load(&r.seen[v]));
            break;
        }
    CHECK(syncprof_chan_free(r.c) == 0, "%s: free", name);
    if (r.c2)
        CHECK(syncprof_chan_free(r.c2) == 0, "%s: free", name);
    free(r.seen);
    printf("%-28s %lld messages in %.2f s\n", name, (long long)total,
           (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
}

/* ---- many hand-overs from one sender and receiver to several ---- */

#define HANDOVER_CHANNELS 200
#define HANDOVER_VALUES 400

struct handover {
    syncprof_chan *c;
    int64_t base;        /* this producer's values: base, base + 1, ... */
    long received, sum;  /* the consumer's */
};

static void *handover_send(void *arg)
{
    struct handover *h = arg;
    for (int64_t i = 0; i < HANDOVER_VALUES; i++) {
        int64_t v = h->base + i;
        if (syncprof_chan_send(h->c, &v) != 0)
            return (void *)1;
    }
    return NULL;
}

static void *handover_recv(void *arg)
{
    struct handover *h = arg;
    int64_t v;
    bool ok;
    while (syncprof_chan_recv(h->c, &v, &ok) == 0 && ok) {
        __atomic_fetch_add(&h->received, 1, __ATOMIC_RELAXED);
        h->sum += v;
    }
    return NULL;
}

/* On each of many buffered channels a producer and a consumer start
 * alone, and a second of each joins while they run: the ends' bias
 * (chan/chan.c) is revoked under way each time, hundreds of times. */
static void handover_case(void)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long lost = 0;
    for (int n = 0; n < HANDOVER_CHANNELS; n++) {
        syncprof_chan *c = syncprof_chan_make(sizeof(int64_t), (size_t)(1 + n % 8));
        struct handover p1 = { c, 0, 0, 0 }, p2 = { c, 1000000, 0, 0 };
        struct handover k1 = { c, 0, 0, 0 }, k2 = { c, 0, 0, 0 };
        pthread_t tp1, tp2, tk1, tk2;
        pthread_create(&tk1, NULL, handover_recv, &k1);
        pthread_create(&tp1, NULL, handover_send, &p1);
        while (__atomic_load_n(&k1.received, __ATOMIC_RELAXED) < HANDOVER_VALUES / 4)
            sched_yield();
        pthread_create(&tk2, NULL, handover_recv, &k2);
        pthread_create(&tp2, NULL, handover_send, &p2);
        void *r1, *r2;
        pthread_join(tp1, &r1);
        pthread_join(tp2, &r2);
        CHECK(r1 == NULL && r2 == NULL, "hand-over: a send failed");
        syncprof_chan_close(c);
        pthread_join(tk1, NULL);
        pthread_join(tk2, NULL);
        long want_sum = 2L * HANDOVER_VALUES * (HANDOVER_VALUES - 1) / 2 +
                        1000000L * HANDOVER_VALUES;
        if (k1.received + k2.received != 2 * HANDOVER_VALUES || k1.sum + k2.sum != want_sum)
            lost++;
        CHECK(syncprof_chan_free(c) == 0, "hand-over: free");
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(lost == 0, "hand-over: %ld of %d channels lost or repeated values", lost,
          HANDOVER_CHANNELS);
    printf("%-28s %d channels in %.2f s\n", "hand-overs", HANDOVER_CHANNELS,
           (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
}

/* ---- close while blocked ---- */

struct blocked {
    syncprof_chan *c;
    bool send;
    int result;
    bool ok;
};

static void *block(void *arg)
{
    struct blocked *b = arg;
    int64_t v = 1;
    if (b->send)
        b->result = syncprof_chan_send(b->c, &v);
    else
        b->result = syncprof_chan_recv(b->c, &v, &b->ok);
    return NULL;
}

static void close_case(size_t cap, bool senders)
{
    syncprof_chan *c = syncprof_chan_make(sizeof(int64_t), cap);
    int64_t v = 0;
    for (size_t i = 0; senders && i < cap; i++)
        syncprof_chan_send(c, &v);
    struct blocked b[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        b[i] = (struct blocked){ .c = c, .send = senders, .ok = true };
        pthread_create(&t[i], NULL, block, &b[i]);
    }
    /* Wait until all of them are queued: free says EBUSY while any is. */
    struct timespec pause = { 0, 20000000 };
    nanosleep(&pause, NULL);
    CHECK(syncprof_chan_free(c) == EBUSY, "free while blocked");
    syncprof_chan_close(c);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        if (senders)
            CHECK(b[i].result == EPIPE, "blocked sender got %d", b[i].result);
        else
            CHECK(b[i].result == 0 && !b[i].ok, "blocked receiver: %d ok %d", b[i].result,
                  b[i].ok);
    }
    CHECK(syncprof_chan_free(c) == 0, "free after close");
}

int main(void)
{
    syncprof_set_block_profile_rate(10000); /* profiling on, as in use */
    run_case("buffered cap 64", 64, false, false, false);
    run_case("unbuffered", 0, false, false, false);
    run_case("buffered cap 64, select", 64, true, false, false);
    run_case("unbuffered, select", 0, true, false, false);
    run_case("unbuffered, mixed calls", 0, false, true, false);
    run_case("buffered cap 8, one pair first", 8, false, false, true);
    run_case("buffered cap 8, mixed, staggered", 8, false, true, true);
    for (int cap = 0; cap <= 4; cap += 4) {
        close_case((size_t)cap, false);
        close_case((size_t)cap, true);
    }
    handover_case();
    if (check_failed()) {
        fprintf(stderr, "check_chan_stress: %d failures\n", check_failed());
        return 1;
    }
    printf("check_chan_stress: ok\n");
    return 0;
}
