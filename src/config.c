/*
 * config.c - the library's set-up from the environment when it is loaded,
 * and the profiles it writes when the program exits.
 *
 *   SYNCPROF_MUTEX_FRACTION  integer >= 0, as syncprof_set_mutex_profile_fraction
 *   SYNCPROF_BLOCK_RATE      integer >= 0 (ns), as syncprof_set_block_profile_rate
 *   SYNCPROF_MAX_STACKS      integer in [1, 1<<24], as syncprof_set_max_stacks
 *   SYNCPROF_OUT             directory; at exit each enabled profile is written
 *                            there as <name>.<pid>.pb.gz
 *
 * A bad value never aborts the program: one warning line on stderr, and the
 * default stays.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <syncprof/syncprof.h>

#include "config.h"
#include "profile_table.h"
#include "sampling.h"

static char out_dir[PATH_MAX]; /* set once at load, read at exit */

/* Parses a whole decimal integer in [min, max]; false if it is anything else. */
static bool parse_int(const char *s, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

void sp_env_warn(const char *name, const char *value, const char *expected)
{
    fprintf(stderr, "syncprof: ignoring %s=\"%s\": expected %s\n", name, value, expected);
}

bool sp_env_int(const char *name, long long min, long long max, long long *out)
{
    const char *s = getenv(name);
    if (!s)
        return false;
    if (parse_int(s, min, max, out))
        return true;
    char expected[96];
    snprintf(expected, sizeof expected, "an integer from %lld to %lld", min, max);
    sp_env_warn(name, s, expected);
    return false;
}

bool sp_env_bool(const char *name, bool *out)
{
    static const char *const yes[] = { "1", "true", "yes", "on" };
    static const char *const no[] = { "0", "false", "no", "off" };
    const char *s = getenv(name);
    if (!s)
        return false;
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
            *out = strcasecmp(s, yes[i]) == 0;
            return true;
        }
    }
    sp_env_warn(name, s, "1 or 0");
    return false;
}

static void write_profiles_at_exit(void)
{
    bool on[SP_PROFILE__COUNT] = {
        [SP_PROFILE_MUTEX] = sp_mutex_fraction() > 0,
        [SP_PROFILE_BLOCK] = sp_block_rate() > 0,
    };
    for (int k = 0; k < SP_PROFILE__COUNT; k++) {
        if (!on[k])
            continue;
        char path[sizeof out_dir + 64];
        const char *name = sp_profile_name((enum sp_profile_kind)k);
        snprintf(path, sizeof path, "%s/%s.%d.pb.gz", out_dir, name, (int)getpid());
        int r = syncprof_write_profile_file(name, path, 0);
        if (r != 0)
            fprintf(stderr, "syncprof: cannot write %s: %s\n", path, strerror(r));
        else
            fprintf(stderr, "syncprof: wrote %s profile to %s\n", name, path);
    }
}

__attribute__((constructor)) static void configure_from_environment(void)
{
    long long v;
    if (sp_env_int("SYNCPROF_MUTEX_FRACTION", 0, INT_MAX, &v))
        syncprof_set_mutex_profile_fraction((int)v);
    if (sp_env_int("SYNCPROF_BLOCK_RATE", 0, LLONG_MAX, &v))
        syncprof_set_block_profile_rate(v);
    if (sp_env_int("SYNCPROF_MAX_STACKS", 1, 1 << 24, &v))
        syncprof_set_max_stacks((size_t)v);

    const char *out = getenv("SYNCPROF_OUT");
    if (out && *out) {
        if (strlen(out) >= sizeof out_dir - 64) {
            fprintf(stderr, "syncprof: ignoring SYNCPROF_OUT: path too long\n");
        } else {
            strcpy(out_dir, out);
            atexit(write_profiles_at_exit);
        }
    }
}
