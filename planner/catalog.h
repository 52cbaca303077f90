/*
 * The GPU offer catalog: every (cloud, region, zone, instance type) that carries GPUs, with
 * its on-demand and spot prices, as-of date and source. The planner chooses among these;
 * `gpuform catalog` lists and imports them. The format is documented in docs/catalog.md.
 *
 * Ownership: a plan_catalog and all its strings live in the catalog's arena and are freed
 * by plan_catalog_free(); `gpu` points into the static GPU model table (core/gpu_models.h),
 * so two offers of one model share the pointer. Offers are sorted (cloud, region, zone,
 * instance type, then GPU model and count; see plan_offer_cmp) and never change after
 * loading, so the planner may keep pointers to them.
 */
#ifndef GPUFORM_PLANNER_CATALOG_H
#define GPUFORM_PLANNER_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "core/arena.h"
#include "core/cloud.h"
#include "core/diag.h"

struct plan_offer {
    enum core_cloud cloud;
    const char *region;        /* the cloud's region name */
    const char *zone;          /* availability zone, "" when priced per region only */
    const char *instance_type; /* e.g. "p5.48xlarge", "a2-highgpu-8g", "Standard_ND96asr_v4" */
    const char *gpu;           /* canonical model name (core_gpu_model_find spelling) */
    int gpus;                  /* GPUs per instance, >= 1 */
    int gpu_memory_gb;         /* per GPU, as the catalog states it (decimal GB) */
    double vcpus;
    double ram_gib;
    double ondemand; /* USD per hour, < 0 when not offered on demand */
    double spot;     /* USD per hour, < 0 when not offered as spot */
    /* Markets new nodes may not take (a capacity or quota block, exec_catalog_unblocked)
     * while nodes that run there now stay: the planner keeps those, places no other. */
    bool blocked_ondemand, blocked_spot;
    const char *as_of;  /* YYYY-MM-DD the prices were observed */
    const char *source; /* where the row comes from */
};

struct plan_catalog {
    struct core_arena arena;
    struct plan_offer *offers;
    size_t noffers;
    const char *name;  /* the file it was read from, or "bundled" */
    char sha256[65];   /* hex SHA-256 of the catalog text, for the plan's provenance */
    const char *as_of; /* the newest as_of of any row ("" when there are no rows) */
};

/* The header line of gpuform's catalog format, without the line feed. */
#define PLAN_CATALOG_HEADER                                                                        \
    "cloud,region,zone,instance_type,gpu,gpus,gpu_memory_gb,vcpus,ram_gib,ondemand_usd_hour,"      \
    "spot_usd_hour,as_of,source"

/* The largest catalog text accepted (hostile or mistaken input fails, cleanly). */
#define PLAN_CATALOG_MAX_BYTES ((size_t)64 << 20)

/*
 * Reads a catalog in gpuform's format from `path`. Problems (a bad header, a row with the
 * wrong number of fields, an unknown cloud, region or GPU, a negative price) are reported
 * to `diags` as file:line:col with stable codes (docs/catalog.md lists them: catalog-io,
 * catalog-size, catalog-syntax, catalog-text, catalog-header, catalog-field, catalog-cloud,
 * catalog-region, catalog-gpu, catalog-price, catalog-date, catalog-duplicate); every bad
 * row is reported, up to the diagnostics' error cap. Returns 0 and sets *out (the caller
 * frees it with plan_catalog_free), or -1 with *out NULL.
 */
int plan_catalog_load(const char *path, struct core_diags *diags, struct plan_catalog **out);

/* The catalog compiled into the binary (specs/catalog/gpuform-catalog.csv). */
int plan_catalog_load_bundled(struct core_diags *diags, struct plan_catalog **out);

/*
 * The same from memory; `name` is used in messages. `text` is borrowed: it may be freed
 * once this returns. The SHA-256 is of text[0..len) exactly as given.
 */
int plan_catalog_parse(const char *name, const char *text, size_t len, struct core_diags *diags,
                       struct plan_catalog **out);

/* Frees the catalog and everything in it; NULL is a no-op. */
void plan_catalog_free(struct plan_catalog *cat);

/*
 * Writes the catalog in gpuform's format (header, then rows in catalog order; LF line ends;
 * numbers with at most 6 decimals and no trailing zeros; fields quoted only when they hold
 * a comma, a quote or a line break). Parsing what this writes gives the same offers, and
 * writing them again gives the same bytes. 0, or -1 on a write error.
 */
int plan_catalog_write(const struct plan_catalog *cat, FILE *out);

/*
 * The text plan_catalog_write would write, malloc'd and NUL-terminated (the caller frees
 * it); *len gets its length. NULL when out of memory.
 */
char *plan_catalog_render(const struct plan_catalog *cat, size_t *len);

/*
 * Writes the catalog to `path` atomically: a temporary file next to it, flushed to disk, then
 * renamed over `path` (which, when it exists, must be a regular file: its permissions are
 * kept). On any failure nothing is left behind and `path` is untouched;
 * the reason goes to `diags` (code catalog-io). When `sha256` is not NULL it receives the hex
 * SHA-256 of the bytes written. 0 or -1.
 */
int plan_catalog_save(const struct plan_catalog *cat, const char *path, struct core_diags *diags,
                      char sha256[65]);

/*
 * Catalog order: cloud (aws, gcp, azure: enum core_cloud order), then region, zone,
 * instance type and GPU model by strcmp, then GPU count. 0 means the same key: a catalog
 * holds each key once.
 */
int plan_offer_cmp(const struct plan_offer *a, const struct plan_offer *b);

/* Hex SHA-256 of data[0..len) into out (64 digits and a NUL). 0, or -1 on a crypto error. */
int plan_sha256_hex(const void *data, size_t len, char out[65]);

#endif
