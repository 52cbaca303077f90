/*
 * Verifying nodes that already run (docs/verify.md, "Verifying running nodes"), the engine of
 * `gpuform verify ADDRESS...`: each node is asked through its cloud (the provider's
 * request_verify: a tag or metadata item "LEVEL:NONCE" with a fresh nonce), then every
 * node's console output is read, round-robin with backoff, until the authenticated report
 * answering its nonce comes or the deadline passes; the outcomes are then marked in a state
 * the caller has loaded under its lock. No inbound connection to a node is ever made.
 */
#ifndef GPUFORM_EXECUTOR_REVERIFY_H
#define GPUFORM_EXECUTOR_REVERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "executor/apply.h"
#include "executor/state.h"

enum exec_reverify_status {
    EXEC_REVERIFY_UNVERIFIED, /* no answer could be had: not asked, not read, timed out */
    EXEC_REVERIFY_PASSED,     /* an authenticated report answering the request passed */
    EXEC_REVERIFY_FAILED,     /* the answer failed its checks, or a bad block came instead */
};

/* "unverified", "passed", "failed". */
const char *exec_reverify_status_name(enum exec_reverify_status s);

/* One node to verify again, and what came of it. */
struct exec_reverify_node {
    /* in: the node as the state held it when the run began (all copied, owned here) */
    char address[160];
    char cloud[16];
    char region[64];
    char cloud_id[128];
    char level[8]; /* "quick", "full" */
    /* out */
    enum exec_reverify_status status;
    char nonce[40];    /* the request's nonce; "" when it was never asked */
    char detail[1100]; /* "quick: passed (7 checks, 0.8 s, cpu)", or why it failed or was not
                        * verified */
    char reason[700];  /* failed: the one-line reason handed to on_verify */
    char *report;      /* the report's JSON (malloc'd), or NULL when none was read */
    bool recorded;     /* exec_reverify_mark wrote the outcome into the state */
};

struct exec_reverify_options {
    double timeout_s;     /* how long to wait for all answers; 0: 900 s, 1800 s with a full */
    unsigned poll_ms;     /* first wait between console reads of a node; 0: 2000 */
    unsigned poll_max_ms; /* the longest wait; 0: 15000 */
    FILE *log;            /* one line per event; NULL: stderr */
};

/*
 * Asks each node of `nodes` (address, cloud, region, cloud_id and level filled) to verify
 * itself, then collects the answers, setting each node's status, nonce, detail and report.
 * `st` is the state read at the start (borrowed, not changed): its verify secret and each
 * node's create token give the node keys, which live only while a report is checked. The
 * clouds are those the nodes are on (a node on another is unverified). 0, or -1 when the
 * state has no verify secret (err[] says so); a node that could not be asked or read is
 * unverified, never a crash.
 */
int exec_reverify_run(const struct state *st, const struct exec_cloud *clouds, size_t nclouds,
                      struct exec_reverify_node *nodes, size_t nnodes,
                      const struct exec_reverify_options *o, char *err, size_t errlen);

/*
 * Writes the outcomes into `st` (re-read by the caller under the state's lock, then saved
 * by it): a passed node gets verify passed and its detail; a failed one verify failed, its
 * detail, and tainted (the next apply replaces it) unless `on_verify` (may be NULL) accepts
 * it (verify accepted, not tainted; a "taint" or "replace" verdict taints). Unverified nodes
 * and nodes whose cloud_id changed since the run began (replaced meanwhile: said on `log`)
 * are left as they are. Returns how many nodes it changed, or -1 when out of memory.
 */
int exec_reverify_mark(struct state *st, struct exec_reverify_node *nodes, size_t nnodes,
                       exec_on_verify_fn on_verify, void *ctx, FILE *log);

/* Frees the nodes' reports; NULL-safe. */
void exec_reverify_release(struct exec_reverify_node *nodes, size_t nnodes);

#endif
