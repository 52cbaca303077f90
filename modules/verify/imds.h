/*
 * The node side of re-verification (docs/verify.md, "The watcher"): reading one value that
 * gpuform set on this instance (an EC2 tag, a Compute Engine metadata item, an Azure tag)
 * from the cloud's instance metadata service, in that cloud's dialect: EC2's IMDSv2 (a
 * session token, then /latest/meta-data/tags/instance/KEY), Compute Engine's metadata server
 * (/computeMetadata/v1/instance/attributes/KEY, Metadata-Flavor: Google) and Azure's IMDS
 * (/metadata/instance/compute/tagsList, Metadata: true, a JSON array). HTTP through
 * core/http.h; the replies' reading is pure (verify_imds_reply) so tests feed it garbage.
 */
#ifndef GPUFORM_MODULES_VERIFY_IMDS_H
#define GPUFORM_MODULES_VERIFY_IMDS_H

#include <stddef.h>

#include "core/cloud.h"

/* The environment variable that replaces the metadata service's base URL (cloudsim, tests):
 * "http://127.0.0.1:PORT/imds/INSTANCE-ID"; the dialect's paths are appended to it. */
#define VERIFY_IMDS_ENDPOINT_ENV "GPUFORM_IMDS_ENDPOINT"

/* The largest value read (EC2 and Azure tag values are at most 256 characters). */
#define VERIFY_IMDS_VALUE_MAX 512

enum verify_imds_status {
    VERIFY_IMDS_VALUE,  /* the key is set: the value is in value[] */
    VERIFY_IMDS_ABSENT, /* the key is not set (404, no such tag) */
    VERIFY_IMDS_ERROR,  /* the service could not be read, or said something else: why[] */
};

/*
 * Reads one reply of `cloud`'s metadata service to a read of `key`: HTTP `status` and its
 * `body` (`len` bytes, not necessarily NUL-terminated). EC2 and Compute Engine: 200 gives the
 * body as the value, 404 is absent. Azure: 200 with a JSON array of {"name", "value"} gives
 * the value of the entry named `key`, absent when there is none. A value longer than
 * vlen - 1 or VERIFY_IMDS_VALUE_MAX, holding a NUL or another control character than
 * trailing whitespace, a body that is not the JSON expected, and any other status are
 * VERIFY_IMDS_ERROR with why[] naming what came back (never the body itself beyond a few
 * printable characters). value[] is "" unless VERIFY_IMDS_VALUE. Pure.
 */
enum verify_imds_status verify_imds_reply(enum core_cloud cloud, const char *key, long status,
                                          const char *body, size_t len, char *value, size_t vlen,
                                          char *why, size_t whylen);

/* A metadata client: the base URL, an HTTP client, and EC2's session token. Opaque. */
struct verify_imds;

/*
 * A client for `cloud`'s metadata service at `base` (NULL: the environment's
 * VERIFY_IMDS_ENDPOINT_ENV, else the cloud's own: http://169.254.169.254 for EC2 and Azure,
 * http://metadata.google.internal for Compute Engine). Timeouts are short (2 s to connect,
 * 5 s a read) and there is one attempt a read: the caller's loop is the retry. NULL when out
 * of memory, or when `base` is not an http:// URL (why[] says which).
 */
struct verify_imds *verify_imds_new(enum core_cloud cloud, const char *base, char *why,
                                    size_t whylen);

/* Frees the client and wipes its session token. NULL is a no-op. */
void verify_imds_free(struct verify_imds *m);

/*
 * Reads `key` (EXEC_VERIFY_REQUEST_KEY) from the metadata service into value[vlen].
 * EC2: takes a session token first (PUT /latest/api/token, 6 hours), kept until a minute
 * before it expires; a 401 drops it and the read is tried once more with a fresh one.
 * Errors (unreachable, a status other than 200 and 404, garbage) are VERIFY_IMDS_ERROR with
 * why[] naming the URL and what happened; the token never appears in it.
 */
enum verify_imds_status verify_imds_read(struct verify_imds *m, const char *key, char *value,
                                         size_t vlen, char *why, size_t whylen);

#endif
