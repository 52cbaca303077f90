/*
 * Collecting and rendering diagnostics. Text output quotes the source line with a caret
 * under the column, the way compilers do; JSON and GitHub formats are for CI.
 */
#include "core/diag.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

#define MAX_DIAGS    500 /* warnings and notes included: hostile input can't flood memory */
#define MAX_MESSAGE  4096
#define SHOW_COLUMNS 160 /* characters of a long source line shown around the column */

/* Replaces every byte that is not part of valid UTF-8 with '?', in place, so messages and
 * paths can always be written as JSON strings and to terminals (a cut at MAX_MESSAGE may
 * split a character; a file name may be any bytes). */
static void utf8_scrub(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        size_t n = *p < 0x80         ? 1
                   : (*p >> 5) == 6  ? 2
                   : (*p >> 4) == 14 ? 3
                   : (*p >> 3) == 30 ? 4
                                     : 0;
        size_t i = 1;
        while (n > 1 && i < n && (p[i] & 0xC0) == 0x80)
            i++;
        if (n == 0 || i < n || (n == 2 && *p < 0xC2)) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
}

void core_diags_init(struct core_diags *d, size_t max_errors)
{
    memset(d, 0, sizeof(*d));
    d->max_errors = max_errors ? max_errors : 50;
}

static void diag_release(struct core_diag *g)
{
    free(g->message);
    for (size_t i = 0; i < g->nnotes; i++)
        free(g->notes[i].message);
    free(g->notes);
}

void core_diags_release(struct core_diags *d)
{
    for (size_t i = 0; i < d->n; i++)
        diag_release(&d->items[i]);
    free(d->items);
    struct core_source *s = d->sources;
    while (s) {
        struct core_source *next = s->next;
        free(s->path);
        free(s->text);
        free(s);
        s = next;
    }
    memset(d, 0, sizeof(*d));
}

struct core_source *core_diags_add_source(struct core_diags *d, const char *path, char *text,
                                          size_t len)
{
    struct core_source *s = calloc(1, sizeof(*s));
    char *p = strdup(path);
    if (p)
        utf8_scrub(p);
    if (!s || !p) {
        free(s);
        free(p);
        free(text);
        return NULL;
    }
    s->path = p;
    s->text = text;
    s->len = len;
    /* Append, so registration order is reading order for sorting. */
    struct core_source **tail = &d->sources;
    while (*tail)
        tail = &(*tail)->next;
    *tail = s;
    return s;
}

