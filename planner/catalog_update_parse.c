/*
 * The parsers of `catalog update`: one function per price source turns one reply (a page)
 * into entries of a price table. Kept apart from the fetching so they are tested on recorded
 * replies; every field is checked for its type, and a reply of the wrong shape is an error,
 * never a silently empty table.
 */
#include "planner/catalog_update.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the table ---- */

void plan_price_table_init(struct plan_price_table *t)
{
    memset(t, 0, sizeof *t);
}

void plan_price_table_release(struct plan_price_table *t)
{
    free(t->v);
    memset(t, 0, sizeof *t);
}

static size_t find(const struct plan_price_table *t, enum core_cloud cloud, const char *region,
                   const char *item)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].cloud == cloud && strcmp(t->v[i].region, region) == 0 &&
            strcmp(t->v[i].item, item) == 0)
            return i;
    return t->n;
}

const struct plan_price *plan_price_get(const struct plan_price_table *t, enum core_cloud cloud,
                                        const char *region, const char *item)
{
    size_t i = find(t, cloud, region, item);
    return i < t->n ? &t->v[i] : NULL;
}

int plan_price_put(struct plan_price_table *t, enum core_cloud cloud, const char *region,
                   const char *item, bool spot, double usd, const char *date)
{
    if (strlen(region) >= sizeof t->v[0].region || strlen(item) >= sizeof t->v[0].item)
        return 0; /* no catalog row has such a name */
    if (date == NULL)
        date = "";
    size_t at = find(t, cloud, region, item);
    struct plan_price *p = at < t->n ? &t->v[at] : NULL;
    if (p == NULL) {
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 256;
            struct plan_price *v = realloc(t->v, cap * sizeof *v);
            if (v == NULL)
                return -1;
            t->v = v;
            t->cap = cap;
        }
        p = &t->v[t->n++];
        memset(p, 0, sizeof *p);
        p->cloud = cloud;
        snprintf(p->region, sizeof p->region, "%s", region);
        snprintf(p->item, sizeof p->item, "%s", item);
        p->ondemand = p->spot = -1;
    }
    double *price = spot ? &p->spot : &p->ondemand;
    char *when = spot ? p->spot_date : p->ondemand_date;
    int newer = strcmp(date, when);
    if (*price < 0 || newer > 0 || (newer == 0 && usd < *price)) {
        *price = usd;
        snprintf(when, sizeof p->spot_date, "%s", date);
    }
    return 0;
}

/* ---- shared helpers ---- */

static json_t *load(const char *text, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je);
    if (root == NULL) {
        snprintf(err, errlen, "not JSON: %s at line %d column %d", je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "the reply is JSON but not an object");
        json_decref(root);
        return NULL;
    }
    return root;
}

static const char *str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL ? s : "";
}

static bool contains(const char *hay, const char *needle)
{
    return strcasestr(hay, needle) != NULL;
}

/* A price string ("0.5260000000") or number; -1 when neither or negative. */
static double number(const json_t *v)
{
    if (json_is_number(v))
        return json_number_value(v);
    const char *s = json_string_value(v);
    if (s == NULL || *s == '\0')
        return -1;
    char *end;
    double d = strtod(s, &end);
    return *end == '\0' && d >= 0 ? d : -1;
}

