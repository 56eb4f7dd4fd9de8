/*
 * thread_stacks.c - taking every thread's stack by signalling it (see
 * thread_stacks.h).
 *
 * Protocol, per capture. The capturing thread holds capture_lock (a raw
 * futex lock: captures are rare and may be long). Each target thread gets
 * an idle slot from a pool of mmap'd chunks that are never unmapped, so a
 * signal that arrives late still writes into valid memory. A slot moves
 * IDLE -> ARMED (by the capturer, after setting tid) -> BUSY (by the
 * handler of that very thread, with a CAS) -> DONE (handler, CAS), and
 * back to IDLE when the capturer has copied it. A capturer that gives up
 * CASes ARMED -> IDLE, so a late handler finds nothing to do; if the
 * handler already made it BUSY, the capturer waits for DONE at most
 * SP_STACK_BUSY_MS more, then CASes BUSY -> ABANDONED: the handler, finding
 * its DONE refused, makes the slot IDLE itself, and the capture reports
 * that thread's stack unavailable. No step of a capture waits without a
 * bound. The slot's address travels in the signal's si_value
 * (rt_tgsigqueueinfo); the handler accepts only SI_QUEUE signals from this
 * process whose pointer is a slot of the pool.
 *
 * The handler runs inside the profiler (sampling.h: anything libunwind
 * calls goes to the real functions) and unwinds on a borrowed stack
 * (alt_stack.h), so a thread with a minimum-size stack only needs room for
 * the signal frame.
 */
#define UNW_LOCAL_ONLY
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libunwind.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "alt_stack.h"
#include "clock.h"
#include "futex.h"
#include "sampling.h"
#include "stack_capture.h"
#include "thread_registry.h"
#include "spinlock.h"
#include "thread_stacks.h"

#define SP_SLOTS_PER_CHUNK 256
#define SP_STACK_SIGNAL_OFFSET 7

enum { SLOT_IDLE, SLOT_ARMED, SLOT_BUSY, SLOT_DONE, SLOT_ABANDONED };

/* How long a capturer waits for a handler that has begun to unwind. */
#define SP_STACK_BUSY_MS 100

struct slot {
    int state;                   /* SLOT_*; atomic */
    int tid;                     /* the thread it is armed for; set before ARMED; atomic */
    int nframes;                 /* written by the handler before DONE */
    uintptr_t pcs[SP_MAX_FRAMES];
};

struct chunk {
    struct slot slots[SP_SLOTS_PER_CHUNK];
    struct chunk *next;          /* never changes once published */
};

static struct chunk *chunks;     /* grow-only list; pushed under capture_lock */
static int answered;             /* handlers done in this capture; futex word, atomic */
static int stack_sig;            /* chosen signal; written once under capture_lock */
static int capture_lock;         /* 0 free, 1 held, 2 held with waiters */

/* ---- A raw futex lock (Drepper's "mutex3") ----------------------------------- */


