/*
 * chan_test.h - what the channel tests (test_chan.c, test_select.c)
 * share: deadlines in the channel API's clock, and threads started and
 * joined under criterion's asserts.
 */
#ifndef TESTS_CHAN_TEST_H
#define TESTS_CHAN_TEST_H

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "profile_reader.h"

#define MS 1000000LL

/* A CLOCK_MONOTONIC deadline ns from now, as the channel API takes. */
static inline struct timespec in_ns(int64_t ns)
{
    return tp_deadline_in(CLOCK_MONOTONIC, ns);
}

static inline pthread_t spawn(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, fn, arg), 0);
    return t;
}

static inline void *join(pthread_t t)
{
    void *r;
    cr_assert_eq(pthread_join(t, &r), 0);
    return r;
}

#endif /* TESTS_CHAN_TEST_H */
