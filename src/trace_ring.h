/*
 * trace_ring.h - the execution tracer's per-thread buffers: one
 * single-producer, single-consumer ring of records per traced thread, and
 * the record format the recording path writes and the writer thread reads.
 *
 * A thread writes only its own ring, with no lock and no allocation; the
 * writer thread (trace_session.c) is the only reader. When a ring is full
 * the record is dropped and counted in the ring's lost count, which the
 * trace shows. Memory: SP_TRACE_RING_BYTES per thread that records, for at
 * most SP_TRACE_MAX_RINGS threads at a time, mapped on the first trace and
 * given back to the system when a trace stops.
 */
#ifndef SP_TRACE_RING_H
#define SP_TRACE_RING_H

#include <stdbool.h>
#include <stdint.h>

#define SP_TRACE_RING_BYTES (64u * 1024u)
#define SP_TRACE_MAX_RINGS 256u
/* The longest text a record carries (a task, region or log string); longer
 * text is cut. */
#define SP_TRACE_TEXT_MAX 200u

enum sp_trace_rec_type {
    SP_REC_PAD,          /* fills the end of the ring before a wrap */
    SP_REC_WAIT,         /* a wrapped wait: kind (sp_wait_reason), object, t0..t1, in1/in2 */
    SP_REC_HOLD,         /* a hold someone waited for: kind, object, t0..t1, flows out */
    SP_REC_WAKE,         /* a signal, broadcast, barrier arrival or channel wake-up: kind, object, t0, flows out */
    SP_REC_REGION_BEGIN, /* text: the name */
    SP_REC_REGION_END,
    SP_REC_TASK_BEGIN,   /* object: the task id; text: the name */
    SP_REC_TASK_END,     /* object: the task id */
    SP_REC_LOG,          /* text: category, then message */
    SP_REC_THREAD_END,   /* a joined thread's end: object, t0, one flow out; t1: its tid; text: its name */
};

/* The kinds of a SP_REC_WAKE record. */
enum sp_trace_wake_kind {
    SP_WAKE_SIGNAL,
    SP_WAKE_BROADCAST,
    SP_WAKE_BARRIER,   /* an arrival at a barrier, which may be the last */
    SP_WAKE_CHAN,      /* a send, receive or close that wakes a channel waiter */
    SP_WAKE_POST,      /* a semaphore post */
};

struct sp_trace_rec {
    uint16_t type;      /* enum sp_trace_rec_type */
    uint16_t size;      /* bytes, header and text, a multiple of 8 */
    uint16_t kind;      /* wait reason or wake kind */
    uint16_t nflows;    /* flows out: ids flow .. flow + nflows - 1 */
    uint32_t session;   /* the trace it belongs to: others are dropped */
    uint16_t len1, len2; /* lengths of the two texts that follow the header */
    int64_t t0, t1;     /* CLOCK_MONOTONIC ns */
    uint64_t object;    /* the object's address, or the task id */
    uint64_t flow;      /* the first flow out */
    uint64_t in1, in2;  /* flows ending here (0: none) */
    uint64_t birth;     /* a lock's birth (sp_lock_birth), 0 if unknown or not a lock */
};

struct sp_trace_ring {
    uint64_t head;      /* written by the owner (release), bytes ever written */
    char pad_[56];
    uint64_t tail;      /* written by the writer thread (release), bytes ever read */
    int state;          /* SP_RING_FREE, _OWNED, _RETIRED; atomic */
    int tid;            /* the owner */
    uint64_t lost;      /* records dropped for want of room; owner adds, atomic */
    uint32_t described; /* the session whose trace has its track; writer's own */
    int described_tid;  /* the owner whose track that is (a ring outlives its owner); writer's own */
    uint32_t holds_described; /* the same, for its holds track */
    char shown_name[16]; /* the name its track has in that trace; writer's own */
    int64_t name_read_ns; /* when the writer last read the owner's name; writer's own */
    char name[16];      /* the owner's name when it claimed the ring */
    unsigned char *data;
};

enum { SP_RING_FREE, SP_RING_OWNED, SP_RING_RETIRED };

/* The calling thread's ring (claimed on first use), or NULL when none is
 * free or the thread is exiting; the caller counts the record as lost. */
struct sp_trace_ring *sp_trace_ring_self(void);

/*
 * Appends rec (rec->size bytes, header then text) to the calling thread's
 * ring; false, and counted as lost, when there is no room.
 */
bool sp_trace_ring_push(const struct sp_trace_rec *rec);

/* A record lost before it reached a ring (sp_trace_ring_unowned_lost). */
void sp_trace_ring_count_lost(void);

/* Records lost because no ring was free, or counted by
 * sp_trace_ring_count_lost. */
uint64_t sp_trace_ring_unowned_lost(void);

/* Maps the rings' memory (once); false when it cannot be mapped. */
bool sp_trace_rings_map(void);

/* For the writer: the rings, and how many of them were ever claimed. */
struct sp_trace_ring *sp_trace_rings(void);
unsigned sp_trace_rings_used(void);

/*
 * For the writer: calls fn for each record in ring r from its tail up to
 * its head, then advances the tail. A retired ring left empty becomes free.
 */
void sp_trace_ring_drain(struct sp_trace_ring *r,
                         void (*fn)(struct sp_trace_ring *r, const struct sp_trace_rec *rec, void *arg),
                         void *arg);

/* Gives the rings' memory back to the system (their contents are gone). */
void sp_trace_rings_release_memory(void);

#endif /* SP_TRACE_RING_H */
