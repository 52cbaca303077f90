/*
 * The AWS provider against canned EC2 replies (core/http's transport hook and a fake
 * clock): the exact Query API parameters of each call, SigV4 headers that verify, error
 * codes mapped to classes, retries of throttling, paging, and credentials that never reach
 * a message.
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
#include "modules/aws/credentials.h"
#include "modules/aws/ec2.h"
#include "modules/aws/sigv4.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

struct reply {
    long status;
    const char *body;
};

struct fake {
    struct reply replies[8];
    size_t nreplies, next;
    char bodies[8][4096]; /* the request bodies seen */
    char auth[8][512];
    int calls;
    uint64_t now;
};

static int transport(void *ctx, const struct core_http_request *req,
                     struct core_http_response *resp, struct core_http_error *err)
{
    struct fake *f = ctx;
    (void)err;
    int i = f->calls++;
    if (i < 8) {
        snprintf(f->bodies[i], sizeof f->bodies[i], "%.*s", (int)req->body_len,
                 (const char *)req->body);
        for (const char *const *h = req->headers; h && *h; h++)
            if (strncmp(*h, "Authorization: ", 15) == 0)
                snprintf(f->auth[i], sizeof f->auth[i], "%s", *h + 15);
    }
    const struct reply *r = &f->replies[f->next < f->nreplies ? f->next++ : f->nreplies - 1];
    resp->status = r->status;
    core_buf_adds(&resp->body, r->body);
    core_http_response_add_header(resp, "x-amzn-RequestId", "req-123");
    return 0;
}

static uint64_t now_ms(void *ctx)
{
    return ((struct fake *)ctx)->now;
}
static void sleep_ms(void *ctx, uint64_t ms)
{
    ((struct fake *)ctx)->now += ms;
}
static int64_t unix_s(void *ctx)
{
    (void)ctx;
    return 1795000000;
}

struct fixture {
    struct fake fake;
    struct core_http_clock clock;
    struct core_http_client *http;
    struct prov *p;
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    fx->clock = (struct core_http_clock){now_ms, sleep_ms, unix_s, &fx->fake};
    struct core_http_options o = {
        .transport = transport, .transport_ctx = &fx->fake, .clock = &fx->clock, .max_attempts = 3};
    fx->http = core_http_client_new(&o);
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    unsetenv("AWS_SESSION_TOKEN");
    struct prov_config cfg = {.endpoint = "http://127.0.0.1:9/", .http = fx->http};
    struct prov_error err;
    fx->p = prov_aws.open(&cfg, &err);
    if (!fx->p || !fx->http)
        return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    prov_aws.close(fx->p);
    core_http_client_free(fx->http);
    free(fx);
    return 0;
}

static void reply(struct fixture *fx, long status, const char *body)
{
    fx->fake.replies[fx->fake.nreplies++] = (struct reply){status, body};
}

#define RUN_REPLY                                                                                  \
    "<RunInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"                    \
    "<requestId>r</requestId><instancesSet><item><instanceId>i-0123456789abcdef0</instanceId>"     \
    "<instanceState><code>0</code><name>pending</name></instanceState>"                            \
    "<instanceType>p5.48xlarge</instanceType><placement><availabilityZone>us-east-1a"              \
    "</availabilityZone></placement><instanceLifecycle>spot</instanceLifecycle>"                   \
    "<clientToken>tok-1</clientToken><tagSet><item><key>gpuform:address</key>"                     \
    "<value>train[0]</value></item><item><key>gpuform:stack</key><value>prod</value></item>"       \
    "</tagSet></item></instancesSet></RunInstancesResponse>"

#define ERROR_REPLY(code, msg)                                                                     \
    "<?xml version=\"1.0\"?><Response><Errors><Error><Code>" code "</Code><Message>" msg           \
    "</Message></Error></Errors><RequestID>rid-9</RequestID></Response>"

