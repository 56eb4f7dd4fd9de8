/*
 * format_pprof.c - writes a profile view as gzip-compressed pprof protobuf
 * (sp_format_pprof in format.h), laid out as Go's runtime/pprof writes its
 * mutex and block profiles, encoded by protobuf-c from profile.proto.
 *
 * Layout: sample_type [contentions/count, delay/nanoseconds] (the hold
 * profile: [holds/count, hold/nanoseconds]), period_type its first type, period 1 (Go writes 1 for both kinds: counts and delays
 * are already scaled when recorded). One Location per distinct return
 * address, at the call instruction (pc - 1, as Go does), with one Line per
 * function inlined there, innermost first; an address nothing names gets a
 * Location without Lines, which pprof shows by address and may symbolize
 * later from the binary. One Function per distinct (name, file). A record's
 * label set (labels.h) becomes the sample's Labels {key, str}, in the
 * set's key order, so `go tool pprof -tagfocus` filters by them; a lock's
 * birth site (lock_site=<address>) is written named, as lock=<site>.
 *
 * Memory: every message lives in one arena freed at the end, sized up front
 * from the view (strings, functions and lines are all bounded by the frame
 * count), so there is a single cleanup path.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "format.h"
#include "format_common.h"
#include "labels.h"
#include "lock_identity.h"
#include "profile.pb-c.h"

typedef Perftools__Profiles__Profile sp_pb_profile;
typedef Perftools__Profiles__ValueType sp_pb_value_type;
typedef Perftools__Profiles__Sample sp_pb_sample;
typedef Perftools__Profiles__Mapping sp_pb_mapping;
typedef Perftools__Profiles__Location sp_pb_location;
typedef Perftools__Profiles__Line sp_pb_line;
typedef Perftools__Profiles__Function sp_pb_function;
typedef Perftools__Profiles__Label sp_pb_label;

/* ---- Arena -------------------------------------------------------------- */

/* Zeroed blocks chained for one free at the end. */
struct sp_arena_block {
    struct sp_arena_block *next;
    max_align_t data[];
};

struct sp_arena {
    struct sp_arena_block *head;
    bool oom;
};

/* n zeroed elements of size sz, or NULL (latching oom). */
static void *sp_arena_calloc(struct sp_arena *a, size_t n, size_t sz)
{
    struct sp_arena_block *b;

    if (a->oom || (sz != 0 && n > (SIZE_MAX - sizeof(*b)) / sz)) {
        a->oom = true;
        return NULL;
    }
    b = calloc(1, sizeof(*b) + n * sz);
    if (b == NULL) {
        a->oom = true;
        return NULL;
    }
    b->next = a->head;
    a->head = b;
    return b->data;
}

static void sp_arena_free(struct sp_arena *a)
{
    while (a->head != NULL) {
        struct sp_arena_block *next = a->head->next;
        free(a->head);
        a->head = next;
    }
}

/* ---- String table and function ids ------------------------------------ */

/* Open-addressing hash tables sized for the known upper bound of entries,
 * at most half full, so inserts never grow nor fail. */
struct sp_builder {
    struct sp_arena arena;
    const struct sp_profile_view *view;
    const struct sp_pctab *tab;
    struct sp_symbolizer *sym;
    sp_pb_profile prof;
    /* strings: prof.string_table holds them, str_slots their index + 1 */
    size_t str_cap;
    uint32_t *str_slots;
    size_t str_mask;
    /* functions: key (name index, file index), fn_slots their id */
    uint64_t *fn_keys;
    uint32_t *fn_slots;
    size_t fn_mask;
};

/* Slots for at most n entries at load <= 1/2: a power of two. */
static size_t sp_slots_for(size_t n)
{
    size_t s = 16;

    while (s < 2 * n)
        s *= 2;
    return s;
}

static uint64_t sp_hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */

    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static uint64_t sp_hash_u64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull; /* murmur3 finalizer */
    return k ^ (k >> 33);
}

