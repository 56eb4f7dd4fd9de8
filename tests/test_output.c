/*
 * test_output.c - the files are what Go writes and what go tool pprof reads.
 *
 * Specification: debug 1 text matches Go's header and record patterns (the
 * ones Go's own runtime/pprof tests use); go tool pprof -raw reads both
 * profiles in both formats, and the totals it reads are ours; the pprof
 * file names its functions itself and lists the executable's mapping with
 * its build id.
 */
#include <syncprof/pthread.h>

#include <criterion/criterion.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "profile_reader.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char dir[] = "/tmp/syncprof-output-XXXXXX";

static void make_contention(void)
{
    for (int i = 0; i < 5; i++)
        tp_contend_once(&mu, 2000000);
}

static void setup(void)
{
    syncprof_set_mutex_profile_fraction(1);
    syncprof_set_block_profile_rate(1);
    cr_assert(mkdtemp(dir));
    make_contention();
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    tp_run(cmd, NULL);
}

static bool matches(const char *text, const char *pattern)
{
    regex_t re;
    cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE | REG_NOSUB), 0, "%s", pattern);
    bool ok = regexec(&re, text, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

/* Every line of a record block has Go's shape. */
static void expect_go_records(const char *text)
{
    const char *record = "^[0-9]+ [0-9]+ @( 0x[0-9a-f]+)+$";
    const char *frame = "^#\t0x[0-9a-f]+(\t+[^\t]+\\+0x[0-9a-f]+(\t+[^\t]+:[0-9]+)?)?$";
    cr_expect(matches(text, record), "no record line in:\n%s", text);
    char *copy = strdup(text), *save = NULL;
    int lines = 0;
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save), lines++) {
        if (lines < 2 || strncmp(l, "sampling period=", 16) == 0)
            continue;
        cr_expect(matches(l, record) || matches(l, frame), "not Go's shape: \"%s\"", l);
    }
    free(copy);
}

Test(output, text_headers_are_gos, .init = setup, .fini = teardown)
{
    struct tp_profile m, b;
    tp_read("mutex", &m);
    tp_read("block", &b);
    cr_expect(matches(m.text, "^--- mutex:\ncycles/second=1000000000\nsampling period=1\n"),
              "%s", m.text);
    cr_expect(matches(b.text, "^--- contention:\ncycles/second=1000000000\n[0-9]"), "%s", b.text);
    expect_go_records(m.text);
    expect_go_records(b.text);
    /* Heaviest first. */
    for (size_t i = 1; i < b.n; i++)
        cr_expect(b.recs[i - 1].delay_ns >= b.recs[i].delay_ns);
    tp_free(&m);
    tp_free(&b);
}

/* go tool pprof -raw on a written file; returns its output. */
static char *pprof_raw(const char *name, int debug)
{
    char path[128], cmd[512];
    snprintf(path, sizeof path, "%s/%s.%s", dir, name, debug ? "txt" : "pb.gz");
    cr_assert_eq(syncprof_write_profile_file(name, path, debug), 0);
    snprintf(cmd, sizeof cmd, "%s tool pprof -raw %s 2>&1", GO_EXECUTABLE, path);
    char *out;
    int st = tp_run(cmd, &out);
    cr_assert_eq(st, 0, "%s failed:\n%s", cmd, out);
    return out;
}

/* The sum of the second value column of -raw's samples: the lines
 * "   <count>   <delay>: <location ids>" between "Samples:" and "Locations". */
static int64_t raw_delay_total(const char *raw)
{
    const char *s = strstr(raw, "Samples:");
    const char *end = strstr(raw, "Locations");
    cr_assert(s && end, "%s", raw);
    int64_t total = 0;
    for (; s && s < end; s = strchr(s + 1, '\n')) {
        long long count, delay;
        char colon;
        if (sscanf(s + 1, " %lld %lld%c", &count, &delay, &colon) == 3 && colon == ':')
            total += delay;
    }
    return total;
}

Test(output, go_reads_pprof_and_text, .init = setup, .fini = teardown)
{
    struct tp_profile m, b;
    tp_read("mutex", &m);
    tp_read("block", &b);
    for (int debug = 0; debug <= 1; debug++) {
        /* Go's reader names the frames of a text profile from the binary,
         * so only the pprof file is checked for our own names. */
        char *raw = pprof_raw("mutex", debug);
        cr_expect(debug || strstr(raw, "pthread_mutex_unlock"), "%s", raw);
        cr_expect(debug || strstr(raw, "tp_contend_once"), "%s", raw);
        cr_expect(strstr(raw, "contentions/count delay/nanoseconds"), "%s", raw);
        cr_expect_eq(raw_delay_total(raw), tp_total_delay(&m), "%s", raw);
        free(raw);
        raw = pprof_raw("block", debug);
        cr_expect(debug || strstr(raw, "pthread_mutex_lock"), "%s", raw);
        cr_expect(debug || strstr(raw, "tp_take_and_release"), "%s", raw);
        cr_expect_eq(raw_delay_total(raw), tp_total_delay(&b), "%s", raw);
        free(raw);
    }
    tp_free(&m);
    tp_free(&b);
}

Test(output, pprof_lists_mappings_with_build_ids, .init = setup, .fini = teardown)
{
    char *raw = pprof_raw("mutex", 0);
    char exe[512] = { 0 };
    cr_assert(readlink("/proc/self/exe", exe, sizeof exe - 1) > 0);
    const char *mappings = strstr(raw, "Mappings");
    cr_assert(mappings, "%s", raw);
    const char *line = strstr(mappings, exe);
    cr_expect(line, "the test executable %s is not among the mappings:\n%s", exe, mappings);

    /* Its build id is the one readelf reports. */
    char cmd[600], *note;
    snprintf(cmd, sizeof cmd, "readelf -n %s | sed -n 's/.*Build ID: //p'", exe);
    cr_assert_eq(tp_run(cmd, &note), 0);
    note[strcspn(note, "\n")] = '\0';
    cr_expect(strlen(note) > 0);
    cr_expect(strstr(mappings, note), "build id %s missing:\n%s", note, mappings);
    free(note);
    free(raw);
}
