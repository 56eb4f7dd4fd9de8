/*
 * libearly.c - a library whose constructor starts threads that lock,
 * unlock and signal at once, possibly before the interposer's own
 * constructor has run (ld.so runs this one first when the interposer is
 * preloaded after it). early_join waits for them.
 */
#include <pthread.h>

#define EARLY_THREADS 3
#define EARLY_ROUNDS 20000

static pthread_t threads[EARLY_THREADS];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long count;

static void *early_worker(void *arg)
{
    for (int i = 0; i < EARLY_ROUNDS; i++) {
        pthread_mutex_lock(&mu);
        count++;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
    }
    return arg;
}

__attribute__((constructor)) static void early_start(void)
{
    for (int i = 0; i < EARLY_THREADS; i++)
        pthread_create(&threads[i], 0, early_worker, 0);
}


void early_join(void)
{
    for (int i = 0; i < EARLY_THREADS; i++)
        pthread_join(threads[i], 0);
}
