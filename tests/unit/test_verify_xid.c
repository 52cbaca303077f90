/*
 * Unit tests for the XID reader (modules/verify/verify_xid.c): the kernel log line parser on
 * real-looking and hostile lines, PCI bus id normalisation, the fail/warn/ignore sets, the
 * reader over a file of /dev/kmsg records and dmesg lines, and attribution to a device.
 */
#include "modules/verify/verify.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int parse(const char *line, struct verify_xid_line *out)
{
    memset(out, 0x5a, sizeof(*out));
    return verify_xid_parse_line(line, strlen(line), out);
}

static void test_verify_xid_parses_a_kmsg_record_with_pid_and_name(void **state)
{
    (void)state;
    struct verify_xid_line l;
    assert_int_equal(parse("4,1002,123456789,-;NVRM: Xid (PCI:0000:3b:00): 79, pid=1234, "
                           "name=python, GPU has fallen off the bus.\n SUBSYSTEM=pci\n",
                           &l),
                     1);
    assert_int_equal(l.xid, 79);
    assert_int_equal(l.pci.domain, 0);
    assert_int_equal(l.pci.bus, 0x3b);
    assert_int_equal(l.pci.device, 0);
    assert_true(l.boot_s > 123.456 && l.boot_s < 123.457);
    assert_string_equal(l.message, "GPU has fallen off the bus");
}

static void test_verify_xid_parses_dmesg_and_syslog_lines_of_several_xids(void **state)
{
    (void)state;
    struct verify_xid_line l;
    assert_int_equal(parse("[  200.500000] NVRM: Xid (PCI:0000:17:00): 48, An uncorrectable "
                           "double bit error (DBE) has been detected on GPU in the framebuffer "
                           "at partition 0, subpartition 0.",
                           &l),
                     1);
    assert_int_equal(l.xid, 48);
    assert_int_equal(l.pci.bus, 0x17);
    assert_true(l.boot_s == 200.5);
    assert_non_null(strstr(l.message, "An uncorrectable double bit error (DBE)"));
    /* GSP timeout with a quoted pid (newer drivers), a syslog prefix: no boot time */
    assert_int_equal(parse("Nov 21 10:00:00 node kernel: NVRM: Xid (PCI:0000:C1:00): 119, "
                           "pid='<unknown>', name=<unknown>, Timeout after 6s of waiting for RPC "
                           "response from GPU1 GSP!",
                           &l),
                     1);
    assert_int_equal(l.xid, 119);
    assert_int_equal(l.pci.bus, 0xc1);
    assert_true(l.boot_s < 0);
    assert_string_equal(l.message, "Timeout after 6s of waiting for RPC response from GPU1 GSP!");
    /* the older form without "PCI:", and an 8-digit upper-case domain */
    assert_int_equal(parse("NVRM: Xid (0000:03:00): 14, Channel 00000001", &l), 1);
    assert_int_equal(l.xid, 14);
    assert_int_equal(l.pci.bus, 3);
    assert_string_equal(l.message, "Channel 00000001");
    assert_int_equal(parse("NVRM: Xid (PCI:0001ABCD:3B:1F): 154, GPU recovery action changed "
                           "from 0x0 (None) to 0x1 (GPU Reset Required)",
                           &l),
                     1);
    assert_int_equal(l.pci.domain, 0x1abcd);
    assert_int_equal(l.pci.device, 0x1f);
    assert_int_equal(l.xid, 154);
    /* no message at all */
    assert_int_equal(parse("NVRM: Xid (PCI:0000:3b:00): 62", &l), 1);
    assert_int_equal(l.xid, 62);
    assert_string_equal(l.message, "");
}

