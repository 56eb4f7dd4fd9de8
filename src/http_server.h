/*
 * http_server.h - what the live-profile server's files share: the server's
 * state, the table of libmicrohttpd's functions, and the calls between the
 * server's life and callbacks (http_endpoint.c), the gate (http_gate.c) and
 * the pages (http_pages.c): http_endpoint.c calls the other two, which call
 * neither it nor each other. Included only where libmicrohttpd's header is
 * (SYNCPROF_HAVE_MICROHTTPD).
 *
 * Locking: conn_lock (a spinlock) guards the table of answering
 * connections, which the gate, libmicrohttpd's connection callbacks and
 * ?seconds waits share. The gate's table of connections still sending
 * their header is the gate thread's alone. The delta_ pages' bases are
 * under delta_lock (requests to them are serialized). Everything else a
 * request uses is its own.
 */
#ifndef SP_HTTP_SERVER_H
#define SP_HTTP_SERVER_H

#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "http_limits.h"
#include "http_parse.h"
#include "profile_delta.h"
#include "spinlock.h"

/*
 * libmicrohttpd is loaded with dlopen when a server first starts, not
 * linked: a program that links syncprof, or runs under `syncprof run`, but
 * never serves profiles does not load it nor the TLS stack it depends on
 * (gnutls and a dozen more libraries). Its header is still used for the
 * types; each function the server calls goes through sp_mhd, filled by
 * sp_mhd_load.
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

struct sp_mhd_functions {
#define SP_MHD_POINTER(f) __typeof__(f) *p_##f;
    SP_MHD_FUNCTIONS(SP_MHD_POINTER)
#undef SP_MHD_POINTER
};
extern struct sp_mhd_functions sp_mhd; /* filled once by sp_mhd_load, under ctl_lock; then read only */

/* Loads libmicrohttpd and its functions once (http_mhd.c); true when they
 * are there. Called with ctl_lock held. */
bool sp_mhd_load(void);

/* From here on, calls name the table's entries. */
#define MHD_add_connection sp_mhd.p_MHD_add_connection
#define MHD_add_response_header sp_mhd.p_MHD_add_response_header
#define MHD_create_response_from_buffer sp_mhd.p_MHD_create_response_from_buffer
#define MHD_create_response_from_fd sp_mhd.p_MHD_create_response_from_fd
#define MHD_destroy_response sp_mhd.p_MHD_destroy_response
#define MHD_get_connection_info sp_mhd.p_MHD_get_connection_info
#define MHD_lookup_connection_value sp_mhd.p_MHD_lookup_connection_value
#define MHD_queue_response sp_mhd.p_MHD_queue_response
#define MHD_start_daemon sp_mhd.p_MHD_start_daemon
#define MHD_stop_daemon sp_mhd.p_MHD_stop_daemon

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
/* libmicrohttpd's own threads kept (it starts one), and the threads a
 * process may have for them to be found among. */
#define SP_HTTP_DAEMON_TIDS 4
#define SP_HTTP_THREADS_SEEN 4096
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
    int daemon_tids[SP_HTTP_DAEMON_TIDS]; /* libmicrohttpd's own threads, service threads while it runs */
    int ndaemon_tids;
    atomic_bool stopping;
    int64_t accept_paused_until; /* the gate's: out of descriptors, accept later */
    struct sp_http_pending pending[SP_HTTP_MAX_PENDING]; /* the gate's */
    char peek[SP_HTTP_MAX_HEADER];                      /* the gate's */
    sp_spinlock conn_lock;
    struct sp_http_conn conns[SP_HTTP_CONN_SLOTS]; /* under conn_lock */
    sp_spinlock delta_lock;    /* serializes the delta_ pages */
    struct sp_snapshot delta_base[SP_PROFILE__COUNT]; /* under delta_lock */
};

/* ---- http_gate.c ------------------------------------------------------- */

/* What the gate holds, for sp_http_stats (reset in a forked child). */
extern atomic_size_t sp_http_pending_count; /* connections in the gate */
extern atomic_size_t sp_http_active_count;  /* connections handed to libmicrohttpd, not done */

enum { SP_HTTP_GATE_WAKE = 0, SP_HTTP_GATE_LISTEN = 1 }; /* epoll tags of the gate's set */

/* The gate thread (arg: the server): accepts, holds each connection until
 * its header is all there, checks it, hands it over; enforces every
 * deadline; returns when the server is stopping. */
void *sp_http_gate_main(void *arg);

/* ---- http_pages.c ------------------------------------------------------ */

extern atomic_size_t sp_http_waiting_count; /* ?seconds requests in their wait */

/* The answering connection c is, in the gate's table (NULL if unknown). */
struct sp_http_conn *sp_http_conn_of(struct MHD_Connection *c);

/* Answers a request whose headers (and body) have all come: its method,
 * then its path, through the table of pages. */
enum MHD_Result sp_http_route(struct sp_http_server *s, struct MHD_Connection *c,
                              struct sp_http_request *rq, const char *url, const char *method);

/* 401 with the challenge RFC 6750 names. */
enum MHD_Result sp_http_send_unauthorized(struct MHD_Connection *c);

/* Keeps the first SP_HTTP_MAX_BODY bytes of a request's body. */
void sp_http_keep_body(struct sp_http_request *rq, const char *data, size_t n);

#endif /* SP_HTTP_SERVER_H */
