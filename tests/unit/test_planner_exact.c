/*
 * Unit tests for `--solver exact` (planner/plan_exact.c) and for the fast solver against
 * it: on seeded random stacks cbc and the fast solver must agree on whether a placement
 * exists, both plans must keep every rule, the fast solver's cost must be close to cbc's
 * proven optimum and its lower bound never above it. Skipped, with the reason, where the
 * `cbc` program (Debian: coinor-cbc) is not installed.
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
#include <sys/stat.h>
#include <unistd.h>

#include "plan_testlib.h"

static bool have_cbc(void)
{
    const char *path = getenv("PATH");
    char buf[4096];
    if (!path)
        return false;
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *save = NULL, *dir = strtok_r(buf, ":", &save); dir;
         dir = strtok_r(NULL, ":", &save)) {
        char cand[4200];
        snprintf(cand, sizeof(cand), "%s/cbc", dir);
        if (access(cand, X_OK) == 0)
            return true;
    }
    return false;
}

#define NEED_CBC()                                                                                 \
    do {                                                                                           \
        if (!have_cbc()) {                                                                         \
            printf("skipped: no 'cbc' program on PATH (Debian: apt-get install coinor-cbc)\n");    \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static const struct toffer offers[] = {
    {"aws", "us-east-1", "us-east-1a", "p5.48xlarge", "H100", 8, 98.32, 40},
    {"aws", "us-west-2", "us-west-2a", "p5.48xlarge", "H100", 8, 90.00, -1},
    {"gcp", "us-central1", "us-central1-a", "a3-highgpu-8g", "H100", 8, 88.00, 30},
    {"aws", "us-east-1", "us-east-1a", "g6.xlarge", "L4", 1, 0.80, 0.30},
    {"gcp", "us-central1", "us-central1-a", "g2-standard-4", "L4", 1, 0.70, 0.25},
};

static const char *stack = "version: 1\n"
                           "stack: t\n"
                           "clouds:\n"
                           "  aws: { regions: [us-east-1, us-west-2], quotas: { us-west-2: 8 } }\n"
                           "  gcp: { project: p, regions: [us-central1], quotas: { \"*\": 8 } }\n"
                           "workloads:\n"
                           "  a: { kind: training, gpu: H100:8, nodes: 2, hours: 10 }\n"
                           "  b: { kind: training, gpu: H100:8, hours: 30 }\n"
                           "  api: { kind: service, gpu: L4, replicas: 3,\n"
                           "         placement: { spread: { clouds: 2 } } }\n";

static void test_exact_solves_a_small_stack_and_keeps_the_lp_file(void **state)
{
    (void)state;
    NEED_CBC();
    struct core_diags d;
    core_diags_init(&d, 0);
    struct spec *s = tl_spec(stack, &d);
    assert_non_null(s);
    struct plan_catalog *cat = tl_catalog(offers, sizeof(offers) / sizeof(offers[0]));
    char dir[] = "/tmp/gpuform-exact-XXXXXX", lp[64];
    assert_non_null(mkdtemp(dir));
    snprintf(lp, sizeof(lp), "%s/model.lp", dir);
    struct plan_options o = {.solver = PLAN_SOLVER_EXACT, .lp_path = lp};
    struct plan_result *r = NULL;
    assert_int_equal(plan_solve(s, cat, &o, &d, &r), 0);
    assert_null(tl_check(s, r));
    assert_string_equal(r->solver, "cbc");
    assert_true(r->gap == 0);
    /* The optimum exhaustive search finds (gcp's quota of 8 GPUs is wanted both by an
     * H100 node and by the service's spread). */
    assert_true(tl_close(r->total_cost, tl_brute_force(s, cat)));
    FILE *f = fopen(lp, "r");
    assert_non_null(f);
    char line[256];
    bool minimize = false, end = false;
    while (fgets(line, sizeof(line), f)) {
        minimize |= strncmp(line, "Minimize", 8) == 0;
        end |= strncmp(line, "End", 3) == 0;
    }
    fclose(f);
    assert_true(minimize && end);
    unlink(lp);
    rmdir(dir);
    /* The fast solver finds the same optimum. */
    struct plan_result *fast = NULL;
    assert_int_equal(plan_solve(s, cat, NULL, &d, &fast), 0);
    assert_true(tl_close(fast->total_cost, r->total_cost));
    plan_result_free(fast);
    plan_result_free(r);
    tl_catalog_free(cat);
    spec_free(s);
    core_diags_release(&d);
}

