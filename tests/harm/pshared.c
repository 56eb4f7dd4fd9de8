/*
 * pshared.c - process-shared objects in MAP_SHARED memory, used by a parent
 * and 4 forked children.
 *
 * A mutex, a condition variable, an rwlock, a barrier and a semaphore, all
 * PTHREAD_PROCESS_SHARED (sem_init pshared=1), shared by 5 processes:
 *   - a counter incremented under the mutex (20,000 times each);
 *   - a token passed round-robin with the condition variable, 100,000
 *     hand-offs in all (turn = (turn + 1) % 5);
 *   - rwlock-protected pairs (b == 3 * a) read and checked, and written;
 *   - barrier rounds whose arrivals are counted;
 *   - a semaphore of 2 slots, whose holders are counted (never more than 2).
 * The totals must be exact and every child must exit 0.
 * Then a robust mutex whose owner (a child) dies holding it, once while the
 * parent is not waiting and once while the parent is blocked on it: the
 * parent gets EOWNERDEAD, makes it consistent and goes on. And a
 * priority-inheritance mutex contended by two processes.
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "harm.h"

#define PROCS 5
#define PI_LOOPS 20000

struct shared {
    pthread_mutex_t mx;
    pthread_cond_t cv;
    pthread_rwlock_t rw;
    pthread_barrier_t bar;
    sem_t slots;
    pthread_mutex_t robust;
    sem_t robust_held;
    pthread_mutex_t pi;
    int pi_ok;

    long counter;   /* under mx */
    int turn;       /* under mx */
    long handoffs;  /* under mx */
    long rw_a, rw_b; /* under rw */
    atomic_long rw_reads;
    atomic_long bar_arrivals;
    atomic_int in_slots;
    atomic_long slot_uses;
    long pi_counter; /* under pi */
    atomic_int phase[PROCS]; /* each process's current phase, for the watchdog */
};

static struct shared *sh;
static long loops_counter, loops_handoff, loops_rw, loops_barrier, loops_sem;
static int me; /* 0 = the parent */

static const char *const phase_name[] = {
    "start", "mutex counter", "condition-variable token ring", "rwlock pairs", "barrier rounds",
    "semaphore slots", "done",
};

static void on_hang(char *buf, size_t len)
{
    if (!sh)
        return;
    snprintf(buf, len, "process %d; phases %d %d %d %d %d; counter %ld, handoffs %ld, turn %d",
             me, sh->phase[0], sh->phase[1], sh->phase[2], sh->phase[3], sh->phase[4],
             sh->counter, sh->handoffs, sh->turn);
}

static void check(int r, const char *what)
{
    if (r != 0)
        die("process %d: %s: %s", me, what, strerror(r));
}

static void barrier(void)
{
    int r = pthread_barrier_wait(&sh->bar);
    if (r != 0 && r != PTHREAD_BARRIER_SERIAL_THREAD)
        die("process %d: pthread_barrier_wait: %s", me, strerror(r));
}

static int64_t phase_start[7]; /* the parent's, for the closing line */

static void set_phase(int p)
{
    atomic_store(&sh->phase[me], p);
    if (me == 0) {
        harm_step(phase_name[p], 30);
        phase_start[p] = harm_now_ns(CLOCK_MONOTONIC);
    }
}

