/*
 * lock_stats.h - the per-lock table behind `/debug/pprof/locks` and
 * syncprof_write_profile("locks"): for each contended or timed lock, its
 * identity (lock_identity.h, or its syncprof_set_name name), contended
 * acquisitions, total, longest and 99th-percentile wait, and the hold
 * profile's estimates (holds, total, longest timed hold).
 *
 * Waits are every observed wait on a mutex, rwlock or condition variable
 * (not sampled: the wrappers report each one); holds are the hold
 * profile's timed holds, each weighted by the holds it stands for, so
 * acquisitions and hold totals are estimates (marked so in the output).
 * The 99th percentile is read from a histogram of 4 buckets per power of
 * two: it is the upper edge of its bucket, at most 25% above the truth;
 * the longest wait is exact.
 *
 * Bounded: SP_LOCK_STATS locks, static, under one spinlock (a wait already
 * blocked; a timed hold is one in K); a lock that finds no room is counted
 * in the output's header. Not in a signal handler.
 */
#ifndef SP_LOCK_STATS_H
#define SP_LOCK_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SP_LOCK_STATS 512
#define SP_LOCK_HIST_SUB 4 /* histogram buckets per power of two */
#define SP_LOCK_HIST (40 * SP_LOCK_HIST_SUB)

/* What a row's lock is, from the first wait or timed hold that names it.
 * A condition variable is waited on, never held: its row has no
 * acquisitions and no owner changes (written "-", or empty in CSV). */
enum sp_lock_kind { SP_LOCK_UNKNOWN, SP_LOCK_MUTEX, SP_LOCK_RWLOCK, SP_LOCK_COND };

/* The kind of lock a wait label names (sp_wait_label: "mutex",
 * "rwlock_read", "cond_timed", ...); SP_LOCK_UNKNOWN for any other wait. */
enum sp_lock_kind sp_lock_kind_of_wait(const char *wait);

/* A wait of d ns for lock (of kind) ended; use_site as for sp_lock_token. */
void sp_lock_stats_wait(const void *lock, enum sp_lock_kind kind, int64_t d, uintptr_t use_site);

/* A timed hold of lock (of kind) lasted d ns and stands for weight holds. */
void sp_lock_stats_hold(const void *lock, enum sp_lock_kind kind, int64_t d, double weight,
                        uintptr_t use_site);

/* Writes the table to fd, heaviest first: text, or CSV with a header row;
 * hold_rate is the hold profile's, for the header. 0, ENOMEM or the
 * write's errno. Write time only (names sites). */
int sp_lock_stats_write(int fd, bool csv, int64_t hold_rate);

/* Rows in the table. */
size_t sp_lock_stats_rows(void);

/* The histogram bucket of d ns, and the upper edge of bucket i (tests). */
int sp_lock_hist_bucket(int64_t d);
int64_t sp_lock_hist_upper(int i);

#endif /* SP_LOCK_STATS_H */
