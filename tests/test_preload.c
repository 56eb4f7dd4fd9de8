/*
 * test_preload.c - the LD_PRELOAD interposer on programs built without any
 * syncprof header (tests/preload_progs), run with `syncprof run`: every
 * interposed function lands in the right profile with the program's call
 * site as caller; C++'s std::mutex, std::shared_mutex and
 * std::condition_variable; glibc's old condition-variable ABI; an
 * allocator that locks a pthread mutex in malloc; threads started before
 * the interposer is initialised; fork, exit and exec while threads are
 * blocked, a closed or reused stderr, a closed stderr pipe, and the write
 * signal.
 *
 * Skipped under AddressSanitizer: a sanitized interposer cannot be
 * preloaded into a program that is not (ASan insists on coming first), and
 * the test programs are not. (Criterion does not run under TSan at all.)
 */
#include "preload_support.h"

#ifdef __SANITIZE_ADDRESS__

Test(preload, skipped_under_asan)
{
    cr_skip_test("LD_PRELOAD of an ASan-built interposer into uninstrumented programs");
}

#else

#define RUN1 "timeout 60 " SP_TOOL " run --mutex-fraction 1 --block-rate 1 --out '%s' -- "

/* Runs `each OP` (or all) at fraction 1, rate 1; returns the folded block
 * and mutex profiles. */
static void run_each(const char *dir, const char *op, char **block, char **mutex)
{
    int st = ps_sh(NULL, RUN1 SP_PROGS "/each %s 2>/dev/null", dir, op);
    cr_assert_eq(st, 0, "each %s: status %d", op, st);
    char path[4096];
    cr_assert_eq(ps_profiles(dir, "block", 0, -1, path), 1);
    *block = ps_folded(path);
    cr_assert_eq(ps_profiles(dir, "mutex", 0, -1, path), 1);
    *mutex = ps_folded(path);
}

Test(preload, each_function_in_its_profile)
{
    static const char *const waits[][2] = {
        { "do_mutex_lock", "pthread_mutex_lock" },
        { "do_mutex_timedlock", "pthread_mutex_timedlock" },
        { "do_mutex_clocklock", "pthread_mutex_clocklock" },
        { "do_rwlock_rdlock", "pthread_rwlock_rdlock" },
        { "do_rwlock_wrlock", "pthread_rwlock_wrlock" },
        { "do_rwlock_timedrdlock", "pthread_rwlock_timedrdlock" },
        { "do_rwlock_timedwrlock", "pthread_rwlock_timedwrlock" },
        { "do_cond_wait", "pthread_cond_wait" },
        { "do_cond_timedwait", "pthread_cond_timedwait" },
        { "do_cond_clockwait", "pthread_cond_clockwait" },
        { "do_barrier_wait", "pthread_barrier_wait" },
        { "do_sem_wait", "sem_wait" },
        { "do_sem_timedwait", "sem_timedwait" },
        { "do_join", "pthread_join" },
    };
    char dir[64], *block, *mutex, needle[128];
    ps_tmpdir(dir);
    run_each(dir, "all", &block, &mutex);
    /* Each waiter blocked about 30 ms (each.c's HOLD_MS) in its call. */
    for (size_t i = 0; i < sizeof waits / sizeof waits[0]; i++) {
        snprintf(needle, sizeof needle, "*;%s;%s", waits[i][0], waits[i][1]);
        int64_t d = ps_folded_sum(block, needle);
        cr_expect(d >= 25000000 && d < 2000000000, "block profile: %s: %lld ns\n%s", needle,
                  (long long)d, block);
    }
    /* The holders' unlocks: 3 mutex holds and 4 rwlock holds of ~30 ms. */
    int64_t m = ps_folded_sum(mutex, "*;release_mutex;pthread_mutex_unlock");
    int64_t rw = ps_folded_sum(mutex, "*;release_rwlock;pthread_rwlock_unlock");
    cr_expect(m >= 3 * 25000000LL, "mutex unlocks: %lld ns\n%s", (long long)m, mutex);
    cr_expect(rw >= 4 * 25000000LL, "rwlock unlocks: %lld ns\n%s", (long long)rw, mutex);
    /* Nothing of the profiler's own shows as a caller. */
    cr_expect(!strstr(block, "sp_") && !strstr(mutex, "sp_"), "%s\n%s", block, mutex);
    free(block);
    free(mutex);
}

