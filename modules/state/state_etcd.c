/*
 * The etcd state backend, over etcd v3's JSON gateway (/v3/kv/..., /v3/lease/...): the
 * state is one key per stack, written in a transaction that compares the key's mod
 * revision (no lost update) and the lock key's create revision (the fence); the lock is a
 * key bound to a lease that a thread keeps alive, so a run that dies frees it when the
 * lease expires. Journal records are one key each.
 */
#include "modules/state/state_backends.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "modules/state/state_int.h"

/* A state or journal value bigger than this is refused (etcd's default request limit is
 * 1.5 MiB). */
#define ETCD_MAX_VALUE (1u << 20)

struct etcd {
    struct state_backend base;
    struct core_http_client *http;
    char **endpoints;
    size_t nendpoints;
    char *k_state, *k_backup, *k_lock, *k_journal; /* full keys; k_journal ends in '/' */
    char *where, *backup_where;
    char *user, *password; /* password and token are wiped when freed */
    double ttl;
    pthread_mutex_t mu; /* token, cur */
    char *token;
    size_t cur; /* the endpoint that answered last */
    /* the document: what this handle read or last wrote */
    bool read_done;
    int64_t mod_rev; /* of the state key; 0 when absent */
    char *doc;       /* its bytes (for the backup and the disambiguation of retries) */
    size_t doc_len;
    /* the lock */
    bool locked;
    int64_t lease, lock_rev; /* lock_rev: the lock key's create revision, the fencing token */
    atomic_bool lost;
    pthread_t keeper;
    bool keeper_on;
    bool keeper_stop;
    pthread_cond_t cv;
    unsigned journal_seq;
};

/* ---- small helpers ---- */

/* 0..1 from the clock's nanoseconds: enough to keep waiting runs from polling in step. */
static double jitter(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)(ts.tv_nsec % 1000) / 1000.0;
}

static char *b64(const void *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

/* Decodes base64 into a malloc'd, NUL-terminated buffer; NULL when it is not base64. */
static char *unb64(const char *in, size_t *len)
{
    size_t n = strlen(in);
    if (n % 4 != 0)
        return NULL;
    char *out = malloc(n / 4 * 3 + 1);
    if (!out)
        return NULL;
    int m = n ? EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)in, (int)n) : 0;
    if (m < 0) {
        free(out);
        return NULL;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes */
    if (n >= 1 && in[n - 1] == '=')
        m--;
    if (n >= 2 && in[n - 2] == '=')
        m--;
    out[m] = '\0';
    *len = (size_t)m;
    return out;
}

/* The gateway writes int64 fields as strings ("812"); absent means 0. */
static int64_t jint(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    return 0;
}

static json_t *jkey(const char *key)
{
    char *k = b64(key, strlen(key));
    json_t *v = k ? json_string(k) : NULL;
    free(k);
    return v;
}

/* The key just after every key that starts with `prefix`: etcd's range_end for a prefix. */
static json_t *jprefix_end(const char *prefix)
{
    size_t n = strlen(prefix);
    char *end = strdup(prefix);
    if (!end || n == 0) {
        free(end);
        return NULL;
    }
    end[n - 1]++; /* prefixes end in '/', so no carry */
    json_t *v = jkey(end);
    free(end);
    return v;
}

/* The first kv of a range reply, or NULL. */
static json_t *first_kv(json_t *range)
{
    return json_array_get(json_object_get(range, "kvs"), 0);
}

/* A kv's value, decoded; NULL when absent or not base64 (*bad set then). */
static char *kv_value(const json_t *kv, size_t *len, bool *bad)
{
    const char *v = json_string_value(json_object_get(kv, "value"));
    *bad = false;
    *len = 0;
    if (!v)
        return strdup("");
    char *out = unb64(v, len);
    if (!out)
        *bad = true;
    return out;
}

/* ---- calls ---- */

static int authenticate(struct etcd *e, const char *endpoint, struct state_err *err);

/* Whether a gateway error is worth another endpoint: the cluster is electing a leader, the
 * member is stopping or cut off. */
static bool unavailable(long status, const json_t *body)
{
    const char *msg = json_string_value(json_object_get(body, "error"));
    int64_t code = jint(body, "code");
    return status == 502 || status == 503 || status == 504 || code == 14 ||
           (msg && (strstr(msg, "leader") || strstr(msg, "timed out") || strstr(msg, "stopped") ||
                    strstr(msg, "unhealthy")));
}