/* The string-table index of s, adding it on first use. NULL is "". */
static int64_t sp_intern(struct sp_builder *b, const char *s)
{
    size_t i;

    if (s == NULL || s[0] == '\0' || b->prof.n_string_table == b->str_cap)
        return 0; /* the cap is never reached: sp_builder_tables sized it */
    for (i = sp_hash_str(s) & b->str_mask; b->str_slots[i] != 0; i = (i + 1) & b->str_mask)
        if (strcmp(b->prof.string_table[b->str_slots[i] - 1], s) == 0)
            return b->str_slots[i] - 1;
    /* The table holds the symbolizer's strings unmodified; protobuf-c only
     * wants char * because its generated field is not const. */
    b->prof.string_table[b->prof.n_string_table] = (char *)s;
    b->str_slots[i] = (uint32_t)++b->prof.n_string_table;
    return b->str_slots[i] - 1;
}

/* The id of Function (name, file), adding it on first use. */
static uint64_t sp_function_id(struct sp_builder *b, const struct sp_frame *f)
{
    int64_t name = sp_intern(b, f->function), file = sp_intern(b, f->file);
    uint64_t key = (uint64_t)name << 32 | (uint64_t)file;
    size_t i;

    for (i = sp_hash_u64(key) & b->fn_mask; b->fn_slots[i] != 0; i = (i + 1) & b->fn_mask)
        if (b->fn_keys[i] == key)
            return b->fn_slots[i];
    sp_pb_function *fn = sp_arena_calloc(&b->arena, 1, sizeof(*fn));
    if (fn == NULL)
        return 0;
    perftools__profiles__function__init(fn);
    fn->id = b->prof.n_function + 1;
    fn->name = fn->system_name = name;
    fn->filename = file;
    b->prof.function[b->prof.n_function++] = fn;
    b->fn_keys[i] = key;
    b->fn_slots[i] = (uint32_t)fn->id;
    return fn->id;
}

/* The number of labels over all records of the view. */
static size_t sp_view_labels(const struct sp_profile_view *v)
{
    size_t n = 0;

    for (size_t i = 0; i < v->n; i++)
        n += v->recs[i].labels != NULL ? (size_t)v->recs[i].labels->n : 0;
    return n;
}

/* Sizes the string and function tables. Strings: 5 fixed ones, a comment, a path and
 * a build id per mapping, a name and a file per frame, a key and a value
 * per label; functions: one per frame at most. Returns false on ENOMEM. */
static bool sp_builder_tables(struct sp_builder *b, size_t nmaps)
{
    struct sp_arena *a = &b->arena;
    size_t nstr = 1 + 4 + 1 + 2 * nmaps + 2 * b->tab->nframes + 2 * sp_view_labels(b->view);
    size_t nfn = b->tab->nframes;

    b->str_cap = nstr;
    b->prof.string_table = sp_arena_calloc(a, nstr, sizeof(char *));
    b->str_mask = sp_slots_for(nstr) - 1;
    b->str_slots = sp_arena_calloc(a, b->str_mask + 1, sizeof(uint32_t));
    b->prof.function = sp_arena_calloc(a, nfn + 1, sizeof(sp_pb_function *));
    b->fn_mask = sp_slots_for(nfn) - 1;
    b->fn_keys = sp_arena_calloc(a, b->fn_mask + 1, sizeof(uint64_t));
    b->fn_slots = sp_arena_calloc(a, b->fn_mask + 1, sizeof(uint32_t));
    if (a->oom)
        return false;
    b->prof.string_table[b->prof.n_string_table++] = ""; /* pprof: [0] is "" */
    return true;
}

/* ---- Header ------------------------------------------------------------- */

static sp_pb_value_type *sp_value_type(struct sp_builder *b, const char *type, const char *unit)
{
    sp_pb_value_type *vt = sp_arena_calloc(&b->arena, 1, sizeof(*vt));

    if (vt == NULL)
        return NULL;
    perftools__profiles__value_type__init(vt);
    vt->type = sp_intern(b, type);
    vt->unit = sp_intern(b, unit);
    return vt;
}

