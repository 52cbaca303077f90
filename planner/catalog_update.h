/*
 * `gpuform catalog update`: refreshes the on-demand and spot prices of a catalog's rows from
 * the clouds' public price sources — the Azure Retail Prices API (no key), the AWS Price
 * List bulk offer files (no key, on demand only) and the GCP Cloud Billing Catalog API (an
 * API key; GPU, vCPU and RAM priced apart and added up). Rows no source prices are kept as
 * they were and counted. The parsers are separate functions so they are tested on recorded
 * replies (tests/data/prices/). docs/catalog.md §6 documents the command.
 */
#ifndef GPUFORM_PLANNER_CATALOG_UPDATE_H
#define GPUFORM_PLANNER_CATALOG_UPDATE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/cloud.h"
#include "core/buf.h"
#include "core/diag.h"
#include "core/http.h"
#include "planner/catalog.h"

/* The real endpoints (overridable with plan_update_options and GPUFORM_*_PRICES_URL). */
#define PLAN_AZURE_PRICES_URL "https://prices.azure.com/api/retail/prices"
#define PLAN_AWS_PRICES_URL                                                                        \
    "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonEC2/current"
#define PLAN_GCP_PRICES_URL "https://cloudbilling.googleapis.com/v1/services/6F81-5844-456A/skus"

/* One price a source gave: `item` is the instance type (Azure armSkuName, AWS instanceType)
 * or, for GCP, a component: "gpu:T4", "core:n1", "ram:n1" (USD per GPU-hour, vCPU-hour,
 * GiB-hour). Prices < 0 are not known. */
struct plan_price {
    enum core_cloud cloud;
    char region[40];
    char item[72];
    double ondemand, spot;
    char ondemand_date[32], spot_date[32]; /* the source's effective date, to keep the newest */
};

/* A growable set of prices, one per (cloud, region, item). Pair init with release. */
struct plan_price_table {
    struct plan_price *v;
    size_t n, cap;
};

void plan_price_table_init(struct plan_price_table *t);
void plan_price_table_release(struct plan_price_table *t);

/* Records a price; when the key is there, the newer date wins (ties: the lower price).
 * 0, or -1 when out of memory. */
int plan_price_put(struct plan_price_table *t, enum core_cloud cloud, const char *region,
                   const char *item, bool spot, double usd, const char *date);

/* The entry for the key, or NULL. */
const struct plan_price *plan_price_get(const struct plan_price_table *t, enum core_cloud cloud,
                                        const char *region, const char *item);

/*
 * The parsers: each reads one reply (a page) and adds its prices to `t`. They return 0, or
 * -1 with a lowercase reason in err ("not JSON: ... at line 1 column 17", "no 'Items'
 * array"). *next (Azure, GCP) gets the next page's link or token, malloc'd, or NULL on the
 * last page.
 *
 * Azure: `Items` of type Consumption, serviceName "Virtual Machines", unitOfMeasure
 * "1 Hour", currency USD; Windows products and "Low Priority" meters are left out; a
 * meterName or skuName with "Spot" is the spot price; item = armSkuName, region =
 * armRegionName.
 */
int plan_prices_parse_azure(const char *text, size_t len, struct plan_price_table *t, char **next,
                            char *err, size_t errlen);

/* AWS: one region's offer file as JSON (products + terms.OnDemand), read whole: Linux, shared
 * tenancy, no pre-installed software, capacitystatus Used, USD per Hrs; item = instanceType; region
 * = `region` (the file's). */
int plan_prices_parse_aws(const char *text, size_t len, const char *region,
                          struct plan_price_table *t, char *err, size_t errlen);

/*
 * AWS, the CSV form of a region's offer file (index.csv), read as a stream: the file is
 * fed in chunks of any size, each record parsed as it completes, so memory stays at one
 * record however large the file (the biggest regions' files are gigabytes). Five lines of
 * metadata, then a header row starting with "SKU", then one row per (product, term, price
 * dimension). A row counts when TermType is OnDemand, Unit Hrs, Currency USD, Operating
 * System Linux, Tenancy Shared, Pre Installed S/W NA, CapacityStatus Used (and License
 * Model, MarketOption and Region Code, where present, say No License required, OnDemand
 * and the region). `wanted` (NULL-terminated, or NULL for all) limits the instance types
 * kept. Init, feed, finish, release; reset starts over (for a retried download).
 */
