/*
 * GPU node verification: the check model, per-GPU results, levels, fault injection, the
 * host logic both backends share (memory-test patterns and comparison, bandwidth
 * arithmetic, GEMM and FMA verdicts, thresholds from core/gpu_models), the report, and the
 * const vtable a verify backend fills in: the CUDA backend (modules/verify/cuda/) and the
 * CPU reference backend, which runs the same host logic against host memory so CI without
 * a GPU exercises it. docs/verify.md documents the checks, thresholds and JSON.
 */
#ifndef GPUFORM_MODULES_VERIFY_H
#define GPUFORM_MODULES_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct core_gpu_model;

/* ---- the checks ---- */

enum verify_check {
    VERIFY_CHECK_INVENTORY,      /* count, model, memory vs what the instance type promises */
    VERIFY_CHECK_MEMORY,         /* memory integrity: write/verify patterns */
    VERIFY_CHECK_MEM_BANDWIDTH,  /* copy and triad, best of N, bytes read + written */
    VERIFY_CHECK_COMPUTE,        /* FP32 FMA chains: exact results, no NaN, rate vs peak */
    VERIFY_CHECK_GEMM,           /* repeated GEMM bit-identical + sampled CPU check, rate */
    VERIFY_CHECK_HOST_BANDWIDTH, /* pinned host<->device copies */
    VERIFY_CHECK_PEER_BANDWIDTH, /* GPU<->GPU copies on multi-GPU nodes */
    VERIFY_CHECK_HEALTH, /* NVML counters (ECC, retired pages, row remap, throttling), XIDs */
    VERIFY_NCHECKS
};

/* "inventory", "memory", "memory_bandwidth", "compute_fma", "gemm", "host_bandwidth",
 * "peer_bandwidth", "health"; static storage. */
const char *verify_check_name(enum verify_check c);

enum verify_status { VERIFY_PASS, VERIFY_WARN, VERIFY_FAIL, VERIFY_SKIP };

/* "pass", "warn", "fail", "skip"; static storage. */
const char *verify_status_name(enum verify_status s);

/* quick: the gate before a node takes work (< 15 s per node); full: onboarding (< 3 min). */
enum verify_level { VERIFY_QUICK, VERIFY_FULL };

/* ---- fault injection: compiled in, off unless asked for (a bit set in options.faults) ---- */

enum verify_fault {
    VERIFY_FAULT_MEM_BITFLIP = 1u << 0,  /* flip one stored bit between write and verify */
    VERIFY_FAULT_GEMM_CORRUPT = 1u << 1, /* one wrong element in one GEMM repetition */
    VERIFY_FAULT_NAN = 1u << 2,          /* a NaN input to the FMA chains */
    VERIFY_FAULT_SLOW_BW = 1u << 3,      /* bandwidth timings x VERIFY_SLOW_BW_FACTOR */
    VERIFY_FAULT_HIDE_GPU = 1u << 4,     /* the last device is left out of the inventory */
    VERIFY_FAULT_NVML_ECC = 1u << 5,     /* fake counters: uncorrectable ECC, remap pending */
    VERIFY_FAULT_XID = 1u << 6,          /* a fake XID 79 line in the device's kernel log */
};
#define VERIFY_NFAULTS 7
/* The fault names, for usage and error messages (verify_fault_parse's table). */
#define VERIFY_FAULT_NAMES "mem_bitflip, gemm_corrupt, nan, slow_bw, hide_gpu, nvml_ecc, xid"
/* The kernel log line the xid fault lays on a device, formatted with its PCI bus id. */
#define VERIFY_XID_FAULT_XID  79
#define VERIFY_SLOW_BW_FACTOR 10.0
/* Where the faults land, the same on every backend, so tests can name the element: */
#define VERIFY_BITFLIP_WORD(nwords)  ((nwords) / 3) /* word of the tested region */
#define VERIFY_BITFLIP_MASK          0x00000020u    /* the bit flipped in it */
#define VERIFY_BITFLIP_PASS          2              /* in this pass (0xAA), after the write */
#define VERIFY_GEMM_CORRUPT_INDEX(n) ((int64_t)(n) * (n) / 2 + 3) /* in the last repetition */
#define VERIFY_NAN_LANE              7                            /* the FMA lane seeded with NaN */

