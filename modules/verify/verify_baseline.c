/*
 * Calibration baselines: what a healthy node measured, per GPU model and rate check, written
 * by `gpuform verify --calibrate` and read back by `--baseline FILE` as the expected values
 * in place of the datasheet's. The format (docs/verify.md, "Calibration") is JSON through
 * jansson; a file that is not one, is damaged, or comes from a newer gpuform is refused.
 */
#include "modules/verify/verify.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/gpu_models.h"

#define MAX_MODELS 32

/* The checks a baseline holds: the rates. Correctness checks have no expected value. */
static const enum verify_check calibrated[] = {
    VERIFY_CHECK_MEM_BANDWIDTH,  VERIFY_CHECK_COMPUTE,        VERIFY_CHECK_GEMM,
    VERIFY_CHECK_HOST_BANDWIDTH, VERIFY_CHECK_PEER_BANDWIDTH,
};
#define NCALIBRATED (sizeof(calibrated) / sizeof(calibrated[0]))

struct bl_model {
    char key[256];
    double median[VERIFY_NCHECKS];
    bool has[VERIFY_NCHECKS];
};

struct verify_baseline {
    char path[512];
    char backend[16];
    enum verify_level level;
    char host[128], date[64];
    size_t nmodels;
    struct bl_model models[MAX_MODELS];
};

static const char *level_name(enum verify_level l)
{
    return l == VERIFY_FULL ? "full" : "quick";
}

const char *verify_baseline_key(const struct verify_device *d)
{
    if (d->model)
        return d->model->name;
    return d->cc_major == 0 ? "cpu-reference" : d->name;
}

/* ---- recording ---- */

