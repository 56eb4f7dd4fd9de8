/*
 * lock_identity.c - the birth sites of locks (see lock_identity.h): a table
 * of locks (address -> site, ordinal) and a table of sites (return address
 * -> locks created there), both open addressing with linear probing under
 * one spinlock.
 *
 * The lock table's probe chains are at most SP_LOCK_ID_PROBES long, so
 * finding, adding and removing cost a bounded scan however many locks came
 * and went; a removed lock leaves a tombstone that a later lock reuses.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lock_identity.h"
#include "spinlock.h"
#include "symbolize.h"

#define TOMBSTONE ((const void *)1)

struct lock_entry {
    const void *lock; /* NULL: never used; TOMBSTONE: free again */
    uint32_t site;    /* index in sites */
    uint32_t ordinal; /* 1 for the site's first lock */
};

struct site_entry {
    uintptr_t pc;   /* 0: free */
    uint32_t locks; /* locks born here so far */
};

static sp_spinlock ids_lock = SP_SPINLOCK_INIT;
static struct lock_entry ids[SP_LOCK_IDS];      /* under ids_lock */
static struct site_entry sites[SP_LOCK_SITES];  /* under ids_lock */
static size_t ids_used;   /* written under ids_lock, read relaxed */
static uint64_t dropped;  /* idem */

/* A child of fork keeps the birth sites of the locks it inherited, unless
 * another thread was changing the table at the fork: then the child starts
 * it afresh (its locks are named again at their first observed use). */
static void reset_in_child(void)
{
    if (!sp_spin_reset_in_child(&ids_lock))
        return;
    memset(ids, 0, sizeof ids);
    memset(sites, 0, sizeof sites);
    ids_used = 0;
}

__attribute__((constructor)) static void register_fork_handler(void)
{
    pthread_atfork(NULL, NULL, reset_in_child);
}

static size_t hash_index(uintptr_t key, size_t size)
{
    uint64_t h = (uint64_t)key * 0x9e3779b97f4a7c15ULL;
    return (size_t)(h >> 32) % size;
}

/* The entry of lock, or NULL; *free_slot is the first reusable slot of its
 * chain (or NULL). */
static struct lock_entry *find_locked(const void *lock, struct lock_entry **free_slot)
{
    size_t i = hash_index((uintptr_t)lock, SP_LOCK_IDS);
    *free_slot = NULL;
    for (int n = 0; n < SP_LOCK_ID_PROBES; n++, i = (i + 1) % SP_LOCK_IDS) {
        struct lock_entry *e = &ids[i];
        if (e->lock == lock)
            return e;
        if (!*free_slot && (e->lock == NULL || e->lock == TOMBSTONE))
            *free_slot = e;
        if (e->lock == NULL)
            break;
    }
    return NULL;
}

/* The index of site pc's entry, created if needed; -1 when the table is
 * full. */
static long site_locked(uintptr_t pc)
{
    size_t i = hash_index(pc, SP_LOCK_SITES);
    for (size_t n = 0; n < SP_LOCK_SITES; n++, i = (i + 1) % SP_LOCK_SITES) {
        if (sites[i].pc == pc)
            return (long)i;
        if (sites[i].pc == 0) {
            sites[i].pc = pc;
            return (long)i;
        }
    }
    return -1;
}

static void count_dropped_locked(void)
{
    __atomic_store_n(&dropped, dropped + 1, __ATOMIC_RELAXED);
}

/* Gives lock (with entry e or free slot f) a new birth at site. */
static struct lock_entry *born_locked(const void *lock, struct lock_entry *e,
                                      struct lock_entry *f, uintptr_t site)
{
    long s = site_locked(site);
    if (!e)
        e = f;
    if (!e || s < 0) {
        count_dropped_locked();
        return NULL;
    }
    if (e->lock != lock)
        __atomic_store_n(&ids_used, ids_used + 1, __ATOMIC_RELAXED);
    e->lock = lock;
    e->site = (uint32_t)s;
    e->ordinal = ++sites[s].locks;
    return e;
}

void sp_lock_born(const void *lock, uintptr_t site)
{
    struct lock_entry *f;
    if (!lock || lock == TOMBSTONE)
        return;
    sp_spin_lock(&ids_lock);
    struct lock_entry *e = find_locked(lock, &f);
    born_locked(lock, e, f, site);
    sp_spin_unlock(&ids_lock);
}

void sp_lock_gone(const void *lock)
{
    struct lock_entry *f;
    if (!lock || __atomic_load_n(&ids_used, __ATOMIC_RELAXED) == 0)
        return;
    sp_spin_lock(&ids_lock);
    struct lock_entry *e = find_locked(lock, &f);
    if (e) {
        e->lock = TOMBSTONE;
        __atomic_store_n(&ids_used, ids_used - 1, __ATOMIC_RELAXED);
    }
    sp_spin_unlock(&ids_lock);
}

