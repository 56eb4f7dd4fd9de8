/*
 * test_lock_table.c - the per-lock table (lock_stats.h): written at exit as
 * locks.<pid>.csv (by lock_ids_header, compiled in), served at /debug/pprof/locks (text, ?format=csv), and
 * read by `syncprof report --by-lock` (--csv).
 *
 * Specification: one row per lock named by its identity; contended
 * acquisitions and waits are every observed wait (not sampled): the
 * longest wait is exact and the 99th percentile within the histogram's
 * resolution (a bucket is 1/4 of a power of two wide: the edge is at most
 * 25% above the value); with the hold profile at rate 1 the hold columns
 * are exact. Heaviest first; --csv gives the same rows as CSV.
 */
#include <syncprof/pthread.h>

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_client.h"
#include "lock_stats.h"
#include "preload_support.h"

/* The histogram's promise: the upper edge of d's bucket is >= d and at
 * most 25% above it. */
Test(lock_table, histogram_resolution)
{
    for (int64_t d = 1; d < ((int64_t)1 << 38); d = d * 5 / 4 + 1) {
        int64_t up = sp_lock_hist_upper(sp_lock_hist_bucket(d));
        cr_assert(up >= d && (double)up <= 1.25 * (double)d + 1, "%lld -> %lld", (long long)d,
                  (long long)up);
    }
}

/* The row of lock (a substring of its identity) in a --by-lock --csv
 * output: its numbers. */
static bool csv_row(const char *csv, const char *lock, double v[9])
{
    const char *l = strstr(csv, lock);
    if (!l)
        return false;
    const char *p = strchr(l, ',');
    for (int k = 0; k < 9; k++) {
        if (!p)
            return false;
        v[k] = strtod(p + 1, (char **)&p);
    }
    return true;
}

Test(lock_table, written_at_exit_and_read_by_report, .timeout = 120)
{
    char dir[64], *out, path[4096];
    ps_tmpdir(dir);
    int st = ps_sh(&out, "SYNCPROF_OUT=%s SYNCPROF_BLOCK_RATE=1 SYNCPROF_HOLD_RATE=1 timeout 120 "
                         "%s/lock_ids_header 2>&1",
                   dir, SP_PROGS);
    cr_assert_eq(st, 0, "%s", out);
    free(out);
    cr_assert_eq(ps_sh(&out, "ls %s/locks.*.csv", dir), 0, "no lock table in %s", dir);
    snprintf(path, sizeof path, "%.*s", (int)strcspn(out, "\n"), out);
    free(out);

    cr_assert_eq(ps_sh(&out, "%s report --by-lock %s", SP_TOOL, path), 0);
    cr_expect(strstr(out, "heaviest first") && strstr(out, "make_lock #2") &&
                  strstr(out, "Account::Account()"), "%s", out);
    free(out);

    cr_assert_eq(ps_sh(&out, "%s report --by-lock --csv %s", SP_TOOL, path), 0);
    cr_expect(strncmp(out, "lock,acquisitions_est,contended,", 32) == 0, "%s", out);
    double v[9];
    cr_assert(csv_row(out, "make_lock #2,", v), "%s", out);
    /* lock_ids.cc holds it 20 ms or more while one thread waits, once. */
    cr_expect_eq(v[1], 1, "contended once");
    cr_expect(v[3] >= 20e6 && v[3] == v[2], "wait max %.0f, total %.0f", v[3], v[2]);
    cr_expect(v[4] <= v[3], "p99 is never above the longest");
    cr_expect(v[5] >= 20e6 && v[0] == 2, "rate 1: holds exact (2), hold total %.0f", v[5]);
    /* Heaviest first: the rows' total waits never grow. */
    double last = 1e300;
    for (char *l = strchr(out, '\n'); l && l[1]; l = strchr(l + 1, '\n')) {
        const char *c = strchr(l + 1, ',');
        c = c ? strchr(c + 1, ',') : NULL;
        c = c ? strchr(c + 1, ',') : NULL;
        if (!c)
            break;
        double w = strtod(c + 1, NULL);
        cr_expect(w <= last, "row order: %.0f after %.0f", w, last);
        last = w;
    }
    free(out);
    ps_sh(NULL, "rm -rf %s", dir);
}

/* ---- Live: /debug/pprof/locks ------------------------------------------ */

static pthread_mutex_t served;
static int64_t waits[20];
static pthread_cond_t served_cond = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t cond_mutex = PTHREAD_MUTEX_INITIALIZER;
static int cond_ready; /* under cond_mutex */

static void *signal_soon(void *arg)
{
    tp_sleep_ns(2000000);
    pthread_mutex_lock(&cond_mutex);
    cond_ready = 1;
    pthread_cond_signal(&served_cond);
    pthread_mutex_unlock(&cond_mutex);
    return arg;
}

