/*
 * From bytes to a node tree: reads a spec file with hostile input in mind (size cap, binary,
 * encodings, control characters), then drives libyaml's event parser without recursion, so
 * that deep nesting, alias bombs and duplicate keys get a clear error instead of a crash or a
 * silent overwrite (libyaml itself checks none of them).
 */
#include "parser/node.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#define MAX_ANCHORS  4096
#define EXPANDED_MAX ((1u << 29) - 1) /* the width of spec_node.expanded */
#define SMALL_MAP    16

const struct spec_yaml_limits spec_yaml_default_limits = {
    .max_depth = 64,
    .max_alias_nodes = 1000000,
};

/* ---- reading and checking the bytes ---- */

/* Line and column (1-based, in characters) of byte offset `off`. */
static void offset_to_loc(const char *text, size_t off, struct core_loc *loc)
{
    uint32_t line = 1, col = 1;
    for (size_t i = 0; i < off; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\n') {
            line++;
            col = 1;
        } else if ((c & 0xC0) != 0x80) {
            col++;
        }
    }
    core_loc_set(loc, line, col, 1);
}

/* Length of the valid UTF-8 sequence at p, or 0 when it is invalid. */
static size_t utf8_valid(const unsigned char *p, size_t left)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* Checks that the text is UTF-8 YAML can read; reports the first problem. */
static int check_text(struct core_diags *d, struct core_source *src)
{
    const unsigned char *t = (const unsigned char *)src->text;
    size_t len = src->len;
    struct core_loc loc = {.src = src};

    if ((len >= 2 && ((t[0] == 0xFF && t[1] == 0xFE) || (t[0] == 0xFE && t[1] == 0xFF))) ||
        (len >= 4 && t[0] == 0 && t[1] == 0 && t[2] == 0xFE && t[3] == 0xFF)) {
        core_diag_add(d, CORE_SEV_ERROR, "file-encoding", &loc,
                      "file is UTF-16 or UTF-32 encoded; save it as UTF-8");
        return -1;
    }
    if (memchr(t, 0, len)) {
        core_diag_add(d, CORE_SEV_ERROR, "file-binary", &loc,
                      "file looks binary (it contains NUL bytes); a spec is YAML text");
        return -1;
    }
    for (size_t i = 0; i < len;) {
        size_t n = utf8_valid(t + i, len - i);
        if (n == 0) {
            offset_to_loc(src->text, i, &loc);
            core_diag_add(d, CORE_SEV_ERROR, "file-encoding", &loc,
                          "invalid UTF-8 byte 0x%02X; save the file as UTF-8", t[i]);
            return -1;
        }
        unsigned char c = t[i];
        if (n == 1 && c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            offset_to_loc(src->text, i, &loc);
            core_diag_add(d, CORE_SEV_ERROR, "file-encoding", &loc,
                          "control character 0x%02X is not allowed in YAML text", c);
            return -1;
        }
        if (c == '\r' && (i + 1 == len || t[i + 1] != '\n')) {
            offset_to_loc(src->text, i, &loc);
            core_diag_add(d, CORE_SEV_ERROR, "file-encoding", &loc,
                          "lone carriage return (an old Mac line ending); save the file with LF "
                          "or CRLF line endings");
            return -1;
        }
        if (n == 1 && c == 0x7F) {
            offset_to_loc(src->text, i, &loc);
            core_diag_add(d, CORE_SEV_ERROR, "file-encoding", &loc,
                          "control character 0x7F is not allowed in YAML text");
            return -1;
        }
        i += n;
    }
    return 0;
}

