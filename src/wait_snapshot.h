/*
 * wait_snapshot.h - what every thread waits for, now: the wait table read
 * into one sorted array, for thread dumps and the watchdog.
 *
 * Runs in an ordinary thread (malloc; with stacks, unwinding). Cost:
 * linear in the number of waiting threads, each wait-table bucket locked
 * in turn.
 */
#ifndef SP_WAIT_SNAPSHOT_H
#define SP_WAIT_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format_common.h"
#include "wait_table.h"

/* What one thread waits for, merged from its wait-table entries. */
struct sp_thread_wait {
    int tid;
    enum sp_wait_reason reason; /* SP_WAIT_COND until signalled, then SP_WAIT_COND_REACQUIRE */
    const void *object;         /* what it waits for (a signalled cond waiter: the mutex) */
    const void *cond;           /* cond waits: the condition variable; else NULL */
    const void *mutex;          /* cond waits: the mutex; else NULL */
    int64_t start_ns;           /* since when (CLOCK_MONOTONIC) */
    bool timed;                 /* has a deadline */
    int holder;                 /* the holder's tid according to glibc, 0 unknown */
    int nframes;                /* with stacks: from the wrapper's saved registers; 0 none */
    uintptr_t pcs[SP_MAX_FRAMES];
};

/* Every thread's current wait, sorted by tid, in a malloc'd array. With
 * with_stacks, each wait's stack too, unwound from the registers its
 * wrapper saved (the thread is not interrupted). 0 or ENOMEM. */
int sp_waits_collect(struct sp_thread_wait **out, size_t *n, bool with_stacks);

/* The wait of tid in a sorted array, or NULL. */
const struct sp_thread_wait *sp_waits_find(const struct sp_thread_wait *w, size_t n, int tid);

/* What a lock is called in a report: "mutex", "rwlock", "cond", ... */
const char *sp_wait_object_kind(enum sp_wait_reason reason);

#endif /* SP_WAIT_SNAPSHOT_H */
