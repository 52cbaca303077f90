/*
 * The Azure Resource Manager dialect of cloudsim: virtual machines (Microsoft.Compute) and
 * network interfaces (Microsoft.Network) PUT, GET and DELETEd by name in a subscription and
 * resource group, long-running operations behind Azure-AsyncOperation and Location, lists
 * with nextLink, the resources list with a tag filter, boot diagnostics, and ARM's error
 * shape and codes, over the shared world (sim_world.c). Bearer tokens come from
 * sim_arm_auth.c. docs/cloudsim.md says what is simulated and what is not.
 */
#include "modules/cloudsim/sim_arm.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PAGE_SIZE        5 /* small on purpose, so clients page */
#define MAX_SEGS         12
#define MAX_CUSTOM_DATA  87380
#define MAX_TAGS         50
#define COMPUTE_API_MIN  "2019-03-01" /* Spot VMs */
#define NETWORK_API_MIN  "2018-01-01"
#define RESOURCE_API_MIN "2016-09-01"
#define VM_TYPE          "Microsoft.Compute/virtualMachines"
#define NIC_TYPE         "Microsoft.Network/networkInterfaces"

/* One ARM request: the path's parts and what the route needs. */
struct arm {
    struct sim_world *w;
    struct sim_query *q;
    struct sim_reply *r;
    double now;
    const char *seg[MAX_SEGS];
    char segbuf[1024];
    size_t nseg;
    const char *sub;   /* lowercase, as accounts are kept */
    const char *group; /* as the client wrote it */
    char account[200]; /* "SUB/group" in lowercase */
    const char *api;   /* the request's api-version */
    char base[300];    /* http://HOST as the client reached cloudsim */
};

/* ---- small helpers ---- */

static const char *qparam(const struct arm *a, const char *name)
{
    return sim_param_get(a->q->p, a->q->nquery, name);
}

static bool is(const char *seg, const char *word)
{
    return seg && !strcasecmp(seg, word);
}

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static json_t *jpath(const json_t *o, const char *a, const char *b, const char *c)
{
    json_t *x = json_object_get(o, a);
    if (b)
        x = json_object_get(x, b);
    if (c)
        x = json_object_get(x, c);
    return x;
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static bool valid_api(const char *v, const char *min)
{
    return v && strlen(v) >= 10 && isdigit((unsigned char)v[0]) && v[4] == '-' && v[7] == '-' &&
           (v[10] == '\0' || !strcmp(v + 10, "-preview")) && strncmp(v, min, 10) >= 0;
}

/* ARM names: 1-64 letters, digits, '-', '_', '.'; starting with a letter or digit, not
 * ending in '-' or '.'. */
static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= 64 && isalnum((unsigned char)s[0]) && s[n - 1] != '-' &&
           s[n - 1] != '.' &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

static double retry_after(const struct sim_world *w)
{
    return floor(10 * w->conf.time_scale + 0.5); /* ARM says 10 s; scaled like the lifecycle */
}

/* ---- the world's Azure VMs as ARM shows them ---- */

enum view { V_GONE, V_CREATING, V_RUNNING, V_DELETING, V_DEALLOCATING, V_DEALLOCATED };

static bool deallocates(const struct sim_instance *i)
{
    json_t *doc = i->doc ? json_loads(i->doc, 0, NULL) : NULL;
    const char *p = json_string_value(jpath(doc, "properties", "evictionPolicy", NULL));
    bool d = p && !strcasecmp(p, "Deallocate");
    json_decref(doc);
    return d;
}

static enum view view_of(const struct sim_instance *i)
{
    switch (i->state) {
    case SIM_PENDING:
        return V_CREATING;
    case SIM_RUNNING:
        return V_RUNNING;
    case SIM_SHUTTING_DOWN:
        return i->reclaimed && deallocates(i) ? V_DEALLOCATING : V_DELETING;
    case SIM_TERMINATED:
        return i->reclaimed && deallocates(i) ? V_DEALLOCATED : V_GONE;
    }
    return V_GONE;
}

static bool azure_in(const struct sim_instance *i, const char *account)
{
    return i->cloud == CORE_CLOUD_AZURE && i->account && i->name &&
           (!account || !strcmp(i->account, account));
}

/* The VM named `name` in `account` that ARM still shows, or NULL. */
static struct sim_instance *find_vm(const struct sim_world *w, const char *account,
                                    const char *name)
{
    for (size_t k = 0; k < w->ninstances; k++) {
        struct sim_instance *i = w->instances[k];
        if (azure_in(i, account) && !strcasecmp(i->name, name) && view_of(i) != V_GONE)
            return i;
    }
    return NULL;
}

static struct sim_instance *find_vm_id(const struct sim_world *w, const char *vm_id)
{
    struct sim_instance *i = sim_world_find(w, vm_id);
    return i && i->cloud == CORE_CLOUD_AZURE && view_of(i) != V_GONE ? i : NULL;
}

/* The NIC ids a VM document names. */
static const char *nic_of(const json_t *doc, size_t k)
{
    json_t *nics = jpath(doc, "properties", "networkProfile", "networkInterfaces");
    return str(json_array_get(nics, k), "id");
}

/* "/subscriptions/S/resourceGroups/G/providers/NS/TYPE/NAME" into account ("s/g") and
 * name; -1 when `id` is not one of `ns`/`type`. */
static int parse_id(const char *id, const char *ns, const char *type, char account[200],
                    char name[80])
{
    char buf[600], *save = NULL, *seg[10];
    int n = 0;
    if (!id || strlen(id) >= sizeof buf)
        return -1;
    snprintf(buf, sizeof buf, "%s", id);
    for (char *t = strtok_r(buf, "/", &save); t && n < 10; t = strtok_r(NULL, "/", &save))
        seg[n++] = t;
    if (n != 8 || !is(seg[0], "subscriptions") || !is(seg[2], "resourceGroups") ||
        !is(seg[4], "providers") || !is(seg[5], ns) || !is(seg[6], type) || strlen(seg[7]) >= 80)
        return -1;
    snprintf(account, 200, "%s/%s", seg[1], seg[3]);
    lower(account);
    snprintf(name, 80, "%s", seg[7]);
    return 0;
}

/* Whether a VM that ARM still shows uses the NIC (account, name); its name in vm[]. */
static bool nic_in_use(const struct sim_world *w, const char *account, const char *nic,
                       const struct sim_instance *except, char vm_id[300])
{
    for (size_t k = 0; k < w->ninstances; k++) {
        const struct sim_instance *i = w->instances[k];
        if (i == except || i->cloud != CORE_CLOUD_AZURE || !i->doc || view_of(i) == V_GONE)
            continue;
        json_t *doc = json_loads(i->doc, 0, NULL);
        char acc[200], name[80];
        bool used = false;
        for (size_t n = 0; !used && nic_of(doc, n); n++)
            used = parse_id(nic_of(doc, n), "Microsoft.Network", "networkInterfaces", acc, name) ==
                       0 &&
                   !strcmp(acc, account) && !strcasecmp(name, nic);
        if (used && vm_id)
            snprintf(vm_id, 300, "%s", str(doc, "id") ? str(doc, "id") : i->name);
        json_decref(doc);
        if (used)
            return true;
    }
    return false;
}

/* Marks the NICs of a new VM that go with it (deleteOption Delete) with its vmId, kept in
 * the NIC's document under "_cloudsim" (never shown). */
static void own_nics(struct sim_world *w, const json_t *body, const char *vm_id)
{
    json_t *nics = jpath(body, "properties", "networkProfile", "networkInterfaces");
    size_t k;
    json_t *n;
    json_array_foreach(nics, k, n)
    {
        const char *opt = json_string_value(jpath(n, "properties", "deleteOption", NULL));
        char acc[200], name[80];
        struct sim_resource *res =
            opt && !strcasecmp(opt, "Delete") &&
                    parse_id(str(n, "id"), "Microsoft.Network", "networkInterfaces", acc, name) == 0
                ? sim_world_find_resource(w, CORE_CLOUD_AZURE, "networkInterfaces", acc, name)
                : NULL;
        json_t *doc = res ? json_loads(res->doc, 0, NULL) : NULL;
        if (!doc)
            continue;
        json_object_set_new(doc, "_cloudsim", json_pack("{s:s}", "deleteWith", vm_id));
        char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(doc);
        if (text) {
            free(res->doc);
            res->doc = text;
        }
    }
}

/* Deletes the NICs whose VM is gone (deleted, or evicted with evictionPolicy Delete) and
 * that were to go with it. true when one went. */
static bool sweep(struct sim_world *w)
{
    bool any = false;
    for (size_t k = 0; k < w->nresources;) {
        struct sim_resource *res = w->resources[k];
        json_t *doc = res->cloud == CORE_CLOUD_AZURE ? json_loads(res->doc, 0, NULL) : NULL;
        const char *owner = json_string_value(jpath(doc, "_cloudsim", "deleteWith", NULL));
        bool gone = owner && !find_vm_id(w, owner);
        json_decref(doc);
        if (gone) {
            sim_world_remove_resource(w, res);
            any = true;
        } else {
            k++;
        }
    }
    return any;
}

static void set_tags(struct sim_instance *i, const json_t *tags)
{
    for (size_t t = 0; t < i->ntags; t++) {
        free(i->tags[t].key);
        free(i->tags[t].value);
    }
    free(i->tags);
    i->tags = NULL;
    i->ntags = 0;
    size_t n = json_object_size(tags);
    if (!n || !(i->tags = calloc(n, sizeof *i->tags)))
        return;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)tags, k, v)
    {
        i->tags[i->ntags].key = strdup(k);
        i->tags[i->ntags].value = strdup(json_string_value(v) ? json_string_value(v) : "");
        if (!i->tags[i->ntags].key || !i->tags[i->ntags].value) {
            free(i->tags[i->ntags].key);
            free(i->tags[i->ntags].value);
            return;
        }
        i->ntags++;
    }
}

