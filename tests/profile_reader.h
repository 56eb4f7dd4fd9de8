/*
 * profile_reader.h - test support: reads a profile back the way a user
 * would, through syncprof_write_profile(name, fd, 1) (Go's text format),
 * and parses it into records, so tests assert on the real output.
 */
#ifndef TESTS_PROFILE_READER_H
#define TESTS_PROFILE_READER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Not inlined, cloned or specialised, so the function's frame and name are
 * in every stack (GCC's noipa; Clang has no such attribute). */
#if defined(__clang__)
#define TEST_NOIPA __attribute__((noinline))
#else
#define TEST_NOIPA __attribute__((noinline, noipa))
#endif

#define TP_MAX_FRAMES 64

struct tp_record {
    int64_t delay_ns;
    int64_t count;
    int nframes;
    char *frames[TP_MAX_FRAMES]; /* function names, leaf first */
};

struct tp_profile {
    char *text;               /* the whole debug=1 output */
    struct tp_record *recs;   /* heaviest first, as written */
    size_t n;
};

/* Writes profile name as text and parses it; aborts the test on failure. */
void tp_read(const char *name, struct tp_profile *p);
void tp_free(struct tp_profile *p);

int64_t tp_total_delay(const struct tp_profile *p);
int64_t tp_total_count(const struct tp_profile *p);

/* Sums over the records whose stack starts with leaf, then caller (caller
 * NULL: any). Returns how many records matched. */
size_t tp_sum(const struct tp_profile *p, const char *leaf, const char *caller,
              int64_t *delay_ns, int64_t *count);

/* Runs a shell command, returns its exit status (or -1) and, when out is not
 * NULL, its standard output in a malloc'd string. */
int tp_run(const char *cmd, char **out);

/* Removes dir and everything in it (a test's temporary directory). */
void tp_remove_dir(const char *dir);

/* Returns once some thread is registered as blocked on object (polls the
 * wait table) and 1 ms more, by which time it sleeps in the real call: a
 * test can then hold a lock for a known time while the waiter really
 * waits. */
void tp_wait_until_blocked(const void *object);

/*
 * One contention event, in lockstep: holds m, starts a thread running
 * tp_take_and_release(m), waits until it is blocked, holds m hold_ns more,
 * releases it and joins. The unlocker's stack is [syncprof_mutex_unlock,
 * tp_contend_once, ...], the waiter's [syncprof_mutex_lock,
 * tp_take_and_release, ...]. Precondition: m is free.
 */
void tp_contend_once(pthread_mutex_t *m, int64_t hold_ns);

/* Thread body: locks and unlocks the mutex arg points to. */
void *tp_take_and_release(void *arg);

/* An absolute deadline ns nanoseconds from now on clock. */
struct timespec tp_deadline_in(clockid_t clock, int64_t ns);

/* Nanoseconds on CLOCK_MONOTONIC; sleeps for ns nanoseconds. */
int64_t tp_now_ns(void);
void tp_sleep_ns(int64_t ns);

#endif
