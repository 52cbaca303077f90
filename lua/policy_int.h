/*
 * Inside the policy layer (lua/policy*.c only): the policy set and its error reporting,
 * shared by the plan-level hooks (policy.c) and the offer hooks (policy_offer.c).
 */
#ifndef GPUFORM_LUA_POLICY_INT_H
#define GPUFORM_LUA_POLICY_INT_H

#include "core/diag.h"
#include "lua/policy.h"
#include "lua/sandbox.h"
#include "parser/node.h"

struct policy_set {
    struct hook_vm *vm;
    const struct core_source **srcs; /* per file, for locations */
    size_t n;
};

/* A policy error as a diagnostic at its file and line (code: "policy-error" for an error
 * or a limit, "policy-result" for a result of the wrong shape), the traceback's Lua frames
 * as notes. */
void policy_report(struct policy_set *ps, size_t file, const char *code,
                   const struct hook_error *err, struct core_diags *diags);

#endif
