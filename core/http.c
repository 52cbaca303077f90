/*
 * The HTTP client over libcurl (see http.h): one easy handle per attempt, a retry loop with
 * full-jitter backoff and Retry-After, token buckets keyed by string, and redaction of every
 * line that leaves the client. Time, randomness and the transport are injectable so the
 * retry and rate-limit logic is tested without a network or a real clock.
 */
#include "core/http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define DEFAULT_CONNECT_MS  10000L
#define DEFAULT_TIMEOUT_MS  60000L
#define DEFAULT_MAX_BYTES   ((size_t)64 << 20)
#define DEFAULT_ATTEMPTS    5
#define DEFAULT_BASE_MS     200u
#define DEFAULT_CAP_MS      20000u
#define DEFAULT_RETRY_AFTER 120000u
#define REDACTED            "[redacted]"

const struct core_http_rate_default core_http_default_rates[] = {
    /* EC2 request-token buckets, per account and region (AWS "Request throttling for the
     * Amazon EC2 API"; ../shared/research/anchors_perf.md): burst, then refill per second. */
    {"aws/*/ec2:RunInstances", 2.0, 5.0},
    {"aws/*/ec2:StartInstances", 2.0, 5.0},
    {"aws/*/ec2:TerminateInstances", 5.0, 100.0},
    {"aws/*/ec2:CreateTags", 10.0, 100.0},
    {"aws/*/ec2:DeleteTags", 10.0, 100.0},
    /* Filtered or paginated Describe* calls: the 100/20 bucket. */
    {"aws/*/ec2:Describe*", 20.0, 100.0},
    /* Everything else in EC2 ("non-mutating" and unfiltered): 50 burst, 10/s. */
    {"aws/*/ec2:GetConsoleOutput", 10.0, 50.0},
};
const size_t core_http_default_rates_len =
    sizeof core_http_default_rates / sizeof core_http_default_rates[0];

struct rate_rule {
    char *pattern;
    double rate, burst;
};

struct bucket {
    char *key;
    double rate, burst, tokens;
    uint64_t last_ms;
};

struct core_http_client {
    struct core_http_options o;
    char *user_agent;
    char *ca_file, *client_cert, *client_key; /* copies of the options' */
    pthread_mutex_t mu;
    struct rate_rule *rules;
    size_t nrules;
    struct bucket *buckets;
    size_t nbuckets;
    char **secrets;
    size_t nsecrets;
    uint64_t rng; /* splitmix64 state for the default random source */
};

/* ---- defaults: clock, sleep, random ---- */

