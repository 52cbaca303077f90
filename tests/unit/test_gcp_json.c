/*
 * The GCP provider's pure parts: every recorded Compute Engine reply in
 * shared/data/api-samples/gcp-compute (Apache libcloud's fixtures) read by the parser its kind
 * calls for, aggregated lists with scopes and warnings, operation errors, error bodies, the
 * insert body, labels, instance names, requestIds, accelerator names and error classes.
 */
#include <dirent.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "modules/gcp/gcp.h"
#include "modules/gcp/gcp_json.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

/* Parses one sample with the parser its kind calls for and checks what the file says. */
static void check_sample(const char *name, const char *text, size_t len)
{
    json_t *j = json_loadb(text, len, 0, NULL);
    assert_non_null(j);
    const char *kind = json_string_value(json_object_get(j, "kind"));
    assert_non_null(kind);
    char why[256] = "";
    if (!strcmp(kind, "compute#instance")) {
        struct prov_instance in;
        assert_int_equal(gcp_parse_instance(text, len, &in, why, sizeof why), 0);
        assert_string_equal(in.id, "us-central1-a/node-name");
        assert_string_equal(in.zone, "us-central1-a");
        assert_string_equal(in.region, "us-central1");
        assert_string_equal(in.instance_type, "n1-standard-1");
        assert_int_equal(in.state, PROV_RUNNING);
        assert_false(in.spot);
        assert_string_equal(in.stack, "");         /* not one of ours */
        assert_true(in.launch_time == 1386960323); /* 2013-12-13T10:45:23.351-08:00 */
    } else if (!strcmp(kind, "compute#instanceList")) {
        struct prov_instance_list l = {0};
        char next[64] = "x";
        assert_int_equal(
            gcp_parse_instance_list(text, len, NULL, &l, next, sizeof next, why, sizeof why), 0);
        assert_int_equal(l.n, 1);
        assert_string_equal(l.items[0].id, "us-central1-a/node-name");
        assert_string_equal(next, "");
        prov_instance_list_release(&l);
        assert_int_equal(
            gcp_parse_instance_list(text, len, "europe-west1", &l, NULL, 0, why, sizeof why), 0);
        assert_int_equal(l.n, 0); /* another region */
        prov_instance_list_release(&l);
    } else if (!strcmp(kind, "compute#operation")) {
        struct gcp_operation op;
        assert_int_equal(gcp_parse_operation(text, len, &op, why, sizeof why), 0);
        assert_string_equal(op.zone, "us-central1-a");
        assert_string_equal(op.target, "lcnode-001");
        assert_string_equal(op.name, "operation-zones_us-central1-a_instances_post");
        assert_string_equal(op.error_code, "");
        assert_true(!strcmp(op.status, "DONE") || !strcmp(op.status, "PENDING"));
        assert_string_equal(op.status, strstr(name, "operations_") ? "DONE" : "PENDING");
    } else if (!strcmp(kind, "compute#machineType")) {
        struct gcp_machine_type mt;
        assert_int_equal(gcp_parse_machine_type(text, len, &mt, why, sizeof why), 0);
        assert_string_equal(mt.name, "n1-standard-1");
        assert_int_equal(mt.guest_cpus, 1);
        assert_int_equal(mt.memory_mb, 3840);
        assert_string_equal(mt.accelerator, "");
        assert_true(gcp_type_takes_accelerators(mt.name));
    } else if (!strcmp(kind, "compute#acceleratorType")) {
        struct gcp_accelerator_type at;
        assert_int_equal(gcp_parse_accelerator_type(text, len, &at, why, sizeof why), 0);
        assert_string_equal(at.name, "nvidia-tesla-k80");
        assert_int_equal(at.max_per_instance, 8);
        assert_string_equal(gcp_accelerator_name("K80"), at.name);
    } else {
        fail_msg("%s: a kind the test does not know: %s", name, kind);
    }
    json_decref(j);
}

static void test_gcp_parses_every_recorded_reply(void **state)
{
    (void)state;
    const char *data = getenv("GPUFORM_SHARED_DATA");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/api-samples/gcp-compute/libcloud",
             data ? data : "../shared/data");
    DIR *d = opendir(dir);
    if (!d)
        skip(); /* the shared reference data is not there */
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len;
        char *text = slurp(path, &len);
        check_sample(e->d_name, text, len);
        free(text);
        files++;
    }
    closedir(d);
    assert_int_equal(files, 6);
}

