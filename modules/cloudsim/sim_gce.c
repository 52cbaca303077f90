/*
 * The Compute Engine dialect of cloudsim (v1 REST, JSON through jansson) and Google's OAuth2
 * token endpoint, over the shared world: a service account's RS256-signed JWT (checked with
 * the public keys the config registers) buys a bearer token; instances.insert, get, delete,
 * list and aggregatedList (GCE's filter syntax, paging), zone operations (get and wait),
 * serial port output, regions, machine and accelerator types. Errors are GCE's JSON, and
 * capacity and quota failures arrive in the operation, as GCE reports them.
 */
#include "modules/cloudsim/sim.h"
#include "modules/cloudsim/sim_int.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/base64.h"
#include "core/file.h"
#include "modules/gcp/gcp.h"
#include "modules/gcp/gcp_auth.h"

#define API          "https://www.googleapis.com/compute/v1/projects/"
#define TOKEN_LIFE   3599  /* seconds, as Google hands them out */
#define WAIT_MAX_S   120.0 /* operations.wait holds at most this long */
#define MAX_FILTER   4096
#define MAX_PAGE     500
#define JWT_MAX_SKEW 300 /* iat may be this far in the future */

/* ---- replies ---- */

static void request_id(struct sim_world *w, struct sim_reply *r)
{
    snprintf(r->request_id, sizeof r->request_id, "%016" PRIx64, sim_rand(w));
}

/* Sends `j` (stolen) with `status`. */
static void reply(struct sim_world *w, struct sim_reply *r, int status, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    free(r->body);
    r->body = text;
    r->len = text ? strlen(text) : 0;
    r->status = text ? status : 500;
    r->content_type = "application/json; charset=UTF-8";
    request_id(w, r);
}

static const char *status_word(int http)
{
    switch (http) {
    case 400:
        return "INVALID_ARGUMENT";
    case 401:
        return "UNAUTHENTICATED";
    case 403:
        return "PERMISSION_DENIED";
    case 404:
        return "NOT_FOUND";
    case 409:
        return "ALREADY_EXISTS";
    case 429:
        return "RESOURCE_EXHAUSTED";
    case 503:
        return "UNAVAILABLE";
    default:
        return http >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
    }
}

/* GCE's error body: {"error": {"code", "message", "errors": [{"message", "domain",
 * "reason"}], "status"}}. */
