/*
 * http_endpoint.c - the live-profile server: Go's net/http/pprof paths over
 * libmicrohttpd (syncprof_http_start/stop/port in <syncprof/http.h>), and
 * SYNCPROF_HTTP and SYNCPROF_HTTP_TOKEN_FILE, read at load
 * (sp_http_from_environment, called by config.c's constructor).
 *
 * Design: a gate thread of our own owns the listening socket and holds
 * each new connection until its whole request header has arrived (peeked
 * with MSG_PEEK, never read), checks that header strictly, and only then
 * hands the socket to libmicrohttpd (MHD_add_connection), whose threads
 * (one per connection, polling level-triggered) parse and answer it. So a
 * client that trickles its header, or sends none, holds no thread and no
 * answering slot; the gate bounds such connections in number (per client
 * and in all, the oldest giving way to a new one) and in time (the whole
 * header within SP_HTTP_HEADER_TIMEOUT_MS). Answering connections are
 * bounded in number (per client and in all), each answer in time (the gate
 * shuts a socket down past its deadline, through a duplicate it keeps for
 * that), and ?seconds=N waits have slots of their own, so they can never
 * take every slot. Every answer closes its connection: an idle kept-alive
 * connection would hold a slot for nothing. A ?seconds=N wait polls its
 * client's socket and gives up as soon as the client goes away.
 *
 * The gate and libmicrohttpd's threads mark themselves "in profiler" for
 * their whole life, so nothing they do (their pthread locks under the
 * LD_PRELOAD interposer, the profile writers' work) is ever recorded.
 * Addresses are numeric (or "localhost"): nothing is resolved, so starting
 * from a constructor never queries DNS. An optional bearer token
 * (SYNCPROF_HTTP_TOKEN_FILE) is required of every request when set.
 * (libmicrohttpd 0.9.75's epoll mode leaves connections whose client sent
 * junk and left unread until their timeout: its poll mode does not.)
 *
 * Locking: ctl_lock (a spinlock) serializes start, stop and port; it is
 * held while stop joins the threads. conn_lock (a spinlock) guards the
 * table of answering connections, which the gate, libmicrohttpd's
 * connection callbacks and ?seconds waits share. The gate's table of
 * connections still sending their header is the gate thread's alone. The
 * delta_ paths' bases are under delta_lock (requests to them are
 * serialized). Everything else a request uses is its own.
 *
 * Built without libmicrohttpd's header (no SYNCPROF_HAVE_MICROHTTPD), or
 * when the library cannot be loaded at run time, the API is there and
 * syncprof_http_start returns ENOTSUP.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <syncprof/syncprof.h>

#include "config.h"
#include "env.h"
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
static bool split_addr(const char *addr, char *host, size_t hostsz, const char **port,
                       bool *bracketed)
{
    const char *colon;
    size_t hostlen;

    *bracketed = addr[0] == '[';
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

/* Numeric addresses only (and "localhost", which is 127.0.0.1 here): a
 * name would be looked up through NSS and DNS, possibly from a constructor
 * at program start, and could resolve to an address nobody meant. */
