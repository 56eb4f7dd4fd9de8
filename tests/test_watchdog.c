/*
 * test_watchdog.c - the watchdog (syncprof_watchdog_start): deadlock
 * cycles of two and three threads and through an rwlock are named at once
 * (thread by thread, lock by lock) and abort the process with
 * SYNCPROF_DEADLOCK_ABORT=1; a lost condition signal is a hang reported
 * after the timeout, not a deadlock; every thread asleep is Go's "all
 * threads are asleep"; waits with a deadline are never a deadlock. The
 * deadlocking runs are child processes (examples/deadlock).
 */
#include <syncprof/pthread.h>

#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "profile_reader.h"

/* Runs examples/deadlock MODE with env, stderr merged; returns the output
 * and sets *status to the shell's $? (128 + signal when killed). */
static char *run_example(const char *env, const char *mode, int *status)
{
    char cmd[1024], *out;
    snprintf(cmd, sizeof cmd,
             "%s timeout -s KILL 20 %s/deadlock %s 2>&1; echo \"status=$?\"",
             env, EXAMPLES_DIR, mode);
    cr_assert_eq(tp_run(cmd, &out), 0);
    const char *st = strstr(out, "status=");
    cr_assert(st, "%s", out);
    *status = atoi(st + 7);
    return out;
}

/* The longest wait, in seconds, that the dump printed for a thread in
 * "[mutex lock, S s]": how long the deadlock had formed when reported. */
static double longest_mutex_wait(const char *out)
{
    double worst = 0;
    for (const char *p = out; (p = strstr(p, "[mutex lock, ")) != NULL; p++) {
        double s = atof(p + strlen("[mutex lock, "));
        worst = s > worst ? s : worst;
    }
    return worst;
}

Test(watchdog, abba_deadlock_named_at_once_and_aborts)
{
    int status;
    char *out = run_example("SYNCPROF_HANG_TIMEOUT=60 SYNCPROF_DEADLOCK_ABORT=1", "abba", &status);
    cr_expect_eq(status, 134, "expected abort (134), got %d:\n%s", status, out);
    cr_expect(strstr(out, "syncprof: deadlock detected: a cycle of 2 threads"), "%s", out);
    cr_expect(strstr(out, "\"worker-0\" waits for mutex "), "%s", out);
    cr_expect(strstr(out, "\"worker-1\" waits for mutex "), "%s", out);
    cr_expect(strstr(out, "\"lock-A\" (mutex lock), held by thread "), "%s", out);
    cr_expect(strstr(out, "\"lock-B\" (mutex lock), held by thread "), "%s", out);
    cr_expect(strstr(out, "syncprof: thread dump of process"), "the dump follows:\n%s", out);
    cr_expect(!strstr(out, "blocked in"), "no hang report with a 60 s timeout:\n%s", out);
    /* reported within one second of forming: the dump right after the
     * report shows how long the deadlocked threads had been waiting */
    double waited = longest_mutex_wait(out);
    cr_expect(waited > 0 && waited < 1.0, "waited %.3f s before the report:\n%s", waited, out);
    free(out);
}

Test(watchdog, three_thread_cycle)
{
    int status;
    char *out = run_example("SYNCPROF_HANG_TIMEOUT=60 SYNCPROF_DEADLOCK_ABORT=1", "three", &status);
    cr_expect_eq(status, 134, "%s", out);
    cr_expect(strstr(out, "deadlock detected: a cycle of 3 threads"), "%s", out);
    for (int i = 0; i < 3; i++) {
        char who[32];
        snprintf(who, sizeof who, "\"worker-%d\" waits for", i);
        cr_expect(strstr(out, who), "%s missing:\n%s", who, out);
    }
    cr_expect(strstr(out, "\"lock-C\" (mutex lock)"), "%s", out);
    free(out);
}

Test(watchdog, cycle_through_rwlock)
{
    int status;
    char *out = run_example("SYNCPROF_HANG_TIMEOUT=60 SYNCPROF_DEADLOCK_ABORT=1", "rwlock", &status);
    cr_expect_eq(status, 134, "%s", out);
    cr_expect(strstr(out, "\"table-reader\" waits for rwlock "), "%s", out);
    cr_expect(strstr(out, "\"table\" (rwlock read), held by thread "), "%s", out);
    cr_expect(strstr(out, "\"table-writer\" waits for mutex "), "%s", out);
    free(out);
}

Test(watchdog, lost_signal_is_a_hang_not_a_deadlock)
{
    int status;
    /* killed by timeout -s KILL after 20 s would be too slow: 3 s is plenty */
    char cmd[512], *out;
    snprintf(cmd, sizeof cmd,
             "SYNCPROF_HANG_TIMEOUT=0.5 SYNCPROF_DEADLOCK_ABORT=1 timeout 3 %s/deadlock lost-signal 2>&1;"
             " echo \"status=$?\"", EXAMPLES_DIR);
    cr_assert_eq(tp_run(cmd, &out), 0);
    status = atoi(strstr(out, "status=") + 7);
    cr_expect_eq(status, 124, "ran until the timeout, not aborted:\n%s", out);
    cr_expect(strstr(out, "\"waiter\" blocked in cond wait for "), "%s", out);
    cr_expect(!strstr(out, "deadlock detected") && !strstr(out, "asleep"), "%s", out);
    /* reported once for the one situation */
    const char *first = strstr(out, "blocked in cond wait");
    cr_expect(first && !strstr(first + 1, "blocked in cond wait"), "%s", out);
    free(out);
}

