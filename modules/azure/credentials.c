/*
 * Entra ID tokens for ARM: the client credentials grant (OAuth 2.0, v2.0 endpoint) or the
 * managed identity endpoint of IMDS, through core/http, with one cached token per
 * credential behind a mutex. Replies are read with jansson; the secret and every token are
 * registered with the HTTP client's redaction and wiped when dropped.
 */
#include "modules/azure/credentials.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/http.h"

#define DEFAULT_AUTHORITY "https://login.microsoftonline.com"
#define DEFAULT_IMDS      "http://169.254.169.254"
#define IMDS_API_VERSION  "2018-02-01"
#define REFRESH_EARLY_MS  (300 * 1000ull) /* fetch again five minutes before expiry */

struct azure_credential {
    struct core_http_client *http; /* borrowed */
    bool managed;                  /* IMDS instead of the client credentials grant */
    char tenant[128];
    char client_id[128]; /* "" for a system-assigned managed identity */
    char *secret;        /* wiped */
    char authority[512]; /* no trailing slash */
    char imds[512];
    char scope[512];
    char source[800];
    pthread_mutex_t mu; /* guards what follows */
    char *token;        /* cached; wiped */
    uint64_t refresh_at_ms;
    unsigned fetches;
};

static const char *real_getenv(const char *name, void *ctx)
{
    (void)ctx;
    return getenv(name);
}

static void wipe_free(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

void azure_token_free(char *token)
{
    wipe_free(token);
}

/* An http:// URL is allowed only to loopback: a secret or a token never crosses a network
 * in clear. */
static bool url_allowed(const char *url)
{
    if (strncmp(url, "https://", 8) == 0)
        return true;
    static const char *const loopback[] = {"http://127.0.0.1", "http://localhost", "http://[::1]"};
    for (size_t i = 0; i < sizeof loopback / sizeof *loopback; i++) {
        size_t n = strlen(loopback[i]);
        if (strncmp(url, loopback[i], n) == 0 && (url[n] == '\0' || url[n] == ':' || url[n] == '/'))
            return true;
    }
    return false;
}

static void copy_url(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src);
    size_t len = strlen(dst);
    while (len > 0 && dst[len - 1] == '/')
        dst[--len] = '\0';
}

/* A tenant or client id goes into a URL path or a form: letters, digits, '.', '-', '_'. */
static bool plain_id(const char *s)
{
    return *s && strlen(s) < 128 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") ==
               strlen(s);
}

static const char *env(azure_getenv_fn ge, void *ctx, const char *name)
{
    const char *v = ge(name, ctx);
    return v && *v ? v : NULL;
}

