/*
 * The policy sandbox. Safety comes from what is absent (io, os, package, debug, coroutine,
 * dofile, loadfile, collectgarbage, string.dump, binary chunks), from limits enforced by
 * the VM itself (a counting allocator, a count hook that checks the instruction budget and
 * the clock and, once a limit is hit, fails every further instruction so pcall can't
 * swallow it), and from read-only views that are userdata, not tables, so rawset and
 * setmetatable have nothing to act on.
 */
#include "lua/sandbox.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HOOK_STEP    1000 /* instructions between count-hook checks */
#define RO_MAX_DEPTH 32

struct hook_vm {
    lua_State *L;
    struct hook_limits lim;
    size_t mem_used;
    size_t mem_base; /* mem_used when the running call started: the cap is per call */
    bool armed;      /* a policy call is running */
    long budget_left;
    double deadline;
    bool tripped; /* a limit was hit: every instruction now fails */
    char tripped_msg[160];
    size_t nfiles;
    char **names;        /* as the spec names them */
    char **chunks;       /* the chunk names Lua prints ("=policies/x.lua", maybe shortened) */
    int *env_refs;       /* registry refs of each file's environment */
    int ro_mt_ref;       /* the read-only views' metatable */
    hook_track_fn track; /* read tracking (hook_vm_track), or NULL */
    void *track_ctx;
    lua_Integer track_gen; /* tracked views of another generation are stale */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- limits ---- */

static void *sb_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct hook_vm *vm = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        vm->mem_used -= old;
        return NULL;
    }
    /* Only policy code is capped: what gpuform builds between calls (the plan handed in)
     * is not the policy's. */
    if (vm->armed && nsize > old &&
        vm->mem_used - old + nsize > vm->mem_base + vm->lim.memory_bytes)
        return NULL; /* Lua raises "not enough memory" */
    void *p = realloc(ptr, nsize);
    if (p)
        vm->mem_used = vm->mem_used - old + nsize;
    return p;
}

static struct hook_vm *vm_of(lua_State *L)
{
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

static void trip(lua_State *L, struct hook_vm *vm, const char *msg)
{
    vm->tripped = true;
    snprintf(vm->tripped_msg, sizeof vm->tripped_msg, "%s", msg);
    lua_sethook(L, NULL, 0, 0);
}

static void count_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    struct hook_vm *vm = vm_of(L);
    if (!vm->tripped) {
        char msg[160];
        vm->budget_left -= HOOK_STEP;
        if (vm->budget_left <= 0) {
            snprintf(msg, sizeof msg, "policy ran past its instruction budget (%ld instructions)",
                     vm->lim.instructions);
            trip(L, vm, msg);
        } else if (now_s() > vm->deadline) {
            snprintf(msg, sizeof msg, "policy ran past its time limit (%.3g s)",
                     vm->lim.wall_seconds);
            trip(L, vm, msg);
        } else {
            return;
        }
        /* From now on every instruction fails, so a pcall in the policy catches one error
         * and the next instruction raises again, until control is back with us. */
        lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
    }
    luaL_error(L, "%s", vm->tripped_msg);
}

/* Outside our calls no policy code may run (a __gc finalizer, say): it fails at once. */
static void deny(struct hook_vm *vm)
{
    vm->armed = false;
    vm->tripped = true;
    snprintf(vm->tripped_msg, sizeof vm->tripped_msg, "policy code ran outside a hook call");
    lua_sethook(vm->L, count_hook, LUA_MASKCOUNT, 1);
}

static void arm(struct hook_vm *vm)
{
    vm->armed = true;
    vm->mem_base = vm->mem_used;
    vm->tripped = false;
    vm->budget_left = vm->lim.instructions;
    vm->deadline = now_s() + vm->lim.wall_seconds;
    lua_sethook(vm->L, count_hook, LUA_MASKCOUNT, HOOK_STEP);
}

/* ---- read-only views ---- */

/* A tracked view reports the read (key: the stack index of the key, 0 for the whole view) to
 * the tracker; one from an earlier tracked call is refused: it would read another offer. */
