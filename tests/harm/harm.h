/*
 * harm.h - what the "do no harm" programs share: failing with one line, a
 * watchdog that names the step that hung, time helpers, and the closing
 * "a dump and a profile write still succeed" check.
 *
 * The programs are plain pthread programs. Built the header way
 * (-include syncprof/pthread.h) the macro SYNCPROF_PTHREAD_H is defined and
 * the library is called directly; run under `syncprof run` (LD_PRELOAD
 * names libsyncprof-preload.so) the library is reached through its
 * signals; plain, the check does nothing.
 */
#ifndef HARM_H
#define HARM_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#ifdef SYNCPROF_PTHREAD_H
#include <syncprof/dump.h>
#include <syncprof/syncprof.h>
#endif

#define HARM_UNUSED __attribute__((unused))

static const char *harm_name = "harm";
static const char *volatile harm_step_name = "start";
/* Optional: called by the watchdog before it exits, to say more. It runs
 * in a signal handler of a hung process: keep it to snprintf and write. */
static void (*volatile harm_on_hang)(char *buf, size_t len);

/* One line on stderr, then exit status 1, without running atexit handlers
 * or waiting for threads that may be stuck. */
__attribute__((format(printf, 1, 2), noreturn, unused)) static void die(const char *fmt, ...)
{
    char line[512];
    int n = snprintf(line, sizeof line, "%s: FAIL: ", harm_name);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < sizeof line)
        n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line - 1)
        n = (int)strlen(line);
    line[n++] = '\n';
    ssize_t w = write(2, line, (size_t)n);
    (void)w;
    _exit(1);
}

static void harm_on_alarm(int sig)
{
    (void)sig;
    char line[768];
    int n = snprintf(line, sizeof line, "%s: FAIL: hung in step \"%s\" (watchdog, pid %d)",
                     harm_name, harm_step_name, (int)getpid());
    if (n < 0 || (size_t)n >= sizeof line)
        n = (int)strlen(line);
    if (harm_on_hang && (size_t)n < sizeof line - 2) {
        char more[256] = "";
        harm_on_hang(more, sizeof more);
        if (more[0])
            n += snprintf(line + n, sizeof line - (size_t)n, ": %s", more);
        if ((size_t)n >= sizeof line - 1)
            n = (int)sizeof line - 2;
    }
    line[n++] = '\n';
    ssize_t w = write(2, line, (size_t)n);
    (void)w;
    _exit(1);
}

/* Names the current step and (re)arms the watchdog: if the step is not
 * over (another harm_step, or harm_watchdog_off) within seconds, the process
 * prints which step hung and exits 1. */
HARM_UNUSED static void harm_step(const char *step, unsigned seconds)
{
    static int installed;
    if (!installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = harm_on_alarm;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGALRM, &sa, NULL);
        installed = 1;
    }
    harm_step_name = step;
    alarm(seconds);
}

HARM_UNUSED static void harm_watchdog_off(void)
{
    alarm(0);
}

/* Names the program (for its failure lines). Under `syncprof run`, empties
 * the SYNCPROF_DUMP file, which the library only appends to, so that it
 * holds this run's dumps only. */
HARM_UNUSED static void harm_init(const char *name)
{
    harm_name = name;
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *p = getenv("LD_PRELOAD"), *dump = getenv("SYNCPROF_DUMP");
    if (p && strstr(p, "syncprof") && dump && *dump) {
        int fd = open(dump, O_WRONLY | O_TRUNC | O_CLOEXEC);
        if (fd >= 0)
            close(fd);
    }
}

/* HARM_LOOPS (set smaller under sanitizers), or dflt. */
HARM_UNUSED static long harm_loops(long dflt)
{
    const char *s = getenv("HARM_LOOPS");
    if (!s || !*s)
        return dflt;
    long v = strtol(s, NULL, 10);
    return v > 0 ? v : dflt;
}

HARM_UNUSED static int64_t harm_now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The absolute time ns from now on clock. */
HARM_UNUSED static struct timespec harm_deadline(clockid_t clock, int64_t ns)
{
    int64_t t = harm_now_ns(clock) + ns;
    struct timespec ts = { (time_t)(t / 1000000000), (long)(t % 1000000000) };
    return ts;
}

HARM_UNUSED static void harm_sleep_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

HARM_UNUSED static pid_t harm_gettid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

/* The kernel's state letter of thread tid of this process ('R', 'S', ...),
 * or 0 if it cannot be read. */
HARM_UNUSED static char harm_thread_state(pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p[2] : 0;
}

/* Waits (up to ms milliseconds) until thread tid sleeps in the kernel.
 * 1 when it does, 0 if it never did in that time. */
HARM_UNUSED static int harm_wait_sleeping(pid_t tid, int ms)
{
    int64_t end = harm_now_ns(CLOCK_MONOTONIC) + (int64_t)ms * 1000000;
    do {
        char s = harm_thread_state(tid);
        if (s == 'S' || s == 'D')
            return 1;
        sched_yield();
    } while (harm_now_ns(CLOCK_MONOTONIC) < end);
    return 0;
}

/* Under `syncprof run`: LD_PRELOAD names the interposer. */
HARM_UNUSED static int harm_under_preload(void)
{
    const char *p = getenv("LD_PRELOAD");
    return p && strstr(p, "syncprof") != NULL;
}

/* Under `syncprof run` with SYNCPROF_DUMP_SIGNAL=QUIT: SIGQUIT asks for a
 * dump (otherwise it would kill the program). */
