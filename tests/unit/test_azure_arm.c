/*
 * The Azure provider against canned ARM replies (core/http's transport hook and a fake
 * clock): the exact requests of each slot, long-running operations followed through
 * Azure-AsyncOperation and Location with their Retry-After, a failed create cleaned up,
 * paging, error codes mapped to classes, a refused token fetched again, links off the ARM
 * endpoint never given the token, and VM names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modules/azure/arm.h"
#include "tests/unit/azure_testlib.h"

#define SECRET "arm-test-secret-0123456789abcdef"
#define SUB    "00000000-0000-0000-0000-0000000000aa"
#define EP     "https://arm.example"
#define RG     EP "/subscriptions/" SUB "/resourceGroups/gpuform-rg"
#define VMS    RG "/providers/Microsoft.Compute/virtualMachines/"
#define NICS   RG "/providers/Microsoft.Network/networkInterfaces/"
#define CAPI   "?api-version=" AZURE_COMPUTE_API
#define NAPI   "?api-version=" AZURE_NETWORK_API
#define TOKEN  "gf-0123456789abcdef"

struct fixture {
    struct az_fake fake;
    struct core_http_client *http;
    struct prov *p;
    char name[AZURE_VM_NAME_MAX + 1];
};

static void set_env(void)
{
    setenv("AZURE_TENANT_ID", "contoso", 1);
    setenv("AZURE_CLIENT_ID", "client-1", 1);
    setenv("AZURE_CLIENT_SECRET", SECRET, 1);
    setenv("AZURE_AUTHORITY_HOST", "https://login.example", 1);
    setenv("AZURE_SUBSCRIPTION_ID", SUB, 1);
    setenv("AZURE_RESOURCE_GROUP", "gpuform-rg", 1);
    setenv("GPUFORM_AZURE_SSH_PUBLIC_KEY", "ssh-ed25519 AAAAtest me@host", 1);
    static const char *const unset[] = {"GPUFORM_AZURE_ENDPOINT", "GPUFORM_AZURE_SUBNET_ID",
                                        "GPUFORM_AZURE_IMAGE", "GPUFORM_AZURE_SCOPE",
                                        "GPUFORM_AZURE_ADMIN_USERNAME"};
    for (size_t i = 0; i < sizeof unset / sizeof *unset; i++)
        unsetenv(unset[i]);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    fx->http = az_client(&fx->fake);
    set_env();
    struct prov_config cfg = {.endpoint = EP "/", .http = fx->http};
    struct prov_error err;
    fx->p = prov_azure.open(&cfg, &err);
    if (!fx->p)
        fail_msg("open: %s", err.message);
    azure_vm_name("train[0]", TOKEN, fx->name);
    /* every test starts with the token request */
    az_reply(&fx->fake, 200, AZ_TOKEN_REPLY("bearer-1"), NULL, NULL);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    prov_azure.close(fx->p);
    core_http_client_free(fx->http);
    pthread_mutex_destroy(&fx->fake.mu);
    free(fx);
    return 0;
}

static char *vm_json(const char *name, const char *location, const char *prov, const char *power)
{
    char *s = NULL;
    if (asprintf(&s,
                 "{\"name\":\"%s\",\"location\":\"%s\",\"tags\":{\"gpuform-stack\":\"prod\","
                 "\"gpuform-address\":\"train[0]\",\"gpuform-token\":\"" TOKEN "\"},"
                 "\"properties\":{\"priority\":\"Spot\",\"hardwareProfile\":{\"vmSize\":"
                 "\"Standard_NC24ads_A100_v4\"},\"provisioningState\":\"%s\",\"instanceView\":"
                 "{\"statuses\":[{\"code\":\"PowerState/%s\"}]}}}",
                 name, location, prov, power) < 0)
        return NULL;
    return s;
}

static const struct prov_create CREATE = {.stack = "prod",
                                          .address = "train[0]",
                                          .token = TOKEN,
                                          .region = "eastus",
                                          .zone = NULL,
                                          .instance_type = "Standard_NC24ads_A100_v4",
                                          .spot = true,
                                          .image = "ami-gpuform-default",
                                          .user_data = "#!/bin/sh\necho hi\n"};

