/* features_posix.c - a strict POSIX program: _POSIX_C_SOURCE set after the
 * forced include still restricts the C library. strsep (a BSD extension of
 * the default _DEFAULT_SOURCE) is not declared, so this file's own strsep
 * of another type compiles. */
#define _POSIX_C_SOURCE 200112L
#include <pthread.h>
#include <string.h>
#ifdef __USE_MISC
#error _POSIX_C_SOURCE did not take effect
#endif

static int strsep(int x) { return x; }

int main(void)
{
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&m);
    pthread_mutex_unlock(&m);
    return strsep(0);
}
