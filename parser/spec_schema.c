/*
 * The spec language v1, as tables: every key a stack may hold, its type, whether it is
 * required, and one line of documentation. Values that are more than a scalar (GPU
 * requests, memory ranges, sizes, locations, clouds) have custom decoders here too.
 */
#include "parser/schema_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/gpu_models.h"
#include "core/suggest.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define INTERP       "^\\\\$\\\\{var\\\\.[A-Za-z_][A-Za-z0-9_]*\\\\}$"

/* ---- names ---- */

/* Lowercase letters, digits and dashes, starting with a letter: safe as a tag and label. */
static bool valid_name(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max || !islower((unsigned char)s[0]) || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '-')
            return false;
    return true;
}

static int check_name(struct dctx *c, const struct spec_node *key, const char *what, size_t max)
{
    if (valid_name(key->u.str.s, max))
        return 0;
    sch_error(c, key, "invalid-name",
              "%s name '%s' must be 1 to %zu lowercase letters, digits and dashes, starting "
              "with a letter and not ending with a dash",
              what, key->u.str.s, max);
    return -1;
}

static int check_workload_key(struct dctx *c, const struct spec_node *key, const char *ctx)
{
    (void)ctx;
    return check_name(c, key, "workload", 40);
}

static int check_site_key(struct dctx *c, const struct spec_node *key, const char *ctx)
{
    (void)ctx;
    return check_name(c, key, "site", 40);
}

static int check_budget_key(struct dctx *c, const struct spec_node *key, const char *ctx)
{
    (void)ctx;
    return check_name(c, key, "budget", 63);
}

static int check_label_key(struct dctx *c, const struct spec_node *key, const char *ctx)
{
    const char *s = key->u.str.s;
    size_t n = strlen(s);
    bool ok = n > 0 && n <= 63;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)s[i]) || strchr("-_./", s[i]);
    if (ok)
        return 0;
    sch_error(c, key, "invalid-name",
              "label key '%s' in %s must be 1 to 63 letters, digits, '-', '_', '.' or '/'", s,
              ctx ? ctx : "the stack");
    return -1;
}

static int check_env_key(struct dctx *c, const struct spec_node *key, const char *ctx)
{
    const char *s = key->u.str.s;
    bool ok = s[0] && !isdigit((unsigned char)s[0]);
    for (size_t i = 0; ok && s[i]; i++)
        ok = isalnum((unsigned char)s[i]) || s[i] == '_';
    if (ok)
        return 0;
    sch_error(c, key, "invalid-name",
              "environment variable name '%s' in %s must be letters, digits and '_'", s,
              ctx ? ctx : "the stack");
    return -1;
}

/* ---- scalar types ---- */

static const struct sch_type t_string = {.kind = SCH_STRING, .what = "a string"};
static const struct sch_type t_count = {
    .kind = SCH_INT, .what = "an integer", .min = 1, .max = 100000};
static int dec_version(struct dctx *c, const struct spec_node *n, void *dst,
                       const struct sch_field *f, const char *ctx)
{
    bool quoted;
    long long v;
    const char *s = sch_scalar(c, n, f, ctx, &quoted);
    if (!s)
        return -1;
    if (quoted || spec_parse_int(s, &v) < 0 || v != 1) {
        sch_error(c, n, "version",
                  "spec version '%s' is not supported: this gpuform reads 'version: 1'", s);
        return -1;
    }
    *(int *)dst = 1;
    return 0;
}

static const struct sch_type t_version = {
    .kind = SCH_CUSTOM, .what = "a version", .decode = dec_version, .json = "{\"const\":1}"};
static const struct sch_type t_money = {
    .kind = SCH_NUMBER, .what = "a number (USD)", .min = 0, .max = 1e12};
static const char *const kinds[] = {"training", "service", "batch", "federated", NULL};
static const char *const spots[] = {"never", "auto", "always", NULL};
static const char *const verifies[] = {"none", "quick", "full", NULL};
static const char *const togethers[] = {"none", "region", "zone", NULL};
static const char *const backends[] = {"file", "etcd", "s3", NULL};
static const struct sch_type t_kind = {.kind = SCH_ENUM, .what = "a workload kind", .enums = kinds};
static const struct sch_type t_spot = {.kind = SCH_ENUM, .what = "a spot policy", .enums = spots};
static const struct sch_type t_verify = {
    .kind = SCH_ENUM, .what = "a verify level", .enums = verifies};
static const struct sch_type t_together = {
    .kind = SCH_ENUM, .what = "a placement scope", .enums = togethers};
static const struct sch_type t_backend = {
    .kind = SCH_ENUM, .what = "a state backend", .enums = backends};

/* ---- sizes, hours, memory ranges ---- */

static int dec_size(struct dctx *c, const struct spec_node *n, void *dst, const struct sch_field *f,
                    const char *ctx)
{
    bool quoted;
    const char *s = sch_scalar(c, n, f, ctx, &quoted);
    if (!s)
        return -1;
    const char *why;
    if (spec_parse_size(s, dst, &why) < 0) {
        sch_error(c, n, "invalid-value", "%s: '%s' is not a size; %s", sch_where(c, f->name, ctx),
                  s, why);
        return -1;
    }
    return 0;
}

static const struct sch_type t_size = {
    .kind = SCH_CUSTOM,
    .what = "a size",
    .decode = dec_size,
    .json =
        "{\"type\":\"string\",\"pattern\":\"^[0-9]+(\\\\.[0-9]+)? ?([KkMmGgTtPp][Ii]?[Bb]|[Bb])$\","
        "\"examples\":[\"500GB\",\"2TB\",\"80GiB\"]}",
};

static int dec_hours(struct dctx *c, const struct spec_node *n, void *dst,
                     const struct sch_field *f, const char *ctx)
{
    bool quoted;
    const char *s = sch_scalar(c, n, f, ctx, &quoted);
    if (!s)
        return -1;
    const char *why;
    double h;
    if (spec_parse_hours(s, &h, &why) < 0) {
        sch_error(c, n, "invalid-value", "%s: '%s' is not a duration; %s",
                  sch_where(c, f->name, ctx), s, why);
        return -1;
    }
    if (!(h > 0) || h > 87600) {
        sch_error(c, n, "range", "%s must be more than 0 and at most 87600 hours (10 years)",
                  sch_where(c, f->name, ctx));
        return -1;
    }
    *(double *)dst = h;
    return 0;
}

static const struct sch_type t_hours = {
    .kind = SCH_CUSTOM,
    .what = "hours",
    .decode = dec_hours,
    .json =
        "{\"anyOf\":[{\"type\":\"number\",\"exclusiveMinimum\":0},{\"type\":\"string\","
        "\"pattern\":\"^([0-9]+(\\\\.[0-9]+)? ?[wdhms] ?)+$\"},{\"type\":\"string\",\"pattern\":"
        "\"" INTERP "\"}],\"examples\":[72,\"72h\",\"1h30m\",\"3d\"]}",
};

