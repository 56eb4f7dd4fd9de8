/*
 * test_wait_labels.c - every block sample carries the kind of its wait as
 * the label "wait" (mutex, rwlock_read, rwlock_write, cond, cond_timed,
 * join, sem, sem_timed, barrier, chan_recv), so that a reader drops idle
 * waits by kind: `go tool pprof -tagignore wait=cond_timed` removes exactly
 * those samples and nothing else.
 *
 * Each kind is produced once, in a function of its own, by a thread that
 * really blocks (block rate 1: every wait is kept), and the profile is read
 * back with `go tool pprof -raw`, Go's own reader.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <syncprof/chan.h>
#include <syncprof/pthread.h>

#include "pprof_raw.h"
#include "profile_reader.h"

static char dir[] = "/tmp/syncprof-waitlabels-XXXXXX";

static void setup(void)
{
    syncprof_set_block_profile_rate(1);
    cr_assert(mkdtemp(dir));
}

static void teardown(void)
{
    tp_remove_dir(dir);
}

/* go tool pprof -raw [flags] of the block profile. */
static void read_block(const char *flags, struct pr_profile *p)
{
    char *why = pr_read_written(dir, "block", flags, p);
    cr_assert_null(why, "%s", why);
}

/* ---- One waiter per kind, each in its own function ---------------------- */

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t barrier;
static sem_t sem;
static syncprof_chan *ch;

static __attribute__((noinline)) void *wait_mutex(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&m);
    pthread_mutex_unlock(&m);
    return NULL;
}

static __attribute__((noinline)) void *wait_rwlock_read(void *arg)
{
    (void)arg;
    pthread_rwlock_rdlock(&rw);
    pthread_rwlock_unlock(&rw);
    return NULL;
}

static __attribute__((noinline)) void *wait_rwlock_write(void *arg)
{
    (void)arg;
    pthread_rwlock_wrlock(&rw);
    pthread_rwlock_unlock(&rw);
    return NULL;
}

static __attribute__((noinline)) void *wait_cond_timed(void *arg)
{
    (void)arg;
    struct timespec t = tp_deadline_in(CLOCK_REALTIME, 20000000);
    pthread_mutex_lock(&m);
    int r = pthread_cond_timedwait(&c, &m, &t);
    pthread_mutex_unlock(&m);
    cr_assert_eq(r, ETIMEDOUT);
    return NULL;
}

static __attribute__((noinline)) void *wait_sem(void *arg)
{
    (void)arg;
    sem_wait(&sem);
    return NULL;
}

static __attribute__((noinline)) void *wait_sem_timed(void *arg)
{
    (void)arg;
    struct timespec t = tp_deadline_in(CLOCK_REALTIME, 20000000);
    cr_assert_eq(sem_timedwait(&sem, &t), -1);
    return NULL;
}

static __attribute__((noinline)) void *wait_barrier(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&barrier);
    return NULL;
}

static __attribute__((noinline)) void *wait_chan_recv(void *arg)
{
    (void)arg;
    int v;
    bool ok;
    syncprof_chan_recv(ch, &v, &ok);
    return NULL;
}

static __attribute__((noinline)) void *sleep_then_return(void *arg)
{
    (void)arg;
    tp_sleep_ns(5000000);
    return NULL;
}

/* The joining thread's own function. */
static __attribute__((noinline)) void wait_join(void)
{
    pthread_t t;
    pthread_create(&t, NULL, sleep_then_return, NULL);
    pthread_join(t, NULL);
}

/* The one waiter of cond: it waits until main signals. */
static int cond_go;
static __attribute__((noinline)) void *wait_cond(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&m);
    while (!cond_go)
        pthread_cond_wait(&c, &m);
    pthread_mutex_unlock(&m);
    return NULL;
}

