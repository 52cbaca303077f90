/*
 * The fast solver. Lagrangian relaxation of the rules that couple groups (quotas, budgets),
 * with deflected subgradient steps, leaves one exact subproblem per group and gives a
 * lower bound and prices for scarce regions and budgets. Under those prices plans are
 * built (a construction in regret order with ejection; the relaxed solution itself),
 * repaired when they break a quota or budget, and improved by local search (one group,
 * then pairs) and a large neighbourhood search around full regions (alone and two at a
 * time). The work is set by counts of options, never by a clock. Fixed schedules and
 * tie-breaks keep it deterministic. docs/planner.md argues the design.
 */
#include "planner/plan_int.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ITERATIONS    500
#define MIN_ITERATIONS    40
#define ITER_WORK         2e7 /* options priced over all iterations, at most */
#define MAX_PRIMALS       15
#define MIN_PRIMALS       1
#define PRIMAL_WORK       1.2e6 /* options over all constructions, roughly */
#define BIG_MODEL         2e5   /* options: past this, no relaxed-solution repair and no LNS */
#define STALL_LIMIT       50
#define MAX_EJECT         64
#define MAX_PAIR          16
#define PAIR_ATTEMPTS     40000 /* pair moves one local search tries, at most */
#define MAX_PASSES        20
#define MAX_REPAIR_ROUNDS 50
#define LNS_PASSES        3
#define LNS_MAX           48

struct fast {
    struct plan_model *m;
    double *lambda, *mu; /* multipliers of the normalised quota and budget rows */
    double *qn, *bn;     /* normalisers: quota GPUs, budget USD/h */
    double *lam_gpu;     /* lambda / qn: the price of one GPU in each quota row */
    double *p;           /* per option (model-wide): the price a construction pays */
    double *pp;          /* one group's options: scratch prices */
    double *adjp;        /* per option: adj (true, stability-adjusted) */
    double *ohourly;     /* per option: hourly, packed for set_prices */
    int *orow;           /* per option: quota row, packed */
    struct plan_sp_ws *ws;
    struct plan_sp_ws *ws2; /* big models: the relaxation's second half (NULL: one half) */
    int split;              /* its first group */
    int64_t *row_use2;
    double *bud_use2;
    int *cap, *xg, *xs;
    int64_t *row_used;
    double *bud_used;
    double *regret;
    int *order;
    int *relx; /* the relaxed solution, per option */
    int maxopts;
    double *minh;       /* per group: least hourly price it can have alone */
    double *ideal;      /* per group: least adj it can have alone (no one else placed) */
    int *soft;          /* repair: per local region, nodes that fit the quota left */
    double *pen;        /* repair: per local region, the price of a node past soft */
    double big;         /* repair: the price of one GPU over quota (dwarfs any real price) */
    bool big_model;     /* past BIG_MODEL options: the costlier heuristics are left out */
    double *rmu;        /* repair: price per hourly dollar of each budget over its cap */
    double hours_scale; /* mean hours of the groups: the scale of a price per $/h */
    int *save_g, *save_h, *want, *xs2;
    int *placed_order;            /* construction: groups in the order they were placed */
    int *ri_start, *ri_list;      /* groups with nodes in each region (rebuilt per pass) */
    int *cand, *mark, stamp;      /* candidate groups to move, and a seen-mark per group */
    long clock;                   /* counts placements; the stamps below are clock values */
    long *region_mod, *bud_mod;   /* when a region's, a budget's use last changed */
    long *region_free, *bud_free; /* local search: when a move last left a region, a budget */
    long *one_tried;              /* per group: when moving it alone last failed */
    long *pair_tried;             /* per group: when a pair move last failed for it */
    long pair_budget;             /* pair moves a local search may still try */
    double *reserve;              /* per budget: minh of its groups not placed yet (construction) */
};

static double eps_of(double v)
{
    return 1e-9 * (fabs(v) > 1 ? fabs(v) : 1);
}

/* ---- prices ---- */

static void set_prices(struct fast *f)
{
    const struct plan_model *m = f->m;
    for (int r = 0; r < m->nrows; r++)
        f->lam_gpu[r] = f->lambda[r] / f->qn[r];
    for (int g = 0; g < m->ngroups; g++) {
        const struct plan_group *gr = &m->groups[g];
        double bpen = 0;
        for (int b = 0; b < gr->nbudgets; b++)
            bpen += f->mu[gr->budgets[b]] / f->bn[gr->budgets[b]];
        double *p = f->p + gr->xoff;
        const double *adj = f->adjp + gr->xoff, *hourly = f->ohourly + gr->xoff;
        const int *row = f->orow + gr->xoff;
        for (int o = 0; o < gr->nopts; o++) {
            p[o] = adj[o] + bpen * hourly[o];
            if (row[o] >= 0)
                p[o] += f->lam_gpu[row[o]] * gr->gpus;
        }
    }
}

/* ---- one group against what the others use ---- */

static double group_hourly(const struct plan_group *g, const int *x)
{
    double h = 0;
    for (int o = 0; o < g->nopts; o++)
        h += x[o] * g->opts[o].hourly;
    return h;
}

static bool budgets_ok(const struct fast *f, const struct plan_group *g, const int *x)
{
    double h = group_hourly(g, x);
    for (int b = 0; b < g->nbudgets; b++) {
        const struct plan_budget_row *r = &f->m->budgets[g->budgets[b]];
        double used = f->bud_used[g->budgets[b]] + f->reserve[g->budgets[b]] + h;
        if (used > r->cap + eps_of(r->cap))
            return false;
    }
    return true;
}

/* g's placement under prices p + eta * hourly and the capacity left (f->cap); its total at
 * prices p, or INFINITY. */
static double solve_eta(struct fast *f, const struct plan_group *g, const double *p, double eta,
                        int *x)
{
    for (int o = 0; o < g->nopts; o++)
        f->pp[o] = p[o] + eta * g->opts[o].hourly;
    if (!isfinite(plan_sp_solve(g, f->pp, f->cap, x, f->ws)))
        return INFINITY;
    double total = 0;
    for (int o = 0; o < g->nopts; o++)
        total += x[o] * p[o];
    return total;
}

/*
 * Best placement of g under prices p with the capacity and budget left; INFINITY if none.
 * When the cheapest breaks a budget, hourly dollars are priced eta more: the least hourly
 * placement is tried first (if even that breaks the budget, nothing fits), then eta doubles
 * from a sixteenth of g's hours until a placement fits, and a few halvings between the last
 * two values look for a cheaper one that still fits.
 */
static double place_best(struct fast *f, const struct plan_group *g, const double *p, int *x)
{
    plan_caps(f->m, g, f->row_used, f->cap);
    double v = plan_sp_solve(g, p, f->cap, x, f->ws);
    if (!isfinite(v) || budgets_ok(f, g, x))
        return v;
    double base = g->hours > 0 ? g->hours : 1;
    int *fit = f->xs2;
    double fit_v = solve_eta(f, g, p, base * 1e12, fit);
    if (!isfinite(fit_v) || !budgets_ok(f, g, fit))
        return INFINITY;
    double lo = 0, hi = base * 1e12;
    for (int k = 0; k < 40; k++) {
        double eta = base * ldexp(1.0, k - 4);
        if (eta >= hi)
            break;
        double t = solve_eta(f, g, p, eta, x);
        if (isfinite(t) && budgets_ok(f, g, x)) {
            hi = eta;
            fit_v = t;
            memcpy(fit, x, (size_t)g->nopts * sizeof(int));
            break;
        }
        lo = eta;
    }
    for (int k = 0; k < 4 && hi > lo * 1.01; k++) {
        double eta = (lo + hi) / 2;
        double t = solve_eta(f, g, p, eta, x);
        if (isfinite(t) && budgets_ok(f, g, x)) {
            hi = eta;
            if (t < fit_v) {
                fit_v = t;
                memcpy(fit, x, (size_t)g->nopts * sizeof(int));
            }
        } else {
            lo = eta;
        }
    }
    memcpy(x, fit, (size_t)g->nopts * sizeof(int));
    return fit_v;
}

