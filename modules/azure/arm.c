/*
 * The Azure provider over Azure Resource Manager's REST API: JSON over HTTPS with a bearer
 * token, through core/http (timeouts, TLS, retries with jitter and Retry-After, token
 * buckets, redaction). VMs are PUT by a name derived from the node's token, so a repeated
 * create is the same VM; long-running operations are followed through their
 * Azure-AsyncOperation or Location header. Only the endpoints differ between Azure and
 * cloudsim.
 */
#include "modules/azure/arm.h"

#include <ctype.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/http.h"
#include "modules/azure/arm_json.h"
#include "modules/azure/credentials.h"
#include "parser/spec.h"

#define DEFAULT_ENDPOINT "https://management.azure.com"
#define DEFAULT_IMAGE    "microsoft-dsvm:ubuntu-hpc:2204:latest"
#define DEFAULT_ADMIN    "gpuform"
#define MAX_PAGES        10000
#define LRO_TIMEOUT_MS   (60ull * 60 * 1000) /* Azure VMs take 1-16 minutes; give up at 60 */
#define LRO_POLL_MS      5000ull             /* when the reply names no Retry-After */
#define LRO_POLL_MIN_MS  20ull
#define LRO_POLL_MAX_MS  60000ull
#define MAX_CUSTOM_DATA  87380 /* base64 of Azure's 65,535-byte customData limit */
#define BLOB_MAX_BYTES   ((size_t)8 << 20)

struct azure {
    struct prov base;
    struct azure_credential *cred;
    struct core_http_client *http;
    bool own_http;
    char endpoint[512]; /* ARM, no trailing slash */
    char subscription[64];
    char group[96];
    char subnet[1024]; /* a subnet id, "{region}" replaced by the VM's location */
    char image[512];
    char admin[64];
};

/* ---- error classes ---- */

static const struct {
    const char *code;
    enum prov_error_class cls;
} codes[] = {
    {"SkuNotAvailable", PROV_CAPACITY},
    {"AllocationFailed", PROV_CAPACITY},
    {"ZonalAllocationFailed", PROV_CAPACITY},
    {"OverconstrainedAllocationRequest", PROV_CAPACITY},
    {"OverconstrainedZonalAllocationRequest", PROV_CAPACITY},
    {"QuotaExceeded", PROV_QUOTA},
    /* on a create almost always "... exceeding approved ... Cores quota";
     * azure_classify_message looks at the wording */
    {"OperationNotAllowed", PROV_QUOTA},
    {"TooManyRequests", PROV_THROTTLED},
    {"SubscriptionRequestsThrottled", PROV_THROTTLED},
    {"ResourceNotFound", PROV_NOT_FOUND},
    {"NotFound", PROV_NOT_FOUND},
    {"AuthenticationFailed", PROV_AUTH},
    {"AuthorizationFailed", PROV_AUTH},
    {"LinkedAuthorizationFailed", PROV_AUTH},
    {"InvalidAuthenticationToken", PROV_AUTH},
    {"InvalidAuthenticationTokenTenant", PROV_AUTH},
    {"ExpiredAuthenticationToken", PROV_AUTH},
    {"SubscriptionNotFound", PROV_AUTH},
    {"InvalidParameter", PROV_INVALID},
    {"InvalidRequestContent", PROV_INVALID},
    {"InvalidRequestFormat", PROV_INVALID},
    {"BadRequest", PROV_INVALID},
    {"PropertyChangeNotAllowed", PROV_INVALID},
    {"InvalidResourceReference", PROV_INVALID},
    {"ResourceGroupNotFound", PROV_INVALID},
    {"InvalidApiVersionParameter", PROV_INVALID},
    {"NoRegisteredProviderFound", PROV_INVALID},
    {"MissingSubscriptionRegistration", PROV_INVALID},
    {"PlatformImageNotFound", PROV_INVALID},
    {"InternalServerError", PROV_TRANSIENT},
    {"InternalExecutionError", PROV_TRANSIENT},
    {"ServiceUnavailable", PROV_TRANSIENT},
    {"GatewayTimeout", PROV_TRANSIENT},
    {"ServerTimeout", PROV_TRANSIENT},
    {"RetryableError", PROV_TRANSIENT},
    {"AnotherOperationInProgress", PROV_TRANSIENT},
    {"OperationPreempted", PROV_TRANSIENT},
};

enum prov_error_class azure_classify(const char *code, long http_status)
{
    for (size_t i = 0; code && i < sizeof codes / sizeof *codes; i++)
        if (strcmp(codes[i].code, code) == 0)
            return codes[i].cls;
    if (http_status >= 500 || http_status == 0)
        return PROV_TRANSIENT;
    if (http_status == 429)
        return PROV_THROTTLED;
    if (http_status == 404)
        return PROV_NOT_FOUND;
    if (http_status == 401 || http_status == 403)
        return PROV_AUTH;
    return PROV_INVALID;
}

enum prov_error_class azure_classify_message(const char *code, const char *message,
                                             long http_status)
{
    enum prov_error_class cls = azure_classify(code, http_status);
    if (code && !strcmp(code, "OperationNotAllowed") && !(message && strcasestr(message, "quota")))
        return PROV_INVALID;
    return cls;
}

/* Which ARM error replies are worth sending again as they are: throttling and Azure's own
 * failures, not capacity or quota (another place is the answer to those). */
static bool arm_should_retry(void *ctx, const struct core_http_response *resp)
{
    (void)ctx;
    char code[96], msg[8];
    if (arm_parse_error(resp->body.data, resp->body.len, code, sizeof code, msg, sizeof msg) != 0)
        return resp->status >= 500 || resp->status == 429; /* not ARM speaking: a proxy */
    enum prov_error_class cls = azure_classify(code, resp->status);
    return cls == PROV_TRANSIENT || cls == PROV_THROTTLED;
}

/* ---- names ---- */

