/*
 * trace_session.h - the running trace (trace_session.c): its number, which
 * every record carries, and its threshold.
 */
#ifndef SP_TRACE_SESSION_H
#define SP_TRACE_SESSION_H

#include <stdint.h>

/* The number of the running (or last) trace. */
uint32_t sp_trace_session(void);

/* Waits and holds shorter than this (ns) are left out. */
int64_t sp_trace_min_wait(void);

/* Reads SYNCPROF_TRACE and SYNCPROF_TRACE_MIN, once at load (config.c). */
void sp_trace_from_environment(void);

#endif /* SP_TRACE_SESSION_H */
