/*
 * cancel.c - cancelling threads blocked in each cancellation point does no
 * harm.
 *
 * For each cancellation point (pthread_cond_wait, pthread_cond_timedwait,
 * pthread_cond_clockwait, pthread_join, pthread_timedjoin_np, sem_wait,
 * sem_timedwait) a blocked thread is cancelled HARM_LOOPS times (1000); the
 * cleanup handlers run, with the mutex held by the cancelled thread where
 * POSIX says so (condition waits: an error-checking mutex, which the
 * handler unlocks successfully only if it owns it).
 *
 * Then, HARM_LOOPS / 4 times each: asynchronous cancellation of a thread
 * blocked in pthread_mutex_lock (POSIX leaves pthread_mutex_lock under
 * asynchronous cancellation undefined; glibc cancels it cleanly, without
 * acquiring, and the library must not break that), and deferred
 * cancellation of threads blocked in pthread_mutex_timedlock,
 * pthread_rwlock_timedwrlock and pthread_rwlock_rdlock: these are not
 * cancellation points, so the thread must acquire when the lock is
 * released and be cancelled only at its later pthread_testcancel.
 *
 * Afterwards the same objects work (a hand-off through them), and a dump
 * and a profile write succeed (harm.h).
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

#include "harm.h"

enum kind {
    K_COND_WAIT,
    K_COND_TIMEDWAIT,
    K_COND_CLOCKWAIT,
    K_JOIN,
    K_TIMEDJOIN,
    K_SEM_WAIT,
    K_SEM_TIMEDWAIT,
    K_ASYNC_MUTEX_LOCK,
    K_MUTEX_TIMEDLOCK,
    K_RWLOCK_TIMEDWRLOCK,
    K_RWLOCK_RDLOCK,
    K_COUNT
};

static const char *const kind_name[K_COUNT] = {
    "pthread_cond_wait",
    "pthread_cond_timedwait",
    "pthread_cond_clockwait",
    "pthread_join",
    "pthread_timedjoin_np",
    "sem_wait",
    "sem_timedwait",
    "pthread_mutex_lock (asynchronous cancel)",
    "pthread_mutex_timedlock (deferred cancel, not a cancellation point)",
    "pthread_rwlock_timedwrlock (deferred cancel, not a cancellation point)",
    "pthread_rwlock_rdlock (deferred cancel, not a cancellation point)",
};

static pthread_mutex_t m;  /* error-checking: the condition waits' mutex */
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static sem_t s;            /* 0 during the loops */
static pthread_mutex_t am = PTHREAD_MUTEX_INITIALIZER; /* held by main: async cancel */
static pthread_mutex_t nm = PTHREAD_MUTEX_INITIALIZER; /* held by main: timedlock */
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER; /* write-held by main */

struct waiter {
    enum kind kind;
    pthread_t target;          /* the thread a joiner joins */
    atomic_int tid;
    atomic_int inside;         /* cond kinds: set under m just before waiting */
    atomic_int about_to_block; /* other kinds: set just before the call */
    atomic_int handler_ran;
    atomic_int handler_rc;     /* cond kinds: pthread_mutex_unlock in the handler */
    atomic_int acquired;       /* non-cancellation points: the lock was taken */
    atomic_int acquired_seen_by_handler;
    atomic_int before_testcancel;
    atomic_int after_testcancel; /* must stay 0 */
    atomic_int returned;       /* the blocking call returned (it must not) */
    atomic_int rc;             /* what it returned */
};

static struct waiter *current;
static long iteration;

static void on_hang(char *buf, size_t len)
{
    struct waiter *w = current;
    if (w)
        snprintf(buf, len, "iteration %ld, waiter inside=%d about_to_block=%d handler_ran=%d "
                 "acquired=%d returned=%d rc=%d", iteration, w->inside, w->about_to_block,
                 w->handler_ran, w->acquired, w->returned, w->rc);
}

/* ---- Condition waits ------------------------------------------------------ */