/* Samples of one (key, check): every run's and device's measurement. */
struct series {
    char key[256];
    int gpus; /* devices with this key in the first run */
    double *v[VERIFY_NCHECKS];
    size_t n[VERIFY_NCHECKS];
    const char *unit[VERIFY_NCHECKS];
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static struct series *series_for(struct series *s, size_t *ns, const char *key)
{
    for (size_t i = 0; i < *ns; i++)
        if (!strcmp(s[i].key, key))
            return &s[i];
    if (*ns == MAX_MODELS)
        return NULL;
    struct series *x = &s[(*ns)++];
    memset(x, 0, sizeof(*x));
    snprintf(x->key, sizeof(x->key), "%s", key);
    return x;
}

static bool is_calibrated(enum verify_check c)
{
    for (size_t i = 0; i < NCALIBRATED; i++)
        if (calibrated[i] == c)
            return true;
    return false;
}

static const struct verify_device *device_of(const struct verify_report *r, int gpu)
{
    for (size_t i = 0; i < r->ndevices; i++)
        if (r->devices[i].index == gpu)
            return &r->devices[i];
    return r->ndevices ? &r->devices[0] : NULL; /* node-level: filed under gpu0's key */
}

/* A run a baseline cannot come from: another backend or level, or a failed check. */
static int usable_run(const struct verify_report *runs, size_t k, size_t nruns, char *err, size_t n)
{
    const struct verify_report *r = &runs[k];
    if (strcmp(r->backend, runs[0].backend) || r->level != runs[0].level || !r->ndevices) {
        snprintf(err, n, "run %zu of %zu differs from the first in backend, level or devices",
                 k + 1, nruns);
        return -1;
    }
    for (size_t i = 0; i < r->nresults; i++) {
        const struct verify_result *x = &r->results[i];
        if (x->status != VERIFY_FAIL)
            continue;
        char where[16] = "node";
        if (x->gpu >= 0)
            snprintf(where, sizeof(where), "gpu%d", x->gpu);
        snprintf(err, n,
                 "run %zu of %zu failed '%s' on %s (%.200s): a baseline records a healthy node; "
                 "repair this one or calibrate on another",
                 k + 1, nruns, verify_check_name(x->check), where, x->message);
        return -1;
    }
    return 0;
}

static int collect(const struct verify_report *runs, size_t nruns, struct series *s, size_t *ns,
                   char *err, size_t n)
{
    for (size_t k = 0; k < nruns; k++) {
        if (usable_run(runs, k, nruns, err, n) != 0)
            return -1;
        for (size_t i = 0; i < runs[k].nresults; i++) {
            const struct verify_result *x = &runs[k].results[i];
            if (!is_calibrated(x->check) || x->status == VERIFY_SKIP || !(x->measured > 0) ||
                !isfinite(x->measured))
                continue;
            const struct verify_device *d = device_of(&runs[k], x->gpu);
            struct series *sr = series_for(s, ns, verify_baseline_key(d));
            if (!sr) {
                snprintf(err, n, "more than %d GPU models on one node", MAX_MODELS);
                return -1;
            }
            double *p = realloc(sr->v[x->check], (sr->n[x->check] + 1) * sizeof(double));
            if (!p) {
                snprintf(err, n, "out of memory");
                return -1;
            }
            sr->v[x->check] = p;
            p[sr->n[x->check]++] = x->measured;
            sr->unit[x->check] = x->unit;
        }
    }
    for (size_t i = 0; i < runs[0].ndevices; i++) {
        struct series *sr = series_for(s, ns, verify_baseline_key(&runs[0].devices[i]));
        if (sr)
            sr->gpus++;
    }
    return 0;
}

static json_t *series_json(struct series *sr)
{
    json_t *checks = json_object();
    for (size_t i = 0; i < NCALIBRATED; i++) {
        enum verify_check c = calibrated[i];
        size_t cnt = sr->n[c];
        if (!cnt)
            continue;
        double med = median_of(sr->v[c], cnt); /* sorts: [0] is the worst, [cnt-1] the best */
        json_object_set_new(checks, verify_check_name(c),
                            json_pack("{s:s, s:f, s:f, s:f, s:I}", "unit", sr->unit[c], "median",
                                      med, "best", sr->v[c][cnt - 1], "worst", sr->v[c][0],
                                      "samples", (json_int_t)cnt));
    }
    return json_pack("{s:i, s:o}", "gpus", sr->gpus, "checks", checks);
}

char *verify_baseline_record(const struct verify_report *runs, size_t nruns,
                             const struct verify_baseline_meta *meta, char *err, size_t n)
{
    if (nruns == 0) {
        snprintf(err, n, "no run to record");
        return NULL;
    }
    struct series s[MAX_MODELS];
    size_t ns = 0;
    char *text = NULL;
    if (collect(runs, nruns, s, &ns, err, n) != 0)
        goto out;
    json_t *models = json_object();
    size_t rates = 0;
    for (size_t i = 0; i < ns; i++) {
        for (size_t c = 0; c < VERIFY_NCHECKS; c++)
            rates += s[i].n[c];
        json_object_set_new(models, s[i].key, series_json(&s[i]));
    }
    if (!rates) {
        json_decref(models);
        snprintf(err, n, "no check measured a rate: nothing to record");
        goto out;
    }
    json_t *root =
        json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:i, s:o}", "format", VERIFY_BASELINE_FORMAT,
                  "version", VERIFY_BASELINE_VERSION, "gpuform_version", meta->gpuform_version,
                  "host", meta->host, "date", meta->date, "backend", runs[0].backend, "level",
                  level_name(runs[0].level), "runs", (int)nruns, "models", models);
    if (root)
        text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(root);
    if (!text)
        snprintf(err, n, "out of memory");
out:
    for (size_t i = 0; i < ns; i++)
        for (size_t c = 0; c < VERIFY_NCHECKS; c++)
            free(s[i].v[c]);
    return text;
}

/* ---- loading ---- */

#define REDO "record it again with 'gpuform verify --calibrate --out FILE'"

static int bad_field(const char *label, const char *field, const char *want, char *err, size_t n)
{
    snprintf(err, n, "baseline '%s': %s must be %s; the file was edited or damaged: " REDO, label,
             field, want);
    return -1;
}

