/*
 * The policy sandbox: read-only views, per-file environments, errors with file and line,
 * and the hostile corpus in tests/policies/hostile/ (each file says the message it must
 * fail with on its first line: "-- expect: FRAGMENT", "-- expect: A|B" for either, or
 * "ok").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdbool.h>
#include <dirent.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua/sandbox.h"

/* Generous wall time, so a loaded machine never turns an instruction-budget case into a
 * time-limit one; a file that tests the clock says so with "-- limits: wall=S". */
static const struct hook_limits test_limits = {
    .instructions = 5000000, .memory_bytes = (size_t)32 << 20, .wall_seconds = 120};

/* Pushes a read-only plan: { stack = "t", nodes = { {address=..., hourly_usd=...}, ... } } */
static void push_plan(lua_State *L)
{
    lua_newtable(L);
    lua_pushstring(L, "t");
    lua_setfield(L, -2, "stack");
    lua_newtable(L);
    for (int i = 1; i <= 3; i++) {
        lua_newtable(L);
        lua_pushfstring(L, "train[%d]", i - 1);
        lua_setfield(L, -2, "address");
        lua_pushnumber(L, 1.5 * i);
        lua_setfield(L, -2, "hourly_usd");
        lua_pushstring(L, i == 2 ? "gcp" : "aws");
        lua_setfield(L, -2, "cloud");
        lua_rawseti(L, -2, i);
    }
    lua_setfield(L, -2, "nodes");
    assert_int_equal(hook_ro_wrap(L, "plan"), 0);
}

static int load_text(struct hook_vm *vm, const char *name, const char *text, struct hook_error *err)
{
    return hook_vm_load(vm, name, text, strlen(text), err);
}

static void test_sandbox_views_read_like_tables(void **ctx)
{
    (void)ctx;
    struct hook_vm *vm = hook_vm_new(&test_limits);
    struct hook_error err;
    int f = load_text(vm, "policies/read.lua",
                      "function validate_plan(plan)\n"
                      "  local sum, n, keys = 0, 0, 0\n"
                      "  for i, node in ipairs(plan.nodes) do sum = sum + node.hourly_usd end\n"
                      "  for k, v in pairs(plan) do keys = keys + 1 end\n"
                      "  return sum, #plan.nodes, keys, plan.nodes[2].cloud, tostring(plan),\n"
                      "         getmetatable(plan), type(plan.nodes[1])\n"
                      "end\n",
                      &err);
    assert_int_equal(f, 0);
    assert_true(hook_vm_defines(vm, 0, "validate_plan"));
    assert_false(hook_vm_defines(vm, 0, "filter_offer"));
    lua_State *L = hook_vm_state(vm);
    push_plan(L);
    assert_int_equal(hook_vm_call(vm, 0, "validate_plan", 1, 7, &err), 0);
    assert_true(lua_tonumber(L, -7) == 9.0);
    assert_int_equal(lua_tointeger(L, -6), 3);
    assert_int_equal(lua_tointeger(L, -5), 2);
    assert_string_equal(lua_tostring(L, -4), "gcp");
    assert_string_equal(lua_tostring(L, -3), "read-only table 'plan'");
    assert_string_equal(lua_tostring(L, -2), "read-only");
    assert_string_equal(lua_tostring(L, -1), "userdata");
    lua_pop(L, 7);
    assert_int_equal(lua_gettop(L), 0);
    hook_vm_free(vm);
}

static void test_sandbox_files_do_not_share_globals(void **ctx)
{
    (void)ctx;
    struct hook_vm *vm = hook_vm_new(&test_limits);
    struct hook_error err;
    assert_int_equal(load_text(vm, "a.lua", "string.upper = nil\nshared = 1\n", &err), 0);
    assert_int_equal(
        load_text(vm, "b.lua", "function check() return string.upper('x'), shared end\n", &err), 1);
    lua_State *L = hook_vm_state(vm);
    assert_int_equal(hook_vm_call(vm, 1, "check", 0, 2, &err), 0);
    assert_string_equal(lua_tostring(L, -2), "X");
    assert_true(lua_isnil(L, -1));
    lua_pop(L, 2);
    hook_vm_free(vm);
}

static void test_sandbox_errors_name_file_and_line(void **ctx)
{
    (void)ctx;
    struct hook_vm *vm = hook_vm_new(&test_limits);
    struct hook_error err;
    char text[1200];
    assert_int_equal(load_text(vm, "policies/residency.lua", "x = = 1\n", &err), -1);
    assert_string_equal(err.file, "policies/residency.lua");
    assert_int_equal(err.line, 1);
    assert_non_null(strstr(err.message, "unexpected symbol"));
    assert_int_equal(hook_vm_nfiles(vm), 0);
    assert_int_equal(load_text(vm, "policies/residency.lua",
                               "local function check(n)\n"
                               "  if n.cloud ~= 'aws' then\n"
                               "    error('node ' .. n.address .. ' leaves the EU')\n"
                               "  end\n"
                               "end\n"
                               "function validate_plan(plan)\n"
                               "  for _, n in ipairs(plan.nodes) do check(n) end\n"
                               "end\n",
                               &err),
                     0);
    push_plan(hook_vm_state(vm));
    assert_int_equal(hook_vm_call(vm, 0, "validate_plan", 1, 1, &err), -1);
    hook_error_format(&err, text, sizeof text);
    assert_string_equal(text, "policies/residency.lua:3: node train[1] leaves the EU");
    assert_non_null(strstr(err.traceback, "stack traceback:"));
    assert_non_null(strstr(err.traceback, "policies/residency.lua:7"));
    /* a hook that isn't a function */
    assert_int_equal(load_text(vm, "c.lua", "filter_offer = 3\n", &err), 1);
    assert_int_equal(hook_vm_call(vm, 1, "filter_offer", 0, 1, &err), -1);
    assert_string_equal(err.message, "'filter_offer' is a number, not a function");
    assert_int_equal(lua_gettop(hook_vm_state(vm)), 0);
    hook_vm_free(vm);
}

