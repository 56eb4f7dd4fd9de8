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
#include <stdbool.h>
#include <stdint.h>
#include <unwind.h>

#include "alt_stack.h"
#include "export.h"
#include "stack_capture.h"

#if defined(__SANITIZE_THREAD__)
#define SP_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SP_UNDER_TSAN 1
#endif
#endif
#ifdef SP_UNDER_TSAN
static const bool under_tsan = true;
#else
static const bool under_tsan = false;
#endif

/*
 * Two unwinders, by how many samples the thread has taken.
 *
 * libunwind's unw_backtrace keeps a trace cache per thread: once a stack's
 * frames are in it, a 32-frame capture costs about 0.4 us (bench_mutex,
 * "sampled event"). But the cache costs each thread a 256 KiB mapping it
 * fills (64 page faults), and every frame not yet in it costs two system
 * calls (signals blocked around dl_iterate_phdr). libgcc_s's unwinder keeps
 * nothing (no lock, no system call: glibc's _dl_find_object finds the
 * frame's table) and costs about 6 us for the same stack, every time.
 *
 * A thread's first SP_FIRST_SAMPLES samples take libgcc's way, the rest
 * libunwind's: a short program, or a thread that samples a few times,
 * never pays for a cache it would not use (`syncprof run -- zstd -T2` on
 * 1 MB, tests/bench/real_programs.sh), and a thread that samples often
 * pays for it once. libgcc's _Unwind_Backtrace is named by its symbol
 * version: libunwind exports one of its own.
 *
 * ThreadSanitizer builds take libgcc's way always: the trace cache's
 * destructor takes a pthread mutex while the thread is torn down, after
 * TSan has forgotten the thread, and TSan crashes in its interceptor.
 */
#define SP_FIRST_SAMPLES 64

_Unwind_Reason_Code sp_gcc_unwind_backtrace(_Unwind_Trace_Fn, void *);
__asm__(".symver sp_gcc_unwind_backtrace, _Unwind_Backtrace@GCC_3.3");

static SP_TLS unsigned samples_taken; /* this thread's, up to SP_FIRST_SAMPLES */

struct gcc_trace {
    void **raw;
    int max, n;
};

static _Unwind_Reason_Code gcc_frame(struct _Unwind_Context *ctx, void *arg)
{
    struct gcc_trace *t = arg;
    uintptr_t ip = _Unwind_GetIP(ctx);
    if (t->n >= t->max || ip == 0)
        return _URC_END_OF_STACK;
    t->raw[t->n++] = (void *)ip;
    return _URC_NO_REASON;
}

/* The raw return addresses of the calling thread, innermost first. */
static int backtrace_raw(void **raw, int max)
{
    if (!under_tsan && samples_taken >= SP_FIRST_SAMPLES)
        return unw_backtrace(raw, max);
    samples_taken++;
    struct gcc_trace t = { raw, max, 0 };
    sp_gcc_unwind_backtrace(gcc_frame, &t);
    return t.n;
}

/*
 * libunwind's caches of parsed call-frame information are off. The global
 * cache has a lock, held while libunwind looks for a frame's unwind table
 * with dl_iterate_phdr, which takes the dynamic loader's lock: a thread
 * dump's signal handler that interrupts a thread holding the loader's lock
 * (in dlopen, say) then waits for libunwind's lock, whose holder waits for
 * the loader's lock (harm_unwind_contention reproduced it). Without the
 * cache there is no such lock; the trace cache of unw_backtrace (above)
 * still spares re-parsing known frames.
 */
void sp_unwinder_setup(void)
{
    static int done;
    if (!__atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL))
        unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_NONE);
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
