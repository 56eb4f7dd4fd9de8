/*
 * test_report_hostile.c - `syncprof report` on files made to hurt it.
 *
 * Specification (cli/cli_report.c, "Bounds"): memory
 * and time stay a small constant times the input (a location's inlined
 * frames are stored once, whatever the number of references to it;
 * mappings are found by binary search); values and totals saturate at
 * int64 instead of overflowing (no undefined behaviour: the ASan+UBSan
 * build runs these same files); every failure prints one line and exits
 * with status 1.
 *
 * The files are built here with a small protobuf writer (field numbers
 * from src/profile.proto). Each run of the command is a child with a time
 * limit, measured with wait4 (CPU time, peak resident memory).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "profile_reader.h"

#define SP_TOOL TOOLS_DIR "/syncprof"

/* Sanitizer builds run the same files, slower and with a larger
 * footprint: time and memory bounds are then scaled. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif
#define TIME_SCALE (SANITIZED ? 6 : 1)

/* ---- A protobuf writer ---------------------------------------------------- */

struct pbw {
    unsigned char *b;
    size_t n, cap;
};

static void put(struct pbw *w, const void *d, size_t n)
{
    if (w->n + n > w->cap) {
        while (w->n + n > w->cap)
            w->cap = w->cap ? w->cap * 2 : 4096;
        w->b = realloc(w->b, w->cap);
        cr_assert(w->b);
    }
    memcpy(w->b + w->n, d, n);
    w->n += n;
}

static void varint(struct pbw *w, uint64_t v)
{
    unsigned char c;
    while (v >= 0x80) {
        c = (unsigned char)(v | 0x80);
        put(w, &c, 1);
        v >>= 7;
    }
    c = (unsigned char)v;
    put(w, &c, 1);
}

static void field_varint(struct pbw *w, unsigned field, uint64_t v)
{
    varint(w, field << 3);
    varint(w, v);
}

static void field_bytes(struct pbw *w, unsigned field, const void *d, size_t n)
{
    varint(w, field << 3 | 2);
    varint(w, n);
    put(w, d, n);
}

/* Appends sub as field of w, and empties sub for the next one. */
static void field_msg(struct pbw *w, unsigned field, struct pbw *sub)
{
    field_bytes(w, field, sub->b, sub->n);
    sub->n = 0;
}

static void strings(struct pbw *w, const char *const *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        field_bytes(w, 6, s[i], strlen(s[i]));
}

/* sample_type entries (type, unit) by string index, two of them. */
static void contention_types(struct pbw *w, uint64_t t1, uint64_t u1, uint64_t t2, uint64_t u2)
{
    struct pbw vt = { 0 };
    field_varint(&vt, 1, t1);
    field_varint(&vt, 2, u1);
    field_msg(w, 1, &vt);
    field_varint(&vt, 1, t2);
    field_varint(&vt, 2, u2);
    field_msg(w, 1, &vt);
    free(vt.b);
}

/* A sample: location ids (packed), values (packed). */
static void sample(struct pbw *w, const uint64_t *locs, size_t nlocs, const int64_t *values,
                   size_t nvalues)
{
    struct pbw s = { 0 }, packed = { 0 };
    for (size_t i = 0; i < nlocs; i++)
        varint(&packed, locs[i]);
    field_msg(&s, 1, &packed);
    for (size_t i = 0; i < nvalues; i++)
        varint(&packed, (uint64_t)values[i]);
    field_msg(&s, 2, &packed);
    field_msg(w, 2, &s);
    free(s.b);
    free(packed.b);
}

static void function(struct pbw *w, uint64_t id, uint64_t name)
{
    struct pbw f = { 0 };
    field_varint(&f, 1, id);
    field_varint(&f, 2, name);
    field_msg(w, 5, &f);
    free(f.b);
}

