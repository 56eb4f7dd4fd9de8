/*
 * test_dump.c - thread dumps (syncprof_dump_threads) and the "threads"
 * profile: every thread listed with its right wait reason, holder and
 * stack; a thread with all signals blocked shows "stack unavailable" and
 * the dump still completes; dumps are safe while other threads lock and
 * unlock at full speed; go tool pprof reads the debug 0 profile.
 */
#include <syncprof/pthread.h>

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "profile_reader.h"
#include "thread_dump.h"

/* ---- Reading a dump back ---------------------------------------------------------- */

static char *dump_text(void)
{
    int fd = memfd_create("dump", 0);
    cr_assert(fd >= 0);
    int r = syncprof_dump_threads(fd);
    cr_assert_eq(r, 0, "syncprof_dump_threads: %s", strerror(r));
    off_t len = lseek(fd, 0, SEEK_END);
    char *text = calloc(1, (size_t)len + 1);
    cr_assert(pread(fd, text, (size_t)len, 0) == len);
    close(fd);
    return text;
}

/* The section of thread tid ("thread TID ..." up to the next blank line),
 * malloc'd, or NULL. */
static char *section_of(const char *dump, int tid)
{
    char head[32];
    snprintf(head, sizeof head, "\nthread %d \"", tid);
    const char *p = strstr(dump, head);
    if (!p)
        return NULL;
    p++;
    const char *end = strstr(p, "\n\n");
    return strndup(p, end ? (size_t)(end - p) : strlen(p));
}

static int gettid_(void)
{
    return (int)syscall(SYS_gettid);
}

static int count_tasks(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* ---- Fifty threads in different primitives ------------------------------------------ */

enum kind { K_MUTEX, K_READ, K_WRITE, K_COND, K_SEM, K_BARRIER, K_JOIN, K_KINDS };
static const int how_many[K_KINDS] = { 10, 8, 2, 10, 10, 5, 4 };
static const char *const reason_of[K_KINDS] = { "mutex lock", "rwlock read", "rwlock write",
                                                "cond wait", "semaphore", "barrier", "join" };
static const char *const fn_of[K_KINDS] = { "mutex_waiter", "read_waiter", "write_waiter",
                                            "cond_waiter", "sem_waiter", "barrier_waiter",
                                            "join_waiter" };

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER, cm = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static sem_t never, deaf_sem;
static pthread_barrier_t bar;
static pthread_t forever; /* joined by the join waiters, never ends */
static atomic_int holder_tid, deaf_tid, deaf_sleeper_tid;
static atomic_int tids[64];
static atomic_int nstarted;

static void name_me(enum kind k, int i)
{
    char name[16];
    snprintf(name, sizeof name, "w%u-%u", (unsigned)k % 100u, (unsigned)i % 1000u);
    pthread_setname_np(pthread_self(), name);
}

static void *mutex_waiter(void *a) { pthread_mutex_lock(&m); (void)a; return NULL; }
static void *read_waiter(void *a) { pthread_rwlock_rdlock(&rw); (void)a; return NULL; }
static void *write_waiter(void *a) { pthread_rwlock_wrlock(&rw); (void)a; return NULL; }
static void *cond_waiter(void *a)
{
    pthread_mutex_lock(&cm);
    pthread_cond_wait(&c, &cm);
    (void)a;
    return NULL;
}
static void *sem_waiter(void *a) { sem_wait(&never); (void)a; return NULL; }
static void *barrier_waiter(void *a) { pthread_barrier_wait(&bar); (void)a; return NULL; }
static void *join_waiter(void *a) { pthread_join(forever, NULL); (void)a; return NULL; }
static void *(*const body_of[K_KINDS])(void *) = { mutex_waiter, read_waiter, write_waiter,
                                                  cond_waiter, sem_waiter, barrier_waiter,
                                                  join_waiter };

static void *start(void *arg)
{
    int slot = (int)(long)arg, k = 0, i = slot;
    while (i >= how_many[k])
        i -= how_many[k++];
    name_me((enum kind)k, i);
    tids[slot] = gettid_();
    nstarted++;
    return body_of[k](NULL);
}

static void *holder(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "holder");
    pthread_mutex_lock(&m);
    pthread_rwlock_wrlock(&rw);
    holder_tid = gettid_();
    for (;;)
        pause();
    return NULL;
}

static void *deaf(void *arg)
{
    (void)arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, NULL);
    pthread_setname_np(pthread_self(), "deaf");
    deaf_tid = gettid_();
    sem_wait(&deaf_sem);
    return NULL;
}

