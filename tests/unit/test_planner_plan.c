/*
 * Unit tests for the placement compiler (planner/plan*.c): each rule alone on a small
 * catalog written in code, the messages of stacks that can't be placed, stability,
 * determinism, tiny random instances against exhaustive search, and larger random ones
 * where an independent checker (plan_testlib.h) confirms every rule holds.
 */
#include "planner/plan.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "planner/plan_render.h"
#include "plan_testlib.h"

/* A catalog with one or two offers per (cloud, region, GPU), prices made up but shaped
 * like the real ones. */
static const struct toffer base_offers[] = {
    {"aws", "us-east-1", "us-east-1a", "g5.xlarge", "A10G", 1, 1.006, 0.40},
    {"aws", "us-east-1", "us-east-1b", "g5.xlarge", "A10G", 1, 1.006, 0.35},
    {"aws", "us-west-2", "us-west-2a", "g5.xlarge", "A10G", 1, 1.10, 0.30},
    {"aws", "eu-west-1", "eu-west-1a", "g5.xlarge", "A10G", 1, 1.20, -1},
    {"aws", "us-east-1", "us-east-1a", "p5.48xlarge", "H100", 8, 98.32, 40},
    {"aws", "us-west-2", "us-west-2a", "p5.48xlarge", "H100", 8, 90.00, -1},
    {"aws", "us-east-1", "us-east-1a", "g6.xlarge", "L4", 1, 0.80, 0.30},
    {"gcp", "us-central1", "us-central1-a", "g2-standard-4", "L4", 1, 0.70, 0.25},
    {"gcp", "europe-west4", "europe-west4-a", "g2-standard-4", "L4", 1, 0.75, 0.28},
    {"gcp", "us-central1", "us-central1-a", "a3-highgpu-8g", "H100", 8, 88.00, 30},
    {"azure", "eastus", "", "Standard_NV36ads_A10_v5", "A10", 1, 3.20, 1.1},
    {"azure", "eastus", "", "Standard_NC24ads_A100_v4", "A100-80GB", 1, 3.67, 1.2},
    {"aws", "us-east-1", "us-east-1a", "g4dn.xlarge", "T4", 1, 0.526, 0.20},
    {"gcp", "us-central1", "us-central1-a", "n1-standard-8-t4", "T4", 1, 0.55, -1},
};
#define NBASE (sizeof(base_offers) / sizeof(base_offers[0]))

struct fixture {
    struct core_diags diags;
    struct spec *spec;
    struct plan_catalog *cat;
    struct plan_result *res;
    struct plan_options opts;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    core_diags_init(&f->diags, 0);
    f->cat = tl_catalog(base_offers, NBASE);
    *state = f;
    return f->cat ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    plan_result_free(f->res);
    spec_free(f->spec);
    tl_catalog_free(f->cat);
    core_diags_release(&f->diags);
    free(f);
    return 0;
}

/* Loads the spec (which must be valid) and plans it; returns plan_solve's status. */
static int plan_text(struct fixture *f, const char *yaml)
{
    plan_result_free(f->res);
    f->res = NULL;
    spec_free(f->spec);
    f->spec = tl_spec(yaml, &f->diags);
    if (!f->spec) {
        core_diags_render(&f->diags, CORE_DIAG_TEXT, false, stderr);
        fail_msg("spec does not load");
    }
    int rc = plan_solve(f->spec, f->cat, &f->opts, &f->diags, &f->res);
    if (rc == 0) {
        const char *bad = tl_check(f->spec, f->res);
        if (bad)
            fail_msg("plan breaks a rule: %s", bad);
    }
    return rc;
}

static const struct plan_node *node(struct fixture *f, const char *address)
{
    for (size_t i = 0; f->res && i < f->res->nnodes; i++)
        if (!strcmp(f->res->nodes[i].address, address))
            return &f->res->nodes[i];
    fail_msg("no node %s", address);
    return NULL;
}

static void assert_place(const struct plan_node *n, const char *region, const char *zone,
                         const char *type)
{
    assert_string_equal(n->offer->region, region);
    if (zone)
        assert_string_equal(n->offer->zone, zone);
    if (type)
        assert_string_equal(n->offer->instance_type, type);
}

