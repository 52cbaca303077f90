/*
 * Policies: the spec's hook files run in the sandbox (lua/sandbox.h) against the plan.
 * `validate_plan(plan)` returns findings at three enforcement levels (Sentinel's):
 * advisory prints a warning, soft fails unless overridden by name, hard always fails.
 * The plan a policy sees is the plan document of docs/plan-json.md plus a `workloads` map,
 * as read-only Lua tables (docs/policies.md).
 */
#ifndef GPUFORM_LUA_POLICY_H
#define GPUFORM_LUA_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/diag.h"
#include "lua/sandbox.h"
#include "parser/spec.h"

enum policy_level {
    POLICY_ADVISORY, /* a warning */
    POLICY_SOFT,     /* fails unless --override-policy names the policy */
    POLICY_HARD,     /* always fails */
};

struct policy_finding {
    enum policy_level level;
    char *policy; /* the file that reported it, as the spec names it */
    char *message;
    char *address; /* the node it is about, or NULL */
};

struct policy_findings {
    struct policy_finding *items;
    size_t n, cap;
};

void policy_findings_release(struct policy_findings *f);

struct policy_set; /* opaque: a sandbox with every hook file loaded */

/*
 * Loads `n` policy files (`names` as messages show them, `paths` to open). A file that
 * can't be read, doesn't compile or fails while loading is an error in `diags` at its
 * line ("policies/x.lua:12: ..." with the traceback as a note). Returns 0 with *out set
 * (NULL when n is 0), or -1.
 */
int policy_load(const char *const *names, const char *const *paths, size_t n,
                const struct hook_limits *limits, struct core_diags *diags,
                struct policy_set **out);

/* The spec's `hooks:` files. */
int policy_load_spec(const struct spec *spec, const struct hook_limits *limits,
                     struct core_diags *diags, struct policy_set **out);

void policy_set_free(struct policy_set *ps);

/*
 * Adds `workloads` to a plan document: name -> {kind, count, hours, spot, verify, gpu =
 * {models, count}, labels}. Returns 0, or -1 when out of memory.
 */
int policy_add_workloads(json_t *plan_doc, const struct spec *spec);

/*
 * Calls `validate_plan(plan)` of every file that defines it, with `plan_doc` as a
 * read-only table, and appends what they return to `out` (in file order). A policy that
 * fails (an error, a limit, a result of the wrong shape) is an error in `diags` naming the
 * file and line. Returns 0 when every policy ran, -1 otherwise.
 */
int policy_validate_plan(struct policy_set *ps, json_t *plan_doc, struct policy_findings *out,
                         struct core_diags *diags);

/*
 * Lifecycle, during apply. `before_apply(change)` of every file that defines it sees each
 * change (an entry of resource_changes, docs/plan-json.md) as a read-only table and may veto
 * it: returning false (and optionally a reason as a second value) vetoes; true or nil lets
 * it go. *vetoed is set and `reason` names the policy and its reason. `after_apply(node)`
 * sees each node made or replaced as the state records it; what it returns is ignored.
 * A policy that fails is an error in `diags`; both return 0 when every policy ran.
 */
int policy_before_apply(struct policy_set *ps, json_t *change, bool *vetoed, char *reason,
                        size_t reasonlen, struct core_diags *diags);
int policy_after_apply(struct policy_set *ps, json_t *node, struct core_diags *diags);

/*
 * During a gated apply, for a node that failed verification: `on_verify(node, report)` of
 * every file that defines it, with the node as the state records it and the report
 * (docs/verify.md's JSON plus `reason`, or {status = "missing", reason = ...} when none
 * came) as read-only tables. Each must return "accept", "replace" or "taint"; the strictest
 * answer wins (replace over taint over accept). 0 with `verdict` set (or "" when no file
 * defines on_verify) and `who` naming the policy that decided; -1 when a policy failed or
 * returned anything else: an error in `diags` at the file and the line defining on_verify.
 */
int policy_on_verify(struct policy_set *ps, json_t *node, json_t *report, char *verdict,
                     size_t vlen, char *who, size_t wholen, struct core_diags *diags);

/* Whether any file defines `hook`. */
bool policy_defines(struct policy_set *ps, const char *hook);

const char *policy_level_name(enum policy_level level);

#endif
