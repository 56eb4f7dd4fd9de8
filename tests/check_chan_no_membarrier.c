/*
 * check_chan_no_membarrier.c - channels in a process that may not call
 * membarrier(2), as under a container's seccomp filter.
 *
 * The only sending and receiving threads of a buffered channel claim ring
 * positions without a CAS, and a second thread revokes that with
 * membarrier() (chan/chan.c, "The bias"). Where the kernel refuses
 * membarrier, no channel may be biased. This program installs a seccomp
 * filter that fails membarrier with EPERM and runs itself again under it,
 * so that the library is loaded as it would be in such a container; then
 * a channel changes hands from one producer and one consumer to two of
 * each, and is closed under a busy sender. Every value must arrive once
 * and in order.
 *
 * Exit status 0 when everything holds, 1 with a message otherwise.
 */
#include <syncprof/chan.h>

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CHECK_NAME "check_chan_no_membarrier"
#include "check.h"

/* Fails membarrier(2) with EPERM in this process and those it starts. */
static int deny_membarrier(void)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_membarrier, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { sizeof code / sizeof code[0], code };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

#define COUNT 100000

struct producer {
    syncprof_chan *c;
    int64_t id;
    int64_t sent;    /* values whose send returned 0 */
    int last;        /* the result that ended an open-ended loop */
};

/* Sends COUNT values tagged with id, or until the channel is closed. */
static void *produce(void *arg)
{
    struct producer *p = arg;
    for (;;) {
        if (p->id >= 0 && p->sent == COUNT)
            return NULL;
        int64_t v = (p->id < 0 ? 0 : p->id << 32) | p->sent;
        if ((p->last = syncprof_chan_send(p->c, &v)) != 0)
            return NULL;
        p->sent++;
    }
}

struct consumer {
    syncprof_chan *c;
    int64_t next[2]; /* per producer, the lowest value this one may see next */
    long got;
};

/* Receives until the channel is closed and drained. */
static void *consume(void *arg)
{
    struct consumer *k = arg;
    int64_t v;
    bool ok;
    while (syncprof_chan_recv(k->c, &v, &ok) == 0 && ok) {
        int id = (int)(v >> 32);
        int64_t seq = v & 0xffffffff;
        CHECK(id == 0 || id == 1, "value %lld from no producer", (long long)v);
        if (id != 0 && id != 1)
            continue;
        CHECK(seq >= k->next[id], "producer %d: %lld after %lld", id, (long long)seq,
              (long long)k->next[id]);
        k->next[id] = seq + 1;
        __atomic_fetch_add(&k->got, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

/* One producer and one consumer, then a second of each joins. */
static void hand_over(void)
{
    syncprof_chan *c = syncprof_chan_make(sizeof(int64_t), 16);
    struct producer p[2] = { { c, 0, 0, 0 }, { c, 1, 0, 0 } };
    struct consumer k[2] = { { c, { 0, 0 }, 0 }, { c, { 0, 0 }, 0 } };
    pthread_t tp[2], tk[2];
    pthread_create(&tk[0], NULL, consume, &k[0]);
    pthread_create(&tp[0], NULL, produce, &p[0]);
    while (__atomic_load_n(&k[0].got, __ATOMIC_RELAXED) < COUNT / 4)
        sched_yield();
    pthread_create(&tk[1], NULL, consume, &k[1]);
    pthread_create(&tp[1], NULL, produce, &p[1]);
    pthread_join(tp[0], NULL);
    pthread_join(tp[1], NULL);
    CHECK(syncprof_chan_close(c) == 0, "close");
    pthread_join(tk[0], NULL);
    pthread_join(tk[1], NULL);
    CHECK(k[0].got + k[1].got == 2 * COUNT, "received %ld of %d", k[0].got + k[1].got,
          2 * COUNT);
    CHECK(syncprof_chan_free(c) == 0, "free");
}

/* Closed under a sender that keeps sending: every send that returned 0
 * is received, in order, then the sender gets EPIPE. */
static void close_under_sender(void)
{
    syncprof_chan *c = syncprof_chan_make(sizeof(int64_t), 4);
    struct producer p = { c, -1, 0, 0 };
    pthread_t t;
    pthread_create(&t, NULL, produce, &p);
    int64_t v, next = 0;
    bool ok;
    while (next < 1000 && syncprof_chan_recv(c, &v, &ok) == 0 && ok)
        CHECK(v == next++, "got %lld, expected %lld", (long long)v, (long long)next - 1);
    CHECK(syncprof_chan_close(c) == 0, "close");
    while (syncprof_chan_recv(c, &v, &ok) == 0 && ok)
        CHECK(v == next++, "got %lld, expected %lld", (long long)v, (long long)next - 1);
    pthread_join(t, NULL);
    CHECK(p.last == EPIPE, "the sender got %d, not EPIPE", p.last);
    CHECK(p.sent == next, "%lld sends returned 0, %lld values received", (long long)p.sent,
          (long long)next);
    CHECK(syncprof_chan_free(c) == 0, "free");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "under-filter") != 0) {
        if (deny_membarrier() != 0) {
            perror("check_chan_no_membarrier: seccomp");
            return 1;
        }
        execl("/proc/self/exe", argv[0], "under-filter", (char *)NULL);
        perror("check_chan_no_membarrier: exec");
        return 1;
    }
    errno = 0;
    CHECK(syscall(SYS_membarrier, 0, 0, 0) == -1 && errno == EPERM,
          "membarrier is not denied: the filter is not in place");
    hand_over();
    close_under_sender();
    if (check_failed()) {
        fprintf(stderr, "check_chan_no_membarrier: %d failures\n", check_failed());
        return 1;
    }
    printf("check_chan_no_membarrier: ok\n");
    return 0;
}
