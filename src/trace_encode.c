/*
 * trace_encode.c - the tracer's records as Perfetto packets (see
 * trace_encode.h and docs/tracing.md for what each looks like).
 *
 * Tracks: one for the process, one per traced thread (its waits, regions,
 * logs and wake-ups), one "holds" track per thread that held a lock someone
 * waited for (holds of two locks need not nest, so they stay off the
 * thread's own track, where slices must), one per task, and a counter of
 * syncprof's lost events. Each packet is packed as a Trace with one packet:
 * concatenated, they are one Trace. Timestamps are absolute, on
 * CLOCK_BOOTTIME (Perfetto's default trace clock), so packets need no order
 * and no incremental state.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "lock_identity.h"
#include "object_names.h"
#include "perfetto_trace.pb-c.h"
#include "symbolize.h"
#include "thread_registry.h"
#include "trace_encode.h"
#include "wait_table.h"

typedef Perfetto__Protos__TracePacket Packet;
typedef Perfetto__Protos__TrackEvent Event;
typedef Perfetto__Protos__TrackDescriptor Track;
typedef Perfetto__Protos__DebugAnnotation Annotation;

/* Track uuids: a kind in the top bits, an id below. */
#define UUID(kind, id) (((uint64_t)(kind) << 56) | (uint64_t)(id))
enum { UUID_PROCESS = 1, UUID_THREAD, UUID_HOLDS, UUID_TASK, UUID_LOST };
/* A task's own flow, from where it began to where it ended. */
#define TASK_FLOW(id) UUID(0x80, id)

#define OUT_BUFFER (256u * 1024u)

void sp_trace_out_flush(struct sp_trace_out *out)
{
    size_t done = 0;
    while (done < out->len && out->err == 0) {
        ssize_t n = write(out->fd, out->buf + done, out->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            out->err = n < 0 ? errno : EIO;
        else
            done += (size_t)n;
    }
    out->len = 0;
}

static void emit(struct sp_trace_out *out, Packet *p)
{
    p->has_trusted_packet_sequence_id = 1;
    p->trusted_packet_sequence_id = out->sequence;
    if (out->packets == 0) {
        p->has_sequence_flags = 1;
        p->sequence_flags = 1; /* SEQ_INCREMENTAL_STATE_CLEARED */
    }
    Perfetto__Protos__Trace t = PERFETTO__PROTOS__TRACE__INIT;
    t.n_packet = 1;
    t.packet = &p;
    size_t size = perfetto__protos__trace__get_packed_size(&t);
    if (out->len + size > out->cap)
        sp_trace_out_flush(out);
    if (size > out->cap)
        return; /* cannot happen: texts are bounded */
    out->len += perfetto__protos__trace__pack(&t, out->buf + out->len);
    out->packets++;
}

static void emit_track(struct sp_trace_out *out, Track *t)
{
    Packet p = PERFETTO__PROTOS__TRACE_PACKET__INIT;
    p.data_case = PERFETTO__PROTOS__TRACE_PACKET__DATA_TRACK_DESCRIPTOR;
    p.track_descriptor = t;
    emit(out, &p);
}

static void emit_event(struct sp_trace_out *out, int64_t ts, Event *e)
{
    Packet p = PERFETTO__PROTOS__TRACE_PACKET__INIT;
    p.has_timestamp = 1;
    p.timestamp = (uint64_t)(ts + out->clock_offset);
    p.data_case = PERFETTO__PROTOS__TRACE_PACKET__DATA_TRACK_EVENT;
    p.track_event = e;
    emit(out, &p);
}

static void event_init(Event *e, int type, uint64_t track, char *name, char **category)
{
    *e = (Event)PERFETTO__PROTOS__TRACK_EVENT__INIT;
    e->has_type = 1;
    e->type = type;
    e->has_track_uuid = 1;
    e->track_uuid = track;
    e->name = name;
    if (category) {
        e->n_categories = 1;
        e->categories = category;
    }
}

static Annotation annotation(const char *name)
{
    Annotation a = PERFETTO__PROTOS__DEBUG_ANNOTATION__INIT;
    a.name = (char *)name;
    return a;
}

/* Reads a one-line /proc file of this process into buf; false if it cannot. */
static bool read_line(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return true;
}

bool sp_trace_out_begin(struct sp_trace_out *out, int fd, uint32_t session, int64_t min_wait_ns)
{
    struct timespec mono, boot;
    memset(out, 0, sizeof *out);
    out->buf = malloc(OUT_BUFFER);
    if (!out->buf)
        return false;
    out->cap = OUT_BUFFER;
    out->fd = fd;
    out->session = session;
    out->pid = getpid();
    /* A sequence of its own per trace and process: traces appended to one
     * file (an exec) stay apart. */
    out->sequence = ((uint32_t)out->pid << 8) ^ session ^ 0x5e000000u;
    out->min_wait_ns = min_wait_ns;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_BOOTTIME, &boot);
    out->clock_offset = ((int64_t)boot.tv_sec - mono.tv_sec) * 1000000000 + (boot.tv_nsec - mono.tv_nsec);

    char name[64] = "";
    read_line("/proc/self/comm", name, sizeof name);
    Perfetto__Protos__ProcessDescriptor pd = PERFETTO__PROTOS__PROCESS_DESCRIPTOR__INIT;
    pd.has_pid = 1;
    pd.pid = out->pid;
    pd.process_name = name;
    Track t = PERFETTO__PROTOS__TRACK_DESCRIPTOR__INIT;
    t.has_uuid = 1;
    t.uuid = UUID(UUID_PROCESS, out->pid);
    t.process = &pd;
    emit_track(out, &t);

    Perfetto__Protos__CounterDescriptor cd = PERFETTO__PROTOS__COUNTER_DESCRIPTOR__INIT;
    cd.unit_name = "events";
    Track c = PERFETTO__PROTOS__TRACK_DESCRIPTOR__INIT;
    c.has_uuid = 1;
    c.uuid = UUID(UUID_LOST, out->pid);
    c.has_parent_uuid = 1;
    c.parent_uuid = t.uuid;
    c.name = "syncprof lost events";
    c.counter = &cd;
    emit_track(out, &c);
    out->lost_shown = UINT64_MAX;
    return true;
}