static void gce_error(struct sim_world *w, struct sim_reply *r, int http, const char *reason,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void gce_error(struct sim_world *w, struct sim_reply *r, int http, const char *reason,
                      const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *domain = !strcmp(reason, "quotaExceeded") || !strcmp(reason, "rateLimitExceeded")
                             ? "usageLimits"
                             : "global";
    reply(w, r, http,
          json_pack("{s:{s:i, s:s, s:[{s:s, s:s, s:s}], s:s}}", "error", "code", http, "message",
                    msg, "errors", "message", msg, "domain", domain, "reason", reason, "status",
                    status_word(http)));
}

/* OAuth's error body: {"error": "...", "error_description": "..."}. */
static void oauth_error(struct sim_world *w, struct sim_reply *r, int http, const char *error,
                        const char *description)
{
    reply(w, r, http, json_pack("{s:s, s:s}", "error", error, "error_description", description));
}

static void iso_time(double t, char out[64])
{
    time_t s = (time_t)t;
    struct tm tm;
    gmtime_r(&s, &tm);
    int ms = (int)((t - (double)s) * 1000);
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03d-00:00", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms < 0 || ms > 999 ? 0 : ms);
}

/* ---- tokens: the JWT grant, and stateless bearer tokens keyed by the world ---- */

static json_t *jwt_part(const char *s, size_t n)
{
    size_t len;
    char *raw = core_base64url_decode(s, n, 65536, &len);
    json_t *j = raw ? json_loadb(raw, len, 0, NULL) : NULL;
    free(raw);
    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static const struct sim_service_account *account_of(const struct sim_config *c, const char *email)
{
    for (size_t i = 0; email && i < c->ngcp_accounts; i++)
        if (!strcmp(c->gcp_accounts[i].client_email, email))
            return &c->gcp_accounts[i];
    return NULL;
}

static bool signature_holds(const char *pem, const char *signed_part, size_t signed_len,
                            const char *sig64)
{
    size_t siglen;
    char *sig = core_base64url_decode(sig64, strlen(sig64), 65536, &siglen);
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pub = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = sig && pub && md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1 &&
              EVP_DigestVerify(md, (unsigned char *)sig, siglen, (const unsigned char *)signed_part,
                               signed_len) == 1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pub);
    free(sig);
    return ok;
}

/* The HMAC that makes a bearer token ours: keyed with the world's page secret, which
 * persists with the world, so tokens survive a restart with --state. */
static void token_mac(const struct sim_world *w, const char *payload, char out[65])
{
    unsigned char key[16], md[32];
    unsigned int n = sizeof md;
    memcpy(key, &w->page_secret, 8);
    memcpy(key + 8, "gce-tokn", 8);
    HMAC(EVP_sha256(), key, sizeof key, (const unsigned char *)payload, strlen(payload), md, &n);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static char *mint_token(const struct sim_world *w, const struct sim_service_account *a, double now)
{
    json_t *j = json_pack("{s:s, s:s, s:I}", "sub", a->client_email, "prj", a->project_id, "exp",
                          (json_int_t)(now + TOKEN_LIFE));
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    char *payload = text ? gcp_base64url(text, strlen(text)) : NULL;
    free(text);
    char mac[65], *tok = NULL;
    if (payload) {
        token_mac(w, payload, mac);
        if (asprintf(&tok, "ya29.sim.%s.%s", payload, mac) < 0)
            tok = NULL;
    }
    free(payload);
    return tok;
}

/* A service account's signed JWT, checked: its header, its account, its RS256 signature and
 * its lifetime. NULL when it holds (*claims and *account set; the caller frees the claims),
 * else Google's description of what is wrong. */
static const char *verify_jwt(const struct sim_world *w, const char *jwt, double now,
                              json_t **claims, const struct sim_service_account **account)
{
    const char *dot1 = jwt ? strchr(jwt, '.') : NULL, *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    json_t *h = dot2 ? jwt_part(jwt, (size_t)(dot1 - jwt)) : NULL;
    json_t *c = dot2 ? jwt_part(dot1 + 1, (size_t)(dot2 - dot1 - 1)) : NULL;
    const char *alg = json_string_value(json_object_get(h, "alg"));
    const struct sim_service_account *a =
        account_of(&w->conf, json_string_value(json_object_get(c, "iss")));
    json_t *iat = json_object_get(c, "iat"), *exp = json_object_get(c, "exp");
    const char *why = NULL;
    if (!h || !c)
        why = "Invalid JWT: the assertion is not a JWT";
    else if (!alg || strcmp(alg, "RS256"))
        why = "Invalid JWT: the algorithm must be RS256";
    else if (!a)
        why = "Invalid grant: account not found";
    else if (!signature_holds(a->public_key_pem, jwt, (size_t)(dot2 - jwt), dot2 + 1))
        why = "Invalid JWT Signature.";
    else if (!json_is_integer(iat) || !json_is_integer(exp) ||
             (double)json_integer_value(iat) > now + JWT_MAX_SKEW ||
             (double)json_integer_value(exp) < now ||
             json_integer_value(exp) - json_integer_value(iat) > 3600)
        why = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
              "timeframe. Check your iat and exp values in the JWT claim.";
    json_decref(h);
    if (why) {
        json_decref(c);
        return why;
    }
    *claims = c;
    *account = a;
    return NULL;
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = s ? strlen(s) : 0, t = strlen(tail);
    return n >= t && !strcmp(s + n - t, tail);
}

/* The token grant: POST /token, grant_type jwt-bearer, the assertion a registered service
 * account signed. Refuses as Google does. */
static void token_endpoint(struct sim_world *w, struct sim_query *q, double now,
                           struct sim_reply *r)
{
    if (strcmp(q->method, "POST"))
        return oauth_error(w, r, 405, "invalid_request", "The token endpoint takes POST");
    struct sim_param *p = NULL;
    size_t n = 0;
    if (sim_params_parse(q->body, q->body_len, &p, &n, 64) < 0) {
        sim_params_free(p, n);
        return oauth_error(w, r, 400, "invalid_request", "The body is not a form");
    }
    const char *grant = sim_param_get(p, n, "grant_type");
    json_t *c = NULL;
    const struct sim_service_account *a = NULL;
    const char *why = NULL;
    if (!grant || strcmp(grant, "urn:ietf:params:oauth:grant-type:jwt-bearer")) {
        char d[160];
        snprintf(d, sizeof d, "Invalid grant_type: %.100s", grant ? grant : "");
        oauth_error(w, r, 400, "unsupported_grant_type", d);
    } else if ((why = verify_jwt(w, sim_param_get(p, n, "assertion"), now, &c, &a))) {
        oauth_error(w, r, 400, "invalid_grant", why);
    } else if (!ends_with(json_string_value(json_object_get(c, "aud")), "/token")) {
        oauth_error(w, r, 400, "invalid_grant", "Invalid JWT: the audience must be the token URL");
    } else if (!json_string_value(json_object_get(c, "scope")) ||
               !*json_string_value(json_object_get(c, "scope"))) {
        oauth_error(w, r, 400, "invalid_scope", "Empty or missing scope not allowed.");
    } else {
        char *tok = mint_token(w, a, now);
        if (tok)
            reply(w, r, 200,
                  json_pack("{s:s, s:i, s:s}", "access_token", tok, "expires_in", TOKEN_LIFE,
                            "token_type", "Bearer"));
        else
            oauth_error(w, r, 500, "internal_failure", "out of memory");
        free(tok);
    }
    json_decref(c);
    sim_params_free(p, n);
}

/*
 * A self-signed JWT used directly as the bearer token, as Google's client libraries send by
 * default: iss and sub the service account, and an audience of the API
 * (https://compute.googleapis.com/) or a scope. 0 with the account, or -1.
 */
static int self_signed(const struct sim_world *w, const char *tok, double now,
                       const struct sim_service_account **a)
{
    json_t *c = NULL;
    if (verify_jwt(w, tok, now, &c, a))
        return -1;
    const char *iss = json_string_value(json_object_get(c, "iss"));
    const char *sub = json_string_value(json_object_get(c, "sub"));
    const char *aud = json_string_value(json_object_get(c, "aud"));
    const char *scope = json_string_value(json_object_get(c, "scope"));
    int rc = sub && !strcmp(sub, iss) &&
                     ((aud && ends_with(aud, ".googleapis.com/")) || (scope && *scope))
                 ? 0
                 : -1;
    json_decref(c);
    return rc;
}

/* The project a bearer token may use, or -1 after replying 401 as GCE does. */
static int check_bearer(struct sim_world *w, struct sim_query *q, double now, char project[128],
                        char email[256], struct sim_reply *r)
{
    const char *auth = sim_query_header(q, "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7)) {
        gce_error(w, r, 401, "required",
                  "Request is missing required authentication credential. Expected OAuth 2 "
                  "access token, login cookie or other valid authentication credential.");
        return -1;
    }
    const char *tok = auth + 7;
    const struct sim_service_account *a = NULL;
    if (strncmp(tok, "ya29.sim.", 9) && self_signed(w, tok, now, &a) == 0) {
        snprintf(project, 128, "%s", a->project_id);
        snprintf(email, 256, "%s", a->client_email);
        return 0;
    }
    const char *dot = strncmp(tok, "ya29.sim.", 9) ? NULL : strrchr(tok, '.');
    char payload[1024], mac[65];
    size_t plen = dot ? (size_t)(dot - (tok + 9)) : 0;
    json_t *j = NULL;
    if (dot && plen < sizeof payload && strlen(dot + 1) == 64) {
        snprintf(payload, sizeof payload, "%.*s", (int)plen, tok + 9);
        token_mac(w, payload, mac);
        if (CRYPTO_memcmp(mac, dot + 1, 64) == 0)
            j = jwt_part(payload, plen);
    }
    const char *sub = json_string_value(json_object_get(j, "sub"));
    const char *prj = json_string_value(json_object_get(j, "prj"));
    json_int_t exp = json_integer_value(json_object_get(j, "exp"));
    int rc = 0;
    if (!sub || !prj || (double)exp < now) {
        gce_error(w, r, 401, "authError",
                  "Request had invalid authentication credentials. Expected OAuth 2 access "
                  "token, login cookie or other valid authentication credential.");
        rc = -1;
    } else {
        snprintf(project, 128, "%s", prj);
        snprintf(email, 256, "%s", sub);
    }
    json_decref(j);
    return rc;
}

/* ---- the instance as GCE shows it ---- */

/* Whether GCE still shows the instance: deleted ones go once terminated; a reclaimed (spot)
 * one stays TERMINATED while the world lists it. */
static bool shown(const struct sim_instance *i)
{
    return i->cloud == CORE_CLOUD_GCP && (i->state != SIM_TERMINATED || i->reclaimed);
}

static const char *gce_status(const struct sim_instance *i, double now)
{
    switch (i->state) {
    case SIM_PENDING:
        return now < (i->launch_time + i->running_at) / 2 ? "PROVISIONING" : "STAGING";
    case SIM_RUNNING:
        return "RUNNING";
    case SIM_SHUTTING_DOWN:
        return "STOPPING";
    case SIM_TERMINATED:
        return "TERMINATED";
    }
    return "PROVISIONING";
}

static json_t *tags_object(const struct sim_tag *t, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, t[i].key, json_string(t[i].value));
    return o;
}

/* The metadata's fingerprint: a hash of its items, so that it changes with every change of
 * them, as GCE's does (8 bytes in base64, "42WmSpB8rSM=" in shape). */
static void fingerprint(const struct sim_instance *i, char out[16])
{
    uint64_t h = SIM_HASH_INIT;
    for (size_t k = 0; k < i->nmeta; k++) {
        h = sim_hash(h, i->meta[k].key);
        h = sim_hash(h, "\x1f");
        h = sim_hash(h, i->meta[k].value);
        h = sim_hash(h, "\x1e");
    }
    unsigned char b[8];
    for (int k = 0; k < 8; k++)
        b[k] = (unsigned char)(h >> (8 * k));
    EVP_EncodeBlock((unsigned char *)out, b, sizeof b);
}

static json_t *instance_json(const struct sim_instance *i, double now)
{
    char url[512], ts[64];
    json_t *items = json_array();
    for (size_t k = 0; k < i->nmeta; k++)
        json_array_append_new(
            items, json_pack("{s:s, s:s}", "key", i->meta[k].key, "value", i->meta[k].value));
    iso_time(i->launch_time, ts);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kind", "compute#instance", "id", i->id,
                          "creationTimestamp", ts, "name", i->name, "description", "", "status",
                          gce_status(i, now));
    if (!o)
        return NULL;
    snprintf(url, sizeof url, API "%s/zones/%s/machineTypes/%s", i->account, i->zone, i->type);
    json_object_set_new(o, "machineType", json_string(url));
    snprintf(url, sizeof url, API "%s/zones/%s", i->account, i->zone);
    json_object_set_new(o, "zone", json_string(url));
    if (i->reclaimed)
        json_object_set_new(o, "statusMessage", json_string("Instance was preempted."));
    json_object_set_new(o, "labels", tags_object(i->tags, i->ntags));
    char fp[16];
    fingerprint(i, fp);
    json_object_set_new(o, "metadata",
                        json_pack("{s:s, s:s, s:o}", "kind", "compute#metadata", "fingerprint", fp,
                                  "items", items));
    snprintf(url, sizeof url, API "%s/global/networks/default", i->account);
    json_object_set_new(
        o, "networkInterfaces",
        json_pack("[{s:s, s:s, s:s}]", "name", "nic0", "network", url, "networkIP", i->private_ip));
    snprintf(url, sizeof url, API "%s/zones/%s/disks/%s", i->account, i->zone, i->name);
    json_object_set_new(o, "disks",
                        json_pack("[{s:s, s:s, s:s, s:s, s:i, s:b, s:b}]", "kind",
                                  "compute#attachedDisk", "type", "PERSISTENT", "mode",
                                  "READ_WRITE", "source", url, "index", 0, "boot", 1, "autoDelete",
                                  1));
    json_object_set_new(o, "scheduling",
                        json_pack("{s:s, s:b, s:b, s:s}", "onHostMaintenance", "TERMINATE",
                                  "automaticRestart", !i->spot, "preemptible", 0,
                                  "provisioningModel", i->spot ? "SPOT" : "STANDARD"));
    if (i->spot)
        json_object_set_new(json_object_get(o, "scheduling"), "instanceTerminationAction",
                            json_string("DELETE"));
    json_object_set_new(o, "cpuPlatform", json_string("Intel Cascade Lake"));
    snprintf(url, sizeof url, API "%s/zones/%s/instances/%s", i->account, i->zone, i->name);
    json_object_set_new(o, "selfLink", json_string(url));
    return o;
}

