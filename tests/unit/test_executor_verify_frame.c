/*
 * The verify agent's framed, signed report: written and found again in console output
 * among other boot messages; truncated, doubled, another node's, garbled and wrongly signed
 * blocks; node keys; the boot script's agent part read back; reports summed up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "executor/verify_frame.h"

static const char *const report = "{\"version\": 1, \"status\": \"pass\", \"level\": \"quick\"}";

static void key_of(unsigned char k[EXEC_VERIFY_KEY_LEN], unsigned char fill)
{
    memset(k, fill, EXEC_VERIFY_KEY_LEN);
}

/* Finds `address`'s report in `text` with key byte `fill`; the report (or NULL) in *out. */
static enum exec_frame_status find(const char *text, const char *address, unsigned char fill,
                                   char **out, char *why)
{
    unsigned char k[EXEC_VERIFY_KEY_LEN];
    key_of(k, fill);
    size_t n = 0;
    return exec_frame_find(text, strlen(text), address, k, out, &n, why, 256);
}

static char *frame(const char *address, unsigned char fill, const char *body)
{
    unsigned char k[EXEC_VERIFY_KEY_LEN];
    key_of(k, fill);
    char *f = exec_frame_write(address, k, body, strlen(body));
    assert_non_null(f);
    return f;
}

static char *join(const char *a, const char *b, const char *c)
{
    char *s = NULL;
    assert_true(asprintf(&s, "%s%s%s", a, b, c) > 0);
    return s;
}

static void test_frame_round_trips_among_other_console_output(void **state)
{
    (void)state;
    char *f = frame("chat[0]", 7, report);
    /* kernel lines around it, a prefix and "\r" on its lines, as serial consoles have */
    char *text = join("[    0.0] Linux version 6.1\r\ncloud-init: booted\n", f,
                      "[   12.3] systemd: reached target\n");
    char *out = NULL, why[256];
    assert_int_equal(find(text, "chat[0]", 7, &out, why), EXEC_FRAME_OK);
    assert_string_equal(out, report);
    free(out);
    free(text);
    /* a kernel message in the middle of the block and a timestamp prefix change nothing */
    const char *nl = strchr(f, '\n');
    char head[128];
    snprintf(head, sizeof head, "[  1.0] %.*s\r\n[  1.1] usb 1-1: new device\n", (int)(nl - f), f);
    text = join(head, nl + 1, "");
    assert_int_equal(find(text, "chat[0]", 7, &out, why), EXEC_FRAME_OK);
    assert_string_equal(out, report);
    free(out);
    free(text);
    free(f);
}

static void test_frame_without_a_block_is_none_and_a_cut_block_truncated(void **state)
{
    (void)state;
    char *out = NULL, why[256];
    assert_int_equal(find("cloud-init: booted\n", "chat[0]", 7, &out, why), EXEC_FRAME_NONE);
    assert_null(out);
    char *f = frame("chat[0]", 7, report);
    char *cut = strstr(f, "gpuform-verify mac");
    *cut = '\0';
    assert_int_equal(find(f, "chat[0]", 7, &out, why), EXEC_FRAME_TRUNCATED);
    assert_null(out);
    assert_non_null(strstr(why, "truncated"));
    free(f);
}

static void test_frame_takes_the_last_complete_block(void **state)
{
    (void)state;
    char *a = frame("chat[0]", 7, "{\"first\": 1}");
    char *b = frame("chat[0]", 7, "{\"second\": 2}");
    char *text = join(a, "reboot\n", b);
    char *out = NULL, why[256];
    assert_int_equal(find(text, "chat[0]", 7, &out, why), EXEC_FRAME_OK);
    assert_string_equal(out, "{\"second\": 2}");
    free(out);
    /* a later block that was cut short leaves the last complete one in force */
    char *cut = strdup(a);
    *strstr(cut, "gpuform-verify end") = '\0';
    char *text2 = join(b, cut, "");
    assert_int_equal(find(text2, "chat[0]", 7, &out, why), EXEC_FRAME_OK);
    assert_string_equal(out, "{\"second\": 2}");
    free(out);
    free(cut);
    free(text2);
    free(text);
    free(a);
    free(b);
}