static void test_verify_xid_rejects_other_nvrm_lines_garbage_and_truncated_ones(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "6,1001,5000000,-;NVRM: loading NVIDIA UNIX x86_64 Kernel Module  570.86.15",
        "NVRM: GPU at PCI:0000:3b:00: GPU-b850f46d-d5ea-c752-ddf3-c4453e44d3f7",
        "NVRM: GPU Board Serial Number: 1650123456789",
        "NVRM: Xid",
        "NVRM: Xid (",
        "NVRM: Xid (PCI:0000:3b:00",
        "NVRM: Xid (PCI:0000:3b:00)",
        "NVRM: Xid (PCI:0000:3b:00): ",
        "NVRM: Xid (PCI:0000:3b:00): pid=1, 79",
        "NVRM: Xid (PCI:0000:3b:00): 0, zero is no XID",
        "NVRM: Xid (PCI:0000:3b:00): 123456, too many digits",
        "NVRM: Xid (PCI:0000:3b:00): 79x, not a number",
        "NVRM: Xid (PCI:zz:3b:00): 79, bad hex",
        "NVRM: Xid (PCI:0000:3b:00:00:00): 79, too many fields",
        "NVRM: Xid (PCI:000000000:3b:00): 79, 9-digit domain",
        "NVRM: Xid (PCI:0000:3b): 79, no device",
        "NVRM: Xid (PCI:0000:3b:20): 79, device > 0x1f",
        "NVRM: Xid (PCI:0000:3b:00.9): 79, function > 7",
        "NVRM: xid (PCI:0000:3b:00): 79, lower-case marker is not the driver's",
        "\x01\x02\xff\xfe garbage \x7f NVRM",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct verify_xid_line l;
        if (parse(bad[i], &l) != 0)
            fail_msg("parsed as an XID: '%s'", bad[i]);
    }
    /* a line cut before its XID number, and the same line whole */
    const char *whole = "NVRM: Xid (PCI:0000:3b:00): 79, GPU has fallen off the bus.";
    struct verify_xid_line l;
    assert_int_equal(verify_xid_parse_line(whole, strlen("NVRM: Xid (PCI:0000:3b:00): "), &l), 0);
    assert_int_equal(verify_xid_parse_line(whole, strlen(whole), &l), 1);
    /* the parser stops at the first newline: an XID on a continuation line is not this one */
    assert_int_equal(parse("6,1,2,-;other message\nNVRM: Xid (PCI:0000:3b:00): 79, x", &l), 0);
}

static void test_verify_xid_survives_a_64_kib_line_and_sanitises_its_message(void **state)
{
    (void)state;
    size_t n = 64 * 1024;
    char *line = malloc(n + 1);
    assert_non_null(line);
    const char *head = "[ 5.000000] NVRM: Xid (PCI:0000:3b:00): 31, pid=7, name=x, ";
    memcpy(line, head, strlen(head));
    for (size_t i = strlen(head); i < n; i++)
        line[i] = (char)(i % 3 ? 'A' : 0x80 | (i & 0x7f)); /* bytes that are not ASCII */
    line[n] = 0;
    struct verify_xid_line l;
    assert_int_equal(verify_xid_parse_line(line, n, &l), 1);
    assert_int_equal(l.xid, 31);
    assert_int_equal(strlen(l.message), sizeof(l.message) - 1);
    for (const char *p = l.message; *p; p++)
        assert_true(*p >= 0x20 && *p < 0x7f);
    assert_non_null(strchr(l.message, '?'));
    /* 64 KiB of garbage, no marker */
    memset(line, 'x', n);
    assert_int_equal(verify_xid_parse_line(line, n, &l), 0);
    free(line);
}

static void test_verify_pci_bus_ids_normalise_across_forms(void **state)
{
    (void)state;
    struct verify_pci a, b;
    assert_int_equal(verify_pci_parse("00000000:3B:00.0", 16, &a), 0); /* NVML's form */
    assert_int_equal(verify_pci_parse("0000:3b:00", 10, &b), 0);       /* the driver's */
    assert_true(verify_pci_equal(&a, &b));
    assert_int_equal(verify_pci_parse("3b:00.0", 7, &b), 0); /* no domain: 0 */
    assert_true(verify_pci_equal(&a, &b));
    assert_int_equal(verify_pci_parse("0000:3c:00.0", 12, &b), 0);
    assert_false(verify_pci_equal(&a, &b));
    assert_int_equal(verify_pci_parse("0001:3b:00.0", 12, &b), 0);
    assert_false(verify_pci_equal(&a, &b));
    assert_int_equal(verify_pci_parse("0000:3b:01.0", 12, &b), 0);
    assert_false(verify_pci_equal(&a, &b));
    assert_int_equal(verify_pci_parse("", 0, &b), -1);
    assert_int_equal(verify_pci_parse("3b", 2, &b), -1);
    assert_int_equal(verify_pci_parse("0000:3b:00.", 11, &b), -1);
    assert_int_equal(verify_pci_parse("0000:3b:00 ", 11, &b), -1);
    assert_int_equal(verify_pci_parse("0000:100:00", 11, &b), -1);
}

