/*
 * cli_report.c - `syncprof report FILE`: reads a profile written by syncprof
 * or by Go and prints its heaviest stacks, or folded stacks, with no Go
 * toolchain needed.
 *
 * Input: pprof protobuf, gzip-compressed or not (decoded with the
 * protobuf-c code generated from src/profile.proto, the writer's own), or
 * Go's debug=1 text ("--- mutex:", "--- contention:" with delays in
 * cycles/second units, "goroutine profile: total N"). zlib's gzread reads
 * both compressed and plain files. Anything else is refused with a message
 * naming the file, never a crash: lengths and string-table indexes are
 * checked before use.
 *
 * Model: each sample becomes (count, weight, frames leaf first). The
 * weight is the default sample type (delay/nanoseconds for mutex and block
 * profiles; the last sample type when none is marked, as pprof does); the
 * count is the first sample type counted in "count" units. A location
 * with inlined functions gives one frame per function, innermost first, as
 * pprof lists them. Stacks with the same frame names are merged (table and
 * folded output), so the rows agree with `go tool pprof -traces` grouped by
 * function.
 *
 * Memory: everything is malloc'd and freed at the end; the tool is
 * short-lived and single-threaded.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "cli.h"
#include "cli_table.h"
#include "profile.pb-c.h"

#define RP_MAX_INPUT (1u << 30) /* profiles are far smaller; a sanity bound */

struct rp_frame {
    char *name;     /* demangled */
    char *file;     /* NULL when unknown */
    int64_t line;
    uint64_t addr;  /* 0 when unknown */
};

struct rp_sample {
    int64_t count, weight;
    int nframes;
    struct rp_frame *frames;
    char *key;      /* the frame names joined, for merging */
};

struct rp_profile {
    char type[64];         /* "delay" */
    char unit[64];         /* "nanoseconds" */
    char kind[64];         /* "mutex", "block", "goroutine", or the pprof type */
    struct rp_sample *s;
    size_t n, cap;
};

/* ---- Reading the file ------------------------------------------------------- */

