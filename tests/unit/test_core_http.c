/*
 * Unit tests for the HTTP client (core/http.c): full-jitter backoff bounds, Retry-After in
 * both forms, which failures are retried, the token bucket under a fake clock (never more
 * than burst + rate x t in any window), redaction of every message and log line, a replayed
 * exchange through the transport hook, and real exchanges with a loopback server
 * (libmicrohttpd) and a closed port.
 */
#include "core/http.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a fake clock: sleeping advances it ---- */

struct fake_clock {
    pthread_mutex_t mu;
    uint64_t now_ms;
    int64_t unix_base;
    uint64_t slept_ms;
    int sleeps;
};

static uint64_t fake_now(void *ctx)
{
    struct fake_clock *f = ctx;
    pthread_mutex_lock(&f->mu);
    uint64_t t = f->now_ms;
    pthread_mutex_unlock(&f->mu);
    return t;
}

static void fake_sleep(void *ctx, uint64_t ms)
{
    struct fake_clock *f = ctx;
    pthread_mutex_lock(&f->mu);
    f->now_ms += ms;
    f->slept_ms += ms;
    f->sleeps++;
    pthread_mutex_unlock(&f->mu);
}

static int64_t fake_unix(void *ctx)
{
    struct fake_clock *f = ctx;
    return f->unix_base + (int64_t)(fake_now(f) / 1000u);
}

static uint64_t zero_random(void *ctx)
{
    (void)ctx;
    return 0;
}

/* Hands out the values of a list in turn. */
struct seq_random {
    const uint64_t *v;
    size_t n, next;
};

static uint64_t seq_random(void *ctx)
{
    struct seq_random *s = ctx;
    return s->v[s->next++ % s->n];
}

/* ---- a canned transport: replies in order, records what was sent ---- */

struct canned {
    long status;
    const char *headers[4][2];
    const char *body;
    enum core_http_error_class fail; /* != OK: fail with this class instead */
    bool sent;
};

struct replay {
    const struct canned *replies;
    size_t n, next;
    char last_method[16];
    char last_body[256];
    char last_header[256];
};

static int replay_transport(void *ctx, const struct core_http_request *req,
                            struct core_http_response *resp, struct core_http_error *err)
{
    struct replay *r = ctx;
    assert_true(r->next < r->n);
    const struct canned *c = &r->replies[r->next++];
    snprintf(r->last_method, sizeof r->last_method, "%s", req->method ? req->method : "GET");
    snprintf(r->last_body, sizeof r->last_body, "%.*s", (int)req->body_len,
             req->body ? (const char *)req->body : "");
    r->last_header[0] = '\0';
    if (req->headers != NULL && req->headers[0] != NULL)
        snprintf(r->last_header, sizeof r->last_header, "%s", req->headers[0]);
    if (c->fail != CORE_HTTP_OK) {
        err->cls = c->fail;
        err->sent = c->sent;
        snprintf(err->message, sizeof err->message, "canned %s failure",
                 core_http_error_class_name(c->fail));
        return -1;
    }
    resp->status = c->status;
    for (size_t i = 0; i < 4 && c->headers[i][0] != NULL; i++)
        assert_int_equal(core_http_response_add_header(resp, c->headers[i][0], c->headers[i][1]),
                         0);
    if (c->body != NULL)
        assert_int_equal(core_buf_adds(&resp->body, c->body), 0);
    return 0;
}

struct logbook {
    char lines[16][512];
    int n;
};

static void log_sink(void *ctx, enum core_http_log_level level, const char *line)
{
    (void)level;
    struct logbook *l = ctx;
    if (l->n < 16)
        snprintf(l->lines[l->n++], sizeof l->lines[0], "%s", line);
}