static int register_text(struct core_diags *d, const char *name, char *text, size_t len,
                         struct core_source **out)
{
    /* libyaml skips a UTF-8 BOM without counting it; drop it so columns agree. */
    if (len >= 3 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB &&
        (unsigned char)text[2] == 0xBF) {
        memmove(text, text + 3, len - 3 + 1);
        len -= 3;
    }
    struct core_source *src = core_diags_add_source(d, name, text, len);
    if (!src) {
        core_diag_add(d, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory reading '%s'", name);
        return -1;
    }
    *out = src;
    return check_text(d, src);
}

int spec_read_source(struct core_diags *d, const char *path, size_t max_size,
                     struct core_source **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        struct core_source *src = core_diags_add_source(d, path, NULL, 0);
        struct core_loc loc = {.src = src};
        core_diag_add(d, CORE_SEV_ERROR, "file-read", src ? &loc : NULL, "cannot open '%s': %s",
                      path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        core_diag_add(d, CORE_SEV_ERROR, "file-read", NULL, "'%s' is a directory", path);
        return -1;
    }
    /* Start from st_size so a regular file is read into a buffer of its size; keep reading
     * in steps anyway: pipes and /proc files report 0 and files can grow. */
    size_t cap = 64 * 1024, len = 0;
    if (fstat(fileno(f), &st) == 0 && st.st_size > 0 && (size_t)st.st_size < max_size)
        cap = (size_t)st.st_size + 1;
    char *text = malloc(cap + 1);
    int too_big = 0, err = 0;
    while (text) {
        if (len == cap) {
            if (cap > max_size) {
                too_big = 1;
                break;
            }
            char *p = realloc(text, cap * 2 + 1);
            if (!p) {
                free(text);
                text = NULL;
                break;
            }
            text = p;
            cap *= 2;
        }
        size_t n = fread(text + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            err = ferror(f);
            break;
        }
    }
    fclose(f);
    if (!too_big && len > max_size)
        too_big = 1;
    if (!text || too_big || err) {
        free(text);
        struct core_source *src = core_diags_add_source(d, path, NULL, 0);
        struct core_loc loc = {.src = src};
        if (too_big)
            core_diag_add(d, CORE_SEV_ERROR, "file-too-large", src ? &loc : NULL,
                          "file is larger than the %zu MiB limit for one spec file; split the "
                          "stack into several files",
                          max_size >> 20);
        else
            core_diag_add(d, CORE_SEV_ERROR, "file-read", src ? &loc : NULL, "cannot read '%s': %s",
                          path, err ? "read error" : "out of memory");
        return -1;
    }
    text[len] = '\0';
    return register_text(d, path, text, len, out);
}

int spec_source_from_buffer(struct core_diags *d, const char *name, const char *data, size_t len,
                            struct core_source **out)
{
    *out = NULL;
    char *text = malloc(len + 1);
    if (!text) {
        core_diag_add(d, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory");
        return -1;
    }
    if (len)
        memcpy(text, data, len);
    text[len] = '\0';
    return register_text(d, name, text, len, out);
}

/* ---- node helpers ---- */

bool spec_node_is_null(const struct spec_node *n)
{
    if (!n)
        return true;
    if (n->kind != SPEC_NODE_SCALAR || n->quoted)
        return false;
    const char *s = n->u.str.s;
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

struct spec_node *spec_node_get(const struct spec_node *map, const char *key)
{
    if (!map || map->kind != SPEC_NODE_MAP)
        return NULL;
    for (size_t i = 0; i < map->u.map.n; i++)
        if (strcmp(map->u.map.items[i].key->u.str.s, key) == 0)
            return map->u.map.items[i].value;
    return NULL;
}

const char *spec_node_kind_name(const struct spec_node *n)
{
    if (!n || spec_node_is_null(n))
        return "nothing";
    switch (n->kind) {
    case SPEC_NODE_MAP:
        return "a mapping";
    case SPEC_NODE_SEQ:
        return "a list";
    case SPEC_NODE_SCALAR:
        break;
    }
    return "a scalar";
}

/* ---- the event loop ---- */

struct frame {
    struct spec_node *node;
    void *items; /* malloc'd: struct spec_pair[] or struct spec_node *[] */
    size_t n, cap;
    struct spec_node *key; /* mapping: key waiting for its value */
    char *anchor;          /* malloc'd anchor name to register when the node ends */
};

struct anchor {
    char *name;
    struct spec_node *node;
};

struct loader {
    struct core_arena *arena;
    struct core_diags *diags;
    const struct core_source *src;
    const struct spec_yaml_limits *limits;
    struct frame *stack;
    size_t depth;
    struct anchor *anchors;
    size_t nanchors;
    size_t alias_nodes;
    struct spec_node *root;
    int failed;
    bool masked; /* ${...} braces were hidden from libyaml */
};

static void loc_from_mark(const struct loader *L, const yaml_mark_t *m, struct core_loc *loc)
{
    loc->src = L->src;
    core_loc_set(loc, m->line + 1, m->column + 1, 1);
}

static int fail(struct loader *L, const char *code, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct loader *L, const char *code, const yaml_mark_t *m, const char *fmt, ...)
{
    struct core_loc loc;
    loc_from_mark(L, m, &loc);
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    core_diag_add(L->diags, CORE_SEV_ERROR, code, &loc, "%s", msg);
    L->failed = 1;
    return -1;
}

static int oom(struct loader *L)
{
    core_diag_add(L->diags, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory loading '%s'",
                  L->src->path);
    L->failed = 1;
    return -1;
}

static int vec_push(void **items, size_t *n, size_t *cap, const void *elem, size_t size)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        void *p = realloc(*items, c * size);
        if (!p)
            return -1;
        *items = p;
        *cap = c;
    }
    memcpy((char *)*items + *n * size, elem, size);
    (*n)++;
    return 0;
}

static bool key_is_merge(const struct spec_node *key)
{
    return !key->quoted && strcmp(key->u.str.s, "<<") == 0;
}

static int cmp_pair_key(const void *a, const void *b)
{
    const struct spec_pair *const *pa = a, *const *pb = b;
    int c = strcmp((*pa)->key->u.str.s, (*pb)->key->u.str.s);
    if (c)
        return c;
    /* Same key: order by position so the first written comes first. */
    const struct core_loc *la = &(*pa)->key->loc, *lb = &(*pb)->key->loc;
    if (la->line != lb->line)
        return la->line < lb->line ? -1 : 1;
    return la->col < lb->col ? -1 : la->col > lb->col;
}

static void report_duplicate(struct loader *L, const struct spec_pair *first,
                             struct spec_pair *again)
{
    again->duplicate = true;
    struct core_diag *g = core_diag_add(L->diags, CORE_SEV_ERROR, "duplicate-key", &again->key->loc,
                                        "duplicate key '%s' in this mapping", again->key->u.str.s);
    core_diag_note(g, &first->key->loc, "'%s' was first defined here", first->key->u.str.s);
}

/* Reports keys written twice in one mapping. O(n log n) for big mappings. */
static int check_duplicates(struct loader *L, struct spec_pair *pairs, size_t n)
{
    if (n <= SMALL_MAP) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (!key_is_merge(pairs[i].key) &&
                    strcmp(pairs[i].key->u.str.s, pairs[j].key->u.str.s) == 0) {
                    report_duplicate(L, &pairs[j], &pairs[i]);
                    break;
                }
        return 0;
    }
    struct spec_pair **idx = malloc(n * sizeof(*idx));
    if (!idx)
        return oom(L);
    for (size_t i = 0; i < n; i++)
        idx[i] = &pairs[i];
    qsort(idx, n, sizeof(*idx), cmp_pair_key);
    for (size_t i = 1; i < n; i++)
        if (!key_is_merge(idx[i]->key) &&
            strcmp(idx[i]->key->u.str.s, idx[i - 1]->key->u.str.s) == 0) {
            size_t first = i - 1;
            while (first > 0 && strcmp(idx[first - 1]->key->u.str.s, idx[i]->key->u.str.s) == 0)
                first--;
            report_duplicate(L, idx[first], idx[i]);
        }
    free(idx);
    return 0;
}

