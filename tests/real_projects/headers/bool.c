/* bool.c - a program with its own bool, true and false, as five tests of
 * the Open POSIX Test Suite have (valid C89 to C17): the forced include
 * must not bring <stdbool.h>. */
typedef int bool;
#define true 1
#define false 0
#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

int main(void)
{
    bool locked = false;
    if (pthread_mutex_lock(&m) == 0)
        locked = true;
    pthread_mutex_unlock(&m);
    printf("bool: %d\n", locked);
    return locked == true ? 0 : 1;
}
