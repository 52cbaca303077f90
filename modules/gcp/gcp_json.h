/*
 * Compute Engine v1's JSON, read and written with jansson: instances, instance lists (zonal
 * and aggregated, with paging), operations and their errors, API error bodies, machine and
 * accelerator types, serial port output, and the instances.insert body. Pure functions over
 * text, so every reply shape is tested on recorded samples.
 */
#ifndef GPUFORM_MODULES_GCP_GCP_JSON_H
#define GPUFORM_MODULES_GCP_GCP_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "modules/provider.h"

/* A zone operation, as far as gpuform reads it. */
struct gcp_operation {
    char name[128];
    char zone[64];       /* the last segment of its zone URL */
    char status[16];     /* PENDING, RUNNING, DONE */
    char target[160];    /* the last segment of targetLink (the instance name) */
    char error_code[96]; /* the first error.errors[].code; "" when none */
    char error_msg[512]; /* its message */
    long http_error;     /* httpErrorStatusCode, 0 when absent */
};

struct gcp_machine_type {
    char name[64];
    int guest_cpus;
    long memory_mb;
    char accelerator[64]; /* accelerators[0].guestAcceleratorType, "" for none */
    int accelerator_count;
};

struct gcp_accelerator_type {
    char name[64];
    char description[128];
    int max_per_instance; /* maximumCardsPerInstance */
};

/*
 * Reads one instance (compute#instance) into *out: id "ZONE/NAME", stack, address and token
 * from the metadata items gpuform sets (else the labels), zone and region, machine type, spot
 * (provisioningModel SPOT or preemptible), state (PROVISIONING/STAGING pending, RUNNING
 * running, STOPPING/SUSPENDING stopping, SUSPENDED stopped, TERMINATED terminated for spot
 * (preempted) and stopped otherwise), statusMessage as the reason, creationTimestamp.
 * 0, or -1 with why[] saying what is missing.
 */
int gcp_parse_instance(const char *body, size_t len, struct prov_instance *out, char *why,
                       size_t whylen);

/*
 * Reads a compute#instanceList or compute#instanceAggregatedList and appends its instances
 * to *out; with `region`, only those in zones of that region (aggregated scopes
 * "zones/ZONE"; scopes holding only a warning are skipped). next[nextlen] gets
 * nextPageToken ("" on the last page; next may be NULL). 0, or -1 with why[].
 */
int gcp_parse_instance_list(const char *body, size_t len, const char *region,
                            struct prov_instance_list *out, char *next, size_t nextlen, char *why,
                            size_t whylen);

/* Reads a compute#operation. 0, or -1 with why[]. */
int gcp_parse_operation(const char *body, size_t len, struct gcp_operation *op, char *why,
                        size_t whylen);

/*
 * Reads an error body: the API's {"error": {"code", "message", "errors": [{"reason"}],
 * "status"}} (code[] gets errors[0].reason, else status) or OAuth's {"error": "...",
 * "error_description": "..."}. 0, or -1 when the body is neither (a proxy's page).
 */
int gcp_parse_error(const char *body, size_t len, char *code, size_t codelen, char *msg,
                    size_t msglen);

int gcp_parse_machine_type(const char *body, size_t len, struct gcp_machine_type *out, char *why,
                           size_t whylen);

int gcp_parse_accelerator_type(const char *body, size_t len, struct gcp_accelerator_type *out,
                               char *why, size_t whylen);

/* The first zone of a compute#region (its "zones" URLs) into zone[64]. 0, or -1 with why[]. */
int gcp_parse_region_zone(const char *body, size_t len, char zone[64], char *why, size_t whylen);

/* The contents of a compute#serialPortOutput, malloc'd into *text. 0, or -1 with why[]. */
int gcp_parse_serial_output(const char *body, size_t len, char **text, char *why, size_t whylen);

/*
 * The instances.setMetadata body that sets item `key` to `value` on the instance of an
 * instances.get reply `body`: its metadata.fingerprint, and every other item kept exactly as
 * it is (the startup-script included), `key` replaced or appended. malloc'd JSON into *out,
 * 0; or -1 with why[] (not an instance, no fingerprint, malformed items, out of memory).
 */
int gcp_metadata_set_body(const char *body, size_t len, const char *key, const char *value,
                          char **out, char *why, size_t whylen);

/*
 * The instances.insert body for `c` as NAME in ZONE: machineType, labels (stack, address,
 * token, and the workload's labels c->tags, made label-safe; gpuform's own win a clash),
 * metadata items (the exact stack, address and token, and user_data as
 * startup-script), a boot disk from `image`, the default network with an external address,
 * scheduling (onHostMaintenance TERMINATE, as GPUs require; SPOT with
 * instanceTerminationAction DELETE, or STANDARD), and guestAccelerators for types that take
 * them (`accelerator` x c->gpus). malloc'd JSON, or NULL when out of memory.
 */
char *gcp_insert_body(const struct prov_create *c, const char *zone, const char *name,
                      const char *image, const char *accelerator);

#endif