void azure_vm_name(const char *address, const char *token, char *out)
{
    char slug[41];
    size_t n = 0;
    for (const char *p = address ? address : ""; *p && n < sizeof slug - 1; p++) {
        unsigned char ch = (unsigned char)*p;
        if (isalnum(ch) && ch < 128)
            slug[n++] = (char)tolower(ch);
        else if (n > 0 && slug[n - 1] != '-')
            slug[n++] = '-';
    }
    while (n > 0 && slug[n - 1] == '-')
        n--;
    slug[n] = '\0';
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)(token ? token : ""), token ? strlen(token) : 0, md);
    char hex[13];
    for (int i = 0; i < 6; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    snprintf(out, AZURE_VM_NAME_MAX + 1, "gf-%s%s%s", slug, n ? "-" : "", hex);
}

int azure_zone(const char *region, const char *zone, char out[8])
{
    out[0] = '\0';
    if (!zone || !*zone)
        return 0;
    size_t rn = region ? strlen(region) : 0;
    if (rn && !strncmp(zone, region, rn) && zone[rn] == '-')
        zone += rn + 1;
    if (strlen(zone) > 2 || !*zone || strspn(zone, "0123456789") != strlen(zone))
        return -1;
    snprintf(out, 8, "%s", zone);
    return 0;
}

/* A VM name as Azure allows it (and as a URL path segment needs no escaping). */
static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 64 && s[0] != '-' && s[n - 1] != '-' &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == n;
}

/* ---- requests ---- */

/* Appends to err->message (cut where it is full). */
static void fail_more(struct prov_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fail_more(struct prov_error *err, const char *fmt, ...)
{
    size_t n = strlen(err->message);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message + n, sizeof err->message - n, fmt, ap);
    va_end(ap);
}

struct arm_req {
    const char *method;
    const char *url;
    const char *body; /* JSON, or NULL */
    const char *region;
    const char *what; /* "PUT virtualMachines/gf-x", for messages */
};

/* "GET" -> read, "DELETE" -> delete, others -> write: ARM's buckets. */
static const char *family(const char *method)
{
    return !strcmp(method, "GET") ? "read" : !strcmp(method, "DELETE") ? "delete" : "write";
}

/* Fills err from a failed call: ARM's code and message when it sent one. */
static void call_failed(struct azure *a, const struct arm_req *r,
                        const struct core_http_response *resp, const struct core_http_error *he,
                        struct prov_error *err)
{
    char code[96], msg[512];
    if (he->cls == CORE_HTTP_ERR_STATUS &&
        arm_parse_error(resp->body.data, resp->body.len, code, sizeof code, msg, sizeof msg) == 0) {
        enum prov_error_class cls = azure_classify_message(code, msg, he->status);
        prov_error_set(err, cls, "azure %s %s: %s: %s", r->region, r->what, code, msg);
        if (cls == PROV_AUTH)
            fail_more(err, " (credentials from %s)", azure_credential_source(a->cred));
        if (!strcmp(code, "ResourceGroupNotFound"))
            fail_more(err, "; create it ('az group create') or set AZURE_RESOURCE_GROUP");
        snprintf(err->code, sizeof err->code, "%s", code);
    } else {
        enum prov_error_class cls = he->cls == CORE_HTTP_ERR_STATUS
                                        ? azure_classify(NULL, he->status)
                                    : he->cls == CORE_HTTP_ERR_TLS ? PROV_INVALID
                                                                   : PROV_TRANSIENT;
        prov_error_set(err, cls, "azure %s %s: %s", r->region, r->what, he->message);
    }
    err->http_status = he->status;
    snprintf(err->request_id, sizeof err->request_id, "%s", resp->request_id);
    azure_redact(a->http, err);
}

/* One attempt series with the bearer token; *refused set when ARM refused the token.
 * -1 when the HTTP call failed (he says why), -2 when no token was had (err says why). */
static int send_once(struct azure *a, const struct arm_req *r, struct core_http_response *resp,
                     struct core_http_error *he, bool *refused, struct prov_error *err)
{
    char *token = NULL;
    core_http_response_init(resp);
    if (azure_credential_token(a->cred, &token, err) != 0)
        return -2;
    size_t alen = strlen(token) + 32;
    char *auth = malloc(alen);
    if (!auth) {
        azure_token_free(token);
        prov_error_set(err, PROV_TRANSIENT, "azure: out of memory");
        return -2;
    }
    snprintf(auth, alen, "Authorization: Bearer %s", token);
    azure_token_free(token);
    char rate_key[160];
    snprintf(rate_key, sizeof rate_key, "azure/%s/arm:%s", r->region, family(r->method));
    const char *headers[] = {
        auth, "Accept: application/json",
        r->body ? "Content-Type: application/json" : "Expect:", "Expect:", NULL};
    struct core_http_request req = {
        .method = r->method,
        .url = r->url,
        .headers = headers,
        .body = r->body,
        .body_len = r->body ? strlen(r->body) : 0,
        /* GET, PUT and DELETE are idempotent in ARM; the only POST asks for a link */
        .idempotent = true,
        .rate_key = rate_key,
        .should_retry = arm_should_retry,
    };
    int rc = core_http_do(a->http, &req, resp, he);
    OPENSSL_cleanse(auth, strlen(auth));
    free(auth);
    char code[96], msg[8];
    *refused =
        rc != 0 && he->status == 401 &&
        arm_parse_error(resp->body.data, resp->body.len, code, sizeof code, msg, sizeof msg) == 0 &&
        (!strcmp(code, "InvalidAuthenticationToken") ||
         !strcmp(code, "ExpiredAuthenticationToken"));
    return rc;
}

/*
 * Sends one ARM request. 0 with *resp holding the reply (status < 400; release it), or -1
 * with err filled (ARM's code and class, transient for the network, the request id).
 * A token ARM calls expired or invalid is fetched again once.
 */
