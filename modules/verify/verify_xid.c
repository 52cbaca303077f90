/*
 * XID errors, the NVIDIA driver's error reports: parsing the kernel log's "NVRM: Xid" lines,
 * reading the log since boot (/dev/kmsg, or a file for tests), the fail/warn/ignore sets the
 * health check judges them by, and attributing them to a device by its PCI bus id. Pure C
 * apart from the reader, so CI exercises all of it without a GPU.
 */
#include "modules/verify/verify.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- PCI addresses ---- */

/* Up to `max` hex digits of s[*i..len) into *v; false when there are none or too many. */
static bool hex_field(const char *s, size_t len, size_t *i, int max, uint32_t *v)
{
    int nd = 0;
    *v = 0;
    while (*i < len && isxdigit((unsigned char)s[*i])) {
        if (++nd > max)
            return false;
        char c = (char)tolower((unsigned char)s[*i]);
        *v = *v * 16 + (uint32_t)(c <= '9' ? c - '0' : c - 'a' + 10);
        (*i)++;
    }
    return nd > 0;
}

int verify_pci_parse(const char *s, size_t len, struct verify_pci *out)
{
    uint32_t f[3], fn;
    int nf = 0;
    size_t i = 0;
    while (nf < 3) {
        if (!hex_field(s, len, &i, 8, &f[nf]))
            return -1;
        nf++;
        if (i >= len || s[i] != ':')
            break;
        i++;
    }
    if (nf < 2)
        return -1;
    if (i < len && s[i] == '.') { /* the function: checked, not kept */
        i++;
        if (!hex_field(s, len, &i, 1, &fn) || fn > 7)
            return -1;
    }
    if (i != len)
        return -1;
    uint32_t dom = nf == 3 ? f[0] : 0, bus = f[nf - 2], dev = f[nf - 1];
    if (bus > 0xff || dev > 0x1f)
        return -1;
    out->domain = dom;
    out->bus = (uint8_t)bus;
    out->device = (uint8_t)dev;
    return 0;
}

bool verify_pci_equal(const struct verify_pci *a, const struct verify_pci *b)
{
    return a->domain == b->domain && a->bus == b->bus && a->device == b->device;
}

/* ---- the classification ---- */

const char *verify_xid_class_name(enum verify_xid_class c)
{
    switch (c) {
    case VERIFY_XID_IGNORE:
        return "ignore";
    case VERIFY_XID_WARN:
        return "warn";
    case VERIFY_XID_FAIL:
        return "fail";
    }
    return "?";
}

const char *verify_xid_source_name(enum verify_xid_source s)
{
    return s == VERIFY_XID_NVML_EVENT ? "nvml_event" : "kernel_log";
}

/* The research proposal's quick suite, step 3 (shared/research/anchors_gpuverify.md): EKS's
 * well-known XIDs less 63 and 109 fail; k8s-device-plugin's application XIDs and Meta's
 * non-critical 63, 92, 94 warn. Names from NVIDIA's XID catalog. */
static const struct {
    int xid;
    enum verify_xid_class cls;
    const char *name;
} xid_table[] = {
    {13, VERIFY_XID_WARN, "graphics engine exception"},
    {31, VERIFY_XID_WARN, "GPU memory page fault"},
    {43, VERIFY_XID_WARN, "GPU stopped processing"},
    {45, VERIFY_XID_WARN, "preemptive cleanup, due to previous errors"},
    {46, VERIFY_XID_FAIL, "GPU stopped processing"},
    {48, VERIFY_XID_FAIL, "double bit ECC error"},
    {54, VERIFY_XID_FAIL, "auxiliary power is not connected to the GPU"},
    {62, VERIFY_XID_FAIL, "internal micro-controller halt"},
    {63, VERIFY_XID_WARN, "ECC page retirement or row remapping recording event"},
    {64, VERIFY_XID_FAIL, "ECC page retirement or row remapper recording failure"},
    {68, VERIFY_XID_WARN, "video processor exception"},
    {74, VERIFY_XID_FAIL, "NVLink error"},
    {79, VERIFY_XID_FAIL, "GPU has fallen off the bus"},
    {92, VERIFY_XID_WARN, "high single-bit ECC error rate"},
    {94, VERIFY_XID_WARN, "contained ECC error"},
    {95, VERIFY_XID_FAIL, "uncontained ECC error"},
    {109, VERIFY_XID_WARN, "context switch timeout"},
    {110, VERIFY_XID_FAIL, "security fault error"},
    {119, VERIFY_XID_FAIL, "GSP RPC timeout"},
    {120, VERIFY_XID_FAIL, "GSP error"},
    {136, VERIFY_XID_FAIL, NULL},
    {140, VERIFY_XID_FAIL, NULL},
    {143, VERIFY_XID_FAIL, NULL},
    {154, VERIFY_XID_FAIL, "GPU recovery action changed"},
};

