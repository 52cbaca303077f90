/*
 * GCP authentication: Application Default Credentials (key file, gcloud's ADC file, the
 * metadata server), the service account's RS256-signed JWT (OpenSSL's EVP_DigestSign), the
 * OAuth2 token exchange over core/http and a token cache that refreshes before expiry.
 */
#include "modules/gcp/gcp_auth.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base64.h"
#include "core/buf.h"
#include "core/http.h"
#include "modules/gcp/gcp_int.h"

#define MAX_KEY_FILE   ((size_t)64 << 10)
#define TOKEN_LIFETIME 3600 /* what the JWT asks for; Google's maximum */
#define EARLY_REFRESH  300  /* refresh this long before expiry (or at half-life) */

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

void gcp_credentials_release(struct gcp_credentials *c)
{
    if (!c)
        return;
    EVP_PKEY_free((EVP_PKEY *)c->pkey);
    free(c->client_id);
    wipe_free(c->client_secret);
    wipe_free(c->refresh_token);
    OPENSSL_cleanse(c, sizeof *c);
    memset(c, 0, sizeof *c);
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && *s ? s : NULL;
}

/* Copies `key` of `o` into dst[n]; false (with why) when missing or too long. */
static bool field(json_t *o, const char *key, char *dst, size_t n, const char *source, char *why,
                  size_t whylen)
{
    const char *s = str(o, key);
    if (!s || strlen(s) >= n) {
        gcp_why(why, whylen, "'%s' has %s '%s'", source, s ? "an overlong" : "no", key);
        return false;
    }
    snprintf(dst, n, "%s", s);
    return true;
}

static int parse_service_account(json_t *root, const char *source, struct gcp_credentials *out,
                                 char *why, size_t whylen)
{
    out->kind = GCP_CRED_SERVICE_ACCOUNT;
    if (!field(root, "client_email", out->client_email, sizeof out->client_email, source, why,
               whylen))
        return -1;
    const char *pem = str(root, "private_key");
    if (!pem) {
        gcp_why(why, whylen, "'%s' has no 'private_key'", source);
        return -1;
    }
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!k || EVP_PKEY_base_id(k) != EVP_PKEY_RSA) {
        EVP_PKEY_free(k);
        gcp_why(why, whylen, "the 'private_key' of '%s' is not a PEM RSA private key", source);
        return -1;
    }
    out->pkey = (struct evp_pkey_st *)k;
    const char *kid = str(root, "private_key_id");
    snprintf(out->private_key_id, sizeof out->private_key_id, "%s", kid ? kid : "");
    const char *uri = str(root, "token_uri");
    if (uri && strncmp(uri, "https://", 8) && strncmp(uri, "http://", 7)) {
        gcp_why(why, whylen, "the 'token_uri' of '%s' is not an http(s) URL", source);
        return -1;
    }
    snprintf(out->token_uri, sizeof out->token_uri, "%s", uri ? uri : GCP_TOKEN_URI);
    const char *project = str(root, "project_id");
    snprintf(out->project_id, sizeof out->project_id, "%s", project ? project : "");
    return 0;
}

static int parse_authorized_user(json_t *root, const char *source, struct gcp_credentials *out,
                                 char *why, size_t whylen)
{
    out->kind = GCP_CRED_AUTHORIZED_USER;
    const char *id = str(root, "client_id"), *secret = str(root, "client_secret");
    const char *refresh = str(root, "refresh_token");
    if (!id || !secret || !refresh) {
        gcp_why(why, whylen,
                "'%s' (authorized_user) needs client_id, client_secret and refresh_token", source);
        return -1;
    }
    out->client_id = strdup(id);
    out->client_secret = strdup(secret);
    out->refresh_token = strdup(refresh);
    if (!out->client_id || !out->client_secret || !out->refresh_token) {
        gcp_why(why, whylen, "out of memory reading '%s'", source);
        return -1;
    }
    const char *uri = str(root, "token_uri");
    snprintf(out->token_uri, sizeof out->token_uri, "%s", uri ? uri : GCP_TOKEN_URI);
    const char *project = str(root, "quota_project_id");
    snprintf(out->project_id, sizeof out->project_id, "%s", project ? project : "");
    return 0;
}

