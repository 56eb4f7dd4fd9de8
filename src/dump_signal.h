/*
 * dump_signal.h - dumps on a signal (syncprof_dump_on_signal in
 * <syncprof/dump.h>): what config.c calls at load.
 */
#ifndef SP_DUMP_SIGNAL_H
#define SP_DUMP_SIGNAL_H

/* Reads SYNCPROF_DUMP_SIGNAL and SYNCPROF_DUMP_EXIT, once at load. */
void sp_dump_signal_from_environment(void);

#endif /* SP_DUMP_SIGNAL_H */
