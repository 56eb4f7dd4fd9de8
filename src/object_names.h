/*
 * object_names.h - the names users give their locks, condition variables
 * and channels with syncprof_set_name, for sample labels ("lock") and
 * thread dumps.
 *
 * A fixed table of SP_MAX_NAMES entries under one spinlock; names longer
 * than SP_NAME_MAX - 1 bytes are cut. Looking up copies the name out, so
 * it needs no allocation and is safe on recording paths (not in a signal
 * handler: the spinlock may be held by the interrupted thread).
 */
#ifndef SP_OBJECT_NAMES_H
#define SP_OBJECT_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define SP_NAME_MAX 64
#define SP_MAX_NAMES 4096

/* Copies object's name into buf (SP_NAME_MAX bytes) and returns true, or
 * returns false when it has none. One relaxed load when no name was ever
 * set. */
bool sp_object_name(const void *object, char buf[SP_NAME_MAX]);

#endif /* SP_OBJECT_NAMES_H */