/* "24GB..", "..80GB", "40GB..80GB" or "24GB" (exactly). */
static int dec_memory(struct dctx *c, const struct spec_node *n, struct spec_gpu *g,
                      const char *ctx)
{
    static const struct sch_field mf = {.name = "memory"};
    bool quoted;
    const char *s = sch_scalar(c, n, &mf, ctx, &quoted);
    if (!s)
        return -1;
    g->memory_loc = n->loc;
    const char *dots = strstr(s, "..");
    char lo[64] = "", hi[64] = "";
    if (dots) {
        size_t l = (size_t)(dots - s);
        if (l >= sizeof(lo) || strlen(dots + 2) >= sizeof(hi))
            goto bad;
        memcpy(lo, s, l);
        lo[l] = '\0';
        strcpy(hi, dots + 2);
    } else {
        if (strlen(s) >= sizeof(lo))
            goto bad;
        strcpy(lo, s);
        strcpy(hi, s);
    }
    const char *why;
    if ((!lo[0] && !hi[0]) || (lo[0] && spec_parse_size(lo, &g->memory_min, &why) < 0) ||
        (hi[0] && spec_parse_size(hi, &g->memory_max, &why) < 0))
        goto bad;
    if (g->memory_max && g->memory_min > g->memory_max) {
        g->memory_min = g->memory_max = 0;
        sch_error(c, n, "range",
                  "GPU memory range '%s' in %s is empty: its low end is above its "
                  "high end",
                  s, ctx);
        return -1;
    }
    return 0;
bad:
    g->memory_min = g->memory_max = 0;
    sch_error(c, n, "invalid-value",
              "GPU memory '%s' in %s is not a range; write 24GB.. (at least), ..80GB (at most), "
              "40GB..80GB or 80GB (exactly)",
              s, ctx);
    return -1;
}

/* ---- GPU requests ---- */

static const char *const *model_names(struct dctx *c, size_t *count)
{
    size_t n;
    const struct core_gpu_model *m = core_gpu_models(&n);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total++;
        for (const char *const *a = m[i].aliases; *a; a++)
            total++;
    }
    const char **names = core_arena_alloc(&c->spec->arena, total * sizeof(*names));
    if (!names)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        names[k++] = m[i].name;
        for (const char *const *a = m[i].aliases; *a; a++)
            names[k++] = *a;
    }
    *count = k;
    return names;
}

/* Canonical model name for `name`, or NULL after reporting. */
static const char *gpu_name(struct dctx *c, const struct spec_node *n, const char *name,
                            const char *ctx)
{
    const struct core_gpu_model *m = core_gpu_model_find(name);
    if (m)
        return m->name;
    size_t count = 0;
    const char *const *names = model_names(c, &count);
    const char *hint = names ? core_suggest(name, names, count) : NULL;
    if (hint)
        sch_error(c, n, "unknown-gpu", "unknown GPU '%s' in %s (did you mean '%s'?)", name, ctx,
                  hint);
    else
        sch_error(c, n, "unknown-gpu",
                  "unknown GPU '%s' in %s; 'gpuform gpus' lists the models gpuform knows", name,
                  ctx);
    return NULL;
}

static int gpu_names_add(struct dctx *c, struct spec_gpu *g, const struct spec_node *n,
                         const char *ctx)
{
    const struct sch_field nf = {.name = "name"};
    const struct spec_node *const *items = (const struct spec_node *const *)&n;
    size_t count = 1;
    if (n->kind == SPEC_NODE_SEQ) {
        items = (const struct spec_node *const *)n->u.seq.items;
        count = n->u.seq.n;
        if (count == 0) {
            sch_error(c, n, "invalid-value", "'name' in %s lists no GPU model", ctx);
            return -1;
        }
    }
    g->names = core_arena_alloc(&c->spec->arena, count * sizeof(*g->names));
    if (!g->names)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < count; i++) {
        bool quoted;
        const char *s = sch_scalar(c, items[i], &nf, ctx, &quoted);
        const char *canon = s ? gpu_name(c, items[i], s, ctx) : NULL;
        if (!canon) {
            rc = -1;
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < g->nnames; j++)
            dup |= strcmp(g->names[j], canon) == 0;
        if (!dup)
            g->names[g->nnames++] = canon;
    }
    return rc;
}

static const char *const gpu_keys[] = {"name", "count", "memory"};

