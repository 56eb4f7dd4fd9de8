/*
 * lock_stats.c - the per-lock table (see lock_stats.h): open addressing on
 * the lock's address, a row per lock, under one spinlock; written out
 * sorted by total wait, then total hold.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format_common.h"
#include "lock_identity.h"
#include "lock_stats.h"
#include "object_names.h"
#include "spinlock.h"
#include "summary_table.h"
#include "symbolize.h"

struct lock_row {
    const void *lock; /* NULL: free */
    char token[SP_LOCK_TOKEN_MAX]; /* birth site when the row was made; "" if none */
    uint64_t contended;
    int64_t wait_total, wait_max;
    uint32_t hist[SP_LOCK_HIST];
    double holds, hold_total; /* estimates */
    int64_t hold_max;         /* longest timed hold */
    uint8_t kind;             /* enum sp_lock_kind */
};

static sp_spinlock rows_lock = SP_SPINLOCK_INIT;
static struct lock_row rows[SP_LOCK_STATS]; /* under rows_lock */
static uint64_t rows_dropped;               /* under rows_lock */
static size_t rows_used;                    /* written under rows_lock, read relaxed */
/* The rows in use, in the order they were made, so that writing the table
 * and emptying it touch only those (the table spans some 90 pages, most of
 * them never used). Under rows_lock. */
static uint16_t used[SP_LOCK_STATS];
_Static_assert(SP_LOCK_STATS <= 65536, "row indexes fit in used[]");
static bool inherited;                      /* a child of fork that has not used rows yet; under rows_lock */

/* A child of fork starts with an empty table, as its profiles do
 * (profile_table.c), so that the files of a process tree add up without
 * counting a lock twice. The rows are emptied by the child's first use of
 * the table: a child that never waits copies none of their pages. */
static void forget_in_child(void)
{
    sp_spin_reset_in_child(&rows_lock);
    inherited = true;
}

__attribute__((constructor)) static void register_fork_handler(void)
{
    pthread_atfork(NULL, NULL, forget_in_child);
}

static void forget_inherited_locked(void)
{
    if (!inherited)
        return;
    for (size_t k = 0; k < rows_used; k++)
        memset(&rows[used[k]], 0, sizeof rows[0]);
    rows_dropped = 0;
    __atomic_store_n(&rows_used, 0, __ATOMIC_RELAXED);
    inherited = false;
}

size_t sp_lock_stats_rows(void)
{
    return __atomic_load_n(&rows_used, __ATOMIC_RELAXED);
}

int sp_lock_hist_bucket(int64_t d)
{
    if (d < SP_LOCK_HIST_SUB)
        return d < 0 ? 0 : (int)d;
    int b = 63 - __builtin_clzll((unsigned long long)d); /* >= 2 */
    int i = b * SP_LOCK_HIST_SUB + (int)((d >> (b - 2)) & (SP_LOCK_HIST_SUB - 1));
    return i < SP_LOCK_HIST ? i : SP_LOCK_HIST - 1;
}

int64_t sp_lock_hist_upper(int i)
{
    if (i < SP_LOCK_HIST_SUB)
        return i;
    int b = i / SP_LOCK_HIST_SUB, sub = i % SP_LOCK_HIST_SUB;
    return ((int64_t)(SP_LOCK_HIST_SUB + sub + 1) << (b - 2)) - 1;
}

/* lock's row, made if needed; NULL when the table is full. */
static struct lock_row *row_locked(const void *lock, uintptr_t use_site)
{
    forget_inherited_locked();
    uint64_t h = (uint64_t)(uintptr_t)lock * 0x9e3779b97f4a7c15ULL;
    size_t i = (size_t)(h >> 32) % SP_LOCK_STATS;
    for (size_t n = 0; n < SP_LOCK_STATS; n++, i = (i + 1) % SP_LOCK_STATS) {
        if (rows[i].lock == lock)
            return &rows[i];
        if (rows[i].lock == NULL) {
            rows[i].lock = lock;
            used[rows_used] = (uint16_t)i;
            __atomic_store_n(&rows_used, rows_used + 1, __ATOMIC_RELAXED);
            if (!sp_lock_token(lock, use_site, rows[i].token))
                rows[i].token[0] = '\0';
            return &rows[i];
        }
    }
    rows_dropped++;
    return NULL;
}