/* The track of thread tid, named name. */
static void emit_thread_track(struct sp_trace_out *out, int tid, char *name)
{
    Perfetto__Protos__ThreadDescriptor td = PERFETTO__PROTOS__THREAD_DESCRIPTOR__INIT;
    td.has_pid = 1;
    td.pid = out->pid;
    td.has_tid = 1;
    td.tid = tid;
    td.thread_name = name;
    Track t = PERFETTO__PROTOS__TRACK_DESCRIPTOR__INIT;
    t.has_uuid = 1;
    t.uuid = UUID(UUID_THREAD, tid);
    t.has_parent_uuid = 1;
    t.parent_uuid = UUID(UUID_PROCESS, out->pid);
    t.thread = &td;
    emit_track(out, &t);
}

/*
 * The thread's track and, when asked, its holds track, once per trace; the
 * thread's track again when the thread has been renamed since (read at
 * most once a second per thread: a /proc read per drain per thread would
 * cost the writer more than the renames are worth).
 */
#define NAME_REREAD_NS 1000000000

static void describe_thread(struct sp_trace_out *out, struct sp_trace_ring *r, bool holds)
{
    char name[64], path[64];
    bool first = r->described != out->session || r->described_tid != r->tid;
    if (first)
        r->holds_described = 0; /* a new owner's holds track is not described either */
    int64_t now = sp_now_ns();
    if (first || now - r->name_read_ns >= NAME_REREAD_NS) {
        snprintf(path, sizeof path, "/proc/self/task/%d/comm", r->tid);
        if (!read_line(path, name, sizeof name))
            snprintf(name, sizeof name, "%.15s", first ? r->name : r->shown_name);
        r->name_read_ns = now;
    } else {
        snprintf(name, sizeof name, "%s", r->shown_name);
    }
    if (first || strcmp(name, r->shown_name) != 0) {
        r->described = out->session;
        r->described_tid = r->tid;
        snprintf(r->shown_name, sizeof r->shown_name, "%.15s", name);
        emit_thread_track(out, r->tid, name);
    }
    if (holds && r->holds_described != out->session) {
        r->holds_described = out->session;
        snprintf(name, sizeof name, "holds of thread %d", r->tid);
        Track t = PERFETTO__PROTOS__TRACK_DESCRIPTOR__INIT;
        t.has_uuid = 1;
        t.uuid = UUID(UUID_HOLDS, r->tid);
        t.has_parent_uuid = 1;
        t.parent_uuid = UUID(UUID_PROCESS, out->pid);
        t.name = name;
        emit_track(out, &t);
    }
}

