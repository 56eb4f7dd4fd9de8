/* uncontended.c - the cost of an uncontended mutex lock+unlock pair and of
 * an uncontended rwlock read lock+unlock pair in the program's own code,
 * for bench_ways.sh: best of 7 runs of 5 million pairs, in ns per pair.
 * A second thread sleeps meanwhile: a program that locks has threads, and
 * glibc's locks take shortcuts while a process has only one (under
 * `syncprof run` it never has: the interposer starts a helper thread). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define PAIRS 5000000

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static void *idle(void *arg)
{
    pause();
    return arg;
}

int main(void)
{
    pthread_t t;
    pthread_create(&t, NULL, idle, NULL);
    static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
    double best_m = 1e30, best_rw = 1e30;
    for (int run = 0; run < 7; run++) {
        double t0 = now();
        for (int i = 0; i < PAIRS; i++) {
            pthread_mutex_lock(&m);
            __asm__ volatile("" ::: "memory");
            pthread_mutex_unlock(&m);
        }
        double t1 = now();
        for (int i = 0; i < PAIRS; i++) {
            pthread_rwlock_rdlock(&rw);
            __asm__ volatile("" ::: "memory");
            pthread_rwlock_unlock(&rw);
        }
        double t2 = now();
        if ((t1 - t0) / PAIRS < best_m)
            best_m = (t1 - t0) / PAIRS;
        if ((t2 - t1) / PAIRS < best_rw)
            best_rw = (t2 - t1) / PAIRS;
    }
    printf("mutex %.1f ns  rwlock-read %.1f ns\n", best_m, best_rw);
    return 0;
}
