/*
 * The EC2 dialect of cloudsim (Query API 2016-11-15): decodes the form parameters of one
 * request, applies throttling and injected faults, runs the action against the world and
 * writes the reply as EC2 does, XML through libxml2's xmlTextWriter so that every value is
 * escaped. Errors use EC2's <Response><Errors> envelope and its codes and HTTP statuses.
 */
#include "modules/cloudsim/sim.h"
#include "modules/cloudsim/sim_int.h"

#include "modules/aws/ec2.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/xmlwriter.h>

#define EC2_NS          "http://ec2.amazonaws.com/doc/2016-11-15/"
#define MAX_INSTANCE_ID 64
#define MAX_RUN         1000

/* ---- form decoding ---- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static char *unescape(const char *s, size_t len)
{
    char *out = malloc(len + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            *o++ = ' ';
        } else if (s[i] == '%') {
            int a = i + 1 < len ? hexval((unsigned char)s[i + 1]) : -1;
            int b = i + 2 < len ? hexval((unsigned char)s[i + 2]) : -1;
            if (a < 0 || b < 0) {
                free(out);
                return NULL;
            }
            *o++ = (char)(a * 16 + b);
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = 0;
    return out;
}

int sim_params_parse(const char *s, size_t len, struct sim_param **params, size_t *n, size_t max)
{
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && s[j] != '&')
            j++;
        if (j > i) {
            if (*n >= max)
                return -1;
            const char *eq = memchr(s + i, '=', j - i);
            size_t klen = eq ? (size_t)(eq - (s + i)) : j - i;
            char *k = unescape(s + i, klen);
            char *v = eq ? unescape(eq + 1, (size_t)(s + j - eq - 1)) : strdup("");
            struct sim_param *p = realloc(*params, (*n + 1) * sizeof *p);
            if (!k || !v || !p) {
                free(k);
                free(v);
                if (p)
                    *params = p;
                return -1;
            }
            *params = p;
            p[*n].name = k;
            p[*n].value = v;
            (*n)++;
        }
        i = j + 1;
    }
    return 0;
}

void sim_params_free(struct sim_param *params, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(params[i].name);
        free(params[i].value);
    }
    free(params);
}

const char *sim_param_get(const struct sim_param *p, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(p[i].name, name))
            return p[i].value;
    return NULL;
}

/* The values of NAME.1, NAME.2, ... in index order, stopping at the first gap. */
static size_t param_list(const struct sim_param *p, size_t n, const char *prefix, const char **out,
                         size_t max)
{
    size_t k = 0;
    char name[256];
    for (; k < max; k++) {
        snprintf(name, sizeof name, "%s.%zu", prefix, k + 1);
        const char *v = sim_param_get(p, n, name);
        if (!v)
            break;
        out[k] = v;
    }
    return k;
}

/* ---- XML ---- */

struct xw {
    xmlBufferPtr buf;
    xmlTextWriterPtr w;
};

static int xw_open(struct xw *x, const char *root)
{
    x->buf = xmlBufferCreate();
    x->w = x->buf ? xmlNewTextWriterMemory(x->buf, 0) : NULL;
    if (!x->w) {
        if (x->buf)
            xmlBufferFree(x->buf);
        return -1;
    }
    xmlTextWriterSetIndent(x->w, 1);
    xmlTextWriterSetIndentString(x->w, (const xmlChar *)"  ");
    xmlTextWriterStartDocument(x->w, "1.0", "UTF-8", NULL);
    xmlTextWriterStartElement(x->w, (const xmlChar *)root);
    if (strcmp(root, "Response"))
        xmlTextWriterWriteAttribute(x->w, (const xmlChar *)"xmlns", (const xmlChar *)EC2_NS);
    return 0;
}

static void start(struct xw *x, const char *name)
{
    xmlTextWriterStartElement(x->w, (const xmlChar *)name);
}

static void end(struct xw *x)
{
    xmlTextWriterEndElement(x->w);
}

static void el(struct xw *x, const char *name, const char *text)
{
    xmlTextWriterWriteElement(x->w, (const xmlChar *)name, (const xmlChar *)(text ? text : ""));
}

