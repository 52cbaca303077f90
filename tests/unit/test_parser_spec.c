/*
 * Unit tests for loading stacks (parser/stack.c, decode.c, vars.c, spec_schema.c, check.c):
 * a complete spec decodes into the expected struct values, variables resolve with the
 * documented precedence and types, every cross-section check reports its code, directory
 * stacks merge in name order, and every failure leaves *out NULL with nothing leaked.
 *
 * The environment is always the fake one in the fixture (spec_options.getenv), never the
 * process environment. Directory stacks live in a mkdtemp() folder removed in teardown.
 */
#include "parser/spec.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_ENV 8

struct fixture {
    struct core_diags diags;
    struct spec *spec;
    struct spec_options opts;
    const char *vars[8];
    const char *env_names[MAX_ENV], *env_values[MAX_ENV];
    size_t nenv;
    size_t lookups;
    char dir[64]; /* temporary stack directory */
    char *text;   /* a generated spec, freed in teardown */
};

static const char *fake_getenv(const char *name, void *ud)
{
    struct fixture *f = ud;
    f->lookups++;
    for (size_t i = 0; i < f->nenv; i++)
        if (strcmp(f->env_names[i], name) == 0)
            return f->env_values[i];
    return NULL;
}

static void set_env(struct fixture *f, const char *name, const char *value)
{
    assert_true(f->nenv < MAX_ENV);
    f->env_names[f->nenv] = name;
    f->env_values[f->nenv] = value;
    f->nenv++;
}

static void add_var(struct fixture *f, const char *kv)
{
    assert_true(f->opts.nvars < sizeof(f->vars) / sizeof(f->vars[0]));
    f->vars[f->opts.nvars++] = kv;
}

static int spec_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    core_diags_init(&f->diags, 0);
    f->opts.vars = f->vars;
    f->opts.getenv = fake_getenv;
    f->opts.getenv_ud = f;
    strcpy(f->dir, "/tmp/gpuform-spec-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int spec_teardown(void **state)
{
    struct fixture *f = *state;
    spec_free(f->spec);
    core_diags_release(&f->diags);
    nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f->text);
    free(f);
    return 0;
}

/* Starts over with empty diagnostics and no spec. */
static void reset(struct fixture *f)
{
    spec_free(f->spec);
    f->spec = NULL;
    core_diags_release(&f->diags);
    core_diags_init(&f->diags, 0);
}

/* Loads `text` as one in-memory file; checks the *out contract both ways. */
static int load(struct fixture *f, const char *text)
{
    reset(f);
    struct spec *out = (struct spec *)f; /* must be overwritten */
    int rc = spec_load_buffer("spec.yaml", text, strlen(text), &f->opts, &f->diags, &out);
    if (rc == 0) {
        assert_non_null(out);
        assert_int_equal(f->diags.errors, 0);
    } else {
        assert_int_equal(rc, -1);
        assert_null(out);
        assert_true(f->diags.errors > 0);
    }
    f->spec = out;
    return rc;
}

static int load_path(struct fixture *f, const char *path)
{
    reset(f);
    struct spec *out = (struct spec *)f;
    int rc = spec_load(path, &f->opts, &f->diags, &out);
    if (rc == 0) {
        assert_non_null(out);
        assert_int_equal(f->diags.errors, 0);
    } else {
        assert_int_equal(rc, -1);
        assert_null(out);
        assert_true(f->diags.errors > 0);
    }
    f->spec = out;
    return rc;
}

static const struct core_diag *find_diag(const struct fixture *f, const char *code)
{
    for (size_t i = 0; i < f->diags.n; i++)
        if (strcmp(f->diags.items[i].code, code) == 0)
            return &f->diags.items[i];
    return NULL;
}

static void dump(const struct fixture *f)
{
    for (size_t i = 0; i < f->diags.n; i++) {
        const struct core_diag *g = &f->diags.items[i];
        print_message("  %s %s %u:%u: %s\n", core_severity_name(g->severity), g->code, g->loc.line,
                      g->loc.col, g->message);
    }
}

static const struct core_diag *expect_diag(const struct fixture *f, const char *code,
                                           enum core_severity sev)
{
    for (size_t i = 0; i < f->diags.n; i++)
        if (strcmp(f->diags.items[i].code, code) == 0 && f->diags.items[i].severity == sev)
            return &f->diags.items[i];
    dump(f);
    fail_msg("no %s with code '%s'", core_severity_name(sev), code);
    return NULL;
}

/* The text must load without any diagnostic at all. */
static struct spec *load_clean(struct fixture *f, const char *text)
{
    int rc = load(f, text);
    if (rc != 0 || f->diags.n != 0) {
        dump(f);
        fail_msg("expected a clean load, got rc %d and %zu diagnostics", rc, f->diags.n);
    }
    return f->spec;
}

/* The text must fail with an error of `code`. */
static const struct core_diag *load_error(struct fixture *f, const char *text, const char *code)
{
    if (load(f, text) != -1) {
        dump(f);
        fail_msg("expected an error '%s', but the spec loaded", code);
    }
    return expect_diag(f, code, CORE_SEV_ERROR);
}

/* The text must load (rc 0) with a warning of `code`. */
static const struct core_diag *load_warning(struct fixture *f, const char *text, const char *code)
{
    if (load(f, text) != 0) {
        dump(f);
        fail_msg("expected a warning '%s', but loading failed", code);
    }
    return expect_diag(f, code, CORE_SEV_WARNING);
}

static void assert_at(const struct core_loc *loc, uint32_t line, uint32_t col)
{
    if (loc->line != line || loc->col != col)
        fail_msg("expected %u:%u, got %u:%u", line, col, loc->line, loc->col);
}

static void write_file(struct fixture *f, const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
    /* Create parent folders. */
    for (char *p = path + strlen(f->dir) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0700) != 0 && errno != EEXIST)
                fail_msg("mkdir %s: %s", path, strerror(errno));
            *p = '/';
        }
    FILE *fp = fopen(path, "w");
    if (!fp)
        fail_msg("cannot write %s", path);
    fputs(text, fp);
    fclose(fp);
}

static const struct spec_workload *workload(const struct spec *s, const char *name)
{
    for (size_t i = 0; i < s->nworkloads; i++)
        if (strcmp(s->workloads[i].name, name) == 0)
            return &s->workloads[i];
    fail_msg("no workload '%s'", name);
    return NULL;
}

static const struct spec_variable *variable(const struct spec *s, const char *name)
{
    for (size_t i = 0; i < s->nvariables; i++)
        if (strcmp(s->variables[i].name, name) == 0)
            return &s->variables[i];
    fail_msg("no variable '%s'", name);
    return NULL;
}

/* ---- building blocks ---- */

#define HEAD                                                                                       \
    "version: 1\n"                                                                                 \
    "stack: demo\n"                                                                                \
    "clouds:\n"                                                                                    \
    "  aws:\n"                                                                                     \
    "    regions: [us-east-1, us-west-2]\n"                                                        \
    "  gcp:\n"                                                                                     \
    "    regions: [europe-west4]\n"                                                                \
    "    project: p1\n"

#define TRAIN                                                                                      \
    "workloads:\n"                                                                                 \
    "  train:\n"                                                                                   \
    "    kind: training\n"                                                                         \
    "    gpu: H100:8\n"                                                                            \
    "    nodes: 2\n"                                                                               \
    "    hours: 10\n"

static const char full_spec[] = "version: 1\n"
                                "stack: demo\n"
                                "variables:\n"
                                "  nodes: 4\n"
                                "  region: us-east-1\n"
                                "  cap: {type: number, default: 100}\n"
                                "  tag:\n"
                                "    type: string\n"
                                "    default: \"v1\"\n"
                                "    description: image tag\n"
                                "clouds:\n"
                                "  aws:\n"
                                "    regions: [us-east-1, us-west-2]\n"
                                "    quotas:\n"
                                "      us-east-1: 64\n"
                                "      \"*\": {gpus: 8}\n"
                                "    endpoint: ${env.AWS_ENDPOINT}\n"
                                "    profile: research\n"
                                "  gcp:\n"
                                "    regions: [europe-west4]\n"
                                "    project: my-proj\n"
                                "    credentials_file: /keys/sa.json\n"
                                "  azure:\n"
                                "    regions: [eastus]\n"
                                "    subscription: sub-1\n"
                                "    resource_group: rg-1\n"
                                "    tenant: t-1\n"
                                "    client_id: c-1\n"
                                "    client_secret: ${env.AZ_SECRET}\n"
                                "budgets:\n"
                                "  research:\n"
                                "    hourly: ${var.cap}\n"
                                "    monthly: 50000\n"
                                "    match:\n"
                                "      team: research\n"
                                "  all:\n"
                                "    monthly: 100000\n"
                                "defaults:\n"
                                "  spot: auto\n"
                                "  verify: full\n"
                                "state:\n"
                                "  backend: file\n"
                                "workloads:\n"
                                "  train:\n" /* line 44 */
                                "    kind: training\n"
                                "    gpu: H100-SXM:8\n"
                                "    nodes: ${var.nodes}\n"
                                "    hours: 72h\n"
                                "    spot: never\n"
                                "    placement:\n"
                                "      together: region\n"
                                "      clouds: [aws, gcp]\n"
                                "      regions: {include: [\"us-*\", \"europe-*\"], exclude: "
                                "[\"us-west-*\"]}\n"
                                "      max_per_region: 4\n"
                                "    data:\n"
                                "      location: aws/${var.region}\n"
                                "      size: 2TB\n"
                                "    labels:\n"
                                "      team: research\n"
                                "      tier: \"1\"\n"
                                "    run:\n"
                                "      image: ghcr.io/x/train:${var.tag}\n"
                                "      command: [python, train.py, --epochs, \"3\"]\n"
                                "      env:\n"
                                "        WANDB_MODE: offline\n"
                                "  chat:\n"
                                "    kind: service\n"
                                "    gpu: {name: [A100-80GB, H100], count: 2, memory: 40GB..80GB}\n"
                                "    replicas: 3\n"
                                "    labels: {team: product}\n"
                                "    run: {command: serve --port 80}\n"
                                "  fed:\n"
                                "    kind: federated\n"
                                "    gpu: L4\n"
                                "    hours: 100\n"
                                "    sites:\n"
                                "      eu: {location: gcp/europe-west4}\n"
                                "      us: {location: aws/us-east-1}\n"
                                "  etl:\n"
                                "    kind: batch\n"
                                "    gpu: t4\n"
                                "    hours: 3d\n"
                                "    verify: none\n"
                                "hooks: [policies/check.lua]\n";

