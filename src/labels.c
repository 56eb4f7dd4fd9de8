/*
 * labels.c - thread-local label stacks and the table of interned label
 * sets (see labels.h), and the public syncprof_labels_push/pop.
 *
 * The stack: a depth counter in initial-exec TLS, read on every sample,
 * and the labels themselves in ordinary TLS, touched only by a thread that
 * pushed (so a thread without labels never makes its dynamic TLS block
 * exist on the recording path, where allocating it could take locks).
 *
 * The table: SP_SET_SLOTS slots of open addressing (linear probing) over
 * the hash of the normalized set; sets are bump-allocated from the profile
 * table's mmap arena. Everything under set_lock; slots are only ever
 * filled, never emptied, so the table holds at most SP_MAX_LABEL_SETS sets
 * and stays at most half full.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <syncprof/labels.h>

#include "export.h"
#include "labels.h"
#include "lock_identity.h"
#include "object_names.h"
#include "profile_table.h"
#include "spinlock.h"

#define SP_SET_SLOTS (2 * SP_MAX_LABEL_SETS)

_Static_assert(SP_NAME_MAX <= SP_LABEL_MAX, "a lock name fits in a label value");
_Static_assert(SP_LOCK_TOKEN_MAX <= SP_LABEL_MAX, "a lock token fits in a label value");

/* ---- The thread's label stack ----------------------------------------- */

static SP_TLS int depth;                               /* labels pushed */
static __thread struct sp_label stack[SP_LABELS_MAX_DEPTH]; /* [0, depth) */

void sp_label_copy(char dst[SP_LABEL_MAX], const char *s)
{
    size_t n = strnlen(s, SP_LABEL_MAX - 1);
    /* Cutting in the middle of a UTF-8 sequence would leave invalid text:
     * back off over continuation bytes to the start of that character. */
    if (s[n] != '\0')
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    memcpy(dst, s, n);
    memset(dst + n, 0, SP_LABEL_MAX - n); /* zero tail: sets compare with memcmp */
}

SP_PUBLIC int syncprof_labels_push(const char *key, const char *value)
{
    if (!key || !*key || !value)
        return EINVAL;
    if (depth >= SP_LABELS_MAX_DEPTH)
        return ENOSPC;
    sp_label_copy(stack[depth].key, key);
    sp_label_copy(stack[depth].value, value);
    __atomic_store_n(&depth, depth + 1, __ATOMIC_RELAXED);
    return 0;
}

SP_PUBLIC int syncprof_labels_pop(void)
{
    if (depth == 0)
        return EINVAL;
    __atomic_store_n(&depth, depth - 1, __ATOMIC_RELAXED);
    return 0;
}

/* ---- Normalizing a set ------------------------------------------------ */

/* Adds l to out[0..*n), replacing the value of an equal key. */
static void set_put(struct sp_label *out, int *n, const struct sp_label *l)
{
    for (int i = 0; i < *n; i++) {
        if (strcmp(out[i].key, l->key) == 0) {
            sp_label_copy(out[i].value, l->value);
            return;
        }
    }
    sp_label_copy(out[*n].key, l->key);
    sp_label_copy(out[*n].value, l->value);
    (*n)++;
}

/* Insertion sort by key: sets are a handful of labels. */
static void set_sort(struct sp_label *ls, int n)
{
    for (int i = 1; i < n; i++) {
        struct sp_label l = ls[i];
        int j = i;
        for (; j > 0 && strcmp(ls[j - 1].key, l.key) > 0; j--)
            ls[j] = ls[j - 1];
        ls[j] = l;
    }
}

/* ---- The table of interned sets --------------------------------------- */

static sp_spinlock set_lock = SP_SPINLOCK_INIT;
static const struct sp_label_set *set_slots[SP_SET_SLOTS]; /* under set_lock */
static uint64_t set_hashes[SP_SET_SLOTS];                  /* under set_lock */
static size_t set_count;                /* written under set_lock, read relaxed */

/* The set of samples that found the table full; laid out as sp_label_set. */
static const struct {
    int n;
    struct sp_label labels[1];
} overflow_set = { 1, { { SP_LABELS_OVERFLOW_KEY, SP_LABELS_OVERFLOW_VALUE } } };