/*
 * Birth sites already named in this trace, by token (lock_identity.h): a
 * lock's site is symbolized once per trace, whatever its waits. A slot is
 * replaced by the next token that hashes to it, which costs one more
 * symbolization, never a wrong name (the token is compared whole).
 */
#define SITE_NAMES 256
struct sp_trace_site_name {
    char token[SP_LOCK_TOKEN_MAX];
    char text[SP_NAME_MAX];
};

static const char *site_name(struct sp_trace_out *out, const char *token)
{
    if (!out->sites && !(out->sites = calloc(SITE_NAMES, sizeof *out->sites)))
        return NULL;
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *c = token; *c; c++)
        h = (h ^ (unsigned char)*c) * 16777619u;
    struct sp_trace_site_name *n = &out->sites[h % SITE_NAMES];
    if (strcmp(n->token, token) != 0) {
        struct sp_symbolizer *sym = sp_symbolizer_acquire(); /* NULL: the site in hex */
        bool ok = sp_lock_site_text(sym, token, n->text, sizeof n->text);
        if (sym)
            sp_symbolizer_release();
        if (!ok)
            return NULL;
        snprintf(n->token, sizeof n->token, "%s", token);
    }
    return n->text;
}

/*
 * The identity of the record's object, as the profiles give it
 * (lock_identity.h): its name ("m1"), else the lock's birth site
 * ("pool.c:137 pool_new #3"), else its address. The birth comes with the
 * record, so a lock destroyed before the flush keeps it; a record made
 * before its lock had one (the first contended unlock of a statically
 * initialised lock, whose waiter births it when its wait ends) looks the
 * lock up now.
 */
static void identity(struct sp_trace_out *out, const struct sp_trace_rec *rec,
                     char buf[SP_NAME_MAX])
{
    const void *object = (const void *)(uintptr_t)rec->object;
    char token[SP_LOCK_TOKEN_MAX];
    const char *site;
    if (sp_object_name(object, buf))
        return;
    if ((sp_lock_birth_token(rec->birth, token) || sp_lock_token(object, 0, token)) &&
        (site = site_name(out, token)))
        snprintf(buf, SP_NAME_MAX, "%s", site);
    else
        snprintf(buf, SP_NAME_MAX, "%#" PRIxPTR, (uintptr_t)object);
}

static const char *const wake_names[] = {
    [SP_WAKE_SIGNAL] = "signal",
    [SP_WAKE_BROADCAST] = "broadcast",
    [SP_WAKE_BARRIER] = "barrier",
    [SP_WAKE_CHAN] = "wake",
    [SP_WAKE_POST] = "sem_post",
};

/*
 * The start of a wait's or a hold's slice on track, at rec->t0, annotated
 * with the object's address, its kind and one count (count_key: the time
 * waited, or the waiters a hold kept).
 */
static void begin_slice(struct sp_trace_out *out, uint64_t track, const struct sp_trace_rec *rec,
                        char *name, char **category, const char *kind, const char *count_key,
                        int64_t count)
{
    Annotation a[3] = { annotation("object"), annotation("kind"), annotation(count_key) };
    a[0].value_case = PERFETTO__PROTOS__DEBUG_ANNOTATION__VALUE_POINTER_VALUE;
    a[0].pointer_value = rec->object;
    a[1].value_case = PERFETTO__PROTOS__DEBUG_ANNOTATION__VALUE_STRING_VALUE;
    a[1].string_value = (char *)kind;
    a[2].value_case = PERFETTO__PROTOS__DEBUG_ANNOTATION__VALUE_INT_VALUE;
    a[2].int_value = count;
    Annotation *ap[3] = { &a[0], &a[1], &a[2] };

    Event e;
    event_init(&e, PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_BEGIN, track, name, category);
    e.n_debug_annotations = 3;
    e.debug_annotations = ap;
    emit_event(out, rec->t0, &e);
}

