/*
 * EC2 replies read with libxml2: every sample in shared/data/api-samples/aws-ec2 (AWS's
 * API-reference examples and libcloud's fixtures), and hostile bodies that must give a
 * clear error, never a crash or an expanded entity.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modules/aws/ec2_xml.h"

static char *sample(const char *name, size_t *len)
{
    const char *data = getenv("GPUFORM_SHARED_DATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/api-samples/aws-ec2/%s", data ? data : "../shared/data", name);
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

static void test_ec2_xml_reads_describe_instances(void **state)
{
    (void)state;
    size_t len;
    NEED("DescribeInstancesExample1.xml", len);
    struct prov_instance_list l = {0};
    char next[64], why[256];
    assert_int_equal(
        ec2_parse_instances(body, len, "us-east-1", &l, next, sizeof next, why, sizeof why), 0);
    assert_true(l.n >= 2);
    assert_string_equal(l.items[0].id, "i-c5cd56af");
    assert_string_equal(l.items[0].instance_type, "m1.small");
    assert_string_equal(l.items[0].zone, "us-east-1b");
    assert_string_equal(l.items[0].region, "us-east-1");
    assert_int_equal(l.items[0].state, PROV_RUNNING);
    assert_true(l.items[0].spot);
    assert_int_equal(l.items[0].launch_time, 1282007718); /* 2010-08-17T01:15:18Z */
    assert_string_equal(next, "");
    prov_instance_list_release(&l);
    free(body);
}

static void test_ec2_xml_reads_run_and_terminate(void **state)
{
    (void)state;
    size_t len;
    char why[256];
    struct prov_instance_list l = {0};
    {
        NEED("RunInstancesExample.xml", len);
        assert_int_equal(ec2_parse_instances(body, len, "us-east-1", &l, NULL, 0, why, sizeof why),
                         0);
        assert_true(l.n >= 1);
        assert_int_equal(l.items[0].state, PROV_PENDING);
        free(body);
    }
    prov_instance_list_release(&l);
    {
        NEED("TerminateInstancesExample.xml", len);
        assert_int_equal(ec2_parse_instances(body, len, "us-east-1", &l, NULL, 0, why, sizeof why),
                         0);
        assert_int_equal(l.n, 1);
        assert_int_equal(l.items[0].state, PROV_SHUTTING_DOWN); /* currentState */
        free(body);
    }
    prov_instance_list_release(&l);
    {
        NEED("libcloud/run_instances_spot.xml", len);
        assert_int_equal(ec2_parse_instances(body, len, "us-east-1", &l, NULL, 0, why, sizeof why),
                         0);
        assert_true(l.items[0].spot);
        free(body);
    }
    prov_instance_list_release(&l);
}

static void test_ec2_xml_reads_the_error_document(void **state)
{
    (void)state;
    size_t len;
    NEED("ErrorDump.xml", len);
    char code[64], msg[256], id[64];
    assert_int_equal(ec2_parse_error(body, len, code, sizeof code, msg, sizeof msg, id, sizeof id),
                     0);
    assert_string_equal(code, "UnsupportedOperation");
    assert_non_null(strstr(msg, "instance-store root device"));
    assert_string_equal(id, "0503f4e9-bbd6-483c-b54f-c4ae9f3b30f4");
    free(body);
}

