/* server.c - config.h first (it defines _GNU_SOURCE), then accept4 and
 * IOV_MAX, which exist only if that took effect; then a contended lock
 * whose holder is hold_cache(). */
#include <config.h>

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

int rp_answer(void); /* answer.S */

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct iovec iov[IOV_MAX < 64 ? IOV_MAX : 64];

static void *reader(void *arg)
{
    int i;
    (void)arg;
    for (i = 0; i < 20; i++) {
        pthread_mutex_lock(&cache_lock);
        pthread_mutex_unlock(&cache_lock);
        usleep(100);
    }
    return NULL;
}

__attribute__((noinline)) static void hold_cache(void)
{
    pthread_mutex_lock(&cache_lock);
    usleep(2000);
    pthread_mutex_unlock(&cache_lock);
}

int main(void)
{
    pthread_t t[2];
    int i, fd = accept4(-1, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    for (i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, reader, NULL);
    for (i = 0; i < 20; i++)
        hold_cache();
    for (i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    printf("answer %d accept4 %d iov %d\n", rp_answer(), fd, (int)(sizeof iov / sizeof iov[0]));
    return rp_answer() == 42 && fd == -1 ? 0 : 1;
}