/* ---- a complete spec ---- */

static struct spec *load_full(struct fixture *f)
{
    write_file(f, "stack.yaml", full_spec);
    write_file(f, "policies/check.lua", "return function() end\n");
    set_env(f, "AWS_ENDPOINT", "http://localhost:4566");
    set_env(f, "AZ_SECRET", "s3cret");
    int rc = load_path(f, f->dir);
    if (rc != 0 || f->diags.n != 0) {
        dump(f);
        fail_msg("the full spec did not load cleanly");
    }
    return f->spec;
}

static void test_spec_full_stack_decodes_top_level_fields(void **state)
{
    struct fixture *f = *state;
    const struct spec *s = load_full(f);
    assert_int_equal(s->version, 1);
    assert_string_equal(s->stack, "demo");
    assert_string_equal(s->dir, f->dir);
    assert_int_equal(s->state_backend, SPEC_BACKEND_FILE);
    assert_null(s->state_path);
    char expect[256];
    snprintf(expect, sizeof(expect), "%s/.gpuform/state.json", f->dir);
    assert_string_equal(s->state_file, expect);
    assert_int_equal(s->default_spot, SPEC_SPOT_AUTO);
    assert_int_equal(s->default_verify, SPEC_VERIFY_FULL);
    assert_int_equal(s->nworkloads, 4);
    assert_int_equal(s->nbudgets, 2);
    assert_int_equal(s->nclouds, 3);
    assert_int_equal(s->nvariables, 4);
    assert_at(&s->version_loc, 1, 1);
    assert_at(&s->stack_loc, 2, 8);
    assert_non_null(s->loc.src);
    assert_at(&s->loc, 1, 1);
}

static void test_spec_full_stack_decodes_clouds(void **state)
{
    struct fixture *f = *state;
    const struct spec *s = load_full(f);
    const struct spec_cloud *aws = spec_cloud_find(s, CORE_CLOUD_AWS);
    const struct spec_cloud *gcp = spec_cloud_find(s, CORE_CLOUD_GCP);
    const struct spec_cloud *az = spec_cloud_find(s, CORE_CLOUD_AZURE);
    assert_non_null(aws);
    assert_non_null(gcp);
    assert_non_null(az);
    assert_string_equal(aws->name, "aws");
    assert_int_equal(aws->nregions, 2);
    assert_string_equal(aws->regions[0], "us-east-1");
    assert_string_equal(aws->regions[1], "us-west-2");
    assert_int_equal(aws->nquotas, 2);
    assert_string_equal(aws->quotas[0].region, "us-east-1");
    assert_int_equal(aws->quotas[0].gpus, 64);
    assert_string_equal(aws->quotas[1].region, "*");
    assert_int_equal(aws->quotas[1].gpus, 8);
    assert_string_equal(aws->endpoint, "http://localhost:4566");
    assert_string_equal(aws->profile, "research");
    assert_at(&aws->loc, 12, 3);
    assert_string_equal(gcp->project, "my-proj");
    assert_string_equal(gcp->credentials_file, "/keys/sa.json");
    assert_null(gcp->endpoint);
    assert_int_equal(gcp->nquotas, 0);
    assert_string_equal(az->subscription, "sub-1");
    assert_string_equal(az->resource_group, "rg-1");
    assert_string_equal(az->tenant, "t-1");
    assert_string_equal(az->client_id, "c-1");
    assert_string_equal(az->client_secret, "s3cret");
    assert_string_equal(az->regions[0], "eastus");
}

static void test_spec_full_stack_decodes_budgets(void **state)
{
    struct fixture *f = *state;
    const struct spec *s = load_full(f);
    const struct spec_budget *r = &s->budgets[0], *all = &s->budgets[1];
    assert_string_equal(r->name, "research");
    assert_true(r->has_hourly);
    assert_true(r->has_monthly);
    assert_float_equal(r->hourly, 100, 1e-9);
    assert_float_equal(r->monthly, 50000, 1e-9);
    assert_int_equal(r->nmatch, 1);
    assert_string_equal(r->match[0].key, "team");
    assert_int_equal(r->match[0].nvalues, 1);
    assert_string_equal(r->match[0].values[0], "research");
    assert_string_equal(all->name, "all");
    assert_false(all->has_hourly);
    assert_true(all->has_monthly);
    assert_float_equal(all->monthly, 100000, 1e-9);
    assert_int_equal(all->nmatch, 0);
    assert_true(spec_budget_matches(r, workload(s, "train")));
    assert_false(spec_budget_matches(r, workload(s, "chat")));
    assert_true(spec_budget_matches(all, workload(s, "etl")));
}

static void test_spec_full_stack_decodes_a_training_workload(void **state)
{
    struct fixture *f = *state;
    const struct spec *s = load_full(f);
    const struct spec_workload *w = &s->workloads[0];
    assert_string_equal(w->name, "train");
    assert_at(&w->loc, 44, 3);
    assert_int_equal(w->kind, SPEC_KIND_TRAINING);
    assert_int_equal(w->gpu.nnames, 1);
    assert_string_equal(w->gpu.names[0], "H100"); /* the alias H100-SXM, canonical */
    assert_int_equal(w->gpu.count, 8);
    assert_int_equal(w->gpu.memory_min, 0);
    assert_int_equal(w->gpu.memory_max, 0);
    assert_int_equal(w->count, 4);
    assert_float_equal(w->hours, 72, 1e-9);
    assert_int_equal(w->spot, SPEC_SPOT_NEVER);    /* its own */
    assert_int_equal(w->verify, SPEC_VERIFY_FULL); /* the default */
    assert_int_equal(w->placement.together, SPEC_TOGETHER_REGION);
    assert_int_equal(w->placement.clouds, (1u << CORE_CLOUD_AWS) | (1u << CORE_CLOUD_GCP));
    assert_int_equal(w->placement.nregions_include, 2);
    assert_string_equal(w->placement.regions_include[0], "us-*");
    assert_string_equal(w->placement.regions_include[1], "europe-*");
    assert_int_equal(w->placement.nregions_exclude, 1);
    assert_string_equal(w->placement.regions_exclude[0], "us-west-*");
    assert_int_equal(w->placement.max_per_region, 4);
    assert_int_equal(w->placement.spread_clouds, 0);
    assert_int_equal(w->data_location.cloud, CORE_CLOUD_AWS);
    assert_string_equal(w->data_location.region, "us-east-1");
    assert_int_equal(w->data_bytes, 2000000000000ull);
    assert_int_equal(w->nlabels, 2);
    assert_string_equal(w->labels[0].key, "team");
    assert_string_equal(w->labels[0].value, "research");
    assert_string_equal(w->labels[1].key, "tier");
    assert_string_equal(w->labels[1].value, "1");
    assert_string_equal(w->image, "ghcr.io/x/train:v1");
    assert_int_equal(w->ncommand, 4);
    assert_string_equal(w->command[0], "python");
    assert_string_equal(w->command[2], "--epochs");
    assert_string_equal(w->command[3], "3");
    assert_int_equal(w->nenv, 1);
    assert_string_equal(w->env[0].key, "WANDB_MODE");
    assert_string_equal(w->env[0].value, "offline");
    assert_int_equal(w->nsites, 0);
    assert_true(w->nodes_loc.line > 0);
    assert_int_equal(w->replicas_loc.line, 0);
}

static void test_spec_workload_with_data_sets_has_data(void **state)
{
    /* Regression: struct spec_workload.has_data is never set by the decoder (nothing writes it),
     * so a workload with a 'data:' section reads has_data == false and a planner trusting
     * the flag would ignore data_location/data_bytes (no egress cost). Correct: true
     * exactly when 'data' was written. */
    struct fixture *f = *state;
    const struct spec *s = load_full(f);
    assert_true(workload(s, "train")->has_data);
    assert_false(workload(s, "chat")->has_data);
}

static void test_spec_full_stack_decodes_a_service_with_defaults(void **state)
{
    struct fixture *f = *state;
    const struct spec *s = load_full(f);
    const struct spec_workload *w = workload(s, "chat");
    assert_int_equal(w->kind, SPEC_KIND_SERVICE);
    assert_int_equal(w->gpu.nnames, 2);
    assert_string_equal(w->gpu.names[0], "A100-80GB");
    assert_string_equal(w->gpu.names[1], "H100");
    assert_int_equal(w->gpu.count, 2);
    assert_int_equal(w->gpu.memory_min, 40000000000ull);
    assert_int_equal(w->gpu.memory_max, 80000000000ull);
    assert_int_equal(w->count, 3);
    assert_float_equal(w->hours, 730, 1e-9); /* services: hours a month by default */
    assert_int_equal(w->hours_loc.line, 0);
    assert_int_equal(w->spot, SPEC_SPOT_AUTO);
    assert_int_equal(w->verify, SPEC_VERIFY_FULL);
    assert_int_equal(w->placement.clouds, 0);
    assert_int_equal(w->ncommand, 1);
    assert_string_equal(w->command[0], "serve --port 80");
    assert_null(w->image);
    assert_int_equal(w->nlabels, 1);
}

