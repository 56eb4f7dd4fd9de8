/*
 * preload.c - the LD_PRELOAD interposer's own parts: finding the real
 * pthread functions, surviving the moments before that is done, and
 * writing the profiles (at exit with a summary on stderr, and on a signal).
 *
 * libsyncprof-preload.so = the engine (src/) + pthread/pthread_wrappers.c
 * compiled again with SYNCPROF_PRELOAD + this file. The interposed names
 * (pthread_mutex_lock, ..., sem_timedwait) are linker aliases of the
 * syncprof_ wrappers (--defsym in interpose/CMakeLists.txt), and the
 * syncprof_ names are local to the library (preload.map). So a call from
 * the program lands directly in the wrapper, whose return address is the
 * program's own call site (the caller frame of every sample), and the one
 * global symbol at the wrapper's address is the pthread name: profiles show
 * the API the program called as the leaf frame, as mutrace and Go do
 * (pthread_mutex_unlock where Go shows sync.(*Mutex).Unlock).
 *
 * Bootstrap (see preload_real.h): each REAL pointer starts at a boot_
 * function that resolves all of them with dlsym and calls the real one. A
 * call made by the thread that is inside that dlsym (dlsym may malloc, and
 * jemalloc or tcmalloc lock pthread mutexes in malloc) cannot wait for the
 * resolution it is part of; it takes a fallback instead:
 *   - mutex and rwlock operations call glibc's own exported aliases
 *     (__pthread_mutex_lock, __pthread_rwlock_rdlock, ...), which the
 *     interposer does not define, so they are bound to libc at load time;
 *     the timed variants poll the try operation until their deadline;
 *   - anything else looks its one symbol up (a nested dlsym, whose own
 *     mutex calls take the path above); only if that nests again does it
 *     give up: condition waits return 0 (a spurious wake-up, which POSIX
 *     allows), signal and broadcast do nothing, sem_wait fails with EINTR,
 *     join with EDEADLK, a barrier with EINVAL. No real allocator does that.
 * Threads other than the resolving one never take a fallback: they resolve
 * themselves (dlsym is thread-safe; every resolver stores the same values).
 *
 * Writing: at exit (an atexit handler registered at load, so it runs after
 * the program's own) the enabled profiles go to SYNCPROF_OUT (default: the
 * directory the program started in) as <name>.<pid>.pb.gz, followed by a
 * summary on stderr: per profile the top 10 stacks by delay and the file
 * name. SYNCPROF_WRITE_SIGNAL (default USR2; 0 or "none": off) writes the
 * profiles so far without stopping the program: the handler only writes a
 * byte to a pipe; a helper thread (named syncprof-writer, all signals
 * blocked) does the writing, which needs malloc and must not run in a
 * handler, and says "syncprof: wrote ..." per file. SYNCPROF_SUMMARY=0
 * (syncprof run --quiet) writes the files and prints nothing. A signal whose disposition was "ignore" at load is left alone.
 *
 * Hostile conditions:
 *   - fork: the child keeps its inherited samples and settings, writes its
 *     own <name>.<childpid>.pb.gz at exit, and gets a new pipe and helper
 *     thread (pthread_atfork child handler).
 *   - exit or exec while threads are blocked: nothing of ours is held while
 *     a thread waits in a real call; exit just writes; exec discards the
 *     process's samples (as it discards everything else).
 *   - stderr: the summary goes to fd 2 only if it is still the file it was
 *     at load (so a program that closed stderr and reused fd 2 for its own
 *     data never gets our text), with SIGPIPE blocked around the write (a
 *     closed pipe must not turn a clean exit into a death by signal).
 *   - recursion: everything written or symbolized here runs inside
 *     sp_enter_profiler, so the allocator's and libdw's own locks go to the
 *     real functions unobserved.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "env.h"
#include "export.h"
#include "format_common.h"
#include "hold_sampling.h"
#include "labels.h"
#include "profile_table.h"
#include "real.h"
#include "sampling.h"
#include "signal_names.h"
#include "summary_table.h"
#include "symbolize.h"
#include "thread_registry.h"
#include "wait_table.h"

/* ---- The real functions and their bootstrap ------------------------------ */

