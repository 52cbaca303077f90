/*
 * GCP authentication: key files read and refused, where Application Default Credentials are
 * looked for, the JWT's header, claims and RS256 signature (checked with the public key),
 * the token exchange through a canned transport, the cache on a fake clock (refreshed five
 * minutes early, dropped after a 401, one fetch for many threads), and errors that never
 * carry the key or a token.
 */
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/http.h"
#include "modules/gcp/gcp_auth.h"

struct keys {
    EVP_PKEY *pkey;
    char *private_pem;
    char *public_pem;
};

static char *pem_of(EVP_PKEY *k, bool private_part)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_non_null(b);
    assert_int_equal(private_part ? PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)
                                  : PEM_write_bio_PUBKEY(b, k),
                     1);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *s = strndup(data, (size_t)n);
    BIO_free(b);
    return s;
}

static int setup(void **state)
{
    struct keys *k = calloc(1, sizeof *k);
    k->pkey = EVP_RSA_gen(2048);
    assert_non_null(k->pkey);
    k->private_pem = pem_of(k->pkey, true);
    k->public_pem = pem_of(k->pkey, false);
    *state = k;
    return 0;
}

static int teardown(void **state)
{
    struct keys *k = *state;
    EVP_PKEY_free(k->pkey);
    free(k->private_pem);
    free(k->public_pem);
    free(k);
    return 0;
}

static char *key_json(const struct keys *k, const char *token_uri)
{
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", "service_account", "project_id",
                  "proj-1", "private_key_id", "kid-1", "private_key", k->private_pem,
                  "client_email", "sa@proj-1.iam.gserviceaccount.com", "token_uri", token_uri);
    char *s = json_dumps(j, 0);
    json_decref(j);
    return s;
}

static void load_sa(const struct keys *k, const char *token_uri, struct gcp_credentials *c)
{
    char *text = key_json(k, token_uri);
    char why[256];
    assert_int_equal(gcp_credentials_parse(text, strlen(text), "key.json", c, why, sizeof why), 0);
    free(text);
}

static unsigned char *unb64url(const char *s, size_t n, size_t *outlen)
{
    char *t = malloc(n + 4);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        t[k++] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    while (k % 4)
        t[k++] = '=';
    unsigned char *out = malloc(k);
    int m = EVP_DecodeBlock(out, (unsigned char *)t, (int)k);
    assert_true(m >= 0);
    *outlen = (size_t)m - (s[n - 1] == '=' ? 0 : (4 - n % 4) % 4);
    free(t);
    return out;
}

static json_t *part_json(const char *s, size_t n)
{
    size_t len;
    unsigned char *raw = unb64url(s, n, &len);
    json_t *j = json_loadb((char *)raw, len, 0, NULL);
    free(raw);
    assert_non_null(j);
    return j;
}

/* Checks the JWT's signature with the public key; returns its claims. */
static json_t *verify_jwt(const char *jwt, const char *public_pem)
{
    const char *dot1 = strchr(jwt, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    assert_non_null(dot2);
    json_t *h = part_json(jwt, (size_t)(dot1 - jwt));
    assert_string_equal(json_string_value(json_object_get(h, "alg")), "RS256");
    assert_string_equal(json_string_value(json_object_get(h, "typ")), "JWT");
    assert_string_equal(json_string_value(json_object_get(h, "kid")), "kid-1");
    json_decref(h);
    size_t siglen;
    unsigned char *sig = unb64url(dot2 + 1, strlen(dot2 + 1), &siglen);
    BIO *b = BIO_new_mem_buf(public_pem, -1);
    EVP_PKEY *pub = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    BIO_free(b);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub), 1);
    int ok = EVP_DigestVerify(md, sig, siglen, (const unsigned char *)jwt, (size_t)(dot2 - jwt));
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pub);
    free(sig);
    assert_int_equal(ok, 1);
    return part_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
}