static void test_frame_ignores_another_nodes_block(void **state)
{
    (void)state;
    char *other = frame("chat[1]", 9, report);
    char *out = NULL, why[256];
    assert_int_equal(find(other, "chat[0]", 7, &out, why), EXEC_FRAME_NONE);
    /* the other node's block, even signed with our key, is not ours: its address is signed */
    char *copy = frame("chat[1]", 7, report);
    assert_int_equal(find(copy, "chat[0]", 7, &out, why), EXEC_FRAME_NONE);
    /* and renaming it to our address breaks its MAC */
    char *renamed = strdup(copy);
    renamed[strlen("gpuform-verify begin v1 chat[")] = '0';
    assert_int_equal(find(renamed, "chat[0]", 7, &out, why), EXEC_FRAME_BAD);
    assert_non_null(strstr(why, "MAC mismatch"));
    assert_null(out);
    free(renamed);
    free(copy);
    free(other);
}

static void test_frame_signed_with_another_key_is_rejected(void **state)
{
    (void)state;
    char *forged = frame("chat[0]", 8, report);
    char *out = NULL, why[256];
    assert_int_equal(find(forged, "chat[0]", 7, &out, why), EXEC_FRAME_BAD);
    assert_string_equal(why, "verify report not authenticated: MAC mismatch (a report signed with "
                             "another key)");
    assert_null(out);
    free(forged);
}

static void test_frame_garbled_blocks_are_bad_not_crashes(void **state)
{
    (void)state;
    char *out = NULL, why[256];
    char *f = frame("chat[0]", 7, report);
    /* a character outside base64url in the data */
    char *g = strdup(f);
    g[strlen("gpuform-verify begin v1 chat[0]\ngpuform-verify data ") + 3] = '*';
    assert_int_equal(find(g, "chat[0]", 7, &out, why), EXEC_FRAME_BAD);
    assert_non_null(strstr(why, "garbled"));
    free(g);
    /* one data character changed within the alphabet: decodes, MAC fails */
    g = strdup(f);
    char *d = g + strlen("gpuform-verify begin v1 chat[0]\ngpuform-verify data ") + 3;
    *d = *d == 'A' ? 'B' : 'A';
    assert_int_equal(find(g, "chat[0]", 7, &out, why), EXEC_FRAME_BAD);
    assert_non_null(strstr(why, "MAC mismatch"));
    free(g);
    /* a data length no base64 has */
    g = join("gpuform-verify begin v1 chat[0]\ngpuform-verify data A\ngpuform-verify mac ",
             "0000000000000000000000000000000000000000000000000000000000000000\n",
             "gpuform-verify end\n");
    assert_int_equal(find(g, "chat[0]", 7, &out, why), EXEC_FRAME_BAD);
    free(g);
    /* no MAC line, a MAC that is not hex, an unknown line */
    g = join("gpuform-verify begin v1 chat[0]\n", "gpuform-verify data e30\n",
             "gpuform-verify end\n");
    assert_int_equal(find(g, "chat[0]", 7, &out, why), EXEC_FRAME_BAD);
    assert_non_null(strstr(why, "no MAC"));
    free(g);
    g = join("gpuform-verify begin v1 chat[0]\ngpuform-verify data e30\ngpuform-verify mac ",
             "zz00000000000000000000000000000000000000000000000000000000000000\n",
             "gpuform-verify end\n");
    assert_int_equal(find(g, "chat[0]", 7, &out, why), EXEC_FRAME_BAD);
    free(g);
    g = join("gpuform-verify begin v1 chat[0]\ngpuform-verify nonsense\n", strchr(f, '\n') + 1, "");
    assert_int_equal(find(g, "chat[0]", 7, &out, why), EXEC_FRAME_BAD);
    free(g);
    assert_null(out);
    free(f);
}

static void test_node_keys_differ_per_token_and_need_a_good_secret(void **state)
{
    (void)state;
    char secret[EXEC_VERIFY_SECRET_HEX], other[EXEC_VERIFY_SECRET_HEX];
    assert_int_equal(exec_verify_secret_new(secret), 0);
    assert_int_equal(exec_verify_secret_new(other), 0);
    assert_int_equal(strlen(secret), 64);
    assert_string_not_equal(secret, other);
    unsigned char a[EXEC_VERIFY_KEY_LEN], b[EXEC_VERIFY_KEY_LEN], c[EXEC_VERIFY_KEY_LEN];
    assert_int_equal(exec_verify_key(secret, "gf-aaa", a), 0);
    assert_int_equal(exec_verify_key(secret, "gf-aaa", b), 0);
    assert_memory_equal(a, b, sizeof a);
    assert_int_equal(exec_verify_key(secret, "gf-aab", c), 0);
    assert_memory_not_equal(a, c, sizeof a);
    assert_int_equal(exec_verify_key(other, "gf-aaa", c), 0);
    assert_memory_not_equal(a, c, sizeof a);
    assert_int_equal(exec_verify_key("abc", "gf-aaa", c), -1);
    assert_int_equal(exec_verify_key(NULL, "gf-aaa", c), -1);
    secret[3] = 'x';
    assert_int_equal(exec_verify_key(secret, "gf-aaa", c), -1);
}

