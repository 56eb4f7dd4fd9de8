/* all.c - every wrapped call, in C89 (compiled C89 to C23 with -pedantic
 * -Werror, forced include). The feature-test macro below comes after the
 * forced include, as a config.h would: under -std=c89 nothing of POSIX is
 * declared unless it takes effect. Run: exits 0 when each call returned
 * what pthreads return. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <time.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static sem_t s;
static pthread_barrier_t b;

/* A redirected name's address has the pthread type. */
static int (*const lock_fn)(pthread_mutex_t *) = &pthread_mutex_lock;
static int (*const wait_fn)(pthread_cond_t *, pthread_mutex_t *) = pthread_cond_wait;
static int (*const sem_fn)(sem_t *) = &sem_wait;

static void *child(void *arg)
{
    sem_post(&s);
    pthread_barrier_wait(&b);
    return arg;
}

/* Ends in a wrapped call: never a tail call (the header's twins). */
static int unlock_last(pthread_mutex_t *x)
{
    return pthread_mutex_unlock(x);
}

int main(void)
{
    pthread_t t;
    void *ret = NULL;
    struct timespec past;
    int bad = 0;
    past.tv_sec = 0;
    past.tv_nsec = 0;
    sem_init(&s, 0, 0);
    pthread_barrier_init(&b, NULL, 2);
    if (pthread_create(&t, NULL, child, &bad) != 0)
        return 1;
    bad |= sem_wait(&s) != 0;
    bad |= pthread_barrier_wait(&b) > 0;
    bad |= pthread_join(t, &ret) != 0 || ret != &bad;
    bad |= lock_fn(&m) != 0;
    bad |= pthread_mutex_trylock(&m) != EBUSY;
    bad |= pthread_cond_timedwait(&cv, &m, &past) != ETIMEDOUT;
    bad |= unlock_last(&m) != 0;
    bad |= pthread_mutex_timedlock(&m, &past) != 0 || pthread_mutex_unlock(&m) != 0;
    bad |= pthread_rwlock_rdlock(&rw) != 0 || pthread_rwlock_tryrdlock(&rw) != 0;
    bad |= pthread_rwlock_trywrlock(&rw) != EBUSY;
    bad |= pthread_rwlock_unlock(&rw) != 0 || pthread_rwlock_unlock(&rw) != 0;
    bad |= pthread_rwlock_wrlock(&rw) != 0 || pthread_rwlock_unlock(&rw) != 0;
    bad |= pthread_rwlock_timedrdlock(&rw, &past) != 0 || pthread_rwlock_unlock(&rw) != 0;
    bad |= pthread_rwlock_timedwrlock(&rw, &past) != 0 || pthread_rwlock_unlock(&rw) != 0;
    bad |= pthread_cond_signal(&cv) != 0 || pthread_cond_broadcast(&cv) != 0;
    bad |= sem_post(&s) != 0 || sem_timedwait(&s, &past) != 0;
    bad |= sem_timedwait(&s, &past) != -1 || errno != ETIMEDOUT;
    bad |= pthread_mutex_destroy(&m) != 0 || pthread_rwlock_destroy(&rw) != 0;
    bad |= wait_fn == NULL || sem_fn == NULL;
    printf("all: %s\n", bad ? "wrong results" : "ok");
    return bad;
}
