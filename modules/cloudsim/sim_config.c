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
#include "modules/verify/verify.h"
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

static void free_region(struct sim_region *r)
{
    for (size_t z = 0; z < r->nzones; z++) {
        free(r->zones[z]);
        free(r->zone_ids[z]);
    }
    free(r->zones);
    free(r->zone_ids);
    free(r->name);
}

static void free_offer(struct sim_offer *o)
{
    free(o->region);
    free(o->zone);
    free(o->type);
}

/* Drops the regions and offers of `cloud`, or of every cloud when cloud < 0. */
static void free_inventory(struct sim_config *c, int cloud)
{
    size_t keep = 0;
    for (size_t r = 0; r < c->nregions; r++) {
        if (cloud < 0 || (int)c->regions[r].cloud == cloud)
            free_region(&c->regions[r]);
        else
            c->regions[keep++] = c->regions[r];
    }
    c->nregions = keep;
    keep = 0;
    for (size_t o = 0; o < c->noffers; o++) {
        if (cloud < 0 || (int)c->offers[o].cloud == cloud)
            free_offer(&c->offers[o]);
        else
            c->offers[keep++] = c->offers[o];
    }
    c->noffers = keep;
    if (cloud < 0 || !c->nregions) {
        free(c->regions);
        c->regions = NULL;
    }
    if (cloud < 0 || !c->noffers) {
        free(c->offers);
        c->offers = NULL;
    }
}

/*
 * The zones of one region, as the catalog names them: AWS rows carry zone ids (use1-az1),
 * which become REGION + a letter in id order; GCP rows carry zone names (us-central1-a);
 * Azure rows carry none, so the region is its own single zone. A region with no zone rows
 * gets three zones (REGION + a, b, c; GCP REGION-a, -b, -c), except Azure's.
 * names[i] and ids[i] are malloc'd; ids are what the catalog's zone column holds.
 */
static size_t region_zones(const struct plan_catalog *cat, enum core_cloud cloud,
                           const char *region, char **names, char **ids, size_t max)
{
    const char *seen[64];
    size_t n = 0;
    for (size_t i = 0; i < cat->noffers; i++) {
        const struct plan_offer *o = &cat->offers[i];
        if (o->cloud != cloud || strcmp(o->region, region) || !*o->zone)
            continue;
        bool dup = false;
        for (size_t k = 0; k < n && !dup; k++)
            dup = !strcmp(seen[k], o->zone);
        if (!dup && n < 26 && n < max)
            seen[n++] = o->zone;
    }
    qsort(seen, n, sizeof *seen, cmp_str);
    size_t nz = n ? n : cloud == CORE_CLOUD_AZURE ? 1 : 3;
    for (size_t z = 0; z < nz; z++) {
        names[z] = ids[z] = NULL;
        int rc = 0;
        if (cloud == CORE_CLOUD_AZURE)
            names[z] = strdup(region);
        else if (cloud == CORE_CLOUD_GCP && n)
            names[z] = strdup(seen[z]);
        else
            rc = asprintf(&names[z], "%s%s%c", region, cloud == CORE_CLOUD_GCP ? "-" : "",
                          (char)('a' + z));
        if (rc < 0)
            names[z] = NULL;
        if (n)
            ids[z] = strdup(seen[z]);
        else if (cloud == CORE_CLOUD_AWS && asprintf(&ids[z], "%s-az%zu", region, z + 1) < 0)
            ids[z] = NULL;
        else if (cloud != CORE_CLOUD_AWS)
            ids[z] = names[z] ? strdup(names[z]) : NULL;
    }
    return nz;
}

static int add_offer(struct sim_config *c, enum core_cloud cloud, const char *region,
                     const char *zone, const struct plan_offer *o)
{
    struct sim_offer *so = realloc(c->offers, (c->noffers + 1) * sizeof *so);
    if (!so)
        return -1;
    c->offers = so;
    so = &c->offers[c->noffers];
    so->cloud = cloud;
    so->region = strdup(region);
    so->zone = strdup(zone);
    so->type = strdup(o->instance_type);
    so->vcpus = o->vcpus;
    so->spot_price = o->spot;
    so->gpu = o->gpu;
    so->gpus = o->gpus;
    so->ram_gib = o->ram_gib;
    c->noffers++;
    return so->region && so->zone && so->type ? 0 : -1;
}