/* Blocks every signal and sleeps outside any wrapped wait: a full dump
 * must signal it for its stack, and cannot. */
static void *deaf_sleeper(void *arg)
{
    (void)arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, NULL);
    pthread_setname_np(pthread_self(), "deaf-sleeper");
    deaf_sleeper_tid = gettid_();
    for (;;)
        pause();
    return NULL;
}

static void *sleeper(void *arg)
{
    (void)arg;
    sem_wait(&deaf_sem);
    return NULL;
}

/* The rwlock's birth site, which the dump names it by (it has no name). */
static int rw_birth_line;

static void init_rw(void)
{
    rw_birth_line = __LINE__ + 1;
    pthread_rwlock_init(&rw, NULL);
}

static size_t waits_now(void)
{
    struct sp_thread_wait *w;
    size_t n;
    cr_assert_eq(sp_waits_collect(&w, &n, false), 0);
    free(w);
    return n;
}

Test(dump, fifty_threads_reason_holder_stack)
{
    sem_init(&never, 0, 0);
    sem_init(&deaf_sem, 0, 0);
    pthread_barrier_init(&bar, NULL, (unsigned)how_many[K_BARRIER] + 1);
    syncprof_set_name(&m, "the-mutex");
    init_rw();
    char rw_site[64];
    snprintf(rw_site, sizeof rw_site, " (test_dump.c:%d init_rw)", rw_birth_line);
    pthread_t t;
    pthread_create(&t, NULL, holder, NULL);
    while (!holder_tid)
        tp_sleep_ns(1000000);
    pthread_create(&forever, NULL, sleeper, NULL);
    pthread_create(&t, NULL, deaf, NULL);
    pthread_create(&t, NULL, deaf_sleeper, NULL);
    int total = 0;
    for (int k = 0; k < K_KINDS; k++)
        total += how_many[k];
    for (int s = 0; s < total; s++)
        pthread_create(&t, NULL, start, (void *)(long)s);
    /* everyone registered: the 49 waiters, the sleeper and the deaf thread */
    while (nstarted < total || waits_now() < (size_t)total + 2 || deaf_sleeper_tid == 0)
        tp_sleep_ns(1000000);
    tp_sleep_ns(20000000);

    char *dump = dump_text();
    int slot = 0;
    char holder_ref[64];
    snprintf(holder_ref, sizeof holder_ref, "held by thread %d \"holder\"", (int)holder_tid);
    for (int k = 0; k < K_KINDS; k++) {
        for (int i = 0; i < how_many[k]; i++, slot++) {
            char *sec = section_of(dump, tids[slot]);
            cr_assert(sec, "thread %d (%s) missing from the dump", (int)tids[slot], fn_of[k]);
            char head[64];
            snprintf(head, sizeof head, "\"w%d-%d\" [%s, ", k, i, reason_of[k]);
            cr_expect(strstr(sec, head), "expected %s in:\n%s", head, sec);
            cr_expect(strstr(sec, fn_of[k]), "no %s frame in:\n%s", fn_of[k], sec);
            cr_expect(strstr(sec, "pthread_wrappers.c"), "no wrapper frame in:\n%s", sec);
            if (k == K_MUTEX || k == K_READ || k == K_WRITE)
                cr_expect(strstr(sec, holder_ref), "no holder in:\n%s", sec);
            if (k == K_MUTEX)
                cr_expect(strstr(sec, "\"the-mutex\""), "no lock name in:\n%s", sec);
            if (k == K_READ || k == K_WRITE)
                cr_expect(strstr(sec, rw_site), "no birth site%s in:\n%s", rw_site, sec);
            free(sec);
        }
    }
    /* in a wrapped wait, a thread's stack is taken without a signal, so
     * blocking every signal does not hide it */
    char *sec = section_of(dump, deaf_tid);
    cr_assert(sec, "the deaf thread is missing");
    cr_expect(strstr(sec, "[semaphore, "), "%s", sec);
    cr_expect(strstr(sec, "deaf+"), "no stack from the wrapper's saved registers:\n%s", sec);
    cr_expect(!strstr(sec, "stack unavailable"), "%s", sec);
    free(sec);
    /* outside one, the signal is needed, and it says why it got no answer */
    sec = section_of(dump, deaf_sleeper_tid);
    cr_assert(sec, "the deaf sleeper is missing");
    cr_expect(strstr(sec, "stack unavailable (the thread blocks signal"), "%s", sec);
    free(sec);
    sec = section_of(dump, holder_tid);
    cr_assert(sec);
    cr_expect(strstr(sec, "holds mutex"), "the holder's locks, known from its waiters:\n%s", sec);
    free(sec);
    /* the caller's own stack starts at the public function */
    sec = section_of(dump, gettid_());
    cr_assert(sec);
    cr_expect(strstr(sec, "syncprof_dump_threads"), "%s", sec);
    free(sec);
    free(dump);
}