/* The message of the only error, or fails. */
static const char *only_error(struct fixture *f, const char *code)
{
    assert_int_equal(f->diags.errors, 1);
    for (size_t i = 0; i < f->diags.n; i++)
        if (f->diags.items[i].severity == CORE_SEV_ERROR) {
            assert_string_equal(f->diags.items[i].code, code);
            return f->diags.items[i].message;
        }
    return "";
}

/* Copies tmpl with its one "%s" replaced by value (no printf: the templates are data). */
static void fill(char *out, size_t size, const char *tmpl, const char *value)
{
    const char *at = strstr(tmpl, "%s");
    assert_non_null(at);
    size_t pre = (size_t)(at - tmpl);
    assert_true(pre + strlen(value) + strlen(at + 2) < size);
    memcpy(out, tmpl, pre);
    strcpy(out + pre, value);
    strcat(out, at + 2);
}

#define HEAD                                                                                       \
    "version: 1\n"                                                                                 \
    "stack: t\n"

/* ---- each rule alone ---- */

static void test_plan_picks_the_cheapest_offer_with_catalog_order_breaking_ties(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(plan_text(f, HEAD "clouds: { aws: { regions: [us-east-1, us-west-2] } }\n"
                                       "workloads:\n"
                                       "  finetune: { kind: training, gpu: A10G:1, hours: 4 }\n"),
                     0);
    assert_int_equal(f->res->nnodes, 1);
    const struct plan_node *n = node(f, "finetune[0]");
    /* us-east-1a and -1b cost the same: the catalog order (zone a first) decides. */
    assert_place(n, "us-east-1", "us-east-1a", "g5.xlarge");
    assert_false(n->spot);
    assert_true(tl_close(n->cost, 4.024));
    assert_true(tl_close(f->res->total_cost, 4.024));
    assert_true(f->res->gap == 0);
    assert_true(tl_close(f->res->lower_bound, 4.024));
    assert_string_equal(f->res->solver, "fast");
}

static void test_plan_matches_gpu_names_and_count(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(plan_text(f, HEAD
                               "clouds:\n"
                               "  aws: { regions: [us-east-1, us-west-2] }\n"
                               "  gcp: { project: p, regions: [us-central1] }\n"
                               "workloads:\n"
                               "  small: { kind: training, gpu: { name: [L4, T4] }, hours: 1 }\n"
                               "  big: { kind: training, gpu: H100:8, hours: 1 }\n"),
                     0);
    assert_place(node(f, "small[0]"), "us-east-1", NULL, "g4dn.xlarge");
    assert_place(node(f, "big[0]"), "us-central1", NULL, "a3-highgpu-8g");
}

static void test_plan_compares_memory_with_the_datasheet(void **state)
{
    struct fixture *f = *state;
    /* T4 has 16 GB: out of 20GB..; A10G has 24 GB. */
    assert_int_equal(plan_text(f, HEAD "clouds: { aws: { regions: [us-east-1] } }\n"
                                       "workloads:\n"
                                       "  w: { kind: training, hours: 1,\n"
                                       "       gpu: { name: [A10G, T4], memory: 20GB.. } }\n"),
                     0);
    assert_place(node(f, "w[0]"), "us-east-1", NULL, "g5.xlarge");
}

static void test_plan_uses_only_allowed_clouds(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(plan_text(f, HEAD "clouds:\n"
                                       "  aws: { regions: [us-east-1] }\n"
                                       "  gcp: { project: p, regions: [us-central1] }\n"
                                       "workloads:\n"
                                       "  w: { kind: training, gpu: T4, hours: 1,\n"
                                       "       placement: { clouds: [gcp] } }\n"),
                     0);
    assert_place(node(f, "w[0]"), "us-central1", NULL, "n1-standard-8-t4");
}

static void test_plan_uses_declared_regions_filtered_by_globs(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(plan_text(f, HEAD
                               "clouds: { aws: { regions: [us-east-1, us-west-2, eu-west-1] } }\n"
                               "workloads:\n"
                               "  w: { kind: training, gpu: A10G, hours: 1,\n"
                               "       placement: { regions: { include: [\"us-*\"],\n"
                               "                              exclude: [\"us-east-*\"] } } }\n"),
                     0);
    assert_place(node(f, "w[0]"), "us-west-2", NULL, NULL);
    /* Undeclared regions are never used, even when cheaper. */
    assert_int_equal(plan_text(f, HEAD "clouds: { aws: { regions: [eu-west-1] } }\n"
                                       "workloads:\n"
                                       "  w: { kind: training, gpu: A10G, hours: 1 }\n"),
                     0);
    assert_place(node(f, "w[0]"), "eu-west-1", NULL, NULL);
}