static bool has_key(const struct spec_pair *pairs, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(pairs[i].key->u.str.s, key) == 0)
            return true;
    return false;
}

/* Appends the pairs of mapping `src` not already in `out` (YAML merge key semantics). */
static int merge_from(struct loader *L, struct frame *f, const struct spec_pair *merge,
                      const struct spec_node *src)
{
    if (src->kind != SPEC_NODE_MAP) {
        core_diag_add(L->diags, CORE_SEV_ERROR, "yaml-merge", &merge->key->loc,
                      "a '<<' merge key takes a mapping or a list of mappings, not %s",
                      spec_node_kind_name(src));
        return 0;
    }
    for (size_t i = 0; i < src->u.map.n; i++) {
        struct spec_pair p = src->u.map.items[i];
        if (has_key(f->items, f->n, p.key->u.str.s))
            continue;
        p.merged = true;
        if (vec_push(&f->items, &f->n, &f->cap, &p, sizeof(p)) < 0)
            return oom(L);
    }
    return 0;
}

/* Finishes a mapping: duplicates, then `<<` merges (explicit keys win, earlier merges win). */
static int finish_map(struct loader *L, struct frame *f)
{
    struct spec_pair *pairs = f->items;
    size_t n = f->n;
    check_duplicates(L, pairs, n);

    size_t nmerge = 0;
    for (size_t i = 0; i < n; i++)
        nmerge += key_is_merge(pairs[i].key);
    if (nmerge) {
        struct frame out = {0};
        for (size_t i = 0; i < n; i++)
            if (!key_is_merge(pairs[i].key) &&
                vec_push(&out.items, &out.n, &out.cap, &pairs[i], sizeof(pairs[i])) < 0) {
                free(out.items);
                return oom(L);
            }
        for (size_t i = 0; i < n && !L->failed; i++) {
            if (!key_is_merge(pairs[i].key))
                continue;
            const struct spec_node *v = pairs[i].value;
            if (v->kind == SPEC_NODE_SEQ)
                for (size_t j = 0; j < v->u.seq.n && !L->failed; j++)
                    merge_from(L, &out, &pairs[i], v->u.seq.items[j]);
            else
                merge_from(L, &out, &pairs[i], v);
        }
        free(f->items);
        f->items = out.items;
        f->n = out.n;
        f->cap = out.cap;
        if (L->failed)
            return -1;
    }
    struct spec_pair *copy = core_arena_alloc(L->arena, f->n * sizeof(*copy));
    if (!copy)
        return oom(L);
    if (f->n)
        memcpy(copy, f->items, f->n * sizeof(*copy));
    f->node->u.map.items = copy;
    f->node->u.map.n = f->n;
    size_t total = 1;
    for (size_t i = 0; i < f->n; i++)
        total += (size_t)copy[i].key->expanded + copy[i].value->expanded;
    f->node->expanded = total > EXPANDED_MAX ? EXPANDED_MAX : (uint32_t)total;
    return 0;
}