static int parse_model(struct verify_baseline *b, const char *key, json_t *m, char *err, size_t n)
{
    char field[400];
    struct bl_model *bm = &b->models[b->nmodels];
    memset(bm, 0, sizeof(*bm));
    json_t *checks = json_object_get(m, "checks");
    snprintf(field, sizeof(field), "models.\"%.200s\".checks", key);
    if (strlen(key) >= sizeof(bm->key) || !json_is_object(checks))
        return bad_field(b->path, field, "an object of checks", err, n);
    snprintf(bm->key, sizeof(bm->key), "%s", key);
    const char *name;
    json_t *v;
    json_object_foreach(checks, name, v)
    {
        enum verify_check c = VERIFY_NCHECKS;
        for (size_t i = 0; i < NCALIBRATED; i++)
            if (!strcmp(verify_check_name(calibrated[i]), name))
                c = calibrated[i];
        snprintf(field, sizeof(field), "models.\"%.200s\".checks.\"%.64s\"", key, name);
        if (c == VERIFY_NCHECKS)
            return bad_field(b->path, field,
                             "one of memory_bandwidth, compute_fma, gemm, host_bandwidth, "
                             "peer_bandwidth",
                             err, n);
        json_t *med = json_object_get(v, "median");
        double x = json_is_number(med) ? json_number_value(med) : 0;
        if (!(x > 0) || !isfinite(x)) {
            snprintf(field + strlen(field), sizeof(field) - strlen(field), ".median");
            return bad_field(b->path, field, "a positive number", err, n);
        }
        bm->median[c] = x;
        bm->has[c] = true;
    }
    b->nmodels++;
    return 0;
}

static const char *str_field(json_t *root, const char *name)
{
    const char *s = json_string_value(json_object_get(root, name));
    return s ? s : "";
}

static int parse_root(struct verify_baseline *b, json_t *root, char *err, size_t n)
{
    if (!json_is_object(root) || strcmp(str_field(root, "format"), VERIFY_BASELINE_FORMAT)) {
        snprintf(err, n,
                 "'%s' is not a gpuform verify baseline (no \"format\": \"%s\"); record one with "
                 "'gpuform verify --calibrate --out FILE'",
                 b->path, VERIFY_BASELINE_FORMAT);
        return -1;
    }
    json_t *ver = json_object_get(root, "version");
    if (!json_is_integer(ver) || json_integer_value(ver) < 1)
        return bad_field(b->path, "version", "a format version (1)", err, n);
    if (json_integer_value(ver) > VERIFY_BASELINE_VERSION) {
        snprintf(err, n,
                 "baseline '%s' has format version %lld, from a newer gpuform; this one reads "
                 "version %d: upgrade gpuform, or record a baseline with this one ('gpuform verify "
                 "--calibrate --out FILE')",
                 b->path, (long long)json_integer_value(ver), VERIFY_BASELINE_VERSION);
        return -1;
    }
    const char *backend = str_field(root, "backend"), *level = str_field(root, "level");
    if (!verify_backend_find(backend))
        return bad_field(b->path, "backend", "\"cuda\" or \"cpu\"", err, n);
    if (strcmp(level, "quick") && strcmp(level, "full"))
        return bad_field(b->path, "level", "\"quick\" or \"full\"", err, n);
    json_t *runs = json_object_get(root, "runs");
    if (!json_is_integer(runs) || json_integer_value(runs) < 1)
        return bad_field(b->path, "runs", "a count of at least 1", err, n);
    snprintf(b->backend, sizeof(b->backend), "%s", backend);
    b->level = strcmp(level, "full") ? VERIFY_QUICK : VERIFY_FULL;
    snprintf(b->host, sizeof(b->host), "%s", str_field(root, "host"));
    snprintf(b->date, sizeof(b->date), "%s", str_field(root, "date"));
    json_t *models = json_object_get(root, "models");
    if (!json_is_object(models) || json_object_size(models) == 0 ||
        json_object_size(models) > MAX_MODELS)
        return bad_field(b->path, "models", "an object of 1 to 32 GPU models", err, n);
    const char *key;
    json_t *m;
    json_object_foreach(models, key, m)
    {
        if (parse_model(b, key, m, err, n) != 0)
            return -1;
    }
    return 0;
}

