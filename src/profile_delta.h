/*
 * profile_delta.h - the difference of two snapshots of one profile: what
 * was recorded between them. Serves Go's `?seconds=N` (the profile of the
 * next N seconds) and Pyroscope's godeltaprof paths (/debug/pprof/
 * delta_mutex and delta_block: everything since the previous request).
 *
 * Buckets only grow (counts and delays are only ever added to; fraction
 * changes do not rescale what was recorded), so the difference of a
 * bucket is never negative, and a bucket that got nothing in between is
 * left out.
 *
 * Thread safety: none inside; a tracker belongs to one caller at a time.
 * Cost: O((n0 + n1) log n0) and malloc; write time only.
 */
#ifndef SP_PROFILE_DELTA_H
#define SP_PROFILE_DELTA_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"
#include "profile_table.h"

/*
 * The records of now minus their match in base (same stack and label
 * set), leaving out those that did not change, in a malloc'd array the
 * caller frees (NULL when empty). Records point to the same stacks and
 * label sets as now. Returns 0, or ENOMEM with *out NULL and *n 0.
 */
int sp_profile_delta(const struct sp_record *base, size_t nbase, const struct sp_record *now,
                     size_t nnow, struct sp_record **out, size_t *n);

/* A snapshot of one profile, and when it was taken. */
struct sp_snapshot {
    enum sp_profile_kind kind;
    struct sp_record *recs; /* malloc'd; NULL when empty */
    size_t n;
    int64_t time_nanos;     /* CLOCK_REALTIME, ns */
};

/* Takes a snapshot of kind now. Returns 0 or ENOMEM. */
int sp_snapshot_take(struct sp_snapshot *s, enum sp_profile_kind kind);
void sp_snapshot_free(struct sp_snapshot *s);

/*
 * Writes what was recorded between base and now (a snapshot taken here)
 * to fd, as pprof (debug 0) or Go's text (debug > 0), with the profile's
 * time set to now and its duration to the time between. On success, when
 * keep is not NULL, *keep receives the new snapshot (its previous content
 * freed), ready to be the next base. Returns 0, ENOMEM, or the errno of
 * the failed write.
 */
int sp_delta_write(const struct sp_snapshot *base, int fd, int debug, struct sp_snapshot *keep);

/* A profile's sampling period, as the writers print it: the mutex
 * fraction, or the block rate in ns. */
int64_t sp_profile_period(enum sp_profile_kind kind);

#endif /* SP_PROFILE_DELTA_H */
