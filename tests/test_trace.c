/*
 * test_trace.c - the execution tracer against ground truth: the waits a
 * program timed itself (tests/trace_prog.c) are in its trace, on the
 * right thread's track, named by the right object, within 1% of the
 * program's own timing, with an arrow from the thread that ended each
 * wait; regions nest as written; the task runs from one thread to the
 * other. Taken three ways: syncprof_trace_start, SYNCPROF_TRACE, and
 * `syncprof run --trace` on the program built knowing nothing of syncprof.
 * Every trace decodes against Perfetto's own schema (protoc). `syncprof
 * report --trace` names the holder and the waker of the longest waits,
 * each task's latency, and a convoy of threads queued on one lock. A
 * program that exits, forks or execs while tracing leaves a complete
 * trace (tests/trace_lifecycle_prog.c).
 */
#include <syncprof/pthread.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <syncprof/chan.h>
#include <syncprof/trace.h>

#include "preload_support.h"
#include "trace_check.h"

/*
 * The timing check: a thread preempted between the program's clock read
 * and the wrapper's (a loaded machine does that for milliseconds) makes
 * the program's time longer than the wait it measured. So a run whose
 * only fault is a duration off by more than 1% is taken again, up to
 * ATTEMPTS times; the last run's mismatches are what fail the test (the
 * retries are logged at info level: Criterion exits non-zero after any
 * warning, even when every test passed).
 *
 * The program's time is also longer by what the wrapper does after it has
 * read the wait's end: the first wait on a lock finds the lock's identity
 * and statistics rows, first touches of their tables' pages. A page fault
 * costs tens of microseconds on a virtual machine, and under
 * AddressSanitizer each touch faults a shadow page too, which takes a
 * 30 ms wait's slack past 1%: sanitized builds allow 2%.
 */
#define ATTEMPTS 3
#ifdef __SANITIZE_ADDRESS__
#define SLACK_PERCENT 2
#else
#define SLACK_PERCENT 1
#endif
static char mismatch[512]; /* "" when every duration was within SLACK_PERCENT */

struct truth {
    char thread[32], kind[32];
    uint64_t object;
    int64_t ns;
};

/* Runs cmd; the program's "wait" lines into w (at most max); returns how many. */
static int run_prog(const char *cmd, struct truth *w, int max)
{
    char *out;
    int st = tp_run(cmd, &out);
    cr_assert_eq(st, 0, "%s: status %d\n%s", cmd, st, out);
    int n = 0;
    for (char *line = strtok(out, "\n"); line && n < max; line = strtok(NULL, "\n")) {
        struct truth *t = &w[n];
        long long ns;
        if (sscanf(line, "wait %31s %31s %" SCNx64 " %lld", t->thread, t->kind, &t->object, &ns) == 4) {
            t->ns = ns;
            n++;
        }
    }
    free(out);
    return n;
}

/* The wait slice of w in t, with its checks: the thread, the object, the
 * duration within 1%, and a flow from another thread's slice. */
static const struct sp_trace_slice *check_wait(const struct sp_trace *t, const struct truth *w,
                                               const char *name)
{
    const struct sp_trace_track *th = tc_thread(t, w->thread);
    cr_assert(th, "no track for thread %s", w->thread);
    const struct sp_trace_slice *found = NULL;
    for (size_t i = 0; i < t->nslices; i++) {
        const struct sp_trace_slice *s = &t->slices[i];
        if (s->track == th->uuid && s->object == w->object && strcmp(s->category, "wait") == 0 &&
            strncmp(s->name, w->kind, strlen(w->kind)) == 0)
            found = s;
    }
    cr_assert(found, "no %s wait of %s on %#" PRIx64, w->kind, w->thread, w->object);
    if (name)
        cr_expect_str_eq(found->name, name);
    int64_t diff = llabs(found->dur - w->ns);
    if (diff * 100 > w->ns * SLACK_PERCENT) {
        size_t used = strlen(mismatch);
        snprintf(mismatch + used, sizeof mismatch - used, "%s: traced %lld ns, timed %lld ns; ",
                 found->name, (long long)found->dur, (long long)w->ns);
    }
    cr_expect(found->n_in >= 1, "%s: no flow ends at it", found->name);
    bool from_other = false;
    for (size_t k = 0; k < found->n_in; k++) {
        const struct sp_trace_slice *src = tc_flow_source(t, found->flows_in[k]);
        if (src && src->track != found->track && src->ts <= found->ts + found->dur)
            from_other = true;
    }
    cr_expect(from_other, "%s of %s: no flow from the thread that woke it", found->name, w->thread);
    return found;
}

