/*
 * The verify report: results per GPU and check, shaped like DCGM's diag JSON (status,
 * measured, expected, threshold, message), and the human table. docs/verify.md documents
 * the JSON.
 */
#include "modules/verify/verify.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/gpu_models.h"
#include "modules/verify/verify_int.h"

void verify_report_init(struct verify_report *r)
{
    memset(r, 0, sizeof(*r));
}

void verify_report_release(struct verify_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nresults; i++)
        json_decref((json_t *)r->results[i].details);
    free(r->results);
    r->results = NULL;
    r->nresults = r->cap = 0;
}

struct verify_result *verify_report_add(struct verify_report *r, int gpu, enum verify_check c,
                                        enum verify_status s, void *details, const char *fmt, ...)
{
    if (r->nresults == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct verify_result *p = realloc(r->results, cap * sizeof(*p));
        if (!p) {
            json_decref((json_t *)details);
            return NULL;
        }
        r->results = p;
        r->cap = cap;
    }
    struct verify_result *res = &r->results[r->nresults++];
    memset(res, 0, sizeof(*res));
    res->gpu = gpu;
    res->check = c;
    res->status = s;
    res->unit = "";
    res->details = details;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof(res->message), fmt, ap);
    va_end(ap);
    return res;
}

void verify_report_take(struct verify_report *dst, struct verify_report *src)
{
    size_t need = dst->nresults + src->nresults;
    if (need > dst->cap) {
        struct verify_result *p = realloc(dst->results, need * sizeof(*p));
        if (p) {
            dst->results = p;
            dst->cap = need;
        }
    }
    for (size_t i = 0; i < src->nresults; i++) {
        if (dst->nresults < dst->cap)
            dst->results[dst->nresults++] = src->results[i];
        else
            json_decref((json_t *)src->results[i].details);
    }
    src->nresults = 0;
}

const struct verify_result *verify_report_find(const struct verify_report *r, int gpu,
                                               enum verify_check c)
{
    for (size_t i = 0; i < r->nresults; i++)
        if (r->results[i].gpu == gpu && r->results[i].check == c)
            return &r->results[i];
    return NULL;
}

bool verify_report_failed(const struct verify_report *r)
{
    for (size_t i = 0; i < r->nresults; i++)
        if (r->results[i].status == VERIFY_FAIL)
            return true;
    return false;
}

/* "baseline FILE" for a baseline's figure, else the source's name; NULL when none. */
static json_t *source_json(const struct verify_report *r, const struct verify_result *res)
{
    if (res->source == VERIFY_SOURCE_NONE)
        return json_null();
    if (res->source != VERIFY_SOURCE_BASELINE)
        return json_string(verify_source_name(res->source));
    char s[sizeof(r->baseline) + 16];
    snprintf(s, sizeof(s), "baseline %s", r->baseline);
    return json_string(s);
}

static json_t *result_json(const struct verify_report *r, const struct verify_result *res)
{
    json_t *o = json_object();
    json_object_set_new(o, "check", json_string(verify_check_name(res->check)));
    json_object_set_new(o, "status", json_string(verify_status_name(res->status)));
    json_object_set_new(o, "measured", json_real(res->measured));
    json_object_set_new(o, "expected", json_real(res->expected));
    json_object_set_new(o, "threshold", json_real(res->threshold));
    json_object_set_new(o, "expected_source", source_json(r, res));
    json_object_set_new(o, "unit", json_string(res->unit));
    json_object_set_new(o, "message", json_string(res->message));
    if (res->details)
        json_object_set(o, "details", (json_t *)res->details);
    return o;
}

static json_t *device_json(const struct verify_report *r, const struct verify_device *d)
{
    char cc[16];
    snprintf(cc, sizeof(cc), "%d.%d", d->cc_major, d->cc_minor);
    json_t *o = json_object();
    json_object_set_new(o, "index", json_integer(d->index));
    json_object_set_new(o, "name", json_string(d->name));
    json_object_set_new(o, "model", d->model ? json_string(d->model->name) : json_null());
    json_object_set_new(o, "memory_bytes", json_integer((json_int_t)d->memory_bytes));
    json_object_set_new(o, "compute_capability", d->cc_major ? json_string(cc) : json_null());
    json_object_set_new(o, "pci_bus_id",
                        d->pci_bus_id[0] ? json_string(d->pci_bus_id) : json_null());
    size_t slot = (size_t)(d - r->devices);
    json_object_set_new(o, "seconds",
                        json_real(slot < VERIFY_MAX_GPUS ? r->device_seconds[slot] : 0));
    json_t *checks = json_array();
    enum verify_status worst = VERIFY_PASS;
    for (size_t i = 0; i < r->nresults; i++) {
        if (r->results[i].gpu != d->index)
            continue;
        json_array_append_new(checks, result_json(r, &r->results[i]));
        if (r->results[i].status == VERIFY_FAIL ||
            (r->results[i].status == VERIFY_WARN && worst != VERIFY_FAIL))
            worst = r->results[i].status;
    }
    json_object_set_new(o, "status", json_string(verify_status_name(worst)));
    json_object_set_new(o, "checks", checks);
    return o;
}