int gcp_credentials_parse(const char *json, size_t len, const char *source,
                          struct gcp_credentials *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    snprintf(out->source, sizeof out->source, "%s", source);
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(root)) {
        /* je.text may quote the file: only its position goes out */
        gcp_why(why, whylen, "'%s' is not a JSON credentials file (line %d, column %d)", source,
                root ? 1 : je.line, root ? 1 : je.column);
        json_decref(root);
        return -1;
    }
    const char *type = str(root, "type");
    int rc;
    if (type && !strcmp(type, "service_account")) {
        rc = parse_service_account(root, source, out, why, whylen);
    } else if (type && !strcmp(type, "authorized_user")) {
        rc = parse_authorized_user(root, source, out, why, whylen);
    } else {
        gcp_why(why, whylen,
                "'%s' holds credentials of type '%.40s'; gpuform reads service_account and "
                "authorized_user files",
                source, type ? type : "(none)");
        rc = -1;
    }
    json_decref(root);
    if (rc != 0)
        gcp_credentials_release(out);
    else
        snprintf(out->source, sizeof out->source, "%s", source);
    return rc;
}

/* Reads and parses a credentials file. 1 found and good, 0 missing, -1 bad (why set). */
static int load_file(const char *path, struct gcp_credentials *out, char *why, size_t whylen)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        if (errno == ENOENT)
            return 0;
        gcp_why(why, whylen, "cannot read '%s': %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(MAX_KEY_FILE + 1);
    size_t n = buf ? fread(buf, 1, MAX_KEY_FILE + 1, fp) : 0;
    fclose(fp);
    if (!buf || n > MAX_KEY_FILE) {
        if (buf)
            OPENSSL_cleanse(buf, n);
        free(buf);
        gcp_why(why, whylen, "'%s' is %s", path,
                buf ? "larger than 64 KiB: not a credentials file" : "unreadable: out of memory");
        return -1;
    }
    int rc = gcp_credentials_parse(buf, n, path, out, why, whylen);
    OPENSSL_cleanse(buf, n);
    free(buf);
    return rc == 0 ? 1 : -1;
}

/* Whether this machine says it is a GCE VM (what Google's libraries check on Linux). */
static bool on_gce(const char *dmi_path)
{
    FILE *fp = fopen(dmi_path ? dmi_path : "/sys/class/dmi/id/product_name", "r");
    char line[128] = "";
    if (!fp)
        return false;
    bool yes = fgets(line, sizeof line, fp) && strstr(line, "Google");
    fclose(fp);
    return yes;
}