static json_t *op_json(const struct sim_world *w, const struct sim_operation *op, const char *user,
                       double now)
{
    char url[512], ts[64];
    bool done = now >= op->done_at;
    iso_time(op->started, ts);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s}", "kind", "compute#operation",
                          "id", op->id, "name", op->name, "operationType", op->kind, "status",
                          done ? "DONE" : "RUNNING", "progress", done ? 100 : 0, "insertTime", ts,
                          "startTime", ts);
    if (!o)
        return NULL;
    if (*op->target_id) /* a uint64 for the clients: absent when no instance was made */
        json_object_set_new(o, "targetId", json_string(op->target_id));
    snprintf(url, sizeof url, API "%s/zones/%s/instances/%s", op->account, op->zone,
             op->target_name ? op->target_name : "");
    json_object_set_new(o, "targetLink", json_string(url));
    json_object_set_new(o, "user", json_string(user));
    snprintf(url, sizeof url, API "%s/zones/%s", op->account, op->zone);
    json_object_set_new(o, "zone", json_string(url));
    snprintf(url, sizeof url, API "%s/zones/%s/operations/%s", op->account, op->zone, op->name);
    json_object_set_new(o, "selfLink", json_string(url));
    if (done) {
        iso_time(op->done_at, ts);
        json_object_set_new(o, "endTime", json_string(ts));
    }
    if (done && op->error.kind != SIM_ERR_NONE) {
        json_object_set_new(o, "error",
                            json_pack("{s:[{s:s, s:s}]}", "errors", "code", op->error.code,
                                      "message", op->error.message));
        json_object_set_new(o, "httpErrorStatusCode", json_integer(op->error.http_status));
        json_object_set_new(
            o, "httpErrorMessage",
            json_string(op->error.http_status == 403 ? "FORBIDDEN" : "SERVICE UNAVAILABLE"));
    }
    (void)w;
    return o;
}

/* ---- list filters: GCE's syntax, as far as instances need it ---- */

enum fop { F_EQ, F_NE, F_HAS, F_REGEX, F_NOT_REGEX };

struct fnode {
    int kind; /* 0 a comparison, 1 AND, 2 OR */
    struct fnode *a, *b;
    char field[128];
    enum fop op;
    char value[256];
};

struct fparse {
    const char *s;
    size_t pos;
    int depth, nodes;
    bool bad;
};

static void fnode_free(struct fnode *n)
{
    if (!n)
        return;
    fnode_free(n->a);
    fnode_free(n->b);
    free(n);
}

static void skip_space(struct fparse *p)
{
    while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t')
        p->pos++;
}

static bool word(struct fparse *p, const char *w)
{
    size_t n = strlen(w);
    if (strncmp(p->s + p->pos, w, n))
        return false;
    char next = p->s[p->pos + n];
    if (next && next != ' ' && next != '(' && next != '\t')
        return false;
    p->pos += n;
    return true;
}

static bool field_known(const char *f)
{
    static const char *const fields[] = {"name",
                                         "status",
                                         "id",
                                         "zone",
                                         "machineType",
                                         "labels",
                                         "scheduling.provisioningModel",
                                         "scheduling.preemptible",
                                         "cpuPlatform",
                                         NULL};
    for (const char *const *k = fields; *k; k++)
        if (!strcmp(*k, f))
            return true;
    return !strncmp(f, "labels.", 7) && f[7];
}

static struct fnode *parse_or(struct fparse *p);

static struct fnode *parse_term(struct fparse *p)
{
    skip_space(p);
    if (++p->nodes > 64 || p->depth > 16) {
        p->bad = true;
        return NULL;
    }
    if (p->s[p->pos] == '(') {
        p->pos++;
        p->depth++;
        struct fnode *n = parse_or(p);
        p->depth--;
        skip_space(p);
        if (p->s[p->pos] != ')') {
            p->bad = true;
            fnode_free(n);
            return NULL;
        }
        p->pos++;
        return n;
    }
    struct fnode *n = calloc(1, sizeof *n);
    if (!n) {
        p->bad = true;
        return NULL;
    }
    size_t f =
        strspn(p->s + p->pos, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");
    if (!f || f >= sizeof n->field)
        goto bad;
    snprintf(n->field, sizeof n->field, "%.*s", (int)f, p->s + p->pos);
    p->pos += f;
    skip_space(p);
    if (!strncmp(p->s + p->pos, "!=", 2))
        n->op = F_NE, p->pos += 2;
    else if (p->s[p->pos] == '=')
        n->op = F_EQ, p->pos++;
    else if (p->s[p->pos] == ':')
        n->op = F_HAS, p->pos++;
    else if (word(p, "eq"))
        n->op = F_REGEX;
    else if (word(p, "ne"))
        n->op = F_NOT_REGEX;
    else
        goto bad;
    skip_space(p);
    size_t v = 0;
    if (p->s[p->pos] == '"') {
        for (p->pos++; p->s[p->pos] && p->s[p->pos] != '"'; p->pos++) {
            if (p->s[p->pos] == '\\' && p->s[p->pos + 1])
                p->pos++;
            if (v + 1 >= sizeof n->value)
                goto bad;
            n->value[v++] = p->s[p->pos];
        }
        if (p->s[p->pos] != '"')
            goto bad;
        p->pos++;
    } else {
        while (p->s[p->pos] && !strchr(" \t()", p->s[p->pos])) {
            if (v + 1 >= sizeof n->value)
                goto bad;
            n->value[v++] = p->s[p->pos++];
        }
        if (!v)
            goto bad;
    }
    n->value[v] = 0;
    if (!field_known(n->field))
        goto bad;
    return n;
bad:
    p->bad = true;
    free(n);
    return NULL;
}

static struct fnode *join(struct fparse *p, int kind, struct fnode *a, struct fnode *b)
{
    struct fnode *n = a && b ? calloc(1, sizeof *n) : NULL;
    if (!n) {
        fnode_free(a);
        fnode_free(b);
        p->bad = true;
        return NULL;
    }
    n->kind = kind;
    n->a = a;
    n->b = b;
    return n;
}

static struct fnode *parse_and(struct fparse *p)
{
    struct fnode *n = parse_term(p);
    for (;;) {
        skip_space(p);
        char c = p->s[p->pos];
        if (p->bad || !c || c == ')' || !strncmp(p->s + p->pos, "OR", 2))
            return n;
        word(p, "AND"); /* optional: adjacent terms are ANDed */
        n = join(p, 1, n, parse_term(p));
    }
}

static struct fnode *parse_or(struct fparse *p)
{
    struct fnode *n = parse_and(p);
    for (;;) {
        skip_space(p);
        if (p->bad || !word(p, "OR"))
            return n;
        n = join(p, 2, n, parse_and(p));
    }
}

/* The filter's tree, NULL for an empty filter; *bad when it is not one. */
static struct fnode *filter_parse(const char *s, bool *bad)
{
    struct fparse p = {.s = s ? s : ""};
    *bad = false;
    skip_space(&p);
    if (!p.s[p.pos])
        return NULL;
    struct fnode *n = parse_or(&p);
    skip_space(&p);
    if (p.bad || p.s[p.pos]) {
        fnode_free(n);
        *bad = true;
        return NULL;
    }
    return n;
}

static bool regex_full(const char *pattern, const char *s)
{
    char anchored[300];
    regex_t re;
    snprintf(anchored, sizeof anchored, "^(%s)$", pattern);
    if (regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB) != 0)
        return false;
    bool m = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return m;
}

static const char *field_value(const struct sim_instance *i, const char *f, double now,
                               char buf[64])
{
    if (!strcmp(f, "name"))
        return i->name;
    if (!strcmp(f, "status"))
        return gce_status(i, now);
    if (!strcmp(f, "id"))
        return i->id;
    if (!strcmp(f, "zone"))
        return i->zone;
    if (!strcmp(f, "machineType"))
        return i->type;
    if (!strcmp(f, "scheduling.provisioningModel"))
        return i->spot ? "SPOT" : "STANDARD";
    if (!strcmp(f, "scheduling.preemptible"))
        return "false";
    if (!strcmp(f, "cpuPlatform"))
        return "Intel Cascade Lake";
    for (size_t t = 0; !strncmp(f, "labels.", 7) && t < i->ntags; t++)
        if (!strcmp(i->tags[t].key, f + 7))
            return i->tags[t].value;
    (void)buf;
    return NULL;
}

