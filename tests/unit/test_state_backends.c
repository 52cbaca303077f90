/*
 * The etcd and S3 state backends against scripted replies (core/http's transport hook):
 * the exact requests they send (etcd transactions comparing the mod revision and the
 * lock's create revision, base64 keys; S3 PUTs with If-Match / If-None-Match, SigV4
 * headers, path-style URLs) and how they read the answers (fenced writes, lost updates
 * refused, retried writes recognised, holders named, secrets kept out of messages).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"
#include "executor/backend.h"
#include "modules/state/state_backends.h"

struct reply {
    long status;
    const char *body;
    const char *etag; /* S3: the ETag header, or NULL */
};

struct seen {
    char method[8];
    char url[512];
    char headers[1024]; /* "Name: value\n"... */
    char *body;
};

struct fake {
    pthread_mutex_t mu;
    struct reply replies[16];
    size_t nreplies, next;
    struct seen seen[16];
    size_t nseen;
};

static int transport(void *ctx, const struct core_http_request *req,
                     struct core_http_response *resp, struct core_http_error *err)
{
    struct fake *f = ctx;
    (void)err;
    pthread_mutex_lock(&f->mu);
    if (f->nseen < 16) {
        struct seen *s = &f->seen[f->nseen++];
        snprintf(s->method, sizeof s->method, "%s", req->method ? req->method : "GET");
        snprintf(s->url, sizeof s->url, "%s", req->url);
        size_t o = 0;
        for (const char *const *h = req->headers; h && *h && o < sizeof s->headers; h++)
            o += (size_t)snprintf(s->headers + o, sizeof s->headers - o, "%s\n", *h);
        s->body = strndup(req->body ? (const char *)req->body : "", req->body_len);
    }
    const struct reply *r = f->next < f->nreplies ? &f->replies[f->next++] : NULL;
    pthread_mutex_unlock(&f->mu);
    if (!r) {
        resp->status = 500;
        core_buf_adds(&resp->body, "{\"error\":\"no reply scripted\"}");
        return 0;
    }
    resp->status = r->status;
    core_buf_adds(&resp->body, r->body);
    if (r->etag)
        core_http_response_add_header(resp, "ETag", r->etag);
    return 0;
}

struct fixture {
    struct fake fake;
    struct core_http_options http;
    struct state_backend *b;
};

static void reply(struct fixture *fx, long status, const char *body, const char *etag)
{
    fx->fake.replies[fx->fake.nreplies++] = (struct reply){status, body, etag};
}

static char *b64(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    return out;
}

/* A JSON reply with a base64 value spliced in where "@" is. */
static const char *with_b64(struct fixture *fx, const char *tmpl, const char *value)
{
    static char bufs[8][4096];
    static int k;
    char *v = b64(value);
    char *out = bufs[k++ % 8];
    const char *at = strchr(tmpl, '@');
    snprintf(out, 4096, "%.*s%s%s", (int)(at - tmpl), tmpl, v, at + 1);
    free(v);
    (void)fx;
    return out;
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    pthread_mutex_init(&fx->fake.mu, NULL);
    fx->http = (struct core_http_options){
        .transport = transport, .transport_ctx = &fx->fake, .max_attempts = 1};
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    if (fx->b)
        fx->b->ops->close(fx->b);
    for (size_t i = 0; i < fx->fake.nseen; i++)
        free(fx->fake.seen[i].body);
    pthread_mutex_destroy(&fx->fake.mu);
    free(fx);
    return 0;
}

static const char *const endpoints[] = {"http://127.0.0.1:2379"};

static void open_etcd(struct fixture *fx, const char *user, const char *password)
{
    struct state_etcd_config cfg = {.endpoints = endpoints,
                                    .nendpoints = 1,
                                    .prefix = "gf/",
                                    .stack = "prod",
                                    .lock_ttl = 60, /* the keeper stays asleep in a test */
                                    .user = user,
                                    .password = password,
                                    .http = &fx->http};
    struct state_err err;
    fx->b = state_etcd_open(&cfg, &err);
    assert_non_null(fx->b);
}

static json_t *body_of(struct fixture *fx, size_t i)
{
    json_t *j = json_loads(fx->fake.seen[i].body, 0, NULL);
    assert_non_null(j);
    return j;
}

static const char *LOCKED_TXN = "{\"header\":{\"revision\":\"42\"},\"succeeded\":true}";
static const char *DOC = "{\"serial\": 7, \"lineage\": \"L\"}\n";

