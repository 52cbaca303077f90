/*
 * Entra ID tokens against canned replies and a fake clock: the exact client credentials
 * request, one fetch for many callers and threads, a new token five minutes before expiry
 * (or at half life for short ones), AAD refusals mapped to classes with the AADSTS code,
 * managed identity through IMDS, and the secret never in a message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modules/azure/credentials.h"
#include "tests/unit/azure_testlib.h"

#define SECRET "s3cr3t~Q8wX.abcdefghijklmnopqrstuv"
#define SCOPE  "https://management.azure.com/.default"

struct envvar {
    const char *name, *value;
};

struct fixture {
    struct az_fake fake;
    struct core_http_client *http;
    struct envvar env[8];
};

static const char *fake_getenv(const char *name, void *ctx)
{
    struct fixture *fx = ctx;
    for (int i = 0; i < 8 && fx->env[i].name; i++)
        if (!strcmp(fx->env[i].name, name))
            return fx->env[i].value;
    return NULL;
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    fx->http = az_client(&fx->fake);
    fx->env[0] = (struct envvar){"AZURE_TENANT_ID", "contoso.onmicrosoft.com"};
    fx->env[1] = (struct envvar){"AZURE_CLIENT_ID", "11111111-2222-3333-4444-555555555555"};
    fx->env[2] = (struct envvar){"AZURE_CLIENT_SECRET", SECRET};
    *state = fx;
    return fx->http ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    core_http_client_free(fx->http);
    pthread_mutex_destroy(&fx->fake.mu);
    free(fx);
    return 0;
}

static struct azure_credential *cred(struct fixture *fx)
{
    char why[512] = "";
    struct azure_credential *c =
        azure_credential_new(fx->http, SCOPE, fake_getenv, fx, why, sizeof why);
    if (!c)
        fail_msg("no credential: %s", why);
    return c;
}

static void test_azure_credentials_sends_the_client_credentials_grant(void **state)
{
    struct fixture *fx = *state;
    az_reply(&fx->fake, 200, AZ_TOKEN_REPLY("tok-A"), NULL, NULL);
    struct azure_credential *c = cred(fx);
    assert_int_equal(fx->fake.calls, 0); /* nothing fetched before it is needed */
    char *tok = NULL;
    struct prov_error err;
    assert_int_equal(azure_credential_token(c, &tok, &err), 0);
    assert_string_equal(tok, "tok-A");
    const struct az_seen *s = &fx->fake.seen[0];
    assert_string_equal(s->method, "POST");
    assert_string_equal(
        s->url, "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
    assert_non_null(strstr(s->headers, "Content-Type: application/x-www-form-urlencoded"));
    assert_string_equal(s->body, "grant_type=client_credentials&client_id=11111111-2222-3333-"
                                 "4444-555555555555&client_secret=s3cr3t~Q8wX.abcdefghijklmnopqr"
                                 "stuv&scope=https%3A%2F%2Fmanagement.azure.com%2F.default");
    assert_non_null(strstr(azure_credential_source(c), "11111111-2222"));
    assert_null(strstr(azure_credential_source(c), SECRET));
    azure_token_free(tok);
    azure_credential_free(c);
}

static void test_azure_credentials_caches_until_five_minutes_before_expiry(void **state)
{
    struct fixture *fx = *state;
    az_reply(&fx->fake, 200, AZ_TOKEN_REPLY("tok-A"), NULL, NULL);
    az_reply(&fx->fake, 200, AZ_TOKEN_REPLY("tok-B"), NULL, NULL);
    struct azure_credential *c = cred(fx);
    char *tok;
    struct prov_error err;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(azure_credential_token(c, &tok, &err), 0);
        assert_string_equal(tok, "tok-A");
        azure_token_free(tok);
    }
    assert_int_equal(azure_credential_fetches(c), 1);
    fx->fake.now += (3599 - 300) * 1000ull - 1; /* one millisecond before the refresh point */
    assert_int_equal(azure_credential_token(c, &tok, &err), 0);
    assert_string_equal(tok, "tok-A");
    azure_token_free(tok);
    fx->fake.now += 1;
    assert_int_equal(azure_credential_token(c, &tok, &err), 0);
    assert_string_equal(tok, "tok-B");
    azure_token_free(tok);
    assert_int_equal(azure_credential_fetches(c), 2);
    azure_credential_invalidate(c); /* ARM refused it: the next call fetches */
    az_reply(&fx->fake, 200, AZ_TOKEN_REPLY("tok-C"), NULL, NULL);
    assert_int_equal(azure_credential_token(c, &tok, &err), 0);
    assert_string_equal(tok, "tok-C");
    azure_token_free(tok);
    azure_credential_free(c);
}

