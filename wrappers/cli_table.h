/*
 * cli_table.h - the table of heaviest stacks that both `syncprof report`
 * and the interposer's exit summary print, and the small helpers they
 * share (durations, signal names).
 *
 * Pure formatting: no profiler state, no locks. Everything is built in a
 * malloc'd string that the caller writes where it wants (the interposer
 * writes it with write(2), never through stdio, since the program may have
 * closed stderr).
 */
#ifndef SP_CLI_TABLE_H
#define SP_CLI_TABLE_H

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
 * A signal given as a number ("12"), a name ("USR2", "SIGUSR2", any case)
 * or "0"/"none"/"off" (0: no signal). Returns the number, or -1 if the text
 * names no signal that may be caught (KILL and STOP are refused).
 */
int sp_signal_parse(const char *text);

/* "SIGUSR2" for 12; "signal 40" for others without a name (buf >= 32). */
const char *sp_signal_name(int sig, char *buf, size_t len);

#endif /* SP_CLI_TABLE_H */
