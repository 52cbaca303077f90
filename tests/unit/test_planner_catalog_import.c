/*
 * Unit tests for the SkyPilot import (planner/catalog_import.c): each cloud's quirks on small
 * inline files (AWS per-AZ rows and GpuInfo dicts, the vantage file's own columns, GCP
 * accelerators priced with their host VM as SkyPilot does, Azure's quoted "V1,V2", CRLF,
 * empty prices, fractional GPUs), every skip reason, file-name clouds, filters, merging,
 * and a walk over every file in the shared catalog folder.
 */
#include "planner/catalog_import.h"

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

#include "core/diag.h"

static const char aws_csv[] =
    "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,"
    "Region,AvailabilityZone,Arch\n"
    "p3dn.24xlarge,V100-32GB,8.0,96.0,768.0,\"{'Gpus': [{'Name': 'V100', 'Manufacturer': "
    "'NVIDIA', 'Count': 8, 'MemoryInfo': {'SizeInMiB': 32768}}], 'TotalGpuMemoryInMiB': "
    "262144}\",31.212,9.1,us-east-1,use1-az4,x86_64\n"
    "p5.48xlarge,H100,8.0,192.0,2048.0,\"{'Gpus': [{'Name': 'H100', 'MemoryInfo': "
    "{'SizeInMiB': 81920}}]}\",98.32,,us-east-1,use1-az1,x86_64\n"
    "p5e.48xlarge,H200,8.0,192.0,2048.0,\"{'Gpus': [{'Name': 'H200', 'MemoryInfo': "
    "{'SizeInMiB': 144384}}]}\",,40.5,us-east-1,use1-az2,x86_64\n"
    "p5e.48xlarge,H200,8.0,192.0,2048.0,\"{'Gpus': [{'Name': 'H200'}]}\",,,us-east-1,use1-az3,"
    "x86_64\n"
    "p5.48xlarge,H100,8.0,192.0,2048.0,\"{}\",98.32,30.1,us-east-1,use1-atl2-az1,x86_64\n"
    "p6-b200.48xlarge,B200,8.0,192.0,2048.0,\"{}\",113.9,,mars-1,mars-az1,x86_64\n"
    "trn1.2xlarge,Trainium,1.0,8.0,32.0,\"{}\",1.34,0.4,us-east-1,use1-az1,x86_64\n"
    "m5.large,,,2.0,8.0,,0.096,0.03,us-east-1,use1-az1,x86_64\n";

static const char vantage_csv[] =
    "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,ReservedPrice,Region,"
    "GpuDescription,GpuMemory,Generation,Family,Network,Storage\n"
    "g5.xlarge,A10G,1,4,16,1.006,0.634,us-east-1,NVIDIA A10G,24 GB,current,GPU instance,Up to "
    "10 Gigabit,250 GB NVMe SSD\n"
    "g6f.large,L40,0.125,2,8,0.2,,us-east-1,NVIDIA L40,6 GB,current,GPU instance,x,y\n"
    "g5g.xlarge,ARM Mali-G78MP12,1,4,8,0.42,,us-east-1,ARM Mali,16 GB,current,GPU instance,x,y\n"
    "g5.xlarge,A10G,1,4,16,1.1,,us-east-1-atl-1,NVIDIA A10G,24 GB,current,GPU instance,x,y\n"
    "p9.xlarge,H100,1,4,16,,,,NVIDIA H100,80 GB,current,GPU instance,x,y\n";

static const char gcp_hosts_csv[] =
    "InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,GpuInfo,Region,"
    "AvailabilityZone,Price,SpotPrice\n"
    "a2-highgpu-1g,12.0,85.0,,,,us-central1,us-central1-a,0.94803,0.41672\n"
    "g2-standard-8,8.0,32.0,,,,us-central1,us-central1-a,0.5,0.2\n"
    "g2-standard-4,4.0,16.0,,,,us-central1,us-central1-a,0.3,0.1\n"
    "n1-standard-4,4.0,15.0,,,,us-central1,us-central1-a,0.19,0.04\n"
    "n1-highmem-4,4.0,26.0,,,,us-central1,us-central1-a,0.236,0.05\n"
    "n1-standard-8,8.0,30.0,,,,us-central1,us-central1-a,0.38,0.08\n"
    "n2-highmem-4,4.0,32.0,,,,us-central1,us-central1-a,0.01,0.01\n"
    "n1-highcpu-64,64.0,57.6,,,,us-central1,us-central1-a,2.27,0.5\n"
    "n1-highmem-64,64.0,416.0,,,,us-central1,us-central1-a,3.79,\n"
    "n1-highmem-96,96.0,624.0,,,,us-central1,us-central1-a,,\n"
    "a4-highgpu-8g,224.0,3968.0,,,,us-central1,us-central1-b,0.0,0.0\n";