static int dec_gpu_map(struct dctx *c, const struct spec_node *n, struct spec_gpu *g,
                       const char *ctx)
{
    int rc = 0;
    for (size_t i = 0; i < n->u.map.n; i++) {
        const struct spec_pair *p = &n->u.map.items[i];
        const char *k = p->key->u.str.s;
        if (strcmp(k, "name") && strcmp(k, "count") && strcmp(k, "memory")) {
            const char *hint = core_suggest(k, gpu_keys, ARRAY_LEN(gpu_keys));
            sch_error(c, p->key, "unknown-key", "unknown key '%s' in 'gpu' of %s%s%s%s", k, ctx,
                      hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
            rc = -1;
        }
    }
    const struct spec_node *name = spec_node_get(n, "name");
    const struct spec_node *count = spec_node_get(n, "count");
    const struct spec_node *mem = spec_node_get(n, "memory");
    if (!name || spec_node_is_null(name)) {
        sch_error(c, n, "missing-key", "'gpu' of %s needs 'name' (a GPU model or a list of them)",
                  ctx);
        rc = -1;
    } else if (gpu_names_add(c, g, name, ctx) < 0) {
        rc = -1;
    }
    g->count = 1;
    if (count && !spec_node_is_null(count)) {
        static const struct sch_type t_gpus = {
            .kind = SCH_INT, .what = "an integer", .min = 1, .max = 64};
        static const struct sch_field cf = {.name = "count", .type = &t_gpus};
        char gctx[CTX_MAX];
        sch_ctx(gctx, "'gpu' of ", ctx, NULL, NULL);
        if (sch_decode(c, count, &t_gpus, &g->count, &cf, gctx) < 0)
            rc = -1;
    }
    if (mem && !spec_node_is_null(mem) && dec_memory(c, mem, g, ctx) < 0)
        rc = -1;
    return rc;
}

/* "H100:8", "H100" (one GPU) or {name, count, memory}. */
static int dec_gpu(struct dctx *c, const struct spec_node *n, void *dst, const struct sch_field *f,
                   const char *ctx)
{
    struct spec_gpu *g = dst;
    g->loc = n->loc;
    if (n->kind == SPEC_NODE_MAP)
        return dec_gpu_map(c, n, g, ctx);
    bool quoted;
    const char *s = sch_scalar(c, n, f, ctx, &quoted);
    if (!s)
        return -1;
    const char *colon = strrchr(s, ':');
    char *name = core_arena_strndup(&c->spec->arena, s, colon ? (size_t)(colon - s) : strlen(s));
    if (!name)
        return -1;
    g->count = 1;
    if (colon) {
        long long v;
        if (spec_parse_int(colon + 1, &v) < 0 || v < 1 || v > 64) {
            sch_error(c, n, "invalid-value",
                      "'gpu' in %s: '%s' is not NAME:COUNT with a count from 1 to 64, e.g. H100:8",
                      ctx, s);
            return -1;
        }
        g->count = (int)v;
    }
    const char *canon = gpu_name(c, n, name, ctx);
    if (!canon)
        return -1;
    g->names = core_arena_alloc(&c->spec->arena, sizeof(*g->names));
    if (!g->names)
        return -1;
    g->names[0] = canon;
    g->nnames = 1;
    return 0;
}

static const struct sch_type t_gpu = {
    .kind = SCH_CUSTOM,
    .what = "a GPU request",
    .decode = dec_gpu,
    .json = "{\"anyOf\":[{\"type\":\"string\",\"pattern\":\"^[A-Za-z0-9][A-Za-z0-9 ._-]*(:[0-9]+)?"
            "$\",\"examples\":[\"H100:8\",\"A100-80GB:4\",\"L4\"]},{\"type\":\"object\","
            "\"additionalProperties\":false,\"required\":[\"name\"],\"properties\":{\"name\":"
            "{\"description\":\"GPU model, or a list of acceptable models\",\"anyOf\":[{\"type\":"
            "\"string\"},{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"minItems\":1}]},"
            "\"count\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":64,\"description\":\"GPUs "
            "per node\"},\"memory\":{\"type\":\"string\",\"description\":\"memory per GPU: "
            "24GB.., ..80GB, 40GB..80GB\",\"pattern\":\"^([0-9.]+ ?[A-Za-z]+)?(\\\\.\\\\.)?([0-9.]+"
            " ?[A-Za-z]+)?$\"}}}]}",
};

/* ---- locations ---- */

static int region_error(struct dctx *c, const struct spec_node *n, enum core_cloud cloud,
                        const char *region, const char *ctx)
{
    for (int other = 0; other < CORE_CLOUD_COUNT; other++)
        if (other != (int)cloud && core_region_known((enum core_cloud)other, region)) {
            sch_error(c, n, "unknown-region", "'%s' is a region of cloud '%s', not of '%s'%s%s",
                      region, core_cloud_name((enum core_cloud)other), core_cloud_name(cloud),
                      ctx ? " in " : "", ctx ? ctx : "");
            return -1;
        }
    size_t count;
    const char *const *regions = core_cloud_regions(cloud, &count);
    const char *hint = core_suggest(region, regions, count);
    char where[512] = "", mean[128] = "";
    if (ctx)
        snprintf(where, sizeof(where), " (in %s)", ctx);
    if (hint)
        snprintf(mean, sizeof(mean), "; did you mean '%s'?", hint);
    sch_error(c, n, "unknown-region", "'%s' is not a region of cloud '%s'%s%s", region,
              core_cloud_name(cloud), where, mean);
    return -1;
}

int spec_check_region(struct dctx *c, const struct spec_node *n, enum core_cloud cloud,
                      const char *region, const char *ctx)
{
    return core_region_known(cloud, region) ? 0 : region_error(c, n, cloud, region, ctx);
}

static int cloud_error(struct dctx *c, const struct spec_node *n, const char *name, const char *ctx)
{
    static const char *const clouds[] = {"aws", "gcp", "azure"};
    const char *hint = core_suggest(name, clouds, ARRAY_LEN(clouds));
    sch_error(c, n, "unknown-cloud",
              "unknown cloud '%s' in %s; gpuform knows aws, gcp and azure%s%s%s", name, ctx,
              hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
    return -1;
}

/* "aws/us-east-1" */
static int dec_location(struct dctx *c, const struct spec_node *n, void *dst,
                        const struct sch_field *f, const char *ctx)
{
    struct spec_location *l = dst;
    bool quoted;
    const char *s = sch_scalar(c, n, f, ctx, &quoted);
    if (!s)
        return -1;
    l->loc = n->loc;
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || !slash[1] || strchr(slash + 1, '/')) {
        sch_error(c, n, "invalid-value", "%s: '%s' is not CLOUD/REGION, e.g. aws/us-east-1",
                  sch_where(c, f->name, ctx), s);
        return -1;
    }
    char *cloud = core_arena_strndup(&c->spec->arena, s, (size_t)(slash - s));
    if (!cloud)
        return -1;
    int id = core_cloud_from_name(cloud);
    if (id < 0)
        return cloud_error(c, n, cloud, ctx);
    l->cloud = (enum core_cloud)id;
    l->region = slash + 1;
    return spec_check_region(c, n, l->cloud, l->region, ctx);
}

static const struct sch_type t_location = {
    .kind = SCH_CUSTOM,
    .what = "a location",
    .decode = dec_location,
    .json = "{\"type\":\"string\",\"pattern\":\"^(aws|gcp|azure)/[a-z0-9-]+$\",\"examples\":"
            "[\"aws/us-east-1\",\"gcp/europe-west4\"]}",
};

/* ---- clouds ---- */

static int dec_cloud_list(struct dctx *c, const struct spec_node *n, void *dst,
                          const struct sch_field *f, const char *ctx)
{
    struct spec_placement *p = (struct spec_placement *)((char *)dst - f->offset);
    if (n->kind != SPEC_NODE_SEQ) {
        sch_error(c, n, "type", "%s must be a list of clouds, e.g. [aws, gcp]",
                  sch_where(c, f->name, ctx));
        return -1;
    }
    int rc = 0;
    p->clouds_loc = n->loc;
    for (size_t i = 0; i < n->u.seq.n; i++) {
        bool quoted;
        const char *s = sch_scalar(c, n->u.seq.items[i], f, ctx, &quoted);
        if (!s) {
            rc = -1;
            continue;
        }
        int id = core_cloud_from_name(s);
        if (id < 0) {
            rc = cloud_error(c, n->u.seq.items[i], s, ctx);
            continue;
        }
        /* 'clouds' is decoded before 'workloads' (table order), so this can be checked here,
         * where the item's own position is known. */
        if (!spec_cloud_find(c->spec, (enum core_cloud)id)) {
            sch_error(c, n->u.seq.items[i], "undeclared-cloud",
                      "%s may use cloud '%s', which the stack does not declare under 'clouds:'",
                      ctx, s);
            rc = -1;
        }
        p->clouds |= 1u << id;
    }
    return rc;
}

static const struct sch_type t_cloud_list = {
    .kind = SCH_CUSTOM,
    .what = "a list of clouds",
    .decode = dec_cloud_list,
    .json = "{\"type\":\"array\",\"items\":{\"enum\":[\"aws\",\"gcp\",\"azure\"]},\"uniqueItems\":"
            "true}",
};

struct quota_dst {
    struct spec_quota *items;
    size_t n;
};

static int dec_quotas(struct dctx *c, const struct spec_node *n, void *dst,
                      const struct sch_field *f, const char *ctx)
{
    struct spec_cloud *cl = (struct spec_cloud *)((char *)dst - f->offset);
    if (n->kind != SPEC_NODE_MAP) {
        sch_error(c, n, "type", "%s must be a mapping of region to {gpus: N}",
                  sch_where(c, f->name, ctx));
        return -1;
    }
    cl->quotas = core_arena_alloc(&c->spec->arena, n->u.map.n * sizeof(*cl->quotas));
    if (!cl->quotas)
        return -1;
    static const struct sch_type t_gpus = {
        .kind = SCH_INT, .what = "an integer", .min = 0, .max = 10000000};
    static const struct sch_field gf = {.name = "gpus", .type = &t_gpus};
    int rc = 0;
    for (size_t i = 0; i < n->u.map.n; i++) {
        const struct spec_pair *p = &n->u.map.items[i];
        const char *region = p->key->u.str.s;
        const char *qctx =
            core_arena_printf(&c->spec->arena, "quota '%s' of cloud '%s'", region, cl->name);
        if (strcmp(region, "*") != 0 && spec_check_region(c, p->key, cl->id, region, NULL) < 0) {
            rc = -1;
            continue;
        }
        const struct spec_node *v = p->value;
        if (v->kind == SPEC_NODE_MAP) {
            for (size_t j = 0; j < v->u.map.n; j++)
                if (strcmp(v->u.map.items[j].key->u.str.s, "gpus") != 0) {
                    sch_error(c, v->u.map.items[j].key, "unknown-key",
                              "unknown key '%s' in %s; a quota sets 'gpus'",
                              v->u.map.items[j].key->u.str.s, qctx);
                    rc = -1;
                }
            v = spec_node_get(v, "gpus");
            if (!v) {
                sch_error(c, p->value, "missing-key", "%s needs 'gpus'", qctx);
                rc = -1;
                continue;
            }
        }
        int gpus = 0;
        if (sch_decode(c, v, &t_gpus, &gpus, &gf, qctx) < 0) {
            rc = -1;
            continue;
        }
        struct spec_quota *q = &cl->quotas[cl->nquotas++];
        q->region = region;
        q->gpus = gpus;
        q->loc = p->key->loc;
    }
    return rc;
}

static const struct sch_type t_quotas = {
    .kind = SCH_CUSTOM,
    .what = "quotas",
    .decode = dec_quotas,
    .json = "{\"type\":\"object\",\"description\":\"GPUs per region; \\\"*\\\" = every other "
            "region\",\"additionalProperties\":{\"anyOf\":[{\"type\":\"integer\",\"minimum\":0},"
            "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"gpus\"],"
            "\"properties\":{\"gpus\":{\"type\":\"integer\",\"minimum\":0}}}]}}",
};

static int dec_regions(struct dctx *c, const struct spec_node *n, void *dst,
                       const struct sch_field *f, const char *ctx)
{
    struct spec_cloud *cl = (struct spec_cloud *)((char *)dst - f->offset);
    if (n->kind != SPEC_NODE_SEQ) {
        sch_error(c, n, "type", "%s must be a list of regions, e.g. [us-east-1, us-west-2]",
                  sch_where(c, f->name, ctx));
        return -1;
    }
    if (n->u.seq.n == 0) {
        sch_error(c, n, "no-region", "cloud '%s' lists no region under 'regions'", cl->name);
        return -1;
    }
    cl->regions = core_arena_alloc(&c->spec->arena, n->u.seq.n * sizeof(*cl->regions));
    if (!cl->regions)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n->u.seq.n; i++) {
        const struct spec_node *item = n->u.seq.items[i];
        bool quoted;
        const char *s = sch_scalar(c, item, f, ctx, &quoted);
        if (!s || spec_check_region(c, item, cl->id, s, NULL) < 0) {
            rc = -1;
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < cl->nregions; j++)
            dup |= strcmp(cl->regions[j], s) == 0;
        if (dup) {
            sch_warning(c, item, "duplicate-region", "region '%s' is listed twice in %s", s, ctx);
            continue;
        }
        cl->regions[cl->nregions++] = s;
    }
    return rc;
}