static bool matches(const struct fnode *n, const struct sim_instance *i, double now)
{
    if (!n)
        return true;
    if (n->kind == 1)
        return matches(n->a, i, now) && matches(n->b, i, now);
    if (n->kind == 2)
        return matches(n->a, i, now) || matches(n->b, i, now);
    char buf[64];
    if (!strcmp(n->field, "labels")) { /* labels:KEY: the label is there */
        for (size_t t = 0; t < i->ntags; t++)
            if (!strcmp(i->tags[t].key, n->value))
                return n->op == F_HAS;
        return n->op == F_NE;
    }
    const char *v = field_value(i, n->field, now, buf);
    switch (n->op) {
    case F_EQ: /* machineType also as its URL */
        return v && (!strcmp(v, n->value) ||
                     (!strcmp(n->field, "machineType") && strstr(n->value, "/") &&
                      !strcmp(strrchr(n->value, '/') + 1, v)));
    case F_NE:
        return !v || strcmp(v, n->value);
    case F_HAS:
        return v && fnmatch(n->value, v, 0) == 0;
    case F_REGEX:
        return v && regex_full(n->value, v);
    case F_NOT_REGEX:
        return !v || !regex_full(n->value, v);
    }
    return false;
}

/* ---- lists ---- */

static bool in_project(const struct sim_instance *i, const char *project)
{
    return shown(i) && i->account && !strcmp(i->account, project);
}

/* Reads maxResults (0..500, 0 and absent: 500); -1 after replying when it is bad. */
static long max_results(struct sim_world *w, struct sim_query *q, struct sim_reply *r)
{
    const char *m = sim_param_get(q->p, q->nquery, "maxResults");
    if (!m)
        return MAX_PAGE;
    char *end;
    long v = strtol(m, &end, 10);
    if (!*m || *end || v < 0 || v > MAX_PAGE) {
        gce_error(w, r, 400, "invalid",
                  "Invalid value for field 'maxResults': '%.40s'. Must be less than or equal to "
                  "500",
                  m);
        return -1;
    }
    return v ? v : MAX_PAGE;
}

struct page {
    struct fnode *filter;
    size_t start, limit, seen, shown;
    size_t next; /* 0: no next page */
};

/* Whether the instance goes on this page (and counts it). */
static bool on_page(struct page *pg, const struct sim_instance *i, double now)
{
    if (pg->next || !matches(pg->filter, i, now))
        return false;
    if (pg->seen++ < pg->start)
        return false;
    if (pg->shown == pg->limit) {
        pg->next = pg->seen - 1;
        return false;
    }
    pg->shown++;
    return true;
}

/* Sets up filter and paging; -1 after replying when either is bad. */
static int page_init(struct sim_world *w, struct sim_query *q, const char *project,
                     const char *scope, struct page *pg, uint64_t *qh, struct sim_reply *r)
{
    memset(pg, 0, sizeof *pg);
    const char *filter = sim_param_get(q->p, q->nquery, "filter");
    const char *token = sim_param_get(q->p, q->nquery, "pageToken");
    long limit = max_results(w, q, r);
    if (limit < 0)
        return -1;
    bool bad = filter && strlen(filter) > MAX_FILTER;
    if (!bad)
        pg->filter = filter_parse(filter, &bad);
    if (bad) {
        gce_error(w, r, 400, "invalid",
                  "Invalid value for field 'filter': '%.200s'. Invalid list filter expression.",
                  filter);
        return -1;
    }
    pg->limit = (size_t)limit;
    *qh = sim_hash(sim_hash(sim_hash(sim_hash(SIM_HASH_INIT, project), scope), filter),
                   sim_param_get(q->p, q->nquery, "maxResults"));
    if (token && *token && sim_page_parse(w, *qh, token, &pg->start) < 0) {
        fnode_free(pg->filter);
        pg->filter = NULL;
        gce_error(w, r, 400, "invalid", "Invalid value for field 'pageToken': '%.80s'.", token);
        return -1;
    }
    return 0;
}

static void page_finish(struct sim_world *w, struct page *pg, uint64_t qh, json_t *o)
{
    if (pg->next) {
        char tok[64];
        sim_page_token(w, qh, pg->next, tok);
        json_object_set_new(o, "nextPageToken", json_string(tok));
    }
    fnode_free(pg->filter);
}

static void list_zone(struct sim_world *w, struct sim_query *q, const char *project,
                      const char *zone, double now, struct sim_reply *r)
{
    struct page pg;
    uint64_t qh;
    if (page_init(w, q, project, zone, &pg, &qh, r) < 0)
        return;
    json_t *items = json_array();
    for (size_t k = 0; k < w->ninstances; k++) {
        const struct sim_instance *i = w->instances[k];
        if (in_project(i, project) && !strcmp(i->zone, zone) && on_page(&pg, i, now))
            json_array_append_new(items, instance_json(i, now));
    }
    char url[512];
    snprintf(url, sizeof url, API "%s/zones/%s/instances", project, zone);
    json_t *o = json_pack("{s:s, s:s, s:o, s:s}", "kind", "compute#instanceList", "id", url + 40,
                          "items", items, "selfLink", url);
    if (o)
        page_finish(w, &pg, qh, o);
    else
        fnode_free(pg.filter);
    reply(w, r, 200, o);
}

static void list_aggregated(struct sim_world *w, struct sim_query *q, const char *project,
                            double now, struct sim_reply *r)
{
    struct page pg;
    uint64_t qh;
    if (page_init(w, q, project, "aggregated", &pg, &qh, r) < 0)
        return;
    json_t *items = json_object();
    char scope[96];
    for (size_t g = 0; g < w->conf.nregions; g++) {
        const struct sim_region *reg = &w->conf.regions[g];
        for (size_t z = 0; reg->cloud == CORE_CLOUD_GCP && z < reg->nzones; z++) {
            json_t *list = json_array();
            for (size_t k = 0; k < w->ninstances; k++) {
                const struct sim_instance *i = w->instances[k];
                if (in_project(i, project) && !strcmp(i->zone, reg->zones[z]) &&
                    on_page(&pg, i, now))
                    json_array_append_new(list, instance_json(i, now));
            }
            snprintf(scope, sizeof scope, "zones/%s", reg->zones[z]);
            if (json_array_size(list)) {
                json_object_set_new(items, scope, json_pack("{s:o}", "instances", list));
                continue;
            }
            json_decref(list);
            char msg[160];
            snprintf(msg, sizeof msg, "There are no results for scope '%s' on this page.", scope);
            json_object_set_new(items, scope,
                                json_pack("{s:{s:s, s:s, s:[{s:s, s:s}]}}", "warning", "code",
                                          "NO_RESULTS_ON_PAGE", "message", msg, "data", "key",
                                          "scope", "value", scope));
        }
    }
    char url[512];
    snprintf(url, sizeof url, API "%s/aggregated/instances", project);
    json_t *o = json_pack("{s:s, s:s, s:o, s:s}", "kind", "compute#instanceAggregatedList", "id",
                          url + 40, "items", items, "selfLink", url);
    if (o)
        page_finish(w, &pg, qh, o);
    else
        fnode_free(pg.filter);
    reply(w, r, 200, o);
}

/* ---- insert ---- */

static bool valid_name(const char *n)
{
    size_t len = n ? strlen(n) : 0;
    return len >= 1 && len <= 63 && n[0] >= 'a' && n[0] <= 'z' &&
           strspn(n, "abcdefghijklmnopqrstuvwxyz0123456789-") == len && n[len - 1] != '-';
}

static bool valid_label(const char *k, const char *v)
{
    size_t kl = k ? strlen(k) : 0, vl = v ? strlen(v) : 0;
    const char *set = "abcdefghijklmnopqrstuvwxyz0123456789_-";
    return kl >= 1 && kl <= 63 && k[0] >= 'a' && k[0] <= 'z' && strspn(k, set) == kl && v &&
           vl <= 63 && strspn(v, set) == vl;
}

