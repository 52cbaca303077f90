/*
 * The formulas the CPU reference and the CUDA kernels must compute identically: memory-test
 * pattern words, the counter hash behind the random pattern and GEMM inputs, and the FMA
 * chains' seeds. Header-only, so nvcc and the C compiler read the same lines.
 */
#ifndef GPUFORM_MODULES_VERIFY_FORMULAS_H
#define GPUFORM_MODULES_VERIFY_FORMULAS_H

#include <stdint.h>

#ifdef __CUDACC__
#define VF_HD __host__ __device__ __forceinline__
#else
#define VF_HD static inline
#endif

/* splitmix64's finaliser over (seed, i): any word of the sequence without its predecessors. */
VF_HD uint32_t vf_hash32(uint32_t seed, uint64_t i)
{
    uint64_t z = i * 0x9E3779B97F4A7C15ull + (uint64_t)seed * 0xD1B54A32D192ED03ull + 1u;
    z ^= z >> 30;
    z *= 0xBF58476D1CE4E5B9ull;
    z ^= z >> 27;
    z *= 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (uint32_t)z;
}

/* Pattern numbers follow enum verify_pattern. */
VF_HD uint32_t vf_pattern_word(int pattern, uint32_t seed, uint64_t i)
{
    switch (pattern) {
    case 0: /* walking ones */
        return 1u << ((uint32_t)((i + seed) & 31u));
    case 1:
        return 0x00000000u;
    case 2:
        return 0xFFFFFFFFu;
    case 3:
        return 0xAAAAAAAAu;
    case 4:
        return 0x55555555u;
    case 5: /* own address */
        return (uint32_t)i ^ (uint32_t)(i >> 32);
    default: /* random */
        return vf_hash32(seed, i);
    }
}

VF_HD float vf_fma_seed(uint64_t lane)
{
    return 0.5f + (float)(lane % 256u) / 1024.0f;
}

VF_HD float vf_input_value(uint32_t seed, uint64_t i)
{
    return (float)((int)(vf_hash32(seed, i) >> 24) - 128) / 128.0f;
}

#endif