/* grant, lock txn, range: the state at mod revision 40 */
static void etcd_locked_and_read(struct fixture *fx)
{
    struct state_lock_info me, holder, stale;
    struct state_err err;
    reply(fx, 200, "{\"ID\":\"7\",\"TTL\":\"60\"}", NULL);
    reply(fx, 200, LOCKED_TXN, NULL);
    reply(
        fx, 200,
        with_b64(fx, "{\"kvs\":[{\"key\":\"eA==\",\"mod_revision\":\"40\",\"value\":\"@\"}]}", DOC),
        NULL);
    assert_int_equal(state_lock_info_self(&me, "apply", "test"), 0);
    assert_int_equal(fx->b->ops->lock(fx->b, &me, 0, &holder, &stale, &err), 0);
    assert_string_equal(stale.id, "");
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(fx->b->ops->read(fx->b, &text, &len, &err), 0);
    assert_string_equal(text, DOC);
    free(text);
}

static void test_etcd_write_compares_mod_revision_and_lock_revision(void **state)
{
    struct fixture *fx = *state;
    open_etcd(fx, NULL, NULL);
    etcd_locked_and_read(fx);
    assert_string_equal(fx->fake.seen[0].url, "http://127.0.0.1:2379/v3/lease/grant");
    json_t *lock = body_of(fx, 1);
    char *lockkey = b64("gf/prod/lock");
    json_t *c0 = json_array_get(json_object_get(lock, "compare"), 0);
    assert_string_equal(json_string_value(json_object_get(c0, "key")), lockkey);
    assert_string_equal(json_string_value(json_object_get(c0, "target")), "CREATE");
    assert_int_equal(json_integer_value(json_object_get(c0, "create_revision")), 0);
    json_t *put =
        json_object_get(json_array_get(json_object_get(lock, "success"), 0), "request_put");
    assert_int_equal(json_integer_value(json_object_get(put, "lease")), 7);
    json_decref(lock);

    reply(fx, 200, "{\"header\":{\"revision\":\"43\"},\"succeeded\":true}", NULL);
    struct state_err err;
    const char *next = "{\"serial\": 8}\n";
    assert_int_equal(fx->b->ops->write(fx->b, next, strlen(next), &err), 0);
    json_t *w = body_of(fx, 3);
    assert_string_equal(fx->fake.seen[3].url, "http://127.0.0.1:2379/v3/kv/txn");
    json_t *cmp = json_object_get(w, "compare");
    assert_int_equal(json_array_size(cmp), 2);
    json_t *fence = json_array_get(cmp, 0), *cas = json_array_get(cmp, 1);
    assert_string_equal(json_string_value(json_object_get(fence, "key")), lockkey);
    assert_int_equal(json_integer_value(json_object_get(fence, "create_revision")), 42);
    assert_string_equal(json_string_value(json_object_get(cas, "target")), "MOD");
    assert_int_equal(json_integer_value(json_object_get(cas, "mod_revision")), 40);
    json_t *ops = json_object_get(w, "success");
    char *statekey = b64("gf/prod/state"), *backupkey = b64("gf/prod/state.backup");
    char *nextb = b64(next), *docb = b64(DOC);
    json_t *p0 = json_object_get(json_array_get(ops, 0), "request_put");
    json_t *p1 = json_object_get(json_array_get(ops, 1), "request_put");
    assert_string_equal(json_string_value(json_object_get(p0, "key")), statekey);
    assert_string_equal(json_string_value(json_object_get(p0, "value")), nextb);
    assert_string_equal(json_string_value(json_object_get(p1, "key")), backupkey);
    assert_string_equal(json_string_value(json_object_get(p1, "value")), docb);
    json_decref(w);

    /* the next write compares the revision the last one made */
    reply(fx, 200, "{\"header\":{\"revision\":\"44\"},\"succeeded\":true}", NULL);
    assert_int_equal(fx->b->ops->write(fx->b, "{}", 2, &err), 0);
    w = body_of(fx, 4);
    cas = json_array_get(json_object_get(w, "compare"), 1);
    assert_int_equal(json_integer_value(json_object_get(cas, "mod_revision")), 43);
    json_decref(w);
    free(lockkey);
    free(statekey);
    free(backupkey);
    free(nextb);
    free(docb);
}

