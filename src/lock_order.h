/*
 * lock_order.h - the lock-order graph (potential deadlocks), as lockdep,
 * ThreadSanitizer and Abseil's GraphCycles keep it: a graph, called by the
 * acquisition hook (lock_tracking.c), which decides when to ask and reports
 * what it finds.
 *
 * Contract: a node per lock address that was ever held while another was
 * acquired; an edge A -> B when the caller says B was acquired while A was
 * held. Inserting an edge that closes a cycle succeeds and returns the
 * cycle, each edge with the origin it was inserted with (the thread and
 * stack of that acquisition). A forgotten (destroyed) lock leaves the
 * graph with its edges; a new lock at its address is a new node. Locking:
 * internal (a spinlock, never a pthread lock); every call may come from
 * any thread.
 *
 * Cost: sp_lock_order_known first looks the pair up in a per-thread cache
 * of SP_LO_CACHE pairs (no lock); a pair not cached takes the graph's
 * spinlock for a hash lookup. Inserting searches the graph depth first
 * (linear in its size) under the spinlock. Memory is bounded: SP_LO_NODES
 * locks and SP_LO_EDGES edges in tables mmap'd by sp_lock_order_init;
 * what does not fit is dropped (not checked).
 */
#ifndef SP_LOCK_ORDER_H
#define SP_LOCK_ORDER_H

#include <stdbool.h>
#include <stdint.h>

#define SP_LO_NODES (1u << 16)
#define SP_LO_EDGES (1u << 15)
#define SP_LO_FRAMES 32    /* frames of an edge's stack */
#define SP_LO_MAX_CYCLE 32 /* edges of a cycle returned */

/* Where an edge comes from: the acquisition that made it. */
struct sp_lo_origin {
    int tid;
    char tname[16]; /* the thread's name at the time (SP_THREAD_NAME_MAX) */
    int nframes;
    uintptr_t pcs[SP_LO_FRAMES];
};

/* One edge of a cycle, copied out of the graph. */
struct sp_lo_step {
    const void *from, *to;
    struct sp_lo_origin origin;
};

/* True once the graph exists (a relaxed load). */
bool sp_lock_order_on(void);

/* Maps the graph's tables, once; then sp_lock_order_on. 0 or ENOMEM. */
int sp_lock_order_init(void);

/* Whether the edge a -> b is in the graph (true also for a == b). */
bool sp_lock_order_known(const void *a, const void *b);

/*
 * Inserts the edge a -> b with its origin unless it is there. When the new
 * edge closes a cycle, fills steps (SP_LO_MAX_CYCLE of them: the new edge,
 * then the path back from b to a) and returns the cycle's length; else 0.
 */
int sp_lock_order_insert(const void *a, const void *b, const struct sp_lo_origin *origin,
                         struct sp_lo_step *steps);

/* object was destroyed: it and its edges leave the graph. */
void sp_lock_order_forget(const void *object);

#endif /* SP_LOCK_ORDER_H */
