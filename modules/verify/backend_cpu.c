/*
 * The CPU reference backend: the verify checks on host memory with the same patterns,
 * comparison and verdicts as the CUDA backend, so CI without a GPU exercises the host logic
 * and every injected fault. It measures the host, not a GPU; its numbers are not a benchmark.
 * It simulates several devices (options.devices) so the runner's one-thread-per-device path
 * runs in CI; the slots keep no shared mutable state apart from the bandwidth lock.
 */
#include "modules/verify/verify.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct verify_ctx {
    struct verify_options opts;
    int ndevices; /* simulated devices before hide_gpu */
    /* The simulated devices share the host's memory bus: their bandwidth tests take turns,
     * or each would measure a share of it. */
    pthread_mutex_t bw_lock;
    /* $GPUFORM_KMSG's XID reports (tests); the host's own log is never read: its GPUs are
     * not the simulated devices */
    struct verify_kernel_log klog;
};

#define MIB ((uint64_t)1 << 20)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t region_bytes(const struct verify_ctx *c)
{
    if (c->opts.mem_bytes)
        return c->opts.mem_bytes & ~(uint64_t)15;
    return c->opts.level == VERIFY_FULL ? 256 * MIB : 64 * MIB;
}

static int reps(const struct verify_ctx *c)
{
    if (c->opts.reps > 0)
        return c->opts.reps;
    return c->opts.level == VERIFY_FULL ? 20 : 5;
}

static int cpu_probe(char *why, size_t n)
{
    (void)why;
    (void)n;
    return 0;
}

static int cpu_open(const struct verify_options *opts, struct verify_ctx **out, char *err, size_t n)
{
    struct verify_ctx *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, n, "out of memory");
        return -1;
    }
    c->opts = *opts;
    if (!c->opts.seed)
        c->opts.seed = 1;
    c->ndevices = opts->devices > 0         ? opts->devices
                  : opts->expected_gpus > 0 ? opts->expected_gpus
                                            : 1;
    if (c->ndevices > VERIFY_MAX_GPUS)
        c->ndevices = VERIFY_MAX_GPUS;
    if (pthread_mutex_init(&c->bw_lock, NULL) != 0) {
        free(c);
        snprintf(err, n, "cannot create the bandwidth lock");
        return -1;
    }
    verify_kernel_log_init(&c->klog);
    const char *kmsg = getenv("GPUFORM_KMSG");
    if (kmsg && *kmsg)
        verify_kernel_log_read(&c->klog, kmsg);
    *out = c;
    return 0;
}

/* Device i's made-up PCI bus id: bus i + 1 ("0000:01:00.0" for device 0), so that kernel
 * log lines in $GPUFORM_KMSG can name a simulated device. */
static void cpu_bus_id(size_t i, char *out, size_t n)
{
    snprintf(out, n, "0000:%02zx:00.0", i + 1);
}

static int cpu_devices(struct verify_ctx *c, struct verify_device *out, size_t max, size_t *n,
                       char *err, size_t errn)
{
    (void)err;
    (void)errn;
    size_t count = (size_t)c->ndevices;
    if (c->opts.faults & VERIFY_FAULT_HIDE_GPU)
        count--;
    if (count > max)
        count = max;
    for (size_t i = 0; i < count; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        out[i].index = (int)i;
        snprintf(out[i].name, sizeof(out[i].name), "cpu-reference-%zu", i);
        out[i].memory_bytes = out[i].free_bytes = region_bytes(c);
        out[i].ecc_enabled = -1;
        /* a made-up bus id per device, so that XIDs can be attributed in tests */
        cpu_bus_id(i, out[i].pci_bus_id, sizeof(out[i].pci_bus_id));
    }
    *n = count;
    return 0;
}

static int cpu_memtest(struct verify_ctx *c, int gpu, struct verify_mem_result *r, char *err,
                       size_t n)
{
    unsigned faults = verify_faults_for(&c->opts, gpu);
    uint64_t bytes = region_bytes(c);
    size_t words = (size_t)(bytes / 4);
    uint32_t *buf = malloc(bytes ? bytes : 4);
    if (!buf) {
        snprintf(err, n, "cannot allocate %llu bytes of host memory for the memory test",
                 (unsigned long long)bytes);
        return -1;
    }
    size_t np;
    const struct verify_mem_pass *passes = verify_mem_passes(c->opts.level, &np);
    r->bytes = bytes;
    for (size_t i = 0; i < np; i++) {
        enum verify_pattern p = passes[i].pattern;
        uint32_t seed = p == VERIFY_PAT_RANDOM ? passes[i].seed * c->opts.seed : passes[i].seed;
        verify_pattern_fill(buf, words, 0, p, seed, false);
        if ((faults & VERIFY_FAULT_MEM_BITFLIP) && i == VERIFY_BITFLIP_PASS && words)
            buf[VERIFY_BITFLIP_WORD(words)] ^= VERIFY_BITFLIP_MASK;
        verify_pattern_check(buf, words, 0, p, seed, false, true, r, NULL, 0);
        verify_pattern_check(buf, words, 0, p, seed, true, false, r, NULL, 0);
        r->passes++;
    }
    free(buf);
    return 0;
}

