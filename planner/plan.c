/*
 * plan_solve: builds the model, reports what can't work before solving, runs the fast
 * solver (or cbc), explains a failure, and turns the chosen options into one plan_node per
 * node with its address, price, hours, egress and cost.
 */
#include "planner/plan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "planner/plan_int.h"

#define PLAN_MAX_NODES 2000000

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Fills the nodes of group g from x, in index order: kept nodes keep their index, the
 * others take the free ones in catalog order of their places. `slot` holds g->n ints,
 * `order` g->nopts. Returns how many nodes, 0 on out of memory. */
static size_t group_nodes(struct plan_result *r, const struct plan_group *g, const int *x,
                          struct plan_node *nodes, int *slot, int *order)
{
    for (int i = 0; i < g->n; i++)
        slot[i] = -1;
    for (int o = 0; o < g->nopts; o++)
        if (x[o] && g->opts[o].kept >= 0)
            slot[g->opts[o].kept] = o;
    int n = 0;
    for (int o = 0; o < g->nopts; o++)
        if (x[o] && g->opts[o].kept < 0) {
            int j = n++;
            while (j > 0 && g->opts[order[j - 1]].rank > g->opts[o].rank) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = o;
        }
    int next = 0;
    for (int k = 0; k < n; k++)
        for (int c = 0; c < x[order[k]]; c++) {
            while (next < g->n && slot[next] >= 0)
                next++;
            if (next < g->n)
                slot[next] = order[k];
        }
    for (int i = 0; i < g->n; i++) {
        if (slot[i] < 0)
            return 0;
        const struct plan_opt *op = &g->opts[slot[i]];
        struct plan_node *nd = &nodes[i];
        nd->workload = g->w;
        nd->site = g->site;
        nd->offer = op->offer;
        nd->spot = op->spot;
        nd->hourly = op->hourly;
        nd->hours = g->hours;
        nd->egress = op->egress;
        nd->cost = op->cost;
        nd->kept = op->kept >= 0;
        nd->index = g->site ? -1 : i;
        nd->address = g->site ? core_arena_printf(&r->arena, "%s[%s]", g->w->name, g->site->name)
                              : core_arena_printf(&r->arena, "%s[%d]", g->w->name, i);
        if (!nd->address)
            return 0;
    }
    return (size_t)g->n;
}

static int build_result(const struct plan_model *m, const struct plan_sol *sol,
                        struct plan_result *r)
{
    r->nodes = core_arena_alloc(&r->arena, (m->nnodes ? m->nnodes : 1) * sizeof(*r->nodes));
    r->budgets =
        core_arena_alloc(&r->arena, (size_t)(m->nbudgets ? m->nbudgets : 1) * sizeof(*r->budgets));
    int maxo = 1, maxn = 1;
    for (int g = 0; g < m->ngroups; g++) {
        maxo = m->groups[g].nopts > maxo ? m->groups[g].nopts : maxo;
        maxn = m->groups[g].n > maxn ? m->groups[g].n : maxn;
    }
    int *order = malloc((size_t)maxo * sizeof(int));
    int *slot = malloc((size_t)maxn * sizeof(int));
    if (!r->nodes || !r->budgets || !order || !slot) {
        free(order);
        free(slot);
        return -1;
    }
    r->nbudgets = (size_t)m->nbudgets;
    for (int b = 0; b < m->nbudgets; b++)
        r->budgets[b].budget = m->budgets[b].b;
    size_t k = 0;
    for (int g = 0; g < m->ngroups; g++) {
        const struct plan_group *gr = &m->groups[g];
        size_t got = group_nodes(r, gr, sol->x + gr->xoff, r->nodes + k, slot, order);
        if (got != (size_t)gr->n) {
            free(order);
            free(slot);
            return -1;
        }
        double h = 0;
        for (size_t i = k; i < k + got; i++) {
            const struct plan_node *nd = &r->nodes[i];
            h += nd->hourly;
            r->hourly += nd->hourly;
            r->total_cost += nd->cost;
            r->egress += nd->egress;
            r->nkept += nd->kept;
        }
        for (int b = 0; b < gr->nbudgets; b++)
            r->budgets[gr->budgets[b]].hourly += h;
        k += got;
    }
    free(order);
    free(slot);
    r->nnodes = k;
    r->monthly = r->hourly * PLAN_HOURS_PER_MONTH;
    for (size_t b = 0; b < r->nbudgets; b++)
        r->budgets[b].monthly = r->budgets[b].hourly * PLAN_HOURS_PER_MONTH;
    return 0;
}