/* sample_type, period_type, period and time, as Go's printCountCycleProfile. */
static void sp_build_header(struct sp_builder *b)
{
    sp_pb_profile *p = &b->prof;

    p->sample_type = sp_arena_calloc(&b->arena, 2, sizeof(*p->sample_type));
    if (p->sample_type == NULL)
        return;
    bool hold = !b->view->count_only && b->view->kind == SP_PROFILE_HOLD;
    const char *counted = b->view->count_only ? "goroutine" : hold ? "holds" : "contentions";
    if (b->view->count_only) {
        /* Go's goroutine profile, which the thread profile mirrors. */
        p->sample_type[0] = sp_value_type(b, "goroutine", "count");
        p->n_sample_type = 1;
    } else {
        p->sample_type[0] = sp_value_type(b, counted, "count");
        p->sample_type[1] = sp_value_type(b, hold ? "hold" : "delay", "nanoseconds");
        p->n_sample_type = 2;
    }
    p->period_type = sp_value_type(b, counted, "count");
    p->period = 1;
    p->time_nanos = b->view->time_nanos;
    p->duration_nanos = b->view->duration_nanos;

    /* Locks whose samples carry no birth site are counted, and said. */
    uint64_t dropped = b->view->count_only ? 0 : sp_lock_ids_dropped();
    char *text = dropped ? sp_arena_calloc(&b->arena, 1, 128) : NULL;
    p->comment = text ? sp_arena_calloc(&b->arena, 1, sizeof(*p->comment)) : NULL;
    if (p->comment) {
        snprintf(text, 128, "syncprof: %llu locks without a birth site (the table of %d was full)",
                 (unsigned long long)dropped, SP_LOCK_IDS);
        p->comment[0] = sp_intern(b, text);
        p->n_comment = 1;
    }
}

/* ---- Mappings ----------------------------------------------------------- */

/* Sets the has_* flags of every mapping from what its pcs resolved to:
 * has_functions as Go sets it (every lookup in it found a name), the others
 * when any of its pcs had source lines (then inlines were expanded too). */
static void sp_mapping_flags(struct sp_builder *b, sp_pb_mapping *const *by_index, size_t nmaps)
{
    bool *failed = sp_arena_calloc(&b->arena, nmaps + 1, sizeof(bool));

    if (failed == NULL)
        return;
    for (size_t i = 0; i < b->tab->n; i++) {
        const struct sp_pcinfo *pc = &b->tab->pcs[i];
        if (pc->mapping < 0 || (size_t)pc->mapping >= nmaps)
            continue;
        sp_pb_mapping *m = by_index[pc->mapping];
        failed[pc->mapping] |= !pc->known;
        m->has_functions = !failed[pc->mapping];
        if (pc->known && pc->frames[0].file != NULL)
            m->has_filenames = m->has_line_numbers = m->has_inline_frames = true;
    }
}

/*
 * One Mapping per executable mapping that a location of the profile lies
 * in, with the id index + 1 of the symbolizer's mapping (ids need not be
 * consecutive), so the profile reads without the binaries and pprof can
 * match build ids. Mappings no sample touches are left out: reading their
 * build ids would open every library of the process at each write.
 */
static void sp_build_mappings(struct sp_builder *b, size_t nmaps)
{
    sp_pb_mapping *ms = sp_arena_calloc(&b->arena, nmaps + 1, sizeof(*ms));
    sp_pb_mapping **by_index = sp_arena_calloc(&b->arena, nmaps + 1, sizeof(*by_index));

    b->prof.mapping = sp_arena_calloc(&b->arena, nmaps + 1, sizeof(*b->prof.mapping));
    if (ms == NULL || by_index == NULL || b->prof.mapping == NULL)
        return;
    for (size_t i = 0; i < b->tab->n; i++) {
        int mi = b->tab->pcs[i].mapping;
        if (mi < 0 || (size_t)mi >= nmaps || by_index[mi] != NULL)
            continue;
        const struct sp_mapping *src = sp_symbolizer_mapping(b->sym, (size_t)mi);
        const char *build_id = sp_symbolizer_build_id(b->sym, (size_t)mi);
        sp_pb_mapping *m = &ms[mi];
        perftools__profiles__mapping__init(m);
        m->id = (uint64_t)mi + 1;
        m->memory_start = src->start;
        m->memory_limit = src->limit;
        m->file_offset = src->file_offset;
        m->filename = sp_intern(b, src->path);
        m->build_id = sp_intern(b, build_id ? build_id : "");
        b->arena.oom |= build_id == NULL;
        by_index[mi] = m;
    }
    /* in address order, as the symbolizer lists them */
    for (size_t i = 0; i < nmaps; i++)
        if (by_index[i] != NULL)
            b->prof.mapping[b->prof.n_mapping++] = by_index[i];
    sp_mapping_flags(b, by_index, nmaps);
}

