/*
 * test_chan.c - the semantics of syncprof channels, as the Go
 * specification states them for Go's channels (include/syncprof/chan.h):
 * hand-off, FIFO, close, zero-size values, deadlines, non-blocking calls,
 * the ends' bias, arrival order and argument errors. Select: test_select.c.
 */
#include <syncprof/chan.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "profile_reader.h"

#include "chan_test.h"

/* ---- Hand-off: an unbuffered send completes only when a receiver has it ---- */

struct sender {
    syncprof_chan *c;
    int64_t value;
    atomic_bool returned;
    int result;
};

static void *send_one(void *arg)
{
    struct sender *s = arg;
    s->result = syncprof_chan_send(s->c, &s->value);
    atomic_store(&s->returned, true);
    return NULL;
}

Test(chan, unbuffered_send_waits_for_receiver)
{
    syncprof_chan *c = syncprof_chan_make(sizeof(int64_t), 0);
    cr_assert(c);
    struct sender s = { .c = c, .value = 42 };
    pthread_t t = spawn(send_one, &s);
    tp_wait_until_blocked(c);
    tp_sleep_ns(20 * MS);
    cr_expect(!atomic_load(&s.returned), "unbuffered send returned with no receiver");
    int64_t v = 0;
    bool ok = false;
    cr_assert_eq(syncprof_chan_recv(c, &v, &ok), 0);
    cr_expect(ok);
    cr_expect_eq(v, 42);
    join(t);
    cr_expect_eq(s.result, 0);
    cr_expect(atomic_load(&s.returned));
    cr_expect_eq(syncprof_chan_free(c), 0);
}

Test(chan, buffered_send_does_not_wait_until_full)
{
    syncprof_chan *c = syncprof_chan_make(sizeof(int), 3);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(syncprof_chan_send(c, &i), 0);
    cr_expect_eq(syncprof_chan_len(c), 3);
    cr_expect_eq(syncprof_chan_cap(c), 3);
    int x = 9;
    cr_expect_eq(syncprof_chan_trysend(c, &x), EAGAIN, "a full channel took a value");
    struct sender s = { .c = c, .value = 0 };
    /* a fourth send blocks until a receive frees a slot */
    syncprof_chan *c8 = syncprof_chan_make(sizeof(int64_t), 1);
    int64_t first = 1;
    cr_assert_eq(syncprof_chan_send(c8, &first), 0);
    s.c = c8;
    s.value = 2;
    pthread_t t = spawn(send_one, &s);
    tp_wait_until_blocked(c8);
    cr_expect(!atomic_load(&s.returned));
    int64_t v;
    cr_assert_eq(syncprof_chan_recv(c8, &v, NULL), 0);
    cr_expect_eq(v, 1);
    join(t);
    cr_assert_eq(syncprof_chan_recv(c8, &v, NULL), 0);
    cr_expect_eq(v, 2);
    cr_expect_eq(syncprof_chan_free(c8), 0);
    cr_expect_eq(syncprof_chan_free(c), 0);
}

/* ---- FIFO ------------------------------------------------------------------ */

struct producer {
    syncprof_chan *c;
    int id, count;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (int i = 0; i < p->count; i++) {
        int64_t v = ((int64_t)p->id << 32) | i;
        cr_assert_eq(syncprof_chan_send(p->c, &v), 0);
    }
    return NULL;
}

/* Each producer's values arrive in the order it sent them, none lost. */
static void fifo_case(size_t cap, int producers, int count)
{
    syncprof_chan *c = syncprof_chan_make(sizeof(int64_t), cap);
    struct producer p[8];
    pthread_t t[8];
    for (int i = 0; i < producers; i++) {
        p[i] = (struct producer){ c, i, count };
        t[i] = spawn(produce, &p[i]);
    }
    int next[8] = { 0 };
    for (int n = 0; n < producers * count; n++) {
        int64_t v;
        bool ok;
        cr_assert_eq(syncprof_chan_recv(c, &v, &ok), 0);
        cr_assert(ok);
        int id = (int)(v >> 32), seq = (int)(v & 0xffffffff);
        cr_assert(id >= 0 && id < producers);
        cr_assert_eq(seq, next[id], "producer %d: got %d, expected %d", id, seq, next[id]);
        next[id]++;
    }
    for (int i = 0; i < producers; i++)
        join(t[i]);
    cr_expect_eq(syncprof_chan_len(c), 0);
    cr_expect_eq(syncprof_chan_free(c), 0);
}

