/*
 * profile_table.c - the stack buckets of the mutex and block profiles.
 *
 * Layout: per profile kind, a fixed hash array of bucket chains and a list
 * of every bucket ever made (for snapshots). A bucket's key (hash, label
 * set, nframes, pcs) never changes after it is published; its count and delay
 * change only under the spinlock of its stripe (hash % SP_STRIPES), and the
 * hash array slots of a stripe are written only under that lock too.
 *
 * Buckets are never freed: a profile only grows, up to max_stacks buckets,
 * and their memory comes from an mmap arena, so adding a sample never calls
 * malloc (the program's allocator may be holding its own lock).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <syncprof/syncprof.h>

#include "export.h"
#include "profile_table.h"
#include "spinlock.h"


#define SP_HASH_SLOTS (1u << 16)
#define SP_STRIPES 64u
#define SP_DEFAULT_MAX_STACKS 16384
#define SP_MAX_MAX_STACKS (1u << 24)
#define SP_ARENA_CHUNK (1u << 20)

struct sp_bucket {
    struct sp_bucket *chain;      /* next in the same hash slot */
    struct sp_bucket *all_next;   /* next in the kind's list of all buckets */
    uint64_t hash;                /* of the stack and the label set */
    const struct sp_label_set *labels; /* interned; NULL: no labels */
    double count;                 /* under the stripe lock */
    int64_t delay_ns;             /* under the stripe lock */
    int nframes;
    uintptr_t pcs[];
};

struct sp_table {
    sp_spinlock stripe[SP_STRIPES];
    struct sp_bucket *slots[SP_HASH_SLOTS];
    struct sp_bucket *_Atomic all;        /* newest first */
    atomic_size_t nbuckets;
    sp_spinlock lost_lock;
    double lost_count;                    /* under lost_lock */
    int64_t lost_delay;                   /* under lost_lock */
    uint64_t lost_samples;                /* under lost_lock */
};

static struct sp_table tables[SP_PROFILE__COUNT];
static atomic_size_t max_stacks = SP_DEFAULT_MAX_STACKS;

static const uintptr_t lost_stack[1] = { SP_PC_LOST };

static const char *const kind_names[] = {
#define SP_KIND_NAME(id, name) name,
    SP_PROFILE_KINDS(SP_KIND_NAME)
#undef SP_KIND_NAME
};

/* ---- The arena: bump allocation from mmap'd chunks --------------------- */

static sp_spinlock arena_lock = SP_SPINLOCK_INIT;
static char *arena_next;   /* under arena_lock */
static size_t arena_left;  /* under arena_lock */

void *sp_profile_arena_alloc(size_t size)
{
    size = (size + 15) & ~(size_t)15;
    void *p = NULL;
    sp_spin_lock(&arena_lock);
    if (arena_left < size) {
        size_t chunk = size > SP_ARENA_CHUNK ? size : SP_ARENA_CHUNK;
        void *m = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m != MAP_FAILED) {
            arena_next = m;
            arena_left = chunk;
        }
    }
    if (arena_left >= size) {
        p = arena_next;
        arena_next += size;
        arena_left -= size;
    }
    sp_spin_unlock(&arena_lock);
    return p;
}

/* ---- Fork ------------------------------------------------------------- */

/*
 * A child of fork has only the forking thread: a table or arena lock that
 * another thread held at the fork would never be released, and the child
 * would hang in its next sample or in writing its profiles at exit. The
 * critical sections are a few stores long, so the child releases them all.
 *
 * A child's profiles are its own: the parent's samples stay the parent's,
 * so that the files of a process tree add up without counting anything
 * twice. The tables are emptied lazily, by the child's first sample, so
 * a program that forks thousands of children that never block (make, a
 * shell, a test runner) pays nothing for it; until then the child reads as
 * empty, and a child that records nothing writes no files at all
 * (sp_profile_inherited_only).
 */
static int inherited;                 /* 1: a child of fork that recorded nothing yet; atomic */
static sp_spinlock forget_lock = SP_SPINLOCK_INIT;

