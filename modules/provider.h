/*
 * The provider interface: what the executor needs from a cloud, as one const vtable per
 * cloud (nginx's ngx_module_t, curl's Curl_protocol). Adding a cloud means one folder under
 * modules/ and one line in the registry (modules/provider.c). Every slot returns 0 or -1
 * with a prov_error whose class tells the executor what to do next: fail over (capacity,
 * quota), wait (throttled), stop (auth, invalid) or retry (transient).
 */
#ifndef GPUFORM_MODULES_PROVIDER_H
#define GPUFORM_MODULES_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct core_http_client;
struct spec_cloud;

enum prov_error_class {
    PROV_OK = 0,
    PROV_CAPACITY,  /* the place has no room for this type now: try another place */
    PROV_QUOTA,     /* an account limit: try another region or cloud, or raise the quota */
    PROV_THROTTLED, /* too many requests, even after the client's own retries: slow down */
    PROV_AUTH,      /* credentials missing, wrong, expired or not allowed: stop */
    PROV_INVALID,   /* the request is wrong (a bad parameter, an unknown image): stop */
    PROV_TRANSIENT, /* the cloud or the network failed; the same call may work later */
    PROV_NOT_FOUND, /* the instance does not exist (describe, console output) */
};

struct prov_error {
    enum prov_error_class cls;
    char code[96];        /* the cloud's own code ("InsufficientInstanceCapacity"), or "" */
    char message[640];    /* for people: what failed, the cloud's message; never a secret */
    char request_id[128]; /* the cloud's request id, for support cases; "" when none */
    long http_status;     /* 0 when no reply arrived */
};

/* Clears *err and sets its class and message, printf-style (cut where it is full): how a
 * provider reports a failure. */