/* The fault called `name` ("mem_bitflip", ...): 0 with *bit set, or -1 when unknown. */
int verify_fault_parse(const char *name, unsigned *bit);

/* The name of one fault bit; NULL when `bit` is not exactly one known fault. */
const char *verify_fault_name(unsigned bit);

struct verify_options;

/* The faults that land on device `gpu`: opts->faults when opts->fault_gpus is 0 or has bit
 * `gpu`, else 0. `gpu` -1 (the node: hide_gpu) always gets opts->faults. */
unsigned verify_faults_for(const struct verify_options *opts, int gpu);

/* ---- memory-test patterns (identical formulas in the CUDA kernels) ---- */

enum verify_pattern {
    VERIFY_PAT_WALKING_ONES, /* word i = 1 << ((i + seed) % 32) */
    VERIFY_PAT_ZEROS,        /* 0x00000000, then its inversion */
    VERIFY_PAT_ONES,         /* 0xFFFFFFFF, then its inversion */
    VERIFY_PAT_AA,           /* 0xAAAAAAAA, then its inversion */
    VERIFY_PAT_55,           /* 0x55555555, then its inversion */
    VERIFY_PAT_OWN_ADDRESS,  /* word i = low 32 bits of i xor high 32 bits of i */
    VERIFY_PAT_RANDOM,       /* word i = a counter-based hash of (seed, i) */
    VERIFY_NPATTERNS
};

/* "walking_ones", "0x00", "0xff", "0xaa", "0x55", "own_address", "random". */
const char *verify_pattern_name(enum verify_pattern p);

/* The word at index `i` (32-bit words from the start of the tested region). */
uint32_t verify_pattern_word(enum verify_pattern p, uint32_t seed, uint64_t i);

/* One pass of the memory test: a pattern and its seed (the shift for walking ones). */
struct verify_mem_pass {
    enum verify_pattern pattern;
    uint32_t seed;
};

/* The passes of a level, in order; static storage. *n gets the count. Each pass is a moving
 * inversion: write p, check p and write ~p, check ~p. */
const struct verify_mem_pass *verify_mem_passes(enum verify_level level, size_t *n);

#define VERIFY_MAX_MISMATCH 10

/* One mismatching word: where, what was written, what the check read, and a second read. */
struct verify_mismatch {
    uint64_t offset; /* byte offset from the start of the tested region */
    uint32_t expected;
    uint32_t got;
    uint32_t reread;
    enum verify_pattern pattern;
    bool inverted; /* the mismatch was in the inverted half of the pass */
};

/* "stuck" when the second read agrees with the first (the stored word is wrong: a flipped or
 * stuck cell), "transient" when it reads the expected value (a read or transfer error), and
 * "unstable" when it reads neither. */
const char *verify_mismatch_kind(const struct verify_mismatch *m);

struct verify_mem_result {
    uint64_t bytes; /* bytes of the tested region */
    uint64_t words_checked;
    uint64_t mismatches; /* every mismatching word, counted */
    size_t nrecorded;    /* how many of first[] are set (at most VERIFY_MAX_MISMATCH) */
    struct verify_mismatch first[VERIFY_MAX_MISMATCH];
    int passes;     /* passes run */
    bool ecc_error; /* the device reported an uncorrectable ECC error during the test */
};

/* Fills words [0, n) of `buf`, the region's words [base, base + n), with the pattern (its
 * complement when `invert`). */
void verify_pattern_fill(uint32_t *buf, size_t n, uint64_t base, enum verify_pattern p,
                         uint32_t seed, bool invert);

/*
 * Checks words [0, n) of `buf` (region words [base, base + n)) against the pattern (its
 * complement when `invert`), counting mismatches into `r` and recording the first ones with
 * a second read. When `then_invert`, each word is rewritten with its complement after its
 * check (the moving inversion). `read_fault`, when not NULL, is XORed into the first read of
 * word `read_fault_index` only: a simulated transient read error for the tests. Returns the
 * mismatches found by this call.
 */
uint64_t verify_pattern_check(uint32_t *buf, size_t n, uint64_t base, enum verify_pattern p,
                              uint32_t seed, bool invert, bool then_invert,
                              struct verify_mem_result *r, const uint32_t *read_fault,
                              uint64_t read_fault_index);

/* Merges one device-side (or chunk) record into `r`, keeping the first ones by order given. */
void verify_mem_record(struct verify_mem_result *r, const struct verify_mismatch *m);

