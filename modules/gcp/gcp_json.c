/*
 * Compute Engine's JSON through jansson: every reply gpuform reads (instances, lists,
 * operations, errors, machine and accelerator types, serial output) and the one body it
 * writes (instances.insert). Nothing here talks to the network.
 */
#include "modules/gcp/gcp_json.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "modules/gcp/gcp.h"
#include "modules/gcp/gcp_int.h"

static json_t *load(const char *body, size_t len, char *why, size_t whylen)
{
    json_error_t je;
    json_t *j = body ? json_loadb(body, len, 0, &je) : NULL;
    if (!json_is_object(j)) {
        if (j)
            gcp_why(why, whylen, "the reply is JSON but not an object");
        else
            gcp_why(why, whylen, "the reply is not JSON (line %d, column %d: %.80s)", je.line,
                    je.column, je.text);
        json_decref(j);
        return NULL;
    }
    return j;
}

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* The last segment of a URL or partial URL ("zones/us-central1-a" -> "us-central1-a"). */
static const char *last_segment(const char *url)
{
    if (!url)
        return NULL;
    const char *slash = strrchr(url, '/');
    return slash ? slash + 1 : url;
}

/* RFC 3339 with a fraction and an offset ("2013-12-13T10:45:23.351-08:00") as Unix seconds;
 * 0 when it is not one. */
static int64_t rfc3339(const char *s)
{
    struct tm tm = {0};
    int n = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
        return 0;
    const char *p = s + n;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    int sign = 0, oh = 0, om = 0;
    if (*p == 'Z')
        sign = 0;
    else if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2)
        sign = *p == '+' ? 1 : -1;
    else
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) - sign * (oh * 3600 + om * 60);
}

/* The metadata item `key`, else the label `key`, into dst. */
static void tagged(json_t *inst, const char *key, char *dst, size_t n)
{
    json_t *items = json_object_get(json_object_get(inst, "metadata"), "items");
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        if (str(it, "key") && !strcmp(str(it, "key"), key) && str(it, "value")) {
            snprintf(dst, n, "%s", str(it, "value"));
            return;
        }
    }
    const char *label = str(json_object_get(inst, "labels"), key);
    snprintf(dst, n, "%s", label ? label : "");
}

static enum prov_state state_of(const char *status, bool spot)
{
    static const struct {
        const char *name;
        enum prov_state state;
    } map[] = {
        {"PROVISIONING", PROV_PENDING}, {"STAGING", PROV_PENDING},   {"RUNNING", PROV_RUNNING},
        {"REPAIRING", PROV_RUNNING},    {"STOPPING", PROV_STOPPING}, {"SUSPENDING", PROV_STOPPING},
        {"SUSPENDED", PROV_STOPPED},
    };
    for (size_t i = 0; status && i < sizeof map / sizeof *map; i++)
        if (!strcmp(map[i].name, status))
            return map[i].state;
    /* TERMINATED is GCE's "stopped": a spot VM gpuform made (action DELETE) shows it only when
     * preempted, on its way out; anything else was stopped by someone */
    if (status && !strcmp(status, "TERMINATED"))
        return spot ? PROV_TERMINATED : PROV_STOPPED;
    return PROV_STATE_UNKNOWN;
}

static int instance_from(json_t *o, struct prov_instance *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    const char *name = str(o, "name"), *zone = last_segment(str(o, "zone"));
    const char *type = last_segment(str(o, "machineType"));
    if (!json_is_object(o) || !name || !zone || !type)
        return gcp_why(why, whylen, "an instance without name, zone or machineType");
    if ((size_t)snprintf(out->id, sizeof out->id, "%s/%s", zone, name) >= sizeof out->id)
        return gcp_why(why, whylen,
                       "instance '%s' in '%s': zone and name are longer than %zu "
                       "characters together",
                       name, zone, sizeof out->id - 1);
    snprintf(out->zone, sizeof out->zone, "%s", zone);
    gcp_zone_region(zone, out->region);
    snprintf(out->instance_type, sizeof out->instance_type, "%s", type);
    tagged(o, GCP_LABEL_STACK, out->stack, sizeof out->stack);
    tagged(o, GCP_LABEL_ADDRESS, out->address, sizeof out->address);
    tagged(o, GCP_LABEL_TOKEN, out->token, sizeof out->token);
    json_t *sch = json_object_get(o, "scheduling");
    const char *model = str(sch, "provisioningModel");
    out->spot =
        (model && !strcmp(model, "SPOT")) || json_is_true(json_object_get(sch, "preemptible"));
    const char *status = str(o, "status");
    out->state = state_of(status, out->spot);
    const char *msg = str(o, "statusMessage");
    if (msg)
        snprintf(out->state_reason, sizeof out->state_reason, "%s", msg);
    else if (out->state == PROV_TERMINATED)
        snprintf(out->state_reason, sizeof out->state_reason, "preempted: Instance was preempted.");
    out->launch_time = rfc3339(str(o, "creationTimestamp"));
    return 0;
}

