/*
 * cloudsim's world: the simulated clouds that `gpuform cloudsim` serves. One world holds
 * several clouds (aws, gcp, azure: enum core_cloud) side by side: the inventory (regions,
 * zones, instance types, capacity), quotas, instances and their lifecycle, long-running
 * operations, token buckets and fault injection, and draws every random choice from one
 * seeded generator, so that the same requests at the same clock readings give the same
 * replies. The world knows nothing of HTTP or of any API's wording: each dialect speaks one
 * cloud's API over it (sim_ec2.c EC2, sim_gce.c Compute Engine, sim_arm.c Azure Resource
 * Manager) and sim_server.c routes requests to them with libmicrohttpd (docs/cloudsim.md).
 *
 * Names: region names are unique across the world's clouds (the catalogs' are: us-east-1,
 * us-east1, eastus), and so are zone names. A region the catalog prices without zones (Azure's)
 * has one zone named as the region.
 *
 * Time: every call takes `now`, in seconds since the Unix epoch (a double), so tests drive a
 * fake clock. Lifecycle delays in the config are realistic seconds multiplied by
 * `time_scale`; token buckets refill in unscaled seconds (they model the real API).
 *
 * Threads: a world is not locked by itself; the server takes sim_world.lock around each
 * request.
 */
#ifndef GPUFORM_MODULES_CLOUDSIM_SIM_H
#define GPUFORM_MODULES_CLOUDSIM_SIM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cloud.h"
#include "core/diag.h"

/* ---- configuration (sim_config.c) ---- */

#define SIM_UNLIMITED   (-1L)
#define SIM_CONSOLE_MAX ((size_t)1 << 20) /* bytes POST /_cloudsim/console lets a console hold */

/* A capacity rule of one cloud: how many live instances `type` may have in `zone` ("" =
 * any). */
struct sim_capacity_rule {
    char *zone;
    char *type;
    long limit;            /* SIM_UNLIMITED or >= 0 */
    enum core_cloud cloud; /* last, so that {zone, type, limit} means aws */
};

/* vCPU quotas of one region of one cloud ("" = every region of the cloud without its own
 * rule). AWS L-1216C47A and friends, GCE's CPUS / PREEMPTIBLE_CPUS / INSTANCES, Azure's
 * regional and spot vCPUs. */
struct sim_quota {
    char *region;
    long on_demand_vcpus; /* SIM_UNLIMITED or >= 0 */
    long spot_vcpus;
    long max_instances;
    enum core_cloud cloud; /* last, so that {region, ...} means aws */
};

struct sim_bucket_conf {
    double burst;  /* tokens when full */
    double refill; /* tokens per second */
};

/* API families with their own token bucket, as EC2 meters them. */
enum sim_family {
    SIM_FAM_RUN,       /* RunInstances: 5 then 2/s */
    SIM_FAM_TERMINATE, /* TerminateInstances: 100 then 5/s */
    SIM_FAM_DESCRIBE,  /* Describe*, Get*: 100 then 20/s */
    SIM_FAM_MUTATING,  /* anything else: 50 then 5/s */
    SIM_FAM_COUNT
};

/* Injected faults, each a rate (probability per request) or a count (the next N). */
enum sim_fault {
    SIM_FAULT_CAPACITY,    /* RunInstances fails with InsufficientInstanceCapacity */
    SIM_FAULT_INTERNAL,    /* 500 InternalError */
    SIM_FAULT_UNAVAILABLE, /* 503 Unavailable */
    SIM_FAULT_THROTTLE,    /* 503 RequestLimitExceeded whatever the bucket holds */
    SIM_FAULT_TIMEOUT,     /* the connection is held, then closed without a reply */
    SIM_FAULT_MALFORMED,   /* 200 with a truncated or garbage body */
    SIM_FAULT_COUNT
};

struct sim_credential {
    char *access_key_id;
    char *secret_access_key; /* wiped on free */
};

/* A GCP service account whose signed JWTs the GCE dialect's token endpoint accepts. */
struct sim_service_account {
    char *client_email;
    char *project_id;     /* the project its tokens may use */
    char *public_key_pem; /* "-----BEGIN PUBLIC KEY-----..." (SubjectPublicKeyInfo) */
};

