/*
 * select.c - select over several channels (syncprof_select) and the one
 * blocking path of every call (select_run; a send or receive is a select
 * of one case), as Go keeps select.go apart from chan.go: the channels'
 * locks in address order, the cases polled in a random order, and a
 * waiter queued on every channel when none is ready.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <syncprof/chan.h>

#include "bias_inlines.h"
#include "chan_inlines.h"
#include "chan_internal.h"
#include "export.h"
#include "observed_wait.h"
#include "sampling.h"
#include "spinlock.h"
#include "wait_inlines.h"

static int cmp_by_chan(const void *a, const void *b, void *arg)
{
    const syncprof_select_case *cases = arg;
    uintptr_t x = (uintptr_t)cases[*(const uint32_t *)a].chan;
    uintptr_t y = (uintptr_t)cases[*(const uint32_t *)b].chan;
    return x < y ? -1 : x > y;
}

/* Locks the channels of cases in lockorder (sorted by address), each once. */
static void lock_all(const syncprof_select_case *cases, const uint32_t *lockorder, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        syncprof_chan *c = cases[lockorder[i]].chan;
        if (i == 0 || c != cases[lockorder[i - 1]].chan)
            sp_spin_lock(&c->lock);
    }
}

static void unlock_all(const syncprof_select_case *cases, const uint32_t *lockorder, size_t n)
{
    for (size_t i = n; i-- > 0;) {
        syncprof_chan *c = cases[lockorder[i]].chan;
        if (i == 0 || c != cases[lockorder[i - 1]].chan)
            sp_spin_unlock(&c->lock);
    }
}

/* The bookkeeping of one select: on the stack for a few cases. */
struct select_space {
    uint32_t *pollorder, *lockorder;
    struct waiter *waiters;
    void *heap;
    uint32_t stack_order[2 * STACK_CASES];
    struct waiter stack_waiters[STACK_CASES];
};

static int select_space_init(struct select_space *sp, size_t n)
{
    sp->heap = NULL;
    if (n <= STACK_CASES) {
        /* order_cases fills them; zeroed first because GCC at -O3 cannot
         * see that and warns (an error under -Werror) */
        memset(sp->stack_order, 0, 2 * n * sizeof sp->stack_order[0]);
        sp->pollorder = sp->stack_order;
        sp->waiters = sp->stack_waiters;
    } else {
        sp->heap = malloc(n * (2 * sizeof(uint32_t) + sizeof(struct waiter)));
        if (!sp->heap)
            return ENOMEM;
        sp->waiters = sp->heap;
        sp->pollorder = (uint32_t *)(void *)(sp->waiters + n);
    }
    sp->lockorder = sp->pollorder + n;
    return 0;
}

/*
 * The non-NULL cases of cases[0..n) in a uniformly random order
 * (Fisher-Yates), in pollorder, and by channel address in lockorder.
 * Returns how many there are.
 */
static size_t order_cases(syncprof_select_case *cases, size_t n, struct select_space *sp)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!cases[i].chan)
            continue;
        size_t j = m > 0 ? (size_t)(sp_rand64() % (m + 1)) : 0;
        sp->pollorder[m] = sp->pollorder[j];
        sp->pollorder[j] = (uint32_t)i;
        sp->lockorder[m] = (uint32_t)i;
        m++;
    }
    if (m > 1)
        qsort_r(sp->lockorder, m, sizeof(uint32_t), cmp_by_chan, cases);
    return m;
}

static int check_cases(const syncprof_select_case *cases, size_t n)
{
    if ((!cases && n > 0) || n > MAX_CASES)
        return EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (cases[i].dir != SYNCPROF_SELECT_SEND && cases[i].dir != SYNCPROF_SELECT_RECV)
            return EINVAL;
        if (cases[i].chan && cases[i].dir == SYNCPROF_SELECT_SEND && !cases[i].elem &&
            cases[i].chan->elem_size)
            return EINVAL;
    }
    return 0;
}

/* Tries every case in poll order: the index of the one done, or -1. */
static int poll_locked(syncprof_select_case *cases, const uint32_t *pollorder, size_t m,
                       struct wakeups *wk)
{
    for (size_t k = 0; k < m; k++) {
        syncprof_select_case *cs = &cases[pollorder[k]];
        int r = cs->dir == SYNCPROF_SELECT_SEND ? try_send_locked(cs->chan, cs->elem, &cs->ok, wk)
                                                : try_recv_locked(cs->chan, cs->elem, &cs->ok, wk);
        if (r == 0)
            return (int)pollorder[k];
    }
    return -1;
}

/* Queues one waiter per case; then lets buffered channels settle, which
 * may complete the call at once. */
