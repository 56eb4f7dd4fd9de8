/*
 * profile_delta.c - the difference of two profile snapshots and writing
 * it out (see profile_delta.h).
 *
 * Matching: base's records are sorted by their key (stack frames, then the
 * label set's address: sets are interned, so the address is the set), and
 * each record of now is looked up by binary search. A stack's bucket keeps
 * its key for good, so a record of now matches at most one of base.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format.h"
#include "hold_sampling.h"
#include "profile_delta.h"
#include "sampling.h"

/* ---- The difference --------------------------------------------------- */

static int key_cmp(const struct sp_record *a, const struct sp_record *b)
{
    if (a->nframes != b->nframes)
        return a->nframes < b->nframes ? -1 : 1;
    int c = memcmp(a->pcs, b->pcs, (size_t)a->nframes * sizeof *a->pcs);
    if (c != 0)
        return c;
    if (a->labels != b->labels)
        return (uintptr_t)a->labels < (uintptr_t)b->labels ? -1 : 1;
    return 0;
}

static int key_qsort_cmp(const void *a, const void *b)
{
    return key_cmp(a, b);
}

/* The record of sorted[0..n) with r's key, or NULL. */
static const struct sp_record *find(const struct sp_record *sorted, size_t n,
                                    const struct sp_record *r)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = key_cmp(&sorted[mid], r);
        if (c == 0)
            return &sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int sp_profile_delta(const struct sp_record *base, size_t nbase, const struct sp_record *now,
                     size_t nnow, struct sp_record **out, size_t *n)
{
    struct sp_record *sorted = NULL, *recs = NULL;
    *out = NULL;
    *n = 0;
    if (nnow == 0)
        return 0;
    recs = malloc(nnow * sizeof *recs);
    if (nbase > 0)
        sorted = malloc(nbase * sizeof *sorted);
    if (!recs || (nbase > 0 && !sorted)) {
        free(recs);
        free(sorted);
        return ENOMEM;
    }
    if (nbase > 0) {
        memcpy(sorted, base, nbase * sizeof *sorted);
        qsort(sorted, nbase, sizeof *sorted, key_qsort_cmp);
    }
    size_t k = 0;
    for (size_t i = 0; i < nnow; i++) {
        struct sp_record r = now[i];
        const struct sp_record *b = find(sorted, nbase, &r);
        if (b) {
            r.count -= b->count;
            r.delay_ns -= b->delay_ns;
        }
        if (r.count != 0 || r.delay_ns != 0)
            recs[k++] = r;
    }
    free(sorted);
    if (k == 0) {
        free(recs);
        recs = NULL;
    }
    *out = recs;
    *n = k;
    return 0;
}

/* ---- Snapshots -------------------------------------------------------- */

static int64_t wall_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t sp_profile_period(enum sp_profile_kind kind)
{
    switch (kind) {
    case SP_PROFILE_MUTEX:
        return sp_mutex_fraction();
    case SP_PROFILE_HOLD:
        return sp_hold_rate();
    default:
        return sp_block_rate();
    }
}

int sp_snapshot_take(struct sp_snapshot *s, enum sp_profile_kind kind)
{
    s->kind = kind;
    s->time_nanos = wall_now_ns();
    return sp_profile_snapshot(kind, &s->recs, &s->n);
}

void sp_snapshot_free(struct sp_snapshot *s)
{
    free(s->recs);
    s->recs = NULL;
    s->n = 0;
}

int sp_delta_write(const struct sp_snapshot *base, int fd, int debug, struct sp_snapshot *keep)
{
    struct sp_snapshot now;
    struct sp_record *recs;
    size_t n;
    int r = sp_snapshot_take(&now, base->kind);
    if (r != 0)
        return r;
    r = sp_profile_delta(base->recs, base->n, now.recs, now.n, &recs, &n);
    if (r == 0) {
        struct sp_profile_view v = {
            .kind = base->kind,
            .recs = recs,
            .n = n,
            .period = sp_profile_period(base->kind),
            .time_nanos = now.time_nanos,
            .duration_nanos = now.time_nanos - base->time_nanos,
        };
        r = debug > 0 ? sp_format_text(fd, &v) : sp_format_pprof(fd, &v);
        free(recs);
    }
    if (r == 0 && keep) {
        sp_snapshot_free(keep);
        *keep = now;
    } else {
        sp_snapshot_free(&now);
    }
    return r;
}