static void test_plan_follows_the_spot_policy(void **state)
{
    struct fixture *f = *state;
    const char *fmt = HEAD "clouds: { aws: { regions: [us-east-1, eu-west-1] } }\n"
                           "workloads:\n"
                           "  w: { kind: training, gpu: A10G, hours: 10, spot: %s }\n";
    char yaml[512];
    fill(yaml, sizeof(yaml), fmt, "never");
    assert_int_equal(plan_text(f, yaml), 0);
    assert_false(node(f, "w[0]")->spot);
    assert_true(tl_close(node(f, "w[0]")->hourly, 1.006));
    fill(yaml, sizeof(yaml), fmt, "always");
    assert_int_equal(plan_text(f, yaml), 0);
    assert_true(node(f, "w[0]")->spot);
    assert_place(node(f, "w[0]"), "us-east-1", "us-east-1b", NULL);
    assert_true(tl_close(node(f, "w[0]")->hourly, 0.35));
    fill(yaml, sizeof(yaml), fmt, "auto");
    assert_int_equal(plan_text(f, yaml), 0);
    assert_true(node(f, "w[0]")->spot);
    assert_true(tl_close(node(f, "w[0]")->cost, 3.5));
    /* always: an offer without a spot price is out. */
    assert_int_equal(plan_text(f,
                               HEAD "clouds: { aws: { regions: [eu-west-1] } }\n"
                                    "workloads:\n"
                                    "  w: { kind: training, gpu: A10G, hours: 1, spot: always }\n"),
                     -1);
}

static void test_plan_keeps_together_nodes_in_one_region(void **state)
{
    struct fixture *f = *state;
    const char *fmt = HEAD "clouds: { aws: { regions: [us-east-1, us-west-2],\n"
                           "                 quotas: { us-east-1: 2 } } }\n"
                           "workloads:\n"
                           "  w: { kind: training, gpu: A10G, nodes: 3, hours: 1%s }\n";
    char yaml[512];
    fill(yaml, sizeof(yaml), fmt, "");
    assert_int_equal(plan_text(f, yaml), 0);
    assert_place(node(f, "w[0]"), "us-east-1", NULL, NULL);
    assert_place(node(f, "w[1]"), "us-east-1", NULL, NULL);
    assert_place(node(f, "w[2]"), "us-west-2", NULL, NULL);
    fill(yaml, sizeof(yaml), fmt, ", placement: { together: region }");
    assert_int_equal(plan_text(f, yaml), 0);
    for (int i = 0; i < 3; i++) {
        char a[16];
        snprintf(a, sizeof(a), "w[%d]", i);
        assert_place(node(f, a), "us-west-2", NULL, NULL);
    }
    assert_true(tl_close(f->res->total_cost, 3.30));
}

static void test_plan_keeps_together_zone_nodes_in_one_zone(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(plan_text(f, HEAD "clouds: { aws: { regions: [us-east-1] } }\n"
                                       "workloads:\n"
                                       "  w: { kind: batch, gpu: A10G, nodes: 4, hours: 1,\n"
                                       "       spot: always, placement: { together: zone } }\n"),
                     0);
    for (int i = 0; i < 4; i++) {
        char a[16];
        snprintf(a, sizeof(a), "w[%d]", i);
        assert_place(node(f, a), "us-east-1", "us-east-1b", NULL);
    }
}

static void test_plan_spreads_over_clouds(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(plan_text(f,
                               HEAD "clouds:\n"
                                    "  aws: { regions: [us-east-1] }\n"
                                    "  gcp: { project: p, regions: [us-central1, europe-west4] }\n"
                                    "workloads:\n"
                                    "  api: { kind: service, gpu: L4, replicas: 3,\n"
                                    "         placement: { spread: { clouds: 2 } } }\n"),
                     0);
    /* Two on gcp's cheapest region, one on aws: cheaper than any other pair of clouds. */
    assert_place(node(f, "api[0]"), "us-east-1", NULL, "g6.xlarge");
    assert_place(node(f, "api[1]"), "us-central1", NULL, NULL);
    assert_place(node(f, "api[2]"), "us-central1", NULL, NULL);
    assert_true(tl_close(f->res->hourly, 2.20));
    assert_true(tl_close(f->res->total_cost, 2.20 * 730));
}

