/*
 * The policy sandbox: one Lua 5.4 state per run holding every policy file, each in its own
 * environment, with only the safe parts of the standard library, and per-call limits on
 * instructions, memory and wall time. Values handed to a policy are read-only views that
 * neither rawset nor metatable tricks can change. docs/policies.md is the user's side.
 */
#ifndef GPUFORM_LUA_SANDBOX_H
#define GPUFORM_LUA_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

struct lua_State;

struct hook_limits {
    long instructions;   /* per call (and per file load); 0: 10,000,000 */
    size_t memory_bytes; /* per call: heap the policy may add; 0: 64 MiB */
    double wall_seconds; /* per call; 0: 2 s */
};

/* One policy error: where (file and line when Lua knows them) and what, with a traceback. */
struct hook_error {
    char file[256]; /* the policy's path as the spec names it; "" when unknown */
    int line;       /* 0 when unknown */
    char message[512];
    char traceback[1024]; /* "" when none */
};

struct hook_vm; /* opaque */

/* A new sandbox; NULL when out of memory. */
struct hook_vm *hook_vm_new(const struct hook_limits *limits);

/* Frees it; hook_vm_free(NULL) is a no-op. */
void hook_vm_free(struct hook_vm *vm);

/*
 * Runs a policy file's text (Lua source only; a precompiled chunk is refused) in a fresh
 * environment, under the limits, and keeps the environment: the functions it defines are
 * its hooks. `name` is how messages name the file ("policies/residency.lua"). Returns the
 * file's index (>= 0), or -1 with *err filled.
 */
int hook_vm_load(struct hook_vm *vm, const char *name, const char *text, size_t len,
                 struct hook_error *err);

/* How many files are loaded, and a file's name. */
size_t hook_vm_nfiles(const struct hook_vm *vm);
const char *hook_vm_file_name(const struct hook_vm *vm, size_t file);

/* Whether file `file` defines a function called `hook`. */
bool hook_vm_defines(struct hook_vm *vm, size_t file, const char *hook);

/* The Lua state, for building arguments with the hook_ro_* calls below and reading
 * results. Only between those calls and hook_vm_call. */
struct lua_State *hook_vm_state(struct hook_vm *vm);

/*
 * Read-only values. Build a plain table on the Lua stack with the usual lua_* calls, then
 * hook_ro_wrap turns the table on top of the stack (and every table inside it) into a
 * read-only view in place: reads, #, pairs and ipairs work; any write, rawset,
 * setmetatable or getmetatable trick fails with "policy tried to modify read-only table".
 * `what` names it in that message ("plan", "offer"). Returns 0, or -1 when out of memory
 * (the stack is as before, the table popped).
 */
int hook_ro_wrap(struct lua_State *L, const char *what);

/*
 * Read tracking, so that hooks whose results are cached (filter_offer, score_offer) can be
 * cached by what they actually read. hook_ro_wrap_tracked wraps like hook_ro_wrap, and every
 * read through the view (and the views made for tables inside it) calls the tracker set
 * with hook_vm_track: `tag` (> 0) says which view, `key` is the stack index of the key read,
 * or 0 when the policy read the whole view (pairs, next, #). The tracker may raise a Lua
 * error (luaL_error). A tracked view belongs to the tracking generation it was made in:
 * each hook_vm_track call starts a new one, and touching a view of another generation is an
 * error, so a policy can't keep a table from one call and read it in a later, cached one.
 */
typedef void (*hook_track_fn)(void *ctx, struct lua_State *L, int tag, int key);
void hook_vm_track(struct hook_vm *vm, hook_track_fn fn, void *ctx);
int hook_ro_wrap_tracked(struct lua_State *L, const char *what, int tag);

/*
 * Calls `hook` of file `file` with the `nargs` values on top of the stack (popped), under
 * the limits. On success returns 0 with `nresults` results on the stack (missing ones as
 * nil); the caller reads and pops them. On a Lua error, a limit reached, or a non-function
 * hook, returns -1 with *err filled ("policies/x.lua:12: message" and a traceback) and
 * nothing left on the stack.
 */
int hook_vm_call(struct hook_vm *vm, size_t file, const char *hook, int nargs, int nresults,
                 struct hook_error *err);

/* "policies/x.lua:12: message" (or "policies/x.lua: message") into out. */
void hook_error_format(const struct hook_error *err, char *out, size_t outlen);

#endif