static void capture_lock_take(void)
{
    int c = 0;
    if (__atomic_compare_exchange_n(&capture_lock, &c, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return;
    if (c != 2)
        c = __atomic_exchange_n(&capture_lock, 2, __ATOMIC_ACQUIRE);
    while (c != 0) {
        sp_futex_wait(&capture_lock, 2, NULL);
        c = __atomic_exchange_n(&capture_lock, 2, __ATOMIC_ACQUIRE);
    }
}

static void capture_lock_give(void)
{
    if (__atomic_exchange_n(&capture_lock, 0, __ATOMIC_RELEASE) == 2)
        sp_futex_wake(&capture_lock, 1);
}

/* ---- The handler ---------------------------------------------------------------- */

static bool is_slot(const void *p)
{
    for (struct chunk *c = __atomic_load_n(&chunks, __ATOMIC_ACQUIRE); c; c = c->next) {
        const char *lo = (const char *)c->slots, *hi = (const char *)(c->slots + SP_SLOTS_PER_CHUNK);
        if ((const char *)p >= lo && (const char *)p < hi)
            return ((const char *)p - lo) % sizeof(struct slot) == 0;
    }
    return false;
}

struct unwind_job {
    void *uc;       /* the interrupted context */
    struct slot *s; /* where the frames go */
};

/* Unwinds from the interrupted context into the job's slot. */
static void unwind_from(void *arg)
{
    struct unwind_job *job = arg;
    struct slot *s = job->s;
    unw_cursor_t cur;
    unw_word_t ip;
    s->nframes = 0;
    if (unw_init_local2(&cur, (unw_context_t *)job->uc, UNW_INIT_SIGNAL_FRAME) != 0 ||
        unw_get_reg(&cur, UNW_REG_IP, &ip) != 0)
        return;
    int n = 0;
    s->pcs[n++] = (uintptr_t)ip + 1; /* the interrupted instruction, as a return address */
    while (n < SP_MAX_FRAMES && unw_step(&cur) > 0 && unw_get_reg(&cur, UNW_REG_IP, &ip) == 0)
        s->pcs[n++] = (uintptr_t)ip;
    s->nframes = n;
}

/* unwind_from inside the profiler, on the borrowed stack: the handler keeps
 * to a few words of the thread's own stack, on top of the kernel's signal
 * frame. A thread on the minimum stack may be signalled anywhere, even
 * deep in a sanitizer's thread start-up (harm_minstack under ASan
 * overflowed in the pthread_setcancelstate of sp_enter_profiler when it
 * ran on the thread's stack). */
static void unwind_in_profiler(void *arg)
{
    sp_enter_profiler();
    unwind_from(arg);
    sp_leave_profiler();
}

static void on_stack_signal(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    int saved_errno = errno;
    struct slot *s = si->si_value.sival_ptr;
    if (si->si_code == SI_QUEUE && si->si_pid == getpid() && is_slot(s) &&
        __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == SLOT_ARMED &&
        __atomic_load_n(&s->tid, __ATOMIC_RELAXED) == (int)syscall(SYS_gettid)) {
        int armed = SLOT_ARMED;
        if (__atomic_compare_exchange_n(&s->state, &armed, SLOT_BUSY, false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED)) {
            struct unwind_job job = { uc, s };
            if (!sp_alt_stack_run_in_handler(unwind_in_profiler, &job))
                s->nframes = 0;
            int busy = SLOT_BUSY;
            if (__atomic_compare_exchange_n(&s->state, &busy, SLOT_DONE, false, __ATOMIC_RELEASE,
                                            __ATOMIC_RELAXED)) {
                __atomic_fetch_add(&answered, 1, __ATOMIC_RELEASE);
                sp_futex_wake(&answered, 1);
            } else {
                __atomic_store_n(&s->state, SLOT_IDLE, __ATOMIC_RELEASE); /* abandoned */
            }
        }
    }
    errno = saved_errno;
}

int sp_stack_signal(void)
{
    return __atomic_load_n(&stack_sig, __ATOMIC_ACQUIRE);
}

static int install_locked(void)
{
    if (stack_sig)
        return 0;
    sp_unwinder_setup();
    int r = sp_alt_stack_prepare();
    if (r != 0)
        return r;
    for (int s = SIGRTMIN + SP_STACK_SIGNAL_OFFSET; s <= SIGRTMAX; s++) {
        struct sigaction old, sa;
        if (sigaction(s, NULL, &old) != 0 || (old.sa_flags & SA_SIGINFO) ||
            old.sa_handler != SIG_DFL)
            continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_stack_signal;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigfillset(&sa.sa_mask);
        if (sigaction(s, &sa, NULL) != 0)
            return errno;
        __atomic_store_n(&stack_sig, s, __ATOMIC_RELEASE);
        return 0;
    }
    return EBUSY;
}

int sp_stack_signal_install(void)
{
    capture_lock_take();
    int r = install_locked();
    capture_lock_give();
    return r;
}

/* ---- Slots ------------------------------------------------------------------------ */

static bool slots_grow_locked(void)
{
    struct chunk *c = mmap(NULL, sizeof *c, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (c == MAP_FAILED)
        return false;
    c->next = chunks;
    __atomic_store_n(&chunks, c, __ATOMIC_RELEASE);
    return true;
}

/*
 * An idle slot, searching on from *cursor (chunk, index) and growing the
 * pool when every slot is taken. A slot is not idle while a handler that
 * was given up on is still unwinding into it. NULL if the pool cannot grow.
 */
struct slot_cursor {
    struct chunk *chunk;
    int index;
};

static struct slot *claim_idle_locked(struct slot_cursor *c)
{
    for (;;) {
        for (; c->chunk; c->chunk = c->chunk->next, c->index = 0) {
            while (c->index < SP_SLOTS_PER_CHUNK) {
                struct slot *s = &c->chunk->slots[c->index++];
                if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == SLOT_IDLE)
                    return s;
            }
        }
        if (!slots_grow_locked())
            return NULL;
        c->chunk = chunks;
        c->index = 0;
    }
}

static int send_to(int tid, struct slot *s)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = stack_sig;
    si.si_code = SI_QUEUE;
    si.si_pid = getpid();
    si.si_uid = getuid();
    si.si_value.sival_ptr = s;
    return syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, stack_sig, &si) == 0 ? 0 : errno;
}