static void test_plan_caps_nodes_per_region(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(plan_text(f,
                               HEAD "clouds:\n"
                                    "  gcp: { project: p, regions: [us-central1, europe-west4] }\n"
                                    "workloads:\n"
                                    "  api: { kind: service, gpu: L4, replicas: 3,\n"
                                    "         placement: { max_per_region: 2 } }\n"),
                     0);
    assert_place(node(f, "api[0]"), "europe-west4", NULL, NULL);
    assert_place(node(f, "api[1]"), "us-central1", NULL, NULL);
    assert_place(node(f, "api[2]"), "us-central1", NULL, NULL);
}

static void test_plan_shares_quotas_between_workloads(void **state)
{
    struct fixture *f = *state;
    const char *fmt = HEAD "clouds: { aws: { regions: [us-east-1, us-west-2],\n"
                           "                 quotas: { %s: 8 } } }\n"
                           "workloads:\n"
                           "  a: { kind: training, gpu: H100:8, hours: 10 }\n"
                           "  b: { kind: training, gpu: H100:8, hours: 20 }\n";
    char yaml[512];
    fill(yaml, sizeof(yaml), fmt, "us-west-2");
    assert_int_equal(plan_text(f, yaml), 0);
    /* The longer job gets the cheaper region. */
    assert_place(node(f, "a[0]"), "us-east-1", NULL, NULL);
    assert_place(node(f, "b[0]"), "us-west-2", NULL, NULL);
    assert_true(tl_close(f->res->total_cost, 983.2 + 1800));
    assert_true(f->res->gap == 0);
    /* "*" caps each region not named. */
    fill(yaml, sizeof(yaml), fmt, "\"*\"");
    assert_int_equal(plan_text(f, yaml), 0);
    assert_true(strcmp(node(f, "a[0]")->offer->region, node(f, "b[0]")->offer->region) != 0);
}

static void test_plan_pays_egress_and_respects_budgets(void **state)
{
    struct fixture *f = *state;
    /* 10 TB in us-west-2: running in us-east-1 costs 10,000 GB x $0.02 of egress. */
    const char *fmt = HEAD "clouds: { aws: { regions: [us-east-1, us-west-2] } }\n"
                           "%s"
                           "workloads:\n"
                           "  w: { kind: training, gpu: A10G, hours: 100,\n"
                           "       data: { location: aws/us-west-2, size: 10TB } }\n";
    char yaml[512];
    fill(yaml, sizeof(yaml), fmt, "");
    assert_int_equal(plan_text(f, yaml), 0);
    assert_place(node(f, "w[0]"), "us-west-2", NULL, NULL);
    assert_true(tl_close(node(f, "w[0]")->egress, 0));
    /* An hourly budget below us-west-2's price forces us-east-1 and its egress. */
    fill(yaml, sizeof(yaml), fmt, "budgets: { cap: { hourly: 1.05 } }\n");
    assert_int_equal(plan_text(f, yaml), 0);
    assert_place(node(f, "w[0]"), "us-east-1", NULL, NULL);
    assert_true(tl_close(node(f, "w[0]")->egress, 200));
    assert_true(tl_close(f->res->total_cost, 300.6));
    assert_true(tl_close(f->res->budgets[0].hourly, 1.006));
    /* The same as a monthly cap: 1.05 x 730. */
    fill(yaml, sizeof(yaml), fmt, "budgets: { cap: { monthly: 766.5 } }\n");
    assert_int_equal(plan_text(f, yaml), 0);
    assert_place(node(f, "w[0]"), "us-east-1", NULL, NULL);
    /* Data in another cloud: internet egress of the data's cloud (gcp $0.12/GB). */
    assert_int_equal(plan_text(f, HEAD "clouds: { aws: { regions: [us-east-1] } }\n"
                                       "workloads:\n"
                                       "  w: { kind: training, gpu: A10G, hours: 1,\n"
                                       "       data: { location: gcp/us-central1, size: 1TB } }\n"),
                     0);
    assert_true(tl_close(node(f, "w[0]")->egress, 120));
}

