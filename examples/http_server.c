/*
 * http_server.c - a small service that serves its live contention profiles
 * over HTTP, as a Go service does with net/http/pprof.
 *
 *   http_server [ADDR [SECONDS]]
 *
 * Serves on ADDR (default 127.0.0.1:6060; SYNCPROF_HTTP, when set, starts
 * the server instead) for SECONDS (default: until SIGINT or SIGTERM).
 * Meanwhile four workers contend on a named lock ("cache") with a label
 * saying what they do (op=read or op=write), and on an unnamed one. Try:
 *
 *   go tool pprof -top http://127.0.0.1:6060/debug/pprof/mutex
 *   go tool pprof -top -tagfocus=op=write http://127.0.0.1:6060/debug/pprof/block
 *   go tool pprof -raw 'http://127.0.0.1:6060/debug/pprof/mutex?seconds=5'
 *   curl http://127.0.0.1:6060/debug/pprof/delta_mutex?debug=1
 */
#include <syncprof/pthread.h> /* first: the pthread calls below are observed */
#include <syncprof/syncprof.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER; /* named "cache" */
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER; /* unnamed */
static long cache[64], stats;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void spin_us(long us)
{
    struct timespec t = { 0, us * 1000 };
    nanosleep(&t, NULL);
}

static void *worker(void *arg)
{
    const char *op = arg;
    syncprof_labels_push("op", op);
    for (unsigned i = 0; !stop; i++) {
        pthread_mutex_lock(&cache_lock);
        cache[i % 64] += strcmp(op, "write") == 0;
        spin_us(strcmp(op, "write") == 0 ? 300 : 50); /* writers hold longer */
        pthread_mutex_unlock(&cache_lock);

        pthread_mutex_lock(&stats_lock);
        stats++;
        pthread_mutex_unlock(&stats_lock);
        spin_us(100);
    }
    syncprof_labels_pop();
    return NULL;
}

int main(int argc, char **argv)
{
    const char *addr = argc > 1 && argv[1][0] ? argv[1] : "127.0.0.1:6060";
    int seconds = argc > 2 ? atoi(argv[2]) : 0;

    syncprof_set_mutex_profile_fraction(1);
    syncprof_set_block_profile_rate(10000);
    syncprof_set_name(&cache_lock, "cache");
    if (!getenv("SYNCPROF_HTTP")) {
        int r = syncprof_http_start(addr);
        if (r != 0) {
            fprintf(stderr, "http_server: cannot serve on %s: %s\n", addr, strerror(r));
            return 1;
        }
        fprintf(stderr, "http_server: profiles on http://%s/debug/pprof/ (port %d)\n", addr,
                syncprof_http_port());
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    static const char *ops[] = { "read", "read", "read", "write" };
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, worker, (void *)ops[i]);
    for (int s = 0; !stop && (seconds == 0 || s < seconds * 10); s++)
        spin_us(100000);
    stop = 1;
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    syncprof_http_stop();
    printf("done: stats=%ld\n", stats);
    return 0;
}