static void record_wait(struct sp_trace_out *out, struct sp_trace_ring *r, const struct sp_trace_rec *rec)
{
    char id[SP_NAME_MAX], name[SP_NAME_MAX + 32];
    char *category = "wait";
    enum sp_wait_reason reason = rec->kind;
    const char *kind = sp_wait_label(reason, false);
    identity(out, rec, id);
    snprintf(name, sizeof name, "%s %s", kind, id);
    describe_thread(out, r, false);

    begin_slice(out, UUID(UUID_THREAD, r->tid), rec, name, &category, kind, "waited_ns",
                rec->t1 - rec->t0);

    Event e;

    uint64_t in[2];
    size_t nin = 0;
    if (rec->in1)
        in[nin++] = rec->in1;
    if (rec->in2)
        in[nin++] = rec->in2;
    event_init(&e, PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_END, UUID(UUID_THREAD, r->tid),
               NULL, NULL);
    e.n_terminating_flow_ids = nin;
    e.terminating_flow_ids = in;
    emit_event(out, rec->t1, &e);
}

/* The flows out of a hold or a wake-up: ids flow .. flow + nflows - 1. */
static size_t flows_out(const struct sp_trace_rec *rec, uint64_t *ids, size_t max)
{
    size_t n = rec->nflows < max ? rec->nflows : max;
    for (size_t i = 0; i < n; i++)
        ids[i] = rec->flow + i;
    return n;
}

static void record_hold(struct sp_trace_out *out, struct sp_trace_ring *r, const struct sp_trace_rec *rec)
{
    char id[SP_NAME_MAX], name[SP_NAME_MAX + 32];
    char *category = "hold";
    identity(out, rec, id);
    snprintf(name, sizeof name, "hold %s", id);
    describe_thread(out, r, true);

    begin_slice(out, UUID(UUID_HOLDS, r->tid), rec, name, &category,
                sp_wait_label(rec->kind, false), "waiters", rec->nflows);
    Event e;

    uint64_t ids[64];
    event_init(&e, PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_END, UUID(UUID_HOLDS, r->tid),
               NULL, NULL);
    e.n_flow_ids = flows_out(rec, ids, 64);
    e.flow_ids = ids;
    emit_event(out, rec->t1, &e);
}

/* An instant named name at rec->t0 on the track of thread tid, in category
 * "wake", with the object's address and the record's flows out. */
static void wake_instant(struct sp_trace_out *out, int tid, char *name, const struct sp_trace_rec *rec)
{
    char *category = "wake";
    Annotation a = annotation("object");
    a.value_case = PERFETTO__PROTOS__DEBUG_ANNOTATION__VALUE_POINTER_VALUE;
    a.pointer_value = rec->object;
    Annotation *ap = &a;
    uint64_t ids[64];
    Event e;
    event_init(&e, PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_INSTANT, UUID(UUID_THREAD, tid), name,
               &category);
    e.n_debug_annotations = 1;
    e.debug_annotations = &ap;
    e.n_flow_ids = flows_out(rec, ids, 64);
    e.flow_ids = ids;
    emit_event(out, rec->t0, &e);
}

static void record_wake(struct sp_trace_out *out, struct sp_trace_ring *r, const struct sp_trace_rec *rec)
{
    char id[SP_NAME_MAX], name[SP_NAME_MAX + 32];
    identity(out, rec, id);
    const char *kind = rec->kind < sizeof wake_names / sizeof *wake_names ? wake_names[rec->kind] : "wake";
    snprintf(name, sizeof name, "%s %s", kind ? kind : "wake", id);
    describe_thread(out, r, false);
    wake_instant(out, r->tid, name, rec);
}

/* The record's texts, as C strings. */
static void texts(const struct sp_trace_rec *rec, char *a, char *b)
{
    const char *t = (const char *)(rec + 1);
    memcpy(a, t, rec->len1);
    a[rec->len1] = '\0';
    if (b) {
        memcpy(b, t + rec->len1, rec->len2);
        b[rec->len2] = '\0';
    }
}

