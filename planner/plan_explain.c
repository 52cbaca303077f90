/*
 * Why a plan cannot be made, in numbers a user can act on: for a workload (or a federated
 * site), how many offers fail which rule, which regions are out of quota and how full they
 * are, and what together/spread/max_per_region leave; for a budget, the least its
 * workloads can cost per hour. Every message points at the workload, site or budget.
 */
#include "planner/plan_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

#define MAX_QUOTA_LISTED 3

static const char *const reason_text[PLAN_R_COUNT] = {
    [PLAN_R_WRONG_GPU] = "wrong GPU",
    [PLAN_R_WRONG_COUNT] = "wrong GPU count",
    [PLAN_R_MEMORY] = "GPU memory out of range",
    [PLAN_R_CLOUD] = "cloud not allowed",
    [PLAN_R_UNDECLARED] = "region not declared",
    [PLAN_R_EXCLUDED] = "region excluded",
    [PLAN_R_SITE_CLOUD] = "in another cloud",
    [PLAN_R_SITE_REGION] = "in another region",
    [PLAN_R_NO_SPOT] = "no spot price (spot: always)",
    [PLAN_R_NO_ONDEMAND] = "no on-demand price (spot: never)",
    [PLAN_R_NO_PRICE] = "no price",
};

static void add_reasons(struct core_buf *b, const struct plan_model *m, const struct plan_group *g,
                        const char *sep)
{
    char num[32];
    for (int r = 0; r < PLAN_R_COUNT; r++) {
        if (!g->reasons[r])
            continue;
        core_buf_addf(b, "%s%s %s", sep, plan_fmt_count(num, sizeof(num), g->reasons[r]),
                      reason_text[r]);
        sep = ", ";
    }
    for (int k = 0; k < g->nhreasons && m->judge; k++) {
        core_buf_addf(b, "%s%s rejected by %s", sep,
                      plan_fmt_count(num, sizeof(num), g->hreasons[k].n),
                      m->judge->reason(m->judge->ctx, g->hreasons[k].id));
        sep = ", ";
    }
}

static const char *region_text(const struct plan_model *m, int r, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", core_cloud_name(m->regions[r].cloud), m->regions[r].name);
    return buf;
}

/* Offers of g in local region l that fit individually. */
static size_t offers_in(const struct plan_group *g, int l)
{
    size_t n = 0;
    for (int o = 0; o < g->nbase; o++)
        if (g->opts[o].lreg == l)
            n += g->opts[o].noffers;
    return n;
}

static int64_t row_used_of(const struct plan_model *m, const int64_t *row_used, int region)
{
    int row = m->regions[region].row;
    return row >= 0 && row_used ? row_used[row] : 0;
}

/* The group's local regions in region order (cloud, then name): messages list them so. */
static void regions_in_order(const struct plan_group *g, int *lr)
{
    for (int l = 0; l < g->nlreg; l++) {
        int j = l;
        while (j > 0 && g->lreg_region[lr[j - 1]] > g->lreg_region[l]) {
            lr[j] = lr[j - 1];
            j--;
        }
        lr[j] = l;
    }
}

/* "40 over quota aws/us-east-1 (64 of 64 GPUs used)" for each local region whose quota
 * leaves no room; returns the offers they hold. `lr` is regions_in_order's. */
static size_t add_quota_reasons(struct core_buf *b, const struct plan_model *m,
                                const struct plan_group *g, const int *cap, const int *lr,
                                const int64_t *row_used, const char **sep)
{
    size_t total = 0;
    int listed = 0, more = 0;
    size_t more_offers = 0;
    char num[32], where[160];
    for (int k = 0; k < g->nlreg; k++) {
        int l = lr[k], r = g->lreg_region[l];
        const struct plan_region *pr = &m->regions[r];
        if (cap[l] > 0 || pr->quota < 0)
            continue;
        size_t n = offers_in(g, l);
        total += n;
        if (listed == MAX_QUOTA_LISTED) {
            more++;
            more_offers += n;
            continue;
        }
        char used[32], quota[32];
        core_buf_addf(b, "%s%s over quota %s (%s of %s GPUs used)", *sep,
                      plan_fmt_count(num, sizeof(num), n), region_text(m, r, where, sizeof(where)),
                      plan_fmt_count(used, sizeof(used), (size_t)row_used_of(m, row_used, r)),
                      plan_fmt_count(quota, sizeof(quota), (size_t)pr->quota));
        *sep = ", ";
        listed++;
    }
    if (more)
        core_buf_addf(b, "%s%s over quota in %d more region%s", *sep,
                      plan_fmt_count(num, sizeof(num), more_offers), more, more == 1 ? "" : "s");
    return total;
}

