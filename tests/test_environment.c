/*
 * test_environment.c - what the SYNCPROF_* environment and `syncprof run`'s
 * options may make a program do.
 *
 * Specification: the fault signals ILL, TRAP, BUS, FPE, SEGV and SYS (by
 * number, or by name with or without SIG, any case) are never a dump or
 * write signal: syncprof_dump_on_signal returns EINVAL for them,
 * SYNCPROF_DUMP_SIGNAL and SYNCPROF_WRITE_SIGNAL naming one print one
 * warning line and leave the signal's disposition alone, and `syncprof run
 * --dump-signal` / `--write-signal` naming one fail with one line and exit
 * status 2. SYNCPROF_OUT is created with its parents (mode 0755) when
 * missing, in a program linked with the library and under `syncprof run`;
 * when it cannot be, one line says so. (Privileged processes ignoring the
 * environment: tests/check_setuid.sh.)
 */
#include <syncprof/pthread.h>

#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/env.h"
#include "../src/signal_names.h"
#include "preload_support.h"

/* Sanitizer runtimes handle some fault signals themselves; these runs are
 * about the library's handlers only. */
#define NO_SANITIZER_HANDLERS \
    "ASAN_OPTIONS=handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0 "

struct fault {
    const char *text; /* as given */
    int sig;
    const char *name; /* as the messages say it */
};

static const struct fault faults[] = {
    { "4", SIGILL, "SIGILL" },   { "5", SIGTRAP, "SIGTRAP" }, { "7", SIGBUS, "SIGBUS" },
    { "8", SIGFPE, "SIGFPE" },   { "11", SIGSEGV, "SIGSEGV" }, { "31", SIGSYS, "SIGSYS" },
    { "ILL", SIGILL, "SIGILL" }, { "TRAP", SIGTRAP, "SIGTRAP" }, { "BUS", SIGBUS, "SIGBUS" },
    { "FPE", SIGFPE, "SIGFPE" }, { "SEGV", SIGSEGV, "SIGSEGV" }, { "SYS", SIGSYS, "SIGSYS" },
    { "SIGSEGV", SIGSEGV, "SIGSEGV" }, { "segv", SIGSEGV, "SIGSEGV" },
};
#define NFAULTS (sizeof faults / sizeof faults[0])

/* The whole content of path, malloc'd ("" when it is missing). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    cr_assert(m);
    int c;
    while ((c = fgetc(f)) != EOF)
        fputc(c, m);
    fclose(m);
    fclose(f);
    return buf;
}

/* How many times line (without its newline) is a whole line of text. */
static int count_lines(const char *text, const char *line)
{
    int n = 0;
    size_t len = strlen(line);
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        if (l == len && memcmp(p, line, len) == 0)
            n++;
        p = nl ? nl + 1 : NULL;
    }
    return n;
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "stat %s: %s", path, strerror(errno));
    cr_assert(S_ISDIR(st.st_mode), "%s is not a directory", path);
    return st.st_mode & 07777;
}

/* ---- The parser and syncprof_dump_on_signal ---- */

Test(environment, parser_refuses_fault_signals)
{
    for (size_t i = 0; i < NFAULTS; i++) {
        int refused = -1;
        cr_expect_eq(sp_signal_parse(faults[i].text, &refused), -2, "%s", faults[i].text);
        cr_expect_eq(refused, faults[i].sig, "%s", faults[i].text);
    }
    int refused = -1;
    cr_expect_eq(sp_signal_parse("KILL", &refused), -2);
    cr_expect_eq(refused, SIGKILL);
    cr_expect_eq(sp_signal_parse("sigstop", &refused), -2);
    cr_expect_eq(refused, SIGSTOP);
    /* What stays usable. */
    cr_expect_eq(sp_signal_parse("USR1", NULL), SIGUSR1);
    cr_expect_eq(sp_signal_parse("sigquit", NULL), SIGQUIT);
    cr_expect_eq(sp_signal_parse("12", NULL), SIGUSR2);
    cr_expect_eq(sp_signal_parse("0", NULL), 0);
    cr_expect_eq(sp_signal_parse("none", NULL), 0);
    cr_expect_eq(sp_signal_parse("bogus", NULL), -1);
    cr_expect_eq(sp_signal_parse("11x", NULL), -1);
    char why[128];
    cr_expect_str_eq(sp_signal_refused_text(SIGBUS, "dumps", why, sizeof why),
                     "SIGBUS is a fault signal, not usable for dumps");
}

