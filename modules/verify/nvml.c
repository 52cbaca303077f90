/*
 * NVML, loaded at run time with dlopen("libnvidia-ml.so.1"), the library the NVIDIA driver
 * installs: gpuform has no link-time dependency on the driver, runs where there is none, and
 * says why the health counters are missing instead. The few types and constants used are
 * declared here (values as in nvml.h; NVML keeps them stable across versions).
 */
#include "modules/verify/verify_int.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

typedef int nvml_return;   /* nvmlReturn_t: 0 is NVML_SUCCESS */
typedef void *nvml_device; /* nvmlDevice_t */

enum {
    NVML_MEMORY_ERROR_TYPE_CORRECTED = 0,
    NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1,
    NVML_VOLATILE_ECC = 0,
    NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT = 0,
    NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT = 1,
    NVML_CLOCK_SM = 1,
};

struct verify_nvml {
    void *lib;
    nvml_return (*init)(void);
    nvml_return (*shutdown)(void);
    const char *(*error_string)(nvml_return);
    nvml_return (*by_bus_id)(const char *, nvml_device *);
    nvml_return (*ecc_mode)(nvml_device, int *, int *);
    nvml_return (*total_ecc)(nvml_device, int, int, unsigned long long *);
    nvml_return (*remapped_rows)(nvml_device, unsigned *, unsigned *, unsigned *, unsigned *);
    nvml_return (*retired_pages)(nvml_device, int, unsigned *, unsigned long long *);
    nvml_return (*retired_pending)(nvml_device, int *);
    nvml_return (*clocks_event)(nvml_device, unsigned long long *);
    nvml_return (*clock_info)(nvml_device, int, unsigned *);
    nvml_return (*max_clock_info)(nvml_device, int, unsigned *);
    nvml_return (*pcie_gen)(nvml_device, unsigned *);
    nvml_return (*pcie_width)(nvml_device, unsigned *);
    nvml_return (*pcie_max_gen)(nvml_device, unsigned *);
    nvml_return (*pcie_max_width)(nvml_device, unsigned *);
};

/* dlsym into a function pointer without a cast that -Wpedantic would reject. */
static void sym(void *lib, const char *name, void *slot)
{
    void *p = dlsym(lib, name);
    memcpy(slot, &p, sizeof(p));
}

int verify_nvml_open(struct verify_nvml **out, char *why, size_t n)
{
    *out = NULL;
    void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(why, n, "NVML is not available (libnvidia-ml.so.1, from the NVIDIA driver: %s)",
                 dlerror());
        return -1;
    }
    struct verify_nvml *nv = calloc(1, sizeof(*nv));
    if (!nv) {
        dlclose(lib);
        snprintf(why, n, "out of memory");
        return -1;
    }
    nv->lib = lib;
    sym(lib, "nvmlInit_v2", &nv->init);
    sym(lib, "nvmlShutdown", &nv->shutdown);
    sym(lib, "nvmlErrorString", &nv->error_string);
    sym(lib, "nvmlDeviceGetHandleByPciBusId_v2", &nv->by_bus_id);
    sym(lib, "nvmlDeviceGetEccMode", &nv->ecc_mode);
    sym(lib, "nvmlDeviceGetTotalEccErrors", &nv->total_ecc);
    sym(lib, "nvmlDeviceGetRemappedRows", &nv->remapped_rows);
    sym(lib, "nvmlDeviceGetRetiredPages", &nv->retired_pages);
    sym(lib, "nvmlDeviceGetRetiredPagesPendingStatus", &nv->retired_pending);
    sym(lib, "nvmlDeviceGetCurrentClocksEventReasons", &nv->clocks_event);
    if (!nv->clocks_event) /* the name before driver 535 */
        sym(lib, "nvmlDeviceGetCurrentClocksThrottleReasons", &nv->clocks_event);
    sym(lib, "nvmlDeviceGetClockInfo", &nv->clock_info);
    sym(lib, "nvmlDeviceGetMaxClockInfo", &nv->max_clock_info);
    sym(lib, "nvmlDeviceGetCurrPcieLinkGeneration", &nv->pcie_gen);
    sym(lib, "nvmlDeviceGetCurrPcieLinkWidth", &nv->pcie_width);
    sym(lib, "nvmlDeviceGetMaxPcieLinkGeneration", &nv->pcie_max_gen);
    sym(lib, "nvmlDeviceGetMaxPcieLinkWidth", &nv->pcie_max_width);
    if (!nv->init || !nv->by_bus_id) {
        snprintf(why, n, "libnvidia-ml.so.1 lacks nvmlInit_v2 or nvmlDeviceGetHandleByPciBusId_v2");
        verify_nvml_close(nv);
        return -1;
    }
    nvml_return rc = nv->init();
    if (rc != 0) {
        snprintf(why, n, "nvmlInit failed: %s",
                 nv->error_string ? nv->error_string(rc) : "unknown error");
        nv->shutdown = NULL; /* not initialised: nothing to shut down */
        verify_nvml_close(nv);
        return -1;
    }
    *out = nv;
    return 0;
}