static int arm_do(struct azure *a, const struct arm_req *r, struct core_http_response *resp,
                  struct prov_error *err)
{
    struct core_http_error he;
    bool refused = false;
    int rc = send_once(a, r, resp, &he, &refused, err);
    if (rc == -1 && refused) {
        azure_credential_invalidate(a->cred);
        core_http_response_release(resp);
        rc = send_once(a, r, resp, &he, &refused, err);
    }
    if (rc == -1)
        call_failed(a, r, resp, &he, err);
    return rc == 0 ? 0 : -1;
}

/* The subscription's resource group URL: ENDPOINT/subscriptions/S/resourceGroups/G. */
static void group_url(const struct azure *a, char *out, size_t n)
{
    snprintf(out, n, "%s/subscriptions/%s/resourceGroups/%s", a->endpoint, a->subscription,
             a->group);
}

static void vm_url(const struct azure *a, const char *name, const char *tail, char *out, size_t n)
{
    char g[400];
    group_url(a, g, sizeof g);
    snprintf(out, n, "%s/providers/Microsoft.Compute/virtualMachines/%s%s?api-version=%s%s", g,
             name, tail && *tail == '/' ? tail : "", AZURE_COMPUTE_API,
             tail && *tail == '&' ? tail : "");
}

static void nic_id(const struct azure *a, const char *vm, char *out, size_t n)
{
    snprintf(out, n,
             "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/networkInterfaces/"
             "%s-nic",
             a->subscription, a->group, vm);
}

/* A link from a reply (nextLink, an operation) is followed with the token only when it is
 * on the ARM endpoint itself. */
static bool on_endpoint(const struct azure *a, const char *url)
{
    size_t n = strlen(a->endpoint);
    return !strncmp(url, a->endpoint, n) && url[n] == '/';
}

/* ---- long-running operations ---- */

static uint64_t poll_delay(struct azure *a, const struct core_http_response *resp)
{
    const char *ra = core_http_response_header(resp, "Retry-After");
    uint64_t ms = LRO_POLL_MS;
    if (ra && core_http_parse_retry_after(ra, core_http_unix_s(a->http), &ms) != 0)
        ms = LRO_POLL_MS;
    return ms < LRO_POLL_MIN_MS ? LRO_POLL_MIN_MS : ms > LRO_POLL_MAX_MS ? LRO_POLL_MAX_MS : ms;
}

/*
 * Follows the operation a PUT or DELETE started (`first` is its reply) until it ends:
 * Azure-AsyncOperation (a status document: InProgress, then Succeeded, Failed or Canceled
 * with an error) is preferred to Location (202 while running, then the result); neither
 * means the call was synchronous. Waits Retry-After (else 5 s) between polls on the HTTP
 * client's clock, for at most an hour. 0 when it succeeded; -1 with err: the operation's
 * own error code and class when it failed.
 */
static int lro_wait(struct azure *a, const struct arm_req *r,
                    const struct core_http_response *first, struct prov_error *err)
{
    const char *async = core_http_response_header(first, "Azure-AsyncOperation");
    const char *loc = core_http_response_header(first, "Location");
    if (!async && !loc)
        return 0;
    char url[2048], what[200];
    snprintf(url, sizeof url, "%s", async ? async : loc);
    if (!on_endpoint(a, url)) {
        prov_error_set(
            err, PROV_INVALID,
            "azure %s %s: the operation to follow is at '%.300s', not on the ARM endpoint '%s'; "
            "not sending the token there",
            r->region, r->what, url, a->endpoint);
        return -1;
    }
    snprintf(what, sizeof what, "%s (polling its operation)", r->what);
    struct arm_req poll = {"GET", url, NULL, r->region, what};
    uint64_t delay = poll_delay(a, first);
    uint64_t deadline = core_http_now_ms(a->http) + LRO_TIMEOUT_MS;
    for (;;) {
        if (core_http_now_ms(a->http) + delay > deadline) {
            prov_error_set(
                err, PROV_TRANSIENT,
                "azure %s %s: still running after %llu minutes; it may yet finish (gpuform "
                "settles it by the VM's token)",
                r->region, r->what, LRO_TIMEOUT_MS / 60000);
            return -1;
        }
        core_http_sleep_ms(a->http, delay);
        struct core_http_response resp;
        if (arm_do(a, &poll, &resp, err) != 0) {
            core_http_response_release(&resp);
            return -1; /* for Location, the failed operation's own error */
        }
        delay = poll_delay(a, &resp);
        if (!async) {
            bool running = resp.status == 202;
            core_http_response_release(&resp);
            if (running)
                continue;
            return 0;
        }
        enum arm_op_status st;
        char code[96], msg[512], why[160];
        int prc = arm_parse_operation(resp.body.data, resp.body.len, &st, code, sizeof code, msg,
                                      sizeof msg, why, sizeof why);
        char rid[128];
        snprintf(rid, sizeof rid, "%s", resp.request_id);
        core_http_response_release(&resp);
        if (prc != 0) {
            prov_error_set(err, PROV_TRANSIENT,
                           "azure %s %s: Azure sent a reply gpuform can't read: %s", r->region,
                           what, why);
            snprintf(err->request_id, sizeof err->request_id, "%s", rid);
            return -1;
        }
        if (st == ARM_OP_IN_PROGRESS)
            continue;
        if (st == ARM_OP_SUCCEEDED)
            return 0;
        if (!*code)
            snprintf(code, sizeof code, "%s", st == ARM_OP_CANCELED ? "Canceled" : "Failed");
        enum prov_error_class cls = azure_classify_message(code, msg, 200);
        /* a failed operation with no known code is Azure's failure, not ours */
        if (cls == PROV_INVALID && !strcmp(code, st == ARM_OP_CANCELED ? "Canceled" : "Failed"))
            cls = PROV_TRANSIENT;
        prov_error_set(err, cls, "azure %s %s: %s: %s", r->region, r->what, code,
                       *msg ? msg : "the operation ended without a message");
        snprintf(err->code, sizeof err->code, "%s", code);
        snprintf(err->request_id, sizeof err->request_id, "%s", rid);
        azure_redact(a->http, err);
        return -1;
    }
}

