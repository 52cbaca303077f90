/*
 * The state's `policy_overrides` list: who let a failing soft policy finding through, when
 * and why. Kept apart from state.c (which only calls in to read, write and free it) so the
 * node model and this audit trail change independently. docs/state.md, "policy_overrides".
 */
#include "executor/state_override.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- ownership ---- */

static void finding_release(struct state_override_finding *f)
{
    free(f->policy);
    free(f->level);
    free(f->message);
    free(f->address);
}

void state_override_release(struct state_override *o)
{
    free(o->at);
    free(o->who);
    free(o->who_source);
    free(o->reason);
    free(o->run_url);
    for (size_t i = 0; i < o->npolicies; i++)
        free(o->policies[i]);
    free(o->policies);
    for (size_t i = 0; i < o->nfindings; i++)
        finding_release(&o->findings[i]);
    free(o->findings);
    memset(o, 0, sizeof *o);
}

/* strdup of a possibly NULL string; *ok goes false when out of memory. */
static char *dup_opt(const char *s, bool *ok)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *ok = false;
    return d;
}

int state_override_add_finding(struct state_override *o, const struct state_override_finding *f)
{
    struct state_override_finding *n =
        realloc(o->findings, (o->nfindings + 1) * sizeof *o->findings);
    if (!n)
        return -1;
    o->findings = n;
    bool ok = true;
    struct state_override_finding c = {
        dup_opt(f->policy ? f->policy : "", &ok), dup_opt(f->level ? f->level : "", &ok),
        dup_opt(f->message ? f->message : "", &ok), dup_opt(f->address, &ok)};
    if (!ok) {
        finding_release(&c);
        return -1;
    }
    o->findings[o->nfindings++] = c;
    return 0;
}

bool state_override_copy(struct state_override *dst, const struct state_override *src)
{
    bool ok = true;
    memset(dst, 0, sizeof *dst);
    memcpy(dst->id, src->id, sizeof dst->id);
    dst->serial = src->serial;
    dst->at = dup_opt(src->at, &ok);
    dst->who = dup_opt(src->who, &ok);
    dst->who_source = dup_opt(src->who_source, &ok);
    dst->reason = dup_opt(src->reason, &ok);
    dst->run_url = dup_opt(src->run_url, &ok);
    dst->policies = src->npolicies ? calloc(src->npolicies, sizeof *dst->policies) : NULL;
    if (src->npolicies && !dst->policies)
        ok = false;
    for (size_t i = 0; ok && i < src->npolicies; i++) {
        dst->policies[i] = dup_opt(src->policies[i], &ok);
        dst->npolicies = i + 1;
    }
    for (size_t i = 0; ok && i < src->nfindings; i++)
        ok = state_override_add_finding(dst, &src->findings[i]) == 0;
    if (!ok)
        state_override_release(dst);
    return ok;
}

void state_overrides_free(struct state *st)
{
    for (size_t i = 0; i < st->noverrides; i++)
        state_override_release(&st->overrides[i]);
    free(st->overrides);
    st->overrides = NULL;
    st->noverrides = 0;
}

/* Appends `c` (taken: the state owns its strings from now on), dropping the oldest record
 * past the bound. -1 when out of memory: nothing is taken. */
static int append(struct state *st, const struct state_override *c)
{
    if (st->noverrides == STATE_OVERRIDES_MAX) {
        state_override_release(&st->overrides[0]);
        memmove(&st->overrides[0], &st->overrides[1], (st->noverrides - 1) * sizeof *st->overrides);
        st->noverrides--;
    } else {
        struct state_override *n =
            realloc(st->overrides, (st->noverrides + 1) * sizeof *st->overrides);
        if (!n)
            return -1;
        st->overrides = n;
    }
    st->overrides[st->noverrides++] = *c;
    return 0;
}

