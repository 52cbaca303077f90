/*
 * SigV4: canonical request, string to sign, signing key and signature, with OpenSSL's
 * SHA-256 and HMAC. The canonical forms follow AWS's suite exactly: paths normalised and
 * each byte outside the unreserved set percent-encoded, query parameters decoded, encoded
 * again and sorted, header values trimmed with inner runs of whitespace folded to one
 * space and duplicates joined with commas.
 */
#include "modules/aws/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/digest.h"

#define SIGV4_MAX (8u << 20) /* the most a canonical request may grow to */

void sigv4_result_release(struct sigv4_result *r)
{
    free(r->canonical_request);
    free(r->string_to_sign);
    free(r->authorization);
    memset(r, 0, sizeof *r);
}

void sigv4_amz_date(time_t t, char out[17])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static void hmac(const void *key, size_t keylen, const char *msg, unsigned char out[32])
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, strlen(msg), out, &len);
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

static int encode(struct core_buf *b, const char *s, size_t len, bool keep_slash)
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int rc = unreserved(c) || (keep_slash && c == '/')
                     ? core_buf_addc(b, (char)c)
                     : core_buf_addf(b, "%%%c%c", digits[c >> 4], digits[c & 15]);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* %XX-decodes s[0..len) into a new string. */
static char *decode(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    size_t n = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < len && (hi = hexval(s[i + 1])) >= 0 &&
            (lo = hexval(s[i + 2])) >= 0) {
            out[n++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[n++] = s[i];
        }
    }
    out[n] = '\0';
    return out;
}

/* ---- the canonical parts ---- */

static int canonical_path(struct core_buf *b, const char *path, bool normalize)
{
    if (!path || path[0] != '/')
        return -1;
    if (!normalize)
        return encode(b, path, strlen(path), true);
    /* remove "." and ".." segments and empty ones (repeated slashes) */
    size_t n = strlen(path);
    const char **seg = malloc((n / 2 + 2) * sizeof *seg);
    size_t *seglen = malloc((n / 2 + 2) * sizeof *seglen);
    size_t nseg = 0;
    int rc = -1;
    if (!seg || !seglen)
        goto out;
    for (const char *p = path; *p;) {
        while (*p == '/')
            p++;
        const char *e = strchr(p, '/');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == 0)
            break;
        if (l == 2 && p[0] == '.' && p[1] == '.') {
            if (nseg)
                nseg--;
        } else if (!(l == 1 && p[0] == '.')) {
            seg[nseg] = p;
            seglen[nseg++] = l;
        }
        p += l;
    }
    bool trailing = n > 1 && path[n - 1] == '/';
    rc = core_buf_addc(b, '/');
    for (size_t i = 0; rc == 0 && i < nseg; i++) {
        rc = encode(b, seg[i], seglen[i], false);
        if (rc == 0 && (i + 1 < nseg || trailing))
            rc = core_buf_addc(b, '/');
    }
out:
    free(seg);
    free(seglen);
    return rc;
}

struct kv {
    char *k, *v; /* encoded */
};

static int kv_cmp(const void *a, const void *b)
{
    const struct kv *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

static char *encoded(const char *s)
{
    struct core_buf b;
    core_buf_init(&b, SIGV4_MAX);
    if (encode(&b, s, strlen(s), false) != 0 || core_buf_addc(&b, '\0') != 0) {
        core_buf_release(&b);
        return NULL;
    }
    return core_buf_take(&b);
}

/* Adds the raw query's parameters (decoded, then encoded) and `extra` (plain) to `out`. */
static int canonical_query(struct core_buf *out, const char *query,
                           const struct sigv4_header *extra, size_t nextra)
{
    size_t cap = nextra + 1;
    for (const char *p = query; p && *p; p++)
        cap += *p == '&';
    struct kv *kv = calloc(cap, sizeof *kv);
    size_t n = 0;
    int rc = -1;
    if (!kv)
        return -1;
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            size_t klen = eq ? (size_t)(eq - p) : len;
            char *k = decode(p, klen), *v = eq ? decode(eq + 1, len - klen - 1) : strdup("");
            kv[n].k = k ? encoded(k) : NULL;
            kv[n].v = v ? encoded(v) : NULL;
            free(k);
            free(v);
            if (!kv[n++].k || !kv[n - 1].v)
                goto out;
        }
        p += len + (amp != NULL);
    }
    for (size_t i = 0; i < nextra; i++) {
        kv[n].k = encoded(extra[i].name);
        kv[n].v = encoded(extra[i].value);
        if (!kv[n++].k || !kv[n - 1].v)
            goto out;
    }
    qsort(kv, n, sizeof *kv, kv_cmp);
    rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = core_buf_addf(out, "%s%s=%s", i ? "&" : "", kv[i].k, kv[i].v);