static void test_aws_create_sends_the_exact_query_and_a_valid_signature(void **state)
{
    struct fixture *fx = *state;
    reply(fx, 200, RUN_REPLY);
    struct prov_create c = {.stack = "prod",
                            .address = "train[0]",
                            .token = "tok-1",
                            .region = "us-east-1",
                            .zone = "us-east-1a",
                            .instance_type = "p5.48xlarge",
                            .spot = true,
                            .image = "ami-0abc",
                            .user_data = "#!/bin/sh\necho hi\n"};
    struct prov_instance in;
    struct prov_error err;
    assert_int_equal(prov_aws.create(fx->p, &c, &in, &err), 0);
    assert_string_equal(in.id, "i-0123456789abcdef0");
    assert_string_equal(in.address, "train[0]");
    assert_string_equal(in.stack, "prod");
    assert_true(in.spot);
    assert_int_equal(in.state, PROV_PENDING);
    const char *b = fx->fake.bodies[0];
    static const char *const want[] = {
        "Action=RunInstances&Version=2016-11-15",
        "&ImageId=ami-0abc",
        "&InstanceType=p5.48xlarge",
        "&MinCount=1&MaxCount=1",
        "&ClientToken=tok-1",
        "&Placement.AvailabilityZone=us-east-1a",
        "&InstanceMarketOptions.MarketType=spot",
        "&TagSpecification.1.ResourceType=instance",
        "&TagSpecification.1.Tag.1.Key=gpuform%3Astack&TagSpecification.1.Tag.1.Value=prod",
        "&TagSpecification.1.Tag.2.Key=gpuform%3Aaddress&TagSpecification.1.Tag.2.Value="
        "train%5B0%5D",
        "&UserData=IyEvYmluL3NoCmVjaG8gaGkK",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(b, want[i]))
            fail_msg("body lacks '%s': %s", want[i], b);
    /* the Authorization header names our key and scope, never the secret */
    struct sigv4_auth a;
    assert_int_equal(sigv4_parse_authorization(fx->fake.auth[0], &a), 0);
    assert_string_equal(a.access_key_id, "AKIDEXAMPLE");
    assert_string_equal(a.region, "us-east-1");
    assert_string_equal(a.service, "ec2");
    assert_string_equal(a.signed_headers, "content-type;host;x-amz-date");
    assert_null(strstr(fx->fake.auth[0], SECRET));
}

/* A verified node's tags go into its instance metadata, where its watcher reads requests;
 * a label EC2 can't serve there is refused before anything is sent. */
static void test_aws_create_puts_a_verified_nodes_tags_in_its_metadata(void **state)
{
    struct fixture *fx = *state;
    reply(fx, 200, RUN_REPLY);
    struct prov_tag ok[] = {{"team.ml", "a"}};
    struct prov_create c = {.stack = "prod",
                            .address = "train[0]",
                            .token = "tok-1",
                            .region = "us-east-1",
                            .instance_type = "p5.48xlarge",
                            .image = "ami-0abc",
                            .tags = ok,
                            .ntags = 1,
                            .metadata_tags = true};
    struct prov_instance in;
    struct prov_error err;
    assert_int_equal(prov_aws.create(fx->p, &c, &in, &err), 0);
    assert_non_null(strstr(fx->fake.bodies[0], "&MetadataOptions.InstanceMetadataTags=enabled"));
    struct prov_tag bad[] = {{"team.ml", "a"}, {"kubernetes.io/role", "b"}};
    c.tags = bad;
    c.ntags = 2;
    fx->fake.calls = 0;
    assert_int_equal(prov_aws.create(fx->p, &c, &in, &err), -1);
    assert_int_equal(err.cls, PROV_INVALID);
    assert_non_null(strstr(err.message, "'kubernetes.io/role'"));
    assert_non_null(strstr(err.message, "train[0]"));
    assert_int_equal(fx->fake.calls, 0);
    /* an unverified node keeps its labels as they are, and its tags out of its metadata */
    fx->fake.nreplies = fx->fake.next = 0;
    reply(fx, 200, RUN_REPLY);
    c.metadata_tags = false;
    assert_int_equal(prov_aws.create(fx->p, &c, &in, &err), 0);
    assert_null(strstr(fx->fake.bodies[fx->fake.calls - 1], "MetadataOptions"));
}

static void expect_class(struct fixture *fx, long status, const char *body,
                         enum prov_error_class cls, const char *code)
{
    fx->fake.nreplies = fx->fake.next = 0;
    fx->fake.calls = 0;
    reply(fx, status, body);
    struct prov_create c = {.stack = "s",
                            .address = "a[0]",
                            .token = "t",
                            .region = "us-east-1",
                            .instance_type = "g5.xlarge",
                            .image = "ami-1"};
    struct prov_instance in;
    struct prov_error err;
    assert_int_equal(prov_aws.create(fx->p, &c, &in, &err), -1);
    if (err.cls != cls)
        fail_msg("%s: class %s, want %s (%s)", code, prov_error_class_name(err.cls),
                 prov_error_class_name(cls), err.message);
    assert_string_equal(err.code, code);
    assert_non_null(strstr(err.message, code));
    assert_null(strstr(err.message, SECRET));
}