static void cond_cleanup(void *arg)
{
    struct waiter *w = arg;
    /* POSIX: the mutex is re-acquired before the first cleanup handler
     * runs. With an error-checking mutex, unlock succeeds only for the
     * owner. */
    atomic_store(&w->handler_rc, pthread_mutex_unlock(&m));
    atomic_store(&w->handler_ran, 1);
}

static void *cond_waiter(void *arg)
{
    struct waiter *w = arg;
    int r = pthread_mutex_lock(&m);
    if (r != 0) {
        atomic_store(&w->rc, r);
        atomic_store(&w->returned, 1);
        return NULL;
    }
    pthread_cleanup_push(cond_cleanup, w);
    atomic_store(&w->inside, 1);
    for (;;) { /* never signalled during the loops: only cancellation ends it */
        struct timespec ts;
        switch (w->kind) {
        case K_COND_TIMEDWAIT:
            ts = harm_deadline(CLOCK_REALTIME, 600 * (int64_t)1000000000);
            r = pthread_cond_timedwait(&c, &m, &ts);
            break;
        case K_COND_CLOCKWAIT:
            ts = harm_deadline(CLOCK_MONOTONIC, 600 * (int64_t)1000000000);
            r = pthread_cond_clockwait(&c, &m, CLOCK_MONOTONIC, &ts);
            break;
        default:
            r = pthread_cond_wait(&c, &m);
            break;
        }
        if (r != 0)
            break;
    }
    atomic_store(&w->rc, r);
    atomic_store(&w->returned, 1);
    pthread_cleanup_pop(1);
    return NULL;
}

static void flag_cleanup(void *arg)
{
    struct waiter *w = arg;
    atomic_store(&w->acquired_seen_by_handler, atomic_load(&w->acquired));
    atomic_store(&w->handler_ran, 1);
}

/* ---- Joins ------------------------------------------------------------------ */

static sem_t gate; /* what the join target waits for */

static void *join_target(void *arg)
{
    (void)arg;
    while (sem_wait(&gate) != 0)
        if (errno != EINTR)
            return (void *)1;
    return (void *)0x5eed;
}

static void *joiner(void *arg)
{
    struct waiter *w = arg;
    atomic_store(&w->tid, harm_gettid());
    void *ret = NULL;
    int r;
    pthread_cleanup_push(flag_cleanup, w);
    atomic_store(&w->about_to_block, 1);
    if (w->kind == K_JOIN) {
        r = pthread_join(w->target, &ret);
    } else {
        do {
            struct timespec ts = harm_deadline(CLOCK_REALTIME, 600 * (int64_t)1000000000);
            r = pthread_timedjoin_np(w->target, &ret, &ts);
        } while (r == ETIMEDOUT);
    }
    atomic_store(&w->rc, r);
    atomic_store(&w->returned, 1);
    pthread_cleanup_pop(0);
    return NULL;
}

/* ---- Semaphores ------------------------------------------------------------- */

static void *sem_waiter(void *arg)
{
    struct waiter *w = arg;
    atomic_store(&w->tid, harm_gettid());
    int r;
    pthread_cleanup_push(flag_cleanup, w);
    atomic_store(&w->about_to_block, 1);
    for (;;) {
        if (w->kind == K_SEM_WAIT) {
            r = sem_wait(&s);
        } else {
            struct timespec ts = harm_deadline(CLOCK_REALTIME, 600 * (int64_t)1000000000);
            r = sem_timedwait(&s, &ts);
        }
        if (r == 0 || (errno != EINTR && errno != ETIMEDOUT))
            break;
    }
    atomic_store(&w->rc, r == 0 ? 0 : errno);
    atomic_store(&w->returned, 1);
    pthread_cleanup_pop(0);
    return NULL;
}

/* ---- Locks: asynchronous cancel, and deferred cancel (no cancellation point) -- */

