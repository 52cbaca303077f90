/*
 * The policy layer over the sandbox: loads the hook files, hands `validate_plan` the plan
 * document as read-only tables, and reads the findings back with raw access only (no
 * metamethod of the policy's runs outside its limits), inside a protected call so that
 * running out of memory is an error, not an abort.
 */
#include "lua/policy.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "lua/policy_int.h"
#include "parser/node.h"

#define MAX_POLICY_FILE ((size_t)4 << 20)
#define MAX_FINDINGS    10000
#define MAX_JSON_DEPTH  64

const char *policy_level_name(enum policy_level level)
{
    static const char *const names[] = {"advisory", "soft", "hard"};
    return (unsigned)level < 3 ? names[level] : "?";
}

void policy_findings_release(struct policy_findings *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->items[i].policy);
        free(f->items[i].message);
        free(f->items[i].address);
    }
    free(f->items);
    memset(f, 0, sizeof *f);
}

void policy_set_free(struct policy_set *ps)
{
    if (!ps)
        return;
    hook_vm_free(ps->vm);
    free(ps->srcs);
    free(ps);
}

void policy_report(struct policy_set *ps, size_t file, const char *code,
                   const struct hook_error *err, struct core_diags *diags)
{
    struct core_loc loc = {0};
    if (file < ps->n) {
        loc.src = ps->srcs[file];
        if (err->line > 0)
            core_loc_set(&loc, (size_t)err->line, 1, 0);
    }
    struct core_diag *dg = core_diag_add(diags, CORE_SEV_ERROR, code, &loc, "%s", err->message);
    /* "stack traceback:\n\t[C]: in ?\n\tpolicies/x.lua:3: in function 'check'\n..." */
    const char *p = strchr(err->traceback, '\n');
    int notes = 0;
    while (p && *p && notes < 6) {
        const char *line = p + 1 + (p[1] == '\t');
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char here[300];
        snprintf(here, sizeof here, "%s:%d:", err->file, err->line);
        bool same = strncmp(line, here, strlen(here)) == 0; /* the error's own line */
        if (len > 0 && !same && strncmp(line, "[C]", 3) != 0 && strncmp(line, "(...tail", 8) != 0) {
            core_diag_note(dg, NULL, "called from %.*s", (int)len, line);
            notes++;
        }
        p = end;
    }
}

int policy_load(const char *const *names, const char *const *paths, size_t n,
                const struct hook_limits *limits, struct core_diags *diags, struct policy_set **out)
{
    *out = NULL;
    if (n == 0)
        return 0;
    struct policy_set *ps = calloc(1, sizeof *ps);
    if (ps)
        ps->srcs = calloc(n, sizeof *ps->srcs);
    if (ps && ps->srcs)
        ps->vm = hook_vm_new(limits);
    if (!ps || !ps->srcs || !ps->vm) {
        policy_set_free(ps);
        core_diag_add(diags, CORE_SEV_ERROR, "out-of-memory", NULL,
                      "out of memory starting the policy sandbox");
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        struct core_source *src;
        if (spec_read_source(diags, paths[i], MAX_POLICY_FILE, &src) != 0) {
            rc = -1;
            continue;
        }
        struct hook_error err;
        size_t at = hook_vm_nfiles(ps->vm);
        ps->srcs[at] = src;
        if (hook_vm_load(ps->vm, names[i], src->text, src->len, &err) < 0) {
            ps->n = at + 1; /* so report() finds the source */
            policy_report(ps, at, "policy-error", &err, diags);
            ps->n = at;
            rc = -1;
            continue;
        }
        ps->n = at + 1;
    }
    if (rc != 0) {
        policy_set_free(ps);
        return -1;
    }
    *out = ps;
    return 0;
}