static bool valid_uuid(const char *s)
{
    if (!s || strlen(s) != 36 || !strcmp(s, "00000000-0000-0000-0000-000000000000"))
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i]))
            return false;
    }
    return true;
}

static const char *last_segment(const char *url)
{
    const char *slash = url ? strrchr(url, '/') : NULL;
    return slash ? slash + 1 : url;
}

/* The most GPUs of accelerator `acc` one instance takes in `zone`, 0 when the zone has none. */
static int accelerator_max(const struct sim_world *w, const char *zone, const char *acc)
{
    int max = 0;
    for (size_t o = 0; o < w->conf.noffers; o++) {
        const struct sim_offer *of = &w->conf.offers[o];
        const char *name = of->cloud == CORE_CLOUD_GCP && !strcmp(of->zone, zone)
                               ? gcp_accelerator_name(of->gpu)
                               : NULL;
        if (name && !strcmp(name, acc) && of->gpus > max)
            max = of->gpus;
    }
    return max;
}

/* The labels, metadata items and spot flag of an insert body; -1 after replying. */
struct insert {
    const char *name, *type, *image;
    bool spot;
    struct sim_tag labels[64], meta[64];
    size_t nlabels, nmeta;
};

static int read_scheduling(struct sim_world *w, json_t *body, bool gpus, struct insert *in,
                           struct sim_reply *r)
{
    json_t *sch = json_object_get(body, "scheduling");
    const char *model = json_string_value(json_object_get(sch, "provisioningModel"));
    const char *ohm = json_string_value(json_object_get(sch, "onHostMaintenance"));
    const char *action = json_string_value(json_object_get(sch, "instanceTerminationAction"));
    if (model && strcmp(model, "SPOT") && strcmp(model, "STANDARD")) {
        gce_error(w, r, 400, "invalid",
                  "Invalid value for field 'resource.scheduling.provisioningModel': '%.40s'.",
                  model);
        return -1;
    }
    in->spot =
        (model && !strcmp(model, "SPOT")) || json_is_true(json_object_get(sch, "preemptible"));
    if (action && strcmp(action, "STOP") && strcmp(action, "DELETE")) {
        gce_error(w, r, 400, "invalid",
                  "Invalid value for field 'resource.scheduling.instanceTerminationAction': "
                  "'%.40s'.",
                  action);
        return -1;
    }
    if (gpus && (!ohm || strcmp(ohm, "TERMINATE"))) {
        gce_error(w, r, 400, "invalid",
                  "Instances with guest accelerators do not support live migration.");
        return -1;
    }
    return 0;
}

