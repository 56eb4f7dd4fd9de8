/*
 * labels.h - the label sets samples carry: the thread-local label stack
 * behind syncprof_labels_push/pop, and the process-wide table that interns
 * each distinct set once, so a profile bucket keys on one pointer.
 *
 * Invariants: an interned set never changes nor goes away (mmap'd memory,
 * never freed), its labels are sorted by key with distinct keys, and two
 * equal sets are the same pointer. NULL is the empty set.
 *
 * Thread safety and cost: the stack is thread-local (no lock). Interning
 * takes one spinlock and allocates from an mmap arena, never malloc, so it
 * is safe on the recording path (not in a signal handler: the spinlock may
 * be held by the interrupted thread). A thread without labels, sampling an
 * unnamed object, pays one thread-local load and one relaxed load.
 */
#ifndef SP_LABELS_H
#define SP_LABELS_H

#include <stddef.h>
#include <stdint.h>

#define SP_LABELS_MAX_DEPTH 16 /* labels pushed per thread */
#define SP_LABEL_MAX 64        /* bytes of a key or a value, NUL included */
#define SP_MAX_LABEL_SETS 4096 /* distinct sets per process */
/* A sample's set: the pushed labels, the "lock" and the "wait" label. */
#define SP_LABEL_SET_MAX (SP_LABELS_MAX_DEPTH + 2)

/* The label of the samples whose set did not fit in the table. */
#define SP_LABELS_OVERFLOW_KEY "syncprof"
#define SP_LABELS_OVERFLOW_VALUE "too_many_label_sets"

struct sp_label {
    char key[SP_LABEL_MAX];   /* never empty */
    char value[SP_LABEL_MAX];
};

struct sp_label_set {
    int n;                    /* >= 1 */
    struct sp_label labels[]; /* sorted by key, keys distinct */
};

/*
 * The set a sample taken now by the calling thread on object carries: the
 * thread's labels, lock=<name> when object has a name, else
 * lock_site=<token> when it has a birth site (lock_identity.h; a lock not
 * yet known is born at use_site unless that is 0), and wait=<wait> when
 * wait is not NULL (block samples: the kind of wait). NULL when that set
 * is empty. Cannot fail: when the table is full, the overflow set.
 */
const struct sp_label_set *sp_labels_for_sample(const void *object, const char *wait,
                                                uintptr_t use_site);

/*
 * The interned set of labels[0..n) (any order; for a repeated key the last
 * one wins). NULL when n is 0; the overflow set when the table is full.
 */
const struct sp_label_set *sp_label_set_intern(const struct sp_label *labels, int n);

/* How many distinct sets were interned so far (the overflow set aside). */
size_t sp_label_sets_count(void);

/* Copies s into dst (SP_LABEL_MAX bytes), cut at a UTF-8 boundary. */
void sp_label_copy(char dst[SP_LABEL_MAX], const char *s);

#endif /* SP_LABELS_H */