static void check_api_trace(const char *path, const struct truth *w, int n)
{
    struct sp_trace t;
    tc_read(path, &t);
    cr_assert_eq(n, 4, "the program printed %d waits", n);
    cr_expect(tc_thread(&t, "holder") && tc_thread(&t, "waiter"), "thread tracks by name");
    const char *names[] = { "mutex lock_a", "mutex lock_b", "cond ready", "chan_recv requests" };
    for (int i = 0; i < n; i++) {
        const char *name = strcmp(w[i].kind, "mutex") == 0
                               ? (strcmp(w[i].thread, "waiter") == 0 ? names[0] : names[1])
                           : strcmp(w[i].kind, "cond") == 0 ? names[2] : names[3];
        const struct sp_trace_slice *s = check_wait(&t, &w[i], name);
        if (strcmp(name, "mutex lock_a") == 0) {
            /* inside "inner" inside "outer", as written */
            cr_assert_eq(s->depth, 2, "lock_a's wait at depth %d", s->depth);
            const struct sp_trace_slice *inner = tc_parent(&t, s);
            cr_assert(inner && strcmp(inner->name, "inner") == 0, "not inside inner");
            const struct sp_trace_slice *outer = tc_parent(&t, inner);
            cr_assert(outer && strcmp(outer->name, "outer") == 0, "inner not inside outer");
            cr_expect(inner->ts <= s->ts && s->ts + s->dur <= inner->ts + inner->dur);
            cr_expect(outer->ts <= inner->ts && inner->ts + inner->dur <= outer->ts + outer->dur);
            /* its waker: the holder's hold of lock_a */
            const struct sp_trace_slice *src = tc_flow_source(&t, s->flows_in[0]);
            cr_expect(src && strcmp(src->name, "hold lock_a") == 0, "woken by %s",
                      src ? src->name : "nothing");
            /* shown from when it kept the waiter waiting to its unlock, which
             * came before the waiter's wake-up (its latency apart, the whole wait) */
            cr_expect(src && src->ts <= s->ts && src->ts + src->dur <= s->ts + s->dur &&
                          src->dur * 10 >= s->dur * 9,
                      "hold [%lld, +%lld] for the wait [%lld, +%lld]", src ? (long long)src->ts : 0LL,
                      src ? (long long)src->dur : 0LL, (long long)s->ts, (long long)s->dur);
        }
    }
    /* The task: a track of its own, from the holder to the waiter. */
    const struct sp_trace_slice *task = NULL, *begins = NULL, *ends = NULL;
    for (size_t i = 0; i < t.nslices; i++) {
        const struct sp_trace_slice *s = &t.slices[i];
        if (strcmp(s->name, "request") == 0)
            task = s;
        if (strcmp(s->name, "task request begins") == 0)
            begins = s;
        if (strcmp(s->name, "task request ends") == 0)
            ends = s;
    }
    cr_assert(task && begins && ends, "the task and its two ends");
    cr_expect(task->dur >= 5000000, "task lasted %lld ns", (long long)task->dur);
    cr_expect_eq(begins->track, tc_thread(&t, "holder")->uuid);
    cr_expect_eq(ends->track, tc_thread(&t, "waiter")->uuid);
    cr_expect(begins->n_out == 1 && ends->n_in == 1 && begins->flows_out[0] == ends->flows_in[0],
              "no flow from the task's beginning to its end");
    cr_expect_eq(t.lost, 0, "lost %lld events", (long long)t.lost);
    sp_trace_free(&t);
}

/* trace_prog_api run by the shell command format (%1$s: the trace's path,
 * %2$s: the program), then its trace checked. */
static void api_case(const char *format)
{
    char dir[64], cmd[512], path[128];
    struct truth w[8];
    ps_tmpdir(dir);
    snprintf(path, sizeof path, "%s/trace.pftrace", dir);
    snprintf(cmd, sizeof cmd, format, path, TRACE_PROG_API);
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
        mismatch[0] = '\0';
        check_api_trace(path, w, run_prog(cmd, w, 8));
        if (!mismatch[0])
            break;
        cr_log_info("attempt %d: %s", attempt + 1, mismatch);
    }
    cr_expect(!mismatch[0], "durations off by more than %d%%: %s", SLACK_PERCENT, mismatch);
}

