/*
 * ARM JSON through jansson: the reply shapes gpuform reads (errors, operation status, VMs,
 * instance views, list pages) and the request bodies it writes (a VM, its NIC). Replies
 * are untrusted: every field is type-checked and copied with a bound.
 */
#include "modules/azure/arm_json.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static const json_t *path(const json_t *o, const char *a, const char *b)
{
    const json_t *x = json_object_get(o, a);
    return b ? json_object_get(x, b) : x;
}

static json_t *load(const char *body, size_t len)
{
    return body && len ? json_loadb(body, len, 0, NULL) : NULL;
}

/* ---- errors and operations ---- */

static bool wrapper_code(const char *code)
{
    static const char *const wrappers[] = {"DeploymentFailed", "MultipleErrorsOccurred",
                                           "ResourceDeploymentFailure", "Conflict"};
    for (size_t i = 0; i < sizeof wrappers / sizeof *wrappers; i++)
        if (!strcmp(code, wrappers[i]))
            return true;
    return false;
}

/* The code and message of an error object, descending into details for a wrapper. */
static int error_of(const json_t *e, char *code, size_t codelen, char *msg, size_t msglen)
{
    const char *c = str(e, "code");
    if (!c || !*c)
        return -1;
    const json_t *details = json_object_get(e, "details");
    const json_t *first = json_array_get(details, 0);
    if (wrapper_code(c) && str(first, "code"))
        return error_of(first, code, codelen, msg, msglen);
    snprintf(code, codelen, "%s", c);
    snprintf(msg, msglen, "%s", str(e, "message") ? str(e, "message") : "");
    return 0;
}

int arm_parse_error(const char *body, size_t len, char *code, size_t codelen, char *msg,
                    size_t msglen)
{
    json_t *j = load(body, len);
    const json_t *e = json_object_get(j, "error");
    int rc = error_of(json_is_object(e) ? e : j, code, codelen, msg, msglen);
    json_decref(j);
    return rc;
}

int arm_parse_operation(const char *body, size_t len, enum arm_op_status *st, char *code,
                        size_t codelen, char *msg, size_t msglen, char *why, size_t whylen)
{
    json_t *j = load(body, len);
    const char *s = str(j, "status");
    code[0] = msg[0] = '\0';
    if (!s) {
        snprintf(why, whylen, "%s", j ? "the operation status has no 'status'" : "not JSON");
        json_decref(j);
        return -1;
    }
    *st = !strcasecmp(s, "Succeeded")                                 ? ARM_OP_SUCCEEDED
          : !strcasecmp(s, "Failed")                                  ? ARM_OP_FAILED
          : !strcasecmp(s, "Canceled") || !strcasecmp(s, "Cancelled") ? ARM_OP_CANCELED
                                                                      : ARM_OP_IN_PROGRESS;
    if (*st == ARM_OP_FAILED || *st == ARM_OP_CANCELED) {
        const json_t *e = json_object_get(j, "error");
        if (error_of(e, code, codelen, msg, msglen) != 0)
            code[0] = msg[0] = '\0';
    }
    json_decref(j);
    return 0;
}

/* ---- VMs ---- */

/* "ProvisioningState/failed/AllocationFailed" -> "failed"; "Succeeded" -> "succeeded". */
static void state_word(const char *s, const char *prefix, char *out, size_t n)
{
    size_t pl = strlen(prefix);
    if (!strncasecmp(s, prefix, pl))
        s += pl;
    size_t len = strcspn(s, "/");
    if (len >= n)
        len = n - 1;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[len] = '\0';
}

