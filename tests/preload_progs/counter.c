/*
 * counter.c - the contended counter workload in plain pthreads (no syncprof
 * header): T threads each add 1 to one counter N times under one mutex.
 * `counter T N`; prints the wall time and exits 0 if the total is right.
 * Used by tests and by tests/bench/bench_preload.sh.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static long per_thread;

__attribute__((noinline)) static void add_one(void)
{
    pthread_mutex_lock(&lock);
    counter++;
    pthread_mutex_unlock(&lock);
}

static void *worker(void *arg)
{
    for (long i = 0; i < per_thread; i++)
        add_one();
    return arg;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 4;
    per_thread = argc > 2 ? atol(argv[2]) : 1000000;
    if (threads < 1 || threads > 256 || per_thread < 0)
        return 2;
    pthread_t t[256];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("counter %ld in %.3f s\n", counter,
           (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
    return counter == threads * per_thread ? 0 : 1;
}