static int read_insert(struct sim_world *w, json_t *body, const char *zone, struct insert *in,
                       struct sim_reply *r)
{
    memset(in, 0, sizeof *in);
    in->name = json_string_value(json_object_get(body, "name"));
    const char *mt = json_string_value(json_object_get(body, "machineType"));
    in->type = last_segment(mt);
    if (!valid_name(in->name)) {
        gce_error(w, r, 400, "invalid",
                  "Invalid value for field 'resource.name': '%.80s'. Must be a match of regex "
                  "'(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'",
                  in->name ? in->name : "");
        return -1;
    }
    const char *zpart = mt ? strstr(mt, "zones/") : NULL;
    if (!in->type || !*in->type || (zpart && strncmp(zpart + 6, zone, strlen(zone)) != 0)) {
        gce_error(w, r, 400, "invalid", "Invalid value for field 'resource.machineType': '%.120s'.",
                  mt ? mt : "");
        return -1;
    }
    json_t *disk = json_array_get(json_object_get(body, "disks"), 0);
    json_t *ip = json_object_get(disk, "initializeParams");
    in->image = json_string_value(json_object_get(ip, "sourceImage"));
    if (!in->image)
        in->image = json_string_value(json_object_get(disk, "source"));
    if (!json_is_true(json_object_get(disk, "boot")) || !in->image) {
        gce_error(w, r, 400, "invalid",
                  "Invalid value for field 'resource.disks': ''. Boot disk must be specified.");
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(body, "labels"), key, v)
    {
        if (in->nlabels == 64 || !valid_label(key, json_string_value(v))) {
            gce_error(w, r, 400, "invalid",
                      "Invalid value for field 'resource.labels': ''. Label '%.64s' violates "
                      "format constraints. The key must start with a lowercase character, can "
                      "only contain lowercase letters, numeric characters, underscores and "
                      "dashes, at most 63 characters.",
                      key);
            return -1;
        }
        in->labels[in->nlabels++] =
            (struct sim_tag){(char *)(uintptr_t)key, (char *)(uintptr_t)json_string_value(v)};
    }
    size_t k;
    json_array_foreach(json_object_get(json_object_get(body, "metadata"), "items"), k, v)
    {
        const char *mk = json_string_value(json_object_get(v, "key"));
        const char *mv = json_string_value(json_object_get(v, "value"));
        size_t kl = mk ? strlen(mk) : 0;
        if (in->nmeta == 64 || !mv || kl < 1 || kl > 128 ||
            strspn(mk, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != kl) {
            gce_error(w, r, 400, "invalid",
                      "Invalid value for field 'resource.metadata': ''. Metadata keys must "
                      "match [a-zA-Z0-9-_]{1,128} and have a value.");
            return -1;
        }
        in->meta[in->nmeta++] = (struct sim_tag){(char *)(uintptr_t)mk, (char *)(uintptr_t)mv};
    }
    json_t *acc = json_object_get(body, "guestAccelerators");
    json_array_foreach(acc, k, v)
    {
        const char *at = last_segment(json_string_value(json_object_get(v, "acceleratorType")));
        json_int_t n = json_integer_value(json_object_get(v, "acceleratorCount"));
        int max = at ? accelerator_max(w, zone, at) : 0;
        if (!max) {
            gce_error(w, r, 400, "invalid",
                      "Invalid value for field 'resource.guestAccelerators[%zu].acceleratorType'"
                      ": '%.80s'. Accelerator type '%.80s' does not exist in zone '%s'.",
                      k, at ? at : "", at ? at : "", zone);
            return -1;
        }
        if (n < 1 || n > max) {
            gce_error(w, r, 400, "invalid",
                      "Invalid value for field 'resource.guestAccelerators[%zu].acceleratorCount'"
                      ": '%lld'. Must be between 1 and %d.",
                      k, (long long)n, max);
            return -1;
        }
    }
    return read_scheduling(w, body, json_array_size(acc) > 0, in, r);
}

/* GCE's words for a launch the world refused, as an operation error (capacity, quota). */
static void op_error_of(const struct sim_error *e, const char *project, const char *zone,
                        const char *region, struct sim_error *out)
{
    *out = *e;
    if (e->kind == SIM_ERR_CAPACITY) {
        out->http_status = 503;
        snprintf(out->code, sizeof out->code, "ZONE_RESOURCE_POOL_EXHAUSTED");
        snprintf(out->message, sizeof out->message,
                 "The zone 'projects/%s/zones/%s' does not have enough resources available to "
                 "fulfill the request.  Try a different zone, or try again later.",
                 project, zone);
        return;
    }
    const char *metric = e->kind == SIM_ERR_QUOTA_SPOT_VCPUS  ? "PREEMPTIBLE_CPUS"
                         : e->kind == SIM_ERR_QUOTA_INSTANCES ? "INSTANCES"
                                                              : "CPUS";
    out->http_status = 403;
    snprintf(out->code, sizeof out->code, "QUOTA_EXCEEDED");
    snprintf(out->message, sizeof out->message, "Quota '%s' exceeded.  Limit: %ld.0 in region %s.",
             metric, e->limit, region);
}

static const struct sim_region *gcp_zone(const struct sim_world *w, const char *zone)
{
    for (size_t g = 0; zone && g < w->conf.nregions; g++)
        for (size_t z = 0;
             w->conf.regions[g].cloud == CORE_CLOUD_GCP && z < w->conf.regions[g].nzones; z++)
            if (!strcmp(w->conf.regions[g].zones[z], zone))
                return &w->conf.regions[g];
    return NULL;
}

/* Starts the operation and replies with it. */
static void start_op(struct sim_world *w, struct sim_operation *in, const char *user, double now,
                     struct sim_reply *r)
{
    struct sim_operation *op = sim_world_start_op(w, in, now);
    if (!op)
        return gce_error(w, r, 500, "backendError", "out of memory");
    r->changed = true;
    reply(w, r, 200, op_json(w, op, user, now));
}

/* A mutating call's requestId (*rid, NULL when none): true when it has been answered here,
 * 400 for one that is not a UUID, or the operation of the same request seen before (the same
 * operation again, nothing done twice), as Compute Engine answers a retried request. */
static bool replayed(struct sim_world *w, struct sim_query *q, const char *project,
                     const char *user, double now, struct sim_reply *r, const char **rid)
{
    *rid = sim_param_get(q->p, q->nquery, "requestId");
    if (*rid && !valid_uuid(*rid)) {
        gce_error(w, r, 400, "invalid",
                  "Invalid value for field 'requestId': '%.60s'. The request id must be a "
                  "valid UUID with the exception that zero UUID is not supported "
                  "(00000000-0000-0000-0000-000000000000).",
                  *rid);
        return true;
    }
    const struct sim_operation *seen =
        *rid ? sim_world_find_op_request(w, CORE_CLOUD_GCP, project, *rid) : NULL;
    if (seen)
        reply(w, r, 200, op_json(w, seen, user, now));
    return seen != NULL;
}

static void insert(struct sim_world *w, struct sim_query *q, const char *project, const char *zone,
                   const char *user, double now, struct sim_reply *r)
{
    const char *rid;
    if (replayed(w, q, project, user, now, r, &rid))
        return;
    json_t *body = json_loadb(q->body, q->body_len, 0, NULL);
    struct insert *in = malloc(sizeof *in);
    const struct sim_region *reg = gcp_zone(w, zone);
    if (!json_is_object(body) || !in) {
        json_decref(body);
        free(in);
        return gce_error(w, r, 400, "parseError", "Parse Error: the body is not a JSON object");
    }
    if (read_insert(w, body, zone, in, r) < 0)
        goto done;
    if (sim_world_find_name(w, CORE_CLOUD_GCP, project, zone, in->name)) {
        gce_error(w, r, 409, "alreadyExists",
                  "The resource 'projects/%s/zones/%s/instances/%s' already exists", project, zone,
                  in->name);
        goto done;
    }
    struct sim_operation op = {.cloud = CORE_CLOUD_GCP,
                               .account = (char *)(uintptr_t)project,
                               .zone = (char *)(uintptr_t)zone,
                               .kind = "insert",
                               .request_id = (char *)(uintptr_t)rid,
                               .target_name = (char *)(uintptr_t)in->name,
                               .done_at = now + w->conf.time_scale * w->conf.pending_min};
    if (sim_world_fault(w, SIM_FAULT_CAPACITY)) {
        struct sim_error e = {.kind = SIM_ERR_CAPACITY};
        op_error_of(&e, project, zone, reg->name, &op.error);
        snprintf(op.error.code, sizeof op.error.code, "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS");
        start_op(w, &op, user, now, r);
        goto done;
    }
    struct sim_run_request rr = {.cloud = CORE_CLOUD_GCP,
                                 .account = project,
                                 .name = in->name,
                                 .meta = in->meta,
                                 .nmeta = in->nmeta,
                                 .region = reg->name,
                                 .zone = zone,
                                 .type = in->type,
                                 .image = in->image,
                                 .min_count = 1,
                                 .max_count = 1,
                                 .spot = in->spot,
                                 .tags = in->labels,
                                 .ntags = in->nlabels};
    struct sim_instance *inst = NULL;
    size_t n = 0;
    struct sim_error e;
    if (sim_world_run(w, &rr, now, &inst, &n, &e) == 0 && n == 1) {
        snprintf(op.target_id, sizeof op.target_id, "%s", inst->id);
        op.done_at = inst->running_at;
        start_op(w, &op, user, now, r);
    } else if (e.kind == SIM_ERR_CAPACITY || e.kind == SIM_ERR_QUOTA_VCPUS ||
               e.kind == SIM_ERR_QUOTA_SPOT_VCPUS || e.kind == SIM_ERR_QUOTA_INSTANCES) {
        op_error_of(&e, project, zone, reg->name, &op.error);
        start_op(w, &op, user, now, r);
    } else if (e.kind == SIM_ERR_NO_TYPE || e.kind == SIM_ERR_TYPE_NOT_IN_ZONE) {
        gce_error(w, r, 400, "invalid",
                  "Invalid value for field 'resource.machineType': "
                  "'zones/%s/machineTypes/%s'. Machine type with name '%s' does not exist in zone "
                  "'%s'.",
                  zone, in->type, in->type, zone);
    } else {
        gce_error(w, r, e.kind == SIM_ERR_INTERNAL ? 500 : 400,
                  e.kind == SIM_ERR_INTERNAL ? "backendError" : "invalid", "%s", e.message);
    }
done:
    json_decref(body);
    free(in);
}

/* ---- the other calls ---- */

static struct sim_instance *instance_or_404(struct sim_world *w, const char *project,
                                            const char *zone, const char *name, struct sim_reply *r)
{
    struct sim_instance *i = sim_world_find_name(w, CORE_CLOUD_GCP, project, zone, name);
    if (!i)
        gce_error(w, r, 404, "notFound",
                  "The resource 'projects/%s/zones/%s/instances/%s' was not found", project, zone,
                  name);
    return i;
}

static void get_instance(struct sim_world *w, const char *project, const char *zone,
                         const char *name, double now, struct sim_reply *r)
{
    const struct sim_instance *i = instance_or_404(w, project, zone, name, r);
    if (i)
        reply(w, r, 200, instance_json(i, now));
}

static void delete_instance(struct sim_world *w, struct sim_query *q, const char *project,
                            const char *zone, const char *name, const char *user, double now,
                            struct sim_reply *r)
{
    const char *rid;
    if (replayed(w, q, project, user, now, r, &rid))
        return;
    struct sim_instance *i = instance_or_404(w, project, zone, name, r);
    if (!i)
        return;
    struct sim_operation op = {.cloud = CORE_CLOUD_GCP,
                               .account = (char *)(uintptr_t)project,
                               .zone = (char *)(uintptr_t)zone,
                               .kind = "delete",
                               .request_id = (char *)(uintptr_t)rid,
                               .target_name = (char *)(uintptr_t)name,
                               .done_at = now};
    snprintf(op.target_id, sizeof op.target_id, "%s", i->id);
    if (i->state == SIM_TERMINATED)
        i->reclaimed = false; /* a preempted VM's remains: gone now */
    else
        sim_world_terminate(w, i, now, false, NULL);
    if (i->state == SIM_SHUTTING_DOWN)
        op.done_at = i->terminate_at;
    start_op(w, &op, user, now, r);
}

/* Reads setMetadata's items into a new list (keys as insert takes them); -1 after replying. */
static int read_items(struct sim_world *w, json_t *items, struct sim_tag **out, size_t *nout,
                      struct sim_reply *r)
{
    *out = NULL;
    *nout = 0;
    size_t n = json_array_size(items), k;
    json_t *v;
    if ((items && !json_is_array(items)) || n > 64 || (n && !(*out = calloc(n, sizeof **out)))) {
        gce_error(w, r, 400, "invalid", "Invalid value for field 'resource.items': ''.");
        return -1;
    }
    json_array_foreach(items, k, v)
    {
        const char *mk = json_string_value(json_object_get(v, "key"));
        const char *mv = json_string_value(json_object_get(v, "value"));
        size_t kl = mk ? strlen(mk) : 0;
        bool ok =
            mv && kl >= 1 && kl <= 128 &&
            strspn(mk, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == kl;
        for (size_t d = 0; ok && d < *nout; d++)
            ok = strcmp((*out)[d].key, mk) != 0;
        char *ck = ok ? strdup(mk) : NULL, *cv = ok ? strdup(mv) : NULL;
        if (!ck || !cv) {
            free(ck);
            free(cv);
            for (size_t d = 0; d < *nout; d++) {
                free((*out)[d].key);
                free((*out)[d].value);
            }
            free(*out);
            *out = NULL;
            gce_error(w, r, 400, "invalid",
                      "Invalid value for field 'resource.items[%zu]': ''. Metadata keys must be "
                      "unique, match [a-zA-Z0-9-_]{1,128} and have a value.",
                      k);
            return -1;
        }
        (*out)[(*nout)++] = (struct sim_tag){ck, cv};
    }
    return 0;
}

/* instances.setMetadata: the item list replaced as a whole when the request's fingerprint is
 * the current one (412 conditionNotMet otherwise, as GCE), done at once; a new
 * gpuform-verify-request item wakes the node's watcher (sim_agent_request). */
static void set_metadata(struct sim_world *w, struct sim_query *q, const char *project,
                         const char *zone, const char *name, const char *user, double now,
                         struct sim_reply *r)
{
    const char *rid;
    if (replayed(w, q, project, user, now, r, &rid))
        return;
    struct sim_instance *i = instance_or_404(w, project, zone, name, r);
    if (!i)
        return;
    json_t *body = json_loadb(q->body ? q->body : "", q->body_len, 0, NULL);
    const char *fp = json_string_value(json_object_get(body, "fingerprint"));
    char cur[16];
    fingerprint(i, cur);
    struct sim_tag *items = NULL;
    size_t n = 0;
    if (!json_is_object(body)) {
        gce_error(w, r, 400, "badRequest", "Invalid JSON payload received.");
    } else if (!fp || strcmp(fp, cur)) {
        gce_error(w, r, 412, "conditionNotMet",
                  "Supplied fingerprint does not match current metadata fingerprint.");
    } else if (read_items(w, json_object_get(body, "items"), &items, &n, r) == 0) {
        const char *req = sim_agent_request_of(i);
        char *before = req ? strdup(req) : NULL;
        for (size_t k = 0; k < i->nmeta; k++) {
            free(i->meta[k].key);
            free(i->meta[k].value);
        }
        free(i->meta);
        i->meta = items;
        i->nmeta = n;
        sim_agent_request(w, i, before);
        free(before);
        struct sim_operation op = {.cloud = CORE_CLOUD_GCP,
                                   .account = (char *)(uintptr_t)project,
                                   .zone = (char *)(uintptr_t)zone,
                                   .kind = "setMetadata",
                                   .request_id = (char *)(uintptr_t)rid,
                                   .target_name = (char *)(uintptr_t)name,
                                   .done_at = now};
        snprintf(op.target_id, sizeof op.target_id, "%s", i->id);
        start_op(w, &op, user, now, r);
    }
    json_decref(body);
}

static void operation(struct sim_world *w, struct sim_query *q, const char *project,
                      const char *zone, const char *name, bool wait, const char *user, double now,
                      struct sim_reply *r)
{
    const struct sim_operation *op = sim_world_find_op(w, CORE_CLOUD_GCP, project, name);
    if (!op || strcmp(op->zone, zone))
        return gce_error(w, r, 404, "notFound",
                         "The resource 'projects/%s/zones/%s/operations/%s' was not found", project,
                         zone, name);
    double until = q->arrived + WAIT_MAX_S;
    if (wait && now < op->done_at && now < until && !q->last) {
        double t = op->done_at < until ? op->done_at : until;
        r->redo_ms = (t - now) * 1000 + 1; /* asked again then; the reply waits */
        return;
    }
    reply(w, r, 200, op_json(w, op, user, now));
}

static void serial_port(struct sim_world *w, struct sim_query *q, const char *project,
                        const char *zone, const char *name, struct sim_reply *r)
{
    const char *port = sim_param_get(q->p, q->nquery, "port");
    if (port && (strlen(port) != 1 || port[0] < '1' || port[0] > '4'))
        return gce_error(w, r, 400, "invalid", "Invalid value for field 'port': '%.20s'.", port);
    const struct sim_instance *i = instance_or_404(w, project, zone, name, r);
    if (!i)
        return;
    char *text = sim_console_output(i);
    char url[512], next[32];
    snprintf(url, sizeof url, API "%s/zones/%s/instances/%s/serialPort", project, zone, name);
    snprintf(next, sizeof next, "%zu", text ? strlen(text) : 0);
    reply(w, r, 200,
          text ? json_pack("{s:s, s:s, s:s, s:s, s:s}", "kind", "compute#serialPortOutput",
                           "contents", text, "start", "0", "next", next, "selfLink", url)
               : NULL);
    free(text);
}

static void region(struct sim_world *w, const char *project, const char *name, struct sim_reply *r)
{
    const struct sim_region *reg = sim_world_region(w, CORE_CLOUD_GCP, name);
    if (!reg)
        return gce_error(w, r, 404, "notFound",
                         "The resource 'projects/%s/regions/%s' was not found", project, name);
    json_t *zones = json_array();
    char url[512];
    for (size_t z = 0; z < reg->nzones; z++) {
        snprintf(url, sizeof url, API "%s/zones/%s", project, reg->zones[z]);
        json_array_append_new(zones, json_string(url));
    }
    snprintf(url, sizeof url, API "%s/regions/%s", project, name);
    reply(w, r, 200,
          json_pack("{s:s, s:s, s:s, s:o, s:s}", "kind", "compute#region", "name", name, "status",
                    "UP", "zones", zones, "selfLink", url));
}

static void machine_type(struct sim_world *w, const char *project, const char *zone,
                         const char *name, struct sim_reply *r)
{
    const struct sim_offer *o = sim_world_offer(w, CORE_CLOUD_GCP, zone, name);
    if (!o)
        return gce_error(w, r, 404, "notFound",
                         "The resource 'projects/%s/zones/%s/machineTypes/%s' was not found",
                         project, zone, name);
    char url[512], desc[64];
    snprintf(url, sizeof url, API "%s/zones/%s/machineTypes/%s", project, zone, name);
    snprintf(desc, sizeof desc, "%g vCPUs, %g GB RAM", o->vcpus, o->ram_gib);
    json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:I, s:s, s:s}", "kind", "compute#machineType",
                          "name", name, "description", desc, "guestCpus", (int)o->vcpus, "memoryMb",
                          (json_int_t)(o->ram_gib * 1024), "zone", zone, "selfLink", url);
    const char *acc = gcp_accelerator_name(o->gpu);
    if (j && acc && !gcp_type_takes_accelerators(name))
        json_object_set_new(j, "accelerators",
                            json_pack("[{s:s, s:i}]", "guestAcceleratorType", acc,
                                      "guestAcceleratorCount", o->gpus));
    reply(w, r, 200, j);
}

