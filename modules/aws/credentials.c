/*
 * Finding AWS credentials: environment, then the shared credentials file's profile. The
 * INI reader is the small subset the AWS files use: [section], key = value, '#' and ';'
 * comments, surrounding blanks trimmed.
 */
#include "modules/aws/credentials.h"

#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE 4096

static const char *real_getenv(const char *name, void *ctx)
{
    (void)ctx;
    return getenv(name);
}

static char *secret_dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void wipe_free(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

void aws_credentials_release(struct aws_credentials *c)
{
    wipe_free(c->secret_access_key);
    wipe_free(c->session_token);
    memset(c, 0, sizeof *c);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/*
 * Calls `each(key, value)` for every key of [section] in the INI file at `path`.
 * Returns 1 when the section was found, 0 when not, -1 when the file can't be read.
 */
static int ini_section(const char *path, const char *section,
                       void (*each)(const char *k, const char *v, void *ctx), void *ctx)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return -1;
    char line[MAX_LINE];
    bool in = false, found = false;
    while (fgets(line, sizeof line, fp)) {
        char *s = trim(line);
        if (*s == '#' || *s == ';' || !*s)
            continue;
        if (*s == '[') {
            char *end = strchr(s, ']');
            if (end) {
                *end = '\0';
                in = strcmp(trim(s + 1), section) == 0;
                found = found || in;
            }
            continue;
        }
        char *eq = strchr(s, '=');
        if (in && eq) {
            *eq = '\0';
            each(trim(s), trim(eq + 1), ctx);
        }
    }
    OPENSSL_cleanse(line, sizeof line);
    fclose(fp);
    return found ? 1 : 0;
}

struct found {
    char akid[129];
    char *secret, *token, *region;
};

static void take(const char *k, const char *v, void *ctx)
{
    struct found *f = ctx;
    if (strcmp(k, "aws_access_key_id") == 0) {
        snprintf(f->akid, sizeof f->akid, "%s", v);
    } else if (strcmp(k, "aws_secret_access_key") == 0) {
        wipe_free(f->secret);
        f->secret = secret_dup(v);
    } else if (strcmp(k, "aws_session_token") == 0) {
        wipe_free(f->token);
        f->token = secret_dup(v);
    } else if (strcmp(k, "region") == 0) {
        free(f->region);
        f->region = strdup(v);
    }
}

/* The file named by `var`, else ~/.aws/`name`. */
static void aws_file(aws_getenv_fn ge, void *ctx, const char *var, const char *name, char *out,
                     size_t outlen)
{
    const char *p = ge(var, ctx);
    if (p && *p) {
        snprintf(out, outlen, "%s", p);
        return;
    }
    const char *home = ge("HOME", ctx);
    snprintf(out, outlen, "%s/.aws/%s", home && *home ? home : ".", name);
}

int aws_credentials_load(const char *profile, aws_getenv_fn ge, void *ctx,
                         struct aws_credentials *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    if (!ge)
        ge = real_getenv;
    const char *akid = ge("AWS_ACCESS_KEY_ID", ctx);
    const char *secret = ge("AWS_SECRET_ACCESS_KEY", ctx);
    if (akid && *akid && !profile) {
        if (!secret || !*secret) {
            snprintf(why, whylen,
                     "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not; set both, or "
                     "unset AWS_ACCESS_KEY_ID to use a profile");
            return -1;
        }
        snprintf(out->access_key_id, sizeof out->access_key_id, "%s", akid);
        out->secret_access_key = secret_dup(secret);
        const char *token = ge("AWS_SESSION_TOKEN", ctx);
        out->session_token = token && *token ? secret_dup(token) : NULL;
        snprintf(out->source, sizeof out->source, "environment (AWS_ACCESS_KEY_ID)");
        if (!out->secret_access_key || (token && *token && !out->session_token)) {
            aws_credentials_release(out);
            snprintf(why, whylen, "out of memory");
            return -1;
        }
        return 0;
    }
    const char *name = profile ? profile : ge("AWS_PROFILE", ctx);
    if (!name || !*name)
        name = "default";
    char path[1024];
    aws_file(ge, ctx, "AWS_SHARED_CREDENTIALS_FILE", "credentials", path, sizeof path);
    struct found f = {0};
    int rc = ini_section(path, name, take, &f);
    if (rc == 1 && f.akid[0] && f.secret) {
        snprintf(out->access_key_id, sizeof out->access_key_id, "%s", f.akid);
        out->secret_access_key = f.secret;
        out->session_token = f.token;
        free(f.region);
        snprintf(out->source, sizeof out->source, "%.200s [%.100s]", path, name);
        return 0;
    }
    wipe_free(f.secret);
    wipe_free(f.token);
    free(f.region);
    if (rc == 1)
        snprintf(why, whylen,
                 "no AWS credentials: profile '%s' in %s lacks aws_access_key_id or "
                 "aws_secret_access_key",
                 name, path);
    else
        snprintf(why, whylen,
                 "no AWS credentials: AWS_ACCESS_KEY_ID is not set and %s %s profile '%s'; "
                 "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE",
                 path, rc < 0 ? "can't be read for" : "has no", name);
    return -1;
}

void aws_default_region(const char *profile, aws_getenv_fn ge, void *ctx, char *out, size_t outlen)
{
    if (!ge)
        ge = real_getenv;
    out[0] = '\0';
    const char *r = ge("AWS_REGION", ctx);
    if (!r || !*r)
        r = ge("AWS_DEFAULT_REGION", ctx);
    if (r && *r) {
        snprintf(out, outlen, "%s", r);
        return;
    }
    const char *name = profile ? profile : ge("AWS_PROFILE", ctx);
    if (!name || !*name)
        name = "default";
    char path[1024], section[300];
    aws_file(ge, ctx, "AWS_CONFIG_FILE", "config", path, sizeof path);
    if (strcmp(name, "default") == 0)
        snprintf(section, sizeof section, "default");
    else
        snprintf(section, sizeof section, "profile %s", name);
    struct found f = {0};
    ini_section(path, section, take, &f);
    if (f.region)
        snprintf(out, outlen, "%s", f.region);
    wipe_free(f.secret);
    wipe_free(f.token);
    free(f.region);
}
