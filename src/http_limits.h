/*
 * http_limits.h - the live-profile server's defaults and limits
 * (docs/continuous-profiling.md states each one). A "client" is one source
 * address.
 */
#ifndef SP_HTTP_LIMITS_H
#define SP_HTTP_LIMITS_H

#define SP_HTTP_DEFAULT_HOST "127.0.0.1"
#define SP_HTTP_DEFAULT_PORT "6060"

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

#endif /* SP_HTTP_LIMITS_H */