static uint64_t real_now_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void real_sleep_ms(void *ctx, uint64_t ms)
{
    (void)ctx;
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000u), .tv_nsec = (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int64_t real_unix_s(void *ctx)
{
    (void)ctx;
    return (int64_t)time(NULL);
}

static const struct core_http_clock real_clock = {real_now_ms, real_sleep_ms, real_unix_s, NULL};

static uint64_t default_random(void *ctx)
{
    struct core_http_client *c = ctx;
    pthread_mutex_lock(&c->mu);
    uint64_t z = (c->rng += 0x9E3779B97F4A7C15ull);
    pthread_mutex_unlock(&c->mu);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- errors ---- */

const char *core_http_error_class_name(enum core_http_error_class cls)
{
    switch (cls) {
    case CORE_HTTP_OK:
        return "ok";
    case CORE_HTTP_ERR_TRANSIENT:
        return "transient";
    case CORE_HTTP_ERR_TIMEOUT:
        return "timeout";
    case CORE_HTTP_ERR_TLS:
        return "tls";
    case CORE_HTTP_ERR_DNS:
        return "dns";
    case CORE_HTTP_ERR_CONNECT:
        return "connect";
    case CORE_HTTP_ERR_STATUS:
        return "http-status";
    case CORE_HTTP_ERR_TOO_LARGE:
        return "too-large";
    case CORE_HTTP_ERR_INTERNAL:
        return "internal";
    }
    return "internal";
}

static void err_clear(struct core_http_error *err)
{
    memset(err, 0, sizeof *err);
}

static void err_set(struct core_http_error *err, enum core_http_error_class cls, const char *fmt,
                    ...) __attribute__((format(printf, 3, 4)));
static void err_set(struct core_http_error *err, enum core_http_error_class cls, const char *fmt,
                    ...)
{
    err->cls = cls;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

/* ---- responses ---- */

void core_http_response_init(struct core_http_response *resp)
{
    memset(resp, 0, sizeof *resp);
    core_buf_init(&resp->body, DEFAULT_MAX_BYTES);
}

static void headers_clear(struct core_http_response *resp)
{
    for (size_t i = 0; i < resp->nheaders; i++) {
        free(resp->headers[i].name);
        free(resp->headers[i].value);
    }
    free(resp->headers);
    resp->headers = NULL;
    resp->nheaders = 0;
}

void core_http_response_release(struct core_http_response *resp)
{
    if (resp == NULL)
        return;
    headers_clear(resp);
    core_buf_release(&resp->body);
    free(resp->effective_url);
    resp->effective_url = NULL;
    resp->status = 0;
    resp->request_id[0] = '\0';
}

const char *core_http_response_header(const struct core_http_response *resp, const char *name)
{
    const char *found = NULL;
    for (size_t i = 0; i < resp->nheaders; i++)
        if (strcasecmp(resp->headers[i].name, name) == 0)
            found = resp->headers[i].value;
    return found;
}

int core_http_response_add_header(struct core_http_response *resp, const char *name,
                                  const char *value)
{
    struct core_http_header *h = realloc(resp->headers, (resp->nheaders + 1) * sizeof *h);
    if (h == NULL)
        return -1;
    resp->headers = h;
    char *n = strdup(name), *v = strdup(value);
    if (n == NULL || v == NULL) {
        free(n);
        free(v);
        return -1;
    }
    h[resp->nheaders].name = n;
    h[resp->nheaders].value = v;
    resp->nheaders++;
    return 0;
}

static void pick_request_id(struct core_http_response *resp)
{
    static const char *const names[] = {"x-amzn-RequestId", "x-amz-request-id",
                                        "x-ms-request-id",  "x-goog-request-id",
                                        "x-request-id",     "x-cloud-trace-context"};
    resp->request_id[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = core_http_response_header(resp, names[i]);
        if (v != NULL && *v != '\0') {
            snprintf(resp->request_id, sizeof resp->request_id, "%s", v);
            return;
        }
    }
}

/* ---- client ---- */

struct core_http_client *core_http_client_new(const struct core_http_options *opts)
{
    pthread_once(&curl_once, curl_init_once);
    struct core_http_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    if (opts != NULL)
        c->o = *opts;
    if (c->o.connect_timeout_ms <= 0)
        c->o.connect_timeout_ms = DEFAULT_CONNECT_MS;
    if (c->o.timeout_ms <= 0)
        c->o.timeout_ms = DEFAULT_TIMEOUT_MS;
    if (c->o.max_response_bytes == 0)
        c->o.max_response_bytes = DEFAULT_MAX_BYTES;
    if (c->o.max_attempts <= 0)
        c->o.max_attempts = DEFAULT_ATTEMPTS;
    if (c->o.backoff_base_ms == 0)
        c->o.backoff_base_ms = DEFAULT_BASE_MS;
    if (c->o.backoff_cap_ms == 0)
        c->o.backoff_cap_ms = DEFAULT_CAP_MS;
    if (c->o.retry_after_max_ms == 0)
        c->o.retry_after_max_ms = DEFAULT_RETRY_AFTER;
    if (c->o.clock == NULL)
        c->o.clock = &real_clock;
    c->user_agent = strdup(c->o.user_agent != NULL ? c->o.user_agent : "gpuform");
    c->o.user_agent = c->user_agent;
    if (c->o.random_u64 == NULL) {
        c->o.random_u64 = default_random;
        c->o.random_ctx = c;
        if (getrandom(&c->rng, sizeof c->rng, 0) != (ssize_t)sizeof c->rng)
            c->rng = real_now_ms(NULL) ^ (uint64_t)(uintptr_t)c;
    }
    c->ca_file = c->o.ca_file ? strdup(c->o.ca_file) : NULL;
    c->client_cert = c->o.client_cert ? strdup(c->o.client_cert) : NULL;
    c->client_key = c->o.client_key ? strdup(c->o.client_key) : NULL;
    c->o.ca_file = c->ca_file;
    c->o.client_cert = c->client_cert;
    c->o.client_key = c->client_key;
    pthread_mutex_init(&c->mu, NULL);
    if (c->user_agent == NULL || (opts && opts->ca_file && !c->ca_file) ||
        (opts && opts->client_cert && !c->client_cert) ||
        (opts && opts->client_key && !c->client_key)) {
        core_http_client_free(c);
        return NULL;
    }
    if (!c->o.no_default_rates)
        for (size_t i = 0; i < core_http_default_rates_len; i++)
            if (core_http_set_rate(c, core_http_default_rates[i].pattern,
                                   core_http_default_rates[i].rate_per_s,
                                   core_http_default_rates[i].burst) != 0) {
                core_http_client_free(c);
                return NULL;
            }
    return c;
}

static void wipe_free(char *s)
{
    if (s == NULL)
        return;
    volatile char *p = s;
    while (*p != '\0')
        *p++ = '\0';
    free(s);
}

void core_http_client_free(struct core_http_client *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nrules; i++)
        free(c->rules[i].pattern);
    free(c->rules);
    for (size_t i = 0; i < c->nbuckets; i++)
        free(c->buckets[i].key);
    free(c->buckets);
    for (size_t i = 0; i < c->nsecrets; i++)
        wipe_free(c->secrets[i]);
    free(c->secrets);
    free(c->user_agent);
    free(c->ca_file);
    free(c->client_cert);
    free(c->client_key);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* ---- rate limits ---- */

int core_http_set_rate(struct core_http_client *c, const char *pattern, double rate_per_s,
                       double burst)
{
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    size_t i;
    for (i = 0; i < c->nrules; i++)
        if (strcmp(c->rules[i].pattern, pattern) == 0)
            break;
    if (i < c->nrules) {
        /* Replace: move to the end so that it is the most recently set. */
        struct rate_rule r = c->rules[i];
        memmove(&c->rules[i], &c->rules[i + 1], (c->nrules - i - 1) * sizeof r);
        r.rate = rate_per_s;
        r.burst = burst < 1.0 ? 1.0 : burst;
        c->rules[c->nrules - 1] = r;
    } else {
        struct rate_rule *r = realloc(c->rules, (c->nrules + 1) * sizeof *r);
        char *p = strdup(pattern);
        if (r == NULL || p == NULL) {
            if (r != NULL)
                c->rules = r;
            free(p);
            rc = -1;
        } else {
            c->rules = r;
            r[c->nrules].pattern = p;
            r[c->nrules].rate = rate_per_s;
            r[c->nrules].burst = burst < 1.0 ? 1.0 : burst;
            c->nrules++;
        }
    }
    if (rc == 0)
        for (size_t b = 0; b < c->nbuckets; b++)
            if (fnmatch(pattern, c->buckets[b].key, 0) == 0) {
                c->buckets[b].rate = rate_per_s;
                c->buckets[b].burst = burst < 1.0 ? 1.0 : burst;
                if (c->buckets[b].tokens > c->buckets[b].burst)
                    c->buckets[b].tokens = c->buckets[b].burst;
            }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* The bucket of `key`, created from the most recent matching rule; NULL when unlimited (or
 * out of memory, which then means unlimited too). Called with the mutex held. */
static struct bucket *bucket_for(struct core_http_client *c, const char *key, uint64_t now)
{
    for (size_t i = 0; i < c->nbuckets; i++)
        if (strcmp(c->buckets[i].key, key) == 0)
            return c->buckets[i].rate > 0 ? &c->buckets[i] : NULL;
    double rate = 0, burst = 1;
    for (size_t i = c->nrules; i-- > 0;)
        if (fnmatch(c->rules[i].pattern, key, 0) == 0) {
            rate = c->rules[i].rate;
            burst = c->rules[i].burst;
            break;
        }
    struct bucket *b = realloc(c->buckets, (c->nbuckets + 1) * sizeof *b);
    if (b == NULL)
        return NULL;
    c->buckets = b;
    char *k = strdup(key);
    if (k == NULL)
        return NULL;
    b[c->nbuckets] = (struct bucket){k, rate, burst, burst, now};
    c->nbuckets++;
    return rate > 0 ? &b[c->nbuckets - 1] : NULL;
}

uint64_t core_http_now_ms(struct core_http_client *c)
{
    return c->o.clock->now_ms(c->o.clock->ctx);
}

void core_http_sleep_ms(struct core_http_client *c, uint64_t ms)
{
    c->o.clock->sleep_ms(c->o.clock->ctx, ms);
}

int64_t core_http_unix_s(struct core_http_client *c)
{
    return c->o.clock->unix_s(c->o.clock->ctx);
}

uint64_t core_http_rate_acquire(struct core_http_client *c, const char *key)
{
    if (key == NULL)
        return 0;
    const struct core_http_clock *clk = c->o.clock;
    uint64_t waited = 0;
    for (;;) {
        uint64_t now = clk->now_ms(clk->ctx);
        pthread_mutex_lock(&c->mu);
        struct bucket *b = bucket_for(c, key, now);
        if (b == NULL) {
            pthread_mutex_unlock(&c->mu);
            return waited;
        }
        if (now > b->last_ms) {
            b->tokens += (double)(now - b->last_ms) * b->rate / 1000.0;
            if (b->tokens > b->burst)
                b->tokens = b->burst;
            b->last_ms = now;
        }
        if (b->tokens >= 1.0) {
            b->tokens -= 1.0;
            pthread_mutex_unlock(&c->mu);
            return waited;
        }
        double need_ms = ceil((1.0 - b->tokens) * 1000.0 / b->rate);
        pthread_mutex_unlock(&c->mu);
        uint64_t ms = need_ms < 1.0 ? 1 : (uint64_t)need_ms;
        clk->sleep_ms(clk->ctx, ms);
        waited += ms;
    }
}

/* ---- secrets and redaction ---- */

int core_http_add_secret(struct core_http_client *c, const char *secret)
{
    if (secret == NULL || strlen(secret) < 4)
        return 0;
    char *s = strdup(secret);
    if (s == NULL)
        return -1;
    pthread_mutex_lock(&c->mu);
    char **v = realloc(c->secrets, (c->nsecrets + 1) * sizeof *v);
    if (v == NULL) {
        pthread_mutex_unlock(&c->mu);
        wipe_free(s);
        return -1;
    }
    c->secrets = v;
    v[c->nsecrets++] = s;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

static const char *const secret_headers[] = {
    "Authorization", "Proxy-Authorization",       "X-Amz-Security-Token", "X-Goog-Api-Key",
    "X-Api-Key",     "Ocp-Apim-Subscription-Key", "Set-Cookie",           "Cookie",
    "X-Auth-Token",  "Metadata-Flavor-Token",
};

static const char *const secret_params[] = {
    "key",
    "api_key",
    "apikey",
    "access_token",
    "token",
    "sig",
    "signature",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "client_secret",
    "password",
    "code",
    "refresh_token",
    "id_token",
};

static bool is_name_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '-' || ch == '_';
}

/* Length of a header name match "Name:" (spaces allowed before ':') at p, else 0. */
static size_t match_header(const char *p, const char *name)
{
    size_t n = strlen(name);
    if (strncasecmp(p, name, n) != 0)
        return 0;
    size_t i = n;
    while (p[i] == ' ')
        i++;
    return p[i] == ':' ? i + 1 : 0;
}

static size_t match_param(const char *p, const char *name)
{
    size_t n = strlen(name);
    return strncasecmp(p, name, n) == 0 && p[n] == '=' ? n + 1 : 0;
}

static bool value_end(char ch)
{
    return ch == '\0' || ch == '&' || ch == ' ' || ch == '#' || ch == '"' || ch == '\'' ||
           ch == '\n' || ch == '\r' || ch == '\t' || ch == ',' || ch == ')';
}

/* Redacts one position; returns how many input bytes were consumed (0: none matched). */
static size_t redact_at(const struct core_http_client *c, const char *in, size_t i,
                        struct core_buf *out, int *rc)
{
    const char *p = in + i;
    if (c != NULL)
        for (size_t s = 0; s < c->nsecrets; s++) {
            size_t n = strlen(c->secrets[s]);
            if (strncmp(p, c->secrets[s], n) == 0) {
                *rc |= core_buf_adds(out, REDACTED);
                return n;
            }
        }
    char prev = i > 0 ? in[i - 1] : '\0';
    if (prev == '?' || prev == '&' || prev == ';')
        for (size_t k = 0; k < sizeof secret_params / sizeof secret_params[0]; k++) {
            size_t m = match_param(p, secret_params[k]);
            if (m > 0) {
                size_t e = m;
                while (!value_end(p[e]))
                    e++;
                *rc |= core_buf_add(out, p, m);
                *rc |= core_buf_adds(out, REDACTED);
                return e;
            }
        }
    if (i == 0 || !is_name_char(prev))
        for (size_t k = 0; k < sizeof secret_headers / sizeof secret_headers[0]; k++) {
            size_t m = match_header(p, secret_headers[k]);
            if (m > 0) {
                size_t e = m;
                while (p[e] != '\0' && p[e] != '\n' && p[e] != '\r')
                    e++;
                *rc |= core_buf_add(out, p, m);
                *rc |= core_buf_adds(out, " " REDACTED);
                return e;
            }
        }
    if (strncmp(p, "://", 3) == 0) {
        size_t e = 3, at = 0;
        while (p[e] != '\0' && p[e] != '/' && p[e] != '?' && p[e] != '#' &&
               !isspace((unsigned char)p[e])) {
            if (p[e] == '@')
                at = e;
            e++;
        }
        if (at > 0) {
            *rc |= core_buf_adds(out, "://" REDACTED "@");
            return at + 1;
        }
    }
    return 0;
}

int core_http_redact(struct core_http_client *c, const char *in, struct core_buf *out)
{
    core_buf_reset(out);
    int rc = core_buf_adds(out, "");
    if (c != NULL)
        pthread_mutex_lock(&c->mu);
    for (size_t i = 0; in[i] != '\0';) {
        size_t n = redact_at(c, in, i, out, &rc);
        if (n > 0) {
            i += n;
        } else {
            rc |= core_buf_addc(out, in[i]);
            i++;
        }
    }
    if (c != NULL)
        pthread_mutex_unlock(&c->mu);
    return rc != 0 ? -1 : 0;
}

/* Redacts into a fixed array (truncating). */
static void redact_into(struct core_http_client *c, const char *in, char *dst, size_t cap)
{
    struct core_buf b;
    core_buf_init(&b, 1 << 16);
    if (core_http_redact(c, in, &b) == 0)
        snprintf(dst, cap, "%s", core_buf_str(&b));
    else
        snprintf(dst, cap, "(message withheld: too long to redact)");
    core_buf_release(&b);
}

static void logf_(struct core_http_client *c, enum core_http_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void logf_(struct core_http_client *c, enum core_http_log_level lvl, const char *fmt, ...)
{
    if (c->o.log == NULL)
        return;
    char raw[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    char line[2560];
    redact_into(c, raw, line, sizeof line);
    c->o.log(c->o.log_ctx, lvl, line);
}

/* ---- backoff and Retry-After ---- */

uint64_t core_http_backoff_ms(unsigned retry, uint64_t base_ms, uint64_t cap_ms, uint64_t random)
{
    uint64_t ceiling = cap_ms;
    if (retry < 63 && base_ms <= (cap_ms >> retry))
        ceiling = base_ms << retry;
    if (ceiling > cap_ms)
        ceiling = cap_ms;
    if (ceiling == UINT64_MAX)
        return random;
    return random % (ceiling + 1);
}

int core_http_parse_retry_after(const char *value, int64_t now_unix_s, uint64_t *ms)
{
    if (value == NULL)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (isdigit((unsigned char)*value)) {
        uint64_t s = 0;
        const char *p = value;
        for (; isdigit((unsigned char)*p); p++) {
            if (s > UINT64_MAX / 10000u)
                return -1;
            s = s * 10 + (uint64_t)(*p - '0');
        }
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '\0')
            return -1;
        *ms = s * 1000u;
        return 0;
    }
    static const char *const formats[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                                          "%a %b %e %H:%M:%S %Y"};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *end = strptime(value, formats[i], &tm);
        if (end == NULL)
            continue;
        while (*end == ' ' || *end == '\t')
            end++;
        if (*end != '\0')
            continue;
        int64_t t = (int64_t)timegm(&tm);
        *ms = t > now_unix_s ? (uint64_t)(t - now_unix_s) * 1000u : 0;
        return 0;
    }
    return -1;
}

uint64_t core_http_retry_delay_ms(struct core_http_client *c, unsigned retry,
                                  const char *retry_after)
{
    uint64_t r = c->o.random_u64(c->o.random_ctx);
    uint64_t d = core_http_backoff_ms(retry, c->o.backoff_base_ms, c->o.backoff_cap_ms, r);
    uint64_t ra;
    const struct core_http_clock *clk = c->o.clock;
    if (retry_after != NULL &&
        core_http_parse_retry_after(retry_after, clk->unix_s(clk->ctx), &ra) == 0 && ra > d)
        d = ra;
    return d;
}

/* ---- the libcurl transport ---- */

struct curl_ctx {
    const struct core_http_request *req;
    struct core_http_response *resp;
    size_t max, got;
    bool too_large, aborted;
};

static size_t on_write(char *data, size_t size, size_t n, void *userdata)
{
    struct curl_ctx *x = userdata;
    size_t len = size * n;
    if (x->got + len > x->max) {
        x->too_large = true;
        return 0;
    }
    x->got += len;
    if (x->req->on_body != NULL) {
        if (x->req->on_body(x->req->body_ctx, data, len) != 0) {
            x->aborted = true;
            return 0;
        }
        return len;
    }
    if (core_buf_add(&x->resp->body, data, len) != 0) {
        x->too_large = true;
        return 0;
    }
    return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *userdata)
{
    struct curl_ctx *x = userdata;
    size_t len = size * n;
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        headers_clear(x->resp); /* a new reply (after a redirect or a 100 Continue) */
        return len;
    }
    const char *colon = memchr(data, ':', len);
    if (colon == NULL)
        return len;
    size_t nl = (size_t)(colon - data);
    const char *v = colon + 1;
    size_t vl = len - nl - 1;
    while (vl > 0 && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    char *name = strndup(data, nl), *value = strndup(v, vl);
    if (name != NULL && value != NULL && core_http_response_add_header(x->resp, name, value) != 0) {
        free(name);
        free(value);
        return 0;
    }
    free(name);
    free(value);
    return len;
}

static void classify_curl(CURLcode cc, CURL *h, const struct curl_ctx *x,
                          struct core_http_error *err)
{
    err->curl_code = (int)cc;
    curl_off_t pre = 0;
    curl_easy_getinfo(h, CURLINFO_PRETRANSFER_TIME_T, &pre);
    err->sent = pre > 0;
    const char *what = curl_easy_strerror(cc);
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        err->sent = false;
        err_set(err, CORE_HTTP_ERR_DNS, "could not resolve the host name (%s)", what);
        break;
    case CURLE_COULDNT_CONNECT:
        err->sent = false;
        err_set(err, CORE_HTTP_ERR_CONNECT, "could not connect (%s)", what);
        break;
    case CURLE_OPERATION_TIMEDOUT:
        err_set(err, CORE_HTTP_ERR_TIMEOUT, "timed out (%s)", what);
        break;
    case CURLE_SSL_CONNECT_ERROR:
        err->sent = false;
        err_set(err, CORE_HTTP_ERR_TLS, "TLS handshake failed (%s)", what);
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        err->sent = false;
        err_set(err, CORE_HTTP_ERR_TLS, "the server's certificate was not accepted (%s)", what);
        break;
    case CURLE_WRITE_ERROR:
        if (x->too_large)
            err_set(err, CORE_HTTP_ERR_TOO_LARGE, "reply larger than the limit of %zu bytes",
                    x->max);
        else if (x->aborted)
            err_set(err, CORE_HTTP_ERR_INTERNAL, "aborted by the caller");
        else
            err_set(err, CORE_HTTP_ERR_INTERNAL, "out of memory reading the reply");
        break;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        err->sent = true;
        err_set(err, CORE_HTTP_ERR_TRANSIENT, "connection failed during the exchange (%s)", what);
        break;
    default:
        err_set(err, CORE_HTTP_ERR_INTERNAL, "%s", what);
        break;
    }
}

struct curl_setup {
    const struct core_http_client *c;
    long connect_ms, timeout_ms;
};

static int curl_transport(const struct curl_setup *s, const struct core_http_request *req,
                          struct core_http_response *resp, struct core_http_error *err)
{
    CURL *h = curl_easy_init();
    if (h == NULL) {
        err_set(err, CORE_HTTP_ERR_INTERNAL, "out of memory (curl_easy_init)");
        return -1;
    }
    struct curl_ctx x = {req, resp, resp->body.max, 0, false, false};
    struct curl_slist *hl = NULL;
    int rc = 0;
    for (const char *const *p = req->headers; p != NULL && *p != NULL; p++) {
        struct curl_slist *n = curl_slist_append(hl, *p);
        if (n == NULL) {
            err_set(err, CORE_HTTP_ERR_INTERNAL, "out of memory (headers)");
            rc = -1;
            goto done;
        }
        hl = n;
    }
    const char *method = req->method != NULL ? req->method : "GET";
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, s->connect_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, s->timeout_ms);
    curl_easy_setopt(h, CURLOPT_USERAGENT, s->c->o.user_agent);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    if (req->follow_redirects) {
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    }
    if (s->c->o.ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, s->c->o.ca_file);
    if (s->c->o.client_cert)
        curl_easy_setopt(h, CURLOPT_SSLCERT, s->c->o.client_cert);
    if (s->c->o.client_key)
        curl_easy_setopt(h, CURLOPT_SSLKEY, s->c->o.client_key);
    if (s->c->o.insecure_loopback_only) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        if (req->body != NULL || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body != NULL ? req->body : "");
        }
    }
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        classify_curl(cc, h, &x, err);
        rc = -1;
        goto done;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    char *eff = NULL;
    if (curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff != NULL)
        resp->effective_url = strdup(eff);
done:
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    return rc;
}