static void test_plan_pins_federated_sites(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(plan_text(f, HEAD "clouds:\n"
                                       "  aws: { regions: [us-west-2] }\n"
                                       "  gcp: { project: p, regions: [us-central1] }\n"
                                       "workloads:\n"
                                       "  fl:\n"
                                       "    kind: federated\n"
                                       "    gpu: { name: [L4, A10G] }\n"
                                       "    sites:\n"
                                       "      virginia: { location: aws/us-east-1 }\n"
                                       "      paris: { location: gcp/europe-west4 }\n"),
                     0);
    assert_int_equal(f->res->nnodes, 2);
    /* Sorted by site name; each in its site's region, even one not declared. */
    assert_string_equal(f->res->nodes[0].address, "fl[paris]");
    assert_place(&f->res->nodes[0], "europe-west4", NULL, "g2-standard-4");
    assert_string_equal(f->res->nodes[1].address, "fl[virginia]");
    assert_place(&f->res->nodes[1], "us-east-1", NULL, "g6.xlarge");
    assert_int_equal(f->res->nodes[1].index, -1);
    assert_ptr_equal(f->res->nodes[1].site, &f->spec->workloads[0].sites[0]);
}

/* ---- stacks that can't be placed ---- */

static void test_plan_counts_why_no_offer_fits(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(plan_text(f, HEAD "clouds: { aws: { regions: [us-east-1],\n"
                                       "                 quotas: { us-east-1: 4 } } }\n"
                                       "workloads:\n"
                                       "  llm: { kind: training, gpu: H100:8, hours: 1 }\n"),
                     -1);
    assert_string_equal(only_error(f, "no-placement"),
                        "llm: 0 of 14 offers fit: 11 wrong GPU, 1 cloud not allowed, 1 region "
                        "not declared, 1 over quota aws/us-east-1 (0 of 4 GPUs used)");
    assert_int_equal(f->diags.items[0].loc.line, 6);
    assert_int_equal(f->diags.items[0].nnotes, 1);
    assert_string_equal(f->diags.items[0].notes[0].message,
                        "aws's quota: 4 GPUs in us-east-1, set here");
}

static void test_plan_names_the_quota_other_workloads_use(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(plan_text(f, HEAD "clouds: { aws: { regions: [us-east-1],\n"
                                       "                 quotas: { us-east-1: 8 } } }\n"
                                       "workloads:\n"
                                       "  a: { kind: training, gpu: H100:8, hours: 1 }\n"
                                       "  b: { kind: training, gpu: H100:8, hours: 2 }\n"),
                     -1);
    const char *msg = only_error(f, "no-placement");
    assert_non_null(strstr(msg, "0 of 14 offers fit:"));
    assert_non_null(strstr(msg, "1 over quota aws/us-east-1 (8 of 8 GPUs used)"));
}

static void test_plan_explains_together_and_spread_failures(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(plan_text(f, HEAD "clouds: { aws: { regions: [us-east-1, us-west-2],\n"
                                       "                 quotas: { \"*\": 2 } } }\n"
                                       "workloads:\n"
                                       "  w: { kind: training, gpu: A10G, nodes: 3, hours: 1,\n"
                                       "       placement: { together: region } }\n"),
                     -1);
    assert_string_equal(only_error(f, "no-placement"),
                        "w: 3 of 14 offers fit, but together: region needs all 3 nodes (3 GPUs) "
                        "in one region and the most any has room for is 2 (aws/us-east-1: 0 of 2 "
                        "GPUs used); the others: 10 wrong GPU, 1 region not declared");
}

static void test_plan_names_the_cheapest_total_a_budget_needs(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(plan_text(f,
                               HEAD "clouds: { aws: { regions: [us-east-1] } }\n"
                                    "budgets: { team: { hourly: 100 } }\n"
                                    "workloads:\n"
                                    "  a: { kind: training, gpu: H100:8, hours: 1 }\n"
                                    "  b: { kind: training, gpu: A10G:1, nodes: 2, hours: 1 }\n"),
                     -1);
    assert_string_equal(only_error(f, "over-budget"),
                        "budget 'team' can't be met: the cheapest placement of the workloads it "
                        "covers costs $100.33/h, over its cap of $100.00/h; raise 'hourly' to at "
                        "least that, or ask for less");
    assert_int_equal(f->diags.items[0].loc.line, 4);
}

/* ---- stability ---- */

