/*
 * What cloudsim's files share and nothing else needs: the request as the server collected
 * it, the dialects' entry points that sim_server.c's route table names, and the SigV4 check
 * (sim_auth.c).
 */
#ifndef GPUFORM_MODULES_CLOUDSIM_SIM_INT_H
#define GPUFORM_MODULES_CLOUDSIM_SIM_INT_H

#include "modules/cloudsim/sim.h"

/* The most query and form parameters one request may carry. */
#define SIM_MAX_PARAMS 4096

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
    bool too_big;    /* the body was over max_body and was dropped: refuse the request */
    size_t max_body; /* the server's cap, for that message */
    double arrived;  /* when the server received it (wall clock) */
    int redo;        /* 0 the first time; n after n rounds of sim_reply.redo_ms */
    bool last;       /* the server is stopping: reply now, no more redo_ms */
};

/*
 * A dialect: answers one request under the world's lock (the server holds it). Fills `r`:
 * status, body, content type, request id; `changed` when the world changed; `redo_ms` to be
 * asked again later (never when q->last). The dialect checks the request's authentication
 * itself, and words every error as its cloud does. It may append to q->p (form bodies).
 */
typedef void (*sim_dialect_fn)(struct sim_world *w, struct sim_query *q, double now,
                               struct sim_reply *r);

/* EC2 (sim_ec2.c): any path not routed elsewhere; form bodies, SigV4 (sim_auth_check). */
void sim_ec2_serve(struct sim_world *w, struct sim_query *q, double now, struct sim_reply *r);

/* Compute Engine (sim_gce.c): /compute/v1/... with an OAuth2 bearer token, and /token, the
 * OAuth2 token endpoint (a service account's RS256-signed JWT for an access token). */
void sim_gce_handle(struct sim_world *w, struct sim_query *q, double now, struct sim_reply *r);

/* Azure Resource Manager (sim_arm.c): /subscriptions/... with a bearer token; the identity
 * platform (sim_arm_auth.c): /TENANT/oauth2/v2.0/token and
 * /TENANT/v2.0/.well-known/openid-configuration; boot diagnostics' storage links: /_blob/... */
void sim_arm_handle(struct sim_world *w, struct sim_query *q, double now, struct sim_reply *r);

/* The instance metadata services (sim_imds.c): /imds/INSTANCE-ID/... in the dialect of the
 * instance's cloud: EC2's IMDSv2 tags, Compute Engine's attributes, Azure's tagsList. */
void sim_imds_handle(struct sim_world *w, struct sim_query *q, double now, struct sim_reply *r);

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