struct azure_credential *azure_credential_new(struct core_http_client *http, const char *scope,
                                              azure_getenv_fn ge, void *ctx, char *why,
                                              size_t whylen)
{
    if (!ge)
        ge = real_getenv;
    const char *tenant = env(ge, ctx, "AZURE_TENANT_ID");
    const char *client = env(ge, ctx, "AZURE_CLIENT_ID");
    const char *secret = env(ge, ctx, "AZURE_CLIENT_SECRET");
    const char *authority = env(ge, ctx, "AZURE_AUTHORITY_HOST");
    const char *imds = env(ge, ctx, "AZURE_POD_IDENTITY_AUTHORITY_HOST");
    bool managed = !tenant && !secret;
    if (!managed && (!tenant || !client || !secret)) {
        int missing = !tenant + !client + !secret;
        snprintf(why, whylen,
                 "the environment names a service principal only in part: %s%s%s%s not set; set "
                 "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, or unset "
                 "AZURE_TENANT_ID and AZURE_CLIENT_SECRET to use the machine's managed identity",
                 !tenant ? "AZURE_TENANT_ID " : "", !client ? "AZURE_CLIENT_ID " : "",
                 !secret ? "AZURE_CLIENT_SECRET " : "", missing == 1 ? "is" : "are");
        return NULL;
    }
    if ((tenant && !plain_id(tenant)) || (client && !plain_id(client))) {
        snprintf(why, whylen,
                 "AZURE_TENANT_ID and AZURE_CLIENT_ID take an id or a domain (letters, digits, "
                 "'.', '-', '_')");
        return NULL;
    }
    if (!authority)
        authority = DEFAULT_AUTHORITY;
    if (!imds)
        imds = DEFAULT_IMDS;
    if (!managed && !url_allowed(authority)) {
        snprintf(why, whylen,
                 "AZURE_AUTHORITY_HOST '%.200s' is not https:// (plain http is allowed only to "
                 "loopback, for cloudsim)",
                 authority);
        return NULL;
    }
    struct azure_credential *c = calloc(1, sizeof *c);
    if (!c || (secret && !(c->secret = strdup(secret)))) {
        free(c);
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    c->http = http;
    c->managed = managed;
    snprintf(c->tenant, sizeof c->tenant, "%s", tenant ? tenant : "");
    snprintf(c->client_id, sizeof c->client_id, "%s", client ? client : "");
    copy_url(c->authority, sizeof c->authority, authority);
    copy_url(c->imds, sizeof c->imds, imds);
    snprintf(c->scope, sizeof c->scope, "%s", scope);
    if (managed)
        snprintf(c->source, sizeof c->source, "managed identity (%s%s%s)", c->imds,
                 *c->client_id ? ", client " : "", c->client_id);
    else
        snprintf(c->source, sizeof c->source, "environment (AZURE_CLIENT_ID %s, tenant %s)",
                 c->client_id, c->tenant);
    pthread_mutex_init(&c->mu, NULL);
    if (c->secret)
        core_http_add_secret(http, c->secret);
    return c;
}

void azure_credential_free(struct azure_credential *c)
{
    if (!c)
        return;
    wipe_free(c->secret);
    wipe_free(c->token);
    pthread_mutex_destroy(&c->mu);
    OPENSSL_cleanse(c, sizeof *c);
    free(c);
}

const char *azure_credential_source(const struct azure_credential *c)
{
    return c->source;
}

unsigned azure_credential_fetches(struct azure_credential *c)
{
    pthread_mutex_lock(&c->mu);
    unsigned n = c->fetches;
    pthread_mutex_unlock(&c->mu);
    return n;
}

void azure_credential_invalidate(struct azure_credential *c)
{
    pthread_mutex_lock(&c->mu);
    wipe_free(c->token);
    c->token = NULL;
    pthread_mutex_unlock(&c->mu);
}

/* Appends "&name=value" (no '&' first), the value percent-encoded. -1 when out of memory. */
static int form_add(struct core_buf *b, const char *name, const char *value)
{
    char *enc = curl_easy_escape(NULL, value, 0);
    if (!enc)
        return -1;
    int rc = core_buf_addf(b, "%s%s=%s", b->len ? "&" : "", name, enc);
    OPENSSL_cleanse(enc, strlen(enc));
    curl_free(enc);
    return rc;
}

void azure_redact(struct core_http_client *http, struct prov_error *err)
{
    struct core_buf b;
    core_buf_init(&b, 2 * sizeof err->message);
    if (core_http_redact(http, err->message, &b) == 0)
        snprintf(err->message, sizeof err->message, "%s", core_buf_str(&b));
    else
        snprintf(err->message, sizeof err->message, "(message withheld: too long to redact)");
    core_buf_release(&b);
}

/* The first line of an AAD error description: "AADSTS7000215: Invalid client secret ..." */
static void first_line(const char *s, char *out, size_t n)
{
    size_t len = strcspn(s ? s : "", "\r\n");
    snprintf(out, n, "%.*s", (int)len, s ? s : "");
}

/* The reply's token and lifetime (expires_in: a number, or a string as IMDS sends it). */
static int read_token(const char *body, size_t len, char **token, long *expires_in)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    const char *tok = json_string_value(json_object_get(j, "access_token"));
    json_t *exp = json_object_get(j, "expires_in");
    long e = json_is_integer(exp)  ? (long)json_integer_value(exp)
             : json_is_string(exp) ? strtol(json_string_value(exp), NULL, 10)
                                   : 0;
    int rc = -1;
    if (tok && *tok && e > 0 && strspn(tok, " \r\n\t") == 0 && !strpbrk(tok, "\r\n")) {
        *token = strdup(tok);
        *expires_in = e;
        rc = *token ? 0 : -1;
    }
    if (tok)
        OPENSSL_cleanse((char *)(uintptr_t)tok, strlen(tok));
    json_decref(j);
    return rc;
}

/* Fills err from a token service's refusal: AAD's {"error", "error_description"}. */
static void token_refused(struct azure_credential *c, const struct core_http_response *resp,
                          const struct core_http_error *he, const char *where,
                          struct prov_error *err)
{
    json_t *j = resp->body.len ? json_loadb(resp->body.data, resp->body.len, 0, NULL) : NULL;
    const char *error = json_string_value(json_object_get(j, "error"));
    char desc[400];
    first_line(json_string_value(json_object_get(j, "error_description")), desc, sizeof desc);
    enum prov_error_class cls;
    if (he->cls != CORE_HTTP_ERR_STATUS)
        cls = he->cls == CORE_HTTP_ERR_TLS ? PROV_INVALID : PROV_TRANSIENT;
    else if (he->status == 429)
        cls = PROV_THROTTLED;
    else if (he->status >= 500 || (error && !strcmp(error, "temporarily_unavailable")))
        cls = PROV_TRANSIENT;
    else
        cls = PROV_AUTH;
    if (c->managed && he->cls != CORE_HTTP_ERR_STATUS)
        prov_error_set(
            err, PROV_AUTH,
            "azure: no credentials: AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET "
            "are not set and no managed identity answered at %s (%s); set the three variables "
            "(docs/providers.md)",
            c->imds, he->message);
    else if (error)
        prov_error_set(err, cls, "azure: token from %s refused for %s: %s%s%s", where, c->source,
                       error, *desc ? ": " : "", desc);
    else
        prov_error_set(err, cls, "azure: token from %s for %s: %s", where, c->source, he->message);
    if (error) {
        /* the AADSTS code when the description starts with one, else the OAuth error */
        size_t n = strncmp(desc, "AADSTS", 6) == 0 ? strcspn(desc, ": ") : 0;
        snprintf(err->code, sizeof err->code, "%.*s", (int)(n ? n : strlen(error)),
                 n ? desc : error);
    }
    err->http_status = he->status;
    snprintf(err->request_id, sizeof err->request_id, "%s", resp->request_id);
    azure_redact(c->http, err);
    json_decref(j);
}

