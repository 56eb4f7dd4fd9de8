/*
 * stack_capture.c - the calling thread's stack for one sample, trimmed to
 * what the program itself called (see stack_capture.h).
 *
 * Trimming by address instead of by a fixed frame count: the compiler may
 * inline or not inline the library's internal functions, so the number of
 * internal frames varies between builds. The wrapper's return address is
 * the one thing we know for sure, so the stack starts where it appears.
 */
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <stdint.h>

#include "alt_stack.h"
#include "stack_capture.h"

#if defined(__SANITIZE_THREAD__)
#define SP_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SP_UNDER_TSAN 1
#endif
#endif

/*
 * The raw return addresses of the calling thread, innermost first.
 *
 * libunwind's unw_backtrace keeps a per-thread trace cache whose destructor
 * takes a pthread mutex while the thread is being torn down;
 * ThreadSanitizer has already forgotten the thread by then and crashes in
 * its interceptor. TSan builds therefore walk with unw_step, which keeps no
 * per-thread state (slower, and only for race checking).
 */
static int backtrace_raw(void **raw, int max)
{
#ifdef SP_UNDER_TSAN
    unw_context_t ctx;
    unw_cursor_t cur;
    int n = 0;
    if (unw_getcontext(&ctx) != 0 || unw_init_local(&cur, &ctx) != 0)
        return 0;
    while (n < max && unw_step(&cur) > 0) {
        unw_word_t ip;
        if (unw_get_reg(&cur, UNW_REG_IP, &ip) != 0)
            break;
        raw[n++] = (void *)ip;
    }
    return n;
#else
    return unw_backtrace(raw, max);
#endif
}

/*
 * libunwind's caches of parsed call-frame information are off. The global
 * cache has a lock, held while libunwind looks for a frame's unwind table
 * with dl_iterate_phdr, which takes the dynamic loader's lock: a thread
 * dump's signal handler that interrupts a thread holding the loader's lock
 * (in dlopen, say) then waits for libunwind's lock, whose holder waits for
 * the loader's lock (harm_unwind_contention reproduced it). Without the
 * cache there is no such lock; libunwind's per-thread trace cache
 * (unw_backtrace, the samples' path) still spares re-parsing known frames.
 */
void sp_unwinder_setup(void)
{
    static int done;
    if (!__atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL))
        unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_NONE);
}

__attribute__((constructor)) static void unwinder_setup_at_load(void)
{
    sp_unwinder_setup();
}

/* Frames the library itself may add below the wrapper's caller (the
 * borrowed-stack switch among them). */
#define SP_INTERNAL_FRAMES 24

struct raw_trace {
    void *pcs[SP_MAX_FRAMES + SP_INTERNAL_FRAMES];
    int n;
};

static void trace_into(void *arg)
{
    struct raw_trace *t = arg;
    t->n = backtrace_raw(t->pcs, (int)(sizeof t->pcs / sizeof t->pcs[0]));
}

int sp_stack_capture(uintptr_t *pcs, void *leaf, uintptr_t caller)
{
    struct raw_trace t = { .n = 0 };
    sp_alt_stack_run(trace_into, &t); /* unwinding needs room (alt_stack.h) */
    void **raw = t.pcs;
    int n = t.n;

    pcs[0] = (uintptr_t)leaf + 1;
    int first = -1;
    for (int i = 0; i < n && i < SP_INTERNAL_FRAMES; i++) {
        if ((uintptr_t)raw[i] == caller) {
            first = i;
            break;
        }
    }
    if (first < 0) {
        pcs[1] = caller;
        return 2;
    }
    int out = 1;
    for (int i = first; i < n && out < SP_MAX_FRAMES; i++)
        pcs[out++] = (uintptr_t)raw[i];
    return out;
}