/* A PUT or DELETE followed to its end. For DELETE, a resource already gone is success. */
static int arm_change(struct azure *a, const struct arm_req *r, struct prov_error *err)
{
    struct core_http_response resp;
    int rc = arm_do(a, r, &resp, err);
    if (rc == 0)
        rc = lro_wait(a, r, &resp, err);
    else if (!strcmp(r->method, "DELETE") && err->cls == PROV_NOT_FOUND)
        rc = 0;
    core_http_response_release(&resp);
    return rc;
}

/* ---- the vtable ---- */

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static bool is_guid_like(const char *s)
{
    size_t n = strlen(s);
    return n >= 8 && n < 64 && strspn(s, "0123456789abcdefABCDEF-") == n;
}

static bool valid_group(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 90 && s[n - 1] != '.' &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-()") == n;
}

static bool loopback_or_https(const char *url)
{
    return !strncmp(url, "https://", 8) || !strncmp(url, "http://127.0.0.1", 16) ||
           !strncmp(url, "http://localhost", 16) || !strncmp(url, "http://[::1]", 12);
}

/* The environment as the stack overrides it: its tenant, client_id and client_secret
 * (`ctx`, a struct spec_cloud, may be NULL) stand for AZURE_TENANT_ID, AZURE_CLIENT_ID and
 * AZURE_CLIENT_SECRET. */
static const char *stack_env(const char *name, void *ctx)
{
    const struct spec_cloud *sc = ctx;
    const char *v = !sc                                    ? NULL
                    : !strcmp(name, "AZURE_TENANT_ID")     ? sc->tenant
                    : !strcmp(name, "AZURE_CLIENT_ID")     ? sc->client_id
                    : !strcmp(name, "AZURE_CLIENT_SECRET") ? sc->client_secret
                                                           : NULL;
    return v && *v ? v : getenv(name);
}

/* Reads the settings of docs/providers.md into a (the stack's first, then the
 * environment); 0, or -1 with err (class auth/invalid). */
static int configure(struct azure *a, const struct prov_config *cfg, struct prov_error *err)
{
    const struct spec_cloud *sc = cfg ? cfg->stack : NULL;
    const char *sub = sc && sc->subscription && *sc->subscription ? sc->subscription
                                                                  : env("AZURE_SUBSCRIPTION_ID");
    const char *group = sc && sc->resource_group && *sc->resource_group
                            ? sc->resource_group
                            : env("AZURE_RESOURCE_GROUP");
    if (!sub || !group) {
        prov_error_set(
            err, PROV_AUTH,
            "azure: %s%s%s %s not set; gpuform makes its VMs in one subscription and resource "
            "group (docs/providers.md)",
            !sub ? "AZURE_SUBSCRIPTION_ID" : "", !sub && !group ? " and " : "",
            !group ? "AZURE_RESOURCE_GROUP" : "", !sub && !group ? "are" : "is");
        return -1;
    }
    if (!is_guid_like(sub) || !valid_group(group)) {
        prov_error_set(err, PROV_INVALID, "azure: %s",
                       !is_guid_like(sub)
                           ? "AZURE_SUBSCRIPTION_ID is not a subscription id (a GUID)"
                           : "AZURE_RESOURCE_GROUP is not a resource group name (1-90 "
                             "letters, digits, '.', '_', '-', '(', ')', not ending in '.')");
        return -1;
    }
    snprintf(a->subscription, sizeof a->subscription, "%s", sub);
    snprintf(a->group, sizeof a->group, "%s", group);
    const char *ep = cfg && cfg->endpoint                  ? cfg->endpoint
                     : sc && sc->endpoint && *sc->endpoint ? sc->endpoint
                                                           : env("GPUFORM_AZURE_ENDPOINT");
    snprintf(a->endpoint, sizeof a->endpoint, "%s", ep ? ep : DEFAULT_ENDPOINT);
    size_t n = strlen(a->endpoint);
    while (n > 0 && a->endpoint[n - 1] == '/')
        a->endpoint[--n] = '\0';
    if (!loopback_or_https(a->endpoint)) {
        prov_error_set(
            err, PROV_INVALID,
            "azure: the ARM endpoint '%s' is not https:// (plain http is allowed only to "
            "loopback, for cloudsim)",
            a->endpoint);
        return -1;
    }
    const char *subnet = env("GPUFORM_AZURE_SUBNET_ID");
    if (subnet)
        snprintf(a->subnet, sizeof a->subnet, "%s", subnet);
    else
        snprintf(a->subnet, sizeof a->subnet,
                 "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/"
                 "virtualNetworks/gpuform-{region}/subnets/default",
                 a->subscription, a->group);
    const char *image = env("GPUFORM_AZURE_IMAGE"), *admin = env("GPUFORM_AZURE_ADMIN_USERNAME");
    snprintf(a->image, sizeof a->image, "%s", image ? image : DEFAULT_IMAGE);
    snprintf(a->admin, sizeof a->admin, "%s", admin ? admin : DEFAULT_ADMIN);
    return 0;
}

static struct prov *azure_open(const struct prov_config *cfg, struct prov_error *err)
{
    struct azure *a = calloc(1, sizeof *a);
    if (!a) {
        prov_error_set(err, PROV_TRANSIENT, "azure: out of memory");
        return NULL;
    }
    a->base.ops = &prov_azure;
    if (configure(a, cfg, err) != 0) {
        free(a);
        return NULL;
    }
    a->http = cfg && cfg->http ? cfg->http : NULL;
    if (!a->http) {
        a->http = core_http_client_new(NULL);
        a->own_http = true;
    }
    if (!a->http) {
        prov_error_set(err, PROV_TRANSIENT, "azure: out of memory");
        free(a);
        return NULL;
    }
    /* ARM's request buckets per subscription and region: reads 250 then 25/s, writes and
     * deletes 200 then 10/s */
    core_http_set_rate(a->http, "azure/*/arm:read", 25, 250);
    core_http_set_rate(a->http, "azure/*/arm:write", 10, 200);
    core_http_set_rate(a->http, "azure/*/arm:delete", 10, 200);
    char scope[600], why[640];
    const char *s = env("GPUFORM_AZURE_SCOPE");
    snprintf(scope, sizeof scope, "%s", s ? s : "");
    if (!s)
        snprintf(scope, sizeof scope, "%s/.default", a->endpoint);
    a->cred = azure_credential_new(a->http, scope, stack_env,
                                   (void *)(uintptr_t)(cfg ? cfg->stack : NULL), why, sizeof why);
    if (!a->cred) {
        prov_error_set(err, PROV_AUTH, "azure: %s", why);
        prov_azure.close(&a->base);
        return NULL;
    }
    return &a->base;
}

