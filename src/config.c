/*
 * config.c - the library's set-up from the environment when it is loaded,
 * and the profiles it writes when the program exits.
 *
 *   SYNCPROF_MUTEX_FRACTION  integer >= 0, as syncprof_set_mutex_profile_fraction
 *   SYNCPROF_BLOCK_RATE      integer >= 0 (ns), as syncprof_set_block_profile_rate
 *   SYNCPROF_HOLD_RATE       integer >= 0 (ns), as syncprof_set_hold_profile_rate
 *   SYNCPROF_MAX_STACKS      integer in [1, 1<<24], as syncprof_set_max_stacks
 *   SYNCPROF_OUT             directory, created when missing (with its
 *                            parents, mode 0755); at exit each enabled
 *                            profile is written there as <name>.<pid>.pb.gz
 *
 * A bad value never aborts the program: one warning line on stderr, and the
 * default stays.
 *
 * Every SYNCPROF_* variable of the library is read through env.h.
 *
 * Preload mode (sp_config_preload, set by the LD_PRELOAD interposer before
 * this constructor runs): SYNCPROF_OUT defaults to the current directory,
 * and is made absolute at load time so that a program that changes its
 * directory still writes where it was started; the interposer calls
 * sp_config_write_profiles itself (at exit, on its write signal) and
 * prints its own summary, so no atexit handler is registered here.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/auxv.h>
#include <unistd.h>

#include <syncprof/syncprof.h>

#include "config.h"
#include "dump_signal.h"
#include "env.h"
#include "hold_sampling.h"
#include "http_endpoint.h"
#include "lock_stats.h"
#include "lock_tracking.h"
#include "profile_table.h"
#include "report_sink.h"
#include "sampling.h"
#include "thread_dump.h"
#include "trace_session.h"
#include "watchdog.h"

static char out_dir[PATH_MAX]; /* set once at load, read at exit; "" when none */
bool sp_config_preload;       /* see config.h; set before the constructors below run */

int sp_config_write_profiles(void (*done)(const char *name, const char *path, int err, void *arg),
                             void *arg)
{
    if (!out_dir[0])
        return 0;
    bool on[SP_PROFILE__COUNT] = {
        [SP_PROFILE_MUTEX] = sp_mutex_fraction() > 0,
        [SP_PROFILE_BLOCK] = sp_block_rate() > 0,
        [SP_PROFILE_HOLD] = sp_hold_rate() > 0,
    };
    int tried = 0;
    for (int k = 0; k < SP_PROFILE__COUNT; k++) {
        if (!on[k])
            continue;
        char path[sizeof out_dir + 64];
        const char *name = sp_profile_name((enum sp_profile_kind)k);
        snprintf(path, sizeof path, "%s/%s.%d.pb.gz", out_dir, name, (int)getpid());
        int r = syncprof_write_profile_file(name, path, 0);
        tried++;
        if (done)
            done(name, path, r, arg);
    }
    /* The per-lock table, as CSV, beside the profiles it summarizes. */
    if (tried > 0 && sp_lock_stats_rows() > 0) {
        char path[sizeof out_dir + 64];
        snprintf(path, sizeof path, "%s/locks.%d.csv", out_dir, (int)getpid());
        int r = syncprof_write_profile_file("locks", path, 0);
        tried++;
        if (done)
            done("locks", path, r, arg);
    }
    return tried;
}

static void report_written(const char *name, const char *path, int err, void *arg)
{
    (void)arg;
    if (err != 0)
        fprintf(stderr, "syncprof: cannot write %s: %s\n", path, strerror(err));
    else
        fprintf(stderr, "syncprof: wrote %s profile to %s\n", name, path);
}

static void write_profiles_at_exit(void)
{
    if (sp_profile_inherited_only())
        return; /* a child of fork that recorded nothing: its parent's files cover it */
    sp_config_write_profiles(report_written, NULL);
}

/* The output directory: SYNCPROF_OUT, or in preload mode the current
 * directory; preload mode makes a relative one absolute. A SYNCPROF_OUT
 * that does not exist is created now, as `syncprof run --out` creates its
 * directory; if that fails, the failure is said once here and the writes
 * at exit fail as they would have. false: none. */
static bool choose_out_dir(void)
{
    const char *out = sp_getenv("SYNCPROF_OUT");
    bool given = out && *out;
    if (!given && !sp_config_preload)
        return false;
    char cwd[PATH_MAX] = "";
    if (sp_config_preload && (!given || out[0] != '/') && !getcwd(cwd, sizeof cwd)) {
        fprintf(stderr, "syncprof: cannot find the current directory: %s\n", strerror(errno));
        return false;
    }
    int n = !given ? snprintf(out_dir, sizeof out_dir - 64, "%s", cwd)
          : cwd[0] ? snprintf(out_dir, sizeof out_dir - 64, "%s/%s", cwd, out)
                   : snprintf(out_dir, sizeof out_dir - 64, "%s", out);
    if (n < 0 || n >= (int)sizeof out_dir - 64) {
        fprintf(stderr, "syncprof: ignoring SYNCPROF_OUT: path too long\n");
        out_dir[0] = '\0';
        return false;
    }
    int e = given ? sp_mkdir_p(out_dir, 0755) : 0;
    if (e != 0)
        fprintf(stderr, "syncprof: cannot create SYNCPROF_OUT directory %s: %s\n", out_dir,
                strerror(e));
    return true;
}

/*
 * The whole library's set-up from the environment, at load, in one place
 * and one order: the profiles' settings and output first, then each
 * module's own variables. A program linked with the static library pulls
 * in only the objects it references; sampling.c references this function,
 * so every program that can record anything also gets its configuration
 * (and through the calls below, the modules that read the rest).
 */
__attribute__((constructor)) void sp_configure_from_environment(void)
{
    long long v;
    if (sp_env_int("SYNCPROF_MUTEX_FRACTION", 0, INT_MAX, &v))
        syncprof_set_mutex_profile_fraction((int)v);
    if (sp_env_int("SYNCPROF_BLOCK_RATE", 0, LLONG_MAX, &v))
        syncprof_set_block_profile_rate(v);
    if (sp_env_int("SYNCPROF_HOLD_RATE", 0, LLONG_MAX, &v))
        syncprof_set_hold_profile_rate(v);
    if (sp_env_int("SYNCPROF_MAX_STACKS", 1, 1 << 24, &v))
        syncprof_set_max_stacks((size_t)v);
    if (choose_out_dir() && !sp_config_preload)
        atexit(write_profiles_at_exit);
    sp_report_destination_from_environment();
    sp_dump_from_environment();
    sp_dump_signal_from_environment();
    sp_lock_tracking_from_environment();
    sp_lock_order_from_environment();
    sp_watchdog_from_environment();
    sp_http_from_environment();
    sp_trace_from_environment();
}
