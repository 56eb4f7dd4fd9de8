/*
 * test_select.c - syncprof_select, as the Go specification states select
 * (include/syncprof/chan.h): NULL channels never ready, a uniformly
 * random choice among ready cases, blocking until a case is ready or the
 * channel closes, send and receive cases, and selectors racing over the
 * same channels, each value delivered exactly once.
 */
#include <syncprof/chan.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "chan_test.h"

/* ---- Select ------------------------------------------------------------------ */

Test(chan, select_nil_channels_never_ready)
{
    syncprof_select_case cs[3] = {
        { NULL, SYNCPROF_SELECT_RECV, NULL, false },
        { NULL, SYNCPROF_SELECT_SEND, NULL, false },
        { NULL, SYNCPROF_SELECT_RECV, NULL, false },
    };
    cr_expect_eq(syncprof_select(cs, 3, NULL, true), -EAGAIN);
    cr_expect_eq(syncprof_select(NULL, 0, NULL, true), -EAGAIN);
    int64_t t0 = tp_now_ns();
    struct timespec d = in_ns(20 * MS);
    cr_expect_eq(syncprof_select(cs, 3, &d, false), -ETIMEDOUT);
    cr_expect_geq(tp_now_ns() - t0, 20 * MS);
    d = in_ns(5 * MS);
    cr_expect_eq(syncprof_select(NULL, 0, &d, false), -ETIMEDOUT);

    /* a NULL channel beside a ready one: always the ready one */
    syncprof_chan *c = syncprof_chan_make(sizeof(int), 1);
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(syncprof_chan_send(c, &i), 0);
        int v = -1;
        cs[1] = (syncprof_select_case){ c, SYNCPROF_SELECT_RECV, &v, false };
        cr_assert_eq(syncprof_select(cs, 3, NULL, false), 1);
        cr_assert(cs[1].ok);
        cr_assert_eq(v, i);
    }
    syncprof_chan_free(c);
}

/* 4 always-ready cases over 100,000 selects: each chosen 25% of the time,
 * within a chi-square bound (3 degrees of freedom; 21.1 is exceeded with
 * probability 1e-4 by a uniform choice). */
Test(chan, select_fairness_chi_square)
{
    enum { K = 4, N = 100000 };
    syncprof_chan *c[K];
    syncprof_select_case cs[K];
    int64_t v[K];
    for (int k = 0; k < K; k++) {
        c[k] = syncprof_chan_make(sizeof(int64_t), 1);
        int64_t x = k;
        cr_assert_eq(syncprof_chan_send(c[k], &x), 0);
        cs[k] = (syncprof_select_case){ c[k], SYNCPROF_SELECT_RECV, &v[k], false };
    }
    long counts[K] = { 0 };
    for (int i = 0; i < N; i++) {
        int r = syncprof_select(cs, K, NULL, false);
        cr_assert(r >= 0 && r < K, "select returned %d", r);
        cr_assert_eq(v[r], r);
        counts[r]++;
        cr_assert_eq(syncprof_chan_send(c[r], &v[r]), 0); /* ready again */
    }
    double chi2 = 0, expected = N / (double)K;
    for (int k = 0; k < K; k++)
        chi2 += (counts[k] - expected) * (counts[k] - expected) / expected;
    cr_expect_lt(chi2, 21.1, "chi-square %.2f: %ld %ld %ld %ld", chi2, counts[0], counts[1],
                 counts[2], counts[3]);
    for (int k = 0; k < K; k++)
        syncprof_chan_free(c[k]);
}

struct selector {
    syncprof_chan *a, *b;
    int index;
    int64_t va, vb;
    bool ok;
};

static void *select_recv_two(void *arg)
{
    struct selector *s = arg;
    syncprof_select_case cs[2] = { { s->a, SYNCPROF_SELECT_RECV, &s->va, false },
                                   { s->b, SYNCPROF_SELECT_RECV, &s->vb, false } };
    s->index = syncprof_select(cs, 2, NULL, false);
    if (s->index >= 0)
        s->ok = cs[s->index].ok;
    return NULL;
}

Test(chan, select_blocks_until_a_case_is_ready)
{
    for (size_t cap = 0; cap < 2; cap++) {
        struct selector s = { .a = syncprof_chan_make(sizeof(int64_t), cap),
                              .b = syncprof_chan_make(sizeof(int64_t), cap) };
        pthread_t t = spawn(select_recv_two, &s);
        tp_wait_until_blocked(s.a);
        int64_t v = 31;
        cr_assert_eq(syncprof_chan_send(s.b, &v), 0);
        join(t);
        cr_expect_eq(s.index, 1);
        cr_expect(s.ok);
        cr_expect_eq(s.vb, 31);
        /* the select left no waiter behind on a */
        cr_expect_eq(syncprof_chan_trysend(s.a, &v), cap ? 0 : EAGAIN);
        cr_expect_eq(syncprof_chan_free(s.a), 0);
        cr_expect_eq(syncprof_chan_free(s.b), 0);
    }
}

Test(chan, select_woken_by_close)
{
    struct selector s = { .a = syncprof_chan_make(sizeof(int64_t), 0),
                          .b = syncprof_chan_make(sizeof(int64_t), 3) };
    s.va = 5;
    pthread_t t = spawn(select_recv_two, &s);
    tp_wait_until_blocked(s.a);
    cr_assert_eq(syncprof_chan_close(s.a), 0);
    join(t);
    cr_expect_eq(s.index, 0);
    cr_expect(!s.ok);
    cr_expect_eq(s.va, 0);
    syncprof_chan_free(s.a);
    syncprof_chan_free(s.b);
}

