/*
 * The state's policy_overrides list: a record survives the document byte for byte, a state
 * without the field still loads, a malformed record is refused naming its field, the list
 * keeps the last 100, a record is never added twice, and the journal carries one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor/journal.h"
#include "executor/state.h"
#include "executor/state_override.h"

/* A record with two findings (one without an address); strings borrowed, for copying. */
static struct state_override sample(const char *id)
{
    static char *policies[] = {"no-spot-in-prod", "policies/cloud-share.lua"};
    static struct state_override_finding findings[] = {
        {"no-spot-in-prod.lua", "soft", "spot capacity for a production workload", "web[0]"},
        {"policies/cloud-share.lua", "soft", "72% of the GPUs on aws", NULL},
    };
    struct state_override o = {.at = "2026-11-21T18:02:11Z",
                               .who = "alice",
                               .who_source = "GPUFORM_ACTOR",
                               .reason = "capacity crunch, approved in CHG-1234",
                               .policies = policies,
                               .npolicies = 2,
                               .findings = findings,
                               .nfindings = 2,
                               .serial = 0,
                               .run_url = "https://github.com/acme/infra/actions/runs/42"};
    snprintf(o.id, sizeof o.id, "%s", id);
    return o;
}

static struct state *parse_ok(const char *text, size_t len)
{
    struct state *st = NULL;
    struct state_err err = {{0}};
    if (state_parse(text, len, "mem", &st, &err) != 0)
        fail_msg("%s", err.msg);
    return st;
}

static void test_an_override_roundtrips_byte_for_byte(void **ctx)
{
    (void)ctx;
    struct state *st = state_new("prod");
    assert_non_null(st);
    st->serial = 4;
    struct state_override o = sample("0b7c4a52-7d3e-4f1a-9c2b-5e6f7a8b9c0d");
    assert_int_equal(state_override_record(st, &o, 5), 0);
    size_t len;
    char *text = state_serialize(st, &len);
    assert_non_null(text);
    assert_non_null(strstr(text, "\"policy_overrides\": ["));
    struct state *back = parse_ok(text, len);
    assert_int_equal(back->noverrides, 1);
    const struct state_override *r = &back->overrides[0];
    assert_string_equal(r->id, o.id);
    assert_string_equal(r->at, "2026-11-21T18:02:11Z");
    assert_string_equal(r->who, "alice");
    assert_string_equal(r->who_source, "GPUFORM_ACTOR");
    assert_string_equal(r->reason, o.reason);
    assert_int_equal(r->serial, 5);
    assert_int_equal(r->npolicies, 2);
    assert_string_equal(r->policies[1], "policies/cloud-share.lua");
    assert_int_equal(r->nfindings, 2);
    assert_string_equal(r->findings[0].address, "web[0]");
    assert_null(r->findings[1].address);
    assert_string_equal(r->findings[1].message, "72% of the GPUs on aws");
    assert_string_equal(r->run_url, o.run_url);
    size_t len2;
    char *again = state_serialize(back, &len2);
    assert_int_equal(len2, len);
    assert_memory_equal(again, text, len);
    free(again);
    free(text);
    state_free(back);
    state_free(st);
}

static void test_a_state_without_overrides_loads_and_is_written_as_before(void **ctx)
{
    (void)ctx;
    static const char old[] = "{\"format_version\": 1, \"lineage\": "
                              "\"0b7c4a52-7d3e-4f1a-9c2b-5e6f7a8b9c0d\", \"serial\": 3, "
                              "\"stack\": \"prod\", \"nodes\": [], \"blocklist\": []}";
    struct state *st = parse_ok(old, sizeof old - 1);
    assert_int_equal(st->noverrides, 0);
    char *text = state_serialize(st, NULL);
    assert_non_null(text);
    assert_null(strstr(text, "policy_overrides")); /* an older gpuform reads it unchanged */
    free(text);
    state_free(st);
}

/* A state with one sample record, serialized, `from` replaced with `to` in its text: parsing
 * it must fail with `message` in the error. */
