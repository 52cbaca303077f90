/*
 * Unit tests for the verify host logic both backends share (modules/verify/verify_host.c):
 * pattern words, the memory comparison and its stuck/transient classification, bandwidth
 * arithmetic, the FMA and GEMM verdicts, thresholds, and device-name -> model matching.
 */
#include "modules/verify/verify.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/gpu_models.h"

static void test_verify_pattern_words_follow_their_formulas(void **state)
{
    (void)state;
    assert_int_equal(verify_pattern_word(VERIFY_PAT_WALKING_ONES, 0, 0), 1u);
    assert_int_equal(verify_pattern_word(VERIFY_PAT_WALKING_ONES, 0, 33), 2u);
    assert_int_equal(verify_pattern_word(VERIFY_PAT_WALKING_ONES, 4, 31), 8u);
    assert_int_equal(verify_pattern_word(VERIFY_PAT_ZEROS, 0, 7), 0u);
    assert_int_equal(verify_pattern_word(VERIFY_PAT_ONES, 0, 7), 0xFFFFFFFFu);
    assert_int_equal(verify_pattern_word(VERIFY_PAT_AA, 0, 7), 0xAAAAAAAAu);
    assert_int_equal(verify_pattern_word(VERIFY_PAT_55, 0, 7), 0x55555555u);
    assert_int_equal(verify_pattern_word(VERIFY_PAT_OWN_ADDRESS, 0, 0x1234), 0x1234u);
    /* words 16 GiB apart still differ: the high half of the index is folded in */
    assert_int_not_equal(verify_pattern_word(VERIFY_PAT_OWN_ADDRESS, 0, 0x100000000ull + 5),
                         verify_pattern_word(VERIFY_PAT_OWN_ADDRESS, 0, 5));
    uint32_t r1 = verify_pattern_word(VERIFY_PAT_RANDOM, 1, 99);
    assert_int_equal(r1, verify_pattern_word(VERIFY_PAT_RANDOM, 1, 99));
    assert_int_not_equal(r1, verify_pattern_word(VERIFY_PAT_RANDOM, 2, 99));
    assert_int_not_equal(r1, verify_pattern_word(VERIFY_PAT_RANDOM, 1, 100));
}

static void test_verify_full_level_runs_more_passes_than_quick(void **state)
{
    (void)state;
    size_t nq, nf;
    const struct verify_mem_pass *q = verify_mem_passes(VERIFY_QUICK, &nq);
    verify_mem_passes(VERIFY_FULL, &nf);
    assert_true(nf > nq);
    assert_true(nq > VERIFY_BITFLIP_PASS);
    assert_int_equal(q[VERIFY_BITFLIP_PASS].pattern, VERIFY_PAT_AA);
}

static void test_verify_check_records_a_stored_flip_as_stuck(void **state)
{
    (void)state;
    uint32_t buf[64];
    struct verify_mem_result r;
    memset(&r, 0, sizeof(r));
    verify_pattern_fill(buf, 64, 1000, VERIFY_PAT_AA, 0, false);
    buf[10] ^= 0x20;
    assert_int_equal(
        verify_pattern_check(buf, 64, 1000, VERIFY_PAT_AA, 0, false, false, &r, NULL, 0), 1);
    assert_int_equal(r.mismatches, 1);
    assert_int_equal(r.words_checked, 64);
    assert_int_equal(r.nrecorded, 1);
    assert_int_equal(r.first[0].offset, (1000 + 10) * 4);
    assert_int_equal(r.first[0].expected, 0xAAAAAAAAu);
    assert_int_equal(r.first[0].got, 0xAAAAAA8Au);
    assert_int_equal(r.first[0].reread, 0xAAAAAA8Au);
    assert_string_equal(verify_mismatch_kind(&r.first[0]), "stuck");
}

static void test_verify_check_classifies_a_read_error_as_transient(void **state)
{
    (void)state;
    uint32_t buf[32];
    struct verify_mem_result r;
    memset(&r, 0, sizeof(r));
    verify_pattern_fill(buf, 32, 0, VERIFY_PAT_RANDOM, 9, false);
    uint32_t flip = 0x80000000u;
    verify_pattern_check(buf, 32, 0, VERIFY_PAT_RANDOM, 9, false, false, &r, &flip, 17);
    assert_int_equal(r.mismatches, 1);
    assert_int_equal(r.first[0].offset, 17 * 4);
    assert_int_equal(r.first[0].got, r.first[0].expected ^ flip);
    assert_int_equal(r.first[0].reread, r.first[0].expected);
    assert_string_equal(verify_mismatch_kind(&r.first[0]), "transient");
    struct verify_mismatch m = {.expected = 1, .got = 2, .reread = 3};
    assert_string_equal(verify_mismatch_kind(&m), "unstable");
}