static int table_index(int xid)
{
    for (size_t i = 0; i < sizeof(xid_table) / sizeof(xid_table[0]); i++)
        if (xid_table[i].xid == xid)
            return (int)i;
    return -1;
}

const char *verify_xid_name(int xid)
{
    int i = table_index(xid);
    return i < 0 ? NULL : xid_table[i].name;
}

enum verify_xid_class verify_xid_classify(int xid, const char *message)
{
    /* 154 says which recovery the GPU needs now: "... changed from 0x1 (GPU Reset Required)
     * to 0x0 (None)" is one that no longer needs any. */
    if (xid == 154 && message) {
        const char *to = strstr(message, " to ");
        if (to && ((!strncasecmp(to + 4, "0x0", 3) && !isxdigit((unsigned char)to[7])) ||
                   !strncasecmp(to + 4, "None", 4)))
            return VERIFY_XID_IGNORE;
    }
    int i = table_index(xid);
    return i < 0 ? VERIFY_XID_WARN : xid_table[i].cls; /* unknown: warn, as EKS does */
}

enum verify_xid_class verify_xid_classify_event(int xid)
{
    static const int app[] = {13, 31, 43, 45, 68, 109};
    for (size_t i = 0; i < sizeof(app) / sizeof(app[0]); i++)
        if (app[i] == xid)
            return VERIFY_XID_WARN;
    return VERIFY_XID_FAIL;
}

/* ---- the line parser ---- */

static const char *find(const char *s, size_t len, const char *needle)
{
    size_t nl = strlen(needle);
    for (size_t i = 0; i + nl <= len; i++)
        if (s[i] == needle[0] && !memcmp(s + i, needle, nl))
            return s + i;
    return NULL;
}

/* A /dev/kmsg prefix "PRI,SEQ,TS_USEC,FLAGS;" or a dmesg "[  123.456789] ": the seconds
 * since boot, or -1. */
static double timestamp(const char *s, size_t len)
{
    size_t i = 0;
    if (len > 0 && s[0] == '[') {
        i = 1;
        while (i < len && s[i] == ' ')
            i++;
        double v = 0, scale = 0;
        size_t start = i;
        for (; i < len && i < start + 24; i++) {
            if (isdigit((unsigned char)s[i])) {
                if (scale > 0) {
                    v += (s[i] - '0') * scale;
                    scale /= 10;
                } else {
                    v = v * 10 + (s[i] - '0');
                }
            } else if (s[i] == '.' && scale == 0) {
                scale = 0.1;
            } else {
                break;
            }
        }
        return i > start && i < len && s[i] == ']' ? v : -1;
    }
    /* PRI,SEQ,TS: three comma-separated decimal fields before the ';' */
    unsigned long long field[3] = {0, 0, 0};
    for (int f = 0; f < 3; f++) {
        size_t start = i;
        while (i < len && i < start + 20 && isdigit((unsigned char)s[i]))
            field[f] = field[f] * 10 + (unsigned long long)(s[i++] - '0');
        if (i == start || i >= len || (s[i] != ',' && s[i] != ';'))
            return -1;
        if (f < 2 && s[i] != ',')
            return -1;
        i++;
    }
    return (double)field[2] / 1e6;
}

