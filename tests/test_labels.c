/*
 * test_labels.c - sample labels and lock names (labels.h, <syncprof/labels.h>).
 *
 * Specification: samples carry the recording thread's pushed labels (the
 * unlocker's in the mutex profile, the waiter's in the block profile) and
 * lock=<name> for a named object (an unnamed lock carries its birth site
 * instead, test_lock_identity.c); equal stacks with different label sets
 * are different samples, which `go tool pprof -tagfocus` tells apart;
 * unlabelled threads add no label and no bucket (a
 * block sample always carries its wait kind, wait=<kind>: see
 * test_wait_labels.c); the push/pop API reports its errors; label sets are
 * interned and bounded.
 */
#include <syncprof/pthread.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "format_common.h"
#include "labels.h"
#include "pprof_raw.h"
#include "profile_reader.h"
#include "profile_table.h"

static char dir[] = "/tmp/syncprof-labels-XXXXXX";

static void setup(void)
{
    syncprof_set_mutex_profile_fraction(1);
    syncprof_set_block_profile_rate(1);
    cr_assert(mkdtemp(dir));
}

static void teardown(void)
{
    tp_remove_dir(dir);
}

/* ---- Contention helpers ---------------------------------------------- */

struct waiter_arg {
    pthread_mutex_t *m;
    const char *label; /* the waiter's "role" label, or NULL */
};

static void *lock_once(void *p)
{
    struct waiter_arg *a = p;
    if (a->label)
        cr_assert_eq(syncprof_labels_push("role", a->label), 0);
    pthread_mutex_lock(a->m);
    pthread_mutex_unlock(a->m);
    if (a->label)
        cr_assert_eq(syncprof_labels_pop(), 0);
    return NULL;
}

/* Holds m while another thread (labelled role=waiter_label) waits for it
 * about a millisecond, then releases it: one mutex and one block event. */
static __attribute__((noinline)) void contend_on(pthread_mutex_t *m, const char *waiter_label)
{
    struct waiter_arg a = { m, waiter_label };
    pthread_t t;
    pthread_mutex_lock(m);
    cr_assert_eq(pthread_create(&t, NULL, lock_once, &a), 0);
    tp_wait_until_blocked(m);
    tp_sleep_ns(1000000);
    pthread_mutex_unlock(m);
    pthread_join(t, NULL);
}

/* The same code path for every user: only the label differs. */
static __attribute__((noinline)) void serve_user(pthread_mutex_t *m, const char *user, int rounds)
{
    cr_assert_eq(syncprof_labels_push("user", user), 0);
    for (int i = 0; i < rounds; i++)
        contend_on(m, NULL);
    cr_assert_eq(syncprof_labels_pop(), 0);
}

/* go tool pprof -raw [flags] on the profile name written to a file; the
 * output parsed into p. */
static void read_raw(const char *name, const char *flags, struct pr_profile *p)
{
    char *why = pr_read_written(dir, name, flags, p);
    cr_assert_null(why, "%s", why);
}

/* ---- The API --------------------------------------------------------- */

Test(labels, push_and_pop_report_errors)
{
    cr_expect_eq(syncprof_labels_pop(), EINVAL);
    cr_expect_eq(syncprof_labels_push(NULL, "v"), EINVAL);
    cr_expect_eq(syncprof_labels_push("", "v"), EINVAL);
    cr_expect_eq(syncprof_labels_push("k", NULL), EINVAL);
    for (int i = 0; i < SP_LABELS_MAX_DEPTH; i++)
        cr_expect_eq(syncprof_labels_push("k", "v"), 0);
    cr_expect_eq(syncprof_labels_push("k", "v"), ENOSPC);
    for (int i = 0; i < SP_LABELS_MAX_DEPTH; i++)
        cr_expect_eq(syncprof_labels_pop(), 0);
    cr_expect_eq(syncprof_labels_pop(), EINVAL);
    cr_expect_null(sp_labels_for_sample(NULL, NULL, 0), "no labels left");
}