/* A location with nlines lines, all of function fn. */
static void location(struct pbw *w, uint64_t id, uint64_t mapping, uint64_t addr, size_t nlines,
                     uint64_t fn)
{
    struct pbw l = { 0 }, line = { 0 };
    field_varint(&l, 1, id);
    if (mapping)
        field_varint(&l, 2, mapping);
    if (addr)
        field_varint(&l, 3, addr);
    for (size_t i = 0; i < nlines; i++) {
        field_varint(&line, 1, fn);
        field_msg(&l, 4, &line);
    }
    field_msg(w, 4, &l);
    free(l.b);
    free(line.b);
}

static const char *const contention_strings[] = { "", "contentions", "count", "delay",
                                                  "nanoseconds", "f", "g", "h", "libx.so" };
enum { S_CONTENTIONS = 1, S_COUNT, S_DELAY, S_NS, S_F, S_G, S_H, S_LIBX };

static struct pbw contention_profile(void)
{
    struct pbw w = { 0 };
    strings(&w, contention_strings, sizeof contention_strings / sizeof contention_strings[0]);
    contention_types(&w, S_CONTENTIONS, S_COUNT, S_DELAY, S_NS);
    return w;
}

/* Writes data into dir/name, gzip-compressed when gz; the file's size. */
static size_t write_file(const char *dir, const char *name, const void *data, size_t n, bool gz,
                         char *path, size_t pathsz)
{
    snprintf(path, pathsz, "%s/%s", dir, name);
    if (gz) {
        gzFile f = gzopen(path, "wb9");
        cr_assert(f);
        cr_assert_eq(gzwrite(f, data, (unsigned)n), (int)n);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        cr_assert(f);
        cr_assert_eq(fwrite(data, 1, n, f), n);
        fclose(f);
    }
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    return (size_t)st.st_size;
}

/* ---- Running the command -------------------------------------------------- */

struct run {
    int status;        /* exit status; -1 if killed (time limit or signal) */
    int64_t ns;        /* CPU time (user and system): not what other load adds */
    long maxrss_kb;    /* peak resident memory */
    char *out, *err;   /* what it printed */
};

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    cr_assert(b);
    b[fread(b, 1, (size_t)n, f)] = '\0';
    fclose(f);
    return b;
}

/* syncprof report ARGS... (up to five, the rest NULL) with stdout and
 * stderr in files of dir, killed after limit_s; data_limit > 0 sets
 * RLIMIT_DATA. */
static struct run report5(const char *dir, int limit_s, rlim_t data_limit, const char *a1,
                          const char *a2, const char *a3, const char *a4, const char *a5)
{
    char out[256], err[256];
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(err, sizeof err, "%s/err", dir);
    int64_t t0 = tp_now_ns();
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(o, 1);
        dup2(e, 2);
        if (data_limit) {
            struct rlimit rl = { data_limit, data_limit };
            setrlimit(RLIMIT_DATA, &rl);
        }
        execl(SP_TOOL, "syncprof", "report", a1, a2, a3, a4, a5, (char *)NULL);
        _exit(127);
    }
    struct run r = { .status = -1 };
    struct rusage ru;
    int st = 0;
    for (;;) {
        pid_t w = wait4(pid, &st, WNOHANG, &ru);
        if (w == pid)
            break;
        if (tp_now_ns() - t0 > (int64_t)limit_s * 1000000000LL) {
            kill(pid, SIGKILL);
            wait4(pid, &st, 0, &ru);
            break;
        }
        tp_sleep_ns(2000000);
    }
    r.ns = (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
           (int64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
    r.maxrss_kb = ru.ru_maxrss;
    if (WIFEXITED(st))
        r.status = WEXITSTATUS(st);
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
}

static struct run report(const char *dir, int limit_s, rlim_t data_limit, const char *a1,
                         const char *a2, const char *a3)
{
    return report5(dir, limit_s, data_limit, a1, a2, a3, NULL, NULL);
}

static void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
}