/* An Azure service principal whose client secret the ARM dialect's token endpoint accepts. */
struct sim_azure_principal {
    char *tenant_id;
    char *client_id;
    char *client_secret; /* wiped on free */
};

struct sim_region {
    char *name;
    char **zones;    /* names: us-east-1a (aws), us-central1-a (gcp), eastus (azure: the region) */
    char **zone_ids; /* ids: use1-az1 (aws); the zone's name elsewhere */
    size_t nzones;
    enum core_cloud cloud;
};

/* An instance type offered in a zone, with what the catalog says about it. */
struct sim_offer {
    char *region;
    char *zone;
    char *type;
    double vcpus;
    double spot_price; /* USD per hour, < 0 when no spot */
    enum core_cloud cloud;
    const char *gpu; /* the catalog's GPU model (static storage: core/gpu_models.h) */
    int gpus;        /* GPUs per instance */
    double ram_gib;
};

/* A verify fault for the nodes cloudsim's verify agent runs for (docs/cloudsim.md, verify). */
struct sim_verify_fault {
    char *zone;  /* "" = any */
    char *type;  /* "" = any */
    char *fault; /* a verify fault ("mem_bitflip", ...), or "forge", "silent", "truncate" */
};

struct sim_config {
    uint64_t seed;
    double time_scale;                     /* lifecycle delays are multiplied by this */
    double pending_min, pending_max;       /* seconds pending before running */
    double stopping_min, stopping_max;     /* seconds shutting-down before terminated */
    double terminated_visible;             /* seconds a terminated instance stays listed */
    double latency_min_ms, latency_max_ms; /* uniform in [min, max] ... */
    double latency_mean_ms; /* ... or, when > 0, exponential with this mean (capped at 10x) */
    bool throttle;
    struct sim_bucket_conf buckets[SIM_FAM_COUNT];
    double fault_rate[SIM_FAULT_COUNT];
    double timeout_hold_ms;          /* how long a "timeout" holds the connection */
    double spot_interruption_rate;   /* probability a spot instance is interrupted */
    double spot_interruption_window; /* ... at a time uniform in this many seconds (scaled) */
    struct sim_region *regions;
    size_t nregions;
    struct sim_offer *offers;
    size_t noffers;
    struct sim_capacity_rule *capacity;
    size_t ncapacity;
    long default_capacity[CORE_CLOUD_COUNT]; /* per zone and type where no rule applies */
    struct sim_quota *quotas;
    size_t nquotas;
    struct sim_credential *creds; /* aws: SigV4 key pairs */
    size_t ncreds;
    struct sim_service_account *gcp_accounts; /* gcp: service accounts */
    size_t ngcp_accounts;
    struct sim_azure_principal *azure_principals; /* azure: service principals */
    size_t nazure_principals;
    bool verify_agent_off;                  /* verify.agent: false */
    unsigned verify_mem_mib;                /* verify.mem_mib: CPU reference size; 0: 8 */
    struct sim_verify_fault *verify_faults; /* verify.faults */
    size_t nverify_faults;
};

/*
 * The defaults: seed 1, time_scale 1, pending 5-30 s, shutting-down 5-15 s, terminated
 * visible 3600 s, no latency, EC2's default buckets, no faults, every region and type of
 * every cloud (aws, gcp, azure) of the bundled catalog with unlimited capacity and no
 * quotas, and no credentials (the caller adds those from the environment).
 */
int sim_config_defaults(struct sim_config *c, struct core_diags *d);

/*
 * Loads a world config from YAML at `path` over the defaults (docs/cloudsim.md has the
 * format). Problems go to `d` as file:line:col; 0, or -1 (then `c` is released).
 */
int sim_config_load(struct sim_config *c, const char *path, struct core_diags *d);

/* Adds an AWS credential (copied). 0 or -1 (out of memory). */
int sim_config_add_credential(struct sim_config *c, const char *akid, const char *secret);

/* Adds a GCP service account (copied; the public key as PEM). 0 or -1 (out of memory). */
int sim_config_add_gcp_account(struct sim_config *c, const char *client_email,
                               const char *project_id, const char *public_key_pem);