static void test_etcd_write_after_losing_the_lock_is_fenced(void **state)
{
    struct fixture *fx = *state;
    open_etcd(fx, NULL, NULL);
    etcd_locked_and_read(fx);
    /* the lock key is gone (its lease expired) and someone else wrote the state */
    reply(fx, 200,
          with_b64(fx,
                   "{\"responses\":[{\"response_range\":{\"kvs\":[{\"mod_revision\":\"50\","
                   "\"value\":\"@\"}]}},{\"response_range\":{}}]}",
                   "{\"serial\": 9, \"lineage\": \"L\"}"),
          NULL);
    struct state_err err;
    assert_int_equal(fx->b->ops->write(fx->b, "{\"serial\": 8}", 13, &err), -1);
    assert_non_null(strstr(err.msg, "lost the lock"));
    assert_non_null(strstr(err.msg, "fenced: lock revision 42"));
    /* and nothing more is sent for a journal record: the handle knows */
    size_t before = fx->fake.nseen;
    assert_int_equal(fx->b->ops->journal_append(fx->b, "{}", 2, &err), -1);
    assert_int_equal(fx->fake.nseen, before);
}

static void test_etcd_write_over_a_newer_state_is_refused_naming_it(void **state)
{
    struct fixture *fx = *state;
    open_etcd(fx, NULL, NULL);
    etcd_locked_and_read(fx);
    reply(fx, 200,
          with_b64(fx,
                   "{\"responses\":[{\"response_range\":{\"kvs\":[{\"mod_revision\":\"50\","
                   "\"value\":\"@\"}]}},{\"response_range\":{\"kvs\":[{\"create_revision\":"
                   "\"42\"}]}}]}",
                   "{\"serial\": 9, \"lineage\": \"L\"}"),
          NULL);
    struct state_err err;
    assert_int_equal(fx->b->ops->write(fx->b, "{\"serial\": 8}", 13, &err), -1);
    assert_non_null(strstr(err.msg, "changed since this run read it"));
    assert_non_null(strstr(err.msg, "serial 9 of lineage L"));
}

static void test_etcd_retried_write_that_landed_is_a_success(void **state)
{
    struct fixture *fx = *state;
    open_etcd(fx, NULL, NULL);
    etcd_locked_and_read(fx);
    const char *next = "{\"serial\": 8}";
    /* the compare failed because the first attempt of this very write went through */
    reply(fx, 200,
          with_b64(fx,
                   "{\"responses\":[{\"response_range\":{\"kvs\":[{\"mod_revision\":\"45\","
                   "\"value\":\"@\"}]}},{\"response_range\":{\"kvs\":[{\"create_revision\":"
                   "\"42\"}]}}]}",
                   next),
          NULL);
    struct state_err err;
    assert_int_equal(fx->b->ops->write(fx->b, next, strlen(next), &err), 0);
    reply(fx, 200, "{\"succeeded\":true,\"header\":{\"revision\":\"46\"}}", NULL);
    assert_int_equal(fx->b->ops->write(fx->b, "{}", 2, &err), 0);
    json_t *w = body_of(fx, 4);
    json_t *cas = json_array_get(json_object_get(w, "compare"), 1);
    assert_int_equal(json_integer_value(json_object_get(cas, "mod_revision")), 45);
    json_decref(w);
}

static void test_etcd_lock_held_names_the_holder_and_frees_the_lease(void **state)
{
    struct fixture *fx = *state;
    open_etcd(fx, NULL, NULL);
    struct state_lock_info them;
    assert_int_equal(state_lock_info_self(&them, "destroy", "0.1"), 0);
    snprintf(them.user, sizeof them.user, "alice");
    snprintf(them.host, sizeof them.host, "build-7");
    char *rec = state_lock_info_json(&them, 0);
    reply(fx, 200, "{\"ID\":\"9\",\"TTL\":\"60\"}", NULL);
    reply(fx, 200,
          with_b64(fx, "{\"responses\":[{\"response_range\":{\"kvs\":[{\"value\":\"@\"}]}}]}", rec),
          NULL);
    reply(fx, 200, "{}", NULL); /* revoke */
    struct state_lock_info me, holder, stale;
    struct state_err err;
    assert_int_equal(state_lock_info_self(&me, "apply", "test"), 0);
    assert_int_equal(fx->b->ops->lock(fx->b, &me, 0, &holder, &stale, &err), -1);
    assert_string_equal(holder.id, them.id);
    assert_non_null(strstr(err.msg, "locked by alice@build-7"));
    assert_non_null(strstr(err.msg, "destroy"));
    assert_non_null(strstr(err.msg, them.id));
    assert_string_equal(fx->fake.seen[2].url, "http://127.0.0.1:2379/v3/lease/revoke");
    free(rec);
}

