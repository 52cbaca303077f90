/*
 * The clouds gpuform knows and their public regions, as static sorted tables, so that a spec
 * naming "us-est-1" or an Azure region under gcp is rejected before any provider API is called.
 * Each list is sorted by strcmp (C locale) so lookups are a bsearch.
 */
#include "core/cloud.h"

#include <stdlib.h>
#include <string.h>

/*
 * AWS: the union of the real regions (Local Zones and Wavelength Zones such as us-east-1-atl-1
 * left out) in shared/data/catalog/aws_gpu_vms.csv and aws_gpu_ondemand_vantage.csv as of
 * 2026-11-21, and AWS's public region list: commercial, GovCloud (us-gov-*) and China (cn-*).
 */
static const char *const aws_regions[] = {
    "af-south-1",     "ap-east-1",      "ap-east-2",      "ap-northeast-1", "ap-northeast-2",
    "ap-northeast-3", "ap-south-1",     "ap-south-2",     "ap-southeast-1", "ap-southeast-2",
    "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7",
    "ca-central-1",   "ca-west-1",      "cn-north-1",     "cn-northwest-1", "eu-central-1",
    "eu-central-2",   "eu-north-1",     "eu-south-1",     "eu-south-2",     "eu-west-1",
    "eu-west-2",      "eu-west-3",      "il-central-1",   "me-central-1",   "me-south-1",
    "mx-central-1",   "sa-east-1",      "us-east-1",      "us-east-2",      "us-gov-east-1",
    "us-gov-west-1",  "us-west-1",      "us-west-2",
};

/*
 * GCP: the union of the regions in shared/data/catalog/gcp_gpu_host_vms.csv and gcp_gpu_vms.csv
 * as of 2026-11-21 (us-central2 comes from there: a TPU-only region) and Google Cloud's public
 * region list.
 */
static const char *const gcp_regions[] = {
    "africa-south1",
    "asia-east1",
    "asia-east2",
    "asia-northeast1",
    "asia-northeast2",
    "asia-northeast3",
    "asia-south1",
    "asia-south2",
    "asia-southeast1",
    "asia-southeast2",
    "australia-southeast1",
    "australia-southeast2",
    "europe-central2",
    "europe-north1",
    "europe-north2",
    "europe-southwest1",
    "europe-west1",
    "europe-west10",
    "europe-west12",
    "europe-west2",
    "europe-west3",
    "europe-west4",
    "europe-west6",
    "europe-west8",
    "europe-west9",
    "me-central1",
    "me-central2",
    "me-west1",
    "northamerica-northeast1",
    "northamerica-northeast2",
    "northamerica-south1",
    "southamerica-east1",
    "southamerica-west1",
    "us-central1",
    "us-central2",
    "us-east1",
    "us-east4",
    "us-east5",
    "us-south1",
    "us-west1",
    "us-west2",
    "us-west3",
    "us-west4",
};

/*
 * Azure: the union of the regions in shared/data/catalog/azure_gpu_vms.csv as of 2026-11-21 and
 * Azure's public region list, in the API name form ("eastus", not "East US").
 */
static const char *const azure_regions[] = {
    "australiacentral", "australiacentral2",
    "australiaeast",    "australiasoutheast",
    "brazilsouth",      "brazilsoutheast",
    "canadacentral",    "canadaeast",
    "centralindia",     "centralus",
    "chilecentral",     "eastasia",
    "eastus",           "eastus2",
    "francecentral",    "francesouth",
    "germanynorth",     "germanywestcentral",
    "indonesiacentral", "israelcentral",
    "italynorth",       "japaneast",
    "japanwest",        "jioindiacentral",
    "jioindiawest",     "koreacentral",
    "koreasouth",       "malaysiawest",
    "mexicocentral",    "newzealandnorth",
    "northcentralus",   "northeurope",
    "norwayeast",       "norwaywest",
    "polandcentral",    "qatarcentral",
    "southafricanorth", "southafricawest",
    "southcentralus",   "southeastasia",
    "southindia",       "spaincentral",
    "swedencentral",    "switzerlandnorth",
    "switzerlandwest",  "uaecentral",
    "uaenorth",         "uksouth",
    "ukwest",           "westcentralus",
    "westeurope",       "westindia",
    "westus",           "westus2",
    "westus3",
};

struct cloud_info {
    const char *name;
    const char *const *regions;
    size_t nregions;
};

static const struct cloud_info clouds[CORE_CLOUD_COUNT] = {
    [CORE_CLOUD_AWS] = {"aws", aws_regions, sizeof aws_regions / sizeof aws_regions[0]},
    [CORE_CLOUD_GCP] = {"gcp", gcp_regions, sizeof gcp_regions / sizeof gcp_regions[0]},
    [CORE_CLOUD_AZURE] = {"azure", azure_regions, sizeof azure_regions / sizeof azure_regions[0]},
};

static bool cloud_valid(enum core_cloud cloud)
{
    return (int)cloud >= 0 && cloud < CORE_CLOUD_COUNT;
}

const char *core_cloud_name(enum core_cloud cloud)
{
    if (!cloud_valid(cloud))
        return NULL;
    return clouds[cloud].name;
}

int core_cloud_from_name(const char *name)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i < CORE_CLOUD_COUNT; i++) {
        if (strcmp(clouds[i].name, name) == 0)
            return i;
    }
    return -1;
}

const char *const *core_cloud_regions(enum core_cloud cloud, size_t *n)
{
    if (!cloud_valid(cloud)) {
        if (n != NULL)
            *n = 0;
        return NULL;
    }
    if (n != NULL)
        *n = clouds[cloud].nregions;
    return clouds[cloud].regions;
}

/* bsearch comparator: the key is the region string, each element a `const char *`. */
static int region_cmp(const void *key, const void *elem)
{
    return strcmp((const char *)key, *(const char *const *)elem);
}

bool core_region_known(enum core_cloud cloud, const char *region)
{
    if (!cloud_valid(cloud) || region == NULL)
        return false;
    const struct cloud_info *c = &clouds[cloud];
    return bsearch(region, c->regions, c->nregions, sizeof c->regions[0], region_cmp) != NULL;
}
