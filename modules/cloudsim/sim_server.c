/*
 * cloudsim's HTTP side, on libmicrohttpd: collects each request (bodies capped), routes it
 * by its path to a cloud's dialect (the route table below: Compute Engine, Azure Resource
 * Manager, EC2 for everything else), which answers under the world's lock, and serves the
 * admin view under /_cloudsim/. One thread per connection, so that latency and held
 * "timeout" connections block only their own client; stopping wakes every held connection
 * at once.
 */
#include "modules/cloudsim/sim.h"
#include "modules/cloudsim/sim_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"

#define ADMIN_PREFIX "/_cloudsim/"

struct sim_server {
    struct MHD_Daemon *daemon;
    struct sim_world *world;
    unsigned port;
    char *state_path;
    size_t max_body;
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    bool stopping;
};

struct request {
    char *uri; /* the request line's target as sent: path and query, for the signature */
    bool started;
    struct core_buf body;
    bool too_big;
};

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits `ms` milliseconds or until the server stops. */
static void nap(struct sim_server *s, double ms)
{
    if (ms <= 0)
        return;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    long long ns = (long long)until.tv_nsec + (long long)(ms * 1e6);
    until.tv_sec += (time_t)(ns / 1000000000LL);
    until.tv_nsec = (long)(ns % 1000000000LL);
    pthread_mutex_lock(&s->stop_lock);
    while (!s->stopping) {
        if (pthread_cond_timedwait(&s->stop_cond, &s->stop_lock, &until) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&s->stop_lock);
}

/* ---- routes ---- */

/*
 * Which dialect answers a path: the first entry whose fnmatch(3) pattern matches the decoded
 * path. Each dialect checks its own authentication and words its own errors; the Server and
 * request-id headers are its cloud's.
 */
static const struct route {
    const char *pattern;
    int flags;
    sim_dialect_fn handle;
    const char *server;            /* the Server header */
    const char *request_id_header; /* sim_reply.request_id goes there */
} routes[] = {
    /* Compute Engine v1 and Google's OAuth2 token endpoint (sim_gce.c) */
    {"/compute/v1/projects/*", 0, sim_gce_handle, "ESF (gpuform cloudsim)", "x-goog-request-id"},
    {"/token", 0, sim_gce_handle, "ESF (gpuform cloudsim)", "x-goog-request-id"},
    /* Azure Resource Manager, the Microsoft identity platform's token endpoint and OpenID
     * metadata, and the storage links of boot diagnostics (sim_arm.c, sim_arm_auth.c) */
    {"/subscriptions/*", 0, sim_arm_handle, "Microsoft-HTTPAPI/2.0 (gpuform cloudsim)",
     "x-ms-request-id"},
    {"/*/oauth2/v2.0/token", FNM_PATHNAME, sim_arm_handle,
     "Microsoft-HTTPAPI/2.0 (gpuform cloudsim)", "x-ms-request-id"},
    {"/*/v2.0/.well-known/openid-configuration", FNM_PATHNAME, sim_arm_handle,
     "Microsoft-HTTPAPI/2.0 (gpuform cloudsim)", "x-ms-request-id"},
    {"/_blob/*", 0, sim_arm_handle, "Windows-Azure-Blob/1.0 (gpuform cloudsim)", "x-ms-request-id"},
    /* the instance metadata services of each instance, EC2's, Compute Engine's or Azure's as
     * its cloud is (sim_imds.c) */
    {"/imds/*", 0, sim_imds_handle, "gpuform cloudsim IMDS", "x-request-id"},
    /* EC2 (sim_ec2.c): everything else, its Query API being POST / */
    {"*", 0, sim_ec2_serve, "AmazonEC2 (gpuform cloudsim)", "x-amzn-RequestId"},
};

static const struct route *route_of(const char *path)
{
    size_t n = sizeof routes / sizeof *routes;
    for (size_t i = 0; i + 1 < n; i++)
        if (fnmatch(routes[i].pattern, path, routes[i].flags) == 0)
            return &routes[i];
    return &routes[n - 1];
}

static enum MHD_Result send_reply(struct MHD_Connection *c, const struct route *rt,
                                  struct sim_reply *r)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r->len, r->body ? r->body : (char *)"",
                                        r->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(r->body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", r->content_type);
    MHD_add_response_header(resp, "Server", rt ? rt->server : "gpuform cloudsim");
    if (rt && *r->request_id)
        MHD_add_response_header(resp, rt->request_id_header, r->request_id);
    for (size_t i = 0; i < r->nheaders && i < sizeof r->headers / sizeof *r->headers; i++)
        MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result send_json(struct MHD_Connection *c, int status, json_t *j)
{
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (!text)
        return MHD_NO;
    size_t len = strlen(text);
    char *body = realloc(text, len + 2);
    if (!body) {
        free(text);
        return MHD_NO;
    }
    body[len] = '\n';
    body[len + 1] = 0;
    struct sim_reply r = {
        .status = status, .content_type = "application/json", .body = body, .len = len + 1};
    return send_reply(c, NULL, &r);
}

/* ---- the admin view ---- */

static json_t *instance_json(const struct sim_instance *i)
{
    static const char *const names[] = {"pending", "running", "shutting-down", "terminated"};
    json_t *tags = json_object(), *meta = json_object();
    for (size_t t = 0; t < i->ntags; t++)
        json_object_set_new(tags, i->tags[t].key, json_string(i->tags[t].value));
    for (size_t t = 0; t < i->nmeta; t++)
        json_object_set_new(meta, i->meta[t].key, json_string(i->meta[t].value));
    json_t *o = json_pack(
        "{s:s, s:s, s:s?, s:s?, s:s, s:s, s:s, s:s, s:b, s:f, s:s?, s:s?, s:o, s:o}", "cloud",
        core_cloud_name(i->cloud), "instance_id", i->id, "name", i->name, "account", i->account,
        "region", i->region, "zone", i->zone, "type", i->type, "state", names[i->state / 16],
        "spot", i->spot, "launch_time", i->launch_time, "client_token", i->client_token,
        "state_reason", i->reason_code, "tags", tags, "metadata", meta);
    if (o && i->metadata_tags)
        json_object_set_new(o, "metadata_tags", json_true());
    return o;
}

/* POST /_cloudsim/console {"instance_id", "text"}: appends text to a running instance's
 * console output, as a process on the node writing to its serial port would (tests that run
 * gpuform's real agent or watcher as the node, with the world's own agent off). Under the
 * world's lock. */
static enum MHD_Result admin_console(struct MHD_Connection *c, struct sim_world *w, json_t *in)
{
    const char *id = json_string_value(json_object_get(in, "instance_id"));
    const char *text = json_string_value(json_object_get(in, "text"));
    struct sim_instance *inst = id ? sim_world_find(w, id) : NULL;
    if (!id || !text)
        return send_json(
            c, 400, json_pack("{s:s}", "error", "expected {\"instance_id\": ID, \"text\": TEXT}"));
    if (!inst)
        return send_json(c, 404, json_pack("{s:s}", "error", "no such instance"));
    if (inst->state != SIM_RUNNING)
        return send_json(c, 409, json_pack("{s:s}", "error", "the instance is not running"));
    size_t had = inst->agent_output ? strlen(inst->agent_output) : 0, n = strlen(text);
    if (had + n > SIM_CONSOLE_MAX)
        return send_json(c, 413, json_pack("{s:s}", "error", "the console holds 1 MiB at most"));
    char *all = realloc(inst->agent_output, had + n + 1);
    if (!all)
        return send_json(c, 500, json_pack("{s:s}", "error", "out of memory"));
    memcpy(all + had, text, n + 1);
    inst->agent_output = all;
    return send_json(c, 200,
                     json_pack("{s:s, s:I}", "instance_id", id, "bytes", (json_int_t)(had + n)));
}

static enum MHD_Result admin(struct sim_server *s, struct MHD_Connection *c, const char *url,
                             const char *method, struct request *rq)
{
    const char *what = url + strlen(ADMIN_PREFIX);
    struct sim_world *w = s->world;
    double now = wall_now();
    json_error_t je;
    json_t *in = NULL;
    if (!strcmp(method, "POST")) {
        in = json_loadb(rq->body.data ? rq->body.data : "", rq->body.len, 0, &je);
        if (!json_is_object(in)) {
            json_decref(in);
            return send_json(c, 400, json_pack("{s:s}", "error", "the body must be a JSON object"));
        }
    }
    enum MHD_Result rc;
    pthread_mutex_lock(&w->lock);
    sim_world_advance(w, now);
    if (!strcmp(method, "GET") && !strcmp(what, "health")) {
        rc = send_json(c, 200,
                       json_pack("{s:s, s:I, s:I, s:i}", "status", "ok", "instances",
                                 (json_int_t)w->ninstances, "requests", (json_int_t)w->requests,
                                 "port", (int)s->port));
    } else if (!strcmp(method, "GET") && !strcmp(what, "instances")) {
        json_t *list = json_array();
        for (size_t i = 0; i < w->ninstances; i++)
            json_array_append_new(list, instance_json(w->instances[i]));
        rc = send_json(c, 200, list);
    } else if (in && !strcmp(what, "fault")) {
        const char *kind = json_string_value(json_object_get(in, "kind"));
        int f = sim_fault_find(kind);
        json_t *cnt = json_object_get(in, "count"), *rate = json_object_get(in, "rate");
        if (f < 0 || (!json_is_integer(cnt) && !json_is_number(rate)) ||
            (cnt && json_integer_value(cnt) < 0) ||
            (rate && (json_number_value(rate) < 0 || json_number_value(rate) > 1))) {
            rc = send_json(c, 400,
                           json_pack("{s:s}", "error",
                                     "expected {\"kind\": capacity|internal|unavailable|throttle|"
                                     "timeout|malformed, \"count\": N >= 0 or \"rate\": 0..1}"));
        } else {
            if (json_is_integer(cnt))
                w->fault_count[f] = (long)json_integer_value(cnt);
            if (json_is_number(rate))
                w->fault_rate[f] = json_number_value(rate);
            rc = send_json(c, 200,
                           json_pack("{s:s, s:I, s:f}", "kind", sim_fault_name(f), "count",
                                     (json_int_t)w->fault_count[f], "rate", w->fault_rate[f]));
        }
    } else if (in && !strcmp(what, "reclaim")) {
        const char *id = json_string_value(json_object_get(in, "instance_id"));
        struct sim_instance *inst = sim_world_find(w, id);
        if (!inst) {
            rc = send_json(c, 404, json_pack("{s:s}", "error", "no such instance"));
        } else if (!inst->spot) {
            rc = send_json(c, 409, json_pack("{s:s}", "error", "not a spot instance"));
        } else {
            sim_world_terminate(w, inst, now, true, NULL);
            rc = send_json(c, 200, instance_json(inst));
        }
    } else if (in && !strcmp(what, "console")) {
        rc = admin_console(c, w, in);
    } else {
        rc = send_json(c, 404,
                       json_pack("{s:s}", "error",
                                 "unknown admin path; GET health, GET instances, POST fault, "
                                 "POST reclaim, POST console (docs/cloudsim.md)"));
    }
    if (s->state_path && in) {
        char err[256];
        if (sim_world_save(w, s->state_path, err) < 0)
            fprintf(stderr, "cloudsim: %s\n", err);
    }
    pthread_mutex_unlock(&w->lock);
    json_decref(in);
    return rc;
}

/* ---- the clouds' APIs ---- */

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    struct sim_query *q = cls;
    if (q->n >= SIM_MAX_PARAMS)
        return MHD_NO;
    struct sim_param *p = realloc(q->p, (q->n + 1) * sizeof *p);
    if (!p)
        return MHD_NO;
    q->p = p;
    p[q->n].name = strdup(key);
    p[q->n].value = strdup(value ? value : "");
    q->n++;
    return MHD_YES;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    struct sim_query *q = cls;
    if (q->nheaders >= 256)
        return MHD_NO;
    q->headers[q->nheaders].name = key;
    q->headers[q->nheaders].value = value ? value : "";
    q->nheaders++;
    return MHD_YES;
}

static bool stopping(struct sim_server *s)
{
    pthread_mutex_lock(&s->stop_lock);
    bool stop = s->stopping;
    pthread_mutex_unlock(&s->stop_lock);
    return stop;
}

/* Hands the request to its dialect under the world's lock (again after each redo_ms the
 * dialect asks for), saves the world when it changed, and sends the reply. */
static enum MHD_Result dispatch(struct sim_server *s, struct MHD_Connection *c, const char *url,
                                const char *method, struct request *rq)
{
    struct sim_world *w = s->world;
    const struct route *rt = route_of(url);
    struct sim_reply r = {0};
    struct sim_query q = {.method = method,
                          .path = url,
                          .too_big = rq->too_big,
                          .max_body = s->max_body,
                          .arrived = wall_now()};
    char *raw = rq->uri ? strdup(rq->uri) : NULL;
    if (raw) {
        char *qm = strchr(raw, '?');
        if (qm)
            *qm++ = 0;
        q.raw_path = raw;
        q.raw_query = qm;
    }
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &q);
    q.nquery = q.n;
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, &q);
    q.body = rq->body.data ? rq->body.data : "";
    q.body_len = rq->body.len;
    for (;;) {
        q.last = stopping(s);
        pthread_mutex_lock(&w->lock);
        rt->handle(w, &q, wall_now(), &r);
        if (s->state_path && r.changed) {
            char err[256];
            if (sim_world_save(w, s->state_path, err) < 0)
                fprintf(stderr, "cloudsim: %s\n", err);
        }
        pthread_mutex_unlock(&w->lock);
        if (r.redo_ms <= 0 || q.last || r.close)
            break;
        double wait = r.redo_ms;
        free(r.body);
        memset(&r, 0, sizeof r);
        nap(s, wait);
        q.redo++;
    }
    sim_params_free(q.p, q.n);
    free(raw);
    if (r.close) {
        nap(s, r.hold_ms);
        free(r.body);
        return MHD_NO; /* closes the connection without a reply */
    }
    nap(s, r.latency_ms);
    if (!r.status)
        r.status = 500;
    if (!r.content_type)
        r.content_type = "text/xml";
    return send_reply(c, rt, &r);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    (void)version;
    struct sim_server *s = cls;
    struct request *rq = *con_cls;
    if (!rq)
        return MHD_NO; /* uri_logged failed to allocate */
    if (!rq->started) {
        rq->started = true;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!rq->too_big && core_buf_add(&rq->body, upload, *upload_size) < 0)
            rq->too_big = true;
        *upload_size = 0;
        return MHD_YES;
    }
    if (!strncmp(url, ADMIN_PREFIX, strlen(ADMIN_PREFIX)))
        return admin(s, c, url, method, rq);
    return dispatch(s, c, url, method, rq);
}

