/*
 * http_parse.c - what the live-profile server reads from the outside,
 * checked without a server: the address syncprof_http_start and
 * SYNCPROF_HTTP take (numeric, or "localhost": nothing is resolved, so
 * starting from a constructor never queries DNS), a request header as a
 * strict HTTP/1.1 parser checks it (the gate's test before libmicrohttpd
 * sees a byte), and the bearer token of SYNCPROF_HTTP_TOKEN_FILE.
 *
 * Pure functions of their arguments (the token's file aside): any thread,
 * no lock. Contracts in http_parse.h; the fuzz harness and
 * test_http_hostile call them directly.
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

#include "http_parse.h"

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