static void azure_close(struct prov *p)
{
    struct azure *a = (struct azure *)p;
    if (!a)
        return;
    azure_credential_free(a->cred);
    if (a->own_http)
        core_http_client_free(a->http);
    free(a);
}

/* GET one VM with its instance view into *out; with `raw`, the reply's document too (the
 * caller json_decrefs it). */
static int get_vm(struct azure *a, const char *region, const char *name, struct prov_instance *out,
                  json_t **raw, struct prov_error *err)
{
    if (!valid_name(name)) {
        prov_error_set(err, PROV_INVALID, "azure %s: '%s' is not a VM name", region, name);
        return -1;
    }
    char url[1200], what[120];
    vm_url(a, name, "&$expand=instanceView", url, sizeof url);
    snprintf(what, sizeof what, "GET virtualMachines/%s", name);
    struct arm_req r = {"GET", url, NULL, region, what};
    struct core_http_response resp;
    int rc = arm_do(a, &r, &resp, err);
    if (rc == 0) {
        char why[200];
        if (arm_parse_vm(resp.body.data, resp.body.len, out, why, sizeof why) != 0) {
            prov_error_set(err, PROV_TRANSIENT,
                           "azure %s %s: Azure sent a reply gpuform can't read: %s", region, what,
                           why);
            snprintf(err->request_id, sizeof err->request_id, "%s", resp.request_id);
            rc = -1;
        } else if (!arm_same_location(out->region, region)) {
            prov_error_set(err, PROV_NOT_FOUND, "azure %s: no VM '%s' here (it is in %s)", region,
                           name, out->region);
            rc = -1;
        } else if (raw) {
            *raw = json_loadb(resp.body.data, resp.body.len, 0, NULL);
        }
    }
    core_http_response_release(&resp);
    return rc;
}

static int azure_describe(struct prov *p, const char *region, const char *id,
                          struct prov_instance *out, struct prov_error *err)
{
    return get_vm((struct azure *)p, region, id, out, NULL, err);
}

/* Pages through a list from `url`, handing each page to `page`; a nextLink is followed only
 * on the ARM endpoint. */
typedef int (*page_fn)(void *ctx, const char *body, size_t len, char *next, size_t nextlen,
                       char *why, size_t whylen);

static int list_pages(struct azure *a, const char *region, char *url, size_t urlcap,
                      const char *what, page_fn page, void *ctx, bool *stop, struct prov_error *err)
{
    for (int n = 0; n < MAX_PAGES && !*stop; n++) {
        struct arm_req r = {"GET", url, NULL, region, what};
        struct core_http_response resp;
        if (arm_do(a, &r, &resp, err) != 0) {
            core_http_response_release(&resp);
            return -1;
        }
        char why[200];
        int rc = page(ctx, resp.body.data, resp.body.len, url, urlcap, why, sizeof why);
        if (rc != 0) {
            prov_error_set(err, PROV_TRANSIENT,
                           "azure %s %s: Azure sent a reply gpuform can't read: %s", region, what,
                           why);
            snprintf(err->request_id, sizeof err->request_id, "%s", resp.request_id);
        }
        core_http_response_release(&resp);
        if (rc != 0)
            return -1;
        if (!*url)
            return 0;
        if (!on_endpoint(a, url)) {
            prov_error_set(
                err, PROV_INVALID,
                "azure %s %s: the next page is at '%.300s', not on the ARM endpoint; not "
                "sending the token there",
                region, what, url);
            return -1;
        }
    }
    if (*stop)
        return 0;
    prov_error_set(err, PROV_TRANSIENT, "azure %s %s: more than %d pages; giving up", region, what,
                   MAX_PAGES);
    return -1;
}

struct vm_pages {
    const char *region, *stack;
    struct prov_instance_list *out;
};

static int vm_page(void *ctx, const char *body, size_t len, char *next, size_t nextlen, char *why,
                   size_t whylen)
{
    struct vm_pages *v = ctx;
    return arm_parse_vm_page(body, len, v->region, v->stack, v->out, next, nextlen, why, whylen);
}

/*
 * ARM's VM list has no tag filter, and the resources endpoint that has one does not say a
 * VM's state; so one paged list of the resource group, filtered here by the stack's tag and
 * the location.
 */
static int azure_list(struct prov *p, const char *region, const char *stack,
                      struct prov_instance_list *out, struct prov_error *err)
{
    struct azure *a = (struct azure *)p;
    char url[4096], g[400];
    group_url(a, g, sizeof g);
    snprintf(url, sizeof url, "%s/providers/Microsoft.Compute/virtualMachines?api-version=%s", g,
             AZURE_COMPUTE_API);
    struct vm_pages v = {region, stack, out};
    bool stop = false;
    return list_pages(a, region, url, sizeof url, "GET virtualMachines", vm_page, &v, &stop, err);
}

struct token_pages {
    const char *region;
    char name[80];
    bool *stop;
};

static int token_page(void *ctx, const char *body, size_t len, char *next, size_t nextlen,
                      char *why, size_t whylen)
{
    struct token_pages *t = ctx;
    int rc = arm_parse_resource_page(body, len, t->region, t->name, sizeof t->name, next, nextlen,
                                     why, whylen);
    *t->stop = rc == 0 && t->name[0];
    return rc;
}

