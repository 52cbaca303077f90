/*
 * EC2's XML, read as a tree (xmlReadMemory) because its replies nest item sets
 * (reservationSet/item/instancesSet/item/tagSet/item). Elements are matched by local name,
 * so the API version in the namespace doesn't matter.
 */
#include "modules/aws/ec2_xml.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void ec2_xml_init(void)
{
    xmlInitParser();
}

static xmlDocPtr parse(const char *body, size_t len, char *why, size_t whylen)
{
    if (!body || len == 0) {
        snprintf(why, whylen, "an empty reply where XML was expected");
        return NULL;
    }
    if (len > EC2_XML_MAX) {
        snprintf(why, whylen, "a %zu-byte reply, over the %zu MiB limit", len, EC2_XML_MAX >> 20);
        return NULL;
    }
    /* No XML_PARSE_NOENT (entities stay unexpanded), no DTD loading, no network. */
    xmlDocPtr doc = xmlReadMemory(body, (int)len, "reply.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        const xmlError *e = xmlGetLastError();
        snprintf(why, whylen, "not XML (%s%s)", e && e->message ? "" : "unparseable",
                 e && e->message ? e->message : "");
        size_t n = strlen(why);
        if (n >= 2 && why[n - 2] == '\n') { /* libxml2 messages end in a newline */
            why[n - 2] = ')';
            why[n - 1] = '\0';
        }
        return NULL;
    }
    return doc;
}