/* Does thread tid block signal sig (SigBlk of /proc/self/task/TID/status)? */
static bool blocks_signal(int tid, int sig)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/self/task/%d/status", tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t len = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[len > 0 ? len : 0] = '\0';
    const char *p = strstr(buf, "SigBlk:");
    if (!p)
        return false;
    unsigned long long mask = strtoull(p + 7, NULL, 16);
    return sig <= 64 && (mask >> (sig - 1)) & 1;
}

/* True when every thread still unanswered blocks the stack signal: waiting
 * longer is useless. */
static bool only_deaf_left(const struct sp_thread_stack *v, struct slot *const *slot_of, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!slot_of[i] || __atomic_load_n(&slot_of[i]->state, __ATOMIC_ACQUIRE) != SLOT_ARMED)
            continue;
        if (!blocks_signal(v[i].tid, stack_sig))
            return false;
    }
    return true;
}

/* Waits until want handlers answered, or only threads that block the
 * signal are left (checked every SP_DEAF_CHECK_NS), or the deadline. */
#define SP_DEAF_CHECK_NS 10000000
static void wait_answers(const struct sp_thread_stack *v, struct slot *const *slot_of, size_t n,
                         int want, int64_t deadline)
{
    int64_t next_check = sp_now_ns() + SP_DEAF_CHECK_NS;
    for (;;) {
        int got = __atomic_load_n(&answered, __ATOMIC_ACQUIRE);
        int64_t now = sp_now_ns(), left = deadline - now;
        if (got >= want || left <= 0)
            return;
        if (now >= next_check) {
            if (only_deaf_left(v, slot_of, n))
                return;
            next_check = now + SP_DEAF_CHECK_NS;
        }
        int64_t nap = left < SP_DEAF_CHECK_NS ? left : SP_DEAF_CHECK_NS;
        struct timespec ts = { nap / 1000000000, nap % 1000000000 };
        sp_futex_wait(&answered, (uint32_t)got, &ts);
    }
}

/* Copies slot s into t, or marks t unavailable. The slot is IDLE after, or
 * ABANDONED to a handler that is still unwinding at busy_deadline. */
static void collect(struct slot *s, struct sp_thread_stack *t, int64_t busy_deadline)
{
    int armed = SLOT_ARMED;
    if (__atomic_compare_exchange_n(&s->state, &armed, SLOT_IDLE, false, __ATOMIC_ACQUIRE,
                                    __ATOMIC_ACQUIRE)) {
        t->available = false;
        t->signals_blocked = blocks_signal(t->tid, stack_sig);
        return;
    }
    for (unsigned spins = 0; __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == SLOT_BUSY; spins++) {
        int busy = SLOT_BUSY;
        if (sp_now_ns() > busy_deadline &&
            __atomic_compare_exchange_n(&s->state, &busy, SLOT_ABANDONED, false,
                                        __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)) {
            t->available = false;
            return;
        }
        sp_spin_pause(spins);
    }
    t->nframes = s->nframes;
    memcpy(t->pcs, s->pcs, sizeof t->pcs[0] * (size_t)s->nframes);
    t->available = t->nframes > 0;
    __atomic_store_n(&s->state, SLOT_IDLE, __ATOMIC_RELEASE);
}

/* ---- /proc ---------------------------------------------------------------------- */

/* Name and state from /proc/self/task/TID/stat: "tid (comm) S ...". */
static void read_stat(int tid, char name[SP_THREAD_NAME_MAX], char *state)
{
    char path[64], buf[512];
    strcpy(name, "?");
    *state = '?';
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t len = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (len <= 0)
        return;
    buf[len] = '\0';
    char *open_paren = strchr(buf, '('), *close_paren = strrchr(buf, ')');
    if (!open_paren || !close_paren || close_paren < open_paren)
        return;
    size_t n = (size_t)(close_paren - open_paren - 1);
    if (n >= SP_THREAD_NAME_MAX)
        n = SP_THREAD_NAME_MAX - 1;
    memcpy(name, open_paren + 1, n);
    name[n] = '\0';
    if (close_paren[1] == ' ' && close_paren[2])
        *state = close_paren[2];
}