int sp_http_parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[256];
    const char *port = SP_HTTP_DEFAULT_PORT;
    bool bracketed = false;

    host[0] = '\0';
    if (addr && *addr && !split_addr(addr, host, sizeof host, &port, &bracketed))
        return EINVAL;
    if (strlen(port) > 5 || atoi(port) > 65535)
        return EINVAL;
    const char *h = host[0] ? host : SP_HTTP_DEFAULT_HOST;
    if (strcasecmp(h, "localhost") == 0)
        h = "127.0.0.1";
    uint16_t p = htons((uint16_t)atoi(port));
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (!bracketed && inet_pton(AF_INET, h, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = p;
        *len = sizeof *a4;
        return 0;
    }
    if (bracketed && inet_pton(AF_INET6, h, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = p;
        *len = sizeof *a6;
        return 0;
    }
    return EINVAL;
}

bool sp_http_is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24 == 127;
    if (ss->ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

/* ---- Strict request headers -------------------------------------------- */

/* RFC 9110's tchar: the bytes of a method and of a field name. */
static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

/* RFC 3986's characters of a path and query (a '%' is checked apart). */
static bool is_target_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("-._~!$&'()*+,;=:@/?", c));
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Steps over a line end, CRLF or a lone LF (RFC 9112 2.2); false when *q
 * is not at one. */
static bool line_end(const unsigned char **q, const unsigned char *end)
{
    if (*q < end && **q == '\n') {
        (*q)++;
        return true;
    }
    if (end - *q >= 2 && (*q)[0] == '\r' && (*q)[1] == '\n') {
        *q += 2;
        return true;
    }
    return false;
}

size_t sp_http_head_end(const char *buf, size_t n, size_t *start)
{
    size_t i = 0;
    while (i < n && (buf[i] == '\r' || buf[i] == '\n'))
        i++;
    *start = i;
    for (; i < n; i++) {
        if (buf[i] != '\n')
            continue;
        if (i + 1 < n && buf[i + 1] == '\n')
            return i + 2;
        if (i + 2 < n && buf[i + 1] == '\r' && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

const char *sp_http_check_head(const char *head, size_t len)
{
    const unsigned char *q = (const unsigned char *)head, *end = q + len, *from;
    bool http11, host = false;

    from = q;
    while (q < end && is_tchar(*q))
        q++;
    if (q == from || q == end || *q != ' ')
        return "malformed request line";
    from = ++q;
    while (q < end && *q != ' ' && *q != '\r' && *q != '\n') {
        if (*q == '%') {
            if (end - q < 3 || hex_value(q[1]) < 0 || hex_value(q[2]) < 0)
                return "bad %-escape in the request target";
            if (q[1] == '0' && q[2] == '0')
                return "NUL (%00) in the request target";
            q += 3;
        } else if (!is_target_char(*q)) {
            return *q ? "invalid character in the request target"
                      : "NUL in the request target";
        } else {
            q++;
        }
    }
    if (q == from || q == end || *q != ' ')
        return "malformed request line";
    q++;
    if (end - q < 8 || memcmp(q, "HTTP/", 5) != 0 || !isdigit(q[5]) || q[6] != '.' ||
        !isdigit(q[7]))
        return "malformed request line";
    http11 = memcmp(q + 5, "1.1", 3) == 0;
    q += 8;
    if (!line_end(&q, end))
        return "malformed request line";
    for (;;) {
        if (q == end)
            return "header without its empty line";
        if (*q == '\n' || (*q == '\r' && end - q >= 2 && q[1] == '\n'))
            break;
        if (*q == ' ' || *q == '\t')
            return "folded header line";
        from = q;
        while (q < end && is_tchar(*q))
            q++;
        if (q == from || q == end || *q != ':')
            return "malformed header line";
        if (q - from == 4 && strncasecmp((const char *)from, "host", 4) == 0) {
            if (host)
                return "more than one Host header";
            host = true;
        }
        q++;
        while (q < end && *q != '\r' && *q != '\n') {
            if ((*q < 0x20 && *q != '\t') || *q == 0x7f)
                return *q ? "control character in a header field" : "NUL in a header field";
            q++;
        }
        if (!line_end(&q, end))
            return "bare CR in a header field";
    }
    if (http11 && !host)
        return "missing required Host header";
    return NULL;
}

/* ---- The token --------------------------------------------------------- */

/* RFC 6750's b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" /
 * "/" ) *"=". */
static bool is_token68(const char *t, size_t n)
{
    size_t i = 0;
    while (i < n && (isalnum((unsigned char)t[i]) || strchr("-._~+/", t[i])) && t[i])
        i++;
    if (i == 0)
        return false;
    while (i < n && t[i] == '=')
        i++;
    return i == n;
}

int sp_http_load_token(const char *path, char **token, size_t *len)
{
    char buf[SP_HTTP_MAX_TOKEN + 64];
    size_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return errno;
    struct stat st;
    int e = 0;
    if (fstat(fd, &st) != 0)
        e = errno;
    else if (!S_ISREG(st.st_mode))
        e = EINVAL;
    while (e == 0 && n < sizeof buf) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            e = errno;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (e == 0 && n == sizeof buf)
        e = EINVAL; /* too long */
    while (n > 0 && strchr(" \t\r\n", buf[n - 1]))
        n--;
    if (e == 0 && (n == 0 || n > SP_HTTP_MAX_TOKEN || !is_token68(buf, n)))
        e = EINVAL;
    if (e == 0 && !(*token = malloc(n + 1)))
        e = ENOMEM;
    if (e == 0) {
        memcpy(*token, buf, n);
        (*token)[n] = '\0';
        *len = n;
    }
    explicit_bzero(buf, sizeof buf);
    return e;
}

bool sp_http_token_ok(const char *want, size_t wantlen, const char *got)
{
    if (!got || strncasecmp(got, "Bearer ", 7) != 0)
        return false;
    got += 7;
    while (*got == ' ')
        got++;
    size_t gotlen = strlen(got);
    while (gotlen > 0 && (got[gotlen - 1] == ' ' || got[gotlen - 1] == '\t'))
        gotlen--;
    /* volatile: the loop must run to its end, never stop at the first
     * difference, whatever the compiler can prove about diff. */
    volatile unsigned diff = gotlen != wantlen;
    for (size_t i = 0; i < wantlen; i++)
        diff |= (unsigned char)want[i] ^ (unsigned char)(i < gotlen ? got[i] : 0);
    return diff == 0;
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

void sp_http_stats(struct sp_http_stats *st)
{
    memset(st, 0, sizeof *st);
}

static const char *http_where(void)
{
    return "";
}

#else /* SYNCPROF_HAVE_MICROHTTPD */

#include <limits.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include <dlfcn.h>

/*
 * libmicrohttpd is loaded with dlopen when a server first starts, not
 * linked: a program that links syncprof, or runs under `syncprof run`, but
 * never serves profiles does not load it nor the TLS stack it depends on
 * (gnutls and a dozen more libraries). Its header is still used for the
 * types; each function the server calls goes through the table below.
 */
#define SP_MHD_FUNCTIONS(X) \
    X(MHD_add_connection) \
    X(MHD_add_response_header) \
    X(MHD_create_response_from_buffer) \
    X(MHD_create_response_from_fd) \
    X(MHD_destroy_response) \
    X(MHD_get_connection_info) \
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
#define MHD_add_connection mhd.MHD_add_connection
#define MHD_add_response_header mhd.MHD_add_response_header
#define MHD_create_response_from_buffer mhd.MHD_create_response_from_buffer
#define MHD_create_response_from_fd mhd.MHD_create_response_from_fd
#define MHD_destroy_response mhd.MHD_destroy_response
#define MHD_get_connection_info mhd.MHD_get_connection_info
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
#define SP_HTTP_BACKLOG 64
#define SP_HTTP_POLL_MAX_MS 1000 /* a ?seconds wait checks for stop this often */
#define SP_HTTP_ACCEPT_BURST 64  /* connections the gate accepts in a row */
#define SP_HTTP_DRAIN_MAX 65536  /* bytes read and dropped before a refusal */

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

/* A client, for the per-client limits: its address without the port. */
struct sp_http_client {
    sa_family_t family;
    unsigned char addr[16];
};

/* A connection whose request header has not all arrived (the gate's). */
struct sp_http_pending {
    int fd;                  /* -1: a free slot */
    uint32_t gen;            /* tells a slot's successive connections apart */
    int64_t since;           /* accepted at, ns: the oldest gives way first */
    struct sp_http_client who;
    struct sockaddr_storage peer;
    socklen_t peerlen;
};

/*
 * A connection handed to libmicrohttpd (under conn_lock). Its request is
 * done (answered) before libmicrohttpd lets go of the connection
 * (NOTIFY_CLOSED, from its own thread, a little later): a done one no
 * longer counts against the limits, though it keeps its entry until then,
 * so the table has room for twice the limit.
 */
#define SP_HTTP_CONN_SLOTS (2 * SP_HTTP_MAX_CONNECTIONS)
struct sp_http_conn {
    int fd;          /* the socket, libmicrohttpd's; -1: a free slot */
    int keep;        /* our duplicate of it: shutdown() stays safe until it is closed */
    bool claimed;    /* libmicrohttpd started it; its socket_context points here */
    bool reaped;     /* shut down at its deadline */
    bool done;       /* its request was answered */
    int64_t deadline; /* ns: the answer must be out by then */
    struct sp_http_client who;
};

/* One request, from its headers to its completion (MHD's con_cls). */
struct sp_http_request {
    char *body;        /* the body, up to SP_HTTP_MAX_BODY (for symbol) */
    size_t body_len;
    bool refused;      /* answered at its headers (401): the rest is dropped */
};

struct sp_http_server {
    struct MHD_Daemon *daemon; /* set at start, then read-only */
    int wake_fd;               /* eventfd: written by stop, wakes the gate and ?seconds waits */
    int listen_fd;             /* the gate's */
    int epoll_fd;              /* the gate's: wake_fd, listen_fd, pending sockets */
    int port;
    char *token;               /* the bearer token every request must carry, or NULL */
    size_t token_len;
    pthread_t gate;
    bool gate_running;
    atomic_bool stopping;
    int64_t accept_paused_until; /* the gate's: out of descriptors, accept later */
    struct sp_http_pending pending[SP_HTTP_MAX_PENDING]; /* the gate's */
    char peek[SP_HTTP_MAX_HEADER];                      /* the gate's */
    sp_spinlock conn_lock;
    struct sp_http_conn conns[SP_HTTP_CONN_SLOTS]; /* under conn_lock */
    sp_spinlock delta_lock;    /* serializes the delta_ paths */
    struct sp_snapshot delta_base[SP_PROFILE__COUNT]; /* under delta_lock */
};

static sp_spinlock ctl_lock = SP_SPINLOCK_INIT;
static struct sp_http_server *server; /* under ctl_lock */
static char where[INET6_ADDRSTRLEN + 16]; /* "host:port" bound last, under ctl_lock */
static atomic_size_t waiting_count;    /* ?seconds requests in their wait */
static atomic_size_t pending_count;    /* connections in the gate */
static atomic_size_t active_count;     /* connections handed to libmicrohttpd, not done */

size_t sp_http_waiting(void)
{
    return atomic_load(&waiting_count);
}

void sp_http_stats(struct sp_http_stats *st)
{
    st->pending = atomic_load(&pending_count);
    st->active = atomic_load(&active_count);
    st->waiting = atomic_load(&waiting_count);
}

/*
 * Every callback starts here: the calling thread is one of libmicrohttpd's
 * (a connection's, or its own) or the gate, and from now on, for its whole
 * life, it is "in profiler": nothing it does is recorded. (What such a
 * thread did before its first callback is reading a socket: no lock
 * another thread waits for.)
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

/* The answering connection c is, in the gate's table (NULL if unknown). */
static struct sp_http_conn *conn_of(struct MHD_Connection *c)
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
    size_t n = atomic_load(&waiting_count);
    do {
        if (n >= SP_HTTP_MAX_SECONDS_REQUESTS)
            return false;
    } while (!atomic_compare_exchange_weak(&waiting_count, &n, n + 1));
    return true;
}

/* The profile of the next N seconds, as Go's serveDeltaProfile: a first
 * snapshot now, the difference to a second one then. */
static enum MHD_Result serve_seconds(struct sp_http_server *s, struct MHD_Connection *c,
                                     const struct sp_http_path *p, long long seconds)
{
    struct sp_snapshot base;
    char filename[64];
    if (!take_seconds_slot()) {
        char msg[96];
        snprintf(msg, sizeof msg, "too many seconds=N requests in progress (at most %d)",
                 SP_HTTP_MAX_SECONDS_REQUESTS);
        return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
    }
    struct sp_http_conn *conn = conn_of(c);
    if (conn) {
        sp_spin_lock(&s->conn_lock);
        conn->deadline = sp_now_ns() + (seconds + SP_HTTP_REQUEST_TIMEOUT_S) * 1000000000LL;
        sp_spin_unlock(&s->conn_lock);
    }
    enum MHD_Result r;
    if (sp_snapshot_take(&base, (enum sp_profile_kind)p->kind) != 0) {
        atomic_fetch_sub(&waiting_count, 1);
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "failed to collect profile");
    }
    enum sp_wait_end end = wait_seconds(s, conn, seconds);
    atomic_fetch_sub(&waiting_count, 1);
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

/* 401 with the challenge RFC 6750 names. */
static enum MHD_Result send_unauthorized(struct MHD_Connection *c)
{
    struct MHD_Response *resp = text_response("Unauthorized\n", "text/plain; charset=utf-8");
    if (resp)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"syncprof\"");
    return send_reply(c, MHD_HTTP_UNAUTHORIZED, resp);
}

/* MHD's access handler: called once with the headers (we make the
 * request's state and check its token), then for each piece of a body
 * (kept for symbol), then once to answer. */
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
        if (s->token &&
            !sp_http_token_ok(s->token, s->token_len,
                              MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                          MHD_HTTP_HEADER_AUTHORIZATION))) {
            rq->refused = true;
            return send_unauthorized(c);
        }
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        if (!rq->refused)
            keep_body(rq, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rq->refused)
        return MHD_YES; /* its 401 is queued */
    return route(s, c, rq, url ? url : "", method ? method : "");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct sp_http_server *s = cls;
    struct sp_http_request *rq = *con_cls;
    (void)toe;
    enter_server_thread();
    /* The one request of its connection (every answer closes it): the
     * connection no longer counts against the limits. */
    struct sp_http_conn *k = conn_of(c);
    if (k) {
        sp_spin_lock(&s->conn_lock);
        if (!k->done) {
            k->done = true;
            atomic_fetch_sub(&active_count, 1);
        }
        sp_spin_unlock(&s->conn_lock);
    }
    if (!rq)
        return;
    free(rq->body);
    free(rq);
    *con_cls = NULL;
}

/*
 * A connection starts (in the gate's MHD_add_connection, or on its own
 * thread) or ends. At the start its socket_context is set to its entry in
 * the table, found by its socket among the entries not yet claimed (only
 * one such entry can have a given socket: the socket is open); at the end
 * the entry and its duplicate socket are let go.
 */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct sp_http_server *s = cls;
    enter_server_thread();
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = NULL;
        if (!ci)
            return;
        sp_spin_lock(&s->conn_lock);
        for (size_t i = 0; i < SP_HTTP_CONN_SLOTS; i++) {
            struct sp_http_conn *k = &s->conns[i];
            if (k->fd >= 0 && k->fd == ci->connect_fd && !k->claimed) {
                k->claimed = true;
                *socket_context = k;
                break;
            }
        }
        sp_spin_unlock(&s->conn_lock);
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        struct sp_http_conn *k = *socket_context;
        if (!k)
            return;
        sp_spin_lock(&s->conn_lock);
        close(k->keep);
        if (!k->done)
            atomic_fetch_sub(&active_count, 1);
        k->fd = k->keep = -1;
        k->claimed = k->reaped = k->done = false;
        sp_spin_unlock(&s->conn_lock);
        *socket_context = NULL;
    }
}