static int lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void tmpdir(char dir[64])
{
    snprintf(dir, 64, "/tmp/syncprof-hostile-XXXXXX");
    cr_assert(mkdtemp(dir));
}

static void rmdir_all(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
}

/* ---- Amplification --------------------------------------------------------- */

#define INLINE_LINES 5000
#define REFERENCES 20000

/* One location with 5,000 inlined lines, referenced 20,000 times by one
 * sample (one_sample) or by 20,000 samples. */
static struct pbw amplifying(bool one_sample)
{
    struct pbw w = contention_profile();
    function(&w, 1, S_F);
    location(&w, 1, 0, 0x1000, INLINE_LINES, 1);
    static uint64_t refs[REFERENCES];
    for (size_t i = 0; i < REFERENCES; i++)
        refs[i] = 1;
    int64_t v[2] = { 1, 1000 };
    if (one_sample)
        sample(&w, refs, REFERENCES, v, 2);
    else
        for (size_t i = 0; i < REFERENCES; i++)
            sample(&w, refs, 1, v, 2);
    return w;
}

Test(report_hostile, amplifying_inline_expansion_is_shared, .timeout = 120)
{
    char dir[64], path[128];
    tmpdir(dir);
    struct pbw w = amplifying(true);
    size_t size = write_file(dir, "amp.pb.gz", w.b, w.n, true, path, sizeof path);
    cr_log_info("the amplifying file: %zu bytes (%zu decompressed)", size, w.n);
    cr_expect_lt(size, 400, "%zu bytes", size);
    free(w.b);

    /* 100,000,000 frames in one stack: reported in under 1 s and 100 MB. */
    struct run r = report(dir, 30, 0, path, NULL, NULL);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect_lt(r.ns, 1000000000LL * TIME_SCALE, "%lld ns", (long long)r.ns);
    if (!SANITIZED)
        cr_expect_lt(r.maxrss_kb, 100 * 1024, "%ld KiB", r.maxrss_kb);
    cr_expect(strstr(r.out, "1 stacks, total 1.00us in 1 events"), "%s", r.out);
    /* the table shows a run of one repeated frame once (readable stacks);
     * what matters here is that it got there in bounded time and memory */
    cr_expect(strstr(r.out, "100.0%           1  f\n") && strlen(r.out) < 4096, "%s", r.out);
    run_free(&r);

    /* The same profile as the fuzz corpus keeps it: 214 bytes. */
    const char *seed = TESTS_SOURCE_DIR "/fuzz/corpus/report/amplifying.pb.gz";
    struct stat st;
    cr_expect(stat(seed, &st) == 0 && st.st_size == 214, "%s", seed);
    r = report(dir, 30, 0, seed, NULL, NULL);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect_lt(r.ns, 1000000000LL * TIME_SCALE, "%lld ns", (long long)r.ns);
    if (!SANITIZED)
        cr_expect_lt(r.maxrss_kb, 100 * 1024, "%ld KiB", r.maxrss_kb);
    cr_expect(strstr(r.out, "1 stacks, total 1.00us in 1 events"), "%s", r.out);
    run_free(&r);

    /* --folded and --text print at most 4096 frames of it. */
    r = report(dir, 30, 0, "--folded", path, NULL);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect_lt(r.ns, 1000000000LL * TIME_SCALE, "%lld ns", (long long)r.ns);
    cr_expect(strncmp(r.out, "(99995904 more frames);f;f;", 27) == 0, "%.80s", r.out);
    cr_expect_eq(lines(r.out), 1);
    cr_expect_eq(strlen(r.out), strlen("(99995904 more frames)") + 4096 * 2 + strlen(" 1000\n"));
    run_free(&r);
    r = report(dir, 30, 0, "--text", path, NULL);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "  ... (99995904 more frames)\n"), "%.200s", r.out);
    cr_expect_eq(lines(r.out), 1 + 4096 + 1 + 1);
    run_free(&r);

    /* 20,000 samples of it merge into one row, as fast. */
    w = amplifying(false);
    write_file(dir, "amp2.pb.gz", w.b, w.n, true, path, sizeof path);
    free(w.b);
    r = report(dir, 30, 0, path, "--depth", "3");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect_lt(r.ns, 1000000000LL * TIME_SCALE, "%lld ns", (long long)r.ns);
    if (!SANITIZED)
        cr_expect_lt(r.maxrss_kb, 100 * 1024, "%ld KiB", r.maxrss_kb);
    cr_expect(strstr(r.out, "1 stacks, total 20.00ms in 20000 events"), "%s", r.out);
    cr_expect(strstr(r.out, "100.0%       20000  f\n") && strlen(r.out) < 4096, "%s", r.out);
    run_free(&r);
    rmdir_all(dir);
}

