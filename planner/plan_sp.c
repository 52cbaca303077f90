/*
 * The one-group subproblem every solver step reduces to: place a group's n nodes over its
 * options at least cost, with per-region caps (max_per_region, quota left), together and
 * spread. It is solved exactly: the cost of the k-th node in a region never falls as k
 * grows, so taking the cheapest node anywhere is optimal (a partition matroid); a spread
 * rule forces in the cheapest node of each cloud of a cloud set (at most 2^3 sets); a
 * together rule tries each location. Repair may price nodes past a soft cap per region
 * higher, to ask for the least overflow of a quota.
 */
#include "planner/plan_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct plan_sp_ws {
    int *order, *tmp; /* options by price */
    int *rem;         /* per local region: nodes that may still go there */
    int *used;        /* per local region: nodes placed there */
    int *tx;          /* a trial's nodes per option */
    int *run_opt, *run_cnt, *run_order, *run_tmp;
    double *run_p;
};

struct plan_sp_ws *plan_sp_ws_new(const struct plan_model *m)
{
    size_t maxo = 1, maxl = 1;
    for (int g = 0; g < m->ngroups; g++) {
        maxo = (size_t)m->groups[g].nopts > maxo ? (size_t)m->groups[g].nopts : maxo;
        maxl = (size_t)m->groups[g].nlreg > maxl ? (size_t)m->groups[g].nlreg : maxl;
    }
    size_t maxr = 2 * maxo + 2;
    struct plan_sp_ws *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->order = calloc(maxo, sizeof(int));
    w->tmp = calloc(maxo, sizeof(int));
    w->rem = calloc(maxl, sizeof(int));
    w->used = calloc(maxl, sizeof(int));
    w->tx = calloc(maxo, sizeof(int));
    w->run_opt = calloc(maxr, sizeof(int));
    w->run_cnt = calloc(maxr, sizeof(int));
    w->run_order = calloc(maxr, sizeof(int));
    w->run_tmp = calloc(maxr, sizeof(int));
    w->run_p = calloc(maxr, sizeof(double));
    if (!w->order || !w->tmp || !w->rem || !w->used || !w->tx || !w->run_opt || !w->run_cnt ||
        !w->run_order || !w->run_tmp || !w->run_p) {
        plan_sp_ws_free(w);
        return NULL;
    }
    return w;
}

void plan_sp_ws_free(struct plan_sp_ws *w)
{
    if (!w)
        return;
    free(w->order);
    free(w->tmp);
    free(w->rem);
    free(w->used);
    free(w->tx);
    free(w->run_opt);
    free(w->run_cnt);
    free(w->run_order);
    free(w->run_tmp);
    free(w->run_p);
    free(w);
}

/* Tie-break order of options: price, kept before new, catalog order. */
static bool before(const struct plan_group *g, const double *p, int a, int b)
{
    if (p[a] != p[b])
        return p[a] < p[b];
    bool ka = g->opts[a].kept >= 0, kb = g->opts[b].kept >= 0;
    if (ka != kb)
        return ka;
    if (g->opts[a].rank != g->opts[b].rank)
        return g->opts[a].rank < g->opts[b].rank;
    return a < b;
}

/* Stable merge sort of idx[0..n) by less(a, b); tmp holds n ints. */
#define MERGE_SORT(idx, tmp, n, LESS)                                                              \
    do {                                                                                           \
        int *src_ = (idx), *dst_ = (tmp);                                                          \
        for (int w_ = 1; w_ < (n); w_ *= 2) {                                                      \
            for (int lo_ = 0; lo_ < (n); lo_ += 2 * w_) {                                          \
                int mid_ = lo_ + w_ < (n) ? lo_ + w_ : (n);                                        \
                int hi_ = lo_ + 2 * w_ < (n) ? lo_ + 2 * w_ : (n);                                 \
                int i_ = lo_, j_ = mid_, k_ = lo_;                                                 \
                while (i_ < mid_ && j_ < hi_) {                                                    \
                    int a = src_[j_], b = src_[i_];                                                \
                    dst_[k_++] = (LESS) ? src_[j_++] : src_[i_++];                                 \
                }                                                                                  \
                while (i_ < mid_)                                                                  \
                    dst_[k_++] = src_[i_++];                                                       \
                while (j_ < hi_)                                                                   \
                    dst_[k_++] = src_[j_++];                                                       \
            }                                                                                      \
            int *t_ = src_;                                                                        \
            src_ = dst_;                                                                           \
            dst_ = t_;                                                                             \
        }                                                                                          \
        if (src_ != (idx))                                                                         \
            memcpy((idx), src_, (size_t)(n) * sizeof(int));                                        \
    } while (0)