/*
 * POSTs `body` (stolen) to `path` on the cluster: the endpoint that answered last first,
 * then the others, for about 20 s while the cluster is unreachable or has no leader.
 * Returns 0 with *reply (the caller decrefs), or -1 with err naming the endpoint and
 * etcd's message. An expired auth token is renewed once.
 */
static int call(struct etcd *e, const char *path, json_t *body, json_t **reply,
                struct state_err *err)
{
    *reply = NULL;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return state_fail(err, "out of memory talking to etcd");
    double deadline = state_mono_now() + 20;
    bool reauthed = false;
    int rc = -1;
    char last[1024] = "no endpoint answered";
    for (unsigned attempt = 0;; attempt++) {
        pthread_mutex_lock(&e->mu);
        size_t idx = (e->cur + attempt) % e->nendpoints;
        char *auth = NULL;
        if (e->token && asprintf(&auth, "Authorization: %s", e->token) < 0)
            auth = NULL;
        pthread_mutex_unlock(&e->mu);
        const char *ep = e->endpoints[idx];
        char url[1024];
        snprintf(url, sizeof url, "%s%s", ep, path);
        const char *headers[] = {"Content-Type: application/json", auth, NULL};
        struct core_http_request rq = {.method = "POST",
                                       .url = url,
                                       .headers = headers,
                                       .body = text,
                                       .body_len = strlen(text),
                                       .idempotent = true,
                                       .max_attempts = 2,
                                       .timeout_ms = 10000,
                                       .connect_timeout_ms = 3000};
        struct core_http_response rs;
        struct core_http_error he;
        int hrc = core_http_do(e->http, &rq, &rs, &he);
        state_wipe_free(auth);
        json_t *j = rs.body.len ? json_loadb(rs.body.data, rs.body.len, 0, NULL) : NULL;
        bool retry = false;
        if (hrc == 0 && json_is_object(j)) {
            pthread_mutex_lock(&e->mu);
            e->cur = idx;
            pthread_mutex_unlock(&e->mu);
            *reply = j;
            j = NULL;
            rc = 0;
        } else if (hrc == 0 || (he.cls == CORE_HTTP_ERR_STATUS && rs.body.len)) {
            snprintf(last, sizeof last, "etcd at %s answered %s with %s: %.200s", ep, path,
                     hrc == 0 ? "something that is not JSON" : "an error",
                     rs.body.data ? rs.body.data : "");
        } else if (he.cls == CORE_HTTP_ERR_STATUS && json_is_object(j)) {
            const char *msg = json_string_value(json_object_get(j, "error"));
            snprintf(last, sizeof last, "etcd at %s: %s (%s)", ep, msg ? msg : "an error", path);
            if (!reauthed && e->user && msg &&
                (strstr(msg, "invalid auth token") || strstr(msg, "auth token"))) {
                reauthed = true;
                retry = authenticate(e, ep, err) == 0;
                if (!retry)
                    snprintf(last, sizeof last, "%.1000s", err->msg);
            } else {
                retry = unavailable(rs.status, j);
            }
        } else {
            snprintf(last, sizeof last, "%.1000s", he.message);
            retry = he.cls != CORE_HTTP_ERR_TLS && he.cls != CORE_HTTP_ERR_INTERNAL &&
                    he.cls != CORE_HTTP_ERR_TOO_LARGE;
        }
        json_decref(j);
        core_http_response_release(&rs);
        if (rc == 0 || !retry || state_mono_now() > deadline)
            break;
        if ((attempt + 1) % e->nendpoints == 0)
            state_sleep_s(0.2 + 0.1 * (attempt / e->nendpoints)); /* every endpoint tried: wait */
    }
    free(text);
    if (rc != 0)
        state_fail(err, "%s", last);
    return rc;
}

