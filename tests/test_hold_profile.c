/*
 * test_hold_profile.c - the hold profile (hold_sampling.h) against ground
 * truth.
 *
 * Specification: with syncprof_set_hold_profile_rate(rate) (SYNCPROF_HOLD_RATE,
 * `syncprof run --hold-rate`), the hold profile's total per unlocking
 * function is an unbiased estimate of the time its locks were held: on
 * tests/preload_progs/hold_truth.c, which times its own critical sections
 * (1 us to 10 ms), within 10% of the program's own total at rate 1 (where
 * every hold is counted: the counts are exact) and within 20% at the
 * default rate, both ways (header and `syncprof run`). As Go's
 * TestBlockProfileBias for waits: many short holds and a few long ones of
 * the same total time weigh the same. The profile reads with go tool pprof
 * (pprof and debug=1 text).
 */
#include <syncprof/pthread.h>

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hold_sampling.h"
#include "pprof_raw.h"
#include "profile_table.h"
#include "preload_support.h"

static const char *const functions[] = { "hold_1us", "hold_30us", "hold_1ms", "hold_10ms" };

struct truth {
    long long count[4], total[4];
};

/* Runs hold_truth one way at rate; its own measurements in *t and the
 * profile as go tool pprof -raw reads it in *p. */
static void run_truth(bool header, long rate, struct truth *t, struct pr_profile *p)
{
    char dir[64], path[4096], *out;
    ps_tmpdir(dir);
    int st;
    if (header)
        st = ps_sh(&out, "SYNCPROF_OUT=%s SYNCPROF_HOLD_RATE=%ld timeout 120 %s/hold_truth_header "
                         "2>/dev/null",
                   dir, rate, SP_PROGS);
    else
        st = ps_sh(&out, "timeout 120 %s run --quiet --hold-rate %ld --out %s -- %s/hold_truth",
                   SP_TOOL, rate, dir, SP_PROGS);
    cr_assert_eq(st, 0, "%s", out);
    for (int i = 0; i < 4; i++) {
        const char *l = strstr(out, functions[i]);
        cr_assert(l && sscanf(l + strlen(functions[i]), " %lld %lld", &t->count[i],
                              &t->total[i]) == 2, "%s", out);
    }
    free(out);
    cr_assert_eq(ps_profiles(dir, "hold", 0, 0, path), 1, "no hold profile in %s", dir);
    st = ps_sh(&out, "%s tool pprof -raw %s 2>&1", GO_EXECUTABLE, path);
    cr_assert_eq(st, 0, "%s", out);
    cr_assert(pr_parse(out, p), "%s", out);
    cr_assert(strstr(out, "holds/count hold/nanoseconds"), "%s", out);
    free(out);
    ps_sh(NULL, "rm -rf %s", dir);
}

static void check_truth(bool header, long rate, double tolerance)
{
    const char *way = header ? "header" : "syncprof run";
    struct truth t;
    struct pr_profile p;
    run_truth(header, rate, &t, &p);
    for (int i = 0; i < 4; i++) {
        long long count, delay;
        cr_expect_eq(pr_sum(&p, functions[i], NULL, &count, &delay), 1, "%s: %s", way,
                     functions[i]);
        double ratio = (double)delay / (double)t.total[i];
        cr_expect(ratio > 1 - tolerance && ratio < 1 + tolerance,
                  "%s rate %ld: %s held %lld ns by its own clock, %lld in the profile (%.3f)", way,
                  rate, functions[i], t.total[i], delay, ratio);
        if (rate == 1)
            cr_expect_eq(count, t.count[i], "%s rate 1: %s: every hold counted", way,
                         functions[i]);
    }
    pr_free(&p);
}

Test(hold_profile, truth_rate_1_compiled_in, .timeout = 120)
{
    check_truth(true, 1, 0.10);
}

Test(hold_profile, truth_rate_1_under_syncprof_run, .timeout = 120)
{
    PS_SKIP_UNDER_ASAN();
    check_truth(false, 1, 0.10);
}

Test(hold_profile, truth_default_rate_compiled_in, .timeout = 120)
{
    check_truth(true, SP_HOLD_RATE_DEFAULT, 0.20);
}

Test(hold_profile, truth_default_rate_under_syncprof_run, .timeout = 120)
{
    PS_SKIP_UNDER_ASAN();
    check_truth(false, SP_HOLD_RATE_DEFAULT, 0.20);
}