int gcp_credentials_find(gcp_getenv_fn getenv_fn, void *ctx, const char *dmi_path,
                         const char *key_file, struct gcp_credentials *out, char *why,
                         size_t whylen)
{
    if (!getenv_fn)
        getenv_fn = real_getenv;
    memset(out, 0, sizeof *out);
    const char *gac =
        key_file && *key_file ? key_file : getenv_fn("GOOGLE_APPLICATION_CREDENTIALS", ctx);
    if (gac && *gac) {
        int rc = load_file(gac, out, why, whylen);
        if (rc == 0)
            gcp_why(why, whylen, "%s names '%s', which does not exist",
                    gac == key_file ? "the stack's credentials_file"
                                    : "GOOGLE_APPLICATION_CREDENTIALS",
                    gac);
        return rc == 1 ? 0 : -1;
    }
    char adc[1024];
    const char *cfg = getenv_fn("CLOUDSDK_CONFIG", ctx), *home = getenv_fn("HOME", ctx);
    if (cfg && *cfg)
        snprintf(adc, sizeof adc, "%s/application_default_credentials.json", cfg);
    else
        snprintf(adc, sizeof adc, "%s/.config/gcloud/application_default_credentials.json",
                 home && *home ? home : "~");
    int rc = load_file(adc, out, why, whylen);
    if (rc != 0)
        return rc == 1 ? 0 : -1;
    const char *host = getenv_fn("GCE_METADATA_HOST", ctx);
    if ((host && *host) || on_gce(dmi_path)) {
        out->kind = GCP_CRED_METADATA;
        if (!host || !*host)
            host = "metadata.google.internal";
        snprintf(out->token_uri, sizeof out->token_uri,
                 "http://%s/computeMetadata/v1/instance/service-accounts/default/token", host);
        snprintf(out->source, sizeof out->source, "metadata server %s", host);
        return 0;
    }
    gcp_why(
        why, whylen,
        "no GCP credentials: GOOGLE_APPLICATION_CREDENTIALS is not set, '%s' does not exist "
        "and this is not a GCE VM (no metadata server); set GOOGLE_APPLICATION_CREDENTIALS to a "
        "service-account key file (IAM > Service accounts > Keys), or run 'gcloud auth "
        "application-default login'",
        adc);
    return -1;
}

/* ---- the JWT ---- */

char *gcp_base64url(const void *data, size_t len)
{
    return core_base64url(data, len);
}

static char *b64_json(json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    char *b = text ? gcp_base64url(text, strlen(text)) : NULL;
    free(text);
    return b;
}

char *gcp_jwt_sign(const struct gcp_credentials *c, const char *scope, const char *aud, int64_t now,
                   char *why, size_t whylen)
{
    if (c->kind != GCP_CRED_SERVICE_ACCOUNT || !c->pkey) {
        gcp_why(why, whylen, "only a service account signs JWTs");
        return NULL;
    }
    char *h = b64_json(
        json_pack("{s:s, s:s, s:s}", "alg", "RS256", "typ", "JWT", "kid", c->private_key_id));
    char *p = b64_json(json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", c->client_email, "scope",
                                 scope, "aud", aud, "iat", (json_int_t)now, "exp",
                                 (json_int_t)(now + TOKEN_LIFETIME)));
    struct core_buf b;
    core_buf_init(&b, 16384);
    unsigned char sig[1024];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = h && p && md && core_buf_addf(&b, "%s.%s", h, p) == 0 &&
              EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, (EVP_PKEY *)c->pkey) == 1 &&
              EVP_DigestSign(md, sig, &siglen, (const unsigned char *)b.data, b.len) == 1;
    EVP_MD_CTX_free(md);
    free(h);
    free(p);
    char *s = ok ? gcp_base64url(sig, siglen) : NULL;
    if (!s || core_buf_addf(&b, ".%s", s) != 0) {
        gcp_why(why, whylen, "could not sign the JWT for '%s' with its key (OpenSSL)",
                c->client_email);
        free(s);
        core_buf_release(&b);
        return NULL;
    }
    free(s);
    return core_buf_take(&b);
}

/* ---- the token source ---- */

struct gcp_token_source {
    pthread_mutex_t mu;
    struct gcp_credentials cred;
    struct core_http_client *http;
    char token_uri[512];
    char scope[256];
    int64_t (*now)(void *ctx);
    void *now_ctx;
    char *token; /* the cached access token; wiped */
    int64_t refresh_at;
    unsigned fetches;
};

static int64_t real_now(void *ctx)
{
    (void)ctx;
    return (int64_t)time(NULL);
}

