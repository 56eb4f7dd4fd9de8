/*
 * format_text.c - writes a profile view as Go's debug=1 text
 * (sp_format_text in format.h), byte for byte what runtime/pprof prints for
 * its mutex and block profiles, delays in nanoseconds.
 *
 * Go prints through a text/tabwriter (minwidth 1, tabwidth 8, padding 1,
 * padchar '\t'), so the frame columns of consecutive "#" lines are aligned
 * with runs of tabs; sp_text_run reproduces that. The text is built in
 * memory and written with one sp_write_all, so a failed write reports its
 * own errno.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "format_common.h"

/* Go's tabwriter settings in runtime/pprof. */
#define SP_TABWIDTH 8
#define SP_PADDING 1

/* The text being built; oom latches the first allocation failure. */
struct sp_text {
    char *p;
    size_t len, cap;
    bool oom;
    bool count_only; /* records without a delay column */
};

/* ---- Buffer ------------------------------------------------------------- */

static bool sp_text_reserve(struct sp_text *t, size_t more)
{
    if (t->oom)
        return false;
    if (t->len + more + 1 <= t->cap)
        return true;
    size_t ncap = t->cap ? t->cap : 4096;
    while (ncap < t->len + more + 1)
        ncap *= 2;
    char *p = realloc(t->p, ncap);
    if (p == NULL) {
        t->oom = true;
        return false;
    }
    t->p = p;
    t->cap = ncap;
    return true;
}

__attribute__((format(printf, 2, 3)))
static void sp_text_printf(struct sp_text *t, const char *fmt, ...)
{
    va_list ap;
    char small[256];

    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0 || !sp_text_reserve(t, (size_t)n))
        return;
    if ((size_t)n < sizeof(small)) {
        memcpy(t->p + t->len, small, (size_t)n + 1);
    } else {
        va_start(ap, fmt);
        vsnprintf(t->p + t->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    t->len += (size_t)n;
}

/* ---- Frame lines -------------------------------------------------------- */

/* Length of "0x<hex>" for v, as Go's %#x prints it ("0x0" for 0). */
static size_t sp_hexlen(uintptr_t v)
{
    size_t n = 1;

    while (v >>= 4)
        n++;
    return 2 + n;
}

static size_t sp_funcoff_len(const struct sp_pcinfo *pc, const struct sp_frame *f)
{
    return strlen(f->function) + 1 + sp_hexlen(pc->addr - pc->entry);
}

/* The tabs tabwriter pads a cell of textw bytes with, in a column whose
 * widest cell is maxw bytes: the column is maxw + padding rounded up to a
 * tab stop. */
static void sp_text_pad(struct sp_text *t, size_t textw, size_t maxw)
{
    size_t cellw = (maxw + SP_PADDING + SP_TABWIDTH - 1) / SP_TABWIDTH * SP_TABWIDTH;
    size_t tabs = (cellw - textw + SP_TABWIDTH - 1) / SP_TABWIDTH;

    while (tabs-- > 0)
        sp_text_printf(t, "\t");
}

/* One known frame line: "#\t0x<addr>\t<fn>+0x<off>\t<file>:<line>". A
 * frame without a source file prints "?:0", as Go's runtime does. */
static void sp_text_frame(struct sp_text *t, const struct sp_pcinfo *pc,
                          const struct sp_frame *f, size_t pcw, size_t fnw)
{
    sp_text_printf(t, "#\t0x%" PRIxPTR, pc->addr);
    sp_text_pad(t, sp_hexlen(pc->addr), pcw);
    sp_text_printf(t, "%s+0x%" PRIxPTR, f->function, pc->addr - pc->entry);
    sp_text_pad(t, sp_funcoff_len(pc, f), fnw);
    sp_text_printf(t, "%s:%d\n", f->file ? f->file : "?", f->file ? f->line : 0);
}

/* Prints the frames of the known pcs run[0..n): one tabwriter column block,
 * so its widest cells set the alignment of all its lines. */
static void sp_text_run(struct sp_text *t, const struct sp_pcinfo *const *run, size_t n)
{
    size_t pcw = 0, fnw = 0;

    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < run[i]->nframes; j++) {
            size_t w = sp_funcoff_len(run[i], &run[i]->frames[j]);
            fnw = w > fnw ? w : fnw;
            w = sp_hexlen(run[i]->addr);
            pcw = w > pcw ? w : pcw;
        }
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < run[i]->nframes; j++)
            sp_text_frame(t, run[i], &run[i]->frames[j], pcw, fnw);
}

