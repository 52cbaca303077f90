/*
 * Refresh: collect the (cloud, region) places to ask, list each once, then compare. All
 * list calls happen before the state is touched, so a failed call leaves it as it was.
 */
#include "executor/refresh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void refresh_result_release(struct refresh_result *r)
{
    free(r->items);
    memset(r, 0, sizeof *r);
}

static int add_drift(struct refresh_result *r, enum refresh_kind kind, const char *address,
                     const char *id, const char *detail)
{
    if (r->n == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 8;
        struct refresh_drift *ni = realloc(r->items, ncap * sizeof *ni);
        if (!ni)
            return -1;
        r->items = ni;
        r->cap = ncap;
    }
    struct refresh_drift *d = &r->items[r->n++];
    d->kind = kind;
    snprintf(d->address, sizeof d->address, "%s", address);
    snprintf(d->id, sizeof d->id, "%s", id);
    snprintf(d->detail, sizeof d->detail, "%s", detail);
    return 0;
}

struct place {
    char cloud[32], region[64]; /* copies: a node the refresh removes takes its strings */
    struct prov_instance_list found;
};

static size_t place_index(struct place *ps, size_t *n, const char *cloud, const char *region)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(ps[i].cloud, cloud) == 0 && strcmp(ps[i].region, region) == 0)
            return i;
    memset(&ps[*n], 0, sizeof ps[*n]);
    snprintf(ps[*n].cloud, sizeof ps[*n].cloud, "%s", cloud);
    snprintf(ps[*n].region, sizeof ps[*n].region, "%s", region);
    return (*n)++;
}

static int cmp_instance_id(const void *a, const void *b)
{
    return strcmp(((const struct prov_instance *)a)->id, ((const struct prov_instance *)b)->id);
}

/* A place's instances are sorted by id once they are all in (bsearch, not a scan per node). */
static const struct prov_instance *find_id(const struct place *p, const char *id)
{
    struct prov_instance key;
    if (p->found.n == 0)
        return NULL;
    snprintf(key.id, sizeof key.id, "%s", id);
    return bsearch(&key, p->found.items, p->found.n, sizeof key, cmp_instance_id);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool alive(enum prov_state s)
{
    return s == PROV_PENDING || s == PROV_RUNNING || s == PROV_STOPPING || s == PROV_STOPPED;
}

/* Whether the instance runs in another zone than the state says. The state keeps the plan's
 * zone; apply sends it to the cloud only when it is a zone name of the region
 * ("us-east-1a"). A zone id ("use1-az1") is not sent, the cloud picks the zone, and the
 * instance's zone name can't be compared with it. */
static bool zone_differs(const struct prov_instance *in, const struct state_placement *p)
{
    size_t n = strlen(p->region);
    bool named = strncmp(p->zone, p->region, n) == 0 && p->zone[n];
    return named && *in->zone && strcmp(in->zone, p->zone) != 0;
}

int refresh_state(struct state *st, const char *stack, const struct refresh_place *extra,
                  size_t nextra, refresh_prov_fn prov_for, void *ctx, struct refresh_result *out,
                  struct prov_error *err)
{
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    struct place *ps = calloc(st->nnodes + nextra + 1, sizeof *ps);
    const char **ids = NULL;
    size_t np = 0;
    int rc = -1;
    if (!ps) {
        snprintf(err->message, sizeof err->message, "out of memory");
        err->cls = PROV_TRANSIENT;
        return -1;
    }
    for (size_t i = 0; i < st->nnodes; i++)
        place_index(ps, &np, st->nodes[i].placement.cloud, st->nodes[i].placement.region);
    for (size_t i = 0; i < nextra; i++)
        place_index(ps, &np, extra[i].cloud, extra[i].region);
    /* 1. ask every place; nothing changes until all answered */
    for (size_t i = 0; i < np; i++) {
        struct prov *p = prov_for(ctx, ps[i].cloud);
        if (!p) {
            err->cls = PROV_INVALID;
            snprintf(err->message, sizeof err->message,
                     "refresh: no provider for cloud '%s' (the state has nodes there)",
                     ps[i].cloud);
            goto out;
        }
        out->calls++;
        if (p->ops->list(p, ps[i].region, stack, &ps[i].found, err) != 0)
            goto out;
        if (ps[i].found.n > 1)
            qsort(ps[i].found.items, ps[i].found.n, sizeof *ps[i].found.items, cmp_instance_id);
    }
    /* 2. the state's nodes against what the clouds said */
    size_t i = 0;
    while (i < st->nnodes) {
        struct state_node *n = &st->nodes[i];
        if (!*n->cloud_id) { /* still being created: the journal settles it */
            i++;
            continue;
        }
        size_t k = place_index(ps, &np, n->placement.cloud, n->placement.region);
        const struct prov_instance *in = find_id(&ps[k], n->cloud_id);
        char detail[512];
        if (!in || !alive(in->state)) {
            snprintf(detail, sizeof detail, "%s%s%s%s",
                     in ? prov_state_name(in->state) : "not found",
                     in && *in->state_reason ? " (" : "", in ? in->state_reason : "",
                     in && *in->state_reason ? ")" : "");
            if (add_drift(out, REFRESH_GONE, n->address, n->cloud_id, detail) != 0)
                goto oom;
            state_remove(st, n->address); /* the next node slides into slot i */
            continue;
        }
        if (strcmp(in->instance_type, n->placement.instance_type) != 0 ||
            zone_differs(in, &n->placement) || in->spot != n->placement.spot) {
            snprintf(detail, sizeof detail, "runs as %s in %s%s, the state says %s in %s%s",
                     in->instance_type, in->zone, in->spot ? " (spot)" : "",
                     n->placement.instance_type, n->placement.zone,
                     n->placement.spot ? " (spot)" : "");
            if (add_drift(out, REFRESH_CHANGED, n->address, n->cloud_id, detail) != 0)
                goto oom;
        }
        i++;
    }
    /* 3. tagged instances the state doesn't know (its ids sorted once, then looked up) */
    ids = malloc((st->nnodes + 1) * sizeof *ids);
    if (!ids)
        goto oom;
    for (size_t k = 0; k < st->nnodes; k++)
        ids[k] = st->nodes[k].cloud_id;
    qsort(ids, st->nnodes, sizeof *ids, cmp_str);
    for (size_t k = 0; k < np; k++)
        for (size_t j = 0; j < ps[k].found.n; j++) {
            const struct prov_instance *in = &ps[k].found.items[j];
            const char *key = in->id;
            if (!alive(in->state) || bsearch(&key, ids, st->nnodes, sizeof *ids, cmp_str))
                continue;
            char detail[640];
            snprintf(detail, sizeof detail,
                     "%s %s in %s carries the stack's tag but the state doesn't know it; "
                     "'gpuform import %s %s' adopts it",
                     in->instance_type, in->id, in->zone, *in->address ? in->address : "ADDRESS",
                     in->id);
            if (add_drift(out, REFRESH_UNKNOWN, in->address, in->id, detail) != 0)
                goto oom;
        }
    rc = 0;
    goto out;
oom:
    err->cls = PROV_TRANSIENT;
    snprintf(err->message, sizeof err->message, "out of memory");
out:
    for (size_t k = 0; k < np; k++)
        prov_instance_list_release(&ps[k].found);
    free(ids);
    free(ps);
    return rc;
}
