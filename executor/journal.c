/*
 * Journal records to and from JSON lines, and the replay that folds them into one entry
 * per mutation, so the executor can tell what finished and what needs asking the cloud.
 */
#include "executor/journal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[] = {"create", "delete"};
static const char *const phase_names[] = {"intent", "done", "failed"};

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

char *journal_encode(const struct journal_rec *rec)
{
    const struct state_placement *p = &rec->placement;
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:i, s:b}, s:f, s:s, s:I}",
        "op", op_names[rec->op], "phase", phase_names[rec->phase], "address",
        or_empty(rec->address), "provider", or_empty(rec->provider), "token", or_empty(rec->token),
        "cloud_id", or_empty(rec->cloud_id), "placement", "cloud", or_empty(p->cloud), "region",
        or_empty(p->region), "zone", or_empty(p->zone), "instance_type", or_empty(p->instance_type),
        "gpu", or_empty(p->gpu), "gpus", p->gpus, "spot", p->spot, "hourly_usd", rec->hourly_usd,
        "error", or_empty(rec->error), "at", (json_int_t)rec->at);
    if (o && rec->verify && json_object_set_new(o, "verify", json_true()) != 0) {
        json_decref(o);
        o = NULL;
    }
    char *s =
        o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(o);
    return s;
}

char *journal_encode_override(const struct state_override *o)
{
    json_t *v = json_pack("{s:s, s:o}", "op", "override", "override", state_override_to_json(o));
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(v);
    return s;
}

static void entry_release(struct journal_entry *e)
{
    free(e->address);
    free(e->provider);
    free(e->token);
    free(e->cloud_id);
    free(e->error);
    free(e->placement.cloud);
    free(e->placement.region);
    free(e->placement.zone);
    free(e->placement.instance_type);
    free(e->placement.gpu);
}

void journal_replay_release(struct journal_replay *r)
{
    for (size_t i = 0; i < r->nentries; i++)
        entry_release(&r->entries[i]);
    free(r->entries);
    if (r->override)
        state_override_release(r->override);
    free(r->override);
    memset(r, 0, sizeof *r);
}