/* ---- bandwidth arithmetic ---- */

/* Decimal GB/s for `bytes_read + bytes_written` moved in `seconds`; 0 when seconds <= 0. */
double verify_gbs(uint64_t bytes_read, uint64_t bytes_written, double seconds);

/* The shortest positive time of `n` (best of N); 0 when none is positive. */
double verify_best_seconds(const double *t, size_t n);

/* Copy moves 1 read + 1 write per element; triad (a = b + s * c) 2 reads + 1 write. */
#define VERIFY_COPY_RW  2
#define VERIFY_TRIAD_RW 3

struct verify_bw_result {
    uint64_t bytes;     /* bytes per buffer */
    int reps;           /* timed repetitions; the best is kept */
    double copy_gbs;    /* best copy, read + written bytes */
    double triad_gbs;   /* best triad, read + written bytes */
    double ceiling_gbs; /* the vendor path in the same run (cudaMemcpy D2D, libc memcpy) */
    double h2d_gbs;     /* host bandwidth check: host to device, pinned */
    double d2h_gbs;     /* host bandwidth check: device to host, pinned */
    int link_gen;       /* host bandwidth check: the PCIe link read while the copies ran */
    int link_width;     /*   (an idle GPU down-trains its link); 0 when unknown */
};

/* ---- compute: FP32 FMA chains ---- */

/* Lane l's chain: x = seed(l); iters times x = fmaf(x, VERIFY_FMA_A, VERIFY_FMA_B). The chain
 * converges, so no lane overflows; every lane with the same l % VERIFY_FMA_PERIOD ends on the
 * same value bit for bit, so VERIFY_FMA_PERIOD CPU references check every lane. */
#define VERIFY_FMA_A      0.999f
#define VERIFY_FMA_B      0.001f
#define VERIFY_FMA_PERIOD 256

float verify_fma_seed(uint64_t lane);

/* The value lane `lane` ends on after `iters` steps, computed with fmaf on the CPU. */
float verify_fma_reference(uint64_t lane, uint64_t iters);

struct verify_fma_result {
    uint64_t lanes;     /* independent chains */
    uint64_t iters;     /* FMAs per chain */
    double seconds;     /* best time */
    double tflops;      /* 2 * lanes * iters / seconds / 1e12 */
    double clock_ratio; /* sampled SM clock / boost clock, 1 when unknown (peak adjustment) */
    uint64_t wrong;     /* lanes whose result differs from the CPU reference bit for bit */
    uint64_t nans;      /* lanes that ended NaN */
    int64_t first_bad;  /* the first wrong or NaN lane, -1 when none */
    float got, want;    /* its value and the reference */
};

/* Checks `out[0..lanes)` against the CPU references; fills wrong/nans/first_bad/got/want. */
void verify_fma_check(const float *out, uint64_t lanes, uint64_t iters,
                      struct verify_fma_result *r);

/* ---- GEMM correctness (the gpu-burn way, plus a CPU check of sampled entries) ---- */

struct verify_gemm_result {
    int n;                 /* square size: C = A x B, row-major, n x n */
    int reps;              /* repetitions on identical inputs */
    const char *precision; /* "fp32", "tf32", "bf16" */
    double seconds;        /* best time of one GEMM */
    double tflops;         /* 2 n^3 / seconds / 1e12 */
    int64_t diff_index;    /* first element of a repetition that differs from repetition 0 */
    int diff_rep;          /* that repetition, -1 when all are bit-identical */
    size_t samples;        /* entries checked on the CPU */
    int64_t bad_index;     /* first sampled entry outside the tolerance, -1 when none */
    double bad_got, bad_want;
    uint64_t nans; /* NaN elements in repetition 0 */
};

/* The first index where a and b differ bit for bit (NaNs compare by bits), or -1. */
int64_t verify_first_bitwise_diff(const float *a, const float *b, size_t n);

/*
 * Checks `samples` entries of C = A x B (row-major, m x k times k x n), chosen from `seed`,
 * against a double-precision CPU sum. An entry is bad when |got - want| > rtol * sum|a*b| +
 * 1e-30 or it is NaN. Returns the index of the first bad entry (with got and want set), or -1.
 */
int64_t verify_gemm_sample_check(const float *A, const float *B, const float *C, int m, int n,
                                 int k, size_t samples, uint32_t seed, double rtol, double *got,
                                 double *want);