static void test_azure_vm_names_are_valid_stable_and_per_token(void **state)
{
    (void)state;
    char a[AZURE_VM_NAME_MAX + 1], b[AZURE_VM_NAME_MAX + 1], c[AZURE_VM_NAME_MAX + 1];
    azure_vm_name("train[0]", "tok-1", a);
    azure_vm_name("train[0]", "tok-1", b);
    azure_vm_name("train[0]", "tok-2", c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(strncmp(a, "gf-train-0-", 11), 0);
    assert_int_equal(strlen(a), 11 + 12);
    char long_addr[300];
    memset(long_addr, 'X', sizeof long_addr - 1);
    long_addr[299] = '\0';
    const char *odd[] = {long_addr, "***", "", "a..b__c", "Über.Node[12]", "-x-"};
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
        azure_vm_name(odd[i], "tok", a);
        size_t n = strlen(a);
        assert_true(n > 3 && n <= AZURE_VM_NAME_MAX);
        assert_int_equal(strspn(a, "abcdefghijklmnopqrstuvwxyz0123456789-"), n);
        assert_true(a[n - 1] != '-' && !strstr(a, "--"));
    }
    azure_vm_name("***", "tok", a);
    assert_int_equal(strlen(a), 3 + 12);
}

static void test_azure_zones_take_numbers_or_location_n(void **state)
{
    (void)state;
    char z[8];
    assert_int_equal(azure_zone("eastus", NULL, z), 0);
    assert_string_equal(z, "");
    assert_int_equal(azure_zone("eastus", "2", z), 0);
    assert_string_equal(z, "2");
    assert_int_equal(azure_zone("eastus", "eastus-3", z), 0);
    assert_string_equal(z, "3");
    assert_int_equal(azure_zone("eastus", "westus-3", z), -1);
    assert_int_equal(azure_zone("eastus", "eastus-a", z), -1);
}

static void test_azure_classifies_arm_codes(void **state)
{
    (void)state;
    assert_int_equal(azure_classify("SkuNotAvailable", 409), PROV_CAPACITY);
    assert_int_equal(azure_classify("AllocationFailed", 200), PROV_CAPACITY);
    assert_int_equal(azure_classify("ZonalAllocationFailed", 200), PROV_CAPACITY);
    assert_int_equal(azure_classify("OverconstrainedAllocationRequest", 200), PROV_CAPACITY);
    assert_int_equal(azure_classify("QuotaExceeded", 400), PROV_QUOTA);
    assert_int_equal(azure_classify("TooManyRequests", 429), PROV_THROTTLED);
    assert_int_equal(azure_classify("ResourceNotFound", 404), PROV_NOT_FOUND);
    assert_int_equal(azure_classify("AuthorizationFailed", 403), PROV_AUTH);
    assert_int_equal(azure_classify("InvalidAuthenticationToken", 401), PROV_AUTH);
    assert_int_equal(azure_classify("InvalidParameter", 400), PROV_INVALID);
    assert_int_equal(azure_classify("ResourceGroupNotFound", 404), PROV_INVALID);
    assert_int_equal(azure_classify("InternalServerError", 500), PROV_TRANSIENT);
    assert_int_equal(azure_classify("Whatever", 503), PROV_TRANSIENT);
    assert_int_equal(azure_classify("Whatever", 429), PROV_THROTTLED);
    assert_int_equal(azure_classify("Whatever", 404), PROV_NOT_FOUND);
    assert_int_equal(azure_classify("Whatever", 403), PROV_AUTH);
    assert_int_equal(azure_classify("Whatever", 400), PROV_INVALID);
    assert_int_equal(azure_classify(NULL, 0), PROV_TRANSIENT);
    assert_int_equal(azure_classify_message("OperationNotAllowed",
                                            "Operation could not be completed as it results in "
                                            "exceeding approved standardNDSFamily Cores quota.",
                                            409),
                     PROV_QUOTA);
    assert_int_equal(azure_classify_message("OperationNotAllowed",
                                            "The operation is not allowed while the VM is being "
                                            "deleted.",
                                            409),
                     PROV_INVALID);
}

