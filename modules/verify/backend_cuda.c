/*
 * The CUDA verify backend's vtable: the checks run by the kernels in modules/verify/cuda/
 * (built into gpuform_verify_cuda when nvcc was found at build time, GPUFORM_VERIFY_CUDA) and
 * the health counters read through NVML. Built without nvcc, the backend only says so.
 * Written and compiled, never yet run on a GPU (docs/verify.md, "Status"). The runner calls
 * the check slots from one host thread per device: each vcuda_* call selects its device with
 * cudaSetDevice (per host thread), and the slots only read the context.
 */
#include "modules/verify/verify.h"

#include <stdlib.h>
#include <string.h>

#include "modules/verify/verify_int.h"

#ifdef GPUFORM_VERIFY_CUDA

struct verify_ctx {
    struct verify_options opts;
    struct verify_nvml *nvml; /* NULL when NVML could not be loaded */
    char nvml_why[200];
    char watch_why[200];           /* why XID events are not (all) watched, "" when they are */
    struct verify_kernel_log klog; /* the kernel log's XID reports, read at open */
    int count;                     /* CUDA devices, before hide_gpu */
    char bus_id[VERIFY_MAX_GPUS][32];
    double clock_ratio[VERIFY_MAX_GPUS];
};

static int cuda_probe(char *why, size_t n)
{
    return vcuda_probe(why, n);
}

static int cuda_open(const struct verify_options *opts, struct verify_ctx **out, char *err,
                     size_t n)
{
    struct verify_ctx *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, n, "out of memory");
        return -1;
    }
    c->opts = *opts;
    if (!c->opts.seed)
        c->opts.seed = 1;
    if (vcuda_device_count(&c->count, err, n) != 0) {
        free(c);
        return -1;
    }
    if (c->count > VERIFY_MAX_GPUS)
        c->count = VERIFY_MAX_GPUS;
    if (verify_nvml_open(&c->nvml, c->nvml_why, sizeof(c->nvml_why)) != 0)
        c->nvml = NULL;
    verify_kernel_log_init(&c->klog);
    verify_kernel_log_read(&c->klog, verify_kernel_log_path());
    *out = c;
    return 0;
}

static int cuda_devices(struct verify_ctx *c, struct verify_device *out, size_t max, size_t *n,
                        char *err, size_t errn)
{
    size_t count = (size_t)c->count;
    if ((c->opts.faults & VERIFY_FAULT_HIDE_GPU) && count > 0)
        count--;
    if (count > max)
        count = max;
    for (size_t i = 0; i < count; i++) {
        struct verify_device *d = &out[i];
        memset(d, 0, sizeof(*d));
        d->ecc_enabled = -1;
        if (vcuda_device_info((int)i, d, c->bus_id[i], sizeof(c->bus_id[i]), err, errn) != 0)
            return -1;
        d->index = (int)i;
        d->model = verify_model_from_name(d->name, d->memory_bytes);
        snprintf(d->pci_bus_id, sizeof(d->pci_bus_id), "%s", c->bus_id[i]);
        c->clock_ratio[i] = 1;
        if (c->nvml)
            verify_nvml_device(c->nvml, c->bus_id[i], d, &c->clock_ratio[i]);
    }
    *n = count;
    /* now, before any check loads a GPU: NVML records only the events after this */
    if (c->nvml)
        verify_nvml_watch(c->nvml, c->bus_id, count, c->watch_why, sizeof(c->watch_why));
    return 0;
}

/* The options one device's checks see: only the faults aimed at it (options.fault_gpus). */
static struct verify_options opts_for(const struct verify_ctx *c, int gpu)
{
    struct verify_options o = c->opts;
    o.faults = verify_faults_for(&c->opts, gpu);
    return o;
}

static int cuda_memtest(struct verify_ctx *c, int gpu, struct verify_mem_result *r, char *err,
                        size_t n)
{
    struct verify_options o = opts_for(c, gpu);
    return vcuda_memtest(gpu, &o, r, err, n);
}

static int cuda_bandwidth(struct verify_ctx *c, int gpu, struct verify_bw_result *r, char *err,
                          size_t n)
{
    struct verify_options o = opts_for(c, gpu);
    return vcuda_bandwidth(gpu, &o, r, err, n);
}

static int cuda_fma(struct verify_ctx *c, int gpu, struct verify_fma_result *r, char *err, size_t n)
{
    struct verify_options o = opts_for(c, gpu);
    int rc = vcuda_fma(gpu, &o, r, err, n);
    r->clock_ratio = c->clock_ratio[gpu];
    return rc;
}

