/*
 * The identity side of cloudsim's Azure dialect: Entra ID's token endpoint (the client
 * credentials grant against the world's service principals, AADSTS-style refusals), its
 * OpenID metadata (what MSAL-based SDKs read first), bearer tokens (JWTs signed HS256 with a
 * key drawn from the world, checked on every ARM call), and the signatures of the
 * boot-diagnostics links that stand in for storage SAS URLs. Replies in ARM's shapes too.
 */
#include "modules/cloudsim/sim_arm.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/base64.h"

/* ---- replies ---- */

void sim_arm_request_id(struct sim_world *w, struct sim_reply *r)
{
    uint64_t a = sim_rand(w), b = sim_rand(w);
    snprintf(r->request_id, sizeof r->request_id,
             "%08" PRIx64 "-%04" PRIx64 "-4%03" PRIx64 "-a%03" PRIx64 "-%012" PRIx64, a >> 32,
             (a >> 16) & 0xffff, a & 0xfff, b >> 52, (uint64_t)(b & 0xffffffffffffull));
}

void sim_arm_json(struct sim_world *w, struct sim_reply *r, int status, json_t *j)
{
    free(r->body);
    r->body = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    r->len = r->body ? strlen(r->body) : 0;
    r->status = r->body ? status : 500;
    r->content_type = "application/json; charset=utf-8";
    sim_arm_request_id(w, r);
}

void sim_arm_error(struct sim_world *w, struct sim_reply *r, int status, const char *code,
                   const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sim_arm_json(w, r, status, json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg));
}

void sim_arm_header(struct sim_reply *r, const char *name, const char *fmt, ...)
{
    if (r->nheaders >= sizeof r->headers / sizeof *r->headers)
        return;
    struct sim_reply_header *h = &r->headers[r->nheaders++];
    snprintf(h->name, sizeof h->name, "%s", name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->value, sizeof h->value, fmt, ap);
    va_end(ap);
}