static void test_azure_create_puts_nic_and_vm_and_follows_the_operations(void **state)
{
    struct fixture *fx = *state;
    char op_nic[256], op_vm[256], *got = vm_json(fx->name, "eastus", "Succeeded", "running");
    snprintf(op_nic, sizeof op_nic,
             "Azure-AsyncOperation: " EP "/subscriptions/" SUB
             "/providers/Microsoft.Network/locations/eastus/operations/n1");
    snprintf(op_vm, sizeof op_vm,
             "Azure-AsyncOperation: " EP "/subscriptions/" SUB
             "/providers/Microsoft.Compute/locations/eastus/operations/v1");
    az_reply(&fx->fake, 201, "{}", op_nic, "Retry-After: 1");
    az_reply(&fx->fake, 200, "{\"status\":\"Succeeded\"}", NULL, NULL);
    az_reply(&fx->fake, 201, "{}", op_vm, "Retry-After: 10");
    az_reply(&fx->fake, 200, "{\"status\":\"InProgress\"}", "Retry-After: 7", NULL);
    az_reply(&fx->fake, 200, "{\"status\":\"Succeeded\"}", NULL, NULL);
    az_reply(&fx->fake, 200, got, NULL, NULL);
    uint64_t t0 = fx->fake.now;
    struct prov_instance in;
    struct prov_error err;
    if (prov_azure.create(fx->p, &CREATE, &in, &err) != 0)
        fail_msg("create: %s", err.message);
    assert_int_equal(fx->fake.calls, 7);
    assert_int_equal(fx->fake.now - t0, 1000 + 10000 + 7000); /* each Retry-After, no more */
    const struct az_seen *s = fx->fake.seen;
    assert_string_equal(s[0].url, "https://login.example/contoso/oauth2/v2.0/token");
    assert_non_null(strstr(s[0].body, "scope=https%3A%2F%2Farm.example%2F.default"));
    char want[512];
    snprintf(want, sizeof want, NICS "%s-nic" NAPI, fx->name);
    assert_string_equal(s[1].method, "PUT");
    assert_string_equal(s[1].url, want);
    assert_non_null(strstr(s[1].body, "/virtualNetworks/gpuform-eastus/subnets/default"));
    assert_string_equal(s[2].url, op_nic + strlen("Azure-AsyncOperation: "));
    snprintf(want, sizeof want, VMS "%s" CAPI, fx->name);
    assert_string_equal(s[3].method, "PUT");
    assert_string_equal(s[3].url, want);
    snprintf(want, sizeof want, VMS "%s" CAPI "&$expand=instanceView", fx->name);
    assert_string_equal(s[6].url, want);
    for (int i = 1; i < 7; i++)
        assert_non_null(strstr(s[i].headers, "Authorization: Bearer bearer-1\n"));
    json_t *body = json_loads(s[3].body, 0, NULL);
    assert_non_null(body);
    json_t *props = json_object_get(body, "properties");
    assert_string_equal(json_string_value(json_object_get(props, "priority")), "Spot");
    /* the executor's AWS default image is replaced by the Azure one */
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(props, "storageProfile"), "imageReference"), "offer")),
        "ubuntu-hpc");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(props, "osProfile"), "customData")),
        "IyEvYmluL3NoCmVjaG8gaGkK");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(body, "tags"), "gpuform-token")), TOKEN);
    json_decref(body);
    assert_string_equal(in.id, fx->name);
    assert_int_equal(in.state, PROV_RUNNING);
    assert_true(in.spot);
    free(got);
}

static void test_azure_create_maps_a_failed_operation_and_cleans_up(void **state)
{
    struct fixture *fx = *state;
    const char *op = "Azure-AsyncOperation: " EP "/subscriptions/" SUB "/operations/x";
    az_reply(&fx->fake, 201, "{}", NULL, NULL); /* NIC: synchronous */
    az_reply(&fx->fake, 201, "{}", op, "Retry-After: 2");
    az_reply(&fx->fake, 200,
             "{\"status\":\"Failed\",\"error\":{\"code\":\"AllocationFailed\",\"message\":"
             "\"Allocation failed. We do not have sufficient capacity for the requested VM size "
             "in this region.\"}}",
             NULL, NULL);
    az_reply(&fx->fake, 202, "", "Location: " EP "/subscriptions/" SUB "/operationResults/d1",
             "Retry-After: 1");
    az_reply(&fx->fake, 202, "", "Retry-After: 1", NULL);
    az_reply(&fx->fake, 200, "", NULL, NULL);
    az_reply(&fx->fake, 204, "", NULL, NULL); /* the NIC went with the VM */
    struct prov_instance in;
    struct prov_error err;
    assert_int_equal(prov_azure.create(fx->p, &CREATE, &in, &err), -1);
    assert_int_equal(err.cls, PROV_CAPACITY);
    assert_string_equal(err.code, "AllocationFailed");
    assert_non_null(strstr(err.message, "sufficient capacity"));
    assert_null(strstr(err.message, "is left"));
    assert_int_equal(fx->fake.calls, 8);
    assert_string_equal(fx->fake.seen[4].method, "DELETE");
    assert_non_null(strstr(fx->fake.seen[4].url, fx->name));
    assert_string_equal(fx->fake.seen[5].url, EP "/subscriptions/" SUB "/operationResults/d1");
    assert_string_equal(fx->fake.seen[7].method, "DELETE");
    assert_non_null(strstr(fx->fake.seen[7].url, "/networkInterfaces/"));
}

