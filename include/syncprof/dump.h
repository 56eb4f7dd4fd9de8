/*
 * <syncprof/dump.h> - thread dumps, the hang and deadlock watchdog, and
 * lock-order checking (included by <syncprof/syncprof.h>).
 *
 * Errors: the rule of <syncprof/syncprof.h>, 0 or a positive errno value;
 * syncprof_lock_order_reports returns a count and cannot fail.
 *
 * Environment, read when the library is loaded (a bad value prints one
 * warning line and is ignored):
 *   SYNCPROF_DUMP_SIGNAL     a signal name (QUIT, SIGUSR1, ...) or number: as
 *                            syncprof_dump_on_signal
 *   SYNCPROF_DUMP            file the signal's dumps and every watchdog and
 *                            lock-order report are appended to (default stderr)
 *   SYNCPROF_DUMP_EXIT=1     after a signal's dump, exit with status 2 (as Go)
 *   SYNCPROF_HANG_TIMEOUT    seconds: as syncprof_watchdog_start
 *   SYNCPROF_DEADLOCK_ABORT=1  abort() after the watchdog reports a deadlock
 *   SYNCPROF_LOCK_ORDER=1    as syncprof_lock_order_enable
 *   SYNCPROF_TRACK_LOCKS=1   as syncprof_lock_tracking_enable
 *
 * Stacks of other threads are taken with a real-time signal (the first of
 * SIGRTMIN+7 ... SIGRTMAX whose handler is the default one): like any
 * signal-based profiler, a dump makes system calls that the kernel does
 * not restart (nanosleep, poll, epoll_wait, select, sem_timedwait) return
 * EINTR in the threads it interrupts. See docs/dumps.md.
 */
#ifndef SYNCPROF_DUMP_H
#define SYNCPROF_DUMP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Writes a dump of every thread of the process to fd: id, name, what it
 * waits for, for how long, who holds that lock, the locks it holds (when
 * lock tracking is on) and its whole stack. A thread that does not answer
 * within 500 ms (signals blocked) is listed as "stack unavailable". Also
 * syncprof_write_profile("threads", fd, 2). EBADF, ENOMEM, or the errno of
 * the failed write.
 */
int syncprof_dump_threads(int fd);

/*
 * From now on, signal sig dumps every thread to the SYNCPROF_DUMP file or
 * stderr, and the program goes on (as a JVM on SIGQUIT), unless
 * SYNCPROF_DUMP_EXIT=1 (then it exits with status 2, as Go). The handler
 * only wakes a dumper thread, which does the work. Replaces the signal's
 * previous handler. EINVAL for SIGKILL, SIGSTOP, the stack signal or a
 * number that is not a signal; EAGAIN if the dumper thread cannot start.
 */
int syncprof_dump_on_signal(int sig);

/*
 * Starts (or re-times) the watchdog: a thread that looks at the process a
 * few times per timeout (at least every 100 ms) and reports, once per
 * situation, to the SYNCPROF_DUMP file or stderr, each followed by a dump:
 *   "syncprof: thread T "name" blocked in REASON for S seconds"
 *       when a thread stays in one wait longer than seconds;
 *   "syncprof: deadlock detected" and the cycle, thread by thread and lock
 *       by lock, as soon as waits without a deadline form a cycle;
 *   "syncprof: all threads are asleep - deadlock!" when every thread of
 *       the process is blocked in a wait without a deadline.
 * With SYNCPROF_DEADLOCK_ABORT=1 the two deadlock reports end in abort().
 * EINVAL unless 0 < seconds <= 1e6; EAGAIN if the thread cannot start.
 */
int syncprof_watchdog_start(double seconds);

/* Stops the watchdog and waits for its thread to end. 0 (also when it was
 * not running). */
int syncprof_watchdog_stop(void);

/*
 * Turns lock-order checking on for good (lockdep-style): every blocking
 * acquisition of B while holding A adds A -> B, and the first acquisition
 * that closes a cycle reports "syncprof: potential deadlock: lock-order
 * inversion" with the cycle and each edge's stack. Turns lock tracking on.
 * ENOMEM if the graph cannot be mapped.
 */
int syncprof_lock_order_enable(void);

/* How many lock-order inversions were reported so far. */
uint64_t syncprof_lock_order_reports(void);

/*
 * Turns lock tracking on for good: dumps then list the locks each thread
 * holds, and rwlocks held for reading show their readers. Every lock and
 * unlock then goes through the library (measured in docs/performance.md).
 * Cannot fail; returns 0.
 */
int syncprof_lock_tracking_enable(void);

#ifdef __cplusplus
}
#endif

#endif /* SYNCPROF_DUMP_H */
