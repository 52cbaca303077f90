/*
 * ARM JSON read and written with jansson: every sample in shared/data/api-samples/azure
 * (libcloud's recorded replies: a VM, its instance view, a list page), error bodies and
 * operation status in their several shapes, the state table, list pages filtered by stack
 * and location, and the request bodies of a VM and its NIC field by field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modules/azure/arm_json.h"

#define SAMPLE_DIR "api-samples/azure/libcloud"
#define VM_SAMPLE                                                                                  \
    "_subscriptions_99999999_resourceGroups_000000_providers_Microsoft_Compute_virtualMachines_"   \
    "test_node_1.json"
#define VIEW_SAMPLE                                                                                \
    "_subscriptions_99999999_resourceGroups_000000_providers_Microsoft_Compute_virtualMachines_"   \
    "test_node_1_InstanceView.json"
#define SIZES_SAMPLE                                                                               \
    "_subscriptions_99999999_providers_Microsoft_Compute_locations_eastus_vmSizes.json"

static char *sample(const char *name, size_t *len)
{
    const char *data = getenv("GPUFORM_SHARED_DATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/" SAMPLE_DIR "/%s", data ? data : "../shared/data", name);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *buf = calloc(1, 1 << 20);
    *len = fread(buf, 1, (1 << 20) - 1, fp);
    fclose(fp);
    return buf;
}

#define NEED(name, len)                                                                            \
    char *body = sample(name, &len);                                                               \
    if (!body) {                                                                                   \
        print_message("skipped: %s not found (set GPUFORM_SHARED_DATA)\n", name);                  \
        skip();                                                                                    \
    }

static void test_arm_json_reads_the_vm_sample(void **state)
{
    (void)state;
    size_t len;
    NEED(VM_SAMPLE, len);
    struct prov_instance in;
    char why[200];
    assert_int_equal(arm_parse_vm(body, len, &in, why, sizeof why), 0);
    assert_string_equal(in.id, "test_vm");
    assert_string_equal(in.region, "eastus");
    assert_string_equal(in.instance_type, "Standard_A1");
    assert_string_equal(in.zone, "");  /* no zones in the sample */
    assert_string_equal(in.stack, ""); /* tagged, but not by gpuform */
    assert_false(in.spot);
    assert_int_equal(in.state, PROV_RUNNING); /* provisioningState Succeeded, no power state */
    free(body);
}

static void test_arm_json_reads_the_instance_view_sample(void **state)
{
    (void)state;
    size_t len;
    NEED(VIEW_SAMPLE, len);
    struct prov_instance in = {.state = PROV_STATE_UNKNOWN};
    char why[200];
    assert_int_equal(arm_parse_instance_view(body, len, &in, why, sizeof why), 0);
    /* ProvisioningState/updating + PowerState/running: the power state decides */
    assert_int_equal(in.state, PROV_RUNNING);
    free(body);
}

static void test_arm_json_reads_the_vm_sizes_page(void **state)
{
    (void)state;
    size_t len;
    NEED(SIZES_SAMPLE, len);
    json_t *doc, *items;
    char next[256] = "x", why[200];
    assert_int_equal(arm_parse_page(body, len, &doc, &items, next, sizeof next, why, sizeof why),
                     0);
    assert_int_equal(json_array_size(items), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 2), "name")),
                        "Standard_A2");
    assert_string_equal(next, "");
    json_decref(doc);
    /* as a page of VMs it holds none: sizes are not virtual machines */
    struct prov_instance_list l = {0};
    assert_int_equal(
        arm_parse_vm_page(body, len, NULL, NULL, &l, next, sizeof next, why, sizeof why), -1);
    assert_int_equal(l.n, 0);
    free(body);
}

/* Every file of the sample folder is read by one of the parsers: a new sample that none
 * reads fails here. */