static void test_spec_full_stack_decodes_federated_and_batch_workloads(void **state)
{
    struct fixture *f = *state;
    const struct spec *s = load_full(f);
    const struct spec_workload *fed = workload(s, "fed");
    assert_int_equal(fed->kind, SPEC_KIND_FEDERATED);
    assert_string_equal(fed->gpu.names[0], "L4");
    assert_int_equal(fed->gpu.count, 1);
    assert_int_equal(fed->nsites, 2);
    assert_int_equal(fed->count, 2); /* one node per site */
    assert_string_equal(fed->sites[0].name, "eu");
    assert_int_equal(fed->sites[0].location.cloud, CORE_CLOUD_GCP);
    assert_string_equal(fed->sites[0].location.region, "europe-west4");
    assert_string_equal(fed->sites[1].name, "us");
    assert_int_equal(fed->sites[1].location.cloud, CORE_CLOUD_AWS);
    assert_float_equal(fed->hours, 100, 1e-9);
    const struct spec_workload *etl = workload(s, "etl");
    assert_int_equal(etl->kind, SPEC_KIND_BATCH);
    assert_string_equal(etl->gpu.names[0], "T4"); /* case-insensitive, canonical */
    assert_int_equal(etl->count, 1);
    assert_float_equal(etl->hours, 72, 1e-9);
    assert_int_equal(etl->verify, SPEC_VERIFY_NONE);
    assert_int_equal(etl->spot, SPEC_SPOT_AUTO);
}

static void test_spec_full_stack_decodes_variables_and_hooks(void **state)
{
    struct fixture *f = *state;
    const struct spec *s = load_full(f);
    const struct spec_variable *nodes = variable(s, "nodes");
    assert_int_equal(nodes->type, SPEC_VAR_NUMBER);
    assert_string_equal(nodes->value, "4");
    assert_string_equal(nodes->origin, "default");
    assert_true(nodes->used);
    assert_at(&nodes->loc, 4, 3);
    assert_int_equal(variable(s, "region")->type, SPEC_VAR_STRING);
    assert_int_equal(variable(s, "cap")->type, SPEC_VAR_NUMBER);
    const struct spec_variable *tag = variable(s, "tag");
    assert_int_equal(tag->type, SPEC_VAR_STRING);
    assert_string_equal(tag->value, "v1");
    assert_string_equal(tag->description, "image tag");
    assert_int_equal(s->nhooks, 1);
    assert_string_equal(s->hooks[0].path, "policies/check.lua");
    char expect[256];
    snprintf(expect, sizeof(expect), "%s/policies/check.lua", f->dir);
    assert_string_equal(s->hooks[0].resolved, expect);
    assert_true(f->lookups > 0); /* the fake environment was asked, not the real one */
}

static void test_spec_minimal_stack_loads_cleanly(void **state)
{
    struct fixture *f = *state;
    const struct spec *s = load_clean(f, HEAD TRAIN);
    assert_int_equal(s->nworkloads, 1);
    assert_int_equal(s->workloads[0].count, 2);
    assert_int_equal(s->default_spot, SPEC_SPOT_NEVER);
    assert_int_equal(s->default_verify, SPEC_VERIFY_QUICK);
    assert_int_equal(s->workloads[0].spot, SPEC_SPOT_NEVER);
    assert_int_equal(s->workloads[0].verify, SPEC_VERIFY_QUICK);
    assert_string_equal(s->dir, ".");
    assert_string_equal(s->state_file, ".gpuform/state.json");
    assert_int_equal(s->nvariables, 0);
    assert_int_equal(s->nhooks, 0);
}

static void test_spec_state_path_is_resolved_against_the_stack(void **state)
{
    struct fixture *f = *state;
    const struct spec *s = load_clean(f, HEAD TRAIN "state: {path: run/state.json}\n");
    assert_string_equal(s->state_path, "run/state.json");
    assert_string_equal(s->state_file, "run/state.json");
    s = load_clean(f, HEAD TRAIN "state: {path: /var/lib/g.json}\n");
    assert_string_equal(s->state_file, "/var/lib/g.json");
    write_file(f, "one.yaml", HEAD TRAIN "state: {path: run/state.json}\n");
    char path[256], expect[256];
    snprintf(path, sizeof(path), "%s/one.yaml", f->dir);
    assert_int_equal(load_path(f, path), 0);
    snprintf(expect, sizeof(expect), "%s/run/state.json", f->dir);
    assert_string_equal(f->spec->state_file, expect);
    assert_string_equal(f->spec->dir, f->dir);
}

static void test_spec_shared_state_backends_decode_their_fields(void **state)
{
    struct fixture *f = *state;
    const struct spec *s =
        load_clean(f, HEAD TRAIN "state: {backend: etcd, endpoints: [\"https://e1:2379\", "
                                 "\"https://e2:2379\"], lock_ttl: 10s}\n");
    assert_int_equal(s->state_backend, SPEC_BACKEND_ETCD);
    assert_int_equal(s->nstate_endpoints, 2);
    assert_string_equal(s->state_endpoints[1], "https://e2:2379");
    assert_string_equal(s->state_prefix, "gpuform/");
    assert_true(s->state_lock_ttl == 10.0);
    assert_null(s->state_file);
    assert_string_equal(s->state_dir, ".gpuform");
    s = load_clean(f, HEAD TRAIN "state: {backend: s3, bucket: tfstate, key: gpu/prod.json, "
                                 "region: us-east-1}\n");
    assert_int_equal(s->state_backend, SPEC_BACKEND_S3);
    assert_string_equal(s->state_bucket, "tfstate");
    assert_string_equal(s->state_key, "gpu/prod.json");
    assert_string_equal(s->state_region, "us-east-1");
    assert_null(s->state_endpoint);
}

static void test_spec_state_backend_fields_must_match_the_backend(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, HEAD TRAIN "state: {backend: etcd}\n"), -1);
    assert_non_null(find_diag(f, "state-field"));
    assert_int_equal(load(f, HEAD TRAIN "state: {backend: s3, bucket: b}\n"), -1);
    assert_non_null(find_diag(f, "state-field"));
    assert_int_equal(
        load(f, HEAD TRAIN "state: {backend: etcd, endpoints: [\"http://e:2379\"], bucket: b}\n"),
        -1);
    assert_non_null(find_diag(f, "state-field"));
    assert_int_equal(load(f, HEAD TRAIN "state: {backend: etcd, endpoints: [\"e:2379\"]}\n"), -1);
    assert_non_null(find_diag(f, "invalid-value"));
    assert_int_equal(load(f, HEAD TRAIN "state: {path: a.json, lock_ttl: 10s}\n"), -1);
    assert_int_equal(load(f, HEAD TRAIN
                          "state: {backend: etcd, endpoints: [\"http://e:2379\"], lock_ttl: 1s}\n"),
                     -1);
    assert_non_null(find_diag(f, "range"));
}

static void test_spec_gpu_aliases_and_lists_become_canonical_names(void **state)
{
    struct fixture *f = *state;
    const struct spec *s =
        load_clean(f, HEAD "workloads:\n"
                           "  a: {kind: training, hours: 1, gpu: h100-nvlink:4}\n"
                           "  b: {kind: training, hours: 1, gpu: {name: [H100-80GB, "
                           "H100, H200-SXM]}}\n"
                           "  c: {kind: training, hours: 1, gpu: {name: A100-40GB, "
                           "memory: 24GB..}}\n"
                           "  d: {kind: training, hours: 1, gpu: {name: A100-80GB, "
                           "memory: ..80GiB}}\n");
    assert_string_equal(workload(s, "a")->gpu.names[0], "H100");
    assert_int_equal(workload(s, "a")->gpu.count, 4);
    const struct spec_gpu *b = &workload(s, "b")->gpu;
    assert_int_equal(b->nnames, 2); /* H100-80GB and H100 are one model */
    assert_string_equal(b->names[0], "H100");
    assert_string_equal(b->names[1], "H200");
    assert_int_equal(b->count, 1);
    const struct spec_gpu *c = &workload(s, "c")->gpu;
    assert_string_equal(c->names[0], "A100");
    assert_int_equal(c->memory_min, 24000000000ull);
    assert_int_equal(c->memory_max, 0);
    const struct spec_gpu *d = &workload(s, "d")->gpu;
    assert_int_equal(d->memory_min, 0);
    assert_int_equal(d->memory_max, 80ull << 30);
}

/* ---- variables ---- */

#define VARS_NODES                                                                                 \
    HEAD "variables:\n"                                                                            \
         "  nodes: 4\n"                                                                            \
         "workloads:\n"                                                                            \
         "  train: {kind: training, gpu: H100:8, hours: 10, nodes: ${var.nodes}}\n"

static void test_spec_variable_default_is_used_without_overrides(void **state)
{
    struct fixture *f = *state;
    const struct spec *s = load_clean(f, VARS_NODES);
    assert_int_equal(s->workloads[0].count, 4);
    assert_string_equal(s->variables[0].origin, "default");
    assert_true(s->variables[0].used);
}

static void test_spec_environment_overrides_the_default(void **state)
{
    struct fixture *f = *state;
    set_env(f, "GPUFORM_VAR_nodes", "6");
    const struct spec *s = load_clean(f, VARS_NODES);
    assert_int_equal(s->workloads[0].count, 6);
    assert_string_equal(s->variables[0].value, "6");
    assert_string_equal(s->variables[0].origin, "environment");
}

static void test_spec_cli_var_overrides_the_environment(void **state)
{
    struct fixture *f = *state;
    set_env(f, "GPUFORM_VAR_nodes", "6");
    add_var(f, "nodes=3");
    add_var(f, "nodes=8"); /* the last one wins */
    const struct spec *s = load_clean(f, VARS_NODES);
    assert_int_equal(s->workloads[0].count, 8);
    assert_string_equal(s->variables[0].origin, "--var");
}

static void test_spec_variable_values_are_type_checked(void **state)
{
    struct fixture *f = *state;
    add_var(f, "nodes=abc");
    load_error(f, VARS_NODES, "variable-type");
    f->opts.nvars = 0;
    set_env(f, "GPUFORM_VAR_nodes", "many");
    load_error(f, VARS_NODES, "variable-type");
    f->nenv = 0;
    load_error(f, HEAD TRAIN "variables:\n  n: {type: number, default: lots}\n", "variable-type");
    load_error(f, HEAD TRAIN "variables:\n  n: {type: bool, default: 1}\n", "variable-type");
    load_error(f, HEAD TRAIN "variables:\n  n: {type: text, default: 1}\n", "invalid-value");
}

static void test_spec_cli_var_must_name_a_declared_variable(void **state)
{
    struct fixture *f = *state;
    add_var(f, "node=3");
    const struct core_diag *g = load_error(f, VARS_NODES, "undefined-variable");
    assert_non_null(strstr(g->message, "did you mean 'nodes'"));
    f->opts.nvars = 0;
    add_var(f, "nodes");
    load_error(f, VARS_NODES, "usage");
}