static int name_index(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (s && strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

/* Replaces *dst with a copy of src when src is non-empty (or *dst is unset). */
static int set(char **dst, const char *src)
{
    if (*dst && (!src || !*src))
        return 0;
    char *d = strdup(src ? src : "");
    if (!d)
        return -1;
    free(*dst);
    *dst = d;
    return 0;
}

/* A parsed line, borrowing its strings from the JSON object. */
struct line {
    int op, phase;
    const char *address, *provider, *token, *cloud_id, *error;
    const char *cloud, *region, *zone, *itype, *gpu;
    int gpus, spot;
    bool verify;
    double hourly;
    json_int_t at;
};

static bool parse_line(json_t *o, struct line *ln)
{
    const char *op = NULL, *phase = NULL;
    memset(ln, 0, sizeof *ln);
    ln->cloud = ln->region = ln->zone = ln->itype = ln->gpu = "";
    ln->provider = ln->token = ln->cloud_id = ln->error = "";
    if (!o ||
        json_unpack(
            o,
            "{s:s, s:s, s:s, s?s, s?s, s?s, s?{s?s, s?s, s?s, s?s, s?s, s?i, s?b}, s?F, s?s, s?I}",
            "op", &op, "phase", &phase, "address", &ln->address, "provider", &ln->provider, "token",
            &ln->token, "cloud_id", &ln->cloud_id, "placement", "cloud", &ln->cloud, "region",
            &ln->region, "zone", &ln->zone, "instance_type", &ln->itype, "gpu", &ln->gpu, "gpus",
            &ln->gpus, "spot", &ln->spot, "hourly_usd", &ln->hourly, "error", &ln->error, "at",
            &ln->at) != 0)
        return false;
    json_t *verify = json_object_get(o, "verify"); /* absent in journals before it */
    if (verify && !json_is_boolean(verify))
        return false;
    ln->verify = json_is_true(verify);
    ln->op = name_index(op, op_names, 2);
    ln->phase = name_index(phase, phase_names, 3);
    return ln->op >= 0 && ln->phase >= 0 && *ln->address;
}

static struct journal_entry *find_entry(struct journal_replay *r, const struct line *ln)
{
    for (size_t i = r->nentries; i-- > 0;) {
        struct journal_entry *e = &r->entries[i];
        if ((int)e->op == ln->op && strcmp(e->address, ln->address) == 0 &&
            strcmp(e->token, ln->token) == 0)
            return e;
    }
    return NULL;
}

static int apply_line(struct journal_replay *r, const struct line *ln, size_t *cap)
{
    struct journal_entry *e = find_entry(r, ln);
    if (ln->phase == JOURNAL_INTENT) {
        if (r->nentries == *cap) {
            size_t ncap = *cap ? *cap * 2 : 16;
            struct journal_entry *ne = realloc(r->entries, ncap * sizeof *ne);
            if (!ne)
                return -1;
            r->entries = ne;
            *cap = ncap;
        }
        e = &r->entries[r->nentries++];
        memset(e, 0, sizeof *e);
        e->op = (enum journal_op)ln->op;
        e->at = (int64_t)ln->at;
        e->placement.gpus = ln->gpus;
        e->placement.spot = ln->spot;
        e->hourly_usd = ln->hourly;
    } else if (!e) {
        return -2;
    }
    e->phase = (enum journal_phase)ln->phase;
    e->verify |= ln->verify;
    if (set(&e->address, ln->address) || set(&e->provider, ln->provider) ||
        set(&e->token, ln->token) || set(&e->cloud_id, ln->cloud_id) || set(&e->error, ln->error) ||
        set(&e->placement.cloud, ln->cloud) || set(&e->placement.region, ln->region) ||
        set(&e->placement.zone, ln->zone) || set(&e->placement.instance_type, ln->itype) ||
        set(&e->placement.gpu, ln->gpu))
        return -1;
    return 0;
}

/* An override line: its record, checked as the state checks one. 0, -1 out of memory, or -3
 * with err set (a malformed record). */
static int read_override(struct journal_replay *r, json_t *v, size_t lineno, struct state_err *err)
{
    char path[48];
    snprintf(path, sizeof path, "line %zu: override", lineno);
    struct state_override *o = calloc(1, sizeof *o);
    if (!o)
        return -1;
    if (state_override_from_json(v, "the journal", path, o, err) != 0) {
        free(o);
        return -3;
    }
    if (r->override) { /* one per run: the last one stands */
        state_override_release(r->override);
        free(r->override);
    }
    r->override = o;
    return 0;
}

int journal_replay(const char *text, size_t len, const char *what, struct journal_replay *out,
                   struct state_err *err)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0, lineno = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        lineno++;
        if (!nl) {
            /* No newline: the one write() of this record was cut short by a crash, so the
             * append never returned and its call was never sent. */
            out->torn_tail = true;
            break;
        }
        struct line ln;
        json_t *o = json_loadb(p, (size_t)(stop - p), 0, NULL);
        bool is_override =
            !strcmp(or_empty(json_string_value(json_object_get(o, "op"))), "override");
        bool ok = is_override || parse_line(o, &ln);
        int rc = 0;
        if (is_override)
            rc = read_override(out, json_object_get(o, "override"), lineno, err);
        else if (ok)
            rc = apply_line(out, &ln, &cap);
        json_decref(o);
        if (rc == -3) {
            journal_replay_release(out);
            return -1;
        }
        if (!ok || rc != 0) {
            const char *why = !ok        ? "is not a journal record"
                              : rc == -2 ? "is an outcome with no intent before it"
                                         : "could not be read (out of memory)";
            journal_replay_release(out);
            return state_fail(err,
                              "journal '%s': line %zu %s; gpuform does not guess at a damaged "
                              "journal: compare it with the cloud's instances by hand",
                              what, lineno, why);
        }
        p = nl + 1;
    }
    return 0;
}
