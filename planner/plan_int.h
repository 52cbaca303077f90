/*
 * Inside the placement compiler (planner/plan*.c only): the model the solvers work on.
 * plan_model.c turns a spec and a catalog into groups of interchangeable nodes, each with a
 * short list of options (the cheapest fitting offer per region, or per zone); plan_fast.c
 * and plan_exact.c choose how many nodes go to each option; plan_explain.c says why a group
 * or a budget cannot be satisfied; plan.c assembles the plan_result. docs/planner.md
 * argues the design.
 *
 * Ownership: a plan_model lives in its own arena (plan_model_free); it borrows the spec,
 * the catalog and the plan_options' current placements, which must outlive it.
 */
#ifndef GPUFORM_PLANNER_PLAN_INT_H
#define GPUFORM_PLANNER_PLAN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/diag.h"
#include "parser/spec.h"
#include "planner/catalog.h"
#include "planner/plan.h"
#include "planner/plan_render.h"

#define PLAN_HOURS_PER_MONTH 730.0

/* Why an offer does not fit a group, in the order they are checked (the first that applies
 * is the one counted). */
enum plan_reason {
    PLAN_R_WRONG_GPU,   /* model not among gpu.names */
    PLAN_R_WRONG_COUNT, /* GPUs per instance != gpu.count */
    PLAN_R_MEMORY,      /* model's datasheet memory outside gpu.memory */
    PLAN_R_CLOUD,       /* cloud not declared, or not in placement.clouds */
    PLAN_R_UNDECLARED,  /* region not in the cloud's declared `regions` */
    PLAN_R_EXCLUDED,    /* region dropped by placement.regions include/exclude */
    PLAN_R_SITE_CLOUD,  /* federated: not the site's cloud */
    PLAN_R_SITE_REGION, /* federated: not the site's region */
    PLAN_R_NO_SPOT,     /* spot: always, and the offer has no spot price */
    PLAN_R_NO_ONDEMAND, /* spot: never, and the offer has no on-demand price */
    PLAN_R_NO_PRICE,    /* spot: auto, and the offer has neither price */
    PLAN_R_COUNT
};

/* A (cloud, region) that an offer, a declaration or a site names. */
struct plan_region {
    enum core_cloud cloud;
    const char *name;
    bool declared;                 /* listed under the cloud's `regions` */
    int64_t quota;                 /* GPUs at once; -1 = no quota */
    const struct spec_quota *qsrc; /* the quota entry that applies (its region or "*") */
    int row;                       /* quota row in the solver, -1 when none */
};

struct plan_zone {
    int region;
    const char *name; /* "" for offers priced per region only */
};

/*
 * Where some of a group's nodes may go. A base option is the cheapest fitting offer of one
 * region (together: none or region) or one zone (together: zone); within a region every
 * cost a solver looks at (price, egress, quota, budgets) grows with the hourly price, so no
 * other offer of that region can do better. A kept option is one node's current offer
 * (stability): it holds at most one node and costs (1 - move_threshold) of its price when
 * choosing, so that moving must save more than the threshold.
 */
struct plan_opt {
    const struct plan_offer *offer;
    int region, zone;
    int lreg; /* the group's local index of `region` */
    int row;  /* the region's quota row, -1 when none (set once rows are known) */
    int loc;  /* together: the location (region or zone id) it stands for */
    enum core_cloud cloud;
    int rank; /* offer's position in (cloud, region, zone, instance type) order */
    bool spot;
    double hourly;  /* USD per hour per node */
    double egress;  /* USD per node */
    double cost;    /* true cost per node: hourly * hours + egress */
    double adj;     /* cost the solvers minimise: cost, or (1 - threshold) * cost when kept */
    size_t noffers; /* offers fitting individually at this region/zone (diagnostics) */
    int kept;       /* -1, or the node index whose current place this is */
};

/* Offers a policy's filter_offer rejected for one reason (plan_judge.reason). */
struct plan_hreason {
    int id;
    size_t n;
};

/* Interchangeable nodes: a training/batch/service workload, or one site of a federated one. */
struct plan_group {
    const struct spec_workload *w;
    size_t wi;                    /* workload index in the spec */
    const struct spec_site *site; /* federated: the site; NULL otherwise */
    const char *label;            /* "llm-pretrain" or "fl-clinics[paris]" */
    const struct core_loc *loc;   /* where diagnostics point */
    int n;                        /* nodes */
    int gpus;                     /* GPUs per node */
    int spread;                   /* clouds the nodes must span (<= 1: no rule) */
    int maxpr;                    /* nodes per region at most (n when no rule) */
    enum spec_together together;
    double hours;
    struct plan_opt *opts; /* base options sorted by (adj, rank), then kept options */
    int nopts, nbase;
    int *lreg_region; /* local region -> plan_region index */
    int nlreg;
    int *statcap; /* per local region: nodes that may ever go there (maxpr, quota alone) */
    int *budgets; /* indices of the budgets covering the workload */
    int nbudgets;
    int xoff;         /* this group's first entry in a plan_sol's x */
    const int *olreg; /* per option: opts[o].lreg, packed (the subproblem's hot loop) */
    size_t reasons[PLAN_R_COUNT];
    struct plan_hreason *hreasons; /* offers the policies rejected, by reason, in id order */
    int nhreasons;
    size_t nfit;                         /* offers that fit individually */
    const struct plan_current **current; /* per node index, or NULL: where it runs now */
};