/* One region of `cloud` with its zones and the offers of each zone: an offer priced for a
 * zone is offered there, one priced for the region in each of its zones. */
static int add_region(struct sim_config *c, const struct plan_catalog *cat, enum core_cloud cloud,
                      const char *region)
{
    char *names[26], *ids[26];
    size_t nz = region_zones(cat, cloud, region, names, ids, 26);
    struct sim_region *reg = &c->regions[c->nregions++];
    memset(reg, 0, sizeof *reg);
    reg->cloud = cloud;
    reg->name = strdup(region);
    reg->zones = calloc(nz, sizeof *reg->zones);
    reg->zone_ids = calloc(nz, sizeof *reg->zone_ids);
    bool ok = reg->name && reg->zones && reg->zone_ids;
    for (size_t z = 0; z < nz; z++) {
        ok = ok && names[z] && ids[z];
        if (!reg->zones || !reg->zone_ids) {
            free(names[z]);
            free(ids[z]);
            continue;
        }
        reg->zones[z] = names[z];
        reg->zone_ids[z] = ids[z];
        reg->nzones++;
    }
    if (!ok)
        return -1;
    size_t first = c->noffers; /* duplicates can only be among this region's offers */
    for (size_t i = 0; i < cat->noffers; i++) {
        const struct plan_offer *o = &cat->offers[i];
        if (o->cloud != cloud || strcmp(o->region, region))
            continue;
        for (size_t z = 0; z < nz; z++) {
            if (*o->zone && strcmp(reg->zone_ids[z], o->zone))
                continue;
            bool dup = false;
            for (size_t k = first; k < c->noffers && !dup; k++)
                dup = !strcmp(c->offers[k].zone, reg->zones[z]) &&
                      !strcmp(c->offers[k].type, o->instance_type);
            if (!dup && add_offer(c, cloud, region, reg->zones[z], o) < 0)
                return -1;
        }
    }
    return 0;
}

/* The regions of `cloud` from `cat`, all of them or those in only[0..nonly), replacing what
 * the config held for that cloud. */
static int build_inventory(struct sim_config *c, const struct plan_catalog *cat,
                           enum core_cloud cloud, char **only, size_t nonly)
{
    free_inventory(c, (int)cloud);
    const char *names[256];
    size_t n = 0;
    for (size_t i = 0; i < cat->noffers; i++) {
        const struct plan_offer *o = &cat->offers[i];
        if (o->cloud != cloud || !wanted(o->region, only, nonly))
            continue;
        if (n && !strcmp(names[n - 1], o->region))
            continue; /* offers are sorted by cloud and region */
        if (n < 256)
            names[n++] = o->region;
    }
    struct sim_region *regs = realloc(c->regions, (c->nregions + n + 1) * sizeof *regs);
    if (!regs)
        return -1;
    c->regions = regs;
    for (size_t i = 0; i < n; i++)
        if (add_region(c, cat, cloud, names[i]) < 0)
            return -1;
    return 0;
}

