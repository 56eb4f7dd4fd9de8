/*
 * trace_ring.c - the execution tracer's per-thread rings (trace_ring.h):
 * claiming one per thread, appending records on the recording path, and
 * draining them in the writer thread.
 *
 * head and tail count bytes ever written and read, so head - tail is what
 * the ring holds. A record never wraps: when it does not fit before the
 * end, a pad record fills the end and the record starts at offset 0.
 * The owner publishes a record with a release store of head; the writer
 * frees its room with a release store of tail.
 *
 * A thread keeps its ring from the first record it writes until it exits
 * (a pthread key destructor retires it; the writer frees it once empty),
 * across traces: records carry the trace's number, and the writer drops
 * those of an earlier trace.
 */
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include "export.h"
#include "thread_registry.h"
#include "trace_ring.h"

static struct sp_trace_ring rings[SP_TRACE_MAX_RINGS];
static unsigned char *ring_memory;  /* SP_TRACE_MAX_RINGS rings; set once, atomic */
static unsigned rings_used;         /* rings ever claimed: a prefix of rings[]; atomic */
static uint64_t unowned_lost;       /* atomic */

/* The calling thread's ring; EXITED once its key destructor ran. */
static SP_TLS struct sp_trace_ring *self_ring;
#define EXITED ((struct sp_trace_ring *)1)

static pthread_key_t retire_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void retire(void *p)
{
    struct sp_trace_ring *r = p;
    self_ring = EXITED; /* later destructors may still lock: nothing more goes to r */
    __atomic_store_n(&r->state, SP_RING_RETIRED, __ATOMIC_RELEASE);
}

static void make_key(void)
{
    pthread_key_create(&retire_key, retire);
}

/* In a child of fork only the forking thread exists: the other threads'
 * rings are free, emptied. */
static void forget_other_threads_in_child(void)
{
    unsigned n = __atomic_load_n(&rings_used, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < n; i++) {
        struct sp_trace_ring *r = &rings[i];
        if (r == self_ring)
            continue;
        r->tail = r->head;
        r->state = SP_RING_FREE;
    }
    if (self_ring && self_ring != EXITED)
        self_ring->tid = sp_self_tid();
}

__attribute__((constructor)) static void ring_init(void)
{
    pthread_atfork(NULL, NULL, forget_other_threads_in_child);
}

