/*
 * The generic half of validation: walks a node tree against a schema table, resolves
 * ${var.NAME} and ${env.NAME}, checks types, ranges and enums, reports unknown and missing
 * keys with suggestions, and writes the decoded values into the spec structs.
 */
#include "parser/schema_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/suggest.h"

#define MAX_VALUE (1u << 20) /* an interpolated value may not grow past 1 MiB */

static void vreport(struct dctx *c, enum core_severity sev, const struct spec_node *n,
                    const char *code, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

static void vreport(struct dctx *c, enum core_severity sev, const struct spec_node *n,
                    const char *code, const char *fmt, va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    core_diag_add(c->diags, sev, code, n ? &n->loc : &c->spec->loc, "%s", msg);
}

void sch_error(struct dctx *c, const struct spec_node *n, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(c, CORE_SEV_ERROR, n, code, fmt, ap);
    va_end(ap);
}

void sch_warning(struct dctx *c, const struct spec_node *n, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(c, CORE_SEV_WARNING, n, code, fmt, ap);
    va_end(ap);
}

const char *sch_where(struct dctx *c, const char *key, const char *ctx)
{
    const char *s = ctx ? core_arena_printf(&c->spec->arena, "'%s' in %s", key, ctx)
                        : core_arena_printf(&c->spec->arena, "'%s'", key);
    return s ? s : key;
}

void sch_ctx(char buf[CTX_MAX], const char *a, const char *b, const char *c, const char *d)
{
    /* memcpy rather than snprintf: this runs for every mapping of every stack */
    const char *parts[4] = {a, b, c, d};
    size_t k = 0;
    for (int i = 0; i < 4 && parts[i]; i++) {
        size_t n = strlen(parts[i]);
        if (n > CTX_MAX - 1 - k)
            n = CTX_MAX - 1 - k;
        memcpy(buf + k, parts[i], n);
        k += n;
    }
    buf[k] = '\0';
}

/* ---- interpolation ---- */

static const struct spec_variable *find_var(struct dctx *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->spec->nvariables; i++) {
        struct spec_variable *v = &c->spec->variables[i];
        if (strlen(v->name) == len && strncmp(v->name, name, len) == 0) {
            v->used = true;
            return v;
        }
    }
    return NULL;
}

static const char *lookup_env(struct dctx *c, const char *name)
{
    if (c->opts && c->opts->getenv)
        return c->opts->getenv(name, c->opts->getenv_ud);
    return getenv(name);
}

static void undefined_var(struct dctx *c, const struct spec_node *n, const char *name)
{
    const char **names = malloc((c->spec->nvariables + 1) * sizeof(*names));
    const char *hint = NULL;
    if (names) {
        for (size_t i = 0; i < c->spec->nvariables; i++)
            names[i] = c->spec->variables[i].name;
        hint = core_suggest(name, names, c->spec->nvariables);
    }
    if (hint)
        sch_error(c, n, "undefined-variable", "undefined variable '%s' (did you mean '%s'?)", name,
                  hint);
    else
        sch_error(c, n, "undefined-variable",
                  "undefined variable '%s'; declare it under 'variables:'", name);
    free(names);
}

/*
 * Resolves every ${...} in the scalar. A value that is exactly one ${var.NAME} takes the
 * variable's type; anything else becomes a string. Returns NULL when absent or wrong.
 */