static int authenticate(struct etcd *e, const char *endpoint, struct state_err *err)
{
    json_t *body =
        json_pack("{s:s, s:s}", "name", e->user, "password", e->password ? e->password : "");
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return state_fail(err, "out of memory talking to etcd");
    char url[1024];
    snprintf(url, sizeof url, "%s/v3/auth/authenticate", endpoint);
    const char *headers[] = {"Content-Type: application/json", NULL};
    struct core_http_request rq = {
        .method = "POST", .url = url, .headers = headers, .body = text, .body_len = strlen(text)};
    struct core_http_response rs;
    struct core_http_error he;
    int rc = core_http_do(e->http, &rq, &rs, &he);
    state_wipe_free(text);
    json_t *j = rs.body.len ? json_loadb(rs.body.data, rs.body.len, 0, NULL) : NULL;
    const char *tok = json_string_value(json_object_get(j, "token"));
    if (rc == 0 && tok && *tok) {
        core_http_add_secret(e->http, tok);
        pthread_mutex_lock(&e->mu);
        state_wipe_free(e->token);
        e->token = strdup(tok);
        pthread_mutex_unlock(&e->mu);
        rc = e->token ? 0 : state_fail(err, "out of memory");
    } else {
        const char *msg = json_string_value(json_object_get(j, "error"));
        char plain[240] = "";
        if (!msg && rs.body.len) /* the gateway answers some refusals in plain text */
            snprintf(plain, sizeof plain, "%.*s", (int)strcspn(rs.body.data, "\r\n"), rs.body.data);
        rc = state_fail(err,
                        "etcd at %s refused user '%s': %s; check ETCDCTL_USER and "
                        "ETCDCTL_PASSWORD (and that a client certificate, if any, has no Common "
                        "Name: etcd's JSON gateway refuses those when auth is on)",
                        endpoint, e->user,
                        msg      ? msg
                        : *plain ? plain
                                 : he.message);
    }
    json_decref(j);
    core_http_response_release(&rs);
    return rc;
}

/* Logs in once, before the first call, when a user is configured. */
static int ensure_auth(struct etcd *e, struct state_err *err)
{
    pthread_mutex_lock(&e->mu);
    bool have = e->token != NULL || !e->user;
    pthread_mutex_unlock(&e->mu);
    if (have)
        return 0;
    int rc = -1;
    for (size_t i = 0; i < e->nendpoints && rc != 0; i++)
        rc = authenticate(e, e->endpoints[(e->cur + i) % e->nendpoints], err);
    return rc;
}

static int range(struct etcd *e, const char *key, int64_t revision, json_t **reply,
                 struct state_err *err)
{
    json_t *body = json_pack("{s:o}", "key", jkey(key));
    if (body && revision > 0)
        json_object_set_new(body, "revision", json_integer(revision));
    return ensure_auth(e, err) != 0 ? -1 : call(e, "/v3/kv/range", body, reply, err);
}

static json_t *cmp(const char *key, const char *target, int64_t value)
{
    const char *field = !strcmp(target, "MOD") ? "mod_revision" : "create_revision";
    return json_pack("{s:o, s:s, s:s, s:I}", "key", jkey(key), "target", target, "result", "EQUAL",
                     field, (json_int_t)value);
}

static json_t *op_put(const char *key, const char *val, size_t len, int64_t lease)
{
    char *v = b64(val, len);
    json_t *put = v ? json_pack("{s:o, s:s}", "key", jkey(key), "value", v) : NULL;
    free(v);
    if (put && lease)
        json_object_set_new(put, "lease", json_integer(lease));
    return put ? json_pack("{s:o}", "request_put", put) : NULL;
}

static json_t *op_range(const char *key)
{
    return json_pack("{s:{s:o}}", "request_range", "key", jkey(key));
}

/* Runs a transaction (the three arrays are stolen). 0 with *ok and *reply. */
static int txn(struct etcd *e, json_t *compare, json_t *success, json_t *failure, bool *ok,
               json_t **reply, struct state_err *err)
{
    json_t *body =
        json_pack("{s:o, s:o, s:o}", "compare", compare, "success", success, "failure", failure);
    if (!body)
        return state_fail(err, "out of memory talking to etcd");
    if (ensure_auth(e, err) != 0) {
        json_decref(body);
        return -1;
    }
    if (call(e, "/v3/kv/txn", body, reply, err) != 0)
        return -1;
    *ok = json_is_true(json_object_get(*reply, "succeeded"));
    return 0;
}

/* The range reply a failed transaction's failure op number i gave. */
static json_t *failure_range(json_t *reply, size_t i)
{
    return json_object_get(json_array_get(json_object_get(reply, "responses"), i),
                           "response_range");
}

/* The compare list for a write: the fence when this handle holds the lock. */
static json_t *fenced(struct etcd *e)
{
    json_t *c = json_array();
    if (c && e->locked)
        json_array_append_new(c, cmp(e->k_lock, "CREATE", e->lock_rev));
    return c;
}

