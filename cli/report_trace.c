/*
 * report_trace.c - `syncprof report --trace FILE`: an execution trace
 * (src/trace_reader.c reads it back) as text, for terminals and CI logs
 * with no browser: the longest waits with the thread that held the lock
 * and the thread that ended the wait, the latency of each kind of task,
 * and the lock convoys (more than N threads queued on one lock at once).
 *
 * Bounds: the file is read whole (at most RT_MAX_BYTES); everything else
 * is linear in its slices but the sorts, and at most --top rows of each
 * section are printed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "trace_reader.h"

#define RT_MAX_BYTES ((size_t)1 << 30)

/* "name (tid)" of the thread whose track (or holds track) is uuid. */
static void thread_of(const struct sp_trace *t, uint64_t uuid, char *buf, size_t size)
{
    const struct sp_trace_track *k = sp_trace_track_of(t, uuid);
    int tid = k ? k->tid : 0;
    if (k && !tid && sscanf(k->name, "holds of thread %d", &tid) != 1)
        tid = 0;
    const struct sp_trace_track *th = NULL;
    for (size_t i = 0; i < t->ntracks && tid; i++)
        if (t->tracks[i].tid == tid)
            th = &t->tracks[i];
    if (th)
        snprintf(buf, size, "%s (%d)", th->name, tid);
    else if (tid)
        snprintf(buf, size, "thread %d", tid);
    else
        snprintf(buf, size, "?");
}

static void print_ns(int64_t ns, char *buf, size_t size)
{
    if (ns >= 1000000000)
        snprintf(buf, size, "%.2fs", (double)ns / 1e9);
    else if (ns >= 1000000)
        snprintf(buf, size, "%.2fms", (double)ns / 1e6);
    else if (ns >= 1000)
        snprintf(buf, size, "%.1fus", (double)ns / 1e3);
    else
        snprintf(buf, size, "%" PRId64 "ns", ns);
}

static bool is(const struct sp_trace_slice *s, const char *category)
{
    return strcmp(s->category, category) == 0;
}

static bool is_lock_wait(const struct sp_trace_slice *s)
{
    return is(s, "wait") && (strncmp(s->name, "mutex ", 6) == 0 || strncmp(s->name, "rwlock", 6) == 0);
}

static int by_duration_desc(const void *a, const void *b)
{
    const struct sp_trace_slice *x = *(const struct sp_trace_slice *const *)a;
    const struct sp_trace_slice *y = *(const struct sp_trace_slice *const *)b;
    return x->dur < y->dur ? 1 : x->dur > y->dur ? -1 : 0;
}

/* The slice a flow ending at s starts from (the waker), or NULL. */
static const struct sp_trace_slice *waker_of(const struct sp_trace *t, const struct sp_trace_slice *s)
{
    for (size_t k = 0; k < s->n_in; k++)
        for (size_t i = 0; i < t->nslices; i++)
            for (size_t j = 0; j < t->slices[i].n_out; j++)
                if (t->slices[i].flows_out[j] == s->flows_in[k])
                    return &t->slices[i];
    return NULL;
}

/* The hold of s's object under way when s began, or NULL. */
static const struct sp_trace_slice *holder_of(const struct sp_trace *t, const struct sp_trace_slice *s)
{
    for (size_t i = 0; i < t->nslices; i++) {
        const struct sp_trace_slice *h = &t->slices[i];
        if (is(h, "hold") && h->object == s->object && h->ts <= s->ts + s->dur &&
            h->ts + h->dur >= s->ts)
            return h;
    }
    return NULL;
}

