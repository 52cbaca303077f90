/*
 * The change set: the desired placement (a plan) against what the state says exists. Each
 * address gets one action with its reason, in the order the plan lists nodes, then the
 * deletes in address order. Terraform's action words, so policy habits carry over.
 */
#ifndef GPUFORM_EXECUTOR_DIFF_H
#define GPUFORM_EXECUTOR_DIFF_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "executor/state.h"
#include "planner/plan.h"

enum diff_action {
    DIFF_NOOP,    /* where it should be, healthy */
    DIFF_CREATE,  /* in the plan, not in the state */
    DIFF_DELETE,  /* in the state, not in the plan */
    DIFF_REPLACE, /* placement changed, tainted, failed verification or half-deleted */
    DIFF_UPDATE,  /* where it should be and healthy, but its labels (instance tags) differ */
    DIFF_VERIFY,  /* where it should be and healthy, but its verification was left pending by an
                   * interrupted run (state verify "pending") and its workload still asks for
                   * one: its report is read from its console and decided on, which may replace
                   * it (docs/verify.md, "Gated apply") */
};

struct diff_change {
    enum diff_action action;
    const char *address;
    const struct plan_node *want;  /* NULL for a delete; borrowed from the plan */
    const struct state_node *have; /* NULL for a create; borrowed from the state */
    const char *reason;            /* one line: "moves to gcp/us-central1 (saves $1.20/h)" */
    bool finish_verify; /* a verify, or an update of a node whose verification is pending:
                         * the change finishes that verification too */
};

struct diff {
    struct core_arena arena;     /* holds changes and reasons */
    struct diff_change *changes; /* every address, no-ops included */
    size_t nchanges;
    size_t ncreate, ndelete, nreplace, nupdate, nnoop;
    size_t nverify; /* DIFF_VERIFY changes (updates that finish a verification count as updates) */
    double hourly_before; /* USD/h of the nodes in the state that stay or go */
    double hourly_after;  /* USD/h of the plan (of the state after the run, when restricted) */
    size_t nskipped;      /* changes left out by diff_restrict */
};

/*
 * Diffs `plan` against `st` (NULL: no state, every node a create). Returns 0 with *out
 * filled (release with diff_release), -1 when out of memory. Borrows plan and state:
 * both must outlive the diff.
 */
int diff_compute(const struct plan_result *plan, const struct state *st, struct diff *out);

void diff_release(struct diff *d);

/* Changes to make: creates, deletes, replaces, updates and verifies (no-ops not counted). */
static inline size_t diff_nchanges(const struct diff *d)
{
    return d->ncreate + d->ndelete + d->nreplace + d->nupdate + d->nverify;
}

/*
 * Keeps only the changes of the addresses `targets` name (`--target`): an address
 * ("chat[3]"), or a workload's name for all its nodes ("chat" names "chat[0]" and
 * "chat[eu]"). The others leave the change set: counted in nskipped when they were changes,
 * and hourly_after becomes what the stack costs once only the kept changes are made.
 * Returns -1 with *unmatched set to the first target that names no address of the plan or
 * the state (nothing is changed then); 0 otherwise.
 */
int diff_restrict(struct diff *d, const char *const *targets, size_t ntargets,
                  const char **unmatched);

/* "create", "delete", "replace", "update", "verify", "no-op" */
const char *diff_action_name(enum diff_action a);

/* The Terraform action list for JSON output: ["create"], ["delete"], ["delete","create"]
 * or ["create","delete"] (a replace that creates first), ["update"], ["read"] (a verify: the
 * node's console is read, no instance changes), ["no-op"]. *n gets the length. */
const char *const *diff_action_list(enum diff_action a, bool create_first, size_t *n);

/*
 * The state's nodes as the planner's current placement, so the solver keeps a node where
 * it is unless moving saves more than the threshold. Nodes that are tainted, failed
 * verification or are being deleted are left out: they move anyway. Allocated in `arena`;
 * returns the count in *n, or -1 when out of memory.
 */
int diff_current_from_state(const struct state *st, struct core_arena *arena,
                            struct plan_current **out, size_t *n);

#endif