static void test_plan_keeps_nodes_unless_moving_saves_more_than_the_threshold(void **state)
{
    struct fixture *f = *state;
    /* w[0] runs in us-west-2 at $1.10; us-east-1 saves 8.5%: below 10%, it stays. */
    struct plan_current cur[] = {
        {"w[0]", CORE_CLOUD_AWS, "us-west-2", "us-west-2a", "g5.xlarge", false},
        {"w[1]", CORE_CLOUD_AWS, "eu-west-1", "eu-west-1a", "g5.xlarge", false},
        {"w[7]", CORE_CLOUD_AWS, "us-west-2", "us-west-2a", "g5.xlarge", false},
    };
    f->opts.current = cur;
    f->opts.ncurrent = 3;
    const char *yaml = HEAD "clouds: { aws: { regions: [us-east-1, us-west-2, eu-west-1] } }\n"
                            "workloads:\n"
                            "  w: { kind: training, gpu: A10G, nodes: 3, hours: 10 }\n";
    assert_int_equal(plan_text(f, yaml), 0);
    assert_place(node(f, "w[0]"), "us-west-2", NULL, NULL);
    assert_true(node(f, "w[0]")->kept);
    /* w[1] saves 16% by moving: it moves; w[7] is no node of the stack any more. */
    assert_place(node(f, "w[1]"), "us-east-1", NULL, NULL);
    assert_false(node(f, "w[1]")->kept);
    assert_place(node(f, "w[2]"), "us-east-1", NULL, NULL);
    assert_int_equal(f->res->nkept, 1);
    /* With a 5% threshold w[0] moves too. */
    f->opts.move_threshold = 0.05;
    assert_int_equal(plan_text(f, yaml), 0);
    assert_place(node(f, "w[0]"), "us-east-1", NULL, NULL);
    assert_int_equal(f->res->nkept, 0);
}

/* An offer priced for a whole region (zone ""): apply records the zone the instance landed
 * in, and the node is still known to run on that offer, so it stays unless moving saves
 * more than the threshold. */
static void test_plan_keeps_nodes_of_regional_offers_recorded_with_their_zone(void **state)
{
    struct fixture *f = *state;
    static const struct toffer regional[] = {
        {"aws", "us-east-1", "", "g6.xlarge", "L4", 1, 0.8048, -1},
        {"aws", "us-east-2", "", "g6.xlarge", "L4", 1, 0.78, -1}, /* 3% cheaper */
    };
    tl_catalog_free(f->cat);
    f->cat = tl_catalog(regional, 2);
    assert_non_null(f->cat);
    struct plan_current cur[] = {
        {"w[0]", CORE_CLOUD_AWS, "us-east-1", "us-east-1b", "g6.xlarge", false},
    };
    f->opts.current = cur;
    f->opts.ncurrent = 1;
    assert_int_equal(plan_text(f, HEAD "clouds: { aws: { regions: [us-east-1, us-east-2] } }\n"
                                       "workloads:\n"
                                       "  w: { kind: training, gpu: L4, nodes: 2, hours: 10 }\n"),
                     0);
    assert_place(node(f, "w[0]"), "us-east-1", "", "g6.xlarge");
    assert_true(node(f, "w[0]")->kept);
    assert_place(node(f, "w[1]"), "us-east-2", "", "g6.xlarge");
    assert_int_equal(f->res->nkept, 1);
}

/* ---- determinism ---- */

static char *render(const struct plan_result *r, bool json)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    assert_non_null(m);
    assert_int_equal(json ? plan_render_json(r, m) : plan_render_text(r, false, m), 0);
    fclose(m);
    return buf;
}

static const char *vision =
    HEAD "clouds:\n"
         "  aws: { regions: [us-east-1, us-west-2, eu-west-1],\n"
         "         quotas: { us-east-1: { gpus: 64 }, \"*\": { gpus: 32 } } }\n"
         "  gcp: { project: p, regions: [us-central1, europe-west4] }\n"
         "  azure: { subscription: s, resource_group: g, regions: [eastus] }\n"
         "budgets:\n"
         "  total: { hourly: 400, monthly: 250000 }\n"
         "  research: { hourly: 120, match: { team: research } }\n"
         "defaults: { spot: auto }\n"
         "workloads:\n"
         "  llm: { kind: training, gpu: H100:8, nodes: 1, hours: 72, spot: never,\n"
         "         placement: { together: region, clouds: [aws, gcp] },\n"
         "         data: { location: aws/us-east-1, size: 2TB }, labels: { team: research } }\n"
         "  chat: { kind: service, gpu: { name: [L4, A10G], memory: 24GB.. }, replicas: 6,\n"
         "          placement: { spread: { clouds: 2 }, max_per_region: 3 } }\n"
         "  fl: { kind: federated, gpu: A100-80GB, sites: { x: { location: azure/eastus } } }\n";