Test(chan, fifo_one_producer_buffered) { fifo_case(16, 1, 100000); }
Test(chan, fifo_one_producer_unbuffered) { fifo_case(0, 1, 20000); }
Test(chan, fifo_one_producer_odd_capacity) { fifo_case(7, 1, 100000); }
Test(chan, fifo_per_producer_buffered) { fifo_case(5, 4, 20000); }
Test(chan, fifo_per_producer_unbuffered) { fifo_case(0, 4, 5000); }

/* ---- Close ------------------------------------------------------------------ */

Test(chan, close_buffered_delivers_buffered_values_then_not_ok)
{
    syncprof_chan *c = syncprof_chan_make(sizeof(int), 4);
    for (int i = 1; i <= 3; i++)
        cr_assert_eq(syncprof_chan_send(c, &i), 0);
    cr_assert_eq(syncprof_chan_close(c), 0);
    int x = 5;
    cr_expect_eq(syncprof_chan_send(c, &x), EPIPE);
    cr_expect_eq(syncprof_chan_trysend(c, &x), EPIPE);
    struct timespec d = in_ns(MS);
    cr_expect_eq(syncprof_chan_timedsend(c, &x, &d), EPIPE);
    cr_expect_eq(syncprof_chan_close(c), EPIPE);
    cr_expect_eq(syncprof_chan_len(c), 3);
    for (int i = 1; i <= 3; i++) {
        int v = 0;
        bool ok = false;
        cr_assert_eq(syncprof_chan_recv(c, &v, &ok), 0);
        cr_expect(ok);
        cr_expect_eq(v, i);
    }
    for (int k = 0; k < 3; k++) {
        int v = 77;
        bool ok = true;
        int r = k == 0 ? syncprof_chan_recv(c, &v, &ok)
              : k == 1 ? syncprof_chan_tryrecv(c, &v, &ok)
                       : syncprof_chan_timedrecv(c, &v, &ok, &d);
        cr_expect_eq(r, 0);
        cr_expect(!ok);
        cr_expect_eq(v, 0, "not zeroed");
    }
    cr_expect_eq(syncprof_chan_free(c), 0);
}

Test(chan, close_unbuffered_later_operations)
{
    syncprof_chan *c = syncprof_chan_make(sizeof(int), 0);
    cr_assert_eq(syncprof_chan_close(c), 0);
    int v = 3;
    bool ok = true;
    cr_expect_eq(syncprof_chan_send(c, &v), EPIPE);
    cr_expect_eq(syncprof_chan_trysend(c, &v), EPIPE);
    cr_expect_eq(syncprof_chan_recv(c, &v, &ok), 0);
    cr_expect(!ok);
    cr_expect_eq(v, 0);
    v = 3;
    ok = true;
    cr_expect_eq(syncprof_chan_tryrecv(c, &v, &ok), 0);
    cr_expect(!ok);
    cr_expect_eq(v, 0);
    cr_expect_eq(syncprof_chan_close(c), EPIPE);
    cr_expect_eq(syncprof_chan_free(c), 0);
}

struct blocked {
    syncprof_chan *c;
    bool send;
    int result;
    bool ok;
    int64_t value;
};

static void *block_on(void *arg)
{
    struct blocked *b = arg;
    b->value = 99;
    if (b->send) {
        b->result = syncprof_chan_send(b->c, &b->value);
    } else {
        b->ok = true;
        b->result = syncprof_chan_recv(b->c, &b->value, &b->ok);
    }
    return NULL;
}