/* A note at each quota entry that left no room, once per entry. */
static void add_quota_notes(struct core_diag *d, const struct plan_model *m,
                            const struct plan_group *g, const int *cap, const int *lr)
{
    const struct spec_quota *seen[MAX_QUOTA_LISTED];
    int nseen = 0;
    for (int k = 0; k < g->nlreg && nseen < MAX_QUOTA_LISTED; k++) {
        int l = lr[k];
        const struct plan_region *pr = &m->regions[g->lreg_region[l]];
        if (cap[l] > 0 || pr->quota < 0 || !pr->qsrc)
            continue;
        bool dup = false;
        for (int j = 0; j < nseen && !dup; j++)
            dup = seen[j] == pr->qsrc;
        if (dup)
            continue;
        seen[nseen++] = pr->qsrc;
        char num[32];
        plan_fmt_count(num, sizeof(num), (size_t)pr->quota);
        if (strcmp(pr->qsrc->region, "*") == 0)
            core_diag_note(d, &pr->qsrc->loc,
                           "%s's quota: %s GPUs in each region not named, set here",
                           core_cloud_name(pr->cloud), num);
        else
            core_diag_note(d, &pr->qsrc->loc, "%s's quota: %s GPUs in %s, set here",
                           core_cloud_name(pr->cloud), num, pr->name);
    }
}

/* What together/spread/max_per_region/quotas leave, when offers fit but the group doesn't. */
static void add_structure(struct core_buf *b, const struct plan_model *m,
                          const struct plan_group *g, const int *cap, const int64_t *row_used)
{
    char where[160], used[32], quota[32];
    if (g->together != SPEC_TOGETHER_NONE) {
        int best = -1;
        for (int l = 0; l < g->nlreg; l++)
            if (best < 0 || cap[l] > cap[best])
                best = l;
        const char *what = g->together == SPEC_TOGETHER_ZONE ? "zone" : "region";
        core_buf_addf(b, "but together: %s needs all %d nodes (%d GPUs) in one %s", what, g->n,
                      g->n * g->gpus, what);
        if (best >= 0) {
            int r = g->lreg_region[best];
            core_buf_addf(b, " and the most any has room for is %d (%s", cap[best],
                          region_text(m, r, where, sizeof(where)));
            if (m->regions[r].quota >= 0)
                core_buf_addf(
                    b, ": %s of %s GPUs used",
                    plan_fmt_count(used, sizeof(used), (size_t)row_used_of(m, row_used, r)),
                    plan_fmt_count(quota, sizeof(quota), (size_t)m->regions[r].quota));
            core_buf_adds(b, ")");
        }
        return;
    }
    unsigned clouds = 0;
    int room = 0;
    for (int l = 0; l < g->nlreg; l++) {
        if (cap[l] <= 0)
            continue;
        clouds |= 1u << m->regions[g->lreg_region[l]].cloud;
        room += cap[l] < g->n ? cap[l] : g->n;
        if (room > g->n)
            room = g->n;
    }
    int nclouds = 0;
    char names[64] = "";
    for (int c = 0; c < CORE_CLOUD_COUNT; c++)
        if (clouds & (1u << c)) {
            nclouds++;
            if (names[0])
                strcat(names, ", ");
            strcat(names, core_cloud_name((enum core_cloud)c));
        }
    if (room < g->n) {
        int with_room = 0;
        for (int l = 0; l < g->nlreg; l++)
            with_room += cap[l] > 0;
        core_buf_addf(b, "but there is room for only %d of its %d nodes", room, g->n);
        if (g->maxpr < g->n)
            core_buf_addf(b, " (max_per_region %d, %d region%s with room)", g->maxpr, with_room,
                          with_room == 1 ? "" : "s");
        else
            core_buf_addf(b, " (%d region%s with room under the quotas)", with_room,
                          with_room == 1 ? "" : "s");
    } else if (nclouds < g->spread) {
        core_buf_addf(b, "but spread needs %d clouds and only %d ha%s room (%s)", g->spread,
                      nclouds, nclouds == 1 ? "s" : "ve", names);
    } else {
        core_buf_adds(b, "but no combination of them meets its placement rules");
    }
}