/* The profiler's own locks are not the program's: a program that takes
 * no lock at all has an empty hold profile, even with every hold timed
 * (libunwind's lock, taken while syncprof loads, once showed there). */
Test(preload, no_locks_no_holds)
{
    char dir[64], path[4096];
    ps_tmpdir(dir);
    int st = ps_sh(NULL, "timeout 60 " SP_TOOL " run --quiet --hold-rate 1 --out '%s' -- /bin/true",
                   dir);
    cr_assert_eq(st, 0, "status %d", st);
    cr_assert_eq(ps_profiles(dir, "hold", 0, -1, path), 1);
    char *hold = ps_folded(path);
    cr_expect_str_eq(hold, "", "holds in a program without locks:\n%s", hold);
    free(hold);
    ps_sh(NULL, "rm -rf %s", dir);
}

Test(preload, cxx_standard_locks_demangled)
{
    char dir[64], path[4096], *out;
    ps_tmpdir(dir);
    int st = ps_sh(NULL, RUN1 SP_PROGS "/cxx_locks >/dev/null 2>&1", dir);
    cr_assert_eq(st, 0, "cxx_locks: status %d", st);
    cr_assert_eq(ps_profiles(dir, "block", 0, -1, path), 1);
    cr_assert_eq(ps_sh(&out, SP_TOOL " report --top 0 --depth 0 '%s'", path), 0);
    cr_expect(strstr(out, "shop::restock(int)"), "%s", out);         /* std::mutex */
    cr_expect(strstr(out, "shop::browse()"), "%s", out);             /* std::shared_mutex, shared */
    cr_expect(strstr(out, "shop::update_catalog()"), "%s", out);     /* std::shared_mutex */
    /* the table skips libstdc++'s lock plumbing; the folded stacks keep it */
    cr_expect(!strstr(out, "std::mutex::lock()") && !strstr(out, "__gthread"), "%s", out);
    cr_expect(!strstr(out, "_ZN"), "mangled names left:\n%s", out);
    free(out);
    char *block = ps_folded(path);
    cr_expect(strstr(block, "std::mutex::lock()"), "libstdc++'s inline frames:\n%s", block);
    cr_expect(ps_folded_sum(block, "*;shop::restock(int);*;pthread_mutex_lock") > 0, "%s", block);
    cr_expect(ps_folded_sum(block, "*;shop::browse();*;pthread_rwlock_rdlock") > 0, "%s", block);
    cr_expect(ps_folded_sum(block, "*;shop::update_catalog();*;pthread_rwlock_wrlock") > 0, "%s",
              block);
    /* libstdc++'s condition_variable::wait tail-calls pthread_cond_wait, so
     * the caller is the inline predicate loop in take_order. */
    cr_expect(ps_folded_sum(block, "*;shop::take_order();*pthread_cond_wait") > 0, "%s", block);
    free(block);
    cr_assert_eq(ps_profiles(dir, "mutex", 0, -1, path), 1);
    char *mutex = ps_folded(path);
    cr_expect(ps_folded_sum(mutex, "*;shop::restock(int);*;pthread_mutex_unlock") > 0, "%s", mutex);
    free(mutex);
}

/* A binary bound to pthread_cond_*@GLIBC_2.2.5 keeps working: the
 * interposer's condition-variable functions are GLIBC_2.3.2 only. */
Test(preload, old_condition_variable_abi)
{
    char dir[64];
    ps_tmpdir(dir);
    int st = ps_sh(NULL, RUN1 SP_PROGS "/old_cond >/dev/null 2>&1", dir);
    cr_assert_eq(st, 0, "old_cond: status %d", st);
}

