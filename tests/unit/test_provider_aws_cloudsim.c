/*
 * The AWS provider end to end against cloudsim in this process, on loopback: create, list,
 * describe, console output and delete through the provider vtable, the real HTTP client,
 * SigV4 and cloudsim's verifier, under injected faults (5xx, throttling, dropped
 * connections, garbage bodies, no capacity, a wrong secret), counting the world's instances
 * so a retried create never makes a duplicate. Assertions never depend on timing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"
#include "modules/aws/ec2.h"
#include "modules/cloudsim/sim.h"
#include "modules/provider.h"
#include "sim_testlib.h"

#define AKID   "AKIDGPUFORMTEST0001"
#define SECRET "gpuform-test-secret-d41d8cd98f00b204e980"
#define REGION "us-east-1"
#define TYPE   "p3.2xlarge"

struct fixture {
    struct sim_world *world;
    struct sim_server *server;
    struct core_http_client *http;
    struct prov *prov;
    char endpoint[64];
};

static void clean_env(void)
{
    static const char *const vars[] = {
        "AWS_SESSION_TOKEN",    "AWS_PROFILE",      "GPUFORM_AWS_ENDPOINT",
        "AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL", "AWS_SHARED_CREDENTIALS_FILE",
        "HTTPS_PROXY",          "https_proxy",      "HTTP_PROXY",
        "http_proxy",           "ALL_PROXY",        "all_proxy"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        unsetenv(vars[i]);
    setenv("AWS_ACCESS_KEY_ID", AKID, 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
}

/* Opens the provider on the fixture's endpoint with the environment as it is now. */
static struct prov *open_aws(struct fixture *f, struct prov_error *err)
{
    const struct prov_ops *ops = prov_find("aws");
    assert_non_null(ops);
    struct prov_config cfg = {.endpoint = f->endpoint, .http = f->http};
    return ops->open(&cfg, err);
}

static int setup(void **state)
{
    clean_env();
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    struct core_diags d;
    struct sim_config c;
    core_diags_init(&d, 0);
    assert_int_equal(sim_config_defaults(&c, &d), 0);
    core_diags_release(&d);
    c.seed = 7;
    c.time_scale = 0.001;   /* pending and shutting-down last milliseconds */
    c.timeout_hold_ms = 20; /* a "timeout" fault drops the connection soon */
    assert_int_equal(sim_config_add_credential(&c, AKID, SECRET), 0);
    sim_tl_serve(&c, &f->world, &f->server, f->endpoint);
    f->http = sim_tl_http();
    struct prov_error pe;
    f->prov = open_aws(f, &pe);
    if (!f->prov)
        fail_msg("the aws provider did not open: %s", pe.message);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->prov)
        f->prov->ops->close(f->prov);
    core_http_client_free(f->http);
    sim_tl_stop(f->world, f->server);
    free(f);
    return 0;
}

/* How many instances the world holds that were launched with `token`. */
static size_t world_count(struct fixture *f, const char *token)
{
    size_t n = 0;
    pthread_mutex_lock(&f->world->lock);
    for (size_t i = 0; i < f->world->ninstances; i++) {
        const struct sim_instance *in = f->world->instances[i];
        if (!token || (in->client_token && strcmp(in->client_token, token) == 0))
            n++;
    }
    pthread_mutex_unlock(&f->world->lock);
    return n;
}

static struct prov_create node(const char *token, const char *address)
{
    return (struct prov_create){.stack = "demo",
                                .address = address,
                                .token = token,
                                .region = REGION,
                                .instance_type = TYPE,
                                .image = "ami-0123456789abcdef0",
                                .user_data = "#!/bin/sh\necho gpuform\n"};
}

static void test_provider_registry_knows_aws_only(void **state)
{
    (void)state;
    assert_ptr_equal(prov_find("aws"), &prov_aws);
    assert_null(prov_find("nosuchcloud"));
    assert_null(prov_find(NULL));
    assert_string_equal(prov_error_class_name(PROV_CAPACITY), "capacity");
    assert_string_equal(prov_error_class_name(PROV_THROTTLED), "throttled");
    assert_string_equal(prov_state_name(PROV_SHUTTING_DOWN), "shutting-down");
}