#define DISTINCT 5000

/* 5,000 distinct stacks, each a function of its own above the same
 * location of 5,000 inlined lines: every row is 5,001 frames deep, and
 * printing them all would be 25,005,000 frames from some 200 KB. */
Test(report_hostile, printing_every_frame_stays_bounded, .timeout = 120)
{
    char dir[64], path[128];
    tmpdir(dir);
    struct pbw w = contention_profile();
    function(&w, 1, S_F);
    location(&w, 1, 0, 0x1000, INLINE_LINES, 1);
    for (uint64_t i = 0; i < DISTINCT; i++) {
        char name[32];
        snprintf(name, sizeof name, "g%" PRIu64, i);
        field_bytes(&w, 6, name, strlen(name)); /* string 9 + i */
        function(&w, 2 + i, 9 + i);
        location(&w, 2 + i, 0, 0x2000 + i, 1, 2 + i);
        uint64_t locs[2] = { 2 + i, 1 };
        int64_t v[2] = { 1, 1000 + (int64_t)i };
        sample(&w, locs, 2, v, 2);
    }
    size_t size = write_file(dir, "wide.pb.gz", w.b, w.n, true, path, sizeof path);
    cr_log_info("the wide file: %zu bytes (%zu decompressed)", size, w.n);
    free(w.b);
    static const char *const modes[] = { "--top 0 --depth 0", "--folded", "--text" };
    for (int m = 0; m < 3; m++) {
        struct run r = m == 0 ? report5(dir, 60, 0, path, "--top", "0", "--depth", "0")
                              : report(dir, 60, 0, modes[m], path, NULL);
        cr_expect_eq(r.status, 0, "%s", r.err);
        cr_expect_lt(r.ns, 1000000000LL * TIME_SCALE, "%s: %lld ns", modes[m], (long long)r.ns);
        if (!SANITIZED)
            cr_expect_lt(r.maxrss_kb, 100 * 1024, "%s: %ld KiB", modes[m], r.maxrss_kb);
        cr_expect_lt(strlen(r.out), 64u << 20, "%s: %zu bytes of output", modes[m], strlen(r.out));
        /* The heaviest stack still starts with its own function. */
        cr_expect(strstr(r.out, "g4999"), "%s", modes[m]);
        run_free(&r);
    }
    rmdir_all(dir);
}

#define MAPPINGS 100000

/* 100,000 mappings, and as many address-only locations, one per mapping,
 * each in a sample: every location needs its mapping's name. */
