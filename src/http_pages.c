/*
 * http_pages.c - what the live-profile server answers: the table of pages
 * under /debug/pprof/ (Go's net/http/pprof paths), their handlers, the
 * replies every answer shares (Go's headers and error bodies), and the
 * routing from a request's method and path to a page.
 *
 * Every handler runs on the connection's own libmicrohttpd thread, which
 * is "in profiler" for its whole life; it may block (a ?seconds=N wait
 * does, in a slot of its own: SP_HTTP_MAX_SECONDS_REQUESTS). Locking: see
 * http_server.h (conn_lock for a wait's deadline, delta_lock for the
 * delta_ pages' bases).
 */
#ifdef SYNCPROF_HAVE_MICROHTTPD /* else the server is not built: http_endpoint.c */

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <syncprof/syncprof.h>
#include <syncprof/trace.h>

#include "clock.h"
#include "http_server.h"
#include "profile_table.h"
#include "symbolize.h"

#define SP_HTTP_PREFIX "/debug/pprof/"
#define SP_HTTP_MAX_BODY (1u << 20) /* bytes of a request body kept (symbol) */
#define SP_HTTP_POLL_MAX_MS 1000    /* a ?seconds wait checks for stop this often */

atomic_size_t sp_http_waiting_count;

/* ---- The pages --------------------------------------------------------- */

struct sp_http_page;

/* Answers a request for page p (its query parameters are the handler's to
 * read). Returns what libmicrohttpd's access handler returns: MHD_NO
 * closes the connection unanswered. */
typedef enum MHD_Result (*sp_http_handler)(struct sp_http_server *s, struct MHD_Connection *c,
                                           struct sp_http_request *rq,
                                           const struct sp_http_page *p);

/* What each path under /debug/pprof/ serves. */
struct sp_http_page {
    const char *name;      /* after /debug/pprof/ ("": the index) */
    sp_http_handler serve;
    bool seconds;          /* takes ?seconds=N (else a 400 says it does not) */
    const char *profile;   /* the name syncprof_write_profile knows, or NULL */
    int kind;              /* enum sp_profile_kind the profile is, or -1 */
    const char *desc;      /* for the index page; NULL: not listed there */
};

static enum MHD_Result serve_index(struct sp_http_server *, struct MHD_Connection *,
                                   struct sp_http_request *, const struct sp_http_page *);
static enum MHD_Result serve_profile(struct sp_http_server *, struct MHD_Connection *,
                                     struct sp_http_request *, const struct sp_http_page *);
static enum MHD_Result serve_delta(struct sp_http_server *, struct MHD_Connection *,
                                   struct sp_http_request *, const struct sp_http_page *);
static enum MHD_Result serve_symbol(struct sp_http_server *, struct MHD_Connection *,
                                    struct sp_http_request *, const struct sp_http_page *);
static enum MHD_Result serve_locks(struct sp_http_server *, struct MHD_Connection *,
                                   struct sp_http_request *, const struct sp_http_page *);
static enum MHD_Result serve_trace(struct sp_http_server *, struct MHD_Connection *,
                                   struct sp_http_request *, const struct sp_http_page *);

/*
 * Every page the server answers: a new one is a row here (and its handler;
 * serve_profile serves any profile syncprof_write_profile knows, with
 * ?debug=N, and ?seconds=N where the row says so). The index lists the
 * rows with a description, in this order.
 */
static const struct sp_http_page pages[] = {
    /* name       handler  seconds=N  profile  kind  description */
    { "", serve_index, false, NULL, -1, NULL },
    { "block", serve_profile, true, "block", SP_PROFILE_BLOCK,
      "Stack traces that led to blocking on synchronization primitives" },
    { "delta_block", serve_delta, false, "block", SP_PROFILE_BLOCK,
      "The block profile recorded since the previous request to this path "
      "(as Pyroscope's godeltaprof)" },
    { "delta_hold", serve_delta, false, "hold", SP_PROFILE_HOLD,
      "The hold profile recorded since the previous request to this path" },
    { "delta_mutex", serve_delta, false, "mutex", SP_PROFILE_MUTEX,
      "The mutex profile recorded since the previous request to this path "
      "(as Pyroscope's godeltaprof)" },
    { "goroutine", serve_profile, false, "threads", -1,
      "Stack traces of all current threads. Use debug=2 as a query parameter to export "
      "in the same format as an unrecovered panic." },
    { "hold", serve_profile, true, "hold", SP_PROFILE_HOLD,
      "Stack traces of the unlockers of locks, weighted by how long they were held" },
    { "locks", serve_locks, false, "locks", -1,
      "One row per lock: contended acquisitions, total, longest and 99th-percentile wait, "
      "and the hold profile's estimates. Use format=csv as a query parameter for CSV." },
    { "mutex", serve_profile, true, "mutex", SP_PROFILE_MUTEX,
      "Stack traces of holders of contended mutexes" },
    { "symbol", serve_symbol, false, NULL, -1, NULL },
    { "trace", serve_trace, true, NULL, -1,
      "A trace of every wait and contended hold, with who woke whom (Perfetto's format: "
      "open it in ui.perfetto.dev). You can specify the duration in the seconds GET "
      "parameter. After you get the trace file, use syncprof report --trace." },
};
#define SP_HTTP_PAGES (sizeof pages / sizeof pages[0])