/* ---- Bias: many short holds weigh what a few long ones of the same total
 * weigh (Go's TestBlockProfileBias, for holds) -----------------------------
 *
 * The long holds come right after thousands of short ones on the same
 * thread, whose pace made K about 2 (hold_sampling.c): the first long holds
 * after each switch are timed one in K and weigh K, an unbiased estimate
 * whose spread is about sqrt(K - 1) long holds per switch. 40 long holds
 * a round keep that spread near 2% of their total, well inside the 15%
 * this test allows for bias. */

static pthread_mutex_t short_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t long_lock = PTHREAD_MUTEX_INITIALIZER;

static void spin_ns(int64_t d)
{
    int64_t start = tp_now_ns();
    while (tp_now_ns() - start < d)
        ;
}

static TEST_NOIPA int64_t frequent_short(int n, int64_t d)
{
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        pthread_mutex_lock(&short_lock);
        int64_t t0 = tp_now_ns();
        spin_ns(d);
        total += tp_now_ns() - t0;
        pthread_mutex_unlock(&short_lock);
    }
    return total;
}

static TEST_NOIPA int64_t infrequent_long(int n, int64_t d)
{
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        pthread_mutex_lock(&long_lock);
        int64_t t0 = tp_now_ns();
        tp_sleep_ns(d);
        total += tp_now_ns() - t0;
        pthread_mutex_unlock(&long_lock);
    }
    return total;
}

Test(hold_profile, bias_short_and_long_weigh_the_same, .timeout = 120)
{
    const int64_t rate = 20000;
    syncprof_set_hold_profile_rate(rate);
    cr_assert_eq(syncprof_hold_profile_rate(), rate);
    int64_t short_truth = 0, long_truth = 0;
    for (int round = 0; round < 5; round++) { /* interleaved: the same machine for both */
        short_truth += frequent_short(10000, 2000);
        long_truth += infrequent_long(40, 500000);
    }
    syncprof_set_hold_profile_rate(0);

    char dir[64], path[128], *out;
    ps_tmpdir(dir);
    snprintf(path, sizeof path, "%s/hold.pb.gz", dir);
    cr_assert_eq(syncprof_write_profile_file("hold", path, 0), 0);
    cr_assert_eq(ps_sh(&out, "%s tool pprof -raw %s 2>&1", GO_EXECUTABLE, path), 0, "%s", out);
    struct pr_profile p;
    cr_assert(pr_parse(out, &p), "%s", out);
    long long short_delay, long_delay;
    cr_assert_geq(pr_sum(&p, "frequent_short", NULL, NULL, &short_delay), 1);
    cr_assert_geq(pr_sum(&p, "infrequent_long", NULL, NULL, &long_delay), 1);
    double rs = (double)short_delay / (double)short_truth;
    double rl = (double)long_delay / (double)long_truth;
    cr_expect(rs > 0.85 && rs < 1.15, "short holds: %lld ns in the profile, %lld true (%.3f)",
              short_delay, (long long)short_truth, rs);
    cr_expect(rl > 0.85 && rl < 1.15, "long holds: %lld ns in the profile, %lld true (%.3f)",
              long_delay, (long long)long_truth, rl);
    cr_expect(rs / rl > 0.85 && rs / rl < 1.15, "short against long: %.3f", rs / rl);
    long long all_delay;
    pr_sum(&p, NULL, NULL, NULL, &all_delay);
    pr_free(&p);
    free(out);

    /* The debug=1 text reads back, with the same totals. */
    struct tp_profile t;
    tp_read("hold", &t);
    cr_expect(strstr(t.text, "--- contention:") && strstr(t.text, "hold rate="), "%.200s", t.text);
    cr_expect_eq(tp_total_delay(&t), all_delay, "text and pprof totals");
    tp_free(&t);
    ps_sh(NULL, "rm -rf %s", dir);
}

/* Off: no hold is timed, the profile stays empty and the wrappers' flag
 * is clear again. */
Test(hold_profile, off_records_nothing)
{
    syncprof_set_hold_profile_rate(1);
    syncprof_set_hold_profile_rate(0);
    cr_expect_eq(sp_lock_flags() & SP_LOCK_FLAG_HOLD, 0);
    frequent_short(1000, 100);
    struct sp_record *recs;
    size_t n;
    cr_assert_eq(sp_profile_snapshot(SP_PROFILE_HOLD, &recs, &n), 0);
    cr_expect_eq(n, 0);
    free(recs);
}