static void longest_waits(const struct sp_trace *t, const struct sp_trace_slice **v, size_t n,
                          size_t top, int64_t t0)
{
    qsort(v, n, sizeof *v, by_duration_desc);
    printf("\nLongest waits (%zu in all):\n", n);
    printf("  %10s  %10s  %-24s %-28s %-24s %s\n", "waited", "at", "thread", "on", "holder",
           "woken by");
    for (size_t i = 0; i < n && i < top; i++) {
        const struct sp_trace_slice *s = v[i], *h = holder_of(t, s), *w = waker_of(t, s);
        char d[32], at[32], th[80], hd[80] = "-", wk[80] = "-";
        print_ns(s->dur, d, sizeof d);
        print_ns(s->ts - t0, at, sizeof at);
        thread_of(t, s->track, th, sizeof th);
        if (h)
            thread_of(t, h->track, hd, sizeof hd);
        if (w)
            thread_of(t, w->track, wk, sizeof wk);
        printf("  %10s  %10s  %-24s %-28s %-24s %s\n", d, at, th, s->name, hd, wk);
    }
}

static int by_name_then_duration(const void *a, const void *b)
{
    const struct sp_trace_slice *x = *(const struct sp_trace_slice *const *)a;
    const struct sp_trace_slice *y = *(const struct sp_trace_slice *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->dur > y->dur) - (x->dur < y->dur);
}

static void task_latency(const struct sp_trace_slice **v, size_t n, size_t top)
{
    qsort(v, n, sizeof *v, by_name_then_duration);
    printf("\nTasks (%zu ended):\n", n);
    if (n == 0)
        return;
    printf("  %-24s %8s %10s %10s %10s %10s\n", "task", "count", "min", "median", "p99", "max");
    size_t rows = 0;
    for (size_t i = 0; i < n && rows < top;) {
        size_t j = i;
        while (j < n && strcmp(v[j]->name, v[i]->name) == 0)
            j++;
        size_t k = j - i;
        char lo[32], med[32], p99[32], hi[32];
        print_ns(v[i]->dur, lo, sizeof lo);
        print_ns(v[i + k / 2]->dur, med, sizeof med);
        print_ns(v[i + k * 99 / 100]->dur, p99, sizeof p99);
        print_ns(v[j - 1]->dur, hi, sizeof hi);
        printf("  %-24s %8zu %10s %10s %10s %10s\n", v[i]->name, k, lo, med, p99, hi);
        rows++;
        i = j;
    }
}

struct edge {
    int64_t ts;
    int delta;
};

static int by_time(const void *a, const void *b)
{
    const struct edge *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->delta - y->delta; /* an end before a begin at one instant */
}

struct convoy {
    const char *lock;
    int peak;
    int64_t at, queued; /* when the peak first came; time spent with more than N queued */
    size_t waits;
};

static int by_queued_desc(const void *a, const void *b)
{
    const struct convoy *x = a, *y = b;
    return x->queued < y->queued ? 1 : x->queued > y->queued ? -1 : 0;
}

/*
 * Lock convoys: per lock (the waits' object), the sweep of its waits'
 * begins and ends gives how many threads were queued at each moment; a
 * convoy is the time during which more than min were.
 */
static int convoys(const struct sp_trace_slice **v, size_t n, int min, size_t top, int64_t t0)
{
    struct edge *e = malloc((2 * n + 1) * sizeof *e);
    struct convoy *c = malloc((n + 1) * sizeof *c);
    if (!e || !c) {
        free(e);
        free(c);
        return 1;
    }
    size_t nc = 0;
    /* v sorted by object: each run is one lock */
    for (size_t i = 0; i < n;) {
        size_t j = i, ne = 0;
        while (j < n && v[j]->object == v[i]->object) {
            e[ne++] = (struct edge){ v[j]->ts, +1 };
            e[ne++] = (struct edge){ v[j]->ts + v[j]->dur, -1 };
            j++;
        }
        qsort(e, ne, sizeof *e, by_time);
        struct convoy cv = { v[i]->name, 0, 0, 0, j - i };
        int q = 0;
        for (size_t k = 0; k < ne; k++) {
            if (q > min && k > 0)
                cv.queued += e[k].ts - e[k - 1].ts;
            q += e[k].delta;
            if (q > cv.peak) {
                cv.peak = q;
                cv.at = e[k].ts;
            }
        }
        if (cv.peak > min)
            c[nc++] = cv;
        i = j;
    }
    qsort(c, nc, sizeof *c, by_queued_desc);
    printf("\nLock convoys (more than %d threads queued on one lock): %zu\n", min, nc);
    if (nc)
        printf("  %-28s %6s %10s %12s %8s\n", "lock", "peak", "peak at", "time queued", "waits");
    for (size_t i = 0; i < nc && i < top; i++) {
        char at[32], q[32];
        print_ns(c[i].at - t0, at, sizeof at);
        print_ns(c[i].queued, q, sizeof q);
        /* the wait's name is "<kind> <lock>": the lock alone */
        const char *lock = strchr(c[i].lock, ' ') ? strchr(c[i].lock, ' ') + 1 : c[i].lock;
        printf("  %-28s %6d %10s %12s %8zu\n", lock, c[i].peak, at, q, c[i].waits);
    }
    free(e);
    free(c);
    return 0;
}