static const char *interpolate(struct dctx *c, const struct spec_node *n, const struct sch_field *f,
                               const char *ctx, bool *quoted)
{
    const char *s = n->u.str.s;
    const char *field = f ? f->name : "value";
    struct core_buf out;
    core_buf_init(&out, MAX_VALUE);
    int parts = 0, literal = 0, absent = 0, bad = 0, overflow = 0;
    bool var_string = true;
    while (*s) {
        if (s[0] == '$' && s[1] == '$' && s[2] == '{') { /* $${ escapes a literal ${ */
            overflow |= core_buf_adds(&out, "${") < 0;
            s += 3;
            literal = 1;
            continue;
        }
        if (!(s[0] == '$' && s[1] == '{')) {
            overflow |= core_buf_addc(&out, *s++) < 0;
            literal = 1;
            continue;
        }
        const char *end = strchr(s + 2, '}');
        if (!end) {
            sch_error(c, n, "interpolation", "unterminated '${' in %s; write ${var.NAME}",
                      sch_where(c, field, ctx));
            bad = 1;
            break;
        }
        const char *ref = s + 2;
        size_t rlen = (size_t)(end - ref);
        parts++;
        if (rlen > 4 && strncmp(ref, "var.", 4) == 0) {
            const struct spec_variable *v = find_var(c, ref + 4, rlen - 4);
            if (!v) {
                char *name = core_arena_strndup(&c->spec->arena, ref + 4, rlen - 4);
                undefined_var(c, n, name ? name : "?");
                bad = 1;
            } else if (!v->value) {
                bad = 1; /* no value: already reported at the declaration */
            } else {
                overflow |= core_buf_adds(&out, v->value) < 0;
                var_string = v->type == SPEC_VAR_STRING;
            }
        } else if (rlen > 4 && strncmp(ref, "env.", 4) == 0) {
            char *name = core_arena_strndup(&c->spec->arena, ref + 4, rlen - 4);
            if (!(f && (f->flags & (SCH_ENV | SCH_SECRET)))) {
                sch_error(c, n, "env-not-allowed",
                          "${env.%s} is only allowed in endpoint and credential fields; use a "
                          "variable (${var.NAME}) for %s",
                          name ? name : "?", sch_where(c, field, ctx));
                bad = 1;
            } else {
                const char *val = name ? lookup_env(c, name) : NULL;
                if (val && *val) {
                    overflow |= core_buf_adds(&out, val) < 0;
                } else if (f->flags & SCH_REQUIRED) {
                    sch_error(c, n, "env-unset",
                              "%s comes from ${env.%s}, which is not set; set it or write the "
                              "value",
                              sch_where(c, field, ctx), name ? name : "?");
                    bad = 1;
                } else {
                    absent = 1;
                }
            }
        } else {
            char *what = core_arena_strndup(&c->spec->arena, s, rlen + 3);
            sch_error(c, n, "interpolation",
                      "unknown reference '%s' in %s; write ${var.NAME} or ${env.NAME}",
                      what ? what : "${", sch_where(c, field, ctx));
            bad = 1;
        }
        s = end + 1;
    }
    if (overflow) {
        sch_error(c, n, "interpolation", "%s is longer than 1 MiB after interpolation",
                  sch_where(c, field, ctx));
        bad = 1;
    }
    const char *res = NULL;
    if (bad)
        c->reference_failed = true;
    if (!bad && !(absent && !literal && parts == 1))
        res = core_arena_strndup(&c->spec->arena, core_buf_str(&out), out.len);
    core_buf_release(&out);
    *quoted = literal || parts != 1 || var_string || n->quoted;
    return res;
}

const char *sch_scalar(struct dctx *c, const struct spec_node *n, const struct sch_field *f,
                       const char *ctx, bool *quoted)
{
    *quoted = n->quoted;
    const char *field = f ? f->name : "value";
    if (n->kind != SPEC_NODE_SCALAR) {
        char choices[256] = "";
        if (f && f->type && f->type->kind == SCH_ENUM) {
            strcat(choices, " (");
            for (const char *const *e = f->type->enums; *e; e++)
                if (strlen(choices) + strlen(*e) + 8 < sizeof(choices))
                    strcat(strcat(choices, *e), e[1] ? (e[2] ? ", " : " or ") : ")");
        }
        sch_error(c, n, "type", "%s must be %s%s, not %s", sch_where(c, field, ctx),
                  f && f->type ? f->type->what : "a plain value", choices, spec_node_kind_name(n));
        return NULL;
    }
    const char *s = n->u.str.s;
    bool has_ref = strstr(s, "${") != NULL;
    if (f && (f->flags & SCH_SECRET) && !(has_ref && strstr(s, "${env."))) {
        sch_error(c, n, "secret-in-spec",
                  "%s must come from the environment, e.g. ${env.AZURE_CLIENT_SECRET}; never "
                  "write secrets in a spec",
                  sch_where(c, field, ctx));
        return NULL;
    }
    if (!has_ref)
        return s;
    return interpolate(c, n, f, ctx, quoted);
}

/* ---- scalars ---- */

static void type_error(struct dctx *c, const struct spec_node *n, const struct sch_field *f,
                       const char *ctx, const char *text)
{
    double d;
    if (n->quoted && spec_parse_number(text, &d) == 0)
        sch_error(c, n, "type", "%s must be %s, not the string \"%s\"; remove the quotes",
                  sch_where(c, f->name, ctx), f->type->what, text);
    else
        sch_error(c, n, "type", "%s must be %s, not '%s'", sch_where(c, f->name, ctx),
                  f->type->what, text);
}

