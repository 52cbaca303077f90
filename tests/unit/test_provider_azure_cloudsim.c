/*
 * The Azure provider end to end against cloudsim's ARM dialect in this process, on
 * loopback: tokens from its Entra ID endpoint, create (NIC then VM, each followed through
 * its operation), list with paging, describe, find_by_token, console output through the
 * boot-diagnostics link, delete; under injected faults (5xx, 429, dropped connections,
 * garbage bodies, no capacity), quotas, a size the region lacks, spot eviction and a wrong
 * secret, counting the world's VMs and NICs so a retried create never makes a duplicate.
 * Assertions never depend on timing.
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
#include "modules/azure/arm.h"
#include "modules/cloudsim/sim.h"
#include "modules/provider.h"

#define TENANT "gpuform-test-tenant"
#define CLIENT "00000000-0000-4000-8000-0000000000c1"
#define SECRET "azure-test-secret-4d1f8a"
#define SUB    "00000000-0000-4000-8000-0000000000a5"
#define REGION "eastus"
#define TYPE   "Standard_NC4as_T4_v3"

struct fixture {
    struct sim_world *world;
    struct sim_server *server;
    struct core_http_client *http;
    struct prov *prov;
    char endpoint[64];
};

static void quota(struct sim_config *c, long vcpus)
{
    struct sim_quota *q = realloc(c->quotas, (c->nquotas + 1) * sizeof *q);
    assert_non_null(q);
    c->quotas = q;
    q[c->nquotas++] = (struct sim_quota){.region = strdup("westus2"),
                                         .on_demand_vcpus = vcpus,
                                         .spot_vcpus = SIM_UNLIMITED,
                                         .max_instances = SIM_UNLIMITED,
                                         .cloud = CORE_CLOUD_AZURE};
}

static struct prov *open_azure(struct fixture *f, struct prov_error *err)
{
    struct prov_config cfg = {.endpoint = f->endpoint, .http = f->http};
    return prov_azure.open(&cfg, err);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    struct core_diags d;
    struct sim_config c;
    core_diags_init(&d, 0);
    assert_int_equal(sim_config_defaults(&c, &d), 0);
    core_diags_release(&d);
    c.seed = 5;
    c.time_scale = 0.001; /* Creating and Deleting last milliseconds; Retry-After is 0 */
    c.timeout_hold_ms = 20;
    c.throttle = false;
    quota(&c, 8); /* westus2: 8 on-demand vCPUs */
    assert_int_equal(sim_config_add_azure_principal(&c, TENANT, CLIENT, SECRET), 0);
    f->world = sim_world_new(&c);
    assert_non_null(f->world);
    char err[256] = "";
    struct sim_server_options so = {.host = "127.0.0.1", .port = 0};
    f->server = sim_server_start(f->world, &so, err);
    if (!f->server)
        fail_msg("cloudsim did not start: %s", err);
    snprintf(f->endpoint, sizeof f->endpoint, "http://127.0.0.1:%u", sim_server_port(f->server));
    setenv("AZURE_TENANT_ID", TENANT, 1);
    setenv("AZURE_CLIENT_ID", CLIENT, 1);
    setenv("AZURE_CLIENT_SECRET", SECRET, 1);
    setenv("AZURE_AUTHORITY_HOST", f->endpoint, 1);
    setenv("AZURE_SUBSCRIPTION_ID", SUB, 1);
    setenv("AZURE_RESOURCE_GROUP", "Gpuform-RG", 1);
    setenv("GPUFORM_AZURE_SSH_PUBLIC_KEY", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAItest test", 1);
    unsetenv("GPUFORM_AZURE_ENDPOINT");
    unsetenv("GPUFORM_AZURE_SCOPE");
    unsetenv("GPUFORM_AZURE_IMAGE");
    struct core_http_options o = {
        .backoff_base_ms = 1, .backoff_cap_ms = 10, .max_attempts = 5, .timeout_ms = 20000};
    f->http = core_http_client_new(&o);
    assert_non_null(f->http);
    struct prov_error pe;
    f->prov = open_azure(f, &pe);
    if (!f->prov)
        fail_msg("the azure provider did not open: %s", pe.message);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->prov)
        f->prov->ops->close(f->prov);
    core_http_client_free(f->http);
    sim_server_stop(f->server);
    sim_world_free(f->world);
    free(f);
    return 0;
}

static void arm(struct fixture *f, enum sim_fault kind, long n)
{
    pthread_mutex_lock(&f->world->lock);
    f->world->fault_count[kind] = n;
    pthread_mutex_unlock(&f->world->lock);
}

static long armed(struct fixture *f, enum sim_fault kind)
{
    pthread_mutex_lock(&f->world->lock);
    long n = f->world->fault_count[kind];
    pthread_mutex_unlock(&f->world->lock);
    return n;
}

