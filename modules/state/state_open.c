/*
 * The one place that turns a spec's `state:` block into a backend: the local file, etcd or
 * S3, with the credentials each finds in the environment (never in the spec). Every
 * command that reads or writes a state opens it here.
 */
#include "modules/state/state_backends.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "modules/aws/credentials.h"

static const char *env(state_getenv_fn fn, void *ctx, const char *name)
{
    const char *v = fn ? fn(name, ctx) : getenv(name);
    return v && *v ? v : NULL;
}

static struct state_backend *open_etcd(const struct spec *spec, state_getenv_fn fn, void *ctx,
                                       struct state_err *err)
{
    /* etcdctl's variables, so a team's existing setup works: ETCDCTL_USER is "name" or
     * "name:password" */
    const char *userv = env(fn, ctx, "ETCDCTL_USER");
    const char *password = env(fn, ctx, "ETCDCTL_PASSWORD");
    char user[256] = "";
    char *pw_copy = NULL;
    if (userv) {
        const char *colon = strchr(userv, ':');
        snprintf(user, sizeof user, "%.*s", colon ? (int)(colon - userv) : (int)strlen(userv),
                 userv);
        if (colon && !password)
            password = pw_copy = strdup(colon + 1);
        if (colon && !pw_copy && !password) {
            state_fail(err, "out of memory");
            return NULL;
        }
    }
    if (password && !userv) {
        state_fail(err, "ETCDCTL_PASSWORD is set without ETCDCTL_USER; set both (or neither)");
        return NULL;
    }
    struct state_etcd_config cfg = {.endpoints = spec->state_endpoints,
                                    .nendpoints = spec->nstate_endpoints,
                                    .prefix = spec->state_prefix,
                                    .stack = spec->stack,
                                    .lock_ttl = spec->state_lock_ttl,
                                    .user = userv ? user : NULL,
                                    .password = password,
                                    .ca_file = env(fn, ctx, "ETCDCTL_CACERT"),
                                    .cert_file = env(fn, ctx, "ETCDCTL_CERT"),
                                    .key_file = env(fn, ctx, "ETCDCTL_KEY")};
    if (!cfg.cert_file != !cfg.key_file) {
        free(pw_copy);
        state_fail(err, "ETCDCTL_CERT and ETCDCTL_KEY go together: set both for a client "
                        "certificate, or neither");
        return NULL;
    }
    struct state_backend *b = state_etcd_open(&cfg, err);
    if (pw_copy) {
        memset(pw_copy, 0, strlen(pw_copy));
        free(pw_copy);
    }
    return b;
}

/* aws_credentials' environment reader over ours. */
struct env_shim {
    state_getenv_fn fn;
    void *ctx;
};

static const char *shim_getenv(const char *name, void *ctx)
{
    struct env_shim *s = ctx;
    return s->fn ? s->fn(name, s->ctx) : getenv(name);
}

static struct state_backend *open_s3(const struct spec *spec, state_getenv_fn fn, void *ctx,
                                     struct state_err *err)
{
    struct env_shim shim = {fn, ctx};
    char region[64] = "";
    if (spec->state_region)
        snprintf(region, sizeof region, "%s", spec->state_region);
    else
        aws_default_region(NULL, shim_getenv, &shim, region, sizeof region);
    if (!*region) {
        state_fail(err, "the s3 backend needs the bucket's region: set state.region in the "
                        "spec, or AWS_REGION");
        return NULL;
    }
    struct aws_credentials cred;
    char why[512];
    if (aws_credentials_load(NULL, shim_getenv, &shim, &cred, why, sizeof why) != 0) {
        state_fail(err, "s3 state backend: %s", why);
        return NULL;
    }
    struct state_s3_config cfg = {.bucket = spec->state_bucket,
                                  .key = spec->state_key,
                                  .region = region,
                                  .endpoint = spec->state_endpoint,
                                  .lock_ttl = spec->state_lock_ttl,
                                  .access_key_id = cred.access_key_id,
                                  .secret_access_key = cred.secret_access_key,
                                  .session_token = cred.session_token};
    struct state_backend *b = state_s3_open(&cfg, err);
    aws_credentials_release(&cred);
    return b;
}