static void elf(struct xw *x, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void elf(struct xw *x, const char *name, const char *fmt, ...)
{
    char s[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s, sizeof s, fmt, ap);
    va_end(ap);
    el(x, name, s);
}

static void xw_close(struct xw *x, struct sim_reply *r, int status)
{
    xmlTextWriterEndDocument(x->w);
    xmlFreeTextWriter(x->w);
    r->status = status;
    r->content_type = "text/xml;charset=UTF-8";
    r->len = (size_t)xmlBufferLength(x->buf);
    r->body = malloc(r->len + 1);
    if (r->body) {
        memcpy(r->body, xmlBufferContent(x->buf), r->len);
        r->body[r->len] = 0;
    } else {
        r->len = 0;
        r->status = 500;
    }
    xmlBufferFree(x->buf);
}

static void request_id(struct sim_world *w, char out[37])
{
    uint64_t a = sim_rand(w), b = sim_rand(w);
    snprintf(out, 37, "%08" PRIx64 "-%04" PRIx64 "-4%03" PRIx64 "-a%03" PRIx64 "-%012" PRIx64,
             a >> 32, (a >> 16) & 0xffff, a & 0xfff, b >> 52, (uint64_t)(b & 0xffffffffffffull));
}

void sim_ec2_error(struct sim_world *w, struct sim_reply *r, int status, const char *code,
                   const char *fmt, ...)
{
    char msg[768], rid[37];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    request_id(w, rid);
    snprintf(r->request_id, sizeof r->request_id, "%s", rid);
    free(r->body);
    r->body = NULL;
    struct xw x;
    if (xw_open(&x, "Response") < 0) {
        r->status = 500;
        return;
    }
    xmlTextWriterSetIndent(x.w, 0);
    start(&x, "Errors");
    start(&x, "Error");
    el(&x, "Code", code);
    el(&x, "Message", msg);
    end(&x);
    end(&x);
    el(&x, "RequestID", rid);
    xw_close(&x, r, status);
}

static void iso_time(double t, char out[64])
{
    time_t s = (time_t)t;
    struct tm tm;
    gmtime_r(&s, &tm);
    int ms = (int)((t - (double)s) * 1000);
    if (ms < 0 || ms > 999)
        ms = 0;
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

static const char *state_name(enum sim_state s)
{
    return s == SIM_RUNNING         ? "running"
           : s == SIM_SHUTTING_DOWN ? "shutting-down"
           : s == SIM_TERMINATED    ? "terminated"
                                    : "pending";
}

static void write_state(struct xw *x, const char *elname, enum sim_state s)
{
    start(x, elname);
    elf(x, "code", "%d", (int)s);
    el(x, "name", state_name(s));
    end(x);
}

static void write_instance(struct xw *x, const struct sim_instance *inst)
{
    char t[64];
    start(x, "item");
    el(x, "instanceId", inst->id);
    el(x, "imageId", inst->image);
    write_state(x, "instanceState", inst->state);
    char dns[64];
    snprintf(dns, sizeof dns, "ip-%s", inst->private_ip);
    for (char *d = dns; *d; d++)
        if (*d == '.')
            *d = '-';
    elf(x, "privateDnsName", "%s.%s.compute.internal", dns, inst->region);
    el(x, "dnsName", "");
    el(x, "reason", inst->transition_reason ? inst->transition_reason : "");
    if (inst->key_name)
        el(x, "keyName", inst->key_name);
    elf(x, "amiLaunchIndex", "%d", inst->launch_index);
    el(x, "productCodes", "");
    el(x, "instanceType", inst->type);
    iso_time(inst->launch_time, t);
    el(x, "launchTime", t);
    start(x, "placement");
    el(x, "availabilityZone", inst->zone);
    el(x, "groupName", "");
    el(x, "tenancy", "default");
    end(x);
    start(x, "monitoring");
    el(x, "state", "disabled");
    end(x);
    if (inst->state != SIM_TERMINATED)
        el(x, "privateIpAddress", inst->private_ip);
    el(x, "architecture", "x86_64");
    el(x, "rootDeviceType", "ebs");
    el(x, "rootDeviceName", "/dev/xvda");
    if (inst->spot) {
        el(x, "instanceLifecycle", "spot");
        elf(x, "spotInstanceRequestId", "sir-%.8s", inst->id + 3);
    }
    el(x, "virtualizationType", "hvm");
    el(x, "clientToken", inst->client_token ? inst->client_token : "");
    if (inst->ntags) {
        start(x, "tagSet");
        for (size_t i = 0; i < inst->ntags; i++) {
            start(x, "item");
            el(x, "key", inst->tags[i].key);
            el(x, "value", inst->tags[i].value);
            end(x);
        }
        end(x);
    }
    if (inst->reason_code) {
        start(x, "stateReason");
        el(x, "code", inst->reason_code);
        el(x, "message", inst->reason_message);
        end(x);
    }
    el(x, "hypervisor", "xen");
    el(x, "ebsOptimized", "false");
    start(x, "metadataOptions");
    el(x, "state", "applied");
    el(x, "httpTokens", "required");
    el(x, "httpPutResponseHopLimit", "2");
    el(x, "httpEndpoint", "enabled");
    el(x, "instanceMetadataTags", inst->metadata_tags ? "enabled" : "disabled");
    end(x);
    end(x);
}

static void reservation_open(struct xw *x, const struct sim_instance *inst)
{
    el(x, "reservationId", inst->reservation);
    el(x, "ownerId", "123456789012");
    start(x, "groupSet");
    end(x);
    start(x, "instancesSet");
}

/* ---- actions ---- */

static bool valid_instance_id(const char *id)
{
    size_t n = strlen(id);
    return !strncmp(id, "i-", 2) && (n == 10 || n == 19) &&
           strspn(id + 2, "0123456789abcdef") == n - 2;
}

/* The instance `id` of `region`, or NULL after answering as EC2 does: Malformed for an id
 * that can't be one, NotFound for one this region doesn't have. */
static const struct sim_instance *instance_or_error(struct sim_world *w, struct sim_reply *r,
                                                    const char *region, const char *id)
{
    if (!valid_instance_id(id)) {
        sim_ec2_error(w, r, 400, "InvalidInstanceID.Malformed", "Invalid id: \"%s\"", id);
        return NULL;
    }
    const struct sim_instance *inst = sim_world_find(w, id);
    if (!inst || inst->cloud != CORE_CLOUD_AWS || strcmp(inst->region, region)) {
        sim_ec2_error(w, r, 400, "InvalidInstanceID.NotFound",
                      "The instance ID '%s' does not exist", id);
        return NULL;
    }
    return inst;
}

/* Hash of every parameter but Action, Version, ClientToken and the signature's, by name. */
static void params_hash(const struct sim_param *p, size_t n, char out[17])
{
    uint64_t h = 0;
    for (size_t i = 0; i < n; i++) {
        const char *k = p[i].name;
        if (!strcmp(k, "Action") || !strcmp(k, "Version") || !strcmp(k, "ClientToken") ||
            !strncmp(k, "X-Amz-", 6))
            continue;
        /* Sum of per-pair hashes: the order of parameters does not matter. */
        h += sim_hash(sim_hash(SIM_HASH_INIT, k), p[i].value);
    }
    snprintf(out, 17, "%016" PRIx64, h);
}

static long int_param(const struct sim_param *p, size_t n, const char *name, long dflt, bool *bad)
{
    const char *v = sim_param_get(p, n, name);
    if (!v)
        return dflt;
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end)
        *bad = true;
    return x;
}

static void bad_imds_tag_key(struct sim_world *w, struct sim_reply *r, const char *k)
{
    sim_ec2_error(w, r, 400, "InvalidParameterValue",
                  "The tag key '%s' is not valid for an instance with tags in instance metadata: "
                  "keys may hold letters, numbers and + - = . , _ : @ only, and may not be '.', "
                  "'..' or '_index'.",
                  k);
}

static void run_instances(struct sim_world *w, const char *region, const struct sim_param *p,
                          size_t n, double now, struct sim_reply *r)
{
    bool bad = false;
    struct sim_run_request req = {
        .cloud = CORE_CLOUD_AWS,
        .region = region,
        .zone = sim_param_get(p, n, "Placement.AvailabilityZone"),
        .type = sim_param_get(p, n, "InstanceType"),
        .image = sim_param_get(p, n, "ImageId"),
        .client_token = sim_param_get(p, n, "ClientToken"),
        .user_data = sim_param_get(p, n, "UserData"),
        .key_name = sim_param_get(p, n, "KeyName"),
        .min_count = int_param(p, n, "MinCount", -1, &bad),
        .max_count = int_param(p, n, "MaxCount", -1, &bad),
    };
    if (bad || req.min_count < 0 || req.max_count < 0)
        return sim_ec2_error(w, r, 400,
                             req.min_count < 0 || req.max_count < 0 ? "MissingParameter"
                                                                    : "InvalidParameterValue",
                             "The request must contain the parameters MinCount and MaxCount as "
                             "whole numbers");
    if (req.max_count > MAX_RUN)
        return sim_ec2_error(w, r, 400, "InvalidParameterValue",
                             "Value (%ld) for parameter maxCount is invalid. The most cloudsim "
                             "launches in one call is %d.",
                             req.max_count, MAX_RUN);
    if (!req.image)
        return sim_ec2_error(w, r, 400, "MissingParameter",
                             "The request must contain the parameter ImageId");
    const char *market = sim_param_get(p, n, "InstanceMarketOptions.MarketType");
    if (market && strcmp(market, "spot"))
        return sim_ec2_error(w, r, 400, "InvalidParameterValue",
                             "Value (%s) for parameter InstanceMarketOptions.MarketType is "
                             "invalid.",
                             market);
    req.spot = market != NULL;
    const char *mdt = sim_param_get(p, n, "MetadataOptions.InstanceMetadataTags");
    if (mdt && strcmp(mdt, "enabled") && strcmp(mdt, "disabled"))
        return sim_ec2_error(w, r, 400, "InvalidParameterValue",
                             "Value (%s) for parameter MetadataOptions.InstanceMetadataTags is "
                             "invalid. Valid values: enabled, disabled.",
                             mdt);
    req.metadata_tags = mdt && !strcmp(mdt, "enabled");
    struct sim_tag tags[64];
    size_t ntags = 0;
    char name[128];
    for (int s = 1; s <= 16; s++) {
        snprintf(name, sizeof name, "TagSpecification.%d.ResourceType", s);
        const char *rt = sim_param_get(p, n, name);
        if (!rt)
            break;
        for (int t = 1; t <= 64 && ntags < 64; t++) {
            snprintf(name, sizeof name, "TagSpecification.%d.Tag.%d.Key", s, t);
            const char *k = sim_param_get(p, n, name);
            if (!k)
                break;
            snprintf(name, sizeof name, "TagSpecification.%d.Tag.%d.Value", s, t);
            if (!strcmp(rt, "instance"))
                tags[ntags++] = (struct sim_tag){(char *)(uintptr_t)k,
                                                 (char *)(uintptr_t)sim_param_get(p, n, name)};
        }
    }
    req.tags = tags;
    req.ntags = ntags;
    for (size_t t = 0; req.metadata_tags && t < ntags; t++)
        if (!aws_imds_tag_key(tags[t].key))
            return bad_imds_tag_key(w, r, tags[t].key);
    char hash[17];
    params_hash(p, n, hash);
    req.params_hash = hash;
    if (req.client_token && strlen(req.client_token) > 64)
        return sim_ec2_error(w, r, 400, "InvalidParameterValue",
                             "Value for parameter clientToken is invalid: it must be at most 64 "
                             "characters");
    struct sim_instance **out =
        calloc((size_t)(req.max_count > 0 ? req.max_count : 1), sizeof *out);
    size_t nout = 0;
    struct sim_error e;
    if (!out)
        return sim_ec2_error(w, r, 500, "InternalError", "An internal error has occurred");
    if (sim_world_run(w, &req, now, out, &nout, &e) < 0) {
        free(out);
        return sim_ec2_error(w, r, e.http_status, e.code, "%s", e.message);
    }
    struct xw x;
    char rid[37];
    request_id(w, rid);
    snprintf(r->request_id, sizeof r->request_id, "%s", rid);
    if (xw_open(&x, "RunInstancesResponse") < 0) {
        free(out);
        return sim_ec2_error(w, r, 500, "InternalError", "An internal error has occurred");
    }
    el(&x, "requestId", rid);
    reservation_open(&x, out[0]);
    for (size_t i = 0; i < nout; i++)
        write_instance(&x, out[i]);
    end(&x);
    el(&x, "requesterId", "");
    xw_close(&x, r, 200);
    free(out);
}

#define MAX_FILTERS 50
#define MAX_VALUES  200

struct filters {
    struct sim_filter f[MAX_FILTERS];
    const char *values[MAX_FILTERS][MAX_VALUES];
    size_t n;
};

static int read_filters(const struct sim_param *p, size_t n, struct filters *fs, uint64_t *hash)
{
    char name[64];
    fs->n = 0;
    for (int i = 1; i <= MAX_FILTERS; i++) {
        snprintf(name, sizeof name, "Filter.%d.Name", i);
        const char *fname = sim_param_get(p, n, name);
        if (!fname)
            break;
        snprintf(name, sizeof name, "Filter.%d.Value", i);
        struct sim_filter *f = &fs->f[fs->n];
        f->name = fname;
        f->values = fs->values[fs->n];
        f->nvalues = param_list(p, n, name, fs->values[fs->n], MAX_VALUES);
        struct sim_instance probe = {.state = SIM_RUNNING};
        const char *unknown = NULL;
        struct sim_filter one = {fname, NULL, 0};
        sim_instance_matches(&probe, &one, 1, &unknown);
        if (unknown)
            return -1;
        *hash = sim_hash(*hash, fname);
        for (size_t v = 0; v < f->nvalues; v++)
            *hash = sim_hash(*hash, f->values[v]);
        fs->n++;
    }
    return 0;
}

static void describe_filtered(struct sim_world *w, const char *region, const struct sim_param *p,
                              size_t n, struct sim_reply *r, struct filters *fsp)
{
    const char *ids[MAX_INSTANCE_ID * 16];
    size_t nids = param_list(p, n, "InstanceId", ids, sizeof ids / sizeof *ids);
    bool bad = false;
    long max = int_param(p, n, "MaxResults", 0, &bad);
    const char *token = sim_param_get(p, n, "NextToken");
    if (bad || (sim_param_get(p, n, "MaxResults") && (max < 5 || max > 1000)))
        return sim_ec2_error(w, r, 400, "InvalidParameterValue",
                             "Value ( %s ) for parameter maxResults is invalid. Expecting a value "
                             "greater than 5.",
                             sim_param_get(p, n, "MaxResults"));
    if (nids && sim_param_get(p, n, "MaxResults"))
        return sim_ec2_error(w, r, 400, "InvalidParameterCombination",
                             "The parameter instancesSet cannot be used with the parameter "
                             "maxResults");
    for (size_t i = 0; i < nids; i++)
        if (!instance_or_error(w, r, region, ids[i]))
            return;
    uint64_t qh = sim_hash(SIM_HASH_INIT, region);
    if (read_filters(p, n, fsp, &qh) < 0)
        return sim_ec2_error(w, r, 400, "InvalidParameterValue", "The filter '%s' is invalid",
                             fsp->f[fsp->n].name);
    qh = sim_hash(qh, sim_param_get(p, n, "MaxResults"));
    size_t start_at = 0;
    if (token && sim_page_parse(w, qh, token, &start_at) < 0)
        return sim_ec2_error(w, r, 400, "InvalidParameterValue", "Invalid value '%s' for nextToken",
                             token);
    /* Matching instances, in launch order. */
    size_t limit = max > 0 ? (size_t)max : (size_t)-1, shown = 0, seen = 0;
    struct xw x;
    char rid[37];
    request_id(w, rid);
    snprintf(r->request_id, sizeof r->request_id, "%s", rid);
    if (xw_open(&x, "DescribeInstancesResponse") < 0)
        return sim_ec2_error(w, r, 500, "InternalError", "An internal error has occurred");
    el(&x, "requestId", rid);
    start(&x, "reservationSet");
    const char *open_res = NULL;
    size_t next = 0;
    for (size_t i = 0; i < w->ninstances; i++) {
        const struct sim_instance *inst = w->instances[i];
        if (inst->cloud != CORE_CLOUD_AWS || strcmp(inst->region, region))
            continue;
        if (nids) {
            bool want = false;
            for (size_t k = 0; k < nids && !want; k++)
                want = !strcmp(ids[k], inst->id);
            if (!want)
                continue;
        }
        const char *unknown = NULL;
        if (!sim_instance_matches(inst, fsp->f, fsp->n, &unknown)) {
            if (unknown) {
                xmlFreeTextWriter(x.w);
                xmlBufferFree(x.buf);
                return sim_ec2_error(w, r, 400, "InvalidParameterValue",
                                     "The filter '%s' is invalid", unknown);
            }
            continue;
        }
        if (seen++ < start_at)
            continue;
        if (shown == limit) {
            next = seen - 1;
            break;
        }
        if (!open_res || strcmp(open_res, inst->reservation)) {
            if (open_res) {
                end(&x); /* instancesSet */
                end(&x); /* item */
            }
            start(&x, "item");
            reservation_open(&x, inst);
            open_res = inst->reservation;
        }
        write_instance(&x, inst);
        shown++;
    }
    if (open_res) {
        end(&x);
        end(&x);
    }
    end(&x);
    if (next) {
        char tok[64];
        sim_page_token(w, qh, next, tok);
        el(&x, "nextToken", tok);
    }
    xw_close(&x, r, 200);
}

static void describe_instances(struct sim_world *w, const char *region, const struct sim_param *p,
                               size_t n, struct sim_reply *r)
{
    struct filters *fs = malloc(sizeof *fs); /* 80 KB: not on a connection thread's stack */
    if (!fs)
        return sim_ec2_error(w, r, 500, "InternalError", "An internal error has occurred");
    describe_filtered(w, region, p, n, r, fs);
    free(fs);
}

static void terminate_instances(struct sim_world *w, const char *region, const struct sim_param *p,
                                size_t n, double now, struct sim_reply *r)
{
    const char *ids[1000];
    size_t nids = param_list(p, n, "InstanceId", ids, 1000);
    if (!nids)
        return sim_ec2_error(w, r, 400, "MissingParameter",
                             "The request must contain the parameter InstanceId");
    for (size_t i = 0; i < nids; i++)
        if (!instance_or_error(w, r, region, ids[i]))
            return;
    struct xw x;
    char rid[37];
    request_id(w, rid);
    snprintf(r->request_id, sizeof r->request_id, "%s", rid);
    if (xw_open(&x, "TerminateInstancesResponse") < 0)
        return sim_ec2_error(w, r, 500, "InternalError", "An internal error has occurred");
    el(&x, "requestId", rid);
    start(&x, "instancesSet");
    for (size_t i = 0; i < nids; i++) {
        struct sim_instance *inst = sim_world_find(w, ids[i]);
        enum sim_state prev;
        sim_world_terminate(w, inst, now, false, &prev);
        start(&x, "item");
        el(&x, "instanceId", inst->id);
        write_state(&x, "currentState", inst->state);
        write_state(&x, "previousState", prev);
        end(&x);
    }
    end(&x);
    xw_close(&x, r, 200);
}

/* CreateTags and DeleteTags on instances: ResourceId.N, Tag.N.Key (and Tag.N.Value). As EC2:
 * every resource must exist (else nothing changes), keys starting "aws:" are reserved, 50
 * tags per resource at most; DeleteTags with a value removes the tag only when it matches. */
static void tag_instances(struct sim_world *w, const char *region, const struct sim_param *p,
                          size_t n, bool create, struct sim_reply *r)
{
    const char *ids[1000], *keys[50], *values[50];
    size_t nids = param_list(p, n, "ResourceId", ids, 1000), nkeys = 0;
    if (!nids)
        return sim_ec2_error(w, r, 400, "MissingParameter",
                             "The request must contain the parameter ResourceId");
    char name[64];
    for (int t = 1; t <= 51; t++) {
        snprintf(name, sizeof name, "Tag.%d.Key", t);
        const char *k = sim_param_get(p, n, name);
        if (!k)
            break;
        if (nkeys == 50)
            return sim_ec2_error(w, r, 400, "TagLimitExceeded",
                                 "The maximum number of Tags for a resource has been reached.");
        if (!strncmp(k, "aws:", 4))
            return sim_ec2_error(w, r, 400, "InvalidParameterValue",
                                 "Tag keys starting with 'aws:' are reserved for internal use");
        snprintf(name, sizeof name, "Tag.%d.Value", t);
        keys[nkeys] = k;
        values[nkeys++] = sim_param_get(p, n, name);
    }
    if (create && !nkeys)
        return sim_ec2_error(w, r, 400, "MissingParameter",
                             "The request must contain the parameter Tag");
    for (size_t i = 0; i < nids; i++)
        if (!instance_or_error(w, r, region, ids[i]))
            return;
    for (size_t i = 0; create && i < nids; i++)
        for (size_t k = 0; sim_world_find(w, ids[i])->metadata_tags && k < nkeys; k++)
            if (!aws_imds_tag_key(keys[k]))
                return bad_imds_tag_key(w, r, keys[k]);
    for (size_t i = 0; i < nids; i++) {
        struct sim_instance *inst = sim_world_find(w, ids[i]);
        size_t after = inst->ntags;
        for (size_t k = 0; create && k < nkeys; k++) {
            bool has = false;
            for (size_t t = 0; t < inst->ntags && !has; t++)
                has = !strcmp(inst->tags[t].key, keys[k]);
            after += !has;
        }
        if (after > 50)
            return sim_ec2_error(w, r, 400, "TagLimitExceeded",
                                 "The maximum number of Tags for a resource has been reached.");
    }
    for (size_t i = 0; i < nids; i++) {
        struct sim_instance *inst = sim_world_find(w, ids[i]);
        const char *req = sim_agent_request_of(inst);
        char *before = req ? strdup(req) : NULL; /* a new request wakes the node's watcher */
        for (size_t k = 0; k < nkeys; k++) {
            const char *now_value = NULL;
            for (size_t t = 0; t < inst->ntags; t++)
                if (!strcmp(inst->tags[t].key, keys[k]))
                    now_value = inst->tags[t].value;
            if (!create && values[k] && (!now_value || strcmp(now_value, values[k])))
                continue; /* DeleteTags with a value that doesn't match */
            if (sim_instance_tag(inst, keys[k], create ? (values[k] ? values[k] : "") : NULL) !=
                0) {
                free(before);
                return sim_ec2_error(w, r, 500, "InternalError", "An internal error has occurred");
            }
        }
        sim_agent_request(w, inst, before);
        free(before);
    }
    struct xw x;
    char rid[37];
    request_id(w, rid);
    snprintf(r->request_id, sizeof r->request_id, "%s", rid);
    if (xw_open(&x, create ? "CreateTagsResponse" : "DeleteTagsResponse") < 0)
        return sim_ec2_error(w, r, 500, "InternalError", "An internal error has occurred");
    el(&x, "requestId", rid);
    el(&x, "return", "true");
    xw_close(&x, r, 200);
}

static void get_console_output(struct sim_world *w, const char *region, const struct sim_param *p,
                               size_t n, double now, struct sim_reply *r)
{
    const char *id = sim_param_get(p, n, "InstanceId");
    if (!id)
        return sim_ec2_error(w, r, 400, "MissingParameter",
                             "The request must contain the parameter InstanceId");
    const struct sim_instance *inst = instance_or_error(w, r, region, id);
    if (!inst)
        return;
    char *text = sim_console_output(inst);
    size_t len = text ? strlen(text) : 0;
    char *b64 = malloc(4 * ((len + 2) / 3) + 1);
    if (!text || !b64) {
        free(text);
        free(b64);
        return sim_ec2_error(w, r, 500, "InternalError", "An internal error has occurred");
    }
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)text, (int)len);
    struct xw x;
    char rid[37], t[64];
    request_id(w, rid);
    snprintf(r->request_id, sizeof r->request_id, "%s", rid);
    iso_time(now, t);
    if (xw_open(&x, "GetConsoleOutputResponse") == 0) {
        el(&x, "requestId", rid);
        el(&x, "instanceId", inst->id);
        el(&x, "timestamp", t);
        el(&x, "output", b64);
        xw_close(&x, r, 200);
    }
    free(text);
    free(b64);
}

