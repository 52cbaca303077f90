/*
 * The GCP provider over Compute Engine's v1 REST API: JSON over core/http (timeouts, TLS,
 * retries with jitter, redaction), an OAuth2 bearer token from gcp_auth.c, requestIds so that
 * retried inserts and deletes happen once, and zone operations waited on until they are done,
 * so that capacity and quota errors (which GCE reports in the operation) reach the executor.
 * Only the endpoint differs between real GCP and cloudsim.
 */
#include "modules/gcp/gcp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/http.h"
#include "parser/spec.h"
#include "modules/gcp/gcp_auth.h"
#include "modules/gcp/gcp_int.h"
#include "modules/gcp/gcp_json.h"

#define GCE_ENDPOINT "https://compute.googleapis.com"
#define DEFAULT_IMAGE                                                                              \
    "projects/deeplearning-platform-release/global/images/family/common-cu121-debian-11"
#define MAX_PAGES      10000
#define WAIT_TIMEOUT_S (15 * 60) /* how long a create waits for its operation */
#define WAIT_CALL_MS   150000    /* operations.wait holds up to two minutes */

struct gcp {
    struct prov base;
    struct gcp_token_source *ts;
    char project[128];
    char *endpoint; /* without a trailing '/' */
    struct core_http_client *http;
    bool own_http;
    char source[320]; /* where the credentials came from, for messages */
};

/* Which error replies are worth sending again as they are: throttling and GCE's own
 * failures; capacity, quota and the rest are final. */
static bool gce_should_retry(void *ctx, const struct core_http_response *resp)
{
    (void)ctx;
    char code[96], msg[8];
    if (gcp_parse_error(resp->body.data, resp->body.len, code, sizeof code, msg, sizeof msg) != 0)
        return resp->status >= 500 || resp->status == 429; /* not GCE speaking: a proxy */
    enum prov_error_class cls = gcp_classify(code, resp->status);
    return cls == PROV_TRANSIENT || cls == PROV_THROTTLED;
}

/* One API call. */
struct call {
    const char *method;
    const char *what;     /* "instances.insert": for messages and the rate key */
    const char *where;    /* zone or region: for messages and the rate key */
    struct core_buf path; /* after /compute/v1/projects/PROJECT, query included */
    const char *body;     /* JSON, or NULL */
    long timeout_ms;
};

static void call_init(struct call *c, const char *method, const char *what, const char *where)
{
    memset(c, 0, sizeof *c);
    c->method = method;
    c->what = what;
    c->where = where;
    core_buf_init(&c->path, 8192);
}

/* Fills err from a reply GCE (or something in between) refused. */
static void refused(struct gcp *g, struct call *c, const struct core_http_response *rs,
                    const struct core_http_error *he, struct prov_error *err)
{
    char code[96], msg[512];
    if (he->cls == CORE_HTTP_ERR_STATUS &&
        gcp_parse_error(rs->body.data, rs->body.len, code, sizeof code, msg, sizeof msg) == 0) {
        enum prov_error_class cls = gcp_classify(code, he->status);
        prov_error_set(err, cls, "gcp %s %s: %ld %s: %s%s%s%s", c->where, c->what, he->status,
                       *code ? code : "error", msg, cls == PROV_AUTH ? " (credentials from " : "",
                       cls == PROV_AUTH ? g->source : "", cls == PROV_AUTH ? ")" : "");
        snprintf(err->code, sizeof err->code, "%s", code);
    } else {
        enum prov_error_class cls = he->cls == CORE_HTTP_ERR_STATUS ? gcp_classify(NULL, he->status)
                                    : he->cls == CORE_HTTP_ERR_TLS  ? PROV_INVALID
                                                                    : PROV_TRANSIENT;
        prov_error_set(err, cls, "gcp %s %s: %s", c->where, c->what, he->message);
    }
    err->http_status = he->status;
    snprintf(err->request_id, sizeof err->request_id, "%s", rs->request_id);
}

/*
 * Sends the call. 0 with *rs holding the reply (release it), or -1 with err filled (rs
 * released). A 401 drops the cached token and tries once more with a new one.
 */
