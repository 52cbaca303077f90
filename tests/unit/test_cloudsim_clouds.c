/*
 * cloudsim's world holding several clouds: the inventory of aws, gcp and azure from the
 * bundled catalog, launches by name with ids in each cloud's form, capacity, quotas and
 * token buckets kept per cloud, operations, persistence of every cloud, the `clouds:`
 * config section, and the EC2 dialect seeing only AWS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "modules/cloudsim/sim.h"
#include "sim_testlib.h"

#define T0 1800000000.0

static struct sim_world *world(void (*tweak)(struct sim_config *))
{
    struct core_diags d;
    struct sim_config c;
    core_diags_init(&d, 0);
    assert_int_equal(sim_config_defaults(&c, &d), 0);
    core_diags_release(&d);
    if (tweak)
        tweak(&c);
    struct sim_world *w = sim_world_new(&c);
    assert_non_null(w);
    return w;
}

static struct sim_run_request gcp_req(const char *zone, const char *type, const char *name)
{
    return (struct sim_run_request){.cloud = CORE_CLOUD_GCP,
                                    .account = "proj-1",
                                    .name = name,
                                    .region = "us-central1",
                                    .zone = zone,
                                    .type = type,
                                    .image = "projects/debian-cloud/global/images/family/x",
                                    .min_count = 1,
                                    .max_count = 1};
}

static int run(struct sim_world *w, const struct sim_run_request *r, double now,
               struct sim_instance **out, struct sim_error *e)
{
    size_t n = 0;
    int rc = sim_world_run(w, r, now, out, &n, e);
    if (rc == 0)
        assert_int_equal(n, 1);
    return rc;
}

static void test_cloudsim_defaults_hold_every_region_of_three_clouds(void **state)
{
    (void)state;
    struct sim_world *w = world(NULL);
    assert_true(sim_config_cloud_regions(&w->conf, CORE_CLOUD_AWS) > 5);
    assert_true(sim_config_cloud_regions(&w->conf, CORE_CLOUD_GCP) > 5);
    assert_true(sim_config_cloud_regions(&w->conf, CORE_CLOUD_AZURE) > 5);
    const struct sim_region *g = sim_world_region(w, CORE_CLOUD_GCP, "us-central1");
    assert_non_null(g);
    assert_true(g->nzones >= 3);
    assert_string_equal(g->zones[0], "us-central1-a"); /* the catalog's zone names */
    assert_string_equal(g->zone_ids[0], "us-central1-a");
    assert_null(sim_world_region(w, CORE_CLOUD_AWS, "us-central1")); /* not aws's */
    const struct sim_region *az = sim_world_region(w, CORE_CLOUD_AZURE, "eastus");
    assert_non_null(az);
    assert_int_equal(az->nzones, 1); /* priced without zones: the region is its zone */
    assert_string_equal(az->zones[0], "eastus");
    assert_non_null(sim_world_offer(w, CORE_CLOUD_GCP, "us-central1-a", "a2-highgpu-1g"));
    assert_null(sim_world_offer(w, CORE_CLOUD_AWS, "us-central1-a", "a2-highgpu-1g"));
    const struct sim_offer *o =
        sim_world_offer(w, CORE_CLOUD_AZURE, "eastus", "Standard_NC4as_T4_v3");
    assert_non_null(o);
    assert_true(o->vcpus == 4);
    assert_string_equal(sim_world_region(w, CORE_CLOUD_AWS, "us-east-1")->zones[0], "us-east-1a");
    sim_world_free(w);
}

