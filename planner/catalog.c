/*
 * gpuform's offer catalog format: a strict CSV parser that reports every bad row as
 * file:line:col with a stable code, the writer (deterministic bytes, so the SHA-256 a plan
 * records is stable), atomic saving and the bundled catalog compiled into the binary.
 * docs/catalog.md is the format's documentation.
 */
#include "planner/catalog.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/digest.h"
#include "core/file.h"
#include "core/gpu_models.h"
#include "core/suggest.h"
#include "planner/csv_int.h"

/* Generated from specs/catalog/gpuform-catalog.csv by cmake/embed_file.cmake. */
extern const unsigned char gpuform_catalog_data[];
extern const size_t gpuform_catalog_size;

enum {
    COL_CLOUD,
    COL_REGION,
    COL_ZONE,
    COL_INSTANCE_TYPE,
    COL_GPU,
    COL_GPUS,
    COL_GPU_MEMORY,
    COL_VCPUS,
    COL_RAM,
    COL_ONDEMAND,
    COL_SPOT,
    COL_AS_OF,
    COL_SOURCE,
    NCOLS
};

static const char *const columns[NCOLS] = {
    "cloud",         "region",        "zone",   "instance_type", "gpu",
    "gpus",          "gpu_memory_gb", "vcpus",  "ram_gib",       "ondemand_usd_hour",
    "spot_usd_hour", "as_of",         "source",
};

#define MAX_RECORD  (64 * 1024) /* bytes of field contents in one row */
#define MAX_GPUS    4096        /* GPUs per instance */
#define MAX_GPU_MEM 100000      /* GB per GPU */
#define SHOW_VALUE  60          /* characters of a bad value quoted in a message */

int plan_sha256_hex(const void *data, size_t len, char out[65])
{
    return core_sha256_hex(data, len, out);
}

int plan_offer_cmp(const struct plan_offer *a, const struct plan_offer *b)
{
    if (a->cloud != b->cloud)
        return a->cloud < b->cloud ? -1 : 1;
    int c = strcmp(a->region, b->region);
    if (c == 0)
        c = strcmp(a->zone, b->zone);
    if (c == 0)
        c = strcmp(a->instance_type, b->instance_type);
    if (c == 0)
        c = strcmp(a->gpu, b->gpu);
    if (c == 0 && a->gpus != b->gpus)
        c = a->gpus < b->gpus ? -1 : 1;
    return c;
}

/* ---- parsing ---- */

struct row {
    struct plan_offer offer;
    size_t line;
};

struct parser {
    const char *name;
    const char *text; /* without a byte order mark, as the source quotes it */
    size_t len;
    struct core_source *src; /* registered when the first problem is reported */
    struct core_diags *diags;
    size_t errors;
    struct plan_catalog *cat;
    struct row *rows;
    size_t nrows, cap;
};

static struct core_source *source(struct parser *p)
{
    if (!p->src) {
        char *copy = malloc(p->len + 1);
        if (copy) {
            memcpy(copy, p->text, p->len);
            copy[p->len] = '\0';
        }
        p->src = core_diags_add_source(p->diags, p->name, copy, copy ? p->len : 0);
    }
    return p->src;
}

