/*
 * The CUDA validation kernels and their host side: memory-test patterns (16-byte accesses,
 * grid-stride, a device-side mismatch count and the first addresses with a second read),
 * copy and triad bandwidth, FP32 FMA chains, cuBLAS GEMM (loaded with dlopen, so gpuform
 * starts without the toolkit's libraries), pinned host<->device and peer copies. The formulas
 * are the CPU reference's (verify_formulas.h), so both check the same words.
 *
 * Status: compiled with nvcc for sm_80 and sm_90; never yet run on a GPU (docs/verify.md).
 */
#include "modules/verify/verify_int.h"

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "modules/verify/verify_formulas.h"

namespace
{

const int kThreads = 256;
const uint64_t kMiB = 1ull << 20;

int fail(cudaError_t e, const char *what, char *err, size_t n)
{
    snprintf(err, n, "%s failed: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
    return -1;
}

#define CK(call)                                                                                   \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess)                                                                     \
            return fail(e_, #call, err, n);                                                        \
    } while (0)

/* Device memory freed on every path out. */
struct DevMem {
    void *p = nullptr;
    ~DevMem()
    {
        if (p)
            cudaFree(p);
    }
    template <class T> T *as() const
    {
        return static_cast<T *>(p);
    }
};

struct PinnedMem {
    void *p = nullptr;
    ~PinnedMem()
    {
        if (p)
            cudaFreeHost(p);
    }
};

struct Events {
    cudaEvent_t a = nullptr, b = nullptr;
    ~Events()
    {
        if (a)
            cudaEventDestroy(a);
        if (b)
            cudaEventDestroy(b);
    }
    cudaError_t create()
    {
        cudaError_t e = cudaEventCreate(&a);
        return e != cudaSuccess ? e : cudaEventCreate(&b);
    }
    /* seconds between the two events, after waiting for the second */
    double seconds() const
    {
        float ms = 0;
        if (cudaEventSynchronize(b) != cudaSuccess ||
            cudaEventElapsedTime(&ms, a, b) != cudaSuccess)
            return 0;
        return ms / 1e3;
    }
};

int grid_for(int dev)
{
    int sms = 0;
    if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || sms < 1)
        sms = 80;
    return sms * 8;
}

int reps_of(const verify_options *o)
{
    if (o->reps > 0)
        return o->reps;
    return o->level == VERIFY_FULL ? 20 : 5;
}

double slow(const verify_options *o)
{
    return (o->faults & VERIFY_FAULT_SLOW_BW) ? VERIFY_SLOW_BW_FACTOR : 1.0;
}

/* ---- memory test ---- */

struct DevErr {
    unsigned long long count;
    unsigned int nrec;
    unsigned int pad;
    unsigned long long word[VERIFY_MAX_MISMATCH];
    unsigned int expected[VERIFY_MAX_MISMATCH];
    unsigned int got[VERIFY_MAX_MISMATCH];
    unsigned int reread[VERIFY_MAX_MISMATCH];
};

__global__ void k_fill(uint4 *buf, size_t n4, int pattern, uint32_t seed, uint32_t x)
{
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t v = (size_t)blockIdx.x * blockDim.x + threadIdx.x; v < n4; v += stride) {
        uint64_t i = (uint64_t)v * 4;
        buf[v] = make_uint4(
            vf_pattern_word(pattern, seed, i) ^ x, vf_pattern_word(pattern, seed, i + 1) ^ x,
            vf_pattern_word(pattern, seed, i + 2) ^ x, vf_pattern_word(pattern, seed, i + 3) ^ x);
    }
}

__device__ void record(DevErr *e, uint32_t *words, uint64_t i, uint32_t want, uint32_t got)
{
    atomicAdd(&e->count, 1ull);
    unsigned slot = atomicAdd(&e->nrec, 1u);
    if (slot < VERIFY_MAX_MISMATCH) {
        e->word[slot] = i;
        e->expected[slot] = want;
        e->got[slot] = got;
        e->reread[slot] = __ldcv(words + i); /* a second read, bypassing the caches */
    }
}

