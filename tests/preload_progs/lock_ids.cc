// lock_ids.cc - locks born in known places, each contended once, for
// tests/test_lock_identity.c. It knows nothing of syncprof: built plain (run
// under `syncprof run`) and built again with <syncprof/pthread.h> forced in
// and libsyncprof linked (lock_ids_header). The lines marked BIRTH:<name>
// are the birth sites the test expects in each sample's "lock" label.
//
// Usage: lock_ids [N]: with N, also N short-lived locks, each initialised,
// contended and destroyed, then N more that are never destroyed.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void pause_ms(int ms)
{
    struct timespec t = { 0, ms * 1000000L };
    nanosleep(&t, nullptr);
}

extern "C" {

__attribute__((noinline)) void make_lock(pthread_mutex_t *m)
{
    if (pthread_mutex_init(m, nullptr) != 0) // BIRTH:helper
        abort();
}

static int arrived; // the waiter is about to wait (atomic)

// Waits until the other thread is about to block, then long enough for
// it to be asleep in the real call even on a loaded machine.
static void await_waiter(void)
{
    while (!__atomic_load_n(&arrived, __ATOMIC_ACQUIRE))
        pause_ms(1);
    __atomic_store_n(&arrived, 0, __ATOMIC_RELAXED);
    pause_ms(20);
}

static void *waiter_body(void *arg)
{
    pthread_mutex_t *m = static_cast<pthread_mutex_t *>(arg);
    __atomic_store_n(&arrived, 1, __ATOMIC_RELEASE);
    pthread_mutex_lock(m);
    pthread_mutex_unlock(m);
    return nullptr;
}

// Holds m while another thread waits for it: one block and one mutex event.
__attribute__((noinline)) void contend(pthread_mutex_t *m)
{
    pthread_t t;
    pthread_mutex_lock(m);
    if (pthread_create(&t, nullptr, waiter_body, m) != 0)
        abort();
    await_waiter();
    pthread_mutex_unlock(m);
    pthread_join(t, nullptr);
}

static void *reader_body(void *arg)
{
    pthread_rwlock_t *rw = static_cast<pthread_rwlock_t *>(arg);
    __atomic_store_n(&arrived, 1, __ATOMIC_RELEASE);
    pthread_rwlock_rdlock(rw);
    pthread_rwlock_unlock(rw);
    return nullptr;
}

__attribute__((noinline)) void contend_rwlock(pthread_rwlock_t *rw)
{
    pthread_t t;
    pthread_rwlock_wrlock(rw);
    if (pthread_create(&t, nullptr, reader_body, rw) != 0)
        abort();
    await_waiter();
    pthread_rwlock_unlock(rw);
    pthread_join(t, nullptr);
}

static pthread_mutex_t queue_mutex;
static pthread_cond_t queue_cond;
static int queued;

static void *consumer_body(void *)
{
    pthread_mutex_lock(&queue_mutex);
    __atomic_store_n(&arrived, 1, __ATOMIC_RELEASE);
    while (!queued)
        pthread_cond_wait(&queue_cond, &queue_mutex);
    pthread_mutex_unlock(&queue_mutex);
    return nullptr;
}

// The consumer waits on the condition, is signalled while the producer
// still holds the mutex for 20 ms, and then waits for the mutex.
__attribute__((noinline)) void producer(void)
{
    pthread_t t;
    if (pthread_create(&t, nullptr, consumer_body, nullptr) != 0)
        abort();
    await_waiter();
    pthread_mutex_lock(&queue_mutex);
    queued = 1;
    pthread_cond_signal(&queue_cond);
    pause_ms(20);
    pthread_mutex_unlock(&queue_mutex);
    pthread_join(t, nullptr);
}

} // extern "C"

struct Account {
    pthread_mutex_t m;
    long balance = 0;
    Account()
    {
        if (pthread_mutex_init(&m, nullptr) != 0) // BIRTH:account
            abort();
    }
    ~Account() { pthread_mutex_destroy(&m); }
};

static pthread_mutex_t static_mutex = PTHREAD_MUTEX_INITIALIZER;

int main(int argc, char **argv)
{
    static pthread_mutex_t a, b, c;
    make_lock(&a);
    make_lock(&b);
    make_lock(&c);
    pthread_rwlock_t rw;
    if (pthread_rwlock_init(&rw, nullptr) != 0) // BIRTH:rwlock
        abort();
    if (pthread_mutex_init(&queue_mutex, nullptr) != 0) // BIRTH:queue_mutex
        abort();
    if (pthread_cond_init(&queue_cond, nullptr) != 0) // BIRTH:queue_cond
        abort();
    Account *acct = new Account;

    contend(&a);
    contend(&b);
    contend(&c);
    contend(&static_mutex);
    contend(&acct->m);
    contend_rwlock(&rw);
    producer();

    long n = argc > 1 ? atol(argv[1]) : 0;
    for (long i = 0; i < n; i++) {
        pthread_mutex_t *m = static_cast<pthread_mutex_t *>(malloc(sizeof *m));
        pthread_mutex_init(m, nullptr);
        pthread_mutex_lock(m);
        pthread_mutex_unlock(m);
        pthread_mutex_destroy(m);
        free(m);
    }
    pthread_mutex_t *leaked = static_cast<pthread_mutex_t *>(calloc((size_t)n + 1, sizeof *leaked));
    for (long i = 0; i < n; i++)
        pthread_mutex_init(&leaked[i], nullptr);
    if (n > 0)
        contend(&leaked[n - 1]);
    free(leaked);

    delete acct;
    pthread_cond_destroy(&queue_cond);
    pthread_mutex_destroy(&queue_mutex);
    pthread_rwlock_destroy(&rw);
    printf("done\n");
    return 0;
}
