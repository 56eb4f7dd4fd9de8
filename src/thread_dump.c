/*
 * thread_dump.c - the text of a thread dump and the grouped "threads"
 * profile (see thread_dump.h), made from a wait snapshot
 * (wait_snapshot.c), the threads' stacks (thread_stacks.c) and the
 * printers of stack_print.c.
 *
 * A dump is put together from three snapshots taken one after the other,
 * not atomically: the threads and their stacks (thread_stacks.c), what
 * each waits for (the wait table, with each lock's holder read from glibc
 * while its waiter is registered) and, when lock tracking is on, what each
 * holds (thread_registry.c). A thread may therefore show a wait that ended
 * a moment ago; every line is something that was true during the dump.
 *
 * The text is built with open_memstream and written with one
 * sp_write_all.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <syncprof/syncprof.h>

#include "clock.h"
#include "env.h"
#include "export.h"
#include "format.h"
#include "format_common.h"
#include "lock_tracking.h"
#include "report_sink.h"
#include "sampling.h"
#include "spinlock.h"
#include "stack_print.h"
#include "symbolize.h"
#include "thread_dump.h"
#include "thread_registry.h"
#include "thread_stacks.h"

#define SP_MAX_READERS 16

/* ---- Printing ---------------------------------------------------------------------- */

static const char *name_of(const struct sp_thread_stack *threads, size_t n, int tid)
{
    for (size_t i = 0; i < n; i++)
        if (threads[i].tid == tid)
            return threads[i].name;
    return "?";
}

static const char *state_text(char state)
{
    switch (state) {
    case 'R': return "running";
    case 'S': return "sleeping";
    case 'D': return "disk sleep";
    case 'T': case 't': return "stopped";
    case 'Z': case 'X': return "exiting";
    default: return "unknown";
    }
}

/* "waiting for mutex 0x... "name", held by thread T "name"" */
static void print_wait(FILE *f, struct sp_symbolizer *s, const struct sp_thread_wait *w,
                       const struct sp_thread_stack *threads, size_t n)
{
    fprintf(f, "    waiting for %s ", sp_wait_object_kind(w->reason));
    sp_print_object(f, s, w->object);
    if (w->reason == SP_WAIT_COND) {
        fprintf(f, " (releasing mutex ");
        sp_print_object(f, s, w->mutex);
        fprintf(f, ")");
    }
    if (w->timed)
        fprintf(f, ", with a deadline");
    if (w->holder) {
        fprintf(f, ", held by thread %d \"%s\"", w->holder, name_of(threads, n, w->holder));
    } else if ((w->reason == SP_WAIT_RWLOCK_READ || w->reason == SP_WAIT_RWLOCK_WRITE ||
                w->reason == SP_WAIT_MUTEX || w->reason == SP_WAIT_COND_REACQUIRE) &&
               sp_lock_tracking()) {
        int tids[SP_MAX_READERS];
        int k = sp_lock_holders_tracked(w->object, tids, SP_MAX_READERS);
        for (int i = 0; i < k; i++)
            fprintf(f, "%s%d \"%s\"", i == 0 ? ", held by thread " : ", ", tids[i],
                    name_of(threads, n, tids[i]));
    }
    fprintf(f, "\n");
}

static const char *held_kind(int reason)
{
    return reason == SP_WAIT_RWLOCK_READ  ? "rwlock (read)"
           : reason == SP_WAIT_RWLOCK_WRITE ? "rwlock (write)"
                                            : "mutex";
}

/* A lock some waiter says a thread holds (glibc's owner field). */
struct known_hold {
    int holder;
    const void *object;
    enum sp_wait_reason reason;
};

static int cmp_hold(const void *pa, const void *pb)
{
    const struct known_hold *a = pa, *b = pb;
    if (a->holder != b->holder)
        return a->holder < b->holder ? -1 : 1;
    return (a->object > b->object) - (a->object < b->object);
}

/* The distinct (holder, lock) pairs the waits name, sorted by holder, in
 * a malloc'd array (NULL when none or out of memory). */
static struct known_hold *known_holds(const struct sp_thread_wait *w, size_t n, size_t *out)
{
    struct known_hold *h = malloc((n ? n : 1) * sizeof *h);
    size_t k = 0;
    for (size_t i = 0; h && i < n; i++)
        if (w[i].holder)
            h[k++] = (struct known_hold){ w[i].holder, w[i].object, w[i].reason };
    if (h)
        qsort(h, k, sizeof *h, cmp_hold);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || cmp_hold(&h[u - 1], &h[i]) != 0)
            h[u++] = h[i];
    *out = u;
    return h;
}