__global__ void k_check(uint4 *buf, size_t n4, int pattern, uint32_t seed, uint32_t x,
                        int then_invert, DevErr *e)
{
    size_t stride = (size_t)gridDim.x * blockDim.x;
    uint32_t *words = reinterpret_cast<uint32_t *>(buf);
    for (size_t v = (size_t)blockIdx.x * blockDim.x + threadIdx.x; v < n4; v += stride) {
        uint64_t i = (uint64_t)v * 4;
        uint4 g = buf[v];
        uint32_t want[4], got[4] = {g.x, g.y, g.z, g.w};
        for (int k = 0; k < 4; k++)
            want[k] = vf_pattern_word(pattern, seed, i + k) ^ x;
        for (int k = 0; k < 4; k++)
            if (got[k] != want[k])
                record(e, words, i + k, want[k], got[k]);
        if (then_invert)
            buf[v] = make_uint4(~want[0], ~want[1], ~want[2], ~want[3]);
    }
}

__global__ void k_flip(uint32_t *words, uint64_t i, uint32_t mask)
{
    words[i] ^= mask;
}

/* Allocates up to `want` bytes (16-byte multiple), backing off by 1/16 when refused. */
cudaError_t alloc_region(DevMem *m, uint64_t want, uint64_t *got)
{
    cudaError_t e = cudaErrorMemoryAllocation;
    for (int tries = 0; tries < 8 && want >= kMiB; tries++) {
        want &= ~(uint64_t)15;
        e = cudaMalloc(&m->p, want);
        if (e == cudaSuccess) {
            *got = want;
            return e;
        }
        cudaGetLastError(); /* clear the allocation error */
        want -= want / 16;
    }
    return e;
}

/* Copies the device record of one check into r; resets it. */
int collect(DevErr *d, verify_mem_result *r, verify_pattern p, bool inverted, char *err, size_t n)
{
    DevErr h;
    CK(cudaMemcpy(&h, d, sizeof(h), cudaMemcpyDeviceToHost));
    r->mismatches += h.count;
    unsigned nrec = std::min<unsigned>(h.nrec, VERIFY_MAX_MISMATCH);
    std::vector<verify_mismatch> ms;
    for (unsigned k = 0; k < nrec; k++) {
        verify_mismatch m = {};
        m.offset = h.word[k] * 4;
        m.expected = h.expected[k];
        m.got = h.got[k];
        m.reread = h.reread[k];
        m.pattern = p;
        m.inverted = inverted;
        ms.push_back(m);
    }
    /* threads record in any order: keep the lowest addresses first */
    std::sort(ms.begin(), ms.end(), [](const verify_mismatch &a, const verify_mismatch &b) {
        return a.offset < b.offset;
    });
    for (const verify_mismatch &m : ms)
        verify_mem_record(r, &m);
    CK(cudaMemset(d, 0, sizeof(DevErr)));
    return 0;
}

} /* namespace */

extern "C" int vcuda_probe(char *why, size_t n)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e == cudaErrorNoDevice || (e == cudaSuccess && count == 0)) {
        snprintf(why, n, "no CUDA GPU found on this host (the NVIDIA driver reports none)");
        return -1;
    }
    if (e == cudaErrorInsufficientDriver) {
        snprintf(why, n,
                 "no usable NVIDIA driver on this host (libcuda.so.1 is missing or older than "
                 "CUDA %d.%d, which this gpuform was built with): %s",
                 CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10, cudaGetErrorString(e));
        return -1;
    }
    if (e != cudaSuccess) {
        snprintf(why, n, "CUDA cannot start on this host: %s (%s)", cudaGetErrorString(e),
                 cudaGetErrorName(e));
        return -1;
    }
    return 0;
}

extern "C" int vcuda_device_count(int *count, char *err, size_t n)
{
    CK(cudaGetDeviceCount(count));
    return 0;
}

extern "C" int vcuda_device_info(int dev, verify_device *d, char *bus_id, size_t busn, char *err,
                                 size_t n)
{
    cudaDeviceProp p;
    CK(cudaGetDeviceProperties(&p, dev));
    snprintf(d->name, sizeof(d->name), "%s", p.name);
    d->memory_bytes = p.totalGlobalMem;
    d->cc_major = p.major;
    d->cc_minor = p.minor;
    CK(cudaSetDevice(dev));
    size_t fr = 0, total = 0;
    CK(cudaMemGetInfo(&fr, &total));
    d->free_bytes = fr;
    CK(cudaDeviceGetPCIBusId(bus_id, (int)busn, dev));
    CK(cudaDriverGetVersion(&d->driver_cuda));
    CK(cudaRuntimeGetVersion(&d->runtime_cuda));
    return 0;
}

