/*
 * SkyPilot vms.csv import. Columns are mapped by header name (each cloud orders them its own
 * way); every GPU row becomes a gpuform offer; GCP accelerators, which SkyPilot prices apart
 * from the VM they attach to, are combined with their host VM the way SkyPilot does; every
 * row left out is counted with its reason, so the summary accounts for the whole input.
 */
#include "planner/catalog_import.h"

#include <fnmatch.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "core/arena.h"
#include "core/cloud.h"
#include "core/gpu_models.h"
#include "planner/csv_int.h"

#define MAX_FIELDS 256       /* columns in a SkyPilot file: 15 in schema v9 */
#define MAX_RECORD (1 << 20) /* bytes of one row's fields */
#define MAX_COUNT  4096      /* GPUs per instance */

/* A capacity for one more element than `n`, or 0 when that would overflow. */
static size_t next_cap(size_t n, size_t cap, size_t size)
{
    if (n < cap)
        return cap;
    size_t c = cap ? cap * 2 : 64;
    return c > SIZE_MAX / size ? 0 : c;
}

/* An offer on its way into the catalog, with where it came from. */
struct entry {
    struct plan_offer o;
    bool base;        /* from the merged catalog: loses to an imported offer of the same key */
    size_t seq;       /* read order: of two imported duplicates the first read is kept */
    const char *file; /* for the summary's "first skipped at" */
    size_t line;
};

/* A GCP host VM row: an instance type and its price without accelerators. */
struct gcp_host {
    const char *type, *region, *zone;
    double vcpus, ram, price, spot;
};

/* A GCP accelerator row: the price of `count` GPUs, without the VM they attach to. */
struct gcp_accel {
    const char *name; /* SkyPilot's AcceleratorName: the host rules are keyed by it */
    const struct core_gpu_model *model;
    int count, mem;
    const char *region, *zone, *as_of, *source, *file;
    size_t line, seq;
    double price, spot;
};

struct plan_import {
    const struct plan_import_options *opts;
    struct core_arena arena;
    struct plan_import_stats st;
    struct entry *entries;
    size_t nentries, centries;
    struct gcp_host *hosts;
    size_t nhosts, chosts;
    struct gcp_accel *accels;
    size_t naccels, caccels;
    size_t seq;
};

static int push_entry(struct plan_import *imp, const struct entry *e)
{
    size_t cap = next_cap(imp->nentries, imp->centries, sizeof(*e));
    if (cap != imp->centries) {
        struct entry *p = cap ? realloc(imp->entries, cap * sizeof(*p)) : NULL;
        if (!p)
            return -1;
        imp->entries = p;
        imp->centries = cap;
    }
    imp->entries[imp->nentries++] = *e;
    return 0;
}

static int push_host(struct plan_import *imp, const struct gcp_host *h)
{
    size_t cap = next_cap(imp->nhosts, imp->chosts, sizeof(*h));
    if (cap != imp->chosts) {
        struct gcp_host *p = cap ? realloc(imp->hosts, cap * sizeof(*p)) : NULL;
        if (!p)
            return -1;
        imp->hosts = p;
        imp->chosts = cap;
    }
    imp->hosts[imp->nhosts++] = *h;
    return 0;
}

static int push_accel(struct plan_import *imp, const struct gcp_accel *a)
{
    size_t cap = next_cap(imp->naccels, imp->caccels, sizeof(*a));
    if (cap != imp->caccels) {
        struct gcp_accel *p = cap ? realloc(imp->accels, cap * sizeof(*p)) : NULL;
        if (!p)
            return -1;
        imp->accels = p;
        imp->caccels = cap;
    }
    imp->accels[imp->naccels++] = *a;
    return 0;
}

/* SkyPilot's column names. */
enum {
    SK_INSTANCE_TYPE,
    SK_ACC_NAME,
    SK_ACC_COUNT,
    SK_VCPUS,
    SK_MEMORY,
    SK_GPU_INFO,
    SK_PRICE,
    SK_SPOT,
    SK_REGION,
    SK_ZONE,
    SK_NCOLS
};

static const struct {
    const char *name;
    bool required;
} sk_columns[SK_NCOLS] = {
    {"InstanceType", true},
    {"AcceleratorName", true},
    {"AcceleratorCount", true},
    {"vCPUs", true},
    {"MemoryGiB", true},
    {"GpuInfo", false},
    {"Price", true},
    {"SpotPrice", false},
    {"Region", true},
    {"AvailabilityZone", false},
};

/* Clouds SkyPilot has catalogs for that gpuform does not plan for (file name prefixes). */
static const char *const other_clouds[] = {
    "cudo",           "do",      "fluidstack", "hyperbolic", "ibm",
    "kubernetes",     "lambda",  "nebius",     "oci",        "paperspace",
    "primeintellect", "runpod",  "scp",        "seeweb",     "shadeform",
    "vast",           "vsphere", NULL,
};