static json_t *tags_json(const struct sim_instance *i)
{
    json_t *t = json_object();
    for (size_t k = 0; k < i->ntags; k++)
        json_object_set_new(t, i->tags[k].key, json_string(i->tags[k].value));
    return t;
}

static json_t *instance_view(const struct sim_instance *i, double now)
{
    static const char *const prov[] = {"",         "creating",  "succeeded",
                                       "deleting", "succeeded", "succeeded"};
    static const char *const pow[] = {"",         "starting",     "running",
                                      "stopping", "deallocating", "deallocated"};
    static const char *const shown[] = {
        "", "VM starting", "VM running", "VM stopping", "VM deallocating", "VM deallocated"};
    enum view v = view_of(i);
    char pcode[64], wcode[64], t[64];
    snprintf(pcode, sizeof pcode, "ProvisioningState/%s", prov[v]);
    snprintf(wcode, sizeof wcode, "PowerState/%s", pow[v]);
    sim_arm_time(v == V_CREATING ? i->launch_time : now, t);
    return json_pack("{s:s, s:s, s:s, s:[{s:s, s:s, s:s, s:s}, {s:s, s:s, s:s}]}", "computerName",
                     i->name, "osName", "ubuntu", "osVersion", "22.04", "statuses", "code", pcode,
                     "level", "Info", "displayStatus",
                     v == V_CREATING   ? "Creating"
                     : v == V_DELETING ? "Deleting"
                                       : "Provisioning succeeded",
                     "time", t, "code", wcode, "level", "Info", "displayStatus", shown[v]);
}

/* The VM as GET shows it: its document, tags, vmId, provisioningState, timeCreated, and
 * with `expand` its instance view. */
static json_t *vm_json(const struct sim_instance *i, bool expand, double now)
{
    static const char *const prov[] = {"",         "Creating",  "Succeeded",
                                       "Deleting", "Succeeded", "Succeeded"};
    json_t *doc = i->doc ? json_loads(i->doc, 0, NULL) : NULL;
    if (!doc)
        doc = json_pack("{s:s, s:s, s:{}}", "name", i->name, "location", i->region, "properties");
    json_t *props = json_object_get(doc, "properties");
    char t[64];
    sim_arm_time(i->launch_time, t);
    json_object_set_new(doc, "tags", tags_json(i));
    json_object_set_new(props, "vmId", json_string(i->id));
    json_object_set_new(props, "timeCreated", json_string(t));
    json_object_set_new(props, "provisioningState", json_string(prov[view_of(i)]));
    if (expand)
        json_object_set_new(props, "instanceView", instance_view(i, now));
    return doc;
}

/* ---- operations ---- */

static struct sim_operation *find_op(const struct sim_world *w, const char *sub, const char *id)
{
    for (size_t k = 0; k < w->nops; k++) {
        struct sim_operation *o = w->ops[k];
        if (o->cloud == CORE_CLOUD_AZURE && !strcasecmp(o->id, id) && o->account &&
            !strcmp(o->account, sub))
            return o;
    }
    return NULL;
}

/* The operation of `kind` on the VM `vm_id` that is not done yet, or NULL. */
static struct sim_operation *running_op(const struct sim_world *w, const char *kind,
                                        const char *vm_id, double now)
{
    for (size_t k = 0; k < w->nops; k++) {
        struct sim_operation *o = w->ops[k];
        if (o->cloud == CORE_CLOUD_AZURE && o->kind && !strcmp(o->kind, kind) &&
            !strcmp(o->target_id, vm_id) && now < o->done_at)
            return o;
    }
    return NULL;
}

/* Starts an operation of `kind` on a target, done at `done_at` with `err` (NULL: success).
 * NULL when out of memory. */
static struct sim_operation *start_op(struct arm *a, const char *kind, const char *location,
                                      const char *target_id, const char *target_name,
                                      double done_at, const struct sim_error *err)
{
    struct sim_operation op = {.cloud = CORE_CLOUD_AZURE,
                               .account = (char *)(uintptr_t)a->sub,
                               .zone = (char *)(uintptr_t)location,
                               .kind = (char *)(uintptr_t)kind,
                               .target_name = (char *)(uintptr_t)target_name,
                               .done_at = done_at};
    snprintf(op.target_id, sizeof op.target_id, "%s", target_id);
    if (err)
        op.error = *err;
    struct sim_operation *o = sim_world_start_op(a->w, &op, a->now);
    a->r->changed = true;
    return o;
}

/* Points the reply at an operation: Azure-AsyncOperation, Location (its monitor form) and
 * Retry-After. */
static void point_at(struct arm *a, const char *ns, const struct sim_operation *o)
{
    char url[512];
    snprintf(url, sizeof url, "%s/subscriptions/%s/providers/%s/locations/%s/operations/%s",
             a->base, a->sub, ns, o->zone, o->id);
    sim_arm_header(a->r, "Azure-AsyncOperation", "%s?api-version=%s", url, a->api);
    sim_arm_header(a->r, "Location", "%s?monitor=true&api-version=%s", url, a->api);
    sim_arm_header(a->r, "Retry-After", "%.0f", retry_after(a->w));
}

/* GET .../providers/NS/locations/L/operations/ID[?monitor=true] */
static void get_op(struct arm *a)
{
    const struct sim_operation *o = find_op(a->w, a->sub, a->seg[7]);
    if (!o || !o->zone || strcasecmp(o->zone, a->seg[5]))
        return sim_arm_error(a->w, a->r, 404, "NotFound", "The operation '%s' could not be found.",
                             a->seg[7]);
    bool running = a->now < o->done_at, failed = o->error.kind != SIM_ERR_NONE;
    const char *monitor = qparam(a, "monitor");
    char start[64], end[64];
    sim_arm_time(o->started, start);
    sim_arm_time(o->done_at, end);
    if (monitor && !strcasecmp(monitor, "true")) {
        if (running) {
            sim_arm_json(a->w, a->r, 202, json_object());
            sim_arm_header(a->r, "Location", "%s%s?monitor=true&api-version=%s", a->base,
                           a->q->path, a->api);
            sim_arm_header(a->r, "Retry-After", "%.0f", retry_after(a->w));
        } else if (failed) {
            sim_arm_error(a->w, a->r, o->error.http_status ? o->error.http_status : 500,
                          o->error.code, "%s", o->error.message);
        } else {
            sim_arm_json(a->w, a->r, 200, json_object());
        }
        return;
    }
    json_t *j = json_pack("{s:s, s:s, s:s}", "startTime", start, "status",
                          running  ? "InProgress"
                          : failed ? "Failed"
                                   : "Succeeded",
                          "name", o->id);
    if (!running)
        json_object_set_new(j, "endTime", json_string(end));
    if (!running && failed)
        json_object_set_new(
            j, "error",
            json_pack("{s:s, s:s}", "code", o->error.code, "message", o->error.message));
    sim_arm_json(a->w, a->r, 200, j);
    if (running)
        sim_arm_header(a->r, "Retry-After", "%.0f", retry_after(a->w));
}

