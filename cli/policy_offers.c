/*
 * `gpuform policy test` for the offer hooks: a fixture with "workload" and "offers" (in
 * place of "plan") runs filter_offer and score_offer, through the same judge the planner
 * uses, on each offer and compares what they say with the offer's "expect". Teams test
 * their filter and score rules in their own CI without a catalog or a stack.
 */
#include "cli/cli.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/diag.h"
#include "lua/policy.h"
#include "lua/policy_offer.h"
#include "parser/spec.h"
#include "planner/plan.h"

/* The enum value whose name(...) is `s`, or -1. */
static int enum_of(const char *s, int n, const char *(*name)(int))
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(name(i), s) == 0)
            return i;
    return -1;
}
static const char *kind_name(int i)
{
    return spec_kind_name((enum spec_kind)i);
}
static const char *spot_name(int i)
{
    return spec_spot_name((enum spec_spot)i);
}
static const char *verify_name(int i)
{
    return spec_verify_name((enum spec_verify)i);
}

static const char *str_or(json_t *o, const char *key, const char *dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : dflt;
}

static double num_or(json_t *o, const char *key, double dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

/* The fixture's workload; NULL with a message in why. */
static struct spec_workload *read_workload(struct core_arena *a, json_t *j, char *why,
                                           size_t whylen)
{
    struct spec_workload *w = core_arena_alloc(a, sizeof(*w));
    if (!w || !json_is_object(j)) {
        snprintf(why, whylen, "\"workload\" must be an object (name, kind, gpu, labels, ...)");
        return NULL;
    }
    memset(w, 0, sizeof(*w));
    w->name = core_arena_strdup(a, str_or(j, "name", "workload"));
    int kind = enum_of(str_or(j, "kind", "training"), SPEC_KIND_INVALID, kind_name);
    int spot = enum_of(str_or(j, "spot", "auto"), SPEC_SPOT_ALWAYS + 1, spot_name);
    int verify = enum_of(str_or(j, "verify", "none"), SPEC_VERIFY_FULL + 1, verify_name);
    if (kind < 0 || spot < 0 || verify < 0) {
        snprintf(why, whylen,
                 "workload: kind must be training, service, batch or federated; spot never, "
                 "auto or always; verify none, quick or full");
        return NULL;
    }
    w->kind = (enum spec_kind)kind;
    w->spot = (enum spec_spot)spot;
    w->verify = (enum spec_verify)verify;
    w->count = (int)num_or(j, "count", 1);
    w->hours = num_or(j, "hours", 1);
    json_t *gpu = json_object_get(j, "gpu"), *models = json_object_get(gpu, "models");
    w->gpu.count = (int)num_or(gpu, "count", 1);
    size_t nm = json_is_array(models) ? json_array_size(models) : 0;
    w->gpu.names = core_arena_alloc(a, (nm ? nm : 1) * sizeof(char *));
    for (size_t i = 0; w->gpu.names && i < nm; i++) {
        const char *m = json_string_value(json_array_get(models, i));
        if (!m) {
            snprintf(why, whylen, "workload.gpu.models must be a list of strings");
            return NULL;
        }
        w->gpu.names[w->gpu.nnames++] = core_arena_strdup(a, m);
    }
    json_t *labels = json_object_get(j, "labels");
    if (labels && !json_is_object(labels)) {
        snprintf(why, whylen, "workload.labels must be an object of strings");
        return NULL;
    }
    w->labels = core_arena_alloc(a, (json_object_size(labels) + 1) * sizeof(*w->labels));
    const char *k;
    json_t *v;
    json_object_foreach(labels, k, v)
    {
        if (!json_is_string(v)) {
            snprintf(why, whylen, "workload.labels.%s must be a string", k);
            return NULL;
        }
        w->labels[w->nlabels++] = (struct spec_label){
            .key = core_arena_strdup(a, k), .value = core_arena_strdup(a, json_string_value(v))};
    }
    if (!w->name || !w->gpu.names || !w->labels) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    return w;
}

/* An entry's offer, market and price; -1 with a message in why. */
static int read_offer(struct core_arena *a, json_t *j, struct plan_offer *o, bool *spot,
                      double *price, char *why, size_t whylen)
{
    memset(o, 0, sizeof(*o));
    int cloud = core_cloud_from_name(str_or(j, "cloud", ""));
    const char *region = str_or(j, "region", NULL), *type = str_or(j, "type", NULL);
    if (!json_is_object(j) || cloud < 0 || !region || !type) {
        snprintf(why, whylen,
                 "\"offer\" needs cloud (aws, gcp or azure), region and type; zone, gpu, gpus, "
                 "spot, price, ondemand_price and spot_price are optional");
        return -1;
    }
    o->cloud = (enum core_cloud)cloud;
    o->region = core_arena_strdup(a, region);
    o->zone = core_arena_strdup(a, str_or(j, "zone", ""));
    o->instance_type = core_arena_strdup(a, type);
    o->gpu = core_arena_strdup(a, str_or(j, "gpu", ""));
    o->gpus = (int)num_or(j, "gpus", 1);
    o->gpu_memory_gb = (int)num_or(j, "gpu_memory_gb", 0);
    o->vcpus = num_or(j, "vcpus", 0);
    o->ram_gib = num_or(j, "memory_gib", 0);
    *spot = json_is_true(json_object_get(j, "spot"));
    o->ondemand = num_or(j, "ondemand_price", -1);
    o->spot = num_or(j, "spot_price", -1);
    *price = num_or(j, "price", *spot ? o->spot : o->ondemand);
    if (*price < 0) {
        snprintf(why, whylen, "offer: give \"price\" (USD per hour on its market)");
        return -1;
    }
    if (*spot && o->spot < 0)
        o->spot = *price;
    if (!*spot && o->ondemand < 0)
        o->ondemand = *price;
    if (!o->region || !o->zone || !o->instance_type || !o->gpu) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    return 0;
}

/* Compares one judgement with "expect"; prints a FAIL line for each difference. */
static int check(const char *file, size_t i, json_t *expect, int got, double weighed,
                 const char *reason, bool *header)
{
    json_t *allowed = json_object_get(expect, "allowed");
    const char *want_reason = str_or(expect, "reason", NULL);
    json_t *want_w = json_object_get(expect, "weighed");
    char what[512] = "";
    if (json_is_boolean(allowed) && json_is_true(allowed) != (got == 1))
        snprintf(what, sizeof what, "expected %s, got %s%s%s",
                 json_is_true(allowed) ? "allowed" : "rejected", got == 1 ? "allowed" : "rejected",
                 got == 1 ? "" : " by ", got == 1 ? "" : reason);
    else if (want_reason && (got == 1 || !strstr(reason, want_reason)))
        snprintf(what, sizeof what, "expected a rejection mentioning \"%s\", got %s", want_reason,
                 got == 1 ? "allowed" : reason);
    else if (json_is_number(want_w) &&
             (got != 1 || fabs(weighed - json_number_value(want_w)) >
                              1e-9 * fmax(1, fabs(json_number_value(want_w)))))
        snprintf(what, sizeof what, "expected a weighed price of %g $/h, got %s%g",
                 json_number_value(want_w), got == 1 ? "" : "a rejection, not ",
                 got == 1 ? weighed : 0.0);
    if (!what[0])
        return 0;
    if (!*header)
        fprintf(stderr, "FAIL %s\n", file);
    *header = true;
    fprintf(stderr, "    offers[%zu]: %s\n", i, what);
    return 1;
}

int cli_policy_offer_fixture(const char *file, const char *path, const char *const *names,
                             const char *const *paths, size_t np, json_t *fx)
{
    json_t *offers = json_object_get(fx, "offers");
    char why[512];
    struct core_arena a;
    core_arena_init(&a, 0);
    struct core_diags d;
    core_diags_init(&d, 50);
    struct policy_set *ps = NULL;
    struct policy_judge *j = NULL;
    int rc = -1;
    struct spec_workload *w = read_workload(&a, json_object_get(fx, "workload"), why, sizeof why);
    if (!w) {
        fprintf(stderr, "%s: error: %s\n", path, why);
        goto done;
    }
    if (!json_is_array(offers)) {
        fprintf(stderr,
                "%s: error: \"offers\" must be a list of {\"offer\": ..., \"expect\": ...}\n",
                path);
        goto done;
    }
    if (policy_load(names, paths, np, NULL, &d, &ps) != 0 ||
        policy_judge_new(ps, NULL, &d, &j) != 0) {
        core_diags_render(&d, CORE_DIAG_TEXT, false, stderr);
        fprintf(stderr, "FAIL %s: a policy failed to load\n", file);
        rc = 1;
        goto done;
    }
    if (!j) {
        fprintf(stderr,
                "%s: error: none of the fixture's policies defines filter_offer or score_offer\n",
                path);
        goto done;
    }
    const struct plan_judge *pj = policy_judge_planner(j);
    bool header = false;
    size_t bad = 0, i;
    json_t *e;
    json_array_foreach(offers, i, e)
    {
        struct plan_offer o;
        bool spot;
        double price, weighed = 0;
        int reason = -1;
        if (!json_is_object(json_object_get(e, "expect")) ||
            read_offer(&a, json_object_get(e, "offer"), &o, &spot, &price, why, sizeof why) != 0) {
            fprintf(stderr, "%s: error: offers[%zu]: %s\n", path, i,
                    json_is_object(json_object_get(e, "expect"))
                        ? why
                        : "needs \"offer\" and \"expect\"");
            goto done;
        }
        int got = pj->judge(pj->ctx, w, &o, spot, price, &weighed, &reason);
        if (got < 0) {
            core_diags_sort(&d);
            core_diags_render(&d, CORE_DIAG_TEXT, false, stderr);
            fprintf(stderr, "FAIL %s: a policy failed to run on offers[%zu]\n", file, i);
            rc = 1;
            goto done;
        }
        bad += (size_t)check(file, i, json_object_get(e, "expect"), got, weighed,
                             got == 0 ? pj->reason(pj->ctx, reason) : "", &header);
    }
    rc = bad ? 1 : 0;
    if (rc == 0)
        printf("ok   %s (%zu offer%s)\n", file, json_array_size(offers),
               json_array_size(offers) == 1 ? "" : "s");
done:
    policy_judge_free(j);
    policy_set_free(ps);
    core_diags_release(&d);
    core_arena_release(&a);
    return rc;
}
