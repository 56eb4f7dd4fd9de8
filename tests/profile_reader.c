/*
 * profile_reader.c - test support: parse syncprof's debug=1 text output
 * (see profile_reader.h).
 */
#include <syncprof/pthread.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <syncprof/syncprof.h>

#include "profile_reader.h"
#include "wait_table.h"

static char *read_all(int fd)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    cr_assert(buf);
    lseek(fd, 0, SEEK_SET);
    for (;;) {
        if (len + 1 >= cap)
            cr_assert((buf = realloc(buf, cap *= 2)));
        ssize_t r = read(fd, buf + len, cap - len - 1);
        cr_assert(r >= 0, "read: %s", strerror(errno));
        if (r == 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    return buf;
}

/* "#\t0x1234\tname+0x10\tfile:line" -> "name" */
static char *frame_name(const char *line)
{
    const char *p = strchr(line, '\t');
    cr_assert(p, "bad frame line: %s", line);
    const char *name = strchr(p + 1, '\t');
    if (!name) /* an address with no symbol: "#\t0x1234" */
        return strdup(p + 1);
    p = name + 1;
    size_t len = strcspn(p, "\t\n");
    const char *plus = NULL;
    for (const char *q = p; q < p + len; q++)
        if (q[0] == '+' && q[1] == '0' && q[2] == 'x')
            plus = q;
    if (plus)
        len = (size_t)(plus - p);
    return strndup(p, len);
}

static void parse(struct tp_profile *p)
{
    size_t cap = 16;
    p->recs = calloc(cap, sizeof *p->recs);
    p->n = 0;
    struct tp_record *cur = NULL;
    char *save = NULL;
    char *copy = strdup(p->text);
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        long long delay, count;
        if (sscanf(line, "%lld %lld @", &delay, &count) == 2 && strstr(line, " @ ")) {
            if (p->n == cap)
                p->recs = realloc(p->recs, (cap *= 2) * sizeof *p->recs);
            cur = &p->recs[p->n++];
            memset(cur, 0, sizeof *cur);
            cur->delay_ns = delay;
            cur->count = count;
        } else if (line[0] == '#' && line[1] == '\t' && cur && cur->nframes < TP_MAX_FRAMES) {
            cur->frames[cur->nframes++] = frame_name(line);
        }
    }
    free(copy);
}

void tp_read(const char *name, struct tp_profile *p)
{
    int fd = memfd_create("profile", 0);
    cr_assert(fd >= 0);
    int r = syncprof_write_profile(name, fd, 1);
    cr_assert_eq(r, 0, "syncprof_write_profile(%s): %s", name, strerror(r));
    p->text = read_all(fd);
    close(fd);
    parse(p);
}

void tp_free(struct tp_profile *p)
{
    for (size_t i = 0; i < p->n; i++)
        for (int f = 0; f < p->recs[i].nframes; f++)
            free(p->recs[i].frames[f]);
    free(p->recs);
    free(p->text);
}

int64_t tp_total_delay(const struct tp_profile *p)
{
    int64_t t = 0;
    for (size_t i = 0; i < p->n; i++)
        t += p->recs[i].delay_ns;
    return t;
}

int64_t tp_total_count(const struct tp_profile *p)
{
    int64_t t = 0;
    for (size_t i = 0; i < p->n; i++)
        t += p->recs[i].count;
    return t;
}

size_t tp_sum(const struct tp_profile *p, const char *leaf, const char *caller,
              int64_t *delay_ns, int64_t *count)
{
    size_t matched = 0;
    int64_t d = 0, c = 0;
    for (size_t i = 0; i < p->n; i++) {
        const struct tp_record *r = &p->recs[i];
        if (r->nframes < 1 || strcmp(r->frames[0], leaf) != 0)
            continue;
        if (caller && (r->nframes < 2 || strcmp(r->frames[1], caller) != 0))
            continue;
        matched++;
        d += r->delay_ns;
        c += r->count;
    }
    if (delay_ns)
        *delay_ns = d;
    if (count)
        *count = c;
    return matched;
}

int tp_run(const char *cmd, char **out)
{
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += r;
        if (len + 1 >= cap)
            buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    int st = pclose(f);
    if (out)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void tp_remove_dir(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    tp_run(cmd, NULL);
}

int64_t tp_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void tp_sleep_ns(int64_t ns)
{
    struct timespec ts = { ns / 1000000000, ns % 1000000000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void tp_wait_until_blocked(const void *object)
{
    while (!sp_wait_maybe(object))
        tp_sleep_ns(100000);
    /* Registered: give it the few microseconds from registering to
     * sleeping in the real call. */
    tp_sleep_ns(1000000);
}

__attribute__((noinline)) void *tp_take_and_release(void *arg)
{
    pthread_mutex_t *m = arg;
    cr_assert_eq(pthread_mutex_lock(m), 0);
    cr_assert_eq(pthread_mutex_unlock(m), 0);
    return NULL;
}

__attribute__((noinline)) void tp_contend_once(pthread_mutex_t *m, int64_t hold_ns)
{
    cr_assert_eq(pthread_mutex_lock(m), 0);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, tp_take_and_release, m), 0);
    tp_wait_until_blocked(m);
    if (hold_ns > 0)
        tp_sleep_ns(hold_ns);
    cr_assert_eq(pthread_mutex_unlock(m), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
}

struct timespec tp_deadline_in(clockid_t clock, int64_t ns)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    ts.tv_sec += (ts.tv_nsec + ns) / 1000000000;
    ts.tv_nsec = (ts.tv_nsec + ns) % 1000000000;
    return ts;
}