static const char aggregated[] =
    "{\"kind\": \"compute#instanceAggregatedList\", \"nextPageToken\": \"page-2\", \"items\": {"
    " \"zones/us-central1-a\": {\"instances\": [{\"name\": \"gf-a-0123456789\", \"zone\":"
    "   \"https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a\","
    "   \"machineType\": \"zones/us-central1-a/machineTypes/a2-highgpu-1g\", \"status\":"
    "   \"TERMINATED\", \"scheduling\": {\"provisioningModel\": \"SPOT\"},"
    "   \"labels\": {\"gpuform-stack\": \"my_stack\", \"gpuform-address\": \"train_0_\"},"
    "   \"metadata\": {\"items\": [{\"key\": \"gpuform-stack\", \"value\": \"My.Stack\"},"
    "    {\"key\": \"gpuform-address\", \"value\": \"train[0]\"}]}}]},"
    " \"zones/us-central1-b\": {\"warning\": {\"code\": \"NO_RESULTS_ON_PAGE\"}},"
    " \"zones/europe-west4-a\": {\"instances\": [{\"name\": \"x\", \"zone\": \"europe-west4-a\","
    "   \"machineType\": \"g2-standard-4\", \"status\": \"STAGING\"}]},"
    " \"regions/us-central1\": {\"warning\": {\"code\": \"NO_RESULTS_ON_PAGE\"}}}}";

static void test_gcp_aggregated_list_keeps_the_region_and_reads_metadata(void **state)
{
    (void)state;
    struct prov_instance_list l = {0};
    char next[64], why[256];
    assert_int_equal(gcp_parse_instance_list(aggregated, strlen(aggregated), "us-central1", &l,
                                             next, sizeof next, why, sizeof why),
                     0);
    assert_int_equal(l.n, 1);
    assert_string_equal(next, "page-2");
    assert_string_equal(l.items[0].stack, "My.Stack"); /* exact, from the metadata */
    assert_string_equal(l.items[0].address, "train[0]");
    assert_true(l.items[0].spot);
    assert_int_equal(l.items[0].state, PROV_TERMINATED); /* a preempted spot VM */
    assert_non_null(strstr(l.items[0].state_reason, "preempted"));
    prov_instance_list_release(&l);
    assert_int_equal(
        gcp_parse_instance_list(aggregated, strlen(aggregated), NULL, &l, NULL, 0, why, sizeof why),
        0);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.items[1].state, PROV_PENDING);
    prov_instance_list_release(&l);
    const char *garbage[] = {"<html>502</html>", "[1, 2]", "{\"kind\": \"compute#operation\"}",
                             "{\"kind\": \"compute#instanceList\", \"items\": [{\"name\": 1}]}"};
    for (size_t i = 0; i < 4; i++) {
        why[0] = 0;
        assert_int_equal(gcp_parse_instance_list(garbage[i], strlen(garbage[i]), NULL, &l, NULL, 0,
                                                 why, sizeof why),
                         -1);
        assert_string_not_equal(why, "");
        prov_instance_list_release(&l);
    }
}

static void test_gcp_operation_errors_and_error_bodies_are_read(void **state)
{
    (void)state;
    const char *op = "{\"kind\": \"compute#operation\", \"name\": \"operation-1\", \"status\": "
                     "\"DONE\", \"zone\": \"zones/us-central1-a\", \"httpErrorStatusCode\": 503, "
                     "\"error\": {\"errors\": [{\"code\": \"ZONE_RESOURCE_POOL_EXHAUSTED\", "
                     "\"message\": \"The zone does not have enough resources\"}]}}";
    struct gcp_operation o;
    char why[256], code[96], msg[512];
    assert_int_equal(gcp_parse_operation(op, strlen(op), &o, why, sizeof why), 0);
    assert_string_equal(o.error_code, "ZONE_RESOURCE_POOL_EXHAUSTED");
    assert_int_equal(o.http_error, 503);
    assert_int_equal(gcp_classify(o.error_code, o.http_error), PROV_CAPACITY);
    const char *api = "{\"error\": {\"code\": 403, \"message\": \"Quota 'CPUS' exceeded.\", "
                      "\"errors\": [{\"message\": \"Quota 'CPUS' exceeded.\", \"domain\": "
                      "\"usageLimits\", \"reason\": \"quotaExceeded\"}]}}";
    assert_int_equal(gcp_parse_error(api, strlen(api), code, sizeof code, msg, sizeof msg), 0);
    assert_string_equal(code, "quotaExceeded");
    assert_string_equal(msg, "Quota 'CPUS' exceeded.");
    const char *oauth = "{\"error\": \"invalid_grant\", \"error_description\": \"Invalid JWT "
                        "Signature.\"}";
    assert_int_equal(gcp_parse_error(oauth, strlen(oauth), code, sizeof code, msg, sizeof msg), 0);
    assert_string_equal(code, "invalid_grant");
    assert_string_equal(msg, "Invalid JWT Signature.");
    const char *status_only = "{\"error\": {\"code\": 429, \"message\": \"slow down\", "
                              "\"status\": \"RESOURCE_EXHAUSTED\"}}";
    assert_int_equal(
        gcp_parse_error(status_only, strlen(status_only), code, sizeof code, msg, sizeof msg), 0);
    assert_string_equal(code, "RESOURCE_EXHAUSTED");
    assert_int_equal(gcp_parse_error("<html>", 6, code, sizeof code, msg, sizeof msg), -1);
}

