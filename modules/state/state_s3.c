/*
 * The S3 state backend: the state object is written with If-Match on the ETag this run
 * read (no lost update), the lock object KEY.lock is created with If-None-Match: * and
 * holds its holder and an expiry that a thread renews (If-Match on the lock's own ETag);
 * an expired lock is taken over with a conditional write. Journal records are one object
 * each under KEY.journal/. Requests are signed with SigV4 (modules/aws/sigv4.c).
 */
#include "modules/state/state_backends.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "modules/aws/sigv4.h"
#include "modules/state/state_int.h"

#define S3_MAX_OBJECT (256u << 20)

struct s3 {
    struct state_backend base;
    struct core_http_client *http;
    char *bucket, *key, *region, *base_url, *host; /* base_url: up to the bucket's root */
    char *akid, *secret, *token;
    char *k_backup, *k_lock, *k_journal;
    char *where, *backup_where;
    double ttl;
    /* the document */
    bool read_done;
    char etag[160]; /* of the state object as read or last written; "" when absent */
    /* the lock */
    pthread_mutex_t mu; /* lock_etag, valid_until, keeper_stop */
    pthread_cond_t cv;
    pthread_t keeper;
    bool locked, keeper_on, keeper_stop;
    atomic_bool lost;
    char lock_etag[160];
    struct state_lock_info me;
    double valid_until; /* monotonic: the lock is surely ours until then */
    long long lock_started_ms;
    unsigned journal_seq;
};

/* RFC 3986 encoding of an object key for the path: unreserved characters and '/' stay. */
static void enc_key(const char *key, char *out, size_t outlen, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)key; *p && o + 4 < outlen; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~' || (keep_slash && *p == '/')) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
}

/* ---- one signed request ---- */

struct s3_call {
    const char *method;
    const char *object; /* the key; NULL for the bucket itself */
    const char *query;  /* canonical (sorted, encoded), or NULL */
    const char *body;
    size_t body_len;
    const char *if_match;      /* an ETag, or NULL */
    bool if_none_match;        /* If-None-Match: * */
    struct sigv4_header extra; /* NULL name: none */
};