static void test_azure_credentials_refreshes_a_short_token_at_half_life(void **state)
{
    struct fixture *fx = *state;
    az_reply(&fx->fake, 200,
             "{\"token_type\":\"Bearer\",\"expires_in\":60,\"access_token\":\"short-1\"}", NULL,
             NULL);
    az_reply(&fx->fake, 200, AZ_TOKEN_REPLY("short-2"), NULL, NULL);
    struct azure_credential *c = cred(fx);
    char *tok;
    struct prov_error err;
    assert_int_equal(azure_credential_token(c, &tok, &err), 0);
    azure_token_free(tok);
    fx->fake.now += 29999;
    assert_int_equal(azure_credential_token(c, &tok, &err), 0);
    assert_string_equal(tok, "short-1");
    azure_token_free(tok);
    fx->fake.now += 1;
    assert_int_equal(azure_credential_token(c, &tok, &err), 0);
    assert_string_equal(tok, "short-2");
    azure_token_free(tok);
    azure_credential_free(c);
}

struct race {
    struct azure_credential *c;
    int failures;
};

static void *racer(void *arg)
{
    struct race *r = arg;
    for (int i = 0; i < 50; i++) {
        char *tok;
        struct prov_error err;
        if (azure_credential_token(r->c, &tok, &err) != 0 || strcmp(tok, "tok-A"))
            __atomic_add_fetch(&r->failures, 1, __ATOMIC_RELAXED);
        azure_token_free(tok);
    }
    return NULL;
}

static void test_azure_credentials_fetches_once_for_many_threads(void **state)
{
    struct fixture *fx = *state;
    az_reply(&fx->fake, 200, AZ_TOKEN_REPLY("tok-A"), NULL, NULL);
    struct race r = {cred(fx), 0};
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&t[i], NULL, racer, &r), 0);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(r.failures, 0);
    assert_int_equal(fx->fake.calls, 1);
    azure_credential_free(r.c);
}

static void test_azure_credentials_maps_aad_refusals_without_the_secret(void **state)
{
    struct fixture *fx = *state;
    /* a hostile or careless service echoes what it was sent */
    az_reply(&fx->fake, 401,
             "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid client "
             "secret provided: '" SECRET "'.\\r\\nTrace ID: 1\\r\\nCorrelation ID: 2\","
             "\"error_codes\":[7000215]}",
             NULL, NULL);
    struct azure_credential *c = cred(fx);
    char *tok;
    struct prov_error err;
    assert_int_equal(azure_credential_token(c, &tok, &err), -1);
    assert_null(tok);
    assert_int_equal(err.cls, PROV_AUTH);
    assert_string_equal(err.code, "AADSTS7000215");
    assert_int_equal(err.http_status, 401);
    assert_non_null(strstr(err.message, "invalid_client: AADSTS7000215: Invalid client secret"));
    assert_non_null(strstr(err.message, "[redacted]"));
    assert_null(strstr(err.message, SECRET));
    assert_null(strstr(err.message, "Trace ID"));
    assert_string_equal(err.request_id, "req-az-1");
    assert_int_equal(fx->fake.calls, 1); /* a refusal is not retried */

    az_reply(&fx->fake, 429, "{\"error\":\"slow_down\"}", "Retry-After: 1", NULL);
    az_reply(&fx->fake, 429, "{\"error\":\"slow_down\"}", NULL, NULL);
    az_reply(&fx->fake, 429, "{\"error\":\"slow_down\"}", NULL, NULL);
    assert_int_equal(azure_credential_token(c, &tok, &err), -1);
    assert_int_equal(err.cls, PROV_THROTTLED);
    az_reply(&fx->fake, 503, "", NULL, NULL);
    az_reply(&fx->fake, 503, "", NULL, NULL);
    az_reply(&fx->fake, 503, "", NULL, NULL);
    assert_int_equal(azure_credential_token(c, &tok, &err), -1);
    assert_int_equal(err.cls, PROV_TRANSIENT);
    az_reply(&fx->fake, 200, "{\"access_token\":\"\",\"expires_in\":3599}", NULL, NULL);
    assert_int_equal(azure_credential_token(c, &tok, &err), -1);
    assert_int_equal(err.cls, PROV_TRANSIENT);
    assert_non_null(strstr(err.message, "can't read"));
    azure_credential_free(c);
}

