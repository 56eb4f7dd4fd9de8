/*
 * chan.h - Go-style channels between threads, with select, observed by
 * syncprof's block profile.
 *
 * A channel carries values of one fixed size (elem_size bytes, copied in and
 * out; 0 makes a signal-only channel like Go's chan struct{}). Capacity 0 is
 * unbuffered: a send completes only once a receiver has the value. The
 * semantics are those of the Go specification, with errors in place of Go's
 * panics:
 *   - values sent on one channel are received in the order the sends
 *     completed (FIFO);
 *   - close wakes every blocked receiver (no value: ok = false, zeroed
 *     output) and every blocked sender (EPIPE); values already buffered are
 *     still received after close, then every receive returns at once with
 *     ok = false;
 *   - a NULL channel inside syncprof_select is never ready (Go's nil
 *     channel); everywhere else a NULL pointer is EINVAL.
 *
 * Errors: the rule of <syncprof/syncprof.h> (0 or a positive errno
 * value), with the exceptions it lists: syncprof_select (an index or a
 * negative errno value), syncprof_chan_make (NULL with errno), and
 * syncprof_chan_len and _cap, which cannot fail.
 *
 * Deadlines are absolute CLOCK_MONOTONIC times (clock_gettime(
 * CLOCK_MONOTONIC, ...) plus the timeout), so changing the wall clock does
 * not move them. A deadline already past makes the call a non-blocking try
 * that reports ETIMEDOUT instead of EAGAIN.
 *
 * Profiling: an operation that has to sleep is recorded in the block profile
 * (rate: syncprof_set_block_profile_rate) with the waiting thread's stack and
 * leaf frame syncprof_chan_send, syncprof_chan_recv, syncprof_chan_timedsend,
 * syncprof_chan_timedrecv or syncprof_select, as Go records
 * runtime.chansend1, runtime.chanrecv1 and runtime.selectgo. An operation
 * that completes without sleeping records nothing. Before sleeping an
 * operation spins for a few microseconds; only the time it then sleeps is
 * recorded (see docs/channels.md). While asleep the thread is listed in the
 * wait table with the reason "chan send", "chan receive" or "select" and the
 * channel (for select: the first non-NULL channel among the cases).
 *
 * Thread safety: every function may be called from any thread at any time,
 * except syncprof_chan_free, which the caller must not race with other
 * calls on the same channel that are not blocked in it. None is
 * async-signal-safe: do not call them from a signal handler.
 */
#ifndef SYNCPROF_CHAN_H
#define SYNCPROF_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A channel; opaque. */
typedef struct syncprof_chan syncprof_chan;

/* The largest element size, as Go's limit of 64 KiB per channel element. */
#define SYNCPROF_CHAN_MAX_ELEM 65536

/*
 * A new channel of values elem_size bytes long (0 allowed, at most
 * SYNCPROF_CHAN_MAX_ELEM) with room for capacity buffered values (0:
 * unbuffered). Returns NULL with errno EINVAL (elem_size too large, or
 * capacity so large that the buffer size overflows or exceeds 2^40 bytes)
 * or ENOMEM.
 */
syncprof_chan *syncprof_chan_make(size_t elem_size, size_t capacity);

/*
 * Frees c. EBUSY, leaving c intact, while some thread is blocked in an
 * operation on c (close it first to wake them); EINVAL for NULL. Other
 * calls on c must not run concurrently or later (as with free()).
 */
int syncprof_chan_free(syncprof_chan *c);

/*
 * Sends the elem_size bytes at elem: blocks until a receiver took the value
 * (unbuffered) or it is in the buffer. 0, or EPIPE if c is closed or gets
 * closed while the sender waits (the value is then not sent); EINVAL if c
 * is NULL, or elem is NULL while elem_size is not 0.
 */
int syncprof_chan_send(syncprof_chan *c, const void *elem);

