/*
 * Unit tests for gpuform's catalog format (planner/catalog.c): a valid catalog parses into
 * sorted offers with canonical GPU names; every error code is reported at its line and
 * column; hostile input fails cleanly; writing and parsing again gives the same bytes; the
 * SHA-256 is stable; saving is atomic; the bundled catalog loads.
 */
#include "planner/catalog.h"

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
#include <sys/stat.h>
#include <unistd.h>

#include "core/diag.h"

#define HEADER PLAN_CATALOG_HEADER "\n"
#define SRC    ",,2026-04-02,test\n" /* after the on-demand price: no spot price */
#define SPOT   ",2026-04-02,test\n"  /* after the spot price */

extern const unsigned char gpuform_catalog_data[];
extern const size_t gpuform_catalog_size;

struct fixture {
    struct core_diags diags;
    struct plan_catalog *cat;
    char dir[64];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    core_diags_init(&f->diags, 50);
    snprintf(f->dir, sizeof(f->dir), "/tmp/gpuform-catalog-test.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    plan_catalog_free(f->cat);
    core_diags_release(&f->diags);
    DIR *d = opendir(f->dir);
    if (d) {
        struct dirent *e;
        char path[512];
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "%s/%s", f->dir, e->d_name);
            if (rmdir(path) != 0)
                unlink(path);
        }
        closedir(d);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static struct plan_catalog *parse_ok(struct fixture *f, const char *text)
{
    plan_catalog_free(f->cat);
    f->cat = NULL;
    int rc = plan_catalog_parse("test.csv", text, strlen(text), &f->diags, &f->cat);
    if (rc != 0) {
        core_diags_render(&f->diags, CORE_DIAG_TEXT, false, stderr);
        fail_msg("the catalog did not parse");
    }
    assert_non_null(f->cat);
    return f->cat;
}

/* Parses `text` (len bytes), expecting failure; returns the number of errors. */
static size_t parse_bad_len(struct fixture *f, const char *text, size_t len)
{
    core_diags_release(&f->diags);
    core_diags_init(&f->diags, 50);
    struct plan_catalog *cat = (struct plan_catalog *)1;
    assert_int_equal(plan_catalog_parse("test.csv", text, len, &f->diags, &cat), -1);
    assert_null(cat);
    assert_true(f->diags.errors > 0);
    return f->diags.errors;
}

static size_t parse_bad(struct fixture *f, const char *text)
{
    return parse_bad_len(f, text, strlen(text));
}

/* Asserts that a diagnostic with `code` was reported at line:col. */
static void assert_diag(const struct fixture *f, const char *code, unsigned line, unsigned col)
{
    for (size_t i = 0; i < f->diags.n; i++) {
        const struct core_diag *g = &f->diags.items[i];
        if (strcmp(g->code, code) == 0 && g->loc.line == line && g->loc.col == col)
            return;
    }
    for (size_t i = 0; i < f->diags.n; i++)
        fprintf(stderr, "  have %s at %u:%u: %s\n", f->diags.items[i].code,
                f->diags.items[i].loc.line, f->diags.items[i].loc.col, f->diags.items[i].message);
    fail_msg("no %s diagnostic at %u:%u", code, line, col);
}

static const char *message_of(const struct fixture *f, const char *code)
{
    for (size_t i = 0; i < f->diags.n; i++)
        if (strcmp(f->diags.items[i].code, code) == 0)
            return f->diags.items[i].message;
    fail_msg("no %s diagnostic", code);
    return NULL;
}

static void test_catalog_parses_rows_into_offers(void **state)
{
    struct fixture *f = *state;
    struct plan_catalog *cat =
        parse_ok(f, HEADER "aws,us-east-1,use1-az1,p5.48xlarge,H100-SXM,8,80,192,2048,98.32,"
                           "38.5,2026-01-21,skypilot v8\n"
                           "azure,eastus,,Standard_NC24ads_A100_v4,A100-80GB,1,80,24,220,3.673,,"
                           "2026-05-20,anycloud\n");
    assert_int_equal(cat->noffers, 2);
    assert_string_equal(cat->name, "test.csv");
    assert_string_equal(cat->as_of, "2026-05-20");
    assert_int_equal(strlen(cat->sha256), 64);
    const struct plan_offer *o = &cat->offers[0];
    assert_int_equal(o->cloud, CORE_CLOUD_AWS);
    assert_string_equal(o->region, "us-east-1");
    assert_string_equal(o->zone, "use1-az1");
    assert_string_equal(o->instance_type, "p5.48xlarge");
    assert_string_equal(o->gpu, "H100"); /* the alias is stored as the canonical name */
    assert_int_equal(o->gpus, 8);
    assert_int_equal(o->gpu_memory_gb, 80);
    assert_true(o->vcpus == 192 && o->ram_gib == 2048);
    assert_true(o->ondemand == 98.32 && o->spot == 38.5);
    assert_string_equal(o->as_of, "2026-01-21");
    assert_string_equal(o->source, "skypilot v8");
    o = &cat->offers[1];
    assert_int_equal(o->cloud, CORE_CLOUD_AZURE);
    assert_string_equal(o->zone, "");
    assert_true(o->spot < 0);
    assert_true(o->ondemand == 3.673);
    assert_int_equal(f->diags.errors, 0);
}

static void test_catalog_sorts_offers_by_cloud_region_zone_type_gpu(void **state)
{
    struct fixture *f = *state;
    struct plan_catalog *cat =
        parse_ok(f, HEADER "azure,eastus,,Standard_NC6s_v3,V100,1,16,6,112,3.06" SRC
                           "gcp,us-central1,us-central1-b,n1-highmem-4,T4,1,16,4,26,0.6" SRC
                           "aws,us-west-2,usw2-az2,p4d.24xlarge,A100,8,40,96,1152,32.77" SRC
                           "aws,us-east-1,use1-az2,p4d.24xlarge,A100,8,40,96,1152,32.77" SRC
                           "aws,us-east-1,use1-az1,p4d.24xlarge,A100,8,40,96,1152,32.77" SRC
                           "gcp,us-central1,us-central1-b,n1-highmem-4,P100,1,16,4,26,1.9" SRC
                           "gcp,us-central1,us-central1-b,n1-highmem-4,T4,2,16,4,26,0.9" SRC);
    assert_int_equal(cat->noffers, 7);
    static const char *const want[] = {
        "aws us-east-1 use1-az1 A100 8",
        "aws us-east-1 use1-az2 A100 8",
        "aws us-west-2 usw2-az2 A100 8",
        "gcp us-central1 us-central1-b P100 1",
        "gcp us-central1 us-central1-b T4 1",
        "gcp us-central1 us-central1-b T4 2",
        "azure eastus  V100 1",
    };
    for (size_t i = 0; i < cat->noffers; i++) {
        char got[128];
        const struct plan_offer *o = &cat->offers[i];
        snprintf(got, sizeof(got), "%s %s %s %s %d", core_cloud_name(o->cloud), o->region, o->zone,
                 o->gpu, o->gpus);
        assert_string_equal(got, want[i]);
        if (i > 0)
            assert_true(plan_offer_cmp(&cat->offers[i - 1], o) < 0);
    }
}

static void test_catalog_accepts_crlf_bom_quotes_and_blank_lines(void **state)
{
    struct fixture *f = *state;
    const char *lf = HEADER "aws,us-east-1,,g5.xlarge,A10G,1,24,4,16,1.006,,2026-01-21,"
                            "\"vantage, via \"\"aws-gpu\"\"\"\n";
    const char *crlf = "\xEF\xBB\xBF" PLAN_CATALOG_HEADER "\r\n\r\n"
                       "aws,us-east-1,,\"g5.xlarge\",A10G,1,24,4,16,1.006,,2026-01-21,"
                       "\"vantage, via \"\"aws-gpu\"\"\"\r\n\r\n";
    struct plan_catalog *a = parse_ok(f, lf);
    f->cat = NULL;
    struct plan_catalog *b = parse_ok(f, crlf);
    assert_int_equal(a->noffers, 1);
    assert_int_equal(b->noffers, 1);
    assert_string_equal(a->offers[0].source, "vantage, via \"aws-gpu\"");
    assert_string_equal(b->offers[0].source, a->offers[0].source);
    assert_string_equal(b->offers[0].instance_type, "g5.xlarge");
    assert_string_not_equal(a->sha256, b->sha256); /* the hash is of the bytes as given */
    plan_catalog_free(a);
}

static void test_catalog_header_must_be_exact(void **state)
{
    struct fixture *f = *state;
    parse_bad(f, "cloud,region,zone,instance_type,gpu_model,gpus\n");
    assert_diag(f, "catalog-header", 1, 33);
    assert_non_null(strstr(message_of(f, "catalog-header"), "'gpu_model', expected 'gpu'"));
    parse_bad(f, "cloud,region,zone,instance_type,gpu,gpus,gpu_memory_gb,vcpus,ram_gib,"
                 "ondemand_usd_hour,spot_usd_hour,as_of\n");
    assert_diag(f, "catalog-header", 1, 1);
    assert_non_null(strstr(message_of(f, "catalog-header"), "has 12 columns, expected 13"));
    parse_bad(f, PLAN_CATALOG_HEADER ",extra\n");
    assert_diag(f, "catalog-header", 1, 1);
    parse_bad(f, "");
    assert_diag(f, "catalog-header", 1, 1);
    parse_bad(f, "\n\n");
    assert_diag(f, "catalog-header", 1, 1);
    /* Only the header: a valid, empty catalog. */
    struct plan_catalog *cat = parse_ok(f, HEADER);
    assert_int_equal(cat->noffers, 0);
    assert_string_equal(cat->as_of, "");
}

static void test_catalog_reports_every_error_code_at_its_field(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *row, *code;
        unsigned col;
    } cases[] = {
        {"lambda,us-east-1,,x,H100,1,80,1,1,1" SRC, "catalog-cloud", 1},
        {"aws,us-est-1,,x,H100,1,80,1,1,1" SRC, "catalog-region", 5},
        {"gcp,eastus,,x,H100,1,80,1,1,1" SRC, "catalog-region", 5},
        {"aws,,,x,H100,1,80,1,1,1" SRC, "catalog-region", 5},
        {"aws,us-east-1,,,H100,1,80,1,1,1" SRC, "catalog-field", 16},
        {"aws,us-east-1,,x,H1000,1,80,1,1,1" SRC, "catalog-gpu", 18},
        {"aws,us-east-1,,x,H100,0,80,1,1,1" SRC, "catalog-field", 23},
        {"aws,us-east-1,,x,H100,8.0,80,1,1,1" SRC, "catalog-field", 23},
        {"aws,us-east-1,,x,H100,1,,1,1,1" SRC, "catalog-field", 25},
        {"aws,us-east-1,,x,H100,1,80,abc,1,1" SRC, "catalog-field", 28},
        {"aws,us-east-1,,x,H100,1,80,1,-2,1" SRC, "catalog-field", 30},
        {"aws,us-east-1,,x,H100,1,80,1,1,-1" SRC, "catalog-price", 32},
        {"aws,us-east-1,,x,H100,1,80,1,1,0" SRC, "catalog-price", 32},
        {"aws,us-east-1,,x,H100,1,80,1,1,$3" SRC, "catalog-price", 32},
        {"aws,us-east-1,,x,H100,1,80,1,1,1e3" SRC, "catalog-price", 32},
        {"aws,us-east-1,,x,H100,1,80,1,1,nan" SRC, "catalog-price", 32},
        {"aws,us-east-1,,x,H100,1,80,1,1,1,inf" SPOT, "catalog-price", 34},
        {"aws,us-east-1,,x,H100,1,80,1,1," SRC, "catalog-price", 32},
        {"aws,us-east-1,,x,H100,1,80,1,1,1,,2026-02-30,test\n", "catalog-date", 35},
        {"aws,us-east-1,,x,H100,1,80,1,1,1,,26-01-01,test\n", "catalog-date", 35},
        {"aws,us-east-1,,x,H100,1,80,1,1,1,,2026-04-02,\n", "catalog-field", 46},
        {"aws,us-east-1,,x,H100,1,80,1,1,1,,2026-04-02\n", "catalog-field", 1},
        {"aws,us-east-1,,x,H100,1,80,1,1,1,,2026-04-02,a,b\n", "catalog-field", 48},
        {"aws,us-east-1,,x,H100,1,80,1,1,1,,2026-04-02,a\"b\n", "catalog-syntax", 47},
        {"aws,us-east-1,,x,H100,1,80,1,1,1,,2026-04-02,\"a\"b\n", "catalog-syntax", 49},
        {"aws,us-east-1,,x,H100,1,80,1,1,1,,2026-04-02,a\rb\n", "catalog-syntax", 47},
        {"aws,us-east-1,,x,H100,1,80,1,1,1,,2026-04-02,caf\xe9\n", "catalog-text", 49},
        {"aws,us-east-1,,x\tz,H100,1,80,1,1,1" SRC, "catalog-region", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[1024];
        snprintf(text, sizeof(text), HEADER "%s", cases[i].row);
        if (cases[i].col == 0) { /* a tab is text, not a control character */
            parse_ok(f, text);
            continue;
        }
        parse_bad(f, text);
        assert_int_equal(f->diags.errors, 1);
        assert_diag(f, cases[i].code, 2, cases[i].col);
    }
}

static void test_catalog_messages_suggest_and_explain(void **state)
{
    struct fixture *f = *state;
    parse_bad(f, HEADER "aws,us-est-1,,x,H10O,1,80,1,1,1" SRC "lambda,x,,x,H100,1,80,1,1,1" SRC);
    assert_string_equal(message_of(f, "catalog-region"),
                        "unknown aws region 'us-est-1' (did you mean 'us-east-1'?)");
    assert_string_equal(message_of(f, "catalog-gpu"),
                        "unknown GPU model 'H10O' (did you mean 'H100'?): 'gpuform gpus' lists "
                        "the models");
    assert_string_equal(message_of(f, "catalog-cloud"),
                        "unknown cloud 'lambda': gpuform plans for aws, gcp and azure");
    /* Both fields of the first row are reported, and the second row too. */
    assert_int_equal(f->diags.errors, 3);
}

static void test_catalog_reports_every_bad_row(void **state)
{
    struct fixture *f = *state;
    parse_bad(f, HEADER "aws,us-east-1,,x,H100,1,80,1,1,1" SRC
                        "aws,us-east-1,,y,H100,1,80,1,1,oops" SRC
                        "aws,us-east-1,,z,H100,1,80,1,1,1" SRC "aws,mars-1,,x,H100,1,80,1,1,1" SRC
                        "aws,us-east-1,,w,B9000,1,80,1,1,1" SRC);
    assert_int_equal(f->diags.errors, 3);
    assert_diag(f, "catalog-price", 3, 32);
    assert_diag(f, "catalog-region", 5, 5);
    assert_diag(f, "catalog-gpu", 6, 18);
}

static void test_catalog_rejects_duplicate_offers_with_a_note(void **state)
{
    struct fixture *f = *state;
    parse_bad(f, HEADER "aws,us-east-1,use1-az1,p5.48xlarge,H100,8,80,192,2048,98.32" SRC
                        "aws,us-east-1,use1-az2,p5.48xlarge,H100,8,80,192,2048,98.32" SRC
                        "aws,us-east-1,use1-az1,p5.48xlarge,H100-SXM,8,80,192,2048,90" SRC);
    assert_int_equal(f->diags.errors, 1);
    assert_diag(f, "catalog-duplicate", 4, 1);
    const struct core_diag *g = &f->diags.items[0];
    assert_int_equal(g->nnotes, 1);
    assert_int_equal(g->notes[0].loc.line, 2);
}

static void test_catalog_columns_count_characters_not_bytes(void **state)
{
    struct fixture *f = *state;
    /* "zöne" is 4 characters in 5 bytes: the GPU field starts at character 25. */
    parse_bad(f, HEADER "aws,us-east-1,z\xc3\xb6ne,p5.x,H1000,1,80,1,1,1" SRC);
    assert_diag(f, "catalog-gpu", 2, 25);
}

static void test_catalog_rejects_hostile_input_cleanly(void **state)
{
    struct fixture *f = *state;
    /* Too big: refused before anything is read. */
    size_t big = PLAN_CATALOG_MAX_BYTES + 1;
    char *huge = calloc(1, big);
    assert_non_null(huge);
    parse_bad_len(f, huge, big);
    assert_string_equal(f->diags.items[0].code, "catalog-size");
    free(huge);

    /* NUL bytes (a binary file). */
    static const char bin[] = PLAN_CATALOG_HEADER "\n\0\0\0\x01\x02";
    parse_bad_len(f, bin, sizeof(bin) - 1);
    assert_diag(f, "catalog-syntax", 2, 1);

    /* A row of 100,000 commas: too many fields, reported once. */
    size_t n = 100000;
    char *commas = malloc(strlen(HEADER) + n + 2);
    assert_non_null(commas);
    strcpy(commas, HEADER);
    memset(commas + strlen(HEADER), ',', n);
    strcpy(commas + strlen(HEADER) + n, "\n");
    parse_bad(f, commas);
    assert_int_equal(f->diags.errors, 1);
    assert_string_equal(f->diags.items[0].code, "catalog-syntax");
    free(commas);

    /* One field of 200 KB: longer than a row may be. */
    n = 200000;
    char *longf = malloc(strlen(HEADER) + n + 2);
    assert_non_null(longf);
    strcpy(longf, HEADER);
    memset(longf + strlen(HEADER), 'a', n);
    strcpy(longf + strlen(HEADER) + n, "\n");
    parse_bad(f, longf);
    assert_string_equal(f->diags.items[0].code, "catalog-syntax");
    free(longf);

    /* An unterminated quote swallows the rest: one error at the quote. */
    parse_bad(f, HEADER "aws,\"us-east-1,,x\n"
                        "aws,us-east-1,,y,H100,1,80,1,1,1" SRC);
    assert_int_equal(f->diags.errors, 1);
    assert_diag(f, "catalog-syntax", 2, 5);

    /* Thousands of bad rows stop at the error cap. */
    struct plan_catalog *cat = NULL;
    size_t rows = 5000;
    char *many = malloc(strlen(HEADER) + rows * 8 + 1);
    assert_non_null(many);
    strcpy(many, HEADER);
    char *p = many + strlen(HEADER);
    for (size_t i = 0; i < rows; i++) {
        memcpy(p, "bad\n", 4);
        p += 4;
    }
    *p = '\0';
    core_diags_release(&f->diags);
    core_diags_init(&f->diags, 50);
    assert_int_equal(plan_catalog_parse("many.csv", many, strlen(many), &f->diags, &cat), -1);
    assert_true(f->diags.errors <= 51);
    assert_true(core_diags_full(&f->diags));
    free(many);
}

/* A diagnostics list already full of someone else's errors does not cut the parse short. */
static void test_catalog_parses_fully_when_the_diagnostics_are_already_full(void **state)
{
    struct fixture *f = *state;
    core_diags_release(&f->diags);
    core_diags_init(&f->diags, 2);
    for (int i = 0; i < 3; i++)
        core_diag_add(&f->diags, CORE_SEV_ERROR, "other", NULL, "earlier error %d", i);
    assert_true(core_diags_full(&f->diags));
    const char *text = HEADER "aws,us-east-1,,g5.xlarge,A10G,1,24,4,16,1.006" SRC
                              "aws,us-east-1,,g5.2xlarge,A10G,1,24,8,32,1.212" SRC;
    assert_int_equal(plan_catalog_parse("t.csv", text, strlen(text), &f->diags, &f->cat), 0);
    assert_int_equal(f->cat->noffers, 2);
    const char *bad = HEADER "aws,us-east-1,,g5.xlarge,A10G,1,24,4,16,oops" SRC;
    struct plan_catalog *cat = NULL;
    assert_int_equal(plan_catalog_parse("t.csv", bad, strlen(bad), &f->diags, &cat), -1);
    assert_null(cat);
}

/* Random bytes and random mutations of a valid catalog never crash the parser. */
static void test_catalog_survives_random_mutations(void **state)
{
    struct fixture *f = *state;
    const char *good =
        HEADER "aws,us-east-1,use1-az1,p5.48xlarge,H100,8,80,192,2048,98.32,38.5" SPOT
               "gcp,us-central1,us-central1-a,a2-highgpu-1g,A100,1,40,12,85,"
               "3.67,1.1" SPOT "azure,eastus,,Standard_NC6s_v3,V100,1,16,6,112,"
               "3.06,\"0.5\"" SPOT;
    size_t len = strlen(good);
    char *buf = malloc(len + 1);
    assert_non_null(buf);
    uint32_t seed = 12345;
    static const char alphabet[] = ",\"\r\n\0a9.-\xc3\xff ";
    for (int iter = 0; iter < 2000; iter++) {
        memcpy(buf, good, len + 1);
        int edits = 1 + (int)(seed % 4);
        for (int e = 0; e < edits; e++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % len;
            seed = seed * 1103515245u + 12345u;
            buf[at] = alphabet[(seed >> 8) % (sizeof(alphabet) - 1)];
        }
        core_diags_release(&f->diags);
        core_diags_init(&f->diags, 50);
        struct plan_catalog *cat = NULL;
        int rc = plan_catalog_parse("fuzz.csv", buf, len, &f->diags, &cat);
        if (rc == 0) {
            assert_non_null(cat);
            assert_int_equal(f->diags.errors, 0);
            plan_catalog_free(cat);
        } else {
            assert_null(cat);
            assert_true(f->diags.errors > 0);
        }
    }
    free(buf);
}

static char *render(const struct plan_catalog *cat, size_t *len)
{
    char *text = plan_catalog_render(cat, len);
    assert_non_null(text);
    return text;
}

static void test_catalog_write_then_parse_round_trips_byte_for_byte(void **state)
{
    struct fixture *f = *state;
    struct plan_catalog *a = parse_ok(
        f, HEADER "gcp,us-central1,us-central1-a,a2-highgpu-1g,A100,1,40,12.0,85.000,2.65389,"
                  "1.1000000,2026-04-02,\"gcp, with host\"\n"
                  "aws,us-east-1,use1-az1,p5e.48xlarge,H200,8,141,192,2048,,27.1234567,2026-11-21,"
                  "\"skypilot \"\"v8\"\"\"\n"
                  "azure,eastus,,Standard_NC4as_T4_v3,T4,1,16,4,28,0.526,0.052,2026-05-20,az\n");
    f->cat = NULL;
    size_t len1, len2;
    char *t1 = render(a, &len1);
    assert_non_null(strstr(t1, ",12,85,2.65389,1.1,")); /* no trailing zeros */
    assert_non_null(strstr(t1, ",,27.123457,"));        /* at most 6 decimals */
    assert_non_null(strstr(t1, "\"gcp, with host\""));  /* quoted only when needed */
    struct plan_catalog *b = parse_ok(f, t1);
    assert_int_equal(a->noffers, b->noffers);
    for (size_t i = 0; i < a->noffers; i++) {
        assert_int_equal(plan_offer_cmp(&a->offers[i], &b->offers[i]), 0);
        assert_string_equal(a->offers[i].source, b->offers[i].source);
        assert_true(a->offers[i].ondemand == b->offers[i].ondemand ||
                    fabs(a->offers[i].ondemand - b->offers[i].ondemand) < 1e-6);
    }
    char *t2 = render(b, &len2);
    assert_int_equal(len1, len2);
    assert_memory_equal(t1, t2, len1);
    /* Written text hashes to what parsing it reports. */
    char sha[65];
    assert_int_equal(plan_sha256_hex(t1, len1, sha), 0);
    assert_string_equal(sha, b->sha256);
    free(t1);
    free(t2);
    plan_catalog_free(a);
}

static void test_sha256_is_the_standard_digest_and_stable(void **state)
{
    struct fixture *f = *state;
    char sha[65];
    assert_int_equal(plan_sha256_hex("abc", 3, sha), 0);
    assert_string_equal(sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(plan_sha256_hex("", 0, sha), 0);
    assert_string_equal(sha, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *text = HEADER "aws,us-east-1,,g5.xlarge,A10G,1,24,4,16,1.006" SRC;
    struct plan_catalog *a = parse_ok(f, text);
    f->cat = NULL;
    struct plan_catalog *b = parse_ok(f, text);
    f->cat = NULL;
    assert_string_equal(a->sha256, b->sha256);
    assert_int_equal(plan_sha256_hex(text, strlen(text), sha), 0);
    assert_string_equal(a->sha256, sha);
    char *changed = strdup(text);
    assert_non_null(changed);
    changed[strlen(changed) - 2] = 'X'; /* the source's last letter */
    struct plan_catalog *c = parse_ok(f, changed);
    assert_string_not_equal(a->sha256, c->sha256);
    free(changed);
    plan_catalog_free(a);
    plan_catalog_free(b);
}

static void test_catalog_loads_from_a_file_and_reports_io_errors(void **state)
{
    struct fixture *f = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/cat.csv", f->dir);
    const char *text = "\xEF\xBB\xBF" HEADER "aws,us-east-1,,g5.xlarge,A10G,1,24,4,16,1.006" SRC
                       "aws,us-east-1,,g5.2xlarge,A10G,1,24,8,32,oops" SRC;
    FILE *out = fopen(path, "wb");
    assert_non_null(out);
    fputs(text, out);
    fclose(out);
    struct plan_catalog *cat = NULL;
    assert_int_equal(plan_catalog_load(path, &f->diags, &cat), -1);
    assert_diag(f, "catalog-price", 3, 42);
    /* The message quotes the line, read back from the file. */
    char *buf = NULL;
    size_t n = 0;
    FILE *mem = open_memstream(&buf, &n);
    core_diags_render(&f->diags, CORE_DIAG_TEXT, false, mem);
    fclose(mem);
    assert_non_null(strstr(buf, "cat.csv:3:42: error: on-demand price 'oops' is not a number"));
    assert_non_null(strstr(buf, "    3 | aws,us-east-1,,g5.2xlarge,"));
    free(buf);

    core_diags_release(&f->diags);
    core_diags_init(&f->diags, 50);
    snprintf(path, sizeof(path), "%s/missing.csv", f->dir);
    assert_int_equal(plan_catalog_load(path, &f->diags, &cat), -1);
    assert_string_equal(f->diags.items[0].code, "catalog-io");
    assert_int_equal(plan_catalog_load(f->dir, &f->diags, &cat), -1);
    assert_null(cat);
}

static size_t files_in(const char *dir)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void test_catalog_save_is_atomic_and_leaves_nothing_on_error(void **state)
{
    struct fixture *f = *state;
    struct plan_catalog *cat =
        parse_ok(f, HEADER "aws,us-east-1,,g5.xlarge,A10G,1,24,4,16,1.006" SRC);
    char path[128], sha[65];
    snprintf(path, sizeof(path), "%s/out.csv", f->dir);
    FILE *old = fopen(path, "w");
    assert_non_null(old);
    fputs("old contents\n", old);
    fclose(old);
    chmod(path, 0640);
    assert_int_equal(plan_catalog_save(cat, path, &f->diags, sha), 0);
    assert_int_equal(files_in(f->dir), 1); /* no temporary file left */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640); /* the permissions are kept */
    struct plan_catalog *back = NULL;
    assert_int_equal(plan_catalog_load(path, &f->diags, &back), 0);
    assert_string_equal(back->sha256, sha);
    assert_int_equal(back->noffers, 1);
    plan_catalog_free(back);

    /* A missing directory, a directory, a device: an error, nothing written anywhere. */
    char bad[160];
    snprintf(bad, sizeof(bad), "%s/no/such/dir.csv", f->dir);
    assert_int_equal(plan_catalog_save(cat, bad, &f->diags, NULL), -1);
    assert_int_equal(plan_catalog_save(cat, f->dir, &f->diags, NULL), -1);
    assert_int_equal(plan_catalog_save(cat, "/dev/null", &f->diags, NULL), -1);
    assert_int_equal(files_in(f->dir), 1);
    for (size_t i = 0; i < f->diags.n; i++)
        assert_string_equal(f->diags.items[i].code, "catalog-io");
    struct stat dn;
    assert_int_equal(stat("/dev/null", &dn), 0);
    assert_true(S_ISCHR(dn.st_mode));
}

static void test_bundled_catalog_loads_and_writes_back_identically(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(plan_catalog_load_bundled(&f->diags, &f->cat), 0);
    struct plan_catalog *cat = f->cat;
    assert_string_equal(cat->name, "bundled");
    assert_true(cat->noffers > 1000);
    size_t per[CORE_CLOUD_COUNT] = {0};
    for (size_t i = 0; i < cat->noffers; i++) {
        per[cat->offers[i].cloud]++;
        if (i > 0)
            assert_true(plan_offer_cmp(&cat->offers[i - 1], &cat->offers[i]) < 0);
    }
    for (int c = 0; c < CORE_CLOUD_COUNT; c++)
        assert_true(per[c] > 100);
    char sha[65];
    assert_int_equal(plan_sha256_hex(gpuform_catalog_data, gpuform_catalog_size, sha), 0);
    assert_string_equal(cat->sha256, sha);
    /* The file was made by the writer: writing it again gives the same bytes. */
    size_t len;
    char *text = render(cat, &len);
    assert_int_equal(len, gpuform_catalog_size);
    assert_memory_equal(text, gpuform_catalog_data, len);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_catalog_parses_rows_into_offers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_catalog_sorts_offers_by_cloud_region_zone_type_gpu,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_catalog_accepts_crlf_bom_quotes_and_blank_lines, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_catalog_header_must_be_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_catalog_reports_every_error_code_at_its_field, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_catalog_messages_suggest_and_explain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_catalog_reports_every_bad_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_catalog_rejects_duplicate_offers_with_a_note, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_catalog_columns_count_characters_not_bytes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_catalog_rejects_hostile_input_cleanly, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_catalog_parses_fully_when_the_diagnostics_are_already_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_catalog_survives_random_mutations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_catalog_write_then_parse_round_trips_byte_for_byte,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_sha256_is_the_standard_digest_and_stable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_catalog_loads_from_a_file_and_reports_io_errors, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_catalog_save_is_atomic_and_leaves_nothing_on_error,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_bundled_catalog_loads_and_writes_back_identically,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