static void test_spec_variable_without_any_value_is_an_error(void **state)
{
    struct fixture *f = *state;
    const char *text = HEAD "variables:\n"
                            "  nodes: {type: number}\n"
                            "workloads:\n"
                            "  t: {kind: training, gpu: H100, hours: 1, nodes: ${var.nodes}}\n";
    const struct core_diag *g = load_error(f, text, "variable-unset");
    assert_non_null(strstr(g->message, "GPUFORM_VAR_nodes"));
    set_env(f, "GPUFORM_VAR_nodes", "5");
    assert_int_equal(load_clean(f, text)->workloads[0].count, 5);
}

static void test_spec_variable_types_are_inferred_from_the_default(void **state)
{
    struct fixture *f = *state;
    const struct spec *s = NULL;
    load(f, HEAD TRAIN "variables:\n"
                       "  n: 4\n"
                       "  x: 1.5e3\n"
                       "  s: \"4\"\n"
                       "  w: hello\n"
                       "  b: true\n"
                       "  q: 'false'\n"
                       "  e: {default: 7}\n"
                       "  t: {type: string, default: 7}\n");
    s = f->spec;
    assert_non_null(s);
    assert_int_equal(variable(s, "n")->type, SPEC_VAR_NUMBER);
    assert_int_equal(variable(s, "x")->type, SPEC_VAR_NUMBER);
    assert_int_equal(variable(s, "s")->type, SPEC_VAR_STRING);
    assert_int_equal(variable(s, "w")->type, SPEC_VAR_STRING);
    assert_int_equal(variable(s, "b")->type, SPEC_VAR_BOOL);
    assert_int_equal(variable(s, "q")->type, SPEC_VAR_STRING);
    assert_int_equal(variable(s, "e")->type, SPEC_VAR_NUMBER);
    assert_int_equal(variable(s, "t")->type, SPEC_VAR_STRING);
    assert_string_equal(variable(s, "t")->value, "7");
}

static void test_spec_whole_value_interpolation_keeps_the_number_type(void **state)
{
    struct fixture *f = *state;
    const struct spec *s = load_clean(f, HEAD TRAIN "variables:\n  cap: 12.5\n"
                                                    "budgets:\n  b: {hourly: ${var.cap}}\n");
    assert_true(s->budgets[0].has_hourly);
    assert_float_equal(s->budgets[0].hourly, 12.5, 1e-9);
    /* The same budget in a flow mapping with the reference written bare. */
    s = load_clean(f, HEAD TRAIN "variables:\n  cap: 3\nbudgets: {b: {monthly: ${var.cap}}}\n");
    assert_float_equal(s->budgets[0].monthly, 3, 1e-9);
}

static void test_spec_string_variable_is_not_a_number(void **state)
{
    struct fixture *f = *state;
    load_error(f, HEAD TRAIN "variables:\n  cap: \"12\"\nbudgets:\n  b: {hourly: ${var.cap}}\n",
               "type");
}

static void test_spec_embedded_interpolation_yields_a_string(void **state)
{
    struct fixture *f = *state;
    const char *text = HEAD "variables:\n"
                            "  n: 4\n"
                            "  tag: v2\n"
                            "workloads:\n"
                            "  t:\n"
                            "    kind: training\n"
                            "    gpu: H100\n"
                            "    hours: 1\n"
                            "    labels: {size: \"n${var.n}\"}\n"
                            "    run: {image: \"img:${var.tag}-${var.n}\", command: [echo, "
                            "\"${var.n}\"]}\n";
    const struct spec *s = load_clean(f, text);
    assert_string_equal(s->workloads[0].labels[0].value, "n4");
    assert_string_equal(s->workloads[0].image, "img:v2-4");
    assert_string_equal(s->workloads[0].command[1], "4");
    /* In a number field an embedded reference is a string, hence a type error. */
    load_error(f,
               HEAD "variables:\n  n: 4\nworkloads:\n"
                    "  t: {kind: training, gpu: H100, hours: 1, nodes: \"1${var.n}\"}\n",
               "type");
}

static void test_spec_double_dollar_escapes_a_reference(void **state)
{
    struct fixture *f = *state;
    const char *text = HEAD "variables:\n"
                            "  tag: v2\n"
                            "workloads:\n"
                            "  t:\n"
                            "    kind: training\n"
                            "    gpu: H100\n"
                            "    hours: 1\n"
                            "    run: {image: \"x:$${var.tag}\", env: {A: $${HOME}}}\n";
    load_warning(f, text, "unused-variable");
    const struct spec *s = f->spec;
    assert_string_equal(s->workloads[0].image, "x:${var.tag}");
    assert_string_equal(s->workloads[0].env[0].value, "${HOME}");
    assert_false(s->variables[0].used);
}

static void test_spec_env_reference_is_allowed_in_endpoints(void **state)
{
    struct fixture *f = *state;
    const char *spec = "version: 1\nstack: demo\n"
                       "clouds:\n"
                       "  aws:\n"
                       "    regions: [us-east-1]\n"
                       "    endpoint: ${env.SIM_URL}\n"
                       "    profile: \"${env.PROFILE}\"\n"
                       "workloads:\n"
                       "  t: {kind: training, gpu: H100, hours: 1}\n";
    set_env(f, "SIM_URL", "http://127.0.0.1:9000");
    set_env(f, "PROFILE", "p");
    const struct spec *s = load_clean(f, spec);
    assert_string_equal(s->clouds[0].endpoint, "http://127.0.0.1:9000");
    assert_string_equal(s->clouds[0].profile, "p");
    /* Unset: the field is absent, not an error. */
    f->nenv = 0;
    s = load_clean(f, spec);
    assert_null(s->clouds[0].endpoint);
    assert_null(s->clouds[0].profile);
    /* Set to the empty string counts as unset. */
    set_env(f, "SIM_URL", "");
    s = load_clean(f, spec);
    assert_null(s->clouds[0].endpoint);
}

static void test_spec_env_reference_is_refused_elsewhere(void **state)
{
    struct fixture *f = *state;
    set_env(f, "HOME", "/home/x");
    const struct core_diag *g =
        load_error(f,
                   HEAD "workloads:\n  t: {kind: training, gpu: H100, hours: 1, "
                        "run: {image: \"${env.HOME}\"}}\n",
                   "env-not-allowed");
    assert_non_null(strstr(g->message, "HOME"));
    load_error(f,
               "version: 1\nstack: ${env.HOME}\nclouds: {aws: {regions: [us-east-1]}}\n"
               "workloads: {t: {kind: training, gpu: H100, hours: 1}}\n",
               "env-not-allowed");
}

static void test_spec_literal_client_secret_is_refused(void **state)
{
    struct fixture *f = *state;
    const char *text = "version: 1\nstack: demo\n"
                       "clouds:\n"
                       "  azure:\n"
                       "    regions: [eastus]\n"
                       "    subscription: s\n"
                       "    resource_group: rg\n"
                       "    client_secret: hunter2\n"
                       "workloads:\n"
                       "  t: {kind: training, gpu: H100, hours: 1}\n";
    const struct core_diag *g = load_error(f, text, "secret-in-spec");
    assert_at(&g->loc, 8, 20);
    assert_null(strstr(g->message, "hunter2")); /* never echo the secret */
    /* A variable is no better than a literal. */
    load_error(f,
               "version: 1\nstack: demo\nvariables: {s: x}\n"
               "clouds: {azure: {regions: [eastus], subscription: s, resource_group: rg, "
               "client_secret: \"${var.s}\"}}\n"
               "workloads: {t: {kind: training, gpu: H100, hours: 1}}\n",
               "secret-in-spec");
}

static void test_spec_undefined_variable_gets_a_suggestion(void **state)
{
    struct fixture *f = *state;
    const char *text = HEAD "variables:\n"
                            "  nodes: 4\n"
                            "workloads:\n"
                            "  t: {kind: training, gpu: H100, hours: 1, nodes: ${var.node}}\n";
    const struct core_diag *g = load_error(f, text, "undefined-variable");
    assert_non_null(strstr(g->message, "'node'"));
    assert_non_null(strstr(g->message, "did you mean 'nodes'"));
    assert_at(&g->loc, 12, 51);
    /* The misspelt reference is not also an unused variable. */
    assert_null(find_diag(f, "unused-variable"));
    g = load_error(f, HEAD "workloads:\n  t: {kind: training, gpu: H100, hours: ${var.h}}\n",
                   "undefined-variable");
    assert_non_null(strstr(g->message, "declare it under 'variables:'"));
}

static void test_spec_unused_variable_is_a_warning(void **state)
{
    struct fixture *f = *state;
    const struct core_diag *g =
        load_warning(f, HEAD TRAIN "variables:\n  spare: 1\n", "unused-variable");
    assert_non_null(strstr(g->message, "spare"));
    assert_at(&g->loc, 16, 3);
    assert_int_equal(f->diags.warnings, 1);
    assert_non_null(f->spec);
}

static void test_spec_variable_declarations_are_checked(void **state)
{
    struct fixture *f = *state;
    load_error(f, HEAD TRAIN "variables:\n  9lives: 1\n", "invalid-name");
    load_error(f, HEAD TRAIN "variables:\n  v: {default: 1, typo: x}\n", "unknown-key");
    load_error(f, HEAD TRAIN "variables:\n  v: {default: \"${var.w}\"}\n  w: 1\n", "interpolation");
    load_error(f, HEAD TRAIN "variables:\n  v: {default: [1, 2]}\n", "type");
    load_error(f, HEAD TRAIN "variables: [a, b]\n", "type");
}

static void test_spec_malformed_references_are_errors(void **state)
{
    struct fixture *f = *state;
    const struct core_diag *g = load_error(
        f,
        HEAD "workloads:\n  t: {kind: training, gpu: H100, hours: 1, run: {image: \"a${var.x\"}}\n",
        "interpolation");
    assert_non_null(strstr(g->message, "unterminated"));
    g = load_error(
        f,
        HEAD "workloads:\n  t: {kind: training, gpu: H100, hours: 1, run: {image: ${foo.bar}}}\n",
        "interpolation");
    assert_non_null(strstr(g->message, "${foo.bar}"));
}

