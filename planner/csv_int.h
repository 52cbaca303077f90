/*
 * A strict CSV reader (RFC 4180) for the planner's catalogs: gpuform's own format and the
 * SkyPilot catalogs it imports. Internal to planner/. It reads from memory, accepts LF and
 * CRLF, quoted fields with doubled quotes and line breaks, and reports every syntax error
 * with its line and column, then skips to the next line so that a loader can report more.
 */
#ifndef GPUFORM_PLANNER_CSV_INT_H
#define GPUFORM_PLANNER_CSV_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

struct plan_csv_field {
    const char *s; /* the unquoted contents, NUL-terminated; borrowed until the next record */
    size_t len;
    size_t line, col; /* where the field starts: 1-based, col counts UTF-8 characters */
};

struct plan_csv {
    const char *text; /* borrowed; must outlive the reader */
    size_t len, pos;
    size_t line, col; /* of text[pos] */
    size_t max_fields;
    struct core_buf rec; /* the current record's field contents, NUL-separated */
    size_t *offs;        /* offset of each field in rec */
    struct plan_csv_field *fields;
    size_t nfields;
    size_t record_line; /* first line of the current record */
    /* The last error, when plan_csv_next returned -1: a static message and its place. */
    const char *err;
    size_t err_line, err_col;
};

/*
 * A reader over text[0..len): at most `max_fields` fields per record and `max_record` bytes
 * of field contents per record (hostile input fails, never grows memory without end). A
 * UTF-8 byte order mark at the start is skipped. Pair with plan_csv_release.
 * Returns 0, or -1 when out of memory.
 */
int plan_csv_init(struct plan_csv *c, const char *text, size_t len, size_t max_fields,
                  size_t max_record);
void plan_csv_release(struct plan_csv *c);

/*
 * Reads the next record into c->fields / c->nfields. Returns 1 for a record, 0 at the end
 * of the input, -1 for a syntax error (c->err, c->err_line, c->err_col): a stray or
 * unterminated quote, a bare carriage return, a NUL byte, too many fields, a record too
 * long, out of memory. After an error the reader has skipped to the next line, so calling
 * again goes on with the rest. Blank lines are skipped.
 */
int plan_csv_next(struct plan_csv *c);

/*
 * Reads the file at `path` into a malloc'd, NUL-terminated buffer of at most `max` bytes.
 * Returns 0 with *text (the caller frees it) and *len; otherwise -1 with *why set to a
 * static reason: strerror(errno), "is a directory", "is larger than the limit" (with
 * *too_big true).
 */
int plan_csv_read_file(const char *path, size_t max, char **text, size_t *len, const char **why,
                       bool *too_big);

/*
 * True when s[0..len) is valid UTF-8 without control characters (tab allowed). Otherwise
 * false with *bad set to the byte offset of the first offending character.
 */
bool plan_csv_text_ok(const char *s, size_t len, size_t *bad);

/*
 * Parses a plain decimal number: digits, optionally '.' and more digits, and with
 * `exponent` an exponent ("1e-05", as pandas may write); no sign, no spaces, not "nan" or
 * "inf". Returns 0 with *out (finite, >= 0), or -1.
 */
int plan_csv_decimal(const char *s, bool exponent, double *out);

/* True when s is a real calendar date written YYYY-MM-DD, from 1970 to 9999. */
bool plan_csv_date_ok(const char *s);

/* The number of UTF-8 characters in s[0..len) (continuation bytes not counted). */
size_t plan_csv_chars(const char *s, size_t len);

#endif
