/*
 * `catalog update`, the fetching half: which queries to send for a catalog (Azure: one
 * filtered query per instance type; AWS: one offer file per region; GCP: the Compute Engine
 * SKU list), following pages, and applying the prices found to the catalog's rows. The
 * parsers are in catalog_update_parse.c; all HTTP goes through core/http.
 */
#include "planner/catalog_update.h"

#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_AWS_MAX ((size_t)1 << 30)
#define DEFAULT_PAGES   200

static const char *const source_name[CORE_CLOUD_COUNT] = {
    "AWS Price List API (offer file)", "GCP Cloud Billing Catalog API", "Azure Retail Prices API"};

/* Distinct strings, in first-seen order (catalogs are small: a linear scan is fine). */
struct names {
    const char **v;
    size_t n;
};

static int names_add(struct names *s, const char *x)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], x) == 0)
            return 0;
    const char **v = realloc(s->v, (s->n + 1) * sizeof *v);
    if (v == NULL)
        return -1;
    s->v = v;
    s->v[s->n++] = x;
    return 0;
}

static void oom(struct core_diags *d)
{
    core_diag_add(d, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory");
}

/* GETs url into resp; on failure adds an update-http error and returns -1. */
static int fetch(struct core_http_client *http, const char *url, size_t max,
                 struct core_http_response *resp, struct plan_update_stats *st,
                 struct core_diags *d)
{
    struct core_http_request req = {.url = url, .idempotent = true, .max_response_bytes = max};
    struct core_http_error err;
    st->requests++;
    if (core_http_do(http, &req, resp, &err) == 0)
        return 0;
    core_diag_add(d, CORE_SEV_ERROR, "update-http", NULL, "%s [%s]", err.message,
                  core_http_error_class_name(err.cls));
    return -1;
}

static void parse_error(struct core_http_client *http, const char *url, const char *why,
                        struct core_diags *d)
{
    struct core_buf b;
    core_buf_init(&b, 1 << 14);
    core_http_redact(http, url, &b);
    core_diag_add(d, CORE_SEV_ERROR, "update-parse", NULL, "the reply of GET %s does not parse: %s",
                  core_buf_str(&b), why);
    core_buf_release(&b);
}

typedef int (*page_parser)(const char *text, size_t len, struct plan_price_table *t, char **next,
                           char *err, size_t errlen);

/* Follows pages from `url`; `next_url` turns a page's next value into the next URL. */
static int fetch_pages(struct core_http_client *http, char *url, page_parser parse,
                       char *(*next_url)(const char *first, const char *next, void *ctx), void *ctx,
                       int max_pages, struct plan_price_table *t, struct plan_update_stats *st,
                       struct core_diags *d)
{
    char *first = url;
    char *cur = strdup(url);
    int rc = cur != NULL ? 0 : -1;
    if (rc != 0)
        oom(d);
    for (int page = 0; rc == 0 && cur != NULL; page++) {
        if (page >= max_pages) {
            core_diag_add(d, CORE_SEV_ERROR, "update-pages", NULL,
                          "more than %d pages of prices; stopped (a loop in the paging?)",
                          max_pages);
            rc = -1;
            break;
        }
        struct core_http_response resp;
        rc = fetch(http, cur, 0, &resp, st, d);
        char *next = NULL, why[512];
        if (rc == 0 && parse(resp.body.data ? resp.body.data : "", resp.body.len, t, &next, why,
                             sizeof why) != 0) {
            parse_error(http, cur, why, d);
            rc = -1;
        }
        core_http_response_release(&resp);
        free(cur);
        cur = NULL;
        if (rc == 0 && next != NULL && (cur = next_url(first, next, ctx)) == NULL) {
            core_diag_add(d, CORE_SEV_ERROR, "update-parse", NULL,
                          "a next-page link without a query ('%.200s'), or out of memory", next);
            rc = -1;
        }
        free(next);
    }
    free(cur);
    return rc;
}

/* ---- Azure ---- */

/* The next page: NextPageLink's query on the endpoint in use, so that a mirror's pages stay
 * on the mirror (the API writes its own host, https://prices.azure.com:443/..., into the
 * link) and a reply cannot send gpuform to another host. */
static char *azure_next(const char *first, const char *next, void *ctx)
{
    (void)ctx;
    const char *q = strchr(next, '?');
    if (q == NULL)
        return NULL;
    size_t base = strcspn(first, "?");
    size_t n = base + strlen(q) + 1;
    char *url = malloc(n);
    if (url != NULL)
        snprintf(url, n, "%.*s%s", (int)base, first, q);
    return url;
}

static int fetch_azure(const struct plan_catalog *cat, const struct plan_update_options *o,
                       struct plan_price_table *t, struct plan_update_stats *st,
                       struct core_diags *d)
{
    struct names types = {0};
    for (size_t i = 0; i < cat->noffers; i++)
        if (cat->offers[i].cloud == CORE_CLOUD_AZURE &&
            names_add(&types, cat->offers[i].instance_type) != 0) {
            free(types.v);
            oom(d);
            return -1;
        }
    const char *base = o->azure_url != NULL ? o->azure_url : PLAN_AZURE_PRICES_URL;
    int rc = 0;
    CURL *esc = curl_easy_init();
    for (size_t i = 0; rc == 0 && i < types.n; i++) {
        char filter[256];
        snprintf(filter, sizeof filter,
                 "serviceName eq 'Virtual Machines' and priceType eq 'Consumption' and "
                 "armSkuName eq '%s'",
                 types.v[i]);
        char *enc = esc != NULL ? curl_easy_escape(esc, filter, 0) : NULL;
        size_t n = strlen(base) + (enc ? strlen(enc) : 0) + 16;
        char *url = enc != NULL ? malloc(n) : NULL;
        if (url == NULL) {
            oom(d);
            rc = -1;
        } else {
            snprintf(url, n, "%s%c$filter=%s", base, strchr(base, '?') ? '&' : '?', enc);
            rc = fetch_pages(o->http, url, plan_prices_parse_azure, azure_next, NULL,
                             o->max_pages > 0 ? o->max_pages : DEFAULT_PAGES, t, st, d);
        }
        free(url);
        curl_free(enc);
    }
    curl_easy_cleanup(esc);
    free(types.v);
    return rc;
}

/* ---- AWS ---- */

#define AWS_CSV_DEFAULT_MAX ((size_t)16 << 30)
#define AWS_TIMEOUT_MS      (30L * 60 * 1000) /* a multi-gigabyte file on a slow link */

static int aws_feed(void *ctx, const void *data, size_t len)
{
    return plan_aws_csv_feed(ctx, data, len);
}

static void aws_reset(void *ctx)
{
    plan_aws_csv_reset(ctx);
}

/* One region's offer file as CSV, streamed through the parser (memory: one record). */
static int fetch_aws_csv(const struct plan_update_options *o, const char *region,
                         const char *const *wanted, struct plan_price_table *t,
                         struct plan_update_stats *st, struct core_diags *d)
{
    const char *base = o->aws_url != NULL ? o->aws_url : PLAN_AWS_PRICES_URL;
    char url[1024];
    snprintf(url, sizeof url, "%s/%s/index.csv", base, region);
    struct plan_aws_csv csv;
    plan_aws_csv_init(&csv, region, wanted, t);
    struct core_http_request req = {
        .url = url,
        .idempotent = true,
        .timeout_ms = AWS_TIMEOUT_MS,
        .max_response_bytes = o->aws_max_bytes > 0 ? o->aws_max_bytes : AWS_CSV_DEFAULT_MAX,
        .on_body = aws_feed,
        .on_body_reset = aws_reset,
        .body_ctx = &csv};
    struct core_http_response resp;
    struct core_http_error err;
    st->requests++;
    int rc = core_http_do(o->http, &req, &resp, &err);
    if (rc != 0 && csv.failed) {
        parse_error(o->http, url, csv.err, d);
    } else if (rc != 0) {
        core_diag_add(d, CORE_SEV_ERROR, "update-http", NULL, "%s [%s]", err.message,
                      core_http_error_class_name(err.cls));
    } else if (plan_aws_csv_finish(&csv) != 0) {
        parse_error(o->http, url, csv.err, d);
        rc = -1;
    }
    core_http_response_release(&resp);
    plan_aws_csv_release(&csv);
    return rc;
}

/* One region's offer file as JSON, read whole (capped) and parsed with jansson. */
static int fetch_aws_json(const struct plan_update_options *o, const char *region,
                          struct plan_price_table *t, struct plan_update_stats *st,
                          struct core_diags *d)
{
    const char *base = o->aws_url != NULL ? o->aws_url : PLAN_AWS_PRICES_URL;
    size_t max = o->aws_max_bytes > 0 ? o->aws_max_bytes : DEFAULT_AWS_MAX;
    char url[1024];
    snprintf(url, sizeof url, "%s/%s/index.json", base, region);
    struct core_http_response resp;
    int rc = fetch(o->http, url, max, &resp, st, d);
    char why[512];
    if (rc == 0 && plan_prices_parse_aws(resp.body.data ? resp.body.data : "", resp.body.len,
                                         region, t, why, sizeof why) != 0) {
        parse_error(o->http, url, why, d);
        rc = -1;
    }
    core_http_response_release(&resp);
    return rc;
}

static int fetch_aws(const struct plan_catalog *cat, const struct plan_update_options *o,
                     struct plan_price_table *t, struct plan_update_stats *st, struct core_diags *d)
{
    struct names regions = {0}, types = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < cat->noffers; i++)
        if (cat->offers[i].cloud == CORE_CLOUD_AWS &&
            (names_add(&regions, cat->offers[i].region) != 0 ||
             names_add(&types, cat->offers[i].instance_type) != 0))
            rc = -1;
    /* The instance types, NULL-terminated, for the CSV parser's filter. */
    const char **v = rc == 0 ? realloc(types.v, (types.n + 1) * sizeof *v) : NULL;
    if (v == NULL) {
        free(regions.v);
        free(types.v);
        oom(d);
        return -1;
    }
    types.v = v;
    types.v[types.n] = NULL;
    for (size_t i = 0; rc == 0 && i < regions.n; i++)
        rc = o->aws_json ? fetch_aws_json(o, regions.v[i], t, st, d)
                         : fetch_aws_csv(o, regions.v[i], types.v, t, st, d);
    free(regions.v);
    free(types.v);
    return rc;
}