char *verify_report_json(const struct verify_report *r)
{
    json_t *root = json_object();
    json_t *faults = json_array();
    for (unsigned i = 0; i < VERIFY_NFAULTS; i++)
        if (r->faults & (1u << i))
            json_array_append_new(faults, json_string(verify_fault_name(1u << i)));
    json_object_set_new(root, "version", json_integer(1));
    json_object_set_new(root, "backend", json_string(r->backend));
    json_object_set_new(root, "level", json_string(r->level == VERIFY_FULL ? "full" : "quick"));
    json_object_set_new(root, "status", json_string(verify_report_failed(r) ? "fail" : "pass"));
    json_object_set_new(root, "faults_injected", faults);
    json_object_set_new(root, "expected_gpus", json_integer(r->expected_gpus));
    json_object_set_new(root, "found_gpus", json_integer((json_int_t)r->ndevices));
    json_object_set_new(root, "seconds", json_real(r->seconds));
    json_object_set_new(root, "parallel", json_boolean(r->parallel));
    json_object_set_new(root, "peer_seconds", json_real(r->peer_seconds));
    json_object_set_new(root, "baseline", r->baseline[0] ? json_string(r->baseline) : json_null());
    json_object_set_new(root, "note", json_string(r->note));
    json_object_set_new(root, "request", r->request[0] ? json_string(r->request) : json_null());
    json_t *node = json_array();
    for (size_t i = 0; i < r->nresults; i++)
        if (r->results[i].gpu < 0)
            json_array_append_new(node, result_json(r, &r->results[i]));
    json_object_set_new(root, "node", node);
    json_t *gpus = json_array();
    for (size_t i = 0; i < r->ndevices; i++)
        json_array_append_new(gpus, device_json(r, &r->devices[i]));
    json_object_set_new(root, "gpus", gpus);
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(root);
    return s;
}

static void print_result(const struct verify_result *res, FILE *out)
{
    char where[16], num[64] = "";
    if (res->gpu < 0)
        snprintf(where, sizeof(where), "node");
    else
        snprintf(where, sizeof(where), "gpu%d", res->gpu);
    if (res->expected > 0)
        snprintf(num, sizeof(num), "%.4g / %.4g %s%s", res->measured, res->expected, res->unit,
                 res->source == VERIFY_SOURCE_BASELINE ? " (baseline)" : "");
    else if (res->unit[0])
        snprintf(num, sizeof(num), "%.4g %s", res->measured, res->unit);
    fprintf(out, "%-5s %-17s %-5s %-26s %s\n", where, verify_check_name(res->check),
            verify_status_name(res->status), num, res->message);
}

void verify_report_print(const struct verify_report *r, FILE *out)
{
    fprintf(out, "verify: backend %s, level %s, %zu device(s)%s\n", r->backend,
            r->level == VERIFY_FULL ? "full" : "quick", r->ndevices,
            r->faults ? ", faults injected" : "");
    if (r->note[0])
        fprintf(out, "note: %s\n", r->note);
    if (r->baseline[0])
        fprintf(out, "expected rates: baseline %s (the datasheet where it has none)\n",
                r->baseline);
    for (size_t i = 0; i < r->ndevices; i++)
        fprintf(out, "gpu%d: %s (%s, %.0f MiB) checked in %.2f s\n", r->devices[i].index,
                r->devices[i].name,
                r->devices[i].model      ? r->devices[i].model->name
                : r->devices[i].cc_major ? "unknown model"
                                         : "host memory",
                (double)r->devices[i].memory_bytes / (1024.0 * 1024), r->device_seconds[i]);
    fprintf(out, "%-5s %-17s %-5s %-26s %s\n", "WHERE", "CHECK", "STATUS", "MEASURED / EXPECTED",
            "MESSAGE");
    /* node-level results first, then each GPU's */
    for (size_t i = 0; i < r->nresults; i++)
        if (r->results[i].gpu < 0)
            print_result(&r->results[i], out);
    for (size_t i = 0; i < r->nresults; i++)
        if (r->results[i].gpu >= 0)
            print_result(&r->results[i], out);
    size_t counts[4] = {0};
    for (size_t i = 0; i < r->nresults; i++)
        counts[r->results[i].status]++;
    fprintf(out,
            "%s: %zu passed, %zu warned, %zu failed, %zu skipped (%.2f s; devices %s, peers "
            "%.2f s)\n",
            verify_report_failed(r) ? "FAIL" : "PASS", counts[VERIFY_PASS], counts[VERIFY_WARN],
            counts[VERIFY_FAIL], counts[VERIFY_SKIP], r->seconds,
            r->parallel ? "in parallel" : "one after another", r->peer_seconds);
}
