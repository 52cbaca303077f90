/*
 * gen_plan: a seeded, deterministic instance generator for benchmarking `gpuform plan`.
 *
 *   cc -O2 -std=c11 -o gen_plan bench/plan/gen_plan.c -lm
 *   gen_plan --family slack|tight|oversubscribed|real --workloads W --offers O
 *            [--seed S] [--infeasible quota|budget] [--real-dir DIR] OUTDIR
 *
 * Writes, under OUTDIR:
 *   stack/stack.yaml          version, stack, defaults, clouds (regions, quotas), budgets
 *   stack/workloads-NN.yaml   the workloads, at most 20,000 per file (a file is at most
 *                             32 MiB for gpuform)
 *   catalog.csv               O offers in gpuform's catalog format (planner/catalog.h)
 *   instance.txt              the same problem, resolved (allowed regions, models,
 *                             budget membership), for bench/plan/baseline.c
 *   gen.txt                   what was generated, and the witness's cost
 *   witness.json              the witness placement, in the node format of docs/plan-json.md
 *                             (`baseline --check witness.json OUTDIR` proves the instance
 *                             feasible, or shows which constraint --infeasible breaks)
 *
 * Families:
 *   slack           quotas at twice the unconstrained optimum's use, budgets at 1.5x
 *   tight           quotas cut to 60% of what the unconstrained optimum uses in each region
 *                   it uses, budgets 1% above a feasible witness: both bind
 *   oversubscribed  the regions the workloads prefer get 35% of that demand; every quota
 *                   is then set 3% (at least 8 GPUs) above what a feasible witness uses and
 *                   every other region gets 0: demand is about 97% of supply and most
 *                   workloads must move to dearer regions, zones or spot
 *   real            offers from the SkyPilot catalogs in --real-dir (default
 *                   /work/shared/data/catalog): aws_gpu_vms.csv, gcp_gpu_vms.csv joined
 *                   with gcp_gpu_host_vms.csv, azure_gpu_vms.csv; replicated across extra
 *                   zones (prices within +-3%) until O offers; quotas and budgets as tight
 *                   (quotas at 70%)
 * --infeasible quota   every quota at 90% of the witness's use and "*" at 0: total quota is
 *                      below total demand, so no plan exists
 * --infeasible budget  the budget 'total' at 90% of the sum of each workload's cheapest
 *                      possible hourly price, so no plan exists
 *
 * Every instance is feasible unless --infeasible is given: a witness placement (a greedy,
 * workload by workload, that honours every constraint) is built while generating, and the
 * quotas and budgets written are never below what the witness uses. Every constraint kind
 * appears: GPU name lists, memory ranges, clouds allow lists, region include/exclude globs,
 * spot never/auto/always, together region/zone, spread clouds, max_per_region, quotas per
 * region and "*", budgets (hourly, monthly) with label selectors, federated sites, data
 * location and size (egress). Region names are those in the SkyPilot catalogs; GPU names
 * are canonical `gpuform gpus` names. The stack passes `gpuform validate --strict`.
 *
 * Deterministic: the same arguments give byte-identical files (own PRNG, no clock, no
 * locale). Workloads are streamed to disk; offers are held in memory (about 40 bytes each).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#define ARRAY_LEN(a)       (sizeof(a) / sizeof((a)[0]))
#define WORKLOADS_PER_FILE 20000
#define MAX_REGIONS        256
#define MAX_NODES          64 /* nodes per generated workload, at most */
#define MAX_SITES          6

/* ---------------------------------------------------------------------------------------- */
/* errors and memory                                                                          */

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("gen_plan: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory");
    return p;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        die("out of memory");
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        die("out of memory");
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

/* ---------------------------------------------------------------------------------------- */
/* deterministic randomness (splitmix64), one stream per purpose                              */

struct rng {
    uint64_t s;
};

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rng_next(struct rng *r)
{
    return mix64(r->s += 0x9E3779B97F4A7C15ull);
}

static struct rng rng_make(uint64_t a, uint64_t b, uint64_t c)
{
    struct rng r = {mix64(a * 0x9E3779B97F4A7C15ull ^ mix64(b + 0x632BE59BD9B4E019ull) ^
                          mix64(c * 0xD1B54A32D192ED03ull + 7))};
    return r;
}

static unsigned rnd(struct rng *r, unsigned n)
{
    return (unsigned)(rng_next(r) % n);
}

static int rnd_range(struct rng *r, int lo, int hi)
{
    return lo + (int)rnd(r, (unsigned)(hi - lo + 1));
}

static double rnd_unit(struct rng *r)
{
    return (double)(rng_next(r) >> 11) / 9007199254740992.0;
}

static double rnd_uniform(struct rng *r, double lo, double hi)
{
    return lo + (hi - lo) * rnd_unit(r);
}

static bool chance(struct rng *r, unsigned percent)
{
    return rnd(r, 100) < percent;
}

/* ---------------------------------------------------------------------------------------- */
/* the world: clouds, GPU models, regions                                                     */

enum { AWS, GCP, AZURE, NCLOUDS };
static const char *const cloud_names[NCLOUDS] = {"aws", "gcp", "azure"};

/* Canonical `gpuform gpus` names and their datasheet memory in decimal GB. */
struct model {
    const char *name;
    int mem_gb;
};
enum {
    M_H100,
    M_H100MEGA,
    M_H200,
    M_B200,
    M_B300,
    M_A100,
    M_A100_80,
    M_L40S,
    M_A10G,
    M_A10,
    M_L4,
    M_T4,
    M_V100,
    M_V100_32,
    M_MI300X,
    M_M60,
    M_MI25,
    M_P100,
    NMODELS
};
static const struct model models[NMODELS] = {
    [M_H100] = {"H100", 80},
    [M_H100MEGA] = {"H100-MEGA", 80},
    [M_H200] = {"H200", 141},
    [M_B200] = {"B200", 180},
    [M_B300] = {"B300", 288},
    [M_A100] = {"A100", 40},
    [M_A100_80] = {"A100-80GB", 80},
    [M_L40S] = {"L40S", 48},
    [M_A10G] = {"A10G", 24},
    [M_A10] = {"A10", 24},
    [M_L4] = {"L4", 24},
    [M_T4] = {"T4", 16},
    [M_V100] = {"V100", 16},
    [M_V100_32] = {"V100-32GB", 32},
    [M_MI300X] = {"MI300X", 192},
    [M_M60] = {"M60", 8},
    [M_MI25] = {"Radeon MI25", 16},
    [M_P100] = {"P100", 16},
};

static int model_find(const char *name)
{
    for (int i = 0; i < NMODELS; i++)
        if (strcmp(models[i].name, name) == 0)
            return i;
    return -1;
}

/* Regions that appear in the SkyPilot catalogs (and are gpuform regions). */
static const char *const aws_catalog_regions[] = {
    "ap-northeast-1", "ap-northeast-2", "ap-south-1",   "ap-southeast-1", "ap-southeast-2",
    "ap-southeast-3", "ca-central-1",   "eu-central-1", "eu-north-1",     "eu-south-2",
    "eu-west-1",      "eu-west-2",      "me-central-1", "us-east-1",      "us-east-2",
    "us-west-1",      "us-west-2",
};
static const char *const gcp_catalog_regions[] = {
    "asia-east1",
    "asia-east2",
    "asia-northeast1",
    "asia-northeast3",
    "asia-south1",
    "asia-south2",
    "asia-southeast1",
    "asia-southeast2",
    "australia-southeast1",
    "europe-central2",
    "europe-north1",
    "europe-west1",
    "europe-west2",
    "europe-west3",
    "europe-west4",
    "europe-west6",
    "europe-west9",
    "me-central2",
    "me-west1",
    "northamerica-northeast1",
    "northamerica-northeast2",
    "southamerica-east1",
    "us-central1",
    "us-east1",
    "us-east4",
    "us-east5",
    "us-south1",
    "us-west1",
    "us-west2",
    "us-west3",
    "us-west4",
};
static const char *const azure_catalog_regions[] = {
    "australiacentral", "australiacentral2",
    "australiaeast",    "australiasoutheast",
    "brazilsouth",      "canadacentral",
    "canadaeast",       "centralindia",
    "centralus",        "chilecentral",
    "eastasia",         "eastus",
    "eastus2",          "francecentral",
    "germanynorth",     "germanywestcentral",
    "indonesiacentral", "israelcentral",
    "italynorth",       "japaneast",
    "japanwest",        "jioindiacentral",
    "jioindiawest",     "koreacentral",
    "koreasouth",       "malaysiawest",
    "mexicocentral",    "northcentralus",
    "northeurope",      "norwayeast",
    "norwaywest",       "polandcentral",
    "qatarcentral",     "southafricanorth",
    "southafricawest",  "southcentralus",
    "southeastasia",    "southindia",
    "spaincentral",     "swedencentral",
    "switzerlandnorth", "switzerlandwest",
    "uaecentral",       "uaenorth",
    "uksouth",          "ukwest",
    "westcentralus",    "westeurope",
    "westus",           "westus2",
    "westus3",
};

/* Regions every synthetic stack declares (the rest are declared with probability 75%). */
static const char *const always_declared[] = {"us-east-1",   "us-west-2",    "eu-west-1",
                                              "us-central1", "europe-west4", "eastus",
                                              "westeurope",  "westus2"};

struct region {
    int cloud;
    char *name;
    double mult;   /* price multiplier of the region */
    bool declared; /* listed under clouds.<cloud>.regions */
    /* zones seen in the catalog (real family), by name; synthetic zones are numbered */
    char **zones;
    int nzones;
    /* accumulators */
    int64_t use1;  /* GPUs the unconstrained optimum (pass 1) puts here */
    int64_t use2;  /* GPUs the witness (pass 2) puts here */
    int64_t cap;   /* pass 2's cap (INT64_MAX: none) */
    int64_t quota; /* quota written (-1: none) */
    bool named;    /* quota written under its own name (else "*") */
    bool hot;      /* one of the busiest regions of pass 1: capped in pass 2 */
};

static struct region regions[MAX_REGIONS];
static int nregions;

