/*
 * cloudsim's instance metadata services: what a process on a simulated instance would read at
 * 169.254.169.254 or metadata.google.internal, served on loopback under /imds/INSTANCE-ID so
 * that the verify watcher (modules/verify/imds.h) runs against cloudsim unchanged, only its
 * GPUFORM_IMDS_ENDPOINT differs. The three dialects read the instance's tags (EC2, Azure) or
 * metadata items (Compute Engine) under the world's lock; docs/cloudsim.md lists the paths.
 */
#include "modules/cloudsim/sim.h"
#include "modules/cloudsim/sim_int.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

#define PREFIX         "/imds/"
#define AWS_TTL_MAX    21600
#define AWS_TOKEN_PATH "/latest/api/token"
#define AWS_TAGS_PATH  "/latest/meta-data/tags/instance"
#define GCE_ATTRS_PATH "/computeMetadata/v1/instance/attributes/"
#define AZURE_TAGS     "/metadata/instance/compute/tagsList"

/* A plain-text reply (its body copied). */
static void text(struct sim_reply *r, int status, const char *body)
{
    r->status = status;
    r->content_type = "text/plain";
    r->body = strdup(body);
    r->len = r->body ? strlen(r->body) : 0;
    if (!r->body)
        r->status = 500;
}

/* EC2's session token for `id`, good until `until` (unix seconds): "UNTIL.MAC", the MAC a
 * hash keyed with the world's secret, so tokens need no record and one instance's token does
 * not open another's metadata. */
static void aws_token(const struct sim_world *w, const char *id, long long until, char out[64])
{
    char salt[96];
    snprintf(salt, sizeof salt, "imds %016" PRIx64 " %lld", w->page_secret, until);
    uint64_t h = sim_hash(sim_hash(SIM_HASH_INIT, salt), id);
    snprintf(out, 64, "%lld.%016" PRIx64, until, h);
}

static bool aws_token_ok(const struct sim_world *w, const char *id, const char *token, double now)
{
    char *end;
    long long until = token ? strtoll(token, &end, 10) : 0;
    if (!token || end == token || *end != '.' || (double)until < now)
        return false;
    char want[64];
    aws_token(w, id, until, want);
    return !strcmp(want, token);
}

static void aws(struct sim_world *w, const struct sim_instance *inst, const struct sim_query *q,
                const char *path, double now, struct sim_reply *r)
{
    if (!strcmp(path, AWS_TOKEN_PATH)) {
        if (strcmp(q->method, "PUT"))
            return text(r, 405, "Method Not Allowed");
        const char *ttl = sim_query_header(q, "X-aws-ec2-metadata-token-ttl-seconds");
        char *end;
        long s = ttl ? strtol(ttl, &end, 10) : 0;
        if (!ttl || !*ttl || *end || s < 1 || s > AWS_TTL_MAX)
            return text(r, 400, "Bad Request");
        char tok[64];
        aws_token(w, inst->id, (long long)now + s, tok);
        text(r, 200, tok);
        if (r->nheaders < sizeof r->headers / sizeof *r->headers) {
            snprintf(r->headers[r->nheaders].name, sizeof r->headers[0].name,
                     "X-aws-ec2-metadata-token-ttl-seconds");
            snprintf(r->headers[r->nheaders++].value, sizeof r->headers[0].value, "%ld", s);
        }
        return;
    }
    if (strcmp(q->method, "GET"))
        return text(r, 405, "Method Not Allowed");
    /* IMDSv2 only, as an instance with HttpTokens=required: no token, no metadata */
    if (!aws_token_ok(w, inst->id, sim_query_header(q, "X-aws-ec2-metadata-token"), now))
        return text(r, 401, "Unauthorized");
    size_t tl = strlen(AWS_TAGS_PATH);
    if (!inst->metadata_tags || strncmp(path, AWS_TAGS_PATH, tl) != 0 ||
        (path[tl] != '\0' && path[tl] != '/'))
        return text(r, 404, "Not Found");
    const char *key = path[tl] ? path + tl + 1 : "";
    struct core_buf b;
    core_buf_init(&b, 64 * 1024);
    for (size_t t = 0; t < inst->ntags; t++) {
        if (!*key) /* the list: one key a line */
            core_buf_addf(&b, "%s%s", b.len ? "\n" : "", inst->tags[t].key);
        else if (!strcmp(inst->tags[t].key, key)) {
            core_buf_release(&b);
            return text(r, 200, inst->tags[t].value);
        }
    }
    if (*key)
        text(r, 404, "Not Found");
    else
        text(r, 200, core_buf_str(&b));
    core_buf_release(&b);
}