/* The whole file, gunzipped if it was compressed. NULL with a message. */
static unsigned char *read_file(const char *path, size_t *len)
{
    gzFile f = gzopen(path, "rb");
    if (!f) {
        fprintf(stderr, "syncprof report: cannot open %s: %s\n", path,
                errno ? strerror(errno) : "out of memory");
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    for (;;) {
        if (!buf)
            break;
        if (n == cap) {
            if (cap >= RP_MAX_INPUT) {
                fprintf(stderr, "syncprof report: %s: larger than 1 GiB\n", path);
                free(buf);
                gzclose(f);
                return NULL;
            }
            unsigned char *p = realloc(buf, cap *= 2);
            if (!p) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = p;
        }
        int r = gzread(f, buf + n, (unsigned)(cap - n));
        if (r < 0) {
            int err;
            const char *msg = gzerror(f, &err);
            fprintf(stderr, "syncprof report: %s: %s\n", path,
                    err == Z_ERRNO ? strerror(errno) : msg);
            free(buf);
            gzclose(f);
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    gzclose(f);
    if (!buf) {
        fprintf(stderr, "syncprof report: out of memory\n");
        return NULL;
    }
    *len = n;
    return buf;
}

/* ---- Samples ---------------------------------------------------------------- */

static struct rp_sample *add_sample(struct rp_profile *p)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        struct rp_sample *s = realloc(p->s, cap * sizeof *s);
        if (!s)
            return NULL;
        p->s = s;
        p->cap = cap;
    }
    struct rp_sample *s = &p->s[p->n++];
    memset(s, 0, sizeof *s);
    return s;
}

static bool add_frame(struct rp_sample *s, const char *name, const char *file, int64_t line,
                      uint64_t addr)
{
    if ((s->nframes & 15) == 0) {
        struct rp_frame *f = realloc(s->frames, (size_t)(s->nframes + 16) * sizeof *f);
        if (!f)
            return false;
        s->frames = f;
    }
    struct rp_frame *f = &s->frames[s->nframes];
    f->name = sp_demangle(name);
    f->file = file && *file ? strdup(file) : NULL;
    f->line = line;
    f->addr = addr;
    if (!f->name)
        return false;
    s->nframes++;
    return true;
}

static void free_profile(struct rp_profile *p)
{
    for (size_t i = 0; i < p->n; i++) {
        for (int j = 0; j < p->s[i].nframes; j++) {
            free(p->s[i].frames[j].name);
            free(p->s[i].frames[j].file);
        }
        free(p->s[i].frames);
        free(p->s[i].key);
    }
    free(p->s);
}

/* ---- pprof protobuf ----------------------------------------------------------- */

typedef Perftools__Profiles__Profile pb_profile;
typedef Perftools__Profiles__Location pb_location;
typedef Perftools__Profiles__Function pb_function;

static const char *str(const pb_profile *pb, int64_t i)
{
    return i >= 0 && (size_t)i < pb->n_string_table ? pb->string_table[i] : NULL;
}

static int by_location_id(const void *a, const void *b)
{
    uint64_t x = (*(pb_location *const *)a)->id, y = (*(pb_location *const *)b)->id;
    return x < y ? -1 : x > y;
}

static int by_function_id(const void *a, const void *b)
{
    uint64_t x = (*(pb_function *const *)a)->id, y = (*(pb_function *const *)b)->id;
    return x < y ? -1 : x > y;
}

static pb_location *find_location(pb_location **sorted, size_t n, uint64_t id)
{
    pb_location key = { .id = id }, *k = &key;
    pb_location **f = bsearch(&k, sorted, n, sizeof *sorted, by_location_id);
    return f ? *f : NULL;
}

static pb_function *find_function(pb_function **sorted, size_t n, uint64_t id)
{
    pb_function key = { .id = id }, *k = &key;
    pb_function **f = bsearch(&k, sorted, n, sizeof *sorted, by_function_id);
    return f ? *f : NULL;
}

/* The mapping's file name without its directory, or NULL. */
static const char *mapping_base(const pb_profile *pb, uint64_t id)
{
    for (size_t i = 0; i < pb->n_mapping; i++)
        if (pb->mapping[i]->id == id) {
            const char *f = str(pb, pb->mapping[i]->filename);
            if (!f || !*f)
                return NULL;
            const char *slash = strrchr(f, '/');
            return slash ? slash + 1 : f;
        }
    return NULL;
}

/* The frames of one location, innermost function first. */
static bool location_frames(const pb_profile *pb, const pb_location *loc, pb_function **funcs,
                            struct rp_sample *s)
{
    if (loc->n_line == 0) {
        char name[160];
        const char *m = mapping_base(pb, loc->mapping_id);
        if (m)
            snprintf(name, sizeof name, "0x%" PRIx64 " (%s)", loc->address, m);
        else
            snprintf(name, sizeof name, "0x%" PRIx64, loc->address);
        return add_frame(s, name, NULL, 0, loc->address);
    }
    for (size_t i = 0; i < loc->n_line; i++) {
        const pb_function *fn = find_function(funcs, pb->n_function, loc->line[i]->function_id);
        const char *name = fn ? str(pb, fn->name) : NULL;
        if (!add_frame(s, name && *name ? name : "?", fn ? str(pb, fn->filename) : NULL,
                       loc->line[i]->line, loc->address))
            return false;
    }
    return true;
}

/* Which sample value is the weight (the default type, else the last) and
 * which the count (the first other one in "count" units; -1: none). */
static void pick_values(const pb_profile *pb, size_t *weight, long *count)
{
    *weight = pb->n_sample_type - 1;
    const char *def = pb->default_sample_type ? str(pb, pb->default_sample_type) : NULL;
    for (size_t i = 0; def && i < pb->n_sample_type; i++) {
        const char *t = str(pb, pb->sample_type[i]->type);
        if (t && strcmp(t, def) == 0)
            *weight = i;
    }
    *count = -1;
    for (size_t i = 0; i < pb->n_sample_type && *count < 0; i++) {
        const char *u = str(pb, pb->sample_type[i]->unit);
        if (i != *weight && u && strcmp(u, "count") == 0)
            *count = (long)i;
    }
}

static bool valid_pprof(const pb_profile *pb)
{
    if (pb->n_string_table == 0 || pb->string_table[0][0] != '\0' || pb->n_sample_type == 0)
        return false;
    for (size_t i = 0; i < pb->n_sample_type; i++)
        if (!str(pb, pb->sample_type[i]->type) || !str(pb, pb->sample_type[i]->unit))
            return false;
    for (size_t i = 0; i < pb->n_sample; i++)
        if (pb->sample[i]->n_value != pb->n_sample_type)
            return false;
    return true;
}

/* 0, 1 (not a pprof profile: no message) or 2 (error, with a message). */
static int load_pprof(const unsigned char *buf, size_t len, struct rp_profile *p, const char *path)
{
    pb_profile *pb = perftools__profiles__profile__unpack(NULL, len, buf);
    if (!pb)
        return 1;
    if (!valid_pprof(pb)) {
        perftools__profiles__profile__free_unpacked(pb, NULL);
        return 1;
    }
    size_t w;
    long c;
    pick_values(pb, &w, &c);
    snprintf(p->type, sizeof p->type, "%s", str(pb, pb->sample_type[w]->type));
    snprintf(p->unit, sizeof p->unit, "%s", str(pb, pb->sample_type[w]->unit));
    const char *first = str(pb, pb->sample_type[0]->type);
    snprintf(p->kind, sizeof p->kind, "%s",
             strcmp(p->type, "delay") == 0 && strcmp(first, "contentions") == 0 ? "contention"
                                                                                 : p->type);

    pb_location **locs = malloc((pb->n_location + 1) * sizeof *locs);
    pb_function **funcs = malloc((pb->n_function + 1) * sizeof *funcs);
    int r = locs && funcs ? 0 : 2;
    if (r == 0) {
        memcpy(locs, pb->location, pb->n_location * sizeof *locs);
        memcpy(funcs, pb->function, pb->n_function * sizeof *funcs);
        qsort(locs, pb->n_location, sizeof *locs, by_location_id);
        qsort(funcs, pb->n_function, sizeof *funcs, by_function_id);
    }
    for (size_t i = 0; r == 0 && i < pb->n_sample; i++) {
        const Perftools__Profiles__Sample *smp = pb->sample[i];
        struct rp_sample *s = add_sample(p);
        if (!s) {
            r = 2;
            break;
        }
        s->weight = smp->value[w];
        s->count = c >= 0 ? smp->value[c] : smp->value[w];
        for (size_t j = 0; j < smp->n_location_id && r == 0; j++) {
            const pb_location *loc = find_location(locs, pb->n_location, smp->location_id[j]);
            if (!loc) {
                fprintf(stderr, "syncprof report: %s: sample %zu names location %" PRIu64
                        " that the profile does not have\n", path, i, smp->location_id[j]);
                r = 2;
            } else if (!location_frames(pb, loc, funcs, s)) {
                r = 2;
            }
        }
    }
    if (r == 2 && (!locs || !funcs))
        fprintf(stderr, "syncprof report: out of memory\n");
    free(locs);
    free(funcs);
    perftools__profiles__profile__free_unpacked(pb, NULL);
    return r;
}

/* ---- Go's debug=1 text ------------------------------------------------------- */

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* "#\t0x4a5b3c\tsync.(*Mutex).Unlock+0x3b\t/usr/lib/go/src/sync/mutex.go:219" */
static bool text_frame(char *line, struct rp_sample *s)
{
    char *fields[4] = { 0 };
    int n = 0;
    for (char *save = NULL, *t = strtok_r(line, "\t", &save); t && n < 4;
         t = strtok_r(NULL, "\t", &save))
        fields[n++] = t;
    if (n < 2)
        return true; /* "#" alone: nothing */
    uint64_t addr = strtoull(fields[1], NULL, 16);
    if (n == 2) {
        char name[40];
        snprintf(name, sizeof name, "0x%" PRIx64, addr);
        return add_frame(s, name, NULL, 0, addr);
    }
    char *plus = strstr(fields[2], "+0x");
    for (char *q = plus; q; q = strstr(q + 1, "+0x"))
        plus = q; /* the last one: names may hold "+0x" */
    if (plus)
        *plus = '\0';
    char *file = NULL;
    int64_t lineno = 0;
    if (n >= 4) {
        char *colon = strrchr(fields[3], ':');
        if (colon) {
            *colon = '\0';
            lineno = strtoll(colon + 1, NULL, 10);
        }
        file = strcmp(fields[3], "?") == 0 ? NULL : fields[3];
    }
    return add_frame(s, fields[2], file, lineno, addr);
}

/* 0, 1 (not Go text) or 2 (error, with a message). */
static int load_text(char *text, struct rp_profile *p, const char *path)
{
    bool count_only;
    if (starts(text, "--- mutex:") || starts(text, "--- contention:")) {
        count_only = false;
        snprintf(p->kind, sizeof p->kind, "%s", starts(text, "--- mutex:") ? "mutex" : "block");
        snprintf(p->type, sizeof p->type, "delay");
        snprintf(p->unit, sizeof p->unit, "nanoseconds");
    } else if (starts(text, "goroutine profile: total ")) {
        count_only = true;
        snprintf(p->kind, sizeof p->kind, "goroutine");
        snprintf(p->type, sizeof p->type, "goroutine");
        snprintf(p->unit, sizeof p->unit, "count");
    } else {
        return 1;
    }
    double cycles_per_ns = 1;
    struct rp_sample *cur = NULL;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        long long a, b;
        if (starts(line, "cycles/second=")) {
            double cps = strtod(line + 14, NULL);
            if (cps > 0)
                cycles_per_ns = cps / 1e9;
        } else if (line[0] >= '0' && line[0] <= '9' && strstr(line, " @")) {
            int got = sscanf(line, "%lld %lld", &a, &b);
            if (got < 1 || (!count_only && got < 2)) {
                fprintf(stderr, "syncprof report: %s: bad record line \"%.60s\"\n", path, line);
                return 2;
            }
            if (!(cur = add_sample(p)))
                return 2;
            cur->count = count_only ? a : b;
            cur->weight = count_only ? a : (int64_t)((double)a / cycles_per_ns + 0.5);
        } else if (line[0] == '#' && line[1] == '\t' && cur) {
            if (!text_frame(line, cur))
                return 2;
        }
    }
    return 0;
}

