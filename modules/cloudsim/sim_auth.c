/*
 * cloudsim's authentication: finds the SigV4 credential in a request's Authorization header,
 * checks the access key, the scope and the clock skew, and has the
 * AWS module's SigV4 verifier (modules/aws/sigv4.h) recompute the signature, so that
 * cloudsim rejects exactly what AWS would and never carries a second SigV4 implementation.
 */
#include "modules/cloudsim/sim_int.h"

#include "modules/aws/sigv4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

const char *sim_query_header(const struct sim_query *q, const char *name)
{
    for (size_t i = 0; i < q->nheaders; i++)
        if (!strcasecmp(q->headers[i].name, name))
            return q->headers[i].value;
    return NULL;
}

static int fail(struct sim_error *e, int status, const char *code, const char *msg)
{
    e->http_status = status;
    snprintf(e->code, sizeof e->code, "%s", code);
    snprintf(e->message, sizeof e->message, "%s", msg);
    return -1;
}

/* "20150830T123600Z" as Unix seconds, or -1. */
static double amz_date(const char *s)
{
    struct tm tm = {0};
    if (!s || strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
        return -1;
    if (sscanf(s, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (double)timegm(&tm);
}

int sim_auth_check(const struct sim_config *conf, const struct sim_query *q, double now,
                   char region[64], struct sim_error *e)
{
    const char *auth = sim_query_header(q, "Authorization");
    bool presigned = false;
    for (size_t i = 0; i < q->nquery && !presigned; i++)
        presigned = !strcmp(q->p[i].name, "X-Amz-Signature");
    if (!auth && presigned)
        return fail(e, 401, "AuthFailure",
                    "AWS was not able to validate the provided access credentials (cloudsim "
                    "accepts SigV4 in the Authorization header, not presigned queries)");
    if (!auth)
        return fail(e, 401, "MissingAuthenticationToken",
                    "Request is missing Authentication Token");
    struct sigv4_auth a;
    if (strncmp(auth, "AWS4-HMAC-SHA256 ", 17) || sigv4_parse_authorization(auth, &a) < 0)
        return fail(e, 401, "AuthFailure",
                    "AWS was not able to validate the provided access credentials (the "
                    "Authorization header is not AWS4-HMAC-SHA256 Credential=..., "
                    "SignedHeaders=..., Signature=...)");
    if (strcmp(a.service, "ec2") || !*a.region)
        return fail(e, 401, "AuthFailure",
                    "AWS was not able to validate the provided access credentials (the "
                    "credential scope must be AKID/DATE/REGION/ec2/aws4_request)");
    const struct sim_credential *c = NULL;
    for (size_t i = 0; i < conf->ncreds && !c; i++)
        if (!strcmp(conf->creds[i].access_key_id, a.access_key_id))
            c = &conf->creds[i];
    if (!c)
        return fail(e, 401, "AuthFailure",
                    "AWS was not able to validate the provided access credentials");
    const char *date = sim_query_header(q, "X-Amz-Date");
    double t = amz_date(date);
    if (t < 0)
        return fail(e, 401, "AuthFailure",
                    "AWS was not able to validate the provided access credentials (X-Amz-Date "
                    "is missing or not YYYYMMDDTHHMMSSZ)");
    if (t < now - 900 || t > now + 900)
        return fail(e, 400, "RequestExpired",
                    "Request has expired: X-Amz-Date is more than 15 minutes from the server's "
                    "clock");
    struct sigv4_header hs[256];
    size_t nh = q->nheaders < 256 ? q->nheaders : 256;
    for (size_t i = 0; i < nh; i++)
        hs[i] = (struct sigv4_header){q->headers[i].name, q->headers[i].value};
    struct sigv4_request r = {
        .method = q->method,
        .path = q->raw_path ? q->raw_path : q->path,
        .query = q->raw_query,
        .headers = hs,
        .nheaders = nh,
        .body = q->body,
        .body_len = q->body_len,
    };
    char why[512];
    if (sigv4_verify(&r, &a, c->secret_access_key, date, true, why, sizeof why) < 0)
        return fail(e, 403, "SignatureDoesNotMatch", why);
    snprintf(region, 64, "%s", a.region);
    return 0;
}
