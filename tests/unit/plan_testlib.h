/*
 * Shared by the planner's unit tests: catalogs written in code, specs from text, and an
 * independent checker and exhaustive search that know the placement rules from
 * docs/planner.md, not from the solver's code. Header-only so each test binary (one per
 * tests/unit/test_*.c) can include it.
 */
#ifndef GPUFORM_TESTS_PLAN_TESTLIB_H
#define GPUFORM_TESTS_PLAN_TESTLIB_H

#include <fnmatch.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gpu_models.h"
#include "parser/spec.h"
#include "planner/catalog.h"
#include "planner/plan.h"

struct toffer {
    const char *cloud, *region, *zone, *type, *gpu;
    int gpus;
    double od, spot; /* < 0: not offered */
};

static inline struct plan_catalog *tl_catalog(const struct toffer *t, size_t n)
{
    struct plan_catalog *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    core_arena_init(&c->arena, 0);
    c->offers = core_arena_alloc(&c->arena, (n ? n : 1) * sizeof(*c->offers));
    for (size_t i = 0; i < n; i++) {
        struct plan_offer *o = &c->offers[i];
        o->cloud = (enum core_cloud)core_cloud_from_name(t[i].cloud);
        o->region = core_arena_strdup(&c->arena, t[i].region);
        o->zone = core_arena_strdup(&c->arena, t[i].zone ? t[i].zone : "");
        o->instance_type = core_arena_strdup(&c->arena, t[i].type);
        const struct core_gpu_model *m = core_gpu_model_find(t[i].gpu);
        o->gpu = m ? m->name : t[i].gpu;
        o->gpus = t[i].gpus;
        o->gpu_memory_gb = m ? (int)m->memory_gb : 0;
        o->vcpus = 8;
        o->ram_gib = 32;
        o->ondemand = t[i].od;
        o->spot = t[i].spot;
        o->as_of = "2025-01-01";
        o->source = "test";
    }
    c->noffers = n;
    c->name = "test-catalog";
    c->as_of = "2025-01-01";
    strcpy(c->sha256, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    return c;
}

static inline void tl_catalog_free(struct plan_catalog *c)
{
    if (!c)
        return;
    core_arena_release(&c->arena);
    free(c);
}

static inline const char *tl_no_env(const char *name, void *ud)
{
    (void)name;
    (void)ud;
    return NULL;
}

static inline struct spec *tl_spec(const char *text, struct core_diags *d)
{
    struct spec_options o = {.getenv = tl_no_env};
    struct spec *s = NULL;
    if (spec_load_buffer("spec.yaml", text, strlen(text), &o, d, &s) != 0)
        return NULL;
    return s;
}

/* ---- the rules, written from docs/planner.md ---- */

static inline double tl_egress_rate(enum core_cloud from, enum core_cloud to, bool same_region)
{
    static const double inter[3] = {0.02, 0.02, 0.02}, internet[3] = {0.09, 0.12, 0.087};
    if (from == to)
        return same_region ? 0 : inter[from];
    return internet[from];
}

static inline bool tl_declared_region(const struct spec *s, enum core_cloud c, const char *r)
{
    const struct spec_cloud *cl = spec_cloud_find(s, c);
    for (size_t i = 0; cl && i < cl->nregions; i++)
        if (!strcmp(cl->regions[i], r))
            return true;
    return false;
}

static inline int64_t tl_quota(const struct spec *s, enum core_cloud c, const char *r)
{
    const struct spec_cloud *cl = spec_cloud_find(s, c);
    int64_t star = -1;
    for (size_t i = 0; cl && i < cl->nquotas; i++) {
        if (!strcmp(cl->quotas[i].region, r))
            return cl->quotas[i].gpus;
        if (!strcmp(cl->quotas[i].region, "*"))
            star = cl->quotas[i].gpus;
    }
    return star;
}

/* Can a node of w (at `site`, or NULL) run on o? Sets the price and spot it would pay. */
static inline bool tl_offer_ok(const struct spec *s, const struct spec_workload *w,
                               const struct spec_site *site, const struct plan_offer *o,
                               double *hourly, bool *spot)
{
    const struct core_gpu_model *om = core_gpu_model_find(o->gpu);
    bool named = false;
    for (size_t i = 0; i < w->gpu.nnames && om; i++)
        named |= core_gpu_model_find(w->gpu.names[i]) == om;
    if (!named || o->gpus != w->gpu.count)
        return false;
    uint64_t mem = (uint64_t)om->memory_gb * 1000000000ull;
    if (mem < w->gpu.memory_min || (w->gpu.memory_max && mem > w->gpu.memory_max))
        return false;
    if (!spec_cloud_find(s, o->cloud))
        return false;
    if (site) {
        if (o->cloud != site->location.cloud || strcmp(o->region, site->location.region))
            return false;
    } else {
        if (w->placement.clouds && !(w->placement.clouds & (1u << o->cloud)))
            return false;
        if (!tl_declared_region(s, o->cloud, o->region))
            return false;
        bool in = w->placement.nregions_include == 0;
        for (size_t i = 0; i < w->placement.nregions_include; i++)
            in |= fnmatch(w->placement.regions_include[i], o->region, 0) == 0;
        for (size_t i = 0; i < w->placement.nregions_exclude; i++)
            in &= fnmatch(w->placement.regions_exclude[i], o->region, 0) != 0;
        if (!in)
            return false;
    }
    switch (w->spot) {
    case SPEC_SPOT_NEVER:
        *spot = false, *hourly = o->ondemand;
        return o->ondemand >= 0;
    case SPEC_SPOT_ALWAYS:
        *spot = true, *hourly = o->spot;
        return o->spot >= 0;
    default:
        if (o->ondemand < 0 && o->spot < 0)
            return false;
        *spot = o->spot >= 0 && (o->ondemand < 0 || o->spot < o->ondemand);
        *hourly = *spot ? o->spot : o->ondemand;
        return true;
    }
}

static inline double tl_node_cost(const struct spec_workload *w, const struct plan_offer *o,
                                  double hourly, double *egress)
{
    *egress = 0;
    if (w->has_data && w->data_bytes) {
        bool same =
            w->data_location.cloud == o->cloud && strcmp(w->data_location.region, o->region) == 0;
        *egress =
            (double)w->data_bytes / 1e9 * tl_egress_rate(w->data_location.cloud, o->cloud, same);
    }
    return hourly * w->hours + *egress;
}

static inline bool tl_close(double a, double b)
{
    return fabs(a - b) <= 1e-6 * (fabs(a) > 1 ? fabs(a) : 1);
}

/*
 * Checks every rule for the plan r of spec s; returns NULL when all hold, else a static
 * message naming the first broken one.
 */
static inline const char *tl_check(const struct spec *s, const struct plan_result *r)
{
    static char msg[512];
    size_t want = 0;
    for (size_t i = 0; i < s->nworkloads; i++)
        want += s->workloads[i].kind == SPEC_KIND_FEDERATED ? s->workloads[i].nsites
                                                            : (size_t)s->workloads[i].count;
    if (r->nnodes != want)
        return snprintf(msg, sizeof(msg), "%zu nodes, want %zu", r->nnodes, want), msg;
    double total = 0, hourly = 0;
    for (size_t i = 0; i < r->nnodes; i++) {
        const struct plan_node *n = &r->nodes[i];
        double h, eg;
        bool spot;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(r->nodes[j].address, n->address))
                return snprintf(msg, sizeof(msg), "address %s twice", n->address), msg;
        if (!tl_offer_ok(s, n->workload, n->site, n->offer, &h, &spot))
            return snprintf(msg, sizeof(msg), "%s may not run on %s/%s %s", n->address,
                            n->offer->region, n->offer->zone, n->offer->instance_type),
                   msg;
        if (spot != n->spot || !tl_close(h, n->hourly))
            return snprintf(msg, sizeof(msg), "%s: price %g spot %d, want %g spot %d", n->address,
                            n->hourly, n->spot, h, spot),
                   msg;
        double c = tl_node_cost(n->workload, n->offer, h, &eg);
        if (!tl_close(c, n->cost) || !tl_close(eg, n->egress) ||
            !tl_close(n->hours, n->workload->hours))
            return snprintf(msg, sizeof(msg), "%s: cost %g egress %g, want %g %g", n->address,
                            n->cost, n->egress, c, eg),
                   msg;
        total += n->cost;
        hourly += n->hourly;
    }
    if (!tl_close(total, r->total_cost) || !tl_close(hourly, r->hourly))
        return snprintf(msg, sizeof(msg), "totals %g %g, want %g %g", r->total_cost, r->hourly,
                        total, hourly),
               msg;
    /* Per workload: together, spread, max_per_region; sites: one node each. */
    for (size_t wi = 0; wi < s->nworkloads; wi++) {
        const struct spec_workload *w = &s->workloads[wi];
        const struct plan_node *first = NULL;
        unsigned clouds = 0;
        size_t nn = 0;
        for (size_t i = 0; i < r->nnodes; i++) {
            const struct plan_node *n = &r->nodes[i];
            if (n->workload != w)
                continue;
            nn++;
            clouds |= 1u << n->offer->cloud;
            if (!first)
                first = n;
            if (w->placement.together && (n->offer->cloud != first->offer->cloud ||
                                          strcmp(n->offer->region, first->offer->region) ||
                                          (w->placement.together == SPEC_TOGETHER_ZONE &&
                                           strcmp(n->offer->zone, first->offer->zone))))
                return snprintf(msg, sizeof(msg), "%s not together", w->name), msg;
            if (w->placement.max_per_region) {
                int k = 0;
                for (size_t j = 0; j < r->nnodes; j++)
                    k += r->nodes[j].workload == w && r->nodes[j].offer->cloud == n->offer->cloud &&
                         !strcmp(r->nodes[j].offer->region, n->offer->region);
                if (k > w->placement.max_per_region)
                    return snprintf(msg, sizeof(msg), "%s: %d in %s", w->name, k, n->offer->region),
                           msg;
            }
        }
        int nc = 0;
        for (unsigned c = clouds; c; c &= c - 1)
            nc++;
        if (w->placement.spread_clouds > nc)
            return snprintf(msg, sizeof(msg), "%s spans %d clouds", w->name, nc), msg;
        if (w->kind == SPEC_KIND_FEDERATED && nn != w->nsites)
            return snprintf(msg, sizeof(msg), "%s: %zu nodes for %zu sites", w->name, nn,
                            w->nsites),
                   msg;
    }
    /* Quotas over all workloads. */
    for (size_t i = 0; i < r->nnodes; i++) {
        const struct plan_offer *o = r->nodes[i].offer;
        int64_t q = tl_quota(s, o->cloud, o->region), used = 0;
        if (q < 0)
            continue;
        for (size_t j = 0; j < r->nnodes; j++)
            if (r->nodes[j].offer->cloud == o->cloud &&
                !strcmp(r->nodes[j].offer->region, o->region))
                used += r->nodes[j].offer->gpus;
        if (used > q)
            return snprintf(msg, sizeof(msg), "quota %s: %lld > %lld", o->region, (long long)used,
                            (long long)q),
                   msg;
    }
    /* Budgets. */
    for (size_t b = 0; b < s->nbudgets; b++) {
        const struct spec_budget *bu = &s->budgets[b];
        double h = 0;
        for (size_t i = 0; i < r->nnodes; i++)
            if (spec_budget_matches(bu, r->nodes[i].workload))
                h += r->nodes[i].hourly;
        if ((bu->has_hourly && h > bu->hourly + 1e-6) ||
            (bu->has_monthly && h * 730 > bu->monthly + 1e-6))
            return snprintf(msg, sizeof(msg), "budget %s: %g/h", bu->name, h), msg;
        if (b < r->nbudgets && !tl_close(r->budgets[b].hourly, h))
            return snprintf(msg, sizeof(msg), "budget %s reported %g/h, is %g/h", bu->name,
                            r->budgets[b].hourly, h),
                   msg;
    }
    if (r->lower_bound > r->total_cost + 1e-6 * (r->total_cost > 1 ? r->total_cost : 1) ||
        r->gap < 0 || r->gap > 1)
        return snprintf(msg, sizeof(msg), "bound %g, gap %g for cost %g", r->lower_bound, r->gap,
                        r->total_cost),
               msg;
    return NULL;
}

