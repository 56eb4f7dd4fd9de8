/*
 * summary_table.h - the table of heaviest stacks that both `syncprof
 * report` and the interposer's exit summary print, durations in pprof's
 * units, and which frames and waits the summaries set apart.
 *
 * No profiler state, no locks. The table is built in a
 * malloc'd string that the caller writes where it wants (the interposer
 * writes it with write(2), never through stdio, since the program may have
 * closed stderr).
 */
#ifndef SP_SUMMARY_TABLE_H
#define SP_SUMMARY_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One merged stack: frames leaf first, already demangled. */
struct sp_stack_row {
    int64_t weight;            /* delay in ns (or the count, for count-only profiles) */
    int64_t count;             /* events */
    int nframes;
    const char *const *frames; /* each "function" or "function (file:line)" */
};

struct sp_table_opts {
    size_t top;        /* rows printed (0: all) */
    int depth;         /* frames printed per stack (0: all) */
    bool oneline;      /* frames joined with " < " on the row's line */
    bool weight_is_ns; /* print weight as a duration; else as a number */
    const char *weight_title; /* column title, e.g. "delay" */
};

/*
 * The table of rows[0..n) (already sorted heaviest first) as text, with a
 * share column relative to total. Returns a malloc'd string, or NULL when
 * out of memory.
 */
char *sp_table_format(const struct sp_stack_row *rows, size_t n, int64_t total,
                      const struct sp_table_opts *o);

/* A duration as pprof prints it: "1.23s", "812.34ms", "12.50us", "345ns".
 * Writes into buf (at least 32 bytes) and returns it. */
char *sp_format_duration(int64_t ns, char *buf, size_t len);

/*
 * True for a (demangled) frame of the C and C++ runtime's lock plumbing:
 * __gthread_*, std::mutex, std::timed_mutex, std::shared_mutex,
 * std::unique_lock, std::lock_guard, std::scoped_lock,
 * std::condition_variable..., and std::thread's start-up (std::__invoke,
 * _Invoker, _State_impl). Summaries skip them after the leaf, so the first
 * caller shown is the program's own code.
 */
bool sp_frame_is_lock_plumbing(const char *name);

/* True for a block sample's "wait" label that is contention for a lock
 * (mutex, rwlock_read, rwlock_write), as opposed to waiting for an event
 * (cond, sem, join, barrier, chan_...), which is often a thread with
 * nothing to do. The summaries show the two apart. */
bool sp_wait_kind_is_lock(const char *wait);

#endif /* SP_SUMMARY_TABLE_H */