static int finish_seq(struct loader *L, struct frame *f)
{
    struct spec_node **copy = core_arena_alloc(L->arena, f->n * sizeof(*copy));
    if (!copy)
        return oom(L);
    if (f->n)
        memcpy(copy, f->items, f->n * sizeof(*copy));
    f->node->u.seq.items = copy;
    f->node->u.seq.n = f->n;
    size_t total = 1;
    for (size_t i = 0; i < f->n; i++)
        total += copy[i]->expanded;
    f->node->expanded = total > EXPANDED_MAX ? EXPANDED_MAX : (uint32_t)total;
    return 0;
}

/* Hangs a finished node on its parent (or makes it the root). */
static int attach(struct loader *L, struct spec_node *node, const yaml_mark_t *mark)
{
    if (L->depth == 0) {
        L->root = node;
        return 0;
    }
    struct frame *f = &L->stack[L->depth - 1];
    if (f->node->kind == SPEC_NODE_SEQ)
        return vec_push(&f->items, &f->n, &f->cap, &node, sizeof(node)) < 0 ? oom(L) : 0;
    if (!f->key) {
        if (node->kind != SPEC_NODE_SCALAR)
            return fail(L, "yaml-complex-key", mark, "a mapping key must be a plain value, not %s",
                        spec_node_kind_name(node));
        f->key = node;
        return 0;
    }
    struct spec_pair p = {.key = f->key, .value = node};
    f->key = NULL;
    return vec_push(&f->items, &f->n, &f->cap, &p, sizeof(p)) < 0 ? oom(L) : 0;
}