out:
    for (size_t i = 0; i < n; i++) {
        free(kv[i].k);
        free(kv[i].v);
    }
    free(kv);
    return rc;
}

struct hdr {
    char *name;  /* lowercase */
    char *value; /* trimmed, folded; duplicates joined with ',' */
};

static int hdr_cmp(const void *a, const void *b)
{
    return strcmp(((const struct hdr *)a)->name, ((const struct hdr *)b)->name);
}

static void hdrs_free(struct hdr *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        free(h[i].value);
    }
    free(h);
}

/* "  a   b \n c " -> "a b c" */
static char *fold(const char *v)
{
    size_t n = strlen(v), o = 0;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    bool space = false;
    for (size_t i = 0; i < n; i++) {
        bool ws = v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n';
        if (ws) {
            space = o > 0;
            continue;
        }
        if (space)
            out[o++] = ' ';
        space = false;
        out[o++] = v[i];
    }
    out[o] = '\0';
    return out;
}

/* The headers, lowercased, folded, merged and sorted. NULL when out of memory or a name is bad. */
static struct hdr *collect_headers(const struct sigv4_header *h, size_t nh, size_t *out_n)
{
    struct hdr *hs = calloc(nh + 1, sizeof *hs);
    size_t n = 0;
    if (!hs)
        return NULL;
    for (size_t i = 0; i < nh; i++) {
        char *name = strdup(h[i].name), *value = fold(h[i].value ? h[i].value : "");
        if (!name || !value || !*name || strpbrk(name, " \t\r\n:")) {
            free(name);
            free(value);
            hdrs_free(hs, n);
            return NULL;
        }
        for (char *c = name; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        size_t j = 0;
        while (j < n && strcmp(hs[j].name, name) != 0)
            j++;
        if (j < n) {
            size_t l = strlen(hs[j].value) + strlen(value) + 2;
            char *m = malloc(l);
            if (!m) {
                free(name);
                free(value);
                hdrs_free(hs, n);
                return NULL;
            }
            snprintf(m, l, "%s,%s", hs[j].value, value);
            free(hs[j].value);
            hs[j].value = m;
            free(name);
            free(value);
        } else {
            hs[n].name = name;
            hs[n++].value = value;
        }
    }
    qsort(hs, n, sizeof *hs, hdr_cmp);
    *out_n = n;
    return hs;
}

/* Whether `name` is in the ';'-separated list. */
static bool listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ';');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && strncmp(p, name, n) == 0)
            return true;
        p += l + (e != NULL);
    }
    return false;
}

/*
 * The canonical request over `hs` (only the headers in `only`, a ';' list, when not NULL;
 * then each listed header must exist). Writes the signed-header list to *signed_out.
 */