static void sort_options(const struct plan_group *g, const double *p, struct plan_sp_ws *w)
{
    int n = g->nopts;
    for (int i = 0; i < n; i++)
        w->order[i] = i;
    MERGE_SORT(w->order, w->tmp, n, before(g, p, a, b));
}

/*
 * The marginal nodes of every region as runs (option, count, price per node): a region's
 * options cheapest first, up to its cap, the part past its soft cap dearer by pen. Within a
 * region the price per node never falls, so a global sort keeps each region's runs in order.
 */
static int make_runs(const struct plan_group *g, const double *p, const int *cap, const int *soft,
                     const double *pen, struct plan_sp_ws *w)
{
    int nr = 0;
    for (int l = 0; l < g->nlreg; l++)
        w->used[l] = 0;
    for (int i = 0; i < g->nopts; i++) {
        int o = w->order[i], l = g->opts[o].lreg;
        int room = cap[l] - w->used[l];
        if (room <= 0)
            continue;
        int m = g->opts[o].kept >= 0 ? 1 : (room < g->n ? room : g->n);
        if (m > room)
            m = room;
        int cheap = m;
        if (soft) {
            int left = soft[l] - w->used[l];
            cheap = left <= 0 ? 0 : (left < m ? left : m);
        }
        if (cheap > 0) {
            w->run_opt[nr] = o, w->run_cnt[nr] = cheap, w->run_p[nr] = p[o];
            nr++;
        }
        if (m > cheap) {
            w->run_opt[nr] = o, w->run_cnt[nr] = m - cheap, w->run_p[nr] = p[o] + pen[l];
            nr++;
        }
        w->used[l] += m;
    }
    for (int r = 0; r < nr; r++)
        w->run_order[r] = r;
    /* Equal prices keep run order, so a region's runs stay in sequence. */
    MERGE_SORT(w->run_order, w->run_tmp, nr,
               w->run_p[a] < w->run_p[b] || (w->run_p[a] == w->run_p[b] && a < b));
    return nr;
}

/* Takes `need` more nodes from the runs, cheapest first, less the nodes forced[r] already
 * taken from run r (NULL: none); returns the added price or INFINITY. */
static double take(const struct plan_group *g, struct plan_sp_ws *w, int nr, int need, int *x,
                   const int *forced)
{
    double cost = 0;
    for (int k = 0; k < nr && need > 0; k++) {
        int r = w->run_order[k];
        int cnt = w->run_cnt[r] - (forced ? forced[r] : 0);
        if (cnt <= 0)
            continue;
        int t = cnt < need ? cnt : need;
        x[w->run_opt[r]] += t;
        cost += t * w->run_p[r];
        need -= t;
    }
    (void)g;
    return need > 0 ? INFINITY : cost;
}

static int popcount(unsigned v)
{
    int n = 0;
    for (; v; v &= v - 1)
        n++;
    return n;
}

static double solve_spread(const struct plan_group *g, const double *p, const int *cap,
                           const int *soft, const double *pen, int *x, struct plan_sp_ws *w)
{
    int n = g->nopts;
    int nr = make_runs(g, p, cap, soft, pen, w);
    memset(x, 0, (size_t)n * sizeof(int));
    double best = take(g, w, nr, g->n, x, NULL);
    if (!isfinite(best) || g->spread <= 1)
        return best;
    unsigned used = 0, avail = 0;
    for (int o = 0; o < n; o++)
        if (x[o])
            used |= 1u << g->opts[o].cloud;
    if (popcount(used) >= g->spread)
        return best;
    for (int r = 0; r < nr; r++)
        avail |= 1u << g->opts[w->run_opt[r]].cloud;
    /* forced[r]: nodes of run r taken by force (reuses run_tmp). */
    int *forced = w->run_tmp;
    best = INFINITY;
    for (unsigned set = 1; set < (1u << CORE_CLOUD_COUNT); set++) {
        int k = popcount(set);
        if ((set & ~avail) || k < g->spread || k > g->n)
            continue;
        memset(forced, 0, (size_t)nr * sizeof(int));
        memset(w->tx, 0, (size_t)n * sizeof(int));
        double cost = 0;
        for (int c = 0; c < CORE_CLOUD_COUNT; c++) {
            if (!(set & (1u << c)))
                continue;
            for (int q = 0; q < nr; q++) {
                int r = w->run_order[q];
                if ((int)g->opts[w->run_opt[r]].cloud != c)
                    continue;
                forced[r]++;
                w->tx[w->run_opt[r]]++;
                cost += w->run_p[r];
                break;
            }
        }
        cost += take(g, w, nr, g->n - k, w->tx, forced);
        if (cost < best) {
            best = cost;
            memcpy(x, w->tx, (size_t)n * sizeof(int));
        }
    }
    if (!isfinite(best))
        memset(x, 0, (size_t)n * sizeof(int));
    return best;
}

