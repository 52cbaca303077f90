/*
 * The spec language v1 as C structs: what a stack asks for, after files are merged,
 * variables resolved, defaults applied and every value checked. The planner reads this;
 * nothing here knows about prices or state. docs/spec.md documents every field.
 *
 * Ownership: a struct spec and everything it points to live in the spec's own arena and
 * are freed by spec_free(). Locations point into sources owned by the core_diags the spec
 * was loaded with, so keep that alive as long as you report against the spec.
 */
#ifndef GPUFORM_PARSER_SPEC_H
#define GPUFORM_PARSER_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/cloud.h"
#include "core/diag.h"

enum spec_kind {
    SPEC_KIND_TRAINING,
    SPEC_KIND_SERVICE,
    SPEC_KIND_BATCH,
    SPEC_KIND_FEDERATED,
    SPEC_KIND_INVALID /* only while loading: never in a spec that loaded */
};

enum spec_spot { SPEC_SPOT_NEVER, SPEC_SPOT_AUTO, SPEC_SPOT_ALWAYS };

enum spec_verify { SPEC_VERIFY_NONE, SPEC_VERIFY_QUICK, SPEC_VERIFY_FULL };

enum spec_together { SPEC_TOGETHER_NONE, SPEC_TOGETHER_REGION, SPEC_TOGETHER_ZONE };

enum spec_backend { SPEC_BACKEND_FILE, SPEC_BACKEND_ETCD, SPEC_BACKEND_S3 };

enum spec_var_type { SPEC_VAR_STRING, SPEC_VAR_NUMBER, SPEC_VAR_BOOL };

struct spec_variable {
    const char *name;
    enum spec_var_type type;
    const char *value;  /* resolved text: --var, then GPUFORM_VAR_name, then default */
    const char *origin; /* "--var", "environment", "default" */
    const char *description;
    bool used; /* referenced by some ${var.NAME} */
    struct core_loc loc;
};

struct spec_quota {
    const char *region; /* a region of the cloud, or "*" for every other region */
    int64_t gpus;       /* GPUs that may run there at once */
    struct core_loc loc;
};

struct spec_cloud {
    enum core_cloud id;
    const char *name;     /* "aws", "gcp", "azure" */
    const char **regions; /* regions the planner may use; none listed = none usable */
    size_t nregions;
    struct spec_quota *quotas;
    size_t nquotas;
    const char *endpoint;         /* API endpoint override, NULL for the cloud's own */
    const char *profile;          /* aws: shared-credentials profile */
    const char *project;          /* gcp */
    const char *credentials_file; /* gcp: service-account key path */
    const char *subscription;     /* azure */
    const char *resource_group;   /* azure */
    const char *tenant;           /* azure */
    const char *client_id;        /* azure */
    const char *client_secret;    /* azure; only from ${env.NAME} */
    struct core_loc loc;
};

struct spec_label {
    const char *key;
    const char *value;
    struct core_loc loc;
};

/* A label selector term: the label `key` must have one of `values`. */
struct spec_match {
    const char *key;
    const char **values;
    size_t nvalues;
    struct core_loc loc;
};

struct spec_budget {
    const char *name;
    bool has_hourly, has_monthly;
    double hourly;            /* USD per hour */
    double monthly;           /* USD per month of 730 hours */
    struct spec_match *match; /* all terms must hold; none = every workload */
    size_t nmatch;
    struct core_loc loc, hourly_loc, monthly_loc;
};

struct spec_gpu {
    const char **names; /* canonical model names (catalog spelling), at least one */
    size_t nnames;
    int count;           /* GPUs per node */
    uint64_t memory_min; /* bytes per GPU, 0 = no lower bound */
    uint64_t memory_max; /* bytes per GPU, 0 = no upper bound */
    struct core_loc memory_loc;
    struct core_loc loc;
};

struct spec_placement {
    enum spec_together together;
    uint32_t clouds; /* bit (1 << enum core_cloud) per allowed cloud; 0 = all declared */
    const char **regions_include; /* glob patterns; none = every declared region */
    size_t nregions_include;
    const char **regions_exclude; /* glob patterns */
    size_t nregions_exclude;
    int spread_clouds;  /* nodes must span at least this many clouds; 0 = no rule */
    int max_per_region; /* 0 = no limit */
    struct core_loc loc, together_loc, spread_loc, max_per_region_loc, clouds_loc;
};

struct spec_location {
    enum core_cloud cloud;
    const char *region;
    struct core_loc loc;
};

struct spec_site {
    const char *name;
    struct spec_location location;
    struct core_loc loc;
};