void verify_nvml_close(struct verify_nvml *nv)
{
    if (!nv)
        return;
    if (nv->shutdown)
        nv->shutdown();
    dlclose(nv->lib);
    free(nv);
}

int verify_nvml_device(struct verify_nvml *nv, const char *bus_id, struct verify_device *d,
                       double *clock_ratio)
{
    nvml_device dev;
    *clock_ratio = 1;
    if (!nv || nv->by_bus_id(bus_id, &dev) != 0)
        return -1;
    int cur, pend;
    if (nv->ecc_mode && nv->ecc_mode(dev, &cur, &pend) == 0)
        d->ecc_enabled = cur != 0;
    unsigned v;
    if (nv->pcie_gen && nv->pcie_gen(dev, &v) == 0)
        d->pcie_gen = (int)v;
    if (nv->pcie_width && nv->pcie_width(dev, &v) == 0)
        d->pcie_width = (int)v;
    if (nv->pcie_max_gen && nv->pcie_max_gen(dev, &v) == 0)
        d->pcie_max_gen = (int)v;
    if (nv->pcie_max_width && nv->pcie_max_width(dev, &v) == 0)
        d->pcie_max_width = (int)v;
    unsigned clk, max;
    if (nv->clock_info && nv->max_clock_info && nv->clock_info(dev, NVML_CLOCK_SM, &clk) == 0 &&
        nv->max_clock_info(dev, NVML_CLOCK_SM, &max) == 0 && max > 0)
        *clock_ratio = (double)clk / (double)max;
    return 0;
}

int verify_nvml_health(struct verify_nvml *nv, const char *bus_id, struct verify_health *h,
                       char *err, size_t n)
{
    nvml_device dev;
    nvml_return rc = nv->by_bus_id(bus_id, &dev);
    if (rc != 0) {
        snprintf(err, n, "NVML does not know the GPU at %s: %s", bus_id,
                 nv->error_string ? nv->error_string(rc) : "unknown error");
        return -1;
    }
    h->from_nvml = true;
    unsigned long long c;
    if (nv->total_ecc &&
        nv->total_ecc(dev, NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_VOLATILE_ECC, &c) == 0)
        h->ecc_uncorrected = (int64_t)c;
    if (nv->total_ecc &&
        nv->total_ecc(dev, NVML_MEMORY_ERROR_TYPE_CORRECTED, NVML_VOLATILE_ECC, &c) == 0)
        h->ecc_corrected = (int64_t)c;
    unsigned corr, unc, pending, failed;
    if (nv->remapped_rows && nv->remapped_rows(dev, &corr, &unc, &pending, &failed) == 0) {
        h->remap_uncorrectable = unc;
        h->remap_pending = pending != 0;
        h->remap_failed = failed != 0;
    }
    unsigned sbe = 0, dbe = 0;
    if (nv->retired_pages &&
        nv->retired_pages(dev, NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT, &sbe, NULL) == 0 &&
        nv->retired_pages(dev, NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT, &dbe, NULL) == 0)
        h->retired_pages = (int64_t)sbe + dbe;
    int state;
    if (nv->retired_pending && nv->retired_pending(dev, &state) == 0)
        h->retired_pending = state != 0;
    unsigned long long reasons;
    if (nv->clocks_event && nv->clocks_event(dev, &reasons) == 0)
        h->throttle_reasons = (int64_t)reasons;
    snprintf(h->note, sizeof(h->note), "; XID events are not watched yet");
    return 0;
}
