/*
 * cli_report.c - `syncprof report FILE`: reads a profile written by syncprof
 * or by Go and prints its heaviest stacks, or folded stacks, with no Go
 * toolchain needed.
 *
 * Input: pprof protobuf, gzip-compressed or not (decoded with the
 * protobuf-c code generated from src/profile.proto, the writer's own), or
 * Go's debug=1 text ("--- mutex:", "--- contention:" with delays in
 * cycles/second units, "goroutine profile: total N"). zlib's gzread reads
 * both compressed and plain files. Anything else is refused with a message
 * naming the file, never a crash: lengths and string-table indexes are
 * checked before use.
 *
 * Model: each sample becomes (count, weight, locations leaf first); each
 * location holds its frames once, innermost function first (a location
 * with inlined functions has one frame per function, as pprof lists them),
 * and a sample only refers to its locations: a location with many inlined
 * lines referenced many times is never copied, so a small file cannot
 * grow into a huge stack table. The weight is the default sample type
 * (delay/nanoseconds for mutex and block profiles; the last sample type
 * when none is marked, as pprof does); the count is the first sample type
 * counted in "count" units. Stacks with the same frame names are merged
 * (table and folded output), so the rows agree with `go tool pprof -traces`
 * grouped by function: samples whose locations have the same names merge
 * through a hash of that sequence; differently inlined stacks that still
 * read the same merge through a hash of their names, checked frame by
 * frame within a budget proportional to the input.
 *
 * Bounds: memory and time are a small constant times the input (at most
 * 1 GiB once decompressed): names and file names are interned once, each
 * location's frames are stored once, functions, locations and mappings are
 * found by binary search, the protobuf decoder's allocations are capped at
 * RP_DECODE_FACTOR times the input, demangling stops at a total budget (and
 * names whose demangling could explode stay mangled), at most
 * RP_MAX_SHOWN_FRAMES frames of one stack are printed, and at most
 * RP_PRINT_FACTOR times the input's bytes in all (a stack then shows fewer
 * frames, with how many more it has). Values and their
 * totals are summed in 128 bits and printed saturated to int64. Every
 * failure prints one line "syncprof report: ..." and exits with status 1.
 *
 * Memory: everything is malloc'd and freed at the end; the tool is
 * short-lived and single-threaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "cli.h"
#include "profile.pb-c.h"
#include "summary_table.h"

#define RP_MAX_INPUT (1u << 30)      /* profiles are far smaller; a sanity bound */
#define RP_MAX_SHOWN_FRAMES 4096     /* frames printed of one stack */
#define RP_PRINT_FACTOR 4            /* frames printed in all: at most this times the input... */
#define RP_PRINT_EXTRA (1u << 18)    /* ...plus this */
#define RP_DECODE_FACTOR 16          /* protobuf-c's memory: at most this times the input... */
#define RP_DECODE_EXTRA (64u << 20)  /* ...plus this */
#define RP_DEMANGLE_MAX_LEN 4096     /* longer names stay mangled */
#define RP_DEMANGLE_MAX_REFS 32      /* names with more back-references stay mangled */
#define RP_TIE_BREAK_BYTES 4096      /* bytes of names compared to order equal rows */
#define RP_NONE UINT32_MAX

/* ---- Hashing ----------------------------------------------------------------- */

/*
 * Polynomial hashes modulo the prime 2^61 - 1 with a base drawn at random
 * for each run: a file cannot be made to collide on purpose (collisions
 * only cost time, since every match is checked), and the hash of two
 * sequences joined is computed from theirs (h(a b) = h(a) B^|b| + h(b)),
 * which lets a stack's hash be made from its locations' without expanding
 * them.
 */
#define RP_P ((UINT64_C(1) << 61) - 1)

static uint64_t rp_base;

static uint64_t mod_mul(uint64_t a, uint64_t b)
{
    unsigned __int128 x = (unsigned __int128)a * b;
    uint64_t r = (uint64_t)(x & RP_P) + (uint64_t)(x >> 61);
    r = (r & RP_P) + (r >> 61);
    return r >= RP_P ? r - RP_P : r;
}

static uint64_t mod_add(uint64_t a, uint64_t b)
{
    uint64_t r = a + b;
    return r >= RP_P ? r - RP_P : r;
}

/* h(sequence) extended by one more value v (< RP_P). */
static uint64_t hash_step(uint64_t h, uint64_t v)
{
    return mod_add(mod_mul(h, rp_base), v);
}

/* rp_base^n: what a hash is multiplied by when n values follow it. */
static uint64_t base_pow(uint64_t n)
{
    uint64_t r = 1, b = rp_base;
    for (; n; n >>= 1, b = mod_mul(b, b))
        if (n & 1)
            r = mod_mul(r, b);
    return r;
}

static void hash_seed(void)
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
        r = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15u ^ (uint64_t)getpid();
    rp_base = (r % (RP_P - (1u << 20))) + (1u << 20);
}

/* A string's hash: 7 bytes at a time (each chunk < 2^56 < P), then its
 * length. */
static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0;
    for (size_t i = 0; i < n; i += 7) {
        uint64_t c = 0;
        size_t k = n - i < 7 ? n - i : 7;
        memcpy(&c, s + i, k);
        h = hash_step(h, c + 1);
    }
    return hash_step(h, n + 1);
}