/*
 * Registers the service account of a GCP key file's JSON (its client_email, the public half
 * of its private key, and `project`, or the key's project_id when NULL) with the GCE
 * dialect's token endpoint (sim_gce.c). 0, or -1 with why[] saying what is wrong (never the
 * key).
 */
int sim_gce_account_from_key(struct sim_config *c, const char *json, size_t len,
                             const char *project, char *why, size_t whylen);

/* A service account made up for a simulated run (no key in the environment). */
struct sim_gce_key {
    char email[160];
    char project[64];
    char *private_pem; /* wiped by sim_gce_key_release */
};

/*
 * Makes a fresh 2048-bit RSA service account "gpuform-sim@PROJECT.iam.gserviceaccount.com"
 * (PROJECT NULL: "cloudsim") and registers its public key with `c`. 0, or -1 with why[].
 */
int sim_gce_generate_account(struct sim_config *c, const char *project, struct sim_gce_key *out,
                             char *why, size_t whylen);

/* Writes the account's key file (type service_account, token_uri as given) to `path`,
 * mode 0600, atomically. 0, or -1 with why[]. */
int sim_gce_write_key_file(const struct sim_gce_key *k, const char *token_uri, const char *path,
                           char *why, size_t whylen);

/* Wipes the private key; the struct may be reused. */
void sim_gce_key_release(struct sim_gce_key *k);
/* Adds an Azure service principal (copied). 0 or -1 (out of memory). */
int sim_config_add_azure_principal(struct sim_config *c, const char *tenant_id,
                                   const char *client_id, const char *client_secret);

/* The number of regions of `cloud` in the config. */
size_t sim_config_cloud_regions(const struct sim_config *c, enum core_cloud cloud);

/* Frees everything in the config; a zeroed config is fine. */
void sim_config_release(struct sim_config *c);

/* The family's name as the config and the admin view spell it ("run_instances" ...). */
const char *sim_family_name(enum sim_family f);
/* The fault's name ("capacity", "internal", ...); sim_fault_find returns -1 when unknown. */
const char *sim_fault_name(enum sim_fault f);
int sim_fault_find(const char *name);

/* ---- the world (sim_world.c) ---- */

enum sim_state {
    SIM_PENDING = 0,
    SIM_RUNNING = 16,
    SIM_SHUTTING_DOWN = 32,
    SIM_TERMINATED = 48,
};

struct sim_tag {
    char *key;
    char *value;
};

struct sim_instance {
    enum core_cloud cloud;
    char id[40];          /* aws: i- and 17 hex digits; gcp: a decimal number; azure: a vmId */
    char reservation[24]; /* r- and 17 hex digits */
    char *region, *zone, *type, *image, *client_token, *user_data, *key_name;
    char *name;           /* the resource name the client chose (gcp, azure); NULL on aws */
    char *account;        /* the project (gcp) or subscription (azure) it lives in; NULL on aws */
    char params_hash[17]; /* what RunInstances asked for, for ClientToken idempotency */
    int launch_index;
    bool spot;
    bool reclaimed;     /* terminated by a spot interruption, not by its owner */
    bool metadata_tags; /* aws: launched with MetadataOptions.InstanceMetadataTags=enabled, so
                         * its IMDS serves its tags (sim_imds.c) */
    double vcpus;
    enum sim_state state;
    double launch_time;
    double running_at;   /* when pending ends */
    double interrupt_at; /* spot: when it is reclaimed; 0 = never */
    double terminate_at; /* when shutting-down ends; 0 = not shutting down */
    double gone_at;      /* when it stops being listed; 0 = not terminated */
    char *reason_code;   /* stateReason code, NULL when none */
    char *reason_message;
    char *transition_reason;
    struct sim_tag *tags; /* aws tags, gcp labels, azure tags */
    size_t ntags;
    struct sim_tag *meta; /* gcp metadata items (startup-script, ...); empty elsewhere */
    size_t nmeta;
    char private_ip[16];
    char *doc;          /* azure: the VM's resource as PUT (JSON; sim_arm.c); NULL elsewhere */
    char *agent_output; /* what its verify agent printed on the console (or POST
                         * /_cloudsim/console appended); NULL: nothing yet */
};

