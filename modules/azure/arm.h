/*
 * The Azure provider (prov_azure in modules/provider.h) over Azure Resource Manager:
 * Microsoft.Compute virtual machines (api-version 2024-07-01) with their network
 * interfaces (Microsoft.Network 2024-05-01) in one resource group, tokens from Entra ID
 * (modules/azure/credentials.h). Endpoint: prov_config.endpoint, else
 * GPUFORM_AZURE_ENDPOINT, else https://management.azure.com. docs/providers.md.
 */
#ifndef GPUFORM_MODULES_AZURE_ARM_H
#define GPUFORM_MODULES_AZURE_ARM_H

#include <stddef.h>

#include "modules/provider.h"

#define AZURE_COMPUTE_API   "2024-07-01"
#define AZURE_NETWORK_API   "2024-05-01"
#define AZURE_RESOURCES_API "2021-04-01"

/* The longest VM name azure_vm_name makes, without the NUL (Azure allows 64 on Linux). */
#define AZURE_VM_NAME_MAX 56

/* ARM's error codes to classes (docs/providers.md has the table and the reasons). */
enum prov_error_class azure_classify(const char *code, long http_status);

/*
 * azure_classify with the message too: OperationNotAllowed is a quota only when the
 * message speaks of a quota ("... exceeding approved standardNDSFamily Cores quota"),
 * otherwise the request is invalid (an operation the VM's state does not allow).
 */
enum prov_error_class azure_classify_message(const char *code, const char *message,
                                             long http_status);

/*
 * The VM name for a node: "gf-" + the address made lowercase with every run of other
 * characters as one '-' (at most 40 characters, no '-' at either end) + "-" + the first 12
 * hex digits of SHA-256(token). Valid for Azure (letters, digits, '-', not only digits, at
 * most 64), stable for a token (so a repeated create PUTs the same VM) and different for
 * another token (a replacement gets a new VM). Writes into out[AZURE_VM_NAME_MAX + 1].
 */
void azure_vm_name(const char *address, const char *token, char *out);

/*
 * The zone of a placement as ARM wants it: NULL or "" -> "" (no zone), "2" -> "2",
 * "eastus-2" (LOCATION-N, as instances report it) -> "2". -1 for anything else.
 */
int azure_zone(const char *region, const char *zone, char out[8]);

extern const struct prov_ops prov_azure;

#endif