/* ---- Open-addressing sets of ids ---------------------------------------------- */

/* Ids (< RP_NONE) in a table found by their hash; the caller compares. */
struct rp_set {
    uint32_t *slot; /* id + 1; 0: empty */
    size_t cap;     /* a power of two, or 0 */
    size_t n;
};

typedef uint64_t (*rp_hash_of)(const void *ctx, uint32_t id);

/* Makes room for one more id; false when out of memory. */
static bool set_reserve(struct rp_set *t, const void *ctx, rp_hash_of hash_of)
{
    if ((t->n + 1) * 2 <= t->cap)
        return true;
    size_t cap = t->cap ? t->cap * 2 : 64;
    uint32_t *slot = calloc(cap, sizeof *slot);
    if (!slot)
        return false;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slot[i])
            continue;
        size_t j = hash_of(ctx, t->slot[i] - 1) & (cap - 1);
        while (slot[j])
            j = (j + 1) & (cap - 1);
        slot[j] = t->slot[i];
    }
    free(t->slot);
    t->slot = slot;
    t->cap = cap;
    return true;
}

/* The position to probe first for hash h. */
static size_t set_first(const struct rp_set *t, uint64_t h)
{
    return h & (t->cap - 1);
}

static void set_put(struct rp_set *t, size_t pos, uint32_t id)
{
    t->slot[pos] = id + 1;
    t->n++;
}

/* Grows *v (of *cap elements of size sz) to hold one more than n. */
static bool grow(void *v, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 256;
    void *p = realloc(*(void **)v, c * sz);
    if (!p)
        return false;
    *(void **)v = p;
    *cap = c;
    return true;
}

/* ---- Interned strings ----------------------------------------------------------- */

struct rp_str {
    const char *s; /* NUL-terminated, in the arena */
    uint32_t len;
    uint64_t h;
};

struct rp_strtab {
    struct rp_str *v;
    size_t n, cap;
    struct rp_set set;
    char **blocks;   /* the arena */
    size_t nblocks, capblocks;
    char *free_at;
    size_t left;
};

static uint64_t str_hash_of(const void *ctx, uint32_t id)
{
    return ((const struct rp_strtab *)ctx)->v[id].h;
}

static char *arena_copy(struct rp_strtab *t, const char *s, size_t n)
{
    if (t->left < n + 1) {
        size_t size = n + 1 > 65536 ? n + 1 : 65536;
        if (t->nblocks == t->capblocks) {
            size_t cap = t->capblocks ? t->capblocks * 2 : 16;
            char **b = realloc(t->blocks, cap * sizeof *b);
            if (!b)
                return NULL;
            t->blocks = b;
            t->capblocks = cap;
        }
        if (!(t->free_at = malloc(size)))
            return NULL;
        t->blocks[t->nblocks++] = t->free_at;
        t->left = size;
    }
    char *p = t->free_at;
    memcpy(p, s, n);
    p[n] = '\0';
    t->free_at += n + 1;
    t->left -= n + 1;
    return p;
}

/*
 * The id of s[0..n), added if new; RP_NONE when out of memory. Control
 * bytes become '?': names come from the file, and must neither drive the
 * terminal nor break the one-line-per-stack outputs.
 */
