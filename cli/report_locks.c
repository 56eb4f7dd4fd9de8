/*
 * report_locks.c - `syncprof report --by-lock FILE [--top N] [--csv]`: the
 * per-lock table a program wrote (locks.<pid>.csv at exit, or fetched from
 * /debug/pprof/locks?format=csv), one row per lock, heaviest first (total
 * wait, then total hold), as a table or as CSV again.
 *
 * Input: the CSV src/lock_stats.c writes (its header row names the
 * columns; columns ending in _est are estimates from the hold profile).
 * Anything else is refused with a message. Bounds: at most RL_MAX_ROWS
 * rows and RL_MAX_LINE bytes a line; C++ names in the lock column are
 * demangled.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "summary_table.h"

#define RL_MAX_ROWS 100000
#define RL_MAX_LINE 1024
#define RL_COLUMNS 10

static const char *const header =
    "lock,acquisitions_est,contended,wait_total_ns,wait_max_ns,wait_p99_ns,"
    "hold_total_ns_est,hold_avg_ns_est,hold_max_ns_est,owner_changes_min";

struct rl_row {
    char *lock;
    double v[RL_COLUMNS - 1]; /* the numbers, in the header's order; NAN where empty */
    char kind[8];             /* "mutex", "rwlock", "cond"; "" when unknown or not given */
};

/* The columns a condition variable leaves empty: it is waited on, never
 * acquired, so it has no acquisitions and no owner changes. */
static bool may_be_empty(int k)
{
    return k == 0 || k == RL_COLUMNS - 2;
}

static int heavier(const void *a, const void *b)
{
    const struct rl_row *x = a, *y = b;
    for (int k = 2; k >= 2 && k <= 5; k = k == 2 ? 5 : 6) { /* wait total, then hold total */
        if (x->v[k] != y->v[k])
            return x->v[k] > y->v[k] ? -1 : 1;
    }
    return strcmp(x->lock, y->lock);
}

/* Demangles the function in "file:line function #N" (or a bare name). */
static char *readable(const char *lock)
{
    const char *sp = strchr(lock, ' ');
    const char *fn = sp ? sp + 1 : lock;
    const char *end = strchr(fn, ' ');
    size_t len = end ? (size_t)(end - fn) : strlen(fn);
    char name[RL_MAX_LINE];
    snprintf(name, sizeof name, "%.*s", (int)len, fn);
    char *d = sp_demangle(name);
    char *out = NULL;
    if (d && asprintf(&out, "%.*s%s%s", (int)(fn - lock), lock, d, end ? end : "") < 0)
        out = NULL;
    free(d);
    return out ? out : strdup(lock);
}

static int load(FILE *f, const char *path, struct rl_row **rows, size_t *n)
{
    char line[RL_MAX_LINE + 2];
    if (!fgets(line, sizeof line, f) || strncmp(line, header, strlen(header)) != 0) {
        fprintf(stderr, "syncprof report: %s is not a lock table (locks.<pid>.csv, or "
                        "/debug/pprof/locks?format=csv)\n", path);
        return 2;
    }
    size_t cap = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strchr(line, '\n') && !feof(f)) {
            fprintf(stderr, "syncprof report: %s: a line longer than %d bytes\n", path,
                    RL_MAX_LINE);
            return 2;
        }
        if (*n >= RL_MAX_ROWS) {
            fprintf(stderr, "syncprof report: %s: more than %d locks\n", path, RL_MAX_ROWS);
            return 2;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            struct rl_row *r = realloc(*rows, cap * sizeof **rows);
            if (!r)
                return 2;
            *rows = r;
        }
        struct rl_row *r = &(*rows)[*n];
        char *comma = strchr(line, ',');
        if (!comma)
            goto bad;
        *comma = '\0';
        char *p = comma + 1, *end;
        for (int k = 0; k < RL_COLUMNS - 1; k++) {
            errno = 0;
            r->v[k] = strtod(p, &end);
            if (end == p && may_be_empty(k) && *p == ',')
                r->v[k] = NAN;
            else if (end == p || errno || r->v[k] != r->v[k])
                goto bad;
            if (*end != ',' && *end != '\n' && *end != '\0')
                goto bad;
            p = *end ? end + 1 : end;
        }
        /* The kind, when the table has the column (tables written before
         * it have ten). */
        size_t klen = strcspn(p, ",\n");
        if (klen >= sizeof r->kind || p[klen] == ',')
            goto bad;
        memcpy(r->kind, p, klen);
        r->kind[klen] = '\0';
        r->lock = readable(line);
        if (!r->lock)
            return 2;
        (*n)++;
    }
    return 0;
bad:
    fprintf(stderr, "syncprof report: %s: row %zu is not lock,numbers...\n", path, *n + 1);
    return 2;
}

int sp_cli_report_by_lock(const char *path, long top, bool csv)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "syncprof report: %s: %s\n", path, strerror(errno));
        return 1;
    }
    struct rl_row *rows = NULL;
    size_t n = 0;
    int st = load(f, path, &rows, &n);
    if (f != stdin)
        fclose(f);
    if (st == 0) {
        qsort(rows, n, sizeof *rows, heavier);
        size_t shown = top > 0 && (size_t)top < n ? (size_t)top : n;
        if (csv)
            printf("%s,kind\n", header);
        else
            printf("%zu locks, heaviest first (* estimated from the hold profile's sampled holds; "
                   "wait p99 within 25%%; owner changes: at least; a cond is waited on, never "
                   "acquired)\n"
                   "%-48s %-6s %12s %10s %10s %10s %10s %10s %10s %10s %8s\n",
                   n, "lock", "kind", "acquired*", "contended", "wait", "wait max", "wait p99",
                   "hold*", "hold avg*", "hold max*", "owner ch");
        for (size_t i = 0; i < shown; i++) {
            const struct rl_row *r = &rows[i];
            char num[RL_COLUMNS - 1][32];
            for (int k = 0; k < RL_COLUMNS - 1; k++) {
                if (r->v[k] != r->v[k])
                    snprintf(num[k], sizeof num[k], "%s", csv ? "" : "-");
                else
                    snprintf(num[k], sizeof num[k], "%.0f", r->v[k]);
            }
            if (csv) {
                printf("%s", r->lock);
                for (int k = 0; k < RL_COLUMNS - 1; k++)
                    printf(",%s", num[k]);
                printf(",%s\n", r->kind);
                continue;
            }
            char d[6][32];
            for (int k = 0; k < 6; k++)
                sp_format_duration((int64_t)r->v[2 + k], d[k], sizeof d[k]);
            printf("%-48s %-6s %12s %10s %10s %10s %10s %10s %10s %10s %8s\n", r->lock,
                   r->kind[0] ? r->kind : "-", num[0], num[1], d[0], d[1], d[2], d[3], d[4], d[5],
                   num[8]);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(rows[i].lock);
    free(rows);
    if (st == 0 && (fflush(stdout) != 0 || ferror(stdout))) {
        fprintf(stderr, "syncprof report: writing the output: %s\n", strerror(errno));
        return 1;
    }
    return st == 0 ? 0 : 1;
}