static void test_gcp_error_classes_follow_the_documented_table(void **state)
{
    (void)state;
    assert_int_equal(gcp_classify("ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", 0), PROV_CAPACITY);
    assert_int_equal(gcp_classify("QUOTA_EXCEEDED", 403), PROV_QUOTA);
    assert_int_equal(gcp_classify("quotaExceeded", 403), PROV_QUOTA);
    assert_int_equal(gcp_classify("rateLimitExceeded", 403), PROV_THROTTLED);
    assert_int_equal(gcp_classify("userRateLimitExceeded", 403), PROV_THROTTLED);
    assert_int_equal(gcp_classify("RESOURCE_EXHAUSTED", 429), PROV_THROTTLED);
    assert_int_equal(gcp_classify("RESOURCE_NOT_FOUND", 0), PROV_NOT_FOUND);
    assert_int_equal(gcp_classify("notFound", 404), PROV_NOT_FOUND);
    assert_int_equal(gcp_classify(NULL, 404), PROV_NOT_FOUND);
    assert_int_equal(gcp_classify("authError", 401), PROV_AUTH);
    assert_int_equal(gcp_classify("forbidden", 403), PROV_AUTH);
    assert_int_equal(gcp_classify("something", 401), PROV_AUTH);
    assert_int_equal(gcp_classify("invalid", 400), PROV_INVALID);
    assert_int_equal(gcp_classify("whatever", 400), PROV_INVALID);
    assert_int_equal(gcp_classify("backendError", 500), PROV_TRANSIENT);
    assert_int_equal(gcp_classify(NULL, 502), PROV_TRANSIENT);
}

static void test_gcp_labels_and_names_follow_gce_rules(void **state)
{
    (void)state;
    char out[64];
    gcp_label_value("Prod-EU/vision.Platform", out);
    assert_string_equal(out, "prod-eu_vision_platform");
    char longs[200];
    memset(longs, 'a', sizeof longs - 1);
    longs[sizeof longs - 1] = 0;
    gcp_label_value(longs, out);
    assert_int_equal(strlen(out), 63);
    gcp_label_value("é", out); /* two UTF-8 bytes */
    assert_string_equal(out, "__");

    char a[64], b[64], c[64];
    gcp_instance_name("workloads.train[0]", "gf-tok-1", a);
    gcp_instance_name("workloads.train[0]", "gf-tok-1", b);
    gcp_instance_name("workloads.train[0]", "gf-tok-2", c);
    assert_string_equal(a, b); /* stable */
    assert_string_not_equal(a, c);
    assert_int_equal(strncmp(a, "gf-workloads-train-0-", 21), 0);
    gcp_instance_name("A very LONG address that does not fit[12]/x", "t", a);
    assert_true(strlen(a) <= 36);
    gcp_instance_name("]]]", "t", b);
    const char *names[] = {a, b, c};
    for (size_t i = 0; i < 3; i++) { /* [a-z]([-a-z0-9]{0,61}[a-z0-9])? */
        const char *n = names[i];
        size_t len = strlen(n);
        assert_true(len >= 1 && len <= 63);
        assert_true(n[0] >= 'a' && n[0] <= 'z');
        assert_int_equal(strspn(n, "abcdefghijklmnopqrstuvwxyz0123456789-"), len);
        assert_true(n[len - 1] != '-');
        assert_null(strstr(n, "--"));
    }
}