/* ---- The gate ---------------------------------------------------------- */

enum { GATE_WAKE = 0, GATE_LISTEN = 1 }; /* epoll tags; pending sockets: see pending_tag */

static uint64_t pending_tag(const struct sp_http_server *s, size_t slot)
{
    return (uint64_t)s->pending[slot].gen << 32 | (slot + 2);
}

static struct sp_http_client client_of(const struct sockaddr_storage *peer)
{
    struct sp_http_client who;
    memset(&who, 0, sizeof who);
    who.family = peer->ss_family;
    if (peer->ss_family == AF_INET)
        memcpy(who.addr, &((const struct sockaddr_in *)peer)->sin_addr, 4);
    else if (peer->ss_family == AF_INET6)
        memcpy(who.addr, &((const struct sockaddr_in6 *)peer)->sin6_addr, 16);
    return who;
}

static bool same_client(const struct sp_http_client *a, const struct sp_http_client *b)
{
    return a->family == b->family && memcmp(a->addr, b->addr, sizeof a->addr) == 0;
}

static void drop_pending(struct sp_http_server *s, size_t slot)
{
    close(s->pending[slot].fd); /* which also takes it out of the epoll set */
    s->pending[slot].fd = -1;
    atomic_fetch_sub(&pending_count, 1);
}

