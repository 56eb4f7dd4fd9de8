/*
 * test_preload_real.c - real multithreaded programs from Debian under
 * `syncprof run` with its defaults: the output is byte-identical to a run
 * without the profiler, the profiles parse with `go tool pprof -raw`, and
 * they hold samples in the program's own code.
 *   pigz -p 4    (package pigz) threads hand blocks over with mutexes and
 *                condition variables in the executable itself.
 *   xz -T4       (package xz-utils, priority required: on every Debian)
 *                its multithreaded encoder synchronises in liblzma.so.5,
 *                so this also checks calls made from a shared library.
 * The input is `seq 1 4000000` (about 30 MB), generated per test.
 * Skipped under AddressSanitizer (see test_preload.c).
 */
#include "preload_support.h"

#ifdef __SANITIZE_ADDRESS__

Test(preload_real, skipped_under_asan)
{
    cr_skip_test("LD_PRELOAD of an ASan-built interposer into uninstrumented programs");
}

#else

/*
 * True if `go tool pprof -raw` parses path and one of its samples has a
 * location in a mapping whose file name contains mapping_name.
 */
static bool samples_in_mapping(const char *path, const char *mapping_name)
{
    char *raw;
    int st = ps_sh(&raw, "%s tool pprof -raw '%s' 2>&1", GO_EXECUTABLE, path);
    cr_assert_eq(st, 0, "go tool pprof -raw %s: status %d\n%s", path, st, raw);
    /* Mappings: "K: 0xstart/0xlimit/0xoff /path buildid [..]" */
    char *maps = strstr(raw, "\nMappings\n"), *locs = strstr(raw, "\nLocations\n");
    char *samples = strstr(raw, "\nSamples:\n");
    cr_assert(maps && locs && samples, "%s", raw);
    long mapping = -1;
    for (char *l = maps + 10; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        char *nl = strchr(l, '\n');
        char *hit = strstr(l, mapping_name);
        if (hit && (!nl || hit < nl)) {
            mapping = strtol(l, NULL, 10);
            break;
        }
    }
    if (mapping < 0)
        return false;
    /* Locations: "    N: 0xaddr M=K ..."; remember those in mapping. */
    bool in[65536] = { false };
    char tag[32];
    snprintf(tag, sizeof tag, " M=%ld ", mapping);
    for (char *l = locs + 11; l < maps; l = strchr(l, '\n') + 1) {
        char *nl = strchr(l, '\n');
        char *hit = strstr(l, tag);
        long id = strtol(l, NULL, 10);
        if (hit && hit < nl && id > 0 && id < 65536)
            in[id] = true;
    }
    /* Samples: "   count  delay: id id id " */
    bool found = false;
    for (char *l = samples + 10; l < locs && !found; l = strchr(l, '\n') + 1) {
        char *colon = strchr(l, ':'), *nl = strchr(l, '\n');
        if (!colon || colon > nl)
            continue;
        for (char *p = colon + 1; p < nl && !found;) {
            char *end;
            long id = strtol(p, &end, 10);
            if (end == p)
                break;
            found = id > 0 && id < 65536 && in[id];
            p = end;
        }
    }
    free(raw);
    return found;
}

static void real_program(const char *cmd_fmt, const char *mapping_name, bool closes_stderr)
{
    char dir[64], path[4096], cmd[1024];
    ps_tmpdir(dir);
    cr_assert_eq(ps_sh(NULL, "seq 1 4000000 > '%s/in'", dir), 0);
    snprintf(cmd, sizeof cmd, cmd_fmt, dir);
    int st = ps_sh(NULL, "cd '%s' && timeout 120 %s > plain.out", dir, cmd);
    cr_assert_eq(st, 0, "%s: status %d", cmd, st);
    st = ps_sh(NULL, "cd '%s' && timeout 120 " SP_TOOL " run --out '%s/prof' -- %s > profiled.out"
               " 2> summary.txt", dir, dir, cmd);
    cr_assert_eq(st, 0, "syncprof run -- %s: status %d", cmd, st);
    cr_expect_eq(ps_sh(NULL, "cmp '%s/plain.out' '%s/profiled.out'", dir, dir), 0,
                 "output differs under the profiler");
    char sub[128];
    snprintf(sub, sizeof sub, "%s/prof", dir);
    cr_assert_eq(ps_profiles(sub, "block", 0, -1, path), 1);
    cr_expect(samples_in_mapping(path, mapping_name), "no block sample in %s", mapping_name);
    cr_assert_eq(ps_profiles(sub, "mutex", 0, -1, path), 1);
    samples_in_mapping(path, mapping_name); /* parses; holds whatever the run had */
    char *summary;
    ps_sh(&summary, "cat '%s/summary.txt'", dir);
    /* xz closes stderr itself before exit (to catch write errors), so
     * the interposer finds fd 2 closed and stays silent. */
    cr_expect(closes_stderr != !!strstr(summary, "syncprof: block profile (block rate 10000 ns)"),
              "%s", summary);
    free(summary);
}

Test(preload_real, pigz)
{
    real_program("pigz -p 4 -c in", "/pigz ", false);
}

Test(preload_real, xz)
{
    real_program("xz -T4 -1 --block-size=1MiB -c in", "liblzma", true);
}

#endif /* __SANITIZE_ADDRESS__ */
