/*
 * report_read.c - `syncprof report`'s readers: the file (zlib's gzread
 * reads compressed and plain files alike), pprof protobuf (decoded with
 * the protobuf-c code generated from src/profile.proto, the writer's own)
 * and Go's debug=1 text ("--- mutex:", "--- contention:" with delays in
 * cycles/second units, "goroutine profile: total N"), each into the model
 * of report_profile.h.
 *
 * Anything else is refused with a message naming the file, never a crash:
 * lengths and string-table indexes are checked before use. Bounds: at
 * most 1 GiB once decompressed; functions, locations and mappings are
 * found by binary search; the protobuf decoder's allocations are capped
 * at RP_DECODE_FACTOR times the input.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "profile.pb-c.h"
#include "report_profile.h"

/* ---- Reading the file ------------------------------------------------------- */

/* The whole file, gunzipped if it was compressed, with a NUL after it.
 * NULL with a message. */
unsigned char *rp_read_file(const char *path, size_t *len)
{
    gzFile f = gzopen(path, "rb");
    if (!f) {
        fprintf(stderr, "syncprof report: cannot open %s: %s\n", path,
                errno ? strerror(errno) : "out of memory");
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap + 1);
    for (;;) {
        if (!buf)
            break;
        if (n == cap) {
            if (cap >= RP_MAX_INPUT) {
                fprintf(stderr, "syncprof report: %s: larger than 1 GiB\n", path);
                free(buf);
                gzclose(f);
                return NULL;
            }
            unsigned char *p = realloc(buf, (cap *= 2) + 1);
            if (!p) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = p;
        }
        int r = gzread(f, buf + n, (unsigned)(cap - n));
        if (r < 0) {
            int err;
            const char *msg = gzerror(f, &err);
            fprintf(stderr, "syncprof report: %s: %s\n", path,
                    err == Z_ERRNO ? strerror(errno) : msg);
            free(buf);
            gzclose(f);
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    gzclose(f);
    if (!buf) {
        fprintf(stderr, "syncprof report: %s: out of memory\n", path);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* ---- pprof protobuf ----------------------------------------------------------- */

typedef Perftools__Profiles__Profile pb_profile;
typedef Perftools__Profiles__Location pb_location;
typedef Perftools__Profiles__Function pb_function;
typedef Perftools__Profiles__Mapping pb_mapping;

/* protobuf-c's allocations, counted and capped: a small file whose
 * messages are all empty would otherwise decode into structures some 50
 * times its size. Each block starts with its size. */
struct rp_budget {
    size_t used, limit;
    bool exceeded; /* the cap refused a block */
    bool oom;      /* malloc did */
};

static void *budget_alloc(void *data, size_t size)
{
    struct rp_budget *b = data;
    if (size > b->limit - b->used || size > SIZE_MAX - 16) {
        b->exceeded = true;
        return NULL;
    }
    unsigned char *p = malloc(size + 16);
    if (!p) {
        b->oom = true;
        return NULL;
    }
    memcpy(p, &size, sizeof size);
    b->used += size;
    return p + 16;
}

static void budget_free(void *data, void *ptr)
{
    struct rp_budget *b = data;
    if (!ptr)
        return;
    unsigned char *p = (unsigned char *)ptr - 16;
    size_t size;
    memcpy(&size, p, sizeof size);
    b->used -= size;
    free(p);
}

static const char *str(const pb_profile *pb, int64_t i)
{
    return i >= 0 && (size_t)i < pb->n_string_table ? pb->string_table[i] : NULL;
}

static int by_location_id(const void *a, const void *b)
{
    uint64_t x = (*(pb_location *const *)a)->id, y = (*(pb_location *const *)b)->id;
    return x < y ? -1 : x > y;
}

static int by_function_id(const void *a, const void *b)
{
    uint64_t x = (*(pb_function *const *)a)->id, y = (*(pb_function *const *)b)->id;
    return x < y ? -1 : x > y;
}

static int by_mapping_id(const void *a, const void *b)
{
    uint64_t x = (*(pb_mapping *const *)a)->id, y = (*(pb_mapping *const *)b)->id;
    return x < y ? -1 : x > y;
}

/* The index in sorted[0..n) (sorted by id with cmp) of the one with id, or
 * SIZE_MAX. */
#define FIND_BY_ID(type, sorted, n, want)                                 \
    ({                                                                    \
        size_t lo_ = 0, hi_ = (n), at_ = SIZE_MAX;                        \
        while (lo_ < hi_) {                                               \
            size_t mid_ = lo_ + (hi_ - lo_) / 2;                          \
            uint64_t id_ = ((type *)(sorted)[mid_])->id;                  \
            if (id_ == (want)) {                                          \
                at_ = mid_;                                               \
                break;                                                    \
            }                                                             \
            if (id_ < (want))                                             \
                lo_ = mid_ + 1;                                           \
            else                                                          \
                hi_ = mid_;                                               \
        }                                                                 \
        at_;                                                              \
    })

/* Which sample value is the weight (the default type, else the last) and
 * which the count (the first other one in "count" units; -1: none). */
static void pick_values(const pb_profile *pb, size_t *weight, long *count)
{
    *weight = pb->n_sample_type - 1;
    const char *def = pb->default_sample_type ? str(pb, pb->default_sample_type) : NULL;
    for (size_t i = 0; def && i < pb->n_sample_type; i++) {
        const char *t = str(pb, pb->sample_type[i]->type);
        if (t && strcmp(t, def) == 0)
            *weight = i;
    }
    *count = -1;
    for (size_t i = 0; i < pb->n_sample_type && *count < 0; i++) {
        const char *u = str(pb, pb->sample_type[i]->unit);
        if (i != *weight && u && strcmp(u, "count") == 0)
            *count = (long)i;
    }
}

static bool valid_pprof(const pb_profile *pb)
{
    if (pb->n_string_table == 0 || pb->string_table[0][0] != '\0' || pb->n_sample_type == 0)
        return false;
    for (size_t i = 0; i < pb->n_sample_type; i++)
        if (!str(pb, pb->sample_type[i]->type) || !str(pb, pb->sample_type[i]->unit))
            return false;
    for (size_t i = 0; i < pb->n_sample; i++)
        if (pb->sample[i]->n_value != pb->n_sample_type)
            return false;
    return true;
}

/* A file name, control bytes and all, as printable text in out. */
static void printable(const char *in, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s", in);
    for (char *c = out; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
}

/* The pprof decoder's state while its locations become ours. */
struct rp_pb {
    const pb_profile *pb;
    pb_location **locs;     /* sorted by id */
    pb_function **funcs;    /* sorted by id */
    pb_mapping **maps;      /* sorted by id */
    uint32_t *func_name;    /* demangled name of funcs[i], or RP_NONE */
    uint32_t *loc_index;    /* our location for locs[i], or RP_NONE */
};

/* Our location for pb location locs[i], made on its first use. */
static uint32_t pb_location_index(struct rp_profile *p, struct rp_pb *d, size_t i)
{
    if (d->loc_index[i] != RP_NONE)
        return d->loc_index[i];
    const pb_profile *pb = d->pb;
    const pb_location *loc = d->locs[i];
    size_t first = p->nframes;
    if (loc->n_line == 0) {
        char name[160];
        size_t m = FIND_BY_ID(pb_mapping, d->maps, pb->n_mapping, loc->mapping_id);
        const char *f = m != SIZE_MAX ? str(pb, d->maps[m]->filename) : NULL;
        const char *slash = f ? strrchr(f, '/') : NULL;
        const char *base = slash ? slash + 1 : f;
        int n;
        if (base && *base)
            n = snprintf(name, sizeof name, "0x%" PRIx64 " (%s)", loc->address, base);
        else
            n = snprintf(name, sizeof name, "0x%" PRIx64, loc->address);
        uint32_t id = rp_intern(&p->str, name, n < (int)sizeof name ? (size_t)n : sizeof name - 1);
        if (id == RP_NONE || !rp_add_frame(p, id, 0, 0, loc->address))
            return RP_NONE;
    }
    for (size_t j = 0; j < loc->n_line; j++) {
        size_t fi = FIND_BY_ID(pb_function, d->funcs, pb->n_function, loc->line[j]->function_id);
        uint32_t name, file = 0;
        if (fi == SIZE_MAX || d->func_name[fi] == RP_NONE) {
            const char *fn = fi != SIZE_MAX ? str(pb, d->funcs[fi]->name) : NULL;
            uint32_t raw = rp_intern(&p->str, fn && *fn ? fn : "?", fn && *fn ? strlen(fn) : 1);
            name = raw == RP_NONE ? RP_NONE : rp_demangled_name(p, raw);
            if (fi != SIZE_MAX)
                d->func_name[fi] = name;
        } else {
            name = d->func_name[fi];
        }
        const char *fname = fi != SIZE_MAX ? str(pb, d->funcs[fi]->filename) : NULL;
        if (fname && *fname)
            file = rp_intern(&p->str, fname, strlen(fname));
        if (name == RP_NONE || file == RP_NONE ||
            !rp_add_frame(p, name, file, loc->line[j]->line, loc->address))
            return RP_NONE;
    }
    if (!rp_end_location(p, first))
        return RP_NONE;
    return d->loc_index[i] = (uint32_t)(p->nlocs - 1);
}

/* 0, 1 (not a pprof profile: no message) or 2 (error, with a message). */
int rp_load_pprof(const unsigned char *buf, size_t len, struct rp_profile *p)
{
    struct rp_budget budget = { 0, (size_t)RP_DECODE_FACTOR * len + RP_DECODE_EXTRA, false,
                                false };
    ProtobufCAllocator alloc = { budget_alloc, budget_free, &budget };
    pb_profile *pb = perftools__profiles__profile__unpack(&alloc, len, buf);
    if (!pb) {
        if (budget.oom)
            return rp_oom(p);
        if (!budget.exceeded)
            return 1;
        fprintf(stderr, "syncprof report: %s: decoding it would take more than %zu MiB "
                "(%d times its %zu bytes, and 64 MiB): refused\n", p->path,
                budget.limit >> 20, RP_DECODE_FACTOR, len);
        return 2;
    }
    if (!valid_pprof(pb)) {
        perftools__profiles__profile__free_unpacked(pb, &alloc);
        return 1;
    }
    size_t w;
    long c;
    pick_values(pb, &w, &c);
    printable(str(pb, pb->sample_type[w]->type), p->type, sizeof p->type);
    printable(str(pb, pb->sample_type[w]->unit), p->unit, sizeof p->unit);
    const char *first = str(pb, pb->sample_type[0]->type);
    if (strcmp(p->type, "delay") == 0 && strcmp(first, "contentions") == 0)
        snprintf(p->kind, sizeof p->kind, "contention");
    else
        snprintf(p->kind, sizeof p->kind, "%s", p->type);

    struct rp_pb d = { pb, NULL, NULL, NULL, NULL, NULL };
    d.locs = malloc((pb->n_location + 1) * sizeof *d.locs);
    d.funcs = malloc((pb->n_function + 1) * sizeof *d.funcs);
    d.maps = malloc((pb->n_mapping + 1) * sizeof *d.maps);
    d.func_name = malloc((pb->n_function + 1) * sizeof *d.func_name);
    d.loc_index = malloc((pb->n_location + 1) * sizeof *d.loc_index);
    int r = d.locs && d.funcs && d.maps && d.func_name && d.loc_index ? 0 : rp_oom(p);
    if (r == 0) {
        /* (The arrays are NULL when empty: memcpy must not see them.) */
        if (pb->n_location)
            memcpy(d.locs, pb->location, pb->n_location * sizeof *d.locs);
        if (pb->n_function)
            memcpy(d.funcs, pb->function, pb->n_function * sizeof *d.funcs);
        if (pb->n_mapping)
            memcpy(d.maps, pb->mapping, pb->n_mapping * sizeof *d.maps);
        qsort(d.locs, pb->n_location, sizeof *d.locs, by_location_id);
        qsort(d.funcs, pb->n_function, sizeof *d.funcs, by_function_id);
        qsort(d.maps, pb->n_mapping, sizeof *d.maps, by_mapping_id);
        for (size_t i = 0; i < pb->n_function; i++)
            d.func_name[i] = RP_NONE;
        for (size_t i = 0; i < pb->n_location; i++)
            d.loc_index[i] = RP_NONE;
    }
    for (size_t i = 0; r == 0 && i < pb->n_sample; i++) {
        const Perftools__Profiles__Sample *smp = pb->sample[i];
        struct rp_sample *s = rp_add_sample(p);
        if (!s) {
            r = rp_oom(p);
            break;
        }
        s->weight = smp->value[w];
        s->count = c >= 0 ? smp->value[c] : smp->value[w];
        for (size_t j = 0; j < smp->n_label && r == 0; j++) {
            const char *key = str(pb, smp->label[j]->key), *v = str(pb, smp->label[j]->str);
            if (strcmp(key, "wait") == 0 && *v && (s->wait = rp_intern(&p->str, v, strlen(v))) == 0)
                r = rp_oom(p);
        }
        for (size_t j = 0; j < smp->n_location_id && r == 0; j++) {
            size_t li = FIND_BY_ID(pb_location, d.locs, pb->n_location, smp->location_id[j]);
            uint32_t loc = li == SIZE_MAX ? RP_NONE : pb_location_index(p, &d, li);
            if (li == SIZE_MAX) {
                fprintf(stderr, "syncprof report: %s: sample %zu names location %" PRIu64
                        " that the profile does not have\n", p->path, i, smp->location_id[j]);
                r = 2;
            } else if (loc == RP_NONE || !rp_add_ref(p, s, loc)) {
                r = rp_oom(p);
            }
        }
    }
    free(d.locs);
    free(d.funcs);
    free(d.maps);
    free(d.func_name);
    free(d.loc_index);
    perftools__profiles__profile__free_unpacked(pb, &alloc);
    return r;
}

/* ---- Go's debug=1 text ------------------------------------------------------- */

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A double as an int64, saturated (NaN: 0): the cast of a value out of
 * range is undefined. */
static int64_t saturate(double v)
{
    if (isnan(v))
        return 0;
    if (v >= 0x1p63)
        return INT64_MAX;
    if (v < -0x1p63)
        return INT64_MIN;
    return (int64_t)v;
}

/* A decimal integer at *s (saturated when out of range, as strtoll
 * does); false when there is none. */
static bool parse_int(char **s, long long *v)
{
    char *end;
    errno = 0;
    *v = strtoll(*s, &end, 10);
    if (end == *s)
        return false;
    *s = end;
    return true;
}

/* The hash of a one-frame location's frame, all of it. */
static uint64_t frame_hash(const struct rp_frame *f)
{
    uint64_t h = rp_hash_step(0, (uint64_t)f->name + 1);
    h = rp_hash_step(h, (uint64_t)f->file + 1);
    h = rp_hash_step(h, ((uint64_t)f->line & ((UINT64_C(1) << 60) - 1)) + 1);
    return rp_hash_step(h, (f->addr & ((UINT64_C(1) << 60) - 1)) + (f->addr >> 60) + 1);
}

static uint64_t text_loc_hash_of(const void *ctx, uint32_t id)
{
    const struct rp_profile *p = ctx;
    return frame_hash(&p->frames[p->locs[id].first]);
}

/* The location of the frame just added (the last one): an earlier
 * location with the same frame, which then goes, or a new one. Go's text
 * repeats the same frames in record after record: each is stored once. */
static uint32_t text_location(struct rp_profile *p)
{
    const struct rp_frame *f = &p->frames[p->nframes - 1];
    if (!rp_set_reserve(&p->text_locs, p, text_loc_hash_of))
        return RP_NONE;
    uint64_t h = frame_hash(f);
    size_t pos = rp_set_first(&p->text_locs, h);
    for (; p->text_locs.slot[pos]; pos = (pos + 1) & (p->text_locs.cap - 1)) {
        uint32_t id = p->text_locs.slot[pos] - 1;
        const struct rp_frame *g = &p->frames[p->locs[id].first];
        if (g->name == f->name && g->file == f->file && g->line == f->line && g->addr == f->addr) {
            p->nframes--;
            return id;
        }
    }
    if (!rp_end_location(p, p->nframes - 1))
        return RP_NONE;
    rp_set_put(&p->text_locs, pos, (uint32_t)(p->nlocs - 1));
    return (uint32_t)(p->nlocs - 1);
}

/* "#\t0x4a5b3c\tsync.(*Mutex).Unlock+0x3b\t/usr/lib/go/src/sync/mutex.go:219":
 * one frame, in a location of its own. */
static bool text_frame(struct rp_profile *p, char *line, struct rp_sample *s)
{
    char *fields[4] = { 0 };
    int n = 0;
    for (char *save = NULL, *t = strtok_r(line, "\t", &save); t && n < 4;
         t = strtok_r(NULL, "\t", &save))
        fields[n++] = t;
    if (n < 2)
        return true; /* "#" alone: nothing */
    uint64_t addr = strtoull(fields[1], NULL, 16);
    uint32_t name, file = 0, loc;
    int64_t lineno = 0;
    if (n == 2) {
        char hex[40];
        int k = snprintf(hex, sizeof hex, "0x%" PRIx64, addr);
        name = rp_intern(&p->str, hex, (size_t)k);
    } else {
        char *plus = strstr(fields[2], "+0x");
        for (char *q = plus; q; q = strstr(q + 1, "+0x"))
            plus = q; /* the last one: names may hold "+0x" */
        if (plus)
            *plus = '\0';
        uint32_t raw = rp_intern(&p->str, fields[2], strlen(fields[2]));
        name = raw == RP_NONE ? RP_NONE : rp_demangled_name(p, raw);
        if (n >= 4) {
            char *colon = strrchr(fields[3], ':');
            if (colon) {
                *colon = '\0';
                lineno = strtoll(colon + 1, NULL, 10);
            }
            if (strcmp(fields[3], "?") != 0)
                file = rp_intern(&p->str, fields[3], strlen(fields[3]));
        }
    }
    return name != RP_NONE && file != RP_NONE && rp_add_frame(p, name, file, lineno, addr) &&
           (loc = text_location(p)) != RP_NONE && rp_add_ref(p, s, loc);
}

/* 0, 1 (not Go text) or 2 (error, with a message). Parses text in place. */
int rp_load_text(char *text, struct rp_profile *p)
{
    bool count_only;
    if (starts(text, "--- mutex:") || starts(text, "--- contention:")) {
        count_only = false;
        snprintf(p->kind, sizeof p->kind, "%s", starts(text, "--- mutex:") ? "mutex" : "block");
        snprintf(p->type, sizeof p->type, "delay");
        snprintf(p->unit, sizeof p->unit, "nanoseconds");
    } else if (starts(text, "goroutine profile: total ")) {
        count_only = true;
        snprintf(p->kind, sizeof p->kind, "goroutine");
        snprintf(p->type, sizeof p->type, "goroutine");
        snprintf(p->unit, sizeof p->unit, "count");
    } else {
        return 1;
    }
    double cycles_per_ns = 1;
    struct rp_sample *cur = NULL;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        long long a, b = 0;
        if (starts(line, "cycles/second=")) {
            double cps = strtod(line + 14, NULL);
            if (cps > 0 && isfinite(cps))
                cycles_per_ns = cps / 1e9;
        } else if (line[0] >= '0' && line[0] <= '9' && strstr(line, " @")) {
            char *q = line;
            bool ok = parse_int(&q, &a) && (count_only || parse_int(&q, &b));
            if (!ok) {
                fprintf(stderr, "syncprof report: %s: bad record line \"%.60s\"\n", p->path, line);
                return 2;
            }
            if (!(cur = rp_add_sample(p)))
                return rp_oom(p);
            cur->count = count_only ? a : b;
            cur->weight = count_only ? a : saturate(round((double)a / cycles_per_ns));
        } else if (line[0] == '#' && line[1] == '\t' && cur) {
            if (!text_frame(p, line, cur))
                return rp_oom(p);
        }
    }
    return 0;
}

