/*
 * Refresh: the state checked against the clouds with one tag-filtered list call per cloud
 * and region, and brought up to date. Drift is reported, never hidden: an instance
 * terminated out of band or reclaimed as spot leaves the state (so the next plan creates it
 * again); an instance carrying the stack's tag that the state doesn't know is reported and
 * left alone (adopting it is `gpuform import`'s job, never a guess).
 */
#ifndef GPUFORM_EXECUTOR_REFRESH_H
#define GPUFORM_EXECUTOR_REFRESH_H

#include <stddef.h>

#include "executor/state.h"
#include "modules/provider.h"

enum refresh_kind {
    REFRESH_GONE,    /* the state's instance is terminated or missing: removed from state */
    REFRESH_CHANGED, /* it exists but not as recorded (type, zone, market): reported */
    REFRESH_UNKNOWN, /* a tagged instance the state doesn't know: reported, left alone */
};

struct refresh_drift {
    enum refresh_kind kind;
    char address[160];
    char id[64];
    char detail[640]; /* "terminated (Server.SpotInstanceTermination: ...)", "not found" */
};

struct refresh_result {
    struct refresh_drift *items;
    size_t n, cap;
    size_t calls; /* list calls made: one per cloud and region */
};

void refresh_result_release(struct refresh_result *r);

/* A (cloud, region) to look in besides the ones the state's nodes are in. */
struct refresh_place {
    const char *cloud;
    const char *region;
};

/* Gives the opened provider for a cloud name, or NULL (that cloud is then skipped and the
 * refresh fails: a cloud that can't be asked is never taken as "nothing there"). */
typedef struct prov *(*refresh_prov_fn)(void *ctx, const char *cloud);

/*
 * Refreshes `st` (the stack `stack`): lists each cloud and region of its nodes and of
 * `extra` once, removes the nodes whose instance is gone, and reports every drift in
 * *out. Nodes still being created (no instance id yet) are left to the journal. Returns 0,
 * or -1 with `err` set when a list call failed (the state is then unchanged).
 */
int refresh_state(struct state *st, const char *stack, const struct refresh_place *extra,
                  size_t nextra, refresh_prov_fn prov_for, void *ctx, struct refresh_result *out,
                  struct prov_error *err);

#endif