static void test_spec_interpolated_value_longer_than_a_mebibyte_is_an_error(void **state)
{
    /* Regression: interpolate() collects the value in a core_buf with max 1 MiB but ignores the
     * return value of core_buf_adds/addc; an append that would cross the limit fails, the
     * buffer stays below 1 MiB and the `out.len >= MAX_VALUE` check never fires, so the
     * value is silently truncated (here "${var.big}${var.big}" with 600,000 characters each
     * yields one copy, 600,000 characters) instead of the documented error. */
    struct fixture *f = *state;
    size_t n = 600000;
    const char *pre = HEAD "variables:\n  big: ";
    const char *post = "\nworkloads:\n  t: {kind: training, gpu: H100, hours: 1, run: {image: "
                       "\"${var.big}${var.big}\"}}\n";
    f->text = malloc(strlen(pre) + n + strlen(post) + 1);
    assert_non_null(f->text);
    strcpy(f->text, pre);
    memset(f->text + strlen(pre), 'x', n);
    strcpy(f->text + strlen(pre) + n, post);
    const struct core_diag *g = load_error(f, f->text, "interpolation");
    assert_non_null(strstr(g->message, "1 MiB"));
}

static void test_spec_required_field_from_an_unset_environment_variable_is_an_error(void **state)
{
    struct fixture *f = *state;
    const char *text = "version: 1\nstack: demo\n"
                       "clouds:\n"
                       "  gcp:\n"
                       "    regions: [europe-west4]\n"
                       "    project: ${env.GCP_PROJECT}\n"
                       "workloads:\n"
                       "  t: {kind: training, gpu: H100, hours: 1}\n";
    const struct core_diag *g = load_error(f, text, "env-unset");
    assert_non_null(strstr(g->message, "GCP_PROJECT"));
    assert_at(&g->loc, 6, 14);
    set_env(f, "GCP_PROJECT", "");
    load_error(f, text, "env-unset");
    f->nenv = 0;
    set_env(f, "GCP_PROJECT", "proj-7");
    assert_string_equal(load_clean(f, text)->clouds[0].project, "proj-7");
}

/* ---- decoding errors ---- */

static void test_spec_unknown_keys_get_suggestions(void **state)
{
    struct fixture *f = *state;
    const struct core_diag *g =
        load_error(f, HEAD "workloads:\n  t: {kind: training, gpu: H100, hours: 1, nodse: 2}\n",
                   "unknown-key");
    assert_non_null(strstr(g->message, "did you mean 'nodes'"));
    assert_at(&g->loc, 10, 44);
    g = load_error(f, HEAD TRAIN "budget: {}\n", "unknown-key");
    assert_non_null(strstr(g->message, "did you mean 'budgets'"));
    g = load_error(f, HEAD TRAIN "zzzzzz: 1\n", "unknown-key");
    assert_null(strstr(g->message, "did you mean"));
}

static void test_spec_unknown_gpu_region_and_cloud_are_reported(void **state)
{
    struct fixture *f = *state;
    const struct core_diag *g = load_error(
        f, HEAD "workloads:\n  t: {kind: training, gpu: H1000:8, hours: 1}\n", "unknown-gpu");
    assert_non_null(strstr(g->message, "H1000"));
    g = load_error(f, "version: 1\nstack: demo\nclouds:\n  aws:\n    regions: [us-est-1]\n" TRAIN,
                   "unknown-region");
    assert_non_null(strstr(g->message, "did you mean 'us-east-1'"));
    assert_at(&g->loc, 5, 15);
    load_error(f, "version: 1\nstack: demo\nclouds:\n  awz:\n    regions: [us-east-1]\n" TRAIN,
               "unknown-cloud");
    load_error(f,
               "version: 1\nstack: demo\nclouds:\n  gcp:\n    regions: [us-east-1]\n"
               "    project: p\n" TRAIN,
               "unknown-region");
}

static void test_spec_value_errors_have_codes(void **state)
{
    struct fixture *f = *state;
    load_error(f, HEAD "workloads:\n  t: {kind: training, gpu: H100:65, hours: 1}\n",
               "invalid-value");
    load_error(f, HEAD "workloads:\n  t: {kind: training, gpu: \"H100:\", hours: 1}\n",
               "invalid-value");
    load_error(f,
               HEAD "workloads:\n  t: {kind: training, gpu: {name: H100, count: 65}, hours: 1}\n",
               "range");
    load_error(f, HEAD "workloads:\n  t: {kind: training, gpu: H100, hours: 1, nodes: 0}\n",
               "range");
    load_error(f, HEAD "workloads:\n  t: {kind: training, gpu: H100, hours: 1, nodes: 1.5}\n",
               "type");
    load_error(f, HEAD "workloads:\n  t: {kind: training, gpu: H100, hours: 1, nodes: \"2\"}\n",
               "type");
    load_error(f, HEAD "workloads:\n  t: {kind: trainnig, gpu: H100, hours: 1}\n", "invalid-value");
    load_error(f, HEAD "workloads:\n  t: {kind: training, gpu: H100, hours: 0}\n", "range");
    load_error(f, HEAD "workloads:\n  t: {kind: training, gpu: H100, hours: 72x}\n",
               "invalid-value");
    load_error(f, HEAD "workloads:\n  t: {kind: training, gpu: H100, hours: 1, spot: maybe}\n",
               "invalid-value");
    load_error(f,
               HEAD "workloads:\n  t: {kind: training, gpu: {name: H100, memory: 80GB..40GB}, "
                    "hours: 1}\n",
               "range");
    load_error(f,
               HEAD "workloads:\n  t: {kind: training, gpu: {name: H100, memory: lots}, "
                    "hours: 1}\n",
               "invalid-value");
    load_error(f,
               HEAD "workloads:\n  t: {kind: training, gpu: H100, hours: 1, "
                    "data: {location: aws/us-east-1, size: 2T}}\n",
               "invalid-value");
    load_error(f,
               HEAD "workloads:\n  t: {kind: training, gpu: H100, hours: 1, "
                    "data: {location: us-east-1, size: 2TB}}\n",
               "invalid-value");
    load_error(f, HEAD TRAIN "budgets: {b: {hourly: -1}}\n", "range");
    load_error(f, HEAD TRAIN "hooks: [policy.py]\n", "invalid-value");
}

static void test_spec_names_are_checked(void **state)
{
    struct fixture *f = *state;
    load_error(f, HEAD "workloads:\n  Train: {kind: training, gpu: H100, hours: 1}\n",
               "invalid-name");
    load_error(f, HEAD "workloads:\n  t-: {kind: training, gpu: H100, hours: 1}\n", "invalid-name");
    load_error(f, "version: 1\nstack: My_Stack\nclouds: {aws: {regions: [us-east-1]}}\n" TRAIN,
               "invalid-name");
    load_error(f,
               HEAD "workloads:\n  t: {kind: training, gpu: H100, hours: 1, "
                    "run: {env: {1BAD: x}}}\n",
               "invalid-name");
    load_error(f,
               HEAD "workloads:\n  t: {kind: training, gpu: H100, hours: 1, "
                    "labels: {\"bad key\": x}}\n",
               "invalid-name");
    load_error(f, HEAD TRAIN "budgets: {Big: {hourly: 1}}\n", "invalid-name");
}

static void test_spec_version_must_be_one(void **state)
{
    struct fixture *f = *state;
    const char *rest = "stack: demo\nclouds: {aws: {regions: [us-east-1]}}\n" TRAIN;
    char text[1024];
    snprintf(text, sizeof(text), "version: 2\n%s", rest);
    const struct core_diag *g = load_error(f, text, "version");
    assert_at(&g->loc, 1, 10);
    snprintf(text, sizeof(text), "version: \"1\"\n%s", rest);
    load_error(f, text, "version");
    load_error(f, rest, "missing-key");
}

static void test_spec_required_sections_are_reported_missing(void **state)
{
    struct fixture *f = *state;
    const struct core_diag *g = load_error(f, "version: 1\nstack: demo\n" TRAIN, "missing-key");
    assert_non_null(strstr(g->message, "'clouds'"));
    load_error(f, HEAD, "missing-key");
    g = load_error(f, HEAD "workloads:\n  t: {gpu: H100, hours: 1}\n", "missing-key");
    assert_non_null(strstr(g->message, "'kind'"));
    g = load_error(f, HEAD "workloads:\n  t: {kind: training, hours: 1}\n", "missing-key");
    assert_non_null(strstr(g->message, "'gpu'"));
    load_error(f, "version: 1\nstack: demo\nclouds: {gcp: {regions: [europe-west4]}}\n" TRAIN,
               "missing-key");
}

static void test_spec_clouds_must_declare_a_cloud(void **state)
{
    struct fixture *f = *state;
    load_error(f, "version: 1\nstack: demo\nclouds: {}\n" TRAIN, "no-cloud");
    load_error(f, "version: 1\nstack: demo\nclouds: [aws]\n" TRAIN, "type");
}

static void test_spec_empty_variable_declaration_has_no_default(void **state)
{
    struct fixture *f = *state;
    const char *text = HEAD "variables:\n  n:\n"
                            "workloads:\n  t: {kind: training, gpu: H100, hours: 1, "
                            "run: {image: \"${var.n}\"}}\n";
    load_error(f, text, "variable-unset");
    add_var(f, "n=~"); /* not the text of an empty default: the value given */
    const struct spec *s = load_clean(f, text);
    assert_int_equal(s->variables[0].type, SPEC_VAR_STRING);
    assert_string_equal(s->workloads[0].image, "~");
}

static void test_spec_document_must_be_a_mapping(void **state)
{
    struct fixture *f = *state;
    load_error(f, "- a\n- b\n", "type");
    load_error(f, "", "empty-stack");
    load_error(f, "# nothing\n", "empty-stack");
    load_error(f, "version: 1\nversion: 1\nstack: demo\n", "duplicate-key");
    load_error(f, "a: [1\n", "yaml-syntax");
    load_error(f, HEAD TRAIN "clouds2: *nope\n", "yaml-alias");
}

/* ---- checks (parser/check.c) ---- */