Test(chan, select_send_cases)
{
    syncprof_chan *full = syncprof_chan_make(sizeof(int), 1);
    syncprof_chan *room = syncprof_chan_make(sizeof(int), 1);
    int one = 1, two = 2;
    cr_assert_eq(syncprof_chan_send(full, &one), 0);
    syncprof_select_case cs[2] = { { full, SYNCPROF_SELECT_SEND, &one, false },
                                   { room, SYNCPROF_SELECT_SEND, &two, false } };
    cr_expect_eq(syncprof_select(cs, 2, NULL, false), 1);
    cr_expect(cs[1].ok);
    cr_expect_eq(syncprof_select(cs, 2, NULL, true), -EAGAIN, "both full");
    struct timespec d = in_ns(10 * MS);
    cr_expect_eq(syncprof_select(cs, 2, &d, false), -ETIMEDOUT);
    /* a send case on a closed channel proceeds with ok = false */
    cr_assert_eq(syncprof_chan_close(full), 0);
    cr_expect_eq(syncprof_select(cs, 2, NULL, false), 0);
    cr_expect(!cs[0].ok);
    int v;
    cr_expect_eq(syncprof_chan_recv(room, &v, NULL), 0);
    cr_expect_eq(v, 2);
    syncprof_chan_free(full);
    syncprof_chan_free(room);
}

/* Send and receive on one buffered channel in one select: whichever is
 * possible. */
Test(chan, select_send_and_receive_same_channel)
{
    syncprof_chan *c = syncprof_chan_make(sizeof(int), 1);
    int out = 8, in = 0;
    syncprof_select_case cs[2] = { { c, SYNCPROF_SELECT_SEND, &out, false },
                                   { c, SYNCPROF_SELECT_RECV, &in, false } };
    cr_expect_eq(syncprof_select(cs, 2, NULL, false), 0, "empty: only the send can go");
    cr_expect_eq(syncprof_select(cs, 2, NULL, false), 1, "full: only the receive can go");
    cr_expect_eq(in, 8);
    syncprof_chan_free(c);
}

/* Selectors with mixed send and receive cases on the same unbuffered
 * channels, pairing with each other: every value sent is received exactly
 * once. They stop once TARGET values went through (a select then times out
 * for the last ones, which have nobody left to pair with). */
#define MIXED_TARGET 8000
static atomic_long mixed_received;

struct mixed {
    syncprof_chan *a, *b;
    int id;
    long sum_sent, sum_received, sends, receives;
};

static void *mixed_selector(void *arg)
{
    struct mixed *m = arg;
    while (atomic_load(&mixed_received) < MIXED_TARGET) {
        int64_t out = (int64_t)m->id * 1000000 + m->sends, in = -1;
        syncprof_select_case cs[4] = {
            { m->a, SYNCPROF_SELECT_SEND, &out, false },
            { m->b, SYNCPROF_SELECT_RECV, &in, false },
            { m->b, SYNCPROF_SELECT_SEND, &out, false },
            { m->a, SYNCPROF_SELECT_RECV, &in, false },
        };
        struct timespec d = in_ns(20 * MS);
        int r = syncprof_select(cs, 4, &d, false);
        if (r == -ETIMEDOUT)
            continue;
        cr_assert(r >= 0, "select: %d", r);
        cr_assert(cs[r].ok);
        if (cs[r].dir == SYNCPROF_SELECT_SEND) {
            m->sum_sent += out;
            m->sends++;
        } else {
            cr_assert(in >= 0);
            m->sum_received += in;
            m->receives++;
            atomic_fetch_add(&mixed_received, 1);
        }
    }
    return NULL;
}

Test(chan, select_mixed_selectors_exactly_once)
{
    enum { T = 4 };
    syncprof_chan *a = syncprof_chan_make(sizeof(int64_t), 0);
    syncprof_chan *b = syncprof_chan_make(sizeof(int64_t), 0);
    struct mixed m[T];
    pthread_t t[T];
    for (int i = 0; i < T; i++) {
        m[i] = (struct mixed){ .a = a, .b = b, .id = i };
        t[i] = spawn(mixed_selector, &m[i]);
    }
    long sent = 0, received = 0, nsent = 0, nreceived = 0;
    for (int i = 0; i < T; i++) {
        join(t[i]);
        sent += m[i].sum_sent;
        received += m[i].sum_received;
        nsent += m[i].sends;
        nreceived += m[i].receives;
    }
    cr_expect_eq(nsent, nreceived);
    cr_expect_geq(nreceived, MIXED_TARGET);
    cr_expect_eq(sent, received);
    cr_expect_eq(syncprof_chan_free(a), 0);
    cr_expect_eq(syncprof_chan_free(b), 0);
}

/* Many cases (the heap-allocated bookkeeping), one of them ready. */
Test(chan, select_many_cases)
{
    enum { N = 300 };
    static syncprof_chan *c[N];
    static syncprof_select_case cs[N];
    int v[N];
    for (int i = 0; i < N; i++) {
        c[i] = syncprof_chan_make(sizeof(int), 1);
        cs[i] = (syncprof_select_case){ c[i], SYNCPROF_SELECT_RECV, &v[i], false };
    }
    int x = 17;
    cr_assert_eq(syncprof_chan_send(c[123], &x), 0);
    cr_expect_eq(syncprof_select(cs, N, NULL, false), 123);
    cr_expect_eq(v[123], 17);
    struct timespec d = in_ns(5 * MS);
    cr_expect_eq(syncprof_select(cs, N, &d, false), -ETIMEDOUT);
    for (int i = 0; i < N; i++)
        cr_expect_eq(syncprof_chan_free(c[i]), 0);
}
