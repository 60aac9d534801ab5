/* SPDX-License-Identifier: Apache-2.0 */
/* Record arenas: the jansson values of one emit, allocated from a few
 * chunks and given back all at once.
 *
 * An emit parses the plugin's JSON and builds the normalized records: about
 * a hundred small allocations per record, each freed again when the answer
 * has gone out.  With malloc that is a quarter of the loop thread's time.
 * While an arena is current on a thread, jansson allocates from it; a free
 * of arena memory does nothing, and jarena_release() recycles the chunks.
 *
 * jansson has one pair of allocation functions for the whole process, and
 * callers (plugins too) free the strings of json_dumps() with free().  So
 * no allocation carries a header: arena memory is recognised by its
 * address, inside one reserved region.  Outside an arena, or when the
 * region is used up, or for a large block, the functions are malloc and
 * free.  While an arena is current, nothing may free() what jansson
 * returns (json_dumps() text): keep the scope to parsing and building. */
#include "jarena.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <jansson.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define REGION_SIZE ((size_t)256 << 20) /* address space only: pages come on use */
#define CHUNK_SIZE ((size_t)16 << 10)
#define BIG_ALLOC 2048 /* larger blocks come from malloc */
#define SPARE_KEEP 256 /* released chunks kept with their pages (4 MiB) */

struct chunk {
    struct chunk *next;
};

struct jarena {
    struct chunk *chunks;
    char *p, *end;
};

static char *region, *region_end, *region_next;
static struct chunk *spare; /* released chunks, most recent first */
static size_t nspare;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static __thread struct jarena *current;

static struct chunk *chunk_get(void)
{
    struct chunk *c = NULL;
    pthread_mutex_lock(&mu);
    if (spare) {
        c = spare;
        UNPOISON(c, CHUNK_SIZE);
        spare = c->next;
        nspare--;
    } else if (region && (size_t)(region_end - region_next) >= CHUNK_SIZE) {
        c = (struct chunk *)region_next;
        region_next += CHUNK_SIZE;
    }
    pthread_mutex_unlock(&mu);
    return c;
}

static void *ja_malloc(size_t n)
{
    struct jarena *a = current;
    if (!a || n > BIG_ALLOC)
        return malloc(n);
    n = (n + 15) & ~(size_t)15;
    if ((size_t)(a->end - a->p) < n) {
        struct chunk *c = chunk_get();
        if (!c)
            return malloc(n);
        c->next = a->chunks;
        a->chunks = c;
        a->p = (char *)c + 16;
        a->end = (char *)c + CHUNK_SIZE;
    }
    void *r = a->p;
    a->p += n;
    return r;
}

static void ja_free(void *p)
{
    if ((char *)p >= region && (char *)p < region_end)
        return; /* given back with its arena */
    free(p);
}

int jarena_setup(void)
{
    void *r = mmap(NULL, REGION_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r != MAP_FAILED) {
        region = region_next = r;
        region_end = region + REGION_SIZE;
    }
    /* Without the region every allocation is malloc's: slower, not wrong. */
    json_set_alloc_funcs(ja_malloc, ja_free);
    return r == MAP_FAILED ? -1 : 0;
}

struct jarena *jarena_begin(void)
{
    if (!region)
        return NULL; /* not set up: jansson uses malloc */
    struct jarena *a = calloc(1, sizeof *a);
    if (a)
        current = a;
    return a;
}

void jarena_resume(struct jarena *a)
{
    if (a)
        current = a;
}

void jarena_end(struct jarena *a)
{
    if (a && current == a)
        current = NULL;
}

void jarena_release(struct jarena *a)
{
    if (!a)
        return;
    jarena_end(a);
    struct chunk *c = a->chunks;
    pthread_mutex_lock(&mu);
    while (c) {
        struct chunk *next = c->next;
        /* Beyond what a busy moment needs, the pages go back to the kernel. */
        if (nspare >= SPARE_KEEP)
            madvise(c, CHUNK_SIZE, MADV_DONTNEED);
        POISON((char *)c + sizeof *c, CHUNK_SIZE - sizeof *c);
        c->next = spare;
        spare = c;
        nspare++;
        c = next;
    }
    pthread_mutex_unlock(&mu);
    free(a);
}
