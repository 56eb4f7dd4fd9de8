/*
 * http_endpoint.c - the live-profile server: Go's net/http/pprof paths over
 * libmicrohttpd (syncprof_http_start/stop/port in <syncprof/http.h>), and
 * SYNCPROF_HTTP, read at load (sp_http_from_environment, called by config.c).
 *
 * Design: libmicrohttpd's own threads, one listening and one per connection
 * (at most 64, idle ones closed after 30 s), polling level-triggered. Each
 * of them marks itself "in profiler" in its first callback, for its whole
 * life, so nothing those threads do (their pthread locks under the
 * LD_PRELOAD interposer, the profile writers' work) is ever recorded. A
 * ?seconds=N request sleeps on its connection's thread (woken early by
 * stop), so other clients are served meanwhile. The listening socket is
 * ours (bound to loopback unless told otherwise), handed to the daemon.
 * (libmicrohttpd 0.9.75's epoll mode leaves connections whose client sent
 * junk and left unread until their timeout: poll mode does not.)
 *
 * Locking: ctl_lock (a spinlock) serializes start, stop and port; it is
 * held while stop joins the threads. The delta_ paths' bases are under
 * delta_lock (a spinlock: requests to them are serialized). Everything
 * else a request uses is its own.
 *
 * Built without libmicrohttpd's header (no SYNCPROF_HAVE_MICROHTTPD), or
 * when the library cannot be loaded at run time, the API is there and
 * syncprof_http_start returns ENOTSUP.
 */
#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <syncprof/syncprof.h>

#include "config.h"
#include "export.h"
#include "http_endpoint.h"

/* ---- Addresses --------------------------------------------------------- */

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* Splits addr into host (empty: the default) and port; false if it has
 * no port or does not parse. */
static bool split_addr(const char *addr, char *host, size_t hostsz, const char **port)
{
    const char *colon;
    size_t hostlen;

    if (all_digits(addr)) {
        host[0] = '\0';
        *port = addr;
        return true;
    }
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end || end[1] != ':')
            return false;
        hostlen = (size_t)(end - addr - 1);
        addr++;
        colon = end + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || memchr(addr, ':', (size_t)(colon - addr)))
            return false; /* none, or an IPv6 address without brackets */
        hostlen = (size_t)(colon - addr);
    }
    if (hostlen >= hostsz)
        return false;
    memcpy(host, addr, hostlen);
    host[hostlen] = '\0';
    *port = colon + 1;
    return all_digits(*port);
}

int sp_http_parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[256];
    const char *port = SP_HTTP_DEFAULT_PORT;
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICSERV };
    struct addrinfo *res;

    host[0] = '\0';
    if (addr && *addr && !split_addr(addr, host, sizeof host, &port))
        return EINVAL;
    if (strlen(port) > 5 || atoi(port) > 65535)
        return EINVAL;
    if (getaddrinfo(host[0] ? host : SP_HTTP_DEFAULT_HOST, port, &hints, &res) != 0)
        return EINVAL;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

#ifndef SYNCPROF_HAVE_MICROHTTPD

SP_PUBLIC int syncprof_http_start(const char *addr)
{
    (void)addr;
    return ENOTSUP;
}

SP_PUBLIC void syncprof_http_stop(void)
{
}

SP_PUBLIC int syncprof_http_port(void)
{
    return 0;
}

size_t sp_http_waiting(void)
{
    return 0;
}

static const char *http_where(void)
{
    return "";
}

#else /* SYNCPROF_HAVE_MICROHTTPD */

#include <arpa/inet.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <dlfcn.h>

/*
 * libmicrohttpd is loaded with dlopen when a server first starts, not
 * linked: a program that links syncprof, or runs under `syncprof run`, but
 * never serves profiles does not load it nor the TLS stack it depends on
 * (gnutls and a dozen more libraries). Its header is still used for the
 * types; each function the server calls goes through the table below.
 */
