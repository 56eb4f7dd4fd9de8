/*
 * http_gate.c - the live-profile server's gate: a thread of its own that
 * owns the listening socket and holds each new connection until its whole
 * request header has arrived (peeked with MSG_PEEK, never read), checks
 * that header strictly (sp_http_check_head), and only then hands the
 * socket to libmicrohttpd (MHD_add_connection). So a client that trickles
 * its header, or sends none, holds no thread and no answering slot.
 *
 * The limits it enforces (their values in http_endpoint.h): connections
 * still sending their header, per client and in all, the oldest giving way
 * to a new one, and the whole header within SP_HTTP_HEADER_TIMEOUT_MS;
 * answering connections per client and in all (past them: a 503), each
 * answer within its deadline (the gate shuts a socket down past it,
 * through a duplicate it keeps for that).
 *
 * Locking: the pending table, peek buffer and accept pause are the gate
 * thread's alone; the table of answering connections is under conn_lock
 * (http_server.h). The gate is "in profiler" for its whole life.
 */
#ifdef SYNCPROF_HAVE_MICROHTTPD /* else the server is not built: http_endpoint.c */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "clock.h"
#include "http_server.h"
#include "sampling.h"
#include "thread_registry.h"

#define SP_HTTP_ACCEPT_BURST 64  /* connections the gate accepts in a row */
#define SP_HTTP_DRAIN_MAX 65536  /* bytes read and dropped before a refusal */

atomic_size_t sp_http_pending_count;
atomic_size_t sp_http_active_count;

/* A pending socket's epoll tag: its slot (past the gate's own two tags)
 * and the slot's generation, so an event for a slot's previous connection
 * is told apart. */
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
    atomic_fetch_sub(&sp_http_pending_count, 1);
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
        atomic_fetch_add(&sp_http_active_count, 1);
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
    atomic_fetch_sub(&sp_http_pending_count, 1);
    if (MHD_add_connection(s->daemon, fd, (const struct sockaddr *)&pd->peer, pd->peerlen) !=
        MHD_YES) {
        /* libmicrohttpd closed fd. An entry it never claimed is ours to
         * let go; a claimed one goes at NOTIFY_CLOSED. */
        sp_spin_lock(&s->conn_lock);
        if (!k->claimed) {
            close(k->keep);
            k->fd = k->keep = -1;
            atomic_fetch_sub(&sp_http_active_count, 1);
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
    atomic_fetch_add(&sp_http_pending_count, 1);
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
    struct epoll_event ev = { .events = on ? EPOLLIN : 0, .data.u64 = SP_HTTP_GATE_LISTEN };
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
            atomic_fetch_sub(&sp_http_active_count, 1);
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

void *sp_http_gate_main(void *arg)
{
    struct sp_http_server *s = arg;
    struct epoll_event ev[64];
    pthread_setname_np(pthread_self(), "syncprof-http");
    sp_service_thread_register(); /* inside the profiler for the thread's whole life */
    int timeout = 0;
    while (!atomic_load(&s->stopping)) {
        int n = epoll_wait(s->epoll_fd, ev, 64, timeout);
        if (atomic_load(&s->stopping))
            break;
        int64_t now = sp_now_ns();
        for (int i = 0; i < n; i++) {
            uint64_t tag = ev[i].data.u64;
            if (tag == SP_HTTP_GATE_LISTEN) {
                accept_some(s, now);
            } else if (tag != SP_HTTP_GATE_WAKE) {
                size_t slot = (size_t)(tag & 0xffffffffu) - 2;
                if (slot < SP_HTTP_MAX_PENDING && s->pending[slot].fd >= 0 &&
                    pending_tag(s, slot) == tag)
                    examine(s, slot, ev[i].events, now);
            }
        }
        timeout = expire(s, sp_now_ns());
        if (timeout > SP_SERVICE_TICK_MS)
            timeout = SP_SERVICE_TICK_MS;
        sp_service_thread_tick(); /* the server alone does not keep the process alive */
    }
    for (size_t i = 0; i < SP_HTTP_MAX_PENDING; i++)
        if (s->pending[i].fd >= 0)
            drop_pending(s, i);
    sp_service_thread_unregister();
    return NULL;
}

#endif /* SYNCPROF_HAVE_MICROHTTPD */
