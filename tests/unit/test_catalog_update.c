/*
 * Unit tests for `catalog update` (planner/catalog_update*.c): each price source's parser
 * on recorded replies (tests/data/prices/), garbage and truncated replies, paging, the
 * prices applied to a catalog, and that a failed update leaves the old file byte for byte.
 * Replies are replayed through core/http's transport hook; the failure test uses a real
 * closed loopback port.
 */
#include "planner/catalog_update.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *slurp(const char *rel, size_t *len)
{
    const char *root = getenv("GPUFORM_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/prices/%s", root ? root : ".", rel);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static char *must_slurp(const char *rel, size_t *len)
{
    char *s = slurp(rel, len);
    if (s == NULL)
        fail_msg("cannot read tests/data/prices/%s (run from the source folder)", rel);
    return s;
}

static bool near(double a, double b)
{
    return fabs(a - b) < 1e-9;
}

/* ---- parsers ---- */

static void test_update_azure_parser_keeps_linux_consumption_and_newest_spot(void **state)
{
    (void)state;
    size_t len;
    char *text = must_slurp("azure/Standard_NC4as_T4_v3.json", &len);
    struct plan_price_table t;
    plan_price_table_init(&t);
    char *next = NULL, err[256] = "";
    assert_int_equal(plan_prices_parse_azure(text, len, &t, &next, err, sizeof err), 0);
    const struct plan_price *p =
        plan_price_get(&t, CORE_CLOUD_AZURE, "eastus", "Standard_NC4as_T4_v3");
    assert_non_null(p);
    /* Windows (0.71), DevTest (0.4208), Low Priority (0.1052) and the reservation are out. */
    assert_true(near(p->ondemand, 0.526));
    /* Two spot meters: the one effective latest (2024-03-01) wins over the older, cheaper. */
    assert_true(near(p->spot, 0.2103));
    assert_int_equal(t.n, 1);
    assert_non_null(next);
    assert_non_null(strstr(next, "$skip=100"));
    free(next);
    free(text);
    plan_price_table_release(&t);
}

static void test_update_aws_parser_takes_linux_shared_on_demand_only(void **state)
{
    (void)state;
    size_t len;
    char *text = must_slurp("aws/us-east-1/index.json", &len);
    struct plan_price_table t;
    plan_price_table_init(&t);
    char err[256] = "";
    assert_int_equal(plan_prices_parse_aws(text, len, "us-east-1", &t, err, sizeof err), 0);
    /* Windows 45.27, Dedicated 36.05, SQL Web 33.50 and the 1-year reservation are out. */
    const struct plan_price *p = plan_price_get(&t, CORE_CLOUD_AWS, "us-east-1", "p4d.24xlarge");
    assert_non_null(p);
    assert_true(near(p->ondemand, 32.7726));
    assert_true(p->spot < 0);
    p = plan_price_get(&t, CORE_CLOUD_AWS, "us-east-1", "g6.xlarge");
    assert_non_null(p);
    assert_true(near(p->ondemand, 0.8048));
    assert_int_equal(t.n, 2);
    /* The file of another region prices nothing here. */
    plan_price_table_release(&t);
    plan_price_table_init(&t);
    assert_int_equal(plan_prices_parse_aws(text, len, "eu-west-1", &t, err, sizeof err), 0);
    assert_int_equal(t.n, 0);
    free(text);
    plan_price_table_release(&t);
}

static void test_update_aws_csv_stream_parses_across_any_chunking(void **state)
{
    (void)state;
    size_t len;
    char *text = must_slurp("aws/us-east-1/index.csv", &len);
    static const char *const wanted[] = {"p4d.24xlarge", "g6.xlarge", NULL};
    const size_t chunks[] = {1, 7, 4096, len};
    for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
        struct plan_price_table t;
        plan_price_table_init(&t);
        struct plan_aws_csv csv;
        plan_aws_csv_init(&csv, "us-east-1", wanted, &t);
        for (size_t i = 0; i < len; i += chunks[k])
            assert_int_equal(
                plan_aws_csv_feed(&csv, text + i, len - i < chunks[k] ? len - i : chunks[k]), 0);
        assert_int_equal(plan_aws_csv_finish(&csv), 0);
        /* Same answer as the JSON form: Windows, Dedicated, SQL Web, reserved rows out. */
        const struct plan_price *p =
            plan_price_get(&t, CORE_CLOUD_AWS, "us-east-1", "p4d.24xlarge");
        assert_non_null(p);
        assert_true(near(p->ondemand, 32.7726));
        p = plan_price_get(&t, CORE_CLOUD_AWS, "us-east-1", "g6.xlarge");
        assert_non_null(p);
        assert_true(near(p->ondemand, 0.8048));
        assert_int_equal(t.n, 2);
        /* 5 metadata lines, the header, 7 price rows, one record over two lines. */
        assert_int_equal(csv.records, 14);
        plan_aws_csv_release(&csv);
        plan_price_table_release(&t);
    }
    /* Only the wanted types are kept. */
    static const char *const only_g6[] = {"g6.xlarge", NULL};
    struct plan_price_table t;
    plan_price_table_init(&t);
    struct plan_aws_csv csv;
    plan_aws_csv_init(&csv, "us-east-1", only_g6, &t);
    assert_int_equal(plan_aws_csv_feed(&csv, text, len), 0);
    assert_int_equal(plan_aws_csv_finish(&csv), 0);
    assert_int_equal(t.n, 1);
    plan_aws_csv_release(&csv);
    /* Cut inside the quoted two-line field: truncated. */
    plan_aws_csv_init(&csv, "us-east-1", NULL, &t);
    const char *cut = strstr(text, "a description");
    assert_non_null(cut);
    assert_int_equal(plan_aws_csv_feed(&csv, text, (size_t)(cut - text) + 4), 0);
    assert_int_equal(plan_aws_csv_finish(&csv), -1);
    assert_non_null(strstr(csv.err, "truncated"));
    plan_aws_csv_release(&csv);
    free(text);
    /* HTML, and a header without the needed columns. */
    char *html = must_slurp("bad/html.txt", &len);
    plan_aws_csv_init(&csv, "us-east-1", NULL, &t);
    assert_int_equal(plan_aws_csv_feed(&csv, html, len), 0);
    assert_int_equal(plan_aws_csv_finish(&csv), -1);
    assert_non_null(strstr(csv.err, "no header row"));
    plan_aws_csv_release(&csv);
    free(html);
    char *cols = must_slurp("bad/aws-missing-columns.csv", &len);
    plan_aws_csv_init(&csv, "us-east-1", NULL, &t);
    assert_int_equal(plan_aws_csv_feed(&csv, cols, len), -1);
    assert_non_null(strstr(csv.err, "lacks the column 'Unit'"));
    plan_aws_csv_release(&csv);
    free(cols);
    plan_price_table_release(&t);
}