/* Sends it; 0 when a reply arrived (any status: rs->status says), -1 with err otherwise. */
static int s3_do(struct s3 *s, const struct s3_call *c, struct core_http_response *rs,
                 struct state_err *err)
{
    char path[2048], ekey[1536], url[4096], amz_date[17];
    enc_key(c->object ? c->object : "", ekey, sizeof ekey, true);
    /* base_url ends with the bucket (path-style) or the host (virtual-hosted) */
    const char *bpath = strstr(s->base_url, "://");
    bpath = bpath ? strchr(bpath + 3, '/') : NULL;
    snprintf(path, sizeof path, "%s/%s", bpath ? bpath : "", ekey);
    snprintf(url, sizeof url, "%.*s%s%s%s",
             (int)(bpath ? (size_t)(bpath - s->base_url) : strlen(s->base_url)), s->base_url, path,
             c->query ? "?" : "", c->query ? c->query : "");
    sigv4_amz_date(time(NULL), amz_date);
    struct sigv4_header sh[4];
    size_t nsh = 0;
    sh[nsh++] = (struct sigv4_header){"Host", s->host};
    if (c->if_match)
        sh[nsh++] = (struct sigv4_header){"If-Match", c->if_match};
    if (c->if_none_match)
        sh[nsh++] = (struct sigv4_header){"If-None-Match", "*"};
    struct sigv4_request rq = {c->method, path, c->query, sh, nsh, c->body, c->body_len};
    struct sigv4_params sp = {.access_key_id = s->akid,
                              .secret_access_key = s->secret,
                              .session_token = s->token,
                              .region = s->region,
                              .service = "s3",
                              .amz_date = amz_date,
                              .sign_body = true};
    struct sigv4_result sr;
    memset(&sr, 0, sizeof sr);
    core_http_response_init(rs);
    if (sigv4_sign_headers(&rq, &sp, &sr) != 0)
        return state_fail(err, "s3://%s/%s: could not sign the request (out of memory?)", s->bucket,
                          c->object ? c->object : "");
    char h_host[320], h_date[40], h_sha[100], h_im[200], *h_auth = NULL, *h_token = NULL;
    snprintf(h_host, sizeof h_host, "Host: %s", s->host);
    snprintf(h_date, sizeof h_date, "X-Amz-Date: %s", amz_date);
    snprintf(h_sha, sizeof h_sha, "X-Amz-Content-Sha256: %s", sr.payload_sha256);
    if (asprintf(&h_auth, "Authorization: %s", sr.authorization) < 0)
        h_auth = NULL;
    if (s->token && asprintf(&h_token, "X-Amz-Security-Token: %s", s->token) < 0)
        h_token = NULL;
    const char *headers[9];
    size_t nh = 0;
    headers[nh++] = h_host;
    headers[nh++] = h_date;
    headers[nh++] = h_sha;
    headers[nh++] = h_auth;
    if (c->if_match) {
        snprintf(h_im, sizeof h_im, "If-Match: %s", c->if_match);
        headers[nh++] = h_im;
    }
    if (c->if_none_match)
        headers[nh++] = "If-None-Match: *";
    if (h_token)
        headers[nh++] = h_token;
    headers[nh++] = "Expect:";
    headers[nh] = NULL;
    struct core_http_request req = {.method = c->method,
                                    .url = url,
                                    .headers = headers,
                                    .body = c->body,
                                    .body_len = c->body_len,
                                    .idempotent = true,
                                    .max_response_bytes = S3_MAX_OBJECT,
                                    .timeout_ms = 30000};
    struct core_http_error he;
    int rc = h_auth && (!s->token || h_token) ? core_http_do(s->http, &req, rs, &he) : -2;
    sigv4_result_release(&sr);
    state_wipe_free(h_auth);
    state_wipe_free(h_token);
    if (rc == -2)
        return state_fail(err, "out of memory");
    if (rc != 0 && he.cls != CORE_HTTP_ERR_STATUS)
        return state_fail(err, "s3://%s: %s", s->bucket, he.message);
    return 0;
}

/* The <Code> and <Message> of an S3 error reply, for messages. */
static void s3_error_text(const struct core_http_response *rs, char *out, size_t outlen)
{
    const char *b = rs->body.data ? rs->body.data : "";
    const char *code = strstr(b, "<Code>"), *msg = strstr(b, "<Message>");
    const char *ce = code ? strstr(code, "</Code>") : NULL;
    const char *me = msg ? strstr(msg, "</Message>") : NULL;
    if (code && ce && msg && me)
        snprintf(out, outlen, "HTTP %ld %.*s: %.*s", rs->status, (int)(ce - code - 6), code + 6,
                 (int)(me - msg - 9 > 300 ? 300 : me - msg - 9), msg + 9);
    else
        snprintf(out, outlen, "HTTP %ld", rs->status);
}

static int s3_failed(struct s3 *s, const char *what, const char *object,
                     const struct core_http_response *rs, struct state_err *err)
{
    char why[512];
    s3_error_text(rs, why, sizeof why);
    const char *hint = rs->status == 403   ? "; check the AWS credentials and the bucket's policy"
                       : rs->status == 404 ? "; does the bucket exist?"
                                           : "";
    return state_fail(err, "%s s3://%s/%s: %s%s", what, s->bucket, object, why, hint);
}

static bool precondition_failed(long status)
{
    /* 412: the ETag differs or the object exists; 409: a concurrent conditional write won;
     * 404: If-Match on an object that is gone */
    return status == 412 || status == 409 || status == 404;
}

static void copy_etag(const struct core_http_response *rs, char *out, size_t outlen)
{
    const char *et = core_http_response_header(rs, "ETag");
    snprintf(out, outlen, "%s", et ? et : "");
}