#define SP_MHD_FUNCTIONS(X) \
    X(MHD_add_response_header) \
    X(MHD_create_response_from_buffer) \
    X(MHD_create_response_from_fd) \
    X(MHD_destroy_response) \
    X(MHD_get_daemon_info) \
    X(MHD_lookup_connection_value) \
    X(MHD_queue_response) \
    X(MHD_start_daemon) \
    X(MHD_stop_daemon)

static struct {
#define SP_MHD_POINTER(f) __typeof__(f) *f;
    SP_MHD_FUNCTIONS(SP_MHD_POINTER)
#undef SP_MHD_POINTER
} mhd; /* filled once by mhd_load, under ctl_lock; then read only */

/* Loads libmicrohttpd and its functions once; true when they are there.
 * Called with ctl_lock held. */
static bool mhd_load(void)
{
    static int loaded; /* 0 not tried, 1 loaded, -1 not available */
    if (loaded)
        return loaded > 0;
    loaded = -1;
    void *h = dlopen("libmicrohttpd.so.12", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        h = dlopen("libmicrohttpd.so", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return false;
#define SP_MHD_RESOLVE(f) \
    if (!(mhd.f = (__typeof__(mhd.f))dlsym(h, #f))) \
        return false;
    SP_MHD_FUNCTIONS(SP_MHD_RESOLVE)
#undef SP_MHD_RESOLVE
    loaded = 1;
    return true;
}

/* From here on, calls name the table's entries (a macro is not expanded
 * again inside its own expansion, so mhd.f stays as it is). */
#define MHD_add_response_header mhd.MHD_add_response_header
#define MHD_create_response_from_buffer mhd.MHD_create_response_from_buffer
#define MHD_create_response_from_fd mhd.MHD_create_response_from_fd
#define MHD_destroy_response mhd.MHD_destroy_response
#define MHD_get_daemon_info mhd.MHD_get_daemon_info
#define MHD_lookup_connection_value mhd.MHD_lookup_connection_value
#define MHD_queue_response mhd.MHD_queue_response
#define MHD_start_daemon mhd.MHD_start_daemon
#define MHD_stop_daemon mhd.MHD_stop_daemon

#include "clock.h"
#include "profile_delta.h"
#include "profile_table.h"
#include "sampling.h"
#include "spinlock.h"
#include "symbolize.h"

#define SP_HTTP_PREFIX "/debug/pprof/"
#define SP_HTTP_MAX_BODY (1u << 20) /* bytes of a request body kept (symbol) */
#define SP_HTTP_MAX_CONNECTIONS 64u
#define SP_HTTP_IDLE_TIMEOUT_S 30u
#define SP_HTTP_BACKLOG 64
#define SP_HTTP_POLL_MAX_MS 1000 /* a ?seconds wait checks for stop this often */

/* ---- The paths --------------------------------------------------------- */

/* What each path under /debug/pprof/ serves. kind < 0: the threads
 * profile (written by syncprof_write_profile("threads", ...)). */
struct sp_http_path {
    const char *name;    /* after /debug/pprof/ */
    const char *profile; /* the name syncprof_write_profile knows */
    int kind;            /* enum sp_profile_kind, or -1 */
    bool delta;          /* since the previous request to this path */
    const char *desc;    /* for the index page */
};

static const struct sp_http_path paths[] = {
    { "block", "block", SP_PROFILE_BLOCK, false,
      "Stack traces that led to blocking on synchronization primitives" },
    { "delta_block", "block", SP_PROFILE_BLOCK, true,
      "The block profile recorded since the previous request to this path "
      "(as Pyroscope's godeltaprof)" },
    { "delta_mutex", "mutex", SP_PROFILE_MUTEX, true,
      "The mutex profile recorded since the previous request to this path "
      "(as Pyroscope's godeltaprof)" },
    { "goroutine", "threads", -1, false,
      "Stack traces of all current threads. Use debug=2 as a query parameter to export "
      "in the same format as an unrecovered panic." },
    { "mutex", "mutex", SP_PROFILE_MUTEX, false,
      "Stack traces of holders of contended mutexes" },
};

static const struct sp_http_path *find_path(const char *name)
{
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (strcmp(paths[i].name, name) == 0)
            return &paths[i];
    return NULL;
}

/* ---- Server state ------------------------------------------------------ */

/* One request, from its headers to its completion (MHD's con_cls). */
struct sp_http_request {
    char *body;        /* the body, up to SP_HTTP_MAX_BODY (for symbol) */
    size_t body_len;
};

struct sp_http_server {
    struct MHD_Daemon *daemon; /* set at start, then read-only */
    int wake_fd;               /* eventfd: written by stop, wakes ?seconds waits */
    int port;
    atomic_bool stopping;
    sp_spinlock delta_lock;    /* serializes the delta_ paths */
    struct sp_snapshot delta_base[SP_PROFILE__COUNT]; /* under delta_lock */
};

static sp_spinlock ctl_lock = SP_SPINLOCK_INIT;
static struct sp_http_server *server; /* under ctl_lock */
static char where[INET6_ADDRSTRLEN + 16]; /* "host:port" bound last, under ctl_lock */
static atomic_size_t waiting_count;    /* ?seconds requests in their wait */

size_t sp_http_waiting(void)
{
    return atomic_load(&waiting_count);
}

/*
 * Every callback starts here: the calling thread is one of libmicrohttpd's
 * (its listening thread or a connection's), and from now on, for its whole
 * life, it is "in profiler": nothing it does is recorded. (What such a
 * thread did before its first callback is accepting or reading a socket:
 * no lock another thread waits for.)
 */
static void enter_server_thread(void)
{
    static SP_TLS bool marked;
    if (!marked) {
        marked = true;
        sp_enter_profiler();
    }
}

/* ---- Replies ----------------------------------------------------------- */

/* Queues resp with status and X-Content-Type-Options: nosniff, which every
 * reply has (as Go's), and lets go of it. MHD_NO (close the connection)
 * when resp is NULL. */
static enum MHD_Result send_reply(struct MHD_Connection *c, unsigned status,
                                  struct MHD_Response *resp)
{
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
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

/* The index page: every path with a link and a description, as Go's. */
static enum MHD_Result send_index(struct MHD_Connection *c)
{
    char page[8192];
    size_t len = 0;
#define SP_PAGE(...) \
    len += (size_t)snprintf(page + len, len < sizeof page ? sizeof page - len : 0, __VA_ARGS__)
    SP_PAGE("<html>\n<head>\n<title>/debug/pprof/</title>\n</head>\n<body>\n/debug/pprof/\n"
            "<br>\n<p>Set debug=1 as a query parameter to export in legacy text format</p>\n"
            "<br>\nTypes of profiles available:\n<table>\n"
            "<thead><td>Count</td><td>Profile</td></thead>\n");
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        long n = paths[i].delta ? -1 : record_count(paths[i].kind);
        char count[32] = "";
        if (n >= 0)
            snprintf(count, sizeof count, "%ld", n);
        SP_PAGE("<tr><td>%s</td><td><a href='%s?debug=1'>%s</a></td></tr>\n", count,
                paths[i].name, paths[i].name);
    }
    SP_PAGE("</table>\n<a href=\"goroutine?debug=2\">full thread stack dump</a>\n<br>\n"
            "<p>\nProfile Descriptions:\n<ul>\n");
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        SP_PAGE("<li><div class=profile-name>%s: </div> %s</li>\n", paths[i].name, paths[i].desc);
    SP_PAGE("</ul>\n<p>mutex and block take seconds=N: the profile of the next N seconds.</p>\n"
            "</body>\n</html>\n");
#undef SP_PAGE
    if (len >= sizeof page)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "index too long");
    return send_reply(c, MHD_HTTP_OK, text_response(page, "text/html; charset=utf-8"));
}

/* What a profile reply writes: into fd, returning 0 or an errno. */
typedef int (*sp_http_writer)(int fd, int debug, void *arg);

/*
 * Writes the profile with w into an in-memory file and sends it: as
 * application/octet-stream with Content-Disposition attachment;
 * filename="<filename>" when debug is 0, as text/plain otherwise. EINVAL
 * from w means the profile does not exist (404); other errors are 500.
 */
static enum MHD_Result send_profile(struct MHD_Connection *c, const char *filename, int debug,
                                    sp_http_writer w, void *arg)
{
    int fd = memfd_create("syncprof-http", MFD_CLOEXEC);
    if (fd < 0)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "failed to collect profile");
    int r = w(fd, debug, arg);
    off_t size = r == 0 ? lseek(fd, 0, SEEK_CUR) : -1;
    if (r != 0 || size < 0) {
        close(fd);
        if (r == EINVAL)
            return send_error(c, MHD_HTTP_NOT_FOUND, "Unknown profile");
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

/* ---- Writers ----------------------------------------------------------- */

static int write_named(int fd, int debug, void *arg)
{
    const struct sp_http_path *p = arg;
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
static enum MHD_Result send_symbols(struct MHD_Connection *c, struct sp_http_request *rq)
{
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

/* Keeps the first SP_HTTP_MAX_BODY bytes of a request's body. */
static void keep_body(struct sp_http_request *rq, const char *data, size_t n)
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

/* ---- Parameters -------------------------------------------------------- */

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

/* Sleeps seconds on this connection's own thread, or less when the server
 * stops. Returns false when it stops. */
static bool wait_seconds(struct sp_http_server *s, long long seconds)
{
    int64_t deadline = sp_now_ns() + seconds * 1000000000LL;
    atomic_fetch_add(&waiting_count, 1);
    for (int64_t now = sp_now_ns(); now < deadline && !atomic_load(&s->stopping);
         now = sp_now_ns()) {
        struct pollfd p = { s->wake_fd, POLLIN, 0 };
        int64_t ms = (deadline - now + 999999) / 1000000;
        poll(&p, 1, ms > SP_HTTP_POLL_MAX_MS ? SP_HTTP_POLL_MAX_MS : (int)ms);
    }
    atomic_fetch_sub(&waiting_count, 1);
    return !atomic_load(&s->stopping);
}

/* The profile of the next N seconds, as Go's serveDeltaProfile: a first
 * snapshot now, the difference to a second one then. */
static enum MHD_Result serve_seconds(struct sp_http_server *s, struct MHD_Connection *c,
                                     const struct sp_http_path *p, long long seconds)
{
    struct sp_snapshot base;
    char filename[64];
    if (sp_snapshot_take(&base, (enum sp_profile_kind)p->kind) != 0)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "failed to collect profile");
    enum MHD_Result r;
    if (!wait_seconds(s, seconds)) {
        r = send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "server stopping");
    } else {
        snprintf(filename, sizeof filename, "%s-delta", p->name);
        r = send_profile(c, filename, 0, write_since_base, &base);
    }
    sp_snapshot_free(&base);
    return r;
}

/* ---- Routing ----------------------------------------------------------- */

static enum MHD_Result serve_path(struct sp_http_server *s, struct MHD_Connection *c,
                                  const struct sp_http_path *p)
{
    long long debug, seconds;
    bool has_debug, has_seconds;

    if (!int_param(c, "debug", 0, INT_MAX, &debug, &has_debug))
        return send_error(c, MHD_HTTP_BAD_REQUEST,
                          "invalid value for \"debug\" - must be a non-negative integer");
    if (!int_param(c, "seconds", 1, SP_HTTP_MAX_SECONDS, &seconds, &has_seconds))
        return send_error(c, MHD_HTTP_BAD_REQUEST,
                          "invalid value for \"seconds\" - must be a positive integer "
                          "of at most 86400");
    if (has_seconds) {
        if (p->kind < 0 || p->delta)
            return send_error(c, MHD_HTTP_BAD_REQUEST,
                              "\"seconds\" parameter is not supported for this profile type");
        if (debug != 0)
            return send_error(c, MHD_HTTP_BAD_REQUEST, "seconds and debug params are incompatible");
        return serve_seconds(s, c, p, seconds);
    }
    if (p->delta) {
        char filename[64];
        snprintf(filename, sizeof filename, "%s.pprof.gz", p->profile); /* as godeltaprof */
        struct sp_delta_arg a = { s, (enum sp_profile_kind)p->kind };
        return send_profile(c, filename, (int)debug, write_since_previous, &a);
    }
    return send_profile(c, p->name, (int)debug, write_named, (void *)p);
}

static enum MHD_Result route(struct sp_http_server *s, struct MHD_Connection *c,
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
    const char *name = url + strlen(SP_HTTP_PREFIX);
    if (!*name)
        return send_index(c);
    if (strcmp(name, "symbol") == 0)
        return send_symbols(c, rq);
    const struct sp_http_path *p = find_path(name);
    if (!p)
        return send_error(c, MHD_HTTP_NOT_FOUND, "Unknown profile");
    return serve_path(s, c, p);
}

/* MHD's access handler: called once with the headers (we only make the
 * request's state), then for each piece of a body (kept for symbol), then
 * once to answer. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct sp_http_server *s = cls;
    struct sp_http_request *rq = *con_cls;
    (void)version;
    enter_server_thread();
    if (!rq) {
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        keep_body(rq, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return route(s, c, rq, url ? url : "", method ? method : "");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct sp_http_request *rq = *con_cls;
    (void)cls;
    (void)c;
    (void)toe;
    enter_server_thread();
    if (!rq)
        return;
    free(rq->body);
    free(rq);
    *con_cls = NULL;
}

/* Called on the listening thread for each new connection, before any
 * request of it: marks that thread early. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void)cls;
    (void)addr;
    (void)addrlen;
    enter_server_thread();
    return MHD_YES;
}

/* Called on a connection's thread when it starts. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    (void)c;
    (void)socket_context;
    (void)code;
    enter_server_thread();
}

/* ---- Start and stop ---------------------------------------------------- */

/* A listening socket on ss, non-blocking and close-on-exec; its port in
 * *port. Returns the fd, or -1 with errno set. */
static int listen_on(const struct sockaddr_storage *ss, socklen_t len, int *port)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss->ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)ss, len) != 0 || listen(fd, SP_HTTP_BACKLOG) != 0 ||
        getsockname(fd, (struct sockaddr *)&bound, &blen) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    char host[INET6_ADDRSTRLEN] = "?";
    if (bound.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&bound;
        *port = ntohs(a->sin6_port);
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        snprintf(where, sizeof where, "[%s]:%d", host, *port);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&bound;
        *port = ntohs(a->sin_port);
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        snprintf(where, sizeof where, "%s:%d", host, *port);
    }
    return fd;
}

/*
 * The daemon and its threads: one listening thread and one thread per
 * connection (at most SP_HTTP_MAX_CONNECTIONS), each polling its own
 * sockets (level-triggered: a client that sends half a request and goes
 * away is noticed at once). They are created with the ordinary signals
 * blocked, so those stay with the program's threads (a program that
 * sigwaits for them in a thread of its own keeps getting them); the
 * real-time ones stay open: thread dumps signal every thread for its stack
 * (thread_stacks.h).
 */
static struct MHD_Daemon *start_daemon(struct sp_http_server *s, int listen_fd, int family)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL;
    sigset_t all, old;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    sigfillset(&all);
    for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
        sigdelset(&all, sig);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, on_accept, NULL, on_request, s,
        MHD_OPTION_LISTEN_SOCKET, listen_fd,
        MHD_OPTION_CONNECTION_LIMIT, SP_HTTP_MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, SP_HTTP_IDLE_TIMEOUT_S,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return d;
}

static void server_free(struct sp_http_server *s)
{
    for (int k = 0; k < SP_PROFILE__COUNT; k++)
        sp_snapshot_free(&s->delta_base[k]);
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    free(s);
}

static int server_start(const struct sockaddr_storage *ss, socklen_t len,
                        struct sp_http_server **out)
{
    struct sp_http_server *s = calloc(1, sizeof *s);
    if (!s)
        return ENOMEM;
    s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int listen_fd = s->wake_fd < 0 ? -1 : listen_on(ss, len, &s->port);
    if (listen_fd < 0) {
        int e = errno;
        server_free(s);
        return e;
    }
    for (int k = 0; k < SP_PROFILE__COUNT; k++)
        s->delta_base[k].kind = (enum sp_profile_kind)k;
    s->daemon = start_daemon(s, listen_fd, ss->ss_family);
    if (!s->daemon) {
        int e = errno ? errno : ENOMEM;
        close(listen_fd);
        server_free(s);
        return e;
    }
    *out = s;
    return 0;
}

/* In a child made by fork, the server's threads do not exist: forget the
 * server (its memory stays) and close its listening socket, so the child
 * can start its own and does not hold the port. */
static void forget_in_child(void)
{
    __atomic_store_n(&ctl_lock.locked, 0, __ATOMIC_RELAXED);
    if (server) {
        const union MHD_DaemonInfo *info =
            MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_LISTEN_FD);
        if (info)
            close(info->listen_fd);
        close(server->wake_fd);
        server = NULL;
    }
    atomic_store(&waiting_count, 0);
}