Test(report_hostile, many_mappings_are_found_by_binary_search, .timeout = 120)
{
    char dir[64], path[128];
    tmpdir(dir);
    struct pbw w = contention_profile(), m = { 0 };
    for (uint64_t i = 1; i <= MAPPINGS; i++) {
        field_varint(&m, 1, i);
        field_varint(&m, 2, i << 12);
        field_varint(&m, 3, (i + 1) << 12);
        field_varint(&m, 5, S_LIBX);
        field_msg(&w, 3, &m);
    }
    for (uint64_t i = 1; i <= MAPPINGS; i++)
        location(&w, i, MAPPINGS + 1 - i, ((MAPPINGS + 1 - i) << 12) + 0x10, 0, 0);
    for (uint64_t i = 1; i <= MAPPINGS; i++) {
        int64_t v[2] = { 1, (int64_t)i };
        sample(&w, &i, 1, v, 2);
    }
    size_t size = write_file(dir, "maps.pb", w.b, w.n, false, path, sizeof path);
    cr_log_info("the mappings file: %zu bytes", size);
    free(w.b);
    free(m.b);
    struct run r = report(dir, 60, 0, path, "--top", "2");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect_lt(r.ns, 1000000000LL * TIME_SCALE, "%lld ns", (long long)r.ns);
    cr_expect(strstr(r.out, "100000 stacks, total 5.00s in 100000 events"), "%s", r.out);
    /* The heaviest: sample 100000, location 100000, mapping 1. */
    cr_expect(strstr(r.out, "0x1010 (libx.so)"), "%s", r.out);
    run_free(&r);
    rmdir_all(dir);
}

/* ---- Totals ------------------------------------------------------------------ */

Test(report_hostile, huge_and_negative_values_saturate, .timeout = 120)
{
    char dir[64], path[128];
    tmpdir(dir);
    struct pbw w = contention_profile();
    function(&w, 1, S_F);
    function(&w, 2, S_G);
    function(&w, 3, S_H);
    location(&w, 1, 0, 0x1000, 1, 1);
    location(&w, 2, 0, 0x2000, 1, 2);
    location(&w, 3, 0, 0x3000, 1, 3);
    uint64_t f = 1, g = 2, h = 3;
    int64_t max[2] = { INT64_MAX, INT64_MAX }, min[2] = { INT64_MIN, INT64_MIN };
    int64_t minus[2] = { -5, -7 };
    sample(&w, &f, 1, max, 2); /* f: MAX + MAX, saturated */
    sample(&w, &f, 1, max, 2);
    sample(&w, &g, 1, max, 2); /* g: MAX + MIN = -1, exact */
    sample(&w, &g, 1, min, 2);
    sample(&w, &h, 1, minus, 2); /* h: negative */
    write_file(dir, "huge.pb.gz", w.b, w.n, true, path, sizeof path);
    free(w.b);

    /* The total, MAX*3 + MIN - 7, saturates: never "total -2ns". */
    struct run r = report(dir, 30, 0, path, NULL, NULL);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "3 stacks, total 9223372036.85s in 9223372036854775807 events"),
              "%s", r.out);
    cr_expect(!strstr(r.out, "-2ns"), "%s", r.out);
    run_free(&r);
    r = report(dir, 30, 0, "--folded", path, NULL);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect_str_eq(r.out, "f 9223372036854775807\n"); /* g and h: not > 0 */
    run_free(&r);
    r = report(dir, 30, 0, "--text", path, NULL);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "delay 9223372036.85s (100.0%), count 9223372036854775807"), "%s",
              r.out);
    cr_expect(strstr(r.out, "delay -9223372036.85s ("), "%s", r.out);
    cr_expect(strstr(r.out, "delay -7ns (-0.0%), count -5"), "%s", r.out);
    run_free(&r);

    /* All negative: the total saturates the other way. */
    w = contention_profile();
    function(&w, 1, S_F);
    location(&w, 1, 0, 0x1000, 1, 1);
    sample(&w, &f, 1, min, 2);
    sample(&w, &f, 1, min, 2);
    write_file(dir, "neg.pb", w.b, w.n, false, path, sizeof path);
    free(w.b);
    r = report(dir, 30, 0, path, NULL, NULL);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "total -9223372036.85s in -9223372036854775808 events"), "%s", r.out);
    run_free(&r);

    /* Go's text: a delay in cycles at 1 cycle per second is 10^9 times
     * larger in ns; numbers beyond int64 saturate. */
    static const char text[] =
        "--- mutex:\ncycles/second=1\nsampling period=1\n"
        "9223372036854775807 1 @ 0x1\n#\t0x1\tmain.f+0x0\t/f.go:1\n\n"
        "99999999999999999999 99999999999999999999 @ 0x2\n#\t0x2\tmain.g+0x0\t/g.go:2\n\n"
        "5 -99999999999999999999 @ 0x3\n#\t0x3\tmain.h+0x0\t/h.go:3\n";
    write_file(dir, "huge.txt", text, sizeof text - 1, false, path, sizeof path);
    r = report(dir, 30, 0, "--folded", path, NULL);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect_str_eq(r.out, "main.g 9223372036854775807\nmain.f 9223372036854775807\n"
                            "main.h 5000000000\n");
    run_free(&r);
    r = report(dir, 30, 0, path, NULL, NULL);
    cr_expect_eq(r.status, 0, "%s", r.err);
    /* Counts 1 + MAX + MIN = 0 exactly: summed in 128 bits. */
    cr_expect(strstr(r.out, "3 stacks, total 9223372036.85s in 0 events"), "%s", r.out);
    run_free(&r);
    rmdir_all(dir);
}

