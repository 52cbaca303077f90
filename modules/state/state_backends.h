/*
 * The shared state backends (etcd, S3) and the one place that picks a backend from the
 * spec's `state:` block. Each backend is the executor's state_backend vtable
 * (executor/backend.h) over the HTTP client (core/http.h); what they store and how they
 * lock and fence is in docs/state.md.
 */
#ifndef GPUFORM_MODULES_STATE_BACKENDS_H
#define GPUFORM_MODULES_STATE_BACKENDS_H

#include <stddef.h>

#include "core/http.h"
#include "executor/backend.h"
#include "parser/spec.h"

/* Reads a variable of the environment; tests pass their own. NULL means getenv(). */
typedef const char *(*state_getenv_fn)(const char *name, void *ctx);

/*
 * Opens the backend the spec's `state:` block names: the local file, etcd (endpoints,
 * prefix; credentials from ETCDCTL_USER/ETCDCTL_PASSWORD, TLS files from ETCDCTL_CACERT,
 * ETCDCTL_CERT, ETCDCTL_KEY) or S3 (bucket, key, region, endpoint; credentials as the AWS
 * CLI finds them). Connects to nothing yet. Returns the handle (close it with
 * b->ops->close), or NULL with err saying what is missing or wrong.
 */
struct state_backend *state_backend_open(const struct spec *spec, state_getenv_fn getenv_fn,
                                         void *getenv_ctx, struct state_err *err);

/*
 * The backend marker, STACK/.gpuform/backend.json: which backend the stack's state was last
 * on ("etcd gpuform/prod/ at https://e1:2379", "s3 s3://b/k", "file PATH"), so that a
 * changed `state:` block is never taken for an empty state. state_backend_open refuses a
 * spec whose backend differs from the marker, or a shared backend while a local state with
 * nodes sits in .gpuform/ and no marker says it moved (`gpuform init --migrate-state`
 * moves it); with a shared backend and nothing to migrate it writes the marker itself.
 */

/* The backend's identity as the marker records it, malloc'd; NULL when out of memory. */
char *state_backend_identity(const struct spec *spec);

/*
 * Opens the backend the marker names (for `init --migrate-state`), for `spec`'s stack: 0
 * with *out, or with *out NULL when there is no marker; -1 with err set.
 */
int state_backend_open_marked(const struct spec *spec, struct state_backend **out,
                              struct state_err *err);

/* Opens the spec's backend without the marker check (for `init`). */
struct state_backend *state_backend_open_unchecked(const struct spec *spec,
                                                   state_getenv_fn getenv_fn, void *getenv_ctx,
                                                   struct state_err *err);

/* Records the spec's backend in the marker (atomically). 0 or -1 with err. */
int state_backend_mark(const struct spec *spec, struct state_err *err);

/* ---- etcd v3, through its JSON gateway ---- */

struct state_etcd_config {
    const char *const *endpoints; /* "https://etcd-1:2379", ...; at least one */
    size_t nendpoints;
    const char *prefix; /* "gpuform/" */
    const char *stack;  /* the keys are PREFIX STACK/state, /state.backup, /lock, /journal/ */
    double lock_ttl;    /* lease TTL in seconds; 0: 15 */
    const char *user;   /* NULL: no authentication */
    const char *password;
    const char *ca_file, *cert_file, *key_file; /* TLS files, NULL: none */
    /* Transport, clock and retry settings for the HTTP client (tests pass a fake
     * transport); NULL: the defaults. The TLS fields above override its own. */
    const struct core_http_options *http;
};

/* The etcd backend; NULL with err set when out of memory or the config is incomplete. */
struct state_backend *state_etcd_open(const struct state_etcd_config *cfg, struct state_err *err);

/* ---- S3 (and S3-compatible servers) ---- */

struct state_s3_config {
    const char *bucket;
    const char *key;      /* the state object: "gpu/prod.json" */
    const char *region;   /* "us-east-1" */
    const char *endpoint; /* NULL: https://BUCKET.s3.REGION.amazonaws.com; else path-style */
    double lock_ttl;      /* lock object expiry in seconds; 0: 60 */
    const char *access_key_id, *secret_access_key, *session_token;
    const struct core_http_options *http; /* as for etcd */
};

/* The S3 backend; NULL with err set when out of memory or the config is incomplete. */
struct state_backend *state_s3_open(const struct state_s3_config *cfg, struct state_err *err);

#endif