static void release_locks_in_child(void)
{
    for (int k = 0; k < SP_PROFILE__COUNT; k++) {
        for (unsigned i = 0; i < SP_STRIPES; i++)
            sp_spin_unlock(&tables[k].stripe[i]);
        sp_spin_unlock(&tables[k].lost_lock);
    }
    sp_spin_unlock(&arena_lock);
    sp_spin_unlock(&forget_lock);
    __atomic_store_n(&inherited, 1, __ATOMIC_RELEASE);
}

__attribute__((constructor)) static void register_fork_handler(void)
{
    pthread_atfork(NULL, NULL, release_locks_in_child);
}

/* The child's first sample: forgets the parent's buckets (their memory
 * stays in the arena, unreferenced). */
static void forget_inherited(void)
{
    sp_spin_lock(&forget_lock);
    if (__atomic_load_n(&inherited, __ATOMIC_ACQUIRE)) {
        for (int k = 0; k < SP_PROFILE__COUNT; k++) {
            struct sp_table *t = &tables[k];
            for (unsigned i = 0; i < SP_STRIPES; i++)
                sp_spin_lock(&t->stripe[i]);
            memset(t->slots, 0, sizeof t->slots);
            atomic_store(&t->all, NULL);
            atomic_store(&t->nbuckets, 0);
            sp_spin_lock(&t->lost_lock);
            t->lost_count = 0;
            t->lost_delay = 0;
            t->lost_samples = 0;
            sp_spin_unlock(&t->lost_lock);
            for (unsigned i = 0; i < SP_STRIPES; i++)
                sp_spin_unlock(&t->stripe[i]);
        }
        __atomic_store_n(&inherited, 0, __ATOMIC_RELEASE);
    }
    sp_spin_unlock(&forget_lock);
}

bool sp_profile_inherited_only(void)
{
    return __atomic_load_n(&inherited, __ATOMIC_ACQUIRE) != 0;
}

/* ---- Adding samples --------------------------------------------------- */

/* FNV-1a over the frames and the label set's address (sets are interned,
 * so the address is the set), then a final mix so low bits are usable. */
static uint64_t bucket_hash(const uintptr_t *pcs, int n, const struct sp_label_set *labels)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < n; i++) {
        h ^= (uint64_t)pcs[i];
        h *= 0x100000001b3ULL;
    }
    h ^= (uint64_t)(uintptr_t)labels;
    h *= 0x100000001b3ULL;
    return h ^ (h >> 29);
}

static struct sp_bucket *find_locked(struct sp_table *t, uint64_t h, const uintptr_t *pcs, int n,
                                     const struct sp_label_set *labels)
{
    for (struct sp_bucket *b = t->slots[h % SP_HASH_SLOTS]; b; b = b->chain)
        if (b->hash == h && b->labels == labels && b->nframes == n &&
            memcmp(b->pcs, pcs, n * sizeof *pcs) == 0)
            return b;
    return NULL;
}

/* A new bucket, linked in; NULL when the cap is reached or memory is out. */
static struct sp_bucket *create_locked(struct sp_table *t, uint64_t h, const uintptr_t *pcs, int n,
                                       const struct sp_label_set *labels)
{
    if (atomic_fetch_add(&t->nbuckets, 1) >= atomic_load(&max_stacks)) {
        atomic_fetch_sub(&t->nbuckets, 1);
        return NULL;
    }
    struct sp_bucket *b = sp_profile_arena_alloc(sizeof *b + n * sizeof *pcs);
    if (!b) {
        atomic_fetch_sub(&t->nbuckets, 1);
        return NULL;
    }
    b->hash = h;
    b->labels = labels;
    b->nframes = n;
    memcpy(b->pcs, pcs, n * sizeof *pcs);
    b->chain = t->slots[h % SP_HASH_SLOTS];
    t->slots[h % SP_HASH_SLOTS] = b;
    b->all_next = atomic_load(&t->all);
    while (!atomic_compare_exchange_weak(&t->all, &b->all_next, b))
        ;
    return b;
}