struct gcp_token_source *gcp_token_source_new(struct gcp_credentials *cred,
                                              struct core_http_client *http,
                                              const struct gcp_token_options *o)
{
    struct gcp_token_source *ts = calloc(1, sizeof *ts);
    if (!ts) {
        gcp_credentials_release(cred);
        return NULL;
    }
    ts->cred = *cred;
    memset(cred, 0, sizeof *cred);
    ts->http = http;
    pthread_mutex_init(&ts->mu, NULL);
    snprintf(ts->scope, sizeof ts->scope, "%s", o && o->scope ? o->scope : GCP_SCOPE_COMPUTE);
    snprintf(ts->token_uri, sizeof ts->token_uri, "%s",
             o && o->token_uri && ts->cred.kind != GCP_CRED_METADATA ? o->token_uri
                                                                     : ts->cred.token_uri);
    ts->now = o && o->now ? o->now : real_now;
    ts->now_ctx = o ? o->now_ctx : NULL;
    return ts;
}

void gcp_token_source_free(struct gcp_token_source *ts)
{
    if (!ts)
        return;
    wipe_free(ts->token);
    gcp_credentials_release(&ts->cred);
    pthread_mutex_destroy(&ts->mu);
    free(ts);
}

const struct gcp_credentials *gcp_token_source_credentials(const struct gcp_token_source *ts)
{
    return &ts->cred;
}

unsigned gcp_token_fetches(const struct gcp_token_source *ts)
{
    return ts->fetches;
}

void gcp_token_invalidate(struct gcp_token_source *ts)
{
    pthread_mutex_lock(&ts->mu);
    wipe_free(ts->token);
    ts->token = NULL;
    pthread_mutex_unlock(&ts->mu);
}

/* prov_error_set with the HTTP status of the reply that failed. */
#define auth_fail(err, cls, status, ...)                                                           \
    (prov_error_set((err), (cls), __VA_ARGS__), (void)((err)->http_status = (status)))

/* The request body for the credentials' grant (wiped by the caller), or -1. */
static int grant_body(struct gcp_token_source *ts, struct core_buf *b, struct prov_error *err)
{
    if (ts->cred.kind == GCP_CRED_METADATA)
        return 0;
    if (ts->cred.kind == GCP_CRED_AUTHORIZED_USER) {
        core_buf_adds(b, "grant_type=refresh_token&client_id=");
        gcp_percent_encode(b, ts->cred.client_id);
        core_buf_adds(b, "&client_secret=");
        gcp_percent_encode(b, ts->cred.client_secret);
        core_buf_adds(b, "&refresh_token=");
        gcp_percent_encode(b, ts->cred.refresh_token);
        return 0;
    }
    char why[256];
    char *jwt =
        gcp_jwt_sign(&ts->cred, ts->scope, ts->token_uri, ts->now(ts->now_ctx), why, sizeof why);
    if (!jwt) {
        auth_fail(err, PROV_AUTH, 0, "gcp: %s (credentials from %s)", why, ts->cred.source);
        return -1;
    }
    core_buf_addf(b,
                  "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Ajwt-bearer&"
                  "assertion=%s",
                  jwt);
    OPENSSL_cleanse(jwt, strlen(jwt));
    free(jwt);
    return 0;
}

