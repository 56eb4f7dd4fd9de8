/*
 * report_merge.c - `syncprof report`'s rows: samples whose stacks read the
 * same merged into one row (through a hash of their locations' signatures,
 * then of their frame names, checked frame by frame within a budget
 * proportional to the input), with their values summed in 128 bits and
 * saturated to int64; and the rows' order, heaviest first.
 */
#include <stdlib.h>

#include "report_profile.h"

/* ---- Merging ------------------------------------------------------------------ */

static uint64_t sample_frames(const struct rp_profile *p, const struct rp_sample *s)
{
    uint64_t n = 0;
    for (size_t i = 0; i < s->nrefs; i++)
        n += p->locs[p->refs[s->first + i]].n;
    return n;
}

/* What merging works with: each sample's hashes, and the tables. */
struct rp_merge {
    struct rp_profile *p;
    uint64_t *sig_h;      /* per sample: hash of its locations' signatures */
    uint64_t *name_h;     /* per sample: hash of its frame names */
    uint64_t *nframes;    /* per sample */
    uint32_t *group;      /* per sample: its row */
    struct rp_set by_sigs, by_names;
    size_t walk_budget;   /* frames left to compare one by one */
};

/* The two tables hold samples: by_sigs the first sample of each sequence
 * of location signatures, by_names the first sample of each row. */
static uint64_t by_sigs_hash(const void *ctx, uint32_t id)
{
    return ((const struct rp_merge *)ctx)->sig_h[id];
}

static uint64_t by_names_hash(const void *ctx, uint32_t id)
{
    return ((const struct rp_merge *)ctx)->name_h[id];
}

static bool same_sigs(const struct rp_profile *p, const struct rp_sample *a,
                      const struct rp_sample *b)
{
    if (a->nrefs != b->nrefs)
        return false;
    for (size_t i = 0; i < a->nrefs; i++)
        if (p->locs[p->refs[a->first + i]].sig != p->locs[p->refs[b->first + i]].sig)
            return false;
    return true;
}

/* Whether the frame names of a and b are equal, comparing one by one
 * within the budget (false, and the budget spent, when it runs out). */
static bool same_names(struct rp_merge *m, const struct rp_sample *a, const struct rp_sample *b)
{
    struct rp_cursor x = rp_frames_of(m->p, a), y = rp_frames_of(m->p, b);
    for (;;) {
        if (m->walk_budget == 0)
            return false;
        m->walk_budget--;
        const struct rp_frame *f = rp_next_frame(&x), *g = rp_next_frame(&y);
        if (!f || !g)
            return !f && !g;
        if (f->name != g->name)
            return false;
    }
}

/*
 * Rows: the samples merged by frame names (same_names), or one row per
 * sample. A sample joins the row of an earlier one whose locations have
 * the same signatures (a hash table: linear in the input), else, within
 * the walk budget, the row of one whose frame names hash the same and
 * compare equal (stacks that read the same but were inlined differently).
 */