static void add_lost(struct sp_table *t, double count, int64_t delay_ns);

void sp_profile_add_lost(enum sp_profile_kind kind, double count, int64_t delay_ns)
{
    if (__builtin_expect(__atomic_load_n(&inherited, __ATOMIC_RELAXED), 0))
        forget_inherited();
    add_lost(&tables[kind], count, delay_ns);
}

static void add_lost(struct sp_table *t, double count, int64_t delay_ns)
{
    sp_spin_lock(&t->lost_lock);
    t->lost_count += count;
    t->lost_delay += delay_ns;
    t->lost_samples++;
    sp_spin_unlock(&t->lost_lock);
}

void sp_profile_add(enum sp_profile_kind kind, const uintptr_t *pcs, int n,
                    const struct sp_label_set *labels, double count, int64_t delay_ns)
{
    if (__builtin_expect(__atomic_load_n(&inherited, __ATOMIC_RELAXED), 0))
        forget_inherited();
    struct sp_table *t = &tables[kind];
    uint64_t h = bucket_hash(pcs, n, labels);
    sp_spinlock *l = &t->stripe[h % SP_STRIPES];

    sp_spin_lock(l);
    struct sp_bucket *b = find_locked(t, h, pcs, n, labels);
    if (!b)
        b = create_locked(t, h, pcs, n, labels);
    if (b) {
        b->count += count;
        b->delay_ns += delay_ns;
    }
    sp_spin_unlock(l);
    if (!b)
        add_lost(t, count, delay_ns);
}

/* ---- Reading ---------------------------------------------------------- */

int sp_profile_snapshot(enum sp_profile_kind kind, struct sp_record **out, size_t *n)
{
    struct sp_table *t = &tables[kind];
    /* The list only grows at its head, and nbuckets is raised before a
     * bucket is linked in, so the count read after the head bounds the walk
     * from that head. */
    struct sp_bucket *head = atomic_load(&t->all);
    size_t cap = atomic_load(&t->nbuckets) + 1;
    struct sp_record *recs = malloc(cap * sizeof *recs);
    *out = NULL;
    *n = 0;
    if (!recs)
        return ENOMEM;
    if (sp_profile_inherited_only()) {
        *out = recs; /* the parent's samples are not this process's */
        return 0;
    }

    size_t k = 0;
    for (struct sp_bucket *b = head; b && k < cap - 1; b = b->all_next) {
        sp_spinlock *l = &t->stripe[b->hash % SP_STRIPES];
        sp_spin_lock(l);
        recs[k] = (struct sp_record){ b->count, b->delay_ns, b->nframes, b->pcs, b->labels };
        sp_spin_unlock(l);
        k++;
    }
    sp_spin_lock(&t->lost_lock);
    if (t->lost_samples > 0)
        recs[k++] = (struct sp_record){ t->lost_count, t->lost_delay, 1, lost_stack, NULL };
    sp_spin_unlock(&t->lost_lock);

    *out = recs;
    *n = k;
    return 0;
}

uint64_t sp_profile_lost_samples(enum sp_profile_kind kind)
{
    struct sp_table *t = &tables[kind];
    if (sp_profile_inherited_only())
        return 0;
    sp_spin_lock(&t->lost_lock);
    uint64_t n = t->lost_samples;
    sp_spin_unlock(&t->lost_lock);
    return n;
}

const char *sp_profile_name(enum sp_profile_kind kind)
{
    return kind_names[kind];
}

int sp_profile_kind_of(const char *name)
{
    for (int k = 0; name && k < SP_PROFILE__COUNT; k++)
        if (strcmp(name, kind_names[k]) == 0)
            return k;
    return -1;
}

size_t sp_profile_max_stacks(void)
{
    return atomic_load(&max_stacks);
}

SP_PUBLIC int syncprof_set_max_stacks(size_t n)
{
    if (n == 0 || n > SP_MAX_MAX_STACKS)
        return EINVAL;
    atomic_store(&max_stacks, n);
    return 0;
}
