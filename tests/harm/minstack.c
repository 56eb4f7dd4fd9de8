/*
 * minstack.c - 64 threads on the smallest stacks pthreads allow contend and
 * wait, and are dumped while they do.
 *
 * Each thread has a stack of PTHREAD_STACK_MIN bytes (16 KiB on x86-64
 * glibc; sysconf(_SC_THREAD_STACK_MIN) if that is larger), and does, round
 * after round: a contended mutex, a condition-variable gate all 64 meet
 * at, an rwlock (read, and write every 8th round), a semaphore of 4 slots
 * and a barrier of 64. Meanwhile main asks for thread dumps (compiled in:
 * syncprof_dump_threads; under `syncprof run --dump-signal QUIT`: SIGQUIT).
 * Pass: every pthread_create succeeds, every round completes, exit 0.
 */
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

#include "harm.h"

#define THREADS 64

static pthread_mutex_t mx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_barrier_t bar;
static sem_t slots;

static long counter;           /* under mx */
static int gate_arrived;       /* under mx */
static long gate_gen;          /* under mx */
static int keep_going = 1;     /* under mx: decided by the last one at each gate */
static long rw_value;          /* under rw */
static atomic_int in_slots;
static atomic_int dumps_done;  /* main has taken its dumps */
static atomic_long rounds_done;
static long min_rounds;

static void on_hang(char *buf, size_t len)
{
    snprintf(buf, len, "rounds done %ld, gate generation %ld, arrived %d, dumps done %d",
             atomic_load(&rounds_done), gate_gen, gate_arrived, atomic_load(&dumps_done));
}

/* All THREADS meet here; returns whether to do another round (the same
 * answer for every thread of a generation). */
static int gate(void)
{
    pthread_mutex_lock(&mx);
    long gen = gate_gen;
    int go;
    if (++gate_arrived == THREADS) {
        gate_arrived = 0;
        gate_gen++;
        keep_going = gate_gen < min_rounds || !atomic_load(&dumps_done);
        atomic_store(&rounds_done, gate_gen);
        pthread_cond_broadcast(&cv);
    } else {
        while (gate_gen == gen) {
            int r = pthread_cond_wait(&cv, &mx);
            if (r != 0)
                die("pthread_cond_wait: %s", strerror(r));
        }
    }
    go = keep_going;
    pthread_mutex_unlock(&mx);
    return go;
}

static void *worker(void *arg)
{
    long id = (long)arg;
    for (long round = 0;; round++) {
        for (int k = 0; k < 4; k++) {
            pthread_mutex_lock(&mx);
            counter++;
            pthread_mutex_unlock(&mx);
        }
        if ((round + id) % 8 == 0) {
            pthread_rwlock_wrlock(&rw);
            rw_value++;
            pthread_rwlock_unlock(&rw);
        } else {
            pthread_rwlock_rdlock(&rw);
            volatile long v = rw_value;
            (void)v;
            pthread_rwlock_unlock(&rw);
        }
        while (sem_wait(&slots) != 0)
            if (errno != EINTR)
                die("sem_wait: %s", strerror(errno));
        if (atomic_fetch_add(&in_slots, 1) >= 4)
            die("more than 4 holders of a semaphore of 4");
        atomic_fetch_sub(&in_slots, 1);
        sem_post(&slots);
        int r = pthread_barrier_wait(&bar);
        if (r != 0 && r != PTHREAD_BARRIER_SERIAL_THREAD)
            die("pthread_barrier_wait: %s", strerror(r));
        if (!gate())
            break;
    }
    return NULL;
}

int main(void)
{
    harm_init("harm_minstack");
    harm_on_hang = on_hang;
    min_rounds = harm_loops(1000) >= 1000 ? 300 : 50;
    long stack = PTHREAD_STACK_MIN;
    long sys = sysconf(_SC_THREAD_STACK_MIN);
    if (sys > stack)
        stack = sys;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    int r = pthread_attr_setstacksize(&attr, (size_t)stack);
    if (r != 0)
        die("pthread_attr_setstacksize(%ld): %s", stack, strerror(r));
    if ((r = pthread_barrier_init(&bar, NULL, THREADS)) != 0)
        die("pthread_barrier_init: %s", strerror(r));
    if (sem_init(&slots, 0, 4) != 0)
        die("sem_init: %s", strerror(errno));

    harm_step("creating 64 threads with minimal stacks", 30);
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        if ((r = pthread_create(&t[i], &attr, worker, (void *)i)) != 0)
            die("pthread_create of thread %ld with a %ld-byte stack: %s", i, stack, strerror(r));
    pthread_attr_destroy(&attr);

    /* Dumps while they run: at least 5, 20 ms apart. */
    harm_step("dumping the threads while they run", 30);
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    int asked = 0;
    for (int i = 0; i < 5; i++) {
        asked += harm_dump_now(devnull);
        harm_sleep_us(20000);
    }
    atomic_store(&dumps_done, 1);
    harm_step("joining the threads", 30);
    for (int i = 0; i < THREADS; i++)
        if ((r = pthread_join(t[i], NULL)) != 0)
            die("pthread_join: %s", strerror(r));
    close(devnull);
    long rounds = atomic_load(&rounds_done);
    if (counter != 4L * THREADS * rounds)
        die("counter %ld after %ld rounds, not %ld", counter, rounds, 4L * THREADS * rounds);
    harm_check_dump_and_profile();
    printf("%d threads with %ld-byte stacks: %ld rounds, %d dumps asked for\n", THREADS, stack,
           rounds, asked);
    return 0;
}