static char *canonical_request(const struct sigv4_request *r, const struct hdr *hs, size_t nh,
                               const char *only, const struct sigv4_header *qextra, size_t nqextra,
                               bool normalize, const char *payload_hash, char **signed_out)
{
    struct core_buf b, sh;
    core_buf_init(&b, SIGV4_MAX);
    core_buf_init(&sh, SIGV4_MAX);
    int rc = core_buf_addf(&b, "%s\n", r->method);
    if (rc == 0)
        rc = canonical_path(&b, r->path, normalize);
    if (rc == 0)
        rc = core_buf_addc(&b, '\n');
    if (rc == 0)
        rc = canonical_query(&b, r->query, qextra, nqextra);
    if (rc == 0)
        rc = core_buf_addc(&b, '\n');
    size_t used = 0;
    for (size_t i = 0; rc == 0 && i < nh; i++) {
        if (only && !listed(only, hs[i].name))
            continue;
        used++;
        rc = core_buf_addf(&b, "%s:%s\n", hs[i].name, hs[i].value);
        if (rc == 0)
            rc = core_buf_addf(&sh, "%s%s", sh.len ? ";" : "", hs[i].name);
    }
    if (rc == 0 && only) {
        /* every listed header must have been there */
        size_t want = 0;
        for (const char *p = only; *p; p++)
            want += *p == ';';
        if (used != want + 1)
            rc = -2;
    }
    if (rc == 0)
        rc = core_buf_addf(&b, "\n%s\n%s", core_buf_str(&sh), payload_hash);
    if (rc != 0) {
        core_buf_release(&b);
        core_buf_release(&sh);
        return NULL;
    }
    *signed_out = core_buf_take(&sh);
    if (!*signed_out)
        *signed_out = strdup("");
    return core_buf_take(&b);
}

static void signing_key(const char *secret, const char *date, const char *region,
                        const char *service, unsigned char key[32])
{
    unsigned char a[32], b[32];
    /* HMAC("AWS4" + secret, date), without a copy of the secret on the heap */
    size_t sl = strlen(secret);
    unsigned char k0[256];
    unsigned char *k = sl + 4 <= sizeof k0 ? k0 : malloc(sl + 4);
    if (k) {
        memcpy(k, "AWS4", 4);
        memcpy(k + 4, secret, sl);
        unsigned int len = 32;
        HMAC(EVP_sha256(), k, (int)(sl + 4), (const unsigned char *)date, strlen(date), a, &len);
        OPENSSL_cleanse(k, sl + 4);
        if (k != k0)
            free(k);
    } else {
        memset(a, 0, sizeof a); /* out of memory: a wrong signature, never a crash */
    }
    hmac(a, 32, region, b);
    hmac(b, 32, service, a);
    hmac(a, 32, "aws4_request", key);
    OPENSSL_cleanse(a, sizeof a);
    OPENSSL_cleanse(b, sizeof b);
}

static char *string_to_sign(const char *amz_date, const char *scope, const char *creq)
{
    char h[65];
    core_sha256_hex(creq, strlen(creq), h);
    size_t n = strlen(amz_date) + strlen(scope) + 90;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope, h);
    return s;
}

static void sign(const struct sigv4_params *p, const char *sts, char out[65])
{
    char date[9];
    unsigned char key[32], sig[32];
    snprintf(date, sizeof date, "%.8s", p->amz_date);
    signing_key(p->secret_access_key, date, p->region, p->service, key);
    hmac(key, 32, sts, sig);
    core_hex(sig, 32, out);
    OPENSSL_cleanse(key, sizeof key);
}

static void scope_of(const struct sigv4_params *p, char *out, size_t n)
{
    snprintf(out, n, "%.8s/%s/%s/aws4_request", p->amz_date, p->region, p->service);
}

