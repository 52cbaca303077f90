/*
 * Stack variables: declared under 'variables:', set by --var NAME=VALUE, then
 * GPUFORM_VAR_NAME, then the default. Resolved before anything else so that every
 * ${var.NAME} below sees its final, type-checked value.
 */
#include "parser/schema_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/suggest.h"

static const char *const var_keys[] = {"type", "default", "description"};
static const char *const var_types[] = {"string", "number", "bool", NULL};

static bool valid_var_name(const char *s)
{
    if (!(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return false;
    return true;
}

static bool is_bool(const char *s)
{
    return !strcmp(s, "true") || !strcmp(s, "false") || !strcmp(s, "True") || !strcmp(s, "False") ||
           !strcmp(s, "TRUE") || !strcmp(s, "FALSE");
}

/* Whether `value` fits the type; the message says why not. */
static const char *type_problem(enum spec_var_type t, const char *value)
{
    double d;
    if (t == SPEC_VAR_NUMBER && spec_parse_number(value, &d) < 0)
        return "is not a number";
    if (t == SPEC_VAR_BOOL && !is_bool(value))
        return "is not true or false";
    return NULL;
}

static const char *env_lookup(struct dctx *c, const char *name)
{
    if (c->opts && c->opts->getenv)
        return c->opts->getenv(name, c->opts->getenv_ud);
    return getenv(name);
}

/* The last --var for `name`, or NULL. */
static const char *cli_value(struct dctx *c, const char *name)
{
    const char *found = NULL;
    size_t len = strlen(name);
    for (size_t i = 0; c->opts && i < c->opts->nvars; i++) {
        const char *kv = c->opts->vars[i];
        if (strncmp(kv, name, len) == 0 && kv[len] == '=')
            found = kv + len + 1;
    }
    return found;
}

static int decode_one(struct dctx *c, const struct spec_pair *p, struct spec_variable *v)
{
    const struct spec_node *n = p->value;
    const struct spec_node *def = spec_node_is_null(n) ? NULL : n; /* `v:` = no default */
    v->name = p->key->u.str.s;
    v->loc = p->key->loc;
    const char *ctx = core_arena_printf(&c->spec->arena, "variable '%s'", v->name);
    if (!valid_var_name(v->name)) {
        sch_error(c, p->key, "invalid-name",
                  "variable name '%s' must be letters, digits and '_', not starting with a digit",
                  v->name);
        return -1;
    }
    bool typed = false;
    if (n->kind == SPEC_NODE_MAP) {
        int rc = 0;
        for (size_t i = 0; i < n->u.map.n; i++) {
            const char *k = n->u.map.items[i].key->u.str.s;
            if (strcmp(k, "type") && strcmp(k, "default") && strcmp(k, "description")) {
                const char *hint = core_suggest(k, var_keys, 3);
                sch_error(c, n->u.map.items[i].key, "unknown-key", "unknown key '%s' in %s%s%s%s",
                          k, ctx, hint ? " (did you mean '" : "", hint ? hint : "",
                          hint ? "'?)" : "");
                rc = -1;
            }
        }
        const struct spec_node *t = spec_node_get(n, "type");
        if (t && !spec_node_is_null(t)) {
            static const struct sch_type tt = {
                .kind = SCH_ENUM, .what = "a variable type", .enums = var_types};
            static const struct sch_field tf = {.name = "type", .type = &tt};
            int idx = 0;
            if (sch_decode(c, t, &tt, &idx, &tf, ctx) < 0)
                rc = -1;
            v->type = (enum spec_var_type)idx;
            typed = true;
        }
        const struct spec_node *d = spec_node_get(n, "description");
        if (d && d->kind == SPEC_NODE_SCALAR)
            v->description = d->u.str.s;
        def = spec_node_get(n, "default");
        if (def && spec_node_is_null(def))
            def = NULL;
        if (rc < 0)
            return -1;
    }
    if (def && def->kind != SPEC_NODE_SCALAR) {
        sch_error(c, def, "type", "the default of %s must be a string, number or bool, not %s", ctx,
                  spec_node_kind_name(def));
        return -1;
    }
    if (def && strstr(def->u.str.s, "${")) {
        sch_error(c, def, "interpolation",
                  "the default of %s can't use ${...}; variables are inputs", ctx);
        return -1;
    }
    if (def && !typed) { /* infer the type from how the default is written */
        double d;
        if (!def->quoted && spec_parse_number(def->u.str.s, &d) == 0)
            v->type = SPEC_VAR_NUMBER;
        else if (!def->quoted && is_bool(def->u.str.s))
            v->type = SPEC_VAR_BOOL;
    }
    if (def) {
        v->value = def->u.str.s;
        v->origin = "default";
        const char *why = type_problem(v->type, v->value);
        if (why) {
            sch_error(c, def, "variable-type", "the default '%s' of %s %s", v->value, ctx, why);
            return -1;
        }
    }
    char envname[256];
    snprintf(envname, sizeof(envname), "GPUFORM_VAR_%s", v->name);
    const char *env = env_lookup(c, envname);
    if (env) {
        const char *why = type_problem(v->type, env);
        if (why) {
            struct core_diag *g =
                core_diag_add(c->diags, CORE_SEV_ERROR, "variable-type", NULL,
                              "%s='%s': the value of %s %s", envname, env, ctx, why);
            core_diag_note(g, &v->loc, "'%s' is declared here as a %s", v->name,
                           var_types[v->type]);
            return -1;
        }
        v->value = core_arena_strdup(&c->spec->arena, env);
        v->origin = "environment";
    }
    const char *cli = cli_value(c, v->name);
    if (cli) {
        const char *why = type_problem(v->type, cli);
        if (why) {
            struct core_diag *g =
                core_diag_add(c->diags, CORE_SEV_ERROR, "variable-type", NULL,
                              "--var %s=%s: the value of %s %s", v->name, cli, ctx, why);
            core_diag_note(g, &v->loc, "'%s' is declared here as a %s", v->name,
                           var_types[v->type]);
            return -1;
        }
        v->value = cli;
        v->origin = "--var";
    }
    if (!v->value) {
        sch_error(c, p->key, "variable-unset",
                  "%s has no value: give it a default, pass --var %s=VALUE or set %s", ctx, v->name,
                  envname);
        return -1;
    }
    return 0;
}

/* --var NAME=VALUE must name a declared variable. */
static int check_cli_vars(struct dctx *c)
{
    int rc = 0;
    const char **names =
        core_arena_alloc(&c->spec->arena, (c->spec->nvariables + 1) * sizeof(*names));
    if (!names)
        return -1;
    for (size_t i = 0; i < c->spec->nvariables; i++)
        names[i] = c->spec->variables[i].name;
    for (size_t i = 0; c->opts && i < c->opts->nvars; i++) {
        const char *kv = c->opts->vars[i];
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv) {
            core_diag_add(c->diags, CORE_SEV_ERROR, "usage", NULL, "--var '%s' is not NAME=VALUE",
                          kv);
            rc = -1;
            continue;
        }
        char *name = core_arena_strndup(&c->spec->arena, kv, (size_t)(eq - kv));
        bool known = false;
        for (size_t j = 0; name && j < c->spec->nvariables; j++)
            known |= strcmp(names[j], name) == 0;
        if (known || !name)
            continue;
        const char *hint = core_suggest(name, names, c->spec->nvariables);
        core_diag_add(c->diags, CORE_SEV_ERROR, "undefined-variable", NULL,
                      "--var %s: the stack declares no variable '%s'%s%s%s", kv, name,
                      hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
        rc = -1;
    }
    return rc;
}

int spec_decode_variables(struct dctx *c, const struct spec_node *n)
{
    if (n && !spec_node_is_null(n)) {
        if (n->kind != SPEC_NODE_MAP) {
            sch_error(c, n, "type", "'variables' must be a mapping of name to settings, not %s",
                      spec_node_kind_name(n));
            check_cli_vars(c);
            return -1;
        }
        c->spec->variables =
            core_arena_alloc(&c->spec->arena, n->u.map.n * sizeof(*c->spec->variables));
        if (!c->spec->variables)
            return -1;
        for (size_t i = 0; i < n->u.map.n; i++) {
            struct spec_variable *v = &c->spec->variables[c->spec->nvariables++];
            decode_one(c, &n->u.map.items[i], v); /* a failed one stays, without a value */
        }
    }
    return check_cli_vars(c);
}