SP_PUBLIC int syncprof_http_start(const char *addr)
{
    static atomic_bool atfork_set;
    struct sockaddr_storage ss;
    socklen_t len;
    int r = sp_http_parse_addr(addr, &ss, &len);
    if (r != 0)
        return r;
    if (!atomic_exchange(&atfork_set, true))
        pthread_atfork(NULL, NULL, forget_in_child);
    sp_enter_profiler();
    sp_spin_lock(&ctl_lock);
    if (server)
        r = EBUSY;
    else
        r = mhd_load() ? server_start(&ss, len, &server) : ENOTSUP;
    sp_spin_unlock(&ctl_lock);
    sp_leave_profiler();
    return r;
}

SP_PUBLIC void syncprof_http_stop(void)
{
    uint64_t one = 1;
    sp_enter_profiler(); /* joining the threads is the library's wait */
    sp_spin_lock(&ctl_lock);
    struct sp_http_server *s = server;
    server = NULL;
    if (s) {
        atomic_store(&s->stopping, true);
        (void)!write(s->wake_fd, &one, sizeof one); /* ?seconds waits answer 503 */
        MHD_stop_daemon(s->daemon);
        server_free(s);
    }
    sp_spin_unlock(&ctl_lock);
    sp_leave_profiler();
}

SP_PUBLIC int syncprof_http_port(void)
{
    sp_spin_lock(&ctl_lock);
    int port = server ? server->port : 0;
    sp_spin_unlock(&ctl_lock);
    return port;
}

/* Where the server listens, "host:port", for the start-up message. */
static const char *http_where(void)
{
    return where;
}

#endif /* SYNCPROF_HAVE_MICROHTTPD */

/* ---- SYNCPROF_HTTP ----------------------------------------------------- */

/* Starts the server when SYNCPROF_HTTP is set, and says where it listens
 * (or why it does not) on stderr. */
void sp_http_from_environment(void)
{
    const char *addr = sp_getenv("SYNCPROF_HTTP");
    if (!addr || !*addr)
        return;
    int r = syncprof_http_start(addr);
    if (r == EINVAL)
        sp_env_warn("SYNCPROF_HTTP", addr, "an address such as 127.0.0.1:6060");
    else if (r != 0)
        fprintf(stderr, "syncprof: cannot serve profiles on SYNCPROF_HTTP=\"%s\": %s\n", addr,
                strerror(r));
    else
        fprintf(stderr, "syncprof: serving profiles on http://%s/debug/pprof/\n", http_where());
}
