/*
 * thread_dump.h - the thread dump (Go's goroutine?debug=2, a JVM's jstack):
 * every thread with what it waits for, since when, who holds that, the
 * locks it holds and its whole stack; the grouped "threads" profile; and
 * where reports go (SYNCPROF_DUMP or stderr).
 *
 * Everything here runs in an ordinary thread (never a signal handler): it
 * uses malloc, /proc and the symbolizer. Dumps from several threads at
 * once are safe (stack captures are serialized inside thread_stacks.c).
 */
#ifndef SP_THREAD_DUMP_H
#define SP_THREAD_DUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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

/*
 * Writes the full dump to fd; the calling thread's stack starts at leaf,
 * called from caller (see sp_stack_capture). 0, ENOMEM or the errno of a
 * failed read of /proc or write.
 */
int sp_dump_write(int fd, void *leaf, uintptr_t caller);

/* The "threads" profile: debug 0 pprof (goroutine/count per distinct
 * stack), 1 grouped text, 2 or more the full dump. Errors as above. */
int sp_threads_profile_write(int fd, int debug, void *leaf, uintptr_t caller);

/*
 * Prints the stack pcs[0..n) one frame a line ("    #i  0xADDR fn+0xOFF
 * file:line", inlined functions on lines of their own) with the symbols of
 * tab. from_wrapper drops the leading frames of the library's internal sp_
 * functions, so the stack starts in the wrapper.
 */
void sp_print_stack(FILE *f, const struct sp_pctab *tab, const uintptr_t *pcs, int n,
                    bool from_wrapper);

/* Prints object's address, and its name in quotes when it has one. */
void sp_print_object(FILE *f, const void *object);

/* Builds tab for the stacks stacks[i][0..nframes[i]) with the symbolizer s.
 * 0 or ENOMEM. */
int sp_stacks_symbolize(struct sp_pctab *tab, struct sp_symbolizer *s,
                        const uintptr_t *const *stacks, const int *nframes, size_t n);


/* Writes a finished report to the report destination: the file SYNCPROF_DUMP
 * names (appended to), or stderr. */
void sp_report_text(const char *text, size_t len);

/* Writes a full dump to the report destination. */
void sp_report_dump(void *leaf, uintptr_t caller);

#endif /* SP_THREAD_DUMP_H */
