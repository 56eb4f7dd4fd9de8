/*
 * unwind_contention.c - the locks of the stack unwinder and of the dynamic
 * loader are held, contended, while samples and dumps are taken.
 *
 * For a few seconds (4; 2 with HARM_LOOPS below 1000):
 *   - 16 threads make many short contended waits on 4 mutexes and a
 *     condition variable: at fraction 1 / rate 1 every one of them takes
 *     a stack (libunwind, dl_iterate_phdr);
 *   - a thread creates and joins short-lived threads (which contend too)
 *     without pause;
 *   - a thread dlopens and dlcloses a small library (libharm_dso.so) in a
 *     loop (the loader's locks, dl_iterate_phdr's list changing), calling
 *     into it each time with a callback that waits on a contended mutex,
 *     so samples have frames in a library that is then unloaded;
 *   - main asks for a thread dump every 10 ms (compiled in:
 *     syncprof_dump_threads; under `syncprof run --dump-signal QUIT`:
 *     SIGQUIT).
 * Pass: it finishes (no hang, no crash), the counts add up, exit 0.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>

#include "harm.h"

#ifndef HARM_DSO_PATH
#error HARM_DSO_PATH: the path of libharm_dso.so
#endif

#define WORKERS 16
#define LOCKS 4

static pthread_mutex_t locks[LOCKS] = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
                                        PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER };
static long counts[LOCKS]; /* counts[j] under locks[j] */
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static atomic_int stop;
static atomic_long worker_iters[WORKERS];
static atomic_int worker_done[WORKERS];
static atomic_long increments; /* every increment of counts, counted by its maker */
static atomic_long threads_made, dl_cycles, dumps;
static atomic_int creator_done, loader_done;

static void on_hang(char *buf, size_t len)
{
    int done = 0;
    long iters = 0;
    for (int i = 0; i < WORKERS; i++) {
        done += worker_done[i];
        iters += worker_iters[i];
    }
    snprintf(buf, len, "%d of %d workers done (%ld iterations), thread creator %s (%ld threads), "
             "dlopen loop %s (%ld cycles), %ld dumps", done, WORKERS, iters,
             creator_done ? "done" : "running", atomic_load(&threads_made),
             loader_done ? "done" : "running", atomic_load(&dl_cycles), atomic_load(&dumps));
}

static void spin(int n)
{
    for (volatile int i = 0; i < n; i++)
        ;
}

static void add(int j)
{
    pthread_mutex_lock(&locks[j]);
    counts[j]++;
    spin(200);
    pthread_mutex_unlock(&locks[j]);
    atomic_fetch_add(&increments, 1);
}

static void *worker(void *arg)
{
    long id = (long)arg;
    for (long i = 0; !atomic_load(&stop); i++) {
        add((int)((i + id) % LOCKS));
        if (i % 16 == 0) {
            /* A short timed wait on the condition variable. */
            pthread_mutex_lock(&locks[0]);
            struct timespec ts = harm_deadline(CLOCK_REALTIME, 50000);
            int r = pthread_cond_timedwait(&cv, &locks[0], &ts);
            if (r != 0 && r != ETIMEDOUT)
                die("pthread_cond_timedwait: %s", strerror(r));
            pthread_mutex_unlock(&locks[0]);
        } else if (i % 16 == 8) {
            pthread_mutex_lock(&locks[0]);
            pthread_cond_broadcast(&cv);
            pthread_mutex_unlock(&locks[0]);
        }
        atomic_fetch_add(&worker_iters[id], 1);
    }
    atomic_store(&worker_done[id], 1);
    return NULL;
}

static void *short_lived(void *arg)
{
    long id = (long)arg;
    for (int k = 0; k < 8; k++)
        add((int)((id + k) % LOCKS));
    return (void *)id;
}

