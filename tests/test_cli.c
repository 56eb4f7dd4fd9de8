/*
 * test_cli.c - the `syncprof` command: run's options, errors and exit
 * statuses, and report on our own profiles (pprof and debug=1 text give the
 * same stacks), on profiles written by a Go program (the same totals and
 * order as `go tool pprof -top`), and on files that are not profiles.
 *
 * The `run` cases that start programs are skipped under AddressSanitizer
 * (see test_preload.c); report and option parsing run everywhere.
 */
#include <syncprof/syncprof.h>

#include "preload_support.h"

/* ---- run: options and exit status ---------------------------------------- */

Test(cli, help_and_usage_errors)
{
    char *out;
    cr_expect_eq(ps_sh(&out, SP_TOOL " --help"), 0);
    cr_expect(strstr(out, "syncprof run [options]") && strstr(out, "--mutex-fraction"), "%s", out);
    free(out);
    cr_expect_eq(ps_sh(NULL, SP_TOOL " run --help >/dev/null"), 0);
    static const char *const bad[][2] = {
        { "", "usage:" },
        { "frobnicate", "unknown command" },
        { "run", "no program given" },
        { "run --mutex-fraction x -- true", "--mutex-fraction wants" },
        { "run --mutex-fraction -1 -- true", "--mutex-fraction wants" },
        { "run --block-rate 5parsecs -- true", "--block-rate wants" },
        { "run --hang-timeout -2 -- true", "--hang-timeout wants" },
        { "run --dump-signal FOO -- true", "--dump-signal wants" },
        { "run --dump-signal KILL -- true", "--dump-signal wants" },
        { "run --write-signal 999 -- true", "--write-signal wants" },
        { "run --bogus -- true", "unknown run option" },
        { "run --out", "needs a value" },
        { "report", "no profile file given" },
        { "report --top x f", "--top wants" },
        { "report --folded --text f", "exclusive" },
        { "report --what f", "unknown option" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int st = ps_sh(&out, SP_TOOL " %s 2>&1", bad[i][0]);
        cr_expect_eq(st, 2, "syncprof %s: status %d", bad[i][0], st);
        cr_expect(strstr(out, bad[i][1]), "syncprof %s said:\n%s", bad[i][0], out);
        free(out);
    }
}

#ifndef __SANITIZE_ADDRESS__

Test(cli, exit_status_of_the_program)
{
    char dir[64];
    ps_tmpdir(dir);
    cr_expect_eq(ps_sh(NULL, "cd '%s' && " SP_TOOL " run --quiet -- sh -c 'exit 7'", dir), 7);
    cr_expect_eq(ps_sh(NULL, "cd '%s' && " SP_TOOL " run --quiet -- sh -c 'kill -TERM $$'", dir),
                 128 + 15);
    cr_expect_eq(ps_sh(NULL, "cd '%s' && " SP_TOOL " run -- /nonexistent/prog 2>/dev/null", dir),
                 127);
}

/* The options become the environment of the program, LD_PRELOAD first. */
Test(cli, options_become_the_environment)
{
    char dir[64], *out;
    ps_tmpdir(dir);
    int st = ps_sh(&out, "cd '%s' && LD_PRELOAD= " SP_TOOL " run --mutex-fraction 3 "
                   "--block-rate 1ms --out '%s/new' --hang-timeout 2.5 --dump-signal QUIT "
                   "--lock-order --write-signal USR1 --quiet -- env", dir, dir);
    cr_assert_eq(st, 0);
    static const char *const want[] = {
        "SYNCPROF_MUTEX_FRACTION=3\n", "SYNCPROF_BLOCK_RATE=1000000\n",
        "SYNCPROF_HANG_TIMEOUT=2.5\n", "SYNCPROF_DUMP_SIGNAL=3\n", "SYNCPROF_LOCK_ORDER=1\n",
        "SYNCPROF_WRITE_SIGNAL=10\n", "SYNCPROF_SUMMARY=0\n", "/libsyncprof-preload.so\n",
        "SYNCPROF_OUT=/tmp/",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_expect(strstr(out, want[i]), "missing %s in\n%s", want[i], out);
    cr_expect(strstr(out, "\nLD_PRELOAD=/"), "%s", out);
    free(out);
    /* --out was created, and the program's profiles went there. */
    char sub[128];
    snprintf(sub, sizeof sub, "%s/new", dir);
    cr_expect_eq(ps_profiles(sub, "mutex", 0, -1, NULL), 1);
    /* Defaults: fraction 5, rate 10000 ns; an existing LD_PRELOAD is kept. */
    st = ps_sh(&out, "cd '%s' && LD_PRELOAD=libm.so.6 " SP_TOOL " run --quiet -- env", dir);
    cr_assert_eq(st, 0);
    cr_expect(strstr(out, "SYNCPROF_MUTEX_FRACTION=5\n") && strstr(out, "SYNCPROF_BLOCK_RATE=10000\n"),
              "%s", out);
    cr_expect(strstr(out, "/libsyncprof-preload.so:libm.so.6\n"), "%s", out);
    free(out);
}

#endif /* __SANITIZE_ADDRESS__ */

/* ---- report ------------------------------------------------------------------ */

Test(cli, report_refuses_what_is_not_a_profile)
{
    char dir[64], *out;
    ps_tmpdir(dir);
    ps_sh(NULL, "cd '%s' && : > empty && head -c 4096 /dev/urandom > random && "
          "printf 'hello\\n' > text && printf 'hello\\n' | gzip > text.gz && "
          "head -c 300 /dev/urandom | gzip > random.gz && printf '\\037\\213\\010' > truncated.gz",
          dir);
    static const char *const files[] = { "empty", "random", "text", "text.gz", "random.gz",
                                         "truncated.gz", "missing" };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        int st = ps_sh(&out, SP_TOOL " report '%s/%s' 2>&1", dir, files[i]);
        cr_expect_eq(st, 1, "%s: status %d", files[i], st);
        cr_expect(strstr(out, "syncprof report: "), "%s: %s", files[i], out);
        free(out);
    }
}

static void *lock_once(void *m)
{
    syncprof_mutex_lock(m);
    return NULL;
}

/* Our own profile, written as pprof and as text, reads the same; its total
 * is go tool pprof's. */
Test(cli, report_our_pprof_and_text_agree)
{
    char dir[64], pb[128], txt[128];
    ps_tmpdir(dir);
    syncprof_set_mutex_profile_fraction(1);
    syncprof_set_block_profile_rate(1);
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    for (int i = 0; i < 3; i++) {
        syncprof_mutex_lock(&m);
        pthread_t t;
        cr_assert_eq(pthread_create(&t, NULL, lock_once, &m), 0);
        tp_wait_until_blocked(&m);
        tp_sleep_ns(5000000);
        syncprof_mutex_unlock(&m);
        pthread_join(t, NULL);
        syncprof_mutex_unlock(&m);
    }
    snprintf(pb, sizeof pb, "%s/mutex.pb.gz", dir);
    snprintf(txt, sizeof txt, "%s/mutex.txt", dir);
    cr_assert_eq(syncprof_write_profile_file("mutex", pb, 0), 0);
    cr_assert_eq(syncprof_write_profile_file("mutex", txt, 1), 0);
    /* The same, but for the mapping name pprof gives unnamed addresses. */
    char *a, *b;
    cr_assert_eq(ps_sh(&a, SP_TOOL " report --folded '%s' | sed -E 's/ \\([^)]*\\.so[^)]*\\)//g'",
                       pb), 0);
    b = ps_folded(txt);
    cr_expect_str_eq(a, b);
    int64_t total = ps_folded_sum(a, "*");
    cr_expect(total >= 3 * 4000000LL, "%lld\n%s", (long long)total, a);
    char *top;
    cr_assert_eq(ps_sh(&top, "%s tool pprof -top -unit=ns '%s' 2>&1", GO_EXECUTABLE, pb), 0);
    char want[64];
    snprintf(want, sizeof want, "of %lldns total", (long long)total);
    cr_expect(strstr(top, want), "want \"%s\" in\n%s", want, top);
    free(top);
    char *table;
    cr_assert_eq(ps_sh(&table, SP_TOOL " report '%s'", pb), 0);
    cr_expect(strstr(table, "syncprof_mutex_unlock") || strstr(table, "pthread_mutex_unlock"),
              "%s", table);
    free(table);
    free(a);
    free(b);
}

/* A Go program's mutex profile, pprof and text. */
static const char go_program[] =
    "package main\n"
    "import (\"os\"; \"runtime\"; \"runtime/pprof\"; \"sync\"; \"time\")\n"
    "var heavyMu, lightMu sync.Mutex\n"
    "//go:noinline\n"
    "func heavy() { heavyMu.Lock(); time.Sleep(4 * time.Millisecond); heavyMu.Unlock() }\n"
    "//go:noinline\n"
    "func light() { lightMu.Lock(); time.Sleep(time.Millisecond); lightMu.Unlock() }\n"
    "func main() {\n"
    "  runtime.SetMutexProfileFraction(1)\n"
    "  var wg sync.WaitGroup\n"
    "  for i := 0; i < 4; i++ {\n"
    "    wg.Add(2)\n"
    "    go func() { defer wg.Done(); for j := 0; j < 8; j++ { heavy() } }()\n"
    "    go func() { defer wg.Done(); for j := 0; j < 8; j++ { light() } }()\n"
    "  }\n"
    "  wg.Wait()\n"
    "  f, _ := os.Create(os.Args[1]); pprof.Lookup(\"mutex\").WriteTo(f, 0); f.Close()\n"
    "  g, _ := os.Create(os.Args[2]); pprof.Lookup(\"mutex\").WriteTo(g, 1); g.Close()\n"
    "}\n";

/* go tool pprof's cumulative value of function fn, in ns (-1: absent). */
static long long go_cum(const char *top, const char *fn)
{
    for (const char *l = top; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        long long flat, cum;
        double fp, sp, cp;
        char name[256];
        if (sscanf(l, " %lldns %lf%% %lf%% %lldns %lf%% %255s", &flat, &fp, &sp, &cum, &cp,
                   name) == 6 ||
            (sscanf(l, " 0 %lf%% %lf%% %lldns %lf%% %255s", &fp, &sp, &cum, &cp, name) == 5))
            if (strcmp(name, fn) == 0)
                return cum;
    }
    return -1;
}

Test(cli, report_go_profiles_as_go_tool_pprof, .timeout = 240)
{
    char dir[64], *out;
    ps_tmpdir(dir);
    FILE *f;
    char path[128];
    snprintf(path, sizeof path, "%s/main.go", dir);
    cr_assert((f = fopen(path, "w")));
    fputs(go_program, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/go.mod", dir);
    cr_assert((f = fopen(path, "w")));
    fputs("module sptest\n\ngo 1.19\n", f);
    fclose(f);
    int st = ps_sh(&out, "cd '%s' && GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local "
                   "%s build -o prog . 2>&1 && ./prog go.pb.gz go.txt 2>&1", dir, GO_EXECUTABLE);
    cr_assert_eq(st, 0, "building/running the Go program: %s", out);
    free(out);

    static const char *const files[] = { "go.pb.gz", "go.txt" };
    for (size_t i = 0; i < 2; i++) {
        char file[128], *top, *table;
        snprintf(file, sizeof file, "%s/%s", dir, files[i]);
        /* pprof names the text profile's addresses from the binary. */
        st = ps_sh(&top, "cd '%s' && %s tool pprof -top -cum -unit=ns %s '%s' 2>&1", dir, GO_EXECUTABLE,
                   i == 0 ? "" : "prog", file);
        cr_assert_eq(st, 0, "%s", top);
        char *folded = ps_folded(file);
        long long go_heavy = go_cum(top, "main.heavy"), go_light = go_cum(top, "main.light");
        long long heavy = ps_folded_sum(folded, "*;main.heavy;*");
        long long light = ps_folded_sum(folded, "*;main.light;*");
        long long total = ps_folded_sum(folded, "*");
        cr_assert(go_heavy > 0 && go_light > 0, "%s", top);
        /* pprof: exact; Go's text: delays in cycles, converted by both. */
        long long tol = i == 0 ? 0 : go_heavy / 1000 + 1;
        cr_expect(llabs(heavy - go_heavy) <= tol, "%s: heavy %lld vs go %lld\n%s\n%s", files[i],
                  heavy, go_heavy, folded, top);
        cr_expect(llabs(light - go_light) <= tol, "%s: light %lld vs go %lld", files[i], light,
                  go_light);
        char want[64];
        snprintf(want, sizeof want, "of %lldns total", total);
        if (i == 0)
            cr_expect(strstr(top, want), "want \"%s\" in\n%s", want, top);
        /* The same order: the heaviest stack is heavy's, as go's -top. */
        cr_assert_eq(ps_sh(&table, SP_TOOL " report --depth 0 '%s'", file), 0);
        char *h = strstr(table, "main.heavy"), *l = strstr(table, "main.light");
        cr_expect(heavy > light && h && l && h < l, "%s", table);
        cr_expect(strstr(table, "sync.(*Mutex).Unlock"), "%s", table);
        free(table);
        free(folded);
        free(top);
    }
}