int gcp_parse_instance(const char *body, size_t len, struct prov_instance *out, char *why,
                       size_t whylen)
{
    json_t *j = load(body, len, why, whylen);
    if (!j)
        return -1;
    int rc = instance_from(j, out, why, whylen);
    json_decref(j);
    return rc;
}

static int add_all(json_t *arr, const char *region, struct prov_instance_list *out, char *why,
                   size_t whylen)
{
    size_t i;
    json_t *it;
    if (arr && !json_is_array(arr))
        return gcp_why(why, whylen, "'instances' is not a list");
    json_array_foreach(arr, i, it)
    {
        struct prov_instance in;
        if (instance_from(it, &in, why, whylen) != 0)
            return -1;
        if (region && strcmp(in.region, region))
            continue;
        if (prov_instance_list_add(out, &in) != 0)
            return gcp_why(why, whylen, "out of memory");
    }
    return 0;
}

int gcp_parse_instance_list(const char *body, size_t len, const char *region,
                            struct prov_instance_list *out, char *next, size_t nextlen, char *why,
                            size_t whylen)
{
    json_t *j = load(body, len, why, whylen);
    if (!j)
        return -1;
    const char *kind = str(j, "kind");
    json_t *items = json_object_get(j, "items");
    int rc = 0;
    if (kind && !strcmp(kind, "compute#instanceAggregatedList")) {
        const char *scope;
        json_t *v;
        if (items && !json_is_object(items))
            rc = gcp_why(why, whylen, "'items' of an aggregated list is not an object");
        json_object_foreach(items, scope, v)
        {
            if (rc != 0)
                break;
            if (strncmp(scope, "zones/", 6))
                continue; /* regional or global scopes hold no instances */
            char zr[64];
            gcp_zone_region(scope + 6, zr);
            if (region && strcmp(zr, region))
                continue;
            rc = add_all(json_object_get(v, "instances"), region, out, why, whylen);
        }
    } else if (kind && !strcmp(kind, "compute#instanceList")) {
        rc = add_all(items, region, out, why, whylen);
    } else {
        rc = gcp_why(why, whylen, "not an instance list (kind '%.60s')", kind ? kind : "");
    }
    if (rc == 0 && next) {
        const char *tok = str(j, "nextPageToken");
        if (tok && strlen(tok) >= nextlen)
            rc = gcp_why(why, whylen, "nextPageToken is longer than %zu characters", nextlen - 1);
        else
            snprintf(next, nextlen, "%s", tok ? tok : "");
    }
    json_decref(j);
    return rc;
}

int gcp_parse_operation(const char *body, size_t len, struct gcp_operation *op, char *why,
                        size_t whylen)
{
    memset(op, 0, sizeof *op);
    json_t *j = load(body, len, why, whylen);
    if (!j)
        return -1;
    const char *name = str(j, "name"), *status = str(j, "status");
    const char *kind = str(j, "kind");
    int rc = 0;
    if (!name || !status || (kind && strcmp(kind, "compute#operation")))
        rc = gcp_why(why, whylen, "not an operation (no name or status)");
    if (rc == 0) {
        snprintf(op->name, sizeof op->name, "%s", name);
        snprintf(op->status, sizeof op->status, "%s", status);
        const char *z = last_segment(str(j, "zone")), *t = last_segment(str(j, "targetLink"));
        snprintf(op->zone, sizeof op->zone, "%s", z ? z : "");
        snprintf(op->target, sizeof op->target, "%s", t ? t : "");
        json_t *e0 = json_array_get(json_object_get(json_object_get(j, "error"), "errors"), 0);
        const char *code = str(e0, "code"), *msg = str(e0, "message");
        if (json_object_get(j, "error") && !code)
            code = "UNKNOWN_OPERATION_ERROR";
        snprintf(op->error_code, sizeof op->error_code, "%s", code ? code : "");
        snprintf(op->error_msg, sizeof op->error_msg, "%s", msg ? msg : "");
        op->http_error = (long)json_integer_value(json_object_get(j, "httpErrorStatusCode"));
    }
    json_decref(j);
    return rc;
}