static void test_gcp_jwt_is_signed_rs256_with_googles_claims(void **state)
{
    struct keys *k = *state;
    struct gcp_credentials c;
    load_sa(k, "https://oauth2.googleapis.com/token", &c);
    assert_int_equal(c.kind, GCP_CRED_SERVICE_ACCOUNT);
    assert_string_equal(c.project_id, "proj-1");
    char why[256];
    char *jwt = gcp_jwt_sign(&c, GCP_SCOPE_COMPUTE, c.token_uri, 1800000000, why, sizeof why);
    assert_non_null(jwt);
    assert_null(strchr(jwt, '='));
    json_t *claims = verify_jwt(jwt, k->public_pem);
    assert_string_equal(json_string_value(json_object_get(claims, "iss")),
                        "sa@proj-1.iam.gserviceaccount.com");
    assert_string_equal(json_string_value(json_object_get(claims, "aud")),
                        "https://oauth2.googleapis.com/token");
    assert_string_equal(json_string_value(json_object_get(claims, "scope")), GCP_SCOPE_COMPUTE);
    assert_int_equal(json_integer_value(json_object_get(claims, "iat")), 1800000000);
    assert_int_equal(json_integer_value(json_object_get(claims, "exp")), 1800003600);
    json_decref(claims);
    /* one flipped byte of the payload and the signature no longer holds */
    char *dot = strchr(jwt, '.');
    dot[3] = dot[3] == 'A' ? 'B' : 'A';
    const char *dot2 = strchr(dot + 1, '.');
    size_t siglen;
    unsigned char *sig = unb64url(dot2 + 1, strlen(dot2 + 1), &siglen);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k->pkey);
    assert_int_not_equal(
        EVP_DigestVerify(md, sig, siglen, (const unsigned char *)jwt, (size_t)(dot2 - jwt)), 1);
    EVP_MD_CTX_free(md);
    free(sig);
    free(jwt);
    gcp_credentials_release(&c);
}

static void test_gcp_credentials_files_are_checked(void **state)
{
    struct keys *k = *state;
    struct gcp_credentials c;
    char why[512];
    const char *bad[] = {
        "not json",
        "{\"type\": \"external_account\"}",
        "{\"type\": \"service_account\", \"client_email\": \"a@b\"}",
        "{\"type\": \"service_account\", \"client_email\": \"a@b\", \"private_key\": "
        "\"-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----\\n\"}",
        "{\"type\": \"authorized_user\", \"client_id\": \"x\"}",
    };
    const char *expect[] = {"not a JSON credentials file", "type 'external_account'",
                            "no 'private_key'", "not a PEM RSA private key",
                            "needs client_id, client_secret and refresh_token"};
    for (size_t i = 0; i < 5; i++) {
        why[0] = 0;
        assert_int_equal(
            gcp_credentials_parse(bad[i], strlen(bad[i]), "k.json", &c, why, sizeof why), -1);
        assert_non_null(strstr(why, expect[i]));
        assert_non_null(strstr(why, "k.json"));
        assert_null(strstr(why, "AAAA"));
    }
    const char *user = "{\"type\": \"authorized_user\", \"client_id\": \"cid\", \"client_secret\":"
                       " \"shh\", \"refresh_token\": \"1//r\", \"quota_project_id\": \"qp\"}";
    assert_int_equal(gcp_credentials_parse(user, strlen(user), "adc.json", &c, why, sizeof why), 0);
    assert_int_equal(c.kind, GCP_CRED_AUTHORIZED_USER);
    assert_string_equal(c.token_uri, GCP_TOKEN_URI);
    assert_string_equal(c.project_id, "qp");
    gcp_credentials_release(&c);
    (void)k;
}

/* ---- finding credentials ---- */

struct env {
    const char *names[4];
    const char *values[4];
};

static const char *fake_getenv(const char *name, void *ctx)
{
    struct env *e = ctx;
    for (int i = 0; i < 4 && e->names[i]; i++)
        if (!strcmp(e->names[i], name))
            return e->values[i];
    return NULL;
}

