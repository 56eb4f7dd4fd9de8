/*
 * test_errors.c - the wrappers never change what a program sees, and bad
 * input never costs what was recorded.
 *
 * Specification: each wrapper returns exactly what the pthread call returns
 * (EBUSY, ETIMEDOUT, EDEADLK, EPERM, EOWNERDEAD; recursive mutexes work);
 * NULL objects give EINVAL instead of a crash; a failed write returns its
 * errno and leaves the profile as it was; many threads on many locks with
 * every event recorded lose no update.
 */
#include <syncprof/pthread.h>

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "profile_reader.h"

/* ---- The version ---- */

/* The library's version is its headers' (CMakeLists.txt checks those
 * against the project's VERSION at configure time). */
Test(errors, version_is_the_headers)
{
    char want[48];
    snprintf(want, sizeof want, "%d.%d.%d", SYNCPROF_VERSION_MAJOR, SYNCPROF_VERSION_MINOR,
             SYNCPROF_VERSION_PATCH);
    cr_expect_str_eq(syncprof_version(), want);
}

/* ---- NULL objects ---- */

Test(errors, null_objects_give_einval)
{
    struct timespec ts = { 0, 0 };
    cr_expect_eq(pthread_mutex_lock(NULL), EINVAL);
    cr_expect_eq(pthread_mutex_trylock(NULL), EINVAL);
    cr_expect_eq(pthread_mutex_timedlock(NULL, &ts), EINVAL);
    cr_expect_eq(pthread_mutex_clocklock(NULL, CLOCK_MONOTONIC, &ts), EINVAL);
    cr_expect_eq(pthread_mutex_unlock(NULL), EINVAL);
    cr_expect_eq(syncprof_mutex_lock(NULL), EINVAL);
    cr_expect_eq(syncprof_mutex_unlock(NULL), EINVAL);
    cr_expect_eq(pthread_rwlock_rdlock(NULL), EINVAL);
    cr_expect_eq(pthread_rwlock_wrlock(NULL), EINVAL);
    cr_expect_eq(pthread_rwlock_tryrdlock(NULL), EINVAL);
    cr_expect_eq(pthread_rwlock_trywrlock(NULL), EINVAL);
    cr_expect_eq(pthread_rwlock_timedrdlock(NULL, &ts), EINVAL);
    cr_expect_eq(pthread_rwlock_timedwrlock(NULL, &ts), EINVAL);
    cr_expect_eq(pthread_rwlock_unlock(NULL), EINVAL);
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    cr_expect_eq(pthread_cond_wait(NULL, &m), EINVAL);
    cr_expect_eq(pthread_cond_wait(&c, NULL), EINVAL);
    cr_expect_eq(pthread_cond_timedwait(NULL, &m, &ts), EINVAL);
    cr_expect_eq(pthread_cond_clockwait(&c, NULL, CLOCK_MONOTONIC, &ts), EINVAL);
    cr_expect_eq(pthread_cond_signal(NULL), EINVAL);
    cr_expect_eq(pthread_cond_broadcast(NULL), EINVAL);
    cr_expect_eq(pthread_barrier_wait(NULL), EINVAL);
    errno = 0;
    cr_expect_eq(sem_wait(NULL), -1);
    cr_expect_eq(errno, EINVAL);
    errno = 0;
    cr_expect_eq(sem_timedwait(NULL, &ts), -1);
    cr_expect_eq(errno, EINVAL);
}

/* ---- the same results as raw pthreads ---- */

static pthread_mutex_t shared_mu;

static void *try_from_other_thread(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)pthread_mutex_trylock(&shared_mu);
}

static void *unlock_from_other_thread(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)pthread_mutex_unlock(&shared_mu);
}

static int in_other_thread(void *(*fn)(void *))
{
    pthread_t t;
    void *ret;
    cr_assert_eq(pthread_create(&t, NULL, fn, NULL), 0);
    cr_assert_eq(pthread_join(t, &ret), 0);
    return (int)(intptr_t)ret;
}

static void init_mutex(int type, bool robust)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, type);
    if (robust)
        pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    cr_assert_eq(pthread_mutex_init(&shared_mu, &a), 0);
    pthread_mutexattr_destroy(&a);
}

Test(errors, errorcheck_mutex_results)
{
    syncprof_set_mutex_profile_fraction(1);
    syncprof_set_block_profile_rate(1);
    init_mutex(PTHREAD_MUTEX_ERRORCHECK, false);
    cr_expect_eq(pthread_mutex_unlock(&shared_mu), EPERM, "unlocking a free mutex");
    cr_expect_eq(pthread_mutex_lock(&shared_mu), 0);
    cr_expect_eq(pthread_mutex_lock(&shared_mu), EDEADLK, "relocking");
    cr_expect_eq(pthread_mutex_trylock(&shared_mu), EBUSY);
    struct timespec past = { 0, 0 };
    cr_expect_eq(pthread_mutex_timedlock(&shared_mu, &past), EDEADLK);
    cr_expect_eq(in_other_thread(try_from_other_thread), EBUSY);
    cr_expect_eq(in_other_thread(unlock_from_other_thread), EPERM, "not the owner");
    cr_expect_eq(pthread_mutex_unlock(&shared_mu), 0);
    cr_expect_eq(pthread_mutex_destroy(&shared_mu), 0);
}

