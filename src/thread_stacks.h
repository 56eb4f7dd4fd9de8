/*
 * thread_stacks.h - every thread of the process with its name, kernel
 * state and whole stack, for thread dumps and the "threads" profile.
 *
 * Threads are found through /proc/self/task, so threads that never called
 * a wrapper are included. Another thread's stack is taken by signalling it
 * (one real-time signal, see sp_stack_signal): its handler unwinds its own
 * stack with libunwind from the interrupted context into a slot mapped in
 * advance (no malloc, only async-signal-safe calls) and wakes the caller.
 * A thread that does not answer within SP_STACK_ANSWER_MS (stuck in the
 * kernel, say) is returned with available false; so is one that blocks the
 * signal, without waiting that long: after every 10 ms of waiting, if all
 * the threads that have not answered block it (SigBlk in
 * /proc/self/task/TID/status), the capture stops waiting.
 *
 * Side effect, as for any signal-based profiler: a system call that the
 * kernel does not restart after a handler (nanosleep, poll, epoll_wait,
 * select, sem_timedwait...) returns EINTR in the interrupted thread.
 *
 * Thread safety: captures are serialized by an internal futex lock; any
 * thread may call. Not from a signal handler (it uses malloc).
 */
#ifndef SP_THREAD_STACKS_H
#define SP_THREAD_STACKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profile_table.h"

#define SP_THREAD_NAME_MAX 16
#define SP_STACK_ANSWER_MS 500

struct sp_thread_stack {
    int tid;
    char name[SP_THREAD_NAME_MAX]; /* /proc/self/task/TID/comm */
    char state;                    /* the kernel's state letter (R, S, D, ...), '?' if unknown */
    bool available;                /* false: "stack unavailable" */
    bool signals_blocked;          /* unavailable because it blocks the stack signal */
    int nframes;
    /* Return addresses, leaf first (profile_table.h's convention: pc - 1
     * is looked up). A signalled thread's pcs[0] is its interrupted
     * instruction + 1. */
    uintptr_t pcs[SP_MAX_FRAMES];
};

/*
 * Every thread of the process, sorted by tid, in a malloc'd array the
 * caller frees. The calling thread's own stack starts at leaf (the public
 * entry point) and caller, as sp_stack_capture does. Returns 0, ENOMEM, or
 * the errno of reading /proc/self/task or installing the signal handler.
 */
int sp_threads_capture(struct sp_thread_stack **out, size_t *n, void *leaf, uintptr_t caller);

/* The calling thread's return addresses, innermost first, up to max.
 * Async-signal-safe. */
int sp_backtrace_here(uintptr_t *pcs, int max);

/* The name of thread tid ("?" if it is gone). */
void sp_thread_name(int tid, char name[SP_THREAD_NAME_MAX]);

/* The signal used to take stacks, once chosen (0 before the first
 * capture): the first of SIGRTMIN+7 ... SIGRTMAX whose handler is the
 * default one. */
int sp_stack_signal(void);

/* Ensures the stack signal is chosen and its handler installed (done by the
 * first capture; a service thread calls it to unblock that signal only).
 * 0 or an errno. */
int sp_stack_signal_install(void);

/* For the library's own threads (watchdog, dumper): blocks every signal
 * but the stack signal, so the program's signals go to its own threads. */
void sp_service_thread_signals(void);

#endif /* SP_THREAD_STACKS_H */
