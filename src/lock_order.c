/*
 * lock_order.c - the lock-order graph of lock_order.h: nodes hashed by lock
 * address, edges with the stack of the acquisition that made them, cycle
 * search on each new edge, and the report of an inversion.
 *
 * Layout: nodes[] is an open-addressing table (linear probing) of
 * SP_LO_NODES slots; a destroyed lock leaves a tombstone (addr kept, live
 * false) that a later lock may reuse, and each reuse bumps the slot's gen,
 * so edges, which name their ends by (slot, gen), into or out of a dead
 * lock are never followed again. edges[] is a pool handed out in order and
 * never reused; each node lists its out-edges through next_out.
 *
 * Locking: graph_lock (a spinlock, never a pthread lock) protects nodes,
 * edges, visit stamps and the counters below it. Stacks are unwound and
 * reports printed outside it. Each thread keeps a small cache of the pairs
 * it knows are edges, flushed when epoch changes (a lock was destroyed).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <syncprof/syncprof.h>

#include "config.h"
#include "env.h"
#include "export.h"
#include "lock_order.h"
#include "lock_track.h"
#include "sampling.h"
#include "spinlock.h"
#include "symbolize.h"
#include "thread_dump.h"
#include "thread_stacks.h"

#define SP_LO_FRAMES 32
#define SP_LO_CACHE 64
#define SP_LO_MAX_CYCLE 32

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
    int tid;            /* the thread that made the edge */
    char tname[SP_THREAD_NAME_MAX]; /* its name then */
    int nframes;
    uintptr_t pcs[SP_LO_FRAMES];
};

static bool checking;                     /* set once; relaxed loads */
static sp_spinlock graph_lock = SP_SPINLOCK_INIT;
static struct lo_node *nodes;             /* SP_LO_NODES, under graph_lock */
static struct lo_edge *edges;             /* SP_LO_EDGES, under graph_lock */
static uint32_t nedges;                   /* under graph_lock */
static uint32_t visit_stamp;              /* under graph_lock */
static uint64_t dropped;                  /* edges or nodes that did not fit; under graph_lock */
static uint32_t epoch;                    /* bumped on every forget; atomic */
static uint64_t reports;                  /* atomic */

/* Pairs this thread knows are edges, valid while cache_epoch == epoch. */
struct lo_pair {
    const void *a, *b;
};
/* Plain __thread (not initial-exec): 1 KB is too much for the static TLS
 * surplus of a dlopen'ed library, and only checking runs read it. */
static __thread struct lo_pair cache[SP_LO_CACHE];
static __thread uint32_t cache_epoch;

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

int sp_lock_order_enable(void)
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
    sp_tracking_enable();
    return 0;
}

uint64_t sp_lock_order_reports(void)
{
    return __atomic_load_n(&reports, __ATOMIC_RELAXED);
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

static struct lo_edge *edge_add_locked(long a, long b, int tid, const char *tname,
                                       const uintptr_t *pcs, int n)
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
    e->tid = tid;
    memcpy(e->tname, tname, sizeof e->tname);
    e->nframes = n;
    memcpy(e->pcs, pcs, sizeof *pcs * (size_t)n);
    e->next_out = nodes[a].first_out;
    nodes[a].first_out = nedges;
    return e;
}

/* ---- Reports ------------------------------------------------------------------ */

/* One edge of a reported cycle, copied out of the graph. */
struct lo_step {
    const void *from, *to;
    int tid;
    char tname[SP_THREAD_NAME_MAX];
    int nframes;
    uintptr_t pcs[SP_LO_FRAMES];
};

static void copy_step(struct lo_step *s, const struct lo_edge *e)
{
    s->from = nodes[e->from].addr;
    s->to = nodes[e->to].addr;
    s->tid = e->tid;
    memcpy(s->tname, e->tname, sizeof s->tname);
    s->nframes = e->nframes;
    memcpy(s->pcs, e->pcs, sizeof s->pcs);
}

/* The cycle closed by the new edge a -> b: the new edge, then the path
 * b -> ... -> a found by path_locked, in order. Returns its length. */
static int cycle_locked(long a, long b, const struct lo_edge *added, struct lo_step *out)
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