static int call_do(struct gcp *g, struct call *c, struct core_http_response *rs,
                   struct prov_error *err)
{
    struct core_buf url;
    core_buf_init(&url, 16384);
    core_buf_addf(&url, "%s/compute/v1/projects/%s%s", g->endpoint, g->project,
                  core_buf_str(&c->path));
    char auth[4096], rate_key[160];
    snprintf(rate_key, sizeof rate_key, "gcp/%s/compute:%s", c->where, c->what);
    int rc = -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        core_http_response_init(rs);
        if (gcp_token_header(g->ts, auth, sizeof auth, err) != 0)
            break;
        const char *headers[] = {auth, "Content-Type: application/json", "Expect:", NULL};
        struct core_http_request rq = {
            .method = c->method,
            .url = core_buf_str(&url),
            .headers = headers,
            .body = c->body,
            .body_len = c->body ? strlen(c->body) : 0,
            /* every call is safe to repeat: inserts and deletes carry a requestId */
            .idempotent = true,
            .rate_key = rate_key,
            .timeout_ms = c->timeout_ms,
            .should_retry = gce_should_retry,
        };
        struct core_http_error he = {0};
        rc = core_http_do(g->http, &rq, rs, &he);
        if (rc == 0)
            break;
        if (he.cls == CORE_HTTP_ERR_STATUS && he.status == 401 && attempt == 0) {
            gcp_token_invalidate(g->ts); /* expired or revoked early: one more try */
            core_http_response_release(rs);
            continue;
        }
        refused(g, c, rs, &he, err);
        break;
    }
    memset(auth, 0, sizeof auth);
    if (rc != 0)
        core_http_response_release(rs);
    core_buf_release(&url);
    core_buf_release(&c->path);
    return rc;
}

/* A reply gpuform can't read: transient (a proxy's page, a truncated body). */
static int unreadable(struct call *c, const struct core_http_response *rs, const char *why,
                      struct prov_error *err)
{
    prov_error_set(err, PROV_TRANSIENT, "gcp %s %s: GCE sent a reply gpuform can't read: %s",
                   c->where, c->what, why);
    snprintf(err->request_id, sizeof err->request_id, "%s", rs->request_id);
    return -1;
}

/* Splits "ZONE/NAME"; -1 (not-found) when the id is not one of ours or not in `region`. */
static int split_id(const char *region, const char *id, char zone[64], char name[64],
                    struct prov_error *err)
{
    const char *slash = id ? strchr(id, '/') : NULL;
    char zr[64];
    if (!slash || slash == id || (size_t)(slash - id) >= 64 || strlen(slash + 1) >= 64 ||
        !slash[1] || strchr(slash + 1, '/')) {
        prov_error_set(err, PROV_NOT_FOUND, "gcp: '%s' is not a GCE instance id (ZONE/NAME)",
                       id ? id : "");
        return -1;
    }
    snprintf(zone, 64, "%.*s", (int)(slash - id), id);
    snprintf(name, 64, "%s", slash + 1);
    gcp_zone_region(zone, zr);
    if (region && *region && strcmp(zr, region)) {
        prov_error_set(err, PROV_NOT_FOUND, "gcp %s: no instance '%s' (its zone is in %s)", region,
                       id, zr);
        return -1;
    }
    return 0;
}

static int get_instance(struct gcp *g, const char *zone, const char *name,
                        struct prov_instance *out, struct prov_error *err)
{
    struct call c;
    call_init(&c, "GET", "instances.get", zone);
    core_buf_addf(&c.path, "/zones/%s/instances/%s", zone, name);
    struct core_http_response rs;
    if (call_do(g, &c, &rs, err) != 0)
        return -1;
    char why[256];
    int rc = gcp_parse_instance(rs.body.data, rs.body.len, out, why, sizeof why);
    if (rc != 0)
        unreadable(&c, &rs, why, err);
    core_http_response_release(&rs);
    return rc;
}

