/*
 * config.h - the library's set-up at load (each module reads its own
 * variables through env.h, called in one order from here) and the
 * profiles written at exit.
 */
#ifndef SP_CONFIG_H
#define SP_CONFIG_H

#include <stdbool.h>

/*
 * The constructor: reads the profiles' variables, then calls each module's
 * reading of its own (declared in its header: report_sink.h, thread_dump.h,
 * dump_signal.h, lock_tracking.h, watchdog.h, http_endpoint.h,
 * trace_session.h), in that order.
 */
void sp_configure_from_environment(void);

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