static void expect_refused(const char *from, const char *to, const char *message)
{
    struct state *st = state_new("prod");
    assert_non_null(st);
    struct state_override o = sample("1b4e28ba-2fa1-4d2b-a3c5-0123456789ab");
    assert_int_equal(state_override_record(st, &o, 1), 0);
    char *text = state_serialize(st, NULL);
    assert_non_null(text);
    const char *at = strstr(text, from);
    if (!at)
        fail_msg("'%s' not in the document", from);
    size_t n = strlen(text) - strlen(from) + strlen(to) + 1;
    char *edited = malloc(n);
    assert_non_null(edited);
    snprintf(edited, n, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    struct state *back = NULL;
    struct state_err err = {{0}};
    assert_int_equal(state_parse(edited, strlen(edited), "s.json", &back, &err), -1);
    assert_null(back);
    if (!strstr(err.msg, message))
        fail_msg("wanted '%s' in: %s", message, err.msg);
    free(edited);
    free(text);
    state_free(st);
}

static void test_a_malformed_override_is_refused_naming_its_field(void **ctx)
{
    (void)ctx;
    expect_refused("\"who\": \"alice\"", "\"who\": 7",
                   "state 's.json': policy_overrides[0].who is not a string");
    expect_refused("\"who\": \"alice\",", "", "policy_overrides[0].who is missing");
    expect_refused("\"reason\": \"capacity crunch, approved in CHG-1234\"", "\"reason\": \"\"",
                   "policy_overrides[0].reason is empty");
    expect_refused("\"at\": \"2026-11-21T18:02:11Z\"", "\"at\": \"yesterday\"",
                   "policy_overrides[0].at is not a UTC time");
    expect_refused("\"level\": \"soft\"", "\"level\": \"mild\"",
                   "policy_overrides[0].findings[0].level is not advisory, soft or hard");
    expect_refused("\"address\": null", "\"address\": 3",
                   "policy_overrides[0].findings[1].address is not a string or null");
    expect_refused("\"serial\": 1,", "\"serial\": -1,",
                   "policy_overrides[0].serial is not a serial");
    expect_refused("\"policies\": [", "\"policies\": 5, \"x\": [",
                   "policy_overrides[0].policies is missing or not a list");
    expect_refused("\"findings\": [", "\"findings\": {}, \"x\": [",
                   "policy_overrides[0].findings is missing or not a list");
    expect_refused("\"run_url\": \"https", "\"run_url\": 5, \"y\": \"https",
                   "policy_overrides[0].run_url is not a string or null");
    expect_refused("\"policy_overrides\": [", "\"policy_overrides\": {}, \"z\": [",
                   "state 's.json': policy_overrides is not a list");
}

static void test_the_list_keeps_the_last_hundred_and_records_each_once(void **ctx)
{
    (void)ctx;
    struct state *st = state_new("prod");
    assert_non_null(st);
    for (int i = 0; i < STATE_OVERRIDES_MAX + 20; i++) {
        char id[37];
        snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", i);
        struct state_override o = sample(id);
        assert_int_equal(state_override_record(st, &o, (uint64_t)i), 0);
        assert_int_equal(state_override_record(st, &o, (uint64_t)i + 1000), 0); /* same id */
    }
    assert_int_equal(st->noverrides, STATE_OVERRIDES_MAX);
    assert_string_equal(st->overrides[0].id, "00000000-0000-4000-8000-000000000020");
    assert_int_equal(st->overrides[0].serial, 1020); /* the second record set its serial */
    assert_string_equal(st->overrides[STATE_OVERRIDES_MAX - 1].id,
                        "00000000-0000-4000-8000-000000000119");
    size_t len;
    char *text = state_serialize(st, &len);
    assert_non_null(text);
    struct state *back = parse_ok(text, len);
    assert_int_equal(back->noverrides, STATE_OVERRIDES_MAX);
    free(text);
    state_free(back);
    state_free(st);
}

static void test_the_journal_carries_the_runs_override(void **ctx)
{
    (void)ctx;
    struct state_override o = sample("2c9a1f00-1111-4222-8333-444455556666");
    char *line = journal_encode_override(&o);
    assert_non_null(line);
    struct journal_rec rec = {.op = JOURNAL_CREATE,
                              .phase = JOURNAL_INTENT,
                              .address = "web[0]",
                              .provider = "aws",
                              .token = "tok",
                              .placement = {"aws", "us-east-1", "", "p3.2xlarge", "V100", 1, true},
                              .at = 1795000000};
    char *intent = journal_encode(&rec);
    assert_non_null(intent);
    char text[8192];
    snprintf(text, sizeof text, "%s\n%s\n", line, intent);
    struct journal_replay r;
    struct state_err err = {{0}};
    assert_int_equal(journal_replay(text, strlen(text), "j", &r, &err), 0);
    assert_int_equal(r.nentries, 1);
    assert_non_null(r.override);
    assert_string_equal(r.override->id, o.id);
    assert_string_equal(r.override->reason, o.reason);
    assert_int_equal(r.override->nfindings, 2);
    journal_replay_release(&r);
    /* a damaged override line is refused, naming the line and the field */
    snprintf(text, sizeof text, "{\"op\": \"override\", \"override\": {\"id\": \"x\"}}\n%s\n",
             intent);
    assert_int_equal(journal_replay(text, strlen(text), "j", &r, &err), -1);
    assert_non_null(strstr(err.msg, "line 1: override.at is missing"));
    free(intent);
    free(line);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_an_override_roundtrips_byte_for_byte),
        cmocka_unit_test(test_a_state_without_overrides_loads_and_is_written_as_before),
        cmocka_unit_test(test_a_malformed_override_is_refused_naming_its_field),
        cmocka_unit_test(test_the_list_keeps_the_last_hundred_and_records_each_once),
        cmocka_unit_test(test_the_journal_carries_the_runs_override),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
