/*
 * report_sink.h - where reports go: the file SYNCPROF_DUMP names (appended
 * to), or stderr when it is unset or cannot be opened.
 *
 * Thread safety: any thread, never a signal handler (open may allocate in
 * the C library). A report is written with as few write calls as it takes
 * (sp_write_all); reports from several threads at once may interleave only
 * when a single report exceeds what one write takes.
 */
#ifndef SP_REPORT_SINK_H
#define SP_REPORT_SINK_H

#include <stddef.h>

/* Opens the destination for one report: a descriptor, 2 (stderr) when
 * SYNCPROF_DUMP is unset or cannot be opened. Close with sp_report_close. */
int sp_report_open(void);
void sp_report_close(int fd);

/* Writes a finished report to the destination. */
void sp_report_text(const char *text, size_t len);

/* Reads SYNCPROF_DUMP, once at load (config.c). */
void sp_report_destination_from_environment(void);

#endif /* SP_REPORT_SINK_H */