/* Everything one process does with the five shared objects. */
static void work(void)
{
    set_phase(1);
    for (long i = 0; i < loops_counter; i++) {
        check(pthread_mutex_lock(&sh->mx), "pthread_mutex_lock");
        sh->counter++;
        check(pthread_mutex_unlock(&sh->mx), "pthread_mutex_unlock");
    }
    barrier();

    set_phase(2);
    for (long i = 0; i < loops_handoff; i++) {
        check(pthread_mutex_lock(&sh->mx), "pthread_mutex_lock");
        while (sh->turn != me)
            check(pthread_cond_wait(&sh->cv, &sh->mx), "pthread_cond_wait");
        sh->turn = (sh->turn + 1) % PROCS;
        sh->handoffs++;
        check(pthread_cond_broadcast(&sh->cv), "pthread_cond_broadcast");
        check(pthread_mutex_unlock(&sh->mx), "pthread_mutex_unlock");
    }
    barrier();

    set_phase(3);
    for (long i = 0; i < loops_rw; i++) {
        if (i % 10 == 0) {
            check(pthread_rwlock_wrlock(&sh->rw), "pthread_rwlock_wrlock");
            long a = sh->rw_a + 1;
            sh->rw_a = a;
            sched_yield(); /* a reader that got in now would see b != 3a */
            sh->rw_b = 3 * a;
            check(pthread_rwlock_unlock(&sh->rw), "pthread_rwlock_unlock");
        } else {
            check(pthread_rwlock_rdlock(&sh->rw), "pthread_rwlock_rdlock");
            long a = sh->rw_a, b = sh->rw_b;
            check(pthread_rwlock_unlock(&sh->rw), "pthread_rwlock_unlock");
            if (b != 3 * a)
                die("process %d: read a=%ld b=%ld under the read lock: a writer was inside",
                    me, a, b);
            atomic_fetch_add(&sh->rw_reads, 1);
        }
    }
    barrier();

    set_phase(4);
    for (long r = 0; r < loops_barrier; r++) {
        atomic_fetch_add(&sh->bar_arrivals, 1);
        barrier();
        long n = atomic_load(&sh->bar_arrivals);
        /* All 5 arrived for round r; nobody can have arrived for r + 2. */
        if (n < PROCS * (r + 1) || n > PROCS * (r + 2) - 1)
            die("process %d: barrier round %ld passed with %ld arrivals counted", me, r, n);
    }
    barrier();

    set_phase(5);
    for (long i = 0; i < loops_sem; i++) {
        while (sem_wait(&sh->slots) != 0)
            if (errno != EINTR)
                die("process %d: sem_wait: %s", me, strerror(errno));
        int n = atomic_fetch_add(&sh->in_slots, 1) + 1;
        if (n > 2)
            die("process %d: %d holders of a semaphore of 2", me, n);
        if (i % 8 == 0)
            sched_yield();
        atomic_fetch_sub(&sh->in_slots, 1);
        atomic_fetch_add(&sh->slot_uses, 1);
        if (sem_post(&sh->slots) != 0)
            die("process %d: sem_post: %s", me, strerror(errno));
    }
    barrier();
    set_phase(6);
}

/* A child that dies with its parent, and has its own watchdog. */
static pid_t fork_child(int index, const char *step)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        me = index;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        harm_step(step, 60);
    }
    return pid;
}

static pid_t workers[PROCS];

/* Reaps the children as they end: a failed child fails the test at once
 * (its own line says why), instead of leaving the others waiting. */
static void *reaper(void *arg)
{
    (void)arg;
    int left = PROCS - 1;
    while (left > 0) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            die("waitpid: %s", strerror(errno));
        }
        int idx = 0;
        for (int i = 1; i < PROCS; i++)
            if (workers[i] == pid)
                idx = i;
        if (idx == 0)
            continue;
        if (WIFSIGNALED(status))
            die("child %d was killed by signal %d (%s)", idx, WTERMSIG(status),
                strsignal(WTERMSIG(status)));
        if (WEXITSTATUS(status) != 0)
            die("child %d exited with status %d", idx, WEXITSTATUS(status));
        left--;
    }
    return NULL;
}

static void wait_child(pid_t pid, const char *what)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            die("%s: waitpid: %s", what, strerror(errno));
    if (WIFSIGNALED(status))
        die("%s: the child was killed by signal %d (%s)", what, WTERMSIG(status),
            strsignal(WTERMSIG(status)));
    if (WEXITSTATUS(status) != 0)
        die("%s: the child exited with status %d", what, WEXITSTATUS(status));
}

