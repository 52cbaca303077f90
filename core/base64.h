/*
 * base64url without padding (RFC 4648 §5), as JWTs use it: the GCP provider signs its
 * assertions with it, and cloudsim reads and writes the tokens of its GCE and ARM dialects.
 */
#ifndef GPUFORM_CORE_BASE64_H
#define GPUFORM_CORE_BASE64_H

#include <stddef.h>

/* The base64url text (no padding) of data[0..len), malloc'd; NULL when out of memory. */
char *core_base64url(const void *data, size_t len);

/*
 * Decodes `n` characters of base64url without padding. Returns the bytes, malloc'd and
 * NUL-terminated (so text can be used as a string), with their count in *outlen when not
 * NULL; NULL for a character outside the alphabet, a length no encoding has, more than
 * `max` characters, or out of memory.
 */
char *core_base64url_decode(const char *s, size_t n, size_t max, size_t *outlen);

#endif
