/*
 * wait_table.h - who is waiting for which object right now, and the mutex
 * profile's accounting of that waiting.
 *
 * A thread about to block registers an sp_waiter that lives on its own stack
 * for the length of the wait; it is linked into the bucket of the object's
 * address. An unlocker asks the table how much waiting it ended (charged):
 * the sum over the object's waiters of the time since each was last
 * charged, after which they count as charged up to now. Every waited
 * nanosecond is therefore charged at most once, to the holder during whose
 * hold it passed, and a hold that keeps ten threads waiting 1 ms counts
 * 10 ms (Go 1.22, golang/go issue 61015, computes the same sum
 * approximately).
 *
 * A condition-variable waiter registers twice: on the condition (its wait
 * reason) and on its mutex, as a re-acquirer that counts as waiting for the
 * mutex only from the moment a signal or broadcast woke it.
 *
 * Thread safety: any thread, any time; each bucket has a spinlock held for a
 * few loads and stores. Nothing here allocates. The table is also what a
 * thread dump reads to tell what each thread waits for.
 */
#ifndef SP_WAIT_TABLE_H
#define SP_WAIT_TABLE_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Wait reasons: the enum, the text of thread dumps (in the words of Go's
 * goroutine dumps where it has them), and the value of the "wait" label
 * that block samples carry, so that a reader can keep or drop one kind
 * (`go tool pprof -tagignore wait=cond_timed`, `syncprof report
 * --ignore-wait cond_timed`). A wait with a deadline on a condition or a
 * semaphore is labelled apart ("_timed"): it is how idle pool workers wait.
 */
#define SP_WAIT_REASONS(X) \
    X(SP_WAIT_MUTEX, "mutex lock", "mutex") \
    X(SP_WAIT_RWLOCK_READ, "rwlock read", "rwlock_read") \
    X(SP_WAIT_RWLOCK_WRITE, "rwlock write", "rwlock_write") \
    X(SP_WAIT_COND, "cond wait", "cond") \
    X(SP_WAIT_COND_REACQUIRE, "cond wait (mutex)", "cond") \
    X(SP_WAIT_JOIN, "join", "join") \
    X(SP_WAIT_SEMAPHORE, "semaphore", "sem") \
    X(SP_WAIT_BARRIER, "barrier", "barrier") \
    X(SP_WAIT_CHAN_SEND, "chan send", "chan_send") \
    X(SP_WAIT_CHAN_RECEIVE, "chan receive", "chan_recv") \
    X(SP_WAIT_SELECT, "select", "select")

enum sp_wait_reason {
#define SP_WAIT_ENUM(id, text, label) id,
    SP_WAIT_REASONS(SP_WAIT_ENUM)
#undef SP_WAIT_ENUM
};

/*
 * The registers a wrapper saves just before its real blocking call: the
 * instruction, the stack pointer and the callee-saved registers, which is
 * all an unwinder needs to walk the waiting thread's stack from the
 * wrapper's frame up. A thread dump reads them (with the bucket locked, so
 * the waiter cannot leave the frame) instead of interrupting the thread
 * with a signal, which would make some of its system calls fail with EINTR.
 */
struct sp_wait_regs {
    uintptr_t ip, sp, bp, bx, r12, r13, r14, r15;
};

#if defined(__x86_64__)
/* Saves the registers of the frame it is expanded in: it must be expanded
 * in the function whose frame lives through the wait. */
#define SP_SAVE_REGS(r)                                                          \
    __asm__ volatile("leaq 1f(%%rip), %%rax\n\t"                                 \
                     "movq %%rax, 0(%0)\n\t"                                    \
                     "movq %%rsp, 8(%0)\n\t"                                    \
                     "movq %%rbp, 16(%0)\n\t"                                   \
                     "movq %%rbx, 24(%0)\n\t"                                   \
                     "movq %%r12, 32(%0)\n\t"                                   \
                     "movq %%r13, 40(%0)\n\t"                                   \
                     "movq %%r14, 48(%0)\n\t"                                   \
                     "movq %%r15, 56(%0)\n"                                      \
                     "1:"                                                        \
                     :                                                           \
                     : "D"(r)                                                    \
                     : "rax", "memory")
#define SP_HAVE_SAVED_REGS 1
#else
#define SP_SAVE_REGS(r) ((void)(r))
#define SP_HAVE_SAVED_REGS 0
#endif