Test(errors, recursive_mutex_results)
{
    syncprof_set_mutex_profile_fraction(1);
    init_mutex(PTHREAD_MUTEX_RECURSIVE, false);
    for (int i = 0; i < 5; i++)
        cr_expect_eq(pthread_mutex_lock(&shared_mu), 0);
    cr_expect_eq(pthread_mutex_trylock(&shared_mu), 0);
    cr_expect_eq(in_other_thread(try_from_other_thread), EBUSY);
    for (int i = 0; i < 6; i++)
        cr_expect_eq(pthread_mutex_unlock(&shared_mu), 0);
    cr_expect_eq(pthread_mutex_unlock(&shared_mu), EPERM);
    cr_expect_eq(in_other_thread(try_from_other_thread), 0, "free again");
}

static void *lock_and_die(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&shared_mu);
    return NULL; /* exits holding it */
}

Test(errors, robust_mutex_owner_died)
{
    syncprof_set_mutex_profile_fraction(1);
    syncprof_set_block_profile_rate(1);
    init_mutex(PTHREAD_MUTEX_NORMAL, true);
    in_other_thread(lock_and_die);
    cr_expect_eq(pthread_mutex_lock(&shared_mu), EOWNERDEAD);
    cr_expect_eq(pthread_mutex_consistent(&shared_mu), 0);
    cr_expect_eq(pthread_mutex_unlock(&shared_mu), 0);
    cr_expect_eq(pthread_mutex_lock(&shared_mu), 0);
    cr_expect_eq(pthread_mutex_unlock(&shared_mu), 0);
}

Test(errors, timeouts_and_bad_deadlines)
{
    syncprof_set_block_profile_rate(1);
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
    struct timespec past = { 1, 0 }, bad = { 0, 2000000000 };

    cr_expect_eq(pthread_mutex_timedlock(&m, &bad), 0, "glibc ignores the deadline of a free mutex");
    cr_expect_eq(pthread_mutex_trylock(&m), EBUSY);
    cr_expect_eq(pthread_mutex_unlock(&m), 0);
    cr_expect_eq(pthread_mutex_clocklock(&m, CLOCK_PROCESS_CPUTIME_ID, &past), EINVAL);

    cr_expect_eq(pthread_rwlock_timedrdlock(&rw, &bad), EINVAL, "glibc checks it first");
    cr_expect_eq(pthread_rwlock_wrlock(&rw), 0);
    cr_expect_eq(pthread_rwlock_trywrlock(&rw), EBUSY);
    cr_expect_eq(pthread_rwlock_tryrdlock(&rw), EBUSY);
    cr_expect_eq(pthread_rwlock_timedwrlock(&rw, &past), EDEADLK);
    cr_expect_eq(pthread_rwlock_unlock(&rw), 0);

    sem_t s;
    sem_init(&s, 0, 0);
    errno = 0;
    cr_expect_eq(sem_timedwait(&s, &past), -1);
    cr_expect_eq(errno, ETIMEDOUT);
    cr_expect_eq(sem_timedwait(&s, &bad), -1);
    cr_expect_eq(errno, EINVAL);
    sem_post(&s);
    errno = 1234;
    cr_expect_eq(sem_wait(&s), 0);
    cr_expect_eq(errno, 1234, "success leaves errno alone");
    sem_destroy(&s);
}

/* ---- writing ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

Test(errors, bad_writes_lose_nothing)
{
    syncprof_set_mutex_profile_fraction(1);
    syncprof_set_block_profile_rate(1);
    for (int i = 0; i < 10; i++)
        tp_contend_once(&mu, 0);
    struct tp_profile before, after;
    tp_read("mutex", &before);

    int fd = open("/dev/null", O_WRONLY);
    close(fd);
    cr_expect_eq(syncprof_write_profile("mutex", fd, 0), EBADF);
    cr_expect_eq(syncprof_write_profile("mutex", fd, 1), EBADF);
    cr_expect_eq(syncprof_write_profile("block", -1, 0), EBADF);
    cr_expect_eq(syncprof_write_profile("heap", 1, 0), EINVAL);
    cr_expect_eq(syncprof_write_profile(NULL, 1, 0), EINVAL);
    cr_expect_eq(syncprof_write_profile("mutex", 1, -1), EINVAL);
    cr_expect_eq(syncprof_write_profile_file("mutex", "/nonexistent-dir/x.pb.gz", 0), ENOENT);
    cr_expect_eq(syncprof_write_profile_file("mutex", NULL, 0), EINVAL);
    cr_expect_eq(syncprof_set_max_stacks(0), EINVAL);

    tp_read("mutex", &after);
    cr_expect_eq(tp_total_count(&after), tp_total_count(&before));
    cr_expect_eq(tp_total_delay(&after), tp_total_delay(&before));
    cr_expect_str_eq(after.text, before.text);
    tp_free(&before);
    tp_free(&after);
}

Test(errors, write_file_replaces_atomically)
{
    syncprof_set_mutex_profile_fraction(1);
    tp_contend_once(&mu, 0);
    char dir[] = "/tmp/syncprof-test-XXXXXX";
    cr_assert(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/mutex.txt", dir);
    cr_expect_eq(syncprof_write_profile_file("mutex", path, 1), 0);
    struct stat st;
    cr_expect_eq(stat(path, &st), 0);
    cr_expect(st.st_size > 0);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls %s | wc -l", dir);
    char *out;
    cr_expect_eq(tp_run(cmd, &out), 0);
    cr_expect_eq(atoi(out), 1, "no temporary file is left behind");
    free(out);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    tp_run(cmd, NULL);
}

/* ---- bounded memory: what does not fit is counted, not dropped ---- */

