/*
 * summary_table.c - the heaviest-stacks table of `syncprof report` and of
 * the interposer's exit summary, durations in pprof's units, and the two
 * questions the summaries ask of a frame and of a wait (see
 * summary_table.h). Stateless; every output is a fresh malloc'd string or
 * the caller's buffer.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "summary_table.h"

/* ---- A growing string ----------------------------------------------------- */

struct sp_buf {
    char *p;
    size_t len, cap;
    bool oom;
};

__attribute__((format(printf, 2, 3)))
static void buf_printf(struct sp_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || b->oom)
        return;
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* ---- Durations ---------------------------------------------------------- */

char *sp_format_duration(int64_t ns, char *buf, size_t len)
{
    double v = (double)ns;
    double a = v < 0 ? -v : v;
    if (a >= 1e9)
        snprintf(buf, len, "%.2fs", v / 1e9);
    else if (a >= 1e6)
        snprintf(buf, len, "%.2fms", v / 1e6);
    else if (a >= 1e3)
        snprintf(buf, len, "%.2fus", v / 1e3);
    else
        snprintf(buf, len, "%" PRId64 "ns", ns);
    return buf;
}

/* ---- The table ---------------------------------------------------------- */

static void row_frames(struct sp_buf *b, const struct sp_stack_row *r, const struct sp_table_opts *o,
                       int indent)
{
    int shown = o->depth > 0 && r->nframes > o->depth ? o->depth : r->nframes;
    for (int i = 0; i < shown; i++) {
        if (o->oneline)
            buf_printf(b, "%s%s", i ? " < " : "", r->frames[i]);
        else
            buf_printf(b, "%*s%s\n", i ? indent : 0, "", r->frames[i]);
    }
    if (shown < r->nframes) {
        if (o->oneline)
            buf_printf(b, " < ... (%d more)", r->nframes - shown);
        else
            buf_printf(b, "%*s... (%d more)\n", indent, "", r->nframes - shown);
    }
    if (r->nframes == 0)
        buf_printf(b, "(no frames)%s", o->oneline ? "" : "\n");
    if (o->oneline)
        buf_printf(b, "\n");
}

char *sp_table_format(const struct sp_stack_row *rows, size_t n, int64_t total,
                      const struct sp_table_opts *o)
{
    struct sp_buf b = { 0 };
    const int indent = 12 + 2 + 6 + 2 + 10 + 2; /* the stack column */
    buf_printf(&b, "%12s  %6s  %10s  %s\n", o->weight_title ? o->weight_title : "delay", "share",
               "count", o->oneline ? "stack (leaf first, < caller)" : "stack (leaf first)");
    size_t shown = o->top > 0 && n > o->top ? o->top : n;
    for (size_t i = 0; i < shown; i++) {
        char w[32];
        if (o->weight_is_ns)
            sp_format_duration(rows[i].weight, w, sizeof w);
        else
            snprintf(w, sizeof w, "%" PRId64, rows[i].weight);
        double share = total > 0 ? 100.0 * (double)rows[i].weight / (double)total : 0;
        buf_printf(&b, "%12s  %5.1f%%  %10" PRId64 "  ", w, share, rows[i].count);
        row_frames(&b, &rows[i], o, indent);
    }
    if (shown < n)
        buf_printf(&b, "... %zu more stacks\n", n - shown);
    if (b.oom || !b.p) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

bool sp_frame_is_lock_plumbing(const char *name)
{
    static const char *const prefixes[] = {
        "__gthread_", "__gthrw_", "std::mutex::", "std::timed_mutex::",
        "std::recursive_mutex::", "std::recursive_timed_mutex::", "std::shared_mutex::",
        "std::shared_timed_mutex::", "std::__shared_mutex_pthread::", "std::unique_lock<",
        "std::lock_guard<", "std::scoped_lock<", "std::shared_lock<", "std::condition_variable::",
        "std::_V2::condition_variable_any::", "std::condition_variable_any::", "std::__condvar::",
        "std::__mutex_base::", "std::__recursive_mutex_base::", "__glibcxx_rwlock_",
        "std::__glibcxx_rwlock_", "std::__invoke", "std::thread::_Invoker<",
        "std::thread::_State_impl<",
    };
    /* A demangled template function starts with its return type
     * ("std::cv_status std::condition_variable::wait_until<...>(...)"):
     * the name may also begin after a space, before the first '('. */
    const char *args = name ? strchr(name, '(') : NULL;
    for (size_t i = 0; name && i < sizeof prefixes / sizeof prefixes[0]; i++) {
        for (const char *p = strstr(name, prefixes[i]); p && (!args || p < args);
             p = strstr(p + 1, prefixes[i]))
            if (p == name || p[-1] == ' ')
                return true;
    }
    return false;
}

bool sp_wait_kind_is_lock(const char *wait)
{
    return wait && (strcmp(wait, "mutex") == 0 || strncmp(wait, "rwlock_", 7) == 0);
}
