/*
 * lock_tracking.c - the acquisition and release hooks of lock_tracking.h: each
 * thread's list of the locks it holds (in its thread_registry record), the
 * lock-order check on every blocking acquisition (it asks the graph of
 * lock_order.h, and prints what the graph finds), and who holds a lock
 * according to glibc.
 *
 * The held list is a stack, oldest first, of at most SP_MAX_HELD entries;
 * acquisitions beyond that are counted (overflow) and not listed, and a
 * release of an unlisted lock uncounts one of them. A lock released by
 * another thread than the one that took it (legal for semaphores only,
 * which are not tracked) stays listed for its taker.
 *
 * Locking: none; only the owning thread writes its list (atomic stores,
 * read by dumps on other threads). Cost when tracking is on: a thread-local
 * load, a short scan from the top of the list on release, and the
 * lock-order check (lock_order.h) when locks are already held.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>

#include <syncprof/syncprof.h>

#include "env.h"
#include "export.h"
#include "lock_order.h"
#include "lock_tracking.h"
#include "report_sink.h"
#include "sampling.h"
#include "stack_print.h"
#include "symbolize.h"
#include "thread_registry.h"
#include "thread_stacks.h"

_Static_assert(sizeof(((struct sp_lo_origin *)0)->tname) == SP_THREAD_NAME_MAX,
               "an edge's thread name holds what prctl(PR_GET_NAME) gives");

static uint64_t order_reports; /* lock-order inversions reported; atomic */

SP_PUBLIC unsigned char syncprof__lock_tracking;
/* The flag's earlier name, which programs compiled against older headers
 * read: the same byte. */
SP_PUBLIC extern unsigned char syncprof__track_locks __attribute__((alias("syncprof__lock_tracking")));

void sp_lock_tracking_enable(void)
{
    __atomic_fetch_or(&syncprof__lock_tracking, SP_LOCK_FLAG_TRACK, __ATOMIC_RELEASE);
}

SP_PUBLIC int syncprof_lock_tracking_enable(void)
{
    sp_lock_tracking_enable();
    return 0;
}

void sp_lock_tracking_from_environment(void)
{
    bool on;
    if (sp_env_bool("SYNCPROF_TRACK_LOCKS", &on) && on)
        sp_lock_tracking_enable();
}

/* ---- Lock-order checking ------------------------------------------------------- */

/* Turns lock-order checking, and with it tracking, on for good. 0 or
 * ENOMEM. */
static int order_enable(void)
{
    int r = sp_lock_order_init();
    if (r == 0)
        sp_lock_tracking_enable();
    return r;
}

SP_PUBLIC int syncprof_lock_order_enable(void)
{
    return order_enable();
}

SP_PUBLIC uint64_t syncprof_lock_order_reports(void)
{
    return __atomic_load_n(&order_reports, __ATOMIC_RELAXED);
}

void sp_lock_order_from_environment(void)
{
    bool on;
    if (sp_env_bool("SYNCPROF_LOCK_ORDER", &on) && on && order_enable() != 0)
        fprintf(stderr, "syncprof: SYNCPROF_LOCK_ORDER: cannot map the lock-order graph\n");
}

/* The report of an inversion: the cycle, then each edge's thread and
 * stack, written to the report destination. */
static void order_report(const struct sp_lo_step *steps, int n)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return;
    struct sp_pctab tab = { 0 };
    const uintptr_t *stacks[SP_LO_MAX_CYCLE];
    int nframes[SP_LO_MAX_CYCLE];
    for (int i = 0; i < n; i++) {
        stacks[i] = steps[i].origin.pcs;
        nframes[i] = steps[i].origin.nframes;
    }
    struct sp_symbolizer *sym = sp_symbolizer_acquire();
    if (sym)
        sp_stacks_symbolize(&tab, sym, stacks, nframes, (size_t)n);
    fprintf(f, "syncprof: potential deadlock: lock-order inversion\n  cycle: ");
    for (int i = 0; i < n; i++) {
        sp_print_object(f, sym, steps[i].from);
        fprintf(f, " -> ");
    }
    sp_print_object(f, sym, steps[0].from);
    fprintf(f, "\n");
    for (int i = 0; i < n; i++) {
        fprintf(f, "\n  lock ");
        sp_print_object(f, sym, steps[i].to);
        fprintf(f, " acquired while holding ");
        sp_print_object(f, sym, steps[i].from);
        fprintf(f, " by thread %d \"%s\":\n", steps[i].origin.tid, steps[i].origin.tname);
        sp_print_stack(f, &tab, steps[i].origin.pcs, steps[i].origin.nframes, true);
    }
    fprintf(f, "\n");
    fclose(f);
    sp_pctab_free(&tab);
    if (sym)
        sp_symbolizer_release();
    sp_report_text(text, len);
    free(text);
}

/* The calling thread, holding held[0..n), acquires object (blocking):
 * each pair the graph does not know yet becomes an edge with this
 * thread's stack, and a cycle it closes is reported once. Its name starts
 * with sp_ so that the report's stacks, which drop the library's own sp_
 * frames, start in the wrapper. */
