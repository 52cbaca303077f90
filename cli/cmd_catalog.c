/*
 * `gpuform catalog`: `list` shows the cheapest offer per GPU model, GPU count, cloud and
 * region (as `sky show-gpus` does), so a plan can be checked by hand; `import` turns
 * SkyPilot's vms.csv catalogs into gpuform's catalog format; `update` refreshes a catalog's
 * prices from the clouds' price APIs. docs/catalog.md has all three.
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/cloud.h"
#include "core/diag.h"
#include "core/gpu_models.h"
#include "core/suggest.h"
#include "planner/catalog.h"
#include "planner/catalog_import.h"
#include "planner/catalog_update.h"

#define MAX_FILES 256 /* FILE and --gcp-host-vms arguments of one import */
#define MAX_GLOBS 64  /* --only and --gpu options of one import */

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A usage error: the problem, then where the options are described. */
static int usage(const char *fmt, ...)
{
    va_list ap;
    fputs("gpuform catalog: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n'gpuform catalog --help' shows the subcommands and their options\n", stderr);
    return CLI_ERROR;
}

static void render(struct core_diags *d)
{
    core_diags_sort(d);
    core_diags_render(d, CORE_DIAG_TEXT, cli_use_color(stderr), stderr);
}

/* 1234567 -> "1,234,567" */
static const char *thousands(char *buf, size_t size, size_t n)
{
    char tmp[32];
    int len = snprintf(tmp, sizeof(tmp), "%zu", n);
    size_t o = 0;
    for (int i = 0; i < len && o + 2 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = '\0';
    return buf;
}

static int load_catalog(const char *path, struct plan_catalog **cat)
{
    struct core_diags d;
    core_diags_init(&d, 50);
    int rc = path ? plan_catalog_load(path, &d, cat) : plan_catalog_load_bundled(&d, cat);
    if (rc != 0) {
        render(&d);
        bool io = d.n == 1 && (!strcmp(d.items[0].code, "catalog-io") ||
                               !strcmp(d.items[0].code, "catalog-size"));
        if (!io)
            fprintf(stderr, "gpuform: the catalog '%s' has %zu error%s; fix %s and run again\n",
                    path ? path : "bundled", d.errors, d.errors == 1 ? "" : "s",
                    d.errors == 1 ? "it" : "them");
    }
    core_diags_release(&d);
    return rc;
}

/* ---- list ---- */

struct list_opts {
    const struct core_gpu_model *gpu;
    int gpus;  /* 0: any count */
    int cloud; /* -1: any */
    const char *region;
    bool spot, json;
    const char *catalog;
};

/* One line of the listing: the cheapest instance type of a (GPU, count, cloud, region). */
struct list_row {
    const struct plan_offer *offer; /* one offer of the chosen type (its specs and source) */
    size_t zones;                   /* zones offering the type in the region; 0: region-priced */
    double ondemand, spot;          /* the lowest over those zones; < 0 when none */
    const char *as_of;              /* the newest as_of among those offers */
    double key;                     /* the price the row is ranked by (see rank) */
};

static int by_group(const void *a, const void *b)
{
    const struct plan_offer *x = *(const struct plan_offer *const *)a;
    const struct plan_offer *y = *(const struct plan_offer *const *)b;
    int c = strcmp(x->gpu, y->gpu);
    if (c == 0 && x->gpus != y->gpus)
        c = x->gpus < y->gpus ? -1 : 1;
    if (c == 0 && x->cloud != y->cloud)
        c = x->cloud < y->cloud ? -1 : 1;
    if (c == 0)
        c = strcmp(x->region, y->region);
    if (c == 0)
        c = strcmp(x->instance_type, y->instance_type);
    if (c == 0)
        c = strcmp(x->zone, y->zone);
    return c;
}

static bool same_group(const struct plan_offer *x, const struct plan_offer *y)
{
    return x->gpu == y->gpu && x->gpus == y->gpus && x->cloud == y->cloud &&
           strcmp(x->region, y->region) == 0;
}

/* The price a row is ranked by: on-demand (spot when there is none, after every on-demand
 * price), or spot with --spot. */
static double rank(const struct list_row *r, bool spot)
{
    if (spot)
        return r->spot;
    return r->ondemand >= 0 ? r->ondemand : 1e12 + r->spot;
}

static bool cheaper(const struct list_row *a, const struct list_row *b, bool spot)
{
    double x = rank(a, spot), y = rank(b, spot);
    if (x != y)
        return x < y;
    return strcmp(a->offer->instance_type, b->offer->instance_type) < 0;
}

static int by_price(const void *a, const void *b)
{
    const struct list_row *x = a, *y = b;
    int c = strcmp(x->offer->gpu, y->offer->gpu);
    if (c == 0 && x->offer->gpus != y->offer->gpus)
        c = x->offer->gpus < y->offer->gpus ? -1 : 1;
    if (c == 0 && x->key != y->key)
        c = x->key < y->key ? -1 : 1;
    if (c == 0 && x->offer->cloud != y->offer->cloud)
        c = x->offer->cloud < y->offer->cloud ? -1 : 1;
    if (c == 0)
        c = strcmp(x->offer->region, y->offer->region);
    return c;
}

static bool matches(const struct plan_offer *o, const struct list_opts *lo)
{
    if (lo->gpu && o->gpu != lo->gpu->name)
        return false;
    if (lo->gpus && o->gpus != lo->gpus)
        return false;
    if (lo->cloud >= 0 && (int)o->cloud != lo->cloud)
        return false;
    if (lo->region && strcmp(o->region, lo->region) != 0)
        return false;
    return !lo->spot || o->spot >= 0;
}

/* Fills rows (capacity cat->noffers) with the cheapest type per group; returns the count. */
static size_t list_rows(const struct plan_catalog *cat, const struct list_opts *lo,
                        const struct plan_offer **sel, struct list_row *rows)
{
    size_t n = 0;
    for (size_t i = 0; i < cat->noffers; i++)
        if (matches(&cat->offers[i], lo))
            sel[n++] = &cat->offers[i];
    if (n)
        qsort(sel, n, sizeof(*sel), by_group);
    size_t nrows = 0;
    for (size_t i = 0; i < n;) {
        /* One group: the same GPU, count, cloud and region; runs of one instance type. */
        struct list_row best = {0};
        size_t j = i;
        while (j < n && same_group(sel[i], sel[j])) {
            struct list_row r = {.offer = sel[j], .ondemand = -1, .spot = -1, .as_of = ""};
            size_t k = j;
            for (; k < n && same_group(sel[i], sel[k]) &&
                   strcmp(sel[k]->instance_type, sel[j]->instance_type) == 0;
                 k++) {
                const struct plan_offer *o = sel[k];
                if (*o->zone)
                    r.zones++;
                if (o->ondemand >= 0 && (r.ondemand < 0 || o->ondemand < r.ondemand))
                    r.ondemand = o->ondemand;
                if (o->spot >= 0 && (r.spot < 0 || o->spot < r.spot))
                    r.spot = o->spot;
                if (strcmp(o->as_of, r.as_of) > 0)
                    r.as_of = o->as_of;
            }
            if (!best.offer || cheaper(&r, &best, lo->spot))
                best = r;
            j = k;
        }
        best.key = rank(&best, lo->spot);
        rows[nrows++] = best;
        i = j;
    }
    if (nrows)
        qsort(rows, nrows, sizeof(*rows), by_price);
    return nrows;
}

static double round6(double v)
{
    return round(v * 1e6) / 1e6;
}

static json_t *price_json(double v)
{
    return v >= 0 ? json_real(round6(v)) : json_null();
}

static void print_json(const struct list_row *rows, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct list_row *r = &rows[i];
        const struct plan_offer *o = r->offer;
        json_t *obj = json_object();
        json_object_set_new(obj, "gpu", json_string(o->gpu));
        json_object_set_new(obj, "gpus", json_integer(o->gpus));
        json_object_set_new(obj, "cloud", json_string(core_cloud_name(o->cloud)));
        json_object_set_new(obj, "region", json_string(o->region));
        json_object_set_new(obj, "instance_type", json_string(o->instance_type));
        json_object_set_new(obj, "zones", json_integer((json_int_t)r->zones));
        json_object_set_new(obj, "gpu_memory_gb", json_integer(o->gpu_memory_gb));
        json_object_set_new(obj, "vcpus", json_real(round6(o->vcpus)));
        json_object_set_new(obj, "ram_gib", json_real(round6(o->ram_gib)));
        json_object_set_new(obj, "ondemand_usd_hour", price_json(r->ondemand));
        json_object_set_new(obj, "ondemand_usd_gpu_hour",
                            price_json(r->ondemand >= 0 ? r->ondemand / o->gpus : -1));
        json_object_set_new(obj, "spot_usd_hour", price_json(r->spot));
        json_object_set_new(obj, "spot_usd_gpu_hour",
                            price_json(r->spot >= 0 ? r->spot / o->gpus : -1));
        json_object_set_new(obj, "as_of", json_string(r->as_of));
        json_object_set_new(obj, "source", json_string(o->source));
        json_array_append_new(arr, obj);
    }
    json_dumpf(arr, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    putchar('\n');
    json_decref(arr);
}

static void price_cell(char *buf, size_t size, double v)
{
    if (v < 0)
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.4f", v);
}

static void print_table(const struct list_row *rows, size_t n)
{
    int wg = 3, wr = 6, wt = 13;
    for (size_t i = 0; i < n; i++) {
        int g = (int)strlen(rows[i].offer->gpu), r = (int)strlen(rows[i].offer->region);
        int t = (int)strlen(rows[i].offer->instance_type);
        wg = g > wg ? g : wg;
        wr = r > wr ? r : wr;
        wt = t > wt ? t : wt;
    }
    printf("%-*s %4s  %-5s  %-*s  %-*s  %5s  %10s  %9s  %10s  %9s\n", wg, "GPU", "QTY", "CLOUD", wr,
           "REGION", wt, "INSTANCE_TYPE", "ZONES", "ON-DEMAND", "$/GPU-H", "SPOT", "$/GPU-H");
    for (size_t i = 0; i < n; i++) {
        const struct list_row *r = &rows[i];
        const struct plan_offer *o = r->offer;
        char zones[24], od[32], odg[32], sp[32], spg[32];
        if (r->zones)
            snprintf(zones, sizeof(zones), "%zu", r->zones);
        else
            snprintf(zones, sizeof(zones), "-");
        price_cell(od, sizeof(od), r->ondemand);
        price_cell(odg, sizeof(odg), r->ondemand >= 0 ? r->ondemand / o->gpus : -1);
        price_cell(sp, sizeof(sp), r->spot);
        price_cell(spg, sizeof(spg), r->spot >= 0 ? r->spot / o->gpus : -1);
        printf("%-*s %4d  %-5s  %-*s  %-*s  %5s  %10s  %9s  %10s  %9s\n", wg, o->gpu, o->gpus,
               core_cloud_name(o->cloud), wr, o->region, wt, o->instance_type, zones, od, odg, sp,
               spg);
    }
}

/* "no offers match: gpu B200 x 8, cloud aws, region us-east-1, with a spot price" */
static void print_no_match(const struct list_opts *lo)
{
    const char *sep = ": ";
    fputs("no offers match", stdout);
    if (lo->gpu) {
        printf("%sgpu %s", sep, lo->gpu->name);
        if (lo->gpus)
            printf(" x %d", lo->gpus);
        sep = ", ";
    }
    if (lo->cloud >= 0) {
        printf("%scloud %s", sep, core_cloud_name((enum core_cloud)lo->cloud));
        sep = ", ";
    }
    if (lo->region) {
        printf("%sregion %s", sep, lo->region);
        sep = ", ";
    }
    if (lo->spot)
        printf("%swith a spot price", sep);
    putchar('\n');
}

static void print_footer(const struct plan_catalog *cat, size_t nrows, const struct list_opts *lo)
{
    const char *oldest = cat->as_of;
    for (size_t i = 0; i < cat->noffers; i++)
        if (strcmp(cat->offers[i].as_of, oldest) < 0)
            oldest = cat->offers[i].as_of;
    char a[32], b[32];
    if (nrows)
        printf("\n%s row%s: the cheapest instance type per GPU model, GPU count, cloud and "
               "region, by %s price\n"
               "(prices in USD per hour, lowest over the region's zones; ZONES: zones offering "
               "the type, - when priced per region)\n",
               thousands(a, sizeof(a), nrows), nrows == 1 ? "" : "s",
               lo->spot ? "spot" : "on-demand");
    else
        print_no_match(lo);
    printf("catalog: %s%s, %s offers, as of %s%s%s, sha256 %.12s\n", cat->name,
           strcmp(cat->name, "bundled") ? "" : " (specs/catalog/gpuform-catalog.csv)",
           thousands(b, sizeof(b), cat->noffers), oldest, strcmp(oldest, cat->as_of) ? " to " : "",
           strcmp(oldest, cat->as_of) ? cat->as_of : "", cat->sha256);
}

/* --gpu NAME[:COUNT] */
static int parse_gpu(const char *arg, struct list_opts *lo)
{
    char name[128];
    const char *colon = strrchr(arg, ':');
    size_t len = colon ? (size_t)(colon - arg) : strlen(arg);
    if (len == 0 || len >= sizeof(name))
        return usage("--gpu needs a GPU model, as NAME or NAME:COUNT (H100, H100:8)");
    memcpy(name, arg, len);
    name[len] = '\0';
    if (colon) {
        char *end;
        long n = strtol(colon + 1, &end, 10);
        if (*end || end == colon + 1 || n < 1 || n > 4096)
            return usage("--gpu '%s': the count after ':' must be a whole number from 1", arg);
        lo->gpus = (int)n;
    }
    lo->gpu = core_gpu_model_find(name);
    if (!lo->gpu) {
        size_t n;
        const struct core_gpu_model *m = core_gpu_models(&n);
        const char **names = malloc(n * sizeof(*names));
        const char *s = NULL;
        if (names) {
            for (size_t i = 0; i < n; i++)
                names[i] = m[i].name;
            s = core_suggest(name, names, n);
        }
        fprintf(stderr, "gpuform catalog: unknown GPU model '%s'", name);
        if (s)
            fprintf(stderr, " (did you mean '%s'?)", s);
        fputs("; 'gpuform gpus' lists the models and their aliases\n", stderr);
        free(names);
        return CLI_ERROR;
    }
    return CLI_OK;
}

static int check_region(const struct list_opts *lo)
{
    for (int c = 0; c < CORE_CLOUD_COUNT; c++)
        if ((lo->cloud < 0 || lo->cloud == c) && core_region_known((enum core_cloud)c, lo->region))
            return CLI_OK;
    const char *s = NULL;
    for (int c = 0; c < CORE_CLOUD_COUNT && !s; c++) {
        if (lo->cloud >= 0 && lo->cloud != c)
            continue;
        size_t n;
        const char *const *regions = core_cloud_regions((enum core_cloud)c, &n);
        s = core_suggest(lo->region, regions, n);
    }
    fprintf(stderr, "gpuform catalog: unknown %s region '%s'",
            lo->cloud >= 0 ? core_cloud_name((enum core_cloud)lo->cloud) : "", lo->region);
    if (s)
        fprintf(stderr, " (did you mean '%s'?)", s);
    fputc('\n', stderr);
    return CLI_ERROR;
}

static int parse_cloud(const char *arg, int *cloud)
{
    *cloud = core_cloud_from_name(arg);
    if (*cloud < 0)
        return usage("unknown cloud '%s': gpuform plans for aws, gcp and azure", arg);
    return CLI_OK;
}

static int cmd_list(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"gpu", required_argument, NULL, 'g'},
        {"cloud", required_argument, NULL, 'c'},
        {"region", required_argument, NULL, 'r'},
        {"spot", no_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"catalog", required_argument, NULL, 'C'},
        {NULL, 0, NULL, 0},
    };
    struct list_opts lo = {.cloud = -1};
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (ch) {
        case 'g':
            if (parse_gpu(optarg, &lo) != CLI_OK)
                return CLI_ERROR;
            break;
        case 'c':
            if (parse_cloud(optarg, &lo.cloud) != CLI_OK)
                return CLI_ERROR;
            break;
        case 'r':
            lo.region = optarg;
            break;
        case 's':
            lo.spot = true;
            break;
        case 'j':
            lo.json = true;
            break;
        case 'C':
            lo.catalog = optarg;
            break;
        case ':':
            return usage("option '%s' needs a value", argv[optind - 1]);
        default:
            return usage("unknown option '%s' for 'catalog list'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage("'catalog list' takes no arguments, only options (got '%s')", argv[optind]);
    if (lo.region && check_region(&lo) != CLI_OK)
        return CLI_ERROR;

    struct plan_catalog *cat;
    if (load_catalog(lo.catalog, &cat) != 0)
        return CLI_ERROR;
    size_t cap = cat->noffers ? cat->noffers : 1;
    const struct plan_offer **sel = malloc(cap * sizeof(*sel));
    struct list_row *rows = malloc(cap * sizeof(*rows));
    if (!sel || !rows) {
        free(sel);
        free(rows);
        plan_catalog_free(cat);
        fputs("gpuform: out of memory\n", stderr);
        return CLI_ERROR;
    }
    size_t n = list_rows(cat, &lo, sel, rows);
    if (lo.json) {
        print_json(rows, n);
    } else {
        if (n)
            print_table(rows, n);
        print_footer(cat, n, &lo);
    }
    free(sel);
    free(rows);
    plan_catalog_free(cat);
    return CLI_OK;
}

/* ---- import ---- */

struct import_args {
    struct plan_import_options opts;
    const char *format, *out;
    bool merge;
    const char *hosts[MAX_FILES];
    size_t nhosts;
    const char *only[MAX_GLOBS], *gpus[MAX_GLOBS];
};

static int parse_import(int argc, char **argv, struct import_args *a, int *first)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'f'},
        {"cloud", required_argument, NULL, 'c'},
        {"gcp-host-vms", required_argument, NULL, 'H'},
        {"out", required_argument, NULL, 'o'},
        {"as-of", required_argument, NULL, 'a'},
        {"source", required_argument, NULL, 's'},
        {"only", required_argument, NULL, 'O'},
        {"gpu", required_argument, NULL, 'g'},
        {"merge", no_argument, NULL, 'm'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (ch) {
        case 'f':
            a->format = optarg;
            break;
        case 'c':
            if (parse_cloud(optarg, &a->opts.cloud) != CLI_OK)
                return CLI_ERROR;
            break;
        case 'H':
            if (a->nhosts == MAX_FILES)
                return usage("more than %d --gcp-host-vms files", MAX_FILES);
            a->hosts[a->nhosts++] = optarg;
            break;
        case 'o':
            a->out = optarg;
            break;
        case 'a':
            a->opts.as_of = optarg;
            break;
        case 's':
            a->opts.source = optarg;
            break;
        case 'O':
            if (a->opts.nonly == MAX_GLOBS)
                return usage("more than %d --only patterns", MAX_GLOBS);
            a->only[a->opts.nonly++] = optarg;
            break;
        case 'g':
            if (a->opts.ngpus == MAX_GLOBS)
                return usage("more than %d --gpu options", MAX_GLOBS);
            a->gpus[a->opts.ngpus++] = optarg;
            break;
        case 'm':
            a->merge = true;
            break;
        case ':':
            return usage("option '%s' needs a value", argv[optind - 1]);
        default:
            return usage("unknown option '%s' for 'catalog import'", argv[optind - 1]);
        }
    }
    if (!a->format)
        return usage("'catalog import' needs --format skypilot (the only format it reads "
                     "today)");
    if (strcmp(a->format, "skypilot") != 0)
        return usage("unknown --format '%s': gpuform imports SkyPilot catalogs (--format "
                     "skypilot)",
                     a->format);
    if (!a->out)
        return usage("'catalog import' needs --out PATH: where to write the catalog");
    if (optind >= argc)
        return usage("'catalog import' needs the SkyPilot vms.csv files to read");
    if (argc - optind > MAX_FILES)
        return usage("more than %d files", MAX_FILES);
    *first = optind;
    return CLI_OK;
}