static int take_next(const json_t *root, const char *key, char **next, char *err, size_t errlen)
{
    *next = NULL;
    const json_t *n = json_object_get(root, key);
    const char *s = json_string_value(n);
    if (n != NULL && !json_is_null(n) && s == NULL) {
        snprintf(err, errlen, "'%s' is not a string", key);
        return -1;
    }
    if (s != NULL && *s != '\0' && (*next = strdup(s)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* ---- Azure Retail Prices API ---- */

int plan_prices_parse_azure(const char *text, size_t len, struct plan_price_table *t, char **next,
                            char *err, size_t errlen)
{
    *next = NULL;
    json_t *root = load(text, len, err, errlen);
    if (root == NULL)
        return -1;
    const json_t *items = json_object_get(root, "Items");
    int rc = 0;
    if (!json_is_array(items)) {
        snprintf(err, errlen, "no 'Items' array: not a reply of the Azure Retail Prices API");
        rc = -1;
    }
    size_t i;
    const json_t *it;
    json_array_foreach(items, i, it)
    {
        if (rc != 0)
            break;
        if (!json_is_object(it)) {
            snprintf(err, errlen, "Items[%zu] is not an object", i);
            rc = -1;
            break;
        }
        double usd = number(json_object_get(it, "retailPrice"));
        const char *region = str(it, "armRegionName"), *sku = str(it, "armSkuName");
        if (usd < 0 || *region == '\0' || *sku == '\0') {
            snprintf(err, errlen,
                     "Items[%zu] lacks retailPrice, armRegionName or armSkuName of the right type",
                     i);
            rc = -1;
            break;
        }
        if (strcmp(str(it, "type"), "Consumption") != 0 ||
            strcmp(str(it, "serviceName"), "Virtual Machines") != 0 ||
            strcmp(str(it, "unitOfMeasure"), "1 Hour") != 0 ||
            strcmp(str(it, "currencyCode"), "USD") != 0 ||
            contains(str(it, "productName"), "Windows") ||
            contains(str(it, "meterName"), "Low Priority") ||
            contains(str(it, "skuName"), "Low Priority") || usd == 0)
            continue;
        bool spot = contains(str(it, "meterName"), "Spot") || contains(str(it, "skuName"), "Spot");
        if (plan_price_put(t, CORE_CLOUD_AZURE, region, sku, spot, usd,
                           str(it, "effectiveStartDate")) != 0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    }
    if (rc == 0)
        rc = take_next(root, "NextPageLink", next, err, errlen);
    json_decref(root);
    return rc;
}

/* ---- AWS Price List offer file ---- */

static bool aws_product_wanted(const json_t *attrs, const char *region)
{
    const char *rc = str(attrs, "regionCode");
    if (*rc != '\0' && strcmp(rc, region) != 0)
        return false;
    const char *lic = str(attrs, "licenseModel");
    return *str(attrs, "instanceType") != '\0' &&
           strcmp(str(attrs, "operatingSystem"), "Linux") == 0 &&
           strcmp(str(attrs, "tenancy"), "Shared") == 0 &&
           strcmp(str(attrs, "preInstalledSw"), "NA") == 0 &&
           strcmp(str(attrs, "capacitystatus"), "Used") == 0 &&
           (*lic == '\0' || strcmp(lic, "No License required") == 0);
}

/* The USD per hour of a SKU's on-demand term; -1 when there is none. */
static double aws_ondemand(const json_t *terms, const char *sku, const char **date)
{
    const json_t *offers = json_object_get(json_object_get(terms, "OnDemand"), sku);
    const char *k1;
    const json_t *term;
    json_object_foreach((json_t *)(uintptr_t)offers, k1, term)
    {
        const json_t *dims = json_object_get(term, "priceDimensions");
        const char *k2;
        const json_t *dim;
        json_object_foreach((json_t *)(uintptr_t)dims, k2, dim)
        {
            if (strcmp(str(dim, "unit"), "Hrs") != 0)
                continue;
            double usd = number(json_object_get(json_object_get(dim, "pricePerUnit"), "USD"));
            if (usd > 0) {
                *date = str(term, "effectiveDate");
                return usd;
            }
        }
    }
    return -1;
}

int plan_prices_parse_aws(const char *text, size_t len, const char *region,
                          struct plan_price_table *t, char *err, size_t errlen)
{
    json_t *root = load(text, len, err, errlen);
    if (root == NULL)
        return -1;
    const json_t *products = json_object_get(root, "products");
    const json_t *terms = json_object_get(root, "terms");
    if (!json_is_object(products) || !json_is_object(terms)) {
        snprintf(err, errlen,
                 "no 'products' and 'terms' objects: not an AWS price list offer file");
        json_decref(root);
        return -1;
    }
    int rc = 0;
    const char *sku;
    const json_t *p;
    json_object_foreach((json_t *)(uintptr_t)products, sku, p)
    {
        const json_t *attrs = json_object_get(p, "attributes");
        if (!json_is_object(attrs)) {
            snprintf(err, errlen, "products.%s has no 'attributes' object", sku);
            rc = -1;
            break;
        }
        if (!aws_product_wanted(attrs, region))
            continue;
        const char *date = "";
        double usd = aws_ondemand(terms, sku, &date);
        if (usd > 0 && plan_price_put(t, CORE_CLOUD_AWS, region, str(attrs, "instanceType"), false,
                                      usd, date) != 0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
    }
    json_decref(root);
    return rc;
}

/* ---- GCP Cloud Billing Catalog ---- */

/* GPU names in SKU descriptions, longest first so "A100 80GB" wins over "A100". */
static const struct {
    const char *text, *gpu;
} gcp_gpus[] = {
    {"H100 80GB Mega", "H100-MEGA"},
    {"H100 Mega", "H100-MEGA"},
    {"H200 141GB", "H200"},
    {"H200", "H200"},
    {"H100 80GB", "H100"},
    {"H100", "H100"},
    {"A100 80GB", "A100-80GB"},
    {"A100", "A100"},
    {"L4", "L4"},
    {"T4", "T4"},
    {"V100", "V100"},
    {"P100", "P100"},
    {"P4", "P4"},
    {"K80", "K80"},
    {"B200", "B200"},
};

static const char *gcp_gpu_name(const char *desc)
{
    const char *nv = strcasestr(desc, "Nvidia ");
    const char *gpu = strstr(desc, " GPU running in ");
    if (nv == NULL || gpu == NULL || gpu < nv)
        return NULL;
    const char *name = nv + 7;
    if (strncmp(name, "Tesla ", 6) == 0)
        name += 6;
    size_t n = (size_t)(gpu - name);
    for (size_t i = 0; i < sizeof gcp_gpus / sizeof gcp_gpus[0]; i++)
        if (strlen(gcp_gpus[i].text) == n && strncmp(name, gcp_gpus[i].text, n) == 0)
            return gcp_gpus[i].gpu;
    return NULL;
}

/* "core:n1" / "ram:a2" from "N1 Predefined Instance Core running in Americas", "A2 Instance
 * Ram running in ..."; NULL for anything else (custom, sole tenancy, commitments). */
static bool gcp_component(const char *desc, char *item, size_t cap)
{
    static const char *const fams[] = {"N1 Predefined Instance ", "A2 Instance ", "A3 Instance ",
                                       "G2 Instance "};
    for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++) {
        size_t n = strlen(fams[i]);
        if (strncmp(desc, fams[i], n) != 0)
            continue;
        const char *rest = desc + n;
        const char *kind = strncmp(rest, "Core running in ", 16) == 0  ? "core"
                           : strncmp(rest, "Ram running in ", 15) == 0 ? "ram"
                                                                       : NULL;
        if (kind == NULL)
            return false;
        snprintf(item, cap, "%s:%c%c", kind, desc[0] + ('a' - 'A'), desc[1]);
        return true;
    }
    return false;
}

/* unitPrice {units: "1", nanos: 234000000} of the first tier starting at 0. */
static double gcp_price(const json_t *sku, char *date, size_t datecap)
{
    const json_t *infos = json_object_get(sku, "pricingInfo");
    const json_t *info = json_array_get(infos, json_array_size(infos) - 1);
    if (info == NULL)
        return -1;
    snprintf(date, datecap, "%s", str(info, "effectiveTime"));
    const json_t *tiers =
        json_object_get(json_object_get(info, "pricingExpression"), "tieredRates");
    size_t i;
    const json_t *tier;
    json_array_foreach(tiers, i, tier)
    {
        if (number(json_object_get(tier, "startUsageAmount")) > 0)
            continue;
        const json_t *up = json_object_get(tier, "unitPrice");
        if (strcmp(str(up, "currencyCode"), "USD") != 0)
            return -1;
        double units = number(json_object_get(up, "units"));
        const json_t *nanos = json_object_get(up, "nanos");
        if (units < 0)
            units = 0;
        return units + (json_is_integer(nanos) ? (double)json_integer_value(nanos) / 1e9 : 0);
    }
    return -1;
}

int plan_prices_parse_gcp(const char *text, size_t len, struct plan_price_table *t, char **next,
                          char *err, size_t errlen)
{
    *next = NULL;
    json_t *root = load(text, len, err, errlen);
    if (root == NULL)
        return -1;
    const json_t *skus = json_object_get(root, "skus");
    int rc = 0;
    if (!json_is_array(skus)) {
        snprintf(err, errlen, "no 'skus' array: not a reply of the Cloud Billing Catalog API");
        rc = -1;
    }
    size_t i;
    const json_t *s;
    json_array_foreach(skus, i, s)
    {
        if (rc != 0)
            break;
        const json_t *cat = json_object_get(s, "category");
        const char *desc = str(s, "description");
        if (!json_is_object(cat) || *desc == '\0') {
            snprintf(err, errlen, "skus[%zu] lacks 'category' or 'description'", i);
            rc = -1;
            break;
        }
        if (strcmp(str(cat, "resourceFamily"), "Compute") != 0)
            continue;
        const char *usage = str(cat, "usageType");
        bool spot = strcmp(usage, "Preemptible") == 0;
        if (!spot && strcmp(usage, "OnDemand") != 0)
            continue;
        if (strncmp(desc, "Spot Preemptible ", 17) == 0)
            desc += 17;
        else if (strncmp(desc, "Preemptible ", 12) == 0)
            desc += 12;
        char item[72];
        const char *gpu = gcp_gpu_name(desc);
        if (gpu != NULL)
            snprintf(item, sizeof item, "gpu:%s", gpu);
        else if (!gcp_component(desc, item, sizeof item))
            continue;
        char date[32];
        double usd = gcp_price(s, date, sizeof date);
        if (usd <= 0)
            continue;
        size_t j;
        const json_t *r;
        json_array_foreach(json_object_get(s, "serviceRegions"), j, r)
        {
            const char *region = json_string_value(r);
            if (region != NULL &&
                plan_price_put(t, CORE_CLOUD_GCP, region, item, spot, usd, date) != 0) {
                snprintf(err, errlen, "out of memory");
                rc = -1;
                break;
            }
        }
    }
    if (rc == 0)
        rc = take_next(root, "nextPageToken", next, err, errlen);
    json_decref(root);
    return rc;
}

/* ---- AWS offer file, CSV, streamed ---- */

#define AWS_CSV_MAX_RECORD ((size_t)1 << 20)

enum {
    COL_TERM,
    COL_UNIT,
    COL_PRICE,
    COL_CURRENCY,
    COL_TYPE,
    COL_OS,
    COL_TENANCY,
    COL_SW,
    COL_CAPACITY,
    COL_LICENSE,
    COL_MARKET,
    COL_REGION,
    COL_DATE,
    COL_N
};

static const struct {
    const char *name;
    bool required;
} aws_cols[COL_N] = {
    {"TermType", true},       {"Unit", true},
    {"PricePerUnit", true},   {"Currency", true},
    {"Instance Type", true},  {"Operating System", true},
    {"Tenancy", true},        {"Pre Installed S/W", true},
    {"CapacityStatus", true}, {"License Model", false},
    {"MarketOption", false},  {"Region Code", false},
    {"EffectiveDate", false},
};

void plan_aws_csv_init(struct plan_aws_csv *s, const char *region, const char *const *wanted,
                       struct plan_price_table *t)
{
    memset(s, 0, sizeof *s);
    s->region = region;
    s->wanted = wanted;
    s->t = t;
    core_buf_init(&s->rec, AWS_CSV_MAX_RECORD);
}

void plan_aws_csv_reset(struct plan_aws_csv *s)
{
    core_buf_reset(&s->rec);
    s->in_quotes = s->header_seen = s->failed = false;
    s->records = 0;
    s->err[0] = '\0';
}

void plan_aws_csv_release(struct plan_aws_csv *s)
{
    core_buf_release(&s->rec);
}

/* Splits a record in place into at most `max` fields (quotes removed, "" unescaped). */
static size_t csv_split(char *p, char **f, size_t max)
{
    size_t n = 0;
    for (;;) {
        char *out = p, *start = p;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == '\0')
                    break;
                if (*p == '"' && p[1] == '"') {
                    *out++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *out++ = *p++;
                }
            }
            while (*p != ',' && *p != '\0')
                p++;
        } else {
            while (*p != ',' && *p != '\0')
                p++;
            out = p;
        }
        char end = *p;
        *out = '\0';
        if (n < max)
            f[n++] = start;
        if (end == '\0')
            return n;
        p++;
    }
}

static bool wanted_in(const struct plan_aws_csv *s, const char *text)
{
    if (s->wanted == NULL)
        return true;
    for (const char *const *w = s->wanted; *w != NULL; w++)
        if (strstr(text, *w) != NULL)
            return true;
    return false;
}

static bool is_wanted(const struct plan_aws_csv *s, const char *type)
{
    if (s->wanted == NULL)
        return true;
    for (const char *const *w = s->wanted; *w != NULL; w++)
        if (strcmp(type, *w) == 0)
            return true;
    return false;
}

static int aws_csv_header(struct plan_aws_csv *s, char **f, size_t n)
{
    for (int c = 0; c < COL_N; c++) {
        s->col[c] = -1;
        for (size_t i = 0; i < n; i++)
            if (strcmp(f[i], aws_cols[c].name) == 0) {
                s->col[c] = (int)i;
                break;
            }
        if (s->col[c] < 0 && aws_cols[c].required) {
            snprintf(s->err, sizeof s->err,
                     "the header row lacks the column '%s': not an EC2 price list CSV",
                     aws_cols[c].name);
            return -1;
        }
    }
    s->header_seen = true;
    return 0;
}

/* The field of column c, "" when the column is absent or the row short. */
static const char *fld(const struct plan_aws_csv *s, char **f, size_t n, int c)
{
    return s->col[c] >= 0 && (size_t)s->col[c] < n ? f[s->col[c]] : "";
}

static bool is_or_empty(const char *v, const char *want)
{
    return *v == '\0' || strcmp(v, want) == 0;
}

static int aws_csv_record(struct plan_aws_csv *s)
{
    char *text = s->rec.data;
    if (text == NULL)
        return 0;
    size_t len = s->rec.len;
    while (len > 0 && text[len - 1] == '\r')
        text[--len] = '\0';
    s->records++;
    if (!s->header_seen && strncmp(text, "\"SKU\"", 5) != 0 && strncmp(text, "SKU,", 4) != 0)
        return 0; /* the metadata lines before the header */
    if (s->header_seen && !wanted_in(s, text))
        return 0; /* most rows: another instance type, skipped without splitting */
    char *f[160];
    size_t n = csv_split(text, f, sizeof f / sizeof f[0]);
    if (!s->header_seen)
        return aws_csv_header(s, f, n);
    const char *type = fld(s, f, n, COL_TYPE);
    if (!is_wanted(s, type) || strcmp(fld(s, f, n, COL_TERM), "OnDemand") != 0 ||
        strcmp(fld(s, f, n, COL_UNIT), "Hrs") != 0 ||
        strcmp(fld(s, f, n, COL_CURRENCY), "USD") != 0 ||
        strcmp(fld(s, f, n, COL_OS), "Linux") != 0 ||
        strcmp(fld(s, f, n, COL_TENANCY), "Shared") != 0 ||
        !is_or_empty(fld(s, f, n, COL_SW), "NA") ||
        !is_or_empty(fld(s, f, n, COL_CAPACITY), "Used") ||
        !is_or_empty(fld(s, f, n, COL_LICENSE), "No License required") ||
        !is_or_empty(fld(s, f, n, COL_MARKET), "OnDemand") ||
        !is_or_empty(fld(s, f, n, COL_REGION), s->region))
        return 0;
    char *end;
    double usd = strtod(fld(s, f, n, COL_PRICE), &end);
    if (*end != '\0' || !(usd > 0))
        return 0;
    if (plan_price_put(s->t, CORE_CLOUD_AWS, s->region, type, false, usd, fld(s, f, n, COL_DATE)) !=
        0) {
        snprintf(s->err, sizeof s->err, "out of memory");
        return -1;
    }
    return 0;
}

int plan_aws_csv_feed(struct plan_aws_csv *s, const char *data, size_t len)
{
    if (s->failed)
        return -1;
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '"') {
            s->in_quotes = !s->in_quotes; /* "" flips twice: still right */
            continue;
        }
        if (data[i] != '\n' || s->in_quotes)
            continue;
        int rc = core_buf_add(&s->rec, data + start, i - start);
        if (rc == 0)
            rc = aws_csv_record(s);
        else
            snprintf(s->err, sizeof s->err, "a record longer than %zu bytes", AWS_CSV_MAX_RECORD);
        core_buf_reset(&s->rec);
        if (rc != 0) {
            s->failed = true;
            return -1;
        }
        start = i + 1;
    }
    if (start < len && core_buf_add(&s->rec, data + start, len - start) != 0) {
        snprintf(s->err, sizeof s->err, "a record longer than %zu bytes", AWS_CSV_MAX_RECORD);
        s->failed = true;
        return -1;
    }
    return 0;
}

int plan_aws_csv_finish(struct plan_aws_csv *s)
{
    if (s->failed)
        return -1;
    if (s->rec.len > 0 && aws_csv_record(s) != 0) {
        s->failed = true;
        return -1;
    }
    core_buf_reset(&s->rec);
    if (s->in_quotes) {
        snprintf(s->err, sizeof s->err, "the file ends inside a quoted field: truncated");
        return -1;
    }
    if (!s->header_seen) {
        snprintf(s->err, sizeof s->err,
                 "no header row (\"SKU\",\"OfferTermCode\",...) in %zu lines: not an AWS price "
                 "list CSV",
                 s->records);
        return -1;
    }
    return 0;
}