/*
 * Answers a pending connection with status and why, and closes it: what
 * the client sent is read first (up to SP_HTTP_DRAIN_MAX), so closing does
 * not reset the connection before the client reads the answer.
 */
static void refuse_pending(struct sp_http_server *s, size_t slot, int status, const char *title,
                           const char *why)
{
    int fd = s->pending[slot].fd;
    char resp[512];
    for (size_t got = 0; got < SP_HTTP_DRAIN_MAX;) {
        ssize_t r = recv(fd, s->peek, sizeof s->peek, MSG_DONTWAIT);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    char body[256];
    int blen = snprintf(body, sizeof body, "%d %s: %s\n", status, title, why);
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "X-Content-Type-Options: nosniff\r\nConnection: close\r\n%s"
                     "Content-Length: %d\r\n\r\n%s",
                     status, title, status == 503 ? "Retry-After: 1\r\n" : "", blen, body);
    if (n > 0 && (size_t)n < sizeof resp)
        (void)!send(fd, resp, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
    shutdown(fd, SHUT_WR);
    drop_pending(s, slot);
}

/*
 * Hands a pending connection whose header is complete and sound to
 * libmicrohttpd, within the limits on answering connections (else 503).
 * The entry made for it keeps a duplicate of the socket, so the gate can
 * shut the connection down at its deadline whatever libmicrohttpd does
 * with its own descriptor.
 */
static void hand_over(struct sp_http_server *s, size_t slot, int64_t now)
{
    struct sp_http_pending *pd = &s->pending[slot];
    int keep = fcntl(pd->fd, F_DUPFD_CLOEXEC, 3);
    struct sp_http_conn *k = NULL;
    size_t mine = 0, used = 0;
    if (keep < 0) {
        refuse_pending(s, slot, 503, "Service Unavailable", "out of file descriptors");
        return;
    }
    sp_spin_lock(&s->conn_lock);
    for (size_t i = 0; i < SP_HTTP_CONN_SLOTS; i++) {
        if (s->conns[i].fd < 0) {
            if (!k)
                k = &s->conns[i];
            continue;
        }
        if (s->conns[i].done)
            continue;
        used++;
        mine += same_client(&s->conns[i].who, &pd->who);
    }
    if (k && used < SP_HTTP_MAX_CONNECTIONS && mine < SP_HTTP_MAX_CONNECTIONS_PER_CLIENT) {
        *k = (struct sp_http_conn){ .fd = pd->fd, .keep = keep, .who = pd->who,
                                    .deadline = now + SP_HTTP_REQUEST_TIMEOUT_S * 1000000000LL };
        atomic_fetch_add(&active_count, 1);
    } else {
        k = NULL;
    }
    sp_spin_unlock(&s->conn_lock);
    if (!k) {
        close(keep);
        refuse_pending(s, slot, 503, "Service Unavailable",
                       mine >= SP_HTTP_MAX_CONNECTIONS_PER_CLIENT
                           ? "too many connections from this client"
                           : "too many connections");
        return;
    }
    int fd = pd->fd;
    epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, fd, NULL); /* the duplicate would keep it in the set */
    pd->fd = -1;
    atomic_fetch_sub(&pending_count, 1);
    if (MHD_add_connection(s->daemon, fd, (const struct sockaddr *)&pd->peer, pd->peerlen) !=
        MHD_YES) {
        /* libmicrohttpd closed fd. An entry it never claimed is ours to
         * let go; a claimed one goes at NOTIFY_CLOSED. */
        sp_spin_lock(&s->conn_lock);
        if (!k->claimed) {
            close(k->keep);
            k->fd = k->keep = -1;
            atomic_fetch_sub(&active_count, 1);
        }
        sp_spin_unlock(&s->conn_lock);
    }
}