/* Copies the message text: pid= and name= fields skipped, printable ASCII only. */
static void copy_message(char *dst, size_t dn, const char *s, size_t len)
{
    size_t i = 0, o = 0;
    for (;;) {
        while (i < len && s[i] == ' ')
            i++;
        if (i + 4 <= len &&
            (!memcmp(s + i, "pid=", 4) || (i + 5 <= len && !memcmp(s + i, "name=", 5)))) {
            const char *comma = find(s + i, len - i, ", ");
            if (!comma) {
                i = len;
                break;
            }
            i = (size_t)(comma - s) + 2;
            continue;
        }
        break;
    }
    while (len > i && (s[len - 1] == ' ' || s[len - 1] == '.' || s[len - 1] == '\r'))
        len--;
    for (; i < len && o + 1 < dn; i++)
        dst[o++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    dst[o] = 0;
}

int verify_xid_parse_line(const char *line, size_t len, struct verify_xid_line *out)
{
    const char *nl = memchr(line, '\n', len);
    if (nl)
        len = (size_t)(nl - line);
    const char *p = find(line, len, "NVRM: Xid");
    if (!p)
        return 0;
    const char *end = line + len;
    p += strlen("NVRM: Xid");
    while (p < end && *p == ' ')
        p++;
    if (p >= end || *p != '(')
        return 0;
    p++;
    if (end - p >= 4 && !strncasecmp(p, "PCI:", 4))
        p += 4;
    const char *close = memchr(p, ')', (size_t)(end - p));
    struct verify_xid_line l;
    memset(&l, 0, sizeof(l));
    if (!close || verify_pci_parse(p, (size_t)(close - p), &l.pci) != 0)
        return 0;
    p = close + 1;
    if (p >= end || *p != ':')
        return 0;
    p++;
    while (p < end && *p == ' ')
        p++;
    int xid = 0, nd = 0;
    while (p < end && isdigit((unsigned char)*p)) {
        if (++nd > 4)
            return 0;
        xid = xid * 10 + (*p++ - '0');
    }
    if (nd == 0 || xid == 0 || (p < end && *p != ',' && *p != ' '))
        return 0;
    if (p < end && *p == ',')
        p++;
    l.xid = xid;
    l.boot_s = timestamp(line, len);
    copy_message(l.message, sizeof(l.message), p, (size_t)(end - p));
    *out = l;
    return 1;
}

/* ---- health entries ---- */

void verify_health_add_xid(struct verify_health *h, enum verify_xid_source source, int xid,
                           double boot_s, const char *message, uint32_t count)
{
    for (size_t i = 0; i < h->nxids; i++) {
        struct verify_xid *x = &h->xids[i];
        if (x->xid == xid && x->source == source) {
            x->count += count;
            return;
        }
    }
    if (h->nxids >= VERIFY_MAX_XIDS) {
        h->xids_dropped++;
        return;
    }
    struct verify_xid *x = &h->xids[h->nxids++];
    x->xid = xid;
    x->source = source;
    x->cls = source == VERIFY_XID_NVML_EVENT ? verify_xid_classify_event(xid)
                                             : verify_xid_classify(xid, message);
    x->count = count;
    x->boot_s = boot_s;
    snprintf(x->message, sizeof(x->message), "%s", message ? message : "");
}

void verify_health_note(struct verify_health *h, const char *text)
{
    size_t len = strlen(h->note);
    if (len < sizeof(h->note))
        snprintf(h->note + len, sizeof(h->note) - len, "; %s", text);
}

/* ---- the kernel log ---- */

void verify_kernel_log_init(struct verify_kernel_log *log)
{
    memset(log, 0, sizeof(*log));
}

void verify_kernel_log_release(struct verify_kernel_log *log)
{
    free(log->entries);
    verify_kernel_log_init(log);
}

int verify_kernel_log_add(struct verify_kernel_log *log, const struct verify_xid_line *l)
{
    for (size_t i = 0; i < log->n; i++) {
        struct verify_kernel_xid *e = &log->entries[i];
        if (e->first.xid == l->xid && verify_pci_equal(&e->first.pci, &l->pci)) {
            if (e->count < UINT32_MAX)
                e->count++;
            return 0;
        }
    }
    if (log->n >= VERIFY_KLOG_MAX) {
        log->dropped++;
        return 0;
    }
    if (log->n == log->cap) {
        size_t cap = log->cap ? log->cap * 2 : 16;
        struct verify_kernel_xid *e = realloc(log->entries, cap * sizeof(*e));
        if (!e)
            return -1;
        log->entries = e;
        log->cap = cap;
    }
    log->entries[log->n].first = *l;
    log->entries[log->n].count = 1;
    log->n++;
    return 0;
}

const char *verify_kernel_log_path(void)
{
    const char *p = getenv("GPUFORM_KMSG");
    return p && *p ? p : "/dev/kmsg";
}

#define RECORD_MAX 8192
#define READS_MAX  (1u << 22) /* records or lines: a log that keeps growing still ends */

static void unreadable(struct verify_kernel_log *log, const char *path, int err)
{
    if (err == EPERM || err == EACCES)
        snprintf(log->note, sizeof(log->note),
                 "kernel log unreadable (needs root or kernel.dmesg_restrict=0)");
    else
        snprintf(log->note, sizeof(log->note), "kernel log unreadable: %s: %s", path,
                 strerror(err));
}

static void take(struct verify_kernel_log *log, const char *rec, size_t len)
{
    struct verify_xid_line l;
    if (verify_xid_parse_line(rec, len, &l) == 1 && verify_kernel_log_add(log, &l) != 0)
        snprintf(log->note, sizeof(log->note), "kernel log: out of memory");
}

/* /dev/kmsg: each read() returns one record; EAGAIN once the last has been read. */
static void read_records(struct verify_kernel_log *log, int fd, const char *path, char *buf)
{
    for (unsigned k = 0; k < READS_MAX; k++) {
        ssize_t r = read(fd, buf, RECORD_MAX);
        if (r > 0) {
            take(log, buf, (size_t)r);
            continue;
        }
        if (r < 0 && (errno == EINTR || errno == EPIPE)) /* EPIPE: records overwritten */
            continue;
        if (r < 0 && errno != EAGAIN) {
            unreadable(log, path, errno);
            return;
        }
        break;
    }
    log->read = true;
}

/* A file of records or dmesg lines; a line longer than the buffer is parsed on its start. */
static void read_lines(struct verify_kernel_log *log, int fd, char *buf)
{
    size_t have = 0;
    bool skipping = false;
    for (unsigned k = 0; k < READS_MAX; k++) {
        ssize_t r = read(fd, buf + have, RECORD_MAX - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (have && !skipping)
                take(log, buf, have);
            break;
        }
        have += (size_t)r;
        size_t start = 0;
        for (;;) {
            char *nl = memchr(buf + start, '\n', have - start);
            if (!nl)
                break;
            if (!skipping)
                take(log, buf + start, (size_t)(nl - (buf + start)));
            skipping = false;
            start = (size_t)(nl - buf) + 1;
        }
        memmove(buf, buf + start, have - start);
        have -= start;
        if (have == RECORD_MAX) { /* no newline in a whole buffer: parse it, skip the rest */
            if (!skipping)
                take(log, buf, have);
            skipping = true;
            have = 0;
        }
    }
    log->read = true;
}

void verify_kernel_log_read(struct verify_kernel_log *log, const char *path)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        unreadable(log, path, errno);
        return;
    }
    struct stat st;
    char *buf = malloc(RECORD_MAX);
    if (!buf || fstat(fd, &st) != 0) {
        snprintf(log->note, sizeof(log->note), "kernel log: cannot read %s", path);
    } else if (S_ISCHR(st.st_mode)) {
        read_records(log, fd, path, buf);
    } else {
        read_lines(log, fd, buf);
    }
    free(buf);
    close(fd);
}