static void fmt_num(char *buf, size_t size, double v)
{
    /* only a value a long long holds exactly may be converted (else UB): 2^53 */
    if (v > -9007199254740992.0 && v < 9007199254740992.0 && v == (double)(long long)v)
        snprintf(buf, size, "%lld", (long long)v);
    else
        snprintf(buf, size, "%g", v);
}

static int range_check(struct dctx *c, const struct spec_node *n, const struct sch_field *f,
                       const char *ctx, double v)
{
    const struct sch_type *t = f->type;
    char lim[32], got[32];
    fmt_num(got, sizeof(got), v);
    if (v < t->min) {
        fmt_num(lim, sizeof(lim), t->min);
        sch_error(c, n, "range", "%s must be at least %s, not %s", sch_where(c, f->name, ctx), lim,
                  got);
        return -1;
    }
    if (v > t->max) {
        fmt_num(lim, sizeof(lim), t->max);
        sch_error(c, n, "range", "%s must be at most %s, not %s", sch_where(c, f->name, ctx), lim,
                  got);
        return -1;
    }
    return 0;
}

static int decode_enum(struct dctx *c, const struct spec_node *n, const struct sch_field *f,
                       const char *ctx, const char *s, int *dst)
{
    const struct sch_type *t = f->type;
    size_t count = 0;
    for (; t->enums[count]; count++)
        if (strcmp(s, t->enums[count]) == 0) {
            *dst = (int)count;
            return 0;
        }
    struct core_buf list;
    core_buf_init(&list, 512);
    for (size_t i = 0; i < count; i++)
        core_buf_addf(&list, "%s%s", i == 0 ? "" : i + 1 == count ? " or " : ", ", t->enums[i]);
    const char *hint = core_suggest(s, t->enums, count);
    if (hint)
        sch_error(c, n, "invalid-value", "%s must be %s, not '%s' (did you mean '%s'?)",
                  sch_where(c, f->name, ctx), core_buf_str(&list), s, hint);
    else
        sch_error(c, n, "invalid-value", "%s must be %s, not '%s'", sch_where(c, f->name, ctx),
                  core_buf_str(&list), s);
    core_buf_release(&list);
    return -1;
}

static int decode_scalar(struct dctx *c, const struct spec_node *n, const struct sch_field *f,
                         const char *ctx, void *dst)
{
    bool quoted;
    const char *s = sch_scalar(c, n, f, ctx, &quoted);
    if (!s)
        return -1;
    const struct sch_type *t = f->type;
    switch (t->kind) {
    case SCH_STRING:
        *(const char **)dst = s;
        return 0;
    case SCH_INT: {
        long long v;
        if (quoted || spec_parse_int(s, &v) < 0) {
            type_error(c, n, f, ctx, s);
            return -1;
        }
        if (range_check(c, n, f, ctx, (double)v) < 0)
            return -1;
        *(int *)dst = (int)v;
        return 0;
    }
    case SCH_NUMBER: {
        double v;
        if (quoted || spec_parse_number(s, &v) < 0) {
            type_error(c, n, f, ctx, s);
            return -1;
        }
        if (range_check(c, n, f, ctx, v) < 0)
            return -1;
        *(double *)dst = v;
        return 0;
    }
    case SCH_BOOL:
        if (!quoted && (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))) {
            *(bool *)dst = true;
            return 0;
        }
        if (!quoted && (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))) {
            *(bool *)dst = false;
            return 0;
        }
        sch_error(c, n, "type", "%s must be true or false, not '%s'", sch_where(c, f->name, ctx),
                  s);
        return -1;
    case SCH_ENUM:
        return decode_enum(c, n, f, ctx, s, dst);
    default:
        break;
    }
    return -1;
}

/* ---- containers ---- */

static const char *const *field_names(struct dctx *c, const struct sch_type *t)
{
    const char **names = core_arena_alloc(&c->spec->arena, (t->nfields + 1) * sizeof(*names));
    if (names)
        for (size_t i = 0; i < t->nfields; i++)
            names[i] = t->fields[i].name;
    return names;
}

bool sch_was_suggested(struct dctx *c, const char *ctx, const char *field)
{
    size_t lc = ctx ? strlen(ctx) : 0;
    for (size_t i = 0; i < c->nsuggested; i++) {
        const char *s = c->suggested[i];
        if (strncmp(s, ctx ? ctx : "", lc) == 0 && s[lc] == '\x1f' && !strcmp(s + lc + 1, field))
            return true;
    }
    return false;
}

