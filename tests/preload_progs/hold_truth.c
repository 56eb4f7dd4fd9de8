/*
 * hold_truth.c - a program that times its own critical sections, for
 * tests/test_hold_profile.c: four locks held 1 us, 30 us, 1 ms and 10 ms,
 * each in a function of its own (hold_1us ... hold_10ms, the unlocker's
 * frame in the hold profile), interleaved in one thread. It prints, per
 * function, the holds it made and their total length as it measured them
 * (from the lock's return to the unlock's call):
 *   hold_1us <count> <total ns>
 * Built plain (run under `syncprof run`) and with <syncprof/pthread.h>
 * forced in (hold_truth_header).
 *
 * Usage: hold_truth [scale]: scale (default 1) multiplies the counts.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

struct lock_truth {
    pthread_mutex_t m;
    long count;
    int64_t total;
};

static struct lock_truth l1us, l30us, l1ms, l10ms;

/* Holds t->m for about d ns: spinning below 100 us, sleeping above. */
static inline void hold_for(struct lock_truth *t, int64_t d)
{
    pthread_mutex_lock(&t->m);
    int64_t start = now_ns();
    if (d >= 100000) {
        struct timespec s = { 0, (long)d };
        nanosleep(&s, NULL);
    } else {
        while (now_ns() - start < d)
            ;
    }
    int64_t end = now_ns();
    pthread_mutex_unlock(&t->m);
    t->count++;
    t->total += end - start;
}

__attribute__((noinline)) void hold_1us(void) { hold_for(&l1us, 1000); }
__attribute__((noinline)) void hold_30us(void) { hold_for(&l30us, 30000); }
__attribute__((noinline)) void hold_1ms(void) { hold_for(&l1ms, 1000000); }
__attribute__((noinline)) void hold_10ms(void) { hold_for(&l10ms, 10000000); }

int main(int argc, char **argv)
{
    int scale = argc > 1 ? atoi(argv[1]) : 1;
    struct lock_truth *all[] = { &l1us, &l30us, &l1ms, &l10ms };
    for (int i = 0; i < 4; i++)
        pthread_mutex_init(&all[i]->m, NULL);
    for (int round = 0; round < 20 * scale; round++) {
        for (int i = 0; i < 10000; i++)
            hold_1us();
        for (int i = 0; i < 200; i++)
            hold_30us();
        for (int i = 0; i < 8; i++)
            hold_1ms();
        hold_10ms();
    }
    const char *names[] = { "hold_1us", "hold_30us", "hold_1ms", "hold_10ms" };
    for (int i = 0; i < 4; i++)
        printf("%s %ld %lld\n", names[i], all[i]->count, (long long)all[i]->total);
    return 0;
}
