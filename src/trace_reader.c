/*
 * trace_reader.c - a trace file back into tracks and slices (see
 * trace_reader.h). The file is one Trace message (concatenated packets
 * are one); events are ordered by timestamp (stable, so a slice's begin
 * and end at one instant keep their order) and each track's begins and
 * ends are matched with a stack, as Perfetto matches them.
 *
 * Memory: the decoded message, plus one slice per begin or instant event.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "perfetto_trace.pb-c.h"
#include "trace_reader.h"

typedef Perfetto__Protos__TrackEvent Event;

struct ev {
    int64_t ts;
    size_t order;
    const Event *e;
};

static int by_time(const void *a, const void *b)
{
    const struct ev *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

static uint64_t *dup_ids(const uint64_t *ids, size_t n)
{
    uint64_t *d = malloc((n ? n : 1) * sizeof *d);
    if (d && n)
        memcpy(d, ids, n * sizeof *d);
    return d;
}

/* Appends ids to *list (n entries). */
static void add_ids(uint64_t **list, size_t *n, const uint64_t *ids, size_t k)
{
    if (!k)
        return;
    uint64_t *l = realloc(*list, (*n + k) * sizeof *l);
    if (!l)
        return;
    memcpy(l + *n, ids, k * sizeof *l);
    *list = l;
    *n += k;
}

static void annotations(struct sp_trace_slice *s, const Event *e)
{
    for (size_t i = 0; i < e->n_debug_annotations; i++) {
        const Perfetto__Protos__DebugAnnotation *a = e->debug_annotations[i];
        if (!a->name)
            continue;
        uint64_t u = a->value_case == PERFETTO__PROTOS__DEBUG_ANNOTATION__VALUE_POINTER_VALUE ? a->pointer_value
                   : a->value_case == PERFETTO__PROTOS__DEBUG_ANNOTATION__VALUE_UINT_VALUE  ? a->uint_value
                   : (uint64_t)a->int_value;
        if (strcmp(a->name, "object") == 0)
            s->object = u;
        else if (strcmp(a->name, "task") == 0)
            s->task = u;
        else if (strcmp(a->name, "waiters") == 0)
            s->waiters = (int64_t)u;
        else if (strcmp(a->name, "kind") == 0 && a->string_value &&
                 a->value_case == PERFETTO__PROTOS__DEBUG_ANNOTATION__VALUE_STRING_VALUE)
            snprintf(s->kind, sizeof s->kind, "%s", a->string_value);
    }
}

const struct sp_trace_track *sp_trace_track_of(const struct sp_trace *t, uint64_t uuid)
{
    for (size_t i = 0; i < t->ntracks; i++)
        if (t->tracks[i].uuid == uuid)
            return &t->tracks[i];
    return NULL;
}

/* An open slice of a track: the stack of begins not yet ended. */
struct open {
    uint64_t track;
    size_t slice;
};