/* A Filter.N: the name and its values (any value may match; '*' and '?' are wildcards). */
struct sim_filter {
    const char *name;
    const char **values;
    size_t nvalues;
};

/* What went wrong in the world, whatever the dialect: each dialect words it its own way. */
enum sim_err_kind {
    SIM_ERR_NONE = 0,
    SIM_ERR_INVALID,          /* a parameter is wrong (counts, a missing type) */
    SIM_ERR_NO_REGION,        /* the region is not in this world (for this cloud) */
    SIM_ERR_BAD_ZONE,         /* the zone is not one of the region's */
    SIM_ERR_NO_TYPE,          /* no zone of the region offers the type */
    SIM_ERR_TYPE_NOT_IN_ZONE, /* the region offers the type, the zone does not */
    SIM_ERR_CAPACITY,         /* no room for the type in the zone */
    SIM_ERR_QUOTA_VCPUS,      /* the on-demand vCPU quota */
    SIM_ERR_QUOTA_SPOT_VCPUS, /* the spot vCPU quota */
    SIM_ERR_QUOTA_INSTANCES,  /* the instance-count quota */
    SIM_ERR_TOKEN_MISMATCH,   /* a client token reused with other parameters */
    SIM_ERR_NAME_TAKEN,       /* the name is held by another instance in the zone */
    SIM_ERR_INTERNAL,         /* out of memory */
};

/* One world error: its kind, and EC2's code, HTTP status and message for it (the EC2 dialect
 * replies with those; the other dialects word `kind` themselves). */
struct sim_error {
    int http_status; /* 0 = no error */
    char code[64];
    char message[512];
    enum sim_err_kind kind;
    long limit; /* the quota that bound (SIM_ERR_QUOTA_*), in vCPUs or instances */
};

/* A long-running operation (GCE zone operations; ARM async operations): made by a dialect
 * when it accepts a change, done at `done_at`, kept until `gone_at`. */
struct sim_operation {
    enum core_cloud cloud;
    char id[40];      /* a decimal number (gcp) or a UUID */
    char name[64];    /* the name clients poll it by */
    char *account;    /* project or subscription */
    char *zone;       /* where it runs (a zone, or the region) */
    char *kind;       /* the dialect's word: "insert", "delete" */
    char *request_id; /* the client's idempotency key; NULL when none */
    char target_id[40];
    char *target_name;
    double started;
    double done_at;
    double gone_at;
    struct sim_error error; /* kind SIM_ERR_NONE when it succeeds */
};

/* A resource of a cloud that is not an instance (an Azure network interface): named in an
 * account, its document kept as the dialect wrote it (JSON), persisted with the world. */
struct sim_resource {
    enum core_cloud cloud;
    char *kind;    /* the dialect's word: "networkInterfaces" */
    char *account; /* project, or subscription/resource group */
    char *name;
    char *doc; /* JSON */
};

struct sim_bucket {
    double tokens;
    double at; /* when `tokens` was measured */
};

struct sim_world {
    pthread_mutex_t lock;            /* the server holds it around each request */
    struct sim_config conf;          /* owned */
    uint64_t rng[4];                 /* xoshiro256** state */
    struct sim_instance **instances; /* launch order */
    size_t ninstances, cap;
    struct sim_operation **ops; /* in start order */
    size_t nops, opcap;
    struct sim_resource **resources; /* in creation order */
    size_t nresources, rescap;
    struct sim_bucket (*buckets)[SIM_FAM_COUNT]; /* per region index; the last: unknown regions */
    long fault_count[SIM_FAULT_COUNT];           /* armed by the admin view: the next N requests */
    double fault_rate[SIM_FAULT_COUNT];
    uint64_t requests;       /* requests seen, for the admin view */
    uint64_t page_secret;    /* keys NextToken so that tokens are opaque */
    struct sim_agent *agent; /* the verify agent's thread and queue (sim_agent.c); NULL */
};

/*
 * A new world that takes ownership of `conf` (which is zeroed). NULL when out of memory
 * (then the config is released too).
 */