static void set_gap(struct plan_result *r, double adj, double lb)
{
    if (!isfinite(lb) || lb < 0)
        lb = lb < 0 && isfinite(lb) ? lb : 0;
    if (lb > adj || adj - lb <= 1e-9 * (adj > 1 ? adj : 1))
        lb = adj;
    r->lower_bound = lb < 0 ? 0 : lb;
    r->gap = adj > 0 ? (adj - r->lower_bound) / adj : 0;
    if (r->gap < 0)
        r->gap = 0;
}

static int solve_exact(struct plan_model *m, const struct plan_options *opts,
                       struct core_diags *diags, struct plan_sol *sol, double *lb)
{
    bool proven = false;
    int rc = plan_exact_solve(m, opts, diags, sol, lb, &proven);
    if (rc < 0)
        return -1;
    struct plan_sol *fast = plan_sol_new(m);
    struct plan_fast_out fo;
    if (!fast)
        return -1;
    if (rc == 1) {
        /* cbc proved it infeasible: the fast solver's best attempt says where it breaks. */
        if (plan_fast_solve(m, fast, &fo) != 0)
            plan_explain_failure(m, fast, diags);
        else
            core_diag_add(diags, CORE_SEV_ERROR, "solver-failed", &m->spec->loc,
                          "cbc reports no placement, yet the fast solver found one; use "
                          "--solver fast");
        return -1;
    }
    if (!proven) {
        plan_fast_solve(m, fast, &fo);
        *lb = fo.lower_bound;
    }
    return 0;
}

int plan_solve(const struct spec *spec, const struct plan_catalog *cat,
               const struct plan_options *opts, struct core_diags *diags, struct plan_result **out)
{
    *out = NULL;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    static const struct plan_options defaults = {.solver = PLAN_SOLVER_FAST};
    if (!opts)
        opts = &defaults;
    size_t nodes = 0;
    for (size_t i = 0; i < spec->nworkloads; i++) {
        const struct spec_workload *w = &spec->workloads[i];
        nodes += w->kind == SPEC_KIND_FEDERATED ? w->nsites : (size_t)w->count;
    }
    if (nodes > PLAN_MAX_NODES) {
        core_diag_add(diags, CORE_SEV_ERROR, "plan-too-large", &spec->loc,
                      "the stack asks for %zu nodes; gpuform plans at most %d at once", nodes,
                      PLAN_MAX_NODES);
        return -1;
    }
    struct plan_model *m = NULL;
    if (plan_model_build(spec, cat, opts, diags, &m) != 0)
        return -1;
    struct plan_result *r = NULL;
    struct plan_sol *sol = NULL;
    double lb = -INFINITY;
    if (plan_explain_static(m, diags) > 0)
        goto fail;
    sol = plan_sol_new(m);
    if (!sol)
        goto oom;
    if (opts->solver == PLAN_SOLVER_EXACT) {
        if (solve_exact(m, opts, diags, sol, &lb) != 0)
            goto fail;
    } else {
        struct plan_fast_out fo;
        if (plan_fast_solve(m, sol, &fo) != 0) {
            plan_explain_failure(m, sol, diags);
            goto fail;
        }
        lb = fo.lower_bound;
    }
    r = calloc(1, sizeof(*r));
    if (!r)
        goto oom;
    core_arena_init(&r->arena, 0);
    r->spec = spec;
    r->catalog = cat;
    r->solver = opts->solver == PLAN_SOLVER_EXACT ? "cbc" : "fast";
    if (build_result(m, sol, r) != 0)
        goto oom;
    set_gap(r, sol->adj, lb);
    r->solve_seconds = seconds_since(&t0);
    plan_model_free(m);
    *out = r;
    return 0;
oom:
    core_diag_add(diags, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory while planning");
fail:
    plan_result_free(r);
    plan_model_free(m);
    return -1;
}

void plan_result_free(struct plan_result *r)
{
    if (!r)
        return;
    core_arena_release(&r->arena);
    free(r);
}
