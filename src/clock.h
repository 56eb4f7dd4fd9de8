/*
 * clock.h - the one clock every wait is measured on: CLOCK_MONOTONIC, in
 * nanoseconds. Called only on paths that already block.
 */
#ifndef SP_CLOCK_H
#define SP_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t sp_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif /* SP_CLOCK_H */