static void *async_locker(void *arg)
{
    struct waiter *w = arg;
    atomic_store(&w->tid, harm_gettid());
    int old, r;
    pthread_cleanup_push(flag_cleanup, w);
    pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old);
    atomic_store(&w->about_to_block, 1);
    r = pthread_mutex_lock(&am);
    pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, &old);
    atomic_store(&w->rc, r);
    atomic_store(&w->returned, 1);
    if (r == 0) {
        atomic_store(&w->acquired, 1);
        pthread_mutex_unlock(&am);
    }
    pthread_cleanup_pop(0);
    return NULL;
}

static void *deferred_locker(void *arg)
{
    struct waiter *w = arg;
    atomic_store(&w->tid, harm_gettid());
    int r;
    pthread_cleanup_push(flag_cleanup, w);
    atomic_store(&w->about_to_block, 1);
    struct timespec ts = harm_deadline(CLOCK_REALTIME, 600 * (int64_t)1000000000);
    switch (w->kind) {
    case K_MUTEX_TIMEDLOCK:
        r = pthread_mutex_timedlock(&nm, &ts);
        break;
    case K_RWLOCK_TIMEDWRLOCK:
        r = pthread_rwlock_timedwrlock(&rw, &ts);
        break;
    default:
        r = pthread_rwlock_rdlock(&rw);
        break;
    }
    atomic_store(&w->rc, r);
    atomic_store(&w->returned, 1);
    if (r == 0) {
        atomic_store(&w->acquired, 1);
        if (w->kind == K_MUTEX_TIMEDLOCK)
            pthread_mutex_unlock(&nm);
        else
            pthread_rwlock_unlock(&rw);
    }
    atomic_store(&w->before_testcancel, 1);
    pthread_testcancel(); /* the pending cancel acts here */
    atomic_store(&w->after_testcancel, 1);
    pthread_cleanup_pop(0);
    return NULL;
}

/* ---- One iteration per kind --------------------------------------------------- */

static void create(pthread_t *t, void *(*fn)(void *), void *arg, const char *what)
{
    int r = pthread_create(t, NULL, fn, arg);
    if (r != 0)
        die("%s: pthread_create: %s", what, strerror(r));
}

/* Waits until w's thread is about to block and sleeps in the kernel. */
static void wait_blocked(struct waiter *w, const char *what)
{
    int64_t end = harm_now_ns(CLOCK_MONOTONIC) + 5 * (int64_t)1000000000;
    while (!atomic_load(&w->about_to_block) || atomic_load(&w->tid) == 0) {
        if (harm_now_ns(CLOCK_MONOTONIC) > end)
            die("%s, iteration %ld: the thread never reached its call", what, iteration);
        sched_yield();
    }
    if (!harm_wait_sleeping(atomic_load(&w->tid), 5000))
        die("%s, iteration %ld: the thread never blocked (5 s)", what, iteration);
}

static void join_cancelled(pthread_t t, struct waiter *w, const char *what)
{
    void *ret = NULL;
    int r = pthread_join(t, &ret);
    if (r != 0)
        die("%s, iteration %ld: pthread_join of the cancelled thread: %s", what, iteration,
            strerror(r));
    if (ret != PTHREAD_CANCELED)
        die("%s, iteration %ld: the thread was not cancelled (retval %p; its call returned %d, "
            "rc %d)", what, iteration, ret, w->returned, w->rc);
    if (!atomic_load(&w->handler_ran))
        die("%s, iteration %ld: the cleanup handler did not run", what, iteration);
}

