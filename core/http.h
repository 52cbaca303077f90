/*
 * The one HTTP client of gpuform: a thin wrapper over libcurl so that timeouts, TLS,
 * retries (exponential backoff with full jitter, Retry-After), client-side rate limits,
 * request-id logging and secret redaction live in one place. Every cloud API and price
 * source goes through it. Time, sleep, randomness and the transport itself can be
 * replaced, so retries and rate limits are tested with a fake clock and canned replies.
 *
 * Typical use:
 *
 *     struct core_http_client *c = core_http_client_new(NULL);   // defaults
 *     core_http_set_rate(c, "aws/us-east-1/ec2:RunInstances", 2.0, 5);
 *     struct core_http_request rq = { .method = "POST", .url = url, .headers = hdrs,
 *                                     .body = body, .body_len = n, .idempotent = true,
 *                                     .rate_key = "aws/us-east-1/ec2:RunInstances" };
 *     struct core_http_response rs;
 *     struct core_http_error err;
 *     if (core_http_do(c, &rq, &rs, &err) != 0)
 *         fprintf(stderr, "error: %s\n", err.message);     // redacted, names the URL
 *     else
 *         use(rs.status, core_buf_str(&rs.body), core_http_response_header(&rs, "Date"));
 *     core_http_response_release(&rs);
 *     core_http_client_free(c);
 *
 * A client is thread-safe: many threads may call core_http_do on one client at once (each
 * call uses its own curl handle; the rate limiter and secret list are behind a mutex).
 * Configure it (set_rate, add_secret) before sharing it, or at any time: both lock.
 */
#ifndef GPUFORM_CORE_HTTP_H
#define GPUFORM_CORE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* ---- errors ---- */

enum core_http_error_class {
    CORE_HTTP_OK = 0,
    CORE_HTTP_ERR_TRANSIENT, /* connection reset, partial reply, send/recv error, 5xx-ish */
    CORE_HTTP_ERR_TIMEOUT,   /* connect or total timeout */
    CORE_HTTP_ERR_TLS,       /* certificate not trusted, handshake failed */
    CORE_HTTP_ERR_DNS,       /* host (or proxy) name did not resolve */
    CORE_HTTP_ERR_CONNECT,   /* connection refused / unreachable */
    CORE_HTTP_ERR_STATUS,    /* a reply arrived with a status >= 400 (after retries) */
    CORE_HTTP_ERR_TOO_LARGE, /* reply body over the request's max_response_bytes */
    CORE_HTTP_ERR_INTERNAL,  /* bad argument, out of memory, other libcurl errors */
};

struct core_http_error {
    enum core_http_error_class cls;
    long status;       /* the HTTP status for CORE_HTTP_ERR_STATUS, else 0 */
    int curl_code;     /* the CURLcode, 0 when not from libcurl */
    bool sent;         /* the request may have reached the server (so retrying a
                          non-idempotent request could repeat it) */
    int attempts;      /* attempts made, retries included */
    char message[768]; /* "GET https://host/path?key=[redacted]: connection refused
                          (after 3 attempts)": lowercase, secrets redacted */
};

/* "transient", "timeout", "tls", "dns", "connect", "http-status", "too-large",
 * "internal" ("ok" for CORE_HTTP_OK). Static string. */
const char *core_http_error_class_name(enum core_http_error_class cls);

/* ---- requests and responses ---- */

struct core_http_header {
    char *name;  /* as received, e.g. "x-amzn-RequestId"; owned by the response */
    char *value; /* trimmed of surrounding blanks */
};

/*
 * Optional streaming of the reply body: when a request sets on_body, the body is handed to
 * it chunk by chunk instead of being kept in the response (the response body stays empty;
 * max_response_bytes still caps the total). Return 0 to go on, non-zero to abort (the
 * call then fails with CORE_HTTP_ERR_INTERNAL, message "aborted by the caller").
 * on_body_reset is called before a retry re-sends the request, so the caller can drop what
 * it got from the failed attempt; when it is NULL, a request with on_body is not retried
 * once it was sent (an error status or a failure mid-transfer is final).
 */
typedef int (*core_http_body_fn)(void *ctx, const void *data, size_t len);
typedef void (*core_http_body_reset_fn)(void *ctx);