static struct core_http_client *replay_client(struct fake_clock *clk, struct core_http_clock *hc,
                                              struct replay *r, struct logbook *log)
{
    pthread_mutex_init(&clk->mu, NULL);
    *hc = (struct core_http_clock){fake_now, fake_sleep, fake_unix, clk};
    struct core_http_options o = {.clock = hc,
                                  .random_u64 = zero_random,
                                  .transport = replay_transport,
                                  .transport_ctx = r,
                                  .log = log != NULL ? log_sink : NULL,
                                  .log_ctx = log};
    struct core_http_client *c = core_http_client_new(&o);
    assert_non_null(c);
    return c;
}

/* ---- backoff ---- */

static void test_http_backoff_is_full_jitter_within_exponential_bounds(void **state)
{
    (void)state;
    const uint64_t base = 200, cap = 20000;
    for (unsigned retry = 0; retry < 70; retry++) {
        uint64_t ceiling = retry < 7 ? base << retry : cap;
        if (ceiling > cap)
            ceiling = cap;
        /* The lowest draw waits nothing, the highest exactly the ceiling; none above it. */
        assert_int_equal(core_http_backoff_ms(retry, base, cap, 0), 0);
        assert_int_equal(core_http_backoff_ms(retry, base, cap, ceiling), ceiling);
        uint64_t x = 0x9E3779B97F4A7C15ull;
        for (int i = 0; i < 200; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            assert_true(core_http_backoff_ms(retry, base, cap, x) <= ceiling);
        }
    }
    /* retry 3: uniform over [0, 1600]: a draw of 1601 wraps to 0, 1600 stays. */
    assert_int_equal(core_http_backoff_ms(3, base, cap, 1601), 0);
    assert_int_equal(core_http_backoff_ms(3, base, cap, 1600), 1600);
}

/* ---- Retry-After ---- */

static void test_http_parses_retry_after_seconds_and_dates(void **state)
{
    (void)state;
    uint64_t ms = 0;
    assert_int_equal(core_http_parse_retry_after("120", 0, &ms), 0);
    assert_int_equal(ms, 120000);
    assert_int_equal(core_http_parse_retry_after(" 0 ", 0, &ms), 0);
    assert_int_equal(ms, 0);
    /* 1445412480 = Wed, 21 Oct 2015 07:28:00 GMT */
    int64_t now = 1445412480 - 30;
    assert_int_equal(core_http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now, &ms), 0);
    assert_int_equal(ms, 30000);
    assert_int_equal(core_http_parse_retry_after("Wednesday, 21-Oct-15 07:28:00 GMT", now, &ms), 0);
    assert_int_equal(ms, 30000);
    assert_int_equal(core_http_parse_retry_after("Wed Oct 21 07:28:00 2015", now, &ms), 0);
    assert_int_equal(ms, 30000);
    /* A date in the past means now. */
    assert_int_equal(core_http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now + 90, &ms),
                     0);
    assert_int_equal(ms, 0);
    assert_int_equal(core_http_parse_retry_after("soon", 0, &ms), -1);
    assert_int_equal(core_http_parse_retry_after("12abc", 0, &ms), -1);
    assert_int_equal(core_http_parse_retry_after("", 0, &ms), -1);
}

static void test_http_retry_honours_retry_after_seconds_on_503(void **state)
{
    (void)state;
    struct fake_clock clk = {.unix_base = 1000000};
    struct core_http_clock hc;
    const struct canned replies[] = {
        {503, {{"Retry-After", "7"}}, "slow down", 0, false},
        {200, {{"x-amzn-RequestId", "req-2"}}, "ok", 0, false},
    };
    struct replay r = {replies, 2, 0, "", "", ""};
    struct core_http_client *c = replay_client(&clk, &hc, &r, NULL);
    struct core_http_response resp;
    struct core_http_error err;
    assert_int_equal(core_http_get(c, "https://api.example.com/x", &resp, &err), 0);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.attempts, 2);
    assert_string_equal(resp.request_id, "req-2");
    /* Backoff drew 0 (zero_random): the whole wait is the server's 7 s. */
    assert_int_equal(clk.slept_ms, 7000);
    core_http_response_release(&resp);
    core_http_client_free(c);
}