static void test_gcp_request_ids_are_stable_uuids(void **state)
{
    (void)state;
    char a[37], b[37], c[37], d[37];
    gcp_request_id("insert", "gf-0123", a);
    gcp_request_id("insert", "gf-0123", b);
    gcp_request_id("insert", "gf-0124", c);
    gcp_request_id("delete", "gf-0123", d);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_string_not_equal(a, d);
    assert_int_equal(strlen(a), 36);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(a[i], '-');
        else
            assert_non_null(strchr("0123456789abcdef", a[i]));
    }
    assert_int_equal(a[14], '4');           /* version */
    assert_non_null(strchr("89ab", a[19])); /* variant 10 */
    assert_string_not_equal(a, "00000000-0000-0000-0000-000000000000");
}

static void test_gcp_insert_body_says_what_gce_needs(void **state)
{
    (void)state;
    struct prov_create c = {.stack = "Prod/EU",
                            .address = "train[0]",
                            .token = "gf-abc",
                            .region = "us-central1",
                            .instance_type = "n1-highmem-8",
                            .spot = true,
                            .user_data = "#!/bin/sh\necho hi\n",
                            .gpu = "V100",
                            .gpus = 1};
    struct prov_tag tags[] = {{"Team", "ML Research"}, {"9lives", "x"}, {"gpuform-stack", "no"}};
    c.tags = tags;
    c.ntags = 3;
    char *body = gcp_insert_body(&c, "us-central1-a", "gf-train-0-0011223344",
                                 "projects/p/global/images/family/f", "nvidia-tesla-v100");
    assert_non_null(body);
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "machineType")),
                        "zones/us-central1-a/machineTypes/n1-highmem-8");
    json_t *sch = json_object_get(j, "scheduling");
    assert_string_equal(json_string_value(json_object_get(sch, "provisioningModel")), "SPOT");
    assert_string_equal(json_string_value(json_object_get(sch, "instanceTerminationAction")),
                        "DELETE");
    assert_string_equal(json_string_value(json_object_get(sch, "onHostMaintenance")), "TERMINATE");
    json_t *labels = json_object_get(j, "labels");
    assert_string_equal(json_string_value(json_object_get(labels, "gpuform-stack")), "prod_eu");
    assert_string_equal(json_string_value(json_object_get(labels, "gpuform-token")), "gf-abc");
    /* the workload's labels, label-safe; gpuform's own keep their values */
    assert_string_equal(json_string_value(json_object_get(labels, "team")), "ml_research");
    assert_string_equal(json_string_value(json_object_get(labels, "l9lives")), "x");
    assert_int_equal(json_object_size(labels), 5);
    json_t *ga = json_array_get(json_object_get(j, "guestAccelerators"), 0);
    assert_string_equal(json_string_value(json_object_get(ga, "acceleratorType")),
                        "zones/us-central1-a/acceleratorTypes/nvidia-tesla-v100");
    assert_int_equal(json_integer_value(json_object_get(ga, "acceleratorCount")), 1);
    /* the exact address and the boot script travel as metadata items */
    json_t *items = json_object_get(json_object_get(j, "metadata"), "items");
    size_t i;
    json_t *it;
    int found = 0;
    json_array_foreach(items, i, it)
    {
        const char *k = json_string_value(json_object_get(it, "key"));
        const char *v = json_string_value(json_object_get(it, "value"));
        found += !strcmp(k, "gpuform-address") && !strcmp(v, "train[0]");
        found += !strcmp(k, "gpuform-stack") && !strcmp(v, "Prod/EU");
        found += !strcmp(k, "startup-script") && !strcmp(v, c.user_data);
    }
    assert_int_equal(found, 3);
    json_decref(j);
    free(body);
    /* an instance read back gives the exact strings */
    c.spot = false;
    body = gcp_insert_body(&c, "us-central1-a", "gf-x", "img", NULL);
    j = json_loads(body, 0, NULL);
    assert_null(json_object_get(j, "guestAccelerators"));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "scheduling"), "provisioningModel")),
        "STANDARD");
    json_object_set_new(j, "zone", json_string("us-central1-a"));
    json_object_set_new(j, "status", json_string("RUNNING"));
    char *again = json_dumps(j, 0);
    struct prov_instance in;
    char why[128];
    assert_int_equal(gcp_parse_instance(again, strlen(again), &in, why, sizeof why), 0);
    assert_string_equal(in.stack, "Prod/EU");
    assert_string_equal(in.address, "train[0]");
    assert_string_equal(in.token, "gf-abc");
    assert_string_equal(in.instance_type, "n1-highmem-8");
    free(again);
    json_decref(j);
    free(body);
    assert_null(gcp_accelerator_name("MI300X"));
    assert_string_equal(gcp_accelerator_name("t4"), "nvidia-tesla-t4");
    assert_false(gcp_type_takes_accelerators("a2-highgpu-1g"));
}

