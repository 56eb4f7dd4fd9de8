/*
 * cli_report.c - `syncprof report FILE`: reads a profile written by syncprof
 * or by Go (report_read.c), merges its stacks into rows (report_merge.c)
 * and prints them in one of its modes: the table of the heaviest stacks,
 * folded stacks, or every stack in full, with no Go toolchain needed. The
 * table of modes is where a new one goes.
 *
 * Bounds: memory and time are a small constant times the input (the model
 * and its bounds: report_profile.h): at most RP_MAX_SHOWN_FRAMES frames of
 * one stack are printed, and at most RP_PRINT_FACTOR times the input's
 * bytes in all (a stack then shows fewer frames, with how many more it
 * has). Values and their totals are printed saturated to int64. Every
 * failure prints one line "syncprof report: ..." and exits with status 1.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "report_profile.h"
#include "summary_table.h"

/* What the options ask of every mode. */
struct rp_options {
    size_t top; /* rows shown (0: all) */
    int depth;  /* frames of a stack in the table (0: all it may show) */
};

/* Prints p's sorted rows on stdout; buf has room for RP_MAX_SHOWN_FRAMES
 * frames. Returns the exit status. */
typedef int (*rp_printer)(struct rp_profile *p, const struct rp_options *o,
                          const struct rp_frame **buf);

/* ---- Printing ----------------------------------------------------------------- */

static const char *name_of(const struct rp_profile *p, const struct rp_frame *f)
{
    return p->str.v[f->name].s;
}

/* Frames a readable row may pass over per frame it shows: bounds the work
 * on stacks of one repeated frame (hostile input) to a constant times the
 * frames printed. */
#define RP_SKIP_FACTOR 8

/* Up to max frames of row r, leaf first, into out; how many. readable
 * (the table) skips, after the leaf, the C and C++ runtime's lock plumbing
 * (sp_frame_is_lock_plumbing) and a name that repeats the one before it,
 * so the first caller shown is the program's own code; *passed (when not
 * NULL) is then the number of the stack's frames looked at. */
static size_t row_frames(const struct rp_profile *p, const struct rp_row *r,
                         const struct rp_frame **out, size_t max, bool readable, uint64_t *passed)
{
    struct rp_cursor c = rp_frames_of(p, &p->s[r->sample]);
    size_t n = 0;
    uint64_t seen = 0, budget = (uint64_t)RP_SKIP_FACTOR * max + 64;
    const struct rp_frame *f;
    while (n < max && seen < budget && (f = rp_next_frame(&c))) {
        seen++;
        if (readable && n > 0 &&
            (f->name == out[n - 1]->name || sp_frame_is_lock_plumbing(name_of(p, f))))
            continue;
        out[n++] = f;
    }
    if (passed)
        *passed = seen;
    return n;
}

/* How many frames of a stack to print: at most RP_MAX_SHOWN_FRAMES, and
 * what is left of the budget for all stacks (frames the input's locations
 * repeat could otherwise print far more than the input holds). */
static size_t frames_to_print(const struct rp_profile *p)
{
    return p->print_budget < RP_MAX_SHOWN_FRAMES ? p->print_budget : RP_MAX_SHOWN_FRAMES;
}