/* n threads blocked on c (all senders or all receivers), then close. */
static void close_wakes_all(size_t cap, bool senders)
{
    enum { N = 6 };
    syncprof_chan *c = syncprof_chan_make(sizeof(int64_t), cap);
    for (size_t i = 0; i < cap && senders; i++) {
        int64_t v = (int64_t)i;
        cr_assert_eq(syncprof_chan_send(c, &v), 0);
    }
    struct blocked b[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        b[i] = (struct blocked){ .c = c, .send = senders };
        t[i] = spawn(block_on, &b[i]);
    }
    tp_wait_until_blocked(c);
    tp_sleep_ns(20 * MS); /* all of them */
    cr_expect_eq(syncprof_chan_free(c), EBUSY, "free while threads are blocked");
    cr_assert_eq(syncprof_chan_close(c), 0);
    for (int i = 0; i < N; i++) {
        join(t[i]);
        if (senders) {
            cr_expect_eq(b[i].result, EPIPE);
        } else {
            cr_expect_eq(b[i].result, 0);
            cr_expect(!b[i].ok);
            cr_expect_eq(b[i].value, 0);
        }
    }
    /* what was buffered before the close is still there */
    for (size_t i = 0; i < cap && senders; i++) {
        int64_t v;
        bool ok;
        cr_assert_eq(syncprof_chan_recv(c, &v, &ok), 0);
        cr_expect(ok);
        cr_expect_eq(v, (int64_t)i);
    }
    cr_expect_eq(syncprof_chan_free(c), 0);
}

Test(chan, close_wakes_blocked_receivers_unbuffered) { close_wakes_all(0, false); }
Test(chan, close_wakes_blocked_receivers_buffered) { close_wakes_all(4, false); }
Test(chan, close_wakes_blocked_senders_unbuffered) { close_wakes_all(0, true); }
Test(chan, close_wakes_blocked_senders_buffered) { close_wakes_all(4, true); }

/* ---- Zero-size values -------------------------------------------------------- */

static void *signal_three(void *arg)
{
    for (int i = 0; i < 3; i++)
        cr_assert_eq(syncprof_chan_send(arg, NULL), 0);
    cr_assert_eq(syncprof_chan_close(arg), 0);
    return NULL;
}

static void zero_size_case(size_t cap)
{
    syncprof_chan *c = syncprof_chan_make(0, cap);
    cr_assert(c);
    pthread_t t = spawn(signal_three, c);
    int got = 0;
    for (;;) {
        bool ok;
        cr_assert_eq(syncprof_chan_recv(c, NULL, &ok), 0);
        if (!ok)
            break;
        got++;
    }
    join(t);
    cr_expect_eq(got, 3);
    cr_expect_eq(syncprof_chan_free(c), 0);
}

Test(chan, zero_size_unbuffered) { zero_size_case(0); }
Test(chan, zero_size_buffered) { zero_size_case(2); }

Test(chan, zero_size_len_and_select)
{
    syncprof_chan *c = syncprof_chan_make(0, 5);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(syncprof_chan_trysend(c, NULL), 0);
    cr_expect_eq(syncprof_chan_trysend(c, NULL), EAGAIN);
    cr_expect_eq(syncprof_chan_len(c), 5);
    syncprof_select_case cs[1] = { { c, SYNCPROF_SELECT_RECV, NULL, false } };
    cr_expect_eq(syncprof_select(cs, 1, NULL, true), 0);
    cr_expect(cs[0].ok);
    cr_expect_eq(syncprof_chan_len(c), 4);
    cr_expect_eq(syncprof_chan_free(c), 0);
}

/* ---- Non-blocking calls and deadlines ------------------------------------------ */

Test(chan, try_on_empty_and_full)
{
    syncprof_chan *b = syncprof_chan_make(sizeof(int), 1);
    syncprof_chan *u = syncprof_chan_make(sizeof(int), 0);
    int v = 1;
    bool ok = true;
    cr_expect_eq(syncprof_chan_tryrecv(b, &v, &ok), EAGAIN);
    cr_expect_eq(v, 1, "tryrecv wrote out on EAGAIN");
    cr_expect(ok, "tryrecv wrote ok on EAGAIN");
    cr_expect_eq(syncprof_chan_trysend(b, &v), 0);
    cr_expect_eq(syncprof_chan_trysend(b, &v), EAGAIN);
    cr_expect_eq(syncprof_chan_trysend(u, &v), EAGAIN, "unbuffered, no receiver");
    cr_expect_eq(syncprof_chan_tryrecv(u, &v, &ok), EAGAIN, "unbuffered, no sender");
    syncprof_chan_free(b);
    syncprof_chan_free(u);
}

