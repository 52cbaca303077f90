/*
 * The planner's CSV reader: strict RFC 4180 over a buffer in memory, with a line and column
 * for every field and limits for hostile input. Shared by the catalog parser (catalog.c)
 * and the SkyPilot importer (catalog_import.c), so both accept exactly the same CSV.
 */
#include "planner/csv_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int plan_csv_init(struct plan_csv *c, const char *text, size_t len, size_t max_fields,
                  size_t max_record)
{
    memset(c, 0, sizeof(*c));
    c->text = text;
    c->len = len;
    c->line = 1;
    c->col = 1;
    c->max_fields = max_fields ? max_fields : 1;
    core_buf_init(&c->rec, max_record);
    c->offs = malloc(c->max_fields * sizeof(*c->offs));
    c->fields = malloc(c->max_fields * sizeof(*c->fields));
    if (!c->offs || !c->fields) {
        plan_csv_release(c);
        return -1;
    }
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        c->pos = 3; /* a byte order mark (Excel writes one); columns start after it */
    return 0;
}

void plan_csv_release(struct plan_csv *c)
{
    core_buf_release(&c->rec);
    free(c->offs);
    free(c->fields);
    c->offs = NULL;
    c->fields = NULL;
    c->nfields = 0;
}

static bool is_cont(char ch)
{
    return ((unsigned char)ch & 0xC0) == 0x80;
}

/* Moves past text[pos], keeping line and column (in characters) current. */
static void advance(struct plan_csv *c)
{
    char ch = c->text[c->pos++];
    if (ch == '\n') {
        c->line++;
        c->col = 1;
    } else if (c->pos >= c->len || !is_cont(c->text[c->pos])) {
        c->col++;
    }
}

static int fail(struct plan_csv *c, const char *msg, size_t line, size_t col)
{
    c->err = msg;
    c->err_line = line;
    c->err_col = col;
    return -1;
}

static bool at_crlf(const struct plan_csv *c)
{
    return c->pos + 1 < c->len && c->text[c->pos] == '\r' && c->text[c->pos + 1] == '\n';
}

/* Reads a quoted field; c->pos is at the opening quote. */
static int read_quoted(struct plan_csv *c)
{
    size_t qline = c->line, qcol = c->col;
    advance(c);
    for (;;) {
        if (c->pos >= c->len) {
            c->pos = c->len; /* nothing after an unterminated quote can be read */
            return fail(c, "unterminated quoted field: the quote opened here is never closed",
                        qline, qcol);
        }
        char ch = c->text[c->pos];
        if (ch == '"') {
            if (c->pos + 1 < c->len && c->text[c->pos + 1] == '"') {
                advance(c);
                advance(c);
                if (core_buf_addc(&c->rec, '"') != 0)
                    return fail(c, "record too long", c->line, c->col);
                continue;
            }
            advance(c);
            break;
        }
        if (ch == '\0')
            return fail(c, "NUL byte in the text: this is not a CSV file", c->line, c->col);
        if (ch == '\r' && !at_crlf(c))
            return fail(c, "carriage return not followed by a line feed", c->line, c->col);
        if (core_buf_addc(&c->rec, ch) != 0)
            return fail(c, "record too long", c->line, c->col);
        advance(c);
    }
    if (c->pos < c->len && c->text[c->pos] != ',' && c->text[c->pos] != '\n' && !at_crlf(c))
        return fail(c,
                    "unexpected character after a closing quote (write a quote inside a quoted "
                    "field as \"\")",
                    c->line, c->col);
    return 0;
}

/* Reads an unquoted field up to the next comma or line end. */
static int read_plain(struct plan_csv *c)
{
    size_t start = c->pos;
    size_t p = c->pos;
    while (p < c->len) {
        char ch = c->text[p];
        if (ch == ',' || ch == '\n' || ch == '"' || ch == '\0')
            break;
        if (ch == '\r' && p + 1 < c->len && c->text[p + 1] == '\n')
            break;
        if (ch == '\r')
            break;
        p++;
    }
    if (core_buf_add(&c->rec, c->text + start, p - start) != 0)
        return fail(c, "record too long", c->line, c->col);
    c->col += plan_csv_chars(c->text + start, p - start);
    c->pos = p;
    if (p >= c->len)
        return 0;
    char ch = c->text[p];
    if (ch == '"')
        return fail(c,
                    "quote inside an unquoted field: quote the whole field and write the quote "
                    "as \"\"",
                    c->line, c->col);
    if (ch == '\0')
        return fail(c, "NUL byte in the text: this is not a CSV file", c->line, c->col);
    if (ch == '\r' && !at_crlf(c))
        return fail(c, "carriage return not followed by a line feed", c->line, c->col);
    return 0;
}