static uint32_t intern(struct rp_strtab *t, const char *s, size_t n)
{
    char small[256];
    char *clean = n < sizeof small ? small : malloc(n + 1);
    if (!clean)
        return RP_NONE;
    for (size_t i = 0; i < n; i++)
        clean[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    uint64_t h = hash_bytes(clean, n);
    uint32_t id = RP_NONE;
    if (set_reserve(&t->set, t, str_hash_of)) {
        size_t pos = set_first(&t->set, h);
        for (; t->set.slot[pos]; pos = (pos + 1) & (t->set.cap - 1)) {
            const struct rp_str *e = &t->v[t->set.slot[pos] - 1];
            if (e->h == h && e->len == n && memcmp(e->s, clean, n) == 0) {
                id = t->set.slot[pos] - 1;
                break;
            }
        }
        const char *copy;
        if (id == RP_NONE && grow(&t->v, &t->cap, t->n, sizeof *t->v) &&
            (copy = arena_copy(t, clean, n)) != NULL) {
            id = (uint32_t)t->n++;
            t->v[id] = (struct rp_str){ copy, (uint32_t)n, h };
            set_put(&t->set, pos, id);
        }
    }
    if (clean != small)
        free(clean);
    return id;
}

static void strtab_free(struct rp_strtab *t)
{
    for (size_t i = 0; i < t->nblocks; i++)
        free(t->blocks[i]);
    free(t->blocks);
    free(t->v);
    free(t->set.slot);
}

/* ---- The profile ---------------------------------------------------------------- */

struct rp_frame {
    uint32_t name;  /* demangled, interned */
    uint32_t file;  /* interned; 0 ("") when unknown */
    int64_t line;
    uint64_t addr;  /* 0 when unknown */
};

/* A location: its frames, innermost first, stored once. */
struct rp_loc {
    uint32_t first; /* in frames (fewer than the input's bytes: < 2^30) */
    uint32_t n;
    uint32_t sig;   /* equal for locations whose frame names are equal */
    uint64_t h;     /* hash of its frame names */
};

struct rp_sample {
    int64_t count, weight;
    size_t first;   /* in refs: its locations, leaf first */
    size_t nrefs;
    uint32_t wait;  /* interned value of its "wait" label; 0 ("") when none */
};

/* A merged stack: its samples' sums, and one of them for its frames. */
struct rp_row {
    int64_t weight, count;
    size_t sample;    /* the first sample merged into it */
    uint64_t nframes;
};

struct rp_profile {
    char type[64];         /* "delay" */
    char unit[64];         /* "nanoseconds" */
    char kind[64];         /* "mutex", "block", "goroutine", or the pprof type */
    const char *path;
    struct rp_strtab str;
    uint32_t *demangled;   /* raw name id -> demangled id (RP_NONE: not yet) */
    size_t ndemangled;
    size_t demangle_budget; /* bytes of demangled names left to make */
    struct rp_frame *frames;
    size_t nframes, capframes;
    struct rp_loc *locs;
    size_t nlocs, caplocs;
    struct rp_set sigs;    /* locations by the names of their frames */
    struct rp_set text_locs; /* Go text: locations by their one frame */
    uint32_t *refs;
    size_t nrefs, caprefs;
    struct rp_sample *s;
    size_t n, cap;
    struct rp_row *rows;
    size_t nrows;
    int64_t total, events;
    size_t print_budget;   /* frames left to print */
};

static int oom(const struct rp_profile *p)
{
    fprintf(stderr, "syncprof report: %s: out of memory\n", p->path);
    return 2;
}

static void free_profile(struct rp_profile *p)
{
    strtab_free(&p->str);
    free(p->demangled);
    free(p->frames);
    free(p->locs);
    free(p->sigs.slot);
    free(p->text_locs.slot);
    free(p->refs);
    free(p->s);
    free(p->rows);
}

/* Whether demangling name could explode: too long, or too many
 * back-references (S_, S<n>_, T_, T<n>_, fp), each of which may repeat
 * everything before it. */
static bool demangle_risky(const char *name, size_t len)
{
    if (len > RP_DEMANGLE_MAX_LEN)
        return true;
    int refs = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if ((name[i] == 'S' || name[i] == 'T')) {
            size_t j = i + 1;
            while (j < len && ((name[j] >= '0' && name[j] <= '9') || (name[j] >= 'A' && name[j] <= 'Z')))
                j++;
            refs += j < len && name[j] == '_';
        } else if (name[i] == 'f' && name[i + 1] == 'p') {
            refs++;
        }
    }
    return refs > RP_DEMANGLE_MAX_REFS;
}

/* The demangled, interned name for raw name id (itself when it is not a
 * C++ name, when demangling it is risky, or once the budget is spent);
 * RP_NONE when out of memory. */
static uint32_t demangled_name(struct rp_profile *p, uint32_t raw)
{
    if (raw >= p->ndemangled) {
        size_t n = p->str.cap > raw ? p->str.cap : (size_t)raw + 1;
        uint32_t *d = realloc(p->demangled, n * sizeof *d);
        if (!d)
            return RP_NONE;
        for (size_t i = p->ndemangled; i < n; i++)
            d[i] = RP_NONE;
        p->demangled = d;
        p->ndemangled = n;
    }
    if (p->demangled[raw] != RP_NONE)
        return p->demangled[raw];
    const struct rp_str *r = &p->str.v[raw];
    uint32_t id = raw;
    if (r->s[0] == '_' && r->s[1] == 'Z' && p->demangle_budget > 0 &&
        !demangle_risky(r->s, r->len)) {
        char *d = sp_demangle(r->s);
        if (!d)
            return RP_NONE;
        size_t dl = strlen(d);
        p->demangle_budget = dl < p->demangle_budget ? p->demangle_budget - dl : 0;
        id = intern(&p->str, d, dl);
        free(d);
        if (id == RP_NONE)
            return RP_NONE;
    }
    p->demangled[raw] = id;
    return id;
}

/* Appends a frame to the frame table; false when out of memory. */
static bool add_frame(struct rp_profile *p, uint32_t name, uint32_t file, int64_t line,
                      uint64_t addr)
{
    if (!grow(&p->frames, &p->capframes, p->nframes, sizeof *p->frames))
        return false;
    p->frames[p->nframes++] = (struct rp_frame){ name, file, line, addr };
    return true;
}

static uint64_t sig_hash_of(const void *ctx, uint32_t id)
{
    return ((const struct rp_profile *)ctx)->locs[id].h;
}

static uint64_t name_value(const struct rp_profile *p, uint32_t name)
{
    return p->str.v[name].h + 1; /* < RP_P */
}

/* Ends a location whose frames are frames[first..nframes): its hash, its
 * signature (the first location with the same names). */
