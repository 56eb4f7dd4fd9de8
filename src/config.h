/*
 * config.h - the library's set-up at load (each module reads its own
 * variables through env.h, called in one order from here) and the
 * profiles written at exit.
 */
#ifndef SP_CONFIG_H
#define SP_CONFIG_H

#include <stdbool.h>

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
void sp_trace_from_environment(void);            /* SYNCPROF_TRACE, SYNCPROF_TRACE_MIN */

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