static void test_plan_renders_identical_bytes_for_identical_inputs(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(plan_text(f, vision), 0);
    char *t1 = render(f->res, false), *j1 = render(f->res, true);
    assert_int_equal(plan_text(f, vision), 0);
    char *t2 = render(f->res, false), *j2 = render(f->res, true);
    assert_string_equal(t1, t2);
    assert_string_equal(j1, j2);
    assert_non_null(strstr(j1, "\"format_version\": 1"));
    assert_non_null(strstr(j1, "\"action\": \"create\""));
    assert_non_null(strstr(t1, "+ llm[0]"));
    free(t1);
    free(t2);
    free(j1);
    free(j2);
}

/* ---- random instances ---- */

struct tiny_stats {
    int tried, feasible, infeasible, suboptimal, proven;
    double worst, sum_excess, worst_gap;
};

/* Tiny instances: the fast solver must fail exactly when exhaustive search finds no
 * placement, satisfy every rule, never claim a bound above the optimum, and (counted)
 * reach the optimum. */
static void run_tiny(uint64_t seed, int count, bool tight, int max_workloads, int max_nodes,
                     struct tiny_stats *st)
{
    struct tl_rng rng = {seed};
    memset(st, 0, sizeof(*st));
    struct tl_instance *in = malloc(sizeof(*in));
    assert_non_null(in);
    while (st->tried < count) {
        tl_gen_instance(&rng, in, 14, max_workloads, max_nodes, tight);
        struct core_diags d;
        core_diags_init(&d, 0);
        struct spec *s = tl_spec(in->yaml, &d);
        if (!s) {
            core_diags_release(&d);
            continue;
        }
        struct plan_catalog *cat = tl_catalog(in->offers, in->noffers);
        double opt = tl_brute_force(s, cat);
        if (opt < 0) {
            spec_free(s);
            tl_catalog_free(cat);
            core_diags_release(&d);
            continue;
        }
        st->tried++;
        struct plan_result *r = NULL;
        int rc = plan_solve(s, cat, NULL, &d, &r);
        if (!isfinite(opt)) {
            st->infeasible++;
            if (rc == 0)
                fail_msg("instance %d: solver placed an infeasible stack:\n%s", st->tried,
                         in->yaml);
            assert_true(d.errors > 0);
        } else {
            st->feasible++;
            if (rc != 0) {
                core_diags_render(&d, CORE_DIAG_TEXT, false, stderr);
                fail_msg("instance %d: no plan, optimum %g:\n%s", st->tried, opt, in->yaml);
            }
            const char *bad = tl_check(s, r);
            if (bad)
                fail_msg("instance %d: %s\n%s", st->tried, bad, in->yaml);
            assert_true(r->total_cost >= opt - 1e-6);
            if (r->lower_bound > opt + 1e-6 * (opt > 1 ? opt : 1))
                fail_msg("instance %d: bound %g above the optimum %g\n%s", st->tried,
                         r->lower_bound, opt, in->yaml);
            double excess = (r->total_cost - opt) / (opt > 0 ? opt : 1);
            if (excess > 1e-9) {
                st->suboptimal++;
                st->worst = excess > st->worst ? excess : st->worst;
                st->sum_excess += excess;
            }
            st->proven += r->gap == 0;
            st->worst_gap = r->gap > st->worst_gap ? r->gap : st->worst_gap;
        }
        plan_result_free(r);
        spec_free(s);
        tl_catalog_free(cat);
        core_diags_release(&d);
    }
    free(in);
    printf("%s tiny instances: %d feasible, %d infeasible; %d above the optimum (worst +%.3f%%, "
           "mean +%.4f%%); %d proven optimal, worst reported gap %.2f%%\n",
           tight ? "tight" : "loose", st->feasible, st->infeasible, st->suboptimal, st->worst * 100,
           st->feasible ? st->sum_excess / st->feasible * 100 : 0, st->proven, st->worst_gap * 100);
}