static void test_gcp_credentials_are_found_where_google_looks(void **state)
{
    struct keys *k = *state;
    char dir[] = "/tmp/gcp-adc-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char key[256], adc[256], dmi[256], why[640];
    snprintf(key, sizeof key, "%s/key.json", dir);
    snprintf(adc, sizeof adc, "%s/application_default_credentials.json", dir);
    snprintf(dmi, sizeof dmi, "%s/product_name", dir);
    char *text = key_json(k, "http://127.0.0.1:9/token");
    FILE *f = fopen(key, "w");
    fputs(text, f);
    fclose(f);
    free(text);
    struct gcp_credentials c;
    struct env e = {{"GOOGLE_APPLICATION_CREDENTIALS"}, {key}};
    assert_int_equal(
        gcp_credentials_find(fake_getenv, &e, "/nonexistent", NULL, &c, why, sizeof why), 0);
    assert_string_equal(c.source, key);
    assert_string_equal(c.token_uri, "http://127.0.0.1:9/token");
    gcp_credentials_release(&c);
    /* the stack's credentials_file comes before the environment */
    e.values[0] = "/nonexistent/env.json";
    assert_int_equal(
        gcp_credentials_find(fake_getenv, &e, "/nonexistent", key, &c, why, sizeof why), 0);
    assert_string_equal(c.source, key);
    gcp_credentials_release(&c);
    assert_int_equal(gcp_credentials_find(fake_getenv, &e, "/nonexistent", "/nonexistent/s.json",
                                          &c, why, sizeof why),
                     -1);
    assert_non_null(strstr(why, "the stack's credentials_file names '/nonexistent/s.json'"));
    /* a named file that is missing is an error, not a fall-through */
    e.values[0] = "/nonexistent/key.json";
    assert_int_equal(
        gcp_credentials_find(fake_getenv, &e, "/nonexistent", NULL, &c, why, sizeof why), -1);
    assert_non_null(strstr(why, "GOOGLE_APPLICATION_CREDENTIALS names '/nonexistent/key.json'"));
    /* gcloud's well-known file under CLOUDSDK_CONFIG */
    rename(key, adc);
    struct env e2 = {{"CLOUDSDK_CONFIG"}, {dir}};
    assert_int_equal(
        gcp_credentials_find(fake_getenv, &e2, "/nonexistent", NULL, &c, why, sizeof why), 0);
    assert_string_equal(c.source, adc);
    gcp_credentials_release(&c);
    unlink(adc);
    /* none: the message says where it looked */
    assert_int_equal(
        gcp_credentials_find(fake_getenv, &e2, "/nonexistent", NULL, &c, why, sizeof why), -1);
    assert_non_null(strstr(why, adc));
    assert_non_null(strstr(why, "GOOGLE_APPLICATION_CREDENTIALS"));
    /* on a GCE VM (its DMI name), or with GCE_METADATA_HOST: the metadata server */
    f = fopen(dmi, "w");
    fputs("Google Compute Engine\n", f);
    fclose(f);
    assert_int_equal(gcp_credentials_find(fake_getenv, &e2, dmi, NULL, &c, why, sizeof why), 0);
    assert_int_equal(c.kind, GCP_CRED_METADATA);
    assert_non_null(strstr(c.token_uri, "http://metadata.google.internal/computeMetadata/v1/"));
    gcp_credentials_release(&c);
    struct env e3 = {{"CLOUDSDK_CONFIG", "GCE_METADATA_HOST"}, {dir, "127.0.0.1:8089"}};
    assert_int_equal(
        gcp_credentials_find(fake_getenv, &e3, "/nonexistent", NULL, &c, why, sizeof why), 0);
    assert_non_null(strstr(c.token_uri, "http://127.0.0.1:8089/computeMetadata/"));
    gcp_credentials_release(&c);
    unlink(dmi);
    rmdir(dir);
}

/* ---- the token source, over a canned transport and a fake clock ---- */

struct tokend {
    pthread_mutex_t mu;
    int calls;
    long status;          /* what to answer */
    const char *error;    /* an OAuth error body instead of a token */
    char last_body[4096]; /* the last request's body */
    char last_method[8];
    const char *public_pem;
    bool metadata_flavor; /* answer with Metadata-Flavor: Google */
};

