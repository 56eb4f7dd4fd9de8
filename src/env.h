/*
 * env.h - reading the library's environment variables, for every module
 * that has some.
 *
 * The rules, everywhere: a SYNCPROF_* variable is read with sp_getenv and
 * nothing else; a variable that is set but bad prints one warning line on
 * stderr ("syncprof: ignoring NAME=\"value\": expected ...") and leaves the
 * default; nothing aborts the program.
 */
#ifndef SP_ENV_H
#define SP_ENV_H

#include <stdbool.h>
#include <sys/types.h>

/*
 * The value of NAME, or NULL when unset or when the process is privileged
 * (setuid, setgid or file capabilities: secure_getenv). The first call in
 * a privileged process whose environment has a SYNCPROF_* variable says on
 * stderr, once, that they are all ignored. Thread-safe.
 */
const char *sp_getenv(const char *name);

/* true with *out set when NAME is a whole decimal integer in [min, max];
 * false when unset, or bad (then with the warning). */
bool sp_env_int(const char *name, long long min, long long max, long long *out);

/* true with *out set when NAME is "1"/"true"/"yes"/"on" (true) or
 * "0"/"false"/"no"/"off" (false); false when unset, or bad (warning). */
bool sp_env_bool(const char *name, bool *out);

/* Prints the warning line for a bad value of NAME. */
void sp_env_warn(const char *name, const char *value, const char *expected);

/* Prints the warning line for a value of NAME that is well-formed but not
 * usable: "syncprof: ignoring NAME=\"value\": WHY". */
void sp_env_refuse(const char *name, const char *value, const char *why);

/*
 * Creates directory PATH with MODE (less the umask), and its missing
 * parents, as `mkdir -p`. 0 when it exists as a directory afterwards (also
 * when it did before), else the errno of the step that failed (ENOTDIR when
 * a component is not a directory).
 */
int sp_mkdir_p(const char *path, mode_t mode);


#endif /* SP_ENV_H */