static int add_anchor(struct loader *L, char *name, struct spec_node *node)
{
    if (L->nanchors == MAX_ANCHORS) {
        free(name);
        core_diag_add(L->diags, CORE_SEV_ERROR, "yaml-anchors", &node->loc,
                      "more than %d YAML anchors in one file", MAX_ANCHORS);
        L->failed = 1;
        return -1;
    }
    L->anchors[L->nanchors].name = name;
    L->anchors[L->nanchors].node = node;
    L->nanchors++;
    return 0;
}

static const char *const std_tags[] = {
    "tag:yaml.org,2002:str",   "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",  "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",   "!",
};

static int check_tag(struct loader *L, const yaml_char_t *tag, const yaml_mark_t *m)
{
    if (!tag)
        return 0;
    for (size_t i = 0; i < sizeof(std_tags) / sizeof(std_tags[0]); i++)
        if (strcmp((const char *)tag, std_tags[i]) == 0)
            return 0;
    return fail(L, "yaml-tag", m, "YAML tag '%s' is not supported in specs; remove it",
                (const char *)tag);
}

/*
 * ${var.NAME} in a flow mapping ({ hourly: ${var.cap} }) is not valid YAML: braces are flow
 * indicators. Specs use it anyway, so before parsing, the braces of each well-formed
 * reference become U+E000/U+E001 (one character each, so lines and columns do not move),
 * and scalars get them back. Those private-use characters are refused in input.
 */
#define OPEN_MASK  "\xEE\x80\x80" /* U+E000 */
#define CLOSE_MASK "\xEE\x80\x81" /* U+E001 */

static bool ref_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '.' || ch == '-';
}

static char *mask_references(struct loader *L, size_t *len)
{
    const char *t = L->src->text;
    size_t n = L->src->len;
    const char *found = memmem(t, n, OPEN_MASK, 2);
    for (; found; found = memmem(found + 1, n - (size_t)(found + 1 - t), OPEN_MASK, 2))
        if ((size_t)(found - t) + 3 <= n &&
            (found[2] == OPEN_MASK[2] || found[2] == CLOSE_MASK[2])) {
            struct core_loc loc = {.src = L->src};
            core_diag_add(L->diags, CORE_SEV_ERROR, "file-encoding", &loc,
                          "private-use characters U+E000 and U+E001 are reserved in specs");
            L->failed = 1;
            return NULL;
        }
    size_t refs = 0;
    for (const char *r = memmem(t, n, "${", 2); r;
         r = memmem(r + 2, n - (size_t)(r + 2 - t), "${", 2))
        refs++;
    if (!refs)
        return NULL;
    char *out = malloc(n + 4 * refs + 1); /* each masked reference grows by 4 bytes */
    if (!out) {
        oom(L);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (t[i] == '$' && i + 1 < n && t[i + 1] == '{') {
            size_t j = i + 2;
            while (j < n && ref_char(t[j]))
                j++;
            if (j < n && t[j] == '}' && j > i + 2) {
                out[k++] = '$';
                memcpy(out + k, OPEN_MASK, 3);
                k += 3;
                memcpy(out + k, t + i + 2, j - i - 2);
                k += j - i - 2;
                memcpy(out + k, CLOSE_MASK, 3);
                k += 3;
                i = j + 1;
                continue;
            }
        }
        out[k++] = t[i++];
    }
    out[k] = '\0';
    *len = k;
    return out;
}

/* Puts back the braces mask_references() hid, in place. */
static size_t unmask(char *s, size_t len)
{
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        if (i + 3 <= len && (unsigned char)s[i] == 0xEE && (unsigned char)s[i + 1] == 0x80 &&
            ((unsigned char)s[i + 2] == 0x80 || (unsigned char)s[i + 2] == 0x81)) {
            s[k++] = (unsigned char)s[i + 2] == 0x80 ? '{' : '}';
            i += 3;
            continue;
        }
        s[k++] = s[i++];
    }
    s[k] = '\0';
    return k;
}