/* ---- VM PUT: checks ---- */

/* Tags as ARM takes them: at most 50, string values of at most 256 characters, names of at
 * most 512 without < > % & \ ? /. 0, or -1 after replying. */
static int check_tags(struct arm *a, const json_t *tags)
{
    if (tags && !json_is_object(tags)) {
        sim_arm_error(a->w, a->r, 400, "InvalidRequestContent", "'tags' must be an object.");
        return -1;
    }
    if (json_object_size(tags) > MAX_TAGS) {
        sim_arm_error(a->w, a->r, 400, "InvalidTagCount", "At most %d tags may be set.", MAX_TAGS);
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)tags, k, v)
    {
        if (strpbrk(k, "<>%&\\?/") || strlen(k) > 512 || !*k) {
            sim_arm_error(a->w, a->r, 400, "InvalidTagNameCharacters",
                          "The tag names '%.80s' have reserved characters '<,>,%%,&,\\,?,/' or "
                          "control characters.",
                          k);
            return -1;
        }
        if (!json_is_string(v) || strlen(json_string_value(v)) > 256) {
            sim_arm_error(a->w, a->r, 400, "InvalidTagValueLength",
                          "The tag value of '%.80s' must be a string of at most 256 characters.",
                          k);
            return -1;
        }
    }
    return 0;
}

