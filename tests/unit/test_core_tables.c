/*
 * Unit tests for the static cloud/region and GPU model tables: region lists must stay sorted
 * for bsearch, lookups must accept the spellings the catalogs use, and the datasheet numbers
 * that validation and verify rely on must not drift.
 */
#include "core/cloud.h"
#include "core/gpu_models.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void test_region_lists_are_sorted_and_unique(void **state)
{
    (void)state;
    for (int c = 0; c < CORE_CLOUD_COUNT; c++) {
        size_t n = 0;
        const char *const *regions = core_cloud_regions((enum core_cloud)c, &n);
        assert_non_null(regions);
        assert_true(n > 0);
        for (size_t i = 0; i < n; i++) {
            assert_non_null(regions[i]);
            assert_true(regions[i][0] != '\0');
            if (i > 0 && strcmp(regions[i - 1], regions[i]) >= 0)
                fail_msg("%s: \"%s\" is not before \"%s\"", core_cloud_name((enum core_cloud)c),
                         regions[i - 1], regions[i]);
        }
    }
}

static void test_every_listed_region_is_known(void **state)
{
    (void)state;
    for (int c = 0; c < CORE_CLOUD_COUNT; c++) {
        size_t n = 0;
        const char *const *regions = core_cloud_regions((enum core_cloud)c, &n);
        for (size_t i = 0; i < n; i++)
            assert_true(core_region_known((enum core_cloud)c, regions[i]));
    }
}

static void test_known_regions_are_found(void **state)
{
    (void)state;
    assert_true(core_region_known(CORE_CLOUD_AWS, "us-east-1"));
    assert_true(core_region_known(CORE_CLOUD_AWS, "eu-central-1"));
    assert_true(core_region_known(CORE_CLOUD_AWS, "ap-southeast-4"));
    assert_true(core_region_known(CORE_CLOUD_AWS, "us-gov-west-1"));
    assert_true(core_region_known(CORE_CLOUD_GCP, "europe-west9"));
    assert_true(core_region_known(CORE_CLOUD_GCP, "us-central1"));
    assert_true(core_region_known(CORE_CLOUD_GCP, "europe-west4"));
    assert_true(core_region_known(CORE_CLOUD_GCP, "europe-west10"));
    assert_true(core_region_known(CORE_CLOUD_AZURE, "westeurope"));
    assert_true(core_region_known(CORE_CLOUD_AZURE, "eastus"));
    assert_true(core_region_known(CORE_CLOUD_AZURE, "swedencentral"));
}

static void test_unknown_and_cross_cloud_regions_are_rejected(void **state)
{
    (void)state;
    assert_false(core_region_known(CORE_CLOUD_GCP, "us-east-1"));
    assert_false(core_region_known(CORE_CLOUD_AWS, "us-est-1"));
    assert_false(core_region_known(CORE_CLOUD_AWS, "us-east-1-atl-1"));
    assert_false(core_region_known(CORE_CLOUD_AWS, "eastus"));
    assert_false(core_region_known(CORE_CLOUD_AZURE, "us-central1"));
    assert_false(core_region_known(CORE_CLOUD_AZURE, "East US"));
    assert_false(core_region_known(CORE_CLOUD_AWS, "US-EAST-1"));
    for (int c = 0; c < CORE_CLOUD_COUNT; c++) {
        assert_false(core_region_known((enum core_cloud)c, ""));
        assert_false(core_region_known((enum core_cloud)c, NULL));
    }
}

static void test_cloud_names_round_trip(void **state)
{
    (void)state;
    assert_string_equal(core_cloud_name(CORE_CLOUD_AWS), "aws");
    assert_string_equal(core_cloud_name(CORE_CLOUD_GCP), "gcp");
    assert_string_equal(core_cloud_name(CORE_CLOUD_AZURE), "azure");
    for (int c = 0; c < CORE_CLOUD_COUNT; c++) {
        const char *name = core_cloud_name((enum core_cloud)c);
        assert_non_null(name);
        assert_int_equal(core_cloud_from_name(name), c);
    }
    assert_int_equal(core_cloud_from_name("AWS"), -1);
    assert_int_equal(core_cloud_from_name("oci"), -1);
    assert_int_equal(core_cloud_from_name(""), -1);
}

/* The canonical name of the model `name` resolves to, or NULL. */
static const char *canonical(const char *name)
{
    const struct core_gpu_model *m = core_gpu_model_find(name);
    return m != NULL ? m->name : NULL;
}

