/*
 * wait_table.c - the registered waiters, hashed by object address into
 * buckets, and the mutex profile's charging of their waiting to unlockers
 * (see wait_table.h for the accounting rule).
 *
 * Each bucket sits on its own cache line, so contended operations on
 * unrelated locks rarely share one, and uncontended operations never touch
 * the table at all. A bucket's list and its waiters' charged_ns change only
 * under the bucket's spinlock; nwaiters is also read without it, as a hint.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sampling.h"
#include "spinlock.h"
#include "thread_registry.h"
#include "wait_table.h"

#define SP_WAIT_BUCKETS 1024u

struct sp_wait_bucket {
    sp_spinlock lock;
    int nwaiters;              /* written under lock, read anywhere (atomic) */
    struct sp_waiter *head;    /* under lock */
} __attribute__((aligned(64)));

static struct sp_wait_bucket buckets[SP_WAIT_BUCKETS];

/*
 * In a child of fork only the forking thread exists: every other thread's
 * registration (on a stack that is gone) is dropped, and a bucket lock that
 * another thread held at the fork is released, so the child neither
 * charges waiters that do not exist nor deadlocks on a dead holder.
 */
static void forget_other_threads_in_child(void)
{
    for (size_t i = 0; i < SP_WAIT_BUCKETS; i++) {
        buckets[i].head = NULL;
        __atomic_store_n(&buckets[i].nwaiters, 0, __ATOMIC_RELAXED);
        sp_spin_unlock(&buckets[i].lock);
    }
}

__attribute__((constructor)) static void register_fork_handler(void)
{
    pthread_atfork(NULL, NULL, forget_other_threads_in_child);
}

static const char *const reason_texts[] = {
#define SP_WAIT_TEXT(id, text, label) text,
    SP_WAIT_REASONS(SP_WAIT_TEXT)
#undef SP_WAIT_TEXT
};

static struct sp_wait_bucket *bucket_of(const void *object)
{
    uintptr_t a = (uintptr_t)object;
    /* Locks are often 64-byte aligned and allocated together: mix well. */
    uint64_t h = (uint64_t)a * 0x9e3779b97f4a7c15ULL;
    return &buckets[(h >> 40) % SP_WAIT_BUCKETS];
}

static void link_waiter(struct sp_waiter *w)
{
    struct sp_wait_bucket *b = bucket_of(w->object);
    sp_spin_lock(&b->lock);
    w->prev = NULL;
    w->next = b->head;
    if (b->head)
        b->head->prev = w;
    b->head = w;
    __atomic_store_n(&b->nwaiters, b->nwaiters + 1, __ATOMIC_RELAXED);
    sp_spin_unlock(&b->lock);
}

static void init_waiter(struct sp_waiter *w, const void *object,
                        enum sp_wait_reason reason, int64_t now)
{
    w->object = object;
    w->reason = reason;
    w->start_ns = now;
    w->charged_ns = now;
    w->profiled = sp_mutex_fraction() > 0;
    w->cond_twin = NULL;
    w->woken_ns = 0;
    w->tid = sp_self_tid();
    w->timed = false;
    w->regs = NULL;
    w->wake_flow = 0;
    w->reacquire_flow = 0;
    w->spun_from_ns = 0;
}

void sp_wait_begin(struct sp_waiter *w, const void *object,
                   enum sp_wait_reason reason, int64_t now)
{
    init_waiter(w, object, reason, now);
    link_waiter(w);
}

void sp_wait_begin_cond(struct sp_waiter *on_cond, struct sp_waiter *on_mutex,
                        const void *cond, const void *mutex, int64_t now)
{
    init_waiter(on_cond, cond, SP_WAIT_COND, now);
    init_waiter(on_mutex, mutex, SP_WAIT_COND_REACQUIRE, now);
    on_mutex->cond_twin = on_cond;
    link_waiter(on_cond);
    link_waiter(on_mutex);
}

void sp_wait_set_deadline(struct sp_waiter *w)
{
    __atomic_store_n(&w->timed, true, __ATOMIC_RELAXED);
}

void sp_wait_foreach(void (*fn)(const struct sp_waiter *w, void *arg), void *arg)
{
    for (unsigned i = 0; i < SP_WAIT_BUCKETS; i++) {
        struct sp_wait_bucket *b = &buckets[i];
        if (__atomic_load_n(&b->nwaiters, __ATOMIC_RELAXED) == 0)
            continue;
        sp_spin_lock(&b->lock);
        for (struct sp_waiter *w = b->head; w; w = w->next)
            fn(w, arg);
        sp_spin_unlock(&b->lock);
    }
}

void sp_wait_end(struct sp_waiter *w)
{
    struct sp_wait_bucket *b = bucket_of(w->object);
    sp_spin_lock(&b->lock);
    if (w->prev)
        w->prev->next = w->next;
    else
        b->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    __atomic_store_n(&b->nwaiters, b->nwaiters - 1, __ATOMIC_RELAXED);
    sp_spin_unlock(&b->lock);
}

