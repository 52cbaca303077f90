/*
 * SHA-256 in hex, the form every digest gpuform shows or stores takes (the catalog's, the
 * stack's, the saved plan's, SigV4's): one place over OpenSSL's EVP interface.
 */
#ifndef GPUFORM_CORE_DIGEST_H
#define GPUFORM_CORE_DIGEST_H

#include <stddef.h>

#include <openssl/evp.h>

/* Lowercase hex of the `n` bytes at `in` into `out` (2n + 1 bytes, NUL-terminated). */
void core_hex(const unsigned char *in, size_t n, char *out);

/* The hex SHA-256 of `data` into out[65]. 0, or -1 when OpenSSL failed (out is ""). */
int core_sha256_hex(const void *data, size_t len, char out[65]);

/* Finishes a SHA-256 begun with EVP_DigestInit_ex(md, EVP_sha256(), NULL) into out[65]; the
 * caller still frees `md`. 0, or -1 when OpenSSL failed (out is ""). */
int core_sha256_final_hex(EVP_MD_CTX *md, char out[65]);

#endif