/* ---- Merging and printing ------------------------------------------------------ */

/* "name;name;..." leaf first: what makes two stacks the same row. */
static bool make_key(struct rp_sample *s)
{
    size_t len = 1;
    for (int i = 0; i < s->nframes; i++)
        len += strlen(s->frames[i].name) + 1;
    s->key = malloc(len);
    if (!s->key)
        return false;
    char *p = s->key;
    *p = '\0';
    for (int i = 0; i < s->nframes; i++)
        p += sprintf(p, "%s%s", i ? ";" : "", s->frames[i].name);
    return true;
}

static int by_key(const void *a, const void *b)
{
    return strcmp(((const struct rp_sample *)a)->key, ((const struct rp_sample *)b)->key);
}

static int by_weight(const void *a, const void *b)
{
    const struct rp_sample *x = a, *y = b;
    if (x->weight != y->weight)
        return x->weight > y->weight ? -1 : 1;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->key, y->key);
}

/* Merges samples with the same frame names into the first of them (the
 * others keep their frames, for freeing, with zero values, and are not
 * printed), then orders them heaviest first. */
static bool merge(struct rp_profile *p, bool same_names)
{
    for (size_t i = 0; i < p->n; i++)
        if (!make_key(&p->s[i]))
            return false;
    if (same_names) {
        qsort(p->s, p->n, sizeof *p->s, by_key);
        for (size_t i = 0, first = 0; i < p->n; i++) {
            if (i == 0 || strcmp(p->s[first].key, p->s[i].key) != 0) {
                first = i;
                continue;
            }
            p->s[first].weight += p->s[i].weight;
            p->s[first].count += p->s[i].count;
            p->s[i].weight = p->s[i].count = 0;
        }
    }
    qsort(p->s, p->n, sizeof *p->s, by_weight);
    return true;
}