static int print_folded(struct rp_profile *p, const struct rp_options *o, const struct rp_frame **buf)
{
    (void)o;
    for (size_t i = 0; i < p->nrows; i++) {
        const struct rp_row *r = &p->rows[i];
        if (r->weight <= 0)
            continue;
        size_t n = row_frames(p, r, buf, frames_to_print(p), false, NULL);
        p->print_budget -= n;
        if (r->nframes > n)
            printf("(%" PRIu64 " more frames)%s", r->nframes - n, n ? ";" : "");
        for (size_t j = n; j-- > 0;) {
            fputs(name_of(p, buf[j]), stdout);
            if (j)
                putchar(';');
        }
        if (r->nframes == 0)
            printf("(no frames)");
        printf(" %" PRId64 "\n", r->weight);
    }
    return 0;
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

static int print_full(struct rp_profile *p, const struct rp_options *o, const struct rp_frame **buf)
{
    size_t top = o->top;
    size_t shown = 0;
    for (size_t i = 0; i < p->nrows && (top == 0 || shown < top); i++) {
        const struct rp_row *r = &p->rows[i];
        if (r->weight == 0 && r->count == 0)
            continue;
        char w[32];
        print_weight(p, r->weight, w, sizeof w);
        printf("%s %s (%.1f%%), count %" PRId64 "\n", p->type, w,
               p->total > 0 ? 100.0 * (double)r->weight / (double)p->total : 0.0, r->count);
        size_t n = row_frames(p, r, buf, frames_to_print(p), false, NULL);
        p->print_budget -= n;
        for (size_t j = 0; j < n; j++) {
            const struct rp_frame *f = buf[j];
            printf("  0x%-14" PRIx64 " %s", f->addr, name_of(p, f));
            if (f->file)
                printf("  %s:%" PRId64, p->str.v[f->file].s, f->line);
            printf("\n");
        }
        if (r->nframes > n)
            printf("  ... (%" PRIu64 " more frames)\n", r->nframes - n);
        printf("\n");
        shown++;
    }
    return 0;
}

/* Which part of a split table a row belongs to (see print_table). */
enum rp_part { RP_ALL, RP_LOCK_WAITS, RP_EVENT_WAITS, RP_UNLABELLED };

static enum rp_part part_of(const struct rp_profile *p, const struct rp_row *r)
{
    uint32_t w = p->s[r->sample].wait;
    if (w == 0)
        return RP_UNLABELLED;
    return sp_wait_kind_is_lock(p->str.v[w].s) ? RP_LOCK_WAITS : RP_EVENT_WAITS;
}

static bool in_part(const struct rp_profile *p, const struct rp_row *r, enum rp_part part)
{
    return (r->weight != 0 || r->count != 0) && (part == RP_ALL || part_of(p, r) == part);
}

/* The heaviest rows of one part as a table on stdout, with a title line
 * when the table is split (title not NULL). */
static int print_part(struct rp_profile *p, size_t top, int depth, enum rp_part part,
                      const char *title)
{
    size_t rows_n = 0;
    __int128 total = 0, events = 0;
    for (size_t i = 0; i < p->nrows; i++) {
        if (!in_part(p, &p->rows[i], part))
            continue;
        rows_n++;
        total += p->rows[i].weight;
        events += p->rows[i].count;
    }
    int64_t part_total = total > INT64_MAX ? INT64_MAX : total < INT64_MIN ? INT64_MIN
                                                                          : (int64_t)total;
    int64_t part_events = events > INT64_MAX ? INT64_MAX : events < INT64_MIN ? INT64_MIN
                                                                             : (int64_t)events;
    size_t shown = top > 0 && rows_n > top ? top : rows_n;
    int max = depth > 0 && depth < RP_MAX_SHOWN_FRAMES ? depth : RP_MAX_SHOWN_FRAMES;
    /* The table is built whole (sp_table_format): its frames in all stay
     * within the budget, by showing fewer of each stack when need be. */
    if (shown > 0 && (size_t)max > p->print_budget / shown)
        max = p->print_budget / shown > 0 ? (int)(p->print_budget / shown) : 1;
    struct sp_stack_row *rows = calloc(rows_n + 1, sizeof *rows);
    const char **names = calloc(shown * (size_t)max + 1, sizeof *names);
    const struct rp_frame **frames = calloc((size_t)max + 1, sizeof *frames);
    bool ok = rows && names && frames;
    for (size_t i = 0, k = 0; ok && i < p->nrows; i++) {
        const struct rp_row *r = &p->rows[i];
        if (!in_part(p, r, part))
            continue;
        const char **mine = k < shown ? names + k * (size_t)max : NULL;
        uint64_t nframes = r->nframes;
        if (mine) {
            /* the frames shown, then "... (N more)" for those not looked at */
            uint64_t passed;
            size_t n = row_frames(p, r, frames, (size_t)max, true, &passed);
            for (size_t j = 0; j < n; j++)
                mine[j] = name_of(p, frames[j]);
            uint64_t rest = r->nframes > passed ? r->nframes - passed : 0;
            nframes = n < (size_t)max ? n : n + rest; /* the table shows min(max, nframes) */
        }
        rows[k++] = (struct sp_stack_row){ r->weight, r->count,
                                           nframes > INT32_MAX ? INT32_MAX : (int)nframes, mine };
    }
    if (title) {
        char w[32];
        print_weight(p, part_total, w, sizeof w);
        printf("%s: %zu stacks, total %s in %" PRId64 " events\n", title, rows_n, w, part_events);
    }
    struct sp_table_opts o = { .top = top, .depth = max, .oneline = false,
                               .weight_is_ns = weight_is_ns(p), .weight_title = p->type };
    char *table = ok && rows_n > 0 ? sp_table_format(rows, rows_n, part_total, &o) : NULL;
    if (table)
        fputs(table, stdout);
    free(names);
    free(frames);
    free(rows);
    free(table);
    if (ok && (table || rows_n == 0))
        return 0;
    rp_oom(p);
    return 1;
}

/*
 * The table of the heaviest stacks. A block profile whose samples carry
 * the kind of their wait (syncprof's "wait" label) is shown in two parts,
 * lock waits (mutex, rwlock: contention) and event waits (condition,
 * semaphore, join, barrier, channel: often a thread with nothing to do),
 * each with its own heaviest stacks, so that an idle pool cannot hide a
 * contended lock; samples without the label (other tools' profiles) come
 * last.
 */
static int print_table(struct rp_profile *p, const struct rp_options *o, const struct rp_frame **buf)
{
    size_t top = o->top;
    int depth = o->depth;
    (void)buf;
    size_t rows_n = 0, labelled = 0, unlabelled = 0;
    for (size_t i = 0; i < p->nrows; i++) {
        if (!in_part(p, &p->rows[i], RP_ALL))
            continue;
        rows_n++;
        if (part_of(p, &p->rows[i]) == RP_UNLABELLED)
            unlabelled++;
        else
            labelled++;
    }
    char w[32];
    print_weight(p, p->total, w, sizeof w);
    printf("File: %s\nType: %s %s (%s); %zu stacks, total %s in %" PRId64 " events\n", p->path,
           p->kind, p->type, p->unit, rows_n, w, p->events);
    if (labelled == 0)
        return print_part(p, top, depth, RP_ALL, NULL);
    int r = print_part(p, top, depth, RP_LOCK_WAITS, "Lock waits (mutex, rwlock)");
    if (r == 0)
        r = print_part(p, top, depth, RP_EVENT_WAITS,
                       "Event waits (condition, semaphore, join, barrier, channel)");
    if (r == 0 && unlabelled > 0)
        r = print_part(p, top, depth, RP_UNLABELLED, "Waits of no known kind");
    return r;
}

/* Drops the samples whose "wait" label is one of the comma-separated
 * kinds (--ignore-wait), before stacks are merged and totals made. */
static void drop_waits(struct rp_profile *p, const char *kinds)
{
    size_t k = 0;
    for (size_t i = 0; i < p->n; i++) {
        const char *w = p->s[i].wait ? p->str.v[p->s[i].wait].s : NULL;
        bool drop = false;
        for (const char *q = kinds; w && *q && !drop;) {
            size_t len = strcspn(q, ",");
            drop = strlen(w) == len && strncmp(q, w, len) == 0;
            q += len + (q[len] == ',');
        }
        if (!drop)
            p->s[k++] = p->s[i];
    }
    p->n = k;
}

/* ---- The modes --------------------------------------------------------------- */

/*
 * What `syncprof report` can print: a new mode is a row here (its option,
 * whether its rows merge stacks that read the same, its printer) and a
 * line in cli_main.c's usage. Without a mode option, the first row. Two
 * mode options together are refused.
 */
static const struct rp_mode {
    const char *option;  /* --<option>; NULL: the default */
    bool merge_by_name;  /* rows are stacks merged by frame names (else one per sample) */
    rp_printer print;
} modes[] = {
    { NULL, true, print_table },
    { "folded", true, print_folded },
    { "text", false, print_full },
};
#define RP_MODES (sizeof modes / sizeof modes[0])

/* ---- The command ------------------------------------------------------------- */

/* Reads path into p (its rows merged as mode wants): 0, or 1 with the
 * message printed and p freed. */
static int read_profile(const char *path, const struct rp_mode *mode, const char *ignore,
                        struct rp_profile *p)
{
    size_t len;
    unsigned char *buf = rp_read_file(path, &len);
    if (!buf)
        return 1;
    rp_hash_seed();
    *p = (struct rp_profile){ .path = path };
    p->demangle_budget = 16 * len + (1u << 20);
    p->print_budget = RP_PRINT_FACTOR * len + RP_PRINT_EXTRA;
    int r = 1;
    if (len > 0 && rp_intern(&p->str, "", 0) != 0)
        r = rp_oom(p); /* id 0: "", the unknown file */
    else if (len > 0)
        /* Text first: a text file is never a valid profile.proto, but
         * checking the header costs nothing. Text is parsed in place, and
         * only once its header matched, so buf is intact for pprof. */
        r = memchr(buf, '\0', len) ? 1 : rp_load_text((char *)buf, p);
    if (r == 1)
        r = rp_load_pprof(buf, len, p);
    free(buf);
    if (r == 1)
        fprintf(stderr, "syncprof report: %s is not a profile (expected pprof protobuf, "
                "gzipped or not, or Go's debug=1 text)\n", path);
    if (r == 0 && ignore[0])
        drop_waits(p, ignore);
    if (r == 0 && !rp_merge_rows(p, mode->merge_by_name, len))
        r = rp_oom(p);
    if (r != 0) {
        rp_free_profile(p);
        return 1;
    }
    rp_sort_rows(p);
    return 0;
}

/* Prints p in mode; the exit status. */
static int print_profile(struct rp_profile *p, const struct rp_mode *mode,
                         const struct rp_options *o)
{
    const struct rp_frame **frames = malloc(RP_MAX_SHOWN_FRAMES * sizeof *frames);
    int status = frames ? mode->print(p, o, frames) : (rp_oom(p), 1);
    free(frames);
    if (fflush(stdout) != 0 && errno != EPIPE) {
        fprintf(stderr, "syncprof report: writing the output: %s\n", strerror(errno));
        return 1;
    }
    return status;
}

int sp_cli_report(int argc, char **argv)
{
    enum { TOP = 1000, DEPTH, IGNORE_WAIT, TRACE, CONVOY, BYLOCK, CSV, MODE };
    struct option opts[7 + RP_MODES + 1] = {
        { "top", required_argument, NULL, TOP },
        { "depth", required_argument, NULL, DEPTH },
        { "ignore-wait", required_argument, NULL, IGNORE_WAIT },
        { "trace", no_argument, NULL, TRACE },
        { "convoy", required_argument, NULL, CONVOY },
        { "by-lock", no_argument, NULL, BYLOCK },
        { "csv", no_argument, NULL, CSV },
    };
    for (size_t i = 1, k = 7; i < RP_MODES; i++)
        opts[k++] = (struct option){ modes[i].option, no_argument, NULL, MODE + (int)i };
    char ignore[1024] = ""; /* --ignore-wait kinds, comma-separated */
    long top = 10, depth = 8, convoy = 2;
    bool trace = false, by_lock = false, csv = false;
    bool given[RP_MODES] = { false };
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
        case DEPTH:
        case CONVOY: {
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end || v < 0 || v > 1000000) {
                fprintf(stderr, "syncprof report: %s wants an integer >= 0, not \"%s\"\n",
                        c == TOP ? "--top" : c == DEPTH ? "--depth" : "--convoy", optarg);
                return 2;
            }
            *(c == TOP ? &top : c == DEPTH ? &depth : &convoy) = v;
            break;
        }
        case TRACE:
            trace = true;
            break;
        case BYLOCK:
            by_lock = true;
            break;
        case CSV:
            csv = true;
            break;
        case IGNORE_WAIT: {
            size_t used = strlen(ignore);
            if (!*optarg || used + strlen(optarg) + 2 > sizeof ignore) {
                fprintf(stderr, "syncprof report: --ignore-wait wants wait kinds (cond_timed,"
                        "sem,...), not \"%s\"\n", optarg);
                return 2;
            }
            snprintf(ignore + used, sizeof ignore - used, "%s%s", used ? "," : "", optarg);
            break;
        }
        case ':':
            fprintf(stderr, "syncprof report: option %s needs a value\n", argv[optind - 1]);
            return 2;
        default:
            if (c > MODE && c < MODE + (int)RP_MODES) {
                given[c - MODE] = true;
                break;
            }
            fprintf(stderr, "syncprof report: unknown option \"%s\" (see syncprof --help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "syncprof report: no profile file given (see syncprof --help)\n");
        return 2;
    }
    if (trace)
        return sp_cli_report_trace(path, top, convoy);
    if (by_lock)
        return sp_cli_report_by_lock(path, top == 10 ? 0 : top, csv);
    if (csv) {
        fprintf(stderr, "syncprof report: --csv goes with --by-lock\n");
        return 2;
    }
    const struct rp_mode *mode = &modes[0];
    for (size_t i = 1; i < RP_MODES; i++) {
        if (!given[i])
            continue;
        if (mode != &modes[0]) {
            fprintf(stderr, "syncprof report: --%s and --%s are exclusive\n", mode->option,
                    modes[i].option);
            return 2;
        }
        mode = &modes[i];
    }

    struct rp_profile p;
    if (read_profile(path, mode, ignore, &p) != 0)
        return 1;
    struct rp_options o = { (size_t)top, (int)depth };
    int status = print_profile(&p, mode, &o);
    rp_free_profile(&p);
    return status;
}
