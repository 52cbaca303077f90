/*
 * What the GCP provider's files share and nothing else needs: the "why" messages of the
 * parsers and credential readers, and percent-encoding for query strings and form bodies.
 */
#ifndef GPUFORM_MODULES_GCP_GCP_INT_H
#define GPUFORM_MODULES_GCP_GCP_INT_H

#include <stddef.h>

#include "core/buf.h"

/* Writes the message into why[whylen] and returns -1, so that `return gcp_why(...)` fails. */
int gcp_why(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Appends `s` percent-encoded (everything but A-Z a-z 0-9 - _ . ~) to `b`. */
void gcp_percent_encode(struct core_buf *b, const char *s);

#endif