static const char gcp_gpus_csv[] =
    "InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,GpuInfo,Region,"
    "AvailabilityZone,Price,SpotPrice\n"
    ",,,A100,1,{'Gpus': [{'MemoryInfo': {'SizeInMiB': 40960}}]},us-central1,us-central1-a,2.93,"
    "1.1\n"
    ",,,L4,1,{'Gpus': [{'MemoryInfo': {'SizeInMiB': 24576}}]},us-central1,us-central1-a,0.56,"
    "0.2\n"
    ",,,T4,1,{'Gpus': [{'MemoryInfo': {'SizeInMiB': 16384}}]},us-central1,us-central1-a,0.35,"
    "0.14\n"
    ",,,V100,8,{'Gpus': [{'MemoryInfo': {'SizeInMiB': 16384}}]},us-central1,us-central1-a,19.84,"
    "8.0\n"
    ",,,B200,8,{'Gpus': [{'MemoryInfo': {'SizeInMiB': 184320}}]},us-central1,us-central1-b,64.44,"
    "39.128\n"
    ",,,A100,16,{'Gpus': [{'MemoryInfo': {'SizeInMiB': 40960}}]},us-central1,us-central1-a,46.9,"
    "\n"
    ",,,H100,1,{'Gpus': [{'MemoryInfo': {'SizeInMiB': 81920}}]},us-central1,us-central1-c,9.8,"
    "\n"
    ",,,tpu-v2-8,1,tpu-v2-8,us-central1,us-central1-b,4.5,1.35\n"
    ",,,T4,1,{'Gpus': [{'MemoryInfo': {'SizeInMiB': 16384}}]},us-central1,us-central1-a,,0.1\n";

static const char azure_csv[] =
    "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,"
    "Region,Generation\n"
    "Standard_NC24ads_A100_v4,A100-80GB,1,24,220,A100-80GB,3.673,0.7346,eastus,\"V1,V2\"\n"
    "Standard_NV6ads_A10_v5,A10,0.167,6,55,A10,0.454,0.09,eastus,V2\n"
    "Standard_ND96isr_H100_v5,H100,8,96,1900,H100,98.32,,eastus,V2\n"
    "Standard_NC4as_T4_v3,T4,1,4,28,T4,0.526,,East US,V2\n"
    "Standard_NC6s_v3,V100,1,6,112,V100,3.06,0,eastus,\"V1,V2\"\n";

struct fixture {
    struct core_diags diags;
    struct plan_import_options opts;
    struct plan_import *imp;
    struct plan_catalog *cat;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    core_diags_init(&f->diags, 50);
    f->opts.cloud = -1;
    f->imp = plan_import_new(&f->opts);
    assert_non_null(f->imp);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    plan_catalog_free(f->cat);
    plan_import_free(f->imp);
    core_diags_release(&f->diags);
    free(f);
    return 0;
}

static int add(struct fixture *f, const char *name, const char *text, bool hosts)
{
    return plan_import_add_text(f->imp, name, text, strlen(text), "2026-04-02", hosts, &f->diags);
}

static void show_diags(struct fixture *f)
{
    core_diags_render(&f->diags, CORE_DIAG_TEXT, false, stderr);
}

static struct plan_catalog *finish(struct fixture *f)
{
    if (plan_import_finish(f->imp, &f->diags, &f->cat) != 0) {
        show_diags(f);
        fail_msg("the import did not finish");
    }
    return f->cat;
}

/* The offer with this instance type and zone, or a failure. */
static const struct plan_offer *find(const struct plan_catalog *cat, const char *type,
                                     const char *zone)
{
    for (size_t i = 0; i < cat->noffers; i++)
        if (!strcmp(cat->offers[i].instance_type, type) && !strcmp(cat->offers[i].zone, zone))
            return &cat->offers[i];
    fail_msg("no offer %s in zone '%s'", type, zone);
    return NULL;
}

static bool near(double a, double b)
{
    return fabs(a - b) < 1e-9;
}

static const struct plan_import_stats *stats(const struct fixture *f)
{
    return plan_import_stats(f->imp);
}