/* The locks tid holds: its tracked list, else what waiters say it holds. */
static void print_held(FILE *f, struct sp_symbolizer *s, int tid, const struct known_hold *holds,
                       size_t nholds)
{
    struct sp_thread_rec *r = sp_lock_tracking() ? sp_thread_find(tid) : NULL;
    if (r) {
        int n = __atomic_load_n(&r->nheld, __ATOMIC_ACQUIRE);
        for (int i = 0; i < n && i < SP_MAX_HELD; i++) {
            const void *o = __atomic_load_n(&r->held[i].object, __ATOMIC_RELAXED);
            fprintf(f, "    holds %s ", held_kind(__atomic_load_n(&r->held[i].reason, __ATOMIC_RELAXED)));
            sp_print_object(f, s, o);
            fprintf(f, "\n");
        }
        uint64_t over = __atomic_load_n(&r->overflow, __ATOMIC_RELAXED);
        if (__atomic_load_n(&r->untracked, __ATOMIC_RELAXED) > 0 || over > 0)
            fprintf(f, "    (more locks held than the %d listed)\n", SP_MAX_HELD);
        return;
    }
    size_t lo = 0, hi = nholds;
    while (lo < hi) { /* the first entry of tid */
        size_t mid = (lo + hi) / 2;
        if (holds[mid].holder < tid)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < nholds && holds[i].holder == tid; i++) {
        fprintf(f, "    holds %s ", sp_wait_object_kind(holds[i].reason));
        sp_print_object(f, s, holds[i].object);
        fprintf(f, "\n");
    }
}

/* Everything a dump's threads are printed from. */
struct dump_ctx {
    const struct sp_thread_stack *threads;
    size_t n;
    const struct sp_thread_wait *waits;
    size_t nwaits;
    const struct known_hold *holds;
    size_t nholds;
    const struct sp_pctab *tab;
    struct sp_symbolizer *sym; /* names the locks' birth sites */
    int64_t now;
};

static void print_thread(FILE *f, const struct sp_thread_stack *t, const struct dump_ctx *d)
{
    if (t->source == SP_STACK_SERVICE) {
        fprintf(f, "thread %d \"%s\": syncprof's own (not interrupted)\n\n", t->tid, t->name);
        return;
    }
    const struct sp_thread_wait *w = sp_waits_find(d->waits, d->nwaits, t->tid);
    fprintf(f, "thread %d \"%s\" [", t->tid, t->name);
    if (w)
        fprintf(f, "%s, %.3f s]:\n", sp_wait_reason_text(w->reason),
                (double)(d->now - w->start_ns) / 1e9);
    else
        fprintf(f, "%s]:\n", state_text(t->state));
    if (w)
        print_wait(f, d->sym, w, d->threads, d->n);
    print_held(f, d->sym, t->tid, d->holds, d->nholds);
    if (t->available)
        sp_print_stack(f, d->tab, t->pcs, t->nframes, false);
    else if (t->source == SP_STACK_NOT_TAKEN)
        fprintf(f, "    stack not taken: asleep in a system call, not interrupted "
                   "(SYNCPROF_DUMP_INTERRUPT=0)\n");
    else if (t->signals_blocked)
        fprintf(f, "    stack unavailable (the thread blocks signal %d)\n", sp_stack_signal());
    else
        fprintf(f, "    stack unavailable (the thread did not answer within %d ms)\n",
                SP_STACK_ANSWER_MS);
    fprintf(f, "\n");
}

/* The threads' stacks symbolized once per distinct pc. */
static int symbolize_threads(struct sp_pctab *tab, struct sp_symbolizer *s,
                             const struct sp_thread_stack *v, size_t n)
{
    const uintptr_t **stacks = malloc((n ? n : 1) * sizeof *stacks);
    int *nframes = malloc((n ? n : 1) * sizeof *nframes);
    int r = ENOMEM;
    if (stacks && nframes) {
        for (size_t i = 0; i < n; i++) {
            stacks[i] = v[i].pcs;
            nframes[i] = v[i].available ? v[i].nframes : 0;
        }
        r = sp_stacks_symbolize(tab, s, stacks, nframes, n);
    }
    free(stacks);
    free(nframes);
    return r;
}

static int dump_text(FILE *f, const struct sp_thread_stack *v, size_t n,
                     const struct sp_thread_wait *waits, size_t nwaits)
{
    struct sp_pctab tab;
    struct sp_symbolizer *s = sp_symbolizer_acquire();
    int r = s ? 0 : ENOMEM;
    if (r == 0) {
        r = symbolize_threads(&tab, s, v, n);
        size_t nholds = 0;
        struct known_hold *holds = r == 0 ? known_holds(waits, nwaits, &nholds) : NULL;
        if (r == 0) {
            struct dump_ctx d = { v, n, waits, nwaits, holds, nholds, &tab, s, sp_now_ns() };
            fprintf(f, "syncprof: thread dump of process %d, %zu threads; held locks %s\n\n",
                    (int)getpid(), n,
                    sp_lock_tracking() ? "tracked"
                                  : "not tracked (SYNCPROF_TRACK_LOCKS=1 tracks them)");
            for (size_t i = 0; i < n; i++)
                print_thread(f, &v[i], &d);
            sp_pctab_free(&tab);
        }
        free(holds);
        sp_symbolizer_release();
    }
    return r;
}

/*
 * Every thread's wait (with its stack when the wrapper saved its
 * registers) and then every thread's stack, interrupting only the threads
 * mode allows and never one in a wrapped wait. The waits come first: a
 * thread shown waiting was waiting when its stack was taken.
 */