static const struct sch_type t_regions = {
    .kind = SCH_CUSTOM,
    .what = "a list of regions",
    .decode = dec_regions,
    .json = "{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"uniqueItems\":true}",
};

#define CLOUD_COMMON                                                                               \
    {"regions", &t_regions,   offsetof(struct spec_cloud, regions),    0,                          \
     0,         SCH_REQUIRED, "regions the planner may place nodes in"},                           \
        {"quotas",                                                                                 \
         &t_quotas,                                                                                \
         offsetof(struct spec_cloud, quotas),                                                      \
         0,                                                                                        \
         0,                                                                                        \
         0,                                                                                        \
         "GPUs that may run at once per region; \"*\" = every other region"},                      \
    {                                                                                              \
        "endpoint", &t_string, offsetof(struct spec_cloud, endpoint), 0, 0, SCH_ENV,               \
            "API endpoint override (cloudsim, proxies); ${env.NAME} allowed"                       \
    }

static const struct sch_field aws_fields[] = {
    CLOUD_COMMON,
    {"profile", &t_string, offsetof(struct spec_cloud, profile), 0, 0, SCH_ENV,
     "shared-credentials profile; credentials themselves come from the environment"},
};
static const struct sch_field gcp_fields[] = {
    CLOUD_COMMON,
    {"project", &t_string, offsetof(struct spec_cloud, project), 0, 0, SCH_REQUIRED | SCH_ENV,
     "GCP project id"},
    {"credentials_file", &t_string, offsetof(struct spec_cloud, credentials_file), 0, 0, SCH_ENV,
     "service-account key file; ${env.NAME} allowed"},
};
static const struct sch_field azure_fields[] = {
    CLOUD_COMMON,
    {"subscription", &t_string, offsetof(struct spec_cloud, subscription), 0, 0,
     SCH_REQUIRED | SCH_ENV, "subscription id"},
    {"resource_group", &t_string, offsetof(struct spec_cloud, resource_group), 0, 0,
     SCH_REQUIRED | SCH_ENV, "resource group the VMs are created in"},
    {"tenant", &t_string, offsetof(struct spec_cloud, tenant), 0, 0, SCH_ENV,
     "Entra ID tenant for client-credentials login"},
    {"client_id", &t_string, offsetof(struct spec_cloud, client_id), 0, 0, SCH_ENV,
     "application (client) id"},
    {"client_secret", &t_string, offsetof(struct spec_cloud, client_secret), 0, 0, SCH_SECRET,
     "client secret; only as ${env.NAME}"},
};

