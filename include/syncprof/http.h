/*
 * http.h - live profiles over HTTP, at the paths of Go's net/http/pprof, so
 * `go tool pprof http://127.0.0.1:6060/debug/pprof/mutex`, Parca and
 * Grafana Pyroscope (Alloy's pyroscope.scrape) collect them as they do
 * from a Go service (docs/continuous-profiling.md). Also brings the sample
 * labels (<syncprof/labels.h>).
 *
 * Paths (GET, HEAD or POST, as Go serves any method):
 *   /debug/pprof/             an HTML index with links and descriptions
 *   /debug/pprof/mutex        the mutex profile (?debug=0 pprof, 1 text)
 *   /debug/pprof/block        the block profile (same parameters)
 *   /debug/pprof/goroutine    the threads profile (?debug=1, ?debug=2 dump)
 *   /debug/pprof/delta_mutex  what was recorded since the previous request
 *   /debug/pprof/delta_block  to the same path (Pyroscope's godeltaprof)
 *   /debug/pprof/symbol       names of addresses, for pprof (as Go's)
 * `?seconds=N` on mutex and block answers after N seconds (N <= 86400) with
 * what was recorded during them, as Go does. Headers as Go's: debug=0
 * answers are application/octet-stream with an attachment
 * Content-Disposition, debug > 0 text/plain; charset=utf-8, all with
 * X-Content-Type-Options: nosniff and Connection: close. Unknown paths get
 * 404, bad parameters 400 with a one-line message; requests a strict HTTP
 * parser refuses (a NUL or %00 in the path or a parameter, control bytes
 * in header fields) 400.
 *
 * The server defends itself against hostile clients: a client's whole
 * request header must arrive within 5 s, connections still sending it and
 * those being answered are bounded per client and in all, at most 8
 * ?seconds=N requests wait at once, and one whose client goes away is
 * abandoned at once (docs/continuous-profiling.md, "Limits"). Its threads'
 * work and locks never show up in the profiles. It needs libmicrohttpd's
 * header at build time and loads the library when it first starts.
 *
 * Also started by the environment: SYNCPROF_HTTP=127.0.0.1:6060. With
 * SYNCPROF_HTTP_TOKEN_FILE=FILE (read at every start), each request must
 * carry "Authorization: Bearer <the file's token>", else 401.
 */
#ifndef SYNCPROF_HTTP_H
#define SYNCPROF_HTTP_H

#include <syncprof/labels.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Starts serving on addr: "host:port", "[ipv6]:port", ":port" or "port"
 * (host omitted: 127.0.0.1, loopback only), NULL or "" (127.0.0.1:6060).
 * The host is a numeric address or "localhost" (127.0.0.1): no name is
 * looked up. Port 0 picks a free port (see syncprof_http_port). Any
 * address other than a loopback one exposes the profiles (function names,
 * file paths, labels) to the network: give one only on purpose, with a
 * token (SYNCPROF_HTTP_TOKEN_FILE); without one, starting prints a warning
 * line on stderr.
 * EINVAL for an address that does not parse (or a name), or a token file
 * whose content is not one bearer token; EBUSY when the server is already
 * running; ENOTSUP when the library was built without libmicrohttpd or
 * libmicrohttpd.so.12 cannot be loaded (it is loaded with dlopen on the
 * first start); ENOMEM; the errno of opening the token file (ENOENT,
 * EACCES...) or of socket/bind/listen (EADDRINUSE, EACCES...).
 */
int syncprof_http_start(const char *addr);

/*
 * Stops the server and waits for its thread: open connections are closed,
 * a pending ?seconds=N request is answered 503. Does nothing when the
 * server is not running. Cannot fail.
 */
void syncprof_http_stop(void);

/* The port the server listens on, or 0 when it is not running. */
int syncprof_http_port(void);

#ifdef __cplusplus
}
#endif

#endif /* SYNCPROF_HTTP_H */