/* All n nodes at one location (a region, or a zone): the best location. */
static double solve_together(const struct plan_group *g, const double *p, const int *cap,
                             const int *soft, const double *pen, int *x, struct plan_sp_ws *w)
{
    int n = g->nopts, best_o = -1;
    double best = INFINITY;
    memset(x, 0, (size_t)n * sizeof(int));
    if (g->spread > 1)
        return INFINITY;
    for (int i = 0; i < n; i++) {
        int o = w->order[i], l = g->opts[o].lreg;
        if (g->opts[o].kept >= 0 || cap[l] < g->n)
            continue;
        int taken = 0;
        double cost = 0;
        for (int j = 0; j < i && taken < g->n; j++) {
            int k = w->order[j];
            if (g->opts[k].kept >= 0 && g->opts[k].loc == g->opts[o].loc) {
                cost += p[k];
                taken++;
            }
        }
        cost += (g->n - taken) * p[o];
        if (soft && g->n > soft[l])
            cost += (g->n - (soft[l] > 0 ? soft[l] : 0)) * pen[l];
        if (cost < best) {
            best = cost;
            best_o = o;
        }
    }
    if (best_o < 0)
        return INFINITY;
    int taken = 0;
    for (int j = 0; j < n && taken < g->n; j++) {
        int k = w->order[j];
        if (k == best_o)
            break;
        if (g->opts[k].kept >= 0 && g->opts[k].loc == g->opts[best_o].loc) {
            x[k] = 1;
            taken++;
        }
    }
    x[best_o] = g->n - taken;
    return best;
}

/*
 * The common cases without sorting: no kept nodes and no spread rule. Together: the best
 * location in one scan. Otherwise the cheapest option with room, again and again, while
 * few regions are needed (most groups fit in one or two); -2 means "use the general way".
 */
static double solve_quick(const struct plan_group *g, const double *p, const int *cap,
                          const int *soft, const double *pen, int *x, struct plan_sp_ws *w)
{
    int n = g->nopts;
    memset(x, 0, (size_t)n * sizeof(int));
    if (g->together != SPEC_TOGETHER_NONE) {
        int best_o = -1;
        double best = INFINITY;
        for (int o = 0; o < n; o++) {
            int l = g->olreg[o];
            if (cap[l] < g->n)
                continue;
            double cost = g->n * p[o];
            if (soft && g->n > soft[l])
                cost += (g->n - (soft[l] > 0 ? soft[l] : 0)) * pen[l];
            if (cost < best || (cost == best && best_o >= 0 && before(g, p, o, best_o))) {
                best = cost;
                best_o = o;
            }
        }
        if (best_o < 0)
            return INFINITY;
        x[best_o] = g->n;
        return best;
    }
    if (soft)
        return -2;
    for (int l = 0; l < g->nlreg; l++)
        w->used[l] = 0;
    int need = g->n;
    double cost = 0;
    for (int round = 0; need > 0; round++) {
        if (round == 8)
            return -2;
        int best_o = -1;
        for (int o = 0; o < n; o++) {
            if (x[o] || cap[g->olreg[o]] - w->used[g->olreg[o]] <= 0)
                continue;
            if (best_o < 0 || p[o] < p[best_o] || (p[o] == p[best_o] && before(g, p, o, best_o)))
                best_o = o;
        }
        if (best_o < 0)
            return INFINITY;
        int l = g->opts[best_o].lreg;
        int t = cap[l] - w->used[l];
        t = t < need ? t : need;
        x[best_o] = t;
        w->used[l] += t;
        need -= t;
        cost += t * p[best_o];
    }
    return cost;
}

double plan_sp_solve_soft(const struct plan_group *g, const double *p, const int *cap,
                          const int *soft, const double *pen, int *x, struct plan_sp_ws *w)
{
    if (g->nopts == 0)
        return INFINITY;
    if (g->nopts == g->nbase && g->spread <= 1) {
        double v = solve_quick(g, p, cap, soft, pen, x, w);
        if (v != -2)
            return v;
    }
    sort_options(g, p, w);
    if (g->together != SPEC_TOGETHER_NONE)
        return solve_together(g, p, cap, soft, pen, x, w);
    return solve_spread(g, p, cap, soft, pen, x, w);
}

double plan_sp_solve(const struct plan_group *g, const double *p, const int *cap, int *x,
                     struct plan_sp_ws *w)
{
    return plan_sp_solve_soft(g, p, cap, NULL, NULL, x, w);
}