static void test_import_aws_keeps_zones_gpu_memory_and_missing_prices(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(add(f, "aws_gpu_vms.csv", aws_csv, false), 0);
    struct plan_catalog *cat = finish(f);
    assert_int_equal(cat->noffers, 4);
    const struct plan_offer *o = find(cat, "p3dn.24xlarge", "use1-az4");
    assert_int_equal(o->cloud, CORE_CLOUD_AWS);
    assert_string_equal(o->region, "us-east-1");
    assert_string_equal(o->gpu, "V100-32GB");
    assert_int_equal(o->gpus, 8);
    assert_int_equal(o->gpu_memory_gb, 32); /* 32768 MiB from the GpuInfo dict */
    assert_true(near(o->vcpus, 96) && near(o->ram_gib, 768));
    assert_true(near(o->ondemand, 31.212) && near(o->spot, 9.1));
    assert_string_equal(o->as_of, "2026-04-02");
    assert_string_equal(o->source, "SkyPilot catalog aws_gpu_vms.csv");
    o = find(cat, "p5.48xlarge", "use1-az1");
    assert_true(o->spot < 0); /* an empty SpotPrice: not offered as spot */
    o = find(cat, "p5e.48xlarge", "use1-az2");
    assert_true(o->ondemand < 0 && near(o->spot, 40.5)); /* spot only */
    assert_int_equal(o->gpu_memory_gb, 141);
    o = find(cat, "p5.48xlarge", "use1-atl2-az1"); /* a Local Zone AZ of us-east-1 */
    assert_int_equal(o->gpu_memory_gb, 80);        /* no size in GpuInfo: the datasheet */
    const struct plan_import_stats *st = stats(f);
    assert_int_equal(st->rows, 8);
    assert_int_equal(st->imported, 4);
    assert_int_equal(st->skipped[PLAN_SKIP_NO_PRICE], 1);
    assert_int_equal(st->skipped[PLAN_SKIP_REGION], 1);
    assert_int_equal(st->skipped[PLAN_SKIP_UNKNOWN_GPU], 1);
    assert_int_equal(st->skipped[PLAN_SKIP_NO_GPU], 1);
    assert_string_equal(st->examples[PLAN_SKIP_UNKNOWN_GPU][0], "Trainium");
    assert_string_equal(st->examples[PLAN_SKIP_REGION][0], "mars-1");
    assert_string_equal(st->first[PLAN_SKIP_NO_PRICE], "aws_gpu_vms.csv:5");
}

static void test_import_vantage_maps_its_own_columns(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(add(f, "aws_gpu_ondemand_vantage.csv", vantage_csv, false), 0);
    struct plan_catalog *cat = finish(f);
    assert_int_equal(cat->noffers, 1);
    const struct plan_offer *o = find(cat, "g5.xlarge", "");
    assert_string_equal(o->region, "us-east-1");
    assert_string_equal(o->gpu, "A10G");
    assert_int_equal(o->gpu_memory_gb, 24);
    assert_true(near(o->ondemand, 1.006));
    assert_true(o->spot < 0); /* no SpotPrice column; ReservedPrice is not a spot price */
    const struct plan_import_stats *st = stats(f);
    assert_int_equal(st->skipped[PLAN_SKIP_FRACTIONAL], 1);
    assert_string_equal(st->examples[PLAN_SKIP_FRACTIONAL][0], "g6f.large: L40 x 0.125");
    assert_int_equal(st->skipped[PLAN_SKIP_UNKNOWN_GPU], 1);
    assert_int_equal(st->skipped[PLAN_SKIP_REGION], 2); /* a Local Zone and an empty region */
}

