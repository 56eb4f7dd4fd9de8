/*
 * pending_cancel.c - a thread with a cancel pending is never cancelled in a
 * call that is not a cancellation point.
 *
 * Each of 20 threads disables cancellation, waits until main has called
 * pthread_cancel on it, and enables cancellation again (deferred: that does
 * not act on the pending cancel). With the cancel pending it then calls
 * functions that are not cancellation points, each blocking:
 * pthread_barrier_wait (a barrier of 21 with main), pthread_mutex_lock of a
 * mutex main holds for a few ms, pthread_rwlock_wrlock of an rwlock main
 * holds for reading for a few ms, pthread_mutex_unlock, sem_post. Only the
 * pthread_testcancel that follows may act on the cancel. All 20 threads
 * must record every step before it (20 of 20), in each of several rounds.
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

#include "harm.h"

#define THREADS 20

enum stage { S_STARTED, S_BARRIER, S_MUTEX, S_RWLOCK, S_SEM_POST, S_BEFORE_TESTCANCEL,
             S_AFTER_TESTCANCEL, S_COUNT };
static const char *const stage_name[S_COUNT] = {
    "before pthread_barrier_wait", "in or after pthread_barrier_wait",
    "in or after pthread_mutex_lock", "in or after pthread_rwlock_wrlock",
    "in or after sem_post", "before pthread_testcancel", "after pthread_testcancel",
};

static pthread_barrier_t barrier;
static pthread_mutex_t mx = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static sem_t done;

struct slot {
    int index;
    atomic_int ready;      /* cancellation disabled, waiting for the cancel */
    atomic_int cancelled;  /* main called pthread_cancel */
    atomic_int stage;      /* last stage reached */
    atomic_int cancelled_at; /* the stage the cleanup handler saw, -1 if none */
};

static struct slot slots[THREADS];
static int round_no;

static void on_hang(char *buf, size_t len)
{
    int at[S_COUNT] = { 0 };
    for (int i = 0; i < THREADS; i++)
        at[atomic_load(&slots[i].stage)]++;
    snprintf(buf, len, "round %d, threads per last stage: started %d, barrier %d, mutex %d, "
             "rwlock %d, sem_post %d, before testcancel %d, after %d", round_no, at[0], at[1],
             at[2], at[3], at[4], at[5], at[6]);
}

static void cleanup(void *arg)
{
    struct slot *s = arg;
    atomic_store(&s->cancelled_at, atomic_load(&s->stage));
}

static void *worker(void *arg)
{
    struct slot *s = arg;
    int r;
    pthread_cleanup_push(cleanup, s);
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    atomic_store(&s->ready, 1);
    while (!atomic_load(&s->cancelled))
        sched_yield();
    /* Deferred and enabled again: the cancel stays pending until a
     * cancellation point. */
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);

    atomic_store(&s->stage, S_BARRIER);
    r = pthread_barrier_wait(&barrier);
    if (r != 0 && r != PTHREAD_BARRIER_SERIAL_THREAD)
        die("thread %d: pthread_barrier_wait: %s", s->index, strerror(r));
    atomic_store(&s->stage, S_MUTEX);
    if ((r = pthread_mutex_lock(&mx)) != 0)
        die("thread %d: pthread_mutex_lock: %s", s->index, strerror(r));
    if ((r = pthread_mutex_unlock(&mx)) != 0)
        die("thread %d: pthread_mutex_unlock: %s", s->index, strerror(r));
    atomic_store(&s->stage, S_RWLOCK);
    if ((r = pthread_rwlock_wrlock(&rw)) != 0)
        die("thread %d: pthread_rwlock_wrlock: %s", s->index, strerror(r));
    if ((r = pthread_rwlock_unlock(&rw)) != 0)
        die("thread %d: pthread_rwlock_unlock: %s", s->index, strerror(r));
    atomic_store(&s->stage, S_SEM_POST);
    if (sem_post(&done) != 0)
        die("thread %d: sem_post: %s", s->index, strerror(errno));
    atomic_store(&s->stage, S_BEFORE_TESTCANCEL);
    pthread_testcancel();
    atomic_store(&s->stage, S_AFTER_TESTCANCEL);
    pthread_cleanup_pop(0);
    return NULL;
}