int sigv4_sign_headers(const struct sigv4_request *r, const struct sigv4_params *p,
                       struct sigv4_result *out)
{
    memset(out, 0, sizeof *out);
    core_sha256_hex(r->body ? r->body : "", r->body ? r->body_len : 0, out->payload_sha256);
    struct sigv4_header *all = calloc(r->nheaders + 3, sizeof *all);
    if (!all)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < r->nheaders; i++)
        all[n++] = r->headers[i];
    all[n++] = (struct sigv4_header){"X-Amz-Date", p->amz_date};
    if (p->session_token && !p->omit_session_token)
        all[n++] = (struct sigv4_header){"X-Amz-Security-Token", p->session_token};
    if (p->sign_body)
        all[n++] = (struct sigv4_header){"X-Amz-Content-Sha256", out->payload_sha256};
    size_t nh = 0;
    struct hdr *hs = collect_headers(all, n, &nh);
    free(all);
    char *signed_headers = NULL;
    char scope[256];
    scope_of(p, scope, sizeof scope);
    if (hs)
        out->canonical_request = canonical_request(r, hs, nh, NULL, NULL, 0, p->normalize_path,
                                                   out->payload_sha256, &signed_headers);
    hdrs_free(hs, hs ? nh : 0);
    if (out->canonical_request)
        out->string_to_sign = string_to_sign(p->amz_date, scope, out->canonical_request);
    if (!out->string_to_sign) {
        free(signed_headers);
        sigv4_result_release(out);
        return -1;
    }
    sign(p, out->string_to_sign, out->signature);
    size_t len = strlen(p->access_key_id) + strlen(scope) + strlen(signed_headers) + 128;
    out->authorization = malloc(len);
    if (out->authorization)
        snprintf(out->authorization, len,
                 "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                 p->access_key_id, scope, signed_headers, out->signature);
    free(signed_headers);
    if (!out->authorization) {
        sigv4_result_release(out);
        return -1;
    }
    return 0;
}