void sim_arm_time(double t, char out[64])
{
    time_t s = (time_t)t;
    struct tm tm;
    gmtime_r(&s, &tm);
    long frac = (long)((t - (double)s) * 1e7);
    if (frac < 0 || frac > 9999999)
        frac = 0;
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%07ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

void sim_arm_base(const struct sim_query *q, char out[300])
{
    const char *host = sim_query_header(q, "Host");
    const char *proto = sim_query_header(q, "X-Forwarded-Proto");
    bool plain = host && *host &&
                 strspn(host, "abcdefghijklmnopqrstuvwxyz"
                              "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") == strlen(host);
    /* behind a TLS-terminating proxy (the SDKs insist on https), links name the proxy's scheme */
    snprintf(out, 300, "%s://%.250s", proto && !strcasecmp(proto, "https") ? "https" : "http",
             plain ? host : "127.0.0.1");
}

/* Entra ID's error shape: {"error", "error_description": "AADSTSn: ...\r\nTrace ID: ...",
 * "error_codes": [n], "timestamp", "trace_id", "correlation_id", "error_uri"}. */
static void aad_error(struct sim_world *w, struct sim_reply *r, double now, int status,
                      const char *error, int aadsts, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static void aad_error(struct sim_world *w, struct sim_reply *r, double now, int status,
                      const char *error, int aadsts, const char *fmt, ...)
{
    char msg[768], desc[1100], t[64], uri[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sim_arm_request_id(w, r);
    char trace[40];
    snprintf(trace, sizeof trace, "%s", r->request_id);
    sim_arm_time(now, t);
    snprintf(desc, sizeof desc,
             "AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", aadsts, msg,
             trace, trace, t);
    snprintf(uri, sizeof uri, "https://login.microsoftonline.com/error?code=%d", aadsts);
    sim_arm_json(w, r, status,
                 json_pack("{s:s, s:s, s:[i], s:s, s:s, s:s, s:s}", "error", error,
                           "error_description", desc, "error_codes", aadsts, "timestamp", t,
                           "trace_id", trace, "correlation_id", trace, "error_uri", uri));
    snprintf(r->request_id, sizeof r->request_id, "%s", trace);
}

/* ---- keys and tokens ---- */

/* The world's signing key: SHA-256 of a label and the world's secret (seeded, persisted). */
static void world_key(const struct sim_world *w, const char *label, unsigned char key[32])
{
    char buf[128];
    int n = snprintf(buf, sizeof buf, "gpuform-cloudsim/%s/%016" PRIx64, label, w->page_secret);
    SHA256((const unsigned char *)buf, (size_t)n, key);
}

static void hmac(const struct sim_world *w, const char *label, const void *data, size_t len,
                 unsigned char mac[32])
{
    unsigned char key[32];
    unsigned int maclen = 32;
    world_key(w, label, key);
    HMAC(EVP_sha256(), key, sizeof key, data, len, mac, &maclen);
    OPENSSL_cleanse(key, sizeof key);
}

static char *make_token(const struct sim_world *w, const char *tenant, const char *client,
                        const char *audience, double now)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char iss[200];
    snprintf(iss, sizeof iss, "https://sts.windows.net/%s/", tenant);
    json_t *claims = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "aud",
                               audience, "iss", iss, "iat", (json_int_t)now, "nbf", (json_int_t)now,
                               "exp", (json_int_t)now + SIM_ARM_TOKEN_LIFE, "appid", client, "oid",
                               client, "sub", client, "tid", tenant, "idtyp", "app", "ver", "1.0");
    char *payload = claims ? json_dumps(claims, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(claims);
    char *h = core_base64url(header, strlen(header)),
         *p = payload ? core_base64url(payload, strlen(payload)) : NULL;
    free(payload);
    char *signing = NULL, *token = NULL;
    if (h && p && asprintf(&signing, "%s.%s", h, p) > 0) {
        unsigned char mac[32];
        hmac(w, "arm-token", signing, strlen(signing), mac);
        char *sig = core_base64url(mac, sizeof mac);
        if (sig && asprintf(&token, "%s.%s", signing, sig) < 0)
            token = NULL;
        free(sig);
    }
    free(h);
    free(p);
    free(signing);
    return token;
}

static const struct sim_azure_principal *principal(const struct sim_world *w, const char *tenant,
                                                   const char *client)
{
    for (size_t i = 0; i < w->conf.nazure_principals; i++) {
        const struct sim_azure_principal *p = &w->conf.azure_principals[i];
        if (!strcasecmp(p->tenant_id, tenant) && (!client || !strcasecmp(p->client_id, client)))
            return p;
    }
    return NULL;
}

/* "11/21/2026 8:56:47 PM", as ARM words times in its token errors. */
static void us_time(double t, char out[64])
{
    time_t s = (time_t)t;
    struct tm tm;
    gmtime_r(&s, &tm);
    int h = tm.tm_hour % 12;
    snprintf(out, 64, "%d/%d/%04d %d:%02d:%02d %s", tm.tm_mon + 1, tm.tm_mday, tm.tm_year + 1900,
             h ? h : 12, tm.tm_min, tm.tm_sec, tm.tm_hour < 12 ? "AM" : "PM");
}

int sim_arm_check_bearer(struct sim_world *w, const struct sim_query *q, double now,
                         struct sim_reply *r)
{
    const char *auth = sim_query_header(q, "Authorization");
    if (!auth || !*auth) {
        sim_arm_header(r, "WWW-Authenticate",
                       "Bearer authorization_uri=\"https://login.windows.net/\", "
                       "error=\"invalid_token\", error_description=\"The authentication "
                       "failed because of missing 'Authorization' header.\"");
        sim_arm_error(w, r, 401, "AuthenticationFailed",
                      "Authentication failed. The 'Authorization' header is missing.");
        return -1;
    }
    if (strncasecmp(auth, "Bearer ", 7) != 0) {
        sim_arm_error(w, r, 401, "AuthenticationFailed",
                      "Authentication failed. The 'Authorization' header is provided in an invalid "
                      "format.");
        return -1;
    }
    const char *tok = auth + 7, *d1 = strchr(tok, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    char *payload = NULL;
    json_t *claims = NULL;
    bool good = false;
    if (d1 && d2 && !strchr(d2 + 1, '.')) {
        unsigned char mac[32];
        hmac(w, "arm-token", tok, (size_t)(d2 - tok), mac);
        char *sig = core_base64url(mac, sizeof mac);
        good = sig && strlen(sig) == strlen(d2 + 1) && CRYPTO_memcmp(sig, d2 + 1, strlen(sig)) == 0;
        free(sig);
        payload = good ? core_base64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), 4096, NULL) : NULL;
        claims = payload ? json_loads(payload, 0, NULL) : NULL;
        free(payload);
    }
    const char *tid = json_string_value(json_object_get(claims, "tid"));
    const char *app = json_string_value(json_object_get(claims, "appid"));
    json_int_t exp = json_integer_value(json_object_get(claims, "exp"));
    int rc = -1;
    if (!good || !tid || !app) {
        sim_arm_error(w, r, 401, "InvalidAuthenticationToken", "The access token is invalid.");
    } else if ((double)exp <= now) {
        char e[64], n[64];
        us_time((double)exp, e);
        us_time(now, n);
        sim_arm_error(w, r, 401, "ExpiredAuthenticationToken",
                      "The access token expiry UTC time '%s' is earlier than current UTC time "
                      "'%s'.",
                      e, n);
    } else if (!principal(w, tid, app)) {
        sim_arm_error(w, r, 401, "InvalidAuthenticationTokenTenant",
                      "The access token is from the wrong issuer 'https://sts.windows.net/%s/'.",
                      tid);
    } else {
        rc = 0;
    }
    json_decref(claims);
    return rc;
}

/* ---- the token endpoint and the OpenID metadata ---- */

/* Whether `scope` is RESOURCE/.default for ARM: the public cloud's resource or this
 * cloudsim as the client reached it. */
static bool arm_scope(const struct sim_query *q, const char *scope, char *audience, size_t n)
{
    size_t len = strlen(scope);
    if (len < 10 || strcmp(scope + len - 9, "/.default"))
        return false;
    char base[300];
    sim_arm_base(q, base);
    const char *ok[] = {"https://management.azure.com", "https://management.core.windows.net",
                        base};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        size_t k = strlen(ok[i]);
        if (!strncasecmp(scope, ok[i], k) &&
            (len - 9 == k || (len - 9 == k + 1 && scope[k] == '/'))) {
            snprintf(audience, n, "%.*s", (int)(len - 9), scope);
            return true;
        }
    }
    return false;
}