static int region_find(int cloud, const char *name)
{
    for (int i = 0; i < nregions; i++)
        if (regions[i].cloud == cloud && strcmp(regions[i].name, name) == 0)
            return i;
    return -1;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static double geo_mult(const char *name, struct rng *r)
{
    double base;
    if (strncmp(name, "us-", 3) == 0 || ends_with(name, "us") || strncmp(name, "eastus", 6) == 0 ||
        strncmp(name, "westus", 6) == 0)
        base = 1.0;
    else if (strncmp(name, "eu", 2) == 0 || strstr(name, "europe") || strstr(name, "uk") ||
             strstr(name, "france") || strstr(name, "germany") || strstr(name, "sweden") ||
             strstr(name, "norway") || strstr(name, "switzerland") || strstr(name, "italy") ||
             strstr(name, "poland") || strstr(name, "spain"))
        base = 1.08;
    else if (strstr(name, "canada") || strstr(name, "northamerica") || strncmp(name, "ca-", 3) == 0)
        base = 1.05;
    else
        base = 1.18;
    return base * rnd_uniform(r, 0.97, 1.10);
}

static int region_add(int cloud, const char *name, struct rng *r)
{
    int i = region_find(cloud, name);
    if (i >= 0)
        return i;
    if (nregions == MAX_REGIONS)
        die("too many regions");
    struct region *g = &regions[nregions];
    memset(g, 0, sizeof(*g));
    g->cloud = cloud;
    g->name = xstrdup(name);
    g->mult = geo_mult(name, r);
    g->quota = -1;
    return nregions++;
}

static int zone_find_add(int region, const char *zone)
{
    struct region *g = &regions[region];
    for (int i = 0; i < g->nzones; i++)
        if (strcmp(g->zones[i], zone) == 0)
            return i;
    g->zones = xrealloc(g->zones, (size_t)(g->nzones + 1) * sizeof(*g->zones));
    g->zones[g->nzones] = xstrdup(zone);
    return g->nzones++;
}

/* Egress, USD per GB, from the data's cloud to the node's; 0 in the data's own region.
 * Keep equal to bench/plan/baseline.c and to plan_egress_usd_per_gb() (docs/planner.md). */
static double egress_rate(int from, int to, bool same_region)
{
    if (same_region && from == to)
        return 0.0;
    if (from == to)
        return 0.02;
    return from == AWS ? 0.09 : from == GCP ? 0.12 : 0.087;
}

/* ---------------------------------------------------------------------------------------- */
/* offers                                                                                     */

struct tmpl {
    int cloud;
    const char *type;
    int model, gpus;
    double vcpus, ram, od;
};

/* Synthetic families: real instance types with approximate list prices (USD/h, us-east). */
static const struct tmpl templates[] = {
    {AWS, "p5.48xlarge", M_H100, 8, 192, 2048, 55.04},
    {AWS, "p5.4xlarge", M_H100, 1, 16, 256, 6.88},
    {AWS, "p5e.48xlarge", M_H200, 8, 192, 2048, 63.30},
    {AWS, "p5en.48xlarge", M_H200, 8, 192, 2048, 66.50},
    {AWS, "p4d.24xlarge", M_A100, 8, 96, 1152, 21.96},
    {AWS, "p4de.24xlarge", M_A100_80, 8, 96, 1152, 27.45},
    {AWS, "p6-b200.48xlarge", M_B200, 8, 192, 2048, 113.93},
    {AWS, "p3.2xlarge", M_V100, 1, 8, 61, 3.06},
    {AWS, "p3.8xlarge", M_V100, 4, 32, 244, 12.24},
    {AWS, "p3.16xlarge", M_V100, 8, 64, 488, 24.48},
    {AWS, "p3dn.24xlarge", M_V100_32, 8, 96, 768, 31.21},
    {AWS, "g5.xlarge", M_A10G, 1, 4, 16, 1.006},
    {AWS, "g5.2xlarge", M_A10G, 1, 8, 32, 1.212},
    {AWS, "g5.12xlarge", M_A10G, 4, 48, 192, 5.672},
    {AWS, "g5.48xlarge", M_A10G, 8, 192, 768, 16.288},
    {AWS, "g6.xlarge", M_L4, 1, 4, 16, 0.805},
    {AWS, "g6.4xlarge", M_L4, 1, 16, 64, 1.323},
    {AWS, "g6.12xlarge", M_L4, 4, 48, 192, 4.602},
    {AWS, "g6.48xlarge", M_L4, 8, 192, 768, 13.35},
    {AWS, "g6e.xlarge", M_L40S, 1, 4, 32, 1.861},
    {AWS, "g6e.12xlarge", M_L40S, 4, 48, 384, 10.49},
    {AWS, "g6e.48xlarge", M_L40S, 8, 192, 1536, 30.13},
    {AWS, "g4dn.xlarge", M_T4, 1, 4, 16, 0.526},
    {AWS, "g4dn.12xlarge", M_T4, 4, 48, 192, 3.912},
    {GCP, "a3-highgpu-1g", M_H100, 1, 26, 234, 11.06},
    {GCP, "a3-highgpu-2g", M_H100, 2, 52, 468, 22.12},
    {GCP, "a3-highgpu-4g", M_H100, 4, 104, 936, 44.25},
    {GCP, "a3-highgpu-8g", M_H100, 8, 208, 1872, 88.49},
    {GCP, "a3-megagpu-8g", M_H100MEGA, 8, 208, 1872, 92.00},
    {GCP, "a3-ultragpu-8g", M_H200, 8, 224, 2952, 84.80},
    {GCP, "a4-highgpu-8g", M_B200, 8, 224, 3968, 110.00},
    {GCP, "a2-highgpu-1g", M_A100, 1, 12, 85, 3.67},
    {GCP, "a2-highgpu-2g", M_A100, 2, 24, 170, 7.35},
    {GCP, "a2-highgpu-4g", M_A100, 4, 48, 340, 14.69},
    {GCP, "a2-highgpu-8g", M_A100, 8, 96, 680, 29.39},
    {GCP, "a2-ultragpu-1g", M_A100_80, 1, 12, 170, 5.07},
    {GCP, "a2-ultragpu-2g", M_A100_80, 2, 24, 340, 10.14},
    {GCP, "a2-ultragpu-4g", M_A100_80, 4, 48, 680, 20.28},
    {GCP, "a2-ultragpu-8g", M_A100_80, 8, 96, 1360, 40.55},
    {GCP, "g2-standard-4", M_L4, 1, 4, 16, 0.71},
    {GCP, "g2-standard-8", M_L4, 1, 8, 32, 0.85},
    {GCP, "g2-standard-24", M_L4, 2, 24, 96, 2.00},
    {GCP, "g2-standard-48", M_L4, 4, 48, 192, 4.00},
    {GCP, "g2-standard-96", M_L4, 8, 96, 384, 8.00},
    {GCP, "n1-standard-8", M_T4, 1, 8, 30, 0.73},
    {GCP, "n1-standard-32", M_T4, 4, 32, 120, 2.92},
    {GCP, "n1-highmem-8", M_V100, 1, 8, 52, 2.95},
    {GCP, "n1-highmem-32", M_V100, 4, 32, 208, 11.80},
    {GCP, "n1-highmem-64", M_V100, 8, 64, 416, 23.60},
    {AZURE, "Standard_NC40ads_H100_v5", M_H100, 1, 40, 320, 6.98},
    {AZURE, "Standard_NC80adis_H100_v5", M_H100, 2, 80, 640, 13.96},
    {AZURE, "Standard_ND96isr_H100_v5", M_H100, 8, 96, 1900, 98.32},
    {AZURE, "Standard_ND96isr_H200_v5", M_H200, 8, 96, 1850, 110.24},
    {AZURE, "Standard_ND96asr_v4", M_A100, 8, 96, 900, 27.20},
    {AZURE, "Standard_NC24ads_A100_v4", M_A100_80, 1, 24, 220, 3.67},
    {AZURE, "Standard_NC48ads_A100_v4", M_A100_80, 2, 48, 440, 7.35},
    {AZURE, "Standard_NC96ads_A100_v4", M_A100_80, 4, 96, 880, 14.69},
    {AZURE, "Standard_ND96amsr_A100_v4", M_A100_80, 8, 96, 1900, 32.77},
    {AZURE, "Standard_NC4as_T4_v3", M_T4, 1, 4, 28, 0.526},
    {AZURE, "Standard_NC8as_T4_v3", M_T4, 1, 8, 56, 0.752},
    {AZURE, "Standard_NC64as_T4_v3", M_T4, 4, 64, 440, 4.352},
    {AZURE, "Standard_NC6s_v3", M_V100, 1, 6, 112, 3.06},
    {AZURE, "Standard_NC12s_v3", M_V100, 2, 12, 224, 6.12},
    {AZURE, "Standard_NC24s_v3", M_V100, 4, 24, 448, 12.24},
    {AZURE, "Standard_ND40rs_v2", M_V100_32, 8, 40, 672, 22.03},
    {AZURE, "Standard_NV36ads_A10_v5", M_A10, 1, 36, 440, 3.20},
    {AZURE, "Standard_NV72ads_A10_v5", M_A10, 2, 72, 880, 6.52},
    {AZURE, "Standard_ND96isr_MI300X_v5", M_MI300X, 8, 96, 1850, 48.00},
};

struct offer {
    int32_t region, zone;
    int16_t model, gpus;
    double od, spot;  /* < 0: not offered */
    const char *type; /* instance type (static or the real family's strings) */
};

static struct offer *offers;
static size_t noffers, offers_cap;

static void offer_push(const struct offer *o)
{
    if (noffers == offers_cap) {
        offers_cap = offers_cap ? offers_cap * 2 : 4096;
        offers = xrealloc(offers, offers_cap * sizeof(*offers));
    }
    offers[noffers++] = *o;
}

static FILE *catalog_out;
static const char *as_of_synthetic = "2026-11-21";

static void csv_field(FILE *f, const char *s)
{
    if (strpbrk(s, ",\"\r\n")) {
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    } else {
        fputs(s, f);
    }
}

static void price_field(FILE *f, double p)
{
    if (p >= 0)
        fprintf(f, "%.4f", p);
}

static void write_offer(const struct offer *o, const char *type, double vcpus, double ram,
                        const char *zone, const char *as_of, const char *source)
{
    const struct region *g = &regions[o->region];
    FILE *f = catalog_out;
    fprintf(f, "%s,%s,", cloud_names[g->cloud], g->name);
    csv_field(f, zone);
    fputc(',', f);
    csv_field(f, type);
    fputc(',', f);
    csv_field(f, models[o->model].name);
    fprintf(f, ",%d,%d,%g,%g,", o->gpus, models[o->model].mem_gb, vcpus, ram);
    price_field(f, o->od);
    fputc(',', f);
    price_field(f, o->spot);
    fprintf(f, ",%s,", as_of);
    csv_field(f, source);
    fputc('\n', f);
}

/* AWS zone ids as the SkyPilot catalog and docs/catalog.md write them: "use1-az1" for a
 * zone of us-east-1, "apne1-az2" for ap-northeast-1. */
static void aws_zone_id(const char *region, int k, char *buf, size_t n)
{
    static const struct {
        const char *word, *abbr;
    } dirs[] = {{"northeast", "ne"}, {"northwest", "nw"}, {"southeast", "se"},
                {"southwest", "sw"}, {"central", "c"},    {"north", "n"},
                {"south", "s"},      {"east", "e"},       {"west", "w"}};
    char area[8] = "", dir[8] = "";
    int num = 0;
    const char *d1 = strchr(region, '-'), *d2 = d1 ? strchr(d1 + 1, '-') : NULL;
    if (d1 && d2 && (size_t)(d1 - region) < sizeof(area)) {
        memcpy(area, region, (size_t)(d1 - region));
        area[d1 - region] = '\0';
        for (size_t i = 0; i < ARRAY_LEN(dirs); i++)
            if (strlen(dirs[i].word) == (size_t)(d2 - d1 - 1) &&
                strncmp(d1 + 1, dirs[i].word, (size_t)(d2 - d1 - 1)) == 0) {
                snprintf(dir, sizeof(dir), "%s", dirs[i].abbr);
                break;
            }
        num = atoi(d2 + 1);
    }
    snprintf(buf, n, "%s%s%d-az%d", area, dir, num, k + 1);
}

/* Zone k of a region: AWS zone ids, GCP "<region>-a".. then "<region>-z27"..., Azure "1"... */
static void zone_name(int cloud, const char *region, int k, char *buf, size_t n)
{
    if (cloud == AZURE)
        snprintf(buf, n, "%d", k + 1);
    else if (cloud == AWS)
        aws_zone_id(region, k, buf, n);
    else if (k < 26)
        snprintf(buf, n, "%s-%c", region, 'a' + k);
    else
        snprintf(buf, n, "%s-z%d", region, k + 1);
}

/* Synthetic offers: every (region, template) pair in a seeded order, one zone per round,
 * until O offers. On-demand prices are the same in every zone of a region (as on the
 * clouds); spot prices differ by zone; 15% of offers have no spot price, 1% no on-demand. */
static void gen_synthetic_offers(uint64_t seed, size_t target)
{
    struct rng r = rng_make(seed, 11, 0);
    static const char *const *lists[NCLOUDS] = {aws_catalog_regions, gcp_catalog_regions,
                                                azure_catalog_regions};
    static const size_t nlists[NCLOUDS] = {ARRAY_LEN(aws_catalog_regions),
                                           ARRAY_LEN(gcp_catalog_regions),
                                           ARRAY_LEN(azure_catalog_regions)};
    for (int c = 0; c < NCLOUDS; c++)
        for (size_t i = 0; i < nlists[c]; i++)
            region_add(c, lists[c][i], &r);
    for (int i = 0; i < nregions; i++) {
        bool always = false;
        for (size_t k = 0; k < ARRAY_LEN(always_declared); k++)
            always |= strcmp(regions[i].name, always_declared[k]) == 0;
        regions[i].declared = always || chance(&r, 75);
    }
    /* pairs */
    size_t npairs = 0;
    size_t *pairs = xmalloc((size_t)nregions * ARRAY_LEN(templates) * sizeof(*pairs));
    double *pair_od = xmalloc((size_t)nregions * ARRAY_LEN(templates) * sizeof(*pair_od));
    for (int g = 0; g < nregions; g++)
        for (size_t t = 0; t < ARRAY_LEN(templates); t++) {
            if (templates[t].cloud != regions[g].cloud)
                continue;
            size_t p = (size_t)g * ARRAY_LEN(templates) + t;
            pairs[npairs++] = p;
        }
    for (size_t i = 0; i < (size_t)nregions * ARRAY_LEN(templates); i++)
        pair_od[i] = -1;
    for (size_t i = npairs; i > 1; i--) {
        size_t j = rnd(&r, (unsigned)i);
        size_t tmp = pairs[i - 1];
        pairs[i - 1] = pairs[j];
        pairs[j] = tmp;
    }
    for (size_t i = 0; i < npairs; i++) {
        size_t g = pairs[i] / ARRAY_LEN(templates), t = pairs[i] % ARRAY_LEN(templates);
        pair_od[pairs[i]] = templates[t].od * regions[g].mult * rnd_uniform(&r, 0.96, 1.06);
    }
    char source[64];
    snprintf(source, sizeof(source), "gpuform-bench gen_plan seed %" PRIu64, seed);
    for (int k = 0; noffers < target; k++) {
        for (size_t i = 0; i < npairs && noffers < target; i++) {
            size_t g = pairs[i] / ARRAY_LEN(templates), t = pairs[i] % ARRAY_LEN(templates);
            const struct tmpl *tp = &templates[t];
            char zone[64];
            zone_name(tp->cloud, regions[g].name, k, zone, sizeof(zone));
            struct offer o = {.region = (int32_t)g,
                              .zone = zone_find_add((int)g, zone),
                              .model = (int16_t)tp->model,
                              .gpus = (int16_t)tp->gpus,
                              .type = tp->type};
            double od = pair_od[pairs[i]];
            o.od = od;
            o.spot = (od * rnd_uniform(&r, 0.25, 0.75));
            unsigned u = rnd(&r, 100);
            if (u < 15)
                o.spot = -1;
            else if (u < 16)
                o.od = -1;
            /* round as written, so every reader sees the same prices */
            if (o.od >= 0)
                o.od = (floor((double)o.od * 10000 + 0.5) / 10000);
            if (o.spot >= 0)
                o.spot = (floor((double)o.spot * 10000 + 0.5) / 10000);
            offer_push(&o);
            write_offer(&o, tp->type, tp->vcpus, tp->ram, zone, as_of_synthetic, source);
        }
    }
    free(pairs);
    free(pair_od);
}

/* ---- the real family: SkyPilot catalogs ---- */

/* A tiny CSV reader: quoted fields, "" escapes, CRLF or LF. Returns the number of fields, or
 * -1 at end of file. Fields point into `line` (modified). */
static int csv_split(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line, *w;
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    for (;;) {
        if (n == max)
            return n;
        fields[n++] = w = p;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == '\0')
                    break;
                if (*p == '"') {
                    if (p[1] == '"') {
                        *w++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *w++ = *p++;
            }
            while (*p && *p != ',')
                p++;
        } else {
            while (*p && *p != ',')
                *w++ = *p++;
        }
        char c = *p;
        *w = '\0';
        if (c == '\0')
            return n;
        p++;
    }
}