static void test_aws_maps_ec2_errors_to_classes(void **state)
{
    struct fixture *fx = *state;
    expect_class(fx, 500, ERROR_REPLY("InsufficientInstanceCapacity", "no capacity"), PROV_CAPACITY,
                 "InsufficientInstanceCapacity");
    assert_int_equal(fx->fake.calls, 1); /* EC2's 500 for capacity: failover, not a retry */
    expect_class(fx, 500, ERROR_REPLY("InternalError", "oops"), PROV_TRANSIENT, "InternalError");
    assert_int_equal(fx->fake.calls, 3); /* EC2's own failure is retried, up to max_attempts */
    expect_class(fx, 400, ERROR_REPLY("InsufficientInstanceCapacity", "no capacity"), PROV_CAPACITY,
                 "InsufficientInstanceCapacity");
    assert_int_equal(fx->fake.calls, 1);
    expect_class(fx, 400, ERROR_REPLY("InstanceLimitExceeded", "x"), PROV_QUOTA,
                 "InstanceLimitExceeded");
    expect_class(fx, 400, ERROR_REPLY("VcpuLimitExceeded", "x"), PROV_QUOTA, "VcpuLimitExceeded");
    expect_class(fx, 400, ERROR_REPLY("MaxSpotInstanceCountExceeded", "x"), PROV_QUOTA,
                 "MaxSpotInstanceCountExceeded");
    expect_class(fx, 400, ERROR_REPLY("SpotMaxPriceTooLow", "x"), PROV_CAPACITY,
                 "SpotMaxPriceTooLow");
    expect_class(fx, 503, ERROR_REPLY("RequestLimitExceeded", "slow down"), PROV_THROTTLED,
                 "RequestLimitExceeded");
    assert_int_equal(fx->fake.calls, 3);
    expect_class(fx, 400, ERROR_REPLY("Unsupported", "x"), PROV_CAPACITY, "Unsupported");
    expect_class(fx, 401, ERROR_REPLY("AuthFailure", "x"), PROV_AUTH, "AuthFailure");
    expect_class(fx, 403, ERROR_REPLY("UnauthorizedOperation", "x"), PROV_AUTH,
                 "UnauthorizedOperation");
    expect_class(fx, 400, ERROR_REPLY("InvalidParameterValue", "x"), PROV_INVALID,
                 "InvalidParameterValue");
    assert_int_equal(aws_classify("SomethingNew", 502), PROV_TRANSIENT);
    assert_int_equal(aws_classify("SomethingNew", 400), PROV_INVALID);
    assert_int_equal(aws_classify(NULL, 0), PROV_TRANSIENT);
}

static void test_aws_retries_throttling_then_succeeds(void **state)
{
    struct fixture *fx = *state;
    reply(fx, 503, ERROR_REPLY("RequestLimitExceeded", "Request limit exceeded."));
    reply(fx, 200, RUN_REPLY);
    struct prov_create c = {.stack = "prod",
                            .address = "train[0]",
                            .token = "tok-1",
                            .region = "us-east-1",
                            .instance_type = "p5.48xlarge",
                            .image = "ami-0abc"};
    struct prov_instance in;
    struct prov_error err;
    assert_int_equal(prov_aws.create(fx->p, &c, &in, &err), 0);
    assert_int_equal(fx->fake.calls, 2);
    /* the same token both times: a retry can't make a second instance */
    assert_non_null(strstr(fx->fake.bodies[1], "ClientToken=tok-1"));
}

static void test_aws_garbage_reply_is_a_clear_transient_error(void **state)
{
    struct fixture *fx = *state;
    reply(fx, 200, "<html><body>502 Bad Gateway</b");
    struct prov_instance_list l = {0};
    struct prov_error err;
    assert_int_equal(prov_aws.list(fx->p, "us-east-1", "prod", &l, &err), -1);
    assert_int_equal(err.cls, PROV_TRANSIENT);
    assert_non_null(strstr(err.message, "EC2 sent a reply gpuform can't read"));
    assert_string_equal(err.request_id, "req-123");
    prov_instance_list_release(&l);
}