/* Copy in 1 MiB blocks through libc memcpy (the CPU's "copy kernel"), triad in a loop, and one
 * whole-buffer memcpy as the ceiling, interleaved so that all three see the same machine. */
static int cpu_bandwidth(struct verify_ctx *c, int gpu, struct verify_bw_result *r, char *err,
                         size_t n)
{
    unsigned faults = verify_faults_for(&c->opts, gpu);
    uint64_t bytes = region_bytes(c);
    if (bytes > 64 * MIB)
        bytes = 64 * MIB;
    size_t nf = (size_t)(bytes / sizeof(float));
    float *a = malloc(bytes), *b = malloc(bytes), *d = malloc(bytes);
    int nrep = reps(c);
    double *tc = calloc((size_t)nrep, sizeof(double)), *tt = calloc((size_t)nrep, sizeof(double));
    double *tm = calloc((size_t)nrep, sizeof(double));
    int rc = 0;
    if (!a || !b || !d || !tc || !tt || !tm || nf == 0) {
        snprintf(err, n, "cannot allocate 3 x %llu bytes for the bandwidth test",
                 (unsigned long long)bytes);
        rc = -1;
        goto out;
    }
    for (size_t i = 0; i < nf; i++) {
        b[i] = (float)(i & 1023);
        d[i] = 1.0f;
    }
    pthread_mutex_lock(&c->bw_lock);
    for (int k = 0; k < nrep; k++) {
        double t0 = now_s();
        for (size_t off = 0; off < bytes; off += MIB)
            memcpy((char *)a + off, (char *)b + off, bytes - off < MIB ? bytes - off : MIB);
        double t1 = now_s();
        for (size_t i = 0; i < nf; i++)
            a[i] = b[i] + 3.0f * d[i];
        double t2 = now_s();
        memcpy(a, b, bytes);
        double t3 = now_s();
        tc[k] = t1 - t0;
        tt[k] = t2 - t1;
        tm[k] = t3 - t2;
        if (faults & VERIFY_FAULT_SLOW_BW) {
            tc[k] *= VERIFY_SLOW_BW_FACTOR;
            tt[k] *= VERIFY_SLOW_BW_FACTOR;
        }
    }
    pthread_mutex_unlock(&c->bw_lock);
    r->bytes = bytes;
    r->reps = nrep;
    r->copy_gbs = verify_gbs(bytes, bytes, verify_best_seconds(tc, (size_t)nrep));
    r->triad_gbs = verify_gbs(2 * bytes, bytes, verify_best_seconds(tt, (size_t)nrep));
    r->ceiling_gbs = verify_gbs(bytes, bytes, verify_best_seconds(tm, (size_t)nrep));
out:
    free(a);
    free(b);
    free(d);
    free(tc);
    free(tt);
    free(tm);
    return rc;
}

static int cpu_fma(struct verify_ctx *c, int gpu, struct verify_fma_result *r, char *err, size_t n)
{
    unsigned faults = verify_faults_for(&c->opts, gpu);
    uint64_t lanes = 1024, iters = c->opts.level == VERIFY_FULL ? 8192 : 2048;
    float *out = malloc(lanes * sizeof(float));
    if (!out) {
        snprintf(err, n, "out of memory");
        return -1;
    }
    double t0 = now_s();
    for (uint64_t l = 0; l < lanes; l++) {
        float x = verify_fma_seed(l);
        if ((faults & VERIFY_FAULT_NAN) && l == VERIFY_NAN_LANE)
            x = NAN;
        for (uint64_t i = 0; i < iters; i++)
            x = fmaf(x, VERIFY_FMA_A, VERIFY_FMA_B);
        out[l] = x;
    }
    double dt = now_s() - t0;
    verify_fma_check(out, lanes, iters, r);
    r->seconds = dt;
    r->tflops = dt > 0 ? 2.0 * (double)lanes * (double)iters / dt / 1e12 : 0;
    r->clock_ratio = 1;
    free(out);
    return 0;
}

static void sgemm(const float *A, const float *B, float *C, int n)
{
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++)
            C[(size_t)i * n + j] = 0;
        for (int p = 0; p < n; p++) {
            float a = A[(size_t)i * n + p];
            for (int j = 0; j < n; j++)
                C[(size_t)i * n + j] += a * B[(size_t)p * n + j];
        }
    }
}

