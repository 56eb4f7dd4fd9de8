/*
 * trace_events.c - what the execution tracer records, on the recording
 * thread: the hooks of trace.h (waits, contended holds, wake-ups) and the
 * public tasks, regions and logs of <syncprof/trace.h>. Each builds one
 * record on the stack and appends it to the thread's ring (trace_ring.h):
 * no allocation, and no lock but the wait table's bucket spinlock that a
 * release already takes and, for a lock that someone waited for, the lock
 * identity table's (the lock's birth goes with the record, so that a lock
 * destroyed before the writer's next flush is still named by it).
 *
 * Flow ids come from a per-thread block of ids taken from one global
 * counter, so arrows never share an id and threads rarely share the
 * counter's cache line. That counter and the task ids start from the
 * clock (id_base), so that the images of a process that execs, which
 * write one file, do not reuse each other's ids.
 *
 * One record at a time per thread: a semaphore post may come from a signal
 * handler (sem_post is async-signal-safe), and the thread it interrupted
 * may be half-way through a record of its own, its flow ids and its ring
 * in use. So every recording function marks the thread as recording, and
 * one that finds the mark set records nothing and counts the record lost.
 *
 * A hold is shown from when it began to keep someone waiting: the earliest
 * start of the current waiters' waits, or the moment the holder itself
 * acquired the lock after a wait, whichever is later (the holder's own
 * uncontended acquisition is not observed: that is the fast path, which
 * must stay free).
 */
#include <stdatomic.h>
#include <string.h>

#include <syncprof/trace.h>

#include "clock.h"
#include "export.h"
#include "lock_identity.h"
#include "sampling.h"
#include "trace.h"
#include "trace_session.h"

/* The most waiters one release or wake-up draws an arrow to. */
#define MAX_FLOWS 64
#define FLOW_BLOCK 4096

static uint64_t next_flow_block; /* atomic; 0 until the first block is taken */
static SP_TLS uint64_t flow_next, flow_end;

/* Recent acquisitions after a wait, for the start of the holds (see above). */
#define ACQUIRED_SLOTS 4
static SP_TLS struct {
    const void *object;
    int64_t at;
} acquired[ACQUIRED_SLOTS];
static SP_TLS unsigned acquired_next;
/* The last hold recorded: a later one that began inside it and ended after
 * it starts where it ended, so the holds track nests. */
static SP_TLS int64_t last_hold_start, last_hold_end;

static uint64_t task_ids; /* atomic */

/* Set while this thread builds and appends a record (see above). */
static SP_TLS volatile int recording;

static bool recording_begin(void)
{
    if (recording) {
        sp_trace_ring_count_lost();
        return false;
    }
    recording = 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    return true;
}

static void recording_end(void)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    recording = 0;
}

/*
 * The names of the tasks begun, by id modulo TASK_NAMES, so that the
 * record of a task's end (on any thread) carries its name too: the writer
 * may read the end before the beginning, from another thread's ring. A
 * slot is reused by the task TASK_NAMES later; an end that finds its slot
 * taken, or changing under it, is named "task".
 */
#define TASK_NAMES 1024
#define TASK_NAME_MAX 48
static struct {
    uint64_t id; /* atomic: 0 while the name is written */
    char name[TASK_NAME_MAX];
} task_names[TASK_NAMES];

/* The first id of a counter in this image: the clock's low 40 bits, times
 * 4096 (below 2^52, so a task id fits a track uuid's 56 bits). */
static uint64_t id_base(void)
{
    return (((uint64_t)sp_now_ns() & 0xffffffffffu) << 12) | 1;
}

/* n consecutive flow ids of this thread's block. */
static uint64_t take_flows(int n)
{
    if (flow_end - flow_next < (uint64_t)n) {
        uint64_t zero = 0;
        __atomic_compare_exchange_n(&next_flow_block, &zero, id_base(), false, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED);
        flow_next = __atomic_fetch_add(&next_flow_block, FLOW_BLOCK, __ATOMIC_RELAXED);
        flow_end = flow_next + FLOW_BLOCK;
    }
    uint64_t f = flow_next;
    flow_next += (uint64_t)n;
    return f;
}

static void rec_init(struct sp_trace_rec *r, enum sp_trace_rec_type type, int kind, int64_t t0)
{
    memset(r, 0, sizeof *r);
    r->type = (uint16_t)type;
    r->size = sizeof *r;
    r->kind = (uint16_t)kind;
    r->session = sp_trace_session();
    r->t0 = t0;
}