static void one_cond(enum kind k, long i)
{
    const char *what = kind_name[k];
    struct waiter w = { .kind = k };
    current = &w;
    pthread_t t;
    create(&t, cond_waiter, &w, what);
    /* The waiter sets inside under m and releases m only inside the wait:
     * holding m and seeing inside means it is waiting. */
    int64_t end = harm_now_ns(CLOCK_MONOTONIC) + 5 * (int64_t)1000000000;
    for (;;) {
        int r = pthread_mutex_lock(&m);
        if (r != 0)
            die("%s, iteration %ld: pthread_mutex_lock: %s", what, i, strerror(r));
        if (atomic_load(&w.inside))
            break;
        if (atomic_load(&w.returned))
            die("%s, iteration %ld: the waiter could not lock its mutex: %s", what, i,
                strerror(w.rc));
        pthread_mutex_unlock(&m);
        if (harm_now_ns(CLOCK_MONOTONIC) > end)
            die("%s, iteration %ld: the waiter never started waiting", what, i);
        sched_yield();
    }
    int r;
    if (i % 2 == 0) { /* cancelled while the mutex is held: it waits for it */
        if ((r = pthread_cancel(t)) != 0)
            die("%s: pthread_cancel: %s", what, strerror(r));
        if ((r = pthread_mutex_unlock(&m)) != 0)
            die("%s: pthread_mutex_unlock: %s", what, strerror(r));
    } else {
        if ((r = pthread_mutex_unlock(&m)) != 0)
            die("%s: pthread_mutex_unlock: %s", what, strerror(r));
        if ((r = pthread_cancel(t)) != 0)
            die("%s: pthread_cancel: %s", what, strerror(r));
    }
    join_cancelled(t, &w, what);
    if (w.handler_rc != 0)
        die("%s, iteration %ld: the cleanup handler did not hold the mutex "
            "(pthread_mutex_unlock in it: %s)", what, i, strerror(w.handler_rc));
    if ((r = pthread_mutex_trylock(&m)) != 0)
        die("%s, iteration %ld: the mutex is not free after the cancel: trylock %s", what, i,
            strerror(r));
    pthread_mutex_unlock(&m);
    current = NULL;
}

static void one_join(enum kind k, long i)
{
    const char *what = kind_name[k];
    struct waiter w = { .kind = k };
    current = &w;
    pthread_t t;
    create(&w.target, join_target, NULL, what);
    create(&t, joiner, &w, what);
    wait_blocked(&w, what);
    int r = pthread_cancel(t);
    if (r != 0)
        die("%s: pthread_cancel: %s", what, strerror(r));
    join_cancelled(t, &w, what);
    /* POSIX: a cancelled joiner leaves its target joinable. */
    sem_post(&gate);
    void *ret = NULL;
    r = pthread_join(w.target, &ret);
    if (r != 0 || ret != (void *)0x5eed)
        die("%s, iteration %ld: the target could not be joined after its joiner was cancelled "
            "(%s, retval %p)", what, i, strerror(r), ret);
    current = NULL;
}

static void one_sem(enum kind k, long i)
{
    const char *what = kind_name[k];
    struct waiter w = { .kind = k };
    current = &w;
    pthread_t t;
    create(&t, sem_waiter, &w, what);
    wait_blocked(&w, what);
    int r = pthread_cancel(t);
    if (r != 0)
        die("%s: pthread_cancel: %s", what, strerror(r));
    join_cancelled(t, &w, what);
    int v = -1;
    sem_getvalue(&s, &v);
    if (v != 0)
        die("%s, iteration %ld: the semaphore's value is %d after the cancel, not 0", what, i, v);
    current = NULL;
}

static void one_async(long i)
{
    const char *what = kind_name[K_ASYNC_MUTEX_LOCK];
    struct waiter w = { .kind = K_ASYNC_MUTEX_LOCK };
    current = &w;
    int r = pthread_mutex_lock(&am);
    if (r != 0)
        die("%s: pthread_mutex_lock: %s", what, strerror(r));
    pthread_t t;
    create(&t, async_locker, &w, what);
    wait_blocked(&w, what);
    if ((r = pthread_cancel(t)) != 0)
        die("%s: pthread_cancel: %s", what, strerror(r));
    join_cancelled(t, &w, what);
    if (w.acquired)
        die("%s, iteration %ld: the thread acquired a mutex main holds", what, i);
    if ((r = pthread_mutex_unlock(&am)) != 0)
        die("%s, iteration %ld: pthread_mutex_unlock: %s", what, i, strerror(r));
    if ((r = pthread_mutex_trylock(&am)) != 0)
        die("%s, iteration %ld: the mutex is not free after the cancel: trylock %s", what, i,
            strerror(r));
    pthread_mutex_unlock(&am);
    current = NULL;
}

