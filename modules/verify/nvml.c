/*
 * NVML, loaded at run time with dlopen("libnvidia-ml.so.1"), the library the NVIDIA driver
 * installs: gpuform has no link-time dependency on the driver, runs where there is none, and
 * says why the health counters are missing instead. The few types and constants used are
 * declared here (values as in nvml.h; NVML keeps them stable across versions). Also the XID
 * event set, registered when the devices are listed and drained when each health check runs.
 */
#include "modules/verify/verify_int.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef int nvml_return;      /* nvmlReturn_t: 0 is NVML_SUCCESS */
typedef void *nvml_device;    /* nvmlDevice_t */
typedef void *nvml_event_set; /* nvmlEventSet_t */

/* nvmlEventData_t as nvmlEventSetWait_v2 fills it (nvml.h since driver 450). */
struct nvml_event_data {
    nvml_device device;
    unsigned long long event_type;
    unsigned long long event_data; /* the XID for XidCriticalError; 999: unknown XID */
    unsigned gpu_instance_id;
    unsigned compute_instance_id;
};

enum {
    NVML_MEMORY_ERROR_TYPE_CORRECTED = 0,
    NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1,
    NVML_VOLATILE_ECC = 0,
    NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT = 0,
    NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT = 1,
    NVML_CLOCK_SM = 1,
    NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_TIMEOUT = 10,
    NVML_ERROR_GPU_IS_LOST = 15,
};
#define NVML_EVENT_DOUBLE_BIT_ECC 0x2ull
#define NVML_EVENT_XID_CRITICAL   0x8ull
#define EVENTS_PER_DRAIN          4096 /* a storm of events still ends a drain */

