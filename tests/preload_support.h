/*
 * preload_support.h - test support for the interposer and the syncprof
 * command (test_preload*.c, test_cli*.c): where the tools are, a scratch
 * directory per test, running shell commands, finding the profiles a run
 * wrote and summing folded stacks (`syncprof report --folded`).
 *
 * Everything here aborts the test (cr_assert) on a failure it cannot
 * report otherwise. Commands run through sh with a `timeout`, so a hang
 * fails the test instead of stalling the suite.
 */
#ifndef TESTS_PRELOAD_SUPPORT_H
#define TESTS_PRELOAD_SUPPORT_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile_reader.h"

#define SP_TOOL TOOLS_DIR "/syncprof"
#define SP_PROGS TOOLS_DIR "/preload_progs"

/* `syncprof run` cannot preload an ASan-built interposer into programs
 * built without ASan (test_preload.c): its tests skip in that build. */
#ifdef __SANITIZE_ADDRESS__
#define PS_SKIP_UNDER_ASAN() \
    cr_skip_test("LD_PRELOAD of an ASan-built interposer into uninstrumented programs")
#else
#define PS_SKIP_UNDER_ASAN() ((void)0)
#endif

/* A fresh directory under /tmp; the name goes into dir (64 bytes). */
static inline void ps_tmpdir(char dir[64])
{
    snprintf(dir, 64, "/tmp/syncprof-test.XXXXXX");
    cr_assert(mkdtemp(dir), "mkdtemp");
}

/* Writes len bytes of data to dir/name, whose path goes into path (size
 * bytes). */
static inline void ps_save(const char *dir, const char *name, const void *data, size_t len,
                           char *path, size_t size)
{
    cr_assert_lt((size_t)snprintf(path, size, "%s/%s", dir, name), size, "path too long");
    FILE *f = fopen(path, "wb");
    cr_assert(f, "fopen %s", path);
    cr_assert_eq(fwrite(data, 1, len, f), len, "write %s", path);
    cr_assert_eq(fclose(f), 0, "close %s", path);
}

/* Runs a printf-formatted shell command; returns its exit status, and its
 * stdout in *out (malloc'd) when out is not NULL. */
__attribute__((format(printf, 2, 3)))
static inline int ps_sh(char **out, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    cr_assert(n > 0 && n < (int)sizeof cmd, "command too long");
    return tp_run(cmd, out);
}

/*
 * The profiles of kind ("mutex", "block") in dir: how many there are, and
 * the path of the one written by pid (pid 0: any; pid -1: any other than
 * not_pid... see ps_profile_other) in path (4096 bytes) when found.
 */
static inline int ps_profiles(const char *dir, const char *kind, long pid, long not_pid,
                              char *path)
{
    DIR *d = opendir(dir);
    cr_assert(d, "opendir %s", dir);
    int n = 0;
    struct dirent *e;
    size_t klen = strlen(kind);
    while ((e = readdir(d))) {
        long p;
        char tail[16];
        if (strncmp(e->d_name, kind, klen) != 0 || e->d_name[klen] != '.' ||
            sscanf(e->d_name + klen + 1, "%ld.%15s", &p, tail) != 2 || strcmp(tail, "pb.gz") != 0)
            continue;
        n++;
        if (path && (pid == 0 || p == pid) && p != not_pid)
            snprintf(path, 4096, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    return n;
}

/* `syncprof report --folded path` (asserted to succeed). */
static inline char *ps_folded(const char *path)
{
    char *out;
    int st = ps_sh(&out, "timeout 60 " SP_TOOL " report --folded '%s'", path);
    cr_assert_eq(st, 0, "syncprof report --folded %s: status %d", path, st);
    return out;
}

/* The total weight of the folded lines whose stack (root;...;leaf) matches
 * the fnmatch pattern, e.g. "*;do_lock;pthread_mutex_lock" for the leaf
 * pthread_mutex_lock called from do_lock. */
static inline int64_t ps_folded_sum(const char *folded, const char *pattern)
{
    int64_t sum = 0;
    const char *line = folded;
    while (line && *line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        const char *sp = memrchr(line, ' ', len);
        if (sp) {
            char *stack = strndup(line, (size_t)(sp - line));
            if (fnmatch(pattern, stack, 0) == 0)
                sum += strtoll(sp + 1, NULL, 10);
            free(stack);
        }
        line = nl ? nl + 1 : NULL;
    }
    return sum;
}

#endif /* TESTS_PRELOAD_SUPPORT_H */