static void test_agent_script_carries_what_the_agent_needs(void **state)
{
    (void)state;
    unsigned char k[EXEC_VERIFY_KEY_LEN];
    for (int i = 0; i < EXEC_VERIFY_KEY_LEN; i++)
        k[i] = (unsigned char)(i * 7 + 1);
    char *s = exec_agent_script("#!/bin/sh\necho hi", "fl-sites[paris]", "full", "gcp", k);
    assert_non_null(s);
    assert_true(strncmp(s, "#!/bin/sh\necho hi\n" EXEC_AGENT_MARKER, 28) == 0);
    assert_non_null(strstr(s, "gpuform verify --agent --level full --address 'fl-sites[paris]'"));
    /* the watcher, after the boot report, as a systemd service or else detached */
    const char *boot = strstr(s, "--agent --level full");
    const char *unit = strstr(s, "systemd-run --unit " EXEC_WATCH_UNIT " ");
    const char *detached =
        strstr(s, "setsid nohup \"$g\" verify --agent --watch --cloud gcp "
                  "--address 'fl-sites[paris]' --key-file /etc/gpuform/verify.key");
    assert_non_null(unit);
    assert_non_null(detached);
    assert_true(boot < unit && unit < detached);
    assert_non_null(strstr(unit, "\"$g\" verify --agent --watch --cloud gcp --address "
                                 "'fl-sites[paris]' --key-file /etc/gpuform/verify.key\n"));
    /* and the shell can read it */
    FILE *sh = popen("sh -n", "w");
    assert_non_null(sh);
    fputs(s, sh);
    assert_int_equal(pclose(sh), 0);
    struct exec_agent_req r;
    assert_int_equal(exec_agent_parse(s, &r), 0);
    assert_string_equal(r.address, "fl-sites[paris]");
    assert_string_equal(r.level, "full");
    assert_string_equal(r.cloud, "gcp");
    assert_memory_equal(r.key, k, sizeof k);
    free(s);
    assert_int_equal(exec_agent_parse("#!/bin/sh\necho no agent\n", &r), -1);
    assert_int_equal(exec_agent_parse(NULL, &r), -1);
    assert_int_equal(exec_agent_parse(EXEC_AGENT_MARKER " level=quick\n<<'GPUFORM_KEY'\nabc\n"
                                                        "--address 'x'",
                                      &r),
                     -1);
    /* an address the shell can't take quoted is refused, not mangled; so is a cloud that is
     * not a plain name */
    assert_null(exec_agent_script("", "a'b", "quick", "aws", k));
    assert_null(exec_agent_script("", "a", "quick", "aws;rm", k));
    assert_null(exec_agent_script("", "a", "quick", "", k));
}

static void test_report_summary_counts_checks_and_names_failures(void **state)
{
    (void)state;
    const char *pass =
        "{\"status\":\"pass\",\"level\":\"quick\",\"backend\":\"cpu\",\"seconds\":"
        "3.1,\"node\":[{\"check\":\"inventory\",\"status\":\"pass\"},{\"check\":"
        "\"peer_bandwidth\",\"status\":\"skip\"}],\"gpus\":[{\"checks\":[{\"check\":"
        "\"memory\",\"status\":\"pass\"},{\"check\":\"gemm\",\"status\":\"warn\"}]}]}";
    struct exec_report_summary s;
    char why[256];
    assert_int_equal(exec_report_summarize(pass, strlen(pass), &s, why, sizeof why), 0);
    assert_true(s.passed);
    assert_int_equal(s.checks, 3);
    assert_int_equal(s.failed, 0);
    assert_string_equal(s.level, "quick");
    assert_true(s.seconds > 3.0 && s.seconds < 3.2);
    const char *fail = "{\"status\":\"fail\",\"level\":\"quick\",\"backend\":\"cpu\",\"seconds\":1,"
                       "\"node\":[],\"gpus\":[{\"checks\":[{\"check\":\"memory\",\"status\":"
                       "\"fail\",\"message\":\"1 mismatch\"},{\"check\":\"gemm\",\"status\":"
                       "\"fail\",\"message\":\"x\"}]},{\"checks\":[{\"check\":\"memory\","
                       "\"status\":\"fail\",\"message\":\"y\"}]}]}";
    assert_int_equal(exec_report_summarize(fail, strlen(fail), &s, why, sizeof why), 0);
    assert_false(s.passed);
    assert_int_equal(s.failed, 3);
    assert_string_equal(s.why, "memory, gemm");
    assert_string_equal(s.first, "gpu0 memory: 1 mismatch");
    assert_int_equal(exec_report_summarize("{", 1, &s, why, sizeof why), -1);
    assert_int_equal(exec_report_summarize("{}", 2, &s, why, sizeof why), -1);
    const char *liar = "{\"status\":\"pass\",\"level\":\"quick\",\"backend\":\"cpu\",\"seconds\":1,"
                       "\"node\":[{\"check\":\"inventory\",\"status\":\"fail\"}],\"gpus\":[]}";
    assert_int_equal(exec_report_summarize(liar, strlen(liar), &s, why, sizeof why), -1);
}