/*
 * Every instance of the project in `region` whose labels match `filter` (GCE's filter
 * syntax), through aggregatedList, paged to the end. Appends to *out.
 */
static int list_filtered(struct gcp *g, const char *region, const char *filter,
                         struct prov_instance_list *out, struct prov_error *err)
{
    char next[2048] = "";
    for (int page = 0; page < MAX_PAGES; page++) {
        struct call c;
        call_init(&c, "GET", "instances.aggregatedList", region);
        core_buf_adds(&c.path, "/aggregated/instances?maxResults=500&returnPartialSuccess=true"
                               "&filter=");
        gcp_percent_encode(&c.path, filter);
        if (next[0]) {
            core_buf_adds(&c.path, "&pageToken=");
            gcp_percent_encode(&c.path, next);
        }
        struct core_http_response rs;
        if (call_do(g, &c, &rs, err) != 0)
            return -1;
        char why[256];
        int rc = gcp_parse_instance_list(rs.body.data, rs.body.len, region, out, next, sizeof next,
                                         why, sizeof why);
        if (rc != 0)
            unreadable(&c, &rs, why, err);
        core_http_response_release(&rs);
        if (rc != 0)
            return -1;
        if (!next[0])
            return 0;
    }
    prov_error_set(err, PROV_TRANSIENT,
                   "gcp %s instances.aggregatedList: more than %d pages; giving up", region,
                   MAX_PAGES);
    return -1;
}

/* ---- operations ---- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Reads an operation reply into *op; -1 (transient) when it is not one. */
static int read_op(struct call *c, struct core_http_response *rs, struct gcp_operation *op,
                   struct prov_error *err)
{
    char why[256];
    int rc = gcp_parse_operation(rs->body.data, rs->body.len, op, why, sizeof why);
    if (rc != 0)
        unreadable(c, rs, why, err);
    core_http_response_release(rs);
    return rc;
}

/* Waits (operations.wait, again and again) until the operation is DONE or the deadline. */
static int wait_done(struct gcp *g, const char *zone, struct gcp_operation *op,
                     struct prov_error *err)
{
    time_t deadline = time(NULL) + WAIT_TIMEOUT_S;
    long pause = 100;
    while (strcmp(op->status, "DONE")) {
        if (time(NULL) >= deadline) {
            prov_error_set(err, PROV_TRANSIENT, "gcp %s: operation %s is still %s after %d minutes",
                           zone, op->name, op->status, WAIT_TIMEOUT_S / 60);
            return -1;
        }
        time_t t0 = time(NULL);
        struct call c;
        call_init(&c, "POST", "zoneOperations.wait", zone);
        core_buf_addf(&c.path, "/zones/%s/operations/%s/wait", zone, op->name);
        c.timeout_ms = WAIT_CALL_MS;
        struct core_http_response rs;
        if (call_do(g, &c, &rs, err) != 0 || read_op(&c, &rs, op, err) != 0)
            return -1;
        if (strcmp(op->status, "DONE") && time(NULL) - t0 < 1) { /* it did not wait: poll */
            sleep_ms(pause);
            pause = pause < 2000 ? pause * 2 : 2000;
        }
    }
    return 0;
}

/* An operation that ended in an error, as a prov_error. */
static int op_failed(const char *where, const char *what, const struct gcp_operation *op,
                     struct prov_error *err)
{
    enum prov_error_class cls = gcp_classify(op->error_code, op->http_error);
    prov_error_set(err, cls, "gcp %s %s: operation %s failed: %s: %s", where, what, op->name,
                   op->error_code, op->error_msg);
    snprintf(err->code, sizeof err->code, "%s", op->error_code);
    err->http_status = op->http_error;
    return -1;
}

