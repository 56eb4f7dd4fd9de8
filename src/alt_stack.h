/*
 * alt_stack.h - running the unwinder where there is room for it.
 *
 * An unwinder (libgcc's for samples, libunwind's for dumps) parses DWARF
 * call-frame information and needs several KiB of stack. A program may give its threads the
 * minimum stack (PTHREAD_STACK_MIN, 16 KiB with glibc on x86-64), most of
 * it already used by the thread's own frames: unwinding there runs into
 * the guard page. So the unwinder runs on a borrowed stack from a small
 * pool whenever the thread's own may be too small.
 *
 * What a capture needs of the thread's own stack is then bounded and
 * small: for a sample, the wrappers' and recording frames (under 2 KiB);
 * in a dump's signal handler, the kernel's signal frame plus the handler's
 * own frame (under 1 KiB).
 *
 * The switch is a few instructions with call-frame information, so an
 * unwinder (ours, a debugger's, a crash handler's) walks from the borrowed
 * stack back into the thread's own frames as if nothing had changed.
 * On architectures other than x86-64 nothing is borrowed and fn runs in
 * place.
 */
#ifndef SP_ALT_STACK_H
#define SP_ALT_STACK_H

#include <stdbool.h>

/* Bytes of the thread's own stack under which the unwinder runs on a
 * borrowed one. */
#define SP_ALT_STACK_NEED (64 * 1024)

/*
 * Calls fn(arg) on the calling thread's stack if at least SP_ALT_STACK_NEED
 * bytes of it are left, else on a borrowed stack. Not from a signal
 * handler (the first call in a thread asks glibc for its stack bounds).
 * false, without calling fn, only if no borrowed stack came free within a
 * few milliseconds.
 */
bool sp_alt_stack_run(void (*fn)(void *), void *arg);

/*
 * The same from a signal handler: always on a borrowed stack, since the
 * thread's bounds may be unknown and must not be asked for there.
 * Async-signal-safe once sp_alt_stack_prepare has run.
 */
bool sp_alt_stack_run_in_handler(void (*fn)(void *), void *arg);

/* Maps the pool (once; later calls do nothing). 0 or an errno. Not from a
 * signal handler. */
int sp_alt_stack_prepare(void);

#endif /* SP_ALT_STACK_H */