static const struct sp_http_page *find_page(const char *name)
{
    for (size_t i = 0; i < SP_HTTP_PAGES; i++)
        if (strcmp(pages[i].name, name) == 0)
            return &pages[i];
    return NULL;
}

/* ---- Replies ----------------------------------------------------------- */

/* Queues resp with status, X-Content-Type-Options: nosniff, which every
 * reply has (as Go's), and Connection: close (see the design note), and
 * lets go of it. MHD_NO (close the connection) when resp is NULL. */
static enum MHD_Result send_reply(struct MHD_Connection *c, unsigned status,
                                  struct MHD_Response *resp)
{
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result r = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return r;
}
static struct MHD_Response *text_response(const char *body, const char *type)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (resp)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    return resp;
}

/* An error as Go's serveError: the message and a newline, as text, with
 * X-Go-Pprof: 1. */
static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    char body[256];
    snprintf(body, sizeof body, "%s\n", msg);
    struct MHD_Response *resp = text_response(body, "text/plain; charset=utf-8");
    if (resp)
        MHD_add_response_header(resp, "X-Go-Pprof", "1");
    return send_reply(c, status, resp);
}

/* /debug/pprof, as Go's ServeMux answers it: a redirect to the index. */
static enum MHD_Result send_redirect(struct MHD_Connection *c)
{
    struct MHD_Response *resp = text_response(
        "<a href=\"" SP_HTTP_PREFIX "\">Moved Permanently</a>.\n", "text/html; charset=utf-8");
    if (resp)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, SP_HTTP_PREFIX);
    return send_reply(c, MHD_HTTP_MOVED_PERMANENTLY, resp);
}

/* 401 with the challenge RFC 6750 names. */
enum MHD_Result sp_http_send_unauthorized(struct MHD_Connection *c)
{
    struct MHD_Response *resp = text_response("Unauthorized\n", "text/plain; charset=utf-8");
    if (resp)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"syncprof\"");
    return send_reply(c, MHD_HTTP_UNAUTHORIZED, resp);
}

/* ---- The index -------------------------------------------------------- */

/* The number of records of a profile, for the index; -1 when unknown. */
static long record_count(int kind)
{
    struct sp_record *recs;
    size_t n;
    if (kind < 0 || sp_profile_snapshot((enum sp_profile_kind)kind, &recs, &n) != 0)
        return -1;
    free(recs);
    return (long)n;
}

/* The index page: every listed page with a link and a description, as
 * Go's; a delta_ page has no count (its records are those since its
 * previous request, which the index does not take). */
