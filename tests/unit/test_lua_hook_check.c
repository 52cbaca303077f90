/*
 * Unit tests for the hook syntax check (lua/hook_check.c): valid Lua compiles silently and
 * is never run, syntax errors become "hook-syntax" diagnostics at the right line of the
 * hook file, precompiled chunks are refused, and one bad hook does not hide the others.
 * Hook files live in a mkdtemp() folder removed in teardown.
 */
#include "lua/hook_check.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_HOOKS 8

struct fixture {
    struct core_diags diags;
    struct spec spec; /* only hooks are filled in */
    struct spec_hook hooks[MAX_HOOKS];
    char *paths[MAX_HOOKS];
    struct spec *loaded; /* from spec_load, freed in teardown */
    char dir[64];
};

static int hook_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    core_diags_init(&f->diags, 0);
    f->spec.hooks = f->hooks;
    strcpy(f->dir, "/tmp/gpuform-hook-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int hook_teardown(void **state)
{
    struct fixture *f = *state;
    for (size_t i = 0; i < MAX_HOOKS; i++)
        free(f->paths[i]);
    spec_free(f->loaded);
    core_diags_release(&f->diags);
    nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Writes `len` bytes to dir/rel (creating folders) and returns the full path (malloc'd). */
static char *write_bytes(struct fixture *f, const char *rel, const void *data, size_t len)
{
    size_t n = strlen(f->dir) + strlen(rel) + 2;
    char *path = malloc(n);
    assert_non_null(path);
    snprintf(path, n, "%s/%s", f->dir, rel);
    for (char *p = path + strlen(f->dir) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0700) != 0 && errno != EEXIST) {
                free(path);
                fail_msg("mkdir failed: %s", strerror(errno));
            }
            *p = '/';
        }
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        free(path);
        fail_msg("cannot write %s", rel);
    }
    fwrite(data, 1, len, fp);
    fclose(fp);
    return path;
}

/* Adds a hook named `rel`; with text, the file is written first. */
static struct spec_hook *add_hook_bytes(struct fixture *f, const char *rel, const void *data,
                                        size_t len)
{
    assert_true(f->spec.nhooks < MAX_HOOKS);
    size_t i = f->spec.nhooks++;
    if (data) {
        f->paths[i] = write_bytes(f, rel, data, len);
    } else {
        size_t n = strlen(f->dir) + strlen(rel) + 2;
        f->paths[i] = malloc(n);
        assert_non_null(f->paths[i]);
        snprintf(f->paths[i], n, "%s/%s", f->dir, rel);
    }
    f->hooks[i].path = rel;
    f->hooks[i].resolved = f->paths[i];
    f->hooks[i].loc = (struct core_loc){0};
    return &f->hooks[i];
}

static struct spec_hook *add_hook(struct fixture *f, const char *rel, const char *text)
{
    return add_hook_bytes(f, rel, text, text ? strlen(text) : 0);
}

static const struct core_diag *find_diag(const struct fixture *f, const char *code)
{
    for (size_t i = 0; i < f->diags.n; i++)
        if (strcmp(f->diags.items[i].code, code) == 0)
            return &f->diags.items[i];
    for (size_t i = 0; i < f->diags.n; i++)
        print_message("  %s: %s\n", f->diags.items[i].code, f->diags.items[i].message);
    fail_msg("no '%s' diagnostic", code);
    return NULL;
}

static void test_hook_check_without_hooks_does_nothing(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(hook_check_syntax(&f->spec, &f->diags), 0);
    assert_int_equal(f->diags.n, 0);
}

static void test_hook_check_passes_a_valid_hook(void **state)
{
    struct fixture *f = *state;
    add_hook(f, "policies/ok.lua",
             "-- a policy\n"
             "local M = {}\n"
             "function M.check(plan)\n"
             "  for _, w in ipairs(plan.workloads) do\n"
             "    if w.gpus > 64 then return false, 'too big' end\n"
             "  end\n"
             "  return true\n"
             "end\n"
             "return M\n");
    assert_int_equal(hook_check_syntax(&f->spec, &f->diags), 0);
    assert_int_equal(f->diags.n, 0);
}

static void test_hook_check_compiles_but_never_runs_hooks(void **state)
{
    struct fixture *f = *state;
    /* Would end the test run (or fail) if it were executed. */
    add_hook(f, "exit.lua", "os.exit(3)\nerror('boom')\n");
    assert_int_equal(hook_check_syntax(&f->spec, &f->diags), 0);
    assert_int_equal(f->diags.n, 0);
}