static void accelerator_type(struct sim_world *w, const char *project, const char *zone,
                             const char *name, struct sim_reply *r)
{
    int max = accelerator_max(w, zone, name);
    char url[512];
    if (!max)
        return gce_error(w, r, 404, "notFound",
                         "The resource 'projects/%s/zones/%s/acceleratorTypes/%s' was not found",
                         project, zone, name);
    snprintf(url, sizeof url, API "%s/zones/%s/acceleratorTypes/%s", project, zone, name);
    reply(w, r, 200,
          json_pack("{s:s, s:s, s:s, s:i, s:s, s:s}", "kind", "compute#acceleratorType", "name",
                    name, "description", name, "maximumCardsPerInstance", max, "zone", url,
                    "selfLink", url));
}

/* ---- dispatch ---- */

/* The path's segments after /compute/v1/projects/ (at most 8), in place in buf. */
static size_t segments(const char *path, char *buf, size_t buflen, char **seg)
{
    snprintf(buf, buflen, "%s", path + strlen("/compute/v1/projects/"));
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(buf, "/", &save); t && n < 8;
         t = strtok_r(NULL, "/", &save))
        seg[n++] = t;
    return n;
}

/* Which token bucket a call draws from, and whether it may get the capacity fault. */
static enum sim_family family(const char *method, char **seg, size_t n)
{
    if (n == 4 && !strcmp(seg[3], "instances") && !strcmp(method, "POST"))
        return SIM_FAM_RUN;
    if (!strcmp(method, "DELETE"))
        return SIM_FAM_TERMINATE;
    if (!strcmp(method, "GET") || (n == 6 && !strcmp(seg[5], "wait")))
        return SIM_FAM_DESCRIBE;
    return SIM_FAM_MUTATING;
}