static void test_check_training_with_replicas_is_a_wrong_count_key(void **state)
{
    struct fixture *f = *state;
    const struct core_diag *g =
        load_error(f, HEAD "workloads:\n  t: {kind: training, gpu: H100, hours: 1, replicas: 2}\n",
                   "wrong-count-key");
    assert_at(&g->loc, 10, 44); /* on the 'replicas' key */
    load_error(f, HEAD "workloads:\n  s: {kind: service, gpu: H100, nodes: 2}\n",
               "wrong-count-key");
    load_error(f,
               HEAD "workloads:\n  f: {kind: federated, gpu: L4, nodes: 2, "
                    "sites: {a: {location: aws/us-east-1}}}\n",
               "wrong-count-key");
    load_error(f,
               HEAD "workloads:\n  f: {kind: federated, gpu: L4, replicas: 2, "
                    "sites: {a: {location: aws/us-east-1}}}\n",
               "wrong-count-key");
}

static void test_check_training_and_batch_need_hours(void **state)
{
    struct fixture *f = *state;
    const struct core_diag *g =
        load_error(f, HEAD "workloads:\n  t: {kind: training, gpu: H100}\n", "missing-key");
    assert_non_null(strstr(g->message, "'hours'"));
    assert_at(&g->loc, 10, 3);
    load_error(f, HEAD "workloads:\n  b: {kind: batch, gpu: H100}\n", "missing-key");
}

static void test_check_federated_needs_sites_and_only_federated_has_them(void **state)
{
    struct fixture *f = *state;
    const struct core_diag *g =
        load_error(f, HEAD "workloads:\n  f: {kind: federated, gpu: L4}\n", "missing-key");
    assert_non_null(strstr(g->message, "'sites'"));
    g = load_error(f, HEAD "workloads:\n  f: {kind: federated, gpu: L4, sites: {}}\n",
                   "invalid-value");
    assert_non_null(strstr(g->message, "no site"));
    g = load_error(f,
                   HEAD "workloads:\n  t: {kind: training, gpu: H100, hours: 1, "
                        "sites: {a: {location: aws/us-east-1}}}\n",
                   "invalid-value");
    assert_non_null(strstr(g->message, "only for federated"));
}

static void test_check_service_hours_are_per_month(void **state)
{
    struct fixture *f = *state;
    const struct core_diag *g =
        load_error(f, HEAD "workloads:\n  s: {kind: service, gpu: L4, hours: 800}\n", "range");
    assert_non_null(strstr(g->message, "744"));
    const struct spec *s =
        load_clean(f, HEAD "workloads:\n  s: {kind: service, gpu: L4, hours: 744}\n");
    assert_float_equal(s->workloads[0].hours, 744, 1e-9);
    assert_int_equal(s->workloads[0].count, 1);
}

static void test_check_federated_takes_no_placement(void **state)
{
    struct fixture *f = *state;
    const struct core_diag *g = load_error(f,
                                           HEAD "workloads:\n"
                                                "  f:\n"
                                                "    kind: federated\n"
                                                "    gpu: L4\n"
                                                "    sites: {a: {location: aws/us-east-1}}\n"
                                                "    placement: {max_per_region: 1}\n",
                                           "placement-conflict");
    assert_int_equal(g->loc.line, 14);
}

static void test_check_spread_needs_enough_clouds_and_nodes(void **state)
{
    struct fixture *f = *state;
    const struct core_diag *g =
        load_error(f,
                   HEAD "workloads:\n  t: {kind: training, gpu: H100, hours: 1, nodes: 4, "
                        "placement: {spread: {clouds: 3}}}\n",
                   "placement-conflict");
    assert_non_null(strstr(g->message, "only 2"));
    g = load_error(f,
                   HEAD "workloads:\n  t: {kind: training, gpu: H100, hours: 1, nodes: 1, "
                        "placement: {spread: {clouds: 2}}}\n",
                   "placement-conflict");
    assert_non_null(strstr(g->message, "1 node"));
    load_clean(f, HEAD "workloads:\n  t: {kind: training, gpu: H100, hours: 1, nodes: 2, "
                       "placement: {spread: {clouds: 2}}}\n");
}

static void test_check_together_conflicts_with_spread_and_max_per_region(void **state)
{
    struct fixture *f = *state;
    const struct core_diag *g =
        load_error(f,
                   HEAD "workloads:\n  t: {kind: training, gpu: H100, hours: 1, nodes: 2, "
                        "placement: {together: region, spread: {clouds: 2}}}\n",
                   "placement-conflict");
    assert_int_equal(g->nnotes, 1);
    assert_non_null(strstr(g->notes[0].message, "spread"));
    g = load_error(f,
                   HEAD "workloads:\n  t: {kind: training, gpu: H100, hours: 1, nodes: 3, "
                        "placement: {together: zone, max_per_region: 2}}\n",
                   "placement-conflict");
    assert_int_equal(g->nnotes, 1);
    assert_non_null(strstr(g->notes[0].message, "max_per_region"));
}

static void test_check_max_per_region_must_fit_the_usable_regions(void **state)
{
    struct fixture *f = *state;
    /* 3 declared regions x 1 per region < 4 nodes. */
    const struct core_diag *g =
        load_error(f,
                   HEAD "workloads:\n  t: {kind: training, gpu: H100, hours: 1, nodes: 4, "
                        "placement: {max_per_region: 1}}\n",
                   "placement-conflict");
    assert_non_null(strstr(g->message, "fit only 3"));
    load_clean(f, HEAD "workloads:\n  t: {kind: training, gpu: H100, hours: 1, nodes: 3, "
                       "placement: {max_per_region: 1}}\n");
}

static void test_check_region_filters_that_leave_nothing(void **state)
{
    struct fixture *f = *state;
    load_error(f,
               HEAD "workloads:\n  t: {kind: training, gpu: H100, hours: 1, "
                    "placement: {regions: {exclude: [\"*\"]}}}\n",
               "no-region");
    const struct core_diag *g =
        load_warning(f,
                     HEAD "workloads:\n  t: {kind: training, gpu: H100, hours: 1, "
                          "placement: {regions: [\"asia-*\", \"us-*\"]}}\n",
                     "pattern-matches-nothing");
    assert_non_null(strstr(g->message, "asia-*"));
    load_error(f, "version: 1\nstack: demo\nclouds: {aws: {regions: []}}\n" TRAIN, "no-region");
}

static void test_check_undeclared_clouds_are_reported(void **state)
{
    struct fixture *f = *state;
    const struct core_diag *g =
        load_error(f,
                   HEAD "workloads:\n  t: {kind: training, gpu: H100, hours: 1, "
                        "placement: {clouds: [aws, azure]}}\n",
                   "undeclared-cloud");
    assert_non_null(strstr(g->message, "azure"));
    assert_at(&g->loc, 10, 70); /* on the list item */
    g = load_error(f,
                   HEAD "workloads:\n  f: {kind: federated, gpu: L4, "
                        "sites: {a: {location: azure/eastus}}}\n",
                   "undeclared-cloud");
    assert_non_null(strstr(g->message, "azure"));
}

static void test_check_gpu_memory_must_match_some_model(void **state)
{
    struct fixture *f = *state;
    const struct core_diag *g = load_error(f,
                                           HEAD "workloads:\n  t: {kind: training, hours: 1, "
                                                "gpu: {name: [T4, L4], memory: 40GB..}}\n",
                                           "gpu-memory");
    assert_non_null(strstr(g->message, "T4"));
    load_clean(f, HEAD "workloads:\n  t: {kind: training, hours: 1, "
                       "gpu: {name: [T4, H100], memory: 40GB..}}\n");
    load_clean(f, HEAD "workloads:\n  t: {kind: training, hours: 1, "
                       "gpu: {name: H100, memory: 80GB}}\n");
}

static void test_check_budgets_need_a_cap_and_should_match(void **state)
{
    struct fixture *f = *state;
    const struct core_diag *g =
        load_error(f, HEAD TRAIN "budgets: {b: {match: {team: x}}}\n", "missing-key");
    assert_non_null(strstr(g->message, "neither"));
    g = load_warning(f, HEAD TRAIN "budgets: {b: {hourly: 5, match: {team: nobody}}}\n",
                     "budget-matches-nothing");
    assert_at(&g->loc, 15, 11);
}

static void test_check_quota_for_an_unlisted_region_is_a_warning(void **state)
{
    struct fixture *f = *state;
    const struct core_diag *g =
        load_warning(f,
                     "version: 1\nstack: demo\nclouds:\n  aws:\n    regions: [us-east-1]\n"
                     "    quotas: {eu-west-1: 8, us-east-1: {gpus: 16}, \"*\": 0}\n" TRAIN,
                     "quota-unused");
    assert_non_null(strstr(g->message, "eu-west-1"));
    assert_int_equal(f->diags.warnings, 1);
    assert_int_equal(f->spec->clouds[0].nquotas, 3);
    assert_int_equal(f->spec->clouds[0].quotas[1].gpus, 16);
}

static void test_check_missing_hook_file_is_an_error(void **state)
{
    struct fixture *f = *state;
    const struct core_diag *g =
        load_error(f, HEAD TRAIN "hooks: [policies/nope.lua]\n", "hook-missing");
    assert_non_null(strstr(g->message, "policies/nope.lua"));
    assert_at(&g->loc, 15, 9);
}

static void test_check_stack_without_workloads_is_a_warning(void **state)
{
    struct fixture *f = *state;
    load_warning(f, HEAD "workloads: {}\n", "no-workloads");
    assert_int_equal(f->spec->nworkloads, 0);
}

static void test_check_correct_spec_triggers_no_check(void **state)
{
    struct fixture *f = *state;
    const char *text = HEAD "variables: {n: 2}\n"
                            "budgets: {b: {hourly: 50, match: {team: [a, research]}}}\n"
                            "workloads:\n"
                            "  t:\n"
                            "    kind: training\n"
                            "    gpu: {name: H100, count: 8, memory: 80GB..}\n"
                            "    nodes: ${var.n}\n"
                            "    hours: 1h30m\n"
                            "    labels: {team: research}\n"
                            "    placement: {spread: {clouds: 2}, max_per_region: 1, "
                            "regions: [\"us-*\", \"europe-*\"]}\n"
                            "  s: {kind: service, gpu: L4, replicas: 2, placement: {together: "
                            "zone, max_per_region: 2}}\n"
                            "  f: {kind: federated, gpu: L4, sites: {a: {location: aws/us-east-1}, "
                            "b: {location: gcp/europe-west4}}}\n";
    const struct spec *s = load_clean(f, text);
    assert_int_equal(s->nworkloads, 3);
    assert_float_equal(workload(s, "t")->hours, 1.5, 1e-9);
}