static void init_objects(void)
{
    pthread_mutexattr_t ma;
    pthread_condattr_t ca;
    pthread_rwlockattr_t ra;
    pthread_barrierattr_t ba;
    pthread_mutexattr_init(&ma);
    check(pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED), "mutexattr_setpshared");
    check(pthread_mutex_init(&sh->mx, &ma), "pthread_mutex_init");
    check(pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST), "mutexattr_setrobust");
    check(pthread_mutex_init(&sh->robust, &ma), "pthread_mutex_init (robust)");
    pthread_mutexattr_destroy(&ma);

    pthread_mutexattr_init(&ma);
    check(pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED), "mutexattr_setpshared");
    int r = pthread_mutexattr_setprotocol(&ma, PTHREAD_PRIO_INHERIT);
    if (r == 0)
        r = pthread_mutex_init(&sh->pi, &ma);
    sh->pi_ok = r == 0;
    if (r != 0 && r != ENOTSUP)
        die("pthread_mutex_init (priority inheritance): %s", strerror(r));
    pthread_mutexattr_destroy(&ma);

    pthread_condattr_init(&ca);
    check(pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED), "condattr_setpshared");
    check(pthread_cond_init(&sh->cv, &ca), "pthread_cond_init");
    pthread_condattr_destroy(&ca);
    pthread_rwlockattr_init(&ra);
    check(pthread_rwlockattr_setpshared(&ra, PTHREAD_PROCESS_SHARED), "rwlockattr_setpshared");
    check(pthread_rwlock_init(&sh->rw, &ra), "pthread_rwlock_init");
    pthread_rwlockattr_destroy(&ra);
    pthread_barrierattr_init(&ba);
    check(pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED), "barrierattr_setpshared");
    check(pthread_barrier_init(&sh->bar, &ba, PROCS), "pthread_barrier_init");
    pthread_barrierattr_destroy(&ba);
    if (sem_init(&sh->slots, 1, 2) != 0 || sem_init(&sh->robust_held, 1, 0) != 0)
        die("sem_init: %s", strerror(errno));
}

static void robust_owner_dies(void)
{
    /* 1: the owner dies while nobody waits. */
    harm_step("robust mutex: owner dies, then the parent locks", 30);
    pid_t pid = fork_child(1, "robust mutex child");
    if (pid == 0) {
        if (pthread_mutex_lock(&sh->robust) != 0)
            _exit(3);
        _exit(0); /* dies holding it */
    }
    wait_child(pid, "robust mutex, first owner");
    int r = pthread_mutex_lock(&sh->robust);
    if (r != EOWNERDEAD)
        die("robust mutex whose owner died: pthread_mutex_lock returned %d (%s), not EOWNERDEAD",
            r, strerror(r));
    check(pthread_mutex_consistent(&sh->robust), "pthread_mutex_consistent");
    check(pthread_mutex_unlock(&sh->robust), "pthread_mutex_unlock (robust)");
    check(pthread_mutex_lock(&sh->robust), "pthread_mutex_lock (robust, made consistent)");
    check(pthread_mutex_unlock(&sh->robust), "pthread_mutex_unlock (robust)");

    /* 2: the owner dies while the parent is blocked on it. */
    harm_step("robust mutex: owner dies while the parent waits", 30);
    pid = fork_child(1, "robust mutex child (contended)");
    if (pid == 0) {
        if (pthread_mutex_lock(&sh->robust) != 0)
            _exit(3);
        sem_post(&sh->robust_held);
        harm_sleep_us(50000);
        _exit(0);
    }
    while (sem_wait(&sh->robust_held) != 0)
        if (errno != EINTR)
            die("sem_wait: %s", strerror(errno));
    r = pthread_mutex_lock(&sh->robust);
    if (r != EOWNERDEAD)
        die("robust mutex whose owner died while we waited: pthread_mutex_lock returned %d (%s), "
            "not EOWNERDEAD", r, strerror(r));
    check(pthread_mutex_consistent(&sh->robust), "pthread_mutex_consistent");
    check(pthread_mutex_unlock(&sh->robust), "pthread_mutex_unlock (robust)");
    wait_child(pid, "robust mutex, second owner");
    struct timespec ts = harm_deadline(CLOCK_REALTIME, 1000000000);
    check(pthread_mutex_timedlock(&sh->robust, &ts), "pthread_mutex_timedlock (robust)");
    check(pthread_mutex_unlock(&sh->robust), "pthread_mutex_unlock (robust)");
}