struct capture {
    struct sp_thread_wait *waits;
    size_t nwaits;
    struct sp_thread_stack *threads;
    size_t n;
};

static int capture_all(struct capture *c, void *leaf, uintptr_t caller, enum sp_capture_mode mode)
{
    memset(c, 0, sizeof *c);
    int r = sp_waits_collect(&c->waits, &c->nwaits, true);
    if (r != 0)
        return r;
    struct sp_thread_waited *waited = malloc((c->nwaits ? c->nwaits : 1) * sizeof *waited);
    if (!waited) {
        free(c->waits);
        return ENOMEM;
    }
    for (size_t i = 0; i < c->nwaits; i++)
        waited[i] = (struct sp_thread_waited){ c->waits[i].tid, c->waits[i].nframes,
                                               c->waits[i].pcs };
    r = sp_threads_capture(&c->threads, &c->n, leaf, caller, waited, c->nwaits, mode);
    free(waited);
    if (r != 0)
        free(c->waits);
    return r;
}

static void capture_free(struct capture *c)
{
    free(c->waits);
    free(c->threads);
}

int sp_dump_write(int fd, void *leaf, uintptr_t caller)
{
    struct capture c;
    sp_enter_profiler();
    int r = capture_all(&c, leaf, caller, SP_CAPTURE_FULL);
    if (r == 0) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (!f) {
            r = ENOMEM;
        } else {
            r = dump_text(f, c.threads, c.n, c.waits, c.nwaits);
            if (fclose(f) != 0 && r == 0)
                r = ENOMEM;
            if (r == 0)
                r = sp_write_all(fd, text, len);
            free(text);
        }
        capture_free(&c);
    }
    sp_leave_profiler();
    return r;
}

/* ---- The grouped "threads" profile -------------------------------------------------- */

static int cmp_stack(const void *pa, const void *pb)
{
    const struct sp_thread_stack *a = pa, *b = pb;
    int na = a->available ? a->nframes : 0, nb = b->available ? b->nframes : 0;
    if (na != nb)
        return na < nb ? -1 : 1;
    for (int i = 0; i < na; i++)
        if (a->pcs[i] != b->pcs[i])
            return a->pcs[i] < b->pcs[i] ? -1 : 1;
    return 0;
}

static const uintptr_t lost_stack[1] = { SP_PC_LOST };

/* One record per distinct stack, counting its threads; a thread whose
 * stack is unavailable counts under the lost-samples stack. syncprof's own
 * threads are not the program's and are left out, as Go's goroutine
 * profile leaves out the runtime's. */
static size_t group_stacks(struct sp_thread_stack *v, size_t n, struct sp_record *recs)
{
    qsort(v, n, sizeof *v, cmp_stack);
    size_t k = 0;
    const struct sp_thread_stack *last = NULL; /* the last thread counted */
    for (size_t i = 0; i < n; i++) {
        if (v[i].source == SP_STACK_SERVICE)
            continue;
        if (last && cmp_stack(last, &v[i]) == 0) {
            recs[k - 1].count += 1;
            continue;
        }
        last = &v[i];
        recs[k].count = 1;
        recs[k].delay_ns = 0;
        recs[k].nframes = v[i].available ? v[i].nframes : 1;
        recs[k].pcs = v[i].available ? v[i].pcs : lost_stack;
        k++;
    }
    return k;
}

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int sp_threads_profile_write(int fd, int debug, void *leaf, uintptr_t caller)
{
    if (debug >= 2)
        return sp_dump_write(fd, leaf, caller);
    struct capture c;
    sp_enter_profiler();
    int r = capture_all(&c, leaf, caller, SP_CAPTURE_PROFILE);
    if (r == 0) {
        struct sp_thread_stack *v = c.threads;
        size_t n = c.n;
        struct sp_record *recs = calloc(n ? n : 1, sizeof *recs);
        if (!recs) {
            r = ENOMEM;
        } else {
            struct sp_profile_view view = {
                .kind = SP_PROFILE_BLOCK, /* ignored: count_only */
                .recs = recs,
                .n = group_stacks(v, n, recs),
                .period = 1,
                .time_nanos = wall_ns(),
                .count_only = true,
            };
            r = debug > 0 ? sp_format_text(fd, &view) : sp_format_pprof(fd, &view);
            free(recs);
        }
        capture_free(&c);
    }
    sp_leave_profiler();
    return r;
}

void sp_report_dump(void *leaf, uintptr_t caller)
{
    int fd = sp_report_open();
    int r = sp_dump_write(fd, leaf, caller);
    if (r != 0)
        dprintf(fd, "syncprof: thread dump failed: %s\n", strerror(r));
    sp_report_close(fd);
}

SP_PUBLIC int syncprof_dump_threads(int fd)
{
    if (fd < 0)
        return EBADF;
    return sp_dump_write(fd, (void *)syncprof_dump_threads, (uintptr_t)__builtin_return_address(0));
}

void sp_dump_from_environment(void)
{
    bool interrupt;
    if (sp_env_bool("SYNCPROF_DUMP_INTERRUPT", &interrupt))
        sp_threads_set_interrupt(interrupt);
}