/* The relative tolerance (of sum|a*b|) for a precision: fp32 1e-5, tf32 2e-3, bf16 1e-3
 * (bf16 inputs are compared after the same rounding, so only accumulation differs). */
double verify_gemm_rtol(const char *precision);

/* Deterministic GEMM inputs: k / 128 for k in [-128, 128) from a counter hash of (seed, i),
 * exact in fp32, tf32 and bf16, so every precision multiplies the same numbers. */
float verify_input_value(uint32_t seed, uint64_t i);

/* ---- XID errors: the NVIDIA driver's error reports (docs/verify.md, "XID errors") ---- */

/* A PCI address down to the device. The driver's XID lines name no function, so the
 * function of a bus id ("0000:3b:00.0") is left out of the comparison. */
struct verify_pci {
    uint32_t domain;
    uint8_t bus, device;
};

/* Parses `len` bytes of `s` as a PCI address: DOMAIN:BUS:DEVICE[.FUNCTION] with a domain of
 * 1 to 8 hex digits ("0000:3b:00", "00000000:3B:00.0", NVML's form), or BUS:DEVICE[.FUNCTION]
 * (domain 0); hex in either case. 0 and *out, or -1 when it is anything else. */
int verify_pci_parse(const char *s, size_t len, struct verify_pci *out);

/* True when a and b are the same domain, bus and device. */
bool verify_pci_equal(const struct verify_pci *a, const struct verify_pci *b);

enum verify_xid_class { VERIFY_XID_IGNORE, VERIFY_XID_WARN, VERIFY_XID_FAIL };
enum verify_xid_source {
    VERIFY_XID_KERNEL_LOG, /* logged since boot ("NVRM: Xid (PCI:...): N, ...") */
    VERIFY_XID_NVML_EVENT, /* an NVML event during the run */
};

/* "ignore", "warn", "fail"; "kernel_log", "nvml_event"; static storage. */
const char *verify_xid_class_name(enum verify_xid_class c);
const char *verify_xid_source_name(enum verify_xid_source s);

/* One XID report the driver logged, parsed. */
struct verify_xid_line {
    struct verify_pci pci;
    int xid;           /* 1..9999 */
    double boot_s;     /* seconds since boot from the record's timestamp, -1 unknown */
    char message[160]; /* the text after "N, ", pid= and name= fields left out, printable
                          ASCII (other bytes become '?'), truncated */
};

/*
 * Parses one kernel log record: a /dev/kmsg record ("PRI,SEQ,TS_USEC,FLAGS;MESSAGE"), a
 * dmesg line ("[  123.456789] MESSAGE"), a syslog line, or the bare message. Reads `len`
 * bytes of `line` (no NUL needed; stops at the first newline). Returns 1 and fills *out when
 * the message is an XID report, "NVRM: Xid (PCI:0000:3b:00): 79, pid=1234, name=python, GPU
 * has fallen off the bus." or the older "NVRM: Xid (0000:03:00): 14, Channel 00000001";
 * 0 for anything else (other NVRM lines, garbage, a line cut before the XID number).
 */
int verify_xid_parse_line(const char *line, size_t len, struct verify_xid_line *out);

/* The class of XID `xid` found in the kernel log since boot, with its logged `message`
 * (XID 154 is ignored when its recovery action changed to none): the research proposal's
 * quick-suite sets (docs/verify.md "Thresholds and their sources"); an unknown XID warns. */
enum verify_xid_class verify_xid_classify(int xid, const char *message);

/* The class of an XID raised during the run (an NVML event): fail, except the application
 * XIDs that k8s-device-plugin ignores (13, 31, 43, 45, 68, 109), which warn. */
enum verify_xid_class verify_xid_classify_event(int xid);

/* A short name for `xid` ("GPU has fallen off the bus"), NULL when the table lacks it. */
const char *verify_xid_name(int xid);

/* The XIDs of one device, one entry per (source, xid). */
struct verify_xid {
    int xid;
    enum verify_xid_source source;
    enum verify_xid_class cls;
    uint32_t count;    /* occurrences */
    double boot_s;     /* the first one's seconds since boot, -1 unknown */
    char message[160]; /* the first one's message */
};
#define VERIFY_MAX_XIDS 16

/* ---- the kernel log's XID reports, read once per run ---- */

