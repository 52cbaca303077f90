/*
 * From a spec and a catalog to the solver's model: every (cloud, region) and zone gets an
 * id, every workload (or federated site) becomes a group of interchangeable nodes with the
 * cheapest fitting offer per region or zone as its options, and every offer that does not
 * fit is counted under the first reason it fails, so an unplaceable workload can say why.
 */
#include "planner/plan_int.h"

#include <fnmatch.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gpu_models.h"

/* ---- egress prices ---- */

/* USD per GB leaving a cloud: to another region of the same cloud, and to the internet
 * (another cloud). First-tier list prices, free tiers ignored; docs/planner.md cites them. */
static const double egress_inter_region[CORE_CLOUD_COUNT] = {0.02, 0.02, 0.02};
static const double egress_internet[CORE_CLOUD_COUNT] = {0.09, 0.12, 0.087};

double plan_egress_usd_per_gb(enum core_cloud from, enum core_cloud to, bool same_region)
{
    if ((unsigned)from >= CORE_CLOUD_COUNT || (unsigned)to >= CORE_CLOUD_COUNT)
        return 0;
    if (from == to)
        return same_region ? 0 : egress_inter_region[from];
    return egress_internet[from];
}

/* ---- formatting shared by messages ---- */

const char *plan_fmt_count(char *buf, size_t size, size_t v)
{
    char digits[32];
    snprintf(digits, sizeof(digits), "%zu", v);
    size_t n = strlen(digits), k = 0;
    for (size_t i = 0; i < n && k + 2 < size; i++) {
        if (i && (n - i) % 3 == 0)
            buf[k++] = ',';
        buf[k++] = digits[i];
    }
    buf[k] = '\0';
    return buf;
}

const char *plan_fmt_usd(char *buf, size_t size, double v)
{
    bool neg = v < 0;
    double cents = floor(fabs(v) * 100 + 0.5);
    char whole[40];
    plan_fmt_count(whole, sizeof(whole), (size_t)(cents / 100));
    snprintf(buf, size, "%s$%s.%02d", neg ? "-" : "", whole, (int)fmod(cents, 100));
    return buf;
}

/* ---- ids for regions, zones and offers ---- */

struct rkey {
    enum core_cloud cloud;
    const char *name;
};

