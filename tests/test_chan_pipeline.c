/*
 * test_chan_pipeline.c - the example pipeline's block profile points at its
 * slow stage (examples/pipeline.c, docs/channels.md).
 *
 * The pipeline is read -> parse -> resize (slow, ~1 ms per item, 200
 * items) -> write. Expected in its profile: the stage feeding the slow one
 * waits in syncprof_chan_send and the stage it feeds waits in
 * syncprof_chan_recv, each for most of the slow stage's 200 ms of work,
 * while stage_resize itself waits less than a tenth of that.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profile_reader.h"

#define SLOW_TOTAL_NS (200 * 1000000LL)

/* Sum of the delays of the records of text whose stack is [leaf, caller]. */
static int64_t delay_of(const char *text, const char *leaf, const char *caller)
{
    int64_t total = 0, delay = 0;
    int frame = 0;
    bool leaf_matches = false;
    char *copy = strdup(text), *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        long long d, n;
        if (sscanf(line, "%lld %lld @", &d, &n) == 2 && strstr(line, " @ ")) {
            delay = d;
            frame = 0;
            continue;
        }
        if (strncmp(line, "#\t", 2) != 0)
            continue;
        const char *name = strchr(line + 2, '\t');
        if (!name)
            continue;
        name++;
        const char *want = frame == 0 ? leaf : caller;
        size_t len = strlen(want);
        bool match = strncmp(name, want, len) == 0 && name[len] == '+';
        if (frame == 0)
            leaf_matches = match;
        else if (frame == 1 && leaf_matches && match)
            total += delay;
        frame++;
    }
    free(copy);
    return total;
}

Test(chan_pipeline, profile_points_at_the_slow_stage)
{
    char path[] = "/tmp/syncprof_pipeline_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s/pipeline %s", EXAMPLES_DIR, path);
    cr_assert_eq(tp_run(cmd, NULL), 0, "%s failed", cmd);

    char *text = NULL;
    snprintf(cmd, sizeof cmd, "cat %s", path);
    cr_assert_eq(tp_run(cmd, &text), 0);
    unlink(path);
    cr_assert(strncmp(text, "--- contention:\n", 16) == 0, "not a block profile:\n%s", text);

    int64_t feeder = delay_of(text, "syncprof_chan_send", "stage_parse");
    int64_t fed = delay_of(text, "syncprof_chan_recv", "stage_write");
    int64_t slow_send = delay_of(text, "syncprof_chan_send", "stage_resize");
    int64_t slow_recv = delay_of(text, "syncprof_chan_recv", "stage_resize");
    cr_expect_geq(feeder, SLOW_TOTAL_NS / 2, "stage_parse waited %lld ns to send:\n%s",
                  (long long)feeder, text);
    cr_expect_geq(fed, SLOW_TOTAL_NS / 2, "stage_write waited %lld ns to receive:\n%s",
                  (long long)fed, text);
    cr_expect_lt(slow_send + slow_recv, feeder / 10,
                 "the slow stage itself waited %lld + %lld ns:\n%s", (long long)slow_send,
                 (long long)slow_recv, text);
    free(text);
}