void prov_error_set(struct prov_error *err, enum prov_error_class cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "capacity", "quota", "throttled", "auth", "invalid", "transient", "not-found" ("ok"). */
const char *prov_error_class_name(enum prov_error_class cls);

enum prov_state {
    PROV_PENDING,
    PROV_RUNNING,
    PROV_STOPPING,
    PROV_STOPPED,
    PROV_SHUTTING_DOWN,
    PROV_TERMINATED,
    PROV_STATE_UNKNOWN,
};

/* "pending", ..., "terminated", "unknown". Inline, so the executor can name states without
 * linking provider code. */
static inline const char *prov_state_name(enum prov_state s)
{
    static const char *const names[] = {"pending",       "running",    "stopping", "stopped",
                                        "shutting-down", "terminated", "unknown"};
    return (unsigned)s < sizeof names / sizeof *names ? names[s] : "unknown";
}

/* An instance as the cloud reports it. */
struct prov_instance {
    char id[64];       /* "i-0abc..." */
    char stack[128];   /* the gpuform:stack tag; "" when untagged */
    char address[160]; /* the gpuform:address tag */
    char token[72];    /* the idempotency token it was created with */
    char region[64];
    char zone[64];
    char instance_type[64];
    bool spot;
    enum prov_state state;
    char state_reason[160]; /* "Server.SpotInstanceTermination: ..." when the cloud says */
    int64_t launch_time;    /* Unix seconds, 0 when unknown */
};

struct prov_instance_list {
    struct prov_instance *items;
    size_t n, cap;
};

void prov_instance_list_release(struct prov_instance_list *l);

/* Appends a copy; 0, or -1 when out of memory. */
int prov_instance_list_add(struct prov_instance_list *l, const struct prov_instance *in);

/* A tag (a workload's label) set on an instance besides gpuform's own. */
struct prov_tag {
    const char *key;
    const char *value;
};

/* The tag or metadata item of a re-verification request: executor/verify_frame.h's
 * EXEC_VERIFY_REQUEST_KEY, spelled here so that providers need no executor header. */
#define PROV_VERIFY_REQUEST_KEY "gpuform-verify-request"

/* What to create: one node. */
struct prov_create {
    const char *stack;   /* tagged gpuform:stack */
    const char *address; /* tagged gpuform:address */
    const char *token;   /* idempotency token: the same token never makes two */
    const char *region;
    const char *zone; /* "" or NULL: the cloud picks */
    const char *instance_type;
    bool spot;
    const char *image;           /* the machine image (AMI on AWS) */
    const char *user_data;       /* the boot script, plain text (the provider encodes it) */
    const struct prov_tag *tags; /* the workload's labels, set at creation */
    size_t ntags;
    /* The offer's GPUs (model as core/gpu_models.h names it, count): for clouds where the
     * type alone does not say them (GCP's N1 takes GPUs as guest accelerators). NULL/0: the
     * type says them. */
    const char *gpu;
    int gpus;
    /* The node runs the verify watcher (docs/verify.md, "The watcher"), which reads
     * re-verification requests from the instance's metadata service: on AWS the instance is
     * launched with its tags in instance metadata (MetadataOptions.InstanceMetadataTags), and
     * a label whose key EC2 can't serve there is refused before anything is sent. Compute
     * Engine and Azure show metadata items and tags to the instance anyway: ignored. */
    bool metadata_tags;
};

struct prov_config {
    /* The API endpoint to use instead of the cloud's own (cloudsim, a proxy, a private
     * endpoint): "http://127.0.0.1:41234". NULL: the cloud's, or the provider's own
     * environment variable (docs/providers.md). */
    const char *endpoint;
    const char *profile;           /* credentials profile; NULL: the default */
    struct core_http_client *http; /* borrowed; NULL: the provider makes its own */
    /* The stack's settings for this cloud (parser/spec.h: subscription, resource group,
     * a service principal, ...), borrowed; NULL, or a field unset: the provider's
     * environment (docs/providers.md). `endpoint` above wins over the stack's. */
    const struct spec_cloud *stack;
};

/* A provider's client; each provider's own struct starts with this. */
struct prov {
    const struct prov_ops *ops;
};

struct prov_ops {
    const char *name; /* the cloud's spec name: "aws" */

    /* Finds credentials (environment, then the cloud's own files) and prepares a client.
     * NULL with err set (class auth) when there are none; the message names where it
     * looked, never a secret. */
    struct prov *(*open)(const struct prov_config *cfg, struct prov_error *err);

    /* Frees the client and wipes its credentials; NULL is a no-op. */
    void (*close)(struct prov *p);

    /* Every instance of `stack` in `region` that is not terminated, through one
     * tag-filtered call (paginated until done). Appends to *out. */
    int (*list)(struct prov *p, const char *region, const char *stack,
                struct prov_instance_list *out, struct prov_error *err);

    /* Creates one instance, idempotently: repeating a call with the same token returns
     * the instance the first call made instead of a second one. Fills *out. */
    int (*create)(struct prov *p, const struct prov_create *req, struct prov_instance *out,
                  struct prov_error *err);

    /* Terminates an instance. An instance that is already gone is success. */
    int (*destroy)(struct prov *p, const char *region, const char *id, struct prov_error *err);

    /* One instance by id; -1 with class not-found when there is none. */
    int (*describe)(struct prov *p, const char *region, const char *id, struct prov_instance *out,
                    struct prov_error *err);

    /* The instance made with `token`, if any: 0 and *found true with *out filled, or 0 and
     * *found false when none exists (how an unconfirmed create is settled after a crash). */
    int (*find_by_token)(struct prov *p, const char *region, const char *token,
                         struct prov_instance *out, bool *found, struct prov_error *err);

    /* The instance's console output (how verify reports come back), decoded; *text is
     * malloc'd (the caller frees), "" when there is none yet. */
    int (*console_output)(struct prov *p, const char *region, const char *id, char **text,
                          struct prov_error *err);

    /* The class of one of the cloud's error codes (and HTTP status when the code is
     * unknown). Pure; documented per cloud in docs/providers.md. */
    enum prov_error_class (*classify)(const char *code, long http_status);

    /* Sets `set` (added, or their values replaced) and removes the keys `remove` on an
     * instance's tags, never gpuform's own. NULL when the provider can't yet (the executor
     * then says so and leaves the node as it is). */
    int (*set_tags)(struct prov *p, const char *region, const char *id, const struct prov_tag *set,
                    size_t nset, const char *const *remove, size_t nremove, struct prov_error *err);

    /* Asks the node to verify itself again (docs/verify.md, "Verifying running nodes"): sets
     * the instance's tag (EC2, Azure) or metadata item (Compute Engine)
     * "gpuform-verify-request" to `value` ("LEVEL:NONCE"), everything else on the instance
     * kept as it is (GCE's startup-script item included). The agent watching on the node
     * reads it from the instance metadata service. NULL when the provider can't. */
    int (*request_verify)(struct prov *p, const char *region, const char *id, const char *value,
                          struct prov_error *err);
};

/* The provider for a cloud name, or NULL. */
const struct prov_ops *prov_find(const char *cloud);

extern const struct prov_ops prov_aws;
extern const struct prov_ops prov_gcp;
extern const struct prov_ops prov_azure;

#endif