/* True if a ring of thread tid has its track in this trace already. */
static bool thread_described(const struct sp_trace_out *out, int tid)
{
    struct sp_trace_ring *rings = sp_trace_rings();
    for (unsigned i = 0, used = sp_trace_rings_used(); i < used; i++)
        if (rings[i].described == out->session && rings[i].described_tid == tid)
            return true;
    return false;
}

/*
 * A joined thread's end, recorded by its joiner: the thread's track (which
 * it may not have yet, if it recorded nothing) gets an instant "thread end"
 * with the flow to the join's wait.
 */
static void record_thread_end(struct sp_trace_out *out, const struct sp_trace_rec *rec)
{
    char name[SP_TRACE_TEXT_MAX + 1];
    texts(rec, name, NULL);
    int tid = (int)rec->t1;
    /* A ring of the thread drained later describes it again, with the
     * name it had then, which stands. */
    if (!thread_described(out, tid))
        emit_thread_track(out, tid, name);
    wake_instant(out, tid, "thread end", rec);
}

static void record_task(struct sp_trace_out *out, struct sp_trace_ring *r, const struct sp_trace_rec *rec)
{
    char text[SP_TRACE_TEXT_MAX + 1], name[SP_TRACE_TEXT_MAX + 16];
    char *category = "task";
    bool begin = rec->type == SP_REC_TASK_BEGIN;
    uint64_t task = rec->object;
    uint64_t track = UUID(UUID_TASK, task & 0xffffffffffffffu);
    describe_thread(out, r, false);
    texts(rec, text, NULL);
    if (begin) {
        Track t = PERFETTO__PROTOS__TRACK_DESCRIPTOR__INIT;
        t.has_uuid = 1;
        t.uuid = track;
        t.has_parent_uuid = 1;
        t.parent_uuid = UUID(UUID_PROCESS, out->pid);
        snprintf(name, sizeof name, "task %" PRIu64 " %s", task, text);
        t.name = name;
        emit_track(out, &t);
    }

    Annotation a = annotation("task");
    a.value_case = PERFETTO__PROTOS__DEBUG_ANNOTATION__VALUE_UINT_VALUE;
    a.uint_value = task;
    Annotation *ap = &a;
    Event e;
    event_init(&e, begin ? PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_BEGIN
                         : PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_END,
               track, begin ? text : NULL, &category);
    e.n_debug_annotations = 1;
    e.debug_annotations = &ap;
    emit_event(out, rec->t0, &e);

    /* On the thread's own track: where the task began or ended, joined by a flow. */
    uint64_t flow = TASK_FLOW(task);
    snprintf(name, sizeof name, "task %s %s", text, begin ? "begins" : "ends");
    event_init(&e, PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_INSTANT, UUID(UUID_THREAD, r->tid), name,
               &category);
    e.n_debug_annotations = 1;
    e.debug_annotations = &ap;
    if (begin) {
        e.n_flow_ids = 1;
        e.flow_ids = &flow;
    } else {
        e.n_terminating_flow_ids = 1;
        e.terminating_flow_ids = &flow;
    }
    emit_event(out, rec->t0, &e);
}

static void record_text(struct sp_trace_out *out, struct sp_trace_ring *r, const struct sp_trace_rec *rec)
{
    char a[SP_TRACE_TEXT_MAX + 1], b[SP_TRACE_TEXT_MAX + 1];
    char *category = "region";
    describe_thread(out, r, false);
    Event e;
    uint64_t track = UUID(UUID_THREAD, r->tid);
    switch (rec->type) {
    case SP_REC_REGION_BEGIN:
        texts(rec, a, NULL);
        event_init(&e, PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_BEGIN, track, a, &category);
        break;
    case SP_REC_REGION_END:
        event_init(&e, PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_END, track, NULL, NULL);
        break;
    default: /* SP_REC_LOG: named by the message, in the log's category */
        texts(rec, a, b);
        category = a;
        event_init(&e, PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_INSTANT, track, b, &category);
        break;
    }
    emit_event(out, rec->t0, &e);
}

