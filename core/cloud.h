/*
 * Clouds gpuform knows and the public regions of each. The planner, the validator and the
 * providers all name clouds and regions; this is the one list they share, so a typo in a
 * spec ("us-est-1") is caught before any API call.
 */
#ifndef GPUFORM_CORE_CLOUD_H
#define GPUFORM_CORE_CLOUD_H

#include <stdbool.h>
#include <stddef.h>

enum core_cloud { CORE_CLOUD_AWS, CORE_CLOUD_GCP, CORE_CLOUD_AZURE, CORE_CLOUD_COUNT };

/* The cloud's spec name ("aws", "gcp", "azure"); never NULL for a valid id. */
const char *core_cloud_name(enum core_cloud cloud);

/* The cloud whose spec name is `name` (exact, lowercase), or -1 when there is none. */
int core_cloud_from_name(const char *name);

/* The cloud's public region names, sorted by strcmp, static storage. *n gets the count. */
const char *const *core_cloud_regions(enum core_cloud cloud, size_t *n);

/* True when `region` is one of the cloud's public regions (exact match). O(log n). */
bool core_region_known(enum core_cloud cloud, const char *region);

#endif