static void test_etcd_sends_the_token_and_never_shows_the_password(void **state)
{
    struct fixture *fx = *state;
    open_etcd(fx, "ci", "hunter2-secret");
    reply(fx, 200, "{\"token\":\"tok-abc.123\"}", NULL);
    reply(fx, 400, "{\"error\":\"etcdserver: permission denied\",\"code\":7}", NULL);
    char *text = NULL;
    size_t len = 0;
    struct state_err err;
    assert_int_equal(fx->b->ops->read(fx->b, &text, &len, &err), -1);
    json_t *auth = body_of(fx, 0);
    assert_string_equal(json_string_value(json_object_get(auth, "name")), "ci");
    json_decref(auth);
    assert_non_null(strstr(fx->fake.seen[1].headers, "Authorization: tok-abc.123\n"));
    assert_non_null(strstr(err.msg, "permission denied"));
    assert_non_null(strstr(err.msg, "http://127.0.0.1:2379"));
    assert_null(strstr(err.msg, "hunter2"));
    assert_null(strstr(err.msg, "tok-abc"));
}

static void test_etcd_reply_that_is_not_json_is_a_clear_error(void **state)
{
    struct fixture *fx = *state;
    open_etcd(fx, NULL, NULL);
    reply(fx, 200, "<html>proxy login</html>", NULL);
    char *text = NULL;
    size_t len = 0;
    struct state_err err;
    assert_int_equal(fx->b->ops->read(fx->b, &text, &len, &err), -1);
    assert_null(text);
    assert_non_null(strstr(err.msg, "not JSON"));
    assert_non_null(strstr(err.msg, "/v3/kv/range"));
}

static void test_etcd_journal_is_one_key_per_record_read_in_order(void **state)
{
    struct fixture *fx = *state;
    open_etcd(fx, NULL, NULL);
    etcd_locked_and_read(fx);
    reply(fx, 200, "{\"succeeded\":true}", NULL);
    struct state_err err;
    assert_int_equal(fx->b->ops->journal_append(fx->b, "{\"op\":\"create\"}", 15, &err), 0);
    json_t *w = body_of(fx, 3);
    json_t *put = json_object_get(json_array_get(json_object_get(w, "success"), 0), "request_put");
    char *key = b64("gf/prod/journal/00000000000000000042-00000000");
    assert_string_equal(json_string_value(json_object_get(put, "key")), key);
    free(key);
    json_decref(w);
    assert_int_equal(fx->b->ops->journal_append(fx->b, "a\nb", 3, &err), -1);
    char *a = b64("{\"a\":1}"), *b = b64("{\"b\":2}");
    char body[512];
    snprintf(body, sizeof body, "{\"kvs\":[{\"value\":\"%s\"},{\"value\":\"%s\"}]}", a, b);
    free(a);
    free(b);
    reply(fx, 200, body, NULL);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(fx->b->ops->journal_read(fx->b, &text, &len, &err), 0);
    assert_string_equal(text, "{\"a\":1}\n{\"b\":2}\n");
    free(text);
    json_t *r = body_of(fx, 4);
    char *from = b64("gf/prod/journal/"), *to = b64("gf/prod/journal0");
    assert_string_equal(json_string_value(json_object_get(r, "key")), from);
    assert_string_equal(json_string_value(json_object_get(r, "range_end")), to);
    free(from);
    free(to);
    json_decref(r);
}

/* ---- S3 ---- */

#define S3_SECRET "s3cr3t/KEY+for+tests"

static void open_s3(struct fixture *fx)
{
    struct state_s3_config cfg = {.bucket = "tfstate",
                                  .key = "gpu/prod.json",
                                  .region = "us-east-1",
                                  .endpoint = "http://127.0.0.1:4568/",
                                  .lock_ttl = 60,
                                  .access_key_id = "AKIDTEST",
                                  .secret_access_key = S3_SECRET,
                                  .http = &fx->http};
    struct state_err err;
    fx->b = state_s3_open(&cfg, &err);
    assert_non_null(fx->b);
}