static void test_plan_matches_exhaustive_search_on_tiny_instances(void **state)
{
    (void)state;
    struct tiny_stats st;
    run_tiny(0x9e3779b97f4a7c15ull, 400, false, 3, 3, &st);
    assert_true(st.feasible > 100 && st.infeasible > 10);
    assert_int_equal(st.suboptimal, 0);
    assert_int_equal(st.proven, st.feasible); /* small stacks are proven (plan_prove.c) */
}

static void test_plan_matches_exhaustive_search_when_quotas_bind(void **state)
{
    (void)state;
    struct tiny_stats st;
    run_tiny(0x2545f4914f6cdd1dull, 1000, true, 4, 4, &st);
    assert_true(st.feasible > 100);
    assert_int_equal(st.suboptimal, 0);
    assert_int_equal(st.proven, st.feasible);
}

/* Larger random stacks (up to 20 workloads, 6 nodes each, 60 offers): every plan keeps
 * every rule (the independent checker), renders to the same bytes when planned again, and
 * a stack that can't be placed gets located errors with the planner's codes. */
static void test_plan_keeps_every_rule_on_random_stacks(void **state)
{
    (void)state;
    struct tl_rng rng = {0x243f6a8885a308d3ull};
    struct tl_instance *in = malloc(sizeof(*in));
    assert_non_null(in);
    int tried = 0, feasible = 0, infeasible = 0;
    while (tried < 150) {
        tl_gen_instance(&rng, in, 60, 20, 6, tried % 2 == 1);
        struct core_diags d;
        core_diags_init(&d, 0);
        struct spec *s = tl_spec(in->yaml, &d);
        if (!s) {
            core_diags_release(&d);
            continue;
        }
        tried++;
        struct plan_catalog *cat = tl_catalog(in->offers, in->noffers);
        struct plan_result *r = NULL, *again = NULL;
        if (plan_solve(s, cat, NULL, &d, &r) == 0) {
            feasible++;
            const char *bad = tl_check(s, r);
            if (bad)
                fail_msg("stack %d: %s\n%s", tried, bad, in->yaml);
            assert_int_equal(plan_solve(s, cat, NULL, &d, &again), 0);
            char *j1 = render(r, true), *j2 = render(again, true);
            assert_string_equal(j1, j2);
            free(j1);
            free(j2);
        } else {
            infeasible++;
            assert_true(d.errors > 0);
            for (size_t i = 0; i < d.n; i++) {
                const struct core_diag *e = &d.items[i];
                if (e->severity != CORE_SEV_ERROR)
                    continue;
                assert_true(!strcmp(e->code, "no-placement") || !strcmp(e->code, "over-budget"));
                assert_true(e->loc.line > 0);
            }
        }
        plan_result_free(r);
        plan_result_free(again);
        spec_free(s);
        tl_catalog_free(cat);
        core_diags_release(&d);
    }
    free(in);
    printf("random stacks: %d planned, %d without a placement\n", feasible, infeasible);
    assert_true(feasible >= 30 && infeasible >= 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_plan_picks_the_cheapest_offer_with_catalog_order_breaking_ties),
        T(test_plan_matches_gpu_names_and_count),
        T(test_plan_compares_memory_with_the_datasheet),
        T(test_plan_uses_only_allowed_clouds),
        T(test_plan_uses_declared_regions_filtered_by_globs),
        T(test_plan_follows_the_spot_policy),
        T(test_plan_keeps_together_nodes_in_one_region),
        T(test_plan_keeps_together_zone_nodes_in_one_zone),
        T(test_plan_spreads_over_clouds),
        T(test_plan_caps_nodes_per_region),
        T(test_plan_shares_quotas_between_workloads),
        T(test_plan_pays_egress_and_respects_budgets),
        T(test_plan_pins_federated_sites),
        T(test_plan_counts_why_no_offer_fits),
        T(test_plan_names_the_quota_other_workloads_use),
        T(test_plan_explains_together_and_spread_failures),
        T(test_plan_names_the_cheapest_total_a_budget_needs),
        T(test_plan_keeps_nodes_unless_moving_saves_more_than_the_threshold),
        T(test_plan_keeps_nodes_of_regional_offers_recorded_with_their_zone),
        T(test_plan_renders_identical_bytes_for_identical_inputs),
        cmocka_unit_test(test_plan_matches_exhaustive_search_on_tiny_instances),
        cmocka_unit_test(test_plan_matches_exhaustive_search_when_quotas_bind),
        cmocka_unit_test(test_plan_keeps_every_rule_on_random_stacks),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