static void test_gcp_set_metadata_body_keeps_every_other_item_exactly(void **state)
{
    (void)state;
    const char *inst =
        "{\"kind\":\"compute#instance\",\"name\":\"n\",\"metadata\":{\"kind\":\"compute#metadata\","
        "\"fingerprint\":\"42WmSpB8rSM=\",\"items\":["
        "{\"key\":\"startup-script\",\"value\":\"#!/bin/sh\\n# gpuform-verify-agent v1\\necho "
        "'\\u00e9 \\\"q\\\"' >/dev/ttyS0\\n\"},"
        "{\"key\":\"gpuform-verify-request\",\"value\":\"quick:old\"},"
        "{\"key\":\"gpuform-address\",\"value\":\"chat[0]\"}]}}";
    char *body = NULL, why[256];
    assert_int_equal(gcp_metadata_set_body(inst, strlen(inst), "gpuform-verify-request",
                                           "full:0123", &body, why, sizeof why),
                     0);
    json_t *j = json_loads(body, 0, NULL), *in = json_loads(inst, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "fingerprint")), "42WmSpB8rSM=");
    json_t *items = json_object_get(j, "items"),
           *old = json_object_get(json_object_get(in, "metadata"), "items");
    assert_int_equal(json_array_size(items), 3);
    /* the startup-script and the other items as they were, the request replaced in place */
    assert_true(json_equal(json_array_get(items, 0), json_array_get(old, 0)));
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 1), "value")),
                        "full:0123");
    assert_true(json_equal(json_array_get(items, 2), json_array_get(old, 2)));
    json_decref(j);
    free(body);
    /* no item yet: appended */
    const char *bare = "{\"metadata\":{\"fingerprint\":\"abc=\"}}";
    assert_int_equal(gcp_metadata_set_body(bare, strlen(bare), "k", "v", &body, why, sizeof why),
                     0);
    assert_string_equal(body,
                        "{\"fingerprint\":\"abc=\",\"items\":[{\"key\":\"k\",\"value\":\"v\"}]}");
    free(body);
    json_decref(in);
    /* no fingerprint, malformed items, not JSON: refused with a reason */
    const char *nofp = "{\"metadata\":{\"items\":[]}}",
               *baditems = "{\"metadata\":{\"fingerprint\":\"a\",\"items\":[{\"key\":1}]}}";
    assert_int_equal(gcp_metadata_set_body(nofp, strlen(nofp), "k", "v", &body, why, sizeof why),
                     -1);
    assert_non_null(strstr(why, "fingerprint"));
    assert_null(body);
    assert_int_equal(
        gcp_metadata_set_body(baditems, strlen(baditems), "k", "v", &body, why, sizeof why), -1);
    assert_int_equal(gcp_metadata_set_body("<html>", 6, "k", "v", &body, why, sizeof why), -1);
    assert_null(body);
}

static void test_gcp_set_metadata_body_reads_a_recorded_instance(void **state)
{
    (void)state;
    const char *data = getenv("GPUFORM_SHARED_DATA");
    char path[1024];
    snprintf(path, sizeof path,
             "%s/api-samples/gcp-compute/libcloud/zones_us-central1-a_instances_node-name.json",
             data ? data : "../shared/data");
    FILE *f = fopen(path, "rb");
    if (!f)
        skip(); /* the shared reference data is not there */
    fclose(f);
    size_t len;
    char *text = slurp(path, &len), *body = NULL, why[256];
    assert_int_equal(gcp_metadata_set_body(text, len, "gpuform-verify-request", "quick:x", &body,
                                           why, sizeof why),
                     0);
    assert_string_equal(body, "{\"fingerprint\":\"42WmSpB8rSM=\",\"items\":[{\"key\":"
                              "\"gpuform-verify-request\",\"value\":\"quick:x\"}]}");
    free(body);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gcp_parses_every_recorded_reply),
        cmocka_unit_test(test_gcp_aggregated_list_keeps_the_region_and_reads_metadata),
        cmocka_unit_test(test_gcp_operation_errors_and_error_bodies_are_read),
        cmocka_unit_test(test_gcp_error_classes_follow_the_documented_table),
        cmocka_unit_test(test_gcp_labels_and_names_follow_gce_rules),
        cmocka_unit_test(test_gcp_request_ids_are_stable_uuids),
        cmocka_unit_test(test_gcp_insert_body_says_what_gce_needs),
        cmocka_unit_test(test_gcp_set_metadata_body_keeps_every_other_item_exactly),
        cmocka_unit_test(test_gcp_set_metadata_body_reads_a_recorded_instance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
