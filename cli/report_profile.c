/*
 * report_profile.c - the building blocks of `syncprof report`'s model
 * (report_profile.h): polynomial hashing with a random base, open-addressing
 * sets of ids, interned strings in an arena, and the frame, location and
 * sample tables a reader fills, C++ names demangled within a budget.
 *
 * Bounds: names and file names are interned once, each location's frames
 * are stored once, demangling stops at a total budget (and names whose
 * demangling could explode stay mangled).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "report_profile.h"

/* ---- Hashing ----------------------------------------------------------------- */

uint64_t rp_base;

uint64_t rp_mod_mul(uint64_t a, uint64_t b)
{
    unsigned __int128 x = (unsigned __int128)a * b;
    uint64_t r = (uint64_t)(x & RP_P) + (uint64_t)(x >> 61);
    r = (r & RP_P) + (r >> 61);
    return r >= RP_P ? r - RP_P : r;
}

uint64_t rp_mod_add(uint64_t a, uint64_t b)
{
    uint64_t r = a + b;
    return r >= RP_P ? r - RP_P : r;
}

/* h(sequence) extended by one more value v (< RP_P). */
uint64_t rp_hash_step(uint64_t h, uint64_t v)
{
    return rp_mod_add(rp_mod_mul(h, rp_base), v);
}

/* rp_base^n: what a hash is multiplied by when n values follow it. */
uint64_t rp_base_pow(uint64_t n)
{
    uint64_t r = 1, b = rp_base;
    for (; n; n >>= 1, b = rp_mod_mul(b, b))
        if (n & 1)
            r = rp_mod_mul(r, b);
    return r;
}

void rp_hash_seed(void)
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
        h = rp_hash_step(h, c + 1);
    }
    return rp_hash_step(h, n + 1);
}

/* ---- Open-addressing sets of ids ---------------------------------------------- */


/* Makes room for one more id; false when out of memory. */
bool rp_set_reserve(struct rp_set *t, const void *ctx, rp_hash_of hash_of)
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
size_t rp_set_first(const struct rp_set *t, uint64_t h)
{
    return h & (t->cap - 1);
}

void rp_set_put(struct rp_set *t, size_t pos, uint32_t id)
{
    t->slot[pos] = id + 1;
    t->n++;
}

/* Grows *v (of *cap elements of size sz) to hold one more than n. */
static bool rp_grow(void *v, size_t *cap, size_t n, size_t sz)
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
uint32_t rp_intern(struct rp_strtab *t, const char *s, size_t n)
{
    char small[256];
    char *clean = n < sizeof small ? small : malloc(n + 1);
    if (!clean)
        return RP_NONE;
    for (size_t i = 0; i < n; i++)
        clean[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    uint64_t h = hash_bytes(clean, n);
    uint32_t id = RP_NONE;
    if (rp_set_reserve(&t->set, t, str_hash_of)) {
        size_t pos = rp_set_first(&t->set, h);
        for (; t->set.slot[pos]; pos = (pos + 1) & (t->set.cap - 1)) {
            const struct rp_str *e = &t->v[t->set.slot[pos] - 1];
            if (e->h == h && e->len == n && memcmp(e->s, clean, n) == 0) {
                id = t->set.slot[pos] - 1;
                break;
            }
        }
        const char *copy;
        if (id == RP_NONE && rp_grow(&t->v, &t->cap, t->n, sizeof *t->v) &&
            (copy = arena_copy(t, clean, n)) != NULL) {
            id = (uint32_t)t->n++;
            t->v[id] = (struct rp_str){ copy, (uint32_t)n, h };
            rp_set_put(&t->set, pos, id);
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

int rp_oom(const struct rp_profile *p)
{
    fprintf(stderr, "syncprof report: %s: out of memory\n", p->path);
    return 2;
}

void rp_free_profile(struct rp_profile *p)
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
uint32_t rp_demangled_name(struct rp_profile *p, uint32_t raw)
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
        id = rp_intern(&p->str, d, dl);
        free(d);
        if (id == RP_NONE)
            return RP_NONE;
    }
    p->demangled[raw] = id;
    return id;
}

/* Appends a frame to the frame table; false when out of memory. */
bool rp_add_frame(struct rp_profile *p, uint32_t name, uint32_t file, int64_t line,
                      uint64_t addr)
{
    if (!rp_grow(&p->frames, &p->capframes, p->nframes, sizeof *p->frames))
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
bool rp_end_location(struct rp_profile *p, size_t first)
{
    if (!rp_grow(&p->locs, &p->caplocs, p->nlocs, sizeof *p->locs))
        return false;
    struct rp_loc *l = &p->locs[p->nlocs];
    l->first = (uint32_t)first;
    l->n = (uint32_t)(p->nframes - first);
    l->h = 0;
    for (size_t i = first; i < p->nframes; i++)
        l->h = rp_hash_step(l->h, name_value(p, p->frames[i].name));
    uint32_t id = (uint32_t)p->nlocs;
    l->sig = id;
    if (!rp_set_reserve(&p->sigs, p, sig_hash_of))
        return false;
    size_t pos = rp_set_first(&p->sigs, l->h);
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
        rp_set_put(&p->sigs, pos, id);
    p->nlocs++;
    return true;
}

struct rp_sample *rp_add_sample(struct rp_profile *p)
{
    if (!rp_grow(&p->s, &p->cap, p->n, sizeof *p->s))
        return NULL;
    struct rp_sample *s = &p->s[p->n++];
    memset(s, 0, sizeof *s);
    s->first = p->nrefs;
    return s;
}

bool rp_add_ref(struct rp_profile *p, struct rp_sample *s, uint32_t loc)
{
    if (!rp_grow(&p->refs, &p->caprefs, p->nrefs, sizeof *p->refs))
        return false;
    p->refs[p->nrefs++] = loc;
    s->nrefs++;
    return true;
}

