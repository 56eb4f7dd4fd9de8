/*
 * test_dump_interrupt.c - what a thread dump does to the threads it looks
 * at (docs/dumps.md, "How stacks are taken"):
 *   - a thread blocked in a wrapped wait is never signalled: while a
 *     client takes 50 goroutine?debug=2 dumps over HTTP, its sem_wait and
 *     its cond_timedwait return only when their waits end (never EINTR,
 *     never early), and every dump shows it waiting with its stack;
 *   - with SYNCPROF_DUMP_INTERRUPT=0 (sp_threads_set_interrupt(false)) a
 *     thread in nanosleep sleeps its full time through 50 full dumps;
 *   - without it, a full dump does interrupt such a thread (the
 *     documented EINTR), so the setting is what keeps it asleep;
 *   - the threads profile (goroutine?debug=1) never interrupts a
 *     sleeping thread;
 *   - a thread asleep in a channel operation (the slot of an unbuffered
 *     channel, the queue of a buffered one) is shown with its stack even
 *     when dumps may not interrupt sleepers: the stack comes from the
 *     registers its wait saved.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <syncprof/chan.h>
#include <syncprof/http.h>
#include <syncprof/pthread.h>

#include "http_client.h"
#include "profile_reader.h"
#include "thread_stacks.h"

static sem_t sem;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static atomic_int sem_eintr, sem_done, cond_early, cond_done;
static atomic_int sem_tid, cond_tid;
static int cond_go;

static void *sem_waiter(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "sem-waiter");
    sem_tid = (int)syscall(SYS_gettid);
    while (sem_wait(&sem) != 0)
        if (errno == EINTR)
            sem_eintr++;
    sem_done = 1;
    return NULL;
}

static void *cond_waiter(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "cond-waiter");
    cond_tid = (int)syscall(SYS_gettid);
    struct timespec deadline = tp_deadline_in(CLOCK_REALTIME, 60LL * 1000000000);
    pthread_mutex_lock(&m);
    while (!cond_go) {
        int r = pthread_cond_timedwait(&c, &m, &deadline);
        if (!cond_go)
            cond_early++; /* woken with nothing to do: a spurious return */
        if (r == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&m);
    cond_done = 1;
    return NULL;
}

Test(dump_interrupt, waiting_threads_are_never_signalled_by_50_http_dumps, .timeout = 120)
{
    cr_assert_eq(syncprof_http_start("127.0.0.1:0"), 0);
    int port = syncprof_http_port();
    sem_init(&sem, 0, 0);
    pthread_t ts, tc;
    pthread_create(&ts, NULL, sem_waiter, NULL);
    pthread_create(&tc, NULL, cond_waiter, NULL);
    tp_wait_until_blocked(&sem);
    tp_wait_until_blocked(&c);

    char sem_head[64], cond_head[64];
    for (int i = 0; i < 50; i++) {
        struct hc_response r;
        cr_assert_eq(hc_get(port, "/debug/pprof/goroutine?debug=2", &r), 0);
        cr_assert_eq(r.status, 200);
        snprintf(sem_head, sizeof sem_head, "thread %d \"sem-waiter\" [semaphore, ",
                 (int)sem_tid);
        snprintf(cond_head, sizeof cond_head, "thread %d \"cond-waiter\" [cond wait, ",
                 (int)cond_tid);
        const char *s = strstr(r.body, sem_head), *k = strstr(r.body, cond_head);
        cr_assert(s, "dump %d: the semaphore waiter is not shown waiting:\n%s", i, r.body);
        cr_assert(k, "dump %d: the condition waiter is not shown waiting:\n%s", i, r.body);
        cr_expect(strstr(s, "sem_waiter"), "dump %d: no stack for the semaphore waiter", i);
        hc_free(&r);
    }
    cr_expect_eq(sem_done, 0, "sem_wait returned before it was posted");
    cr_expect_eq(cond_done, 0, "the condition wait returned before it was signalled");
    sem_post(&sem);
    pthread_mutex_lock(&m);
    cond_go = 1;
    pthread_cond_signal(&c);
    pthread_mutex_unlock(&m);
    pthread_join(ts, NULL);
    pthread_join(tc, NULL);
    cr_expect_eq(sem_eintr, 0, "sem_wait returned EINTR %d times", (int)sem_eintr);
    cr_expect_eq(cond_early, 0, "the condition wait returned early %d times", (int)cond_early);
    syncprof_http_stop();
}

/* A thread that sleeps ms in one nanosleep and reports how it ended. */
struct sleeper {
    long ms;
    atomic_int started;
    int result, err;
    int64_t slept_ns;
};