static void sp_order_check(const struct sp_held *held, int n, const void *object)
{
    for (int i = 0; i < n; i++) {
        const void *a = held[i].object;
        if (sp_lock_order_known(a, object))
            continue; /* a recursive re-acquisition, or a known edge */
        struct sp_lo_origin origin = { .tid = sp_self_tid(), .tname = "?" };
        struct sp_lo_step steps[SP_LO_MAX_CYCLE];
        sp_enter_profiler();
        prctl(PR_GET_NAME, origin.tname); /* the name now: the thread may be gone at report time */
        origin.nframes = sp_backtrace_here(origin.pcs, SP_LO_FRAMES);
        int len = sp_lock_order_insert(a, object, &origin, steps);
        if (len > 0) {
            __atomic_fetch_add(&order_reports, 1, __ATOMIC_RELAXED);
            order_report(steps, len);
        }
        sp_leave_profiler();
    }
}

/* ---- The hooks ----------------------------------------------------------------- */

void sp_lock_tracking_acquired(const void *object, enum sp_wait_reason reason, bool trylock)
{
    if (sp_in_profiler())
        return; /* the profiler's own helpers' locks (libunwind's, under the interposer) */
    struct sp_thread_rec *r = sp_thread_self();
    if (!r)
        return;
    int n = r->nheld;
    if (!trylock && n > 0 && sp_lock_order_on())
        sp_order_check(r->held, n, object);
    if (n >= SP_MAX_HELD) {
        __atomic_store_n(&r->untracked, r->untracked + 1, __ATOMIC_RELAXED);
        __atomic_store_n(&r->overflow, r->overflow + 1, __ATOMIC_RELAXED);
        return;
    }
    __atomic_store_n(&r->held[n].object, object, __ATOMIC_RELAXED);
    __atomic_store_n(&r->held[n].reason, (int)reason, __ATOMIC_RELAXED);
    __atomic_store_n(&r->nheld, n + 1, __ATOMIC_RELEASE);
}

void sp_lock_tracking_released(const void *object)
{
    if (sp_in_profiler())
        return;
    struct sp_thread_rec *r = sp_thread_self();
    if (!r)
        return;
    int n = r->nheld;
    for (int i = n - 1; i >= 0; i--) {
        if (r->held[i].object != object)
            continue;
        for (int j = i; j + 1 < n; j++) {
            __atomic_store_n(&r->held[j].object, r->held[j + 1].object, __ATOMIC_RELAXED);
            __atomic_store_n(&r->held[j].reason, r->held[j + 1].reason, __ATOMIC_RELAXED);
        }
        __atomic_store_n(&r->nheld, n - 1, __ATOMIC_RELEASE);
        return;
    }
    if (r->untracked > 0)
        __atomic_store_n(&r->untracked, r->untracked - 1, __ATOMIC_RELAXED);
}

void sp_lock_tracking_destroyed(const void *object)
{
    if (sp_lock_order_on())
        sp_lock_order_forget(object);
}

/* glibc's kind bits for robust and priority-inheritance mutexes, and the
 * thread-id part of their lock word (the kernel's FUTEX_TID_MASK). */
#define SP_MUTEX_ROBUST_OR_PI (16 | 32)
#define SP_FUTEX_TID_MASK 0x3fffffff

int sp_lock_owner(const void *object, enum sp_wait_reason reason)
{
#ifdef __GLIBC__
    switch (reason) {
    case SP_WAIT_MUTEX:
    case SP_WAIT_COND_REACQUIRE: {
        pthread_mutex_t *m = (pthread_mutex_t *)object;
        int owner = __atomic_load_n(&m->__data.__owner, __ATOMIC_RELAXED);
        if (owner > 0 && owner <= SP_FUTEX_TID_MASK) /* not a dead robust owner's mark */
            return owner;
        if (__atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED) & SP_MUTEX_ROBUST_OR_PI)
            return __atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) & SP_FUTEX_TID_MASK;
        return 0;
    }
    case SP_WAIT_RWLOCK_READ:
    case SP_WAIT_RWLOCK_WRITE: {
        pthread_rwlock_t *rw = (pthread_rwlock_t *)object;
        return (int)__atomic_load_n(&rw->__data.__cur_writer, __ATOMIC_RELAXED);
    }
    default:
        return 0;
    }
#else
    (void)object;
    (void)reason;
    return 0;
#endif
}

int sp_lock_holders_tracked(const void *object, int *tids, int max)
{
    int found = 0;
    for (struct sp_thread_rec *r = sp_thread_records(); r && found < max; r = r->next) {
        int tid = __atomic_load_n(&r->tid, __ATOMIC_ACQUIRE);
        int n = __atomic_load_n(&r->nheld, __ATOMIC_ACQUIRE);
        for (int i = 0; tid != 0 && i < n && i < SP_MAX_HELD; i++) {
            if (__atomic_load_n(&r->held[i].object, __ATOMIC_RELAXED) == object) {
                tids[found++] = tid;
                break;
            }
        }
    }
    return found;
}