/* Says how this handle lost the lock, from the lock key's range reply. */
static int lost_lock(struct etcd *e, json_t *lock_range, struct state_err *err)
{
    json_t *kv = first_kv(lock_range);
    struct state_lock_info who;
    char desc[512] = "";
    size_t len;
    bool bad;
    char *v = kv ? kv_value(kv, &len, &bad) : NULL;
    if (v && state_lock_info_parse(v, len, &who, NULL))
        state_lock_info_describe(&who, desc, sizeof desc);
    free(v);
    atomic_store(&e->lost, true);
    return state_fail(err,
                      "lost the lock on etcd key '%s': its lease expired%s%s (this run could not "
                      "renew it in time); nothing was written (fenced: lock revision %lld); "
                      "re-run to settle what this run left in the journal",
                      e->k_lock, *desc ? " and it is now held by " : "", desc,
                      (long long)e->lock_rev);
}

/* ---- read / write ---- */

static int etcd_read(struct state_backend *b, char **text, size_t *len, struct state_err *err)
{
    struct etcd *e = (struct etcd *)b;
    *text = NULL;
    *len = 0;
    json_t *r;
    if (range(e, e->k_state, 0, &r, err) != 0)
        return -1;
    json_t *kv = first_kv(r);
    int rc = 0;
    free(e->doc);
    e->doc = NULL;
    e->doc_len = 0;
    e->mod_rev = kv ? jint(kv, "mod_revision") : 0;
    if (kv) {
        bool bad;
        e->doc = kv_value(kv, &e->doc_len, &bad);
        if (!e->doc)
            rc = state_fail(err,
                            bad ? "etcd key '%s' holds a value that is not base64"
                                : "out of memory reading etcd key '%s'",
                            e->k_state);
    }
    if (rc == 0 && e->doc) {
        *text = malloc(e->doc_len + 1);
        if (!*text)
            rc = state_fail(err, "out of memory reading etcd key '%s'", e->k_state);
        else {
            memcpy(*text, e->doc, e->doc_len + 1);
            *len = e->doc_len;
        }
    }
    e->read_done = rc == 0;
    json_decref(r);
    return rc;
}

static int keep_doc(struct etcd *e, const char *text, size_t len, int64_t mod_rev)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, text, len);
    copy[len] = '\0';
    free(e->doc);
    e->doc = copy;
    e->doc_len = len;
    e->mod_rev = mod_rev;
    e->read_done = true;
    return 0;
}

static int etcd_write(struct state_backend *b, const char *text, size_t len, struct state_err *err)
{
    struct etcd *e = (struct etcd *)b;
    if (len > ETCD_MAX_VALUE)
        return state_fail(err, "the state is %zu bytes, over the %u KiB etcd backend limit", len,
                          ETCD_MAX_VALUE >> 10);
    if (e->locked && atomic_load(&e->lost))
        return state_fail(err,
                          "lost the lock on etcd key '%s' (its lease could not be renewed); "
                          "nothing was written; re-run to settle what this run left",
                          e->k_lock);
    json_t *compare = fenced(e);
    json_array_append_new(compare, cmp(e->k_state, "MOD", e->read_done ? e->mod_rev : 0));
    json_t *success = json_array();
    json_array_append_new(success, op_put(e->k_state, text, len, 0));
    if (e->doc)
        json_array_append_new(success, op_put(e->k_backup, e->doc, e->doc_len, 0));
    json_t *failure = json_array();
    json_array_append_new(failure, op_range(e->k_state));
    json_array_append_new(failure, op_range(e->k_lock));
    bool ok = false;
    json_t *r;
    if (txn(e, compare, success, failure, &ok, &r, err) != 0)
        return -1;
    int rc = 0;
    if (ok) {
        if (keep_doc(e, text, len, jint(json_object_get(r, "header"), "revision")) != 0)
            rc = state_fail(err, "out of memory");
        json_decref(r);
        return rc;
    }
    json_t *kv = first_kv(failure_range(r, 0));
    size_t have_len = 0;
    bool bad = false;
    char *have = kv ? kv_value(kv, &have_len, &bad) : NULL;
    json_t *lock_kv = first_kv(failure_range(r, 1));
    if (have && have_len == len && memcmp(have, text, len) == 0) {
        /* an earlier attempt of this very write landed and its reply was lost */
        rc = keep_doc(e, text, len, jint(kv, "mod_revision")) == 0
                 ? 0
                 : state_fail(err, "out of memory");
    } else if (e->locked && (!lock_kv || jint(lock_kv, "create_revision") != e->lock_rev)) {
        rc = lost_lock(e, failure_range(r, 1), err);
    } else if (!e->read_done && kv) {
        rc = state_fail(err,
                        "refusing to write etcd key '%s': the state there was not read first "
                        "(gpuform never writes over a state it could not read)",
                        e->k_state);
    } else {
        char now[160];
        state_describe_text(have, have_len, now, sizeof now);
        rc = state_fail(err,
                        "the state at etcd key '%s' changed since this run read it (it now holds "
                        "%s, mod revision %lld; this run had %lld): another writer did not take "
                        "the lock; nothing was written, re-run",
                        e->k_state, now, (long long)(kv ? jint(kv, "mod_revision") : 0),
                        (long long)e->mod_rev);
    }
    free(have);
    json_decref(r);
    return rc;
}

