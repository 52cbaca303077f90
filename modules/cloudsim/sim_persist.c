/*
 * The world on disk: cloudsim's instances (of every cloud), operations and generator state as
 * JSON (jansson), written atomically (temporary file, fsync, rename) so that a restarted
 * cloudsim carries on with the same instances and the same random sequence. Files written
 * before the world held several clouds load as AWS instances.
 */
#include "modules/cloudsim/sim.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"

#define STATE_FORMAT 1

static json_t *tags_json(const struct sim_tag *tags, size_t n)
{
    json_t *a = json_array();
    for (size_t t = 0; t < n; t++)
        json_array_append_new(a,
                              json_pack("{s:s, s:s}", "key", tags[t].key, "value", tags[t].value));
    return a;
}

static json_t *instance_json(const struct sim_instance *i)
{
    json_t *tags = tags_json(i->tags, i->ntags);
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s, s:i, s:b, s:f, s:i, "
        "s:f, s:f, s:f, s:f, s:f, s:s?, s:s?, s:s?, s:s, s:o}",
        "id", i->id, "reservation", i->reservation, "region", i->region, "zone", i->zone, "type",
        i->type, "image", i->image, "client_token", i->client_token, "user_data", i->user_data,
        "key_name", i->key_name, "params_hash", i->params_hash, "launch_index", i->launch_index,
        "spot", i->spot, "vcpus", i->vcpus, "state", (int)i->state, "launch_time", i->launch_time,
        "running_at", i->running_at, "interrupt_at", i->interrupt_at, "terminate_at",
        i->terminate_at, "gone_at", i->gone_at, "reason_code", i->reason_code, "reason_message",
        i->reason_message, "transition_reason", i->transition_reason, "private_ip", i->private_ip,
        "tags", tags);
    if (!o)
        return NULL;
    json_object_set_new(o, "cloud", json_string(core_cloud_name(i->cloud)));
    if (i->agent_output)
        json_object_set_new(o, "agent_output", json_string(i->agent_output));
    if (i->name)
        json_object_set_new(o, "name", json_string(i->name));
    if (i->account)
        json_object_set_new(o, "account", json_string(i->account));
    if (i->reclaimed)
        json_object_set_new(o, "reclaimed", json_true());
    if (i->metadata_tags)
        json_object_set_new(o, "metadata_tags", json_true());
    if (i->nmeta)
        json_object_set_new(o, "meta", tags_json(i->meta, i->nmeta));
    if (i->doc)
        json_object_set_new(o, "doc", json_string(i->doc));
    return o;
}

static json_t *resource_json(const struct sim_resource *r)
{
    return json_pack("{s:s, s:s, s:s?, s:s, s:s}", "cloud", core_cloud_name(r->cloud), "kind",
                     r->kind, "account", r->account, "name", r->name, "doc", r->doc);
}

static json_t *op_json(const struct sim_operation *op)
{
    const struct sim_error *e = &op->error;
    return json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s, s:s?, s:f, s:f, s:f, s:{s:i, "
                     "s:i, s:s, s:s, s:I}}",
                     "cloud", core_cloud_name(op->cloud), "id", op->id, "name", op->name, "account",
                     op->account, "zone", op->zone, "kind", op->kind, "request_id", op->request_id,
                     "target_id", op->target_id, "target_name", op->target_name, "started",
                     op->started, "done_at", op->done_at, "gone_at", op->gone_at, "error", "kind",
                     (int)e->kind, "http_status", e->http_status, "code", e->code, "message",
                     e->message, "limit", (json_int_t)e->limit);
}

int sim_world_save(const struct sim_world *w, const char *path, char err[256])
{
    json_t *root = json_object(), *list = json_array(), *rng = json_array();
    char hex[17];
    for (int i = 0; i < 4; i++) {
        snprintf(hex, sizeof hex, "%016" PRIx64, w->rng[i]);
        json_array_append_new(rng, json_string(hex));
    }
    snprintf(hex, sizeof hex, "%016" PRIx64, w->page_secret);
    json_object_set_new(root, "format", json_integer(STATE_FORMAT));
    json_object_set_new(root, "rng", rng);
    json_object_set_new(root, "page_secret", json_string(hex));
    for (size_t i = 0; i < w->ninstances; i++)
        json_array_append_new(list, instance_json(w->instances[i]));
    json_object_set_new(root, "instances", list);
    json_t *ops = json_array();
    for (size_t i = 0; i < w->nops; i++)
        json_array_append_new(ops, op_json(w->ops[i]));
    json_object_set_new(root, "operations", ops);
    json_t *res = json_array();
    for (size_t i = 0; i < w->nresources; i++)
        json_array_append_new(res, resource_json(w->resources[i]));
    json_object_set_new(root, "resources", res);
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text) {
        snprintf(err, 256, "out of memory writing the state");
        return -1;
    }
    int e = core_write_atomic(path, text, strlen(text), 0600);
    free(text);
    if (e)
        snprintf(err, 256, "cannot write the state to '%s': %s", path, strerror(e));
    return e ? -1 : 0;
}

