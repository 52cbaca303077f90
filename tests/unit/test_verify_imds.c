/*
 * The verify watcher's metadata reads (modules/verify/imds.h): the three clouds' replies read
 * as a value, an absent key or an error; garbage, NULs, control characters, oversized values
 * and malformed Azure tag lists refused with a reason; a bad base URL and an unreachable
 * service reported, never a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "modules/verify/imds.h"

#define KEY "gpuform-verify-request"
#define REQ "quick:0123456789abcdef0123456789abcdef"

static enum verify_imds_status reply(enum core_cloud c, long status, const char *body,
                                     char value[VERIFY_IMDS_VALUE_MAX + 1], char why[256])
{
    return verify_imds_reply(c, KEY, status, body, body ? strlen(body) : 0, value,
                             VERIFY_IMDS_VALUE_MAX + 1, why, 256);
}

static void test_imds_aws_and_gce_give_the_body_as_the_value(void **state)
{
    (void)state;
    char v[VERIFY_IMDS_VALUE_MAX + 1], why[256];
    assert_int_equal(reply(CORE_CLOUD_AWS, 200, REQ, v, why), VERIFY_IMDS_VALUE);
    assert_string_equal(v, REQ);
    assert_int_equal(reply(CORE_CLOUD_GCP, 200, REQ "\r\n", v, why), VERIFY_IMDS_VALUE);
    assert_string_equal(v, REQ);
    assert_int_equal(reply(CORE_CLOUD_GCP, 200, "", v, why), VERIFY_IMDS_VALUE);
    assert_string_equal(v, "");
}

static void test_imds_404_is_absent_but_other_statuses_are_errors(void **state)
{
    (void)state;
    char v[VERIFY_IMDS_VALUE_MAX + 1], why[256];
    assert_int_equal(reply(CORE_CLOUD_AWS, 404, "Not Found", v, why), VERIFY_IMDS_ABSENT);
    assert_string_equal(v, "");
    assert_int_equal(reply(CORE_CLOUD_GCP, 404, NULL, v, why), VERIFY_IMDS_ABSENT);
    assert_int_equal(reply(CORE_CLOUD_AWS, 500, "<html>oops</html>", v, why), VERIFY_IMDS_ERROR);
    assert_non_null(strstr(why, "status 500"));
    assert_non_null(strstr(why, "oops"));
    assert_int_equal(reply(CORE_CLOUD_GCP, 403, "", v, why), VERIFY_IMDS_ERROR);
    assert_string_equal(why, "status 403");
    /* Azure's tagsList is one document: a 404 there is the service's, not a missing tag */
    assert_int_equal(reply(CORE_CLOUD_AZURE, 404, "", v, why), VERIFY_IMDS_ERROR);
    assert_string_equal(v, "");
}

static void test_imds_refuses_values_no_request_could_be(void **state)
{
    (void)state;
    char v[VERIFY_IMDS_VALUE_MAX + 1], why[256];
    assert_int_equal(reply(CORE_CLOUD_AWS, 200, "quick:\x1b[2Jabc", v, why), VERIFY_IMDS_ERROR);
    assert_non_null(strstr(why, "control character"));
    assert_string_equal(v, "");
    char nul[] = "quick\0:abc";
    assert_int_equal(verify_imds_reply(CORE_CLOUD_GCP, KEY, 200, nul, sizeof nul - 1, v, sizeof v,
                                       why, sizeof why),
                     VERIFY_IMDS_ERROR);
    assert_non_null(strstr(why, "NUL"));
    char *big = malloc(100000);
    assert_non_null(big);
    memset(big, 'a', 99999);
    big[99999] = '\0';
    assert_int_equal(reply(CORE_CLOUD_AWS, 200, big, v, why), VERIFY_IMDS_ERROR);
    assert_non_null(strstr(why, "bytes"));
    free(big);
    /* a value that fits the service's limit but not the caller's buffer */
    char small[8];
    assert_int_equal(verify_imds_reply(CORE_CLOUD_AWS, KEY, 200, REQ, strlen(REQ), small,
                                       sizeof small, why, sizeof why),
                     VERIFY_IMDS_ERROR);
    assert_string_equal(small, "");
}