static void test_verify_check_counts_every_mismatch_but_records_the_first_ten(void **state)
{
    (void)state;
    uint32_t buf[256];
    struct verify_mem_result r;
    memset(&r, 0, sizeof(r));
    verify_pattern_fill(buf, 256, 0, VERIFY_PAT_OWN_ADDRESS, 0, true);
    for (int i = 0; i < 25; i++)
        buf[i * 7] ^= 1;
    verify_pattern_check(buf, 256, 0, VERIFY_PAT_OWN_ADDRESS, 0, true, false, &r, NULL, 0);
    assert_int_equal(r.mismatches, 25);
    assert_int_equal(r.nrecorded, VERIFY_MAX_MISMATCH);
    for (int i = 0; i < VERIFY_MAX_MISMATCH; i++) {
        assert_int_equal(r.first[i].offset, (uint64_t)i * 7 * 4);
        assert_true(r.first[i].inverted);
    }
}

static void test_verify_moving_inversion_leaves_the_complement(void **state)
{
    (void)state;
    uint32_t buf[40];
    struct verify_mem_result r;
    memset(&r, 0, sizeof(r));
    verify_pattern_fill(buf, 40, 0, VERIFY_PAT_WALKING_ONES, 3, false);
    verify_pattern_check(buf, 40, 0, VERIFY_PAT_WALKING_ONES, 3, false, true, &r, NULL, 0);
    for (size_t i = 0; i < 40; i++)
        assert_int_equal(buf[i], ~verify_pattern_word(VERIFY_PAT_WALKING_ONES, 3, i));
    verify_pattern_check(buf, 40, 0, VERIFY_PAT_WALKING_ONES, 3, true, false, &r, NULL, 0);
    assert_int_equal(r.mismatches, 0);
    assert_int_equal(r.words_checked, 80);
}

static void test_verify_bandwidth_counts_bytes_read_and_written(void **state)
{
    (void)state;
    assert_true(fabs(verify_gbs(1000000000, 1000000000, 1.0) - 2.0) < 1e-12);
    assert_true(fabs(verify_gbs(2000000000, 1000000000, 0.5) - 6.0) < 1e-12);
    assert_true(verify_gbs(1, 1, 0) == 0);
    double t[] = {0.3, 0, 0.2, 0.5};
    assert_true(verify_best_seconds(t, 4) == 0.2);
    double none[] = {0, -1};
    assert_true(verify_best_seconds(none, 2) == 0);
}

static void test_verify_fma_check_finds_nan_and_wrong_lanes(void **state)
{
    (void)state;
    enum { LANES = 300, ITERS = 100 };
    float out[LANES];
    for (int l = 0; l < LANES; l++)
        out[l] = verify_fma_reference((uint64_t)l, ITERS);
    /* lanes with the same l % 256 agree bit for bit */
    assert_memory_equal(&out[0], &out[256], sizeof(float));
    struct verify_fma_result r;
    memset(&r, 0, sizeof(r));
    verify_fma_check(out, LANES, ITERS, &r);
    assert_int_equal(r.wrong + r.nans, 0);
    assert_int_equal(r.first_bad, -1);
    out[5] = NAN;
    out[260] = nextafterf(out[260], 2.0f);
    verify_fma_check(out, LANES, ITERS, &r);
    assert_int_equal(r.nans, 1);
    assert_int_equal(r.wrong, 1);
    assert_int_equal(r.first_bad, 5);
}

static void test_verify_gemm_checks_name_the_wrong_element(void **state)
{
    (void)state;
    enum { N = 16 };
    float A[N * N], B[N * N], C[N * N], C2[N * N];
    for (int i = 0; i < N * N; i++) {
        A[i] = verify_input_value(1, (uint64_t)i);
        B[i] = verify_input_value(2, (uint64_t)i);
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int p = 0; p < N; p++)
                s += (double)A[i * N + p] * B[p * N + j];
            C[i * N + j] = (float)s;
        }
    double got, want;
    assert_int_equal(verify_gemm_sample_check(A, B, C, N, N, N, 32, 1, 1e-5, &got, &want), -1);
    memcpy(C2, C, sizeof(C));
    assert_int_equal(verify_first_bitwise_diff(C, C2, N * N), -1);
    C2[N * N - 1] += 0.5f; /* the last element is always sampled */
    assert_int_equal(verify_first_bitwise_diff(C, C2, N * N), N * N - 1);
    assert_int_equal(verify_gemm_sample_check(A, B, C2, N, N, N, 32, 1, 1e-5, &got, &want),
                     N * N - 1);
    assert_true(fabs(got - want - 0.5) < 1e-5);
    /* inputs are k/128: exact in bf16 */
    for (int i = 0; i < N * N; i++)
        assert_true(A[i] * 128.0f == floorf(A[i] * 128.0f) && A[i] >= -1.0f && A[i] < 1.0f);
}