static void test_update_gcp_parser_prices_gpus_cores_and_ram_per_region(void **state)
{
    (void)state;
    size_t len;
    char *text = must_slurp("gcp/skus-page1.json", &len);
    struct plan_price_table t;
    plan_price_table_init(&t);
    char *next = NULL, err[256] = "";
    assert_int_equal(plan_prices_parse_gcp(text, len, &t, &next, err, sizeof err), 0);
    assert_string_equal(next, "CiBzZXJ2aWNlcy82RjgxLTU4NDQtNDU2QS9za3VzLzEA");
    free(next);
    free(text);
    const struct plan_price *g = plan_price_get(&t, CORE_CLOUD_GCP, "us-east1", "gpu:T4");
    assert_non_null(g);
    assert_true(near(g->ondemand, 0.35));
    assert_true(near(g->spot, 0.14));
    const struct plan_price *c = plan_price_get(&t, CORE_CLOUD_GCP, "us-central1", "core:n1");
    assert_non_null(c);
    assert_true(near(c->ondemand, 0.031611));
    assert_non_null(plan_price_get(&t, CORE_CLOUD_GCP, "us-west1", "ram:n1"));
    /* The commitment and the storage SKU are not prices of an hour on demand. */
    assert_int_equal(t.n, 3 * 3);
    text = must_slurp("gcp/skus-page2.json", &len);
    assert_int_equal(plan_prices_parse_gcp(text, len, &t, &next, err, sizeof err), 0);
    assert_null(next); /* "" is the last page */
    g = plan_price_get(&t, CORE_CLOUD_GCP, "us-central1", "gpu:A100");
    assert_non_null(g);
    assert_true(near(g->ondemand, 2.933908)); /* units "2" + 933908000 nanos */
    assert_true(near(g->spot, 1.468));
    assert_null(plan_price_get(&t, CORE_CLOUD_GCP, "us-central1", "core:cu")); /* Custom */
    free(text);
    plan_price_table_release(&t);
}