static bool end_location(struct rp_profile *p, size_t first)
{
    if (!grow(&p->locs, &p->caplocs, p->nlocs, sizeof *p->locs))
        return false;
    struct rp_loc *l = &p->locs[p->nlocs];
    l->first = (uint32_t)first;
    l->n = (uint32_t)(p->nframes - first);
    l->h = 0;
    for (size_t i = first; i < p->nframes; i++)
        l->h = hash_step(l->h, name_value(p, p->frames[i].name));
    uint32_t id = (uint32_t)p->nlocs;
    l->sig = id;
    if (!set_reserve(&p->sigs, p, sig_hash_of))
        return false;
    size_t pos = set_first(&p->sigs, l->h);
    for (; p->sigs.slot[pos]; pos = (pos + 1) & (p->sigs.cap - 1)) {
        const struct rp_loc *o = &p->locs[p->sigs.slot[pos] - 1];
        if (o->h != l->h || o->n != l->n)
            continue;
        uint32_t k = 0;
        while (k < l->n && p->frames[o->first + k].name == p->frames[first + k].name)
            k++;
        if (k == l->n) {
            l->sig = o->sig;
            break;
        }
    }
    if (l->sig == id)
        set_put(&p->sigs, pos, id);
    p->nlocs++;
    return true;
}

static struct rp_sample *add_sample(struct rp_profile *p)
{
    if (!grow(&p->s, &p->cap, p->n, sizeof *p->s))
        return NULL;
    struct rp_sample *s = &p->s[p->n++];
    memset(s, 0, sizeof *s);
    s->first = p->nrefs;
    return s;
}

static bool add_ref(struct rp_profile *p, struct rp_sample *s, uint32_t loc)
{
    if (!grow(&p->refs, &p->caprefs, p->nrefs, sizeof *p->refs))
        return false;
    p->refs[p->nrefs++] = loc;
    s->nrefs++;
    return true;
}

/* ---- Reading the file ------------------------------------------------------- */

/* The whole file, gunzipped if it was compressed, with a NUL after it.
 * NULL with a message. */
static unsigned char *read_file(const char *path, size_t *len)
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
        uint32_t id = intern(&p->str, name, n < (int)sizeof name ? (size_t)n : sizeof name - 1);
        if (id == RP_NONE || !add_frame(p, id, 0, 0, loc->address))
            return RP_NONE;
    }
    for (size_t j = 0; j < loc->n_line; j++) {
        size_t fi = FIND_BY_ID(pb_function, d->funcs, pb->n_function, loc->line[j]->function_id);
        uint32_t name, file = 0;
        if (fi == SIZE_MAX || d->func_name[fi] == RP_NONE) {
            const char *fn = fi != SIZE_MAX ? str(pb, d->funcs[fi]->name) : NULL;
            uint32_t raw = intern(&p->str, fn && *fn ? fn : "?", fn && *fn ? strlen(fn) : 1);
            name = raw == RP_NONE ? RP_NONE : demangled_name(p, raw);
            if (fi != SIZE_MAX)
                d->func_name[fi] = name;
        } else {
            name = d->func_name[fi];
        }
        const char *fname = fi != SIZE_MAX ? str(pb, d->funcs[fi]->filename) : NULL;
        if (fname && *fname)
            file = intern(&p->str, fname, strlen(fname));
        if (name == RP_NONE || file == RP_NONE ||
            !add_frame(p, name, file, loc->line[j]->line, loc->address))
            return RP_NONE;
    }
    if (!end_location(p, first))
        return RP_NONE;
    return d->loc_index[i] = (uint32_t)(p->nlocs - 1);
}