/* ---- spec_budget_matches ---- */

static void test_budget_without_match_covers_every_workload(void **state)
{
    (void)state;
    struct spec_budget b = {.name = "all"};
    struct spec_workload w = {.name = "w"};
    assert_true(spec_budget_matches(&b, &w));
}

static void test_budget_match_needs_every_term_and_one_of_its_values(void **state)
{
    (void)state;
    const char *teams[] = {"research", "infra"};
    const char *tiers[] = {"1"};
    struct spec_match m[2] = {
        {.key = "team", .values = teams, .nvalues = 2},
        {.key = "tier", .values = tiers, .nvalues = 1},
    };
    struct spec_budget b = {.name = "b", .match = m, .nmatch = 1};
    struct spec_label research[] = {{.key = "team", .value = "research"},
                                    {.key = "tier", .value = "1"}};
    struct spec_label infra2[] = {{.key = "tier", .value = "2"}, {.key = "team", .value = "infra"}};
    struct spec_label product[] = {{.key = "team", .value = "product"}};
    struct spec_workload w1 = {.name = "a", .labels = research, .nlabels = 2};
    struct spec_workload w2 = {.name = "b", .labels = infra2, .nlabels = 2};
    struct spec_workload w3 = {.name = "c", .labels = product, .nlabels = 1};
    struct spec_workload none = {.name = "d"};
    assert_true(spec_budget_matches(&b, &w1));
    assert_true(spec_budget_matches(&b, &w2));
    assert_false(spec_budget_matches(&b, &w3));
    assert_false(spec_budget_matches(&b, &none));
    b.nmatch = 2; /* team AND tier */
    assert_true(spec_budget_matches(&b, &w1));
    assert_false(spec_budget_matches(&b, &w2));
    assert_false(spec_budget_matches(&b, &none));
}

static void test_budget_match_compares_values_exactly(void **state)
{
    (void)state;
    const char *vals[] = {"Research"};
    struct spec_match m = {.key = "team", .values = vals, .nvalues = 1};
    struct spec_budget b = {.name = "b", .match = &m, .nmatch = 1};
    struct spec_label l = {.key = "team", .value = "research"};
    struct spec_workload w = {.name = "w", .labels = &l, .nlabels = 1};
    assert_false(spec_budget_matches(&b, &w));
    struct spec_match empty = {.key = "team", .values = NULL, .nvalues = 0};
    b.match = &empty;
    assert_false(spec_budget_matches(&b, &w));
}

static void test_budget_match_list_from_yaml(void **state)
{
    struct fixture *f = *state;
    const struct spec *s = load_clean(f, HEAD "budgets:\n  b: {hourly: 1, match: {team: [x, y], "
                                              "tier: 1}}\n"
                                              "workloads:\n"
                                              "  t: {kind: training, gpu: H100, hours: 1, "
                                              "labels: {team: y, tier: \"1\"}}\n");
    const struct spec_budget *b = &s->budgets[0];
    assert_int_equal(b->nmatch, 2);
    assert_int_equal(b->match[0].nvalues, 2);
    assert_string_equal(b->match[0].values[1], "y");
    assert_string_equal(b->match[1].values[0], "1");
    assert_true(spec_budget_matches(b, &s->workloads[0]));
}

/* ---- enum names and lookups ---- */

static void test_spec_enum_names(void **state)
{
    (void)state;
    assert_string_equal(spec_kind_name(SPEC_KIND_TRAINING), "training");
    assert_string_equal(spec_kind_name(SPEC_KIND_SERVICE), "service");
    assert_string_equal(spec_kind_name(SPEC_KIND_BATCH), "batch");
    assert_string_equal(spec_kind_name(SPEC_KIND_FEDERATED), "federated");
    assert_string_equal(spec_kind_name(SPEC_KIND_INVALID), "invalid");
    assert_string_equal(spec_spot_name(SPEC_SPOT_NEVER), "never");
    assert_string_equal(spec_spot_name(SPEC_SPOT_ALWAYS), "always");
    assert_string_equal(spec_verify_name(SPEC_VERIFY_QUICK), "quick");
    assert_string_equal(spec_verify_name(SPEC_VERIFY_FULL), "full");
}

static void test_spec_cloud_find_returns_null_for_undeclared_clouds(void **state)
{
    struct fixture *f = *state;
    const struct spec *s = load_clean(f, HEAD TRAIN);
    assert_non_null(spec_cloud_find(s, CORE_CLOUD_GCP));
    assert_null(spec_cloud_find(s, CORE_CLOUD_AZURE));
    spec_free(NULL); /* harmless */
}

/* ---- directory stacks ---- */

#define FILE_BASE "version: 1\nstack: demo\nclouds:\n  aws:\n    regions: [us-east-1]\n"

static void test_dir_files_are_merged_in_name_order(void **state)
{
    struct fixture *f = *state;
    write_file(f, "20-second.yaml",
               "version: 1\nworkloads:\n  b: {kind: batch, gpu: T4, hours: 1}\n");
    write_file(f, "10-first.yaml",
               FILE_BASE "workloads:\n  a: {kind: training, gpu: H100, hours: 1}\n");
    write_file(f, "30-third.yml",
               "workloads:\n  c: {kind: service, gpu: L4}\n"
               "budgets: {all: {monthly: 10}}\n");
    write_file(f, "README.md", "this: [is not yaml\n");
    write_file(f, ".hidden.yaml", "this: [is not yaml either\n");
    write_file(f, "notes.txt", "- nope\n");
    write_file(f, "backup.yaml~", "{{{\n");
    assert_int_equal(load_path(f, f->dir), 0);
    assert_int_equal(f->diags.n, 0);
    const struct spec *s = f->spec;
    assert_int_equal(s->nworkloads, 3);
    assert_string_equal(s->workloads[0].name, "a");
    assert_string_equal(s->workloads[1].name, "b");
    assert_string_equal(s->workloads[2].name, "c");
    assert_int_equal(s->nbudgets, 1);
    assert_string_equal(s->dir, f->dir);
    /* Locations point into the file each entry came from. */
    const char *p = s->workloads[1].loc.src->path;
    assert_non_null(strstr(p, "20-second.yaml"));
    assert_at(&s->workloads[1].loc, 3, 3);
}

static void test_dir_workload_defined_in_two_files_names_the_first(void **state)
{
    struct fixture *f = *state;
    write_file(f, "10-a.yaml",
               FILE_BASE "workloads:\n  train: {kind: training, gpu: H100, hours: 1}\n");
    write_file(f, "20-b.yaml",
               "workloads:\n  other: {kind: batch, gpu: T4, hours: 1}\n"
               "  train: {kind: training, gpu: H100, hours: 2}\n");
    assert_int_equal(load_path(f, f->dir), -1);
    const struct core_diag *g = expect_diag(f, "duplicate-definition", CORE_SEV_ERROR);
    assert_non_null(strstr(g->message, "'workloads.train'"));
    assert_non_null(strstr(g->loc.src->path, "20-b.yaml"));
    assert_at(&g->loc, 3, 3);
    assert_int_equal(g->nnotes, 1);
    assert_non_null(g->notes[0].loc.src);
    assert_non_null(strstr(g->notes[0].loc.src->path, "10-a.yaml"));
    assert_at(&g->notes[0].loc, 7, 3);
}

static void test_dir_three_definitions_all_name_the_first_file(void **state)
{
    /* Regression: cross_file_duplicates() compares neighbours after sorting, so with the same
     * workload in 10-a, 20-b and 30-c the error at 30-c.yaml carries the note "first
     * defined here" pointing at 20-b.yaml, which is not the first definition. Correct:
     * every repeated definition's note names 10-a.yaml. */
    struct fixture *f = *state;
    write_file(f, "10-a.yaml",
               FILE_BASE "workloads:\n  w: {kind: training, gpu: H100, hours: 1}\n");
    write_file(f, "20-b.yaml", "workloads:\n  w: {kind: training, gpu: H100, hours: 2}\n");
    write_file(f, "30-c.yaml", "workloads:\n  w: {kind: training, gpu: H100, hours: 3}\n");
    assert_int_equal(load_path(f, f->dir), -1);
    size_t seen = 0;
    for (size_t i = 0; i < f->diags.n; i++) {
        const struct core_diag *g = &f->diags.items[i];
        if (strcmp(g->code, "duplicate-definition") != 0)
            continue;
        seen++;
        assert_int_equal(g->nnotes, 1);
        assert_non_null(strstr(g->notes[0].loc.src->path, "10-a.yaml"));
    }
    assert_int_equal(seen, 2);
}

static void test_dir_top_level_value_in_two_files_is_an_error(void **state)
{
    struct fixture *f = *state;
    write_file(f, "a.yaml", FILE_BASE "workloads:\n  t: {kind: training, gpu: H100, hours: 1}\n");
    write_file(f, "b.yaml", "stack: other\n");
    assert_int_equal(load_path(f, f->dir), -1);
    const struct core_diag *g = expect_diag(f, "duplicate-definition", CORE_SEV_ERROR);
    assert_non_null(strstr(g->message, "'stack'"));
    assert_non_null(strstr(g->notes[0].loc.src->path, "a.yaml"));
}

static void test_dir_version_may_repeat_but_not_differ(void **state)
{
    struct fixture *f = *state;
    write_file(f, "a.yaml", FILE_BASE "workloads:\n  t: {kind: training, gpu: H100, hours: 1}\n");
    write_file(f, "b.yaml", "version: 1\nbudgets: {x: {hourly: 1}}\n");
    assert_int_equal(load_path(f, f->dir), 0);
    assert_int_equal(f->diags.n, 0);
    write_file(f, "c.yaml", "version: 2\n");
    assert_int_equal(load_path(f, f->dir), -1);
    expect_diag(f, "duplicate-definition", CORE_SEV_ERROR);
}