struct state_backend *state_backend_open_unchecked(const struct spec *spec,
                                                   state_getenv_fn getenv_fn, void *getenv_ctx,
                                                   struct state_err *err)
{
    switch (spec->state_backend) {
    case SPEC_BACKEND_ETCD:
        return open_etcd(spec, getenv_fn, getenv_ctx, err);
    case SPEC_BACKEND_S3:
        return open_s3(spec, getenv_fn, getenv_ctx, err);
    case SPEC_BACKEND_FILE:
        break;
    }
    if (!spec->state_file) {
        state_fail(err, "the stack has no state file to record what it creates");
        return NULL;
    }
    return state_local_open(spec->state_file, err);
}

/* ---- the backend marker ---- */

char *state_backend_identity(const struct spec *spec)
{
    char *id = NULL;
    int n = -1;
    if (spec->state_backend == SPEC_BACKEND_ETCD) {
        struct core_buf eps;
        core_buf_init(&eps, 1u << 16);
        for (size_t i = 0; i < spec->nstate_endpoints; i++)
            core_buf_addf(&eps, "%s%s", i ? "," : "", spec->state_endpoints[i]);
        n = asprintf(&id, "etcd %s%s/ at %s", spec->state_prefix, spec->stack,
                     eps.data ? eps.data : "");
        core_buf_release(&eps);
    } else if (spec->state_backend == SPEC_BACKEND_S3) {
        n = asprintf(&id, "s3 s3://%s/%s", spec->state_bucket, spec->state_key);
    } else {
        n = asprintf(&id, "file %s", spec->state_file ? spec->state_file : "");
    }
    return n < 0 ? NULL : id;
}

static char *marker_path(const struct spec *spec)
{
    char *p = NULL;
    return asprintf(&p, "%s/.gpuform/backend.json", spec->dir ? spec->dir : ".") < 0 ? NULL : p;
}

/* The marker's JSON, or NULL when there is none (or it can't be read: *bad set). */
static json_t *marker_load(const struct spec *spec, bool *bad)
{
    *bad = false;
    char *path = marker_path(spec);
    /* one open: "absent" is ENOENT on it, never a second look that another run's rename
     * could answer differently (16 runs marking a new stack at once) */
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f && (!path || errno != ENOENT))
        *bad = true;
    json_error_t je;
    json_t *m = f ? json_loadf(f, 0, &je) : NULL;
    if (f && !m)
        *bad = true;
    if (f)
        fclose(f);
    free(path);
    if (m && !json_is_string(json_object_get(m, "identity"))) {
        json_decref(m);
        *bad = true;
        return NULL;
    }
    return m;
}

int state_backend_mark(const struct spec *spec, struct state_err *err)
{
    char *id = state_backend_identity(spec), *path = marker_path(spec), *dir = NULL;
    static const char *const names[] = {"file", "etcd", "s3"};
    json_t *m = id ? json_pack("{s:s, s:s, s:s}", "backend", names[spec->state_backend], "identity",
                               id, "stack", spec->stack)
                   : NULL;
    int rc = -1;
    if (!m || !path || asprintf(&dir, "%s/.gpuform", spec->dir ? spec->dir : ".") < 0) {
        state_fail(err, "out of memory");
        goto out;
    }
    json_t *eps = json_array();
    for (size_t i = 0; i < spec->nstate_endpoints; i++)
        json_array_append_new(eps, json_string(spec->state_endpoints[i]));
    json_object_set_new(m, "endpoints", eps);
    if (spec->state_prefix)
        json_object_set_new(m, "prefix", json_string(spec->state_prefix));
    if (spec->state_file && spec->state_backend == SPEC_BACKEND_FILE)
        json_object_set_new(m, "path", json_string(spec->state_file));
    if (spec->state_bucket)
        json_object_set_new(m, "bucket", json_string(spec->state_bucket));
    if (spec->state_key)
        json_object_set_new(m, "key", json_string(spec->state_key));
    if (spec->state_region)
        json_object_set_new(m, "region", json_string(spec->state_region));
    if (spec->state_endpoint)
        json_object_set_new(m, "endpoint", json_string(spec->state_endpoint));
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        state_fail(err, "cannot make '%s': %s", dir, strerror(errno));
        goto out;
    }
    char *text = json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    int e = text ? core_write_atomic(path, text, strlen(text), 0600) : ENOMEM;
    free(text);
    if (e) {
        state_fail(err, "cannot write the backend marker '%s': %s", path, strerror(e));
        goto out;
    }
    rc = 0;
