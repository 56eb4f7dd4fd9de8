/* Uses an installed syncprof: one contended lock, then the mutex profile
 * as text on stdout. Exit status 0 when a sample was recorded.
 * <syncprof/pthread.h> comes first (as -include would put it), then the
 * program's own headers: <pthread.h>, and <syncprof/syncprof.h> for the API. */
#include <syncprof/pthread.h>
#include <syncprof/syncprof.h>

#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

static void *waiter(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&m);
    pthread_mutex_unlock(&m);
    return NULL;
}

int main(void)
{
    syncprof_set_mutex_profile_fraction(1);
    pthread_mutex_lock(&m);
    pthread_t t;
    pthread_create(&t, NULL, waiter, NULL);
    usleep(20000);
    pthread_mutex_unlock(&m);
    pthread_join(t, NULL);
    return syncprof_write_profile("mutex", 1, 1) == 0 ? 0 : 1;
}
