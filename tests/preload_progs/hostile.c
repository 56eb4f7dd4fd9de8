/*
 * hostile.c - what real programs do to a preloaded profiler, one mode per
 * run (`hostile MODE`), each after some real contention (contend()):
 *   fork          the child contends in child_work and exits; the parent
 *                 waits for it. Both exit 0.
 *   exit_blocked  threads stay blocked on a mutex, a condition variable and
 *                 a semaphore while main calls exit(3).
 *   exec_blocked  the same, but main execs itself as `hostile exec_done`,
 *                 which exits 4.
 *   closed_stderr closes fd 2 (and stdio's stderr) and exits 0.
 *   reused_stderr closes fd 2, opens argv[2] (which gets fd 2), writes one
 *                 line of its own there, exits 0.
 *   write_signal  raises SIGUSR2, waits until mutex.<pid>.pb.gz appears in
 *                 $SYNCPROF_OUT (at most 10 s), contends again, exits 0.
 *   early         contention from threads that libearly.so's constructor
 *                 started (see libearly.c); exits 0 when they all finished.
 */
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static sem_t never;
static long shared;

static void pause_us(long us)
{
    struct timespec t = { us / 1000000, (us % 1000000) * 1000 };
    nanosleep(&t, NULL);
}

static int contended; /* acquisitions that found mu held; atomic */

/* Takes mu 200 times, holding it 100 us each time, and then on until the
 * two contenders together found it held 20 times (at most 5 s): on a
 * loaded machine one thread may otherwise run all its rounds alone, and
 * a test that expects contention would see none. */
static void *contender(void *arg)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int i = 0;; i++) {
        if (pthread_mutex_trylock(&mu) != 0) {
            __atomic_fetch_add(&contended, 1, __ATOMIC_RELAXED);
            pthread_mutex_lock(&mu);
        }
        shared++;
        pause_us(100);
        pthread_mutex_unlock(&mu);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (i >= 200 && (__atomic_load_n(&contended, __ATOMIC_RELAXED) >= 20 ||
                         now.tv_sec - start.tv_sec >= 5))
            break;
    }
    return arg;
}

/* Two threads fighting over mu for about 40 ms. */
NOINLINE static void contend(void)
{
    __atomic_store_n(&contended, 0, __ATOMIC_RELAXED);
    pthread_t a, b;
    pthread_create(&a, NULL, contender, NULL);
    pthread_create(&b, NULL, contender, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
}

NOINLINE static void child_work(void) { contend(); }

static void *hold_forever(void *arg)
{
    pthread_mutex_lock(&mu);
    sem_wait(&never);
    return arg;
}

static void *lock_forever(void *arg)
{
    pthread_mutex_lock(&mu);
    return arg;
}

static void *wait_forever(void *arg)
{
    static pthread_mutex_t m2 = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&m2);
    for (;;)
        pthread_cond_wait(&cv, &m2);
    return arg;
}

static void block_threads(void)
{
    pthread_t t;
    pthread_create(&t, NULL, hold_forever, NULL);
    pause_us(20000);
    pthread_create(&t, NULL, lock_forever, NULL);
    pthread_create(&t, NULL, wait_forever, NULL);
    pause_us(20000);
}

#ifdef HOSTILE_EARLY
extern void early_join(void); /* libearly.so */
#else
static void (*early_join)(void);
#endif

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    sem_init(&never, 0, 0);
    if (strcmp(mode, "exec_done") == 0)
        return 4;
    if (strcmp(mode, "early") == 0) {
#ifndef HOSTILE_EARLY
        if (!early_join)
            return 2;
#endif
        early_join();
        return 0;
    }
    contend();
    if (strcmp(mode, "fork") == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            child_work();
            exit(0);
        }
        int status;
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
            return 1;
        return 0;
    }
    if (strcmp(mode, "exit_blocked") == 0) {
        block_threads();
        exit(3);
    }
    if (strcmp(mode, "exec_blocked") == 0) {
        block_threads();
        execl("/proc/self/exe", argv[0], "exec_done", (char *)NULL);
        return 1;
    }
    if (strcmp(mode, "closed_stderr") == 0) {
        fclose(stderr);
        close(2);
        contend();
        return 0;
    }
    if (strcmp(mode, "reused_stderr") == 0 && argc > 2) {
        close(2);
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd != 2)
            return 1;
        dprintf(2, "program data\n");
        contend();
        return 0;
    }
    if (strcmp(mode, "write_signal") == 0) {
        const char *dir = getenv("SYNCPROF_OUT");
        char path[4096];
        snprintf(path, sizeof path, "%s/mutex.%d.pb.gz", dir ? dir : ".", (int)getpid());
        raise(SIGUSR2);
        struct stat st;
        for (int i = 0; i < 1000 && stat(path, &st) != 0; i++)
            pause_us(10000);
        if (stat(path, &st) != 0)
            return 1;
        contend();
        return 0;
    }
    return 2;
}
