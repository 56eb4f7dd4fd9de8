/*
 * trace_reader.h - reading back a trace the execution tracer wrote (or any
 * Perfetto TrackEvent trace that uses absolute timestamps): its tracks and
 * its slices, with their durations, nesting and flows. For `syncprof
 * report --trace` and the tests; decoded with the protobuf-c code of
 * perfetto_trace.proto, the writer's own.
 */
#ifndef SP_TRACE_READER_H
#define SP_TRACE_READER_H

#include <stddef.h>
#include <stdint.h>

struct sp_trace_track {
    uint64_t uuid, parent;
    int pid, tid;          /* tid: 0 unless a thread's track */
    char *name;            /* the track's or thread's name ("" when none) */
    int counter;           /* a counter track */
};

struct sp_trace_slice {
    uint64_t track;        /* the uuid of its track */
    char *name, *category; /* "" when none */
    int64_t ts;            /* ns, the trace's clock */
    int64_t dur;           /* ns; 0 for an instant, -1 when it never ended */
    int depth;             /* 0 at the top of its track */
    uint64_t object;       /* debug annotation "object" (0 when none) */
    uint64_t task;         /* debug annotation "task" */
    int64_t waiters;       /* debug annotation "waiters" */
    char kind[24];         /* debug annotation "kind" ("" when none) */
    uint64_t *flows_out, *flows_in; /* flow ids starting or passing here / ending here */
    size_t n_out, n_in;
};

struct sp_trace {
    struct sp_trace_track *tracks;
    size_t ntracks;
    struct sp_trace_slice *slices; /* ordered by ts */
    size_t nslices;
    size_t packets;
    int64_t lost;          /* the last value of the "syncprof lost events" counter, -1 when none */
};

/* Reads path (at most max_bytes) into t: 0, or an errno value (EINVAL:
 * not a trace, EFBIG: larger than max_bytes). */
int sp_trace_read(const char *path, size_t max_bytes, struct sp_trace *t);

void sp_trace_free(struct sp_trace *t);

/* The track of uuid, or NULL. */
const struct sp_trace_track *sp_trace_track_of(const struct sp_trace *t, uint64_t uuid);

#endif /* SP_TRACE_READER_H */