static void *sleep_once(void *arg)
{
    struct sleeper *s = arg;
    struct timespec t = { s->ms / 1000, (s->ms % 1000) * 1000000 };
    s->started = 1;
    int64_t t0 = tp_now_ns();
    s->result = nanosleep(&t, NULL);
    s->err = errno;
    s->slept_ns = tp_now_ns() - t0;
    return NULL;
}

/* Starts a sleeper of ms, takes dumps full dumps (or threads profiles)
 * while it sleeps, and joins it. */
static void dumps_during_sleep(struct sleeper *s, long ms, int dumps, bool full)
{
    memset(s, 0, sizeof *s);
    s->ms = ms;
    pthread_t t;
    pthread_create(&t, NULL, sleep_once, s);
    while (!s->started)
        tp_sleep_ns(1000000);
    tp_sleep_ns(20000000); /* inside nanosleep by now */
    FILE *null = fopen("/dev/null", "w");
    cr_assert(null);
    for (int i = 0; i < dumps; i++)
        cr_assert_eq(full ? syncprof_dump_threads(fileno(null))
                          : syncprof_write_profile("threads", fileno(null), 1),
                     0);
    fclose(null);
    pthread_join(t, NULL);
}

Test(dump_interrupt, with_dump_interrupt_0_a_sleeping_thread_sleeps_its_full_time, .timeout = 60)
{
    struct sleeper s;
    sp_threads_set_interrupt(false);
    dumps_during_sleep(&s, 400, 50, true);
    sp_threads_set_interrupt(true);
    cr_expect_eq(s.result, 0, "nanosleep returned -1 (errno %d) through 50 dumps", s.err);
    cr_expect_geq(s.slept_ns, 400000000, "slept %lld ns of 400 ms", (long long)s.slept_ns);

    /* the control: a full dump that may interrupt does cut the sleep */
    dumps_during_sleep(&s, 400, 5, true);
    cr_expect_eq(s.result, -1, "a full dump did not interrupt nanosleep: the test proves nothing");
    cr_expect_eq(s.err, EINTR);
}

Test(dump_interrupt, the_threads_profile_never_interrupts_a_sleeping_thread, .timeout = 60)
{
    struct sleeper s;
    dumps_during_sleep(&s, 300, 50, false);
    cr_expect_eq(s.result, 0, "nanosleep returned -1 (errno %d) through 50 profiles", s.err);
    cr_expect_geq(s.slept_ns, 300000000);
}

/* Thread body: one receive on the channel arg, which blocks until the test
 * sends. */
static void *chan_receiver(void *arg)
{
    int v;
    bool ok;
    syncprof_chan_recv(arg, &v, &ok);
    return NULL;
}

/* The full dump, read back from a temporary file. */
static char *full_dump(void)
{
    FILE *f = tmpfile();
    cr_assert(f);
    cr_assert_eq(syncprof_dump_threads(fileno(f)), 0);
    long n = ftell(f);
    if (n <= 0) {
        fseek(f, 0, SEEK_END);
        n = ftell(f);
    }
    char *text = calloc(1, (size_t)n + 1);
    rewind(f);
    cr_assert_eq(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return text;
}

Test(dump_interrupt, a_sleeping_channel_waiter_is_dumped_from_its_saved_registers, .timeout = 60)
{
    syncprof_chan *unbuffered = syncprof_chan_make(sizeof(int), 0);
    syncprof_chan *buffered = syncprof_chan_make(sizeof(int), 4);
    pthread_t t[2];
    pthread_create(&t[0], NULL, chan_receiver, unbuffered);
    pthread_create(&t[1], NULL, chan_receiver, buffered);
    tp_wait_until_blocked(unbuffered);
    tp_wait_until_blocked(buffered);
    tp_sleep_ns(50000000); /* past the spin, asleep on the futex */

    sp_threads_set_interrupt(false);
    char *dump = full_dump();
    sp_threads_set_interrupt(true);
    int shown = 0;
    for (const char *at = dump; (at = strstr(at, "[chan receive, ")); at++) {
        const char *end = strstr(at, "\n\n");
        const char *frame = strstr(at, "chan_receiver");
        cr_expect(frame && (!end || frame < end), "a channel waiter without its stack:\n%s", dump);
        shown++;
    }
    cr_expect_eq(shown, 2, "%d of 2 channel waiters shown:\n%s", shown, dump);
    free(dump);

    int v = 1;
    syncprof_chan_send(unbuffered, &v);
    syncprof_chan_send(buffered, &v);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    syncprof_chan_free(unbuffered);
    syncprof_chan_free(buffered);
}