static void test_azure_create_refuses_what_azure_would(void **state)
{
    struct fixture *fx = *state;
    struct prov_instance in;
    struct prov_error err;
    struct prov_create c = CREATE;
    c.token = "bad token'";
    assert_int_equal(prov_azure.create(fx->p, &c, &in, &err), -1);
    assert_int_equal(err.cls, PROV_INVALID);
    c = CREATE;
    c.zone = "westus-1";
    assert_int_equal(prov_azure.create(fx->p, &c, &in, &err), -1);
    assert_int_equal(err.cls, PROV_INVALID);
    c = CREATE;
    c.image = "not-an-image";
    az_reply(&fx->fake, 200, "{}", NULL, NULL); /* the NIC */
    az_reply(&fx->fake, 200, "{}", NULL, NULL); /* its clean-up */
    assert_int_equal(prov_azure.create(fx->p, &c, &in, &err), -1);
    assert_int_equal(err.cls, PROV_INVALID);
    assert_non_null(strstr(err.message, "PUBLISHER:OFFER:SKU:VERSION"));
    unsetenv("GPUFORM_AZURE_SSH_PUBLIC_KEY");
    setenv("HOME", "/nonexistent", 1);
    c = CREATE;
    int calls = fx->fake.calls;
    assert_int_equal(prov_azure.create(fx->p, &c, &in, &err), -1);
    assert_non_null(strstr(err.message, "GPUFORM_AZURE_SSH_PUBLIC_KEY"));
    assert_int_equal(fx->fake.calls, calls); /* refused before anything was sent */
}

static void test_azure_destroy_follows_location_and_takes_gone_as_done(void **state)
{
    struct fixture *fx = *state;
    az_reply(&fx->fake, 202, "", "Location: " EP "/subscriptions/" SUB "/operationResults/d2",
             "Retry-After: 3");
    az_reply(&fx->fake, 202, "", "Retry-After: 4", NULL);
    az_reply(&fx->fake, 204, "", NULL, NULL);
    az_reply(&fx->fake, 404, "{\"error\":{\"code\":\"ResourceNotFound\",\"message\":\"gone\"}}",
             NULL, NULL);
    uint64_t t0 = fx->fake.now;
    struct prov_error err;
    if (prov_azure.destroy(fx->p, "eastus", fx->name, &err) != 0)
        fail_msg("destroy: %s", err.message);
    assert_int_equal(fx->fake.now - t0, 7000);
    assert_int_equal(fx->fake.calls, 5);
    /* already gone: a 204 for the VM, a 404 for the NIC */
    az_reply(&fx->fake, 204, "", NULL, NULL);
    az_reply(&fx->fake, 404, "{\"error\":{\"code\":\"NotFound\",\"message\":\"gone\"}}", NULL,
             NULL);
    assert_int_equal(prov_azure.destroy(fx->p, "eastus", fx->name, &err), 0);
    assert_int_equal(prov_azure.destroy(fx->p, "eastus", "../etc", &err), -1);
    assert_int_equal(err.cls, PROV_INVALID);
}