static void token_endpoint(struct sim_world *w, struct sim_query *q, const char *tenant, double now,
                           struct sim_reply *r)
{
    if (strcmp(q->method, "POST"))
        return aad_error(w, r, now, 400, "invalid_request", 900561,
                         "The endpoint only accepts POST requests. Received a %s request.",
                         q->method);
    if (sim_params_parse(q->body, q->body_len, &q->p, &q->n, SIM_MAX_PARAMS) < 0)
        return aad_error(w, r, now, 400, "invalid_request", 900144,
                         "The request body must be application/x-www-form-urlencoded.");
    if (!principal(w, tenant, NULL))
        return aad_error(w, r, now, 400, "invalid_request", 90002,
                         "Tenant '%s' not found. Check to make sure you have the correct tenant "
                         "ID and are signing into the correct cloud.",
                         tenant);
    static const char *const needed[] = {"grant_type", "client_id", "scope"};
    for (size_t i = 0; i < sizeof needed / sizeof *needed; i++)
        if (!sim_param_get(q->p, q->n, needed[i]))
            return aad_error(w, r, now, 400, "invalid_request", 900144,
                             "The request body must contain the following parameter: '%s'.",
                             needed[i]);
    const char *grant = sim_param_get(q->p, q->n, "grant_type");
    const char *client = sim_param_get(q->p, q->n, "client_id");
    const char *secret = sim_param_get(q->p, q->n, "client_secret");
    const char *scope = sim_param_get(q->p, q->n, "scope");
    if (strcmp(grant, "client_credentials"))
        return aad_error(w, r, now, 400, "unsupported_grant_type", 70003,
                         "The app requested an unsupported grant type '%.64s'.", grant);
    const struct sim_azure_principal *p = principal(w, tenant, client);
    if (!p)
        return aad_error(w, r, now, 400, "unauthorized_client", 700016,
                         "Application with identifier '%.64s' was not found in the directory "
                         "'%s'. This can happen if the application has not been installed by the "
                         "administrator of the tenant.",
                         client, tenant);
    if (!secret)
        return aad_error(w, r, now, 401, "invalid_client", 7000216,
                         "'client_assertion', 'client_secret' or 'request' is required for the "
                         "'client_credentials' grant type.");
    size_t sl = strlen(secret), pl = strlen(p->client_secret);
    if (sl != pl || CRYPTO_memcmp(secret, p->client_secret, pl) != 0)
        return aad_error(w, r, now, 401, "invalid_client", 7000215,
                         "Invalid client secret provided. Ensure the secret being sent in the "
                         "request is the client secret value, not the client secret ID, for a "
                         "secret added to app '%s'.",
                         p->client_id);
    char audience[300];
    if (!arm_scope(q, scope, audience, sizeof audience))
        return aad_error(w, r, now, 400, "invalid_scope", 70011,
                         "The provided value for the input parameter 'scope' is not valid. The "
                         "scope %.200s is not valid.",
                         scope);
    char *tok = make_token(w, p->tenant_id, p->client_id, audience, now);
    if (!tok)
        return aad_error(w, r, now, 500, "server_error", 50000, "out of memory");
    sim_arm_json(w, r, 200,
                 json_pack("{s:s, s:i, s:i, s:s}", "token_type", "Bearer", "expires_in",
                           SIM_ARM_TOKEN_LIFE, "ext_expires_in", SIM_ARM_TOKEN_LIFE, "access_token",
                           tok));
    sim_arm_header(r, "Cache-Control", "no-store, no-cache");
    free(tok);
}