static void one_deferred(enum kind k, long i)
{
    const char *what = kind_name[k];
    struct waiter w = { .kind = k };
    current = &w;
    int r = k == K_MUTEX_TIMEDLOCK ? pthread_mutex_lock(&nm) : pthread_rwlock_wrlock(&rw);
    if (r != 0)
        die("%s: taking the lock: %s", what, strerror(r));
    pthread_t t;
    create(&t, deferred_locker, &w, what);
    wait_blocked(&w, what);
    if ((r = pthread_cancel(t)) != 0)
        die("%s: pthread_cancel: %s", what, strerror(r));
    /* Not a cancellation point: the cancel stays pending while it blocks. */
    harm_sleep_us(i % 16 == 0 ? 1000 : 50);
    if (atomic_load(&w.handler_ran) || pthread_tryjoin_np(t, NULL) != EBUSY)
        die("%s, iteration %ld: the thread was cancelled while blocked in the lock", what, i);
    if (atomic_load(&w.returned))
        die("%s, iteration %ld: the lock call returned %d while main held the lock", what, i,
            w.rc);
    r = k == K_MUTEX_TIMEDLOCK ? pthread_mutex_unlock(&nm) : pthread_rwlock_unlock(&rw);
    if (r != 0)
        die("%s: releasing the lock: %s", what, strerror(r));
    join_cancelled(t, &w, what);
    if (w.rc != 0 || !w.acquired_seen_by_handler || !w.before_testcancel)
        die("%s, iteration %ld: cancelled before it acquired and reached pthread_testcancel "
            "(lock call returned=%d rc=%d, acquired=%d)", what, i, w.returned, w.rc,
            w.acquired_seen_by_handler);
    if (w.after_testcancel)
        die("%s, iteration %ld: pthread_testcancel did not act on the pending cancel", what, i);
    r = k == K_MUTEX_TIMEDLOCK ? pthread_mutex_trylock(&nm) : pthread_rwlock_trywrlock(&rw);
    if (r != 0)
        die("%s, iteration %ld: the lock is not free after the cancel: %s", what, i, strerror(r));
    if (k == K_MUTEX_TIMEDLOCK)
        pthread_mutex_unlock(&nm);
    else
        pthread_rwlock_unlock(&rw);
    current = NULL;
}

/* ---- Afterwards: the same objects still work ------------------------------------- */

static atomic_int handoff_flag;
static atomic_int handoff_stage;

static void *handoff_thread(void *arg)
{
    (void)arg;
    int r = pthread_mutex_lock(&m);
    if (r != 0)
        die("after the loops: pthread_mutex_lock: %s", strerror(r));
    atomic_store(&handoff_stage, 1);
    while (!atomic_load(&handoff_flag)) {
        struct timespec ts = harm_deadline(CLOCK_MONOTONIC, 5 * (int64_t)1000000000);
        r = pthread_cond_clockwait(&c, &m, CLOCK_MONOTONIC, &ts);
        if (r == ETIMEDOUT)
            die("after the loops: pthread_cond_signal did not wake the waiter (5 s)");
        if (r != 0)
            die("after the loops: pthread_cond_clockwait: %s", strerror(r));
    }
    if ((r = pthread_mutex_unlock(&m)) != 0)
        die("after the loops: the woken waiter does not own the mutex: %s", strerror(r));
    sem_post(&s);
    return (void *)0x600d;
}

