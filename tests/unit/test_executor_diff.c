/*
 * The change set: plans made by the real solver over a small catalog, diffed against
 * states written in code; and the solver keeping nodes in place through
 * diff_current_from_state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "executor/diff.h"
#include "plan_testlib.h"

static const struct toffer offers[] = {
    {"aws", "us-east-1", "us-east-1a", "g5.xlarge", "A10G", 1, 1.00, 0.40},
    {"aws", "us-west-2", "us-west-2a", "g5.xlarge", "A10G", 1, 1.05, 0.45},
    {"aws", "eu-west-1", "eu-west-1a", "g5.xlarge", "A10G", 1, 1.30, 0.50},
};

static const char *const yaml = "version: 1\n"
                                "stack: t\n"
                                "clouds: { aws: { regions: [us-east-1, us-west-2, eu-west-1] } }\n"
                                "workloads:\n"
                                "  train: { kind: training, gpu: A10G:1, nodes: 3, hours: 10 }\n";

struct fixture {
    struct core_diags diags;
    struct spec *spec;
    struct plan_catalog *cat;
    struct plan_result *res;
    struct state *st;
    struct core_arena arena;
    struct diff d;
};

static int setup(void **ctx)
{
    struct fixture *f = calloc(1, sizeof *f);
    core_diags_init(&f->diags, 50);
    core_arena_init(&f->arena, 0);
    f->cat = tl_catalog(offers, sizeof offers / sizeof *offers);
    f->spec = tl_spec(yaml, &f->diags);
    f->st = state_new("t");
    if (!f->spec || !f->cat || !f->st)
        return -1;
    *ctx = f;
    return 0;
}

static int teardown(void **ctx)
{
    struct fixture *f = *ctx;
    diff_release(&f->d);
    plan_result_free(f->res);
    state_free(f->st);
    spec_free(f->spec);
    tl_catalog_free(f->cat);
    core_arena_release(&f->arena);
    core_diags_release(&f->diags);
    free(f);
    return 0;
}

/* Plans with the state's nodes as the current placement, then diffs. */
static void plan_and_diff(struct fixture *f)
{
    struct plan_options o = {.solver = PLAN_SOLVER_FAST};
    struct plan_current *cur;
    size_t ncur;
    assert_int_equal(diff_current_from_state(f->st, &f->arena, &cur, &ncur), 0);
    o.current = cur;
    o.ncurrent = ncur;
    assert_int_equal(plan_solve(f->spec, f->cat, &o, &f->diags, &f->res), 0);
    assert_int_equal(diff_compute(f->res, f->st, &f->d), 0);
}

static void add_node(struct fixture *f, char *address, char *region, double hourly)
{
    char zone[32];
    snprintf(zone, sizeof zone, "%sa", region);
    struct state_node n = {
        .address = address,
        .provider = "aws",
        .cloud_id = "i-0123",
        .token = "t",
        .placement = {"aws", region, zone, "g5.xlarge", "A10G", 1, false},
        .hourly_usd = hourly,
        .status = STATE_RUNNING,
    };
    assert_non_null(state_put(f->st, &n));
}

static const struct diff_change *change(const struct fixture *f, const char *address)
{
    for (size_t i = 0; i < f->d.nchanges; i++)
        if (strcmp(f->d.changes[i].address, address) == 0)
            return &f->d.changes[i];
    fail_msg("no change for %s", address);
    return NULL;
}

static void test_diff_without_state_creates_every_node(void **ctx)
{
    struct fixture *f = *ctx;
    plan_and_diff(f);
    assert_int_equal(f->d.ncreate, 3);
    assert_int_equal(f->d.nchanges, 3);
    size_t n;
    const char *const *acts = diff_action_list(change(f, "train[2]")->action, false, &n);
    assert_int_equal(n, 1);
    assert_string_equal(acts[0], "create");
    assert_true(tl_close(f->d.hourly_after, 3.0));
    assert_true(f->d.hourly_before == 0);
}

