/*
 * Unit tests for the CPU reference backend and the runner's verdicts
 * (modules/verify/backend_cpu.c, verify_run.c, verify_report.c): a healthy run passes every
 * correctness check, and each injected fault fails its own check, naming what went wrong.
 */
#include "modules/verify/verify.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REGION_BYTES ((uint64_t)1 << 20)

struct fixture {
    struct verify_options opts;
    struct verify_report rep;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    f->opts.level = VERIFY_QUICK;
    f->opts.mem_bytes = REGION_BYTES;
    f->opts.reps = 3;
    f->opts.gemm_n = 32;
    f->opts.expected_gpus = 1;
    verify_report_init(&f->rep);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    verify_report_release(&f->rep);
    free(f);
    return 0;
}

static void run(struct fixture *f, unsigned faults)
{
    char err[256] = "";
    f->opts.faults = faults;
    assert_int_equal(verify_run(&verify_backend_cpu, &f->opts, &f->rep, err, sizeof(err)), 0);
}

static const struct verify_result *find(const struct fixture *f, int gpu, enum verify_check c)
{
    const struct verify_result *r = verify_report_find(&f->rep, gpu, c);
    assert_non_null(r);
    return r;
}

static void assert_status(const struct fixture *f, int gpu, enum verify_check c,
                          enum verify_status s)
{
    const struct verify_result *r = find(f, gpu, c);
    if (r->status != s)
        fail_msg("%s: %s, expected %s: %s", verify_check_name(c), verify_status_name(r->status),
                 verify_status_name(s), r->message);
}

/* The checks whose verdict does not depend on timing pass on a healthy run. */
static void assert_correctness_passes(const struct fixture *f, unsigned except)
{
    static const enum verify_check checks[] = {VERIFY_CHECK_MEMORY, VERIFY_CHECK_COMPUTE,
                                               VERIFY_CHECK_GEMM, VERIFY_CHECK_HEALTH};
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
        if (!(except & (1u << checks[i])))
            assert_status(f, 0, checks[i], VERIFY_PASS);
}

static void test_verify_cpu_healthy_run_passes(void **state)
{
    struct fixture *f = *state;
    run(f, 0);
    assert_int_equal(f->rep.ndevices, 1);
    assert_string_equal(f->rep.backend, "cpu");
    assert_status(f, -1, VERIFY_CHECK_INVENTORY, VERIFY_PASS);
    assert_status(f, 0, VERIFY_CHECK_INVENTORY, VERIFY_PASS);
    assert_correctness_passes(f, 0);
    assert_status(f, 0, VERIFY_CHECK_HOST_BANDWIDTH, VERIFY_SKIP);
    assert_status(f, -1, VERIFY_CHECK_PEER_BANDWIDTH, VERIFY_SKIP);
    const struct verify_result *bw = find(f, 0, VERIFY_CHECK_MEM_BANDWIDTH);
    assert_true(bw->measured > 0 && bw->expected > 0);
    assert_true(bw->threshold == 0.5);
    const struct verify_result *mem = find(f, 0, VERIFY_CHECK_MEMORY);
    assert_non_null(strstr(mem->message, "1 MiB, 6 passes, no mismatch"));
}

static void test_verify_cpu_bitflip_fails_memory_at_the_flipped_address(void **state)
{
    struct fixture *f = *state;
    run(f, VERIFY_FAULT_MEM_BITFLIP);
    assert_status(f, 0, VERIFY_CHECK_MEMORY, VERIFY_FAIL);
    assert_correctness_passes(f, 1u << VERIFY_CHECK_MEMORY);
    const struct verify_result *r = find(f, 0, VERIFY_CHECK_MEMORY);
    uint64_t offset = VERIFY_BITFLIP_WORD(REGION_BYTES / 4) * 4;
    char want[160];
    snprintf(want, sizeof(want),
             "1 mismatch(es) in 1 MiB over 6 passes; first at offset 0x%llx (pattern 0xaa: "
             "expected 0xaaaaaaaa, got 0xaaaaaa8a, second read 0xaaaaaa8a: stuck)",
             (unsigned long long)offset);
    assert_string_equal(r->message, want);
    json_t *first = json_array_get(json_object_get((json_t *)r->details, "first"), 0);
    assert_string_equal(json_string_value(json_object_get(first, "kind")), "stuck");
    assert_int_equal(r->measured, 1);
    assert_true(verify_report_failed(&f->rep));
}

