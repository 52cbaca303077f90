/*
 * The crash-safe journal: before every provider mutation an intent record is appended and
 * made durable; after it, the outcome. A run that finds records left over replays them:
 * finished creates and deletes go into the state, unfinished ones are reconciled through
 * the provider (by idempotency token or tags), so whatever moment a run dies, no instance is
 * orphaned or duplicated. Records are JSON lines (docs/state.md, "Journal").
 */
#ifndef GPUFORM_EXECUTOR_JOURNAL_H
#define GPUFORM_EXECUTOR_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "executor/state.h"
#include "executor/state_override.h"

enum journal_op {
    JOURNAL_CREATE,
    JOURNAL_DELETE,
};

enum journal_phase {
    JOURNAL_INTENT, /* about to send; the call may or may not have reached the cloud */
    JOURNAL_DONE,   /* the cloud confirmed it */
    JOURNAL_FAILED, /* the cloud refused it; nothing was made or removed */
};

struct journal_rec {
    enum journal_op op;
    enum journal_phase phase;
    const char *address;              /* the node */
    const char *provider;             /* "aws" */
    const char *token;                /* the idempotency token (creates); "" for deletes */
    const char *cloud_id;             /* known after a create is done, and for deletes */
    struct state_placement placement; /* where (creates) */
    double hourly_usd;
    const char *error; /* why it failed (FAILED); never holds a secret */
    int64_t at;        /* Unix seconds */
    bool verify;       /* creates: the boot script carries the verify agent (gated apply), so
                        * a node settled from the journal is recorded verify "pending";
                        * written as "verify": true, left out when false */
};

/* The record as one line of JSON (no newline), malloc'd; NULL when out of memory. */
char *journal_encode(const struct journal_rec *rec);

/*
 * The policy override a run applies under, as one line of JSON (`{"op": "override",
 * "override": {...the state's record...}}`), written before its first intent so that a
 * replay that settles any of its changes records the override too. NULL when out of memory.
 */
char *journal_encode_override(const struct state_override *o);

/* Each (op, address, token) the journal names, with its last phase and merged fields. */
struct journal_entry {
    enum journal_op op;
    enum journal_phase phase; /* the last one recorded */
    char *address, *provider, *token, *cloud_id, *error;
    struct state_placement placement;
    double hourly_usd;
    int64_t at;  /* of the intent */
    bool verify; /* any of its records said "verify": true */
};

struct journal_replay {
    struct journal_entry *entries; /* in the order their intents were written */
    size_t nentries;
    bool torn_tail;                  /* the last line was cut short by a crash and was ignored */
    struct state_override *override; /* the run's policy override (owned), or NULL */
};

/*
 * Reads a journal's text. A last line cut short by a crash (no newline) is
 * ignored and flagged: it was never acknowledged, so its call was never sent. Any other
 * bad line is an error naming `what` and the line: the journal is not guessed at.
 * An outcome without its intent is an error too. 0 with *out filled (release it), or -1.
 */
int journal_replay(const char *text, size_t len, const char *what, struct journal_replay *out,
                   struct state_err *err);

void journal_replay_release(struct journal_replay *r);

#endif
