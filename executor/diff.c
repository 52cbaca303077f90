/*
 * Plan against state, address by address. The planner already kept nodes where they are
 * unless moving them saves enough (it was given diff_current_from_state), so a placement
 * that differs here is a move the user should see, with what it saves.
 */
#include "executor/diff.h"

#include <stdlib.h>
#include <string.h>

#include "core/cloud.h"

const char *diff_action_name(enum diff_action a)
{
    switch (a) {
    case DIFF_NOOP:
        return "no-op";
    case DIFF_CREATE:
        return "create";
    case DIFF_DELETE:
        return "delete";
    case DIFF_REPLACE:
        return "replace";
    case DIFF_UPDATE:
        return "update";
    case DIFF_VERIFY:
        return "verify";
    }
    return "?";
}

const char *const *diff_action_list(enum diff_action a, bool create_first, size_t *n)
{
    static const char *const noop[] = {"no-op"}, *const create[] = {"create"},
                             *const del[] = {"delete"}, *const del_create[] = {"delete", "create"},
                             *const create_del[] = {"create", "delete"},
                             *const update[] = {"update"}, *const read[] = {"read"};
    *n = a == DIFF_REPLACE ? 2 : 1;
    switch (a) {
    case DIFF_CREATE:
        return create;
    case DIFF_DELETE:
        return del;
    case DIFF_REPLACE:
        return create_first ? create_del : del_create;
    case DIFF_UPDATE:
        return update;
    case DIFF_VERIFY:
        return read;
    case DIFF_NOOP:
        break;
    }
    return noop;
}

/* Whether the state's node runs where the plan wants it. A plan offer priced per region
 * (zone "") matches any zone of that region. */
static bool same_place(const struct plan_node *want, const struct state_node *have)
{
    const struct plan_offer *o = want->offer;
    const struct state_placement *p = &have->placement;
    return strcmp(core_cloud_name(o->cloud), p->cloud) == 0 && strcmp(o->region, p->region) == 0 &&
           (!*o->zone || strcmp(o->zone, p->zone) == 0) &&
           strcmp(o->instance_type, p->instance_type) == 0 && want->spot == p->spot;
}

static const char *where(struct core_arena *a, const char *cloud, const char *region,
                         const char *zone, const char *itype, bool spot)
{
    return core_arena_printf(a, "%s/%s %s%s", cloud, *zone ? zone : region, itype,
                             spot ? " (spot)" : "");
}

static const char *replace_reason(struct core_arena *a, const struct plan_node *want,
                                  const struct state_node *have)
{
    if (have->tainted)
        return "tainted";
    if (have->verify == STATE_VERIFY_FAILED)
        return core_arena_printf(a, "failed verification%s%s", *have->verify_detail ? ": " : "",
                                 have->verify_detail);
    if (have->status == STATE_FAILED)
        return "failed";
    if (have->status == STATE_DELETING)
        return "a delete was left unfinished";
    if (have->status == STATE_CREATING)
        return "its create was never confirmed";
    const struct plan_offer *o = want->offer;
    const struct state_placement *p = &have->placement;
    const char *from = where(a, p->cloud, p->region, p->zone, p->instance_type, p->spot);
    const char *to =
        where(a, core_cloud_name(o->cloud), o->region, o->zone, o->instance_type, want->spot);
    if (!from || !to)
        return NULL;
    return core_arena_printf(a, "moves from %s to %s ($%.2f/h -> $%.2f/h)", from, to,
                             have->hourly_usd, want->hourly);
}

/* The node's recorded label with this key, or NULL. */
static const char *have_label(const struct state_node *have, const char *key)
{
    for (size_t i = 0; i < have->nlabels; i++)
        if (strcmp(have->labels[i].key, key) == 0)
            return have->labels[i].value;
    return NULL;
}

/* NULL when the workload's labels are the node's; else what changes, in label order:
 * "labels: team=evals (was research), +tier=gold, -old" (in the arena; "" when out of
 * memory, which the caller treats as a failure). */
static const char *label_changes(struct core_arena *a, const struct spec_workload *w,
                                 const struct state_node *have)
{
    bool same = w->nlabels == have->nlabels;
    for (size_t i = 0; same && i < w->nlabels; i++) {
        const char *v = have_label(have, w->labels[i].key);
        same = v && strcmp(v, w->labels[i].value) == 0;
    }
    if (same)
        return NULL;
    const char *r = "labels:";
    for (size_t i = 0; r && i < w->nlabels; i++) {
        const char *k = w->labels[i].key, *v = w->labels[i].value, *was = have_label(have, k);
        if (!was)
            r = core_arena_printf(a, "%s%s +%s=%s", r, i ? "," : "", k, v);
        else if (strcmp(was, v) != 0)
            r = core_arena_printf(a, "%s%s %s=%s (was %s)", r, i ? "," : "", k, v, was);
    }
    for (size_t i = 0; r && i < have->nlabels; i++) {
        bool kept = false;
        for (size_t k = 0; k < w->nlabels && !kept; k++)
            kept = strcmp(w->labels[k].key, have->labels[i].key) == 0;
        if (!kept)
            r = core_arena_printf(a, "%s -%s", r, have->labels[i].key);
    }
    return r ? r : "";
}

static bool healthy(const struct state_node *have)
{
    return !have->tainted && have->verify != STATE_VERIFY_FAILED && have->status == STATE_RUNNING;
}

#define PENDING_WHY "left pending by an interrupted run"

/* A healthy node where the plan wants it: a no-op, an update of its labels, or a verify when a
 * run left its verification pending and its workload still asks for one (one with `verify:
 * none` now leaves it pending: nothing to do). c->reason is NULL when out of memory. */