void sp_thread_name(int tid, char name[SP_THREAD_NAME_MAX])
{
    char state;
    read_stat(tid, name, &state);
}

static int cmp_tid(const void *a, const void *b)
{
    int x = ((const struct sp_thread_stack *)a)->tid, y = ((const struct sp_thread_stack *)b)->tid;
    return (x > y) - (x < y);
}

/* The tids of /proc/self/task into a malloc'd array of sp_thread_stack. */
static int list_threads(struct sp_thread_stack **out, size_t *n)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return errno;
    size_t cap = 64, len = 0;
    struct sp_thread_stack *v = malloc(cap * sizeof *v);
    struct dirent *e;
    while (v && (e = readdir(d)) != NULL) {
        int tid = atoi(e->d_name);
        if (tid <= 0)
            continue;
        if (len == cap) {
            struct sp_thread_stack *nv = realloc(v, (cap *= 2) * sizeof *v);
            if (!nv) {
                free(v);
                v = NULL;
                break;
            }
            v = nv;
        }
        memset(&v[len], 0, offsetof(struct sp_thread_stack, pcs));
        v[len++].tid = tid;
    }
    closedir(d);
    if (!v)
        return ENOMEM;
    qsort(v, len, sizeof *v, cmp_tid);
    *out = v;
    *n = len;
    return 0;
}

/* ---- The caller's own stack ------------------------------------------------------------ */

int sp_backtrace_here(uintptr_t *pcs, int max)
{
    unw_context_t ctx;
    unw_cursor_t cur;
    unw_word_t ip;
    int n = 0;
    if (unw_getcontext(&ctx) != 0 || unw_init_local(&cur, &ctx) != 0)
        return 0;
    while (n < max && unw_step(&cur) > 0 && unw_get_reg(&cur, UNW_REG_IP, &ip) == 0)
        pcs[n++] = (uintptr_t)ip;
    return n;
}

/* ---- Without a signal ------------------------------------------------------------------ */

static bool interrupt_sleepers = true; /* SYNCPROF_DUMP_INTERRUPT; set at load */

void sp_threads_set_interrupt(bool on)
{
    interrupt_sleepers = on;
}

struct saved_unwind {
    const struct sp_wait_regs *r;
    uintptr_t *pcs;
    int max, n;
};

static void unwind_saved(void *arg)
{
    struct saved_unwind *u = arg;
    unw_context_t uc;
    unw_cursor_t cur;
    unw_word_t ip;
    u->n = 0;
    memset(&uc, 0, sizeof uc);
#if defined(__x86_64__)
    greg_t *g = uc.uc_mcontext.gregs;
    g[REG_RIP] = (greg_t)u->r->ip;
    g[REG_RSP] = (greg_t)u->r->sp;
    g[REG_RBP] = (greg_t)u->r->bp;
    g[REG_RBX] = (greg_t)u->r->bx;
    g[REG_R12] = (greg_t)u->r->r12;
    g[REG_R13] = (greg_t)u->r->r13;
    g[REG_R14] = (greg_t)u->r->r14;
    g[REG_R15] = (greg_t)u->r->r15;
#else
    return;
#endif
    if (unw_init_local2(&cur, &uc, UNW_INIT_SIGNAL_FRAME) != 0 ||
        unw_get_reg(&cur, UNW_REG_IP, &ip) != 0)
        return;
    u->pcs[u->n++] = (uintptr_t)ip + 1; /* the saved instruction, as a return address */
    while (u->n < u->max && unw_step(&cur) > 0 && unw_get_reg(&cur, UNW_REG_IP, &ip) == 0)
        u->pcs[u->n++] = (uintptr_t)ip;
}

int sp_unwind_saved(const struct sp_wait_regs *r, uintptr_t *pcs, int max)
{
    struct saved_unwind u = { r, pcs, max, 0 };
    if (!sp_alt_stack_run(unwind_saved, &u))
        return 0;
    return u.n;
}

static const struct sp_thread_waited *find_waited(const struct sp_thread_waited *w, size_t n,
                                                  int tid)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (w[mid].tid < tid)
            lo = mid + 1;
        else if (w[mid].tid > tid)
            hi = mid;
        else
            return &w[mid];
    }
    return NULL;
}

/* Fills t from a wrapped wait, or decides not to interrupt it; false when
 * the thread is to be signalled. */
