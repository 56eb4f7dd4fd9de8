/*
 * lock_track.c - the acquisition and release hooks of lock_track.h: each
 * thread's list of the locks it holds (in its thread_registry record), the
 * lock-order check on every blocking acquisition, and who holds a lock
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
#include <syncprof/syncprof.h>

#include "config.h"
#include "env.h"
#include "export.h"
#include "lock_order.h"
#include "lock_track.h"
#include "sampling.h"
#include "thread_registry.h"

#include <pthread.h>

SP_PUBLIC unsigned char syncprof__track_locks;

void sp_tracking_enable(void)
{
    __atomic_store_n(&syncprof__track_locks, 1, __ATOMIC_RELEASE);
}

SP_PUBLIC int syncprof_lock_tracking_enable(void)
{
    sp_tracking_enable();
    return 0;
}

void sp_lock_track_from_environment(void)
{
    bool on;
    if (sp_env_bool("SYNCPROF_TRACK_LOCKS", &on) && on)
        sp_tracking_enable();
}

void sp_track_acquired(const void *object, enum sp_wait_reason reason, bool trylock)
{
    if (sp_in_profiler())
        return; /* the profiler's own helpers' locks (libunwind's, under the interposer) */
    struct sp_thread_rec *r = sp_thread_self();
    if (!r)
        return;
    int n = r->nheld;
    if (!trylock && n > 0 && sp_lock_order_on())
        sp_lock_order_acquired(r->held, n, object);
    if (n >= SP_MAX_HELD) {
        __atomic_store_n(&r->untracked, r->untracked + 1, __ATOMIC_RELAXED);
        __atomic_store_n(&r->overflow, r->overflow + 1, __ATOMIC_RELAXED);
        return;
    }
    __atomic_store_n(&r->held[n].object, object, __ATOMIC_RELAXED);
    __atomic_store_n(&r->held[n].reason, (int)reason, __ATOMIC_RELAXED);
    __atomic_store_n(&r->nheld, n + 1, __ATOMIC_RELEASE);
}

void sp_track_released(const void *object)
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

void sp_track_destroyed(const void *object)
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
