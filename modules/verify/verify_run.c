/*
 * The verify runner: lists a backend's devices, runs each device's checks on a host thread
 * of its own, then the peer copies, and turns what was measured into results with the
 * verdict rules (docs/verify.md, "Checks"). The same rules judge the CUDA backend and the CPU
 * reference, so the CPU tests exercise them, the threads included.
 */
#include "modules/verify/verify.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "core/gpu_models.h"
#include "modules/verify/verify_int.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One device's checks: what they read (shared, read-only while the threads run) and the
 * results they write (its own report, merged into the run's in device order). */
struct job {
    const struct verify_backend *b;
    struct verify_ctx *c;
    const struct verify_options *opts;
    const struct verify_device *d;
    pthread_mutex_t *host_lock; /* host<->device copies: one device at a time */
    struct verify_report rep;
    double seconds;
};

/* An expected rate, where it came from and the threshold that goes with that source. */
struct expect {
    double value;
    enum verify_source source;
    struct verify_threshold t;
};

/* The expected value of rate check `c`: the baseline's median for `key` when the run has a
 * baseline holding it, else `datasheet` (from `dsrc`). Calibration gates nothing. */
static struct expect expect_rate(const struct verify_options *opts, const char *backend,
                                 const char *key, enum verify_check c, double datasheet,
                                 enum verify_source dsrc)
{
    struct expect e = {datasheet, datasheet > 0 ? dsrc : VERIFY_SOURCE_NONE,
                       verify_threshold_for(c, backend)};
    double v;
    if (opts->baseline && verify_baseline_expected(opts->baseline, key, c, &v)) {
        e.value = v;
        e.source = VERIFY_SOURCE_BASELINE;
        e.t = verify_baseline_threshold_for(c, backend);
    }
    if (opts->calibrating)
        e.t = (struct verify_threshold){0, 0};
    return e;
}

static enum verify_status rate_status(double measured, const struct expect *e)
{
    return verify_rate_status(measured, e->value, e->t);
}

/* "the datasheet", "the memcpy ceiling", "the baseline" or why there is nothing to compare. */
static const char *against(const struct expect *e)
{
    switch (e->source) {
    case VERIFY_SOURCE_BASELINE:
        return "the baseline";
    case VERIFY_SOURCE_SAME_RUN:
        return "the memcpy ceiling";
    case VERIFY_SOURCE_DATASHEET:
        return "the datasheet";
    default:
        return "nothing: no datasheet figure for this model";
    }
}

static void set_numbers(struct verify_result *res, double measured, double expected,
                        double threshold, const char *unit, enum verify_source source)
{
    if (!res)
        return;
    res->measured = measured;
    res->expected = expected;
    res->threshold = threshold;
    res->unit = unit;
    res->source = expected > 0 ? source : VERIFY_SOURCE_NONE;
}

static void set_rate(struct verify_result *res, double measured, const struct expect *e,
                     const char *unit)
{
    double gate = e->t.fail > 0 ? e->t.fail : 0;
    set_numbers(res, measured, e->value, e->value > 0 ? gate : 0, unit, e->source);
}

/* A slot's return: < 0 fails the check with its message, 1 skips it. True when it ran. */
static bool slot_ok(struct verify_report *rep, int gpu, enum verify_check c, int rc,
                    const char *err)
{
    if (rc == 0)
        return true;
    verify_report_add(rep, gpu, c, rc > 0 ? VERIFY_SKIP : VERIFY_FAIL, NULL, "%s", err);
    return false;
}

static void check_count(struct verify_report *rep, const struct verify_options *opts)
{
    int found = (int)rep->ndevices;
    struct verify_result *res;
    if (opts->expected_gpus <= 0) {
        res = verify_report_add(rep, -1, VERIFY_CHECK_INVENTORY, VERIFY_PASS, NULL,
                                "%d device(s) found; no expected count (--instance-type sets one)",
                                found);
    } else if (found != opts->expected_gpus) {
        res = verify_report_add(rep, -1, VERIFY_CHECK_INVENTORY, VERIFY_FAIL, NULL,
                                "found %d GPU(s), the instance type promises %d", found,
                                opts->expected_gpus);
    } else {
        res = verify_report_add(rep, -1, VERIFY_CHECK_INVENTORY, VERIFY_PASS, NULL,
                                "found %d GPU(s) as promised", found);
    }
    set_numbers(res, found, opts->expected_gpus > 0 ? opts->expected_gpus : 0, 0, "GPUs",
                VERIFY_SOURCE_INSTANCE_TYPE);
}

static void check_device(struct job *j)
{
    struct verify_report *rep = &j->rep;
    const struct verify_device *d = j->d;
    const struct core_gpu_model *want =
        j->opts->expected_model ? core_gpu_model_find(j->opts->expected_model) : NULL;
    if (d->cc_major == 0) {
        verify_report_add(rep, d->index, VERIFY_CHECK_INVENTORY, VERIFY_PASS, NULL,
                          "CPU reference device, %.0f MiB of host memory",
                          (double)d->memory_bytes / (1024.0 * 1024));
        return;
    }
    if (want && d->model != want) {
        verify_report_add(rep, d->index, VERIFY_CHECK_INVENTORY, VERIFY_FAIL, NULL,
                          "'%s' is not the promised '%s'", d->name, want->name);
        return;
    }
    const struct core_gpu_model *m = d->model;
    if (m && (double)d->memory_bytes < 0.9 * m->memory_gb * 1e9) {
        struct verify_result *res =
            verify_report_add(rep, d->index, VERIFY_CHECK_INVENTORY, VERIFY_FAIL, NULL,
                              "'%s' has %.1f GB of memory, its datasheet %u GB", d->name,
                              (double)d->memory_bytes / 1e9, m->memory_gb);
        set_numbers(res, (double)d->memory_bytes / 1e9, m->memory_gb, 0.9, "GB",
                    VERIFY_SOURCE_DATASHEET);
        return;
    }
    enum verify_status s = VERIFY_PASS;
    const char *why = "";
    if (d->ecc_enabled == 0) {
        s = VERIFY_WARN;
        why = "; ECC is off";
    } else if (d->pcie_gen && d->pcie_max_gen &&
               (d->pcie_gen < d->pcie_max_gen || d->pcie_width < d->pcie_max_width)) {
        why = " (idle: a GPU down-trains its link at rest; host_bandwidth reads it under load)";
    }
    verify_report_add(rep, d->index, VERIFY_CHECK_INVENTORY, s, NULL,
                      "'%s' (%s), sm_%d%d, driver CUDA %d.%d, runtime %d.%d, PCIe gen%d x%d of "
                      "gen%d x%d%s",
                      d->name, m ? m->name : "unknown model", d->cc_major, d->cc_minor,
                      d->driver_cuda / 1000, d->driver_cuda % 1000 / 10, d->runtime_cuda / 1000,
                      d->runtime_cuda % 1000 / 10, d->pcie_gen, d->pcie_width, d->pcie_max_gen,
                      d->pcie_max_width, why);
}

static json_t *mismatches_json(const struct verify_mem_result *r)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < r->nrecorded; i++) {
        const struct verify_mismatch *m = &r->first[i];
        char off[32], e[16], g[16], rr[16];
        snprintf(off, sizeof(off), "0x%llx", (unsigned long long)m->offset);
        snprintf(e, sizeof(e), "0x%08x", m->expected);
        snprintf(g, sizeof(g), "0x%08x", m->got);
        snprintf(rr, sizeof(rr), "0x%08x", m->reread);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:s}", "offset", off,
                                             "pattern", verify_pattern_name(m->pattern), "inverted",
                                             m->inverted, "expected", e, "got", g, "reread", rr,
                                             "kind", verify_mismatch_kind(m)));
    }
    return json_pack("{s:I, s:o}", "mismatches", (json_int_t)r->mismatches, "first", arr);
}