enum prov_state arm_vm_state(const char *provisioning, const char *power)
{
    char prov[32] = "", pow[32] = "";
    if (provisioning)
        state_word(provisioning, "ProvisioningState/", prov, sizeof prov);
    if (power)
        state_word(power, "PowerState/", pow, sizeof pow);
    if (!strcmp(prov, "deleting"))
        return PROV_SHUTTING_DOWN;
    bool failed = !strcmp(prov, "failed") || !strcmp(prov, "canceled");
    if (*pow) {
        static const struct {
            const char *name;
            enum prov_state st;
        } powers[] = {{"starting", PROV_PENDING},      {"running", PROV_RUNNING},
                      {"stopping", PROV_STOPPING},     {"stopped", PROV_STOPPED},
                      {"deallocating", PROV_STOPPING}, {"deallocated", PROV_STOPPED}};
        for (size_t i = 0; i < sizeof powers / sizeof *powers; i++)
            if (!strcmp(pow, powers[i].name)) {
                /* a create that failed leaves a VM that never ran: it is not an instance */
                if (failed && powers[i].st != PROV_RUNNING && powers[i].st != PROV_PENDING)
                    return PROV_TERMINATED;
                return powers[i].st;
            }
    }
    if (!strcmp(prov, "creating"))
        return PROV_PENDING;
    if (!strcmp(prov, "succeeded") || !strcmp(prov, "updating") || !strcmp(prov, "migrating"))
        return PROV_RUNNING;
    if (failed)
        return PROV_TERMINATED;
    return PROV_STATE_UNKNOWN;
}

/* "2024-03-01T12:34:56.1234567+00:00" (or Z) -> Unix seconds; 0 when not a time. */
static int64_t iso_time(const char *s)
{
    struct tm tm = {0};
    const char *p = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!p)
        return 0;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++)
            ;
    int64_t off = 0;
    if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1])) {
        int h = 0, m = 0;
        if (sscanf(p + 1, "%2d:%2d", &h, &m) < 1)
            return 0;
        off = (int64_t)(h * 3600 + m * 60) * (*p == '-' ? -1 : 1);
    } else if (*p != 'Z' && *p != '\0') {
        return 0;
    }
    return (int64_t)timegm(&tm) - off;
}

/* The instance view's provisioning and power status codes, and a reason worth keeping. */
static void read_statuses(const json_t *statuses, const char **prov, const char **power,
                          char *reason, size_t reasonlen)
{
    size_t i;
    const json_t *s;
    json_array_foreach(statuses, i, s)
    {
        const char *code = str(s, "code");
        if (!code)
            continue;
        if (!strncasecmp(code, "ProvisioningState/", 18)) {
            *prov = code;
            if (!strncasecmp(code + 18, "failed", 6) && reasonlen)
                snprintf(reason, reasonlen, "%s%s%s", code, str(s, "message") ? ": " : "",
                         str(s, "message") ? str(s, "message") : "");
        } else if (!strncasecmp(code, "PowerState/", 11)) {
            *power = code;
        }
    }
}

static void tag(const json_t *tags, const char *key, char *out, size_t n)
{
    const char *v = str(tags, key);
    snprintf(out, n, "%s", v ? v : "");
}

int arm_vm_from_json(const json_t *vm, struct prov_instance *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    const char *name = str(vm, "name"), *location = str(vm, "location");
    const json_t *props = json_object_get(vm, "properties");
    const char *size = json_string_value(path(props, "hardwareProfile", "vmSize"));
    if (!json_is_object(vm) || !name || !location || !json_is_object(props)) {
        snprintf(why, whylen, "not a virtual machine (no name, location or properties)");
        return -1;
    }
    if (strlen(name) >= sizeof out->id) {
        snprintf(why, whylen, "a VM name of %zu characters (Azure allows 64)", strlen(name));
        return -1;
    }
    snprintf(out->id, sizeof out->id, "%s", name);
    snprintf(out->region, sizeof out->region, "%s", location);
    snprintf(out->instance_type, sizeof out->instance_type, "%s", size ? size : "");
    const json_t *tags = json_object_get(vm, "tags");
    tag(tags, ARM_TAG_STACK, out->stack, sizeof out->stack);
    tag(tags, ARM_TAG_ADDRESS, out->address, sizeof out->address);
    tag(tags, ARM_TAG_TOKEN, out->token, sizeof out->token);
    const char *zone = json_string_value(json_array_get(json_object_get(vm, "zones"), 0));
    if (zone)
        snprintf(out->zone, sizeof out->zone, "%.40s-%.20s", location, zone);
    const char *priority = str(props, "priority");
    out->spot = priority && !strcasecmp(priority, "Spot");
    out->launch_time = iso_time(str(props, "timeCreated"));
    const char *prov = str(props, "provisioningState"), *power = NULL;
    read_statuses(path(props, "instanceView", "statuses"), &prov, &power, out->state_reason,
                  sizeof out->state_reason);
    out->state = arm_vm_state(prov, power);
    return 0;
}

