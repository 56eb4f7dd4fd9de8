/*
 * report_profile.h - `syncprof report`'s model of a profile, shared by its
 * reader (report_read.c: pprof protobuf and Go's debug=1 text), its
 * merger (report_merge.c), its builder (report_profile.c: hashing,
 * interned strings, frames and locations) and its printers (cli_report.c).
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
 * into rows (table and folded output), so the rows agree with `go tool
 * pprof -traces` grouped by function.
 *
 * Errors: functions returning bool say false when out of memory; ids are
 * RP_NONE then. The int-returning readers say 0, 1 (not this format, no
 * message) or 2 (an error, with its one-line message printed).
 *
 * Memory: everything is malloc'd, and freed by rp_free_profile; the
 * command is short-lived and single-threaded (the hash base and the
 * sort's profile are globals).
 */
#ifndef SP_REPORT_PROFILE_H
#define SP_REPORT_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* ---- Hashing (report_profile.c) ------------------------------------------------ */

/*
 * Polynomial hashes modulo the prime 2^61 - 1 with a base drawn at random
 * for each run: a file cannot be made to collide on purpose (collisions
 * only cost time, since every match is checked), and the hash of two
 * sequences joined is computed from theirs (h(a b) = h(a) B^|b| + h(b)),
 * which lets a stack's hash be made from its locations' without expanding
 * them.
 */
#define RP_P ((UINT64_C(1) << 61) - 1)

extern uint64_t rp_base; /* drawn by rp_hash_seed */

uint64_t rp_mod_mul(uint64_t a, uint64_t b);
uint64_t rp_mod_add(uint64_t a, uint64_t b);
/* h(sequence) extended by one more value v (< RP_P). */
uint64_t rp_hash_step(uint64_t h, uint64_t v);
/* rp_base^n: what a hash is multiplied by when n values follow it. */
uint64_t rp_base_pow(uint64_t n);
/* Draws rp_base: once, before any hash. */
void rp_hash_seed(void);

/* ---- Open-addressing sets of ids (report_profile.c) ---------------------------- */

/* Ids (< RP_NONE) in a table found by their hash; the caller compares. */
struct rp_set {
    uint32_t *slot; /* id + 1; 0: empty */
    size_t cap;     /* a power of two, or 0 */
    size_t n;
};

typedef uint64_t (*rp_hash_of)(const void *ctx, uint32_t id);

/* Makes room for one more id; false when out of memory. */
bool rp_set_reserve(struct rp_set *t, const void *ctx, rp_hash_of hash_of);
/* The position to probe first for hash h. */
size_t rp_set_first(const struct rp_set *t, uint64_t h);
/* Puts id at pos, the empty slot probing stopped at. */
void rp_set_put(struct rp_set *t, size_t pos, uint32_t id);

/* ---- Interned strings (report_profile.c) --------------------------------------- */

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

/*
 * The id of s[0..n), added if new; RP_NONE when out of memory. Control
 * bytes become '?': names come from the file, and must neither drive the
 * terminal nor break the one-line-per-stack outputs.
 */
uint32_t rp_intern(struct rp_strtab *t, const char *s, size_t n);

/* ---- The profile --------------------------------------------------------------- */

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

/* Prints "out of memory" for p's file; returns 2 (the readers' error). */
int rp_oom(const struct rp_profile *p);
void rp_free_profile(struct rp_profile *p);

/* The demangled, interned name for raw name id (itself when it is not a
 * C++ name, when demangling it is risky, or once the budget is spent);
 * RP_NONE when out of memory. */
uint32_t rp_demangled_name(struct rp_profile *p, uint32_t raw);
/* Appends a frame to the frame table; false when out of memory. */
bool rp_add_frame(struct rp_profile *p, uint32_t name, uint32_t file, int64_t line,
                  uint64_t addr);
/* Ends a location whose frames are frames[first..nframes): its hash, its
 * signature (the first location with the same names). */
bool rp_end_location(struct rp_profile *p, size_t first);
/* A new, empty sample at the end; NULL when out of memory. */
struct rp_sample *rp_add_sample(struct rp_profile *p);
/* Appends location loc to sample s, the last one added. */
bool rp_add_ref(struct rp_profile *p, struct rp_sample *s, uint32_t loc);

/* Walks a sample's frames, leaf first. */
struct rp_cursor {
    const struct rp_profile *p;
    size_t ref, end; /* in refs (indexes: refs is NULL when there are none) */
    uint32_t k;
};

static inline struct rp_cursor rp_frames_of(const struct rp_profile *p, const struct rp_sample *s)
{
    return (struct rp_cursor){ p, s->first, s->first + s->nrefs, 0 };
}

static inline const struct rp_frame *rp_next_frame(struct rp_cursor *c)
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

/* ---- Reading (report_read.c) ---------------------------------------------------- */

/* The whole file, gunzipped if it was compressed, with a NUL after it.
 * NULL with a message. */
unsigned char *rp_read_file(const char *path, size_t *len);
/* pprof protobuf in buf[0..len) into p: 0, 1 (not pprof) or 2. */
int rp_load_pprof(const unsigned char *buf, size_t len, struct rp_profile *p);
/* Go's debug=1 text into p, parsed in place: 0, 1 (not Go text) or 2. */
int rp_load_text(char *text, struct rp_profile *p);

/* ---- Merging and ordering (report_merge.c) -------------------------------------- */

/*
 * Makes p's rows: the samples merged by frame names (by_name), or one row
 * per sample; and p's totals. Work is bounded by input_len. False when out
 * of memory.
 */
bool rp_merge_rows(struct rp_profile *p, bool by_name, size_t input_len);
/* Sorts p's rows heaviest first (then by count, then by frame names). */
void rp_sort_rows(struct rp_profile *p);

#endif /* SP_REPORT_PROFILE_H */
