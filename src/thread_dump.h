/*
 * thread_dump.h - the thread dump (Go's goroutine?debug=2, a JVM's jstack):
 * every thread with what it waits for, since when, who holds that, the
 * locks it holds and its whole stack; and the grouped "threads" profile.
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

#include "wait_snapshot.h"

/*
 * Writes the full dump to fd; the calling thread's stack starts at leaf,
 * called from caller (see sp_stack_capture). 0, ENOMEM or the errno of a
 * failed read of /proc or write.
 */
int sp_dump_write(int fd, void *leaf, uintptr_t caller);

/* The "threads" profile: debug 0 pprof (goroutine/count per distinct
 * stack), 1 grouped text, 2 or more the full dump. Errors as above. */
int sp_threads_profile_write(int fd, int debug, void *leaf, uintptr_t caller);

/* Writes a full dump to the report destination (report_sink.h). */
void sp_report_dump(void *leaf, uintptr_t caller);

/* Reads SYNCPROF_DUMP_INTERRUPT, once at load (config.c). */
void sp_dump_from_environment(void);

#endif /* SP_THREAD_DUMP_H */
