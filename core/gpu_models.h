/*
 * The GPU models gpuform knows: canonical names (SkyPilot's spelling), aliases, datasheet
 * memory, memory bandwidth and compute peaks. Validation checks GPU names against it, the
 * planner matches offers by it, and verify compares measurements with its peaks.
 */
#ifndef GPUFORM_CORE_GPU_MODELS_H
#define GPUFORM_CORE_GPU_MODELS_H

#include <stddef.h>

struct core_gpu_model {
    const char *name;           /* canonical name, e.g. "A100-80GB" */
    const char *const *aliases; /* NULL-terminated list, may be empty; never NULL */
    const char *vendor;         /* "nvidia", "amd", "intel" */
    unsigned memory_gb;         /* datasheet memory per GPU, decimal GB as marketed */
    double mem_bw_gbs;          /* datasheet memory bandwidth, GB/s (decimal) */
    double fp32_tflops;         /* dense FP32 peak, TFLOP/s (non-tensor) */
    double bf16_tflops;         /* dense BF16 tensor peak, TFLOP/s; 0 when not supported */
    const char *source;         /* where the numbers come from (datasheet name) */
};

/* All models, in a fixed order; static storage. *n gets the count. */
const struct core_gpu_model *core_gpu_models(size_t *n);

/*
 * The model called `name`: its canonical name or an alias, compared case-insensitively.
 * NULL when unknown.
 */
const struct core_gpu_model *core_gpu_model_find(const char *name);

#endif
