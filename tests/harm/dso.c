/*
 * dso.c - libharm_dso.so, which unwind_contention.c loads and unloads in a
 * loop while other threads take stacks: harm_dso_call calls back into the
 * program, so stacks taken in the callback have a frame in this library,
 * which may be gone by the time they are symbolized.
 */
int harm_dso_call(int (*fn)(int), int x);

int harm_dso_call(int (*fn)(int), int x)
{
    volatile int y = fn(x); /* not a tail call: this frame stays on the stack */
    return y + 1;
}