static void test_azure_list_pages_and_filters(void **state)
{
    struct fixture *fx = *state;
    char *a = vm_json("gf-a", "eastus", "Succeeded", "running");
    char *b = vm_json("gf-b", "westus2", "Succeeded", "running");
    char *c = vm_json("gf-c", "eastus", "Creating", "starting");
    char page1[4096], page2[4096];
    snprintf(page1, sizeof page1,
             "{\"value\":[%s,%s],\"nextLink\":\"" VMS "?api-version=x&$skiptoken=2\"}", a, b);
    snprintf(page2, sizeof page2, "{\"value\":[%s]}", c);
    az_reply(&fx->fake, 200, page1, NULL, NULL);
    az_reply(&fx->fake, 200, page2, NULL, NULL);
    struct prov_instance_list l = {0};
    struct prov_error err;
    assert_int_equal(prov_azure.list(fx->p, "eastus", "prod", &l, &err), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].id, "gf-a");
    assert_string_equal(l.items[1].id, "gf-c");
    assert_int_equal(l.items[1].state, PROV_PENDING);
    assert_string_equal(fx->fake.seen[1].url,
                        RG "/providers/Microsoft.Compute/virtualMachines" CAPI);
    assert_string_equal(fx->fake.seen[2].url, VMS "?api-version=x&$skiptoken=2");
    prov_instance_list_release(&l);
    /* a nextLink elsewhere is not followed with the token */
    snprintf(page1, sizeof page1, "{\"value\":[%s],\"nextLink\":\"https://evil.example/x\"}", a);
    az_reply(&fx->fake, 200, page1, NULL, NULL);
    int calls = fx->fake.calls;
    assert_int_equal(prov_azure.list(fx->p, "eastus", "prod", &l, &err), -1);
    assert_int_equal(err.cls, PROV_INVALID);
    assert_int_equal(fx->fake.calls, calls + 1);
    prov_instance_list_release(&l);
    free(a);
    free(b);
    free(c);
}

static void test_azure_find_by_token_filters_by_the_token_tag(void **state)
{
    struct fixture *fx = *state;
    char *vm = vm_json(fx->name, "eastus", "Succeeded", "running"), page[1024];
    snprintf(page, sizeof page,
             "{\"value\":[{\"name\":\"%s-nic\",\"type\":\"Microsoft.Network/networkInterfaces\","
             "\"location\":\"eastus\"},{\"name\":\"%s\",\"type\":"
             "\"Microsoft.Compute/virtualMachines\",\"location\":\"eastus\"}]}",
             fx->name, fx->name);
    az_reply(&fx->fake, 200, page, NULL, NULL);
    az_reply(&fx->fake, 200, vm, NULL, NULL);
    struct prov_instance in;
    bool found = false;
    struct prov_error err;
    assert_int_equal(prov_azure.find_by_token(fx->p, "eastus", TOKEN, &in, &found, &err), 0);
    assert_true(found);
    assert_string_equal(in.id, fx->name);
    assert_string_equal(fx->fake.seen[1].url,
                        RG "/resources?$filter=tagName%20eq%20%27gpuform-token%27%20and%20"
                           "tagValue%20eq%20%27" TOKEN "%27&api-version=" AZURE_RESOURCES_API);
    az_reply(&fx->fake, 200, "{\"value\":[]}", NULL, NULL);
    assert_int_equal(prov_azure.find_by_token(fx->p, "eastus", "gf-none", &in, &found, &err), 0);
    assert_false(found);
    /* listed, then deleted before its GET */
    az_reply(&fx->fake, 200, page, NULL, NULL);
    az_reply(&fx->fake, 404, "{\"error\":{\"code\":\"ResourceNotFound\",\"message\":\"x\"}}", NULL,
             NULL);
    assert_int_equal(prov_azure.find_by_token(fx->p, "eastus", TOKEN, &in, &found, &err), 0);
    assert_false(found);
    assert_int_equal(prov_azure.find_by_token(fx->p, "eastus", "x' or 1 eq 1", &in, &found, &err),
                     -1);
    assert_int_equal(err.cls, PROV_INVALID);
    free(vm);
}