static void objects_still_work(void)
{
    harm_step("the same objects, used normally after the loops", 20);
    pthread_t t;
    create(&t, handoff_thread, NULL, "hand-off");
    for (;;) { /* wait until it waits */
        pthread_mutex_lock(&m);
        if (atomic_load(&handoff_stage) == 1)
            break;
        pthread_mutex_unlock(&m);
        sched_yield();
    }
    atomic_store(&handoff_flag, 1);
    int r = pthread_cond_signal(&c);
    if (r != 0)
        die("after the loops: pthread_cond_signal: %s", strerror(r));
    pthread_mutex_unlock(&m);
    struct timespec ts = harm_deadline(CLOCK_REALTIME, 5 * (int64_t)1000000000);
    while ((r = sem_timedwait(&s, &ts)) != 0 && errno == EINTR)
        ;
    if (r != 0)
        die("after the loops: sem_timedwait: %s", strerror(errno));
    void *ret;
    if ((r = pthread_join(t, &ret)) != 0 || ret != (void *)0x600d)
        die("after the loops: pthread_join: %s, retval %p", strerror(r), ret);
    /* Every lock is free and works. */
    struct timespec d = harm_deadline(CLOCK_REALTIME, 1000000000);
    if ((r = pthread_mutex_timedlock(&nm, &d)) != 0 || (r = pthread_mutex_unlock(&nm)) != 0)
        die("after the loops: the timedlock mutex: %s", strerror(r));
    if ((r = pthread_mutex_lock(&am)) != 0 || (r = pthread_mutex_unlock(&am)) != 0)
        die("after the loops: the async-cancel mutex: %s", strerror(r));
    if ((r = pthread_rwlock_rdlock(&rw)) != 0 || (r = pthread_rwlock_unlock(&rw)) != 0 ||
        (r = pthread_rwlock_wrlock(&rw)) != 0 || (r = pthread_rwlock_unlock(&rw)) != 0)
        die("after the loops: the rwlock: %s", strerror(r));
    if ((r = pthread_mutex_lock(&m)) != 0 || (r = pthread_mutex_unlock(&m)) != 0)
        die("after the loops: the error-checking mutex: %s", strerror(r));
    int v = -1;
    sem_getvalue(&s, &v);
    if (v != 0)
        die("after the loops: the semaphore's value is %d, not 0", v);
}

int main(void)
{
    harm_init("harm_cancel");
    harm_on_hang = on_hang;
    long n = harm_loops(1000);

    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
    if (pthread_mutex_init(&m, &ma) != 0)
        die("pthread_mutex_init");
    pthread_mutexattr_destroy(&ma);
    if (sem_init(&s, 0, 0) != 0 || sem_init(&gate, 0, 0) != 0)
        die("sem_init: %s", strerror(errno));

    /* ThreadSanitizer cannot follow a cancelled pthread_join (its join
     * interceptor leaves "ignores" enabled and then reports the thread):
     * tests/harm/CMakeLists.txt sets HARM_TSAN=1 in that build. */
    int tsan = getenv("HARM_TSAN") != NULL;
    for (int k = 0; k < K_COUNT; k++) {
        /* The cancellation points HARM_LOOPS times each; the lock calls,
         * which sleep a little per iteration, a quarter of that. */
        long loops = k >= K_ASYNC_MUTEX_LOCK ? (n + 3) / 4 : n;
        if (tsan && (k == K_JOIN || k == K_TIMEDJOIN)) {
            printf("%s: not under ThreadSanitizer\n", kind_name[k]);
            continue;
        }
        harm_step(kind_name[k], 30);
        int64_t t0 = harm_now_ns(CLOCK_MONOTONIC);
        for (long i = 0; i < loops; i++) {
            iteration = i;
            switch (k) {
            case K_COND_WAIT:
            case K_COND_TIMEDWAIT:
            case K_COND_CLOCKWAIT:
                one_cond((enum kind)k, i);
                break;
            case K_JOIN:
            case K_TIMEDJOIN:
                one_join((enum kind)k, i);
                break;
            case K_SEM_WAIT:
            case K_SEM_TIMEDWAIT:
                one_sem((enum kind)k, i);
                break;
            case K_ASYNC_MUTEX_LOCK:
                one_async(i);
                break;
            default:
                one_deferred((enum kind)k, i);
                break;
            }
        }
        printf("%s: %ld cancels in %.2f s\n", kind_name[k], loops,
               (double)(harm_now_ns(CLOCK_MONOTONIC) - t0) / 1e9);
    }
    objects_still_work();
    harm_check_dump_and_profile();
    harm_watchdog_off();
    printf("ok\n");
    return 0;
}