/* "0x<hex>" then " #<ordinal>" when it is not the site's first lock. */
static void format_token(char buf[SP_LOCK_TOKEN_MAX], uintptr_t pc, uint32_t ordinal)
{
    char tmp[SP_LOCK_TOKEN_MAX];
    int n = 0, k = 0;
    do {
        tmp[n++] = "0123456789abcdef"[pc & 15];
        pc >>= 4;
    } while (pc);
    buf[k++] = '0';
    buf[k++] = 'x';
    while (n)
        buf[k++] = tmp[--n];
    if (ordinal > 1) {
        buf[k++] = ' ';
        buf[k++] = '#';
        do {
            tmp[n++] = (char)('0' + ordinal % 10);
            ordinal /= 10;
        } while (ordinal);
        while (n)
            buf[k++] = tmp[--n];
    }
    buf[k] = '\0';
}

bool sp_lock_token(const void *lock, uintptr_t use_site, char buf[SP_LOCK_TOKEN_MAX])
{
    struct lock_entry *f;
    if (!lock || lock == TOMBSTONE)
        return false;
    if (use_site == 0 && __atomic_load_n(&ids_used, __ATOMIC_RELAXED) == 0)
        return false;
    sp_spin_lock(&ids_lock);
    struct lock_entry *e = find_locked(lock, &f);
    if (!e && use_site != 0)
        e = born_locked(lock, NULL, f, use_site);
    if (e)
        format_token(buf, sites[e->site].pc, e->ordinal);
    sp_spin_unlock(&ids_lock);
    return e != NULL;
}

uint64_t sp_lock_birth(const void *lock)
{
    struct lock_entry *f;
    uint64_t birth = 0;
    if (!lock || lock == TOMBSTONE || __atomic_load_n(&ids_used, __ATOMIC_RELAXED) == 0)
        return 0;
    sp_spin_lock(&ids_lock);
    struct lock_entry *e = find_locked(lock, &f);
    if (e)
        birth = ((uint64_t)e->site + 1) << 32 | e->ordinal;
    sp_spin_unlock(&ids_lock);
    return birth;
}

bool sp_lock_birth_token(uint64_t birth, char buf[SP_LOCK_TOKEN_MAX])
{
    uint64_t site = birth >> 32;
    if (site == 0 || site > SP_LOCK_SITES)
        return false;
    sp_spin_lock(&ids_lock);
    uintptr_t pc = sites[site - 1].pc;
    sp_spin_unlock(&ids_lock);
    if (pc == 0)
        return false;
    format_token(buf, pc, (uint32_t)birth);
    return true;
}

uint64_t sp_lock_ids_dropped(void)
{
    return __atomic_load_n(&dropped, __ATOMIC_RELAXED);
}

size_t sp_lock_ids_count(void)
{
    return __atomic_load_n(&ids_used, __ATOMIC_RELAXED);
}

/* The C++ runtime's demangler, when the process has one (any C++
 * program does); NULL in a C program, whose names are not mangled. */
extern char *__cxa_demangle(const char *name, char *buf, size_t *len, int *status)
    __attribute__((weak));

/* "file:line function" or "function", then suffix; a C++ function by its
 * demangled name: pprof demangles frames, not labels. */
static void site_text(const struct sp_frame *f, const char *suffix, char *out, size_t n)
{
    char *plain = NULL;
    int status = -1;
    if (__cxa_demangle && strncmp(f->function, "_Z", 2) == 0)
        plain = __cxa_demangle(f->function, NULL, NULL, &status);
    const char *fn = plain && status == 0 ? plain : f->function;
    if (f->file) {
        const char *base = strrchr(f->file, '/');
        snprintf(out, n, "%s:%d %s%s", base ? base + 1 : f->file, f->line, fn, suffix);
    } else {
        snprintf(out, n, "%s%s", fn, suffix);
    }
    free(plain);
}

bool sp_lock_site_text(struct sp_symbolizer *s, const char *token, char *out, size_t n)
{
    char *end;
    if (strncmp(token, "0x", 2) != 0 || n == 0)
        return false;
    uintptr_t pc = (uintptr_t)strtoull(token + 2, &end, 16);
    if (end == token + 2 || (*end != '\0' && strncmp(end, " #", 2) != 0))
        return false;
    const char *suffix = end; /* "" or " #N" */
    struct sp_symbol sym;
    if (!s || sp_symbolize(s, pc, &sym) != 0) {
        snprintf(out, n, "%s", token);
        return true;
    }
    if (!sym.known) {
        /* A stripped binary: the site as its file and offset in it, which
         * `addr2line -e FILE` reads and which, unlike the address, is the
         * same in every run. */
        const struct sp_mapping *m =
            sym.mapping >= 0 ? sp_symbolizer_mapping(s, (size_t)sym.mapping) : NULL;
        const char *base = m && m->path ? strrchr(m->path, '/') : NULL;
        if (m && m->path)
            snprintf(out, n, "%s+%#" PRIx64 "%s", base ? base + 1 : m->path,
                     (uint64_t)(pc - m->start) + m->file_offset, suffix);
        else
            snprintf(out, n, "%s", token);
        return true;
    }
    /* Where the call is: the innermost function not of syncprof's own
     * header (whose init twins are inlined into the caller). */
    int i = 0;
    while (i < sym.nframes - 1 && strncmp(sym.frames[i].function, "syncprof_", 9) == 0)
        i++;
    site_text(&sym.frames[i], suffix, out, n);
    return true;
}