static void check_memory(struct job *j)
{
    struct verify_report *rep = &j->rep;
    int gpu = j->d->index;
    struct verify_mem_result r;
    memset(&r, 0, sizeof(r));
    char err[256] = "";
    if (!slot_ok(rep, gpu, VERIFY_CHECK_MEMORY, j->b->memtest(j->c, gpu, &r, err, sizeof(err)),
                 err))
        return;
    struct verify_result *res;
    double mib = (double)r.bytes / (1024.0 * 1024);
    if (r.mismatches) {
        const struct verify_mismatch *m = &r.first[0];
        res = verify_report_add(
            rep, gpu, VERIFY_CHECK_MEMORY, VERIFY_FAIL, mismatches_json(&r),
            "%llu mismatch(es) in %.0f MiB over %d passes; first at offset 0x%llx (pattern %s%s: "
            "expected 0x%08x, got 0x%08x, second read 0x%08x: %s)",
            (unsigned long long)r.mismatches, mib, r.passes, (unsigned long long)m->offset,
            verify_pattern_name(m->pattern), m->inverted ? " inverted" : "", m->expected, m->got,
            m->reread, verify_mismatch_kind(m));
    } else if (r.ecc_error) {
        res = verify_report_add(rep, gpu, VERIFY_CHECK_MEMORY, VERIFY_FAIL, NULL,
                                "the device reported an uncorrectable ECC error during the test");
    } else {
        res = verify_report_add(rep, gpu, VERIFY_CHECK_MEMORY, VERIFY_PASS, NULL,
                                "%.0f MiB, %d passes, no mismatch", mib, r.passes);
    }
    set_numbers(res, (double)r.mismatches, 0, 0, "mismatches", VERIFY_SOURCE_NONE);
}

