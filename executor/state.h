/*
 * The state: what gpuform has created, one record per node, as a JSON document (format
 * in docs/state.md). This file is the model and its exact JSON form; where the document
 * lives (a local file, etcd, S3) is a backend's business (executor/backend.h).
 */
#ifndef GPUFORM_EXECUTOR_STATE_H
#define GPUFORM_EXECUTOR_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The format this build writes and the only one it reads. */
#define STATE_FORMAT_VERSION 1

/* A message for the user, lowercase, naming the file and what to do. */
struct state_err {
    char msg[1024];
};

/* Sets err->msg (printf-style); returns -1 so callers can `return state_fail(...)`. */
int state_fail(struct state_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

enum state_status {
    STATE_CREATING, /* an intent was journalled; the instance may or may not exist yet */
    STATE_RUNNING,  /* the provider said it exists */
    STATE_FAILED,   /* created, then failed verification or was tainted */
    STATE_DELETING, /* a delete was sent; not yet confirmed gone */
};

enum state_verify {
    STATE_VERIFY_NONE, /* not verified: its boot script carried no verify agent (its workload
                        * had `verify: none` when it was made, or a state from before
                        * "pending"); never verified later */
    STATE_VERIFY_PASSED,
    STATE_VERIFY_FAILED,
    STATE_VERIFY_ACCEPTED, /* failed, and kept because an on_verify policy accepted it */
    STATE_VERIFY_PENDING,  /* made with the agent in its boot script, its report not read yet
                            * (a run interrupted or killed after the create): the next apply
                            * reads it and decides as if the node had just been made */
};

/* Where a node runs: the planner's choice, as launched. */
struct state_placement {
    char *cloud;         /* "aws" */
    char *region;        /* "us-east-1" */
    char *zone;          /* "us-east-1a"; "" where the cloud has none */
    char *instance_type; /* "p5.48xlarge" */
    char *gpu;           /* "H100" */
    int gpus;            /* GPUs per instance */
    bool spot;
};

/* A label of the node's workload, set on its instance as a tag. */
struct state_label {
    char *key;
    char *value;
};

struct state_node {
    char *address;  /* "llm-pretrain[0]", "fl-clinics[paris]"; unique in a state */
    char *provider; /* the provider that made it: "aws", "gcp", "azure" */
    char *cloud_id; /* the provider's id ("i-0abc..."); "" while creating and unknown */
    char *token;    /* the idempotency token the create was sent with */
    struct state_placement placement;
    double hourly_usd; /* price at launch */
    enum state_status status;
    int64_t created_at; /* Unix seconds */
    enum state_verify verify;
    char *verify_detail;        /* "" or a one-line summary of the verify report */
    bool tainted;               /* replace at the next apply */
    struct state_label *labels; /* sorted by key: the tags set on the instance besides
                                 * gpuform's own; none in states written before labels */
    size_t nlabels;
};

/* A placement that failed with a capacity or quota error, avoided until `until`. */
struct state_block {
    char *cloud, *region, *zone, *instance_type;
    bool spot;
    char *error_class; /* "capacity", "quota" */
    char *message;     /* the provider's message, secrets never included */
    int64_t at;        /* when it failed, Unix seconds */
    int64_t until;     /* when the block expires */
};

struct state_override; /* executor/state_override.h */

struct state {
    char lineage[37];         /* UUID v4, fixed when the state is first created */
    uint64_t serial;          /* +1 at every write */
    char *stack;              /* the stack's name */
    struct state_node *nodes; /* sorted by address */
    size_t nnodes, capnodes;
    struct state_block *blocks; /* sorted by (cloud, region, zone, instance_type, spot) */
    size_t nblocks, capblocks;
    struct state_override *overrides; /* oldest first, at most STATE_OVERRIDES_MAX; none in
                                       * states written before overrides */
    size_t noverrides;
    /* "" or 64 hex digits: the stack's secret that each node's verify key is derived from
     * (executor/verify_frame.h); made by the first gated apply, wiped by state_free, never
     * printed by show */
    char verify_secret[65];
};

/* A fresh, empty state for `stack` with a new lineage; NULL when out of memory. */
struct state *state_new(const char *stack);

/* Frees everything; state_free(NULL) is a no-op. */
void state_free(struct state *st);

/*
 * Parses a state document. `what` names it in messages (a path or "etcd key ...").
 * Returns 0 with *out set (the caller frees), or -1 with err set: not JSON (with line and
 * column), a format from a newer gpuform, a missing or mistyped field (with its path, such
 * as "nodes[3].placement.region"), a duplicate address. Never half a state.
 */
int state_parse(const char *text, size_t len, const char *what, struct state **out,
                struct state_err *err);

/*
 * The document for `st`: fixed key order, nodes sorted by address, two-space indent and
 * a final newline, so equal states give equal bytes. Returns a malloc'd string (the caller
 * frees) and its length in *len, or NULL when out of memory.
 */
char *state_serialize(const struct state *st, size_t *len);

/* The node with this address, or NULL. Borrowed. */
struct state_node *state_find(const struct state *st, const char *address);

/*
 * Inserts a copy of `n` (every string duplicated) or, when a node with its address
 * exists, replaces that node. Returns the stored node, or NULL when out of memory (the
 * state is unchanged).
 */
struct state_node *state_put(struct state *st, const struct state_node *n);

/* A deep copy of `src` into `dst` (every string, the labels); false when out of memory
 * (then `dst` holds nothing to release). */
bool state_node_copy(struct state_node *dst, const struct state_node *src);

/* Frees what a node copied by state_node_copy (or read from a document) holds. */
void state_node_release(struct state_node *n);

/* Replaces the node's labels with copies of `labels` (any order; stored sorted by key). 0,
 * or -1 when out of memory (the node is unchanged). */
int state_node_set_labels(struct state_node *n, const struct state_label *labels, size_t nlabels);

/* Removes the node with this address; returns whether there was one. */
bool state_remove(struct state *st, const char *address);

/* Adds or refreshes a block (same place and market: the later one wins); -1 out of memory. */
int state_block_put(struct state *st, const struct state_block *b);

/* Drops blocks whose `until` is at or before `now`; returns how many were dropped. */
size_t state_block_prune(struct state *st, int64_t now);

/* Whether a live block (until > now) covers this place and market. */
bool state_blocked(const struct state *st, const char *cloud, const char *region, const char *zone,
                   const char *instance_type, bool spot, int64_t now);

/* Names, as written in the document. */
const char *state_status_name(enum state_status s);
const char *state_verify_name(enum state_verify v);

/* Writes a new random UUID v4 ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx") into out[37]. */
int state_uuid(char out[37]);

#endif