/* quick: bf16 through the tensor cores; full: tf32 first, then bf16 (a failure is kept). */
static int cuda_gemm(struct verify_ctx *c, int gpu, struct verify_gemm_result *r, char *err,
                     size_t n)
{
    struct verify_options o = opts_for(c, gpu);
    if (o.level == VERIFY_FULL) {
        int rc = vcuda_gemm(gpu, &o, "tf32", r, err, n);
        if (rc != 0 || r->diff_rep >= 0 || r->bad_index >= 0 || r->nans)
            return rc;
        memset(r, 0, sizeof(*r));
        r->diff_index = r->bad_index = -1;
        r->diff_rep = -1;
    }
    return vcuda_gemm(gpu, &o, "bf16", r, err, n);
}

struct link_probe {
    struct verify_nvml *nvml;
    const char *bus_id;
};

/* While a host copy is in flight: the link as NVML sees it, the fastest of the readings (a
 * reading may land between two copies, when the link may already be slowing down). */
static void read_link_loaded(void *arg, struct verify_bw_result *r)
{
    const struct link_probe *p = arg;
    int gen = 0, width = 0;
    if (verify_nvml_link(p->nvml, p->bus_id, &gen, &width) != 0)
        return;
    if (gen > r->link_gen)
        r->link_gen = gen;
    if (width > r->link_width)
        r->link_width = width;
}

static int cuda_host_bandwidth(struct verify_ctx *c, int gpu, struct verify_bw_result *r, char *err,
                               size_t n)
{
    struct verify_options o = opts_for(c, gpu);
    struct link_probe p = {.nvml = c->nvml, .bus_id = c->bus_id[gpu]};
    return vcuda_host_bandwidth(gpu, &o, r, c->nvml ? read_link_loaded : NULL, &p, err, n);
}

static int cuda_peer_bandwidth(struct verify_ctx *c, int src, int dst, double *gbs, char *err,
                               size_t n)
{
    struct verify_options o = opts_for(c, src); /* a fault on either end slows the pair */
    o.faults |= verify_faults_for(&c->opts, dst);
    return vcuda_peer_bandwidth(src, dst, &o, gbs, err, n);
}

/* NVML's counters, the XID events of the run and the kernel log's XIDs since boot; with
 * nvml_ecc, what a failing HBM stack shows is laid over the counters, the way DCGM's NVML
 * injection tests itself, and with xid an XID 79 line over the kernel log. Without NVML the
 * check still judges the kernel log when it names this GPU. */
static int cuda_health(struct verify_ctx *c, int gpu, struct verify_health *h, char *err, size_t n)
{
    unsigned faults = verify_faults_for(&c->opts, gpu);
    size_t logged = verify_kernel_log_apply(&c->klog, c->bus_id[gpu], h);
    if (faults & VERIFY_FAULT_XID)
        verify_inject_xid(c->bus_id[gpu], h);
    if (!c->nvml && !(faults & (VERIFY_FAULT_NVML_ECC | VERIFY_FAULT_XID)) && !logged) {
        snprintf(err, n, "%s", c->nvml_why);
        return 1;
    }
    if (c->nvml && verify_nvml_health(c->nvml, c->bus_id[gpu], h, err, n) != 0)
        return -1;
    if (!c->nvml)
        verify_health_note(h, c->nvml_why);
    verify_nvml_events(c->nvml, gpu, h);
    if (c->watch_why[0])
        verify_health_note(h, c->watch_why);
    if (!c->klog.read)
        verify_health_note(h, c->klog.note);
    if (faults & VERIFY_FAULT_NVML_ECC) {
        h->ecc_uncorrected = 2;
        h->remap_pending = 1;
    }
    return 0;
}

static void cuda_close(struct verify_ctx *c)
{
    if (!c)
        return;
    verify_nvml_close(c->nvml);
    verify_kernel_log_release(&c->klog);
    free(c);
}

const struct verify_backend verify_backend_cuda = {
    .name = "cuda",
    .probe = cuda_probe,
    .open = cuda_open,
    .devices = cuda_devices,
    .memtest = cuda_memtest,
    .mem_bandwidth = cuda_bandwidth,
    .fma = cuda_fma,
    .gemm = cuda_gemm,
    .host_bandwidth = cuda_host_bandwidth,
    .peer_bandwidth = cuda_peer_bandwidth,
    .health = cuda_health,
    .close = cuda_close,
};

#else /* built without nvcc: the backend explains itself and refuses to open */

static int nocuda_probe(char *why, size_t n)
{
    snprintf(why, n,
             "this gpuform was built without CUDA (nvcc was not found at build time, or "
             "GPUFORM_CUDA=OFF), so its "
             "validation kernels are not in it");
    return -1;
}

static int nocuda_open(const struct verify_options *opts, struct verify_ctx **out, char *err,
                       size_t n)
{
    (void)opts;
    *out = NULL;
    return nocuda_probe(err, n);
}

static void nocuda_close(struct verify_ctx *c)
{
    (void)c;
}

/* Only probe, open and close are ever called: open always fails. */
const struct verify_backend verify_backend_cuda = {
    .name = "cuda",
    .probe = nocuda_probe,
    .open = nocuda_open,
    .close = nocuda_close,
};

#endif
