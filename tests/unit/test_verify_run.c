/*
 * Unit tests for the verify runner's verdict rules on the GPU path (modules/verify/
 * verify_run.c), driven by a scripted backend named "cuda": datasheet thresholds per model,
 * the health counter rules, the inventory rules, skips, the table and JSON output, baseline
 * thresholds, and how the per-device threads overlap. No GPU is needed: the backend returns
 * what a GPU would have measured.
 */
#include "modules/verify/verify.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/gpu_models.h"

/* What the scripted GPU "measures"; reset by setup. */
static struct script {
    struct verify_device dev;
    int ndevices;
    double copy_gbs;
    double fma_tflops, clock_ratio;
    double gemm_tflops;
    double h2d, d2h;
    int link_gen, link_width; /* the link read under load; 0: unknown */
    struct verify_health health;
    int health_rc;
    int peer_rc;
    double peer_gbs;
    int hold_ms; /* memtest and host copies take this long, to see the threads overlap */
} s;

/* How many devices were inside memtest / host_bandwidth at once, at most. */
static atomic_int mem_now, mem_max, host_now, host_max;

static void enter(atomic_int *now, atomic_int *max)
{
    int v = atomic_fetch_add(now, 1) + 1;
    int m = atomic_load(max);
    while (v > m && !atomic_compare_exchange_weak(max, &m, v))
        ;
    struct timespec ts = {0, (long)s.hold_ms * 1000000L};
    nanosleep(&ts, NULL);
    atomic_fetch_sub(now, 1);
}

static int f_probe(char *why, size_t n)
{
    (void)why;
    (void)n;
    return 0;
}

static int f_open(const struct verify_options *o, struct verify_ctx **out, char *err, size_t n)
{
    (void)o;
    (void)err;
    (void)n;
    *out = NULL;
    return 0;
}

static int f_devices(struct verify_ctx *c, struct verify_device *out, size_t max, size_t *n,
                     char *err, size_t errn)
{
    (void)c;
    (void)err;
    (void)errn;
    for (int i = 0; i < s.ndevices && (size_t)i < max; i++) {
        out[i] = s.dev;
        out[i].index = i;
    }
    *n = (size_t)s.ndevices;
    return 0;
}

static int f_memtest(struct verify_ctx *c, int gpu, struct verify_mem_result *r, char *err,
                     size_t n)
{
    (void)c;
    (void)gpu;
    (void)err;
    (void)n;
    enter(&mem_now, &mem_max);
    r->bytes = 72ull << 30;
    r->passes = 6;
    return 0;
}

static int f_bandwidth(struct verify_ctx *c, int gpu, struct verify_bw_result *r, char *err,
                       size_t n)
{
    (void)c;
    (void)gpu;
    (void)err;
    (void)n;
    r->copy_gbs = s.copy_gbs;
    r->triad_gbs = s.copy_gbs;
    r->ceiling_gbs = s.copy_gbs;
    r->reps = 5;
    return 0;
}

static int f_fma(struct verify_ctx *c, int gpu, struct verify_fma_result *r, char *err, size_t n)
{
    (void)c;
    (void)gpu;
    (void)err;
    (void)n;
    r->lanes = 1024;
    r->iters = 8192;
    r->tflops = s.fma_tflops;
    r->clock_ratio = s.clock_ratio;
    return 0;
}

static int f_gemm(struct verify_ctx *c, int gpu, struct verify_gemm_result *r, char *err, size_t n)
{
    (void)c;
    (void)gpu;
    (void)err;
    (void)n;
    r->n = 4096;
    r->reps = 10;
    r->precision = "bf16";
    r->tflops = s.gemm_tflops;
    r->samples = 64;
    return 0;
}

static int f_host(struct verify_ctx *c, int gpu, struct verify_bw_result *r, char *err, size_t n)
{
    (void)c;
    (void)gpu;
    (void)err;
    (void)n;
    enter(&host_now, &host_max);
    r->h2d_gbs = s.h2d;
    r->d2h_gbs = s.d2h;
    r->link_gen = s.link_gen;
    r->link_width = s.link_width;
    return 0;
}

static int f_peer(struct verify_ctx *c, int src, int dst, double *gbs, char *err, size_t n)
{
    (void)c;
    (void)src;
    (void)dst;
    if (s.peer_rc)
        snprintf(err, n, "12 words copied from gpu0 to gpu1 arrived wrong (first at 0x40)");
    *gbs = s.peer_gbs;
    return s.peer_rc;
}