static const char *const skip_names[PLAN_SKIP_COUNT] = {
    [PLAN_SKIP_MALFORMED] = "malformed row",
    [PLAN_SKIP_NO_GPU] = "no GPU (CPU-only row)",
    [PLAN_SKIP_FRACTIONAL] = "fractional GPU count",
    [PLAN_SKIP_UNKNOWN_GPU] = "not a GPU gpuform knows",
    [PLAN_SKIP_FILTERED] = "left out by --only/--gpu",
    [PLAN_SKIP_REGION] = "not a public region",
    [PLAN_SKIP_NO_PRICE] = "no price",
    [PLAN_SKIP_NO_HOST] = "no GCP host VM in the zone",
    [PLAN_SKIP_DUPLICATE] = "duplicate offer",
};

const char *plan_import_skip_name(enum plan_import_skip why)
{
    return (unsigned)why < PLAN_SKIP_COUNT ? skip_names[why] : "?";
}

int plan_import_check_options(const struct plan_import_options *opts, struct core_diags *diags)
{
    int rc = 0;
    if (opts->as_of && !plan_csv_date_ok(opts->as_of)) {
        core_diag_add(diags, CORE_SEV_ERROR, "import-option", NULL,
                      "--as-of '%.40s' must be the date the prices were observed, as YYYY-MM-DD",
                      opts->as_of);
        rc = -1;
    }
    size_t bad;
    if (opts->source && (!*opts->source || strlen(opts->source) > 200 ||
                         !plan_csv_text_ok(opts->source, strlen(opts->source), &bad))) {
        core_diag_add(diags, CORE_SEV_ERROR, "import-option", NULL,
                      "--source must be one line of text, 1 to 200 characters, saying where the "
                      "prices come from");
        rc = -1;
    }
    for (size_t i = 0; i < opts->ngpus; i++) {
        if (!core_gpu_model_find(opts->gpus[i])) {
            core_diag_add(diags, CORE_SEV_ERROR, "import-option", NULL,
                          "--gpu: unknown GPU model '%.60s'; 'gpuform gpus' lists the models",
                          opts->gpus[i]);
            rc = -1;
        }
    }
    for (size_t i = 0; i < opts->nonly; i++) {
        if (!*opts->only[i]) {
            core_diag_add(diags, CORE_SEV_ERROR, "import-option", NULL,
                          "--only needs an instance type pattern, such as 'p5.*'");
            rc = -1;
        }
    }
    return rc;
}

struct plan_import *plan_import_new(const struct plan_import_options *opts)
{
    struct plan_import *imp = calloc(1, sizeof(*imp));
    if (!imp)
        return NULL;
    imp->opts = opts;
    core_arena_init(&imp->arena, 0);
    return imp;
}

void plan_import_free(struct plan_import *imp)
{
    if (!imp)
        return;
    core_arena_release(&imp->arena);
    free(imp->entries);
    free(imp->hosts);
    free(imp->accels);
    free(imp);
}

const struct plan_import_stats *plan_import_stats(const struct plan_import *imp)
{
    return &imp->st;
}

/* ---- reading one file ---- */

struct file_ctx {
    struct plan_import *imp;
    struct core_diags *diags;
    struct core_source *src;
    const char *name; /* in the import's arena */
    enum core_cloud cloud;
    const char *as_of, *source;
    int col[SK_NCOLS]; /* field index of each SkyPilot column, -1 when absent */
    size_t ncols;
    const struct plan_csv *csv;
    int rc;
};

static void file_error(struct file_ctx *f, const char *code, size_t line, size_t col,
                       const char *msg)
{
    struct core_loc loc = {.src = f->src};
    core_loc_set(&loc, line, col, 0);
    core_diag_add(f->diags, CORE_SEV_ERROR, code, f->src ? &loc : NULL, "%s", msg);
    f->rc = -1;
}

static void skip(struct file_ctx *f, enum plan_import_skip why, const char *example)
{
    struct plan_import_stats *st = &f->imp->st;
    st->skipped[why]++;
    if (!st->first[why])
        st->first[why] = core_arena_printf(&f->imp->arena, "%s:%zu", f->name, f->csv->record_line);
    if (!example)
        return;
    if (!*example)
        example = "(empty)";
    size_t n = st->nexamples[why];
    for (size_t i = 0; i < n; i++)
        if (strcmp(st->examples[why][i], example) == 0)
            return;
    if (n < PLAN_IMPORT_EXAMPLES) {
        const char *copy = core_arena_strndup(&f->imp->arena, example, strnlen(example, 60));
        if (copy)
            st->examples[why][st->nexamples[why]++] = copy;
    }
}