static void remember_suggestion(struct dctx *c, const char *ctx, const char *field)
{
    const char **list = core_arena_alloc(&c->spec->arena, (c->nsuggested + 1) * sizeof(*list));
    const char *s = core_arena_printf(&c->spec->arena, "%s\x1f%s", ctx ? ctx : "", field);
    if (!list || !s)
        return;
    if (c->nsuggested)
        memcpy(list, c->suggested, c->nsuggested * sizeof(*list));
    list[c->nsuggested++] = s;
    c->suggested = list;
}

static void unknown_key(struct dctx *c, const struct spec_pair *p, const struct sch_type *t,
                        const char *ctx)
{
    const char *key = p->key->u.str.s;
    const char *const *names = field_names(c, t);
    const char *hint = names ? core_suggest(key, names, t->nfields) : NULL;
    const char *in = ctx ? core_arena_printf(&c->spec->arena, " in %s", ctx) : " at top level";
    if (!in)
        in = "";
    if (hint)
        remember_suggestion(c, ctx, hint);
    if (hint)
        sch_error(c, p->key, "unknown-key", "unknown key '%s'%s (did you mean '%s'?)", key, in,
                  hint);
    else
        sch_error(c, p->key, "unknown-key", "unknown key '%s'%s", key, in);
}

static bool skipped(const char *name, const char *const *skip)
{
    for (; skip && *skip; skip++)
        if (strcmp(name, *skip) == 0)
            return true;
    return false;
}

int sch_decode_map(struct dctx *c, const struct spec_node *n, const struct sch_type *type,
                   void *dst, const char *ctx, const char *const *skip)
{
    /* "needs 'kind'" points at the key owning this mapping, else at the mapping itself. */
    struct core_loc owner = c->owner ? *c->owner : (n ? n->loc : c->spec->loc);
    if (!c->owner && !ctx)
        owner.line = owner.col = 0; /* top level: the file itself */
    c->owner = NULL;
    if (spec_node_is_null(n))
        n = NULL;
    else if (n->kind != SPEC_NODE_MAP) {
        sch_error(c, n, "type", "%s must be %s, not %s", ctx ? ctx : "the stack", type->what,
                  spec_node_kind_name(n));
        return -1;
    }
    int rc = 0;
    /* Unknown keys first, in document order. */
    for (size_t i = 0; n && i < n->u.map.n; i++) {
        const struct spec_pair *p = &n->u.map.items[i];
        size_t j = 0;
        while (j < type->nfields && strcmp(type->fields[j].name, p->key->u.str.s) != 0)
            j++;
        if (j == type->nfields) {
            unknown_key(c, p, type, ctx);
            rc = -1;
        }
    }
    for (size_t j = 0; j < type->nfields; j++) {
        const struct sch_field *f = &type->fields[j];
        if (skipped(f->name, skip))
            continue;
        const struct spec_pair *pair = NULL;
        for (size_t i = 0; n && i < n->u.map.n && !pair; i++)
            if (strcmp(n->u.map.items[i].key->u.str.s, f->name) == 0)
                pair = &n->u.map.items[i];
        const struct spec_node *v = pair ? pair->value : NULL;
        if (!v || spec_node_is_null(v)) {
            if ((f->flags & SCH_REQUIRED) && !sch_was_suggested(c, ctx, f->name)) {
                const struct core_loc *at = pair ? &pair->key->loc : &owner;
                if (ctx)
                    core_diag_add(c->diags, CORE_SEV_ERROR, "missing-key", at, "%s needs '%s' (%s)",
                                  ctx, f->name, f->doc);
                else
                    core_diag_add(c->diags, CORE_SEV_ERROR, "missing-key", at,
                                  "the stack needs a top-level '%s' (%s)", f->name, f->doc);
                rc = -1;
            }
            continue;
        }
        if (f->flags & SCH_LOC)
            *(struct core_loc *)((char *)dst + f->loc_offset) = pair->key->loc;
        c->owner = &pair->key->loc;
        if (sch_decode(c, v, f->type, (char *)dst + f->offset, f, ctx) < 0)
            rc = -1;
        c->owner = NULL;
        if (core_diags_full(c->diags))
            return -1;
    }
    return rc;
}

static void set_count(void *dst, const struct sch_field *f, size_t n)
{
    /* dst points at the array pointer; the count lives at its own offset in the parent. */
    *(size_t *)((char *)dst - f->offset + f->count_offset) = n;
}