static void gce(const struct sim_instance *inst, const struct sim_query *q, const char *path,
                struct sim_reply *r)
{
    const char *flavor = sim_query_header(q, "Metadata-Flavor");
    if (!flavor || strcmp(flavor, "Google"))
        return text(r, 403, "Missing Metadata-Flavor:Google header.");
    if (strcmp(q->method, "GET"))
        return text(r, 405, "Method Not Allowed");
    if (r->nheaders < sizeof r->headers / sizeof *r->headers) {
        snprintf(r->headers[r->nheaders].name, sizeof r->headers[0].name, "Metadata-Flavor");
        snprintf(r->headers[r->nheaders++].value, sizeof r->headers[0].value, "Google");
    }
    size_t pl = strlen(GCE_ATTRS_PATH);
    if (strncmp(path, GCE_ATTRS_PATH, pl) == 0 && path[pl])
        for (size_t t = 0; t < inst->nmeta; t++)
            if (!strcmp(inst->meta[t].key, path + pl))
                return text(r, 200, inst->meta[t].value);
    text(r, 404, "Not Found");
}

static void azure(const struct sim_instance *inst, const struct sim_query *q, const char *path,
                  struct sim_reply *r)
{
    if (!sim_query_header(q, "Metadata") || strcmp(sim_query_header(q, "Metadata"), "true"))
        return text(r, 400, "{\"error\": \"Bad request. Required metadata header not specified\"}");
    if (!sim_param_get(q->p, q->nquery, "api-version"))
        return text(r, 400,
                    "{\"error\": \"Bad request. api-version was not specified in the request\"}");
    if (strcmp(q->method, "GET"))
        return text(r, 405, "{\"error\": \"Method not allowed\"}");
    if (strcmp(path, AZURE_TAGS))
        return text(r, 404, "{\"error\": \"Not found\"}");
    json_t *list = json_array();
    for (size_t t = 0; list && t < inst->ntags; t++)
        json_array_append_new(
            list, json_pack("{s:s, s:s}", "name", inst->tags[t].key, "value", inst->tags[t].value));
    char *s = list ? json_dumps(list, JSON_COMPACT) : NULL;
    json_decref(list);
    if (!s)
        return text(r, 500, "{\"error\": \"internal error\"}");
    r->status = 200;
    r->body = s;
    r->len = strlen(s);
}

void sim_imds_handle(struct sim_world *w, struct sim_query *q, double now, struct sim_reply *r)
{
    memset(r, 0, sizeof *r);
    sim_world_advance(w, now);
    const char *id = q->path + strlen(PREFIX);
    const char *slash = strchr(id, '/');
    char iid[64];
    if (!slash || (size_t)(slash - id) >= sizeof iid)
        return text(r, 404, "Not Found (cloudsim: /imds/INSTANCE-ID/..., docs/cloudsim.md)");
    memcpy(iid, id, (size_t)(slash - id));
    iid[slash - id] = '\0';
    const struct sim_instance *inst = sim_world_find(w, iid);
    /* a process on a stopped or gone instance reaches no metadata service */
    if (!inst || inst->state != SIM_RUNNING)
        return text(r, 404, "Not Found (cloudsim: no running instance with that id)");
    if (inst->cloud == CORE_CLOUD_GCP)
        gce(inst, q, slash, r);
    else if (inst->cloud == CORE_CLOUD_AZURE)
        azure(inst, q, slash, r);
    else
        aws(w, inst, q, slash, now, r);
    if (!r->content_type)
        r->content_type = "text/plain";
    if (inst->cloud == CORE_CLOUD_AZURE)
        r->content_type = "application/json; charset=utf-8";
}