static void test_azure_console_output_reads_the_serial_log_without_the_token(void **state)
{
    struct fixture *fx = *state;
    az_reply(&fx->fake, 200,
             "{\"consoleScreenshotBlobUri\":\"https://blob.example/shot.bmp?sig=AAA\","
             "\"serialConsoleLogBlobUri\":\"https://blob.example/serial.log?sv=1&sig=SAS\"}",
             NULL, NULL);
    az_reply(&fx->fake, 200, "[    0.000000] Linux version 6.1\nverify: ok\n", NULL, NULL);
    char *text = NULL;
    struct prov_error err;
    assert_int_equal(prov_azure.console_output(fx->p, "eastus", fx->name, &text, &err), 0);
    assert_string_equal(text, "[    0.000000] Linux version 6.1\nverify: ok\n");
    free(text);
    char want[512];
    snprintf(want, sizeof want,
             VMS "%s/retrieveBootDiagnosticsData" CAPI "&sasUriExpirationTimeInMinutes=60",
             fx->name);
    assert_string_equal(fx->fake.seen[1].method, "POST");
    assert_string_equal(fx->fake.seen[1].url, want);
    assert_string_equal(fx->fake.seen[2].url, "https://blob.example/serial.log?sv=1&sig=SAS");
    assert_null(strstr(fx->fake.seen[2].headers, "Authorization"));
    /* nothing written yet */
    az_reply(&fx->fake, 200, "{\"serialConsoleLogBlobUri\":\"https://blob.example/s?sig=1\"}", NULL,
             NULL);
    az_reply(&fx->fake, 404, "BlobNotFound", NULL, NULL);
    assert_int_equal(prov_azure.console_output(fx->p, "eastus", fx->name, &text, &err), 0);
    assert_string_equal(text, "");
    free(text);
}

static void test_azure_maps_errors_and_retries_throttling(void **state)
{
    struct fixture *fx = *state;
    char *vm = vm_json(fx->name, "eastus", "Succeeded", "running");
    struct prov_instance in;
    struct prov_error err;
    /* throttled, then served after Retry-After */
    az_reply(&fx->fake, 429, "{\"error\":{\"code\":\"TooManyRequests\",\"message\":\"slow down\"}}",
             "Retry-After: 3", NULL);
    az_reply(&fx->fake, 200, vm, NULL, NULL);
    uint64_t t0 = fx->fake.now;
    assert_int_equal(prov_azure.describe(fx->p, "eastus", fx->name, &in, &err), 0);
    assert_true(fx->fake.now - t0 >= 3000);
    /* another region: not there */
    az_reply(&fx->fake, 200, vm, NULL, NULL);
    assert_int_equal(prov_azure.describe(fx->p, "westus", fx->name, &in, &err), -1);
    assert_int_equal(err.cls, PROV_NOT_FOUND);
    az_reply(&fx->fake, 404,
             "{\"error\":{\"code\":\"ResourceNotFound\",\"message\":\"The Resource was not "
             "found.\"}}",
             NULL, NULL);
    assert_int_equal(prov_azure.describe(fx->p, "eastus", fx->name, &in, &err), -1);
    assert_int_equal(err.cls, PROV_NOT_FOUND);
    assert_string_equal(err.code, "ResourceNotFound");
    assert_string_equal(err.request_id, "req-az-1");
    /* a hostile server echoes the token and the secret */
    az_reply(&fx->fake, 403,
             "{\"error\":{\"code\":\"AuthorizationFailed\",\"message\":\"client 'client-1' with "
             "token bearer-1 and secret " SECRET " may not read\"}}",
             NULL, NULL);
    assert_int_equal(prov_azure.describe(fx->p, "eastus", fx->name, &in, &err), -1);
    assert_int_equal(err.cls, PROV_AUTH);
    assert_non_null(strstr(err.message, "credentials from environment"));
    assert_null(strstr(err.message, "bearer-1"));
    assert_null(strstr(err.message, SECRET));
    az_reply(&fx->fake, 404,
             "{\"error\":{\"code\":\"ResourceGroupNotFound\",\"message\":\"Resource group "
             "'gpuform-rg' could not be found.\"}}",
             NULL, NULL);
    assert_int_equal(prov_azure.describe(fx->p, "eastus", fx->name, &in, &err), -1);
    assert_int_equal(err.cls, PROV_INVALID); /* not "the VM is gone" */
    assert_non_null(strstr(err.message, "AZURE_RESOURCE_GROUP"));
    for (int i = 0; i < 3; i++)
        az_reply(&fx->fake, 500,
                 "{\"error\":{\"code\":\"InternalServerError\",\"message\":\"oops\"}}", NULL, NULL);
    int calls = fx->fake.calls;
    assert_int_equal(prov_azure.describe(fx->p, "eastus", fx->name, &in, &err), -1);
    assert_int_equal(err.cls, PROV_TRANSIENT);
    assert_int_equal(fx->fake.calls, calls + 3);
    /* a capacity error is not repeated: another place is the answer */
    az_reply(&fx->fake, 409,
             "{\"error\":{\"code\":\"SkuNotAvailable\",\"message\":\"The requested size is not "
             "available\"}}",
             NULL, NULL);
    calls = fx->fake.calls;
    assert_int_equal(prov_azure.describe(fx->p, "eastus", fx->name, &in, &err), -1);
    assert_int_equal(err.cls, PROV_CAPACITY);
    assert_int_equal(fx->fake.calls, calls + 1);
    az_reply(&fx->fake, 200, "<html>proxy</html>", NULL, NULL);
    assert_int_equal(prov_azure.describe(fx->p, "eastus", fx->name, &in, &err), -1);
    assert_int_equal(err.cls, PROV_TRANSIENT);
    assert_non_null(strstr(err.message, "can't read"));
    free(vm);
}