static void test_cloudsim_names_are_unique_per_zone_until_the_instance_is_gone(void **state)
{
    (void)state;
    struct sim_world *w = world(NULL);
    struct sim_run_request r = gcp_req("us-central1-a", "a2-highgpu-1g", "node-1");
    struct sim_instance *a, *b;
    struct sim_error e;
    assert_int_equal(run(w, &r, T0, &a, &e), 0);
    assert_int_equal(a->cloud, CORE_CLOUD_GCP);
    assert_string_equal(a->name, "node-1");
    assert_string_equal(a->account, "proj-1");
    assert_true(strspn(a->id, "0123456789") == strlen(a->id) && strlen(a->id) == 19);
    assert_int_equal(run(w, &r, T0 + 1, &b, &e), -1);
    assert_int_equal(e.kind, SIM_ERR_NAME_TAKEN);
    r.account = "proj-2"; /* another project, another namespace */
    assert_int_equal(run(w, &r, T0 + 1, &b, &e), 0);
    r.account = "proj-1";
    r.zone = "us-central1-b"; /* another zone too */
    assert_int_equal(run(w, &r, T0 + 1, &b, &e), 0);
    assert_ptr_equal(sim_world_find_name(w, CORE_CLOUD_GCP, "proj-1", "us-central1-a", "node-1"),
                     a);
    sim_world_terminate(w, a, T0 + 60, false, NULL);
    assert_non_null(sim_world_find_name(w, CORE_CLOUD_GCP, "proj-1", "us-central1-a", "node-1"));
    sim_world_advance(w, T0 + 60 + 16);
    assert_int_equal(a->state, SIM_TERMINATED);
    assert_null(sim_world_find_name(w, CORE_CLOUD_GCP, "proj-1", "us-central1-a", "node-1"));
    r.zone = "us-central1-a";
    assert_int_equal(run(w, &r, T0 + 80, &b, &e), 0); /* the name is free again */
    /* a spot reclaim keeps the name while the instance is listed TERMINATED */
    r.name = "spot-1";
    r.spot = true;
    assert_int_equal(run(w, &r, T0 + 80, &b, &e), 0);
    sim_world_terminate(w, b, T0 + 100, true, NULL);
    assert_true(b->reclaimed);
    sim_world_advance(w, T0 + 200);
    assert_int_equal(b->state, SIM_TERMINATED);
    assert_ptr_equal(sim_world_find_name(w, CORE_CLOUD_GCP, "proj-1", "us-central1-a", "spot-1"),
                     b);
    /* azure ids are UUIDs */
    struct sim_run_request az = {.cloud = CORE_CLOUD_AZURE,
                                 .account = "sub",
                                 .name = "vm1",
                                 .region = "eastus",
                                 .type = "Standard_NC4as_T4_v3",
                                 .min_count = 1,
                                 .max_count = 1};
    assert_int_equal(run(w, &az, T0, &b, &e), 0);
    assert_int_equal(strlen(b->id), 36);
    assert_string_equal(b->zone, "eastus");
    sim_world_free(w);
}

static void gcp_limits(struct sim_config *c)
{
    c->capacity = calloc(2, sizeof *c->capacity);
    c->capacity[0] = (struct sim_capacity_rule){strdup("us-central1-a"), strdup("a2-highgpu-1g"), 1,
                                                CORE_CLOUD_GCP};
    c->ncapacity = 1;
    c->quotas = calloc(1, sizeof *c->quotas);
    c->quotas[0] = (struct sim_quota){strdup(""), 30, 24, 3, CORE_CLOUD_GCP};
    c->nquotas = 1;
    c->default_capacity[CORE_CLOUD_AZURE] = 0;
}

