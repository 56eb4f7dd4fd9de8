/*
 * thread_registry.h - what the library knows about each thread of the
 * process: its kernel thread id, and, while lock tracking is on, the locks
 * it holds right now (for thread dumps, the watchdog's wait-for graph and
 * lock-order checking). Also the library's own service threads, which the
 * watchdog leaves out of "all threads are asleep".
 *
 * Records live in mmap'd chunks that are never unmapped, linked in one
 * list that only grows, so any thread may walk it at any time without a
 * lock. A thread claims a free record the first time it tracks a lock and
 * gives it back when it exits (a pthread key destructor). Only the owning
 * thread writes its record's held list; other threads read it with atomic
 * loads and may see it mid-change (a dump is a snapshot, not a
 * transaction). Nothing here calls malloc.
 */
#ifndef SP_THREAD_REGISTRY_H
#define SP_THREAD_REGISTRY_H

#include <pthread.h>

#include <stdbool.h>
#include <stdint.h>

/* The most locks one thread's record lists; deeper nesting is counted in
 * overflow and not listed (ThreadSanitizer caps at 64 too, Abseil at 40). */
#define SP_MAX_HELD 64

/* One held lock. Both fields are written by the owner with atomic stores. */
struct sp_held {
    const void *object;
    int reason; /* SP_WAIT_MUTEX, SP_WAIT_RWLOCK_READ or SP_WAIT_RWLOCK_WRITE */
};

struct sp_thread_rec {
    int tid;              /* 0: free. Claimed with a CAS; atomic */
    int nheld;            /* entries of held in use; owner writes, atomic */
    int untracked;        /* acquisitions beyond SP_MAX_HELD not yet released;
                             written by the owner only, read by dumps; atomic */
    uint64_t overflow;    /* acquisitions ever left unlisted; owner writes, atomic */
    struct sp_held held[SP_MAX_HELD]; /* oldest first */
    struct sp_thread_rec *next; /* the list of all records; never changes once published */
};

/* The calling thread's kernel thread id (cached per thread; correct after
 * fork). Async-signal-safe. */
int sp_self_tid(void);

/* The kernel thread id of t, a thread not yet joined, from glibc's own
 * description of its thread descriptor for debuggers; 0 when unknown. */
int sp_thread_tid_of(pthread_t t);

/* The calling thread's record, claimed on first use; NULL when no memory
 * can be mapped (then nothing is tracked for it). */
struct sp_thread_rec *sp_thread_self(void);

/* The first record of the list (follow ->next); records with tid 0 are free. */
struct sp_thread_rec *sp_thread_records(void);

/* The record of thread tid, or NULL when it has none. Linear in the number
 * of records. */
struct sp_thread_rec *sp_thread_find(int tid);

/* Marks the calling thread as one of the library's own (watchdog, dumper,
 * writer): from now on it is inside the profiler (sampling.h), until it
 * unregisters. */
void sp_service_thread_register(void);
void sp_service_thread_unregister(void);
bool sp_is_service_thread(int tid);

/* The same by tid, for the threads of a library syncprof starts
 * (libmicrohttpd's): dumps list them as syncprof's own, and they do not
 * keep a process whose own threads are gone alive (sp_service_thread_tick).
 * At most 192 service threads at once; one more is counted as the
 * program's. */
void sp_service_tid_add(int tid);
void sp_service_tid_remove(int tid);

/* Calls visit(tid, arg) for each thread of the process (/proc/self/task)
 * until it returns false. Returns false when /proc cannot be read. */
bool sp_each_thread(bool (*visit)(int tid, void *arg), void *arg);

/* SP_SERVICE_TICK_MS: the longest a service thread waits between ticks. */
#define SP_SERVICE_TICK_MS 500

/*
 * Called by every service thread at least every SP_SERVICE_TICK_MS while it
 * waits. When the program's own threads are all gone (its main thread
 * ended with pthread_exit() and the others returned), only syncprof's
 * threads would keep the process alive: the process then exits with status
 * 0, as glibc ends it when its last thread exits, and atexit handlers (the
 * profiles' writing among them) run.
 */
void sp_service_thread_tick(void);

#endif /* SP_THREAD_REGISTRY_H */