static void test_verify_rate_status_applies_fractions(void **state)
{
    (void)state;
    struct verify_threshold t = {0.70, 0.80};
    assert_int_equal(verify_rate_status(69, 100, t), VERIFY_FAIL);
    assert_int_equal(verify_rate_status(75, 100, t), VERIFY_WARN);
    assert_int_equal(verify_rate_status(80, 100, t), VERIFY_PASS);
    assert_int_equal(verify_rate_status(NAN, 100, t), VERIFY_FAIL);
    assert_int_equal(verify_rate_status(1, 0, t), VERIFY_PASS);
    struct verify_threshold mb = verify_threshold_for(VERIFY_CHECK_MEM_BANDWIDTH, "cuda");
    assert_true(mb.fail == 0.70 && mb.warn == 0.80);
    struct verify_threshold h2d = verify_threshold_for(VERIFY_CHECK_HOST_BANDWIDTH, "cuda");
    assert_true(h2d.fail == 0.65);
    struct verify_threshold none = verify_threshold_for(VERIFY_CHECK_HOST_BANDWIDTH, "cpu");
    assert_true(none.fail == 0 && none.warn == 0);
}

static void test_verify_device_names_map_to_catalog_models(void **state)
{
    (void)state;
    const struct core_gpu_model *m;
    m = verify_model_from_name("NVIDIA H100 80GB HBM3", 85520809984ull);
    assert_non_null(m);
    assert_string_equal(m->name, "H100");
    m = verify_model_from_name("NVIDIA A100-SXM4-80GB", 85899345920ull);
    assert_non_null(m);
    assert_string_equal(m->name, "A100-80GB");
    m = verify_model_from_name("NVIDIA A100-SXM4-40GB", 42949672960ull);
    assert_non_null(m);
    assert_string_equal(m->name, "A100");
    m = verify_model_from_name("NVIDIA L40S", 48000000000ull);
    assert_non_null(m);
    assert_string_equal(m->name, "L40S");
    m = verify_model_from_name("NVIDIA L4", 24000000000ull);
    assert_non_null(m);
    assert_string_equal(m->name, "L4");
    assert_null(verify_model_from_name("cpu-reference-0", 1 << 20));
}

static void test_verify_fault_names_round_trip(void **state)
{
    (void)state;
    static const char *const names[] = {"mem_bitflip", "gemm_corrupt", "nan", "slow_bw",
                                        "hide_gpu",    "nvml_ecc",     "xid"};
    unsigned seen = 0;
    char list[256] = "";
    for (size_t i = 0; i < VERIFY_NFAULTS; i++) {
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "", names[i]);
        unsigned bit = 0;
        assert_int_equal(verify_fault_parse(names[i], &bit), 0);
        assert_string_equal(verify_fault_name(bit), names[i]);
        assert_int_equal(seen & bit, 0);
        seen |= bit;
    }
    /* the list usage and error messages print is the table's */
    assert_string_equal(list, VERIFY_FAULT_NAMES);
    unsigned bit;
    assert_int_equal(verify_fault_parse("bitflip", &bit), -1);
    assert_null(verify_fault_name(3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_pattern_words_follow_their_formulas),
        cmocka_unit_test(test_verify_full_level_runs_more_passes_than_quick),
        cmocka_unit_test(test_verify_check_records_a_stored_flip_as_stuck),
        cmocka_unit_test(test_verify_check_classifies_a_read_error_as_transient),
        cmocka_unit_test(test_verify_check_counts_every_mismatch_but_records_the_first_ten),
        cmocka_unit_test(test_verify_moving_inversion_leaves_the_complement),
        cmocka_unit_test(test_verify_bandwidth_counts_bytes_read_and_written),
        cmocka_unit_test(test_verify_fma_check_finds_nan_and_wrong_lanes),
        cmocka_unit_test(test_verify_gemm_checks_name_the_wrong_element),
        cmocka_unit_test(test_verify_rate_status_applies_fractions),
        cmocka_unit_test(test_verify_device_names_map_to_catalog_models),
        cmocka_unit_test(test_verify_fault_names_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