int arm_parse_vm(const char *body, size_t len, struct prov_instance *out, char *why, size_t whylen)
{
    json_t *j = load(body, len);
    int rc = j ? arm_vm_from_json(j, out, why, whylen) : -1;
    if (!j)
        snprintf(why, whylen, "not JSON");
    json_decref(j);
    return rc;
}

int arm_parse_instance_view(const char *body, size_t len, struct prov_instance *out, char *why,
                            size_t whylen)
{
    json_t *j = load(body, len);
    const json_t *statuses = json_object_get(j, "statuses");
    if (!json_is_array(statuses)) {
        snprintf(why, whylen, "%s", j ? "the instance view has no statuses" : "not JSON");
        json_decref(j);
        return -1;
    }
    const char *prov = NULL, *power = NULL;
    read_statuses(statuses, &prov, &power, out->state_reason, sizeof out->state_reason);
    out->state = arm_vm_state(prov, power);
    json_decref(j);
    return 0;
}

/* ---- list pages ---- */

int arm_parse_page(const char *body, size_t len, json_t **doc, json_t **items, char *next,
                   size_t nextlen, char *why, size_t whylen)
{
    *doc = load(body, len);
    *items = json_object_get(*doc, "value");
    if (!json_is_array(*items)) {
        snprintf(why, whylen, "%s", *doc ? "a list reply without 'value'" : "not JSON");
        json_decref(*doc);
        *doc = NULL;
        return -1;
    }
    const char *link = str(*doc, "nextLink");
    next[0] = '\0';
    if (link && *link && (size_t)snprintf(next, nextlen, "%s", link) >= nextlen) {
        snprintf(why, whylen, "a nextLink of %zu characters", strlen(link));
        json_decref(*doc);
        *doc = NULL;
        return -1;
    }
    return 0;
}

bool arm_same_location(const char *a, const char *b)
{
    while (*a || *b) {
        while (*a == ' ')
            a++;
        while (*b == ' ')
            b++;
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return false;
        if (*a)
            a++;
        if (*b)
            b++;
    }
    return true;
}

int arm_parse_vm_page(const char *body, size_t len, const char *location, const char *stack,
                      struct prov_instance_list *out, char *next, size_t nextlen, char *why,
                      size_t whylen)
{
    json_t *doc, *items;
    if (arm_parse_page(body, len, &doc, &items, next, nextlen, why, whylen) != 0)
        return -1;
    size_t i;
    json_t *vm;
    int rc = 0;
    json_array_foreach(items, i, vm)
    {
        struct prov_instance in;
        if (arm_vm_from_json(vm, &in, why, whylen) != 0) {
            rc = -1;
            break;
        }
        if ((location && !arm_same_location(in.region, location)) ||
            (stack && strcmp(in.stack, stack)) || in.state == PROV_TERMINATED)
            continue;
        if (prov_instance_list_add(out, &in) != 0) {
            snprintf(why, whylen, "out of memory");
            rc = -1;
            break;
        }
    }
    json_decref(doc);
    return rc;
}

int arm_parse_resource_page(const char *body, size_t len, const char *location, char *name,
                            size_t namelen, char *next, size_t nextlen, char *why, size_t whylen)
{
    json_t *doc, *items;
    if (arm_parse_page(body, len, &doc, &items, next, nextlen, why, whylen) != 0)
        return -1;
    name[0] = '\0';
    size_t i;
    json_t *r;
    json_array_foreach(items, i, r)
    {
        const char *type = str(r, "type"), *loc = str(r, "location"), *n = str(r, "name");
        if (type && n && loc && !strcasecmp(type, "Microsoft.Compute/virtualMachines") &&
            (!location || arm_same_location(loc, location))) {
            snprintf(name, namelen, "%s", n);
            break;
        }
    }
    json_decref(doc);
    return 0;
}

/* ---- request bodies ---- */

static char *dump(json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    return s;
}

void arm_tag_name(const char *label, char *out, size_t len)
{
    snprintf(out, len, "%s", label);
    for (char *p = out; *p; p++)
        if (*p == '/')
            *p = ':';
}