/* What the event set has seen of one device, until its health check takes it. */
struct device_events {
    nvml_device handle;
    int64_t events;
    struct verify_health acc; /* only nxids/xids[]/xids_dropped are used */
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
    nvml_return (*event_set_create)(nvml_event_set *);
    nvml_return (*register_events)(nvml_device, unsigned long long, nvml_event_set);
    nvml_return (*supported_events)(nvml_device, unsigned long long *);
    nvml_return (*event_set_wait)(nvml_event_set, struct nvml_event_data *, unsigned);
    nvml_return (*event_set_free)(nvml_event_set);
    /* the event set: created by verify_nvml_watch, drained under `lock` by any device's
     * health check (one set for every device) */
    nvml_event_set set;
    bool lock_ok;
    pthread_mutex_t lock;
    size_t ndevices;
    struct device_events dev[VERIFY_MAX_GPUS];
    char lost[96]; /* set when a wait said a GPU is lost */
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
    sym(lib, "nvmlEventSetCreate", &nv->event_set_create);
    sym(lib, "nvmlDeviceRegisterEvents", &nv->register_events);
    sym(lib, "nvmlDeviceGetSupportedEventTypes", &nv->supported_events);
    sym(lib, "nvmlEventSetWait_v2", &nv->event_set_wait);
    sym(lib, "nvmlEventSetFree", &nv->event_set_free);
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
    if (nv->set && nv->event_set_free)
        nv->event_set_free(nv->set);
    if (nv->lock_ok)
        pthread_mutex_destroy(&nv->lock);
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

int verify_nvml_link(struct verify_nvml *nv, const char *bus_id, int *gen, int *width)
{
    nvml_device dev;
    unsigned g, w;
    if (!nv || !nv->pcie_gen || !nv->pcie_width || nv->by_bus_id(bus_id, &dev) != 0 ||
        nv->pcie_gen(dev, &g) != 0 || nv->pcie_width(dev, &w) != 0)
        return -1;
    *gen = (int)g;
    *width = (int)w;
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
    return 0;
}

static const char *nvml_error(const struct verify_nvml *nv, nvml_return rc)
{
    return nv->error_string ? nv->error_string(rc) : "unknown error";
}

int verify_nvml_watch(struct verify_nvml *nv, char (*bus_ids)[32], size_t n, char *why, size_t whyn)
{
    if (!nv->event_set_create || !nv->register_events || !nv->event_set_wait ||
        !nv->event_set_free) {
        snprintf(why, whyn,
                 "XID events not watched: libnvidia-ml.so.1 lacks the event set "
                 "functions (nvmlEventSetWait_v2 needs driver 450 or later)");
        return -1;
    }
    if (n > VERIFY_MAX_GPUS)
        n = VERIFY_MAX_GPUS;
    if (pthread_mutex_init(&nv->lock, NULL) != 0) {
        snprintf(why, whyn, "XID events not watched: cannot create a lock");
        return -1;
    }
    nv->lock_ok = true;
    nvml_return rc = nv->event_set_create(&nv->set);
    if (rc != 0) {
        nv->set = NULL;
        snprintf(why, whyn, "XID events not watched: nvmlEventSetCreate: %s", nvml_error(nv, rc));
        return -1;
    }
    size_t registered = 0;
    const char *first_bus = NULL;
    nvml_return first_rc = 0;
    for (size_t i = 0; i < n; i++) {
        struct device_events *d = &nv->dev[i];
        verify_health_init(&d->acc);
        d->events = 0;
        d->handle = NULL;
        nvml_device dev;
        if ((rc = nv->by_bus_id(bus_ids[i], &dev)) != 0) {
            first_bus = first_bus ? first_bus : bus_ids[i];
            first_rc = first_rc ? first_rc : rc;
            continue;
        }
        unsigned long long types = NVML_EVENT_XID_CRITICAL | NVML_EVENT_DOUBLE_BIT_ECC;
        unsigned long long supported;
        if (nv->supported_events && nv->supported_events(dev, &supported) == 0)
            types &= supported;
        if (!(types & NVML_EVENT_XID_CRITICAL))
            rc = NVML_ERROR_NOT_SUPPORTED;
        else
            rc = nv->register_events(dev, types, nv->set);
        if (rc != 0) {
            first_bus = first_bus ? first_bus : bus_ids[i];
            first_rc = first_rc ? first_rc : rc;
            continue;
        }
        d->handle = dev;
        registered++;
    }
    nv->ndevices = n;
    if (registered == n)
        return 0;
    snprintf(why, whyn, "XID events not watched on %zu of %zu GPUs (%s: %s)", n - registered, n,
             first_bus ? first_bus : "?", nvml_error(nv, first_rc));
    return registered ? 0 : -1;
}

/* Takes every pending event off the set (0 ms waits) into its device's accumulator. Under
 * nv->lock: the set is shared by the devices' threads. */
static void drain(struct verify_nvml *nv)
{
    for (int k = 0; k < EVENTS_PER_DRAIN; k++) {
        struct nvml_event_data e;
        memset(&e, 0, sizeof(e));
        nvml_return rc = nv->event_set_wait(nv->set, &e, 0);
        if (rc == NVML_ERROR_TIMEOUT)
            return; /* nothing more pending */
        if (rc != 0) {
            if (!nv->lost[0])
                snprintf(nv->lost, sizeof(nv->lost), "nvmlEventSetWait: %s%s", nvml_error(nv, rc),
                         rc == NVML_ERROR_GPU_IS_LOST ? " (a GPU fell off the bus?)" : "");
            return;
        }
        for (size_t i = 0; i < nv->ndevices; i++) {
            struct device_events *d = &nv->dev[i];
            if (!d->handle || d->handle != e.device)
                continue;
            d->events++;
            if (e.event_type & NVML_EVENT_XID_CRITICAL) {
                int xid = e.event_data > 9999 ? 999 : (int)e.event_data;
                verify_health_add_xid(
                    &d->acc, VERIFY_XID_NVML_EVENT, xid, -1,
                    xid == 999 ? "an XID NVML does not know (999)" : "raised during the run", 1);
            } else if (e.event_type & NVML_EVENT_DOUBLE_BIT_ECC) {
                verify_health_add_xid(&d->acc, VERIFY_XID_NVML_EVENT, 48, -1,
                                      "double-bit ECC error event during the run", 1);
            }
            break;
        }
    }
}

void verify_nvml_events(struct verify_nvml *nv, int gpu, struct verify_health *h)
{
    if (!nv || !nv->set || gpu < 0 || (size_t)gpu >= nv->ndevices || !nv->dev[gpu].handle)
        return;
    pthread_mutex_lock(&nv->lock);
    drain(nv);
    struct device_events *d = &nv->dev[gpu];
    h->xid_events = d->events;
    for (size_t i = 0; i < d->acc.nxids; i++) {
        const struct verify_xid *x = &d->acc.xids[i];
        verify_health_add_xid(h, x->source, x->xid, x->boot_s, x->message, x->count);
    }
    h->xids_dropped += d->acc.xids_dropped;
    d->acc.nxids = 0; /* taken */
    d->acc.xids_dropped = 0;
    d->events = 0;
    if (nv->lost[0])
        verify_health_note(h, nv->lost);
    pthread_mutex_unlock(&nv->lock);
}