bool sp_trace_rings_map(void)
{
    if (__atomic_load_n(&ring_memory, __ATOMIC_ACQUIRE))
        return true;
    pthread_once(&key_once, make_key);
    void *m = mmap(NULL, (size_t)SP_TRACE_MAX_RINGS * SP_TRACE_RING_BYTES, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return false;
    for (unsigned i = 0; i < SP_TRACE_MAX_RINGS; i++)
        rings[i].data = (unsigned char *)m + (size_t)i * SP_TRACE_RING_BYTES;
    __atomic_store_n(&ring_memory, m, __ATOMIC_RELEASE);
    return true;
}

void sp_trace_rings_release_memory(void)
{
    if (ring_memory)
        madvise(ring_memory, (size_t)SP_TRACE_MAX_RINGS * SP_TRACE_RING_BYTES, MADV_DONTNEED);
}

static struct sp_trace_ring *claim(void)
{
    if (!__atomic_load_n(&ring_memory, __ATOMIC_ACQUIRE))
        return NULL;
    for (unsigned i = 0; i < SP_TRACE_MAX_RINGS; i++) {
        struct sp_trace_ring *r = &rings[i];
        int free_state = SP_RING_FREE;
        if (__atomic_load_n(&r->state, __ATOMIC_RELAXED) != SP_RING_FREE ||
            !__atomic_compare_exchange_n(&r->state, &free_state, SP_RING_OWNED, false,
                                         __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            continue;
        r->tid = sp_self_tid();
        r->name[0] = '\0';
        prctl(PR_GET_NAME, r->name);
        unsigned used = __atomic_load_n(&rings_used, __ATOMIC_RELAXED);
        while (used < i + 1 &&
               !__atomic_compare_exchange_n(&rings_used, &used, i + 1, true, __ATOMIC_RELEASE,
                                            __ATOMIC_RELAXED))
            ;
        pthread_setspecific(retire_key, r);
        return r;
    }
    return NULL;
}

struct sp_trace_ring *sp_trace_ring_self(void)
{
    struct sp_trace_ring *r = self_ring;
    if (r == EXITED)
        return NULL;
    if (!r)
        self_ring = r = claim();
    return r;
}

bool sp_trace_ring_push(const struct sp_trace_rec *rec)
{
    struct sp_trace_ring *r = sp_trace_ring_self();
    if (!r) {
        __atomic_fetch_add(&unowned_lost, 1, __ATOMIC_RELAXED);
        return false;
    }
    uint64_t head = r->head;
    uint64_t tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
    uint32_t off = (uint32_t)(head % SP_TRACE_RING_BYTES);
    uint32_t room_to_end = SP_TRACE_RING_BYTES - off;
    uint32_t need = rec->size;
    uint32_t pad = room_to_end < need ? room_to_end : 0;
    if (head + pad + need - tail > SP_TRACE_RING_BYTES) {
        __atomic_store_n(&r->lost, r->lost + 1, __ATOMIC_RELAXED);
        return false;
    }
    if (pad) {
        struct sp_trace_rec *p = (struct sp_trace_rec *)(r->data + off);
        p->type = SP_REC_PAD;
        p->size = 0; /* the pad runs to the end of the ring */
        off = 0;
    }
    memcpy(r->data + off, rec, need);
    __atomic_store_n(&r->head, head + pad + need, __ATOMIC_RELEASE);
    return true;
}

void sp_trace_ring_count_lost(void)
{
    __atomic_fetch_add(&unowned_lost, 1, __ATOMIC_RELAXED);
}

uint64_t sp_trace_ring_unowned_lost(void)
{
    return __atomic_load_n(&unowned_lost, __ATOMIC_RELAXED);
}

struct sp_trace_ring *sp_trace_rings(void)
{
    return rings;
}

unsigned sp_trace_rings_used(void)
{
    return __atomic_load_n(&rings_used, __ATOMIC_ACQUIRE);
}

void sp_trace_ring_drain(struct sp_trace_ring *r,
                         void (*fn)(struct sp_trace_ring *r, const struct sp_trace_rec *rec, void *arg),
                         void *arg)
{
    int state = __atomic_load_n(&r->state, __ATOMIC_ACQUIRE);
    if (state == SP_RING_FREE)
        return;
    uint64_t head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
    uint64_t tail = r->tail;
    /* Aligned copies: the ring's bytes may be reused as soon as the tail moves. */
    _Alignas(8) unsigned char copy[sizeof(struct sp_trace_rec) + 2 * SP_TRACE_TEXT_MAX + 8];
    while (tail < head) {
        uint32_t off = (uint32_t)(tail % SP_TRACE_RING_BYTES);
        const struct sp_trace_rec *rec = (const struct sp_trace_rec *)(r->data + off);
        if (rec->type == SP_REC_PAD) {
            tail += SP_TRACE_RING_BYTES - off;
            continue;
        }
        uint32_t size = rec->size;
        if (size < sizeof *rec || size > sizeof copy || size % 8 != 0 ||
            size > SP_TRACE_RING_BYTES - off || tail + size > head) {
            tail = head; /* not a record (memory given back under a late writer): skip it all */
            break;
        }
        memcpy(copy, rec, size);
        fn(r, (const struct sp_trace_rec *)copy, arg);
        tail += size;
    }
    if (tail > head)
        tail = head;
    __atomic_store_n(&r->tail, tail, __ATOMIC_RELEASE);
    if (state == SP_RING_RETIRED && tail == __atomic_load_n(&r->head, __ATOMIC_ACQUIRE))
        __atomic_store_n(&r->state, SP_RING_FREE, __ATOMIC_RELEASE);
}