static void test_arm_json_reads_every_sample(void **state)
{
    (void)state;
    const char *data = getenv("GPUFORM_SHARED_DATA");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/" SAMPLE_DIR, data ? data : "../shared/data");
    DIR *d = opendir(dir);
    if (!d) {
        print_message("skipped: %s not found (set GPUFORM_SHARED_DATA)\n", dir);
        skip();
    }
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        size_t len;
        char *body = sample(e->d_name, &len);
        assert_non_null(body);
        char why[200], next[256];
        struct prov_instance in = {0};
        json_t *doc = NULL, *items;
        bool read =
            arm_parse_vm(body, len, &in, why, sizeof why) == 0 ||
            arm_parse_instance_view(body, len, &in, why, sizeof why) == 0 ||
            arm_parse_page(body, len, &doc, &items, next, sizeof next, why, sizeof why) == 0;
        if (!read)
            fail_msg("no parser reads %s", e->d_name);
        json_decref(doc);
        free(body);
        files++;
    }
    closedir(d);
    assert_int_equal(files, 3);
}

static void test_arm_json_reads_error_bodies(void **state)
{
    (void)state;
    char code[96], msg[256];
    const char *nested = "{\"error\":{\"code\":\"SkuNotAvailable\",\"message\":\"The requested "
                         "size for resource is currently not available\"}}";
    assert_int_equal(arm_parse_error(nested, strlen(nested), code, sizeof code, msg, sizeof msg),
                     0);
    assert_string_equal(code, "SkuNotAvailable");
    assert_string_equal(msg, "The requested size for resource is currently not available");
    const char *top = "{\"code\":\"ResourceNotFound\",\"message\":\"gone\"}";
    assert_int_equal(arm_parse_error(top, strlen(top), code, sizeof code, msg, sizeof msg), 0);
    assert_string_equal(code, "ResourceNotFound");
    const char *wrapped = "{\"error\":{\"code\":\"DeploymentFailed\",\"message\":\"see details\","
                          "\"details\":[{\"code\":\"AllocationFailed\",\"message\":\"no room\"}]}}";
    assert_int_equal(arm_parse_error(wrapped, strlen(wrapped), code, sizeof code, msg, sizeof msg),
                     0);
    assert_string_equal(code, "AllocationFailed");
    assert_string_equal(msg, "no room");
    const char *bad[] = {"<html>502</html>", "{\"error\":{}}", "[]", "{\"error\":\"x\"}", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(
            arm_parse_error(bad[i], strlen(bad[i]), code, sizeof code, msg, sizeof msg), -1);
}

static void test_arm_json_reads_operation_status(void **state)
{
    (void)state;
    enum arm_op_status st;
    char code[96], msg[256], why[128];
    const char *running = "{\"status\":\"InProgress\",\"startTime\":\"2025-01-01T00:00:00Z\"}";
    assert_int_equal(arm_parse_operation(running, strlen(running), &st, code, sizeof code, msg,
                                         sizeof msg, why, sizeof why),
                     0);
    assert_int_equal(st, ARM_OP_IN_PROGRESS);
    const char *done = "{\"status\":\"Succeeded\"}";
    assert_int_equal(arm_parse_operation(done, strlen(done), &st, code, sizeof code, msg,
                                         sizeof msg, why, sizeof why),
                     0);
    assert_int_equal(st, ARM_OP_SUCCEEDED);
    const char *failed = "{\"status\":\"Failed\",\"error\":{\"code\":\"ZonalAllocationFailed\","
                         "\"message\":\"Allocation failed in zone 2\"}}";
    assert_int_equal(arm_parse_operation(failed, strlen(failed), &st, code, sizeof code, msg,
                                         sizeof msg, why, sizeof why),
                     0);
    assert_int_equal(st, ARM_OP_FAILED);
    assert_string_equal(code, "ZonalAllocationFailed");
    assert_string_equal(msg, "Allocation failed in zone 2");
    const char *canceled = "{\"status\":\"Canceled\"}";
    assert_int_equal(arm_parse_operation(canceled, strlen(canceled), &st, code, sizeof code, msg,
                                         sizeof msg, why, sizeof why),
                     0);
    assert_int_equal(st, ARM_OP_CANCELED);
    assert_string_equal(code, "");
    const char *junk = "{\"state\":\"Succeeded\"}";
    assert_int_equal(arm_parse_operation(junk, strlen(junk), &st, code, sizeof code, msg,
                                         sizeof msg, why, sizeof why),
                     -1);
}

static void test_arm_json_maps_provisioning_and_power_states(void **state)
{
    (void)state;
    assert_int_equal(arm_vm_state("Creating", NULL), PROV_PENDING);
    assert_int_equal(arm_vm_state("Succeeded", NULL), PROV_RUNNING);
    assert_int_equal(arm_vm_state("Deleting", "PowerState/running"), PROV_SHUTTING_DOWN);
    assert_int_equal(arm_vm_state("Failed", NULL), PROV_TERMINATED);
    assert_int_equal(
        arm_vm_state("ProvisioningState/failed/AllocationFailed", "PowerState/deallocated"),
        PROV_TERMINATED);
    assert_int_equal(arm_vm_state("Failed", "PowerState/running"), PROV_RUNNING);
    assert_int_equal(arm_vm_state("ProvisioningState/succeeded", "PowerState/starting"),
                     PROV_PENDING);
    assert_int_equal(arm_vm_state("Succeeded", "PowerState/deallocating"), PROV_STOPPING);
    assert_int_equal(arm_vm_state("Succeeded", "PowerState/deallocated"), PROV_STOPPED);
    assert_int_equal(arm_vm_state("Succeeded", "PowerState/stopped"), PROV_STOPPED);
    assert_int_equal(arm_vm_state("Updating", "PowerState/stopping"), PROV_STOPPING);
    assert_int_equal(arm_vm_state("Something", NULL), PROV_STATE_UNKNOWN);
    assert_int_equal(arm_vm_state(NULL, NULL), PROV_STATE_UNKNOWN);
}

#define GF_VM(name, loc, stack, prov, extra)                                                       \
    "{\"name\":\"" name "\",\"location\":\"" loc "\",\"tags\":{\"gpuform-stack\":\"" stack         \
    "\",\"gpuform-address\":\"train[0]\",\"gpuform-token\":\"gf-1\"},\"properties\":{"             \
    "\"hardwareProfile\":{\"vmSize\":\"Standard_NC24ads_A100_v4\"},\"provisioningState\":\"" prov  \
    "\"" extra "}}"

static void test_arm_json_reads_a_gpuform_vm_with_its_instance_view(void **state)
{
    (void)state;
    const char *vm = "{\"name\":\"gf-train-0-abc\",\"location\":\"eastus\",\"zones\":[\"2\"],"
                     "\"tags\":{\"gpuform-stack\":\"prod\",\"gpuform-address\":\"train[0]\","
                     "\"gpuform-token\":\"gf-1\"},\"properties\":{\"priority\":\"Spot\","
                     "\"timeCreated\":\"2025-03-01T12:00:00.1234567+01:00\",\"hardwareProfile\":"
                     "{\"vmSize\":\"Standard_NC24ads_A100_v4\"},\"provisioningState\":"
                     "\"Succeeded\",\"instanceView\":{\"statuses\":[{\"code\":"
                     "\"ProvisioningState/succeeded\"},{\"code\":\"PowerState/deallocated\"}]}}}";
    struct prov_instance in;
    char why[200];
    assert_int_equal(arm_parse_vm(vm, strlen(vm), &in, why, sizeof why), 0);
    assert_string_equal(in.id, "gf-train-0-abc");
    assert_string_equal(in.stack, "prod");
    assert_string_equal(in.address, "train[0]");
    assert_string_equal(in.token, "gf-1");
    assert_string_equal(in.zone, "eastus-2");
    assert_true(in.spot);
    assert_int_equal(in.launch_time, 1740826800); /* 2025-03-01T11:00:00Z */
    assert_int_equal(in.state, PROV_STOPPED);
    const char *notvm = "{\"name\":\"x\"}";
    assert_int_equal(arm_parse_vm(notvm, strlen(notvm), &in, why, sizeof why), -1);
    assert_int_equal(arm_parse_vm("nope", 4, &in, why, sizeof why), -1);
}

static void test_arm_json_filters_a_vm_page_by_stack_and_location(void **state)
{
    (void)state;
    const char *page = "{\"value\":[" GF_VM("a", "eastus", "prod", "Succeeded", "") "," GF_VM(
        "b", "westus2", "prod", "Succeeded",
        "") "," GF_VM("c", "eastus", "other", "Succeeded",
                      "") "," GF_VM("d",
                                    "East "
                                    "US",
                                    "prod",
                                    "Creati"
                                    "ng",
                                    "") "," GF_VM("e", "eastus", "prod", "Failed",
                                                  "") "],"
                                                      "\"nextLink\":\"https://management.azure.com/"
                                                      "next?page=2\"}";
    struct prov_instance_list l = {0};
    char next[256], why[200];
    assert_int_equal(arm_parse_vm_page(page, strlen(page), "eastus", "prod", &l, next, sizeof next,
                                       why, sizeof why),
                     0);
    assert_int_equal(l.n, 2); /* a, and d ("East US" is eastus); not the failed e */
    assert_string_equal(l.items[0].id, "a");
    assert_string_equal(l.items[1].id, "d");
    assert_int_equal(l.items[1].state, PROV_PENDING);
    assert_string_equal(next, "https://management.azure.com/next?page=2");
    char small[8];
    assert_int_equal(
        arm_parse_vm_page(page, strlen(page), NULL, NULL, &l, small, sizeof small, why, sizeof why),
        -1);
    prov_instance_list_release(&l);
}

static void test_arm_json_finds_the_vm_in_a_resource_page(void **state)
{
    (void)state;
    const char *page =
        "{\"value\":[{\"id\":\"/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/"
        "networkInterfaces/gf-a-nic\",\"name\":\"gf-a-nic\",\"type\":\"Microsoft.Network/"
        "networkInterfaces\",\"location\":\"eastus\"},{\"name\":\"gf-a\",\"type\":"
        "\"microsoft.compute/virtualMachines\",\"location\":\"eastus\"}]}";
    char name[80], next[64], why[128];
    assert_int_equal(arm_parse_resource_page(page, strlen(page), "eastus", name, sizeof name, next,
                                             sizeof next, why, sizeof why),
                     0);
    assert_string_equal(name, "gf-a");
    assert_int_equal(arm_parse_resource_page(page, strlen(page), "westus", name, sizeof name, next,
                                             sizeof next, why, sizeof why),
                     0);
    assert_string_equal(name, "");
}

static void test_arm_json_writes_the_vm_body(void **state)
{
    (void)state;
    struct arm_vm_spec s = {.name = "gf-train-0-0123456789ab",
                            .location = "eastus",
                            .zone = "2",
                            .vm_size = "Standard_ND96asr_v4",
                            .spot = true,
                            .image = "microsoft-dsvm:ubuntu-hpc:2204:latest",
                            .custom_data = "IyEvYmluL3NoCg==",
                            .admin_username = "gpuform",
                            .ssh_public_key = "ssh-ed25519 AAAAC3 me",
                            .nic_id = "/subscriptions/s/resourceGroups/g/providers/"
                                      "Microsoft.Network/networkInterfaces/gf-nic",
                            .stack = "prod",
                            .address = "train[0]",
                            .token = "gf-abc"};
    char *body, why[200];
    assert_int_equal(arm_vm_body(&s, &body, why, sizeof why), 0);
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(j);
    json_t *p = json_object_get(j, "properties");
    assert_string_equal(json_string_value(json_object_get(j, "location")), "eastus");
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "zones"), 0)), "2");
    json_t *tags = json_object_get(j, "tags");
    assert_string_equal(json_string_value(json_object_get(tags, "gpuform-stack")), "prod");
    assert_string_equal(json_string_value(json_object_get(tags, "gpuform-address")), "train[0]");
    assert_string_equal(json_string_value(json_object_get(tags, "gpuform-token")), "gf-abc");
    assert_string_equal(json_string_value(json_object_get(p, "priority")), "Spot");
    assert_string_equal(json_string_value(json_object_get(p, "evictionPolicy")), "Delete");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(p, "billingProfile"), "maxPrice")), -1);
    json_t *sp = json_object_get(p, "storageProfile");
    json_t *img = json_object_get(sp, "imageReference");
    assert_string_equal(json_string_value(json_object_get(img, "publisher")), "microsoft-dsvm");
    assert_string_equal(json_string_value(json_object_get(img, "version")), "latest");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(sp, "osDisk"), "deleteOption")),
        "Delete");
    json_t *nic = json_array_get(
        json_object_get(json_object_get(p, "networkProfile"), "networkInterfaces"), 0);
    assert_string_equal(json_string_value(json_object_get(nic, "id")), s.nic_id);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(nic, "properties"), "deleteOption")),
        "Delete");
    json_t *os = json_object_get(p, "osProfile");
    assert_string_equal(json_string_value(json_object_get(os, "customData")), "IyEvYmluL3NoCg==");
    assert_string_equal(json_string_value(json_object_get(os, "computerName")), s.name);
    json_t *key = json_array_get(
        json_object_get(json_object_get(json_object_get(os, "linuxConfiguration"), "ssh"),
                        "publicKeys"),
        0);
    assert_string_equal(json_string_value(json_object_get(key, "keyData")), s.ssh_public_key);
    assert_string_equal(json_string_value(json_object_get(key, "path")),
                        "/home/gpuform/.ssh/authorized_keys");
    assert_true(json_is_true(json_object_get(
        json_object_get(json_object_get(p, "diagnosticsProfile"), "bootDiagnostics"), "enabled")));
    json_decref(j);
    free(body);

    /* on demand, no zone, an image by id: none of the spot keys, no zones */
    s.spot = false;
    s.zone = NULL;
    s.custom_data = NULL;
    s.image = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/images/gpu";
    assert_int_equal(arm_vm_body(&s, &body, why, sizeof why), 0);
    j = json_loads(body, 0, NULL);
    p = json_object_get(j, "properties");
    assert_null(json_object_get(j, "zones"));
    assert_null(json_object_get(p, "priority"));
    assert_null(json_object_get(p, "billingProfile"));
    assert_null(json_object_get(json_object_get(p, "osProfile"), "customData"));
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(p, "storageProfile"), "imageReference"), "id")),
        s.image);
    json_decref(j);
    free(body);

    const char *bad[] = {"ami-0abc", "a:b:c", "a::c:d", "a:b:c:d:e", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        s.image = bad[i];
        assert_int_equal(arm_vm_body(&s, &body, why, sizeof why), -1);
        assert_null(body);
        assert_non_null(strstr(why, "PUBLISHER:OFFER:SKU:VERSION"));
    }
}

