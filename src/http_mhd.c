/*
 * http_mhd.c - libmicrohttpd, loaded with dlopen when a server first
 * starts: the table of its functions (sp_mhd) that the server's files call
 * through (http_server.h says why it is not linked).
 */
#ifdef SYNCPROF_HAVE_MICROHTTPD /* else the server is not built: http_endpoint.c */

#include <dlfcn.h>

#include "http_server.h"

struct sp_mhd_functions sp_mhd;

/* Loads libmicrohttpd and its functions once; true when they are there.
 * Called with ctl_lock held. */
bool sp_mhd_load(void)
{
    static int loaded; /* 0 not tried, 1 loaded, -1 not available */
    if (loaded)
        return loaded > 0;
    loaded = -1;
    void *h = dlopen("libmicrohttpd.so.12", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        h = dlopen("libmicrohttpd.so", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return false;
#define SP_MHD_RESOLVE(f) \
    if (!(sp_mhd.p_##f = (__typeof__(sp_mhd.p_##f))dlsym(h, #f))) \
        return false;
    SP_MHD_FUNCTIONS(SP_MHD_RESOLVE)
#undef SP_MHD_RESOLVE
    loaded = 1;
    return true;
}

#endif /* SYNCPROF_HAVE_MICROHTTPD */
