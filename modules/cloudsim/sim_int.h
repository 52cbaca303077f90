/*
 * What cloudsim's files share and nothing else needs: the request as the server collected
 * it, and the authentication check (sim_auth.c).
 */
#ifndef GPUFORM_MODULES_CLOUDSIM_SIM_INT_H
#define GPUFORM_MODULES_CLOUDSIM_SIM_INT_H

#include "modules/cloudsim/sim.h"

struct sim_header {
    const char *name; /* as received; borrowed from the HTTP library */
    const char *value;
};

/* One HTTP request: method, path, decoded query and form parameters, headers, raw body. */
struct sim_query {
    const char *method;
    const char *path;      /* decoded, for routing */
    const char *raw_path;  /* as on the request line, for the signature */
    const char *raw_query; /* the query string as sent, without '?'; NULL for none */
    struct sim_param *p;   /* query-string parameters, then form parameters; owned */
    size_t n;
    size_t nquery; /* how many of p came from the query string */
    struct sim_header headers[256];
    size_t nheaders;
    const char *body;
    size_t body_len;
};

/*
 * Checks the request's SigV4 signature (Authorization header) against the credentials in
 * `conf`, as EC2 does, with modules/aws/sigv4.h's verifier: MissingAuthenticationToken (401)
 * without one, AuthFailure (401) for an unknown access key, a malformed header or scope or a
 * presigned query (not accepted), SignatureDoesNotMatch (403) for a wrong signature,
 * RequestExpired (400) when X-Amz-Date is more than 15 minutes from `now`. On success
 * returns 0 and writes the credential scope's region into region[64]; otherwise -1 and
 * fills `e` (the message never holds the secret).
 */
int sim_auth_check(const struct sim_config *conf, const struct sim_query *q, double now,
                   char region[64], struct sim_error *e);

/* The header's value (case-insensitive name), or NULL. */
const char *sim_query_header(const struct sim_query *q, const char *name);

#endif
