/*
 * watchdog.c - the watchdog thread of watchdog.h: polls, the wait-for
 * graph and its cycles, and the reports.
 *
 * Control state (running, the thread handle) is under ctl_lock, a
 * spinlock held only to flip it; timeout_ns and stop_word are atomics the
 * thread reads each round; it sleeps on stop_word with a raw futex, so
 * stopping wakes it at once. Everything the polls remember (what was seen
 * last time, what was already reported) belongs to the watchdog thread
 * alone.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <syncprof/syncprof.h>

#include "clock.h"
#include "env.h"
#include "export.h"
#include "futex.h"
#include "lock_tracking.h"
#include "sampling.h"
#include "spinlock.h"
#include "report_sink.h"
#include "stack_print.h"
#include "symbolize.h"
#include "thread_dump.h"
#include "thread_registry.h"
#include "thread_stacks.h"
#include "watchdog.h"

#define SP_WD_MAX_PERIOD_NS 100000000 /* 100 ms: a cycle is reported well within 1 s */
#define SP_WD_REMEMBERED 256          /* situations remembered as reported */
#define SP_WD_MAX_HOLDERS 16

static sp_spinlock ctl_lock = SP_SPINLOCK_INIT;
static bool running;            /* under ctl_lock */
static pthread_t watcher;       /* under ctl_lock */
static int64_t timeout_ns;      /* atomic */
static int stop_word;           /* 1: stop; futex word, atomic */
static bool abort_on_deadlock;  /* set at load */

/* What the watchdog thread remembers between polls (its own). */
struct memory {
    uint64_t reported[SP_WD_REMEMBERED]; /* situation keys, a ring */
    size_t next;
    uint64_t prev_cycles[SP_WD_REMEMBERED]; /* cycle keys seen by the last poll */
    size_t nprev_cycles;
    uint64_t prev_asleep;                   /* "all asleep" key of the last poll, 0 none */
};

int64_t sp_watchdog_period_ns(int64_t t)
{
    int64_t p = t / 4;
    return p < SP_WD_MAX_PERIOD_NS ? (p > 0 ? p : 1) : SP_WD_MAX_PERIOD_NS;
}

/* ---- Situations ---------------------------------------------------------------- */

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h * 0xbf58476d1ce4e5b9ULL;
}

static uint64_t wait_key(const struct sp_thread_wait *w)
{
    return mix((uint64_t)w->tid, (uint64_t)w->start_ns) | 1;
}

static bool was_reported(const struct memory *m, uint64_t key)
{
    for (size_t i = 0; i < SP_WD_REMEMBERED; i++)
        if (m->reported[i] == key)
            return true;
    return false;
}

static void remember(struct memory *m, uint64_t key)
{
    m->reported[m->next] = key;
    m->next = (m->next + 1) % SP_WD_REMEMBERED;
}

/* ---- The wait-for graph ------------------------------------------------------------ */

/* The waits a wait can be blocked by: the holders' own waits, when they
 * wait too. Waits with a deadline end by themselves and have no edges. */
static int out_edges(const struct sp_thread_wait *w, size_t n, size_t i, size_t *out)
{
    const struct sp_thread_wait *me = &w[i];
    if (me->timed)
        return 0;
    int tids[SP_WD_MAX_HOLDERS], k = 0;
    if (me->holder)
        tids[k++] = me->holder;
    else if (sp_lock_tracking() && me->reason != SP_WAIT_COND && me->reason != SP_WAIT_JOIN)
        k = sp_lock_holders_tracked(me->object, tids, SP_WD_MAX_HOLDERS);
    int m = 0;
    for (int j = 0; j < k; j++) {
        const struct sp_thread_wait *h = sp_waits_find(w, n, tids[j]);
        if (h && !h->timed)
            out[m++] = (size_t)(h - w);
    }
    return m;
}