static void print_folded(const struct rp_profile *p)
{
    for (size_t i = 0; i < p->n; i++) {
        const struct rp_sample *s = &p->s[i];
        if (s->weight <= 0)
            continue;
        for (int j = s->nframes - 1; j >= 0; j--)
            printf("%s%s", s->frames[j].name, j ? ";" : "");
        if (s->nframes == 0)
            printf("(no frames)");
        printf(" %" PRId64 "\n", s->weight);
    }
}

static bool weight_is_ns(const struct rp_profile *p)
{
    return strcmp(p->unit, "nanoseconds") == 0;
}

static void print_weight(const struct rp_profile *p, int64_t w, char *buf, size_t len)
{
    if (weight_is_ns(p))
        sp_format_duration(w, buf, len);
    else
        snprintf(buf, len, "%" PRId64, w);
}

static void print_full(const struct rp_profile *p, size_t top, int64_t total)
{
    size_t shown = 0;
    for (size_t i = 0; i < p->n && (top == 0 || shown < top); i++) {
        const struct rp_sample *s = &p->s[i];
        if (s->weight == 0 && s->count == 0)
            continue;
        char w[32];
        print_weight(p, s->weight, w, sizeof w);
        printf("%s %s (%.1f%%), count %" PRId64 "\n", p->type, w,
               total > 0 ? 100.0 * (double)s->weight / (double)total : 0.0, s->count);
        for (int j = 0; j < s->nframes; j++) {
            const struct rp_frame *f = &s->frames[j];
            printf("  0x%-14" PRIx64 " %s", f->addr, f->name);
            if (f->file)
                printf("  %s:%" PRId64, f->file, f->line);
            printf("\n");
        }
        printf("\n");
        shown++;
    }
}