/* ---- the vtable ---- */

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* The project on a GCE VM, from the metadata server. */
static void metadata_project(struct gcp *g, const char *token_uri)
{
    char url[600];
    const char *host = strstr(token_uri, "://");
    const char *slash = host ? strchr(host + 3, '/') : NULL;
    if (!slash)
        return;
    snprintf(url, sizeof url, "%.*s/computeMetadata/v1/project/project-id",
             (int)(slash - token_uri), token_uri);
    const char *headers[] = {"Metadata-Flavor: Google", NULL};
    struct core_http_request rq = {
        .url = url, .headers = headers, .idempotent = true, .connect_timeout_ms = 2000};
    struct core_http_response rs;
    if (core_http_do(g->http, &rq, &rs, NULL) == 0 && rs.body.len < sizeof g->project)
        snprintf(g->project, sizeof g->project, "%s", core_buf_str(&rs.body));
    core_http_response_release(&rs);
}

static void gcp_close(struct prov *p)
{
    struct gcp *g = (struct gcp *)p;
    if (!g)
        return;
    gcp_token_source_free(g->ts);
    if (g->own_http)
        core_http_client_free(g->http);
    free(g->endpoint);
    free(g);
}

static struct prov *gcp_open(const struct prov_config *cfg, struct prov_error *err)
{
    struct gcp *g = calloc(1, sizeof *g);
    if (!g) {
        prov_error_set(err, PROV_TRANSIENT, "out of memory");
        return NULL;
    }
    g->base.ops = &prov_gcp;
    struct gcp_credentials cred;
    char why[640];
    const struct spec_cloud *st = cfg ? cfg->stack : NULL;
    if (gcp_credentials_find(NULL, NULL, NULL, st ? st->credentials_file : NULL, &cred, why,
                             sizeof why) != 0) {
        prov_error_set(err, PROV_AUTH, "gcp: %s", why);
        free(g);
        return NULL;
    }
    snprintf(g->source, sizeof g->source, "%s", cred.source);
    const char *ep = cfg && cfg->endpoint ? cfg->endpoint
                     : st && st->endpoint ? st->endpoint
                                          : env("GPUFORM_GCP_ENDPOINT");
    g->endpoint = strdup(ep && *ep ? ep : GCE_ENDPOINT);
    size_t n = g->endpoint ? strlen(g->endpoint) : 0;
    while (n > 0 && g->endpoint[n - 1] == '/')
        g->endpoint[--n] = '\0';
    g->http = cfg && cfg->http ? cfg->http : NULL;
    if (!g->http) {
        g->http = core_http_client_new(NULL);
        g->own_http = true;
    }
    const char *project = st && st->project && *st->project ? st->project
                          : env("GOOGLE_CLOUD_PROJECT")     ? env("GOOGLE_CLOUD_PROJECT")
                                                            : env("CLOUDSDK_CORE_PROJECT");
    snprintf(g->project, sizeof g->project, "%s", project ? project : cred.project_id);
    bool metadata = cred.kind == GCP_CRED_METADATA;
    char token_uri[512];
    snprintf(token_uri, sizeof token_uri, "%s", cred.token_uri);
    /* the token URL may be moved only together with the API (cloudsim, a private endpoint) */
    struct gcp_token_options to = {.token_uri = ep && *ep ? env("GPUFORM_GCP_TOKEN_URI") : NULL};
    g->ts = g->http && g->endpoint ? gcp_token_source_new(&cred, g->http, &to) : NULL;
    if (!g->ts) {
        gcp_credentials_release(&cred);
        prov_error_set(err, PROV_TRANSIENT, "out of memory");
        gcp_close(&g->base);
        return NULL;
    }
    if (!g->project[0] && metadata)
        metadata_project(g, token_uri);
    if (!g->project[0] ||
        strspn(g->project, "abcdefghijklmnopqrstuvwxyz0123456789-:.") != strlen(g->project)) {
        prov_error_set(err, PROV_AUTH,
                       "gcp: no usable project: the stack, the environment and %s name none; set "
                       "clouds.gcp.project or GOOGLE_CLOUD_PROJECT to the project's id",
                       g->source);
        gcp_close(&g->base);
        return NULL;
    }
    return &g->base;
}