#define NONCE_A "0123456789abcdef0123456789abcdef"
#define NONCE_B "fedcba9876543210fedcba9876543210"

/* A report answering `nonce` (or none when NULL), as the watching agent prints it. */
static char *answer(const char *nonce, const char *status)
{
    char *s = NULL;
    if (nonce)
        assert_true(asprintf(&s, "{\"version\": 1, \"status\": \"%s\", \"request\": \"%s\"}",
                             status, nonce) > 0);
    else
        assert_true(asprintf(&s, "{\"version\": 1, \"status\": \"%s\"}", status) > 0);
    return s;
}

static enum exec_frame_status find_req(const char *text, const char *address, unsigned char fill,
                                       const char *nonce, char **out, char *why)
{
    unsigned char k[EXEC_VERIFY_KEY_LEN];
    key_of(k, fill);
    size_t n = 0;
    return exec_frame_find_request(text, strlen(text), address, k, nonce, out, &n, why, 256);
}

static void test_request_finds_only_the_block_answering_its_nonce(void **state)
{
    (void)state;
    char *boot = answer(NULL, "pass"), *a = answer(NONCE_A, "fail"), *b = answer(NONCE_B, "pass");
    char *fboot = frame("chat[0]", 7, boot), *fa = frame("chat[0]", 7, a),
         *fb = frame("chat[0]", 7, b), *other = frame("chat[1]", 7, a);
    char *out = NULL, why[256];
    /* the boot report answers no request: not yet */
    assert_int_equal(find_req(fboot, "chat[0]", 7, NONCE_A, &out, why), EXEC_FRAME_NONE);
    assert_null(out);
    assert_non_null(strstr(why, "answering the request"));
    /* the answer, then a later block answering another request: the answer still counts */
    char *text = join(fboot, fa, fb);
    assert_int_equal(find_req(text, "chat[0]", 7, NONCE_A, &out, why), EXEC_FRAME_OK);
    assert_string_equal(out, a);
    free(out);
    out = NULL;
    assert_int_equal(find_req(text, "chat[0]", 7, NONCE_B, &out, why), EXEC_FRAME_OK);
    assert_string_equal(out, b);
    free(out);
    out = NULL;
    /* another node's block answering the nonce is not this node's answer */
    char *text2 = join(fboot, other, "");
    assert_int_equal(find_req(text2, "chat[0]", 7, NONCE_A, &out, why), EXEC_FRAME_NONE);
    /* an answer begun but not ended yet */
    char *cut = strdup(fa);
    *strstr(cut, "gpuform-verify end") = '\0';
    char *text3 = join(fboot, cut, "");
    assert_int_equal(find_req(text3, "chat[0]", 7, NONCE_A, &out, why), EXEC_FRAME_TRUNCATED);
    assert_null(out);
    free(text);
    free(text2);
    free(text3);
    free(cut);
    free(fboot);
    free(fa);
    free(fb);
    free(other);
    free(boot);
    free(a);
    free(b);
}

