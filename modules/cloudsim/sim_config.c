/*
 * cloudsim's world config: YAML read with the spec loader's reader (parser/node.h: size cap,
 * depth and alias limits, duplicate keys, positions), then decoded here against the small
 * set of keys docs/cloudsim.md documents, every problem reported as file:line:col with the
 * stable code "cloudsim-config". The inventory comes from the offer catalog.
 */
#include "modules/cloudsim/sim.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "parser/node.h"
#include "planner/catalog.h"

#define CODE          "cloudsim-config"
#define MAX_CONF_SIZE ((size_t)4 << 20)

static const char *const family_names[SIM_FAM_COUNT] = {"run_instances", "terminate_instances",
                                                        "describe", "mutating"};
static const char *const fault_names[SIM_FAULT_COUNT] = {"capacity", "internal", "unavailable",
                                                         "throttle", "timeout",  "malformed"};

const char *sim_family_name(enum sim_family f)
{
    return family_names[f];
}

const char *sim_fault_name(enum sim_fault f)
{
    return fault_names[f];
}

int sim_fault_find(const char *name)
{
    for (int i = 0; i < SIM_FAULT_COUNT; i++)
        if (name && !strcmp(fault_names[i], name))
            return i;
    return -1;
}

/* ---- inventory from the catalog ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool wanted(const char *region, char **only, size_t nonly)
{
    if (!only)
        return true;
    for (size_t i = 0; i < nonly; i++)
        if (!strcmp(only[i], region))
            return true;
    return false;
}

static void free_inventory(struct sim_config *c)
{
    for (size_t r = 0; r < c->nregions; r++) {
        for (size_t z = 0; z < c->regions[r].nzones; z++) {
            free(c->regions[r].zones[z]);
            free(c->regions[r].zone_ids[z]);
        }
        free(c->regions[r].zones);
        free(c->regions[r].zone_ids);
        free(c->regions[r].name);
    }
    free(c->regions);
    for (size_t o = 0; o < c->noffers; o++) {
        free(c->offers[o].region);
        free(c->offers[o].zone);
        free(c->offers[o].type);
    }
    free(c->offers);
    c->regions = NULL;
    c->offers = NULL;
    c->nregions = c->noffers = 0;
}

/* Zones of one region: each catalog zone id becomes REGION + a letter, in id order. */
static int add_region(struct sim_config *c, const struct plan_catalog *cat, const char *region)
{
    const char *ids[26];
    size_t nids = 0;
    for (size_t i = 0; i < cat->noffers; i++) {
        const struct plan_offer *o = &cat->offers[i];
        if (o->cloud != CORE_CLOUD_AWS || strcmp(o->region, region) || !*o->zone)
            continue;
        bool seen = false;
        for (size_t k = 0; k < nids; k++)
            seen = seen || !strcmp(ids[k], o->zone);
        if (!seen && nids < 26)
            ids[nids++] = o->zone;
    }
    qsort(ids, nids, sizeof *ids, cmp_str);
    size_t nz = nids ? nids : 3;
    struct sim_region *reg = &c->regions[c->nregions++];
    memset(reg, 0, sizeof *reg);
    reg->name = strdup(region);
    reg->zones = calloc(nz, sizeof *reg->zones);
    reg->zone_ids = calloc(nz, sizeof *reg->zone_ids);
    if (!reg->name || !reg->zones || !reg->zone_ids)
        return -1;
    for (size_t z = 0; z < nz; z++, reg->nzones++) {
        if (asprintf(&reg->zones[z], "%s%c", region, (char)('a' + z)) < 0)
            return -1;
        if (nids)
            reg->zone_ids[z] = strdup(ids[z]);
        else if (asprintf(&reg->zone_ids[z], "%s-az%zu", region, z + 1) < 0)
            reg->zone_ids[z] = NULL;
        if (!reg->zone_ids[z])
            return -1;
    }
    for (size_t i = 0; i < cat->noffers; i++) {
        const struct plan_offer *o = &cat->offers[i];
        if (o->cloud != CORE_CLOUD_AWS || strcmp(o->region, region))
            continue;
        for (size_t z = 0; z < nz; z++) {
            if (*o->zone && (!nids || strcmp(ids[z], o->zone)))
                continue;
            bool dup = false;
            for (size_t k = c->noffers; k-- > 0 && !dup;)
                dup = !strcmp(c->offers[k].zone, reg->zones[z]) &&
                      !strcmp(c->offers[k].type, o->instance_type);
            if (dup)
                continue;
            struct sim_offer *so = realloc(c->offers, (c->noffers + 1) * sizeof *so);
            if (!so)
                return -1;
            c->offers = so;
            so = &c->offers[c->noffers];
            so->region = strdup(region);
            so->zone = strdup(reg->zones[z]);
            so->type = strdup(o->instance_type);
            so->vcpus = o->vcpus;
            so->spot_price = o->spot;
            c->noffers++;
            if (!so->region || !so->zone || !so->type)
                return -1;
        }
    }
    return 0;
}

