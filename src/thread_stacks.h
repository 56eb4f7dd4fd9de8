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
 * select, sem_timedwait...) returns EINTR in the interrupted thread; hence
 * the capture modes below, and no signal at all for threads in wrapped
 * waits.
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
#include "wait_table.h"

#define SP_THREAD_NAME_MAX 16
#define SP_STACK_ANSWER_MS 500

/* How a thread's stack was taken, or why it was not. */
enum sp_stack_source {
    SP_STACK_SIGNALLED,   /* its handler unwound it (or it is the caller's own) */
    SP_STACK_FROM_WAIT,   /* from the registers its wrapper saved: not interrupted */
    SP_STACK_NOT_TAKEN,   /* asleep in a system call, and not to be interrupted */
    SP_STACK_SERVICE,     /* one of syncprof's own threads: neither taken nor shown */
};

struct sp_thread_stack {
    int tid;
    char name[SP_THREAD_NAME_MAX]; /* /proc/self/task/TID/comm */
    char state;                    /* the kernel's state letter (R, S, D, ...), '?' if unknown */
    bool available;                /* false: "stack unavailable" */
    bool signals_blocked;          /* unavailable because it blocks the stack signal */
    enum sp_stack_source source;
    int nframes;
    /* Return addresses, leaf first (profile_table.h's convention: pc - 1
     * is looked up). A signalled thread's pcs[0] is its interrupted
     * instruction + 1. */
    uintptr_t pcs[SP_MAX_FRAMES];
};

/*
 * Which threads a capture may interrupt with the stack signal. A thread
 * that is in a wrapped wait is never interrupted: its stack comes from the
 * registers its wrapper saved (sp_thread_waited). Interrupting a thread
 * that sleeps in any other system call makes calls that the kernel does
 * not restart (poll, epoll_wait, select, nanosleep, ...) return early with
 * EINTR, so:
 *   SP_CAPTURE_FULL     a full dump (SIGQUIT, goroutine?debug=2, the
 *                       watchdog): every other thread is interrupted,
 *                       unless SYNCPROF_DUMP_INTERRUPT=0 said not to
 *                       interrupt sleeping ones;
 *   SP_CAPTURE_PROFILE  a profile: only running threads are interrupted.
 */
enum sp_capture_mode { SP_CAPTURE_FULL, SP_CAPTURE_PROFILE };

/* A thread's stack known without interrupting it (from a wrapped wait). */
struct sp_thread_waited {
    int tid;
    int nframes;
    const uintptr_t *pcs;
};

/*
 * Every thread of the process, sorted by tid, in a malloc'd array the
 * caller frees. The calling thread's own stack starts at leaf (the public
 * entry point) and caller, as sp_stack_capture does. waited[0..nwaited),
 * sorted by tid, gives the stacks of threads in wrapped waits. Returns 0,
 * ENOMEM, or the errno of reading /proc/self/task or installing the signal
 * handler.
 */
int sp_threads_capture(struct sp_thread_stack **out, size_t *n, void *leaf, uintptr_t caller,
                       const struct sp_thread_waited *waited, size_t nwaited,
                       enum sp_capture_mode mode);

/* SYNCPROF_DUMP_INTERRUPT: false keeps full dumps from interrupting threads
 * asleep in system calls (they are shown without a stack). */
void sp_threads_set_interrupt(bool on);

/*
 * Unwinds another thread's stack from registers its wrapper saved, into
 * pcs[0..max); returns the number of frames. The caller guarantees that
 * the thread stays in that frame meanwhile (sp_wait_foreach's bucket lock).
 */
int sp_unwind_saved(const struct sp_wait_regs *r, uintptr_t *pcs, int max);

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