/* Checks a VM body as ARM does; 0, or -1 after replying. */
static int check_vm_body(struct arm *a, const json_t *body, const char *name)
{
    const char *loc = str(body, "location");
    const json_t *props = json_object_get(body, "properties");
    if (!json_is_object(body) || !json_is_object(props)) {
        sim_arm_error(a->w, a->r, 400, "InvalidRequestContent",
                      "The request content was invalid and could not be deserialized: the body "
                      "must be a JSON object with 'properties'.");
        return -1;
    }
    if (!loc) {
        sim_arm_error(a->w, a->r, 400, "LocationRequired",
                      "The location property is required for this definition.");
        return -1;
    }
    if (!sim_world_region(a->w, CORE_CLOUD_AZURE, loc)) {
        sim_arm_error(a->w, a->r, 400, "LocationNotAvailableForResourceType",
                      "The provided location '%s' is not available for resource type '" VM_TYPE
                      "'. cloudsim's world has %zu Azure regions.",
                      loc, sim_config_cloud_regions(&a->w->conf, CORE_CLOUD_AZURE));
        return -1;
    }
    if (!json_string_value(jpath(props, "hardwareProfile", "vmSize", NULL))) {
        sim_arm_error(a->w, a->r, 400, "InvalidParameter",
                      "Required parameter 'hardwareProfile.vmSize' is missing (null).");
        return -1;
    }
    const json_t *img = jpath(props, "storageProfile", "imageReference", NULL);
    if (!str(img, "id") && !(str(img, "publisher") && str(img, "offer") && str(img, "sku"))) {
        sim_arm_error(a->w, a->r, 400, "InvalidParameter",
                      "Required parameter 'imageReference' is missing or names no image (id, or "
                      "publisher, offer and sku).");
        return -1;
    }
    const json_t *os = json_object_get(props, "osProfile");
    if (!str(os, "adminUsername")) {
        sim_arm_error(a->w, a->r, 400, "InvalidParameter",
                      "Required parameter 'osProfile.adminUsername' is missing (null).");
        return -1;
    }
    const char *cn = str(os, "computerName") ? str(os, "computerName") : name;
    if (strlen(cn) > 64 || strchr(cn, '_') || strspn(cn, "0123456789") == strlen(cn)) {
        sim_arm_error(a->w, a->r, 400, "InvalidParameter",
                      "Linux host name cannot exceed 64 characters in length, contain '_', or be "
                      "only digits ('%.80s').",
                      cn);
        return -1;
    }
    const json_t *lin = json_object_get(os, "linuxConfiguration");
    const char *key = str(json_array_get(jpath(lin, "ssh", "publicKeys", NULL), 0), "keyData");
    bool nopw = json_is_true(json_object_get(lin, "disablePasswordAuthentication"));
    if ((nopw || !str(os, "adminPassword")) && !(key && !strncmp(key, "ssh-", 4))) {
        sim_arm_error(a->w, a->r, 400, "InvalidParameter",
                      "Authentication using either SSH or by user name and password must be "
                      "enabled in Linux profile.");
        return -1;
    }
    const char *cd = str(os, "customData");
    if (cd && (strlen(cd) > MAX_CUSTOM_DATA || strlen(cd) % 4 ||
               strspn(cd, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") !=
                   strlen(cd))) {
        sim_arm_error(a->w, a->r, 400, "InvalidParameter",
                      "Custom data in OSProfile must be in Base64 encoding and with a maximum "
                      "length of %d characters.",
                      MAX_CUSTOM_DATA);
        return -1;
    }
    const char *prio = str(props, "priority"), *evict = str(props, "evictionPolicy");
    bool spot = prio && (!strcasecmp(prio, "Spot") || !strcasecmp(prio, "Low"));
    if ((prio && !spot && strcasecmp(prio, "Regular")) || (spot && !evict) || (!spot && evict) ||
        (evict && strcasecmp(evict, "Delete") && strcasecmp(evict, "Deallocate"))) {
        sim_arm_error(a->w, a->r, 400, "InvalidParameter",
                      "priority must be Regular, Low or Spot, and evictionPolicy (Deallocate or "
                      "Delete) is set exactly for Spot virtual machines.");
        return -1;
    }
    const json_t *zones = json_object_get(body, "zones");
    const char *z = json_string_value(json_array_get(zones, 0));
    if (zones && (json_array_size(zones) != 1 || !z || strlen(z) != 1 || *z < '1' || *z > '3')) {
        sim_arm_error(a->w, a->r, 400, "InvalidParameter",
                      "The value of parameter zones is invalid: one of \"1\", \"2\", \"3\".");
        return -1;
    }
    return check_tags(a, json_object_get(body, "tags"));
}

/* The NIC a VM body names must exist in the VM's location and be free; 0, or -1 after
 * replying. */
static int check_vm_nic(struct arm *a, const json_t *body, const char *name,
                        const struct sim_instance *self)
{
    const char *id = nic_of(body, 0);
    char acc[200], nic[80], vm[300];
    const struct sim_resource *res =
        id && parse_id(id, "Microsoft.Network", "networkInterfaces", acc, nic) == 0
            ? sim_world_find_resource(a->w, CORE_CLOUD_AZURE, "networkInterfaces", acc, nic)
            : NULL;
    json_t *doc = res ? json_loads(res->doc, 0, NULL) : NULL;
    const char *loc = str(doc, "location");
    bool there = loc && !strcasecmp(loc, str(body, "location"));
    json_decref(doc);
    if (!there) {
        sim_arm_error(a->w, a->r, 400, "InvalidResourceReference",
                      "Resource %s referenced by resource /subscriptions/%s/resourceGroups/%s/"
                      "providers/" VM_TYPE "/%s was not found. Please make sure that the "
                      "referenced resource exists, and that both resources are in the same "
                      "region.",
                      id ? id : "(no networkInterfaces[0].id)", a->sub, a->group, name);
        return -1;
    }
    if (nic_in_use(a->w, acc, nic, self, vm)) {
        sim_arm_error(a->w, a->r, 400, "NicInUse",
                      "Network Interface %s is used by existing resource %s. A network interface "
                      "can be attached to one virtual machine.",
                      id, vm);
        return -1;
    }
    return 0;
}

/* ---- VM PUT ---- */

/* The body as kept: name, id and type first; secrets (customData, adminPassword) dropped,
 * as GET never returns them. `hash` covers everything but the tags. */
static char *vm_doc(struct arm *a, const json_t *body, const char *name, char hash[17])
{
    char id[400];
    snprintf(id, sizeof id, "/subscriptions/%s/resourceGroups/%s/providers/" VM_TYPE "/%s", a->sub,
             a->group, name);
    json_t *copy = json_deep_copy(body);
    json_object_del(copy, "tags");
    json_object_del(copy, "id");
    json_object_del(copy, "name");
    json_object_del(copy, "type");
    char *text = copy ? json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    snprintf(hash, 17, "%016llx", (unsigned long long)sim_hash(SIM_HASH_INIT, text));
    free(text);
    json_t *os = jpath(copy, "properties", "osProfile", NULL);
    json_object_del(os, "customData");
    json_object_del(os, "adminPassword");
    json_t *doc = json_pack("{s:s, s:s, s:s}", "name", name, "id", id, "type", VM_TYPE);
    json_object_update(doc, copy);
    json_decref(copy);
    char *s = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    return s;
}

/* Which property a PUT tries to change on an existing VM, or NULL. */
static const char *changed_property(const struct sim_instance *i, const json_t *body)
{
    json_t *doc = json_loads(i->doc, 0, NULL);
    static const char *const keys[][2] = {
        {"zones", NULL},
        {"properties", "hardwareProfile"},
        {"properties", "storageProfile"},
        {"properties", "networkProfile"},
        {"properties", "priority"},
        {"properties", "evictionPolicy"},
        {"properties", "billingProfile"},
    };
    const char *what = NULL;
    for (size_t k = 0; k < sizeof keys / sizeof *keys && !what; k++) {
        json_t *x = jpath(doc, keys[k][0], keys[k][1], NULL);
        json_t *y = jpath(body, keys[k][0], keys[k][1], NULL);
        if (!(x == y || (x && y && json_equal(x, y))))
            what = keys[k][1] ? keys[k][1] : keys[k][0];
    }
    json_decref(doc);
    return what;
}

/* A PUT on a VM ARM already shows: the same body is the same VM (its tags may change). */
static void vm_put_again(struct arm *a, struct sim_instance *i, const json_t *body,
                         const char *hash)
{
    enum view v = view_of(i);
    if (strcasecmp(i->region, str(body, "location")))
        return sim_arm_error(a->w, a->r, 409, "InvalidResourceLocation",
                             "The resource '%s' already exists in location '%s' in resource "
                             "group '%s'. A resource with the same name cannot be created in "
                             "location '%s'. Please select a new resource name.",
                             i->name, i->region, a->group, str(body, "location"));
    if (v == V_DELETING)
        return sim_arm_error(a->w, a->r, 409, "OperationNotAllowed",
                             "Operation 'PutVM' is not allowed on VM '%s' since the VM is marked "
                             "for deletion. You can only retry the Delete operation (or wait for "
                             "an ongoing one to complete).",
                             i->name);
    if (strcmp(i->params_hash, hash)) {
        const char *what = changed_property(i, body);
        return sim_arm_error(a->w, a->r, 409, "PropertyChangeNotAllowed",
                             "Changing property '%s' is not allowed.", what ? what : "osProfile");
    }
    set_tags(i, json_object_get(body, "tags"));
    a->r->changed = true;
    sim_arm_json(a->w, a->r, 200, vm_json(i, false, a->now));
    const struct sim_operation *o = running_op(a->w, "create", i->id, a->now);
    if (o)
        point_at(a, "Microsoft.Compute", o);
}

/* Frees VMs that hold `name` in the world but that ARM no longer shows (evicted with
 * Delete), so that the name can be PUT again. */
static void release_name(struct arm *a, const char *name)
{
    bool any = false;
    for (size_t k = 0; k < a->w->ninstances; k++) {
        struct sim_instance *i = a->w->instances[k];
        if (azure_in(i, a->account) && !strcasecmp(i->name, name) && view_of(i) == V_GONE) {
            i->gone_at = a->now;
            any = true;
        }
    }
    if (any)
        sim_world_advance(a->w, a->now);
}

/* The world's refusal in ARM's words: synchronous errors, or (capacity) an operation that
 * fails, as Azure reports allocation failures. */
static void vm_refused(struct arm *a, const json_t *body, const char *name,
                       const struct sim_error *e, double vcpus)
{
    const char *loc = str(body, "location"),
               *size = json_string_value(jpath(body, "properties", "hardwareProfile", "vmSize"));
    bool zonal = json_object_get(body, "zones") != NULL;
    struct sim_error op = {.kind = e->kind, .http_status = 200};
    switch (e->kind) {
    case SIM_ERR_CAPACITY:
        snprintf(op.code, sizeof op.code, "%s",
                 zonal ? "ZonalAllocationFailed" : "AllocationFailed");
        snprintf(op.message, sizeof op.message,
                 "Allocation failed. We do not have sufficient capacity for the requested VM size "
                 "%s in %s. Read more about improving likelihood of allocation success at "
                 "http://aka.ms/allocation-guidance",
                 size, zonal ? "this zone" : "this region");
        sim_arm_json(a->w, a->r, 201,
                     json_pack("{s:s, s:s, s:{s:s}}", "name", name, "location", loc, "properties",
                               "provisioningState", "Creating"));
        {
            char vm_id[40];
            snprintf(vm_id, sizeof vm_id, "failed-%08llx", (unsigned long long)sim_rand(a->w));
            struct sim_operation *o = start_op(a, "create", loc, vm_id, name, a->now, &op);
            if (o)
                point_at(a, "Microsoft.Compute", o);
        }
        return;
    case SIM_ERR_QUOTA_VCPUS:
    case SIM_ERR_QUOTA_SPOT_VCPUS:
        return sim_arm_error(
            a->w, a->r, 409, "OperationNotAllowed",
            "Operation could not be completed as it results in exceeding approved %s quota. "
            "Additional details - Deployment Model: Resource Manager, Location: %s, Current "
            "Limit: %ld, Additional Required: %.0f. Submit a request for Quota increase at "
            "https://aka.ms/ProdportalCRP by specifying parameters listed in the 'Details' section "
            "for deployment to succeed.",
            e->kind == SIM_ERR_QUOTA_SPOT_VCPUS ? "Low Priority Cores" : "Total Regional Cores",
            loc, e->limit, vcpus);
    case SIM_ERR_QUOTA_INSTANCES:
        return sim_arm_error(a->w, a->r, 409, "QuotaExceeded",
                             "Operation results in exceeding quota limits of virtual machines in "
                             "%s. Maximum allowed: %ld.",
                             loc, e->limit);
    case SIM_ERR_NO_TYPE:
    case SIM_ERR_TYPE_NOT_IN_ZONE: {
        bool anywhere = false;
        for (size_t k = 0; k < a->w->conf.noffers && !anywhere; k++)
            anywhere = a->w->conf.offers[k].cloud == CORE_CLOUD_AZURE &&
                       !strcmp(a->w->conf.offers[k].type, size);
        if (anywhere)
            return sim_arm_error(
                a->w, a->r, 409, "SkuNotAvailable",
                "The requested VM size for resource 'Following SKUs have failed "
                "for Capacity Restrictions: %s' is currently not available in "
                "location '%s'. Please try another size or deploy to a different "
                "location or different zone. See https://aka.ms/azureskunotavailable "
                "for details.",
                size, loc);
        return sim_arm_error(a->w, a->r, 400, "InvalidParameter",
                             "The value %s provided for the VM size is not valid.", size);
    }
    default:
        return sim_arm_error(a->w, a->r, e->http_status >= 500 ? 500 : 409,
                             e->http_status >= 500 ? "InternalServerError" : "Conflict", "%s",
                             e->message);
    }
}

static void vm_put(struct arm *a, const char *name)
{
    if (!valid_name(name))
        return sim_arm_error(a->w, a->r, 400, "InvalidResourceName",
                             "The resource name '%.80s' is invalid. It must be 1-64 letters, "
                             "digits, '-', '_' or '.', start with a letter or digit and not end "
                             "with '-' or '.'.",
                             name);
    json_t *body = json_loadb(a->q->body, a->q->body_len, 0, NULL);
    if (check_vm_body(a, body, name) != 0) {
        json_decref(body);
        return;
    }
    char hash[17];
    char *doc = vm_doc(a, body, name, hash);
    struct sim_instance *i = find_vm(a->w, a->account, name);
    if (i || !doc) {
        if (i)
            vm_put_again(a, i, body, hash);
        else
            sim_arm_error(a->w, a->r, 500, "InternalServerError", "out of memory");
        free(doc);
        json_decref(body);
        return;
    }
    if (check_vm_nic(a, body, name, NULL) != 0) {
        free(doc);
        json_decref(body);
        return;
    }
    release_name(a, name);
    const json_t *props = json_object_get(body, "properties");
    const char *loc = str(body, "location"), *prio = str(props, "priority");
    const char *size = json_string_value(jpath(props, "hardwareProfile", "vmSize", NULL));
    const json_t *img = jpath(props, "storageProfile", "imageReference", NULL);
    char image[400];
    snprintf(image, sizeof image, "%s", str(img, "id") ? str(img, "id") : "");
    if (!str(img, "id"))
        snprintf(image, sizeof image, "%s:%s:%s:%s", str(img, "publisher"), str(img, "offer"),
                 str(img, "sku"), str(img, "version") ? str(img, "version") : "latest");
    struct sim_tag tags[MAX_TAGS];
    size_t ntags = 0;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(body, "tags"), k, v)
    {
        if (ntags < MAX_TAGS && json_string_value(v))
            tags[ntags++] =
                (struct sim_tag){(char *)(uintptr_t)k, (char *)(uintptr_t)json_string_value(v)};
    }
    struct sim_run_request req = {
        .cloud = CORE_CLOUD_AZURE,
        .account = a->account,
        .name = name,
        .region = loc,
        .zone = loc, /* an Azure region is its own single zone in the world */
        .type = size,
        .image = image,
        .user_data = str(jpath(props, "osProfile", NULL, NULL), "customData"),
        .min_count = 1,
        .max_count = 1,
        .spot = prio && (!strcasecmp(prio, "Spot") || !strcasecmp(prio, "Low")),
        .tags = tags,
        .ntags = ntags,
        .params_hash = hash,
    };
    const struct sim_offer *offer = sim_world_offer(a->w, CORE_CLOUD_AZURE, loc, size);
    struct sim_instance *out[1];
    size_t nout = 0;
    struct sim_error e;
    if (sim_world_fault(a->w, SIM_FAULT_CAPACITY)) {
        e = (struct sim_error){.kind = SIM_ERR_CAPACITY};
        vm_refused(a, body, name, &e, 0);
    } else if (sim_world_run(a->w, &req, a->now, out, &nout, &e) != 0 || nout != 1) {
        vm_refused(a, body, name, &e, offer ? offer->vcpus : 0);
    } else {
        out[0]->doc = doc;
        doc = NULL;
        own_nics(a->w, body, out[0]->id);
        a->r->changed = true;
        sim_arm_json(a->w, a->r, 201, vm_json(out[0], false, a->now));
        struct sim_operation *o =
            start_op(a, "create", loc, out[0]->id, name, out[0]->running_at, NULL);
        if (o)
            point_at(a, "Microsoft.Compute", o);
    }
    free(doc);
    json_decref(body);
}