/* ---- Memory and failures -------------------------------------------------------- */

#define TEXT_RECORDS 15000

/* A valid Go text profile of about 13 MB in the shape of a real one: each
 * record distinct by its leaf's address, its callers drawn from a few
 * dozen frames that recur throughout. */
static size_t big_text(const char *dir, char *path, size_t pathsz)
{
    struct pbw w = { 0 };
    char line[512];
    unsigned seed = 1;
    const char *head = "--- mutex:\ncycles/second=1000000000\nsampling period=1\n";
    put(&w, head, strlen(head));
    for (int i = 0; i < TEXT_RECORDS; i++) {
        int k[5];
        for (int j = 0; j < 5; j++)
            k[j] = (int)(rand_r(&seed) % 64);
        int n = snprintf(line, sizeof line, "%d 1 @ 0x%x 0x%x 0x%x 0x%x 0x%x 0x%x\n", 1000 + i,
                         0x400000 + i, 0x500000 + k[0] * 16, 0x500000 + k[1] * 16,
                         0x500000 + k[2] * 16, 0x500000 + k[3] * 16, 0x500000 + k[4] * 16);
        put(&w, line, (size_t)n);
        n = snprintf(line, sizeof line,
                     "#\t0x%x\tsync.(*Mutex).Unlock+0x1f\t/usr/lib/go/src/sync/mutex.go:219\n",
                     0x400000 + i);
        put(&w, line, (size_t)n);
        for (int j = 0; j < 5; j++) {
            n = snprintf(line, sizeof line,
                         "#\t0x%x\tgithub.com/some/package/internal/server.(*Handler).Serve%d+0x1f\t"
                         "/home/build/src/github.com/some/package/internal/server/handler_%d.go:%d\n",
                         0x500000 + k[j] * 16, k[j], k[j], k[j] + 10);
            put(&w, line, (size_t)n);
        }
        put(&w, "\n", 1);
    }
    size_t size = write_file(dir, "big.txt", w.b, w.n, false, path, pathsz);
    free(w.b);
    return size;
}

Test(report_hostile, memory_is_a_small_multiple_of_the_input, .timeout = 120)
{
    char dir[64], path[128];
    tmpdir(dir);
    size_t size = big_text(dir, path, sizeof path);
    struct run r = report(dir, 60, 0, path, NULL, NULL);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_log_info("%zu bytes of text: %lld ms, %ld KiB", size, (long long)(r.ns / 1000000),
                r.maxrss_kb);
    cr_expect(strstr(r.out, "15000 stacks"), "%.300s", r.out);
    cr_expect_lt(r.ns, 3000000000LL * TIME_SCALE, "%lld ns", (long long)r.ns);
    if (!SANITIZED)
        cr_expect_lt((size_t)r.maxrss_kb * 1024, 2 * size + (8u << 20),
                     "%ld KiB for %zu bytes", r.maxrss_kb, size);
    run_free(&r);
    rmdir_all(dir);
}