/* Reads a whole line of any length; NULL at EOF. Handles a quoted field with a newline
 * inside by reading on (the catalogs have none, but be safe). */
static char *read_line(FILE *f, char **buf, size_t *cap)
{
    size_t len = 0;
    bool inq = false;
    int c;
    for (;;) {
        c = getc(f);
        if (c == EOF)
            break;
        if (len + 2 > *cap) {
            *cap = *cap ? *cap * 2 : 1024;
            *buf = xrealloc(*buf, *cap);
        }
        (*buf)[len++] = (char)c;
        if (c == '"')
            inq = !inq;
        if (c == '\n' && !inq)
            break;
    }
    if (len == 0)
        return NULL;
    (*buf)[len] = '\0';
    return *buf;
}

struct csvfile {
    FILE *f;
    char *buf;
    size_t cap;
    char *hdr[32];
    int nhdr;
    char *hdrline;
};

static void csv_open(struct csvfile *c, const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    memset(c, 0, sizeof(*c));
    c->f = fopen(path, "rb");
    if (!c->f)
        die("cannot read %s: %s", path, strerror(errno));
    if (!read_line(c->f, &c->buf, &c->cap))
        die("%s is empty", path);
    c->hdrline = xstrdup(c->buf);
    c->nhdr = csv_split(c->hdrline, c->hdr, 32);
}

static int csv_col(const struct csvfile *c, const char *name)
{
    for (int i = 0; i < c->nhdr; i++)
        if (strcmp(c->hdr[i], name) == 0)
            return i;
    die("catalog column %s missing", name);
    return -1;
}

static void csv_close(struct csvfile *c)
{
    fclose(c->f);
    free(c->buf);
    free(c->hdrline);
}

/* A base offer of the real family, with its strings. */
struct base {
    struct offer o;
    char *type, *zone, *source, *as_of;
    double vcpus, ram;
};

static struct base *bases;
static size_t nbases, bases_cap;

static double parse_price(const char *s)
{
    if (!*s)
        return -1;
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return -1;
    return v;
}

static int canonical_model(const char *acc)
{
    if (strcmp(acc, "MI25") == 0)
        return M_MI25;
    return model_find(acc);
}

static void base_add(int cloud, const char *region, const char *zone, const char *type, int model,
                     int gpus, double vcpus, double ram, double od, double spot, const char *as_of,
                     const char *source, struct rng *r)
{
    if (model < 0 || gpus < 1 || (od < 0 && spot < 0))
        return;
    if (od >= 0 && spot >= od * 1.0001)
        spot = -1; /* a "spot" price above on-demand is a catalog artefact */
    int g = region_add(cloud, region, r);
    for (size_t i = 0; i < nbases; i++) /* drop duplicates of (cloud, region, zone, type) */
        if (bases[i].o.region == g && strcmp(bases[i].zone, zone) == 0 &&
            strcmp(bases[i].type, type) == 0)
            return;
    if (nbases == bases_cap) {
        bases_cap = bases_cap ? bases_cap * 2 : 1024;
        bases = xrealloc(bases, bases_cap * sizeof(*bases));
    }
    struct base *b = &bases[nbases++];
    b->o.region = g;
    b->o.zone = 0;
    b->o.model = (int16_t)model;
    b->o.gpus = (int16_t)gpus;
    b->o.od = od;
    b->o.spot = spot;
    b->type = xstrdup(type);
    b->o.type = b->type;
    b->zone = xstrdup(zone);
    b->source = xstrdup(source);
    b->as_of = xstrdup(as_of);
    b->vcpus = vcpus;
    b->ram = ram;
}

static void read_aws(const char *dir, struct rng *r)
{
    struct csvfile c;
    csv_open(&c, dir, "aws_gpu_vms.csv");
    int ci = csv_col(&c, "InstanceType"), ca = csv_col(&c, "AcceleratorName"),
        cn = csv_col(&c, "AcceleratorCount"), cv = csv_col(&c, "vCPUs"),
        cm = csv_col(&c, "MemoryGiB"), cp = csv_col(&c, "Price"), cs = csv_col(&c, "SpotPrice"),
        cr = csv_col(&c, "Region"), cz = csv_col(&c, "AvailabilityZone");
    char *f[32];
    while (read_line(c.f, &c.buf, &c.cap)) {
        int n = csv_split(c.buf, f, 32);
        if (n < c.nhdr)
            continue;
        double cnt = atof(f[cn]);
        if (cnt < 1 || cnt != floor(cnt))
            continue;
        base_add(AWS, f[cr], f[cz], f[ci], canonical_model(f[ca]), (int)cnt, atof(f[cv]),
                 atof(f[cm]), parse_price(f[cp]), parse_price(f[cs]), "2026-04-02",
                 "skypilot-catalog v8 aws/vms.csv", r);
    }
    csv_close(&c);
}

static void read_azure(const char *dir, struct rng *r)
{
    struct csvfile c;
    csv_open(&c, dir, "azure_gpu_vms.csv");
    int ci = csv_col(&c, "InstanceType"), ca = csv_col(&c, "AcceleratorName"),
        cn = csv_col(&c, "AcceleratorCount"), cv = csv_col(&c, "vCPUs"),
        cm = csv_col(&c, "MemoryGiB"), cp = csv_col(&c, "Price"), cs = csv_col(&c, "SpotPrice"),
        cr = csv_col(&c, "Region");
    char *f[32];
    while (read_line(c.f, &c.buf, &c.cap)) {
        int n = csv_split(c.buf, f, 32);
        if (n < c.nhdr)
            continue;
        double cnt = atof(f[cn]);
        if (cnt < 1 || cnt != floor(cnt)) /* fractional GPUs (NV*ads_A10_v5 slices) */
            continue;
        base_add(AZURE, f[cr], "", f[ci], canonical_model(f[ca]), (int)cnt, atof(f[cv]),
                 atof(f[cm]), parse_price(f[cp]), parse_price(f[cs]), "2026-05-20",
                 "anycloud-sh/catalog azure/vms.csv", r);
    }
    csv_close(&c);
}

/* GCP prices GPUs apart from their host VMs: an offer is a GPU row joined with the host VM
 * that carries that GPU count, in the same zone. N1 hosts are chosen so that every
 * (zone, instance type) is one offer. */
struct gcp_host {
    int model, gpus;
    const char *host;
};
static const struct gcp_host gcp_hosts[] = {
    {M_A100, 1, "a2-highgpu-1g"},     {M_A100, 2, "a2-highgpu-2g"},
    {M_A100, 4, "a2-highgpu-4g"},     {M_A100, 8, "a2-highgpu-8g"},
    {M_A100, 16, "a2-megagpu-16g"},   {M_A100_80, 1, "a2-ultragpu-1g"},
    {M_A100_80, 2, "a2-ultragpu-2g"}, {M_A100_80, 4, "a2-ultragpu-4g"},
    {M_A100_80, 8, "a2-ultragpu-8g"}, {M_H100, 1, "a3-highgpu-1g"},
    {M_H100, 2, "a3-highgpu-2g"},     {M_H100, 4, "a3-highgpu-4g"},
    {M_H100, 8, "a3-highgpu-8g"},     {M_H100MEGA, 8, "a3-megagpu-8g"},
    {M_H200, 8, "a3-ultragpu-8g"},    {M_B200, 8, "a4-highgpu-8g"},
    {M_L4, 1, "g2-standard-4"},       {M_L4, 2, "g2-standard-24"},
    {M_L4, 4, "g2-standard-48"},      {M_L4, 8, "g2-standard-96"},
    {M_T4, 1, "n1-standard-4"},       {M_T4, 2, "n1-standard-8"},
    {M_T4, 4, "n1-standard-16"},      {M_V100, 1, "n1-highmem-8"},
    {M_V100, 2, "n1-highmem-16"},     {M_V100, 4, "n1-highmem-32"},
    {M_V100, 8, "n1-highmem-64"},     {M_P100, 1, "n1-highcpu-8"},
    {M_P100, 2, "n1-highcpu-16"},     {M_P100, 4, "n1-highcpu-32"},
};

struct host_row {
    char *type, *zone;
    double vcpus, ram, od, spot;
};