/* ---- exhaustive search: every node on every offer it may use ---- */

#define TL_MAX_NODES 12
#define TL_MAX_CAND  32

struct tl_bf {
    const struct spec *s;
    const struct plan_catalog *c;
    int n;
    const struct spec_workload *w[TL_MAX_NODES];
    const struct spec_site *site[TL_MAX_NODES];
    int ncand[TL_MAX_NODES];
    int cand[TL_MAX_NODES][TL_MAX_CAND];
    double hourly[TL_MAX_NODES][TL_MAX_CAND], cost[TL_MAX_NODES][TL_MAX_CAND];
    double mincost[TL_MAX_NODES + 1]; /* least cost of nodes k.. */
    int pick[TL_MAX_NODES];
    double best;
    long visited;
};

static inline bool tl_bf_rules(struct tl_bf *b, int upto)
{
    const struct plan_offer *o = &b->c->offers[b->cand[upto][b->pick[upto]]];
    const struct spec_workload *w = b->w[upto];
    int64_t q = tl_quota(b->s, o->cloud, o->region), used = 0;
    int same_w_region = 0;
    for (int k = 0; k <= upto; k++) {
        const struct plan_offer *p = &b->c->offers[b->cand[k][b->pick[k]]];
        bool same_region = p->cloud == o->cloud && !strcmp(p->region, o->region);
        if (same_region)
            used += p->gpus;
        if (b->w[k] == w && k < upto && w->placement.together &&
            (!same_region ||
             (w->placement.together == SPEC_TOGETHER_ZONE && strcmp(p->zone, o->zone))))
            return false;
        same_w_region += b->w[k] == w && same_region;
    }
    if (q >= 0 && used > q)
        return false;
    if (w->placement.max_per_region && same_w_region > w->placement.max_per_region)
        return false;
    for (size_t bi = 0; bi < b->s->nbudgets; bi++) {
        const struct spec_budget *bu = &b->s->budgets[bi];
        double h = 0;
        for (int k = 0; k <= upto; k++)
            if (spec_budget_matches(bu, b->w[k]))
                h += b->hourly[k][b->pick[k]];
        if ((bu->has_hourly && h > bu->hourly + 1e-9) ||
            (bu->has_monthly && h * 730 > bu->monthly + 1e-9))
            return false;
    }
    return true;
}