static bool named(const xmlNode *n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static xmlNode *child(const xmlNode *n, const char *name)
{
    for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
        if (named(c, name))
            return c;
    return NULL;
}

/* The first element called `name` at or below n, depth first. */
static xmlNode *find(xmlNode *n, const char *name)
{
    for (; n; n = n->next) {
        if (named(n, name))
            return n;
        xmlNode *f = find(n->children, name);
        if (f)
            return f;
    }
    return NULL;
}

/* The text of child `name` into out ("" when absent). */
static void text_of(xmlNode *n, const char *name, char *out, size_t outlen)
{
    out[0] = '\0';
    xmlNode *c = name ? child(n, name) : n;
    if (!c)
        return;
    xmlChar *t = xmlNodeGetContent(c);
    if (t) {
        snprintf(out, outlen, "%s", (const char *)t);
        xmlFree(t);
    }
}

int ec2_parse_error(const char *body, size_t len, char *code, size_t codelen, char *message,
                    size_t messagelen, char *request_id, size_t idlen)
{
    char why[256];
    code[0] = message[0] = request_id[0] = '\0';
    xmlDocPtr doc = parse(body, len, why, sizeof why);
    if (!doc)
        return -1;
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlNode *err = root ? find(root, "Error") : NULL;
    int rc = -1;
    if (err && child(err, "Code")) {
        text_of(err, "Code", code, codelen);
        text_of(err, "Message", message, messagelen);
        xmlNode *id = find(root, "RequestID");
        if (!id)
            id = find(root, "RequestId");
        if (id)
            text_of(id, NULL, request_id, idlen);
        rc = code[0] ? 0 : -1;
    }
    xmlFreeDoc(doc);
    return rc;
}

static enum prov_state state_from(const char *name)
{
    static const char *const names[] = {"pending", "running",       "stopping",
                                        "stopped", "shutting-down", "terminated"};
    for (int i = 0; i < 6; i++)
        if (strcmp(name, names[i]) == 0)
            return (enum prov_state)i;
    return PROV_STATE_UNKNOWN;
}

/* "2010-08-17T01:15:18.000Z" -> Unix seconds, 0 when not a time. */
static int64_t iso_time(const char *s)
{
    struct tm tm = {0};
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

static int read_instance(xmlNode *item, const char *region, struct prov_instance *in)
{
    memset(in, 0, sizeof *in);
    char buf[160];
    text_of(item, "instanceId", in->id, sizeof in->id);
    if (!in->id[0])
        return -1;
    snprintf(in->region, sizeof in->region, "%s", region ? region : "");
    text_of(item, "instanceType", in->instance_type, sizeof in->instance_type);
    text_of(child(item, "placement"), "availabilityZone", in->zone, sizeof in->zone);
    xmlNode *st = child(item, "instanceState");
    if (!st)
        st = child(item, "currentState"); /* TerminateInstances */
    text_of(st, "name", buf, sizeof buf);
    in->state = state_from(buf);
    text_of(item, "instanceLifecycle", buf, sizeof buf);
    in->spot = strcmp(buf, "spot") == 0;
    text_of(item, "launchTime", buf, sizeof buf);
    in->launch_time = iso_time(buf);
    text_of(item, "clientToken", in->token, sizeof in->token);
    xmlNode *reason = child(item, "stateReason");
    if (reason) {
        char code[64], msg[96];
        text_of(reason, "code", code, sizeof code);
        text_of(reason, "message", msg, sizeof msg);
        snprintf(in->state_reason, sizeof in->state_reason, "%.60s%s%.90s", code, *msg ? ": " : "",
                 msg);
    }
    for (xmlNode *t = child(child(item, "tagSet"), "item"); t; t = t->next) {
        if (!named(t, "item"))
            continue;
        char key[128], value[160];
        text_of(t, "key", key, sizeof key);
        text_of(t, "value", value, sizeof value);
        if (strcmp(key, "gpuform:stack") == 0)
            snprintf(in->stack, sizeof in->stack, "%.127s", value);
        else if (strcmp(key, "gpuform:address") == 0)
            snprintf(in->address, sizeof in->address, "%s", value);
    }
    return 0;
}

/* Every instancesSet/item below n. */
static int collect(xmlNode *n, const char *region, struct prov_instance_list *out, int *found,
                   char *why, size_t whylen)
{
    for (; n; n = n->next) {
        if (named(n, "instancesSet")) {
            (*found)++;
            for (xmlNode *it = n->children; it; it = it->next) {
                if (!named(it, "item"))
                    continue;
                struct prov_instance in;
                if (read_instance(it, region, &in) != 0) {
                    snprintf(why, whylen, "an instance without instanceId in the reply");
                    return -1;
                }
                if (prov_instance_list_add(out, &in) != 0) {
                    snprintf(why, whylen, "out of memory");
                    return -1;
                }
            }
            continue;
        }
        if (collect(n->children, region, out, found, why, whylen) != 0)
            return -1;
    }
    return 0;
}

int ec2_parse_instances(const char *body, size_t len, const char *region,
                        struct prov_instance_list *out, char *next_token, size_t tokenlen,
                        char *why, size_t whylen)
{
    if (next_token)
        next_token[0] = '\0';
    xmlDocPtr doc = parse(body, len, why, whylen);
    if (!doc)
        return -1;
    xmlNode *root = xmlDocGetRootElement(doc);
    int found = 0;
    int rc = root ? collect(root, region, out, &found, why, whylen) : -1;
    if (rc == 0 && found == 0) {
        /* an empty DescribeInstances has an empty reservationSet, and no instancesSet */
        if (!find(root, "reservationSet")) {
            snprintf(why, whylen, "no instancesSet or reservationSet in the <%s> reply",
                     root ? (const char *)root->name : "?");
            rc = -1;
        }
    }
    if (rc == 0 && next_token) {
        xmlNode *nt = child(root, "nextToken");
        if (nt)
            text_of(nt, NULL, next_token, tokenlen);
    }
    if (!root)
        snprintf(why, whylen, "an empty XML document");
    xmlFreeDoc(doc);
    return rc;
}

int ec2_parse_console_output(const char *body, size_t len, char **text, char *why, size_t whylen)
{
    *text = NULL;
    xmlDocPtr doc = parse(body, len, why, whylen);
    if (!doc)
        return -1;
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlNode *out = root ? child(root, "output") : NULL;
    xmlChar *b64 = out ? xmlNodeGetContent(out) : NULL;
    int rc = 0;
    if (!root || strcmp((const char *)root->name, "GetConsoleOutputResponse") != 0) {
        snprintf(why, whylen, "not a GetConsoleOutputResponse");
        rc = -1;
    } else {
        /* strip whitespace, then decode */
        const char *src = b64 ? (const char *)b64 : "";
        size_t n = strlen(src);
        char *clean = malloc(n + 1);
        unsigned char *dec = malloc(n / 4 * 3 + 4);
        size_t k = 0;
        for (size_t i = 0; clean && i < n; i++)
            if (src[i] != '\n' && src[i] != '\r' && src[i] != ' ' && src[i] != '\t')
                clean[k++] = src[i];
        int dlen = clean && dec && k % 4 == 0
                       ? EVP_DecodeBlock(dec, (const unsigned char *)clean, (int)k)
                       : -1;
        if (clean && dec && k == 0)
            dlen = 0;
        if (dlen < 0) {
            snprintf(why, whylen, "console output that is not base64");
            rc = -1;
        } else {
            /* EVP_DecodeBlock counts padding as zero bytes */
            while (k >= 1 && clean[k - 1] == '=' && dlen > 0) {
                dlen--;
                k--;
            }
            dec[dlen] = '\0';
            *text = (char *)dec;
            dec = NULL;
        }
        free(clean);
        free(dec);
    }
    if (b64)
        xmlFree(b64);
    xmlFreeDoc(doc);
    return rc;
}

int ec2_parse_spot_prices(const char *body, size_t len, struct ec2_spot_price *out, size_t max,
                          size_t *n, char *why, size_t whylen)
{
    *n = 0;
    xmlDocPtr doc = parse(body, len, why, whylen);
    if (!doc)
        return -1;
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlNode *set = root ? find(root, "spotPriceHistorySet") : NULL;
    int rc = 0;
    if (!set) {
        snprintf(why, whylen, "no spotPriceHistorySet in the reply");
        rc = -1;
    }
    for (xmlNode *it = set ? set->children : NULL; it && *n < max; it = it->next) {
        if (!named(it, "item"))
            continue;
        struct ec2_spot_price *p = &out[*n];
        char price[64];
        text_of(it, "availabilityZone", p->zone, sizeof p->zone);
        text_of(it, "instanceType", p->instance_type, sizeof p->instance_type);
        text_of(it, "timestamp", p->timestamp, sizeof p->timestamp);
        text_of(it, "spotPrice", price, sizeof price);
        char *end;
        p->usd_per_hour = strtod(price, &end);
        if (end == price || p->usd_per_hour < 0) {
            snprintf(why, whylen, "a spot price that is not a number: '%s'", price);
            rc = -1;
            break;
        }
        (*n)++;
    }
    xmlFreeDoc(doc);
    return rc;
}
