/*
 * clock.h - the one clock every wait is measured on: CLOCK_MONOTONIC, in
 * nanoseconds. Called only on paths that already block.
 */
#ifndef SP_CLOCK_H
#define SP_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* A deadline the C library accepts: not NULL, nanoseconds in [0, 1e9).
 * The wrappers and the channel check it before trying, as glibc does. */
static inline bool sp_timespec_valid(const struct timespec *t)
{
    return t && t->tv_nsec >= 0 && t->tv_nsec < 1000000000;
}

static inline int64_t sp_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif /* SP_CLOCK_H */