static void test_sandbox_refuses_precompiled_files(void **ctx)
{
    (void)ctx;
    struct hook_vm *vm = hook_vm_new(&test_limits);
    struct hook_error err;
    assert_int_equal(hook_vm_load(vm, "p.luac", "\x1bLuaT\x00", 6, &err), -1);
    assert_non_null(strstr(err.message, "precompiled Lua is refused"));
    hook_vm_free(vm);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *buf = calloc(1, 1 << 16);
    *len = fread(buf, 1, (1 << 16) - 1, fp);
    fclose(fp);
    return buf;
}

/* Runs one hostile file; returns NULL when it behaved as its first line says. */
static const char *run_hostile(struct hook_vm *vm, const char *name, const char *text, size_t len,
                               char *why, size_t whylen)
{
    char expect[128] = "";
    if (sscanf(text, "-- expect: %127[^\n]", expect) != 1)
        return "no '-- expect:' line";
    struct hook_error err;
    memset(&err, 0, sizeof err);
    char msg[1400] = "";
    /* "-- limits: wall=S" on the second line: its own sandbox, limited by the clock only */
    double wall = 0;
    const char *lim = strstr(text, "\n-- limits: wall=");
    struct hook_vm *own = NULL;
    if (lim && sscanf(lim, "\n-- limits: wall=%lf", &wall) == 1) {
        struct hook_limits l = {
            .instructions = 1L << 50, .memory_bytes = (size_t)32 << 20, .wall_seconds = wall};
        vm = own = hook_vm_new(&l);
    }
    int f = hook_vm_load(vm, name, text, len, &err);
    int rc = f;
    if (f >= 0 && hook_vm_defines(vm, (size_t)f, "validate_plan")) {
        push_plan(hook_vm_state(vm));
        rc = hook_vm_call(vm, (size_t)f, "validate_plan", 1, 1, &err);
        if (rc == 0)
            lua_pop(hook_vm_state(vm), 1);
    }
    if (rc < 0)
        hook_error_format(&err, msg, sizeof msg);
    hook_vm_free(own);
    snprintf(why, whylen, "%s: expected '%s', got %s'%s'", name, expect,
             rc < 0 ? "the error " : "success ", msg);
    if (strcmp(expect, "ok") == 0)
        return rc >= 0 ? NULL : why;
    if (rc >= 0)
        return why;
    bool found = false; /* "a|b": either fragment */
    for (char *alt = strtok(expect, "|"); alt && !found; alt = strtok(NULL, "|"))
        found = strstr(msg, alt) != NULL;
    if (!found)
        return why;
    if (strncmp(msg, name, strlen(name)) != 0)
        return why; /* the message must say which file */
    return NULL;
}

static void test_sandbox_hostile_corpus_fails_cleanly(void **ctx)
{
    (void)ctx;
    const char *src = getenv("GPUFORM_SOURCE_DIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/policies/hostile", src ? src : ".");
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    /* one sandbox for the whole corpus: after each attack it must still work */
    struct hook_vm *vm = hook_vm_new(&test_limits);
    int good = 0;
    struct hook_error err;
    while ((e = readdir(d))) {
        size_t nl = strlen(e->d_name);
        if (nl < 5 || strcmp(e->d_name + nl - 4, ".lua") != 0)
            continue;
        char path[1400], name[300], why[2000];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        snprintf(name, sizeof name, "hostile/%s", e->d_name);
        size_t len;
        char *text = slurp(path, &len);
        assert_non_null(text);
        const char *bad = run_hostile(vm, name, text, len, why, sizeof why);
        free(text);
        if (bad)
            fail_msg("%s", bad);
        n++;
        /* still usable: a well-behaved policy loads and runs */
        char gname[32];
        snprintf(gname, sizeof gname, "good%d.lua", n);
        good = load_text(vm, gname, "function ok(x) return x + 1 end\n", &err);
        assert_true(good >= 0);
        lua_pushinteger(hook_vm_state(vm), 41);
        assert_int_equal(hook_vm_call(vm, (size_t)good, "ok", 1, 1, &err), 0);
        assert_int_equal(lua_tointeger(hook_vm_state(vm), -1), 42);
        lua_pop(hook_vm_state(vm), 1);
    }
    closedir(d);
    assert_true(n >= 20);
    hook_vm_free(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sandbox_views_read_like_tables),
        cmocka_unit_test(test_sandbox_files_do_not_share_globals),
        cmocka_unit_test(test_sandbox_errors_name_file_and_line),
        cmocka_unit_test(test_sandbox_refuses_precompiled_files),
        cmocka_unit_test(test_sandbox_hostile_corpus_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