static void test_update_parsers_reject_garbage_truncated_and_wrong_shapes(void **state)
{
    (void)state;
    struct plan_price_table t;
    plan_price_table_init(&t);
    char *next = NULL, err[256];
    size_t len;
    char *trunc = must_slurp("bad/truncated.json", &len);
    assert_int_equal(plan_prices_parse_azure(trunc, len, &t, &next, err, sizeof err), -1);
    assert_non_null(strstr(err, "not JSON"));
    assert_non_null(strstr(err, "line 1"));
    free(trunc);
    char *html = must_slurp("bad/html.txt", &len);
    assert_int_equal(plan_prices_parse_gcp(html, len, &t, &next, err, sizeof err), -1);
    assert_non_null(strstr(err, "not JSON"));
    assert_int_equal(plan_prices_parse_aws(html, len, "us-east-1", &t, err, sizeof err), -1);
    free(html);
    char *shape = must_slurp("bad/wrong-shape.json", &len);
    assert_int_equal(plan_prices_parse_azure(shape, len, &t, &next, err, sizeof err), -1);
    assert_non_null(strstr(err, "no 'Items' array"));
    assert_int_equal(plan_prices_parse_gcp(shape, len, &t, &next, err, sizeof err), -1);
    assert_non_null(strstr(err, "no 'skus' array"));
    assert_int_equal(plan_prices_parse_aws(shape, len, "us-east-1", &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "not an AWS price list offer file"));
    free(shape);
    assert_int_equal(plan_prices_parse_azure("[1,2]", 5, &t, &next, err, sizeof err), -1);
    assert_int_equal(plan_prices_parse_azure("{\"Items\":[{\"retailPrice\":\"x\"}]}", 31, &t, &next,
                                             err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "Items[0]"));
    assert_int_equal(t.n, 0);
    assert_null(next);
    plan_price_table_release(&t);
}

/* ---- whole updates through a replaying transport ---- */

struct replay {
    char urls[32][1024];
    int n;
    bool garbage_aws; /* answer the AWS offer file with HTML */
};

static int replay_transport(void *ctx, const struct core_http_request *req,
                            struct core_http_response *resp, struct core_http_error *err)
{
    struct replay *r = ctx;
    if (r->n < 32)
        snprintf(r->urls[r->n++], sizeof r->urls[0], "%s", req->url);
    char rel[256] = "";
    const char *u = req->url;
    const char *sku = strstr(u, "Standard_");
    const char *idx = strstr(u, "/index.json") ? "/index.json" : "/index.csv";
    if (strstr(u, idx) != NULL) {
        const char *end = strstr(u, idx);
        const char *start = end;
        while (start > u && start[-1] != '/')
            start--;
        snprintf(rel, sizeof rel, "%s", r->garbage_aws ? "bad/html.txt" : "aws/");
        if (!r->garbage_aws)
            snprintf(rel + 4, sizeof rel - 4, "%.*s%s", (int)(end - start), start, idx);
    } else if (sku != NULL) {
        size_t n = strcspn(sku, "%'&");
        snprintf(rel, sizeof rel, "azure/%.*s%s.json", (int)n, sku,
                 strstr(u, "$skip=") ? "-page2" : "");
    } else if (strstr(u, "/skus?") != NULL) {
        snprintf(rel, sizeof rel, "gcp/skus-page%d.json", strstr(u, "pageToken=") ? 2 : 1);
    }
    size_t len;
    char *body = slurp(rel, &len);
    if (body == NULL) {
        resp->status = 404;
        return 0;
    }
    resp->status = 200;
    if (req->on_body != NULL) {
        /* Streamed: handed over in 7-byte chunks, so records straddle chunks. */
        for (size_t i = 0; i < len; i += 7)
            if (req->on_body(req->body_ctx, body + i, len - i < 7 ? len - i : 7) != 0) {
                free(body);
                err->cls = CORE_HTTP_ERR_INTERNAL;
                snprintf(err->message, sizeof err->message, "aborted by the caller");
                return -1;
            }
        free(body);
        return 0;
    }
    int rc = core_buf_add(&resp->body, body, len);
    free(body);
    if (rc != 0) {
        err->cls = CORE_HTTP_ERR_TOO_LARGE;
        snprintf(err->message, sizeof err->message, "too large");
        return -1;
    }
    return 0;
}

