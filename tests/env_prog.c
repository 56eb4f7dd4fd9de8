/*
 * env_prog.c - a program linked with the library, for the tests of what
 * its SYNCPROF_* environment variables may do (tests/test_environment.c,
 * tests/check_setuid.sh).
 *
 *   env_prog                  two threads contend for one mutex (about
 *                             20 ms of waiting), SIGUSR1 is raised once if
 *                             something handles it (a dump signal would),
 *                             then "ready" on stdout and 300 ms of sleep
 *                             (time for a test to look for a listening
 *                             port) and exit status 0
 *   env_prog disposition N    prints "default", "ignore" or "handler": the
 *                             disposition of signal N after the library's
 *                             constructors ran
 */
#include <syncprof/pthread.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static void *waiter(void *arg)
{
    pthread_mutex_lock(&lock);
    pthread_mutex_unlock(&lock);
    return arg;
}

static int disposition(int sig)
{
    struct sigaction old;
    if (sigaction(sig, NULL, &old) != 0)
        return 2;
    printf("%s\n", old.sa_handler == SIG_DFL ? "default"
                   : old.sa_handler == SIG_IGN ? "ignore" : "handler");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "disposition") == 0)
        return disposition(atoi(argv[2]));
    if (argc != 1)
        return 2;

    pthread_t t;
    pthread_mutex_lock(&lock);
    if (pthread_create(&t, NULL, waiter, NULL) != 0)
        return 1;
    sleep_ms(20);
    pthread_mutex_unlock(&lock);
    pthread_join(t, NULL);

    /* Raised only when handled: the default action of SIGUSR1 is to die. */
    struct sigaction old;
    if (sigaction(SIGUSR1, NULL, &old) == 0 && old.sa_handler != SIG_DFL &&
        old.sa_handler != SIG_IGN)
        raise(SIGUSR1);

    printf("ready\n");
    fflush(stdout);
    sleep_ms(300);
    return 0;
}