static void report(const struct lo_step *steps, int n)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return;
    struct sp_pctab tab = { 0 };
    const uintptr_t *stacks[SP_LO_MAX_CYCLE];
    int nframes[SP_LO_MAX_CYCLE];
    for (int i = 0; i < n; i++) {
        stacks[i] = steps[i].pcs;
        nframes[i] = steps[i].nframes;
    }
    struct sp_symbolizer *sym = sp_symbolizer_acquire();
    if (sym)
        sp_stacks_symbolize(&tab, sym, stacks, nframes, (size_t)n);
    fprintf(f, "syncprof: potential deadlock: lock-order inversion\n  cycle: ");
    for (int i = 0; i < n; i++) {
        sp_print_object(f, steps[i].from);
        fprintf(f, " -> ");
    }
    sp_print_object(f, steps[0].from);
    fprintf(f, "\n");
    for (int i = 0; i < n; i++) {
        fprintf(f, "\n  lock ");
        sp_print_object(f, steps[i].to);
        fprintf(f, " acquired while holding ");
        sp_print_object(f, steps[i].from);
        fprintf(f, " by thread %d \"%s\":\n", steps[i].tid, steps[i].tname);
        sp_print_stack(f, &tab, steps[i].pcs, steps[i].nframes, true);
    }
    fprintf(f, "\n");
    fclose(f);
    sp_pctab_free(&tab);
    if (sym)
        sp_symbolizer_release();
    sp_report_text(text, len);
    free(text);
}

/* ---- The hooks ------------------------------------------------------------------ */

/*
 * Adds the edge a -> b (made by this thread with the stack pcs) unless it
 * exists; when it closes a cycle, fills steps and returns its length, else
 * returns 0.
 */
static int add_edge(const void *a, const void *b, const uintptr_t *pcs, int n,
                    struct lo_step *steps)
{
    int len = 0;
    char tname[SP_THREAD_NAME_MAX] = "?";
    prctl(PR_GET_NAME, tname); /* the name now: the thread may be gone at report time */
    sp_spin_lock(&graph_lock);
    long na = node_find_locked(a, true), nb = node_find_locked(b, true);
    if (na >= 0 && nb >= 0 && !edge_exists_locked(na, nb)) {
        bool cycle = path_locked(nb, na);
        struct lo_edge *e = edge_add_locked(na, nb, sp_self_tid(), tname, pcs, n);
        if (e && cycle)
            len = cycle_locked(na, nb, e, steps);
    }
    sp_spin_unlock(&graph_lock);
    return len;
}

static bool edge_known(const void *a, const void *b)
{
    sp_spin_lock(&graph_lock);
    long na = node_find_locked(a, false), nb = node_find_locked(b, false);
    bool known = na >= 0 && nb >= 0 && edge_exists_locked(na, nb);
    sp_spin_unlock(&graph_lock);
    return known;
}

void sp_lock_order_acquired(const struct sp_held *held, int n, const void *object)
{
    for (int i = 0; i < n; i++) {
        const void *a = held[i].object;
        if (a == object || cache_has(a, object))
            continue; /* a recursive re-acquisition, or an edge known here */
        if (!edge_known(a, object)) {
            uintptr_t pcs[SP_LO_FRAMES];
            struct lo_step steps[SP_LO_MAX_CYCLE];
            sp_enter_profiler();
            int nf = sp_backtrace_here(pcs, SP_LO_FRAMES);
            int len = add_edge(a, object, pcs, nf, steps);
            if (len > 0) {
                __atomic_fetch_add(&reports, 1, __ATOMIC_RELAXED);
                report(steps, len);
            }
            sp_leave_profiler();
        }
        cache_put(a, object);
    }
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

void sp_lock_order_from_environment(void)
{
    bool on;
    if (sp_env_bool("SYNCPROF_LOCK_ORDER", &on) && on && sp_lock_order_enable() != 0)
        fprintf(stderr, "syncprof: SYNCPROF_LOCK_ORDER: cannot map the lock-order graph\n");
}

SP_PUBLIC int syncprof_lock_order_enable(void)
{
    return sp_lock_order_enable();
}

SP_PUBLIC uint64_t syncprof_lock_order_reports(void)
{
    return sp_lock_order_reports();
}