static void route(struct sim_world *w, struct sim_query *q, char **seg, size_t n, const char *user,
                  double now, struct sim_reply *r)
{
    const char *m = q->method, *project = seg[0];
    bool get = !strcmp(m, "GET");
    if (n == 3 && get && !strcmp(seg[1], "regions"))
        return region(w, project, seg[2], r);
    if (n == 3 && get && !strcmp(seg[1], "aggregated") && !strcmp(seg[2], "instances"))
        return list_aggregated(w, q, project, now, r);
    if (n < 4 || strcmp(seg[1], "zones"))
        return gce_error(w, r, 404, "notFound", "The requested URL %.200s was not found", q->path);
    const char *zone = seg[2], *what = seg[3];
    if (!gcp_zone(w, zone))
        return gce_error(w, r, 404, "notFound", "The resource 'projects/%s/zones/%s' was not found",
                         project, zone);
    if (!strcmp(what, "instances")) {
        if (n == 4 && get)
            return list_zone(w, q, project, zone, now, r);
        if (n == 4 && !strcmp(m, "POST"))
            return insert(w, q, project, zone, user, now, r);
        if (n == 5 && get)
            return get_instance(w, project, zone, seg[4], now, r);
        if (n == 5 && !strcmp(m, "DELETE"))
            return delete_instance(w, q, project, zone, seg[4], user, now, r);
        if (n == 6 && get && !strcmp(seg[5], "serialPort"))
            return serial_port(w, q, project, zone, seg[4], r);
        if (n == 6 && !strcmp(m, "POST") && !strcmp(seg[5], "setMetadata"))
            return set_metadata(w, q, project, zone, seg[4], user, now, r);
    } else if (!strcmp(what, "operations") && n >= 5) {
        if (n == 5 && get)
            return operation(w, q, project, zone, seg[4], false, user, now, r);
        if (n == 6 && !strcmp(m, "POST") && !strcmp(seg[5], "wait"))
            return operation(w, q, project, zone, seg[4], true, user, now, r);
    } else if (n == 5 && get && !strcmp(what, "machineTypes")) {
        return machine_type(w, project, zone, seg[4], r);
    } else if (n == 5 && get && !strcmp(what, "acceleratorTypes")) {
        return accelerator_type(w, project, zone, seg[4], r);
    }
    gce_error(w, r, 404, "notFound", "The requested URL %.200s was not found (method %s)", q->path,
              m);
}

/* Throttling and injected faults, once per request (not on redo rounds): true when they
 * answered. */
static bool meter(struct sim_world *w, const char *method, char **seg, size_t n, double now,
                  struct sim_reply *r)
{
    char region[64] = "";
    if (n >= 3 && !strcmp(seg[1], "zones"))
        gcp_zone_region(seg[2], region);
    else if (n >= 3 && !strcmp(seg[1], "regions"))
        snprintf(region, sizeof region, "%s", seg[2]);
    if (sim_world_fault(w, SIM_FAULT_THROTTLE) ||
        !sim_world_take_token(w, region, family(method, seg, n), now)) {
        gce_error(w, r, 429, "rateLimitExceeded", "Rate Limit Exceeded");
        return true;
    }
    if (sim_world_fault(w, SIM_FAULT_TIMEOUT)) {
        r->close = true;
        r->hold_ms = w->conf.timeout_hold_ms;
        return true;
    }
    if (sim_world_fault(w, SIM_FAULT_INTERNAL)) {
        gce_error(w, r, 500, "backendError", "Internal error (injected by cloudsim)");
        return true;
    }
    if (sim_world_fault(w, SIM_FAULT_UNAVAILABLE)) {
        gce_error(w, r, 503, "backendError",
                  "The service is currently unavailable (injected by cloudsim).");
        return true;
    }
    return false;
}

void sim_gce_handle(struct sim_world *w, struct sim_query *q, double now, struct sim_reply *r)
{
    memset(r, 0, sizeof *r);
    sim_world_advance(w, now);
    if (q->redo == 0) {
        w->requests++;
        r->latency_ms = sim_world_latency(w);
    }
    if (q->too_big)
        return gce_error(w, r, 413, "badRequest",
                         "The request body is larger than cloudsim accepts (%zu bytes)",
                         q->max_body);
    if (!strcmp(q->path, "/token"))
        return token_endpoint(w, q, now, r);
    char project[128], user[256], buf[1024], *seg[8];
    size_t n = segments(q->path, buf, sizeof buf, seg);
    if (check_bearer(w, q, now, project, user, r) < 0)
        return;
    if (n < 1 || strcmp(seg[0], project))
        return gce_error(w, r, 403, "forbidden",
                         "Required 'compute.instances.list' permission for 'projects/%.100s' "
                         "(the token is for project '%s')",
                         n ? seg[0] : "", project);
    if (q->redo == 0 && meter(w, q->method, seg, n, now, r))
        return;
    route(w, q, seg, n, user, now, r);
    if (q->redo == 0 && r->status == 200 && !r->redo_ms && sim_world_fault(w, SIM_FAULT_MALFORMED))
        sim_reply_malform(w, r);
}

/* ---- service accounts from key files ---- */

int sim_gce_account_from_key(struct sim_config *c, const char *json, size_t len,
                             const char *project, char *why, size_t whylen)
{
    struct gcp_credentials cred;
    if (gcp_credentials_parse(json, len, "the key file", &cred, why, whylen) != 0)
        return -1;
    int rc = -1;
    BIO *b = BIO_new(BIO_s_mem());
    char *pem = NULL;
    long n = 0;
    if (cred.kind != GCP_CRED_SERVICE_ACCOUNT) {
        snprintf(why, whylen, "the key file is not a service account's");
    } else if (!b || PEM_write_bio_PUBKEY(b, (EVP_PKEY *)cred.pkey) != 1 ||
               (n = BIO_get_mem_data(b, &pem)) <= 0) {
        snprintf(why, whylen, "cannot derive the public key (OpenSSL)");
    } else {
        char *copy = strndup(pem, (size_t)n);
        rc = copy && sim_config_add_gcp_account(c, cred.client_email,
                                                project && *project ? project
                                                : *cred.project_id  ? cred.project_id
                                                                    : "cloudsim",
                                                copy) == 0
                 ? 0
                 : -1;
        if (rc != 0)
            snprintf(why, whylen, "out of memory");
        free(copy);
    }
    BIO_free(b);
    gcp_credentials_release(&cred);
    return rc;
}

int sim_gce_generate_account(struct sim_config *c, const char *project, struct sim_gce_key *out,
                             char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    snprintf(out->project, sizeof out->project, "%s", project && *project ? project : "cloudsim");
    snprintf(out->email, sizeof out->email, "gpuform-sim@%s.iam.gserviceaccount.com", out->project);
    EVP_PKEY *k = EVP_RSA_gen(2048);
    BIO *priv = BIO_new(BIO_s_mem()), *pub = BIO_new(BIO_s_mem());
    char *p = NULL, *q = NULL;
    long np = 0, nq = 0;
    int rc = -1;
    if (k && priv && pub && PEM_write_bio_PrivateKey(priv, k, NULL, NULL, 0, NULL, NULL) == 1 &&
        PEM_write_bio_PUBKEY(pub, k) == 1 && (np = BIO_get_mem_data(priv, &p)) > 0 &&
        (nq = BIO_get_mem_data(pub, &q)) > 0) {
        out->private_pem = strndup(p, (size_t)np);
        char *pubpem = strndup(q, (size_t)nq);
        if (out->private_pem && pubpem &&
            sim_config_add_gcp_account(c, out->email, out->project, pubpem) == 0)
            rc = 0;
        free(pubpem);
    }
    if (p && np > 0)
        OPENSSL_cleanse(p, (size_t)np);
    BIO_free(priv);
    BIO_free(pub);
    EVP_PKEY_free(k);
    if (rc != 0) {
        snprintf(why, whylen, "cannot make a service-account key for the simulated GCP (OpenSSL)");
        sim_gce_key_release(out);
    }
    return rc;
}

int sim_gce_write_key_file(const struct sim_gce_key *k, const char *token_uri, const char *path,
                           char *why, size_t whylen)
{
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "type", "service_account", "project_id",
                  k->project, "private_key_id", "cloudsim", "private_key", k->private_pem,
                  "client_email", k->email, "client_id", "0", "token_uri", token_uri);
    char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    json_decref(j);
    int e = text ? core_write_atomic(path, text, strlen(text), 0600) : ENOMEM;
    if (text) {
        OPENSSL_cleanse(text, strlen(text));
        free(text);
    }
    if (e) {
        snprintf(why, whylen, "cannot write the simulated GCP key file '%s': %s", path,
                 strerror(e));
        return -1;
    }
    return 0;
}

void sim_gce_key_release(struct sim_gce_key *k)
{
    if (k->private_pem) {
        OPENSSL_cleanse(k->private_pem, strlen(k->private_pem));
        free(k->private_pem);
    }
    memset(k, 0, sizeof *k);
}
