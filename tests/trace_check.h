/*
 * trace_check.h - test support for the execution tracer (test_trace*.c):
 * decoding a trace with protoc against Perfetto's own schema (the
 * reference reader), reading it back with src/trace_reader.c, and finding
 * tracks, slices and flows in it.
 */
#ifndef TESTS_TRACE_CHECK_H
#define TESTS_TRACE_CHECK_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile_reader.h"
#include "trace_reader.h"

/*
 * path decodes with `protoc --decode=perfetto.protos.Trace` against
 * Perfetto's published schema; returns how many track events the decoded
 * text holds.
 */
static inline int tc_protoc_events(const char *path)
{
    char cmd[4096], *out = NULL;
    snprintf(cmd, sizeof cmd,
             "%s --decode=perfetto.protos.Trace -I'%s' perfetto_trace.proto < '%s' 2>&1 || echo DECODE-FAILED",
             PROTOC, PERFETTO_PROTO_DIR, path);
    cr_assert_eq(tp_run(cmd, &out), 0, "protoc did not run");
    cr_assert(!strstr(out, "DECODE-FAILED"), "%s does not decode against Perfetto's schema:\n%.2000s",
              path, out);
    int n = 0;
    for (const char *p = out; (p = strstr(p, "track_event {")); p++)
        n++;
    free(out);
    return n;
}

/* Reads path (asserted to succeed) and checks that protoc sees the same
 * events the reader does. */
static inline void tc_read(const char *path, struct sp_trace *t)
{
    int events = tc_protoc_events(path);
    int e = sp_trace_read(path, (size_t)1 << 30, t);
    cr_assert_eq(e, 0, "reading %s: %s", path, strerror(e));
    cr_assert(events > 0, "%s has no track events", path);
}

/* The track of the thread named name, or NULL. */
static inline const struct sp_trace_track *tc_thread(const struct sp_trace *t, const char *name)
{
    for (size_t i = 0; i < t->ntracks; i++)
        if (t->tracks[i].tid != 0 && strcmp(t->tracks[i].name, name) == 0)
            return &t->tracks[i];
    return NULL;
}

/* The slice that ends flow id in a slice other than s, or NULL: the other
 * end of one of s's flows. */
static inline const struct sp_trace_slice *tc_flow_source(const struct sp_trace *t, uint64_t id)
{
    for (size_t i = 0; i < t->nslices; i++)
        for (size_t k = 0; k < t->slices[i].n_out; k++)
            if (t->slices[i].flows_out[k] == id)
                return &t->slices[i];
    return NULL;
}

/* The innermost slice of s's track that encloses s at depth s->depth - 1. */
static inline const struct sp_trace_slice *tc_parent(const struct sp_trace *t,
                                                     const struct sp_trace_slice *s)
{
    const struct sp_trace_slice *p = NULL;
    for (size_t i = 0; i < t->nslices && &t->slices[i] != s; i++) {
        const struct sp_trace_slice *c = &t->slices[i];
        if (c->track == s->track && c->depth == s->depth - 1 && c->ts <= s->ts)
            p = c;
    }
    return p;
}

#endif /* TESTS_TRACE_CHECK_H */
