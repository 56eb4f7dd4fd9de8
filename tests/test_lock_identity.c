/*
 * test_lock_identity.c - every lock sample names its lock (lock_identity.h).
 *
 * Specification: a mutex or block sample on an unnamed mutex, rwlock or
 * condition variable carries lock=<birth site>: "file:line function" of its
 * pthread_*_init call, with " #N" for the N-th lock one site created, or
 * the site of its first observed use for a statically initialised lock;
 * the same in both ways of profiling (tests/preload_progs/lock_ids.cc,
 * built with <syncprof/pthread.h> and run plain under `syncprof run`), read
 * back by `go tool pprof -raw`; `-tagfocus lock=...` selects one lock.
 * The table is bounded: 100,000 short-lived locks leave it within
 * SP_LOCK_IDS entries, and the locks it could not keep are counted (and
 * said in the profile's comment).
 */
#include <syncprof/pthread.h>

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lock_identity.h"
#include "pprof_raw.h"
#include "preload_support.h"

#define SOURCE TESTS_SOURCE_DIR "/preload_progs/lock_ids.cc"

/* The line of the BIRTH:<name> marker in lock_ids.cc. */
static int birth_line(const char *name)
{
    char marker[64], line[512];
    snprintf(marker, sizeof marker, "// BIRTH:%s", name);
    FILE *f = fopen(SOURCE, "r");
    cr_assert(f, "%s", SOURCE);
    for (int n = 1; fgets(line, sizeof line, f); n++) {
        char *at = strstr(line, marker);
        if (at && (at[strlen(marker)] == '\n' || at[strlen(marker)] == '\0')) {
            fclose(f);
            return n;
        }
    }
    fclose(f);
    cr_assert_fail("no marker %s", marker);
    return 0;
}

/* go tool pprof -raw of a profile file. */
static void read_raw(const char *path, const char *flags, struct pr_profile *p, char **text)
{
    char *out;
    int st = ps_sh(&out, "%s tool pprof -raw %s %s 2>&1", GO_EXECUTABLE, flags, path);
    cr_assert_eq(st, 0, "pprof -raw %s:\n%s", path, out);
    cr_assert(pr_parse(out, p), "%s", out);
    if (text)
        *text = out;
    else
        free(out);
}

/* The labels of every sample whose stack has fn (and, unless NULL, whose
 * labels contain with): all must contain want; at least one exists. */
static void expect_lock(const struct pr_profile *p, const char *what, const char *fn,
                        const char *with, const char *want)
{
    int n = 0;
    for (size_t i = 0; i < p->n; i++) {
        const struct pr_sample *s = &p->samples[i];
        if (!pr_has_function(p, s, fn) || (with && !strstr(s->labels, with)))
            continue;
        n++;
        cr_expect(strstr(s->labels, want), "%s: %s sample labelled [%s], want [%s]", what, fn,
                  s->labels, want);
    }
    cr_expect(n > 0, "%s: no %s sample", what, fn);
}

/* Runs lock_ids one way, with n short-lived locks; the two profiles' paths. */
static void run_way(bool header, const char *dir, long n, char mutex[4096], char block[4096])
{
    char *out;
    int st;
    if (header)
        st = ps_sh(&out,
                   "SYNCPROF_OUT=%s SYNCPROF_MUTEX_FRACTION=1 SYNCPROF_BLOCK_RATE=1 "
                   "timeout 120 %s/lock_ids_header %ld 2>&1",
                   dir, SP_PROGS, n);
    else
        st = ps_sh(&out,
                   "timeout 120 %s run --quiet --out %s --mutex-fraction 1 --block-rate 1 -- "
                   "%s/lock_ids %ld 2>&1",
                   SP_TOOL, dir, SP_PROGS, n);
    cr_assert_eq(st, 0, "%s", out);
    free(out);
    cr_assert_eq(ps_profiles(dir, "mutex", 0, 0, mutex), 1, "mutex profile in %s", dir);
    cr_assert_eq(ps_profiles(dir, "block", 0, 0, block), 1, "block profile in %s", dir);
}