/* ---- VM GET, DELETE, boot diagnostics ---- */

static struct sim_instance *vm_or_404(struct arm *a, const char *name)
{
    struct sim_instance *i = find_vm(a->w, a->account, name);
    if (!i)
        sim_arm_error(a->w, a->r, 404, "ResourceNotFound",
                      "The Resource '" VM_TYPE "/%s' under resource group '%s' was not found. For "
                      "more details please go to https://aka.ms/ARMResourceNotFoundFix",
                      name, a->group);
    return i;
}

static void vm_get(struct arm *a, const char *name, bool view_only)
{
    const struct sim_instance *i = vm_or_404(a, name);
    if (!i)
        return;
    const char *expand = qparam(a, "$expand");
    if (view_only)
        return sim_arm_json(a->w, a->r, 200, instance_view(i, a->now));
    sim_arm_json(a->w, a->r, 200,
                 vm_json(i, expand && !strcasecmp(expand, "instanceView"), a->now));
}

/* PATCH of a VM: cloudsim changes its tags (the whole set, as ARM does), nothing else. */
static void vm_patch(struct arm *a, const char *name)
{
    struct sim_instance *i = vm_or_404(a, name);
    if (!i)
        return;
    json_t *body = json_loadb(a->q->body, a->q->body_len, 0, NULL);
    const char *k;
    json_t *v;
    bool only_tags = json_is_object(body);
    json_object_foreach(body, k, v) only_tags = only_tags && !strcmp(k, "tags");
    if (!only_tags) {
        json_decref(body);
        return sim_arm_error(a->w, a->r, 400, "InvalidRequestContent",
                             "cloudsim's PATCH of a virtual machine changes its tags only "
                             "(docs/cloudsim.md).");
    }
    if (check_tags(a, json_object_get(body, "tags")) == 0) {
        json_t *tags = json_object_get(body, "tags");
        const char *req = sim_agent_request_of(i);
        char *before = req ? strdup(req) : NULL; /* a new request wakes the node's watcher */
        if (tags)
            set_tags(i, tags);
        sim_agent_request(a->w, i, before);
        free(before);
        a->r->changed = true;
        sim_arm_json(a->w, a->r, 200, vm_json(i, false, a->now));
        struct sim_operation *o = start_op(a, "update", i->region, i->id, name, a->now, NULL);
        if (o)
            point_at(a, "Microsoft.Compute", o);
    }
    json_decref(body);
}

static void vm_delete(struct arm *a, const char *name)
{
    struct sim_instance *i = find_vm(a->w, a->account, name);
    if (!i) {
        sim_arm_request_id(a->w, a->r);
        a->r->status = 204; /* ARM: deleting what is not there is done */
        a->r->content_type = "application/json; charset=utf-8";
        return;
    }
    enum view v = view_of(i);
    char vm_id[40], loc[64];
    snprintf(vm_id, sizeof vm_id, "%s", i->id);
    snprintf(loc, sizeof loc, "%s", i->region);
    const struct sim_operation *o = running_op(a->w, "delete", vm_id, a->now);
    if (!o) {
        double done = a->now;
        if (v == V_CREATING || v == V_RUNNING) {
            sim_world_terminate(a->w, i, a->now, false, NULL);
            done = i->terminate_at;
        } else if (v == V_DELETING || v == V_DEALLOCATING) {
            done = i->terminate_at;
        } else { /* deallocated: nothing runs, it goes now */
            i->gone_at = a->now;
            i->reclaimed = false;
        }
        o = start_op(a, "delete", loc, vm_id, name, done, NULL);
        sim_world_advance(a->w, a->now);
    }
    sim_arm_request_id(a->w, a->r);
    a->r->status = 202;
    a->r->content_type = "application/json; charset=utf-8";
    if (o)
        point_at(a, "Microsoft.Compute", o);
}

static void boot_diagnostics(struct arm *a, const char *name)
{
    if (strcmp(a->q->method, "POST"))
        return sim_arm_error(a->w, a->r, 405, "MethodNotAllowed",
                             "retrieveBootDiagnosticsData takes POST.");
    const struct sim_instance *i = vm_or_404(a, name);
    if (!i)
        return;
    json_t *doc = json_loads(i->doc ? i->doc : "{}", 0, NULL);
    bool on = json_is_true(jpath(jpath(doc, "properties", "diagnosticsProfile", NULL),
                                 "bootDiagnostics", "enabled", NULL));
    json_decref(doc);
    if (!on)
        return sim_arm_error(a->w, a->r, 409, "OperationNotAllowed",
                             "Boot diagnostics are not enabled for VM '%s'.", name);
    const char *m = qparam(a, "sasUriExpirationTimeInMinutes");
    long minutes = m ? strtol(m, NULL, 10) : 120;
    if (minutes < 1 || minutes > 1440)
        return sim_arm_error(a->w, a->r, 400, "InvalidParameter",
                             "sasUriExpirationTimeInMinutes must be between 1 and 1440.");
    char se[40], path[300], sig[65], serial[900], shot[900];
    snprintf(se, sizeof se, "%.0f", a->now + 60.0 * (double)minutes);
    snprintf(path, sizeof path, "/_blob/bootdiagnostics/%s/%s.serialconsole.log", i->id, i->name);
    sim_arm_sas(a->w, path, se, sig);
    snprintf(serial, sizeof serial, "%s%s?sv=2022-11-02&sr=b&sp=r&se=%s&sig=%s", a->base, path, se,
             sig);
    snprintf(path, sizeof path, "/_blob/bootdiagnostics/%s/%s.screenshot.bmp", i->id, i->name);
    sim_arm_sas(a->w, path, se, sig);
    snprintf(shot, sizeof shot, "%s%s?sv=2022-11-02&sr=b&sp=r&se=%s&sig=%s", a->base, path, se,
             sig);
    sim_arm_json(a->w, a->r, 200,
                 json_pack("{s:s, s:s}", "consoleScreenshotBlobUri", shot,
                           "serialConsoleLogBlobUri", serial));
}