/* ---- GCP ---- */

static char *gcp_url(const char *base, const char *key, const char *token)
{
    CURL *esc = curl_easy_init();
    char *ek = esc ? curl_easy_escape(esc, key, 0) : NULL;
    char *et = esc && token ? curl_easy_escape(esc, token, 0) : NULL;
    char *url = NULL;
    if (ek != NULL && (token == NULL || et != NULL)) {
        size_t n = strlen(base) + strlen(ek) + (et ? strlen(et) : 0) + 64;
        if ((url = malloc(n)) != NULL)
            snprintf(url, n, "%s%ckey=%s&pageSize=5000%s%s", base, strchr(base, '?') ? '&' : '?',
                     ek, et ? "&pageToken=" : "", et ? et : "");
    }
    curl_free(ek);
    curl_free(et);
    curl_easy_cleanup(esc);
    return url;
}

struct gcp_ctx {
    const char *base, *key;
};

static char *gcp_next(const char *first, const char *next, void *ctx)
{
    (void)first;
    const struct gcp_ctx *g = ctx;
    return gcp_url(g->base, g->key, next);
}

static int fetch_gcp(const struct plan_update_options *o, struct plan_price_table *t,
                     struct plan_update_stats *st, struct core_diags *d)
{
    if (o->gcp_api_key == NULL || *o->gcp_api_key == '\0') {
        core_diag_add(d, CORE_SEV_ERROR, "update-gcp-key", NULL,
                      "the GCP Cloud Billing Catalog needs an API key: set the environment "
                      "variable named by --gcp-api-key-env (default GPUFORM_GCP_API_KEY)");
        return -1;
    }
    if (core_http_add_secret(o->http, o->gcp_api_key) != 0) {
        oom(d);
        return -1;
    }
    struct gcp_ctx g = {o->gcp_url != NULL ? o->gcp_url : PLAN_GCP_PRICES_URL, o->gcp_api_key};
    char *url = gcp_url(g.base, g.key, NULL);
    if (url == NULL) {
        oom(d);
        return -1;
    }
    int rc = fetch_pages(o->http, url, plan_prices_parse_gcp, gcp_next, &g,
                         o->max_pages > 0 ? o->max_pages : DEFAULT_PAGES, t, st, d);
    free(url);
    return rc;
}

