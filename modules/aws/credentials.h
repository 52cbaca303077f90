/*
 * AWS credentials the way the AWS CLI and SDKs find them: the environment first
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), then a profile
 * (AWS_PROFILE or "default") of the shared credentials file (AWS_SHARED_CREDENTIALS_FILE or
 * ~/.aws/credentials). The secret and the token live in memory that is wiped when freed,
 * and `source` says where they came from without ever holding them.
 */
#ifndef GPUFORM_MODULES_AWS_CREDENTIALS_H
#define GPUFORM_MODULES_AWS_CREDENTIALS_H

#include <stddef.h>

struct aws_credentials {
    char access_key_id[129];
    char *secret_access_key; /* malloc'd; wiped by aws_credentials_release */
    char *session_token;     /* NULL without one; wiped too */
    char source[320];        /* "environment", "/home/u/.aws/credentials [prod]" */
};

/* Reads the process environment through this function, so tests can pass their own. */
typedef const char *(*aws_getenv_fn)(const char *name, void *ctx);

/*
 * Finds credentials for `profile` (NULL: AWS_PROFILE, else "default"). Returns 0 with
 * *out filled (release it), or -1 with `why` saying where it looked and what to do
 * ("no AWS credentials: AWS_ACCESS_KEY_ID is not set and /root/.aws/credentials has no
 * profile 'default'; ..."). `getenv_fn` NULL: the real environment.
 */
int aws_credentials_load(const char *profile, aws_getenv_fn getenv_fn, void *ctx,
                         struct aws_credentials *out, char *why, size_t whylen);

/* Wipes and frees the secrets. */
void aws_credentials_release(struct aws_credentials *c);

/*
 * The region for `profile` when none is configured elsewhere: AWS_REGION,
 * AWS_DEFAULT_REGION, then `region` in the profile's section of AWS_CONFIG_FILE or
 * ~/.aws/config ("[default]" or "[profile NAME]"). Writes "" when none is set.
 */
void aws_default_region(const char *profile, aws_getenv_fn getenv_fn, void *ctx, char *out,
                        size_t outlen);

#endif
