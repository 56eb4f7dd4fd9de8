/*
 * old_cond.c - a program bound to glibc's old condition-variable functions
 * (pthread_cond_*@GLIBC_2.2.5, as a binary linked before glibc 2.3.2 is).
 * Under the interposer they must keep working: 2000 ping-pong round trips
 * between two threads, then exit 0.
 */
#include <pthread.h>
#include <stdio.h>

__asm__(".symver old_cond_init, pthread_cond_init@GLIBC_2.2.5");
__asm__(".symver old_cond_destroy, pthread_cond_destroy@GLIBC_2.2.5");
__asm__(".symver old_cond_wait, pthread_cond_wait@GLIBC_2.2.5");
__asm__(".symver old_cond_signal, pthread_cond_signal@GLIBC_2.2.5");
__asm__(".symver old_cond_broadcast, pthread_cond_broadcast@GLIBC_2.2.5");
extern int old_cond_init(pthread_cond_t *c, const pthread_condattr_t *a);
extern int old_cond_destroy(pthread_cond_t *c);
extern int old_cond_wait(pthread_cond_t *c, pthread_mutex_t *m);
extern int old_cond_signal(pthread_cond_t *c);
extern int old_cond_broadcast(pthread_cond_t *c);

#define ROUNDS 2000

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ping, pong;
static int turn; /* 0: main's turn, 1: the thread's */

static void *player(void *arg)
{
    for (int i = 0; i < ROUNDS; i++) {
        pthread_mutex_lock(&mu);
        while (turn != 1)
            old_cond_wait(&ping, &mu);
        turn = 0;
        old_cond_signal(&pong);
        pthread_mutex_unlock(&mu);
    }
    return arg;
}

int main(void)
{
    old_cond_init(&ping, NULL);
    old_cond_init(&pong, NULL);
    pthread_t t;
    pthread_create(&t, NULL, player, NULL);
    for (int i = 0; i < ROUNDS; i++) {
        pthread_mutex_lock(&mu);
        turn = 1;
        old_cond_broadcast(&ping);
        while (turn != 0)
            old_cond_wait(&pong, &mu);
        pthread_mutex_unlock(&mu);
    }
    pthread_join(t, NULL);
    int r = old_cond_destroy(&ping) | old_cond_destroy(&pong);
    printf("old_cond: %d rounds\n", ROUNDS);
    return r;
}
