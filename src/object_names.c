/*
 * object_names.c - the table behind syncprof_set_name (see object_names.h).
 *
 * Open addressing on the object address with linear probing; a removed
 * name leaves a tombstone (object kept, name empty) so probe chains stay
 * intact, and a later name for any object may reuse it. Everything is
 * under one spinlock: names are set rarely and read only on paths that
 * already blocked.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <syncprof/syncprof.h>

#include "export.h"
#include "object_names.h"
#include "spinlock.h"

struct name_slot {
    const void *object;       /* NULL: never used */
    char name[SP_NAME_MAX];   /* "": no name (a tombstone when object is set) */
};

static sp_spinlock names_lock = SP_SPINLOCK_INIT;
static struct name_slot slots[SP_MAX_NAMES];  /* under names_lock */
static int named;  /* objects with a name; written under names_lock, read relaxed */

/* A child of fork keeps the names it inherited, unless another thread was
 * changing one at the fork: then the child forgets them all rather than
 * read a name half-copied. */
static void reset_in_child(void)
{
    if (!sp_spin_reset_in_child(&names_lock))
        return;
    memset(slots, 0, sizeof slots);
    named = 0;
}

__attribute__((constructor)) static void register_fork_handler(void)
{
    pthread_atfork(NULL, NULL, reset_in_child);
}

static size_t slot_index(const void *object)
{
    uint64_t h = (uint64_t)(uintptr_t)object * 0x9e3779b97f4a7c15ULL;
    return (size_t)(h >> 40) % SP_MAX_NAMES;
}

/* The slot holding object, or NULL; with free set to the first reusable
 * slot on its probe chain (or NULL when the table is full). */
static struct name_slot *find_locked(const void *object, struct name_slot **free)
{
    *free = NULL;
    size_t i = slot_index(object);
    for (size_t n = 0; n < SP_MAX_NAMES; n++, i = (i + 1) % SP_MAX_NAMES) {
        struct name_slot *s = &slots[i];
        if (s->object == object)
            return s;
        if (!*free && s->name[0] == '\0')
            *free = s;
        if (s->object == NULL)
            return NULL;
    }
    return NULL;
}

SP_PUBLIC int syncprof_set_name(const void *object, const char *name)
{
    if (!object)
        return EINVAL;
    int r = 0;
    struct name_slot *free;
    sp_spin_lock(&names_lock);
    struct name_slot *s = find_locked(object, &free);
    bool had = s && s->name[0] != '\0';
    if (!name || !*name) {
        if (had)
            s->name[0] = '\0';
    } else {
        if (!s)
            s = free;
        if (!s) {
            r = ENOSPC;
        } else {
            s->object = object;
            strncpy(s->name, name, SP_NAME_MAX - 1);
            s->name[SP_NAME_MAX - 1] = '\0';
        }
    }
    bool has = s && s->name[0] != '\0';
    __atomic_store_n(&named, named + (int)has - (int)had, __ATOMIC_RELAXED);
    sp_spin_unlock(&names_lock);
    return r;
}

bool sp_object_name(const void *object, char buf[SP_NAME_MAX])
{
    if (__atomic_load_n(&named, __ATOMIC_RELAXED) == 0 || !object)
        return false;
    struct name_slot *free;
    sp_spin_lock(&names_lock);
    struct name_slot *s = find_locked(object, &free);
    bool found = s && s->name[0] != '\0';
    if (found)
        memcpy(buf, s->name, SP_NAME_MAX);
    sp_spin_unlock(&names_lock);
    return found;
}
