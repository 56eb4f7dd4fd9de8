/*
 * test_chan_profile.c - channel operations in the block profile, as Go's
 * TestBlockProfile checks chan send, chan receive and select.
 *
 * Specification: at block rate 1, a thread that waits about 2 ms in a
 * channel operation, 50 times, gives 50 events totalling 100 ms within 10%
 * (against the waits the other thread caused: [0.9 * 50 * 2 ms,
 * 1.1 * wall]), on the stack [the channel function, the calling test
 * function]. Operations that never wait record nothing.
 *
 * The partner makes each operation wait for certain, even on a busy
 * machine: it acts only once the waiting thread is registered as sleeping
 * (the wait table, polled by tp_wait_until_blocked) in a call after the
 * one the partner last served, and 2 ms later in all.
 */
#include <syncprof/chan.h>
#include <syncprof/syncprof.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "profile_reader.h"

#define MS 1000000LL
#define EVENTS 50
#define GAP_NS (2 * MS)

static void setup(void)
{
    syncprof_set_block_profile_rate(1);
}

/* A CLOCK_MONOTONIC deadline ns from now, as the channel API takes. */
static struct timespec in_ns(int64_t ns)
{
    return tp_deadline_in(CLOCK_MONOTONIC, ns);
}

/* Calls the test's thread completed in receive_fifty and friends. */
static atomic_int calls_done;

/* The partner: 50 times, once the other thread sleeps on watch (c when
 * NULL), GAP_NS after it began to, one send (or one receive) on c. */
struct partner {
    syncprof_chan *c;
    bool send;
    int64_t wall_ns; /* from t0 to its last operation */
    syncprof_chan *watch;
    int64_t t0;      /* when the test started it (before pthread_create) */
};

static void *slow_partner(void *arg)
{
    struct partner *p = arg;
    for (int i = 0; i < EVENTS; i++) {
        /* the other thread finished its previous call (so what the wait
         * table shows next is its next wait), then sleeps in the next */
        while (atomic_load(&calls_done) < i)
            tp_sleep_ns(20000);
        tp_wait_until_blocked(p->watch ? p->watch : p->c); /* and 1 ms more */
        tp_sleep_ns(GAP_NS - 1000000);
        int64_t v = i;
        if (p->send)
            cr_assert_eq(syncprof_chan_send(p->c, &v), 0);
        else
            cr_assert_eq(syncprof_chan_recv(p->c, &v, NULL), 0);
    }
    /* From before the thread was created: the test's own thread may block
     * before this one first runs (a full buffer), and on a loaded machine
     * a thread's start can take tens of ms. */
    p->wall_ns = tp_now_ns() - p->t0;
    return NULL;
}

static void expect_events(const char *leaf, const char *caller, int64_t wall_ns)
{
    struct tp_profile p;
    tp_read("block", &p);
    int64_t delay = 0, count = 0;
    size_t n = tp_sum(&p, leaf, caller, &delay, &count);
    cr_expect(n >= 1, "no [%s, %s] sample in:\n%s", leaf, caller, p.text);
    cr_expect_eq(count, EVENTS, "[%s, %s]: %lld events", leaf, caller, (long long)count);
    /* at most the partner's whole run, and the last wait's wake-up */
    int64_t most = wall_ns * 11 / 10 + 20 * MS;
    cr_expect(delay >= EVENTS * GAP_NS * 9 / 10 && delay <= most,
              "[%s, %s]: %lld ns blocked, expected %lld..%lld", leaf, caller, (long long)delay,
              (long long)(EVENTS * GAP_NS * 9 / 10), (long long)most);
    tp_free(&p);
}

static pthread_t start(struct partner *p)
{
    atomic_store(&calls_done, 0);
    p->t0 = tp_now_ns();
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, slow_partner, p), 0);
    return t;
}

static __attribute__((noinline)) void receive_fifty(syncprof_chan *c, bool timed)
{
    for (int i = 0; i < EVENTS; i++) {
        int64_t v = -1;
        bool ok = false;
        struct timespec d = in_ns(5000 * MS);
        cr_assert_eq(timed ? syncprof_chan_timedrecv(c, &v, &ok, &d)
                           : syncprof_chan_recv(c, &v, &ok), 0);
        atomic_fetch_add(&calls_done, 1);
        cr_assert(ok);
        cr_assert_eq(v, i);
    }
}

static __attribute__((noinline)) void send_fifty(syncprof_chan *c, bool timed)
{
    for (int64_t i = 0; i < EVENTS; i++) {
        struct timespec d = in_ns(5000 * MS);
        cr_assert_eq(timed ? syncprof_chan_timedsend(c, &i, &d) : syncprof_chan_send(c, &i), 0);
        atomic_fetch_add(&calls_done, 1);
    }
}

static __attribute__((noinline)) void select_fifty(syncprof_chan *idle, syncprof_chan *c)
{
    for (int i = 0; i < EVENTS; i++) {
        int64_t a, b = -1;
        syncprof_select_case cs[2] = { { idle, SYNCPROF_SELECT_RECV, &a, false },
                                       { c, SYNCPROF_SELECT_RECV, &b, false } };
        cr_assert_eq(syncprof_select(cs, 2, NULL, false), 1);
        atomic_fetch_add(&calls_done, 1);
        cr_assert_eq(b, i);
    }
}

