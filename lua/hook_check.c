/*
 * Compiling hook files with Lua's own parser, in text mode only (precompiled bytecode is
 * refused: it can crash the VM), to turn syntax errors into located diagnostics.
 */
#include "lua/hook_check.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "parser/node.h"

#define MAX_HOOK_FILE ((size_t)4 << 20)

/* "path:12: message" -> line 12 and "message". */
static uint32_t split_lua_error(const char *msg, const char *chunk, const char **text)
{
    size_t n = strlen(chunk);
    *text = msg;
    if (strncmp(msg, chunk, n) != 0 || msg[n] != ':')
        return 0;
    char *end;
    unsigned long line = strtoul(msg + n + 1, &end, 10);
    if (end == msg + n + 1 || *end != ':')
        return 0;
    *text = end[1] == ' ' ? end + 2 : end + 1;
    return (uint32_t)line;
}

static int check_one(lua_State *L, const struct spec_hook *h, struct core_diags *diags)
{
    /* Precompiled chunks start with ESC; refuse them before the text checks do, with a
     * message about Lua rather than about text encodings. */
    FILE *f = fopen(h->resolved, "rb");
    int first = f ? fgetc(f) : EOF;
    if (f)
        fclose(f);
    if (first == 0x1b) {
        struct core_loc loc = h->loc;
        core_diag_add(diags, CORE_SEV_ERROR, "hook-binary", &loc,
                      "hook '%s' is precompiled Lua; hooks must be Lua source text", h->path);
        return -1;
    }
    struct core_source *src;
    if (spec_read_source(diags, h->resolved, MAX_HOOK_FILE, &src) < 0)
        return -1;
    /* Lua shortens long chunk names in its messages; a short fixed one is found again. */
    const char *chunk = "=hook";
    int rc = luaL_loadbufferx(L, src->text, src->len, chunk, "t");
    if (rc == LUA_OK) {
        lua_pop(L, 1);
        return 0;
    }
    const char *msg = lua_tostring(L, -1);
    const char *text;
    uint32_t line = split_lua_error(msg ? msg : "", chunk + 1, &text);
    struct core_loc loc = {.src = src, .line = line, .col = line ? 1 : 0};
    core_diag_add(diags, CORE_SEV_ERROR, "hook-syntax", &loc, "Lua syntax error: %s", text);
    lua_pop(L, 1);
    return -1;
}

int hook_check_syntax(const struct spec *spec, struct core_diags *diags)
{
    if (spec->nhooks == 0)
        return 0;
    lua_State *L = luaL_newstate();
    if (!L) {
        core_diag_add(diags, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory starting Lua");
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < spec->nhooks; i++)
        if (check_one(L, &spec->hooks[i], diags) < 0)
            rc = -1;
    lua_close(L);
    return rc;
}