Test(watchdog, all_threads_asleep)
{
    int status;
    char *out = run_example("SYNCPROF_HANG_TIMEOUT=60 SYNCPROF_DEADLOCK_ABORT=1", "all-asleep", &status);
    cr_expect_eq(status, 134, "%s", out);
    cr_expect(strstr(out, "syncprof: all threads are asleep - deadlock!"), "%s", out);
    cr_expect(!strstr(out, "deadlock detected"), "no cycle here:\n%s", out);
    free(out);
}

/* ---- In process: waits with a deadline are never a deadlock --------------------------- */

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static volatile int stop;

static void *timed_waiter(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&m);
    while (!stop) {
        struct timespec d;
        clock_gettime(CLOCK_REALTIME, &d);
        d.tv_nsec += 100000000;
        if (d.tv_nsec >= 1000000000) {
            d.tv_sec++;
            d.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&c, &m, &d);
    }
    pthread_mutex_unlock(&m);
    return NULL;
}

Test(watchdog, timed_waits_are_not_asleep)
{
    int fd = memfd_create("err", 0), saved = dup(2);
    dup2(fd, 2);
    cr_assert_eq(syncprof_watchdog_start(0.4), 0);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, timed_waiter, NULL);
    tp_sleep_ns(1200000000);
    stop = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(syncprof_watchdog_stop(), 0);
    dup2(saved, 2);
    char buf[4096] = { 0 };
    pread(fd, buf, sizeof buf - 1, 0);
    cr_expect_str_empty(buf, "the watchdog reported:\n%s", buf);
}

/* The main thread (the lowest tid, listed first) joins a thread that is
 * running, in no wait: not every thread is asleep, whichever thread the
 * check reads first. */
static void *busy_for_1200ms(void *arg)
{
    int64_t end = tp_now_ns() + 1200000000;
    while (tp_now_ns() < end)
        ;
    return arg;
}

Test(watchdog, a_running_thread_after_a_sleeping_one_is_not_all_asleep)
{
    int fd = memfd_create("err", 0), saved = dup(2);
    dup2(fd, 2);
    cr_assert_eq(syncprof_watchdog_start(0.4), 0);
    pthread_t t;
    pthread_create(&t, NULL, busy_for_1200ms, NULL);
    pthread_join(t, NULL); /* an untimed wait, for 1.2 s: three checks */
    cr_assert_eq(syncprof_watchdog_stop(), 0);
    dup2(saved, 2);
    char buf[4096] = { 0 };
    pread(fd, buf, sizeof buf - 1, 0);
    cr_expect(!strstr(buf, "all threads are asleep"), "the watchdog reported:\n%s", buf);
}

Test(watchdog, api_errors_and_restart)
{
    cr_expect_eq(syncprof_watchdog_start(0), EINVAL);
    cr_expect_eq(syncprof_watchdog_start(-1), EINVAL);
    cr_expect_eq(syncprof_watchdog_start(0.0 / 0.0), EINVAL);
    cr_expect_eq(syncprof_watchdog_start(2e6), EINVAL);
    cr_expect_eq(syncprof_watchdog_stop(), 0);
    cr_expect_eq(syncprof_watchdog_start(5), 0);
    cr_expect_eq(syncprof_watchdog_start(1), 0); /* re-timed */
    cr_expect_eq(syncprof_watchdog_stop(), 0);
    cr_expect_eq(syncprof_watchdog_start(5), 0);
    cr_expect_eq(syncprof_watchdog_stop(), 0);
    cr_expect_eq(syncprof_dump_on_signal(SIGKILL), EINVAL);
    cr_expect_eq(syncprof_dump_on_signal(0), EINVAL);
    cr_expect_eq(syncprof_dump_on_signal(1000), EINVAL);
}

Test(watchdog, dump_on_sigquit_keeps_running)
{
    char cmd[512], *out;
    snprintf(cmd, sizeof cmd,
             "SYNCPROF_HANG_TIMEOUT=60 SYNCPROF_DUMP_SIGNAL=QUIT timeout 10 %s/deadlock lost-signal 2>&1 &"
             " pid=$!; sleep 0.7; kill -QUIT $pid; sleep 0.7; kill -0 $pid && echo alive; kill $pid",
             EXAMPLES_DIR);
    tp_run(cmd, &out);
    cr_expect(strstr(out, "syncprof: signal 3 (Quit): dumping every thread"), "%s", out);
    cr_expect(strstr(out, "\"waiter\" [cond wait, "), "%s", out);
    cr_expect(strstr(out, "alive"), "the program goes on:\n%s", out);
    free(out);
    snprintf(cmd, sizeof cmd,
             "SYNCPROF_DUMP_SIGNAL=3 SYNCPROF_DUMP_EXIT=1 timeout 10 %s/deadlock lost-signal 2>&1 &"
             " pid=$!; sleep 0.7; kill -QUIT $pid; wait $pid; echo \"status=$?\"", EXAMPLES_DIR);
    tp_run(cmd, &out);
    cr_expect(strstr(out, "status=2"), "exit status 2 after the dump:\n%s", out);
    cr_expect(strstr(out, "thread dump of process"), "%s", out);
    free(out);
}