static const char *field(const struct file_ctx *f, int sk)
{
    return f->col[sk] < 0 ? "" : f->csv->fields[f->col[sk]].s;
}

static bool text_ok(const char *s)
{
    size_t bad;
    return plan_csv_text_ok(s, strlen(s), &bad);
}

/*
 * A price: 0 with *out (-1 when empty), or -1 when it is not a number. An offer's price of 0
 * means "none" (vast writes 0.00 for no spot price); a GCP host VM's 0 is a real price (a4:
 * the accelerator row carries the whole machine's price), so host rows keep it: `zero_ok`.
 */
static int price(const char *s, bool zero_ok, double *out)
{
    *out = -1;
    if (*s == '\0')
        return 0;
    double v;
    if (plan_csv_decimal(s, true, &v) != 0)
        return -1;
    if (v > 0 || zero_ok)
        *out = v;
    return 0;
}

/* GB per GPU from GpuInfo's MemoryInfo.SizeInMiB (GiB taken as the marketed GB), else the
 * model table's datasheet figure (Azure's GpuInfo is only the name; vantage has none). */
static int gpu_memory(const char *gpu_info, const struct core_gpu_model *m)
{
    const char *p = strcasestr(gpu_info, "sizeinmib");
    if (p) {
        p += strlen("sizeinmib");
        while (*p == '\'' || *p == '"' || *p == ':' || *p == ' ')
            p++;
        char *end;
        double mib = strtod(p, &end);
        if (end != p && isfinite(mib) && mib >= 512 && mib < 1e9)
            return (int)lround(mib / 1024.0);
    }
    return (int)m->memory_gb;
}

static bool gpu_selected(const struct plan_import_options *o, const struct core_gpu_model *m)
{
    if (o->ngpus == 0)
        return true;
    for (size_t i = 0; i < o->ngpus; i++)
        if (core_gpu_model_find(o->gpus[i]) == m)
            return true;
    return false;
}

static bool type_selected(const struct plan_import_options *o, const char *type)
{
    if (o->nonly == 0)
        return true;
    for (size_t i = 0; i < o->nonly; i++)
        if (fnmatch(o->only[i], type, 0) == 0)
            return true;
    return false;
}

static const char *keep(struct file_ctx *f, const char *s)
{
    return core_arena_strdup(&f->imp->arena, s);
}

static void oom(struct file_ctx *f)
{
    file_error(f, "out-of-memory", f->csv->record_line, 1, "out of memory");
}

static void host_row(struct file_ctx *f)
{
    struct gcp_host h = {0};
    double pr, sp;
    if (plan_csv_decimal(field(f, SK_VCPUS), true, &h.vcpus) != 0 ||
        plan_csv_decimal(field(f, SK_MEMORY), true, &h.ram) != 0 ||
        price(field(f, SK_PRICE), true, &pr) != 0 || price(field(f, SK_SPOT), true, &sp) != 0) {
        skip(f, PLAN_SKIP_MALFORMED, "host VM row with a bad number");
        return;
    }
    f->imp->st.host_rows++;
    h.price = pr;
    h.spot = sp;
    h.type = keep(f, field(f, SK_INSTANCE_TYPE));
    h.region = keep(f, field(f, SK_REGION));
    h.zone = keep(f, field(f, SK_ZONE));
    if (!h.type || !h.region || !h.zone || push_host(f->imp, &h) != 0)
        oom(f);
}

static void add_entry(struct file_ctx *f, const struct plan_offer *o)
{
    struct entry e = {.o = *o, .seq = f->imp->seq++, .file = f->name, .line = f->csv->record_line};
    if (push_entry(f->imp, &e) != 0)
        oom(f);
}