static void register_locked(syncprof_select_case *cases, const uint32_t *lockorder, size_t m,
                            struct sel *s, struct waiter *ws, void *inline_elem,
                            struct wakeups *wk)
{
    bool fence = false;
    for (size_t k = 0; k < m; k++) {
        uint32_t i = lockorder[k];
        struct waiter *w = &ws[k];
        *w = (struct waiter){ .sel = s, .chan = cases[i].chan,
                              .elem = inline_elem ? inline_elem : cases[i].elem,
                              .thread = thread_id(), .index = (uint16_t)i,
                              .send = cases[i].dir == SYNCPROF_SELECT_SEND };
        enqueue_locked(queue_of(w->chan, w->send), w);
        fence |= bias_needs_fence(w->chan, w->send, w->thread);
    }
    if (fence)
        membarrier_all(); /* see bias.c */
    for (size_t k = 0; k < m; k++)
        if (ws[k].chan->cap && (k == 0 || ws[k].chan != ws[k - 1].chan))
            settle_locked(ws[k].chan, wk);
}

/* The owner, done waiting: unlinks the waiters still queued. */
static void unregister(struct waiter *ws, size_t m)
{
    for (size_t k = 0; k < m; k++) {
        syncprof_chan *c = ws[k].chan;
        bool first = k == 0 || c != ws[k - 1].chan;
        bool last = k + 1 == m || c != ws[k + 1].chan;
        if (first)
            sp_spin_lock(&c->lock);
        if (ws[k].queued)
            unlink_locked(queue_of(c, ws[k].send), &ws[k]);
        if (last)
            sp_spin_unlock(&c->lock);
    }
}

/* The result of the case that proceeded while its caller waited. */
static int completed(syncprof_select_case *cases, const struct sel *s)
{
    syncprof_select_case *cs = &cases[s->index];
    cs->ok = s->ok;
    if (!s->ok && cs->dir == SYNCPROF_SELECT_RECV)
        zero(cs->elem, cs->chan->elem_size);
    return s->index;
}

/*
 * Every blocking path: a select over cases (a send or receive is a select
 * of one case). Returns the index of the case done, or a negative errno
 * value. Arguments were checked by the caller.
 */
int select_run(syncprof_select_case *cases, size_t n, const struct timespec *deadline,
               bool nonblock, const struct wait_desc *o)
{
    struct select_space sp;
    if (select_space_init(&sp, n) != 0)
        return -ENOMEM;
    size_t m = order_cases(cases, n, &sp);
    struct wakeups wk = { .n = 0 };
    struct single one;
    struct sel *s = &one.s;
    struct waiter *ws = m == 1 ? &one.w : sp.waiters;
    one.w.chan = (syncprof_chan *)(uintptr_t)o->object; /* registered_object(s); m == 1: rewritten alike */
    *s = (struct sel){ .state = SEL_WAITING };
    bool wait = false, inl = false;

    lock_all(cases, sp.lockorder, m);
    int r = poll_locked(cases, sp.pollorder, m, &wk);
    if (r < 0 && (nonblock || deadline_passed(deadline))) {
        r = nonblock ? -EAGAIN : -ETIMEDOUT;
    } else if (r < 0) {
        if (m == 1) {
            /* The value goes through the waiter's own line (see struct
             * single): filled now for a send, copied out below for a
             * receive. Before register_locked, which may complete it. */
            syncprof_select_case *cs = &cases[sp.lockorder[0]];
            size_t size = cs->chan->elem_size;
            inl = size && size <= INLINE_ELEM && cs->elem;
            if (inl && cs->dir == SYNCPROF_SELECT_SEND)
                memcpy(one.buf, cs->elem, size);
        }
        register_locked(cases, sp.lockorder, m, s, ws, inl ? one.buf : NULL, &wk);
        wait = true;
    }
    unlock_all(cases, sp.lockorder, m);
    wake_now(&wk);

    if (wait) {
        bool done = await(s, deadline, o);
        /* A claimer unlinks the waiter it completes: a done call of one
         * case has nothing left on any queue. */
        if (m > 1 || (m == 1 && !done))
            unregister(ws, m);
        if (done && inl && s->ok && cases[s->index].dir == SYNCPROF_SELECT_RECV)
            memcpy(cases[s->index].elem, one.buf, cases[s->index].chan->elem_size);
        r = done ? completed(cases, s) : -ETIMEDOUT;
    } else if (r >= 0 && !cases[r].ok && cases[r].dir == SYNCPROF_SELECT_RECV) {
        zero(cases[r].elem, cases[r].chan->elem_size);
    }
    free(sp.heap);
    return r;
}

SP_PUBLIC int syncprof_select(syncprof_select_case *cases, size_t n,
                              const struct timespec *deadline, bool nonblock)
{
    if (check_cases(cases, n) != 0 || (deadline && !sp_timespec_valid(deadline)))
        return -EINVAL;
    const void *object = cases;
    for (size_t i = 0; i < n; i++) {
        if (cases[i].chan) {
            object = cases[i].chan;
            break;
        }
    }
    int saved = errno;
    struct wait_desc o = { object, SP_WAIT_SELECT, LEAF(syncprof_select), CALLER };
    int r = select_run(cases, n, deadline, nonblock, &o);
    errno = saved;
    return r;
}
