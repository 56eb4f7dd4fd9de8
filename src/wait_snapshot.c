/*
 * wait_snapshot.c - every thread's current wait, read from the wait table
 * (wait_snapshot.h): one entry per thread, a condition wait and its mutex
 * re-acquisition merged, each lock's holder read from glibc while its
 * waiter is registered (so the lock's memory is valid), and the stack the
 * wrapper's saved registers give, when asked.
 *
 * The snapshot is not atomic: each bucket of the wait table is read under
 * its own lock, one after the other.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lock_tracking.h"
#include "thread_stacks.h"
#include "wait_snapshot.h"

struct wait_collect {
    struct sp_thread_wait *v;
    size_t cap, n; /* n may exceed cap: then the caller retries bigger */
    bool with_stacks;
};

/* sp_wait_foreach callback: runs under a wait-table bucket lock. */
static void collect_one(const struct sp_waiter *w, void *arg)
{
    struct wait_collect *c = arg;
    if (w->reason == SP_WAIT_COND)
        return; /* described by its re-acquirer twin */
    if (c->n++ >= c->cap)
        return;
    struct sp_thread_wait *t = &c->v[c->n - 1];
    memset(t, 0, sizeof *t);
    t->tid = w->tid;
    t->reason = w->reason;
    t->object = w->object;
    t->start_ns = w->start_ns;
    t->timed = __atomic_load_n(&w->timed, __ATOMIC_RELAXED);
    if (w->reason == SP_WAIT_COND_REACQUIRE && w->cond_twin) {
        const struct sp_waiter *cw = w->cond_twin;
        t->cond = cw->object;
        t->mutex = w->object;
        t->start_ns = cw->start_ns;
        t->timed = t->timed || __atomic_load_n(&cw->timed, __ATOMIC_RELAXED);
        if (__atomic_load_n(&cw->woken_ns, __ATOMIC_ACQUIRE) == 0) {
            t->reason = SP_WAIT_COND;
            t->object = cw->object;
        }
    }
    if (t->reason != SP_WAIT_COND)
        t->holder = sp_lock_owner(w->object, w->reason);
    const struct sp_wait_regs *regs = __atomic_load_n(&w->regs, __ATOMIC_ACQUIRE);
    if (c->with_stacks && regs)
        t->nframes = sp_unwind_saved(regs, t->pcs, SP_MAX_FRAMES);
}

static int cmp_wait(const void *a, const void *b)
{
    int x = ((const struct sp_thread_wait *)a)->tid, y = ((const struct sp_thread_wait *)b)->tid;
    return (x > y) - (x < y);
}

int sp_waits_collect(struct sp_thread_wait **out, size_t *n, bool with_stacks)
{
    struct wait_collect c = { .cap = 64, .with_stacks = with_stacks };
    for (;;) {
        c.v = malloc(c.cap * sizeof *c.v);
        if (!c.v)
            return ENOMEM;
        c.n = 0;
        sp_wait_foreach(collect_one, &c);
        if (c.n <= c.cap)
            break;
        free(c.v);
        c.cap = c.n * 2;
    }
    qsort(c.v, c.n, sizeof *c.v, cmp_wait);
    *out = c.v;
    *n = c.n;
    return 0;
}

const struct sp_thread_wait *sp_waits_find(const struct sp_thread_wait *w, size_t n, int tid)
{
    struct sp_thread_wait key = { .tid = tid };
    return bsearch(&key, w, n, sizeof *w, cmp_wait);
}

const char *sp_wait_object_kind(enum sp_wait_reason reason)
{
    switch (reason) {
    case SP_WAIT_MUTEX:
    case SP_WAIT_COND_REACQUIRE:
        return "mutex";
    case SP_WAIT_RWLOCK_READ:
    case SP_WAIT_RWLOCK_WRITE:
        return "rwlock";
    case SP_WAIT_COND:
        return "cond";
    case SP_WAIT_JOIN:
        return "thread";
    case SP_WAIT_SEMAPHORE:
        return "semaphore";
    case SP_WAIT_BARRIER:
        return "barrier";
    default:
        return "channel";
    }
}