static void *creator(void *arg)
{
    (void)arg;
    for (long n = 0; !atomic_load(&stop); n += 4) {
        pthread_t t[4];
        for (long k = 0; k < 4; k++) {
            int r = pthread_create(&t[k], NULL, short_lived, (void *)(n + k));
            if (r != 0)
                die("pthread_create (short-lived): %s", strerror(r));
        }
        for (long k = 0; k < 4; k++) {
            void *ret;
            int r = pthread_join(t[k], &ret);
            if (r != 0 || ret != (void *)(n + k))
                die("pthread_join (short-lived): %s", strerror(r));
        }
        atomic_fetch_add(&threads_made, 4);
    }
    atomic_store(&creator_done, 1);
    return NULL;
}

/* Called from inside libharm_dso.so: a contended wait whose stack runs
 * through the library. */
static int from_dso(int x)
{
    add(x % LOCKS);
    add((x + 1) % LOCKS);
    return x;
}

static void *loader(void *arg)
{
    (void)arg;
    for (int n = 0; !atomic_load(&stop); n++) {
        void *h = dlopen(HARM_DSO_PATH, RTLD_NOW | RTLD_LOCAL);
        if (!h)
            die("dlopen %s: %s", HARM_DSO_PATH, dlerror());
        int (*call)(int (*)(int), int);
        *(void **)&call = dlsym(h, "harm_dso_call");
        if (!call)
            die("dlsym harm_dso_call: %s", dlerror());
        if (call(from_dso, n) != n + 1)
            die("harm_dso_call returned a wrong value");
        if (dlclose(h) != 0)
            die("dlclose: %s", dlerror());
        atomic_fetch_add(&dl_cycles, 1);
    }
    atomic_store(&loader_done, 1);
    return NULL;
}

int main(void)
{
    harm_init("harm_unwind_contention");
    harm_on_hang = on_hang;
    int64_t run_ns = (harm_loops(1000) >= 1000 ? 4 : 2) * (int64_t)1000000000;
    harm_step("starting the threads", 30);
    pthread_t w[WORKERS], ct, lt;
    int r;
    for (long i = 0; i < WORKERS; i++)
        if ((r = pthread_create(&w[i], NULL, worker, (void *)i)) != 0)
            die("pthread_create: %s", strerror(r));
    if ((r = pthread_create(&ct, NULL, creator, NULL)) != 0 ||
        (r = pthread_create(&lt, NULL, loader, NULL)) != 0)
        die("pthread_create: %s", strerror(r));

    harm_step("running, with a dump every 10 ms", 20);
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    int64_t end = harm_now_ns(CLOCK_MONOTONIC) + run_ns;
    while (harm_now_ns(CLOCK_MONOTONIC) < end) {
        if (harm_dump_now(devnull))
            atomic_fetch_add(&dumps, 1);
        harm_sleep_us(10000);
    }
    atomic_store(&stop, 1);
    harm_step("joining the threads", 30);
    for (int i = 0; i < WORKERS; i++)
        if ((r = pthread_join(w[i], NULL)) != 0)
            die("pthread_join: %s", strerror(r));
    if ((r = pthread_join(ct, NULL)) != 0 || (r = pthread_join(lt, NULL)) != 0)
        die("pthread_join: %s", strerror(r));
    close(devnull);

    long total = 0;
    for (int j = 0; j < LOCKS; j++)
        total += counts[j];
    if (total != atomic_load(&increments))
        die("the counters under the mutexes add up to %ld, not %ld", total,
            atomic_load(&increments));
    for (int i = 0; i < WORKERS; i++)
        if (worker_iters[i] == 0)
            die("worker %d made no progress", i);
    if (threads_made == 0 || dl_cycles == 0)
        die("no thread created (%ld) or no dlopen cycle (%ld)", atomic_load(&threads_made),
            atomic_load(&dl_cycles));
    harm_check_dump_and_profile();
    long iters = 0;
    for (int i = 0; i < WORKERS; i++)
        iters += worker_iters[i];
    printf("%ld worker iterations, %ld short-lived threads, %ld dlopen/dlclose cycles, %ld dumps\n",
           iters, atomic_load(&threads_made), atomic_load(&dl_cycles), atomic_load(&dumps));
    return 0;
}
