/*
 * stack_capture.h - the calling thread's stack, as a profile shows it.
 *
 * Uses libgcc_s's _Unwind_Backtrace (no malloc, no lock, no state per
 * thread; see stack_capture.c). Library frames are dropped: the stack
 * starts with the wrapper's own frame, then the wrapper's caller and its
 * callers.
 */
#ifndef SP_STACK_CAPTURE_H
#define SP_STACK_CAPTURE_H

#include <stdint.h>

#include "profile_table.h"

/*
 * Fills pcs[0..SP_MAX_FRAMES) and returns how many frames it wrote (at least
 * 1). pcs[0] is leaf + 1 (leaf: the public wrapper's entry address); then
 * caller (the wrapper's return address, __builtin_return_address(0) taken
 * in the wrapper) and the return addresses above it. If caller is not found
 * among the unwound frames (an unwinder without unwind info for some frame),
 * the stack is just the leaf and caller.
 */
int sp_stack_capture(uintptr_t *pcs, void *leaf, uintptr_t caller);

/* Sets libunwind, the dumps' unwinder, up as syncprof needs it (see
 * stack_capture.c); done at load, and again harmlessly by anyone about to
 * unwind. */
void sp_unwinder_setup(void);

#endif /* SP_STACK_CAPTURE_H */