bool sp_wait_maybe(const void *object)
{
    return __atomic_load_n(&bucket_of(object)->nwaiters, __ATOMIC_RELAXED) > 0;
}

/*
 * Since when w has waited for its object, as far as the mutex profile is
 * concerned, or -1 if it does not count: a condition waiter starts waiting
 * for its mutex only once it was woken.
 */
static int64_t charge_from(const struct sp_waiter *w)
{
    switch (w->reason) {
    case SP_WAIT_MUTEX:
    case SP_WAIT_RWLOCK_READ:
    case SP_WAIT_RWLOCK_WRITE:
        return w->charged_ns;
    case SP_WAIT_COND_REACQUIRE: {
        int64_t woken = __atomic_load_n(&w->cond_twin->woken_ns, __ATOMIC_ACQUIRE);
        if (woken == 0)
            return -1;
        return woken > w->charged_ns ? woken : w->charged_ns;
    }
    default:
        return -1;
    }
}

int64_t sp_wait_charge(const void *object, int64_t now)
{
    struct sp_wait_bucket *b = bucket_of(object);
    int64_t total = 0;
    sp_spin_lock(&b->lock);
    for (struct sp_waiter *w = b->head; w; w = w->next) {
        if (w->object != object || !w->profiled)
            continue;
        int64_t from = charge_from(w);
        if (from >= 0 && now > from) {
            total += now - from;
            w->charged_ns = now;
        }
    }
    sp_spin_unlock(&b->lock);
    return total;
}

int sp_wait_trace_wakers(const void *object, enum sp_wakers which, uint64_t first, int max,
                         int64_t *since)
{
    struct sp_wait_bucket *b = bucket_of(object);
    int n = 0;
    if (which != SP_WAKERS_POST)
        sp_spin_lock(&b->lock);
    else if (!sp_spin_lock_bounded(&b->lock, 1024))
        return -1;
    for (struct sp_waiter *w = b->head; w && n < max; w = w->next) {
        if (w->object != object)
            continue;
        int64_t from = w->start_ns;
        if (which == SP_WAKERS_RELEASE) {
            if (w->reason == SP_WAIT_COND_REACQUIRE) {
                from = __atomic_load_n(&w->cond_twin->woken_ns, __ATOMIC_ACQUIRE);
                if (from == 0)
                    continue;
            } else if (w->reason != SP_WAIT_MUTEX && w->reason != SP_WAIT_RWLOCK_READ &&
                       w->reason != SP_WAIT_RWLOCK_WRITE) {
                continue;
            }
        } else if (which == SP_WAKERS_COND) {
            if (w->reason != SP_WAIT_COND || __atomic_load_n(&w->woken_ns, __ATOMIC_ACQUIRE) == 0 ||
                __atomic_load_n(&w->wake_flow, __ATOMIC_RELAXED) != 0)
                continue;
        }
        uint64_t *flow = w->reason == SP_WAIT_COND_REACQUIRE ? &w->cond_twin->reacquire_flow
                                                             : &w->wake_flow;
        __atomic_store_n(flow, first + (uint64_t)n++, __ATOMIC_RELAXED);
        if (from < *since)
            *since = from;
    }
    sp_spin_unlock(&b->lock);
    return n;
}

void sp_wait_wake_cond(const void *cond, bool all, int64_t now)
{
    struct sp_wait_bucket *b = bucket_of(cond);
    struct sp_waiter *oldest = NULL;
    sp_spin_lock(&b->lock);
    for (struct sp_waiter *w = b->head; w; w = w->next) {
        if (w->object != cond || w->reason != SP_WAIT_COND ||
            __atomic_load_n(&w->woken_ns, __ATOMIC_RELAXED) != 0)
            continue;
        if (all)
            __atomic_store_n(&w->woken_ns, now, __ATOMIC_RELEASE);
        else if (!oldest || w->start_ns < oldest->start_ns)
            oldest = w;
    }
    if (oldest)
        __atomic_store_n(&oldest->woken_ns, now, __ATOMIC_RELEASE);
    sp_spin_unlock(&b->lock);
}

const char *sp_wait_reason_text(enum sp_wait_reason reason)
{
    return reason_texts[reason];
}

static const char *const reason_labels[] = {
#define SP_WAIT_LABEL(id, text, label) label,
    SP_WAIT_REASONS(SP_WAIT_LABEL)
#undef SP_WAIT_LABEL
};

const char *sp_wait_label(enum sp_wait_reason reason, bool timed)
{
    if (timed && (reason == SP_WAIT_COND || reason == SP_WAIT_COND_REACQUIRE))
        return "cond_timed";
    if (timed && reason == SP_WAIT_SEMAPHORE)
        return "sem_timed";
    return reason_labels[reason];
}