/* glibc's exported aliases of its mutex and rwlock functions: never
 * interposed, so safe to call while our pointers are unresolved. Weak
 * references: since glibc 2.34 they have no default version, which the
 * dynamic linker accepts but the static linker refuses among a library's
 * undefined symbols when a program is linked against it (as against
 * libsyncprof-interpose.so); a weak reference passes that check. */
extern int __pthread_mutex_lock(pthread_mutex_t *m) __attribute__((weak));
extern int __pthread_mutex_trylock(pthread_mutex_t *m) __attribute__((weak));
extern int __pthread_mutex_unlock(pthread_mutex_t *m) __attribute__((weak));
extern int __pthread_mutex_destroy(pthread_mutex_t *m) __attribute__((weak));
extern int __pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a)
    __attribute__((weak));
extern int __pthread_rwlock_init(pthread_rwlock_t *rw, const pthread_rwlockattr_t *a)
    __attribute__((weak));
extern int __pthread_rwlock_destroy(pthread_rwlock_t *rw) __attribute__((weak));
extern int __pthread_rwlock_rdlock(pthread_rwlock_t *rw) __attribute__((weak));
extern int __pthread_rwlock_wrlock(pthread_rwlock_t *rw) __attribute__((weak));
extern int __pthread_rwlock_tryrdlock(pthread_rwlock_t *rw) __attribute__((weak));
extern int __pthread_rwlock_trywrlock(pthread_rwlock_t *rw) __attribute__((weak));
extern int __pthread_rwlock_unlock(pthread_rwlock_t *rw) __attribute__((weak));

static SP_TLS int resolving; /* this thread's dlsym nesting depth */
static int resolved;         /* every pointer holds its real function; atomic */

/* The next definition of name after this library; NULL if there is none. */
static void *lookup(const char *name, const char *version)
{
    resolving++;
    void *p = version ? dlvsym(RTLD_NEXT, name, version) : NULL;
    if (!p)
        p = dlsym(RTLD_NEXT, name);
    resolving--;
    return p;
}

