/*
 * profile_table.h - the buckets of the mutex, block and hold profiles: one record
 * per distinct stack, holding the (scaled) count and delay of its samples.
 *
 * Thread safety: every function may be called from any thread at any time.
 * Adding takes one striped spinlock (never a pthread lock) and never calls
 * malloc: bucket memory comes from an mmap arena, so recording is safe even
 * while the program's allocator holds its own locks.
 *
 * A bucket is keyed by its stack and its label set (labels.h): samples with
 * different labels stay apart. Label sets are interned, so the key holds
 * one pointer, and a sample without labels (NULL) lands in the same bucket
 * as before labels existed: unnamed locks and unlabelled threads never
 * make the profile bigger.
 *
 * Memory is bounded: each profile keeps at most sp_profile_max_stacks()
 * buckets (default 16384). A sample whose stack does not fit is added to one
 * synthetic stack, SP_PC_LOST, shown as the function syncprof_lost_samples,
 * so the totals stay honest; how many were lost is reported too.
 */
#ifndef SP_PROFILE_TABLE_H
#define SP_PROFILE_TABLE_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

/* One list of the profile kinds, so names and enums never drift apart. */
#define SP_PROFILE_KINDS(X) \
    X(SP_PROFILE_MUTEX, "mutex") \
    X(SP_PROFILE_BLOCK, "block") \
    X(SP_PROFILE_HOLD, "hold")

enum sp_profile_kind {
#define SP_KIND_ENUM(id, name) id,
    SP_PROFILE_KINDS(SP_KIND_ENUM)
#undef SP_KIND_ENUM
    SP_PROFILE__COUNT
};

/* The deepest stack kept; deeper stacks are cut at the root end. */
#define SP_MAX_FRAMES 64

/*
 * Stacks are arrays of return addresses, leaf first. Frame i was called
 * from the instruction before pcs[i], so a symbolizer looks up pcs[i] - 1
 * for every frame. The leaf is the wrapper's own entry address + 1, so the
 * same rule names it (syncprof_mutex_lock, ...).
 *
 * SP_PC_LOST is the single frame of the lost-samples stack; it lies in no
 * mapping, and writers name it "syncprof_lost_samples".
 */
#define SP_PC_LOST ((uintptr_t)1)
#define SP_LOST_SAMPLES_NAME "syncprof_lost_samples"

struct sp_label_set;

/* One bucket as a writer sees it. pcs and labels point into storage that
 * never changes nor goes away once created. */
struct sp_record {
    double count;     /* scaled number of events (fractional for block bias) */
    int64_t delay_ns; /* scaled total delay in nanoseconds */
    int nframes;
    const uintptr_t *pcs;
    const struct sp_label_set *labels; /* interned (labels.h); NULL: none */
};

/* Adds count and delay to the bucket of the stack pcs[0..n) with the label
 * set labels (interned, or NULL). */
void sp_profile_add(enum sp_profile_kind kind, const uintptr_t *pcs, int n,
                    const struct sp_label_set *labels, double count, int64_t delay_ns);

/* Adds count and delay to the lost-samples stack: a kept sample that could
 * not be recorded with its own stack. */
void sp_profile_add_lost(enum sp_profile_kind kind, double count, int64_t delay_ns);

/*
 * A copy of the kind's buckets (the lost-samples bucket last, when it is not
 * empty) in a malloc'd array the caller frees. Returns 0, or ENOMEM with
 * *out NULL and *n 0. Concurrent adds may or may not be included; each
 * record is itself consistent.
 */
int sp_profile_snapshot(enum sp_profile_kind kind, struct sp_record **out, size_t *n);

/* True in a child of fork that has recorded no sample of its own: its
 * profiles are empty, and it writes none at exit (the parent's files hold
 * what it inherited). */
bool sp_profile_inherited_only(void);

/* How many samples went to the lost-samples stack so far. */
uint64_t sp_profile_lost_samples(enum sp_profile_kind kind);

/* The kind's name ("mutex", "block"); the kind for a name, or -1. */
const char *sp_profile_name(enum sp_profile_kind kind);
int sp_profile_kind_of(const char *name);

/* The cap on distinct stacks per profile (see syncprof_set_max_stacks). */
size_t sp_profile_max_stacks(void);

/*
 * size bytes of zeroed memory that is never freed, 16-byte aligned, from
 * the mmap arena the buckets live in (also used by labels.c); NULL when
 * mmap fails. Takes a spinlock, never malloc: safe on recording paths.
 */
void *sp_profile_arena_alloc(size_t size);

#endif /* SP_PROFILE_TABLE_H */