int gcp_parse_error(const char *body, size_t len, char *code, size_t codelen, char *msg,
                    size_t msglen)
{
    char why[8];
    json_t *j = body && len ? load(body, len, why, sizeof why) : NULL;
    json_t *e = json_object_get(j, "error");
    int rc = -1;
    if (json_is_object(e)) {
        const char *reason = str(json_array_get(json_object_get(e, "errors"), 0), "reason");
        const char *status = str(e, "status"), *m = str(e, "message");
        snprintf(code, codelen, "%s", reason ? reason : status ? status : "");
        snprintf(msg, msglen, "%s", m ? m : "");
        rc = 0;
    } else if (json_is_string(e)) {
        const char *d = str(j, "error_description");
        snprintf(code, codelen, "%s", json_string_value(e));
        snprintf(msg, msglen, "%s", d ? d : "");
        rc = 0;
    }
    json_decref(j);
    return rc;
}

int gcp_parse_machine_type(const char *body, size_t len, struct gcp_machine_type *out, char *why,
                           size_t whylen)
{
    memset(out, 0, sizeof *out);
    json_t *j = load(body, len, why, whylen);
    if (!j)
        return -1;
    const char *name = str(j, "name");
    json_t *cpus = json_object_get(j, "guestCpus");
    int rc = 0;
    if (!name || !json_is_integer(cpus)) {
        rc = gcp_why(why, whylen, "not a machine type (no name or guestCpus)");
    } else {
        snprintf(out->name, sizeof out->name, "%s", name);
        out->guest_cpus = (int)json_integer_value(cpus);
        out->memory_mb = (long)json_integer_value(json_object_get(j, "memoryMb"));
        json_t *a0 = json_array_get(json_object_get(j, "accelerators"), 0);
        const char *acc = str(a0, "guestAcceleratorType");
        snprintf(out->accelerator, sizeof out->accelerator, "%s", acc ? acc : "");
        out->accelerator_count =
            (int)json_integer_value(json_object_get(a0, "guestAcceleratorCount"));
    }
    json_decref(j);
    return rc;
}

int gcp_parse_accelerator_type(const char *body, size_t len, struct gcp_accelerator_type *out,
                               char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    json_t *j = load(body, len, why, whylen);
    if (!j)
        return -1;
    const char *name = str(j, "name"), *desc = str(j, "description");
    json_t *max = json_object_get(j, "maximumCardsPerInstance");
    int rc = 0;
    if (!name || !json_is_integer(max)) {
        rc = gcp_why(why, whylen, "not an accelerator type (no name or maximumCardsPerInstance)");
    } else {
        snprintf(out->name, sizeof out->name, "%s", name);
        snprintf(out->description, sizeof out->description, "%s", desc ? desc : "");
        out->max_per_instance = (int)json_integer_value(max);
    }
    json_decref(j);
    return rc;
}

int gcp_parse_region_zone(const char *body, size_t len, char zone[64], char *why, size_t whylen)
{
    json_t *j = load(body, len, why, whylen);
    if (!j)
        return -1;
    const char *z = last_segment(json_string_value(json_array_get(json_object_get(j, "zones"), 0)));
    int rc = 0;
    if (!z || !*z || strlen(z) >= 64)
        rc = gcp_why(why, whylen, "the region lists no zones");
    else
        snprintf(zone, 64, "%s", z);
    json_decref(j);
    return rc;
}

int gcp_parse_serial_output(const char *body, size_t len, char **text, char *why, size_t whylen)
{
    *text = NULL;
    json_t *j = load(body, len, why, whylen);
    if (!j)
        return -1;
    json_t *c = json_object_get(j, "contents");
    int rc = 0;
    if (c && !json_is_string(c))
        rc = gcp_why(why, whylen, "'contents' is not a string");
    else if (!(*text = strdup(c ? json_string_value(c) : "")))
        rc = gcp_why(why, whylen, "out of memory");
    json_decref(j);
    return rc;
}

static json_t *item(const char *key, const char *value)
{
    return json_pack("{s:s, s:s}", "key", key, "value", value);
}