extern "C" int vcuda_memtest(int dev, const verify_options *o, verify_mem_result *r, char *err,
                             size_t n)
{
    CK(cudaSetDevice(dev));
    size_t fr = 0, total = 0;
    CK(cudaMemGetInfo(&fr, &total));
    uint64_t want = fr / 10 * 9;
    if (o->mem_bytes && o->mem_bytes < want)
        want = o->mem_bytes;
    DevMem region, derr;
    uint64_t bytes = 0;
    CK(alloc_region(&region, want, &bytes));
    CK(cudaMalloc(&derr.p, sizeof(DevErr)));
    CK(cudaMemset(derr.p, 0, sizeof(DevErr)));
    size_t n4 = bytes / 16;
    int grid = grid_for(dev);
    uint4 *buf = region.as<uint4>();
    DevErr *de = derr.as<DevErr>();
    size_t np;
    const verify_mem_pass *passes = verify_mem_passes(o->level, &np);
    uint32_t seed0 = o->seed ? o->seed : 1;
    r->bytes = bytes;
    for (size_t i = 0; i < np; i++) {
        int p = passes[i].pattern;
        uint32_t seed = p == VERIFY_PAT_RANDOM ? passes[i].seed * seed0 : passes[i].seed;
        k_fill<<<grid, kThreads>>>(buf, n4, p, seed, 0);
        if ((o->faults & VERIFY_FAULT_MEM_BITFLIP) && i == VERIFY_BITFLIP_PASS)
            k_flip<<<1, 1>>>(region.as<uint32_t>(), VERIFY_BITFLIP_WORD(n4 * 4),
                             VERIFY_BITFLIP_MASK);
        k_check<<<grid, kThreads>>>(buf, n4, p, seed, 0, 1, de);
        cudaError_t e = cudaDeviceSynchronize();
        if (e == cudaErrorECCUncorrectable) {
            r->ecc_error = true;
            return 0;
        }
        CK(e);
        if (collect(de, r, (verify_pattern)p, false, err, n) != 0)
            return -1;
        k_check<<<grid, kThreads>>>(buf, n4, p, seed, 0xFFFFFFFFu, 0, de);
        e = cudaDeviceSynchronize();
        if (e == cudaErrorECCUncorrectable) {
            r->ecc_error = true;
            return 0;
        }
        CK(e);
        if (collect(de, r, (verify_pattern)p, true, err, n) != 0)
            return -1;
        r->words_checked += 2 * n4 * 4;
        r->passes++;
    }
    return 0;
}

/* ---- memory bandwidth ---- */

namespace
{

__global__ void k_copy(const uint4 *__restrict__ src, uint4 *__restrict__ dst, size_t n4)
{
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t v = (size_t)blockIdx.x * blockDim.x + threadIdx.x; v < n4; v += stride)
        dst[v] = src[v];
}

__global__ void k_triad(float4 *__restrict__ a, const float4 *__restrict__ b,
                        const float4 *__restrict__ c, size_t n4, float s)
{
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t v = (size_t)blockIdx.x * blockDim.x + threadIdx.x; v < n4; v += stride) {
        float4 x = b[v], y = c[v];
        a[v] = make_float4(x.x + s * y.x, x.y + s * y.y, x.z + s * y.z, x.w + s * y.w);
    }
}

} /* namespace */