static int by_object(const void *a, const void *b)
{
    const struct sp_trace_slice *x = *(const struct sp_trace_slice *const *)a;
    const struct sp_trace_slice *y = *(const struct sp_trace_slice *const *)b;
    return (x->object > y->object) - (x->object < y->object);
}

int sp_cli_report_trace(const char *path, long top, long convoy_min)
{
    struct sp_trace t;
    int e = sp_trace_read(path, RT_MAX_BYTES, &t);
    if (e != 0) {
        fprintf(stderr, "syncprof report: %s: %s\n", path,
                e == EINVAL ? "not a trace (expected a Perfetto protobuf trace)"
                : e == EFBIG ? "larger than 1 GiB"
                             : strerror(e));
        return 1;
    }
    const struct sp_trace_slice **waits = malloc((t.nslices + 1) * sizeof *waits);
    const struct sp_trace_slice **tasks = malloc((t.nslices + 1) * sizeof *tasks);
    const struct sp_trace_slice **locks = malloc((t.nslices + 1) * sizeof *locks);
    if (!waits || !tasks || !locks) {
        fprintf(stderr, "syncprof report: out of memory\n");
        free(waits);
        free(tasks);
        free(locks);
        sp_trace_free(&t);
        return 1;
    }
    size_t nw = 0, nt = 0, nl = 0, threads = 0, holds = 0;
    int64_t t0 = t.nslices ? t.slices[0].ts : 0, t1 = t0;
    for (size_t i = 0; i < t.nslices; i++) {
        const struct sp_trace_slice *s = &t.slices[i];
        if (s->ts + (s->dur > 0 ? s->dur : 0) > t1)
            t1 = s->ts + (s->dur > 0 ? s->dur : 0);
        if (s->dur < 0)
            continue; /* never ended */
        if (is(s, "wait"))
            waits[nw++] = s;
        if (is_lock_wait(s))
            locks[nl++] = s;
        const struct sp_trace_track *k = sp_trace_track_of(&t, s->track);
        if (is(s, "task") && k && !k->tid) /* on the task's own track */
            tasks[nt++] = s;
        holds += is(s, "hold");
    }
    for (size_t i = 0; i < t.ntracks; i++)
        threads += t.tracks[i].tid != 0;
    char span[32];
    print_ns(t1 - t0, span, sizeof span);
    printf("%s: %s of trace, %zu threads, %zu waits, %zu contended holds, %lld events lost\n",
           path, span, threads, nw, holds, (long long)(t.lost > 0 ? t.lost : 0));
    size_t n = top > 0 ? (size_t)top : (size_t)-1;
    longest_waits(&t, waits, nw, n, t0);
    task_latency(tasks, nt, n);
    qsort(locks, nl, sizeof *locks, by_object);
    int r = convoys(locks, nl, (int)convoy_min, n, t0);
    free(waits);
    free(tasks);
    free(locks);
    sp_trace_free(&t);
    if (r != 0)
        fprintf(stderr, "syncprof report: out of memory\n");
    return r;
}