Test(trace, api_ground_truth)
{
    api_case("timeout 60 %2$s %1$s");
}

Test(trace, report_names_holder_waker_and_task)
{
    char dir[64], cmd[512], path[128], *out;
    struct truth w[8];
    ps_tmpdir(dir);
    snprintf(path, sizeof path, "%s/trace.pftrace", dir);
    snprintf(cmd, sizeof cmd, "timeout 60 %s %s", TRACE_PROG_API, path);
    run_prog(cmd, w, 8);
    cr_assert_eq(ps_sh(&out, "timeout 60 " SP_TOOL " report --trace %s", path), 0, "%s", out);
    /* the waiter's wait on lock_a: the holder held it, the holder woke it */
    const char *row = strstr(out, "mutex lock_a");
    cr_assert(row, "%s", out);
    char line[256];
    const char *eol = strchr(row, '\n');
    snprintf(line, sizeof line, "%.*s", (int)(eol ? eol - row : 200), row);
    cr_expect(strstr(line, "holder (") && strstr(strstr(line, "holder (") + 1, "holder ("),
              "holder and waker not named: %s", line);
    cr_expect(strstr(out, "request ") && strstr(out, "Tasks (1 ended)"), "%s", out);
    free(out);
}

/* Six threads queue on one mutex held 30 ms: a convoy of peak 5 or 6 (the
 * sixth may still be on its way when the holder lets go). */
static pthread_mutex_t convoy_lock = PTHREAD_MUTEX_INITIALIZER;

static void *queue_on_lock(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&convoy_lock);
    pthread_mutex_unlock(&convoy_lock);
    return NULL;
}