static void read_gcp(const char *dir, struct rng *r)
{
    struct csvfile c;
    char *f[32];
    /* host VMs we need */
    struct host_row *hosts = NULL;
    size_t nhosts = 0, hcap = 0;
    csv_open(&c, dir, "gcp_gpu_host_vms.csv");
    int hi = csv_col(&c, "InstanceType"), hv = csv_col(&c, "vCPUs"), hm = csv_col(&c, "MemoryGiB"),
        hz = csv_col(&c, "AvailabilityZone"), hp = csv_col(&c, "Price"),
        hs = csv_col(&c, "SpotPrice");
    while (read_line(c.f, &c.buf, &c.cap)) {
        int n = csv_split(c.buf, f, 32);
        if (n < c.nhdr)
            continue;
        bool want = false;
        for (size_t k = 0; k < ARRAY_LEN(gcp_hosts); k++)
            want |= strcmp(gcp_hosts[k].host, f[hi]) == 0;
        if (!want)
            continue;
        if (nhosts == hcap) {
            hcap = hcap ? hcap * 2 : 256;
            hosts = xrealloc(hosts, hcap * sizeof(*hosts));
        }
        hosts[nhosts++] = (struct host_row){xstrdup(f[hi]), xstrdup(f[hz]),     atof(f[hv]),
                                            atof(f[hm]),    parse_price(f[hp]), parse_price(f[hs])};
    }
    csv_close(&c);
    csv_open(&c, dir, "gcp_gpu_vms.csv");
    int ca = csv_col(&c, "AcceleratorName"), cn = csv_col(&c, "AcceleratorCount"),
        cr = csv_col(&c, "Region"), cz = csv_col(&c, "AvailabilityZone"), cp = csv_col(&c, "Price"),
        cs = csv_col(&c, "SpotPrice"), ct = csv_col(&c, "InstanceType");
    while (read_line(c.f, &c.buf, &c.cap)) {
        int n = csv_split(c.buf, f, 32);
        if (n < c.nhdr || f[ct][0]) /* GPU rows have no instance type */
            continue;
        int model = canonical_model(f[ca]);
        double cnt = atof(f[cn]);
        if (model < 0 || cnt < 1 || cnt != floor(cnt))
            continue;
        const char *host = NULL;
        for (size_t k = 0; k < ARRAY_LEN(gcp_hosts); k++)
            if (gcp_hosts[k].model == model && gcp_hosts[k].gpus == (int)cnt)
                host = gcp_hosts[k].host;
        if (!host)
            continue;
        for (size_t h = 0; h < nhosts; h++) {
            if (strcmp(hosts[h].type, host) != 0 || strcmp(hosts[h].zone, f[cz]) != 0)
                continue;
            double gp = parse_price(f[cp]), gs = parse_price(f[cs]);
            double od = gp >= 0 && hosts[h].od >= 0 ? gp + hosts[h].od : -1;
            double spot = gs >= 0 && hosts[h].spot >= 0 ? gs + hosts[h].spot : -1;
            base_add(GCP, f[cr], f[cz], host, model, (int)cnt, hosts[h].vcpus, hosts[h].ram, od,
                     spot, "2026-04-02", "skypilot-catalog gcp/vms.csv (GPU + host VM)", r);
            break;
        }
    }
    csv_close(&c);
    for (size_t h = 0; h < nhosts; h++) {
        free(hosts[h].type);
        free(hosts[h].zone);
    }
    free(hosts);
}

/* Real offers, then replicas in extra zones ("<zone>-r<k>"; Azure: "<k>") with prices within
 * +-3% until O offers; when O is below the number of real offers, a seeded subset. */
static void gen_real_offers(uint64_t seed, size_t target, const char *dir)
{
    struct rng r = rng_make(seed, 12, 0);
    read_aws(dir, &r);
    read_gcp(dir, &r);
    read_azure(dir, &r);
    if (nbases == 0)
        die("no offers read from %s", dir);
    /* seeded order of the base offers */
    size_t *order = xmalloc(nbases * sizeof(*order));
    for (size_t i = 0; i < nbases; i++)
        order[i] = i;
    for (size_t i = nbases; i > 1; i--) {
        size_t j = rnd(&r, (unsigned)i);
        size_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < nregions; i++) {
        bool always = false;
        for (size_t k = 0; k < ARRAY_LEN(always_declared); k++)
            always |= strcmp(regions[i].name, always_declared[k]) == 0;
        regions[i].declared = always || chance(&r, 80);
    }
    for (int k = 0; noffers < target; k++) {
        for (size_t i = 0; i < nbases && noffers < target; i++) {
            const struct base *b = &bases[order[i]];
            struct offer o = b->o;
            char zone[128];
            if (k == 0)
                snprintf(zone, sizeof(zone), "%s", b->zone);
            else if (regions[o.region].cloud == AZURE)
                snprintf(zone, sizeof(zone), "%d", k);
            else
                snprintf(zone, sizeof(zone), "%s-r%d", b->zone, k);
            if (k > 0) {
                double f = rnd_uniform(&r, 0.97, 1.03);
                if (o.od >= 0)
                    o.od = (o.od * f);
                if (o.spot >= 0)
                    o.spot = (o.spot * rnd_uniform(&r, 0.97, 1.03));
            }
            if (o.od >= 0)
                o.od = (floor((double)o.od * 10000 + 0.5) / 10000);
            if (o.spot >= 0)
                o.spot = (floor((double)o.spot * 10000 + 0.5) / 10000);
            if (o.od >= 0 && o.spot > o.od)
                o.spot = o.od;
            o.zone = zone_find_add(o.region, zone);
            offer_push(&o);
            write_offer(&o, b->type, b->vcpus, b->ram, zone, b->as_of, b->source);
        }
    }
    free(order);
}

/* ---------------------------------------------------------------------------------------- */
/* offer index: per (model, GPUs per node): per region and per zone, the best prices          */

struct zbest {
    int32_t zone;
    double od, spot;
    int32_t od_offer, spot_offer;
};

struct rbest {
    double od, spot; /* < 0: none */
    int32_t zfirst, zcount;
    int32_t od_offer, spot_offer;
};

struct group {
    struct rbest *byregion; /* nregions entries */
    struct zbest *zones;
    size_t nzones;
};

#define MAX_GPUS 16
static struct group *groups[NMODELS][MAX_GPUS + 1];

static int cmp_offer_idx(const void *a, const void *b)
{
    const struct offer *x = &offers[*(const size_t *)a], *y = &offers[*(const size_t *)b];
    if (x->model != y->model)
        return x->model - y->model;
    if (x->gpus != y->gpus)
        return x->gpus - y->gpus;
    if (x->region != y->region)
        return x->region - y->region;
    if (x->zone != y->zone)
        return x->zone - y->zone;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    return (i > j) - (i < j);
}

static void build_index(void)
{
    size_t *ix = xmalloc(noffers * sizeof(*ix));
    for (size_t i = 0; i < noffers; i++)
        ix[i] = i;
    qsort(ix, noffers, sizeof(*ix), cmp_offer_idx);
#define S(k) (offers[ix[k]])
    for (size_t i = 0; i < noffers;) {
        size_t j = i;
        while (j < noffers && S(j).model == S(i).model && S(j).gpus == S(i).gpus)
            j++;
        if (S(i).gpus <= MAX_GPUS) {
            struct group *gr = xcalloc(1, sizeof(*gr));
            gr->byregion = xmalloc((size_t)nregions * sizeof(*gr->byregion));
            for (int g = 0; g < nregions; g++)
                gr->byregion[g] = (struct rbest){-1, -1, 0, 0, -1, -1};
            gr->zones = xmalloc((j - i) * sizeof(*gr->zones));
            for (size_t k = i; k < j;) {
                size_t e = k;
                struct zbest z = {S(k).zone, -1, -1, -1, -1};
                while (e < j && S(e).region == S(k).region && S(e).zone == S(k).zone) {
                    if (S(e).od >= 0 && (z.od < 0 || S(e).od < z.od)) {
                        z.od = S(e).od;
                        z.od_offer = (int32_t)ix[e];
                    }
                    if (S(e).spot >= 0 && (z.spot < 0 || S(e).spot < z.spot)) {
                        z.spot = S(e).spot;
                        z.spot_offer = (int32_t)ix[e];
                    }
                    e++;
                }
                struct rbest *rb = &gr->byregion[S(k).region];
                if (rb->zcount == 0)
                    rb->zfirst = (int32_t)gr->nzones;
                rb->zcount++;
                if (z.od >= 0 && (rb->od < 0 || z.od < rb->od)) {
                    rb->od = z.od;
                    rb->od_offer = z.od_offer;
                }
                if (z.spot >= 0 && (rb->spot < 0 || z.spot < rb->spot)) {
                    rb->spot = z.spot;
                    rb->spot_offer = z.spot_offer;
                }
                gr->zones[gr->nzones++] = z;
                k = e;
            }
            groups[S(i).model][S(i).gpus] = gr;
        }
        i = j;
    }
#undef S
    free(ix);
}

/* ---------------------------------------------------------------------------------------- */
/* workloads                                                                                  */

enum kind { K_TRAINING, K_SERVICE, K_BATCH, K_FEDERATED };
static const char *const kind_names[] = {"training", "service", "batch", "federated"};
enum spot { S_NEVER, S_AUTO, S_ALWAYS };
static const char *const spot_names[] = {"never", "auto", "always"};
enum together { T_NONE, T_REGION, T_ZONE };
static const char *const together_names[] = {"none", "region", "zone"};

static const char *const teams[] = {"research", "platform", "vision",   "speech",
                                    "ads",      "search",   "robotics", "health"};
static const char *const products[] = {"chat", "copilot", "search", "vision", "ads"};
static const char *const tasks[] = {"pretrain", "finetune", "distill", "eval", "sweep", "rlhf"};
static const char *const svc_tasks[] = {"serve", "api", "embed", "rerank", "chat", "infer"};
static const char *const batch_tasks[] = {"etl", "index", "score", "transcode", "backfill"};
static const char *const fed_tasks[] = {"fl", "federated", "private", "edge"};
static const char *const mnames[] = {"llama",  "mixtral",   "vit",  "whisper", "bert",
                                     "ranker", "diffusion", "clip", "t5",      "embed"};
static const char *const cities[] = {"boston",   "seattle", "dublin", "iowa",    "amsterdam",
                                     "virginia", "london",  "paris",  "chicago", "oregon",
                                     "tokyo",    "sydney",  "mumbai", "toronto", "zurich"};

/* A GPU request: the text written and the models it resolves to. */
struct gpureq {
    const char *yaml; /* written after "gpu: " */
    int count;
    int names[5]; /* models listed */
    int nnames;
    int mem_min, mem_max; /* GB; 0 = none */
    unsigned weight;
};

#define REQ1(y, c, m, w)                                                                           \
    {                                                                                              \
        y, c, {m}, 1, 0, 0, w                                                                      \
    }
static const struct gpureq train_reqs[] = {
    REQ1("H100:8", 8, M_H100, 14),
    {"{ name: [H100, H200], count: 8, memory: 80GB.. }", 8, {M_H100, M_H200}, 2, 80, 0, 8},
    {"{ name: [A100-80GB, H100], count: 8 }", 8, {M_A100_80, M_H100}, 2, 0, 0, 6},
    {"{ name: [A100, A100-80GB], count: 8, memory: 80GB }", 8, {M_A100, M_A100_80}, 2, 80, 80, 5},
    {"{ name: [H100, H100-MEGA, H200, B200], count: 8, memory: 80GB..141GB }",
     8,
     {M_H100, M_H100MEGA, M_H200, M_B200},
     4,
     80,
     141,
     4},
    REQ1("A100:8", 8, M_A100, 6),
    REQ1("A100-80GB:4", 4, M_A100_80, 5),
    REQ1("H100:4", 4, M_H100, 3),
    REQ1("H200:8", 8, M_H200, 4),
    REQ1("B200:8", 8, M_B200, 3),
    REQ1("L40S:8", 8, M_L40S, 3),
    REQ1("V100:8", 8, M_V100, 3),
    {"{ name: [V100, V100-32GB], count: 8, memory: 32GB.. }", 8, {M_V100, M_V100_32}, 2, 32, 0, 2},
    REQ1("MI300X:8", 8, M_MI300X, 2),
    REQ1("A10G:4", 4, M_A10G, 2),
};
static const struct gpureq infer_reqs[] = {
    REQ1("L4:1", 1, M_L4, 12),
    REQ1("L4:4", 4, M_L4, 4),
    {"{ name: [L4, A10G, A10], count: 1, memory: 24GB.. }", 1, {M_L4, M_A10G, M_A10}, 3, 24, 0, 10},
    REQ1("T4:1", 1, M_T4, 8),
    {"{ name: [T4, L4], count: 1, memory: ..24GB }", 1, {M_T4, M_L4}, 2, 0, 24, 6},
    REQ1("A10G:1", 1, M_A10G, 4),
    REQ1("L40S:1", 1, M_L40S, 3),
    REQ1("H100:1", 1, M_H100, 5),
    {"{ name: [H100, A100-80GB], count: 2, memory: 80GB }", 2, {M_H100, M_A100_80}, 2, 80, 80, 3},
    REQ1("A100-80GB:1", 1, M_A100_80, 4),
    REQ1("H100:8", 8, M_H100, 2),
    REQ1("V100:1", 1, M_V100, 2),
    REQ1("T4:4", 4, M_T4, 2),
};
static const struct gpureq fed_reqs[] = {
    REQ1("T4:1", 1, M_T4, 4),
    {"{ name: [L4, A10G, A10, T4], count: 1, memory: 16GB.. }",
     1,
     {M_L4, M_A10G, M_A10, M_T4},
     4,
     16,
     0,
     4},
    REQ1("A100-80GB:1", 1, M_A100_80, 2),
    REQ1("H100:1", 1, M_H100, 2),
    {"{ name: [V100, T4], count: 1 }", 1, {M_V100, M_T4}, 2, 0, 0, 2},
};