static void test_imds_azure_reads_its_tag_list(void **state)
{
    (void)state;
    char v[VERIFY_IMDS_VALUE_MAX + 1], why[256];
    assert_int_equal(reply(CORE_CLOUD_AZURE, 200,
                           "[{\"name\":\"gpuform-stack\",\"value\":\"s\"},{\"name\":\"" KEY
                           "\",\"value\":\"" REQ "\"}]",
                           v, why),
                     VERIFY_IMDS_VALUE);
    assert_string_equal(v, REQ);
    assert_int_equal(reply(CORE_CLOUD_AZURE, 200, "[{\"name\":\"other\",\"value\":\"x\"}]", v, why),
                     VERIFY_IMDS_ABSENT);
    assert_int_equal(reply(CORE_CLOUD_AZURE, 200, "[]", v, why), VERIFY_IMDS_ABSENT);
}

static void test_imds_azure_garbage_is_an_error_with_a_reason(void **state)
{
    (void)state;
    char v[VERIFY_IMDS_VALUE_MAX + 1], why[256];
    static const char *const garbage[] = {
        "",
        "not json",
        "{\"name\":\"" KEY "\",\"value\":\"" REQ "\"}",
        "[{\"name\":\"" KEY "\",\"value\":7}]",
        "[{\"value\":\"x\"}]",
        "[1, 2]",
        "[{\"name\":\"" KEY "\",\"value\":\"" REQ "\"}",
        "\xff\xfe[",
    };
    for (size_t i = 0; i < sizeof garbage / sizeof *garbage; i++) {
        assert_int_equal(reply(CORE_CLOUD_AZURE, 200, garbage[i], v, why), VERIFY_IMDS_ERROR);
        assert_true(why[0] != '\0');
        assert_string_equal(v, "");
    }
    /* the tag's value must still be a value a request could be */
    assert_int_equal(
        reply(CORE_CLOUD_AZURE, 200, "[{\"name\":\"" KEY "\",\"value\":\"a\\nb\"}]", v, why),
        VERIFY_IMDS_ERROR);
}

static void test_imds_client_refuses_a_bad_base_and_reports_an_unreachable_service(void **state)
{
    (void)state;
    char why[512], v[VERIFY_IMDS_VALUE_MAX + 1];
    assert_null(verify_imds_new(CORE_CLOUD_AWS, "https://169.254.169.254", why, sizeof why));
    assert_non_null(strstr(why, "not an http:// URL"));
    assert_null(verify_imds_new(CORE_CLOUD_GCP, "http://a b", why, sizeof why));
    verify_imds_free(NULL);
    /* port 1 on loopback: nothing listens there */
    static const enum core_cloud clouds[] = {CORE_CLOUD_AWS, CORE_CLOUD_GCP, CORE_CLOUD_AZURE};
    for (size_t i = 0; i < 3; i++) {
        struct verify_imds *m = verify_imds_new(clouds[i], "http://127.0.0.1:1/", why, sizeof why);
        assert_non_null(m);
        assert_int_equal(verify_imds_read(m, KEY, v, sizeof v, why, sizeof why), VERIFY_IMDS_ERROR);
        assert_non_null(strstr(why, "127.0.0.1:1/"));
        assert_string_equal(v, "");
        /* a key that would change the URL's path is refused before any request */
        assert_int_equal(verify_imds_read(m, "../user-data", v, sizeof v, why, sizeof why),
                         VERIFY_IMDS_ERROR);
        assert_non_null(strstr(why, "not a key"));
        verify_imds_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_imds_aws_and_gce_give_the_body_as_the_value),
        cmocka_unit_test(test_imds_404_is_absent_but_other_statuses_are_errors),
        cmocka_unit_test(test_imds_refuses_values_no_request_could_be),
        cmocka_unit_test(test_imds_azure_reads_its_tag_list),
        cmocka_unit_test(test_imds_azure_garbage_is_an_error_with_a_reason),
        cmocka_unit_test(test_imds_client_refuses_a_bad_base_and_reports_an_unreachable_service),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