static const struct sch_type t_cloud[CORE_CLOUD_COUNT] = {
    [CORE_CLOUD_AWS] = {.kind = SCH_MAP,
                        .what = "a mapping",
                        .fields = aws_fields,
                        .nfields = ARRAY_LEN(aws_fields)},
    [CORE_CLOUD_GCP] = {.kind = SCH_MAP,
                        .what = "a mapping",
                        .fields = gcp_fields,
                        .nfields = ARRAY_LEN(gcp_fields)},
    [CORE_CLOUD_AZURE] = {.kind = SCH_MAP,
                          .what = "a mapping",
                          .fields = azure_fields,
                          .nfields = ARRAY_LEN(azure_fields)},
};

static int dec_clouds(struct dctx *c, const struct spec_node *n, void *dst,
                      const struct sch_field *f, const char *ctx)
{
    struct spec *spec = (struct spec *)((char *)dst - f->offset);
    if (n->kind != SPEC_NODE_MAP) {
        sch_error(c, n, "type", "'clouds' must be a mapping of cloud name to settings, not %s",
                  spec_node_kind_name(n));
        return -1;
    }
    if (n->u.map.n == 0) {
        sch_error(c, n, "no-cloud", "'clouds' declares no cloud; add aws, gcp or azure");
        return -1;
    }
    spec->clouds = core_arena_alloc(&spec->arena, n->u.map.n * sizeof(*spec->clouds));
    if (!spec->clouds)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n->u.map.n; i++) {
        const struct spec_pair *p = &n->u.map.items[i];
        int id = core_cloud_from_name(p->key->u.str.s);
        if (id < 0) {
            rc = cloud_error(c, p->key, p->key->u.str.s, "'clouds'");
            continue;
        }
        struct spec_cloud *cl = &spec->clouds[spec->nclouds++];
        cl->id = (enum core_cloud)id;
        cl->name = core_cloud_name(cl->id);
        cl->loc = p->key->loc;
        const char *cctx = core_arena_printf(&spec->arena, "cloud '%s'", cl->name);
        c->owner = &p->key->loc;
        if (sch_decode_map(c, p->value, &t_cloud[id], cl, cctx ? cctx : ctx, NULL) < 0)
            rc = -1;
    }
    return rc;
}

static const struct sch_type t_clouds = {
    .kind = SCH_CUSTOM,
    .what = "a mapping of clouds",
    .decode = dec_clouds,
    .json = NULL, /* generated from t_cloud in schema_json.c */
};

/* ---- budgets ---- */

static int dec_match(struct dctx *c, const struct spec_node *n, void *dst,
                     const struct sch_field *f, const char *ctx)
{
    struct spec_budget *b = (struct spec_budget *)((char *)dst - f->offset);
    if (n->kind != SPEC_NODE_MAP) {
        sch_error(c, n, "type", "%s must be a label selector, e.g. {team: research}",
                  sch_where(c, f->name, ctx));
        return -1;
    }
    b->match = core_arena_alloc(&c->spec->arena, n->u.map.n * sizeof(*b->match));
    if (!b->match)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n->u.map.n; i++) {
        const struct spec_pair *p = &n->u.map.items[i];
        if (check_label_key(c, p->key, ctx) < 0) {
            rc = -1;
            continue;
        }
        struct spec_match *m = &b->match[b->nmatch];
        m->key = p->key->u.str.s;
        m->loc = p->key->loc;
        const struct spec_node *v = p->value;
        size_t count = v->kind == SPEC_NODE_SEQ ? v->u.seq.n : 1;
        m->values = core_arena_alloc(&c->spec->arena, count * sizeof(*m->values));
        if (!m->values)
            return -1;
        for (size_t j = 0; j < count; j++) {
            const struct spec_node *item = v->kind == SPEC_NODE_SEQ ? v->u.seq.items[j] : v;
            bool quoted;
            const struct sch_field vf = {.name = m->key, .type = &t_string};
            const char *s = sch_scalar(c, item, &vf, ctx, &quoted);
            if (s)
                m->values[m->nvalues++] = s;
            else
                rc = -1;
        }
        b->nmatch++;
    }
    return rc;
}

static const struct sch_type t_match = {
    .kind = SCH_CUSTOM,
    .what = "a label selector",
    .decode = dec_match,
    .json = "{\"type\":\"object\",\"description\":\"label: value, or label: [values]; all must "
            "hold\",\"additionalProperties\":{\"anyOf\":[{\"type\":[\"string\",\"number\","
            "\"boolean\"]},{\"type\":\"array\",\"items\":{\"type\":[\"string\",\"number\","
            "\"boolean\"]}}]}}",
};

static const struct sch_field budget_fields[] = {
    {"hourly", &t_money, offsetof(struct spec_budget, hourly), 0,
     offsetof(struct spec_budget, hourly_loc), SCH_LOC,
     "USD per hour the matching workloads may cost together"},
    {"monthly", &t_money, offsetof(struct spec_budget, monthly), 0,
     offsetof(struct spec_budget, monthly_loc), SCH_LOC, "USD per month (730 hours)"},
    {"match", &t_match, offsetof(struct spec_budget, match), offsetof(struct spec_budget, nmatch),
     0, 0, "label selector; without it the budget covers every workload"},
};

static const struct sch_type t_budget = {.kind = SCH_MAP,
                                         .what = "a mapping",
                                         .fields = budget_fields,
                                         .nfields = ARRAY_LEN(budget_fields)};

static const struct sch_type t_budgets = {
    .kind = SCH_DICT,
    .what = "a mapping of budgets",
    .title = "budget",
    .elem = &t_budget,
    .elem_size = sizeof(struct spec_budget),
    .name_offset = offsetof(struct spec_budget, name),
    .value_offset = 0,
    .elem_loc_offset = offsetof(struct spec_budget, loc),
    .check_key = check_budget_key,
    .key_pattern = "^[a-z]([a-z0-9-]*[a-z0-9])?$",
};

/* ---- workloads ---- */