extern "C" int vcuda_bandwidth(int dev, const verify_options *o, verify_bw_result *r, char *err,
                               size_t n)
{
    CK(cudaSetDevice(dev));
    size_t fr = 0, total = 0;
    CK(cudaMemGetInfo(&fr, &total));
    uint64_t bytes = (o->level == VERIFY_FULL ? 2048 : 1024) * kMiB;
    bytes = std::min<uint64_t>(bytes, fr / 4) & ~(uint64_t)15;
    DevMem a, b, c;
    CK(cudaMalloc(&a.p, bytes));
    CK(cudaMalloc(&b.p, bytes));
    CK(cudaMalloc(&c.p, bytes));
    CK(cudaMemset(b.p, 0, bytes));
    CK(cudaMemset(c.p, 0, bytes));
    size_t n4 = bytes / 16;
    int grid = grid_for(dev), reps = reps_of(o);
    Events ev;
    CK(ev.create());
    std::vector<double> tc, tt, tm;
    for (int k = 0; k <= reps; k++) { /* rep 0 warms up and is not kept */
        CK(cudaEventRecord(ev.a));
        k_copy<<<grid, kThreads>>>(b.as<uint4>(), a.as<uint4>(), n4);
        CK(cudaEventRecord(ev.b));
        double t1 = ev.seconds();
        CK(cudaEventRecord(ev.a));
        k_triad<<<grid, kThreads>>>(a.as<float4>(), b.as<float4>(), c.as<float4>(), n4, 3.0f);
        CK(cudaEventRecord(ev.b));
        double t2 = ev.seconds();
        CK(cudaEventRecord(ev.a));
        CK(cudaMemcpyAsync(a.p, b.p, bytes, cudaMemcpyDeviceToDevice));
        CK(cudaEventRecord(ev.b));
        double t3 = ev.seconds();
        CK(cudaGetLastError());
        if (k == 0)
            continue;
        tc.push_back(t1 * slow(o));
        tt.push_back(t2 * slow(o));
        tm.push_back(t3);
    }
    r->bytes = bytes;
    r->reps = reps;
    r->copy_gbs = verify_gbs(bytes, bytes, verify_best_seconds(tc.data(), tc.size()));
    r->triad_gbs = verify_gbs(2 * bytes, bytes, verify_best_seconds(tt.data(), tt.size()));
    r->ceiling_gbs = verify_gbs(bytes, bytes, verify_best_seconds(tm.data(), tm.size()));
    return 0;
}

/* ---- FP32 FMA ---- */

namespace
{

const int kChains = 8; /* independent chains per thread, for instruction-level parallelism */

__global__ void k_fma(float *out, unsigned iters, long long nan_lane)
{
    uint64_t base = ((uint64_t)blockIdx.x * blockDim.x + threadIdx.x) * kChains;
    float x[kChains];
#pragma unroll
    for (int j = 0; j < kChains; j++) {
        x[j] = vf_fma_seed(base + j);
        if ((long long)(base + j) == nan_lane)
            x[j] = __int_as_float(0x7fc00000);
    }
    for (unsigned it = 0; it < iters; it++) {
#pragma unroll
        for (int j = 0; j < kChains; j++)
            x[j] = __fmaf_rn(x[j], VERIFY_FMA_A, VERIFY_FMA_B);
    }
#pragma unroll
    for (int j = 0; j < kChains; j++)
        out[base + j] = x[j];
}

} /* namespace */

extern "C" int vcuda_fma(int dev, const verify_options *o, verify_fma_result *r, char *err,
                         size_t n)
{
    CK(cudaSetDevice(dev));
    int blocks = grid_for(dev) / 2;
    uint64_t lanes = (uint64_t)blocks * kThreads * kChains;
    unsigned iters = o->level == VERIFY_FULL ? 65536 : 8192;
    long long nan_lane = (o->faults & VERIFY_FAULT_NAN) ? VERIFY_NAN_LANE : -1;
    DevMem out;
    CK(cudaMalloc(&out.p, lanes * sizeof(float)));
    Events ev;
    CK(ev.create());
    std::vector<double> t;
    int reps = std::min(reps_of(o), 5);
    for (int k = 0; k <= reps; k++) {
        CK(cudaEventRecord(ev.a));
        k_fma<<<blocks, kThreads>>>(out.as<float>(), iters, nan_lane);
        CK(cudaEventRecord(ev.b));
        double s = ev.seconds();
        CK(cudaGetLastError());
        if (k > 0)
            t.push_back(s);
    }
    std::vector<float> host(lanes);
    CK(cudaMemcpy(host.data(), out.p, lanes * sizeof(float), cudaMemcpyDeviceToHost));
    verify_fma_check(host.data(), lanes, iters, r);
    r->seconds = verify_best_seconds(t.data(), t.size());
    r->tflops = r->seconds > 0 ? 2.0 * (double)lanes * iters / r->seconds / 1e12 : 0;
    return 0;
}