static void test_dir_sections_merge_across_files(void **state)
{
    struct fixture *f = *state;
    write_file(f, "a.yaml",
               "version: 1\nstack: demo\nclouds:\n  aws: {regions: [us-east-1]}\n"
               "variables: {n: 2}\ndefaults: {spot: always}\n");
    write_file(f, "b.yaml",
               "clouds:\n  gcp: {regions: [europe-west4], project: p}\n"
               "defaults: {verify: none}\n"
               "workloads:\n  t: {kind: training, gpu: H100, hours: 1, nodes: ${var.n}}\n");
    assert_int_equal(load_path(f, f->dir), 0);
    const struct spec *s = f->spec;
    assert_int_equal(s->nclouds, 2);
    assert_int_equal(s->default_spot, SPEC_SPOT_ALWAYS);
    assert_int_equal(s->default_verify, SPEC_VERIFY_NONE);
    assert_int_equal(s->workloads[0].count, 2);
    assert_int_equal(s->workloads[0].spot, SPEC_SPOT_ALWAYS);
}

static void test_dir_empty_directory_has_no_spec_files(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load_path(f, f->dir), -1);
    const struct core_diag *g = expect_diag(f, "no-spec-files", CORE_SEV_ERROR);
    assert_non_null(strstr(g->message, f->dir));
    write_file(f, "README.md", "# docs\n");
    write_file(f, ".secret.yaml", FILE_BASE);
    assert_int_equal(load_path(f, f->dir), -1);
    expect_diag(f, "no-spec-files", CORE_SEV_ERROR);
}

static void test_dir_missing_path_is_a_read_error(void **state)
{
    struct fixture *f = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/does-not-exist", f->dir);
    assert_int_equal(load_path(f, path), -1);
    expect_diag(f, "file-read", CORE_SEV_ERROR);
}

static void test_dir_broken_file_stops_the_stack(void **state)
{
    struct fixture *f = *state;
    write_file(f, "a.yaml", FILE_BASE "workloads:\n  t: {kind: training, gpu: H100, hours: 1}\n");
    write_file(f, "b.yaml", "budgets: [unclosed\n");
    assert_int_equal(load_path(f, f->dir), -1);
    const struct core_diag *g = expect_diag(f, "yaml-syntax", CORE_SEV_ERROR);
    assert_non_null(strstr(g->loc.src->path, "b.yaml"));
}

static void test_dir_empty_file_is_a_warning_among_others(void **state)
{
    struct fixture *f = *state;
    write_file(f, "a.yaml", FILE_BASE "workloads:\n  t: {kind: training, gpu: H100, hours: 1}\n");
    write_file(f, "b.yaml", "# nothing yet\n");
    assert_int_equal(load_path(f, f->dir), 0);
    expect_diag(f, "empty-file", CORE_SEV_WARNING);
    write_file(f, "a.yaml", "");
    assert_int_equal(load_path(f, f->dir), -1);
    expect_diag(f, "empty-stack", CORE_SEV_ERROR);
}

static void test_dir_file_over_the_size_limit_is_refused(void **state)
{
    struct fixture *f = *state;
    write_file(f, "a.yaml", FILE_BASE "workloads:\n  t: {kind: training, gpu: H100, hours: 1}\n");
    f->opts.max_file_size = 32;
    assert_int_equal(load_path(f, f->dir), -1);
    expect_diag(f, "file-too-large", CORE_SEV_ERROR);
    f->opts.max_file_size = 4096;
    assert_int_equal(load_path(f, f->dir), 0);
}

static void test_dir_single_file_path_uses_its_directory(void **state)
{
    struct fixture *f = *state;
    write_file(f, "sub/stack.yaml", HEAD TRAIN "hooks: [h/p.lua]\n");
    write_file(f, "sub/h/p.lua", "return 1\n");
    char path[256], expect[256];
    snprintf(path, sizeof(path), "%s/sub/stack.yaml", f->dir);
    assert_int_equal(load_path(f, path), 0);
    snprintf(expect, sizeof(expect), "%s/sub", f->dir);
    assert_string_equal(f->spec->dir, expect);
    snprintf(expect, sizeof(expect), "%s/sub/h/p.lua", f->dir);
    assert_string_equal(f->spec->hooks[0].resolved, expect);
    snprintf(expect, sizeof(expect), "%s/sub/.gpuform/state.json", f->dir);
    assert_string_equal(f->spec->state_file, expect);
}

/* ---- limits ---- */

static void test_spec_error_cap_stops_cleanly(void **state)
{
    struct fixture *f = *state;
    char *text = malloc(64 * 1024);
    assert_non_null(text);
    f->text = text;
    strcpy(text, HEAD "workloads:\n");
    for (int i = 0; i < 200; i++) {
        char line[128];
        snprintf(line, sizeof(line), "  w%d: {kind: nope, gpu: X%d}\n", i, i);
        strcat(text, line);
    }
    reset(f);
    core_diags_release(&f->diags);
    core_diags_init(&f->diags, 5);
    struct spec *out = (struct spec *)f;
    assert_int_equal(spec_load_buffer("many.yaml", text, strlen(text), &f->opts, &f->diags, &out),
                     -1);
    assert_null(out);
    assert_int_equal(f->diags.errors, 5);
    assert_true(core_diags_full(&f->diags));
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, spec_setup, spec_teardown)
    const struct CMUnitTest tests[] = {
        T(test_spec_full_stack_decodes_top_level_fields),
        T(test_spec_full_stack_decodes_clouds),
        T(test_spec_full_stack_decodes_budgets),
        T(test_spec_full_stack_decodes_a_training_workload),
        T(test_spec_workload_with_data_sets_has_data),
        T(test_spec_full_stack_decodes_a_service_with_defaults),
        T(test_spec_full_stack_decodes_federated_and_batch_workloads),
        T(test_spec_full_stack_decodes_variables_and_hooks),
        T(test_spec_minimal_stack_loads_cleanly),
        T(test_spec_state_path_is_resolved_against_the_stack),
        T(test_spec_shared_state_backends_decode_their_fields),
        T(test_spec_state_backend_fields_must_match_the_backend),
        T(test_spec_gpu_aliases_and_lists_become_canonical_names),
        T(test_spec_variable_default_is_used_without_overrides),
        T(test_spec_environment_overrides_the_default),
        T(test_spec_cli_var_overrides_the_environment),
        T(test_spec_variable_values_are_type_checked),
        T(test_spec_cli_var_must_name_a_declared_variable),
        T(test_spec_variable_without_any_value_is_an_error),
        T(test_spec_variable_types_are_inferred_from_the_default),
        T(test_spec_whole_value_interpolation_keeps_the_number_type),
        T(test_spec_string_variable_is_not_a_number),
        T(test_spec_embedded_interpolation_yields_a_string),
        T(test_spec_double_dollar_escapes_a_reference),
        T(test_spec_env_reference_is_allowed_in_endpoints),
        T(test_spec_env_reference_is_refused_elsewhere),
        T(test_spec_literal_client_secret_is_refused),
        T(test_spec_undefined_variable_gets_a_suggestion),
        T(test_spec_unused_variable_is_a_warning),
        T(test_spec_variable_declarations_are_checked),
        T(test_spec_malformed_references_are_errors),
        T(test_spec_interpolated_value_longer_than_a_mebibyte_is_an_error),
        T(test_spec_required_field_from_an_unset_environment_variable_is_an_error),
        T(test_spec_unknown_keys_get_suggestions),
        T(test_spec_unknown_gpu_region_and_cloud_are_reported),
        T(test_spec_value_errors_have_codes),
        T(test_spec_names_are_checked),
        T(test_spec_version_must_be_one),
        T(test_spec_required_sections_are_reported_missing),
        T(test_spec_clouds_must_declare_a_cloud),
        T(test_spec_empty_variable_declaration_has_no_default),
        T(test_spec_document_must_be_a_mapping),
        T(test_check_training_with_replicas_is_a_wrong_count_key),
        T(test_check_training_and_batch_need_hours),
        T(test_check_federated_needs_sites_and_only_federated_has_them),
        T(test_check_service_hours_are_per_month),
        T(test_check_federated_takes_no_placement),
        T(test_check_spread_needs_enough_clouds_and_nodes),
        T(test_check_together_conflicts_with_spread_and_max_per_region),
        T(test_check_max_per_region_must_fit_the_usable_regions),
        T(test_check_region_filters_that_leave_nothing),
        T(test_check_undeclared_clouds_are_reported),
        T(test_check_gpu_memory_must_match_some_model),
        T(test_check_budgets_need_a_cap_and_should_match),
        T(test_check_quota_for_an_unlisted_region_is_a_warning),
        T(test_check_missing_hook_file_is_an_error),
        T(test_check_stack_without_workloads_is_a_warning),
        T(test_check_correct_spec_triggers_no_check),
        cmocka_unit_test(test_budget_without_match_covers_every_workload),
        cmocka_unit_test(test_budget_match_needs_every_term_and_one_of_its_values),
        cmocka_unit_test(test_budget_match_compares_values_exactly),
        T(test_budget_match_list_from_yaml),
        cmocka_unit_test(test_spec_enum_names),
        T(test_spec_cloud_find_returns_null_for_undeclared_clouds),
        T(test_dir_files_are_merged_in_name_order),
        T(test_dir_workload_defined_in_two_files_names_the_first),
        T(test_dir_three_definitions_all_name_the_first_file),
        T(test_dir_top_level_value_in_two_files_is_an_error),
        T(test_dir_version_may_repeat_but_not_differ),
        T(test_dir_sections_merge_across_files),
        T(test_dir_empty_directory_has_no_spec_files),
        T(test_dir_missing_path_is_a_read_error),
        T(test_dir_broken_file_stops_the_stack),
        T(test_dir_empty_file_is_a_warning_among_others),
        T(test_dir_file_over_the_size_limit_is_refused),
        T(test_dir_single_file_path_uses_its_directory),
        T(test_spec_error_cap_stops_cleanly),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
