/*
 * The table of GPU models gpuform knows, with datasheet memory, bandwidth and peaks. It exists so
 * that spec validation, offer matching and `verify` all read the same numbers, and so a
 * catalog's spelling ("H100-SXM", "B200 Blackwell") maps to one canonical model.
 */
#include "core/gpu_models.h"

#include <strings.h>

/*
 * Coverage: every NVIDIA/AMD/Intel name in shared/data/catalog/common/accelerators.csv and
 * gpu_metadata.csv, and every GPU AcceleratorName in the aws, aws vantage, gcp and azure
 * catalogs (as of 2026-11-21). AWS's own ASICs (Inferentia, Trainium), Qualcomm AI 100 and
 * the vantage file's "ARM Mali-G78MP12" (its g5g rows really carry a T4G) are not GPUs of the
 * three vendors this table covers and are left out.
 *
 * memory_gb is the datasheet figure, not gpu_metadata.csv's: that file says 80 GB for B200,
 * H200 and GH200, which is wrong. Boards with two GPUs (K80, M60, GRID K520) are listed per
 * GPU, as the clouds count them. Tensor peaks are dense (no sparsity); for workstation and
 * GeForce cards bf16_tflops is the BF16 rate with FP32 accumulate. Figures marked "approx."
 * in `source` are derived (e.g. halving a sparse or FP8 figure) or not on a datasheet.
 */

static const char *const no_aliases[] = {NULL};

static const char *const gb200_aliases[] = {"GB200 Grace Blackwell", NULL};
static const char *const b300_aliases[] = {"B300 Blackwell", NULL};
static const char *const b200_aliases[] = {"B200 Blackwell", NULL};
static const char *const h200_aliases[] = {"H200-SXM", NULL};
static const char *const h100_aliases[] = {"H100-SXM", "H100-80GB", "H100-NVLINK", NULL};
static const char *const a100_aliases[] = {"A100-40GB", NULL};
static const char *const a100_80_aliases[] = {"A100-80GB-SXM", NULL};
static const char *const v100_aliases[] = {"V100-16GB", NULL};
static const char *const k520_aliases[] = {"GRID K520", NULL};
static const char *const rtxpro6000s_aliases[] = {"RTX PRO 6000 Blackwell", NULL};
static const char *const rtx6000ada_aliases[] = {"RTX6000Ada", NULL};
static const char *const rtxa6000_aliases[] = {"A6000", NULL};
static const char *const rtxa5000_aliases[] = {"A5000", NULL};
static const char *const rtxa4500_aliases[] = {"A4500", NULL};
static const char *const rtxa4000_aliases[] = {"A4000", NULL};
static const char *const mi25_aliases[] = {"MI25", NULL};
static const char *const v520_aliases[] = {"AMD Radeon Pro V520", "V520", NULL};
static const char *const gaudi_aliases[] = {"HL-205", NULL};