static bool valid_token(const char *token)
{
    size_t n = token ? strlen(token) : 0;
    return n > 0 && n <= 64 &&
           strspn(token, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

/* The resources endpoint filtered by the token tag (server side), then the VM it names. */
static int azure_find_by_token(struct prov *p, const char *region, const char *token,
                               struct prov_instance *out, bool *found, struct prov_error *err)
{
    struct azure *a = (struct azure *)p;
    *found = false;
    if (!valid_token(token)) {
        prov_error_set(err, PROV_INVALID,
                       "azure: a token is 1 to 64 letters, digits, '-', '_' or '.'");
        return -1;
    }
    char filter[200], url[4096], g[400];
    snprintf(filter, sizeof filter, "tagName eq '%s' and tagValue eq '%s'", ARM_TAG_TOKEN, token);
    char *enc = curl_easy_escape(NULL, filter, 0);
    if (!enc) {
        prov_error_set(err, PROV_TRANSIENT, "azure: out of memory");
        return -1;
    }
    group_url(a, g, sizeof g);
    snprintf(url, sizeof url, "%s/resources?$filter=%s&api-version=%s", g, enc,
             AZURE_RESOURCES_API);
    curl_free(enc);
    bool stop = false;
    struct token_pages t = {.region = region, .stop = &stop};
    if (list_pages(a, region, url, sizeof url, "GET resources (by token)", token_page, &t, &stop,
                   err) != 0)
        return -1;
    if (!t.name[0])
        return 0;
    if (get_vm(a, region, t.name, out, NULL, err) != 0)
        return err->cls == PROV_NOT_FOUND ? 0 : -1; /* deleted since it was listed */
    *found = out->state != PROV_TERMINATED;
    return 0;
}

/* The SSH key Azure requires for a Linux VM: GPUFORM_AZURE_SSH_PUBLIC_KEY, else the user's
 * ~/.ssh/id_ed25519.pub or id_rsa.pub. */
static int ssh_key(char *out, size_t n, struct prov_error *err)
{
    const char *k = env("GPUFORM_AZURE_SSH_PUBLIC_KEY");
    if (k) {
        snprintf(out, n, "%s", k);
        out[strcspn(out, "\r\n")] = '\0';
        return 0;
    }
    const char *home = env("HOME");
    static const char *const files[] = {".ssh/id_ed25519.pub", ".ssh/id_rsa.pub"};
    for (size_t i = 0; home && i < sizeof files / sizeof *files; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", home, files[i]);
        FILE *fp = fopen(path, "r");
        if (!fp)
            continue;
        bool ok = fgets(out, (int)n, fp) != NULL;
        fclose(fp);
        out[strcspn(out, "\r\n")] = '\0';
        if (ok && !strncmp(out, "ssh-", 4))
            return 0;
    }
    prov_error_set(
        err, PROV_INVALID,
        "azure: a Linux VM needs an SSH public key: set GPUFORM_AZURE_SSH_PUBLIC_KEY to one "
        "('ssh-ed25519 AAAA...'), or make ~/.ssh/id_ed25519.pub");
    return -1;
}

/* The create's image: an Azure one as given, else (an AWS AMI id or nothing, as the
 * executor's default) the configured one. */
static const char *image_for(const struct azure *a, const char *image)
{
    if (!image || !*image || !strncmp(image, "ami-", 4))
        return a->image;
    return image;
}

static char *base64(const char *s)
{
    size_t n = strlen(s);
    char *b = malloc(4 * ((n + 2) / 3) + 1);
    if (b)
        EVP_EncodeBlock((unsigned char *)b, (const unsigned char *)s, (int)n);
    return b;
}

static int delete_vm(struct azure *a, const char *region, const char *name, struct prov_error *err)
{
    char url[1200], what[120];
    vm_url(a, name, NULL, url, sizeof url);
    snprintf(what, sizeof what, "DELETE virtualMachines/%s", name);
    struct arm_req r = {"DELETE", url, NULL, region, what};
    return arm_change(a, &r, err);
}

static int delete_nic(struct azure *a, const char *region, const char *vm, struct prov_error *err)
{
    char url[1200], id[400], what[120];
    nic_id(a, vm, id, sizeof id);
    snprintf(url, sizeof url, "%s%s?api-version=%s", a->endpoint, id, AZURE_NETWORK_API);
    snprintf(what, sizeof what, "DELETE networkInterfaces/%s-nic", vm);
    struct arm_req r = {"DELETE", url, NULL, region, what};
    return arm_change(a, &r, err);
}

/* Deletes what a failed create left (the VM when its PUT was accepted, the NIC), saying in
 * err's message what could not be deleted. */
static void clean_up(struct azure *a, const char *region, const char *name, bool vm,
                     struct prov_error *err)
{
    struct prov_error e2;
    if (vm && delete_vm(a, region, name, &e2) != 0)
        fail_more(err, "; the failed VM '%s' is left (deleting it: %s)", name, e2.message);
    else if (delete_nic(a, region, name, &e2) != 0)
        fail_more(err, "; its network interface '%s-nic' is left (%s)", name, e2.message);
}

/* Azure's limits on tags: 50 on a resource (three are gpuform's), values of 256 characters. */
static int check_labels(const char *region, const struct prov_tag *t, size_t n,
                        struct prov_error *err)
{
    if (n > 47) {
        prov_error_set(err, PROV_INVALID,
                       "azure %s: a VM holds at most 47 labels besides gpuform's tags", region);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (strlen(t[i].value) > 256 || strlen(t[i].key) > 512) {
            prov_error_set(
                err, PROV_INVALID,
                "azure %s: label '%.64s' is longer than Azure allows in a tag (name 512, value "
                "256 characters)",
                region, t[i].key);
            return -1;
        }
    return 0;
}

struct create_ctx {
    char name[AZURE_VM_NAME_MAX + 1];
    char zone[8];
    char key[4096];
    char nic[400];
    char subnet[1200];
};

/* The subnet of `region`: the template with "{region}" replaced. */
static void subnet_for(const struct azure *a, const char *region, char *out, size_t n)
{
    const char *at = strstr(a->subnet, "{region}");
    if (at)
        snprintf(out, n, "%.*s%s%s", (int)(at - a->subnet), a->subnet, region, at + 8);
    else
        snprintf(out, n, "%s", a->subnet);
}

static int create_checks(struct azure *a, const struct prov_create *c, struct create_ctx *x,
                         struct prov_error *err)
{
    if (!valid_token(c->token)) {
        prov_error_set(err, PROV_INVALID,
                       "azure: a create needs a token of 1 to 64 letters, digits, '-', '_' or '.'");
        return -1;
    }
    if (azure_zone(c->region, c->zone, x->zone) != 0) {
        prov_error_set(err, PROV_INVALID, "azure %s: zone '%s' is not a zone number or %s-N",
                       c->region, c->zone, c->region);
        return -1;
    }
    if (c->user_data && strlen(c->user_data) > MAX_CUSTOM_DATA / 4 * 3) {
        prov_error_set(err, PROV_INVALID,
                       "azure %s: the boot script is %zu bytes; Azure takes 65,535", c->region,
                       strlen(c->user_data));
        return -1;
    }
    if (check_labels(c->region, c->tags, c->ntags, err) != 0 ||
        ssh_key(x->key, sizeof x->key, err) != 0)
        return -1;
    azure_vm_name(c->address, c->token, x->name);
    nic_id(a, x->name, x->nic, sizeof x->nic);
    subnet_for(a, c->region, x->subnet, sizeof x->subnet);
    return 0;
}

/* PUTs the NIC and then the VM, each followed to its end. *sent says how far it got: 1 the
 * NIC was PUT, 2 the VM PUT was accepted too (so a failure may have left them behind). */
static int put_both(struct azure *a, const struct prov_create *c, const struct create_ctx *x,
                    int *sent, struct prov_error *err)
{
    char url[1200], what[120];
    *sent = 0;
    char *nic = arm_nic_body(c->region, x->subnet, c->stack, c->address, c->token);
    snprintf(url, sizeof url, "%s%s?api-version=%s", a->endpoint, x->nic, AZURE_NETWORK_API);
    snprintf(what, sizeof what, "PUT networkInterfaces/%s-nic", x->name);
    struct arm_req rn = {"PUT", url, nic, c->region, what};
    *sent = nic ? 1 : 0;
    int rc = nic ? arm_change(a, &rn, err) : -1;
    free(nic);
    if (!nic)
        prov_error_set(err, PROV_TRANSIENT, "azure: out of memory");
    if (rc != 0)
        return -1;
    char *custom = c->user_data && *c->user_data ? base64(c->user_data) : NULL;
    char why[300], *body = NULL;
    struct arm_vm_spec s = {.name = x->name,
                            .location = c->region,
                            .zone = x->zone,
                            .vm_size = c->instance_type,
                            .spot = c->spot,
                            .image = image_for(a, c->image),
                            .custom_data = custom,
                            .admin_username = a->admin,
                            .ssh_public_key = x->key,
                            .nic_id = x->nic,
                            .stack = c->stack,
                            .address = c->address,
                            .token = c->token,
                            .labels = c->tags,
                            .nlabels = c->ntags};
    rc = custom || !c->user_data || !*c->user_data ? arm_vm_body(&s, &body, why, sizeof why) : -2;
    free(custom);
    if (rc != 0) {
        prov_error_set(err, rc == -1 ? PROV_INVALID : PROV_TRANSIENT, "azure %s: %s", c->region,
                       rc == -1 ? why : "out of memory");
        return -1;
    }
    vm_url(a, x->name, NULL, url, sizeof url);
    snprintf(what, sizeof what, "PUT virtualMachines/%s", x->name);
    struct arm_req rv = {"PUT", url, body, c->region, what};
    struct core_http_response resp;
    rc = arm_do(a, &rv, &resp, err);
    *sent = rc == 0 ? 2 : 1;
    if (rc == 0)
        rc = lro_wait(a, &rv, &resp, err);
    core_http_response_release(&resp);
    free(body);
    return rc;
}

static int azure_create(struct prov *p, const struct prov_create *c, struct prov_instance *out,
                        struct prov_error *err)
{
    struct azure *a = (struct azure *)p;
    struct create_ctx *x = calloc(1, sizeof *x);
    if (!x) {
        prov_error_set(err, PROV_TRANSIENT, "azure: out of memory");
        return -1;
    }
    int sent = 0;
    int rc = create_checks(a, c, x, err);
    if (rc == 0)
        rc = put_both(a, c, x, &sent, err);
    if (rc != 0 && sent &&
        (err->cls == PROV_CAPACITY || err->cls == PROV_QUOTA || err->cls == PROV_INVALID)) {
        /* the executor places the node elsewhere under another name, or stops: leave
         * nothing here */
        struct prov_error keep = *err;
        clean_up(a, c->region, x->name, sent == 2, &keep);
        *err = keep;
    }
    if (rc == 0)
        rc = get_vm(a, c->region, x->name, out, NULL, err);
    free(x);
    return rc;
}

static int azure_destroy(struct prov *p, const char *region, const char *id, struct prov_error *err)
{
    struct azure *a = (struct azure *)p;
    if (!valid_name(id)) {
        prov_error_set(err, PROV_INVALID, "azure %s: '%s' is not a VM name", region, id);
        return -1;
    }
    /* the NIC goes with the VM (deleteOption Delete); deleting it too catches one left by a
     * create that failed before its VM existed */
    if (delete_vm(a, region, id, err) != 0 || delete_nic(a, region, id, err) != 0)
        return -1;
    return 0;
}

static bool gpuform_tag(const char *name)
{
    return !strcmp(name, ARM_TAG_STACK) || !strcmp(name, ARM_TAG_ADDRESS) ||
           !strcmp(name, ARM_TAG_TOKEN);
}

/* The VM's tags as they are, `set` and `remove` applied (never gpuform's own), written back
 * with a PATCH of the VM (ARM replaces the whole set) followed to its end. */
static int azure_set_tags(struct prov *p, const char *region, const char *id,
                          const struct prov_tag *set, size_t nset, const char *const *remove,
                          size_t nremove, struct prov_error *err)
{
    struct azure *a = (struct azure *)p;
    struct prov_instance in;
    json_t *doc = NULL;
    if (check_labels(region, set, nset, err) != 0 || get_vm(a, region, id, &in, &doc, err) != 0)
        return -1;
    json_t *tags = json_object_get(doc, "tags");
    tags = json_is_object(tags) ? json_deep_copy(tags) : json_object();
    char name[520];
    for (size_t i = 0; tags && i < nset; i++) {
        arm_tag_name(set[i].key, name, sizeof name);
        if (!gpuform_tag(name))
            json_object_set_new(tags, name, json_string(set[i].value));
    }
    for (size_t i = 0; tags && i < nremove; i++) {
        arm_tag_name(remove[i], name, sizeof name);
        if (!gpuform_tag(name))
            json_object_del(tags, name);
    }
    json_decref(doc);
    char *body = NULL;
    if (tags && json_object_size(tags) > 50) {
        prov_error_set(err, PROV_INVALID, "azure %s: '%s' would hold more than Azure's 50 tags",
                       region, id);
    } else {
        json_t *patch = tags ? json_pack("{s:O}", "tags", tags) : NULL;
        body = patch ? json_dumps(patch, JSON_COMPACT) : NULL;
        json_decref(patch);
        if (!body)
            prov_error_set(err, PROV_TRANSIENT, "azure: out of memory");
    }
    json_decref(tags);
    if (!body)
        return -1;
    char url[1200], what[120];
    vm_url(a, id, NULL, url, sizeof url);
    snprintf(what, sizeof what, "PATCH virtualMachines/%s (tags)", id);
    struct arm_req r = {"PATCH", url, body, region, what};
    int rc = arm_change(a, &r, err);
    free(body);
    return rc;
}

/* The request as one more tag (a PATCH of the VM's tags, the others kept): the Azure
 * Instance Metadata Service shows the VM's tags to the node. */
static int azure_request_verify(struct prov *p, const char *region, const char *id,
                                const char *value, struct prov_error *err)
{
    const struct prov_tag t = {PROV_VERIFY_REQUEST_KEY, value};
    return azure_set_tags(p, region, id, &t, 1, NULL, 0, err);
}

/* Fetches the serial console log blob (a SAS link: no token is sent). */
static int fetch_blob(struct azure *a, const char *region, const char *uri, char **text,
                      struct prov_error *err)
{
    if (!loopback_or_https(uri)) {
        prov_error_set(err, PROV_INVALID, "azure %s: the boot diagnostics link is not https://",
                       region);
        return -1;
    }
    struct core_http_request req = {
        .method = "GET", .url = uri, .idempotent = true, .max_response_bytes = BLOB_MAX_BYTES};
    struct core_http_response resp;
    struct core_http_error he;
    int rc = core_http_do(a->http, &req, &resp, &he);
    if (rc == 0) {
        *text = core_buf_take(&resp.body);
        if (!*text)
            *text = strdup("");
    } else if (he.cls == CORE_HTTP_ERR_STATUS && he.status == 404) {
        *text = strdup(""); /* nothing written yet */
        rc = 0;
    } else {
        prov_error_set(
            err, he.cls == CORE_HTTP_ERR_STATUS ? azure_classify(NULL, he.status) : PROV_TRANSIENT,
            "azure %s: reading the serial console log: %s", region, he.message);
        err->http_status = he.status;
    }
    core_http_response_release(&resp);
    if (rc == 0 && !*text) {
        prov_error_set(err, PROV_TRANSIENT, "azure: out of memory");
        return -1;
    }
    return rc;
}

static int azure_console_output(struct prov *p, const char *region, const char *id, char **text,
                                struct prov_error *err)
{
    struct azure *a = (struct azure *)p;
    *text = NULL;
    if (!valid_name(id)) {
        prov_error_set(err, PROV_INVALID, "azure %s: '%s' is not a VM name", region, id);
        return -1;
    }
    char url[1200], what[120];
    vm_url(a, id, "/retrieveBootDiagnosticsData", url, sizeof url);
    strncat(url, "&sasUriExpirationTimeInMinutes=60", sizeof url - strlen(url) - 1);
    snprintf(what, sizeof what, "POST virtualMachines/%s/retrieveBootDiagnosticsData", id);
    struct arm_req r = {"POST", url, NULL, region, what};
    struct core_http_response resp;
    int rc = arm_do(a, &r, &resp, err);
    char uri[4096] = "";
    if (rc == 0) {
        json_t *j = json_loadb(resp.body.data, resp.body.len, 0, NULL);
        const char *u = json_string_value(json_object_get(j, "serialConsoleLogBlobUri"));
        if (!json_is_object(j)) {
            prov_error_set(err, PROV_TRANSIENT,
                           "azure %s %s: Azure sent a reply gpuform can't read: not "
                           "JSON",
                           region, what);
            rc = -1;
        }
        snprintf(uri, sizeof uri, "%s", u ? u : "");
        json_decref(j);
    }
    core_http_response_release(&resp);
    if (rc != 0)
        return -1;
    if (!*uri) {
        *text = strdup("");
        if (!*text)
            prov_error_set(err, PROV_TRANSIENT, "azure: out of memory");
        return *text ? 0 : -1;
    }
    rc = fetch_blob(a, region, uri, text, err);
    OPENSSL_cleanse(uri, sizeof uri);
    return rc;
}

const struct prov_ops prov_azure = {
    .name = "azure",
    .open = azure_open,
    .close = azure_close,
    .list = azure_list,
    .create = azure_create,
    .destroy = azure_destroy,
    .describe = azure_describe,
    .find_by_token = azure_find_by_token,
    .console_output = azure_console_output,
    .classify = azure_classify,
    .set_tags = azure_set_tags,
    .request_verify = azure_request_verify,
};