Test(chan, try_meets_a_blocked_partner)
{
    syncprof_chan *u = syncprof_chan_make(sizeof(int64_t), 0);
    struct blocked r = { .c = u, .send = false };
    pthread_t t = spawn(block_on, &r);
    tp_wait_until_blocked(u);
    int64_t v = 1234;
    cr_expect_eq(syncprof_chan_trysend(u, &v), 0);
    join(t);
    cr_expect(r.ok);
    cr_expect_eq(r.value, 1234);

    struct blocked s = { .c = u, .send = true };
    t = spawn(block_on, &s);
    tp_wait_until_blocked(u);
    bool ok = false;
    cr_expect_eq(syncprof_chan_tryrecv(u, &v, &ok), 0);
    cr_expect(ok);
    cr_expect_eq(v, 99);
    join(t);
    cr_expect_eq(s.result, 0);
    syncprof_chan_free(u);
}

Test(chan, deadlines_expire)
{
    syncprof_chan *b = syncprof_chan_make(sizeof(int), 1);
    syncprof_chan *u = syncprof_chan_make(sizeof(int), 0);
    int v = 5;
    bool ok = true;
    int64_t t0 = tp_now_ns();
    struct timespec d = in_ns(30 * MS);
    cr_expect_eq(syncprof_chan_timedrecv(b, &v, &ok, &d), ETIMEDOUT);
    cr_expect_geq(tp_now_ns() - t0, 30 * MS, "returned before the deadline");
    cr_expect_eq(v, 5);
    cr_expect(ok);
    d = in_ns(20 * MS);
    cr_expect_eq(syncprof_chan_timedsend(u, &v, &d), ETIMEDOUT);
    cr_expect_eq(syncprof_chan_send(b, &v), 0);
    d = in_ns(20 * MS);
    cr_expect_eq(syncprof_chan_timedsend(b, &v, &d), ETIMEDOUT, "full");
    cr_expect_eq(syncprof_chan_len(b), 1, "a timed-out send left a value");
    /* a past deadline still takes what is ready */
    struct timespec past = { 0, 0 };
    cr_expect_eq(syncprof_chan_timedrecv(b, &v, &ok, &past), 0);
    cr_expect(ok);
    cr_expect_eq(syncprof_chan_timedrecv(b, &v, &ok, &past), ETIMEDOUT);
    cr_expect_eq(syncprof_chan_timedsend(b, &v, &past), 0);
    /* and no timed-out waiter stays queued */
    cr_expect_eq(syncprof_chan_free(u), 0);
    cr_expect_eq(syncprof_chan_free(b), 0);
}

static void *send_after_10ms(void *arg)
{
    tp_sleep_ns(10 * MS);
    int64_t v = 7;
    cr_assert_eq(syncprof_chan_send(arg, &v), 0);
    return NULL;
}

Test(chan, deadline_met)
{
    for (size_t cap = 0; cap < 2; cap++) {
        syncprof_chan *c = syncprof_chan_make(sizeof(int64_t), cap);
        pthread_t t = spawn(send_after_10ms, c);
        struct timespec d = in_ns(2000 * MS);
        int64_t v = 0;
        bool ok = false;
        cr_expect_eq(syncprof_chan_timedrecv(c, &v, &ok, &d), 0);
        cr_expect(ok);
        cr_expect_eq(v, 7);
        join(t);
        syncprof_chan_free(c);
    }
}

/* ---- One thread per end, then more (the ends' bias) ------------------------ */

/*
 * A buffered channel lets the only thread that sends and the only thread
 * that receives claim ring positions without a CAS, until a second thread
 * uses that end (chan/chan.c, "The bias"). None of it may show: values
 * arrive once and in order when a second producer or consumer joins
 * midway, when the first one has exited, and when the channel is closed
 * under a sender that holds the bias.
 */

struct joiner {
    syncprof_chan *c;
    int id, count;
    struct producer *second; /* produce: started halfway through */
    pthread_t second_thread;
};

