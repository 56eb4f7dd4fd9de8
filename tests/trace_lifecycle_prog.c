/*
 * trace_lifecycle_prog.c - a program traced with SYNCPROF_TRACE that ends
 * its trace the hard ways, for test_trace.c:
 *
 *   exit   four threads contend on lock "before" (100 acquisitions) and
 *          main calls exit(0) while they still do;
 *   fork   the same, and meanwhile a child of fork locks and exits, then
 *          the parent contends on lock "after" and exits;
 *   exec   contends on "before", then execs itself as "exec2", which
 *          contends on "after" and exits (the new image appends to the
 *          file).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <syncprof/syncprof.h>

static pthread_mutex_t before = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t after = PTHREAD_MUTEX_INITIALIZER;
static atomic_int phase; /* 0: contend on before, 1: on after */
static atomic_long acquired; /* lock acquisitions so far, both phases */

static void *contend(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_t *m = atomic_load(&phase) ? &after : &before;
        pthread_mutex_lock(m);
        atomic_fetch_add(&acquired, 1);
        struct timespec d = { 0, 200000 };
        nanosleep(&d, NULL);
        pthread_mutex_unlock(m);
        nanosleep(&d, NULL); /* the others get their turn: their waits end */
    }
    return NULL;
}

/* Until the contenders have taken the lock 100 more times (a loaded
 * machine may need longer than a quiet one: no fixed time). */
static void contend_more(void)
{
    long until = atomic_load(&acquired) + 100;
    struct timespec d = { 0, 1000000L };
    while (atomic_load(&acquired) < until)
        nanosleep(&d, NULL);
}

static void start_contenders(void)
{
    pthread_t t;
    for (int i = 0; i < 4; i++) {
        pthread_create(&t, NULL, contend, NULL);
        pthread_detach(t);
    }
}

int main(int argc, char **argv)
{
    syncprof_set_name(&before, "before");
    syncprof_set_name(&after, "after");
    const char *mode = argc > 1 ? argv[1] : "exit";
    if (strcmp(mode, "exec2") == 0) {
        atomic_store(&phase, 1);
        start_contenders();
        contend_more();
        exit(0);
    }
    start_contenders();
    contend_more();
    if (strcmp(mode, "fork") == 0) {
        pid_t p = fork();
        if (p == 0) {
            pthread_mutex_lock(&after);
            pthread_mutex_unlock(&after);
            _exit(0);
        }
        waitpid(p, NULL, 0);
        atomic_store(&phase, 1);
        contend_more();
    } else if (strcmp(mode, "exec") == 0) {
        execl("/proc/self/exe", argv[0], "exec2", (char *)NULL);
        return 3;
    }
    exit(0); /* the contending threads are still at it */
}