static int f_health(struct verify_ctx *c, int gpu, struct verify_health *h, char *err, size_t n)
{
    (void)c;
    (void)gpu;
    if (s.health_rc)
        snprintf(err, n, "NVML is not available (libnvidia-ml.so.1, from the NVIDIA driver)");
    else
        *h = s.health;
    return s.health_rc;
}

static void f_close(struct verify_ctx *c)
{
    (void)c;
}

static const struct verify_backend scripted = {
    .name = "cuda",
    .probe = f_probe,
    .open = f_open,
    .devices = f_devices,
    .memtest = f_memtest,
    .mem_bandwidth = f_bandwidth,
    .fma = f_fma,
    .gemm = f_gemm,
    .host_bandwidth = f_host,
    .peer_bandwidth = f_peer,
    .health = f_health,
    .close = f_close,
};

/* A healthy H100 80GB on PCIe gen5 x16, per the datasheet figures in core/gpu_models.c. */
static int setup(void **state)
{
    memset(&s, 0, sizeof(s));
    snprintf(s.dev.name, sizeof(s.dev.name), "NVIDIA H100 80GB HBM3");
    s.dev.memory_bytes = 85520809984ull;
    s.dev.model = verify_model_from_name(s.dev.name, s.dev.memory_bytes);
    s.dev.cc_major = 9;
    s.dev.ecc_enabled = 1;
    s.dev.pcie_gen = s.dev.pcie_max_gen = 5;
    s.dev.pcie_width = s.dev.pcie_max_width = 16;
    s.dev.driver_cuda = 13010;
    s.dev.runtime_cuda = 13000;
    s.ndevices = 1;
    s.copy_gbs = 3000; /* 0.90 of 3350 */
    s.fma_tflops = 60; /* 0.90 of 67 */
    s.clock_ratio = 1;
    s.gemm_tflops = 700; /* 0.71 of 989 */
    s.h2d = s.d2h = 55;  /* 0.87 of 63 */
    s.link_gen = 5;
    s.link_width = 16;
    verify_health_init(&s.health);
    s.health.from_nvml = true;
    s.health.ecc_uncorrected = s.health.remap_pending = s.health.remap_failed = 0;
    s.health.remap_uncorrectable = s.health.throttle_reasons = 0;
    s.peer_gbs = 380;
    atomic_store(&mem_max, 0);
    atomic_store(&host_max, 0);
    struct verify_report *rep = calloc(1, sizeof(*rep));
    if (!rep)
        return -1;
    verify_report_init(rep);
    *state = rep;
    return 0;
}

static int teardown(void **state)
{
    verify_report_release(*state);
    free(*state);
    return 0;
}

static void run(struct verify_report *rep, int expected_gpus)
{
    struct verify_options o = {.level = VERIFY_QUICK, .expected_gpus = expected_gpus};
    char err[256] = "";
    assert_int_equal(verify_run(&scripted, &o, rep, err, sizeof(err)), 0);
}

static const struct verify_result *find(const struct verify_report *rep, int gpu,
                                        enum verify_check c)
{
    const struct verify_result *r = verify_report_find(rep, gpu, c);
    assert_non_null(r);
    return r;
}

static void test_verify_run_healthy_h100_passes_against_its_datasheet(void **state)
{
    struct verify_report *rep = *state;
    run(rep, 1);
    for (size_t i = 0; i < rep->nresults; i++)
        if (rep->results[i].status != VERIFY_PASS &&
            rep->results[i].check != VERIFY_CHECK_PEER_BANDWIDTH)
            fail_msg("%s: %s", verify_check_name(rep->results[i].check), rep->results[i].message);
    const struct verify_result *bw = find(rep, 0, VERIFY_CHECK_MEM_BANDWIDTH);
    assert_true(bw->expected == 3350 && bw->threshold == 0.70);
    const struct verify_result *fma = find(rep, 0, VERIFY_CHECK_COMPUTE);
    assert_true(fma->expected == 67);
    const struct verify_result *h = find(rep, 0, VERIFY_CHECK_HOST_BANDWIDTH);
    assert_true(h->expected == 63 && h->threshold == 0.65);
    assert_string_equal(find(rep, 0, VERIFY_CHECK_INVENTORY)->message,
                        "'NVIDIA H100 80GB HBM3' (H100), sm_90, driver CUDA 13.1, runtime 13.0, "
                        "PCIe gen5 x16 of gen5 x16");
    assert_false(verify_report_failed(rep));
}