/* Reads a token reply; on an error reply, says why as the endpoint does. */
static int read_token(struct gcp_token_source *ts, const struct core_http_response *rs,
                      const struct core_http_error *he, int rc, struct prov_error *err)
{
    json_t *j = rs->body.len ? json_loadb(rs->body.data, rs->body.len, 0, NULL) : NULL;
    const char *tok = json_string_value(json_object_get(j, "access_token"));
    json_t *exp = json_object_get(j, "expires_in");
    if (rc == 0 && tok && *tok && json_is_integer(exp) && json_integer_value(exp) > 0) {
        int64_t life = (int64_t)json_integer_value(exp);
        int64_t early = life / 2 < EARLY_REFRESH ? life / 2 : EARLY_REFRESH;
        ts->token = strdup(tok);
        ts->refresh_at = ts->now(ts->now_ctx) + life - early;
        if (ts->token && ts->http)
            core_http_add_secret(ts->http, ts->token);
        json_decref(j);
        if (!ts->token)
            auth_fail(err, PROV_TRANSIENT, 0, "gcp: out of memory");
        return ts->token ? 0 : -1;
    }
    const char *code = json_string_value(json_object_get(j, "error"));
    const char *desc = json_string_value(json_object_get(j, "error_description"));
    long st = rc == 0 ? rs->status : he->status;
    if (rc == 0) { /* a 200 without a token: a garbled reply, worth another try */
        auth_fail(err, PROV_TRANSIENT, st,
                  "gcp: the token endpoint %s sent a reply gpuform can't read (no access_token "
                  "and expires_in)",
                  ts->token_uri);
    } else if (he->cls == CORE_HTTP_ERR_STATUS && st < 500 && code) {
        auth_fail(err, PROV_AUTH, st, "gcp: the token endpoint %s refused %s: %s%s%.300s%s",
                  ts->token_uri, ts->cred.source, code ? code : "no access_token in its reply",
                  desc ? " (" : "", desc ? desc : "", desc ? ")" : "");
        snprintf(err->code, sizeof err->code, "%s", code ? code : "");
    } else {
        auth_fail(err, he->cls == CORE_HTTP_ERR_STATUS && st < 500 ? PROV_AUTH : PROV_TRANSIENT, st,
                  "gcp: no token for %s: %s", ts->cred.source, he->message);
    }
    snprintf(err->request_id, sizeof err->request_id, "%s", rs->request_id);
    json_decref(j);
    return -1;
}

/* Fetches a token (the caller holds the lock). */
static int fetch(struct gcp_token_source *ts, struct prov_error *err)
{
    struct core_buf body;
    core_buf_init(&body, 32768);
    if (grant_body(ts, &body, err) != 0) {
        core_buf_release(&body);
        return -1;
    }
    bool md = ts->cred.kind == GCP_CRED_METADATA;
    const char *form[] = {"Content-Type: application/x-www-form-urlencoded", "Expect:", NULL};
    const char *flavor[] = {"Metadata-Flavor: Google", NULL};
    struct core_http_request rq = {
        .method = md ? "GET" : "POST",
        .url = ts->token_uri,
        .headers = md ? flavor : form,
        .body = md ? NULL : body.data,
        .body_len = md ? 0 : body.len,
        .idempotent = true, /* a second token does no harm */
        .connect_timeout_ms = md ? 2000 : 0,
        .max_attempts = md ? 2 : 0,
    };
    struct core_http_response rs;
    struct core_http_error he = {0};
    int rc = core_http_do(ts->http, &rq, &rs, &he);
    if (body.data)
        OPENSSL_cleanse(body.data, body.len);
    core_buf_release(&body);
    ts->fetches++;
    if (rc == 0 && md) {
        const char *f = core_http_response_header(&rs, "Metadata-Flavor");
        if (!f || strcmp(f, "Google")) {
            auth_fail(err, PROV_AUTH, rs.status,
                      "gcp: %s did not answer as a GCE metadata server (no Metadata-Flavor: "
                      "Google)",
                      ts->token_uri);
            core_http_response_release(&rs);
            return -1;
        }
    }
    rc = read_token(ts, &rs, &he, rc, err);
    if (rs.body.data)
        OPENSSL_cleanse(rs.body.data, rs.body.len);
    core_http_response_release(&rs);
    return rc;
}

int gcp_token_header(struct gcp_token_source *ts, char *out, size_t outlen, struct prov_error *err)
{
    pthread_mutex_lock(&ts->mu);
    int rc = 0;
    if (!ts->token || ts->now(ts->now_ctx) >= ts->refresh_at) {
        wipe_free(ts->token);
        ts->token = NULL;
        rc = fetch(ts, err);
    }
    if (rc == 0 && (size_t)snprintf(out, outlen, "Authorization: Bearer %s", ts->token) >= outlen) {
        auth_fail(err, PROV_AUTH, 0, "gcp: the access token from %s is too long", ts->token_uri);
        rc = -1;
    }
    pthread_mutex_unlock(&ts->mu);
    return rc;
}