static struct spec_node *new_node(struct loader *L, enum spec_node_kind kind, const yaml_mark_t *m)
{
    struct spec_node *n = core_arena_alloc(L->arena, sizeof(*n));
    if (!n) {
        oom(L);
        return NULL;
    }
    n->kind = (unsigned char)kind;
    n->expanded = 1;
    loc_from_mark(L, m, &n->loc);
    return n;
}

static int on_scalar(struct loader *L, const yaml_event_t *ev)
{
    if (check_tag(L, ev->data.scalar.tag, &ev->start_mark) < 0)
        return -1;
    struct spec_node *n = new_node(L, SPEC_NODE_SCALAR, &ev->start_mark);
    if (!n)
        return -1;
    char *value =
        core_arena_strndup(L->arena, (const char *)ev->data.scalar.value, ev->data.scalar.length);
    if (!value)
        return oom(L);
    n->u.str.len = L->masked ? unmask(value, ev->data.scalar.length) : ev->data.scalar.length;
    n->u.str.s = value;
    n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
                (ev->data.scalar.tag &&
                 strcmp((const char *)ev->data.scalar.tag, "tag:yaml.org,2002:str") == 0);
    if (ev->end_mark.line == ev->start_mark.line && ev->end_mark.column > ev->start_mark.column)
        core_loc_set(&n->loc, n->loc.line, n->loc.col, ev->end_mark.column - ev->start_mark.column);
    if (ev->data.scalar.anchor) {
        char *name = strdup((const char *)ev->data.scalar.anchor);
        if (!name || add_anchor(L, name, n) < 0)
            return name ? -1 : oom(L);
    }
    return attach(L, n, &ev->start_mark);
}

static int on_start(struct loader *L, const yaml_event_t *ev, enum spec_node_kind kind)
{
    const yaml_char_t *tag =
        kind == SPEC_NODE_MAP ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
    const yaml_char_t *anchor =
        kind == SPEC_NODE_MAP ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
    if (check_tag(L, tag, &ev->start_mark) < 0)
        return -1;
    if (L->depth >= L->limits->max_depth) {
        return fail(L, "yaml-depth", &ev->start_mark,
                    "nesting is deeper than %zu levels; a spec never needs this much",
                    L->limits->max_depth);
    }
    struct spec_node *n = new_node(L, kind, &ev->start_mark);
    if (!n)
        return -1;
    struct frame *f = &L->stack[L->depth++];
    memset(f, 0, sizeof(*f));
    f->node = n;
    if (anchor && !(f->anchor = strdup((const char *)anchor)))
        return oom(L);
    return 0;
}

static int on_end(struct loader *L, const yaml_event_t *ev)
{
    struct frame *f = &L->stack[L->depth - 1];
    int rc = f->node->kind == SPEC_NODE_MAP ? finish_map(L, f) : finish_seq(L, f);
    free(f->items);
    f->items = NULL;
    char *anchor = f->anchor;
    f->anchor = NULL;
    struct spec_node *node = f->node;
    L->depth--;
    if (rc < 0) {
        free(anchor);
        return -1;
    }
    if (anchor && add_anchor(L, anchor, node) < 0)
        return -1;
    return attach(L, node, &ev->start_mark);
}

static int on_alias(struct loader *L, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    struct spec_node *target = NULL;
    for (size_t i = L->nanchors; i-- > 0;)
        if (strcmp(L->anchors[i].name, name) == 0) {
            target = L->anchors[i].node;
            break;
        }
    if (!target)
        return fail(L, "yaml-alias", &ev->start_mark,
                    "alias '*%s' refers to no anchor defined before it", name);
    L->alias_nodes += target->expanded;
    if (L->alias_nodes > L->limits->max_alias_nodes) {
        return fail(L, "yaml-alias-bomb", &ev->start_mark,
                    "aliases expand the document past %zu nodes (a 'billion laughs' pattern); "
                    "use fewer nested aliases",
                    L->limits->max_alias_nodes);
    }
    return attach(L, target, &ev->start_mark);
}