static __attribute__((noinline)) void event_from(int depth)
{
    if (depth > 0) {
        event_from(depth - 1);
        __asm__ volatile("" ::: "memory"); /* not a tail call */
        return;
    }
    pthread_mutex_lock(&mu);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, tp_take_and_release, &mu), 0);
    tp_wait_until_blocked(&mu);
    pthread_mutex_unlock(&mu);
    pthread_join(t, NULL);
}

Test(errors, stack_cap_keeps_totals)
{
    cr_assert_eq(syncprof_set_max_stacks(3), 0);
    syncprof_set_mutex_profile_fraction(1);
    for (int depth = 0; depth < 8; depth++)
        event_from(depth); /* 8 distinct unlocker stacks */
    struct tp_profile p;
    tp_read("mutex", &p);
    cr_expect_eq(tp_total_count(&p), 8, "%s", p.text);
    cr_expect_eq(p.n, 4, "3 stacks and the lost-samples stack:\n%s", p.text);
    int64_t lost;
    cr_expect_eq(tp_sum(&p, "syncprof_lost_samples", NULL, NULL, &lost), 1);
    cr_expect_eq(lost, 5);
    tp_free(&p);
}

/* ---- stress: 16 threads, 8 locks, every event recorded ---- */

#define STRESS_THREADS 16
#define STRESS_LOCKS 8
#define STRESS_OPS 100000

static pthread_mutex_t locks[STRESS_LOCKS];
static uint64_t counters[STRESS_LOCKS];

static void *stress_worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < STRESS_OPS; i++) {
        int k = (int)(rand_r(&seed) % STRESS_LOCKS);
        cr_assert_eq(pthread_mutex_lock(&locks[k]), 0);
        counters[k]++;
        cr_assert_eq(pthread_mutex_unlock(&locks[k]), 0);
    }
    return NULL;
}

Test(errors, stress_loses_no_update, .timeout = 240)
{
    syncprof_set_mutex_profile_fraction(1);
    syncprof_set_block_profile_rate(1);
    for (int k = 0; k < STRESS_LOCKS; k++)
        pthread_mutex_init(&locks[k], NULL);
    pthread_t t[STRESS_THREADS];
    for (uintptr_t i = 0; i < STRESS_THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, stress_worker, (void *)(i + 1)), 0);
    for (int i = 0; i < STRESS_THREADS; i++)
        pthread_join(t[i], NULL);
    uint64_t total = 0;
    for (int k = 0; k < STRESS_LOCKS; k++)
        total += counters[k];
    cr_expect_eq(total, (uint64_t)STRESS_THREADS * STRESS_OPS);

    /* Every recorded contention is one the stress made: all stacks pass
     * through stress_worker. */
    struct tp_profile p;
    tp_read("block", &p);
    int64_t count, all;
    tp_sum(&p, "pthread_mutex_lock", "stress_worker", NULL, &count);
    tp_sum(&p, "pthread_mutex_lock", NULL, NULL, &all);
    cr_expect_eq(count, all, "%s", p.text);
    cr_expect(count > 0, "16 threads on 8 locks must contend");
    tp_free(&p);
}

/* ---- fork: the child has only the forking thread ---- */

Test(errors, fork_child_forgets_other_threads_waits, .timeout = 60)
{
    syncprof_set_mutex_profile_fraction(1);
    syncprof_set_block_profile_rate(1);
    pthread_mutex_lock(&mu);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, tp_take_and_release, &mu), 0);
    tp_wait_until_blocked(&mu);

    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        /* The waiter does not exist here: unlocking charges nobody, and
         * recording and writing still work. */
        pthread_mutex_unlock(&mu);
        tp_contend_once(&mu, 0);
        struct tp_profile p;
        tp_read("mutex", &p);
        int64_t count;
        tp_sum(&p, "pthread_mutex_unlock", "tp_contend_once", NULL, &count);
        bool ok = tp_total_count(&p) == 1 && count == 1;
        tp_free(&p);
        _exit(ok ? 0 : 1);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    pthread_mutex_unlock(&mu);
    pthread_join(t, NULL);
}