int state_override_record(struct state *st, const struct state_override *o, uint64_t serial)
{
    for (size_t i = 0; i < st->noverrides; i++)
        if (strcmp(st->overrides[i].id, o->id) == 0) {
            st->overrides[i].serial = serial;
            return 0;
        }
    struct state_override c;
    if (!state_override_copy(&c, o))
        return -1;
    c.serial = serial;
    if (append(st, &c) != 0) {
        state_override_release(&c);
        return -1;
    }
    return 0;
}

/* ---- JSON ---- */

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *state_override_to_json(const struct state_override *o)
{
    json_t *policies = json_array(), *findings = json_array();
    for (size_t i = 0; policies && i < o->npolicies; i++)
        json_array_append_new(policies, json_string(o->policies[i]));
    for (size_t i = 0; findings && i < o->nfindings; i++) {
        const struct state_override_finding *f = &o->findings[i];
        json_array_append_new(findings, json_pack("{s:s, s:s, s:s, s:o}", "policy", f->policy,
                                                  "level", f->level, "message", f->message,
                                                  "address", str_or_null(f->address)));
    }
    if (!policies || !findings) {
        json_decref(policies);
        json_decref(findings);
        return NULL;
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:I, s:o}", "id", o->id, "at",
                     o->at ? o->at : "", "who", o->who ? o->who : "", "who_source",
                     o->who_source ? o->who_source : "", "reason", o->reason ? o->reason : "",
                     "policies", policies, "findings", findings, "serial", (json_int_t)o->serial,
                     "run_url", str_or_null(o->run_url));
}

int state_overrides_write(const struct state *st, json_t *doc)
{
    if (st->noverrides == 0)
        return 0;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < st->noverrides; i++)
        if (json_array_append_new(arr, state_override_to_json(&st->overrides[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    return arr && json_object_set_new(doc, "policy_overrides", arr) == 0 ? 0 : -1;
}

/* Where a record is being read, for messages naming the field. */
struct rd {
    const char *what, *path;
    struct state_err *err;
};

static int bad(const struct rd *r, const char *field, const char *problem)
{
    return state_fail(r->err, "%s: %s.%s %s; restore the backup or fix the file", r->what, r->path,
                      field, problem);
}

/* A string member: required (non-empty unless `empty_ok`), or with `null_ok` absent/null
 * (then *out stays NULL). */
static int get_str(const struct rd *r, json_t *obj, const char *key, const char *field,
                   bool empty_ok, bool null_ok, char **out)
{
    json_t *v = json_object_get(obj, key);
    if (null_ok && (!v || json_is_null(v)))
        return 0;
    if (!v)
        return bad(r, field, "is missing");
    if (!json_is_string(v))
        return bad(r, field, null_ok ? "is not a string or null" : "is not a string");
    if (!empty_ok && json_string_length(v) == 0)
        return bad(r, field, "is empty");
    if (strlen(json_string_value(v)) != json_string_length(v))
        return bad(r, field, "holds a NUL character");
    *out = strdup(json_string_value(v));
    return *out ? 0 : state_fail(r->err, "out of memory reading %s", r->what);
}

/* "2026-11-21T18:02:11Z" */
static bool is_utc_time(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    if (strlen(s) != sizeof shape - 1)
        return false;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != shape[i])
            return false;
    return true;
}

static int read_finding(const struct rd *r, json_t *v, size_t k, struct state_override *o)
{
    char field[64];
    struct state_override_finding f = {0};
    int rc = -1;
    snprintf(field, sizeof field, "findings[%zu]", k);
    if (!json_is_object(v))
        return bad(r, field, "is not an object");
    char fp[4][80];
    static const char *const keys[] = {"policy", "level", "message", "address"};
    for (int i = 0; i < 4; i++)
        snprintf(fp[i], sizeof fp[i], "%s.%s", field, keys[i]);
    if (get_str(r, v, "policy", fp[0], false, false, &f.policy) ||
        get_str(r, v, "level", fp[1], false, false, &f.level) ||
        get_str(r, v, "message", fp[2], true, false, &f.message) ||
        get_str(r, v, "address", fp[3], true, true, &f.address))
        goto out;
    if (strcmp(f.level, "advisory") && strcmp(f.level, "soft") && strcmp(f.level, "hard")) {
        bad(r, fp[1], "is not advisory, soft or hard");
        goto out;
    }
    rc = state_override_add_finding(o, &f) == 0
             ? 0
             : state_fail(r->err, "out of memory reading %s", r->what);
out:
    finding_release(&f);
    return rc;
}

static int read_policies(const struct rd *r, json_t *arr, struct state_override *o)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > 64)
        return bad(r, "policies", "is missing or not a list of 1 to 64 names");
    o->policies = calloc(json_array_size(arr), sizeof *o->policies);
    if (!o->policies)
        return state_fail(r->err, "out of memory reading %s", r->what);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (!s || !*s)
            return bad(r, "policies", "holds something that is not a policy name");
        if (!(o->policies[o->npolicies++] = strdup(s)))
            return state_fail(r->err, "out of memory reading %s", r->what);
    }
    return 0;
}