static enum MHD_Result serve_index(struct sp_http_server *s, struct MHD_Connection *c,
                                   struct sp_http_request *rq, const struct sp_http_page *p)
{
    (void)s;
    (void)rq;
    (void)p;
    char page[8192];
    size_t len = 0;
#define SP_PAGE(...) \
    len += (size_t)snprintf(page + len, len < sizeof page ? sizeof page - len : 0, __VA_ARGS__)
    SP_PAGE("<html>\n<head>\n<title>/debug/pprof/</title>\n</head>\n<body>\n/debug/pprof/\n"
            "<br>\n<p>Set debug=1 as a query parameter to export in legacy text format</p>\n"
            "<br>\nTypes of profiles available:\n<table>\n"
            "<thead><td>Count</td><td>Profile</td></thead>\n");
    for (size_t i = 0; i < SP_HTTP_PAGES; i++) {
        if (!pages[i].desc)
            continue;
        long n = pages[i].serve == serve_delta ? -1 : record_count(pages[i].kind);
        char count[32] = "";
        if (n >= 0)
            snprintf(count, sizeof count, "%ld", n);
        SP_PAGE("<tr><td>%s</td><td><a href='%s?debug=1'>%s</a></td></tr>\n", count,
                pages[i].name, pages[i].name);
    }
    SP_PAGE("</table>\n<a href=\"goroutine?debug=2\">full thread stack dump</a>\n<br>\n"
            "<p>\nProfile Descriptions:\n<ul>\n");
    for (size_t i = 0; i < SP_HTTP_PAGES; i++)
        if (pages[i].desc)
            SP_PAGE("<li><div class=profile-name>%s: </div> %s</li>\n", pages[i].name,
                    pages[i].desc);
    SP_PAGE("</ul>\n<p>");
    for (size_t i = 0, n = 0; i < SP_HTTP_PAGES; i++)
        if (pages[i].seconds)
            SP_PAGE("%s%s", n++ == 0 ? "" : " and ", pages[i].name);
    SP_PAGE(" take seconds=N: the profile of the next N seconds.</p>\n</body>\n</html>\n");
#undef SP_PAGE
    if (len >= sizeof page)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "index too long");
    return send_reply(c, MHD_HTTP_OK, text_response(page, "text/html; charset=utf-8"));
}

/* ---- Profiles ---------------------------------------------------------- */

/* What a profile reply writes: into fd, returning 0 or an errno. */
typedef int (*sp_http_writer)(int fd, int debug, void *arg);

/*
 * Writes the profile with w into an in-memory file and sends it: as
 * application/octet-stream with Content-Disposition attachment;
 * filename="<filename>" when debug is 0, as text/plain otherwise. EINVAL
 * from w means the profile does not exist (404); other errors are 500.
 */
static enum MHD_Result send_file(struct MHD_Connection *c, int fd, const char *filename,
                                 int debug);

static enum MHD_Result send_profile(struct MHD_Connection *c, const char *filename, int debug,
                                    sp_http_writer w, void *arg)
{
    int fd = memfd_create("syncprof-http", MFD_CLOEXEC);
    if (fd < 0)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "failed to collect profile");
    int r = w(fd, debug, arg);
    if (r != 0) {
        close(fd);
        if (r == EINVAL)
            return send_error(c, MHD_HTTP_NOT_FOUND, "Unknown profile");
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "failed to collect profile");
    }
    return send_file(c, fd, filename, debug);
}

/* Sends what was written into fd (which it closes): as send_profile says. */
static enum MHD_Result send_file(struct MHD_Connection *c, int fd, const char *filename,
                                 int debug)
{
    off_t size = lseek(fd, 0, SEEK_CUR);
    if (size < 0) {
        close(fd);
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "failed to collect profile");
    }
    struct MHD_Response *resp = MHD_create_response_from_fd((size_t)size, fd);
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    if (debug > 0) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    } else {
        char disposition[96];
        snprintf(disposition, sizeof disposition, "attachment; filename=\"%s\"", filename);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
        MHD_add_response_header(resp, "Content-Disposition", disposition);
    }
    return send_reply(c, MHD_HTTP_OK, resp);
}

/* The lock table: CSV when arg is not NULL, text otherwise. */
static int write_locks(int fd, int debug, void *arg)
{
    (void)debug;
    return syncprof_write_profile("locks", fd, arg ? 0 : 1);
}

static int write_named(int fd, int debug, void *arg)
{
    const struct sp_http_page *p = arg;
    return syncprof_write_profile(p->profile, fd, debug);
}

/* delta_mutex, delta_block: since the base, which becomes the new base. */
struct sp_delta_arg {
    struct sp_http_server *server;
    enum sp_profile_kind kind;
};

static int write_since_previous(int fd, int debug, void *arg)
{
    struct sp_delta_arg *a = arg;
    struct sp_snapshot *base = &a->server->delta_base[a->kind];
    sp_spin_lock(&a->server->delta_lock);
    int r = sp_delta_write(base, fd, debug, base);
    sp_spin_unlock(&a->server->delta_lock);
    return r;
}

/* ?seconds=N: since the request's own base. */
static int write_since_base(int fd, int debug, void *arg)
{
    return sp_delta_write(arg, fd, debug, NULL);
}

/* The query parameter name as an integer in [min, max]: true with *v set
 * (0 when absent or empty, as Go's FormValue), false when it is not one. */