static void test_hook_check_reports_a_syntax_error_at_its_line(void **state)
{
    struct fixture *f = *state;
    struct spec_hook *h = add_hook(f, "bad.lua",
                                   "local x = 1\n"
                                   "\n"
                                   "local = 2\n"
                                   "return x\n");
    assert_int_equal(hook_check_syntax(&f->spec, &f->diags), -1);
    assert_int_equal(f->diags.errors, 1);
    const struct core_diag *g = find_diag(f, "hook-syntax");
    assert_int_equal(g->severity, CORE_SEV_ERROR);
    assert_int_equal(g->loc.line, 3);
    assert_int_equal(g->loc.col, 1);
    assert_non_null(g->loc.src);
    assert_string_equal(g->loc.src->path, h->resolved);
    assert_int_equal(strncmp(g->message, "Lua syntax error: ", 18), 0);
    /* The "path:line:" prefix of Lua's message is turned into the location. */
    assert_null(strstr(g->message, h->resolved));
    assert_null(strstr(g->message, ":3:"));
}

static void test_hook_check_reports_an_unclosed_block_at_the_end(void **state)
{
    struct fixture *f = *state;
    add_hook(f, "open.lua", "function f()\n  return 1\n");
    assert_int_equal(hook_check_syntax(&f->spec, &f->diags), -1);
    const struct core_diag *g = find_diag(f, "hook-syntax");
    assert_true(g->loc.line >= 2);
    assert_non_null(strstr(g->message, "'end' expected"));
}

static void test_hook_check_keeps_the_line_when_the_path_has_a_colon(void **state)
{
    struct fixture *f = *state;
    add_hook(f, "a:1/x.lua", "x = 1\ny = = 2\n");
    assert_int_equal(hook_check_syntax(&f->spec, &f->diags), -1);
    assert_int_equal(find_diag(f, "hook-syntax")->loc.line, 2);
}

static void test_hook_check_keeps_the_line_for_long_paths(void **state)
{
    /* Regression: the chunk name passed to luaL_loadbufferx is "=<resolved path>", but Lua cuts
     * chunk names to LUA_IDSIZE (60) characters in its messages, so for any hook whose
     * resolved path is longer than 59 characters (an absolute stack directory is enough)
     * split_lua_error() no longer finds the path prefix and the error gets line 0: no
     * position at all. Correct: the line of the error (here 2) whatever the path length,
     * e.g. by passing a short chunk name and mapping it back. */
    struct fixture *f = *state;
    add_hook(f, "a-rather-long-folder-name-for-policies/and-another-level/policy.lua",
             "x = 1\ny = = 2\n");
    assert_true(strlen(f->hooks[0].resolved) > 60);
    assert_int_equal(hook_check_syntax(&f->spec, &f->diags), -1);
    const struct core_diag *g = find_diag(f, "hook-syntax");
    assert_int_equal(g->loc.line, 2);
    assert_int_equal(g->loc.col, 1);
}

static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud)
{
    (void)L;
    FILE *fp = ud;
    return fwrite(p, 1, sz, fp) == sz ? 0 : 1;
}

static void test_hook_check_refuses_precompiled_chunks(void **state)
{
    struct fixture *f = *state;
    /* A real Lua 5.4 binary chunk, as luac would write it. */
    lua_State *L = luaL_newstate();
    assert_non_null(L);
    assert_int_equal(luaL_loadstring(L, "return 42"), LUA_OK);
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    assert_non_null(mem);
    int rc = lua_dump(L, dump_writer, mem, 1);
    fclose(mem);
    lua_close(L);
    assert_int_equal(rc, 0);
    assert_true(len > 4);
    assert_memory_equal(buf, "\x1bLua", 4);
    struct spec_hook *h = add_hook_bytes(f, "compiled.lua", buf, len);
    free(buf);
    h->loc.line = 7; /* where the spec names it */
    h->loc.col = 10;
    assert_int_equal(hook_check_syntax(&f->spec, &f->diags), -1);
    const struct core_diag *g = find_diag(f, "hook-binary");
    assert_int_equal(g->severity, CORE_SEV_ERROR);
    assert_non_null(strstr(g->message, "compiled.lua"));
    assert_int_equal(g->loc.line, 7);
    assert_int_equal(f->diags.errors, 1);
}