static int token_transport(void *ctx, const struct core_http_request *req,
                           struct core_http_response *resp, struct core_http_error *err)
{
    (void)err;
    struct tokend *t = ctx;
    pthread_mutex_lock(&t->mu);
    int n = ++t->calls;
    snprintf(t->last_body, sizeof t->last_body, "%.*s", (int)req->body_len,
             req->body ? (const char *)req->body : "");
    snprintf(t->last_method, sizeof t->last_method, "%s", req->method);
    pthread_mutex_unlock(&t->mu);
    usleep(20000); /* long enough for other threads to pile up behind the lock */
    resp->status = t->status;
    if (t->metadata_flavor)
        core_http_response_add_header(resp, "Metadata-Flavor", "Google");
    if (t->error)
        core_buf_adds(&resp->body, t->error);
    else
        core_buf_addf(&resp->body,
                      "{\"access_token\": \"ya29.token-%d\", \"expires_in\": 3599, "
                      "\"token_type\": \"Bearer\"}",
                      n);
    return 0;
}

static int64_t fake_clock_now(void *ctx)
{
    return *(int64_t *)ctx;
}

static struct core_http_client *token_client(struct tokend *t)
{
    struct core_http_options o = {.transport = token_transport,
                                  .transport_ctx = t,
                                  .max_attempts = 1,
                                  .no_default_rates = true};
    struct core_http_client *c = core_http_client_new(&o);
    assert_non_null(c);
    return c;
}

static void test_gcp_token_is_cached_and_refreshed_early(void **state)
{
    struct keys *k = *state;
    struct tokend t = {PTHREAD_MUTEX_INITIALIZER, 0, 200, NULL, "", "", k->public_pem, false};
    struct core_http_client *http = token_client(&t);
    struct gcp_credentials c;
    load_sa(k, "http://127.0.0.1:9/token", &c);
    int64_t now = 1800000000;
    struct gcp_token_options o = {.now = fake_clock_now, .now_ctx = &now};
    struct gcp_token_source *ts = gcp_token_source_new(&c, http, &o);
    assert_non_null(ts);
    char h[512];
    struct prov_error err;
    assert_int_equal(gcp_token_header(ts, h, sizeof h, &err), 0);
    assert_string_equal(h, "Authorization: Bearer ya29.token-1");
    assert_string_equal(t.last_method, "POST");
    /* the grant is the jwt-bearer one and the assertion holds, with iat from the clock */
    assert_non_null(strstr(t.last_body, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3A"
                                        "jwt-bearer&assertion="));
    json_t *claims = verify_jwt(strstr(t.last_body, "assertion=") + 10, k->public_pem);
    assert_int_equal(json_integer_value(json_object_get(claims, "iat")), now);
    assert_string_equal(json_string_value(json_object_get(claims, "aud")),
                        "http://127.0.0.1:9/token");
    json_decref(claims);
    now += 3000; /* 599 s left of 3599: still good */
    assert_int_equal(gcp_token_header(ts, h, sizeof h, &err), 0);
    assert_int_equal(gcp_token_fetches(ts), 1);
    now += 300; /* 299 s left: refreshed */
    assert_int_equal(gcp_token_header(ts, h, sizeof h, &err), 0);
    assert_string_equal(h, "Authorization: Bearer ya29.token-2");
    assert_int_equal(gcp_token_fetches(ts), 2);
    gcp_token_invalidate(ts); /* after a 401 */
    assert_int_equal(gcp_token_header(ts, h, sizeof h, &err), 0);
    assert_string_equal(h, "Authorization: Bearer ya29.token-3");
    /* the token is a secret of the client: redacted wherever it would be logged */
    struct core_buf out;
    core_buf_init(&out, 1024);
    assert_int_equal(core_http_redact(http, "got ya29.token-3 back", &out), 0);
    assert_null(strstr(core_buf_str(&out), "token-3"));
    core_buf_release(&out);
    gcp_token_source_free(ts);
    core_http_client_free(http);
}

