/*
 * The offer hooks' judge (lua/policy_offer.c): that an answer taken from the cache is the
 * answer the hook would give (checked against a fresh judge, with no cache, on every
 * judgement of a randomised corpus), that the cache actually saves calls, that workloads
 * which differ only in fields no hook read share answers and others don't, and that hooks
 * which misbehave (a kept table, a wrong result, a negative price, a loop) fail cleanly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lua/policy.h"
#include "lua/policy_offer.h"

/* Reads fields conditionally, so the set it depends on differs from call to call. */
static const char *const filter_src =
    "function filter_offer(w, o)\n"
    "  if w.labels.residency == 'eu' then\n"
    "    if o.cloud == 'aws' then return o.region:match('^eu%-') ~= nil, 'not EU' end\n"
    "    return o.region:match('^europe') ~= nil or o.region == 'westeurope', 'not EU'\n"
    "  end\n"
    "  if w.labels.env == 'prod' and o.spot then return false, 'spot in prod' end\n"
    "  if w.kind == 'service' and o.price_per_gpu > 10 then return false, 'too dear' end\n"
    "  return true\n"
    "end\n";
static const char *const score_src =
    "function score_offer(w, o)\n"
    "  if o.cloud == 'gcp' and not o.spot then return 0.7 end\n"
    "  if w.labels.team == 'research' then return 1, 0.25 * o.gpus end\n"
    "  local n = 0\n"
    "  for k, v in pairs(w.labels) do n = n + 1 end\n"
    "  return 1 + n / 100\n"
    "end\n";