static void test_cloudsim_capacity_and_quotas_are_per_cloud(void **state)
{
    (void)state;
    struct sim_world *w = world(gcp_limits);
    struct sim_instance *i;
    struct sim_error e;
    struct sim_run_request r = gcp_req("us-central1-a", "a2-highgpu-1g", "a");
    assert_int_equal(run(w, &r, T0, &i, &e), 0);
    r.name = "b";
    assert_int_equal(run(w, &r, T0, &i, &e), -1);
    assert_int_equal(e.kind, SIM_ERR_CAPACITY);
    r.zone = NULL; /* the world picks a zone with room */
    assert_int_equal(run(w, &r, T0, &i, &e), 0);
    assert_string_not_equal(i->zone, "us-central1-a");
    /* 12 + 12 vCPUs used of 30: another 12 is over the CPUS quota */
    r.name = "c";
    assert_int_equal(run(w, &r, T0, &i, &e), -1);
    assert_int_equal(e.kind, SIM_ERR_QUOTA_VCPUS);
    assert_int_equal(e.limit, 30);
    r.spot = true; /* PREEMPTIBLE_CPUS: 24, room; then the instance count (3) binds */
    assert_int_equal(run(w, &r, T0, &i, &e), 0);
    r.name = "d";
    r.type = "g2-standard-4";
    assert_int_equal(run(w, &r, T0, &i, &e), -1);
    assert_int_equal(e.kind, SIM_ERR_QUOTA_INSTANCES);
    assert_int_equal(e.limit, 3);
    r.type = "p5.48xlarge"; /* an aws type is no gcp offer */
    assert_int_equal(run(w, &r, T0, &i, &e), -1);
    assert_int_equal(e.kind, SIM_ERR_NO_TYPE);
    r.type = "a2-highgpu-1g";
    r.zone = "us-east-1a";
    assert_int_equal(run(w, &r, T0, &i, &e), -1);
    assert_int_equal(e.kind, SIM_ERR_BAD_ZONE);
    /* aws is untouched by gcp's rules; azure's default capacity is 0 */
    struct sim_run_request a = {.region = "us-east-1",
                                .type = "g5.xlarge",
                                .image = "ami-1",
                                .min_count = 1,
                                .max_count = 1};
    for (int k = 0; k < 4; k++)
        assert_int_equal(run(w, &a, T0, &i, &e), 0);
    struct sim_run_request az = {.cloud = CORE_CLOUD_AZURE,
                                 .name = "vm",
                                 .region = "eastus",
                                 .type = "Standard_NC4as_T4_v3",
                                 .min_count = 1,
                                 .max_count = 1};
    assert_int_equal(run(w, &az, T0, &i, &e), -1);
    assert_int_equal(e.kind, SIM_ERR_CAPACITY);
    /* token buckets are per region, whichever the cloud */
    for (int k = 0; k < 5; k++)
        assert_true(sim_world_take_token(w, "us-central1", SIM_FAM_RUN, T0));
    assert_false(sim_world_take_token(w, "us-central1", SIM_FAM_RUN, T0));
    assert_true(sim_world_take_token(w, "eastus", SIM_FAM_RUN, T0));
    sim_world_free(w);
}

static void test_cloudsim_operations_are_found_and_expire(void **state)
{
    (void)state;
    struct sim_world *w = world(NULL);
    struct sim_operation in = {.cloud = CORE_CLOUD_GCP,
                               .account = "p",
                               .zone = "us-central1-a",
                               .kind = "insert",
                               .request_id = "5b8f2e4c-0000-4000-8000-000000000001",
                               .target_name = "n1",
                               .done_at = T0 + 10};
    in.error.kind = SIM_ERR_CAPACITY;
    struct sim_operation *op = sim_world_start_op(w, &in, T0);
    assert_non_null(op);
    assert_int_equal(strncmp(op->name, "operation-", 10), 0);
    assert_ptr_equal(sim_world_find_op(w, CORE_CLOUD_GCP, "p", op->name), op);
    assert_null(sim_world_find_op(w, CORE_CLOUD_GCP, "other", op->name));
    assert_ptr_equal(sim_world_find_op_request(w, CORE_CLOUD_GCP, "p", in.request_id), op);
    assert_null(sim_world_find_op_request(w, CORE_CLOUD_AZURE, "p", in.request_id));
    assert_int_equal(op->error.kind, SIM_ERR_CAPACITY);
    sim_world_advance(w, T0 + 10 + w->conf.terminated_visible - 1);
    assert_int_equal(w->nops, 1);
    sim_world_advance(w, T0 + 10 + w->conf.terminated_visible + 1);
    assert_int_equal(w->nops, 0);
    sim_world_free(w);
}

