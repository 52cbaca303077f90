/*
 * Bump allocation over a list of malloc'd chunks. Big requests get a chunk of their own so
 * that a 10 MB scalar does not waste a standard chunk's tail.
 */
#include "core/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_SIZE (64 * 1024)
#define ALIGN      16

struct core_arena_chunk {
    struct core_arena_chunk *next;
    size_t cap;
    size_t off;
    _Alignas(ALIGN) unsigned char data[];
};

void core_arena_init(struct core_arena *a, size_t limit)
{
    a->head = NULL;
    a->used = 0;
    a->limit = limit;
}

void core_arena_release(struct core_arena *a)
{
    struct core_arena_chunk *c = a->head;
    while (c) {
        struct core_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used = 0;
}

static struct core_arena_chunk *chunk_new(size_t cap)
{
    struct core_arena_chunk *c = malloc(sizeof(*c) + cap);
    if (!c)
        return NULL;
    c->cap = cap;
    c->off = 0;
    c->next = NULL;
    return c;
}

/* `size` bytes at the given alignment (1 or ALIGN), zero-filled. */
static void *alloc_aligned(struct core_arena *a, size_t size, size_t align)
{
    if (size == 0)
        size = 1;
    if (size > SIZE_MAX - ALIGN)
        return NULL;
    if (align > 1)
        size = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    /* A string may have left the head unaligned: pad the offset for aligned requests. */
    if (align > 1 && a->head && (a->head->off & (ALIGN - 1))) {
        size_t pad = ALIGN - (a->head->off & (ALIGN - 1));
        if (a->head->cap - a->head->off >= pad)
            a->head->off += pad;
        else
            a->head->off = a->head->cap;
    }
    if (a->limit && (size > a->limit || a->used > a->limit - size))
        return NULL;

    struct core_arena_chunk *c = a->head;
    if (!c || c->cap - c->off < size) {
        if (size > CHUNK_SIZE / 4) {
            /* Large block: own chunk, linked behind the head so the head keeps its space. */
            struct core_arena_chunk *big = chunk_new(size);
            if (!big)
                return NULL;
            big->off = size;
            if (c) {
                big->next = c->next;
                c->next = big;
            } else {
                a->head = big;
            }
            a->used += size;
            memset(big->data, 0, size);
            return big->data;
        }
        c = chunk_new(CHUNK_SIZE);
        if (!c)
            return NULL;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->off;
    c->off += size;
    a->used += size;
    memset(p, 0, size);
    return p;
}

void *core_arena_alloc(struct core_arena *a, size_t size)
{
    return alloc_aligned(a, size, ALIGN);
}

char *core_arena_strndup(struct core_arena *a, const char *s, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *p = alloc_aligned(a, len + 1, 1); /* strings need no alignment */
    if (!p)
        return NULL;
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *core_arena_strdup(struct core_arena *a, const char *s)
{
    return core_arena_strndup(a, s, strlen(s));
}

char *core_arena_printf(struct core_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *p = core_arena_alloc(a, (size_t)n + 1);
    if (!p)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}
