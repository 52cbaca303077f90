/*
 * cloudsim's world: the simulated cloud that `gpuform cloudsim` serves. The world holds the
 * inventory (regions, zones, instance types, capacity), quotas, instances and their
 * lifecycle, token buckets and fault injection, and draws every random choice from one
 * seeded generator, so that the same requests at the same clock readings give the same
 * replies. The world knows nothing of HTTP: sim_ec2.c speaks the EC2 dialect over it and
 * sim_server.c serves that with libmicrohttpd (docs/cloudsim.md).
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

#include "core/diag.h"

/* ---- configuration (sim_config.c) ---- */

#define SIM_UNLIMITED (-1L)

/* A capacity rule: how many live instances `type` may have in `zone` ("" = any). */
struct sim_capacity_rule {
    char *zone;
    char *type;
    long limit; /* SIM_UNLIMITED or >= 0 */
};

/* vCPU quotas of one region ("" = every region without its own rule). */
struct sim_quota {
    char *region;
    long on_demand_vcpus; /* SIM_UNLIMITED or >= 0 (AWS L-1216C47A and friends) */
    long spot_vcpus;
    long max_instances;
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

struct sim_region {
    char *name;
    char **zones;    /* names, e.g. us-east-1a */
    char **zone_ids; /* ids, e.g. use1-az1 */
    size_t nzones;
};

/* An instance type offered in a zone, with what the catalog says about it. */
struct sim_offer {
    char *region;
    char *zone;
    char *type;
    double vcpus;
    double spot_price; /* USD per hour, < 0 when no spot */
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
    long default_capacity;
    struct sim_quota *quotas;
    size_t nquotas;
    struct sim_credential *creds;
    size_t ncreds;
};

/*
 * The defaults: seed 1, time_scale 1, pending 5-30 s, shutting-down 5-15 s, terminated
 * visible 3600 s, no latency, EC2's default buckets, no faults, every AWS region and type of
 * the bundled catalog with unlimited capacity and no quotas, and no credentials (the caller
 * adds those from the environment).
 */
int sim_config_defaults(struct sim_config *c, struct core_diags *d);

/*
 * Loads a world config from YAML at `path` over the defaults (docs/cloudsim.md has the
 * format). Problems go to `d` as file:line:col; 0, or -1 (then `c` is released).
 */
int sim_config_load(struct sim_config *c, const char *path, struct core_diags *d);

/* Adds a credential (copied). 0 or -1 (out of memory). */
int sim_config_add_credential(struct sim_config *c, const char *akid, const char *secret);

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
    char id[24];          /* i- and 17 hex digits */
    char reservation[24]; /* r- and 17 hex digits */
    char *region, *zone, *type, *image, *client_token, *user_data, *key_name;
    char params_hash[17]; /* what RunInstances asked for, for ClientToken idempotency */
    int launch_index;
    bool spot;
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
    struct sim_tag *tags;
    size_t ntags;
    char private_ip[16];
};

/* A Filter.N: the name and its values (any value may match; '*' and '?' are wildcards). */
struct sim_filter {
    const char *name;
    const char **values;
    size_t nvalues;
};

/* One world error: an EC2 error code, its HTTP status and message. */
struct sim_error {
    int http_status; /* 0 = no error */
    char code[64];
    char message[512];
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
    struct sim_bucket buckets[64][SIM_FAM_COUNT]; /* per region index (first 64 regions) */
    long fault_count[SIM_FAULT_COUNT];            /* armed by the admin view: the next N requests */
    double fault_rate[SIM_FAULT_COUNT];
    uint64_t requests;    /* requests seen, for the admin view */
    uint64_t page_secret; /* keys NextToken so that tokens are opaque */
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

/* The region by name, or NULL. */
const struct sim_region *sim_world_region(const struct sim_world *w, const char *name);

/* The offer of `type` in `zone`, or NULL. */
const struct sim_offer *sim_world_offer(const struct sim_world *w, const char *zone,
                                        const char *type);

/* Frees an instance and its strings; NULL is a no-op. */
void sim_instance_free(struct sim_instance *inst);

/* The instance with this id, or NULL. */
struct sim_instance *sim_world_find(const struct sim_world *w, const char *id);

/*
 * Takes a token from the (region, family) bucket at `now`. false = empty: the caller replies
 * RequestLimitExceeded. Always true when throttling is off.
 */
bool sim_world_take_token(struct sim_world *w, const char *region, enum sim_family fam, double now);

/*
 * Decides whether this request gets an injected fault of `kind`: an armed count first, then
 * the configured or admin-set rate (one draw from the generator when a rate is set).
 */
bool sim_world_fault(struct sim_world *w, enum sim_fault kind);

/* What RunInstances asks for. Strings are borrowed. */
struct sim_run_request {
    const char *region;
    const char *zone; /* NULL = the world picks the first zone that offers the type */
    const char *type;
    const char *image;
    const char *client_token; /* NULL = none */
    const char *user_data;    /* base64 as sent, or NULL */
    const char *key_name;
    long min_count, max_count;
    bool spot;
    const struct sim_tag *tags; /* tags for the instances */
    size_t ntags;
    const char *params_hash; /* hash of every parameter, for ClientToken idempotency */
};

/*
 * Launches instances. On success returns 0 and sets out[0..*nout) to the instances (borrowed;
 * at most max_count of them, which the caller sized `out` for); an earlier call with the same
 * client token and hash returns the same instances. On failure returns -1 and fills `err`
 * (InsufficientInstanceCapacity, VcpuLimitExceeded, MaxSpotInstanceCountExceeded,
 * InstanceLimitExceeded, InvalidParameterValue, IdempotentParameterMismatch, Unsupported).
 */
int sim_world_run(struct sim_world *w, const struct sim_run_request *req, double now,
                  struct sim_instance **out, size_t *nout, struct sim_error *err);

/*
 * Starts terminating `inst` (no-op when already shutting down or terminated); the previous
 * state is stored in *prev. `spot_reclaim` gives it the spot interruption reason.
 */
void sim_world_terminate(struct sim_world *w, struct sim_instance *inst, double now,
                         bool spot_reclaim, enum sim_state *prev);

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

/* The console output of an instance (plain text, malloc'd). */
char *sim_console_output(const struct sim_instance *inst);

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

/* A reply: status, content type and body (malloc'd). `close` = drop the connection. */
struct sim_reply {
    int status;
    const char *content_type;
    char *body;
    size_t len;
    bool close;          /* timeout fault: hold, then close without a reply */
    double hold_ms;      /* how long to hold first */
    double latency_ms;   /* how long to wait before replying */
    char request_id[40]; /* also sent as the x-amzn-RequestId header */
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