static void test_http_retry_honours_retry_after_date_on_429(void **state)
{
    (void)state;
    struct fake_clock clk = {.unix_base = 1445412480 - 45};
    struct core_http_clock hc;
    const struct canned replies[] = {
        {429, {{"Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"}}, NULL, 0, false},
        {204, {{NULL, NULL}}, NULL, 0, false},
    };
    struct replay r = {replies, 2, 0, "", "", ""};
    struct core_http_client *c = replay_client(&clk, &hc, &r, NULL);
    struct core_http_response resp;
    struct core_http_error err;
    assert_int_equal(core_http_get(c, "https://api.example.com/x", &resp, &err), 0);
    assert_int_equal(resp.status, 204);
    assert_int_equal(clk.slept_ms, 45000);
    core_http_response_release(&resp);
    core_http_client_free(c);
}

static void test_http_retry_after_longer_than_allowed_fails_at_once(void **state)
{
    (void)state;
    struct fake_clock clk = {0};
    struct core_http_clock hc;
    const struct canned replies[] = {{503, {{"Retry-After", "3600"}}, NULL, 0, false}};
    struct replay r = {replies, 1, 0, "", "", ""};
    struct core_http_client *c = replay_client(&clk, &hc, &r, NULL);
    struct core_http_response resp;
    struct core_http_error err;
    assert_int_equal(core_http_get(c, "https://api.example.com/x", &resp, &err), -1);
    assert_int_equal(err.cls, CORE_HTTP_ERR_STATUS);
    assert_int_equal(err.status, 503);
    assert_non_null(strstr(err.message, "Retry-After 3600 s"));
    assert_int_equal(clk.slept_ms, 0);
    core_http_response_release(&resp);
    core_http_client_free(c);
}

static void test_http_backoff_waits_grow_with_jitter_ceiling(void **state)
{
    (void)state;
    struct fake_clock clk = {0};
    pthread_mutex_init(&clk.mu, NULL);
    struct core_http_clock hc = {fake_now, fake_sleep, fake_unix, &clk};
    const struct canned replies[] = {
        {500, {{NULL, NULL}}, NULL, 0, false},
        {502, {{NULL, NULL}}, NULL, 0, false},
        {504, {{NULL, NULL}}, NULL, 0, false},
        {200, {{NULL, NULL}}, "fine", 0, false},
    };
    struct replay r = {replies, 4, 0, "", "", ""};
    /* Draws at the top of each window (100, 200, 400 with base 100) are waited in full. */
    static const uint64_t draws[] = {100, 200, 400};
    struct seq_random sr = {draws, 3, 0};
    struct core_http_options o = {.clock = &hc,
                                  .random_u64 = seq_random,
                                  .random_ctx = &sr,
                                  .backoff_base_ms = 100,
                                  .transport = replay_transport,
                                  .transport_ctx = &r};
    struct core_http_client *c = core_http_client_new(&o);
    struct core_http_response resp;
    assert_int_equal(core_http_get(c, "https://api.example.com/x", &resp, NULL), 0);
    assert_int_equal(clk.sleeps, 3);
    assert_int_equal(clk.slept_ms, 100 + 200 + 400);
    assert_string_equal(core_buf_str(&resp.body), "fine");
    core_http_response_release(&resp);
    core_http_client_free(c);
}

/* ---- what is retried ---- */