static const char *etcd_backup_name(struct state_backend *b)
{
    return ((struct etcd *)b)->backup_where;
}

static const char *etcd_where(struct state_backend *b)
{
    return ((struct etcd *)b)->where;
}

/* History through etcd's MVCC: each earlier value is the key at the revision before the
 * later one's, until the cluster compacted it. */
static int etcd_read_version(struct state_backend *b, size_t back, char **text, size_t *len,
                             char *id, size_t idlen, struct state_err *err)
{
    struct etcd *e = (struct etcd *)b;
    *text = NULL;
    *len = 0;
    int64_t at = 0;
    for (size_t i = 0;; i++) {
        json_t *r;
        struct state_err rerr;
        if (range(e, e->k_state, at, &r, &rerr) != 0) {
            if (strstr(rerr.msg, "compacted"))
                return 0;
            *err = rerr;
            return -1;
        }
        json_t *kv = first_kv(r);
        if (!kv) {
            json_decref(r);
            return 0;
        }
        int64_t mod = jint(kv, "mod_revision");
        if (i == back) {
            bool bad;
            *text = kv_value(kv, len, &bad);
            snprintf(id, idlen, "revision %lld", (long long)mod);
            json_decref(r);
            return *text ? 0
                         : state_fail(err, "etcd key '%s' at revision %lld is not readable",
                                      e->k_state, (long long)mod);
        }
        json_decref(r);
        if (mod <= 1)
            return 0;
        at = mod - 1;
    }
}

/* ---- the lock and its lease ---- */