struct tmpdir {
    char dir[64];
    char path[128];
};

static void make_copy(struct tmpdir *td)
{
    snprintf(td->dir, sizeof td->dir, "/tmp/gpuform-update-XXXXXX");
    assert_non_null(mkdtemp(td->dir));
    snprintf(td->path, sizeof td->path, "%s/catalog.csv", td->dir);
    size_t len;
    char *text = must_slurp("catalog.csv", &len);
    FILE *f = fopen(td->path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
    free(text);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void remove_copy(struct tmpdir *td)
{
    unlink(td->path);
    rmdir(td->dir);
}

static const struct plan_offer *find_offer(const struct plan_catalog *cat, const char *region,
                                           const char *zone, const char *type)
{
    for (size_t i = 0; i < cat->noffers; i++)
        if (strcmp(cat->offers[i].region, region) == 0 && strcmp(cat->offers[i].zone, zone) == 0 &&
            strcmp(cat->offers[i].instance_type, type) == 0)
            return &cat->offers[i];
    fail_msg("no offer %s/%s/%s", region, zone, type);
    return NULL;
}

static void update_follows_pages_and_reprices(bool aws_json)
{
    struct replay r = {0};
    struct core_http_options ho = {.transport = replay_transport, .transport_ctx = &r};
    struct core_http_client *http = core_http_client_new(&ho);
    struct plan_update_options o = {.cloud = {true, true, true},
                                    .azure_url = "http://mirror.example/api/retail/prices",
                                    .aws_json = aws_json,
                                    .gcp_api_key = "AIzaRecordedKey",
                                    .as_of = "2026-11-21",
                                    .http = http};
    struct tmpdir td;
    make_copy(&td);
    struct core_diags d;
    core_diags_init(&d, 50);
    struct plan_update_stats st;
    char sha[65];
    size_t n = 0;
    assert_int_equal(plan_catalog_update_file(td.path, td.path, &o, &st, &d, sha, &n), 0);
    assert_int_equal(d.errors, 0);
    assert_int_equal(n, 13);
    /* 2 AWS regions, 2 GCP pages, 1 + 2 Azure pages. */
    assert_int_equal(st.requests, 7);
    assert_int_equal(r.n, 7);
    bool saw_skip = false, saw_token = false;
    for (int i = 0; i < r.n; i++) {
        saw_skip |= strstr(r.urls[i], "$skip=100") != NULL;
        saw_token |=
            strstr(r.urls[i], "pageToken=CiBzZXJ2aWNlcy82RjgxLTU4NDQtNDU2QS9za3VzLzEA") != NULL;
        if (strstr(r.urls[i], "cloudbilling") != NULL)
            assert_non_null(strstr(r.urls[i], "key=AIzaRecordedKey"));
        /* NextPageLink names prices.azure.com:443: its page stays on the mirror in use. */
        if (strstr(r.urls[i], "Standard_") != NULL)
            assert_int_equal(strncmp(r.urls[i], "http://mirror.example/api/retail/prices?", 40), 0);
    }
    assert_true(saw_skip);
    assert_true(saw_token);
    for (int c = 0; c < CORE_CLOUD_COUNT; c++)
        assert_int_equal(st.kept[c], 1);
    assert_int_equal(st.updated[CORE_CLOUD_AWS], 4);
    assert_int_equal(st.updated[CORE_CLOUD_GCP], 3);
    assert_int_equal(st.updated[CORE_CLOUD_AZURE], 3);

    struct plan_catalog *cat = NULL;
    assert_int_equal(plan_catalog_load(td.path, &d, &cat), 0);
    assert_string_equal(cat->sha256, sha);
    const struct plan_offer *p = find_offer(cat, "us-east-1", "use1-az2", "p4d.24xlarge");
    assert_true(near(p->ondemand, 32.7726));
    assert_true(near(p->spot, 8.1915)); /* AWS has no spot prices in the price list: kept */
    assert_string_equal(p->as_of, "2026-11-21");
    assert_string_equal(p->source, "AWS Price List API (offer file)");
    p = find_offer(cat, "us-west-2", "", "g5.xlarge"); /* not in the region's file: kept */
    assert_true(near(p->ondemand, 1.006));
    assert_string_equal(p->as_of, "2026-01-21");
    assert_string_equal(p->source, "hand-written");
    /* GCP: GPU + vCPUs x core + GiB x RAM. */
    p = find_offer(cat, "us-central1", "us-central1-b", "n1-highmem-4");
    assert_true(near(p->ondemand, 0.586606));
    assert_true(near(p->spot, 0.189812));
    assert_string_equal(p->source, "GCP Cloud Billing Catalog API");
    p = find_offer(cat, "us-central1", "us-central1-a", "a2-highgpu-1g");
    assert_true(near(p->ondemand, 3.673385));
    assert_true(near(p->spot, 1.8)); /* no A2 spot core/RAM price recorded: spot kept */
    p = find_offer(cat, "us-central1", "us-central1-a", "g2-standard-4"); /* no G2 cores */
    assert_true(near(p->ondemand, 0.70683));
    p = find_offer(cat, "eastus", "", "Standard_NC4as_T4_v3");
    assert_true(near(p->ondemand, 0.526));
    assert_true(near(p->spot, 0.2103));
    p = find_offer(cat, "westus2", "", "Standard_NC4as_T4_v3"); /* from the second page */
    assert_true(near(p->spot, 0.1578));
    p = find_offer(cat, "westeurope", "", "Standard_NC4as_T4_v3");
    assert_true(near(p->ondemand, 0.6));
    assert_string_equal(p->source, "hand-written");
    plan_catalog_free(cat);
    core_diags_release(&d);
    core_http_client_free(http);
    assert_int_equal(count_entries(td.dir), 1);
    remove_copy(&td);
}

static void test_update_follows_pages_and_reprices_the_catalog(void **state)
{
    (void)state;
    update_follows_pages_and_reprices(false); /* AWS offer files as streamed CSV */
    update_follows_pages_and_reprices(true);  /* and as JSON */
}

static void assert_failed_update_leaves_file(struct core_http_client *http,
                                             const struct plan_update_options *o, const char *code,
                                             const char *needle)
{
    struct tmpdir td;
    make_copy(&td);
    size_t before_len, after_len;
    char *before = must_slurp("catalog.csv", &before_len);
    struct core_diags d;
    core_diags_init(&d, 50);
    struct plan_update_stats st;
    char sha[65];
    size_t n = 0;
    (void)http;
    assert_int_equal(plan_catalog_update_file(td.path, td.path, o, &st, &d, sha, &n), -1);
    assert_true(d.errors >= 1);
    assert_string_equal(d.items[0].code, code);
    if (strstr(d.items[0].message, needle) == NULL)
        fail_msg("'%s' not in '%s'", needle, d.items[0].message);
    FILE *f = fopen(td.path, "rb");
    assert_non_null(f);
    char *after = malloc(before_len + 16);
    after_len = fread(after, 1, before_len + 16, f);
    fclose(f);
    assert_int_equal(after_len, before_len);
    assert_memory_equal(after, before, before_len);
    assert_int_equal(count_entries(td.dir), 1); /* no temporary file left behind */
    free(after);
    free(before);
    core_diags_release(&d);
    remove_copy(&td);
}

static void test_update_failure_leaves_the_old_catalog_byte_identical(void **state)
{
    (void)state;
    /* A closed port: a connect error naming the endpoint. */
    struct core_http_options ho = {.max_attempts = 1};
    struct core_http_client *http = core_http_client_new(&ho);
    struct plan_update_options o = {.cloud = {false, false, true},
                                    .azure_url = "http://127.0.0.1:1/api/retail/prices",
                                    .as_of = "2026-11-21",
                                    .http = http};
    assert_failed_update_leaves_file(http, &o, "update-http",
                                     "GET http://127.0.0.1:1/api/retail/prices?$filter=");
    o = (struct plan_update_options){.cloud = {true, false, false},
                                     .aws_url = "http://127.0.0.1:1/offers",
                                     .as_of = "2026-11-21",
                                     .http = http};
    assert_failed_update_leaves_file(http, &o, "update-http",
                                     "http://127.0.0.1:1/offers/us-east-1/index.csv");
    /* GCP: the key is redacted from the message. */
    o = (struct plan_update_options){.cloud = {false, true, false},
                                     .gcp_url = "http://127.0.0.1:1/skus",
                                     .gcp_api_key = "AIzaDoNotPrintMe",
                                     .as_of = "2026-11-21",
                                     .http = http};
    assert_failed_update_leaves_file(http, &o, "update-http", "key=[redacted]");
    core_http_client_free(http);

    /* A reply that does not parse, after other sources succeeded. */
    struct replay r = {.garbage_aws = true};
    struct core_http_options ro = {.transport = replay_transport, .transport_ctx = &r};
    http = core_http_client_new(&ro);
    o = (struct plan_update_options){
        .cloud = {true, false, true}, .as_of = "2026-11-21", .http = http};
    assert_failed_update_leaves_file(http, &o, "update-parse", "no header row");
    o.aws_json = true;
    assert_failed_update_leaves_file(http, &o, "update-parse", "does not parse: not JSON");
    core_http_client_free(http);

    /* GCP without a key. */
    o = (struct plan_update_options){.cloud = {false, true, false}, .as_of = "2026-11-21"};
    assert_failed_update_leaves_file(NULL, &o, "update-gcp-key", "API key");
}

static void test_update_key_never_reaches_a_message(void **state)
{
    (void)state;
    struct core_http_options ho = {.max_attempts = 1};
    struct core_http_client *http = core_http_client_new(&ho);
    struct plan_update_options o = {.cloud = {false, true, false},
                                    .gcp_url = "http://127.0.0.1:1/v1/skus",
                                    .gcp_api_key = "AIzaDoNotPrintMe",
                                    .as_of = "2026-11-21",
                                    .http = http};
    struct core_diags d;
    core_diags_init(&d, 50);
    struct plan_update_stats st;
    struct plan_catalog *cat = NULL;
    assert_int_equal(plan_catalog_load_bundled(&d, &cat), 0);
    assert_int_equal(plan_catalog_update(cat, &o, &st, &d), -1);
    for (size_t i = 0; i < d.n; i++)
        assert_null(strstr(d.items[i].message, "AIzaDoNotPrintMe"));
    assert_true(d.n >= 1);
    plan_catalog_free(cat);
    core_diags_release(&d);
    core_http_client_free(http);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_update_azure_parser_keeps_linux_consumption_and_newest_spot),
        cmocka_unit_test(test_update_aws_parser_takes_linux_shared_on_demand_only),
        cmocka_unit_test(test_update_aws_csv_stream_parses_across_any_chunking),
        cmocka_unit_test(test_update_gcp_parser_prices_gpus_cores_and_ram_per_region),
        cmocka_unit_test(test_update_parsers_reject_garbage_truncated_and_wrong_shapes),
        cmocka_unit_test(test_update_follows_pages_and_reprices_the_catalog),
        cmocka_unit_test(test_update_failure_leaves_the_old_catalog_byte_identical),
        cmocka_unit_test(test_update_key_never_reaches_a_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