/* Fallbacks for calls made from inside our own dlsym (see the top). */
static bool passed(clockid_t clock, const struct timespec *t)
{
    struct timespec now;
    clock_gettime(clock, &now);
    return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

static int try_mutex(void *o) { return __pthread_mutex_trylock(o); }
static int try_rd(void *o) { return __pthread_rwlock_tryrdlock(o); }
static int try_wr(void *o) { return __pthread_rwlock_trywrlock(o); }

/* The try operation, polled every 50 us until it stops saying EBUSY or the
 * deadline passes. */
static int poll_until(int (*try)(void *), void *object, clockid_t clock, const struct timespec *t)
{
    for (;;) {
        int r = try(object);
        if (r != EBUSY)
            return r;
        if (!sp_timespec_valid(t))
            return EINVAL;
        if (passed(clock, t))
            return ETIMEDOUT;
        struct timespec pause = { 0, 50000 };
        nanosleep(&pause, NULL);
    }
}

static int fallback_pthread_mutex_lock(pthread_mutex_t *m) { return __pthread_mutex_lock(m); }
static int fallback_pthread_mutex_trylock(pthread_mutex_t *m) { return __pthread_mutex_trylock(m); }
static int fallback_pthread_mutex_unlock(pthread_mutex_t *m) { return __pthread_mutex_unlock(m); }
static int fallback_pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *t)
{
    return poll_until(try_mutex, m, CLOCK_REALTIME, t);
}
static int fallback_pthread_mutex_clocklock(pthread_mutex_t *m, clockid_t c, const struct timespec *t)
{
    return poll_until(try_mutex, m, c, t);
}
static int fallback_pthread_mutex_destroy(pthread_mutex_t *m) { return __pthread_mutex_destroy(m); }
static int fallback_pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a)
{
    return __pthread_mutex_init(m, a);
}
static int fallback_pthread_rwlock_init(pthread_rwlock_t *rw, const pthread_rwlockattr_t *a)
{
    return __pthread_rwlock_init(rw, a);
}
static int fallback_pthread_rwlock_destroy(pthread_rwlock_t *rw) { return __pthread_rwlock_destroy(rw); }
static int fallback_pthread_rwlock_rdlock(pthread_rwlock_t *rw) { return __pthread_rwlock_rdlock(rw); }
static int fallback_pthread_rwlock_wrlock(pthread_rwlock_t *rw) { return __pthread_rwlock_wrlock(rw); }
static int fallback_pthread_rwlock_tryrdlock(pthread_rwlock_t *rw) { return __pthread_rwlock_tryrdlock(rw); }
static int fallback_pthread_rwlock_trywrlock(pthread_rwlock_t *rw) { return __pthread_rwlock_trywrlock(rw); }
static int fallback_pthread_rwlock_unlock(pthread_rwlock_t *rw) { return __pthread_rwlock_unlock(rw); }
static int fallback_pthread_rwlock_timedrdlock(pthread_rwlock_t *rw, const struct timespec *t)
{
    return poll_until(try_rd, rw, CLOCK_REALTIME, t);
}
static int fallback_pthread_rwlock_timedwrlock(pthread_rwlock_t *rw, const struct timespec *t)
{
    return poll_until(try_wr, rw, CLOCK_REALTIME, t);
}