/* ---- GEMM through cuBLAS, loaded at run time ---- */

namespace
{

struct Cublas {
    void *lib = nullptr;
    cublasStatus_t (*create)(cublasHandle_t *) = nullptr;
    cublasStatus_t (*destroy)(cublasHandle_t) = nullptr;
    cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                              const void *, const void *, cudaDataType, int, const void *,
                              cudaDataType, int, const void *, void *, cudaDataType, int,
                              cublasComputeType_t, cublasGemmAlgo_t) = nullptr;
    cublasHandle_t h = nullptr;
    ~Cublas()
    {
        if (h && destroy)
            destroy(h);
        if (lib)
            dlclose(lib);
    }
};

template <class F> void bind(void *lib, const char *name, F *slot)
{
    void *p = dlsym(lib, name);
    memcpy(slot, &p, sizeof(p));
}

int load_cublas(Cublas *cb, char *err, size_t n)
{
    char name[32];
    snprintf(name, sizeof(name), "libcublas.so.%d", CUBLAS_VER_MAJOR);
    cb->lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!cb->lib) {
        snprintf(err, n, "cuBLAS is not available (%s, from the CUDA toolkit: %s)", name,
                 dlerror());
        return 1; /* the GEMM check is skipped, not failed */
    }
    bind(cb->lib, "cublasCreate_v2", &cb->create);
    bind(cb->lib, "cublasDestroy_v2", &cb->destroy);
    bind(cb->lib, "cublasGemmEx", &cb->gemm_ex);
    if (!cb->create || !cb->destroy || !cb->gemm_ex) {
        snprintf(err, n, "%s lacks cublasCreate_v2, cublasDestroy_v2 or cublasGemmEx", name);
        return -1;
    }
    if (cb->create(&cb->h) != CUBLAS_STATUS_SUCCESS) {
        snprintf(err, n, "cublasCreate failed");
        return -1;
    }
    return 0;
}

__global__ void k_init_f32(float *a, size_t count, uint32_t seed)
{
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride)
        a[i] = vf_input_value(seed, i);
}

__global__ void k_init_bf16(__nv_bfloat16 *a, size_t count, uint32_t seed)
{
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride)
        a[i] = __float2bfloat16_rn(vf_input_value(seed, i)); /* k/128: exact */
}

__global__ void k_first_diff(const uint32_t *a, const uint32_t *b, size_t count,
                             unsigned long long *first)
{
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride)
        if (a[i] != b[i])
            atomicMin(first, (unsigned long long)i);
}

__global__ void k_count_nan(const float *c, size_t count, unsigned long long *nans)
{
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride)
        if (isnan(c[i]))
            atomicAdd(nans, 1ull);
}

__global__ void k_add(float *c, uint64_t i, float v)
{
    c[i] += v;
}

} /* namespace */