static void pi_loop(void)
{
    for (long i = 0; i < PI_LOOPS; i++) {
        check(pthread_mutex_lock(&sh->pi), "pthread_mutex_lock (priority inheritance)");
        sh->pi_counter++;
        if (i % 64 == 0)
            sched_yield();
        check(pthread_mutex_unlock(&sh->pi), "pthread_mutex_unlock (priority inheritance)");
    }
}

static void pi_contended(void)
{
    if (!sh->pi_ok) {
        printf("priority-inheritance mutexes not supported here: not tested\n");
        return;
    }
    harm_step("priority-inheritance mutex, two processes", 30);
    pid_t pid = fork_child(1, "priority-inheritance child");
    if (pid == 0) {
        pi_loop();
        exit(0);
    }
    pi_loop();
    wait_child(pid, "priority-inheritance mutex");
    if (sh->pi_counter != 2 * PI_LOOPS)
        die("priority-inheritance mutex: counter %ld, not %d", sh->pi_counter, 2 * PI_LOOPS);
}

int main(void)
{
    harm_init("harm_pshared");
    harm_on_hang = on_hang;
    long scale = harm_loops(1000);
    if (scale > 1000)
        scale = 1000;
    loops_counter = 20 * scale;  /* x 5 = 100,000 */
    loops_handoff = 20 * scale;  /* x 5 = 100,000 hand-offs */
    loops_rw = 5 * scale;
    loops_barrier = scale / 2;
    loops_sem = 5 * scale;

    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    init_objects();

    harm_step("forking the workers", 30);
    for (int i = 1; i < PROCS; i++) {
        pid_t pid = fork_child(i, "worker child");
        if (pid == 0) {
            work();
            exit(0); /* at exit, the library writes this child's profiles */
        }
        workers[i] = pid;
    }
    pthread_t rt;
    check(pthread_create(&rt, NULL, reaper, NULL), "pthread_create");
    work();
    harm_step("waiting for the workers", 30);
    check(pthread_join(rt, NULL), "pthread_join");

    if (sh->counter != PROCS * loops_counter)
        die("mutex counter %ld, not %ld", sh->counter, PROCS * loops_counter);
    if (sh->handoffs != PROCS * loops_handoff || sh->turn != 0)
        die("%ld hand-offs (turn %d), not %ld", sh->handoffs, sh->turn, PROCS * loops_handoff);
    long writes = PROCS * ((loops_rw + 9) / 10);
    if (sh->rw_a != writes || sh->rw_b != 3 * writes ||
        atomic_load(&sh->rw_reads) != PROCS * loops_rw - writes)
        die("rwlock: a=%ld b=%ld reads=%ld, not %ld %ld %ld", sh->rw_a, sh->rw_b,
            atomic_load(&sh->rw_reads), writes, 3 * writes, PROCS * loops_rw - writes);
    if (atomic_load(&sh->bar_arrivals) != PROCS * loops_barrier)
        die("barrier: %ld arrivals, not %ld", atomic_load(&sh->bar_arrivals),
            PROCS * loops_barrier);
    int v = -1;
    sem_getvalue(&sh->slots, &v);
    if (atomic_load(&sh->slot_uses) != PROCS * loops_sem || v != 2)
        die("semaphore: %ld uses and value %d, not %ld and 2", atomic_load(&sh->slot_uses), v,
            PROCS * loops_sem);

    robust_owner_dies();
    pi_contended();
    harm_check_dump_and_profile();
    harm_watchdog_off();
    printf("%d processes: %ld counted, %ld hand-offs, %ld rwlock reads, %ld barrier rounds, "
           "%ld semaphore uses: exact\n", PROCS, sh->counter, sh->handoffs,
           atomic_load(&sh->rw_reads), loops_barrier, atomic_load(&sh->slot_uses));
    printf("seconds per phase:");
    for (int p = 1; p < 6; p++)
        printf(" %s %.2f;", phase_name[p], (double)(phase_start[p + 1] - phase_start[p]) / 1e9);
    printf("\n");
    return 0;
}
