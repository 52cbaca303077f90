/*
 * The apply engine: executes a diff (executor/diff.h) against the clouds through the
 * providers (modules/provider.h), crash-safely. Every provider mutation is journalled as an
 * intent before it is sent and as done or failed after; each finished change is written to
 * the state at once (serial +1, one writer at a time). Capacity and quota errors block the
 * offer in the state and move the node to the next-best placement; a run left behind by a
 * crash is settled first by exec_replay. docs/state.md, "Apply", describes the whole.
 */
#ifndef GPUFORM_EXECUTOR_APPLY_H
#define GPUFORM_EXECUTOR_APPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "executor/backend.h"
#include "executor/diff.h"
#include "executor/state.h"
#include "executor/state_override.h"
#include "modules/provider.h"
#include "parser/spec.h"
#include "planner/catalog.h"
#include "planner/plan.h"

/* The AMI used when GPUFORM_AWS_AMI is unset: cloudsim accepts any image; real AWS needs
 * GPUFORM_AWS_AMI set to an AMI of the region. */
#define EXEC_DEFAULT_AMI "ami-gpuform-default"

/* An opened provider for one cloud ("aws"). Borrowed by the engine. */
struct exec_cloud {
    const char *name;
    struct prov *prov;
};

/* What to do with a node that failed verification (docs/verify.md, "Gated apply"). */
enum exec_verdict {
    EXEC_VERDICT_REPLACE, /* destroy it, block its place, create it elsewhere (the default) */
    EXEC_VERDICT_TAINT,   /* keep it, tainted: the next apply replaces it */
    EXEC_VERDICT_ACCEPT,  /* keep it as it is (verify "accepted") */
};

/*
 * Decides for a node that failed verification (the CLI asks the policies' on_verify).
 * `node` is the node as the state records it (a copy, verify failed with its detail);
 * `report` the report's JSON text, or NULL when none came; `reason` the one-line failure.
 * Returns 1 when nothing decides (the engine replaces), 0 with *verdict set and who[] naming
 * the decider, -1 when the decider failed (who[] says how; the node is left tainted). Called
 * one at a time, from the workers.
 */
typedef int (*exec_on_verify_fn)(void *ctx, const struct state_node *node, const char *report,
                                 const char *reason, enum exec_verdict *verdict, char *who,
                                 size_t wholen);

struct exec_options {
    int parallelism;       /* worker threads; 0: 10 */
    int max_placements;    /* placements tried per node (the first + failovers); 0: 4 */
    int max_retries;       /* outer retries of a transient or throttled call; 0: 3 */
    unsigned backoff_ms;   /* first outer retry delay, doubled each time; 0: 500 */
    int64_t block_ttl_s;   /* how long a capacity or quota block lasts; 0: 3600 */
    const char *image;     /* NULL: $GPUFORM_AWS_AMI, else EXEC_DEFAULT_AMI */
    const char *user_data; /* NULL: a small boot script naming the node */
    FILE *log;             /* progress, one line per event; NULL: stderr */
    bool live;             /* `log` is a terminal: keep a status line under the events, redrawn each
                            * second ("[12 of 40 done, 8 in flight, 1 failed, 2m10s]") */
    /* Gated apply: nodes of workloads with `verify: quick|full` are verified after their
     * create, through the report their boot script's agent prints on the console. */
    int verify_retries;          /* replacements of a node that failed verification; 0: 2; < 0: 0 */
    double verify_timeout_s;     /* wait for a report at most this long; 0: 900 quick, 1800 full */
    unsigned verify_poll_ms;     /* first wait between console reads, then doubled; 0: 2000 */
    unsigned verify_poll_max_ms; /* ... up to this; 0: 15000 */
    exec_on_verify_fn on_verify; /* NULL: a failed node is replaced */
    void *on_verify_ctx;
};

/* What the engine works on. Everything is borrowed; `state` is changed in place and
 * written through `backend`, which the caller has opened and locked. */