static void ro_track(lua_State *L, int key)
{
    if (lua_getiuservalue(L, 1, 3) != LUA_TNUMBER) {
        lua_pop(L, 1);
        return;
    }
    lua_Integer tag = lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (tag == 0)
        return;
    struct hook_vm *vm = vm_of(L);
    lua_getiuservalue(L, 1, 4);
    lua_Integer gen = lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (!vm->track || gen != vm->track_gen)
        luaL_error(L, "policy kept a table from an earlier call: filter_offer and score_offer "
                      "are cached, so they must not keep what they are given between calls");
    vm->track(vm->track_ctx, L, (int)tag, key);
}

static int ro_index(lua_State *L)
{
    ro_track(L, 2);
    lua_getiuservalue(L, 1, 1);
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    return 1;
}

static int ro_newindex(lua_State *L)
{
    lua_getiuservalue(L, 1, 2);
    return luaL_error(L, "policy tried to modify read-only table '%s'", lua_tostring(L, -1));
}

static int ro_len(lua_State *L)
{
    ro_track(L, 0);
    lua_getiuservalue(L, 1, 1);
    lua_pushinteger(L, (lua_Integer)lua_rawlen(L, -1));
    return 1;
}

static int ro_next(lua_State *L)
{
    luaL_checkudata(L, 1, "gpuform.readonly");
    lua_settop(L, 2);
    ro_track(L, 0);
    lua_getiuservalue(L, 1, 1);
    lua_insert(L, 2); /* backing table, key */
    if (lua_next(L, 2))
        return 2;
    lua_pushnil(L);
    return 1;
}

static int ro_pairs(lua_State *L)
{
    lua_pushcfunction(L, ro_next);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static int ro_tostring(lua_State *L)
{
    lua_getiuservalue(L, 1, 2);
    lua_pushfstring(L, "read-only table '%s'", lua_tostring(L, -1));
    return 1;
}

static int ro_wrap_at(lua_State *L, const char *what, lua_Integer tag, lua_Integer gen, int depth)
{
    if (depth > RO_MAX_DEPTH || !lua_checkstack(L, 6))
        return -1;
    int t = lua_gettop(L);
    /* wrap nested tables first; values are replaced in place (keys stay) */
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -1) == LUA_TTABLE) {
            if (ro_wrap_at(L, what, tag, gen, depth + 1) != 0) {
                lua_settop(L, t);
                return -1;
            }
            lua_pushvalue(L, -2); /* key */
            lua_insert(L, -2);
            lua_rawset(L, t); /* t[key] = view; only an existing key changes: legal */
        } else {
            lua_pop(L, 1);
        }
    }
    lua_newuserdatauv(L, 0, 4);
    lua_insert(L, t); /* view, table */
    lua_setiuservalue(L, t, 1);
    lua_pushstring(L, what);
    lua_setiuservalue(L, t, 2);
    lua_pushinteger(L, tag);
    lua_setiuservalue(L, t, 3);
    lua_pushinteger(L, gen);
    lua_setiuservalue(L, t, 4);
    luaL_setmetatable(L, "gpuform.readonly");
    return 0;
}

static int ro_wrap_protected(lua_State *L)
{
    const char *what = lua_tostring(L, 2);
    lua_Integer tag = lua_tointeger(L, 3), gen = lua_tointeger(L, 4);
    lua_settop(L, 4);
    lua_pushvalue(L, 1); /* the table on top; `what` stays on the stack, alive */
    if (ro_wrap_at(L, what ? what : "value", tag, gen, 0) != 0)
        return luaL_error(L, "value nested too deeply for a policy");
    return 1;
}

static int ro_wrap(lua_State *L, const char *what, lua_Integer tag)
{
    lua_pushcfunction(L, ro_wrap_protected);
    lua_insert(L, -2);
    lua_pushstring(L, what);
    lua_pushinteger(L, tag);
    lua_pushinteger(L, tag ? vm_of(L)->track_gen : 0);
    if (lua_pcall(L, 4, 1, 0) != LUA_OK) {
        lua_pop(L, 1);
        return -1;
    }
    return 0;
}

int hook_ro_wrap(lua_State *L, const char *what)
{
    return ro_wrap(L, what, 0);
}

int hook_ro_wrap_tracked(lua_State *L, const char *what, int tag)
{
    return ro_wrap(L, what, tag > 0 ? tag : 0);
}

