/*
 * check.h - CHECK for the plain test programs (tests/check_*.c), which
 * run under ThreadSanitizer where criterion cannot: a condition that does
 * not hold prints one line to stderr, prefixed with the program's
 * CHECK_NAME, and counts a failure; the program exits 1 if any was
 * counted (check_failed). CHECK may be used from any thread.
 *
 * Usage: #define CHECK_NAME "check_something" before including this.
 */
#ifndef SYNCPROF_TESTS_CHECK_H
#define SYNCPROF_TESTS_CHECK_H

#include <stdatomic.h>
#include <stdio.h>

static atomic_int check_failures;

#define CHECK(cond, ...)                                   \
    do {                                                   \
        if (!(cond)) {                                     \
            fprintf(stderr, CHECK_NAME ": " __VA_ARGS__);  \
            fprintf(stderr, "\n");                         \
            atomic_fetch_add(&check_failures, 1);          \
        }                                                  \
    } while (0)

/* How many checks failed so far. */
static inline int check_failed(void)
{
    return atomic_load(&check_failures);
}

#endif