static int dec_region_filter(struct dctx *c, const struct spec_node *n, void *dst,
                             const struct sch_field *f, const char *ctx)
{
    struct spec_placement *p = (struct spec_placement *)((char *)dst - f->offset);
    const struct spec_node *inc = NULL, *exc = NULL;
    int rc = 0;
    if (n->kind == SPEC_NODE_SEQ) {
        inc = n;
    } else if (n->kind == SPEC_NODE_MAP) {
        for (size_t i = 0; i < n->u.map.n; i++) {
            const char *k = n->u.map.items[i].key->u.str.s;
            if (strcmp(k, "include") && strcmp(k, "exclude")) {
                sch_error(c, n->u.map.items[i].key, "unknown-key",
                          "unknown key '%s' in 'regions' of %s; use 'include' or 'exclude'", k,
                          ctx);
                rc = -1;
            }
        }
        inc = spec_node_get(n, "include");
        exc = spec_node_get(n, "exclude");
    } else {
        sch_error(c, n, "type",
                  "'regions' in %s must be a list of region patterns or {include: [...], "
                  "exclude: [...]}",
                  ctx);
        return -1;
    }
    const struct spec_node *lists[2] = {inc, exc};
    const char ***outs[2] = {&p->regions_include, &p->regions_exclude};
    size_t *counts[2] = {&p->nregions_include, &p->nregions_exclude};
    for (int k = 0; k < 2; k++) {
        const struct spec_node *l = lists[k];
        if (!l || spec_node_is_null(l))
            continue;
        if (l->kind != SPEC_NODE_SEQ) {
            sch_error(c, l, "type", "'%s' in 'regions' of %s must be a list of region patterns",
                      k ? "exclude" : "include", ctx);
            rc = -1;
            continue;
        }
        *outs[k] = core_arena_alloc(&c->spec->arena, l->u.seq.n * sizeof(char *));
        if (!*outs[k])
            return -1;
        for (size_t i = 0; i < l->u.seq.n; i++) {
            bool quoted;
            const char *s = sch_scalar(c, l->u.seq.items[i], f, ctx, &quoted);
            if (s)
                (*outs[k])[(*counts[k])++] = s;
            else
                rc = -1;
        }
    }
    return rc;
}

static const struct sch_type t_region_filter = {
    .kind = SCH_CUSTOM,
    .what = "region patterns",
    .decode = dec_region_filter,
    .json = "{\"anyOf\":[{\"type\":\"array\",\"items\":{\"type\":\"string\"}},{\"type\":\"object\""
            ",\"additionalProperties\":false,\"properties\":{\"include\":{\"type\":\"array\","
            "\"items\":{\"type\":\"string\"}},\"exclude\":{\"type\":\"array\",\"items\":{\"type\":"
            "\"string\"}}}}],\"description\":\"region globs such as us-* or europe-west4\"}",
};

static const struct sch_field spread_fields[] = {
    {"clouds", &t_count, offsetof(struct spec_placement, spread_clouds), 0, 0, SCH_REQUIRED,
     "the workload's nodes must span at least this many clouds"},
};
static const struct sch_type t_spread = {.kind = SCH_MAP,
                                         .what = "a mapping",
                                         .fields = spread_fields,
                                         .nfields = ARRAY_LEN(spread_fields)};

static const struct sch_field placement_fields[] = {
    {"together", &t_together, offsetof(struct spec_placement, together), 0,
     offsetof(struct spec_placement, together_loc), SCH_LOC,
     "keep every node in one region or one zone"},
    {"clouds", &t_cloud_list, offsetof(struct spec_placement, clouds), 0, 0, 0,
     "clouds allowed for this workload (default: every declared cloud)"},
    {"regions", &t_region_filter, offsetof(struct spec_placement, regions_include), 0, 0, 0,
     "region globs to allow (a list or include:) and to exclude (exclude:)"},
    {"spread", &t_spread, 0, 0, offsetof(struct spec_placement, spread_loc), SCH_LOC,
     "spread the nodes: {clouds: K} needs at least K clouds"},
    {"max_per_region", &t_count, offsetof(struct spec_placement, max_per_region), 0,
     offsetof(struct spec_placement, max_per_region_loc), SCH_LOC,
     "at most this many of the workload's nodes in one region"},
};
static const struct sch_type t_placement = {.kind = SCH_MAP,
                                            .what = "a mapping",
                                            .fields = placement_fields,
                                            .nfields = ARRAY_LEN(placement_fields)};

static const struct sch_field data_fields[] = {
    {"location", &t_location, offsetof(struct spec_workload, data_location), 0, 0, SCH_REQUIRED,
     "where the data lives, CLOUD/REGION; other regions pay egress"},
    {"size", &t_size, offsetof(struct spec_workload, data_bytes), 0, 0, SCH_REQUIRED,
     "how much data each node reads, e.g. 2TB"},
};
static const struct sch_type t_data = {
    .kind = SCH_MAP, .what = "a mapping", .fields = data_fields, .nfields = ARRAY_LEN(data_fields)};

static const struct sch_type t_labels = {
    .kind = SCH_DICT,
    .what = "a mapping of labels",
    .elem = &t_string,
    .elem_size = sizeof(struct spec_label),
    .name_offset = offsetof(struct spec_label, key),
    .value_offset = offsetof(struct spec_label, value),
    .elem_loc_offset = offsetof(struct spec_label, loc),
    .check_key = check_label_key,
    .key_pattern = "^[A-Za-z0-9_./-]{1,63}$",
};

static const struct sch_type t_env = {
    .kind = SCH_DICT,
    .what = "a mapping of environment variables",
    .elem = &t_string,
    .elem_size = sizeof(struct spec_label),
    .name_offset = offsetof(struct spec_label, key),
    .value_offset = offsetof(struct spec_label, value),
    .elem_loc_offset = offsetof(struct spec_label, loc),
    .check_key = check_env_key,
    .key_pattern = "^[A-Za-z_][A-Za-z0-9_]*$",
};

static int dec_command(struct dctx *c, const struct spec_node *n, void *dst,
                       const struct sch_field *f, const char *ctx)
{
    struct spec_workload *w = (struct spec_workload *)((char *)dst - f->offset);
    size_t count = n->kind == SPEC_NODE_SEQ ? n->u.seq.n : 1;
    if (n->kind == SPEC_NODE_MAP) {
        sch_error(c, n, "type", "%s must be a string or a list of strings",
                  sch_where(c, f->name, ctx));
        return -1;
    }
    w->command = core_arena_alloc(&c->spec->arena, count * sizeof(*w->command));
    if (!w->command)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < count; i++) {
        bool quoted;
        const struct spec_node *item = n->kind == SPEC_NODE_SEQ ? n->u.seq.items[i] : n;
        static const struct sch_field itemf = {.name = "command", .type = &t_string};
        const char *s = sch_scalar(c, item, &itemf, ctx, &quoted);
        if (s)
            w->command[w->ncommand++] = s;
        else
            rc = -1;
    }
    return rc;
}

static const struct sch_type t_command = {
    .kind = SCH_CUSTOM,
    .what = "a command",
    .decode = dec_command,
    .json = "{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"array\",\"items\":{\"type\":"
            "\"string\"}}]}",
};

static const struct sch_field run_fields[] = {
    {"image", &t_string, offsetof(struct spec_workload, image), 0, 0, 0,
     "container image the node runs"},
    {"command", &t_command, offsetof(struct spec_workload, command), 0, 0, 0,
     "command: a string (run by a shell) or an argv list"},
    {"env", &t_env, offsetof(struct spec_workload, env), offsetof(struct spec_workload, nenv), 0, 0,
     "environment variables for the command"},
};
static const struct sch_type t_run = {
    .kind = SCH_MAP, .what = "a mapping", .fields = run_fields, .nfields = ARRAY_LEN(run_fields)};