static void test_hook_check_refuses_a_forged_binary_header(void **state)
{
    struct fixture *f = *state;
    add_hook(f, "forged.lua", "\x1bLua garbage that is not a chunk\n");
    assert_int_equal(hook_check_syntax(&f->spec, &f->diags), -1);
    find_diag(f, "hook-binary");
}

static void test_hook_check_reports_a_missing_file(void **state)
{
    struct fixture *f = *state;
    add_hook(f, "nowhere.lua", NULL);
    assert_int_equal(hook_check_syntax(&f->spec, &f->diags), -1);
    const struct core_diag *g = find_diag(f, "file-read");
    assert_non_null(strstr(g->message, "nowhere.lua"));
}

static void test_hook_check_reports_every_bad_hook(void **state)
{
    struct fixture *f = *state;
    add_hook(f, "one.lua", "return 1\n");
    add_hook(f, "two.lua", "return = 2\n");
    add_hook(f, "three.lua", NULL);
    add_hook(f, "four.lua", "x = 1\n\n\n\nif x then\n");
    add_hook(f, "five.lua", "return 5\n");
    assert_int_equal(hook_check_syntax(&f->spec, &f->diags), -1);
    assert_int_equal(f->diags.errors, 3);
    size_t syntax = 0;
    for (size_t i = 0; i < f->diags.n; i++)
        if (strcmp(f->diags.items[i].code, "hook-syntax") == 0) {
            syntax++;
            const char *p = f->diags.items[i].loc.src->path;
            assert_true(strstr(p, "two.lua") || strstr(p, "four.lua"));
        }
    assert_int_equal(syntax, 2);
}

static void test_hook_check_accepts_a_utf8_bom(void **state)
{
    struct fixture *f = *state;
    add_hook(f, "bom.lua", "\xEF\xBB\xBFreturn 'ok'\n");
    assert_int_equal(hook_check_syntax(&f->spec, &f->diags), 0);
    assert_int_equal(f->diags.n, 0);
}

static void test_hook_check_refuses_binary_text(void **state)
{
    struct fixture *f = *state;
    add_hook_bytes(f, "nul.lua", "return 1\0\n", 10);
    assert_int_equal(hook_check_syntax(&f->spec, &f->diags), -1);
    assert_true(f->diags.errors >= 1);
}

static const char *no_env(const char *name, void *ud)
{
    (void)name;
    (void)ud;
    return NULL;
}

static void test_hook_check_of_a_loaded_stack(void **state)
{
    struct fixture *f = *state;
    const char *stack = "version: 1\nstack: demo\nclouds: {aws: {regions: [us-east-1]}}\n"
                        "workloads: {t: {kind: training, gpu: H100, hours: 1}}\n"
                        "hooks: [policies/ok.lua, policies/bad.lua]\n";
    free(write_bytes(f, "stack.yaml", stack, strlen(stack)));
    free(write_bytes(f, "policies/ok.lua", "return true\n", 12));
    free(write_bytes(f, "policies/bad.lua", "return true\nend\n", 16));
    const struct spec_options opts = {.getenv = no_env};
    assert_int_equal(spec_load(f->dir, &opts, &f->diags, &f->loaded), 0);
    assert_int_equal(f->loaded->nhooks, 2);
    assert_int_equal(hook_check_syntax(f->loaded, &f->diags), -1);
    const struct core_diag *g = find_diag(f, "hook-syntax");
    assert_int_equal(g->loc.line, 2);
    assert_non_null(strstr(g->loc.src->path, "policies/bad.lua"));
    assert_int_equal(f->diags.errors, 1);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, hook_setup, hook_teardown)
    const struct CMUnitTest tests[] = {
        T(test_hook_check_without_hooks_does_nothing),
        T(test_hook_check_passes_a_valid_hook),
        T(test_hook_check_compiles_but_never_runs_hooks),
        T(test_hook_check_reports_a_syntax_error_at_its_line),
        T(test_hook_check_reports_an_unclosed_block_at_the_end),
        T(test_hook_check_keeps_the_line_when_the_path_has_a_colon),
        T(test_hook_check_keeps_the_line_for_long_paths),
        T(test_hook_check_refuses_precompiled_chunks),
        T(test_hook_check_refuses_a_forged_binary_header),
        T(test_hook_check_reports_a_missing_file),
        T(test_hook_check_reports_every_bad_hook),
        T(test_hook_check_accepts_a_utf8_bom),
        T(test_hook_check_refuses_binary_text),
        T(test_hook_check_of_a_loaded_stack),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