static void test_s3_write_sends_if_match_with_the_etag_read(void **state)
{
    struct fixture *fx = *state;
    open_s3(fx);
    reply(fx, 200, DOC, "\"etag-1\"");
    char *text = NULL;
    size_t len = 0;
    struct state_err err;
    assert_int_equal(fx->b->ops->read(fx->b, &text, &len, &err), 0);
    assert_string_equal(text, DOC);
    free(text);
    assert_string_equal(fx->fake.seen[0].url, "http://127.0.0.1:4568/tfstate/gpu/prod.json");
    reply(fx, 200, DOC, "\"etag-1\""); /* the document the backup keeps */
    reply(fx, 200, "", "\"etag-b\"");  /* backup */
    reply(fx, 200, "", "\"etag-2\"");  /* the state */
    assert_int_equal(fx->b->ops->write(fx->b, "{}", 2, &err), 0);
    struct seen *bk = &fx->fake.seen[2], *st = &fx->fake.seen[3];
    assert_string_equal(bk->method, "PUT");
    assert_string_equal(bk->url, "http://127.0.0.1:4568/tfstate/gpu/prod.json.backup");
    assert_string_equal(bk->body, DOC);
    assert_string_equal(st->method, "PUT");
    assert_string_equal(st->body, "{}");
    assert_non_null(strstr(st->headers, "If-Match: \"etag-1\"\n"));
    assert_null(strstr(st->headers, "If-None-Match"));
    assert_non_null(strstr(st->headers, "Authorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/"));
    assert_non_null(strstr(st->headers, "/us-east-1/s3/aws4_request"));
    assert_non_null(strstr(st->headers, "SignedHeaders=host;if-match;x-amz-content-sha256;"));
    /* SHA-256 of "{}" */
    assert_non_null(strstr(st->headers, "X-Amz-Content-Sha256: "
                                        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c0"
                                        "60f61caaff8a\n"));
    assert_null(strstr(st->headers, S3_SECRET));
    /* the next write is conditional on the ETag the last one got */
    reply(fx, 200, "{}", "\"etag-2\"");
    reply(fx, 200, "", "\"etag-b2\"");
    reply(fx, 200, "", "\"etag-3\"");
    assert_int_equal(fx->b->ops->write(fx->b, "{ }", 3, &err), 0);
    assert_non_null(strstr(fx->fake.seen[6].headers, "If-Match: \"etag-2\"\n"));
}

static void test_s3_first_state_is_created_with_if_none_match(void **state)
{
    struct fixture *fx = *state;
    open_s3(fx);
    reply(fx, 404, "<Error><Code>NoSuchKey</Code><Message>none</Message></Error>", NULL);
    char *text = (char *)"x";
    size_t len = 0;
    struct state_err err;
    assert_int_equal(fx->b->ops->read(fx->b, &text, &len, &err), 0);
    assert_null(text);
    reply(fx, 200, "", "\"etag-1\"");
    assert_int_equal(fx->b->ops->write(fx->b, "{}", 2, &err), 0);
    assert_non_null(strstr(fx->fake.seen[1].headers, "If-None-Match: *\n"));
    assert_null(strstr(fx->fake.seen[1].headers, "If-Match"));
}

static void test_s3_write_over_a_changed_state_is_refused(void **state)
{
    struct fixture *fx = *state;
    open_s3(fx);
    reply(fx, 200, DOC, "\"etag-1\"");
    char *text = NULL;
    size_t len = 0;
    struct state_err err;
    assert_int_equal(fx->b->ops->read(fx->b, &text, &len, &err), 0);
    free(text);
    const char *newer = "{\"serial\": 11, \"lineage\": \"L\"}";
    reply(fx, 200, newer, "\"etag-9\""); /* the backup's look finds another document */
    reply(fx, 412, "<Error><Code>PreconditionFailed</Code><Message>no</Message></Error>", NULL);
    reply(fx, 200, newer, "\"etag-9\""); /* what is there: not ours */
    assert_int_equal(fx->b->ops->write(fx->b, "{}", 2, &err), -1);
    assert_non_null(strstr(err.msg, "changed since this run read it"));
    assert_non_null(strstr(err.msg, "serial 11 of lineage L"));
    assert_non_null(strstr(fx->fake.seen[2].headers, "If-Match: \"etag-1\"\n"));
}