int policy_load_spec(const struct spec *spec, const struct hook_limits *limits,
                     struct core_diags *diags, struct policy_set **out)
{
    *out = NULL;
    if (spec->nhooks == 0)
        return 0;
    const char **names = calloc(spec->nhooks, sizeof *names);
    const char **paths = calloc(spec->nhooks, sizeof *paths);
    int rc = -1;
    if (names && paths) {
        for (size_t i = 0; i < spec->nhooks; i++) {
            names[i] = spec->hooks[i].path;
            paths[i] = spec->hooks[i].resolved;
        }
        rc = policy_load(names, paths, spec->nhooks, limits, diags, out);
    } else {
        core_diag_add(diags, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory");
    }
    free(names);
    free(paths);
    return rc;
}

/* ---- the plan document as Lua tables ---- */

static void push_json(lua_State *L, json_t *v, int depth)
{
    luaL_checkstack(L, 4, "plan too deep");
    if (depth > MAX_JSON_DEPTH)
        luaL_error(L, "plan document nested too deeply");
    const char *key;
    json_t *x;
    size_t i;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        lua_createtable(L, 0, (int)json_object_size(v));
        json_object_foreach(v, key, x)
        {
            if (json_is_null(x))
                continue; /* null members are absent (nil) */
            push_json(L, x, depth + 1);
            lua_setfield(L, -2, key);
        }
        break;
    case JSON_ARRAY:
        lua_createtable(L, (int)json_array_size(v), 0);
        json_array_foreach(v, i, x)
        {
            push_json(L, x, depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(v));
        break;
    case JSON_REAL:
        lua_pushnumber(L, json_real_value(v));
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        lua_pushboolean(L, json_is_true(v));
        break;
    case JSON_NULL:
        lua_pushnil(L);
        break;
    }
}

static int build_plan(lua_State *L)
{
    json_t *doc = lua_touserdata(L, 1);
    char what[32];
    snprintf(what, sizeof what, "%s", lua_isstring(L, 2) ? lua_tostring(L, 2) : "plan");
    lua_settop(L, 0);
    push_json(L, doc, 0);
    if (hook_ro_wrap(L, what) != 0)
        return luaL_error(L, "out of memory building the plan for policies");
    return 1;
}

/* ---- findings back, raw access only ---- */

struct read_ctx {
    struct policy_findings *out;
    const char *policy;
};

static const char *raw_string(lua_State *L, int t, const char *key, bool required)
{
    lua_pushstring(L, key);
    int ty = lua_rawget(L, t);
    if (ty == LUA_TNIL && !required) {
        lua_pop(L, 1);
        return NULL;
    }
    if (ty != LUA_TSTRING)
        luaL_error(L, "finding '%s' must be a string, not %s", key,
                   ty == LUA_TNIL ? "missing" : lua_typename(L, ty));
    const char *s = lua_tostring(L, -1);
    lua_pop(L, 1); /* still referenced by the table, so s stays valid */
    return s;
}

static int read_findings(lua_State *L)
{
    struct read_ctx *rc = lua_touserdata(L, 2);
    int ty = lua_type(L, 1);
    if (ty == LUA_TNIL)
        return 0;
    if (ty != LUA_TTABLE)
        return luaL_error(L, "validate_plan must return a list of findings (or nil), not a %s",
                          lua_typename(L, ty));
    size_t n = lua_rawlen(L, 1);
    if (n > MAX_FINDINGS)
        return luaL_error(L, "validate_plan returned %zu findings, more than %d", n, MAX_FINDINGS);
    for (size_t i = 1; i <= n; i++) {
        if (lua_rawgeti(L, 1, (lua_Integer)i) != LUA_TTABLE)
            return luaL_error(L,
                              "finding %zu must be a table {level=, message=, address=}, not "
                              "a %s",
                              i, luaL_typename(L, -1));
        int t = lua_gettop(L);
        const char *level = raw_string(L, t, "level", true);
        const char *message = raw_string(L, t, "message", true);
        const char *address = raw_string(L, t, "address", false);
        int lv = -1;
        for (int k = 0; k < 3; k++)
            if (strcmp(level, policy_level_name((enum policy_level)k)) == 0)
                lv = k;
        if (lv < 0)
            return luaL_error(L, "finding %zu: level '%s' is not advisory, soft or hard", i, level);
        struct policy_findings *f = rc->out;
        if (f->n == f->cap) {
            size_t ncap = f->cap ? f->cap * 2 : 8;
            struct policy_finding *ni = realloc(f->items, ncap * sizeof *ni);
            if (!ni)
                return luaL_error(L, "out of memory");
            f->items = ni;
            f->cap = ncap;
        }
        struct policy_finding *pf = &f->items[f->n];
        *pf = (struct policy_finding){.level = (enum policy_level)lv,
                                      .policy = strdup(rc->policy),
                                      .message = strdup(message),
                                      .address = address ? strdup(address) : NULL};
        f->n++; /* owned by the list from here, even if something below fails */
        if (!pf->policy || !pf->message || (address && !pf->address))
            return luaL_error(L, "out of memory");
        lua_settop(L, t - 1);
    }
    return 0;
}

bool policy_defines(struct policy_set *ps, const char *hook)
{
    for (size_t i = 0; ps && i < ps->n; i++)
        if (hook_vm_defines(ps->vm, i, hook))
            return true;
    return false;
}

/* Pushes `doc` as a read-only table named `what`, protected; 0, or -1 with err filled. */
static int push_doc(struct policy_set *ps, json_t *doc, const char *what, struct hook_error *err)
{
    lua_State *L = hook_vm_state(ps->vm);
    lua_pushcfunction(L, build_plan);
    lua_pushlightuserdata(L, doc);
    lua_pushstring(L, what);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
        memset(err, 0, sizeof *err);
        snprintf(err->message, sizeof err->message, "%s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    return 0;
}

int policy_before_apply(struct policy_set *ps, json_t *change, bool *vetoed, char *reason,
                        size_t reasonlen, struct core_diags *diags)
{
    *vetoed = false;
    if (!ps)
        return 0;
    lua_State *L = hook_vm_state(ps->vm);
    int rc = 0;
    for (size_t i = 0; i < ps->n && !*vetoed; i++) {
        if (!hook_vm_defines(ps->vm, i, "before_apply"))
            continue;
        struct hook_error err;
        if (push_doc(ps, change, "change", &err) != 0 ||
            hook_vm_call(ps->vm, i, "before_apply", 1, 2, &err) != 0) {
            policy_report(ps, i, "policy-error", &err, diags);
            rc = -1;
            continue;
        }
        int ty = lua_type(L, -2);
        if (ty == LUA_TBOOLEAN && !lua_toboolean(L, -2)) {
            *vetoed = true;
            snprintf(reason, reasonlen, "policy '%s' vetoed it%s%s", hook_vm_file_name(ps->vm, i),
                     lua_type(L, -1) == LUA_TSTRING ? ": " : "",
                     lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "");
        } else if (ty != LUA_TNIL && ty != LUA_TBOOLEAN) {
            memset(&err, 0, sizeof err);
            snprintf(err.message, sizeof err.message,
                     "before_apply must return true, nil, or false and a reason, not a %s",
                     lua_typename(L, ty));
            policy_report(ps, i, "policy-result", &err, diags);
            rc = -1;
        }
        lua_pop(L, 2);
    }
    return rc;
}

int policy_after_apply(struct policy_set *ps, json_t *node, struct core_diags *diags)
{
    if (!ps)
        return 0;
    lua_State *L = hook_vm_state(ps->vm);
    int rc = 0;
    for (size_t i = 0; i < ps->n; i++) {
        if (!hook_vm_defines(ps->vm, i, "after_apply"))
            continue;
        struct hook_error err;
        if (push_doc(ps, node, "node", &err) != 0 ||
            hook_vm_call(ps->vm, i, "after_apply", 1, 0, &err) != 0) {
            policy_report(ps, i, "policy-error", &err, diags);
            rc = -1;
        }
    }
    (void)L;
    return rc;
}

/* The line of file `file` that defines `hook` ("function on_verify(" or "on_verify =
 * function"), for results that are wrong where no error has a line; 0 when not found. */
static int hook_line(const struct policy_set *ps, size_t file, const char *hook)
{
    const struct core_source *src = file < ps->n ? ps->srcs[file] : NULL;
    char def[96], assign[96];
    snprintf(def, sizeof def, "function %s", hook);
    snprintf(assign, sizeof assign, "%s = function", hook);
    int line = 1;
    for (const char *p = src ? src->text : NULL, *end = p ? p + src->len : NULL; p && p < end;
         line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char text[512];
        snprintf(text, sizeof text, "%.*s", (int)(n < sizeof text ? n : sizeof text - 1), p);
        if (strstr(text, def) || strstr(text, assign))
            return line;
        p = nl ? nl + 1 : end;
    }
    return 0;
}

int policy_on_verify(struct policy_set *ps, json_t *node, json_t *rep, char *verdict, size_t vlen,
                     char *who, size_t wholen, struct core_diags *diags)
{
    static const char *const answers[] = {"accept", "taint", "replace"}; /* by strictness */
    verdict[0] = '\0';
    who[0] = '\0';
    if (!ps)
        return 0;
    lua_State *L = hook_vm_state(ps->vm);
    int rc = 0, best = -1;
    for (size_t i = 0; i < ps->n; i++) {
        if (!hook_vm_defines(ps->vm, i, "on_verify"))
            continue;
        struct hook_error err;
        if (push_doc(ps, node, "node", &err) != 0) {
            policy_report(ps, i, "policy-error", &err, diags);
            rc = -1;
            continue;
        }
        if (push_doc(ps, rep, "report", &err) != 0) {
            lua_pop(L, 1);
            policy_report(ps, i, "policy-error", &err, diags);
            rc = -1;
            continue;
        }
        if (hook_vm_call(ps->vm, i, "on_verify", 2, 1, &err) != 0) {
            policy_report(ps, i, "policy-error", &err, diags);
            rc = -1;
            continue;
        }
        int ty = lua_type(L, -1), k = -1;
        const char *s = ty == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        for (int a = 0; s && a < 3; a++)
            if (!strcmp(s, answers[a]))
                k = a;
        if (k < 0) {
            memset(&err, 0, sizeof err);
            snprintf(err.file, sizeof err.file, "%s", hook_vm_file_name(ps->vm, i));
            err.line = hook_line(ps, i, "on_verify");
            if (s)
                snprintf(err.message, sizeof err.message,
                         "on_verify must return \"accept\", \"replace\" or \"taint\", not "
                         "\"%.60s\"",
                         s);
            else
                snprintf(err.message, sizeof err.message,
                         "on_verify must return \"accept\", \"replace\" or \"taint\", not a %s",
                         lua_typename(L, ty));
            policy_report(ps, i, "policy-result", &err, diags);
            rc = -1;
        } else if (k > best) {
            best = k;
            snprintf(verdict, vlen, "%s", answers[k]);
            snprintf(who, wholen, "%s", hook_vm_file_name(ps->vm, i));
        }
        lua_pop(L, 1);
    }
    return rc;
}

int policy_validate_plan(struct policy_set *ps, json_t *plan_doc, struct policy_findings *out,
                         struct core_diags *diags)
{
    if (!ps)
        return 0;
    lua_State *L = hook_vm_state(ps->vm);
    int rc = 0;
    for (size_t i = 0; i < ps->n; i++) {
        if (!hook_vm_defines(ps->vm, i, "validate_plan"))
            continue;
        struct hook_error err;
        lua_pushcfunction(L, build_plan);
        lua_pushlightuserdata(L, plan_doc);
        if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
            memset(&err, 0, sizeof err);
            snprintf(err.message, sizeof err.message, "%s", lua_tostring(L, -1));
            lua_pop(L, 1);
            policy_report(ps, i, "policy-error", &err, diags);
            rc = -1;
            continue;
        }
        if (hook_vm_call(ps->vm, i, "validate_plan", 1, 1, &err) != 0) {
            policy_report(ps, i, "policy-error", &err, diags);
            rc = -1;
            continue;
        }
        struct read_ctx ctx = {out, hook_vm_file_name(ps->vm, i)};
        lua_pushcfunction(L, read_findings);
        lua_insert(L, -2);
        lua_pushlightuserdata(L, &ctx);
        if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
            memset(&err, 0, sizeof err);
            snprintf(err.message, sizeof err.message, "%s", lua_tostring(L, -1));
            lua_pop(L, 1);
            policy_report(ps, i, "policy-result", &err, diags);
            rc = -1;
        }
    }
    return rc;
}

