/*
 * <syncprof/trace.h> - the execution tracer: a timeline of every wait and
 * every contended hold, with who woke whom, the program's own tasks,
 * regions and logs, written in Perfetto's trace format (open it in
 * ui.perfetto.dev; see docs/tracing.md).
 *
 * Go's runtime/trace in spirit: start a trace on a file descriptor, stop
 * it, and mark tasks (which may end on another thread), regions (which
 * begin and end on one thread, nested) and log lines. When no trace runs,
 * each of the marking calls costs one load and one branch.
 *
 * Also from the environment: SYNCPROF_TRACE=FILE traces the whole run into
 * FILE, SYNCPROF_TRACE_MIN=NS leaves out waits shorter than NS ns.
 */
#ifndef SYNCPROF_TRACE_H
#define SYNCPROF_TRACE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Starts a trace written to fd, which the tracer writes from its own
 * thread until syncprof_trace_stop (it never closes fd). EBUSY when a
 * trace already runs, EBADF for a negative fd, ENOMEM or EAGAIN when the
 * buffers or the writer thread cannot be had.
 */
int syncprof_trace_start(int fd);

/*
 * Stops the trace: what the threads recorded is written, with the count of
 * events that did not fit in the buffers, and the call returns when it
 * all is. 0, ENOENT when no trace runs, or the error of the first failed
 * write (the trace then ends early, still decodable up to there).
 */
int syncprof_trace_stop(void);

/*
 * Waits (and holds) shorter than ns nanoseconds are left out of the traces
 * started from now on, to keep traces small; 0 (the default) keeps all.
 * EINVAL for a negative ns.
 */
int syncprof_trace_set_min_wait(int64_t ns);

/* A task: 0 when no trace ran at its beginning (then ending it does nothing). */
typedef uint64_t syncprof_task;

/* Out-of-line halves of the functions below; call those instead. */
syncprof_task syncprof__task_begin(const char *name);
void syncprof__task_end(syncprof_task task);
void syncprof__region_begin(const char *name);
void syncprof__region_end(void);
void syncprof__trace_log(const char *category, const char *message);
extern unsigned char syncprof__tracing;

/* One load and one branch; __inline__ (GNU C) works from C89 on. */
#if defined(__GNUC__)
#define SYNCPROF_TRACING_() __builtin_expect(__atomic_load_n(&syncprof__tracing, __ATOMIC_RELAXED), 0)
#define SYNCPROF_TRACE_INLINE_ static __inline__
#else
#define SYNCPROF_TRACING_() (*(volatile unsigned char *)&syncprof__tracing)
#define SYNCPROF_TRACE_INLINE_ static inline
#endif

/*
 * Begins a task named name (copied; at most 200 bytes are kept): shown on
 * a track of its own from here to syncprof_task_end, which any thread may
 * call, with an arrow from the thread that began it to the one that ended
 * it.
 */
SYNCPROF_TRACE_INLINE_ syncprof_task syncprof_task_begin(const char *name)
{
    return SYNCPROF_TRACING_() ? syncprof__task_begin(name) : 0;
}

SYNCPROF_TRACE_INLINE_ void syncprof_task_end(syncprof_task task)
{
    if (task)
        syncprof__task_end(task);
}

/*
 * A region of the calling thread's work, shown as a slice on its track
 * with the waits it contains; regions nest. End them in reverse order of
 * beginning, on the same thread (name is only for the reader: the
 * innermost open region ends).
 */
SYNCPROF_TRACE_INLINE_ void syncprof_region_begin(const char *name)
{
    if (SYNCPROF_TRACING_())
        syncprof__region_begin(name);
}

SYNCPROF_TRACE_INLINE_ void syncprof_region_end(const char *name)
{
    (void)name;
    if (SYNCPROF_TRACING_())
        syncprof__region_end();
}

/* A log line: an instant on the calling thread's track named message, in
 * category. */
SYNCPROF_TRACE_INLINE_ void syncprof_trace_log(const char *category, const char *message)
{
    if (SYNCPROF_TRACING_())
        syncprof__trace_log(category, message);
}

#ifdef __cplusplus
}
#endif

#endif /* SYNCPROF_TRACE_H */