/*
 * Receives a value into out (elem_size bytes; out may be NULL to drop the
 * value) and sets *ok (ok may be NULL) to true, as Go's v, ok := <-c. Once
 * c is closed and its buffer is empty, returns 0 at once with *ok false and
 * out zeroed. 0, or EINVAL if c is NULL.
 */
int syncprof_chan_recv(syncprof_chan *c, void *out, bool *ok);

/* As syncprof_chan_send, but EAGAIN instead of blocking. */
int syncprof_chan_trysend(syncprof_chan *c, const void *elem);

/* As syncprof_chan_recv, but EAGAIN (out and *ok untouched) when no value
 * is ready and c is not closed. */
int syncprof_chan_tryrecv(syncprof_chan *c, void *out, bool *ok);

/* As syncprof_chan_send, giving up with ETIMEDOUT (value not sent) at the
 * absolute CLOCK_MONOTONIC time deadline. EINVAL also for a NULL deadline
 * or one with tv_nsec outside [0, 1e9). */
int syncprof_chan_timedsend(syncprof_chan *c, const void *elem, const struct timespec *deadline);

/* As syncprof_chan_recv, giving up with ETIMEDOUT (out and *ok untouched)
 * at the absolute CLOCK_MONOTONIC time deadline. EINVAL as timedsend. */
int syncprof_chan_timedrecv(syncprof_chan *c, void *out, bool *ok,
                            const struct timespec *deadline);

/*
 * Closes c: later sends fail with EPIPE, receives drain the buffer and then
 * return ok = false; every blocked receiver and sender is woken. 0, EPIPE if
 * c was already closed, EINVAL if c is NULL.
 */
int syncprof_chan_close(syncprof_chan *c);

/* The number of values buffered in c right now (0 for NULL or unbuffered
 * channels). Cannot fail. */
size_t syncprof_chan_len(syncprof_chan *c);

/* c's capacity (0 for NULL or unbuffered channels). Cannot fail. */
size_t syncprof_chan_cap(syncprof_chan *c);

/* ---- select ------------------------------------------------------------ */

typedef enum {
    SYNCPROF_SELECT_SEND = 1, /* send *elem on chan */
    SYNCPROF_SELECT_RECV = 2  /* receive into elem (NULL: drop the value) */
} syncprof_select_dir;

/*
 * One case of a select. chan NULL: the case is never ready. elem: for a
 * send, the value (elem_size bytes, not NULL unless elem_size is 0); for a
 * receive, where the value goes (may be NULL). ok is written only in the
 * case that proceeds: for a receive, true if a value was received, false if
 * the channel was closed (elem zeroed); for a send, true if the value was
 * sent, false if the channel was closed (Go panics there; nothing was sent).
 */
typedef struct {
    syncprof_chan *chan;
    syncprof_select_dir dir;
    void *elem;
    bool ok;
} syncprof_select_case;

/*
 * Go's select over cases[0..n): waits until at least one case can proceed,
 * performs exactly one, chosen uniformly at random among those ready, and
 * returns its index (>= 0). A send case on a closed channel is ready and
 * proceeds with ok = false.
 *
 * Every failure is a negative errno value, so "r >= 0" tells an index from
 * an error:
 *   -EAGAIN     nonblock is true (Go's default case) and no case was ready;
 *   -ETIMEDOUT  deadline (absolute CLOCK_MONOTONIC, NULL: none) passed
 *               with no case ready;
 *   -EINVAL     cases NULL with n > 0, n > 65536, a bad direction, a send
 *               case with elem NULL on a channel whose elem_size is not 0,
 *               or a deadline with tv_nsec outside [0, 1e9);
 *   -ENOMEM     more than 64 cases and no memory for the bookkeeping.
 * No case proceeds when a negative value is returned.
 *
 * With n == 0, or only NULL channels, no case can ever be ready: the call
 * waits for the deadline (forever without one, as Go's empty select).
 */
int syncprof_select(syncprof_select_case *cases, size_t n, const struct timespec *deadline,
                    bool nonblock);

#ifdef __cplusplus
}
#endif

#endif /* SYNCPROF_CHAN_H */