static void test_azure_credentials_refuses_a_half_set_environment(void **state)
{
    struct fixture *fx = *state;
    fx->env[2].value = NULL; /* no secret */
    char why[512];
    assert_null(azure_credential_new(fx->http, SCOPE, fake_getenv, fx, why, sizeof why));
    assert_non_null(strstr(why, "AZURE_CLIENT_SECRET is not set"));
    fx->env[0].value = NULL;
    fx->env[1].value = NULL;
    fx->env[2].value = SECRET; /* a secret alone */
    assert_null(azure_credential_new(fx->http, SCOPE, fake_getenv, fx, why, sizeof why));
    assert_non_null(strstr(why, "AZURE_TENANT_ID AZURE_CLIENT_ID are not set"));
    assert_null(strstr(why, SECRET));
    fx->env[0].value = "contoso/../../evil";
    fx->env[1].value = "c";
    assert_null(azure_credential_new(fx->http, SCOPE, fake_getenv, fx, why, sizeof why));
    assert_non_null(strstr(why, "AZURE_TENANT_ID"));
}

static void test_azure_credentials_keeps_the_secret_off_plain_http(void **state)
{
    struct fixture *fx = *state;
    fx->env[3] = (struct envvar){"AZURE_AUTHORITY_HOST", "http://login.example.com"};
    char why[512];
    assert_null(azure_credential_new(fx->http, SCOPE, fake_getenv, fx, why, sizeof why));
    assert_non_null(strstr(why, "not https://"));
    fx->env[3].value = "http://127.0.0.1:8123/"; /* cloudsim on loopback */
    az_reply(&fx->fake, 200, AZ_TOKEN_REPLY("tok-L"), NULL, NULL);
    struct azure_credential *c = cred(fx);
    char *tok;
    struct prov_error err;
    assert_int_equal(azure_credential_token(c, &tok, &err), 0);
    assert_string_equal(fx->fake.seen[0].url,
                        "http://127.0.0.1:8123/contoso.onmicrosoft.com/oauth2/v2.0/token");
    azure_token_free(tok);
    azure_credential_free(c);
}

static void test_azure_credentials_uses_the_managed_identity_without_a_principal(void **state)
{
    struct fixture *fx = *state;
    fx->env[0].value = NULL;
    fx->env[2].value = NULL; /* AZURE_CLIENT_ID alone: a user-assigned identity */
    az_reply(&fx->fake, 200,
             "{\"access_token\":\"mi-tok\",\"expires_in\":\"3599\",\"expires_on\":\"1795003599\","
             "\"resource\":\"https://management.azure.com/\",\"token_type\":\"Bearer\"}",
             NULL, NULL);
    struct azure_credential *c = cred(fx);
    assert_non_null(strstr(azure_credential_source(c), "managed identity"));
    char *tok;
    struct prov_error err;
    assert_int_equal(azure_credential_token(c, &tok, &err), 0);
    assert_string_equal(tok, "mi-tok");
    const struct az_seen *s = &fx->fake.seen[0];
    assert_string_equal(s->method, "GET");
    assert_string_equal(s->url, "http://169.254.169.254/metadata/identity/oauth2/token?"
                                "api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure."
                                "com%2F&client_id=11111111-2222-3333-4444-555555555555");
    assert_non_null(strstr(s->headers, "Metadata: true"));
    /* "3599" as a string still gives an hour */
    fx->fake.now += 3000 * 1000ull;
    azure_token_free(tok);
    assert_int_equal(azure_credential_token(c, &tok, &err), 0);
    assert_int_equal(azure_credential_fetches(c), 1);
    azure_token_free(tok);
    azure_credential_free(c);
}

static void test_azure_credentials_says_what_to_set_when_no_identity_answers(void **state)
{
    struct fixture *fx = *state;
    fx->env[0].value = fx->env[1].value = fx->env[2].value = NULL;
    az_reply(&fx->fake, 0, NULL, NULL, NULL);
    az_reply(&fx->fake, 0, NULL, NULL, NULL);
    struct azure_credential *c = cred(fx);
    char *tok;
    struct prov_error err;
    assert_int_equal(azure_credential_token(c, &tok, &err), -1);
    assert_int_equal(err.cls, PROV_AUTH);
    assert_non_null(strstr(err.message, "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET "
                                        "are not set"));
    assert_int_equal(fx->fake.calls, 2); /* at most two quick tries */
    azure_credential_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_azure_credentials_sends_the_client_credentials_grant,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_azure_credentials_caches_until_five_minutes_before_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_azure_credentials_refreshes_a_short_token_at_half_life,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_azure_credentials_fetches_once_for_many_threads, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_azure_credentials_maps_aad_refusals_without_the_secret,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_azure_credentials_refuses_a_half_set_environment,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_azure_credentials_keeps_the_secret_off_plain_http,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_azure_credentials_uses_the_managed_identity_without_a_principal, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_azure_credentials_says_what_to_set_when_no_identity_answers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
