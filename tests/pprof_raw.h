/*
 * pprof_raw.h - test support: parses the output of `go tool pprof -raw`
 * (google/pprof's Profile.String), so tests assert on what the reference
 * reader saw: each sample's values, its stack's function names and its
 * labels. Plain C, no test framework. Its prefix is pr_ (pprof -raw):
 * the command's own profile model (cli/report_profile.h, rp_) decodes the
 * protobuf itself, and the tests check it against this independent reader.
 *
 * The shape parsed:
 *   Samples:
 *   contentions/count delay/nanoseconds
 *          <count> <delay>: <location id> <location id> ...
 *          (or "<count>: ..." for a count-only profile such as goroutine)
 *                   key:[value] key:[value]        (only when labelled)
 *   Locations
 *        <id>: 0x<addr> M=<mapping> <function> <file>:<line> s=<n>
 *                 <inlined function> <file>:<line> s=<n>   (more lines)
 *   Mappings
 */
#ifndef TESTS_PPROF_RAW_H
#define TESTS_PPROF_RAW_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <syncprof/syncprof.h>

#include "profile_reader.h"

#define PR_MAX_LOCS 64

struct pr_sample {
    long long count, delay;
    int nlocs;
    int locs[PR_MAX_LOCS];  /* location ids, leaf first */
    char labels[512];       /* "k:[v] k2:[v2]" sorted by key, or "" */
};

struct pr_profile {
    struct pr_sample *samples;
    size_t n;
    char **loc_funcs;       /* [id]: " f1 f2 " (the functions at that location) */
    size_t nloc;            /* ids are < nloc */
};

/* Appends " name" to *dst (malloc'd). */
static inline void pr_append(char **dst, const char *name, size_t len)
{
    size_t old = *dst ? strlen(*dst) : 0;
    *dst = realloc(*dst, old + len + 3);
    if (old == 0)
        (*dst)[old++] = ' ';
    memcpy(*dst + old, name, len);
    (*dst)[old + len] = ' ';
    (*dst)[old + len + 1] = '\0';
}

/* The function name on a location line: the word after "M=<n> ", or on an
 * inline continuation line, the first word. */
static inline void pr_location_line(struct pr_profile *p, const char *l, int *cur)
{
    int id;
    const char *fn;
    if (sscanf(l, " %d: 0x", &id) == 1 && strstr(l, ": 0x")) {
        if (id < 0 || id > 1 << 20)
            return;
        if ((size_t)id >= p->nloc) {
            p->loc_funcs = realloc(p->loc_funcs, (size_t)(id + 1) * sizeof(char *));
            memset(p->loc_funcs + p->nloc, 0, ((size_t)id + 1 - p->nloc) * sizeof(char *));
            p->nloc = (size_t)id + 1;
        }
        *cur = id;
        fn = strstr(l, " M=");
        if (!fn)
            return;
        fn = strchr(fn + 1, ' ');
    } else {
        fn = l;
    }
    if (!fn || *cur < 0)
        return;
    while (*fn == ' ')
        fn++;
    size_t len = strcspn(fn, " \n");
    if (len > 0)
        pr_append(&p->loc_funcs[*cur], fn, len);
}

/* Parses raw into p. Returns false when raw has no "Samples:" section. */
static inline bool pr_parse(const char *raw, struct pr_profile *p)
{
    memset(p, 0, sizeof *p);
    const char *s = strstr(raw, "\nSamples:\n");
    if (!s)
        return false;
    s = strchr(s + 10, '\n'); /* skip the value-types line */
    enum { SAMPLES, LOCATIONS, DONE } part = SAMPLES;
    int cur = -1;
    size_t cap = 0;
    for (const char *l = s ? s + 1 : NULL; l && *l && part != DONE; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        long long c, d;
        char colon;
        int used;
        if (strncmp(l, "Locations", 9) == 0) {
            part = LOCATIONS;
        } else if (strncmp(l, "Mappings", 8) == 0) {
            part = DONE;
        } else if (part == LOCATIONS) {
            pr_location_line(p, l, &cur);
        } else if ((sscanf(l, " %lld %lld%c%n", &c, &d, &colon, &used) == 3 && colon == ':') ||
                   (d = 0, sscanf(l, " %lld%c%n", &c, &colon, &used) == 2 && colon == ':')) {
            if (p->n == cap) {
                cap = cap ? 2 * cap : 16;
                p->samples = realloc(p->samples, cap * sizeof *p->samples);
            }
            struct pr_sample *sm = &p->samples[p->n++];
            memset(sm, 0, sizeof *sm);
            sm->count = c;
            sm->delay = d;
            const char *q = l + used;
            int id, k;
            while (sm->nlocs < PR_MAX_LOCS && sscanf(q, " %d%n", &id, &k) == 1) {
                sm->locs[sm->nlocs++] = id;
                q += k;
            }
        } else if (p->n > 0 && strstr(l, ":[")) {
            size_t len = strcspn(l, "\n");
            while (*l == ' ' && len > 0) {
                l++;
                len--;
            }
            struct pr_sample *sm = &p->samples[p->n - 1];
            snprintf(sm->labels, sizeof sm->labels, "%.*s", (int)len, l);
        }
    }
    return true;
}