static int print_table(const struct rp_profile *p, const char *path, size_t top, int depth,
                       int64_t total, int64_t events)
{
    size_t rows_n = 0;
    struct sp_stack_row *rows = calloc(p->n + 1, sizeof *rows);
    const char ***names = calloc(p->n + 1, sizeof *names);
    bool ok = rows && names;
    for (size_t i = 0; ok && i < p->n; i++) {
        const struct rp_sample *s = &p->s[i];
        if (s->weight == 0 && s->count == 0)
            continue;
        names[rows_n] = malloc(((size_t)s->nframes + 1) * sizeof **names);
        if (!(ok = names[rows_n] != NULL))
            break;
        for (int j = 0; j < s->nframes; j++)
            names[rows_n][j] = s->frames[j].name;
        rows[rows_n] = (struct sp_stack_row){ s->weight, s->count, s->nframes, names[rows_n] };
        rows_n++;
    }
    char w[32];
    print_weight(p, total, w, sizeof w);
    printf("File: %s\nType: %s %s (%s); %zu stacks, total %s in %" PRId64 " events\n", path,
           p->kind, p->type, p->unit, rows_n, w, events);
    struct sp_table_opts o = { .top = top, .depth = depth, .oneline = false,
                               .weight_is_ns = weight_is_ns(p), .weight_title = p->type };
    char *table = ok ? sp_table_format(rows, rows_n, total, &o) : NULL;
    if (table)
        fputs(table, stdout);
    for (size_t i = 0; i < rows_n; i++)
        free((void *)names[i]);
    free(names);
    free(rows);
    free(table);
    if (!table) {
        fprintf(stderr, "syncprof report: out of memory\n");
        return 1;
    }
    return 0;
}