static void one_round(void)
{
    pthread_t t[THREADS];
    int r;
    harm_step("starting the threads", 20);
    if ((r = pthread_barrier_init(&barrier, NULL, THREADS + 1)) != 0)
        die("pthread_barrier_init: %s", strerror(r));
    for (int i = 0; i < THREADS; i++) {
        slots[i] = (struct slot){ .index = i, .cancelled_at = -1 };
        if ((r = pthread_create(&t[i], NULL, worker, &slots[i])) != 0)
            die("pthread_create: %s", strerror(r));
    }
    for (int i = 0; i < THREADS; i++)
        while (!atomic_load(&slots[i].ready))
            sched_yield();
    /* Main holds the mutex and the rwlock (read): the threads block there. */
    if ((r = pthread_mutex_lock(&mx)) != 0)
        die("pthread_mutex_lock: %s", strerror(r));
    if ((r = pthread_rwlock_rdlock(&rw)) != 0)
        die("pthread_rwlock_rdlock: %s", strerror(r));
    for (int i = 0; i < THREADS; i++) {
        if ((r = pthread_cancel(t[i])) != 0)
            die("pthread_cancel: %s", strerror(r));
        atomic_store(&slots[i].cancelled, 1);
    }
    /* Main arrives at the barrier last, once the threads wait there. */
    harm_sleep_us(5000);
    harm_step("pthread_barrier_wait with pending cancels", 20);
    r = pthread_barrier_wait(&barrier);
    if (r != 0 && r != PTHREAD_BARRIER_SERIAL_THREAD)
        die("main: pthread_barrier_wait: %s", strerror(r));
    harm_step("pthread_mutex_lock with pending cancels", 20);
    harm_sleep_us(5000);
    pthread_mutex_unlock(&mx);
    harm_step("pthread_rwlock_wrlock with pending cancels", 20);
    harm_sleep_us(5000);
    pthread_rwlock_unlock(&rw);
    harm_step("joining the cancelled threads", 20);
    int passed = 0;
    for (int i = 0; i < THREADS; i++) {
        void *ret;
        if ((r = pthread_join(t[i], &ret)) != 0)
            die("pthread_join: %s", strerror(r));
        struct slot *s = &slots[i];
        if (ret != PTHREAD_CANCELED)
            die("round %d: thread %d was not cancelled (stage %s)", round_no, i,
                stage_name[s->stage]);
        if (s->cancelled_at == S_BEFORE_TESTCANCEL)
            passed++;
    }
    if (passed != THREADS) {
        int first = 0;
        while (slots[first].cancelled_at == S_BEFORE_TESTCANCEL)
            first++;
        die("round %d: %d of %d threads reached pthread_testcancel; thread %d was cancelled %s",
            round_no, passed, THREADS, first,
            slots[first].cancelled_at >= 0 ? stage_name[slots[first].cancelled_at]
                                           : "without its cleanup handler running");
    }
    for (int i = 0; i < THREADS; i++) {
        struct timespec ts = harm_deadline(CLOCK_REALTIME, 1000000000);
        if (sem_timedwait(&done, &ts) != 0)
            die("round %d: only %d sem_posts", round_no, i);
    }
    pthread_barrier_destroy(&barrier);
}

int main(void)
{
    harm_init("harm_pending_cancel");
    harm_on_hang = on_hang;
    if (sem_init(&done, 0, 0) != 0)
        die("sem_init: %s", strerror(errno));
    long rounds = harm_loops(1000) >= 1000 ? 10 : 3;
    for (round_no = 0; round_no < rounds; round_no++)
        one_round();
    /* The objects still work. */
    harm_step("the objects after the rounds", 20);
    int r;
    if ((r = pthread_mutex_lock(&mx)) != 0 || (r = pthread_mutex_unlock(&mx)) != 0 ||
        (r = pthread_rwlock_wrlock(&rw)) != 0 || (r = pthread_rwlock_unlock(&rw)) != 0)
        die("the locks after the rounds: %s", strerror(r));
    harm_check_dump_and_profile();
    printf("%ld rounds: %d of %d threads passed every non-cancellation point with a cancel "
           "pending\n", rounds, THREADS, THREADS);
    return 0;
}