static int gcp_list(struct prov *p, const char *region, const char *stack,
                    struct prov_instance_list *out, struct prov_error *err)
{
    struct gcp *g = (struct gcp *)p;
    char label[64], filter[128];
    gcp_label_value(stack, label);
    snprintf(filter, sizeof filter, "labels.%s = \"%s\"", GCP_LABEL_STACK, label);
    struct prov_instance_list all = {0};
    int rc = list_filtered(g, region, filter, &all, err);
    for (size_t i = 0; rc == 0 && i < all.n; i++) {
        /* the label is lossy: the exact stack is in the metadata */
        if (strcmp(all.items[i].stack, stack) || all.items[i].state == PROV_TERMINATED)
            continue;
        if (prov_instance_list_add(out, &all.items[i]) != 0) {
            prov_error_set(err, PROV_TRANSIENT, "out of memory");
            rc = -1;
        }
    }
    prov_instance_list_release(&all);
    return rc;
}

/* The first zone of `region` (regions.get), for a create that names none. */
static int first_zone(struct gcp *g, const char *region, char zone[64], struct prov_error *err)
{
    struct call c;
    call_init(&c, "GET", "regions.get", region);
    core_buf_addf(&c.path, "/regions/%s", region);
    struct core_http_response rs;
    if (call_do(g, &c, &rs, err) != 0)
        return -1;
    char why[256];
    int rc = gcp_parse_region_zone(rs.body.data, rs.body.len, zone, why, sizeof why);
    if (rc != 0)
        unreadable(&c, &rs, why, err);
    core_http_response_release(&rs);
    return rc;
}

/*
 * GCE answers an insert of a machine or accelerator type the zone lacks with a plain
 * "invalid"; asks whether that is the reason and says so as capacity, so that the executor
 * tries another place (as EC2's Unsupported does).
 */
static void explain_invalid(struct gcp *g, const char *zone, const struct prov_create *req,
                            const char *accelerator, struct prov_error *err)
{
    struct prov_error e2;
    struct call c;
    call_init(&c, "GET", "machineTypes.get", zone);
    core_buf_addf(&c.path, "/zones/%s/machineTypes/%s", zone, req->instance_type);
    struct core_http_response rs;
    char why[256];
    if (call_do(g, &c, &rs, &e2) != 0) {
        if (e2.cls == PROV_NOT_FOUND)
            prov_error_set(err, PROV_CAPACITY,
                           "gcp %s: machine type %s is not offered in this zone", zone,
                           req->instance_type);
        return;
    }
    struct gcp_machine_type mt;
    int ok = gcp_parse_machine_type(rs.body.data, rs.body.len, &mt, why, sizeof why);
    core_http_response_release(&rs);
    if (ok != 0 || !accelerator)
        return;
    call_init(&c, "GET", "acceleratorTypes.get", zone);
    core_buf_addf(&c.path, "/zones/%s/acceleratorTypes/%s", zone, accelerator);
    if (call_do(g, &c, &rs, &e2) != 0) {
        if (e2.cls == PROV_NOT_FOUND)
            prov_error_set(err, PROV_CAPACITY, "gcp %s: accelerator %s is not offered in this zone",
                           zone, accelerator);
        return;
    }
    struct gcp_accelerator_type at;
    if (gcp_parse_accelerator_type(rs.body.data, rs.body.len, &at, why, sizeof why) == 0 &&
        req->gpus > at.max_per_instance)
        prov_error_set(err, PROV_INVALID, "gcp %s: %s takes at most %d per instance, not %d", zone,
                       at.name, at.max_per_instance, req->gpus);
    core_http_response_release(&rs);
}

/* The instance an earlier insert with this token made under `name`, if it is there. */
static int adopt_existing(struct gcp *g, const char *zone, const char *name,
                          const struct prov_create *req, struct prov_instance *out,
                          struct prov_error *err)
{
    struct prov_error e2;
    if (get_instance(g, zone, name, out, &e2) == 0 && !strcmp(out->token, req->token))
        return 0;
    prov_error_set(
        err, PROV_INVALID,
        "gcp %s instances.insert: the name %s is taken by an instance gpuform did not make with "
        "this token",
        zone, name);
    snprintf(err->code, sizeof err->code, "alreadyExists");
    return -1;
}