static inline void tl_bf_dfs(struct tl_bf *b, int k, double cost)
{
    b->visited++;
    if (cost + b->mincost[k] >= b->best - 1e-9)
        return;
    if (k == b->n) {
        for (size_t wi = 0; wi < b->s->nworkloads; wi++) {
            const struct spec_workload *w = &b->s->workloads[wi];
            unsigned clouds = 0;
            for (int j = 0; j < b->n; j++)
                if (b->w[j] == w)
                    clouds |= 1u << b->c->offers[b->cand[j][b->pick[j]]].cloud;
            int nc = 0;
            for (; clouds; clouds &= clouds - 1)
                nc++;
            if (nc < w->placement.spread_clouds)
                return;
        }
        b->best = cost;
        return;
    }
    /* Nodes of one non-federated workload are interchangeable: picks never decrease. */
    int from = k > 0 && b->w[k - 1] == b->w[k] && !b->site[k] ? b->pick[k - 1] : 0;
    for (int i = from; i < b->ncand[k]; i++) {
        b->pick[k] = i;
        if (tl_bf_rules(b, k))
            tl_bf_dfs(b, k + 1, cost + b->cost[k][i]);
    }
}

/* The least total cost, or INFINITY when no placement exists; -1 if too big to search. */
static inline double tl_brute_force(const struct spec *s, const struct plan_catalog *c)
{
    struct tl_bf *b = calloc(1, sizeof(*b));
    if (!b)
        return -1;
    b->s = s;
    b->c = c;
    for (size_t wi = 0; wi < s->nworkloads; wi++) {
        const struct spec_workload *w = &s->workloads[wi];
        size_t nn = w->kind == SPEC_KIND_FEDERATED ? w->nsites : (size_t)w->count;
        for (size_t k = 0; k < nn; k++) {
            if (b->n == TL_MAX_NODES) {
                free(b);
                return -1;
            }
            b->w[b->n] = w;
            b->site[b->n] = w->kind == SPEC_KIND_FEDERATED ? &w->sites[k] : NULL;
            b->n++;
        }
    }
    for (int k = 0; k < b->n; k++) {
        for (size_t oi = 0; oi < c->noffers; oi++) {
            double h, eg;
            bool spot;
            if (!tl_offer_ok(s, b->w[k], b->site[k], &c->offers[oi], &h, &spot))
                continue;
            if (b->ncand[k] == TL_MAX_CAND) {
                free(b);
                return -1;
            }
            b->cand[k][b->ncand[k]] = (int)oi;
            b->hourly[k][b->ncand[k]] = h;
            b->cost[k][b->ncand[k]] = tl_node_cost(b->w[k], &c->offers[oi], h, &eg);
            b->ncand[k]++;
        }
    }
    b->mincost[b->n] = 0;
    for (int k = b->n - 1; k >= 0; k--) {
        double m = INFINITY;
        for (int i = 0; i < b->ncand[k]; i++)
            m = b->cost[k][i] < m ? b->cost[k][i] : m;
        b->mincost[k] = b->mincost[k + 1] + m;
    }
    b->best = INFINITY;
    if (isfinite(b->mincost[0]))
        tl_bf_dfs(b, 0, 0);
    double best = b->best;
    free(b);
    return best;
}

