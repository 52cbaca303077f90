/*
 * AWS Signature Version 4, both ways: the AWS provider signs its requests, cloudsim
 * verifies them with the same code (so the two can't drift apart). Checked case by case
 * against AWS's official suite (shared/data/sigv4, tests/unit/test_aws_sigv4.c).
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
 */
#ifndef GPUFORM_MODULES_AWS_SIGV4_H
#define GPUFORM_MODULES_AWS_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct sigv4_header {
    const char *name;
    const char *value;
};

/* A request as it goes on the wire. */
struct sigv4_request {
    const char *method; /* "GET", "POST" */
    const char *path;   /* as on the request line, without the query: "/", "/a b/../c" */
    const char *query;  /* the raw query string without '?'; NULL or "" for none */
    const struct sigv4_header *headers; /* as sent, Host included; duplicates allowed */
    size_t nheaders;
    const void *body;
    size_t body_len;
};

struct sigv4_params {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* NULL without one */
    const char *region;        /* "us-east-1" */
    const char *service;       /* "ec2" */
    const char *amz_date;      /* "20150830T123600Z" (sigv4_amz_date) */
    bool normalize_path;       /* remove dot segments and repeated slashes (all but S3) */
    bool sign_body;            /* also sign an x-amz-content-sha256 header */
    bool omit_session_token;   /* the token is sent but not signed (some STS flows) */
};

struct sigv4_result {
    char *canonical_request; /* malloc'd */
    char *string_to_sign;    /* malloc'd */
    char signature[65];      /* hex */
    /* Header signing: the Authorization header's value. Presigning: the complete query
     * string to send (the request's own parameters, the X-Amz-* ones and
     * X-Amz-Signature). malloc'd. */
    char *authorization;
    char payload_sha256[65]; /* hex SHA-256 of the body */
};

/* Frees what a result holds; safe on a zeroed or released result. */
void sigv4_result_release(struct sigv4_result *r);

/* "YYYYMMDDTHHMMSSZ" for `t` (UTC). */
void sigv4_amz_date(time_t t, char out[17]);

/*
 * Signs for the Authorization header. The signed headers are the request's own plus
 * X-Amz-Date (and X-Amz-Security-Token unless omitted, and X-Amz-Content-Sha256 with
 * sign_body), which the caller must send as given: X-Amz-Date = p->amz_date, the token, the
 * payload hash. Returns 0, or -1 when out of memory or the request is malformed (a header
 * name with spaces, a path not starting with '/').
 */
int sigv4_sign_headers(const struct sigv4_request *r, const struct sigv4_params *p,
                       struct sigv4_result *out);

/* Signs as a presigned URL valid for `expires_s` seconds (query-string signing). */
int sigv4_presign(const struct sigv4_request *r, const struct sigv4_params *p, long expires_s,
                  struct sigv4_result *out);

/* The parts of an Authorization header value. */
struct sigv4_auth {
    char access_key_id[129];
    char date[9]; /* YYYYMMDD of the scope */
    char region[64];
    char service[64];
    char signed_headers[1024]; /* "host;x-amz-date" */
    char signature[65];
};

/* Parses "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...". 0 or -1. */
int sigv4_parse_authorization(const char *value, struct sigv4_auth *out);

/*
 * Verifies a request signed for the Authorization header (server side): recomputes the
 * canonical request over exactly the headers `a` names, with the payload hash from
 * X-Amz-Content-Sha256 when sent (else the body's), and compares signatures in constant
 * time. `amz_date` is the request's X-Amz-Date. Returns 0 when it matches; -1 otherwise
 * with `why` saying what (a signed header missing from the request, the scope's date not
 * the X-Amz-Date's day, the signature differs).
 */
int sigv4_verify(const struct sigv4_request *r, const struct sigv4_auth *a, const char *secret,
                 const char *amz_date, bool normalize_path, char *why, size_t whylen);

#endif