Test(labels, set_is_the_innermost_value_per_key_sorted)
{
    cr_assert_eq(syncprof_labels_push("b", "1"), 0);
    cr_assert_eq(syncprof_labels_push("a", "2"), 0);
    cr_assert_eq(syncprof_labels_push("b", "3"), 0);
    cr_assert_eq(syncprof_labels_push("empty", ""), 0);
    const struct sp_label_set *s = sp_labels_for_sample(NULL, NULL, 0);
    cr_assert_not_null(s);
    cr_assert_eq(s->n, 3);
    cr_expect_str_eq(s->labels[0].key, "a");
    cr_expect_str_eq(s->labels[0].value, "2");
    cr_expect_str_eq(s->labels[1].key, "b");
    cr_expect_str_eq(s->labels[1].value, "3");
    cr_expect_str_eq(s->labels[2].key, "empty");
    cr_expect_str_eq(s->labels[2].value, "");
    /* Interned: the same set, however it was built, is the same pointer. */
    struct sp_label ls[3];
    sp_label_copy(ls[0].key, "empty");
    sp_label_copy(ls[0].value, "");
    sp_label_copy(ls[1].key, "b");
    sp_label_copy(ls[1].value, "3");
    sp_label_copy(ls[2].key, "a");
    sp_label_copy(ls[2].value, "2");
    cr_expect_eq(sp_label_set_intern(ls, 3), s);
    for (int i = 0; i < 4; i++)
        syncprof_labels_pop();
}

Test(labels, long_strings_are_cut_at_a_character_boundary)
{
    char key[100], value[100] = "";
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    for (int i = 0; i < 40; i++)
        strcat(value, "\xc3\xa9"); /* é: two bytes each, 80 bytes */
    cr_assert_eq(syncprof_labels_push(key, value), 0);
    const struct sp_label_set *s = sp_labels_for_sample(NULL, NULL, 0);
    cr_assert_not_null(s);
    cr_expect_eq(strlen(s->labels[0].key), SP_LABEL_MAX - 1);
    cr_expect_eq(strlen(s->labels[0].value), SP_LABEL_MAX - 2, "63 bytes would split an é");
    cr_expect_eq(strncmp(s->labels[0].value, value, SP_LABEL_MAX - 2), 0);
}

Test(labels, label_sets_are_bounded)
{
    struct sp_label l;
    const struct sp_label_set *first = NULL;
    sp_label_copy(l.key, "request");
    for (int i = 0; i < SP_MAX_LABEL_SETS + 100; i++) {
        char v[32];
        snprintf(v, sizeof v, "%d", i);
        sp_label_copy(l.value, v);
        const struct sp_label_set *s = sp_label_set_intern(&l, 1);
        cr_assert_not_null(s);
        if (i == 0)
            first = s;
        if (i < SP_MAX_LABEL_SETS) {
            cr_assert_str_eq(s->labels[0].value, v);
        } else {
            cr_assert_eq(s->n, 1);
            cr_assert_str_eq(s->labels[0].key, SP_LABELS_OVERFLOW_KEY);
            cr_assert_str_eq(s->labels[0].value, SP_LABELS_OVERFLOW_VALUE);
        }
    }
    cr_expect_eq(sp_label_sets_count(), SP_MAX_LABEL_SETS);
    sp_label_copy(l.value, "0");
    cr_expect_eq(sp_label_set_intern(&l, 1), first, "known sets are still found");
}

/* ---- Labels in the profiles ------------------------------------------ */

static pthread_mutex_t shared = PTHREAD_MUTEX_INITIALIZER;

struct user_arg {
    const char *user;
    int rounds;
};

static void *user_thread(void *p)
{
    struct user_arg *a = p;
    serve_user(&shared, a->user, a->rounds);
    return NULL;
}

/* Runs fn(arg) on a new thread and waits for it: the samples fn records
 * have the same stack whatever the call site here (the compiler may copy
 * a call site when it unrolls or splits a loop). */