struct sim_world *sim_world_new(struct sim_config *conf);
void sim_world_free(struct sim_world *w);

/* 64 random bits from the world's generator (xoshiro256**, seeded by splitmix64). */
uint64_t sim_rand(struct sim_world *w);
/* Uniform in [0, 1). */
double sim_rand01(struct sim_world *w);

/* Moves every instance along its lifecycle up to `now`; vanished ones are freed. */
void sim_world_advance(struct sim_world *w, double now);

/* The region `name` of `cloud`, or NULL. */
const struct sim_region *sim_world_region(const struct sim_world *w, enum core_cloud cloud,
                                          const char *name);

/* The offer of `type` in `zone` of `cloud`, or NULL. */
const struct sim_offer *sim_world_offer(const struct sim_world *w, enum core_cloud cloud,
                                        const char *zone, const char *type);

/* Frees an instance and its strings; NULL is a no-op. */
void sim_instance_free(struct sim_instance *inst);

/* The instance with this id (ids are unique across clouds), or NULL. */
struct sim_instance *sim_world_find(const struct sim_world *w, const char *id);

/* The instance of `cloud` named `name` in `account` and `zone` that still holds its name
 * (not terminated, or terminated by a spot reclaim and still listed), or NULL. */
struct sim_instance *sim_world_find_name(const struct sim_world *w, enum core_cloud cloud,
                                         const char *account, const char *zone, const char *name);

/*
 * Takes a token from the (region, family) bucket at `now` (region names are unique across
 * clouds, so the region says the cloud). false = empty: the caller replies with its
 * throttling error. Always true when throttling is off.
 */
bool sim_world_take_token(struct sim_world *w, const char *region, enum sim_family fam, double now);

/* The latency to add to a reply, drawn from the config (0 when none). */
double sim_world_latency(struct sim_world *w);

struct sim_reply;
/* Corrupts a good reply (the "malformed" fault): cut in the middle, or (every other time)
 * bytes that are no API's. */
void sim_reply_malform(struct sim_world *w, struct sim_reply *r);

/*
 * Decides whether this request gets an injected fault of `kind`: an armed count first, then
 * the configured or admin-set rate (one draw from the generator when a rate is set).
 */
bool sim_world_fault(struct sim_world *w, enum sim_fault kind);

/* What a launch asks for (RunInstances, instances.insert, a VM PUT). Strings are borrowed. */
struct sim_run_request {
    enum core_cloud cloud;      /* 0: aws */
    const char *account;        /* gcp project, azure subscription; NULL on aws */
    const char *name;           /* gcp, azure: the instance's name (unique per account and zone) */
    const struct sim_tag *meta; /* gcp metadata items */
    size_t nmeta;
    const char *region;
    const char *zone; /* NULL = the world picks the first zone that offers the type */
    const char *type;
    const char *image;
    const char *client_token; /* NULL = none */
    const char *user_data;    /* base64 as sent, or NULL */
    const char *key_name;
    long min_count, max_count;
    bool spot;
    bool metadata_tags;         /* aws: tags in instance metadata (sim_instance.metadata_tags) */
    const struct sim_tag *tags; /* tags for the instances */
    size_t ntags;
    const char *params_hash; /* hash of every parameter, for ClientToken idempotency */
};

/*
 * Launches instances. On success returns 0 and sets out[0..*nout) to the instances (borrowed;
 * at most max_count of them, which the caller sized `out` for); an earlier call with the same
 * client token and hash returns the same instances. On failure returns -1 and fills `err`:
 * its kind, and EC2's wording (InsufficientInstanceCapacity, VcpuLimitExceeded,
 * MaxSpotInstanceCountExceeded, InstanceLimitExceeded, InvalidParameterValue,
 * IdempotentParameterMismatch, Unsupported). Ids are drawn in the cloud's form; with a name,
 * an instance that still holds the name in the zone is SIM_ERR_NAME_TAKEN.
 */
int sim_world_run(struct sim_world *w, const struct sim_run_request *req, double now,
                  struct sim_instance **out, size_t *nout, struct sim_error *err);

/*
 * Starts terminating `inst` (no-op when already shutting down or terminated); the previous
 * state is stored in *prev. `spot_reclaim` gives it the spot interruption reason.
 */