int gcp_metadata_set_body(const char *body, size_t len, const char *key, const char *value,
                          char **out, char *why, size_t whylen)
{
    *out = NULL;
    json_t *j = load(body, len, why, whylen);
    if (!j)
        return -1;
    json_t *md = json_object_get(j, "metadata");
    const char *fp = json_string_value(json_object_get(md, "fingerprint"));
    json_t *items = json_object_get(md, "items");
    json_t *kept = json_array(), *doc = NULL;
    int rc = 0;
    bool set = false;
    if (!json_is_object(md) || !fp)
        rc = gcp_why(why, whylen, "the instance has no metadata fingerprint");
    else if (items && !json_is_array(items))
        rc = gcp_why(why, whylen, "'metadata.items' is not a list");
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *k = json_string_value(json_object_get(it, "key"));
        if (rc != 0)
            break;
        if (!k || !json_is_string(json_object_get(it, "value")))
            rc = gcp_why(why, whylen, "metadata item %zu has no string key and value", i);
        else if (!strcmp(k, key) && !set)
            set = json_array_append_new(kept, item(key, value)) == 0;
        else if (strcmp(k, key) != 0)
            json_array_append(kept, it); /* as it is, byte for byte once dumped */
    }
    if (rc == 0 && !set)
        json_array_append_new(kept, item(key, value));
    if (rc == 0) {
        doc = json_pack("{s:s, s:O}", "fingerprint", fp, "items", kept);
        *out = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        if (!*out)
            rc = gcp_why(why, whylen, "out of memory");
    }
    json_decref(doc);
    json_decref(kept);
    json_decref(j);
    return rc;
}

char *gcp_insert_body(const struct prov_create *c, const char *zone, const char *name,
                      const char *image, const char *accelerator)
{
    char ls[64], la[64], lt[64];
    gcp_label_value(c->stack, ls);
    gcp_label_value(c->address, la);
    gcp_label_value(c->token, lt);
    json_t *items = json_pack("[o, o, o]", item(GCP_LABEL_STACK, c->stack),
                              item(GCP_LABEL_ADDRESS, c->address), item(GCP_LABEL_TOKEN, c->token));
    if (items && c->user_data && *c->user_data)
        json_array_append_new(items, item("startup-script", c->user_data));
    char mtype[160], network[] = "global/networks/default";
    snprintf(mtype, sizeof mtype, "zones/%s/machineTypes/%s", zone, c->instance_type);
    json_t *root = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:{s:o}, s:[{s:b, s:b, s:{s:s, s:s}}], "
                             "s:[{s:s, s:[{s:s, s:s}]}], s:{s:s, s:b, s:s}}",
                             "name", name, "machineType", mtype, "labels", GCP_LABEL_STACK, ls,
                             GCP_LABEL_ADDRESS, la, GCP_LABEL_TOKEN, lt, "metadata", "items", items,
                             "disks", "boot", 1, "autoDelete", 1, "initializeParams", "sourceImage",
                             image, "diskSizeGb", "100", "networkInterfaces", "network", network,
                             "accessConfigs", "type", "ONE_TO_ONE_NAT", "name", "External NAT",
                             "scheduling", "onHostMaintenance", "TERMINATE", "automaticRestart",
                             !c->spot, "provisioningModel", c->spot ? "SPOT" : "STANDARD");
    if (!root)
        return NULL;
    json_t *labels = json_object_get(root, "labels");
    for (size_t i = 0; i < c->ntags; i++) { /* the workload's labels, made label-safe */
        char k[64], v[64];
        gcp_label_key(c->tags[i].key, k);
        gcp_label_value(c->tags[i].value, v);
        if (!json_object_get(labels, k)) /* gpuform's own win */
            json_object_set_new(labels, k, json_string(v));
    }
    if (c->spot)
        json_object_set_new(json_object_get(root, "scheduling"), "instanceTerminationAction",
                            json_string("DELETE"));
    if (accelerator) {
        char acc[160];
        snprintf(acc, sizeof acc, "zones/%s/acceleratorTypes/%s", zone, accelerator);
        json_object_set_new(root, "guestAccelerators",
                            json_pack("[{s:s, s:i}]", "acceleratorType", acc, "acceleratorCount",
                                      c->gpus > 0 ? c->gpus : 1));
    }
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    return text;
}
