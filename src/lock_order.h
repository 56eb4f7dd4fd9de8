/*
 * lock_order.h - lock-order checking (potential deadlocks), as lockdep,
 * ThreadSanitizer and Abseil's deadlock detection do it.
 *
 * The graph has a node per mutex or rwlock that was ever held while
 * another was acquired, and an edge A -> B when some thread acquired B
 * (blocking, not with a try operation) while holding A. The first time an
 * acquisition adds an edge that closes a cycle, the cycle is reported once
 * ("potential deadlock: lock-order inversion") with, for every edge, the
 * thread and stack of the acquisition that made it, even though the
 * program did not deadlock this time. A destroyed lock leaves the graph.
 *
 * Cost: off, nothing (lock tracking is off unless something turned it on).
 * On, an acquisition made while holding k locks looks each of the k pairs
 * up in a per-thread cache; a pair not cached takes the global graph
 * spinlock, and a new edge also unwinds the stack and searches the graph
 * (depth-first, linear in its size). Readers and writers of an rwlock are
 * treated alike (a read-read order is reported too).
 *
 * Memory is bounded: SP_LO_NODES locks and SP_LO_EDGES edges in mmap'd
 * tables; what does not fit is counted and not checked.
 */
#ifndef SP_LOCK_ORDER_H
#define SP_LOCK_ORDER_H

#include <stdbool.h>
#include <stdint.h>

#include "thread_registry.h"

#define SP_LO_NODES (1u << 16)
#define SP_LO_EDGES (1u << 15)

/* True once checking is on (a relaxed load). */
bool sp_lock_order_on(void);

/* Turns checking (and lock tracking) on for good. 0 or ENOMEM. */
int sp_lock_order_enable(void);

/* The calling thread, holding held[0..n), acquired object (not by a try
 * operation): adds the edges and reports a cycle they close. */
void sp_lock_order_acquired(const struct sp_held *held, int n, const void *object);

/* object was destroyed: it and its edges leave the graph. */
void sp_lock_order_forget(const void *object);

/* How many inversions were reported so far. */
uint64_t sp_lock_order_reports(void);

#endif /* SP_LOCK_ORDER_H */
