/*
 * Diagnostics: every problem found in one run, each with a severity, a stable code, a place
 * (file:line:col) and a message that says what to do. Loaders collect many before giving
 * up (SQLite's parser, jq's located errors); the CLI renders them as text with the source
 * line and a caret, as JSON, or as GitHub annotations.
 */
#ifndef GPUFORM_CORE_DIAG_H
#define GPUFORM_CORE_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum core_severity { CORE_SEV_ERROR, CORE_SEV_WARNING, CORE_SEV_NOTE };

/* A file whose text diagnostics may quote. Owned by the core_diags it was added to. */
struct core_source {
    char *path; /* as the user named it, for messages */
    char *text; /* contents, NUL-terminated; may be NULL when the file could not be read */
    size_t len;
    bool reload; /* text was dropped after parsing: re-read `path` to quote a line */
    struct core_source *next;
};

/*
 * Frees the source's text to save memory once it has been parsed; rendering re-reads the
 * file when a diagnostic quotes a line (as compilers do). Only for sources read from a
 * file; the position of each diagnostic is kept, so only the quoted line could differ if
 * the file changed meanwhile.
 */
void core_source_drop_text(struct core_source *s);

/*
 * A place in a source. line/col are 1-based and count characters; line 0 = whole file.
 * 16 bytes, since every YAML node carries one: columns past CORE_LOC_COL_MAX and spans
 * past CORE_LOC_SPAN_MAX are clamped (set them with core_loc_set).
 */
struct core_loc {
    const struct core_source *src; /* NULL when the problem has no file (a --var, say) */
    uint32_t line;
    uint32_t col : 25; /* up to 33 million characters: a 32 MiB file on one line */
    uint32_t span : 7; /* characters to underline; 0 or 1 = a caret only */
};

#define CORE_LOC_COL_MAX  ((1u << 25) - 1)
#define CORE_LOC_SPAN_MAX ((1u << 7) - 1)

/* Sets line, column and span, clamping the last two to what a core_loc holds. */
static inline void core_loc_set(struct core_loc *loc, size_t line, size_t col, size_t span)
{
    loc->line = line > UINT32_MAX ? UINT32_MAX : (uint32_t)line;
    loc->col = col > CORE_LOC_COL_MAX ? CORE_LOC_COL_MAX : (uint32_t)col;
    loc->span = span > CORE_LOC_SPAN_MAX ? CORE_LOC_SPAN_MAX : (uint32_t)span;
}

struct core_diag {
    enum core_severity severity;
    const char *code; /* stable, static string, e.g. "unknown-key" */
    struct core_loc loc;
    char *message;           /* heap, owned */
    struct core_diag *notes; /* notes attached to this diagnostic, in order; heap, owned */
    size_t nnotes;
    size_t seq;      /* insertion order, keeps sorting stable */
    size_t src_rank; /* the source's registration order; set by core_diags_sort */
};

struct core_diags {
    struct core_diag *items; /* heap array of top-level diagnostics */
    size_t n, cap;
    size_t errors, warnings;
    size_t max_errors; /* errors past this are dropped and `truncated` set */
    bool truncated;
    struct core_source *sources;
};

/* An empty collection keeping at most `max_errors` errors (0 = 50). Pair with release. */
void core_diags_init(struct core_diags *d, size_t max_errors);
void core_diags_release(struct core_diags *d);

/*
 * Registers a source and takes ownership of `text` (malloc'd, NUL-terminated, or NULL).
 * Returns the source, owned by `d`; NULL when out of memory (text is freed then).
 */
struct core_source *core_diags_add_source(struct core_diags *d, const char *path, char *text,
                                          size_t len);

/*
 * Records a diagnostic. Returns it, so that notes can be attached, or NULL when it was
 * dropped: a duplicate of one already recorded, past the error cap, or out of memory.
 */
struct core_diag *core_diag_add(struct core_diags *d, enum core_severity sev, const char *code,
                                const struct core_loc *loc, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Attaches a note ("first defined here") to `parent`; a NULL parent is ignored. */
void core_diag_note(struct core_diag *parent, const struct core_loc *loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* True when the error cap was reached: loaders should stop looking for more. */
bool core_diags_full(const struct core_diags *d);

/* Sorts diagnostics into reading order: by source registration, line, column, then seq. */
void core_diags_sort(struct core_diags *d);

enum core_diag_format {
    CORE_DIAG_TEXT,  /* file:line:col: error: message, the source line and a caret */
    CORE_DIAG_JSON,  /* one JSON array of objects, documented in docs/spec.md */
    CORE_DIAG_GITHUB /* ::error file=...,line=...,col=...::message workflow commands */
};

/*
 * Writes every diagnostic to `out` in `format`. `color` adds ANSI colours to text output
 * (the caller decides: TTY and no NO_COLOR). Returns 0, or -1 on a write error.
 */
int core_diags_render(const struct core_diags *d, enum core_diag_format format, bool color,
                      FILE *out);

/* The lowercase name of a severity: "error", "warning", "note". */
const char *core_severity_name(enum core_severity sev);

#endif
