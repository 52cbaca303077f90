/*
 * The instance metadata reads of the verify watcher (modules/verify/imds.h): one value set on
 * this instance, read in its cloud's metadata dialect. Kept apart from the agent's loop
 * (cli/cmd_verify.c) so that the replies' reading is tested on its own and the three clouds'
 * paths, headers and token live in one place.
 */
#include "modules/verify/imds.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"

#define AWS_BASE        "http://169.254.169.254"
#define AZURE_BASE      "http://169.254.169.254"
#define GCE_BASE        "http://metadata.google.internal"
#define AWS_TOKEN_TTL   21600 /* seconds: the longest IMDSv2 grants */
#define AWS_TOKEN_SLACK 60    /* renewed this long before it expires */
#define TOKEN_MAX       256
#define AZURE_API       "2021-02-01"

struct verify_imds {
    enum core_cloud cloud;
    char *base; /* without a trailing '/' */
    struct core_http_client *http;
    char token[TOKEN_MAX]; /* EC2's session token; "" when none */
    int64_t token_until;   /* unix seconds after which it is renewed */
    bool tags_on;          /* EC2: the instance's tags were seen in its metadata */
};

/* A few printable characters of `body` for a message: what came back, not all of it. */
static void excerpt(const char *body, size_t len, char out[48])
{
    size_t n = 0;
    for (size_t i = 0; i < len && n < 40; i++)
        out[n++] = body[i] >= 0x20 && body[i] < 0x7f ? body[i] : '?';
    out[n] = '\0';
    if (len > 40)
        snprintf(out + n, 48 - n, "...");
}

