/*
 * test_lock_order.c - lock-order checking: an A->B / B->A program that
 * never deadlocks (the orders run at different times) is reported once,
 * with the cycle and both acquisitions' stacks; a three-lock cycle; one
 * consistent order under stress reports nothing; trylock adds no edge; a
 * destroyed lock leaves the graph; recursive re-locking is no inversion.
 */
#include <syncprof/pthread.h>

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "profile_reader.h"

static int err_fd = -1, saved_err = -1;

/* Reports go to stderr: catch it in a memfd. */
static void setup(void)
{
    err_fd = memfd_create("err", 0);
    saved_err = dup(2);
    dup2(err_fd, 2);
    cr_assert_eq(syncprof_lock_order_enable(), 0);
}

static char *reports(void)
{
    off_t len = lseek(err_fd, 0, SEEK_END);
    char *s = calloc(1, (size_t)len + 1);
    pread(err_fd, s, (size_t)len, 0);
    return s;
}

static void teardown(void)
{
    dup2(saved_err, 2);
}

static size_t count(const char *s, const char *what)
{
    size_t n = 0;
    for (; (s = strstr(s, what)) != NULL; s++)
        n++;
    return n;
}

static pthread_mutex_t a = PTHREAD_MUTEX_INITIALIZER, b = PTHREAD_MUTEX_INITIALIZER,
                       c = PTHREAD_MUTEX_INITIALIZER;

static void *first_order(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&a);
    pthread_mutex_lock(&b);
    pthread_mutex_unlock(&b);
    pthread_mutex_unlock(&a);
    return NULL;
}

static void *second_order(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&b);
    pthread_mutex_lock(&a);
    pthread_mutex_unlock(&a);
    pthread_mutex_unlock(&b);
    return NULL;
}

static void run(void *(*fn)(void *))
{
    pthread_t t;
    pthread_create(&t, NULL, fn, NULL);
    pthread_join(t, NULL);
}

Test(lock_order, ab_ba_at_different_times_reported_once, .init = setup, .fini = teardown)
{
    syncprof_set_name(&a, "lock-A");
    syncprof_set_name(&b, "lock-B");
    run(first_order);
    cr_expect_eq(syncprof_lock_order_reports(), 0);
    run(second_order);
    cr_expect_eq(syncprof_lock_order_reports(), 1);
    for (int i = 0; i < 3; i++) {
        run(first_order);
        run(second_order);
    }
    cr_expect_eq(syncprof_lock_order_reports(), 1, "each inversion is reported once");
    char *r = reports();
    cr_expect_eq(count(r, "potential deadlock: lock-order inversion"), 1, "%s", r);
    cr_expect(strstr(r, "cycle: ") && strstr(r, "\"lock-B\" -> ") && strstr(r, "\"lock-A\" -> "), "%s", r);
    /* two edges, each with the stack that made it, from the wrapper up */
    const char *e1 = strstr(r, "lock 0x"), *e2 = e1 ? strstr(e1 + 1, "lock 0x") : NULL;
    cr_assert(e1 && e2, "%s", r);
    cr_expect(strstr(e1, "acquired while holding"), "%s", r);
    cr_expect(strstr(r, "first_order"), "the A->B stack:\n%s", r);
    cr_expect(strstr(r, "second_order"), "the B->A stack:\n%s", r);
    cr_expect(strstr(e1, "#0  ") && strstr(e1, "pthread_wrappers.c") && !strstr(r, "sp_lock_order_acquired"), "starts in the wrapper:\n%s", r);
    free(r);
}

/* (not the same body as first_order, or the compiler folds the two) */
static volatile int three_runs;
static void *three_ab(void *x) { (void)x; pthread_mutex_lock(&a); pthread_mutex_lock(&b); three_runs++; pthread_mutex_unlock(&b); pthread_mutex_unlock(&a); return NULL; }
static void *three_bc(void *x) { (void)x; pthread_mutex_lock(&b); pthread_mutex_lock(&c); pthread_mutex_unlock(&c); pthread_mutex_unlock(&b); return NULL; }
static void *three_ca(void *x) { (void)x; pthread_mutex_lock(&c); pthread_mutex_lock(&a); pthread_mutex_unlock(&a); pthread_mutex_unlock(&c); return NULL; }

