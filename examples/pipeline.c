/*
 * pipeline.c - four stages connected by syncprof channels, one of them
 * deliberately slow, and the block profile that shows which one.
 *
 *   stage_read -> [parse.in] -> stage_parse -> [resize.in] -> stage_resize
 *              -> [write.in] -> stage_write -> [done] -> main
 *
 * stage_resize spends about 1 ms on each item; the others are quick. The
 * stages upstream of it fill their channels and wait in send; the stages
 * downstream wait in receive. In the block profile the slow stage is where
 * the waiting changes side: the heaviest send waits are in the stage that
 * feeds it (stage_parse, sending on resize.in) and the heaviest receive
 * waits in the stage it feeds (stage_write, receiving on write.in), while
 * stage_resize itself hardly waits at all (see docs/channels.md).
 *
 * Usage: pipeline [profile.txt [profile.pb.gz]]: writes the block profile
 * in Go's text format (default: stdout) and, if asked, as gzip pprof.
 */
#include <syncprof/chan.h>
#include <syncprof/syncprof.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define ITEMS 200
#define SLOW_NS 1000000L /* stage_resize's work per item */
#define CAPACITY 8

struct item {
    int id;
    int64_t payload;
};

struct stage {
    syncprof_chan *in, *out;
};

static void busy_for(long ns)
{
    struct timespec d = { 0, ns };
    nanosleep(&d, NULL); /* stands for real work: a slow call, a big computation */
}

static void *stage_read(void *arg)
{
    struct stage *s = arg;
    for (int i = 0; i < ITEMS; i++) {
        struct item it = { i, i };
        syncprof_chan_send(s->out, &it);
    }
    syncprof_chan_close(s->out);
    return NULL;
}

static void *stage_parse(void *arg)
{
    struct stage *s = arg;
    struct item it;
    bool ok;
    while (syncprof_chan_recv(s->in, &it, &ok) == 0 && ok) {
        it.payload = it.payload * 3 + 1;
        syncprof_chan_send(s->out, &it);
    }
    syncprof_chan_close(s->out);
    return NULL;
}

static void *stage_resize(void *arg)
{
    struct stage *s = arg;
    struct item it;
    bool ok;
    while (syncprof_chan_recv(s->in, &it, &ok) == 0 && ok) {
        busy_for(SLOW_NS); /* the slow stage */
        it.payload /= 2;
        syncprof_chan_send(s->out, &it);
    }
    syncprof_chan_close(s->out);
    return NULL;
}

static void *stage_write(void *arg)
{
    struct stage *s = arg;
    struct item it;
    bool ok;
    while (syncprof_chan_recv(s->in, &it, &ok) == 0 && ok)
        syncprof_chan_send(s->out, &it);
    syncprof_chan_close(s->out);
    return NULL;
}

static int write_profile(const char *path, int debug)
{
    int r = path ? syncprof_write_profile_file("block", path, debug)
                 : syncprof_write_profile("block", STDOUT_FILENO, debug);
    if (r != 0)
        fprintf(stderr, "pipeline: writing the block profile: error %d\n", r);
    return r;
}

int main(int argc, char **argv)
{
    syncprof_set_block_profile_rate(10000); /* one sample per 10 us blocked */

    const char *names[] = { "parse.in", "resize.in", "write.in", "done" };
    syncprof_chan *ch[4];
    for (int i = 0; i < 4; i++) {
        ch[i] = syncprof_chan_make(sizeof(struct item), CAPACITY);
        if (!ch[i]) {
            perror("pipeline: syncprof_chan_make");
            return 1;
        }
        syncprof_set_name(ch[i], names[i]);
    }
    struct stage st[4] = { { NULL, ch[0] }, { ch[0], ch[1] }, { ch[1], ch[2] }, { ch[2], ch[3] } };
    void *(*fn[4])(void *) = { stage_read, stage_parse, stage_resize, stage_write };
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, fn[i], &st[i]);

    long got = 0, sum = 0;
    struct item it;
    bool ok;
    while (syncprof_chan_recv(ch[3], &it, &ok) == 0 && ok) {
        got++;
        sum += (long)it.payload;
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++)
        syncprof_chan_free(ch[i]);
    fprintf(stderr, "pipeline: %ld items through 4 stages (checksum %ld)\n", got, sum);
    if (got != ITEMS)
        return 1;
    if (write_profile(argc > 1 ? argv[1] : NULL, 1) != 0)
        return 1;
    if (argc > 2 && write_profile(argv[2], 0) != 0)
        return 1;
    return 0;
}