struct plan_budget_row {
    const struct spec_budget *b;
    double cap;         /* USD/h: min(hourly, monthly / 730) */
    bool monthly_binds; /* the monthly cap is the tighter one */
};

struct plan_model {
    struct core_arena arena;
    const struct spec *spec;
    const struct plan_catalog *cat;
    const struct plan_judge *judge; /* the policies' offer hooks, or NULL */
    double threshold;
    struct plan_region *regions;
    int nregions;
    struct plan_zone *zones;
    int nzones;
    int *offer_region, *offer_zone, *offer_rank; /* per catalog offer */
    struct plan_group *groups;
    int ngroups;
    int nx;          /* total options over all groups */
    int *row_region; /* quota row -> region */
    int nrows;
    struct plan_budget_row *budgets; /* one per spec budget, in spec order */
    int nbudgets;
    size_t nnodes;
};

/* A placement: nodes per option. */
struct plan_sol {
    int *x;       /* model->nx entries: nodes at each option (group g at x + g->xoff) */
    bool *placed; /* per group */
    int unplaced;
    double cost; /* true cost of the placed groups */
    double adj;  /* what the solver minimises (kept nodes discounted) */
};

/* Builds the model; 0, or -1 on out of memory (reported to diags) or when a policy's offer
 * hook failed (the judge reported it). */
int plan_model_build(const struct spec *spec, const struct plan_catalog *cat,
                     const struct plan_options *opts, struct core_diags *diags,
                     struct plan_model **out);
void plan_model_free(struct plan_model *m);

/* A solution's storage, in the model's arena; NULL on out of memory. */
struct plan_sol *plan_sol_new(struct plan_model *m);
void plan_sol_copy(const struct plan_model *m, struct plan_sol *dst, const struct plan_sol *src);
/* Recomputes cost, adj and unplaced from x and placed. */
void plan_sol_eval(const struct plan_model *m, struct plan_sol *s);

/* Scratch space for plan_sp_solve, sized for every group of a model. */
struct plan_sp_ws;
struct plan_sp_ws *plan_sp_ws_new(const struct plan_model *m);
void plan_sp_ws_free(struct plan_sp_ws *w);

/*
 * The exact subproblem of one group: place g->n nodes over its options at least total
 * p[o] per node, at most cap[lreg] nodes per local region, honouring together and spread.
 * Writes nodes per option to x (g->nopts entries) and returns the total, or INFINITY when
 * no choice exists.
 */
double plan_sp_solve(const struct plan_group *g, const double *p, const int *cap, int *x,
                     struct plan_sp_ws *w);

/* The same where the nodes of local region l past soft[l] cost pen[l] more each (repair:
 * the least quota overflow). */
double plan_sp_solve_soft(const struct plan_group *g, const double *p, const int *cap,
                          const int *soft, const double *pen, int *x, struct plan_sp_ws *w);

/* Result of the fast solver. */
struct plan_fast_out {
    double lower_bound; /* on the minimum of sum adj; -INFINITY when none */
    int iterations;
};

/*
 * Fills `best` with the best placement found (all groups placed if it returns 0). -1 when
 * some group could not be placed or a budget not met: `best` then holds the attempt with
 * the fewest groups unplaced, for plan_explain_*.
 */
int plan_fast_solve(struct plan_model *m, struct plan_sol *best, struct plan_fast_out *out);

/* Small stacks (at most 64 nodes): a bounded exhaustive search from `best`. 1 when it
 * proved `best` optimal (replacing it by a cheaper plan if it found one), 0 when the stack
 * is too big or the search ran out of steps. Deterministic. */
int plan_prove_small(const struct plan_model *m, struct plan_sol *best);

/* The exact solver: LP file and the `cbc` program. 0 optimal or feasible (lower_bound set),
 * 1 infeasible, -1 error (reported to diags). */
int plan_exact_solve(struct plan_model *m, const struct plan_options *opts,
                     struct core_diags *diags, struct plan_sol *sol, double *lower_bound,
                     bool *proven);

/* Checks that need no solver: groups that fit nowhere even alone, budgets below the least
 * hourly price their workloads can have. Reports each; returns how many were reported. */
int plan_explain_static(const struct plan_model *m, struct core_diags *diags);

/* Reports why the unplaced groups of `s` (and the budgets it breaks) could not be met,
 * given what the placed ones use. Returns how many were reported. */
int plan_explain_failure(const struct plan_model *m, const struct plan_sol *s,
                         struct core_diags *diags);

/* Residual capacity helpers shared by the solvers and explanations. */
void plan_usage(const struct plan_model *m, const struct plan_sol *s, int64_t *row_used,
                double *budget_used);
/* Nodes of `g` that fit per local region given GPUs used per quota row. */
void plan_caps(const struct plan_model *m, const struct plan_group *g, const int64_t *row_used,
               int *cap);

#endif