static void test_s3_lock_is_created_with_if_none_match_and_a_live_holder_named(void **state)
{
    struct fixture *fx = *state;
    open_s3(fx);
    struct state_lock_info them;
    assert_int_equal(state_lock_info_self(&them, "apply", "0.1"), 0);
    snprintf(them.user, sizeof them.user, "bob");
    char *rec = state_lock_info_json(&them, 4102444800); /* 2100: alive */
    reply(fx, 412, "<Error><Code>PreconditionFailed</Code><Message>x</Message></Error>", NULL);
    reply(fx, 200, rec, "\"lk-1\"");
    struct state_lock_info me, holder, stale;
    struct state_err err;
    assert_int_equal(state_lock_info_self(&me, "apply", "test"), 0);
    assert_int_equal(fx->b->ops->lock(fx->b, &me, 0, &holder, &stale, &err), -1);
    assert_string_equal(fx->fake.seen[0].method, "PUT");
    assert_string_equal(fx->fake.seen[0].url, "http://127.0.0.1:4568/tfstate/gpu/prod.json.lock");
    assert_non_null(strstr(fx->fake.seen[0].headers, "If-None-Match: *\n"));
    json_t *mine = json_loads(fx->fake.seen[0].body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(mine, "id")), me.id);
    assert_true(json_integer_value(json_object_get(mine, "expires")) > me.created);
    json_decref(mine);
    assert_non_null(strstr(err.msg, "locked by bob@"));
    assert_string_equal(holder.id, them.id);
    assert_int_equal(fx->fake.nseen, 2); /* a live lock is never written over */
    free(rec);
}

static void test_s3_expired_lock_is_taken_over_with_if_match(void **state)
{
    struct fixture *fx = *state;
    open_s3(fx);
    struct state_lock_info them;
    assert_int_equal(state_lock_info_self(&them, "apply", "0.1"), 0);
    char *rec = state_lock_info_json(&them, 1000); /* long expired */
    reply(fx, 412, "<Error><Code>PreconditionFailed</Code><Message>x</Message></Error>", NULL);
    reply(fx, 200, rec, "\"lk-old\"");
    reply(fx, 200, "", "\"lk-new\"");
    reply(fx, 204, "", NULL); /* the unlock's DELETE */
    struct state_lock_info me, holder, stale;
    struct state_err err;
    assert_int_equal(state_lock_info_self(&me, "apply", "test"), 0);
    assert_int_equal(fx->b->ops->lock(fx->b, &me, 0, &holder, &stale, &err), 0);
    assert_string_equal(stale.id, them.id);
    assert_non_null(strstr(fx->fake.seen[2].headers, "If-Match: \"lk-old\"\n"));
    assert_int_equal(fx->b->ops->unlock(fx->b, &err), 0);
    assert_string_equal(fx->fake.seen[3].method, "DELETE");
    assert_string_equal(fx->fake.seen[3].url, "http://127.0.0.1:4568/tfstate/gpu/prod.json.lock");
    free(rec);
}

static void test_s3_error_reply_is_named_without_the_secret(void **state)
{
    struct fixture *fx = *state;
    open_s3(fx);
    reply(fx, 403,
          "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Access "
          "Denied</Message></Error>",
          NULL);
    char *text = NULL;
    size_t len = 0;
    struct state_err err;
    assert_int_equal(fx->b->ops->read(fx->b, &text, &len, &err), -1);
    assert_non_null(strstr(err.msg, "s3://tfstate/gpu/prod.json"));
    assert_non_null(strstr(err.msg, "AccessDenied"));
    assert_non_null(strstr(err.msg, "credentials"));
    assert_null(strstr(err.msg, S3_SECRET));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_etcd_write_compares_mod_revision_and_lock_revision,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_etcd_write_after_losing_the_lock_is_fenced, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etcd_write_over_a_newer_state_is_refused_naming_it,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_etcd_retried_write_that_landed_is_a_success, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etcd_lock_held_names_the_holder_and_frees_the_lease,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_etcd_sends_the_token_and_never_shows_the_password,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_etcd_reply_that_is_not_json_is_a_clear_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etcd_journal_is_one_key_per_record_read_in_order,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_s3_write_sends_if_match_with_the_etag_read, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_s3_first_state_is_created_with_if_none_match, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_s3_write_over_a_changed_state_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_s3_lock_is_created_with_if_none_match_and_a_live_holder_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_s3_expired_lock_is_taken_over_with_if_match, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_s3_error_reply_is_named_without_the_secret, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