/* Sends count values tagged id; halfway, starts the second producer. */
static void *produce_then_share(void *arg)
{
    struct joiner *j = arg;
    for (int i = 0; i < j->count; i++) {
        if (i == j->count / 2)
            j->second_thread = spawn(produce, j->second);
        int64_t v = ((int64_t)j->id << 32) | i;
        cr_assert_eq(syncprof_chan_send(j->c, &v), 0);
    }
    return NULL;
}

struct consumer {
    syncprof_chan *c;
    atomic_int *left;        /* values still to receive, shared */
    int next[2];             /* per producer: the next value this consumer may see is at least this */
    int got[2];              /* per producer: how many this consumer received */
    struct consumer *second; /* started after the first tenth */
    pthread_t second_thread;
    atomic_int received;     /* values received so far, read by the first consumer */
};

/* Receives until every value is taken; each producer's values must come
 * in order as this consumer sees them. */
static void *consume_then_share(void *arg)
{
    struct consumer *k = arg;
    int64_t v;
    bool ok;
    for (int n = 0; atomic_fetch_sub(k->left, 1) > 0; n++) {
        if (k->second && n == 1000) {
            k->second_thread = spawn(consume_then_share, k->second);
            /* Lets the second receive before this one goes on: on a busy
             * machine this one could otherwise drain the channel before
             * the second is ever scheduled. */
            while (atomic_load(&k->second->received) == 0)
                sched_yield();
        }
        cr_assert_eq(syncprof_chan_recv(k->c, &v, &ok), 0);
        atomic_fetch_add(&k->received, 1);
        cr_assert(ok);
        int id = (int)(v >> 32), seq = (int)(v & 0xffffffff);
        cr_assert(id == 0 || id == 1);
        cr_assert_geq(seq, k->next[id], "producer %d: %d after %d", id, seq, k->next[id]);
        k->next[id] = seq + 1;
        k->got[id]++;
    }
    return NULL;
}

static void second_thread_joins(size_t cap)
{
    enum { COUNT = 40000 };
    syncprof_chan *c = syncprof_chan_make(sizeof(int64_t), cap);
    atomic_int left = 2 * COUNT;
    struct consumer k2 = { .c = c, .left = &left };
    struct consumer k1 = { .c = c, .left = &left, .second = &k2 };
    struct producer p2 = { c, 1, COUNT };
    struct joiner p1 = { c, 0, COUNT, &p2, 0 };
    pthread_t tk = spawn(consume_then_share, &k1);
    pthread_t tp = spawn(produce_then_share, &p1);
    join(tp);
    join(p1.second_thread);
    join(tk);
    join(k1.second_thread);
    cr_expect_eq(k1.got[0] + k2.got[0], COUNT, "producer 0's values, received once each");
    cr_expect_eq(k1.got[1] + k2.got[1], COUNT, "producer 1's values, received once each");
    cr_expect_gt(k2.got[0] + k2.got[1], 0, "the second consumer took part");
    cr_expect_eq(syncprof_chan_len(c), 0);
    cr_expect_eq(syncprof_chan_free(c), 0);
}

Test(chan, second_sender_and_receiver_join_midway) { second_thread_joins(16); }
Test(chan, second_sender_and_receiver_join_midway_capacity_1) { second_thread_joins(1); }

static void *send_ten_from(void *arg)
{
    struct producer *p = arg;
    for (int i = 0; i < 10; i++) {
        int64_t v = p->id + i;
        cr_assert_eq(syncprof_chan_send(p->c, &v), 0);
    }
    return NULL;
}

static void *receive_five(void *arg)
{
    syncprof_chan *c = arg;
    for (int64_t i = 0; i < 5; i++) {
        int64_t v;
        cr_assert_eq(syncprof_chan_recv(c, &v, NULL), 0);
        cr_assert_eq(v, i);
    }
    return NULL;
}

/* The threads that first sent and received have exited; others carry on. */
Test(chan, ends_outlive_their_first_threads)
{
    syncprof_chan *c = syncprof_chan_make(sizeof(int64_t), 32);
    struct producer a = { c, 0, 0 }, b = { c, 10, 0 };
    join(spawn(send_ten_from, &a));
    join(spawn(receive_five, c));
    join(spawn(send_ten_from, &b));
    for (int64_t i = 5; i < 20; i++) {
        int64_t v;
        cr_assert_eq(syncprof_chan_recv(c, &v, NULL), 0);
        cr_assert_eq(v, i);
    }
    cr_expect_eq(syncprof_chan_len(c), 0);
    cr_expect_eq(syncprof_chan_free(c), 0);
}