enum sp_lock_kind sp_lock_kind_of_wait(const char *wait)
{
    return !wait                               ? SP_LOCK_UNKNOWN
           : strncmp(wait, "mutex", 5) == 0    ? SP_LOCK_MUTEX
           : strncmp(wait, "rwlock", 6) == 0   ? SP_LOCK_RWLOCK
           : strncmp(wait, "cond", 4) == 0     ? SP_LOCK_COND
                                               : SP_LOCK_UNKNOWN;
}

void sp_lock_stats_wait(const void *lock, enum sp_lock_kind kind, int64_t d, uintptr_t use_site)
{
    if (!lock)
        return;
    if (d < 0)
        d = 0;
    sp_spin_lock(&rows_lock);
    struct lock_row *r = row_locked(lock, use_site);
    if (r) {
        if (!r->kind)
            r->kind = (uint8_t)kind;
        r->contended++;
        r->wait_total += d;
        if (d > r->wait_max)
            r->wait_max = d;
        r->hist[sp_lock_hist_bucket(d)]++;
    }
    sp_spin_unlock(&rows_lock);
}

void sp_lock_stats_hold(const void *lock, enum sp_lock_kind kind, int64_t d, double weight,
                        uintptr_t use_site)
{
    if (!lock)
        return;
    sp_spin_lock(&rows_lock);
    struct lock_row *r = row_locked(lock, use_site);
    if (r) {
        if (!r->kind)
            r->kind = (uint8_t)kind;
        r->holds += weight;
        r->hold_total += weight * (double)d;
        if (d > r->hold_max)
            r->hold_max = d;
    }
    sp_spin_unlock(&rows_lock);
}

/* enum sp_lock_kind as the table writes it ("" when unknown). */
static const char *const kind_names[] = {
    [SP_LOCK_UNKNOWN] = "", [SP_LOCK_MUTEX] = "mutex", [SP_LOCK_RWLOCK] = "rwlock",
    [SP_LOCK_COND] = "cond"
};

/* The wait below which 99% of r's waits fall: its bucket's upper edge. */
static int64_t wait_p99(const struct lock_row *r)
{
    uint64_t seen = 0, need = r->contended - r->contended / 100;
    for (int i = 0; i < SP_LOCK_HIST; i++) {
        seen += r->hist[i];
        if (seen >= need && seen > 0)
            return sp_lock_hist_upper(i) < r->wait_max ? sp_lock_hist_upper(i) : r->wait_max;
    }
    return r->wait_max;
}

static int heavier(const void *a, const void *b)
{
    const struct lock_row *x = a, *y = b;
    if (x->wait_total != y->wait_total)
        return x->wait_total > y->wait_total ? -1 : 1;
    if (x->hold_total != y->hold_total)
        return x->hold_total > y->hold_total ? -1 : 1;
    return strcmp(x->token, y->token);
}

/* The lock's identity: its name, its named birth site, or its address. */
static void identity(const struct lock_row *r, struct sp_symbolizer *s, char *out, size_t n)
{
    char name[SP_NAME_MAX];
    if (sp_object_name(r->lock, name))
        snprintf(out, n, "%s", name);
    else if (!r->token[0] || !sp_lock_site_text(s, r->token, out, n))
        snprintf(out, n, "%p", r->lock);
    for (char *c = out; *c; c++)
        if (*c == ',' || *c == '\n' || *c == '"')
            *c = ' '; /* one CSV field, one line */
}