static void check_births(bool header)
{
    const char *way = header ? "header" : "syncprof run";
    char dir[64], mutex[4096], block[4096], want[256];
    ps_tmpdir(dir);
    run_way(header, dir, 0, mutex, block);

    struct pr_profile pm, pb;
    read_raw(mutex, "", &pm, NULL);
    read_raw(block, "", &pb, NULL);

    /* The helper's three locks: one site, told apart by their ordinal. The
     * mutex profile's samples are in contend (the unlocker), the block
     * profile's in waiter_body; both stacks pass through main, which
     * contends a, b, c in that order, so each lock's samples are those
     * whose label has its ordinal. */
    int helper = birth_line("helper");
    snprintf(want, sizeof want, "lock:[lock_ids.cc:%d make_lock]", helper);
    expect_lock(&pm, way, "contend", want, want);
    expect_lock(&pb, way, "waiter_body", want, want);
    for (int k = 2; k <= 3; k++) {
        snprintf(want, sizeof want, "lock:[lock_ids.cc:%d make_lock #%d]", helper, k);
        expect_lock(&pm, way, "contend", want, want);
        expect_lock(&pb, way, "waiter_body", want, want);
    }
    /* No fourth lock at that site, and every contend sample has a lock. */
    snprintf(want, sizeof want, "lock_ids.cc:%d make_lock #4", helper);
    for (size_t i = 0; i < pm.n; i++) {
        cr_expect(!strstr(pm.samples[i].labels, want), "%s", pm.samples[i].labels);
        cr_expect(strstr(pm.samples[i].labels, "lock:["), "%s: unlabelled mutex sample: [%s]",
                  way, pm.samples[i].labels);
    }

    /* The C++ object's lock: its constructor's init call, named as the
     * program wrote it (pprof demangles frames, not labels). */
    snprintf(want, sizeof want, "lock:[lock_ids.cc:%d ", birth_line("account"));
    expect_lock(&pm, way, "contend", want, "Account::Account()");

    /* The rwlock: its init in main; the reader's wait and the writer's unlock. */
    snprintf(want, sizeof want, "lock:[lock_ids.cc:%d main]", birth_line("rwlock"));
    expect_lock(&pb, way, "reader_body", NULL, want);
    expect_lock(&pm, way, "contend_rwlock", NULL, want);

    /* The condition variable's mutex: the producer's unlock is charged for
     * the consumer's wait to re-acquire it; the wait on the condition
     * itself names the condition. */
    snprintf(want, sizeof want, "lock:[lock_ids.cc:%d main]", birth_line("queue_mutex"));
    expect_lock(&pm, way, "producer", NULL, want);
    snprintf(want, sizeof want, "lock:[lock_ids.cc:%d main]", birth_line("queue_cond"));
    expect_lock(&pb, way, "consumer_body", "wait:[cond]", want);

    /* The static mutex: born at its first observed use, in contend (its
     * unlock) or waiter_body (its wait); every sample of it names the same
     * one. Its samples are those labelled with neither init site. */
    char seen[512] = "";
    for (int pass = 0; pass < 2; pass++) {
        const struct pr_profile *p = pass ? &pb : &pm;
        for (size_t i = 0; i < p->n; i++) {
            const char *l = p->samples[i].labels;
            const char *at = strstr(l, "lock:[lock_ids.cc:");
            cr_assert(at || pass, "%s: [%s]", way, l);
            if (!at)
                continue;
            int line = atoi(at + strlen("lock:[lock_ids.cc:"));
            if (line == helper || line == birth_line("account") || line == birth_line("rwlock") ||
                line == birth_line("queue_mutex") || line == birth_line("queue_cond"))
                continue;
            char lock[512];
            snprintf(lock, sizeof lock, "%s", at);
            *strchr(lock, ']') = '\0';
            cr_expect(strstr(lock, " contend") || strstr(lock, " waiter_body"), "%s: %s", way,
                      lock);
            if (!seen[0])
                snprintf(seen, sizeof seen, "%s", lock);
            cr_expect_str_eq(lock, seen, "%s: one static lock, two identities", way);
        }
    }
    cr_expect(seen[0], "%s: no sample of the static mutex", way);

    /* -tagfocus selects one lock: the helper's second. */
    struct pr_profile focused;
    char flags[256];
    snprintf(flags, sizeof flags, "-tagfocus 'lock=lock_ids.cc:%d make_lock #2'", helper);
    read_raw(mutex, flags, &focused, NULL);
    cr_expect(focused.n >= 1, "%s: -tagfocus selected nothing", way);
    snprintf(want, sizeof want, "lock:[lock_ids.cc:%d make_lock #2]", helper);
    for (size_t i = 0; i < focused.n; i++)
        cr_expect(strstr(focused.samples[i].labels, want), "%s: [%s]", way,
                  focused.samples[i].labels);
    pr_free(&focused);
    pr_free(&pm);
    pr_free(&pb);
    ps_sh(NULL, "rm -rf %s", dir);
}

