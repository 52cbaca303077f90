/*
 * The AWS provider (prov_aws in modules/provider.h) over the EC2 Query API. Endpoint:
 * prov_config.endpoint, else GPUFORM_AWS_ENDPOINT, AWS_ENDPOINT_URL_EC2 or
 * AWS_ENDPOINT_URL, else https://ec2.REGION.amazonaws.com. docs/providers.md.
 */
#ifndef GPUFORM_MODULES_AWS_EC2_H
#define GPUFORM_MODULES_AWS_EC2_H

#include <stdbool.h>

#include "modules/aws/ec2_xml.h"
#include "modules/provider.h"

/* True for a tag key EC2 takes on an instance whose tags are in its instance metadata
 * (MetadataOptions.InstanceMetadataTags=enabled): letters, digits and + - = . , _ : @, and
 * not ".", ".." or "_index" (the EC2 User Guide, "View tags for your EC2 instances using
 * instance metadata"); a launch or CreateTags with another fails. Pure. */
bool aws_imds_tag_key(const char *key);

/* EC2's error codes to classes (docs/providers.md has the table and the reasons). */
enum prov_error_class aws_classify(const char *code, long http_status);

/* DescribeSpotPriceHistory for one instance type (Linux/UNIX) in a region: up to `max`
 * recent prices per zone into out, *n set. */
int aws_spot_price_history(struct prov *p, const char *region, const char *instance_type,
                           struct ec2_spot_price *out, size_t max, size_t *n,
                           struct prov_error *err);

#endif
