/*
 * The offer hooks of the policies, `filter_offer(workload, offer)` and
 * `score_offer(workload, offer)`, as the planner's judge (planner/plan.h, struct
 * plan_judge). Answers are cached by the fields each call read, so a hook must be a pure
 * function of its two tables (docs/policies.md, "Offer hooks").
 */
#ifndef GPUFORM_LUA_POLICY_OFFER_H
#define GPUFORM_LUA_POLICY_OFFER_H

#include <stddef.h>

#include "core/diag.h"
#include "lua/policy.h"
#include "parser/spec.h"
#include "planner/plan.h"

struct policy_judge; /* opaque */

/*
 * A judge over the offer hooks of `ps` (which it borrows, with `spec`; both must outlive
 * it). *out is NULL when no file defines filter_offer or score_offer (ps may be NULL).
 * A hook that fails while the planner runs (an error, a limit, a result of the wrong
 * shape) is an error in `diags` at its file and line, and the plan fails. Returns 0, or -1
 * when out of memory.
 */
int policy_judge_new(struct policy_set *ps, const struct spec *spec, struct core_diags *diags,
                     struct policy_judge **out);

/* For plan_options.judge; NULL when j is NULL. */
const struct plan_judge *policy_judge_planner(struct policy_judge *j);

struct policy_judge_stats {
    size_t judged;     /* offers judged (one market each) */
    size_t lua_calls;  /* hook calls actually run */
    size_t cache_hits; /* hook answers taken from the cache */
    size_t rejected;   /* judgements a filter said no to */
};

void policy_judge_stats(const struct policy_judge *j, struct policy_judge_stats *out);

void policy_judge_free(struct policy_judge *j);

#endif