static const struct gpureq *pick_req(struct rng *r, const struct gpureq *reqs, size_t n)
{
    unsigned total = 0;
    for (size_t i = 0; i < n; i++)
        total += reqs[i].weight;
    unsigned x = rnd(r, total);
    for (size_t i = 0; i < n; i++) {
        if (x < reqs[i].weight)
            return &reqs[i];
        x -= reqs[i].weight;
    }
    return &reqs[0];
}

/* Region globs, by what they are likely to match. */
static const char *const include_globs[] = {"us-*",   "eu-*",   "europe-*",       "*east*",
                                            "*west*", "*us*",   "northamerica-*", "*central*",
                                            "ap-*",   "asia-*", "[a-f]*",         "us-?ast*"};
static const char *const exclude_globs[] = {"ap-*",    "asia-*",  "*south*",        "me-*",
                                            "*india*", "sa-*",    "southamerica-*", "brazil*",
                                            "*korea*", "*japan*", "australia*",     "*2"};

struct wl {
    char name[48];
    enum kind kind;
    const struct gpureq *req;
    int nmodels, mlist[5]; /* models after the memory range */
    int count;             /* nodes / replicas / sites */
    double hours;          /* hours costed */
    char hours_yaml[16];   /* "" = default */
    enum spot spot;
    enum together together;
    unsigned clouds_mask; /* 0 = all declared */
    const char *inc[3], *exc[3];
    int ninc, nexc;
    bool regions_list_form; /* regions: [..] instead of { include: [..] } */
    int spread, max_per_region;
    bool has_data;
    int data_cloud;
    const char *data_region;
    int data_gb;
    const char *team, *tier, *product;
    int site_region[MAX_SITES];
    const char *site_name[MAX_SITES];
    /* resolved */
    bool allowed[MAX_REGIONS];
    int nallowed;
};

static enum spot default_spot = S_NEVER;

/* Which models of the request fit its memory range. */
static void resolve_models(struct wl *w)
{
    w->nmodels = 0;
    for (int i = 0; i < w->req->nnames; i++) {
        int m = w->req->names[i], mem = models[m].mem_gb;
        if (w->req->mem_min && mem < w->req->mem_min)
            continue;
        if (w->req->mem_max && mem > w->req->mem_max)
            continue;
        w->mlist[w->nmodels++] = m;
    }
}

static bool cloud_ok(const struct wl *w, int c)
{
    return w->clouds_mask == 0 || (w->clouds_mask & (1u << c));
}

/* Allowed regions: declared, in an allowed cloud, matching an include glob (if any) and no
 * exclude glob. Returns false when an include glob matches nothing (a validate warning). */
static bool resolve_regions(struct wl *w)
{
    bool inc_hit[3] = {false, false, false};
    w->nallowed = 0;
    for (int g = 0; g < nregions; g++) {
        w->allowed[g] = false;
        if (!regions[g].declared || !cloud_ok(w, regions[g].cloud))
            continue;
        bool in = w->ninc == 0;
        for (int i = 0; i < w->ninc; i++)
            if (fnmatch(w->inc[i], regions[g].name, 0) == 0) {
                in = true;
                inc_hit[i] = true;
            }
        for (int i = 0; i < w->nexc && in; i++)
            if (fnmatch(w->exc[i], regions[g].name, 0) == 0)
                in = false;
        if (in) {
            w->allowed[g] = true;
            w->nallowed++;
        }
    }
    for (int i = 0; i < w->ninc; i++)
        if (!inc_hit[i])
            return false;
    return true;
}

/* ---------------------------------------------------------------------------------------- */
/* placing one workload (the witness)                                                         */

struct node_place {
    int region, zone; /* zone: -1 = any zone of the region */
    int model;
    bool spot;
    double price; /* USD/h */
    int offer;
};

struct rchoice {
    double cost, price; /* per node: price * hours + egress; price alone */
    int model;
    bool spot;
    bool ok;
    int offer;
};

static double node_egress(const struct wl *w, int region)
{
    if (!w->has_data)
        return 0;
    const struct region *g = &regions[region];
    bool same = g->cloud == w->data_cloud && strcmp(g->name, w->data_region) == 0;
    return w->data_gb * egress_rate(w->data_cloud, g->cloud, same);
}

/* Best (model, spot) for one node given an od/spot pair; deterministic ties. */
static void consider(const struct wl *w, struct rchoice *c, int model, double od, double spot,
                     int od_offer, int spot_offer, double egress)
{
    if (w->spot != S_ALWAYS && od >= 0) {
        double cost = od * w->hours + egress;
        if (!c->ok || cost < c->cost - 1e-9)
            *c = (struct rchoice){cost, od, model, false, true, od_offer};
    }
    if (w->spot != S_NEVER && spot >= 0) {
        double cost = spot * w->hours + egress;
        if (!c->ok || cost < c->cost - 1e-9)
            *c = (struct rchoice){cost, spot, model, true, true, spot_offer};
    }
}

static struct rchoice region_choice(const struct wl *w, int g)
{
    struct rchoice c = {0, 0, 0, false, false, -1};
    double eg = node_egress(w, g);
    for (int i = 0; i < w->nmodels; i++) {
        const struct group *gr =
            w->req->count <= MAX_GPUS ? groups[w->mlist[i]][w->req->count] : NULL;
        if (!gr)
            continue;
        const struct rbest *rb = &gr->byregion[g];
        consider(w, &c, w->mlist[i], rb->od, rb->spot, rb->od_offer, rb->spot_offer, eg);
    }
    return c;
}

/* Capacity left in a region (GPUs); rem == NULL: unlimited. */
static int64_t cap_left(const int64_t *rem, int g)
{
    return rem ? rem[g] : INT64_MAX / 4;
}

struct cand {
    int region;
    struct rchoice c;
};

static int cmp_cand(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->c.cost != y->c.cost)
        return x->c.cost < y->c.cost ? -1 : 1;
    return x->region - y->region;
}

/*
 * Places every node of `w` as cheaply as a greedy can, honouring the per-workload rules and
 * the capacity `rem` (GPUs left per region; NULL = unlimited). Returns the number of nodes
 * (== w->count) or -1 when it cannot; `out` gets the nodes, *cost their total cost.
 */
static int place(const struct wl *w, const int64_t *rem, struct node_place *out, double *cost)
{
    int n = w->count, g = w->req->count;
    *cost = 0;
    if (w->kind == K_FEDERATED) {
        for (int s = 0; s < n; s++) {
            int r = w->site_region[s];
            struct rchoice c = region_choice(w, r);
            int64_t u = 0;
            for (int t = 0; t < s; t++)
                if (w->site_region[t] == r)
                    u += g;
            if (!c.ok || cap_left(rem, r) - u < g)
                return -1;
            out[s] = (struct node_place){r, -1, c.model, c.spot, c.price, c.offer};
            *cost += c.cost;
        }
        return n;
    }
    struct cand cands[MAX_REGIONS];
    int nc = 0;
    for (int r = 0; r < nregions; r++) {
        if (!w->allowed[r])
            continue;
        struct rchoice c = region_choice(w, r);
        if (c.ok)
            cands[nc++] = (struct cand){r, c};
    }
    if (nc == 0)
        return -1;
    qsort(cands, (size_t)nc, sizeof(*cands), cmp_cand);
    if (w->together == T_REGION) {
        for (int i = 0; i < nc; i++)
            if (cap_left(rem, cands[i].region) >= (int64_t)n * g) {
                for (int k = 0; k < n; k++)
                    out[k] = (struct node_place){cands[i].region,  -1,
                                                 cands[i].c.model, cands[i].c.spot,
                                                 cands[i].c.price, cands[i].c.offer};
                *cost = n * cands[i].c.cost;
                return n;
            }
        return -1;
    }
    if (w->together == T_ZONE) {
        bool found = false;
        struct node_place best = {0};
        double best_cost = 0;
        static struct rchoice *scratch;
        static int scratch_cap;
        for (int i = 0; i < nc; i++) {
            int r = cands[i].region, nz = regions[r].nzones;
            if (cap_left(rem, r) < (int64_t)n * g)
                continue;
            if (nz > scratch_cap) {
                scratch_cap = nz;
                scratch = xrealloc(scratch, (size_t)nz * sizeof(*scratch));
            }
            for (int z = 0; z < nz; z++)
                scratch[z].ok = false;
            double eg = node_egress(w, r);
            for (int mi = 0; mi < w->nmodels; mi++) {
                const struct group *gr = groups[w->mlist[mi]][g];
                if (!gr)
                    continue;
                const struct rbest *rb = &gr->byregion[r];
                for (int z = 0; z < rb->zcount; z++) {
                    const struct zbest *zb = &gr->zones[rb->zfirst + z];
                    consider(w, &scratch[zb->zone], w->mlist[mi], zb->od, zb->spot, zb->od_offer,
                             zb->spot_offer, eg);
                }
            }
            for (int z = 0; z < nz; z++) {
                const struct rchoice *c = &scratch[z];
                if (c->ok && (!found || c->cost < best_cost - 1e-9)) {
                    found = true;
                    best_cost = c->cost;
                    best = (struct node_place){r, z, c->model, c->spot, c->price, c->offer};
                }
            }
        }
        if (!found)
            return -1;
        for (int k = 0; k < n; k++)
            out[k] = best;
        *cost = n * best_cost;
        return n;
    }
    /* free placement, with spread and max_per_region */
    int maxpr = w->max_per_region ? w->max_per_region : n;
    int placed_in[MAX_REGIONS] = {0};
    int k = 0;
    if (w->spread > 1) {
        int best_region[NCLOUDS];
        for (int c = 0; c < NCLOUDS; c++)
            best_region[c] = -1;
        for (int i = 0; i < nc; i++) {
            int c = regions[cands[i].region].cloud;
            if (best_region[c] < 0 && cap_left(rem, cands[i].region) >= g)
                best_region[c] = i;
        }
        /* the `spread` clouds whose best region is cheapest */
        for (int s = 0; s < w->spread; s++) {
            int bc = -1;
            for (int c = 0; c < NCLOUDS; c++)
                if (best_region[c] >= 0 && (bc < 0 || best_region[c] < best_region[bc]))
                    bc = c;
            if (bc < 0)
                return -1;
            int i = best_region[bc];
            best_region[bc] = -1;
            out[k++] = (struct node_place){cands[i].region,  -1,
                                           cands[i].c.model, cands[i].c.spot,
                                           cands[i].c.price, cands[i].c.offer};
            placed_in[cands[i].region]++;
            *cost += cands[i].c.cost;
        }
    }
    for (int i = 0; i < nc && k < n; i++) {
        int r = cands[i].region;
        int64_t room = (cap_left(rem, r) - (int64_t)placed_in[r] * g) / g;
        while (k < n && placed_in[r] < maxpr && room > 0) {
            out[k++] = (struct node_place){
                r, -1, cands[i].c.model, cands[i].c.spot, cands[i].c.price, cands[i].c.offer};
            placed_in[r]++;
            room--;
            *cost += cands[i].c.cost;
        }
    }
    return k == n ? n : -1;
}

/* ---------------------------------------------------------------------------------------- */
/* generating one workload                                                                    */

enum family { F_SLACK, F_TIGHT, F_OVERSUB, F_REAL };
static const char *const family_names[] = {"slack", "tight", "oversubscribed", "real"};

static int declared_of_cloud(int c, int *out, int max)
{
    int n = 0;
    for (int g = 0; g < nregions && n < max; g++)
        if (regions[g].declared && regions[g].cloud == c)
            out[n++] = g;
    return n;
}