#define VERIFY_KLOG_MAX 256 /* distinct (device, XID) pairs kept; more are counted */

struct verify_health;

struct verify_kernel_xid {
    struct verify_xid_line first; /* the first report of this XID on this device */
    uint32_t count;               /* how many there were */
};

struct verify_kernel_log {
    struct verify_kernel_xid *entries; /* owned, entries[0..n) */
    size_t n, cap;
    uint32_t dropped; /* reports of pairs past VERIFY_KLOG_MAX */
    bool read;        /* false: not read (a note says why, or the backend does not read it) */
    char note[200];   /* why it could not be read, "" otherwise */
};

void verify_kernel_log_init(struct verify_kernel_log *log);
void verify_kernel_log_release(struct verify_kernel_log *log);

/* Adds one parsed report (counted into its device and XID's entry). -1 when out of memory. */
int verify_kernel_log_add(struct verify_kernel_log *log, const struct verify_xid_line *l);

/*
 * Reads the XID reports in the kernel log since boot from `path`: /dev/kmsg (a character
 * device: one record per read(), non-blocking, until EAGAIN) or a file of the same records
 * or dmesg lines (GPUFORM_KMSG in tests). Never fails the run: a log that cannot be read
 * leaves log->read false and says why in log->note ("kernel log unreadable (needs root or
 * kernel.dmesg_restrict=0)" for EPERM/EACCES). Only the first 8 KiB of a longer line is
 * parsed.
 */
void verify_kernel_log_read(struct verify_kernel_log *log, const char *path);

/* The path a backend reads: $GPUFORM_KMSG when set and not empty, else "/dev/kmsg". */
const char *verify_kernel_log_path(void);

/* Adds to `h` the XIDs `log` holds for the device at PCI bus id `bus_id` (kernel_log
 * source). Returns how many distinct XIDs matched; 0 when bus_id does not parse. */
size_t verify_kernel_log_apply(const struct verify_kernel_log *log, const char *bus_id,
                               struct verify_health *h);

/* The xid fault: parses a fake kernel log line, XID 79 "GPU has fallen off the bus" on the
 * device at `bus_id`, into `h` as if the log held it. -1 when bus_id does not parse. */
int verify_inject_xid(const char *bus_id, struct verify_health *h);

/* ---- health counters (NVML, or faked) ---- */

/* Each counter is -1 when the device or driver does not report it. */
struct verify_health {
    bool from_nvml;              /* false: the counters are faked (CPU reference, tests) */
    int64_t ecc_uncorrected;     /* volatile uncorrected ECC errors */
    int64_t ecc_corrected;       /* volatile corrected ECC errors */
    int64_t retired_pages;       /* retired pages, SBE + DBE (<= Volta) */
    int64_t retired_pending;     /* 1 when a page retirement is pending */
    int64_t remap_pending;       /* 1 when a row remap is pending (>= Ampere) */
    int64_t remap_failed;        /* 1 when a row remap failed */
    int64_t remap_uncorrectable; /* rows remapped for uncorrectable errors */
    int64_t throttle_reasons;    /* nvmlClocksEventReasons bit mask */
    int64_t xid_events;          /* XID events (NVML) during the run, -1 when not watched */
    size_t nxids;                /* entries of xids[] */
    struct verify_xid xids[VERIFY_MAX_XIDS]; /* from the kernel log and NVML events */
    uint32_t xids_dropped;                   /* distinct XIDs past VERIFY_MAX_XIDS, counted only */
    char note[256]; /* why counters are missing ("; ..." each), "" otherwise */
};

void verify_health_init(struct verify_health *h);

/* Adds one XID occurrence to h->xids: counted into its (source, xid) entry when there is
 * one, else a new entry classified by source (kernel log: verify_xid_classify; NVML event:
 * verify_xid_classify_event), or counted in xids_dropped when full. */
void verify_health_add_xid(struct verify_health *h, enum verify_xid_source source, int xid,
                           double boot_s, const char *message, uint32_t count);

/* Appends "; TEXT" to h->note (truncated when full). */
void verify_health_note(struct verify_health *h, const char *text);

/* Throttle bits that fail a node: HW slowdown, SW thermal, HW thermal, HW power brake. */
#define VERIFY_THROTTLE_FAIL_MASK 0x00000000000000E8ll

/* ---- inventory ---- */

#define VERIFY_MAX_GPUS 16

