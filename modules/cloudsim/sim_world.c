/*
 * The simulated world, every cloud on one model: instances and their lifecycle, capacity and
 * quotas, ClientToken idempotency and instance names, operations, filters, paging tokens,
 * token buckets and fault decisions. Every random choice comes from the world's one
 * generator, drawn in request order, and every delay is drawn at launch, so moving the clock
 * forward draws nothing and a replay of the same requests at the same clock readings gives
 * the same world.
 */
#include "modules/cloudsim/sim.h"

#include <fnmatch.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the generator: splitmix64 seeds xoshiro256** ---- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t sim_rand(struct sim_world *w)
{
    uint64_t *s = w->rng;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double sim_rand01(struct sim_world *w)
{
    return (double)(sim_rand(w) >> 11) * (1.0 / 9007199254740992.0);
}

static double uniform(struct sim_world *w, double lo, double hi)
{
    if (hi <= lo)
        return lo;
    return lo + (hi - lo) * sim_rand01(w);
}

uint64_t sim_hash(uint64_t h, const char *s)
{
    for (; s && *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    h ^= 0xff; /* a separator, so ("ab","c") and ("a","bc") differ */
    h *= 0x100000001b3ull;
    return h;
}

/* ---- the world ---- */

struct sim_world *sim_world_new(struct sim_config *conf)
{
    struct sim_world *w = calloc(1, sizeof *w);
    if (!w) {
        sim_config_release(conf);
        return NULL;
    }
    w->conf = *conf;
    memset(conf, 0, sizeof *conf);
    pthread_mutex_init(&w->lock, NULL);
    uint64_t x = w->conf.seed;
    for (int i = 0; i < 4; i++)
        w->rng[i] = splitmix64(&x);
    w->page_secret = splitmix64(&x);
    for (int f = 0; f < SIM_FAULT_COUNT; f++)
        w->fault_rate[f] = w->conf.fault_rate[f];
    w->buckets = calloc(w->conf.nregions + 1, sizeof *w->buckets);
    if (!w->buckets) {
        sim_world_free(w);
        return NULL;
    }
    for (size_t r = 0; r <= w->conf.nregions; r++)
        for (int f = 0; f < SIM_FAM_COUNT; f++)
            w->buckets[r][f].tokens = -1; /* full at first use */
    return w;
}

static void free_tags(struct sim_tag *tags, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(tags[i].key);
        free(tags[i].value);
    }
    free(tags);
}

void sim_instance_free(struct sim_instance *inst)
{
    if (!inst)
        return;
    free(inst->name);
    free(inst->account);
    free(inst->agent_output);
    free_tags(inst->meta, inst->nmeta);
    free(inst->region);
    free(inst->zone);
    free(inst->type);
    free(inst->image);
    free(inst->client_token);
    free(inst->user_data);
    free(inst->key_name);
    free(inst->reason_code);
    free(inst->reason_message);
    free(inst->transition_reason);
    free_tags(inst->tags, inst->ntags);
    free(inst->doc);
    free(inst);
}

void sim_operation_free(struct sim_operation *op)
{
    if (!op)
        return;
    free(op->account);
    free(op->zone);
    free(op->kind);
    free(op->request_id);
    free(op->target_name);
    free(op);
}

void sim_world_free(struct sim_world *w)
{
    if (!w)
        return;
    sim_agent_stop(w);
    for (size_t i = 0; i < w->ninstances; i++)
        sim_instance_free(w->instances[i]);
    free(w->instances);
    for (size_t i = 0; i < w->nops; i++)
        sim_operation_free(w->ops[i]);
    free(w->ops);
    for (size_t i = 0; i < w->nresources; i++)
        sim_resource_free(w->resources[i]);
    free(w->resources);
    free(w->buckets);
    sim_config_release(&w->conf);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

const struct sim_region *sim_world_region(const struct sim_world *w, enum core_cloud cloud,
                                          const char *name)
{
    for (size_t i = 0; name && i < w->conf.nregions; i++)
        if (w->conf.regions[i].cloud == cloud && !strcmp(w->conf.regions[i].name, name))
            return &w->conf.regions[i];
    return NULL;
}

const struct sim_offer *sim_world_offer(const struct sim_world *w, enum core_cloud cloud,
                                        const char *zone, const char *type)
{
    for (size_t i = 0; zone && type && i < w->conf.noffers; i++)
        if (w->conf.offers[i].cloud == cloud && !strcmp(w->conf.offers[i].zone, zone) &&
            !strcmp(w->conf.offers[i].type, type))
            return &w->conf.offers[i];
    return NULL;
}

struct sim_instance *sim_world_find(const struct sim_world *w, const char *id)
{
    for (size_t i = 0; id && i < w->ninstances; i++)
        if (!strcmp(w->instances[i]->id, id))
            return w->instances[i];
    return NULL;
}

static bool same(const char *a, const char *b)
{
    return !strcmp(a ? a : "", b ? b : "");
}

/* Whether the instance still holds its name: a deleted one gives it up when it is
 * terminated; a reclaimed one is listed (TERMINATED on GCE) until it vanishes. */
static bool holds_name(const struct sim_instance *inst)
{
    return inst->name && (inst->state != SIM_TERMINATED || inst->reclaimed);
}

struct sim_instance *sim_world_find_name(const struct sim_world *w, enum core_cloud cloud,
                                         const char *account, const char *zone, const char *name)
{
    for (size_t i = 0; name && i < w->ninstances; i++) {
        struct sim_instance *inst = w->instances[i];
        if (inst->cloud == cloud && holds_name(inst) && !strcmp(inst->name, name) &&
            same(inst->account, account) && same(inst->zone, zone))
            return inst;
    }
    return NULL;
}

static void set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = s ? strdup(s) : NULL;
}

void sim_world_terminate(struct sim_world *w, struct sim_instance *inst, double now,
                         bool spot_reclaim, enum sim_state *prev)
{
    (void)w;
    if (prev)
        *prev = inst->state;
    if (inst->state == SIM_SHUTTING_DOWN || inst->state == SIM_TERMINATED)
        return;
    /* The shutting-down delay was drawn at launch and kept in terminate_at as a length. */
    double delay = inst->terminate_at;
    inst->state = SIM_SHUTTING_DOWN;
    inst->terminate_at = now + delay;
    inst->reclaimed = spot_reclaim;
    if (spot_reclaim) {
        set_str(&inst->reason_code, "Server.SpotInstanceTermination");
        set_str(&inst->reason_message, "Server.SpotInstanceTermination: Spot instance "
                                       "termination");
        set_str(&inst->transition_reason, "Service initiated (Spot instance termination)");
    } else {
        set_str(&inst->reason_code, "Client.UserInitiatedShutdown");
        set_str(&inst->reason_message, "Client.UserInitiatedShutdown: User initiated shutdown");
        set_str(&inst->transition_reason, "User initiated");
    }
}

/* One step along the lifecycle; true when something changed. */
static bool step(struct sim_world *w, struct sim_instance *inst, double now)
{
    switch (inst->state) {
    case SIM_PENDING:
        if (now < inst->running_at)
            return false;
        inst->state = SIM_RUNNING;
        return true;
    case SIM_RUNNING:
        if (inst->interrupt_at <= 0 || now < inst->interrupt_at)
            return false;
        sim_world_terminate(w, inst, inst->interrupt_at, true, NULL);
        return true;
    case SIM_SHUTTING_DOWN:
        if (now < inst->terminate_at)
            return false;
        inst->state = SIM_TERMINATED;
        inst->gone_at = inst->terminate_at + w->conf.terminated_visible;
        return true;
    case SIM_TERMINATED:
        return false;
    }
    return false;
}

void sim_world_advance(struct sim_world *w, double now)
{
    size_t keep = 0;
    for (size_t i = 0; i < w->ninstances; i++) {
        struct sim_instance *inst = w->instances[i];
        while (step(w, inst, now))
            ;
        if (inst->state == SIM_TERMINATED && now >= inst->gone_at) {
            sim_instance_free(inst);
            continue;
        }
        w->instances[keep++] = inst;
    }
    w->ninstances = keep;
    keep = 0;
    for (size_t i = 0; i < w->nops; i++) {
        if (now >= w->ops[i]->gone_at) {
            sim_operation_free(w->ops[i]);
            continue;
        }
        w->ops[keep++] = w->ops[i];
    }
    w->nops = keep;
}

/* ---- token buckets and faults ---- */

static size_t region_index(const struct sim_world *w, const char *region)
{
    for (size_t i = 0; region && i < w->conf.nregions; i++)
        if (!strcmp(w->conf.regions[i].name, region))
            return i;
    return w->conf.nregions; /* unknown regions share the last slot */
}

bool sim_world_take_token(struct sim_world *w, const char *region, enum sim_family fam, double now)
{
    if (!w->conf.throttle)
        return true;
    const struct sim_bucket_conf *c = &w->conf.buckets[fam];
    struct sim_bucket *b = &w->buckets[region_index(w, region)][fam];
    if (b->tokens < 0) {
        b->tokens = c->burst;
        b->at = now;
    }
    if (now > b->at) {
        b->tokens += (now - b->at) * c->refill;
        if (b->tokens > c->burst)
            b->tokens = c->burst;
        b->at = now;
    }
    if (b->tokens < 1.0)
        return false;
    b->tokens -= 1.0;
    return true;
}

bool sim_world_fault(struct sim_world *w, enum sim_fault kind)
{
    if (w->fault_count[kind] > 0) {
        w->fault_count[kind]--;
        return true;
    }
    if (w->fault_rate[kind] <= 0)
        return false;
    return sim_rand01(w) < w->fault_rate[kind];
}

double sim_world_latency(struct sim_world *w)
{
    if (w->conf.latency_mean_ms > 0) {
        double mean = w->conf.latency_mean_ms;
        double ms = -mean * log(1 - sim_rand01(w));
        return ms > 10 * mean ? 10 * mean : ms;
    }
    if (w->conf.latency_max_ms > 0)
        return w->conf.latency_min_ms +
               (w->conf.latency_max_ms - w->conf.latency_min_ms) * sim_rand01(w);
    return 0;
}

void sim_reply_malform(struct sim_world *w, struct sim_reply *r)
{
    if (!r->body)
        return;
    if (sim_rand(w) & 1) {
        r->len = r->len / 2;
        r->body[r->len] = 0;
    } else {
        static const char junk[] = "<html><body>502 Bad Gateway\x01\x02</bo";
        free(r->body);
        r->body = strdup(junk);
        r->len = r->body ? strlen(junk) : 0;
    }
}

/* ---- capacity and quotas ---- */

static bool live(const struct sim_instance *inst)
{
    return inst->state == SIM_PENDING || inst->state == SIM_RUNNING;
}

/* How many more instances of `type` fit in `zone` of `cloud` (LONG_MAX-ish when unlimited). */
static long capacity_left(const struct sim_world *w, enum core_cloud cloud, const char *zone,
                          const char *type)
{
    long left = 1L << 40;
    bool specific = false;
    for (size_t r = 0; r < w->conf.ncapacity; r++) {
        const struct sim_capacity_rule *rule = &w->conf.capacity[r];
        if (rule->cloud != cloud || (*rule->zone && strcmp(rule->zone, zone)) ||
            (*rule->type && strcmp(rule->type, type)))
            continue;
        specific = true;
        if (rule->limit == SIM_UNLIMITED)
            continue;
        long used = 0;
        for (size_t i = 0; i < w->ninstances; i++) {
            const struct sim_instance *inst = w->instances[i];
            if (inst->cloud == cloud && inst->state != SIM_TERMINATED &&
                (!*rule->zone || !strcmp(inst->zone, zone)) &&
                (!*rule->type || !strcmp(inst->type, type)))
                used++;
        }
        if (rule->limit - used < left)
            left = rule->limit - used;
    }
    long dflt = w->conf.default_capacity[cloud];
    if (!specific && dflt != SIM_UNLIMITED) {
        long used = 0;
        for (size_t i = 0; i < w->ninstances; i++)
            if (w->instances[i]->cloud == cloud && w->instances[i]->state != SIM_TERMINATED &&
                !strcmp(w->instances[i]->zone, zone) && !strcmp(w->instances[i]->type, type))
                used++;
        left = dflt - used;
    }
    return left < 0 ? 0 : left;
}

static const struct sim_quota *quota_for(const struct sim_world *w, enum core_cloud cloud,
                                         const char *region)
{
    const struct sim_quota *dflt = NULL;
    for (size_t i = 0; i < w->conf.nquotas; i++) {
        if (w->conf.quotas[i].cloud != cloud)
            continue;
        if (!strcmp(w->conf.quotas[i].region, region))
            return &w->conf.quotas[i];
        if (!*w->conf.quotas[i].region)
            dflt = &w->conf.quotas[i];
    }
    return dflt;
}

/* How many instances of `vcpus` the region's quotas still allow; sets which one binds
 * (*kind) and its limit. */
static long quota_left(const struct sim_world *w, enum core_cloud cloud, const char *region,
                       bool spot, double vcpus, enum sim_err_kind *kind, long *limit)
{
    const struct sim_quota *q = quota_for(w, cloud, region);
    long left = 1L << 40;
    if (!q)
        return left;
    double used_vcpus = 0;
    long used_instances = 0;
    for (size_t i = 0; i < w->ninstances; i++) {
        const struct sim_instance *inst = w->instances[i];
        if (inst->cloud != cloud || !live(inst) || strcmp(inst->region, region))
            continue;
        used_instances++;
        if (inst->spot == spot)
            used_vcpus += inst->vcpus;
    }
    long vq = spot ? q->spot_vcpus : q->on_demand_vcpus;
    if (vq != SIM_UNLIMITED && vcpus > 0) {
        long n = (long)(((double)vq - used_vcpus) / vcpus);
        if (n < left) {
            left = n;
            *kind = spot ? SIM_ERR_QUOTA_SPOT_VCPUS : SIM_ERR_QUOTA_VCPUS;
            *limit = vq;
        }
    }
    if (q->max_instances != SIM_UNLIMITED && q->max_instances - used_instances < left) {
        left = q->max_instances - used_instances;
        *kind = SIM_ERR_QUOTA_INSTANCES;
        *limit = q->max_instances;
    }
    return left < 0 ? 0 : left;
}

/* ---- RunInstances ---- */

static void fail(struct sim_error *err, enum sim_err_kind kind, int status, const char *code,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void fail(struct sim_error *err, enum sim_err_kind kind, int status, const char *code,
                 const char *fmt, ...)
{
    err->kind = kind;
    err->http_status = status;
    snprintf(err->code, sizeof err->code, "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

static int find_by_token(struct sim_world *w, const struct sim_run_request *req,
                         struct sim_instance **out, size_t *nout, struct sim_error *err)
{
    size_t n = 0;
    for (size_t i = 0; i < w->ninstances; i++) {
        struct sim_instance *inst = w->instances[i];
        if (inst->cloud != req->cloud || !inst->client_token ||
            strcmp(inst->client_token, req->client_token) || strcmp(inst->region, req->region) ||
            !same(inst->account, req->account))
            continue;
        if (strcmp(inst->params_hash, req->params_hash ? req->params_hash : "")) {
            fail(err, SIM_ERR_TOKEN_MISMATCH, 400, "IdempotentParameterMismatch",
                 "The client token you have provided is associated with a resource that is "
                 "already deleted or has different parameters. Please use a different client "
                 "token.");
            return -1;
        }
        if (n < (size_t)req->max_count)
            out[n++] = inst;
    }
    *nout = n;
    return n > 0 ? 1 : 0;
}

static const char *pick_zone(const struct sim_world *w, const struct sim_region *reg,
                             const char *type, bool *offered)
{
    *offered = false;
    const char *first = NULL;
    for (size_t z = 0; z < reg->nzones; z++) {
        if (!sim_world_offer(w, reg->cloud, reg->zones[z], type))
            continue;
        *offered = true;
        if (!first)
            first = reg->zones[z];
        if (capacity_left(w, reg->cloud, reg->zones[z], type) > 0)
            return reg->zones[z];
    }
    return first;
}

int sim_instance_tag(struct sim_instance *inst, const char *key, const char *value)
{
    size_t i = 0;
    while (i < inst->ntags && strcmp(inst->tags[i].key, key) != 0)
        i++;
    if (!value) { /* remove, keeping the order of the others */
        if (i == inst->ntags)
            return 0;
        free(inst->tags[i].key);
        free(inst->tags[i].value);
        memmove(&inst->tags[i], &inst->tags[i + 1], (inst->ntags - i - 1) * sizeof *inst->tags);
        inst->ntags--;
        return 0;
    }
    char *v = strdup(value);
    if (!v)
        return -1;
    if (i < inst->ntags) {
        free(inst->tags[i].value);
        inst->tags[i].value = v;
        return 0;
    }
    char *k = strdup(key);
    struct sim_tag *t = k ? realloc(inst->tags, (inst->ntags + 1) * sizeof *t) : NULL;
    if (!t) {
        free(k);
        free(v);
        return -1;
    }
    inst->tags = t;
    inst->tags[inst->ntags++] = (struct sim_tag){k, v};
    return 0;
}

static bool copy_tags(struct sim_tag **dst, size_t *ndst, const struct sim_tag *src, size_t n)
{
    if (!n)
        return true;
    *dst = calloc(n, sizeof **dst);
    if (!*dst)
        return false;
    for (size_t t = 0; t < n; t++) {
        (*dst)[t].key = strdup(src[t].key);
        (*dst)[t].value = strdup(src[t].value ? src[t].value : "");
        (*ndst)++;
        if (!(*dst)[t].key || !(*dst)[t].value)
            return false;
    }
    return true;
}

/* An id in the cloud's form: i-0 and 16 hex digits (aws), a 19-digit decimal (gcp), a UUID
 * (azure's vmId). */
static void draw_id(struct sim_world *w, enum core_cloud cloud, char *out, size_t len)
{
    uint64_t a = sim_rand(w);
    if (cloud == CORE_CLOUD_GCP) {
        snprintf(out, len, "%" PRIu64,
                 (uint64_t)(1000000000000000000ull + a % 8000000000000000000ull));
    } else if (cloud == CORE_CLOUD_AZURE) {
        uint64_t b = sim_rand(w);
        snprintf(out, len, "%08" PRIx64 "-%04" PRIx64 "-4%03" PRIx64 "-a%03" PRIx64 "-%012" PRIx64,
                 a >> 32, (a >> 16) & 0xffff, a & 0xfff, b >> 52,
                 (uint64_t)(b & 0xffffffffffffull));
    } else {
        snprintf(out, len, "i-0%016" PRIx64, a);
    }
}

static struct sim_instance *new_instance(struct sim_world *w, const struct sim_run_request *req,
                                         const char *zone, const struct sim_offer *o,
                                         const char *reservation, int index, double now)
{
    struct sim_instance *inst = calloc(1, sizeof *inst);
    if (!inst)
        return NULL;
    inst->cloud = req->cloud;
    draw_id(w, req->cloud, inst->id, sizeof inst->id);
    snprintf(inst->reservation, sizeof inst->reservation, "%s", reservation);
    uint64_t ip = sim_rand(w);
    snprintf(inst->private_ip, sizeof inst->private_ip, "10.%u.%u.%u", (unsigned)(ip & 0xff),
             (unsigned)((ip >> 8) & 0xff), (unsigned)((ip >> 16) % 254 + 1));
    inst->region = strdup(req->region);
    inst->zone = strdup(zone);
    inst->type = strdup(req->type);
    inst->image = strdup(req->image ? req->image : "ami-00000000000000000");
    inst->client_token = req->client_token ? strdup(req->client_token) : NULL;
    inst->user_data = req->user_data ? strdup(req->user_data) : NULL;
    inst->key_name = req->key_name ? strdup(req->key_name) : NULL;
    inst->name = req->name ? strdup(req->name) : NULL;
    inst->account = req->account ? strdup(req->account) : NULL;
    snprintf(inst->params_hash, sizeof inst->params_hash, "%s",
             req->params_hash ? req->params_hash : "");
    inst->launch_index = index;
    inst->spot = req->spot;
    inst->metadata_tags = req->metadata_tags;
    inst->vcpus = o->vcpus;
    inst->state = SIM_PENDING;
    inst->launch_time = now;
    double scale = w->conf.time_scale;
    inst->running_at = now + scale * uniform(w, w->conf.pending_min, w->conf.pending_max);
    /* The shutting-down length, drawn now so that later clock steps draw nothing. */
    inst->terminate_at = scale * uniform(w, w->conf.stopping_min, w->conf.stopping_max);
    if (req->spot && w->conf.spot_interruption_rate > 0 &&
        sim_rand01(w) < w->conf.spot_interruption_rate)
        inst->interrupt_at =
            inst->running_at + scale * uniform(w, 0, w->conf.spot_interruption_window);
    bool ok = inst->region && inst->zone && inst->type && inst->image &&
              (!req->name || inst->name) && (!req->account || inst->account) &&
              copy_tags(&inst->tags, &inst->ntags, req->tags, req->ntags) &&
              copy_tags(&inst->meta, &inst->nmeta, req->meta, req->nmeta);
    if (!ok) {
        sim_instance_free(inst);
        return NULL;
    }
    return inst;
}

/* The zone to launch in, or NULL with err filled. */
static const char *launch_zone(const struct sim_world *w, const struct sim_run_request *req,
                               const struct sim_region *reg, struct sim_error *err)
{
    const char *zone = req->zone;
    bool offered = false;
    if (!zone || !*zone) {
        zone = pick_zone(w, reg, req->type, &offered);
        if (!offered) {
            fail(err, SIM_ERR_NO_TYPE, 400, "InvalidParameterValue",
                 "Invalid value '%s' for InstanceType.", req->type);
            return NULL;
        }
        return zone;
    }
    bool in_region = false;
    for (size_t z = 0; z < reg->nzones; z++)
        in_region = in_region || !strcmp(reg->zones[z], zone);
    if (!in_region) {
        fail(err, SIM_ERR_BAD_ZONE, 400, "InvalidParameterValue", "Invalid availability zone: [%s]",
             zone);
        return NULL;
    }
    if (sim_world_offer(w, req->cloud, zone, req->type))
        return zone;
    pick_zone(w, reg, req->type, &offered);
    if (offered)
        fail(err, SIM_ERR_TYPE_NOT_IN_ZONE, 400, "Unsupported",
             "Your requested instance type (%s) is not supported in your requested "
             "Availability Zone (%s).",
             req->type, zone);
    else
        fail(err, SIM_ERR_NO_TYPE, 400, "InvalidParameterValue",
             "Invalid value '%s' for InstanceType.", req->type);
    return NULL;
}

/* Capacity and quotas: how many may launch (at least min_count), or -1 with err filled. */
static long room(const struct sim_world *w, const struct sim_run_request *req, const char *zone,
                 const struct sim_offer *o, struct sim_error *err)
{
    long cap = capacity_left(w, req->cloud, zone, req->type);
    if (cap < req->min_count) {
        fail(err, SIM_ERR_CAPACITY, 500, "InsufficientInstanceCapacity",
             "We currently do not have sufficient %s capacity in the Availability Zone you "
             "requested (%s). Our system will be working on provisioning additional capacity. "
             "You can currently get %s capacity by not specifying an Availability Zone in "
             "your request or choosing a different Availability Zone.",
             req->type, zone, req->type);
        return -1;
    }
    enum sim_err_kind qkind = SIM_ERR_NONE;
    long limit = 0;
    long qleft = quota_left(w, req->cloud, req->region, req->spot, o->vcpus, &qkind, &limit);
    if (qleft < req->min_count) {
        if (qkind == SIM_ERR_QUOTA_INSTANCES)
            fail(err, qkind, 400, "InstanceLimitExceeded",
                 "You have requested more instances (%ld) than your current instance limit "
                 "allows for the specified instance type.",
                 req->min_count);
        else if (req->spot)
            fail(err, qkind, 400, "MaxSpotInstanceCountExceeded",
                 "Max spot instance count exceeded");
        else
            fail(err, qkind, 400, "VcpuLimitExceeded",
                 "You have requested more vCPU capacity than your current vCPU limit allows "
                 "for the instance bucket that the specified instance type belongs to. Please "
                 "visit http://aws.amazon.com/contact-us/ec2-request to request an adjustment "
                 "to this limit.");
        err->limit = limit;
        return -1;
    }
    long n = req->max_count;
    if (cap < n)
        n = cap;
    if (qleft < n)
        n = qleft;
    return n;
}

int sim_world_run(struct sim_world *w, const struct sim_run_request *req, double now,
                  struct sim_instance **out, size_t *nout, struct sim_error *err)
{
    *nout = 0;
    memset(err, 0, sizeof *err);
    if (req->client_token && *req->client_token) {
        int found = find_by_token(w, req, out, nout, err);
        if (found != 0)
            return found < 0 ? -1 : 0;
    }
    if (req->min_count < 1 || req->max_count < req->min_count) {
        fail(err, SIM_ERR_INVALID, 400, "InvalidParameterValue",
             "Invalid value for MinCount/MaxCount: MinCount must be at least 1 and at most "
             "MaxCount");
        return -1;
    }
    const struct sim_region *reg = sim_world_region(w, req->cloud, req->region);
    if (!reg) {
        fail(err, SIM_ERR_NO_REGION, 401, "AuthFailure", "Region '%s' is not enabled in this world",
             req->region);
        return -1;
    }
    if (!req->type || !*req->type) {
        fail(err, SIM_ERR_INVALID, 400, "MissingParameter",
             "The request must contain the parameter InstanceType");
        return -1;
    }
    const char *zone = launch_zone(w, req, reg, err);
    if (!zone)
        return -1;
    if (req->name && sim_world_find_name(w, req->cloud, req->account, zone, req->name)) {
        fail(err, SIM_ERR_NAME_TAKEN, 409, "InvalidParameterValue",
             "An instance named '%s' already exists in %s", req->name, zone);
        return -1;
    }
    const struct sim_offer *o = sim_world_offer(w, req->cloud, zone, req->type);
    long n = room(w, req, zone, o, err);
    if (n < 0)
        return -1;
    if (req->name && n > 1)
        n = 1; /* a name is one instance */
    char reservation[24];
    snprintf(reservation, sizeof reservation, "r-0%016" PRIx64, sim_rand(w));
    if (w->ninstances + (size_t)n > w->cap) {
        size_t ncap = (w->cap ? w->cap * 2 : 64) + (size_t)n;
        struct sim_instance **p = realloc(w->instances, ncap * sizeof *p);
        if (!p) {
            fail(err, SIM_ERR_INTERNAL, 500, "InternalError", "An internal error has occurred");
            return -1;
        }
        w->instances = p;
        w->cap = ncap;
    }
    for (long i = 0; i < n; i++) {
        struct sim_instance *inst = new_instance(w, req, zone, o, reservation, (int)i, now);
        if (!inst) {
            fail(err, SIM_ERR_INTERNAL, 500, "InternalError", "An internal error has occurred");
            return *nout ? 0 : -1;
        }
        w->instances[w->ninstances++] = inst;
        out[(*nout)++] = inst;
        sim_agent_boot(w, inst, req);
    }
    return 0;
}

/* ---- operations ---- */

struct sim_operation *sim_world_start_op(struct sim_world *w, const struct sim_operation *op,
                                         double now)
{
    if (w->nops == w->opcap) {
        size_t ncap = w->opcap ? w->opcap * 2 : 32;
        struct sim_operation **p = realloc(w->ops, ncap * sizeof *p);
        if (!p)
            return NULL;
        w->ops = p;
        w->opcap = ncap;
    }
    struct sim_operation *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->cloud = op->cloud;
    draw_id(w, op->cloud == CORE_CLOUD_AZURE ? CORE_CLOUD_AZURE : CORE_CLOUD_GCP, o->id,
            sizeof o->id);
    uint64_t h = sim_rand(w);
    snprintf(o->name, sizeof o->name, "operation-%" PRIu64 "-%08" PRIx64 "-%08" PRIx64,
             (uint64_t)(now * 1000), h >> 32, (uint64_t)(h & 0xffffffffull));
    o->account = op->account ? strdup(op->account) : NULL;
    o->zone = op->zone ? strdup(op->zone) : NULL;
    o->kind = op->kind ? strdup(op->kind) : NULL;
    o->request_id = op->request_id ? strdup(op->request_id) : NULL;
    o->target_name = op->target_name ? strdup(op->target_name) : NULL;
    snprintf(o->target_id, sizeof o->target_id, "%s", op->target_id);
    o->started = now;
    o->done_at = op->done_at > now ? op->done_at : now;
    o->gone_at = o->done_at + w->conf.terminated_visible;
    o->error = op->error;
    if ((op->account && !o->account) || (op->zone && !o->zone) || (op->kind && !o->kind) ||
        (op->request_id && !o->request_id) || (op->target_name && !o->target_name)) {
        sim_operation_free(o);
        return NULL;
    }
    w->ops[w->nops++] = o;
    return o;
}

struct sim_operation *sim_world_find_op(const struct sim_world *w, enum core_cloud cloud,
                                        const char *account, const char *name)
{
    for (size_t i = 0; name && i < w->nops; i++)
        if (w->ops[i]->cloud == cloud && !strcmp(w->ops[i]->name, name) &&
            same(w->ops[i]->account, account))
            return w->ops[i];
    return NULL;
}

struct sim_operation *sim_world_find_op_request(const struct sim_world *w, enum core_cloud cloud,
                                                const char *account, const char *request_id)
{
    for (size_t i = 0; request_id && i < w->nops; i++)
        if (w->ops[i]->cloud == cloud && w->ops[i]->request_id &&
            !strcmp(w->ops[i]->request_id, request_id) && same(w->ops[i]->account, account))
            return w->ops[i];
    return NULL;
}

/* ---- other resources ---- */

void sim_resource_free(struct sim_resource *res)
{
    if (!res)
        return;
    free(res->kind);
    free(res->account);
    free(res->name);
    free(res->doc);
    free(res);
}

struct sim_resource *sim_world_find_resource(const struct sim_world *w, enum core_cloud cloud,
                                             const char *kind, const char *account,
                                             const char *name)
{
    for (size_t i = 0; name && i < w->nresources; i++) {
        struct sim_resource *r = w->resources[i];
        if (r->cloud == cloud && !strcmp(r->kind, kind) && !strcasecmp(r->name, name) &&
            same(r->account, account))
            return r;
    }
    return NULL;
}

struct sim_resource *sim_world_add_resource(struct sim_world *w, enum core_cloud cloud,
                                            const char *kind, const char *account, const char *name,
                                            char *doc)
{
    struct sim_resource *r = calloc(1, sizeof *r);
    if (w->nresources == w->rescap && r) {
        size_t ncap = w->rescap ? w->rescap * 2 : 16;
        struct sim_resource **p = realloc(w->resources, ncap * sizeof *p);
        if (!p) {
            free(r);
            r = NULL;
        } else {
            w->resources = p;
            w->rescap = ncap;
        }
    }
    if (!r) {
        free(doc);
        return NULL;
    }
    r->cloud = cloud;
    r->kind = strdup(kind);
    r->account = account ? strdup(account) : NULL;
    r->name = strdup(name);
    r->doc = doc;
    if (!r->kind || (account && !r->account) || !r->name) {
        sim_resource_free(r);
        return NULL;
    }
    w->resources[w->nresources++] = r;
    return r;
}

void sim_world_remove_resource(struct sim_world *w, struct sim_resource *res)
{
    for (size_t i = 0; res && i < w->nresources; i++)
        if (w->resources[i] == res) {
            memmove(&w->resources[i], &w->resources[i + 1],
                    (w->nresources - i - 1) * sizeof *w->resources);
            w->nresources--;
            sim_resource_free(res);
            return;
        }
}

/* ---- filters ---- */

static const char *state_name(enum sim_state s)
{
    switch (s) {
    case SIM_PENDING:
        return "pending";
    case SIM_RUNNING:
        return "running";
    case SIM_SHUTTING_DOWN:
        return "shutting-down";
    case SIM_TERMINATED:
        return "terminated";
    }
    return "pending";
}

static bool any_value(const struct sim_filter *f, const char *s)
{
    for (size_t i = 0; i < f->nvalues; i++)
        if (s && fnmatch(f->values[i], s, 0) == 0)
            return true;
    return false;
}

static bool tag_match(const struct sim_instance *inst, const struct sim_filter *f, const char *key,
                      int what)
{
    for (size_t t = 0; t < inst->ntags; t++) {
        const struct sim_tag *tag = &inst->tags[t];
        if (what == 0 && !strcmp(tag->key, key) && any_value(f, tag->value))
            return true;
        if (what == 1 && any_value(f, tag->key))
            return true;
        if (what == 2 && any_value(f, tag->value))
            return true;
    }
    return false;
}

bool sim_instance_matches(const struct sim_instance *inst, const struct sim_filter *f, size_t nf,
                          const char **unknown)
{
    char code[8];
    for (size_t i = 0; i < nf; i++) {
        const char *name = f[i].name;
        bool ok;
        if (!strncmp(name, "tag:", 4))
            ok = tag_match(inst, &f[i], name + 4, 0);
        else if (!strcmp(name, "tag-key"))
            ok = tag_match(inst, &f[i], NULL, 1);
        else if (!strcmp(name, "tag-value"))
            ok = tag_match(inst, &f[i], NULL, 2);
        else if (!strcmp(name, "instance-id"))
            ok = any_value(&f[i], inst->id);
        else if (!strcmp(name, "instance-state-name"))
            ok = any_value(&f[i], state_name(inst->state));
        else if (!strcmp(name, "instance-state-code")) {
            snprintf(code, sizeof code, "%d", (int)inst->state);
            ok = any_value(&f[i], code);
        } else if (!strcmp(name, "instance-type"))
            ok = any_value(&f[i], inst->type);
        else if (!strcmp(name, "availability-zone"))
            ok = any_value(&f[i], inst->zone);
        else if (!strcmp(name, "instance-lifecycle"))
            ok = inst->spot && any_value(&f[i], "spot");
        else if (!strcmp(name, "client-token"))
            ok = any_value(&f[i], inst->client_token);
        else if (!strcmp(name, "image-id"))
            ok = any_value(&f[i], inst->image);
        else if (!strcmp(name, "reservation-id"))
            ok = any_value(&f[i], inst->reservation);
        else if (!strcmp(name, "private-ip-address"))
            ok = any_value(&f[i], inst->private_ip);
        else {
            if (unknown)
                *unknown = name;
            return false;
        }
        if (!ok)
            return false;
    }
    return true;
}

/* ---- paging tokens ---- */

static uint64_t mix(uint64_t a, uint64_t b)
{
    uint64_t x = a ^ (b * 0x9e3779b97f4a7c15ull);
    return splitmix64(&x);
}

void sim_page_token(const struct sim_world *w, uint64_t query_hash, size_t index, char out[64])
{
    uint64_t mask = mix(w->page_secret, query_hash);
    uint64_t mac = mix(w->page_secret ^ 0x5a5a5a5a5a5a5a5aull, query_hash ^ (uint64_t)index);
    snprintf(out, 64, "%016" PRIx64 "%016" PRIx64, (uint64_t)index ^ mask, mac);
}

int sim_page_parse(const struct sim_world *w, uint64_t query_hash, const char *token, size_t *index)
{
    if (!token || strlen(token) != 32 || strspn(token, "0123456789abcdef") != 32)
        return -1;
    char a[17], b[17];
    memcpy(a, token, 16);
    a[16] = 0;
    memcpy(b, token + 16, 16);
    b[16] = 0;
    uint64_t idx = strtoull(a, NULL, 16) ^ mix(w->page_secret, query_hash);
    uint64_t mac = strtoull(b, NULL, 16);
    if (mac != mix(w->page_secret ^ 0x5a5a5a5a5a5a5a5aull, query_hash ^ idx) || idx > SIZE_MAX)
        return -1;
    *index = (size_t)idx;
    return 0;
}

char *sim_console_output(const struct sim_instance *inst)
{
    static const char *const dmi[CORE_CLOUD_COUNT] = {"Amazon EC2", "Google Google Compute Engine",
                                                      "Microsoft Corporation Virtual Machine"};
    char *s = NULL;
    if (asprintf(&s,
                 "[    0.000000] Linux version 6.1.0-cloudsim (gpuform cloudsim)\n"
                 "[    0.100000] DMI: %s %s, BIOS 1.0\n"
                 "cloud-init: instance %s%s%s%s in %s booted (%s)\n",
                 dmi[inst->cloud < CORE_CLOUD_COUNT ? inst->cloud : 0], inst->type,
                 inst->name ? inst->name : inst->id, inst->name ? " (id " : "",
                 inst->name ? inst->id : "", inst->name ? ")" : "", inst->zone,
                 state_name(inst->state)) < 0)
        return NULL;
    if (inst->agent_output && inst->state == SIM_RUNNING) {
        char *all = NULL;
        int n = asprintf(&all, "%s%s", s, inst->agent_output);
        free(s);
        s = n < 0 ? NULL : all;
    }
    return s;
}