int verify_baseline_parse(const char *text, const char *label, struct verify_baseline **out,
                          char *err, size_t n)
{
    *out = NULL;
    struct verify_baseline *b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(err, n, "out of memory");
        return -1;
    }
    snprintf(b->path, sizeof(b->path), "%s", label);
    json_error_t je;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, n,
                 "baseline '%s' is not valid JSON (line %d, column %d: %s): the file is corrupt "
                 "or truncated; " REDO,
                 label, je.line, je.column, je.text);
        free(b);
        return -1;
    }
    int rc = parse_root(b, root, err, n);
    json_decref(root);
    if (rc != 0) {
        free(b);
        return -1;
    }
    *out = b;
    return 0;
}

int verify_baseline_load(const char *path, struct verify_baseline **out, char *err, size_t n)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0) {
        snprintf(err, n,
                 "cannot read baseline '%s': %s (record one with 'gpuform verify "
                 "--calibrate --out FILE')",
                 path, strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > (off_t)VERIFY_BASELINE_MAX) {
        snprintf(err, n, "baseline '%s' is not a regular file of at most %u bytes", path,
                 VERIFY_BASELINE_MAX);
        fclose(f);
        return -1;
    }
    char *text = malloc((size_t)st.st_size + 1);
    size_t got = text ? fread(text, 1, (size_t)st.st_size, f) : 0;
    int rd = ferror(f);
    fclose(f);
    if (!text || rd) {
        snprintf(err, n, "cannot read baseline '%s': %s", path,
                 text ? "read error" : "out of memory");
        free(text);
        return -1;
    }
    text[got] = 0;
    int rc = verify_baseline_parse(text, path, out, err, n);
    free(text);
    return rc;
}

void verify_baseline_free(struct verify_baseline *b)
{
    free(b);
}

const char *verify_baseline_path(const struct verify_baseline *b)
{
    return b->path;
}

static const struct bl_model *model_of(const struct verify_baseline *b, const char *key)
{
    for (size_t i = 0; i < b->nmodels; i++)
        if (!strcmp(b->models[i].key, key))
            return &b->models[i];
    return NULL;
}

bool verify_baseline_expected(const struct verify_baseline *b, const char *key, enum verify_check c,
                              double *value)
{
    const struct bl_model *m = model_of(b, key);
    if (!m || (unsigned)c >= VERIFY_NCHECKS || !m->has[c])
        return false;
    *value = m->median[c];
    return true;
}

int verify_baseline_fits(const struct verify_baseline *b, const char *backend,
                         enum verify_level level, const struct verify_device *devices,
                         size_t ndevices, char *err, size_t n)
{
    if (strcmp(b->backend, backend)) {
        snprintf(err, n,
                 "baseline '%s' was recorded on the %s backend and this run is on %s: record one "
                 "here with 'gpuform verify --calibrate --backend %s --out FILE'",
                 b->path, b->backend, backend, backend);
        return -1;
    }
    if (b->level != level) {
        snprintf(err, n,
                 "baseline '%s' was recorded at level %s and this run is %s: run with --level %s, "
                 "or record one with 'gpuform verify --calibrate --level %s --out FILE'",
                 b->path, level_name(b->level), level_name(level), level_name(b->level),
                 level_name(level));
        return -1;
    }
    for (size_t i = 0; i < ndevices; i++) {
        const char *key = verify_baseline_key(&devices[i]);
        if (model_of(b, key))
            continue;
        char held[200] = "";
        size_t len = 0;
        for (size_t k = 0; k < b->nmodels && len < sizeof(held); k++)
            len += (size_t)snprintf(held + len, sizeof(held) - len, "%s'%s'", k ? ", " : "",
                                    b->models[k].key);
        snprintf(err, n,
                 "baseline '%s' has no figures for '%s' (gpu%d): it holds %s, recorded on '%s' "
                 "at %s; calibrate this model on a healthy node ('gpuform verify --calibrate "
                 "--out FILE') or verify against the datasheet (no --baseline)",
                 b->path, key, devices[i].index, held, b->host, b->date);
        return -1;
    }
    return 0;
}