static bool int_param(struct MHD_Connection *c, const char *name, long long min,
                      long long max, long long *v, bool *present)
{
    const char *s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    char *end;
    *v = 0;
    *present = s && *s;
    if (!*present)
        return true;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || x < min || x > max || !(*s == '-' || (*s >= '0' && *s <= '9')))
        return false;
    *v = x;
    return true;
}

/* ---- ?seconds=N -------------------------------------------------------- */

struct sp_http_conn *sp_http_conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

enum sp_wait_end { SP_WAIT_DONE, SP_WAIT_STOPPING, SP_WAIT_CLIENT_GONE };

/*
 * Sleeps seconds on this connection's own thread, polling the server's
 * wake fd (stop) and the client's socket: a client that closes or resets
 * its connection (or that the gate shuts down at its deadline) ends the
 * wait at once, so a request nobody will read never holds its slot.
 */
static enum sp_wait_end wait_seconds(struct sp_http_server *s, struct sp_http_conn *conn,
                                     long long seconds)
{
    int64_t deadline = sp_now_ns() + seconds * 1000000000LL;
    int client = conn ? conn->keep : -1; /* open until NOTIFY_CLOSED, after this request */
    for (int64_t now = sp_now_ns(); now < deadline; now = sp_now_ns()) {
        if (atomic_load(&s->stopping))
            return SP_WAIT_STOPPING;
        struct pollfd p[2] = { { s->wake_fd, POLLIN, 0 }, { client, POLLRDHUP, 0 } };
        int64_t ms = (deadline - now + 999999) / 1000000;
        if (poll(p, client >= 0 ? 2 : 1, ms > SP_HTTP_POLL_MAX_MS ? SP_HTTP_POLL_MAX_MS : (int)ms) >
                0 &&
            (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)))
            return SP_WAIT_CLIENT_GONE;
    }
    return atomic_load(&s->stopping) ? SP_WAIT_STOPPING : SP_WAIT_DONE;
}

/* Takes one of the SP_HTTP_MAX_SECONDS_REQUESTS slots; false when all are
 * taken. */
static bool take_seconds_slot(void)
{
    size_t n = atomic_load(&sp_http_waiting_count);
    do {
        if (n >= SP_HTTP_MAX_SECONDS_REQUESTS)
            return false;
    } while (!atomic_compare_exchange_weak(&sp_http_waiting_count, &n, n + 1));
    return true;
}

/*
 * A ?seconds=N request begins: it takes a slot (false when none is free,
 * the request then answered with a 503 in *answer) and its connection's
 * deadline is moved past the N seconds. The caller gives the slot back
 * (sp_http_waiting_count) when its wait ends.
 */
static bool begin_seconds(struct sp_http_server *s, struct MHD_Connection *c, long long seconds,
                          struct sp_http_conn **conn, enum MHD_Result *answer)
{
    if (!take_seconds_slot()) {
        char msg[96];
        snprintf(msg, sizeof msg, "too many seconds=N requests in progress (at most %d)",
                 SP_HTTP_MAX_SECONDS_REQUESTS);
        *answer = send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
        return false;
    }
    *conn = sp_http_conn_of(c);
    if (*conn) {
        sp_spin_lock(&s->conn_lock);
        (*conn)->deadline = sp_now_ns() + (seconds + SP_HTTP_REQUEST_TIMEOUT_S) * 1000000000LL;
        sp_spin_unlock(&s->conn_lock);
    }
    return true;
}

/* The profile of the next N seconds, as Go's serveDeltaProfile: a first
 * snapshot now, the difference to a second one then. */
static enum MHD_Result serve_seconds(struct sp_http_server *s, struct MHD_Connection *c,
                                     const struct sp_http_page *p, long long seconds)
{
    struct sp_snapshot base;
    char filename[64];
    enum MHD_Result r;
    struct sp_http_conn *conn;
    if (!begin_seconds(s, c, seconds, &conn, &r))
        return r;
    if (sp_snapshot_take(&base, (enum sp_profile_kind)p->kind) != 0) {
        atomic_fetch_sub(&sp_http_waiting_count, 1);
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "failed to collect profile");
    }
    enum sp_wait_end end = wait_seconds(s, conn, seconds);
    atomic_fetch_sub(&sp_http_waiting_count, 1);
    if (end == SP_WAIT_CLIENT_GONE) {
        r = MHD_NO; /* nobody to answer: close */
    } else if (end == SP_WAIT_STOPPING) {
        r = send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "server stopping");
    } else {
        snprintf(filename, sizeof filename, "%s-delta", p->name);
        r = send_profile(c, filename, 0, write_since_base, &base);
    }
    sp_snapshot_free(&base);
    return r;
}