/* The rest look their own symbol up; nested twice, last_resort. */
#define SP_FALLBACK_LOOKUP(name, params, args, version, last_resort)                      \
    static int fallback_##name params                                                    \
    {                                                                                    \
        __typeof__(name) *f = resolving < 2 ? (__typeof__(name) *)lookup(#name, version) \
                                            : NULL;                                      \
        return f ? f args : (last_resort);                                               \
    }
SP_FALLBACK_LOOKUP(pthread_cond_wait, (pthread_cond_t *c, pthread_mutex_t *m), (c, m),
                   "GLIBC_2.3.2", 0)
SP_FALLBACK_LOOKUP(pthread_cond_timedwait,
                   (pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *t), (c, m, t),
                   "GLIBC_2.3.2", 0)
SP_FALLBACK_LOOKUP(pthread_cond_clockwait,
                   (pthread_cond_t *c, pthread_mutex_t *m, clockid_t k, const struct timespec *t),
                   (c, m, k, t), NULL, 0)
/* A condition variable with the default attributes is all zeros
 * (PTHREAD_COND_INITIALIZER); destroying one has nothing to free. */
SP_FALLBACK_LOOKUP(pthread_cond_init, (pthread_cond_t *c, const pthread_condattr_t *a), (c, a),
                   "GLIBC_2.3.2", (a ? EAGAIN : (memset(c, 0, sizeof *c), 0)))
SP_FALLBACK_LOOKUP(pthread_cond_destroy, (pthread_cond_t *c), (c), "GLIBC_2.3.2", 0)
SP_FALLBACK_LOOKUP(pthread_cond_signal, (pthread_cond_t *c), (c), "GLIBC_2.3.2", 0)
SP_FALLBACK_LOOKUP(pthread_cond_broadcast, (pthread_cond_t *c), (c), "GLIBC_2.3.2", 0)
SP_FALLBACK_LOOKUP(pthread_join, (pthread_t t, void **ret), (t, ret), NULL, EDEADLK)
SP_FALLBACK_LOOKUP(pthread_tryjoin_np, (pthread_t t, void **ret), (t, ret), NULL, EBUSY)
SP_FALLBACK_LOOKUP(pthread_barrier_wait, (pthread_barrier_t *b), (b), NULL, EINVAL)
SP_FALLBACK_LOOKUP(sem_wait, (sem_t *s), (s), NULL, (errno = EINTR, -1))
SP_FALLBACK_LOOKUP(sem_trywait, (sem_t *s), (s), NULL, (errno = EAGAIN, -1))
SP_FALLBACK_LOOKUP(sem_timedwait, (sem_t *s, const struct timespec *t), (s, t), NULL,
                   (errno = EINTR, -1))
SP_FALLBACK_LOOKUP(sem_post, (sem_t *s), (s), NULL, (errno = EINVAL, -1))
#undef SP_FALLBACK_LOOKUP

/* What a pointer holds if the C library lacks the function: the program
 * cannot have linked a call to it, so this only keeps the pointer valid. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#define SP_MISSING(name, params, args, version) \
    static int missing_##name params { return ENOSYS; }
SP_PRELOAD_REAL_FUNCS(SP_MISSING)
#undef SP_MISSING
#pragma GCC diagnostic pop

static bool resolve_all(void);

#define SP_BOOT(name, params, args, version)                              \
    static int boot_##name params                                         \
    {                                                                     \
        return resolve_all() ? REAL(name) args : fallback_##name args;    \
    }                                                                     \
    __typeof__(name) *sp_real_##name = boot_##name;
SP_PRELOAD_REAL_FUNCS(SP_BOOT)
#undef SP_BOOT

/* Points every REAL pointer at the real function. false (nothing done) when
 * called from inside this thread's own resolution. */
static bool resolve_all(void)
{
    if (__atomic_load_n(&resolved, __ATOMIC_ACQUIRE))
        return true;
    if (resolving)
        return false;
#define SP_RESOLVE(name, params, args, version)                              \
    {                                                                        \
        __typeof__(name) *p = (__typeof__(name) *)lookup(#name, version);    \
        __atomic_store_n(&sp_real_##name, p ? p : missing_##name, __ATOMIC_RELEASE); \
    }
    SP_PRELOAD_REAL_FUNCS(SP_RESOLVE)
#undef SP_RESOLVE
    __atomic_store_n(&resolved, 1, __ATOMIC_RELEASE);
    return true;
}

/* ---- Saying things on stderr, safely ------------------------------------- */

static bool stderr_known;      /* fd 2 was open at load; set once */
static dev_t stderr_dev;       /* its identity then */
static ino_t stderr_ino;

static void remember_stderr(void)
{
    struct stat st;
    if (fstat(2, &st) == 0) {
        stderr_known = true;
        stderr_dev = st.st_dev;
        stderr_ino = st.st_ino;
    }
}

/* fd 2 is still what it was at load (not closed, not reused). */
static bool stderr_usable(void)
{
    struct stat st;
    return stderr_known && fstat(2, &st) == 0 && st.st_dev == stderr_dev &&
           st.st_ino == stderr_ino;
}

/* Writes text to stderr, if usable, with SIGPIPE blocked: a reader that went
 * away gets EPIPE, and the program no signal it did not ask for. */
static void say(const char *text)
{
    if (!text || !stderr_usable())
        return;
    sigset_t pipe_only, old, pending;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    sigpending(&pending);
    bool was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    int err = sp_write_all(2, text, strlen(text));
    if (err == EPIPE && !was_pending) {
        struct timespec zero = { 0, 0 };
        sigtimedwait(&pipe_only, NULL, &zero); /* ours: take it back */
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* ---- The exit summary ---------------------------------------------------- */

#define SUMMARY_TOP 10
#define SUMMARY_DEPTH 6
#define SUMMARY_MERGE 256 /* records merged into the summary's rows */

typedef char *demangle_fn(const char *mangled, char *out, size_t *len, int *status);

/* A frame's name for people: C++ names demangled when the program has
 * libstdc++ loaded (a C++ program always has; a C program has no mangled
 * names). Returns a malloc'd string or NULL. */
static char *frame_name(const char *name)
{
    static demangle_fn *demangle;
    static bool looked;
    if (!looked) {
        demangle = (demangle_fn *)dlsym(RTLD_DEFAULT, "__cxa_demangle");
        looked = true;
    }
    if (demangle && name[0] == '_' && name[1] == 'Z') {
        int status = -1;
        char *d = demangle(name, NULL, NULL, &status);
        if (d && status == 0)
            return d;
        free(d);
    }
    return strdup(name);
}

/* The names of one record's frames, innermost inlined function first. */
/* Leaf first: the wrapped call, then the program's frames. The runtime's
 * lock plumbing between them (std::mutex::lock, __gthread_mutex_lock...)
 * is skipped, and a name that repeats the one before it (an inlined frame
 * and its caller named alike) is shown once. */
static int record_names(struct sp_symbolizer *s, const struct sp_record *r, char **names, int max)
{
    int n = 0;
    for (int i = 0; i < r->nframes && n < max; i++) {
        struct sp_symbol sym;
        sp_symbolize(s, r->pcs[i], &sym);
        for (int j = 0; j < sym.nframes && n < max; j++) {
            char *name = frame_name(sym.frames[j].function);
            if (name && n > 0 && (sp_frame_is_lock_plumbing(name) || strcmp(name, names[n - 1]) == 0)) {
                free(name);
                continue;
            }
            if (name)
                names[n++] = name;
        }
    }
    return n;
}

/* Whether a[0..k) and b[0..k) are the same names. */
static bool same_names(const char *const *a, char *const *b, int k)
{
    for (int j = 0; j < k; j++)
        if (strcmp(a[j], b[j]) != 0)
            return false;
    return true;
}

/* The value of the sample's "wait" label, or NULL. */
static const char *wait_of(const struct sp_record *r)
{
    for (int i = 0; r->labels && i < r->labels->n; i++)
        if (strcmp(r->labels->labels[i].key, "wait") == 0)
            return r->labels->labels[i].value;
    return NULL;
}

/* A row of the summary: the records whose shown frames are these. */
struct summary_row {
    struct sp_stack_row row;
    char *names[SUMMARY_DEPTH];
};

static int heavier_row(const void *a, const void *b)
{
    int64_t x = ((const struct summary_row *)a)->row.weight;
    int64_t y = ((const struct summary_row *)b)->row.weight;
    return x > y ? -1 : x < y;
}

/* Adds record r, whose shown frames are names[0..k), to the row showing
 * the same frames, or to a new row; the names are then the row's or freed. */
static void merge_row(struct summary_row *rows, size_t *nrows, const struct sp_record *r,
                      char **names, int k)
{
    size_t i = 0;
    while (i < *nrows && !(rows[i].row.nframes == k &&
                           same_names((const char *const *)rows[i].names, names, k)))
        i++;
    if (i == *nrows) {
        rows[i] = (struct summary_row){ .row = { .nframes = k } };
        memcpy(rows[i].names, names, (size_t)k * sizeof names[0]);
        rows[i].row.frames = (const char *const *)rows[i].names;
        (*nrows)++;
    } else {
        for (int j = 0; j < k; j++)
            free(names[j]);
    }
    rows[i].row.weight += r->delay_ns;
    rows[i].row.count += sp_count_round(r->count);
}

/* The heaviest stacks of recs[0..n) as a table (malloc'd, NULL if none),
 * with frames named by s; *total and *events are the sums over all n.
 * Records that show the same frames (they differ in labels, or below the
 * frames shown) make one row, so that no two rows read alike; the rows are
 * merged from the SUMMARY_MERGE heaviest records. */
static char *heaviest(struct sp_record *recs, size_t n, enum sp_profile_kind kind,
                      struct sp_symbolizer *s, int64_t *total, int64_t *events)
{
    struct sp_profile_view v = { .kind = kind, .recs = recs, .n = n };
    const struct sp_record **order = NULL;
    *total = *events = 0;
    for (size_t i = 0; i < n; i++) {
        *total += recs[i].delay_ns;
        *events += sp_count_round(recs[i].count);
    }
    if (n == 0 || !s || sp_records_sorted(&v, &order) != 0)
        return NULL;
    size_t considered = n < SUMMARY_MERGE ? n : SUMMARY_MERGE, nrows = 0;
    struct summary_row *rows = calloc(considered, sizeof *rows);
    char *table = NULL;
    if (rows) {
        for (size_t i = 0; i < considered; i++) {
            char *names[SUMMARY_DEPTH];
            int k = record_names(s, order[i], names, SUMMARY_DEPTH);
            merge_row(rows, &nrows, order[i], names, k);
        }
        qsort(rows, nrows, sizeof *rows, heavier_row);
        struct sp_stack_row shown[SUMMARY_TOP];
        size_t top = nrows < SUMMARY_TOP ? nrows : SUMMARY_TOP;
        for (size_t i = 0; i < top; i++)
            shown[i] = rows[i].row;
        struct sp_table_opts o = { .top = SUMMARY_TOP, .depth = SUMMARY_DEPTH, .oneline = true,
                                   .weight_is_ns = true, .weight_title = "delay" };
        table = sp_table_format(shown, top, *total, &o);
        for (size_t i = 0; i < nrows; i++)
            for (int j = 0; j < rows[i].row.nframes; j++)
                free(rows[i].names[j]);
        free(rows);
    }
    free(order);
    return table;
}

/*
 * The block profile's records split in place: lock waits (mutex, rwlock:
 * contention) first, then event waits (condition, semaphore, join,
 * barrier, channel), which are often threads with nothing to do and must
 * not hide the contended lock. Returns the number of lock waits.
 */
static size_t split_lock_waits(struct sp_record *recs, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (sp_wait_kind_is_lock(wait_of(&recs[i]))) {
            struct sp_record t = recs[k];
            recs[k++] = recs[i];
            recs[i] = t;
        }
    }
    return k;
}

/* One titled part of the summary: "syncprof:   lock waits: ...", table. */
static char *part(const char *title, struct sp_record *recs, size_t n, enum sp_profile_kind kind,
                  struct sp_symbolizer *s)
{
    int64_t total, events;
    char *table = heaviest(recs, n, kind, s, &total, &events), *text = NULL, d[32];
    if (asprintf(&text, "syncprof:   %s: %s in %" PRId64 " events, %zu stacks%s\n%s", title,
                 sp_format_duration(total, d, sizeof d), events, n,
                 n > SUMMARY_TOP ? ", the heaviest:" : "", table ? table : "") < 0)
        text = NULL;
    free(table);
    return text;
}

/* "syncprof: mutex profile ...", the table (for the block profile, lock
 * waits and event waits apart), the file, with frames named by s (one
 * symbolizer for every profile: opening one reads every mapped ELF file,
 * the main cost of the summary). Returns malloc'd text. */
static char *summarize(enum sp_profile_kind kind, const char *path, struct sp_symbolizer *s)
{
    struct sp_record *recs;
    size_t n;
    if (sp_profile_snapshot(kind, &recs, &n) != 0)
        return NULL;
    int64_t total, events;
    char *text = NULL, *body = NULL, *locks = NULL, *others = NULL, d[32], setting[64];
    if (kind == SP_PROFILE_BLOCK && n > 0) {
        size_t k = split_lock_waits(recs, n);
        locks = part("lock waits (mutex, rwlock)", recs, k, kind, s);
        others = part("event waits (condition, semaphore, join, barrier, channel)", recs + k,
                      n - k, kind, s);
        total = events = 0; /* the whole profile's, both parts */
        for (size_t i = 0; i < n; i++) {
            total += recs[i].delay_ns;
            events += sp_count_round(recs[i].count);
        }
        if (asprintf(&body, "%s%s", locks ? locks : "", others ? others : "") < 0)
            body = NULL;
    } else {
        body = heaviest(recs, n, kind, s, &total, &events);
    }
    if (kind == SP_PROFILE_MUTEX)
        snprintf(setting, sizeof setting, "mutex fraction %d", sp_mutex_fraction());
    else if (kind == SP_PROFILE_HOLD)
        snprintf(setting, sizeof setting, "hold rate %" PRId64 " ns", sp_hold_rate());
    else
        snprintf(setting, sizeof setting, "block rate %" PRId64 " ns", sp_block_rate());
    if (asprintf(&text,
                 "syncprof: %s profile (%s): %s of delay in %" PRId64 " events, %zu stacks%s\n%s"
                 "syncprof: wrote %s\n",
                 sp_profile_name(kind), setting, sp_format_duration(total, d, sizeof d), events, n,
                 kind == SP_PROFILE_MUTEX && n > SUMMARY_TOP ? ", the heaviest:" : "",
                 body ? body : "", path) < 0)
        text = NULL;
    free(body);
    free(locks);
    free(others);
    free(recs);
    return text;
}

/* ---- Writing the profiles -------------------------------------------------- */

static bool summary_on = true; /* SYNCPROF_SUMMARY; set once at load */

struct written {
    int n;
    char kind[SP_PROFILE__COUNT + 1][16]; /* the profiles and the lock table */
    char path[SP_PROFILE__COUNT + 1][4160];
    int err[SP_PROFILE__COUNT + 1];
};

static void note_written(const char *name, const char *path, int err, void *arg)
{
    struct written *w = arg;
    if (w->n >= SP_PROFILE__COUNT + 1)
        return;
    snprintf(w->kind[w->n], sizeof w->kind[0], "%s", name);
    snprintf(w->path[w->n], sizeof w->path[0], "%s", path);
    w->err[w->n++] = err;
}

/* Writes the enabled profiles; at exit with the summary, else one line per
 * file. */
static void write_profiles(bool at_exit)
{
    struct written w = { 0 }; /* exit and the helper thread may both be here */
    sp_config_write_profiles(note_written, &w);
    if (!summary_on)
        return; /* SYNCPROF_SUMMARY=0 (syncprof run --quiet): files only */
    sp_enter_profiler();
    /* The summary names frames only when there are some to name. */
    bool any = false;
    for (int k = 0; k < SP_PROFILE__COUNT && at_exit; k++) {
        struct sp_record *recs;
        size_t n;
        if (sp_profile_snapshot((enum sp_profile_kind)k, &recs, &n) == 0) {
            any = any || n > 0;
            free(recs);
        }
    }
    struct sp_symbolizer *s = any ? sp_symbolizer_acquire() : NULL;
    for (int i = 0; i < w.n; i++) {
        char *text = NULL;
        if (w.err[i] != 0) {
            if (asprintf(&text, "syncprof: cannot write %s: %s\n", w.path[i], strerror(w.err[i])) < 0)
                text = NULL;
        } else if (at_exit && sp_profile_kind_of(w.kind[i]) < 0) {
            if (asprintf(&text, "syncprof: wrote the lock table to %s\n", w.path[i]) < 0)
                text = NULL;
        } else if (at_exit) {
            text = summarize((enum sp_profile_kind)sp_profile_kind_of(w.kind[i]), w.path[i], s);
        } else if (asprintf(&text, "syncprof: wrote %s profile to %s\n", w.kind[i], w.path[i]) < 0) {
            text = NULL;
        }
        say(text);
        free(text);
    }
    if (at_exit && w.n > 0)
        say("syncprof: read them with `syncprof report FILE` or `go tool pprof -http=127.0.0.1:8080 FILE`\n");
    if (s)
        sp_symbolizer_release();
    sp_leave_profiler();
}

static void at_exit(void)
{
    if (sp_profile_inherited_only())
        return; /* a child of fork that recorded nothing: its parent's files cover it */
    write_profiles(true);
}

/* ---- The write signal ----------------------------------------------------- */

static int write_signal = SIGUSR2; /* 0: off; set once at load */
static int wake[2] = { -1, -1 };   /* the handler writes wake[1]; the helper reads wake[0] */

static void on_write_signal(int sig)
{
    (void)sig;
    int saved = errno;
    char c = 1;
    if (write(wake[1], &c, 1) < 0) {
        /* a full pipe already holds a request */
    }
    errno = saved;
}

static void *writer_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    sp_service_thread_register();
    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        if (poll(&pfd, 1, SP_SERVICE_TICK_MS) == 0) {
            sp_service_thread_tick(); /* the program may have ended its last thread */
            continue;
        }
        char c[64];
        ssize_t r = read(fd, c, sizeof c); /* several requests: one write */
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return NULL;
        write_profiles(false);
    }
}

/* The pipe and the helper thread (all signals blocked, so the program's
 * signals never land there). On failure the signal just does nothing. */
static void start_writer(void)
{
    if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        wake[0] = wake[1] = -1;
        return;
    }
    int flags = fcntl(wake[0], F_GETFL);
    fcntl(wake[0], F_SETFL, flags & ~O_NONBLOCK); /* the reader blocks; the handler never does */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, writer_main, (void *)(intptr_t)wake[0]) == 0)
        pthread_setname_np(t, "syncprof-writer");
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void install_write_signal(void)
{
    struct sigaction old;
    if (write_signal <= 0 || sigaction(write_signal, NULL, &old) != 0 || old.sa_handler == SIG_IGN)
        return;
    start_writer();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_write_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(write_signal, &sa, NULL);
}