out:
    json_decref(m);
    free(id);
    free(path);
    free(dir);
    return rc;
}

/* Whether STACK/.gpuform/state.json holds a state with nodes (a local state to migrate). */
static bool local_state_with_nodes(const struct spec *spec)
{
    char *p = NULL;
    if (asprintf(&p, "%s/.gpuform/state.json", spec->dir ? spec->dir : ".") < 0)
        return false;
    /* absent is "no"; present but unreadable is "yes": never guess a state away */
    bool exists = access(p, F_OK) == 0;
    json_t *st = exists ? json_load_file(p, 0, NULL) : NULL;
    free(p);
    bool yes = exists && (!st || json_array_size(json_object_get(st, "nodes")) > 0);
    json_decref(st);
    return yes;
}

struct state_backend *state_backend_open(const struct spec *spec, state_getenv_fn getenv_fn,
                                         void *getenv_ctx, struct state_err *err)
{
    bool bad = false;
    json_t *m = marker_load(spec, &bad);
    char *id = state_backend_identity(spec);
    if (!id) {
        json_decref(m);
        state_fail(err, "out of memory");
        return NULL;
    }
    const char *was = json_string_value(json_object_get(m, "identity"));
    int rc = 0;
    if (bad) {
        rc = state_fail(err,
                        "the backend marker '%s/.gpuform/backend.json' is damaged; run "
                        "'gpuform init' to record the spec's backend again",
                        spec->dir ? spec->dir : ".");
    } else if (was && strcmp(was, id) != 0) {
        rc = state_fail(err,
                        "the stack's state was last on %s, and the spec now says %s: run "
                        "'gpuform init --migrate-state' to move it (or 'gpuform init "
                        "--reconfigure' to start from what the new backend holds)",
                        was, id);
    } else if (!m && spec->state_backend != SPEC_BACKEND_FILE) {
        if (local_state_with_nodes(spec))
            rc = state_fail(err,
                            "the stack has a local state with nodes in '%s/.gpuform/state.json' "
                            "and the spec now keeps it on %s: run 'gpuform init "
                            "--migrate-state' to move it there",
                            spec->dir ? spec->dir : ".", id);
        else
            rc = state_backend_mark(spec, err);
    }
    free(id);
    json_decref(m);
    return rc == 0 ? state_backend_open_unchecked(spec, getenv_fn, getenv_ctx, err) : NULL;
}

int state_backend_open_marked(const struct spec *spec, struct state_backend **out,
                              struct state_err *err)
{
    *out = NULL;
    bool bad = false;
    json_t *m = marker_load(spec, &bad);
    if (bad)
        return state_fail(err, "the backend marker '%s/.gpuform/backend.json' is damaged",
                          spec->dir ? spec->dir : ".");
    if (!m)
        return 0;
    /* a spec that differs only in its state block */
    struct spec old = *spec;
    const char *backend = json_string_value(json_object_get(m, "backend"));
    old.state_backend = backend && !strcmp(backend, "etcd") ? SPEC_BACKEND_ETCD
                        : backend && !strcmp(backend, "s3") ? SPEC_BACKEND_S3
                                                            : SPEC_BACKEND_FILE;
    old.state_file = json_string_value(json_object_get(m, "path"));
    old.state_prefix = json_string_value(json_object_get(m, "prefix"));
    old.state_bucket = json_string_value(json_object_get(m, "bucket"));
    old.state_key = json_string_value(json_object_get(m, "key"));
    old.state_region = json_string_value(json_object_get(m, "region"));
    old.state_endpoint = json_string_value(json_object_get(m, "endpoint"));
    json_t *eps = json_object_get(m, "endpoints");
    const char *list[16];
    old.nstate_endpoints = 0;
    for (size_t i = 0; i < json_array_size(eps) && i < 16; i++)
        if (json_is_string(json_array_get(eps, i)))
            list[old.nstate_endpoints++] = json_string_value(json_array_get(eps, i));
    old.state_endpoints = list;
    *out = state_backend_open_unchecked(&old, NULL, NULL, err);
    json_decref(m); /* the backends copy what they keep */
    return *out ? 0 : -1;
}