static void apply(struct fast *f, struct plan_sol *s, int gi, const int *x, int sign)
{
    const struct plan_group *g = &f->m->groups[gi];
    int *sx = s->x + g->xoff;
    double h = 0;
    f->clock++;
    for (int b = 0; b < g->nbudgets; b++)
        f->bud_mod[g->budgets[b]] = f->clock;
    for (int o = 0; o < g->nopts; o++) {
        if (!x[o])
            continue;
        f->region_mod[g->opts[o].region] = f->clock;
        int row = g->opts[o].row;
        if (row >= 0)
            f->row_used[row] += (int64_t)sign * x[o] * g->gpus;
        h += x[o] * g->opts[o].hourly;
    }
    for (int b = 0; b < g->nbudgets; b++)
        f->bud_used[g->budgets[b]] += sign * h;
    if (sign > 0) {
        memcpy(sx, x, (size_t)g->nopts * sizeof(int));
        s->placed[gi] = true;
    } else {
        memset(sx, 0, (size_t)g->nopts * sizeof(int));
        s->placed[gi] = false;
    }
}

static void remove_group(struct fast *f, struct plan_sol *s, int gi, int *saved)
{
    const struct plan_group *g = &f->m->groups[gi];
    memcpy(saved, s->x + g->xoff, (size_t)g->nopts * sizeof(int));
    apply(f, s, gi, saved, -1);
}

static bool try_place(struct fast *f, struct plan_sol *s, int gi, const double *p)
{
    const struct plan_group *g = &f->m->groups[gi];
    if (!isfinite(place_best(f, g, p, f->xg)))
        return false;
    apply(f, s, gi, f->xg, +1);
    return true;
}

static bool shares_region(const struct plan_group *g, const struct plan_group *h, const int *hx)
{
    for (int o = 0; o < h->nopts; o++) {
        if (!hx[o])
            continue;
        for (int l = 0; l < g->nlreg; l++)
            if (g->lreg_region[l] == h->opts[o].region)
                return true;
    }
    for (int a = 0; a < g->nbudgets; a++)
        for (int b = 0; b < h->nbudgets; b++)
            if (g->budgets[a] == h->budgets[b])
                return true;
    return false;
}

/* g does not fit: take out one placed group that competes with it, place g, put the other
 * back elsewhere. Tries the most recently placed first. */
static bool eject_and_place(struct fast *f, struct plan_sol *s, int gi, const double *p,
                            const int *placed_order, int nplaced)
{
    const struct plan_model *m = f->m;
    int tries = 0;
    for (int k = nplaced - 1; k >= 0 && tries < MAX_EJECT; k--) {
        int hi = placed_order[k];
        const struct plan_group *h = &m->groups[hi];
        if (hi == gi || !s->placed[hi] || !shares_region(&m->groups[gi], h, s->x + h->xoff))
            continue;
        tries++;
        remove_group(f, s, hi, f->xs);
        if (try_place(f, s, gi, p + m->groups[gi].xoff)) {
            if (try_place(f, s, hi, p + h->xoff))
                return true;
            int *tmp = f->xg;
            remove_group(f, s, gi, tmp);
        }
        apply(f, s, hi, f->xs, +1);
    }
    return false;
}

/* ---- construction ---- */

