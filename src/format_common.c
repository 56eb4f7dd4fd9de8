/*
 * format_common.c - the helpers both profile writers share (format_common.h):
 * record order, per-pc symbols, count rounding, and the fd write loop.
 */
#include "format_common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- Writing ------------------------------------------------------------ */

int sp_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (w == 0)
            return EIO; /* would loop forever otherwise */
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* ---- Counts ------------------------------------------------------------- */

int64_t sp_count_round(double count)
{
    /* Written without libm so the library needs no -lm. */
    if (!(count > 0))
        return 0;
    if (count >= 9.2e18)
        return INT64_MAX;
    return (int64_t)(count + 0.5);
}

/* ---- Record order ------------------------------------------------------- */

static int sp_cmp_stacks(const struct sp_record *a, const struct sp_record *b)
{
    if (a->nframes != b->nframes)
        return a->nframes < b->nframes ? -1 : 1;
    for (int i = 0; i < a->nframes; i++)
        if (a->pcs[i] != b->pcs[i])
            return a->pcs[i] < b->pcs[i] ? -1 : 1;
    return 0;
}

/* qsort order: heaviest delay first, then highest count, then stack. */
static int sp_cmp_records(const void *pa, const void *pb)
{
    const struct sp_record *a = *(const struct sp_record *const *)pa;
    const struct sp_record *b = *(const struct sp_record *const *)pb;

    if (a->delay_ns != b->delay_ns)
        return a->delay_ns > b->delay_ns ? -1 : 1;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return sp_cmp_stacks(a, b);
}

int sp_records_sorted(const struct sp_profile_view *v, const struct sp_record ***out)
{
    const struct sp_record **order = NULL;

    *out = NULL;
    if (v->n == 0)
        return 0;
    order = malloc(v->n * sizeof(*order));
    if (order == NULL)
        return ENOMEM;
    for (size_t i = 0; i < v->n; i++)
        order[i] = &v->recs[i];
    qsort(order, v->n, sizeof(*order), sp_cmp_records);
    *out = order;
    return 0;
}

/* ---- Distinct pcs ------------------------------------------------------- */

static int sp_cmp_pcs(const void *pa, const void *pb)
{
    uintptr_t a = *(const uintptr_t *)pa, b = *(const uintptr_t *)pb;

    return a < b ? -1 : a > b;
}

/* The sorted distinct pcs of v in a malloc'd array (NULL when there are
 * none). Returns 0 or ENOMEM. */
static int sp_distinct_pcs(const struct sp_profile_view *v, uintptr_t **out, size_t *n)
{
    size_t total = 0, k = 0;
    uintptr_t *pcs;

    *out = NULL;
    *n = 0;
    for (size_t i = 0; i < v->n; i++)
        total += v->recs[i].nframes > 0 ? (size_t)v->recs[i].nframes : 0;
    if (total == 0)
        return 0;
    pcs = malloc(total * sizeof(*pcs));
    if (pcs == NULL)
        return ENOMEM;
    for (size_t i = 0; i < v->n; i++)
        for (int j = 0; j < v->recs[i].nframes; j++)
            pcs[k++] = v->recs[i].pcs[j];
    qsort(pcs, total, sizeof(*pcs), sp_cmp_pcs);
    k = 1;
    for (size_t i = 1; i < total; i++)
        if (pcs[i] != pcs[k - 1])
            pcs[k++] = pcs[i];
    *out = pcs;
    *n = k;
    return 0;
}

/* Appends sym's frames to t->frames, growing it by doubling. The pcinfo
 * frame pointers are set once all are in (sp_pctab_link), since growing
 * moves the storage. */
static int sp_pctab_add_frames(struct sp_pctab *t, size_t *cap, const struct sp_symbol *sym)
{
    size_t need = t->nframes + (size_t)sym->nframes;

    if (need > *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        while (ncap < need)
            ncap *= 2;
        struct sp_frame *f = realloc(t->frames, ncap * sizeof(*f));
        if (f == NULL)
            return ENOMEM;
        t->frames = f;
        *cap = ncap;
    }
    memcpy(&t->frames[t->nframes], sym->frames, (size_t)sym->nframes * sizeof(*sym->frames));
    t->nframes = need;
    return 0;
}

/* Points each pcinfo at its frames; frames were appended in pc order. */
static void sp_pctab_link(struct sp_pctab *t)
{
    size_t at = 0;

    for (size_t i = 0; i < t->n; i++) {
        t->pcs[i].frames = &t->frames[at];
        at += (size_t)t->pcs[i].nframes;
    }
}

static int sp_pctab_fill(struct sp_pctab *t, const uintptr_t *pcs, struct sp_symbolizer *s)
{
    size_t cap = 0;
    struct sp_symbol sym;

    for (size_t i = 0; i < t->n; i++) {
        int err = sp_symbolize(s, pcs[i], &sym);
        if (err == 0)
            err = sp_pctab_add_frames(t, &cap, &sym);
        if (err != 0)
            return err;
        t->pcs[i] = (struct sp_pcinfo){
            .pc = pcs[i], .addr = sym.addr, .entry = sym.entry,
            .mapping = sym.mapping, .known = sym.known, .nframes = sym.nframes,
        };
    }
    sp_pctab_link(t);
    return 0;
}

int sp_pctab_build(struct sp_pctab *t, const struct sp_profile_view *v,
                   struct sp_symbolizer *s)
{
    uintptr_t *pcs;
    size_t n;
    int err;

    memset(t, 0, sizeof(*t));
    err = sp_distinct_pcs(v, &pcs, &n);
    if (err != 0 || n == 0)
        return err;
    t->pcs = calloc(n, sizeof(*t->pcs));
    if (t->pcs == NULL) {
        free(pcs);
        return ENOMEM;
    }
    t->n = n;
    err = sp_pctab_fill(t, pcs, s);
    free(pcs);
    if (err != 0)
        sp_pctab_free(t);
    return err;
}

const struct sp_pcinfo *sp_pctab_find(const struct sp_pctab *t, uintptr_t pc)
{
    size_t lo = 0, hi = t->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->pcs[mid].pc == pc)
            return &t->pcs[mid];
        if (t->pcs[mid].pc < pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

void sp_pctab_free(struct sp_pctab *t)
{
    free(t->pcs);
    free(t->frames);
    memset(t, 0, sizeof(*t));
}