struct spec_workload {
    const char *name;
    enum spec_kind kind;
    struct spec_gpu gpu;
    int count;    /* nodes (training, batch), replicas (service), sites (federated) */
    double hours; /* expected hours; services and federated: per month */
    enum spec_spot spot;
    enum spec_verify verify;
    struct spec_placement placement;
    bool has_data;
    struct spec_location data_location;
    uint64_t data_bytes;
    struct spec_label *labels;
    size_t nlabels;
    const char *image;    /* run.image, may be NULL */
    const char **command; /* run.command as argv (a string is one element) */
    size_t ncommand;
    struct spec_label *env; /* run.env */
    size_t nenv;
    struct spec_site *sites; /* federated only */
    size_t nsites;
    struct core_loc loc; /* the workload's name */
    /* Where fields were written (line 0 = not written; defaults applied). */
    struct core_loc kind_loc, nodes_loc, replicas_loc, hours_loc, spot_loc, verify_loc, data_loc,
        sites_loc;
};

struct spec_hook {
    const char *path;     /* as written, relative to the stack directory */
    const char *resolved; /* path to open: joined with the stack directory */
    struct core_loc loc;
};

struct spec {
    struct core_arena arena;
    int version;
    const char *stack;
    const char *dir; /* the stack's directory (hooks and state are relative to it) */
    /* Hex SHA-256 over the files read, in load order: each one's name without its directory,
     * its length and its bytes; "" when OpenSSL failed. Saved plans use it to notice an
     * edited stack (with the variables and hook files, which the files don't hold). */
    char sha256[65];
    enum spec_backend state_backend;
    const char *state_path; /* file backend: as written, NULL for the default */
    const char *state_file; /* file backend: the path to use, resolved against `dir` */
    /* etcd backend: endpoints ("https://etcd.internal:2379") and the key prefix (default
     * "gpuform/"; the stack's keys live under PREFIX STACK/) */
    const char **state_endpoints;
    size_t nstate_endpoints;
    const char *state_prefix;
    /* s3 backend: bucket, object key, region (NULL: the AWS environment's), endpoint
     * (NULL: AWS; an S3-compatible server's URL, addressed path-style) */
    const char *state_bucket, *state_key, *state_region, *state_endpoint;
    double state_lock_ttl; /* lock lease/expiry in seconds; 0 = the backend's default */
    /* A local directory for what is never shared (cloudsim's world with --sim): the state
     * file's directory with the file backend, `dir`/.gpuform otherwise. */
    const char *state_dir;
    struct core_loc state_backend_loc; /* where `backend:` was written (line 0: not) */
    enum spec_spot default_spot;
    enum spec_verify default_verify;
    struct spec_variable *variables;
    size_t nvariables;
    struct spec_cloud *clouds;
    size_t nclouds;
    struct spec_budget *budgets;
    size_t nbudgets;
    struct spec_workload *workloads;
    size_t nworkloads;
    struct spec_hook *hooks;
    size_t nhooks;
    struct core_loc loc; /* start of the first file */
    struct core_loc version_loc, stack_loc;
};

struct spec_options {
    const char *const *vars; /* "NAME=VALUE" from --var, in order; later ones win */
    size_t nvars;
    /* Environment lookup for GPUFORM_VAR_* and ${env.*}; NULL means getenv(). */
    const char *(*getenv)(const char *name, void *ud);
    void *getenv_ud;
    size_t max_file_size; /* bytes per file; 0 = 32 MiB */
};

/*
 * Loads the stack at `path`: a directory (every *.yaml and *.yml in it, merged, in name
 * order) or one file. Every problem found goes to `diags` (which also keeps the source
 * texts). Returns 0 with *out set when there was no error (warnings allowed), else -1 with
 * *out NULL. The caller frees *out with spec_free().
 */
int spec_load(const char *path, const struct spec_options *opts, struct core_diags *diags,
              struct spec **out);

/* The same for an in-memory document named `name` (tests, fuzzing). */
int spec_load_buffer(const char *name, const char *data, size_t len,
                     const struct spec_options *opts, struct core_diags *diags, struct spec **out);

void spec_free(struct spec *spec);

/* Cloud entry for `id`, or NULL when the stack does not declare it. */
const struct spec_cloud *spec_cloud_find(const struct spec *spec, enum core_cloud id);

/* True when the budget's selector matches the workload's labels. */
bool spec_budget_matches(const struct spec_budget *b, const struct spec_workload *w);

/* Names for enums, as written in specs. */
const char *spec_kind_name(enum spec_kind kind);
const char *spec_spot_name(enum spec_spot spot);
const char *spec_verify_name(enum spec_verify verify);

/* The spec language's JSON Schema (draft 2020-12), generated from the same tables that
 * validate specs. Returns a malloc'd string the caller frees, or NULL. */
char *spec_json_schema(void);

#endif