/* ---- the retry loop ---- */

static bool is_loopback_url(const char *url)
{
    const char *p = strstr(url, "://");
    if (p == NULL)
        return false;
    p += 3;
    const char *at = strpbrk(p, "@/");
    if (at != NULL && *at == '@')
        p = at + 1;
    static const char *const hosts[] = {"127.0.0.1", "localhost", "[::1]"};
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        size_t n = strlen(hosts[i]);
        if (strncasecmp(p, hosts[i], n) == 0 &&
            (p[n] == ':' || p[n] == '/' || p[n] == '\0' || p[n] == '?'))
            return true;
    }
    return false;
}

static bool status_retryable(long status)
{
    return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

static bool error_retryable(const struct core_http_error *e, bool idempotent)
{
    switch (e->cls) {
    case CORE_HTTP_ERR_DNS:
    case CORE_HTTP_ERR_CONNECT:
        return true;
    case CORE_HTTP_ERR_TLS:
        return e->curl_code == (int)CURLE_SSL_CONNECT_ERROR || (!e->sent && e->curl_code == 0);
    case CORE_HTTP_ERR_TIMEOUT:
    case CORE_HTTP_ERR_TRANSIENT:
        return idempotent || !e->sent;
    default:
        return false;
    }
}

/* Builds "METHOD URL: detail" into err->message, redacted. */
static void finish_message(struct core_http_client *c, const char *method, const char *url,
                           struct core_http_error *err, const char *detail)
{
    char raw[2048];
    if (err->attempts > 1)
        snprintf(raw, sizeof raw, "%s %s: %s (after %d attempts)", method, url, detail,
                 err->attempts);
    else
        snprintf(raw, sizeof raw, "%s %s: %s", method, url, detail);
    redact_into(c, raw, err->message, sizeof err->message);
}

int core_http_do(struct core_http_client *c, const struct core_http_request *req,
                 struct core_http_response *resp, struct core_http_error *err_out)
{
    struct core_http_error scratch;
    struct core_http_error *err = err_out != NULL ? err_out : &scratch;
    err_clear(err);
    core_http_response_init(resp);
    const char *method = req->method != NULL ? req->method : "GET";
    if (req->url == NULL ||
        (strncmp(req->url, "http://", 7) != 0 && strncmp(req->url, "https://", 8) != 0)) {
        err->cls = CORE_HTTP_ERR_INTERNAL;
        finish_message(c, method, req->url != NULL ? req->url : "(no URL)", err,
                       "not an http:// or https:// URL");
        return -1;
    }
    if (c->o.insecure_loopback_only && !is_loopback_url(req->url)) {
        err->cls = CORE_HTTP_ERR_TLS;
        finish_message(c, method, req->url, err,
                       "TLS verification is off, which is allowed only for loopback hosts");
        return -1;
    }
    const struct core_http_clock *clk = c->o.clock;
    struct curl_setup setup = {
        c, req->connect_timeout_ms > 0 ? req->connect_timeout_ms : c->o.connect_timeout_ms,
        req->timeout_ms > 0 ? req->timeout_ms : c->o.timeout_ms};
    size_t max = req->max_response_bytes > 0 ? req->max_response_bytes : c->o.max_response_bytes;
    int attempts = req->max_attempts > 0 ? req->max_attempts : c->o.max_attempts;
    for (int attempt = 1;; attempt++) {
        core_http_response_release(resp);
        core_buf_init(&resp->body, max);
        err->attempts = attempt;
        resp->attempts = attempt;
        core_http_rate_acquire(c, req->rate_key);
        struct core_http_error e;
        err_clear(&e);
        uint64_t t0 = clk->now_ms(clk->ctx);
        int rc = c->o.transport != NULL ? c->o.transport(c->o.transport_ctx, req, resp, &e)
                                        : curl_transport(&setup, req, resp, &e);
        uint64_t took = clk->now_ms(clk->ctx) - t0;
        bool last = attempt >= attempts;
        bool streamed_some = req->on_body != NULL && req->on_body_reset == NULL;
        const char *retry_after = NULL;
        if (rc == 0) {
            pick_request_id(resp);
            logf_(c, CORE_HTTP_LOG_DEBUG, "%s %s -> %ld (request id %s, %llu ms)", method, req->url,
                  resp->status, resp->request_id[0] ? resp->request_id : "none",
                  (unsigned long long)took);
            if (resp->status < 400)
                return 0;
            /* a should_retry hook decides alone: it knows the API's error codes */
            bool retry = req->idempotent &&
                         (req->should_retry != NULL ? req->should_retry(req->retry_ctx, resp)
                                                    : status_retryable(resp->status));
            char detail[256];
            snprintf(detail, sizeof detail, "HTTP %ld%s%s%s", resp->status,
                     resp->request_id[0] ? " (request id " : "", resp->request_id,
                     resp->request_id[0] ? ")" : "");
            err->cls = CORE_HTTP_ERR_STATUS;
            err->status = resp->status;
            err->sent = true;
            if (!retry || last || streamed_some) {
                finish_message(c, method, req->url, err, detail);
                return -1;
            }
            retry_after = core_http_response_header(resp, "Retry-After");
            if (retry_after != NULL) {
                uint64_t ra;
                if (core_http_parse_retry_after(retry_after, clk->unix_s(clk->ctx), &ra) == 0 &&
                    ra > c->o.retry_after_max_ms) {
                    char d2[400];
                    snprintf(d2, sizeof d2,
                             "%s, Retry-After %llu s is longer than the %llu s allowed", detail,
                             (unsigned long long)(ra / 1000),
                             (unsigned long long)(c->o.retry_after_max_ms / 1000));
                    finish_message(c, method, req->url, err, d2);
                    return -1;
                }
            }
        } else {
            *err = e;
            err->attempts = attempt;
            logf_(c, CORE_HTTP_LOG_DEBUG, "%s %s -> %s (%llu ms)", method, req->url, e.message,
                  (unsigned long long)took);
            bool partial = req->on_body != NULL && err->sent;
            if (!error_retryable(&e, req->idempotent) || last || (partial && streamed_some)) {
                finish_message(c, method, req->url, err, e.message);
                return -1;
            }
        }
        uint64_t delay = core_http_retry_delay_ms(c, (unsigned)(attempt - 1), retry_after);
        logf_(c, CORE_HTTP_LOG_INFO, "%s %s: attempt %d failed (%s); retrying in %llu ms", method,
              req->url, attempt, rc == 0 ? "HTTP status" : core_http_error_class_name(err->cls),
              (unsigned long long)delay);
        if (req->on_body_reset != NULL)
            req->on_body_reset(req->body_ctx);
        if (delay > 0)
            clk->sleep_ms(clk->ctx, delay);
    }
}

int core_http_get(struct core_http_client *c, const char *url, struct core_http_response *resp,
                  struct core_http_error *err)
{
    struct core_http_request req = {.method = "GET", .url = url, .idempotent = true};
    return core_http_do(c, &req, resp, err);
}