struct sp_waiter {
    struct sp_waiter *prev, *next;  /* bucket list; under the bucket lock */
    const void *object;             /* what is waited for; never changes */
    enum sp_wait_reason reason;     /* never changes */
    int64_t start_ns;               /* when the wait began; never changes */
    int64_t charged_ns;             /* charged up to here; under the bucket lock */
    bool profiled;                  /* the mutex profile was on at the start */
    /* For SP_WAIT_COND_REACQUIRE: the waiter on the condition whose wake-up
     * starts this one's wait for the mutex. */
    struct sp_waiter *cond_twin;
    int64_t woken_ns;               /* COND: 0 until signalled; atomic */
    int tid;                        /* the waiting thread; never changes */
    bool timed;                     /* the wait has a deadline; atomic (sp_wait_set_deadline) */
    /* The wrapper's saved registers (sp_wait_publish_regs), NULL until
     * saved; atomic. They stay valid while w is linked. */
    const struct sp_wait_regs *regs;
    /* Tracing: the flow id its latest possible waker gave it (0: none), so
     * the trace draws an arrow from that waker to this wait; atomic. */
    uint64_t wake_flow;
    /* COND: the flow of the release that let it re-acquire its mutex (0:
     * none); atomic. */
    uint64_t reacquire_flow;
    /* Tracing: when the thread began to spin before it slept (0: it did
     * not), so that a trace shows the whole wait, spin included. */
    int64_t spun_from_ns;
};

/* Registers w as waiting for object since now. */
void sp_wait_begin(struct sp_waiter *w, const void *object,
                   enum sp_wait_reason reason, int64_t now);

/* Registers a condition wait: on cond (reason "cond wait") and, as its
 * re-acquirer, on mutex. */
void sp_wait_begin_cond(struct sp_waiter *on_cond, struct sp_waiter *on_mutex,
                        const void *cond, const void *mutex, int64_t now);

/* Marks w (just registered) as a wait with a deadline: the watchdog's "all
 * threads are asleep" and deadlock reports leave such waits out, since they
 * end by themselves. */
void sp_wait_set_deadline(struct sp_waiter *w);

/* Publishes the registers the wrapper saved in its frame (SP_SAVE_REGS)
 * for thread dumps; regs must outlive w's registration. */
static inline void sp_wait_publish_regs(struct sp_waiter *w, const struct sp_wait_regs *regs)
{
    if (SP_HAVE_SAVED_REGS)
        __atomic_store_n(&w->regs, regs, __ATOMIC_RELEASE);
}

/* Unregisters w (the wait is over). */
void sp_wait_end(struct sp_waiter *w);

/* True if any waiter may be registered on object: one relaxed load, no
 * lock, so unlockers can skip the table in the common case. */
bool sp_wait_maybe(const void *object);

/*
 * The unlocker's side: the waiting, in ns, that profiled waiters on object
 * did since they were last charged; they are charged up to now. 0 when
 * nobody waits.
 */
int64_t sp_wait_charge(const void *object, int64_t now);

/* A signal (all = false) or broadcast (all = true) on cond: marks the
 * oldest unwoken waiter, or every one, as woken at now. */
void sp_wait_wake_cond(const void *cond, bool all, int64_t now);

/* Which waiters on an object a traced wake-up may end (sp_wait_trace_wakers). */
enum sp_wakers {
    SP_WAKERS_RELEASE, /* a lock's release: its waiters, and condition waiters woken to re-acquire it */
    SP_WAKERS_COND,    /* a signal or broadcast: the condition waiters it just woke */
    SP_WAKERS_ANY,     /* a send, receive or close: every waiter on the object */
    SP_WAKERS_POST,    /* a semaphore post: as ANY, but it may run in a signal handler */
};

/*
 * Tracing: gives the waiters on object that this wake-up may end (which
 * says who) the flow ids first, first + 1, ..., at most max of them;
 * returns how many. *since is set to the earliest time from which one of
 * them waited for object (for a release: the start of the hold's
 * contended part), or left alone when there is none. For SP_WAKERS_POST
 * the bucket's lock is only tried for a while (the handler may have
 * interrupted its holder): -1 when it stayed busy.
 */
int sp_wait_trace_wakers(const void *object, enum sp_wakers which, uint64_t first, int max,
                         int64_t *since);

/*
 * Calls fn(w, arg) for every registered waiter, bucket by bucket, with the
 * bucket's spinlock held: w and the object it waits for stay valid during
 * the call (the waiter cannot leave), but fn must only read and copy: no
 * locks, no malloc, no blocking. Waiters that come and go meanwhile may or
 * may not be seen. For thread dumps and the watchdog. Holding the bucket
 * also keeps each waiter inside its wrapper's frame, so a dump may unwind
 * its stack from its saved registers (sp_waiter.regs) in fn.
 */
void sp_wait_foreach(void (*fn)(const struct sp_waiter *w, void *arg), void *arg);

/* The text of a wait reason ("mutex lock", ...). */
const char *sp_wait_reason_text(enum sp_wait_reason reason);

/* The "wait" label of a block sample: "mutex", "cond", "cond_timed", ...
 * (timed: the wait had a deadline). */
const char *sp_wait_label(enum sp_wait_reason reason, bool timed);

#endif /* SP_WAIT_TABLE_H */
