/*
 * GCP credentials the way Google's client libraries find them (Application Default
 * Credentials): a service-account key file named by GOOGLE_APPLICATION_CREDENTIALS, else
 * gcloud's well-known ADC file, else the metadata server when running on a GCE VM. A
 * service account signs a JWT (RS256, OpenSSL) and trades it at its token_uri for an OAuth2
 * access token (the jwt-bearer grant); gcloud's user credentials trade their refresh token;
 * the metadata server hands tokens out directly. Tokens are cached and refreshed before they
 * expire, behind a mutex. Private keys, client secrets, refresh tokens and access tokens live
 * in memory that is wiped when freed and never reach a message or a log.
 */
#ifndef GPUFORM_MODULES_GCP_GCP_AUTH_H
#define GPUFORM_MODULES_GCP_GCP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "modules/provider.h"

struct core_http_client;
struct evp_pkey_st;

/* Google's OAuth2 token endpoint, the default token_uri. */
#define GCP_TOKEN_URI "https://oauth2.googleapis.com/token"
/* The scope gpuform asks for: Compute Engine read and write. */
#define GCP_SCOPE_COMPUTE "https://www.googleapis.com/auth/compute"

enum gcp_cred_kind {
    GCP_CRED_SERVICE_ACCOUNT, /* a key file of "type": "service_account" */
    GCP_CRED_AUTHORIZED_USER, /* gcloud's ADC file of "type": "authorized_user" */
    GCP_CRED_METADATA,        /* the GCE metadata server */
};

struct gcp_credentials {
    enum gcp_cred_kind kind;
    char client_email[256]; /* the service account; "" otherwise */
    char private_key_id[128];
    struct evp_pkey_st *pkey; /* the service account's private key (OpenSSL's EVP_PKEY) */
    char *client_id;          /* authorized_user */
    char *client_secret;      /* authorized_user; wiped */
    char *refresh_token;      /* authorized_user; wiped */
    char token_uri[512];      /* where tokens come from (the metadata server's token URL) */
    char project_id[128];     /* the key's project ("" when the file has none) */
    char source[320];         /* "/home/u/key.json", "metadata server 169.254.169.254" */
};

/* Reads the environment through this function, so tests can pass their own. */
typedef const char *(*gcp_getenv_fn)(const char *name, void *ctx);

/*
 * Reads a credentials file's JSON (service_account or authorized_user). `source` names it in
 * messages. 0 with *out filled (release it), or -1 with `why` saying what is wrong and where
 * (never a secret).
 */
int gcp_credentials_parse(const char *json, size_t len, const char *source,
                          struct gcp_credentials *out, char *why, size_t whylen);

/*
 * Finds credentials: `key_file` when it is not NULL (the stack's credentials_file), else
 * GOOGLE_APPLICATION_CREDENTIALS (a file that must be readable and valid), else
 * CLOUDSDK_CONFIG/application_default_credentials.json or
 * ~/.config/gcloud/application_default_credentials.json, else the metadata server
 * (GCE_METADATA_HOST, or metadata.google.internal when /sys/class/dmi/id/product_name says
 * Google Compute Engine). 0 with *out filled, or -1 with `why` naming where it looked and
 * what to do. `getenv_fn` NULL: the real environment. `dmi_path` NULL: the real one.
 */
int gcp_credentials_find(gcp_getenv_fn getenv_fn, void *ctx, const char *dmi_path,
                         const char *key_file, struct gcp_credentials *out, char *why,
                         size_t whylen);

/* Wipes and frees what the credentials hold; the struct may be reused. */
void gcp_credentials_release(struct gcp_credentials *c);

/*
 * The signed JWT a service account trades for a token: header {"alg": "RS256", "typ":
 * "JWT", "kid": private_key_id}, claims {"iss": client_email, "scope": scope, "aud": aud,
 * "iat": now, "exp": now + 3600}, RS256 over "HEADER.CLAIMS" (base64url, no padding).
 * malloc'd, or NULL with `why` filled (not a service account, a signing failure).
 */
char *gcp_jwt_sign(const struct gcp_credentials *c, const char *scope, const char *aud, int64_t now,
                   char *why, size_t whylen);

/* base64url without padding of data[0..len), malloc'd (NULL when out of memory). */
char *gcp_base64url(const void *data, size_t len);

/* ---- the token source ---- */

struct gcp_token_source;

struct gcp_token_options {
    const char *scope;     /* NULL: GCP_SCOPE_COMPUTE */
    const char *token_uri; /* NULL: the credentials' own */
    /* Wall clock in Unix seconds; NULL: time(2). Tests pass a fake one. */
    int64_t (*now)(void *ctx);
    void *now_ctx;
};

/*
 * A token source over `cred` (taken: the source owns and releases it, *cred is zeroed) and
 * `http` (borrowed; every token it gets is added to the client's secrets, so no log line
 * carries one). NULL when out of memory (cred is released then too).
 */
struct gcp_token_source *gcp_token_source_new(struct gcp_credentials *cred,
                                              struct core_http_client *http,
                                              const struct gcp_token_options *o);

/* Frees the source and wipes its credentials and token; NULL is a no-op. */
void gcp_token_source_free(struct gcp_token_source *ts);

/* The credentials the source uses (for their project and source). */
const struct gcp_credentials *gcp_token_source_credentials(const struct gcp_token_source *ts);

/*
 * Writes "Authorization: Bearer TOKEN" into out[outlen], fetching a token when there is none
 * or the cached one expires within five minutes (half its lifetime when that is shorter).
 * Thread-safe: one fetch at a time, the others wait for it. 0, or -1 with `err` set: class
 * auth when the token endpoint refuses (invalid_grant: the message says why), transient when
 * it can't be reached or answers 5xx.
 */
int gcp_token_header(struct gcp_token_source *ts, char *out, size_t outlen, struct prov_error *err);

/* Drops the cached token (after a 401), so the next call fetches a new one. */
void gcp_token_invalidate(struct gcp_token_source *ts);

/* How many tokens the source fetched (for tests of the cache). */
unsigned gcp_token_fetches(const struct gcp_token_source *ts);

#endif