static void test_provider_aws_creates_lists_and_deletes_in_cloudsim(void **state)
{
    struct fixture *f = *state;
    const struct prov_ops *ops = f->prov->ops;
    struct prov_error err;
    struct prov_instance a, again;
    struct prov_create c = node("gpuform-demo-train-0", "train/0");
    if (ops->create(f->prov, &c, &a, &err) != 0)
        fail_msg("create: %s", err.message);
    assert_memory_equal(a.id, "i-", 2);
    assert_string_equal(a.stack, "demo");
    assert_string_equal(a.address, "train/0");
    assert_string_equal(a.instance_type, TYPE);
    assert_string_equal(a.region, REGION);
    assert_false(a.spot);

    /* the same token again: the same instance, not a second one */
    assert_int_equal(ops->create(f->prov, &c, &again, &err), 0);
    assert_string_equal(again.id, a.id);
    assert_int_equal(world_count(f, NULL), 1);

    struct prov_create s = node("gpuform-demo-train-1", "train/1");
    s.spot = true;
    struct prov_instance b;
    if (ops->create(f->prov, &s, &b, &err) != 0)
        fail_msg("spot create: %s", err.message);
    assert_true(b.spot);
    assert_string_not_equal(b.id, a.id);

    struct prov_instance_list l = {0};
    if (ops->list(f->prov, REGION, "demo", &l, &err) != 0)
        fail_msg("list: %s", err.message);
    assert_int_equal(l.n, 2);
    int seen = 0;
    for (size_t i = 0; i < l.n; i++)
        seen |= (strcmp(l.items[i].id, a.id) == 0) | (strcmp(l.items[i].id, b.id) == 0) << 1;
    assert_int_equal(seen, 3);
    prov_instance_list_release(&l);
    assert_int_equal(ops->list(f->prov, REGION, "another-stack", &l, &err), 0);
    assert_int_equal(l.n, 0);
    prov_instance_list_release(&l);

    struct prov_instance d;
    assert_int_equal(ops->describe(f->prov, REGION, a.id, &d, &err), 0);
    assert_string_equal(d.id, a.id);
    assert_string_equal(d.address, "train/0");
    assert_true(d.zone[0] != '\0');

    bool found = false;
    assert_int_equal(ops->find_by_token(f->prov, REGION, "gpuform-demo-train-1", &d, &found, &err),
                     0);
    assert_true(found);
    assert_string_equal(d.id, b.id);
    assert_int_equal(ops->find_by_token(f->prov, REGION, "never-used", &d, &found, &err), 0);
    assert_false(found);

    char *text = NULL;
    if (ops->console_output(f->prov, REGION, a.id, &text, &err) != 0)
        fail_msg("console output: %s", err.message);
    assert_non_null(text);
    free(text);

    assert_int_equal(ops->destroy(f->prov, REGION, a.id, &err), 0);
    assert_int_equal(ops->destroy(f->prov, REGION, b.id, &err), 0);
    /* deleting again, and deleting what never existed, are both success */
    assert_int_equal(ops->destroy(f->prov, REGION, a.id, &err), 0);
    int rc = ops->destroy(f->prov, REGION, "i-0000000000000000f", &err);
    if (rc != 0)
        fail_msg("destroying a missing instance: %s", err.message);

    assert_int_equal(ops->list(f->prov, REGION, "demo", &l, &err), 0);
    for (size_t i = 0; i < l.n; i++)
        assert_true(l.items[i].state == PROV_SHUTTING_DOWN || l.items[i].state == PROV_TERMINATED);
    prov_instance_list_release(&l);
    assert_int_equal(ops->describe(f->prov, REGION, "i-0000000000000000f", &d, &err), -1);
    assert_int_equal(err.cls, PROV_NOT_FOUND);
    assert_int_equal(world_count(f, NULL), 2);
}

