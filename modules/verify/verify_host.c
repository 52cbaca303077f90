/*
 * The host logic both verify backends share, pure C: names, fault names, memory-test patterns
 * and their comparison, bandwidth arithmetic, FMA and GEMM verdicts, the model a driver's
 * device name means, and the thresholds (fractions of core/gpu_models figures).
 */
#include "modules/verify/verify.h"

#include <ctype.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "core/gpu_models.h"
#include "modules/verify/verify_formulas.h"

static const char *const check_names[VERIFY_NCHECKS] = {
    "inventory", "memory",         "memory_bandwidth", "compute_fma",
    "gemm",      "host_bandwidth", "peer_bandwidth",   "health",
};

const char *verify_check_name(enum verify_check c)
{
    return (unsigned)c < VERIFY_NCHECKS ? check_names[c] : "?";
}

const char *verify_status_name(enum verify_status s)
{
    switch (s) {
    case VERIFY_PASS:
        return "pass";
    case VERIFY_WARN:
        return "warn";
    case VERIFY_FAIL:
        return "fail";
    case VERIFY_SKIP:
        return "skip";
    }
    return "?";
}

static const char *const fault_names[VERIFY_NFAULTS] = {
    "mem_bitflip", "gemm_corrupt", "nan", "slow_bw", "hide_gpu", "nvml_ecc", "xid",
};

int verify_fault_parse(const char *name, unsigned *bit)
{
    for (unsigned i = 0; i < VERIFY_NFAULTS; i++) {
        if (!strcmp(name, fault_names[i])) {
            *bit = 1u << i;
            return 0;
        }
    }
    return -1;
}

const char *verify_fault_name(unsigned bit)
{
    for (unsigned i = 0; i < VERIFY_NFAULTS; i++)
        if (bit == 1u << i)
            return fault_names[i];
    return NULL;
}

/* ---- memory-test patterns ---- */

const char *verify_pattern_name(enum verify_pattern p)
{
    static const char *const names[VERIFY_NPATTERNS] = {
        "walking_ones", "0x00", "0xff", "0xaa", "0x55", "own_address", "random",
    };
    return (unsigned)p < VERIFY_NPATTERNS ? names[p] : "?";
}

uint32_t verify_pattern_word(enum verify_pattern p, uint32_t seed, uint64_t i)
{
    return vf_pattern_word((int)p, seed, i);
}

/* quick: the four DCGM constants as moving inversions, own address, one random seed. full adds
 * eight walking-ones shifts and three more random seeds (cuda_memtest tests 0-4 and 7). */
static const struct verify_mem_pass quick_passes[] = {
    {VERIFY_PAT_ZEROS, 0}, {VERIFY_PAT_ONES, 0},        {VERIFY_PAT_AA, 0},
    {VERIFY_PAT_55, 0},    {VERIFY_PAT_OWN_ADDRESS, 0}, {VERIFY_PAT_RANDOM, 1},
};
static const struct verify_mem_pass full_passes[] = {
    {VERIFY_PAT_ZEROS, 0},
    {VERIFY_PAT_ONES, 0},
    {VERIFY_PAT_AA, 0},
    {VERIFY_PAT_55, 0},
    {VERIFY_PAT_OWN_ADDRESS, 0},
    {VERIFY_PAT_RANDOM, 1},
    {VERIFY_PAT_WALKING_ONES, 0},
    {VERIFY_PAT_WALKING_ONES, 4},
    {VERIFY_PAT_WALKING_ONES, 8},
    {VERIFY_PAT_WALKING_ONES, 12},
    {VERIFY_PAT_WALKING_ONES, 16},
    {VERIFY_PAT_WALKING_ONES, 20},
    {VERIFY_PAT_WALKING_ONES, 24},
    {VERIFY_PAT_WALKING_ONES, 28},
    {VERIFY_PAT_RANDOM, 2},
    {VERIFY_PAT_RANDOM, 3},
    {VERIFY_PAT_RANDOM, 4},
};

const struct verify_mem_pass *verify_mem_passes(enum verify_level level, size_t *n)
{
    if (level == VERIFY_FULL) {
        *n = sizeof(full_passes) / sizeof(full_passes[0]);
        return full_passes;
    }
    *n = sizeof(quick_passes) / sizeof(quick_passes[0]);
    return quick_passes;
}

const char *verify_mismatch_kind(const struct verify_mismatch *m)
{
    if (m->reread == m->got)
        return "stuck";
    if (m->reread == m->expected)
        return "transient";
    return "unstable";
}

void verify_pattern_fill(uint32_t *buf, size_t n, uint64_t base, enum verify_pattern p,
                         uint32_t seed, bool invert)
{
    uint32_t x = invert ? 0xFFFFFFFFu : 0;
    for (size_t i = 0; i < n; i++)
        buf[i] = vf_pattern_word((int)p, seed, base + i) ^ x;
}

