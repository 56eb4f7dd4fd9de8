/*
 * mutexmalloc.c - a toy allocator whose every call takes one pthread mutex,
 * as jemalloc and tcmalloc take theirs (so the test needs neither). LD_PRELOAD
 * it after the interposer: the interposer's own allocations (stack capture,
 * writing the profiles) then lock an interposed mutex, which must neither
 * recurse into the profiler nor deadlock. Memory comes from mmap'd chunks
 * and is never returned; each block has a 16-byte header with its size.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define CHUNK (64u << 20)

static pthread_mutex_t heap_lock = PTHREAD_MUTEX_INITIALIZER;
static char *next, *end;

/* size bytes aligned to align (a power of two >= 16), under heap_lock. */
static void *toy_alloc(size_t size, size_t align)
{
    if (size > CHUNK / 2 || align > 4096)
        return NULL;
    pthread_mutex_lock(&heap_lock);
    uintptr_t p = ((uintptr_t)next + 16 + align - 1) & ~(uintptr_t)(align - 1);
    if (!next || p + size > (uintptr_t)end) {
        char *c = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (c == MAP_FAILED) {
            pthread_mutex_unlock(&heap_lock);
            return NULL;
        }
        next = c;
        end = c + CHUNK;
        p = ((uintptr_t)next + 16 + align - 1) & ~(uintptr_t)(align - 1);
    }
    next = (char *)(p + size);
    pthread_mutex_unlock(&heap_lock);
    ((size_t *)p)[-1] = size;
    return (void *)p;
}

void *malloc(size_t size) { return toy_alloc(size ? size : 1, 16); }
void free(void *p) { (void)p; }
void *calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    return malloc(n * size); /* fresh mmap'd memory is zero */
}
void *realloc(void *old, size_t size)
{
    void *p = malloc(size);
    if (p && old) {
        size_t was = ((size_t *)old)[-1];
        memcpy(p, old, was < size ? was : size);
    }
    return p;
}
void *memalign(size_t align, size_t size) { return toy_alloc(size ? size : 1, align < 16 ? 16 : align); }
void *aligned_alloc(size_t align, size_t size) { return memalign(align, size); }
int posix_memalign(void **out, size_t align, size_t size)
{
    void *p = memalign(align, size);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}
size_t malloc_usable_size(void *p) { return p ? ((size_t *)p)[-1] : 0; }