static const struct sch_field site_fields[] = {
    {"location", &t_location, offsetof(struct spec_site, location), 0, 0, SCH_REQUIRED,
     "CLOUD/REGION the site's node runs in"},
};
static const struct sch_type t_site = {
    .kind = SCH_MAP, .what = "a mapping", .fields = site_fields, .nfields = ARRAY_LEN(site_fields)};
static const struct sch_type t_sites = {
    .kind = SCH_DICT,
    .what = "a mapping of sites",
    .title = "site",
    .elem = &t_site,
    .elem_size = sizeof(struct spec_site),
    .name_offset = offsetof(struct spec_site, name),
    .value_offset = 0,
    .elem_loc_offset = offsetof(struct spec_site, loc),
    .check_key = check_site_key,
    .item = "site",
    .key_pattern = "^[a-z]([a-z0-9-]*[a-z0-9])?$",
};

#define WL(field) offsetof(struct spec_workload, field)

static const struct sch_field workload_fields[] = {
    {"kind", &t_kind, WL(kind), 0, WL(kind_loc), SCH_REQUIRED | SCH_LOC,
     "training, service, batch or federated"},
    {"gpu", &t_gpu, WL(gpu), 0, 0, SCH_REQUIRED,
     "GPUs per node: NAME:COUNT, or {name, count, memory}"},
    {"nodes", &t_count, WL(count), 0, WL(nodes_loc), SCH_LOC,
     "nodes of a training or batch workload (default 1)"},
    {"replicas", &t_count, WL(count), 0, WL(replicas_loc), SCH_LOC,
     "replicas of a service (default 1)"},
    {"hours", &t_hours, WL(hours), 0, WL(hours_loc), SCH_LOC,
     "expected run time in hours (72, 72h, 3d); services and federated: hours a month, "
     "default 730"},
    {"spot", &t_spot, WL(spot), 0, WL(spot_loc), SCH_LOC,
     "never, auto or always (default: defaults.spot)"},
    {"verify", &t_verify, WL(verify), 0, WL(verify_loc), SCH_LOC,
     "none, quick or full (default: defaults.verify)"},
    {"placement", &t_placement, WL(placement), 0, WL(placement.loc), SCH_LOC,
     "where the nodes may and must go"},
    {"data", &t_data, 0, 0, WL(data_loc), SCH_LOC,
     "the workload's data: moving it to another region costs egress"},
    {"labels", &t_labels, WL(labels), WL(nlabels), 0, 0, "labels for budgets and policies"},
    {"run", &t_run, 0, 0, 0, 0, "what each node runs"},
    {"sites", &t_sites, WL(sites), WL(nsites), WL(sites_loc), SCH_LOC,
     "federated: one node per site, at the site's location"},
};

static const struct sch_type t_workload = {.kind = SCH_MAP,
                                           .what = "a mapping",
                                           .fields = workload_fields,
                                           .nfields = ARRAY_LEN(workload_fields)};

/* A workload's kind starts invalid, so checks can tell "not written or wrong" from training. */
static void init_workload(void *elem)
{
    ((struct spec_workload *)elem)->kind = SPEC_KIND_INVALID;
}

static const struct sch_type t_workloads = {
    .kind = SCH_DICT,
    .init = init_workload,
    .what = "a mapping of workloads",
    .title = "workload",
    .elem = &t_workload,
    .elem_size = sizeof(struct spec_workload),
    .name_offset = offsetof(struct spec_workload, name),
    .value_offset = 0,
    .elem_loc_offset = offsetof(struct spec_workload, loc),
    .check_key = check_workload_key,
    .key_pattern = "^[a-z]([a-z0-9-]*[a-z0-9])?$",
};

/* ---- hooks, state, defaults, variables ---- */

static int dec_hooks(struct dctx *c, const struct spec_node *n, void *dst,
                     const struct sch_field *f, const char *ctx)
{
    struct spec *spec = (struct spec *)((char *)dst - f->offset);
    if (n->kind != SPEC_NODE_SEQ) {
        sch_error(c, n, "type", "'hooks' must be a list of Lua files, e.g. [policies/x.lua]");
        return -1;
    }
    spec->hooks = core_arena_alloc(&spec->arena, n->u.seq.n * sizeof(*spec->hooks));
    if (!spec->hooks)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n->u.seq.n; i++) {
        const struct spec_node *item = n->u.seq.items[i];
        bool quoted;
        const char *s = sch_scalar(c, item, f, ctx, &quoted);
        if (!s) {
            rc = -1;
            continue;
        }
        size_t len = strlen(s);
        if (len < 5 || strcmp(s + len - 4, ".lua") != 0) {
            sch_error(c, item, "invalid-value", "hook '%s' must be a Lua file ending in .lua", s);
            rc = -1;
            continue;
        }
        struct spec_hook *h = &spec->hooks[spec->nhooks++];
        h->path = s;
        h->loc = item->loc;
        h->resolved = spec_path_join(&spec->arena, spec->dir, s);
    }
    return rc;
}

static const struct sch_type t_hooks = {
    .kind = SCH_CUSTOM,
    .what = "a list of Lua files",
    .decode = dec_hooks,
    .json = "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"pattern\":\"\\\\.lua$\"}}",
};

/* A list of etcd endpoints: http:// or https:// URLs. */
static int dec_endpoints(struct dctx *c, const struct spec_node *n, void *dst,
                         const struct sch_field *f, const char *ctx)
{
    struct spec *spec = (struct spec *)((char *)dst - f->offset);
    if (n->kind != SPEC_NODE_SEQ || n->u.seq.n == 0) {
        sch_error(c, n, "type",
                  "'endpoints' must be a list of etcd URLs, e.g. [\"https://etcd.internal:2379\"]");
        return -1;
    }
    spec->state_endpoints = core_arena_alloc(&spec->arena, n->u.seq.n * sizeof(char *));
    if (!spec->state_endpoints)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n->u.seq.n; i++) {
        const struct spec_node *item = n->u.seq.items[i];
        bool quoted;
        const char *s = sch_scalar(c, item, f, ctx, &quoted);
        if (!s) {
            rc = -1;
        } else if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0) {
            sch_error(c, item, "invalid-value",
                      "etcd endpoint '%s' must be an http:// or https:// URL", s);
            rc = -1;
        } else {
            spec->state_endpoints[spec->nstate_endpoints++] = s;
        }
    }
    return rc;
}

static const struct sch_type t_endpoints = {
    .kind = SCH_CUSTOM,
    .what = "a list of URLs",
    .decode = dec_endpoints,
    .json = "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"pattern\":\"^https?://\"},"
            "\"minItems\":1}",
};