int sp_lock_stats_write(int fd, bool csv, int64_t rate)
{
    /* Sized before the lock is taken, with room for 64 rows made
     * meanwhile; more than that wait for the next write. */
    size_t room = sp_lock_stats_rows();
    room = room + 64 < SP_LOCK_STATS ? room + 64 : SP_LOCK_STATS;
    struct lock_row *copy = malloc(room * sizeof *copy);
    if (!copy)
        return ENOMEM;
    sp_spin_lock(&rows_lock);
    forget_inherited_locked();
    size_t n = 0;
    for (size_t k = 0; k < rows_used && n < room; k++)
        copy[n++] = rows[used[k]];
    uint64_t dropped = rows_dropped;
    sp_spin_unlock(&rows_lock);
    qsort(copy, n, sizeof *copy, heavier);

    struct sp_symbolizer *s = n ? sp_symbolizer_acquire() : NULL;
    size_t cap = 512 + n * 512, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        free(copy);
        if (s)
            sp_symbolizer_release();
        return ENOMEM;
    }
#define OUT(...) (len += (size_t)snprintf(buf + len, cap - len, __VA_ARGS__))
    if (csv)
        OUT("lock,acquisitions_est,contended,wait_total_ns,wait_max_ns,wait_p99_ns,"
            "hold_total_ns_est,hold_avg_ns_est,hold_max_ns_est,owner_changes_min,kind\n");
    else
        OUT("syncprof locks: %zu locks, heaviest first; * estimated from the hold profile's "
            "timed holds (rate %lld ns%s); wait p99 is a histogram bucket's edge (<= 25%% "
            "high); owner changes: at least the contended acquisitions; a cond is waited "
            "on, never acquired%s\n"
            "%-44s %-6s %12s %10s %10s %10s %10s %10s %10s %10s %8s\n",
            n, (long long)rate, rate > 0 ? "" : ", off: no hold columns",
            dropped ? ", some locks did not fit" : "", "lock", "kind", "acquired*", "contended",
            "wait", "wait max", "wait p99", "hold*", "hold avg*", "hold max*", "owner ch");
    for (size_t i = 0; i < n; i++) {
        const struct lock_row *r = &copy[i];
        /* a cond's acquisitions and owner changes: "-", empty in CSV */
        char id[256], acq_text[32], owners[32];
        snprintf(acq_text, sizeof acq_text, "%s", csv ? "" : "-");
        snprintf(owners, sizeof owners, "%s", csv ? "" : "-");
        identity(r, s, id, sizeof id);
        /* Acquisitions: the estimate of holds, at least the contended ones. */
        double acq = r->holds > (double)r->contended ? r->holds : (double)r->contended;
        int64_t avg = r->holds > 0 ? (int64_t)(r->hold_total / r->holds) : 0;
        if (r->kind != SP_LOCK_COND) {
            snprintf(acq_text, sizeof acq_text, "%.0f", acq);
            snprintf(owners, sizeof owners, "%llu", (unsigned long long)r->contended);
        }
        if (csv) {
            OUT("%s,%s,%llu,%lld,%lld,%lld,%.0f,%lld,%lld,%s,%s\n", id, acq_text,
                (unsigned long long)r->contended, (long long)r->wait_total,
                (long long)r->wait_max, (long long)wait_p99(r), r->hold_total, (long long)avg,
                (long long)r->hold_max, owners, kind_names[r->kind]);
        } else {
            char w[32], wm[32], wp[32], ht[32], ha[32], hm[32];
            sp_format_duration(r->wait_total, w, sizeof w);
            sp_format_duration(r->wait_max, wm, sizeof wm);
            sp_format_duration(wait_p99(r), wp, sizeof wp);
            sp_format_duration((int64_t)r->hold_total, ht, sizeof ht);
            sp_format_duration(avg, ha, sizeof ha);
            sp_format_duration(r->hold_max, hm, sizeof hm);
            OUT("%-44s %-6s %12s %10llu %10s %10s %10s %10s %10s %10s %8s\n", id,
                kind_names[r->kind][0] ? kind_names[r->kind] : "-", acq_text,
                (unsigned long long)r->contended, w, wm, wp, ht, ha, hm, owners);
        }
        if (len > cap - 512)
            break; /* cannot happen: 512 bytes a row */
    }
#undef OUT
    if (s)
        sp_symbolizer_release();
    int err = sp_write_all(fd, buf, len);
    free(buf);
    free(copy);
    return err;
}
