/*
 * Hex digests over OpenSSL (core/digest.h).
 */
#include "core/digest.h"

void core_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int core_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    out[0] = '\0';
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        return -1;
    core_hex(md, 32, out);
    return 0;
}

int core_sha256_final_hex(EVP_MD_CTX *md, char out[65])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    out[0] = '\0';
    if (!EVP_DigestFinal_ex(md, d, &dlen) || dlen != 32)
        return -1;
    core_hex(d, 32, out);
    return 0;
}
