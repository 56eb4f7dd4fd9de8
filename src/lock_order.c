/*
 * lock_order.c - the lock-order graph of lock_order.h: nodes hashed by lock
 * address, edges with the origin (thread, stack) of the acquisition that
 * made them, and the cycle search on each new edge. It knows nothing of
 * who calls it: lock_tracking.c's acquisition hook asks it, and reports what
 * it finds.
 *
 * Layout: nodes[] is an open-addressing table (linear probing) of
 * SP_LO_NODES slots; a destroyed lock leaves a tombstone (addr kept, live
 * false) that a later lock may reuse, and each reuse bumps the slot's gen,
 * so edges, which name their ends by (slot, gen), into or out of a dead
 * lock are never followed again. edges[] is a pool handed out in order and
 * never reused; each node lists its out-edges through next_out.
 *
 * Locking: graph_lock (a spinlock, never a pthread lock) protects nodes,
 * edges, visit stamps and the counters below it; its callers unwind stacks
 * and print reports outside it. Each thread keeps a small cache of the pairs
 * it knows are edges, flushed when epoch changes (a lock was destroyed).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "lock_order.h"
#include "spinlock.h"

#define SP_LO_CACHE 64

struct lo_node {
    const void *addr;   /* NULL: never used */
    bool live;          /* false with addr set: a destroyed lock's tombstone */
    uint32_t gen;       /* bumped when the slot is reused */
    uint32_t first_out; /* index + 1 of the first out-edge; 0: none */
    uint32_t visit;     /* search stamp */
    uint32_t via;       /* search: index + 1 of the edge that reached this node */
};

struct lo_edge {
    uint32_t from, to, from_gen, to_gen;
    uint32_t next_out;  /* index + 1 of from's next out-edge; 0: none */
    struct sp_lo_origin origin; /* the acquisition that made the edge */
};

static bool checking;                     /* set once; relaxed loads */
static sp_spinlock graph_lock = SP_SPINLOCK_INIT;
static struct lo_node *nodes;             /* SP_LO_NODES, under graph_lock */
static struct lo_edge *edges;             /* SP_LO_EDGES, under graph_lock */
static uint32_t nedges;                   /* under graph_lock */
static uint32_t visit_stamp;              /* under graph_lock */
static uint64_t dropped;                  /* edges or nodes that did not fit; under graph_lock */
static uint32_t epoch;                    /* bumped on every forget; atomic */

/* Pairs this thread knows are edges, valid while cache_epoch == epoch. */
struct lo_pair {
    const void *a, *b;
};
/* Plain __thread (not initial-exec): 1 KB is too much for the static TLS
 * surplus of a dlopen'ed library, and only checking runs read it. */
static __thread struct lo_pair cache[SP_LO_CACHE];
static __thread uint32_t cache_epoch;

/* A child of fork keeps the graph it inherited, unless another thread was
 * changing it at the fork: then the child starts with an empty graph
 * (and every thread's pair cache is stale). */
static void reset_in_child(void)
{
    if (!sp_spin_reset_in_child(&graph_lock) || !nodes || !edges)
        return;
    memset(nodes, 0, sizeof *nodes * SP_LO_NODES);
    nedges = 0;
    __atomic_fetch_add(&epoch, 1, __ATOMIC_RELEASE);
}

__attribute__((constructor)) static void register_fork_handler(void)
{
    pthread_atfork(NULL, NULL, reset_in_child);
}

bool sp_lock_order_on(void)
{
    return __atomic_load_n(&checking, __ATOMIC_RELAXED);
}