static void test_verify_run_fails_bandwidth_below_seventy_percent_of_datasheet(void **state)
{
    struct verify_report *rep = *state;
    s.copy_gbs = 2300; /* 0.687 */
    run(rep, 1);
    assert_int_equal(find(rep, 0, VERIFY_CHECK_MEM_BANDWIDTH)->status, VERIFY_FAIL);
    verify_report_release(rep);
    verify_report_init(rep);
    s.copy_gbs = 2600; /* 0.776: warn */
    run(rep, 1);
    assert_int_equal(find(rep, 0, VERIFY_CHECK_MEM_BANDWIDTH)->status, VERIFY_WARN);
    assert_false(verify_report_failed(rep));
}

static void test_verify_run_adjusts_the_fma_peak_by_the_clock(void **state)
{
    struct verify_report *rep = *state;
    s.fma_tflops = 40;    /* 0.60 of 67: would fail at full clock */
    s.clock_ratio = 0.65; /* expected 43.55: 0.92 of it */
    run(rep, 1);
    const struct verify_result *r = find(rep, 0, VERIFY_CHECK_COMPUTE);
    assert_int_equal(r->status, VERIFY_PASS);
    assert_true(r->expected > 43.5 && r->expected < 43.6);
}

static void test_verify_run_gemm_rate_only_warns(void **state)
{
    struct verify_report *rep = *state;
    s.gemm_tflops = 100; /* 0.10 of 989 */
    run(rep, 1);
    assert_int_equal(find(rep, 0, VERIFY_CHECK_GEMM)->status, VERIFY_WARN);
    assert_false(verify_report_failed(rep));
}

static void test_verify_run_host_bandwidth_uses_the_slower_direction(void **state)
{
    struct verify_report *rep = *state;
    s.d2h = 40; /* 0.63 of 63 */
    run(rep, 1);
    const struct verify_result *r = find(rep, 0, VERIFY_CHECK_HOST_BANDWIDTH);
    assert_int_equal(r->status, VERIFY_FAIL);
    assert_true(r->measured == 40);
}

static void test_verify_run_health_rules_follow_dcgm_limits(void **state)
{
    struct verify_report *rep = *state;
    s.health.retired_pages = 20; /* >= 15: warn */
    run(rep, 1);
    assert_int_equal(find(rep, 0, VERIFY_CHECK_HEALTH)->status, VERIFY_WARN);
    verify_report_release(rep);
    verify_report_init(rep);
    s.health.retired_pages = 0;
    s.health.throttle_reasons = 0x4; /* SW power cap alone is fine */
    run(rep, 1);
    assert_int_equal(find(rep, 0, VERIFY_CHECK_HEALTH)->status, VERIFY_PASS);
    verify_report_release(rep);
    verify_report_init(rep);
    s.health.throttle_reasons = 0x40; /* HW thermal */
    s.health.remap_uncorrectable = 512;
    run(rep, 1);
    const struct verify_result *r = find(rep, 0, VERIFY_CHECK_HEALTH);
    assert_int_equal(r->status, VERIFY_FAIL);
    assert_string_equal(r->message,
                        "512 rows remapped for uncorrectable errors; throttled (reasons 0x40)");
}

static void test_verify_run_skips_health_without_nvml_and_says_why(void **state)
{
    struct verify_report *rep = *state;
    s.health_rc = 1;
    run(rep, 1);
    const struct verify_result *r = find(rep, 0, VERIFY_CHECK_HEALTH);
    assert_int_equal(r->status, VERIFY_SKIP);
    assert_non_null(strstr(r->message, "libnvidia-ml.so.1"));
}

/* The research proposal's XID sets: a fail-set XID since boot or any non-application XID
 * during the run fails, the rest warn; the message names each, the JSON lists them. */