/* A pending connection has news (data, or its end): has its header all
 * come, and is it sound? */
static void examine(struct sp_http_server *s, size_t slot, uint32_t events, int64_t now)
{
    int fd = s->pending[slot].fd;
    ssize_t n = recv(fd, s->peek, sizeof s->peek, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        drop_pending(s, slot); /* gone */
        return;
    }
    size_t start = 0, end = n > 0 ? sp_http_head_end(s->peek, (size_t)n, &start) : 0;
    if (end == 0) {
        if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            drop_pending(s, slot); /* it stopped sending: its header never completes */
        else if ((size_t)n == sizeof s->peek)
            refuse_pending(s, slot, 431, "Request Header Fields Too Large",
                           "the request header is larger than 16384 bytes");
        return;
    }
    const char *why = sp_http_check_head(s->peek + start, end - start);
    if (why)
        refuse_pending(s, slot, 400, "Bad Request", why);
    else
        hand_over(s, slot, now);
}

/*
 * Takes a new connection into the pending table. A client that already
 * has SP_HTTP_MAX_PENDING_PER_CLIENT there loses its oldest one (so it
 * can only ever crowd out itself); a full table loses its oldest.
 */
static void admit(struct sp_http_server *s, int fd, const struct sockaddr_storage *peer,
                  socklen_t peerlen, int64_t now)
{
    struct sp_http_client who = client_of(peer);
    size_t mine = 0, slot = SIZE_MAX, oldest = SIZE_MAX, oldest_mine = SIZE_MAX;
    for (size_t i = 0; i < SP_HTTP_MAX_PENDING; i++) {
        struct sp_http_pending *pd = &s->pending[i];
        if (pd->fd < 0) {
            if (slot == SIZE_MAX)
                slot = i;
            continue;
        }
        if (oldest == SIZE_MAX || pd->since < s->pending[oldest].since)
            oldest = i;
        if (same_client(&pd->who, &who)) {
            mine++;
            if (oldest_mine == SIZE_MAX || pd->since < s->pending[oldest_mine].since)
                oldest_mine = i;
        }
    }
    if (mine >= SP_HTTP_MAX_PENDING_PER_CLIENT || slot == SIZE_MAX) {
        /* The one to give way may have sent its whole header since the
         * gate last looked: then it is answered, not dropped. */
        slot = mine >= SP_HTTP_MAX_PENDING_PER_CLIENT ? oldest_mine : oldest;
        examine(s, slot, 0, now);
        if (s->pending[slot].fd >= 0)
            drop_pending(s, slot);
    }
    struct sp_http_pending *pd = &s->pending[slot];
    pd->fd = fd;
    pd->gen++;
    pd->since = now;
    pd->who = who;
    pd->peer = *peer;
    pd->peerlen = peerlen;
    atomic_fetch_add(&pending_count, 1);
    /* Edge-triggered: each new arrival of data is one event, although the
     * gate only peeks and leaves the data there for libmicrohttpd. */
    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET,
                              .data.u64 = pending_tag(s, slot) };
    if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0)
        drop_pending(s, slot);
    else
        examine(s, slot, 0, now); /* a client usually sends its request at once */
}

