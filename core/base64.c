/*
 * base64url over OpenSSL's base64 blocks (core/base64.h).
 */
#include "core/base64.h"

#include <stdlib.h>

#include <openssl/evp.h>

char *core_base64url(const void *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (!out)
        return NULL;
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return out;
}

char *core_base64url_decode(const char *s, size_t n, size_t max, size_t *outlen)
{
    size_t pad = (4 - n % 4) % 4;
    if (n > max || pad == 3)
        return NULL;
    char *t = malloc(n + pad + 1);
    char *out = malloc((n + pad) / 4 * 3 + 1);
    if (!t || !out) {
        free(t);
        free(out);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_')) {
            free(t);
            free(out);
            return NULL;
        }
        t[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    for (size_t i = 0; i < pad; i++)
        t[n + i] = '=';
    int m = EVP_DecodeBlock((unsigned char *)out, (unsigned char *)t, (int)(n + pad));
    free(t);
    if (m < 0) {
        free(out);
        return NULL;
    }
    size_t len = (size_t)m - pad;
    out[len] = '\0';
    if (outlen)
        *outlen = len;
    return out;
}