/* The text of the field after the 10th comma of lock's CSV row: its kind. */
static bool csv_kind(const char *csv, const char *lock, char kind[16])
{
    const char *p = strstr(csv, lock);
    for (int k = 0; p && k < 10; k++)
        p = strchr(p + 1, ',');
    if (!p)
        return false;
    snprintf(kind, 16, "%.*s", (int)strcspn(p + 1, ",\n"), p + 1);
    return true;
}

static void *wait_once(void *arg)
{
    int64_t t0 = tp_now_ns();
    pthread_mutex_lock(&served);
    *(int64_t *)arg = tp_now_ns() - t0;
    pthread_mutex_unlock(&served);
    return NULL;
}

Test(lock_table, served_live_and_read_by_report, .timeout = 120)
{
    int r = syncprof_http_start("127.0.0.1:0");
    if (r == ENOTSUP)
        return; /* built without libmicrohttpd */
    cr_assert_eq(r, 0);
    int port = syncprof_http_port();
    pthread_mutex_init(&served, NULL);
    syncprof_set_name(&served, "served");
    /* 20 waits of 1..20 ms: the longest and the 99th percentile are known. */
    for (int i = 0; i < 20; i++) {
        pthread_t t;
        pthread_mutex_lock(&served);
        pthread_create(&t, NULL, wait_once, &waits[i]);
        tp_wait_until_blocked(&served);
        tp_sleep_ns((i + 1) * 1000000LL - 1000000);
        pthread_mutex_unlock(&served);
        pthread_join(t, NULL);
    }
    int64_t longest = 0;
    for (int i = 0; i < 20; i++)
        longest = waits[i] > longest ? waits[i] : longest;
    /* A condition variable, waited on three times: a row of kind cond. */
    syncprof_set_name(&served_cond, "served_cond");
    for (int i = 0; i < 3; i++) {
        pthread_t t;
        pthread_mutex_lock(&cond_mutex);
        cond_ready = 0;
        pthread_create(&t, NULL, signal_soon, NULL);
        while (!cond_ready)
            pthread_cond_wait(&served_cond, &cond_mutex);
        pthread_mutex_unlock(&cond_mutex);
        pthread_join(t, NULL);
    }

    struct hc_response text, csv;
    cr_assert_eq(hc_get(port, "/debug/pprof/locks", &text), 0);
    cr_expect_eq(text.status, 200);
    cr_expect(strstr(text.body, "syncprof locks:") && strstr(text.body, "served"), "%s",
              text.body);
    cr_assert_eq(hc_get(port, "/debug/pprof/locks?format=csv", &csv), 0);
    cr_expect_eq(csv.status, 200);
    char dir[64], path[4096];
    ps_tmpdir(dir);
    ps_save(dir, "locks.csv", csv.body, csv.body_len, path, sizeof path);

    char *out;
    cr_assert_eq(ps_sh(&out, "%s report --by-lock --csv %s", SP_TOOL, path), 0, "%s", csv.body);
    double v[9];
    cr_assert(csv_row(out, "served,", v), "%s", out);
    cr_expect_eq(v[1], 20);
    /* The wrapper's wait includes a little more than the program's view. */
    cr_expect(v[3] >= (double)longest * 0.95 && v[3] <= (double)longest * 1.05 + 1e6,
              "wait max %.0f, the program saw %lld", v[3], (long long)longest);
    cr_expect(v[4] >= v[3] * 0.8 && v[4] <= v[3], "p99 %.0f within a bucket of the max %.0f",
              v[4], v[3]);
    char kind[16];
    cr_expect(csv_kind(out, "served,", kind) && strcmp(kind, "mutex") == 0, "%s", out);
    /* a cond is waited on, never acquired: no acquisitions, no owner changes */
    const char *row = strstr(out, "served_cond,");
    cr_assert(row && csv_kind(out, "served_cond,", kind), "%s", out);
    cr_expect_str_eq(kind, "cond");
    cr_expect(strncmp(row, "served_cond,,", 13) == 0 && strstr(row, ",,cond"), "%s", row);
    free(out);
    cr_assert_eq(ps_sh(&out, "%s report --by-lock %s", SP_TOOL, path), 0);
    row = strstr(out, "served_cond ");
    cr_assert(row, "%s", out);
    char name[32], k[16], acq[16];
    cr_expect(sscanf(row, "%31s %15s %15s", name, k, acq) == 3 && strcmp(k, "cond") == 0 &&
                  strcmp(acq, "-") == 0,
              "%s", row);
    free(out);
    hc_free(&text);
    hc_free(&csv);
    syncprof_http_stop();
    ps_sh(NULL, "rm -rf %s", dir);
}
