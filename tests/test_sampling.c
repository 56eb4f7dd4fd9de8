/*
 * test_sampling.c - the sampling rules of Go's runtime, ported: the block
 * profile's bias correction (TestBlockProfileBias), the mutex fraction's
 * binomial sampling and its scaling at record time
 * (TestMutexProfileRateAdjust).
 */
#include <syncprof/pthread.h>

#include <criterion/criterion.h>
#include <math.h>

#include "profile_reader.h"
#include "profile_table.h"
#include "sampling.h"

/* ---- the decision and the scaling, as functions ---- */

Test(sampling, block_decision_follows_go)
{
    cr_expect(!sp_block_sampled(100, 0, 0), "rate 0 is off");
    cr_expect(!sp_block_sampled(100, -5, 0), "a negative rate is off");
    cr_expect(sp_block_sampled(1, 1, 12345), "rate 1 keeps everything");
    cr_expect(sp_block_sampled(1000, 1000, 999999), "d >= rate is always kept");
    /* d < rate: kept iff rnd % rate <= d. */
    cr_expect(sp_block_sampled(10, 1000, 10));
    cr_expect(!sp_block_sampled(10, 1000, 11));
    cr_expect(sp_block_sampled(10, 1000, 2005)); /* 2005 % 1000 = 5 */
}

Test(sampling, block_scaling_unbiases_short_events)
{
    double count;
    int64_t delay;
    sp_block_scale(100, 1000, &count, &delay);
    cr_expect_float_eq(count, 10.0, 1e-9, "a 1/10-probability event stands for 10");
    cr_expect_eq(delay, 1000, "and for rate ns of blocking");
    sp_block_scale(5000, 1000, &count, &delay);
    cr_expect_float_eq(count, 1.0, 1e-9);
    cr_expect_eq(delay, 5000);
}

/* ---- Go's TestBlockProfileBias ---- */

#define BIAS_RATE 1000000 /* 1 ms */

static __attribute__((noinline)) void short_events(int n)
{
    for (int i = 0; i < n; i++)
        sp_block_event(NULL, "mutex", BIAS_RATE / 10, (void *)syncprof_mutex_lock,
                       (uintptr_t)__builtin_return_address(0));
}

static __attribute__((noinline)) void long_events(int n)
{
    for (int i = 0; i < n; i++)
        sp_block_event(NULL, "mutex", BIAS_RATE, (void *)syncprof_mutex_lock,
                       (uintptr_t)__builtin_return_address(0));
}

/* The block profile's totals so far, straight from the table. */
static void block_totals(double *delay, double *count)
{
    struct sp_record *recs;
    size_t n;
    cr_assert_eq(sp_profile_snapshot(SP_PROFILE_BLOCK, &recs, &n), 0);
    *delay = *count = 0;
    for (size_t i = 0; i < n; i++) {
        *delay += (double)recs[i].delay_ns;
        *count += recs[i].count;
    }
    free(recs);
}

Test(sampling, block_profile_bias)
{
    /* 100,000 events of rate/10 and 10,000 events of rate block for the
     * same total time, so their reported totals must agree within 20%. */
    syncprof_set_block_profile_rate(BIAS_RATE);
    double short_delay, short_count, all_delay, all_count;
    short_events(100000);
    block_totals(&short_delay, &short_count);
    long_events(10000);
    block_totals(&all_delay, &all_count);
    double long_delay = all_delay - short_delay;

    cr_expect(long_delay == 10000.0 * BIAS_RATE, "long events are all kept: %.0f", long_delay);
    cr_expect(fabs(short_delay - long_delay) <= 0.2 * long_delay,
              "short %.0f ns vs long %.0f ns", short_delay, long_delay);
    cr_expect(fabs(short_count - 100000) <= 0.2 * 100000, "short count %.0f", short_count);
}

/* ---- the mutex fraction: one known contention event per round ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* rounds contention events on mu, exactly one unlock that ends a wait each. */
static void contend_rounds(int rounds)
{
    for (int i = 0; i < rounds; i++)
        tp_contend_once(&mu, 0);
}

Test(sampling, fraction_one_counts_every_event)
{
    syncprof_set_mutex_profile_fraction(1);
    contend_rounds(200);
    struct tp_profile p;
    tp_read("mutex", &p);
    cr_expect_eq(tp_total_count(&p), 200, "%s", p.text);
    tp_free(&p);
}

Test(sampling, fraction_two_is_binomial)
{
    /* Each of 400 events is kept with probability 1/2 and counts 2: the
     * kept number is Binomial(400, 1/2), sd 10; allow 4.5 sd. */
    syncprof_set_mutex_profile_fraction(2);
    contend_rounds(400);
    struct tp_profile p;
    tp_read("mutex", &p);
    int64_t count = tp_total_count(&p);
    cr_expect(count % 2 == 0, "every kept event counts 2: %lld", (long long)count);
    cr_expect(count >= 2 * (200 - 45) && count <= 2 * (200 + 45), "count %lld", (long long)count);
    tp_free(&p);
}

Test(sampling, fraction_read_and_previous_value)
{
    cr_expect_eq(syncprof_set_mutex_profile_fraction(-1), 0, "off by default");
    cr_expect_eq(syncprof_set_mutex_profile_fraction(5), 0);
    cr_expect_eq(syncprof_set_mutex_profile_fraction(-1), 5, "negative only reads");
    cr_expect_eq(syncprof_set_mutex_profile_fraction(0), 5);
    syncprof_set_block_profile_rate(-3);
    cr_expect_eq(syncprof_block_profile_rate(), 0);
    syncprof_set_block_profile_rate(777);
    cr_expect_eq(syncprof_block_profile_rate(), 777);
}

Test(sampling, changing_the_fraction_later_keeps_what_was_recorded)
{
    syncprof_set_mutex_profile_fraction(1);
    syncprof_set_block_profile_rate(1);
    contend_rounds(50);
    struct tp_profile before, after;
    tp_read("mutex", &before);
    int64_t count = tp_total_count(&before), delay = tp_total_delay(&before);
    cr_assert(count == 50 && delay > 0, "%s", before.text);

    syncprof_set_mutex_profile_fraction(0);
    contend_rounds(20); /* no longer recorded */
    syncprof_set_mutex_profile_fraction(1000);
    tp_read("mutex", &after);
    cr_expect_eq(tp_total_count(&after), count);
    cr_expect_eq(tp_total_delay(&after), delay);
    tp_free(&before);
    tp_free(&after);
}

Test(sampling, block_rate_off_records_nothing)
{
    syncprof_set_block_profile_rate(0);
    syncprof_set_mutex_profile_fraction(0);
    contend_rounds(20);
    struct tp_profile b, m;
    tp_read("block", &b);
    tp_read("mutex", &m);
    cr_expect_eq(b.n, 0, "%s", b.text);
    cr_expect_eq(m.n, 0, "%s", m.text);
    tp_free(&b);
    tp_free(&m);
}