static void test_provider_aws_rides_out_5xx_throttling_and_dropped_connections(void **state)
{
    struct fixture *f = *state;
    struct prov_error err;
    struct prov_instance a;
    /* four failed attempts in a row, each a different fault; the fifth gets through */
    sim_tl_arm(f->world, SIM_FAULT_INTERNAL, 1);
    sim_tl_arm(f->world, SIM_FAULT_UNAVAILABLE, 1);
    sim_tl_arm(f->world, SIM_FAULT_THROTTLE, 1);
    sim_tl_arm(f->world, SIM_FAULT_TIMEOUT, 1);
    struct prov_create c = node("gpuform-demo-storm-0", "storm/0");
    if (f->prov->ops->create(f->prov, &c, &a, &err) != 0)
        fail_msg("create under faults: %s", err.message);
    assert_int_equal(world_count(f, NULL), 1);
    for (int k = SIM_FAULT_INTERNAL; k <= SIM_FAULT_TIMEOUT; k++)
        assert_int_equal(sim_tl_armed(f->world, (enum sim_fault)k), 0); /* every fault was met */

    struct prov_instance_list l = {0};
    sim_tl_arm(f->world, SIM_FAULT_UNAVAILABLE, 2);
    assert_int_equal(f->prov->ops->list(f->prov, REGION, "demo", &l, &err), 0);
    assert_int_equal(sim_tl_armed(f->world, SIM_FAULT_UNAVAILABLE), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].id, a.id);
    prov_instance_list_release(&l);
}

static void test_provider_aws_storm_of_creates_all_succeed_once_each(void **state)
{
    struct fixture *f = *state;
    /* more RunInstances than the bucket's burst of 5: the client waits for tokens */
    enum { N = 9 };
    for (int i = 0; i < N; i++) {
        char token[32], address[32];
        snprintf(token, sizeof token, "gpuform-demo-w-%d", i);
        snprintf(address, sizeof address, "w/%d", i);
        struct prov_create c = node(token, address);
        struct prov_instance a;
        struct prov_error err;
        if (f->prov->ops->create(f->prov, &c, &a, &err) != 0)
            fail_msg("create %d: %s", i, err.message);
        assert_int_equal(world_count(f, token), 1);
    }
    assert_int_equal(world_count(f, NULL), N);
}

static void test_provider_aws_garbage_reply_after_a_create_makes_no_duplicate(void **state)
{
    struct fixture *f = *state;
    const struct prov_ops *ops = f->prov->ops;
    struct prov_error err;
    struct prov_instance a, b;
    /* cloudsim launches the instance, then mangles the 200 reply */
    sim_tl_arm(f->world, SIM_FAULT_MALFORMED, 1);
    struct prov_create c = node("gpuform-demo-lost-0", "lost/0");
    assert_int_equal(ops->create(f->prov, &c, &a, &err), -1);
    assert_int_equal(sim_tl_armed(f->world, SIM_FAULT_MALFORMED), 0);
    assert_int_equal(err.cls, PROV_TRANSIENT);
    assert_non_null(strstr(err.message, "RunInstances"));
    assert_int_equal(world_count(f, "gpuform-demo-lost-0"), 1);

    /* how the executor settles it: by token, then a retried create with the same token */
    bool found = false;
    assert_int_equal(ops->find_by_token(f->prov, REGION, c.token, &a, &found, &err), 0);
    assert_true(found);
    assert_int_equal(ops->create(f->prov, &c, &b, &err), 0);
    assert_string_equal(a.id, b.id);
    assert_int_equal(world_count(f, NULL), 1);
}