static bool is_cuda(const struct job *j)
{
    return !strcmp(j->b->name, "cuda");
}

static void check_bandwidth(struct job *j)
{
    struct verify_bw_result r;
    memset(&r, 0, sizeof(r));
    char err[256] = "";
    const struct verify_device *d = j->d;
    int gpu = d->index;
    if (!slot_ok(&j->rep, gpu, VERIFY_CHECK_MEM_BANDWIDTH,
                 j->b->mem_bandwidth(j->c, gpu, &r, err, sizeof(err)), err))
        return;
    bool cuda = is_cuda(j);
    /* cuda: the datasheet; cpu: libc memcpy measured in the same run */
    struct expect e =
        expect_rate(j->opts, j->b->name, verify_baseline_key(d), VERIFY_CHECK_MEM_BANDWIDTH,
                    cuda ? (d->model ? d->model->mem_bw_gbs : 0) : r.ceiling_gbs,
                    cuda ? VERIFY_SOURCE_DATASHEET : VERIFY_SOURCE_SAME_RUN);
    enum verify_status s = rate_status(r.copy_gbs, &e);
    struct verify_result *res = verify_report_add(
        &j->rep, gpu, VERIFY_CHECK_MEM_BANDWIDTH, s, NULL,
        "copy %.1f GB/s, triad %.1f GB/s (read + written, best of %d), %s %.1f GB/s; %s%s",
        r.copy_gbs, r.triad_gbs, r.reps, cuda ? "cudaMemcpy" : "memcpy", r.ceiling_gbs,
        s == VERIFY_FAIL   ? "below the threshold of "
        : s == VERIFY_WARN ? "below the warning level of "
                           : "within the threshold of ",
        against(&e));
    set_rate(res, r.copy_gbs, &e, "GB/s");
}