void verify_mem_record(struct verify_mem_result *r, const struct verify_mismatch *m)
{
    if (r->nrecorded < VERIFY_MAX_MISMATCH)
        r->first[r->nrecorded++] = *m;
}

uint64_t verify_pattern_check(uint32_t *buf, size_t n, uint64_t base, enum verify_pattern p,
                              uint32_t seed, bool invert, bool then_invert,
                              struct verify_mem_result *r, const uint32_t *read_fault,
                              uint64_t read_fault_index)
{
    volatile uint32_t *v = buf;
    uint32_t x = invert ? 0xFFFFFFFFu : 0;
    uint64_t found = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t want = vf_pattern_word((int)p, seed, base + i) ^ x;
        uint32_t got = v[i];
        if (read_fault && base + i == read_fault_index)
            got ^= *read_fault;
        if (got != want) {
            struct verify_mismatch m = {
                .offset = (base + i) * 4u,
                .expected = want,
                .got = got,
                .reread = v[i],
                .pattern = p,
                .inverted = invert,
            };
            verify_mem_record(r, &m);
            found++;
        }
        if (then_invert)
            v[i] = ~want;
    }
    r->mismatches += found;
    r->words_checked += n;
    return found;
}

/* ---- bandwidth ---- */

double verify_gbs(uint64_t bytes_read, uint64_t bytes_written, double seconds)
{
    if (!(seconds > 0))
        return 0;
    return (double)(bytes_read + bytes_written) / seconds / 1e9;
}

double verify_best_seconds(const double *t, size_t n)
{
    double best = 0;
    for (size_t i = 0; i < n; i++)
        if (t[i] > 0 && (best == 0 || t[i] < best))
            best = t[i];
    return best;
}

/* ---- FMA ---- */

float verify_fma_seed(uint64_t lane)
{
    return vf_fma_seed(lane);
}

float verify_fma_reference(uint64_t lane, uint64_t iters)
{
    float x = vf_fma_seed(lane);
    for (uint64_t i = 0; i < iters; i++)
        x = fmaf(x, VERIFY_FMA_A, VERIFY_FMA_B);
    return x;
}

static bool same_bits(float a, float b)
{
    uint32_t x, y;
    memcpy(&x, &a, sizeof(x));
    memcpy(&y, &b, sizeof(y));
    return x == y;
}

void verify_fma_check(const float *out, uint64_t lanes, uint64_t iters, struct verify_fma_result *r)
{
    float ref[VERIFY_FMA_PERIOD];
    uint64_t nref = lanes < VERIFY_FMA_PERIOD ? lanes : VERIFY_FMA_PERIOD;
    for (uint64_t l = 0; l < nref; l++)
        ref[l] = verify_fma_reference(l, iters);
    r->lanes = lanes;
    r->iters = iters;
    r->wrong = r->nans = 0;
    r->first_bad = -1;
    for (uint64_t l = 0; l < lanes; l++) {
        float want = ref[l % VERIFY_FMA_PERIOD];
        bool nan = isnan(out[l]);
        if (nan)
            r->nans++;
        else if (!same_bits(out[l], want))
            r->wrong++;
        else
            continue;
        if (r->first_bad < 0) {
            r->first_bad = (int64_t)l;
            r->got = out[l];
            r->want = want;
        }
    }
}

/* ---- GEMM ---- */

float verify_input_value(uint32_t seed, uint64_t i)
{
    return vf_input_value(seed, i);
}

int64_t verify_first_bitwise_diff(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!same_bits(a[i], b[i]))
            return (int64_t)i;
    return -1;
}

int64_t verify_gemm_sample_check(const float *A, const float *B, const float *C, int m, int n,
                                 int k, size_t samples, uint32_t seed, double rtol, double *got,
                                 double *want)
{
    size_t total = (size_t)m * (size_t)n;
    for (size_t s = 0; s < samples && total > 0; s++) {
        /* the first sample is element 0 and the last the final element; the rest hashed */
        size_t idx = s == 0 ? 0 : s == 1 ? total - 1 : vf_hash32(seed ^ 0x5eedu, s) % total;
        size_t i = idx / (size_t)n, j = idx % (size_t)n;
        double sum = 0, mag = 0;
        for (int p = 0; p < k; p++) {
            double t = (double)A[i * (size_t)k + (size_t)p] * (double)B[(size_t)p * n + j];
            sum += t;
            mag += fabs(t);
        }
        double c = C[idx];
        if (isnan(c) || fabs(c - sum) > rtol * mag + 1e-30) {
            *got = c;
            *want = sum;
            return (int64_t)idx;
        }
    }
    return -1;
}

double verify_gemm_rtol(const char *precision)
{
    if (precision && !strcmp(precision, "tf32"))
        return 2e-3;
    if (precision && !strcmp(precision, "bf16"))
        return 1e-3;
    return 1e-5;
}

/* ---- health ---- */