static void describe_spot_prices(struct sim_world *w, const char *region, const struct sim_param *p,
                                 size_t n, double now, struct sim_reply *r)
{
    const char *types[100];
    size_t ntypes = param_list(p, n, "InstanceType", types, 100);
    const char *zone = sim_param_get(p, n, "AvailabilityZone");
    struct xw x;
    char rid[37], t[64];
    request_id(w, rid);
    snprintf(r->request_id, sizeof r->request_id, "%s", rid);
    iso_time(now, t);
    if (xw_open(&x, "DescribeSpotPriceHistoryResponse") < 0)
        return sim_ec2_error(w, r, 500, "InternalError", "An internal error has occurred");
    el(&x, "requestId", rid);
    start(&x, "spotPriceHistorySet");
    for (size_t i = 0; i < w->conf.noffers; i++) {
        const struct sim_offer *o = &w->conf.offers[i];
        if (o->cloud != CORE_CLOUD_AWS || strcmp(o->region, region) || o->spot_price < 0 ||
            (zone && strcmp(zone, o->zone)))
            continue;
        bool want = !ntypes;
        for (size_t k = 0; k < ntypes && !want; k++)
            want = !strcmp(types[k], o->type);
        if (!want)
            continue;
        start(&x, "item");
        el(&x, "instanceType", o->type);
        el(&x, "productDescription", "Linux/UNIX");
        elf(&x, "spotPrice", "%.6f", o->spot_price);
        el(&x, "timestamp", t);
        el(&x, "availabilityZone", o->zone);
        end(&x);
    }
    end(&x);
    el(&x, "nextToken", "");
    xw_close(&x, r, 200);
}