static void check_fma(struct job *j)
{
    struct verify_fma_result r;
    memset(&r, 0, sizeof(r));
    r.clock_ratio = 1;
    r.first_bad = -1;
    char err[256] = "";
    const struct verify_device *d = j->d;
    int gpu = d->index;
    if (!slot_ok(&j->rep, gpu, VERIFY_CHECK_COMPUTE, j->b->fma(j->c, gpu, &r, err, sizeof(err)),
                 err))
        return;
    struct verify_result *res;
    double peak = d->model && is_cuda(j) ? d->model->fp32_tflops * r.clock_ratio : 0;
    struct expect e = expect_rate(j->opts, j->b->name, verify_baseline_key(d), VERIFY_CHECK_COMPUTE,
                                  peak, VERIFY_SOURCE_DATASHEET);
    if (r.nans || r.wrong) {
        res = verify_report_add(
            &j->rep, gpu, VERIFY_CHECK_COMPUTE, VERIFY_FAIL, NULL,
            "%llu NaN and %llu wrong of %llu FMA chains; first lane %lld got %.9g, CPU %.9g",
            (unsigned long long)r.nans, (unsigned long long)r.wrong, (unsigned long long)r.lanes,
            (long long)r.first_bad, (double)r.got, (double)r.want);
    } else {
        enum verify_status s = rate_status(r.tflops, &e);
        res = verify_report_add(
            &j->rep, gpu, VERIFY_CHECK_COMPUTE, s, NULL,
            "%llu chains x %llu FMAs exact; %.4g TFLOP/s%s", (unsigned long long)r.lanes,
            (unsigned long long)r.iters, r.tflops,
            e.value <= 0 || (e.t.fail <= 0 && e.t.warn <= 0) ? " (not gated on this backend)"
            : e.source == VERIFY_SOURCE_BASELINE             ? " against the baseline"
                                                             : " against the clock-adjusted peak");
    }
    set_rate(res, r.tflops, &e, "TFLOP/s");
}

static void check_gemm(struct job *j)
{
    struct verify_gemm_result r;
    memset(&r, 0, sizeof(r));
    r.diff_index = r.bad_index = -1;
    r.diff_rep = -1;
    char err[256] = "";
    const struct verify_device *d = j->d;
    int gpu = d->index;
    if (!slot_ok(&j->rep, gpu, VERIFY_CHECK_GEMM, j->b->gemm(j->c, gpu, &r, err, sizeof(err)), err))
        return;
    double peak = 0;
    if (d->model && is_cuda(j) && r.precision && !strcmp(r.precision, "bf16"))
        peak = d->model->bf16_tflops;
    struct expect e = expect_rate(j->opts, j->b->name, verify_baseline_key(d), VERIFY_CHECK_GEMM,
                                  peak, VERIFY_SOURCE_DATASHEET);
    struct verify_result *res;
    if (r.diff_rep >= 0) {
        res = verify_report_add(&j->rep, gpu, VERIFY_CHECK_GEMM, VERIFY_FAIL, NULL,
                                "%s GEMM %dx%d: repetition %d differs from repetition 0 at "
                                "element %lld (row %lld, column %lld)",
                                r.precision, r.n, r.n, r.diff_rep, (long long)r.diff_index,
                                (long long)(r.diff_index / r.n), (long long)(r.diff_index % r.n));
    } else if (r.bad_index >= 0 || r.nans) {
        res = verify_report_add(&j->rep, gpu, VERIFY_CHECK_GEMM, VERIFY_FAIL, NULL,
                                "%s GEMM %dx%d: element %lld (row %lld, column %lld) is %.9g, the "
                                "CPU says %.9g (%llu NaN)",
                                r.precision, r.n, r.n, (long long)r.bad_index,
                                (long long)(r.bad_index / r.n), (long long)(r.bad_index % r.n),
                                r.bad_got, r.bad_want, (unsigned long long)r.nans);
    } else {
        enum verify_status s = rate_status(r.tflops, &e);
        res = verify_report_add(&j->rep, gpu, VERIFY_CHECK_GEMM, s, NULL,
                                "%s GEMM %dx%d: %d repetitions bit-identical, %zu entries match "
                                "the CPU; %.4g TFLOP/s",
                                r.precision, r.n, r.n, r.reps, r.samples, r.tflops);
    }
    set_rate(res, r.tflops, &e, "TFLOP/s");
}

