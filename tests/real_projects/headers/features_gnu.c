/* features_gnu.c - the feature-test macros of a config.h read after the
 * forced include keep their effect: accept4 and IOV_MAX (_GNU_SOURCE) are
 * declared, and _FILE_OFFSET_BITS took effect. */
#include "config_gnu.h"
#include <limits.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#ifndef __USE_GNU
#error _GNU_SOURCE of config.h did not take effect
#endif
#ifndef __USE_FILE_OFFSET64
#error _FILE_OFFSET_BITS of config.h did not take effect
#endif
typedef char off_t_is_64_bits[sizeof(off_t) == 8 ? 1 : -1];

int main(void)
{
    struct iovec iov[IOV_MAX > 16 ? 16 : IOV_MAX];
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    (void)iov;
    pthread_mutex_lock(&m);
    pthread_mutex_unlock(&m);
    return accept4(-1, NULL, NULL, SOCK_CLOEXEC) == -1 ? 0 : 1;
}