bool rp_merge_rows(struct rp_profile *p, bool by_name, size_t input_len)
{
    struct rp_merge m = { .p = p, .walk_budget = 4 * input_len + (1u << 20) };
    m.sig_h = malloc((p->n + 1) * sizeof *m.sig_h);
    m.name_h = malloc((p->n + 1) * sizeof *m.name_h);
    m.nframes = malloc((p->n + 1) * sizeof *m.nframes);
    m.group = malloc((p->n + 1) * sizeof *m.group);
    p->rows = malloc((p->n + 1) * sizeof *p->rows);
    __int128 *w = malloc((p->n + 1) * sizeof *w), *c = malloc((p->n + 1) * sizeof *c);
    bool ok = m.sig_h && m.name_h && m.nframes && m.group && p->rows && w && c;
    __int128 total = 0, events = 0;
    for (size_t i = 0; ok && i < p->n; i++) {
        const struct rp_sample *s = &p->s[i];
        uint64_t hs = 0, hn = 0;
        for (size_t j = 0; j < s->nrefs; j++) {
            const struct rp_loc *l = &p->locs[p->refs[s->first + j]];
            hs = rp_hash_step(hs, (uint64_t)l->sig + 1);
            hn = rp_mod_add(rp_mod_mul(hn, l->n == 1 ? rp_base : rp_base_pow(l->n)), l->h);
        }
        m.sig_h[i] = rp_hash_step(hs, s->nrefs + 1);
        m.nframes[i] = sample_frames(p, s);
        m.name_h[i] = rp_hash_step(hn, m.nframes[i] % RP_P + 1);
        total += s->weight;
        events += s->count;

        uint32_t row = RP_NONE;
        size_t pos = 0;
        bool new_sigs = false;
        if (by_name) {
            if (!(ok = rp_set_reserve(&m.by_sigs, &m, by_sigs_hash)))
                break;
            for (pos = rp_set_first(&m.by_sigs, m.sig_h[i]); m.by_sigs.slot[pos];
                 pos = (pos + 1) & (m.by_sigs.cap - 1)) {
                uint32_t o = m.by_sigs.slot[pos] - 1;
                if (m.sig_h[o] == m.sig_h[i] && same_sigs(p, &p->s[o], s)) {
                    row = m.group[o];
                    break;
                }
            }
            new_sigs = row == RP_NONE;
        }
        bool new_names = false;
        size_t np = 0;
        if (row == RP_NONE && by_name && m.walk_budget > 0) {
            if (!(ok = rp_set_reserve(&m.by_names, &m, by_names_hash)))
                break;
            for (np = rp_set_first(&m.by_names, m.name_h[i]); m.by_names.slot[np];
                 np = (np + 1) & (m.by_names.cap - 1)) {
                uint32_t o = m.by_names.slot[np] - 1;
                if (m.name_h[o] == m.name_h[i] && m.nframes[o] == m.nframes[i] &&
                    same_names(&m, &p->s[o], s)) {
                    row = m.group[o];
                    break;
                }
                if (m.walk_budget == 0)
                    break;
            }
            new_names = row == RP_NONE && !m.by_names.slot[np];
        }
        if (new_sigs)
            rp_set_put(&m.by_sigs, pos, (uint32_t)i);
        if (new_names)
            rp_set_put(&m.by_names, np, (uint32_t)i);
        if (row == RP_NONE) {
            row = (uint32_t)p->nrows++;
            p->rows[row] = (struct rp_row){ 0, 0, i, m.nframes[i] };
            w[row] = c[row] = 0;
        }
        m.group[i] = row;
        w[row] += s->weight;
        c[row] += s->count;
    }
    for (size_t r = 0; ok && r < p->nrows; r++) {
        p->rows[r].weight = w[r] > INT64_MAX ? INT64_MAX : w[r] < INT64_MIN ? INT64_MIN : (int64_t)w[r];
        p->rows[r].count = c[r] > INT64_MAX ? INT64_MAX : c[r] < INT64_MIN ? INT64_MIN : (int64_t)c[r];
    }
    p->total = total > INT64_MAX ? INT64_MAX : total < INT64_MIN ? INT64_MIN : (int64_t)total;
    p->events = events > INT64_MAX ? INT64_MAX : events < INT64_MIN ? INT64_MIN : (int64_t)events;
    free(m.sig_h);
    free(m.name_h);
    free(m.nframes);
    free(m.group);
    free(m.by_sigs.slot);
    free(m.by_names.slot);
    free(w);
    free(c);
    return ok;
}

/* ---- Ordering ------------------------------------------------------------------ */

static const struct rp_profile *sorting; /* qsort has no context argument */

/* The rows' frame names joined with ';' (leaf first), compared as strcmp
 * would, for at most RP_TIE_BREAK_BYTES bytes; 0 when equal that far. */
static int compare_names(const struct rp_profile *p, const struct rp_row *a, const struct rp_row *b)
{
    struct rp_cursor x = rp_frames_of(p, &p->s[a->sample]), y = rp_frames_of(p, &p->s[b->sample]);
    const struct rp_frame *f = rp_next_frame(&x), *g = rp_next_frame(&y);
    const char *s = f ? p->str.v[f->name].s : "", *t = g ? p->str.v[g->name].s : "";
    for (size_t budget = RP_TIE_BREAK_BYTES; budget > 0; budget--) {
        /* The next byte of each joined string: a name's, ';' between
         * names, '\0' at the end. */
        unsigned char u = *s ? (unsigned char)*s : f && (f = rp_next_frame(&x)) ? ';' : 0;
        unsigned char v = *t ? (unsigned char)*t : g && (g = rp_next_frame(&y)) ? ';' : 0;
        if (u != v)
            return u < v ? -1 : 1;
        if (u == 0)
            return 0;
        s = *s ? s + 1 : p->str.v[f->name].s;
        t = *t ? t + 1 : p->str.v[g->name].s;
    }
    return 0;
}

static int by_weight(const void *va, const void *vb)
{
    const struct rp_row *a = va, *b = vb;
    if (a->weight != b->weight)
        return a->weight > b->weight ? -1 : 1;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    int c = compare_names(sorting, a, b);
    if (c != 0)
        return c;
    return a->sample < b->sample ? -1 : a->sample > b->sample;
}

void rp_sort_rows(struct rp_profile *p)
{
    sorting = p;
    qsort(p->rows, p->nrows, sizeof *p->rows, by_weight);
}