/* The character at a 0-based line and column, or 0. */
static int char_at(const struct core_source *src, size_t line, size_t col)
{
    const char *p = src->text, *end = src->text + src->len;
    for (size_t l = 0; l < line; l++) {
        p = memchr(p, '\n', (size_t)(end - p));
        if (!p)
            return 0;
        p++;
    }
    for (size_t c = 0; c < col && p < end && *p != '\n'; p++)
        if (((unsigned char)*p & 0xC0) != 0x80)
            c++;
    while (p < end && ((unsigned char)*p & 0xC0) == 0x80)
        p++;
    return p < end ? (unsigned char)*p : 0;
}

static void report_parser_error(struct loader *L, const yaml_parser_t *p)
{
    struct core_loc loc;
    loc_from_mark(L, &p->problem_mark, &loc);
    const char *problem = p->problem ? p->problem : "unknown error";
    if (char_at(L->src, p->problem_mark.line, p->problem_mark.column) == '\t' ||
        (strstr(problem, "cannot start any token") &&
         char_at(L->src, p->problem_mark.line, 0) == '\t')) {
        core_diag_add(L->diags, CORE_SEV_ERROR, "yaml-tab", &loc,
                      "tab character in indentation; YAML indents with spaces only");
        return;
    }
    if (p->context && strstr(problem, "end of stream")) {
        /* An unclosed quote or bracket: the place where it opened is what helps. */
        struct core_loc cl;
        loc_from_mark(L, &p->context_mark, &cl);
        core_diag_add(L->diags, CORE_SEV_ERROR, "yaml-syntax", &cl,
                      "invalid YAML: the file ends %s that starts here; close it", p->context);
        return;
    }
    struct core_diag *g =
        core_diag_add(L->diags, CORE_SEV_ERROR, "yaml-syntax", &loc, "invalid YAML: %s", problem);
    if (p->context) {
        struct core_loc cl;
        loc_from_mark(L, &p->context_mark, &cl);
        core_diag_note(g, &cl, "%s", p->context);
    }
}

int spec_yaml_parse(struct core_arena *arena, struct core_diags *diags,
                    const struct core_source *src, const struct spec_yaml_limits *limits,
                    struct spec_node **root)
{
    *root = NULL;
    struct loader L = {
        .arena = arena,
        .diags = diags,
        .src = src,
        .limits = limits ? limits : &spec_yaml_default_limits,
    };
    L.stack = calloc(L.limits->max_depth + 1, sizeof(*L.stack));
    L.anchors = calloc(MAX_ANCHORS, sizeof(*L.anchors));
    if (!L.stack || !L.anchors) {
        free(L.stack);
        free(L.anchors);
        return oom(&L);
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        free(L.stack);
        free(L.anchors);
        return oom(&L);
    }
    size_t mlen = 0;
    char *masked = mask_references(&L, &mlen);
    L.masked = masked != NULL;
    if (masked)
        yaml_parser_set_input_string(&parser, (const unsigned char *)masked, mlen);
    else
        yaml_parser_set_input_string(&parser, (const unsigned char *)src->text, src->len);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);

    int docs = 0, done = 0;
    while (!done && !L.failed) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            report_parser_error(&L, &parser);
            L.failed = 1;
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1)
                fail(&L, "yaml-multi-document", &ev.start_mark,
                     "file holds more than one YAML document; put each in a file of its own");
            break;
        case YAML_SCALAR_EVENT:
            on_scalar(&L, &ev);
            break;
        case YAML_SEQUENCE_START_EVENT:
            on_start(&L, &ev, SPEC_NODE_SEQ);
            break;
        case YAML_MAPPING_START_EVENT:
            on_start(&L, &ev, SPEC_NODE_MAP);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            on_end(&L, &ev);
            break;
        case YAML_ALIAS_EVENT:
            on_alias(&L, &ev);
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    free(masked);
    for (size_t i = 0; i < L.depth; i++) {
        free(L.stack[i].items);
        free(L.stack[i].anchor);
    }
    for (size_t i = 0; i < L.nanchors; i++)
        free(L.anchors[i].name);
    free(L.stack);
    free(L.anchors);
    if (L.failed)
        return -1;
    *root = L.root;
    return 0;
}