/* ---- Locations ---------------------------------------------------------- */

/* Location i + 1 for tab->pcs[i], its Lines taken from lines. */
static void sp_fill_location(struct sp_builder *b, sp_pb_location *loc, size_t i,
                             sp_pb_line *lines, sp_pb_line **line_ptrs)
{
    const struct sp_pcinfo *pc = &b->tab->pcs[i];

    perftools__profiles__location__init(loc);
    loc->id = i + 1;
    loc->address = pc->addr;
    loc->mapping_id = pc->mapping >= 0 ? (uint64_t)pc->mapping + 1 : 0;
    if (!pc->known)
        return;
    for (int j = 0; j < pc->nframes; j++) {
        perftools__profiles__line__init(&lines[j]);
        lines[j].function_id = sp_function_id(b, &pc->frames[j]);
        lines[j].line = pc->frames[j].line;
        line_ptrs[j] = &lines[j];
    }
    loc->line = line_ptrs;
    loc->n_line = (size_t)pc->nframes;
}

static void sp_build_locations(struct sp_builder *b)
{
    size_t n = b->tab->n, nl = b->tab->nframes;
    sp_pb_location *locs = sp_arena_calloc(&b->arena, n + 1, sizeof(*locs));
    sp_pb_line *lines = sp_arena_calloc(&b->arena, nl + 1, sizeof(*lines));
    sp_pb_line **line_ptrs = sp_arena_calloc(&b->arena, nl + 1, sizeof(*line_ptrs));

    b->prof.location = sp_arena_calloc(&b->arena, n + 1, sizeof(*b->prof.location));
    if (b->arena.oom)
        return;
    for (size_t i = 0, at = 0; i < n; i++) {
        sp_fill_location(b, &locs[i], i, &lines[at], &line_ptrs[at]);
        at += (size_t)b->tab->pcs[i].nframes;
        b->prof.location[i] = &locs[i];
    }
    b->prof.n_location = n;
}

/* ---- Samples ------------------------------------------------------------ */

/* The sample's Labels from the record's label set, if it has one. */
static void sp_fill_labels(struct sp_builder *b, sp_pb_sample *s, const struct sp_label_set *set)
{
    if (set == NULL)
        return;
    sp_pb_label *ls = sp_arena_calloc(&b->arena, (size_t)set->n, sizeof(*ls));
    sp_pb_label **ptrs = sp_arena_calloc(&b->arena, (size_t)set->n, sizeof(*ptrs));

    if (ls == NULL || ptrs == NULL)
        return;
    for (int i = 0; i < set->n; i++) {
        const char *key = set->labels[i].key, *value = set->labels[i].value;
        char *text;
        /* A birth site is written as the lock label, named (lock_identity.h). */
        if (strcmp(key, SP_LOCK_SITE_KEY) == 0 && (text = sp_arena_calloc(&b->arena, 1, 256)) &&
            sp_lock_site_text(b->sym, value, text, 256)) {
            key = "lock";
            value = text;
        }
        perftools__profiles__label__init(&ls[i]);
        ls[i].key = sp_intern(b, key);
        ls[i].str = sp_intern(b, value);
        ptrs[i] = &ls[i];
    }
    s->label = ptrs;
    s->n_label = (size_t)set->n;
}

/* One Sample per record, heaviest first as Go orders them: location ids
 * leaf first, values [count, delay], and the record's labels. */
static void sp_fill_sample(struct sp_builder *b, sp_pb_sample *s, const struct sp_record *r)
{
    int64_t *values = sp_arena_calloc(&b->arena, 2, sizeof(*values));
    uint64_t *ids = sp_arena_calloc(&b->arena, (size_t)r->nframes + 1, sizeof(*ids));

    perftools__profiles__sample__init(s);
    if (values == NULL || ids == NULL)
        return;
    for (int i = 0; i < r->nframes; i++) {
        const struct sp_pcinfo *pc = sp_pctab_find(b->tab, r->pcs[i]);
        ids[i] = (uint64_t)(pc - b->tab->pcs) + 1; /* every pc of the view is there */
    }
    values[0] = sp_count_round(r->count);
    values[1] = r->delay_ns;
    s->location_id = ids;
    s->n_location_id = (size_t)r->nframes;
    s->value = values;
    s->n_value = b->view->count_only ? 1 : 2;
    sp_fill_labels(b, s, r->labels);
}