static int decode_list(struct dctx *c, const struct spec_node *n, const struct sch_type *t,
                       void *dst, const struct sch_field *f, const char *ctx)
{
    if (n->kind != SPEC_NODE_SEQ) {
        sch_error(c, n, "type", "%s must be %s, not %s", sch_where(c, f->name, ctx), t->what,
                  spec_node_kind_name(n));
        return -1;
    }
    char *items = core_arena_alloc(&c->spec->arena, n->u.seq.n * t->elem_size);
    if (!items)
        return -1;
    struct sch_field ef = {.name = f->name, .type = t->elem, .flags = f->flags & ~SCH_REQUIRED};
    int rc = 0;
    size_t k = 0;
    for (size_t i = 0; i < n->u.seq.n; i++) {
        char *e = items + k * t->elem_size;
        const struct spec_node *v = n->u.seq.items[i];
        if (t->elem_loc_offset != NOLOC)
            *(struct core_loc *)(e + t->elem_loc_offset) = v->loc;
        if (sch_decode(c, v, t->elem, e + t->value_offset, &ef, ctx) < 0)
            rc = -1;
        else
            k++;
    }
    *(void **)dst = items;
    set_count(dst, f, k);
    return rc;
}

static int decode_dict(struct dctx *c, const struct spec_node *n, const struct sch_type *t,
                       void *dst, const struct sch_field *f, const char *ctx)
{
    if (n->kind != SPEC_NODE_MAP) {
        sch_error(c, n, "type", "%s must be %s, not %s", sch_where(c, f->name, ctx), t->what,
                  spec_node_kind_name(n));
        return -1;
    }
    if (n->u.map.n == 0 && t->item) {
        sch_error(c, n, "invalid-value", "%s lists no %s", sch_where(c, f->name, ctx), t->item);
        return -1;
    }
    char *items = core_arena_alloc(&c->spec->arena, n->u.map.n * t->elem_size);
    if (!items)
        return -1;
    int rc = 0;
    size_t k = 0;
    for (size_t i = 0; i < n->u.map.n && !core_diags_full(c->diags); i++) {
        const struct spec_pair *p = &n->u.map.items[i];
        const char *key = p->key->u.str.s;
        if (p->duplicate)
            continue; /* reported by the loader; the first one counts */
        if (t->check_key && t->check_key(c, p->key, ctx) < 0) {
            rc = -1;
            continue;
        }
        char *e = items + k * t->elem_size;
        if (t->init)
            t->init(e);
        *(const char **)(e + t->name_offset) = key;
        if (t->elem_loc_offset != NOLOC)
            *(struct core_loc *)(e + t->elem_loc_offset) = p->key->loc;
        /* Titled elements read "workload 'x'"; others name the mapping they sit in, so
         * a value reads "'B' in 'env' of 'run' of workload 'x'". */
        char ectx[CTX_MAX];
        if (t->title)
            sch_ctx(ectx, t->title, " '", key, "'");
        else if (ctx)
            sch_ctx(ectx, "'", f->name, "' of ", ctx);
        else
            sch_ctx(ectx, "'", f->name, "'", NULL);
        struct sch_field ef = {.name = key, .type = t->elem, .flags = f->flags & ~SCH_REQUIRED};
        void *ev = e + t->value_offset;
        c->owner = &p->key->loc;
        int erc = t->elem->kind == SCH_MAP ? sch_decode_map(c, p->value, t->elem, ev, ectx, NULL)
                                           : sch_decode(c, p->value, t->elem, ev, &ef, ectx);
        if (erc < 0)
            rc = -1;
        k++;
    }
    *(void **)dst = items;
    set_count(dst, f, k);
    return rc;
}

int sch_decode(struct dctx *c, const struct spec_node *n, const struct sch_type *type, void *dst,
               const struct sch_field *f, const char *ctx)
{
    switch (type->kind) {
    case SCH_MAP: {
        /* A mapping under a named field reads "'placement' of workload 'x'". */
        char sub[CTX_MAX];
        if (f && ctx)
            sch_ctx(sub, "'", f->name, "' of ", ctx);
        else if (f)
            sch_ctx(sub, "'", f->name, "'", NULL);
        return sch_decode_map(c, n, type, dst, f ? sub : ctx, NULL);
    }
    case SCH_LIST:
        return decode_list(c, n, type, dst, f, ctx);
    case SCH_DICT:
        return decode_dict(c, n, type, dst, f, ctx);
    case SCH_CUSTOM:
        return type->decode(c, n, dst, f, ctx);
    default: {
        struct sch_field sf = f ? *f : (struct sch_field){.name = "value"};
        sf.type = type;
        return decode_scalar(c, n, &sf, ctx, dst);
    }
    }
}
