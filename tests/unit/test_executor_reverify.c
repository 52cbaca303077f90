/*
 * Recording the outcome of re-verifying running nodes (executor/reverify.h): passed and
 * failed nodes marked, a failed one tainted unless on_verify accepts it, unverified nodes
 * and nodes replaced meanwhile left alone; the status names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "executor/reverify.h"

static struct state *two_nodes(void)
{
    struct state *st = state_new("s");
    assert_non_null(st);
    const char *addr[] = {"chat[0]", "chat[1]"}, *ids[] = {"i-0", "i-1"};
    for (int i = 0; i < 2; i++) {
        struct state_node n = {.address = (char *)(uintptr_t)addr[i],
                               .provider = "aws",
                               .cloud_id = (char *)(uintptr_t)ids[i],
                               .token = "tok",
                               .placement = {.cloud = "aws",
                                             .region = "us-east-1",
                                             .zone = "us-east-1a",
                                             .instance_type = "g5.xlarge",
                                             .gpu = "A10G",
                                             .gpus = 1},
                               .status = STATE_RUNNING,
                               .verify = STATE_VERIFY_PASSED,
                               .verify_detail = "quick: passed (7 checks, 0.5 s, cpu)"};
        assert_non_null(state_put(st, &n));
    }
    return st;
}

static void outcome(struct exec_reverify_node *n, const char *address, const char *id,
                    enum exec_reverify_status s, const char *detail)
{
    memset(n, 0, sizeof *n);
    snprintf(n->address, sizeof n->address, "%s", address);
    snprintf(n->cloud_id, sizeof n->cloud_id, "%s", id);
    n->status = s;
    snprintf(n->detail, sizeof n->detail, "%s", detail);
    snprintf(n->reason, sizeof n->reason, "%s", detail);
}

struct seen {
    int calls;
    enum exec_verdict verdict;
    char reason[128];
};

static int decide(void *ctx, const struct state_node *node, const char *report, const char *reason,
                  enum exec_verdict *v, char *who, size_t wholen)
{
    struct seen *s = ctx;
    (void)report;
    assert_int_equal(node->verify, STATE_VERIFY_FAILED); /* it sees the node as failed */
    s->calls++;
    snprintf(s->reason, sizeof s->reason, "%s", reason);
    *v = s->verdict;
    snprintf(who, wholen, "policy 'p.lua'");
    return 0;
}

static void test_reverify_marks_passed_and_taints_failed_nodes(void **state)
{
    (void)state;
    struct state *st = two_nodes();
    struct exec_reverify_node n[2];
    outcome(&n[0], "chat[0]", "i-0", EXEC_REVERIFY_FAILED, "verify failed: memory");
    outcome(&n[1], "chat[1]", "i-1", EXEC_REVERIFY_PASSED, "full: passed (9 checks, 2.0 s, cuda)");
    FILE *log = tmpfile();
    assert_int_equal(exec_reverify_mark(st, n, 2, NULL, NULL, log), 2);
    struct state_node *a = state_find(st, "chat[0]"), *b = state_find(st, "chat[1]");
    assert_int_equal(a->verify, STATE_VERIFY_FAILED);
    assert_string_equal(a->verify_detail, "verify failed: memory");
    assert_true(a->tainted);
    assert_int_equal(a->status, STATE_RUNNING);
    assert_int_equal(b->verify, STATE_VERIFY_PASSED);
    assert_string_equal(b->verify_detail, "full: passed (9 checks, 2.0 s, cuda)");
    assert_false(b->tainted);
    assert_true(n[0].recorded && n[1].recorded);
    fclose(log);
    state_free(st);
}

static void test_reverify_asks_on_verify_and_an_accept_keeps_the_node(void **state)
{
    (void)state;
    struct state *st = two_nodes();
    struct exec_reverify_node n[1];
    outcome(&n[0], "chat[0]", "i-0", EXEC_REVERIFY_FAILED, "verify failed: gemm");
    struct seen s = {.verdict = EXEC_VERDICT_ACCEPT};
    FILE *log = tmpfile();
    assert_int_equal(exec_reverify_mark(st, n, 1, decide, &s, log), 1);
    assert_int_equal(s.calls, 1);
    assert_string_equal(s.reason, "verify failed: gemm");
    struct state_node *a = state_find(st, "chat[0]");
    assert_int_equal(a->verify, STATE_VERIFY_ACCEPTED);
    assert_string_equal(a->verify_detail, "accepted by policy 'p.lua': verify failed: gemm");
    assert_false(a->tainted);
    /* "taint" (or "replace": a running node is not replaced here) taints */
    s.verdict = EXEC_VERDICT_REPLACE;
    assert_int_equal(exec_reverify_mark(st, n, 1, decide, &s, log), 1);
    assert_int_equal(a->verify, STATE_VERIFY_FAILED);
    assert_true(a->tainted);
    fclose(log);
    state_free(st);
}

static void test_reverify_leaves_unverified_and_replaced_nodes_alone(void **state)
{
    (void)state;
    struct state *st = two_nodes();
    struct exec_reverify_node n[3];
    outcome(&n[0], "chat[0]", "i-0", EXEC_REVERIFY_UNVERIFIED, "no verify report ...");
    outcome(&n[1], "chat[1]", "i-old", EXEC_REVERIFY_FAILED, "verify failed: memory");
    outcome(&n[2], "chat[9]", "i-9", EXEC_REVERIFY_PASSED, "quick: passed");
    char *text = NULL;
    size_t len = 0;
    FILE *log = open_memstream(&text, &len);
    assert_int_equal(exec_reverify_mark(st, n, 3, NULL, NULL, log), 0);
    fclose(log);
    assert_non_null(strstr(text, "chat[1]: not recorded: the node was replaced while it was "
                                 "verified (the state now holds i-1)"));
    assert_non_null(strstr(text, "chat[9]: not recorded: the node was removed"));
    free(text);
    for (int i = 0; i < 2; i++) {
        struct state_node *x = &st->nodes[i];
        assert_int_equal(x->verify, STATE_VERIFY_PASSED);
        assert_false(x->tainted);
    }
    assert_false(n[0].recorded || n[1].recorded || n[2].recorded);
    assert_string_equal(exec_reverify_status_name(EXEC_REVERIFY_UNVERIFIED), "unverified");
    assert_string_equal(exec_reverify_status_name(EXEC_REVERIFY_FAILED), "failed");
    assert_string_equal(exec_reverify_status_name(EXEC_REVERIFY_PASSED), "passed");
    state_free(st);
}

static void test_reverify_without_a_secret_is_refused(void **state)
{
    (void)state;
    struct state *st = two_nodes();
    struct exec_reverify_node n[1];
    outcome(&n[0], "chat[0]", "i-0", EXEC_REVERIFY_UNVERIFIED, "");
    struct exec_reverify_options o = {.log = NULL};
    char err[256];
    assert_int_equal(exec_reverify_run(st, NULL, 0, n, 1, &o, err, sizeof err), -1);
    assert_non_null(strstr(err, "no verify secret"));
    state_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reverify_marks_passed_and_taints_failed_nodes),
        cmocka_unit_test(test_reverify_asks_on_verify_and_an_accept_keeps_the_node),
        cmocka_unit_test(test_reverify_leaves_unverified_and_replaced_nodes_alone),
        cmocka_unit_test(test_reverify_without_a_secret_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