/* ---- workloads for the plan document ---- */

static json_t *workload_json(const struct spec_workload *w)
{
    json_t *labels = json_object(), *models = json_array();
    if (!labels || !models)
        goto fail;
    for (size_t i = 0; i < w->nlabels; i++)
        if (json_object_set_new(labels, w->labels[i].key, json_string(w->labels[i].value)) != 0)
            goto fail;
    for (size_t i = 0; i < w->gpu.nnames; i++)
        if (json_array_append_new(models, json_string(w->gpu.names[i])) != 0)
            goto fail;
    return json_pack("{s:s, s:i, s:f, s:s, s:s, s:{s:o, s:i}, s:o}", "kind",
                     spec_kind_name(w->kind), "count", w->count, "hours", w->hours, "spot",
                     spec_spot_name(w->spot), "verify", spec_verify_name(w->verify), "gpu",
                     "models", models, "count", w->gpu.count, "labels", labels);
fail:
    json_decref(labels);
    json_decref(models);
    return NULL;
}

int policy_add_workloads(json_t *plan_doc, const struct spec *spec)
{
    json_t *ws = json_object();
    if (!ws)
        return -1;
    for (size_t i = 0; i < spec->nworkloads; i++) {
        json_t *w = workload_json(&spec->workloads[i]);
        if (!w || json_object_set_new(ws, spec->workloads[i].name, w) != 0) {
            json_decref(ws);
            return -1;
        }
    }
    return json_object_set_new(plan_doc, "workloads", ws);
}