/* ---- The command ------------------------------------------------------------- */

int sp_cli_report(int argc, char **argv)
{
    enum { TOP = 1000, DEPTH, FOLDED, TEXT };
    static const struct option opts[] = {
        { "top", required_argument, NULL, TOP },
        { "depth", required_argument, NULL, DEPTH },
        { "folded", no_argument, NULL, FOLDED },
        { "text", no_argument, NULL, TEXT },
        { NULL, 0, NULL, 0 },
    };
    long top = 10, depth = 8;
    bool folded = false, full = false;
    const char *path = NULL;
    char *end;
    int c;

    optind = 1;
    opterr = 0;
    /* Options may come before or after the file ("-": in order, the file
     * comes back as option 1). */
    while ((c = getopt_long(argc, argv, "-:", opts, NULL)) != -1) {
        switch (c) {
        case 1:
            if (path) {
                fprintf(stderr, "syncprof report: one file at a time (got %s and %s)\n", path,
                        optarg);
                return 2;
            }
            path = optarg;
            break;
        case TOP:
        case DEPTH: {
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end || v < 0 || v > 1000000) {
                fprintf(stderr, "syncprof report: %s wants an integer >= 0, not \"%s\"\n",
                        c == TOP ? "--top" : "--depth", optarg);
                return 2;
            }
            *(c == TOP ? &top : &depth) = v;
            break;
        }
        case FOLDED:
            folded = true;
            break;
        case TEXT:
            full = true;
            break;
        case ':':
            fprintf(stderr, "syncprof report: option %s needs a value\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "syncprof report: unknown option \"%s\" (see syncprof --help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "syncprof report: no profile file given (see syncprof --help)\n");
        return 2;
    }
    if (folded && full) {
        fprintf(stderr, "syncprof report: --folded and --text are exclusive\n");
        return 2;
    }

    size_t len;
    unsigned char *buf = read_file(path, &len);
    if (!buf)
        return 1;
    struct rp_profile p = { 0 };
    int r = 1;
    if (len > 0) {
        /* Text first: a text file is never a valid profile.proto, but
         * checking the header costs nothing. */
        char *text = malloc(len + 1);
        if (text) {
            memcpy(text, buf, len);
            text[len] = '\0';
            r = memchr(buf, '\0', len) ? 1 : load_text(text, &p, path);
            free(text);
        }
        if (r == 1)
            r = load_pprof(buf, len, &p, path);
    }
    free(buf);
    if (r == 1)
        fprintf(stderr, "syncprof report: %s is not a profile (expected pprof protobuf, "
                "gzipped or not, or Go's debug=1 text)\n", path);
    if (r != 0 || !merge(&p, !full)) {
        free_profile(&p);
        return 1;
    }

    int64_t total = 0, events = 0;
    for (size_t i = 0; i < p.n; i++) {
        total += p.s[i].weight;
        events += p.s[i].count;
    }
    int status = 0;
    if (folded)
        print_folded(&p);
    else if (full)
        print_full(&p, (size_t)top, total);
    else
        status = print_table(&p, path, (size_t)top, (int)depth, total, events);
    free_profile(&p);
    if (fflush(stdout) != 0 && errno != EPIPE) {
        fprintf(stderr, "syncprof report: writing the output: %s\n", strerror(errno));
        return 1;
    }
    return status;
}