static char *dup_opt(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? strdup(s) : NULL;
}

static double num(json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

static enum core_cloud cloud_of(json_t *o)
{
    int c = core_cloud_from_name(json_string_value(json_object_get(o, "cloud")));
    return c < 0 ? CORE_CLOUD_AWS : (enum core_cloud)c; /* files from before: aws */
}

/* Reads a [{key, value}] array; false when a pair is damaged or memory runs out. */
static bool tags_from(json_t *a, struct sim_tag **out, size_t *n)
{
    size_t nt = json_array_size(a);
    *out = nt ? calloc(nt, sizeof **out) : NULL;
    if (nt && !*out)
        return false;
    for (size_t t = 0; t < nt; t++) {
        json_t *tag = json_array_get(a, t);
        (*out)[t].key = dup_opt(tag, "key");
        (*out)[t].value = dup_opt(tag, "value");
        (*n)++;
        if (!(*out)[t].key || !(*out)[t].value)
            return false;
    }
    return true;
}

static struct sim_instance *instance_from(json_t *o)
{
    struct sim_instance *i = calloc(1, sizeof *i);
    const char *id = json_string_value(json_object_get(o, "id"));
    const char *res = json_string_value(json_object_get(o, "reservation"));
    const char *ip = json_string_value(json_object_get(o, "private_ip"));
    const char *ph = json_string_value(json_object_get(o, "params_hash"));
    if (!i || !id || !res)
        return free(i), NULL;
    snprintf(i->id, sizeof i->id, "%s", id);
    snprintf(i->reservation, sizeof i->reservation, "%s", res);
    snprintf(i->private_ip, sizeof i->private_ip, "%s", ip ? ip : "");
    snprintf(i->params_hash, sizeof i->params_hash, "%s", ph ? ph : "");
    i->region = dup_opt(o, "region");
    i->zone = dup_opt(o, "zone");
    i->type = dup_opt(o, "type");
    i->image = dup_opt(o, "image");
    i->client_token = dup_opt(o, "client_token");
    i->user_data = dup_opt(o, "user_data");
    i->agent_output = dup_opt(o, "agent_output");
    i->key_name = dup_opt(o, "key_name");
    i->reason_code = dup_opt(o, "reason_code");
    i->reason_message = dup_opt(o, "reason_message");
    i->transition_reason = dup_opt(o, "transition_reason");
    i->launch_index = (int)json_integer_value(json_object_get(o, "launch_index"));
    i->spot = json_is_true(json_object_get(o, "spot"));
    i->vcpus = num(o, "vcpus");
    i->state = (enum sim_state)json_integer_value(json_object_get(o, "state"));
    i->launch_time = num(o, "launch_time");
    i->running_at = num(o, "running_at");
    i->interrupt_at = num(o, "interrupt_at");
    i->terminate_at = num(o, "terminate_at");
    i->gone_at = num(o, "gone_at");
    i->cloud = cloud_of(o);
    i->name = dup_opt(o, "name");
    i->account = dup_opt(o, "account");
    i->reclaimed = json_is_true(json_object_get(o, "reclaimed"));
    i->metadata_tags = json_is_true(json_object_get(o, "metadata_tags"));
    i->doc = dup_opt(o, "doc");
    if (!tags_from(json_object_get(o, "tags"), &i->tags, &i->ntags) ||
        !tags_from(json_object_get(o, "meta"), &i->meta, &i->nmeta)) {
        sim_instance_free(i);
        return NULL;
    }
    return i;
}

static struct sim_operation *op_from(json_t *o)
{
    const char *id = json_string_value(json_object_get(o, "id"));
    const char *name = json_string_value(json_object_get(o, "name"));
    const char *tid = json_string_value(json_object_get(o, "target_id"));
    json_t *e = json_object_get(o, "error");
    struct sim_operation *op = calloc(1, sizeof *op);
    if (!op || !id || !name || !tid || !json_is_object(e))
        return free(op), NULL;
    op->cloud = cloud_of(o);
    snprintf(op->id, sizeof op->id, "%s", id);
    snprintf(op->name, sizeof op->name, "%s", name);
    snprintf(op->target_id, sizeof op->target_id, "%s", tid);
    op->account = dup_opt(o, "account");
    op->zone = dup_opt(o, "zone");
    op->kind = dup_opt(o, "kind");
    op->request_id = dup_opt(o, "request_id");
    op->target_name = dup_opt(o, "target_name");
    op->started = num(o, "started");
    op->done_at = num(o, "done_at");
    op->gone_at = num(o, "gone_at");
    op->error.kind = (enum sim_err_kind)json_integer_value(json_object_get(e, "kind"));
    op->error.http_status = (int)json_integer_value(json_object_get(e, "http_status"));
    op->error.limit = (long)json_integer_value(json_object_get(e, "limit"));
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    snprintf(op->error.code, sizeof op->error.code, "%s", code ? code : "");
    snprintf(op->error.message, sizeof op->error.message, "%s", msg ? msg : "");
    return op;
}

/* The operations of a state file (none in files from before there were any). */
static int load_ops(struct sim_world *w, json_t *list)
{
    size_t n = json_array_size(list), k = 0;
    struct sim_operation **arr = calloc(n ? n : 1, sizeof *arr);
    if (!arr)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct sim_operation *op = op_from(json_array_get(list, i));
        if (op && op->kind)
            arr[k++] = op;
        else
            sim_operation_free(op); /* damaged: dropped */
    }
    for (size_t i = 0; i < w->nops; i++)
        sim_operation_free(w->ops[i]);
    free(w->ops);
    w->ops = arr;
    w->nops = k;
    w->opcap = n ? n : 1;
    return 0;
}