static void describe_zones(struct sim_world *w, const char *region, struct sim_reply *r)
{
    const struct sim_region *reg = sim_world_region(w, CORE_CLOUD_AWS, region);
    struct xw x;
    char rid[37];
    request_id(w, rid);
    snprintf(r->request_id, sizeof r->request_id, "%s", rid);
    if (xw_open(&x, "DescribeAvailabilityZonesResponse") < 0)
        return sim_ec2_error(w, r, 500, "InternalError", "An internal error has occurred");
    el(&x, "requestId", rid);
    start(&x, "availabilityZoneInfo");
    for (size_t z = 0; reg && z < reg->nzones; z++) {
        start(&x, "item");
        el(&x, "zoneName", reg->zones[z]);
        el(&x, "zoneState", "available");
        el(&x, "regionName", reg->name);
        el(&x, "zoneId", reg->zone_ids[z]);
        el(&x, "zoneType", "availability-zone");
        el(&x, "optInStatus", "opt-in-not-required");
        el(&x, "groupName", reg->name);
        el(&x, "networkBorderGroup", reg->name);
        start(&x, "messageSet");
        end(&x);
        end(&x);
    }
    end(&x);
    xw_close(&x, r, 200);
}

static void describe_regions(struct sim_world *w, struct sim_reply *r)
{
    struct xw x;
    char rid[37];
    request_id(w, rid);
    snprintf(r->request_id, sizeof r->request_id, "%s", rid);
    if (xw_open(&x, "DescribeRegionsResponse") < 0)
        return sim_ec2_error(w, r, 500, "InternalError", "An internal error has occurred");
    el(&x, "requestId", rid);
    start(&x, "regionInfo");
    for (size_t i = 0; i < w->conf.nregions; i++) {
        if (w->conf.regions[i].cloud != CORE_CLOUD_AWS)
            continue;
        start(&x, "item");
        el(&x, "regionName", w->conf.regions[i].name);
        elf(&x, "regionEndpoint", "ec2.%s.amazonaws.com", w->conf.regions[i].name);
        el(&x, "optInStatus", "opt-in-not-required");
        end(&x);
    }
    end(&x);
    xw_close(&x, r, 200);
}

