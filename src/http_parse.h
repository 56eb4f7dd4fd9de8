/*
 * http_parse.h - what the live-profile server reads from the outside,
 * checked without a server (http_parse.c): the listening address, a
 * request header, the bearer token.
 *
 * Thread safety: pure functions of their arguments (sp_http_load_token
 * reads its file); any thread.
 */
#ifndef SP_HTTP_PARSE_H
#define SP_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "http_limits.h"

/*
 * Parses addr as syncprof_http_start does ("host:port", "[v6]:port",
 * ":port", "port", NULL or "") into *ss / *len. The host is a numeric
 * IPv4 or IPv6 address or "localhost" (127.0.0.1): nothing is looked up.
 * Returns 0 or EINVAL.
 */
int sp_http_parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *len);

/* Whether ss is a loopback address (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104). */
bool sp_http_is_loopback(const struct sockaddr_storage *ss);

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

#endif /* SP_HTTP_PARSE_H */
