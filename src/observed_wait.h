/*
 * observed_wait.h - the one place a wait is observed: registered in the wait
 * table, timed on the one clock, its registers saved for thread dumps, and
 * handed to the block profile through sp_block_event. The pthread wrappers
 * (pthread/pthread_wrappers.c) and the channel (chan/) both wait through it.
 *
 * A wait is observed only once the operation would block: the caller has
 * already tried without blocking. A profiler thread's wait (sp_in_profiler)
 * is never observed: its caller makes the plain blocking call instead.
 *
 * Two kinds of caller:
 *   - the channel, whose waits are not cancellation points: begin, save
 *     registers (SP_OBSERVE_REGS), block, end;
 *   - the pthread wrappers, whose real calls may be cancellation points:
 *     the _cancellable variants keep cancellation disabled for the
 *     bookkeeping and run only the real call in the caller's state, inside
 *     a cleanup handler (SP_OBSERVE_CANCELLABLE). Cancellation (POSIX 2.9.5)
 *     is neither added nor lost, and a record never outlives its frame
 *     (docs/semantics.md, "What syncprof never changes").
 *
 * Internal: included by the .c files that define public waiting functions
 * only, which is why CALLER and LEAF keep short names.
 */
#ifndef SP_OBSERVED_WAIT_H
#define SP_OBSERVED_WAIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "clock.h"
#include "sampling.h"
#include "trace.h"
#include "wait_table.h"

/* The public function's return address: taken in the public function
 * itself, whose caller is the sample's second frame. */
#define CALLER ((uintptr_t)__builtin_return_address(0))
/* The leaf frame of a sample: the public function's own entry. */
#define LEAF(fn) ((void *)(fn))

/*
 * An observed wait: the thread's record in the wait table and the
 * registers published with it, both in the waiting function's frame, and
 * (cancellable waits) the caller's cancellation state.
 */
struct sp_observed {
    struct sp_waiter w;
    struct sp_wait_regs regs; /* saved just before blocking, for thread dumps */
    int cancel_state;         /* the caller's, restored for the real call and at the end */
};

/* Registers the wait for object, starting now. */
static inline void sp_observe_begin(struct sp_observed *o, const void *object,
                                    enum sp_wait_reason why)
{
    sp_wait_begin(&o->w, object, why, sp_now_ns());
}

/* The wait is over: unregistered and, if it ended in the way that counts
 * (acquired, woken or timed out), handed to the block profile, labelled by
 * its reason and whether it had a deadline (sp_wait_set_deadline). */
static inline void sp_observe_end(struct sp_observed *o, bool counts, void *leaf,
                                  uintptr_t caller)
{
    int64_t end = sp_now_ns();
    sp_wait_end(&o->w);
    if (!counts)
        return;
    /* The block event first: a statically initialised lock gets its birth
     * site there, which the trace's record then carries. */
    sp_block_event(o->w.object, sp_wait_label(o->w.reason, o->w.timed), end - o->w.start_ns, leaf,
                   caller);
    if (sp_tracing())
        sp_trace_wait(&o->w, end);
}

/*
 * Saves the registers of the frame it is expanded in and publishes them in
 * record (o's own, or for a condition wait its re-acquirer twin, which is
 * the record a dump describes), so that a dump unwinds the waiter from them
 * instead of signalling it. A macro: the registers must be those of the
 * frame that lives through the wait.
 */
#define SP_OBSERVE_REGS(o, record)                    \
    do {                                              \
        SP_SAVE_REGS(&(o)->regs);                     \
        sp_wait_publish_regs((record), &(o)->regs);   \
    } while (0)

/* sp_observe_begin for a call that may be a cancellation point:
 * cancellation is disabled from here to sp_observe_end_cancellable, except
 * inside SP_OBSERVE_CANCELLABLE. */
static inline void sp_observe_begin_cancellable(struct sp_observed *o, const void *object,
                                                enum sp_wait_reason why)
{
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &o->cancel_state);
    sp_observe_begin(o, object, why);
}

/* sp_observe_begin_cancellable for a condition wait: registered on cond
 * (on_cond, which the wait ends with sp_observe_end) and, as its
 * re-acquirer, on mutex (see sp_wait_begin_cond). */
static inline void sp_observe_begin_cond_cancellable(struct sp_observed *on_cond,
                                                     struct sp_waiter *on_mutex,
                                                     const void *cond, const void *mutex)
{
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &on_cond->cancel_state);
    sp_wait_begin_cond(&on_cond->w, on_mutex, cond, mutex, sp_now_ns());
}

static inline void sp_observe_end_cancellable(struct sp_observed *o, bool counts, void *leaf,
                                              uintptr_t caller)
{
    sp_observe_end(o, counts, leaf, caller);
    pthread_setcancelstate(o->cancel_state, NULL);
}

/* Cleanup handler (arg: the struct sp_observed): the real call was
 * cancelled, the frame is going away. */
static inline void sp_observe_cancelled(void *arg)
{
    struct sp_observed *o = arg;
    sp_wait_end(&o->w);
}

/*
 * Runs statement (the real call) in the caller's cancellation state, with
 * handler(o) to run if it is cancelled, after saving this frame's registers
 * for thread dumps and publishing them in record. pthread.h's two cleanup
 * macros must sit in one block, hence a macro.
 */
#define SP_OBSERVE_CANCELLABLE(o, record, handler, statement)   \
    do {                                                        \
        pthread_cleanup_push(handler, (o));                     \
        SP_OBSERVE_REGS((o), (record));                         \
        pthread_setcancelstate((o)->cancel_state, NULL);        \
        statement;                                              \
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);   \
        pthread_cleanup_pop(0);                                 \
    } while (0)

#endif /* SP_OBSERVED_WAIT_H */