static void test_http_non_idempotent_request_is_not_retried_after_sending(void **state)
{
    (void)state;
    struct fake_clock clk = {0};
    struct core_http_clock hc;
    const struct canned replies[] = {
        {503, {{NULL, NULL}}, NULL, 0, false},
        {0, {{NULL, NULL}}, NULL, CORE_HTTP_ERR_TIMEOUT, true},
    };
    struct replay r = {replies, 2, 0, "", "", ""};
    struct core_http_client *c = replay_client(&clk, &hc, &r, NULL);
    struct core_http_request req = {
        .method = "POST", .url = "https://api.example.com/run", .body = "a=1", .body_len = 3};
    struct core_http_response resp;
    struct core_http_error err;
    assert_int_equal(core_http_do(c, &req, &resp, &err), -1);
    assert_int_equal(err.cls, CORE_HTTP_ERR_STATUS);
    assert_int_equal(err.attempts, 1);
    core_http_response_release(&resp);
    /* A timeout once the request may have been sent: not retried either. */
    assert_int_equal(core_http_do(c, &req, &resp, &err), -1);
    assert_int_equal(err.cls, CORE_HTTP_ERR_TIMEOUT);
    assert_int_equal(err.attempts, 1);
    assert_int_equal(r.next, 2);
    core_http_response_release(&resp);
    core_http_client_free(c);
}

static void test_http_failures_before_sending_are_retried_for_any_request(void **state)
{
    (void)state;
    struct fake_clock clk = {0};
    struct core_http_clock hc;
    const struct canned replies[] = {
        {0, {{NULL, NULL}}, NULL, CORE_HTTP_ERR_DNS, false},
        {0, {{NULL, NULL}}, NULL, CORE_HTTP_ERR_CONNECT, false},
        {201, {{NULL, NULL}}, "made", 0, false},
    };
    struct replay r = {replies, 3, 0, "", "", ""};
    struct core_http_client *c = replay_client(&clk, &hc, &r, NULL);
    struct core_http_request req = {.method = "POST", .url = "https://api.example.com/run"};
    struct core_http_response resp;
    assert_int_equal(core_http_do(c, &req, &resp, NULL), 0);
    assert_int_equal(resp.status, 201);
    assert_int_equal(resp.attempts, 3);
    core_http_response_release(&resp);
    core_http_client_free(c);
}

static void test_http_gives_up_after_max_attempts_and_404_is_not_retried(void **state)
{
    (void)state;
    struct fake_clock clk = {0};
    struct core_http_clock hc;
    const struct canned replies[] = {
        {503, {{NULL, NULL}}, NULL, 0, false}, {503, {{NULL, NULL}}, NULL, 0, false},
        {503, {{NULL, NULL}}, NULL, 0, false}, {503, {{NULL, NULL}}, NULL, 0, false},
        {503, {{NULL, NULL}}, NULL, 0, false}, {404, {{NULL, NULL}}, "no", 0, false},
    };
    struct replay r = {replies, 6, 0, "", "", ""};
    struct core_http_client *c = replay_client(&clk, &hc, &r, NULL);
    struct core_http_response resp;
    struct core_http_error err;
    assert_int_equal(core_http_get(c, "https://api.example.com/x", &resp, &err), -1);
    assert_int_equal(err.attempts, 5);
    assert_non_null(strstr(err.message, "HTTP 503"));
    assert_non_null(strstr(err.message, "after 5 attempts"));
    core_http_response_release(&resp);
    assert_int_equal(core_http_get(c, "https://api.example.com/x", &resp, &err), -1);
    assert_int_equal(err.attempts, 1);
    assert_int_equal(err.status, 404);
    /* The error reply's body stays readable. */
    assert_string_equal(core_buf_str(&resp.body), "no");
    core_http_response_release(&resp);
    core_http_client_free(c);
}

/* ---- the token bucket ---- */

/* Every window [grant i, grant j] holds at most burst + rate x (t_j - t_i) grants. */
static void assert_bucket_bound(const uint64_t *t, int n, double rate, double burst)
{
    for (int i = 0; i < n; i++)
        for (int j = i; j < n; j++) {
            double allowed = burst + rate * (double)(t[j] - t[i]) / 1000.0;
            assert_true((double)(j - i + 1) <= allowed + 1e-9);
        }
}

