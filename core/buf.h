/*
 * A growable byte buffer with a maximum (curl's dynbuf): hostile input can make it fail,
 * never grow without end. Always NUL-terminated so it can be printed as a string.
 */
#ifndef GPUFORM_CORE_BUF_H
#define GPUFORM_CORE_BUF_H

#include <stddef.h>

struct core_buf {
    char *data; /* NUL-terminated once anything was added; NULL before */
    size_t len; /* bytes used, not counting the NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* the most `len` may reach */
};

/* An empty buffer that may hold up to `max` bytes. Embedded: pair with release. */
void core_buf_init(struct core_buf *b, size_t max);

/* Frees the data; the buffer is empty and reusable. */
void core_buf_release(struct core_buf *b);

/* Empties the buffer, keeping its memory. */
void core_buf_reset(struct core_buf *b);

/* Appends; 0 on success, -1 when out of memory or past `max` (the buffer is unchanged). */
int core_buf_add(struct core_buf *b, const void *data, size_t len);
int core_buf_adds(struct core_buf *b, const char *s);
int core_buf_addc(struct core_buf *b, char c);
int core_buf_addf(struct core_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The contents as a string: "" when empty, never NULL. Borrowed; valid until next change. */
const char *core_buf_str(const struct core_buf *b);

/* Hands the malloc'd contents to the caller (who frees them) and empties the buffer. */
char *core_buf_take(struct core_buf *b);

#endif