Test(environment, dump_on_signal_refuses_fault_signals)
{
    static const int sigs[] = { SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGSEGV, SIGSYS };
    cr_assert_eq(sigs[0] + sigs[1] + sigs[2] + sigs[3] + sigs[4] + sigs[5], 4 + 5 + 7 + 8 + 11 + 31);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction before, after;
        cr_assert_eq(sigaction(sigs[i], NULL, &before), 0);
        cr_expect_eq(syncprof_dump_on_signal(sigs[i]), EINVAL, "signal %d", sigs[i]);
        cr_assert_eq(sigaction(sigs[i], NULL, &after), 0);
        cr_expect(after.sa_handler == before.sa_handler, "signal %d: handler changed", sigs[i]);
    }
    /* A usable one is taken: the refusals above are not a blanket failure. */
    cr_expect_eq(syncprof_dump_on_signal(SIGUSR2), 0);
    struct sigaction now;
    cr_assert_eq(sigaction(SIGUSR2, NULL, &now), 0);
    cr_expect(now.sa_handler != SIG_DFL && now.sa_handler != SIG_IGN);
}

/* ---- SYNCPROF_DUMP_SIGNAL in a program linked with the library ---- */

Test(environment, dump_signal_variable_refuses_fault_signals)
{
    char dir[64], out[128], err[128];
    ps_tmpdir(dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(err, sizeof err, "%s/err", dir);
    for (size_t i = 0; i < NFAULTS; i++) {
        int st = ps_sh(NULL, NO_SANITIZER_HANDLERS "SYNCPROF_DUMP_SIGNAL='%s' timeout 30 " ENV_PROG
                       " disposition %d >%s 2>%s", faults[i].text, faults[i].sig, out, err);
        cr_expect_eq(st, 0, "%s: status %d", faults[i].text, st);
        char *o = slurp(out), *e = slurp(err), line[256];
        snprintf(line, sizeof line,
                 "syncprof: ignoring SYNCPROF_DUMP_SIGNAL=\"%s\": %s is a fault signal, not usable "
                 "for dumps\n", faults[i].text, faults[i].name);
        cr_expect_str_eq(e, line, "%s", faults[i].text);
        cr_expect_str_eq(o, "default\n", "%s: disposition of %d", faults[i].text, faults[i].sig);
        free(o);
        free(e);
    }
    /* A usable signal is taken, silently. */
    int st = ps_sh(NULL, "SYNCPROF_DUMP_SIGNAL=USR1 timeout 30 " ENV_PROG " disposition %d >%s 2>%s",
                   SIGUSR1, out, err);
    cr_expect_eq(st, 0);
    char *o = slurp(out), *e = slurp(err);
    cr_expect_str_eq(o, "handler\n");
    cr_expect_str_eq(e, "");
    free(o);
    free(e);
}

/* ---- syncprof run --dump-signal / --write-signal ---- */

Test(environment, run_options_refuse_fault_signals)
{
    static const struct { const char *option, *use; } options[] = {
        { "--dump-signal", "dumps" },
        { "--write-signal", "writing profiles" },
    };
    char dir[64], err[128], ran[128];
    ps_tmpdir(dir);
    snprintf(err, sizeof err, "%s/err", dir);
    snprintf(ran, sizeof ran, "%s/ran", dir);
    for (size_t k = 0; k < 2; k++) {
        for (size_t i = 0; i < NFAULTS; i++) {
            int st = ps_sh(NULL, "timeout 30 " SP_TOOL " run --out %s %s '%s' -- touch %s 2>%s", dir,
                           options[k].option, faults[i].text, ran, err);
            cr_expect_eq(st, 2, "%s %s: status %d", options[k].option, faults[i].text, st);
            char *e = slurp(err), line[256];
            snprintf(line, sizeof line, "syncprof: %s %s: %s is a fault signal, not usable for %s\n",
                     options[k].option, faults[i].text, faults[i].name, options[k].use);
            cr_expect_str_eq(e, line);
            free(e);
            cr_expect_neq(access(ran, F_OK), 0, "%s %s: the program ran", options[k].option,
                          faults[i].text);
        }
    }
}

#ifndef __SANITIZE_ADDRESS__ /* an ASan interposer cannot be preloaded into cat or counter */

/* The caught-signal mask of a process started by `syncprof run` with
 * SYNCPROF_WRITE_SIGNAL=value (NULL: unset); stderr into err. The process
 * is cat, which catches nothing itself (GNU grep catches SIGSEGV). */
static unsigned long long caught_under_run(const char *dir, const char *value, const char *err)
{
    char *out, env[128] = "";
    if (value)
        snprintf(env, sizeof env, "SYNCPROF_WRITE_SIGNAL='%s' ", value);
    int st = ps_sh(&out, "%stimeout 30 " SP_TOOL " run --quiet --out %s -- cat /proc/self/status 2>%s",
                   env, dir, err);
    cr_assert_eq(st, 0, "status %d", st);
    unsigned long long mask;
    const char *line = strstr(out, "\nSigCgt:");
    cr_assert(line && sscanf(line, "\nSigCgt: %llx", &mask) == 1, "%s", out);
    free(out);
    return mask;
}

#define BIT(sig) (1ULL << ((sig) - 1))

Test(environment, write_signal_variable_refuses_fault_signals)
{
    char dir[64], err[128];
    ps_tmpdir(dir);
    snprintf(err, sizeof err, "%s/err", dir);
    /* Unset: the default write signal, USR2, is caught. */
    unsigned long long mask = caught_under_run(dir, NULL, err);
    cr_expect(mask & BIT(SIGUSR2), "SigCgt %llx", mask);
    for (size_t i = 0; i < NFAULTS; i++) {
        mask = caught_under_run(dir, faults[i].text, err);
        cr_expect(!(mask & BIT(faults[i].sig)), "%s: SigCgt %llx", faults[i].text, mask);
        cr_expect(mask & BIT(SIGUSR2), "%s: the default is gone: SigCgt %llx", faults[i].text, mask);
        char *e = slurp(err), line[256];
        snprintf(line, sizeof line,
                 "syncprof: ignoring SYNCPROF_WRITE_SIGNAL=\"%s\": %s is a fault signal, not usable "
                 "for writing profiles", faults[i].text, faults[i].name);
        cr_expect_eq(count_lines(e, line), 1, "%s: stderr:\n%s", faults[i].text, e);
        free(e);
    }
    /* A usable one is taken. */
    mask = caught_under_run(dir, "USR1", err);
    cr_expect(mask & BIT(SIGUSR1), "SigCgt %llx", mask);
}

Test(environment, out_variable_created_under_run)
{
    char dir[64], out[128], err[128];
    ps_tmpdir(dir);
    snprintf(out, sizeof out, "%s/x/y/z", dir);
    snprintf(err, sizeof err, "%s/err", dir);
    /* No --out: SYNCPROF_OUT reaches the program, whose library creates it. */
    int st = ps_sh(NULL, "umask 022; cd %s && SYNCPROF_OUT=%s timeout 60 " SP_TOOL " run --quiet "
                   "--mutex-fraction 1 --block-rate 1 -- " SP_PROGS "/counter 2 1000 >/dev/null 2>%s",
                   dir, out, err);
    char *e = slurp(err);
    cr_assert_eq(st, 0, "status %d: %s", st, e);
    free(e);
    cr_expect_eq(ps_profiles(out, "mutex", 0, -1, NULL), 1);
    cr_expect_eq(ps_profiles(out, "block", 0, -1, NULL), 1);
    cr_expect_eq(ps_profiles(dir, "mutex", 0, -1, NULL), 0, "profiles in the current directory");
    char sub[160];
    snprintf(sub, sizeof sub, "%s/x", dir);
    cr_expect_eq(mode_of(sub), 0755);
    cr_expect_eq(mode_of(out), 0755);
}

Test(environment, run_out_option_creates_parents)
{
    char dir[64], out[128];
    ps_tmpdir(dir);
    snprintf(out, sizeof out, "%s/p/q/r", dir);
    int st = ps_sh(NULL, "umask 022; timeout 60 " SP_TOOL " run --quiet --mutex-fraction 1 "
                   "--block-rate 1 --out %s -- " SP_PROGS "/counter 2 1000 >/dev/null", out);
    cr_assert_eq(st, 0, "status %d", st);
    cr_expect_eq(ps_profiles(out, "mutex", 0, -1, NULL), 1);
    cr_expect_eq(ps_profiles(out, "block", 0, -1, NULL), 1);
    cr_expect_eq(mode_of(out), 0755);
}

#endif /* __SANITIZE_ADDRESS__ */

/* ---- SYNCPROF_OUT in a program linked with the library ---- */

Test(environment, out_variable_created_when_missing)
{
    char dir[64], out[128], path[160];
    ps_tmpdir(dir);
    snprintf(out, sizeof out, "%s/a/b/c", dir);
    char *text;
    int st = ps_sh(&text, "umask 022; SYNCPROF_OUT=%s SYNCPROF_MUTEX_FRACTION=1 SYNCPROF_BLOCK_RATE=1 "
                   "timeout 30 " ENV_PROG " 2>/dev/null", out);
    cr_assert_eq(st, 0, "status %d", st);
    cr_expect_str_eq(text, "ready\n");
    free(text);
    cr_expect_eq(ps_profiles(out, "mutex", 0, -1, NULL), 1);
    cr_expect_eq(ps_profiles(out, "block", 0, -1, NULL), 1);
    snprintf(path, sizeof path, "%s/a", dir);
    cr_expect_eq(mode_of(path), 0755);
    snprintf(path, sizeof path, "%s/a/b", dir);
    cr_expect_eq(mode_of(path), 0755);
    cr_expect_eq(mode_of(out), 0755);
    /* An existing directory is used as it is. */
    st = ps_sh(NULL, "SYNCPROF_OUT=%s SYNCPROF_MUTEX_FRACTION=1 timeout 30 " ENV_PROG
               " >/dev/null 2>/dev/null", out);
    cr_assert_eq(st, 0);
    cr_expect_eq(ps_profiles(out, "mutex", 0, -1, NULL), 2);
}

Test(environment, out_variable_that_cannot_be_created)
{
    char dir[64], file[128], out[160], err[128];
    ps_tmpdir(dir);
    snprintf(file, sizeof file, "%s/file", dir);
    snprintf(out, sizeof out, "%s/sub", file);
    snprintf(err, sizeof err, "%s/err", dir);
    FILE *f = fopen(file, "w");
    cr_assert(f);
    fclose(f);
    int st = ps_sh(NULL, "SYNCPROF_OUT=%s SYNCPROF_MUTEX_FRACTION=1 timeout 30 " ENV_PROG
                   " >/dev/null 2>%s", out, err);
    cr_expect_eq(st, 0, "status %d", st);
    char *e = slurp(err), line[256];
    snprintf(line, sizeof line, "syncprof: cannot create SYNCPROF_OUT directory %s: %s", out,
             strerror(ENOTDIR));
    cr_expect_eq(count_lines(e, line), 1, "stderr:\n%s", e);
    free(e);
}

Test(environment, mkdir_p)
{
    char dir[64], path[160];
    ps_tmpdir(dir);
    snprintf(path, sizeof path, "%s/one//two/three/", dir);
    cr_expect_eq(sp_mkdir_p(path, 0700), 0);
    cr_expect_eq(mode_of(path) & 0700, 0700);
    cr_expect_eq(sp_mkdir_p(path, 0700), 0, "an existing directory");
    snprintf(path, sizeof path, "%s/f", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fclose(f);
    cr_expect_eq(sp_mkdir_p(path, 0755), ENOTDIR);
    snprintf(path, sizeof path, "%s/f/g", dir);
    cr_expect_eq(sp_mkdir_p(path, 0755), ENOTDIR);
    cr_expect_eq(sp_mkdir_p("", 0755), ENOENT);
}