static void gen_workload(struct wl *w, uint64_t seed, size_t index, int attempt)
{
    struct rng r = rng_make(seed, 1000 + index, (uint64_t)attempt);
    memset(w, 0, sizeof(*w));
    unsigned k = rnd(&r, 100);
    w->kind = k < 40 ? K_TRAINING : k < 70 ? K_SERVICE : k < 90 ? K_BATCH : K_FEDERATED;
    const char *mname = mnames[rnd(&r, ARRAY_LEN(mnames))];
    const char *task;
    switch (w->kind) {
    case K_TRAINING:
        task = tasks[rnd(&r, ARRAY_LEN(tasks))];
        w->req = pick_req(&r, train_reqs, ARRAY_LEN(train_reqs));
        k = rnd(&r, 100);
        w->count = k < 40 ? 1 : k < 65 ? 2 : k < 85 ? 4 : k < 96 ? 8 : 16;
        w->hours = rnd_range(&r, 2, 240);
        if (chance(&r, 30) && (int)w->hours % 24 == 0)
            snprintf(w->hours_yaml, sizeof(w->hours_yaml), "%dd", (int)w->hours / 24);
        else
            snprintf(w->hours_yaml, sizeof(w->hours_yaml), "%d", (int)w->hours);
        break;
    case K_SERVICE:
        task = svc_tasks[rnd(&r, ARRAY_LEN(svc_tasks))];
        w->req = pick_req(&r, infer_reqs, ARRAY_LEN(infer_reqs));
        w->count = rnd_range(&r, 1, 8);
        if (chance(&r, 75)) {
            w->hours = 730;
        } else {
            w->hours = rnd_range(&r, 100, 700);
            snprintf(w->hours_yaml, sizeof(w->hours_yaml), "%dh", (int)w->hours);
        }
        break;
    case K_BATCH:
        task = batch_tasks[rnd(&r, ARRAY_LEN(batch_tasks))];
        w->req = chance(&r, 50) ? pick_req(&r, infer_reqs, ARRAY_LEN(infer_reqs))
                                : pick_req(&r, train_reqs, ARRAY_LEN(train_reqs));
        w->count = rnd_range(&r, 1, 4);
        {
            int minutes = rnd_range(&r, 2, 48) * 30;
            w->hours = minutes / 60.0;
            if (minutes % 60)
                snprintf(w->hours_yaml, sizeof(w->hours_yaml), "%dh%dm", minutes / 60,
                         minutes % 60);
            else
                snprintf(w->hours_yaml, sizeof(w->hours_yaml), "%dh", minutes / 60);
        }
        break;
    default:
        task = fed_tasks[rnd(&r, ARRAY_LEN(fed_tasks))];
        w->req = pick_req(&r, fed_reqs, ARRAY_LEN(fed_reqs));
        w->count = rnd_range(&r, 2, 5);
        if (chance(&r, 50)) {
            w->hours = 730;
        } else {
            w->hours = rnd_range(&r, 40, 400);
            snprintf(w->hours_yaml, sizeof(w->hours_yaml), "%d", (int)w->hours);
        }
        break;
    }
    snprintf(w->name, sizeof(w->name), "w%06zu-%s-%s", index, mname, task);
    resolve_models(w);
    /* spot */
    k = rnd(&r, 100);
    if (w->kind == K_FEDERATED)
        w->spot = k < 70 ? S_NEVER : S_AUTO;
    else if (w->kind == K_SERVICE)
        w->spot = k < 55 ? S_NEVER : k < 90 ? S_AUTO : S_ALWAYS;
    else
        w->spot = k < 30 ? S_NEVER : k < 80 ? S_AUTO : S_ALWAYS;
    /* labels */
    w->team = teams[rnd(&r, ARRAY_LEN(teams))];
    w->tier = chance(&r, 55) ? "prod" : "dev";
    if (w->kind == K_SERVICE)
        w->product = products[rnd(&r, ARRAY_LEN(products))];
    /* data */
    if (w->kind != K_FEDERATED && chance(&r, w->kind == K_SERVICE ? 20 : 50)) {
        w->has_data = true;
        int g = (int)rnd(&r, (unsigned)nregions);
        w->data_cloud = regions[g].cloud;
        w->data_region = regions[g].name;
        static const int sizes[] = {20, 50, 100, 250, 500, 1000, 2000, 5000};
        w->data_gb = sizes[rnd(&r, ARRAY_LEN(sizes))];
    }
    if (w->kind == K_FEDERATED) {
        /* sites: distinct declared regions, any cloud */
        int used = 0;
        for (int s = 0; s < w->count; s++) {
            int g, tries = 0;
            do {
                g = (int)rnd(&r, (unsigned)nregions);
                tries++;
                bool dup = false;
                for (int t = 0; t < s; t++)
                    dup |= w->site_region[t] == g;
                if (regions[g].declared && !dup)
                    break;
            } while (tries < 1000);
            w->site_region[s] = g;
            w->site_name[s] = cities[(used++ + rnd(&r, 3)) % ARRAY_LEN(cities)];
            for (int t = 0; t < s; t++)
                if (w->site_name[t] == w->site_name[s])
                    w->site_name[s] = cities[(s * 3 + 1) % ARRAY_LEN(cities)];
        }
        /* make names unique */
        for (int s = 0; s < w->count; s++)
            for (int t = 0; t < s; t++)
                if (strcmp(w->site_name[t], w->site_name[s]) == 0)
                    for (size_t c = 0; c < ARRAY_LEN(cities); c++) {
                        bool taken = false;
                        for (int u = 0; u < w->count; u++)
                            taken |= u != s && w->site_name[u] == cities[c];
                        if (!taken) {
                            w->site_name[s] = cities[c];
                            break;
                        }
                    }
        w->nallowed = 0;
        return;
    }
    /* placement */
    if (chance(&r, 30)) {
        unsigned m = 0;
        while (m == 0 || m == 7u)
            m = rnd(&r, 8);
        w->clouds_mask = m;
    }
    k = rnd(&r, 100);
    if (k < 20) {
        w->inc[w->ninc++] = include_globs[rnd(&r, ARRAY_LEN(include_globs))];
        if (chance(&r, 30))
            w->inc[w->ninc++] = include_globs[rnd(&r, ARRAY_LEN(include_globs))];
        if (w->ninc == 2 && w->inc[0] == w->inc[1])
            w->ninc = 1;
        w->regions_list_form = chance(&r, 50);
    } else if (k < 35) {
        w->exc[w->nexc++] = exclude_globs[rnd(&r, ARRAY_LEN(exclude_globs))];
        if (chance(&r, 40))
            w->exc[w->nexc++] = exclude_globs[rnd(&r, ARRAY_LEN(exclude_globs))];
    } else if (k < 42) {
        w->inc[w->ninc++] = include_globs[rnd(&r, ARRAY_LEN(include_globs))];
        w->exc[w->nexc++] = exclude_globs[rnd(&r, ARRAY_LEN(exclude_globs))];
    }
    int nclouds_ok = 0;
    for (int c = 0; c < NCLOUDS; c++)
        nclouds_ok += cloud_ok(w, c);
    if (w->count > 1) {
        k = rnd(&r, 100);
        if (w->kind == K_TRAINING && k < 45)
            w->together = T_REGION;
        else if (w->kind == K_TRAINING && k < 65)
            w->together = T_ZONE;
        else if (w->kind == K_SERVICE && k < 35 && nclouds_ok >= 2)
            w->spread = (w->count >= 3 && nclouds_ok == 3 && chance(&r, 30)) ? 3 : 2;
        else if (w->kind == K_BATCH && k < 15)
            w->together = T_REGION;
        if (!w->together && w->count >= 2 && chance(&r, w->kind == K_SERVICE ? 50 : 20))
            w->max_per_region = rnd_range(&r, (w->count + 1) / 2, w->count - 1);
    }
}

/* A workload that validate accepts and that can be placed when capacity is unlimited. */
static bool workload_ok(struct wl *w)
{
    if (w->nmodels == 0)
        return false;
    if (w->kind == K_FEDERATED) {
        struct node_place np[MAX_NODES];
        double cost;
        return place(w, NULL, np, &cost) == w->count;
    }
    if (!resolve_regions(w) || w->nallowed == 0)
        return false;
    int nclouds_ok = 0;
    for (int c = 0; c < NCLOUDS; c++)
        nclouds_ok += cloud_ok(w, c);
    if (w->spread > nclouds_ok || w->spread > w->count)
        return false;
    if (w->max_per_region && (int64_t)w->max_per_region * w->nallowed < w->count)
        return false;
    struct node_place np[MAX_NODES];
    double cost;
    return place(w, NULL, np, &cost) == w->count;
}

static void make_workload(struct wl *w, uint64_t seed, size_t index)
{
    for (int attempt = 0; attempt < 200; attempt++) {
        gen_workload(w, seed, index, attempt);
        if (workload_ok(w))
            return;
    }
    /* fall back to something every catalog has */
    gen_workload(w, seed, index, 0);
    w->kind = K_BATCH;
    static const struct gpureq fallback = REQ1("H100:8", 8, M_H100, 1);
    w->req = &fallback;
    w->count = 1;
    w->spot = S_AUTO;
    w->clouds_mask = 0;
    w->ninc = w->nexc = 0;
    w->together = T_NONE;
    w->spread = w->max_per_region = 0;
    w->hours = 10;
    snprintf(w->hours_yaml, sizeof(w->hours_yaml), "10");
    resolve_models(w);
    if (!workload_ok(w))
        die("workload %zu: cannot make a feasible workload from this catalog", index);
}

/* ---------------------------------------------------------------------------------------- */
/* budgets                                                                                    */

struct budget {
    const char *name;
    bool hourly, monthly;
    /* selector: up to two keys, each with up to two values */
    const char *key[2];
    const char *val[2][2];
    int nkeys, nvals[2];
    /* accumulators */
    double h1, h2, hmin; /* pass-1 hourly, witness hourly, lower bound on hourly */
    size_t members;
    double cap;
};

static struct budget budgets[] = {
    {"total", true, true, {0}, {{0}}, 0, {0}, 0, 0, 0, 0, 0},
    {"team-research", true, false, {"team"}, {{"research"}}, 1, {1}, 0, 0, 0, 0, 0},
    {"team-vision", true, false, {"team"}, {{"vision"}}, 1, {1}, 0, 0, 0, 0, 0},
    {"team-ads", false, true, {"team"}, {{"ads"}}, 1, {1}, 0, 0, 0, 0, 0},
    {"speech-and-search", true, false, {"team"}, {{"speech", "search"}}, 1, {2}, 0, 0, 0, 0, 0},
    {"prod", false, true, {"tier"}, {{"prod"}}, 1, {1}, 0, 0, 0, 0, 0},
    {"assistants",
     true,
     false,
     {"product", "tier"},
     {{"chat", "copilot"}, {"prod"}},
     2,
     {2, 1},
     0,
     0,
     0,
     0,
     0},
    {"robotics-dev",
     true,
     true,
     {"team", "tier"},
     {{"robotics"}, {"dev"}},
     2,
     {1, 1},
     0,
     0,
     0,
     0,
     0},
};
#define NBUDGETS ARRAY_LEN(budgets)

static const char *label_value(const struct wl *w, const char *key)
{
    if (strcmp(key, "team") == 0)
        return w->team;
    if (strcmp(key, "tier") == 0)
        return w->tier;
    if (strcmp(key, "product") == 0)
        return w->product;
    return NULL;
}

static bool budget_matches(const struct budget *b, const struct wl *w)
{
    for (int k = 0; k < b->nkeys; k++) {
        const char *v = label_value(w, b->key[k]);
        if (!v)
            return false;
        bool any = false;
        for (int i = 0; i < b->nvals[k]; i++)
            any |= strcmp(v, b->val[k][i]) == 0;
        if (!any)
            return false;
    }
    return true;
}

/* ---------------------------------------------------------------------------------------- */
/* writing the stack                                                                          */

static FILE *open_out(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        die("cannot write %s: %s", path, strerror(errno));
    return f;
}