static int build(struct sp_trace *t, const Perfetto__Protos__Trace *msg)
{
    struct ev *evs = calloc(msg->n_packet ? msg->n_packet : 1, sizeof *evs);
    struct open *open = calloc(msg->n_packet ? msg->n_packet : 1, sizeof *open);
    t->tracks = calloc(msg->n_packet ? msg->n_packet : 1, sizeof *t->tracks);
    t->slices = calloc(msg->n_packet ? msg->n_packet : 1, sizeof *t->slices);
    if (!evs || !open || !t->tracks || !t->slices) {
        free(evs);
        free(open);
        return ENOMEM;
    }
    size_t nev = 0, nopen = 0;
    t->packets = msg->n_packet;
    for (size_t i = 0; i < msg->n_packet; i++) {
        const Perfetto__Protos__TracePacket *p = msg->packet[i];
        if (p->data_case == PERFETTO__PROTOS__TRACE_PACKET__DATA_TRACK_DESCRIPTOR) {
            const Perfetto__Protos__TrackDescriptor *d = p->track_descriptor;
            struct sp_trace_track *seen = (struct sp_trace_track *)sp_trace_track_of(t, d->uuid);
            if (seen) {
                /* A thread described again was renamed: the last name
                 * stands, as in Perfetto. */
                if (d->thread && d->thread->thread_name && d->thread->thread_name[0]) {
                    char *name = dup_or_empty(d->thread->thread_name);
                    if (name) {
                        free(seen->name);
                        seen->name = name;
                    }
                }
                continue;
            }
            struct sp_trace_track *k = &t->tracks[t->ntracks++];
            k->uuid = d->uuid;
            k->parent = d->parent_uuid;
            k->counter = d->counter != NULL;
            if (d->thread) {
                k->pid = d->thread->pid;
                k->tid = (int)d->thread->tid;
                k->name = dup_or_empty(d->thread->thread_name);
            } else if (d->process) {
                k->pid = d->process->pid;
                k->name = dup_or_empty(d->process->process_name);
            } else {
                k->name = dup_or_empty(d->name);
            }
        } else if (p->data_case == PERFETTO__PROTOS__TRACE_PACKET__DATA_TRACK_EVENT) {
            evs[nev].ts = (int64_t)p->timestamp;
            evs[nev].order = i;
            evs[nev++].e = p->track_event;
        }
    }
    qsort(evs, nev, sizeof *evs, by_time);
    for (size_t i = 0; i < nev; i++) {
        const Event *e = evs[i].e;
        if (e->type == PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_COUNTER) {
            const struct sp_trace_track *k = sp_trace_track_of(t, e->track_uuid);
            if (k && strcmp(k->name, "syncprof lost events") == 0)
                t->lost = e->counter_value;
            continue;
        }
        if (e->type == PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_END) {
            size_t j = nopen;
            while (j > 0 && open[j - 1].track != e->track_uuid)
                j--;
            if (j == 0)
                continue; /* an end without a begin */
            struct sp_trace_slice *s = &t->slices[open[j - 1].slice];
            s->dur = evs[i].ts - s->ts;
            add_ids(&s->flows_out, &s->n_out, e->flow_ids, e->n_flow_ids);
            add_ids(&s->flows_in, &s->n_in, e->terminating_flow_ids, e->n_terminating_flow_ids);
            memmove(&open[j - 1], &open[j], (nopen - j) * sizeof *open);
            nopen--;
            continue;
        }
        if (e->type != PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_BEGIN &&
            e->type != PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_INSTANT)
            continue;
        struct sp_trace_slice *s = &t->slices[t->nslices];
        s->track = e->track_uuid;
        s->name = dup_or_empty(e->name);
        s->category = dup_or_empty(e->n_categories ? e->categories[0] : NULL);
        s->ts = evs[i].ts;
        s->flows_out = dup_ids(e->flow_ids, e->n_flow_ids);
        s->n_out = e->n_flow_ids;
        s->flows_in = dup_ids(e->terminating_flow_ids, e->n_terminating_flow_ids);
        s->n_in = e->n_terminating_flow_ids;
        annotations(s, e);
        for (size_t j = 0; j < nopen; j++)
            s->depth += open[j].track == e->track_uuid;
        if (e->type == PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_BEGIN) {
            s->dur = -1;
            open[nopen].track = e->track_uuid;
            open[nopen++].slice = t->nslices;
        }
        t->nslices++;
    }
    free(evs);
    free(open);
    return 0;
}

int sp_trace_read(const char *path, size_t max_bytes, struct sp_trace *t)
{
    memset(t, 0, sizeof *t);
    t->lost = -1;
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno;
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || (uint64_t)st.st_size > max_bytes) {
        fclose(f);
        return EFBIG;
    }
    size_t n = (size_t)st.st_size;
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf || fread(buf, 1, n, f) != n) {
        free(buf);
        fclose(f);
        return buf ? EIO : ENOMEM;
    }
    fclose(f);
    Perfetto__Protos__Trace *msg = perfetto__protos__trace__unpack(NULL, n, buf);
    free(buf);
    if (!msg)
        return EINVAL;
    int r = build(t, msg);
    perfetto__protos__trace__free_unpacked(msg, NULL);
    return r;
}

void sp_trace_free(struct sp_trace *t)
{
    for (size_t i = 0; i < t->ntracks; i++)
        free(t->tracks[i].name);
    for (size_t i = 0; i < t->nslices; i++) {
        free(t->slices[i].name);
        free(t->slices[i].category);
        free(t->slices[i].flows_out);
        free(t->slices[i].flows_in);
    }
    free(t->tracks);
    free(t->slices);
    memset(t, 0, sizeof *t);
}