/* ---- applying ---- */

static double round6(double v)
{
    return round(v * 1e6) / 1e6;
}

/* New prices for one offer from the table; < 0 where the source has none. */
static void price_offer(const struct plan_offer *o, const struct plan_price_table *t, double *od,
                        double *spot)
{
    *od = *spot = -1;
    if (o->cloud != CORE_CLOUD_GCP) {
        const struct plan_price *p = plan_price_get(t, o->cloud, o->region, o->instance_type);
        if (p != NULL)
            *od = p->ondemand, *spot = p->spot;
        return;
    }
    char fam[8] = "", item[72];
    const char *dash = strchr(o->instance_type, '-');
    if (dash == NULL || (size_t)(dash - o->instance_type) >= sizeof fam)
        return;
    memcpy(fam, o->instance_type, (size_t)(dash - o->instance_type));
    fam[dash - o->instance_type] = '\0';
    snprintf(item, sizeof item, "gpu:%s", o->gpu);
    const struct plan_price *g = plan_price_get(t, CORE_CLOUD_GCP, o->region, item);
    snprintf(item, sizeof item, "core:%s", fam);
    const struct plan_price *c = plan_price_get(t, CORE_CLOUD_GCP, o->region, item);
    snprintf(item, sizeof item, "ram:%s", fam);
    const struct plan_price *r = plan_price_get(t, CORE_CLOUD_GCP, o->region, item);
    if (g == NULL || c == NULL || r == NULL)
        return;
    if (g->ondemand >= 0 && c->ondemand >= 0 && r->ondemand >= 0)
        *od = g->ondemand * o->gpus + c->ondemand * o->vcpus + r->ondemand * o->ram_gib;
    if (g->spot >= 0 && c->spot >= 0 && r->spot >= 0)
        *spot = g->spot * o->gpus + c->spot * o->vcpus + r->spot * o->ram_gib;
}