static void test_aws_list_follows_pages_and_filters_by_stack(void **state)
{
    struct fixture *fx = *state;
    reply(fx, 200,
          "<DescribeInstancesResponse><reservationSet><item><instancesSet><item><instanceId>i-1"
          "</instanceId></item></instancesSet></item></reservationSet><nextToken>page2</nextToken>"
          "</DescribeInstancesResponse>");
    reply(fx, 200,
          "<DescribeInstancesResponse><reservationSet><item><instancesSet><item><instanceId>i-2"
          "</instanceId></item></instancesSet></item></reservationSet>"
          "</DescribeInstancesResponse>");
    struct prov_instance_list l = {0};
    struct prov_error err;
    assert_int_equal(prov_aws.list(fx->p, "eu-west-1", "prod", &l, &err), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[1].id, "i-2");
    assert_string_equal(l.items[1].region, "eu-west-1");
    assert_non_null(strstr(fx->fake.bodies[0], "Filter.1.Name=tag%3Agpuform%3Astack"
                                               "&Filter.1.Value.1=prod"));
    assert_non_null(strstr(fx->fake.bodies[0], "MaxResults=1000"));
    assert_null(strstr(fx->fake.bodies[0], "NextToken"));
    assert_non_null(strstr(fx->fake.bodies[1], "NextToken=page2"));
    prov_instance_list_release(&l);
}

static void test_aws_destroy_of_a_missing_instance_succeeds(void **state)
{
    struct fixture *fx = *state;
    reply(fx, 400,
          ERROR_REPLY("InvalidInstanceID.NotFound", "The instance ID 'i-9' does not "
                                                    "exist"));
    struct prov_error err;
    assert_int_equal(prov_aws.destroy(fx->p, "us-east-1", "i-9", &err), 0);
    fx->fake.nreplies = fx->fake.next = 0;
    reply(fx, 400, ERROR_REPLY("InvalidInstanceID.NotFound", "gone"));
    struct prov_instance in;
    assert_int_equal(prov_aws.describe(fx->p, "us-east-1", "i-9", &in, &err), -1);
    assert_int_equal(err.cls, PROV_NOT_FOUND);
}

static void test_aws_spot_price_history(void **state)
{
    struct fixture *fx = *state;
    reply(fx, 200,
          "<DescribeSpotPriceHistoryResponse><requestId>r</requestId><spotPriceHistorySet>"
          "<item><instanceType>p5.48xlarge</instanceType><productDescription>Linux/UNIX"
          "</productDescription><spotPrice>41.123400</spotPrice><timestamp>"
          "2026-11-20T10:00:00.000Z</timestamp><availabilityZone>us-east-1b</availabilityZone>"
          "</item><item><instanceType>p5.48xlarge</instanceType><spotPrice>39.5</spotPrice>"
          "<availabilityZone>us-east-1a</availabilityZone></item></spotPriceHistorySet>"
          "</DescribeSpotPriceHistoryResponse>");
    struct ec2_spot_price prices[4];
    size_t n;
    struct prov_error err;
    assert_int_equal(aws_spot_price_history(fx->p, "us-east-1", "p5.48xlarge", prices, 4, &n, &err),
                     0);
    assert_int_equal(n, 2);
    assert_string_equal(prices[0].zone, "us-east-1b");
    assert_true(prices[0].usd_per_hour > 41.12 && prices[0].usd_per_hour < 41.13);
    assert_non_null(strstr(fx->fake.bodies[0], "Action=DescribeSpotPriceHistory"));
    assert_non_null(strstr(fx->fake.bodies[0], "InstanceType.1=p5.48xlarge"));
    assert_non_null(strstr(fx->fake.bodies[0], "&StartTime=20"));
}

static void test_aws_auth_errors_name_the_credential_source(void **state)
{
    struct fixture *fx = *state;
    reply(fx, 403,
          ERROR_REPLY("SignatureDoesNotMatch", "The request signature we calculated "
                                               "does not match"));
    struct prov_instance_list l = {0};
    struct prov_error err;
    assert_int_equal(prov_aws.list(fx->p, "us-east-1", "s", &l, &err), -1);
    assert_int_equal(err.cls, PROV_AUTH);
    assert_non_null(strstr(err.message, "credentials from environment"));
    assert_null(strstr(err.message, SECRET));
    prov_instance_list_release(&l);
}