static void test_verify_cpu_gemm_corrupt_fails_gemm_naming_the_element(void **state)
{
    struct fixture *f = *state;
    run(f, VERIFY_FAULT_GEMM_CORRUPT);
    assert_status(f, 0, VERIFY_CHECK_GEMM, VERIFY_FAIL);
    assert_correctness_passes(f, 1u << VERIFY_CHECK_GEMM);
    const struct verify_result *r = find(f, 0, VERIFY_CHECK_GEMM);
    long long idx = VERIFY_GEMM_CORRUPT_INDEX(32);
    char want[160];
    snprintf(want, sizeof(want),
             "fp32 GEMM 32x32: repetition 1 differs from repetition 0 at element %lld (row %lld, "
             "column %lld)",
             idx, idx / 32, idx % 32);
    assert_string_equal(r->message, want);
}

static void test_verify_cpu_nan_fails_compute(void **state)
{
    struct fixture *f = *state;
    run(f, VERIFY_FAULT_NAN);
    assert_status(f, 0, VERIFY_CHECK_COMPUTE, VERIFY_FAIL);
    assert_correctness_passes(f, 1u << VERIFY_CHECK_COMPUTE);
    const struct verify_result *r = find(f, 0, VERIFY_CHECK_COMPUTE);
    assert_non_null(strstr(r->message, "1 NaN and 0 wrong of 1024 FMA chains; first lane 7"));
}

static void test_verify_cpu_slow_bw_fails_bandwidth_below_threshold(void **state)
{
    struct fixture *f = *state;
    run(f, VERIFY_FAULT_SLOW_BW);
    assert_status(f, 0, VERIFY_CHECK_MEM_BANDWIDTH, VERIFY_FAIL);
    assert_correctness_passes(f, 0);
    const struct verify_result *r = find(f, 0, VERIFY_CHECK_MEM_BANDWIDTH);
    assert_true(r->measured < r->threshold * r->expected);
    assert_non_null(strstr(r->message, "below the threshold of the memcpy ceiling"));
}

static void test_verify_cpu_hide_gpu_fails_the_count(void **state)
{
    struct fixture *f = *state;
    f->opts.expected_gpus = 2; /* what an instance type with 2 GPUs promises */
    run(f, VERIFY_FAULT_HIDE_GPU);
    assert_int_equal(f->rep.ndevices, 1);
    assert_status(f, -1, VERIFY_CHECK_INVENTORY, VERIFY_FAIL);
    const struct verify_result *r = find(f, -1, VERIFY_CHECK_INVENTORY);
    assert_string_equal(r->message, "found 1 GPU(s), the instance type promises 2");
    assert_true(r->measured == 1 && r->expected == 2);
    assert_correctness_passes(f, 0);
}

static void test_verify_cpu_two_devices_match_a_two_gpu_promise(void **state)
{
    struct fixture *f = *state;
    f->opts.expected_gpus = 2;
    run(f, 0);
    assert_int_equal(f->rep.ndevices, 2);
    assert_status(f, -1, VERIFY_CHECK_INVENTORY, VERIFY_PASS);
    assert_status(f, 1, VERIFY_CHECK_MEMORY, VERIFY_PASS);
}

static void test_verify_cpu_nvml_ecc_fails_health(void **state)
{
    struct fixture *f = *state;
    run(f, VERIFY_FAULT_NVML_ECC);
    assert_status(f, 0, VERIFY_CHECK_HEALTH, VERIFY_FAIL);
    assert_correctness_passes(f, 1u << VERIFY_CHECK_HEALTH);
    const struct verify_result *r = find(f, 0, VERIFY_CHECK_HEALTH);
    assert_non_null(
        strstr(r->message, "2 uncorrectable ECC errors; a row remap is pending (faked counters"));
}

static void test_verify_cpu_xid_fails_health_naming_xid_79(void **state)
{
    struct fixture *f = *state;
    f->opts.devices = 3;
    f->opts.expected_gpus = 3;
    f->opts.fault_gpus = 1u << 1;
    run(f, VERIFY_FAULT_XID);
    assert_status(f, 0, VERIFY_CHECK_HEALTH, VERIFY_PASS);
    assert_status(f, 1, VERIFY_CHECK_HEALTH, VERIFY_FAIL);
    assert_status(f, 2, VERIFY_CHECK_HEALTH, VERIFY_PASS);
    const struct verify_result *r = find(f, 1, VERIFY_CHECK_HEALTH);
    assert_non_null(strstr(r->message, "XID 79 (GPU has fallen off the bus) in the kernel log"));
    json_t *x = json_array_get(json_object_get((json_t *)r->details, "xids"), 0);
    assert_string_equal(json_string_value(json_object_get(x, "source")), "kernel_log");
    assert_string_equal(f->rep.devices[1].pci_bus_id, "0000:02:00.0");
}

