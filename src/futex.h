/*
 * futex.h - the raw futex calls of the library's own waits (the stack
 * capture's lock and answers, the watchdog's sleep, the channel's
 * sleeps), beside spinlock.h and clock.h. They are not pthread calls on
 * purpose: the library's own waits must never reach the wrappers.
 *
 * All are private futexes (one process). The return values are the
 * system call's: 0, or -1 with errno (EAGAIN when *addr != val at the
 * call, ETIMEDOUT, EINTR).
 */
#ifndef SP_FUTEX_H
#define SP_FUTEX_H

#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Sleeps while *addr == val, at most the relative timeout (NULL: none). */
static inline long sp_futex_wait(void *addr, uint32_t val, const struct timespec *timeout)
{
    return syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, timeout, NULL, 0);
}

/* Sleeps while *addr == val, until the absolute CLOCK_MONOTONIC deadline
 * (NULL: none). */
static inline long sp_futex_wait_until(void *addr, uint32_t val, const struct timespec *deadline)
{
    return syscall(SYS_futex, addr, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, val, deadline, NULL,
                   FUTEX_BITSET_MATCH_ANY);
}

/* Wakes up to n sleepers on addr. */
static inline long sp_futex_wake(void *addr, int n)
{
    return syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

#endif /* SP_FUTEX_H */