/* Azure VMs the world holds that are not terminated, and NICs. */
static size_t live_vms(struct fixture *f)
{
    size_t n = 0;
    pthread_mutex_lock(&f->world->lock);
    for (size_t i = 0; i < f->world->ninstances; i++) {
        const struct sim_instance *in = f->world->instances[i];
        n += in->cloud == CORE_CLOUD_AZURE && in->state != SIM_TERMINATED &&
             in->state != SIM_SHUTTING_DOWN;
    }
    pthread_mutex_unlock(&f->world->lock);
    return n;
}

static size_t nics(struct fixture *f)
{
    pthread_mutex_lock(&f->world->lock);
    size_t n = f->world->nresources;
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
                                .image = "ami-gpuform-default",
                                .user_data = "#!/bin/sh\necho gpuform\n"};
}

static void test_provider_azure_creates_lists_and_deletes_in_cloudsim(void **state)
{
    struct fixture *f = *state;
    const struct prov_ops *ops = f->prov->ops;
    struct prov_error err;
    struct prov_instance a, again;
    struct prov_create c = node("gf-demo-train-0", "train[0]");
    if (ops->create(f->prov, &c, &a, &err) != 0)
        fail_msg("create: %s", err.message);
    char name[AZURE_VM_NAME_MAX + 1];
    azure_vm_name("train[0]", "gf-demo-train-0", name);
    assert_string_equal(a.id, name);
    assert_string_equal(a.stack, "demo");
    assert_string_equal(a.address, "train[0]");
    assert_string_equal(a.token, "gf-demo-train-0");
    assert_string_equal(a.instance_type, TYPE);
    assert_string_equal(a.region, REGION);
    assert_int_equal(a.state, PROV_RUNNING); /* the operation was followed to Succeeded */
    assert_false(a.spot);
    assert_int_equal(live_vms(f), 1);
    assert_int_equal(nics(f), 1);

    /* the same token again: the same VM (a PUT of the same body), not a second one */
    assert_int_equal(ops->create(f->prov, &c, &again, &err), 0);
    assert_string_equal(again.id, a.id);
    assert_int_equal(live_vms(f), 1);
    assert_int_equal(nics(f), 1);

    struct prov_create s = node("gf-demo-train-1", "train[1]");
    s.spot = true;
    struct prov_instance b;
    if (ops->create(f->prov, &s, &b, &err) != 0)
        fail_msg("spot create: %s", err.message);
    assert_true(b.spot);

    struct prov_instance_list l = {0};
    if (ops->list(f->prov, REGION, "demo", &l, &err) != 0)
        fail_msg("list: %s", err.message);
    assert_int_equal(l.n, 2);
    prov_instance_list_release(&l);
    assert_int_equal(ops->list(f->prov, REGION, "another-stack", &l, &err), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(ops->list(f->prov, "westus2", "demo", &l, &err), 0);
    assert_int_equal(l.n, 0);
    prov_instance_list_release(&l);

    struct prov_instance d;
    assert_int_equal(ops->describe(f->prov, REGION, a.id, &d, &err), 0);
    assert_int_equal(d.state, PROV_RUNNING);
    bool found = false;
    assert_int_equal(ops->find_by_token(f->prov, REGION, "gf-demo-train-1", &d, &found, &err), 0);
    assert_true(found);
    assert_string_equal(d.id, b.id);
    assert_int_equal(ops->find_by_token(f->prov, REGION, "gf-none", &d, &found, &err), 0);
    assert_false(found);

    char *text = NULL;
    if (ops->console_output(f->prov, REGION, a.id, &text, &err) != 0)
        fail_msg("console: %s", err.message);
    assert_non_null(strstr(text, "Linux version"));
    free(text);

    assert_int_equal(ops->destroy(f->prov, REGION, a.id, &err), 0);
    assert_int_equal(ops->destroy(f->prov, REGION, b.id, &err), 0);
    assert_int_equal(live_vms(f), 0);
    assert_int_equal(nics(f), 0); /* each went with its VM */
    assert_int_equal(ops->describe(f->prov, REGION, a.id, &d, &err), -1);
    assert_int_equal(err.cls, PROV_NOT_FOUND);
    assert_int_equal(ops->destroy(f->prov, REGION, a.id, &err), 0); /* gone: done */
    assert_int_equal(ops->list(f->prov, REGION, "demo", &l, &err), 0);
    assert_int_equal(l.n, 0);
    prov_instance_list_release(&l);
}

static void test_provider_azure_lists_across_pages(void **state)
{
    struct fixture *f = *state;
    struct prov_error err;
    struct prov_instance in;
    for (int i = 0; i < 12; i++) {
        char tok[32], addr[32];
        snprintf(tok, sizeof tok, "gf-page-%d", i);
        snprintf(addr, sizeof addr, "w[%d]", i);
        struct prov_create c = node(tok, addr);
        if (f->prov->ops->create(f->prov, &c, &in, &err) != 0)
            fail_msg("create %d: %s", i, err.message);
    }
    struct prov_instance_list l = {0};
    assert_int_equal(f->prov->ops->list(f->prov, REGION, "demo", &l, &err), 0);
    assert_int_equal(l.n, 12); /* three pages of five */
    prov_instance_list_release(&l);
}

static void test_provider_azure_rides_out_faults_without_duplicates(void **state)
{
    struct fixture *f = *state;
    struct prov_error err;
    struct prov_instance in;
    struct prov_create c = node("gf-faulty-0", "faulty[0]");
    arm(f, SIM_FAULT_INTERNAL, 2);
    arm(f, SIM_FAULT_THROTTLE, 2);
    arm(f, SIM_FAULT_TIMEOUT, 1);
    int rc = f->prov->ops->create(f->prov, &c, &in, &err);
    if (rc != 0) /* a dropped connection may end the call: the executor retries the token */
        rc = f->prov->ops->create(f->prov, &c, &in, &err);
    if (rc != 0)
        fail_msg("create under faults: %s", err.message);
    assert_int_equal(armed(f, SIM_FAULT_INTERNAL), 0);
    assert_int_equal(armed(f, SIM_FAULT_THROTTLE), 0);
    assert_int_equal(armed(f, SIM_FAULT_TIMEOUT), 0);
    assert_int_equal(live_vms(f), 1);
    assert_int_equal(nics(f), 1);
    /* a garbled reply: transient, and the same token then finds the one VM */
    arm(f, SIM_FAULT_MALFORMED, 1);
    struct prov_instance d;
    assert_int_equal(f->prov->ops->describe(f->prov, REGION, in.id, &d, &err), -1);
    assert_int_equal(err.cls, PROV_TRANSIENT);
    assert_non_null(strstr(err.message, "can't read"));
    bool found = false;
    assert_int_equal(f->prov->ops->find_by_token(f->prov, REGION, "gf-faulty-0", &d, &found, &err),
                     0);
    assert_true(found);
    assert_string_equal(d.id, in.id);
}

static void test_provider_azure_reports_capacity_quota_and_sizes(void **state)
{
    struct fixture *f = *state;
    struct prov_error err;
    struct prov_instance in;
    struct prov_create c = node("gf-cap-0", "cap[0]");
    arm(f, SIM_FAULT_CAPACITY, 1);
    assert_int_equal(f->prov->ops->create(f->prov, &c, &in, &err), -1);
    assert_int_equal(err.cls, PROV_CAPACITY);
    assert_string_equal(err.code, "AllocationFailed");
    assert_int_equal(live_vms(f), 0);
    assert_int_equal(nics(f), 0); /* the failover leaves nothing behind */

    c = node("gf-quota-0", "quota[0]");
    c.region = "westus2";
    c.instance_type = "Standard_NC16as_T4_v3"; /* 16 vCPUs over a quota of 8 */
    assert_int_equal(f->prov->ops->create(f->prov, &c, &in, &err), -1);
    assert_int_equal(err.cls, PROV_QUOTA);
    assert_string_equal(err.code, "OperationNotAllowed");
    assert_non_null(strstr(err.message, "Total Regional Cores quota"));
    assert_int_equal(nics(f), 0);

    c = node("gf-sku-0", "sku[0]");
    c.region = "westus3";
    c.instance_type = "Standard_ND96asr_v4"; /* offered in eastus, not westus3 */
    assert_int_equal(f->prov->ops->create(f->prov, &c, &in, &err), -1);
    assert_int_equal(err.cls, PROV_CAPACITY);
    assert_string_equal(err.code, "SkuNotAvailable");
    c.instance_type = "Standard_Nonexistent_v9";
    assert_int_equal(f->prov->ops->create(f->prov, &c, &in, &err), -1);
    assert_int_equal(err.cls, PROV_INVALID);
    assert_int_equal(nics(f), 0);
}

static void test_provider_azure_sees_a_spot_eviction_as_deletion(void **state)
{
    struct fixture *f = *state;
    struct prov_error err;
    struct prov_instance in;
    struct prov_create c = node("gf-spot-0", "spot[0]");
    c.spot = true;
    if (f->prov->ops->create(f->prov, &c, &in, &err) != 0)
        fail_msg("create: %s", err.message);
    pthread_mutex_lock(&f->world->lock);
    for (size_t i = 0; i < f->world->ninstances; i++)
        if (f->world->instances[i]->cloud == CORE_CLOUD_AZURE)
            sim_world_terminate(f->world, f->world->instances[i], 0, true, NULL);
    pthread_mutex_unlock(&f->world->lock);
    /* evictionPolicy Delete: the VM and its NIC go */
    struct prov_instance_list l = {0};
    for (int tries = 0; tries < 200; tries++) { /* shutting-down lasts milliseconds */
        prov_instance_list_release(&l);
        assert_int_equal(f->prov->ops->list(f->prov, REGION, "demo", &l, &err), 0);
        if (l.n == 0)
            break;
    }
    assert_int_equal(l.n, 0);
    prov_instance_list_release(&l);
    struct prov_instance d;
    assert_int_equal(f->prov->ops->describe(f->prov, REGION, in.id, &d, &err), -1);
    assert_int_equal(err.cls, PROV_NOT_FOUND);
    assert_int_equal(nics(f), 0);
    /* the name is free again: the same token makes it anew */
    if (f->prov->ops->create(f->prov, &c, &d, &err) != 0)
        fail_msg("create after eviction: %s", err.message);
    assert_string_equal(d.id, in.id);
    assert_int_equal(live_vms(f), 1);
}

static size_t vm_tags(struct fixture *f, const char *key, char *value, size_t n)
{
    size_t found = 0;
    pthread_mutex_lock(&f->world->lock);
    for (size_t i = 0; i < f->world->ninstances; i++) {
        const struct sim_instance *in = f->world->instances[i];
        for (size_t t = 0; in->cloud == CORE_CLOUD_AZURE && t < in->ntags; t++)
            if (!strcmp(in->tags[t].key, key)) {
                snprintf(value, n, "%s", in->tags[t].value);
                found++;
            }
    }
    pthread_mutex_unlock(&f->world->lock);
    return found;
}

static void test_provider_azure_sets_labels_as_tags(void **state)
{
    struct fixture *f = *state;
    struct prov_error err;
    struct prov_instance in;
    const struct prov_tag labels[] = {{"team", "research"}, {"acme.io/cost-center", "4410"}};
    struct prov_create c = node("gf-label-0", "label[0]");
    c.tags = labels;
    c.ntags = 2;
    if (f->prov->ops->create(f->prov, &c, &in, &err) != 0)
        fail_msg("create: %s", err.message);
    char v[64];
    assert_int_equal(vm_tags(f, "team", v, sizeof v), 1);
    assert_string_equal(v, "research");
    assert_int_equal(vm_tags(f, "acme.io:cost-center", v, sizeof v), 1);
    const struct prov_tag set[] = {{"team", "infra"}};
    const char *const remove[] = {"acme.io/cost-center"};
    if (f->prov->ops->set_tags(f->prov, REGION, in.id, set, 1, remove, 1, &err) != 0)
        fail_msg("set_tags: %s", err.message);
    assert_int_equal(vm_tags(f, "team", v, sizeof v), 1);
    assert_string_equal(v, "infra");
    assert_int_equal(vm_tags(f, "acme.io:cost-center", v, sizeof v), 0);
    assert_int_equal(vm_tags(f, "gpuform-stack", v, sizeof v), 1);
    assert_string_equal(v, "demo");
}

static void test_provider_azure_refuses_a_wrong_secret(void **state)
{
    struct fixture *f = *state;
    setenv("AZURE_CLIENT_SECRET", "not-the-secret", 1);
    struct prov_error err;
    struct prov *p = open_azure(f, &err);
    assert_non_null(p); /* nothing is asked before the first call */
    struct prov_instance_list l = {0};
    assert_int_equal(p->ops->list(p, REGION, "demo", &l, &err), -1);
    assert_int_equal(err.cls, PROV_AUTH);
    assert_string_equal(err.code, "AADSTS7000215");
    assert_null(strstr(err.message, "not-the-secret"));
    p->ops->close(p);
    setenv("AZURE_CLIENT_SECRET", SECRET, 1);
    setenv("AZURE_TENANT_ID", "another-tenant", 1);
    p = open_azure(f, &err);
    assert_int_equal(p->ops->list(p, REGION, "demo", &l, &err), -1);
    assert_int_equal(err.cls, PROV_AUTH);
    assert_string_equal(err.code, "AADSTS90002");
    p->ops->close(p);
    setenv("AZURE_TENANT_ID", TENANT, 1);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_provider_azure_creates_lists_and_deletes_in_cloudsim),
        T(test_provider_azure_lists_across_pages),
        T(test_provider_azure_rides_out_faults_without_duplicates),
        T(test_provider_azure_reports_capacity_quota_and_sizes),
        T(test_provider_azure_sees_a_spot_eviction_as_deletion),
        T(test_provider_azure_sets_labels_as_tags),
        T(test_provider_azure_refuses_a_wrong_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