/* ---- Records ------------------------------------------------------------ */

/* The "#" lines of one stack. An unknown pc prints as Go prints a frame
 * without a function, "#\t0x<addr>"; that line has fewer cells, so it ends
 * the column block of the known lines before it. */
static void sp_text_frames(struct sp_text *t, const struct sp_record *r,
                           const struct sp_pctab *tab)
{
    const struct sp_pcinfo *run[SP_MAX_FRAMES];
    size_t n = 0;

    for (int i = 0; i < r->nframes; i++) {
        const struct sp_pcinfo *pc = sp_pctab_find(tab, r->pcs[i]);
        if (pc != NULL && pc->known && n < SP_MAX_FRAMES) {
            run[n++] = pc;
            continue;
        }
        sp_text_run(t, run, n);
        n = 0;
        if (pc != NULL && pc->known) /* only past SP_MAX_FRAMES */
            run[n++] = pc;
        else
            sp_text_printf(t, "#\t0x%" PRIxPTR "\n", r->pcs[i] > 0 ? r->pcs[i] - 1 : 0);
    }
    sp_text_run(t, run, n);
}

/* "<delay> <count> @ 0x<pc> ..." (raw return addresses, as Go prints
 * them), the frame lines, and a blank line. */
static void sp_text_record(struct sp_text *t, const struct sp_record *r,
                           const struct sp_pctab *tab)
{
    if (t->count_only)
        sp_text_printf(t, "%" PRId64 " @", sp_count_round(r->count));
    else
        sp_text_printf(t, "%" PRId64 " %" PRId64 " @", r->delay_ns, sp_count_round(r->count));
    for (int i = 0; i < r->nframes; i++)
        sp_text_printf(t, " 0x%" PRIxPTR, r->pcs[i]);
    sp_text_printf(t, "\n");
    sp_text_frames(t, r, tab);
    sp_text_printf(t, "\n");
}

/* Go's header; delays are nanoseconds, hence 1e9 "cycles" per second. */
static void sp_text_header(struct sp_text *t, const struct sp_profile_view *v)
{
    if (v->count_only) {
        int64_t total = 0;
        for (size_t i = 0; i < v->n; i++)
            total += sp_count_round(v->recs[i].count);
        sp_text_printf(t, "goroutine profile: total %" PRId64 "\n", total);
    } else if (v->kind == SP_PROFILE_MUTEX) {
        sp_text_printf(t, "--- mutex:\ncycles/second=1000000000\n");
        sp_text_printf(t, "sampling period=%" PRId64 "\n", v->period);
    } else {
        /* Go's contention layout; the hold profile's counts are holds and
         * its delays the time they lasted. */
        sp_text_printf(t, "--- contention:\ncycles/second=1000000000\n");
        if (v->kind == SP_PROFILE_HOLD)
            sp_text_printf(t, "hold rate=%" PRId64 "\n", v->period);
    }
}

/* Builds the whole text of v in t. Returns 0 or ENOMEM. */
static int sp_text_build(struct sp_text *t, const struct sp_profile_view *v,
                         const struct sp_pctab *tab)
{
    const struct sp_record **order;

    if (sp_records_sorted(v, &order) != 0)
        return ENOMEM;
    sp_text_header(t, v);
    for (size_t i = 0; i < v->n; i++)
        sp_text_record(t, order[i], tab);
    free(order);
    return t->oom ? ENOMEM : 0;
}

int sp_format_text(int fd, const struct sp_profile_view *v)
{
    struct sp_symbolizer *s;
    struct sp_pctab tab;
    struct sp_text t = { .count_only = v->count_only };
    int err;

    s = sp_symbolizer_acquire();
    if (s == NULL)
        return ENOMEM;
    err = sp_pctab_build(&tab, v, s);
    if (err == 0)
        err = sp_text_build(&t, v, &tab);
    if (err == 0)
        err = sp_write_all(fd, t.p, t.len);
    free(t.p);
    sp_pctab_free(&tab);
    sp_symbolizer_release();
    return err;
}
