/*
 * The GCP provider (prov_gcp in modules/provider.h) over the Compute Engine v1 REST API, and
 * the pure rules it follows: GCE's names and labels, request ids, accelerator names and error
 * classes. Endpoint: prov_config.endpoint, else GPUFORM_GCP_ENDPOINT, else
 * https://compute.googleapis.com; project: GOOGLE_CLOUD_PROJECT, CLOUDSDK_CORE_PROJECT, else
 * the key's. docs/providers.md.
 *
 * An instance's provider id is "ZONE/NAME" (us-central1-a/gf-train-0-1a2b3c4d5e): GCE
 * addresses instances by zone and name.
 */
#ifndef GPUFORM_MODULES_GCP_GCP_H
#define GPUFORM_MODULES_GCP_GCP_H

#include <stdbool.h>
#include <stddef.h>

#include "modules/provider.h"

/* Labels and metadata keys gpuform sets on every instance. */
#define GCP_LABEL_STACK   "gpuform-stack"
#define GCP_LABEL_ADDRESS "gpuform-address"
#define GCP_LABEL_TOKEN   "gpuform-token"

/* GCE's error reasons and operation error codes to classes (docs/providers.md). */
enum prov_error_class gcp_classify(const char *code, long http_status);

/*
 * A label value from any string, by GCE's rules: at most 63 characters of lowercase
 * letters, digits, '_' and '-'. Upper case is lowered; every other byte becomes '_'.
 * out must hold 64 bytes. Lossy: the exact string goes in the instance's metadata.
 */
void gcp_label_value(const char *in, char out[64]);

/* A label key from any string: gcp_label_value's rules, and a first character that is a
 * lowercase letter ("l" is put before one that is not). out must hold 64 bytes. */
void gcp_label_key(const char *in, char out[64]);

/*
 * The instance name of a create: "gf-", the address made name-safe ([a-z0-9-], runs of
 * anything else one '-', at most 22 characters), '-', and 10 hex digits of SHA-256 of the
 * token. Valid for GCE ([a-z]([-a-z0-9]{0,61}[a-z0-9])?), at most 36 characters; the same
 * token always gives the same name, two tokens practically never one.
 */
void gcp_instance_name(const char *address, const char *token, char out[64]);

/*
 * The requestId GCE deduplicates a call by: a UUID (version 4 layout, variant 10) made of
 * SHA-256 over "gpuform:" KIND ":" KEY, so that a retried call (same kind and key) repeats
 * the same id and GCE does the work once. out gets 36 characters and a NUL.
 */
void gcp_request_id(const char *kind, const char *key, char out[37]);

/* GCE's accelerator type for a gpuform GPU model ("T4" -> "nvidia-tesla-t4"), or NULL. */
const char *gcp_accelerator_name(const char *gpu_model);

/* Whether a machine type carries no GPUs of its own, so that GPUs are attached to it as
 * guestAccelerators (N1); a2, a3, g2 and the rest carry theirs. */
bool gcp_type_takes_accelerators(const char *machine_type);

/* The region of a zone ("us-central1-a" -> "us-central1"), into out[64]. */
void gcp_zone_region(const char *zone, char out[64]);

#endif