static int cmp_regret(const void *a, const void *b, const double *regret)
{
    int x = *(const int *)a, y = *(const int *)b;
    if (regret[x] != regret[y])
        return regret[x] > regret[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

static void sort_by_regret(int *order, int n, const double *regret)
{
    /* Insertion into runs then merge would do; n is the number of groups, so use a simple
     * heap-free merge sort through a temporary. */
    int *tmp = malloc((size_t)(n ? n : 1) * sizeof(int));
    if (!tmp) {
        for (int i = 1; i < n; i++) {
            int v = order[i], j = i;
            while (j > 0 && cmp_regret(&v, &order[j - 1], regret) < 0) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = v;
        }
        return;
    }
    for (int width = 1; width < n; width *= 2) {
        for (int lo = 0; lo < n; lo += 2 * width) {
            int mid = lo + width < n ? lo + width : n;
            int hi = lo + 2 * width < n ? lo + 2 * width : n;
            int i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = cmp_regret(&order[j], &order[i], regret) < 0 ? order[j++] : order[i++];
            while (i < mid)
                tmp[k++] = order[i++];
            while (j < hi)
                tmp[k++] = order[j++];
        }
        memcpy(order, tmp, (size_t)n * sizeof(int));
    }
    free(tmp);
}

/* Regret: how much more the group pays per node at its second-best place (scaled by its
 * nodes); groups with one place, or needing many GPUs in one place, go first. */
static void compute_order(struct fast *f, const double *p, bool by_size)
{
    const struct plan_model *m = f->m;
    for (int g = 0; g < m->ngroups; g++) {
        const struct plan_group *gr = &m->groups[g];
        f->order[g] = g;
        if (by_size) {
            f->regret[g] = (double)gr->n * gr->gpus * (gr->together ? 2 : 1);
            continue;
        }
        const double *pg = p + gr->xoff;
        double b1 = INFINITY, b2 = INFINITY;
        for (int o = 0; o < gr->nbase; o++) {
            if (gr->statcap[gr->opts[o].lreg] <= 0)
                continue;
            if (pg[o] < b1)
                b2 = b1, b1 = pg[o];
            else if (pg[o] < b2)
                b2 = pg[o];
        }
        f->regret[g] = isfinite(b2) ? (b2 - b1) * gr->n : INFINITY;
    }
    sort_by_regret(f->order, m->ngroups, f->regret);
}

static void reset_sol(struct fast *f, struct plan_sol *s)
{
    memset(s->x, 0, (size_t)f->m->nx * sizeof(int));
    memset(s->placed, 0, (size_t)f->m->ngroups * sizeof(bool));
    memset(f->row_used, 0, (size_t)f->m->nrows * sizeof(int64_t));
    for (int b = 0; b < f->m->nbudgets; b++)
        f->bud_used[b] = 0;
}

/* Places the groups one by one in f->order. Each budget keeps back the least hourly price
 * of its groups still to place, so that early groups can't spend what later ones need. */
static void construct(struct fast *f, struct plan_sol *s, const double *p)
{
    const struct plan_model *m = f->m;
    reset_sol(f, s);
    for (int g = 0; g < m->ngroups; g++)
        for (int b = 0; b < m->groups[g].nbudgets; b++)
            f->reserve[m->groups[g].budgets[b]] += f->minh[g];
    int *placed_order = f->placed_order;
    int nplaced = 0;
    for (int k = 0; k < m->ngroups; k++) {
        int gi = f->order[k];
        for (int b = 0; b < m->groups[gi].nbudgets; b++)
            f->reserve[m->groups[gi].budgets[b]] -= f->minh[gi];
        bool ok = try_place(f, s, gi, p + m->groups[gi].xoff);
        if (!ok)
            ok = eject_and_place(f, s, gi, p, placed_order, nplaced);
        if (ok)
            placed_order[nplaced++] = gi;
    }
    for (int b = 0; b < m->nbudgets; b++)
        f->reserve[b] = 0;
    plan_sol_eval(m, s);
}

/* ---- who is in the way ---- */

/* Indexes the groups placed in each region. */
static void build_index(struct fast *f, const struct plan_sol *s)
{
    const struct plan_model *m = f->m;
    memset(f->ri_start, 0, ((size_t)m->nregions + 2) * sizeof(int));
    for (int g = 0; g < m->ngroups; g++) {
        const struct plan_group *gr = &m->groups[g];
        for (int o = 0; s->placed[g] && o < gr->nopts; o++)
            if (s->x[gr->xoff + o])
                f->ri_start[gr->opts[o].region + 2]++;
    }
    for (int r = 0; r < m->nregions; r++)
        f->ri_start[r + 2] += f->ri_start[r + 1];
    for (int g = 0; g < m->ngroups; g++) {
        const struct plan_group *gr = &m->groups[g];
        for (int o = 0; s->placed[g] && o < gr->nopts; o++)
            if (s->x[gr->xoff + o])
                f->ri_list[f->ri_start[gr->opts[o].region + 1]++] = g;
    }
}

/*
 * Groups that sit in a quota-limited region where g wants more nodes than it has (want:
 * nodes per option), in g's option order, at most `limit`, into f->cand. The index may be
 * stale: each candidate is checked against its current placement.
 */
static int blockers(struct fast *f, const struct plan_sol *s, int gi, const int *want, int limit)
{
    const struct plan_model *m = f->m;
    const struct plan_group *g = &m->groups[gi];
    int n = 0;
    f->stamp++;
    f->mark[gi] = f->stamp;
    for (int q = 0; q < g->nopts && n < limit; q++) {
        int r = g->opts[q].region;
        if (!want[q] || s->x[g->xoff + q] >= want[q] || m->regions[r].row < 0)
            continue;
        for (int k = f->ri_start[r]; k < f->ri_start[r + 1] && n < limit; k++) {
            int hi = f->ri_list[k];
            if (f->mark[hi] == f->stamp || !s->placed[hi])
                continue;
            const struct plan_group *h = &m->groups[hi];
            bool there = false;
            for (int o = 0; o < h->nopts && !there; o++)
                there = s->x[h->xoff + o] && h->opts[o].region == r;
            if (!there)
                continue;
            f->mark[hi] = f->stamp;
            f->cand[n++] = hi;
        }
    }
    return n;
}

/* ---- local search on the true (stability-adjusted) cost ---- */

static double group_value(const struct plan_group *g, const int *x)
{
    double v = 0;
    for (int o = 0; o < g->nopts; o++)
        v += x[o] * g->opts[o].adj;
    return v;
}

/* Group gi left placement x (its nodes per option) for another: room opened in those
 * regions and (perhaps) in its budgets. */
static void mark_freed(struct fast *f, int gi, const int *x)
{
    const struct plan_group *g = &f->m->groups[gi];
    for (int o = 0; o < g->nopts; o++)
        if (x[o])
            f->region_free[g->opts[o].region] = f->clock;
    for (int b = 0; b < g->nbudgets; b++)
        f->bud_free[g->budgets[b]] = f->clock;
}

/* Whether g (placed; no together, spread or kept nodes) already has its cheapest placement
 * given the others: no option cheaper than its dearest node has room for one more node.
 * Its options are sorted by adj, and filling the cheapest with room is optimal
 * (docs/planner.md §7.3), so re-placing it would find nothing cheaper. */
static bool at_best(const struct fast *f, const struct plan_sol *s, int gi)
{
    const struct plan_model *m = f->m;
    const struct plan_group *g = &m->groups[gi];
    if (g->together != SPEC_TOGETHER_NONE || g->spread > 1 || g->nopts != g->nbase)
        return false;
    const int *x = s->x + g->xoff, *orow = f->orow + g->xoff;
    const double *adj = f->adjp + g->xoff;
    int last = -1;
    for (int o = 0; o < g->nopts; o++)
        if (x[o])
            last = o;
    for (int o = 0; o < last && adj[o] < adj[last]; o++) {
        if (x[o] >= g->maxpr || x[o] >= g->statcap[g->olreg[o]])
            continue;
        int row = orow[o];
        if (row < 0 || m->regions[m->row_region[row]].quota - f->row_used[row] >= g->gpus)
            return false;
    }
    return true;
}

static bool improve_one(struct fast *f, struct plan_sol *s, int gi)
{
    const struct plan_group *g = &f->m->groups[gi];
    const double *adj = f->adjp + g->xoff;
    if (!s->placed[gi])
        return try_place(f, s, gi, adj);
    double cur = group_value(g, s->x + g->xoff);
    /* Already where it would go with no one else around: no move can save. */
    if ((isfinite(f->ideal[gi]) && cur <= f->ideal[gi] + eps_of(cur)) || at_best(f, s, gi))
        return false;
    int *saved = f->xs;
    remove_group(f, s, gi, saved);
    double v = place_best(f, g, adj, f->xg);
    if (isfinite(v) && v < cur - eps_of(cur)) {
        apply(f, s, gi, f->xg, +1);
        mark_freed(f, gi, saved);
        return true;
    }
    apply(f, s, gi, saved, +1);
    return false;
}

/* g would be cheaper where others sit: move one of them out of its way. */
static bool improve_pair(struct fast *f, struct plan_sol *s, int gi, int *save_g, int *save_h)
{
    struct plan_model *m = f->m;
    const struct plan_group *g = &m->groups[gi];
    if (!s->placed[gi])
        return false;
    /* Nothing changed around g since its last failed try: it would fail again. */
    long stamp = -1;
    for (int l = 0; l < g->nlreg; l++)
        stamp = f->region_mod[g->lreg_region[l]] > stamp ? f->region_mod[g->lreg_region[l]] : stamp;
    for (int b = 0; b < g->nbudgets; b++)
        stamp = f->bud_mod[g->budgets[b]] > stamp ? f->bud_mod[g->budgets[b]] : stamp;
    if (f->pair_tried[gi] >= stamp)
        return false;
    const double *adj = f->adjp + g->xoff;
    double cur_g = group_value(g, s->x + g->xoff);
    double want = plan_sp_solve(g, adj, g->statcap, f->want, f->ws);
    if (!isfinite(want) || want >= cur_g - eps_of(cur_g)) {
        f->pair_tried[gi] = f->clock;
        return false;
    }
    int n = blockers(f, s, gi, f->want, MAX_PAIR);
    for (int k = 0; k < n && f->pair_budget > 0; k++, f->pair_budget--) {
        int hi = f->cand[k];
        const struct plan_group *h = &m->groups[hi];
        double cur_h = group_value(h, s->x + h->xoff);
        remove_group(f, s, gi, save_g);
        remove_group(f, s, hi, save_h);
        if (try_place(f, s, gi, adj)) {
            if (try_place(f, s, hi, f->adjp + h->xoff)) {
                double nv = group_value(g, s->x + g->xoff) + group_value(h, s->x + h->xoff);
                if (nv < cur_g + cur_h - eps_of(cur_g + cur_h)) {
                    mark_freed(f, gi, save_g);
                    mark_freed(f, hi, save_h);
                    return true;
                }
                remove_group(f, s, hi, f->xg);
            }
            remove_group(f, s, gi, f->xg);
        }
        apply(f, s, hi, save_h, +1);
        apply(f, s, gi, save_g, +1);
    }
    f->pair_tried[gi] = f->clock;
    return false;
}

/* Whether room opened, for g, since its last failed move: in one of its regions, or one of
 * its budgets. When none did, every place it could go is as full as then or fuller, and
 * the move would fail again. */
static bool room_opened(const struct fast *f, int gi)
{
    const struct plan_group *g = &f->m->groups[gi];
    long t = f->one_tried[gi];
    for (int l = 0; l < g->nlreg; l++)
        if (f->region_free[g->lreg_region[l]] > t)
            return true;
    for (int b = 0; b < g->nbudgets; b++)
        if (f->bud_free[g->budgets[b]] > t)
            return true;
    return false;
}

/* Moves single groups while that saves, then (with `pairs`) pairs too, until neither does. */
static void local_search(struct fast *f, struct plan_sol *s, bool pairs)
{
    const struct plan_model *m = f->m;
    int *save_g = f->save_g, *save_h = f->save_h;
    plan_usage(m, s, f->row_used, f->bud_used);
    for (int g = 0; g < m->ngroups; g++)
        f->pair_tried[g] = f->one_tried[g] = -1;
    f->pair_budget = PAIR_ATTEMPTS;
    for (int pass = 0; pass < MAX_PASSES; pass++) {
        bool changed = false;
        for (int g = 0; g < m->ngroups; g++) {
            if (s->placed[g] && f->one_tried[g] >= 0 && !room_opened(f, g))
                continue;
            if (improve_one(f, s, g))
                changed = true;
            else
                f->one_tried[g] = f->clock;
        }
        if (!changed && pairs && (m->nrows || m->nbudgets)) {
            build_index(f, s);
            for (int g = 0; g < m->ngroups; g++)
                changed |= improve_pair(f, s, g, save_g, save_h);
        }
        if (!changed)
            break;
    }
    plan_sol_eval(m, s);
}

/* ---- large neighbourhood search around full regions ---- */

static bool full_row(const struct fast *f, int r)
{
    return f->row_used[r] * 10 >= f->m->regions[f->m->row_region[r]].quota * 9;
}

/*
 * For each region whose quota is (nearly) used up: take out every group placed there and
 * every group that would rather be there, put them back one by one in regret order (at the
 * true cost, then at the Lagrangian prices `dual`), improve, and keep the result if the
 * plan got cheaper; then the same for each two full regions together. Chains of moves
 * through full regions (A leaves for B, so C can come in) are what single and pair moves
 * miss. Run on models of at most BIG_MODEL options only.
 */
static void lns(struct fast *f, struct plan_sol *s, const double *dual)
{
    struct plan_model *m = f->m;
    if (!m->nrows || s->unplaced)
        return;
    int *set = malloc(((size_t)m->ngroups + 2 * LNS_MAX) * sizeof(int));
    int *wstart = calloc((size_t)m->nregions + 2, sizeof(int));
    int *wlist = malloc(((size_t)m->nx + 1) * sizeof(int));
    int *kept = malloc(2 * (size_t)LNS_MAX * (size_t)f->maxopts * sizeof(int));
    if (!set || !wstart || !wlist || !kept) {
        free(set);
        free(wstart);
        free(wlist);
        free(kept);
        return;
    }
    compute_order(f, f->adjp, false);
    /* Where each group would go alone: region -> groups, as build_index does. */
    for (int pass = 0; pass < 2; pass++) {
        for (int g = 0; g < m->ngroups; g++) {
            const struct plan_group *gr = &m->groups[g];
            plan_sp_solve(gr, f->adjp + gr->xoff, gr->statcap, f->want, f->ws);
            for (int o = 0; o < gr->nopts; o++) {
                if (!f->want[o])
                    continue;
                if (pass == 0)
                    wstart[gr->opts[o].region + 2]++;
                else
                    wlist[wstart[gr->opts[o].region + 1]++] = g;
            }
        }
        if (pass == 0)
            for (int r = 0; r < m->nregions; r++)
                wstart[r + 2] += wstart[r + 1];
    }
    plan_usage(m, s, f->row_used, f->bud_used);
    for (int pass = 0; pass < LNS_PASSES; pass++) {
        bool improved = false;
        build_index(f, s);
        /* Each full region alone, then each two full regions together (a chain of moves
         * through both). */
        for (int q = 0; q < m->nrows * (m->nrows + 1); q++) {
            int ra = q < m->nrows ? q : (q - m->nrows) / m->nrows;
            int rb = q < m->nrows ? -1 : (q - m->nrows) % m->nrows;
            if (!full_row(f, ra) || (rb >= 0 && (rb <= ra || !full_row(f, rb))))
                continue;
            /* The groups there, then those whose best place alone is there. */
            f->stamp++;
            int n = 0;
            for (int side = 0; side < 2; side++) {
                int r = side == 0 ? ra : rb;
                if (r < 0)
                    continue;
                int region = m->row_region[r], lim = n + LNS_MAX;
                for (int k = f->ri_start[region]; k < f->ri_start[region + 1] && n < lim; k++)
                    if (f->mark[f->ri_list[k]] != f->stamp) {
                        f->mark[f->ri_list[k]] = f->stamp;
                        set[n++] = f->ri_list[k];
                    }
                for (int k = wstart[region]; k < wstart[region + 1] && n < lim; k++)
                    if (f->mark[wlist[k]] != f->stamp) {
                        f->mark[wlist[k]] = f->stamp;
                        set[n++] = wlist[k];
                    }
            }
            if (n < 2)
                continue;
            /* Regret order (computed once, at the true cost). */
            for (int i = 1; i < n; i++) {
                int v = set[i], j = i;
                while (j > 0 && (f->regret[set[j - 1]] < f->regret[v] ||
                                 (f->regret[set[j - 1]] == f->regret[v] && set[j - 1] > v))) {
                    set[j] = set[j - 1];
                    j--;
                }
                set[j] = v;
            }
            /* Only the set moves: keep its placements to put back. */
            double before = 0;
            for (int i = 0, off = 0; i < n; i++) {
                const struct plan_group *g = &m->groups[set[i]];
                memcpy(kept + off, s->x + g->xoff, (size_t)g->nopts * sizeof(int));
                off += g->nopts;
                before += group_value(g, s->x + g->xoff);
            }
            for (int variant = 0; variant < 2; variant++) {
                const double *prices = variant == 0 ? f->adjp : dual;
                for (int i = 0; i < n; i++)
                    remove_group(f, s, set[i], f->xs);
                bool ok = true;
                for (int i = 0; i < n && ok; i++)
                    ok = try_place(f, s, set[i], prices + m->groups[set[i]].xoff);
                double after = 0;
                for (int i = 0; i < n && ok; i++) {
                    improve_one(f, s, set[i]);
                    after += group_value(&m->groups[set[i]], s->x + m->groups[set[i]].xoff);
                }
                if (ok && after < before - eps_of(before)) {
                    improved = true;
                    break;
                }
                for (int i = 0; i < n; i++)
                    if (s->placed[set[i]])
                        remove_group(f, s, set[i], f->xs);
                for (int i = 0, off = 0; i < n; i++) {
                    apply(f, s, set[i], kept + off, +1);
                    off += m->groups[set[i]].nopts;
                }
            }
        }
        if (!improved)
            break;
        local_search(f, s, true);
    }
    plan_usage(m, s, f->row_used, f->bud_used);
    plan_sol_eval(m, s);
    free(set);
    free(wstart);
    free(wlist);
    free(kept);
}

/* ---- repair: from a partial placement to a full one, least overflow first ---- */

/* How far the placement breaks the coupling rules: overflow of each quota (in quotas) and
 * of each budget (in budgets), summed. 0 when feasible. */
static double violation(const struct fast *f)
{
    const struct plan_model *m = f->m;
    double v = 0;
    for (int r = 0; r < m->nrows; r++) {
        int64_t over = f->row_used[r] - m->regions[m->row_region[r]].quota;
        if (over > 0)
            v += (double)over / f->qn[r];
    }
    for (int b = 0; b < m->nbudgets; b++) {
        double over = f->bud_used[b] - m->budgets[b].cap;
        if (over > eps_of(m->budgets[b].cap))
            v += over / f->bn[b];
    }
    return v;
}

/* Places g (not placed now) with the least quota overflow, then at the least price p plus
 * the repair's price on each budget that is over its cap. */
static void soft_place(struct fast *f, struct plan_sol *s, int gi, const double *p)
{
    const struct plan_model *m = f->m;
    const struct plan_group *g = &m->groups[gi];
    for (int l = 0; l < g->nlreg; l++) {
        const struct plan_region *r = &m->regions[g->lreg_region[l]];
        f->soft[l] = g->statcap[l];
        f->pen[l] = 0;
        if (r->row >= 0) {
            int64_t left = r->quota - f->row_used[r->row];
            int64_t fit = left > 0 ? left / g->gpus : 0;
            if (fit < f->soft[l])
                f->soft[l] = (int)fit;
            f->pen[l] = f->big * g->gpus;
        }
    }
    double bpen = 0;
    for (int b = 0; b < g->nbudgets; b++)
        bpen += f->rmu[g->budgets[b]];
    for (int o = 0; o < g->nopts; o++)
        f->pp[o] = p[o] + bpen * g->opts[o].hourly;
    plan_sp_solve_soft(g, f->pp, g->statcap, f->soft, f->pen, f->xg, f->ws);
    apply(f, s, gi, f->xg, +1);
}

static bool in_violation(const struct fast *f, const struct plan_sol *s, int gi, bool quota_only)
{
    const struct plan_model *m = f->m;
    const struct plan_group *g = &m->groups[gi];
    const int *x = s->x + g->xoff, *orow = f->orow + g->xoff;
    for (int o = 0; o < g->nopts; o++) {
        if (!x[o])
            continue;
        int row = orow[o];
        if (row >= 0 && f->row_used[row] > m->regions[m->row_region[row]].quota)
            return true;
    }
    for (int b = 0; b < g->nbudgets && !quota_only; b++) {
        const struct plan_budget_row *r = &m->budgets[g->budgets[b]];
        if (f->bud_used[g->budgets[b]] > r->cap + eps_of(r->cap))
            return true;
    }
    return false;
}

/* Moves one group, or two that compete for room, while the violation falls. */
static bool repair_round(struct fast *f, struct plan_sol *s, const double *p, double *v)
{
    const struct plan_model *m = f->m;
    bool improved = false;
    for (int gi = 0; gi<m->ngroups && * v> 0; gi++) {
        if (!in_violation(f, s, gi, false))
            continue;
        const struct plan_group *g = &m->groups[gi];
        double cost = group_value(g, s->x + g->xoff);
        remove_group(f, s, gi, f->save_g);
        soft_place(f, s, gi, p + g->xoff);
        double nv = violation(f);
        if (nv < *v - 1e-12 ||
            (nv <= *v + 1e-12 && group_value(g, s->x + g->xoff) < cost - eps_of(cost))) {
            improved |= nv < *v - 1e-12;
            *v = nv;
            continue;
        }
        remove_group(f, s, gi, f->xs);
        apply(f, s, gi, f->save_g, +1);
    }
    if (improved)
        return true;
    build_index(f, s);
    /* Two at a time: g would go where h sits (its best place with no one else around, at
     * the repair's prices): take h out, place g, then h elsewhere. */
    for (int gi = 0; gi<m->ngroups && * v> 0; gi++) {
        if (!in_violation(f, s, gi, false))
            continue;
        const struct plan_group *g = &m->groups[gi];
        double bpen = 0;
        for (int b = 0; b < g->nbudgets; b++)
            bpen += f->rmu[g->budgets[b]];
        for (int o = 0; o < g->nopts; o++)
            f->pp[o] = p[g->xoff + o] + bpen * g->opts[o].hourly;
        if (!isfinite(plan_sp_solve(g, f->pp, g->statcap, f->want, f->ws)))
            continue;
        int n = blockers(f, s, gi, f->want, MAX_EJECT);
        for (int k = 0; k<n && * v> 0; k++) {
            int hi = f->cand[k];
            const struct plan_group *h = &m->groups[hi];
            remove_group(f, s, gi, f->save_g);
            remove_group(f, s, hi, f->save_h);
            soft_place(f, s, gi, p + g->xoff);
            soft_place(f, s, hi, p + h->xoff);
            double nv = violation(f);
            if (nv < *v - 1e-12) {
                *v = nv;
                improved = true;
                break;
            }
            remove_group(f, s, hi, f->xs);
            remove_group(f, s, gi, f->xs);
            apply(f, s, hi, f->save_h, +1);
            apply(f, s, gi, f->save_g, +1);
        }
    }
    return improved;
}

/* Completes s (whose placed groups meet every rule) by placing the others with the least
 * overflow and moving groups until no rule is broken. True when that succeeded; s is then
 * complete and feasible. */
static bool repair(struct fast *f, struct plan_sol *s, const double *p)
{
    const struct plan_model *m = f->m;
    plan_usage(m, s, f->row_used, f->bud_used);
    for (int b = 0; b < m->nbudgets; b++)
        f->rmu[b] = 0;
    for (int k = 0; k < m->ngroups; k++) {
        int gi = f->order[k];
        if (!s->placed[gi])
            soft_place(f, s, gi, p + m->groups[gi].xoff);
    }
    double v = violation(f);
    for (int round = 0; round < MAX_REPAIR_ROUNDS && v > 0; round++) {
        /* A budget still over its cap prices its hourly dollars higher, doubling. */
        bool over = false;
        for (int b = 0; b < m->nbudgets; b++)
            if (f->bud_used[b] > m->budgets[b].cap + eps_of(m->budgets[b].cap)) {
                f->rmu[b] = f->rmu[b] > 0 ? 2 * f->rmu[b] : f->hours_scale / 4;
                over = true;
            }
        if (!repair_round(f, s, p, &v) && !over)
            break;
    }
    plan_sol_eval(m, s);
    return v <= 0;
}

/* ---- the Lagrangian loop ---- */

static bool better(const struct plan_sol *a, const struct plan_sol *b)
{
    if (a->unplaced != b->unplaced)
        return a->unplaced < b->unplaced;
    return a->adj < b->adj - eps_of(b->adj);
}

/* Solves every group's subproblem under the current prices, ignoring what the others use.
 * Returns the Lagrangian value; fills relx and the relaxed usage. */
static double relaxed(struct fast *f, int64_t *row_use, double *bud_use);

/*
 * Big models price and solve the relaxation in two halves of the groups (split by
 * options), the second on a thread of its own; the halves' sums are added in a fixed
 * order, so the result is the same whether the thread ran beside the first half or
 * after it.
 */
struct relax_part {
    struct fast *f;
    struct plan_sp_ws *ws;
    int g0, g1;       /* groups [g0, g1) */
    int64_t *row_use; /* GPUs per quota row */
    double *bud_use;  /* hourly per budget */
    double L;         /* sum of the subproblems' values */
    bool ok;          /* every subproblem had a solution */
};

static void *relax_part_run(void *arg)
{
    struct relax_part *r = arg;
    struct fast *f = r->f;
    const struct plan_model *m = f->m;
    r->L = 0;
    r->ok = true;
    memset(r->row_use, 0, (size_t)m->nrows * sizeof(int64_t));
    for (int b = 0; b < m->nbudgets; b++)
        r->bud_use[b] = 0;
    for (int g = r->g0; g < r->g1; g++) {
        const struct plan_group *gr = &m->groups[g];
        double bpen = 0;
        for (int b = 0; b < gr->nbudgets; b++)
            bpen += f->mu[gr->budgets[b]] / f->bn[gr->budgets[b]];
        double *p = f->p + gr->xoff;
        const double *adj = f->adjp + gr->xoff, *hourly = f->ohourly + gr->xoff;
        const int *row = f->orow + gr->xoff;
        for (int o = 0; o < gr->nopts; o++) {
            p[o] = adj[o] + bpen * hourly[o];
            if (row[o] >= 0)
                p[o] += f->lam_gpu[row[o]] * gr->gpus;
        }
        int *x = f->relx + gr->xoff;
        double v = plan_sp_solve(gr, p, gr->statcap, x, r->ws);
        if (!isfinite(v)) {
            r->ok = false;
            return NULL;
        }
        r->L += v;
        double h = 0;
        for (int o = 0; o < gr->nopts; o++) {
            if (!x[o])
                continue;
            if (row[o] >= 0)
                r->row_use[row[o]] += (int64_t)x[o] * gr->gpus;
            h += x[o] * hourly[o];
        }
        for (int b = 0; b < gr->nbudgets; b++)
            r->bud_use[gr->budgets[b]] += h;
    }
    return NULL;
}

/* set_prices, then relaxed: the same numbers, in two halves on big models. */
static double price_and_relax(struct fast *f, int64_t *row_use, double *bud_use)
{
    const struct plan_model *m = f->m;
    if (!f->ws2) {
        set_prices(f);
        return relaxed(f, row_use, bud_use);
    }
    for (int r = 0; r < m->nrows; r++)
        f->lam_gpu[r] = f->lambda[r] / f->qn[r];
    struct relax_part a = {f, f->ws, 0, f->split, row_use, bud_use, 0, true};
    struct relax_part b = {f, f->ws2, f->split, m->ngroups, f->row_use2, f->bud_use2, 0, true};
    pthread_t th;
    bool threaded = pthread_create(&th, NULL, relax_part_run, &b) == 0;
    relax_part_run(&a);
    if (threaded)
        pthread_join(th, NULL);
    else
        relax_part_run(&b);
    if (!a.ok || !b.ok)
        return -INFINITY;
    for (int r = 0; r < m->nrows; r++)
        row_use[r] += f->row_use2[r];
    for (int k = 0; k < m->nbudgets; k++)
        bud_use[k] += f->bud_use2[k];
    double L = a.L + b.L;
    for (int r = 0; r < m->nrows; r++)
        L -= f->lambda[r] * (double)m->regions[m->row_region[r]].quota / f->qn[r];
    for (int k = 0; k < m->nbudgets; k++)
        if (isfinite(m->budgets[k].cap))
            L -= f->mu[k] * m->budgets[k].cap / f->bn[k];
    return L;
}

static double relaxed(struct fast *f, int64_t *row_use, double *bud_use)
{
    const struct plan_model *m = f->m;
    double L = 0;
    memset(row_use, 0, (size_t)m->nrows * sizeof(int64_t));
    for (int b = 0; b < m->nbudgets; b++)
        bud_use[b] = 0;
    for (int g = 0; g < m->ngroups; g++) {
        const struct plan_group *gr = &m->groups[g];
        int *x = f->relx + gr->xoff;
        double v = plan_sp_solve(gr, f->p + gr->xoff, gr->statcap, x, f->ws);
        if (!isfinite(v))
            return -INFINITY;
        L += v;
        double h = 0;
        for (int o = 0; o < gr->nopts; o++) {
            if (!x[o])
                continue;
            int row = gr->opts[o].row;
            if (row >= 0)
                row_use[row] += (int64_t)x[o] * gr->gpus;
            h += x[o] * gr->opts[o].hourly;
        }
        for (int b = 0; b < gr->nbudgets; b++)
            bud_use[gr->budgets[b]] += h;
    }
    for (int r = 0; r < m->nrows; r++)
        L -= f->lambda[r] * (double)m->regions[m->row_region[r]].quota / f->qn[r];
    for (int b = 0; b < m->nbudgets; b++)
        if (isfinite(m->budgets[b].cap))
            L -= f->mu[b] * m->budgets[b].cap / f->bn[b];
    return L;
}

static int setup(struct fast *f, struct plan_model *m)
{
    memset(f, 0, sizeof(*f));
    f->m = m;
    int maxo = 1, maxl = 1;
    for (int g = 0; g < m->ngroups; g++) {
        if (m->groups[g].nopts > maxo)
            maxo = m->groups[g].nopts;
        if (m->groups[g].nlreg > maxl)
            maxl = m->groups[g].nlreg;
    }
    f->maxopts = maxo;
    size_t nr = (size_t)m->nrows + 1, nb = (size_t)m->nbudgets + 1, nx = (size_t)m->nx + 1;
    size_t ng = (size_t)m->ngroups + 1;
    f->lambda = calloc(nr, sizeof(double));
    f->qn = calloc(nr, sizeof(double));
    f->lam_gpu = calloc(nr, sizeof(double));
    f->mu = calloc(nb, sizeof(double));
    f->bn = calloc(nb, sizeof(double));
    f->p = calloc(nx, sizeof(double));
    f->adjp = calloc(nx, sizeof(double));
    f->ohourly = calloc(nx, sizeof(double));
    f->orow = calloc(nx, sizeof(int));
    f->relx = calloc(nx, sizeof(int));
    f->pp = calloc((size_t)maxo, sizeof(double));
    f->ws = plan_sp_ws_new(m);
    f->cap = calloc((size_t)maxl, sizeof(int));
    f->xg = calloc((size_t)maxo, sizeof(int));
    f->xs = calloc((size_t)maxo, sizeof(int));
    f->row_used = calloc(nr, sizeof(int64_t));
    f->bud_used = calloc(nb, sizeof(double));
    f->regret = calloc(ng, sizeof(double));
    f->order = calloc(ng, sizeof(int));
    f->minh = calloc(ng, sizeof(double));
    f->ideal = calloc(ng, sizeof(double));
    f->reserve = calloc(nb, sizeof(double));
    f->soft = calloc((size_t)maxl, sizeof(int));
    f->rmu = calloc(nb, sizeof(double));
    f->pen = calloc((size_t)maxl, sizeof(double));
    f->save_g = calloc((size_t)maxo, sizeof(int));
    f->save_h = calloc((size_t)maxo, sizeof(int));
    f->want = calloc((size_t)maxo, sizeof(int));
    f->xs2 = calloc((size_t)maxo, sizeof(int));
    f->placed_order = calloc(ng, sizeof(int));
    f->ri_start = calloc((size_t)m->nregions + 2, sizeof(int));
    f->ri_list = calloc(nx, sizeof(int));
    f->cand = calloc(ng, sizeof(int));
    f->region_mod = calloc((size_t)m->nregions + 1, sizeof(long));
    f->bud_mod = calloc(nb, sizeof(long));
    f->pair_tried = calloc(ng, sizeof(long));
    f->one_tried = calloc(ng, sizeof(long));
    f->region_free = calloc((size_t)m->nregions + 1, sizeof(long));
    f->bud_free = calloc(nb, sizeof(long));
    f->mark = calloc(ng, sizeof(int));
    if (!f->lambda || !f->qn || !f->lam_gpu || !f->mu || !f->bn || !f->p || !f->adjp || !f->relx ||
        !f->ohourly || !f->orow || !f->pp || !f->ws || !f->cap || !f->xg || !f->xs ||
        !f->row_used || !f->bud_used || !f->regret || !f->order || !f->minh || !f->ideal ||
        !f->reserve || !f->soft || !f->rmu || !f->pen || !f->save_g || !f->save_h || !f->want ||
        !f->xs2 || !f->placed_order || !f->ri_start || !f->ri_list || !f->cand || !f->mark ||
        !f->region_mod || !f->bud_mod || !f->pair_tried || !f->one_tried || !f->region_free ||
        !f->bud_free)
        return -1;
    for (int r = 0; r < m->nrows; r++) {
        double q = (double)m->regions[m->row_region[r]].quota;
        f->qn[r] = q > 1 ? q : 1;
    }
    for (int b = 0; b < m->nbudgets; b++) {
        double c = m->budgets[b].cap;
        f->bn[b] = isfinite(c) && c > 0.01 ? c : 0.01;
    }
    for (int g = 0; g < m->ngroups; g++) {
        const struct plan_group *gr = &m->groups[g];
        for (int o = 0; o < gr->nopts; o++) {
            f->adjp[gr->xoff + o] = gr->opts[o].adj;
            f->ohourly[gr->xoff + o] = gr->opts[o].hourly;
            f->orow[gr->xoff + o] = gr->opts[o].row;
            f->pp[o] = gr->opts[o].hourly;
        }
        f->minh[g] = plan_sp_solve(gr, f->pp, gr->statcap, f->xg, f->ws);
        f->ideal[g] = plan_sp_solve(gr, f->adjp + gr->xoff, gr->statcap, f->xg, f->ws);
        for (int o = 0; o < gr->nopts; o++)
            f->big = gr->opts[o].adj / gr->gpus > f->big ? gr->opts[o].adj / gr->gpus : f->big;
        if (!isfinite(f->minh[g]))
            f->minh[g] = 0;
    }
    f->big = (f->big + 1) * 1e4;
    for (int g = 0; g < m->ngroups; g++)
        f->hours_scale += m->groups[g].hours / m->ngroups;
    if (!(f->hours_scale > 0))
        f->hours_scale = 1;
    return 0;
}

/* Big models: the second half's workspace and where the halves meet (by options). */
static int split_relaxation(struct fast *f)
{
    const struct plan_model *m = f->m;
    f->ws2 = plan_sp_ws_new(m);
    f->row_use2 = calloc((size_t)m->nrows + 1, sizeof(int64_t));
    f->bud_use2 = calloc((size_t)m->nbudgets + 1, sizeof(double));
    if (!f->ws2 || !f->row_use2 || !f->bud_use2)
        return -1;
    f->split = 0;
    while (f->split < m->ngroups && m->groups[f->split].xoff < m->nx / 2)
        f->split++;
    return 0;
}

static void teardown(struct fast *f)
{
    plan_sp_ws_free(f->ws2);
    free(f->row_use2);
    free(f->bud_use2);
    free(f->lambda);
    free(f->qn);
    free(f->lam_gpu);
    free(f->mu);
    free(f->bn);
    free(f->p);
    free(f->adjp);
    free(f->ohourly);
    free(f->orow);
    free(f->relx);
    free(f->pp);
    plan_sp_ws_free(f->ws);
    free(f->cap);
    free(f->xg);
    free(f->xs);
    free(f->row_used);
    free(f->bud_used);
    free(f->regret);
    free(f->order);
    free(f->minh);
    free(f->ideal);
    free(f->reserve);
    free(f->soft);
    free(f->rmu);
    free(f->pen);
    free(f->save_g);
    free(f->save_h);
    free(f->want);
    free(f->xs2);
    free(f->placed_order);
    free(f->ri_start);
    free(f->ri_list);
    free(f->cand);
    free(f->region_mod);
    free(f->bud_mod);
    free(f->pair_tried);
    free(f->one_tried);
    free(f->region_free);
    free(f->bud_free);
    free(f->mark);
}

/* Plans under the current prices, each improved by local search; the better one is kept
 * if better than the best so far: a construction (repaired if it left groups out), and the
 * relaxed solution itself, repaired. */
static void primal(struct fast *f, struct plan_sol *trial, struct plan_sol *spare,
                   struct plan_sol *best)
{
    const struct plan_model *m = f->m;
    compute_order(f, f->p, false);
    construct(f, trial, f->p);
    /* Largest groups first, when regret order left some out (small models only: on big
     * ones it left ten times as many out on every benchmark family). */
    if (trial->unplaced && !f->big_model) {
        compute_order(f, f->p, true);
        construct(f, spare, f->p);
        if (better(spare, trial))
            plan_sol_copy(m, trial, spare);
        compute_order(f, f->p, false);
    }
    if (trial->unplaced) {
        plan_sol_copy(m, spare, trial);
        if (repair(f, spare, f->p))
            plan_sol_copy(m, trial, spare);
    }
    /* Big models: a construction still incomplete loses to any complete plan, so it is
     * improved only when the relaxed solution can't be repaired either. */
    bool deferred = f->big_model && trial->unplaced;
    if (!deferred) {
        local_search(f, trial, false);
        if (better(trial, best))
            plan_sol_copy(m, best, trial);
    }
    /* The relaxed solution breaks some quotas or budgets: repair it (on big models only
     * when the construction failed: it is the better plan, at a tenth of the time). */
    if (f->big_model && !trial->unplaced)
        return;
    memcpy(spare->x, f->relx, (size_t)m->nx * sizeof(int));
    for (int g = 0; g < m->ngroups; g++)
        spare->placed[g] = true;
    if (repair(f, spare, f->p)) {
        local_search(f, spare, false);
        if (better(spare, best))
            plan_sol_copy(m, best, spare);
    } else if (deferred) {
        local_search(f, trial, false);
        if (better(trial, best))
            plan_sol_copy(m, best, trial);
    }
}

/* Iterations after which a construction runs (and one more at the best multipliers). */
static const int primal_at[] = {0, 2, 5, 10, 20, 35, 55, 80, 110, 150, 200, 260, 330, 410, 490};

static bool primal_due(int it)
{
    for (size_t i = 0; i < sizeof(primal_at) / sizeof(primal_at[0]); i++)
        if (primal_at[i] == it)
            return true;
    return false;
}

struct dual {
    double *sub, *dir, *best; /* subgradient, deflected direction, best multipliers */
    int n;                    /* rows, then budgets */
};

/* Subgradient of the normalised rows at the relaxed solution; true when that solution
 * breaks no quota or budget. */
static bool subgradient(const struct fast *f, const int64_t *row_use, const double *bud_use,
                        double *sub)
{
    const struct plan_model *m = f->m;
    bool feasible = true;
    for (int r = 0; r < m->nrows; r++) {
        double q = (double)m->regions[m->row_region[r]].quota;
        sub[r] = ((double)row_use[r] - q) / f->qn[r];
        feasible &= sub[r] <= 1e-12;
    }
    for (int b = 0; b < m->nbudgets; b++) {
        double cap = m->budgets[b].cap;
        sub[m->nrows + b] = isfinite(cap) ? (bud_use[b] - cap) / f->bn[b] : 0;
        feasible &= !isfinite(cap) || bud_use[b] <= cap + eps_of(cap);
    }
    return feasible;
}

static double *multiplier(struct fast *f, int k)
{
    return k < f->m->nrows ? &f->lambda[k] : &f->mu[k - f->m->nrows];
}

/*
 * One step along the subgradient deflected by the previous direction (Camerini, Fratta and
 * Maffioli), which damps the zig-zag of plain steps; Polyak's step length toward `target`.
 * Returns false when there is nowhere to go.
 */
static bool dual_step(struct fast *f, struct dual *d, double L, double target, double theta)
{
    double dot = 0, dd = 0;
    for (int k = 0; k < d->n; k++) {
        dot += d->sub[k] * d->dir[k];
        dd += d->dir[k] * d->dir[k];
    }
    double beta = dot < 0 && dd > 0 ? -1.5 * dot / dd : 0;
    double norm2 = 0;
    for (int k = 0; k < d->n; k++) {
        d->dir[k] = d->sub[k] + beta * d->dir[k];
        if (*multiplier(f, k) <= 0 && d->dir[k] < 0)
            d->dir[k] = 0;
        norm2 += d->dir[k] * d->dir[k];
    }
    if (norm2 <= 0)
        return false;
    double step = theta * (target - L) / norm2;
    if (step <= 0)
        step = theta * eps_of(target) / norm2;
    for (int k = 0; k < d->n; k++) {
        double *v = multiplier(f, k);
        *v += step * d->dir[k];
        if (*v < 0)
            *v = 0;
    }
    return true;
}

int plan_fast_solve(struct plan_model *m, struct plan_sol *best, struct plan_fast_out *out)
{
    struct fast f;
    out->lower_bound = -INFINITY;
    out->iterations = 0;
    struct plan_sol *trial = plan_sol_new(m), *spare = plan_sol_new(m);
    int64_t *row_use = calloc((size_t)m->nrows + 1, sizeof(int64_t));
    double *bud_use = calloc((size_t)m->nbudgets + 1, sizeof(double));
    struct dual d = {.n = m->nrows + m->nbudgets};
    d.sub = calloc((size_t)d.n + 1, sizeof(double));
    d.dir = calloc((size_t)d.n + 1, sizeof(double));
    d.best = calloc((size_t)d.n + 1, sizeof(double));
    int rc = -1;
    if (setup(&f, m) != 0 || !trial || !spare || !row_use || !bud_use || !d.sub || !d.dir ||
        !d.best)
        goto done;
    memset(best->x, 0, (size_t)m->nx * sizeof(int));
    memset(best->placed, 0, (size_t)m->ngroups * sizeof(bool));
    best->unplaced = m->ngroups + 1;
    best->adj = best->cost = INFINITY;

    /* The work grows with the model: fewer iterations and constructions on big ones. */
    double nx = m->nx > 0 ? (double)m->nx : 1;
    int max_it = (int)fmin(MAX_ITERATIONS, fmax(MIN_ITERATIONS, ITER_WORK / nx));
    int max_primals = (int)fmin(MAX_PRIMALS, fmax(MIN_PRIMALS, PRIMAL_WORK / nx));
    f.big_model = nx > BIG_MODEL;
    if (f.big_model && split_relaxation(&f) != 0)
        goto done;
    /* Short runs halve the step sooner. */
    int stall_limit = max_it / 5 < STALL_LIMIT ? (max_it / 5 > 10 ? max_it / 5 : 10) : STALL_LIMIT;
    int primals = 0;
    double theta = 1.0, bestL = -INFINITY;
    int stall = 0;
    bool done_early = false;
    for (int it = 0; it < max_it; it++) {
        out->iterations = it + 1;
        double L = price_and_relax(&f, row_use, bud_use);
        if (!isfinite(L))
            break;
        if (!isfinite(bestL) || L > bestL + eps_of(bestL)) {
            bestL = L;
            stall = 0;
            for (int k = 0; k < d.n; k++)
                d.best[k] = *multiplier(&f, k);
        } else {
            stall++;
        }
        bool feasible = subgradient(&f, row_use, bud_use, d.sub);
        if (feasible) {
            /* The relaxed solution breaks nothing: it is a plan. */
            memcpy(trial->x, f.relx, (size_t)m->nx * sizeof(int));
            for (int g = 0; g < m->ngroups; g++)
                trial->placed[g] = true;
            plan_sol_eval(m, trial);
            if (better(trial, best))
                plan_sol_copy(m, best, trial);
        } else if (primal_due(it) && primals < max_primals) {
            primal(&f, trial, spare, best);
            primals++;
        }
        double ub = best->unplaced == 0 ? best->adj : INFINITY;
        if (isfinite(ub) && ub - bestL <= eps_of(ub)) {
            done_early = true;
            break;
        }
        double target = isfinite(ub) ? ub : fabs(bestL) * 1.05 + 1;
        if (!dual_step(&f, &d, L, target, theta))
            break;
        if (stall >= stall_limit) {
            theta /= 2;
            stall = 0;
            if (theta < 1e-4)
                break;
        }
    }
    if (!done_early) {
        /* One more construction at the multipliers that gave the best bound. */
        for (int k = 0; k < d.n; k++)
            *multiplier(&f, k) = d.best[k];
        price_and_relax(&f, row_use, bud_use);
        primal(&f, trial, spare, best);
    }
    if (best->unplaced == 0 && best->adj - bestL > eps_of(best->adj)) {
        /* The costlier moves, once, on the best plan. */
        local_search(&f, best, !f.big_model);
        if (!f.big_model)
            lns(&f, best, f.p);
    }
    out->lower_bound = bestL;
    if (best->unplaced == 0 && best->adj - bestL > eps_of(best->adj) && plan_prove_small(m, best))
        out->lower_bound = best->adj;
    if (best->unplaced == 0 && isfinite(bestL) && bestL > best->adj)
        out->lower_bound = best->adj;
    rc = best->unplaced == 0 ? 0 : -1;
done:
    teardown(&f);
    free(row_use);
    free(bud_use);
    free(d.sub);
    free(d.dir);
    free(d.best);
    return rc;
}