static void data_row(struct file_ctx *f)
{
    const struct plan_import_options *opts = f->imp->opts;
    char msg[160];
    if (f->csv->nfields != f->ncols) {
        snprintf(msg, sizeof(msg), "%zu fields where the header has %zu", f->csv->nfields,
                 f->ncols);
        skip(f, PLAN_SKIP_MALFORMED, msg);
        return;
    }
    const char *type = field(f, SK_INSTANCE_TYPE), *acc = field(f, SK_ACC_NAME);
    const char *region = field(f, SK_REGION), *zone = field(f, SK_ZONE);
    if (!text_ok(type) || !text_ok(acc) || !text_ok(region) || !text_ok(zone)) {
        skip(f, PLAN_SKIP_MALFORMED, "control character or invalid UTF-8");
        return;
    }
    bool gcp = f->cloud == CORE_CLOUD_GCP;
    if (gcp && *acc == '\0' && *type != '\0') {
        host_row(f);
        return;
    }
    bool accel = gcp && *type == '\0'; /* priced apart from its host VM */
    if (*acc == '\0') {
        skip(f, PLAN_SKIP_NO_GPU, NULL);
        return;
    }
    double count;
    if (plan_csv_decimal(field(f, SK_ACC_COUNT), true, &count) != 0) {
        snprintf(msg, sizeof(msg), "AcceleratorCount '%.40s'", field(f, SK_ACC_COUNT));
        skip(f, PLAN_SKIP_MALFORMED, msg);
        return;
    }
    if (count == 0) {
        skip(f, PLAN_SKIP_NO_GPU, NULL);
        return;
    }
    if (count != floor(count) || count > MAX_COUNT) {
        snprintf(msg, sizeof(msg), "%.40s%s%.40s x %g", type, *type ? ": " : "", acc, count);
        skip(f, PLAN_SKIP_FRACTIONAL, msg);
        return;
    }
    const struct core_gpu_model *m = core_gpu_model_find(acc);
    if (!m) {
        skip(f, PLAN_SKIP_UNKNOWN_GPU, acc);
        return;
    }
    if (!gpu_selected(opts, m) || (!accel && !type_selected(opts, type))) {
        skip(f, PLAN_SKIP_FILTERED, NULL);
        return;
    }
    if (*region == '\0' || !core_region_known(f->cloud, region)) {
        skip(f, PLAN_SKIP_REGION, region);
        return;
    }
    double od, sp;
    if (price(field(f, SK_PRICE), false, &od) != 0 || price(field(f, SK_SPOT), false, &sp) != 0) {
        skip(f, PLAN_SKIP_MALFORMED, "a price that is not a number");
        return;
    }
    int mem = gpu_memory(field(f, SK_GPU_INFO), m);
    if (accel) {
        if (od < 0) { /* SkyPilot drops accelerators without an on-demand price */
            skip(f, PLAN_SKIP_NO_PRICE, NULL);
            return;
        }
        struct plan_import *imp = f->imp;
        struct gcp_accel a = {.name = keep(f, acc),
                              .model = m,
                              .count = (int)count,
                              .mem = mem,
                              .region = keep(f, region),
                              .zone = keep(f, zone),
                              .as_of = f->as_of,
                              .source = f->source,
                              .file = f->name,
                              .line = f->csv->record_line,
                              .seq = imp->seq++,
                              .price = od,
                              .spot = sp};
        if (!a.name || !a.region || !a.zone || push_accel(imp, &a) != 0)
            oom(f);
        else
            imp->st.accel_rows++;
        return;
    }
    if (od < 0 && sp < 0) {
        skip(f, PLAN_SKIP_NO_PRICE, NULL);
        return;
    }
    struct plan_offer o = {.cloud = f->cloud,
                           .gpu = m->name,
                           .gpus = (int)count,
                           .gpu_memory_gb = mem,
                           .ondemand = od,
                           .spot = sp,
                           .as_of = f->as_of,
                           .source = f->source};
    if (*type == '\0' || plan_csv_decimal(field(f, SK_VCPUS), true, &o.vcpus) != 0 ||
        plan_csv_decimal(field(f, SK_MEMORY), true, &o.ram_gib) != 0 || o.vcpus <= 0 ||
        o.ram_gib <= 0) {
        skip(f, PLAN_SKIP_MALFORMED, *type ? "vCPUs or MemoryGiB not a number" : "no InstanceType");
        return;
    }
    o.region = keep(f, region);
    o.zone = keep(f, zone);
    o.instance_type = keep(f, type);
    if (!o.region || !o.zone || !o.instance_type) {
        oom(f);
        return;
    }
    add_entry(f, &o);
}

static int map_header(struct file_ctx *f, struct plan_csv *csv)
{
    char msg[512];
    int r = plan_csv_next(csv);
    if (r == 0) {
        file_error(f, "import-header", 1, 1, "empty file: not a SkyPilot vms.csv");
        return -1;
    }
    if (r < 0) {
        file_error(f, "import-syntax", csv->err_line, csv->err_col, csv->err);
        return -1;
    }
    for (int k = 0; k < SK_NCOLS; k++)
        f->col[k] = -1;
    for (size_t i = 0; i < csv->nfields; i++)
        for (int k = 0; k < SK_NCOLS; k++)
            if (f->col[k] < 0 && strcmp(csv->fields[i].s, sk_columns[k].name) == 0)
                f->col[k] = (int)i;
    for (int k = 0; k < SK_NCOLS; k++) {
        if (sk_columns[k].required && f->col[k] < 0) {
            snprintf(msg, sizeof(msg),
                     "not a SkyPilot vms.csv: the header has no column '%s' (a vms.csv has "
                     "InstanceType, AcceleratorName, AcceleratorCount, vCPUs, MemoryGiB, Price "
                     "and Region, in any order)",
                     sk_columns[k].name);
            file_error(f, "import-header", csv->record_line, 1, msg);
            return -1;
        }
    }
    f->ncols = csv->nfields;
    return 0;
}