/* GET /_blob/bootdiagnostics/VMID/FILE?...&se=&sig=: the serial log, as storage serves a blob
 * through a SAS link (no bearer token; errors in storage's XML). */
static void blob(struct sim_world *w, struct sim_query *q, double now, struct sim_reply *r)
{
    const char *se = sim_param_get(q->p, q->nquery, "se");
    const char *sig = sim_param_get(q->p, q->nquery, "sig");
    char vm_id[64] = "";
    const char *p = q->path + strlen("/_blob/bootdiagnostics/"), *slash = strchr(p, '/');
    if (!strncmp(q->path, "/_blob/bootdiagnostics/", 23) && slash && slash - p < 64)
        snprintf(vm_id, sizeof vm_id, "%.*s", (int)(slash - p), p);
    const struct sim_instance *i = *vm_id ? find_vm_id(w, vm_id) : NULL;
    const char *code = NULL, *msg = NULL;
    int status = 200;
    if (!se || sim_arm_sas_ok(w, q->path, se, sig) != 0 || strtod(se, NULL) < now) {
        status = 403, code = "AuthenticationFailed";
        msg = "Server failed to authenticate the request. Make sure the value of Authorization "
              "header is formed correctly including the signature.";
    } else if (!i || view_of(i) != V_RUNNING || !strstr(slash, ".serialconsole.log")) {
        status = 404, code = "BlobNotFound", msg = "The specified blob does not exist.";
    }
    sim_arm_request_id(w, r);
    r->status = status;
    if (code) {
        r->content_type = "application/xml";
        if (asprintf(&r->body,
                     "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>%s</Code><Message>%s"
                     "\nRequestId:%s</Message></Error>",
                     code, msg, r->request_id) < 0)
            r->body = NULL;
    } else {
        r->content_type = "text/plain";
        r->body = sim_console_output(i);
    }
    r->len = r->body ? strlen(r->body) : 0;
}

/* ---- NICs ---- */

static void nic_json_reply(struct arm *a, int status, const struct sim_resource *res)
{
    json_t *doc = json_loads(res->doc, 0, NULL);
    char vm[300];
    json_t *props = json_object_get(doc, "properties");
    json_object_del(doc, "_cloudsim");
    json_object_set_new(props, "provisioningState", json_string("Succeeded"));
    if (nic_in_use(a->w, res->account, res->name, NULL, vm))
        json_object_set_new(props, "virtualMachine", json_pack("{s:s}", "id", vm));
    sim_arm_json(a->w, a->r, status, doc);
}

static void nic_put(struct arm *a, const char *name)
{
    if (!valid_name(name))
        return sim_arm_error(a->w, a->r, 400, "InvalidResourceName",
                             "Resource name %.80s is invalid.", name);
    json_t *body = json_loadb(a->q->body, a->q->body_len, 0, NULL);
    const char *loc = str(body, "location");
    json_t *ipc = json_array_get(jpath(body, "properties", "ipConfigurations", NULL), 0);
    const char *subnet = json_string_value(jpath(ipc, "properties", "subnet", "id"));
    char acc[200], sn[80];
    if (!json_is_object(body) || !loc || !ipc) {
        json_decref(body);
        return sim_arm_error(a->w, a->r, 400, "InvalidRequestFormat",
                             "Cannot parse the request: a network interface needs 'location' "
                             "and properties.ipConfigurations[0].");
    }
    if (!sim_world_region(a->w, CORE_CLOUD_AZURE, loc)) {
        json_decref(body);
        return sim_arm_error(a->w, a->r, 400, "LocationNotAvailableForResourceType",
                             "The provided location '%s' is not available for resource type "
                             "'" NIC_TYPE "'.",
                             loc);
    }
    char tail[600];
    snprintf(tail, sizeof tail, "%s", subnet ? subnet : "");
    char *cut = strstr(tail, "/subnets/");
    if (cut)
        *cut = '\0';
    if (!subnet || !cut || parse_id(tail, "Microsoft.Network", "virtualNetworks", acc, sn) != 0 ||
        !*(cut + 9)) {
        json_decref(body);
        return sim_arm_error(a->w, a->r, 400, "LinkedInvalidPropertyId",
                             "Property id '%.300s' at path "
                             "'properties.ipConfigurations[0].properties.subnet.id' is invalid. "
                             "Expect fully qualified resource Id that start with "
                             "'/subscriptions/{subscriptionId}'.",
                             subnet ? subnet : "");
    }
    struct sim_resource *old =
        sim_world_find_resource(a->w, CORE_CLOUD_AZURE, "networkInterfaces", a->account, name);
    json_t *olddoc = old ? json_loads(old->doc, 0, NULL) : NULL;
    if (old && str(olddoc, "location") && strcasecmp(str(olddoc, "location"), loc)) {
        json_decref(olddoc);
        json_decref(body);
        return sim_arm_error(a->w, a->r, 409, "InvalidResourceLocation",
                             "The resource '%s' already exists in location '%s' in resource "
                             "group '%s'.",
                             name, str(olddoc, "location"), a->group);
    }
    char id[400], ip[16];
    snprintf(id, sizeof id, "/subscriptions/%s/resourceGroups/%s/providers/" NIC_TYPE "/%s", a->sub,
             a->group, name);
    const char *oldip = json_string_value(
        jpath(json_array_get(jpath(olddoc, "properties", "ipConfigurations", NULL), 0),
              "properties", "privateIPAddress", NULL));
    uint64_t x = sim_rand(a->w);
    snprintf(ip, sizeof ip, "%s", oldip ? oldip : "");
    if (!oldip)
        snprintf(ip, sizeof ip, "10.%u.%u.%u", (unsigned)(x & 0xff), (unsigned)((x >> 8) & 0xff),
                 (unsigned)((x >> 16) % 254 + 1));
    json_decref(olddoc);
    char where[64];
    snprintf(where, sizeof where, "%s", loc);
    json_object_set_new(json_object_get(ipc, "properties"), "privateIPAddress", json_string(ip));
    json_t *doc = json_pack("{s:s, s:s, s:s}", "name", name, "id", id, "type", NIC_TYPE);
    json_object_update(doc, body);
    json_decref(body);
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    if (old) {
        free(old->doc);
        old->doc = text;
    } else {
        old = text ? sim_world_add_resource(a->w, CORE_CLOUD_AZURE, "networkInterfaces", a->account,
                                            name, text)
                   : NULL;
    }
    if (!old || !old->doc)
        return sim_arm_error(a->w, a->r, 500, "InternalServerError", "out of memory");
    a->r->changed = true;
    nic_json_reply(a, 201, old);
    /* ARM answers a NIC PUT with an operation too; this one is done at once */
    struct sim_operation *o = start_op(a, "nic", where, "", name, a->now, NULL);
    if (o)
        point_at(a, "Microsoft.Network", o);
}

