/*
 * The AWS provider over the EC2 Query API (version 2016-11-15): form-encoded POSTs signed
 * with SigV4, XML replies, through core/http (timeouts, TLS, retries with jitter, EC2's
 * token buckets, redaction). Only the endpoint differs between real AWS and cloudsim.
 */
#include "modules/aws/ec2.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/http.h"
#include "modules/aws/credentials.h"
#include "modules/aws/ec2_xml.h"
#include "modules/aws/sigv4.h"

#define EC2_VERSION "2016-11-15"
#define MAX_PAGES   10000

struct aws {
    struct prov base;
    struct aws_credentials cred;
    char *endpoint; /* NULL: https://ec2.REGION.amazonaws.com */
    struct core_http_client *http;
    bool own_http;
};

/* ---- error classes ---- */

static const struct {
    const char *code;
    enum prov_error_class cls;
} codes[] = {
    {"InsufficientInstanceCapacity", PROV_CAPACITY},
    {"InsufficientHostCapacity", PROV_CAPACITY},
    {"InsufficientReservedInstanceCapacity", PROV_CAPACITY},
    {"InsufficientCapacity", PROV_CAPACITY},
    /* the spot price is above what we would pay: no spot capacity at our price here */
    {"SpotMaxPriceTooLow", PROV_CAPACITY},
    /* "the requested configuration is currently not supported": in practice the type is
     * not offered in that zone, so another place may work */
    {"Unsupported", PROV_CAPACITY},
    {"InstanceLimitExceeded", PROV_QUOTA},
    {"VcpuLimitExceeded", PROV_QUOTA},
    {"MaxSpotInstanceCountExceeded", PROV_QUOTA},
    {"RequestLimitExceeded", PROV_THROTTLED},
    {"Throttling", PROV_THROTTLED},
    {"AuthFailure", PROV_AUTH},
    {"UnauthorizedOperation", PROV_AUTH},
    {"InvalidClientTokenId", PROV_AUTH},
    {"SignatureDoesNotMatch", PROV_AUTH},
    {"MissingAuthenticationToken", PROV_AUTH},
    {"RequestExpired", PROV_AUTH},
    {"OptInRequired", PROV_AUTH},
    {"Blocked", PROV_AUTH},
    {"InvalidInstanceID.NotFound", PROV_NOT_FOUND},
    {"InvalidParameterValue", PROV_INVALID},
    {"InvalidParameterCombination", PROV_INVALID},
    {"InvalidParameter", PROV_INVALID},
    {"MissingParameter", PROV_INVALID},
    {"InvalidAction", PROV_INVALID},
    {"IdempotentParameterMismatch", PROV_INVALID},
    {"InvalidInstanceID.Malformed", PROV_INVALID},
    {"InternalError", PROV_TRANSIENT},
    {"InternalFailure", PROV_TRANSIENT},
    {"ServiceUnavailable", PROV_TRANSIENT},
    {"Unavailable", PROV_TRANSIENT},
};

enum prov_error_class aws_classify(const char *code, long http_status)
{
    for (size_t i = 0; code && i < sizeof codes / sizeof *codes; i++)
        if (strcmp(codes[i].code, code) == 0)
            return codes[i].cls;
    if (code && strncmp(code, "InvalidAMIID.", 13) == 0)
        return PROV_INVALID;
    if (http_status >= 500 || http_status == 0)
        return PROV_TRANSIENT;
    if (http_status == 401 || http_status == 403)
        return PROV_AUTH;
    return PROV_INVALID;
}

/*
 * Which EC2 error replies are worth sending again as they are: throttling and EC2's own
 * failures. Capacity and quota errors come as 500s and 400s but repeating them only spends
 * tokens and delays the failover to another place.
 */
static bool ec2_should_retry(void *ctx, const struct core_http_response *resp)
{
    (void)ctx;
    char code[96], msg[8], rid[8];
    if (ec2_parse_error(resp->body.data, resp->body.len, code, sizeof code, msg, sizeof msg, rid,
                        sizeof rid) != 0)
        return resp->status >= 500 || resp->status == 429; /* not EC2 speaking: a proxy */
    enum prov_error_class cls = aws_classify(code, resp->status);
    return cls == PROV_TRANSIENT || cls == PROV_THROTTLED;
}