/* ---- dispatch ---- */

static const struct {
    const char *name;
    enum sim_family family;
} actions[] = {
    {"RunInstances", SIM_FAM_RUN},
    {"DescribeInstances", SIM_FAM_DESCRIBE},
    {"TerminateInstances", SIM_FAM_TERMINATE},
    {"GetConsoleOutput", SIM_FAM_DESCRIBE},
    {"DescribeSpotPriceHistory", SIM_FAM_DESCRIBE},
    {"DescribeAvailabilityZones", SIM_FAM_DESCRIBE},
    {"DescribeRegions", SIM_FAM_DESCRIBE},
    {"CreateTags", SIM_FAM_MUTATING},
    {"DeleteTags", SIM_FAM_MUTATING},
};

void sim_ec2_handle(struct sim_world *w, const char *region, const struct sim_param *p, size_t n,
                    double now, struct sim_reply *r)
{
    memset(r, 0, sizeof *r);
    w->requests++;
    sim_world_advance(w, now);
    const char *action = sim_param_get(p, n, "Action");
    const char *version = sim_param_get(p, n, "Version");
    r->latency_ms = sim_world_latency(w);
    if (!action)
        return sim_ec2_error(w, r, 400, "MissingAction",
                             "The request must contain the parameter Action");
    int a = -1;
    for (size_t i = 0; i < sizeof actions / sizeof *actions; i++)
        if (!strcmp(actions[i].name, action))
            a = (int)i;
    if (a < 0)
        return sim_ec2_error(w, r, 400, "InvalidAction",
                             "The action %s is not valid for this web service.", action);
    if (version && strcmp(version, "2016-11-15"))
        return sim_ec2_error(w, r, 400, "NoSuchVersion",
                             "An invalid or out-of-range value was supplied for the Version "
                             "parameter: %s",
                             version);
    if (!sim_world_region(w, CORE_CLOUD_AWS, region))
        return sim_ec2_error(w, r, 401, "AuthFailure",
                             "AWS was not able to validate the provided access credentials "
                             "(region '%s' is not in this world)",
                             region);
    if (sim_world_fault(w, SIM_FAULT_THROTTLE) ||
        !sim_world_take_token(w, region, actions[a].family, now))
        return sim_ec2_error(w, r, 503, "RequestLimitExceeded", "Request limit exceeded.");
    if (sim_world_fault(w, SIM_FAULT_TIMEOUT)) {
        r->close = true;
        r->hold_ms = w->conf.timeout_hold_ms;
        return;
    }
    if (sim_world_fault(w, SIM_FAULT_INTERNAL))
        return sim_ec2_error(w, r, 500, "InternalError",
                             "An internal error has occurred (injected by cloudsim)");
    if (sim_world_fault(w, SIM_FAULT_UNAVAILABLE))
        return sim_ec2_error(w, r, 503, "Unavailable",
                             "The server is overloaded and can't handle the request (injected "
                             "by cloudsim)");
    if (actions[a].family == SIM_FAM_RUN && sim_world_fault(w, SIM_FAULT_CAPACITY))
        return sim_ec2_error(
            w, r, 500, "InsufficientInstanceCapacity",
            "We currently do not have sufficient %s capacity in the "
            "Availability Zone you requested (injected by cloudsim).",
            sim_param_get(p, n, "InstanceType") ? sim_param_get(p, n, "InstanceType") : "instance");
    switch (a) {
    case 0:
        run_instances(w, region, p, n, now, r);
        r->changed = r->status == 200;
        break;
    case 1:
        describe_instances(w, region, p, n, r);
        break;
    case 2:
        terminate_instances(w, region, p, n, now, r);
        r->changed = r->status == 200;
        break;
    case 3:
        get_console_output(w, region, p, n, now, r);
        break;
    case 4:
        describe_spot_prices(w, region, p, n, now, r);
        break;
    case 5:
        describe_zones(w, region, r);
        break;
    case 7:
    case 8:
        tag_instances(w, region, p, n, a == 7, r);
        r->changed = r->status == 200;
        break;
    case 6:
        describe_regions(w, r);
        break;
    }
    if (r->status == 200 && sim_world_fault(w, SIM_FAULT_MALFORMED))
        sim_reply_malform(w, r);
}

void sim_ec2_serve(struct sim_world *w, struct sim_query *q, double now, struct sim_reply *r)
{
    char region[64] = "";
    struct sim_error e = {0};
    memset(r, 0, sizeof *r);
    bool post = !strcmp(q->method, "POST");
    if (q->too_big)
        return sim_ec2_error(w, r, 413, "RequestEntityTooLarge",
                             "The request body is larger than cloudsim accepts (%zu bytes)",
                             q->max_body);
    if (!post && strcmp(q->method, "GET"))
        return sim_ec2_error(w, r, 405, "UnsupportedHttpVerb", "The HTTP verb %s is not supported",
                             q->method);
    if (post && sim_params_parse(q->body, q->body_len, &q->p, &q->n, SIM_MAX_PARAMS) < 0)
        return sim_ec2_error(w, r, 400, "MalformedQueryString",
                             "The request body is not application/x-www-form-urlencoded");
    if (sim_auth_check(&w->conf, q, now, region, &e) < 0)
        return sim_ec2_error(w, r, e.http_status, e.code, "%s", e.message);
    sim_ec2_handle(w, region, q->p, q->n, now, r);
}