/* Raw per-direction PCIe bandwidth of a link, GB/s: 15.75/31.5/63/126 per x16 gen3..gen6. */
static double link_gbs(int gen, int width)
{
    static const double x16[] = {0, 4, 8, 15.75, 31.5, 63, 126};
    if (gen < 1 || gen > 6 || width <= 0)
        return 0;
    return x16[gen] * width / 16.0;
}

/* Under the run's host lock: one device at a time moves data over the host links, as
 * nvbandwidth and the research proposal measure them, so devices sharing a PCIe switch or
 * the host's memory do not each see a share of it. */
static void check_host_bw(struct job *j)
{
    struct verify_bw_result r;
    memset(&r, 0, sizeof(r));
    char err[256] = "";
    const struct verify_device *d = j->d;
    int gpu = d->index;
    if (j->host_lock)
        pthread_mutex_lock(j->host_lock);
    int rc = j->b->host_bandwidth(j->c, gpu, &r, err, sizeof(err));
    if (j->host_lock)
        pthread_mutex_unlock(j->host_lock);
    if (!slot_ok(&j->rep, gpu, VERIFY_CHECK_HOST_BANDWIDTH, rc, err))
        return;
    double measured = r.h2d_gbs < r.d2h_gbs ? r.h2d_gbs : r.d2h_gbs;
    double raw = link_gbs(d->pcie_max_gen, d->pcie_max_width);
    struct expect e = expect_rate(j->opts, j->b->name, verify_baseline_key(d),
                                  VERIFY_CHECK_HOST_BANDWIDTH, raw, VERIFY_SOURCE_DATASHEET);
    enum verify_status s = rate_status(measured, &e);
    /* The link under load against the most this GPU and slot can do (NVML's max link is the
     * device's and the system's): a link trained down (a bad riser, a reseated card, a
     * failing lane) is a hardware fault even when the bandwidth still clears its floor. */
    char link[160] = "";
    if (r.link_gen > 0 && r.link_width > 0 && d->pcie_max_gen > 0 && d->pcie_max_width > 0) {
        bool down = r.link_gen < d->pcie_max_gen || r.link_width < d->pcie_max_width;
        snprintf(link, sizeof(link), "; under load the link ran gen%d x%d%s", r.link_gen,
                 r.link_width, down ? ", below its maximum" : "");
        if (down)
            s = VERIFY_FAIL;
    } else {
        snprintf(link, sizeof(link), "; the link under load unknown (no NVML)");
    }
    struct verify_result *res = verify_report_add(
        &j->rep, gpu, VERIFY_CHECK_HOST_BANDWIDTH, s,
        json_pack("{s:i, s:i, s:i, s:i}", "link_gen_loaded", r.link_gen, "link_width_loaded",
                  r.link_width, "link_max_gen", d->pcie_max_gen, "link_max_width",
                  d->pcie_max_width),
        "pinned host->device %.1f GB/s, device->host %.1f GB/s; link gen%d x%d raw %.1f GB/s%s%s",
        r.h2d_gbs, r.d2h_gbs, d->pcie_max_gen, d->pcie_max_width, raw, link,
        e.source == VERIFY_SOURCE_BASELINE ? "; judged against the baseline" : "");
    set_rate(res, measured, &e, "GB/s");
}

/* After every device's checks: the copies load two devices each, and would distort the
 * bandwidth of the devices still being measured. */
