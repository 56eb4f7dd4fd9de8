/*
 * alt_stack.c - a pool of borrowed stacks for the unwinder, and the switch
 * onto one (see alt_stack.h).
 *
 * The pool is SP_ALT_STACKS stacks of SP_ALT_STACK_SIZE bytes, each above
 * a guard page, mapped once and never unmapped (a late signal handler may
 * still be on one). A stack is taken by exchanging its busy word from 0 to
 * 1 and given back by storing 0; a taker that finds none free pauses and
 * tries again until its deadline. The busy words are the pool's only
 * shared state, so a signal handler can take and give back stacks too.
 *
 * Each thread learns its own stack's low end once (pthread_getattr_np,
 * cached in TLS) to decide whether it needs to borrow.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "alt_stack.h"
#include "export.h"
#include "spinlock.h"

#define SP_ALT_STACKS 4
#define SP_ALT_STACK_SIZE (256 * 1024)
#define SP_ALT_GUARD 4096
/* A taker's bound: SP_ALT_WAIT_YIELDS yields, about 50 ms or more (a
 * yield costs at least a system call), several unwinds' worth. */
#define SP_ALT_WAIT_YIELDS 50000

static char *pool;                /* the mapping; set once under setup */
static int busy[SP_ALT_STACKS];   /* 0 free, 1 taken; atomic */
static sp_spinlock setup = SP_SPINLOCK_INIT;

/* The low end of this thread's stack; 0 not asked yet, 1 unknown. */
static SP_TLS uintptr_t own_stack_low;
/* Nonzero while this thread runs on a borrowed stack: a nested run stays
 * on it (a whole stack is plenty; the thread's bounds do not apply). */
static SP_TLS int on_borrowed;

#if defined(__x86_64__)
#define SP_CAN_SWITCH 1
/*
 * sp__call_on_stack(fn, arg, top): calls fn(arg) with the stack pointer at
 * top and returns on the original stack. The frame pointer holds the
 * original stack pointer across the call, and the call-frame information
 * says so (CFA = rbp + 16), so unwinding from fn continues into the
 * caller's frames on the thread's own stack.
 */
__asm__(".text\n"
        ".p2align 4\n"
        ".globl sp__call_on_stack\n"
        ".hidden sp__call_on_stack\n"
        ".type sp__call_on_stack, @function\n"
        "sp__call_on_stack:\n"
        ".cfi_startproc\n"
        "pushq %rbp\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_offset %rbp, -16\n"
        "movq %rsp, %rbp\n"
        ".cfi_def_cfa_register %rbp\n"
        "movq %rdx, %rsp\n"
        "movq %rdi, %rax\n"
        "movq %rsi, %rdi\n"
        "callq *%rax\n"
        "movq %rbp, %rsp\n"
        "popq %rbp\n"
        ".cfi_def_cfa %rsp, 8\n"
        "retq\n"
        ".cfi_endproc\n"
        ".size sp__call_on_stack, .-sp__call_on_stack\n");
void sp__call_on_stack(void (*fn)(void *), void *arg, void *top);
#else
#define SP_CAN_SWITCH 0
#endif

/* In a child of fork only the forking thread runs, and it is not on a
 * borrowed stack: every stack is free. */
static void free_all_in_child(void)
{
    for (int i = 0; i < SP_ALT_STACKS; i++)
        __atomic_store_n(&busy[i], 0, __ATOMIC_RELAXED);
}

int sp_alt_stack_prepare(void)
{
    if (!SP_CAN_SWITCH || __atomic_load_n(&pool, __ATOMIC_ACQUIRE))
        return 0;
    int r = 0;
    /* take() yields in a dump's signal handler, on the interrupted
     * thread's stack: the first call of a function through the PLT runs
     * the dynamic loader's resolver, which saves every vector register
     * there (kilobytes). Bound now, before any handler needs it. */
    sched_yield();
    sp_spin_lock(&setup);
    if (!pool) {
        size_t each = SP_ALT_GUARD + SP_ALT_STACK_SIZE;
        char *p = mmap(NULL, each * SP_ALT_STACKS, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) {
            r = errno;
        } else {
            for (int i = 0; i < SP_ALT_STACKS && r == 0; i++)
                if (mprotect(p + i * each + SP_ALT_GUARD, SP_ALT_STACK_SIZE,
                             PROT_READ | PROT_WRITE) != 0)
                    r = errno;
            if (r == 0) {
                pthread_atfork(NULL, NULL, free_all_in_child);
                __atomic_store_n(&pool, p, __ATOMIC_RELEASE);
            } else {
                munmap(p, each * SP_ALT_STACKS);
            }
        }
    }
    sp_spin_unlock(&setup);
    return r;
}

/* A free stack's index, or -1 if none came free within the bound. It
 * counts yields rather than read a clock: in a dump's signal handler this
 * runs on the interrupted thread's own stack, which may have nearly none
 * left (harm_minstack under ASan: threads signalled in the sanitizer's
 * thread start-up overflowed in the clock's interceptor). */
static int take(void)
{
    for (unsigned spins = 0; spins < 64 + SP_ALT_WAIT_YIELDS; spins++) {
        for (int i = 0; i < SP_ALT_STACKS; i++)
            if (!__atomic_load_n(&busy[i], __ATOMIC_RELAXED) &&
                !__atomic_exchange_n(&busy[i], 1, __ATOMIC_ACQUIRE))
                return i;
        sp_spin_pause(spins);
    }
    return -1;
}

static bool run_borrowed(void (*fn)(void *), void *arg)
{
#if SP_CAN_SWITCH
    char *p = __atomic_load_n(&pool, __ATOMIC_ACQUIRE);
    int i = p ? take() : -1;
    if (i < 0)
        return false;
    char *top = p + (size_t)(i + 1) * (SP_ALT_GUARD + SP_ALT_STACK_SIZE);
    on_borrowed++;
    sp__call_on_stack(fn, arg, top);
    on_borrowed--;
    __atomic_store_n(&busy[i], 0, __ATOMIC_RELEASE);
    return true;
#else
    fn(arg);
    return true;
#endif
}

/* The low end of the calling thread's stack, or 1 if glibc cannot say. */
static uintptr_t stack_low(void)
{
    if (own_stack_low)
        return own_stack_low;
    uintptr_t low = 1;
    pthread_attr_t a;
    if (pthread_getattr_np(pthread_self(), &a) == 0) {
        void *addr;
        size_t size;
        if (pthread_attr_getstack(&a, &addr, &size) == 0)
            low = (uintptr_t)addr;
        pthread_attr_destroy(&a);
    }
    own_stack_low = low;
    return low;
}

bool sp_alt_stack_run(void (*fn)(void *), void *arg)
{
    if (on_borrowed) {
        fn(arg);
        return true;
    }
    uintptr_t here = (uintptr_t)__builtin_frame_address(0), low = stack_low();
    if (!SP_CAN_SWITCH || (low > 1 && here > low && here - low >= SP_ALT_STACK_NEED)) {
        fn(arg);
        return true;
    }
    sp_alt_stack_prepare();
    return run_borrowed(fn, arg);
}

bool sp_alt_stack_run_in_handler(void (*fn)(void *), void *arg)
{
    return run_borrowed(fn, arg);
}