static struct core_diag *report(struct parser *p, const char *code, size_t line, size_t col,
                                size_t span, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static struct core_diag *report(struct parser *p, const char *code, size_t line, size_t col,
                                size_t span, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    p->errors++;
    struct core_loc loc = {.src = source(p)};
    core_loc_set(&loc, line, col, span);
    return core_diag_add(p->diags, CORE_SEV_ERROR, code, loc.src ? &loc : NULL, "%s", msg);
}

static struct core_diag *report_field(struct parser *p, const struct plan_csv_field *f,
                                      const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static struct core_diag *report_field(struct parser *p, const struct plan_csv_field *f,
                                      const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return report(p, code, f->line, f->col, plan_csv_chars(f->s, f->len), "%s", msg);
}

/* A whole, non-negative integer in [min, max]. */
static int parse_int(const char *s, long min, long max, int *out)
{
    if (*s == '\0')
        return -1;
    long v = 0;
    for (const char *q = s; *q; q++) {
        if (*q < '0' || *q > '9')
            return -1;
        v = v * 10 + (*q - '0');
        if (v > max)
            return -1;
    }
    if (v < min)
        return -1;
    *out = (int)v;
    return 0;
}

static const char *suggest_cloud(const char *word)
{
    const char *names[CORE_CLOUD_COUNT];
    for (int c = 0; c < CORE_CLOUD_COUNT; c++)
        names[c] = core_cloud_name((enum core_cloud)c);
    return core_suggest(word, names, CORE_CLOUD_COUNT);
}

static const char *suggest_gpu(const char *word)
{
    size_t n;
    const struct core_gpu_model *m = core_gpu_models(&n);
    const char **names = malloc(n * sizeof(*names));
    if (!names)
        return NULL;
    for (size_t i = 0; i < n; i++)
        names[i] = m[i].name;
    const char *s = core_suggest(word, names, n);
    free(names);
    return s;
}

/* " (did you mean 'x'?)" or "", into buf. */
static const char *did_you_mean(char *buf, size_t size, const char *s)
{
    if (!s)
        return "";
    snprintf(buf, size, " (did you mean '%s'?)", s);
    return buf;
}

static int check_header(struct parser *p, struct plan_csv *csv)
{
    int r = plan_csv_next(csv);
    if (r == 0) {
        report(p, "catalog-header", 1, 1, 0,
               "empty catalog: the first line must be the header '%s'", PLAN_CATALOG_HEADER);
        return -1;
    }
    if (r < 0) {
        report(p, "catalog-syntax", csv->err_line, csv->err_col, 0, "%s", csv->err);
        return -1;
    }
    for (size_t i = 0; i < csv->nfields && i < NCOLS; i++) {
        const struct plan_csv_field *f = &csv->fields[i];
        if (strcmp(f->s, columns[i]) != 0) {
            report_field(p, f, "catalog-header",
                         "column %zu of the header is '%.*s', expected '%s': a gpuform catalog "
                         "starts with the line '%s'",
                         i + 1, SHOW_VALUE, f->s, columns[i], PLAN_CATALOG_HEADER);
            return -1;
        }
    }
    if (csv->nfields != NCOLS) {
        report(p, "catalog-header", csv->record_line, 1, 0,
               "the header has %zu columns, expected %d: a gpuform catalog starts with the "
               "line '%s'",
               csv->nfields, NCOLS, PLAN_CATALOG_HEADER);
        return -1;
    }
    return 0;
}

static char *keep(struct parser *p, const struct plan_csv_field *f)
{
    return core_arena_strndup(&p->cat->arena, f->s, f->len);
}

static int parse_price(struct parser *p, const struct plan_csv_field *f, const char *what,
                       double *out)
{
    *out = -1;
    if (f->len == 0)
        return 0;
    double v;
    if (plan_csv_decimal(f->s, false, &v) != 0) {
        report_field(p, f, "catalog-price",
                     "%s price '%.*s' is not a number: write USD per hour as digits with a "
                     "decimal point (0.5), or leave the field empty when not offered",
                     what, SHOW_VALUE, f->s);
        return -1;
    }
    if (v <= 0) {
        report_field(p, f, "catalog-price",
                     "%s price must be more than 0; leave the field empty when not offered", what);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_row(struct parser *p, const struct plan_csv *csv, struct plan_offer *o)
{
    const struct plan_csv_field *f = csv->fields;
    size_t before = p->errors;
    char hint[160];

    for (size_t i = 0; i < csv->nfields; i++) {
        size_t bad;
        if (!plan_csv_text_ok(f[i].s, f[i].len, &bad)) {
            report(p, "catalog-text", f[i].line, f[i].col + plan_csv_chars(f[i].s, bad), 0,
                   "%s has a control character or invalid UTF-8", columns[i]);
            return -1;
        }
    }

    int cloud = core_cloud_from_name(f[COL_CLOUD].s);
    if (cloud < 0)
        report_field(p, &f[COL_CLOUD], "catalog-cloud",
                     "unknown cloud '%.*s'%s: gpuform plans for aws, gcp and azure", SHOW_VALUE,
                     f[COL_CLOUD].s,
                     did_you_mean(hint, sizeof(hint), suggest_cloud(f[COL_CLOUD].s)));
    else
        o->cloud = (enum core_cloud)cloud;

    if (f[COL_REGION].len == 0) {
        report_field(p, &f[COL_REGION], "catalog-region", "region is empty");
    } else if (cloud >= 0 && !core_region_known(o->cloud, f[COL_REGION].s)) {
        size_t n;
        const char *const *regions = core_cloud_regions(o->cloud, &n);
        report_field(p, &f[COL_REGION], "catalog-region", "unknown %s region '%.*s'%s",
                     core_cloud_name(o->cloud), SHOW_VALUE, f[COL_REGION].s,
                     did_you_mean(hint, sizeof(hint), core_suggest(f[COL_REGION].s, regions, n)));
    }

    if (f[COL_INSTANCE_TYPE].len == 0)
        report_field(p, &f[COL_INSTANCE_TYPE], "catalog-field", "instance_type is empty");

    const struct core_gpu_model *m = core_gpu_model_find(f[COL_GPU].s);
    if (!m)
        report_field(p, &f[COL_GPU], "catalog-gpu",
                     "unknown GPU model '%.*s'%s: 'gpuform gpus' lists the models", SHOW_VALUE,
                     f[COL_GPU].s, did_you_mean(hint, sizeof(hint), suggest_gpu(f[COL_GPU].s)));
    else
        o->gpu = m->name;

    if (parse_int(f[COL_GPUS].s, 1, MAX_GPUS, &o->gpus) != 0)
        report_field(p, &f[COL_GPUS], "catalog-field",
                     "gpus '%.*s' must be a whole number of GPUs per instance, from 1 to %d",
                     SHOW_VALUE, f[COL_GPUS].s, MAX_GPUS);
    if (parse_int(f[COL_GPU_MEMORY].s, 1, MAX_GPU_MEM, &o->gpu_memory_gb) != 0)
        report_field(p, &f[COL_GPU_MEMORY], "catalog-field",
                     "gpu_memory_gb '%.*s' must be a whole number of GB per GPU, from 1 to %d",
                     SHOW_VALUE, f[COL_GPU_MEMORY].s, MAX_GPU_MEM);
    for (int c = COL_VCPUS; c <= COL_RAM; c++) {
        double v;
        if (plan_csv_decimal(f[c].s, false, &v) != 0 || v <= 0)
            report_field(p, &f[c], "catalog-field", "%s '%.*s' must be a number greater than 0",
                         columns[c], SHOW_VALUE, f[c].s);
        else if (c == COL_VCPUS)
            o->vcpus = v;
        else
            o->ram_gib = v;
    }

    int pr = parse_price(p, &f[COL_ONDEMAND], "on-demand", &o->ondemand);
    pr |= parse_price(p, &f[COL_SPOT], "spot", &o->spot);
    if (pr == 0 && o->ondemand < 0 && o->spot < 0)
        report_field(p, &f[COL_ONDEMAND], "catalog-price",
                     "the offer has neither an on-demand nor a spot price: give at least one");

    if (!plan_csv_date_ok(f[COL_AS_OF].s))
        report_field(p, &f[COL_AS_OF], "catalog-date",
                     "as_of '%.*s' must be the date the prices were observed, as YYYY-MM-DD",
                     SHOW_VALUE, f[COL_AS_OF].s);
    if (f[COL_SOURCE].len == 0)
        report_field(p, &f[COL_SOURCE], "catalog-field",
                     "source is empty: say where the row comes from");

    if (p->errors != before)
        return -1;
    o->region = keep(p, &f[COL_REGION]);
    o->zone = keep(p, &f[COL_ZONE]);
    o->instance_type = keep(p, &f[COL_INSTANCE_TYPE]);
    o->as_of = keep(p, &f[COL_AS_OF]);
    o->source = keep(p, &f[COL_SOURCE]);
    if (!o->region || !o->zone || !o->instance_type || !o->as_of || !o->source) {
        report(p, "out-of-memory", csv->record_line, 1, 0, "out of memory");
        return -1;
    }
    return 0;
}

static int push_row(struct parser *p, const struct plan_offer *o, size_t line)
{
    if (p->nrows == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        struct row *r = realloc(p->rows, cap * sizeof(*r));
        if (!r)
            return -1;
        p->rows = r;
        p->cap = cap;
    }
    p->rows[p->nrows].offer = *o;
    p->rows[p->nrows].line = line;
    p->nrows++;
    return 0;
}

static int row_cmp(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    int c = plan_offer_cmp(&x->offer, &y->offer);
    if (c == 0 && x->line != y->line)
        c = x->line < y->line ? -1 : 1;
    return c;
}

/* Sorts the rows, reports duplicate keys and moves the offers into the catalog's arena. */
static int finish(struct parser *p)
{
    if (p->nrows)
        qsort(p->rows, p->nrows, sizeof(*p->rows), row_cmp);
    for (size_t i = 1; i < p->nrows; i++) {
        const struct plan_offer *a = &p->rows[i - 1].offer, *b = &p->rows[i].offer;
        if (plan_offer_cmp(a, b) != 0)
            continue;
        struct core_diag *g = report(
            p, "catalog-duplicate", p->rows[i].line, 1, 0,
            "duplicate offer: %s %s zone '%s' %s with %d %s is listed twice; keep one row",
            core_cloud_name(b->cloud), b->region, b->zone, b->instance_type, b->gpus, b->gpu);
        struct core_loc loc = {.src = source(p)};
        core_loc_set(&loc, p->rows[i - 1].line, 1, 0);
        core_diag_note(g, loc.src ? &loc : NULL, "first listed here");
    }
    if (p->errors)
        return -1;
    struct plan_catalog *cat = p->cat;
    cat->offers = core_arena_alloc(&cat->arena, (p->nrows ? p->nrows : 1) * sizeof(*cat->offers));
    if (!cat->offers) {
        report(p, "out-of-memory", 0, 0, 0, "out of memory");
        return -1;
    }
    cat->as_of = "";
    for (size_t i = 0; i < p->nrows; i++) {
        cat->offers[i] = p->rows[i].offer;
        if (strcmp(cat->offers[i].as_of, cat->as_of) > 0)
            cat->as_of = cat->offers[i].as_of;
    }
    cat->noffers = p->nrows;
    return 0;
}

static int parse_text(struct parser *p)
{
    struct plan_csv csv;
    if (plan_csv_init(&csv, p->text, p->len, NCOLS + 1, MAX_RECORD) != 0) {
        report(p, "out-of-memory", 0, 0, 0, "out of memory");
        return -1;
    }
    int rc = check_header(p, &csv);
    /* Stop at the error cap, once this catalog has errors of its own. */
    while (rc == 0 && !(p->errors && core_diags_full(p->diags))) {
        int r = plan_csv_next(&csv);
        if (r == 0)
            break;
        if (r < 0) {
            report(p, "catalog-syntax", csv.err_line, csv.err_col, 0, "%s", csv.err);
            continue;
        }
        if (csv.nfields != NCOLS) {
            const struct plan_csv_field *f = &csv.fields[csv.nfields < NCOLS ? 0 : NCOLS];
            report(p, "catalog-field", csv.record_line, csv.nfields < NCOLS ? 1 : f->col, 0,
                   csv.nfields < NCOLS
                       ? "row has %zu fields, the header has %d (empty values are written as "
                         "nothing between two commas)"
                       : "row has more than %zu fields, the header has %d (quote a value that "
                         "holds a comma)",
                   csv.nfields < NCOLS ? csv.nfields : (size_t)NCOLS, NCOLS);
            continue;
        }
        struct plan_offer o = {0};
        if (parse_row(p, &csv, &o) != 0)
            continue;
        if (push_row(p, &o, csv.record_line) != 0) {
            report(p, "out-of-memory", csv.record_line, 1, 0, "out of memory");
            break;
        }
    }
    plan_csv_release(&csv);
    if (rc == 0 && !(p->errors && core_diags_full(p->diags)))
        rc = finish(p); /* duplicates are reported even when other rows were bad */
    return p->errors ? -1 : rc;
}

/* Parses text[0..len) (BOM already removed) into a new catalog; `src` may be NULL. */
static int parse_into(const char *name, const char *text, size_t len, const char *sha256,
                      struct core_source *src, struct core_diags *diags, struct plan_catalog **out)
{
    *out = NULL;
    struct plan_catalog *cat = calloc(1, sizeof(*cat));
    if (!cat) {
        core_diag_add(diags, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory");
        return -1;
    }
    core_arena_init(&cat->arena, 0);
    cat->name = core_arena_strdup(&cat->arena, name);
    memcpy(cat->sha256, sha256, sizeof(cat->sha256));
    struct parser p = {
        .name = name, .text = text, .len = len, .src = src, .diags = diags, .cat = cat};
    int rc = cat->name ? parse_text(&p) : -1;
    free(p.rows);
    if (!cat->name)
        core_diag_add(diags, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory");
    if (rc != 0) {
        plan_catalog_free(cat);
        return -1;
    }
    *out = cat;
    return 0;
}

static size_t bom_len(const char *text, size_t len)
{
    return len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
}

static int too_big(struct core_diags *diags, struct core_source *src, size_t len)
{
    struct core_loc loc = {.src = src};
    core_diag_add(diags, CORE_SEV_ERROR, "catalog-size", src ? &loc : NULL,
                  "catalog is larger than the %zu MiB limit%s", PLAN_CATALOG_MAX_BYTES >> 20,
                  len ? "" : " (or could not be measured)");
    return -1;
}

int plan_catalog_parse(const char *name, const char *text, size_t len, struct core_diags *diags,
                       struct plan_catalog **out)
{
    *out = NULL;
    if (len > PLAN_CATALOG_MAX_BYTES)
        return too_big(diags, core_diags_add_source(diags, name, NULL, 0), len);
    char sha[65];
    if (plan_sha256_hex(text, len, sha) != 0) {
        core_diag_add(diags, CORE_SEV_ERROR, "catalog-io", NULL, "SHA-256 failed (OpenSSL)");
        return -1;
    }
    size_t skip = bom_len(text, len);
    return parse_into(name, text + skip, len - skip, sha, NULL, diags, out);
}

int plan_catalog_load(const char *path, struct core_diags *diags, struct plan_catalog **out)
{
    *out = NULL;
    char *text;
    size_t len;
    const char *why;
    bool big;
    if (plan_csv_read_file(path, PLAN_CATALOG_MAX_BYTES, &text, &len, &why, &big) != 0) {
        struct core_source *src = core_diags_add_source(diags, path, NULL, 0);
        if (big)
            return too_big(diags, src, len);
        struct core_loc loc = {.src = src};
        core_diag_add(diags, CORE_SEV_ERROR, "catalog-io", src ? &loc : NULL,
                      "cannot read catalog '%s': %s", path, why);
        return -1;
    }
    char sha[65];
    if (plan_sha256_hex(text, len, sha) != 0) {
        free(text);
        core_diag_add(diags, CORE_SEV_ERROR, "catalog-io", NULL, "SHA-256 failed (OpenSSL)");
        return -1;
    }
    size_t skip = bom_len(text, len);
    if (skip) { /* the diagnostics quote lines without it, as the spec reader does */
        memmove(text, text + skip, len - skip + 1);
        len -= skip;
    }
    struct core_source *src = core_diags_add_source(diags, path, text, len);
    if (!src) {
        core_diag_add(diags, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory");
        return -1;
    }
    int rc = parse_into(path, src->text, src->len, sha, src, diags, out);
    core_source_drop_text(src); /* re-read only if a diagnostic quotes a line */
    return rc;
}

int plan_catalog_load_bundled(struct core_diags *diags, struct plan_catalog **out)
{
    return plan_catalog_parse("bundled", (const char *)gpuform_catalog_data, gpuform_catalog_size,
                              diags, out);
}

void plan_catalog_free(struct plan_catalog *cat)
{
    if (!cat)
        return;
    core_arena_release(&cat->arena);
    free(cat);
}

/* ---- writing ---- */

/* A number with at most 6 decimals and no trailing zeros: 12, 0.5, 2.65389. */
static void put_number(FILE *out, double v)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%.6f", v);
    char *dot = strchr(buf, '.');
    if (dot) {
        char *e = buf + strlen(buf);
        while (e > dot + 1 && e[-1] == '0')
            e--;
        if (e == dot + 1)
            e = dot;
        *e = '\0';
    }
    fputs(buf, out);
}

static void put_price(FILE *out, double v)
{
    if (v >= 0)
        put_number(out, v);
}

static void put_text(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

int plan_catalog_write(const struct plan_catalog *cat, FILE *out)
{
    fputs(PLAN_CATALOG_HEADER "\n", out);
    for (size_t i = 0; i < cat->noffers; i++) {
        const struct plan_offer *o = &cat->offers[i];
        fputs(core_cloud_name(o->cloud), out);
        fputc(',', out);
        put_text(out, o->region);
        fputc(',', out);
        put_text(out, o->zone);
        fputc(',', out);
        put_text(out, o->instance_type);
        fputc(',', out);
        put_text(out, o->gpu);
        fprintf(out, ",%d,%d,", o->gpus, o->gpu_memory_gb);
        put_number(out, o->vcpus);
        fputc(',', out);
        put_number(out, o->ram_gib);
        fputc(',', out);
        put_price(out, o->ondemand);
        fputc(',', out);
        put_price(out, o->spot);
        fputc(',', out);
        put_text(out, o->as_of);
        fputc(',', out);
        put_text(out, o->source);
        fputc('\n', out);
    }
    return ferror(out) ? -1 : 0;
}

char *plan_catalog_render(const struct plan_catalog *cat, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f)
        return NULL;
    int rc = plan_catalog_write(cat, f);
    if (fclose(f) != 0 || rc != 0) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static int io_error(struct core_diags *diags, const char *what, const char *path, int err)
{
    core_diag_add(diags, CORE_SEV_ERROR, "catalog-io", NULL, "cannot %s '%s': %s", what, path,
                  strerror(err));
    return -1;
}

int plan_catalog_save(const struct plan_catalog *cat, const char *path, struct core_diags *diags,
                      char sha256[65])
{
    size_t len;
    char *text = plan_catalog_render(cat, &len);
    if (!text) {
        core_diag_add(diags, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory");
        return -1;
    }
    if (sha256 && plan_sha256_hex(text, len, sha256) != 0) {
        free(text);
        core_diag_add(diags, CORE_SEV_ERROR, "catalog-io", NULL, "SHA-256 failed (OpenSSL)");
        return -1;
    }
    /* Keep an existing file's permissions; a new one gets rw-r--r--. */
    mode_t mode = 0644;
    struct stat st;
    if (stat(path, &st) == 0) {
        if (!S_ISREG(st.st_mode)) { /* never rename over a directory, /dev/null or a pipe */
            free(text);
            core_diag_add(diags, CORE_SEV_ERROR, "catalog-io", NULL,
                          "cannot write the catalog to '%s': it exists and is not a regular file",
                          path);
            return -1;
        }
        mode = st.st_mode & 0777;
    }
    int err = core_write_atomic(path, text, len, mode);
    free(text);
    return err ? io_error(diags, "write the catalog to", path, err) : 0;
}
