/*
 * Early checks of policy files named under `hooks:`: each must compile as Lua 5.4 text.
 * Running hooks (sandbox, budgets, hook points) is a later layer; this one only makes a
 * syntax error surface at validate time, as `policies/x.lua:12: message`.
 */
#ifndef GPUFORM_LUA_HOOK_CHECK_H
#define GPUFORM_LUA_HOOK_CHECK_H

#include "core/diag.h"
#include "parser/spec.h"

/*
 * Compiles (does not run) every hook of `spec`, reporting syntax errors, unreadable and
 * binary-chunk files to `diags`. Returns 0 when all compiled, else -1.
 */
int hook_check_syntax(const struct spec *spec, struct core_diags *diags);

#endif