static void print_summary(const struct plan_import_stats *st, const struct import_args *a,
                          const struct plan_catalog *cat, const char *sha)
{
    char n1[32], n2[32], n3[32];
    printf("read %s file%s: %s rows", thousands(n1, sizeof(n1), st->files),
           st->files == 1 ? "" : "s", thousands(n2, sizeof(n2), st->rows));
    if (st->host_rows && st->accel_rows)
        printf(" (%s of them GCP host VM prices, for %s GCP GPU row%s priced without a VM)",
               thousands(n3, sizeof(n3), st->host_rows), thousands(n1, sizeof(n1), st->accel_rows),
               st->accel_rows == 1 ? "" : "s");
    else if (st->host_rows)
        printf(" (%s of them GCP host VM prices, unused: no GCP GPU row needs a VM)",
               thousands(n3, sizeof(n3), st->host_rows));
    putchar('\n');
    if (st->files_skipped)
        printf("skipped %zu file%s for other clouds than %s (--cloud)\n", st->files_skipped,
               st->files_skipped == 1 ? "" : "s", core_cloud_name((enum core_cloud)a->opts.cloud));
    size_t skipped = 0;
    for (int i = 0; i < PLAN_SKIP_COUNT; i++)
        skipped += st->skipped[i];
    printf("imported %s offer%s", thousands(n1, sizeof(n1), st->imported),
           st->imported == 1 ? "" : "s");
    if (a->merge)
        printf(", kept %s of the catalog already there, replaced %s",
               thousands(n2, sizeof(n2), st->kept), thousands(n3, sizeof(n3), st->replaced));
    printf("; skipped %s row%s%s\n", thousands(n2, sizeof(n2), skipped), skipped == 1 ? "" : "s",
           skipped ? ":" : "");
    for (int i = 0; i < PLAN_SKIP_COUNT; i++) {
        if (!st->skipped[i])
            continue;
        printf("  %8s  %s (first: %s)", thousands(n1, sizeof(n1), st->skipped[i]),
               plan_import_skip_name((enum plan_import_skip)i), st->first[i] ? st->first[i] : "?");
        for (size_t k = 0; k < st->nexamples[i]; k++)
            printf("%s%s", k ? ", " : ": ", st->examples[i][k]);
        if (st->nexamples[i] == PLAN_IMPORT_EXAMPLES)
            fputs(", ...", stdout);
        putchar('\n');
    }
    printf("wrote %s: %s offer%s, sha256 %.12s\n", a->out, thousands(n1, sizeof(n1), cat->noffers),
           cat->noffers == 1 ? "" : "s", sha);
    if (cat->noffers == 0)
        printf("note: the catalog is empty: no row of the input is a GPU offer gpuform can "
               "plan with (see the reasons above)\n");
}