/* The oldest pending connection, closed to free a descriptor; false when
 * there is none. */
static bool drop_oldest(struct sp_http_server *s)
{
    size_t oldest = SIZE_MAX;
    for (size_t i = 0; i < SP_HTTP_MAX_PENDING; i++)
        if (s->pending[i].fd >= 0 &&
            (oldest == SIZE_MAX || s->pending[i].since < s->pending[oldest].since))
            oldest = i;
    if (oldest == SIZE_MAX)
        return false;
    drop_pending(s, oldest);
    return true;
}

static void set_accepting(struct sp_http_server *s, bool on)
{
    struct epoll_event ev = { .events = on ? EPOLLIN : 0, .data.u64 = GATE_LISTEN };
    epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, s->listen_fd, &ev);
}

static void accept_some(struct sp_http_server *s, int64_t now)
{
    for (int i = 0; i < SP_HTTP_ACCEPT_BURST; i++) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        int fd = accept4(s->listen_fd, (struct sockaddr *)&peer, &plen,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            admit(s, fd, &peer, plen, now);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if ((errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) &&
            !drop_oldest(s)) {
            /* Out of descriptors with nothing of ours to give back: the
             * connection waits in the backlog; try again in 100 ms rather
             * than spin on a listening socket that stays readable. */
            s->accept_paused_until = now + 100000000;
            set_accepting(s, false);
        }
        return;
    }
}

/* Closes pending connections past their header deadline (with a 408) and
 * shuts down answering ones past theirs; returns the ms until the next
 * deadline (at most 1000). */