Test(lock_order, three_lock_cycle, .init = setup, .fini = teardown)
{
    run(three_ab);
    run(three_bc);
    cr_expect_eq(syncprof_lock_order_reports(), 0);
    run(three_ca);
    cr_expect_eq(syncprof_lock_order_reports(), 1);
    char *r = reports();
    cr_expect_eq(count(r, "acquired while holding"), 3, "three edges:\n%s", r);
    cr_expect(strstr(r, "three_ab") && strstr(r, "three_bc") && strstr(r, "three_ca"), "%s", r);
    free(r);
}

Test(lock_order, trylock_adds_no_edge, .init = setup, .fini = teardown)
{
    pthread_mutex_lock(&a);
    cr_assert_eq(pthread_mutex_trylock(&b), 0);
    pthread_mutex_unlock(&b);
    pthread_mutex_unlock(&a);
    run(second_order);
    cr_expect_eq(syncprof_lock_order_reports(), 0);
}

Test(lock_order, destroyed_lock_leaves_the_graph, .init = setup, .fini = teardown)
{
    pthread_mutex_t *x = malloc(sizeof *x);
    pthread_mutex_init(x, NULL);
    pthread_mutex_lock(x);
    pthread_mutex_lock(&a);
    pthread_mutex_unlock(&a);
    pthread_mutex_unlock(x);
    cr_assert_eq(pthread_mutex_destroy(x), 0);
    pthread_mutex_init(x, NULL); /* a new lock at the same address */
    pthread_mutex_lock(&a);
    pthread_mutex_lock(x);
    pthread_mutex_unlock(x);
    pthread_mutex_unlock(&a);
    cr_expect_eq(syncprof_lock_order_reports(), 0);
    pthread_mutex_destroy(x);
    free(x);

    pthread_rwlock_t *rw = malloc(sizeof *rw);
    pthread_rwlock_init(rw, NULL);
    pthread_rwlock_wrlock(rw);
    pthread_mutex_lock(&a);
    pthread_mutex_unlock(&a);
    pthread_rwlock_unlock(rw);
    cr_assert_eq(pthread_rwlock_destroy(rw), 0);
    pthread_rwlock_init(rw, NULL);
    pthread_mutex_lock(&a);
    pthread_rwlock_rdlock(rw);
    pthread_rwlock_unlock(rw);
    pthread_mutex_unlock(&a);
    cr_expect_eq(syncprof_lock_order_reports(), 0);
    pthread_rwlock_destroy(rw);
    free(rw);
}

Test(lock_order, recursive_relock_and_rwlock_inversion, .init = setup, .fini = teardown)
{
    pthread_mutex_t rec;
    pthread_mutexattr_t at;
    pthread_mutexattr_init(&at);
    pthread_mutexattr_settype(&at, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&rec, &at);
    pthread_mutex_lock(&rec);
    pthread_mutex_lock(&rec);
    pthread_mutex_lock(&a);
    pthread_mutex_unlock(&a);
    pthread_mutex_unlock(&rec);
    pthread_mutex_unlock(&rec);
    cr_expect_eq(syncprof_lock_order_reports(), 0, "a recursive re-lock is no inversion");

    static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
    pthread_rwlock_wrlock(&rw);
    pthread_mutex_lock(&b);
    pthread_mutex_unlock(&b);
    pthread_rwlock_unlock(&rw);
    pthread_mutex_lock(&b);
    pthread_rwlock_rdlock(&rw);
    pthread_rwlock_unlock(&rw);
    pthread_mutex_unlock(&b);
    cr_expect_eq(syncprof_lock_order_reports(), 1, "rwlock and mutex in both orders");
}

/* One consistent order (a, then b, then c), 4 threads at full speed. */
static void *consistent(void *arg)
{
    unsigned seed = (unsigned)(long)arg;
    for (int i = 0; i < 50000; i++) {
        int first = (int)(rand_r(&seed) % 3);
        pthread_mutex_t *order[3] = { &a, &b, &c };
        for (int k = first; k < 3; k++)
            pthread_mutex_lock(order[k]);
        for (int k = 2; k >= first; k--)
            pthread_mutex_unlock(order[k]);
    }
    return NULL;
}

Test(lock_order, consistent_order_under_stress_reports_nothing, .init = setup, .fini = teardown)
{
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, consistent, (void *)i);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_expect_eq(syncprof_lock_order_reports(), 0);
    char *r = reports();
    cr_expect_str_empty(r, "%s", r);
    free(r);
}
