/*
 * baseline: the SkyPilot-style reference planner, and an independent plan checker, for the
 * planner benchmark (bench/plan/run.sh).
 *
 *   cc -O2 -std=c11 -o baseline bench/plan/baseline.c -lm
 *   baseline INSTANCE_DIR                     plan with the baseline, check it, print totals
 *   baseline --check PLAN.json INSTANCE_DIR   check a `gpuform plan --json` document
 *
 * INSTANCE_DIR is what bench/plan/gen_plan.c wrote: instance.txt (the problem, resolved:
 * allowed regions, models, quotas, budgets) and catalog.csv (gpuform's catalog format).
 *
 * The baseline does what SkyPilot's optimizer does (sky/optimizer.py): each workload on its
 * own takes its cheapest feasible placement (cheapest offer per region, the workload's own
 * rules: GPU, memory, clouds, regions, spot, together, spread, max_per_region, federated
 * sites, egress), with no coupling between workloads. Then, since SkyPilot has no quotas or
 * budgets, a greedy repair: (1) for each region over its quota, most over first, move the
 * workloads whose move costs least (re-placed with the quota left elsewhere) until it fits;
 * (2) for each budget over its cap, move the covered workloads to the placement with the
 * least hourly price, best cost per dollar-an-hour saved first, until it fits. What is left
 * violated is reported: the baseline then has no feasible plan.
 *
 * The checker trusts nothing in the plan but the node list: it looks every node's offer up
 * in the catalog, checks every constraint (GPU model and count, region allowed, spot policy
 * and price, together, spread, max_per_region, sites, node counts, quotas, budgets) and
 * recomputes the cost (price x hours + egress, the egress table of docs/planner.md). It
 * prints `check: ok=1 ...` or the violations and `check: ok=0 ...` (exit 1).
 *
 * Output: `key=value` lines, the last starting with `result:` (for run.sh).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ARRAY_LEN(a)    (sizeof(a) / sizeof((a)[0]))
#define MAX_REGIONS     256
#define MAX_NODES       64
#define MAX_MODELS      8
#define MAX_SITES       8
#define NCLOUDS         3
#define HOURS_PER_MONTH 730.0

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("baseline: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory");
    return p;
}

static void *xcalloc(size_t n, size_t s)
{
    void *p = calloc(n ? n : 1, s ? s : 1);
    if (!p)
        die("out of memory");
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        die("out of memory");
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const cloud_names[NCLOUDS] = {"aws", "gcp", "azure"};

static int cloud_id(const char *s)
{
    for (int c = 0; c < NCLOUDS; c++)
        if (strcmp(s, cloud_names[c]) == 0)
            return c;
    return -1;
}

/* The egress table of plan_egress_usd_per_gb() (planner/plan_model.c, docs/planner.md). */
static double egress_rate(int from, int to, bool same_region)
{
    static const double inter_region[NCLOUDS] = {0.02, 0.02, 0.02};
    static const double internet[NCLOUDS] = {0.09, 0.12, 0.087};
    if (from == to)
        return same_region ? 0 : inter_region[from];
    return internet[from];
}

/* ---------------------------------------------------------------------------------------- */
/* a string-keyed hash table (open addressing) of ints                                        */

struct hmap {
    char **keys;
    int *vals;
    size_t cap, n;
};

static uint64_t hash_bytes(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h ^ (h >> 29);
}

static void hmap_grow(struct hmap *m);