Test(chan_profile, recv, .init = setup)
{
    syncprof_chan *c = syncprof_chan_make(sizeof(int64_t), 4);
    struct partner p = { c, true, 0, NULL, 0 };
    pthread_t t = start(&p);
    receive_fifty(c, false);
    pthread_join(t, NULL);
    expect_events("syncprof_chan_recv", "receive_fifty", p.wall_ns);
    /* the partner's sends never waited (room in the buffer) */
    struct tp_profile prof;
    tp_read("block", &prof);
    int64_t d, n;
    cr_expect_eq(tp_sum(&prof, "syncprof_chan_send", NULL, &d, &n), 0,
                 "a send that did not block was recorded:\n%s", prof.text);
    tp_free(&prof);
    cr_expect_eq(syncprof_chan_free(c), 0);
}

Test(chan_profile, recv_unbuffered, .init = setup)
{
    syncprof_chan *c = syncprof_chan_make(sizeof(int64_t), 0);
    struct partner p = { c, true, 0, NULL, 0 };
    pthread_t t = start(&p);
    receive_fifty(c, false);
    pthread_join(t, NULL);
    expect_events("syncprof_chan_recv", "receive_fifty", p.wall_ns);
    cr_expect_eq(syncprof_chan_free(c), 0);
}

Test(chan_profile, send, .init = setup)
{
    syncprof_chan *c = syncprof_chan_make(sizeof(int64_t), 0);
    struct partner p = { c, false, 0, NULL, 0 };
    pthread_t t = start(&p);
    send_fifty(c, false);
    pthread_join(t, NULL);
    expect_events("syncprof_chan_send", "send_fifty", p.wall_ns);
    cr_expect_eq(syncprof_chan_free(c), 0);
}

Test(chan_profile, send_buffered_full, .init = setup)
{
    syncprof_chan *c = syncprof_chan_make(sizeof(int64_t), 1);
    int64_t first = 0;
    struct partner p = { c, false, 0, NULL, 0 };
    pthread_t t = start(&p);
    /* the buffer holds one value: each of the 50 sends after the first
     * waits for a receive; the first fills the buffer without waiting */
    cr_assert_eq(syncprof_chan_send(c, &first), 0);
    send_fifty(c, false);
    int64_t last;
    pthread_join(t, NULL);
    cr_assert_eq(syncprof_chan_recv(c, &last, NULL), 0);
    cr_expect_eq(last, EVENTS - 2 + 1);
    expect_events("syncprof_chan_send", "send_fifty", p.wall_ns);
    cr_expect_eq(syncprof_chan_free(c), 0);
}

Test(chan_profile, timed_variants_are_their_own_leaves, .init = setup)
{
    syncprof_chan *c = syncprof_chan_make(sizeof(int64_t), 0);
    struct partner p = { c, true, 0, NULL, 0 };
    pthread_t t = start(&p);
    receive_fifty(c, true);
    pthread_join(t, NULL);
    expect_events("syncprof_chan_timedrecv", "receive_fifty", p.wall_ns);

    struct partner q = { c, false, 0, NULL, 0 };
    t = start(&q);
    send_fifty(c, true);
    pthread_join(t, NULL);
    expect_events("syncprof_chan_timedsend", "send_fifty", q.wall_ns);
    cr_expect_eq(syncprof_chan_free(c), 0);
}

Test(chan_profile, select, .init = setup)
{
    syncprof_chan *idle = syncprof_chan_make(sizeof(int64_t), 0);
    syncprof_chan *c = syncprof_chan_make(sizeof(int64_t), 0);
    struct partner p = { c, true, 0, idle, 0 }; /* a select waits on its first channel */
    pthread_t t = start(&p);
    select_fifty(idle, c);
    pthread_join(t, NULL);
    expect_events("syncprof_select", "select_fifty", p.wall_ns);
    cr_expect_eq(syncprof_chan_free(c), 0);
    cr_expect_eq(syncprof_chan_free(idle), 0);
}

/* Operations that never wait leave the block profile empty. */
Test(chan_profile, no_wait_no_event, .init = setup)
{
    syncprof_chan *c = syncprof_chan_make(sizeof(int64_t), 128);
    for (int round = 0; round < 100; round++) {
        for (int64_t i = 0; i < 100; i++)
            cr_assert_eq(syncprof_chan_send(c, &i), 0);
        for (int64_t i = 0; i < 100; i++) {
            int64_t v;
            cr_assert_eq(syncprof_chan_recv(c, &v, NULL), 0);
        }
    }
    int64_t v = 1;
    cr_assert_eq(syncprof_chan_trysend(c, &v), 0);
    syncprof_select_case cs[1] = { { c, SYNCPROF_SELECT_RECV, &v, false } };
    cr_assert_eq(syncprof_select(cs, 1, NULL, false), 0);
    cr_assert_eq(syncprof_chan_tryrecv(c, &v, NULL), EAGAIN);
    struct tp_profile prof;
    tp_read("block", &prof);
    cr_expect_eq(tp_total_count(&prof), 0, "events without a wait:\n%s", prof.text);
    tp_free(&prof);
    cr_expect_eq(syncprof_chan_free(c), 0);
}

/* While it sleeps, a blocked receiver is in the wait table under its
 * channel, for thread dumps. */
static void *recv_once(void *arg)
{
    int64_t v;
    syncprof_chan_recv(arg, &v, NULL);
    return NULL;
}

Test(chan_profile, blocked_thread_is_in_the_wait_table, .init = setup)
{
    syncprof_chan *c = syncprof_chan_make(sizeof(int64_t), 0);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, recv_once, c), 0);
    tp_wait_until_blocked(c); /* returns only once a waiter is registered on c */
    int64_t v = 1;
    cr_assert_eq(syncprof_chan_send(c, &v), 0);
    pthread_join(t, NULL);
    cr_expect_eq(syncprof_chan_free(c), 0);
}