/* GETs an object: 0 with *text (NULL when absent) and its ETag; -1 on an error. */
static int get_object(struct s3 *s, const char *object, char **text, size_t *len, char *etag,
                      size_t etaglen, struct state_err *err)
{
    *text = NULL;
    *len = 0;
    etag[0] = '\0';
    struct core_http_response rs;
    struct s3_call c = {.method = "GET", .object = object};
    int rc = s3_do(s, &c, &rs, err);
    if (rc == 0 && rs.status == 200) {
        copy_etag(&rs, etag, etaglen);
        *len = rs.body.len;
        *text = malloc(rs.body.len + 1);
        if (*text) {
            memcpy(*text, rs.body.data ? rs.body.data : "", rs.body.len);
            (*text)[rs.body.len] = '\0';
        } else {
            rc = state_fail(err, "out of memory reading s3://%s/%s", s->bucket, object);
        }
    } else if (rc == 0 && rs.status != 404) {
        rc = s3_failed(s, "cannot read", object, &rs, err);
    }
    core_http_response_release(&rs);
    return rc;
}

/* What a failed conditional PUT found in place (text NULL: nothing). */
struct found {
    char *text;
    size_t len;
    char etag[160];
};

/*
 * PUTs an object under a condition. 0 with *won true and the new ETag, or *won false when
 * the condition failed (checked again by content: a retried request whose first attempt
 * landed is a success), with what is there now in *found when it is not NULL (free
 * found->text); -1 on an error.
 */
static int put_object(struct s3 *s, const char *object, const char *text, size_t len,
                      const char *if_match, bool if_none_match, bool *won, char *etag,
                      size_t etaglen, struct found *found, struct state_err *err)
{
    if (found)
        memset(found, 0, sizeof *found);
    *won = false;
    struct core_http_response rs;
    struct s3_call c = {.method = "PUT",
                        .object = object,
                        .body = text,
                        .body_len = len,
                        .if_match = if_match && *if_match ? if_match : NULL,
                        .if_none_match = if_none_match};
    int rc = s3_do(s, &c, &rs, err);
    if (rc == 0 && rs.status >= 200 && rs.status < 300) {
        *won = true;
        copy_etag(&rs, etag, etaglen);
    } else if (rc == 0 && (if_match || if_none_match) && precondition_failed(rs.status)) {
        struct found f;
        memset(&f, 0, sizeof f);
        rc = get_object(s, object, &f.text, &f.len, f.etag, sizeof f.etag, err);
        if (rc == 0 && f.text && f.len == len && memcmp(f.text, text, len) == 0) {
            *won = true;
            snprintf(etag, etaglen, "%s", f.etag);
        }
        if (found && rc == 0 && !*won)
            *found = f;
        else
            free(f.text);
    } else if (rc == 0) {
        rc = s3_failed(s, "cannot write", object, &rs, err);
    }
    core_http_response_release(&rs);
    return rc;
}

static int delete_object(struct s3 *s, const char *object, struct state_err *err)
{
    struct core_http_response rs;
    struct s3_call c = {.method = "DELETE", .object = object};
    int rc = s3_do(s, &c, &rs, err);
    if (rc == 0 && rs.status != 204 && rs.status != 200 && rs.status != 404)
        rc = s3_failed(s, "cannot delete", object, &rs, err);
    core_http_response_release(&rs);
    return rc;
}

/* ---- read / write ---- */

static int s3_read(struct state_backend *b, char **text, size_t *len, struct state_err *err)
{
    struct s3 *s = (struct s3 *)b;
    if (get_object(s, s->key, text, len, s->etag, sizeof s->etag, err) != 0)
        return -1;
    s->read_done = true;
    return 0;
}

/* Whether this handle may still write under its lock: not lost, and surely not expired on
 * its own clock (the self-fence; see docs/state.md on clock skew). */