/* Every malloc takes a pthread mutex (as jemalloc's and tcmalloc's do),
 * including those of the profiler itself while it records and writes. */
Test(preload, allocator_that_locks)
{
    char dir[64], *block, *mutex;
    ps_tmpdir(dir);
    int st = ps_sh(NULL, "LD_PRELOAD=" SP_PROGS "/libmutexmalloc.so " RUN1 SP_PROGS
                   "/cxx_locks >/dev/null 2>&1", dir);
    cr_assert_eq(st, 0, "cxx_locks with a locking malloc: status %d", st);
    ps_sh(NULL, "rm -f '%s'/*.pb.gz", dir);
    run_each(dir, "mutex_lock", &block, &mutex);
    cr_expect(ps_folded_sum(block, "*;do_mutex_lock;pthread_mutex_lock") > 0, "%s", block);
    free(block);
    free(mutex);
    ps_sh(NULL, "rm -f '%s'/*.pb.gz", dir);
    st = ps_sh(NULL, "LD_PRELOAD=" SP_PROGS "/libmutexmalloc.so " RUN1 SP_PROGS
               "/each all >/dev/null 2>&1", dir);
    cr_assert_eq(st, 0, "each with a locking malloc: status %d", st);
    char path[4096];
    cr_assert_eq(ps_profiles(dir, "block", 0, -1, path), 1);
    free(ps_folded(path));
}

/* libearly.so's constructor starts locking threads; ld.so runs it before
 * the interposer's own constructor (checked below with LD_DEBUG=libs). */
Test(preload, threads_before_init)
{
    char dir[64], *out;
    ps_tmpdir(dir);
    ps_sh(&out, "cd '%s' && LD_DEBUG=libs LD_PRELOAD=" TOOLS_DIR "/libsyncprof-preload.so "
          SP_PROGS "/hostile_early early 2>&1 | grep -o 'calling init: .*' | "
          "grep -E 'libearly|libsyncprof-preload'", dir);
    const char *early = strstr(out, "libearly"), *ours = strstr(out, "libsyncprof-preload");
    cr_expect(early && ours && early < ours, "init order:\n%s", out);
    free(out);
    for (int i = 0; i < 5; i++) {
        int st = ps_sh(NULL, RUN1 SP_PROGS "/hostile_early early >/dev/null 2>&1", dir);
        cr_assert_eq(st, 0, "hostile_early: status %d", st);
    }
}

Test(preload, fork_child_writes_its_own_files)
{
    char dir[64], parent[4096], child[4096];
    ps_tmpdir(dir);
    int st = ps_sh(NULL, RUN1 SP_PROGS "/hostile fork 2>/dev/null", dir);
    cr_assert_eq(st, 0, "status %d", st);
    cr_assert_eq(ps_profiles(dir, "block", 0, -1, NULL), 2, "one block profile per process");
    cr_assert_eq(ps_profiles(dir, "mutex", 0, -1, NULL), 2);
    /* The child is the one whose block profile has child_work (its join
     * of the contenders); both have the contenders' unlocks. */
    char *a, *b;
    long first;
    ps_profiles(dir, "block", 0, -1, parent);
    cr_assert_eq(sscanf(strrchr(parent, '/'), "/block.%ld", &first), 1);
    ps_profiles(dir, "block", 0, first, child);
    a = ps_folded(parent);
    b = ps_folded(child);
    bool a_child = ps_folded_sum(a, "*;child_work;contend;pthread_join") > 0;
    bool b_child = ps_folded_sum(b, "*;child_work;contend;pthread_join") > 0;
    cr_expect(a_child != b_child, "exactly one process ran child_work:\n%s\n--\n%s", a, b);
    cr_expect(ps_folded_sum(a_child ? b : a, "*;main;contend;pthread_join") > 0, "%s", a);
    free(a);
    free(b);
    char m[4096];
    snprintf(m, sizeof m, "%s/mutex.%ld.pb.gz", dir, first);
    a = ps_folded(m);
    cr_expect(ps_folded_sum(a, "*;contender;pthread_mutex_unlock") > 0, "%s", a);
    free(a);
}

