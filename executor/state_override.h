/*
 * Policy overrides in the state: each apply that went ahead because `--override-policy`
 * let a failing soft finding through leaves one record (who, when, why, which findings,
 * the serial it wrote) in the state's append-only `policy_overrides` list, kept to the last
 * STATE_OVERRIDES_MAX (docs/policies.md, "Overrides"; docs/state.md). The record is written
 * with the first state write that records a change made under it, so a run that changes
 * nothing leaves none; the journal carries it so a killed run's replay records it too.
 */
#ifndef GPUFORM_EXECUTOR_STATE_OVERRIDE_H
#define GPUFORM_EXECUTOR_STATE_OVERRIDE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "executor/state.h"

/* The state keeps this many records, the newest; older ones are dropped as new ones come. */
#define STATE_OVERRIDES_MAX 100

/* A finding an override let through (a soft one; the level is kept as the policy said). */
struct state_override_finding {
    char *policy;  /* the hook file, as the spec names it */
    char *level;   /* "advisory", "soft" or "hard" */
    char *message; /* the policy's message */
    char *address; /* the node it is about, or NULL */
};

struct state_override {
    char id[37];      /* UUID v4: the same override is never recorded twice (replay) */
    char *at;         /* when the apply began, UTC ISO-8601: "2026-11-21T18:02:11Z" */
    char *who;        /* "alice", "alice@build-7" */
    char *who_source; /* where `who` came from: "GPUFORM_ACTOR", "GITHUB_ACTOR", ..., "login" */
    char *reason;     /* --override-reason, never empty */
    char **policies;  /* the --override-policy values, as given */
    size_t npolicies;
    struct state_override_finding *findings; /* what they let through */
    size_t nfindings;
    uint64_t serial; /* the last state serial the apply wrote with this record in it */
    char *run_url;   /* the CI run (GitHub Actions, GitLab, Buildkite), or NULL */
};

/* Frees what `o` holds (not `o` itself) and zeroes it; safe on a zeroed record. */
void state_override_release(struct state_override *o);

/* A deep copy of `src` into `dst`; false when out of memory (then `dst` holds nothing). */
bool state_override_copy(struct state_override *dst, const struct state_override *src);

/* Appends a copy of `f` (strings duplicated; address may be NULL) to o->findings. 0, or -1
 * when out of memory (nothing added). */
int state_override_add_finding(struct state_override *o, const struct state_override_finding *f);

/*
 * Records `o` in the state with `serial`: appended (a copy) when no record has its id, the
 * oldest dropped past STATE_OVERRIDES_MAX; when one has, only its serial is set. Returns 0,
 * or -1 when out of memory (the state is unchanged).
 */
int state_override_record(struct state *st, const struct state_override *o, uint64_t serial);

/* Frees the state's records; called by state_free. */
void state_overrides_free(struct state *st);

/* The record as the state document writes it (fixed key order); NULL when out of memory. */
json_t *state_override_to_json(const struct state_override *o);

/*
 * Reads one record from `v`. `what` names the document ("state 'FILE'") and `path` the
 * record ("policy_overrides[2]") in messages. 0 with *out filled (release it), or -1 with err set:
 * "state 'FILE': policy_overrides[2].findings[0].level is not advisory, soft or hard; ...".
 */
int state_override_from_json(json_t *v, const char *what, const char *path,
                             struct state_override *out, struct state_err *err);

/* The state document's "policy_overrides" member: absent (NULL, states written before
 * overrides) or a list; only the last STATE_OVERRIDES_MAX entries are kept. 0 or -1. */
int state_overrides_read(json_t *arr, const char *what, struct state *st, struct state_err *err);

/* Adds "policy_overrides" to the state document `doc` when the state has any (a state
 * without overrides is written as before). 0, or -1 when out of memory. */
int state_overrides_write(const struct state *st, json_t *doc);

#endif