/*
 * The ?debug=N and ?seconds=N of a request for page p, checked as Go's
 * handlers check them: true with *debug and *seconds set (0 when absent),
 * false when the request has been answered with a 400.
 */
static bool page_params(struct MHD_Connection *c, const struct sp_http_page *p, long long *debug,
                        long long *seconds, enum MHD_Result *answer)
{
    bool has_debug, has_seconds;
    const char *why = NULL;
    if (!int_param(c, "debug", 0, INT_MAX, debug, &has_debug))
        why = "invalid value for \"debug\" - must be a non-negative integer";
    else if (!int_param(c, "seconds", 1, SP_HTTP_MAX_SECONDS, seconds, &has_seconds))
        why = "invalid value for \"seconds\" - must be a positive integer of at most 86400";
    else if (has_seconds && !p->seconds)
        why = "\"seconds\" parameter is not supported for this profile type";
    else if (has_seconds && *debug != 0)
        why = "seconds and debug params are incompatible";
    if (why)
        *answer = send_error(c, MHD_HTTP_BAD_REQUEST, why);
    return why == NULL;
}

/* A profile syncprof_write_profile knows, whole, or of the next N seconds. */
static enum MHD_Result serve_profile(struct sp_http_server *s, struct MHD_Connection *c,
                                     struct sp_http_request *rq, const struct sp_http_page *p)
{
    long long debug, seconds;
    enum MHD_Result r;
    (void)rq;
    if (!page_params(c, p, &debug, &seconds, &r))
        return r;
    if (seconds > 0)
        return serve_seconds(s, c, p, seconds);
    return send_profile(c, p->name, (int)debug, write_named, (void *)p);
}

/* delta_mutex, delta_block: the records since the previous request. */
static enum MHD_Result serve_delta(struct sp_http_server *s, struct MHD_Connection *c,
                                   struct sp_http_request *rq, const struct sp_http_page *p)
{
    long long debug, seconds;
    enum MHD_Result r;
    char filename[64];
    (void)rq;
    if (!page_params(c, p, &debug, &seconds, &r))
        return r;
    snprintf(filename, sizeof filename, "%s.pprof.gz", p->profile); /* as godeltaprof */
    struct sp_delta_arg a = { s, (enum sp_profile_kind)p->kind };
    return send_profile(c, filename, (int)debug, write_since_previous, &a);
}

/* ---- /debug/pprof/trace ----------------------------------------------- */

/*
 * An execution trace of the next N seconds (1 when not given, as Go's
 * pprof.Trace), held in memory until sent. One trace at a time, as in Go:
 * 500 while another runs (this endpoint's, the API's or SYNCPROF_TRACE's).
 */
static enum MHD_Result serve_trace(struct sp_http_server *s, struct MHD_Connection *c,
                                   struct sp_http_request *rq, const struct sp_http_page *p)
{
    long long debug, seconds;
    enum MHD_Result r;
    (void)rq;
    if (!page_params(c, p, &debug, &seconds, &r))
        return r;
    if (seconds == 0)
        seconds = 1;
    struct sp_http_conn *conn;
    if (!begin_seconds(s, c, seconds, &conn, &r))
        return r;
    int fd = memfd_create("syncprof-trace", MFD_CLOEXEC);
    int e = fd < 0 ? errno : syncprof_trace_start(fd);
    if (e != 0) {
        atomic_fetch_sub(&sp_http_waiting_count, 1);
        if (fd >= 0)
            close(fd);
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                          e == EBUSY ? "Could not enable tracing: a trace is already running"
                                     : "Could not enable tracing");
    }
    enum sp_wait_end end = wait_seconds(s, conn, seconds);
    atomic_fetch_sub(&sp_http_waiting_count, 1);
    e = syncprof_trace_stop();
    if (end == SP_WAIT_CLIENT_GONE) {
        close(fd);
        return MHD_NO; /* nobody to answer: close */
    }
    if (end == SP_WAIT_STOPPING || e != 0) {
        close(fd);
        return send_error(c, end == SP_WAIT_STOPPING ? MHD_HTTP_SERVICE_UNAVAILABLE
                                                     : MHD_HTTP_INTERNAL_SERVER_ERROR,
                          end == SP_WAIT_STOPPING ? "server stopping" : "failed to write the trace");
    }
    return send_file(c, fd, "trace", 0);
}