/* A child of fork keeps the sets it inherited, unless another thread was
 * interning one at the fork: then the child starts the table afresh (the
 * old sets stay in the arena for the samples that point at them). */
static void reset_in_child(void)
{
    if (!sp_spin_reset_in_child(&set_lock))
        return;
    memset(set_slots, 0, sizeof set_slots);
    set_count = 0;
}

__attribute__((constructor)) static void register_fork_handler(void)
{
    pthread_atfork(NULL, NULL, reset_in_child);
}

static uint64_t set_hash(const struct sp_label *ls, int n)
{
    const unsigned char *p = (const unsigned char *)ls;
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a over the zero-padded bytes */
    for (size_t i = 0; i < (size_t)n * sizeof *ls; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h ^ (h >> 31);
}

/* The slot of the set ls[0..n) with hash h: its own, or the empty one
 * where it would go. The table is never more than half full. */
static size_t find_slot_locked(uint64_t h, const struct sp_label *ls, int n)
{
    size_t i = h % SP_SET_SLOTS;
    for (; set_slots[i]; i = (i + 1) % SP_SET_SLOTS)
        if (set_hashes[i] == h && set_slots[i]->n == n &&
            memcmp(set_slots[i]->labels, ls, (size_t)n * sizeof *ls) == 0)
            break;
    return i;
}

/* Interns the normalized (sorted, distinct, zero-padded) set ls[0..n). */
static const struct sp_label_set *intern_normalized(const struct sp_label *ls, int n)
{
    uint64_t h = set_hash(ls, n);
    const struct sp_label_set *s = NULL;
    sp_spin_lock(&set_lock);
    size_t i = find_slot_locked(h, ls, n);
    if (set_slots[i]) {
        s = set_slots[i];
    } else if (set_count < SP_MAX_LABEL_SETS) {
        struct sp_label_set *ns = sp_profile_arena_alloc(sizeof *ns + (size_t)n * sizeof *ls);
        if (ns) {
            ns->n = n;
            memcpy(ns->labels, ls, (size_t)n * sizeof *ls);
            set_slots[i] = ns;
            set_hashes[i] = h;
            __atomic_store_n(&set_count, set_count + 1, __ATOMIC_RELAXED);
            s = ns;
        }
    }
    sp_spin_unlock(&set_lock);
    return s ? s : (const struct sp_label_set *)&overflow_set;
}

const struct sp_label_set *sp_label_set_intern(const struct sp_label *labels, int n)
{
    struct sp_label ls[SP_LABEL_SET_MAX];
    int k = 0;
    if (n <= 0)
        return NULL;
    for (int i = 0; i < n; i++) {
        if (k == SP_LABEL_SET_MAX) /* more distinct keys than a sample has */
            return (const struct sp_label_set *)&overflow_set;
        set_put(ls, &k, &labels[i]);
    }
    set_sort(ls, k);
    return intern_normalized(ls, k);
}

const struct sp_label_set *sp_labels_for_sample(const void *object, const char *wait,
                                                uintptr_t use_site)
{
    struct sp_label ls[SP_LABEL_SET_MAX];
    char name[SP_NAME_MAX];
    /* label-sized, not SP_LOCK_TOKEN_MAX: sp_label_copy may read that far
     * (-O3 checks the bound) */
    char token[SP_LABEL_MAX] = "";
    int n = 0, d = depth;

    for (int i = 0; i < d; i++)
        set_put(ls, &n, &stack[i]);
    if (sp_object_name(object, name)) {
        struct sp_label lock;
        sp_label_copy(lock.key, "lock");
        sp_label_copy(lock.value, name);
        set_put(ls, &n, &lock);
    } else if (sp_lock_token(object, use_site, token)) {
        struct sp_label site;
        sp_label_copy(site.key, SP_LOCK_SITE_KEY);
        sp_label_copy(site.value, token);
        set_put(ls, &n, &site);
    }
    if (wait) {
        struct sp_label kind;
        sp_label_copy(kind.key, "wait");
        sp_label_copy(kind.value, wait);
        set_put(ls, &n, &kind);
    }
    if (n == 0)
        return NULL;
    set_sort(ls, n);
    return intern_normalized(ls, n);
}

size_t sp_label_sets_count(void)
{
    return __atomic_load_n(&set_count, __ATOMIC_RELAXED);
}