/* Called first for every request, with the target as sent: starts the request's record. */
static void *uri_logged(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)c;
    struct sim_server *s = cls;
    struct request *rq = calloc(1, sizeof *rq);
    if (!rq)
        return NULL;
    rq->uri = strdup(uri ? uri : "/");
    core_buf_init(&rq->body, s->max_body);
    return rq;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct request *rq = *con_cls;
    if (rq) {
        core_buf_release(&rq->body);
        free(rq->uri);
        free(rq);
        *con_cls = NULL;
    }
}

struct sim_server *sim_server_start(struct sim_world *w, const struct sim_server_options *o,
                                    char err[256])
{
    struct sim_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, 256, "out of memory");
        return NULL;
    }
    s->world = w;
    s->max_body = o->max_body ? o->max_body : (size_t)1 << 20;
    s->state_path = o->state_path ? strdup(o->state_path) : NULL;
    pthread_mutex_init(&s->stop_lock, NULL);
    pthread_cond_init(&s->stop_cond, NULL);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    if (inet_pton(AF_INET, o->host ? o->host : "127.0.0.1", &addr.sin_addr) != 1) {
        snprintf(err, 256, "'%s' is not an IPv4 address", o->host);
        sim_server_stop(s);
        return NULL;
    }
    s->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
            MHD_USE_ITC,
        0, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)512, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_URI_LOG_CALLBACK,
        uri_logged, s, MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(err, 256, "cannot listen on %s:%u: %s", o->host ? o->host : "127.0.0.1", o->port,
                 strerror(errno));
        sim_server_stop(s);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : o->port;
    return s;
}

unsigned sim_server_port(const struct sim_server *s)
{
    return s->port;
}

void sim_server_stop(struct sim_server *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->stop_lock);
    s->stopping = true;
    pthread_cond_broadcast(&s->stop_cond);
    pthread_mutex_unlock(&s->stop_lock);
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    if (s->state_path && s->daemon) {
        char err[256];
        pthread_mutex_lock(&s->world->lock);
        if (sim_world_save(s->world, s->state_path, err) < 0)
            fprintf(stderr, "cloudsim: %s\n", err);
        pthread_mutex_unlock(&s->world->lock);
    }
    pthread_cond_destroy(&s->stop_cond);
    pthread_mutex_destroy(&s->stop_lock);
    free(s->state_path);
    free(s);
}