/* 0, 1 (not a pprof profile: no message) or 2 (error, with a message). */
static int load_pprof(const unsigned char *buf, size_t len, struct rp_profile *p)
{
    struct rp_budget budget = { 0, (size_t)RP_DECODE_FACTOR * len + RP_DECODE_EXTRA, false,
                                false };
    ProtobufCAllocator alloc = { budget_alloc, budget_free, &budget };
    pb_profile *pb = perftools__profiles__profile__unpack(&alloc, len, buf);
    if (!pb) {
        if (budget.oom)
            return oom(p);
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
    int r = d.locs && d.funcs && d.maps && d.func_name && d.loc_index ? 0 : oom(p);
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
        struct rp_sample *s = add_sample(p);
        if (!s) {
            r = oom(p);
            break;
        }
        s->weight = smp->value[w];
        s->count = c >= 0 ? smp->value[c] : smp->value[w];
        for (size_t j = 0; j < smp->n_label && r == 0; j++) {
            const char *key = str(pb, smp->label[j]->key), *v = str(pb, smp->label[j]->str);
            if (strcmp(key, "wait") == 0 && *v && (s->wait = intern(&p->str, v, strlen(v))) == 0)
                r = oom(p);
        }
        for (size_t j = 0; j < smp->n_location_id && r == 0; j++) {
            size_t li = FIND_BY_ID(pb_location, d.locs, pb->n_location, smp->location_id[j]);
            uint32_t loc = li == SIZE_MAX ? RP_NONE : pb_location_index(p, &d, li);
            if (li == SIZE_MAX) {
                fprintf(stderr, "syncprof report: %s: sample %zu names location %" PRIu64
                        " that the profile does not have\n", p->path, i, smp->location_id[j]);
                r = 2;
            } else if (loc == RP_NONE || !add_ref(p, s, loc)) {
                r = oom(p);
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
    uint64_t h = hash_step(0, (uint64_t)f->name + 1);
    h = hash_step(h, (uint64_t)f->file + 1);
    h = hash_step(h, ((uint64_t)f->line & ((UINT64_C(1) << 60) - 1)) + 1);
    return hash_step(h, (f->addr & ((UINT64_C(1) << 60) - 1)) + (f->addr >> 60) + 1);
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
    if (!set_reserve(&p->text_locs, p, text_loc_hash_of))
        return RP_NONE;
    uint64_t h = frame_hash(f);
    size_t pos = set_first(&p->text_locs, h);
    for (; p->text_locs.slot[pos]; pos = (pos + 1) & (p->text_locs.cap - 1)) {
        uint32_t id = p->text_locs.slot[pos] - 1;
        const struct rp_frame *g = &p->frames[p->locs[id].first];
        if (g->name == f->name && g->file == f->file && g->line == f->line && g->addr == f->addr) {
            p->nframes--;
            return id;
        }
    }
    if (!end_location(p, p->nframes - 1))
        return RP_NONE;
    set_put(&p->text_locs, pos, (uint32_t)(p->nlocs - 1));
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
        name = intern(&p->str, hex, (size_t)k);
    } else {
        char *plus = strstr(fields[2], "+0x");
        for (char *q = plus; q; q = strstr(q + 1, "+0x"))
            plus = q; /* the last one: names may hold "+0x" */
        if (plus)
            *plus = '\0';
        uint32_t raw = intern(&p->str, fields[2], strlen(fields[2]));
        name = raw == RP_NONE ? RP_NONE : demangled_name(p, raw);
        if (n >= 4) {
            char *colon = strrchr(fields[3], ':');
            if (colon) {
                *colon = '\0';
                lineno = strtoll(colon + 1, NULL, 10);
            }
            if (strcmp(fields[3], "?") != 0)
                file = intern(&p->str, fields[3], strlen(fields[3]));
        }
    }
    return name != RP_NONE && file != RP_NONE && add_frame(p, name, file, lineno, addr) &&
           (loc = text_location(p)) != RP_NONE && add_ref(p, s, loc);
}

/* 0, 1 (not Go text) or 2 (error, with a message). Parses text in place. */
static int load_text(char *text, struct rp_profile *p)
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
            if (!(cur = add_sample(p)))
                return oom(p);
            cur->count = count_only ? a : b;
            cur->weight = count_only ? a : saturate(round((double)a / cycles_per_ns));
        } else if (line[0] == '#' && line[1] == '\t' && cur) {
            if (!text_frame(p, line, cur))
                return oom(p);
        }
    }
    return 0;
}

/* ---- Merging ------------------------------------------------------------------ */

/* Walks a sample's frames, leaf first. */
struct rp_cursor {
    const struct rp_profile *p;
    size_t ref, end; /* in refs (indexes: refs is NULL when there are none) */
    uint32_t k;
};

static struct rp_cursor cursor(const struct rp_profile *p, const struct rp_sample *s)
{
    return (struct rp_cursor){ p, s->first, s->first + s->nrefs, 0 };
}