static void keep(struct diff *out, struct diff_change *c)
{
    const struct spec_workload *w = c->want->workload;
    const char *labels = w ? label_changes(&out->arena, w, c->have) : NULL;
    c->finish_verify =
        c->have->verify == STATE_VERIFY_PENDING && w && w->verify != SPEC_VERIFY_NONE;
    if (labels) {
        c->action = DIFF_UPDATE;
        c->reason = !*labels ? NULL
                    : c->finish_verify
                        ? core_arena_printf(&out->arena, "%s; verify %s: " PENDING_WHY, labels,
                                            spec_verify_name(w->verify))
                        : labels;
        out->nupdate++;
    } else if (c->finish_verify) {
        c->action = DIFF_VERIFY;
        c->reason =
            core_arena_printf(&out->arena, "verify %s: " PENDING_WHY, spec_verify_name(w->verify));
        out->nverify++;
    } else {
        c->action = DIFF_NOOP;
        c->reason = "";
        out->nnoop++;
    }
}

int diff_compute(const struct plan_result *plan, const struct state *st, struct diff *out)
{
    memset(out, 0, sizeof *out);
    core_arena_init(&out->arena, 0);
    size_t cap = plan->nnodes + (st ? st->nnodes : 0);
    out->changes = core_arena_alloc(&out->arena, (cap ? cap : 1) * sizeof *out->changes);
    /* which state nodes the plan names, to find the deletes */
    bool *named = st && st->nnodes ? calloc(st->nnodes, sizeof *named) : NULL;
    if (!out->changes || (st && st->nnodes && !named)) {
        free(named);
        diff_release(out);
        return -1;
    }
    out->hourly_after = plan->hourly;
    for (size_t i = 0; i < plan->nnodes; i++) {
        const struct plan_node *want = &plan->nodes[i];
        struct state_node *have = st ? state_find(st, want->address) : NULL;
        struct diff_change *c = &out->changes[out->nchanges++];
        *c = (struct diff_change){.address = want->address, .want = want, .have = have};
        if (!have) {
            c->action = DIFF_CREATE;
            c->reason = "new";
            out->ncreate++;
            continue;
        }
        named[have - st->nodes] = true;
        if (healthy(have) && same_place(want, have)) {
            keep(out, c);
        } else {
            c->action = DIFF_REPLACE;
            c->reason = replace_reason(&out->arena, want, have);
            out->nreplace++;
        }
        if (!c->reason) {
            free(named);
            diff_release(out);
            return -1;
        }
    }
    for (size_t i = 0; st && i < st->nnodes; i++) {
        out->hourly_before += st->nodes[i].hourly_usd;
        if (named[i])
            continue;
        struct diff_change *c = &out->changes[out->nchanges++];
        *c = (struct diff_change){.action = DIFF_DELETE,
                                  .address = st->nodes[i].address,
                                  .have = &st->nodes[i],
                                  .reason = "no longer in the spec"};
        out->ndelete++;
    }
    free(named);
    return 0;
}

/* Whether `target` names `address`: the address itself, or its workload ("chat" names
 * "chat[0]" and "chat[eu]"). */
static bool targets_address(const char *target, const char *address)
{
    size_t n = strlen(target);
    return strcmp(target, address) == 0 || (strncmp(target, address, n) == 0 && address[n] == '[');
}

int diff_restrict(struct diff *d, const char *const *targets, size_t ntargets,
                  const char **unmatched)
{
    *unmatched = NULL;
    if (ntargets == 0)
        return 0;
    for (size_t t = 0; t < ntargets; t++) {
        bool hit = false;
        for (size_t i = 0; i < d->nchanges && !hit; i++)
            hit = targets_address(targets[t], d->changes[i].address);
        if (!hit) {
            *unmatched = targets[t];
            return -1;
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < d->nchanges; i++) {
        const struct diff_change *c = &d->changes[i];
        bool keep = false;
        for (size_t t = 0; t < ntargets && !keep; t++)
            keep = targets_address(targets[t], c->address);
        if (keep) {
            d->changes[k++] = *c;
            continue;
        }
        /* left as it is: the cost after the run keeps what it costs now */
        d->hourly_after -= (c->want ? c->want->hourly : 0) - (c->have ? c->have->hourly_usd : 0);
        d->nskipped += c->action != DIFF_NOOP;
        switch (c->action) {
        case DIFF_CREATE:
            d->ncreate--;
            break;
        case DIFF_DELETE:
            d->ndelete--;
            break;
        case DIFF_REPLACE:
            d->nreplace--;
            break;
        case DIFF_UPDATE:
            d->nupdate--;
            break;
        case DIFF_VERIFY:
            d->nverify--;
            break;
        case DIFF_NOOP:
            d->nnoop--;
            break;
        }
    }
    d->nchanges = k;
    return 0;
}

void diff_release(struct diff *d)
{
    core_arena_release(&d->arena);
    memset(d, 0, sizeof *d);
}

int diff_current_from_state(const struct state *st, struct core_arena *arena,
                            struct plan_current **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!st || st->nnodes == 0)
        return 0;
    struct plan_current *cur = core_arena_alloc(arena, st->nnodes * sizeof *cur);
    if (!cur)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < st->nnodes; i++) {
        const struct state_node *s = &st->nodes[i];
        int cloud = core_cloud_from_name(s->placement.cloud);
        if (!healthy(s) || cloud < 0)
            continue;
        cur[k++] = (struct plan_current){
            .address = s->address,
            .cloud = (enum core_cloud)cloud,
            .region = s->placement.region,
            .zone = s->placement.zone,
            .instance_type = s->placement.instance_type,
            .spot = s->placement.spot,
        };
    }
    *out = cur;
    *n = k;
    return 0;
}