static void check_peers(struct verify_report *rep, const struct verify_backend *b,
                        struct verify_ctx *c, const struct verify_options *opts)
{
    if (rep->ndevices < 2) {
        verify_report_add(rep, -1, VERIFY_CHECK_PEER_BANDWIDTH, VERIFY_SKIP, NULL,
                          "one device: no peers");
        return;
    }
    double worst = 0;
    int ws = -1, wd = -1;
    for (size_t s = 0; s < rep->ndevices; s++) {
        for (size_t d = 0; d < rep->ndevices; d++) {
            if (s == d)
                continue;
            double gbs = 0;
            char err[256] = "";
            int rc = b->peer_bandwidth(c, (int)s, (int)d, &gbs, err, sizeof(err));
            if (rc != 0) {
                slot_ok(rep, -1, VERIFY_CHECK_PEER_BANDWIDTH, rc, err);
                return;
            }
            if (ws < 0 || gbs < worst) {
                worst = gbs;
                ws = (int)s;
                wd = (int)d;
            }
        }
    }
    /* no datasheet figure: gated only against a baseline (filed under gpu0's key) */
    struct expect e = expect_rate(opts, b->name, verify_baseline_key(&rep->devices[0]),
                                  VERIFY_CHECK_PEER_BANDWIDTH, 0, VERIFY_SOURCE_NONE);
    enum verify_status st = rate_status(worst, &e);
    struct verify_result *res = verify_report_add(
        rep, -1, VERIFY_CHECK_PEER_BANDWIDTH, st, NULL,
        "every pair's data verified; slowest gpu%d->gpu%d %.1f GB/s (%s)", ws, wd, worst,
        e.source != VERIFY_SOURCE_BASELINE ? "not gated until calibrated"
        : st == VERIFY_PASS                ? "within the threshold of the baseline"
                                           : "below the threshold of the baseline");
    set_rate(res, worst, &e, "GB/s");
}

/* Appends printf-style text to buf[*len..n); stops quietly when full. */
static void append(char *buf, size_t n, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t n, size_t *len, const char *fmt, ...)
{
    if (*len >= n)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *len, n - *len, fmt, ap);
    va_end(ap);
    if (w > 0)
        *len += (size_t)w;
}

/* "XID 79 (GPU has fallen off the bus) at boot+123s; " or "... x3 during the run; " */
static void append_xid(char *buf, size_t n, size_t *len, const struct verify_xid *x)
{
    const char *name = verify_xid_name(x->xid);
    append(buf, n, len, "XID %d (%.60s)", x->xid, name ? name : x->message);
    if (x->count > 1)
        append(buf, n, len, " x%u", x->count);
    if (x->source == VERIFY_XID_NVML_EVENT)
        append(buf, n, len, " during the run; ");
    else if (x->boot_s >= 0)
        append(buf, n, len, " at boot+%.0fs; ", x->boot_s);
    else
        append(buf, n, len, " in the kernel log; ");
}

static json_t *xids_json(const struct verify_health *h)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < h->nxids; i++) {
        const struct verify_xid *x = &h->xids[i];
        json_t *o =
            json_pack("{s:i, s:s, s:s, s:I, s:s}", "xid", x->xid, "source",
                      verify_xid_source_name(x->source), "class", verify_xid_class_name(x->cls),
                      "count", (json_int_t)x->count, "message", x->message);
        if (o && x->boot_s >= 0)
            json_object_set_new(o, "boot_seconds", json_real(x->boot_s));
        json_array_append_new(arr, o);
    }
    return arr;
}

