/*
 * cli_table.h - the table of heaviest stacks that both `syncprof report`
 * and the interposer's exit summary print, and the small helpers they
 * share (durations, signal names, the signal parser, creating an output
 * directory). The library has this file too, for the parser and
 * sp_mkdir_p: they are then one piece of code for the library's
 * environment variables and the command's options alike.
 *
 * No profiler state, no locks. The table is built in a
 * malloc'd string that the caller writes where it wants (the interposer
 * writes it with write(2), never through stdio, since the program may have
 * closed stderr).
 */
#ifndef SP_CLI_TABLE_H
#define SP_CLI_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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
 * A signal given as a number ("12"), a name ("USR2", "SIGUSR2", any case)
 * or "0"/"none"/"off" (0: no signal). Returns the number; -1 if the text
 * names no signal; -2 if it names one that sp_signal_refusal refuses, and
 * then its number in *refused (when refused is not NULL). The one parser of
 * SYNCPROF_DUMP_SIGNAL, SYNCPROF_WRITE_SIGNAL and `syncprof run`'s
 * --dump-signal and --write-signal.
 */
int sp_signal_parse(const char *text, int *refused);

/*
 * Why SIG cannot be a dump or write signal, or NULL when it can:
 * "cannot be caught" (KILL, STOP), or "is a fault signal" (ILL, TRAP, BUS,
 * FPE, SEGV, SYS): the kernel sends those for the instruction that faults,
 * so a handler that returns runs it again, and a program's real crash
 * would turn into a dump or a profile write instead of the crash.
 */
const char *sp_signal_refusal(int sig);

/* "SIGSEGV is a fault signal, not usable for USE" into buf (>= 128 bytes);
 * returns buf. */
char *sp_signal_refused_text(int sig, const char *use, char *buf, size_t len);

/* "SIGUSR2" for 12; "signal 40" for others without a name (buf >= 32). */
const char *sp_signal_name(int sig, char *buf, size_t len);

/*
 * Creates directory PATH with MODE (less the umask), and its missing
 * parents, as `mkdir -p`. 0 when it exists as a directory afterwards (also
 * when it did before), else the errno of the step that failed (ENOTDIR when
 * a component is not a directory).
 */
int sp_mkdir_p(const char *path, mode_t mode);

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

#endif /* SP_CLI_TABLE_H */