static int *hmap_slot(struct hmap *m, const char *key, bool add)
{
    if (add && (m->n + 1) * 2 > m->cap)
        hmap_grow(m);
    if (!m->cap)
        return NULL;
    size_t i = hash_bytes(key) & (m->cap - 1);
    while (m->keys[i]) {
        if (strcmp(m->keys[i], key) == 0)
            return &m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
    if (!add)
        return NULL;
    m->keys[i] = xstrdup(key);
    m->vals[i] = -1;
    m->n++;
    return &m->vals[i];
}

static void hmap_grow(struct hmap *m)
{
    struct hmap old = *m;
    m->cap = old.cap ? old.cap * 2 : 1024;
    m->keys = xcalloc(m->cap, sizeof(*m->keys));
    m->vals = xcalloc(m->cap, sizeof(*m->vals));
    m->n = 0;
    for (size_t i = 0; i < old.cap; i++)
        if (old.keys[i]) {
            *hmap_slot(m, old.keys[i], true) = old.vals[i];
            free(old.keys[i]);
        }
    free(old.keys);
    free(old.vals);
}

/* ---------------------------------------------------------------------------------------- */
/* the instance                                                                               */

struct region {
    int cloud;
    char *name;
    bool declared;
    int64_t quota; /* -1: none */
    char **zones;
    int nzones;
};

struct budget {
    char *name;
    double hourly, monthly; /* < 0: not set */
    double cap;             /* USD/h: min(hourly, monthly / 730); < 0: budget absent */
};

struct offer {
    int region, zone;
    char *type;
    char *gpu;
    int model; /* index into model_names */
    int gpus;
    double od, spot;
};

enum kind { K_TRAINING, K_SERVICE, K_BATCH, K_FEDERATED };
enum spot { S_NEVER, S_AUTO, S_ALWAYS };
enum together { T_NONE, T_REGION, T_ZONE };

struct workload {
    char *name;
    enum kind kind;
    int count, gpus;
    double hours;
    enum spot spot;
    enum together together;
    int spread, maxpr;
    int data_cloud; /* -1: no data */
    char *data_region;
    double data_gb;
    int models[MAX_MODELS], nmodels;
    unsigned char *allowed; /* per region */
    int nsites;
    char *site_name[MAX_SITES];
    int site_region[MAX_SITES];
    int budgets[16], nbudgets;
};

static struct region regions[MAX_REGIONS];
static int nregions;
static struct budget budgets[32];
static int nbudgets;
static struct offer *offers;
static size_t noffers;
static struct workload *wls;
static size_t nwls;
static char *model_names[64];
static int nmodels;
static struct hmap offer_map; /* "cloud|region|zone|type|gpu|gpus" -> offer */
static struct hmap wl_map;    /* workload name -> index */
static char family[64] = "?";

static int model_id(const char *name, bool add)
{
    for (int i = 0; i < nmodels; i++)
        if (strcmp(model_names[i], name) == 0)
            return i;
    if (!add)
        return -1;
    if (nmodels == (int)ARRAY_LEN(model_names))
        die("too many GPU models");
    model_names[nmodels] = xstrdup(name);
    return nmodels++;
}

static int region_of(int cloud, const char *name)
{
    for (int i = 0; i < nregions; i++)
        if (regions[i].cloud == cloud && strcmp(regions[i].name, name) == 0)
            return i;
    return -1;
}

static int zone_of(int region, const char *zone, bool add)
{
    struct region *r = &regions[region];
    for (int i = 0; i < r->nzones; i++)
        if (strcmp(r->zones[i], zone) == 0)
            return i;
    if (!add)
        return -1;
    r->zones = xrealloc(r->zones, (size_t)(r->nzones + 1) * sizeof(*r->zones));
    r->zones[r->nzones] = xstrdup(zone);
    return r->nzones++;
}

static char *read_line(FILE *f, char **buf, size_t *cap)
{
    size_t len = 0;
    int c;
    bool inq = false;
    while ((c = getc(f)) != EOF) {
        if (len + 2 > *cap) {
            *cap = *cap ? *cap * 2 : 4096;
            *buf = xrealloc(*buf, *cap);
        }
        (*buf)[len++] = (char)c;
        if (c == '"')
            inq = !inq;
        if (c == '\n' && !inq)
            break;
    }
    if (!len)
        return NULL;
    while (len && ((*buf)[len - 1] == '\n' || (*buf)[len - 1] == '\r'))
        len--;
    (*buf)[len] = '\0';
    return *buf;
}

static int split(char *s, char sep, char **out, int max)
{
    int n = 0;
    for (;;) {
        if (n == max)
            return n;
        out[n++] = s;
        char *p = strchr(s, sep);
        if (!p)
            return n;
        *p = '\0';
        s = p + 1;
    }
}

static int csv_split(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line, *w;
    for (;;) {
        if (n == max)
            return n;
        fields[n++] = w = p;
        if (*p == '"') {
            p++;
            while (*p) {
                if (*p == '"') {
                    if (p[1] == '"') {
                        *w++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *w++ = *p++;
            }
            while (*p && *p != ',')
                p++;
        } else {
            while (*p && *p != ',')
                *w++ = *p++;
        }
        char c = *p;
        *w = '\0';
        if (!c)
            return n;
        p++;
    }
}

static void load_instance(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/instance.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        die("cannot read %s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t cap = 0, wcap = 0;
    char *tok[32];
    while (read_line(f, &buf, &cap)) {
        int n = split(buf, ' ', tok, 32);
        if (strcmp(tok[0], "family") == 0 && n >= 2) {
            snprintf(family, sizeof(family), "%s", tok[1]);
        } else if (strcmp(tok[0], "region") == 0 && n >= 6) {
            int i = atoi(tok[1]);
            if (i != nregions || i >= MAX_REGIONS)
                die("instance.txt: regions out of order");
            regions[i].cloud = cloud_id(tok[2]);
            regions[i].name = xstrdup(tok[3]);
            regions[i].declared = atoi(tok[4]) != 0;
            regions[i].quota = strtoll(tok[5], NULL, 10);
            nregions++;
        } else if (strcmp(tok[0], "budget") == 0 && n >= 5) {
            int i = atoi(tok[1]);
            if (i != nbudgets || i >= (int)ARRAY_LEN(budgets))
                die("instance.txt: budgets out of order");
            struct budget *b = &budgets[i];
            b->name = xstrdup(tok[2]);
            b->hourly = atof(tok[3]);
            b->monthly = atof(tok[4]);
            b->cap = -1;
            if (b->hourly >= 0)
                b->cap = b->hourly;
            if (b->monthly >= 0 && (b->cap < 0 || b->monthly / HOURS_PER_MONTH < b->cap))
                b->cap = b->monthly / HOURS_PER_MONTH;
            nbudgets++;
        } else if (strcmp(tok[0], "w") == 0 && n >= 15) {
            if (nwls == wcap) {
                wcap = wcap ? wcap * 2 : 1024;
                wls = xrealloc(wls, wcap * sizeof(*wls));
            }
            struct workload *w = &wls[nwls];
            memset(w, 0, sizeof(*w));
            w->name = xstrdup(tok[1]);
            w->kind = strcmp(tok[2], "training") == 0  ? K_TRAINING
                      : strcmp(tok[2], "service") == 0 ? K_SERVICE
                      : strcmp(tok[2], "batch") == 0   ? K_BATCH
                                                       : K_FEDERATED;
            w->count = atoi(tok[3]);
            w->gpus = atoi(tok[4]);
            w->hours = atof(tok[5]);
            w->spot = strcmp(tok[6], "never") == 0  ? S_NEVER
                      : strcmp(tok[6], "auto") == 0 ? S_AUTO
                                                    : S_ALWAYS;
            w->together = strcmp(tok[7], "region") == 0 ? T_REGION
                          : strcmp(tok[7], "zone") == 0 ? T_ZONE
                                                        : T_NONE;
            w->spread = atoi(tok[8]);
            w->maxpr = atoi(tok[9]);
            w->data_cloud = -1;
            if (strcmp(tok[10], "-") != 0) {
                char *slash = strchr(tok[10], '/');
                if (!slash)
                    die("instance.txt: bad data location %s", tok[10]);
                *slash = '\0';
                w->data_cloud = cloud_id(tok[10]);
                w->data_region = xstrdup(slash + 1);
                w->data_gb = atof(tok[11]);
            }
            char *parts[64];
            int np = split(tok[12], ',', parts, MAX_MODELS);
            for (int i = 0; i < np; i++)
                w->models[w->nmodels++] = model_id(parts[i], true);
            w->allowed = xcalloc((size_t)MAX_REGIONS, 1);
            char *list = tok[13];
            if (w->kind == K_FEDERATED) {
                np = split(list, ',', parts, MAX_SITES);
                for (int i = 0; i < np; i++) {
                    char *at = strchr(parts[i], '@');
                    if (!at)
                        die("instance.txt: bad site %s", parts[i]);
                    *at = '\0';
                    w->site_name[i] = xstrdup(parts[i]);
                    w->site_region[i] = atoi(at + 1);
                }
                w->nsites = np;
            } else {
                char *save = list;
                while (*save) {
                    char *end;
                    long r = strtol(save, &end, 10);
                    if (end == save)
                        break;
                    if (r >= 0 && r < MAX_REGIONS)
                        w->allowed[r] = 1;
                    save = *end == ',' ? end + 1 : end;
                }
            }
            if (strcmp(tok[14], "-") != 0) {
                np = split(tok[14], ',', parts, 16);
                for (int i = 0; i < np; i++)
                    w->budgets[w->nbudgets++] = atoi(parts[i]);
            }
            *hmap_slot(&wl_map, w->name, true) = (int)nwls;
            nwls++;
        }
    }
    free(buf);
    fclose(f);
    if (!nregions || !nwls)
        die("%s: no regions or workloads", path);
}

static void offer_key(char *buf, size_t n, int cloud, const char *region, const char *zone,
                      const char *type, const char *gpu, int gpus)
{
    snprintf(buf, n, "%d|%s|%s|%s|%s|%d", cloud, region, zone, type, gpu, gpus);
}

static void load_catalog(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/catalog.csv", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        die("cannot read %s: %s", path, strerror(errno));
    char *buf = NULL, *fl[16];
    size_t cap = 0, ocap = 0;
    if (!read_line(f, &buf, &cap))
        die("%s: empty", path);
    while (read_line(f, &buf, &cap)) {
        if (!buf[0])
            continue;
        int n = csv_split(buf, fl, 16);
        if (n < 13)
            die("%s: short row", path);
        int c = cloud_id(fl[0]);
        int r = c < 0 ? -1 : region_of(c, fl[1]);
        if (r < 0)
            continue; /* a region the instance does not know: never declared */
        if (noffers == ocap) {
            ocap = ocap ? ocap * 2 : 4096;
            offers = xrealloc(offers, ocap * sizeof(*offers));
        }
        struct offer *o = &offers[noffers];
        o->region = r;
        o->zone = zone_of(r, fl[2], true);
        o->type = xstrdup(fl[3]);
        o->gpu = xstrdup(fl[4]);
        o->model = model_id(fl[4], true);
        o->gpus = atoi(fl[5]);
        o->od = fl[9][0] ? atof(fl[9]) : -1;
        o->spot = fl[10][0] ? atof(fl[10]) : -1;
        char key[512];
        offer_key(key, sizeof(key), c, fl[1], fl[2], fl[3], fl[4], o->gpus);
        *hmap_slot(&offer_map, key, true) = (int)noffers;
        noffers++;
    }
    free(buf);
    fclose(f);
}

/* ---------------------------------------------------------------------------------------- */
/* index: per (model, gpus) and region, the best on-demand and spot offer; per zone too       */

struct best {
    int od, spot; /* offer index, -1: none */
};

struct zbest {
    int zone;
    struct best b;
};

struct group {
    int model, gpus;
    struct best *byregion; /* nregions */
    struct zbest **zones;  /* per region: array of zones */
    int *nzones;
};

static struct group *groups;
static int ngroups;

static struct group *group_find(int model, int gpus)
{
    for (int i = 0; i < ngroups; i++)
        if (groups[i].model == model && groups[i].gpus == gpus)
            return &groups[i];
    return NULL;
}

static void best_update(struct best *b, int oi)
{
    const struct offer *o = &offers[oi];
    if (o->od >= 0 && (b->od < 0 || o->od < offers[b->od].od))
        b->od = oi;
    if (o->spot >= 0 && (b->spot < 0 || o->spot < offers[b->spot].spot))
        b->spot = oi;
}

static void build_index(void)
{
    for (size_t i = 0; i < noffers; i++) {
        const struct offer *o = &offers[i];
        struct group *g = group_find(o->model, o->gpus);
        if (!g) {
            groups = xrealloc(groups, (size_t)(ngroups + 1) * sizeof(*groups));
            g = &groups[ngroups++];
            g->model = o->model;
            g->gpus = o->gpus;
            g->byregion = xmalloc((size_t)nregions * sizeof(*g->byregion));
            g->zones = xcalloc((size_t)nregions, sizeof(*g->zones));
            g->nzones = xcalloc((size_t)nregions, sizeof(*g->nzones));
            for (int r = 0; r < nregions; r++)
                g->byregion[r] = (struct best){-1, -1};
        }
        best_update(&g->byregion[o->region], (int)i);
        int r = o->region, k;
        for (k = 0; k < g->nzones[r]; k++)
            if (g->zones[r][k].zone == o->zone)
                break;
        if (k == g->nzones[r]) {
            g->zones[r] = xrealloc(g->zones[r], (size_t)(k + 1) * sizeof(**g->zones));
            g->zones[r][k] = (struct zbest){o->zone, {-1, -1}};
            g->nzones[r]++;
        }
        best_update(&g->zones[r][k].b, (int)i);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* placing one workload                                                                       */

struct node {
    int region, zone, offer;
    bool spot;
    double price;
};

struct choice {
    double key; /* what is minimised */
    double cost, price;
    int offer;
    bool spot, ok;
};

static double node_egress(const struct workload *w, int region)
{
    if (w->data_cloud < 0)
        return 0;
    const struct region *r = &regions[region];
    bool same = r->cloud == w->data_cloud && strcmp(r->name, w->data_region) == 0;
    return w->data_gb * egress_rate(w->data_cloud, r->cloud, same);
}

/* by_hourly: minimise the hourly price (budget repair) instead of the cost */
static void consider(const struct workload *w, struct choice *c, const struct best *b,
                     double egress, bool by_hourly)
{
    if (w->spot != S_ALWAYS && b->od >= 0) {
        double p = offers[b->od].od, cost = p * w->hours + egress;
        double key = by_hourly ? p + cost * 1e-9 : cost;
        if (!c->ok || key < c->key - 1e-12)
            *c = (struct choice){key, cost, p, b->od, false, true};
    }
    if (w->spot != S_NEVER && b->spot >= 0) {
        double p = offers[b->spot].spot, cost = p * w->hours + egress;
        double key = by_hourly ? p + cost * 1e-9 : cost;
        if (!c->ok || key < c->key - 1e-12)
            *c = (struct choice){key, cost, p, b->spot, true, true};
    }
}

static struct choice region_choice(const struct workload *w, int r, bool by_hourly)
{
    struct choice c = {0};
    double eg = node_egress(w, r);
    for (int i = 0; i < w->nmodels; i++) {
        struct group *g = group_find(w->models[i], w->gpus);
        if (g)
            consider(w, &c, &g->byregion[r], eg, by_hourly);
    }
    return c;
}

struct cand {
    int region;
    struct choice c;
};

static int cmp_cand(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->c.key != y->c.key)
        return x->c.key < y->c.key ? -1 : 1;
    return x->region - y->region;
}

static int64_t left(const int64_t *rem, int r)
{
    return rem ? rem[r] : INT64_MAX / 4;
}

/* Cheapest placement of w alone given GPUs left per region (NULL: unlimited). Returns the
 * cost (or hourly, by_hourly) and fills out, or INFINITY. */
static double place(const struct workload *w, const int64_t *rem, bool by_hourly, struct node *out)
{
    int n = w->count, g = w->gpus;
    double total = 0;
    if (w->kind == K_FEDERATED) {
        for (int s = 0; s < w->nsites; s++) {
            int r = w->site_region[s];
            int64_t used = 0;
            for (int t = 0; t < s; t++)
                used += w->site_region[t] == r ? g : 0;
            struct choice c = region_choice(w, r, by_hourly);
            if (!c.ok || left(rem, r) - used < g)
                return INFINITY;
            out[s] = (struct node){r, offers[c.offer].zone, c.offer, c.spot, c.price};
            total += c.key;
        }
        return total;
    }
    struct cand cands[MAX_REGIONS];
    int nc = 0;
    for (int r = 0; r < nregions; r++) {
        if (!w->allowed[r])
            continue;
        struct choice c = region_choice(w, r, by_hourly);
        if (c.ok)
            cands[nc++] = (struct cand){r, c};
    }
    if (!nc)
        return INFINITY;
    qsort(cands, (size_t)nc, sizeof(*cands), cmp_cand);
    if (w->together == T_REGION) {
        for (int i = 0; i < nc; i++)
            if (left(rem, cands[i].region) >= (int64_t)n * g) {
                for (int k = 0; k < n; k++)
                    out[k] = (struct node){cands[i].region, offers[cands[i].c.offer].zone,
                                           cands[i].c.offer, cands[i].c.spot, cands[i].c.price};
                return n * cands[i].c.key;
            }
        return INFINITY;
    }
    if (w->together == T_ZONE) {
        struct choice best = {0};
        for (int i = 0; i < nc; i++) {
            int r = cands[i].region;
            if (left(rem, r) < (int64_t)n * g)
                continue;
            double eg = node_egress(w, r);
            /* zones: the same zone id across models */
            for (int z = 0; z < regions[r].nzones; z++) {
                struct choice c = {0};
                for (int mi = 0; mi < w->nmodels; mi++) {
                    struct group *gr = group_find(w->models[mi], g);
                    if (!gr)
                        continue;
                    for (int k = 0; k < gr->nzones[r]; k++)
                        if (gr->zones[r][k].zone == z)
                            consider(w, &c, &gr->zones[r][k].b, eg, by_hourly);
                }
                if (c.ok && (!best.ok || c.key < best.key - 1e-12))
                    best = c;
            }
        }
        if (!best.ok)
            return INFINITY;
        for (int k = 0; k < n; k++)
            out[k] = (struct node){offers[best.offer].region, offers[best.offer].zone, best.offer,
                                   best.spot, best.price};
        return n * best.key;
    }
    int maxpr = w->maxpr ? w->maxpr : n;
    int placed[MAX_REGIONS] = {0};
    int k = 0;
    if (w->spread > 1) {
        int bestc[NCLOUDS] = {-1, -1, -1};
        for (int i = 0; i < nc; i++) {
            int c = regions[cands[i].region].cloud;
            if (bestc[c] < 0 && left(rem, cands[i].region) >= g)
                bestc[c] = i;
        }
        for (int s = 0; s < w->spread; s++) {
            int bc = -1;
            for (int c = 0; c < NCLOUDS; c++)
                if (bestc[c] >= 0 && (bc < 0 || bestc[c] < bestc[bc]))
                    bc = c;
            if (bc < 0)
                return INFINITY;
            int i = bestc[bc];
            bestc[bc] = -1;
            out[k++] = (struct node){cands[i].region, offers[cands[i].c.offer].zone,
                                     cands[i].c.offer, cands[i].c.spot, cands[i].c.price};
            placed[cands[i].region]++;
            total += cands[i].c.key;
        }
    }
    for (int i = 0; i < nc && k < n; i++) {
        int r = cands[i].region;
        int64_t room = (left(rem, r) - (int64_t)placed[r] * g) / g;
        while (k < n && placed[r] < maxpr && room > 0) {
            out[k++] = (struct node){r, offers[cands[i].c.offer].zone, cands[i].c.offer,
                                     cands[i].c.spot, cands[i].c.price};
            placed[r]++;
            room--;
            total += cands[i].c.key;
        }
    }
    return k == n ? total : INFINITY;
}

/* ---------------------------------------------------------------------------------------- */
/* the baseline                                                                               */

static struct node *plan; /* nwls * MAX_NODES */
static int64_t *used;     /* GPUs per region */
static double *bhourly;   /* USD/h per budget */

static double wl_cost(const struct workload *w, const struct node *nd)
{
    double c = 0;
    for (int k = 0; k < w->count; k++)
        c += nd[k].price * w->hours + node_egress(w, nd[k].region);
    return c;
}

static double wl_hourly(const struct workload *w, const struct node *nd)
{
    double h = 0;
    for (int k = 0; k < w->count; k++)
        h += nd[k].price;
    return h;
}

static void apply(size_t wi, int sign)
{
    const struct workload *w = &wls[wi];
    const struct node *nd = &plan[wi * MAX_NODES];
    for (int k = 0; k < w->count; k++)
        used[nd[k].region] += sign * w->gpus;
    double h = wl_hourly(w, nd);
    for (int b = 0; b < w->nbudgets; b++)
        bhourly[w->budgets[b]] += sign * h;
}

static void remaining(int64_t *rem)
{
    for (int r = 0; r < nregions; r++)
        rem[r] = regions[r].quota < 0 ? INT64_MAX / 4 : regions[r].quota - used[r];
}

struct move {
    size_t wi;
    double key;
};

static int cmp_move(const void *a, const void *b)
{
    const struct move *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->wi < y->wi ? -1 : x->wi > y->wi;
}

/* Re-places workload wi given what the others use; keeps it when that fails or, with
 * need_region >= 0, when the new placement does not use fewer GPUs there. */
static bool try_move(size_t wi, int64_t *rem, bool by_hourly, int need_region, double *dcost)
{
    const struct workload *w = &wls[wi];
    struct node *nd = &plan[wi * MAX_NODES];
    struct node old[MAX_NODES], nw[MAX_NODES];
    memcpy(old, nd, (size_t)w->count * sizeof(*old));
    double oldc = wl_cost(w, old), oldh = wl_hourly(w, old);
    apply(wi, -1);
    remaining(rem);
    if (need_region >= 0 && rem[need_region] < 0)
        rem[need_region] = 0; /* nothing more there */
    bool ok = isfinite(place(w, rem, by_hourly, nw));
    if (ok && need_region >= 0) {
        int before = 0, after = 0;
        for (int k = 0; k < w->count; k++) {
            before += old[k].region == need_region;
            after += nw[k].region == need_region;
        }
        ok = after < before;
    }
    if (ok && by_hourly)
        ok = wl_hourly(w, nw) < oldh - 1e-9;
    if (ok)
        memcpy(nd, nw, (size_t)w->count * sizeof(*nd));
    apply(wi, +1);
    *dcost = ok ? wl_cost(w, nd) - oldc : 0;
    return ok;
}

struct bresult {
    double cost, hourly, t_independent, t_total, cost_independent;
    int quota_moves, budget_moves, quota_left, budgets_left;
};

static void run_baseline(struct bresult *res)
{
    double t0 = now_s();
    plan = xmalloc(nwls * MAX_NODES * sizeof(*plan));
    used = xcalloc((size_t)nregions, sizeof(*used));
    bhourly = xcalloc((size_t)nbudgets + 1, sizeof(*bhourly));
    int64_t *rem = xmalloc((size_t)nregions * sizeof(*rem));
    memset(res, 0, sizeof(*res));
    /* 1. each workload alone, cheapest */
    for (size_t i = 0; i < nwls; i++) {
        if (!isfinite(place(&wls[i], NULL, false, &plan[i * MAX_NODES])))
            die("workload %s fits nowhere even alone", wls[i].name);
        apply(i, +1);
        res->cost_independent += wl_cost(&wls[i], &plan[i * MAX_NODES]);
    }
    res->t_independent = now_s() - t0;
    /* 2. quota repair, most-over region first, cheapest moves first */
    size_t *in_region = xmalloc(nwls * sizeof(*in_region));
    struct move *moves = xmalloc(nwls * sizeof(*moves));
    bool *stuck = xcalloc((size_t)nregions, sizeof(*stuck));
    for (int pass = 0; pass < 8; pass++) {
        bool progress = false;
        memset(stuck, 0, (size_t)nregions * sizeof(*stuck));
        for (;;) {
            int worst = -1;
            int64_t over = 0;
            for (int r = 0; r < nregions; r++)
                if (!stuck[r] && regions[r].quota >= 0 && used[r] - regions[r].quota > over) {
                    over = used[r] - regions[r].quota;
                    worst = r;
                }
            if (worst < 0)
                break;
            /* the workloads there, by the cost of moving them */
            size_t nm = 0;
            for (size_t i = 0; i < nwls; i++) {
                const struct node *nd = &plan[i * MAX_NODES];
                bool there = false;
                for (int k = 0; k < wls[i].count && !there; k++)
                    there = nd[k].region == worst;
                if (!there)
                    continue;
                struct node save[MAX_NODES];
                memcpy(save, nd, (size_t)wls[i].count * sizeof(*save));
                double d;
                bool ok = try_move(i, rem, false, worst, &d);
                /* undo: only the estimate is wanted here */
                apply(i, -1);
                memcpy(&plan[i * MAX_NODES], save, (size_t)wls[i].count * sizeof(*save));
                apply(i, +1);
                if (ok)
                    moves[nm++] = (struct move){i, d};
            }
            qsort(moves, nm, sizeof(*moves), cmp_move);
            for (size_t k = 0; k < nm && used[worst] > regions[worst].quota; k++) {
                double d;
                if (try_move(moves[k].wi, rem, false, worst, &d)) {
                    res->quota_moves++;
                    progress = true;
                }
            }
            if (used[worst] > regions[worst].quota)
                stuck[worst] = true; /* no more room elsewhere now; later passes retry */
        }
        bool over_any = false;
        for (int r = 0; r < nregions; r++)
            over_any |= regions[r].quota >= 0 && used[r] > regions[r].quota;
        if (!over_any || !progress)
            break;
    }
    free(stuck);
    for (int r = 0; r < nregions; r++)
        res->quota_left += regions[r].quota >= 0 && used[r] > regions[r].quota;
    /* 3. budget repair: lower the hourly price of covered workloads, cheapest per $/h first */
    for (int pass = 0; pass < 4; pass++) {
        bool any = false;
        for (int b = 0; b < nbudgets; b++) {
            if (budgets[b].cap < 0 || bhourly[b] <= budgets[b].cap + 1e-6)
                continue;
            any = true;
            size_t nm = 0;
            for (size_t i = 0; i < nwls; i++) {
                bool covered = false;
                for (int k = 0; k < wls[i].nbudgets; k++)
                    covered |= wls[i].budgets[k] == b;
                if (!covered)
                    continue;
                struct node save[MAX_NODES];
                const struct workload *w = &wls[i];
                memcpy(save, &plan[i * MAX_NODES], (size_t)w->count * sizeof(*save));
                double oldh = wl_hourly(w, save), d;
                if (try_move(i, rem, true, -1, &d)) {
                    double dh = oldh - wl_hourly(w, &plan[i * MAX_NODES]);
                    apply(i, -1);
                    memcpy(&plan[i * MAX_NODES], save, (size_t)w->count * sizeof(*save));
                    apply(i, +1);
                    if (dh > 1e-9)
                        moves[nm++] = (struct move){i, d / dh};
                }
            }
            qsort(moves, nm, sizeof(*moves), cmp_move);
            for (size_t k = 0; k < nm && bhourly[b] > budgets[b].cap + 1e-6; k++) {
                double d;
                if (try_move(moves[k].wi, rem, true, -1, &d))
                    res->budget_moves++;
            }
        }
        if (!any)
            break;
    }
    for (int b = 0; b < nbudgets; b++)
        res->budgets_left += budgets[b].cap >= 0 && bhourly[b] > budgets[b].cap + 1e-6;
    for (size_t i = 0; i < nwls; i++) {
        res->cost += wl_cost(&wls[i], &plan[i * MAX_NODES]);
        res->hourly += wl_hourly(&wls[i], &plan[i * MAX_NODES]);
    }
    res->t_total = now_s() - t0;
    free(in_region);
    free(moves);
    free(rem);
}

/* ---------------------------------------------------------------------------------------- */
/* the checker                                                                                */

struct pnode {
    size_t wi;
    char *index; /* what is between [ and ] */
    int offer;   /* catalog offer, -1 when not found */
    bool spot;
    double hourly; /* as the plan states it; NAN when absent */
};

struct check {
    size_t violations, nodes;
    double cost, hourly;
    int quotas, quotas_full;   /* declared regions with a quota; those used to the last GPU */
    int budgets, budgets_full; /* budgets; those within 0.1% of their cap */
};

static int nviol_printed;

static void violation(struct check *c, const char *fmt, ...)
{
    c->violations++;
    if (nviol_printed++ >= 30)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("violation: ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

static void check_nodes(struct pnode *pn, size_t n, struct check *c)
{
    memset(c, 0, sizeof(*c));
    c->nodes = n;
    int64_t *use = xcalloc((size_t)nregions, sizeof(*use));
    double *bh = xcalloc((size_t)nbudgets + 1, sizeof(*bh));
    size_t *per_wl = xcalloc(nwls, sizeof(*per_wl));
    /* nodes by workload */
    size_t *order = xmalloc((n ? n : 1) * sizeof(*order));
    for (size_t i = 0; i < n; i++)
        order[i] = pn[i].wi * (n + 1) + i;
    qsort(order, n, sizeof(*order), cmp_size);
    for (size_t a = 0; a < n;) {
        size_t wi = order[a] / (n + 1), b = a;
        while (b < n && order[b] / (n + 1) == wi)
            b++;
        const struct workload *w = &wls[wi];
        size_t cnt = b - a;
        per_wl[wi] = cnt;
        if ((int)cnt != w->count)
            violation(c, "%s: %zu nodes, wants %d", w->name, cnt, w->count);
        int per_region[MAX_REGIONS] = {0};
        int first_region = -1, first_zone = -1;
        unsigned clouds = 0;
        for (size_t k = a; k < b; k++) {
            const struct pnode *p = &pn[order[k] % (n + 1)];
            if (p->offer < 0)
                continue; /* reported when read */
            const struct offer *o = &offers[p->offer];
            const struct region *r = &regions[o->region];
            bool model_ok = false;
            for (int m = 0; m < w->nmodels; m++)
                model_ok |= w->models[m] == o->model;
            if (!model_ok)
                violation(c, "%s[%s]: GPU %s is not allowed", w->name, p->index, o->gpu);
            if (o->gpus != w->gpus)
                violation(c, "%s[%s]: %d GPUs per node, wants %d", w->name, p->index, o->gpus,
                          w->gpus);
            if (w->kind == K_FEDERATED) {
                int s;
                for (s = 0; s < w->nsites; s++)
                    if (strcmp(w->site_name[s], p->index) == 0)
                        break;
                if (s == w->nsites)
                    violation(c, "%s[%s]: no such site", w->name, p->index);
                else if (w->site_region[s] != o->region)
                    violation(c, "%s[%s]: in %s, the site is in %s", w->name, p->index, r->name,
                              regions[w->site_region[s]].name);
            } else {
                if (!w->allowed[o->region])
                    violation(c, "%s[%s]: region %s/%s not allowed", w->name, p->index,
                              cloud_names[r->cloud], r->name);
                char *end;
                long idx = strtol(p->index, &end, 10);
                if (*end || idx < 0 || idx >= w->count)
                    violation(c, "%s[%s]: bad node index", w->name, p->index);
            }
            double price = p->spot ? o->spot : o->od;
            if (p->spot && w->spot == S_NEVER)
                violation(c, "%s[%s]: spot, but spot: never", w->name, p->index);
            if (!p->spot && w->spot == S_ALWAYS)
                violation(c, "%s[%s]: on demand, but spot: always", w->name, p->index);
            if (price < 0)
                violation(c, "%s[%s]: the offer has no %s price", w->name, p->index,
                          p->spot ? "spot" : "on-demand");
            if (!isnan(p->hourly) && fabs(p->hourly - price) > 1e-6 * (1 + price))
                violation(c, "%s[%s]: hourly %.6f, the catalog says %.6f", w->name, p->index,
                          p->hourly, price);
            per_region[o->region]++;
            clouds |= 1u << r->cloud;
            if (first_region < 0) {
                first_region = o->region;
                first_zone = o->zone;
            }
            if (w->together == T_REGION && o->region != first_region)
                violation(c, "%s: together: region, but nodes in %s and %s", w->name,
                          regions[first_region].name, r->name);
            if (w->together == T_ZONE && (o->region != first_region || o->zone != first_zone))
                violation(c, "%s: together: zone, but nodes in two zones", w->name);
            use[o->region] += w->gpus;
            for (int bb = 0; bb < w->nbudgets; bb++)
                bh[w->budgets[bb]] += price;
            c->cost += price * w->hours + node_egress(w, o->region);
            c->hourly += price;
        }
        if (w->spread > 1 && __builtin_popcount(clouds) < w->spread)
            violation(c, "%s: spread over %d clouds, wants %d", w->name, __builtin_popcount(clouds),
                      w->spread);
        if (w->maxpr)
            for (int r = 0; r < nregions; r++)
                if (per_region[r] > w->maxpr)
                    violation(c, "%s: %d nodes in %s, max_per_region %d", w->name, per_region[r],
                              regions[r].name, w->maxpr);
        a = b;
    }
    for (size_t i = 0; i < nwls; i++)
        if (!per_wl[i])
            violation(c, "%s: not placed", wls[i].name);
    for (int r = 0; r < nregions; r++) {
        if (regions[r].quota >= 0 && use[r] > regions[r].quota)
            violation(c, "quota %s/%s: %lld GPUs, quota %lld", cloud_names[regions[r].cloud],
                      regions[r].name, (long long)use[r], (long long)regions[r].quota);
        if (regions[r].declared && regions[r].quota >= 0) {
            c->quotas++;
            c->quotas_full += use[r] >= regions[r].quota;
        }
    }
    for (int b = 0; b < nbudgets; b++) {
        if (budgets[b].cap < 0)
            continue;
        if (bh[b] > budgets[b].cap * (1 + 1e-9) + 1e-6)
            violation(c, "budget %s: %.4f USD/h, cap %.4f", budgets[b].name, bh[b], budgets[b].cap);
        c->budgets++;
        c->budgets_full += bh[b] >= budgets[b].cap * 0.999;
    }
    free(use);
    free(bh);
    free(per_wl);
    free(order);
}

/* ---- a small JSON reader, enough for a plan document ---- */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jval {
    enum jtype t;
    double num;
    bool b;
    char *str;
    struct jval *items; /* array elements, or object values */
    char **keys;        /* object keys */
    size_t n;
};

struct jparser {
    const char *p, *end;
};

static void jskip(struct jparser *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
        j->p++;
}

static bool jvalue(struct jparser *j, struct jval *v);

static char *jstring(struct jparser *j)
{
    if (j->p >= j->end || *j->p != '"')
        return NULL;
    j->p++;
    size_t cap = 16, n = 0;
    char *s = xmalloc(cap);
    while (j->p < j->end && *j->p != '"') {
        char ch = *j->p++;
        if (ch == '\\' && j->p < j->end) {
            char e = *j->p++;
            switch (e) {
            case 'n':
                ch = '\n';
                break;
            case 't':
                ch = '\t';
                break;
            case 'r':
                ch = '\r';
                break;
            case 'b':
                ch = '\b';
                break;
            case 'f':
                ch = '\f';
                break;
            case 'u': {
                unsigned cp = 0;
                for (int k = 0; k < 4 && j->p < j->end; k++) {
                    char h = *j->p++;
                    cp = cp * 16 + (unsigned)(h >= 'a'   ? h - 'a' + 10
                                              : h >= 'A' ? h - 'A' + 10
                                                         : h - '0');
                }
                ch = cp < 128 ? (char)cp : '?';
                break;
            }
            default:
                ch = e;
            }
        }
        if (n + 2 > cap)
            s = xrealloc(s, cap *= 2);
        s[n++] = ch;
    }
    if (j->p >= j->end) {
        free(s);
        return NULL;
    }
    j->p++;
    s[n] = '\0';
    return s;
}

static bool jvalue(struct jparser *j, struct jval *v)
{
    jskip(j);
    memset(v, 0, sizeof(*v));
    if (j->p >= j->end)
        return false;
    char c = *j->p;
    if (c == '{' || c == '[') {
        bool obj = c == '{';
        v->t = obj ? J_OBJ : J_ARR;
        j->p++;
        size_t cap = 0;
        jskip(j);
        if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
            j->p++;
            return true;
        }
        for (;;) {
            if (v->n == cap) {
                cap = cap ? cap * 2 : 8;
                v->items = xrealloc(v->items, cap * sizeof(*v->items));
                if (obj)
                    v->keys = xrealloc(v->keys, cap * sizeof(*v->keys));
            }
            if (obj) {
                jskip(j);
                char *k = jstring(j);
                if (!k)
                    return false;
                v->keys[v->n] = k;
                jskip(j);
                if (j->p >= j->end || *j->p != ':')
                    return false;
                j->p++;
            }
            if (!jvalue(j, &v->items[v->n]))
                return false;
            v->n++;
            jskip(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
                j->p++;
                return true;
            }
            return false;
        }
    }
    if (c == '"') {
        v->t = J_STR;
        v->str = jstring(j);
        return v->str != NULL;
    }
    if (strncmp(j->p, "true", 4) == 0) {
        v->t = J_BOOL;
        v->b = true;
        j->p += 4;
        return true;
    }
    if (strncmp(j->p, "false", 5) == 0) {
        v->t = J_BOOL;
        j->p += 5;
        return true;
    }
    if (strncmp(j->p, "null", 4) == 0) {
        v->t = J_NULL;
        j->p += 4;
        return true;
    }
    char *end;
    v->t = J_NUM;
    v->num = strtod(j->p, &end);
    if (end == j->p)
        return false;
    j->p = end;
    return true;
}

static const struct jval *jget(const struct jval *o, const char *key)
{
    if (!o || o->t != J_OBJ)
        return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->keys[i], key) == 0)
            return &o->items[i];
    return NULL;
}

static const char *jstr(const struct jval *o, const char *key)
{
    const struct jval *v = jget(o, key);
    return v && v->t == J_STR ? v->str : NULL;
}

static double jnum(const struct jval *o, const char *key)
{
    const struct jval *v = jget(o, key);
    return v && v->t == J_NUM ? v->num : NAN;
}

static int check_plan_json(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot read %s: %s", path, strerror(errno));
    size_t cap = 1 << 20, n = 0, got;
    char *text = xmalloc(cap);
    while ((got = fread(text + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            text = xrealloc(text, cap *= 2);
    }
    fclose(f);
    struct jparser jp = {text, text + n};
    struct jval root;
    if (!jvalue(&jp, &root))
        die("%s: not JSON", path);
    const struct jval *nodes = jget(&root, "nodes");
    if (!nodes || nodes->t != J_ARR)
        die("%s: no \"nodes\" array", path);
    struct pnode *pn = xmalloc((nodes->n ? nodes->n : 1) * sizeof(*pn));
    size_t np = 0;
    struct check c;
    size_t bad = 0;
    for (size_t i = 0; i < nodes->n; i++) {
        const struct jval *nd = &nodes->items[i];
        const char *addr = jstr(nd, "address"), *cloud = jstr(nd, "cloud"),
                   *region = jstr(nd, "region"), *zone = jstr(nd, "zone"),
                   *type = jstr(nd, "instance_type"), *gpu = jstr(nd, "gpu");
        const struct jval *spot = jget(nd, "spot");
        double gpus = jnum(nd, "gpus");
        if (!addr || !cloud || !region || !type || !gpu || !spot || isnan(gpus)) {
            printf("violation: node %zu lacks a required member\n", i);
            bad++;
            continue;
        }
        char name[256];
        const char *lb = strchr(addr, '[');
        size_t len = lb ? (size_t)(lb - addr) : strlen(addr);
        if (!lb || len >= sizeof(name) || addr[strlen(addr) - 1] != ']') {
            printf("violation: bad address %s\n", addr);
            bad++;
            continue;
        }
        memcpy(name, addr, len);
        name[len] = '\0';
        int *wi = hmap_slot(&wl_map, name, false);
        if (!wi) {
            printf("violation: %s: no such workload\n", addr);
            bad++;
            continue;
        }
        char key[512];
        offer_key(key, sizeof(key), cloud_id(cloud), region, zone ? zone : "", type, gpu,
                  (int)gpus);
        int *oi = hmap_slot(&offer_map, key, false);
        if (!oi) {
            printf("violation: %s: offer %s %s %s %s %s x%d is not in the catalog\n", addr, cloud,
                   region, zone ? zone : "", type, gpu, (int)gpus);
            bad++;
        }
        pn[np].wi = (size_t)*wi;
        pn[np].index = xstrdup(lb + 1);
        pn[np].index[strlen(pn[np].index) - 1] = '\0';
        pn[np].offer = oi ? *oi : -1;
        pn[np].spot = spot->t == J_BOOL ? spot->b : false;
        pn[np].hourly = jnum(nd, "hourly_usd");
        np++;
    }
    check_nodes(pn, np, &c);
    c.violations += bad;
    const struct jval *totals = jget(&root, "totals");
    double stated = jnum(totals, "cost_usd");
    double lb = jnum(&root, "lower_bound_usd"), gap = jnum(&root, "gap");
    const struct jval *opt = jget(&root, "optimal");
    const char *solver = jstr(&root, "solver");
    printf("check: nodes=%zu violations=%zu cost=%.2f hourly=%.4f stated_cost=%.2f\n", np,
           c.violations, c.cost, c.hourly, stated);
    if (isnan(stated) || fabs(stated - c.cost) > 0.01 + 1e-7 * c.cost) {
        printf("violation: the plan states a cost of %.2f, its nodes cost %.2f\n", stated, c.cost);
        c.violations++;
    }
    if (!isnan(lb) && lb > c.cost * (1 + 1e-9) + 1e-6) {
        printf("violation: lower bound %.2f above the plan's cost %.2f\n", lb, c.cost);
        c.violations++;
    }
    printf("result: ok=%d nodes=%zu violations=%zu cost=%.2f hourly=%.4f lower_bound=%.2f "
           "gap=%.6f optimal=%d solver=%s quotas_full=%d quotas=%d budgets_full=%d budgets=%d\n",
           c.violations == 0, np, c.violations, c.cost, c.hourly, lb, gap,
           opt && opt->t == J_BOOL ? opt->b : -1, solver ? solver : "?", c.quotas_full, c.quotas,
           c.budgets_full, c.budgets);
    return c.violations == 0 ? 0 : 1;
}

/* ---------------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: baseline [--plan-out PLAN.json] INSTANCE_DIR\n"
          "       baseline --check PLAN.json INSTANCE_DIR\n"
          "INSTANCE_DIR holds instance.txt and catalog.csv from bench/plan/gen_plan.c.\n",
          f);
}

int main(int argc, char **argv)
{
    const char *check = NULL, *dir = NULL, *plan_out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--check") == 0 && i + 1 < argc)
            check = argv[++i];
        else if (strcmp(argv[i], "--plan-out") == 0 && i + 1 < argc)
            plan_out = argv[++i];
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] != '-' && !dir)
            dir = argv[i];
        else {
            usage(stderr);
            return 2;
        }
    }
    if (!dir) {
        usage(stderr);
        return 2;
    }
    double t0 = now_s();
    load_instance(dir);
    load_catalog(dir);
    build_index();
    double t_load = now_s() - t0;
    if (check)
        return check_plan_json(check);

    struct bresult res;
    run_baseline(&res);
    /* check its own plan with the same checker */
    size_t total = 0;
    for (size_t i = 0; i < nwls; i++)
        total += (size_t)wls[i].count;
    struct pnode *pn = xmalloc(total * sizeof(*pn));
    size_t k = 0;
    FILE *po = plan_out ? fopen(plan_out, "w") : NULL;
    if (plan_out && !po)
        die("cannot write %s", plan_out);
    if (po) /* the members of docs/plan-json.md that the checker reads */
        fprintf(po,
                "{\n  \"solver\": \"baseline\",\n  \"totals\": { \"cost_usd\": %.6f },\n"
                "  \"nodes\": [",
                res.cost);
    for (size_t i = 0; i < nwls; i++)
        for (int j = 0; j < wls[i].count; j++) {
            const struct node *nd = &plan[i * MAX_NODES + j];
            char idx[64];
            if (wls[i].kind == K_FEDERATED)
                snprintf(idx, sizeof(idx), "%s", wls[i].site_name[j]);
            else
                snprintf(idx, sizeof(idx), "%d", j);
            pn[k] = (struct pnode){i, xstrdup(idx), nd->offer, nd->spot, nd->price};
            if (po) {
                const struct offer *o = &offers[nd->offer];
                fprintf(
                    po,
                    "%s\n    { \"address\": \"%s[%s]\", \"cloud\": \"%s\", \"region\": \"%s\", "
                    "\"zone\": \"%s\", \"instance_type\": \"%s\", \"gpu\": \"%s\", \"gpus\": %d, "
                    "\"spot\": %s, \"hourly_usd\": %.6f }",
                    k ? "," : "", wls[i].name, idx, cloud_names[regions[o->region].cloud],
                    regions[o->region].name, regions[o->region].zones[o->zone], o->type, o->gpu,
                    o->gpus, nd->spot ? "true" : "false", nd->price);
            }
            k++;
        }
    if (po) {
        fputs("\n  ]\n}\n", po);
        fclose(po);
    }
    struct check c;
    check_nodes(pn, k, &c);
    bool feasible = res.quota_left == 0 && res.budgets_left == 0 && c.violations == 0;
    printf("baseline: family=%s workloads=%zu offers=%zu nodes=%zu\n", family, nwls, noffers, k);
    printf("independent: cost=%.2f time=%.3f\n", res.cost_independent, res.t_independent);
    printf("repair: quota_moves=%d budget_moves=%d quotas_over=%d budgets_over=%d\n",
           res.quota_moves, res.budget_moves, res.quota_left, res.budgets_left);
    printf("check: violations=%zu recomputed_cost=%.2f quotas_full=%d/%d budgets_full=%d/%d\n",
           c.violations, c.cost, c.quotas_full, c.quotas, c.budgets_full, c.budgets);
    for (int b = 0; b < nbudgets; b++)
        if (budgets[b].cap >= 0)
            printf("budget: %s used=%.2f cap=%.2f (%.2f%%)\n", budgets[b].name, bhourly[b],
                   budgets[b].cap, 100 * bhourly[b] / budgets[b].cap);
    int quotas_full = 0, quotas = 0;
    for (int r = 0; r < nregions; r++)
        if (regions[r].declared && regions[r].quota >= 0) {
            quotas++;
            quotas_full += used[r] >= regions[r].quota * 0.99;
        }
    printf("quotas: %d of %d regions at >= 99%% of their quota\n", quotas_full, quotas);
    printf("result: feasible=%d cost=%.2f hourly=%.4f independent_cost=%.2f load_s=%.3f "
           "solve_s=%.3f violations=%zu\n",
           feasible, res.cost, res.hourly, res.cost_independent, t_load, res.t_total, c.violations);
    return 0;
}