static void report_group(const struct plan_model *m, const struct plan_group *g, const int *cap,
                         const int64_t *row_used, const char *budget_text, struct core_diags *diags)
{
    struct core_buf b;
    core_buf_init(&b, 1 << 16);
    struct core_buf rest;
    core_buf_init(&rest, 1 << 16);
    char fit[32], total[32];
    const char *sep = "";
    int *lr = malloc((size_t)(g->nlreg ? g->nlreg : 1) * sizeof(int));
    if (!lr) {
        core_diag_add(diags, CORE_SEV_ERROR, "out-of-memory", g->loc, "out of memory");
        core_buf_release(&b);
        core_buf_release(&rest);
        return;
    }
    regions_in_order(g, lr);
    size_t over = add_quota_reasons(&rest, m, g, cap, lr, row_used, &sep);
    struct core_buf reasons;
    core_buf_init(&reasons, 1 << 16);
    add_reasons(&reasons, m, g, "");
    size_t nfit = g->nfit >= over ? g->nfit - over : 0;
    plan_fmt_count(total, sizeof(total), m->cat->noffers);
    if (nfit == 0) {
        core_buf_addf(&b, "%s: 0 of %s offers fit: %s%s%s", g->label, total, core_buf_str(&reasons),
                      reasons.len && rest.len ? ", " : "", core_buf_str(&rest));
        if (!reasons.len && !rest.len)
            core_buf_adds(&b, "the catalog is empty");
    } else {
        core_buf_addf(&b, "%s: %s of %s offers fit, ", g->label,
                      plan_fmt_count(fit, sizeof(fit), nfit), total);
        if (budget_text)
            core_buf_adds(&b, budget_text);
        else
            add_structure(&b, m, g, cap, row_used);
        if (reasons.len || rest.len)
            core_buf_addf(&b, "; the others: %s%s%s", core_buf_str(&reasons),
                          reasons.len && rest.len ? ", " : "", core_buf_str(&rest));
    }
    struct core_diag *d =
        core_diag_add(diags, CORE_SEV_ERROR, "no-placement", g->loc, "%s", core_buf_str(&b));
    add_quota_notes(d, m, g, cap, lr);
    free(lr);
    core_buf_release(&b);
    core_buf_release(&rest);
    core_buf_release(&reasons);
}

/* Least hourly price of g alone under caps (max_per_region, quotas left); INFINITY if none. */
static double min_hourly(const struct plan_group *g, const int *cap, int *x, struct plan_sp_ws *ws,
                         double *p)
{
    for (int o = 0; o < g->nopts; o++)
        p[o] = g->opts[o].hourly;
    return plan_sp_solve(g, p, cap, x, ws);
}

struct bufs {
    int *x, *cap;
    double *p;
    struct plan_sp_ws *ws;
};

static int bufs_init(const struct plan_model *m, struct bufs *s)
{
    int maxo = 1, maxl = 1;
    for (int g = 0; g < m->ngroups; g++) {
        const struct plan_group *gr = &m->groups[g];
        maxo = gr->nopts > maxo ? gr->nopts : maxo;
        maxl = gr->nlreg > maxl ? gr->nlreg : maxl;
    }
    s->x = calloc((size_t)maxo, sizeof(int));
    s->p = calloc((size_t)maxo, sizeof(double));
    s->cap = calloc((size_t)maxl, sizeof(int));
    s->ws = plan_sp_ws_new(m);
    return s->x && s->p && s->cap && s->ws ? 0 : -1;
}

static void bufs_free(struct bufs *s)
{
    free(s->x);
    free(s->p);
    free(s->cap);
    plan_sp_ws_free(s->ws);
}

static void report_budget(const struct plan_model *m, int bi, double need, struct core_diags *diags,
                          bool proven)
{
    const struct plan_budget_row *r = &m->budgets[bi];
    const struct spec_budget *b = r->b;
    char have[48], cap[48];
    const struct core_loc *loc = r->monthly_binds ? &b->monthly_loc : &b->hourly_loc;
    if (!loc->line)
        loc = &b->loc;
    if (r->monthly_binds)
        core_diag_add(diags, CORE_SEV_ERROR, "over-budget", loc,
                      "budget '%s' can't be met: %s the workloads it covers is %s a month, "
                      "over its cap of %s a month; raise 'monthly' to at least that, or ask "
                      "for less",
                      b->name, proven ? "the cheapest placement of" : "the cheapest plan found for",
                      plan_fmt_usd(have, sizeof(have), need * PLAN_HOURS_PER_MONTH),
                      plan_fmt_usd(cap, sizeof(cap), b->monthly));
    else
        core_diag_add(diags, CORE_SEV_ERROR, "over-budget", loc,
                      "budget '%s' can't be met: %s the workloads it covers costs %s/h, over "
                      "its cap of %s/h; raise 'hourly' to at least that, or ask for less",
                      b->name, proven ? "the cheapest placement of" : "the cheapest plan found for",
                      plan_fmt_usd(have, sizeof(have), need),
                      plan_fmt_usd(cap, sizeof(cap), b->hourly));
}