static int cmp_rkey(const void *a, const void *b)
{
    const struct rkey *x = a, *y = b;
    if (x->cloud != y->cloud)
        return x->cloud < y->cloud ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int find_region(const struct plan_model *m, enum core_cloud cloud, const char *name)
{
    int lo = 0, hi = m->nregions - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        struct rkey k = {cloud, name}, r = {m->regions[mid].cloud, m->regions[mid].name};
        int c = cmp_rkey(&k, &r);
        if (c == 0)
            return mid;
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return -1;
}

static int cmp_zone(const struct plan_zone *x, const struct plan_zone *y)
{
    if (x->region != y->region)
        return x->region < y->region ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_zone_q(const void *a, const void *b)
{
    return cmp_zone(a, b);
}

static int find_zone(const struct plan_model *m, int region, const char *name)
{
    struct plan_zone k = {region, name};
    int lo = 0, hi = m->nzones - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = cmp_zone(&k, &m->zones[mid]);
        if (c == 0)
            return mid;
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return -1;
}

/* Offers in (cloud, region, zone, instance type) order: the tie-break order. */
static int cmp_offer_place(const struct plan_offer *x, const struct plan_offer *y)
{
    if (x->cloud != y->cloud)
        return x->cloud < y->cloud ? -1 : 1;
    int c = strcmp(x->region, y->region);
    if (!c)
        c = strcmp(x->zone ? x->zone : "", y->zone ? y->zone : "");
    if (!c)
        c = strcmp(x->instance_type, y->instance_type);
    return c;
}

struct oref {
    const struct plan_offer *o;
    int idx;
    int model;
};

static int cmp_oref_place(const void *a, const void *b)
{
    const struct oref *x = a, *y = b;
    int c = cmp_offer_place(x->o, y->o);
    if (c)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int add_region_key(struct rkey *keys, int *n, enum core_cloud cloud, const char *name)
{
    keys[*n].cloud = cloud;
    keys[*n].name = name;
    (*n)++;
    return 0;
}

static void set_quota(struct plan_model *m, struct plan_region *r)
{
    r->quota = -1;
    r->qsrc = NULL;
    r->row = -1;
    const struct spec_cloud *cl = spec_cloud_find(m->spec, r->cloud);
    if (!cl)
        return;
    for (size_t i = 0; i < cl->nregions; i++)
        if (strcmp(cl->regions[i], r->name) == 0)
            r->declared = true;
    const struct spec_quota *star = NULL;
    for (size_t i = 0; i < cl->nquotas; i++) {
        if (strcmp(cl->quotas[i].region, r->name) == 0) {
            r->quota = cl->quotas[i].gpus;
            r->qsrc = &cl->quotas[i];
            return;
        }
        if (strcmp(cl->quotas[i].region, "*") == 0)
            star = &cl->quotas[i];
    }
    if (star) {
        r->quota = star->gpus;
        r->qsrc = star;
    }
}

static int build_places(struct plan_model *m, struct oref *refs)
{
    const struct spec *s = m->spec;
    const struct plan_catalog *cat = m->cat;
    size_t nkeys = cat->noffers;
    for (size_t i = 0; i < s->nclouds; i++)
        nkeys += s->clouds[i].nregions;
    for (size_t i = 0; i < s->nworkloads; i++)
        nkeys += s->workloads[i].nsites;
    if (nkeys > INT_MAX / 2)
        return -1;
    struct rkey *keys = malloc((nkeys ? nkeys : 1) * sizeof(*keys));
    if (!keys)
        return -1;
    int nk = 0;
    for (size_t i = 0; i < cat->noffers; i++)
        add_region_key(keys, &nk, cat->offers[i].cloud, cat->offers[i].region);
    for (size_t i = 0; i < s->nclouds; i++)
        for (size_t r = 0; r < s->clouds[i].nregions; r++)
            add_region_key(keys, &nk, s->clouds[i].id, s->clouds[i].regions[r]);
    for (size_t i = 0; i < s->nworkloads; i++)
        for (size_t k = 0; k < s->workloads[i].nsites; k++)
            add_region_key(keys, &nk, s->workloads[i].sites[k].location.cloud,
                           s->workloads[i].sites[k].location.region);
    qsort(keys, (size_t)nk, sizeof(*keys), cmp_rkey);
    int nr = 0;
    for (int i = 0; i < nk; i++)
        if (nr == 0 || cmp_rkey(&keys[nr - 1], &keys[i]) != 0)
            keys[nr++] = keys[i];
    m->regions = core_arena_alloc(&m->arena, (size_t)(nr ? nr : 1) * sizeof(*m->regions));
    if (!m->regions) {
        free(keys);
        return -1;
    }
    m->nregions = nr;
    for (int i = 0; i < nr; i++) {
        m->regions[i].cloud = keys[i].cloud;
        m->regions[i].name = keys[i].name;
        set_quota(m, &m->regions[i]);
    }
    free(keys);

    /* Offers: rank, region, zone. */
    size_t no = cat->noffers;
    m->offer_region = core_arena_alloc(&m->arena, (no ? no : 1) * sizeof(int));
    m->offer_zone = core_arena_alloc(&m->arena, (no ? no : 1) * sizeof(int));
    m->offer_rank = core_arena_alloc(&m->arena, (no ? no : 1) * sizeof(int));
    struct plan_zone *zs = malloc((no ? no : 1) * sizeof(*zs));
    if (!m->offer_region || !m->offer_zone || !m->offer_rank || !zs) {
        free(zs);
        return -1;
    }
    for (size_t i = 0; i < no; i++) {
        refs[i].o = &cat->offers[i];
        refs[i].idx = (int)i;
        refs[i].model = -1;
    }
    qsort(refs, no, sizeof(*refs), cmp_oref_place);
    for (size_t i = 0; i < no; i++)
        m->offer_rank[refs[i].idx] = (int)i;
    for (size_t i = 0; i < no; i++) {
        const struct plan_offer *o = &cat->offers[i];
        m->offer_region[i] = find_region(m, o->cloud, o->region);
        zs[i].region = m->offer_region[i];
        zs[i].name = o->zone ? o->zone : "";
    }
    qsort(zs, no, sizeof(*zs), cmp_zone_q);
    int nz = 0;
    for (size_t i = 0; i < no; i++)
        if (nz == 0 || cmp_zone(&zs[nz - 1], &zs[i]) != 0)
            zs[nz++] = zs[i];
    m->zones = core_arena_alloc(&m->arena, (size_t)(nz ? nz : 1) * sizeof(*m->zones));
    if (!m->zones) {
        free(zs);
        return -1;
    }
    memcpy(m->zones, zs, (size_t)nz * sizeof(*zs));
    m->nzones = nz;
    free(zs);
    for (size_t i = 0; i < no; i++)
        m->offer_zone[i] =
            find_zone(m, m->offer_region[i], cat->offers[i].zone ? cat->offers[i].zone : "");
    return 0;
}

/* ---- offers by GPU model and count ---- */

struct gpu_index {
    int nmodels;
    const struct core_gpu_model *models;
    struct oref *by_model; /* sorted by (model, gpus, rank); model -1 (unknown) first */
    size_t n;
    size_t *model_total; /* offers per model */
};

static int cmp_oref_model(const void *a, const void *b)
{
    const struct oref *x = a, *y = b;
    if (x->model != y->model)
        return x->model < y->model ? -1 : 1;
    if (x->o->gpus != y->o->gpus)
        return x->o->gpus < y->o->gpus ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int build_gpu_index(const struct plan_model *m, struct oref *refs, struct gpu_index *gi)
{
    size_t nm;
    gi->models = core_gpu_models(&nm);
    gi->nmodels = (int)nm;
    gi->n = m->cat->noffers;
    gi->by_model = refs;
    gi->model_total = calloc(nm ? nm : 1, sizeof(size_t));
    if (!gi->model_total)
        return -1;
    for (size_t i = 0; i < gi->n; i++) {
        const struct core_gpu_model *g = core_gpu_model_find(refs[i].o->gpu);
        refs[i].model = g ? (int)(g - gi->models) : -1;
        if (g)
            gi->model_total[refs[i].model]++;
    }
    qsort(refs, gi->n, sizeof(*refs), cmp_oref_model);
    return 0;
}

/* The offers of `model` with `gpus` GPUs: [*lo, *hi) in gi->by_model. */
static void bucket(const struct gpu_index *gi, int model, int gpus, size_t *lo, size_t *hi)
{
    size_t a = 0, b = gi->n;
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        const struct oref *r = &gi->by_model[mid];
        if (r->model < model || (r->model == model && r->o->gpus < gpus))
            a = mid + 1;
        else
            b = mid;
    }
    *lo = a;
    b = gi->n;
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        const struct oref *r = &gi->by_model[mid];
        if (r->model < model || (r->model == model && r->o->gpus <= gpus))
            a = mid + 1;
        else
            b = mid;
    }
    *hi = a;
}

/* ---- groups ---- */

struct scratch {
    signed char *rreason; /* per region: -1 usable, else a plan_reason */
    int *best;            /* per location (region or zone): catalog offer index, -1 */
    bool *best_spot;
    double *best_hourly;
    int *touched;
    int ntouched;
    int *lreg;   /* per region: local index, -1 */
    size_t *cnt; /* per location: offers that fit there (messages) */
    int *rzone;  /* together: zone; per region: its cheapest zone, -1 */
    bool *zkeep; /* together: zone; per zone: some node of the group runs there now */
    /* Per spot policy and bucket (by its first index in gi->by_model): its summary in
     * sums, or -1 (made on first use). */
    int *sum_of[3];
    struct bsum *sums;
    int nsums, capsums;
    int *rtmp; /* per region: entry in the summary being made, -1 */
    /* scan_summaries, per region: best offer (-1), its hourly, weighed price and spot,
     * fitting offers; and the regions it touched. */
    int *r_best, *r_touched;
    double *r_h, *r_w;
    bool *r_spot;
    size_t *r_cnt;
    double *best_w; /* per location: the best offer's weighed price */
    /* policy rejections of the group being built: count per reason id, ids touched */
    size_t *hcnt;
    int nhcnt;
    int *htouched;
    int nhtouched;
    bool failed; /* a policy hook failed */
};

/* Counts `n` offers the policies rejected for reason `id` against the group being built. */
static int count_rejected(struct scratch *sc, int id, size_t n)
{
    if (id < 0 || n == 0)
        return 0;
    if (id >= sc->nhcnt) {
        int cap = sc->nhcnt ? sc->nhcnt : 16;
        while (cap <= id)
            cap *= 2;
        size_t *c = realloc(sc->hcnt, (size_t)cap * sizeof(*c));
        int *t = realloc(sc->htouched, (size_t)cap * sizeof(*t));
        if (c)
            sc->hcnt = c;
        if (t)
            sc->htouched = t;
        if (!c || !t)
            return -1;
        memset(sc->hcnt + sc->nhcnt, 0, (size_t)(cap - sc->nhcnt) * sizeof(*c));
        sc->nhcnt = cap;
    }
    if (sc->hcnt[id] == 0)
        sc->htouched[sc->nhtouched++] = id;
    sc->hcnt[id] += n;
    return 0;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Moves the counted rejections into g (arena), by reason id, and clears them. */
static int take_rejected(struct plan_model *m, struct plan_group *g, struct scratch *sc)
{
    if (sc->nhtouched == 0)
        return 0;
    qsort(sc->htouched, (size_t)sc->nhtouched, sizeof(int), cmp_int);
    g->hreasons = core_arena_alloc(&m->arena, (size_t)sc->nhtouched * sizeof(*g->hreasons));
    if (!g->hreasons)
        return -1;
    for (int k = 0; k < sc->nhtouched; k++) {
        int id = sc->htouched[k];
        g->hreasons[k] = (struct plan_hreason){.id = id, .n = sc->hcnt[id]};
        sc->hcnt[id] = 0;
    }
    g->nhreasons = sc->nhtouched;
    sc->nhtouched = 0;
    return 0;
}

/* A bucket's offers in one region under one spot policy. */
struct rsum {
    int region;
    int best; /* catalog offer: least weighed price, then rank; -1 when none has a price */
    double hourly;
    double weighed; /* what the solver minimises: hourly, or as the policies scored it */
    bool spot;
    size_t total, nfit; /* offers there; of those, priced under the policy and allowed */
    int rej_off, rej_n; /* its policy rejections in bsum.rej */
};

/* Offers of one region of a summary that a policy rejected for one reason. */
struct rej {
    int k; /* the region's entry in bsum.r */
    int id;
    size_t n;
};

/* One bucket (GPU model and count) under one spot policy, region by region: a group reads
 * this instead of every offer of the bucket (100,000 groups x 2,000 offers is slow). */
struct bsum {
    struct rsum *r;
    int n;
    enum plan_reason why; /* the reason an offer without a price is counted under */
    struct rej *rej;      /* sorted by region entry */
    int nrej;
    /* With policy hooks, one summary per workload class: the workload it was made for, the
     * judge's handle on what the judgements depended on, and the next summary of the same
     * bucket and policy (-1). */
    const struct spec_workload *w;
    int share, next;
};

static bool region_matches(const struct spec_placement *p, const char *region)
{
    bool in = p->nregions_include == 0;
    for (size_t i = 0; i < p->nregions_include && !in; i++)
        in = fnmatch(p->regions_include[i], region, 0) == 0;
    for (size_t i = 0; i < p->nregions_exclude && in; i++)
        in = fnmatch(p->regions_exclude[i], region, 0) != 0;
    return in;
}

static void region_reasons(const struct plan_model *m, const struct plan_group *g, signed char *rr)
{
    const struct spec_workload *w = g->w;
    uint32_t declared = 0;
    for (size_t i = 0; i < m->spec->nclouds; i++)
        declared |= 1u << m->spec->clouds[i].id;
    uint32_t allowed = w->placement.clouds ? (w->placement.clouds & declared) : declared;
    for (int r = 0; r < m->nregions; r++) {
        const struct plan_region *pr = &m->regions[r];
        if (g->site) {
            if (pr->cloud != g->site->location.cloud || !(declared & (1u << pr->cloud)))
                rr[r] = PLAN_R_SITE_CLOUD;
            else if (strcmp(pr->name, g->site->location.region) != 0)
                rr[r] = PLAN_R_SITE_REGION;
            else
                rr[r] = -1;
        } else if (!(allowed & (1u << pr->cloud))) {
            rr[r] = PLAN_R_CLOUD;
        } else if (!pr->declared) {
            rr[r] = PLAN_R_UNDECLARED;
        } else {
            rr[r] = region_matches(&w->placement, pr->name) ? -1 : PLAN_R_EXCLUDED;
        }
    }
}

/* The price a node pays on `o` under `policy`: false when the policy rules it out. */
static bool offer_price(const struct plan_offer *full, enum spec_spot policy, double *hourly,
                        bool *spot, enum plan_reason *why)
{
    /* a blocked market is closed to new nodes (a kept node's option is made apart) */
    struct plan_offer open = *full;
    const struct plan_offer *o = &open;
    if (full->blocked_ondemand)
        open.ondemand = -1;
    if (full->blocked_spot)
        open.spot = -1;
    switch (policy) {
    case SPEC_SPOT_NEVER:
        *why = PLAN_R_NO_ONDEMAND;
        if (o->ondemand < 0)
            return false;
        *hourly = o->ondemand, *spot = false;
        return true;
    case SPEC_SPOT_ALWAYS:
        *why = PLAN_R_NO_SPOT;
        if (o->spot < 0)
            return false;
        *hourly = o->spot, *spot = true;
        return true;
    case SPEC_SPOT_AUTO:
    default:
        *why = PLAN_R_NO_PRICE;
        if (o->ondemand < 0 && o->spot < 0)
            return false;
        if (o->spot >= 0 && (o->ondemand < 0 || o->spot < o->ondemand))
            *hourly = o->spot, *spot = true;
        else
            *hourly = o->ondemand, *spot = false;
        return true;
    }
}

enum { PRICE_NONE = 0, PRICE_OK = 1, PRICE_REJECTED = 2, PRICE_ERROR = -1 };

/*
 * offer_price, then the policies' judgement (plan_options.judge) of the markets the spot
 * policy allows: the cheapest by weighed price among those they allow. PRICE_OK with the
 * price, what the solver weighs and the market; PRICE_NONE with *why (no price);
 * PRICE_REJECTED with *rej (the judge's reason for the market it rejected first, cheapest
 * first); PRICE_ERROR when a policy failed.
 */
static int judged_price(const struct plan_model *m, const struct spec_workload *w,
                        const struct plan_offer *o, enum spec_spot policy, double *hourly,
                        double *weighed, bool *spot, enum plan_reason *why, int *rej)
{
    if (!offer_price(o, policy, hourly, spot, why))
        return PRICE_NONE;
    *weighed = *hourly;
    const struct plan_judge *j = m->judge;
    if (!j)
        return PRICE_OK;
    /* the markets to judge, cheapest first: offer_price's choice, then for spot: auto the
     * other one when it is open */
    double h[2] = {*hourly, 0};
    bool sp[2] = {*spot, !*spot};
    int n = 1;
    if (policy == SPEC_SPOT_AUTO) {
        double other =
            *spot ? (o->blocked_ondemand ? -1 : o->ondemand) : (o->blocked_spot ? -1 : o->spot);
        if (other >= 0)
            h[n++] = other;
    }
    int best = -1;
    double bw = 0;
    *rej = -1;
    for (int k = 0; k < n; k++) {
        double wt;
        int id;
        int rc = j->judge(j->ctx, w, o, sp[k], h[k], &wt, &id);
        if (rc < 0)
            return PRICE_ERROR;
        if (rc == 0) {
            if (*rej < 0)
                *rej = id;
            continue;
        }
        if (best < 0 || wt < bw) {
            best = k;
            bw = wt;
        }
    }
    if (best < 0)
        return PRICE_REJECTED;
    *hourly = h[best];
    *spot = sp[best];
    *weighed = bw;
    return PRICE_OK;
}

static bool model_memory_fits(const struct spec_gpu *g, const struct core_gpu_model *model)
{
    uint64_t bytes = (uint64_t)model->memory_gb * 1000000000ull;
    return bytes >= g->memory_min && (!g->memory_max || bytes <= g->memory_max);
}

/* The workload's GPU models as indices, deduplicated; returns how many. */
static int group_models(const struct gpu_index *gi, const struct spec_gpu *g, int *out)
{
    int n = 0;
    for (size_t i = 0; i < g->nnames; i++) {
        const struct core_gpu_model *mod = core_gpu_model_find(g->names[i]);
        if (!mod)
            continue;
        int id = (int)(mod - gi->models);
        bool dup = false;
        for (int k = 0; k < n && !dup; k++)
            dup = out[k] == id;
        if (!dup)
            out[n++] = id;
    }
    return n;
}

static double egress_per_node(const struct plan_model *m, const struct plan_group *g, int region)
{
    const struct spec_workload *w = g->w;
    if (!w->has_data || !w->data_bytes)
        return 0;
    const struct plan_region *r = &m->regions[region];
    bool same = w->data_location.cloud == r->cloud &&
                strcmp(w->data_location.region ? w->data_location.region : "", r->name) == 0;
    return (double)w->data_bytes / 1e9 *
           plan_egress_usd_per_gb(w->data_location.cloud, r->cloud, same);
}

static int cmp_opt_ctx(const struct plan_opt *x, const struct plan_opt *y)
{
    if (x->adj != y->adj)
        return x->adj < y->adj ? -1 : 1;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

static int cmp_opt_q(const void *a, const void *b)
{
    return cmp_opt_ctx(a, b);
}

/* Does catalog offer `oi` fit group g (ignoring quotas) on the market `want_spot`, and do
 * the policies allow it? 1 with its price and weighed price, 0 when not, -1 when a policy
 * failed. */
static int offer_fits(const struct plan_model *m, const struct plan_group *g,
                      const struct gpu_index *gi, const signed char *rr, int oi, bool want_spot,
                      double *hourly, double *weighed)
{
    const struct plan_offer *o = &m->cat->offers[oi];
    const struct core_gpu_model *mod = core_gpu_model_find(o->gpu);
    if (!mod || o->gpus != g->gpus || !model_memory_fits(&g->w->gpu, mod))
        return 0;
    int ids[64];
    int nm = group_models(gi, &g->w->gpu, ids);
    bool named = false;
    for (int k = 0; k < nm && !named; k++)
        named = ids[k] == (int)(mod - gi->models);
    if (!named || rr[m->offer_region[oi]] >= 0)
        return 0;
    enum spec_spot pol = g->w->spot;
    if (want_spot ? (o->spot < 0 || pol == SPEC_SPOT_NEVER)
                  : (o->ondemand < 0 || pol == SPEC_SPOT_ALWAYS))
        return 0;
    *hourly = *weighed = want_spot ? o->spot : o->ondemand;
    if (!m->judge)
        return 1;
    int id;
    return m->judge->judge(m->judge->ctx, g->w, o, want_spot, *hourly, weighed, &id);
}

static int find_place(const struct plan_model *m, const struct oref *by_rank,
                      const struct plan_current *c, const char *zone)
{
    struct plan_offer key = {.cloud = c->cloud,
                             .region = c->region ? c->region : "",
                             .zone = zone,
                             .instance_type = c->instance_type ? c->instance_type : ""};
    size_t lo = 0, hi = m->cat->noffers;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_offer_place(by_rank[mid].o, &key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < m->cat->noffers && cmp_offer_place(by_rank[lo].o, &key) == 0)
        return by_rank[lo].idx;
    return -1;
}

/* The offer a current node runs on: the one of its zone, else the one priced for its whole
 * region (zone ""), which apply records with the zone the instance landed in. -1: none. */
static int find_offer(const struct plan_model *m, const struct oref *by_rank,
                      const struct plan_current *c)
{
    int oi = find_place(m, by_rank, c, c->zone ? c->zone : "");
    if (oi < 0 && c->zone && *c->zone)
        oi = find_place(m, by_rank, c, "");
    return oi;
}

static int add_kept_options(struct plan_model *m, struct plan_group *g, const struct gpu_index *gi,
                            const struct oref *by_rank, const signed char *rr, const int *lreg_of)
{
    if (!g->current)
        return 0;
    int nkept = 0;
    for (int i = 0; i < g->n; i++)
        nkept += g->current[i] != NULL;
    if (!nkept)
        return 0;
    struct plan_opt *opts = core_arena_alloc(&m->arena, (size_t)(g->nopts + nkept) * sizeof(*opts));
    if (!opts)
        return -1;
    memcpy(opts, g->opts, (size_t)g->nopts * sizeof(*opts));
    g->opts = opts;
    for (int i = 0; i < g->n; i++) {
        const struct plan_current *c = g->current[i];
        if (!c)
            continue;
        int oi = find_offer(m, by_rank, c);
        double hourly, weighed;
        int fit = oi < 0 ? 0 : offer_fits(m, g, gi, rr, oi, c->spot, &hourly, &weighed);
        if (fit < 0)
            return -2; /* a policy failed */
        if (fit == 0)
            continue;
        int region = m->offer_region[oi];
        if (lreg_of[region] < 0)
            continue;
        struct plan_opt *k = &g->opts[g->nopts++];
        memset(k, 0, sizeof(*k));
        k->offer = &m->cat->offers[oi];
        k->region = region;
        k->zone = m->offer_zone[oi];
        k->lreg = lreg_of[region];
        k->loc = g->together == SPEC_TOGETHER_ZONE ? k->zone : region;
        k->cloud = m->regions[region].cloud;
        k->rank = m->offer_rank[oi];
        k->spot = c->spot;
        k->hourly = hourly;
        k->egress = egress_per_node(m, g, region);
        k->cost = hourly * g->hours + k->egress;
        k->adj = (weighed * g->hours + k->egress) * (1 - m->threshold);
        k->noffers = 0;
        k->kept = i;
    }
    return 0;
}

/*
 * together: zone. All zones of a region share its quota, caps and egress, so for new nodes
 * the cheapest zone of a region (hourly, then catalog order) dominates the others: only it
 * is kept, and any zone where the group runs now (its kept nodes make that zone cheaper).
 * Reorders sc->touched: the kept zones first (sc->ntouched of them), the pruned after;
 * sets sc->rzone per region; a pruned zone's offers are counted for its region's cheapest.
 */
static void prune_zones(struct plan_model *m, const struct plan_group *g,
                        const struct oref *by_rank, struct scratch *sc)
{
    for (int t = 0; t < sc->ntouched; t++) {
        int z = sc->touched[t], r = m->zones[z].region, cur = sc->rzone[r];
        if (cur < 0 || sc->best_w[z] < sc->best_w[cur] ||
            (sc->best_w[z] == sc->best_w[cur] &&
             m->offer_rank[sc->best[z]] < m->offer_rank[sc->best[cur]]))
            sc->rzone[r] = z;
    }
    for (int i = 0; g->current && i < g->n; i++) {
        int oi = g->current[i] ? find_offer(m, by_rank, g->current[i]) : -1;
        if (oi >= 0)
            sc->zkeep[m->offer_zone[oi]] = true;
    }
    int keep = 0;
    for (int t = 0; t < sc->ntouched; t++) {
        int z = sc->touched[t], best = sc->rzone[m->zones[z].region];
        if (best == z || sc->zkeep[z]) {
            sc->touched[t] = sc->touched[keep];
            sc->touched[keep++] = z;
        } else {
            sc->cnt[best] += sc->cnt[z]; /* its offers count for the region's cheapest zone */
        }
    }
    for (int i = 0; g->current && i < g->n; i++) {
        int oi = g->current[i] ? find_offer(m, by_rank, g->current[i]) : -1;
        if (oi >= 0)
            sc->zkeep[m->offer_zone[oi]] = false;
    }
    sc->ntouched = keep;
}

static int cmp_rej(const void *a, const void *b)
{
    const struct rej *x = a, *y = b;
    if (x->k != y->k)
        return x->k < y->k ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Sorts a summary's rejections by region entry, merges equal reasons, points the entries at
 * theirs. */
static void index_rejections(struct bsum *b)
{
    if (b->nrej == 0)
        return;
    qsort(b->rej, (size_t)b->nrej, sizeof(*b->rej), cmp_rej);
    int out = 0;
    for (int i = 0; i < b->nrej; i++) {
        if (out > 0 && b->rej[out - 1].k == b->rej[i].k && b->rej[out - 1].id == b->rej[i].id)
            b->rej[out - 1].n += b->rej[i].n;
        else
            b->rej[out++] = b->rej[i];
    }
    b->nrej = out;
    for (int i = 0; i < out; i++) {
        struct rsum *e = &b->r[b->rej[i].k];
        if (e->rej_n++ == 0)
            e->rej_off = i;
    }
}

static int add_rej(struct bsum *b, int *cap, int k, int id)
{
    if (b->nrej > 0 && b->rej[b->nrej - 1].k == k && b->rej[b->nrej - 1].id == id) {
        b->rej[b->nrej - 1].n++;
        return 0;
    }
    if (b->nrej == *cap) {
        int nc = *cap ? 2 * *cap : 16;
        struct rej *n = realloc(b->rej, (size_t)nc * sizeof(*n));
        if (!n)
            return -1;
        b->rej = n;
        *cap = nc;
    }
    b->rej[b->nrej++] = (struct rej){.k = k, .id = id, .n = 1};
    return 0;
}

/* Makes summary `b` of bucket [lo, hi) under `policy` for workload w (its judgements, when
 * there is a judge). 0, or -1 (sc->failed when a policy failed, else out of memory). */
static int make_summary(const struct plan_model *m, const struct gpu_index *gi, size_t lo,
                        size_t hi, enum spec_spot policy, const struct spec_workload *w,
                        struct bsum *b, struct scratch *sc)
{
    memset(b, 0, sizeof(*b));
    b->share = b->next = -1;
    b->w = w;
    b->r = malloc((hi - lo ? hi - lo : 1) * sizeof(*b->r));
    if (!b->r)
        return -1;
    int rejcap = 0, rc = 0;
    if (m->judge)
        m->judge->share_begin(m->judge->ctx);
    for (size_t i = lo; i < hi && rc == 0; i++) {
        int oi = gi->by_model[i].idx, region = m->offer_region[oi];
        if (sc->rtmp[region] < 0) {
            sc->rtmp[region] = b->n;
            b->r[b->n++] = (struct rsum){.region = region, .best = -1};
        }
        int k = sc->rtmp[region];
        struct rsum *e = &b->r[k];
        e->total++;
        double hourly, weighed;
        bool spot;
        int id;
        switch (judged_price(m, w, &m->cat->offers[oi], policy, &hourly, &weighed, &spot, &b->why,
                             &id)) {
        case PRICE_OK:
            break;
        case PRICE_REJECTED:
            rc = add_rej(b, &rejcap, k, id);
            continue;
        case PRICE_ERROR:
            sc->failed = true;
            rc = -1;
            continue;
        default:
            continue;
        }
        e->nfit++;
        if (e->best < 0 || weighed < e->weighed ||
            (weighed == e->weighed && m->offer_rank[oi] < m->offer_rank[e->best])) {
            e->best = oi;
            e->hourly = hourly;
            e->weighed = weighed;
            e->spot = spot;
        }
    }
    for (int k = 0; k < b->n; k++)
        sc->rtmp[b->r[k].region] = -1;
    if (m->judge) {
        b->share = m->judge->share_end(m->judge->ctx);
        if (b->share < 0)
            rc = -1;
    }
    if (rc != 0)
        return -1;
    double unused_h;
    bool unused_s;
    struct plan_offer none = {.ondemand = -1, .spot = -1};
    offer_price(&none, policy, &unused_h, &unused_s, &b->why);
    index_rejections(b);
    return 0;
}

/* The summary of bucket [lo, hi) under `policy` for workload w, made on first use, or one
 * made for a workload the judge says w agrees with; NULL on out of memory or a policy
 * failure (sc->failed). */
static const struct bsum *summary(const struct plan_model *m, const struct gpu_index *gi, size_t lo,
                                  size_t hi, enum spec_spot policy, const struct spec_workload *w,
                                  struct scratch *sc)
{
    int *slot = &sc->sum_of[policy][lo];
    for (int k = *slot; k >= 0; k = sc->sums[k].next) {
        const struct bsum *b = &sc->sums[k];
        if (!m->judge || b->w == w || m->judge->share_same(m->judge->ctx, b->share, b->w, w))
            return b;
        slot = &sc->sums[k].next;
    }
    if (sc->nsums == sc->capsums) {
        int cap = sc->capsums ? 2 * sc->capsums : 64;
        struct bsum *n = realloc(sc->sums, (size_t)cap * sizeof(*n));
        if (!n)
            return NULL;
        sc->sums = n;
        sc->capsums = cap;
    }
    struct bsum *b = &sc->sums[sc->nsums];
    if (make_summary(m, gi, lo, hi, policy, w, b, sc) != 0) {
        free(b->r);
        free(b->rej);
        return NULL;
    }
    *slot = sc->nsums++;
    return b;
}

/* Options of g from the bucket summaries: the cheapest fitting offer per region (for
 * together: zone, that offer's zone, the cheapest zone of the region: prune_zones' choice
 * when no node runs anywhere now). Counts the reasons and the fitting offers as the
 * offer-by-offer scan does. -1 on out of memory. */
static int scan_summaries(struct plan_model *m, struct plan_group *g, const struct gpu_index *gi,
                          const int *models, int nm, struct scratch *sc)
{
    int nt = 0;
    for (int k = 0; k < nm; k++) {
        size_t lo, hi;
        bucket(gi, models[k], g->gpus, &lo, &hi);
        if (lo == hi || !model_memory_fits(&g->w->gpu, &gi->models[models[k]]))
            continue;
        const struct bsum *b = summary(m, gi, lo, hi, g->w->spot, g->w, sc);
        if (!b)
            return -1;
        for (int j = 0; j < b->n; j++) {
            const struct rsum *e = &b->r[j];
            int r = e->region;
            if (sc->rreason[r] >= 0) {
                g->reasons[(int)sc->rreason[r]] += e->total;
                continue;
            }
            size_t nrej = 0;
            for (int q = e->rej_off; q < e->rej_off + e->rej_n; q++) {
                nrej += b->rej[q].n;
                if (count_rejected(sc, b->rej[q].id, b->rej[q].n) != 0)
                    return -1;
            }
            g->reasons[b->why] += e->total - e->nfit - nrej;
            if (!e->nfit)
                continue;
            g->nfit += e->nfit;
            sc->r_cnt[r] += e->nfit;
            int cur = sc->r_best[r];
            if (cur < 0)
                sc->r_touched[nt++] = r;
            if (cur < 0 || e->weighed < sc->r_w[r] ||
                (e->weighed == sc->r_w[r] && m->offer_rank[e->best] < m->offer_rank[cur])) {
                sc->r_best[r] = e->best;
                sc->r_h[r] = e->hourly;
                sc->r_w[r] = e->weighed;
                sc->r_spot[r] = e->spot;
            }
        }
    }
    bool zone_loc = g->together == SPEC_TOGETHER_ZONE;
    for (int t = 0; t < nt; t++) {
        int r = sc->r_touched[t], oi = sc->r_best[r];
        int loc = zone_loc ? m->offer_zone[oi] : r;
        sc->touched[sc->ntouched++] = loc;
        sc->best[loc] = oi;
        sc->best_hourly[loc] = sc->r_h[r];
        sc->best_w[loc] = sc->r_w[r];
        sc->best_spot[loc] = sc->r_spot[r];
        sc->cnt[loc] = sc->r_cnt[r];
        sc->r_best[r] = -1;
        sc->r_cnt[r] = 0;
    }
    return 0;
}

static int build_group(struct plan_model *m, struct plan_group *g, const struct gpu_index *gi,
                       const struct oref *by_rank, struct scratch *sc)
{
    const struct spec_workload *w = g->w;
    region_reasons(m, g, sc->rreason);
    int models[64];
    int nm = group_models(gi, &w->gpu, models);
    size_t named = 0, right_count = 0;
    bool zone_loc = g->together == SPEC_TOGETHER_ZONE;
    sc->ntouched = 0;
    bool by_offer = zone_loc && g->current;
    for (int k = 0; k < nm; k++) {
        named += gi->model_total[models[k]];
        size_t lo, hi;
        bucket(gi, models[k], g->gpus, &lo, &hi);
        right_count += hi - lo;
        if (!model_memory_fits(&w->gpu, &gi->models[models[k]])) {
            g->reasons[PLAN_R_MEMORY] += hi - lo;
            continue;
        }
        for (size_t i = lo; by_offer && i < hi; i++) {
            int oi = gi->by_model[i].idx;
            int region = m->offer_region[oi];
            if (sc->rreason[region] >= 0) {
                g->reasons[(int)sc->rreason[region]]++;
                continue;
            }
            double hourly, weighed;
            bool spot;
            enum plan_reason why;
            int id;
            int pr = judged_price(m, w, &m->cat->offers[oi], w->spot, &hourly, &weighed, &spot,
                                  &why, &id);
            if (pr == PRICE_ERROR) {
                sc->failed = true;
                return -1;
            }
            if (pr == PRICE_REJECTED) {
                if (count_rejected(sc, id, 1) != 0)
                    return -1;
                continue;
            }
            if (pr == PRICE_NONE) {
                g->reasons[why]++;
                continue;
            }
            g->nfit++;
            int loc = zone_loc ? m->offer_zone[oi] : region;
            sc->cnt[loc]++;
            int cur = sc->best[loc];
            if (cur < 0)
                sc->touched[sc->ntouched++] = loc;
            if (cur < 0 || weighed < sc->best_w[loc] ||
                (weighed == sc->best_w[loc] && m->offer_rank[oi] < m->offer_rank[cur])) {
                sc->best[loc] = oi;
                sc->best_hourly[loc] = hourly;
                sc->best_w[loc] = weighed;
                sc->best_spot[loc] = spot;
            }
        }
    }
    if (!by_offer && scan_summaries(m, g, gi, models, nm, sc) != 0)
        return -1;
    g->reasons[PLAN_R_WRONG_GPU] = m->cat->noffers - named;
    g->reasons[PLAN_R_WRONG_COUNT] = named - right_count;
    int ntouched = sc->ntouched;
    if (zone_loc)
        prune_zones(m, g, by_rank, sc);

    g->nbase = sc->ntouched;
    g->nopts = sc->ntouched;
    g->opts = core_arena_alloc(&m->arena, (size_t)(g->nopts ? g->nopts : 1) * sizeof(*g->opts));
    g->lreg_region = core_arena_alloc(&m->arena, (size_t)(g->nopts ? g->nopts : 1) * sizeof(int));
    if (!g->opts || !g->lreg_region)
        return -1;
    for (int t = 0; t < sc->ntouched; t++) {
        int loc = sc->touched[t];
        int oi = sc->best[loc];
        struct plan_opt *o = &g->opts[t];
        o->offer = &m->cat->offers[oi];
        o->region = m->offer_region[oi];
        o->zone = m->offer_zone[oi];
        o->loc = loc;
        o->cloud = m->regions[o->region].cloud;
        o->rank = m->offer_rank[oi];
        o->spot = sc->best_spot[loc];
        o->hourly = sc->best_hourly[loc];
        o->egress = egress_per_node(m, g, o->region);
        o->cost = o->hourly * g->hours + o->egress;
        o->adj = sc->best_w[loc] * g->hours + o->egress;
        o->kept = -1;
        o->noffers = sc->cnt[loc];
    }
    qsort(g->opts, (size_t)g->nopts, sizeof(*g->opts), cmp_opt_q);

    for (int t = 0; t < ntouched; t++) {
        sc->best[sc->touched[t]] = -1;
        sc->cnt[sc->touched[t]] = 0;
    }
    for (int t = 0; t < g->nopts && zone_loc; t++)
        sc->rzone[g->opts[t].region] = -1;

    /* Local regions, in option order. */
    g->nlreg = 0;
    for (int t = 0; t < g->nopts; t++) {
        int r = g->opts[t].region;
        if (sc->lreg[r] < 0) {
            sc->lreg[r] = g->nlreg;
            g->lreg_region[g->nlreg++] = r;
        }
        g->opts[t].lreg = sc->lreg[r];
    }
    g->statcap = core_arena_alloc(&m->arena, (size_t)(g->nlreg ? g->nlreg : 1) * sizeof(int));
    if (!g->statcap)
        return -1;
    for (int l = 0; l < g->nlreg; l++) {
        const struct plan_region *r = &m->regions[g->lreg_region[l]];
        int64_t cap = g->maxpr;
        if (r->quota >= 0 && r->quota / g->gpus < cap)
            cap = r->quota / g->gpus;
        g->statcap[l] = (int)cap;
    }
    int rc = add_kept_options(m, g, gi, by_rank, sc->rreason, sc->lreg);
    for (int l = 0; l < g->nlreg; l++)
        sc->lreg[g->lreg_region[l]] = -1;
    if (rc == -2)
        sc->failed = true;
    if (rc == 0)
        rc = take_rejected(m, g, sc);
    return rc < 0 ? -1 : 0;
}

/* ---- current placements ---- */

static int cmp_site_name(const void *a, const void *b)
{
    const struct spec_site *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* Maps each current entry to its group and node: "name[index]" or "name[site]". */
static int attach_current(struct plan_model *m, const struct plan_options *opts)
{
    if (!opts || !opts->current || !opts->ncurrent)
        return 0;
    for (size_t i = 0; i < opts->ncurrent; i++) {
        const struct plan_current *c = &opts->current[i];
        const char *addr = c->address ? c->address : "";
        const char *br = strchr(addr, '[');
        size_t len = strlen(addr);
        if (!br || len < 3 || addr[len - 1] != ']')
            continue;
        size_t nlen = (size_t)(br - addr);
        const char *inner = br + 1;
        size_t ilen = len - nlen - 2;
        for (int gi = 0; gi < m->ngroups; gi++) {
            struct plan_group *g = &m->groups[gi];
            if (strlen(g->w->name) != nlen || strncmp(g->w->name, addr, nlen) != 0)
                continue;
            int node = -1;
            if (g->site) {
                if (strlen(g->site->name) == ilen && strncmp(g->site->name, inner, ilen) == 0)
                    node = 0;
            } else {
                char *end;
                char tmp[24];
                if (ilen == 0 || ilen >= sizeof(tmp))
                    break;
                memcpy(tmp, inner, ilen);
                tmp[ilen] = '\0';
                long v = strtol(tmp, &end, 10);
                if (*end == '\0' && tmp[0] >= '0' && tmp[0] <= '9' && v >= 0 && v < g->n)
                    node = (int)v;
            }
            if (node < 0)
                continue;
            if (!g->current) {
                g->current = core_arena_alloc(&m->arena, (size_t)g->n * sizeof(*g->current));
                if (!g->current)
                    return -1;
            }
            g->current[node] = c;
            break;
        }
    }
    return 0;
}

static int build_groups(struct plan_model *m)
{
    const struct spec *s = m->spec;
    size_t ng = 0;
    m->nnodes = 0;
    for (size_t i = 0; i < s->nworkloads; i++) {
        const struct spec_workload *w = &s->workloads[i];
        ng += w->kind == SPEC_KIND_FEDERATED ? w->nsites : 1;
        m->nnodes += w->kind == SPEC_KIND_FEDERATED ? w->nsites : (size_t)w->count;
    }
    if (ng > INT_MAX / 4)
        return -1;
    m->groups = core_arena_alloc(&m->arena, (ng ? ng : 1) * sizeof(*m->groups));
    if (!m->groups)
        return -1;
    m->ngroups = 0;
    for (size_t i = 0; i < s->nworkloads; i++) {
        const struct spec_workload *w = &s->workloads[i];
        size_t nsub = w->kind == SPEC_KIND_FEDERATED ? w->nsites : 1;
        const struct spec_site **sites = NULL;
        if (w->kind == SPEC_KIND_FEDERATED) {
            sites = core_arena_alloc(&m->arena, (nsub ? nsub : 1) * sizeof(*sites));
            if (!sites)
                return -1;
            for (size_t k = 0; k < nsub; k++)
                sites[k] = &w->sites[k];
            qsort(sites, nsub, sizeof(*sites), cmp_site_name);
        }
        for (size_t k = 0; k < nsub; k++) {
            struct plan_group *g = &m->groups[m->ngroups++];
            memset(g, 0, sizeof(*g));
            g->w = w;
            g->wi = i;
            g->gpus = w->gpu.count > 0 ? w->gpu.count : 1;
            g->hours = w->hours;
            if (sites) {
                g->site = sites[k];
                g->n = 1;
                g->label = core_arena_printf(&m->arena, "%s[%s]", w->name, g->site->name);
                g->loc = &g->site->loc;
                g->maxpr = 1;
                g->spread = 0;
                g->together = SPEC_TOGETHER_NONE;
            } else {
                g->n = w->count > 0 ? w->count : 1;
                g->label = w->name;
                g->loc = &w->loc;
                g->maxpr = w->placement.max_per_region > 0 && w->placement.max_per_region < g->n
                               ? w->placement.max_per_region
                               : g->n;
                g->spread = w->placement.spread_clouds;
                g->together = w->placement.together;
            }
            if (!g->label)
                return -1;
            int nb = 0;
            for (int b = 0; b < m->nbudgets; b++)
                nb += spec_budget_matches(m->budgets[b].b, w);
            g->budgets = core_arena_alloc(&m->arena, (size_t)(nb ? nb : 1) * sizeof(int));
            if (!g->budgets)
                return -1;
            for (int b = 0; b < m->nbudgets; b++)
                if (spec_budget_matches(m->budgets[b].b, w))
                    g->budgets[g->nbudgets++] = b;
        }
    }
    return 0;
}

static int build_budgets(struct plan_model *m)
{
    const struct spec *s = m->spec;
    m->nbudgets = (int)s->nbudgets;
    m->budgets = core_arena_alloc(&m->arena, (s->nbudgets ? s->nbudgets : 1) * sizeof(*m->budgets));
    if (!m->budgets)
        return -1;
    for (size_t i = 0; i < s->nbudgets; i++) {
        const struct spec_budget *b = &s->budgets[i];
        struct plan_budget_row *r = &m->budgets[i];
        r->b = b;
        r->cap = INFINITY;
        if (b->has_hourly)
            r->cap = b->hourly;
        if (b->has_monthly && b->monthly / PLAN_HOURS_PER_MONTH < r->cap) {
            r->cap = b->monthly / PLAN_HOURS_PER_MONTH;
            r->monthly_binds = true;
        }
    }
    return 0;
}

static int build_rows(struct plan_model *m)
{
    bool *used = calloc((size_t)(m->nregions ? m->nregions : 1), sizeof(bool));
    if (!used)
        return -1;
    for (int g = 0; g < m->ngroups; g++)
        for (int o = 0; o < m->groups[g].nopts; o++)
            used[m->groups[g].opts[o].region] = true;
    int n = 0;
    for (int r = 0; r < m->nregions; r++)
        n += used[r] && m->regions[r].quota >= 0;
    m->row_region = core_arena_alloc(&m->arena, (size_t)(n ? n : 1) * sizeof(int));
    if (!m->row_region) {
        free(used);
        return -1;
    }
    m->nrows = 0;
    for (int r = 0; r < m->nregions; r++)
        if (used[r] && m->regions[r].quota >= 0) {
            m->regions[r].row = m->nrows;
            m->row_region[m->nrows++] = r;
        }
    free(used);
    for (int g = 0; g < m->ngroups; g++)
        for (int o = 0; o < m->groups[g].nopts; o++)
            m->groups[g].opts[o].row = m->regions[m->groups[g].opts[o].region].row;
    return 0;
}

int plan_model_build(const struct spec *spec, const struct plan_catalog *cat,
                     const struct plan_options *opts, struct core_diags *diags,
                     struct plan_model **out)
{
    *out = NULL;
    struct plan_model *m = calloc(1, sizeof(*m));
    if (!m) {
        core_diag_add(diags, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory");
        return -1;
    }
    core_arena_init(&m->arena, 0);
    m->spec = spec;
    m->cat = cat;
    m->judge = opts ? opts->judge : NULL;
    m->threshold = 0.10;
    if (opts && opts->move_threshold != 0)
        m->threshold = opts->move_threshold > 0 ? opts->move_threshold : 0;
    if (m->threshold >= 1)
        m->threshold = 0.99;
    size_t no = cat->noffers;
    struct oref *refs = malloc((no ? no : 1) * sizeof(*refs));
    struct oref *by_rank = malloc((no ? no : 1) * sizeof(*by_rank));
    struct gpu_index gi = {0};
    struct scratch sc = {0};
    int rc = -1;
    if (!refs || !by_rank || build_places(m, refs) != 0)
        goto done;
    memcpy(by_rank, refs, (no ? no : 1) * sizeof(*refs));
    if (build_gpu_index(m, refs, &gi) != 0 || build_budgets(m) != 0 || build_groups(m) != 0 ||
        attach_current(m, opts) != 0)
        goto done;
    size_t nloc = (size_t)(m->nzones > m->nregions ? m->nzones : m->nregions) + 1;
    sc.rreason = malloc((size_t)m->nregions + 1);
    sc.best = malloc(nloc * sizeof(int));
    sc.best_spot = malloc(nloc * sizeof(bool));
    sc.best_hourly = malloc(nloc * sizeof(double));
    sc.best_w = malloc(nloc * sizeof(double));
    sc.touched = malloc(nloc * sizeof(int));
    sc.lreg = malloc(((size_t)m->nregions + 1) * sizeof(int));
    sc.rzone = malloc(((size_t)m->nregions + 1) * sizeof(int));
    sc.zkeep = calloc(nloc, sizeof(bool));
    sc.cnt = calloc(nloc, sizeof(size_t));
    size_t nreg = (size_t)m->nregions + 1;
    for (int p = 0; p < 3; p++) {
        sc.sum_of[p] = malloc((no ? no : 1) * sizeof(int));
        for (size_t i = 0; sc.sum_of[p] && i < no; i++)
            sc.sum_of[p][i] = -1;
    }
    sc.rtmp = malloc(nreg * sizeof(int));
    sc.r_best = malloc(nreg * sizeof(int));
    sc.r_touched = malloc(nreg * sizeof(int));
    sc.r_h = malloc(nreg * sizeof(double));
    sc.r_w = malloc(nreg * sizeof(double));
    sc.r_spot = malloc(nreg * sizeof(bool));
    sc.r_cnt = calloc(nreg, sizeof(size_t));
    if (!sc.sum_of[0] || !sc.sum_of[1] || !sc.sum_of[2] || !sc.rtmp || !sc.r_best ||
        !sc.r_touched || !sc.r_h || !sc.r_w || !sc.r_spot || !sc.r_cnt || !sc.best_w)
        goto done;
    for (size_t i = 0; i < nreg; i++)
        sc.rtmp[i] = sc.r_best[i] = -1;
    if (!sc.rreason || !sc.best || !sc.best_spot || !sc.best_hourly || !sc.touched || !sc.lreg ||
        !sc.rzone || !sc.zkeep || !sc.cnt)
        goto done;
    for (size_t i = 0; i < nloc; i++)
        sc.best[i] = -1;
    for (int i = 0; i <= m->nregions; i++)
        sc.lreg[i] = sc.rzone[i] = -1;
    m->nx = 0;
    for (int g = 0; g < m->ngroups; g++) {
        if (build_group(m, &m->groups[g], &gi, by_rank, &sc) != 0)
            goto done;
        m->groups[g].xoff = m->nx;
        if (m->nx > INT_MAX - m->groups[g].nopts)
            goto done;
        m->nx += m->groups[g].nopts;
    }
    if (build_rows(m) != 0)
        goto done;
    int *olreg = core_arena_alloc(&m->arena, (size_t)(m->nx ? m->nx : 1) * sizeof(int));
    if (!olreg)
        goto done;
    for (int g = 0; g < m->ngroups; g++) {
        struct plan_group *gr = &m->groups[g];
        for (int o = 0; o < gr->nopts; o++)
            olreg[gr->xoff + o] = gr->opts[o].lreg;
        gr->olreg = olreg + gr->xoff;
    }
    rc = 0;
done:
    free(refs);
    free(by_rank);
    free(gi.model_total);
    free(sc.rreason);
    free(sc.best);
    free(sc.best_spot);
    free(sc.best_hourly);
    free(sc.touched);
    free(sc.lreg);
    free(sc.rzone);
    free(sc.zkeep);
    free(sc.cnt);
    for (int p = 0; p < 3; p++)
        free(sc.sum_of[p]);
    for (int k = 0; k < sc.nsums; k++) {
        free(sc.sums[k].r);
        free(sc.sums[k].rej);
    }
    free(sc.sums);
    free(sc.best_w);
    free(sc.r_w);
    free(sc.hcnt);
    free(sc.htouched);
    free(sc.rtmp);
    free(sc.r_best);
    free(sc.r_touched);
    free(sc.r_h);
    free(sc.r_spot);
    free(sc.r_cnt);
    if (rc != 0) {
        if (!sc.failed) /* else the judge reported the policy's error */
            core_diag_add(diags, CORE_SEV_ERROR, "out-of-memory", NULL,
                          "out of memory while building the placement model");
        plan_model_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

void plan_model_free(struct plan_model *m)
{
    if (!m)
        return;
    core_arena_release(&m->arena);
    free(m);
}

/* ---- solutions ---- */

struct plan_sol *plan_sol_new(struct plan_model *m)
{
    struct plan_sol *s = core_arena_alloc(&m->arena, sizeof(*s));
    if (!s)
        return NULL;
    s->x = core_arena_alloc(&m->arena, (size_t)(m->nx ? m->nx : 1) * sizeof(int));
    s->placed = core_arena_alloc(&m->arena, (size_t)(m->ngroups ? m->ngroups : 1) * sizeof(bool));
    if (!s->x || !s->placed)
        return NULL;
    s->unplaced = m->ngroups;
    return s;
}

void plan_sol_copy(const struct plan_model *m, struct plan_sol *dst, const struct plan_sol *src)
{
    memcpy(dst->x, src->x, (size_t)m->nx * sizeof(int));
    memcpy(dst->placed, src->placed, (size_t)m->ngroups * sizeof(bool));
    dst->unplaced = src->unplaced;
    dst->cost = src->cost;
    dst->adj = src->adj;
}

void plan_sol_eval(const struct plan_model *m, struct plan_sol *s)
{
    s->cost = 0;
    s->adj = 0;
    s->unplaced = 0;
    for (int g = 0; g < m->ngroups; g++) {
        const struct plan_group *gr = &m->groups[g];
        if (!s->placed[g]) {
            s->unplaced++;
            continue;
        }
        const int *x = s->x + gr->xoff;
        for (int o = 0; o < gr->nopts; o++)
            if (x[o]) {
                s->cost += x[o] * gr->opts[o].cost;
                s->adj += x[o] * gr->opts[o].adj;
            }
    }
}

void plan_usage(const struct plan_model *m, const struct plan_sol *s, int64_t *row_used,
                double *budget_used)
{
    if (row_used)
        memset(row_used, 0, (size_t)m->nrows * sizeof(*row_used));
    if (budget_used)
        for (int b = 0; b < m->nbudgets; b++)
            budget_used[b] = 0;
    for (int g = 0; g < m->ngroups; g++) {
        const struct plan_group *gr = &m->groups[g];
        if (!s->placed[g])
            continue;
        const int *x = s->x + gr->xoff;
        double h = 0;
        for (int o = 0; o < gr->nopts; o++) {
            if (!x[o])
                continue;
            int row = m->regions[gr->opts[o].region].row;
            if (row_used && row >= 0)
                row_used[row] += (int64_t)x[o] * gr->gpus;
            h += x[o] * gr->opts[o].hourly;
        }
        if (budget_used)
            for (int b = 0; b < gr->nbudgets; b++)
                budget_used[gr->budgets[b]] += h;
    }
}

void plan_caps(const struct plan_model *m, const struct plan_group *g, const int64_t *row_used,
               int *cap)
{
    for (int l = 0; l < g->nlreg; l++) {
        const struct plan_region *r = &m->regions[g->lreg_region[l]];
        int64_t c = g->maxpr;
        if (r->row >= 0) {
            int64_t left = r->quota - row_used[r->row];
            int64_t fit = left > 0 ? left / g->gpus : 0;
            if (fit < c)
                c = fit;
        }
        cap[l] = (int)c;
    }
}