Test(trace, report_finds_a_convoy)
{
    char dir[64], path[128], *out;
    ps_tmpdir(dir);
    snprintf(path, sizeof path, "%s/convoy.pftrace", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    syncprof_set_name(&convoy_lock, "the_convoy");
    cr_assert_eq(syncprof_trace_start(fd), 0);
    pthread_mutex_lock(&convoy_lock);
    pthread_t t[6];
    for (int i = 0; i < 6; i++)
        pthread_create(&t[i], NULL, queue_on_lock, NULL);
    usleep(30000);
    pthread_mutex_unlock(&convoy_lock);
    for (int i = 0; i < 6; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(syncprof_trace_stop(), 0);
    close(fd);
    cr_assert_eq(ps_sh(&out, "timeout 60 " SP_TOOL " report --trace %s --convoy 3", path), 0, "%s", out);
    const char *section = strstr(out, "Lock convoys (more than 3 threads queued on one lock): 1");
    const char *row = section ? strstr(section, "the_convoy") : NULL;
    cr_assert(row, "%s", out);
    int peak = 0;
    cr_expect(sscanf(row, "the_convoy %d", &peak) == 1 && peak >= 4, "peak %d:\n%s", peak, out);
    free(out);
}

Test(trace, environment_ground_truth)
{
    api_case("SYNCPROF_TRACE=%1$s timeout 60 %2$s");
}

Test(trace, unmodified_program_under_syncprof_run)
{
#ifdef __SANITIZE_ADDRESS__
    cr_skip_test("LD_PRELOAD of an ASan-built interposer into uninstrumented programs");
#endif
    char dir[64], cmd[512], path[128];
    struct truth w[8];
    ps_tmpdir(dir);
    snprintf(path, sizeof path, "%s/run.pftrace", dir);
    /* Profiles off: the program's own timing would include the first
     * samples' stack capture, which follows the wait. */
    snprintf(cmd, sizeof cmd,
             "cd %s && timeout 60 " SP_TOOL " run --quiet --block-rate 0 --mutex-fraction 0 "
             "--trace %s -- " SP_PROGS "/trace_prog",
             dir, path);
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
        mismatch[0] = '\0';
        int n = run_prog(cmd, w, 8);
        cr_assert_eq(n, 3, "the program printed %d waits", n);
        struct sp_trace t;
        tc_read(path, &t);
        for (int i = 0; i < n; i++) {
            const struct sp_trace_slice *s = check_wait(&t, &w[i], NULL);
            /* unnamed: named by its birth site, as the profiles name it */
            char want[64];
            snprintf(want, sizeof want, "%s trace_prog.c:", w[i].kind);
            cr_expect(strncmp(s->name, want, strlen(want)) == 0, "%s: not its birth site",
                      s->name);
        }
        sp_trace_free(&t);
        if (!mismatch[0])
            break;
        cr_log_info("attempt %d: %s", attempt + 1, mismatch);
    }
    cr_expect(!mismatch[0], "durations off by more than %d%%: %s", SLACK_PERCENT, mismatch);
}

/* ---- Exit, fork, exec ------------------------------------------------------ */

/* The waits on the lock named name in the trace at path, which decodes. */
static size_t waits_on(const char *path, const char *name, int64_t *lost)
{
    struct sp_trace t;
    tc_read(path, &t);
    char want[64];
    snprintf(want, sizeof want, "mutex %s", name);
    size_t n = 0;
    for (size_t i = 0; i < t.nslices; i++)
        n += strcmp(t.slices[i].name, want) == 0 && t.slices[i].dur >= 0;
    *lost = t.lost;
    sp_trace_free(&t);
    return n;
}

/* Runs the lifecycle program in mode; the trace's path into path. */
static void lifecycle(const char *mode, char *path, size_t size)
{
    char dir[64], *out;
    ps_tmpdir(dir);
    snprintf(path, size, "%s/life.pftrace", dir);
    int st = ps_sh(&out, "SYNCPROF_TRACE=%s timeout 60 %s %s", path, TRACE_LIFECYCLE_PROG, mode);
    cr_assert_eq(st, 0, "%s: status %d\n%s", mode, st, out);
    free(out);
}

/* Starts a trace of this process into a new file dir/name.trace; its fd. */
static int trace_into(char dir[64], char path[128], const char *name)
{
    ps_tmpdir(dir);
    snprintf(path, 128, "%s/%s.trace", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert(fd >= 0 && syncprof_trace_start(fd) == 0);
    return fd;
}

/* A hold of an rwlock someone waited for says how it was held: a reader
 * keeps a writer waiting, then the writer keeps a reader waiting. */
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static int rw_stage; /* atomic: 1 the reader holds, 2 the writer holds */

static void *rw_writer(void *arg)
{
    while (__atomic_load_n(&rw_stage, __ATOMIC_ACQUIRE) < 1)
        usleep(100);
    pthread_rwlock_wrlock(&rw); /* waits for the reader */
    __atomic_store_n(&rw_stage, 2, __ATOMIC_RELEASE);
    usleep(20000);
    pthread_rwlock_unlock(&rw);
    return arg;
}

Test(trace, rwlock_holds_say_read_or_write)
{
    char dir[64], path[128];
    int fd = trace_into(dir, path, "rw");
    pthread_t w;
    pthread_rwlock_rdlock(&rw);
    __atomic_store_n(&rw_stage, 1, __ATOMIC_RELEASE);
    pthread_create(&w, NULL, rw_writer, NULL);
    usleep(20000); /* the writer blocks meanwhile */
    pthread_rwlock_unlock(&rw);
    while (__atomic_load_n(&rw_stage, __ATOMIC_ACQUIRE) < 2)
        usleep(100);
    pthread_rwlock_rdlock(&rw); /* waits for the writer */
    pthread_rwlock_unlock(&rw);
    pthread_join(w, NULL);
    cr_assert_eq(syncprof_trace_stop(), 0);
    close(fd);

    struct sp_trace t;
    tc_read(path, &t);
    int read_holds = 0, write_holds = 0;
    for (size_t i = 0; i < t.nslices; i++) {
        const struct sp_trace_slice *s = &t.slices[i];
        if (strcmp(s->category, "hold") != 0 || s->object != (uintptr_t)&rw)
            continue;
        read_holds += strcmp(s->kind, "rwlock_read") == 0;
        write_holds += strcmp(s->kind, "rwlock_write") == 0;
    }
    cr_expect(read_holds >= 1 && write_holds >= 1,
              "holds of the rwlock: %d read, %d write (want one of each at least)", read_holds,
              write_holds);
    sp_trace_free(&t);
    ps_sh(NULL, "rm -rf %s", dir);
}

/* ---- Lock identity ------------------------------------------------------- */

/* A lock born in a helper and destroyed right after the waits on it, before
 * the trace's writer flushes: its slices still name its birth site. */
static int lock_birth_line;

static pthread_mutex_t *new_lock(void)
{
    pthread_mutex_t *m = malloc(sizeof *m);
    lock_birth_line = __LINE__ + 1;
    pthread_mutex_init(m, NULL);
    return m;
}

static int new_lock_held; /* atomic */

static void *hold_for_10ms(void *arg)
{
    pthread_mutex_t *m = arg;
    pthread_mutex_lock(m);
    __atomic_store_n(&new_lock_held, 1, __ATOMIC_RELEASE);
    usleep(10000);
    pthread_mutex_unlock(m);
    return NULL;
}

Test(trace, an_unnamed_lock_is_named_by_its_birth_site_after_its_end)
{
    char dir[64], path[128];
    int fd = trace_into(dir, path, "birth");
    pthread_mutex_t *m = new_lock();
    pthread_mutex_lock(m);
    pthread_t h;
    pthread_create(&h, NULL, hold_for_10ms, m);
    usleep(10000); /* the thread waits meanwhile, as a rule */
    pthread_mutex_unlock(m);
    while (!__atomic_load_n(&new_lock_held, __ATOMIC_ACQUIRE))
        usleep(100);
    pthread_mutex_lock(m); /* the main thread waits for the thread's hold */
    pthread_mutex_unlock(m);
    pthread_join(h, NULL);
    pthread_mutex_destroy(m);
    uintptr_t object = (uintptr_t)m;
    free(m);
    cr_assert_eq(syncprof_trace_stop(), 0);
    close(fd);

    char site[64];
    snprintf(site, sizeof site, "test_trace.c:%d new_lock", lock_birth_line);
    struct sp_trace t;
    tc_read(path, &t);
    int waits = 0, holds = 0;
    for (size_t i = 0; i < t.nslices; i++) {
        const struct sp_trace_slice *s = &t.slices[i];
        if (s->object != object || (strcmp(s->category, "wait") && strcmp(s->category, "hold")))
            continue;
        const char *named = strchr(s->name, ' ');
        cr_expect(named && strcmp(named + 1, site) == 0, "%s: want \"... %s\"", s->name, site);
        waits += strcmp(s->category, "wait") == 0;
        holds += strcmp(s->category, "hold") == 0;
    }
    /* the main thread's wait and the thread's hold at least */
    cr_expect(waits >= 1 && holds >= 1, "%d waits and %d holds on the lock", waits, holds);
    sp_trace_free(&t);
    ps_sh(NULL, "rm -rf %s", dir);
}

/* ---- Arrows from a semaphore post and from a joined thread's end ---------- */

static sem_t posted;

static void *sem_waiter(void *arg)
{
    pthread_setname_np(pthread_self(), "sem-waiter");
    sem_wait(&posted); /* blocks until the main thread posts */
    return arg;
}

static int joinee_named; /* atomic */

static void *joinee(void *arg)
{
    pthread_setname_np(pthread_self(), "joinee");
    __atomic_store_n(&joinee_named, 1, __ATOMIC_RELEASE);
    usleep(20000); /* not a wrapped wait: the thread records nothing */
    return arg;
}

/* The last wait slice on object in the track of the thread named thread
 * (the last: a joined thread's pthread_t is often the next one's). */
static const struct sp_trace_slice *wait_on(const struct sp_trace *t, const char *thread,
                                            const void *object)
{
    const struct sp_trace_track *th = tc_thread(t, thread);
    cr_assert(th, "no track named %s", thread);
    const struct sp_trace_slice *last = NULL;
    for (size_t i = 0; i < t->nslices; i++)
        if (t->slices[i].track == th->uuid && t->slices[i].object == (uintptr_t)object &&
            t->slices[i].dur > 0)
            last = &t->slices[i];
    return last;
}

Test(trace, sem_post_and_thread_end_draw_arrows)
{
    char dir[64], path[128];
    int fd = trace_into(dir, path, "arrows");
    pthread_setname_np(pthread_self(), "main-thread");
    sem_init(&posted, 0, 0);
    pthread_t w, j;
    pthread_create(&w, NULL, sem_waiter, NULL);
    usleep(20000); /* the waiter blocks meanwhile */
    cr_assert_eq(sem_post(&posted), 0);
    pthread_join(w, NULL);
    pthread_create(&j, NULL, joinee, NULL);
    while (!__atomic_load_n(&joinee_named, __ATOMIC_ACQUIRE))
        usleep(100);
    pthread_join(j, NULL); /* waits about 20 ms for the thread's end */
    cr_assert_eq(syncprof_trace_stop(), 0);
    close(fd);

    struct sp_trace t;
    tc_read(path, &t);
    const struct sp_trace_slice *sw = wait_on(&t, "sem-waiter", &posted);
    cr_assert(sw, "no semaphore wait slice");
    cr_assert(sw->n_in >= 1, "the semaphore wait has no arrow");
    const struct sp_trace_slice *post = tc_flow_source(&t, sw->flows_in[0]);
    cr_assert(post, "the semaphore wait's arrow starts nowhere");
    cr_expect(strncmp(post->name, "sem_post", 8) == 0, "the arrow starts at %s", post->name);
    cr_expect_eq(post->track, tc_thread(&t, "main-thread")->uuid, "the post is not the poster's");

    const struct sp_trace_slice *jw = wait_on(&t, "main-thread", (const void *)j);
    cr_assert(jw, "no join wait slice");
    cr_assert(jw->n_in >= 1, "the join has no arrow");
    const struct sp_trace_slice *end = tc_flow_source(&t, jw->flows_in[0]);
    cr_assert(end, "the join's arrow starts nowhere");
    cr_expect_str_eq(end->name, "thread end");
    const struct sp_trace_track *jt = tc_thread(&t, "joinee");
    cr_assert(jt, "the joined thread has no track");
    cr_expect_eq(end->track, jt->uuid, "the thread end is not on the joined thread's track");
    sp_trace_free(&t);
    sem_destroy(&posted);
    ps_sh(NULL, "rm -rf %s", dir);
}

/* A select over two channels, completed by a send on its second: the
 * select's wait (registered on its first channel) still gets the arrow. */
static syncprof_chan *sel_a, *sel_b;

static void *selector(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "selector");
    int va = 0, vb = 0;
    syncprof_select_case cases[2] = { { sel_a, SYNCPROF_SELECT_RECV, &va, false },
                                      { sel_b, SYNCPROF_SELECT_RECV, &vb, false } };
    int r = syncprof_select(cases, 2, NULL, false);
    return (void *)(intptr_t)(r == 1 && vb == 7);
}

Test(trace, a_select_completed_on_its_second_channel_has_an_arrow)
{
    char dir[64], path[128];
    int fd = trace_into(dir, path, "select");
    pthread_setname_np(pthread_self(), "main-thread");
    sel_a = syncprof_chan_make(sizeof(int), 0);
    sel_b = syncprof_chan_make(sizeof(int), 0);
    pthread_t th;
    pthread_create(&th, NULL, selector, NULL);
    usleep(20000); /* the select blocks meanwhile */
    int v = 7;
    cr_assert_eq(syncprof_chan_send(sel_b, &v), 0);
    void *ok;
    pthread_join(th, &ok);
    cr_assert(ok, "the select did not receive 7 on its second case");
    cr_assert_eq(syncprof_trace_stop(), 0);
    close(fd);

    struct sp_trace t;
    tc_read(path, &t);
    const struct sp_trace_slice *sw = wait_on(&t, "selector", sel_a);
    cr_assert(sw, "no select wait slice");
    cr_assert(sw->n_in >= 1, "the select's wait has no arrow");
    const struct sp_trace_slice *src = tc_flow_source(&t, sw->flows_in[0]);
    cr_assert(src, "the select's arrow starts nowhere");
    cr_expect_eq(src->track, tc_thread(&t, "main-thread")->uuid, "the arrow is not from the sender");
    sp_trace_free(&t);
    syncprof_chan_free(sel_a);
    syncprof_chan_free(sel_b);
    ps_sh(NULL, "rm -rf %s", dir);
}

/* A thread renamed after its first recorded wait: its track carries the
 * new name (the writer reads names again at most once a second). */
static pthread_mutex_t rename_lock = PTHREAD_MUTEX_INITIALIZER;

static void *renamed(void *arg)
{
    pthread_setname_np(pthread_self(), "first-name");
    pthread_mutex_lock(&rename_lock); /* waits: the main thread holds it */
    pthread_mutex_unlock(&rename_lock);
    pthread_setname_np(pthread_self(), "second-name");
    usleep(1300000);
    pthread_mutex_lock(&rename_lock); /* waits again */
    pthread_mutex_unlock(&rename_lock);
    return arg;
}

Test(trace, a_renamed_thread_shows_its_new_name, .timeout = 30)
{
    char dir[64], path[128];
    int fd = trace_into(dir, path, "rename");
    pthread_t th;
    pthread_mutex_lock(&rename_lock);
    pthread_create(&th, NULL, renamed, NULL);
    usleep(20000);
    pthread_mutex_unlock(&rename_lock);
    usleep(200000); /* the writer drains the first wait under the first name */
    pthread_mutex_lock(&rename_lock);
    usleep(1500000); /* the thread, renamed, waits again */
    pthread_mutex_unlock(&rename_lock);
    pthread_join(th, NULL);
    cr_assert_eq(syncprof_trace_stop(), 0);
    close(fd);

    struct sp_trace t;
    tc_read(path, &t);
    cr_expect(tc_thread(&t, "second-name") != NULL, "the track kept the thread's first name");
    cr_expect(tc_thread(&t, "first-name") == NULL, "a track still has the first name");
    sp_trace_free(&t);
    ps_sh(NULL, "rm -rf %s", dir);
}

/* sem_post is async-signal-safe: posting from a signal handler while the
 * interrupted thread records its own waits neither hangs nor garbles the
 * trace. */
static sem_t from_handler;
static volatile sig_atomic_t handler_posts;

static void post_in_handler(int sig)
{
    (void)sig;
    int e = errno;
    sem_post(&from_handler);
    handler_posts++;
    errno = e;
}

static void *handler_sem_waiter(void *arg)
{
    for (int i = 0; i < 200; i++)
        while (sem_wait(&from_handler) != 0)
            ;
    return arg;
}

static pthread_mutex_t busy_lock = PTHREAD_MUTEX_INITIALIZER;

static void *contender(void *arg)
{
    for (int i = 0; i < 20000; i++) {
        pthread_mutex_lock(&busy_lock);
        pthread_mutex_unlock(&busy_lock);
    }
    return arg;
}

Test(trace, sem_post_in_a_signal_handler, .timeout = 60)
{
    char dir[64], path[128];
    int fd = trace_into(dir, path, "handler");
    sem_init(&from_handler, 0, 0);
    struct sigaction sa = { .sa_handler = post_in_handler };
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t w, c[2];
    pthread_create(&w, NULL, handler_sem_waiter, NULL);
    for (int i = 0; i < 2; i++)
        pthread_create(&c[i], NULL, contender, NULL);
    /* The signals land on the contenders, which record waits and releases. */
    for (int i = 0; i < 200; i++) {
        pthread_kill(c[i % 2], SIGUSR1);
        usleep(500);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(c[i], NULL);
    while (handler_posts < 200) /* a contender that ended early left a post undone */
        post_in_handler(0);
    pthread_join(w, NULL);
    signal(SIGUSR1, SIG_DFL);
    cr_assert_eq(syncprof_trace_stop(), 0);
    close(fd);

    struct sp_trace t;
    tc_read(path, &t); /* decodes: no record was garbled */
    int sem_waits = 0;
    for (size_t i = 0; i < t.nslices; i++)
        sem_waits += t.slices[i].object == (uintptr_t)&from_handler && t.slices[i].dur > 0;
    cr_expect(sem_waits >= 1, "no semaphore wait recorded");
    sp_trace_free(&t);
    sem_destroy(&from_handler);
    ps_sh(NULL, "rm -rf %s", dir);
}

Test(trace, exit_while_threads_record)
{
    char path[128];
    int64_t lost;
    lifecycle("exit", path, sizeof path);
    cr_expect(waits_on(path, "before", &lost) >= 4, "the waits before exit are missing");
    cr_expect(lost >= 0, "the trace was not finished (no final lost count)");
}

Test(trace, fork_leaves_the_parents_trace_whole)
{
    char path[128];
    int64_t lost;
    lifecycle("fork", path, sizeof path);
    cr_expect(waits_on(path, "before", &lost) >= 4, "the waits before the fork are missing");
    cr_expect(waits_on(path, "after", &lost) >= 4, "the waits after the fork are missing");
    cr_expect(lost >= 0, "the trace was not finished");
}

Test(trace, exec_appends_the_new_image)
{
    char path[128];
    int64_t lost;
    lifecycle("exec", path, sizeof path);
    cr_expect(waits_on(path, "before", &lost) >= 4, "the waits before the exec are missing");
    cr_expect(waits_on(path, "after", &lost) >= 4, "the new image's waits are missing");
}
