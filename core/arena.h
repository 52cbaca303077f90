/*
 * A bump allocator: many small allocations, freed at once. The spec tree and everything
 * hanging off it live in one arena (nginx pools, git's mem_pool), so a loader that fails
 * half-way frees everything with one call and nothing can leak.
 */
#ifndef GPUFORM_CORE_ARENA_H
#define GPUFORM_CORE_ARENA_H

#include <stddef.h>

struct core_arena_chunk;

struct core_arena {
    struct core_arena_chunk *head; /* newest chunk; allocations come from here */
    size_t used;                   /* bytes handed out, for limits and benchmarks */
    size_t limit;                  /* 0 = no limit; otherwise allocations past it fail */
};

/* An empty arena; `limit` bytes at most (0 for none). Embedded: pair with release. */
void core_arena_init(struct core_arena *a, size_t limit);

/* Frees every chunk; the arena is empty and reusable afterwards. */
void core_arena_release(struct core_arena *a);

/*
 * `size` bytes aligned for any type, zero-filled, owned by the arena. NULL when out of
 * memory or past the limit; callers report that as an error, never crash.
 */
void *core_arena_alloc(struct core_arena *a, size_t size);

/* A NUL-terminated copy of s[0..len) in the arena, or NULL (out of memory). */
char *core_arena_strndup(struct core_arena *a, const char *s, size_t len);

/* A copy of the NUL-terminated `s` in the arena, or NULL. */
char *core_arena_strdup(struct core_arena *a, const char *s);

/* printf into the arena; NULL when out of memory. */
char *core_arena_printf(struct core_arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