/* A lock lifetime: "15s", "1m"; 2 s to 1 h. */
static int dec_lock_ttl(struct dctx *c, const struct spec_node *n, void *dst,
                        const struct sch_field *f, const char *ctx)
{
    bool quoted;
    const char *s = sch_scalar(c, n, f, ctx, &quoted);
    if (!s)
        return -1;
    const char *why;
    double h;
    if (spec_parse_hours(s, &h, &why) < 0) {
        sch_error(c, n, "invalid-value", "%s: '%s' is not a duration; %s",
                  sch_where(c, f->name, ctx), s, why);
        return -1;
    }
    if (h * 3600 < 2 || h * 3600 > 3600) {
        sch_error(c, n, "range", "%s must be from 2s to 1h", sch_where(c, f->name, ctx));
        return -1;
    }
    *(double *)dst = h * 3600;
    return 0;
}

static const struct sch_type t_lock_ttl = {
    .kind = SCH_CUSTOM,
    .what = "a duration",
    .decode = dec_lock_ttl,
    .json = "{\"type\":\"string\",\"pattern\":\"^([0-9]+(\\\\.[0-9]+)? ?[hms] ?)+$\","
            "\"examples\":[\"15s\",\"1m\"]}",
};

static const struct sch_field state_fields[] = {
    {"backend", &t_backend, offsetof(struct spec, state_backend), 0,
     offsetof(struct spec, state_backend_loc), SCH_LOC,
     "where state is kept: file (default), etcd or s3"},
    {"path", &t_string, offsetof(struct spec, state_path), 0, 0, 0,
     "file backend: state file, relative to the stack (default .gpuform/state.json)"},
    {"endpoints", &t_endpoints, offsetof(struct spec, state_endpoints), 0, 0, 0,
     "etcd backend: the cluster's client URLs"},
    {"prefix", &t_string, offsetof(struct spec, state_prefix), 0, 0, 0,
     "etcd backend: key prefix (default gpuform/); the stack's keys are PREFIX STACK/..."},
    {"bucket", &t_string, offsetof(struct spec, state_bucket), 0, 0, 0, "s3 backend: the bucket"},
    {"key", &t_string, offsetof(struct spec, state_key), 0, 0, 0,
     "s3 backend: the state object's key, e.g. gpu/prod.json"},
    {"region", &t_string, offsetof(struct spec, state_region), 0, 0, 0,
     "s3 backend: the bucket's region (default: AWS_REGION or the AWS profile's)"},
    {"endpoint", &t_string, offsetof(struct spec, state_endpoint), 0, 0, SCH_ENV,
     "s3 backend: an S3-compatible server's URL (addressed path-style); default AWS"},
    {"lock_ttl", &t_lock_ttl, offsetof(struct spec, state_lock_ttl), 0, 0, 0,
     "etcd and s3: how long a lock outlives a run that died (default 15s etcd, 60s s3)"},
};
static const struct sch_type t_state = {.kind = SCH_MAP,
                                        .what = "a mapping",
                                        .fields = state_fields,
                                        .nfields = ARRAY_LEN(state_fields)};

static const struct sch_field default_fields[] = {
    {"spot", &t_spot, offsetof(struct spec, default_spot), 0, 0, 0,
     "spot policy of workloads that set none: never (default), auto or always"},
    {"verify", &t_verify, offsetof(struct spec, default_verify), 0, 0, 0,
     "verify level of workloads that set none: none, quick (default) or full"},
};
static const struct sch_type t_defaults = {.kind = SCH_MAP,
                                           .what = "a mapping",
                                           .fields = default_fields,
                                           .nfields = ARRAY_LEN(default_fields)};

/* Variables are decoded before everything else (parser/stack.c); here only for the schema. */
static const struct sch_type t_variables = {
    .kind = SCH_CUSTOM,
    .what = "a mapping of variables",
    .json = "{\"type\":\"object\",\"propertyNames\":{\"pattern\":\"^[A-Za-z_][A-Za-z0-9_]*$\"},"
            "\"additionalProperties\":{\"anyOf\":[{\"type\":[\"string\",\"number\",\"boolean\"]}"
            ",{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"type\":"
            "{\"enum\":[\"string\",\"number\",\"bool\"]},\"default\":{\"type\":[\"string\","
            "\"number\",\"boolean\"]},\"description\":{\"type\":\"string\"}}}]}}",
};

static int check_stack_name(struct dctx *c, const struct spec_node *n, void *dst,
                            const struct sch_field *f, const char *ctx)
{
    bool quoted;
    const char *s = sch_scalar(c, n, f, ctx, &quoted);
    if (!s)
        return -1;
    if (!valid_name(s, 40)) {
        sch_error(c, n, "invalid-name",
                  "stack name '%s' must be 1 to 40 lowercase letters, digits and dashes, "
                  "starting with a letter and not ending with a dash",
                  s);
        return -1;
    }
    *(const char **)dst = s;
    c->spec->stack_loc = n->loc;
    return 0;
}

static const struct sch_type t_stack_name = {
    .kind = SCH_CUSTOM,
    .what = "a name",
    .decode = check_stack_name,
    .json = "{\"type\":\"string\",\"pattern\":\"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$\"}",
};

static const struct sch_field stack_fields[] = {
    {"version", &t_version, offsetof(struct spec, version), 0, offsetof(struct spec, version_loc),
     SCH_REQUIRED | SCH_LOC, "spec language version; 1"},
    {"stack", &t_stack_name, offsetof(struct spec, stack), 0, 0, SCH_REQUIRED,
     "names and tags everything this stack creates"},
    {"variables", &t_variables, offsetof(struct spec, variables), offsetof(struct spec, nvariables),
     0, 0, "inputs, set with --var NAME=VALUE or GPUFORM_VAR_NAME"},
    {"state", &t_state, 0, 0, 0, 0, "where state is kept"},
    {"clouds", &t_clouds, offsetof(struct spec, clouds), offsetof(struct spec, nclouds), 0,
     SCH_REQUIRED, "the clouds this stack may use"},
    {"budgets", &t_budgets, offsetof(struct spec, budgets), offsetof(struct spec, nbudgets), 0, 0,
     "cost caps, over every workload or a label selector"},
    {"defaults", &t_defaults, 0, 0, 0, 0, "defaults for every workload"},
    {"workloads", &t_workloads, offsetof(struct spec, workloads), offsetof(struct spec, nworkloads),
     0, SCH_REQUIRED, "what to run"},
    {"hooks", &t_hooks, offsetof(struct spec, hooks), offsetof(struct spec, nhooks), 0, 0,
     "Lua policy files, relative to the stack"},
};

const struct sch_type sch_stack = {.kind = SCH_MAP,
                                   .what = "a mapping",
                                   .fields = stack_fields,
                                   .nfields = ARRAY_LEN(stack_fields)};

const struct sch_type *sch_cloud_type(enum core_cloud cloud)
{
    return &t_cloud[cloud];
}