static int cpu_gemm(struct verify_ctx *c, int gpu, struct verify_gemm_result *r, char *err,
                    size_t n)
{
    int dim = c->opts.gemm_n > 0 ? c->opts.gemm_n : c->opts.level == VERIFY_FULL ? 128 : 64;
    size_t cnt = (size_t)dim * (size_t)dim;
    float *A = malloc(cnt * sizeof(float)), *B = malloc(cnt * sizeof(float));
    float *C0 = malloc(cnt * sizeof(float)), *C1 = malloc(cnt * sizeof(float));
    int rc = 0;
    if (!A || !B || !C0 || !C1) {
        snprintf(err, n, "out of memory");
        rc = -1;
        goto out;
    }
    for (size_t i = 0; i < cnt; i++) {
        A[i] = verify_input_value(c->opts.seed, i);
        B[i] = verify_input_value(c->opts.seed + 1, i);
    }
    double times[2];
    float *outs[2] = {C0, C1};
    for (int k = 0; k < 2; k++) {
        double t0 = now_s();
        sgemm(A, B, outs[k], dim);
        times[k] = now_s() - t0;
    }
    if (verify_faults_for(&c->opts, gpu) & VERIFY_FAULT_GEMM_CORRUPT)
        C1[VERIFY_GEMM_CORRUPT_INDEX(dim)] += 1.0f;
    r->n = dim;
    r->reps = 2;
    r->precision = "fp32";
    r->seconds = verify_best_seconds(times, 2);
    r->tflops = r->seconds > 0 ? 2.0 * dim * (double)dim * dim / r->seconds / 1e12 : 0;
    r->diff_index = verify_first_bitwise_diff(C0, C1, cnt);
    r->diff_rep = r->diff_index >= 0 ? 1 : -1;
    r->samples = c->opts.level == VERIFY_FULL ? 256 : 64;
    r->bad_index = verify_gemm_sample_check(A, B, C0, dim, dim, dim, r->samples, c->opts.seed,
                                            verify_gemm_rtol("fp32"), &r->bad_got, &r->bad_want);
    r->nans = 0;
    for (size_t i = 0; i < cnt; i++)
        r->nans += isnan(C0[i]) ? 1 : 0;
out:
    free(A);
    free(B);
    free(C0);
    free(C1);
    return rc;
}

static int cpu_host_bandwidth(struct verify_ctx *c, int gpu, struct verify_bw_result *r, char *err,
                              size_t n)
{
    (void)c;
    (void)gpu;
    (void)r;
    snprintf(err, n, "the CPU reference has no host<->device link");
    return 1;
}

static int cpu_peer_bandwidth(struct verify_ctx *c, int src, int dst, double *gbs, char *err,
                              size_t n)
{
    (void)c;
    (void)src;
    (void)dst;
    (void)gbs;
    snprintf(err, n, "the CPU reference has no peer links");
    return 1;
}

/* The NVML path, faked: clean counters, or with nvml_ecc what a failing HBM stack shows;
 * the XIDs $GPUFORM_KMSG names for the device's made-up bus id, and with xid a fake XID 79. */
static int cpu_health(struct verify_ctx *c, int gpu, struct verify_health *h, char *err, size_t n)
{
    (void)err;
    (void)n;
    char bus_id[32];
    cpu_bus_id((size_t)gpu, bus_id, sizeof(bus_id));
    h->from_nvml = false;
    h->ecc_uncorrected = h->ecc_corrected = 0;
    h->retired_pages = h->retired_pending = 0;
    h->remap_pending = h->remap_failed = h->remap_uncorrectable = 0;
    h->throttle_reasons = 0;
    h->xid_events = 0;
    if (verify_faults_for(&c->opts, gpu) & VERIFY_FAULT_NVML_ECC) {
        h->ecc_uncorrected = 2;
        h->remap_pending = 1;
    }
    if (c->klog.read)
        verify_kernel_log_apply(&c->klog, bus_id, h);
    else if (c->klog.note[0])
        verify_health_note(h, c->klog.note);
    if (verify_faults_for(&c->opts, gpu) & VERIFY_FAULT_XID)
        verify_inject_xid(bus_id, h);
    return 0;
}

static void cpu_close(struct verify_ctx *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->bw_lock);
    verify_kernel_log_release(&c->klog);
    free(c);
}

const struct verify_backend verify_backend_cpu = {
    .name = "cpu",
    .probe = cpu_probe,
    .open = cpu_open,
    .devices = cpu_devices,
    .memtest = cpu_memtest,
    .mem_bandwidth = cpu_bandwidth,
    .fma = cpu_fma,
    .gemm = cpu_gemm,
    .host_bandwidth = cpu_host_bandwidth,
    .peer_bandwidth = cpu_peer_bandwidth,
    .health = cpu_health,
    .close = cpu_close,
};