static void test_verify_xid_sets_follow_the_research_proposal(void **state)
{
    (void)state;
    static const int fail[] = {46, 48, 54, 62, 64, 74, 79, 95, 110, 119, 120, 136, 140, 143, 154};
    static const int warn[] = {13, 31, 43, 45, 68, 109, 63, 92, 94, 1, 999};
    for (size_t i = 0; i < sizeof(fail) / sizeof(fail[0]); i++)
        if (verify_xid_classify(fail[i], "") != VERIFY_XID_FAIL)
            fail_msg("XID %d does not fail", fail[i]);
    for (size_t i = 0; i < sizeof(warn) / sizeof(warn[0]); i++)
        if (verify_xid_classify(warn[i], "") != VERIFY_XID_WARN)
            fail_msg("XID %d does not warn", warn[i]);
    /* 154 says which recovery is needed now: none is ignored */
    assert_int_equal(verify_xid_classify(154, "GPU recovery action changed from 0x1 (GPU Reset "
                                              "Required) to 0x0 (None)"),
                     VERIFY_XID_IGNORE);
    assert_int_equal(verify_xid_classify(154, "GPU recovery action changed from 0x0 (None) to "
                                              "0x1 (GPU Reset Required)"),
                     VERIFY_XID_FAIL);
    assert_int_equal(verify_xid_classify(154, "changed from 0x0 (None) to 0x02 (Node Reboot "
                                              "Required)"),
                     VERIFY_XID_FAIL);
    /* during the run: everything fails but the application XIDs */
    assert_int_equal(verify_xid_classify_event(13), VERIFY_XID_WARN);
    assert_int_equal(verify_xid_classify_event(109), VERIFY_XID_WARN);
    assert_int_equal(verify_xid_classify_event(63), VERIFY_XID_FAIL);
    assert_int_equal(verify_xid_classify_event(999), VERIFY_XID_FAIL);
    assert_string_equal(verify_xid_name(79), "GPU has fallen off the bus");
    assert_null(verify_xid_name(1));
}