static void test_diff_of_an_applied_plan_is_empty_but_for_removed_nodes(void **ctx)
{
    struct fixture *f = *ctx;
    add_node(f, "train[0]", "us-east-1", 1.0);
    add_node(f, "train[1]", "us-east-1", 1.0);
    add_node(f, "train[2]", "us-east-1", 1.0);
    add_node(f, "old[0]", "us-east-1", 1.0);
    plan_and_diff(f);
    assert_int_equal(f->d.nnoop, 3);
    assert_int_equal(f->d.ndelete, 1);
    assert_int_equal(change(f, "old[0]")->action, DIFF_DELETE);
    assert_string_equal(change(f, "old[0]")->reason, "no longer in the spec");
    assert_true(tl_close(f->d.hourly_before, 4.0));
}

static void test_diff_restrict_keeps_only_targeted_changes(void **ctx)
{
    struct fixture *f = *ctx;
    add_node(f, "train[0]", "us-east-1", 1.0);
    add_node(f, "old[0]", "us-east-1", 1.0);
    add_node(f, "old[1]", "us-east-1", 1.0);
    plan_and_diff(f); /* train[0] no-op, train[1..2] create, old[0..1] delete */
    assert_int_equal(f->d.ncreate, 2);
    assert_int_equal(f->d.ndelete, 2);
    const char *unmatched = NULL;
    const char *const bad[] = {"train[1]", "trai"};
    assert_int_equal(diff_restrict(&f->d, bad, 2, &unmatched), -1);
    assert_string_equal(unmatched, "trai"); /* a prefix of a name is not the name */
    assert_int_equal(f->d.nchanges, 5);     /* nothing changed on error */
    const char *const t[] = {"train[1]", "old"};
    assert_int_equal(diff_restrict(&f->d, t, 2, &unmatched), 0);
    assert_int_equal(f->d.nchanges, 3);
    assert_int_equal(f->d.ncreate, 1);
    assert_int_equal(f->d.ndelete, 2);
    assert_int_equal(f->d.nnoop, 0);
    assert_int_equal(f->d.nskipped, 1); /* train[2]'s create; train[0] was no change */
    assert_int_equal(change(f, "train[1]")->action, DIFF_CREATE);
    assert_int_equal(change(f, "old[1]")->action, DIFF_DELETE);
    /* after the run: train[0] and the new train[1], both $1/h; the olds are gone */
    assert_true(tl_close(f->d.hourly_before, 3.0));
    assert_true(tl_close(f->d.hourly_after, 2.0));
}

static void test_diff_replaces_tainted_and_failed_nodes(void **ctx)
{
    struct fixture *f = *ctx;
    add_node(f, "train[0]", "us-east-1", 1.0);
    add_node(f, "train[1]", "us-east-1", 1.0);
    add_node(f, "train[2]", "us-east-1", 1.0);
    state_find(f->st, "train[0]")->tainted = true;
    struct state_node *n = state_find(f->st, "train[1]");
    n->verify = STATE_VERIFY_FAILED;
    free(n->verify_detail);
    n->verify_detail = strdup("memtest: 12 bit flips");
    plan_and_diff(f);
    assert_int_equal(change(f, "train[0]")->action, DIFF_REPLACE);
    assert_string_equal(change(f, "train[0]")->reason, "tainted");
    assert_int_equal(change(f, "train[1]")->action, DIFF_REPLACE);
    assert_string_equal(change(f, "train[1]")->reason,
                        "failed verification: memtest: 12 bit flips");
    assert_int_equal(change(f, "train[2]")->action, DIFF_NOOP);
    size_t k;
    const char *const *acts = diff_action_list(DIFF_REPLACE, true, &k);
    assert_int_equal(k, 2);
    assert_string_equal(acts[0], "create");
}

