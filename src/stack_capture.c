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

#include "stack_capture.h"

/* Frames the library itself may add below the wrapper's caller. */
#define SP_INTERNAL_FRAMES 16

int sp_stack_capture(uintptr_t *pcs, void *leaf, uintptr_t caller)
{
    void *raw[SP_MAX_FRAMES + SP_INTERNAL_FRAMES];
    int n = unw_backtrace(raw, (int)(sizeof raw / sizeof raw[0]));

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