struct core_http_response; /* below */

/* Decides whether a reply (status >= 400) should be retried, for APIs whose error codes
 * say more than the status: EC2 sends InsufficientInstanceCapacity as a 500 that is not
 * worth repeating, some APIs report throttling as a 400. When set, it decides alone (the
 * default retryable statuses no longer apply). Return true to retry. Only consulted when
 * the request may be retried (idempotent). */
typedef bool (*core_http_retry_fn)(void *ctx, const struct core_http_response *resp);

struct core_http_request {
    const char *method; /* "GET" (default when NULL), "POST", "PUT", "DELETE", "HEAD", ... */
    const char *url;    /* absolute http:// or https:// URL, query already encoded */
    /* Request headers as "Name: value" strings (curl's form); NULL-terminated, may be
     * NULL. Values of secret headers (Authorization, X-Amz-Security-Token, ...) are
     * redacted in every log line and message. */
    const char *const *headers;
    const void *body; /* request body, or NULL; not copied, must outlive the call */
    size_t body_len;
    /* The request may be sent again after it possibly reached the server (GET, a PUT, a
     * RunInstances with a ClientToken). When false, only failures known to be before
     * sending (DNS, connect, TLS handshake) are retried. */
    bool idempotent;
    /* Token-bucket key, conventionally "cloud/region/family", e.g.
     * "aws/us-east-1/ec2:RunInstances". NULL: not rate limited. One token per attempt;
     * see core_http_set_rate. */
    const char *rate_key;
    long connect_timeout_ms;   /* 0: the client's (default 10 s) */
    long timeout_ms;           /* total per attempt; 0: the client's (default 60 s) */
    size_t max_response_bytes; /* 0: the client's (default 64 MiB) */
    int max_attempts;          /* 0: the client's (default 5); 1 = no retry */
    bool follow_redirects;     /* follow up to 5 redirects (default: no) */
    core_http_body_fn on_body; /* optional streaming, see above */
    core_http_body_reset_fn on_body_reset;
    void *body_ctx;
    core_http_retry_fn should_retry; /* optional, see above: replaces the status rule */
    void *retry_ctx;
};

struct core_http_response {
    long status;                      /* 200, 404, ...; 0 when no reply arrived */
    struct core_buf body;             /* the reply body (empty with on_body), NUL-terminated */
    struct core_http_header *headers; /* of the final reply only (not of redirects) */
    size_t nheaders;
    /* The first of x-amzn-RequestId, x-amz-request-id, x-ms-request-id,
     * x-goog-request-id, x-request-id, x-cloud-trace-context found; "" when none. */
    char request_id[128];
    int attempts;        /* attempts made */
    char *effective_url; /* after redirects; owned, may be NULL */
};

/* Initialises an empty response (core_http_do does it too). */
void core_http_response_init(struct core_http_response *resp);

/* Frees what the response holds; it may be reused after. NULL is a no-op. */
void core_http_response_release(struct core_http_response *resp);

/* The value of the last header named `name` (case-insensitive), or NULL. Borrowed. */
const char *core_http_response_header(const struct core_http_response *resp, const char *name);

/* Adds a header to a response (used by transports, including test transports).
 * 0, or -1 when out of memory. */
int core_http_response_add_header(struct core_http_response *resp, const char *name,
                                  const char *value);

/* ---- injectable time, randomness, transport and logging ---- */

struct core_http_clock {
    uint64_t (*now_ms)(void *ctx);            /* monotonic milliseconds */
    void (*sleep_ms)(void *ctx, uint64_t ms); /* sleep (a fake clock just advances) */
    int64_t (*unix_s)(void *ctx);             /* wall clock, seconds since 1970, for
                                                 Retry-After given as an HTTP-date */
    void *ctx;
};

/*
 * Sends one attempt. Fills resp (status, headers, body; the body already initialised with
 * the request's cap) and returns 0 when a reply arrived, whatever its status; or fills err
 * (cls, curl_code, sent, a message without the URL: core_http_do prefixes it) and returns
 * -1. When req->on_body is set, a transport hands the body to it (returning -1 with
 * CORE_HTTP_ERR_INTERNAL when it refuses) instead of filling resp->body. The default
 * transport is libcurl; tests set one that replays canned replies.
 */