static void test_verify_run_xids_fail_or_warn_health_by_their_set(void **state)
{
    struct verify_report *rep = *state;
    verify_health_add_xid(&s.health, VERIFY_XID_KERNEL_LOG, 79, 123.4, "GPU has fallen off the bus",
                          1);
    verify_health_add_xid(&s.health, VERIFY_XID_KERNEL_LOG, 13, 200, "Graphics Exception", 2);
    verify_health_add_xid(&s.health, VERIFY_XID_NVML_EVENT, 13, -1, "raised during the run", 1);
    s.health.xid_events = 1;
    run(rep, 1);
    const struct verify_result *r = find(rep, 0, VERIFY_CHECK_HEALTH);
    assert_int_equal(r->status, VERIFY_FAIL);
    assert_string_equal(r->message,
                        "XID 79 (GPU has fallen off the bus) at boot+123s; warnings: XID 13 "
                        "(graphics engine exception) x2 at boot+200s; XID 13 (graphics engine "
                        "exception) during the run");
    json_t *xids = json_object_get((json_t *)r->details, "xids");
    assert_int_equal(json_array_size(xids), 3);
    json_t *x0 = json_array_get(xids, 0), *x2 = json_array_get(xids, 2);
    assert_int_equal(json_integer_value(json_object_get(x0, "xid")), 79);
    assert_string_equal(json_string_value(json_object_get(x0, "source")), "kernel_log");
    assert_string_equal(json_string_value(json_object_get(x0, "class")), "fail");
    assert_true(json_real_value(json_object_get(x0, "boot_seconds")) == 123.4);
    assert_string_equal(json_string_value(json_object_get(x2, "source")), "nvml_event");
    assert_null(json_object_get(x2, "boot_seconds"));
    assert_int_equal(json_integer_value(json_object_get((json_t *)r->details, "xid_events")), 1);

    /* warn-set XIDs alone warn */
    verify_report_release(rep);
    verify_report_init(rep);
    verify_health_init(&s.health);
    s.health.from_nvml = true;
    verify_health_add_xid(&s.health, VERIFY_XID_KERNEL_LOG, 63, 5, "row remapping event", 1);
    verify_health_add_xid(&s.health, VERIFY_XID_KERNEL_LOG, 777, 6, "an XID nobody knows", 1);
    run(rep, 1);
    r = find(rep, 0, VERIFY_CHECK_HEALTH);
    assert_int_equal(r->status, VERIFY_WARN);
    assert_string_equal(r->message, "XID 63 (ECC page retirement or row remapping recording "
                                    "event) at boot+5s; XID 777 (an XID nobody knows) at boot+6s");

    /* during the run the same 63 fails; a 154 whose recovery action is none is ignored */
    verify_report_release(rep);
    verify_report_init(rep);
    verify_health_init(&s.health);
    s.health.from_nvml = true;
    verify_health_add_xid(&s.health, VERIFY_XID_KERNEL_LOG, 154, 7,
                          "GPU recovery action changed from 0x1 (GPU Reset Required) to 0x0 (None)",
                          1);
    run(rep, 1);
    assert_int_equal(find(rep, 0, VERIFY_CHECK_HEALTH)->status, VERIFY_PASS);
    verify_report_release(rep);
    verify_report_init(rep);
    verify_health_add_xid(&s.health, VERIFY_XID_NVML_EVENT, 63, -1, "raised during the run", 3);
    run(rep, 1);
    r = find(rep, 0, VERIFY_CHECK_HEALTH);
    assert_int_equal(r->status, VERIFY_FAIL);
    assert_string_equal(
        r->message,
        "XID 63 (ECC page retirement or row remapping recording event) x3 during the run");
}

static void test_verify_run_inventory_catches_the_wrong_model_and_short_memory(void **state)
{
    struct verify_report *rep = *state;
    struct verify_options o = {.level = VERIFY_QUICK, .expected_gpus = 1, .expected_model = "A100"};
    char err[256];
    assert_int_equal(verify_run(&scripted, &o, rep, err, sizeof(err)), 0);
    assert_string_equal(find(rep, 0, VERIFY_CHECK_INVENTORY)->message,
                        "'NVIDIA H100 80GB HBM3' is not the promised 'A100'");
    verify_report_release(rep);
    verify_report_init(rep);
    s.dev.memory_bytes = 40000000000ull; /* half an H100 */
    run(rep, 1);
    assert_int_equal(find(rep, 0, VERIFY_CHECK_INVENTORY)->status, VERIFY_FAIL);
    verify_report_release(rep);
    verify_report_init(rep);
    s.dev.memory_bytes = 85520809984ull;
    s.dev.pcie_gen = 1; /* an idle GPU down-trains: no verdict until the link is loaded */
    run(rep, 1);
    assert_int_equal(find(rep, 0, VERIFY_CHECK_INVENTORY)->status, VERIFY_PASS);
    assert_non_null(strstr(find(rep, 0, VERIFY_CHECK_INVENTORY)->message, "idle"));
    assert_int_equal(find(rep, 0, VERIFY_CHECK_HOST_BANDWIDTH)->status, VERIFY_PASS);
}

