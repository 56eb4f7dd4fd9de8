/*
 * cli.h - the parts of the `syncprof` command (cli_main.c: the command
 * line and `syncprof run`; cli_report.c: `syncprof report`, with its
 * reader, merger and model in report_*.c; demangle.cc).
 * Each subcommand takes the arguments after its own name and returns the
 * process exit status.
 */
#ifndef SP_CLI_H
#define SP_CLI_H

#include <stdbool.h>

/* `syncprof run [options] -- PROGRAM ARGS...` */
int sp_cli_run(int argc, char **argv);

/* `syncprof report FILE [--top N] [--depth N] [--folded] [--text]` */
int sp_cli_report(int argc, char **argv);

/* `syncprof report --trace FILE [--top N] [--convoy N]`: an execution
 * trace as text (report_trace.c); the exit status. */
int sp_cli_report_trace(const char *path, long top, long convoy_min);

/* `syncprof report --by-lock FILE [--top N] [--csv]`: the per-lock table
 * (report_locks.c); the exit status. */
int sp_cli_report_by_lock(const char *path, long top, bool csv);

/* A malloc'd human name: C++ names demangled, others copied (demangle.cc).
 * NULL only when out of memory. */
char *sp_demangle(const char *name);

#endif /* SP_CLI_H */