extern "C" int vcuda_gemm(int dev, const verify_options *o, const char *precision,
                          verify_gemm_result *r, char *err, size_t n)
{
    CK(cudaSetDevice(dev));
    Cublas cb;
    int rc = load_cublas(&cb, err, n);
    if (rc != 0)
        return rc;
    int dim = o->gemm_n > 0 ? o->gemm_n : o->level == VERIFY_FULL ? 8192 : 4096;
    int reps = o->level == VERIFY_FULL ? 40 : 10;
    uint32_t seed = o->seed ? o->seed : 1;
    size_t cnt = (size_t)dim * dim;
    bool bf16 = !strcmp(precision, "bf16");
    size_t esize = bf16 ? sizeof(__nv_bfloat16) : sizeof(float);
    DevMem A, B, C0, Ck, first, nans;
    CK(cudaMalloc(&A.p, cnt * esize));
    CK(cudaMalloc(&B.p, cnt * esize));
    CK(cudaMalloc(&C0.p, cnt * sizeof(float)));
    CK(cudaMalloc(&Ck.p, cnt * sizeof(float)));
    CK(cudaMalloc(&first.p, sizeof(unsigned long long)));
    CK(cudaMalloc(&nans.p, sizeof(unsigned long long)));
    int grid = grid_for(dev);
    if (bf16) {
        k_init_bf16<<<grid, kThreads>>>(A.as<__nv_bfloat16>(), cnt, seed);
        k_init_bf16<<<grid, kThreads>>>(B.as<__nv_bfloat16>(), cnt, seed + 1);
    } else {
        k_init_f32<<<grid, kThreads>>>(A.as<float>(), cnt, seed);
        k_init_f32<<<grid, kThreads>>>(B.as<float>(), cnt, seed + 1);
    }
    CK(cudaGetLastError());
    cudaDataType in = bf16 ? CUDA_R_16BF : CUDA_R_32F;
    cublasComputeType_t ct =
        !strcmp(precision, "tf32") ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    const float alpha = 1.0f, beta = 0.0f;
    Events ev;
    CK(ev.create());
    std::vector<double> t;
    r->n = dim;
    r->reps = reps;
    r->precision = bf16 ? "bf16" : !strcmp(precision, "tf32") ? "tf32" : "fp32";
    r->diff_rep = -1;
    r->diff_index = -1;
    for (int k = 0; k < reps; k++) {
        float *C = k == 0 ? C0.as<float>() : Ck.as<float>();
        /* row-major C = A x B is column-major C^T = B^T x A^T */
        CK(cudaEventRecord(ev.a));
        cublasStatus_t s =
            cb.gemm_ex(cb.h, CUBLAS_OP_N, CUBLAS_OP_N, dim, dim, dim, &alpha, B.p, in, dim, A.p, in,
                       dim, &beta, C, CUDA_R_32F, dim, ct, CUBLAS_GEMM_DEFAULT);
        CK(cudaEventRecord(ev.b));
        if (s != CUBLAS_STATUS_SUCCESS) {
            snprintf(err, n, "cublasGemmEx (%s, %d x %d) failed with status %d", precision, dim,
                     dim, (int)s);
            return -1;
        }
        t.push_back(ev.seconds());
        if (k == 0)
            continue;
        if ((o->faults & VERIFY_FAULT_GEMM_CORRUPT) && k == reps - 1)
            k_add<<<1, 1>>>(C, (uint64_t)VERIFY_GEMM_CORRUPT_INDEX(dim), 1.0f);
        unsigned long long h = ULLONG_MAX;
        CK(cudaMemcpy(first.p, &h, sizeof(h), cudaMemcpyHostToDevice));
        k_first_diff<<<grid, kThreads>>>(C0.as<uint32_t>(), Ck.as<uint32_t>(), cnt,
                                         first.as<unsigned long long>());
        CK(cudaMemcpy(&h, first.p, sizeof(h), cudaMemcpyDeviceToHost));
        if (h != ULLONG_MAX && r->diff_rep < 0) {
            r->diff_rep = k;
            r->diff_index = (int64_t)h;
        }
    }
    CK(cudaMemset(nans.p, 0, sizeof(unsigned long long)));
    k_count_nan<<<grid, kThreads>>>(C0.as<float>(), cnt, nans.as<unsigned long long>());
    unsigned long long hn = 0;
    CK(cudaMemcpy(&hn, nans.p, sizeof(hn), cudaMemcpyDeviceToHost));
    r->nans = hn;
    /* the first repetition warms up; the rest are timed */
    r->seconds = verify_best_seconds(t.data() + 1, t.size() - 1);
    r->tflops = r->seconds > 0 ? 2.0 * dim * (double)dim * dim / r->seconds / 1e12 : 0;
    /* sampled entries against the CPU, on the same (exactly representable) inputs */
    std::vector<float> hA(cnt), hB(cnt), hC(cnt);
    for (size_t i = 0; i < cnt; i++) {
        hA[i] = vf_input_value(seed, i);
        hB[i] = vf_input_value(seed + 1, i);
    }
    CK(cudaMemcpy(hC.data(), C0.p, cnt * sizeof(float), cudaMemcpyDeviceToHost));
    r->samples = o->level == VERIFY_FULL ? 256 : 64;
    r->bad_index =
        verify_gemm_sample_check(hA.data(), hB.data(), hC.data(), dim, dim, dim, r->samples, seed,
                                 verify_gemm_rtol(r->precision), &r->bad_got, &r->bad_want);
    return 0;
}

