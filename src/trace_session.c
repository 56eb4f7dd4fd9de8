/*
 * trace_session.c - starting and stopping the execution tracer, its writer
 * thread, and the trace the environment asks for (SYNCPROF_TRACE,
 * SYNCPROF_TRACE_MIN).
 *
 * One trace at a time. Starting maps the rings (once), writes the
 * process's tracks and starts the writer thread, then raises
 * syncprof__tracing; stopping lowers it, and the writer drains every ring
 * one last time, writes the lost count and ends. The writer drains the
 * rings every DRAIN_MS, so each thread's ring only has to hold what it
 * records in that time.
 *
 * Exit, fork, exec. A trace running at exit is stopped by an atexit
 * handler, so the file ends complete. In a child of fork the trace is the
 * parent's: the child stops tracing without writing (it may start its
 * own). The file is opened close-on-exec and always holds whole packets
 * between writes, so a program that execs leaves a decodable trace; the
 * new program, if SYNCPROF_TRACE still names the file, appends its own
 * trace to it (SYNCPROF_TRACE_PID says which process started the file;
 * any other process writes FILE.<pid>).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <syncprof/trace.h>

#include "clock.h"
#include "env.h"
#include "export.h"
#include "sampling.h"
#include "thread_registry.h"
#include "trace.h"
#include "trace_encode.h"
#include "trace_session.h"

#define DRAIN_MS 10

SP_PUBLIC unsigned char syncprof__tracing;

static uint32_t session;          /* atomic */
static int64_t min_wait_next;     /* for traces started from now on; atomic */
static int64_t min_wait_now;      /* of the running trace; atomic */

/* Start and stop, one at a time; taken inside the profiler. */
static pthread_mutex_t control = PTHREAD_MUTEX_INITIALIZER;
static struct {
    bool running;
    pthread_t writer;
    int stop;          /* the writer's last drain is asked for; atomic */
    int fd;
    bool close_fd;     /* SYNCPROF_TRACE's file: closed when the trace stops */
    uint64_t lost_base; /* the lost count when the trace started */
    struct sp_trace_out out; /* the writer's */
} S;

uint32_t sp_trace_session(void)
{
    return __atomic_load_n(&session, __ATOMIC_RELAXED);
}

int64_t sp_trace_min_wait(void)
{
    return __atomic_load_n(&min_wait_now, __ATOMIC_RELAXED);
}

SP_PUBLIC int syncprof_trace_set_min_wait(int64_t ns)
{
    if (ns < 0)
        return EINVAL;
    __atomic_store_n(&min_wait_next, ns, __ATOMIC_RELAXED);
    return 0;
}

static uint64_t lost_total(void)
{
    uint64_t n = sp_trace_ring_unowned_lost();
    struct sp_trace_ring *r = sp_trace_rings();
    for (unsigned i = 0, used = sp_trace_rings_used(); i < used; i++)
        n += __atomic_load_n(&r[i].lost, __ATOMIC_RELAXED);
    return n;
}

static void drain_all(void)
{
    struct sp_trace_ring *r = sp_trace_rings();
    for (unsigned i = 0, used = sp_trace_rings_used(); i < used; i++)
        sp_trace_ring_drain(&r[i], sp_trace_out_record, &S.out);
    sp_trace_out_lost(&S.out, lost_total() - S.lost_base);
    sp_trace_out_flush(&S.out);
}

/* The last drain and the closing packets; the writer's, or at exit the
 * exiting thread's when the writer itself is exiting. */
static void finish(void)
{
    drain_all();
    sp_trace_out_unfinished(&S.out, sp_now_ns());
    sp_trace_out_end(&S.out, lost_total() - S.lost_base);
}

static void *writer_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "syncprof-trace"); /* dumps list it as syncprof's own */
    sp_service_thread_register();
    while (!__atomic_load_n(&S.stop, __ATOMIC_ACQUIRE)) {
        drain_all();
        struct timespec ts = { 0, DRAIN_MS * 1000000L };
        nanosleep(&ts, NULL);
        sp_service_thread_tick();
    }
    finish();
    sp_service_thread_unregister();
    return NULL;
}