static int read_record(struct plan_csv *c)
{
    for (;;) {
        if (c->nfields == c->max_fields)
            return fail(c, "too many fields in this row", c->line, c->col);
        struct plan_csv_field *f = &c->fields[c->nfields];
        f->line = c->line;
        f->col = c->col;
        c->offs[c->nfields] = c->rec.len;
        int r = c->pos < c->len && c->text[c->pos] == '"' ? read_quoted(c) : read_plain(c);
        if (r != 0)
            return r;
        if (core_buf_addc(&c->rec, '\0') != 0)
            return fail(c, "record too long", c->line, c->col);
        f->len = c->rec.len - 1 - c->offs[c->nfields];
        c->nfields++;
        if (c->pos >= c->len)
            break;
        if (c->text[c->pos] == ',') {
            advance(c);
            continue;
        }
        if (c->text[c->pos] == '\r')
            advance(c);
        advance(c); /* the line feed */
        break;
    }
    for (size_t i = 0; i < c->nfields; i++)
        c->fields[i].s = c->rec.data + c->offs[i];
    return 1;
}

static void skip_line(struct plan_csv *c)
{
    while (c->pos < c->len && c->text[c->pos] != '\n')
        c->pos++;
    if (c->pos < c->len) {
        c->pos++;
        c->line++;
    }
    c->col = 1;
}

int plan_csv_next(struct plan_csv *c)
{
    for (;;) {
        core_buf_reset(&c->rec);
        c->nfields = 0;
        c->err = NULL;
        if (c->pos >= c->len)
            return 0;
        if (c->text[c->pos] == '\n') {
            advance(c);
            continue;
        }
        if (at_crlf(c)) {
            advance(c);
            advance(c);
            continue;
        }
        c->record_line = c->line;
        if (read_record(c) == 1)
            return 1;
        c->nfields = 0;
        skip_line(c);
        return -1;
    }
}

int plan_csv_read_file(const char *path, size_t max, char **text, size_t *len, const char **why,
                       bool *too_big)
{
    *text = NULL;
    *len = 0;
    *too_big = false;
    FILE *f = fopen(path, "rb");
    if (!f) {
        *why = strerror(errno);
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        *why = "is a directory";
        return -1;
    }
    /* Start from the file's size, but keep reading: pipes report 0 and files can grow. */
    size_t cap = 64 * 1024, n = 0;
    if (fstat(fileno(f), &st) == 0 && st.st_size > 0 && (unsigned long long)st.st_size < max)
        cap = (size_t)st.st_size + 1;
    char *buf = malloc(cap + 1);
    bool err = false;
    while (buf) {
        if (n == cap) {
            if (cap > max) {
                *too_big = true;
                break;
            }
            char *p = realloc(buf, cap * 2 + 1);
            if (!p) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = p;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            err = ferror(f) != 0;
            break;
        }
    }
    fclose(f);
    if (n > max)
        *too_big = true;
    if (!buf || *too_big || err) {
        free(buf);
        *why = *too_big ? "is larger than the limit" : err ? "read error" : "out of memory";
        return -1;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}

/* Bytes of the valid UTF-8 character at s (at most `left` bytes available), or 0. */
static size_t utf8_char(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];
    size_t n;
    unsigned min;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0) {
        n = 2;
        min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3;
        min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (left < n)
        return 0;
    unsigned cp = c & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

bool plan_csv_text_ok(const char *s, size_t len, size_t *bad)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        if ((u[i] < 0x20 && u[i] != '\t') || u[i] == 0x7F) {
            *bad = i;
            return false;
        }
        size_t n = utf8_char(u + i, len - i);
        if (n == 0) {
            *bad = i;
            return false;
        }
        i += n;
    }
    return true;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

bool plan_csv_date_ok(const char *s)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0');
    int d = (s[8] - '0') * 10 + (s[9] - '0');
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || m < 1 || m > 12 || d < 1)
        return false;
    return d <= mdays[m - 1] + (m == 2 && leap(y));
}

static bool digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

int plan_csv_decimal(const char *s, bool exponent, double *out)
{
    const char *p = s;
    if (!digit(*p))
        return -1;
    while (digit(*p))
        p++;
    if (*p == '.') {
        p++;
        if (!digit(*p))
            return -1;
        while (digit(*p))
            p++;
    }
    if (exponent && (*p == 'e' || *p == 'E')) {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!digit(*p))
            return -1;
        while (digit(*p))
            p++;
    }
    if (*p != '\0')
        return -1;
    double v = strtod(s, NULL);
    if (!isfinite(v) || v < 0)
        return -1;
    *out = v;
    return 0;
}

size_t plan_csv_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (!is_cont(s[i]))
            n++;
    return n;
}