static void write_workload(FILE *f, const struct wl *w)
{
    fprintf(f, "  %s:\n    kind: %s\n    gpu: %s\n", w->name, kind_names[w->kind], w->req->yaml);
    if (w->kind == K_SERVICE) {
        if (w->count != 1)
            fprintf(f, "    replicas: %d\n", w->count);
    } else if (w->kind != K_FEDERATED) {
        if (w->count != 1)
            fprintf(f, "    nodes: %d\n", w->count);
    }
    if (w->hours_yaml[0])
        fprintf(f, "    hours: %s\n", w->hours_yaml);
    if (w->spot != default_spot)
        fprintf(f, "    spot: %s\n", spot_names[w->spot]);
    if (w->kind == K_FEDERATED) {
        fputs("    sites:\n", f);
        for (int s = 0; s < w->count; s++) {
            const struct region *g = &regions[w->site_region[s]];
            fprintf(f, "      %s: { location: %s/%s }\n", w->site_name[s], cloud_names[g->cloud],
                    g->name);
        }
    }
    bool any_placement =
        w->together || w->clouds_mask || w->ninc || w->nexc || w->spread || w->max_per_region;
    if (any_placement) {
        fputs("    placement:\n", f);
        if (w->together)
            fprintf(f, "      together: %s\n", together_names[w->together]);
        if (w->clouds_mask) {
            fputs("      clouds: [", f);
            bool first = true;
            for (int c = 0; c < NCLOUDS; c++)
                if (w->clouds_mask & (1u << c)) {
                    fprintf(f, "%s%s", first ? "" : ", ", cloud_names[c]);
                    first = false;
                }
            fputs("]\n", f);
        }
        if (w->ninc && !w->nexc && w->regions_list_form) {
            fputs("      regions: [", f);
            for (int i = 0; i < w->ninc; i++)
                fprintf(f, "%s\"%s\"", i ? ", " : "", w->inc[i]);
            fputs("]\n", f);
        } else if (w->ninc || w->nexc) {
            fputs("      regions:\n", f);
            if (w->ninc) {
                fputs("        include: [", f);
                for (int i = 0; i < w->ninc; i++)
                    fprintf(f, "%s\"%s\"", i ? ", " : "", w->inc[i]);
                fputs("]\n", f);
            }
            if (w->nexc) {
                fputs("        exclude: [", f);
                for (int i = 0; i < w->nexc; i++)
                    fprintf(f, "%s\"%s\"", i ? ", " : "", w->exc[i]);
                fputs("]\n", f);
            }
        }
        if (w->spread)
            fprintf(f, "      spread: { clouds: %d }\n", w->spread);
        if (w->max_per_region)
            fprintf(f, "      max_per_region: %d\n", w->max_per_region);
    }
    if (w->has_data)
        fprintf(f, "    data: { location: %s/%s, size: %dGB }\n", cloud_names[w->data_cloud],
                w->data_region, w->data_gb);
    if (w->product)
        fprintf(f, "    labels: { team: %s, tier: %s, product: %s }\n", w->team, w->tier,
                w->product);
    else
        fprintf(f, "    labels: { team: %s, tier: %s }\n", w->team, w->tier);
}

/* instance.txt: one line per workload, for the baseline and the checker. */
static void write_instance_workload(FILE *f, const struct wl *w)
{
    fprintf(f, "w %s %s %d %d %.6f %s %s %d %d", w->name, kind_names[w->kind], w->count,
            w->req->count, w->hours, spot_names[w->spot], together_names[w->together], w->spread,
            w->max_per_region);
    if (w->has_data)
        fprintf(f, " %s/%s %d", cloud_names[w->data_cloud], w->data_region, w->data_gb);
    else
        fputs(" - 0", f);
    fputs(" ", f);
    for (int i = 0; i < w->nmodels; i++)
        fprintf(f, "%s%s", i ? "," : "", models[w->mlist[i]].name);
    fputs(" ", f);
    if (w->kind == K_FEDERATED) {
        for (int s = 0; s < w->count; s++)
            fprintf(f, "%s%s@%d", s ? "," : "", w->site_name[s], w->site_region[s]);
    } else {
        bool first = true;
        for (int g = 0; g < nregions; g++)
            if (w->allowed[g]) {
                fprintf(f, "%s%d", first ? "" : ",", g);
                first = false;
            }
    }
    fputs(" ", f);
    bool first = true;
    for (size_t b = 0; b < NBUDGETS; b++)
        if (budgets[b].cap >= 0 && budget_matches(&budgets[b], w)) {
            fprintf(f, "%s%zu", first ? "" : ",", b);
            first = false;
        }
    if (first)
        fputs("-", f);
    fputc('\n', f);
}

/* ---------------------------------------------------------------------------------------- */
/* main                                                                                       */

static void usage(FILE *f)
{
    fputs("usage: gen_plan --family slack|tight|oversubscribed|real --workloads W --offers O\n"
          "                [--seed S] [--infeasible quota|budget] [--real-dir DIR] OUTDIR\n"
          "Writes OUTDIR/stack/*.yaml, OUTDIR/catalog.csv, OUTDIR/instance.txt and\n"
          "OUTDIR/gen.txt: a gpuform stack and an offer catalog for benchmarking `gpuform plan`.\n",
          f);
}

static uint64_t parse_u64(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end)
        die("%s: not a number: %s", what, s);
    return v;
}

static void mkdir_p(const char *path)
{
    if (mkdir(path, 0777) < 0 && errno != EEXIST)
        die("cannot create %s: %s", path, strerror(errno));
}