int plan_catalog_apply_prices(struct plan_catalog *cat, const struct plan_price_table *t,
                              const bool cloud[CORE_CLOUD_COUNT], const char *as_of,
                              struct plan_update_stats *st)
{
    const char *date = core_arena_strdup(&cat->arena, as_of);
    if (date == NULL)
        return -1;
    for (size_t i = 0; i < cat->noffers; i++) {
        struct plan_offer *o = &cat->offers[i];
        if (!cloud[o->cloud])
            continue;
        st->rows[o->cloud]++;
        double od, spot;
        price_offer(o, t, &od, &spot);
        if (od <= 0) {
            st->kept[o->cloud]++;
            continue;
        }
        od = round6(od);
        spot = spot > 0 ? round6(spot) : o->spot; /* a spot price the source lacks is kept */
        st->updated[o->cloud]++;
        if (od != o->ondemand || spot != o->spot)
            st->changed[o->cloud]++;
        o->ondemand = od;
        o->spot = spot;
        o->as_of = date;
        o->source = source_name[o->cloud];
    }
    return 0;
}

int plan_catalog_update(struct plan_catalog *cat, const struct plan_update_options *o,
                        struct plan_update_stats *st, struct core_diags *d)
{
    memset(st, 0, sizeof *st);
    struct plan_price_table t;
    plan_price_table_init(&t);
    int rc = 0;
    if (o->cloud[CORE_CLOUD_AWS])
        rc = fetch_aws(cat, o, &t, st, d);
    if (rc == 0 && o->cloud[CORE_CLOUD_GCP])
        rc = fetch_gcp(o, &t, st, d);
    if (rc == 0 && o->cloud[CORE_CLOUD_AZURE])
        rc = fetch_azure(cat, o, &t, st, d);
    if (rc == 0 && plan_catalog_apply_prices(cat, &t, o->cloud, o->as_of, st) != 0) {
        oom(d);
        rc = -1;
    }
    plan_price_table_release(&t);
    return rc;
}

int plan_catalog_update_file(const char *in, const char *out, const struct plan_update_options *o,
                             struct plan_update_stats *st, struct core_diags *d, char sha256[65],
                             size_t *noffers)
{
    memset(st, 0, sizeof *st);
    struct plan_catalog *cat = NULL, *check = NULL;
    int rc = in != NULL ? plan_catalog_load(in, d, &cat) : plan_catalog_load_bundled(d, &cat);
    if (rc == 0)
        rc = plan_catalog_update(cat, o, st, d);
    /* The new catalog must read back cleanly before it replaces anything. */
    size_t len = 0;
    char *text = rc == 0 ? plan_catalog_render(cat, &len) : NULL;
    if (rc == 0 && text == NULL) {
        oom(d);
        rc = -1;
    }
    if (rc == 0)
        rc = plan_catalog_parse("the updated catalog", text, len, d, &check);
    free(text);
    if (rc == 0)
        rc = plan_catalog_save(check, out, d, sha256);
    if (rc == 0)
        *noffers = check->noffers;
    plan_catalog_free(check);
    plan_catalog_free(cat);
    return rc;
}