/* GPUFORM_KMSG: the kernel log's XIDs land on the simulated device with that bus id. */
static void test_verify_cpu_reads_xids_from_gpuform_kmsg_by_bus_id(void **state)
{
    struct fixture *f = *state;
    char path[] = "/tmp/gpuform-kmsg-cpu-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "4,1002,123456789,-;NVRM: Xid (PCI:0000:03:00): 48, An uncorrectable "
                       "double bit error\n"
                       "[  9.0] NVRM: Xid (PCI:0000:01:00): 31, pid=5, name=x, MMU Fault\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    setenv("GPUFORM_KMSG", path, 1);
    f->opts.devices = 3;
    f->opts.expected_gpus = 3;
    run(f, 0);
    unsetenv("GPUFORM_KMSG");
    unlink(path);
    assert_status(f, 0, VERIFY_CHECK_HEALTH, VERIFY_WARN);
    assert_status(f, 1, VERIFY_CHECK_HEALTH, VERIFY_PASS);
    assert_status(f, 2, VERIFY_CHECK_HEALTH, VERIFY_FAIL);
    assert_non_null(strstr(find(f, 2, VERIFY_CHECK_HEALTH)->message,
                           "XID 48 (double bit ECC error) at boot+123s"));
    assert_non_null(
        strstr(find(f, 0, VERIFY_CHECK_HEALTH)->message, "XID 31 (GPU memory page fault)"));
}

static void test_verify_cpu_report_json_is_shaped_per_gpu_and_check(void **state)
{
    struct fixture *f = *state;
    run(f, VERIFY_FAULT_MEM_BITFLIP);
    char *s = verify_report_json(&f->rep);
    assert_non_null(s);
    json_error_t e;
    json_t *root = json_loads(s, 0, &e);
    free(s);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "status")), "fail");
    assert_string_equal(json_string_value(json_object_get(root, "backend")), "cpu");
    json_t *faults = json_object_get(root, "faults_injected");
    assert_int_equal(json_array_size(faults), 1);
    assert_string_equal(json_string_value(json_array_get(faults, 0)), "mem_bitflip");
    json_t *node0 = json_array_get(json_object_get(root, "node"), 0);
    assert_string_equal(json_string_value(json_object_get(node0, "check")), "inventory");
    json_t *gpu0 = json_array_get(json_object_get(root, "gpus"), 0);
    assert_string_equal(json_string_value(json_object_get(gpu0, "status")), "fail");
    json_t *checks = json_object_get(gpu0, "checks");
    bool found = false;
    for (size_t i = 0; i < json_array_size(checks); i++) {
        json_t *c = json_array_get(checks, i);
        if (strcmp(json_string_value(json_object_get(c, "check")), "memory"))
            continue;
        found = true;
        assert_string_equal(json_string_value(json_object_get(c, "status")), "fail");
        assert_true(json_real_value(json_object_get(c, "measured")) == 1.0);
        assert_non_null(json_object_get(c, "details"));
    }
    assert_true(found);
    json_decref(root);
}

static void test_verify_cuda_without_a_gpu_says_why(void **state)
{
    struct fixture *f = *state;
    char why[256] = "";
    if (verify_backend_cuda.probe(why, sizeof(why)) == 0)
        skip(); /* a usable GPU: the gpu-labelled tests cover it */
    char err[256] = "";
    assert_int_equal(verify_run(&verify_backend_cuda, &f->opts, &f->rep, err, sizeof(err)), -1);
    assert_true(strlen(err) > 10);
    assert_string_equal(err, why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_verify_cpu_healthy_run_passes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_cpu_bitflip_fails_memory_at_the_flipped_address,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_cpu_gemm_corrupt_fails_gemm_naming_the_element,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_cpu_nan_fails_compute, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_cpu_slow_bw_fails_bandwidth_below_threshold,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_cpu_hide_gpu_fails_the_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_cpu_two_devices_match_a_two_gpu_promise, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_verify_cpu_nvml_ecc_fails_health, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_cpu_xid_fails_health_naming_xid_79, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_verify_cpu_reads_xids_from_gpuform_kmsg_by_bus_id,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_cpu_report_json_is_shaped_per_gpu_and_check,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_cuda_without_a_gpu_says_why, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