/* A malloc'd message, cut at MAX_MESSAGE bytes so hostile values can't make it huge. */
static char *vformat(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static char *vformat(const char *fmt, va_list ap)
{
    char *msg = malloc(MAX_MESSAGE);
    if (msg && vsnprintf(msg, MAX_MESSAGE, fmt, ap) < 0)
        msg[0] = '\0';
    if (msg)
        utf8_scrub(msg);
    return msg;
}

static bool same_loc(const struct core_loc *a, const struct core_loc *b)
{
    return a->src == b->src && a->line == b->line && a->col == b->col;
}

struct core_diag *core_diag_add(struct core_diags *d, enum core_severity sev, const char *code,
                                const struct core_loc *loc, const char *fmt, ...)
{
    static const struct core_loc none = {0};
    if (!loc)
        loc = &none;
    va_list ap;
    va_start(ap, fmt);
    char *msg = vformat(fmt, ap);
    va_end(ap);
    if (!msg)
        return NULL;
    /* The same node reached twice through a YAML alias must not report twice. */
    for (size_t i = 0; i < d->n; i++) {
        struct core_diag *g = &d->items[i];
        if (g->severity == sev && same_loc(&g->loc, loc) && strcmp(g->code, code) == 0 &&
            strcmp(g->message, msg) == 0) {
            free(msg);
            return NULL;
        }
    }
    if (sev == CORE_SEV_ERROR && d->errors >= d->max_errors) {
        d->truncated = true;
        free(msg);
        return NULL;
    }
    if (d->n >= MAX_DIAGS) {
        d->truncated = true;
        free(msg);
        return NULL;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        struct core_diag *items = realloc(d->items, cap * sizeof(*items));
        if (!items) {
            free(msg);
            return NULL;
        }
        d->items = items;
        d->cap = cap;
    }
    struct core_diag *g = &d->items[d->n];
    memset(g, 0, sizeof(*g));
    g->severity = sev;
    g->code = code;
    g->loc = *loc;
    g->message = msg;
    g->seq = d->n++;
    if (sev == CORE_SEV_ERROR)
        d->errors++;
    else if (sev == CORE_SEV_WARNING)
        d->warnings++;
    return g;
}

void core_diag_note(struct core_diag *parent, const struct core_loc *loc, const char *fmt, ...)
{
    static const struct core_loc none = {0};
    if (!parent)
        return;
    struct core_diag *notes = realloc(parent->notes, (parent->nnotes + 1) * sizeof(*notes));
    if (!notes)
        return;
    parent->notes = notes;
    va_list ap;
    va_start(ap, fmt);
    char *msg = vformat(fmt, ap);
    va_end(ap);
    if (!msg)
        return;
    struct core_diag *g = &notes[parent->nnotes++];
    memset(g, 0, sizeof(*g));
    g->severity = CORE_SEV_NOTE;
    g->code = parent->code;
    g->loc = loc ? *loc : none;
    g->message = msg;
}

void core_source_drop_text(struct core_source *s)
{
    free(s->text);
    s->text = NULL;
    s->reload = true;
}

/* Reads a dropped text back before rendering; on failure lines are just not quoted. */
static void reload_text(struct core_source *s)
{
    if (s->text || !s->reload)
        return;
    FILE *f = fopen(s->path, "rb");
    if (!f)
        return;
    char *text = malloc(s->len + 1);
    size_t n = text ? fread(text, 1, s->len, f) : 0;
    fclose(f);
    if (!text)
        return;
    text[n] = '\0';
    if (n >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) { /* stripped when first read */
        memmove(text, text + 3, n - 2);
        n -= 3;
    }
    s->text = text;
    s->len = n;
}

bool core_diags_full(const struct core_diags *d)
{
    return d->truncated || d->errors >= d->max_errors;
}

static size_t source_rank(const struct core_source *head, const struct core_source *s)
{
    size_t r = 1;
    for (; head; head = head->next, r++)
        if (head == s)
            return r;
    return 0; /* no file: first */
}

static int cmp_diag(const void *pa, const void *pb)
{
    const struct core_diag *a = pa, *b = pb;
    if (a->src_rank != b->src_rank)
        return a->src_rank < b->src_rank ? -1 : 1;
    if (a->loc.line != b->loc.line)
        return a->loc.line < b->loc.line ? -1 : 1;
    if (a->loc.col != b->loc.col)
        return a->loc.col < b->loc.col ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

void core_diags_sort(struct core_diags *d)
{
    if (d->n < 2)
        return;
    for (size_t i = 0; i < d->n; i++)
        d->items[i].src_rank = source_rank(d->sources, d->items[i].loc.src);
    qsort(d->items, d->n, sizeof(*d->items), cmp_diag);
}

const char *core_severity_name(enum core_severity sev)
{
    switch (sev) {
    case CORE_SEV_ERROR:
        return "error";
    case CORE_SEV_WARNING:
        return "warning";
    case CORE_SEV_NOTE:
        return "note";
    }
    return "error";
}

/* ---- text rendering ---- */

struct style {
    const char *bold, *reset, *sev[3], *caret;
};

static const struct style plain_style = {"", "", {"", "", ""}, ""};
static const struct style color_style = {
    "\033[1m", "\033[0m", {"\033[1;31m", "\033[1;35m", "\033[1;36m"}, "\033[1;32m"};

/* Start of 1-based `line` in the source text, or NULL. */
static const char *find_line(const struct core_source *s, uint32_t line, size_t *len)
{
    if (!s || !s->text || line == 0)
        return NULL;
    const char *p = s->text, *end = s->text + s->len;
    for (uint32_t l = 1; l < line; l++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return NULL;
        p = nl + 1;
    }
    const char *e = p;
    while (e < end && *e != '\n' && *e != '\r')
        e++;
    *len = (size_t)(e - p);
    return p;
}

/* Bytes of the UTF-8 character starting at p; 0 for an invalid sequence (shown as '?'). */
static size_t u8len(const char *p, const char *end)
{
    unsigned char c = (unsigned char)*p;
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || (size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++)
        if (((unsigned char)p[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

static void render_quote(struct core_buf *b, const struct core_diag *g, const struct style *st)
{
    size_t len;
    const char *line = find_line(g->loc.src, g->loc.line, &len);
    if (!line)
        return;
    const char *end = line + len;
    uint32_t col = g->loc.col ? g->loc.col : 1;
    uint32_t first = col > SHOW_COLUMNS / 2 ? col - SHOW_COLUMNS / 2 : 1;

    core_buf_addf(b, "%5u | ", g->loc.line);
    struct core_buf caret;
    core_buf_init(&caret, 4 * SHOW_COLUMNS + 64);
    core_buf_adds(&caret, "      | ");
    if (first > 1) {
        core_buf_adds(b, "...");
        core_buf_adds(&caret, "   ");
    }
    uint32_t c = 1;
    const char *p = line;
    for (; p < end && c < first + SHOW_COLUMNS; c++) {
        size_t n = u8len(p, end);
        bool valid = n > 0;
        n = n ? n : 1;
        if (c >= first) {
            unsigned char ch = (unsigned char)*p;
            if (valid && (ch == '\t' || (ch >= 0x20 && ch != 0x7f)))
                core_buf_add(b, p, n);
            else
                core_buf_addc(b, '?'); /* never echo control bytes to a terminal */
            if (c < col)
                core_buf_addc(&caret, ch == '\t' ? '\t' : ' ');
        }
        p += n;
    }
    if (p < end)
        core_buf_adds(b, "...");
    core_buf_addc(b, '\n');
    core_buf_adds(&caret, st->caret);
    core_buf_addc(&caret, '^');
    uint32_t span = g->loc.span;
    for (uint32_t i = 1; i < span && col + i < first + SHOW_COLUMNS; i++)
        core_buf_addc(&caret, '~');
    core_buf_adds(&caret, st->reset);
    core_buf_addc(&caret, '\n');
    core_buf_add(b, caret.data, caret.len);
    core_buf_release(&caret);
}

static void render_one(struct core_buf *b, const struct core_diag *g, const struct style *st)
{
    core_buf_adds(b, st->bold);
    if (g->loc.src) {
        core_buf_adds(b, g->loc.src->path);
        if (g->loc.line)
            core_buf_addf(b, ":%u:%u", g->loc.line, g->loc.col ? g->loc.col : 1);
        core_buf_adds(b, ": ");
    } else {
        core_buf_adds(b, "gpuform: ");
    }
    core_buf_adds(b, st->reset);
    core_buf_addf(b, "%s%s:%s %s\n", st->sev[g->severity], core_severity_name(g->severity),
                  st->reset, g->message);
    render_quote(b, g, st);
}

static int render_text(const struct core_diags *d, bool color, FILE *out)
{
    for (size_t i = 0; i < d->n; i++) {
        if (d->items[i].loc.src && d->items[i].loc.line) {
            for (struct core_source *s = d->sources; s; s = s->next)
                if (s == d->items[i].loc.src)
                    reload_text(s);
        }
        for (size_t j = 0; j < d->items[i].nnotes; j++)
            for (struct core_source *s = d->sources; s; s = s->next)
                if (s == d->items[i].notes[j].loc.src)
                    reload_text(s);
    }
    const struct style *st = color ? &color_style : &plain_style;
    struct core_buf b;
    core_buf_init(&b, (size_t)1 << 30);
    for (size_t i = 0; i < d->n; i++) {
        render_one(&b, &d->items[i], st);
        for (size_t j = 0; j < d->items[i].nnotes; j++)
            render_one(&b, &d->items[i].notes[j], st);
    }
    if (d->truncated || d->errors >= d->max_errors)
        core_buf_addf(&b,
                      "gpuform: too many problems; stopped after %zu errors: fix these "
                      "and run again\n",
                      d->errors);
    int rc = fwrite(core_buf_str(&b), 1, b.len, out) == b.len ? 0 : -1;
    core_buf_release(&b);
    return rc;
}

/* ---- JSON ---- */

static json_t *diag_json(const struct core_diag *g)
{
    json_t *o = json_object();
    json_object_set_new(o, "severity", json_string(core_severity_name(g->severity)));
    json_object_set_new(o, "code", json_string(g->code));
    json_object_set_new(o, "file", g->loc.src ? json_string(g->loc.src->path) : json_null());
    json_object_set_new(o, "line", json_integer(g->loc.line));
    json_object_set_new(o, "column", json_integer(g->loc.line ? (g->loc.col ? g->loc.col : 1) : 0));
    json_object_set_new(o, "message", json_string(g->message));
    return o;
}

static int render_json(const struct core_diags *d, FILE *out)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < d->n; i++) {
        json_t *o = diag_json(&d->items[i]);
        json_t *notes = json_array();
        for (size_t j = 0; j < d->items[i].nnotes; j++)
            json_array_append_new(notes, diag_json(&d->items[i].notes[j]));
        json_object_set_new(o, "notes", notes);
        json_array_append_new(arr, o);
    }
    int rc = json_dumpf(arr, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(arr);
    if (rc == 0 && fputc('\n', out) == EOF)
        rc = -1;
    return rc;
}

/* ---- GitHub workflow commands ---- */

static void gh_escape(struct core_buf *b, const char *s, bool property)
{
    for (; *s; s++) {
        switch (*s) {
        case '%':
            core_buf_adds(b, "%25");
            break;
        case '\r':
            core_buf_adds(b, "%0D");
            break;
        case '\n':
            core_buf_adds(b, "%0A");
            break;
        case ':':
            core_buf_adds(b, property ? "%3A" : ":");
            break;
        case ',':
            core_buf_adds(b, property ? "%2C" : ",");
            break;
        default:
            core_buf_addc(b, *s);
        }
    }
}

static int render_github(const struct core_diags *d, FILE *out)
{
    struct core_buf b;
    core_buf_init(&b, (size_t)1 << 30);
    for (size_t i = 0; i < d->n; i++) {
        const struct core_diag *g = &d->items[i];
        core_buf_addf(&b, "::%s ", g->severity == CORE_SEV_ERROR ? "error" : "warning");
        if (g->loc.src) {
            core_buf_adds(&b, "file=");
            gh_escape(&b, g->loc.src->path, true);
            if (g->loc.line)
                core_buf_addf(&b, ",line=%u,col=%u", g->loc.line, g->loc.col ? g->loc.col : 1);
            core_buf_adds(&b, ",");
        }
        core_buf_adds(&b, "title=");
        gh_escape(&b, g->code, true);
        core_buf_adds(&b, "::");
        gh_escape(&b, g->message, false);
        for (size_t j = 0; j < g->nnotes; j++) {
            const struct core_diag *n = &g->notes[j];
            struct core_buf note;
            core_buf_init(&note, MAX_MESSAGE * 2);
            if (n->loc.src)
                core_buf_addf(&note, "\n%s:%u:%u: note: %s", n->loc.src->path, n->loc.line,
                              n->loc.col, n->message);
            else
                core_buf_addf(&note, "\nnote: %s", n->message);
            gh_escape(&b, core_buf_str(&note), false);
            core_buf_release(&note);
        }
        core_buf_addc(&b, '\n');
    }
    int rc = fwrite(core_buf_str(&b), 1, b.len, out) == b.len ? 0 : -1;
    core_buf_release(&b);
    return rc;
}

int core_diags_render(const struct core_diags *d, enum core_diag_format format, bool color,
                      FILE *out)
{
    switch (format) {
    case CORE_DIAG_JSON:
        return render_json(d, out);
    case CORE_DIAG_GITHUB:
        return render_github(d, out);
    case CORE_DIAG_TEXT:
        break;
    }
    return render_text(d, color, out);
}
