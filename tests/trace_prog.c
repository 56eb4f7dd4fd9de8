/*
 * trace_prog.c - the ground-truth program of test_trace.c: two named
 * locks, a condition variable and (compiled with TRACE_API) a channel and
 * a task that begins on one thread and ends on another, each wait timed by
 * the program itself and printed on stdout:
 *
 *   wait <thread> <kind> <object address> <ns>
 *
 * Built twice: with TRACE_API, against the library with <syncprof/
 * pthread.h> forced in (object names, regions, the task, the channel;
 * with an argument it traces through syncprof_trace_start into that file,
 * without one through SYNCPROF_TRACE), and plain, knowing nothing of
 * syncprof, for `syncprof run --trace`.
 *
 * The threads take turns through an atomic step counter polled with
 * usleep, which is not a wrapped wait, so the only waits are those timed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#ifdef TRACE_API
#include <syncprof/chan.h>
#include <syncprof/syncprof.h>
#include <syncprof/trace.h>
static syncprof_chan *ch;
#endif

static pthread_mutex_t lock_a = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t lock_b = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t cm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int flag; /* under cm */
static atomic_int step;

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void sleep_ms(int ms)
{
    struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&t, NULL);
}

static void wait_step(int s)
{
    while (atomic_load(&step) < s)
        usleep(200);
}

static void print_wait(const char *thread, const char *kind, const void *object, int64_t ns)
{
    char line[160];
    int n = snprintf(line, sizeof line, "wait %s %s %p %lld\n", thread, kind, object, (long long)ns);
    (void)!write(1, line, (size_t)n); /* no stdio lock: it would be a wrapped wait */
}

static void *holder(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "holder");
    pthread_mutex_lock(&lock_a);
    atomic_store(&step, 1);
    sleep_ms(30);
    pthread_mutex_unlock(&lock_a);

    wait_step(2);
    int64_t t0 = now_ns();
    pthread_mutex_lock(&lock_b);
    print_wait("holder", "mutex", &lock_b, now_ns() - t0);
    pthread_mutex_unlock(&lock_b);

    wait_step(3);
    sleep_ms(20);
    pthread_mutex_lock(&cm);
    flag = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&cm);
#ifdef TRACE_API
    wait_step(4);
    sleep_ms(20);
    syncprof_task task = syncprof_task_begin("request");
    syncprof_chan_send(ch, &task);
#endif
    return NULL;
}

static void *waiter(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "waiter");
    wait_step(1);
#ifdef TRACE_API
    syncprof_region_begin("outer");
    syncprof_region_begin("inner");
#endif
    int64_t t0 = now_ns();
    pthread_mutex_lock(&lock_a);
    print_wait("waiter", "mutex", &lock_a, now_ns() - t0);
    pthread_mutex_unlock(&lock_a);
#ifdef TRACE_API
    syncprof_region_end("inner");
    syncprof_region_end("outer");
#endif

    pthread_mutex_lock(&lock_b);
    atomic_store(&step, 2);
    sleep_ms(30);
    pthread_mutex_unlock(&lock_b);

    pthread_mutex_lock(&cm);
    atomic_store(&step, 3);
    t0 = now_ns();
    pthread_cond_wait(&cv, &cm); /* one wait: the holder signals once, 20 ms on */
    print_wait("waiter", "cond", &cv, now_ns() - t0);
    if (!flag)
        abort(); /* a spurious wake-up: the ground truth would be wrong */
    pthread_mutex_unlock(&cm);
#ifdef TRACE_API
    syncprof_task task = 0;
    bool ok;
    atomic_store(&step, 4);
    t0 = now_ns();
    syncprof_chan_recv(ch, &task, &ok);
    print_wait("waiter", "chan_recv", ch, now_ns() - t0);
    sleep_ms(5);
    syncprof_task_end(task);
#endif
    return NULL;
}

int main(int argc, char **argv)
{
#ifdef TRACE_API
    int fd = -1;
    syncprof_set_name(&lock_a, "lock_a");
    syncprof_set_name(&lock_b, "lock_b");
    syncprof_set_name(&cv, "ready");
    ch = syncprof_chan_make(sizeof(syncprof_task), 0);
    syncprof_set_name(ch, "requests");
    if (argc > 1) {
        fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || syncprof_trace_start(fd) != 0)
            return 2;
    }
#endif
    (void)argc;
    (void)argv;
    pthread_t h, w;
    pthread_create(&w, NULL, waiter, NULL);
    pthread_create(&h, NULL, holder, NULL);
    pthread_join(h, NULL);
    pthread_join(w, NULL);
#ifdef TRACE_API
    if (fd >= 0 && syncprof_trace_stop() != 0)
        return 3;
#endif
    return 0;
}
