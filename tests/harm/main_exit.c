/*
 * main_exit.c - a program whose main thread calls pthread_exit() after
 * starting its workers exits when they finish.
 *
 * Three workers contend on a mutex, a condition variable and an rwlock for
 * about 300 ms; worker 1 then joins worker 0. Each prints "worker N done";
 * main prints "main: pthread_exit" and calls pthread_exit(NULL). When the
 * last thread ends, the process must exit with status 0 (an atexit handler
 * prints "atexit ran"). The program cannot see its own exit:
 * exits_in_time.sh runs it, with a time limit, and checks all of that.
 *
 * HARM_EXPECT_THREADS="name1 name2" (set by the entries that turn on the
 * library's service threads): before pthread_exit, main checks (for up to
 * 2 s) that threads of those names exist, so the entry cannot pass just
 * because the services never started.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "harm.h"

#define WORKERS 3

static pthread_mutex_t mx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static long counter, ticks; /* under mx */
static long shared_value;   /* under rw */
static pthread_t workers[WORKERS];
static int64_t end_ns;

/* One line on stdout, in one write (no stdio buffer left at exit). */
__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
    char line[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line || write(1, line, (size_t)n) != n)
        die("write to stdout failed");
}

static void *worker(void *arg)
{
    long id = (long)arg;
    long mine = 0;
    while (harm_now_ns(CLOCK_MONOTONIC) < end_ns) {
        pthread_mutex_lock(&mx);
        counter++;
        mine++;
        if (mine % 16 == 0) {
            /* A tick: wake a waiter, or wait (bounded) for the next tick. */
            long t = ++ticks;
            pthread_cond_broadcast(&cv);
            struct timespec ts = harm_deadline(CLOCK_REALTIME, 2000000);
            while (ticks == t && harm_now_ns(CLOCK_MONOTONIC) < end_ns)
                if (pthread_cond_timedwait(&cv, &mx, &ts) == ETIMEDOUT)
                    break;
        }
        pthread_mutex_unlock(&mx);
        if (mine % 8 == 0) {
            pthread_rwlock_wrlock(&rw);
            shared_value++;
            pthread_rwlock_unlock(&rw);
        } else {
            pthread_rwlock_rdlock(&rw);
            volatile long v = shared_value;
            (void)v;
            pthread_rwlock_unlock(&rw);
        }
    }
    if (id == 1) {
        void *ret;
        int r = pthread_join(workers[0], &ret);
        if (r != 0 || ret != (void *)0)
            die("worker 1: pthread_join of worker 0: %s", strerror(r));
        say("worker 1 joined worker 0\n");
    }
    say("worker %ld done (%ld iterations)\n", id, mine);
    return (void *)0;
}

static void at_exit(void)
{
    say("atexit ran (%ld increments)\n", counter);
}

/* Is there a thread of this process named name? */
static int thread_named(const char *name)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], comm[64] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, comm, sizeof comm - 1);
        close(fd);
        if (n > 0) {
            comm[n] = '\0';
            comm[strcspn(comm, "\n")] = '\0';
            found = strcmp(comm, name) == 0;
        }
    }
    closedir(d);
    return found;
}

static void expect_threads(void)
{
    const char *list = getenv("HARM_EXPECT_THREADS");
    if (!list || !*list)
        return;
    char copy[256];
    snprintf(copy, sizeof copy, "%s", list);
    char *save = NULL;
    for (char *name = strtok_r(copy, " ,", &save); name; name = strtok_r(NULL, " ,", &save)) {
        int64_t end = harm_now_ns(CLOCK_MONOTONIC) + 2 * (int64_t)1000000000;
        while (!thread_named(name)) {
            if (harm_now_ns(CLOCK_MONOTONIC) > end)
                die("no thread named \"%s\" (HARM_EXPECT_THREADS)", name);
            harm_sleep_us(10000);
        }
        say("thread \"%s\" present\n", name);
    }
}

int main(void)
{
    harm_init("harm_main_exit");
    /* Caught here only while a thread of the program is alive; after that,
     * by exits_in_time.sh's time limit. */
    harm_step("workers running, then the process exits", 8);
    if (atexit(at_exit) != 0)
        die("atexit failed");
    end_ns = harm_now_ns(CLOCK_MONOTONIC) + 300 * (int64_t)1000000;
    for (long i = 0; i < WORKERS; i++) {
        int r = pthread_create(&workers[i], NULL, worker, (void *)i);
        if (r != 0)
            die("pthread_create: %s", strerror(r));
    }
    /* Worker 2 is detached; 0 is joined by 1; 1 is never joined. */
    pthread_detach(workers[2]);
    expect_threads();
    say("main: pthread_exit\n");
    pthread_exit(NULL);
}