static void test_import_gcp_prices_accelerators_with_their_host_vm(void **state)
{
    struct fixture *f = *state;
    /* The GPU file first, the hosts after: the order of the files does not matter. */
    assert_int_equal(add(f, "gcp_gpu_vms.csv", gcp_gpus_csv, false), 0);
    assert_int_equal(add(f, "host-prices.csv", gcp_hosts_csv, true), 0);
    struct plan_catalog *cat = finish(f);
    assert_int_equal(cat->noffers, 5);

    /* A100 is built into a2: a2-highgpu-1g's price plus the GPU's. */
    const struct plan_offer *o = find(cat, "a2-highgpu-1g", "us-central1-a");
    assert_string_equal(o->gpu, "A100");
    assert_int_equal(o->gpu_memory_gb, 40);
    assert_true(near(o->ondemand, 2.93 + 0.94803) && near(o->spot, 1.1 + 0.41672));
    assert_true(near(o->vcpus, 12) && near(o->ram_gib, 85));
    /* L4: the cheapest of the g2 types SkyPilot lists for one L4. */
    o = find(cat, "g2-standard-4", "us-central1-a");
    assert_true(near(o->ondemand, 0.86) && near(o->spot, 0.3));
    /* T4 on N1: at least 4 vCPUs and 16 GiB, so n1-standard-4 (15 GiB) does not fit and
     * n1-highmem-4 is cheaper than n1-standard-8; n2 never hosts a T4. */
    o = find(cat, "n1-highmem-4", "us-central1-a");
    assert_string_equal(o->gpu, "T4");
    assert_true(near(o->ondemand, 0.35 + 0.236) && near(o->spot, 0.14 + 0.05));
    /* V100 x8 needs 64 vCPUs and 256 GiB: n1-highmem-64, which has no spot price. */
    o = find(cat, "n1-highmem-64", "us-central1-a");
    assert_int_equal(o->gpus, 8);
    assert_true(near(o->ondemand, 19.84 + 3.79));
    assert_true(o->spot < 0);
    /* a4's host price is 0.0: the accelerator row carries the machine's price. */
    o = find(cat, "a4-highgpu-8g", "us-central1-b");
    assert_true(near(o->ondemand, 64.44) && near(o->spot, 39.128));

    const struct plan_import_stats *st = stats(f);
    assert_int_equal(st->host_rows, 11);
    assert_int_equal(st->accel_rows, 7);
    assert_int_equal(st->skipped[PLAN_SKIP_NO_HOST], 2);     /* A100 x16 (no a2-megagpu), H100 */
    assert_int_equal(st->skipped[PLAN_SKIP_UNKNOWN_GPU], 1); /* the TPU */
    assert_int_equal(st->skipped[PLAN_SKIP_NO_PRICE], 1);    /* no on-demand accelerator price */
    assert_string_equal(st->examples[PLAN_SKIP_NO_HOST][0], "A100 x16 in us-central1-a");
}

static void test_import_gcp_without_hosts_prices_nothing(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(add(f, "gcp_gpu_vms.csv", gcp_gpus_csv, false), 0);
    struct plan_catalog *cat = finish(f);
    assert_int_equal(cat->noffers, 0);
    assert_int_equal(stats(f)->host_rows, 0);
    assert_int_equal(stats(f)->accel_rows, 7); /* the CLI turns this into an error */
    assert_int_equal(stats(f)->skipped[PLAN_SKIP_NO_HOST], 7);
}

static void test_import_azure_reads_quoted_generation_and_skips_slices(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(add(f, "azure_gpu_vms.csv", azure_csv, false), 0);
    struct plan_catalog *cat = finish(f);
    assert_int_equal(cat->noffers, 3);
    const struct plan_offer *o = find(cat, "Standard_NC24ads_A100_v4", "");
    assert_int_equal(o->cloud, CORE_CLOUD_AZURE);
    assert_string_equal(o->gpu, "A100-80GB");
    assert_int_equal(o->gpu_memory_gb, 80); /* GpuInfo is only the name: the datasheet */
    assert_true(near(o->ondemand, 3.673) && near(o->spot, 0.7346));
    o = find(cat, "Standard_NC6s_v3", "");
    assert_true(o->spot < 0); /* a spot price of 0 means none */
    const struct plan_import_stats *st = stats(f);
    assert_int_equal(st->skipped[PLAN_SKIP_FRACTIONAL], 1);
    assert_int_equal(st->skipped[PLAN_SKIP_REGION], 1); /* "East US" is not an API name */
}

/* LF and CRLF in: the same catalog out. */
static void test_import_crlf_gives_the_same_catalog(void **state)
{
    struct fixture *f = *state;
    char crlf[sizeof(azure_csv) * 2];
    size_t o = 0;
    for (const char *p = azure_csv; *p; p++) {
        if (*p == '\n')
            crlf[o++] = '\r';
        crlf[o++] = *p;
    }
    crlf[o] = '\0';
    assert_int_equal(add(f, "azure_a.csv", azure_csv, false), 0);
    struct plan_catalog *a = finish(f);
    f->cat = NULL;
    struct plan_import *other = plan_import_new(&f->opts);
    assert_non_null(other);
    assert_int_equal(
        plan_import_add_text(other, "azure_a.csv", crlf, o, "2026-04-02", false, &f->diags), 0);
    struct plan_catalog *b = NULL;
    assert_int_equal(plan_import_finish(other, &f->diags, &b), 0);
    assert_string_equal(a->sha256, b->sha256);
    plan_catalog_free(a);
    plan_catalog_free(b);
    plan_import_free(other);
}