static int cmd_import(int argc, char **argv)
{
    struct import_args a = {.opts = {.cloud = -1}};
    a.opts.only = a.only;
    a.opts.gpus = a.gpus;
    int first = 0;
    if (parse_import(argc, argv, &a, &first) != CLI_OK)
        return CLI_ERROR;

    struct core_diags d;
    core_diags_init(&d, 50);
    struct plan_import *imp = NULL;
    struct plan_catalog *base = NULL, *cat = NULL;
    int rc = plan_import_check_options(&a.opts, &d);
    if (rc == 0 && !(imp = plan_import_new(&a.opts))) {
        core_diag_add(&d, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory");
        rc = -1;
    }
    if (rc == 0 && a.merge && access(a.out, F_OK) == 0) {
        rc = plan_catalog_load(a.out, &d, &base);
        if (rc == 0 && plan_import_merge(imp, base) != 0) {
            core_diag_add(&d, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory");
            rc = -1;
        }
    }
    for (size_t i = 0; rc == 0 && i < a.nhosts; i++)
        if (plan_import_add_gcp_hosts(imp, a.hosts[i], &d) < 0)
            rc = -1;
    /* Read every file, so one run reports the problems of all of them. */
    for (int i = first; (rc == 0 || !core_diags_full(&d)) && i < argc; i++)
        if (imp && plan_import_add_file(imp, argv[i], &d) < 0)
            rc = -1;
    const struct plan_import_stats *st = imp ? plan_import_stats(imp) : NULL;
    if (rc == 0 && st->accel_rows && !st->host_rows) {
        core_diag_add(&d, CORE_SEV_ERROR, "import-gcp-hosts", NULL,
                      "%zu GCP GPU row%s priced apart from the VM they attach to, but no host "
                      "VM row was read: pass SkyPilot's host VM prices with --gcp-host-vms FILE "
                      "(gcp_gpu_host_vms.csv in the shared data; skypilot-catalog keeps them in "
                      "gcp/vms.csv itself)",
                      st->accel_rows, st->accel_rows == 1 ? " is" : "s are");
        rc = -1;
    }
    char sha[65] = "";
    if (rc == 0)
        rc = plan_import_finish(imp, &d, &cat);
    if (rc == 0)
        rc = plan_catalog_save(cat, a.out, &d, sha);
    render(&d);
    if (rc == 0)
        print_summary(st, &a, cat, sha);
    else if (access(a.out, F_OK) == 0)
        fprintf(stderr, "gpuform: nothing written; '%s' is unchanged\n", a.out);
    else
        fprintf(stderr, "gpuform: nothing written\n");
    core_diags_release(&d);
    plan_catalog_free(cat);
    plan_catalog_free(base);
    plan_import_free(imp);
    return rc == 0 ? CLI_OK : CLI_ERROR;
}

/* ---- update ---- */

struct update_args {
    const char *catalog, *out, *key_env;
    bool clouds_given;
    struct plan_update_options opts;
};

static int parse_update(int argc, char **argv, struct update_args *a)
{
    static const struct option longopts[] = {
        {"catalog", required_argument, NULL, 'C'},
        {"out", required_argument, NULL, 'o'},
        {"cloud", required_argument, NULL, 'c'},
        {"gcp-api-key-env", required_argument, NULL, 'k'},
        {"as-of", required_argument, NULL, 'a'},
        {"azure-url", required_argument, NULL, 'Z'},
        {"aws-url", required_argument, NULL, 'W'},
        {"gcp-url", required_argument, NULL, 'G'},
        {"aws-max-mb", required_argument, NULL, 'm'},
        {"aws-format", required_argument, NULL, 'F'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        int cloud;
        char *end;
        unsigned long mb;
        switch (ch) {
        case 'C':
            a->catalog = optarg;
            break;
        case 'o':
            a->out = optarg;
            break;
        case 'c':
            if (parse_cloud(optarg, &cloud) != CLI_OK)
                return CLI_ERROR;
            a->opts.cloud[cloud] = true;
            a->clouds_given = true;
            break;
        case 'k':
            a->key_env = optarg;
            break;
        case 'a':
            a->opts.as_of = optarg;
            break;
        case 'Z':
            a->opts.azure_url = optarg;
            break;
        case 'W':
            a->opts.aws_url = optarg;
            break;
        case 'G':
            a->opts.gcp_url = optarg;
            break;
        case 'F':
            if (strcmp(optarg, "csv") != 0 && strcmp(optarg, "json") != 0)
                return usage("--aws-format '%s': csv (streamed, the default) or json", optarg);
            a->opts.aws_json = strcmp(optarg, "json") == 0;
            break;
        case 'm':
            errno = 0;
            mb = strtoul(optarg, &end, 10);
            if (errno || *end || mb == 0 || mb > 1048576)
                return usage("--aws-max-mb '%s': a whole number of MiB from 1 to 1048576", optarg);
            a->opts.aws_max_bytes = (size_t)mb << 20;
            break;
        case ':':
            return usage("option '%s' needs a value", argv[optind - 1]);
        default:
            return usage("unknown option '%s' for 'catalog update'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage("'catalog update' takes no arguments, only options (got '%s')", argv[optind]);
    return CLI_OK;
}

/* --out, or the catalog given, or ~/.gpuform/catalog.csv (its folder made when missing). */
static int update_out_path(struct update_args *a, char *buf, size_t size)
{
    if (a->out == NULL)
        a->out = a->catalog;
    if (a->out != NULL)
        return CLI_OK;
    const char *home = getenv("HOME");
    if (home == NULL || *home == '\0')
        return usage("HOME is not set: say where to write the catalog with --out PATH");
    snprintf(buf, size, "%s/.gpuform", home);
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "gpuform: cannot create '%s': %s\n", buf, strerror(errno));
        return CLI_ERROR;
    }
    snprintf(buf, size, "%s/.gpuform/catalog.csv", home);
    a->out = buf;
    return CLI_OK;
}

static const char *env_or(const char *given, const char *name)
{
    if (given != NULL)
        return given;
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? v : NULL;
}

static void print_update_summary(const struct plan_update_stats *st, const bool *cloud)
{
    for (int c = 0; c < CORE_CLOUD_COUNT; c++) {
        if (!cloud[c])
            continue;
        char n1[32], n2[32], n3[32], n4[32];
        printf("%-5s  %s rows: %s refreshed (%s with a new price), %s kept as they were (no "
               "price in the source)\n",
               core_cloud_name((enum core_cloud)c), thousands(n1, sizeof n1, st->rows[c]),
               thousands(n2, sizeof n2, st->updated[c]), thousands(n3, sizeof n3, st->changed[c]),
               thousands(n4, sizeof n4, st->kept[c]));
    }
}

static int cmd_update(int argc, char **argv)
{
    struct update_args a = {.key_env = "GPUFORM_GCP_API_KEY"};
    if (parse_update(argc, argv, &a) != CLI_OK)
        return CLI_ERROR;
    char today[16], outbuf[4096];
    if (a.opts.as_of == NULL) {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(today, sizeof today, "%Y-%m-%d", &tm);
        a.opts.as_of = today;
    }
    a.opts.azure_url = env_or(a.opts.azure_url, "GPUFORM_AZURE_PRICES_URL");
    a.opts.aws_url = env_or(a.opts.aws_url, "GPUFORM_AWS_PRICES_URL");
    a.opts.gcp_url = env_or(a.opts.gcp_url, "GPUFORM_GCP_PRICES_URL");
    a.opts.gcp_api_key = env_or(NULL, a.key_env);
    if (!a.clouds_given) {
        a.opts.cloud[CORE_CLOUD_AWS] = a.opts.cloud[CORE_CLOUD_AZURE] = true;
        a.opts.cloud[CORE_CLOUD_GCP] = a.opts.gcp_api_key != NULL;
        if (a.opts.gcp_api_key == NULL)
            fprintf(stderr,
                    "gpuform: note: gcp skipped: the Cloud Billing Catalog needs an API key in "
                    "$%s (or --cloud aws --cloud azure to say so)\n",
                    a.key_env);
    }
    if (update_out_path(&a, outbuf, sizeof outbuf) != CLI_OK)
        return CLI_ERROR;

    struct core_http_options ho = {.user_agent = "gpuform-catalog-update"};
    struct core_http_client *http = core_http_client_new(&ho);
    struct core_diags d;
    core_diags_init(&d, 50);
    struct plan_update_stats st;
    char sha[65] = "";
    size_t noffers = 0;
    int rc = -1;
    if (http == NULL) {
        core_diag_add(&d, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory");
    } else {
        a.opts.http = http;
        rc = plan_catalog_update_file(a.catalog, a.out, &a.opts, &st, &d, sha, &noffers);
    }
    render(&d);
    if (rc == 0) {
        print_update_summary(&st, a.opts.cloud);
        char n1[32];
        printf("wrote %s: %s offers, sha256 %.12s (%zu price requests)\n", a.out,
               thousands(n1, sizeof n1, noffers), sha, st.requests);
    } else if (access(a.out, F_OK) == 0) {
        fprintf(stderr, "gpuform: catalog update failed; '%s' is unchanged\n", a.out);
    } else {
        fprintf(stderr, "gpuform: catalog update failed; nothing written\n");
    }
    core_diags_release(&d);
    core_http_client_free(http);
    return rc == 0 ? CLI_OK : CLI_ERROR;
}

int cmd_catalog(int argc, char **argv)
{
    if (argc < 2)
        return usage("which subcommand: list, import or update?");
    if (strcmp(argv[1], "list") == 0)
        return cmd_list(argc - 1, argv + 1);
    if (strcmp(argv[1], "import") == 0)
        return cmd_import(argc - 1, argv + 1);
    if (strcmp(argv[1], "update") == 0)
        return cmd_update(argc - 1, argv + 1);
    return usage("unknown subcommand '%s' (list, import or update)", argv[1]);
}