static void test_http_token_bucket_never_exceeds_burst_plus_rate_times_t(void **state)
{
    (void)state;
    struct fake_clock clk = {0};
    pthread_mutex_init(&clk.mu, NULL);
    struct core_http_clock hc = {fake_now, fake_sleep, fake_unix, &clk};
    struct core_http_options o = {.clock = &hc};
    struct core_http_client *c = core_http_client_new(&o);
    /* The default table: EC2 RunInstances, burst 5 then 2/s, one bucket per region. */
    enum { N = 60 };
    uint64_t t[N];
    uint64_t x = 12345;
    for (int i = 0; i < N; i++) {
        core_http_rate_acquire(c, "aws/us-east-1/ec2:RunInstances");
        t[i] = fake_now(&clk);
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        if (i >= 6 && x % 3 == 0)
            fake_sleep(&clk, x % 1700); /* idle a while now and then */
    }
    assert_bucket_bound(t, N, 2.0, 5.0);
    /* The first five go at once (the burst); the sixth waits half a second. */
    assert_int_equal(t[4], 0);
    assert_int_equal(t[5], 500);
    /* Another region has its own full bucket: no wait. */
    uint64_t before = fake_now(&clk);
    for (int i = 0; i < 5; i++)
        assert_int_equal(core_http_rate_acquire(c, "aws/eu-west-1/ec2:RunInstances"), 0);
    assert_int_equal(fake_now(&clk), before);
    assert_true(core_http_rate_acquire(c, "aws/eu-west-1/ec2:RunInstances") >= 500);
    /* An unknown family is not limited. */
    before = fake_now(&clk);
    for (int i = 0; i < 100; i++)
        core_http_rate_acquire(c, "gcp/us-central1/billing");
    assert_int_equal(fake_now(&clk), before);
    core_http_client_free(c);
}

static void test_http_token_bucket_sustains_its_rate_exactly(void **state)
{
    (void)state;
    struct fake_clock clk = {0};
    pthread_mutex_init(&clk.mu, NULL);
    struct core_http_clock hc = {fake_now, fake_sleep, fake_unix, &clk};
    struct core_http_options o = {.clock = &hc, .no_default_rates = true};
    struct core_http_client *c = core_http_client_new(&o);
    assert_int_equal(core_http_set_rate(c, "azure/*/prices", 4.0, 3), 0);
    for (int i = 0; i < 43; i++)
        core_http_rate_acquire(c, "azure/global/prices");
    /* 3 at once, then 40 at 4/s: exactly 10 s of fake time. */
    assert_int_equal(fake_now(&clk), 10000);
    /* Setting the pattern again changes the bucket already made: now 1/s. */
    assert_int_equal(core_http_set_rate(c, "azure/*/prices", 1.0, 1), 0);
    for (int i = 0; i < 3; i++)
        core_http_rate_acquire(c, "azure/global/prices");
    assert_int_equal(fake_now(&clk), 13000);
    core_http_client_free(c);
}

struct bucket_thread {
    struct core_http_client *c;
    struct fake_clock *clk;
    uint64_t t[20];
    pthread_mutex_t *grants_mu;
    uint64_t *all;
    int *nall;
};