static void test_import_maps_columns_by_name_in_any_order(void **state)
{
    struct fixture *f = *state;
    const char *csv = "Region,Price,AcceleratorCount,InstanceType,SpotPrice,MemoryGiB,vCPUs,"
                      "AcceleratorName\n"
                      "us-west-2,32.77,8,p4d.24xlarge,12.1,1152,96,A100\n";
    assert_int_equal(add(f, "aws_shuffled.csv", csv, false), 0);
    struct plan_catalog *cat = finish(f);
    assert_int_equal(cat->noffers, 1);
    const struct plan_offer *o = find(cat, "p4d.24xlarge", "");
    assert_string_equal(o->region, "us-west-2");
    assert_true(near(o->ondemand, 32.77) && near(o->spot, 12.1));
    assert_true(near(o->vcpus, 96) && near(o->ram_gib, 1152));
}

static void test_import_counts_malformed_rows_and_duplicates(void **state)
{
    struct fixture *f = *state;
    const char *csv = "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,Region\n"
                      "p4d.24xlarge,A100,8,96,1152,32.77,us-east-1\n"
                      "p4d.24xlarge,A100,8,96,1152,32.77,us-east-1,extra\n"
                      "p4d.24xlarge,A100,eight,96,1152,32.77,us-east-1\n"
                      "p4d.24xlarge,A100,8,96,1152,$32,us-east-1\n"
                      "p4d.24xlarge,A100,8,96,1152,30.00,us-east-1\n";
    assert_int_equal(add(f, "aws_bad.csv", csv, false), 0);
    struct plan_catalog *cat = finish(f);
    assert_int_equal(cat->noffers, 1);
    assert_true(near(cat->offers[0].ondemand, 32.77)); /* the first one read is kept */
    const struct plan_import_stats *st = stats(f);
    assert_int_equal(st->skipped[PLAN_SKIP_MALFORMED], 3);
    assert_string_equal(st->first[PLAN_SKIP_MALFORMED], "aws_bad.csv:3");
    assert_string_equal(st->examples[PLAN_SKIP_MALFORMED][0], "8 fields where the header has 7");
    assert_int_equal(st->skipped[PLAN_SKIP_DUPLICATE], 1);
    assert_string_equal(st->first[PLAN_SKIP_DUPLICATE], "aws_bad.csv:6");
}

static void test_import_rejects_files_that_are_not_vms_csv(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(add(f, "aws_x.csv", "GPU,MemoryGB,Manufacturer\nA10,24,nvidia\n", false), -1);
    assert_string_equal(f->diags.items[0].code, "import-header");
    assert_non_null(strstr(f->diags.items[0].message, "no column 'InstanceType'"));
    assert_int_equal(add(f, "aws_empty.csv", "", false), -1);
    assert_int_equal(add(f, "aws_syntax.csv", "InstanceType,\"Accel\n", false), -1);
    assert_string_equal(f->diags.items[f->diags.n - 1].code, "import-syntax");
    const char *broken_row = "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,"
                             "Price,Region\np4d,A100,8,96,1152,\"32.77\"x,us-east-1\n";
    assert_int_equal(add(f, "aws_quote.csv", broken_row, false), -1);
    const struct core_diag *g = &f->diags.items[f->diags.n - 1];
    assert_string_equal(g->code, "import-syntax");
    assert_int_equal(g->loc.line, 2);
    assert_int_equal(g->loc.col, 27);
}

static void test_import_tells_the_cloud_from_the_file_name(void **state)
{
    struct fixture *f = *state;
    const char *csv =
        "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,Region\n";
    assert_int_equal(add(f, "lambda_gpu_vms.csv", csv, false), -1);
    assert_string_equal(f->diags.items[0].code, "import-cloud");
    assert_non_null(strstr(f->diags.items[0].message, "'lambda'"));
    assert_non_null(strstr(f->diags.items[0].message, "aws, gcp and azure"));
    assert_int_equal(add(f, "prices.csv", csv, false), -1);
    assert_non_null(strstr(f->diags.items[1].message, "cannot tell which cloud"));
    assert_int_equal(add(f, "my_prices.csv", csv, false), -1);
    /* skypilot-catalog's layout: the folder names the cloud. */
    assert_int_equal(add(f, "catalogs/v8/azure/vms.csv", csv, false), 0);
    assert_int_equal(add(f, "/data/gcp/vms.csv", csv, false), 0);

    /* With a cloud given, files named for another cloud are skipped, others read as it. */
    struct plan_import_options opts = {.cloud = CORE_CLOUD_AWS};
    struct plan_import *imp = plan_import_new(&opts);
    assert_non_null(imp);
    struct core_diags d;
    core_diags_init(&d, 50);
    assert_int_equal(
        plan_import_add_text(imp, "gcp_gpu_vms.csv", csv, strlen(csv), "2026-01-01", false, &d), 1);
    assert_int_equal(
        plan_import_add_text(imp, "lambda_gpu_vms.csv", csv, strlen(csv), "2026-01-01", false, &d),
        1);
    assert_int_equal(
        plan_import_add_text(imp, "hosts.csv", csv, strlen(csv), "2026-01-01", true, &d), 1);
    assert_int_equal(
        plan_import_add_text(imp, "prices.csv", csv, strlen(csv), "2026-01-01", false, &d), 0);
    assert_int_equal(plan_import_stats(imp)->files_skipped, 3);
    assert_int_equal(d.errors, 0);
    core_diags_release(&d);
    plan_import_free(imp);
}