struct verify_device {
    int index;
    char name[256];                     /* as the driver names it ("NVIDIA H100 80GB HBM3") */
    const struct core_gpu_model *model; /* matched model, NULL when unknown */
    uint64_t memory_bytes;              /* total device memory */
    uint64_t free_bytes;                /* free at the start */
    int cc_major, cc_minor;             /* compute capability, 0 when not a GPU */
    int ecc_enabled;                    /* 1, 0, or -1 unknown */
    int pcie_gen, pcie_width;           /* current link, 0 unknown */
    int pcie_max_gen, pcie_max_width;   /* maximum link, 0 unknown */
    int driver_cuda, runtime_cuda;      /* CUDA versions (13000 = 13.0), 0 unknown */
    char pci_bus_id[32]; /* "0000:3b:00.0" (CUDA), "0000:01:00.0" for the CPU reference's
                            device 0 (bus = index + 1), "" unknown: XIDs are matched on it */
};

/* The model a driver's device name means ("NVIDIA H100 80GB HBM3" -> H100), or NULL. */
const struct core_gpu_model *verify_model_from_name(const char *device_name, uint64_t memory_bytes);

/* ---- thresholds: fractions of per-model expected values (docs/verify.md, with sources) ---- */

struct verify_threshold {
    double fail; /* below fail * expected: fail */
    double warn; /* below warn * expected: warn */
};

/* The threshold of a check's rate for a backend ("cuda" or "cpu"); {0, 0} when the check has
 * no rate gate. */
struct verify_threshold verify_threshold_for(enum verify_check c, const char *backend);

/* The threshold of a check's rate against a calibrated baseline's median (fractions of it, the
 * research proposal's 0.85 x the healthy median); {0, 0} when not gated. */
struct verify_threshold verify_baseline_threshold_for(enum verify_check c, const char *backend);

/* Where an expected value came from. */
enum verify_source {
    VERIFY_SOURCE_NONE,          /* no expected value */
    VERIFY_SOURCE_DATASHEET,     /* core/gpu_models.c, or the PCIe spec rate of the link */
    VERIFY_SOURCE_SAME_RUN,      /* measured in the same run (the CPU reference's memcpy) */
    VERIFY_SOURCE_INSTANCE_TYPE, /* the catalog's GPU count for --instance-type */
    VERIFY_SOURCE_BASELINE,      /* a calibrated baseline (verify_report.baseline names it) */
};

/* "", "datasheet", "same run", "instance type", "baseline"; static storage. */
const char *verify_source_name(enum verify_source s);

/* pass/warn/fail of measured against expected with threshold t; pass (not gated) when expected
 * <= 0 or t is {0, 0}. */
enum verify_status verify_rate_status(double measured, double expected, struct verify_threshold t);

/* ---- options, results, report ---- */

struct verify_baseline; /* a loaded calibration baseline (verify_baseline_load) */

struct verify_options {
    enum verify_level level;
    unsigned faults;            /* enum verify_fault bits */
    int expected_gpus;          /* GPUs the instance type promises; 0: not checked */
    const char *expected_model; /* canonical model name the instance type promises, or NULL */
    uint64_t mem_bytes;         /* CPU reference: bytes per device (0: 64 MiB quick, 256 full);
                                   CUDA: 0 means 90% of free memory */
    uint32_t seed;              /* the random pattern's and GEMM inputs' seed (0: 1) */
    int gemm_n;                 /* GEMM size (0: the backend's default) */
    int reps;                   /* timed repetitions, best kept (0: 5 quick, 20 full) */
    unsigned fault_gpus;        /* devices the faults land on, bit i for device i; 0: all */
    int devices;                /* CPU reference: devices to simulate (0: expected_gpus, or 1);
                                   the CUDA backend lists the real ones */
    bool serial;                /* check the devices one after another instead of one host
                                   thread per device (to compare numbers) */
    bool calibrating;           /* rates are measured and shown, not gated: --calibrate records
                                   what this node does; correctness still fails */
    const struct verify_baseline *baseline; /* expected rates from it, or NULL: datasheet */
};