static const char *env_of(const char *name, void *ctx)
{
    const char *const *kv = ctx;
    for (; *kv; kv += 2)
        if (strcmp(kv[0], name) == 0)
            return kv[1];
    return NULL;
}

static void test_aws_credentials_from_env_and_profiles(void **state)
{
    (void)state;
    char dir[] = "/tmp/gpuform-aws-XXXXXX", path[128], cfg[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/credentials", dir);
    snprintf(cfg, sizeof cfg, "%s/config", dir);
    FILE *fp = fopen(path, "w");
    fputs("# comment\n[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = "
          "sekrit-default\n\n[prod]\naws_access_key_id=AKIDPROD\naws_secret_access_key=sekrit-prod"
          "\naws_session_token = tok-prod\n[half]\naws_access_key_id = AKIDHALF\n",
          fp);
    fclose(fp);
    fp = fopen(cfg, "w");
    fputs("[default]\nregion = eu-west-1\n[profile prod]\nregion = us-west-2\n", fp);
    fclose(fp);
    struct aws_credentials c;
    char why[512];
    const char *env1[] = {
        "AWS_ACCESS_KEY_ID", "AKIDENV", "AWS_SECRET_ACCESS_KEY", "sekrit-env", "AWS_SESSION_TOKEN",
        "tok-env",           NULL};
    assert_int_equal(aws_credentials_load(NULL, env_of, env1, &c, why, sizeof why), 0);
    assert_string_equal(c.access_key_id, "AKIDENV");
    assert_string_equal(c.session_token, "tok-env");
    assert_non_null(strstr(c.source, "environment"));
    aws_credentials_release(&c);
    const char *env2[] = {
        "AWS_SHARED_CREDENTIALS_FILE", path, "AWS_CONFIG_FILE", cfg, "AWS_PROFILE", "prod", NULL};
    assert_int_equal(aws_credentials_load(NULL, env_of, env2, &c, why, sizeof why), 0);
    assert_string_equal(c.access_key_id, "AKIDPROD");
    assert_string_equal(c.secret_access_key, "sekrit-prod");
    assert_string_equal(c.session_token, "tok-prod");
    assert_non_null(strstr(c.source, "[prod]"));
    assert_null(strstr(c.source, "sekrit"));
    aws_credentials_release(&c);
    char region[64];
    aws_default_region(NULL, env_of, env2, region, sizeof region);
    assert_string_equal(region, "us-west-2");
    const char *env3[] = {"AWS_SHARED_CREDENTIALS_FILE", path, "AWS_CONFIG_FILE", cfg, NULL};
    aws_default_region(NULL, env_of, env3, region, sizeof region);
    assert_string_equal(region, "eu-west-1");
    assert_int_equal(aws_credentials_load(NULL, env_of, env3, &c, why, sizeof why), 0);
    assert_string_equal(c.access_key_id, "AKIDDEFAULT");
    aws_credentials_release(&c);
    /* a profile without a secret, a missing profile, a key without its secret */
    assert_int_equal(aws_credentials_load("half", env_of, env3, &c, why, sizeof why), -1);
    assert_non_null(strstr(why, "lacks aws_access_key_id or aws_secret_access_key"));
    assert_int_equal(aws_credentials_load("nope", env_of, env3, &c, why, sizeof why), -1);
    assert_non_null(strstr(why, "has no profile 'nope'"));
    const char *env4[] = {"AWS_ACCESS_KEY_ID", "AKIDENV", NULL};
    assert_int_equal(aws_credentials_load(NULL, env_of, env4, &c, why, sizeof why), -1);
    assert_non_null(strstr(why, "AWS_SECRET_ACCESS_KEY is not"));
    unlink(path);
    unlink(cfg);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_aws_create_sends_the_exact_query_and_a_valid_signature,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_aws_maps_ec2_errors_to_classes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aws_create_puts_a_verified_nodes_tags_in_its_metadata,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_aws_retries_throttling_then_succeeds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aws_garbage_reply_is_a_clear_transient_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_aws_list_follows_pages_and_filters_by_stack, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_aws_destroy_of_a_missing_instance_succeeds, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_aws_spot_price_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aws_auth_errors_name_the_credential_source, setup,
                                        teardown),
        cmocka_unit_test(test_aws_credentials_from_env_and_profiles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