typedef int (*core_http_transport_fn)(void *ctx, const struct core_http_request *req,
                                      struct core_http_response *resp, struct core_http_error *err);

enum core_http_log_level { CORE_HTTP_LOG_DEBUG, CORE_HTTP_LOG_INFO, CORE_HTTP_LOG_WARN };

/* Receives one line per attempt ("POST https://ec2.us-east-1.amazonaws.com/ -> 503
 * (request id 1a2b..., 120 ms); retrying in 850 ms"), retries and failures. Lines are
 * redacted before the callback sees them; no trailing newline. May be called from any
 * thread that calls core_http_do. */
typedef void (*core_http_log_fn)(void *ctx, enum core_http_log_level level, const char *line);

struct core_http_options {
    long connect_timeout_ms;     /* 0: 10,000 */
    long timeout_ms;             /* 0: 60,000 (total, per attempt) */
    size_t max_response_bytes;   /* 0: 64 MiB */
    int max_attempts;            /* 0: 5 (first try + 4 retries) */
    uint64_t backoff_base_ms;    /* 0: 200; attempt n (0-based retry) waits U[0, min(cap,
                                    base * 2^n)] ("full jitter") */
    uint64_t backoff_cap_ms;     /* 0: 20,000 */
    uint64_t retry_after_max_ms; /* 0: 120,000; a longer Retry-After is not waited for:
                                    the call fails with the reply */
    const char *user_agent;      /* the User-Agent header (copied); NULL: "gpuform" */
    /* Turns TLS peer and host verification off. Only for tests against loopback:
     * core_http_do refuses (CORE_HTTP_ERR_TLS) any other host while it is set. */
    bool insecure_loopback_only;
    /* TLS files (copied): a CA bundle to trust instead of the system's (PEM), and a client
     * certificate with its private key (PEM) for servers that authenticate clients by
     * certificate (etcd with --client-cert-auth). NULL: none. */
    const char *ca_file;
    const char *client_cert;
    const char *client_key;
    bool no_default_rates;               /* do not install core_http_default_rates */
    const struct core_http_clock *clock; /* NULL: the real clock (CLOCK_MONOTONIC, nanosleep) */
    uint64_t (*random_u64)(void *ctx);   /* NULL: a thread-safe PRNG seeded from
                                            getrandom(); used only for jitter */
    void *random_ctx;
    core_http_transport_fn transport; /* NULL: libcurl */
    void *transport_ctx;
    core_http_log_fn log; /* NULL: no logging */
    void *log_ctx;
};

/* ---- the client ---- */

struct core_http_client; /* opaque */

/* A client with these options (copied; NULL = all defaults), or NULL when out of memory.
 * Calls curl_global_init once per process (thread-safely). */
struct core_http_client *core_http_client_new(const struct core_http_options *opts);

/* Frees the client. NULL is a no-op. No call may be in flight. */
void core_http_client_free(struct core_http_client *c);

/*
 * Performs the request with retries:
 *  - an attempt first takes a token from the rate_key's bucket (sleeping on the client's
 *    clock until one is there);
 *  - retried: 429 and 503 (waiting the larger of Retry-After, in seconds or as an HTTP-date,
 *    and the jittered backoff: core_http_retry_delay_ms), 500, 502, 504, a reply
 *    should_retry accepts (when set, instead of the statuses), timeouts and transient transport
 * errors — all only when the request is idempotent; DNS, connect and TLS-handshake failures (not
 * sent) always;
 *  - not retried: other statuses, TLS certificate errors, too-large replies.
 * Returns 0 when a reply with status < 400 arrived (resp holds it), -1 otherwise: err says
 * why; resp still holds the last reply when there was one (err->cls CORE_HTTP_ERR_STATUS),
 * so callers can parse an API's error body. Always release resp, success or not.
 * err may be NULL.
 */
int core_http_do(struct core_http_client *c, const struct core_http_request *req,
                 struct core_http_response *resp, struct core_http_error *err);

/* A GET with the client's defaults, marked idempotent (so retried). Same contract. */
int core_http_get(struct core_http_client *c, const char *url, struct core_http_response *resp,
                  struct core_http_error *err);

/* ---- the client's clock, for callers that poll ---- */