/* Regions from `cat` (AWS only), all of them or those in only[0..nonly). */
static int build_inventory(struct sim_config *c, const struct plan_catalog *cat, char **only,
                           size_t nonly)
{
    free_inventory(c);
    const char *names[128];
    size_t n = 0;
    for (size_t i = 0; i < cat->noffers; i++) {
        const struct plan_offer *o = &cat->offers[i];
        if (o->cloud != CORE_CLOUD_AWS || !wanted(o->region, only, nonly))
            continue;
        if (n && !strcmp(names[n - 1], o->region))
            continue; /* offers are sorted by region */
        if (n < 128)
            names[n++] = o->region;
    }
    c->regions = calloc(n ? n : 1, sizeof *c->regions);
    if (!c->regions)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (add_region(c, cat, names[i]) < 0)
            return -1;
    return 0;
}

int sim_config_defaults(struct sim_config *c, struct core_diags *d)
{
    memset(c, 0, sizeof *c);
    c->seed = 1;
    c->time_scale = 1;
    c->pending_min = 5;
    c->pending_max = 30;
    c->stopping_min = 5;
    c->stopping_max = 15;
    c->terminated_visible = 3600;
    c->throttle = true;
    c->buckets[SIM_FAM_RUN] = (struct sim_bucket_conf){5, 2};
    c->buckets[SIM_FAM_TERMINATE] = (struct sim_bucket_conf){100, 5};
    c->buckets[SIM_FAM_DESCRIBE] = (struct sim_bucket_conf){100, 20};
    c->buckets[SIM_FAM_MUTATING] = (struct sim_bucket_conf){50, 5};
    c->timeout_hold_ms = 2000;
    c->spot_interruption_window = 3600;
    c->default_capacity = SIM_UNLIMITED;
    struct plan_catalog *cat = NULL;
    if (plan_catalog_load_bundled(d, &cat) < 0)
        return -1;
    int rc = build_inventory(c, cat, NULL, 0);
    plan_catalog_free(cat);
    if (rc < 0) {
        core_diag_add(d, CORE_SEV_ERROR, CODE, NULL, "out of memory building the inventory");
        sim_config_release(c);
    }
    return rc;
}

int sim_config_add_credential(struct sim_config *c, const char *akid, const char *secret)
{
    struct sim_credential *p = realloc(c->creds, (c->ncreds + 1) * sizeof *p);
    if (!p)
        return -1;
    c->creds = p;
    p[c->ncreds].access_key_id = strdup(akid);
    p[c->ncreds].secret_access_key = strdup(secret);
    c->ncreds++;
    return p[c->ncreds - 1].access_key_id && p[c->ncreds - 1].secret_access_key ? 0 : -1;
}

void sim_config_release(struct sim_config *c)
{
    free_inventory(c);
    for (size_t i = 0; i < c->ncapacity; i++) {
        free(c->capacity[i].zone);
        free(c->capacity[i].type);
    }
    free(c->capacity);
    for (size_t i = 0; i < c->nquotas; i++)
        free(c->quotas[i].region);
    free(c->quotas);
    for (size_t i = 0; i < c->ncreds; i++) {
        free(c->creds[i].access_key_id);
        if (c->creds[i].secret_access_key) {
            volatile char *s = c->creds[i].secret_access_key;
            while (*s)
                *s++ = 0;
        }
        free(c->creds[i].secret_access_key);
    }
    free(c->creds);
    memset(c, 0, sizeof *c);
}

/* ---- decoding ---- */

struct dec {
    struct core_diags *d;
    struct sim_config *c;
    int errors;
};

