/*
 * trace_encode.h - turning the tracer's ring records into Perfetto trace
 * packets (TrackEvent and TrackDescriptor, written through protobuf-c from
 * perfetto_trace.proto) and writing them to the trace's file descriptor.
 * Used only by the writer thread (trace_session.c).
 */
#ifndef SP_TRACE_ENCODE_H
#define SP_TRACE_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "trace_ring.h"

struct sp_trace_out {
    int fd;
    int err;              /* the first write error, 0 if none */
    uint32_t session;     /* records of other traces are dropped */
    uint32_t sequence;    /* trusted_packet_sequence_id */
    int pid;
    int64_t clock_offset; /* CLOCK_BOOTTIME - CLOCK_MONOTONIC: Perfetto's default clock */
    int64_t min_wait_ns;  /* waits and holds shorter than this are left out */
    unsigned char *buf;   /* packets not yet written */
    size_t len, cap;
    int packets;          /* packets written so far */
    uint64_t lost_shown;  /* the lost count the trace shows now */
    struct sp_trace_site_name *sites; /* birth sites named so far (trace_encode.c); NULL until one is */
};

/* Sets out up for a trace on fd and writes the process's tracks. false
 * when memory for the buffer is lacking. */
bool sp_trace_out_begin(struct sp_trace_out *out, int fd, uint32_t session, int64_t min_wait_ns);

/* One record of ring r (called from sp_trace_ring_drain). */
void sp_trace_out_record(struct sp_trace_ring *r, const struct sp_trace_rec *rec, void *out);

/* Waits still in progress (in the wait table) at now, the trace's end: a
 * slice each, ending at now, so that a thread blocked at the end (a hang,
 * a deadlock) shows. */
void sp_trace_out_unfinished(struct sp_trace_out *out, int64_t now);

/* Shows lost (records dropped so far) on the trace's counter track, if it changed. */
void sp_trace_out_lost(struct sp_trace_out *out, uint64_t lost);

/* Writes what is buffered. */
void sp_trace_out_flush(struct sp_trace_out *out);

/* Writes the closing packets and what is buffered, and frees the buffer. */
void sp_trace_out_end(struct sp_trace_out *out, uint64_t lost);

#endif /* SP_TRACE_ENCODE_H */
