/*
 * dump_signal.c - dumps on a signal: syncprof_dump_on_signal and
 * SYNCPROF_DUMP_SIGNAL / SYNCPROF_DUMP_EXIT.
 *
 * The handler only writes one byte to a pipe (async-signal-safe); a
 * dedicated thread, "syncprof-dump", reads it and does the dump, which
 * needs malloc and the symbolizer. The pipe's write end is non-blocking:
 * signals that arrive while a dump is pending merge into it. Set-up is
 * under setup_lock (a spinlock held for a pipe2 and a pthread_create).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <syncprof/syncprof.h>

#include "dump_signal.h"
#include "env.h"
#include "export.h"
#include "sampling.h"
#include "signal_names.h"
#include "spinlock.h"
#include "report_sink.h"
#include "thread_dump.h"
#include "thread_registry.h"
#include "thread_stacks.h"

static sp_spinlock setup_lock = SP_SPINLOCK_INIT;
static int wake_pipe[2] = { -1, -1 }; /* set once under setup_lock */
static bool exit_after;               /* SYNCPROF_DUMP_EXIT; set at load */

static void on_dump_signal(int sig)
{
    int saved_errno = errno;
    unsigned char c = (unsigned char)sig;
    ssize_t w = write(__atomic_load_n(&wake_pipe[1], __ATOMIC_RELAXED), &c, 1);
    (void)w; /* a full pipe already holds a pending dump */
    errno = saved_errno;
}

static void *dumper(void *arg)
{
    (void)arg;
    sp_service_thread_register();
    sp_service_thread_signals();
    pthread_setname_np(pthread_self(), "syncprof-dump");
    unsigned char sig;
    for (;;) {
        struct pollfd pfd = { .fd = wake_pipe[0], .events = POLLIN };
        if (poll(&pfd, 1, SP_SERVICE_TICK_MS) == 0) {
            sp_service_thread_tick();
            continue;
        }
        ssize_t r = read(wake_pipe[0], &sig, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return NULL;
        char line[96];
        int len = snprintf(line, sizeof line, "syncprof: signal %d (%s): dumping every thread\n",
                           sig, strsignal(sig));
        sp_report_text(line, (size_t)len);
        sp_report_dump(NULL, 0);
        if (exit_after) {
            static const char msg[] = "syncprof: SYNCPROF_DUMP_EXIT=1: exit status 2\n";
            sp_report_text(msg, sizeof msg - 1);
            _exit(2);
        }
    }
}

static int start_dumper(void);

/* The child of fork has no dumper thread, and the pipe it inherited is
 * shared with its parent: a signal to the child would make the parent
 * dump itself. The child gets a pipe and a dumper of its own, so that a
 * forked worker dumps as its parent does. */
static void restart_in_child(void)
{
    sp_spin_reset_in_child(&setup_lock);
    if (wake_pipe[0] < 0)
        return;
    close(wake_pipe[0]);
    close(wake_pipe[1]);
    wake_pipe[0] = wake_pipe[1] = -1;
    start_dumper();
}

/* Starts the dumper thread once. 0 or EAGAIN. */
static int start_dumper(void)
{
    static bool fork_handler;
    int r = 0;
    sp_spin_lock(&setup_lock);
    if (!fork_handler) {
        fork_handler = true;
        pthread_atfork(NULL, NULL, restart_in_child);
    }
    if (wake_pipe[0] < 0) {
        int p[2];
        pthread_t t;
        if (pipe2(p, O_CLOEXEC) != 0) {
            r = EAGAIN;
        } else {
            fcntl(p[1], F_SETFL, O_NONBLOCK);
            wake_pipe[0] = p[0];
            __atomic_store_n(&wake_pipe[1], p[1], __ATOMIC_RELEASE);
            if (pthread_create(&t, NULL, dumper, NULL) != 0) {
                r = EAGAIN;
            } else {
                pthread_detach(t);
            }
        }
    }
    sp_spin_unlock(&setup_lock);
    return r;
}

/* KILL and STOP cannot be caught, and a fault signal (SEGV, BUS, ...) must
 * stay the program's crash (see sp_signal_refusal): EINVAL for those. */
SP_PUBLIC int syncprof_dump_on_signal(int sig)
{
    if (sig <= 0 || sig >= NSIG || sp_signal_refusal(sig))
        return EINVAL;
    if (sp_stack_signal_install() == 0 && sig == sp_stack_signal())
        return EINVAL;
    int r = start_dumper();
    if (r != 0)
        return r;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_dump_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    return sigaction(sig, &sa, NULL) == 0 ? 0 : errno;
}

void sp_dump_signal_from_environment(void)
{
    bool on;
    if (sp_env_bool("SYNCPROF_DUMP_EXIT", &on))
        exit_after = on;
    const char *s = sp_getenv("SYNCPROF_DUMP_SIGNAL");
    if (!s || !*s)
        return;
    int refused, sig = sp_signal_parse(s, &refused);
    char why[128];
    if (sig == -2)
        sp_env_refuse("SYNCPROF_DUMP_SIGNAL", s,
                      sp_signal_refused_text(refused, "dumps", why, sizeof why));
    else if (sig <= 0 || syncprof_dump_on_signal(sig) != 0)
        sp_env_warn("SYNCPROF_DUMP_SIGNAL", s, "a signal name (QUIT, USR1, ...) or number");
}
