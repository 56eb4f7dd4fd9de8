/*
 * hold_marks.c - every mutex kind, contended, while the hold profile times
 * holds (run with SYNCPROF_HOLD_RATE=1: every hold is timed).
 *
 * A timed hold changes glibc's lock word of its mutex from 1 to 3 until
 * just before its unlock (pthread_wrappers.c, TIMED_HOLD_WORD), which a
 * waiter may race. For normal, recursive, error-checking, adaptive, robust
 * and priority-inheritance mutexes, 4 threads each:
 *   - increment a counter under the mutex (the total must be exact);
 *   - relock it with trylock while holding it (EBUSY, or 0 for a
 *     recursive one, EDEADLK from lock for an error-checking one);
 *   - hand a token round a ring with one condition variable (a lost
 *     wake-up hangs, and the watchdog names the step).
 * Afterwards every lock word reads 0 (no mark is left behind), an
 * error-checking mutex held by another thread still refuses an unlock
 * with EPERM, and a mutex destroyed and re-initialised works.
 */
#include "harm.h"

#define THREADS 4

enum { K_NORMAL, K_RECURSIVE, K_ERRORCHECK, K_ADAPTIVE, K_ROBUST, K_PI, K_COUNT };
static const char *const kind_name[K_COUNT] = { "normal", "recursive", "error-checking",
                                                "adaptive", "robust", "priority-inheritance" };

static pthread_mutex_t mx;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int kind;
static long loops;
static long counter; /* under mx */
static int turn;     /* under mx */
static long passes;  /* under mx */

static void init_mutex(int k)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    switch (k) {
    case K_RECURSIVE:
        pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
        break;
    case K_ERRORCHECK:
        pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
        break;
    case K_ADAPTIVE:
        pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
        break;
    case K_ROBUST:
        pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
        break;
    case K_PI:
        pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT);
        break;
    }
    int r = pthread_mutex_init(&mx, &a);
    if (r != 0)
        die("%s: pthread_mutex_init: %s", kind_name[k], strerror(r));
    pthread_mutexattr_destroy(&a);
}

static void lock(void)
{
    int r = pthread_mutex_lock(&mx);
    if (r != 0)
        die("%s: pthread_mutex_lock returned %d", kind_name[kind], r);
}

static void unlock(void)
{
    int r = pthread_mutex_unlock(&mx);
    if (r != 0)
        die("%s: pthread_mutex_unlock returned %d", kind_name[kind], r);
}

/* The owner tries to take its mutex again: what each kind answers. */
static void relock(void)
{
    int r = pthread_mutex_trylock(&mx);
    if (kind == K_RECURSIVE) {
        if (r != 0)
            die("recursive: trylock by the owner returned %d, not 0", r);
        unlock();
        return;
    }
    if (r != EBUSY)
        die("%s: trylock by the owner returned %d, not EBUSY", kind_name[kind], r);
    if (kind == K_ERRORCHECK && (r = pthread_mutex_lock(&mx)) != EDEADLK)
        die("error-checking: lock by the owner returned %d, not EDEADLK", r);
}

static void *worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    for (long i = 0; i < loops; i++) {
        lock();
        counter++;
        if (i % 16 == 0)
            relock();
        unlock();
    }
    /* The token ring: each thread waits for its turn loops / 8 times. */
    for (long i = 0; i < loops / 8; i++) {
        lock();
        while (turn != me) {
            int r = pthread_cond_wait(&cv, &mx);
            if (r != 0)
                die("%s: pthread_cond_wait returned %d", kind_name[kind], r);
        }
        turn = (turn + 1) % THREADS;
        passes++;
        pthread_cond_broadcast(&cv);
        unlock();
    }
    return NULL;
}

static void *unlock_foreign(void *arg)
{
    (void)arg;
    int r = pthread_mutex_unlock(&mx);
    return (void *)(intptr_t)r;
}

/* The lock word of an unlocked mutex: 0, mark or no mark. */
static int lock_word(void)
{
#ifdef __GLIBC__
    return mx.__data.__lock;
#else
    return 0;
#endif
}

int main(void)
{
    harm_init("harm_hold_marks");
    loops = harm_loops(20000);
    for (kind = 0; kind < K_COUNT; kind++) {
        harm_step(kind_name[kind], 60);
        init_mutex(kind);
        counter = passes = 0;
        turn = 0;
        pthread_t th[THREADS];
        for (int i = 0; i < THREADS; i++)
            if (pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i) != 0)
                die("pthread_create");
        for (int i = 0; i < THREADS; i++)
            pthread_join(th[i], NULL);
        if (counter != THREADS * loops)
            die("%s: counter %ld, expected %ld", kind_name[kind], counter, THREADS * loops);
        if (passes != THREADS * (loops / 8))
            die("%s: token passed %ld times, expected %ld", kind_name[kind], passes,
                THREADS * (loops / 8));
        if (lock_word() != 0)
            die("%s: lock word %d after the last unlock, not 0", kind_name[kind], lock_word());

        /* ThreadSanitizer reports the foreign unlock itself (HARM_TSAN). */
        if (kind == K_ERRORCHECK && !getenv("HARM_TSAN")) {
            lock();
            pthread_t t;
            void *r;
            pthread_create(&t, NULL, unlock_foreign, NULL);
            pthread_join(t, &r);
            if ((intptr_t)r != EPERM)
                die("error-checking: unlock by another thread returned %d, not EPERM",
                    (int)(intptr_t)r);
            unlock();
        }
        if (pthread_mutex_destroy(&mx) != 0)
            die("%s: pthread_mutex_destroy", kind_name[kind]);
        init_mutex(kind);
        lock();
        unlock();
        if (pthread_mutex_destroy(&mx) != 0)
            die("%s: pthread_mutex_destroy after re-init", kind_name[kind]);
        printf("%s: %ld increments, %ld hand-offs\n", kind_name[kind], counter, passes);
    }
    harm_check_dump_and_profile();
    harm_watchdog_off();
    printf("ok\n");
    return 0;
}
