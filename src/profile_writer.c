/*
 * profile_writer.c - the public entry points that write a profile out:
 * syncprof_write_profile and syncprof_write_profile_file. They take a
 * snapshot of the profile table and hand it to one of the two formats; the
 * profile itself is never changed by writing it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <syncprof/syncprof.h>

#include "export.h"
#include "format.h"
#include "hold_sampling.h"
#include "lock_stats.h"
#include "profile_delta.h"
#include "profile_table.h"
#include "sampling.h"
#include "thread_dump.h"

static int64_t wall_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* debug 0 is pprof; as in Go, any debug > 0 is the text format. */
static int write_kind(enum sp_profile_kind kind, int fd, int debug)
{
    struct sp_record *recs;
    size_t n;
    int r = sp_profile_snapshot(kind, &recs, &n);
    if (r != 0)
        return r;
    struct sp_profile_view v = {
        .kind = kind,
        .recs = recs,
        .n = n,
        .period = sp_profile_period(kind),
        .time_nanos = wall_now_ns(),
    };
    r = debug > 0 ? sp_format_text(fd, &v) : sp_format_pprof(fd, &v);
    free(recs);
    return r;
}

/* "threads": every thread by stack, as Go's goroutine profile (debug 0
 * pprof, 1 grouped text, 2 the full dump); see thread_dump.h. */
static bool is_threads(const char *name)
{
    return name && strcmp(name, "threads") == 0;
}

/* "locks": the per-lock table (lock_stats.h), CSV at debug 0, text above. */
static bool is_locks(const char *name)
{
    return name && strcmp(name, "locks") == 0;
}

SP_PUBLIC int syncprof_write_profile(const char *name, int fd, int debug)
{
    int kind = sp_profile_kind_of(name);
    if ((kind < 0 && !is_threads(name) && !is_locks(name)) || debug < 0)
        return EINVAL;
    if (fd < 0)
        return EBADF;
    if (is_locks(name)) {
        sp_enter_profiler();
        int r = sp_lock_stats_write(fd, debug == 0, sp_hold_rate());
        sp_leave_profiler();
        return r;
    }
    if (is_threads(name))
        return sp_threads_profile_write(fd, debug, (void *)syncprof_write_profile,
                                        (uintptr_t)__builtin_return_address(0));
    sp_enter_profiler();
    int r = write_kind((enum sp_profile_kind)kind, fd, debug);
    sp_leave_profiler();
    return r;
}

SP_PUBLIC int syncprof_write_profile_file(const char *name, const char *path, int debug)
{
    if (!path || !*path || (sp_profile_kind_of(name) < 0 && !is_threads(name) && !is_locks(name)) ||
        debug < 0)
        return EINVAL;
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp)
        return ENAMETOOLONG;
    int fd = mkstemp(tmp);
    if (fd < 0)
        return errno;
    /* mkstemp makes the file 0600; a profile is as readable as any output. */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);

    int r = syncprof_write_profile(name, fd, debug);
    if (close(fd) != 0 && r == 0)
        r = errno;
    if (r == 0 && rename(tmp, path) != 0)
        r = errno;
    if (r != 0)
        unlink(tmp);
    return r;
}
