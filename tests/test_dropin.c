/*
 * test_dropin.c - the drop-in promise, on a real program.
 *
 * Specification: examples/contended.c, written against plain pthreads, is
 * built once normally (contended) and once with -include
 * syncprof/pthread.h (contended_profiled). Both print the same results and
 * exit 0; the profiled one, configured only through the environment, writes
 * mutex.<pid>.pb.gz and block.<pid>.pb.gz into SYNCPROF_OUT, go tool pprof
 * reads them, and they point at the program's hot lock. A bad environment
 * value costs one warning line and nothing else.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "profile_reader.h"

static char dir[] = "/tmp/syncprof-dropin-XXXXXX";

static void setup(void)
{
    cr_assert(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    tp_run(cmd, NULL);
}

static char *run(const char *env, const char *program, int *status)
{
    char cmd[1024], *out;
    snprintf(cmd, sizeof cmd, "cd %s && env %s %s/%s 2>%s/stderr", dir, env, EXAMPLES_DIR,
             program, dir);
    *status = tp_run(cmd, &out);
    return out;
}

static char *read_stderr(void)
{
    char cmd[256], *out;
    snprintf(cmd, sizeof cmd, "cat %s/stderr", dir);
    tp_run(cmd, &out);
    return out;
}

Test(dropin, same_results_and_profiles_written, .init = setup, .fini = teardown)
{
    int st_raw, st_prof;
    char *raw = run("", "contended", &st_raw);
    char env[256];
    snprintf(env, sizeof env,
             "SYNCPROF_MUTEX_FRACTION=1 SYNCPROF_BLOCK_RATE=1000 SYNCPROF_OUT=%s", dir);
    char *prof = run(env, "contended_profiled", &st_prof);
    cr_expect_eq(st_raw, 0);
    cr_expect_eq(st_prof, 0);
    cr_expect(strncmp(raw, "jobs=4000 ", 10) == 0, "%s", raw);
    cr_expect_str_eq(prof, raw);

    /* Both profiles exist, and go tool pprof names the hot lock. */
    char cmd[1024], *top;
    snprintf(cmd, sizeof cmd, "%s tool pprof -top -nodecount=50 %s/mutex.*.pb.gz 2>&1",
             GO_EXECUTABLE, dir);
    cr_expect_eq(tp_run(cmd, &top), 0, "%s", top);
    cr_expect(strstr(top, "hot_tally_add"), "the hot lock is not in the mutex profile:\n%s", top);
    free(top);
    snprintf(cmd, sizeof cmd, "%s tool pprof -top -nodecount=50 %s/block.*.pb.gz 2>&1",
             GO_EXECUTABLE, dir);
    cr_expect_eq(tp_run(cmd, &top), 0, "%s", top);
    cr_expect(strstr(top, "pthread_mutex_lock"), "%s", top);
    cr_expect(strstr(top, "pthread_cond_wait"), "%s", top);
    free(top);
    free(raw);
    free(prof);
}

Test(dropin, profiles_off_by_default, .init = setup, .fini = teardown)
{
    int st;
    char env[256];
    snprintf(env, sizeof env, "SYNCPROF_OUT=%s", dir);
    free(run(env, "contended_profiled", &st));
    cr_expect_eq(st, 0);
    char cmd[256], *out;
    snprintf(cmd, sizeof cmd, "ls %s | grep -c pb.gz", dir);
    tp_run(cmd, &out);
    cr_expect_eq(atoi(out), 0, "nothing enabled, nothing written");
    free(out);
}

Test(dropin, bad_environment_warns_once, .init = setup, .fini = teardown)
{
    int st_raw, st;
    char *raw = run("", "contended", &st_raw);
    char *out = run("SYNCPROF_MUTEX_FRACTION=lots SYNCPROF_BLOCK_RATE=-5", "contended_profiled",
                    &st);
    cr_expect_eq(st, 0);
    cr_expect_str_eq(out, raw, "the program runs as before");
    char *err = read_stderr();
    cr_expect(strstr(err, "syncprof: ignoring SYNCPROF_MUTEX_FRACTION=\"lots\""), "%s", err);
    cr_expect(strstr(err, "syncprof: ignoring SYNCPROF_BLOCK_RATE=\"-5\""), "%s", err);
    int lines = 0;
    for (char *p = err; *p; p++)
        lines += *p == '\n';
    cr_expect_eq(lines, 2, "one line per bad value:\n%s", err);
    free(err);
    free(out);
    free(raw);
}
