/*
 * signal_names.c - signal names and the one signal parser, shared by the
 * library's SYNCPROF_*_SIGNAL variables and `syncprof run`'s options (see
 * signal_names.h). Stateless.
 */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "signal_names.h"

/* ---- Signals ---------------------------------------------------------- */

const char *sp_signal_refusal(int sig)
{
    switch (sig) {
    case SIGKILL:
    case SIGSTOP:
        return "cannot be caught";
    case SIGILL:
    case SIGTRAP:
    case SIGBUS:
    case SIGFPE:
    case SIGSEGV:
    case SIGSYS:
        return "is a fault signal";
    default:
        return NULL;
    }
}

/* The number TEXT names, refused or not; -1 when it names none. */
static int signal_lookup(const char *text)
{
    if (isdigit((unsigned char)text[0])) {
        char *end;
        long v = strtol(text, &end, 10);
        return *end != '\0' || v < 0 || v >= NSIG ? -1 : (int)v;
    }
    const char *name = strncasecmp(text, "SIG", 3) == 0 ? text + 3 : text;
    for (int s = 1; s < NSIG; s++) {
        const char *abbrev = sigabbrev_np(s);
        if (abbrev && strcasecmp(abbrev, name) == 0)
            return s;
    }
    return -1;
}

int sp_signal_parse(const char *text, int *refused)
{
    if (!text || !*text)
        return -1;
    if (strcasecmp(text, "none") == 0 || strcasecmp(text, "off") == 0)
        return 0;
    int sig = signal_lookup(text);
    if (sig > 0 && sp_signal_refusal(sig)) {
        if (refused)
            *refused = sig;
        return -2;
    }
    return sig;
}

char *sp_signal_refused_text(int sig, const char *use, char *buf, size_t len)
{
    char name[32];
    const char *why = sp_signal_refusal(sig);
    snprintf(buf, len, "%s %s, not usable for %s", sp_signal_name(sig, name, sizeof name),
             why ? why : "is refused", use);
    return buf;
}

const char *sp_signal_name(int sig, char *buf, size_t len)
{
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev)
        snprintf(buf, len, "SIG%s", abbrev);
    else
        snprintf(buf, len, "signal %d", sig);
    return buf;
}