static void sp_build_samples(struct sp_builder *b, const struct sp_record **order)
{
    size_t n = b->view->n;
    sp_pb_sample *ss = sp_arena_calloc(&b->arena, n + 1, sizeof(*ss));

    b->prof.sample = sp_arena_calloc(&b->arena, n + 1, sizeof(*b->prof.sample));
    if (ss == NULL || b->prof.sample == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        sp_fill_sample(b, &ss[i], order[i]);
        b->prof.sample[i] = &ss[i];
    }
    b->prof.n_sample = n;
}

/* Builds b->prof from the view. Returns 0 or ENOMEM. */
static int sp_build_profile(struct sp_builder *b)
{
    size_t nmaps = sp_symbolizer_mapping_count(b->sym);
    const struct sp_record **order;

    perftools__profiles__profile__init(&b->prof);
    if (!sp_builder_tables(b, nmaps) || sp_records_sorted(b->view, &order) != 0)
        return ENOMEM;
    sp_build_header(b);
    sp_build_mappings(b, nmaps);
    sp_build_locations(b);
    sp_build_samples(b, order);
    free(order);
    return b->arena.oom ? ENOMEM : 0;
}

/* ---- Compression and output --------------------------------------------- */

/* Compresses buf[0..len) as one gzip member and writes it to fd in chunks.
 * Returns 0, ENOMEM, or the errno of the failed write. */
static int sp_write_gzip(int fd, const uint8_t *buf, size_t len)
{
    unsigned char out[64 * 1024];
    z_stream z = { 0 };
    int zr = Z_OK, err = 0;

    /* windowBits 15 + 16: a gzip header and trailer instead of zlib's. */
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return ENOMEM;
    z.next_in = (Bytef *)buf; /* zlib's API is not const; it does not write */
    do {
        uInt chunk = len > (1u << 30) ? (1u << 30) : (uInt)len;
        z.avail_in += chunk;
        len -= chunk;
        do {
            z.next_out = out;
            z.avail_out = sizeof(out);
            zr = deflate(&z, len == 0 ? Z_FINISH : Z_NO_FLUSH);
            if (zr == Z_STREAM_ERROR)
                err = ENOMEM;
            else
                err = sp_write_all(fd, out, sizeof(out) - z.avail_out);
        } while (err == 0 && z.avail_out == 0);
    } while (err == 0 && len > 0);
    if (err == 0 && zr != Z_STREAM_END)
        err = EIO; /* cannot happen: Z_FINISH with all input and room to spare */
    deflateEnd(&z);
    return err;
}

/* Packs the built profile and writes it gzip'd. Returns 0, ENOMEM or the
 * write's errno. */
static int sp_write_profile(int fd, const sp_pb_profile *prof)
{
    size_t len = perftools__profiles__profile__get_packed_size(prof);
    uint8_t *buf = malloc(len ? len : 1);
    int err;

    if (buf == NULL)
        return ENOMEM;
    perftools__profiles__profile__pack(prof, buf);
    err = sp_write_gzip(fd, buf, len);
    free(buf);
    return err;
}

int sp_format_pprof(int fd, const struct sp_profile_view *v)
{
    struct sp_builder b = { .view = v };
    struct sp_pctab tab;
    int err;

    /* An empty profile names nothing and needs no mappings: it is written
     * without opening the symbolizer, which is most of the cost of a
     * short program's profiles at exit. */
    b.sym = v->n > 0 ? sp_symbolizer_acquire() : NULL;
    if (v->n > 0 && b.sym == NULL)
        return ENOMEM;
    err = sp_pctab_build(&tab, v, b.sym);
    b.tab = &tab;
    if (err == 0)
        err = sp_build_profile(&b);
    if (err == 0)
        err = sp_write_profile(fd, &b.prof);
    sp_arena_free(&b.arena);
    sp_pctab_free(&tab);
    if (b.sym)
        sp_symbolizer_release();
    return err;
}