static void test_azure_fetches_a_new_token_when_arm_calls_it_expired(void **state)
{
    struct fixture *fx = *state;
    char *vm = vm_json(fx->name, "eastus", "Succeeded", "running");
    az_reply(&fx->fake, 401,
             "{\"error\":{\"code\":\"ExpiredAuthenticationToken\",\"message\":\"The access "
             "token expiry UTC time is earlier than current UTC time.\"}}",
             NULL, NULL);
    az_reply(&fx->fake, 200, AZ_TOKEN_REPLY("bearer-2"), NULL, NULL);
    az_reply(&fx->fake, 200, vm, NULL, NULL);
    struct prov_instance in;
    struct prov_error err;
    assert_int_equal(prov_azure.describe(fx->p, "eastus", fx->name, &in, &err), 0);
    assert_int_equal(fx->fake.calls, 4);
    assert_non_null(strstr(fx->fake.seen[3].headers, "Authorization: Bearer bearer-2\n"));
    /* refused twice: auth, no loop */
    az_reply(&fx->fake, 401,
             "{\"error\":{\"code\":\"InvalidAuthenticationToken\",\"message\":\"no\"}}", NULL,
             NULL);
    az_reply(&fx->fake, 200, AZ_TOKEN_REPLY("bearer-3"), NULL, NULL);
    az_reply(&fx->fake, 401,
             "{\"error\":{\"code\":\"InvalidAuthenticationToken\",\"message\":\"no\"}}", NULL,
             NULL);
    assert_int_equal(prov_azure.describe(fx->p, "eastus", fx->name, &in, &err), -1);
    assert_int_equal(err.cls, PROV_AUTH);
    assert_int_equal(fx->fake.calls, 7);
    free(vm);
}

static void test_azure_never_follows_an_operation_off_the_endpoint(void **state)
{
    struct fixture *fx = *state;
    az_reply(&fx->fake, 202, "", "Location: https://evil.example/op", NULL);
    struct prov_error err;
    assert_int_equal(prov_azure.destroy(fx->p, "eastus", fx->name, &err), -1);
    assert_int_equal(err.cls, PROV_INVALID);
    assert_non_null(strstr(err.message, "not sending the token"));
    assert_int_equal(fx->fake.calls, 2);
}

static void test_azure_gives_up_on_an_operation_after_an_hour(void **state)
{
    struct fixture *fx = *state;
    az_reply(&fx->fake, 202, "", "Location: " EP "/subscriptions/" SUB "/operationResults/slow",
             "Retry-After: 60");
    /* the token is fetched again on the way, five minutes before it expires (55th poll) */
    for (int i = 0; i < 70; i++)
        if (i == 54)
            az_reply(&fx->fake, 200, AZ_TOKEN_REPLY("bearer-2"), NULL, NULL);
        else
            az_reply(&fx->fake, 202, "", "Retry-After: 60", NULL);
    struct prov_error err;
    uint64_t t0 = fx->fake.now;
    assert_int_equal(prov_azure.destroy(fx->p, "eastus", fx->name, &err), -1);
    assert_int_equal(err.cls, PROV_TRANSIENT);
    if (!strstr(err.message, "still running after 60 minutes"))
        fail_msg("%s", err.message);
    assert_int_equal(fx->fake.now - t0, 3600 * 1000ull);
    assert_int_equal(fx->fake.calls, 3 + 60); /* two tokens, DELETE, a poll a minute */
}