struct until_closed {
    syncprof_chan *c;
    int64_t sent; /* values whose send returned 0 */
    int last;     /* the send's result that ended the loop */
};

static void *send_until_closed(void *arg)
{
    struct until_closed *u = arg;
    for (;;) {
        int64_t v = u->sent;
        u->last = syncprof_chan_send(u->c, &v);
        if (u->last != 0)
            return NULL;
        u->sent++;
    }
}

/* Closed under a sender that keeps sending: every send that returned 0
 * is received, in order, and then the sender gets EPIPE. */
Test(chan, close_under_a_busy_sender)
{
    for (int round = 0; round < 300; round++) {
        syncprof_chan *c = syncprof_chan_make(sizeof(int64_t), 4);
        struct until_closed u = { c, 0, 0 };
        pthread_t t = spawn(send_until_closed, &u);
        int64_t v, next = 0;
        bool ok;
        for (int i = 0; i < 100 + 37 * (round % 30); i++) {
            cr_assert_eq(syncprof_chan_recv(c, &v, &ok), 0);
            cr_assert(ok);
            cr_assert_eq(v, next++);
        }
        cr_assert_eq(syncprof_chan_close(c), 0);
        /* at most the 4 buffered values are left */
        for (int left = 4;; left--) {
            struct timespec deadline = in_ns(5000 * MS);
            cr_assert_eq(syncprof_chan_timedrecv(c, &v, &ok, &deadline), 0, "close was lost");
            if (!ok)
                break;
            cr_assert_gt(left, 0, "a send succeeded after close returned");
            cr_assert_eq(v, next++);
        }
        join(t);
        cr_expect_eq(u.last, EPIPE);
        cr_expect_eq(u.sent, next, "sends that returned 0: %lld, values received: %lld",
                     (long long)u.sent, (long long)next);
        cr_expect_eq(syncprof_chan_free(c), 0);
    }
}

struct paced {
    syncprof_chan *c;
    int count;
    bool send;
};

/* Sends or receives count values, pausing about 30 us before each, so
 * that the other side (main) has gone to sleep on the empty or full
 * channel each time. */
static void *paced(void *arg)
{
    struct paced *p = arg;
    for (int64_t i = 0; i < p->count; i++) {
        struct timespec d = { 0, 30000 };
        nanosleep(&d, NULL);
        int64_t v = i;
        if (p->send) {
            cr_assert_eq(syncprof_chan_send(p->c, &v), 0);
            continue;
        }
        struct timespec deadline = in_ns(5000 * MS);
        cr_assert_eq(syncprof_chan_timedrecv(p->c, &v, NULL, &deadline), 0, "value %lld lost",
                     (long long)i);
        cr_assert_eq(v, i);
    }
    return NULL;
}

/* Each end held by one thread, and the other side asleep each time it is
 * needed: no wake-up is lost (a lost one shows as a 5 s timeout). */
Test(chan, sleepers_woken_by_the_only_sender_and_receiver)
{
    syncprof_chan *c = syncprof_chan_make(sizeof(int64_t), 1);
    struct paced p = { c, 2000, true };
    pthread_t t = spawn(paced, &p);
    for (int64_t i = 0; i < p.count; i++) {
        int64_t v;
        struct timespec deadline = in_ns(5000 * MS);
        cr_assert_eq(syncprof_chan_timedrecv(c, &v, NULL, &deadline), 0, "value %lld lost",
                     (long long)i);
        cr_assert_eq(v, i);
    }
    join(t);
    p.send = false;
    t = spawn(paced, &p);
    for (int64_t i = 0; i < p.count; i++) {
        struct timespec deadline = in_ns(5000 * MS);
        cr_assert_eq(syncprof_chan_timedsend(c, &i, &deadline), 0, "send %lld stuck",
                     (long long)i);
    }
    join(t);
    cr_expect_eq(syncprof_chan_free(c), 0);
}

/* ---- Errors -------------------------------------------------------------------- */

