/*
 * dump_truth.c - every thread dump tells the truth: a thread is shown
 * waiting only while it is inside a wrapped wait, every way out of a wait
 * ends its record, and a contended lock names its holder.
 *
 * The scene, held still while 200 dumps are taken (compiled in:
 * syncprof_dump_threads into a pipe; under `syncprof run --dump-signal
 * QUIT`: SIGQUIT, read back from SYNCPROF_DUMP):
 *   holder    locks mutex M, then parks on a semaphore (not waiting for M);
 *   waiter    blocked on M: "[mutex lock, ...]", "held by thread H "holder"";
 *   timedout  timed out on M (ETIMEDOUT), then sits in epoll_wait: never
 *             shown waiting for anything;
 *   cancelled a thread cancelled in pthread_cond_wait on C, joined: no
 *             thread of the dump is shown waiting for C;
 *   reader    holds rwlock R1 for reading; wwaiter blocked writing R1:
 *             "[rwlock write, ...]";
 *   writer    holds rwlock R2 for writing; rwaiter blocked reading R2:
 *             "[rwlock read, ...]", "held by thread W "writer"".
 * Plain (no syncprof) the scene is built and torn down and nothing is
 * dumped.
 */
#include "harm.h" /* first: it defines _GNU_SOURCE */

#include <semaphore.h>
#include <stdatomic.h>
#include <sys/epoll.h>

#define DUMPS 200

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static pthread_rwlock_t r1 = PTHREAD_RWLOCK_INITIALIZER, r2 = PTHREAD_RWLOCK_INITIALIZER;
static sem_t park, ready;
static pid_t tid_holder, tid_waiter, tid_timedout, tid_reader, tid_wwaiter, tid_writer,
    tid_rwaiter;
static atomic_int stop;
static int epfd;

static void named(const char *name, pid_t *tid)
{
    pthread_setname_np(pthread_self(), name);
    *tid = harm_gettid();
}

static void *holder(void *arg)
{
    (void)arg;
    named("holder", &tid_holder);
    pthread_mutex_lock(&m);
    sem_post(&ready);
    while (sem_wait(&park) != 0)
        ;
    pthread_mutex_unlock(&m);
    return NULL;
}

static void *waiter(void *arg)
{
    (void)arg;
    named("waiter", &tid_waiter);
    sem_post(&ready);
    pthread_mutex_lock(&m);
    pthread_mutex_unlock(&m);
    return NULL;
}

static void *timedout(void *arg)
{
    (void)arg;
    named("timedout", &tid_timedout);
    struct timespec t = harm_deadline(CLOCK_REALTIME, 10000000);
    int r = pthread_mutex_timedlock(&m, &t);
    if (r != ETIMEDOUT)
        die("timedlock on a held mutex returned %d, not ETIMEDOUT", r);
    sem_post(&ready);
    struct epoll_event ev;
    while (!stop)
        epoll_wait(epfd, &ev, 1, 100); /* EINTR from a dump's signal: again */
    return NULL;
}

static pthread_mutex_t cm = PTHREAD_MUTEX_INITIALIZER;
static int cond_ready;
static void unlock_cm(void *arg)
{
    (void)arg;
    pthread_mutex_unlock(&cm);
}

static void *cond_waiter(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "cancelled");
    pthread_mutex_lock(&cm);
    cond_ready = 1;
    pthread_cleanup_push(unlock_cm, NULL);
    for (;;)
        pthread_cond_wait(&c, &cm);
    pthread_cleanup_pop(0);
    return NULL;
}

static void *reader(void *arg)
{
    (void)arg;
    named("reader", &tid_reader);
    pthread_rwlock_rdlock(&r1);
    sem_post(&ready);
    while (sem_wait(&park) != 0)
        ;
    pthread_rwlock_unlock(&r1);
    return NULL;
}

static void *wwaiter(void *arg)
{
    (void)arg;
    named("wwaiter", &tid_wwaiter);
    sem_post(&ready);
    pthread_rwlock_wrlock(&r1);
    pthread_rwlock_unlock(&r1);
    return NULL;
}

static void *writer(void *arg)
{
    (void)arg;
    named("writer", &tid_writer);
    pthread_rwlock_wrlock(&r2);
    sem_post(&ready);
    while (sem_wait(&park) != 0)
        ;
    pthread_rwlock_unlock(&r2);
    return NULL;
}

static void *rwaiter(void *arg)
{
    (void)arg;
    named("rwaiter", &tid_rwaiter);
    sem_post(&ready);
    pthread_rwlock_rdlock(&r2);
    pthread_rwlock_unlock(&r2);
    return NULL;
}

static void wait_ready(int n)
{
    for (int i = 0; i < n; i++)
        while (sem_wait(&ready) != 0)
            ;
}

/* The section of thread tid in dump (up to the next blank line), copied
 * into out; 0 if tid is not in the dump. */
static int section(const char *dump, pid_t tid, char *out, size_t cap)
{
    char head[48];
    snprintf(head, sizeof head, "thread %d \"", (int)tid);
    const char *p = strstr(dump, head);
    if (!p)
        return 0;
    const char *end = strstr(p, "\n\n");
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n >= cap)
        n = cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 1;
}