static const struct rp_frame *next_frame(struct rp_cursor *c)
{
    while (c->ref < c->end) {
        const struct rp_loc *l = &c->p->locs[c->p->refs[c->ref]];
        if (c->k < l->n)
            return &c->p->frames[l->first + c->k++];
        c->ref++;
        c->k = 0;
    }
    return NULL;
}

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
    struct rp_cursor x = cursor(m->p, a), y = cursor(m->p, b);
    for (;;) {
        if (m->walk_budget == 0)
            return false;
        m->walk_budget--;
        const struct rp_frame *f = next_frame(&x), *g = next_frame(&y);
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
static bool merge(struct rp_profile *p, bool by_name, size_t input_len)
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
            hs = hash_step(hs, (uint64_t)l->sig + 1);
            hn = mod_add(mod_mul(hn, l->n == 1 ? rp_base : base_pow(l->n)), l->h);
        }
        m.sig_h[i] = hash_step(hs, s->nrefs + 1);
        m.nframes[i] = sample_frames(p, s);
        m.name_h[i] = hash_step(hn, m.nframes[i] % RP_P + 1);
        total += s->weight;
        events += s->count;

        uint32_t row = RP_NONE;
        size_t pos = 0;
        bool new_sigs = false;
        if (by_name) {
            if (!(ok = set_reserve(&m.by_sigs, &m, by_sigs_hash)))
                break;
            for (pos = set_first(&m.by_sigs, m.sig_h[i]); m.by_sigs.slot[pos];
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
            if (!(ok = set_reserve(&m.by_names, &m, by_names_hash)))
                break;
            for (np = set_first(&m.by_names, m.name_h[i]); m.by_names.slot[np];
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
            set_put(&m.by_sigs, pos, (uint32_t)i);
        if (new_names)
            set_put(&m.by_names, np, (uint32_t)i);
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
    struct rp_cursor x = cursor(p, &p->s[a->sample]), y = cursor(p, &p->s[b->sample]);
    const struct rp_frame *f = next_frame(&x), *g = next_frame(&y);
    const char *s = f ? p->str.v[f->name].s : "", *t = g ? p->str.v[g->name].s : "";
    for (size_t budget = RP_TIE_BREAK_BYTES; budget > 0; budget--) {
        /* The next byte of each joined string: a name's, ';' between
         * names, '\0' at the end. */
        unsigned char u = *s ? (unsigned char)*s : f && (f = next_frame(&x)) ? ';' : 0;
        unsigned char v = *t ? (unsigned char)*t : g && (g = next_frame(&y)) ? ';' : 0;
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

/* ---- Printing ----------------------------------------------------------------- */

static const char *name_of(const struct rp_profile *p, const struct rp_frame *f)
{
    return p->str.v[f->name].s;
}

/* Frames a readable row may pass over per frame it shows: bounds the work
 * on stacks of one repeated frame (hostile input) to a constant times the
 * frames printed. */
#define RP_SKIP_FACTOR 8

/* Up to max frames of row r, leaf first, into out; how many. readable
 * (the table) skips, after the leaf, the C and C++ runtime's lock plumbing
 * (sp_frame_is_lock_plumbing) and a name that repeats the one before it,
 * so the first caller shown is the program's own code; *passed (when not
 * NULL) is then the number of the stack's frames looked at. */
static size_t row_frames(const struct rp_profile *p, const struct rp_row *r,
                         const struct rp_frame **out, size_t max, bool readable, uint64_t *passed)
{
    struct rp_cursor c = cursor(p, &p->s[r->sample]);
    size_t n = 0;
    uint64_t seen = 0, budget = (uint64_t)RP_SKIP_FACTOR * max + 64;
    const struct rp_frame *f;
    while (n < max && seen < budget && (f = next_frame(&c))) {
        seen++;
        if (readable && n > 0 &&
            (f->name == out[n - 1]->name || sp_frame_is_lock_plumbing(name_of(p, f))))
            continue;
        out[n++] = f;
    }
    if (passed)
        *passed = seen;
    return n;
}

/* How many frames of a stack to print: at most RP_MAX_SHOWN_FRAMES, and
 * what is left of the budget for all stacks (frames the input's locations
 * repeat could otherwise print far more than the input holds). */
static size_t frames_to_print(const struct rp_profile *p)
{
    return p->print_budget < RP_MAX_SHOWN_FRAMES ? p->print_budget : RP_MAX_SHOWN_FRAMES;
}

static void print_folded(struct rp_profile *p, const struct rp_frame **buf)
{
    for (size_t i = 0; i < p->nrows; i++) {
        const struct rp_row *r = &p->rows[i];
        if (r->weight <= 0)
            continue;
        size_t n = row_frames(p, r, buf, frames_to_print(p), false, NULL);
        p->print_budget -= n;
        if (r->nframes > n)
            printf("(%" PRIu64 " more frames)%s", r->nframes - n, n ? ";" : "");
        for (size_t j = n; j-- > 0;) {
            fputs(name_of(p, buf[j]), stdout);
            if (j)
                putchar(';');
        }
        if (r->nframes == 0)
            printf("(no frames)");
        printf(" %" PRId64 "\n", r->weight);
    }
}

static bool weight_is_ns(const struct rp_profile *p)
{
    return strcmp(p->unit, "nanoseconds") == 0;
}

static void print_weight(const struct rp_profile *p, int64_t w, char *buf, size_t len)
{
    if (weight_is_ns(p))
        sp_format_duration(w, buf, len);
    else
        snprintf(buf, len, "%" PRId64, w);
}

static void print_full(struct rp_profile *p, size_t top, const struct rp_frame **buf)
{
    size_t shown = 0;
    for (size_t i = 0; i < p->nrows && (top == 0 || shown < top); i++) {
        const struct rp_row *r = &p->rows[i];
        if (r->weight == 0 && r->count == 0)
            continue;
        char w[32];
        print_weight(p, r->weight, w, sizeof w);
        printf("%s %s (%.1f%%), count %" PRId64 "\n", p->type, w,
               p->total > 0 ? 100.0 * (double)r->weight / (double)p->total : 0.0, r->count);
        size_t n = row_frames(p, r, buf, frames_to_print(p), false, NULL);
        p->print_budget -= n;
        for (size_t j = 0; j < n; j++) {
            const struct rp_frame *f = buf[j];
            printf("  0x%-14" PRIx64 " %s", f->addr, name_of(p, f));
            if (f->file)
                printf("  %s:%" PRId64, p->str.v[f->file].s, f->line);
            printf("\n");
        }
        if (r->nframes > n)
            printf("  ... (%" PRIu64 " more frames)\n", r->nframes - n);
        printf("\n");
        shown++;
    }
}

/* Which part of a split table a row belongs to (see print_table). */
enum rp_part { RP_ALL, RP_LOCK_WAITS, RP_EVENT_WAITS, RP_UNLABELLED };

static enum rp_part part_of(const struct rp_profile *p, const struct rp_row *r)
{
    uint32_t w = p->s[r->sample].wait;
    if (w == 0)
        return RP_UNLABELLED;
    return sp_wait_kind_is_lock(p->str.v[w].s) ? RP_LOCK_WAITS : RP_EVENT_WAITS;
}

static bool in_part(const struct rp_profile *p, const struct rp_row *r, enum rp_part part)
{
    return (r->weight != 0 || r->count != 0) && (part == RP_ALL || part_of(p, r) == part);
}

/* The heaviest rows of one part as a table on stdout, with a title line
 * when the table is split (title not NULL). */
static int print_part(struct rp_profile *p, size_t top, int depth, enum rp_part part,
                      const char *title)
{
    size_t rows_n = 0;
    __int128 total = 0, events = 0;
    for (size_t i = 0; i < p->nrows; i++) {
        if (!in_part(p, &p->rows[i], part))
            continue;
        rows_n++;
        total += p->rows[i].weight;
        events += p->rows[i].count;
    }
    int64_t part_total = total > INT64_MAX ? INT64_MAX : total < INT64_MIN ? INT64_MIN
                                                                          : (int64_t)total;
    int64_t part_events = events > INT64_MAX ? INT64_MAX : events < INT64_MIN ? INT64_MIN
                                                                             : (int64_t)events;
    size_t shown = top > 0 && rows_n > top ? top : rows_n;
    int max = depth > 0 && depth < RP_MAX_SHOWN_FRAMES ? depth : RP_MAX_SHOWN_FRAMES;
    /* The table is built whole (sp_table_format): its frames in all stay
     * within the budget, by showing fewer of each stack when need be. */
    if (shown > 0 && (size_t)max > p->print_budget / shown)
        max = p->print_budget / shown > 0 ? (int)(p->print_budget / shown) : 1;
    struct sp_stack_row *rows = calloc(rows_n + 1, sizeof *rows);
    const char **names = calloc(shown * (size_t)max + 1, sizeof *names);
    const struct rp_frame **frames = calloc((size_t)max + 1, sizeof *frames);
    bool ok = rows && names && frames;
    for (size_t i = 0, k = 0; ok && i < p->nrows; i++) {
        const struct rp_row *r = &p->rows[i];
        if (!in_part(p, r, part))
            continue;
        const char **mine = k < shown ? names + k * (size_t)max : NULL;
        uint64_t nframes = r->nframes;
        if (mine) {
            /* the frames shown, then "... (N more)" for those not looked at */
            uint64_t passed;
            size_t n = row_frames(p, r, frames, (size_t)max, true, &passed);
            for (size_t j = 0; j < n; j++)
                mine[j] = name_of(p, frames[j]);
            uint64_t rest = r->nframes > passed ? r->nframes - passed : 0;
            nframes = n < (size_t)max ? n : n + rest; /* the table shows min(max, nframes) */
        }
        rows[k++] = (struct sp_stack_row){ r->weight, r->count,
                                           nframes > INT32_MAX ? INT32_MAX : (int)nframes, mine };
    }
    if (title) {
        char w[32];
        print_weight(p, part_total, w, sizeof w);
        printf("%s: %zu stacks, total %s in %" PRId64 " events\n", title, rows_n, w, part_events);
    }
    struct sp_table_opts o = { .top = top, .depth = max, .oneline = false,
                               .weight_is_ns = weight_is_ns(p), .weight_title = p->type };
    char *table = ok && rows_n > 0 ? sp_table_format(rows, rows_n, part_total, &o) : NULL;
    if (table)
        fputs(table, stdout);
    free(names);
    free(frames);
    free(rows);
    free(table);
    if (ok && (table || rows_n == 0))
        return 0;
    oom(p);
    return 1;
}

/*
 * The table of the heaviest stacks. A block profile whose samples carry
 * the kind of their wait (syncprof's "wait" label) is shown in two parts,
 * lock waits (mutex, rwlock: contention) and event waits (condition,
 * semaphore, join, barrier, channel: often a thread with nothing to do),
 * each with its own heaviest stacks, so that an idle pool cannot hide a
 * contended lock; samples without the label (other tools' profiles) come
 * last.
 */
static int print_table(struct rp_profile *p, size_t top, int depth)
{
    size_t rows_n = 0, labelled = 0, unlabelled = 0;
    for (size_t i = 0; i < p->nrows; i++) {
        if (!in_part(p, &p->rows[i], RP_ALL))
            continue;
        rows_n++;
        if (part_of(p, &p->rows[i]) == RP_UNLABELLED)
            unlabelled++;
        else
            labelled++;
    }
    char w[32];
    print_weight(p, p->total, w, sizeof w);
    printf("File: %s\nType: %s %s (%s); %zu stacks, total %s in %" PRId64 " events\n", p->path,
           p->kind, p->type, p->unit, rows_n, w, p->events);
    if (labelled == 0)
        return print_part(p, top, depth, RP_ALL, NULL);
    int r = print_part(p, top, depth, RP_LOCK_WAITS, "Lock waits (mutex, rwlock)");
    if (r == 0)
        r = print_part(p, top, depth, RP_EVENT_WAITS,
                       "Event waits (condition, semaphore, join, barrier, channel)");
    if (r == 0 && unlabelled > 0)
        r = print_part(p, top, depth, RP_UNLABELLED, "Waits of no known kind");
    return r;
}

/* Drops the samples whose "wait" label is one of the comma-separated
 * kinds (--ignore-wait), before stacks are merged and totals made. */
static void drop_waits(struct rp_profile *p, const char *kinds)
{
    size_t k = 0;
    for (size_t i = 0; i < p->n; i++) {
        const char *w = p->s[i].wait ? p->str.v[p->s[i].wait].s : NULL;
        bool drop = false;
        for (const char *q = kinds; w && *q && !drop;) {
            size_t len = strcspn(q, ",");
            drop = strlen(w) == len && strncmp(q, w, len) == 0;
            q += len + (q[len] == ',');
        }
        if (!drop)
            p->s[k++] = p->s[i];
    }
    p->n = k;
}

/* ---- The command ------------------------------------------------------------- */

int sp_cli_report(int argc, char **argv)
{
    enum { TOP = 1000, DEPTH, FOLDED, TEXT, IGNORE_WAIT };
    static const struct option opts[] = {
        { "top", required_argument, NULL, TOP },
        { "depth", required_argument, NULL, DEPTH },
        { "folded", no_argument, NULL, FOLDED },
        { "text", no_argument, NULL, TEXT },
        { "ignore-wait", required_argument, NULL, IGNORE_WAIT },
        { NULL, 0, NULL, 0 },
    };
    char ignore[1024] = ""; /* --ignore-wait kinds, comma-separated */
    long top = 10, depth = 8;
    bool folded = false, full = false;
    const char *path = NULL;
    char *end;
    int c;

    optind = 1;
    opterr = 0;
    /* Options may come before or after the file ("-": in order, the file
     * comes back as option 1). */
    while ((c = getopt_long(argc, argv, "-:", opts, NULL)) != -1) {
        switch (c) {
        case 1:
            if (path) {
                fprintf(stderr, "syncprof report: one file at a time (got %s and %s)\n", path,
                        optarg);
                return 2;
            }
            path = optarg;
            break;
        case TOP:
        case DEPTH: {
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end || v < 0 || v > 1000000) {
                fprintf(stderr, "syncprof report: %s wants an integer >= 0, not \"%s\"\n",
                        c == TOP ? "--top" : "--depth", optarg);
                return 2;
            }
            *(c == TOP ? &top : &depth) = v;
            break;
        }
        case FOLDED:
            folded = true;
            break;
        case IGNORE_WAIT: {
            size_t used = strlen(ignore);
            if (!*optarg || used + strlen(optarg) + 2 > sizeof ignore) {
                fprintf(stderr, "syncprof report: --ignore-wait wants wait kinds (cond_timed,"
                        "sem,...), not \"%s\"\n", optarg);
                return 2;
            }
            snprintf(ignore + used, sizeof ignore - used, "%s%s", used ? "," : "", optarg);
            break;
        }
        case TEXT:
            full = true;
            break;
        case ':':
            fprintf(stderr, "syncprof report: option %s needs a value\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "syncprof report: unknown option \"%s\" (see syncprof --help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "syncprof report: no profile file given (see syncprof --help)\n");
        return 2;
    }
    if (folded && full) {
        fprintf(stderr, "syncprof report: --folded and --text are exclusive\n");
        return 2;
    }

    size_t len;
    unsigned char *buf = read_file(path, &len);
    if (!buf)
        return 1;
    hash_seed();
    struct rp_profile p = { .path = path };
    p.demangle_budget = 16 * len + (1u << 20);
    p.print_budget = RP_PRINT_FACTOR * len + RP_PRINT_EXTRA;
    int r = 1;
    if (len > 0 && intern(&p.str, "", 0) != 0)
        r = oom(&p); /* id 0: "", the unknown file */
    else if (len > 0)
        /* Text first: a text file is never a valid profile.proto, but
         * checking the header costs nothing. Text is parsed in place, and
         * only once its header matched, so buf is intact for pprof. */
        r = memchr(buf, '\0', len) ? 1 : load_text((char *)buf, &p);
    if (r == 1)
        r = load_pprof(buf, len, &p);
    free(buf);
    if (r == 1)
        fprintf(stderr, "syncprof report: %s is not a profile (expected pprof protobuf, "
                "gzipped or not, or Go's debug=1 text)\n", path);
    if (r == 0 && ignore[0])
        drop_waits(&p, ignore);
    if (r == 0 && !merge(&p, !full, len))
        r = oom(&p);
    const struct rp_frame **frames = r == 0 ? malloc(RP_MAX_SHOWN_FRAMES * sizeof *frames) : NULL;
    if (r == 0 && !frames)
        r = oom(&p);
    if (r != 0) {
        free_profile(&p);
        return 1;
    }
    sorting = &p;
    qsort(p.rows, p.nrows, sizeof *p.rows, by_weight);
    int status = 0;
    if (folded)
        print_folded(&p, frames);
    else if (full)
        print_full(&p, (size_t)top, frames);
    else
        status = print_table(&p, (size_t)top, (int)depth);
    free(frames);
    free_profile(&p);
    if (fflush(stdout) != 0 && errno != EPIPE) {
        fprintf(stderr, "syncprof report: writing the output: %s\n", strerror(errno));
        return 1;
    }
    return status;
}
