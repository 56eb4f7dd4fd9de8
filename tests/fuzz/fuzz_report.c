/*
 * fuzz_report.c - libFuzzer target: `syncprof report` over arbitrary bytes,
 * through its real entry point (sp_cli_report) and its real file reading
 * (gzread of a file: here a memfd named by /proc/self/fd/N), so the pprof
 * decoder, the Go text parser, merging and every output are exercised.
 *
 * The input's size picks the output (table, --folded, --text, or the
 * table with --top 0 --depth 0), so the seeds stay plain profile files
 * that `syncprof report` also reads by hand. The report's own messages
 * go to /dev/null (a hostile file is refused with one line); sanitizer
 * reports still reach fd 2.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"

static int memfd = -1;
static FILE *quiet;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null < 0 || dup2(null, 1) < 0 || !(quiet = fdopen(null, "w")))
        abort();
    memfd = memfd_create("fuzz-report", MFD_CLOEXEC);
    if (memfd < 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    if (ftruncate(memfd, 0) != 0 || (size && pwrite(memfd, data, size, 0) != (ssize_t)size))
        abort();
    snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
    char *modes[][7] = {
        { "report", path, NULL },
        { "report", "--folded", path, NULL },
        { "report", "--text", path, NULL },
        { "report", "--top", "0", "--depth", "0", path, NULL },
    };
    int m = (int)(size % 4), argc = 0;
    while (modes[m][argc])
        argc++;
    FILE *saved = stderr;
    stderr = quiet;
    int st = sp_cli_report(argc, modes[m]);
    stderr = saved;
    if (st != 0 && st != 1)
        abort(); /* 2 is for bad options, which these are not */
    return 0;
}