void hook_vm_track(struct hook_vm *vm, hook_track_fn fn, void *ctx)
{
    vm->track = fn;
    vm->track_ctx = ctx;
    vm->track_gen++;
}

/* ---- the environment each file gets ---- */

static int sb_print(lua_State *L)
{
    int n = lua_gettop(L);
    fputs("policy: ", stderr);
    for (int i = 1; i <= n; i++) {
        size_t len;
        const char *s = luaL_tolstring(L, i, &len);
        if (i > 1)
            fputc('\t', stderr);
        fwrite(s, 1, len, stderr);
        lua_pop(L, 1);
    }
    fputc('\n', stderr);
    return 0;
}

/* load(chunk [, chunkname [, mode [, env]]]): source text only; the default environment
 * is the calling file's own (the upvalue). */
static int sb_load(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, "=(load)");
    int has_env = !lua_isnone(L, 4);
    if (luaL_loadbufferx(L, s, len, name, "t") != LUA_OK) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    if (has_env)
        lua_pushvalue(L, 4);
    else
        lua_pushvalue(L, lua_upvalueindex(1));
    lua_setupvalue(L, -2, 1);
    return 1;
}

/* setmetatable without __gc: finalizers run with hooks off (during collection and at
 * lua_close), where no limit could stop them. */
static int sb_setmetatable(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "policies may not set __gc finalizers");
        lua_pop(L, 1);
    }
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 2, 1);
    return 1;
}

static const char *const base_names[] = {
    "assert",   "error",  "ipairs", "next",     "pairs",        "pcall",        "rawequal",
    "rawget",   "rawlen", "rawset", "select",   "getmetatable", "setmetatable", "tonumber",
    "tostring", "type",   "xpcall", "_VERSION", NULL,
};
static const char *const lib_names[] = {"string", "table", "math", "utf8", NULL};

/* A fresh table with copies of the library's fields, so one file can't change another's. */
static void copy_table(lua_State *L, int src)
{
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, src)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
    }
}