static void test_import_filters_by_instance_type_and_gpu(void **state)
{
    struct fixture *f = *state;
    static const char *const only[] = {"p5*", "p3dn.*"};
    static const char *const gpus[] = {"H100-SXM"}; /* an alias of H100 */
    f->opts.only = only;
    f->opts.nonly = 2;
    f->opts.gpus = gpus;
    f->opts.ngpus = 1;
    assert_int_equal(add(f, "aws_gpu_vms.csv", aws_csv, false), 0);
    struct plan_catalog *cat = finish(f);
    assert_int_equal(cat->noffers, 2); /* the two p5.48xlarge rows; p3dn is a V100 */
    for (size_t i = 0; i < cat->noffers; i++)
        assert_string_equal(cat->offers[i].instance_type, "p5.48xlarge");
    assert_int_equal(stats(f)->skipped[PLAN_SKIP_FILTERED], 4); /* p3dn, 2 x p5e, p6-b200 */
}

static void test_import_filters_gcp_by_the_host_type(void **state)
{
    struct fixture *f = *state;
    static const char *const only[] = {"n1-*"};
    f->opts.only = only;
    f->opts.nonly = 1;
    assert_int_equal(add(f, "gcp_gpu_vms.csv", gcp_gpus_csv, false), 0);
    assert_int_equal(add(f, "gcp_hosts.csv", gcp_hosts_csv, true), 0);
    struct plan_catalog *cat = finish(f);
    assert_int_equal(cat->noffers, 2); /* T4 and V100 on N1 */
    assert_int_equal(stats(f)->skipped[PLAN_SKIP_FILTERED], 3);
}

static void test_import_merges_into_an_existing_catalog(void **state)
{
    struct fixture *f = *state;
    const char *base_text =
        PLAN_CATALOG_HEADER "\n"
                            "aws,us-east-1,use1-az4,p3dn.24xlarge,V100-32GB,8,32,96,768,99,,"
                            "2025-01-01,old\n"
                            "gcp,us-central1,us-central1-a,mine-1,T4,1,16,4,16,0.5,,2025-01-01,"
                            "my own\n";
    struct plan_catalog *base = NULL;
    assert_int_equal(plan_catalog_parse("base.csv", base_text, strlen(base_text), &f->diags, &base),
                     0);
    assert_int_equal(plan_import_merge(f->imp, base), 0);
    plan_catalog_free(base); /* the import keeps copies */
    assert_int_equal(add(f, "aws_gpu_vms.csv", aws_csv, false), 0);
    struct plan_catalog *cat = finish(f);
    assert_int_equal(cat->noffers, 5);
    const struct plan_offer *o = find(cat, "p3dn.24xlarge", "use1-az4");
    assert_true(near(o->ondemand, 31.212)); /* replaced by the imported row */
    assert_string_equal(find(cat, "mine-1", "us-central1-a")->source, "my own");
    assert_int_equal(stats(f)->kept, 1);
    assert_int_equal(stats(f)->replaced, 1);
    assert_int_equal(stats(f)->imported, 4);
}

static void test_import_checks_user_options(void **state)
{
    struct fixture *f = *state;
    static const char *const gpus[] = {"H100", "H1000"};
    static const char *const only[] = {""};
    struct plan_import_options o = {.cloud = -1,
                                    .as_of = "2026-02-30",
                                    .source = "two\nlines",
                                    .gpus = gpus,
                                    .ngpus = 2,
                                    .only = only,
                                    .nonly = 1};
    assert_int_equal(plan_import_check_options(&o, &f->diags), -1);
    assert_int_equal(f->diags.errors, 4);
    for (size_t i = 0; i < f->diags.n; i++)
        assert_string_equal(f->diags.items[i].code, "import-option");
    struct plan_import_options good = {.cloud = -1, .as_of = "2026-04-02", .source = "x"};
    assert_int_equal(plan_import_check_options(&good, &f->diags), 0);
}

