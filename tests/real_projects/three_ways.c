/* three_ways.c - one contended lock, the same number of times in every run:
 * ROUNDS times, main holds table_lock while a new thread blocks on it, and
 * releases it (release_table) once the waiter is asleep in the kernel.
 * Built with the forced include (against libsyncprof or the whole-program
 * libsyncprof-interpose) or plain (run under `syncprof run`), its mutex
 * profile has ROUNDS contentions, all charged to release_table. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 10

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int releases;

static void *waiter(void *arg)
{
    pthread_mutex_lock(&table_lock);
    pthread_mutex_unlock(&table_lock);
    return arg;
}

/* Not ending in the unlock: a plain build would make it a tail call, and
 * this frame would be missing under `syncprof run` (the header prevents
 * that in its own builds). */
__attribute__((noinline)) static void release_table(void)
{
    pthread_mutex_unlock(&table_lock);
    releases++;
}

int main(void)
{
    for (int i = 0; i < ROUNDS; i++) {
        pthread_t t;
        pthread_mutex_lock(&table_lock);
        pthread_create(&t, NULL, waiter, NULL);
        /* glibc's lock word becomes 2 when a waiter is about to sleep; then
         * give it time to get there. */
        while (__atomic_load_n(&table_lock.__data.__lock, __ATOMIC_RELAXED) != 2)
            usleep(100);
        usleep(5000);
        release_table();
        pthread_join(t, NULL);
    }
    puts("rounds done");
    return 0;
}
