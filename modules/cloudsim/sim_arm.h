/*
 * What the two files of cloudsim's Azure dialect share: replies in ARM's and Entra ID's
 * shapes, and the identity side (sim_arm_auth.c: the token endpoint, OpenID metadata, bearer
 * tokens, signed boot-diagnostics links) that the resource side (sim_arm.c) calls.
 */
#ifndef GPUFORM_MODULES_CLOUDSIM_SIM_ARM_H
#define GPUFORM_MODULES_CLOUDSIM_SIM_ARM_H

#include <jansson.h>

#include "modules/cloudsim/sim_int.h"

/* How long a token lives, in real seconds (as Entra ID's: an hour less a second). */
#define SIM_ARM_TOKEN_LIFE 3599

/* A fresh request id (a UUID) into r->request_id. */
void sim_arm_request_id(struct sim_world *w, struct sim_reply *r);

/* Replies with `j` (stolen) as JSON; a fresh request id. */
void sim_arm_json(struct sim_world *w, struct sim_reply *r, int status, json_t *j);

/* Replies with ARM's error shape {"error": {"code", "message"}}. */
void sim_arm_error(struct sim_world *w, struct sim_reply *r, int status, const char *code,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Adds a reply header (at most four; more are dropped). */
void sim_arm_header(struct sim_reply *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "2026-11-21T20:56:47.1234567Z", as ARM writes times. */
void sim_arm_time(double t, char out[64]);

/* The request's scheme and host as the client reached cloudsim ("http://127.0.0.1:41234"),
 * from its Host header; https when a proxy in front says so (X-Forwarded-Proto: https). */
void sim_arm_base(const struct sim_query *q, char out[300]);

/*
 * Checks the bearer token of an ARM request: 0 when it is one this world issued, not
 * expired, for a principal still registered; otherwise -1 after replying as ARM does
 * (401 AuthenticationFailed without one, InvalidAuthenticationToken for a bad one,
 * ExpiredAuthenticationToken after its time).
 */
int sim_arm_check_bearer(struct sim_world *w, const struct sim_query *q, double now,
                         struct sim_reply *r);

/* The identity paths: POST /TENANT/oauth2/v2.0/token and
 * GET /TENANT/v2.0/.well-known/openid-configuration. */
void sim_arm_identity(struct sim_world *w, struct sim_query *q, double now, struct sim_reply *r);

/*
 * A SAS-style signature for a boot-diagnostics blob link: hex HMAC-SHA256 of `path` and
 * `expiry` under the world's key, into sig[65]. sim_arm_sas_ok checks one.
 */
void sim_arm_sas(const struct sim_world *w, const char *path, const char *expiry, char sig[65]);
int sim_arm_sas_ok(const struct sim_world *w, const char *path, const char *expiry,
                   const char *sig);

#endif