static void produce_every_kind(void)
{
    pthread_t t;
    /* mutex, and a read and a write lock that wait for a writer */
    pthread_mutex_lock(&m);
    pthread_create(&t, NULL, wait_mutex, NULL);
    tp_wait_until_blocked(&m);
    pthread_mutex_unlock(&m);
    pthread_join(t, NULL);
    pthread_rwlock_wrlock(&rw);
    pthread_create(&t, NULL, wait_rwlock_read, NULL);
    tp_wait_until_blocked(&rw);
    pthread_rwlock_unlock(&rw);
    pthread_join(t, NULL);
    pthread_rwlock_wrlock(&rw);
    pthread_create(&t, NULL, wait_rwlock_write, NULL);
    tp_wait_until_blocked(&rw);
    pthread_rwlock_unlock(&rw);
    pthread_join(t, NULL);
    /* condition, woken; condition with a deadline, timed out */
    pthread_create(&t, NULL, wait_cond, NULL);
    tp_wait_until_blocked(&c);
    pthread_mutex_lock(&m);
    cond_go = 1;
    pthread_cond_signal(&c);
    pthread_mutex_unlock(&m);
    pthread_join(t, NULL);
    pthread_create(&t, NULL, wait_cond_timed, NULL);
    pthread_join(t, NULL);
    /* semaphore, posted; semaphore with a deadline, timed out */
    pthread_create(&t, NULL, wait_sem, NULL);
    tp_wait_until_blocked(&sem);
    sem_post(&sem);
    pthread_join(t, NULL);
    pthread_create(&t, NULL, wait_sem_timed, NULL);
    pthread_join(t, NULL);
    /* barrier of two: the helper waits for main */
    pthread_create(&t, NULL, wait_barrier, NULL);
    tp_wait_until_blocked(&barrier);
    pthread_barrier_wait(&barrier);
    pthread_join(t, NULL);
    /* channel receive, then a join */
    pthread_create(&t, NULL, wait_chan_recv, NULL);
    tp_sleep_ns(20000000);
    int v = 1;
    syncprof_chan_send(ch, &v);
    pthread_join(t, NULL);
    wait_join();
}

static const struct {
    const char *fn, *wait;
} kinds[] = {
    { "wait_mutex", "mutex" },         { "wait_rwlock_read", "rwlock_read" },
    { "wait_rwlock_write", "rwlock_write" }, { "wait_cond", "cond" },
    { "wait_cond_timed", "cond_timed" }, { "wait_sem", "sem" },
    { "wait_sem_timed", "sem_timed" }, { "wait_barrier", "barrier" },
    { "wait_chan_recv", "chan_recv" }, { "wait_join", "join" },
};
#define NKINDS (sizeof kinds / sizeof kinds[0])

