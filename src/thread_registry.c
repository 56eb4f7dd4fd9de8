/*
 * thread_registry.c - the per-thread records of thread_registry.h: claimed
 * from mmap'd chunks, linked in one grow-only list, released by a pthread
 * key destructor when their thread exits.
 *
 * Locking: none. Records are claimed with a CAS on tid and chunks are
 * pushed on the list with a CAS on its head; a record's fields other than
 * tid are written only by the thread that owns it. Cost: claiming walks the
 * list (once per thread); sp_self_tid is a thread-local load after the
 * first call.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "export.h"
#include "sampling.h"
#include "thread_registry.h"

#define SP_RECS_PER_CHUNK 64
/* syncprof's threads and libmicrohttpd's (one per HTTP connection, SP_HTTP_CONN_SLOTS at most). */
#define SP_MAX_SERVICE 192

static struct sp_thread_rec *all_records;   /* list head; CAS-pushed */
static SP_TLS int self_tid;                 /* 0 until first asked */
static SP_TLS struct sp_thread_rec *self_rec;
static pthread_key_t release_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static int service_tids[SP_MAX_SERVICE];    /* 0: free slot; atomic */

int sp_self_tid(void)
{
    int t = self_tid;
    if (t == 0)
        self_tid = t = (int)syscall(SYS_gettid);
    return t;
}

/*
 * glibc describes its thread descriptor to libthread_db with exported
 * GLIBC_PRIVATE tables; _thread_db_pthread_tid is {bits, count, offset} of
 * the tid field of struct pthread, whose address pthread_t is. Looked up
 * once; a C library without it gives no tids.
 */
static const uint32_t *tid_field; /* NULL: unknown; atomic */
static pthread_once_t tid_field_once = PTHREAD_ONCE_INIT;

static void find_tid_field(void)
{
#ifdef __GLIBC__
    const uint32_t *d = dlsym(RTLD_DEFAULT, "_thread_db_pthread_tid");
    if (d && d[0] == 32 && d[1] == 1)
        __atomic_store_n(&tid_field, d, __ATOMIC_RELEASE);
#endif
}

int sp_thread_tid_of(pthread_t t)
{
    pthread_once(&tid_field_once, find_tid_field);
    const uint32_t *d = __atomic_load_n(&tid_field, __ATOMIC_ACQUIRE);
    if (!d || !t)
        return 0;
    int tid;
    memcpy(&tid, (const char *)(uintptr_t)t + d[2], sizeof tid);
    return tid > 0 ? tid : 0;
}

/* The thread exits: its record becomes free for another thread. */
static void release_record(void *p)
{
    struct sp_thread_rec *r = p;
    __atomic_store_n(&r->nheld, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&r->untracked, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&r->tid, 0, __ATOMIC_RELEASE);
    self_rec = NULL;
}

/* In a forked child only the forking thread exists: every other record is
 * free, and the survivor's tid changed. */
static void after_fork_in_child(void)
{
    self_tid = 0;
    for (struct sp_thread_rec *r = all_records; r; r = r->next)
        if (r != self_rec)
            __atomic_store_n(&r->tid, 0, __ATOMIC_RELAXED);
    if (self_rec)
        __atomic_store_n(&self_rec->tid, sp_self_tid(), __ATOMIC_RELAXED);
    for (int i = 0; i < SP_MAX_SERVICE; i++)
        __atomic_store_n(&service_tids[i], 0, __ATOMIC_RELAXED);
}

static void make_key(void)
{
    pthread_key_create(&release_key, release_record);
}

/* Priority 102: before the default constructors, which may start service
 * threads and register fork handlers that start them again in a child;
 * those handlers must run after this one (handlers run in the order they
 * were registered), or the child would forget its new service threads. */
__attribute__((constructor(102))) static void registry_init(void)
{
    pthread_atfork(NULL, NULL, after_fork_in_child);
}