static void *keeper_main(void *arg)
{
    struct etcd *e = arg;
    double period = e->ttl / 3, last_ok = state_mono_now();
    pthread_mutex_lock(&e->mu);
    while (!e->keeper_stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        double t = (double)until.tv_sec + (double)until.tv_nsec / 1e9 + period;
        until.tv_sec = (time_t)t;
        until.tv_nsec = (long)((t - (double)until.tv_sec) * 1e9);
        pthread_cond_timedwait(&e->cv, &e->mu, &until);
        if (e->keeper_stop)
            break;
        pthread_mutex_unlock(&e->mu);
        json_t *r = NULL;
        struct state_err err;
        int rc = call(e, "/v3/lease/keepalive", json_pack("{s:I}", "ID", (json_int_t)e->lease), &r,
                      &err);
        json_t *res = json_object_get(r, "result");
        if (rc == 0 && jint(res, "TTL") > 0)
            last_ok = state_mono_now();
        else if (rc == 0 || state_mono_now() - last_ok > e->ttl)
            atomic_store(&e->lost, true); /* the lease is gone, or surely expired */
        json_decref(r);
        pthread_mutex_lock(&e->mu);
        if (atomic_load(&e->lost))
            break;
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

static void keeper_stop(struct etcd *e)
{
    if (!e->keeper_on)
        return;
    pthread_mutex_lock(&e->mu);
    e->keeper_stop = true;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->keeper, NULL);
    e->keeper_on = false;
}

static void revoke(struct etcd *e, int64_t lease)
{
    json_t *r = NULL;
    struct state_err ignored;
    if (lease &&
        call(e, "/v3/lease/revoke", json_pack("{s:I}", "ID", (json_int_t)lease), &r, &ignored) == 0)
        json_decref(r);
}

/* Grants the lease and starts keeping it alive. */
static int lease_start(struct etcd *e, struct state_err *err)
{
    json_t *r;
    if (ensure_auth(e, err) != 0 ||
        call(e, "/v3/lease/grant", json_pack("{s:I}", "TTL", (json_int_t)(e->ttl + 0.5)), &r,
             err) != 0)
        return -1;
    e->lease = jint(r, "ID");
    json_decref(r);
    if (!e->lease)
        return state_fail(err, "etcd granted no lease for the lock on '%s'", e->k_lock);
    atomic_store(&e->lost, false);
    e->keeper_stop = false;
    if (pthread_create(&e->keeper, NULL, keeper_main, e) != 0) {
        revoke(e, e->lease);
        e->lease = 0;
        return state_fail(err, "cannot start the thread that keeps the etcd lock alive");
    }
    e->keeper_on = true;
    return 0;
}

static void lease_end(struct etcd *e)
{
    keeper_stop(e);
    revoke(e, e->lease);
    e->lease = 0;
}

static int etcd_lock(struct state_backend *b, const struct state_lock_info *me, double timeout_s,
                     struct state_lock_info *holder, struct state_lock_info *stale,
                     struct state_err *err)
{
    struct etcd *e = (struct etcd *)b;
    if (stale)
        stale->id[0] = '\0'; /* an expired holder's key is gone with its lease */
    memset(holder, 0, sizeof *holder);
    if (e->locked)
        return 0;
    char *rec = state_lock_info_json(me, 0);
    if (!rec)
        return state_fail(err, "out of memory");
    if (lease_start(e, err) != 0) {
        free(rec);
        return -1;
    }
    double deadline = state_mono_now() + (timeout_s > 0 ? timeout_s : 0);
    int rc = -1;
    for (;;) {
        json_t *compare = json_array(), *success = json_array(), *failure = json_array();
        json_array_append_new(compare, cmp(e->k_lock, "CREATE", 0));
        json_array_append_new(success, op_put(e->k_lock, rec, strlen(rec), e->lease));
        json_array_append_new(failure, op_range(e->k_lock));
        bool ok = false;
        json_t *r;
        if (txn(e, compare, success, failure, &ok, &r, err) != 0)
            break;
        if (ok) {
            e->lock_rev = jint(json_object_get(r, "header"), "revision");
            e->locked = true;
            e->journal_seq = 0;
            json_decref(r);
            rc = 0;
            break;
        }
        json_t *kv = first_kv(failure_range(r, 0));
        size_t len = 0;
        bool bad;
        char *v = kv ? kv_value(kv, &len, &bad) : NULL;
        if (v)
            state_lock_info_parse(v, len, holder, NULL);
        free(v);
        json_decref(r);
        if (kv && state_mono_now() >= deadline) {
            char who[512] = "another gpuform run";
            if (holder->id[0])
                state_lock_info_describe(holder, who, sizeof who);
            state_fail(err,
                       "the state is locked by %s; wait for it (--lock-timeout), or for its lease "
                       "to expire (within %.0fs of that run dying); if it is stuck: gpuform "
                       "force-unlock %s",
                       who, e->ttl, holder->id[0] ? holder->id : "ID");
            break;
        }
        state_sleep_s(0.1 + jitter() * 0.2);
    }
    free(rec);
    if (rc != 0)
        lease_end(e);
    return rc;
}

static int etcd_unlock(struct state_backend *b, struct state_err *err)
{
    struct etcd *e = (struct etcd *)b;
    if (!e->locked)
        return 0;
    keeper_stop(e);
    json_t *compare = fenced(e), *success = json_array(), *failure = json_array();
    json_array_append_new(success,
                          json_pack("{s:{s:o}}", "request_delete_range", "key", jkey(e->k_lock)));
    bool ok = false;
    json_t *r = NULL;
    int rc = txn(e, compare, success, failure, &ok, &r, err);
    json_decref(r);
    revoke(e, e->lease); /* frees the key too, should the delete have failed */
    e->lease = 0;
    e->locked = false;
    return rc;
}

static int etcd_force_unlock(struct state_backend *b, const char *id, struct state_err *err)
{
    struct etcd *e = (struct etcd *)b;
    json_t *r;
    if (range(e, e->k_lock, 0, &r, err) != 0)
        return -1;
    json_t *kv = first_kv(r);
    struct state_lock_info who;
    size_t len = 0;
    bool bad;
    char *v = kv ? kv_value(kv, &len, &bad) : NULL;
    bool parsed = v && state_lock_info_parse(v, len, &who, NULL);
    free(v);
    int rc = 0;
    if (!kv) {
        rc = state_fail(err, "no lock is held on this state (etcd key '%s' does not exist)",
                        e->k_lock);
    } else if (!parsed || strcmp(who.id, id) != 0) {
        char desc[512] = "a record gpuform can't read";
        if (parsed)
            state_lock_info_describe(&who, desc, sizeof desc);
        rc = state_fail(err, "the lock id '%s' does not match the lock held by %s", id, desc);
    } else {
        int64_t mod = jint(kv, "mod_revision"), lease = jint(kv, "lease");
        json_t *compare = json_array(), *success = json_array(), *failure = json_array();
        json_array_append_new(compare, cmp(e->k_lock, "MOD", mod));
        json_array_append_new(
            success, json_pack("{s:{s:o}}", "request_delete_range", "key", jkey(e->k_lock)));
        bool ok = false;
        json_t *t = NULL;
        rc = txn(e, compare, success, failure, &ok, &t, err);
        json_decref(t);
        if (rc == 0 && !ok)
            rc = state_fail(err, "the lock changed while it was being removed; look again");
        if (rc == 0)
            revoke(e, lease); /* its holder's writes now fail at the fence */
    }
    json_decref(r);
    return rc;
}

/* ---- journal: one key per record, in key order ---- */

static int etcd_journal_append(struct state_backend *b, const char *line, size_t len,
                               struct state_err *err)
{
    struct etcd *e = (struct etcd *)b;
    if (memchr(line, '\n', len))
        return state_fail(err, "a journal record may not contain a newline");
    if (e->locked && atomic_load(&e->lost))
        return state_fail(err, "lost the lock on etcd key '%s'; the journal was not written",
                          e->k_lock);
    char key[1024];
    snprintf(key, sizeof key, "%s%020lld-%08u", e->k_journal, (long long)e->lock_rev,
             e->journal_seq++);
    json_t *compare = fenced(e), *success = json_array(), *failure = json_array();
    json_array_append_new(success, op_put(key, line, len, 0));
    json_array_append_new(failure, op_range(e->k_lock));
    bool ok = false;
    json_t *r;
    if (txn(e, compare, success, failure, &ok, &r, err) != 0)
        return -1;
    int rc = ok ? 0 : lost_lock(e, failure_range(r, 0), err);
    json_decref(r);
    return rc;
}

static int etcd_journal_read(struct state_backend *b, char **text, size_t *len,
                             struct state_err *err)
{
    struct etcd *e = (struct etcd *)b;
    *text = NULL;
    *len = 0;
    json_t *body =
        json_pack("{s:o, s:o}", "key", jkey(e->k_journal), "range_end", jprefix_end(e->k_journal));
    json_t *r;
    if (ensure_auth(e, err) != 0 || call(e, "/v3/kv/range", body, &r, err) != 0)
        return -1;
    json_t *kvs = json_object_get(r, "kvs");
    size_t i;
    json_t *kv;
    struct core_buf out;
    core_buf_init(&out, 256u << 20);
    int rc = 0;
    json_array_foreach(kvs, i, kv)
    {
        size_t n;
        bool bad;
        char *v = kv_value(kv, &n, &bad);
        if (!v || core_buf_add(&out, v, n) != 0 || core_buf_addc(&out, '\n') != 0)
            rc = state_fail(err, "journal record %zu under etcd key '%s' is %s", i + 1,
                            e->k_journal, bad ? "not base64" : "too large for memory");
        free(v);
        if (rc)
            break;
    }
    if (rc == 0 && json_array_size(kvs) > 0) {
        *len = out.len;
        *text = core_buf_take(&out);
        if (!*text)
            rc = state_fail(err, "out of memory reading the journal");
    }
    core_buf_release(&out);
    json_decref(r);
    return rc;
}

static int etcd_journal_clear(struct state_backend *b, struct state_err *err)
{
    struct etcd *e = (struct etcd *)b;
    json_t *compare = fenced(e), *success = json_array(), *failure = json_array();
    json_array_append_new(success,
                          json_pack("{s:{s:o, s:o}}", "request_delete_range", "key",
                                    jkey(e->k_journal), "range_end", jprefix_end(e->k_journal)));
    json_array_append_new(failure, op_range(e->k_lock));
    bool ok = false;
    json_t *r;
    if (txn(e, compare, success, failure, &ok, &r, err) != 0)
        return -1;
    int rc = ok ? 0 : lost_lock(e, failure_range(r, 0), err);
    json_decref(r);
    return rc;
}

static void etcd_close(struct state_backend *b)
{
    struct etcd *e = (struct etcd *)b;
    if (!e)
        return;
    struct state_err ignored;
    etcd_unlock(b, &ignored);
    keeper_stop(e);
    core_http_client_free(e->http);
    for (size_t i = 0; i < e->nendpoints; i++)
        free(e->endpoints[i]);
    free(e->endpoints);
    free(e->k_state);
    free(e->k_backup);
    free(e->k_lock);
    free(e->k_journal);
    free(e->where);
    free(e->backup_where);
    free(e->user);
    state_wipe_free(e->password);
    state_wipe_free(e->token);
    free(e->doc);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e);
}