/* Fetches a token (the caller holds c->mu). */
static int fetch(struct azure_credential *c, struct prov_error *err)
{
    char url[1400], where[700];
    struct core_buf body;
    core_buf_init(&body, 16384);
    int brc = 0;
    const char *headers[4] = {NULL};
    struct core_http_request req = {.url = url, .headers = headers, .idempotent = true};
    if (c->managed) {
        char resource[520];
        snprintf(resource, sizeof resource, "%s", c->scope);
        size_t n = strlen(resource);
        if (n > 8 && strcmp(resource + n - 8, ".default") == 0)
            resource[n - 8] = '\0'; /* the v1 "resource" form of the scope */
        brc |= form_add(&body, "api-version", IMDS_API_VERSION);
        brc |= form_add(&body, "resource", resource);
        if (*c->client_id)
            brc |= form_add(&body, "client_id", c->client_id);
        snprintf(url, sizeof url, "%s/metadata/identity/oauth2/token?%s", c->imds,
                 core_buf_str(&body));
        snprintf(where, sizeof where, "%s", c->imds);
        headers[0] = "Metadata: true";
        headers[1] = "Accept: application/json";
        req.method = "GET";
        req.connect_timeout_ms = 1000; /* off Azure nothing answers: fail fast */
        req.timeout_ms = 5000;
        req.max_attempts = 2;
    } else {
        brc |= form_add(&body, "grant_type", "client_credentials");
        brc |= form_add(&body, "client_id", c->client_id);
        brc |= form_add(&body, "client_secret", c->secret);
        brc |= form_add(&body, "scope", c->scope);
        snprintf(url, sizeof url, "%s/%s/oauth2/v2.0/token", c->authority, c->tenant);
        snprintf(where, sizeof where, "%s/%s", c->authority, c->tenant);
        headers[0] = "Content-Type: application/x-www-form-urlencoded";
        headers[1] = "Accept: application/json";
        req.method = "POST";
        req.body = body.data;
        req.body_len = body.len;
    }
    if (brc != 0) {
        OPENSSL_cleanse(body.data, body.len);
        core_buf_release(&body);
        prov_error_set(err, PROV_TRANSIENT, "azure: out of memory");
        return -1;
    }
    struct core_http_response resp;
    struct core_http_error he;
    uint64_t asked_at = core_http_now_ms(c->http);
    int rc = core_http_do(c->http, &req, &resp, &he);
    OPENSSL_cleanse(body.data, body.len);
    core_buf_release(&body);
    char *token = NULL;
    long expires_in = 0;
    if (rc != 0) {
        token_refused(c, &resp, &he, where, err);
    } else if (read_token(resp.body.data, resp.body.len, &token, &expires_in) != 0) {
        prov_error_set(
            err, PROV_TRANSIENT,
            "azure: the token service at %s sent a reply gpuform can't read (no access_token "
            "and expires_in)",
            where);
        snprintf(err->request_id, sizeof err->request_id, "%s", resp.request_id);
        rc = -1;
    }
    if (resp.body.data)
        OPENSSL_cleanse(resp.body.data, resp.body.len);
    core_http_response_release(&resp);
    if (rc != 0)
        return -1;
    core_http_add_secret(c->http, token);
    wipe_free(c->token);
    c->token = token;
    uint64_t life = (uint64_t)expires_in * 1000;
    uint64_t early = life / 2 < REFRESH_EARLY_MS ? life / 2 : REFRESH_EARLY_MS;
    c->refresh_at_ms = asked_at + life - early;
    c->fetches++;
    return 0;
}

int azure_credential_token(struct azure_credential *c, char **token, struct prov_error *err)
{
    *token = NULL;
    pthread_mutex_lock(&c->mu);
    int rc = 0;
    if (!c->token || core_http_now_ms(c->http) >= c->refresh_at_ms)
        rc = fetch(c, err);
    if (rc == 0 && !(*token = strdup(c->token))) {
        prov_error_set(err, PROV_TRANSIENT, "azure: out of memory");
        rc = -1;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}
