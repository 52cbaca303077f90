/*
 * Checks that need more than one section: defaults applied to workloads, counts that fit
 * the kind, clouds used but not declared, placements that contradict themselves, budgets
 * that match nothing, GPU memory ranges no listed model meets, hooks that don't exist.
 */
#include "parser/schema_int.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/gpu_models.h"

#define HOURS_PER_MONTH 730

static void err_at(struct dctx *c, const struct core_loc *loc, const char *code, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));
static void warn_at(struct dctx *c, const struct core_loc *loc, const char *code, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));

static void report(struct dctx *c, enum core_severity sev, const struct core_loc *loc,
                   const char *code, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

static void report(struct dctx *c, enum core_severity sev, const struct core_loc *loc,
                   const char *code, const char *fmt, va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    core_diag_add(c->diags, sev, code, loc && loc->line ? loc : &c->spec->loc, "%s", msg);
}

static void err_at(struct dctx *c, const struct core_loc *loc, const char *code, const char *fmt,
                   ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(c, CORE_SEV_ERROR, loc, code, fmt, ap);
    va_end(ap);
}

static void warn_at(struct dctx *c, const struct core_loc *loc, const char *code, const char *fmt,
                    ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(c, CORE_SEV_WARNING, loc, code, fmt, ap);
    va_end(ap);
}

static bool written(const struct core_loc *loc)
{
    return loc->line != 0;
}

static uint32_t declared_clouds(const struct spec *s)
{
    uint32_t mask = 0;
    for (size_t i = 0; i < s->nclouds; i++)
        mask |= 1u << s->clouds[i].id;
    return mask;
}

static int popcount(uint32_t m)
{
    int n = 0;
    for (; m; m &= m - 1)
        n++;
    return n;
}

/* True when an unknown key of the workload was already answered with "did you mean". */
static bool suggested(struct dctx *c, const struct spec_workload *w, const char *field)
{
    char ctx[128];
    snprintf(ctx, sizeof(ctx), "workload '%s'", w->name);
    return sch_was_suggested(c, ctx, field);
}

/* ---- counts and kinds ---- */

static void check_counts(struct dctx *c, struct spec_workload *w)
{
    const char *kind = spec_kind_name(w->kind);
    bool nodes = written(&w->nodes_loc), replicas = written(&w->replicas_loc);
    switch (w->kind) {
    case SPEC_KIND_TRAINING:
    case SPEC_KIND_BATCH:
        if (replicas)
            err_at(c, &w->replicas_loc, "wrong-count-key",
                   "'replicas' is for services; %s workload '%s' sets 'nodes'", kind, w->name);
        if (!written(&w->hours_loc) && !suggested(c, w, "hours"))
            err_at(c, &w->loc, "missing-key",
                   "%s workload '%s' needs 'hours', its expected run time, so that it can be "
                   "costed (e.g. hours: 72)",
                   kind, w->name);
        break;
    case SPEC_KIND_SERVICE:
        if (nodes)
            err_at(c, &w->nodes_loc, "wrong-count-key",
                   "'nodes' is for training and batch workloads; service '%s' sets 'replicas'",
                   w->name);
        break;
    case SPEC_KIND_FEDERATED:
        if (nodes || replicas)
            err_at(c, nodes ? &w->nodes_loc : &w->replicas_loc, "wrong-count-key",
                   "federated workload '%s' runs one node per site; remove '%s'", w->name,
                   nodes ? "nodes" : "replicas");
        if (!written(&w->sites_loc) && !suggested(c, w, "sites"))
            err_at(c, &w->loc, "missing-key",
                   "federated workload '%s' needs 'sites', each with a location", w->name);
        w->count = (int)w->nsites;
        break;
    case SPEC_KIND_INVALID:
        break;
    }
    if (w->kind != SPEC_KIND_FEDERATED && written(&w->sites_loc))
        err_at(c, &w->sites_loc, "invalid-value",
               "'sites' is only for federated workloads; '%s' is a %s workload", w->name, kind);
    if (w->kind != SPEC_KIND_FEDERATED && w->count < 1)
        w->count = 1; /* not written, or wrong and reported */
    if (w->kind == SPEC_KIND_SERVICE || w->kind == SPEC_KIND_FEDERATED) {
        if (!written(&w->hours_loc))
            w->hours = HOURS_PER_MONTH;
        else if (w->hours > 744)
            err_at(c, &w->hours_loc, "range",
                   "'hours' of %s workload '%s' is hours a month and can't exceed 744", kind,
                   w->name);
    }
}

/* ---- placement ---- */

static bool region_allowed(const struct spec_placement *p, const char *region)
{
    bool in = p->nregions_include == 0;
    for (size_t i = 0; i < p->nregions_include && !in; i++)
        in = fnmatch(p->regions_include[i], region, 0) == 0;
    for (size_t i = 0; i < p->nregions_exclude && in; i++)
        in = fnmatch(p->regions_exclude[i], region, 0) != 0;
    return in;
}

static const char *cloud_list(struct dctx *c, uint32_t mask)
{
    char buf[64] = "";
    for (int i = 0; i < CORE_CLOUD_COUNT; i++)
        if (mask & (1u << i)) {
            if (buf[0])
                strcat(buf, ", ");
            strcat(buf, core_cloud_name((enum core_cloud)i));
        }
    const char *s = core_arena_strdup(&c->spec->arena, buf);
    return s ? s : "";
}

static void check_placement(struct dctx *c, struct spec_workload *w)
{
    struct spec_placement *p = &w->placement;
    uint32_t declared = declared_clouds(c->spec);
    if (w->kind == SPEC_KIND_FEDERATED) {
        if (p->together || written(&p->spread_loc) || p->max_per_region || p->clouds ||
            p->nregions_include || p->nregions_exclude)
            err_at(c, &p->loc, "placement-conflict",
                   "federated workload '%s' takes no 'placement': each site pins its node",
                   w->name);
        return;
    }
    uint32_t allowed = p->clouds ? (p->clouds & declared) : declared;

    /* Regions left after the filters, over the allowed clouds' declared regions. */
    size_t candidates = 0, declared_regions = 0;
    for (size_t i = 0; i < c->spec->nclouds; i++) {
        const struct spec_cloud *cl = &c->spec->clouds[i];
        if (!(allowed & (1u << cl->id)))
            continue;
        declared_regions += cl->nregions;
        for (size_t r = 0; r < cl->nregions; r++)
            candidates += region_allowed(p, cl->regions[r]);
    }
    /* A cloud without valid regions is reported at the cloud, not once per workload. */
    for (size_t k = 0; k < p->nregions_include && candidates; k++) {
        bool any = false;
        for (size_t i = 0; i < c->spec->nclouds && !any; i++)
            for (size_t r = 0; r < c->spec->clouds[i].nregions && !any; r++)
                any = (allowed & (1u << c->spec->clouds[i].id)) &&
                      fnmatch(p->regions_include[k], c->spec->clouds[i].regions[r], 0) == 0;
        if (!any)
            warn_at(c, &p->loc, "pattern-matches-nothing",
                    "region pattern '%s' of workload '%s' matches none of its clouds' declared "
                    "regions",
                    p->regions_include[k], w->name);
    }
    if (allowed && declared_regions && candidates == 0)
        err_at(c, &p->loc, "no-region",
               "workload '%s' has no region left: its region filters exclude every declared "
               "region of %s",
               w->name, cloud_list(c, allowed));

    int nclouds = popcount(allowed);
    if (p->spread_clouds > nclouds && allowed)
        err_at(c, &p->spread_loc, "placement-conflict",
               "'spread' of workload '%s' needs %d clouds, but it may use only %d (%s)", w->name,
               p->spread_clouds, nclouds, cloud_list(c, allowed));
    if (p->spread_clouds > w->count)
        err_at(c, &p->spread_loc, "placement-conflict",
               "'spread' of workload '%s' needs %d clouds, but it has only %d node%s", w->name,
               p->spread_clouds, w->count, w->count == 1 ? "" : "s");
    if (p->together != SPEC_TOGETHER_NONE && p->spread_clouds >= 2) {
        struct core_diag *g = core_diag_add(
            c->diags, CORE_SEV_ERROR, "placement-conflict", &p->together_loc,
            "'together: %s' keeps every node of workload '%s' in one %s, but 'spread' needs %d "
            "clouds",
            p->together == SPEC_TOGETHER_ZONE ? "zone" : "region", w->name,
            p->together == SPEC_TOGETHER_ZONE ? "zone" : "region", p->spread_clouds);
        core_diag_note(g, &p->spread_loc, "'spread' is set here");
    }
    if (p->together != SPEC_TOGETHER_NONE && p->max_per_region && p->max_per_region < w->count) {
        struct core_diag *g =
            core_diag_add(c->diags, CORE_SEV_ERROR, "placement-conflict", &p->together_loc,
                          "'together: %s' puts all %d nodes of workload '%s' in one region, but "
                          "'max_per_region' allows %d",
                          p->together == SPEC_TOGETHER_ZONE ? "zone" : "region", w->count, w->name,
                          p->max_per_region);
        core_diag_note(g, &p->max_per_region_loc, "'max_per_region' is set here");
    } else if (p->max_per_region && candidates &&
               (size_t)p->max_per_region * candidates < (size_t)w->count) {
        err_at(c, &p->max_per_region_loc, "placement-conflict",
               "workload '%s' has %d nodes but at most %d per region over %zu usable region%s "
               "fit only %zu",
               w->name, w->count, p->max_per_region, candidates, candidates == 1 ? "" : "s",
               (size_t)p->max_per_region * candidates);
    }
}

static void check_sites(struct dctx *c, const struct spec_workload *w)
{
    uint32_t declared = declared_clouds(c->spec);
    for (size_t i = 0; i < w->nsites; i++) {
        const struct spec_site *s = &w->sites[i];
        if (s->location.region && !(declared & (1u << s->location.cloud)))
            err_at(c, &s->location.loc, "undeclared-cloud",
                   "site '%s' of workload '%s' is in cloud '%s', which the stack does not "
                   "declare under 'clouds:'",
                   s->name, w->name, core_cloud_name(s->location.cloud));
    }
}

/* A verified node on AWS is launched with its tags in instance metadata (its watcher reads
 * re-verification requests there), and EC2 then refuses tag keys with '/' and the keys ".",
 * ".." and "_index" (docs/verify.md, "The watcher"): the AWS provider refuses such a create
 * before sending it. Said here, at the label, so that a pull request's plan shows it. */
static void check_verify_labels(struct dctx *c, const struct spec_workload *w)
{
    uint32_t aws = 1u << CORE_CLOUD_AWS;
    bool on_aws = w->placement.clouds ? (w->placement.clouds & aws) != 0
                                      : spec_cloud_find(c->spec, CORE_CLOUD_AWS) != NULL;
    if (w->verify == SPEC_VERIFY_NONE || !on_aws)
        return;
    for (size_t i = 0; i < w->nlabels; i++) {
        const char *k = w->labels[i].key;
        if (strchr(k, '/') || !strcmp(k, ".") || !strcmp(k, "..") || !strcmp(k, "_index"))
            warn_at(c, &w->labels[i].loc, "label-not-in-ec2-metadata",
                    "label '%s' of workload '%s' can't be a tag of a verified node on AWS (with "
                    "its tags in instance metadata, EC2 takes no '/' and not '.', '..' or "
                    "'_index'): apply refuses to create its nodes there; rename the label, or set "
                    "'verify: none'",
                    k, w->name);
    }
}

static void check_gpu_memory(struct dctx *c, const struct spec_workload *w)
{
    const struct spec_gpu *g = &w->gpu;
    if ((!g->memory_min && !g->memory_max) || g->nnames == 0)
        return;
    char have[512] = "";
    for (size_t i = 0; i < g->nnames; i++) {
        const struct core_gpu_model *m = core_gpu_model_find(g->names[i]);
        if (!m)
            continue;
        uint64_t bytes = (uint64_t)m->memory_gb * 1000000000ull;
        if (bytes >= g->memory_min && (!g->memory_max || bytes <= g->memory_max))
            return;
        size_t len = strlen(have);
        snprintf(have + len, sizeof(have) - len, "%s%s has %uGB", len ? ", " : "", m->name,
                 m->memory_gb);
    }
    err_at(c, &g->memory_loc, "gpu-memory",
           "no GPU model that workload '%s' allows has the memory it asks for (%s)", w->name, have);
}

/* ---- budgets, clouds, hooks ---- */

static void check_budgets(struct dctx *c)
{
    for (size_t i = 0; i < c->spec->nbudgets; i++) {
        struct spec_budget *b = &c->spec->budgets[i];
        b->has_hourly = written(&b->hourly_loc);
        b->has_monthly = written(&b->monthly_loc);
        if (!b->has_hourly && !b->has_monthly)
            err_at(c, &b->loc, "missing-key", "budget '%s' sets neither 'hourly' nor 'monthly'",
                   b->name);
        bool any = false;
        for (size_t j = 0; j < c->spec->nworkloads && !any; j++)
            any = spec_budget_matches(b, &c->spec->workloads[j]);
        if (!any && c->spec->nworkloads)
            warn_at(c, &b->loc, "budget-matches-nothing",
                    "budget '%s' matches no workload: no workload has the labels it selects",
                    b->name);
    }
}

static void check_clouds(struct dctx *c)
{
    for (size_t i = 0; i < c->spec->nclouds; i++) {
        const struct spec_cloud *cl = &c->spec->clouds[i];
        for (size_t q = 0; q < cl->nquotas; q++) {
            const struct spec_quota *qu = &cl->quotas[q];
            bool listed = strcmp(qu->region, "*") == 0;
            for (size_t r = 0; r < cl->nregions && !listed; r++)
                listed = strcmp(cl->regions[r], qu->region) == 0;
            if (!listed)
                warn_at(c, &qu->loc, "quota-unused",
                        "quota for '%s' has no effect: cloud '%s' does not list that region",
                        qu->region, cl->name);
        }
    }
}

/* The state block: each backend's own fields, required ones present, no other backend's. */
static void check_state(struct dctx *c)
{
    struct spec *s = c->spec;
    const struct core_loc *at = written(&s->state_backend_loc) ? &s->state_backend_loc : &s->loc;
    static const char *const names[] = {"file", "etcd", "s3"};
    const char *name = names[s->state_backend];
    struct {
        const char *field;
        bool set;
        enum spec_backend owner;
    } fields[] = {
        {"path", s->state_path != NULL, SPEC_BACKEND_FILE},
        {"endpoints", s->nstate_endpoints > 0, SPEC_BACKEND_ETCD},
        {"prefix", s->state_prefix != NULL, SPEC_BACKEND_ETCD},
        {"bucket", s->state_bucket != NULL, SPEC_BACKEND_S3},
        {"key", s->state_key != NULL, SPEC_BACKEND_S3},
        {"region", s->state_region != NULL, SPEC_BACKEND_S3},
        {"endpoint", s->state_endpoint != NULL, SPEC_BACKEND_S3},
    };
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        if (fields[i].set && fields[i].owner != s->state_backend)
            err_at(c, at, "state-field",
                   "state.%s belongs to the %s backend, not '%s'; remove it or set 'backend: %s'",
                   fields[i].field, names[fields[i].owner], name, names[fields[i].owner]);
    if (s->state_backend == SPEC_BACKEND_ETCD && s->nstate_endpoints == 0)
        err_at(c, at, "state-field",
               "the etcd backend needs 'endpoints', e.g. [\"https://etcd.internal:2379\"]");
    if (s->state_backend == SPEC_BACKEND_S3 && (!s->state_bucket || !s->state_key))
        err_at(c, at, "state-field", "the s3 backend needs 'bucket' and 'key'");
    if (s->state_backend == SPEC_BACKEND_FILE && s->state_lock_ttl > 0)
        err_at(c, at, "state-field", "state.lock_ttl is for the etcd and s3 backends");
    if (s->state_backend == SPEC_BACKEND_FILE) {
        const char *p = s->state_path ? s->state_path : ".gpuform/state.json";
        s->state_file = spec_path_join(&s->arena, s->dir, p);
        const char *slash = s->state_file ? strrchr(s->state_file, '/') : NULL;
        size_t n = slash ? (size_t)(slash - s->state_file) : 0;
        char *d = core_arena_alloc(&s->arena, n + 2);
        if (d) {
            if (slash)
                memcpy(d, s->state_file, n ? n : 1), d[n ? n : 1] = '\0';
            else
                strcpy(d, ".");
        }
        s->state_dir = d;
    } else {
        s->state_dir = spec_path_join(&s->arena, s->dir, ".gpuform");
        if (!s->state_prefix)
            s->state_prefix = "gpuform/";
    }
}

static void check_hooks(struct dctx *c)
{
    for (size_t i = 0; i < c->spec->nhooks; i++) {
        const struct spec_hook *h = &c->spec->hooks[i];
        if (h->resolved && access(h->resolved, R_OK) != 0) {
            if (strcmp(h->path, h->resolved) == 0)
                err_at(c, &h->loc, "hook-missing", "hook file '%s' does not exist", h->path);
            else
                err_at(c, &h->loc, "hook-missing",
                       "hook file '%s' does not exist (looked for '%s')", h->path, h->resolved);
        }
    }
}

static void check_variables(struct dctx *c)
{
    if (c->reference_failed)
        return; /* the broken reference probably meant one of them */
    for (size_t i = 0; i < c->spec->nvariables; i++) {
        const struct spec_variable *v = &c->spec->variables[i];
        if (!v->used && v->value)
            warn_at(c, &v->loc, "unused-variable", "variable '%s' is declared but never used",
                    v->name);
    }
}

void spec_check(struct dctx *c)
{
    struct spec *s = c->spec;
    if (s->nworkloads == 0 && c->diags->errors == 0)
        warn_at(c, &s->loc, "no-workloads", "the stack defines no workloads");
    for (size_t i = 0; i < s->nworkloads; i++) {
        struct spec_workload *w = &s->workloads[i];
        if (!written(&w->spot_loc))
            w->spot = s->default_spot;
        if (!written(&w->verify_loc))
            w->verify = s->default_verify;
        w->has_data = written(&w->data_loc);
        if (w->kind == SPEC_KIND_INVALID)
            continue; /* reported; the other checks depend on the kind */
        check_counts(c, w);
        check_placement(c, w);
        check_sites(c, w);
        check_gpu_memory(c, w);
        check_verify_labels(c, w);
    }
    check_clouds(c);
    check_budgets(c);
    check_hooks(c);
    check_variables(c);
    check_state(c);
}

/* ---- public helpers ---- */

bool spec_budget_matches(const struct spec_budget *b, const struct spec_workload *w)
{
    for (size_t i = 0; i < b->nmatch; i++) {
        const struct spec_match *m = &b->match[i];
        const char *have = NULL;
        for (size_t j = 0; j < w->nlabels; j++)
            if (strcmp(w->labels[j].key, m->key) == 0)
                have = w->labels[j].value;
        bool ok = false;
        for (size_t k = 0; have && k < m->nvalues && !ok; k++)
            ok = strcmp(have, m->values[k]) == 0;
        if (!ok)
            return false;
    }
    return true;
}

const struct spec_cloud *spec_cloud_find(const struct spec *spec, enum core_cloud id)
{
    for (size_t i = 0; i < spec->nclouds; i++)
        if (spec->clouds[i].id == id)
            return &spec->clouds[i];
    return NULL;
}

const char *spec_kind_name(enum spec_kind kind)
{
    static const char *const names[] = {"training", "service", "batch", "federated"};
    return (unsigned)kind < 4 ? names[kind] : "invalid";
}

const char *spec_spot_name(enum spec_spot spot)
{
    static const char *const names[] = {"never", "auto", "always"};
    return (unsigned)spot < 3 ? names[spot] : "?";
}

const char *spec_verify_name(enum spec_verify verify)
{
    static const char *const names[] = {"none", "quick", "full"};
    return (unsigned)verify < 3 ? names[verify] : "?";
}