/*
 * Finds one cycle through the graph, depth first from every unvisited node
 * (colour 1: on the current path, 2: done). Writes its nodes in order to
 * cycle and returns its length, or 0.
 */
static size_t find_cycle(const struct sp_thread_wait *w, size_t n, size_t *cycle)
{
    unsigned char *colour = calloc(n ? n : 1, 1);
    size_t *path = malloc((n ? n : 1) * sizeof *path);
    size_t *next = malloc((n ? n : 1) * sizeof *next); /* per depth: edges tried */
    size_t len = 0;
    for (size_t s = 0; colour && path && next && s < n && len == 0; s++) {
        if (colour[s])
            continue;
        size_t depth = 0;
        path[depth] = s;
        next[depth++] = 0;
        colour[s] = 1;
        while (depth > 0 && len == 0) {
            size_t at = path[depth - 1], edges[SP_WD_MAX_HOLDERS];
            int k = out_edges(w, n, at, edges);
            if (next[depth - 1] >= (size_t)k) {
                colour[at] = 2;
                depth--;
                continue;
            }
            size_t to = edges[next[depth - 1]++];
            if (colour[to] == 1) {
                size_t from = 0;
                while (path[from] != to)
                    from++;
                for (size_t i = from; i < depth; i++)
                    cycle[len++] = path[i];
            } else if (colour[to] == 0) {
                colour[to] = 1;
                path[depth] = to;
                next[depth++] = 0;
            }
        }
    }
    free(colour);
    free(path);
    free(next);
    return len;
}

/* ---- Reports ------------------------------------------------------------------------- */

static void print_thread_ref(FILE *f, int tid)
{
    char name[SP_THREAD_NAME_MAX];
    sp_thread_name(tid, name);
    fprintf(f, "thread %d \"%s\"", tid, name);
}

/* Ends a report: writes it, dumps every thread, and aborts if asked to. */
static void finish_report(FILE *f, char **text, size_t *len, bool deadlock)
{
    fclose(f); /* sets *text and *len */
    sp_report_text(*text, *len);
    free(*text);
    sp_report_dump(NULL, 0);
    if (deadlock && abort_on_deadlock) {
        static const char msg[] = "syncprof: SYNCPROF_DEADLOCK_ABORT=1: aborting\n";
        sp_report_text(msg, sizeof msg - 1);
        abort();
    }
}

static void report_cycle(const struct sp_thread_wait *w, const size_t *cycle, size_t len)
{
    char *text = NULL;
    size_t tlen = 0;
    FILE *f = open_memstream(&text, &tlen);
    if (!f)
        return;
    fprintf(f, "syncprof: deadlock detected: a cycle of %zu thread%s\n", len, len == 1 ? "" : "s");
    struct sp_symbolizer *sym = sp_symbolizer_acquire(); /* for the locks' birth sites */
    for (size_t i = 0; i < len; i++) {
        const struct sp_thread_wait *a = &w[cycle[i]], *b = &w[cycle[(i + 1) % len]];
        fprintf(f, "  ");
        print_thread_ref(f, a->tid);
        fprintf(f, " waits for %s ", sp_wait_object_kind(a->reason));
        sp_print_object(f, sym, a->object);
        fprintf(f, " (%s), held by ", sp_wait_reason_text(a->reason));
        print_thread_ref(f, b->tid);
        fprintf(f, "\n");
    }
    if (sym)
        sp_symbolizer_release(); /* before the report's dump, which takes it again */
    fprintf(f, "\n");
    finish_report(f, &text, &tlen, true);
}