static void test_import_uses_given_date_and_source(void **state)
{
    struct fixture *f = *state;
    f->opts.as_of = "2026-05-20";
    f->opts.source = "anycloud-sh/catalog azure/vms.csv, 2026-05-20";
    assert_int_equal(add(f, "azure_gpu_vms.csv", azure_csv, false), 0);
    struct plan_catalog *cat = finish(f);
    for (size_t i = 0; i < cat->noffers; i++) {
        assert_string_equal(cat->offers[i].as_of, "2026-05-20");
        assert_string_equal(cat->offers[i].source, f->opts.source); /* a comma: quoted */
    }
}

/* Random mutations of each cloud's file never crash the import, and whatever it makes
 * always parses as a catalog (plan_import_finish re-reads its own output). */
static void test_import_survives_random_mutations(void **state)
{
    (void)state;
    static const struct {
        const char *name, *text;
    } files[] = {{"aws_a.csv", aws_csv},
                 {"aws_v.csv", vantage_csv},
                 {"gcp_g.csv", gcp_gpus_csv},
                 {"azure_z.csv", azure_csv}};
    static const char alphabet[] = ",\"\r\n\0a9.-\xc3\xff '{}";
    uint32_t seed = 777;
    char buf[4096];
    for (int iter = 0; iter < 800; iter++) {
        size_t k = (size_t)iter % 4;
        size_t len = strlen(files[k].text);
        assert_true(len < sizeof(buf));
        memcpy(buf, files[k].text, len);
        for (int e = 0; e < 1 + (int)(seed % 5); e++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % len;
            seed = seed * 1103515245u + 12345u;
            buf[at] = alphabet[(seed >> 8) % (sizeof(alphabet) - 1)];
        }
        struct plan_import_options opts = {.cloud = -1};
        struct plan_import *imp = plan_import_new(&opts);
        assert_non_null(imp);
        struct core_diags d;
        core_diags_init(&d, 50);
        if (k == 2)
            assert_int_equal(plan_import_add_text(imp, "gcp_h.csv", gcp_hosts_csv,
                                                  strlen(gcp_hosts_csv), "2026-01-01", true, &d),
                             0);
        int rc = plan_import_add_text(imp, files[k].name, buf, len, "2026-01-01", false, &d);
        if (rc == 0) {
            struct plan_catalog *cat = NULL;
            if (plan_import_finish(imp, &d, &cat) != 0) {
                core_diags_render(&d, CORE_DIAG_TEXT, false, stderr);
                fail_msg("iteration %d: the import made a catalog that does not parse", iter);
            }
            plan_catalog_free(cat);
        } else {
            assert_true(d.errors > 0);
        }
        core_diags_release(&d);
        plan_import_free(imp);
    }
}

/* ---- the shared data folder ---- */

static const char *shared_catalog_dir(char *buf, size_t size)
{
    const char *dir = getenv("GPUFORM_SHARED_DATA");
    if (!dir || !*dir)
        return NULL;
    snprintf(buf, size, "%s/catalog", dir);
    struct stat st;
    return stat(buf, &st) == 0 && S_ISDIR(st.st_mode) ? buf : NULL;
}

struct walk {
    const char *root;
    size_t files, ok, refused, offers;
};

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static const char *code_of_first_error(const struct core_diags *d)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->items[i].severity == CORE_SEV_ERROR)
            return d->items[i].code;
    return "";
}