static int check_fence(struct s3 *s, struct state_err *err)
{
    if (!s->locked)
        return 0;
    pthread_mutex_lock(&s->mu);
    bool ok = !atomic_load(&s->lost) && state_mono_now() < s->valid_until;
    pthread_mutex_unlock(&s->mu);
    if (ok)
        return 0;
    atomic_store(&s->lost, true);
    return state_fail(err,
                      "lost the lock s3://%s/%s: it could not be renewed before it expired; "
                      "nothing was written; re-run to settle what this run left in the journal",
                      s->bucket, s->k_lock);
}

static int s3_write(struct state_backend *b, const char *text, size_t len, struct state_err *err)
{
    struct s3 *s = (struct s3 *)b;
    if (check_fence(s, err) != 0)
        return -1;
    if (s->read_done && s->etag[0]) {
        /* the previous document, as the backup: a copy on the server side would need
         * x-amz-copy-source; a GET of what we replace is as cheap for state-sized objects */
        char *old = NULL, old_etag[160];
        size_t old_len = 0;
        bool won;
        char ignored[160];
        int rc = get_object(s, s->key, &old, &old_len, old_etag, sizeof old_etag, err);
        if (rc == 0 && old && strcmp(old_etag, s->etag) == 0)
            rc = put_object(s, s->k_backup, old, old_len, NULL, false, &won, ignored,
                            sizeof ignored, NULL, err);
        free(old);
        if (rc != 0)
            return -1;
    }
    bool won = false;
    char etag[160], now[160];
    struct found f;
    if (put_object(s, s->key, text, len, s->read_done ? s->etag : NULL,
                   !s->read_done || !s->etag[0], &won, etag, sizeof etag, &f, err) != 0)
        return -1;
    if (won) {
        snprintf(s->etag, sizeof s->etag, "%s", etag);
        s->read_done = true;
        return 0;
    }
    state_describe_text(f.text, f.len, now, sizeof now);
    free(f.text);
    if (!s->read_done)
        return state_fail(err,
                          "refusing to write s3://%s/%s: the state there was not read first "
                          "(gpuform never writes over a state it could not read)",
                          s->bucket, s->key);
    return state_fail(err,
                      "the state at s3://%s/%s changed since this run read it (it now holds %s): "
                      "another writer, or a run whose lock expired, wrote it; nothing was "
                      "written, re-run",
                      s->bucket, s->key, now);
}

static const char *s3_backup_name(struct state_backend *b)
{
    return ((struct s3 *)b)->backup_where;
}

static const char *s3_where(struct state_backend *b)
{
    return ((struct s3 *)b)->where;
}

static int s3_read_version(struct state_backend *b, size_t back, char **text, size_t *len, char *id,
                           size_t idlen, struct state_err *err)
{
    struct s3 *s = (struct s3 *)b;
    *text = NULL;
    *len = 0;
    if (back > 1)
        return 0;
    char etag[160];
    snprintf(id, idlen, "%s", back == 0 ? "current" : "backup");
    return get_object(s, back == 0 ? s->key : s->k_backup, text, len, etag, sizeof etag, err);
}

/* ---- the lock ---- */

static char *lock_record(struct s3 *s)
{
    return state_lock_info_json(&s->me, (int64_t)time(NULL) + (int64_t)(s->ttl + 0.5));
}

