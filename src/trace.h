/*
 * trace.h - the execution tracer's hooks, called by the wrappers and the
 * channel while a trace runs (trace_events.c records them into the
 * calling thread's ring; trace_session.c writes them out).
 *
 * Cost when no trace runs: callers test sp_tracing(), one byte read with a
 * relaxed load, and only on paths that already block or already found a
 * waiter; they call nothing else.
 */
#ifndef SP_TRACE_H
#define SP_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "trace_ring.h"
#include "wait_table.h"

/* Nonzero while a trace runs; exported, read by <syncprof/trace.h>'s inline
 * functions. */
extern unsigned char syncprof__tracing;

static inline bool sp_tracing(void)
{
    return __atomic_load_n(&syncprof__tracing, __ATOMIC_RELAXED) != 0;
}

/*
 * A wrapped wait of the calling thread ended: w is its record (on the
 * object it waited for), registered or not any more, end its end. Recorded
 * as a slice on the thread's track, with the flows from the threads that
 * woke it (the ids its wakers left in the record: for a condition wait,
 * the signal and the release of the mutex it re-acquired).
 */
void sp_trace_wait(const struct sp_waiter *w, int64_t end);

/*
 * The calling thread is about to release object (a mutex or rwlock), on
 * which threads wait (sp_wait_maybe said so): its hold, from when it began
 * to keep someone waiting, is recorded as a slice on the thread's holds
 * track, with a flow out to each waiter (wait_table.h,
 * sp_wait_trace_wakers). Must be called before the real release, while the
 * waiters are still registered.
 */
void sp_trace_release(const void *object, enum sp_wait_reason kind);

/*
 * The calling thread signalled or broadcast on a condition (after
 * sp_wait_wake_cond marked the waiters it woke), arrived at a barrier, or
 * is about to wake a waiter on a channel: an instant on its track, with a
 * flow out to each waiter it may end.
 */
void sp_trace_wake(const void *object, enum sp_trace_wake_kind kind);

/*
 * The calling thread is about to post semaphore sem, on which threads wait
 * (sp_wait_maybe said so): an instant with a flow out to each of them.
 * Async-signal-safe, as sem_post: from a handler that interrupted its
 * thread's own recording or the wait table's bucket, it records nothing
 * and counts the record lost.
 */
void sp_trace_post(const void *sem);

/*
 * A join's waker is the joined thread's end, which no wrapper sees: the
 * joiner records it for it when its join returns, as an instant at now on
 * the joined thread's track (tid, named name as read when the join began)
 * with a flow to the join's wait. Returns the flow id for the wait's
 * record (sp_waiter.wake_flow), or 0 when nothing was recorded.
 */
uint64_t sp_trace_thread_end(const void *thread, int tid, const char *name, int64_t now);

#endif /* SP_TRACE_H */