Test(preload, exit_while_threads_blocked)
{
    char dir[64], path[4096];
    ps_tmpdir(dir);
    int st = ps_sh(NULL, RUN1 SP_PROGS "/hostile exit_blocked 2>/dev/null", dir);
    cr_assert_eq(st, 3, "status %d", st);
    cr_assert_eq(ps_profiles(dir, "mutex", 0, -1, path), 1);
    char *m = ps_folded(path);
    cr_expect(ps_folded_sum(m, "*;contender;pthread_mutex_unlock") > 0, "%s", m);
    free(m);
}

Test(preload, exec_while_threads_blocked)
{
    char dir[64];
    ps_tmpdir(dir);
    int st = ps_sh(NULL, RUN1 SP_PROGS "/hostile exec_blocked 2>/dev/null", dir);
    cr_assert_eq(st, 4, "status %d", st);
}

Test(preload, closed_stderr)
{
    char dir[64], path[4096];
    ps_tmpdir(dir);
    int st = ps_sh(NULL, RUN1 SP_PROGS "/hostile closed_stderr", dir);
    cr_assert_eq(st, 0, "status %d", st);
    cr_assert_eq(ps_profiles(dir, "block", 0, -1, path), 1);
    free(ps_folded(path));
}

/* fd 2 closed and reused by the program for its own file: our summary must
 * not end up in it. */
Test(preload, reused_stderr_gets_no_summary)
{
    char dir[64], *out;
    ps_tmpdir(dir);
    int st = ps_sh(NULL, RUN1 SP_PROGS "/hostile reused_stderr '%s/data'", dir, dir);
    cr_assert_eq(st, 0, "status %d", st);
    cr_assert_eq(ps_sh(&out, "cat '%s/data'", dir), 0);
    cr_expect_str_eq(out, "program data\n");
    free(out);
    cr_expect_eq(ps_profiles(dir, "mutex", 0, -1, NULL), 1);
}

/* stderr is a pipe nobody reads any more: the summary gets EPIPE, the
 * program still exits 0 (not by SIGPIPE). */
Test(preload, closed_stderr_pipe)
{
    char dir[64];
    ps_tmpdir(dir);
    int st = ps_sh(NULL, "bash -c '" RUN1 SP_PROGS "/each mutex_lock 2>&1 >/dev/null | head -c 0;"
                   " exit ${PIPESTATUS[0]}'", dir);
    cr_assert_eq(st, 0, "status %d", st);
}

/* SIGUSR2 writes the profiles while the program runs (hostile waits for
 * the file before going on), and exit writes them again. */
Test(preload, write_signal)
{
    char dir[64], path[4096], *err;
    ps_tmpdir(dir);
    int st = ps_sh(&err, RUN1 SP_PROGS "/hostile write_signal 2>&1 >/dev/null", dir);
    cr_assert_eq(st, 0, "status %d\n%s", st, err);
    cr_expect(strstr(err, "syncprof: wrote mutex profile to "), "%s", err);
    cr_expect(strstr(err, "syncprof: mutex profile (mutex fraction 1)"), "%s", err);
    free(err);
    cr_assert_eq(ps_profiles(dir, "mutex", 0, -1, path), 1);
    free(ps_folded(path));
    /* Off: the signal keeps its default action (the program dies of it). */
    st = ps_sh(NULL, "SYNCPROF_WRITE_SIGNAL=0 " RUN1 SP_PROGS "/hostile write_signal "
               ">/dev/null 2>&1", dir);
    cr_expect_eq(st, 128 + 12, "status %d", st);
}

#endif /* __SANITIZE_ADDRESS__ */