static void test_azure_set_tags_patches_the_whole_set_and_spares_gpuforms(void **state)
{
    struct fixture *fx = *state;
    char *vm = NULL;
    assert_true(asprintf(&vm,
                         "{\"name\":\"%s\",\"location\":\"eastus\",\"tags\":{\"gpuform-stack\":"
                         "\"prod\",\"gpuform-address\":\"train[0]\",\"gpuform-token\":\"" TOKEN
                         "\",\"team\":\"a\",\"acme.io:cost\":\"1\"},\"properties\":{"
                         "\"hardwareProfile\":{\"vmSize\":\"x\"},\"provisioningState\":"
                         "\"Succeeded\"}}",
                         fx->name) > 0);
    az_reply(&fx->fake, 200, vm, NULL, NULL);
    az_reply(&fx->fake, 200, "{}", NULL, NULL); /* the PATCH, synchronous */
    const struct prov_tag set[] = {{"team", "b"}, {"gpuform-stack", "evil"}, {"tier/x", "gold"}};
    const char *const remove[] = {"acme.io/cost", "gpuform-token"};
    struct prov_error err;
    if (prov_azure.set_tags(fx->p, "eastus", fx->name, set, 3, remove, 2, &err) != 0)
        fail_msg("set_tags: %s", err.message);
    const struct az_seen *s = &fx->fake.seen[2];
    assert_string_equal(s->method, "PATCH");
    json_t *body = json_loads(s->body, 0, NULL);
    json_t *tags = json_object_get(body, "tags");
    assert_int_equal(json_object_size(tags), 5);
    assert_string_equal(json_string_value(json_object_get(tags, "team")), "b");
    assert_string_equal(json_string_value(json_object_get(tags, "tier:x")), "gold");
    assert_string_equal(json_string_value(json_object_get(tags, "gpuform-stack")), "prod");
    assert_string_equal(json_string_value(json_object_get(tags, "gpuform-token")), TOKEN);
    assert_null(json_object_get(tags, "acme.io:cost"));
    json_decref(body);
    free(vm);
}

static void test_azure_open_says_what_is_missing(void **state)
{
    (void)state;
    set_env();
    unsetenv("AZURE_SUBSCRIPTION_ID");
    unsetenv("AZURE_RESOURCE_GROUP");
    struct prov_error err;
    assert_null(prov_azure.open(NULL, &err));
    assert_int_equal(err.cls, PROV_AUTH);
    assert_non_null(strstr(err.message, "AZURE_SUBSCRIPTION_ID and AZURE_RESOURCE_GROUP are not "
                                        "set"));
    set_env();
    setenv("AZURE_SUBSCRIPTION_ID", "not a guid", 1);
    assert_null(prov_azure.open(NULL, &err));
    assert_int_equal(err.cls, PROV_INVALID);
    set_env();
    struct prov_config cfg = {.endpoint = "http://arm.example.com"};
    assert_null(prov_azure.open(&cfg, &err));
    assert_non_null(strstr(err.message, "not https://"));
    set_env();
    unsetenv("AZURE_CLIENT_SECRET");
    assert_null(prov_azure.open(NULL, &err));
    assert_int_equal(err.cls, PROV_AUTH);
    assert_non_null(strstr(err.message, "AZURE_CLIENT_SECRET"));
    set_env();
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_azure_vm_names_are_valid_stable_and_per_token),
        cmocka_unit_test(test_azure_zones_take_numbers_or_location_n),
        cmocka_unit_test(test_azure_classifies_arm_codes),
        T(test_azure_create_puts_nic_and_vm_and_follows_the_operations),
        T(test_azure_create_maps_a_failed_operation_and_cleans_up),
        T(test_azure_create_refuses_what_azure_would),
        T(test_azure_destroy_follows_location_and_takes_gone_as_done),
        T(test_azure_list_pages_and_filters),
        T(test_azure_find_by_token_filters_by_the_token_tag),
        T(test_azure_console_output_reads_the_serial_log_without_the_token),
        T(test_azure_maps_errors_and_retries_throttling),
        T(test_azure_fetches_a_new_token_when_arm_calls_it_expired),
        T(test_azure_never_follows_an_operation_off_the_endpoint),
        T(test_azure_gives_up_on_an_operation_after_an_hour),
        T(test_azure_set_tags_patches_the_whole_set_and_spares_gpuforms),
        cmocka_unit_test(test_azure_open_says_what_is_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