static void remember_acquired(const void *object, int64_t at)
{
    unsigned i = acquired_next++ % ACQUIRED_SLOTS;
    acquired[i].object = object;
    acquired[i].at = at;
}

void sp_trace_wait(const struct sp_waiter *w, int64_t end)
{
    if (!recording_begin())
        return;
    struct sp_trace_rec r;
    int64_t start = w->spun_from_ns ? w->spun_from_ns : w->start_ns;
    rec_init(&r, SP_REC_WAIT, w->reason, start);
    r.t1 = end;
    r.object = (uintptr_t)w->object;
    r.in1 = __atomic_load_n(&w->wake_flow, __ATOMIC_RELAXED);
    r.in2 = __atomic_load_n(&w->reacquire_flow, __ATOMIC_RELAXED);
    bool lock = w->reason == SP_WAIT_MUTEX || w->reason == SP_WAIT_RWLOCK_WRITE ||
                w->reason == SP_WAIT_RWLOCK_READ;
    if (lock)
        remember_acquired(w->object, end);
    if (lock || w->reason == SP_WAIT_COND)
        r.birth = sp_lock_birth(w->object);
    if (end - start >= sp_trace_min_wait())
        sp_trace_ring_push(&r);
    recording_end();
}

static void record_release(const void *object, enum sp_wait_reason kind)
{
    int64_t now = sp_now_ns(), since = now;
    uint64_t first = take_flows(MAX_FLOWS);
    int n = sp_wait_trace_wakers(object, SP_WAKERS_RELEASE, first, MAX_FLOWS, &since);
    flow_next = first + (uint64_t)n; /* the unused ids go back */
    if (n == 0)
        return;
    for (unsigned i = 0; i < ACQUIRED_SLOTS; i++) {
        if (acquired[i].object == object) {
            if (acquired[i].at > since)
                since = acquired[i].at;
            acquired[i].object = NULL;
        }
    }
    if (since > last_hold_start && since < last_hold_end)
        since = last_hold_end;
    if (since > now)
        since = now;
    last_hold_start = since;
    last_hold_end = now;
    struct sp_trace_rec r;
    rec_init(&r, SP_REC_HOLD, kind, since);
    r.t1 = now;
    r.object = (uintptr_t)object;
    r.flow = first;
    r.nflows = (uint16_t)n;
    r.birth = sp_lock_birth(object);
    sp_trace_ring_push(&r);
}

void sp_trace_release(const void *object, enum sp_wait_reason kind)
{
    if (!recording_begin())
        return;
    record_release(object, kind);
    recording_end();
}

/* A wake-up's instant, with a flow to each waiter it may end; false when
 * the wait table's bucket stayed busy (a post only). */
static bool record_wake(const void *object, enum sp_trace_wake_kind kind)
{
    int64_t now = sp_now_ns(), since = now;
    uint64_t first = take_flows(MAX_FLOWS);
    enum sp_wakers which = kind == SP_WAKE_SIGNAL || kind == SP_WAKE_BROADCAST ? SP_WAKERS_COND
                           : kind == SP_WAKE_POST                              ? SP_WAKERS_POST
                                                                               : SP_WAKERS_ANY;
    int n = sp_wait_trace_wakers(object, which, first, MAX_FLOWS, &since);
    flow_next = first + (uint64_t)(n > 0 ? n : 0); /* the unused ids go back */
    if (n <= 0)
        return n == 0;
    struct sp_trace_rec r;
    rec_init(&r, SP_REC_WAKE, kind, now);
    r.object = (uintptr_t)object;
    r.flow = first;
    r.nflows = (uint16_t)n;
    if (which == SP_WAKERS_COND) /* not a post: it may be in a signal handler */
        r.birth = sp_lock_birth(object);
    sp_trace_ring_push(&r);
    return true;
}

void sp_trace_wake(const void *object, enum sp_trace_wake_kind kind)
{
    if (sp_in_profiler() || !recording_begin())
        return;
    record_wake(object, kind);
    recording_end();
}

void sp_trace_post(const void *object)
{
    if (sp_in_profiler()) {
        sp_trace_ring_count_lost(); /* a handler interrupted the profiler */
        return;
    }
    if (!recording_begin())
        return;
    if (!record_wake(object, SP_WAKE_POST))
        sp_trace_ring_count_lost();
    recording_end();
}