static int expire(struct sp_http_server *s, int64_t now)
{
    int64_t next = now + 1000000000;
    for (size_t i = 0; i < SP_HTTP_MAX_PENDING; i++) {
        if (s->pending[i].fd < 0)
            continue;
        int64_t d = s->pending[i].since + SP_HTTP_HEADER_TIMEOUT_MS * 1000000LL;
        if (d <= now)
            refuse_pending(s, i, 408, "Request Timeout", "the request header took too long");
        else if (d < next)
            next = d;
    }
    sp_spin_lock(&s->conn_lock);
    for (size_t i = 0; i < SP_HTTP_CONN_SLOTS; i++) {
        struct sp_http_conn *k = &s->conns[i];
        if (k->fd < 0 || k->reaped)
            continue;
        if (k->deadline > now) {
            if (k->deadline < next)
                next = k->deadline;
            continue;
        }
        /* Its poll (libmicrohttpd's, or a ?seconds wait's) sees the
         * socket end; the entry goes at NOTIFY_CLOSED. An entry never
         * claimed was never started: it is let go here. */
        shutdown(k->keep, SHUT_RDWR);
        k->reaped = true;
        if (!k->claimed) {
            close(k->keep);
            k->fd = k->keep = -1;
            k->reaped = false;
            atomic_fetch_sub(&active_count, 1);
        }
    }
    sp_spin_unlock(&s->conn_lock);
    if (s->accept_paused_until) {
        if (s->accept_paused_until <= now) {
            s->accept_paused_until = 0;
            set_accepting(s, true);
        } else if (s->accept_paused_until < next) {
            next = s->accept_paused_until;
        }
    }
    return (int)((next - now + 999999) / 1000000);
}

/* The gate thread: accepts, holds each connection until its header is all
 * there, checks it, hands it over; enforces every deadline. */
static void *gate_main(void *arg)
{
    struct sp_http_server *s = arg;
    struct epoll_event ev[64];
    sp_enter_profiler(); /* for the thread's whole life */
    int timeout = 0;
    while (!atomic_load(&s->stopping)) {
        int n = epoll_wait(s->epoll_fd, ev, 64, timeout);
        if (atomic_load(&s->stopping))
            break;
        int64_t now = sp_now_ns();
        for (int i = 0; i < n; i++) {
            uint64_t tag = ev[i].data.u64;
            if (tag == GATE_LISTEN) {
                accept_some(s, now);
            } else if (tag != GATE_WAKE) {
                size_t slot = (size_t)(tag & 0xffffffffu) - 2;
                if (slot < SP_HTTP_MAX_PENDING && s->pending[slot].fd >= 0 &&
                    pending_tag(s, slot) == tag)
                    examine(s, slot, ev[i].events, now);
            }
        }
        timeout = expire(s, sp_now_ns());
    }
    for (size_t i = 0; i < SP_HTTP_MAX_PENDING; i++)
        if (s->pending[i].fd >= 0)
            drop_pending(s, i);
    return NULL;
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
 * Threads the server makes (the gate, libmicrohttpd's) are created with
 * the ordinary signals blocked, so those stay with the program's threads (a
 * program that sigwaits for them in a thread of its own keeps getting
 * them); the real-time ones stay open: thread dumps signal every thread for
 * its stack (thread_stacks.h).
 */
static void block_ordinary_signals(sigset_t *old)
{
    sigset_t all;
    sigfillset(&all);
    for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
        sigdelset(&all, sig);
    pthread_sigmask(SIG_SETMASK, &all, old);
}

/*
 * The daemon and its threads: one thread of its own (no listening socket:
 * connections come from the gate) and one thread per connection, each
 * polling its own socket (level-triggered: a client that goes away is
 * noticed at once). It has no idle timeout of its own: the gate's
 * deadlines bound every connection. Its connection limit is above our
 * table's, so ours is the one that refuses, with an answer.
 */
static struct MHD_Daemon *start_daemon(struct sp_http_server *s, int family)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
    sigset_t old;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    block_ordinary_signals(&old);
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)SP_HTTP_CONN_SLOTS + 16u,
        MHD_OPTION_CONNECTION_TIMEOUT, 0u,
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
    for (size_t i = 0; i < SP_HTTP_CONN_SLOTS; i++)
        if (s->conns[i].fd >= 0) { /* never claimed: libmicrohttpd is gone */
            close(s->conns[i].keep);
            if (!s->conns[i].done)
                atomic_fetch_sub(&active_count, 1);
        }
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    if (s->epoll_fd >= 0)
        close(s->epoll_fd);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->token) {
        explicit_bzero(s->token, s->token_len);
        free(s->token);
    }
    free(s);
}

/* The token SYNCPROF_HTTP_TOKEN_FILE names into s (none when unset). */
static int server_token(struct sp_http_server *s)
{
    const char *path = sp_getenv("SYNCPROF_HTTP_TOKEN_FILE");
    if (!path || !*path)
        return 0;
    return sp_http_load_token(path, &s->token, &s->token_len);
}