static void *bucket_worker(void *arg)
{
    struct bucket_thread *b = arg;
    for (int i = 0; i < 20; i++) {
        /* Take the grant time under the same lock as the list, so the list is in order. */
        core_http_rate_acquire(b->c, "aws/us-west-2/ec2:RunInstances");
        pthread_mutex_lock(b->grants_mu);
        b->all[(*b->nall)++] = fake_now(b->clk);
        pthread_mutex_unlock(b->grants_mu);
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_http_token_bucket_holds_across_threads(void **state)
{
    (void)state;
    struct fake_clock clk = {0};
    pthread_mutex_init(&clk.mu, NULL);
    struct core_http_clock hc = {fake_now, fake_sleep, fake_unix, &clk};
    struct core_http_options o = {.clock = &hc};
    struct core_http_client *c = core_http_client_new(&o);
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    uint64_t all[80];
    int nall = 0;
    struct bucket_thread th[4];
    pthread_t tid[4];
    for (int i = 0; i < 4; i++) {
        th[i] = (struct bucket_thread){c, &clk, {0}, &mu, all, &nall};
        assert_int_equal(pthread_create(&tid[i], NULL, bucket_worker, &th[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(tid[i], NULL);
    assert_int_equal(nall, 80);
    qsort(all, 80, sizeof all[0], cmp_u64);
    /* Grants are stamped after the token was taken, so a stamp can only be late: the bound
     * on stamps is a little looser than on takes, by one token per concurrent thread. */
    assert_bucket_bound(all, 80, 2.0, 5.0 + 4.0);
    /* 80 grants at 2/s after a burst of 5: at least 37.5 s of fake time went by. */
    assert_true(fake_now(&clk) >= 37500);
    core_http_client_free(c);
}

/* ---- redaction ---- */

static void test_http_redacts_headers_query_keys_userinfo_and_literals(void **state)
{
    (void)state;
    struct core_http_client *c = core_http_client_new(NULL);
    assert_int_equal(core_http_add_secret(c, "hunter2-literal"), 0);
    struct core_buf b;
    core_buf_init(&b, 4096);
    static const char *const cases[][2] = {
        {"Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830, Signature=abc",
         "Authorization: [redacted]"},
        {"x-amz-security-token:FQoGZXIvYXdzEJr", "x-amz-security-token: [redacted]"},
        {"GET https://cloudbilling.googleapis.com/v1/services/6F81/skus?key=AIzaSyA&pageToken=2",
         "GET "
         "https://cloudbilling.googleapis.com/v1/services/6F81/skus?key=[redacted]&pageToken=2"},
        {"https://h/p?monkey=1&KEY=s3cr3t#frag", "https://h/p?monkey=1&KEY=[redacted]#frag"},
        {"https://h/?X-Amz-Signature=deadbeef&X-Amz-Security-Token=tok",
         "https://h/?X-Amz-Signature=[redacted]&X-Amz-Security-Token=[redacted]"},
        {"proxy http://alice:pa55@proxy:3128/ failed",
         "proxy http://[redacted]@proxy:3128/ failed"},
        {"said hunter2-literal twice: hunter2-literal", "said [redacted] twice: [redacted]"},
        {"nothing secret here: keyboard=1, authorized",
         "nothing secret here: keyboard=1, authorized"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(core_http_redact(c, cases[i][0], &b), 0);
        assert_string_equal(core_buf_str(&b), cases[i][1]);
    }
    core_buf_release(&b);
    core_http_client_free(c);
}

static void test_http_error_messages_and_log_lines_are_redacted(void **state)
{
    (void)state;
    struct fake_clock clk = {0};
    struct core_http_clock hc;
    const struct canned replies[] = {
        {0, {{NULL, NULL}}, NULL, CORE_HTTP_ERR_CONNECT, false},
        {403, {{"x-goog-request-id", "g-77"}}, "{\"error\":{}}", 0, false},
    };
    struct replay r = {replies, 2, 0, "", "", ""};
    struct logbook log = {0};
    struct core_http_client *c = replay_client(&clk, &hc, &r, &log);
    assert_int_equal(core_http_add_secret(c, "AIzaSECRETKEY"), 0);
    struct core_http_response resp;
    struct core_http_error err;
    const char *url = "https://cloudbilling.googleapis.com/v1/skus?key=AIzaSECRETKEY";
    assert_int_equal(core_http_get(c, url, &resp, &err), -1);
    assert_int_equal(err.cls, CORE_HTTP_ERR_STATUS);
    assert_int_equal(err.status, 403);
    assert_null(strstr(err.message, "AIzaSECRETKEY"));
    assert_non_null(strstr(err.message, "cloudbilling.googleapis.com/v1/skus?key=[redacted]"));
    assert_non_null(strstr(err.message, "request id g-77"));
    assert_true(log.n >= 3);
    bool saw_id = false;
    for (int i = 0; i < log.n; i++) {
        assert_null(strstr(log.lines[i], "AIzaSECRETKEY"));
        if (strstr(log.lines[i], "g-77") != NULL)
            saw_id = true;
    }
    assert_true(saw_id);
    core_http_response_release(&resp);
    core_http_client_free(c);
}

/* ---- a replayed exchange ---- */

static void test_http_replayed_exchange_carries_method_headers_body_and_request_id(void **state)
{
    (void)state;
    struct fake_clock clk = {0};
    struct core_http_clock hc;
    const struct canned replies[] = {
        {200,
         {{"Content-Type", "text/xml"}, {"x-amzn-RequestId", "59dbff89-35bd-4eac"}},
         "<RunInstancesResponse/>",
         0,
         false},
    };
    struct replay r = {replies, 1, 0, "", "", ""};
    struct core_http_client *c = replay_client(&clk, &hc, &r, NULL);
    const char *hdrs[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    struct core_http_request req = {.method = "POST",
                                    .url = "https://ec2.us-east-1.amazonaws.com/",
                                    .headers = hdrs,
                                    .body = "Action=RunInstances",
                                    .body_len = 19,
                                    .idempotent = true,
                                    .rate_key = "aws/us-east-1/ec2:RunInstances"};
    struct core_http_response resp;
    assert_int_equal(core_http_do(c, &req, &resp, NULL), 0);
    assert_string_equal(r.last_method, "POST");
    assert_string_equal(r.last_body, "Action=RunInstances");
    assert_string_equal(r.last_header, "Content-Type: application/x-www-form-urlencoded");
    assert_int_equal(resp.status, 200);
    assert_string_equal(core_http_response_header(&resp, "content-type"), "text/xml");
    assert_string_equal(resp.request_id, "59dbff89-35bd-4eac");
    assert_string_equal(core_buf_str(&resp.body), "<RunInstancesResponse/>");
    core_http_response_release(&resp);
    core_http_client_free(c);
}

/* ---- real exchanges on loopback ---- */

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *upload,
                             size_t *upload_len, void **con_cls)
{
    (void)cls, (void)version, (void)upload, (void)con_cls;
    if (*upload_len != 0) {
        *upload_len = 0; /* swallow request bodies */
        return MHD_YES;
    }
    static char big[8192];
    memset(big, 'x', sizeof big);
    const char *body = strcmp(url, "/big") == 0 ? big : method;
    size_t len = strcmp(url, "/big") == 0 ? sizeof big : strlen(method);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "x-ms-request-id", "ms-123");
    unsigned code = strcmp(url, "/missing") == 0 ? 404 : 200;
    enum MHD_Result ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

static void test_http_talks_to_a_loopback_server(void **state)
{
    (void)state;
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, serve,
                                            NULL, MHD_OPTION_END);
    assert_non_null(d);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%u", (unsigned)info->port);
    struct core_http_client *c = core_http_client_new(NULL);
    char url[128];
    struct core_http_response resp;
    struct core_http_error err;
    snprintf(url, sizeof url, "%s/echo", base);
    struct core_http_request req = {.method = "DELETE", .url = url, .idempotent = true};
    assert_int_equal(core_http_do(c, &req, &resp, &err), 0);
    assert_int_equal(resp.status, 200);
    assert_string_equal(core_buf_str(&resp.body), "DELETE");
    assert_string_equal(resp.request_id, "ms-123");
    core_http_response_release(&resp);
    struct core_http_request put = {
        .method = "PUT", .url = url, .body = "{}", .body_len = 2, .idempotent = true};
    assert_int_equal(core_http_do(c, &put, &resp, &err), 0);
    assert_string_equal(core_buf_str(&resp.body), "PUT");
    core_http_response_release(&resp);
    /* A reply over the cap: a clear error, not retried. */
    snprintf(url, sizeof url, "%s/big", base);
    struct core_http_request big = {.url = url, .idempotent = true, .max_response_bytes = 1000};
    assert_int_equal(core_http_do(c, &big, &resp, &err), -1);
    assert_int_equal(err.cls, CORE_HTTP_ERR_TOO_LARGE);
    assert_int_equal(err.attempts, 1);
    core_http_response_release(&resp);
    snprintf(url, sizeof url, "%s/missing", base);
    assert_int_equal(core_http_get(c, url, &resp, &err), -1);
    assert_int_equal(err.cls, CORE_HTTP_ERR_STATUS);
    assert_int_equal(err.status, 404);
    core_http_response_release(&resp);
    core_http_client_free(c);
    MHD_stop_daemon(d);
}

static void test_http_closed_port_is_a_connect_error_naming_the_url(void **state)
{
    (void)state;
    struct fake_clock clk = {0};
    pthread_mutex_init(&clk.mu, NULL);
    struct core_http_clock hc = {fake_now, fake_sleep, fake_unix, &clk};
    struct core_http_options o = {.clock = &hc, .max_attempts = 3};
    struct core_http_client *c = core_http_client_new(&o);
    struct core_http_response resp;
    struct core_http_error err;
    assert_int_equal(core_http_get(c, "http://127.0.0.1:1/prices?key=zzsecretzz", &resp, &err), -1);
    assert_int_equal(err.cls, CORE_HTTP_ERR_CONNECT);
    assert_int_equal(err.attempts, 3);
    assert_false(err.sent);
    assert_non_null(strstr(err.message, "GET http://127.0.0.1:1/prices?key=[redacted]"));
    assert_null(strstr(err.message, "zzsecretzz"));
    assert_int_equal(clk.sleeps, 2); /* two backoffs, on the fake clock */
    core_http_response_release(&resp);
    core_http_client_free(c);
}

static void test_http_insecure_mode_refuses_non_loopback_hosts(void **state)
{
    (void)state;
    struct core_http_options o = {.insecure_loopback_only = true};
    struct core_http_client *c = core_http_client_new(&o);
    struct core_http_response resp;
    struct core_http_error err;
    assert_int_equal(core_http_get(c, "https://prices.azure.com/api/retail/prices", &resp, &err),
                     -1);
    assert_int_equal(err.cls, CORE_HTTP_ERR_TLS);
    assert_non_null(strstr(err.message, "only for loopback"));
    core_http_response_release(&resp);
    assert_int_equal(core_http_get(c, "ftp://example.com/", &resp, &err), -1);
    assert_int_equal(err.cls, CORE_HTTP_ERR_INTERNAL);
    core_http_response_release(&resp);
    core_http_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_backoff_is_full_jitter_within_exponential_bounds),
        cmocka_unit_test(test_http_parses_retry_after_seconds_and_dates),
        cmocka_unit_test(test_http_retry_honours_retry_after_seconds_on_503),
        cmocka_unit_test(test_http_retry_honours_retry_after_date_on_429),
        cmocka_unit_test(test_http_retry_after_longer_than_allowed_fails_at_once),
        cmocka_unit_test(test_http_backoff_waits_grow_with_jitter_ceiling),
        cmocka_unit_test(test_http_non_idempotent_request_is_not_retried_after_sending),
        cmocka_unit_test(test_http_failures_before_sending_are_retried_for_any_request),
        cmocka_unit_test(test_http_gives_up_after_max_attempts_and_404_is_not_retried),
        cmocka_unit_test(test_http_token_bucket_never_exceeds_burst_plus_rate_times_t),
        cmocka_unit_test(test_http_token_bucket_sustains_its_rate_exactly),
        cmocka_unit_test(test_http_token_bucket_holds_across_threads),
        cmocka_unit_test(test_http_redacts_headers_query_keys_userinfo_and_literals),
        cmocka_unit_test(test_http_error_messages_and_log_lines_are_redacted),
        cmocka_unit_test(test_http_replayed_exchange_carries_method_headers_body_and_request_id),
        cmocka_unit_test(test_http_talks_to_a_loopback_server),
        cmocka_unit_test(test_http_closed_port_is_a_connect_error_naming_the_url),
        cmocka_unit_test(test_http_insecure_mode_refuses_non_loopback_hosts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
