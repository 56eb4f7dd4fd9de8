/*
 * http_endpoint.h - the live-profile server behind syncprof_http_start
 * (<syncprof/http.h>): internals that tests use.
 *
 * Thread safety: all functions may be called from any thread.
 */
#ifndef SP_HTTP_ENDPOINT_H
#define SP_HTTP_ENDPOINT_H

#include <stddef.h>
#include <sys/socket.h>

#define SP_HTTP_DEFAULT_HOST "127.0.0.1"
#define SP_HTTP_DEFAULT_PORT "6060"
#define SP_HTTP_MAX_SECONDS 86400 /* the longest ?seconds=N */

/*
 * Parses addr as syncprof_http_start does ("host:port", "[v6]:port",
 * ":port", "port", NULL or "") and resolves it into *ss / *len. Returns 0
 * or EINVAL.
 */
int sp_http_parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *len);

/* How many ?seconds=N requests are waiting for their N seconds to pass. */
size_t sp_http_waiting(void);

#endif /* SP_HTTP_ENDPOINT_H */