/* ---- /debug/pprof/symbol ---------------------------------------------- */

/* Appends the name of each address of the '+'-separated list in (the
 * function at that call instruction) to *out, as Go's "0x<addr> <name>"
 * lines; addresses nothing names are left out. */
static void symbol_lines(struct sp_symbolizer *sym, const char *in, size_t len, FILE *out)
{
    struct sp_symbol *symb = malloc(sizeof *symb); /* large for a thread's stack */
    char tok[32];
    if (!symb)
        return;
    while (len > 0) {
        size_t n = 0;
        while (n < len && in[n] != '+')
            n++;
        if (n > 0 && n < sizeof tok) {
            memcpy(tok, in, n);
            tok[n] = '\0';
            char *end;
            unsigned long long a = strtoull(tok, &end, 0);
            /* sp_symbolize takes a return address: it looks up pc - 1. */
            if (*end == '\0' && a != 0 && a != ULLONG_MAX &&
                sp_symbolize(sym, (uintptr_t)a + 1, symb) == 0 && symb->known)
                fprintf(out, "%#llx %s\n", a, symb->frames[0].function);
        }
        in += n < len ? n + 1 : n;
        len -= n < len ? n + 1 : n;
    }
    free(symb);
}

/* Go's Symbol handler, which pprof POSTs to for addresses a profile does
 * not name: "num_symbols: 1", then one line per address it can name. A
 * GET only says that symbols are served. */
/* locks: the per-lock table, text (?format=csv: CSV), always as text. */
static enum MHD_Result serve_locks(struct sp_http_server *s, struct MHD_Connection *c,
                                   struct sp_http_request *rq, const struct sp_http_page *p)
{
    (void)s;
    (void)rq;
    const char *format = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "format");
    bool csv = format && strcmp(format, "csv") == 0;
    if (format && *format && !csv && strcmp(format, "text") != 0)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "format: csv or text");
    return send_profile(c, p->name, 1, write_locks, csv ? (void *)1 : NULL);
}

static enum MHD_Result serve_symbol(struct sp_http_server *s, struct MHD_Connection *c,
                                    struct sp_http_request *rq, const struct sp_http_page *p)
{
    (void)s;
    (void)p;
    char *text = NULL;
    size_t len = 0;
    struct sp_symbolizer *sym = NULL;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    fputs("num_symbols: 1\n", out);
    if (rq->body_len > 0 && (sym = sp_symbolizer_acquire()) != NULL) {
        symbol_lines(sym, rq->body, rq->body_len, out);
        sp_symbolizer_release();
    }
    if (fclose(out) != 0) {
        free(text);
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    return send_reply(c, MHD_HTTP_OK, resp);
}

void sp_http_keep_body(struct sp_http_request *rq, const char *data, size_t n)
{
    if (rq->body_len + n > SP_HTTP_MAX_BODY)
        n = SP_HTTP_MAX_BODY - rq->body_len;
    if (n == 0)
        return;
    char *b = realloc(rq->body, rq->body_len + n);
    if (!b)
        return;
    memcpy(b + rq->body_len, data, n);
    rq->body = b;
    rq->body_len += n;
}

/* ---- Routing ----------------------------------------------------------- */

enum MHD_Result sp_http_route(struct sp_http_server *s, struct MHD_Connection *c,
                              struct sp_http_request *rq, const char *url, const char *method)
{
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
        strcmp(method, "POST") != 0) {
        struct MHD_Response *resp = text_response("Method Not Allowed\n", "text/plain; charset=utf-8");
        if (resp)
            MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD, POST");
        return send_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
    }
    if (strcmp(url, "/debug/pprof") == 0)
        return send_redirect(c);
    if (strncmp(url, SP_HTTP_PREFIX, strlen(SP_HTTP_PREFIX)) != 0)
        return send_error(c, MHD_HTTP_NOT_FOUND, "404 page not found");
    const struct sp_http_page *p = find_page(url + strlen(SP_HTTP_PREFIX));
    if (!p)
        return send_error(c, MHD_HTTP_NOT_FOUND, "Unknown profile");
    return p->serve(s, c, rq, p);
}

#endif /* SYNCPROF_HAVE_MICROHTTPD */