static void *map_table(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

int sp_lock_order_init(void)
{
    sp_spin_lock(&graph_lock);
    if (!nodes)
        nodes = map_table(sizeof *nodes * SP_LO_NODES);
    if (nodes && !edges)
        edges = map_table(sizeof *edges * SP_LO_EDGES);
    bool ok = nodes && edges;
    sp_spin_unlock(&graph_lock);
    if (!ok)
        return ENOMEM;
    __atomic_store_n(&checking, true, __ATOMIC_RELEASE);
    return 0;
}

/* ---- The per-thread pair cache --------------------------------------------- */

static struct lo_pair *cache_slot(const void *a, const void *b)
{
    uint64_t h = ((uint64_t)(uintptr_t)a * 0x9e3779b97f4a7c15ULL) ^ (uint64_t)(uintptr_t)b;
    h *= 0xbf58476d1ce4e5b9ULL;
    return &cache[(h >> 40) % SP_LO_CACHE];
}

static bool cache_has(const void *a, const void *b)
{
    uint32_t e = __atomic_load_n(&epoch, __ATOMIC_ACQUIRE);
    if (cache_epoch != e) {
        memset(cache, 0, sizeof cache);
        cache_epoch = e;
        return false;
    }
    struct lo_pair *p = cache_slot(a, b);
    return p->a == a && p->b == b;
}

static void cache_put(const void *a, const void *b)
{
    struct lo_pair *p = cache_slot(a, b);
    p->a = a;
    p->b = b;
}

/* ---- Nodes and edges (graph_lock held) --------------------------------------- */

static size_t node_hash(const void *addr)
{
    return (size_t)(((uint64_t)(uintptr_t)addr * 0x9e3779b97f4a7c15ULL) >> 40) % SP_LO_NODES;
}

/* The live node of addr; when create, made if missing. -1 if absent or full. */
static long node_find_locked(const void *addr, bool create)
{
    size_t i = node_hash(addr);
    long reusable = -1;
    for (size_t n = 0; n < SP_LO_NODES; n++, i = (i + 1) % SP_LO_NODES) {
        struct lo_node *nd = &nodes[i];
        if (nd->addr == addr && nd->live)
            return (long)i;
        if (nd->addr && !nd->live && reusable < 0)
            reusable = (long)i;
        if (!nd->addr) {
            if (reusable < 0)
                reusable = (long)i;
            break;
        }
    }
    if (!create)
        return -1;
    if (reusable < 0) {
        dropped++;
        return -1;
    }
    struct lo_node *nd = &nodes[reusable];
    nd->addr = addr;
    nd->live = true;
    nd->gen++;
    nd->first_out = 0;
    return reusable;
}

static bool edge_alive_locked(const struct lo_edge *e)
{
    return nodes[e->from].live && nodes[e->from].gen == e->from_gen &&
           nodes[e->to].live && nodes[e->to].gen == e->to_gen;
}

static bool edge_exists_locked(long a, long b)
{
    for (uint32_t i = nodes[a].first_out; i; i = edges[i - 1].next_out) {
        const struct lo_edge *e = &edges[i - 1];
        if (e->to == (uint32_t)b && e->to_gen == nodes[b].gen)
            return true;
    }
    return false;
}

/*
 * A path from node from to node to over live edges, depth first; on
 * success each node on it has via set to the edge that reached it. An
 * explicit stack of edge iterators keeps the recursion off the thread's
 * stack.
 */
static bool path_locked(long from, long to)
{
    static uint32_t iter[SP_LO_NODES]; /* per depth: the next out-edge to try, + 1; under graph_lock */
    uint32_t stamp = ++visit_stamp;
    size_t depth = 0;
    iter[depth++] = nodes[from].first_out;
    nodes[from].visit = stamp;
    while (depth > 0) {
        uint32_t ei = iter[depth - 1];
        if (ei == 0) {
            depth--;
            continue;
        }
        const struct lo_edge *e = &edges[ei - 1];
        iter[depth - 1] = e->next_out;
        if (!edge_alive_locked(e) || nodes[e->to].visit == stamp)
            continue;
        nodes[e->to].visit = stamp;
        nodes[e->to].via = ei;
        if ((long)e->to == to)
            return true;
        iter[depth++] = nodes[e->to].first_out;
    }
    return false;
}

static struct lo_edge *edge_add_locked(long a, long b, const struct sp_lo_origin *origin)
{
    if (nedges >= SP_LO_EDGES) {
        dropped++;
        return NULL;
    }
    struct lo_edge *e = &edges[nedges++];
    e->from = (uint32_t)a;
    e->to = (uint32_t)b;
    e->from_gen = nodes[a].gen;
    e->to_gen = nodes[b].gen;
    e->origin = *origin;
    e->next_out = nodes[a].first_out;
    nodes[a].first_out = nedges;
    return e;
}

/* ---- Cycles ------------------------------------------------------------------- */

static void copy_step(struct sp_lo_step *s, const struct lo_edge *e)
{
    s->from = nodes[e->from].addr;
    s->to = nodes[e->to].addr;
    s->origin = e->origin;
}

/* The cycle closed by the new edge a -> b: the new edge, then the path
 * b -> ... -> a found by path_locked, in order. Returns its length. */
static int cycle_locked(long a, long b, const struct lo_edge *added, struct sp_lo_step *out)
{
    const struct lo_edge *rev[SP_LO_MAX_CYCLE];
    int n = 0;
    for (long at = a; at != b && n < SP_LO_MAX_CYCLE; at = (long)edges[nodes[at].via - 1].from)
        rev[n++] = &edges[nodes[at].via - 1];
    copy_step(&out[0], added);
    for (int i = 0; i < n && i + 1 < SP_LO_MAX_CYCLE; i++)
        copy_step(&out[i + 1], rev[n - 1 - i]);
    return n + 1 < SP_LO_MAX_CYCLE ? n + 1 : SP_LO_MAX_CYCLE;
}

/* ---- The graph's calls ------------------------------------------------------------ */

int sp_lock_order_insert(const void *a, const void *b, const struct sp_lo_origin *origin,
                         struct sp_lo_step *steps)
{
    int len = 0;
    sp_spin_lock(&graph_lock);
    long na = node_find_locked(a, true), nb = node_find_locked(b, true);
    if (na >= 0 && nb >= 0 && !edge_exists_locked(na, nb)) {
        bool cycle = path_locked(nb, na);
        struct lo_edge *e = edge_add_locked(na, nb, origin);
        if (e && cycle)
            len = cycle_locked(na, nb, e, steps);
    }
    sp_spin_unlock(&graph_lock);
    cache_put(a, b);
    return len;
}

bool sp_lock_order_known(const void *a, const void *b)
{
    if (a == b || cache_has(a, b))
        return true;
    sp_spin_lock(&graph_lock);
    long na = node_find_locked(a, false), nb = node_find_locked(b, false);
    bool known = na >= 0 && nb >= 0 && edge_exists_locked(na, nb);
    sp_spin_unlock(&graph_lock);
    if (known)
        cache_put(a, b);
    return known;
}

void sp_lock_order_forget(const void *object)
{
    sp_spin_lock(&graph_lock);
    long i = node_find_locked(object, false);
    if (i >= 0) {
        nodes[i].live = false;
        nodes[i].first_out = 0;
        __atomic_fetch_add(&epoch, 1, __ATOMIC_RELEASE);
    }
    sp_spin_unlock(&graph_lock);
}
