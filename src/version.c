/*
 * version.c - syncprof_version: the library's version as it was built,
 * from the macros of <syncprof/syncprof.h> (which CMakeLists.txt checks
 * against the project's VERSION).
 */
#include <syncprof/syncprof.h>

#include "export.h"

#define SP_STR2(x) #x
#define SP_STR(x) SP_STR2(x)

SP_PUBLIC const char *syncprof_version(void)
{
    return SP_STR(SYNCPROF_VERSION_MAJOR) "." SP_STR(SYNCPROF_VERSION_MINOR) "." SP_STR(
        SYNCPROF_VERSION_PATCH);
}
