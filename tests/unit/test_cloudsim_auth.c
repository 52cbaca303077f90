/*
 * cloudsim's authentication (sim_auth.c): which requests are refused, with which EC2 code
 * and status, before and after the signature is recomputed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "modules/aws/sigv4.h"
#include "modules/cloudsim/sim_int.h"

#define NOW 1440938160.0 /* 2015-08-30T12:36:00Z, the AWS test suite's date */

struct fixture {
    struct sim_config conf;
    struct sim_query q;
    struct sim_error e;
    char region[64];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(sim_config_add_credential(&f->conf, "AKIDEXAMPLE",
                                               "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                     0);
    f->q.method = "POST";
    f->q.path = "/";
    f->q.body = "Action=DescribeInstances&Version=2016-11-15";
    f->q.body_len = strlen(f->q.body);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sim_config_release(&f->conf);
    free(f);
    return 0;
}

static void header(struct fixture *f, const char *name, const char *value)
{
    f->q.headers[f->q.nheaders].name = name;
    f->q.headers[f->q.nheaders].value = value;
    f->q.nheaders++;
}

static int check(struct fixture *f, double now)
{
    memset(&f->e, 0, sizeof f->e);
    return sim_auth_check(&f->conf, &f->q, now, f->region, &f->e);
}

static void test_cloudsim_auth_refuses_an_unsigned_request(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(check(f, NOW), -1);
    assert_string_equal(f->e.code, "MissingAuthenticationToken");
    assert_int_equal(f->e.http_status, 401);
}

static void test_cloudsim_auth_refuses_an_unknown_access_key(void **state)
{
    struct fixture *f = *state;
    header(f, "x-amz-date", "20150830T123600Z");
    header(f, "Authorization",
           "AWS4-HMAC-SHA256 Credential=AKIDNOBODY/20150830/us-east-1/ec2/aws4_request, "
           "SignedHeaders=host;x-amz-date, "
           "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
    assert_int_equal(check(f, NOW), -1);
    assert_string_equal(f->e.code, "AuthFailure");
    assert_int_equal(f->e.http_status, 401);
    assert_null(strstr(f->e.message, "wJalr")); /* never the secret */
}

static void test_cloudsim_auth_refuses_other_schemes_and_scopes(void **state)
{
    struct fixture *f = *state;
    header(f, "X-Amz-Date", "20150830T123600Z");
    header(f, "Authorization", "AWS AKIDEXAMPLE:c2lnbmF0dXJl");
    assert_int_equal(check(f, NOW), -1);
    assert_string_equal(f->e.code, "AuthFailure");
    f->q.headers[1].value =
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/s3/"
        "aws4_request, SignedHeaders=host, "
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
    assert_int_equal(check(f, NOW), -1);
    assert_string_equal(f->e.code, "AuthFailure");
    assert_non_null(strstr(f->e.message, "credential scope"));
}

static void test_cloudsim_auth_refuses_a_stale_date(void **state)
{
    struct fixture *f = *state;
    header(f, "X-Amz-Date", "20150830T123600Z");
    header(f, "Authorization",
           "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ec2/aws4_request, "
           "SignedHeaders=host;x-amz-date, "
           "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
    assert_int_equal(check(f, NOW + 901), -1);
    assert_string_equal(f->e.code, "RequestExpired");
    assert_int_equal(f->e.http_status, 400);
    f->q.headers[0].value = "yesterday";
    assert_int_equal(check(f, NOW), -1);
    assert_string_equal(f->e.code, "AuthFailure");
}

/* Signs the fixture's request with `secret` as the AWS provider would. */
static void sign(struct fixture *f, const char *secret, char *auth, size_t authlen)
{
    struct sigv4_header hs[] = {{"Host", "127.0.0.1:8080"},
                                {"Content-Type", "application/x-www-form-urlencoded"}};
    struct sigv4_request r = {.method = "POST",
                              .path = "/",
                              .headers = hs,
                              .nheaders = 2,
                              .body = f->q.body,
                              .body_len = f->q.body_len};
    struct sigv4_params p = {.access_key_id = "AKIDEXAMPLE",
                             .secret_access_key = secret,
                             .region = "eu-west-1",
                             .service = "ec2",
                             .amz_date = "20150830T123600Z",
                             .normalize_path = true};
    struct sigv4_result out = {0};
    assert_int_equal(sigv4_sign_headers(&r, &p, &out), 0);
    snprintf(auth, authlen, "%s", out.authorization);
    sigv4_result_release(&out);
    header(f, "Host", "127.0.0.1:8080");
    header(f, "Content-Type", "application/x-www-form-urlencoded");
    header(f, "X-Amz-Date", "20150830T123600Z");
    header(f, "Authorization", auth);
}

static void test_cloudsim_auth_accepts_a_signed_request_and_takes_its_region(void **state)
{
    struct fixture *f = *state;
    char auth[1024];
    sign(f, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", auth, sizeof auth);
    assert_int_equal(check(f, NOW + 60), 0);
    assert_string_equal(f->region, "eu-west-1");
}

static void test_cloudsim_auth_refuses_a_wrong_secret_or_an_altered_body(void **state)
{
    struct fixture *f = *state;
    char auth[1024];
    sign(f, "not-the-secret", auth, sizeof auth);
    assert_int_equal(check(f, NOW), -1);
    assert_string_equal(f->e.code, "SignatureDoesNotMatch");
    assert_int_equal(f->e.http_status, 403);
    f->q.nheaders = 0;
    sign(f, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", auth, sizeof auth);
    f->q.body = "Action=TerminateInstances&Version=2016-11-15";
    f->q.body_len = strlen(f->q.body);
    assert_int_equal(check(f, NOW), -1);
    assert_string_equal(f->e.code, "SignatureDoesNotMatch");
    assert_null(strstr(f->e.message, "wJalr"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cloudsim_auth_refuses_an_unsigned_request, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cloudsim_auth_refuses_an_unknown_access_key, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cloudsim_auth_refuses_other_schemes_and_scopes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cloudsim_auth_refuses_a_stale_date, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_cloudsim_auth_accepts_a_signed_request_and_takes_its_region, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_cloudsim_auth_refuses_a_wrong_secret_or_an_altered_body, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