/* A value as the metadata service returned it: printable, trailing whitespace dropped. */
static enum verify_imds_status take_value(const char *v, size_t len, char *value, size_t vlen,
                                          char *why, size_t whylen)
{
    while (len > 0 &&
           (v[len - 1] == '\n' || v[len - 1] == '\r' || v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (len >= vlen || len > VERIFY_IMDS_VALUE_MAX) {
        snprintf(why, whylen, "the value is %zu bytes, more than a request holds", len);
        return VERIFY_IMDS_ERROR;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) {
            snprintf(why, whylen, "the value holds a control character (byte %zu)", i);
            return VERIFY_IMDS_ERROR;
        }
    memcpy(value, v, len);
    value[len] = '\0';
    return VERIFY_IMDS_VALUE;
}

/* Azure's tagsList: [{"name": "k", "value": "v"}, ...]. */
static enum verify_imds_status azure_tags(const char *key, const char *body, size_t len,
                                          char *value, size_t vlen, char *why, size_t whylen)
{
    json_error_t je;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    enum verify_imds_status st = VERIFY_IMDS_ABSENT;
    if (!json_is_array(doc)) {
        char ex[48];
        excerpt(body, len, ex);
        snprintf(why, whylen, "tagsList is not a JSON array (got '%s')", ex);
        json_decref(doc);
        return VERIFY_IMDS_ERROR;
    }
    size_t i;
    json_t *t;
    json_array_foreach(doc, i, t)
    {
        const char *name = json_string_value(json_object_get(t, "name"));
        json_t *v = json_object_get(t, "value");
        if (!name || !json_is_string(v)) {
            snprintf(why, whylen, "tagsList entry %zu lacks a string 'name' or 'value'", i);
            st = VERIFY_IMDS_ERROR;
            break;
        }
        if (strcmp(name, key) != 0)
            continue;
        st = take_value(json_string_value(v), json_string_length(v), value, vlen, why, whylen);
        break;
    }
    json_decref(doc);
    return st;
}

enum verify_imds_status verify_imds_reply(enum core_cloud cloud, const char *key, long status,
                                          const char *body, size_t len, char *value, size_t vlen,
                                          char *why, size_t whylen)
{
    if (vlen)
        value[0] = '\0';
    if (why && whylen)
        why[0] = '\0';
    if (!body)
        len = 0;
    if (status == 404 && cloud != CORE_CLOUD_AZURE)
        return VERIFY_IMDS_ABSENT;
    if (status != 200) {
        char ex[48];
        excerpt(body ? body : "", len, ex);
        snprintf(why, whylen, "status %ld%s%s%s", status, *ex ? " ('" : "", ex, *ex ? "')" : "");
        return VERIFY_IMDS_ERROR;
    }
    if (memchr(body ? body : "", '\0', len)) {
        snprintf(why, whylen, "the reply holds a NUL byte");
        return VERIFY_IMDS_ERROR;
    }
    if (cloud == CORE_CLOUD_AZURE)
        return azure_tags(key, body ? body : "", len, value, vlen, why, whylen);
    return take_value(body ? body : "", len, value, vlen, why, whylen);
}

struct verify_imds *verify_imds_new(enum core_cloud cloud, const char *base, char *why,
                                    size_t whylen)
{
    if (!base)
        base = getenv(VERIFY_IMDS_ENDPOINT_ENV);
    if (!base || !*base)
        base = cloud == CORE_CLOUD_GCP     ? GCE_BASE
               : cloud == CORE_CLOUD_AZURE ? AZURE_BASE
                                           : AWS_BASE;
    if (strncmp(base, "http://", 7) != 0 || strpbrk(base, " \t\r\n?#")) {
        snprintf(why, whylen,
                 "the metadata service's address '%.200s' is not an http:// URL (check %s)", base,
                 VERIFY_IMDS_ENDPOINT_ENV);
        return NULL;
    }
    struct verify_imds *m = calloc(1, sizeof *m);
    struct core_http_options o = {.connect_timeout_ms = 2000,
                                  .timeout_ms = 5000,
                                  .max_response_bytes = 64 * 1024,
                                  .max_attempts = 1,
                                  .no_default_rates = true,
                                  .user_agent = "gpuform-verify-watch"};
    if (m) {
        m->cloud = cloud;
        m->base = strdup(base);
        m->http = core_http_client_new(&o);
    }
    if (!m || !m->base || !m->http) {
        verify_imds_free(m);
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    size_t n = strlen(m->base);
    while (n > 7 && m->base[n - 1] == '/')
        m->base[--n] = '\0';
    return m;
}

void verify_imds_free(struct verify_imds *m)
{
    if (!m)
        return;
    OPENSSL_cleanse(m->token, sizeof m->token);
    core_http_client_free(m->http);
    free(m->base);
    free(m);
}

/* One request; 0 with the reply in *rs (any status), -1 when none came (why[] says why). */
static int fetch(struct verify_imds *m, const char *method, const char *url,
                 const char *const *headers, struct core_http_response *rs, char *why,
                 size_t whylen)
{
    struct core_http_request rq = {
        .method = method, .url = url, .headers = headers, .idempotent = true};
    struct core_http_error err;
    core_http_response_init(rs);
    if (core_http_do(m->http, &rq, rs, &err) == 0 || err.cls == CORE_HTTP_ERR_STATUS)
        return 0;
    snprintf(why, whylen, "%s", err.message);
    return -1;
}

/* EC2: a session token in m->token. 0, or -1 with why[]. */
static int aws_token(struct verify_imds *m, char *why, size_t whylen)
{
    int64_t now = core_http_unix_s(m->http);
    if (m->token[0] && now < m->token_until)
        return 0;
    OPENSSL_cleanse(m->token, sizeof m->token);
    char url[600];
    snprintf(url, sizeof url, "%s/latest/api/token", m->base);
    static const char *const hdrs[] = {"X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL};
    struct core_http_response rs;
    if (fetch(m, "PUT", url, hdrs, &rs, why, whylen) != 0) {
        core_http_response_release(&rs);
        return -1;
    }
    const char *b = rs.body.data ? rs.body.data : "";
    size_t n = rs.body.len;
    while (n > 0 && (b[n - 1] == '\n' || b[n - 1] == '\r'))
        n--;
    int rc = -1;
    if (rs.status != 200)
        snprintf(why, whylen, "PUT %s: status %ld (is IMDSv2 enabled on the instance?)", url,
                 rs.status);
    else if (n == 0 || n >= sizeof m->token ||
             strspn(b, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklm"
                       "nopqrstuvwxyz0123456789+/=_-.") != n)
        snprintf(why, whylen, "PUT %s: the reply is not a session token", url);
    else {
        memcpy(m->token, b, n);
        m->token[n] = '\0';
        m->token_until = now + AWS_TOKEN_TTL - AWS_TOKEN_SLACK;
        core_http_add_secret(m->http, m->token);
        rc = 0;
    }
    if (rs.body.data)
        OPENSSL_cleanse(rs.body.data, rs.body.len);
    core_http_response_release(&rs);
    return rc;
}

/* EC2 answers 404 for a tag both when it is not set and when the instance's tags are not in
 * its metadata at all; the list of the tags tells which (an instance gpuform made always has
 * its gpuform:stack tag). VERIFY_IMDS_ABSENT, or VERIFY_IMDS_ERROR with why[]. */
static enum verify_imds_status aws_tags_on(struct verify_imds *m, const char *const *hdrs,
                                           char *why, size_t whylen)
{
    char url[700];
    snprintf(url, sizeof url, "%s/latest/meta-data/tags/instance", m->base);
    struct core_http_response rs;
    enum verify_imds_status st = VERIFY_IMDS_ABSENT;
    if (fetch(m, "GET", url, hdrs, &rs, why, whylen) != 0)
        st = VERIFY_IMDS_ERROR;
    else if (rs.status == 404) {
        snprintf(why, whylen,
                 "GET %s: 404: this instance's tags are not in its metadata (it was launched "
                 "without MetadataOptions.InstanceMetadataTags=enabled), so no request reaches it",
                 url);
        st = VERIFY_IMDS_ERROR;
    } else if (rs.status == 200)
        m->tags_on = true;
    core_http_response_release(&rs);
    return st;
}

/* True for a key that goes into a URL path as it is. */
static bool plain_key(const char *key)
{
    size_t n = strlen(key);
    return n > 0 && n <= 128 &&
           strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:") == n;
}

enum verify_imds_status verify_imds_read(struct verify_imds *m, const char *key, char *value,
                                         size_t vlen, char *why, size_t whylen)
{
    value[0] = '\0';
    if (!plain_key(key)) {
        snprintf(why, whylen, "'%.60s' is not a key the metadata service can be asked for", key);
        return VERIFY_IMDS_ERROR;
    }
    char url[800], auth[TOKEN_MAX + 40], msg[400];
    const char *hdrs[2] = {NULL, NULL};
    if (m->cloud == CORE_CLOUD_GCP) {
        snprintf(url, sizeof url, "%s/computeMetadata/v1/instance/attributes/%s", m->base, key);
        hdrs[0] = "Metadata-Flavor: Google";
    } else if (m->cloud == CORE_CLOUD_AZURE) {
        snprintf(url, sizeof url,
                 "%s/metadata/instance/compute/tagsList?api-version=" AZURE_API "&format=json",
                 m->base);
        hdrs[0] = "Metadata: true";
    } else {
        snprintf(url, sizeof url, "%s/latest/meta-data/tags/instance/%s", m->base, key);
        hdrs[0] = auth;
    }
    enum verify_imds_status st = VERIFY_IMDS_ERROR;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (m->cloud == CORE_CLOUD_AWS) {
            if (aws_token(m, why, whylen) != 0)
                return VERIFY_IMDS_ERROR;
            snprintf(auth, sizeof auth, "X-aws-ec2-metadata-token: %s", m->token);
        }
        struct core_http_response rs;
        if (fetch(m, "GET", url, hdrs, &rs, why, whylen) != 0) {
            core_http_response_release(&rs);
            st = VERIFY_IMDS_ERROR;
            break;
        }
        if (m->cloud == CORE_CLOUD_AWS && rs.status == 401 && attempt == 0) {
            OPENSSL_cleanse(m->token, sizeof m->token); /* expired or revoked: a new one */
            core_http_response_release(&rs);
            continue;
        }
        st = verify_imds_reply(m->cloud, key, rs.status, rs.body.data, rs.body.len, value, vlen,
                               msg, sizeof msg);
        core_http_response_release(&rs);
        if (st == VERIFY_IMDS_ERROR)
            snprintf(why, whylen, "GET %s: %s", url, msg);
        else if (st == VERIFY_IMDS_ABSENT && m->cloud == CORE_CLOUD_AWS && !m->tags_on)
            st = aws_tags_on(m, hdrs, why, whylen);
        break;
    }
    OPENSSL_cleanse(auth, sizeof auth);
    return st;
}