static void check_health(struct job *j)
{
    struct verify_report *rep = &j->rep;
    int gpu = j->d->index;
    struct verify_health h;
    verify_health_init(&h);
    char err[256] = "";
    if (!slot_ok(rep, gpu, VERIFY_CHECK_HEALTH, j->b->health(j->c, gpu, &h, err, sizeof(err)), err))
        return;
    char why[380] = "", warn[380] = "";
    size_t len = 0, wlen = 0;
    enum verify_status s = VERIFY_PASS;
#define FAIL_IF(cond, ...)                                                                         \
    do {                                                                                           \
        if (cond) {                                                                                \
            s = VERIFY_FAIL;                                                                       \
            append(why, sizeof(why), &len, __VA_ARGS__);                                           \
        }                                                                                          \
    } while (0)
    FAIL_IF(h.ecc_uncorrected > 0, "%lld uncorrectable ECC errors; ", (long long)h.ecc_uncorrected);
    FAIL_IF(h.remap_pending > 0, "a row remap is pending; ");
    FAIL_IF(h.remap_failed > 0, "a row remap failed; ");
    FAIL_IF(h.remap_uncorrectable >= 512, "%lld rows remapped for uncorrectable errors; ",
            (long long)h.remap_uncorrectable);
    FAIL_IF(h.retired_pending > 0, "a page retirement is pending; ");
    FAIL_IF(h.retired_pages >= 63, "%lld retired pages; ", (long long)h.retired_pages);
    FAIL_IF(h.throttle_reasons > 0 && (h.throttle_reasons & VERIFY_THROTTLE_FAIL_MASK),
            "throttled (reasons 0x%llx); ", (unsigned long long)h.throttle_reasons);
#undef FAIL_IF
    if (h.retired_pages >= 15 && h.retired_pages < 63)
        append(warn, sizeof(warn), &wlen, "%lld retired pages; ", (long long)h.retired_pages);
    for (size_t i = 0; i < h.nxids; i++) {
        if (h.xids[i].cls == VERIFY_XID_FAIL) {
            s = VERIFY_FAIL;
            append_xid(why, sizeof(why), &len, &h.xids[i]);
        } else if (h.xids[i].cls == VERIFY_XID_WARN) {
            append_xid(warn, sizeof(warn), &wlen, &h.xids[i]);
        }
    }
    if (h.xids_dropped)
        append(warn, sizeof(warn), &wlen, "%u more XIDs not listed; ", h.xids_dropped);
    if (s == VERIFY_PASS && wlen)
        s = VERIFY_WARN;
    /* the message: the failures, then the warnings; the last "; " cut */
    if (s == VERIFY_FAIL && wlen)
        append(why, sizeof(why), &len, "warnings: %s", warn);
    char *msg = s == VERIFY_FAIL ? why : warn;
    size_t mlen = s == VERIFY_FAIL ? len : wlen;
    if (mlen >= sizeof(why))
        mlen = sizeof(why) - 1;
    if (mlen >= 2 && msg[mlen - 2] == ';')
        msg[mlen - 2] = 0;
    json_t *details =
        json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "from_nvml",
                  h.from_nvml, "ecc_uncorrected", (json_int_t)h.ecc_uncorrected, "ecc_corrected",
                  (json_int_t)h.ecc_corrected, "retired_pages", (json_int_t)h.retired_pages,
                  "retired_pending", (json_int_t)h.retired_pending, "remap_pending",
                  (json_int_t)h.remap_pending, "remap_failed", (json_int_t)h.remap_failed,
                  "remap_uncorrectable", (json_int_t)h.remap_uncorrectable, "throttle_reasons",
                  (json_int_t)h.throttle_reasons, "xid_events", (json_int_t)h.xid_events, "xids",
                  xids_json(&h));
    struct verify_result *res = verify_report_add(
        rep, gpu, VERIFY_CHECK_HEALTH, s, details, "%s%s%s",
        s == VERIFY_PASS ? "counters clean, no XID" : msg,
        h.from_nvml || is_cuda(j) ? "" : " (faked counters: no NVML on this backend)", h.note);
    set_numbers(res, (double)(h.ecc_uncorrected > 0 ? h.ecc_uncorrected : 0), 0, 0, "errors",
                VERIFY_SOURCE_NONE);
}

