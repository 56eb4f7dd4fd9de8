/*
 * lock_identity.h - which lock a sample is about when nobody named it: the
 * birth site of each mutex, rwlock and condition variable, and the "lock"
 * label it becomes.
 *
 * A lock's birth site is the return address of its pthread_*_init call
 * (the init wrappers report it), or, for a statically initialised lock,
 * of the first use the profiler observes (a wait or a sampled hold). Each
 * site counts the locks it created: the first is "file:line function",
 * the N-th "file:line function #N", the same in every run of the program.
 *
 * Recording time knows addresses only (naming one needs libdw, which
 * allocates): a sample carries the label lock_site=<token> (the site's
 * address and ordinal), and the writers turn it into lock=<text> with
 * sp_lock_site_text.
 *
 * Bounded: SP_LOCK_IDS locks and SP_LOCK_SITES sites at once, in static
 * tables under one spinlock (no malloc: safe in the init wrappers and on
 * recording paths, not in a signal handler). A destroyed lock frees its
 * entry; a lock that finds no free entry within SP_LOCK_ID_PROBES slots,
 * or whose site finds none, is counted in sp_lock_ids_dropped and its
 * samples carry no site.
 */
#ifndef SP_LOCK_IDENTITY_H
#define SP_LOCK_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SP_LOCK_IDS 16384
#define SP_LOCK_SITES 2048
#define SP_LOCK_ID_PROBES 64

/* The label key of a site token, and its longest text. */
#define SP_LOCK_SITE_KEY "lock_site"
#define SP_LOCK_TOKEN_MAX 40

struct sp_symbolizer;

/* lock was initialised by the call that returns to site (pthread_*_init). */
void sp_lock_born(const void *lock, uintptr_t site);

/* lock was destroyed: its entry is free again (its site keeps its count). */
void sp_lock_gone(const void *lock);

/*
 * The token of lock's birth site in buf, for a sample; true if it has one.
 * A lock the table does not know is born at use_site when use_site is not
 * 0 (a statically initialised lock's first observed use).
 */
bool sp_lock_token(const void *lock, uintptr_t use_site, char buf[SP_LOCK_TOKEN_MAX]);

/*
 * lock's birth as one word, for a record that may outlive the lock (the
 * tracer's, written out a flush later): its site's index + 1 in the high
 * half, its ordinal in the low half; 0 when lock has no birth site yet.
 * A site is never removed, so the word stays good after lock is destroyed.
 */
uint64_t sp_lock_birth(const void *lock);

/* The token (as sp_lock_token's) of a birth word; false for 0 or a site the
 * table does not hold (a fork's child that started its table afresh). */
bool sp_lock_birth_token(uint64_t birth, char buf[SP_LOCK_TOKEN_MAX]);

/* Locks whose identity could not be kept (table or sites full). */
uint64_t sp_lock_ids_dropped(void);

/* Locks the table holds now. */
size_t sp_lock_ids_count(void);

/*
 * Write time: the text of token ("pool.c:137 POOL_create #3") into out (n
 * bytes, cut), named by s (NULL: the address in hex). Returns false when
 * token is not a site token.
 */
bool sp_lock_site_text(struct sp_symbolizer *s, const char *token, char *out, size_t n);

#endif /* SP_LOCK_IDENTITY_H */