/* Whether the sample's stack has the function fn at some location. */
static inline bool pr_has_function(const struct pr_profile *p, const struct pr_sample *s,
                                   const char *fn)
{
    char word[256];
    snprintf(word, sizeof word, " %s ", fn);
    for (int i = 0; i < s->nlocs; i++)
        if ((size_t)s->locs[i] < p->nloc && p->loc_funcs[s->locs[i]] &&
            strstr(p->loc_funcs[s->locs[i]], word))
            return true;
    return false;
}

/* labels without a lock label that is a birth site ("lock:[file.c:12 f]",
 * lock_identity.h), into out (512 bytes): what a test that is not about
 * lock identity compares. */
static inline const char *pr_labels_no_site(const char *labels, char out[512])
{
    const char *at = strstr(labels, "lock:[");
    const char *end = at ? strchr(at, ']') : NULL;
    const char *colon = at ? strchr(at, ':') : NULL;
    colon = colon ? strchr(colon + 1, ':') : NULL; /* file:line */
    if (!end || !colon || colon > end) {
        snprintf(out, 512, "%s", labels);
        return out;
    }
    end++;
    while (*end == ' ')
        end++;
    snprintf(out, 512, "%.*s%s", (int)(at - labels), labels, end);
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == ' ')
        out[--n] = '\0';
    return out;
}

/* pr_sum and pr_sum_no_site: labels compared as they are, or without a
 * birth-site lock label. */
static inline size_t pr_sum_labels(const struct pr_profile *p, const char *fn, const char *labels,
                                   bool no_site, long long *count, long long *delay)
{
    size_t n = 0;
    long long c = 0, d = 0;
    char buf[512];
    for (size_t i = 0; i < p->n; i++) {
        const struct pr_sample *s = &p->samples[i];
        const char *l = no_site ? pr_labels_no_site(s->labels, buf) : s->labels;
        if ((fn && !pr_has_function(p, s, fn)) || (labels && strcmp(l, labels) != 0))
            continue;
        n++;
        c += s->count;
        d += s->delay;
    }
    if (count)
        *count = c;
    if (delay)
        *delay = d;
    return n;
}

/*
 * Sums the samples whose stack has fn (NULL: any) and whose labels are
 * exactly labels (NULL: any; "": none). Returns how many matched.
 */
static inline size_t pr_sum(const struct pr_profile *p, const char *fn, const char *labels,
                            long long *count, long long *delay)
{
    return pr_sum_labels(p, fn, labels, false, count, delay);
}

/* pr_sum, comparing labels without a birth-site lock label. */
static inline size_t pr_sum_no_site(const struct pr_profile *p, const char *fn,
                                    const char *labels, long long *count, long long *delay)
{
    return pr_sum_labels(p, fn, labels, true, count, delay);
}

static inline void pr_free(struct pr_profile *p)
{
    for (size_t i = 0; i < p->nloc; i++)
        free(p->loc_funcs[i]);
    free(p->loc_funcs);
    free(p->samples);
    memset(p, 0, sizeof *p);
}

/*
 * Writes the profile name (syncprof_write_profile_file) as dir/name.pb.gz,
 * runs `go tool pprof -raw flags` on it and parses the output into p.
 * NULL when all went well; else what failed, with the command's output
 * (malloc'd: the test prints it and frees it).
 */
static inline char *pr_read_written(const char *dir, const char *name, const char *flags,
                                    struct pr_profile *p)
{
    char path[256], cmd[768];
    char *out = NULL, *why = malloc(2048); /* the command and 900 bytes of its output */
    snprintf(path, sizeof path, "%s/%s.pb.gz", dir, name);
    int r = syncprof_write_profile_file(name, path, 0);
    if (r != 0) {
        snprintf(why, 2048, "writing %s: %s", path, strerror(r));
        return why;
    }
    snprintf(cmd, sizeof cmd, "%s tool pprof -raw %s %s 2>&1", GO_EXECUTABLE, flags, path);
    if (tp_run(cmd, &out) != 0 || !pr_parse(out, p)) {
        snprintf(why, 2048, "%s:\n%.900s", cmd, out ? out : "");
        free(out);
        return why;
    }
    free(out);
    free(why);
    return NULL;
}

#endif /* TESTS_PPROF_RAW_H */