static void err(struct dec *x, const struct spec_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void err(struct dec *x, const struct spec_node *n, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    core_diag_add(x->d, CORE_SEV_ERROR, CODE, n ? &n->loc : NULL, "%s", msg);
    x->errors++;
}

static bool is_map(struct dec *x, const struct spec_node *n, const char *what)
{
    if (n && n->kind == SPEC_NODE_MAP)
        return true;
    err(x, n, "'%s' must be a mapping, not %s", what, spec_node_kind_name(n));
    return false;
}

static bool scalar(const struct spec_node *n)
{
    return n && n->kind == SPEC_NODE_SCALAR;
}

static int num(struct dec *x, const struct spec_node *n, const char *what, double lo, double hi,
               double *out)
{
    char *end = NULL;
    if (scalar(n)) {
        errno = 0;
        double v = strtod(n->u.str.s, &end);
        if (end != n->u.str.s && !*end && !errno && isfinite(v) && v >= lo && v <= hi) {
            *out = v;
            return 0;
        }
    }
    err(x, n, "'%s' must be a number from %g to %g", what, lo, hi);
    return -1;
}

/* A count: a whole number >= 0, or "unlimited". */
static int count(struct dec *x, const struct spec_node *n, const char *what, long *out)
{
    if (scalar(n) && !strcmp(n->u.str.s, "unlimited")) {
        *out = SIM_UNLIMITED;
        return 0;
    }
    char *end = NULL;
    if (scalar(n)) {
        errno = 0;
        long v = strtol(n->u.str.s, &end, 10);
        if (end != n->u.str.s && !*end && !errno && v >= 0) {
            *out = v;
            return 0;
        }
    }
    err(x, n, "'%s' must be a whole number or 'unlimited'", what);
    return -1;
}

/* [min, max], {min, max} or one number. */
static void range(struct dec *x, const struct spec_node *n, const char *what, double hi,
                  double *lo_out, double *hi_out)
{
    double a = 0, b = 0;
    if (n->kind == SPEC_NODE_SEQ && n->u.seq.n == 2) {
        if (num(x, n->u.seq.items[0], what, 0, hi, &a) ||
            num(x, n->u.seq.items[1], what, 0, hi, &b))
            return;
    } else if (n->kind == SPEC_NODE_MAP && spec_node_get(n, "min") && spec_node_get(n, "max")) {
        if (num(x, spec_node_get(n, "min"), what, 0, hi, &a) ||
            num(x, spec_node_get(n, "max"), what, 0, hi, &b))
            return;
    } else if (scalar(n)) {
        if (num(x, n, what, 0, hi, &a))
            return;
        b = a;
    } else {
        err(x, n, "'%s' must be a number, [min, max] or {min: N, max: N}", what);
        return;
    }
    if (b < a) {
        err(x, n, "'%s': max (%g) is below min (%g)", what, b, a);
        return;
    }
    *lo_out = a;
    *hi_out = b;
}

/* Reports keys of `n` that are not in `known` (NULL-terminated). */
static void known_keys(struct dec *x, const struct spec_node *n, const char *where,
                       const char *const *known)
{
    for (uint32_t i = 0; i < n->u.map.n; i++) {
        const struct spec_node *k = n->u.map.items[i].key;
        bool ok = false;
        for (const char *const *p = known; *p && !ok; p++)
            ok = !strcmp(*p, k->u.str.s);
        if (!ok)
            err(x, k, "unknown key '%s' in %s", k->u.str.s, where);
    }
}

static void decode_lifecycle(struct dec *x, const struct spec_node *n)
{
    static const char *const keys[] = {"pending_seconds", "shutting_down_seconds",
                                       "terminated_visible_seconds", NULL};
    if (!is_map(x, n, "lifecycle"))
        return;
    known_keys(x, n, "'lifecycle'", keys);
    const struct spec_node *v;
    if ((v = spec_node_get(n, "pending_seconds")))
        range(x, v, "pending_seconds", 86400, &x->c->pending_min, &x->c->pending_max);
    if ((v = spec_node_get(n, "shutting_down_seconds")))
        range(x, v, "shutting_down_seconds", 86400, &x->c->stopping_min, &x->c->stopping_max);
    if ((v = spec_node_get(n, "terminated_visible_seconds")))
        num(x, v, "terminated_visible_seconds", 0, 1e9, &x->c->terminated_visible);
}

static void decode_throttle(struct dec *x, const struct spec_node *n)
{
    if (scalar(n) && (!strcmp(n->u.str.s, "off") || !strcmp(n->u.str.s, "false"))) {
        x->c->throttle = false;
        return;
    }
    if (!is_map(x, n, "throttle"))
        return;
    for (uint32_t i = 0; i < n->u.map.n; i++) {
        const struct spec_node *k = n->u.map.items[i].key, *v = n->u.map.items[i].value;
        if (!strcmp(k->u.str.s, "enabled")) {
            if (scalar(v) && !strcmp(v->u.str.s, "true"))
                x->c->throttle = true;
            else if (scalar(v) && !strcmp(v->u.str.s, "false"))
                x->c->throttle = false;
            else
                err(x, v, "'enabled' must be true or false");
            continue;
        }
        int f = -1;
        for (int j = 0; j < SIM_FAM_COUNT; j++)
            if (!strcmp(family_names[j], k->u.str.s))
                f = j;
        if (f < 0) {
            err(x, k,
                "unknown key '%s' in 'throttle' (the families are run_instances, "
                "terminate_instances, describe, mutating)",
                k->u.str.s);
            continue;
        }
        if (!is_map(x, v, k->u.str.s))
            continue;
        static const char *const keys[] = {"burst", "refill_per_second", NULL};
        known_keys(x, v, "a token bucket", keys);
        const struct spec_node *b = spec_node_get(v, "burst");
        const struct spec_node *r = spec_node_get(v, "refill_per_second");
        if (b)
            num(x, b, "burst", 1, 1e9, &x->c->buckets[f].burst);
        if (r)
            num(x, r, "refill_per_second", 0, 1e9, &x->c->buckets[f].refill);
    }
}

static void decode_faults(struct dec *x, const struct spec_node *n)
{
    if (!is_map(x, n, "faults"))
        return;
    for (uint32_t i = 0; i < n->u.map.n; i++) {
        const struct spec_node *k = n->u.map.items[i].key, *v = n->u.map.items[i].value;
        if (!strcmp(k->u.str.s, "timeout_hold_ms")) {
            num(x, v, "timeout_hold_ms", 0, 600000, &x->c->timeout_hold_ms);
            continue;
        }
        int f = sim_fault_find(k->u.str.s);
        if (f < 0) {
            err(x, k,
                "unknown fault '%s' (capacity, internal, unavailable, throttle, timeout, "
                "malformed or timeout_hold_ms)",
                k->u.str.s);
            continue;
        }
        num(x, v, k->u.str.s, 0, 1, &x->c->fault_rate[f]);
    }
}

static void decode_spot(struct dec *x, const struct spec_node *n)
{
    static const char *const keys[] = {"interruption_rate", "interruption_window_seconds", NULL};
    if (!is_map(x, n, "spot"))
        return;
    known_keys(x, n, "'spot'", keys);
    const struct spec_node *v;
    if ((v = spec_node_get(n, "interruption_rate")))
        num(x, v, "interruption_rate", 0, 1, &x->c->spot_interruption_rate);
    if ((v = spec_node_get(n, "interruption_window_seconds")))
        num(x, v, "interruption_window_seconds", 0, 1e9, &x->c->spot_interruption_window);
}

static bool zone_known(const struct sim_config *c, const char *zone)
{
    for (size_t r = 0; r < c->nregions; r++)
        for (size_t z = 0; z < c->regions[r].nzones; z++)
            if (!strcmp(c->regions[r].zones[z], zone))
                return true;
    return false;
}

static bool type_known(const struct sim_config *c, const char *type)
{
    for (size_t o = 0; o < c->noffers; o++)
        if (!strcmp(c->offers[o].type, type))
            return true;
    return false;
}

static void decode_capacity(struct dec *x, const struct spec_node *n)
{
    if (!is_map(x, n, "capacity"))
        return;
    struct sim_config *c = x->c;
    c->capacity = calloc(n->u.map.n ? n->u.map.n : 1, sizeof *c->capacity);
    if (!c->capacity)
        return err(x, n, "out of memory");
    for (uint32_t i = 0; i < n->u.map.n; i++) {
        const struct spec_node *k = n->u.map.items[i].key, *v = n->u.map.items[i].value;
        const char *key = k->u.str.s;
        long limit;
        if (count(x, v, key, &limit) < 0)
            continue;
        if (!strcmp(key, "default")) {
            c->default_capacity = limit;
            continue;
        }
        const char *slash = strchr(key, '/');
        char *zone = slash ? strndup(key, (size_t)(slash - key)) : NULL;
        const char *type = slash ? slash + 1 : NULL;
        if (!slash && zone_known(c, key))
            zone = strdup(key);
        else if (!slash)
            type = key;
        if (zone && !zone_known(c, zone)) {
            err(x, k, "unknown availability zone '%s' in 'capacity'", zone);
            free(zone);
            continue;
        }
        if (type && !type_known(c, type)) {
            err(x, k,
                "'%s' in 'capacity' is neither an availability zone nor an instance type of "
                "this world",
                type);
            free(zone);
            continue;
        }
        struct sim_capacity_rule *r = &c->capacity[c->ncapacity++];
        r->zone = zone ? zone : strdup("");
        r->type = strdup(type ? type : "");
        r->limit = limit;
    }
}

static void decode_quotas(struct dec *x, const struct spec_node *n)
{
    if (!is_map(x, n, "quotas"))
        return;
    struct sim_config *c = x->c;
    c->quotas = calloc(n->u.map.n ? n->u.map.n : 1, sizeof *c->quotas);
    if (!c->quotas)
        return err(x, n, "out of memory");
    static const char *const keys[] = {"on_demand_vcpus", "spot_vcpus", "max_instances", NULL};
    for (uint32_t i = 0; i < n->u.map.n; i++) {
        const struct spec_node *k = n->u.map.items[i].key, *v = n->u.map.items[i].value;
        const char *key = k->u.str.s;
        bool dflt = !strcmp(key, "default");
        bool known = false;
        for (size_t r = 0; r < c->nregions; r++)
            known = known || !strcmp(c->regions[r].name, key);
        if (!dflt && !known) {
            err(x, k, "unknown region '%s' in 'quotas' (not in this world)", key);
            continue;
        }
        if (!is_map(x, v, key))
            continue;
        known_keys(x, v, "a quota", keys);
        struct sim_quota *q = &c->quotas[c->nquotas++];
        q->region = strdup(dflt ? "" : key);
        q->on_demand_vcpus = q->spot_vcpus = q->max_instances = SIM_UNLIMITED;
        const struct spec_node *f;
        if ((f = spec_node_get(v, "on_demand_vcpus")))
            count(x, f, "on_demand_vcpus", &q->on_demand_vcpus);
        if ((f = spec_node_get(v, "spot_vcpus")))
            count(x, f, "spot_vcpus", &q->spot_vcpus);
        if ((f = spec_node_get(v, "max_instances")))
            count(x, f, "max_instances", &q->max_instances);
    }
}

static void decode_credentials(struct dec *x, const struct spec_node *n)
{
    if (n->kind != SPEC_NODE_SEQ)
        return err(x, n, "'credentials' must be a list of {access_key_id, secret_access_key}");
    for (uint32_t i = 0; i < n->u.seq.n; i++) {
        const struct spec_node *v = n->u.seq.items[i];
        if (!is_map(x, v, "credentials item"))
            continue;
        const struct spec_node *a = spec_node_get(v, "access_key_id");
        const struct spec_node *s = spec_node_get(v, "secret_access_key");
        if (!scalar(a) || !scalar(s) || !*a->u.str.s || !*s->u.str.s) {
            err(x, v, "a credential needs 'access_key_id' and 'secret_access_key' strings");
            continue;
        }
        if (sim_config_add_credential(x->c, a->u.str.s, s->u.str.s) < 0)
            err(x, v, "out of memory");
    }
}

/* clouds.aws: regions (and the catalog they come from) first, then capacity and quotas. */
static void decode_aws(struct dec *x, const struct spec_node *n)
{
    static const char *const keys[] = {"catalog", "regions",     "capacity",
                                       "quotas",  "credentials", NULL};
    if (!is_map(x, n, "aws"))
        return;
    known_keys(x, n, "'clouds.aws'", keys);
    const struct spec_node *catn = spec_node_get(n, "catalog");
    const struct spec_node *regs = spec_node_get(n, "regions");
    struct plan_catalog *cat = NULL;
    int rc;
    if (catn && !scalar(catn)) {
        err(x, catn, "'catalog' must be a path");
        return;
    }
    rc =
        catn ? plan_catalog_load(catn->u.str.s, x->d, &cat) : plan_catalog_load_bundled(x->d, &cat);
    if (rc < 0) {
        err(x, catn, "cannot load the catalog for the inventory");
        return;
    }
    char *only[128];
    size_t nonly = 0;
    bool all = !regs || (scalar(regs) && !strcmp(regs->u.str.s, "from catalog"));
    if (!all && regs->kind != SPEC_NODE_SEQ) {
        err(x, regs, "'regions' must be a list of region names or 'from catalog'");
    } else if (!all) {
        for (uint32_t i = 0; i < regs->u.seq.n && nonly < 128; i++) {
            const struct spec_node *r = regs->u.seq.items[i];
            bool found = false;
            for (size_t o = 0; scalar(r) && o < cat->noffers && !found; o++)
                found = cat->offers[o].cloud == CORE_CLOUD_AWS &&
                        !strcmp(cat->offers[o].region, r->u.str.s);
            if (!found)
                err(x, r, "region '%s' has no AWS offers in catalog '%s'",
                    scalar(r) ? r->u.str.s : "?", cat->name);
            else
                only[nonly++] = (char *)(uintptr_t)r->u.str.s;
        }
    }
    if (build_inventory(x->c, cat, all ? NULL : only, nonly) < 0)
        err(x, n, "out of memory building the inventory");
    plan_catalog_free(cat);
    const struct spec_node *v;
    if ((v = spec_node_get(n, "capacity")))
        decode_capacity(x, v);
    if ((v = spec_node_get(n, "quotas")))
        decode_quotas(x, v);
    if ((v = spec_node_get(n, "credentials")))
        decode_credentials(x, v);
}

static void decode_root(struct dec *x, const struct spec_node *root)
{
    static const char *const keys[] = {"seed",       "time_scale", "lifecycle",
                                       "latency_ms", "throttle",   "faults",
                                       "spot",       "clouds",     NULL};
    if (!root || !is_map(x, root, "the world config"))
        return;
    known_keys(x, root, "the world config", keys);
    const struct spec_node *v;
    if ((v = spec_node_get(root, "seed"))) {
        char *end = NULL;
        errno = 0;
        unsigned long long seed = scalar(v) ? strtoull(v->u.str.s, &end, 10) : 0;
        if (!scalar(v) || end == v->u.str.s || *end || errno || v->u.str.s[0] == '-')
            err(x, v, "'seed' must be a whole number from 0 to 2^64-1");
        else
            x->c->seed = (uint64_t)seed;
    }
    if ((v = spec_node_get(root, "time_scale")))
        num(x, v, "time_scale", 0, 1000, &x->c->time_scale);
    if ((v = spec_node_get(root, "lifecycle")))
        decode_lifecycle(x, v);
    if ((v = spec_node_get(root, "latency_ms")) && v->kind == SPEC_NODE_MAP &&
        spec_node_get(v, "mean")) {
        static const char *const mean_only[] = {"mean", NULL};
        known_keys(x, v, "'latency_ms' (with 'mean', the only key)", mean_only);
        num(x, spec_node_get(v, "mean"), "mean", 0, 60000, &x->c->latency_mean_ms);
    } else if (v) {
        range(x, v, "latency_ms", 600000, &x->c->latency_min_ms, &x->c->latency_max_ms);
    }
    if ((v = spec_node_get(root, "throttle")))
        decode_throttle(x, v);
    if ((v = spec_node_get(root, "faults")))
        decode_faults(x, v);
    if ((v = spec_node_get(root, "spot")))
        decode_spot(x, v);
    if ((v = spec_node_get(root, "clouds")) && is_map(x, v, "clouds")) {
        for (uint32_t i = 0; i < v->u.map.n; i++) {
            const struct spec_node *k = v->u.map.items[i].key;
            if (strcmp(k->u.str.s, "aws"))
                err(x, k, "cloud '%s' is not simulated yet (only 'aws')", k->u.str.s);
        }
        if (spec_node_get(v, "aws"))
            decode_aws(x, spec_node_get(v, "aws"));
    }
}

int sim_config_load(struct sim_config *c, const char *path, struct core_diags *d)
{
    struct core_source *src = NULL;
    struct core_arena arena;
    struct spec_node *root = NULL;
    core_arena_init(&arena, 0);
    struct dec x = {.d = d, .c = c};
    if (spec_read_source(d, path, MAX_CONF_SIZE, &src) < 0 ||
        spec_yaml_parse(&arena, d, src, NULL, &root) < 0)
        x.errors++;
    else
        decode_root(&x, root);
    core_arena_release(&arena);
    if (x.errors || d->errors) {
        sim_config_release(c);
        return -1;
    }
    return 0;
}