static void test_provider_aws_capacity_error_is_classed_capacity(void **state)
{
    struct fixture *f = *state;
    struct prov_error err;
    struct prov_instance a;
    sim_tl_arm(f->world, SIM_FAULT_CAPACITY, 100); /* more than the client's retries */
    struct prov_create c = node("gpuform-demo-full-0", "full/0");
    assert_int_equal(f->prov->ops->create(f->prov, &c, &a, &err), -1);
    assert_int_equal(err.cls, PROV_CAPACITY);
    assert_string_equal(err.code, "InsufficientInstanceCapacity");
    assert_true(err.request_id[0] != '\0');
    assert_int_equal(world_count(f, NULL), 0);
    sim_tl_arm(f->world, SIM_FAULT_CAPACITY, 0);
}

static void test_provider_aws_wrong_secret_is_an_auth_error_without_the_secret(void **state)
{
    struct fixture *f = *state;
    static const char wrong[] = "gpuform-wrong-secret-0123456789abcdef";
    setenv("AWS_SECRET_ACCESS_KEY", wrong, 1);
    struct prov_error err;
    struct prov *p = open_aws(f, &err);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    if (!p)
        fail_msg("open: %s", err.message);
    struct prov_instance_list l = {0};
    assert_int_equal(p->ops->list(p, REGION, "demo", &l, &err), -1);
    assert_int_equal(err.cls, PROV_AUTH);
    assert_null(strstr(err.message, wrong));
    assert_null(strstr(err.message, SECRET));
    assert_true(err.code[0] != '\0');
    /* the message says where the credentials came from, so the user knows what to fix */
    assert_non_null(strstr(err.message, "environment"));
    prov_instance_list_release(&l);
    p->ops->close(p);

    /* an unknown access key id: auth as well */
    setenv("AWS_ACCESS_KEY_ID", "AKIDNOTKNOWNTOCLOUDSIM", 1);
    p = open_aws(f, &err);
    setenv("AWS_ACCESS_KEY_ID", AKID, 1);
    assert_non_null(p);
    assert_int_equal(p->ops->list(p, REGION, "demo", &l, &err), -1);
    assert_int_equal(err.cls, PROV_AUTH);
    assert_string_equal(err.code, "AuthFailure");
    prov_instance_list_release(&l);
    p->ops->close(p);
}

static void test_provider_aws_without_credentials_says_where_it_looked(void **state)
{
    struct fixture *f = *state;
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/gpuform-test/credentials", 1);
    struct prov_error err;
    struct prov *p = open_aws(f, &err);
    clean_env();
    assert_null(p);
    assert_int_equal(err.cls, PROV_AUTH);
    assert_non_null(strstr(err.message, "/nonexistent/gpuform-test/credentials"));
    assert_non_null(strstr(err.message, "AWS_ACCESS_KEY_ID"));
}

static void test_provider_aws_reads_spot_prices_from_cloudsim(void **state)
{
    struct fixture *f = *state;
    struct ec2_spot_price prices[64];
    size_t n = 0;
    struct prov_error err;
    if (aws_spot_price_history(f->prov, REGION, TYPE, prices, 64, &n, &err) != 0)
        fail_msg("spot prices: %s", err.message);
    assert_true(n > 0); /* the bundled catalog has a spot price for p3.2xlarge here */
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(prices[i].instance_type, TYPE);
        assert_true(prices[i].usd_per_hour > 0);
        assert_true(prices[i].zone[0] != '\0');
    }
    /* a type the region doesn't offer: no prices, not an error */
    assert_int_equal(aws_spot_price_history(f->prov, REGION, "x9.nosuch", prices, 64, &n, &err), 0);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_provider_registry_knows_aws_only),
        cmocka_unit_test_setup_teardown(test_provider_aws_creates_lists_and_deletes_in_cloudsim,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_provider_aws_rides_out_5xx_throttling_and_dropped_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_provider_aws_storm_of_creates_all_succeed_once_each,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_provider_aws_garbage_reply_after_a_create_makes_no_duplicate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_provider_aws_capacity_error_is_classed_capacity, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_provider_aws_wrong_secret_is_an_auth_error_without_the_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(test_provider_aws_without_credentials_says_where_it_looked,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_provider_aws_reads_spot_prices_from_cloudsim, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