/* The link under load against its maximum: a lane or a generation short fails host_bandwidth
 * even when the bandwidth clears its floor; unknown (no NVML) says so and passes. */
static void test_verify_run_pcie_link_judged_under_load(void **state)
{
    struct verify_report *rep = *state;
    s.link_width = 8; /* a lane group short under load */
    run(rep, 1);
    const struct verify_result *r = find(rep, 0, VERIFY_CHECK_HOST_BANDWIDTH);
    assert_int_equal(r->status, VERIFY_FAIL);
    assert_non_null(strstr(r->message, "under load the link ran gen5 x8, below its maximum"));
    assert_int_equal(json_integer_value(json_object_get(r->details, "link_width_loaded")), 8);
    verify_report_release(rep);
    verify_report_init(rep);
    s.link_width = 16;
    s.link_gen = 4; /* trained a generation down */
    run(rep, 1);
    assert_int_equal(find(rep, 0, VERIFY_CHECK_HOST_BANDWIDTH)->status, VERIFY_FAIL);
    verify_report_release(rep);
    verify_report_init(rep);
    s.link_gen = 5;
    run(rep, 1);
    r = find(rep, 0, VERIFY_CHECK_HOST_BANDWIDTH);
    assert_int_equal(r->status, VERIFY_PASS);
    assert_non_null(strstr(r->message, "under load the link ran gen5 x16"));
    verify_report_release(rep);
    verify_report_init(rep);
    s.link_gen = s.link_width = 0; /* no NVML */
    run(rep, 1);
    r = find(rep, 0, VERIFY_CHECK_HOST_BANDWIDTH);
    assert_int_equal(r->status, VERIFY_PASS);
    assert_non_null(strstr(r->message, "unknown (no NVML)"));
}

static void test_verify_run_peer_failure_fails_the_node(void **state)
{
    struct verify_report *rep = *state;
    s.ndevices = 2;
    run(rep, 2);
    const struct verify_result *r = find(rep, -1, VERIFY_CHECK_PEER_BANDWIDTH);
    assert_int_equal(r->status, VERIFY_PASS);
    assert_true(r->measured == 380);
    verify_report_release(rep);
    verify_report_init(rep);
    s.peer_rc = -1;
    run(rep, 2);
    r = find(rep, -1, VERIFY_CHECK_PEER_BANDWIDTH);
    assert_int_equal(r->status, VERIFY_FAIL);
    assert_non_null(strstr(r->message, "arrived wrong"));
}

static void test_verify_run_table_ends_with_a_summary(void **state)
{
    struct verify_report *rep = *state;
    s.copy_gbs = 1000;
    run(rep, 1);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    verify_report_print(rep, f);
    fclose(f);
    assert_non_null(strstr(buf, "gpu0: NVIDIA H100 80GB HBM3 (H100, "));
    assert_non_null(strstr(buf, "gpu0  memory_bandwidth  fail  1000 / 3350 GB/s"));
    assert_non_null(strstr(buf, "\nFAIL: 7 passed, 0 warned, 1 failed, 1 skipped ("));
    free(buf);
}

/* A baseline recorded on a healthy H100 node: the GPU thresholds are 0.85 of its medians. */
static const char h100_baseline[] =
    "{\"format\": \"gpuform-verify-baseline\", \"version\": 1, \"gpuform_version\": \"x\", "
    "\"host\": \"dgx-7\", \"date\": \"2025-01-01T00:00:00Z\", \"backend\": \"cuda\", "
    "\"level\": \"quick\", \"runs\": 3, \"models\": {\"H100\": {\"gpus\": 2, \"checks\": {"
    "\"memory_bandwidth\": {\"median\": 3000}, \"compute_fma\": {\"median\": 62}, "
    "\"host_bandwidth\": {\"median\": 55}, \"peer_bandwidth\": {\"median\": 400}}}}}";