static void test_cloudsim_every_cloud_survives_save_and_load(void **state)
{
    (void)state;
    char path[] = "/tmp/cloudsim-clouds-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct sim_world *w = world(NULL);
    struct sim_tag labels[] = {{"gpuform-stack", "s"}}, meta[] = {{"startup-script", "#!/bin/sh"}};
    struct sim_run_request r = gcp_req("us-central1-a", "g2-standard-4", "n");
    r.tags = labels;
    r.ntags = 1;
    r.meta = meta;
    r.nmeta = 1;
    r.spot = true;
    struct sim_instance *i;
    struct sim_error e;
    assert_int_equal(run(w, &r, T0, &i, &e), 0);
    sim_world_terminate(w, i, T0 + 50, true, NULL);
    struct sim_operation in = {.cloud = CORE_CLOUD_GCP, .account = "proj-1", .kind = "delete"};
    snprintf(in.target_id, sizeof in.target_id, "%s", i->id);
    assert_non_null(sim_world_start_op(w, &in, T0));
    char err[256];
    assert_int_equal(sim_world_save(w, path, err), 0);
    struct sim_world *w2 = world(NULL);
    assert_int_equal(sim_world_load(w2, path, err), 0);
    assert_int_equal(w2->ninstances, 1);
    struct sim_instance *j = w2->instances[0];
    assert_int_equal(j->cloud, CORE_CLOUD_GCP);
    assert_string_equal(j->id, i->id);
    assert_string_equal(j->name, "n");
    assert_string_equal(j->account, "proj-1");
    assert_true(j->reclaimed);
    assert_string_equal(j->meta[0].value, "#!/bin/sh");
    assert_int_equal(w2->nops, 1);
    assert_string_equal(w2->ops[0]->name, w->ops[0]->name);
    assert_string_equal(w2->ops[0]->target_id, i->id);
    /* a file from before several clouds: its instances are aws's */
    FILE *f = fopen(path, "w");
    fputs("{\"format\": 1, \"rng\": [\"1\", \"2\", \"3\", \"4\"], \"instances\": [{\"id\": "
          "\"i-0123456789abcdef0\", \"reservation\": \"r-1\", \"region\": \"us-east-1\", "
          "\"zone\": \"us-east-1a\", \"type\": \"g5.xlarge\", \"image\": \"ami-1\"}]}",
          f);
    fclose(f);
    assert_int_equal(sim_world_load(w2, path, err), 0);
    assert_int_equal(w2->instances[0]->cloud, CORE_CLOUD_AWS);
    assert_int_equal(w2->nops, 0);
    unlink(path);
    sim_world_free(w);
    sim_world_free(w2);
}

static void test_cloudsim_ec2_sees_only_aws(void **state)
{
    (void)state;
    struct sim_world *w = world(NULL);
    struct sim_run_request r = gcp_req("us-central1-a", "g2-standard-4", "n");
    struct sim_instance *i;
    struct sim_error e;
    assert_int_equal(run(w, &r, T0, &i, &e), 0);
    struct sim_param p[] = {{"Action", "DescribeInstances"}};
    struct sim_reply rep;
    sim_ec2_handle(w, "us-east-1", p, 1, T0, &rep);
    assert_int_equal(rep.status, 200);
    assert_null(strstr(rep.body, "<instanceId>"));
    free(rep.body);
    char form[128];
    snprintf(form, sizeof form, "%s", i->id);
    struct sim_param t[] = {{"Action", "TerminateInstances"}, {"InstanceId.1", form}};
    sim_ec2_handle(w, "us-east-1", t, 2, T0, &rep);
    assert_int_equal(rep.status, 400); /* a gcp id is no EC2 id */
    free(rep.body);
    struct sim_param g[] = {{"Action", "DescribeRegions"}};
    sim_ec2_handle(w, "us-east-1", g, 1, T0, &rep);
    assert_non_null(strstr(rep.body, "<regionName>us-east-1</regionName>"));
    assert_null(strstr(rep.body, "us-central1"));
    assert_null(strstr(rep.body, "eastus"));
    free(rep.body);
    sim_ec2_handle(w, "us-central1", p, 1, T0, &rep); /* a gcp region is no EC2 region */
    assert_int_equal(rep.status, 401);
    free(rep.body);
    sim_world_free(w);
}