/* ---- random instances ---- */

/* A deterministic generator (xorshift), so every run tests the same instances. */
struct tl_rng {
    uint64_t s;
};

static inline uint32_t tl_rnd(struct tl_rng *r, uint32_t n)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return (uint32_t)(r->s % n);
}

static const char *const tl_pool[3][3] = {
    {"us-east-1", "us-west-2", "eu-west-1"},
    {"us-central1", "europe-west4", "us-east4"},
    {"eastus", "westeurope", "westus2"},
};
static const char *const tl_clouds[3] = {"aws", "gcp", "azure"};
static const char *const tl_gpus[3] = {"A10G", "L4", "T4"};

/* A random stack (text) and catalog over three clouds, three regions each and three GPU
 * models, with quotas, budgets and every placement rule at random. */

struct tl_instance {
    char yaml[32768];
    struct toffer offers[128];
    char strings[128][2][32];
    size_t noffers;
};

static inline void tl_gen_instance(struct tl_rng *rng, struct tl_instance *in, int max_offers,
                                   int max_workloads, int max_count, bool tight)
{
    char *y = in->yaml;
    size_t cap = sizeof(in->yaml), n = 0;
#define PUT(...) (n += n < cap ? (size_t)snprintf(y + n, cap - n, __VA_ARGS__) : 0)
    PUT("version: 1\nstack: r\nclouds:\n");
    bool declared[3] = {false, false, false};
    bool region_declared[3][3] = {{false}};
    for (int c = 0; c < 3; c++) {
        if (c > 0 && tl_rnd(rng, 5) == 0)
            continue;
        declared[c] = true;
        PUT("  %s:\n", tl_clouds[c]);
        if (c == 1)
            PUT("    project: p\n");
        if (c == 2)
            PUT("    subscription: s\n    resource_group: g\n");
        PUT("    regions: [");
        int nr = 0;
        for (int r = 0; r < 3; r++)
            if (tl_rnd(rng, 3) || (r == 2 && nr == 0)) {
                PUT("%s%s", nr++ ? ", " : "", tl_pool[c][r]);
                region_declared[c][r] = true;
            }
        PUT("]\n");
        if (tight || tl_rnd(rng, 2)) {
            PUT("    quotas: {");
            int nq = 0;
            for (int r = 0; r < 3; r++)
                if (region_declared[c][r] && (tight || tl_rnd(rng, 2)))
                    PUT("%s%s: %u", nq++ ? ", " : " ", tl_pool[c][r],
                        tight ? 2 + tl_rnd(rng, 4) : tl_rnd(rng, 6) * 2);
            if (tl_rnd(rng, 3) == 0)
                PUT("%s\"*\": %u", nq++ ? ", " : " ", 2 + tl_rnd(rng, 4) * 2);
            if (!nq)
                PUT(" \"*\": 6");
            PUT(" }\n");
        }
    }
    if (tl_rnd(rng, tight ? 2 : 3) == 0) {
        PUT("budgets:\n  b1: { hourly: %u", 2 + tl_rnd(rng, tight ? 60 : 30));
        if (tl_rnd(rng, 2))
            PUT(", match: { team: a }");
        PUT(" }\n");
    }
    PUT("workloads:\n");
    int nw = 1 + (int)tl_rnd(rng, (uint32_t)max_workloads);
    for (int w = 0; w < nw; w++) {
        int kind = (int)tl_rnd(rng, 10);
        int count = 1 + (int)tl_rnd(rng, (uint32_t)max_count);
        PUT("  w%d:\n", w);
        PUT("    gpu: { name: [");
        int ng = 0;
        for (int g = 0; g < 3; g++)
            if (tl_rnd(rng, 2) || (g == 2 && !ng))
                PUT("%s%s", ng++ ? ", " : "", tl_gpus[g]);
        PUT("], count: %u }\n", tl_rnd(rng, 4) ? 1 : 2);
        static const char *const spots[3] = {"never", "auto", "always"};
        PUT("    spot: %s\n", spots[tl_rnd(rng, 3)]);
        PUT("    labels: { team: %s }\n", tl_rnd(rng, 2) ? "a" : "b");
        if (tl_rnd(rng, 3) == 0) {
            int c = (int)tl_rnd(rng, 3);
            PUT("    data: { location: %s/%s, size: %uGB }\n", tl_clouds[c],
                tl_pool[c][tl_rnd(rng, 3)], 100 * (1 + tl_rnd(rng, 20)));
        }
        if (kind == 0) {
            PUT("    kind: federated\n    sites:\n");
            int ns = 1 + (int)tl_rnd(rng, 2);
            for (int s = 0; s < ns; s++) {
                int c;
                do
                    c = (int)tl_rnd(rng, 3);
                while (!declared[c]);
                PUT("      s%d: { location: %s/%s }\n", s, tl_clouds[c],
                    tl_pool[c][tl_rnd(rng, 3)]);
            }
            continue;
        }
        if (kind <= 3)
            PUT("    kind: service\n    replicas: %d\n", count);
        else
            PUT("    kind: %s\n    nodes: %d\n    hours: %u\n", kind <= 6 ? "training" : "batch",
                count, 1 + tl_rnd(rng, 100));
        PUT("    placement:\n      max_per_region: %d\n",
            tl_rnd(rng, 4) == 0 ? 1 + (int)tl_rnd(rng, 2) : count);
        uint32_t t = tl_rnd(rng, 5);
        if (t == 0)
            PUT("      together: region\n");
        else if (t == 1)
            PUT("      together: zone\n");
        else if (t == 2 && count > 1)
            PUT("      spread: { clouds: 2 }\n");
        if (tl_rnd(rng, 6) == 0)
            PUT("      regions: { exclude: [\"eu*\"] }\n");
    }
#undef PUT
    if (max_offers > 128)
        max_offers = 128;
    in->noffers = 3 + tl_rnd(rng, (uint32_t)max_offers - 2);
    for (size_t i = 0; i < in->noffers; i++) {
        struct toffer *o = &in->offers[i];
        int c = (int)tl_rnd(rng, 3), r = (int)tl_rnd(rng, 3);
        o->cloud = tl_clouds[c];
        o->region = tl_pool[c][r];
        uint32_t z = tl_rnd(rng, 3);
        snprintf(in->strings[i][0], 32, "%s%s", z ? tl_pool[c][r] : "",
                 z == 1   ? "a"
                 : z == 2 ? "b"
                          : "");
        o->zone = in->strings[i][0];
        snprintf(in->strings[i][1], 32, "type-%zu", i);
        o->type = in->strings[i][1];
        o->gpu = tl_gpus[tl_rnd(rng, 3)];
        o->gpus = tl_rnd(rng, 4) ? 1 : 2;
        o->od = tl_rnd(rng, 6) ? (100 + tl_rnd(rng, 900)) / 100.0 : -1;
        o->spot = tl_rnd(rng, 3) || o->od < 0
                      ? (o->od > 0 ? o->od : 5) * (30 + tl_rnd(rng, 60)) / 100.0
                      : -1;
    }
}

#endif