/* A device's checks, in the report's order; on its own thread or the caller's. */
static void *device_main(void *arg)
{
    struct job *j = arg;
    double t0 = now_s();
    check_device(j);
    check_memory(j);
    check_bandwidth(j);
    check_fma(j);
    check_gemm(j);
    check_host_bw(j);
    check_health(j); /* last: its counters and XID events cover the load of the others */
    j->seconds = now_s() - t0;
    return NULL;
}

/* Runs the jobs, one host thread each unless `serial`; a thread that cannot be created runs
 * its job on the caller's. Returns whether any ran on a thread of its own. */
static bool run_jobs(struct job *jobs, size_t n, bool serial)
{
    pthread_t tid[VERIFY_MAX_GPUS];
    bool started[VERIFY_MAX_GPUS] = {false};
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        if (!serial && n > 1 && pthread_create(&tid[i], NULL, device_main, &jobs[i]) == 0)
            started[i] = any = true;
        else
            device_main(&jobs[i]);
    }
    for (size_t i = 0; i < n; i++)
        if (started[i])
            pthread_join(tid[i], NULL);
    return any;
}

/* Lists the devices (-1 when it cannot) and checks that a baseline fits them (-2 when not). */
static int open_devices(const struct verify_backend *b, const struct verify_options *opts,
                        struct verify_ctx *c, struct verify_report *rep, char *err, size_t n)
{
    if (b->devices(c, rep->devices, VERIFY_MAX_GPUS, &rep->ndevices, err, n) != 0)
        return -1;
    if (!opts->baseline)
        return 0;
    if (verify_baseline_fits(opts->baseline, b->name, opts->level, rep->devices, rep->ndevices, err,
                             n) != 0)
        return -2;
    snprintf(rep->baseline, sizeof(rep->baseline), "%s", verify_baseline_path(opts->baseline));
    return 0;
}

int verify_run(const struct verify_backend *b, const struct verify_options *opts,
               struct verify_report *rep, char *err, size_t n)
{
    double t0 = now_s();
    snprintf(rep->backend, sizeof(rep->backend), "%s", b->name);
    rep->level = opts->level;
    rep->faults = opts->faults;
    rep->expected_gpus = opts->expected_gpus;
    if (b->probe(err, n) != 0)
        return -1;
    struct verify_ctx *c = NULL;
    if (b->open(opts, &c, err, n) != 0)
        return -1;
    int rc = open_devices(b, opts, c, rep, err, n);
    if (rc != 0) {
        b->close(c);
        return rc;
    }
    check_count(rep, opts);
    struct job jobs[VERIFY_MAX_GPUS];
    pthread_mutex_t host_lock;
    bool locked = pthread_mutex_init(&host_lock, NULL) == 0;
    for (size_t i = 0; i < rep->ndevices; i++) {
        jobs[i] = (struct job){.b = b, .c = c, .opts = opts, .d = &rep->devices[i]};
        jobs[i].host_lock = locked ? &host_lock : NULL;
        verify_report_init(&jobs[i].rep);
    }
    /* without the lock the host copies could overlap: run the devices one by one */
    rep->parallel = run_jobs(jobs, rep->ndevices, opts->serial || !locked);
    for (size_t i = 0; i < rep->ndevices; i++) {
        verify_report_take(rep, &jobs[i].rep);
        rep->device_seconds[i] = jobs[i].seconds;
        verify_report_release(&jobs[i].rep);
    }
    if (locked)
        pthread_mutex_destroy(&host_lock);
    double tp = now_s();
    check_peers(rep, b, c, opts);
    rep->peer_seconds = now_s() - tp;
    b->close(c);
    rep->seconds = now_s() - t0;
    return 0;
}

const struct verify_backend *verify_backend_find(const char *name)
{
    if (!strcmp(name, "cpu"))
        return &verify_backend_cpu;
    if (!strcmp(name, "cuda"))
        return &verify_backend_cuda;
    return NULL;
}