Test(lock_identity, birth_sites_compiled_in, .timeout = 120)
{
    check_births(true);
}

Test(lock_identity, birth_sites_under_syncprof_run, .timeout = 120)
{
    PS_SKIP_UNDER_ASAN();
    check_births(false);
}

/* The exit summary of `syncprof run`: lock_ids 20 waits at one call site
 * on 40 locks of one birth site, samples that differ only in their "lock"
 * label. They make one row: no two rows of a table read alike. */
Test(lock_identity, summary_rows_never_repeat, .timeout = 120)
{
    PS_SKIP_UNDER_ASAN();
    char dir[64], *out;
    ps_tmpdir(dir);
    int st = ps_sh(&out, "timeout 120 %s run --out %s --mutex-fraction 1 --block-rate 1 -- "
                   "%s/lock_ids 20 2>&1 >/dev/null", SP_TOOL, dir, SP_PROGS);
    cr_assert_eq(st, 0, "%s", out);
    /* Rows are "<delay> <share> <count>  <stack>": compare the stacks. */
    char *whole = strdup(out);
    int rows = 0, repeats = 0;
    char *stacks[64];
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "syncprof:", 9) == 0) {
            for (int i = 0; i < rows; i++)
                free(stacks[i]);
            rows = 0; /* a new table */
            continue;
        }
        char *stack = strstr(line, "  pthread_");
        if (!stack || rows == 64)
            continue;
        for (int i = 0; i < rows; i++)
            repeats += strcmp(stacks[i], stack) == 0;
        stacks[rows++] = strdup(stack);
    }
    for (int i = 0; i < rows; i++)
        free(stacks[i]);
    cr_expect_eq(repeats, 0, "%d rows repeat another:\n%s", repeats, whole);
    free(whole);
    free(out);
    ps_sh(NULL, "rm -rf %s", dir);
}

/* 100,000 short-lived locks (initialised, used, destroyed), then 100,000
 * never destroyed: the table stays within its bound, and what it could
 * not keep is counted, in the profile's comment too. */
static void check_bound(bool header)
{
    char dir[64], mutex[4096], block[4096];
    ps_tmpdir(dir);
    run_way(header, dir, 100000, mutex, block);
    struct pr_profile p;
    char *text;
    read_raw(mutex, "", &p, &text);
    const char *c = strstr(text, "syncprof: ");
    cr_assert(c && strstr(c, "locks without a birth site"), "%s: no overflow comment:\n%s",
              header ? "header" : "syncprof run", text);
    /* At least the never-destroyed locks beyond the table's size. */
    cr_expect(atol(c + strlen("syncprof: ")) >= 100000 - SP_LOCK_IDS, "%.80s", c);
    free(text);
    pr_free(&p);
    ps_sh(NULL, "rm -rf %s", dir);
}

Test(lock_identity, bounded_compiled_in, .timeout = 200)
{
    check_bound(true);
}

Test(lock_identity, bounded_under_syncprof_run, .timeout = 200)
{
    PS_SKIP_UNDER_ASAN();
    check_bound(false);
}

/* In this process: init and destroy reuse entries; never-destroyed locks
 * fill the table to its bound and no further. */
Test(lock_identity, table_bound)
{
    static pthread_mutex_t many[SP_LOCK_IDS + 1000];
    size_t before = sp_lock_ids_count();
    for (int i = 0; i < 100000; i++) {
        pthread_mutex_t m;
        pthread_mutex_init(&m, NULL);
        pthread_mutex_destroy(&m);
    }
    cr_expect_eq(sp_lock_ids_count(), before);
    uint64_t dropped = sp_lock_ids_dropped();
    for (size_t i = 0; i < sizeof many / sizeof many[0]; i++)
        pthread_mutex_init(&many[i], NULL);
    cr_expect_leq(sp_lock_ids_count(), SP_LOCK_IDS);
    cr_expect_geq(sp_lock_ids_dropped() - dropped, 1000);
    cr_expect_eq(sp_lock_ids_count() + (sp_lock_ids_dropped() - dropped),
                 before + sizeof many / sizeof many[0]);
    for (size_t i = 0; i < sizeof many / sizeof many[0]; i++)
        pthread_mutex_destroy(&many[i]);
    cr_expect_eq(sp_lock_ids_count(), before);
}