int main(int argc, char **argv)
{
    const char *family_s = NULL, *outdir = NULL, *infeasible = NULL;
    const char *real_dir = "/work/shared/data/catalog";
    uint64_t seed = 1, W = 0, O = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (a[0] == '-' && a[1] == '-' && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(a, "--family") == 0)
                family_s = v;
            else if (strcmp(a, "--workloads") == 0)
                W = parse_u64(v, a);
            else if (strcmp(a, "--offers") == 0)
                O = parse_u64(v, a);
            else if (strcmp(a, "--seed") == 0)
                seed = parse_u64(v, a);
            else if (strcmp(a, "--infeasible") == 0)
                infeasible = v;
            else if (strcmp(a, "--real-dir") == 0)
                real_dir = v;
            else {
                usage(stderr);
                die("unknown option %s", a);
            }
        } else if (a[0] != '-' && !outdir) {
            outdir = a;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!family_s || !outdir || W == 0 || O == 0) {
        usage(stderr);
        return 2;
    }
    int fam = -1;
    for (int f = 0; f < 4; f++)
        if (strcmp(family_s, family_names[f]) == 0)
            fam = f;
    if (fam < 0)
        die("unknown family %s", family_s);
    if (infeasible && strcmp(infeasible, "quota") != 0 && strcmp(infeasible, "budget") != 0)
        die("--infeasible takes quota or budget");
    if (W > 10000000 || O > 100000000)
        die("too large");

    mkdir_p(outdir);
    char stackdir[4096];
    snprintf(stackdir, sizeof(stackdir), "%s/stack", outdir);
    mkdir_p(stackdir);

    /* offers */
    catalog_out = open_out(outdir, "catalog.csv");
    fputs("cloud,region,zone,instance_type,gpu,gpus,gpu_memory_gb,vcpus,ram_gib,"
          "ondemand_usd_hour,spot_usd_hour,as_of,source\n",
          catalog_out);
    if (fam == F_REAL)
        gen_real_offers(seed, (size_t)O, real_dir);
    else
        gen_synthetic_offers(seed, (size_t)O);
    if (fclose(catalog_out) != 0)
        die("write error on catalog.csv");
    build_index();

    default_spot = fam == F_SLACK ? S_AUTO : S_NEVER;

    /* pass 1: every workload alone (unlimited capacity): usage per region, hourly per budget */
    struct wl *w = xmalloc(sizeof(*w));
    struct node_place np[MAX_NODES];
    double cost1 = 0;
    int64_t gpus_total = 0, nodes_total = 0;
    for (size_t i = 0; i < W; i++) {
        make_workload(w, seed, i);
        double c;
        if (place(w, NULL, np, &c) != w->count)
            die("internal: workload %zu cannot be placed", i);
        cost1 += c;
        double h = 0;
        for (int k = 0; k < w->count; k++) {
            regions[np[k].region].use1 += w->req->count;
            h += np[k].price;
        }
        gpus_total += (int64_t)w->count * w->req->count;
        nodes_total += w->count;
        /* the cheapest hourly any placement could have: each node at its cheapest price */
        double hmin = 1e300;
        double save_hours = w->hours;
        bool save_data = w->has_data;
        w->hours = 1;
        w->has_data = false;
        for (int g = 0; g < nregions; g++) {
            if (w->kind == K_FEDERATED || !w->allowed[g])
                continue;
            struct rchoice rc = region_choice(w, g);
            if (rc.ok && rc.price < hmin)
                hmin = rc.price;
        }
        w->hours = save_hours;
        w->has_data = save_data;
        double hlow = 0;
        if (w->kind == K_FEDERATED)
            hlow = h;
        else
            hlow = hmin * w->count;
        for (size_t b = 0; b < NBUDGETS; b++)
            if (budget_matches(&budgets[b], w)) {
                budgets[b].h1 += h;
                budgets[b].hmin += hlow;
                budgets[b].members++;
            }
    }

    /* a budget that would match nothing is left out (cap < 0) */
    for (size_t b = 0; b < NBUDGETS; b++)
        budgets[b].cap = budgets[b].members ? 0 : -1;

    /* caps for the witness: the "hot" regions, the busiest of the unconstrained optimum
     * that together hold `hot_share` of its GPUs, may keep only `frac` of what it put there */
    double frac = fam == F_TIGHT ? 0.50 : fam == F_REAL ? 0.60 : fam == F_OVERSUB ? 0.35 : 1;
    double hot_share = fam == F_TIGHT ? 0.80 : fam == F_REAL ? 0.70 : fam == F_OVERSUB ? 0.80 : 0;
    {
        int ids[MAX_REGIONS], n = 0;
        for (int g = 0; g < nregions; g++) {
            regions[g].cap = INT64_MAX / 4;
            if (regions[g].declared && regions[g].use1 > 0)
                ids[n++] = g;
        }
        /* busiest first; ties by index (insertion sort: at most MAX_REGIONS) */
        for (int a = 1; a < n; a++)
            for (int b = a; b > 0 && regions[ids[b]].use1 > regions[ids[b - 1]].use1; b--) {
                int t = ids[b];
                ids[b] = ids[b - 1];
                ids[b - 1] = t;
            }
        int64_t acc = 0;
        for (int a = 0; a < n && (double)acc < hot_share * (double)gpus_total; a++) {
            struct region *rg = &regions[ids[a]];
            acc += rg->use1;
            rg->hot = true;
            rg->cap = (int64_t)floor((double)rg->use1 * frac);
        }
    }
    /* "*": the quota of every region not named: 0.1% of the demand (multiple of 8, >= 16) */
    int64_t star_cap = 8 * (int64_t)ceil((double)gpus_total / 1000.0 / 8.0);
    if (star_cap < 16)
        star_cap = 16;

    /* pass 2: the witness, written out as it goes */
    int64_t *rem = xmalloc((size_t)nregions * sizeof(*rem));
    for (int g = 0; g < nregions; g++)
        rem[g] = regions[g].cap;
    FILE *inst_tmp = tmpfile();
    if (!inst_tmp)
        die("tmpfile: %s", strerror(errno));
    FILE *wf = NULL;
    FILE *wit = open_out(outdir, "witness.json");
    fputs("{\n  \"solver\": \"witness\",\n  \"nodes\": [", wit);
    size_t wit_nodes = 0;
    double cost2 = 0;
    size_t forced = 0;
    int counts[4] = {0}, n_together[3] = {0}, n_spread = 0, n_maxpr = 0, n_data = 0, n_clouds = 0,
        n_inc = 0, n_exc = 0, n_spot[3] = {0}, n_lists = 0, n_mem = 0;
    for (size_t i = 0; i < W; i++) {
        if (i % WORKLOADS_PER_FILE == 0) {
            if (wf && fclose(wf) != 0)
                die("write error");
            char name[64];
            snprintf(name, sizeof(name), "workloads-%02zu.yaml", i / WORKLOADS_PER_FILE);
            wf = open_out(stackdir, name);
            fprintf(wf,
                    "# gen_plan --family %s --workloads %" PRIu64 " --offers %" PRIu64
                    " --seed %" PRIu64 ": workloads %zu to %zu\nworkloads:\n",
                    family_names[fam], W, O, seed, i,
                    (size_t)(i + WORKLOADS_PER_FILE < W ? i + WORKLOADS_PER_FILE : W) - 1);
        }
        make_workload(w, seed, i);
        double c;
        /* tight and real: the witness takes each workload's least hourly price (not its
         * least cost), so that budgets can be set at the unconstrained optimum's hourly
         * spend and still be met */
        double save_hours = w->hours;
        bool save_data = w->has_data;
        if (fam == F_TIGHT || fam == F_REAL) {
            w->hours = 1;
            w->has_data = false;
        }
        if (place(w, rem, np, &c) != w->count) {
            forced++;
            if (place(w, NULL, np, &c) != w->count)
                die("internal: workload %zu cannot be placed", i);
        }
        w->hours = save_hours;
        w->has_data = save_data;
        c = 0;
        for (int k = 0; k < w->count; k++)
            c += np[k].price * w->hours + node_egress(w, np[k].region);
        cost2 += c;
        double h = 0;
        for (int k = 0; k < w->count; k++) {
            regions[np[k].region].use2 += w->req->count;
            rem[np[k].region] -= w->req->count;
            h += np[k].price;
        }
        for (size_t b = 0; b < NBUDGETS; b++)
            if (budget_matches(&budgets[b], w))
                budgets[b].h2 += h;
        write_workload(wf, w);
        for (int k = 0; k < w->count; k++) {
            const struct offer *o = &offers[np[k].offer];
            const struct region *rg = &regions[o->region];
            char idx[48];
            if (w->kind == K_FEDERATED)
                snprintf(idx, sizeof(idx), "%s", w->site_name[k]);
            else
                snprintf(idx, sizeof(idx), "%d", k);
            fprintf(wit,
                    "%s\n    { \"address\": \"%s[%s]\", \"cloud\": \"%s\", \"region\": \"%s\", "
                    "\"zone\": \"%s\", \"instance_type\": \"%s\", \"gpu\": \"%s\", "
                    "\"gpus\": %d, \"spot\": %s, \"hourly_usd\": %.4f }",
                    wit_nodes++ ? "," : "", w->name, idx, cloud_names[rg->cloud], rg->name,
                    rg->zones[o->zone], o->type, models[o->model].name, o->gpus,
                    np[k].spot ? "true" : "false", np[k].price);
        }
        counts[w->kind]++;
        n_together[w->together]++;
        n_spread += w->spread > 0;
        n_maxpr += w->max_per_region > 0;
        n_data += w->has_data;
        n_clouds += w->clouds_mask != 0;
        n_inc += w->ninc > 0;
        n_exc += w->nexc > 0;
        n_spot[w->spot]++;
        n_lists += w->req->nnames > 1;
        n_mem += w->req->mem_min || w->req->mem_max;
        /* instance line, to a temporary file: the header needs the quotas and budgets */
        write_instance_workload(inst_tmp, w);
    }
    if (wf && fclose(wf) != 0)
        die("write error");
    fprintf(wit, "\n  ],\n  \"totals\": { \"cost_usd\": %.6f }\n}\n", cost2);
    if (fclose(wit) != 0)
        die("write error on witness.json");

    /* quotas */
    bool inf_quota = infeasible && strcmp(infeasible, "quota") == 0;
    bool inf_budget = infeasible && strcmp(infeasible, "budget") == 0;
    int64_t star[NCLOUDS];
    for (int c = 0; c < NCLOUDS; c++)
        star[c] = -1;
    for (int g = 0; g < nregions; g++) {
        struct region *rg = &regions[g];
        if (!rg->declared)
            continue;
        int64_t q;
        int64_t margin = (int64_t)ceil(0.03 * (double)rg->use2);
        if (margin < 8)
            margin = 8;
        if (inf_quota) {
            /* below what the witness needs, and nothing elsewhere: total < demand */
            q = (int64_t)floor(0.9 * (double)rg->use2);
            rg->named = rg->use2 > 0;
            star[rg->cloud] = 0;
        } else if (fam == F_SLACK) {
            q = 2 * rg->use1;
            q = (q + 7) / 8 * 8;
            if (q < 64)
                q = 64;
            rg->named = rg->use1 > 0;
            star[rg->cloud] = 256;
        } else if (fam == F_OVERSUB) {
            /* every used region: what the witness uses plus 3%; the rest: nothing */
            q = rg->use2 ? rg->use2 + margin : 0;
            rg->named = rg->use2 > 0;
            star[rg->cloud] = 0;
        } else if (rg->hot) {
            q = rg->use2 > rg->cap ? rg->use2 : rg->cap;
            rg->named = true;
            star[rg->cloud] = star_cap;
        } else {
            /* the others: 20% above what the witness uses there */
            q = (int64_t)ceil(1.2 * (double)rg->use2);
            if (q < star_cap)
                q = star_cap;
            rg->named = q > star_cap;
            star[rg->cloud] = star_cap;
        }
        if (!rg->named)
            q = star[rg->cloud];
        rg->quota = q;
    }

    /* budgets */
    size_t nb = 0;
    for (size_t b = 0; b < NBUDGETS; b++) {
        struct budget *bg = &budgets[b];
        if (bg->members == 0) {
            bg->cap = -1; /* would match nothing: leave it out */
            continue;
        }
        double cap;
        if (fam == F_SLACK)
            cap = 1.5 * bg->h1;
        else if (fam == F_OVERSUB)
            cap = 1.03 * bg->h2;
        else /* tight, real: the unconstrained optimum's hourly, or the witness's if more */
            cap = bg->h2 > bg->h1 ? bg->h2 : bg->h1;
        if (inf_budget && b == 0)
            cap = 0.9 * bg->hmin;
        /* up a cent, and a cent more: sums in another order must not exceed it */
        bg->cap = ceil(cap * 100) / 100 + 0.01;
        nb++;
    }

    /* stack.yaml: everything but the workloads */
    FILE *sf = open_out(stackdir, "stack.yaml");
    fprintf(sf,
            "# Generated by bench/plan/gen_plan.c: --family %s --workloads %" PRIu64
            " --offers %" PRIu64 " --seed %" PRIu64 "%s%s\n"
            "# The workloads are in workloads-*.yaml; the catalog is ../catalog.csv.\n"
            "version: 1\nstack: bench-%s\n\ndefaults:\n  spot: %s\n  verify: none\n\nclouds:\n",
            family_names[fam], W, O, seed, infeasible ? " --infeasible " : "",
            infeasible ? infeasible : "", family_names[fam], spot_names[default_spot]);
    for (int c = 0; c < NCLOUDS; c++) {
        int ids[MAX_REGIONS];
        int n = declared_of_cloud(c, ids, MAX_REGIONS);
        if (n == 0)
            continue;
        fprintf(sf, "  %s:\n", cloud_names[c]);
        if (c == GCP)
            fputs("    project: bench-plan\n", sf);
        if (c == AZURE)
            fputs("    subscription: 00000000-0000-0000-0000-000000000000\n"
                  "    resource_group: bench-plan\n",
                  sf);
        fputs("    regions: [", sf);
        for (int i = 0; i < n; i++)
            fprintf(sf, "%s%s", i ? ", " : "", regions[ids[i]].name);
        fputs("]\n    quotas:\n", sf);
        bool flow = false;
        for (int i = 0; i < n; i++) {
            const struct region *rg = &regions[ids[i]];
            if (!rg->named)
                continue;
            if (flow)
                fprintf(sf, "      %s: %" PRId64 "\n", rg->name, rg->quota);
            else
                fprintf(sf, "      %s: { gpus: %" PRId64 " }\n", rg->name, rg->quota);
            flow = !flow;
        }
        fprintf(sf, "      \"*\": %" PRId64 "\n", star[c] < 0 ? 0 : star[c]);
    }
    fputs("\nbudgets:\n", sf);
    for (size_t b = 0; b < NBUDGETS; b++) {
        const struct budget *bg = &budgets[b];
        if (bg->cap < 0)
            continue;
        fprintf(sf, "  %s:\n", bg->name);
        if (bg->hourly)
            fprintf(sf, "    hourly: %.2f\n", bg->cap);
        if (bg->monthly)
            fprintf(sf, "    monthly: %.2f\n",
                    bg->hourly ? ceil(bg->cap * 730 * 1.02) : ceil(bg->cap * 730 * 100) / 100);
        if (bg->nkeys) {
            fputs("    match: { ", sf);
            for (int k = 0; k < bg->nkeys; k++) {
                fprintf(sf, "%s%s: ", k ? ", " : "", bg->key[k]);
                if (bg->nvals[k] == 1)
                    fputs(bg->val[k][0], sf);
                else
                    fprintf(sf, "[%s, %s]", bg->val[k][0], bg->val[k][1]);
            }
            fputs(" }\n", sf);
        }
    }
    if (fclose(sf) != 0)
        die("write error on stack.yaml");

    /* instance.txt */
    FILE *inf = open_out(outdir, "instance.txt");
    fprintf(inf,
            "gpuform-plan-instance 1\nfamily %s\nseed %" PRIu64 "\nworkloads %" PRIu64
            "\noffers %zu\ninfeasible %s\n",
            family_names[fam], seed, W, noffers, infeasible ? infeasible : "-");
    for (int g = 0; g < nregions; g++) {
        const struct region *rg = &regions[g];
        fprintf(inf, "region %d %s %s %d %" PRId64 "\n", g, cloud_names[rg->cloud], rg->name,
                rg->declared ? 1 : 0, rg->declared ? rg->quota : -1);
    }
    for (size_t b = 0; b < NBUDGETS; b++) {
        const struct budget *bg = &budgets[b];
        if (bg->cap < 0)
            fprintf(inf, "budget %zu %s -1 -1\n", b, bg->name);
        else
            fprintf(inf, "budget %zu %s %.2f %.2f\n", b, bg->name, bg->hourly ? bg->cap : -1.0,
                    bg->monthly ? (bg->hourly ? ceil(bg->cap * 730 * 1.02)
                                              : ceil(bg->cap * 730 * 100) / 100)
                                : -1.0);
    }
    rewind(inst_tmp);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), inst_tmp)) > 0)
        if (fwrite(buf, 1, n, inf) != n)
            die("write error on instance.txt");
    fclose(inst_tmp);
    if (fclose(inf) != 0)
        die("write error on instance.txt");

    /* gen.txt */
    FILE *gf = open_out(outdir, "gen.txt");
    int ndecl = 0, nnamed = 0;
    for (int g = 0; g < nregions; g++) {
        ndecl += regions[g].declared;
        nnamed += regions[g].declared && regions[g].named;
    }
    fprintf(gf,
            "family %s\nseed %" PRIu64 "\nworkloads %" PRIu64 "\noffers %zu\nregions %d\n"
            "declared_regions %d\nnamed_quotas %d\nbudgets %zu\nnodes %" PRId64 "\ngpus %" PRId64
            "\nkinds training=%d service=%d batch=%d federated=%d\n"
            "together none=%d region=%d zone=%d\nspread %d\nmax_per_region %d\ndata %d\n"
            "clouds_lists %d\nregion_include %d\nregion_exclude %d\n"
            "spot never=%d auto=%d always=%d\ngpu_name_lists %d\nmemory_ranges %d\n"
            "unconstrained_cost %.2f\nwitness_cost %.2f\nwitness_forced %zu\n"
            "infeasible %s\n",
            family_names[fam], seed, W, noffers, nregions, ndecl, nnamed, nb, nodes_total,
            gpus_total, counts[0], counts[1], counts[2], counts[3], n_together[0], n_together[1],
            n_together[2], n_spread, n_maxpr, n_data, n_clouds, n_inc, n_exc, n_spot[0], n_spot[1],
            n_spot[2], n_lists, n_mem, cost1, cost2, forced, infeasible ? infeasible : "-");
    for (size_t b = 0; b < NBUDGETS; b++)
        fprintf(gf,
                "budget %s members=%zu cap=%.2f unconstrained_hourly=%.2f witness_hourly=%.2f "
                "min_hourly=%.2f\n",
                budgets[b].name, budgets[b].members, budgets[b].cap, budgets[b].h1, budgets[b].h2,
                budgets[b].hmin);
    if (fclose(gf) != 0)
        die("write error on gen.txt");
    fprintf(stderr,
            "gen_plan: %s, %" PRIu64 " workloads (%" PRId64 " nodes, %" PRId64
            " GPUs), %zu offers, %d regions (%d declared); unconstrained cost %.2f, witness "
            "cost %.2f\n",
            family_names[fam], W, nodes_total, gpus_total, noffers, nregions, ndecl, cost1, cost2);
    free(w);
    free(rem);
    return 0;
}