static void expect_in(const char *dump, int k, pid_t tid, const char *name, const char *want,
                      const char *must_not)
{
    char sec[8192];
    if (!section(dump, tid, sec, sizeof sec))
        die("dump %d: thread %d (%s) missing", k, (int)tid, name);
    char named_as[64];
    snprintf(named_as, sizeof named_as, "\"%s\" [", name);
    if (!strstr(sec, named_as))
        die("dump %d: %s not named in: %s", k, name, sec);
    if (want && !strstr(sec, want))
        die("dump %d: expected \"%s\" in: %s", k, want, sec);
    if (must_not && strstr(sec, must_not))
        die("dump %d: did not expect \"%s\" in: %s", k, must_not, sec);
}

static void check(const char *dump, int k)
{
    char held_by[64];
    expect_in(dump, k, tid_waiter, "waiter", "\"waiter\" [mutex lock, ", NULL);
    snprintf(held_by, sizeof held_by, "held by thread %d \"holder\"", (int)tid_holder);
    expect_in(dump, k, tid_waiter, "waiter", held_by, NULL);
    expect_in(dump, k, tid_holder, "holder", NULL, "[mutex lock");
    expect_in(dump, k, tid_timedout, "timedout", NULL, "waiting for");
    expect_in(dump, k, tid_wwaiter, "wwaiter", "\"wwaiter\" [rwlock write, ", NULL);
    expect_in(dump, k, tid_rwaiter, "rwaiter", "\"rwaiter\" [rwlock read, ", NULL);
    snprintf(held_by, sizeof held_by, "held by thread %d \"writer\"", (int)tid_writer);
    expect_in(dump, k, tid_rwaiter, "rwaiter", held_by, NULL);
    expect_in(dump, k, tid_reader, "reader", NULL, "[rwlock");
    char cond_addr[32];
    snprintf(cond_addr, sizeof cond_addr, "cond %p", (void *)&c);
    if (strstr(dump, cond_addr))
        die("dump %d: a thread is still shown waiting for the cancelled wait's cond", k);
}

/* One dump's text, malloc'd: compiled in, through a pipe; under `syncprof
 * run`, the last dump appended to SYNCPROF_DUMP after a SIGQUIT. */
static char *one_dump(int k)
{
#ifdef SYNCPROF_PTHREAD_H
    char path[] = "/tmp/harm-dump-truth.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        die("mkstemp");
    unlink(path);
    int r = syncprof_dump_threads(fd);
    if (r != 0)
        die("dump %d: syncprof_dump_threads returned %d", k, r);
    off_t len = lseek(fd, 0, SEEK_CUR);
    char *text = malloc((size_t)len + 1);
    if (!text || pread(fd, text, (size_t)len, 0) != len)
        die("dump %d: reading it back", k);
    text[len] = '\0';
    close(fd);
    return text;
#else
    const char *file = getenv("SYNCPROF_DUMP");
    int before = harm_count_in_file(file, 0, HARM_DUMP_HEADER);
    raise(SIGQUIT);
    for (int tries = 0; tries < 1000; tries++) {
        harm_sleep_us(10000);
        if (harm_count_in_file(file, 0, HARM_DUMP_HEADER) > before) {
            harm_sleep_us(20000); /* the dump is written in one write, but be sure */
            size_t len;
            char *all = harm_read_file(file, &len);
            char *last = all ? strstr(all, HARM_DUMP_HEADER) : NULL;
            for (char *p = last; p; p = strstr(p + 1, HARM_DUMP_HEADER))
                last = p;
            if (!last)
                die("dump %d: no dump in %s", k, file);
            char *text = strdup(last);
            free(all);
            return text;
        }
    }
    die("dump %d: no dump appeared in %s within 10 s", k, file);
#endif
}

int main(void)
{
    harm_init("harm_dump_truth");
    harm_step("building the scene", 30);
    sem_init(&park, 0, 0);
    sem_init(&ready, 0, 0);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    pthread_t t[8];
    pthread_create(&t[0], NULL, holder, NULL);
    wait_ready(1);
    pthread_create(&t[1], NULL, waiter, NULL);
    pthread_create(&t[2], NULL, timedout, NULL);
    pthread_create(&t[3], NULL, reader, NULL);
    pthread_create(&t[4], NULL, writer, NULL);
    wait_ready(4);
    pthread_create(&t[5], NULL, wwaiter, NULL);
    pthread_create(&t[6], NULL, rwaiter, NULL);
    wait_ready(2);
    /* a waiter cancelled in its condition wait, then joined */
    pthread_t ct;
    pthread_create(&ct, NULL, cond_waiter, NULL);
    for (;;) {
        pthread_mutex_lock(&cm);
        int r = cond_ready;
        pthread_mutex_unlock(&cm);
        if (r)
            break;
        harm_sleep_us(1000);
    }
    harm_sleep_us(20000); /* inside the wait by now */
    pthread_cancel(ct);
    void *ret;
    pthread_join(ct, &ret);
    if (ret != PTHREAD_CANCELED)
        die("the condition waiter was not cancelled");
    harm_sleep_us(50000); /* the blocked ones are blocked by now */

#ifdef SYNCPROF_PTHREAD_H
    int dumps = DUMPS;
#else
    int dumps = harm_preload_dumps() ? DUMPS : 0;
#endif
    harm_step("taking 200 dumps", 120);
    for (int k = 0; k < dumps; k++) {
        char *d = one_dump(k);
        check(d, k);
        free(d);
    }

    harm_step("tearing the scene down", 30);
    stop = 1;
    for (int i = 0; i < 3; i++)
        sem_post(&park);
    for (int i = 0; i < 7; i++)
        pthread_join(t[i], NULL);
    printf("harm_dump_truth: %d dumps, every state right\n", dumps);
    return 0;
}