static const struct state_backend_ops etcd_ops = {
    .name = "etcd",
    .where = etcd_where,
    .read = etcd_read,
    .write = etcd_write,
    .backup_name = etcd_backup_name,
    .read_version = etcd_read_version,
    .lock = etcd_lock,
    .unlock = etcd_unlock,
    .force_unlock = etcd_force_unlock,
    .journal_append = etcd_journal_append,
    .journal_read = etcd_journal_read,
    .journal_clear = etcd_journal_clear,
    .close = etcd_close,
};

static char *keyf(const char *prefix, const char *stack, const char *leaf)
{
    char *s = NULL;
    return asprintf(&s, "%s%s/%s", prefix, stack, leaf) < 0 ? NULL : s;
}

struct state_backend *state_etcd_open(const struct state_etcd_config *cfg, struct state_err *err)
{
    if (!cfg->nendpoints || !cfg->stack || !*cfg->stack) {
        state_fail(err, "the etcd backend needs at least one endpoint and the stack's name");
        return NULL;
    }
    struct etcd *e = calloc(1, sizeof *e);
    if (!e) {
        state_fail(err, "out of memory");
        return NULL;
    }
    e->base.ops = &etcd_ops;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    e->ttl = cfg->lock_ttl > 0 ? cfg->lock_ttl : 15;
    struct core_http_options ho = cfg->http ? *cfg->http : (struct core_http_options){0};
    ho.ca_file = cfg->ca_file;
    ho.client_cert = cfg->cert_file;
    ho.client_key = cfg->key_file;
    ho.no_default_rates = true;
    e->http = core_http_client_new(&ho);
    e->endpoints = calloc(cfg->nendpoints, sizeof *e->endpoints);
    bool ok = e->http && e->endpoints;
    for (size_t i = 0; ok && i < cfg->nendpoints; i++) {
        size_t n = strlen(cfg->endpoints[i]);
        while (n > 0 && cfg->endpoints[i][n - 1] == '/')
            n--;
        ok = (e->endpoints[i] = strndup(cfg->endpoints[i], n)) != NULL;
        e->nendpoints += ok;
    }
    const char *prefix = cfg->prefix ? cfg->prefix : "gpuform/";
    e->k_state = keyf(prefix, cfg->stack, "state");
    e->k_backup = keyf(prefix, cfg->stack, "state.backup");
    e->k_lock = keyf(prefix, cfg->stack, "lock");
    e->k_journal = keyf(prefix, cfg->stack, "journal/");
    if (ok && e->k_state &&
        asprintf(&e->where, "etcd key '%s' (%s)", e->k_state, e->endpoints[0]) < 0)
        e->where = NULL;
    if (ok && e->k_backup && asprintf(&e->backup_where, "etcd key '%s'", e->k_backup) < 0)
        e->backup_where = NULL;
    e->user = cfg->user ? strdup(cfg->user) : NULL;
    e->password = cfg->password ? strdup(cfg->password) : NULL;
    if (e->password)
        core_http_add_secret(e->http, e->password);
    if (!ok || !e->k_state || !e->k_backup || !e->k_lock || !e->k_journal || !e->where ||
        !e->backup_where || (cfg->user && !e->user) || (cfg->password && !e->password)) {
        etcd_close(&e->base);
        state_fail(err, "out of memory");
        return NULL;
    }
    return &e->base;
}