struct verify_result {
    int gpu; /* device index, -1 for a node-level result (inventory count, peer bandwidth) */
    enum verify_check check;
    enum verify_status status;
    double measured;           /* in `unit`; 0 when the check has no number */
    double expected;           /* in `unit`; 0 when there is no expected value */
    double threshold;          /* fail below threshold * expected; 0 when not gated */
    const char *unit;          /* "GB/s", "TFLOP/s", "GPUs", "mismatches", "errors", "" */
    enum verify_source source; /* where `expected` came from */
    char message[384];
    void *details; /* a jansson json_t * owned by the result, or NULL */
};

struct verify_report {
    char backend[16];
    enum verify_level level;
    unsigned faults;
    int expected_gpus;
    size_t ndevices;
    struct verify_device devices[VERIFY_MAX_GPUS];
    struct verify_result *results;
    size_t nresults, cap;
    double seconds;                         /* wall time of the whole run */
    double device_seconds[VERIFY_MAX_GPUS]; /* wall time of each device's checks */
    double peer_seconds;                    /* wall time of the peer phase (after them) */
    bool parallel;                          /* the devices ran on one host thread each */
    char baseline[512];                     /* the baseline file's path, "" when none */
    char note[256];                         /* e.g. why the run fell back, "" otherwise */
    char request[40]; /* the re-verification request this run answers (its nonce, 32 hex
                       * digits; docs/verify.md "Verifying running nodes"), "" when none */
};

void verify_report_init(struct verify_report *r);
void verify_report_release(struct verify_report *r);

/* Appends a result (message printf-style) and returns it, NULL when out of memory. The
 * result owns `details` (a json_t *, may be NULL) from then on, even on failure. */