int state_override_from_json(json_t *v, const char *what, const char *path,
                             struct state_override *out, struct state_err *err)
{
    struct rd r = {what, path, err};
    memset(out, 0, sizeof *out);
    if (!json_is_object(v))
        return state_fail(err, "%s: %s is not an object; restore the backup or fix the file", what,
                          path);
    char *id = NULL;
    json_t *serial = json_object_get(v, "serial"), *findings = json_object_get(v, "findings");
    int rc = -1;
    if (get_str(&r, v, "id", "id", false, false, &id))
        goto out;
    if (strlen(id) >= sizeof out->id) {
        bad(&r, "id", "is longer than a UUID");
        goto out;
    }
    memcpy(out->id, id, strlen(id) + 1);
    if (get_str(&r, v, "at", "at", false, false, &out->at))
        goto out;
    if (!is_utc_time(out->at)) {
        bad(&r, "at", "is not a UTC time like 2026-11-21T18:02:11Z");
        goto out;
    }
    if (get_str(&r, v, "who", "who", false, false, &out->who) ||
        get_str(&r, v, "who_source", "who_source", false, false, &out->who_source) ||
        get_str(&r, v, "reason", "reason", false, false, &out->reason) ||
        read_policies(&r, json_object_get(v, "policies"), out))
        goto out;
    if (!json_is_array(findings)) {
        bad(&r, "findings", "is missing or not a list");
        goto out;
    }
    for (size_t k = 0; k < json_array_size(findings); k++)
        if (read_finding(&r, json_array_get(findings, k), k, out) != 0)
            goto out;
    if (!json_is_integer(serial) || json_integer_value(serial) < 0) {
        bad(&r, "serial", serial ? "is not a serial (an integer, 0 or more)" : "is missing");
        goto out;
    }
    out->serial = (uint64_t)json_integer_value(serial);
    if (get_str(&r, v, "run_url", "run_url", false, true, &out->run_url))
        goto out;
    rc = 0;
out:
    free(id);
    if (rc != 0)
        state_override_release(out);
    return rc;
}

int state_overrides_read(json_t *arr, const char *what, struct state *st, struct state_err *err)
{
    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return state_fail(err,
                          "state '%s': policy_overrides is not a list; restore the backup or "
                          "fix the file",
                          what);
    char subject[300];
    snprintf(subject, sizeof subject, "state '%.280s'", what);
    size_t n = json_array_size(arr);
    for (size_t i = n > STATE_OVERRIDES_MAX ? n - STATE_OVERRIDES_MAX : 0; i < n; i++) {
        char path[48];
        snprintf(path, sizeof path, "policy_overrides[%zu]", i);
        struct state_override o;
        if (state_override_from_json(json_array_get(arr, i), subject, path, &o, err) != 0)
            return -1;
        if (append(st, &o) != 0) {
            state_override_release(&o);
            return state_fail(err, "out of memory reading state '%s'", what);
        }
    }
    return 0;
}
