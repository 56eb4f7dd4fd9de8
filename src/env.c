/*
 * env.c - reading the library's SYNCPROF_* environment variables (see
 * env.h), and creating the directories they name.
 *
 * Every variable is read through sp_getenv, which sees none in a
 * privileged process (setuid, setgid, file capabilities: AT_SECURE):
 * whoever starts such a program must not be able to make it write files,
 * append dumps or listen on a port with its privileges.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include "env.h"

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

/* Set by the first sp_getenv call: the privileged-process notice is then
 * printed, or known to be not needed. */
static bool privilege_checked;

static bool any_syncprof_variable(void)
{
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, "SYNCPROF_", 9) == 0)
            return true;
    return false;
}

const char *sp_getenv(const char *name)
{
    if (getauxval(AT_SECURE) != 0 &&
        !__atomic_exchange_n(&privilege_checked, true, __ATOMIC_ACQ_REL) && any_syncprof_variable())
        fprintf(stderr, "syncprof: privileged process (setuid, setgid or capabilities): "
                        "ignoring the SYNCPROF_* environment variables\n");
    return secure_getenv(name);
}

void sp_env_warn(const char *name, const char *value, const char *expected)
{
    fprintf(stderr, "syncprof: ignoring %s=\"%s\": expected %s\n", name, value, expected);
}

void sp_env_refuse(const char *name, const char *value, const char *why)
{
    fprintf(stderr, "syncprof: ignoring %s=\"%s\": %s\n", name, value, why);
}

bool sp_env_int(const char *name, long long min, long long max, long long *out)
{
    const char *s = sp_getenv(name);
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
    const char *s = sp_getenv(name);
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

/* mkdir, where an existing directory is success. */
static int mkdir_one(const char *path, mode_t mode)
{
    struct stat st;
    if (mkdir(path, mode) == 0)
        return 0;
    int e = errno;
    if (e != EEXIST)
        return e;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

int sp_mkdir_p(const char *path, mode_t mode)
{
    char p[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0)
        return ENOENT;
    if (n >= sizeof p)
        return ENAMETOOLONG;
    memcpy(p, path, n + 1);
    for (char *slash = strchr(p + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        if (slash[-1] == '/')
            continue; /* "a//b" */
        *slash = '\0';
        int e = mkdir_one(p, mode);
        *slash = '/';
        if (e != 0)
            return e;
    }
    return mkdir_one(p, mode);
}