static void test_arm_json_writes_the_nic_body(void **state)
{
    (void)state;
    char *body = arm_nic_body("eastus",
                              "/subscriptions/s/resourceGroups/g/providers/"
                              "Microsoft.Network/virtualNetworks/v/subnets/default",
                              "prod", "train[0]", "gf-abc");
    assert_non_null(body);
    json_t *j = json_loads(body, 0, NULL);
    json_t *ipc =
        json_array_get(json_object_get(json_object_get(j, "properties"), "ipConfigurations"), 0);
    json_t *ipp = json_object_get(ipc, "properties");
    assert_string_equal(json_string_value(json_object_get(json_object_get(ipp, "subnet"), "id")),
                        "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/"
                        "virtualNetworks/v/subnets/default");
    assert_string_equal(json_string_value(json_object_get(ipp, "privateIPAllocationMethod")),
                        "Dynamic");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "tags"), "gpuform-token")), "gf-abc");
    json_decref(j);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arm_json_reads_the_vm_sample),
        cmocka_unit_test(test_arm_json_reads_the_instance_view_sample),
        cmocka_unit_test(test_arm_json_reads_the_vm_sizes_page),
        cmocka_unit_test(test_arm_json_reads_every_sample),
        cmocka_unit_test(test_arm_json_reads_error_bodies),
        cmocka_unit_test(test_arm_json_reads_operation_status),
        cmocka_unit_test(test_arm_json_maps_provisioning_and_power_states),
        cmocka_unit_test(test_arm_json_reads_a_gpuform_vm_with_its_instance_view),
        cmocka_unit_test(test_arm_json_filters_a_vm_page_by_stack_and_location),
        cmocka_unit_test(test_arm_json_finds_the_vm_in_a_resource_page),
        cmocka_unit_test(test_arm_json_writes_the_vm_body),
        cmocka_unit_test(test_arm_json_writes_the_nic_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