static void test_request_answered_with_another_key_is_bad_and_a_good_answer_wins(void **state)
{
    (void)state;
    char *boot = answer(NULL, "pass"), *a = answer(NONCE_A, "pass");
    char *fboot = frame("chat[0]", 7, boot), *forged = frame("chat[0]", 9, a),
         *good = frame("chat[0]", 7, a);
    char *out = NULL, why[256];
    char *text = join(fboot, forged, "");
    assert_int_equal(find_req(text, "chat[0]", 7, NONCE_A, &out, why), EXEC_FRAME_BAD);
    assert_null(out);
    assert_non_null(strstr(why, "MAC mismatch"));
    /* the last block's identity: none, then the forged one's, which a later one changes */
    char id0[EXEC_FRAME_ID_HEX], id1[EXEC_FRAME_ID_HEX], id2[EXEC_FRAME_ID_HEX];
    assert_int_equal(exec_frame_last_id("boot\n", 5, "chat[0]", id0), 0);
    assert_string_equal(id0, "");
    assert_int_equal(exec_frame_last_id(text, strlen(text), "chat[0]", id1), 1);
    assert_int_equal(exec_frame_last_id(forged, strlen(forged), "chat[0]", id2), 1);
    assert_string_equal(id1, id2); /* the same last block, whatever came before it */
    assert_int_equal(exec_frame_last_id(fboot, strlen(fboot), "chat[0]", id2), 1);
    assert_string_not_equal(id1, id2);
    assert_int_equal(exec_frame_last_id(text, strlen(text), "chat[1]", id2), 0);
    /* a forged block after the real answer does not undo it */
    char *text2 = join(good, forged, "");
    assert_int_equal(find_req(text2, "chat[0]", 7, NONCE_A, &out, why), EXEC_FRAME_OK);
    assert_string_equal(out, a);
    free(out);
    free(text);
    free(text2);
    free(fboot);
    free(forged);
    free(good);
    free(boot);
    free(a);
}

static void test_request_values_are_level_and_a_fresh_nonce(void **state)
{
    (void)state;
    char v1[EXEC_VERIFY_REQUEST_VALUE], v2[EXEC_VERIFY_REQUEST_VALUE], level[8],
        nonce[EXEC_VERIFY_NONCE_HEX];
    assert_int_equal(exec_verify_request_new("quick", v1), 0);
    assert_int_equal(exec_verify_request_new("quick", v2), 0);
    assert_string_not_equal(v1, v2);
    assert_int_equal(strlen(v1), 6 + 32);
    assert_int_equal(exec_verify_request_parse(v1, level, nonce), 0);
    assert_string_equal(level, "quick");
    assert_string_equal(nonce, v1 + 6);
    assert_int_equal(exec_verify_request_new("full", v1), 0);
    assert_int_equal(exec_verify_request_parse(v1, level, nonce), 0);
    assert_string_equal(level, "full");
    assert_int_equal(exec_verify_request_new("slow", v1), -1);
    assert_int_equal(exec_verify_request_new(NULL, v1), -1);
    assert_int_equal(exec_verify_request_parse("full:" NONCE_A "\n", level, nonce), 0);
    assert_string_equal(nonce, NONCE_A);
    static const char *const bad[] = {
        "slow:" NONCE_A,                          /* another level */
        "quick" NONCE_A,                          /* no colon */
        "quick:0123456789abcdef",                 /* short */
        "quick:0123456789ABCDEF0123456789abcdef", /* upper case */
        "quick:" NONCE_A "x",                     /* trailing junk */
        "quick:" NONCE_A " 1",                    /* junk after blanks */
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(exec_verify_request_parse(bad[i], level, nonce), -1);
    assert_int_equal(exec_verify_request_parse(NULL, level, nonce), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_round_trips_among_other_console_output),
        cmocka_unit_test(test_frame_without_a_block_is_none_and_a_cut_block_truncated),
        cmocka_unit_test(test_frame_takes_the_last_complete_block),
        cmocka_unit_test(test_frame_ignores_another_nodes_block),
        cmocka_unit_test(test_frame_signed_with_another_key_is_rejected),
        cmocka_unit_test(test_frame_garbled_blocks_are_bad_not_crashes),
        cmocka_unit_test(test_node_keys_differ_per_token_and_need_a_good_secret),
        cmocka_unit_test(test_agent_script_carries_what_the_agent_needs),
        cmocka_unit_test(test_report_summary_counts_checks_and_names_failures),
        cmocka_unit_test(test_request_finds_only_the_block_answering_its_nonce),
        cmocka_unit_test(test_request_answered_with_another_key_is_bad_and_a_good_answer_wins),
        cmocka_unit_test(test_request_values_are_level_and_a_fresh_nonce),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