static void openid_config(struct sim_world *w, const struct sim_query *q, const char *tenant,
                          double now, struct sim_reply *r)
{
    if (!principal(w, tenant, NULL))
        return aad_error(w, r, now, 400, "invalid_tenant", 90002,
                         "Tenant '%s' not found. Check to make sure you have the correct tenant "
                         "ID and are signing into the correct cloud.",
                         tenant);
    char base[300], t[400], a[400], e[400], k[400], i[400], d[400];
    sim_arm_base(q, base);
    snprintf(t, sizeof t, "%s/%s/oauth2/v2.0/token", base, tenant);
    snprintf(a, sizeof a, "%s/%s/oauth2/v2.0/authorize", base, tenant);
    snprintf(e, sizeof e, "%s/%s/oauth2/v2.0/logout", base, tenant);
    snprintf(d, sizeof d, "%s/%s/oauth2/v2.0/devicecode", base, tenant);
    snprintf(k, sizeof k, "%s/%s/discovery/v2.0/keys", base, tenant);
    snprintf(i, sizeof i, "%s/%s/v2.0", base, tenant);
    sim_arm_json(
        w, r, 200,
        json_pack(
            "{s:s, s:[s, s], s:s, s:[s], s:[s], s:[s], s:s, s:b, s:s, s:s, s:s, s:s, "
            "s:s, s:s, s:s}",
            "token_endpoint", t, "token_endpoint_auth_methods_supported", "client_secret_post",
            "client_secret_basic", "jwks_uri", k, "response_modes_supported", "query",
            "subject_types_supported", "pairwise", "id_token_signing_alg_values_supported", "RS256",
            "issuer", i, "request_uri_parameter_supported", 0, "authorization_endpoint", a,
            "device_authorization_endpoint", d, "end_session_endpoint", e, "tenant_region_scope",
            "NA", "cloud_instance_name", "microsoftonline.com", "cloud_graph_host_name",
            "graph.windows.net", "msgraph_host", "graph.microsoft.com"));
}

void sim_arm_identity(struct sim_world *w, struct sim_query *q, double now, struct sim_reply *r)
{
    /* /TENANT/oauth2/v2.0/token or /TENANT/v2.0/.well-known/openid-configuration */
    const char *path = q->path + 1, *slash = strchr(path, '/');
    char tenant[130];
    snprintf(tenant, sizeof tenant, "%.*s", slash ? (int)(slash - path) : 0, path);
    if (slash && !strcmp(slash, "/oauth2/v2.0/token"))
        return token_endpoint(w, q, tenant, now, r);
    if (slash && !strcmp(slash, "/v2.0/.well-known/openid-configuration") &&
        !strcmp(q->method, "GET"))
        return openid_config(w, q, tenant, now, r);
    aad_error(w, r, now, 404, "invalid_request", 900561,
              "cloudsim serves %s only at "
              "/TENANT/oauth2/v2.0/token",
              q->path);
}

/* ---- signed links ---- */

void sim_arm_sas(const struct sim_world *w, const char *path, const char *expiry, char sig[65])
{
    char buf[1200];
    int n = snprintf(buf, sizeof buf, "%s\n%s", path, expiry);
    unsigned char mac[32];
    hmac(w, "bootdiagnostics", buf, (size_t)(n < (int)sizeof buf ? n : (int)sizeof buf - 1), mac);
    for (int i = 0; i < 32; i++)
        snprintf(sig + 2 * i, 3, "%02x", mac[i]);
}

int sim_arm_sas_ok(const struct sim_world *w, const char *path, const char *expiry, const char *sig)
{
    char want[65];
    sim_arm_sas(w, path, expiry, want);
    return sig && strlen(sig) == 64 && CRYPTO_memcmp(want, sig, 64) == 0 ? 0 : -1;
}