static void nic(struct arm *a, const char *name)
{
    const char *m = a->q->method;
    if (!strcmp(m, "PUT"))
        return nic_put(a, name);
    struct sim_resource *res =
        sim_world_find_resource(a->w, CORE_CLOUD_AZURE, "networkInterfaces", a->account, name);
    char vm[300];
    if (!strcmp(m, "GET")) {
        if (!res)
            return sim_arm_error(a->w, a->r, 404, "NotFound",
                                 "Resource /subscriptions/%s/resourceGroups/%s/providers/" NIC_TYPE
                                 "/%s not found.",
                                 a->sub, a->group, name);
        return nic_json_reply(a, 200, res);
    }
    if (strcmp(m, "DELETE"))
        return sim_arm_error(a->w, a->r, 405, "MethodNotAllowed", "%s is not allowed here.", m);
    if (res && nic_in_use(a->w, res->account, res->name, NULL, vm))
        return sim_arm_error(
            a->w, a->r, 400, "NicInUse",
            "Network Interface /subscriptions/%s/resourceGroups/%s/providers/" NIC_TYPE
            "/%s is used by existing resource %s. In order to delete "
            "the network interface, it must be dissociated from the resource.",
            a->sub, a->group, name, vm);
    sim_arm_request_id(a->w, a->r);
    a->r->content_type = "application/json; charset=utf-8";
    a->r->status = res ? 200 : 204;
    if (res) {
        sim_world_remove_resource(a->w, res);
        a->r->changed = true;
    }
}

/* ---- lists ---- */

/* One page of `items` (stolen) from `start`: {"value": [...], "nextLink"}. */
static void page_reply(struct arm *a, json_t *items, uint64_t qhash)
{
    size_t start = 0;
    const char *skip = qparam(a, "$skiptoken");
    if (skip && sim_page_parse(a->w, qhash, skip, &start) != 0) {
        json_decref(items);
        return sim_arm_error(a->w, a->r, 400, "InvalidSkipToken",
                             "The skip token '%.64s' is not valid for this query.", skip);
    }
    json_t *value = json_array();
    size_t n = json_array_size(items);
    for (size_t k = start; k < n && k < start + PAGE_SIZE; k++)
        json_array_append(value, json_array_get(items, k));
    json_t *j = json_pack("{s:o}", "value", value);
    if (start + PAGE_SIZE < n) {
        char tok[64], link[1200];
        sim_page_token(a->w, qhash, start + PAGE_SIZE, tok);
        const char *filter = qparam(a, "$filter");
        char *enc = NULL;
        if (filter) { /* the link carries the query again, percent-encoded */
            size_t fl = strlen(filter);
            enc = malloc(3 * fl + 1);
            for (size_t k = 0, o = 0; enc && k <= fl; k++) {
                unsigned char c = (unsigned char)filter[k];
                if (!c || isalnum(c) || strchr("-_.~", c))
                    enc[o++] = (char)c;
                else
                    o += (size_t)snprintf(enc + o, 4, "%%%02X", c);
            }
        }
        snprintf(link, sizeof link, "%s%s?api-version=%s%s%s&$skiptoken=%s", a->base, a->q->path,
                 a->api, enc ? "&$filter=" : "", enc ? enc : "", tok);
        free(enc);
        json_object_set_new(j, "nextLink", json_string(link));
    }
    json_decref(items);
    sim_arm_json(a->w, a->r, 200, j);
}

static void vm_list(struct arm *a, bool whole_subscription)
{
    json_t *items = json_array();
    char prefix[80];
    snprintf(prefix, sizeof prefix, "%s/", a->sub);
    for (size_t k = 0; k < a->w->ninstances; k++) {
        const struct sim_instance *i = a->w->instances[k];
        bool mine = whole_subscription
                        ? azure_in(i, NULL) && !strncmp(i->account, prefix, strlen(prefix))
                        : azure_in(i, a->account);
        if (mine && view_of(i) != V_GONE)
            json_array_append_new(items, vm_json(i, false, a->now));
    }
    page_reply(a, items,
               sim_hash(sim_hash(SIM_HASH_INIT, "vms"), whole_subscription ? prefix : a->account));
}

/* One clause "FIELD eq 'VALUE'" at *p (quotes doubled inside); advances *p. */
static int clause(const char **p, char field[32], char value[300])
{
    const char *s = *p;
    while (*s == ' ')
        s++;
    size_t n = strcspn(s, " ");
    if (n == 0 || n >= 32 || strncasecmp(s + n, " eq '", 5))
        return -1;
    snprintf(field, 32, "%.*s", (int)n, s);
    s += n + 5;
    size_t o = 0;
    for (;; s++) {
        if (!*s || o >= 299)
            return -1;
        if (*s == '\'' && s[1] == '\'') {
            value[o++] = '\'';
            s++;
        } else if (*s == '\'') {
            break;
        } else {
            value[o++] = *s;
        }
    }
    value[o] = '\0';
    *p = s + 1;
    return 0;
}

struct filter {
    char tag[300], value[300], type[300];
    bool has_tag, has_value, has_type;
};

/* The $filter forms cloudsim reads: tagName eq 'K' [and tagValue eq 'V'], resourceType eq
 * 'T'. -1 for anything else. */
static int parse_filter(const char *f, struct filter *out)
{
    memset(out, 0, sizeof *out);
    if (!f)
        return 0;
    const char *p = f;
    for (int k = 0; k < 2; k++) {
        char field[32], value[300];
        if (clause(&p, field, value) != 0)
            return -1;
        if (!strcasecmp(field, "tagName") && !out->has_tag && !out->has_type) {
            snprintf(out->tag, sizeof out->tag, "%s", value);
            out->has_tag = true;
        } else if (!strcasecmp(field, "tagValue") && out->has_tag && !out->has_value) {
            snprintf(out->value, sizeof out->value, "%s", value);
            out->has_value = true;
        } else if (!strcasecmp(field, "resourceType") && !out->has_tag) {
            snprintf(out->type, sizeof out->type, "%s", value);
            out->has_type = true;
        } else {
            return -1;
        }
        while (*p == ' ')
            p++;
        if (!*p)
            return 0;
        if (strncasecmp(p, "and ", 4))
            return -1;
        p += 4;
    }
    return -1;
}

static bool filter_ok(const struct filter *f, const char *type, const json_t *tags)
{
    if (f->has_type && strcasecmp(f->type, type))
        return false;
    if (!f->has_tag)
        return true;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)tags, k, v)
    {
        if (!strcasecmp(k, f->tag) && (!f->has_value || !strcmp(f->value, json_string_value(v))))
            return true;
    }
    return false;
}

static json_t *generic(const json_t *doc)
{
    json_t *j = json_pack("{s:O?, s:O?, s:O?, s:O?}", "id", json_object_get(doc, "id"), "name",
                          json_object_get(doc, "name"), "type", json_object_get(doc, "type"),
                          "location", json_object_get(doc, "location"));
    json_t *tags = json_object_get(doc, "tags");
    json_object_set(j, "tags", tags ? tags : json_object());
    return j;
}

static void resource_list(struct arm *a)
{
    struct filter f;
    const char *text = qparam(a, "$filter");
    if (parse_filter(text, &f) != 0)
        return sim_arm_error(a->w, a->r, 400, "InvalidFilterInQueryString",
                             "The $filter '%.200s' is not supported: cloudsim reads tagName eq "
                             "'K' [and tagValue eq 'V'], or resourceType eq 'T'.",
                             text);
    json_t *items = json_array();
    for (size_t k = 0; k < a->w->ninstances; k++) {
        const struct sim_instance *i = a->w->instances[k];
        if (!azure_in(i, a->account) || view_of(i) == V_GONE)
            continue;
        json_t *vm = vm_json(i, false, a->now);
        if (filter_ok(&f, VM_TYPE, json_object_get(vm, "tags")))
            json_array_append_new(items, generic(vm));
        json_decref(vm);
    }
    for (size_t k = 0; k < a->w->nresources; k++) {
        const struct sim_resource *res = a->w->resources[k];
        if (res->cloud != CORE_CLOUD_AZURE || !res->account || strcmp(res->account, a->account))
            continue;
        json_t *doc = json_loads(res->doc, 0, NULL);
        if (doc && filter_ok(&f, NIC_TYPE, json_object_get(doc, "tags")))
            json_array_append_new(items, generic(doc));
        json_decref(doc);
    }
    page_reply(
        a, items,
        sim_hash(sim_hash(sim_hash(SIM_HASH_INIT, "resources"), a->account), text ? text : ""));
}

