/*
 * http_endpoint.h - the live-profile server behind syncprof_http_start
 * (<syncprof/http.h>): its limits, and internals that tests and the fuzz
 * harness use.
 *
 * Thread safety: all functions may be called from any thread.
 */
#ifndef SP_HTTP_ENDPOINT_H
#define SP_HTTP_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define SP_HTTP_DEFAULT_HOST "127.0.0.1"
#define SP_HTTP_DEFAULT_PORT "6060"

/*
 * The limits (docs/continuous-profiling.md states each one). A "client" is
 * one source address.
 */
#define SP_HTTP_MAX_SECONDS 86400          /* the longest ?seconds=N */
#define SP_HTTP_MAX_SECONDS_REQUESTS 8     /* ?seconds=N requests waiting at once */
#define SP_HTTP_MAX_CONNECTIONS 64         /* requests being answered at once */
#define SP_HTTP_MAX_CONNECTIONS_PER_CLIENT 16
#define SP_HTTP_MAX_PENDING 128            /* connections whose header has not all come */
#define SP_HTTP_MAX_PENDING_PER_CLIENT 16
#define SP_HTTP_HEADER_TIMEOUT_MS 5000     /* connect to end of header */
#define SP_HTTP_MAX_HEADER 16384           /* bytes of request line and header fields */
#define SP_HTTP_REQUEST_TIMEOUT_S 30       /* end of header to end of answer (+ N) */
#define SP_HTTP_MAX_TOKEN 4096             /* bytes of a bearer token */

/*
 * Parses addr as syncprof_http_start does ("host:port", "[v6]:port",
 * ":port", "port", NULL or "") into *ss / *len. The host is a numeric
 * IPv4 or IPv6 address or "localhost" (127.0.0.1): nothing is looked up.
 * Returns 0 or EINVAL.
 */
int sp_http_parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *len);

/* Whether ss is a loopback address (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104). */
bool sp_http_is_loopback(const struct sockaddr_storage *ss);

/* How many ?seconds=N requests are waiting for their N seconds to pass. */
size_t sp_http_waiting(void);

/* What the running server holds now (all 0 when it is not running). */
struct sp_http_stats {
    size_t pending; /* connections whose request header has not all come */
    size_t active;  /* connections handed to libmicrohttpd, being answered */
    size_t waiting; /* ?seconds=N requests in their wait */
};
void sp_http_stats(struct sp_http_stats *st);

/*
 * Where the request header in buf[0..n) ends: the offset just past its
 * empty line, with *start set past the empty lines that may precede the
 * request line; 0 when the header has not all arrived.
 */
size_t sp_http_head_end(const char *buf, size_t n, size_t *start);

/*
 * Checks a whole request header (request line to empty line, as
 * sp_http_head_end delimits it) as a strict HTTP/1.1 parser does: NULL when
 * it is acceptable, else why not (a static string, for a 400). Refused: a
 * request line that is not "METHOD SP target SP HTTP/d.d"; a target byte
 * outside RFC 3986's set, a bad %-escape or an escaped NUL (%00); a
 * header line that is not "name: value", a control byte (NUL included) in
 * a value, folded lines, a bare CR.
 */
const char *sp_http_check_head(const char *head, size_t len);

/*
 * Reads a bearer token from path: the file's content without trailing
 * white space, 1 to SP_HTTP_MAX_TOKEN bytes of RFC 6750's token68
 * characters. 0 with *token malloc'd (NUL-terminated) and *len set, or an
 * errno (EINVAL: empty, too long or a byte a token cannot hold).
 */
int sp_http_load_token(const char *path, char **token, size_t *len);

/*
 * Whether the Authorization header value got ("Bearer <token>") carries
 * want[0..wantlen), compared in time that depends on wantlen only, never
 * on where the two first differ.
 */
bool sp_http_token_ok(const char *want, size_t wantlen, const char *got);

#endif /* SP_HTTP_ENDPOINT_H */