struct racer {
    struct gcp_token_source *ts;
    int rc;
    char h[256];
};

static void *race(void *arg)
{
    struct racer *r = arg;
    struct prov_error err;
    r->rc = gcp_token_header(r->ts, r->h, sizeof r->h, &err);
    return NULL;
}

static void test_gcp_token_is_fetched_once_for_many_threads(void **state)
{
    struct keys *k = *state;
    struct tokend t = {PTHREAD_MUTEX_INITIALIZER, 0, 200, NULL, "", "", k->public_pem, false};
    struct core_http_client *http = token_client(&t);
    struct gcp_credentials c;
    load_sa(k, "http://127.0.0.1:9/token", &c);
    struct gcp_token_source *ts = gcp_token_source_new(&c, http, NULL);
    struct racer r[8];
    pthread_t th[8];
    for (int i = 0; i < 8; i++) {
        r[i] = (struct racer){.ts = ts, .rc = -1};
        pthread_create(&th[i], NULL, race, &r[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(r[i].rc, 0);
        assert_string_equal(r[i].h, "Authorization: Bearer ya29.token-1");
    }
    assert_int_equal(t.calls, 1);
    gcp_token_source_free(ts);
    core_http_client_free(http);
}

static void test_gcp_token_errors_say_why_without_secrets(void **state)
{
    struct keys *k = *state;
    struct tokend t = {PTHREAD_MUTEX_INITIALIZER,
                       0,
                       400,
                       "{\"error\": \"invalid_grant\", \"error_description\": \"Invalid JWT "
                       "Signature.\"}",
                       "",
                       "",
                       k->public_pem,
                       false};
    struct core_http_client *http = token_client(&t);
    struct gcp_credentials c;
    load_sa(k, "http://127.0.0.1:9/token", &c);
    struct gcp_token_source *ts = gcp_token_source_new(&c, http, NULL);
    char h[512];
    struct prov_error err;
    assert_int_equal(gcp_token_header(ts, h, sizeof h, &err), -1);
    assert_int_equal(err.cls, PROV_AUTH);
    assert_string_equal(err.code, "invalid_grant");
    assert_non_null(strstr(err.message, "Invalid JWT Signature."));
    assert_non_null(strstr(err.message, "key.json"));
    assert_null(strstr(err.message, "PRIVATE KEY"));
    assert_null(strstr(err.message, "assertion"));
    t.status = 503;
    t.error = "<html>unavailable</html>";
    assert_int_equal(gcp_token_header(ts, h, sizeof h, &err), -1);
    assert_int_equal(err.cls, PROV_TRANSIENT);
    gcp_token_source_free(ts);
    /* the metadata server: a GET with Metadata-Flavor, and only a reply that says it is one */
    struct gcp_credentials md = {.kind = GCP_CRED_METADATA};
    snprintf(md.token_uri, sizeof md.token_uri,
             "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token");
    snprintf(md.source, sizeof md.source, "metadata server");
    t.status = 200;
    t.error = NULL;
    ts = gcp_token_source_new(&md, http, NULL);
    assert_int_equal(gcp_token_header(ts, h, sizeof h, &err), -1);
    assert_non_null(strstr(err.message, "Metadata-Flavor"));
    t.metadata_flavor = true;
    assert_int_equal(gcp_token_header(ts, h, sizeof h, &err), 0);
    assert_string_equal(t.last_method, "GET");
    assert_non_null(strstr(h, "Bearer ya29.token-"));
    gcp_token_source_free(ts);
    core_http_client_free(http);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gcp_jwt_is_signed_rs256_with_googles_claims),
        cmocka_unit_test(test_gcp_credentials_files_are_checked),
        cmocka_unit_test(test_gcp_credentials_are_found_where_google_looks),
        cmocka_unit_test(test_gcp_token_is_cached_and_refreshed_early),
        cmocka_unit_test(test_gcp_token_is_fetched_once_for_many_threads),
        cmocka_unit_test(test_gcp_token_errors_say_why_without_secrets),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
