/*
 * report_sink.c - where reports go (report_sink.h): the file SYNCPROF_DUMP
 * names, appended to, or stderr. Hang and deadlock reports, lock-order
 * inversions and signalled dumps all end here.
 *
 * SYNCPROF_DUMP is read once at load, before any report can be made, and
 * never written after: no lock. Each report opens and closes the file, so
 * a file moved or removed while the program runs is made again.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "env.h"
#include "format_common.h"
#include "report_sink.h"

static char report_path[PATH_MAX]; /* SYNCPROF_DUMP; set once at load */

int sp_report_open(void)
{
    int fd = report_path[0] ? open(report_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666) : -1;
    return fd >= 0 ? fd : 2;
}

void sp_report_close(int fd)
{
    if (fd != 2)
        close(fd);
}

void sp_report_text(const char *text, size_t len)
{
    int fd = sp_report_open();
    sp_write_all(fd, text, len);
    sp_report_close(fd);
}

void sp_report_destination_from_environment(void)
{
    const char *p = sp_getenv("SYNCPROF_DUMP");
    if (!p || !*p)
        return;
    if (strlen(p) >= sizeof report_path)
        fprintf(stderr, "syncprof: ignoring SYNCPROF_DUMP: path too long\n");
    else
        strcpy(report_path, p);
}