void sp_trace_out_record(struct sp_trace_ring *r, const struct sp_trace_rec *rec, void *arg)
{
    struct sp_trace_out *out = arg;
    if (rec->session != out->session)
        return;
    if (rec->len1 > SP_TRACE_TEXT_MAX || rec->len2 > SP_TRACE_TEXT_MAX ||
        sizeof *rec + rec->len1 + rec->len2 > rec->size)
        return;
    switch (rec->type) {
    case SP_REC_WAIT:
        if (rec->t1 - rec->t0 >= out->min_wait_ns)
            record_wait(out, r, rec);
        break;
    case SP_REC_HOLD:
        if (rec->t1 - rec->t0 >= out->min_wait_ns)
            record_hold(out, r, rec);
        break;
    case SP_REC_WAKE:
        record_wake(out, r, rec);
        break;
    case SP_REC_THREAD_END:
        if (rec->nflows == 1 && rec->t1 > 0 && rec->t1 <= INT32_MAX)
            record_thread_end(out, rec);
        break;
    case SP_REC_TASK_BEGIN:
    case SP_REC_TASK_END:
        record_task(out, r, rec);
        break;
    case SP_REC_REGION_BEGIN:
    case SP_REC_REGION_END:
    case SP_REC_LOG:
        record_text(out, r, rec);
        break;
    default:
        break;
    }
}

/* The waits in progress when the trace stops, copied out of the wait table
 * (at most MAX_UNFINISHED: the rest are left out). */
#define MAX_UNFINISHED 1024
struct unfinished {
    struct sp_trace_rec rec[MAX_UNFINISHED];
    int tid[MAX_UNFINISHED];
    size_t n;
    int64_t now;
    uint32_t session;
};

/* sp_wait_foreach's callback, under a bucket lock: copies only. A
 * condition waiter's second record (on its mutex) and syncprof's own
 * threads are left out. */
static void collect_unfinished(const struct sp_waiter *w, void *arg)
{
    struct unfinished *u = arg;
    if (u->n == MAX_UNFINISHED || w->reason == SP_WAIT_COND_REACQUIRE || sp_is_service_thread(w->tid))
        return;
    struct sp_trace_rec *r = &u->rec[u->n];
    memset(r, 0, sizeof *r);
    r->type = SP_REC_WAIT;
    r->size = sizeof *r;
    r->kind = (uint16_t)w->reason;
    r->session = u->session;
    r->t0 = w->spun_from_ns ? w->spun_from_ns : w->start_ns;
    r->t1 = u->now;
    r->object = (uintptr_t)w->object;
    r->in1 = __atomic_load_n(&w->wake_flow, __ATOMIC_RELAXED);
    u->tid[u->n++] = w->tid;
}

void sp_trace_out_unfinished(struct sp_trace_out *out, int64_t now)
{
    struct unfinished *u = malloc(sizeof *u);
    if (!u)
        return;
    u->n = 0;
    u->now = now;
    u->session = out->session;
    sp_wait_foreach(collect_unfinished, u);
    for (size_t i = 0; i < u->n; i++) {
        /* the thread's track, described again (the same descriptor: harmless) */
        struct sp_trace_ring thread = { .tid = u->tid[i] };
        sp_trace_out_record(&thread, &u->rec[i], out);
    }
    free(u);
}

void sp_trace_out_lost(struct sp_trace_out *out, uint64_t lost)
{
    if (lost == out->lost_shown)
        return;
    out->lost_shown = lost;
    Event e;
    event_init(&e, PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_COUNTER, UUID(UUID_LOST, out->pid), NULL,
               NULL);
    e.has_counter_value = 1;
    e.counter_value = (int64_t)lost;
    emit_event(out, sp_now_ns(), &e);
}

void sp_trace_out_end(struct sp_trace_out *out, uint64_t lost)
{
    out->lost_shown = UINT64_MAX; /* the final count, even if unchanged */
    sp_trace_out_lost(out, lost);
    sp_trace_out_flush(out);
    free(out->buf);
    out->buf = NULL;
    free(out->sites);
    out->sites = NULL;
}