/* A file like /dev/kmsg's records and dmesg's lines, through the reader. */
static char *write_log(const char *text)
{
    char *path = strdup("/tmp/gpuform-kmsg-XXXXXX");
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_verify_kernel_log_attributes_xids_to_their_device(void **state)
{
    (void)state;
    char *path = write_log(
        "6,1001,5000000,-;NVRM: loading NVIDIA UNIX x86_64 Kernel Module  570.86.15\n"
        "4,1002,123456789,-;NVRM: Xid (PCI:0000:3b:00): 79, pid=1234, name=python, GPU has "
        "fallen off the bus.\n"
        " SUBSYSTEM=pci\n"
        " DEVICE=+pci:0000:3b:00.0\n"
        "[  200.500000] NVRM: Xid (PCI:0000:3B:00): 13, pid=9, name=a.out, Graphics Exception\n"
        "[  201.000000] NVRM: Xid (PCI:0000:3b:00): 13, pid=9, name=a.out, again\n"
        "[  202.000000] NVRM: Xid (PCI:0000:5e:00): 48, An uncorrectable double bit error\n"
        "garbage line without a newline at the end NVRM: Xid (PCI:0000:5e:00): 94, Contained");
    struct verify_kernel_log log;
    verify_kernel_log_init(&log);
    verify_kernel_log_read(&log, path);
    assert_true(log.read);
    assert_string_equal(log.note, "");
    assert_int_equal(log.n, 4); /* (3b, 79), (3b, 13) x2, (5e, 48), (5e, 94) */

    struct verify_health h;
    verify_health_init(&h);
    assert_int_equal(verify_kernel_log_apply(&log, "00000000:3B:00.0", &h), 2);
    assert_int_equal(h.nxids, 2);
    assert_int_equal(h.xids[0].xid, 79);
    assert_int_equal(h.xids[0].cls, VERIFY_XID_FAIL);
    assert_int_equal(h.xids[0].source, VERIFY_XID_KERNEL_LOG);
    assert_true(h.xids[0].boot_s > 123 && h.xids[0].boot_s < 124);
    assert_int_equal(h.xids[1].xid, 13);
    assert_int_equal(h.xids[1].count, 2);
    assert_int_equal(h.xids[1].cls, VERIFY_XID_WARN);

    verify_health_init(&h);
    assert_int_equal(verify_kernel_log_apply(&log, "0000:5e:00.0", &h), 2);
    assert_int_equal(h.xids[0].xid, 48);
    assert_int_equal(h.xids[1].xid, 94);
    verify_health_init(&h);
    assert_int_equal(verify_kernel_log_apply(&log, "0000:01:00.0", &h), 0);
    assert_int_equal(verify_kernel_log_apply(&log, "not a bus id", &h), 0);
    assert_int_equal(h.nxids, 0);
    verify_kernel_log_release(&log);
    unlink(path);
    free(path);
}

static void test_verify_kernel_log_parses_the_start_of_an_over_long_line(void **state)
{
    (void)state;
    size_t n = 64 * 1024;
    char *text = malloc(n + 200);
    assert_non_null(text);
    strcpy(text, "[ 1.0] NVRM: Xid (PCI:0000:3b:00): 79, ");
    size_t at = strlen(text);
    memset(text + at, 'y', n - at);
    /* an XID hidden 64 KiB into the long line is not seen; the next line is */
    strcpy(text + n,
           " NVRM: Xid (PCI:0000:3b:00): 48, hidden\n[ 2.0] NVRM: Xid (PCI:0000:3b:00): 62, "
           "next\n");
    char *path = write_log(text);
    free(text);
    struct verify_kernel_log log;
    verify_kernel_log_init(&log);
    verify_kernel_log_read(&log, path);
    assert_true(log.read);
    assert_int_equal(log.n, 2);
    assert_int_equal(log.entries[0].first.xid, 79);
    assert_int_equal(log.entries[1].first.xid, 62);
    verify_kernel_log_release(&log);
    unlink(path);
    free(path);
}

static void test_verify_kernel_log_says_why_it_is_unreadable(void **state)
{
    (void)state;
    struct verify_kernel_log log;
    verify_kernel_log_init(&log);
    verify_kernel_log_read(&log, "/nonexistent/kmsg");
    assert_false(log.read);
    assert_non_null(strstr(log.note, "kernel log unreadable: /nonexistent/kmsg: "));
    verify_kernel_log_release(&log);
    if (getuid() != 0) { /* root reads a mode-000 file anyway */
        char *path = write_log("x\n");
        assert_int_equal(chmod(path, 0), 0);
        verify_kernel_log_init(&log);
        verify_kernel_log_read(&log, path);
        assert_false(log.read);
        assert_string_equal(log.note, "kernel log unreadable (needs root or "
                                      "kernel.dmesg_restrict=0)");
        verify_kernel_log_release(&log);
        unlink(path);
        free(path);
    }
}

/* The real /dev/kmsg where this host lets us read it: one record per read(), ended by
 * EAGAIN, never blocking. */
static void test_verify_kernel_log_reads_dev_kmsg_to_its_end(void **state)
{
    (void)state;
    int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        skip();
    close(fd);
    struct verify_kernel_log log;
    verify_kernel_log_init(&log);
    verify_kernel_log_read(&log, "/dev/kmsg");
    assert_string_equal(log.note, "");
    assert_true(log.read);
    verify_kernel_log_release(&log);
}

static void test_verify_kernel_log_keeps_distinct_pairs_bounded(void **state)
{
    (void)state;
    struct verify_kernel_log log;
    verify_kernel_log_init(&log);
    struct verify_xid_line l;
    memset(&l, 0, sizeof(l));
    for (int i = 0; i < VERIFY_KLOG_MAX + 10; i++) {
        l.xid = 1 + i;
        assert_int_equal(verify_kernel_log_add(&log, &l), 0);
    }
    assert_int_equal(log.n, VERIFY_KLOG_MAX);
    assert_int_equal(log.dropped, 10);
    /* the health entries are bounded too */
    struct verify_health h;
    verify_health_init(&h);
    assert_int_equal(verify_kernel_log_apply(&log, "0:0:0", &h), VERIFY_KLOG_MAX);
    assert_int_equal(h.nxids, VERIFY_MAX_XIDS);
    assert_int_equal(h.xids_dropped, VERIFY_KLOG_MAX - VERIFY_MAX_XIDS);
    verify_kernel_log_release(&log);
}

static void test_verify_inject_xid_lays_a_79_on_the_device(void **state)
{
    (void)state;
    struct verify_health h;
    verify_health_init(&h);
    assert_int_equal(verify_inject_xid("0000:02:00.0", &h), 0);
    assert_int_equal(h.nxids, 1);
    assert_int_equal(h.xids[0].xid, VERIFY_XID_FAULT_XID);
    assert_int_equal(h.xids[0].cls, VERIFY_XID_FAIL);
    assert_string_equal(h.xids[0].message, "GPU has fallen off the bus");
    assert_int_equal(verify_inject_xid("nonsense", &h), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_xid_parses_a_kmsg_record_with_pid_and_name),
        cmocka_unit_test(test_verify_xid_parses_dmesg_and_syslog_lines_of_several_xids),
        cmocka_unit_test(test_verify_xid_rejects_other_nvrm_lines_garbage_and_truncated_ones),
        cmocka_unit_test(test_verify_xid_survives_a_64_kib_line_and_sanitises_its_message),
        cmocka_unit_test(test_verify_pci_bus_ids_normalise_across_forms),
        cmocka_unit_test(test_verify_xid_sets_follow_the_research_proposal),
        cmocka_unit_test(test_verify_kernel_log_attributes_xids_to_their_device),
        cmocka_unit_test(test_verify_kernel_log_parses_the_start_of_an_over_long_line),
        cmocka_unit_test(test_verify_kernel_log_says_why_it_is_unreadable),
        cmocka_unit_test(test_verify_kernel_log_reads_dev_kmsg_to_its_end),
        cmocka_unit_test(test_verify_kernel_log_keeps_distinct_pairs_bounded),
        cmocka_unit_test(test_verify_inject_xid_lays_a_79_on_the_device),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
