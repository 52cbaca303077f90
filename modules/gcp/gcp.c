/*
 * The rules the GCP provider follows that need no network: GCE's error reasons as classes,
 * label values and instance names by GCE's character rules, requestIds derived from our
 * tokens, and GPU models as GCE accelerator types.
 */
#include "modules/gcp/gcp.h"
#include "modules/gcp/gcp_int.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- shared by the module's files ---- */

int gcp_why(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return -1;
}

void gcp_percent_encode(struct core_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~')
            core_buf_addc(b, (char)*p);
        else
            core_buf_addf(b, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
    }
}

/* ---- error classes ---- */

static const struct {
    const char *code;
    enum prov_error_class cls;
} codes[] = {
    /* operation error codes (error.errors[].code) */
    {"ZONE_RESOURCE_POOL_EXHAUSTED", PROV_CAPACITY},
    {"ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", PROV_CAPACITY},
    {"REGION_RESOURCE_POOL_EXHAUSTED", PROV_CAPACITY},
    {"resourcePoolExhausted", PROV_CAPACITY},
    {"QUOTA_EXCEEDED", PROV_QUOTA},
    {"quotaExceeded", PROV_QUOTA},
    {"rateLimitExceeded", PROV_THROTTLED},
    {"userRateLimitExceeded", PROV_THROTTLED},
    {"RATE_LIMIT_EXCEEDED", PROV_THROTTLED},
    {"RESOURCE_NOT_FOUND", PROV_NOT_FOUND},
    {"notFound", PROV_NOT_FOUND},
    {"authError", PROV_AUTH},
    {"forbidden", PROV_AUTH},
    {"insufficientPermissions", PROV_AUTH},
    {"accessNotConfigured", PROV_AUTH},
    {"UNAUTHENTICATED", PROV_AUTH},
    {"PERMISSION_DENIED", PROV_AUTH},
    {"invalid_grant", PROV_AUTH},
    {"invalid_client", PROV_AUTH},
    {"unauthorized_client", PROV_AUTH},
    {"access_denied", PROV_AUTH},
    {"invalid", PROV_INVALID},
    {"invalidParameter", PROV_INVALID},
    {"required", PROV_INVALID},
    {"badRequest", PROV_INVALID},
    {"alreadyExists", PROV_INVALID},
    {"conditionNotMet", PROV_INVALID},
    {"RESOURCE_ALREADY_EXISTS", PROV_INVALID},
    {"INVALID_ARGUMENT", PROV_INVALID},
    {"invalid_request", PROV_INVALID},
    {"invalid_scope", PROV_INVALID},
    {"unsupported_grant_type", PROV_INVALID},
    {"backendError", PROV_TRANSIENT},
    {"internalError", PROV_TRANSIENT},
    {"INTERNAL_ERROR", PROV_TRANSIENT},
    {"SERVICE_UNAVAILABLE", PROV_TRANSIENT},
    {"UNAVAILABLE", PROV_TRANSIENT},
};

enum prov_error_class gcp_classify(const char *code, long http_status)
{
    if (http_status == 401) /* whatever the reason says ("required", "authError") */
        return PROV_AUTH;
    for (size_t i = 0; code && i < sizeof codes / sizeof *codes; i++)
        if (!strcmp(codes[i].code, code))
            return codes[i].cls;
    if (http_status == 429)
        return PROV_THROTTLED;
    if (http_status == 404)
        return PROV_NOT_FOUND;
    if (http_status >= 500 || http_status == 0)
        return PROV_TRANSIENT;
    if (http_status == 401 || http_status == 403)
        return PROV_AUTH;
    return PROV_INVALID;
}

/* ---- names ---- */

void gcp_label_value(const char *in, char out[64])
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)(in ? in : ""); *p && n < 63; p++) {
        unsigned char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        out[n++] = ok ? (char)c : '_';
    }
    out[n] = 0;
}

void gcp_label_key(const char *in, char out[64])
{
    char v[64];
    gcp_label_value(in, v);
    bool letter = v[0] >= 'a' && v[0] <= 'z';
    snprintf(out, 64, "%s%.*s", letter ? "" : "l", letter ? 63 : 62, v);
}

static void sha256(const char *s, unsigned char md[32])
{
    unsigned int n = 32;
    EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
}

void gcp_instance_name(const char *address, const char *token, char out[64])
{
    char base[24];
    size_t n = 0;
    bool dash = false;
    for (const unsigned char *p = (const unsigned char *)(address ? address : ""); *p && n < 22;
         p++) {
        unsigned char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            base[n++] = (char)c;
            dash = false;
        } else if (!dash && n > 0) {
            base[n++] = '-';
            dash = true;
        }
    }
    while (n > 0 && base[n - 1] == '-')
        n--;
    base[n] = 0;
    unsigned char md[32];
    sha256(token ? token : "", md);
    snprintf(out, 64, "gf-%s%s%02x%02x%02x%02x%02x", base, n ? "-" : "", md[0], md[1], md[2], md[3],
             md[4]);
}

void gcp_request_id(const char *kind, const char *key, char out[37])
{
    char in[512];
    snprintf(in, sizeof in, "gpuform:%s:%s", kind ? kind : "", key ? key : "");
    unsigned char b[32];
    sha256(in, b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 layout */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10 */
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* ---- accelerators ---- */

static const struct {
    const char *model, *gce;
} accelerators[] = {
    {"K80", "nvidia-tesla-k80"},       {"P4", "nvidia-tesla-p4"},
    {"P100", "nvidia-tesla-p100"},     {"V100", "nvidia-tesla-v100"},
    {"T4", "nvidia-tesla-t4"},         {"A100", "nvidia-tesla-a100"},
    {"A100-80GB", "nvidia-a100-80gb"}, {"L4", "nvidia-l4"},
    {"H100", "nvidia-h100-80gb"},      {"H100-MEGA", "nvidia-h100-mega-80gb"},
    {"H200", "nvidia-h200-141gb"},     {"B200", "nvidia-b200"},
};

const char *gcp_accelerator_name(const char *gpu_model)
{
    for (size_t i = 0; gpu_model && i < sizeof accelerators / sizeof *accelerators; i++)
        if (!strcasecmp(accelerators[i].model, gpu_model))
            return accelerators[i].gce;
    return NULL;
}

bool gcp_type_takes_accelerators(const char *machine_type)
{
    return machine_type && !strncmp(machine_type, "n1-", 3);
}

void gcp_zone_region(const char *zone, char out[64])
{
    const char *dash = zone ? strrchr(zone, '-') : NULL;
    size_t n = dash ? (size_t)(dash - zone) : (zone ? strlen(zone) : 0);
    snprintf(out, 64, "%.*s", (int)(n < 63 ? n : 63), zone ? zone : "");
}