static int make_env(lua_State *L)
{
    lua_newtable(L); /* env */
    int env = lua_gettop(L);
    lua_pushglobaltable(L);
    int g = lua_gettop(L);
    for (int i = 0; base_names[i]; i++) {
        lua_getfield(L, g, base_names[i]);
        lua_setfield(L, env, base_names[i]);
    }
    for (int i = 0; lib_names[i]; i++) {
        lua_getfield(L, g, lib_names[i]);
        copy_table(L, lua_gettop(L));
        lua_setfield(L, env, lib_names[i]);
        lua_pop(L, 1);
    }
    lua_getfield(L, env, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump"); /* makes binary chunks */
    lua_pop(L, 1);
    lua_pushcfunction(L, sb_print);
    lua_setfield(L, env, "print");
    lua_getfield(L, g, "setmetatable");
    lua_pushcclosure(L, sb_setmetatable, 1);
    lua_setfield(L, env, "setmetatable");
    lua_pushvalue(L, env);
    lua_pushcclosure(L, sb_load, 1);
    lua_setfield(L, env, "load");
    lua_pushvalue(L, env);
    lua_setfield(L, env, "_G");
    lua_settop(L, env);
    return 1;
}

static int open_state(lua_State *L)
{
    luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
    luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
    luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
    lua_settop(L, 0);
    /* getmetatable("") would hand out the string library itself */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_settop(L, 0);
    const luaL_Reg ro[] = {{"__index", ro_index}, {"__newindex", ro_newindex}, {"__len", ro_len},
                           {"__pairs", ro_pairs}, {"__tostring", ro_tostring}, {NULL, NULL}};
    luaL_newmetatable(L, "gpuform.readonly");
    luaL_setfuncs(L, ro, 0);
    lua_pushliteral(L, "read-only");
    lua_setfield(L, -2, "__metatable");
    return 0;
}

struct hook_vm *hook_vm_new(const struct hook_limits *limits)
{
    struct hook_vm *vm = calloc(1, sizeof *vm);
    if (!vm)
        return NULL;
    if (limits)
        vm->lim = *limits;
    if (vm->lim.instructions <= 0)
        vm->lim.instructions = 10000000;
    if (vm->lim.memory_bytes == 0)
        vm->lim.memory_bytes = (size_t)64 << 20;
    if (vm->lim.wall_seconds <= 0)
        vm->lim.wall_seconds = 2.0;
    vm->L = lua_newstate(sb_alloc, vm);
    if (!vm->L) {
        free(vm);
        return NULL;
    }
    lua_pushcfunction(vm->L, open_state);
    if (lua_pcall(vm->L, 0, 0, 0) != LUA_OK) {
        hook_vm_free(vm);
        return NULL;
    }
    deny(vm);
    return vm;
}

void hook_vm_free(struct hook_vm *vm)
{
    if (!vm)
        return;
    if (vm->L) {
        deny(vm);
        lua_close(vm->L);
    }
    for (size_t i = 0; i < vm->nfiles; i++) {
        free(vm->names[i]);
        free(vm->chunks[i]);
    }
    free(vm->names);
    free(vm->chunks);
    free(vm->env_refs);
    free(vm);
}

lua_State *hook_vm_state(struct hook_vm *vm)
{
    return vm->L;
}

size_t hook_vm_nfiles(const struct hook_vm *vm)
{
    return vm->nfiles;
}

const char *hook_vm_file_name(const struct hook_vm *vm, size_t file)
{
    return file < vm->nfiles ? vm->names[file] : "";
}

/* ---- errors ---- */

static int msgh(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg || lua_type(L, 1) != LUA_TSTRING)
        msg = lua_pushfstring(L, "the policy raised an error that is a %s value, not a message",
                              luaL_typename(L, 1));
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Splits "CHUNK:LINE: text\nstack traceback:..." into err. */
static void fill_error(struct hook_vm *vm, const char *full, int status, size_t file,
                       struct hook_error *err)
{
    memset(err, 0, sizeof *err);
    if (file < vm->nfiles)
        snprintf(err->file, sizeof err->file, "%s", vm->names[file]);
    if (status == LUA_ERRMEM) {
        snprintf(err->message, sizeof err->message,
                 "policy ran out of memory (the sandbox allows %zu MiB)",
                 vm->lim.memory_bytes >> 20);
        return;
    }
    const char *tb = strstr(full, "\nstack traceback:");
    size_t mlen = tb ? (size_t)(tb - full) : strlen(full);
    if (tb)
        snprintf(err->traceback, sizeof err->traceback, "%s", tb + 1);
    const char *text = full;
    for (size_t i = 0; i < vm->nfiles; i++) {
        size_t n = strlen(vm->chunks[i]);
        if (strncmp(full, vm->chunks[i], n) == 0 && full[n] == ':') {
            char *end;
            long line = strtol(full + n + 1, &end, 10);
            if (end > full + n + 1 && *end == ':') {
                snprintf(err->file, sizeof err->file, "%s", vm->names[i]);
                err->line = (int)line;
                text = end + (end[1] == ' ' ? 2 : 1);
            }
            break;
        }
    }
    size_t skip = (size_t)(text - full);
    snprintf(err->message, sizeof err->message, "%.*s", (int)(mlen > skip ? mlen - skip : 0), text);
}

void hook_error_format(const struct hook_error *err, char *out, size_t outlen)
{
    if (err->file[0] && err->line > 0)
        snprintf(out, outlen, "%s:%d: %s", err->file, err->line, err->message);
    else if (err->file[0])
        snprintf(out, outlen, "%s: %s", err->file, err->message);
    else
        snprintf(out, outlen, "%s", err->message);
}

/* Runs the function below the nargs arguments on top of the stack, armed. */
static int run(struct hook_vm *vm, int nargs, int nresults, size_t file, struct hook_error *err)
{
    lua_State *L = vm->L;
    int base = lua_gettop(L) - nargs; /* the function's index */
    lua_pushcfunction(L, msgh);
    lua_insert(L, base);
    arm(vm);
    int status = lua_pcall(L, nargs, nresults, base);
    deny(vm);
    if (status != LUA_OK) {
        const char *full = lua_tostring(L, -1);
        fill_error(vm, full ? full : "unknown error", status, file, err);
        lua_settop(L, base - 1);
        return -1;
    }
    lua_remove(L, base);
    return 0;
}

int hook_vm_load(struct hook_vm *vm, const char *name, const char *text, size_t len,
                 struct hook_error *err)
{
    lua_State *L = vm->L;
    size_t i = vm->nfiles;
    char **names = realloc(vm->names, (i + 1) * sizeof *names);
    if (names)
        vm->names = names;
    char **chunks = realloc(vm->chunks, (i + 1) * sizeof *chunks);
    if (chunks)
        vm->chunks = chunks;
    int *refs = realloc(vm->env_refs, (i + 1) * sizeof *refs);
    if (refs)
        vm->env_refs = refs;
    memset(err, 0, sizeof *err);
    snprintf(err->file, sizeof err->file, "%s", name);
    if (!names || !chunks || !refs) {
        snprintf(err->message, sizeof err->message, "out of memory loading the policy");
        return -1;
    }
    /* Lua shortens chunk names past LUA_IDSIZE in messages; keep the name's tail. */
    char chunk[LUA_IDSIZE];
    size_t nl = strlen(name);
    snprintf(chunk, sizeof chunk, "=%s", nl > LUA_IDSIZE - 2 ? name + nl - (LUA_IDSIZE - 2) : name);
    vm->names[i] = strdup(name);
    vm->chunks[i] = strdup(chunk + 1);
    if (!vm->names[i] || !vm->chunks[i]) {
        free(vm->names[i]);
        free(vm->chunks[i]);
        snprintf(err->message, sizeof err->message, "out of memory loading the policy");
        return -1;
    }
    vm->nfiles++; /* provisional, so error messages can name it */
    if (len > 0 && text[0] == LUA_SIGNATURE[0]) {
        snprintf(err->message, sizeof err->message,
                 "precompiled Lua is refused; policies must be Lua source text");
        goto fail;
    }
    lua_pushcfunction(L, make_env);
    arm(vm);
    int st = lua_pcall(L, 0, 1, 0);
    deny(vm);
    if (st != LUA_OK) {
        snprintf(err->message, sizeof err->message, "out of memory starting the policy");
        lua_pop(L, 1);
        goto fail;
    }
    int env = lua_gettop(L);
    st = luaL_loadbufferx(L, text, len, chunk, "t");
    if (st != LUA_OK) {
        const char *m = lua_tostring(L, -1);
        fill_error(vm, m ? m : "syntax error", st, i, err);
        lua_settop(L, env - 1);
        goto fail;
    }
    lua_pushvalue(L, env);
    lua_setupvalue(L, -2, 1); /* _ENV */
    if (run(vm, 0, 0, i, err) != 0) {
        lua_settop(L, env - 1);
        goto fail;
    }
    vm->env_refs[i] = luaL_ref(L, LUA_REGISTRYINDEX); /* pops env */
    if (vm->env_refs[i] == LUA_REFNIL || vm->env_refs[i] == LUA_NOREF) {
        snprintf(err->message, sizeof err->message, "out of memory loading the policy");
        goto fail;
    }
    return (int)i;
fail:
    vm->nfiles--;
    free(vm->names[i]);
    free(vm->chunks[i]);
    return -1;
}

bool hook_vm_defines(struct hook_vm *vm, size_t file, const char *hook)
{
    if (file >= vm->nfiles)
        return false;
    lua_State *L = vm->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->env_refs[file]);
    lua_pushstring(L, hook);
    lua_rawget(L, -2);
    bool yes = lua_type(L, -1) == LUA_TFUNCTION;
    lua_pop(L, 2);
    return yes;
}

int hook_vm_call(struct hook_vm *vm, size_t file, const char *hook, int nargs, int nresults,
                 struct hook_error *err)
{
    lua_State *L = vm->L;
    if (file >= vm->nfiles) {
        lua_pop(L, nargs);
        memset(err, 0, sizeof *err);
        snprintf(err->message, sizeof err->message, "no policy file %zu", file);
        return -1;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->env_refs[file]);
    lua_pushstring(L, hook);
    lua_rawget(L, -2);
    lua_remove(L, -2);
    if (lua_type(L, -1) != LUA_TFUNCTION) {
        memset(err, 0, sizeof *err);
        snprintf(err->file, sizeof err->file, "%s", vm->names[file]);
        snprintf(err->message, sizeof err->message, "'%s' is a %s, not a function", hook,
                 luaL_typename(L, -1));
        lua_pop(L, nargs + 1);
        return -1;
    }
    lua_insert(L, -(nargs + 1));
    return run(vm, nargs, nresults, file, err);
}