struct fx {
    char dir[64];
    char *paths[2];
    const char *names[2];
};

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof f->dir, "/tmp/gpuform-offer-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    for (int i = 0; i < 2; i++) {
        f->paths[i] = malloc(128);
        snprintf(f->paths[i], 128, "%s/%s.lua", f->dir, i ? "score" : "filter");
        write_file(f->paths[i], i ? score_src : filter_src);
    }
    f->names[0] = "policies/filter.lua";
    f->names[1] = "policies/score.lua";
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 2; i++) {
        unlink(f->paths[i]);
        free(f->paths[i]);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static struct policy_judge *judge_of(struct fx *f, struct policy_set **ps, struct core_diags *d)
{
    assert_int_equal(policy_load(f->names, (const char *const *)f->paths, 2, NULL, d, ps), 0);
    struct policy_judge *j = NULL;
    assert_int_equal(policy_judge_new(*ps, NULL, d, &j), 0);
    assert_non_null(j);
    return j;
}

static const char *const regions[] = {"us-east-1",   "eu-west-1",  "europe-west4",
                                      "us-central1", "westeurope", "eastus"};
static const char *const label_vals[] = {"eu", "prod", "research", "dev"};
static const char *const label_keys[] = {"residency", "env", "team"};

static void random_workload(struct spec_workload *w, struct spec_label *labels, unsigned *seed)
{
    static const char *models[] = {"H100"};
    memset(w, 0, sizeof(*w));
    w->name = rand_r(seed) % 2 ? "a" : "b";
    w->kind = rand_r(seed) % 2 ? SPEC_KIND_SERVICE : SPEC_KIND_TRAINING;
    w->count = 1 + rand_r(seed) % 3;
    w->hours = 10;
    w->spot = SPEC_SPOT_AUTO;
    w->gpu.names = models;
    w->gpu.nnames = 1;
    w->gpu.count = 8;
    w->labels = labels;
    for (int k = 0; k < 3; k++)
        if (rand_r(seed) % 2)
            labels[w->nlabels++] =
                (struct spec_label){.key = label_keys[k], .value = label_vals[rand_r(seed) % 4]};
}

static void random_offer(struct plan_offer *o, bool *spot, double *price, unsigned *seed)
{
    memset(o, 0, sizeof(*o));
    int r = rand_r(seed) % 6;
    o->cloud = r == 0 || r == 1 ? CORE_CLOUD_AWS : r < 4 ? CORE_CLOUD_GCP : CORE_CLOUD_AZURE;
    o->region = regions[r];
    o->zone = "";
    o->instance_type = "x";
    o->gpu = "H100";
    o->gpus = rand_r(seed) % 2 ? 8 : 4;
    o->ondemand = 40 + rand_r(seed) % 80;
    o->spot = o->ondemand / 3;
    *spot = rand_r(seed) % 2;
    *price = *spot ? o->spot : o->ondemand;
}

/* Every cached answer equals the answer of a judge that has seen nothing before. */
static void test_cache_gives_the_hooks_answers(void **state)
{
    struct fx *f = *state;
    struct core_diags d;
    core_diags_init(&d, 10);
    struct policy_set *ps;
    struct policy_judge *j = judge_of(f, &ps, &d);
    const struct plan_judge *pj = policy_judge_planner(j);
    unsigned seed = 7;
    /* a workload's address is its identity to the judge (as the spec's are): 40 of them,
     * each judged on several offers in a row and again later */
    struct spec_workload ws[40];
    struct spec_label labels[40][3];
    for (int k = 0; k < 40; k++)
        random_workload(&ws[k], labels[k], &seed);
    for (int n = 0; n < 400; n++) {
        struct spec_workload w0 = ws[(n / 4) % 40], *w = &ws[(n / 4) % 40];
        struct plan_offer o;
        bool spot;
        double price, wa = -1, wb = -1;
        int ra = -1, rb = -1;
        random_offer(&o, &spot, &price, &seed);
        int a = pj->judge(pj->ctx, w, &o, spot, price, &wa, &ra);

        struct policy_set *fps;
        struct policy_judge *fresh = judge_of(f, &fps, &d);
        const struct plan_judge *fj = policy_judge_planner(fresh);
        int b = fj->judge(fj->ctx, &w0, &o, spot, price, &wb, &rb);
        assert_int_equal(a, b);
        if (a == 1)
            assert_true(fabs(wa - wb) < 1e-12);
        else
            assert_string_equal(pj->reason(pj->ctx, ra), fj->reason(fj->ctx, rb));
        policy_judge_free(fresh);
        policy_set_free(fps);
    }
    struct policy_judge_stats st;
    policy_judge_stats(j, &st);
    assert_int_equal(st.judged, 400);
    /* 2 hooks x 400 judgements, fewer when filtered; the cache must answer most of them */
    assert_true(st.lua_calls < st.cache_hits);
    assert_int_equal(d.errors, 0);
    policy_judge_free(j);
    policy_set_free(ps);
    core_diags_release(&d);
}

/* Workloads differing only in a label no hook read share answers; a read one does not. */
static void test_sharing_follows_what_was_read(void **state)
{
    struct fx *f = *state;
    struct core_diags d;
    core_diags_init(&d, 10);
    struct policy_set *ps;
    struct policy_judge *j = judge_of(f, &ps, &d);
    const struct plan_judge *pj = policy_judge_planner(j);
    static const char *models[] = {"H100"};
    struct spec_label la[] = {{.key = "residency", .value = "eu"}, {.key = "owner", .value = "x"}};
    struct spec_label lb[] = {{.key = "residency", .value = "eu"}, {.key = "owner", .value = "y"}};
    struct spec_label lc[] = {{.key = "residency", .value = "us"}, {.key = "owner", .value = "x"}};
    struct spec_workload a = {.name = "a",
                              .kind = SPEC_KIND_TRAINING,
                              .count = 1,
                              .hours = 1,
                              .gpu = {.names = models, .nnames = 1, .count = 8},
                              .labels = la,
                              .nlabels = 2};
    struct spec_workload b = a, c = a;
    b.name = "b";
    b.labels = lb;
    c.labels = lc;
    struct plan_offer o = {.cloud = CORE_CLOUD_GCP,
                           .region = "us-central1",
                           .zone = "",
                           .instance_type = "a3",
                           .gpu = "H100",
                           .gpus = 8,
                           .ondemand = 80,
                           .spot = -1};
    pj->share_begin(pj->ctx);
    double wt;
    int why;
    assert_int_equal(pj->judge(pj->ctx, &a, &o, false, 80, &wt, &why), 0); /* not EU */
    int h = pj->share_end(pj->ctx);
    assert_true(h >= 0);
    assert_true(pj->share_same(pj->ctx, h, &a, &b));  /* owner and name were never read */
    assert_false(pj->share_same(pj->ctx, h, &a, &c)); /* residency was */

    /* d and e differ in fields the filter reads, but it allows both everything without
     * looking at the offer: they share (the judge probes e), a service (too dear) doesn't */
    struct spec_label ld[] = {{.key = "residency", .value = "us"}, {.key = "env", .value = "dev"}};
    struct spec_label le[] = {{.key = "env", .value = "test"}};
    struct spec_workload dw = a, ew = a, sw = a;
    dw.labels = ld;
    ew.labels = le;
    ew.nlabels = 1;
    sw.labels = le;
    sw.nlabels = 1;
    sw.kind = SPEC_KIND_SERVICE;
    pj->share_begin(pj->ctx);
    assert_int_equal(pj->judge(pj->ctx, &dw, &o, false, 80, &wt, &why), 1);
    h = pj->share_end(pj->ctx);
    assert_true(h >= 0);
    assert_true(pj->share_same(pj->ctx, h, &dw, &ew));
    assert_false(pj->share_same(pj->ctx, h, &dw, &sw));
    policy_judge_free(j);
    policy_set_free(ps);
    core_diags_release(&d);
}

/* A hook file on its own: its judgement of one offer, and the first error's message. */
static int judge_one(const char *src, char *msg, size_t msglen)
{
    char dir[] = "/tmp/gpuform-offer-XXXXXX", path[96];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/h.lua", dir);
    write_file(path, src);
    const char *name = "policies/h.lua";
    const char *paths[] = {path};
    struct core_diags d;
    core_diags_init(&d, 10);
    struct policy_set *ps = NULL;
    struct policy_judge *j = NULL;
    static const char *models[] = {"H100"};
    struct spec_workload w = {.name = "a",
                              .kind = SPEC_KIND_TRAINING,
                              .count = 1,
                              .hours = 1,
                              .gpu = {.names = models, .nnames = 1, .count = 8}};
    struct plan_offer o = {.cloud = CORE_CLOUD_AWS,
                           .region = "us-east-1",
                           .zone = "us-east-1a",
                           .instance_type = "p5",
                           .gpu = "H100",
                           .gpus = 8,
                           .ondemand = 90,
                           .spot = 30};
    assert_int_equal(policy_load(&name, paths, 1, NULL, &d, &ps), 0);
    assert_int_equal(policy_judge_new(ps, NULL, &d, &j), 0);
    const struct plan_judge *pj = policy_judge_planner(j);
    int rc = 0;
    double wt;
    int why;
    for (int k = 0; k < 4 && rc >= 0; k++) /* a few offers, so a kept table is noticed */
        rc = pj->judge(pj->ctx, &w, &o, k % 2, k % 2 ? 30 : 90 + k, &wt, &why);
    snprintf(msg, msglen, "%s", d.n ? d.items[0].message : "");
    policy_judge_free(j);
    policy_set_free(ps);
    core_diags_release(&d);
    unlink(path);
    rmdir(dir);
    return rc;
}

static void test_misbehaving_hooks_fail_cleanly(void **state)
{
    (void)state;
    static const struct {
        const char *src, *expect;
    } cases[] = {
        {"local kept\nfunction filter_offer(w, o)\n  local p = o.price\n"
         "  if kept then return kept.cloud == 'aws' end\n  kept = o\n  return true\nend\n",
         "kept a table from an earlier call"},
        {"function filter_offer(w, o) return 'yes' end\n", "must return true, nil, or false"},
        {"function filter_offer(w, o) return false, {} end\n", "reason must be a string"},
        {"function score_offer(w, o) return 'cheap' end\n", "must return a factor"},
        {"function score_offer(w, o) return 0 end\n", "factor must be above 0"},
        {"function score_offer(w, o) return 1, -500 end\n", "negative"},
        {"function score_offer(w, o) return 0/0 end\n", "factor must be above 0"},
        {"function filter_offer(w, o) o.price = 0 return true end\n", "read-only"},
        {"function filter_offer(w, o) rawset(w, 'name', 'x') return true end\n", "table expected"},
        {"function filter_offer(w, o) while true do end end\n", "instruction budget"},
        {"function filter_offer(w, o) error({code = 1}) end\n", "error that is a table"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char msg[600];
        int rc = judge_one(cases[i].src, msg, sizeof msg);
        if (rc != -1 || !strstr(msg, cases[i].expect))
            fail_msg("case %zu: rc %d, message '%s', expected '%s'", i, rc, msg, cases[i].expect);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cache_gives_the_hooks_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sharing_follows_what_was_read, setup, teardown),
        cmocka_unit_test(test_misbehaving_hooks_fail_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