int sigv4_presign(const struct sigv4_request *r, const struct sigv4_params *p, long expires_s,
                  struct sigv4_result *out)
{
    memset(out, 0, sizeof *out);
    core_sha256_hex(r->body ? r->body : "", r->body ? r->body_len : 0, out->payload_sha256);
    size_t nh = 0;
    struct hdr *hs = collect_headers(r->headers, r->nheaders, &nh);
    if (!hs)
        return -1;
    struct core_buf sh;
    core_buf_init(&sh, SIGV4_MAX);
    for (size_t i = 0; i < nh; i++)
        core_buf_addf(&sh, "%s%s", i ? ";" : "", hs[i].name);
    char scope[256], cred[512], expires[32];
    scope_of(p, scope, sizeof scope);
    snprintf(cred, sizeof cred, "%s/%s", p->access_key_id, scope);
    snprintf(expires, sizeof expires, "%ld", expires_s);
    struct sigv4_header q[6] = {
        {"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
        {"X-Amz-Credential", cred},
        {"X-Amz-Date", p->amz_date},
        {"X-Amz-Expires", expires},
        {"X-Amz-SignedHeaders", core_buf_str(&sh)},
    };
    size_t nq = 5;
    if (p->session_token && !p->omit_session_token)
        q[nq++] = (struct sigv4_header){"X-Amz-Security-Token", p->session_token};
    char *signed_headers = NULL;
    out->canonical_request = canonical_request(r, hs, nh, NULL, q, nq, p->normalize_path,
                                               out->payload_sha256, &signed_headers);
    hdrs_free(hs, nh);
    free(signed_headers);
    if (out->canonical_request)
        out->string_to_sign = string_to_sign(p->amz_date, scope, out->canonical_request);
    struct core_buf qs;
    core_buf_init(&qs, SIGV4_MAX);
    int rc = out->string_to_sign ? 0 : -1;
    if (rc == 0) {
        sign(p, out->string_to_sign, out->signature);
        rc = canonical_query(&qs, r->query, q, nq);
    }
    if (rc == 0)
        rc = core_buf_addf(&qs, "&X-Amz-Signature=%s", out->signature);
    core_buf_release(&sh);
    if (rc == 0)
        out->authorization = core_buf_take(&qs);
    core_buf_release(&qs);
    if (!out->authorization) {
        sigv4_result_release(out);
        return -1;
    }
    return 0;
}

/* ---- verification ---- */

/* Copies the value after "KEY=" up to ',' (trimmed) into out. */
static bool field(const char *s, const char *key, char *out, size_t outlen)
{
    size_t kl = strlen(key);
    for (const char *p = s; (p = strstr(p, key)); p += kl) {
        if ((p != s && p[-1] != ' ' && p[-1] != ',') || p[kl] != '=')
            continue;
        const char *v = p + kl + 1, *e = strchr(v, ',');
        size_t l = e ? (size_t)(e - v) : strlen(v);
        while (l && (v[l - 1] == ' ' || v[l - 1] == '\t'))
            l--;
        if (l == 0 || l >= outlen)
            return false;
        memcpy(out, v, l);
        out[l] = '\0';
        return true;
    }
    return false;
}

int sigv4_parse_authorization(const char *value, struct sigv4_auth *out)
{
    memset(out, 0, sizeof *out);
    static const char alg[] = "AWS4-HMAC-SHA256 ";
    if (!value || strncmp(value, alg, sizeof alg - 1) != 0)
        return -1;
    const char *rest = value + sizeof alg - 1;
    char cred[512];
    if (!field(rest, "Credential", cred, sizeof cred) ||
        !field(rest, "SignedHeaders", out->signed_headers, sizeof out->signed_headers) ||
        !field(rest, "Signature", out->signature, sizeof out->signature) ||
        strlen(out->signature) != 64)
        return -1;
    /* AKID/DATE/REGION/SERVICE/aws4_request */
    char *parts[5];
    size_t np = 0;
    char *save = NULL;
    for (char *t = strtok_r(cred, "/", &save); t && np < 5; t = strtok_r(NULL, "/", &save))
        parts[np++] = t;
    if (np != 5 || strtok_r(NULL, "/", &save) || strcmp(parts[4], "aws4_request") != 0 ||
        strlen(parts[1]) != 8 || strlen(parts[0]) >= sizeof out->access_key_id ||
        strlen(parts[2]) >= sizeof out->region || strlen(parts[3]) >= sizeof out->service)
        return -1;
    snprintf(out->access_key_id, sizeof out->access_key_id, "%s", parts[0]);
    snprintf(out->date, sizeof out->date, "%s", parts[1]);
    snprintf(out->region, sizeof out->region, "%s", parts[2]);
    snprintf(out->service, sizeof out->service, "%s", parts[3]);
    return 0;
}

int sigv4_verify(const struct sigv4_request *r, const struct sigv4_auth *a, const char *secret,
                 const char *amz_date, bool normalize_path, char *why, size_t whylen)
{
    if (!amz_date || strlen(amz_date) != 16 || strncmp(amz_date, a->date, 8) != 0) {
        snprintf(why, whylen, "the credential scope's date %s is not the day of X-Amz-Date %s",
                 a->date, amz_date ? amz_date : "(missing)");
        return -1;
    }
    char payload[65];
    const char *sent_hash = NULL;
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, "X-Amz-Content-Sha256") == 0)
            sent_hash = r->headers[i].value;
    if (sent_hash && strlen(sent_hash) < sizeof payload)
        snprintf(payload, sizeof payload, "%s", sent_hash);
    else
        core_sha256_hex(r->body ? r->body : "", r->body ? r->body_len : 0, payload);
    size_t nh = 0;
    struct hdr *hs = collect_headers(r->headers, r->nheaders, &nh);
    char *signed_headers = NULL;
    char *creq = hs ? canonical_request(r, hs, nh, a->signed_headers, NULL, 0, normalize_path,
                                        payload, &signed_headers)
                    : NULL;
    hdrs_free(hs, hs ? nh : 0);
    free(signed_headers);
    if (!creq) {
        snprintf(why, whylen, "a header named in SignedHeaders (%s) is missing from the request",
                 a->signed_headers);
        return -1;
    }
    struct sigv4_params p = {.secret_access_key = secret,
                             .region = a->region,
                             .service = a->service,
                             .amz_date = amz_date};
    char scope[256], sig[65];
    scope_of(&p, scope, sizeof scope);
    char *sts = string_to_sign(amz_date, scope, creq);
    free(creq);
    if (!sts) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    sign(&p, sts, sig);
    free(sts);
    if (CRYPTO_memcmp(sig, a->signature, 64) != 0) {
        snprintf(why, whylen,
                 "The request signature we calculated does not match the signature you "
                 "provided. Check your AWS Secret Access Key and signing method.");
        return -1;
    }
    return 0;
}