int plan_explain_static(const struct plan_model *m, struct core_diags *diags)
{
    struct bufs s;
    int reported = 0;
    double *need = calloc((size_t)m->nbudgets + 1, sizeof(double));
    bool *broken = calloc((size_t)m->ngroups + 1, sizeof(bool));
    if (bufs_init(m, &s) != 0 || !need || !broken) {
        bufs_free(&s);
        free(need);
        free(broken);
        core_diag_add(diags, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory");
        return 1;
    }
    for (int g = 0; g < m->ngroups; g++) {
        const struct plan_group *gr = &m->groups[g];
        double h = min_hourly(gr, gr->statcap, s.x, s.ws, s.p);
        if (!isfinite(h)) {
            report_group(m, gr, gr->statcap, NULL, NULL, diags);
            broken[g] = true;
            reported++;
            continue;
        }
        for (int b = 0; b < gr->nbudgets; b++)
            need[gr->budgets[b]] += h;
    }
    for (int b = 0; b < m->nbudgets; b++) {
        bool complete = true;
        for (int g = 0; g < m->ngroups && complete; g++)
            for (int k = 0; k < m->groups[g].nbudgets; k++)
                complete &= !(m->groups[g].budgets[k] == b && broken[g]);
        double cap = m->budgets[b].cap;
        if (complete && isfinite(cap) && need[b] > cap + 1e-9 * (cap > 1 ? cap : 1)) {
            report_budget(m, b, need[b], diags, true);
            reported++;
        }
    }
    bufs_free(&s);
    free(need);
    free(broken);
    return reported;
}

int plan_explain_failure(const struct plan_model *m, const struct plan_sol *sol,
                         struct core_diags *diags)
{
    struct bufs s;
    int reported = 0;
    int64_t *row_used = calloc((size_t)m->nrows + 1, sizeof(int64_t));
    double *bud_used = calloc((size_t)m->nbudgets + 1, sizeof(double));
    if (bufs_init(m, &s) != 0 || !row_used || !bud_used) {
        bufs_free(&s);
        free(row_used);
        free(bud_used);
        core_diag_add(diags, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory");
        return 1;
    }
    plan_usage(m, sol, row_used, bud_used);
    for (int g = 0; g < m->ngroups; g++) {
        const struct plan_group *gr = &m->groups[g];
        if (sol->placed[g])
            continue;
        plan_caps(m, gr, row_used, s.cap);
        double h = min_hourly(gr, s.cap, s.x, s.ws, s.p);
        char text[512];
        const char *budget_text = NULL;
        for (int k = 0; isfinite(h) && k < gr->nbudgets && !budget_text; k++) {
            int b = gr->budgets[k];
            const struct plan_budget_row *r = &m->budgets[b];
            if (bud_used[b] + h <= r->cap + 1e-9 * (r->cap > 1 ? r->cap : 1))
                continue;
            char left[48], cheapest[48], capt[48];
            double rest = r->cap - bud_used[b];
            snprintf(text, sizeof(text),
                     "but budget '%s' has %s/h of its %s/h left once the other workloads are "
                     "placed, and the cheapest placement left costs %s/h",
                     r->b->name, plan_fmt_usd(left, sizeof(left), rest > 0 ? rest : 0),
                     plan_fmt_usd(capt, sizeof(capt), r->cap),
                     plan_fmt_usd(cheapest, sizeof(cheapest), h));
            budget_text = text;
        }
        report_group(m, gr, s.cap, row_used, budget_text, diags);
        reported++;
    }
    if (!reported)
        core_diag_add(diags, CORE_SEV_ERROR, "no-placement", &m->spec->loc,
                      "no placement meets every rule of the stack");
    bufs_free(&s);
    free(row_used);
    free(bud_used);
    return reported ? reported : 1;
}
