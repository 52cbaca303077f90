/*
 * The GCP provider end to end against cloudsim in this process, on loopback: a service
 * account made for the test signs its JWT, cloudsim's token endpoint checks it, and create,
 * list (aggregated, paged), describe, find_by_token, console output and delete go through
 * the provider vtable, the real HTTP client and the GCE dialect, under injected faults
 * (5xx, throttling, a dropped connection, a garbled reply after the insert was done), no
 * capacity, a quota, a type or accelerator the zone lacks, and a key cloudsim does not know.
 * The world's instances are counted so a retried insert never makes a second one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/http.h"
#include "modules/cloudsim/sim.h"
#include "modules/gcp/gcp.h"
#include "modules/provider.h"
#include "sim_testlib.h"

#define PROJECT "proj-test"
#define REGION  "us-central1"
#define ZONE    "us-central1-a"

struct fixture {
    struct sim_world *world;
    struct sim_server *server;
    struct core_http_client *http;
    struct prov *prov;
    char endpoint[64];
    char dir[64];
    char key[128];
};

static void clean_env(void)
{
    static const char *const vars[] = {"GOOGLE_CLOUD_PROJECT",
                                       "CLOUDSDK_CORE_PROJECT",
                                       "CLOUDSDK_CONFIG",
                                       "GCE_METADATA_HOST",
                                       "GPUFORM_GCP_ENDPOINT",
                                       "GPUFORM_GCP_TOKEN_URI",
                                       "GPUFORM_GCP_IMAGE",
                                       "HTTPS_PROXY",
                                       "https_proxy",
                                       "HTTP_PROXY",
                                       "http_proxy",
                                       "ALL_PROXY",
                                       "all_proxy"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        unsetenv(vars[i]);
}

static struct prov *open_gcp(struct fixture *f, struct prov_error *err)
{
    const struct prov_ops *ops = prov_find("gcp");
    assert_non_null(ops);
    struct prov_config cfg = {.endpoint = f->endpoint, .http = f->http};
    return ops->open(&cfg, err);
}

static void limits(struct sim_config *c)
{
    c->capacity = calloc(1, sizeof *c->capacity);
    c->capacity[0] =
        (struct sim_capacity_rule){strdup(ZONE), strdup("a2-highgpu-1g"), 0, CORE_CLOUD_GCP};
    c->ncapacity = 1;
    c->quotas = calloc(1, sizeof *c->quotas);
    c->quotas[0] =
        (struct sim_quota){strdup("europe-west4"), 8, SIM_UNLIMITED, SIM_UNLIMITED, CORE_CLOUD_GCP};
    c->nquotas = 1;
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
    c.seed = 11;
    c.time_scale = 0.001;
    c.timeout_hold_ms = 20;
    c.buckets[SIM_FAM_RUN].burst = 1000; /* these tests are not about the bucket */
    limits(&c);
    struct sim_gce_key k;
    char why[320];
    assert_int_equal(sim_gce_generate_account(&c, PROJECT, &k, why, sizeof why), 0);
    sim_tl_serve(&c, &f->world, &f->server, f->endpoint);
    snprintf(f->dir, sizeof f->dir, "/tmp/gcp-provider-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->key, sizeof f->key, "%s/key.json", f->dir);
    char token_uri[128];
    snprintf(token_uri, sizeof token_uri, "%s/token", f->endpoint);
    assert_int_equal(sim_gce_write_key_file(&k, token_uri, f->key, why, sizeof why), 0);
    sim_gce_key_release(&k);
    setenv("GOOGLE_APPLICATION_CREDENTIALS", f->key, 1);
    f->http = sim_tl_http();
    struct prov_error pe;
    f->prov = open_gcp(f, &pe);
    if (!f->prov)
        fail_msg("the gcp provider did not open: %s", pe.message);
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
    unlink(f->key);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Live GCP instances in the world named `name`. */
static size_t named(struct fixture *f, const char *name)
{
    size_t n = 0;
    pthread_mutex_lock(&f->world->lock);
    for (size_t i = 0; i < f->world->ninstances; i++) {
        const struct sim_instance *in = f->world->instances[i];
        n += in->cloud == CORE_CLOUD_GCP && in->name && !strcmp(in->name, name) &&
             (in->state == SIM_PENDING || in->state == SIM_RUNNING);
    }
    pthread_mutex_unlock(&f->world->lock);
    return n;
}

static struct prov_create req(const char *address, const char *token, const char *zone,
                              const char *type)
{
    return (struct prov_create){.stack = "Prod/EU",
                                .address = address,
                                .token = token,
                                .region = REGION,
                                .zone = zone,
                                .instance_type = type,
                                .image = "ami-0123", /* an AWS AMI: the GCP default is used */
                                .user_data = "#!/bin/sh\necho ready\n"};
}

static void test_gcp_creates_lists_describes_and_deletes(void **state)
{
    struct fixture *f = *state;
    struct prov_instance a, b, d;
    struct prov_error err;
    struct prov_create ca = req("train[0]", "gf-tok-a", ZONE, "g2-standard-4");
    assert_int_equal(f->prov->ops->create(f->prov, &ca, &a, &err), 0);
    char name[64], id[128];
    gcp_instance_name("train[0]", "gf-tok-a", name);
    snprintf(id, sizeof id, "%s/%s", ZONE, name);
    assert_string_equal(a.id, id);
    assert_string_equal(a.stack, "Prod/EU"); /* exact, although the label is prod_eu */
    assert_string_equal(a.address, "train[0]");
    assert_string_equal(a.token, "gf-tok-a");
    assert_string_equal(a.region, REGION);
    assert_int_equal(a.state, PROV_RUNNING); /* the insert waited for its operation */
    struct prov_create cb = req("serve[1]", "gf-tok-b", NULL, "n1-highmem-4");
    cb.spot = true;
    cb.gpu = "T4";
    cb.gpus = 1;
    assert_int_equal(f->prov->ops->create(f->prov, &cb, &b, &err), 0);
    assert_true(b.spot);
    assert_string_equal(b.region, REGION); /* the first zone of the region */
    struct prov_instance_list l = {0};
    assert_int_equal(f->prov->ops->list(f->prov, REGION, "Prod/EU", &l, &err), 0);
    assert_int_equal(l.n, 2);
    prov_instance_list_release(&l);
    assert_int_equal(f->prov->ops->list(f->prov, REGION, "prod_eu", &l, &err), 0);
    assert_int_equal(l.n, 0); /* the same label, another stack */
    prov_instance_list_release(&l);
    assert_int_equal(f->prov->ops->list(f->prov, "europe-west4", "Prod/EU", &l, &err), 0);
    assert_int_equal(l.n, 0);
    prov_instance_list_release(&l);
    assert_int_equal(f->prov->ops->describe(f->prov, REGION, a.id, &d, &err), 0);
    assert_string_equal(d.instance_type, "g2-standard-4");
    assert_int_equal(f->prov->ops->describe(f->prov, "europe-west4", a.id, &d, &err), -1);
    assert_int_equal(err.cls, PROV_NOT_FOUND);
    bool found = false;
    assert_int_equal(f->prov->ops->find_by_token(f->prov, REGION, "gf-tok-b", &d, &found, &err), 0);
    assert_true(found);
    assert_string_equal(d.id, b.id);
    assert_int_equal(f->prov->ops->find_by_token(f->prov, REGION, "gf-none", &d, &found, &err), 0);
    assert_false(found);
    char *text = NULL;
    assert_int_equal(f->prov->ops->console_output(f->prov, REGION, a.id, &text, &err), 0);
    assert_non_null(strstr(text, name));
    assert_non_null(strstr(text, "Google Compute Engine"));
    free(text);
    assert_int_equal(f->prov->ops->destroy(f->prov, REGION, a.id, &err), 0);
    assert_int_equal(f->prov->ops->destroy(f->prov, REGION, b.id, &err), 0);
    usleep(40000); /* shutting-down lasts 5-15 ms at this time scale */
    assert_int_equal(f->prov->ops->describe(f->prov, REGION, a.id, &d, &err), -1);
    assert_int_equal(err.cls, PROV_NOT_FOUND);
    assert_int_equal(f->prov->ops->destroy(f->prov, REGION, a.id, &err), 0); /* already gone */
    assert_int_equal(f->prov->ops->list(f->prov, REGION, "Prod/EU", &l, &err), 0);
    assert_int_equal(l.n, 0);
    prov_instance_list_release(&l);
}

/* The instance's metadata item `key` in the world (a copy into out[256]); "" when none. */
static void meta_item(struct fixture *f, const char *id, const char *key, char out[256])
{
    out[0] = '\0';
    pthread_mutex_lock(&f->world->lock);
    const char *name = strchr(id, '/') + 1;
    struct sim_instance *in = sim_world_find_name(f->world, CORE_CLOUD_GCP, PROJECT, ZONE, name);
    for (size_t k = 0; in && k < in->nmeta; k++)
        if (!strcmp(in->meta[k].key, key))
            snprintf(out, 256, "%s", in->meta[k].value);
    pthread_mutex_unlock(&f->world->lock);
}

static void test_gcp_request_verify_sets_the_item_and_keeps_the_others(void **state)
{
    struct fixture *f = *state;
    struct prov_instance a;
    struct prov_error err;
    struct prov_create ca = req("train[0]", "gf-tok-rv", ZONE, "g2-standard-4");
    assert_int_equal(f->prov->ops->create(f->prov, &ca, &a, &err), 0);
    char v[256], script[256];
    meta_item(f, a.id, "startup-script", script);
    assert_string_equal(script, "#!/bin/sh\necho ready\n");
    /* twice: the second needs the fingerprint the first one changed */
    const char *values[] = {"quick:0123456789abcdef0123456789abcdef",
                            "full:fedcba9876543210fedcba9876543210"};
    for (int i = 0; i < 2; i++) {
        if (f->prov->ops->request_verify(f->prov, REGION, a.id, values[i], &err) != 0)
            fail_msg("request_verify: %s", err.message);
        meta_item(f, a.id, "gpuform-verify-request", v);
        assert_string_equal(v, values[i]);
        meta_item(f, a.id, "startup-script", script);
        assert_string_equal(script, "#!/bin/sh\necho ready\n");
        meta_item(f, a.id, "gpuform-address", v);
        assert_string_equal(v, "train[0]");
    }
    assert_int_equal(
        f->prov->ops->request_verify(f->prov, REGION, "us-central1-a/nope", values[0], &err), -1);
    assert_int_equal(err.cls, PROV_NOT_FOUND);
}

static void test_gcp_retries_make_one_instance(void **state)
{
    struct fixture *f = *state;
    struct prov_instance a, b;
    struct prov_error err;
    /* 5xx, throttling and a dropped connection in a row: the HTTP client retries them */
    sim_tl_arm(f->world, SIM_FAULT_INTERNAL, 1);
    sim_tl_arm(f->world, SIM_FAULT_UNAVAILABLE, 1);
    sim_tl_arm(f->world, SIM_FAULT_THROTTLE, 1);
    sim_tl_arm(f->world, SIM_FAULT_TIMEOUT, 1);
    struct prov_create c = req("retry[0]", "gf-tok-retry", ZONE, "g2-standard-4");
    assert_int_equal(f->prov->ops->create(f->prov, &c, &a, &err), 0);
    assert_int_equal(
        sim_tl_armed(f->world, SIM_FAULT_INTERNAL) + sim_tl_armed(f->world, SIM_FAULT_UNAVAILABLE) +
            sim_tl_armed(f->world, SIM_FAULT_THROTTLE) + sim_tl_armed(f->world, SIM_FAULT_TIMEOUT),
        0);
    char name[64];
    gcp_instance_name("retry[0]", "gf-tok-retry", name);
    assert_int_equal(named(f, name), 1);
    /* the insert happened but its reply was garbled: the same token asks again and the
     * requestId gives back the same operation, not a second instance */
    sim_tl_arm(f->world, SIM_FAULT_MALFORMED, 1);
    struct prov_create c2 = req("retry[1]", "gf-tok-retry-1", ZONE, "g2-standard-4");
    assert_int_equal(f->prov->ops->create(f->prov, &c2, &b, &err), -1);
    assert_int_equal(err.cls, PROV_TRANSIENT);
    assert_non_null(strstr(err.message, "can't read"));
    assert_int_equal(f->prov->ops->create(f->prov, &c2, &b, &err), 0);
    gcp_instance_name("retry[1]", "gf-tok-retry-1", name);
    assert_int_equal(named(f, name), 1);
    /* the same create once more: still one */
    assert_int_equal(f->prov->ops->create(f->prov, &c2, &b, &err), 0);
    assert_int_equal(named(f, name), 1);
    f->prov->ops->destroy(f->prov, REGION, a.id, &err);
    f->prov->ops->destroy(f->prov, REGION, b.id, &err);
}

static void test_gcp_capacity_and_quota_come_from_the_operation(void **state)
{
    struct fixture *f = *state;
    struct prov_instance a;
    struct prov_error err;
    struct prov_create c = req("big[0]", "gf-tok-cap", ZONE, "a2-highgpu-1g");
    assert_int_equal(f->prov->ops->create(f->prov, &c, &a, &err), -1);
    assert_int_equal(err.cls, PROV_CAPACITY);
    assert_string_equal(err.code, "ZONE_RESOURCE_POOL_EXHAUSTED");
    assert_non_null(strstr(err.message, "does not have enough resources"));
    sim_tl_arm(f->world, SIM_FAULT_CAPACITY, 1);
    c = req("big[1]", "gf-tok-cap-2", "us-central1-b", "a2-highgpu-1g");
    assert_int_equal(f->prov->ops->create(f->prov, &c, &a, &err), -1);
    assert_int_equal(err.cls, PROV_CAPACITY);
    assert_string_equal(err.code, "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS");
    /* europe-west4 allows 8 on-demand vCPUs: a 12-vCPU type is over the CPUS quota */
    c = req("big[2]", "gf-tok-quota", "europe-west4-a", "a2-highgpu-1g");
    c.region = "europe-west4";
    assert_int_equal(f->prov->ops->create(f->prov, &c, &a, &err), -1);
    assert_int_equal(err.cls, PROV_QUOTA);
    assert_string_equal(err.code, "QUOTA_EXCEEDED");
    assert_non_null(
        strstr(err.message, "Quota 'CPUS' exceeded.  Limit: 8.0 in region europe-west4"));
    /* a type the zone does not offer: GCE says "invalid"; the provider finds out why */
    c = req("big[3]", "gf-tok-type", ZONE, "a3-ultragpu-8g");
    assert_int_equal(f->prov->ops->create(f->prov, &c, &a, &err), -1);
    assert_int_equal(err.cls, PROV_CAPACITY);
    assert_non_null(strstr(err.message, "not offered in this zone"));
    c = req("big[4]", "gf-tok-bad", ZONE, "g2-standard-4");
    c.token = "";
    assert_int_equal(f->prov->ops->create(f->prov, &c, &a, &err), -1);
    assert_int_equal(err.cls, PROV_INVALID);
}

static void test_gcp_accelerators_are_checked_by_zone(void **state)
{
    struct fixture *f = *state;
    /* a zone that offers n1-highmem-8 but no V100 */
    const char *zone = NULL;
    pthread_mutex_lock(&f->world->lock);
    for (size_t o = 0; o < f->world->conf.noffers && !zone; o++) {
        const struct sim_offer *of = &f->world->conf.offers[o];
        if (of->cloud != CORE_CLOUD_GCP || strcmp(of->type, "n1-highmem-8"))
            continue;
        bool v100 = false;
        for (size_t k = 0; k < f->world->conf.noffers; k++)
            v100 = v100 ||
                   (!strcmp(f->world->conf.offers[k].zone, of->zone) &&
                    f->world->conf.offers[k].gpu && !strcmp(f->world->conf.offers[k].gpu, "V100"));
        if (!v100)
            zone = of->zone;
    }
    pthread_mutex_unlock(&f->world->lock);
    if (!zone)
        skip();
    char region[64];
    gcp_zone_region(zone, region);
    struct prov_create c = req("v100[0]", "gf-tok-v100", zone, "n1-highmem-8");
    c.region = region;
    c.gpu = "V100";
    c.gpus = 1;
    struct prov_instance a;
    struct prov_error err;
    assert_int_equal(f->prov->ops->create(f->prov, &c, &a, &err), -1);
    assert_int_equal(err.cls, PROV_CAPACITY);
    assert_non_null(strstr(err.message, "nvidia-tesla-v100 is not offered"));
    c.gpu = "MI300X";
    assert_int_equal(f->prov->ops->create(f->prov, &c, &a, &err), -1);
    assert_int_equal(err.cls, PROV_INVALID);
}

static void test_gcp_lists_every_page(void **state)
{
    struct fixture *f = *state;
    /* 510 instances of one stack put straight into the world: two pages of 500 */
    struct sim_tag labels[] = {{"gpuform-stack", "pages"}};
    struct sim_tag meta[] = {{"gpuform-stack", "pages"}, {"gpuform-address", "n"}};
    pthread_mutex_lock(&f->world->lock);
    for (int i = 0; i < 510; i++) {
        char name[32];
        snprintf(name, sizeof name, "page-%d", i);
        struct sim_run_request r = {.cloud = CORE_CLOUD_GCP,
                                    .account = PROJECT,
                                    .name = name,
                                    .region = REGION,
                                    .zone = i % 2 ? ZONE : "us-central1-b",
                                    .type = "g2-standard-4",
                                    .min_count = 1,
                                    .max_count = 1,
                                    .tags = labels,
                                    .ntags = 1,
                                    .meta = meta,
                                    .nmeta = 2};
        struct sim_instance *out;
        size_t n;
        struct sim_error e;
        assert_int_equal(sim_world_run(f->world, &r, 1e12, &out, &n, &e), 0);
    }
    pthread_mutex_unlock(&f->world->lock);
    struct prov_instance_list l = {0};
    struct prov_error err;
    assert_int_equal(f->prov->ops->list(f->prov, REGION, "pages", &l, &err), 0);
    assert_int_equal(l.n, 510);
    size_t seen_b = 0;
    for (size_t i = 0; i < l.n; i++)
        seen_b += !strcmp(l.items[i].zone, "us-central1-b");
    assert_int_equal(seen_b, 255);
    prov_instance_list_release(&l);
}

static void test_gcp_unknown_key_is_an_auth_error_without_secrets(void **state)
{
    struct fixture *f = *state;
    /* the same service account's name, another key: cloudsim does not know this key */
    struct sim_config other = {0};
    struct sim_gce_key k;
    char why[320], path[160], token_uri[128];
    assert_int_equal(sim_gce_generate_account(&other, PROJECT, &k, why, sizeof why), 0);
    snprintf(path, sizeof path, "%s/other.json", f->dir);
    snprintf(token_uri, sizeof token_uri, "%s/token", f->endpoint);
    assert_int_equal(sim_gce_write_key_file(&k, token_uri, path, why, sizeof why), 0);
    sim_gce_key_release(&k);
    sim_config_release(&other);
    setenv("GOOGLE_APPLICATION_CREDENTIALS", path, 1);
    struct prov_error err;
    struct prov *p = open_gcp(f, &err);
    setenv("GOOGLE_APPLICATION_CREDENTIALS", f->key, 1);
    assert_non_null(p);
    struct prov_instance_list l = {0};
    assert_int_equal(p->ops->list(p, REGION, "x", &l, &err), -1);
    assert_int_equal(err.cls, PROV_AUTH);
    assert_string_equal(err.code, "invalid_grant");
    assert_non_null(strstr(err.message, "Invalid JWT Signature."));
    assert_non_null(strstr(err.message, path));
    assert_null(strstr(err.message, "PRIVATE KEY"));
    p->ops->close(p);
    unlink(path);
    /* another project than the token's: 403 from GCE */
    setenv("GOOGLE_CLOUD_PROJECT", "someone-elses", 1);
    p = open_gcp(f, &err);
    unsetenv("GOOGLE_CLOUD_PROJECT");
    assert_non_null(p);
    assert_int_equal(p->ops->list(p, REGION, "x", &l, &err), -1);
    assert_int_equal(err.cls, PROV_AUTH);
    assert_string_equal(err.code, "forbidden");
    p->ops->close(p);
    /* no credentials at all */
    setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json", 1);
    p = open_gcp(f, &err);
    setenv("GOOGLE_APPLICATION_CREDENTIALS", f->key, 1);
    assert_null(p);
    assert_int_equal(err.cls, PROV_AUTH);
    assert_non_null(strstr(err.message, "/nonexistent/key.json"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gcp_creates_lists_describes_and_deletes),
        cmocka_unit_test(test_gcp_request_verify_sets_the_item_and_keeps_the_others),
        cmocka_unit_test(test_gcp_retries_make_one_instance),
        cmocka_unit_test(test_gcp_capacity_and_quota_come_from_the_operation),
        cmocka_unit_test(test_gcp_accelerators_are_checked_by_zone),
        cmocka_unit_test(test_gcp_lists_every_page),
        cmocka_unit_test(test_gcp_unknown_key_is_an_auth_error_without_secrets),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