size_t sim_config_cloud_regions(const struct sim_config *c, enum core_cloud cloud)
{
    size_t n = 0;
    for (size_t r = 0; r < c->nregions; r++)
        n += c->regions[r].cloud == cloud;
    return n;
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
    for (int k = 0; k < CORE_CLOUD_COUNT; k++)
        c->default_capacity[k] = SIM_UNLIMITED;
    struct plan_catalog *cat = NULL;
    if (plan_catalog_load_bundled(d, &cat) < 0)
        return -1;
    int rc = 0;
    for (int k = 0; k < CORE_CLOUD_COUNT && rc == 0; k++)
        rc = build_inventory(c, cat, (enum core_cloud)k, NULL, 0);
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

static void wipe_buf(char *p, size_t n)
{
    volatile char *v = p;
    while (n--)
        *v++ = 0;
}

static void wipe(char *s)
{
    volatile char *p = s;
    while (p && *p)
        *p++ = 0;
}

int sim_config_add_gcp_account(struct sim_config *c, const char *client_email,
                               const char *project_id, const char *public_key_pem)
{
    struct sim_service_account *p = realloc(c->gcp_accounts, (c->ngcp_accounts + 1) * sizeof *p);
    if (!p)
        return -1;
    c->gcp_accounts = p;
    p = &p[c->ngcp_accounts++];
    p->client_email = strdup(client_email);
    p->project_id = strdup(project_id);
    p->public_key_pem = strdup(public_key_pem);
    return p->client_email && p->project_id && p->public_key_pem ? 0 : -1;
}

int sim_config_add_azure_principal(struct sim_config *c, const char *tenant_id,
                                   const char *client_id, const char *client_secret)
{
    struct sim_azure_principal *p =
        realloc(c->azure_principals, (c->nazure_principals + 1) * sizeof *p);
    if (!p)
        return -1;
    c->azure_principals = p;
    p = &p[c->nazure_principals++];
    p->tenant_id = strdup(tenant_id);
    p->client_id = strdup(client_id);
    p->client_secret = strdup(client_secret);
    return p->tenant_id && p->client_id && p->client_secret ? 0 : -1;
}

void sim_config_release(struct sim_config *c)
{
    free_inventory(c, -1);
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
        wipe(c->creds[i].secret_access_key);
        free(c->creds[i].secret_access_key);
    }
    free(c->creds);
    for (size_t i = 0; i < c->ngcp_accounts; i++) {
        free(c->gcp_accounts[i].client_email);
        free(c->gcp_accounts[i].project_id);
        free(c->gcp_accounts[i].public_key_pem);
    }
    free(c->gcp_accounts);
    for (size_t i = 0; i < c->nazure_principals; i++) {
        free(c->azure_principals[i].tenant_id);
        free(c->azure_principals[i].client_id);
        wipe(c->azure_principals[i].client_secret);
        free(c->azure_principals[i].client_secret);
    }
    free(c->azure_principals);
    for (size_t i = 0; i < c->nverify_faults; i++) {
        free(c->verify_faults[i].zone);
        free(c->verify_faults[i].type);
        free(c->verify_faults[i].fault);
    }
    free(c->verify_faults);
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

static bool zone_known(const struct sim_config *c, enum core_cloud cloud, const char *zone)
{
    for (size_t r = 0; r < c->nregions; r++)
        for (size_t z = 0; c->regions[r].cloud == cloud && z < c->regions[r].nzones; z++)
            if (!strcmp(c->regions[r].zones[z], zone))
                return true;
    return false;
}

static bool zone_known_any(const struct sim_config *c, const char *zone)
{
    for (int cloud = 0; cloud < CORE_CLOUD_COUNT; cloud++)
        if (zone_known(c, (enum core_cloud)cloud, zone))
            return true;
    return false;
}

static bool type_known(const struct sim_config *c, enum core_cloud cloud, const char *type)
{
    for (size_t o = 0; o < c->noffers; o++)
        if (c->offers[o].cloud == cloud && !strcmp(c->offers[o].type, type))
            return true;
    return false;
}

static void *grow(void *p, size_t n, size_t more, size_t size)
{
    return realloc(p, (n + (more ? more : 1)) * size);
}

static void decode_capacity(struct dec *x, const struct spec_node *n, enum core_cloud cloud)
{
    if (!is_map(x, n, "capacity"))
        return;
    struct sim_config *c = x->c;
    struct sim_capacity_rule *rules =
        grow(c->capacity, c->ncapacity, n->u.map.n, sizeof *c->capacity);
    if (!rules)
        return err(x, n, "out of memory");
    c->capacity = rules;
    for (uint32_t i = 0; i < n->u.map.n; i++) {
        const struct spec_node *k = n->u.map.items[i].key, *v = n->u.map.items[i].value;
        const char *key = k->u.str.s;
        long limit;
        if (count(x, v, key, &limit) < 0)
            continue;
        if (!strcmp(key, "default")) {
            c->default_capacity[cloud] = limit;
            continue;
        }
        const char *slash = strchr(key, '/');
        char *zone = slash ? strndup(key, (size_t)(slash - key)) : NULL;
        const char *type = slash ? slash + 1 : NULL;
        if (!slash && zone_known(c, cloud, key))
            zone = strdup(key);
        else if (!slash)
            type = key;
        if (zone && !zone_known(c, cloud, zone)) {
            err(x, k, "unknown %s zone '%s' in 'capacity'", core_cloud_name(cloud), zone);
            free(zone);
            continue;
        }
        if (type && !type_known(c, cloud, type)) {
            err(x, k,
                "'%s' in 'capacity' is neither a zone nor an instance type of this world's %s",
                type, core_cloud_name(cloud));
            free(zone);
            continue;
        }
        struct sim_capacity_rule *r = &c->capacity[c->ncapacity++];
        r->zone = zone ? zone : strdup("");
        r->type = strdup(type ? type : "");
        r->limit = limit;
        r->cloud = cloud;
    }
}

static void decode_quotas(struct dec *x, const struct spec_node *n, enum core_cloud cloud)
{
    if (!is_map(x, n, "quotas"))
        return;
    struct sim_config *c = x->c;
    struct sim_quota *qs = grow(c->quotas, c->nquotas, n->u.map.n, sizeof *c->quotas);
    if (!qs)
        return err(x, n, "out of memory");
    c->quotas = qs;
    static const char *const keys[] = {"on_demand_vcpus", "spot_vcpus", "max_instances", NULL};
    for (uint32_t i = 0; i < n->u.map.n; i++) {
        const struct spec_node *k = n->u.map.items[i].key, *v = n->u.map.items[i].value;
        const char *key = k->u.str.s;
        bool dflt = !strcmp(key, "default");
        bool known = false;
        for (size_t r = 0; r < c->nregions; r++)
            known = known || (c->regions[r].cloud == cloud && !strcmp(c->regions[r].name, key));
        if (!dflt && !known) {
            err(x, k, "unknown region '%s' in 'quotas' (not in this world's %s)", key,
                core_cloud_name(cloud));
            continue;
        }
        if (!is_map(x, v, key))
            continue;
        known_keys(x, v, "a quota", keys);
        struct sim_quota *q = &c->quotas[c->nquotas++];
        q->region = strdup(dflt ? "" : key);
        q->cloud = cloud;
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

/* clouds.gcp.service_accounts: [{key_file: PATH}] (the public half of the key is kept) or
 * [{client_email, project_id, public_key: PEM}]. */
static void decode_gcp_accounts(struct dec *x, const struct spec_node *n)
{
    if (n->kind != SPEC_NODE_SEQ)
        return err(x, n,
                   "'service_accounts' must be a list of {key_file} or {client_email, "
                   "project_id, public_key}");
    for (uint32_t i = 0; i < n->u.seq.n; i++) {
        const struct spec_node *v = n->u.seq.items[i];
        if (!is_map(x, v, "service_accounts item"))
            continue;
        const struct spec_node *kf = spec_node_get(v, "key_file");
        const struct spec_node *em = spec_node_get(v, "client_email");
        const struct spec_node *pj = spec_node_get(v, "project_id");
        const struct spec_node *pk = spec_node_get(v, "public_key");
        char why[320];
        if (scalar(kf)) {
            FILE *fp = fopen(kf->u.str.s, "rb");
            char *buf = malloc(65536);
            size_t len = fp && buf ? fread(buf, 1, 65536, fp) : 0;
            if (fp)
                fclose(fp);
            if (!fp || !buf || len == 65536)
                err(x, kf, "cannot read the key file '%s'", kf->u.str.s);
            else if (sim_gce_account_from_key(x->c, buf, len, NULL, why, sizeof why) < 0)
                err(x, kf, "key file '%s': %s", kf->u.str.s, why);
            if (buf)
                wipe_buf(buf, len);
            free(buf);
        } else if (scalar(em) && scalar(pj) && scalar(pk) &&
                   !strncmp(pk->u.str.s, "-----BEGIN PUBLIC KEY-----", 26)) {
            if (sim_config_add_gcp_account(x->c, em->u.str.s, pj->u.str.s, pk->u.str.s) < 0)
                err(x, v, "out of memory");
        } else {
            err(x, v,
                "a service account needs 'key_file', or 'client_email', 'project_id' and "
                "'public_key' (PEM: -----BEGIN PUBLIC KEY-----)");
        }
    }
}

static void decode_azure_principals(struct dec *x, const struct spec_node *n)
{
    if (n->kind != SPEC_NODE_SEQ)
        return err(x, n,
                   "'service_principals' must be a list of {tenant_id, client_id, client_secret}");
    for (uint32_t i = 0; i < n->u.seq.n; i++) {
        const struct spec_node *v = n->u.seq.items[i];
        if (!is_map(x, v, "service_principals item"))
            continue;
        const struct spec_node *t = spec_node_get(v, "tenant_id");
        const struct spec_node *c = spec_node_get(v, "client_id");
        const struct spec_node *s = spec_node_get(v, "client_secret");
        if (!scalar(t) || !scalar(c) || !scalar(s) || !*t->u.str.s || !*c->u.str.s ||
            !*s->u.str.s) {
            err(x, v,
                "a service principal needs 'tenant_id', 'client_id' and 'client_secret' "
                "strings");
            continue;
        }
        if (sim_config_add_azure_principal(x->c, t->u.str.s, c->u.str.s, s->u.str.s) < 0)
            err(x, v, "out of memory");
    }
}

/*
 * What one cloud's section holds besides catalog, regions, capacity and quotas: the key for
 * the credentials its dialect accepts and the decoder for it (NULL: none yet).
 */
static const struct {
    const char *key;
    void (*decode)(struct dec *x, const struct spec_node *n);
} cloud_credentials[CORE_CLOUD_COUNT] = {
    [CORE_CLOUD_AWS] = {"credentials", decode_credentials},
    [CORE_CLOUD_GCP] = {"service_accounts", decode_gcp_accounts},
    [CORE_CLOUD_AZURE] = {"service_principals", decode_azure_principals},
};

/* The regions to simulate: every one of `cloud` in `cat` (regions absent or "from
 * catalog": *all set), or the listed ones (into only[], borrowed from the nodes). */
static size_t decode_regions(struct dec *x, const struct spec_node *regs,
                             const struct plan_catalog *cat, enum core_cloud cloud, char **only,
                             size_t max, bool *all)
{
    size_t nonly = 0;
    *all = !regs || (scalar(regs) && !strcmp(regs->u.str.s, "from catalog"));
    if (*all)
        return 0;
    if (regs->kind != SPEC_NODE_SEQ) {
        err(x, regs, "'regions' must be a list of region names or 'from catalog'");
        *all = true;
        return 0;
    }
    for (uint32_t i = 0; i < regs->u.seq.n && nonly < max; i++) {
        const struct spec_node *r = regs->u.seq.items[i];
        bool found = false;
        for (size_t o = 0; scalar(r) && o < cat->noffers && !found; o++)
            found = cat->offers[o].cloud == cloud && !strcmp(cat->offers[o].region, r->u.str.s);
        if (!found)
            err(x, r, "region '%s' has no %s offers in catalog '%s'", scalar(r) ? r->u.str.s : "?",
                cloud == CORE_CLOUD_AWS   ? "AWS"
                : cloud == CORE_CLOUD_GCP ? "GCP"
                                          : "Azure",
                cat->name);
        else
            only[nonly++] = (char *)(uintptr_t)r->u.str.s;
    }
    return nonly;
}

/* clouds.CLOUD: regions (and the catalog they come from) first, then capacity, quotas and
 * the credentials its dialect accepts. */
static void decode_cloud(struct dec *x, const struct spec_node *n, enum core_cloud cloud)
{
    const char *name = core_cloud_name(cloud);
    const char *keys[] = {"catalog", "regions", "capacity", "quotas", cloud_credentials[cloud].key,
                          NULL};
    char where[64];
    snprintf(where, sizeof where, "'clouds.%s'", name);
    if (!is_map(x, n, name))
        return;
    known_keys(x, n, where, keys);
    const struct spec_node *catn = spec_node_get(n, "catalog");
    struct plan_catalog *cat = NULL;
    if (catn && !scalar(catn)) {
        err(x, catn, "'catalog' must be a path");
        return;
    }
    int rc =
        catn ? plan_catalog_load(catn->u.str.s, x->d, &cat) : plan_catalog_load_bundled(x->d, &cat);
    if (rc < 0) {
        err(x, catn, "cannot load the catalog for the inventory");
        return;
    }
    char *only[256];
    bool all;
    size_t nonly = decode_regions(x, spec_node_get(n, "regions"), cat, cloud, only, 256, &all);
    if (build_inventory(x->c, cat, cloud, all ? NULL : only, nonly) < 0)
        err(x, n, "out of memory building the inventory");
    plan_catalog_free(cat);
    const struct spec_node *v;
    if ((v = spec_node_get(n, "capacity")))
        decode_capacity(x, v, cloud);
    if ((v = spec_node_get(n, "quotas")))
        decode_quotas(x, v, cloud);
    if (cloud_credentials[cloud].key && (v = spec_node_get(n, cloud_credentials[cloud].key)))
        cloud_credentials[cloud].decode(x, v);
}

/* clouds: exactly the clouds listed are simulated (without the section, all three are). */
static void decode_clouds(struct dec *x, const struct spec_node *v)
{
    if (!is_map(x, v, "clouds"))
        return;
    bool listed[CORE_CLOUD_COUNT] = {false};
    for (uint32_t i = 0; i < v->u.map.n; i++) {
        const struct spec_node *k = v->u.map.items[i].key;
        int cloud = core_cloud_from_name(k->u.str.s);
        if (cloud < 0)
            err(x, k, "unknown cloud '%s' (aws, gcp or azure)", k->u.str.s);
        else
            listed[cloud] = true;
    }
    for (int cloud = 0; cloud < CORE_CLOUD_COUNT; cloud++)
        if (!listed[cloud])
            free_inventory(x->c, cloud);
    for (uint32_t i = 0; i < v->u.map.n; i++) {
        int cloud = core_cloud_from_name(v->u.map.items[i].key->u.str.s);
        if (cloud >= 0)
            decode_cloud(x, v->u.map.items[i].value, (enum core_cloud)cloud);
    }
}

/* verify: { agent: BOOL, mem_mib: N, faults: { "ZONE/TYPE" | ZONE | TYPE: FAULT } } */
static void decode_verify(struct dec *x, const struct spec_node *n)
{
    static const char *const keys[] = {"agent", "mem_mib", "faults", NULL};
    if (!is_map(x, n, "verify"))
        return;
    known_keys(x, n, "'verify'", keys);
    const struct spec_node *v;
    if ((v = spec_node_get(n, "agent"))) {
        if (!scalar(v) || (strcmp(v->u.str.s, "true") && strcmp(v->u.str.s, "false")))
            err(x, v, "'agent' must be true or false");
        else
            x->c->verify_agent_off = !strcmp(v->u.str.s, "false");
    }
    double mib;
    if ((v = spec_node_get(n, "mem_mib")) && num(x, v, "mem_mib", 1, 4096, &mib) == 0)
        x->c->verify_mem_mib = (unsigned)mib;
    if (!(v = spec_node_get(n, "faults")) || !is_map(x, v, "faults"))
        return;
    struct sim_config *c = x->c;
    for (uint32_t i = 0; i < v->u.map.n; i++) {
        const struct spec_node *k = v->u.map.items[i].key, *f = v->u.map.items[i].value;
        unsigned bit;
        if (!scalar(f) ||
            (verify_fault_parse(f->u.str.s, &bit) != 0 && strcmp(f->u.str.s, "forge") &&
             strcmp(f->u.str.s, "silent") && strcmp(f->u.str.s, "truncate"))) {
            err(x, f, "unknown verify fault (" VERIFY_FAULT_NAMES ", forge, silent or truncate)");
            continue;
        }
        const char *key = k->u.str.s, *slash = strchr(key, '/');
        bool zone_only = !slash && zone_known_any(c, key);
        struct sim_verify_fault *g =
            grow(c->verify_faults, c->nverify_faults, 1, sizeof *c->verify_faults);
        if (!g)
            return err(x, k, "out of memory");
        c->verify_faults = g;
        struct sim_verify_fault *r = &c->verify_faults[c->nverify_faults++];
        r->zone = slash ? strndup(key, (size_t)(slash - key)) : strdup(zone_only ? key : "");
        r->type = strdup(slash ? slash + 1 : zone_only ? "" : key);
        r->fault = strdup(f->u.str.s);
        if (!r->zone || !r->type || !r->fault)
            err(x, k, "out of memory");
    }
}

static void decode_root(struct dec *x, const struct spec_node *root)
{
    static const char *const keys[] = {"seed",     "time_scale", "lifecycle", "latency_ms",
                                       "throttle", "faults",     "spot",      "clouds",
                                       "verify",   NULL};
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
    if ((v = spec_node_get(root, "clouds")))
        decode_clouds(x, v);
    if ((v = spec_node_get(root, "verify")))
        decode_verify(x, v);
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
