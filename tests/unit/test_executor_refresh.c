/*
 * Refresh against an in-process cloudsim through the AWS provider: instances terminated
 * out of band leave the state, changed ones and unknown tagged ones are reported (a zone id
 * matches any zone the cloud picked), and a
 * cloud that can't be asked fails the refresh without touching the state.
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
#include "executor/refresh.h"
#include "modules/cloudsim/sim.h"
#include "modules/provider.h"

#define AKID   "AKIDREFRESHTEST00001"
#define SECRET "refresh-test-secret-0123456789"

struct fixture {
    struct sim_world *world;
    struct sim_server *server;
    struct core_http_client *http;
    struct prov *prov;
    struct state *st;
};

static struct prov *prov_for(void *ctx, const char *cloud)
{
    struct fixture *f = ctx;
    return strcmp(cloud, "aws") == 0 ? f->prov : NULL;
}

static struct prov *no_prov(void *ctx, const char *cloud)
{
    (void)ctx;
    (void)cloud;
    return NULL;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct core_diags d;
    struct sim_config c;
    core_diags_init(&d, 0);
    assert_int_equal(sim_config_defaults(&c, &d), 0);
    core_diags_release(&d);
    c.seed = 3;
    c.time_scale = 0.001;
    assert_int_equal(sim_config_add_credential(&c, AKID, SECRET), 0);
    f->world = sim_world_new(&c);
    char err[256] = "";
    struct sim_server_options so = {.host = "127.0.0.1", .port = 0};
    f->server = sim_server_start(f->world, &so, err);
    if (!f->server)
        fail_msg("cloudsim: %s", err);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%u", sim_server_port(f->server));
    setenv("AWS_ACCESS_KEY_ID", AKID, 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    unsetenv("AWS_SESSION_TOKEN");
    struct core_http_options o = {.backoff_base_ms = 1, .backoff_cap_ms = 10};
    f->http = core_http_client_new(&o);
    struct prov_config cfg = {.endpoint = endpoint, .http = f->http};
    struct prov_error pe;
    f->prov = prov_aws.open(&cfg, &pe);
    if (!f->prov)
        fail_msg("provider: %s", pe.message);
    f->st = state_new("refresh");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    state_free(f->st);
    prov_aws.close(f->prov);
    core_http_client_free(f->http);
    sim_server_stop(f->server);
    sim_world_free(f->world);
    free(f);
    return 0;
}

/* Creates an instance tagged for the stack; when `record`, puts it in the state too. */
static void launch(struct fixture *f, char *address, bool record, struct prov_instance *in)
{
    char token[64];
    snprintf(token, sizeof token, "refresh-%s", address);
    struct prov_create c = {.stack = "refresh",
                            .address = address,
                            .token = token,
                            .region = "us-east-1",
                            .instance_type = "g5.xlarge",
                            .image = "ami-1"};
    struct prov_error err;
    if (prov_aws.create(f->prov, &c, in, &err) != 0)
        fail_msg("create: %s", err.message);
    if (!record)
        return;
    struct state_node n = {
        .address = address,
        .provider = "aws",
        .cloud_id = in->id,
        .token = token,
        .placement = {"aws", "us-east-1", in->zone, "g5.xlarge", "A10G", 1, false},
        .hourly_usd = 1.006,
        .status = STATE_RUNNING};
    assert_non_null(state_put(f->st, &n));
}

static const struct refresh_drift *drift(const struct refresh_result *r, const char *address)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->items[i].address, address) == 0)
            return &r->items[i];
    return NULL;
}

static void test_refresh_finds_terminated_changed_and_unknown_instances(void **state)
{
    struct fixture *f = *state;
    struct prov_instance a, b, c, x;
    launch(f, "web[0]", true, &a);
    launch(f, "web[1]", true, &b);
    launch(f, "web[2]", true, &c);
    launch(f, "stray[0]", false, &x); /* tagged, unknown to the state */
    struct prov_error err;
    /* out of band; web[0] is the state's first node, so its strings named the place */
    assert_int_equal(prov_aws.destroy(f->prov, "us-east-1", a.id, &err), 0);
    free(state_find(f->st, "web[2]")->placement.instance_type);
    state_find(f->st, "web[2]")->placement.instance_type = strdup("g6.xlarge");
    struct refresh_place extra[] = {{"aws", "us-west-2"}};
    struct refresh_result r;
    assert_int_equal(refresh_state(f->st, "refresh", extra, 1, prov_for, f, &r, &err), 0);
    assert_int_equal(r.calls, 2); /* us-east-1 and us-west-2, once each */
    const struct refresh_drift *d = drift(&r, "web[0]");
    assert_non_null(d);
    assert_int_equal(d->kind, REFRESH_GONE);
    assert_string_equal(d->id, a.id);
    assert_null(state_find(f->st, "web[0]"));
    d = drift(&r, "web[2]");
    assert_non_null(d);
    assert_int_equal(d->kind, REFRESH_CHANGED);
    assert_non_null(strstr(d->detail, "runs as g5.xlarge"));
    assert_non_null(state_find(f->st, "web[2]")); /* reported, kept */
    d = drift(&r, "stray[0]");
    assert_non_null(d);
    assert_int_equal(d->kind, REFRESH_UNKNOWN);
    assert_non_null(strstr(d->detail, "gpuform import stray[0]"));
    assert_null(drift(&r, "web[1]"));
    assert_int_equal(r.n, 3);
    assert_int_equal(f->st->nnodes, 2);
    refresh_result_release(&r);
}

/* The plan's zone may be a zone id ("use1-az1"), which apply does not send: the cloud picks
 * the zone, so its zone name is no drift. A zone name that differs still is. */
static void test_refresh_compares_zone_names_not_zone_ids(void **state)
{
    struct fixture *f = *state;
    struct prov_instance a, b;
    launch(f, "web[0]", true, &a);
    launch(f, "web[1]", true, &b);
    assert_string_not_equal(a.zone, "");
    struct state_node *n = state_find(f->st, "web[0]");
    free(n->placement.zone);
    n->placement.zone = strdup("use1-az1");
    n = state_find(f->st, "web[1]");
    free(n->placement.zone);
    n->placement.zone = strdup("us-east-1z");
    struct refresh_result r;
    struct prov_error err;
    assert_int_equal(refresh_state(f->st, "refresh", NULL, 0, prov_for, f, &r, &err), 0);
    assert_null(drift(&r, "web[0]"));
    const struct refresh_drift *d = drift(&r, "web[1]");
    assert_non_null(d);
    assert_int_equal(d->kind, REFRESH_CHANGED);
    assert_non_null(strstr(d->detail, "the state says g5.xlarge in us-east-1z"));
    assert_int_equal(r.n, 1);
    refresh_result_release(&r);
}

static void test_refresh_without_a_provider_changes_nothing(void **state)
{
    struct fixture *f = *state;
    struct prov_instance a;
    launch(f, "web[0]", true, &a);
    struct prov_error derr;
    assert_int_equal(prov_aws.destroy(f->prov, "us-east-1", a.id, &derr), 0);
    struct refresh_result r;
    struct prov_error err;
    assert_int_equal(refresh_state(f->st, "refresh", NULL, 0, no_prov, f, &r, &err), -1);
    assert_non_null(strstr(err.message, "no provider for cloud 'aws'"));
    assert_int_equal(f->st->nnodes, 1); /* untouched */
    refresh_result_release(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_refresh_finds_terminated_changed_and_unknown_instances,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh_compares_zone_names_not_zone_ids, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_refresh_without_a_provider_changes_nothing, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