static void *keeper_main(void *arg)
{
    struct s3 *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->keeper_stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        double t = (double)until.tv_sec + (double)until.tv_nsec / 1e9 + s->ttl / 3;
        until.tv_sec = (time_t)t;
        until.tv_nsec = (long)((t - (double)until.tv_sec) * 1e9);
        pthread_cond_timedwait(&s->cv, &s->mu, &until);
        if (s->keeper_stop)
            break;
        char etag[160];
        snprintf(etag, sizeof etag, "%s", s->lock_etag);
        pthread_mutex_unlock(&s->mu);
        double sent = state_mono_now();
        char *rec = lock_record(s);
        bool won = false;
        char next[160];
        struct state_err err;
        int rc = rec ? put_object(s, s->k_lock, rec, strlen(rec), etag, false, &won, next,
                                  sizeof next, NULL, &err)
                     : -1;
        free(rec);
        pthread_mutex_lock(&s->mu);
        if (rc == 0 && won) {
            snprintf(s->lock_etag, sizeof s->lock_etag, "%s", next);
            s->valid_until = sent + s->ttl;
        } else if (rc == 0) {
            atomic_store(&s->lost, true); /* taken over or removed */
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void keeper_stop(struct s3 *s)
{
    if (!s->keeper_on)
        return;
    pthread_mutex_lock(&s->mu);
    s->keeper_stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->keeper, NULL);
    s->keeper_on = false;
}

/* Tries once to take the lock: created, or taken over when expired. 1 when taken, 0 when
 * held by someone else (holder, expiry filled), -1 on an error. */
static int try_lock(struct s3 *s, struct state_lock_info *holder, int64_t *expires, bool *took_over,
                    struct state_err *err)
{
    *took_over = false;
    double sent = state_mono_now();
    char *rec = lock_record(s);
    if (!rec)
        return state_fail(err, "out of memory");
    bool won = false;
    char etag[160];
    struct found f;
    int rc =
        put_object(s, s->k_lock, rec, strlen(rec), NULL, true, &won, etag, sizeof etag, &f, err);
    if (rc == 0 && !won) {
        bool parsed = f.text && state_lock_info_parse(f.text, f.len, holder, expires);
        if (f.text && !parsed)
            snprintf(holder->id, sizeof holder->id, "?"); /* held; never taken unread */
        if (parsed && *expires > 0 && *expires <= (int64_t)time(NULL)) {
            /* expired: take it over, on the condition that it is still that record */
            rc = put_object(s, s->k_lock, rec, strlen(rec), f.etag, false, &won, etag, sizeof etag,
                            NULL, err);
            *took_over = won;
        }
        free(f.text);
    }
    free(rec);
    if (rc != 0)
        return -1;
    if (!won)
        return 0;
    snprintf(s->lock_etag, sizeof s->lock_etag, "%s", etag);
    s->valid_until = sent + s->ttl;
    return 1;
}

static int s3_lock(struct state_backend *b, const struct state_lock_info *me, double timeout_s,
                   struct state_lock_info *holder, struct state_lock_info *stale,
                   struct state_err *err)
{
    struct s3 *s = (struct s3 *)b;
    if (stale)
        stale->id[0] = '\0';
    memset(holder, 0, sizeof *holder);
    if (s->locked)
        return 0;
    s->me = *me;
    double deadline = state_mono_now() + (timeout_s > 0 ? timeout_s : 0);
    int vanished = 0;
    for (;;) {
        int64_t expires = 0;
        bool took_over;
        struct state_lock_info seen;
        memset(&seen, 0, sizeof seen);
        int got = try_lock(s, &seen, &expires, &took_over, err);
        if (got < 0)
            return -1;
        if (got == 1) {
            if (took_over && stale)
                *stale = seen;
            break;
        }
        *holder = seen;
        if (!seen.id[0] && ++vanished < 50)
            continue; /* released between our create and our look: try again */
        if (state_mono_now() >= deadline && !strcmp(holder->id, "?"))
            return state_fail(err,
                              "the lock s3://%s/%s holds a record gpuform can't read; if no run "
                              "holds it, delete that object",
                              s->bucket, s->k_lock);
        if (state_mono_now() >= deadline) {
            char who[512] = "another gpuform run";
            if (holder->id[0])
                state_lock_info_describe(holder, who, sizeof who);
            long left = (long)(expires - (int64_t)time(NULL));
            return state_fail(err,
                              "the state is locked by %s; wait for it (--lock-timeout), or for "
                              "its lock to expire (in %lds, unless that run renews it); if it "
                              "is stuck: gpuform force-unlock %s",
                              who, left > 0 ? left : 0, holder->id[0] ? holder->id : "ID");
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        state_sleep_s(0.2 + (double)(ts.tv_nsec % 1000) / 2500.0);
    }
    s->locked = true;
    atomic_store(&s->lost, false);
    s->keeper_stop = false;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s->lock_started_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    s->journal_seq = 0;
    if (pthread_create(&s->keeper, NULL, keeper_main, s) != 0) {
        struct state_err ignored;
        delete_object(s, s->k_lock, &ignored);
        s->locked = false;
        return state_fail(err, "cannot start the thread that renews the S3 lock");
    }
    s->keeper_on = true;
    return 0;
}

static int s3_unlock(struct state_backend *b, struct state_err *err)
{
    struct s3 *s = (struct s3 *)b;
    if (!s->locked)
        return 0;
    keeper_stop(s);
    s->locked = false;
    /* Deleting is safe only while the lock is surely ours; past that, someone may hold it
     * now, and an expired record of ours is taken over anyway. */
    if (atomic_load(&s->lost) || state_mono_now() >= s->valid_until - 1)
        return 0;
    return delete_object(s, s->k_lock, err);
}

static int s3_force_unlock(struct state_backend *b, const char *id, struct state_err *err)
{
    struct s3 *s = (struct s3 *)b;
    char *text = NULL, etag[160];
    size_t len = 0;
    if (get_object(s, s->k_lock, &text, &len, etag, sizeof etag, err) != 0)
        return -1;
    struct state_lock_info who;
    int rc = 0;
    if (!text) {
        rc = state_fail(err, "no lock is held on this state (s3://%s/%s does not exist)", s->bucket,
                        s->k_lock);
    } else if (!state_lock_info_parse(text, len, &who, NULL) || strcmp(who.id, id) != 0) {
        char desc[512] = "a record gpuform can't read";
        if (who.id[0])
            state_lock_info_describe(&who, desc, sizeof desc);
        rc = state_fail(err, "the lock id '%s' does not match the lock held by %s", id, desc);
    } else {
        rc = delete_object(s, s->k_lock, err);
    }
    free(text);
    return rc;
}

/* ---- journal: one object per record ---- */

static int s3_journal_append(struct state_backend *b, const char *line, size_t len,
                             struct state_err *err)
{
    struct s3 *s = (struct s3 *)b;
    if (memchr(line, '\n', len))
        return state_fail(err, "a journal record may not contain a newline");
    if (check_fence(s, err) != 0)
        return -1;
    char object[2048], etag[160];
    snprintf(object, sizeof object, "%s%015lld-%08u", s->k_journal, s->lock_started_ms,
             s->journal_seq++);
    bool won = false;
    if (put_object(s, object, line, len, NULL, true, &won, etag, sizeof etag, NULL, err) != 0)
        return -1;
    return won ? 0
               : state_fail(err,
                            "journal record s3://%s/%s exists already; another run is "
                            "writing this journal",
                            s->bucket, object);
}

/* Lists the journal's objects, in key order (S3 lists in UTF-8 binary order). */
static int list_journal(struct s3 *s, char ***keys, size_t *n, struct state_err *err)
{
    *keys = NULL;
    *n = 0;
    char token[1024] = "", prefix[1536];
    enc_key(s->k_journal, prefix, sizeof prefix, false);
    size_t cap = 0;
    for (int page = 0; page < 10000; page++) {
        char query[4096], etok[1536];
        enc_key(token, etok, sizeof etok, false);
        snprintf(query, sizeof query, "%s%s%slist-type=2&prefix=%s",
                 *token ? "continuation-token=" : "", etok, *token ? "&" : "", prefix);
        struct core_http_response rs;
        struct s3_call c = {.method = "GET", .query = query};
        if (s3_do(s, &c, &rs, err) != 0)
            return -1;
        if (rs.status != 200) {
            int rc = s3_failed(s, "cannot list", s->k_journal, &rs, err);
            core_http_response_release(&rs);
            return rc;
        }
        xmlDocPtr doc = xmlReadMemory(rs.body.data, (int)rs.body.len, "list.xml", NULL,
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        core_http_response_release(&rs);
        xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
        if (!root) {
            xmlFreeDoc(doc);
            return state_fail(err,
                              "s3://%s answered the journal's listing with something that "
                              "is not XML",
                              s->bucket);
        }
        bool truncated = false;
        token[0] = '\0';
        for (xmlNodePtr e = root->children; e; e = e->next) {
            if (e->type != XML_ELEMENT_NODE)
                continue;
            xmlChar *v = NULL;
            if (!xmlStrcmp(e->name, BAD_CAST "IsTruncated")) {
                v = xmlNodeGetContent(e);
                truncated = v && !xmlStrcmp(v, BAD_CAST "true");
            } else if (!xmlStrcmp(e->name, BAD_CAST "NextContinuationToken")) {
                v = xmlNodeGetContent(e);
                snprintf(token, sizeof token, "%s", v ? (const char *)v : "");
            } else if (!xmlStrcmp(e->name, BAD_CAST "Contents")) {
                for (xmlNodePtr k = e->children; k; k = k->next)
                    if (k->type == XML_ELEMENT_NODE && !xmlStrcmp(k->name, BAD_CAST "Key")) {
                        xmlFree(v);
                        v = xmlNodeGetContent(k);
                    }
                if (v && *n == cap) {
                    cap = cap ? cap * 2 : 16;
                    char **nk = realloc(*keys, cap * sizeof **keys);
                    if (!nk) {
                        xmlFree(v);
                        xmlFreeDoc(doc);
                        return state_fail(err, "out of memory listing the journal");
                    }
                    *keys = nk;
                }
                if (v && !((*keys)[*n] = strdup((const char *)v))) {
                    xmlFree(v);
                    xmlFreeDoc(doc);
                    return state_fail(err, "out of memory listing the journal");
                }
                *n += v != NULL;
            }
            xmlFree(v);
        }
        xmlFreeDoc(doc);
        if (!truncated || !*token)
            return 0;
    }
    return state_fail(err, "the journal under s3://%s/%s lists without end", s->bucket,
                      s->k_journal);
}

static void free_keys(char **keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
}

static int s3_journal_read(struct state_backend *b, char **text, size_t *len, struct state_err *err)
{
    struct s3 *s = (struct s3 *)b;
    *text = NULL;
    *len = 0;
    char **keys;
    size_t n;
    if (list_journal(s, &keys, &n, err) != 0) {
        free_keys(keys, n);
        return -1;
    }
    struct core_buf out;
    core_buf_init(&out, S3_MAX_OBJECT);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char *rec = NULL, etag[160];
        size_t rlen = 0;
        rc = get_object(s, keys[i], &rec, &rlen, etag, sizeof etag, err);
        if (rc == 0 && rec &&
            (core_buf_add(&out, rec, rlen) != 0 || core_buf_addc(&out, '\n') != 0))
            rc = state_fail(err, "the journal under s3://%s/%s is too large", s->bucket,
                            s->k_journal);
        free(rec);
    }
    if (rc == 0 && out.len > 0 && !(*len = out.len, *text = core_buf_take(&out)))
        rc = state_fail(err, "out of memory reading the journal");
    core_buf_release(&out);
    free_keys(keys, n);
    return rc;
}

static int s3_journal_clear(struct state_backend *b, struct state_err *err)
{
    struct s3 *s = (struct s3 *)b;
    if (check_fence(s, err) != 0)
        return -1;
    char **keys;
    size_t n;
    int rc = list_journal(s, &keys, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = delete_object(s, keys[i], err);
    free_keys(keys, n);
    return rc;
}

static void s3_close(struct state_backend *b)
{
    struct s3 *s = (struct s3 *)b;
    if (!s)
        return;
    struct state_err ignored;
    s3_unlock(b, &ignored);
    core_http_client_free(s->http);
    free(s->bucket);
    free(s->key);
    free(s->region);
    free(s->base_url);
    free(s->host);
    free(s->akid);
    state_wipe_free(s->secret);
    state_wipe_free(s->token);
    free(s->k_backup);
    free(s->k_lock);
    free(s->k_journal);
    free(s->where);
    free(s->backup_where);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

static const struct state_backend_ops s3_ops = {
    .name = "s3",
    .where = s3_where,
    .read = s3_read,
    .write = s3_write,
    .backup_name = s3_backup_name,
    .read_version = s3_read_version,
    .lock = s3_lock,
    .unlock = s3_unlock,
    .force_unlock = s3_force_unlock,
    .journal_append = s3_journal_append,
    .journal_read = s3_journal_read,
    .journal_clear = s3_journal_clear,
    .close = s3_close,
};

/* a SEP b, malloc'd */
static char *join(const char *a, const char *sep, const char *b2)
{
    char *s = NULL;
    return asprintf(&s, "%s%s%s", a, sep, b2) < 0 ? NULL : s;
}

struct state_backend *state_s3_open(const struct state_s3_config *cfg, struct state_err *err)
{
    if (!cfg->bucket || !*cfg->bucket || !cfg->key || !*cfg->key || !cfg->region || !*cfg->region) {
        state_fail(err, "the s3 backend needs a bucket, a key and a region");
        return NULL;
    }
    if (!cfg->access_key_id || !cfg->secret_access_key) {
        state_fail(err, "the s3 backend needs AWS credentials");
        return NULL;
    }
    struct s3 *s = calloc(1, sizeof *s);
    if (!s) {
        state_fail(err, "out of memory");
        return NULL;
    }
    s->base.ops = &s3_ops;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->ttl = cfg->lock_ttl > 0 ? cfg->lock_ttl : 60;
    struct core_http_options ho = cfg->http ? *cfg->http : (struct core_http_options){0};
    ho.no_default_rates = true;
    s->http = core_http_client_new(&ho);
    s->bucket = strdup(cfg->bucket);
    s->key = strdup(cfg->key);
    s->region = strdup(cfg->region);
    if (cfg->endpoint) {
        size_t n = strlen(cfg->endpoint);
        while (n > 0 && cfg->endpoint[n - 1] == '/')
            n--;
        char *ep = strndup(cfg->endpoint, n);
        s->base_url = ep ? join(ep, "/", cfg->bucket) : NULL;
        free(ep);
    } else {
        s->base_url = NULL;
        char *h = join("https://", cfg->bucket, ".s3.");
        char *hr = h ? join(h, cfg->region, ".amazonaws.com") : NULL;
        free(h);
        s->base_url = hr;
    }
    if (s->base_url) {
        const char *h = strstr(s->base_url, "://");
        h = h ? h + 3 : s->base_url;
        s->host = strndup(h, strcspn(h, "/"));
    }
    s->akid = strdup(cfg->access_key_id);
    s->secret = strdup(cfg->secret_access_key);
    s->token = cfg->session_token ? strdup(cfg->session_token) : NULL;
    s->k_backup = join(cfg->key, "", ".backup");
    s->k_lock = join(cfg->key, "", ".lock");
    s->k_journal = join(cfg->key, "", ".journal/");
    char *root = join("s3://", cfg->bucket, "/");
    s->where = root ? join(root, "", cfg->key) : NULL;
    s->backup_where = s->where ? join(s->where, "", ".backup") : NULL;
    free(root);
    if (s->http && s->secret)
        core_http_add_secret(s->http, s->secret);
    if (s->http && s->token)
        core_http_add_secret(s->http, s->token);
    if (!s->http || !s->bucket || !s->key || !s->region || !s->base_url || !s->host || !s->akid ||
        !s->secret || (cfg->session_token && !s->token) || !s->k_backup || !s->k_lock ||
        !s->k_journal || !s->where || !s->backup_where) {
        s3_close(&s->base);
        state_fail(err, "out of memory");
        return NULL;
    }
    return &s->base;
}