static void run_in_thread(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, fn, arg), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
}

Test(labels, two_values_on_one_path_are_two_samples_tagfocus_tells_apart, .init = setup,
     .fini = teardown)
{
    struct user_arg alice_arg = { "alice", 3 }, bob_arg = { "bob", 2 };
    run_in_thread(user_thread, &alice_arg);
    run_in_thread(user_thread, &bob_arg);

    struct pr_profile all, alice, bob, nobody;
    long long c_alice, c_bob, d_alice, d_bob;
    read_raw("mutex", "", &all);
    cr_expect_eq(pr_sum_no_site(&all, "serve_user", "user:[alice]", &c_alice, &d_alice), 1);
    cr_expect_eq(pr_sum_no_site(&all, "serve_user", "user:[bob]", &c_bob, &d_bob), 1);
    cr_expect_eq(c_alice, 3, "one event per contended unlock");
    cr_expect_eq(c_bob, 2);
    cr_expect_eq(pr_sum(&all, NULL, NULL, NULL, NULL), 2, "nothing else was recorded");
    /* The same stack: both samples share every location. */
    cr_assert_eq(all.samples[0].nlocs, all.samples[1].nlocs);
    cr_expect_eq(memcmp(all.samples[0].locs, all.samples[1].locs,
                        sizeof(int) * (size_t)all.samples[0].nlocs), 0);

    read_raw("mutex", "-tagfocus=user=alice", &alice);
    read_raw("mutex", "-tagfocus=user=bob", &bob);
    read_raw("mutex", "-tagfocus=user=carol", &nobody);
    long long c, d;
    cr_expect_eq(pr_sum(&alice, NULL, NULL, &c, &d), 1);
    cr_expect(c == c_alice && d == d_alice);
    cr_expect_eq(pr_sum_no_site(&alice, NULL, "user:[alice]", NULL, NULL), 1);
    cr_expect_eq(pr_sum(&bob, NULL, NULL, &c, &d), 1);
    cr_expect(c == c_bob && d == d_bob);
    cr_expect_eq(pr_sum_no_site(&bob, NULL, "user:[bob]", NULL, NULL), 1);
    cr_expect_eq(nobody.n, 0);

    /* The totals are the ones the unlabelled text view adds up. */
    struct tp_profile t;
    tp_read("mutex", &t);
    cr_expect_eq(tp_total_delay(&t), d_alice + d_bob);
    tp_free(&t);
    pr_free(&all);
    pr_free(&alice);
    pr_free(&bob);
    pr_free(&nobody);
}

Test(labels, block_samples_carry_the_waiters_labels, .init = setup, .fini = teardown)
{
    cr_assert_eq(syncprof_labels_push("user", "holder"), 0);
    contend_on(&shared, "waiter");
    cr_assert_eq(syncprof_labels_pop(), 0);

    struct pr_profile m, b;
    read_raw("mutex", "", &m);
    read_raw("block", "", &b);
    cr_expect_eq(pr_sum_no_site(&m, "contend_on", "user:[holder]", NULL, NULL), 1);
    cr_expect_eq(pr_sum_no_site(&b, "lock_once", "role:[waiter] wait:[mutex]", NULL, NULL), 1);
    cr_expect_eq(pr_sum(&b, "lock_once", NULL, NULL, NULL), 1, "one waiter sample only");
    pr_free(&m);
    pr_free(&b);
}

static pthread_mutex_t named = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t unnamed = PTHREAD_MUTEX_INITIALIZER;

