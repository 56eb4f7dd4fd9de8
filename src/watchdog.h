/*
 * watchdog.h - the hang and deadlock watchdog (syncprof_watchdog_start in
 * <syncprof/dump.h>): one background thread that polls the wait table.
 *
 * Each poll collects every thread's wait (sp_waits_collect), and reports,
 * once per distinct situation (a situation is the set of (thread, wait
 * start) pairs it involves), each report followed by a full dump:
 *   - waits longer than the timeout (hangs);
 *   - a cycle in the wait-for graph of waits without a deadline, where a
 *     thread waits for the holder of its mutex or rwlock (glibc's owner
 *     fields; tracked readers when lock tracking is on);
 *   - every live thread but the library's own blocked in a wait without a
 *     deadline.
 * A cycle or "all asleep" counts only when two consecutive polls see it
 * with the same waits, so a wait that is just ending is never reported.
 * Polls run every min(timeout / 4, 100 ms); a poll costs a walk of the
 * wait table's 1024 buckets and, when every thread might be asleep, a read
 * of /proc/self/task.
 */
#ifndef SP_WATCHDOG_H
#define SP_WATCHDOG_H

#include <stdint.h>

/* The poll period for a timeout, in ns. */
int64_t sp_watchdog_period_ns(int64_t timeout_ns);

/* Reads SYNCPROF_HANG_TIMEOUT and SYNCPROF_DEADLOCK_ABORT, once at load. */
void sp_watchdog_from_environment(void);

#endif /* SP_WATCHDOG_H */