Test(chan, bad_arguments)
{
    errno = 0;
    cr_expect_null(syncprof_chan_make(SYNCPROF_CHAN_MAX_ELEM + 1, 1));
    cr_expect_eq(errno, EINVAL);
    errno = 0;
    cr_expect_null(syncprof_chan_make(8, SIZE_MAX / 2));
    cr_expect_eq(errno, EINVAL);

    int v = 0;
    bool ok;
    struct timespec d = in_ns(MS), bad = { 0, 1000000000 };
    cr_expect_eq(syncprof_chan_send(NULL, &v), EINVAL);
    cr_expect_eq(syncprof_chan_trysend(NULL, &v), EINVAL);
    cr_expect_eq(syncprof_chan_timedsend(NULL, &v, &d), EINVAL);
    cr_expect_eq(syncprof_chan_recv(NULL, &v, &ok), EINVAL);
    cr_expect_eq(syncprof_chan_tryrecv(NULL, &v, &ok), EINVAL);
    cr_expect_eq(syncprof_chan_timedrecv(NULL, &v, &ok, &d), EINVAL);
    cr_expect_eq(syncprof_chan_close(NULL), EINVAL);
    cr_expect_eq(syncprof_chan_free(NULL), EINVAL);
    cr_expect_eq(syncprof_chan_len(NULL), 0);
    cr_expect_eq(syncprof_chan_cap(NULL), 0);

    syncprof_chan *c = syncprof_chan_make(sizeof(int), 2);
    cr_expect_eq(syncprof_chan_send(c, NULL), EINVAL);
    cr_expect_eq(syncprof_chan_trysend(c, NULL), EINVAL);
    cr_expect_eq(syncprof_chan_timedsend(c, &v, NULL), EINVAL);
    cr_expect_eq(syncprof_chan_timedsend(c, &v, &bad), EINVAL);
    cr_expect_eq(syncprof_chan_timedrecv(c, &v, &ok, NULL), EINVAL);
    cr_expect_eq(syncprof_chan_timedrecv(c, &v, &ok, &bad), EINVAL);
    cr_expect_eq(syncprof_chan_len(c), 0, "a failed call changed the channel");

    syncprof_select_case cs[1] = { { c, SYNCPROF_SELECT_SEND, NULL, false } };
    cr_expect_eq(syncprof_select(cs, 1, NULL, true), -EINVAL, "send case without a value");
    cr_expect_eq(syncprof_select(NULL, 1, NULL, true), -EINVAL);
    cs[0] = (syncprof_select_case){ c, (syncprof_select_dir)7, &v, false };
    cr_expect_eq(syncprof_select(cs, 1, NULL, true), -EINVAL, "bad direction");
    cs[0].dir = SYNCPROF_SELECT_RECV;
    cr_expect_eq(syncprof_select(cs, 1, &bad, false), -EINVAL, "bad deadline");
    cr_expect_eq(syncprof_select(cs, 65537, NULL, true), -EINVAL, "too many cases");
    cr_expect_eq(syncprof_chan_free(c), 0);
}

Test(chan, errno_is_preserved)
{
    syncprof_chan *c = syncprof_chan_make(sizeof(int), 0);
    int v = 0;
    errno = 1234;
    struct timespec d = in_ns(5 * MS);
    cr_expect_eq(syncprof_chan_timedrecv(c, &v, NULL, &d), ETIMEDOUT);
    cr_expect_eq(syncprof_chan_close(c), 0);
    cr_expect_eq(syncprof_chan_free(c), 0);
    cr_expect_eq(errno, 1234);
}

/* ---- Blocked waiters are served in the order they blocked ------------------ */

/*
 * A plain send or receive that blocks first waits in the channel's slot,
 * later ones (and every timed one) in its queue: the order must hold
 * across the two.
 */
struct ordered {
    syncprof_chan *c;
    bool send, timed;
    int64_t value;
    int result;
};

static void *ordered_op(void *arg)
{
    struct ordered *o = arg;
    struct timespec far = in_ns(60000 * MS);
    if (o->send)
        o->result = o->timed ? syncprof_chan_timedsend(o->c, &o->value, &far)
                             : syncprof_chan_send(o->c, &o->value);
    else
        o->result = o->timed ? syncprof_chan_timedrecv(o->c, &o->value, NULL, &far)
                             : syncprof_chan_recv(o->c, &o->value, NULL);
    return NULL;
}