static void report_hangs(const struct sp_thread_wait *w, size_t n, int64_t now, int64_t timeout,
                         struct memory *m)
{
    char *text = NULL;
    size_t tlen = 0;
    FILE *f = NULL;
    struct sp_symbolizer *sym = NULL; /* for the locks' birth sites, once there is a report */
    for (size_t i = 0; i < n; i++) {
        if (now - w[i].start_ns <= timeout || was_reported(m, wait_key(&w[i])))
            continue;
        remember(m, wait_key(&w[i]));
        if (!f) {
            if (!(f = open_memstream(&text, &tlen)))
                return;
            sym = sp_symbolizer_acquire();
        }
        fprintf(f, "syncprof: ");
        print_thread_ref(f, w[i].tid);
        fprintf(f, " blocked in %s for %.1f seconds on %s ", sp_wait_reason_text(w[i].reason),
                (double)(now - w[i].start_ns) / 1e9, sp_wait_object_kind(w[i].reason));
        sp_print_object(f, sym, w[i].object);
        fprintf(f, "\n");
    }
    if (sym)
        sp_symbolizer_release(); /* before the report's dump, which takes it again */
    if (f) {
        fprintf(f, "\n");
        finish_report(f, &text, &tlen, false);
    }
}

struct asleep {
    const struct sp_thread_wait *w;
    size_t n;
    uint64_t key; /* 0 once a live thread is not in an untimed wait */
    size_t live;
};

static bool mix_asleep(int tid, void *arg)
{
    struct asleep *a = arg;
    if (sp_is_service_thread(tid))
        return true;
    const struct sp_thread_wait *t = sp_waits_find(a->w, a->n, tid);
    if (!t || t->timed) {
        a->key = 0;
        return false;
    }
    a->live++;
    a->key = mix(a->key, wait_key(t));
    return true;
}

/* The key of "every live thread asleep", or 0 if some live thread is not
 * blocked in a wait without a deadline. */
static uint64_t all_asleep_key(const struct sp_thread_wait *w, size_t n)
{
    size_t untimed = 0;
    for (size_t i = 0; i < n; i++)
        untimed += !w[i].timed;
    if (untimed == 0)
        return 0;
    struct asleep a = { w, n, 1, 0 };
    if (!sp_each_thread(mix_asleep, &a) || a.key == 0)
        return 0; /* a thread that is not asleep, wherever it comes in the list */
    return a.live > 0 ? a.key | 1 : 0;
}

static void report_all_asleep(void)
{
    char *text = NULL;
    size_t tlen = 0;
    FILE *f = open_memstream(&text, &tlen);
    if (!f)
        return;
    fprintf(f, "syncprof: all threads are asleep - deadlock!\n\n");
    finish_report(f, &text, &tlen, true);
}

/* ---- The poll ---------------------------------------------------------------------------- */

static bool seen_last_time(const struct memory *m, uint64_t key)
{
    for (size_t i = 0; i < m->nprev_cycles; i++)
        if (m->prev_cycles[i] == key)
            return true;
    return false;
}

static void poll_once(struct memory *m)
{
    struct sp_thread_wait *w;
    size_t n;
    if (sp_waits_collect(&w, &n, false) != 0)
        return;
    int64_t now = sp_now_ns();
    int64_t timeout = __atomic_load_n(&timeout_ns, __ATOMIC_RELAXED);

    size_t *cycle = malloc((n ? n : 1) * sizeof *cycle);
    size_t len = cycle ? find_cycle(w, n, cycle) : 0;
    uint64_t key = 0;
    for (size_t i = 0; i < len; i++)
        key += wait_key(&w[cycle[i]]); /* order-free: the same cycle from any start */
    bool confirmed = len > 0 && seen_last_time(m, key);
    m->nprev_cycles = 0;
    if (len > 0)
        m->prev_cycles[m->nprev_cycles++] = key;
    if (confirmed && !was_reported(m, key)) {
        remember(m, key);
        report_cycle(w, cycle, len);
    }
    free(cycle);

    report_hangs(w, n, now, timeout, m);

    uint64_t asleep = len == 0 ? all_asleep_key(w, n) : 0;
    if (asleep && asleep == m->prev_asleep && !was_reported(m, asleep)) {
        remember(m, asleep);
        report_all_asleep();
    }
    m->prev_asleep = asleep;
    free(w);
}

