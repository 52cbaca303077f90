/*
 * Small stacks are proven, not estimated: a depth-first search over every node's option
 * (nodes of a group in non-decreasing option order, so each multiset is seen once), pruned
 * by the best plan so far, either confirms the fast solver's plan optimal or finds a
 * cheaper one. It runs only when the Lagrangian bound leaves a gap and gives up after a
 * fixed number of steps, so its cost stays bounded and its answer deterministic.
 */
#include "planner/plan_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PROVE_MAX_NODES 64      /* nodes in the stack */
#define PROVE_MAX_STEPS 2000000 /* search steps before giving up */

struct prove {
    const struct plan_model *m;
    int *node_group;   /* per node: its group */
    int *pick;         /* per node: its option */
    int n;             /* nodes */
    double *rest;      /* rest[k]: least cost of nodes k.. */
    int64_t *row_used; /* GPUs per quota row */
    double *bud_used;  /* USD/h per budget */
    int *lcount;       /* per node: nodes of its group in the same local region so far */
    double best;       /* cost of the best plan known */
    int *best_pick;
    bool found;
    long steps;
};

static double eps_of(double v)
{
    return 1e-9 * (fabs(v) > 1 ? fabs(v) : 1);
}

/* Can node k (of group g) take option o, given the nodes before it? */
static bool allowed(struct prove *p, int k, const struct plan_group *g, int o, int first)
{
    const struct plan_opt *op = &g->opts[o];
    if (k > first) {
        int prev = p->pick[k - 1];
        if (o < prev || (o == prev && op->kept >= 0))
            return false;
        if (g->together != SPEC_TOGETHER_NONE && g->opts[p->pick[first]].loc != op->loc)
            return false;
    }
    int in_region = 1;
    for (int j = first; j < k; j++)
        in_region += g->opts[p->pick[j]].lreg == op->lreg;
    if (in_region > g->statcap[op->lreg])
        return false;
    if (op->row >= 0 &&
        p->row_used[op->row] + g->gpus > p->m->regions[p->m->row_region[op->row]].quota)
        return false;
    for (int b = 0; b < g->nbudgets; b++) {
        const struct plan_budget_row *r = &p->m->budgets[g->budgets[b]];
        if (p->bud_used[g->budgets[b]] + op->hourly > r->cap + eps_of(r->cap))
            return false;
    }
    return true;
}

static bool spread_ok(const struct prove *p, const struct plan_group *g, int first, int last)
{
    if (g->spread <= 1)
        return true;
    unsigned clouds = 0;
    for (int j = first; j <= last; j++)
        clouds |= 1u << g->opts[p->pick[j]].cloud;
    int n = 0;
    for (; clouds; clouds &= clouds - 1)
        n++;
    return n >= g->spread;
}

static void dfs(struct prove *p, int k, int first, double cost)
{
    if (++p->steps > PROVE_MAX_STEPS)
        return;
    if (cost + p->rest[k] >= p->best - eps_of(p->best))
        return;
    if (k == p->n) {
        p->best = cost;
        memcpy(p->best_pick, p->pick, (size_t)p->n * sizeof(int));
        p->found = true;
        return;
    }
    const struct plan_group *g = &p->m->groups[p->node_group[k]];
    if (k > 0 && p->node_group[k - 1] != p->node_group[k])
        first = k;
    bool last = k + 1 == p->n || p->node_group[k + 1] != p->node_group[k];
    for (int o = 0; o < g->nopts && p->steps <= PROVE_MAX_STEPS; o++) {
        if (!allowed(p, k, g, o, first))
            continue;
        const struct plan_opt *op = &g->opts[o];
        p->pick[k] = o;
        if (last && !spread_ok(p, g, first, k))
            continue;
        if (op->row >= 0)
            p->row_used[op->row] += g->gpus;
        for (int b = 0; b < g->nbudgets; b++)
            p->bud_used[g->budgets[b]] += op->hourly;
        dfs(p, k + 1, first, cost + op->adj);
        if (op->row >= 0)
            p->row_used[op->row] -= g->gpus;
        for (int b = 0; b < g->nbudgets; b++)
            p->bud_used[g->budgets[b]] -= op->hourly;
    }
}

int plan_prove_small(const struct plan_model *m, struct plan_sol *best)
{
    if (m->nnodes == 0 || m->nnodes > PROVE_MAX_NODES || best->unplaced)
        return 0;
    struct prove p = {.m = m, .n = (int)m->nnodes, .best = best->adj};
    p.node_group = calloc((size_t)p.n, sizeof(int));
    p.pick = calloc((size_t)p.n, sizeof(int));
    p.best_pick = calloc((size_t)p.n, sizeof(int));
    p.rest = calloc((size_t)p.n + 1, sizeof(double));
    p.row_used = calloc((size_t)m->nrows + 1, sizeof(int64_t));
    p.bud_used = calloc((size_t)m->nbudgets + 1, sizeof(double));
    int rc = 0;
    if (!p.node_group || !p.pick || !p.best_pick || !p.rest || !p.row_used || !p.bud_used)
        goto done;
    int k = 0;
    for (int g = 0; g < m->ngroups; g++)
        for (int i = 0; i < m->groups[g].n; i++)
            p.node_group[k++] = g;
    for (k = p.n - 1; k >= 0; k--) {
        const struct plan_group *g = &m->groups[p.node_group[k]];
        double least = INFINITY;
        for (int o = 0; o < g->nopts; o++)
            least = g->opts[o].adj < least ? g->opts[o].adj : least;
        p.rest[k] = p.rest[k + 1] + least;
    }
    /* Strictly cheaper than the plan in hand, or nothing: that proves it optimal. */
    dfs(&p, 0, 0, 0);
    if (p.steps > PROVE_MAX_STEPS)
        goto done;
    if (p.found) {
        memset(best->x, 0, (size_t)m->nx * sizeof(int));
        for (k = 0; k < p.n; k++)
            best->x[m->groups[p.node_group[k]].xoff + p.best_pick[k]]++;
        plan_sol_eval(m, best);
    }
    rc = 1;
done:
    free(p.node_group);
    free(p.pick);
    free(p.best_pick);
    free(p.rest);
    free(p.row_used);
    free(p.bud_used);
    return rc;
}