void verify_health_init(struct verify_health *h)
{
    memset(h, 0, sizeof(*h));
    h->ecc_uncorrected = h->ecc_corrected = h->retired_pages = h->retired_pending = -1;
    h->remap_pending = h->remap_failed = h->remap_uncorrectable = -1;
    h->throttle_reasons = h->xid_events = -1;
}

/* ---- models ---- */

/* True when `word` is a whole token of `s` (tokens split on spaces, '-' and '_'). */
static bool has_token(const char *s, const char *word, size_t wlen)
{
    for (const char *p = s; (p = strcasestr(p, word)) != NULL; p++) {
        bool start = p == s || strchr(" -_", p[-1]);
        char end = p[wlen];
        if (start && (end == 0 || strchr(" -_", end)))
            return true;
    }
    return false;
}

const struct core_gpu_model *verify_model_from_name(const char *device_name, uint64_t memory_bytes)
{
    size_t n;
    const struct core_gpu_model *m = core_gpu_models(&n), *best = NULL;
    double best_gap = 0;
    for (size_t i = 0; i < n; i++) {
        /* the family is the name up to its first '-': "A100-80GB" -> "A100" */
        char family[32];
        size_t flen = strcspn(m[i].name, "-");
        if (flen >= sizeof(family))
            continue;
        memcpy(family, m[i].name, flen);
        family[flen] = 0;
        if (!has_token(device_name, family, flen))
            continue;
        double gap = fabs((double)m[i].memory_gb - (double)memory_bytes / 1e9);
        if (!best || gap < best_gap) {
            best = &m[i];
            best_gap = gap;
        }
    }
    return best;
}

/* ---- thresholds (docs/verify.md gives each its source) ---- */

struct verify_threshold verify_threshold_for(enum verify_check c, const char *backend)
{
    bool cuda = backend && !strcmp(backend, "cuda");
    struct verify_threshold none = {0, 0};
    switch (c) {
    case VERIFY_CHECK_MEM_BANDWIDTH:
        /* cuda: of the datasheet bandwidth; cpu: of libc memcpy in the same run */
        return cuda ? (struct verify_threshold){0.70, 0.80} : (struct verify_threshold){0.5, 0.7};
    case VERIFY_CHECK_COMPUTE:
        return cuda ? (struct verify_threshold){0.70, 0.85} : none;
    case VERIFY_CHECK_GEMM:
        return cuda ? (struct verify_threshold){0, 0.5} : none;
    case VERIFY_CHECK_HOST_BANDWIDTH:
        return cuda ? (struct verify_threshold){0.65, 0.75} : none;
    default:
        return none;
    }
}

enum verify_status verify_rate_status(double measured, double expected, struct verify_threshold t)
{
    if (!(expected > 0) || (t.fail <= 0 && t.warn <= 0))
        return VERIFY_PASS;
    if (isnan(measured) || measured < t.fail * expected)
        return VERIFY_FAIL;
    if (measured < t.warn * expected)
        return VERIFY_WARN;
    return VERIFY_PASS;
}

/* Against a calibrated baseline: fail below 0.85 x the healthy median, warn below 0.90 (the
 * research proposal's rule for SKUs without a trusted figure, and its node-median warning).
 * GEMM stays warn-only (unwarmed tensor cores). The CPU reference keeps its loose 0.5/0.7 on
 * memory bandwidth alone: a shared host's numbers move between runs. */
struct verify_threshold verify_baseline_threshold_for(enum verify_check c, const char *backend)
{
    bool cuda = backend && !strcmp(backend, "cuda");
    struct verify_threshold none = {0, 0}, rate = {0.85, 0.90};
    switch (c) {
    case VERIFY_CHECK_MEM_BANDWIDTH:
        return cuda ? rate : (struct verify_threshold){0.5, 0.7};
    case VERIFY_CHECK_COMPUTE:
    case VERIFY_CHECK_HOST_BANDWIDTH:
    case VERIFY_CHECK_PEER_BANDWIDTH:
        return cuda ? rate : none;
    case VERIFY_CHECK_GEMM:
        return cuda ? (struct verify_threshold){0, 0.85} : none;
    default:
        return none;
    }
}

const char *verify_source_name(enum verify_source s)
{
    switch (s) {
    case VERIFY_SOURCE_NONE:
        return "";
    case VERIFY_SOURCE_DATASHEET:
        return "datasheet";
    case VERIFY_SOURCE_SAME_RUN:
        return "same run";
    case VERIFY_SOURCE_INSTANCE_TYPE:
        return "instance type";
    case VERIFY_SOURCE_BASELINE:
        return "baseline";
    }
    return "?";
}

unsigned verify_faults_for(const struct verify_options *opts, int gpu)
{
    if (gpu < 0 || opts->fault_gpus == 0)
        return opts->faults;
    if (gpu < 32 && (opts->fault_gpus & (1u << gpu)))
        return opts->faults;
    return 0;
}