struct verify_result *verify_report_add(struct verify_report *r, int gpu, enum verify_check c,
                                        enum verify_status s, void *details, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* The first result for (gpu, check), or NULL. */
const struct verify_result *verify_report_find(const struct verify_report *r, int gpu,
                                               enum verify_check c);

/* True when any result failed. */
bool verify_report_failed(const struct verify_report *r);

/* The report as JSON text (docs/verify.md, "JSON"); the caller frees it. NULL on OOM. */
char *verify_report_json(const struct verify_report *r);

/* The report as a table, one line per GPU and check, then a summary line. */
void verify_report_print(const struct verify_report *r, FILE *out);

/* ---- backends ---- */

struct verify_ctx; /* a backend's own state */

/*
 * A verify backend. Every slot returns 0 or a negative code with a message in `err`
 * (lowercase, says what failed). A slot that cannot measure on this backend returns 1 and
 * says why in `err`: its check is reported as skip. `gpu` is an index into the devices the
 * backend listed. Faults in opts->faults are applied by the backend where they belong (the
 * bit flip in device memory, the slow timing, ...), so each one shows as its check's failure.
 */
struct verify_backend {
    const char *name; /* "cuda", "cpu" */

    /* 0 when this backend can run here; otherwise -1 and why (no nvcc at build time, no
     * driver, no GPU) in `why`. Cheap, no side effects beyond loading libraries. */
    int (*probe)(char *why, size_t n);

    /* Sets up the backend's state for one run (*out, freed with close). */
    int (*open)(const struct verify_options *opts, struct verify_ctx **out, char *err, size_t n);

    /* Lists the devices into out[0..max), their count in *n (hide_gpu applies here). */
    int (*devices)(struct verify_ctx *c, struct verify_device *out, size_t max, size_t *n,
                   char *err, size_t errn);

    /* The memory test: every pass of the level over the device's tested region. */
    int (*memtest)(struct verify_ctx *c, int gpu, struct verify_mem_result *r, char *err, size_t n);

    /* Copy and triad (and the vendor-path ceiling), best of opts->reps. */
    int (*mem_bandwidth)(struct verify_ctx *c, int gpu, struct verify_bw_result *r, char *err,
                         size_t n);

    /* FP32 FMA chains: results into r (checked against verify_fma_reference), rate. */
    int (*fma)(struct verify_ctx *c, int gpu, struct verify_fma_result *r, char *err, size_t n);

    /* GEMM repeated on identical inputs, compared bit for bit and sampled on the CPU. */
    int (*gemm)(struct verify_ctx *c, int gpu, struct verify_gemm_result *r, char *err, size_t n);

    /* Pinned host->device and device->host bandwidth into r->h2d_gbs / r->d2h_gbs. */
    int (*host_bandwidth)(struct verify_ctx *c, int gpu, struct verify_bw_result *r, char *err,
                          size_t n);

    /* Peer copy bandwidth from `src` to `dst` (GB/s written), data verified. */
    int (*peer_bandwidth)(struct verify_ctx *c, int src, int dst, double *gbs, char *err, size_t n);

    /* Health counters (NVML, or faked) and the device's XIDs (kernel log since boot, NVML
     * events since the devices were listed); called after the device's other checks. */
    int (*health)(struct verify_ctx *c, int gpu, struct verify_health *h, char *err, size_t n);

    /* Frees the state; close(NULL) is a no-op. */
    void (*close)(struct verify_ctx *c);
};

extern const struct verify_backend verify_backend_cpu;
extern const struct verify_backend verify_backend_cuda;

/* The backend called `name` ("cuda", "cpu"), or NULL. */
const struct verify_backend *verify_backend_find(const char *name);

/*
 * Runs every check of opts->level on backend `b` and fills `rep` (initialised by the
 * caller). Each device's checks run on a host thread of their own (unless opts->serial), the
 * host<->device copies one device at a time, and the peer copies after every device is done,
 * so neither competes with another device's measurement. Results are in device order
 * whatever the threads' timing. Returns 0 when the run completed (checks may have failed:
 * see verify_report_failed), -1 with the reason in `err` when the backend could not run
 * at all (probe, open or the device list failed), or -2 with the reason when opts->baseline
 * does not fit this node (another backend, level or GPU model).
 */
int verify_run(const struct verify_backend *b, const struct verify_options *opts,
               struct verify_report *rep, char *err, size_t n);

/* ---- calibration baselines (docs/verify.md, "Calibration") ---- */

#define VERIFY_BASELINE_FORMAT  "gpuform-verify-baseline"
#define VERIFY_BASELINE_VERSION 1
#define VERIFY_BASELINE_MAX     (1u << 20) /* bytes: a larger file is refused */

/* The name a device is calibrated under: its model's ("H100"), "cpu-reference" on the CPU
 * reference, or the driver's name for a GPU the model table lacks. Storage of `d` or static. */
const char *verify_baseline_key(const struct verify_device *d);

/* Who recorded a baseline: copied into the file. */
struct verify_baseline_meta {
    const char *host;            /* the host name */
    const char *date;            /* UTC, ISO 8601 */
    const char *gpuform_version; /* GPUFORM_VERSION */
};

/*
 * A baseline from `nruns` completed reports of the same backend and level: per device key
 * and calibrated check (memory_bandwidth, compute_fma, gemm, host_bandwidth, peer_bandwidth),
 * the median, best and worst of every measured sample (runs x devices of that key; the peer
 * figure, the slowest pair, is filed under device 0's key). Returns the JSON text (the caller
 * frees it), or NULL with why in `err`: a run that failed a check (a baseline records a
 * healthy node), no measured rate at all, or out of memory.
 */
char *verify_baseline_record(const struct verify_report *runs, size_t nruns,
                             const struct verify_baseline_meta *meta, char *err, size_t n);

/*
 * Loads the baseline at `path`: 0 and *out (free with verify_baseline_free), or -1 with a
 * message in `err` that names the file and says what to do: unreadable, larger than
 * VERIFY_BASELINE_MAX, not JSON (corrupt or truncated), not a baseline, a newer format
 * version, or a field missing or out of range.
 */
int verify_baseline_load(const char *path, struct verify_baseline **out, char *err, size_t n);

/* As verify_baseline_load, from JSON text in memory; `label` names it in messages. */
int verify_baseline_parse(const char *text, const char *label, struct verify_baseline **out,
                          char *err, size_t n);

/* verify_baseline_free(NULL) is a no-op. */
void verify_baseline_free(struct verify_baseline *b);

/* The path (or label) it was loaded from; owned by `b`. */
const char *verify_baseline_path(const struct verify_baseline *b);

/* 0 when `b` can judge these devices on backend `backend` at `level`; else -1 and why in
 * `err` (another backend or level, or a device whose key the baseline lacks). */
int verify_baseline_fits(const struct verify_baseline *b, const char *backend,
                         enum verify_level level, const struct verify_device *devices,
                         size_t ndevices, char *err, size_t n);

/* The calibrated median for (key, check) into *value: true, or false when `b` lacks it. */
bool verify_baseline_expected(const struct verify_baseline *b, const char *key, enum verify_check c,
                              double *value);

#ifdef __cplusplus
}
#endif

#endif