static const struct core_gpu_model models[] = {
    /* NVIDIA data centre: Blackwell */
    {"GB200", gb200_aliases, "nvidia", 186, 8000, 80, 2500,
     "NVIDIA GB200 NVL72 datasheet, per GPU (approx.)"},
    {"GB300", no_aliases, "nvidia", 288, 8000, 83, 2500,
     "NVIDIA GB300 NVL72 datasheet, per GPU (approx.)"},
    {"B300", b300_aliases, "nvidia", 288, 8000, 75, 2250,
     "NVIDIA HGX B300 datasheet, per GPU (approx.)"},
    {"B200", b200_aliases, "nvidia", 180, 8000, 75, 2250,
     "NVIDIA HGX B200 datasheet, per GPU (180 GB; AWS p6-b200 reports 179 GiB)"},
    /* NVIDIA data centre: Hopper */
    {"H200", h200_aliases, "nvidia", 141, 4800, 67, 989, "NVIDIA H200 datasheet (SXM)"},
    {"GH200", no_aliases, "nvidia", 96, 4000, 67, 989,
     "NVIDIA GH200 datasheet (96 GB HBM3 version, as Lambda sells it)"},
    {"H100", h100_aliases, "nvidia", 80, 3350, 67, 989, "NVIDIA H100 datasheet (SXM5)"},
    {"H100-MEGA", no_aliases, "nvidia", 80, 3350, 67, 989,
     "NVIDIA H100 datasheet (SXM5); GCP a3-megagpu"},
    {"H100-NVL", no_aliases, "nvidia", 94, 3900, 60, 835, "NVIDIA H100 NVL datasheet"},
    /* NVIDIA data centre: Ampere */
    {"A100", a100_aliases, "nvidia", 40, 1555, 19.5, 312, "NVIDIA A100 datasheet (40GB SXM)"},
    {"A100-80GB", a100_80_aliases, "nvidia", 80, 2039, 19.5, 312,
     "NVIDIA A100 datasheet (80GB SXM)"},
    {"A800", no_aliases, "nvidia", 80, 1935, 19.5, 312, "NVIDIA A800 datasheet (80GB PCIe)"},
    {"A40", no_aliases, "nvidia", 48, 696, 37.4, 149.7, "NVIDIA A40 datasheet"},
    {"A30", no_aliases, "nvidia", 24, 933, 10.3, 165, "NVIDIA A30 datasheet"},
    {"A10", no_aliases, "nvidia", 24, 600, 31.2, 125, "NVIDIA A10 datasheet"},
    {"A10G", no_aliases, "nvidia", 24, 600, 31.2, 70,
     "AWS EC2 G5 (A10G) specs; BF16 dense approx."},
    /* NVIDIA data centre: Ada, Turing, Volta, Pascal, Maxwell, Kepler */
    {"L40S", no_aliases, "nvidia", 48, 864, 91.6, 362, "NVIDIA L40S datasheet"},
    {"L40", no_aliases, "nvidia", 48, 864, 90.5, 181, "NVIDIA L40 datasheet"},
    {"L4", no_aliases, "nvidia", 24, 300, 30.3, 121, "NVIDIA L4 datasheet"},
    {"T4", no_aliases, "nvidia", 16, 320, 8.1, 0, "NVIDIA T4 datasheet"},
    {"T4g", no_aliases, "nvidia", 16, 320, 8.1, 0,
     "NVIDIA T4 datasheet (T4G: same chip, AWS Graviton g5g hosts)"},
    {"V100", v100_aliases, "nvidia", 16, 900, 15.7, 0, "NVIDIA V100 datasheet (SXM2 16GB)"},
    {"V100-32GB", no_aliases, "nvidia", 32, 900, 15.7, 0, "NVIDIA V100 datasheet (SXM2 32GB)"},
    {"P100", no_aliases, "nvidia", 16, 732, 9.3, 0, "NVIDIA P100 datasheet (PCIe 16GB)"},
    {"P4", no_aliases, "nvidia", 8, 192, 5.5, 0, "NVIDIA P4 datasheet"},
    {"M60", no_aliases, "nvidia", 8, 160, 4.8, 0, "NVIDIA M60 datasheet, per GPU (approx.)"},
    {"K80", no_aliases, "nvidia", 12, 240, 4.37, 0, "NVIDIA K80 datasheet, per GPU (approx.)"},
    {"K520", k520_aliases, "nvidia", 4, 160, 2.45, 0,
     "NVIDIA GRID K520 board specs, per GPU (approx.)"},
    /* NVIDIA workstation */
    {"RTXPRO6000S", rtxpro6000s_aliases, "nvidia", 96, 1597, 120, 500,
     "NVIDIA RTX PRO 6000 Blackwell Server Edition datasheet (approx.)"},
    {"RTXPRO6000WS", no_aliases, "nvidia", 96, 1792, 125, 500,
     "NVIDIA RTX PRO 6000 Blackwell Workstation Edition datasheet (approx.)"},
    {"RTX6000-Ada", rtx6000ada_aliases, "nvidia", 48, 960, 91.1, 364,
     "NVIDIA RTX 6000 Ada datasheet; BF16 approx."},
    {"RTX4000-Ada", no_aliases, "nvidia", 20, 360, 26.7, 82,
     "NVIDIA RTX 4000 Ada datasheet; BF16 approx."},
    {"RTXA6000", rtxa6000_aliases, "nvidia", 48, 768, 38.7, 155,
     "NVIDIA RTX A6000 datasheet; BF16 approx."},
    {"RTXA5000", rtxa5000_aliases, "nvidia", 24, 768, 27.8, 111,
     "NVIDIA RTX A5000 datasheet; BF16 approx."},
    {"RTXA4500", rtxa4500_aliases, "nvidia", 20, 640, 23.7, 95,
     "NVIDIA RTX A4500 datasheet; BF16 approx."},
    {"RTXA4000", rtxa4000_aliases, "nvidia", 16, 448, 19.2, 77,
     "NVIDIA RTX A4000 datasheet; BF16 approx."},
    {"RTX8000", no_aliases, "nvidia", 48, 672, 16.3, 0, "NVIDIA Quadro RTX 8000 datasheet"},
    {"RTX6000", no_aliases, "nvidia", 24, 672, 16.3, 0,
     "NVIDIA Quadro RTX 6000 (Turing) datasheet"},
    {"P4000", no_aliases, "nvidia", 8, 243, 5.3, 0, "NVIDIA Quadro P4000 datasheet"},
    {"M4000", no_aliases, "nvidia", 8, 192, 2.6, 0, "NVIDIA Quadro M4000 datasheet"},
    /* NVIDIA GeForce */
    {"RTX5090", no_aliases, "nvidia", 32, 1792, 104.8, 209.5,
     "NVIDIA RTX Blackwell whitepaper (RTX 5090); BF16 approx."},
    {"RTX5060", no_aliases, "nvidia", 8, 448, 19.2, 38, "NVIDIA RTX 5060 specs (approx.)"},
    {"RTX4090", no_aliases, "nvidia", 24, 1008, 82.6, 165.2, "NVIDIA Ada whitepaper (RTX 4090)"},
    {"RTX3090", no_aliases, "nvidia", 24, 936, 35.6, 71, "NVIDIA Ampere GA102 whitepaper"},
    {"RTX3080", no_aliases, "nvidia", 10, 760, 29.8, 59.5, "NVIDIA Ampere GA102 whitepaper"},
    {"RTX3070", no_aliases, "nvidia", 8, 448, 20.3, 40.6, "NVIDIA RTX 3070 specs (approx.)"},
    {"RTX3060", no_aliases, "nvidia", 12, 360, 12.7, 25.4, "NVIDIA RTX 3060 specs (approx.)"},
    {"GTX1660S", no_aliases, "nvidia", 6, 336, 5.0, 0, "NVIDIA GTX 1660 SUPER specs"},
    /* AMD */
    {"MI300X", no_aliases, "amd", 192, 5300, 163.4, 1307.4, "AMD Instinct MI300X datasheet"},
    {"Radeon MI25", mi25_aliases, "amd", 16, 484, 12.3, 0, "AMD Radeon Instinct MI25 datasheet"},
    {"Radeon Pro V520", v520_aliases, "amd", 8, 512, 7.4, 0, "AMD Radeon Pro V520 specs (approx.)"},
    /* Intel */
    {"Gaudi HL-205", gaudi_aliases, "intel", 32, 1000, 0, 0,
     "Habana Gaudi HL-205 specs; no FLOPS peaks published (0 = unknown)"},
};

#define NMODELS (sizeof models / sizeof models[0])

const struct core_gpu_model *core_gpu_models(size_t *n)
{
    if (n != NULL)
        *n = NMODELS;
    return models;
}

const struct core_gpu_model *core_gpu_model_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < NMODELS; i++) {
        if (strcasecmp(models[i].name, name) == 0)
            return &models[i];
        for (const char *const *a = models[i].aliases; *a != NULL; a++) {
            if (strcasecmp(*a, name) == 0)
                return &models[i];
        }
    }
    return NULL;
}