/* ---- dispatch ---- */

static void split(struct arm *a)
{
    snprintf(a->segbuf, sizeof a->segbuf, "%s", a->q->path);
    char *save = NULL;
    for (char *t = strtok_r(a->segbuf, "/", &save); t && a->nseg < MAX_SEGS;
         t = strtok_r(NULL, "/", &save))
        a->seg[a->nseg++] = t;
}

static enum sim_family family_of(const struct arm *a)
{
    const char *m = a->q->method;
    bool vm = a->nseg >= 8 && is(a->seg[6], "virtualMachines");
    if (!strcmp(m, "GET"))
        return SIM_FAM_DESCRIBE;
    if (!strcmp(m, "DELETE"))
        return SIM_FAM_TERMINATE;
    return !strcmp(m, "PUT") && vm ? SIM_FAM_RUN : SIM_FAM_MUTATING;
}

static void not_served(struct arm *a)
{
    sim_arm_error(a->w, a->r, 404, "InvalidResourceType",
                  "cloudsim does not serve '%s %s'. It serves Microsoft.Compute/virtualMachines "
                  "(PUT, GET, PATCH of tags, DELETE, list, instanceView, "
                  "retrieveBootDiagnosticsData), "
                  "Microsoft.Network/networkInterfaces (PUT, GET, DELETE), the resource group's "
                  "resources list and the operations (docs/cloudsim.md).",
                  a->q->method, a->q->path);
}

/* The route of a request under /subscriptions/SUB. */
static void route(struct arm *a)
{
    const char *m = a->q->method;
    const char **s = a->seg;
    size_t n = a->nseg;
    bool in_group = n >= 4 && is(s[2], "resourceGroups");
    if (n == 8 && is(s[2], "providers") && is(s[4], "locations") && is(s[6], "operations") &&
        !strcmp(m, "GET"))
        return get_op(a);
    if (n == 5 && is(s[2], "providers") && is(s[3], "Microsoft.Compute") &&
        is(s[4], "virtualMachines") && !strcmp(m, "GET"))
        return vm_list(a, true);
    if (!in_group)
        return not_served(a);
    if (n == 5 && is(s[4], "resources") && !strcmp(m, "GET"))
        return resource_list(a);
    if (n < 7 || !is(s[4], "providers"))
        return not_served(a);
    if (is(s[5], "Microsoft.Network") && is(s[6], "networkInterfaces") && n == 8)
        return nic(a, s[7]);
    if (!is(s[5], "Microsoft.Compute") || !is(s[6], "virtualMachines"))
        return not_served(a);
    if (n == 7 && !strcmp(m, "GET"))
        return vm_list(a, false);
    if (n == 9 && is(s[8], "instanceView") && !strcmp(m, "GET"))
        return vm_get(a, s[7], true);
    if (n == 9 && is(s[8], "retrieveBootDiagnosticsData"))
        return boot_diagnostics(a, s[7]);
    if (n != 8)
        return not_served(a);
    if (!strcmp(m, "PUT"))
        return vm_put(a, s[7]);
    if (!strcmp(m, "GET"))
        return vm_get(a, s[7], false);
    if (!strcmp(m, "DELETE"))
        return vm_delete(a, s[7]);
    if (!strcmp(m, "PATCH"))
        return vm_patch(a, s[7]);
    not_served(a);
}

/* The api-version a path needs, by its provider namespace. */
static const char *api_min(const struct arm *a)
{
    for (size_t k = 2; k < a->nseg; k++)
        if (is(a->seg[k], "Microsoft.Network"))
            return NETWORK_API_MIN;
        else if (is(a->seg[k], "Microsoft.Compute"))
            return COMPUTE_API_MIN;
    return RESOURCE_API_MIN;
}

static void latency(struct sim_world *w, struct sim_reply *r)
{
    if (w->conf.latency_mean_ms > 0) {
        double mean = w->conf.latency_mean_ms;
        r->latency_ms = fmin(-mean * log(1 - sim_rand01(w)), 10 * mean);
    } else if (w->conf.latency_max_ms > 0) {
        r->latency_ms = w->conf.latency_min_ms +
                        (w->conf.latency_max_ms - w->conf.latency_min_ms) * sim_rand01(w);
    }
}

/* Corrupts a good reply: cut in half, or (every other time) a proxy's HTML. */
static void malform(struct sim_world *w, struct sim_reply *r)
{
    if (!r->body)
        return;
    if (sim_rand(w) & 1) {
        r->len /= 2;
        r->body[r->len] = 0;
    } else {
        free(r->body);
        r->body = strdup("<html><body>502 Bad Gateway</body></html>");
        r->len = r->body ? strlen(r->body) : 0;
    }
}

static void management(struct arm *a)
{
    struct sim_world *w = a->w;
    split(a);
    if (a->q->too_big)
        return sim_arm_error(w, a->r, 413, "RequestEntityTooLarge",
                             "The request body is larger than cloudsim accepts (%zu bytes).",
                             a->q->max_body);
    if (sim_arm_check_bearer(w, a->q, a->now, a->r) != 0)
        return;
    char subl[64];
    const char *raw = a->nseg > 1 ? a->seg[1] : "";
    if (strlen(raw) != 36 || strspn(raw, "0123456789abcdefABCDEF-") != 36)
        return sim_arm_error(w, a->r, 400, "InvalidSubscriptionId",
                             "The provided subscription identifier '%.64s' is malformed or "
                             "invalid.",
                             raw);
    snprintf(subl, sizeof subl, "%s", raw);
    lower(subl);
    a->sub = subl;
    a->group = a->nseg > 3 ? a->seg[3] : "";
    snprintf(a->account, sizeof a->account, "%s/%s", subl, a->group);
    lower(a->account);
    a->api = qparam(a, "api-version");
    if (!a->api)
        return sim_arm_error(w, a->r, 400, "MissingApiVersionParameter",
                             "The api-version query parameter (?api-version=) is required for "
                             "all requests.");
    if (!valid_api(a->api, api_min(a)))
        return sim_arm_error(w, a->r, 400, "NoRegisteredProviderFound",
                             "No registered resource provider found for API version '%.32s'. "
                             "cloudsim accepts versions from %s on.",
                             a->api, api_min(a));
    if (sim_world_fault(w, SIM_FAULT_THROTTLE) ||
        !sim_world_take_token(w, NULL, family_of(a), a->now)) {
        sim_arm_error(w, a->r, 429, "TooManyRequests",
                      "The request is being throttled as the limit has been reached for operation "
                      "type - %s. For more information, see - https://aka.ms/throttling",
                      a->q->method);
        sim_arm_header(a->r, "Retry-After", "1");
        return;
    }
    if (sim_world_fault(w, SIM_FAULT_TIMEOUT)) {
        a->r->close = true;
        a->r->hold_ms = w->conf.timeout_hold_ms;
        return;
    }
    if (sim_world_fault(w, SIM_FAULT_INTERNAL))
        return sim_arm_error(w, a->r, 500, "InternalServerError",
                             "An internal server error occurred (injected by cloudsim).");
    if (sim_world_fault(w, SIM_FAULT_UNAVAILABLE))
        return sim_arm_error(w, a->r, 503, "ServiceUnavailable",
                             "The service is unavailable now (injected by cloudsim).");
    route(a);
    if (a->r->status >= 200 && a->r->status < 300 && a->r->body &&
        sim_world_fault(w, SIM_FAULT_MALFORMED))
        malform(w, a->r);
}

void sim_arm_handle(struct sim_world *w, struct sim_query *q, double now, struct sim_reply *r)
{
    memset(r, 0, sizeof *r);
    w->requests++;
    sim_world_advance(w, now);
    if (sweep(w))
        r->changed = true;
    latency(w, r);
    if (!strncmp(q->path, "/_blob/", 7))
        return blob(w, q, now, r);
    if (strncmp(q->path, "/subscriptions/", 15))
        return sim_arm_identity(w, q, now, r);
    struct arm a = {.w = w, .q = q, .r = r, .now = now};
    sim_arm_base(q, a.base);
    bool changed = r->changed;
    management(&a);
    r->changed = r->changed || changed;
}
