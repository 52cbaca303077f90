/*
 * Reading EC2 Query API replies (XML) with libxml2: instances from RunInstances,
 * DescribeInstances and TerminateInstances, console output, spot prices, and the error
 * document. Hostile input is expected: no network, no entity substitution, no DTD, a size
 * cap, and a clear message instead of a crash for anything that isn't what EC2 sends.
 */
#ifndef GPUFORM_MODULES_AWS_EC2_XML_H
#define GPUFORM_MODULES_AWS_EC2_XML_H

#include <stddef.h>

#include "modules/provider.h"

#define EC2_XML_MAX ((size_t)32 << 20) /* a reply bigger than this is refused */

/* Call once, before threads start (libxml2's own initialisation). */
void ec2_xml_init(void);

/*
 * An EC2 error document (<Response><Errors><Error><Code>..<Message>..</Error></Errors>
 * <RequestID>..</RequestID></Response>). Returns 0 with code, message and request id
 * filled (each truncated to its buffer), or -1 when the body is not one.
 */
int ec2_parse_error(const char *body, size_t len, char *code, size_t codelen, char *message,
                    size_t messagelen, char *request_id, size_t idlen);

/*
 * The instances of a RunInstances, DescribeInstances or TerminateInstances reply, appended
 * to *out with `region` set; `next_token` gets DescribeInstances' nextToken ("" when it is
 * the last page; may be NULL). Returns 0, or -1 with `why` ("not XML: ...", "no
 * instancesSet in the reply", "an instance without instanceId").
 */
int ec2_parse_instances(const char *body, size_t len, const char *region,
                        struct prov_instance_list *out, char *next_token, size_t tokenlen,
                        char *why, size_t whylen);

/* GetConsoleOutput's <output>, base64-decoded into a malloc'd *text ("" when empty). */
int ec2_parse_console_output(const char *body, size_t len, char **text, char *why, size_t whylen);

struct ec2_spot_price {
    char zone[64];
    char instance_type[64];
    double usd_per_hour;
    char timestamp[32];
};

/* DescribeSpotPriceHistory's spotPriceHistorySet: up to `max` entries into out, *n set. */
int ec2_parse_spot_prices(const char *body, size_t len, struct ec2_spot_price *out, size_t max,
                          size_t *n, char *why, size_t whylen);

#endif