static void arrival_order(bool senders)
{
    enum { N = 4 };
    syncprof_chan *c = syncprof_chan_make(sizeof(int64_t), 0);
    struct ordered o[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        o[i] = (struct ordered){ .c = c, .send = senders, .timed = i == 1, .value = senders ? i : -1 };
        t[i] = spawn(ordered_op, &o[i]);
        tp_wait_until_blocked(c);
        tp_sleep_ns(20 * MS); /* asleep, so the next one arrives later */
    }
    for (int64_t i = 0; i < N; i++) {
        int64_t v = i;
        if (senders) {
            cr_assert_eq(syncprof_chan_recv(c, &v, NULL), 0);
            cr_expect_eq(v, i, "receive %lld got the value of sender %lld", (long long)i, (long long)v);
        } else {
            cr_assert_eq(syncprof_chan_send(c, &v), 0);
        }
    }
    for (int i = 0; i < N; i++) {
        join(t[i]);
        cr_expect_eq(o[i].result, 0);
        if (!senders)
            cr_expect_eq(o[i].value, i, "receiver %d got %lld", i, (long long)o[i].value);
    }
    cr_expect_eq(syncprof_chan_free(c), 0);
}

Test(chan, blocked_receivers_served_in_arrival_order) { arrival_order(false); }
Test(chan, blocked_senders_served_in_arrival_order) { arrival_order(true); }

/* ---- Values larger than a word, and receives that drop the value ----------- */

struct big {
    int64_t a, b, c;
};

struct big_op {
    syncprof_chan *c;
    bool send;
    struct big value;
    int result;
};

static void *big_op(void *arg)
{
    struct big_op *o = arg;
    o->result = o->send ? syncprof_chan_send(o->c, &o->value)
                        : syncprof_chan_recv(o->c, &o->value, NULL);
    return NULL;
}

Test(chan, large_values_either_side_blocked)
{
    syncprof_chan *c = syncprof_chan_make(sizeof(struct big), 0);
    /* the sender blocks first */
    struct big_op s = { .c = c, .send = true, .value = { 1, 2, 3 } };
    pthread_t t = spawn(big_op, &s);
    tp_wait_until_blocked(c);
    struct big got = { 0, 0, 0 };
    cr_assert_eq(syncprof_chan_recv(c, &got, NULL), 0);
    join(t);
    cr_expect(got.a == 1 && got.b == 2 && got.c == 3);
    /* the receiver blocks first */
    struct big_op r = { .c = c, .send = false };
    t = spawn(big_op, &r);
    tp_wait_until_blocked(c);
    struct big v = { 4, 5, 6 };
    cr_assert_eq(syncprof_chan_send(c, &v), 0);
    join(t);
    cr_expect(r.value.a == 4 && r.value.b == 5 && r.value.c == 6);
    /* a spinning partner (no sleep), many times */
    for (int64_t i = 0; i < 2000; i++) {
        struct big_op q = { .c = c, .send = false };
        t = spawn(big_op, &q);
        struct big w = { i, -i, 7 };
        cr_assert_eq(syncprof_chan_send(c, &w), 0);
        join(t);
        cr_assert(q.value.a == i && q.value.b == -i && q.value.c == 7);
    }
    cr_expect_eq(syncprof_chan_free(c), 0);
}

static void *recv_dropping(void *arg)
{
    return (void *)(intptr_t)syncprof_chan_recv(arg, NULL, NULL);
}

Test(chan, receive_without_destination)
{
    size_t sizes[] = { 8, sizeof(struct big) };
    for (size_t k = 0; k < 2; k++) {
        syncprof_chan *c = syncprof_chan_make(sizes[k], 0);
        pthread_t t = spawn(recv_dropping, c);
        tp_wait_until_blocked(c);
        struct big v = { 1, 2, 3 };
        cr_assert_eq(syncprof_chan_send(c, &v), 0);
        cr_expect_eq((intptr_t)join(t), 0);
        cr_expect_eq(syncprof_chan_free(c), 0);
    }
}
