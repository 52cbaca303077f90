/*
 * The placement compiler: from a validated spec and an offer catalog to a cost-optimal
 * placement of every node that meets every hard constraint (GPU, memory, clouds, regions,
 * spot policy, together, spread, max_per_region, quotas, budgets), or a clear account of
 * why none exists. docs/planner.md gives the semantics and the algorithm.
 *
 * Ownership: a plan_result lives in its own arena, freed by plan_result_free(). It borrows
 * the spec (workloads, names) and the catalog (offers): both must outlive it.
 */
#ifndef GPUFORM_PLANNER_PLAN_H
#define GPUFORM_PLANNER_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/diag.h"
#include "parser/spec.h"
#include "planner/catalog.h"

/* Where a node runs today (from state, a later issue); the solver keeps it there unless
 * moving saves more than plan_options.move_threshold. */
struct plan_current {
    const char *address; /* "llm-pretrain[0]", "fl-clinics[paris]" */
    enum core_cloud cloud;
    const char *region;
    const char *zone;
    const char *instance_type;
    bool spot;
};

enum plan_solver {
    PLAN_SOLVER_FAST, /* the built-in heuristic with a Lagrangian lower bound */
    PLAN_SOLVER_EXACT /* writes an LP file and runs the `cbc` binary */
};

/*
 * The policies' offer hooks (docs/policies.md: filter_offer, score_offer) as the planner
 * sees them; lua/policy_offer.c implements them, the planner knows nothing of Lua. Every
 * offer the built-in rules let a workload use is judged, market by market, before the
 * planner weighs it: for new nodes and for the nodes that run there now.
 */
struct plan_judge {
    void *ctx;
    /* Buying `o` for a node of `w` on one market (`spot`) at `hourly` USD/h. Returns 1 when
     * it may be used, with *weighed the hourly price the solver should minimise (hourly
     * when no policy scores); 0 when a policy rejects it, with *reason an id for reason();
     * -1 when a policy failed: the judge keeps the diagnostic and the plan fails. The
     * judge may take w's address as its identity: a workload must not change while the
     * judge lives (the spec's don't). */
    int (*judge)(void *ctx, const struct spec_workload *w, const struct plan_offer *o, bool spot,
                 double hourly, double *weighed, int *reason);
    /* "policies/eu.lua: region outside the EU" */
    const char *(*reason)(void *ctx, int id);
    /* Sharing judgements between workloads: between share_begin and share_end the judge
     * notes which of the workload's fields its answers depended on; share_end returns a
     * handle (-1 on out of memory), and share_same(handle, a, b) says whether b agrees
     * with a on them, in which case every judgement for b equals a's for the same offer. */
    void (*share_begin)(void *ctx);
    int (*share_end)(void *ctx);
    bool (*share_same)(void *ctx, int handle, const struct spec_workload *a,
                       const struct spec_workload *b);
};

struct plan_options {
    enum plan_solver solver;
    const struct plan_current *current; /* may be NULL */
    size_t ncurrent;
    double move_threshold;          /* fraction, default 0.10: move only if it saves more; 0 means
                                     * the default, a negative value moves whenever it is cheaper */
    const char *lp_path;            /* exact: where to write the LP model (NULL: a temp file) */
    double time_limit_s;            /* exact: cbc's limit; 0 = none */
    const struct plan_judge *judge; /* the policies' offer hooks, or NULL */
};

struct plan_node {
    const struct spec_workload *workload;
    const char *address;            /* "name[i]" or "name[site]" */
    const struct plan_offer *offer; /* borrowed from the catalog */
    bool spot;
    double hourly;                /* USD per hour for this node */
    double hours;                 /* hours costed (the workload's; 730 a month for services) */
    double egress;                /* USD: data moved to this node's region */
    double cost;                  /* hourly * hours + egress */
    bool kept;                    /* left where plan_current had it */
    const struct spec_site *site; /* federated: the node's site; NULL otherwise */
    int index;                    /* the node's index in its workload; -1 for a site */
};

struct plan_budget_use {
    const struct spec_budget *budget;
    double hourly;  /* USD/h of the matching nodes */
    double monthly; /* USD per 730-hour month of the matching nodes */
};

struct plan_result {
    struct core_arena arena;
    struct plan_node *nodes; /* sorted by workload (spec order), then index or site name */
    size_t nnodes;
    struct plan_budget_use *budgets; /* one per spec budget, in spec order */
    size_t nbudgets;
    double total_cost; /* sum of node costs */
    double hourly;     /* sum of node hourly prices */
    double monthly;    /* hourly * 730 */
    /* Proven lower bound on the optimum and the gap (cost - bound) / cost, 0 when optimal.
     * With plan_current entries both refer to the cost the solver minimises, in which a
     * kept node counts (1 - move_threshold) of its price (docs/planner.md, "Stability"). */
    double lower_bound;
    double gap;
    const char *solver;      /* "fast" or "cbc" */
    double solve_seconds;    /* wall time; never rendered, so output stays byte-identical */
    double egress;           /* sum of node egress, USD (part of total_cost) */
    size_t nkept;            /* nodes left where plan_current had them */
    const struct spec *spec; /* borrowed: what was planned */
    const struct plan_catalog *catalog; /* borrowed: the offers it was planned over */
};

/*
 * Plans `spec` over `cat`. On success returns 0 with *out set. When some workload cannot
 * be placed, or the budgets cannot be met, returns -1 and reports each reason to `diags`
 * with counts ("llm-pretrain: 0 of 3,120 offers fit: 2,900 wrong GPU, 180 region excluded,
 * 40 over quota aws/us-east-1 (64 of 64 GPUs used)"), located at the workload in the spec.
 * Deterministic: the same inputs give the same result, byte for byte when rendered.
 */
int plan_solve(const struct spec *spec, const struct plan_catalog *cat,
               const struct plan_options *opts, struct core_diags *diags, struct plan_result **out);

void plan_result_free(struct plan_result *r);

/* The egress price table: USD per GB leaving `from` cloud's region for another region
 * (same cloud) or another cloud. Documented in docs/planner.md. */
double plan_egress_usd_per_gb(enum core_cloud from, enum core_cloud to, bool same_region);

#endif
