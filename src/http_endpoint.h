/*
 * http_endpoint.h - the live-profile server behind syncprof_http_start
 * (<syncprof/http.h>): its limits (http_limits.h), its parsers
 * (http_parse.h), and internals that tests and the fuzz harness use.
 *
 * Thread safety: all functions may be called from any thread.
 */
#ifndef SP_HTTP_ENDPOINT_H
#define SP_HTTP_ENDPOINT_H

#include <stddef.h>

#include "http_limits.h"
#include "http_parse.h"

/* How many ?seconds=N requests are waiting for their N seconds to pass. */
size_t sp_http_waiting(void);

/* What the running server holds now (all 0 when it is not running). */
struct sp_http_stats {
    size_t pending; /* connections whose request header has not all come */
    size_t active;  /* connections handed to libmicrohttpd, being answered */
    size_t waiting; /* ?seconds=N requests in their wait */
};
void sp_http_stats(struct sp_http_stats *st);

/* Starts the server when SYNCPROF_HTTP is set, once at load (config.c). */
void sp_http_from_environment(void);

#endif /* SP_HTTP_ENDPOINT_H */