static void test_verify_run_baseline_gates_gpu_rates_at_85_percent_of_its_median(void **state)
{
    struct verify_report *rep = *state;
    struct verify_baseline *b = NULL;
    char err[512] = "";
    assert_int_equal(verify_baseline_parse(h100_baseline, "dgx.json", &b, err, sizeof(err)), 0);
    struct verify_options o = {.level = VERIFY_QUICK, .expected_gpus = 2, .baseline = b};
    s.ndevices = 2;
    s.copy_gbs = 2500; /* 0.83 of the baseline (fails); 0.75 of the datasheet would pass */
    assert_int_equal(verify_run(&scripted, &o, rep, err, sizeof(err)), 0);
    const struct verify_result *bw = find(rep, 1, VERIFY_CHECK_MEM_BANDWIDTH);
    assert_int_equal(bw->status, VERIFY_FAIL);
    assert_true(bw->expected == 3000 && bw->threshold == 0.85);
    assert_int_equal(bw->source, VERIFY_SOURCE_BASELINE);
    const struct verify_result *fma = find(rep, 0, VERIFY_CHECK_COMPUTE);
    assert_true(fma->expected == 62 && fma->status == VERIFY_PASS);
    /* the baseline has no GEMM figure: the datasheet's, and the report says so */
    const struct verify_result *gemm = find(rep, 0, VERIFY_CHECK_GEMM);
    assert_true(gemm->expected == 989 && gemm->source == VERIFY_SOURCE_DATASHEET);
    const struct verify_result *peer = find(rep, -1, VERIFY_CHECK_PEER_BANDWIDTH);
    assert_true(peer->status == VERIFY_PASS && peer->expected == 400); /* 380: 0.95 */
    verify_report_release(rep);
    verify_report_init(rep);
    s.copy_gbs = 3000;
    s.peer_gbs = 330; /* 0.825 of 400 */
    assert_int_equal(verify_run(&scripted, &o, rep, err, sizeof(err)), 0);
    peer = find(rep, -1, VERIFY_CHECK_PEER_BANDWIDTH);
    assert_int_equal(peer->status, VERIFY_FAIL);
    assert_non_null(strstr(peer->message, "below the threshold of the baseline"));
    assert_int_equal(find(rep, 0, VERIFY_CHECK_MEM_BANDWIDTH)->status, VERIFY_PASS);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    verify_report_print(rep, f);
    fclose(f);
    assert_non_null(strstr(buf, "expected rates: baseline dgx.json"));
    assert_non_null(strstr(buf, "gpu0  memory_bandwidth  pass  3000 / 3000 GB/s (baseline)"));
    free(buf);
    verify_baseline_free(b);
}

static void test_verify_run_devices_overlap_but_host_copies_take_turns(void **state)
{
    struct verify_report *rep = *state;
    s.ndevices = 4;
    s.hold_ms = 40;
    run(rep, 4);
    assert_true(rep->parallel);
    assert_true(atomic_load(&mem_max) > 1);
    assert_int_equal(atomic_load(&host_max), 1);
    for (int g = 0; g < 4; g++)
        assert_true(rep->device_seconds[g] >= 0.08); /* memtest + host copies, 40 ms each */
    verify_report_release(rep);
    verify_report_init(rep);
    atomic_store(&mem_max, 0);
    struct verify_options o = {.level = VERIFY_QUICK, .expected_gpus = 4, .serial = true};
    char err[256];
    assert_int_equal(verify_run(&scripted, &o, rep, err, sizeof(err)), 0);
    assert_false(rep->parallel);
    assert_int_equal(atomic_load(&mem_max), 1);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_verify_run_healthy_h100_passes_against_its_datasheet),
        T(test_verify_run_fails_bandwidth_below_seventy_percent_of_datasheet),
        T(test_verify_run_adjusts_the_fma_peak_by_the_clock),
        T(test_verify_run_gemm_rate_only_warns),
        T(test_verify_run_host_bandwidth_uses_the_slower_direction),
        T(test_verify_run_pcie_link_judged_under_load),
        T(test_verify_run_health_rules_follow_dcgm_limits),
        T(test_verify_run_skips_health_without_nvml_and_says_why),
        T(test_verify_run_xids_fail_or_warn_health_by_their_set),
        T(test_verify_run_inventory_catches_the_wrong_model_and_short_memory),
        T(test_verify_run_peer_failure_fails_the_node),
        T(test_verify_run_table_ends_with_a_summary),
        T(test_verify_run_baseline_gates_gpu_rates_at_85_percent_of_its_median),
        T(test_verify_run_devices_overlap_but_host_copies_take_turns),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