/* ---- The thread ---------------------------------------------------------------------------- */

/* Sleeps ns, or until stopped, ticking (thread_registry.h) meanwhile. */
static void sleep_ticking(int64_t ns)
{
    const int64_t tick = (int64_t)SP_SERVICE_TICK_MS * 1000000;
    int64_t until = sp_now_ns() + ns;
    for (int64_t left = ns; left > 0 && __atomic_load_n(&stop_word, __ATOMIC_ACQUIRE) == 0;
         left = until - sp_now_ns()) {
        int64_t nap = left < tick ? left : tick;
        struct timespec ts = { nap / 1000000000, nap % 1000000000 };
        sp_futex_wait(&stop_word, 0, &ts);
        sp_service_thread_tick();
    }
}

static void *watch(void *arg)
{
    (void)arg;
    sp_service_thread_register();
    sp_service_thread_signals();
    pthread_setname_np(pthread_self(), "syncprof-watch");
    struct memory *m = calloc(1, sizeof *m);
    while (m && __atomic_load_n(&stop_word, __ATOMIC_ACQUIRE) == 0) {
        sp_enter_profiler();
        poll_once(m);
        sp_leave_profiler();
        int64_t p = sp_watchdog_period_ns(__atomic_load_n(&timeout_ns, __ATOMIC_RELAXED));
        sleep_ticking(p);
    }
    free(m);
    sp_service_thread_unregister();
    return NULL;
}

static int start_watcher(void);

/* The child of fork has no watcher thread: it gets one of its own when its
 * parent had one, so that a forked worker that hangs is reported too. */
static void restart_in_child(void)
{
    sp_spin_reset_in_child(&ctl_lock);
    if (!running)
        return;
    running = false;
    start_watcher();
}

/* Starts the watcher thread unless it runs. 0 or EAGAIN. */
static int start_watcher(void)
{
    static bool fork_handler;
    int r = 0;
    sp_spin_lock(&ctl_lock);
    if (!fork_handler) {
        fork_handler = true;
        pthread_atfork(NULL, NULL, restart_in_child);
    }
    if (!running) {
        __atomic_store_n(&stop_word, 0, __ATOMIC_RELEASE);
        r = pthread_create(&watcher, NULL, watch, NULL) == 0 ? 0 : EAGAIN;
        running = r == 0;
    }
    sp_spin_unlock(&ctl_lock);
    return r;
}

SP_PUBLIC int syncprof_watchdog_start(double seconds)
{
    if (!(seconds > 0) || seconds > 1e6)
        return EINVAL;
    __atomic_store_n(&timeout_ns, (int64_t)(seconds * 1e9), __ATOMIC_RELAXED);
    return start_watcher();
}

SP_PUBLIC int syncprof_watchdog_stop(void)
{
    sp_spin_lock(&ctl_lock);
    bool was = running;
    pthread_t t = watcher;
    running = false;
    sp_spin_unlock(&ctl_lock);
    if (!was)
        return 0;
    __atomic_store_n(&stop_word, 1, __ATOMIC_RELEASE);
    sp_futex_wake(&stop_word, 1);
    sp_enter_profiler(); /* under the interposer, join comes back to the wrappers */
    pthread_join(t, NULL);
    sp_leave_profiler();
    return 0;
}

void sp_watchdog_from_environment(void)
{
    bool on;
    if (sp_env_bool("SYNCPROF_DEADLOCK_ABORT", &on))
        abort_on_deadlock = on;
    const char *s = sp_getenv("SYNCPROF_HANG_TIMEOUT");
    if (!s || !*s)
        return;
    char *end;
    double v = strtod(s, &end);
    if (*end != '\0' || !(v > 0) || v > 1e6 || !isfinite(v))
        sp_env_warn("SYNCPROF_HANG_TIMEOUT", s, "seconds, more than 0 and at most 1e6");
    else
        syncprof_watchdog_start(v);
}
