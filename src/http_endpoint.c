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
 * The server is four files: this one (its life: loading libmicrohttpd,
 * start, stop, fork, SYNCPROF_HTTP; and libmicrohttpd's callbacks),
 * http_gate.c (the gate and the per-client limits), http_pages.c (the
 * table of pages and their handlers: a new endpoint is a row there) and
 * http_parse.c (addresses, the strict header check, the token);
 * http_server.h holds what they share.
 *
 * Locking: ctl_lock (a spinlock) serializes start, stop and port; it is
 * held while stop joins the threads. The locks of a running server are in
 * http_server.h.
 *
 * Built without libmicrohttpd's header (no SYNCPROF_HAVE_MICROHTTPD), or
 * when the library cannot be loaded at run time, the API is there and
 * syncprof_http_start returns ENOTSUP.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <syncprof/syncprof.h>

#include "env.h"
#include "export.h"
#include "http_endpoint.h"

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
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>

#include "clock.h"
#include "http_server.h"
#include "profile_delta.h"
#include "profile_table.h"
#include "sampling.h"
#include "spinlock.h"
#include "thread_registry.h"
#include "thread_stacks.h"

#define SP_HTTP_BACKLOG 64

static sp_spinlock ctl_lock = SP_SPINLOCK_INIT;
static struct sp_http_server *server; /* under ctl_lock */
static char where[INET6_ADDRSTRLEN + 16]; /* "host:port" bound last, under ctl_lock */

size_t sp_http_waiting(void)
{
    return atomic_load(&sp_http_waiting_count);
}

void sp_http_stats(struct sp_http_stats *st)
{
    st->pending = atomic_load(&sp_http_pending_count);
    st->active = atomic_load(&sp_http_active_count);
    st->waiting = atomic_load(&sp_http_waiting_count);
}

/*
 * Every callback starts here: the calling thread is one of libmicrohttpd's
 * (a connection's, or its own) or the gate, and from now on, for its whole
 * life, it is "in profiler": nothing it does is recorded. (What such a
 * thread did before its first callback is reading a socket: no lock
 * another thread waits for.) It is also a service thread, for the dumps
 * and the main-exit check (thread_registry.h), until it ends. The daemon's
 * own thread runs no callback, so server_start adopts it by name.
 */
static pthread_key_t server_thread_key;
static pthread_once_t server_thread_once = PTHREAD_ONCE_INIT;

static void server_thread_ends(void *arg)
{
    (void)arg;
    sp_service_tid_remove(sp_self_tid());
}

static void make_server_thread_key(void)
{
    pthread_key_create(&server_thread_key, server_thread_ends);
}

static void enter_server_thread(void)
{
    static SP_TLS bool marked;
    if (!marked) {
        marked = true;
        sp_enter_profiler();
        pthread_once(&server_thread_once, make_server_thread_key);
        sp_service_tid_add(sp_self_tid());
        pthread_setspecific(server_thread_key, (void *)1);
    }
}

struct tid_list {
    int *tids, n; /* n: -1 once more than SP_HTTP_THREADS_SEEN */
};

static bool add_tid(int tid, void *arg)
{
    struct tid_list *l = arg;
    if (l->n == SP_HTTP_THREADS_SEEN) {
        l->n = -1;
        return false;
    }
    l->tids[l->n++] = tid;
    return true;
}

/* The threads of the process now into tids (SP_HTTP_THREADS_SEEN at most);
 * their number, or -1 when /proc cannot be read or they are more. */
static int list_threads(int *tids)
{
    struct tid_list l = { tids, 0 };
    return sp_each_thread(add_tid, &l) ? l.n : -1;
}

static bool listed(const int *tids, int n, int tid)
{
    for (int i = 0; i < n; i++)
        if (tids[i] == tid)
            return true;
    return false;
}

/* Adds the threads named "MHD-..." not in before[0..nbefore). */
static void find_daemon_threads(struct sp_http_server *s, const int *before, int nbefore)
{
    int *now = malloc(SP_HTTP_THREADS_SEEN * sizeof *now);
    int n = now ? list_threads(now) : -1;
    for (int i = 0; i < n && s->ndaemon_tids < SP_HTTP_DAEMON_TIDS; i++) {
        char name[SP_THREAD_NAME_MAX];
        if (listed(before, nbefore, now[i]))
            continue;
        sp_thread_name(now[i], name);
        if (strncmp(name, "MHD-", 4) == 0) {
            s->daemon_tids[s->ndaemon_tids++] = now[i];
            sp_service_tid_add(now[i]);
        }
    }
    free(now);
}

/* The daemon's threads: those named "MHD-..." among the threads that
 * started with it (not in before[0..nbefore)). A new thread names itself
 * once it runs, so this looks again for up to 100 ms until it finds one. */
static void adopt_daemon_threads(struct sp_http_server *s, const int *before, int nbefore)
{
    for (int tries = 0; tries < 100 && nbefore >= 0 && s->ndaemon_tids == 0; tries++) {
        if (tries > 0)
            nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
        find_daemon_threads(s, before, nbefore);
    }
}

/* ---- libmicrohttpd's callbacks ---------------------------------------- */

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
            return sp_http_send_unauthorized(c);
        }
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        if (!rq->refused)
            sp_http_keep_body(rq, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rq->refused)
        return MHD_YES; /* its 401 is queued */
    return sp_http_route(s, c, rq, url ? url : "", method ? method : "");
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
    struct sp_http_conn *k = sp_http_conn_of(c);
    if (k) {
        sp_spin_lock(&s->conn_lock);
        if (!k->done) {
            k->done = true;
            atomic_fetch_sub(&sp_http_active_count, 1);
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
            atomic_fetch_sub(&sp_http_active_count, 1);
        k->fd = k->keep = -1;
        k->claimed = k->reaped = k->done = false;
        sp_spin_unlock(&s->conn_lock);
        *socket_context = NULL;
    }
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
                atomic_fetch_sub(&sp_http_active_count, 1);
        }
    for (int i = 0; i < s->ndaemon_tids; i++)
        sp_service_tid_remove(s->daemon_tids[i]);
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
    struct epoll_event wake = { .events = EPOLLIN, .data.u64 = SP_HTTP_GATE_WAKE };
    struct epoll_event lis = { .events = EPOLLIN, .data.u64 = SP_HTTP_GATE_LISTEN };
    if (s->listen_fd < 0 || epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->wake_fd, &wake) != 0 ||
        epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->listen_fd, &lis) != 0) {
        e = errno;
        server_free(s);
        return e;
    }
    int *before = malloc(SP_HTTP_THREADS_SEEN * sizeof *before);
    int nbefore = before ? list_threads(before) : -1;
    s->daemon = start_daemon(s, ss->ss_family);
    if (!s->daemon) {
        e = errno ? errno : ENOMEM;
        free(before);
        server_free(s);
        return e;
    }
    adopt_daemon_threads(s, before, nbefore);
    free(before);
    sigset_t old;
    block_ordinary_signals(&old);
    e = pthread_create(&s->gate, NULL, sp_http_gate_main, s);
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
    atomic_store(&sp_http_waiting_count, 0);
    atomic_store(&sp_http_pending_count, 0);
    atomic_store(&sp_http_active_count, 0);
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
        r = sp_mhd_load() ? server_start(&ss, len, &server) : ENOTSUP;
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