static void test_cloudsim_config_lists_the_clouds_to_simulate(void **state)
{
    (void)state;
    struct core_diags d;
    struct sim_config c;
    assert_int_equal(sim_tl_config("clouds:\n"
                                   "  gcp:\n"
                                   "    regions: [us-central1, europe-west4]\n"
                                   "    capacity: { us-central1-a/a3-highgpu-8g: 0, default: 5 }\n"
                                   "    quotas: { us-central1: { on_demand_vcpus: 96 } }\n"
                                   "  azure:\n"
                                   "    regions: [eastus]\n"
                                   "    capacity: { eastus/Standard_NC4as_T4_v3: 2 }\n",
                                   &d, &c),
                     0);
    assert_int_equal(d.errors, 0);
    assert_int_equal(sim_config_cloud_regions(&c, CORE_CLOUD_AWS), 0); /* not listed: off */
    assert_int_equal(sim_config_cloud_regions(&c, CORE_CLOUD_GCP), 2);
    assert_int_equal(sim_config_cloud_regions(&c, CORE_CLOUD_AZURE), 1);
    assert_int_equal(c.ncapacity, 2);
    assert_int_equal(c.capacity[0].cloud, CORE_CLOUD_GCP);
    assert_string_equal(c.capacity[0].zone, "us-central1-a");
    assert_int_equal(c.capacity[1].cloud, CORE_CLOUD_AZURE);
    assert_string_equal(c.capacity[1].zone, "eastus");
    assert_int_equal(c.default_capacity[CORE_CLOUD_GCP], 5);
    assert_int_equal(c.default_capacity[CORE_CLOUD_AWS], SIM_UNLIMITED);
    assert_int_equal(c.quotas[0].cloud, CORE_CLOUD_GCP);
    assert_int_equal(c.quotas[0].on_demand_vcpus, 96);
    for (size_t o = 0; o < c.noffers; o++)
        assert_int_not_equal(c.offers[o].cloud, CORE_CLOUD_AWS);
    sim_config_release(&c);
    core_diags_release(&d);
    assert_int_equal(sim_tl_config("clouds:\n"
                                   "  gcp:\n"
                                   "    regions: [us-east-1]\n"
                                   "    capacity: { us-east-1a: 1 }\n"
                                   "    credentials: []\n"
                                   "  oracle: {}\n",
                                   &d, &c),
                     -1);
    core_diags_sort(&d);
    assert_int_equal(d.errors, 4);
    assert_non_null(strstr(d.items[0].message, "region 'us-east-1' has no GCP offers"));
    assert_int_equal(d.items[0].loc.line, 3);
    assert_non_null(strstr(d.items[1].message, "'us-east-1a' in 'capacity'"));
    assert_non_null(strstr(d.items[2].message, "unknown key 'credentials' in 'clouds.gcp'"));
    assert_non_null(strstr(d.items[3].message, "unknown cloud 'oracle'"));
    core_diags_release(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cloudsim_defaults_hold_every_region_of_three_clouds),
        cmocka_unit_test(test_cloudsim_names_are_unique_per_zone_until_the_instance_is_gone),
        cmocka_unit_test(test_cloudsim_capacity_and_quotas_are_per_cloud),
        cmocka_unit_test(test_cloudsim_operations_are_found_and_expire),
        cmocka_unit_test(test_cloudsim_every_cloud_survives_save_and_load),
        cmocka_unit_test(test_cloudsim_ec2_sees_only_aws),
        cmocka_unit_test(test_cloudsim_config_lists_the_clouds_to_simulate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
