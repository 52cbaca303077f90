/*
 * Importing SkyPilot's per-cloud vms.csv catalogs (skypilot-org/skypilot-catalog, schema v8,
 * and copies such as ../shared/data/catalog/) into gpuform's catalog format, so a team can
 * build its own catalog and plan with `--catalog PATH`. docs/catalog.md says what is kept,
 * what is skipped and why, and how GCP prices are combined.
 *
 * Ownership: a plan_import owns everything it read until plan_import_free(); the catalog
 * plan_import_finish() returns is the caller's (plan_catalog_free). Options are borrowed
 * and must outlive the import.
 */
#ifndef GPUFORM_PLANNER_CATALOG_IMPORT_H
#define GPUFORM_PLANNER_CATALOG_IMPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/diag.h"
#include "planner/catalog.h"

/* Why a row of a SkyPilot file did not become an offer. Each skipped row counts once, for
 * the first reason that applies, in this order. */
enum plan_import_skip {
    PLAN_SKIP_MALFORMED,   /* wrong number of fields, or a number that does not parse */
    PLAN_SKIP_NO_GPU,      /* no accelerator: a CPU-only row */
    PLAN_SKIP_FRACTIONAL,  /* a fractional GPU count: a slice of a GPU (g6f, NVads A10 v5) */
    PLAN_SKIP_UNKNOWN_GPU, /* not a GPU gpuform knows: TPU, Inferentia, Trainium, ... */
    PLAN_SKIP_FILTERED,    /* left out by the options' `only` or `gpus` filters */
    PLAN_SKIP_REGION,      /* no region, or not a public region of the cloud (Local Zones) */
    PLAN_SKIP_NO_PRICE,    /* no price at all (GCP accelerators: no on-demand price) */
    PLAN_SKIP_NO_HOST,     /* GCP accelerator with no priced host VM in its zone */
    PLAN_SKIP_DUPLICATE,   /* the same offer again; the first one read is kept */
    PLAN_SKIP_COUNT
};

#define PLAN_IMPORT_EXAMPLES  6                   /* distinct values remembered per reason */
#define PLAN_IMPORT_MAX_BYTES ((size_t)256 << 20) /* the largest input file accepted */

struct plan_import_options {
    int cloud;               /* an enum core_cloud, or -1: from each file's name */
    const char *as_of;       /* YYYY-MM-DD for every row; NULL: each file's modification date */
    const char *source;      /* `source` of every row; NULL: "SkyPilot catalog <file name>" */
    const char *const *only; /* instance type globs (fnmatch); nonly == 0: every type */
    size_t nonly;
    const char *const *gpus; /* GPU model names or aliases; ngpus == 0: every model */
    size_t ngpus;
};

struct plan_import_stats {
    size_t files;         /* files read */
    size_t files_skipped; /* files of another cloud than options.cloud, left unread */
    size_t rows;          /* data rows read, host VM rows included */
    size_t host_rows;     /* GCP host VM rows: prices for accelerators, not offers */
    size_t accel_rows;    /* GCP GPU rows priced apart from their host VMs, waiting for one */
    size_t imported;      /* offers imported (in the result) */
    size_t kept;          /* offers of the merged catalog kept as they were */
    size_t replaced;      /* offers of the merged catalog replaced by imported ones */
    size_t skipped[PLAN_SKIP_COUNT];
    const char *first[PLAN_SKIP_COUNT]; /* "file:line" of the first row skipped, or NULL */
    /* Distinct values behind some reasons (unknown GPU names, unknown regions). */
    const char *examples[PLAN_SKIP_COUNT][PLAN_IMPORT_EXAMPLES];
    size_t nexamples[PLAN_SKIP_COUNT];
};

/*
 * Checks the options a user gave: as_of a real YYYY-MM-DD date, source non-empty text of at
 * most 200 characters without control characters, every GPU name known, no empty glob.
 * Each problem goes to `diags` (code import-option); 0 or -1.
 */
int plan_import_check_options(const struct plan_import_options *opts, struct core_diags *diags);

/* A new import, or NULL when out of memory. */
struct plan_import *plan_import_new(const struct plan_import_options *opts);

void plan_import_free(struct plan_import *imp);

/*
 * Reads one SkyPilot vms.csv. The cloud is options.cloud, else the file name's prefix
 * (aws_, gcp_, azure_; or the folder of a file named vms.csv, as in skypilot-catalog).
 * Returns 0 when read, 1 when skipped because its name says it is for another cloud than
 * options.cloud, -1 on an error reported to `diags` (unreadable file, a cloud gpuform does
 * not plan for, a cloud it cannot tell, not a vms.csv, a CSV syntax error) with code
 * import-io, import-cloud, import-header or import-syntax.
 */
int plan_import_add_file(struct plan_import *imp, const char *path, struct core_diags *diags);

/*
 * GCP host VM prices (rows with an InstanceType and no AcceleratorName): read as a gcp file
 * whatever its name; SkyPilot keeps these in gcp/vms.csv itself, the shared data splits them
 * into gcp_gpu_host_vms.csv. Returns as plan_import_add_file.
 */
int plan_import_add_gcp_hosts(struct plan_import *imp, const char *path, struct core_diags *diags);

/*
 * The same as plan_import_add_file from memory (for tests): `name` gives the cloud and is
 * used in messages; `file_date` (YYYY-MM-DD) is the as_of when options.as_of is NULL.
 * `gcp_hosts` forces the cloud to gcp as plan_import_add_gcp_hosts does. `text` is copied.
 */
int plan_import_add_text(struct plan_import *imp, const char *name, const char *text, size_t len,
                         const char *file_date, bool gcp_hosts, struct core_diags *diags);

/* Keeps every offer of `base` in the result unless an imported row has the same key. */
int plan_import_merge(struct plan_import *imp, const struct plan_catalog *base);

/*
 * Combines what was read into a catalog: GCP accelerators with their host VMs, filters,
 * duplicates, sorting. The result is the text plan_catalog_write gives, parsed again with
 * the strict parser, so it always loads. Returns 0 with *out (possibly no offers), or -1
 * with the reason in `diags`. Call once.
 */
int plan_import_finish(struct plan_import *imp, struct core_diags *diags,
                       struct plan_catalog **out);

/* Counts so far; valid until plan_import_free. */
const struct plan_import_stats *plan_import_stats(const struct plan_import *imp);

/* A short phrase for a reason: "fractional GPU count", "unknown GPU", ... */
const char *plan_import_skip_name(enum plan_import_skip why);

#endif