/* The other resources of a state file (none in files from before there were any). */
static int load_resources(struct sim_world *w, json_t *list)
{
    for (size_t i = 0; i < w->nresources; i++)
        sim_resource_free(w->resources[i]);
    w->nresources = 0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *o = json_array_get(list, i);
        const char *kind = json_string_value(json_object_get(o, "kind"));
        const char *name = json_string_value(json_object_get(o, "name"));
        char *doc = dup_opt(o, "doc");
        if (!kind || !name || !doc) { /* damaged: dropped */
            free(doc);
            continue;
        }
        if (!sim_world_add_resource(w, cloud_of(o), kind,
                                    json_string_value(json_object_get(o, "account")), name, doc))
            return -1;
    }
    return 0;
}

int sim_world_load(struct sim_world *w, const char *path, char err[256])
{
    if (access(path, F_OK) != 0)
        return 0;
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        snprintf(err, 256, "%s:%d:%d: cannot read the cloudsim state: %s", path, je.line, je.column,
                 je.text);
        return -1;
    }
    json_t *rng = json_object_get(root, "rng"), *list = json_object_get(root, "instances");
    if (json_integer_value(json_object_get(root, "format")) != STATE_FORMAT ||
        json_array_size(rng) != 4 || !json_is_array(list)) {
        json_decref(root);
        snprintf(err, 256, "%s: not a cloudsim state file (format %d)", path, STATE_FORMAT);
        return -1;
    }
    for (int i = 0; i < 4; i++)
        if (json_string_value(json_array_get(rng, (size_t)i)))
            w->rng[i] = strtoull(json_string_value(json_array_get(rng, (size_t)i)), NULL, 16);
    const char *ps = json_string_value(json_object_get(root, "page_secret"));
    if (ps)
        w->page_secret = strtoull(ps, NULL, 16);
    size_t n = json_array_size(list);
    struct sim_instance **arr = calloc(n ? n : 1, sizeof *arr);
    if (!arr || load_ops(w, json_object_get(root, "operations")) < 0 ||
        load_resources(w, json_object_get(root, "resources")) < 0) {
        free(arr);
        json_decref(root);
        snprintf(err, 256, "out of memory reading '%s'", path);
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct sim_instance *inst = instance_from(json_array_get(list, i));
        if (inst && inst->region && inst->zone && inst->type && inst->image)
            arr[k++] = inst;
        else
            sim_instance_free(inst); /* damaged: dropped, not served half-filled */
    }
    json_decref(root);
    /* Replace what the world held. */
    struct sim_instance **old = w->instances;
    size_t nold = w->ninstances;
    w->instances = arr;
    w->ninstances = k;
    w->cap = n ? n : 1;
    for (size_t i = 0; i < nold; i++)
        sim_instance_free(old[i]);
    free(old);
    return 0;
}