Test(report_hostile, every_failure_is_one_line_and_status_1, .timeout = 120)
{
    char dir[64], path[128];
    tmpdir(dir);

    /* Out of memory (a data limit below what the file needs). */
    if (!SANITIZED) {
        size_t size = big_text(dir, path, sizeof path);
        struct run r = report(dir, 60, (rlim_t)size + (2u << 20), path, NULL, NULL);
        cr_expect_eq(r.status, 1, "status %d: %.300s", r.status, r.err);
        cr_expect_eq(lines(r.err), 1, "%s", r.err);
        cr_expect(strncmp(r.err, "syncprof report: ", 17) == 0 && strstr(r.err, "out of memory"),
                  "%s", r.err);
        run_free(&r);
    }

    /* Messages that decode into far more than the file: empty locations,
     * 2 bytes each in the file, some 80 in memory. Gzipped, 20 MB of
     * them is a few KB. */
    struct pbw w = contention_profile();
    size_t before = w.n;
    for (size_t i = 0; i < (20u << 20) / 2; i++)
        put(&w, "\x22\x00", 2);
    cr_assert_eq(w.n - before, 20u << 20);
    write_file(dir, "empty-locations.pb.gz", w.b, w.n, true, path, sizeof path);
    free(w.b);
    struct run r = report(dir, 60, 0, path, NULL, NULL);
    cr_expect_eq(r.status, 1, "status %d: %.300s", r.status, r.err);
    cr_expect_eq(lines(r.err), 1, "%s", r.err);
    cr_expect(strstr(r.err, "decoding it would take more than"), "%s", r.err);
    if (!SANITIZED)
        cr_expect_lt(r.maxrss_kb, 512 * 1024, "%ld KiB", r.maxrss_kb);
    run_free(&r);

    /* A sample that names a location the profile does not have. */
    w = contention_profile();
    uint64_t nowhere = 42;
    int64_t v[2] = { 1, 1 };
    sample(&w, &nowhere, 1, v, 2);
    write_file(dir, "dangling.pb", w.b, w.n, false, path, sizeof path);
    free(w.b);
    r = report(dir, 30, 0, path, NULL, NULL);
    cr_expect_eq(r.status, 1);
    cr_expect_eq(lines(r.err), 1, "%s", r.err);
    cr_expect(strstr(r.err, "names location 42 that the profile does not have"), "%s", r.err);
    run_free(&r);

    /* A name made to explode when demangled (each level doubles it) is
     * shown mangled, at once. */
    char mangled[4096] = "_Z1fI1ASt4pairIS0_S0_E";
    for (int i = 2; i < 30; i++) {
        char sub[16];
        snprintf(sub, sizeof sub, "S%c_", i < 10 ? '0' + i : 'A' + i - 10);
        strcat(mangled, "S1_I");
        strcat(mangled, sub);
        strcat(mangled, sub);
        strcat(mangled, "E");
    }
    strcat(mangled, "Evv");
    char text[8192];
    int n = snprintf(text, sizeof text, "--- mutex:\ncycles/second=1000000000\n1 1 @ 0x1\n#\t0x1\t%s+0x0\t/f.cc:1\n",
                     mangled);
    write_file(dir, "bomb.txt", text, (size_t)n, false, path, sizeof path);
    r = report(dir, 30, 0, "--folded", path, NULL);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect_lt(r.ns, 1000000000LL * TIME_SCALE, "%lld ns", (long long)r.ns);
    char want[4200];
    snprintf(want, sizeof want, "%s 1\n", mangled);
    cr_expect_str_eq(r.out, want);
    run_free(&r);
    rmdir_all(dir);
}