/* Sets the tag `key` to `value` (added, or its value replaced), or removes it when `value` is
 * NULL (a tag that isn't there is no error). 0, or -1 when out of memory. */
int sim_instance_tag(struct sim_instance *inst, const char *key, const char *value);

void sim_world_terminate(struct sim_world *w, struct sim_instance *inst, double now,
                         bool spot_reclaim, enum sim_state *prev);

/*
 * Starts an operation of `cloud` (copied from `op`: cloud, account, zone, kind, request_id,
 * target_id, target_name, done_at, error); its id and name are drawn here (a decimal id;
 * the name "operation-<ms>-<hex>"). NULL when out of memory. Operations are kept until
 * terminated_visible seconds after they are done.
 */
struct sim_operation *sim_world_start_op(struct sim_world *w, const struct sim_operation *op,
                                         double now);

/* The operation of `cloud` named `name` in `account`, or NULL. */
struct sim_operation *sim_world_find_op(const struct sim_world *w, enum core_cloud cloud,
                                        const char *account, const char *name);

/* The operation of `cloud` in `account` started with the client key `request_id`, or NULL. */
struct sim_operation *sim_world_find_op_request(const struct sim_world *w, enum core_cloud cloud,
                                                const char *account, const char *request_id);

void sim_operation_free(struct sim_operation *op);

/* The resource of `cloud` and `kind` named `name` in `account` (names compared without
 * case, as ARM does), or NULL. */
struct sim_resource *sim_world_find_resource(const struct sim_world *w, enum core_cloud cloud,
                                             const char *kind, const char *account,
                                             const char *name);

/* Adds a resource (the strings copied; `doc` taken over, malloc'd JSON). NULL when out of
 * memory (then `doc` is freed). */
struct sim_resource *sim_world_add_resource(struct sim_world *w, enum core_cloud cloud,
                                            const char *kind, const char *account, const char *name,
                                            char *doc);

/* Removes and frees a resource of the world; NULL is a no-op. */
void sim_world_remove_resource(struct sim_world *w, struct sim_resource *res);

void sim_resource_free(struct sim_resource *res);

/* True when the instance matches every filter; unknown filter names set *unknown. */
bool sim_instance_matches(const struct sim_instance *inst, const struct sim_filter *f, size_t nf,
                          const char **unknown);

/*
 * Paging tokens: opaque strings that encode the index to resume from, keyed with the world's
 * secret and the filter hash `query_hash`, so a token from another query or a forged one is
 * refused. sim_page_token writes into out[64]; sim_page_parse returns 0 and sets *index, or
 * -1 for a token that is not one of ours.
 */
void sim_page_token(const struct sim_world *w, uint64_t query_hash, size_t index, char out[64]);
int sim_page_parse(const struct sim_world *w, uint64_t query_hash, const char *token,
                   size_t *index);

/* FNV-1a 64 of a string, chained from `h` (start with SIM_HASH_INIT). */
#define SIM_HASH_INIT 0xcbf29ce484222325ull
uint64_t sim_hash(uint64_t h, const char *s);

/* The console output of an instance (plain text, malloc'd): a boot log that names the
 * instance and the cloud's machine, then, once it runs, what its verify agent printed. */
char *sim_console_output(const struct sim_instance *inst);

/* ---- the verify agent (sim_agent.c) ---- */

/*
 * "Boots" an instance just launched: when its boot script (req's user data, or GCE's
 * startup-script) carries gpuform's verify agent (executor/verify_frame.h), the agent is
 * queued to run on this host on the world's agent thread, outside the world's lock: the
 * real verify module (CUDA where a GPU is usable, else the CPU reference), with the
 * config's verify faults for the instance's zone and type. Its framed report then becomes
 * the instance's agent_output. Nothing happens for other instances or with verify.agent off.
 */
void sim_agent_boot(struct sim_world *w, const struct sim_instance *inst,
                    const struct sim_run_request *req);

/* The instance's re-verification request (executor/verify_frame.h's EXEC_VERIFY_REQUEST_KEY:
 * a tag on aws and azure, a metadata item on gcp), borrowed; NULL when it has none. */