/* Stops the running trace; control is held. */
static int stop_locked(void)
{
    if (!S.running)
        return ENOENT;
    __atomic_store_n(&syncprof__tracing, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&S.stop, 1, __ATOMIC_RELEASE);
    if (pthread_equal(pthread_self(), S.writer))
        finish(); /* the writer exits the process (sp_service_thread_tick) */
    else
        pthread_join(S.writer, NULL);
    S.running = false;
    int err = S.out.err;
    if (S.close_fd)
        close(S.fd);
    S.close_fd = false;
    sp_trace_rings_release_memory();
    return err;
}

static void stop_at_exit(void)
{
    sp_enter_profiler();
    /* The writer, exiting the process, may be what holds nothing here;
     * anyone else holding control is finishing a start or stop. */
    pthread_mutex_lock(&control);
    stop_locked();
    pthread_mutex_unlock(&control);
    sp_leave_profiler();
}

static void forget_in_child(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    control = fresh;
    if (!S.running)
        return;
    __atomic_store_n(&syncprof__tracing, 0, __ATOMIC_RELAXED);
    S.running = false;
    if (S.close_fd)
        close(S.fd);
    S.close_fd = false;
    free(S.out.buf);
    S.out.buf = NULL;
}

static int start_locked(int fd)
{
    static bool handlers;
    if (S.running)
        return EBUSY;
    if (!sp_trace_rings_map())
        return ENOMEM;
    uint32_t s = __atomic_add_fetch(&session, 1, __ATOMIC_RELAXED);
    int64_t min = __atomic_load_n(&min_wait_next, __ATOMIC_RELAXED);
    __atomic_store_n(&min_wait_now, min, __ATOMIC_RELAXED);
    if (!sp_trace_out_begin(&S.out, fd, s, min))
        return ENOMEM;
    S.fd = fd;
    S.stop = 0;
    S.lost_base = lost_total();
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(&S.writer, NULL, writer_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0) {
        free(S.out.buf);
        S.out.buf = NULL;
        return EAGAIN;
    }
    if (!handlers) {
        handlers = true;
        atexit(stop_at_exit);
        pthread_atfork(NULL, NULL, forget_in_child);
    }
    S.running = true;
    __atomic_store_n(&syncprof__tracing, 1, __ATOMIC_RELEASE);
    return 0;
}

SP_PUBLIC int syncprof_trace_start(int fd)
{
    if (fd < 0)
        return EBADF;
    sp_enter_profiler();
    pthread_mutex_lock(&control);
    int r = start_locked(fd);
    pthread_mutex_unlock(&control);
    sp_leave_profiler();
    return r;
}

SP_PUBLIC int syncprof_trace_stop(void)
{
    sp_enter_profiler();
    pthread_mutex_lock(&control);
    int r = stop_locked();
    pthread_mutex_unlock(&control);
    sp_leave_profiler();
    return r;
}

/* ---- SYNCPROF_TRACE ----------------------------------------------------------- */

void sp_trace_from_environment(void)
{
    long long v;
    if (sp_env_int("SYNCPROF_TRACE_MIN", 0, LLONG_MAX, &v))
        syncprof_trace_set_min_wait(v);
    const char *file = sp_getenv("SYNCPROF_TRACE");
    if (!file || !*file)
        return;
    char path[PATH_MAX], me[32];
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC;
    snprintf(me, sizeof me, "%d", (int)getpid());
    const char *starter = sp_getenv("SYNCPROF_TRACE_PID");
    if (!starter) {
        setenv("SYNCPROF_TRACE_PID", me, 1);
        snprintf(path, sizeof path, "%s", file);
        flags |= O_TRUNC;
    } else if (strcmp(starter, me) == 0) {
        snprintf(path, sizeof path, "%s", file); /* this process, after an exec */
        flags |= O_APPEND;
    } else {
        snprintf(path, sizeof path, "%s.%s", file, me); /* a child process */
        flags |= O_TRUNC;
    }
    int fd = open(path, flags, 0644);
    if (fd < 0) {
        sp_env_refuse("SYNCPROF_TRACE", file, strerror(errno));
        return;
    }
    int e = syncprof_trace_start(fd);
    if (e != 0) {
        close(fd);
        sp_env_refuse("SYNCPROF_TRACE", file, strerror(e));
        return;
    }
    S.close_fd = true;
}
