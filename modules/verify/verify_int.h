/*
 * Inside modules/verify: the runner's report merge, NVML loaded at run time, and the C API of
 * the CUDA part
 * (modules/verify/cuda/, compiled by nvcc into gpuform_verify_cuda when nvcc is found).
 */
#ifndef GPUFORM_MODULES_VERIFY_INT_H
#define GPUFORM_MODULES_VERIFY_INT_H

#include "modules/verify/verify.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the report ---- */

/* Moves every result of `src` to the end of `dst`, in order, with their details; `src` is left
 * empty. Results that do not fit (out of memory) are dropped and their details freed. */
void verify_report_take(struct verify_report *dst, struct verify_report *src);

/* ---- NVML through dlopen("libnvidia-ml.so.1"): no link-time dependency on the driver ---- */

struct verify_nvml; /* the loaded library and its function table */

/* Loads and initialises NVML: 0 and *out, or -1 and why (no driver library, init failed). */
int verify_nvml_open(struct verify_nvml **out, char *why, size_t n);

/* Fills the ECC mode and PCIe link fields of `d` for the GPU at PCI bus id `bus_id`
 * ("0000:17:00.0", as cudaDeviceGetPCIBusId gives it); fields NVML lacks stay unknown.
 * *clock_ratio gets the SM clock / max SM clock (1 when unknown). */
int verify_nvml_device(struct verify_nvml *nv, const char *bus_id, struct verify_device *d,
                       double *clock_ratio);

/* The PCIe link generation and width the GPU at `bus_id` runs at now (read while host
 * copies keep it busy: an idle GPU down-trains its link to save power). 0 with *gen and
 * *width set, -1 when NVML can't say (both left as they were). */
int verify_nvml_link(struct verify_nvml *nv, const char *bus_id, int *gen, int *width);

/* Reads the health counters of the GPU at `bus_id` into `h` (from_nvml set). */
int verify_nvml_health(struct verify_nvml *nv, const char *bus_id, struct verify_health *h,
                       char *err, size_t n);

/*
 * Registers an NVML event set for XID errors (nvmlEventTypeXidCriticalError, plus
 * DoubleBitEccError where nvmlDeviceGetSupportedEventTypes lists it) on the GPUs at
 * bus_ids[0..n): device i of the run is bus_ids[i]. NVML records only events after this
 * call, so the backend calls it once the devices are listed, before any check loads them.
 * 0 when every GPU is watched; 0 with why set when only some are; -1 with why when none is
 * (symbols missing from an old driver, not supported): the health check then notes it.
 */
int verify_nvml_watch(struct verify_nvml *nv, char (*bus_ids)[32], size_t n, char *why,
                      size_t whyn);

/* Drains the event set (0 ms waits, under a lock: every device's thread shares the set) and
 * adds device `gpu`'s XID events since the last call to h (nvml_event source; a
 * double-bit ECC event as XID 48), setting h->xid_events. A no-op when nothing is watched. */
void verify_nvml_events(struct verify_nvml *nv, int gpu, struct verify_health *h);

/* verify_nvml_close(NULL) is a no-op. */
void verify_nvml_close(struct verify_nvml *nv);

/* ---- the CUDA part (modules/verify/cuda/verify_cuda.cu) ---- */

/* 0 when a CUDA device can be used, else -1 and why (driver missing, no device, ...). */
int vcuda_probe(char *why, size_t n);

/* The number of CUDA devices. */
int vcuda_device_count(int *count, char *err, size_t n);

/* Name, memory, compute capability of device `dev`; its PCI bus id into bus_id[0..busn). */
int vcuda_device_info(int dev, struct verify_device *d, char *bus_id, size_t busn, char *err,
                      size_t n);

/* The checks on device `dev`, faults from opts applied (see enum verify_fault). */
int vcuda_memtest(int dev, const struct verify_options *opts, struct verify_mem_result *r,
                  char *err, size_t n);
int vcuda_bandwidth(int dev, const struct verify_options *opts, struct verify_bw_result *r,
                    char *err, size_t n);
int vcuda_fma(int dev, const struct verify_options *opts, struct verify_fma_result *r, char *err,
              size_t n);
/* precision "bf16" or "tf32" through cuBLAS (loaded with dlopen), "fp32" likewise. */
int vcuda_gemm(int dev, const struct verify_options *opts, const char *precision,
               struct verify_gemm_result *r, char *err, size_t n);
/* Pinned host<->device copies; `loaded(arg, r)`, when not NULL, is called while the first
 * timed copy of each direction is in flight (to read the link under load into r). */
int vcuda_host_bandwidth(int dev, const struct verify_options *opts, struct verify_bw_result *r,
                         void (*loaded)(void *arg, struct verify_bw_result *r), void *arg,
                         char *err, size_t n);
int vcuda_peer_bandwidth(int src, int dst, const struct verify_options *opts, double *gbs,
                         char *err, size_t n);

#ifdef __cplusplus
}
#endif

#endif