static void test_diff_keeps_a_node_unless_moving_saves_enough(void **ctx)
{
    struct fixture *f = *ctx;
    /* us-west-2 is 5% dearer: under the 10% threshold, the node stays */
    add_node(f, "train[0]", "us-west-2", 1.05);
    /* eu-west-1 is 30% dearer: it moves, and the reason says from where to where */
    add_node(f, "train[1]", "eu-west-1", 1.30);
    plan_and_diff(f);
    assert_int_equal(change(f, "train[0]")->action, DIFF_NOOP);
    const struct diff_change *c = change(f, "train[1]");
    assert_int_equal(c->action, DIFF_REPLACE);
    assert_string_equal(c->reason, "moves from aws/eu-west-1a g5.xlarge to aws/us-east-1a "
                                   "g5.xlarge ($1.30/h -> $1.00/h)");
    assert_int_equal(change(f, "train[2]")->action, DIFF_CREATE);
}

/* Replaces the fixture's stack by one whose workload `train` has these extra members. */
static void respec(struct fixture *f, const char *members)
{
    char y[512];
    snprintf(y, sizeof y,
             "version: 1\nstack: t\nclouds: { aws: { regions: [us-east-1, us-west-2, "
             "eu-west-1] } }\nworkloads:\n  train: { kind: training, gpu: A10G:1, nodes: 3, "
             "hours: 10%s }\n",
             members);
    spec_free(f->spec);
    f->spec = tl_spec(y, &f->diags);
    assert_non_null(f->spec);
    diff_release(&f->d);
    plan_result_free(f->res);
    f->res = NULL;
}

static void test_diff_finishes_verifications_left_pending(void **ctx)
{
    struct fixture *f = *ctx;
    const struct state_label team = {"team", "a"};
    for (int i = 0; i < 3; i++) {
        char a[16];
        snprintf(a, sizeof a, "train[%d]", i);
        add_node(f, a, "us-east-1", 1.0);
        struct state_node *n = state_find(f->st, a);
        n->verify = i == 2 ? STATE_VERIFY_PASSED : STATE_VERIFY_PENDING;
        if (i != 1) /* train[1]'s labels differ too */
            assert_int_equal(state_node_set_labels(n, &team, 1), 0);
    }
    respec(f, ", verify: quick, labels: { team: a }");
    plan_and_diff(f);
    const struct diff_change *c = change(f, "train[0]");
    assert_int_equal(c->action, DIFF_VERIFY);
    assert_true(c->finish_verify);
    assert_string_equal(c->reason, "verify quick: left pending by an interrupted run");
    assert_string_equal(diff_action_name(c->action), "verify");
    size_t n;
    const char *const *acts = diff_action_list(c->action, false, &n);
    assert_int_equal(n, 1);
    assert_string_equal(acts[0], "read");
    c = change(f, "train[1]");
    assert_int_equal(c->action, DIFF_UPDATE);
    assert_true(c->finish_verify);
    assert_string_equal(c->reason,
                        "labels: +team=a; verify quick: left pending by an interrupted run");
    assert_int_equal(change(f, "train[2]")->action, DIFF_NOOP);
    assert_int_equal(f->d.nverify, 1);
    assert_int_equal(f->d.nupdate, 1);
    assert_int_equal(diff_nchanges(&f->d), 2); /* not "no changes" */
    /* --target leaves it out like any change */
    const char *t[] = {"train[2]"}, *unmatched;
    assert_int_equal(diff_restrict(&f->d, t, 1, &unmatched), 0);
    assert_int_equal(f->d.nverify, 0);
    assert_int_equal(f->d.nskipped, 2);
    assert_int_equal(diff_nchanges(&f->d), 0);
    /* a workload that no longer asks for verification leaves it pending: nothing to do */
    respec(f, ", verify: none, labels: { team: a }");
    plan_and_diff(f);
    assert_int_equal(change(f, "train[0]")->action, DIFF_NOOP);
    assert_false(change(f, "train[0]")->finish_verify);
    assert_int_equal(change(f, "train[1]")->action, DIFF_UPDATE);
    assert_string_equal(change(f, "train[1]")->reason, "labels: +team=a");
    assert_int_equal(f->d.nverify, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_diff_without_state_creates_every_node, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_diff_of_an_applied_plan_is_empty_but_for_removed_nodes,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_diff_restrict_keeps_only_targeted_changes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_diff_replaces_tainted_and_failed_nodes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_diff_keeps_a_node_unless_moving_saves_enough, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_diff_finishes_verifications_left_pending, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