/* ---- host <-> device, pinned ---- */

extern "C" int vcuda_host_bandwidth(int dev, const verify_options *o, verify_bw_result *r,
                                    void (*loaded)(void *arg, verify_bw_result *r), void *arg,
                                    char *err, size_t n)
{
    CK(cudaSetDevice(dev));
    uint64_t bytes = 256 * kMiB;
    PinnedMem host;
    DevMem d;
    CK(cudaMallocHost(&host.p, bytes));
    CK(cudaMalloc(&d.p, bytes));
    memset(host.p, 0x5a, bytes);
    Events ev;
    CK(ev.create());
    std::vector<double> th, td;
    int reps = std::min(reps_of(o), 8);
    for (int k = 0; k <= reps; k++) {
        CK(cudaEventRecord(ev.a));
        CK(cudaMemcpyAsync(d.p, host.p, bytes, cudaMemcpyHostToDevice));
        CK(cudaEventRecord(ev.b));
        if (k == 1 && loaded)
            loaded(arg, r); /* the copy is in flight: the link is up to speed */
        double h2d = ev.seconds();
        CK(cudaEventRecord(ev.a));
        CK(cudaMemcpyAsync(host.p, d.p, bytes, cudaMemcpyDeviceToHost));
        CK(cudaEventRecord(ev.b));
        if (k == 1 && loaded)
            loaded(arg, r);
        double d2h = ev.seconds();
        if (k == 0)
            continue;
        th.push_back(h2d * slow(o));
        td.push_back(d2h * slow(o));
    }
    r->bytes = bytes;
    r->reps = reps;
    r->h2d_gbs = verify_gbs(bytes, 0, verify_best_seconds(th.data(), th.size()));
    r->d2h_gbs = verify_gbs(bytes, 0, verify_best_seconds(td.data(), td.size()));
    return 0;
}

/* ---- GPU -> GPU, data verified ---- */

extern "C" int vcuda_peer_bandwidth(int src, int dst, const verify_options *o, double *gbs,
                                    char *err, size_t n)
{
    int can = 0;
    CK(cudaDeviceCanAccessPeer(&can, dst, src));
    if (can) {
        CK(cudaSetDevice(dst));
        cudaError_t e = cudaDeviceEnablePeerAccess(src, 0);
        if (e == cudaErrorPeerAccessAlreadyEnabled)
            cudaGetLastError();
        else
            CK(e);
    }
    uint64_t bytes = 256 * kMiB;
    size_t n4 = bytes / 16;
    DevMem s, d, derr;
    CK(cudaSetDevice(src));
    CK(cudaMalloc(&s.p, bytes));
    k_fill<<<grid_for(src), kThreads>>>(s.as<uint4>(), n4, VERIFY_PAT_RANDOM, 77, 0);
    CK(cudaDeviceSynchronize());
    CK(cudaSetDevice(dst));
    CK(cudaMalloc(&d.p, bytes));
    CK(cudaMalloc(&derr.p, sizeof(DevErr)));
    CK(cudaMemset(derr.p, 0, sizeof(DevErr)));
    Events ev;
    CK(ev.create());
    std::vector<double> t;
    int reps = std::min(reps_of(o), 8);
    for (int k = 0; k <= reps; k++) {
        CK(cudaEventRecord(ev.a));
        CK(cudaMemcpyPeerAsync(d.p, dst, s.p, src, bytes));
        CK(cudaEventRecord(ev.b));
        double sec = ev.seconds();
        if (k > 0)
            t.push_back(sec * slow(o));
    }
    k_check<<<grid_for(dst), kThreads>>>(d.as<uint4>(), n4, VERIFY_PAT_RANDOM, 77, 0, 0,
                                         derr.as<DevErr>());
    DevErr h;
    CK(cudaMemcpy(&h, derr.p, sizeof(h), cudaMemcpyDeviceToHost));
    if (h.count) {
        snprintf(err, n, "%llu words copied from gpu%d to gpu%d arrived wrong (first at 0x%llx)",
                 h.count, src, dst, h.word[0] * 4);
        return -1;
    }
    *gbs = verify_gbs(0, bytes, verify_best_seconds(t.data(), t.size()));
    return 0;
}