static const char *image_for(const struct prov_create *req)
{
    if (req->image && *req->image && strncmp(req->image, "ami-", 4))
        return req->image;
    return env("GPUFORM_GCP_IMAGE") ? env("GPUFORM_GCP_IMAGE") : DEFAULT_IMAGE;
}

static int gcp_create(struct prov *p, const struct prov_create *req, struct prov_instance *out,
                      struct prov_error *err)
{
    struct gcp *g = (struct gcp *)p;
    if (!req->token || !*req->token || strlen(req->token) > 64) {
        prov_error_set(err, PROV_INVALID,
                       "gcp: a create needs an idempotency token of 1 to 64 characters");
        return -1;
    }
    const char *accelerator = NULL;
    if (gcp_type_takes_accelerators(req->instance_type) && req->gpu && req->gpus > 0 &&
        !(accelerator = gcp_accelerator_name(req->gpu))) {
        prov_error_set(err, PROV_INVALID, "gcp: GCE has no accelerator type for GPU '%s'",
                       req->gpu);
        return -1;
    }
    char zone[64], name[64], rid[37];
    if (req->zone && *req->zone)
        snprintf(zone, sizeof zone, "%s", req->zone);
    else if (first_zone(g, req->region, zone, err) != 0)
        return -1;
    gcp_instance_name(req->address, req->token, name);
    gcp_request_id("insert", req->token, rid);
    char *body = gcp_insert_body(req, zone, name, image_for(req), accelerator);
    if (!body) {
        prov_error_set(err, PROV_TRANSIENT, "out of memory");
        return -1;
    }
    struct call c;
    call_init(&c, "POST", "instances.insert", zone);
    core_buf_addf(&c.path, "/zones/%s/instances?requestId=%s", zone, rid);
    c.body = body;
    struct core_http_response rs;
    struct gcp_operation op;
    int rc = call_do(g, &c, &rs, err);
    free(body);
    if (rc != 0) {
        if (!strcmp(err->code, "alreadyExists"))
            return adopt_existing(g, zone, name, req, out, err);
        if (err->cls == PROV_INVALID)
            explain_invalid(g, zone, req, accelerator, err);
        return -1;
    }
    if (read_op(&c, &rs, &op, err) != 0 || wait_done(g, zone, &op, err) != 0)
        return -1;
    if (op.error_code[0])
        return op_failed(zone, "instances.insert", &op, err);
    return get_instance(g, zone, name, out, err);
}

static int gcp_destroy(struct prov *p, const char *region, const char *id, struct prov_error *err)
{
    struct gcp *g = (struct gcp *)p;
    char zone[64], name[64], rid[37];
    if (split_id(region, id, zone, name, err) != 0)
        return -1;
    gcp_request_id("delete", id, rid);
    struct call c;
    call_init(&c, "DELETE", "instances.delete", zone);
    core_buf_addf(&c.path, "/zones/%s/instances/%s?requestId=%s", zone, name, rid);
    struct core_http_response rs;
    struct gcp_operation op;
    if (call_do(g, &c, &rs, err) != 0)
        return err->cls == PROV_NOT_FOUND ? 0 : -1; /* already gone */
    if (read_op(&c, &rs, &op, err) != 0)
        return -1;
    if (op.error_code[0] && gcp_classify(op.error_code, op.http_error) != PROV_NOT_FOUND)
        return op_failed(zone, "instances.delete", &op, err);
    return 0;
}

static int gcp_describe(struct prov *p, const char *region, const char *id,
                        struct prov_instance *out, struct prov_error *err)
{
    char zone[64], name[64];
    if (split_id(region, id, zone, name, err) != 0)
        return -1;
    return get_instance((struct gcp *)p, zone, name, out, err);
}

static int gcp_find_by_token(struct prov *p, const char *region, const char *token,
                             struct prov_instance *out, bool *found, struct prov_error *err)
{
    char label[64], filter[128];
    gcp_label_value(token, label);
    snprintf(filter, sizeof filter, "labels.%s = \"%s\"", GCP_LABEL_TOKEN, label);
    struct prov_instance_list l = {0};
    *found = false;
    int rc = list_filtered((struct gcp *)p, region, filter, &l, err);
    for (size_t i = 0; rc == 0 && i < l.n && !*found; i++)
        if (!strcmp(l.items[i].token, token)) {
            *out = l.items[i];
            *found = true;
        }
    prov_instance_list_release(&l);
    return rc;
}