/* The client's monotonic clock in milliseconds (the injected one in tests). */
uint64_t core_http_now_ms(struct core_http_client *c);

/* Sleeps `ms` on the client's clock (a fake clock just advances), as retries do: for callers
 * that wait between polls of a long-running operation. */
void core_http_sleep_ms(struct core_http_client *c, uint64_t ms);

/* The client's wall clock in seconds since 1970 (for Retry-After dates, expiry times). */
int64_t core_http_unix_s(struct core_http_client *c);

/* ---- rate limits ---- */

// Sets the token bucket for keys matching `pattern`, an fnmatch(3) pattern: with
// "aws/*/ec2:RunInstances" every region's key ("aws/us-east-1/ec2:RunInstances") gets its own
// bucket with this setting. `rate_per_s` tokens per second, at most `burst` tokens (at least
// 1); a bucket starts full. Setting a pattern again replaces its setting, also for the
// buckets already made from keys it matches (their tokens capped at the new burst); for a
// new key, the most recently set matching pattern wins. rate_per_s <= 0 means unlimited.
// 0, or -1 when out of memory. (Line comments: a pattern's star-slash would end a block.)
int core_http_set_rate(struct core_http_client *c, const char *pattern, double rate_per_s,
                       double burst);

/* Takes one token from the bucket of `key` (NULL or unlimited: returns at once), sleeping on
 * the client's clock until there is one. Returns the milliseconds waited. Thread-safe;
 * waiters are served in no particular order. core_http_do calls it per attempt. */
uint64_t core_http_rate_acquire(struct core_http_client *c, const char *key);

/* The documented defaults installed in every client (unless no_default_rates), from AWS's
 * EC2 API throttling page (../shared/research/anchors_perf.md): request-token buckets
 * per account and region. Patterns follow the "cloud/region/family" convention with the
 * EC2 action as "ec2:Action". */
struct core_http_rate_default {
    const char *pattern;
    double rate_per_s;
    double burst;
};
extern const struct core_http_rate_default core_http_default_rates[];
extern const size_t core_http_default_rates_len;

/* ---- secrets ---- */

/* Adds a literal secret (an API key, a token) that is replaced by "[redacted]" wherever it
 * appears in a log line or message of this client. Copied (the copy is wiped on free).
 * Strings shorter than 4 bytes are ignored. 0, or -1 when out of memory. */
int core_http_add_secret(struct core_http_client *c, const char *secret);

/*
 * Redacts `in` into `out` (cleared first): values of secret headers ("Authorization: ...",
 * "X-Amz-Security-Token: ...", "X-Goog-Api-Key", "Ocp-Apim-Subscription-Key", "Cookie",
 * "Proxy-Authorization", "x-api-key"), secret query parameters (key, api_key, apikey,
 * access_token, token, sig, signature, X-Amz-Signature, X-Amz-Credential,
 * X-Amz-Security-Token, client_secret, password; case-insensitive), URL user:password@,
 * and `c`'s literal secrets (c may be NULL) all become "[redacted]". -1 when `out` is full.
 */
int core_http_redact(struct core_http_client *c, const char *in, struct core_buf *out);

/* ---- the pure parts, exposed for tests and for callers with their own loops ---- */

/* Full-jitter backoff for retry number `retry` (0 = first retry): a uniform draw in
 * [0, min(cap_ms, base_ms * 2^retry)] from `random`. */
uint64_t core_http_backoff_ms(unsigned retry, uint64_t base_ms, uint64_t cap_ms, uint64_t random);

/* Parses a Retry-After value: delta-seconds ("120") or an HTTP-date ("Wed, 21 Oct 2015
 * 07:28:00 GMT", also the obsolete RFC 850 and asctime forms), relative to now_unix_s.
 * Sets *ms (0 for a date in the past) and returns 0; -1 when the value is not valid. */
int core_http_parse_retry_after(const char *value, int64_t now_unix_s, uint64_t *ms);

/* The delay before retry number `retry` after a reply carrying `retry_after` (may be NULL):
 * max(Retry-After, full-jitter backoff). */
uint64_t core_http_retry_delay_ms(struct core_http_client *c, unsigned retry,
                                  const char *retry_after);

#endif