Test(labels, named_locks_carry_their_name, .init = setup, .fini = teardown)
{
    cr_assert_eq(syncprof_set_name(&named, "db"), 0);
    contend_on(&named, NULL);
    contend_on(&unnamed, NULL);
    serve_user(&named, "alice", 1);

    struct pr_profile m, b;
    read_raw("mutex", "", &m);
    read_raw("block", "", &b);
    cr_expect_eq(pr_sum(&m, "contend_on", "lock:[db]", NULL, NULL), 1, "named, no user");
    cr_expect_eq(pr_sum_no_site(&m, "contend_on", "", NULL, NULL), 1,
                 "unnamed: its birth site only (test_lock_identity.c)");
    cr_expect_eq(pr_sum(&m, "serve_user", "lock:[db] user:[alice]", NULL, NULL), 1);
    cr_expect_eq(pr_sum(&b, "lock_once", "lock:[db] wait:[mutex]", NULL, NULL), 1);
    cr_expect_eq(pr_sum_no_site(&b, "lock_once", "wait:[mutex]", NULL, NULL), 1);
    cr_expect_eq(m.n, 3);

    struct pr_profile focus;
    read_raw("mutex", "-tagfocus=lock=db", &focus);
    cr_expect_eq(pr_sum(&focus, NULL, NULL, NULL, NULL), 2);
    cr_expect_eq(pr_sum(&focus, NULL, "", NULL, NULL), 0, "the unnamed lock is filtered out");
    pr_free(&m);
    pr_free(&b);
    pr_free(&focus);
}

enum { LOCKS = 40 };
static pthread_mutex_t locks[LOCKS];

/* One contention on each of locks, all from the same code path. */
static void *contend_on_each(void *arg)
{
    (void)arg;
    for (int i = 0; i < LOCKS; i++)
        contend_on(&locks[i], NULL);
    return NULL;
}

Test(labels, one_bucket_per_lock_and_path, .init = setup)
{
    struct sp_record *recs;
    size_t n;
    for (int i = 0; i < LOCKS; i++)
        pthread_mutex_init(&locks[i], NULL);
    run_in_thread(contend_on_each, NULL);
    run_in_thread(contend_on_each, NULL);
    cr_assert_eq(sp_profile_snapshot(SP_PROFILE_MUTEX, &recs, &n), 0);
    cr_expect_eq(n, LOCKS, "40 unnamed locks twice, one code path: one bucket per lock");
    for (size_t i = 0; i < n; i++)
        cr_expect_eq(sp_count_round(recs[i].count), 2);
    free(recs);

    syncprof_set_name(&locks[0], "a");
    syncprof_set_name(&locks[1], "b");
    run_in_thread(contend_on_each, NULL);
    cr_assert_eq(sp_profile_snapshot(SP_PROFILE_MUTEX, &recs, &n), 0);
    cr_expect_eq(n, LOCKS + 2, "two names: two more buckets, the 38 others keep theirs");
    free(recs);
}

struct labelled_arg {
    pthread_mutex_t *m;
    pthread_barrier_t *ready, *done;
};

/* Holds labels the whole time another thread records. */
static void *labelled_bystander(void *p)
{
    struct labelled_arg *a = p;
    syncprof_labels_push("thread", "bystander");
    pthread_barrier_wait(a->ready);
    pthread_barrier_wait(a->done);
    syncprof_labels_pop();
    return NULL;
}

Test(labels, labels_belong_to_their_thread, .init = setup)
{
    pthread_barrier_t ready, done;
    pthread_barrier_init(&ready, NULL, 2);
    pthread_barrier_init(&done, NULL, 2);
    struct labelled_arg a = { &shared, &ready, &done };
    pthread_t t;
    pthread_create(&t, NULL, labelled_bystander, &a);
    pthread_barrier_wait(&ready);
    contend_on(&shared, NULL);
    pthread_barrier_wait(&done);
    pthread_join(t, NULL);

    struct sp_record *recs;
    size_t n;
    cr_assert_eq(sp_profile_snapshot(SP_PROFILE_MUTEX, &recs, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_not_null(recs[0].labels);
    for (int i = 0; i < recs[0].labels->n; i++)
        cr_expect_str_neq(recs[0].labels->labels[i].key, "thread",
                          "another thread's labels are not ours");
    free(recs);
}