/* The value of the sample's wait label ("wait:[v]"), in out (64 bytes). */
static bool wait_label(const struct pr_sample *s, char out[64])
{
    const char *p = strstr(s->labels, "wait:[");
    if (!p)
        return false;
    p += 6;
    size_t n = strcspn(p, "]");
    if (n >= 64)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

Test(wait_labels, each_kind_is_on_its_samples_and_tagignore_removes_exactly_it, .init = setup,
     .fini = teardown, .timeout = 60)
{
    pthread_barrier_init(&barrier, NULL, 2);
    sem_init(&sem, 0, 0);
    ch = syncprof_chan_make(sizeof(int), 0);
    cr_assert(ch);
    produce_every_kind();

    struct pr_profile all = { 0 };
    read_block("", &all);
    size_t per_kind[NKINDS] = { 0 };
    for (size_t i = 0; i < all.n; i++) {
        const struct pr_sample *s = &all.samples[i];
        char w[64];
        cr_assert(wait_label(s, w), "a block sample without a wait label: \"%s\"", s->labels);
        for (size_t k = 0; k < NKINDS; k++) {
            if (pr_has_function(&all, s, kinds[k].fn)) {
                cr_expect_str_eq(w, kinds[k].wait, "%s waited as %s", kinds[k].fn, w);
                per_kind[k]++;
            }
        }
    }
    for (size_t k = 0; k < NKINDS; k++)
        cr_expect_gt(per_kind[k], 0, "no sample of %s", kinds[k].fn);

    /* -tagignore drops exactly the samples of one kind */
    for (size_t k = 0; k < NKINDS; k++) {
        char flag[96];
        /* pprof matches tag values as regular expressions: anchored, so
         * "cond" does not also match "cond_timed" */
        snprintf(flag, sizeof flag, "'-tagignore=wait=^%s$'", kinds[k].wait);
        struct pr_profile kept = { 0 };
        read_block(flag, &kept);
        size_t want = 0;
        for (size_t i = 0; i < all.n; i++) {
            char w[64];
            if (wait_label(&all.samples[i], w) && strcmp(w, kinds[k].wait) != 0)
                want++;
        }
        cr_expect_eq(kept.n, want, "%s: %zu samples kept, %zu expected", flag, kept.n, want);
        for (size_t i = 0; i < kept.n; i++) {
            char w[64];
            cr_expect(wait_label(&kept.samples[i], w) && strcmp(w, kinds[k].wait) != 0,
                      "%s kept a %s sample", flag, w);
        }
        pr_free(&kept);
    }
    pr_free(&all);
    syncprof_chan_free(ch);
}

/* `syncprof report`: a block profile with wait kinds is shown as lock
 * waits and event waits, each with its own heaviest stacks, and
 * --ignore-wait drops exactly the kinds it names. */
Test(wait_labels, report_splits_lock_waits_and_ignores_kinds, .init = setup, .fini = teardown,
     .timeout = 60)
{
    pthread_barrier_init(&barrier, NULL, 2);
    sem_init(&sem, 0, 0);
    ch = syncprof_chan_make(sizeof(int), 0);
    cr_assert(ch);
    produce_every_kind();
    char path[128], cmd[512];
    snprintf(path, sizeof path, "%s/block.pb.gz", dir);
    cr_assert_eq(syncprof_write_profile_file("block", path, 0), 0);

    char *out;
    snprintf(cmd, sizeof cmd, "%s/syncprof report %s --top 0 --depth 2", TOOLS_DIR, path);
    cr_assert_eq(tp_run(cmd, &out), 0, "%s", cmd);
    const char *locks = strstr(out, "Lock waits (mutex, rwlock):");
    const char *events = strstr(out, "Event waits (condition, semaphore, join, barrier, channel):");
    cr_assert(locks && events && locks < events, "no split table:\n%s", out);
    for (size_t k = 0; k < NKINDS; k++) {
        const char *at = strstr(out, kinds[k].fn);
        bool lock = strcmp(kinds[k].wait, "mutex") == 0 || strncmp(kinds[k].wait, "rwlock", 6) == 0;
        cr_expect(at, "%s missing from the report:\n%s", kinds[k].fn, out);
        cr_expect(!at || (lock ? at < events : at > events), "%s in the wrong part:\n%s",
                  kinds[k].fn, out);
    }
    free(out);

    snprintf(cmd, sizeof cmd, "%s/syncprof report %s --folded --ignore-wait cond_timed "
             "--ignore-wait sem,join", TOOLS_DIR, path);
    cr_assert_eq(tp_run(cmd, &out), 0, "%s", cmd);
    for (size_t k = 0; k < NKINDS; k++) {
        bool ignored = strcmp(kinds[k].wait, "cond_timed") == 0 ||
                       strcmp(kinds[k].wait, "sem") == 0 || strcmp(kinds[k].wait, "join") == 0;
        char needle[64];
        snprintf(needle, sizeof needle, ";%s;", kinds[k].fn);
        bool found = strstr(out, needle) != NULL;
        snprintf(needle, sizeof needle, "%s;", kinds[k].fn);
        found = found || strncmp(out, needle, strlen(needle)) == 0;
        cr_expect(found != ignored, "%s (%s) %s:\n%s", kinds[k].fn, kinds[k].wait,
                  ignored ? "not dropped" : "dropped", out);
    }
    free(out);
    syncprof_chan_free(ch);
}
