/*
 * fork_busy.c - fork while other threads contend: the child of a fork
 * taken at any moment of the profiler's bookkeeping still locks, waits,
 * names its threads and exits.
 *
 * Four threads contend without pause on 64 mutexes, two at a time in one
 * order (a lock-order edge), so that the profiler's own tables (waits,
 * the per-lock table, lock identities, the lock-order graph) are busy at
 * any moment. Meanwhile main forks FORKS times; each child, under a
 * watchdog of its own, contends the same way with two threads on mutexes
 * of its own (the parent's may be held by a thread the child does not
 * have), names them, and exits: through exit(), which writes its profiles,
 * every other time, through _exit() otherwise. Pass: every child exits 0
 * in time, and so does the parent.
 *
 * With SYNCPROF_DUMP_SIGNAL=QUIT and SYNCPROF_DUMP=<file>, the first child
 * also sends itself SIGQUIT: the dump must be the child's own (its thread
 * "forked-child" in the file within 10 s), and its parent must not dump
 * (no parent-only thread "busy-58" in the file); the dumper is listed as
 * syncprof's own, without its frames.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "harm.h"

#define LOCKS 64
#define FORKS 200

static pthread_mutex_t parent_mx[LOCKS];
static pthread_mutex_t child_mx[LOCKS]; /* never touched by the parent */
static atomic_int stop;
static atomic_long parent_rounds;

struct worker {
    pthread_mutex_t *mx;
    unsigned seed;
    long rounds; /* 0: until stop */
};

/* Locks mx[i] then mx[j] (i < j, one order: no deadlock), in a loop. */
static void *contend(void *arg)
{
    struct worker *w = arg;
    char name[16];
    snprintf(name, sizeof name, "busy-%u", w->seed % 100);
    pthread_setname_np(pthread_self(), name);
    for (long r = 0; w->rounds ? r < w->rounds : !atomic_load(&stop); r++) {
        unsigned i = rand_r(&w->seed) % (LOCKS - 1);
        unsigned j = i + 1 + rand_r(&w->seed) % (LOCKS - 1 - i);
        pthread_mutex_lock(&w->mx[i]);
        pthread_mutex_lock(&w->mx[j]);
        pthread_mutex_unlock(&w->mx[j]);
        pthread_mutex_unlock(&w->mx[i]);
        if (w->mx == parent_mx)
            atomic_fetch_add(&parent_rounds, 1);
    }
    return NULL;
}

static void run_workers(pthread_mutex_t *mx, int n, long rounds, pthread_t *t,
                        struct worker *w)
{
    for (int i = 0; i < n; i++) {
        w[i] = (struct worker){ mx, (unsigned)(i * 7919 + 1), rounds };
        if (pthread_create(&t[i], NULL, contend, &w[i]) != 0)
            die("pthread_create failed");
    }
}

/* Whether path contains text. */
static int file_has(const char *path, const char *text)
{
    static char buf[1 << 20];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return strstr(buf, text) != NULL;
}

/* The dump file, when dumps on SIGQUIT go to one; else NULL. */
static const char *dump_file(void)
{
    const char *sig = getenv("SYNCPROF_DUMP_SIGNAL"), *file = getenv("SYNCPROF_DUMP");
    return sig && strcmp(sig, "QUIT") == 0 && file && *file ? file : NULL;
}

static void child_dumps_itself(const char *file)
{
    harm_step("the child's own dump", 10);
    pthread_setname_np(pthread_self(), "forked-child");
    raise(SIGQUIT);
    while (!file_has(file, "forked-child"))
        harm_sleep_us(10000);
    harm_sleep_us(100000); /* a dump of the parent, if one was wrongly woken */
    if (file_has(file, "busy-58"))
        die("the child's SIGQUIT dumped its parent");
    /* The dumper itself is listed as syncprof's own, without its frames. */
    if (!file_has(file, "\"syncprof-dump\": syncprof's own") ||
        file_has(file, "sp_threads_capture"))
        die("the dump shows the dumper's own frames, or not the dumper as syncprof's own");
}

static void child(int k)
{
    if (k == 0 && dump_file())
        child_dumps_itself(dump_file());
    harm_step("child contending", 10);
    pthread_t t[2];
    struct worker w[2];
    run_workers(child_mx, 2, 300, t, w);
    for (int i = 0; i < 2; i++)
        if (pthread_join(t[i], NULL) != 0)
            die("child: pthread_join failed");
    harm_step(k % 2 ? "child in exit()" : "child in _exit()", 10);
    if (k % 2)
        exit(0);
    _exit(0);
}

int main(void)
{
    harm_init("fork_busy");
    if (dump_file() && truncate(dump_file(), 0) != 0 && errno != ENOENT)
        die("cannot empty %s: %s", dump_file(), strerror(errno));
    for (int i = 0; i < LOCKS; i++) {
        pthread_mutex_init(&parent_mx[i], NULL);
        pthread_mutex_init(&child_mx[i], NULL);
    }
    pthread_t t[4];
    struct worker w[4];
    harm_step("starting the parent's workers", 10);
    run_workers(parent_mx, 4, 0, t, w);
    while (atomic_load(&parent_rounds) < 1000)
        harm_sleep_us(1000);
    long forks = harm_loops(FORKS);
    if (forks > FORKS)
        forks = FORKS;
    for (int k = 0; k < forks; k++) {
        harm_step("forking", 10);
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0)
            die("fork failed: %s", strerror(errno));
        if (pid == 0)
            child(k);
        harm_step("waiting for a child", 30);
        int status;
        if (waitpid(pid, &status, 0) != pid)
            die("waitpid failed: %s", strerror(errno));
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            die("child %d of %ld (pid %d) ended with status %#x", k, forks, (int)pid, status);
    }
    harm_step("stopping the parent's workers", 10);
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    harm_watchdog_off();
    printf("fork_busy: %ld children, %ld parent rounds\n", forks, atomic_load(&parent_rounds));
    return 0;
}