static int import_text(struct file_ctx *f, const char *text, size_t len)
{
    struct plan_csv csv;
    if (plan_csv_init(&csv, text, len, MAX_FIELDS, MAX_RECORD) != 0) {
        core_diag_add(f->diags, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory");
        return -1;
    }
    f->csv = &csv;
    if (map_header(f, &csv) == 0) {
        f->imp->st.files++;
        while (!(f->rc && core_diags_full(f->diags))) {
            int r = plan_csv_next(&csv);
            if (r == 0)
                break;
            if (r < 0) {
                file_error(f, "import-syntax", csv.err_line, csv.err_col, csv.err);
                continue;
            }
            f->imp->st.rows++;
            data_row(f);
        }
    }
    plan_csv_release(&csv);
    return f->rc;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/*
 * The cloud a file's name names: aws_*.csv, gcp_*.csv, azure_*.csv, or the folder of a
 * vms.csv (skypilot-catalog's catalogs/v8/aws/vms.csv). Returns the cloud, -2 for a cloud
 * gpuform does not plan for (its name in word), or -1 when the name says nothing.
 */
static int cloud_of_name(const char *path, char *word, size_t wsize)
{
    const char *base = base_name(path);
    const char *w = base;
    size_t wl;
    if (strcmp(base, "vms.csv") == 0 && base > path) {
        const char *end = base - 1;
        w = end;
        while (w > path && w[-1] != '/')
            w--;
        wl = (size_t)(end - w);
    } else {
        const char *us = strchr(base, '_');
        if (!us)
            return -1;
        wl = (size_t)(us - base);
    }
    if (wl == 0 || wl >= wsize)
        return -1;
    memcpy(word, w, wl);
    word[wl] = '\0';
    int c = core_cloud_from_name(word);
    if (c >= 0)
        return c;
    for (const char *const *o = other_clouds; *o; o++)
        if (strcmp(*o, word) == 0)
            return -2;
    return -1;
}

/*
 * The cloud to read `name` as: 0.. a cloud; -1 an error (reported); -2 skipped because it is
 * for another cloud than options.cloud.
 */
static int resolve_cloud(struct plan_import *imp, const char *name, bool gcp_hosts,
                         struct core_diags *diags)
{
    int want = imp->opts->cloud;
    if (gcp_hosts)
        return want >= 0 && want != CORE_CLOUD_GCP ? -2 : CORE_CLOUD_GCP;
    char word[32];
    int c = cloud_of_name(name, word, sizeof(word));
    if (want >= 0)
        return (c >= 0 && c != want) || c == -2 ? -2 : want;
    if (c >= 0)
        return c;
    struct core_source *src = core_diags_add_source(diags, name, NULL, 0);
    struct core_loc loc = {.src = src};
    if (c == -2)
        core_diag_add(diags, CORE_SEV_ERROR, "import-cloud", src ? &loc : NULL,
                      "the file's name says it is for the cloud '%s': gpuform plans for aws, "
                      "gcp and azure (with --cloud, files of other clouds are skipped)",
                      word);
    else
        core_diag_add(diags, CORE_SEV_ERROR, "import-cloud", src ? &loc : NULL,
                      "cannot tell which cloud this file is for: name it aws_*.csv, gcp_*.csv "
                      "or azure_*.csv, or pass --cloud");
    return -1;
}

static int add_source_text(struct plan_import *imp, struct core_source *src, const char *name,
                           int cloud, const char *file_date, const char *text, size_t len,
                           struct core_diags *diags)
{
    struct file_ctx f = {.imp = imp, .diags = diags, .src = src, .cloud = (enum core_cloud)cloud};
    f.name = core_arena_strdup(&imp->arena, name);
    f.as_of = imp->opts->as_of ? imp->opts->as_of : file_date;
    f.as_of = f.as_of ? core_arena_strdup(&imp->arena, f.as_of) : NULL;
    const char *base = base_name(name);
    bool plain = text_ok(base) && !strpbrk(base, ",\"");
    f.source = imp->opts->source ? core_arena_strdup(&imp->arena, imp->opts->source)
                                 : core_arena_printf(&imp->arena, "SkyPilot catalog%s%s",
                                                     plain ? " " : "", plain ? base : "");
    if (!f.name || !f.as_of || !f.source) {
        core_diag_add(diags, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory");
        return -1;
    }
    return import_text(&f, text, len);
}

static int add_path(struct plan_import *imp, const char *path, bool gcp_hosts,
                    struct core_diags *diags)
{
    int cloud = resolve_cloud(imp, path, gcp_hosts, diags);
    if (cloud == -2) {
        imp->st.files_skipped++;
        return 1;
    }
    if (cloud < 0)
        return -1;
    char *text;
    size_t len;
    const char *why;
    bool big;
    if (plan_csv_read_file(path, PLAN_IMPORT_MAX_BYTES, &text, &len, &why, &big) != 0) {
        struct core_source *src = core_diags_add_source(diags, path, NULL, 0);
        struct core_loc loc = {.src = src};
        if (big)
            core_diag_add(diags, CORE_SEV_ERROR, "import-io", src ? &loc : NULL,
                          "file is larger than the %zu MiB limit for one catalog",
                          PLAN_IMPORT_MAX_BYTES >> 20);
        else
            core_diag_add(diags, CORE_SEV_ERROR, "import-io", src ? &loc : NULL,
                          "cannot read '%s': %s", path, why);
        return -1;
    }
    /* Rows without --as-of are dated by the file: its modification day (UTC). */
    char date[16] = "1970-01-01";
    struct stat st;
    struct tm tm;
    if (stat(path, &st) == 0 && gmtime_r(&st.st_mtime, &tm))
        strftime(date, sizeof(date), "%Y-%m-%d", &tm);
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) { /* quoted lines start after it */
        memmove(text, text + 3, len - 2);
        len -= 3;
    }
    struct core_source *src = core_diags_add_source(diags, path, text, len);
    if (!src) {
        core_diag_add(diags, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory");
        return -1;
    }
    int rc = add_source_text(imp, src, path, cloud, date, src->text, src->len, diags);
    core_source_drop_text(src);
    return rc;
}

int plan_import_add_file(struct plan_import *imp, const char *path, struct core_diags *diags)
{
    return add_path(imp, path, false, diags);
}

int plan_import_add_gcp_hosts(struct plan_import *imp, const char *path, struct core_diags *diags)
{
    return add_path(imp, path, true, diags);
}

int plan_import_add_text(struct plan_import *imp, const char *name, const char *text, size_t len,
                         const char *file_date, bool gcp_hosts, struct core_diags *diags)
{
    int cloud = resolve_cloud(imp, name, gcp_hosts, diags);
    if (cloud == -2) {
        imp->st.files_skipped++;
        return 1;
    }
    if (cloud < 0)
        return -1;
    char *copy = malloc(len + 1);
    if (!copy) {
        core_diag_add(diags, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory");
        return -1;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    struct core_source *src = core_diags_add_source(diags, name, copy, len);
    if (!src) {
        core_diag_add(diags, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory");
        return -1;
    }
    return add_source_text(imp, src, name, cloud, file_date, src->text, src->len, diags);
}

int plan_import_merge(struct plan_import *imp, const struct plan_catalog *base)
{
    for (size_t i = 0; i < base->noffers; i++) {
        struct plan_offer o = base->offers[i];
        o.region = core_arena_strdup(&imp->arena, o.region);
        o.zone = core_arena_strdup(&imp->arena, o.zone);
        o.instance_type = core_arena_strdup(&imp->arena, o.instance_type);
        o.as_of = core_arena_strdup(&imp->arena, o.as_of);
        o.source = core_arena_strdup(&imp->arena, o.source);
        struct entry e = {.o = o, .base = true, .seq = i, .file = base->name};
        if (!o.region || !o.zone || !o.instance_type || !o.as_of || !o.source ||
            push_entry(imp, &e) != 0)
            return -1;
    }
    return 0;
}

/* ---- GCP: accelerators and their host VMs ----
 *
 * SkyPilot prices a GCP GPU as the accelerator row (an empty InstanceType) plus the host VM
 * it runs on, in the same zone; this mirrors list_accelerators() and its
 * _get_host_instance_type() in sky/catalog/gcp_catalog.py (skypilot-org/skypilot):
 *  - A100, A100-80GB, L4, H100, H100-MEGA, H200 and B200 come built into a machine type
 *    (a2, g2, a3, a4): the host is the cheapest of the types listed for that GPU count;
 *  - every other GPU (T4, V100, P100, P4, K80) attaches to an N1 VM: the host is the
 *    cheapest n1-standard/n1-highmem/n1-highcpu type with at least the vCPUs the GPU count
 *    calls for and 4 GiB of memory per vCPU.
 * On-demand = accelerator + host; spot = accelerator spot + host spot (none if either is
 * missing). Hosts without an on-demand price are never chosen; a tie in price goes to the
 * instance type first in byte order (SkyPilot takes the first in file order).
 */

struct gcp_builtin {
    const char *acc;
    int count;
    const char *types[6];
};

static const struct gcp_builtin gcp_builtins[] = {
    {"A100", 1, {"a2-highgpu-1g"}},
    {"A100", 2, {"a2-highgpu-2g"}},
    {"A100", 4, {"a2-highgpu-4g"}},
    {"A100", 8, {"a2-highgpu-8g"}},
    {"A100", 16, {"a2-megagpu-16g"}},
    {"A100-80GB", 1, {"a2-ultragpu-1g"}},
    {"A100-80GB", 2, {"a2-ultragpu-2g"}},
    {"A100-80GB", 4, {"a2-ultragpu-4g"}},
    {"A100-80GB", 8, {"a2-ultragpu-8g"}},
    {"L4",
     1,
     {"g2-standard-4", "g2-standard-8", "g2-standard-12", "g2-standard-16", "g2-standard-32"}},
    {"L4", 2, {"g2-standard-24"}},
    {"L4", 4, {"g2-standard-48"}},
    {"L4", 8, {"g2-standard-96"}},
    {"H100", 1, {"a3-highgpu-1g"}},
    {"H100", 2, {"a3-highgpu-2g"}},
    {"H100", 4, {"a3-highgpu-4g"}},
    {"H100", 8, {"a3-highgpu-8g"}},
    {"H100-MEGA", 8, {"a3-megagpu-8g"}},
    {"H200", 8, {"a3-ultragpu-8g"}},
    {"B200", 8, {"a4-highgpu-8g"}},
};

/* vCPUs of the N1 host per GPU count (SkyPilot's _NUM_ACC_TO_NUM_CPU; DEFAULT for others). */
struct gcp_n1_rule {
    const char *acc; /* NULL: every other accelerator */
    int count, vcpus;
};

static const struct gcp_n1_rule gcp_n1_rules[] = {
    {"K80", 1, 4},   {"K80", 2, 8},   {"K80", 4, 16},  {"K80", 8, 32},  {"K80", 16, 64},
    {"V100", 1, 8},  {"V100", 2, 16}, {"V100", 4, 32}, {"V100", 8, 64}, {"T4", 1, 4},
    {"T4", 2, 8},    {"T4", 4, 48},   {"P100", 1, 8},  {"P100", 2, 16}, {"P100", 4, 32},
    {"P100", 8, 64}, {NULL, 1, 8},    {NULL, 2, 16},   {NULL, 4, 32},   {NULL, 8, 64},
    {NULL, 16, 128},
};

#define N1_MEMORY_PER_VCPU 4 /* GiB; SkyPilot's _DEFAULT_GPU_MEMORY_CPU_RATIO */

static const char *const n1_families[] = {"n1-standard", "n1-highmem", "n1-highcpu"};

static bool builtin_acc(const char *acc)
{
    for (size_t i = 0; i < sizeof(gcp_builtins) / sizeof(gcp_builtins[0]); i++)
        if (strcmp(gcp_builtins[i].acc, acc) == 0)
            return true;
    return false;
}

/* Can accelerator `a` run on host `h`, by SkyPilot's rules? (No rule for its count: no.) */
static bool host_fits(const struct gcp_accel *a, const struct gcp_host *h)
{
    if (builtin_acc(a->name)) {
        for (size_t i = 0; i < sizeof(gcp_builtins) / sizeof(gcp_builtins[0]); i++) {
            const struct gcp_builtin *b = &gcp_builtins[i];
            if (strcmp(b->acc, a->name) != 0 || b->count != a->count)
                continue;
            for (size_t t = 0; t < 6 && b->types[t]; t++)
                if (strcmp(b->types[t], h->type) == 0)
                    return true;
        }
        return false;
    }
    bool named = false;
    for (size_t i = 0; i < sizeof(gcp_n1_rules) / sizeof(gcp_n1_rules[0]); i++)
        if (gcp_n1_rules[i].acc && strcmp(gcp_n1_rules[i].acc, a->name) == 0)
            named = true;
    int vcpus = -1;
    for (size_t i = 0; i < sizeof(gcp_n1_rules) / sizeof(gcp_n1_rules[0]); i++) {
        const struct gcp_n1_rule *r = &gcp_n1_rules[i];
        if (r->count == a->count && (named ? r->acc && !strcmp(r->acc, a->name) : !r->acc))
            vcpus = r->vcpus;
    }
    if (vcpus < 0)
        return false;
    bool n1 = false;
    for (size_t i = 0; i < 3; i++)
        if (strncmp(h->type, n1_families[i], strlen(n1_families[i])) == 0)
            n1 = true;
    return n1 && h->vcpus >= vcpus && h->ram >= (double)vcpus * N1_MEMORY_PER_VCPU;
}

static int host_cmp(const void *a, const void *b)
{
    const struct gcp_host *x = a, *y = b;
    int c = strcmp(x->region, y->region);
    if (c == 0)
        c = strcmp(x->zone, y->zone);
    if (c == 0)
        c = strcmp(x->type, y->type);
    return c;
}

/* The first host in (region, zone), or nhosts. Hosts are sorted by host_cmp. */
static size_t first_host(const struct plan_import *imp, const char *region, const char *zone)
{
    size_t lo = 0, hi = imp->nhosts;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct gcp_host *h = &imp->hosts[mid];
        int c = strcmp(h->region, region);
        if (c == 0)
            c = strcmp(h->zone, zone);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void note_skip(struct plan_import *imp, enum plan_import_skip why, const char *file,
                      size_t line, const char *example)
{
    struct plan_import_stats *st = &imp->st;
    st->skipped[why]++;
    if (!st->first[why])
        st->first[why] = core_arena_printf(&imp->arena, "%s:%zu", file, line);
    if (example && st->nexamples[why] < PLAN_IMPORT_EXAMPLES) {
        for (size_t i = 0; i < st->nexamples[why]; i++)
            if (strcmp(st->examples[why][i], example) == 0)
                return;
        const char *copy = core_arena_strdup(&imp->arena, example);
        if (copy)
            st->examples[why][st->nexamples[why]++] = copy;
    }
}

static int resolve_gcp(struct plan_import *imp)
{
    if (imp->nhosts)
        qsort(imp->hosts, imp->nhosts, sizeof(*imp->hosts), host_cmp);
    for (size_t i = 0; i < imp->naccels; i++) {
        const struct gcp_accel *a = &imp->accels[i];
        const struct gcp_host *best = NULL;
        for (size_t j = first_host(imp, a->region, a->zone); j < imp->nhosts; j++) {
            const struct gcp_host *h = &imp->hosts[j];
            if (strcmp(h->region, a->region) != 0 || strcmp(h->zone, a->zone) != 0)
                break;
            if (h->price < 0 || !host_fits(a, h))
                continue;
            if (!best || h->price < best->price)
                best = h;
        }
        if (!best) {
            char ex[80];
            snprintf(ex, sizeof(ex), "%s x%d in %s", a->name, a->count, a->zone);
            note_skip(imp, PLAN_SKIP_NO_HOST, a->file, a->line, ex);
            continue;
        }
        if (!type_selected(imp->opts, best->type)) {
            note_skip(imp, PLAN_SKIP_FILTERED, a->file, a->line, NULL);
            continue;
        }
        struct plan_offer o = {.cloud = CORE_CLOUD_GCP,
                               .region = a->region,
                               .zone = a->zone,
                               .instance_type = best->type,
                               .gpu = a->model->name,
                               .gpus = a->count,
                               .gpu_memory_gb = a->mem,
                               .vcpus = best->vcpus,
                               .ram_gib = best->ram,
                               .ondemand = a->price + best->price,
                               .spot = a->spot >= 0 && best->spot >= 0 ? a->spot + best->spot : -1,
                               .as_of = a->as_of,
                               .source = a->source};
        struct entry e = {.o = o, .seq = a->seq, .file = a->file, .line = a->line};
        if (push_entry(imp, &e) != 0)
            return -1;
    }
    return 0;
}

/* ---- finishing ---- */

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int c = plan_offer_cmp(&x->o, &y->o);
    if (c == 0 && x->base != y->base)
        c = x->base ? 1 : -1;
    if (c == 0 && x->seq != y->seq)
        c = x->seq < y->seq ? -1 : 1;
    return c;
}

int plan_import_finish(struct plan_import *imp, struct core_diags *diags, struct plan_catalog **out)
{
    *out = NULL;
    if (resolve_gcp(imp) != 0) {
        core_diag_add(diags, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory");
        return -1;
    }
    if (imp->nentries)
        qsort(imp->entries, imp->nentries, sizeof(*imp->entries), entry_cmp);
    struct plan_offer *offers = malloc((imp->nentries ? imp->nentries : 1) * sizeof(*offers));
    if (!offers) {
        core_diag_add(diags, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory");
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < imp->nentries; i++) {
        const struct entry *e = &imp->entries[i];
        if (n > 0 && i > 0 && plan_offer_cmp(&imp->entries[i - 1].o, &e->o) == 0) {
            if (e->base)
                imp->st.replaced++;
            else
                note_skip(imp, PLAN_SKIP_DUPLICATE, e->file, e->line, e->o.instance_type);
            continue;
        }
        offers[n++] = e->o;
        if (e->base)
            imp->st.kept++;
        else
            imp->st.imported++;
    }
    struct plan_catalog tmp = {.offers = offers, .noffers = n};
    size_t len;
    char *text = plan_catalog_render(&tmp, &len);
    free(offers);
    if (!text) {
        core_diag_add(diags, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory");
        return -1;
    }
    int rc = plan_catalog_parse("imported catalog", text, len, diags, out);
    free(text);
    return rc;
}