struct exec_input {
    const struct spec *spec;
    const struct plan_catalog *catalog; /* for failover re-plans */
    const struct plan_judge *judge;     /* the policies' offer hooks for them, or NULL */
    const struct plan_result *plan;     /* the desired placement the diff came from */
    struct state_backend *backend;
    struct state *state;
    const struct exec_cloud *clouds;
    size_t nclouds;
    /* The policy override the run applies under (executor/state_override.h), or NULL. It is
     * journalled before the first change and put into the state (serial set) in the same
     * write as the first change made; a run that changes nothing leaves none. */
    const struct state_override *override;
};

struct exec_result {
    size_t created, deleted, replaced, updated; /* changes finished */
    size_t failed;                              /* changes that did not finish */
    size_t failovers;                           /* placements given up for capacity or quota */
    size_t verified;        /* nodes whose verification passed (pending ones finished included) */
    size_t verify_failed;   /* nodes that failed verification and were kept (tainted, accepted,
                             * or out of replacements) */
    size_t verify_replaced; /* nodes replaced because they failed verification */
    bool interrupted;       /* exec_stop was called */
    bool unsettled;         /* an outcome is unknown: the journal was kept for the next run */
    char error[1024];       /* the first fatal error (auth, invalid, a state write), or "" */
};

struct exec;

/* An engine for one run, or NULL when out of memory. Free with exec_free. */
struct exec *exec_new(const struct exec_input *in, const struct exec_options *o);
void exec_free(struct exec *x);

/*
 * Executes every change of `d` (which must come from in->plan and in->state) with a pool
 * of workers; a verify change (and an update with finish_verify) reads the report of a node
 * whose verification a run left pending and decides on it as right after a create. Returns 0 when
 * every change finished, -1 otherwise (res says what happened; the state records everything that
 * did finish). The journal is cleared when every outcome is known and recorded in the state.
 */
int exec_run(struct exec *x, const struct diff *d, struct exec_result *res);

/* Stops starting new work; calls in flight finish and are recorded. Safe from any thread
 * (not from a signal handler: use a sigwait thread). */
void exec_stop(struct exec *x);

/* Writes the state as it is now (serial +1), between two workers' writes. For a second
 * interrupt: the journal (left as it is) covers what is still in flight. */
int exec_save_now(struct exec *x, struct state_err *err);

/*
 * Settles a journal left behind by a run that died: done creates are put into `st`,
 * unfinished create intents are looked up by token (adopted when the instance exists,
 * dropped when not), unfinished delete intents are described (removed from the state when
 * the instance is gone). When the journal names the run's policy override and any of its
 * changes reached the state, the override is recorded too (once: by its id). Then the state
 * is written and the journal cleared. *settled gets
 * the number of journal entries handled (0: there was no journal; nothing is written).
 * -1 with err set when the journal can't be read or a provider can't answer: nothing is
 * written and the journal is kept.
 */
int exec_replay(struct state_backend *b, struct state *st, const struct exec_cloud *clouds,
                size_t nclouds, FILE *log, size_t *settled, struct state_err *err);

/*
 * A copy of `cat` without the offers the state's blocklist covers at `now` (a blocked
 * spot market removes only the spot price, a blocked on-demand one only the on-demand
 * price), except where a healthy node of the state runs: that market stays, marked blocked
 * (plan_offer.blocked_*), so the planner keeps the nodes there and places no new one: a
 * block keeps new nodes away, it never moves one that runs. Strings are borrowed from `cat`, which
 * must outlive the copy; free it with plan_catalog_free. NULL when out of memory.
 */
struct plan_catalog *exec_catalog_unblocked(const struct plan_catalog *cat, const struct state *st,
                                            int64_t now);

/* The idempotency token of a create: "gf-" and 40 hex digits of SHA-256 over the lineage,
 * the address and the attempt ("SERIAL.K": the state serial when the run began and the
 * create's number in the run), so no two creates of a lineage share one. out[48]. */
void exec_token(const char *lineage, const char *address, uint64_t serial, int k, char out[48]);

#endif
