/*
 * format.h - writing one snapshot of a profile out: as gzip-compressed pprof
 * protobuf (format_pprof.c) or as Go's debug=1 text (format_text.c). Both
 * name every frame themselves through symbolize.h, so a profile reads
 * without the binary.
 *
 * Neither function touches the profile table; syncprof_write_profile takes
 * the snapshot and hands it here. Both may call malloc, so they must not run
 * inside a signal handler.
 */
#ifndef SP_FORMAT_H
#define SP_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profile_table.h"

struct sp_profile_view {
    enum sp_profile_kind kind;
    const struct sp_record *recs; /* in any order; writers sort as they need */
    size_t n;
    int64_t period;               /* mutex: the current fraction; block: the rate in ns */
    int64_t time_nanos;           /* wall-clock time of the snapshot (CLOCK_REALTIME) */
    /*
     * A count-only profile, as Go's goroutine profile: one value per sample
     * (goroutine/count: here, threads with that stack), the text format's
     * "goroutine profile: total N" header and "N @ ..." records. kind and
     * delay_ns are then ignored.
     */
    bool count_only;
    int64_t duration_nanos;       /* pprof only: the span a delta covers; 0: none */
};

/* Writes the view as gzip pprof to fd. 0, ENOMEM, or the errno of the
 * failed write. */
int sp_format_pprof(int fd, const struct sp_profile_view *v);

/* Writes the view as Go's debug=1 text to fd. 0, ENOMEM, or the errno of
 * the failed write. */
int sp_format_text(int fd, const struct sp_profile_view *v);

#endif /* SP_FORMAT_H */
