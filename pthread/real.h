/*
 * real.h - how the wrappers name the real pthread and semaphore functions.
 *
 * Linked into a program as libsyncprof, the wrappers call the C library
 * directly: REAL(pthread_mutex_lock) is pthread_mutex_lock. The LD_PRELOAD
 * interposer compiles the same wrappers again with SYNCPROF_PRELOAD
 * defined; there the pthread names are the interposer's own, and REAL(f)
 * is the next definition of f in the process, found with dlsym (see
 * preload_real.h).
 */
#ifndef SP_REAL_H
#define SP_REAL_H

#ifdef SYNCPROF_PRELOAD
#include "preload_real.h"
#else
#define REAL(f) f
#endif

#endif /* SP_REAL_H */
