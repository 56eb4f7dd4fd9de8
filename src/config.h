/*
 * config.h - reading the library's environment variables, for every module
 * that has some (each reads its own, in a constructor of its own file).
 *
 * The rules, everywhere: a SYNCPROF_* variable is read with sp_getenv and
 * nothing else; a variable that is set but bad prints one warning line on
 * stderr ("syncprof: ignoring NAME=\"value\": expected ...") and leaves the
 * default; nothing aborts the program.
 */
#ifndef SP_CONFIG_H
#define SP_CONFIG_H

#include <stdbool.h>

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
 * Each module's reading of its own variables, called once at load, in
 * this order, by config.c's constructor (sp_configure_from_environment).
 */
void sp_configure_from_environment(void);
void sp_dump_destination_from_environment(void); /* SYNCPROF_DUMP */
void sp_dump_signal_from_environment(void);      /* SYNCPROF_DUMP_SIGNAL, SYNCPROF_DUMP_EXIT */
void sp_lock_track_from_environment(void);       /* SYNCPROF_TRACK_LOCKS */
void sp_lock_order_from_environment(void);       /* SYNCPROF_LOCK_ORDER... */
void sp_watchdog_from_environment(void);         /* SYNCPROF_HANG_TIMEOUT, SYNCPROF_DEADLOCK_ABORT */
void sp_http_from_environment(void);             /* SYNCPROF_HTTP */

/*
 * Preload mode: set by the LD_PRELOAD interposer's constructor, which runs
 * before config.c's. Then SYNCPROF_OUT defaults to the current directory and
 * the interposer, not config.c, decides when profiles are written.
 */
extern bool sp_config_preload;

/*
 * Writes every enabled profile (mutex when its fraction is > 0, block when
 * its rate is > 0) into the output directory as <name>.<pid>.pb.gz, and calls
 * done(name, path, error, arg) for each. Returns how many it tried; 0 when
 * no output directory is configured. Calls malloc: not in a signal handler.
 */
int sp_config_write_profiles(void (*done)(const char *name, const char *path, int err, void *arg),
                             void *arg);

#endif /* SP_CONFIG_H */
