/*
 * Bounded growable buffers for messages, rendered output and file contents.
 */
#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void core_buf_init(struct core_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void core_buf_release(struct core_buf *b)
{
    free(b->data);
    core_buf_init(b, b->max);
}

void core_buf_reset(struct core_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int grow(struct core_buf *b, size_t need)
{
    if (need > b->max)
        return -1;
    if (need + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need + 1)
        cap = cap > b->max / 2 ? b->max + 1 : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int core_buf_add(struct core_buf *b, const void *data, size_t len)
{
    if (len > b->max - b->len || grow(b, b->len + len) < 0)
        return -1;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int core_buf_adds(struct core_buf *b, const char *s)
{
    return core_buf_add(b, s, strlen(s));
}

int core_buf_addc(struct core_buf *b, char c)
{
    return core_buf_add(b, &c, 1);
}

int core_buf_addf(struct core_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n > b->max - b->len || grow(b, b->len + (size_t)n) < 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

const char *core_buf_str(const struct core_buf *b)
{
    return b->data ? b->data : "";
}

char *core_buf_take(struct core_buf *b)
{
    char *p = b->data;
    if (!p)
        p = calloc(1, 1);
    core_buf_init(b, b->max);
    return p;
}