static bool without_signal(struct sp_thread_stack *t, const struct sp_thread_waited *waited,
                           size_t nwaited, enum sp_capture_mode mode)
{
    if (sp_is_service_thread(t->tid)) {
        t->source = SP_STACK_SERVICE; /* the profiler's own: nothing of the program */
        t->available = false;
        return true;
    }
    const struct sp_thread_waited *w = find_waited(waited, nwaited, t->tid);
    if (w && w->nframes > 0) {
        t->source = SP_STACK_FROM_WAIT;
        t->nframes = w->nframes < SP_MAX_FRAMES ? w->nframes : SP_MAX_FRAMES;
        memcpy(t->pcs, w->pcs, sizeof t->pcs[0] * (size_t)t->nframes);
        t->available = true;
        return true;
    }
    bool asleep = t->state != 'R';
    if (asleep && (mode == SP_CAPTURE_PROFILE || !interrupt_sleepers)) {
        t->source = SP_STACK_NOT_TAKEN;
        t->available = false;
        return true;
    }
    return false;
}

/* ---- Capture ------------------------------------------------------------------------ */

/* Signals every thread that needs it but the caller, and collects the
 * answers. */
static void capture_others_locked(struct sp_thread_stack *v, size_t n, int self,
                                  const struct sp_thread_waited *waited, size_t nwaited,
                                  enum sp_capture_mode mode)
{
    struct slot **slot_of = calloc(n ? n : 1, sizeof *slot_of);
    if (!slot_of)
        return; /* every other thread stays unavailable */
    __atomic_store_n(&answered, 0, __ATOMIC_RELAXED);
    struct slot_cursor cursor = { __atomic_load_n(&chunks, __ATOMIC_ACQUIRE), 0 };
    int sent = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i].tid == self || without_signal(&v[i], waited, nwaited, mode))
            continue;
        struct slot *s = claim_idle_locked(&cursor);
        if (!s)
            break;
        __atomic_store_n(&s->tid, v[i].tid, __ATOMIC_RELAXED);
        __atomic_store_n(&s->state, SLOT_ARMED, __ATOMIC_RELEASE);
        if (send_to(v[i].tid, s) != 0) {
            __atomic_store_n(&s->state, SLOT_IDLE, __ATOMIC_RELAXED);
            continue;
        }
        slot_of[i] = s;
        sent++;
    }
    int64_t deadline = sp_now_ns() + (int64_t)SP_STACK_ANSWER_MS * 1000000;
    wait_answers(v, slot_of, n, sent, deadline);
    int64_t busy_deadline = sp_now_ns() + (int64_t)SP_STACK_BUSY_MS * 1000000;
    for (size_t i = 0; i < n; i++)
        if (slot_of[i])
            collect(slot_of[i], &v[i], busy_deadline);
    free(slot_of);
}

int sp_threads_capture(struct sp_thread_stack **out, size_t *n, void *leaf, uintptr_t caller,
                       const struct sp_thread_waited *waited, size_t nwaited,
                       enum sp_capture_mode mode)
{
    struct sp_thread_stack *v = NULL;
    size_t len = 0;
    int r = list_threads(&v, &len);
    if (r != 0)
        return r;
    int self = sp_self_tid();
    for (size_t i = 0; i < len; i++)
        read_stat(v[i].tid, v[i].name, &v[i].state);
    capture_lock_take();
    r = install_locked();
    if (r == 0)
        capture_others_locked(v, len, self, waited, nwaited, mode);
    capture_lock_give();
    if (r != 0) {
        free(v);
        return r;
    }
    for (size_t i = 0; i < len; i++) {
        if (v[i].tid == self && sp_is_service_thread(self)) {
            v[i].source = SP_STACK_SERVICE; /* the dumper, the watchdog */
        } else if (v[i].tid == self) {
            v[i].nframes = leaf ? sp_stack_capture(v[i].pcs, leaf, caller)
                                : sp_backtrace_here(v[i].pcs, SP_MAX_FRAMES);
            v[i].available = true;
            v[i].state = 'R';
        } else if (v[i].source == SP_STACK_SIGNALLED && !v[i].available) {
            char name[SP_THREAD_NAME_MAX];
            read_stat(v[i].tid, name, &v[i].state); /* gone meanwhile? */
        }
    }
    *out = v;
    *n = len;
    return 0;
}

void sp_service_thread_signals(void)
{
    sigset_t all;
    sigfillset(&all);
    if (sp_stack_signal_install() == 0)
        sigdelset(&all, sp_stack_signal());
    pthread_sigmask(SIG_SETMASK, &all, NULL);
}
