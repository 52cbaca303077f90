/*
 * Azure Resource Manager's JSON, both ways, kept apart from HTTP so that every reply shape
 * is tested on recorded samples: error bodies, long-running operation status, a VM (with
 * or without its instance view) as a prov_instance, list pages with nextLink, and the
 * request bodies of a VM and of its network interface. All through jansson.
 */
#ifndef GPUFORM_MODULES_AZURE_ARM_JSON_H
#define GPUFORM_MODULES_AZURE_ARM_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "modules/provider.h"

/* The tags gpuform puts on every VM and NIC it makes. */
#define ARM_TAG_STACK   "gpuform-stack"
#define ARM_TAG_ADDRESS "gpuform-address"
#define ARM_TAG_TOKEN   "gpuform-token"

/*
 * ARM's error body, {"error": {"code", "message", "details": [...]}} (or, from some
 * resource providers, {"code", "message"} at the top). When the code is a wrapper
 * ("DeploymentFailed", "MultipleErrorsOccurred") the first detail's code and message are
 * taken instead. 0 with code and msg filled, -1 when the body is not one.
 */
int arm_parse_error(const char *body, size_t len, char *code, size_t codelen, char *msg,
                    size_t msglen);

enum arm_op_status { ARM_OP_IN_PROGRESS, ARM_OP_SUCCEEDED, ARM_OP_FAILED, ARM_OP_CANCELED };

/*
 * An Azure-AsyncOperation status: {"status": "InProgress" | "Succeeded" | "Failed" |
 * "Canceled", "error": {...}}; for Failed and Canceled the error's code and message (empty
 * when none). Any other status is in progress (resource providers add their own, e.g.
 * "Accepted", "Deleting"). -1 with why[] when the body has no status.
 */
int arm_parse_operation(const char *body, size_t len, enum arm_op_status *st, char *code,
                        size_t codelen, char *msg, size_t msglen, char *why, size_t whylen);

/*
 * The state of a VM from its provisioning state ("Creating", "Succeeded", "Deleting",
 * "Failed", ...; or the instance view's "ProvisioningState/failed/AllocationFailed") and
 * its power state ("PowerState/running", "deallocated", ...; NULL when not known). Case
 * does not matter. docs/providers.md has the table.
 */
enum prov_state arm_vm_state(const char *provisioning, const char *power);

/*
 * One VM object (a GET reply, a PUT reply or a list item) into *out: id = name, tags,
 * region = location, zone = LOCATION-N from zones[0], instance type = vmSize, spot =
 * priority Spot, launch time = timeCreated, state from provisioningState and, when the
 * object carries properties.instanceView (GET with $expand=instanceView), the power state.
 * -1 with why[] when it is not a VM object.
 */
int arm_vm_from_json(const json_t *vm, struct prov_instance *out, char *why, size_t whylen);

/* arm_vm_from_json over a reply body. */
int arm_parse_vm(const char *body, size_t len, struct prov_instance *out, char *why, size_t whylen);

/*
 * A separate instance view reply (GET .../instanceView): updates out->state and
 * out->state_reason from its statuses. -1 with why[] when it has no statuses array.
 */
int arm_parse_instance_view(const char *body, size_t len, struct prov_instance *out, char *why,
                            size_t whylen);

/*
 * A list page: {"value": [...], "nextLink": "..."}. Returns the parsed document in *doc
 * (json_decref it) with *items borrowed from it, and writes nextLink into next[] ("" on
 * the last page). -1 with why[] when the body is not a list page or the link does not fit.
 */
int arm_parse_page(const char *body, size_t len, json_t **doc, json_t **items, char *next,
                   size_t nextlen, char *why, size_t whylen);

/*
 * A page of VMs: appends those tagged gpuform-stack = `stack` in `location` (either may be
 * NULL: no filter) that are not terminated. Same paging contract as arm_parse_page.
 */
int arm_parse_vm_page(const char *body, size_t len, const char *location, const char *stack,
                      struct prov_instance_list *out, char *next, size_t nextlen, char *why,
                      size_t whylen);

/*
 * A page of the generic resources list (GET .../resources?$filter=...): the name of the
 * first virtual machine in `location` into name[] ("" when none). Same paging contract.
 */
int arm_parse_resource_page(const char *body, size_t len, const char *location, char *name,
                            size_t namelen, char *next, size_t nextlen, char *why, size_t whylen);

/* Whether two Azure locations are the same ("East US" and "eastus" are). */
bool arm_same_location(const char *a, const char *b);

/* What a VM is made of. */
struct arm_vm_spec {
    const char *name;        /* also the computer name */
    const char *location;    /* "eastus" */
    const char *zone;        /* "1", "2", "3", or NULL: no zone */
    const char *vm_size;     /* "Standard_ND96asr_v4" */
    bool spot;               /* priority Spot, evictionPolicy Delete, maxPrice -1 */
    const char *image;       /* "publisher:offer:sku:version" or a resource id */
    const char *custom_data; /* base64, or NULL */
    const char *admin_username;
    const char *ssh_public_key;          /* "ssh-ed25519 AAAA..." */
    const char *nic_id;                  /* the network interface's resource id */
    const char *stack, *address, *token; /* the tags */
    const struct prov_tag *labels;       /* the workload's labels, as more tags */
    size_t nlabels;
};

/* A label key as an Azure tag name: '/' (which tag names may not hold, and label keys may)
 * becomes ':' (which label keys never hold), so the mapping is one to one. out[len]. */
void arm_tag_name(const char *label, char *out, size_t len);

/*
 * The JSON body of a VM PUT (Microsoft.Compute virtualMachines): the tags, zones,
 * hardwareProfile, storageProfile (imageReference; osDisk FromImage with deleteOption
 * Delete), osProfile (Linux, password login off, the SSH key, customData),
 * networkProfile (the NIC, primary, deleteOption Delete), spot settings, boot diagnostics
 * on (managed storage). 0 with *out malloc'd; -1 when the image is neither
 * PUBLISHER:OFFER:SKU:VERSION nor a resource id (why[] says so); -2 when out of memory.
 */
int arm_vm_body(const struct arm_vm_spec *s, char **out, char *why, size_t whylen);

/* The JSON body of a NIC PUT: one dynamic IP configuration in `subnet_id`, the tags.
 * malloc'd, or NULL when out of memory. */
char *arm_nic_body(const char *location, const char *subnet_id, const char *stack,
                   const char *address, const char *token);

#endif