/* ---- requests ---- */

struct form {
    struct core_buf body;
    const char *action;
};

static void form_init(struct form *f, const char *action)
{
    core_buf_init(&f->body, (size_t)1 << 20);
    f->action = action;
    core_buf_addf(&f->body, "Action=%s&Version=%s", action, EC2_VERSION);
}

static void form_add(struct form *f, const char *name, const char *value)
{
    static const char digits[] = "0123456789ABCDEF";
    core_buf_addf(&f->body, "&%s=", name);
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '~';
        if (plain)
            core_buf_addc(&f->body, (char)*p);
        else
            core_buf_addf(&f->body, "%%%c%c", digits[*p >> 4], digits[*p & 15]);
    }
}

static void fail(struct prov_error *err, enum prov_error_class cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct prov_error *err, enum prov_error_class cls, const char *fmt, ...)
{
    va_list ap;
    memset(err, 0, sizeof *err);
    err->cls = cls;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

static void url_of(const struct aws *a, const char *region, char *url, size_t n, char *host,
                   size_t hn)
{
    if (a->endpoint)
        snprintf(url, n, "%s/", a->endpoint);
    else
        snprintf(url, n, "https://ec2.%s.amazonaws.com/", region);
    const char *h = strstr(url, "://");
    h = h ? h + 3 : url;
    const char *slash = strchr(h, '/');
    snprintf(host, hn, "%.*s", (int)(slash ? (size_t)(slash - h) : strlen(h)), h);
}

/*
 * Sends the form to `region`'s endpoint. On success returns 0 with *resp holding the reply
 * (release it). On failure fills err: the EC2 error code and class when EC2 answered with
 * one, transient for the network, with the request id when there is one.
 */
static int call(struct aws *a, const char *region, struct form *f, struct core_http_response *resp,
                struct prov_error *err)
{
    char url[512], host[300], amz_date[17], rate_key[160];
    url_of(a, region, url, sizeof url, host, sizeof host);
    sigv4_amz_date(time(NULL), amz_date);
    const char *ctype = "application/x-www-form-urlencoded; charset=utf-8";
    struct sigv4_header sh[2] = {{"Host", host}, {"Content-Type", ctype}};
    struct sigv4_request rq = {"POST", "/", "", sh, 2, f->body.data, f->body.len};
    struct sigv4_params sp = {.access_key_id = a->cred.access_key_id,
                              .secret_access_key = a->cred.secret_access_key,
                              .session_token = a->cred.session_token,
                              .region = region,
                              .service = "ec2",
                              .amz_date = amz_date,
                              .normalize_path = true};
    struct sigv4_result sr;
    core_http_response_init(resp);
    if (f->body.len == 0 || sigv4_sign_headers(&rq, &sp, &sr) != 0) {
        fail(err, PROV_INVALID, "aws %s %s: could not build the request (out of memory?)", region,
             f->action);
        return -1;
    }
    char h_host[320], h_ctype[96], h_date[40], *h_auth = NULL, *h_token = NULL;
    snprintf(h_host, sizeof h_host, "Host: %s", host);
    snprintf(h_ctype, sizeof h_ctype, "Content-Type: %s", ctype);
    snprintf(h_date, sizeof h_date, "X-Amz-Date: %s", amz_date);
    size_t alen = strlen(sr.authorization) + 32;
    h_auth = malloc(alen);
    if (h_auth)
        snprintf(h_auth, alen, "Authorization: %s", sr.authorization);
    if (a->cred.session_token) {
        size_t tlen = strlen(a->cred.session_token) + 32;
        h_token = malloc(tlen);
        if (h_token)
            snprintf(h_token, tlen, "X-Amz-Security-Token: %s", a->cred.session_token);
    }
    const char *headers[7] = {h_host, h_ctype, h_date, h_auth, h_token, "Expect:", NULL};
    if (!h_token) {
        headers[4] = "Expect:";
        headers[5] = NULL;
    }
    snprintf(rate_key, sizeof rate_key, "aws/%s/ec2:%s", region, f->action);
    struct core_http_request req = {
        .method = "POST",
        .url = url,
        .headers = headers,
        .body = f->body.data,
        .body_len = f->body.len,
        /* every call we make is safe to repeat: RunInstances carries a ClientToken */
        .idempotent = true,
        .rate_key = rate_key,
        .should_retry = ec2_should_retry,
    };
    struct core_http_error he;
    int rc = h_auth ? core_http_do(a->http, &req, resp, &he) : -1;
    sigv4_result_release(&sr);
    if (h_auth)
        OPENSSL_cleanse(h_auth, strlen(h_auth));
    free(h_auth);
    if (h_token)
        OPENSSL_cleanse(h_token, strlen(h_token));
    free(h_token);
    if (rc == 0)
        return 0;
    if (!h_auth) {
        fail(err, PROV_INVALID, "aws %s %s: out of memory", region, f->action);
        return -1;
    }
    char code[96], msg[512], rid[128];
    if (he.cls == CORE_HTTP_ERR_STATUS &&
        ec2_parse_error(resp->body.data, resp->body.len, code, sizeof code, msg, sizeof msg, rid,
                        sizeof rid) == 0) {
        enum prov_error_class cls = aws_classify(code, he.status);
        fail(err, cls, "aws %s %s: %s: %s%s%s%s", region, f->action, code, msg,
             cls == PROV_AUTH ? " (credentials from " : "", cls == PROV_AUTH ? a->cred.source : "",
             cls == PROV_AUTH ? ")" : "");
        snprintf(err->code, sizeof err->code, "%s", code);
        snprintf(err->request_id, sizeof err->request_id, "%s", rid[0] ? rid : resp->request_id);
        err->http_status = he.status;
        return -1;
    }
    enum prov_error_class cls = he.cls == CORE_HTTP_ERR_STATUS ? aws_classify(NULL, he.status)
                                : he.cls == CORE_HTTP_ERR_TLS  ? PROV_INVALID
                                                               : PROV_TRANSIENT;
    fail(err, cls, "aws %s %s: %s", region, f->action, he.message);
    err->http_status = he.status;
    snprintf(err->request_id, sizeof err->request_id, "%s", resp->request_id);
    return -1;
}

static int call_instances(struct aws *a, const char *region, struct form *f,
                          struct prov_instance_list *out, char *next, size_t nextlen,
                          struct prov_error *err)
{
    struct core_http_response resp;
    int rc = call(a, region, f, &resp, err);
    if (rc == 0) {
        char why[256];
        if (ec2_parse_instances(resp.body.data, resp.body.len, region, out, next, nextlen, why,
                                sizeof why) != 0) {
            fail(err, PROV_TRANSIENT, "aws %s %s: EC2 sent a reply gpuform can't read: %s", region,
                 f->action, why);
            snprintf(err->request_id, sizeof err->request_id, "%s", resp.request_id);
            rc = -1;
        }
    }
    core_http_response_release(&resp);
    core_buf_release(&f->body);
    return rc;
}

/* ---- the vtable ---- */

static struct prov *aws_open(const struct prov_config *cfg, struct prov_error *err)
{
    struct aws *a = calloc(1, sizeof *a);
    if (!a) {
        fail(err, PROV_TRANSIENT, "out of memory");
        return NULL;
    }
    a->base.ops = &prov_aws;
    char why[640];
    if (aws_credentials_load(cfg ? cfg->profile : NULL, NULL, NULL, &a->cred, why, sizeof why) !=
        0) {
        fail(err, PROV_AUTH, "aws: %s", why);
        free(a);
        return NULL;
    }
    const char *ep = cfg && cfg->endpoint ? cfg->endpoint : getenv("GPUFORM_AWS_ENDPOINT");
    if (!ep || !*ep)
        ep = getenv("AWS_ENDPOINT_URL_EC2");
    if (!ep || !*ep)
        ep = getenv("AWS_ENDPOINT_URL");
    if (ep && *ep) {
        a->endpoint = strdup(ep);
        size_t n = a->endpoint ? strlen(a->endpoint) : 0;
        while (n > 0 && a->endpoint[n - 1] == '/')
            a->endpoint[--n] = '\0';
    }
    a->http = cfg && cfg->http ? cfg->http : NULL;
    if (!a->http) {
        a->http = core_http_client_new(NULL);
        a->own_http = true;
    }
    if (!a->http || (ep && *ep && !a->endpoint)) {
        fail(err, PROV_TRANSIENT, "out of memory");
        prov_aws.close(&a->base);
        return NULL;
    }
    core_http_add_secret(a->http, a->cred.secret_access_key);
    if (a->cred.session_token)
        core_http_add_secret(a->http, a->cred.session_token);
    ec2_xml_init();
    return &a->base;
}

static void aws_close(struct prov *p)
{
    struct aws *a = (struct aws *)p;
    if (!a)
        return;
    aws_credentials_release(&a->cred);
    if (a->own_http)
        core_http_client_free(a->http);
    free(a->endpoint);
    free(a);
}

static int aws_list(struct prov *p, const char *region, const char *stack,
                    struct prov_instance_list *out, struct prov_error *err)
{
    struct aws *a = (struct aws *)p;
    char next[2048] = "";
    for (int page = 0; page < MAX_PAGES; page++) {
        struct form f;
        form_init(&f, "DescribeInstances");
        form_add(&f, "Filter.1.Name", "tag:gpuform:stack");
        form_add(&f, "Filter.1.Value.1", stack);
        form_add(&f, "Filter.2.Name", "instance-state-name");
        static const char *const live[] = {"pending", "running", "stopping", "stopped",
                                           "shutting-down"};
        for (int i = 0; i < 5; i++) {
            char name[32];
            snprintf(name, sizeof name, "Filter.2.Value.%d", i + 1);
            form_add(&f, name, live[i]);
        }
        form_add(&f, "MaxResults", "1000");
        if (next[0])
            form_add(&f, "NextToken", next);
        if (call_instances(a, region, &f, out, next, sizeof next, err) != 0)
            return -1;
        if (!next[0])
            return 0;
    }
    fail(err, PROV_TRANSIENT, "aws %s DescribeInstances: more than %d pages; giving up", region,
         MAX_PAGES);
    return -1;
}

bool aws_imds_tag_key(const char *k)
{
    size_t n = strlen(k);
    return n > 0 &&
           strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-=.,_:@") ==
               n &&
           strcmp(k, ".") && strcmp(k, "..") && strcmp(k, "_index");
}

static int aws_create(struct prov *p, const struct prov_create *c, struct prov_instance *out,
                      struct prov_error *err)
{
    struct aws *a = (struct aws *)p;
    if (!c->token || !*c->token || strlen(c->token) > 64) {
        fail(err, PROV_INVALID, "aws: a create needs an idempotency token of 1 to 64 characters");
        return -1;
    }
    for (size_t i = 0; c->metadata_tags && i < c->ntags; i++)
        if (!aws_imds_tag_key(c->tags[i].key)) {
            fail(err, PROV_INVALID,
                 "aws: %s: the label '%s' can't be a tag of a verified node: its tags are in "
                 "instance metadata (where the node reads re-verification requests), and EC2 "
                 "takes only letters, digits and + - = . , _ : @ in such keys; rename the label",
                 c->address, c->tags[i].key);
            return -1;
        }
    struct form f;
    form_init(&f, "RunInstances");
    form_add(&f, "ImageId", c->image ? c->image : "");
    form_add(&f, "InstanceType", c->instance_type);
    form_add(&f, "MinCount", "1");
    form_add(&f, "MaxCount", "1");
    form_add(&f, "ClientToken", c->token);
    if (c->zone && *c->zone)
        form_add(&f, "Placement.AvailabilityZone", c->zone);
    if (c->spot) {
        form_add(&f, "InstanceMarketOptions.MarketType", "spot");
        form_add(&f, "InstanceMarketOptions.SpotOptions.SpotInstanceType", "one-time");
        form_add(&f, "InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior", "terminate");
    }
    if (c->metadata_tags)
        form_add(&f, "MetadataOptions.InstanceMetadataTags", "enabled");
    form_add(&f, "TagSpecification.1.ResourceType", "instance");
    form_add(&f, "TagSpecification.1.Tag.1.Key", "gpuform:stack");
    form_add(&f, "TagSpecification.1.Tag.1.Value", c->stack);
    form_add(&f, "TagSpecification.1.Tag.2.Key", "gpuform:address");
    form_add(&f, "TagSpecification.1.Tag.2.Value", c->address);
    for (size_t i = 0; i < c->ntags; i++) {
        char name[64];
        snprintf(name, sizeof name, "TagSpecification.1.Tag.%zu.Key", i + 3);
        form_add(&f, name, c->tags[i].key);
        snprintf(name, sizeof name, "TagSpecification.1.Tag.%zu.Value", i + 3);
        form_add(&f, name, c->tags[i].value);
    }
    if (c->user_data && *c->user_data) {
        size_t n = strlen(c->user_data);
        unsigned char *b64 = malloc(4 * ((n + 2) / 3) + 1);
        if (!b64) {
            core_buf_release(&f.body);
            fail(err, PROV_TRANSIENT, "out of memory");
            return -1;
        }
        EVP_EncodeBlock(b64, (const unsigned char *)c->user_data, (int)n);
        form_add(&f, "UserData", (const char *)b64);
        free(b64);
    }
    struct prov_instance_list l = {0};
    int rc = call_instances(a, c->region, &f, &l, NULL, 0, err);
    if (rc == 0 && l.n == 0) {
        fail(err, PROV_TRANSIENT, "aws %s RunInstances: the reply names no instance", c->region);
        rc = -1;
    }
    if (rc == 0)
        *out = l.items[0];
    prov_instance_list_release(&l);
    return rc;
}

static int aws_destroy(struct prov *p, const char *region, const char *id, struct prov_error *err)
{
    struct aws *a = (struct aws *)p;
    struct form f;
    form_init(&f, "TerminateInstances");
    form_add(&f, "InstanceId.1", id);
    struct prov_instance_list l = {0};
    int rc = call_instances(a, region, &f, &l, NULL, 0, err);
    prov_instance_list_release(&l);
    if (rc != 0 && err->cls == PROV_NOT_FOUND)
        return 0; /* already gone */
    return rc;
}

/* CreateTags for `set`, then DeleteTags for `remove`, on one instance. */
static int aws_set_tags(struct prov *p, const char *region, const char *id,
                        const struct prov_tag *set, size_t nset, const char *const *remove,
                        size_t nremove, struct prov_error *err)
{
    struct aws *a = (struct aws *)p;
    if (nset > 48 || nremove > 48) { /* EC2: 50 tags per instance, two of them gpuform's */
        fail(err, PROV_INVALID, "aws: an instance holds at most 48 labels besides gpuform's tags");
        return -1;
    }
    for (int pass = 0; pass < 2; pass++) {
        size_t n = pass ? nremove : nset;
        if (n == 0)
            continue;
        struct form f;
        form_init(&f, pass ? "DeleteTags" : "CreateTags");
        form_add(&f, "ResourceId.1", id);
        for (size_t i = 0; i < n; i++) {
            char name[32];
            snprintf(name, sizeof name, "Tag.%zu.Key", i + 1);
            form_add(&f, name, pass ? remove[i] : set[i].key);
            if (!pass) {
                snprintf(name, sizeof name, "Tag.%zu.Value", i + 1);
                form_add(&f, name, set[i].value);
            }
        }
        struct core_http_response resp;
        int rc = call(a, region, &f, &resp, err);
        if (rc == 0 && (!resp.body.data || !strstr(resp.body.data, "<return>true</return>"))) {
            fail(err, PROV_TRANSIENT, "aws %s %s: EC2 sent a reply gpuform can't read", region,
                 f.action);
            snprintf(err->request_id, sizeof err->request_id, "%s", resp.request_id);
            rc = -1;
        }
        core_buf_release(&f.body);
        core_http_response_release(&resp);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* The request as one more tag (CreateTags): the instance metadata service shows the
 * instance's tags to the node when RunInstances allowed it (InstanceMetadataTags). */
static int aws_request_verify(struct prov *p, const char *region, const char *id, const char *value,
                              struct prov_error *err)
{
    const struct prov_tag t = {PROV_VERIFY_REQUEST_KEY, value};
    return aws_set_tags(p, region, id, &t, 1, NULL, 0, err);
}

static int describe_with(struct aws *a, const char *region, struct form *f,
                         struct prov_instance *out, bool *found, struct prov_error *err)
{
    struct prov_instance_list l = {0};
    int rc = call_instances(a, region, f, &l, NULL, 0, err);
    *found = rc == 0 && l.n > 0;
    if (*found)
        *out = l.items[0];
    prov_instance_list_release(&l);
    return rc;
}

static int aws_describe(struct prov *p, const char *region, const char *id,
                        struct prov_instance *out, struct prov_error *err)
{
    struct form f;
    form_init(&f, "DescribeInstances");
    form_add(&f, "InstanceId.1", id);
    bool found = false;
    if (describe_with((struct aws *)p, region, &f, out, &found, err) != 0)
        return -1;
    if (!found) {
        fail(err, PROV_NOT_FOUND, "aws %s: no instance '%s'", region, id);
        return -1;
    }
    return 0;
}

static int aws_find_by_token(struct prov *p, const char *region, const char *token,
                             struct prov_instance *out, bool *found, struct prov_error *err)
{
    struct form f;
    form_init(&f, "DescribeInstances");
    form_add(&f, "Filter.1.Name", "client-token");
    form_add(&f, "Filter.1.Value.1", token);
    return describe_with((struct aws *)p, region, &f, out, found, err);
}

static int aws_console_output(struct prov *p, const char *region, const char *id, char **text,
                              struct prov_error *err)
{
    struct aws *a = (struct aws *)p;
    struct form f;
    form_init(&f, "GetConsoleOutput");
    form_add(&f, "InstanceId", id);
    struct core_http_response resp;
    *text = NULL;
    int rc = call(a, region, &f, &resp, err);
    if (rc == 0) {
        char why[256];
        if (ec2_parse_console_output(resp.body.data, resp.body.len, text, why, sizeof why) != 0) {
            fail(err, PROV_TRANSIENT,
                 "aws %s GetConsoleOutput: EC2 sent a reply gpuform can't "
                 "read: %s",
                 region, why);
            rc = -1;
        }
    }
    core_http_response_release(&resp);
    core_buf_release(&f.body);
    return rc;
}

int aws_spot_price_history(struct prov *p, const char *region, const char *instance_type,
                           struct ec2_spot_price *out, size_t max, size_t *n,
                           struct prov_error *err)
{
    struct aws *a = (struct aws *)p;
    *n = 0;
    if (!p || p->ops != &prov_aws) {
        fail(err, PROV_INVALID, "aws_spot_price_history needs the AWS provider");
        return -1;
    }
    struct form f;
    form_init(&f, "DescribeSpotPriceHistory");
    form_add(&f, "InstanceType.1", instance_type);
    form_add(&f, "ProductDescription.1", "Linux/UNIX");
    /* a StartTime of now asks for the price in effect now in each zone, not the history */
    char now[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);
    form_add(&f, "StartTime", now);
    struct core_http_response resp;
    *n = 0;
    int rc = call(a, region, &f, &resp, err);
    if (rc == 0) {
        char why[256];
        if (ec2_parse_spot_prices(resp.body.data, resp.body.len, out, max, n, why, sizeof why) !=
            0) {
            fail(err, PROV_TRANSIENT,
                 "aws %s DescribeSpotPriceHistory: EC2 sent a reply gpuform can't read: %s", region,
                 why);
            rc = -1;
        }
    }
    core_http_response_release(&resp);
    core_buf_release(&f.body);
    return rc;
}

const struct prov_ops prov_aws = {
    .name = "aws",
    .open = aws_open,
    .close = aws_close,
    .list = aws_list,
    .create = aws_create,
    .destroy = aws_destroy,
    .describe = aws_describe,
    .find_by_token = aws_find_by_token,
    .console_output = aws_console_output,
    .classify = aws_classify,
    .set_tags = aws_set_tags,
    .request_verify = aws_request_verify,
};