struct plan_aws_csv {
    const char *region;
    const char *const *wanted;
    struct plan_price_table *t;
    struct core_buf rec; /* the record being read */
    bool in_quotes, header_seen, failed;
    size_t records;
    int col[14];
    char err[256];
};

void plan_aws_csv_init(struct plan_aws_csv *s, const char *region, const char *const *wanted,
                       struct plan_price_table *t);
void plan_aws_csv_reset(struct plan_aws_csv *s);
/* 0, or -1 with s->err set (a missing column, a record over 1 MiB, out of memory). */
int plan_aws_csv_feed(struct plan_aws_csv *s, const char *data, size_t len);
/* The last record and the checks at the end ("no header row"). 0 or -1 with s->err. */
int plan_aws_csv_finish(struct plan_aws_csv *s);
void plan_aws_csv_release(struct plan_aws_csv *s);

/* GCP: `skus` of resourceFamily Compute: GPUs ("Nvidia Tesla T4 GPU running in ..."),
 * predefined vCPU and RAM of the N1, A2, A3 and G2 families; usageType OnDemand or
 * Preemptible (spot); one entry per serviceRegions region; unitPrice units + nanos. */
int plan_prices_parse_gcp(const char *text, size_t len, struct plan_price_table *t, char **next,
                          char *err, size_t errlen);

struct plan_update_options {
    bool cloud[CORE_CLOUD_COUNT];  /* which clouds to refresh */
    const char *azure_url;         /* NULL: PLAN_AZURE_PRICES_URL */
    const char *aws_url;           /* the folder holding REGION/index.csv; NULL: default */
    bool aws_json;                 /* read REGION/index.json whole instead (capped) */
    const char *gcp_url;           /* NULL: PLAN_GCP_PRICES_URL */
    const char *gcp_api_key;       /* required when cloud[GCP]; never logged (redacted) */
    const char *as_of;             /* YYYY-MM-DD for refreshed rows (the caller's today) */
    size_t aws_max_bytes;          /* cap on one AWS offer file; 0: 16 GiB for the streamed
                                      CSV, 1 GiB for JSON (read whole) */
    int max_pages;                 /* cap on pages per query (Azure, GCP); 0: 200 */
    struct core_http_client *http; /* borrowed */
};

struct plan_update_stats {
    size_t rows[CORE_CLOUD_COUNT];    /* rows of the cloud in the catalog */
    size_t updated[CORE_CLOUD_COUNT]; /* rows given a new price from the source */
    size_t changed[CORE_CLOUD_COUNT]; /* of those, rows whose price differs from before */
    size_t kept[CORE_CLOUD_COUNT];    /* rows the source had no price for: kept as they were */
    size_t requests;                  /* HTTP requests made (pages) */
};

/*
 * Fetches the prices of the chosen clouds and applies them to `cat` (its offers, as_of and
 * source are rewritten in place; strings go to its arena): on demand from every source,
 * spot from Azure and GCP (AWS publishes no spot prices in the price list: spot is kept).
 * A refreshed row gets as_of = opts->as_of and source "Azure Retail Prices API" /
 * "AWS Price List API (offer file)" / "GCP Cloud Billing Catalog API". Any failure (HTTP,
 * a reply that does not parse) is an error in `diags` naming the URL (secrets redacted)
 * and returns -1; `cat` may then be half updated and must be dropped. 0 on success.
 */
int plan_catalog_update(struct plan_catalog *cat, const struct plan_update_options *opts,
                        struct plan_update_stats *stats, struct core_diags *diags);

/*
 * The whole of `catalog update`: reads the catalog at `in` (NULL: the bundled one), updates
 * it, checks that the result reads back as a valid catalog, and saves it to `out`
 * atomically (plan_catalog_save: a temporary file in the same folder, flushed, renamed).
 * On any failure `out` is untouched (byte for byte) and nothing is left behind; the reasons
 * are in `diags`. On success *sha256 gets the new file's hash and *noffers its offers.
 * 0 or -1.
 */
int plan_catalog_update_file(const char *in, const char *out, const struct plan_update_options *o,
                             struct plan_update_stats *stats, struct core_diags *diags,
                             char sha256[65], size_t *noffers);

/* Applies a table of prices to `cat` (the second half of plan_catalog_update; exposed for
 * tests). Counts into stats. 0, or -1 when out of memory. */
int plan_catalog_apply_prices(struct plan_catalog *cat, const struct plan_price_table *t,
                              const bool cloud[CORE_CLOUD_COUNT], const char *as_of,
                              struct plan_update_stats *stats);

#endif