static int gcp_console_output(struct prov *p, const char *region, const char *id, char **text,
                              struct prov_error *err)
{
    char zone[64], name[64];
    *text = NULL;
    if (split_id(region, id, zone, name, err) != 0)
        return -1;
    struct call c;
    call_init(&c, "GET", "instances.getSerialPortOutput", zone);
    core_buf_addf(&c.path, "/zones/%s/instances/%s/serialPort?port=1", zone, name);
    struct core_http_response rs;
    if (call_do((struct gcp *)p, &c, &rs, err) != 0)
        return -1;
    char why[256];
    int rc = gcp_parse_serial_output(rs.body.data, rs.body.len, text, why, sizeof why);
    if (rc != 0)
        unreadable(&c, &rs, why, err);
    core_http_response_release(&rs);
    return rc;
}

#define SET_METADATA_TRIES 5 /* instances.get then setMetadata, again on a stale fingerprint */

/* The metadata item, set with instances.setMetadata: the current items and fingerprint from
 * instances.get, the item set among them, and the whole list sent back; a 412 (another
 * writer changed the metadata in between) starts again from a fresh get. */
static int gcp_request_verify(struct prov *p, const char *region, const char *id, const char *value,
                              struct prov_error *err)
{
    struct gcp *g = (struct gcp *)p;
    char zone[64], name[64];
    if (split_id(region, id, zone, name, err) != 0)
        return -1;
    for (int attempt = 0; attempt < SET_METADATA_TRIES; attempt++) {
        struct call c;
        call_init(&c, "GET", "instances.get", zone);
        core_buf_addf(&c.path, "/zones/%s/instances/%s", zone, name);
        struct core_http_response rs;
        if (call_do(g, &c, &rs, err) != 0)
            return -1;
        char why[256], *body = NULL;
        int rc = gcp_metadata_set_body(rs.body.data, rs.body.len, PROV_VERIFY_REQUEST_KEY, value,
                                       &body, why, sizeof why);
        if (rc != 0)
            unreadable(&c, &rs, why, err);
        core_http_response_release(&rs);
        if (rc != 0)
            return -1;
        /* the same body (hence fingerprint and value) is the same request: retried once */
        char rid[37], key[200];
        snprintf(key, sizeof key, "%s %s %d", id, value, attempt);
        gcp_request_id("setmetadata", key, rid);
        call_init(&c, "POST", "instances.setMetadata", zone);
        core_buf_addf(&c.path, "/zones/%s/instances/%s/setMetadata?requestId=%s", zone, name, rid);
        c.body = body;
        struct gcp_operation op;
        rc = call_do(g, &c, &rs, err);
        free(body);
        if (rc != 0 && err->http_status == 412)
            continue; /* conditionNotMet: the fingerprint went stale */
        if (rc != 0 || read_op(&c, &rs, &op, err) != 0 || wait_done(g, zone, &op, err) != 0)
            return -1;
        return op.error_code[0] ? op_failed(zone, "instances.setMetadata", &op, err) : 0;
    }
    prov_error_set(err, PROV_TRANSIENT,
                   "gcp %s instances.setMetadata: '%s': the metadata kept changing under it (412 "
                   "conditionNotMet %d times); try again",
                   zone, id, SET_METADATA_TRIES);
    return -1;
}

const struct prov_ops prov_gcp = {
    .name = "gcp",
    .open = gcp_open,
    .close = gcp_close,
    .list = gcp_list,
    .create = gcp_create,
    .destroy = gcp_destroy,
    .describe = gcp_describe,
    .find_by_token = gcp_find_by_token,
    .console_output = gcp_console_output,
    .classify = gcp_classify,
    .request_verify = gcp_request_verify,
};