uint64_t sp_trace_thread_end(const void *thread, int tid, const char *name, int64_t now)
{
    if (sp_in_profiler() || !recording_begin())
        return 0;
    _Alignas(8) unsigned char buf[sizeof(struct sp_trace_rec) + SP_TRACE_TEXT_MAX + 8];
    struct sp_trace_rec *r = (struct sp_trace_rec *)buf;
    rec_init(r, SP_REC_THREAD_END, 0, now);
    r->t1 = tid;
    r->object = (uintptr_t)thread;
    r->flow = take_flows(1);
    r->nflows = 1;
    size_t n = name ? strnlen(name, SP_TRACE_TEXT_MAX) : 0;
    if (n)
        memcpy(buf + sizeof *r, name, n);
    r->len1 = (uint16_t)n;
    r->size = (uint16_t)((sizeof *r + n + 7) & ~(size_t)7);
    uint64_t flow = sp_trace_ring_push(r) ? r->flow : 0;
    recording_end();
    return flow;
}

/* ---- Tasks, regions and logs --------------------------------------------- */

/* A record carrying one or two texts (cut to SP_TRACE_TEXT_MAX bytes). */
static void push_text(enum sp_trace_rec_type type, uint64_t object, const char *a, const char *b)
{
    if (sp_in_profiler() || !recording_begin())
        return;
    _Alignas(8) unsigned char buf[sizeof(struct sp_trace_rec) + 2 * SP_TRACE_TEXT_MAX + 8];
    struct sp_trace_rec *r = (struct sp_trace_rec *)buf;
    rec_init(r, type, 0, sp_now_ns());
    r->object = object;
    size_t la = a ? strnlen(a, SP_TRACE_TEXT_MAX) : 0, lb = b ? strnlen(b, SP_TRACE_TEXT_MAX) : 0;
    if (la)
        memcpy(buf + sizeof *r, a, la);
    if (lb)
        memcpy(buf + sizeof *r + la, b, lb);
    r->len1 = (uint16_t)la;
    r->len2 = (uint16_t)lb;
    r->size = (uint16_t)((sizeof *r + la + lb + 7) & ~(size_t)7);
    sp_trace_ring_push(r);
    recording_end();
}

SP_PUBLIC syncprof_task syncprof__task_begin(const char *name)
{
    if (!sp_tracing())
        return 0;
    uint64_t zero = 0;
    __atomic_compare_exchange_n(&task_ids, &zero, id_base(), false, __ATOMIC_RELAXED,
                                __ATOMIC_RELAXED);
    syncprof_task t = __atomic_add_fetch(&task_ids, 1, __ATOMIC_RELAXED);
    name = name ? name : "";
    unsigned slot = (unsigned)(t % TASK_NAMES);
    __atomic_store_n(&task_names[slot].id, 0, __ATOMIC_RELEASE);
    size_t n = strnlen(name, TASK_NAME_MAX - 1);
    for (size_t i = 0; i <= n; i++) /* byte by byte, atomically: an end may read it meanwhile */
        __atomic_store_n(&task_names[slot].name[i], i < n ? name[i] : '\0', __ATOMIC_RELEASE);
    __atomic_store_n(&task_names[slot].id, t, __ATOMIC_RELEASE);
    push_text(SP_REC_TASK_BEGIN, t, name, NULL);
    return t;
}

SP_PUBLIC void syncprof__task_end(syncprof_task task)
{
    if (!task || !sp_tracing())
        return;
    unsigned slot = (unsigned)(task % TASK_NAMES);
    char name[TASK_NAME_MAX] = "task";
    if (__atomic_load_n(&task_names[slot].id, __ATOMIC_ACQUIRE) == task) {
        for (size_t i = 0; i < TASK_NAME_MAX; i++)
            name[i] = __atomic_load_n(&task_names[slot].name[i], __ATOMIC_ACQUIRE);
        name[TASK_NAME_MAX - 1] = '\0';
        if (__atomic_load_n(&task_names[slot].id, __ATOMIC_ACQUIRE) != task)
            strcpy(name, "task");
    }
    push_text(SP_REC_TASK_END, task, name, NULL);
}

SP_PUBLIC void syncprof__region_begin(const char *name)
{
    if (sp_tracing())
        push_text(SP_REC_REGION_BEGIN, 0, name ? name : "", NULL);
}

SP_PUBLIC void syncprof__region_end(void)
{
    if (sp_tracing())
        push_text(SP_REC_REGION_END, 0, NULL, NULL);
}

SP_PUBLIC void syncprof__trace_log(const char *category, const char *message)
{
    if (sp_tracing())
        push_text(SP_REC_LOG, 0, category ? category : "", message ? message : "");
}
