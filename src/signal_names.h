/*
 * signal_names.h - signal names and the one parser of a signal given by
 * the user, shared by the library's environment variables and the
 * syncprof command's options, so both accept and refuse the same texts.
 */
#ifndef SP_SIGNAL_NAMES_H
#define SP_SIGNAL_NAMES_H

#include <stddef.h>

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

#endif /* SP_SIGNAL_NAMES_H */