static json_t *tags_of(const char *stack, const char *address, const char *token)
{
    return json_pack("{s:s, s:s, s:s}", ARM_TAG_STACK, stack, ARM_TAG_ADDRESS, address,
                     ARM_TAG_TOKEN, token);
}

/* "publisher:offer:sku:version" or "/subscriptions/.../images/x" -> imageReference. */
static json_t *image_ref(const char *image)
{
    if (image[0] == '/')
        return json_pack("{s:s}", "id", image);
    char part[4][128];
    const char *p = image;
    for (int i = 0; i < 4; i++) {
        size_t n = strcspn(p, ":");
        if (n == 0 || n >= sizeof part[i] || (i < 3 && p[n] != ':') || (i == 3 && p[n]))
            return NULL;
        snprintf(part[i], sizeof part[i], "%.*s", (int)n, p);
        p += n + (i < 3);
    }
    return json_pack("{s:s, s:s, s:s, s:s}", "publisher", part[0], "offer", part[1], "sku", part[2],
                     "version", part[3]);
}

int arm_vm_body(const struct arm_vm_spec *s, char **out, char *why, size_t whylen)
{
    *out = NULL;
    json_t *img = image_ref(s->image);
    if (!img) {
        snprintf(why, whylen,
                 "image '%s' is neither PUBLISHER:OFFER:SKU:VERSION nor a resource id "
                 "(/subscriptions/...)",
                 s->image);
        return -1;
    }
    char keypath[160];
    snprintf(keypath, sizeof keypath, "/home/%s/.ssh/authorized_keys", s->admin_username);
    json_t *os = json_pack("{s:s, s:s, s:{s:b, s:{s:[{s:s, s:s}]}}}", "computerName", s->name,
                           "adminUsername", s->admin_username, "linuxConfiguration",
                           "disablePasswordAuthentication", 1, "ssh", "publicKeys", "path", keypath,
                           "keyData", s->ssh_public_key);
    if (os && s->custom_data && *s->custom_data)
        json_object_set_new(os, "customData", json_string(s->custom_data));
    json_t *props =
        json_pack("{s:{s:s}, s:{s:o, s:{s:s, s:s, s:{s:s}}}, s:o, s:{s:[{s:s, s:{s:b, s:s}}]}, "
                  "s:{s:{s:b}}}",
                  "hardwareProfile", "vmSize", s->vm_size, "storageProfile", "imageReference", img,
                  "osDisk", "createOption", "FromImage", "deleteOption", "Delete", "managedDisk",
                  "storageAccountType", "Premium_LRS", "osProfile", os, "networkProfile",
                  "networkInterfaces", "id", s->nic_id, "properties", "primary", 1, "deleteOption",
                  "Delete", "diagnosticsProfile", "bootDiagnostics", "enabled", 1);
    if (props && s->spot) {
        json_object_set_new(props, "priority", json_string("Spot"));
        json_object_set_new(props, "evictionPolicy", json_string("Delete"));
        json_object_set_new(props, "billingProfile", json_pack("{s:i}", "maxPrice", -1));
    }
    json_t *tags = tags_of(s->stack, s->address, s->token);
    for (size_t i = 0; tags && i < s->nlabels; i++) {
        char name[520];
        arm_tag_name(s->labels[i].key, name, sizeof name);
        if (!json_object_get(tags, name)) /* gpuform's own tags stay */
            json_object_set_new(tags, name, json_string(s->labels[i].value));
    }
    json_t *vm = props ? json_pack("{s:s, s:o, s:o}", "location", s->location, "tags", tags,
                                   "properties", props)
                       : (json_decref(tags), NULL);
    if (vm && s->zone && *s->zone)
        json_object_set_new(vm, "zones", json_pack("[s]", s->zone));
    *out = dump(vm);
    return *out ? 0 : -2;
}

char *arm_nic_body(const char *location, const char *subnet_id, const char *stack,
                   const char *address, const char *token)
{
    return dump(json_pack("{s:s, s:o, s:{s:[{s:s, s:{s:{s:s}, s:s}}]}}", "location", location,
                          "tags", tags_of(stack, address, token), "properties", "ipConfigurations",
                          "name", "ipconfig1", "properties", "subnet", "id", subnet_id,
                          "privateIPAllocationMethod", "Dynamic"));
}