size_t verify_kernel_log_apply(const struct verify_kernel_log *log, const char *bus_id,
                               struct verify_health *h)
{
    struct verify_pci pci;
    if (!bus_id || verify_pci_parse(bus_id, strlen(bus_id), &pci) != 0)
        return 0;
    size_t matched = 0;
    for (size_t i = 0; i < log->n; i++) {
        const struct verify_kernel_xid *e = &log->entries[i];
        if (!verify_pci_equal(&e->first.pci, &pci))
            continue;
        verify_health_add_xid(h, VERIFY_XID_KERNEL_LOG, e->first.xid, e->first.boot_s,
                              e->first.message, e->count);
        matched++;
    }
    return matched;
}

int verify_inject_xid(const char *bus_id, struct verify_health *h)
{
    struct verify_pci pci;
    if (!bus_id || verify_pci_parse(bus_id, strlen(bus_id), &pci) != 0)
        return -1;
    char line[160];
    int n = snprintf(line, sizeof(line),
                     "NVRM: Xid (PCI:%04x:%02x:%02x): %d, pid=0, name=gpuform-inject, "
                     "GPU has fallen off the bus.",
                     (unsigned)pci.domain, pci.bus, pci.device, VERIFY_XID_FAULT_XID);
    struct verify_xid_line l;
    if (n < 0 || verify_xid_parse_line(line, (size_t)n, &l) != 1)
        return -1;
    verify_health_add_xid(h, VERIFY_XID_KERNEL_LOG, l.xid, l.boot_s, l.message, 1);
    return 0;
}