static struct sp_thread_rec *claim_existing(int tid)
{
    for (struct sp_thread_rec *r = __atomic_load_n(&all_records, __ATOMIC_ACQUIRE); r; r = r->next) {
        int free_tid = 0;
        if (__atomic_load_n(&r->tid, __ATOMIC_RELAXED) == 0 &&
            __atomic_compare_exchange_n(&r->tid, &free_tid, tid, false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return r;
    }
    return NULL;
}

/* Maps a chunk of records, keeps the first for tid and publishes them all. */
static struct sp_thread_rec *claim_new(int tid)
{
    struct sp_thread_rec *c = mmap(NULL, sizeof *c * SP_RECS_PER_CHUNK, PROT_READ | PROT_WRITE,
                                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (c == MAP_FAILED)
        return NULL;
    c[0].tid = tid;
    for (int i = 0; i + 1 < SP_RECS_PER_CHUNK; i++)
        c[i].next = &c[i + 1];
    struct sp_thread_rec *head = __atomic_load_n(&all_records, __ATOMIC_RELAXED);
    do
        c[SP_RECS_PER_CHUNK - 1].next = head;
    while (!__atomic_compare_exchange_n(&all_records, &head, c, true, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED));
    return c;
}

struct sp_thread_rec *sp_thread_self(void)
{
    if (self_rec)
        return self_rec;
    pthread_once(&key_once, make_key);
    int tid = sp_self_tid();
    struct sp_thread_rec *r = claim_existing(tid);
    if (!r)
        r = claim_new(tid);
    if (r) {
        self_rec = r;
        pthread_setspecific(release_key, r);
    }
    return r;
}

struct sp_thread_rec *sp_thread_records(void)
{
    return __atomic_load_n(&all_records, __ATOMIC_ACQUIRE);
}

struct sp_thread_rec *sp_thread_find(int tid)
{
    for (struct sp_thread_rec *r = sp_thread_records(); r; r = r->next)
        if (tid != 0 && __atomic_load_n(&r->tid, __ATOMIC_ACQUIRE) == tid)
            return r;
    return NULL;
}

/* A service thread is inside the profiler for its whole life (sampling.h):
 * nothing it does is observed. */
void sp_service_thread_register(void)
{
    sp_enter_profiler();
    sp_service_tid_add(sp_self_tid());
}

void sp_service_thread_unregister(void)
{
    sp_service_tid_remove(sp_self_tid());
    sp_leave_profiler();
}

void sp_service_tid_add(int tid)
{
    for (int i = 0; i < SP_MAX_SERVICE; i++) {
        int zero = 0;
        if (__atomic_compare_exchange_n(&service_tids[i], &zero, tid, false, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            return;
    }
}

void sp_service_tid_remove(int tid)
{
    for (int i = 0; i < SP_MAX_SERVICE; i++) {
        int mine = tid;
        __atomic_compare_exchange_n(&service_tids[i], &mine, 0, false, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED);
    }
}

/* The main thread has ended (pthread_exit): the kernel shows the thread
 * group's leader as a zombie until the whole process ends. */
static bool main_thread_ended(void)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)getpid());
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false; /* no /proc: never decide that the program is over */
    ssize_t len = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (len <= 0)
        return false;
    buf[len] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

bool sp_each_thread(bool (*visit)(int tid, void *arg), void *arg)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return false;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int tid = atoi(e->d_name);
        if (tid > 0 && !visit(tid, arg))
            break;
    }
    closedir(d);
    return true;
}

/* Clears *alone at a thread of the program's other than its main thread. */
static bool library_thread(int tid, void *alone)
{
    if (tid != (int)getpid() && !sp_is_service_thread(tid))
        *(bool *)alone = false;
    return *(bool *)alone;
}

/* Every thread but the ended main thread is one of the library's own. */
static bool only_service_threads_left(void)
{
    bool alone = true;
    return sp_each_thread(library_thread, &alone) && alone;
}

void sp_service_thread_tick(void)
{
    static int ending;
    if (main_thread_ended() && only_service_threads_left() &&
        !__atomic_exchange_n(&ending, 1, __ATOMIC_ACQ_REL))
        exit(0);
}

bool sp_is_service_thread(int tid)
{
    for (int i = 0; i < SP_MAX_SERVICE; i++)
        if (__atomic_load_n(&service_tids[i], __ATOMIC_RELAXED) == tid)
            return true;
    return false;
}