/* Every sample parses as what it is: instances where it has an instancesSet. */
static void test_ec2_xml_every_sample_parses(void **state)
{
    (void)state;
    static const char *const files[] = {
        "CancelSpotRequestsExample.xml",
        "DescribeAvailabilityZonesExample1.xml",
        "DescribeAvailabilityZonesExample2.xml",
        "DescribeInstanceStatusExample.xml",
        "DescribeInstancesExample1.xml",
        "DescribeInstancesExample2.xml",
        "DescribeSpotRequestsExample.xml",
        "ErrorDump.xml",
        "RequestSpotInstancesExample.xml",
        "RunInstancesExample.xml",
        "StartInstancesExample.xml",
        "StopInstancesExample.xml",
        "TerminateInstancesExample.xml",
        "libcloud/describe_availability_zones.xml",
        "libcloud/describe_instances.xml",
        "libcloud/run_instances.xml",
        "libcloud/run_instances_spot.xml",
        "libcloud/terminate_instances.xml",
    };
    int with_instances = 0;
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        size_t len;
        NEED(files[i], len);
        struct prov_instance_list l = {0};
        char why[256], code[64], msg[256], id[64];
        int inst = ec2_parse_instances(body, len, "us-east-1", &l, NULL, 0, why, sizeof why);
        int err = ec2_parse_error(body, len, code, sizeof code, msg, sizeof msg, id, sizeof id);
        if (inst == 0)
            with_instances++;
        else if (err != 0) /* neither: must be a reply without instances, said clearly */
            assert_non_null(strstr(why, "no instancesSet"));
        prov_instance_list_release(&l);
        free(body);
    }
    assert_int_equal(with_instances, 10);
}

static void expect_refused(const char *body, const char *fragment)
{
    struct prov_instance_list l = {0};
    char why[256] = "";
    assert_int_equal(ec2_parse_instances(body, strlen(body), "r", &l, NULL, 0, why, sizeof why),
                     -1);
    if (!strstr(why, fragment))
        fail_msg("'%s' lacks '%s'", why, fragment);
    assert_int_equal(l.n, 0);
    prov_instance_list_release(&l);
}

static void test_ec2_xml_refuses_hostile_bodies(void **state)
{
    (void)state;
    expect_refused("", "empty reply");
    expect_refused("<<<garbage", "not XML");
    expect_refused("<DescribeInstancesResponse><reservationSet><item>", "not XML");
    expect_refused("{\"json\": true}", "not XML");
    expect_refused("<Other/>", "no instancesSet");
    expect_refused("<RunInstancesResponse><instancesSet><item><instanceType>x</instanceType>"
                   "</item></instancesSet></RunInstancesResponse>",
                   "without instanceId");
    /* entities are never expanded: no billion laughs, no file read */
    const char *laughs =
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b "
        "\"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">"
        "<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
        "<RunInstancesResponse><instancesSet><item><instanceId>&c;&x;</instanceId>"
        "</item></instancesSet></RunInstancesResponse>";
    struct prov_instance_list l = {0};
    char why[256];
    int rc = ec2_parse_instances(laughs, strlen(laughs), "r", &l, NULL, 0, why, sizeof why);
    if (rc == 0) {
        assert_null(strstr(l.items[0].id, "root:"));
        assert_true(strlen(l.items[0].id) < 200);
    }
    prov_instance_list_release(&l);
    char *text = NULL;
    assert_int_equal(ec2_parse_console_output("<GetConsoleOutputResponse><output>!!notbase64"
                                              "</output></GetConsoleOutputResponse>",
                                              80, &text, why, sizeof why),
                     -1);
    assert_null(text);
}

static void test_ec2_xml_decodes_console_output(void **state)
{
    (void)state;
    const char *body = "<GetConsoleOutputResponse xmlns=\"http://ec2.amazonaws.com/doc/"
                       "2016-11-15/\"><requestId>x</requestId><instanceId>i-1</instanceId>"
                       "<output>Z3B1Zm9ybS12ZXJpZnk6\nIHBhc3M=</output>"
                       "</GetConsoleOutputResponse>";
    char *text = NULL, why[128];
    assert_int_equal(ec2_parse_console_output(body, strlen(body), &text, why, sizeof why), 0);
    assert_string_equal(text, "gpuform-verify: pass");
    free(text);
}

int main(void)
{
    ec2_xml_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ec2_xml_reads_describe_instances),
        cmocka_unit_test(test_ec2_xml_reads_run_and_terminate),
        cmocka_unit_test(test_ec2_xml_reads_the_error_document),
        cmocka_unit_test(test_ec2_xml_every_sample_parses),
        cmocka_unit_test(test_ec2_xml_refuses_hostile_bodies),
        cmocka_unit_test(test_ec2_xml_decodes_console_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