const char *sim_agent_request_of(const struct sim_instance *inst);

/*
 * Plays the node's `gpuform verify --agent --watch` after a dialect changed the instance's
 * tags or metadata: when its request (sim_agent_request_of) is new (not `before`, the value
 * before the change, or NULL) and well-formed, the instance is running and its boot script
 * carries the agent, the agent is queued as at boot, with the request's level, and its
 * report carries the request's nonce; the block is appended to the console output. Called
 * with the world's lock held (it only queues).
 */
void sim_agent_request(struct sim_world *w, const struct sim_instance *inst, const char *before);

/* Stops the agent thread (a run in progress finishes) and frees its queue; NULL-safe. */
void sim_agent_stop(struct sim_world *w);

/* ---- persistence (sim_persist.c) ---- */

/*
 * Writes the instances and the generator's state to `path` as JSON, atomically (temporary
 * file, fsync, rename). 0, or -1 with a message in err[256].
 */
int sim_world_save(const struct sim_world *w, const char *path, char err[256]);

/*
 * Loads what sim_world_save wrote into `w` (instances replaced). A missing file is fine
 * (returns 0, nothing changes). -1 with a message in err[256].
 */
int sim_world_load(struct sim_world *w, const char *path, char err[256]);

/* ---- the EC2 dialect (sim_ec2.c) ---- */

/* One decoded query parameter. */
struct sim_param {
    char *name;
    char *value;
};

/* A reply header a dialect adds (ARM's Azure-AsyncOperation, Location, Retry-After). */
struct sim_reply_header {
    char name[48];
    char value[512];
};

/* A reply: status, content type and body (malloc'd). `close` = drop the connection. */
struct sim_reply {
    int status;
    const char *content_type;
    char *body;
    size_t len;
    bool close;          /* timeout fault: hold, then close without a reply */
    double hold_ms;      /* how long to hold first */
    double latency_ms;   /* how long to wait before replying */
    char request_id[40]; /* sent in the route's request-id header (x-amzn-RequestId ...) */
    bool changed;        /* the world changed: the server saves it (with --state) */
    /* Answer later: the server releases the world, waits this long (or until it stops) and
     * hands the same request to the dialect again, with sim_query.redo counting the rounds
     * (GCE's operations.wait). 0: reply now. */
    double redo_ms;
    struct sim_reply_header headers[4];
    size_t nheaders;
};

/*
 * Decodes an application/x-www-form-urlencoded string into params (appended; each name and
 * value malloc'd). -1 when it is not valid (bad percent escape) or has more than `max`.
 */
int sim_params_parse(const char *s, size_t len, struct sim_param **params, size_t *n, size_t max);
void sim_params_free(struct sim_param *params, size_t n);
/* The value of `name`, or NULL. */
const char *sim_param_get(const struct sim_param *p, size_t n, const char *name);

/*
 * Handles one authenticated EC2 request in `region` at `now` (the caller holds the lock and
 * has verified the signature): the action, throttling, faults, the world. Fills `r`.
 */
void sim_ec2_handle(struct sim_world *w, const char *region, const struct sim_param *p, size_t n,
                    double now, struct sim_reply *r);

/* An EC2 error reply (<Response><Errors>...) with a fresh request id. */
void sim_ec2_error(struct sim_world *w, struct sim_reply *r, int status, const char *code,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---- the server (sim_server.c) ---- */

struct sim_server;

struct sim_server_options {
    const char *host;       /* "127.0.0.1" */
    unsigned port;          /* 0 = any free port */
    const char *state_path; /* NULL = no persistence */
    size_t max_body;        /* POST bodies larger than this are refused (default 1 MiB) */
};

/*
 * Starts serving `w` (borrowed; it must outlive the server). NULL with err[256] filled when
 * the port can't be bound. sim_server_port says which port was bound.
 */
struct sim_server *sim_server_start(struct sim_world *w, const struct sim_server_options *o,
                                    char err[256]);
unsigned sim_server_port(const struct sim_server *s);
/* Stops accepting, wakes held connections, waits for them, saves the state. */
void sim_server_stop(struct sim_server *s);

#endif