static void test_exact_says_when_cbc_is_missing(void **state)
{
    (void)state;
    char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    char dir[] = "/tmp/gpuform-nocbc-XXXXXX";
    assert_non_null(mkdtemp(dir));
    setenv("PATH", dir, 1);
    struct core_diags d;
    core_diags_init(&d, 0);
    struct spec *s = tl_spec(stack, &d);
    struct plan_catalog *cat = tl_catalog(offers, sizeof(offers) / sizeof(offers[0]));
    struct plan_options o = {.solver = PLAN_SOLVER_EXACT};
    struct plan_result *r = NULL;
    int rc = plan_solve(s, cat, &o, &d, &r);
    if (old)
        setenv("PATH", old, 1);
    free(old);
    rmdir(dir);
    assert_int_equal(rc, -1);
    assert_null(r);
    assert_int_equal(d.errors, 1);
    assert_string_equal(d.items[0].code, "cbc-missing");
    assert_non_null(strstr(d.items[0].message, "coinor-cbc"));
    tl_catalog_free(cat);
    spec_free(s);
    core_diags_release(&d);
}

/* Random stacks: the fast solver against cbc's proven optimum. */
static void test_fast_solver_is_near_cbc_on_random_stacks(void **state)
{
    (void)state;
    NEED_CBC();
    struct tl_rng rng = {0x5851f42d4c957f2dull};
    struct tl_instance *in = malloc(sizeof(*in));
    assert_non_null(in);
    int tried = 0, feasible = 0, infeasible = 0, optimal = 0;
    double worst = 0, sum = 0, worst_bound = 0;
    while (tried < 80) {
        tl_gen_instance(&rng, in, 100, 6, 8, true);
        struct core_diags d;
        core_diags_init(&d, 0);
        struct spec *s = tl_spec(in->yaml, &d);
        if (!s) {
            core_diags_release(&d);
            continue;
        }
        tried++;
        struct plan_catalog *cat = tl_catalog(in->offers, in->noffers);
        struct plan_options o = {.solver = PLAN_SOLVER_EXACT};
        struct plan_result *x = NULL, *f = NULL;
        int rcx = plan_solve(s, cat, &o, &d, &x);
        int rcf = plan_solve(s, cat, NULL, &d, &f);
        if (rcx != rcf)
            fail_msg("stack %d: cbc %s, fast %s\n%s", tried, rcx ? "fails" : "plans",
                     rcf ? "fails" : "plans", in->yaml);
        if (rcx == 0) {
            feasible++;
            const char *bad = tl_check(s, x);
            if (!bad)
                bad = tl_check(s, f);
            if (bad)
                fail_msg("stack %d: %s\n%s", tried, bad, in->yaml);
            assert_true(x->gap == 0); /* no time limit: cbc proves its optimum */
            double opt = x->total_cost, scale = opt > 1 ? opt : 1;
            assert_true(f->total_cost >= opt - 1e-6 * scale);
            if (f->lower_bound > opt + 1e-6 * scale)
                fail_msg("stack %d: bound %g above the optimum %g\n%s", tried, f->lower_bound, opt,
                         in->yaml);
            double excess = (f->total_cost - opt) / scale;
            optimal += excess <= 1e-9;
            worst = excess > worst ? excess : worst;
            sum += excess;
            double bgap = (opt - f->lower_bound) / scale;
            worst_bound = bgap > worst_bound ? bgap : worst_bound;
        } else {
            infeasible++;
        }
        plan_result_free(x);
        plan_result_free(f);
        spec_free(s);
        tl_catalog_free(cat);
        core_diags_release(&d);
    }
    free(in);
    printf("fast vs cbc on %d random stacks (%d without a placement, both agree): %d optimal, "
           "mean +%.4f%%, worst +%.3f%%; bound at most %.2f%% below the optimum\n",
           feasible, infeasible, optimal, feasible ? 100 * sum / feasible : 0, 100 * worst,
           100 * worst_bound);
    assert_true(feasible >= 20);
    assert_true(worst <= 0.01);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_solves_a_small_stack_and_keeps_the_lp_file),
        cmocka_unit_test(test_exact_says_when_cbc_is_missing),
        cmocka_unit_test(test_fast_solver_is_near_cbc_on_random_stacks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