/* Imports one file on its own, as `gpuform catalog import` would, and checks the outcome. */
static void walk_file(struct walk *w, const char *path, const char *name)
{
    struct plan_import_options opts = {.cloud = -1, .as_of = "2026-11-21"};
    struct plan_import *imp = plan_import_new(&opts);
    assert_non_null(imp);
    struct core_diags d;
    core_diags_init(&d, 50);
    char hosts[4096];
    snprintf(hosts, sizeof(hosts), "%s/gcp_gpu_host_vms.csv", w->root);
    bool gcp = has_prefix(name, "gcp_");
    if (gcp)
        assert_int_equal(plan_import_add_gcp_hosts(imp, hosts, &d), 0);
    int rc = plan_import_add_file(imp, path, &d);
    bool ours = has_prefix(name, "aws_") || gcp || has_prefix(name, "azure_");
    const char *dot = strrchr(name, '.');
    bool csv = dot && strcmp(dot, ".csv") == 0;
    w->files++;
    if (ours && csv) {
        if (rc != 0) {
            core_diags_render(&d, CORE_DIAG_TEXT, false, stderr);
            fail_msg("%s did not import", path);
        }
        struct plan_catalog *cat = NULL;
        assert_int_equal(plan_import_finish(imp, &d, &cat), 0);
        const struct plan_import_stats *st = plan_import_stats(imp);
        size_t skipped = 0;
        for (int i = 0; i < PLAN_SKIP_COUNT; i++)
            skipped += st->skipped[i];
        if (strcmp(name, "gcp_tpu_vms.csv") == 0) { /* TPUs are not GPUs: nothing, counted */
            assert_int_equal(cat->noffers, 0);
            assert_true(st->rows > 1000);
            assert_int_equal(st->skipped[PLAN_SKIP_UNKNOWN_GPU], st->rows - st->host_rows);
        } else if (strcmp(name, "gcp_gpu_host_vms.csv") == 0) {
            assert_int_equal(cat->noffers, 0); /* only prices for accelerators */
        } else {
            assert_true(cat->noffers > 0);
        }
        if (strcmp(name, "gcp_gpu_vms.csv") == 0) {
            /* Every GPU row priced with its host, as SkyPilot does, but A100 x16 where no
             * a2-megagpu-16g is offered in the zone. */
            assert_int_equal(cat->noffers, 711);
            assert_int_equal(st->skipped[PLAN_SKIP_NO_HOST], 36);
        }
        if (strcmp(name, "azure_gpu_vms_anycloud_20260520_unrepaired.csv") == 0)
            assert_int_equal(st->skipped[PLAN_SKIP_MALFORMED], 582); /* unquoted V1,V2 */
        if (strcmp(name, "azure_gpu_vms.csv") == 0)
            assert_int_equal(st->skipped[PLAN_SKIP_MALFORMED], 0);
        /* Every data row is accounted for: an offer, a host VM price, or a reason. */
        assert_int_equal(st->rows, st->host_rows + st->imported + skipped);
        w->ok++;
        w->offers += cat->noffers;
        plan_catalog_free(cat);
    } else {
        /* Other clouds, common/ tables and the raw JavaScript: a clear error, no crash. */
        assert_int_equal(rc, -1);
        const char *code = code_of_first_error(&d);
        if (strcmp(code, "import-cloud") != 0 && strcmp(code, "import-header") != 0)
            fail_msg("%s: unexpected error code '%s'", path, code);
        w->refused++;
    }
    core_diags_release(&d);
    plan_import_free(imp);
}

static void walk_dir(struct walk *w, const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        if (S_ISDIR(st.st_mode))
            walk_dir(w, path);
        else if (S_ISREG(st.st_mode))
            walk_file(w, path, e->d_name);
    }
    closedir(d);
}

static void test_import_every_file_of_the_shared_catalog_folder(void **state)
{
    (void)state;
    char buf[4096];
    const char *root = shared_catalog_dir(buf, sizeof(buf));
    if (!root)
        skip();
    struct walk w = {.root = root};
    walk_dir(&w, root);
    assert_true(w.files >= 20);
    assert_true(w.ok >= 8);       /* aws x2, gcp x3 (+alt), azure (+raw) */
    assert_true(w.refused >= 10); /* other clouds, common/, raw .js */
    assert_true(w.offers > 3000);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_import_aws_keeps_zones_gpu_memory_and_missing_prices),
        T(test_import_vantage_maps_its_own_columns),
        T(test_import_gcp_prices_accelerators_with_their_host_vm),
        T(test_import_gcp_without_hosts_prices_nothing),
        T(test_import_azure_reads_quoted_generation_and_skips_slices),
        T(test_import_crlf_gives_the_same_catalog),
        T(test_import_maps_columns_by_name_in_any_order),
        T(test_import_counts_malformed_rows_and_duplicates),
        T(test_import_rejects_files_that_are_not_vms_csv),
        T(test_import_tells_the_cloud_from_the_file_name),
        T(test_import_filters_by_instance_type_and_gpu),
        T(test_import_filters_gcp_by_the_host_type),
        T(test_import_merges_into_an_existing_catalog),
        T(test_import_checks_user_options),
        T(test_import_uses_given_date_and_source),
        T(test_import_survives_random_mutations),
        T(test_import_every_file_of_the_shared_catalog_folder),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