/* ---- Dumps during a stress run ------------------------------------------------------- */

#define STRESS_THREADS 6
#define STRESS_OPS 200000
static pthread_mutex_t slocks[4] = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
                                     PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER };
static long counts[4];

static void *stress(void *arg)
{
    unsigned seed = (unsigned)(long)arg;
    for (int i = 0; i < STRESS_OPS; i++) {
        int k = (int)(rand_r(&seed) % 4);
        pthread_mutex_lock(&slocks[k]);
        counts[k]++;
        pthread_mutex_unlock(&slocks[k]);
    }
    return NULL;
}

Test(dump, hundred_dumps_during_stress)
{
    syncprof_lock_tracking_enable();
    syncprof_set_mutex_profile_fraction(1);
    pthread_t t[STRESS_THREADS];
    for (long i = 0; i < STRESS_THREADS; i++)
        pthread_create(&t[i], NULL, stress, (void *)i);
    int fd = open("/dev/null", O_WRONLY);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(syncprof_dump_threads(fd), 0);
    close(fd);
    for (int i = 0; i < STRESS_THREADS; i++)
        pthread_join(t[i], NULL);
    cr_expect_eq(counts[0] + counts[1] + counts[2] + counts[3], (long)STRESS_THREADS * STRESS_OPS);
}

/* ---- The "threads" profile ------------------------------------------------------------ */

static sem_t parked;
static void *parked_thread(void *a)
{
    (void)a;
    sem_wait(&parked);
    return NULL;
}

Test(threads_profile, three_debug_levels)
{
    sem_init(&parked, 0, 0);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, parked_thread, NULL);
    while (waits_now() < 3)
        tp_sleep_ns(1000000);
    int tasks = count_tasks();

    /* debug 1: Go's goroutine profile text, one record for the 3 parked */
    int fd = memfd_create("t", 0);
    cr_assert_eq(syncprof_write_profile("threads", fd, 1), 0);
    char buf[1 << 16] = { 0 };
    pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    char head[64];
    snprintf(head, sizeof head, "goroutine profile: total %d\n", tasks);
    cr_expect(strncmp(buf, head, strlen(head)) == 0, "expected %s, got:\n%.200s", head, buf);
    cr_expect(strstr(buf, "\n3 @ "), "the 3 parked threads share one stack:\n%s", buf);
    cr_expect(strstr(buf, "parked_thread"), "%s", buf);

    /* debug 2: the full dump */
    fd = memfd_create("t", 0);
    cr_assert_eq(syncprof_write_profile("threads", fd, 2), 0);
    memset(buf, 0, sizeof buf);
    pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    cr_expect(strstr(buf, "syncprof: thread dump of process"), "%.300s", buf);

    /* debug 0: pprof that go tool pprof reads, goroutine/count per stack */
    char path[] = "/tmp/syncprof-threads-XXXXXX";
    int pfd = mkstemp(path);
    close(pfd);
    cr_assert_eq(syncprof_write_profile_file("threads", path, 0), 0);
    char cmd[512], *out;
    snprintf(cmd, sizeof cmd, "%s tool pprof -raw %s 2>&1", GO_EXECUTABLE, path);
    int st = tp_run(cmd, &out);
    unlink(path);
    cr_assert_eq(st, 0, "%s", out);
    cr_expect(strstr(out, "goroutine/count"), "%s", out);
    cr_expect(strstr(out, "parked_thread"), "%s", out);
    cr_expect(strstr(out, "          3: "), "one sample of 3 threads:\n%s", out);
    free(out);
    for (int i = 0; i < 3; i++)
        sem_post(&parked);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
}

Test(threads_profile, bad_arguments)
{
    cr_expect_eq(syncprof_write_profile("threads", -1, 0), EBADF);
    cr_expect_eq(syncprof_write_profile("threads", 1, -1), EINVAL);
    cr_expect_eq(syncprof_dump_threads(-1), EBADF);
}