static int server_start(const struct sockaddr_storage *ss, socklen_t len,
                        struct sp_http_server **out)
{
    struct sp_http_server *s = calloc(1, sizeof *s);
    if (!s)
        return ENOMEM;
    s->wake_fd = s->epoll_fd = s->listen_fd = -1;
    for (size_t i = 0; i < SP_HTTP_MAX_PENDING; i++)
        s->pending[i].fd = -1;
    for (size_t i = 0; i < SP_HTTP_CONN_SLOTS; i++)
        s->conns[i].fd = s->conns[i].keep = -1;
    for (int k = 0; k < SP_PROFILE__COUNT; k++)
        s->delta_base[k].kind = (enum sp_profile_kind)k;
    int e = server_token(s);
    if (e != 0) {
        server_free(s);
        return e;
    }
    s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    s->epoll_fd = s->wake_fd < 0 ? -1 : epoll_create1(EPOLL_CLOEXEC);
    s->listen_fd = s->epoll_fd < 0 ? -1 : listen_on(ss, len, &s->port);
    struct epoll_event wake = { .events = EPOLLIN, .data.u64 = GATE_WAKE };
    struct epoll_event lis = { .events = EPOLLIN, .data.u64 = GATE_LISTEN };
    if (s->listen_fd < 0 || epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->wake_fd, &wake) != 0 ||
        epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->listen_fd, &lis) != 0) {
        e = errno;
        server_free(s);
        return e;
    }
    s->daemon = start_daemon(s, ss->ss_family);
    if (!s->daemon) {
        e = errno ? errno : ENOMEM;
        server_free(s);
        return e;
    }
    sigset_t old;
    block_ordinary_signals(&old);
    e = pthread_create(&s->gate, NULL, gate_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0) {
        MHD_stop_daemon(s->daemon);
        server_free(s);
        return e;
    }
    s->gate_running = true;
    if (!sp_http_is_loopback(ss) && !s->token)
        fprintf(stderr, "syncprof: warning: serving profiles beyond loopback on %s without a "
                "token: anyone who can reach the port can read them (set "
                "SYNCPROF_HTTP_TOKEN_FILE)\n", where);
    *out = s;
    return 0;
}

/* In a child made by fork, the server's threads do not exist: forget the
 * server (its memory stays) and close its sockets, so the child can start
 * its own and holds neither the port nor any client's connection. */
static void forget_in_child(void)
{
    __atomic_store_n(&ctl_lock.locked, 0, __ATOMIC_RELAXED);
    if (server) {
        struct sp_http_server *s = server;
        __atomic_store_n(&s->conn_lock.locked, 0, __ATOMIC_RELAXED);
        for (size_t i = 0; i < SP_HTTP_MAX_PENDING; i++)
            if (s->pending[i].fd >= 0)
                close(s->pending[i].fd);
        for (size_t i = 0; i < SP_HTTP_CONN_SLOTS; i++)
            if (s->conns[i].fd >= 0) {
                close(s->conns[i].fd);
                close(s->conns[i].keep);
            }
        close(s->listen_fd);
        close(s->epoll_fd);
        close(s->wake_fd);
        server = NULL;
    }
    atomic_store(&waiting_count, 0);
    atomic_store(&pending_count, 0);
    atomic_store(&active_count, 0);
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
        (void)!write(s->wake_fd, &one, sizeof one); /* the gate ends; ?seconds waits answer 503 */
        if (s->gate_running)
            pthread_join(s->gate, NULL);
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
 * (or why it does not) on stderr. Called once at load by config.c's
 * constructor. */
void sp_http_from_environment(void)
{
    const char *addr = sp_getenv("SYNCPROF_HTTP");
    if (!addr || !*addr)
        return;
    const char *token_file = sp_getenv("SYNCPROF_HTTP_TOKEN_FILE");
    if (token_file && *token_file) {
        char *token;
        size_t len;
        int e = sp_http_load_token(token_file, &token, &len);
        if (e != 0) {
            fprintf(stderr, "syncprof: not serving profiles: SYNCPROF_HTTP_TOKEN_FILE=\"%s\": "
                    "%s\n", token_file,
                    e == EINVAL ? "expected a file holding one bearer token (1 to 4096 of "
                                  "A-Z a-z 0-9 - . _ ~ + / then any =)"
                                : strerror(e));
            return;
        }
        explicit_bzero(token, len);
        free(token);
    }
    int r = syncprof_http_start(addr);
    if (r == EINVAL)
        sp_env_warn("SYNCPROF_HTTP", addr,
                    "a numeric address or localhost with a port, such as 127.0.0.1:6060");
    else if (r != 0)
        fprintf(stderr, "syncprof: cannot serve profiles on SYNCPROF_HTTP=\"%s\": %s\n", addr,
                strerror(r));
    else
        fprintf(stderr, "syncprof: serving profiles on http://%s/debug/pprof/\n", http_where());
}