/* The child of fork: the helper thread did not come along; a new pipe and
 * a new helper (the handler is inherited). */
static void after_fork_child(void)
{
    if (wake[0] < 0)
        return;
    close(wake[0]);
    close(wake[1]);
    wake[0] = wake[1] = -1;
    start_writer();
}

/* ---- Load time ------------------------------------------------------------ */

/* SYNCPROF_LINKED: this file compiled for libsyncprof-interpose.so, which
 * a program links (no LD_PRELOAD) to have every pthread call of its own and
 * of its libraries observed. It then behaves as libsyncprof: configured by
 * the SYNCPROF_* variables, profiles written at exit only to SYNCPROF_OUT
 * (config.c), no summary, no write signal. */
#ifdef SYNCPROF_LINKED
static const bool linked = true;
#else
static const bool linked = false;
#endif

/* Priority 101: before config.c's constructor, which then reads the
 * environment in preload mode. */
__attribute__((constructor(101))) static void preload_init(void)
{
    if (linked) {
        resolve_all();
        return;
    }
    sp_config_preload = true;
    remember_stderr();
    resolve_all();
    const char *s = sp_getenv("SYNCPROF_WRITE_SIGNAL");
    if (s && *s) {
        int refused, sig = sp_signal_parse(s, &refused);
        char why[128];
        if (sig == -2)
            sp_env_refuse("SYNCPROF_WRITE_SIGNAL", s,
                          sp_signal_refused_text(refused, "writing profiles", why, sizeof why));
        else if (sig < 0)
            sp_env_warn("SYNCPROF_WRITE_SIGNAL", s, "a signal name or number, or 0 for none");
        else
            write_signal = sig;
    }
    sp_env_bool("SYNCPROF_SUMMARY", &summary_on);
    atexit(at_exit);
    pthread_atfork(NULL, NULL, after_fork_child);
    install_write_signal();
}