HARM_UNUSED static int harm_preload_dumps(void)
{
    const char *s = getenv("SYNCPROF_DUMP_SIGNAL");
    return harm_under_preload() && s &&
           (strcasecmp(s, "QUIT") == 0 || strcasecmp(s, "SIGQUIT") == 0 || strcmp(s, "3") == 0);
}

HARM_UNUSED static off_t harm_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* The whole file, NUL-terminated (malloc'ed), or NULL. */
HARM_UNUSED static char *harm_read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (!buf)
            break;
        if (n == cap) {
            char *b = realloc(buf, cap * 2 + 1);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = n;
    }
    return buf;
}

/* Occurrences of needle in the file from offset from on. */
HARM_UNUSED static int harm_count_in_file(const char *path, off_t from, const char *needle)
{
    size_t len;
    char *text = harm_read_file(path, &len);
    if (!text)
        return 0;
    int count = 0;
    if (from < 0 || (size_t)from > len)
        from = 0;
    for (const char *p = text + from; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        count++;
    free(text);
    return count;
}

/*
 * Asks the library for one dump, without waiting: compiled in, a dump to
 * fd (which must succeed: 0 returned); under `syncprof run` with the dump
 * signal, raise(SIGQUIT); plain, nothing. Returns 1 if a dump was asked.
 */
HARM_UNUSED static int harm_dump_now(int fd)
{
#ifdef SYNCPROF_PTHREAD_H
    int r = syncprof_dump_threads(fd);
    if (r != 0)
        die("syncprof_dump_threads returned %d (%s)", r, strerror(r));
    return 1;
#else
    (void)fd;
    if (harm_preload_dumps()) {
        raise(SIGQUIT);
        return 1;
    }
    return 0;
#endif
}

#define HARM_DUMP_HEADER "syncprof: thread dump of process"

/*
 * "Afterwards a dump and a profile write succeed."
 * Compiled in: syncprof_dump_threads to a file returns 0 and writes a dump;
 * syncprof_write_profile_file("mutex", ...) returns 0 and writes a non-empty
 * file. Under `syncprof run`: SIGQUIT (when SYNCPROF_DUMP_SIGNAL=QUIT and
 * SYNCPROF_DUMP name a file) adds a dump to SYNCPROF_DUMP within 10 s, and
 * SIGUSR2 (the write signal) writes SYNCPROF_OUT/mutex.<pid>.pb.gz within
 * 10 s. Plain: nothing to check.
 */
HARM_UNUSED static void harm_check_dump_and_profile(void)
{
    const char *out = getenv("SYNCPROF_OUT");
    char dir[512];
    snprintf(dir, sizeof dir, "%s", out && *out ? out : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp"));
#ifdef SYNCPROF_PTHREAD_H
    harm_step("final dump", 30);
    char path[600];
    snprintf(path, sizeof path, "%s/%s.%d.dump.txt", dir, harm_name, (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        die("cannot create %s: %s", path, strerror(errno));
    int r = syncprof_dump_threads(fd);
    close(fd);
    if (r != 0)
        die("final syncprof_dump_threads returned %d (%s)", r, strerror(r));
    if (harm_count_in_file(path, 0, HARM_DUMP_HEADER) != 1)
        die("final dump: %s holds no \"" HARM_DUMP_HEADER "\"", path);
    unlink(path);

    harm_step("final profile write", 30);
    snprintf(path, sizeof path, "%s/%s.%d.final-mutex.pb.gz", dir, harm_name, (int)getpid());
    r = syncprof_write_profile_file("mutex", path, 0);
    if (r != 0)
        die("final syncprof_write_profile_file(\"mutex\") returned %d (%s)", r, strerror(r));
    if (harm_file_size(path) <= 0)
        die("final syncprof_write_profile_file(\"mutex\"): %s is empty or missing", path);
    unlink(path);
    harm_watchdog_off();
#else
    if (!harm_under_preload())
        return;
    const char *dump = getenv("SYNCPROF_DUMP");
    if (harm_preload_dumps() && dump && *dump) {
        harm_step("final dump (SIGQUIT)", 30);
        off_t before = harm_file_size(dump);
        if (before < 0)
            before = 0;
        raise(SIGQUIT);
        int64_t end = harm_now_ns(CLOCK_MONOTONIC) + 10 * (int64_t)1000000000;
        while (harm_count_in_file(dump, before, HARM_DUMP_HEADER) < 1) {
            if (harm_now_ns(CLOCK_MONOTONIC) > end)
                die("final dump: no \"" HARM_DUMP_HEADER "\" in %s within 10 s of SIGQUIT", dump);
            harm_sleep_us(10000);
        }
    }
    if (out && *out) {
        harm_step("final profile write (SIGUSR2)", 30);
        char path[600];
        snprintf(path, sizeof path, "%s/mutex.%d.pb.gz", out, (int)getpid());
        unlink(path);
        raise(SIGUSR2);
        int64_t end = harm_now_ns(CLOCK_MONOTONIC) + 10 * (int64_t)1000000000;
        off_t last = -1;
        for (;;) {
            off_t sz = harm_file_size(path);
            if (sz > 0 && sz == last)
                break; /* written and no longer growing */
            last = sz;
            if (harm_now_ns(CLOCK_MONOTONIC) > end)
                die("final profile write: no %s within 10 s of SIGUSR2", path);
            harm_sleep_us(20000);
        }
    }
    harm_watchdog_off();
#endif
}

#endif /* HARM_H */