static void test_gpu_models_found_by_name_and_alias_case_insensitively(void **state)
{
    (void)state;
    assert_string_equal(canonical("H100"), "H100");
    assert_string_equal(canonical("h100"), "H100");
    assert_string_equal(canonical("H100-SXM"), "H100");
    assert_string_equal(canonical("h100-80gb"), "H100");
    assert_string_equal(canonical("a100-80gb"), "A100-80GB");
    assert_string_equal(canonical("A100-80GB-SXM"), "A100-80GB");
    assert_string_equal(canonical("A100-40GB"), "A100");
    assert_string_equal(canonical("H200-SXM"), "H200");
    assert_string_equal(canonical("T4G"), "T4g");
    assert_string_equal(canonical("t4"), "T4");
    assert_string_equal(canonical("RTX6000Ada"), "RTX6000-Ada");
    assert_string_equal(canonical("B200 Blackwell"), "B200");
    assert_string_equal(canonical("GRID K520"), "K520");
    assert_string_equal(canonical("AMD Radeon Pro V520"), "Radeon Pro V520");
    assert_string_equal(canonical("H100-MEGA"), "H100-MEGA");
    assert_string_equal(canonical("H100-NVL"), "H100-NVL");
    assert_string_equal(canonical("mi300x"), "MI300X");
    assert_null(core_gpu_model_find("H1000"));
    assert_null(core_gpu_model_find(""));
    assert_null(core_gpu_model_find("tpu-v4"));
}

static void test_gpu_model_names_and_aliases_are_unique(void **state)
{
    (void)state;
    size_t n = 0;
    const struct core_gpu_model *models = core_gpu_models(&n);
    assert_non_null(models);
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++) {
        assert_non_null(models[i].aliases);
        /* Every spelling of model i: index -1 is the name, then the aliases. */
        for (ptrdiff_t a = -1; a < 0 || models[i].aliases[a] != NULL; a++) {
            const char *si = a < 0 ? models[i].name : models[i].aliases[a];
            assert_ptr_equal(core_gpu_model_find(si), &models[i]);
            for (size_t j = i + 1; j < n; j++) {
                for (ptrdiff_t b = -1; b < 0 || models[j].aliases[b] != NULL; b++) {
                    const char *sj = b < 0 ? models[j].name : models[j].aliases[b];
                    if (strcasecmp(si, sj) == 0)
                        fail_msg("\"%s\" names both %s and %s", si, models[i].name, models[j].name);
                }
            }
        }
    }
}

static void test_gpu_models_have_plausible_fields(void **state)
{
    (void)state;
    size_t n = 0;
    const struct core_gpu_model *models = core_gpu_models(&n);
    for (size_t i = 0; i < n; i++) {
        const struct core_gpu_model *m = &models[i];
        assert_true(strcmp(m->vendor, "nvidia") == 0 || strcmp(m->vendor, "amd") == 0 ||
                    strcmp(m->vendor, "intel") == 0);
        assert_true(m->memory_gb > 0);
        assert_true(m->mem_bw_gbs > 0);
        assert_true(m->fp32_tflops >= 0);
        assert_true(m->bf16_tflops >= 0);
        assert_non_null(m->source);
        assert_true(m->source[0] != '\0');
    }
}

static void assert_memory(const char *name, unsigned gb)
{
    const struct core_gpu_model *m = core_gpu_model_find(name);
    if (m == NULL)
        fail_msg("%s not found", name);
    assert_int_equal(m->memory_gb, gb);
}

static void test_gpu_model_memory_matches_datasheets(void **state)
{
    (void)state;
    assert_memory("H100", 80);
    assert_memory("H200", 141);
    assert_memory("B200", 180);
    assert_memory("L4", 24);
    assert_memory("A10G", 24);
    assert_memory("A100", 40);
    assert_memory("A100-80GB", 80);
    assert_memory("MI300X", 192);
    assert_memory("V100-32GB", 32);
}

static void test_every_catalog_accelerator_is_known(void **state)
{
    (void)state;
    const char *dir = getenv("GPUFORM_SHARED_DATA");
    if (dir == NULL || dir[0] == '\0')
        skip();
    char path[4096];
    int len = snprintf(path, sizeof path, "%s/catalog/common/accelerators.csv", dir);
    assert_true(len > 0 && (size_t)len < sizeof path);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        skip();

    char line[1024];
    size_t checked = 0;
    bool header = true;
    while (fgets(line, sizeof line, f) != NULL) {
        if (header) {
            header = false;
            continue;
        }
        /* The name is the first field; it is never quoted in this file. */
        line[strcspn(line, ",\r\n")] = '\0';
        if (line[0] == '\0' || strncasecmp(line, "tpu-", 4) == 0)
            continue;
        if (core_gpu_model_find(line) == NULL) {
            fclose(f);
            fail_msg("accelerator \"%s\" from %s is not a known GPU model", line, path);
        }
        checked++;
    }
    fclose(f);
    assert_true(checked > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_region_lists_are_sorted_and_unique),
        cmocka_unit_test(test_every_listed_region_is_known),
        cmocka_unit_test(test_known_regions_are_found),
        cmocka_unit_test(test_unknown_and_cross_cloud_regions_are_rejected),
        cmocka_unit_test(test_cloud_names_round_trip),
        cmocka_unit_test(test_gpu_models_found_by_name_and_alias_case_insensitively),
        cmocka_unit_test(test_gpu_model_names_and_aliases_are_unique),
        cmocka_unit_test(test_gpu_models_have_plausible_fields),
        cmocka_unit_test(test_gpu_model_memory_matches_datasheets),
        cmocka_unit_test(test_every_catalog_accelerator_is_known),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
