/*
 * cloudsim's world without HTTP: the lifecycle on a fake clock, ClientToken idempotency,
 * capacity and quotas, filters, paging tokens, token buckets, fault decisions replayed from
 * a seed, spot interruptions, persistence, the EC2 dialect's replies and config errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "modules/cloudsim/sim.h"
#include "modules/verify/verify.h"
#include "sim_testlib.h"

#define T0 1800000000.0 /* a fixed "now" */

static struct sim_world *world(uint64_t seed, void (*tweak)(struct sim_config *))
{
    struct core_diags d;
    struct sim_config c;
    core_diags_init(&d, 0);
    assert_int_equal(sim_config_defaults(&c, &d), 0);
    core_diags_release(&d);
    c.seed = seed;
    if (tweak)
        tweak(&c);
    struct sim_world *w = sim_world_new(&c);
    assert_non_null(w);
    return w;
}

static struct sim_run_request run_req(const char *type, long n, const char *token, const char *hash)
{
    return (struct sim_run_request){.region = "us-east-1",
                                    .type = type,
                                    .image = "ami-1",
                                    .client_token = token,
                                    .min_count = n,
                                    .max_count = n,
                                    .params_hash = hash};
}

static struct sim_instance *launch_one(struct sim_world *w, double now)
{
    struct sim_run_request r = run_req("g5.xlarge", 1, NULL, "h");
    struct sim_instance *out[1];
    size_t n = 0;
    struct sim_error e;
    assert_int_equal(sim_world_run(w, &r, now, out, &n, &e), 0);
    assert_int_equal(n, 1);
    return out[0];
}

static void test_cloudsim_lifecycle_follows_the_fake_clock(void **state)
{
    (void)state;
    struct sim_world *w = world(1, NULL);
    struct sim_instance *i = launch_one(w, T0);
    char id[24];
    memcpy(id, i->id, sizeof id);
    assert_int_equal(i->state, SIM_PENDING);
    assert_true(i->running_at >= T0 + 5 && i->running_at <= T0 + 30);
    sim_world_advance(w, T0 + 4.9);
    assert_int_equal(i->state, SIM_PENDING);
    sim_world_advance(w, T0 + 30.001);
    assert_int_equal(i->state, SIM_RUNNING);
    enum sim_state prev;
    sim_world_terminate(w, i, T0 + 100, false, &prev);
    assert_int_equal(prev, SIM_RUNNING);
    assert_int_equal(i->state, SIM_SHUTTING_DOWN);
    assert_string_equal(i->reason_code, "Client.UserInitiatedShutdown");
    sim_world_advance(w, T0 + 100 + 15.001);
    assert_int_equal(i->state, SIM_TERMINATED);
    assert_non_null(sim_world_find(w, id));
    sim_world_advance(w, T0 + 100 + 15 + 3600 + 1);
    assert_null(sim_world_find(w, id));
    assert_int_equal(w->ninstances, 0);
    sim_world_free(w);
}

static void test_cloudsim_client_token_is_idempotent(void **state)
{
    (void)state;
    struct sim_world *w = world(1, NULL);
    struct sim_run_request r = run_req("g5.xlarge", 3, "tok", "aaaa");
    struct sim_instance *a[3], *b[3];
    size_t na, nb;
    struct sim_error e;
    assert_int_equal(sim_world_run(w, &r, T0, a, &na, &e), 0);
    assert_int_equal(sim_world_run(w, &r, T0 + 1, b, &nb, &e), 0);
    assert_int_equal(na, 3);
    assert_int_equal(nb, 3);
    for (size_t i = 0; i < 3; i++)
        assert_ptr_equal(a[i], b[i]);
    assert_int_equal(w->ninstances, 3);
    r.params_hash = "bbbb";
    assert_int_equal(sim_world_run(w, &r, T0 + 2, b, &nb, &e), -1);
    assert_string_equal(e.code, "IdempotentParameterMismatch");
    assert_int_equal(e.http_status, 400);
    sim_world_free(w);
}

static void cap_two(struct sim_config *c)
{
    c->capacity = calloc(1, sizeof *c->capacity);
    c->capacity[0] = (struct sim_capacity_rule){strdup(""), strdup("g5.xlarge"), 2, CORE_CLOUD_AWS};
    c->ncapacity = 1;
    c->quotas = calloc(1, sizeof *c->quotas);
    c->quotas[0] =
        (struct sim_quota){strdup("us-east-1"), 16, SIM_UNLIMITED, SIM_UNLIMITED, CORE_CLOUD_AWS};
    c->nquotas = 1;
}

static void test_cloudsim_capacity_and_quotas_refuse_as_ec2_does(void **state)
{
    (void)state;
    struct sim_world *w = world(1, cap_two);
    struct sim_instance *out[8];
    size_t n;
    struct sim_error e;
    struct sim_run_request r = run_req("g5.xlarge", 3, NULL, "h");
    r.zone = "us-east-1b";
    assert_int_equal(sim_world_run(w, &r, T0, out, &n, &e), -1);
    assert_string_equal(e.code, "InsufficientInstanceCapacity");
    r.min_count = 1;
    r.max_count = 5;
    assert_int_equal(sim_world_run(w, &r, T0, out, &n, &e), 0);
    assert_int_equal(n, 2); /* as many as fit, at least MinCount */
    /* g5.12xlarge has 48 vCPUs: over the 16-vCPU on-demand quota. */
    r = run_req("g5.12xlarge", 1, NULL, "h");
    assert_int_equal(sim_world_run(w, &r, T0, out, &n, &e), -1);
    assert_string_equal(e.code, "VcpuLimitExceeded");
    r.spot = true; /* the spot quota is unlimited here */
    assert_int_equal(sim_world_run(w, &r, T0, out, &n, &e), 0);
    r = run_req("x9.nonexistent", 1, NULL, "h");
    assert_int_equal(sim_world_run(w, &r, T0, out, &n, &e), -1);
    assert_string_equal(e.code, "InvalidParameterValue");
    sim_world_free(w);
}

static void test_cloudsim_filters_match_tags_states_and_wildcards(void **state)
{
    (void)state;
    struct sim_world *w = world(1, NULL);
    struct sim_tag tags[] = {{"gpuform:stack", "prod-eu"}, {"team", "ml"}};
    struct sim_run_request r = run_req("g5.xlarge", 1, NULL, "h");
    r.tags = tags;
    r.ntags = 2;
    struct sim_instance *out[1];
    size_t n;
    struct sim_error e;
    assert_int_equal(sim_world_run(w, &r, T0, out, &n, &e), 0);
    const char *stack[] = {"prod-*"}, *nope[] = {"dev"}, *pending[] = {"pending", "running"},
               *key[] = {"team"};
    struct sim_filter f1[] = {{"tag:gpuform:stack", stack, 1}, {"instance-state-name", pending, 2}};
    struct sim_filter f2[] = {{"tag:gpuform:stack", nope, 1}};
    struct sim_filter f3[] = {{"tag-key", key, 1}};
    struct sim_filter f4[] = {{"flavour", key, 1}};
    const char *unknown = NULL;
    assert_true(sim_instance_matches(out[0], f1, 2, &unknown));
    assert_false(sim_instance_matches(out[0], f2, 1, &unknown));
    assert_true(sim_instance_matches(out[0], f3, 1, &unknown));
    assert_null(unknown);
    assert_false(sim_instance_matches(out[0], f4, 1, &unknown));
    assert_string_equal(unknown, "flavour");
    sim_world_free(w);
}

static void test_cloudsim_page_tokens_are_opaque_and_checked(void **state)
{
    (void)state;
    struct sim_world *w = world(5, NULL);
    char tok[64];
    size_t idx = 0;
    sim_page_token(w, 42, 17, tok);
    assert_null(strstr(tok, "17"));
    assert_int_equal(sim_page_parse(w, 42, tok, &idx), 0);
    assert_int_equal(idx, 17);
    assert_int_equal(sim_page_parse(w, 43, tok, &idx), -1); /* another query */
    tok[31] = tok[31] == '0' ? '1' : '0';
    assert_int_equal(sim_page_parse(w, 42, tok, &idx), -1); /* tampered */
    assert_int_equal(sim_page_parse(w, 42, "garbage", &idx), -1);
    sim_world_free(w);
}

static void faulty(struct sim_config *c)
{
    c->fault_rate[SIM_FAULT_INTERNAL] = 0.3;
    c->fault_rate[SIM_FAULT_CAPACITY] = 0.5;
}

/* One letter per request: which faults fired, then the instance id launched. */
static void script(struct sim_world *w, char *out, size_t len)
{
    size_t k = 0;
    for (int i = 0; i < 40; i++) {
        out[k++] = sim_world_fault(w, SIM_FAULT_INTERNAL) ? 'I' : '.';
        out[k++] = sim_world_fault(w, SIM_FAULT_CAPACITY) ? 'C' : '.';
    }
    struct sim_instance *inst = launch_one(w, T0);
    snprintf(out + k, len - k, "%s%f", inst->id, inst->running_at);
}

static void test_cloudsim_same_seed_replays_the_same_world(void **state)
{
    (void)state;
    char a[256], b[256], c[256];
    struct sim_world *w1 = world(1234, faulty), *w2 = world(1234, faulty), *w3 = world(99, faulty);
    script(w1, a, sizeof a);
    script(w2, b, sizeof b);
    script(w3, c, sizeof c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_non_null(strchr(a, 'I'));
    assert_non_null(strchr(a, 'C'));
    /* An armed count fires exactly that many times, before any rate. */
    w1->fault_count[SIM_FAULT_TIMEOUT] = 2;
    assert_true(sim_world_fault(w1, SIM_FAULT_TIMEOUT));
    assert_true(sim_world_fault(w1, SIM_FAULT_TIMEOUT));
    assert_false(sim_world_fault(w1, SIM_FAULT_TIMEOUT));
    sim_world_free(w1);
    sim_world_free(w2);
    sim_world_free(w3);
}

static void test_cloudsim_token_bucket_refills_on_the_clock(void **state)
{
    (void)state;
    struct sim_world *w = world(1, NULL); /* RunInstances: 5, then 2/s */
    for (int i = 0; i < 5; i++)
        assert_true(sim_world_take_token(w, "us-east-1", SIM_FAM_RUN, T0));
    assert_false(sim_world_take_token(w, "us-east-1", SIM_FAM_RUN, T0));
    assert_true(sim_world_take_token(w, "us-west-2", SIM_FAM_RUN, T0)); /* per region */
    assert_true(sim_world_take_token(w, "us-east-1", SIM_FAM_DESCRIBE, T0));
    assert_true(sim_world_take_token(w, "us-east-1", SIM_FAM_RUN, T0 + 0.5));
    assert_false(sim_world_take_token(w, "us-east-1", SIM_FAM_RUN, T0 + 0.5));
    sim_world_free(w);
}

static void always_interrupt(struct sim_config *c)
{
    c->spot_interruption_rate = 1;
    c->spot_interruption_window = 60;
}

static void test_cloudsim_spot_interruption_terminates_with_the_spot_reason(void **state)
{
    (void)state;
    struct sim_world *w = world(3, always_interrupt);
    struct sim_run_request r = run_req("g5.xlarge", 1, NULL, "h");
    r.spot = true;
    struct sim_instance *out[1];
    size_t n;
    struct sim_error e;
    assert_int_equal(sim_world_run(w, &r, T0, out, &n, &e), 0);
    struct sim_instance *i = out[0];
    assert_true(i->interrupt_at >= i->running_at && i->interrupt_at <= i->running_at + 60);
    sim_world_advance(w, i->interrupt_at + 0.001);
    assert_int_equal(i->state, SIM_SHUTTING_DOWN);
    assert_string_equal(i->reason_code, "Server.SpotInstanceTermination");
    sim_world_free(w);
}

static void test_cloudsim_state_survives_save_and_load(void **state)
{
    (void)state;
    char path[] = "/tmp/cloudsim-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct sim_world *w = world(8, NULL);
    struct sim_tag tags[] = {{"k", "v <&>"}};
    struct sim_run_request r = run_req("g5.xlarge", 2, "tok", "h");
    r.tags = tags;
    r.ntags = 1;
    struct sim_instance *out[2];
    size_t n;
    struct sim_error e;
    char err[256];
    assert_int_equal(sim_world_run(w, &r, T0, out, &n, &e), 0);
    assert_int_equal(sim_world_save(w, path, err), 0);
    uint64_t next = sim_rand(w);
    struct sim_world *w2 = world(8, NULL);
    assert_int_equal(sim_world_load(w2, path, err), 0);
    assert_int_equal(w2->ninstances, 2);
    assert_string_equal(w2->instances[1]->id, w->instances[1]->id);
    assert_string_equal(w2->instances[0]->tags[0].value, "v <&>");
    assert_true(sim_rand(w2) == next); /* the generator carries on where it stopped */
    /* The token still maps to the same instances after the restart. */
    assert_int_equal(sim_world_run(w2, &r, T0 + 1, out, &n, &e), 0);
    assert_int_equal(w2->ninstances, 2);
    unlink(path);
    assert_int_equal(sim_world_load(w2, path, err), 0); /* missing: nothing changes */
    FILE *f = fopen(path, "w");
    fputs("{\"format\": 7}", f);
    fclose(f);
    assert_int_equal(sim_world_load(w2, path, err), -1);
    assert_non_null(strstr(err, "not a cloudsim state file"));
    unlink(path);
    sim_world_free(w);
    sim_world_free(w2);
}

/* ---- the EC2 dialect ---- */

static void ec2(struct sim_world *w, const char *form, double now, struct sim_reply *r)
{
    struct sim_param *p = NULL;
    size_t n = 0;
    assert_int_equal(sim_params_parse(form, strlen(form), &p, &n, 1000), 0);
    sim_ec2_handle(w, "us-east-1", p, n, now, r);
    sim_params_free(p, n);
}

static char *between(const char *s, const char *open, const char *close)
{
    const char *a = strstr(s, open);
    if (!a)
        return NULL;
    a += strlen(open);
    const char *b = strstr(a, close);
    return b ? strndup(a, (size_t)(b - a)) : NULL;
}

static size_t count(const char *s, const char *needle)
{
    size_t k = 0;
    for (; (s = strstr(s, needle)); s++)
        k++;
    return k;
}

static void test_cloudsim_ec2_describe_pages_with_next_token(void **state)
{
    (void)state;
    struct sim_world *w = world(1, NULL);
    struct sim_reply r;
    ec2(w,
        "Action=RunInstances&Version=2016-11-15&ImageId=ami-1&InstanceType=g5.xlarge&"
        "MinCount=12&MaxCount=12&TagSpecification.1.ResourceType=instance&"
        "TagSpecification.1.Tag.1.Key=stack&TagSpecification.1.Tag.1.Value=a%26b",
        T0, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(count(r.body, "<instanceId>"), 12);
    assert_non_null(strstr(r.body, "<value>a&amp;b</value>"));
    free(r.body);
    size_t seen = 0, pages = 0;
    char *token = NULL;
    do {
        char form[512];
        snprintf(form, sizeof form,
                 "Action=DescribeInstances&MaxResults=5&Filter.1.Name=tag:stack&"
                 "Filter.1.Value.1=a%%26b%s%s",
                 token ? "&NextToken=" : "", token ? token : "");
        free(token);
        ec2(w, form, T0 + 1, &r);
        assert_int_equal(r.status, 200);
        seen += count(r.body, "<instanceId>");
        pages++;
        token = between(r.body, "<nextToken>", "</nextToken>");
        free(r.body);
    } while (token && pages < 10);
    assert_int_equal(seen, 12);
    assert_int_equal(pages, 3);
    ec2(w, "Action=DescribeInstances&MaxResults=5&NextToken=00000000000000000000000000000000",
        T0 + 1, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "<Code>InvalidParameterValue</Code>"));
    free(r.body);
    ec2(w, "Action=DescribeInstances&Filter.1.Name=colour&Filter.1.Value.1=red", T0 + 1, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "The filter 'colour' is invalid"));
    free(r.body);
    ec2(w, "Action=DescribeInstances&MaxResults=2", T0 + 1, &r);
    assert_int_equal(r.status, 400);
    free(r.body);
    sim_world_free(w);
}

static void test_cloudsim_ec2_errors_use_the_ec2_envelope(void **state)
{
    (void)state;
    struct sim_world *w = world(1, NULL);
    struct sim_reply r;
    ec2(w, "Action=TerminateInstances&InstanceId.1=i-0123456789abcdef0", T0, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "<Response><Errors><Error><Code>InvalidInstanceID.NotFound"
                                   "</Code><Message>"));
    assert_non_null(strstr(r.body, "<RequestID>"));
    assert_string_not_equal(r.request_id, "");
    free(r.body);
    ec2(w, "Action=TerminateInstances&InstanceId.1=i-xyz", T0, &r);
    assert_non_null(strstr(r.body, "<Code>InvalidInstanceID.Malformed</Code>"));
    free(r.body);
    ec2(w, "Action=FlyToTheMoon", T0, &r);
    assert_non_null(strstr(r.body, "<Code>InvalidAction</Code>"));
    free(r.body);
    for (int i = 0; i < 5; i++) {
        ec2(w, "Action=RunInstances&ImageId=a&InstanceType=g5.xlarge&MinCount=1&MaxCount=1", T0,
            &r);
        assert_int_equal(r.status, 200);
        free(r.body);
    }
    ec2(w, "Action=RunInstances&ImageId=a&InstanceType=g5.xlarge&MinCount=1&MaxCount=1", T0, &r);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "<Code>RequestLimitExceeded</Code>"));
    free(r.body);
    w->fault_count[SIM_FAULT_TIMEOUT] = 1;
    ec2(w, "Action=DescribeInstances", T0, &r);
    assert_true(r.close);
    free(r.body);
    sim_world_free(w);
}

static void test_cloudsim_form_decoding_refuses_bad_escapes(void **state)
{
    (void)state;
    struct sim_param *p = NULL;
    size_t n = 0;
    const char *ok = "A=b%20c+d&Empty=&Flag&%41x=%2F";
    assert_int_equal(sim_params_parse(ok, strlen(ok), &p, &n, 10), 0);
    assert_int_equal(n, 4);
    assert_string_equal(sim_param_get(p, n, "A"), "b c d");
    assert_string_equal(sim_param_get(p, n, "Empty"), "");
    assert_string_equal(sim_param_get(p, n, "Ax"), "/");
    sim_params_free(p, n);
    p = NULL;
    n = 0;
    assert_int_equal(sim_params_parse("A=%4", 4, &p, &n, 10), -1);
    sim_params_free(p, n);
    p = NULL;
    n = 0;
    assert_int_equal(sim_params_parse("a=1&b=2&c=3", 11, &p, &n, 2), -1);
    sim_params_free(p, n);
}

/* ---- config ---- */

static void test_cloudsim_config_loads_the_documented_keys(void **state)
{
    (void)state;
    struct core_diags d;
    struct sim_config c;
    assert_int_equal(
        sim_tl_config("seed: 42\n"
                      "time_scale: 0.01\n"
                      "lifecycle: { pending_seconds: [1, 2] }\n"
                      "latency_ms: { min: 3, max: 4 }\n"
                      "throttle: { run_instances: { burst: 9, refill_per_second: 1 } }\n"
                      "faults: { capacity: 0.5, timeout_hold_ms: 10 }\n"
                      "clouds:\n"
                      "  aws:\n"
                      "    regions: [us-west-2]\n"
                      "    capacity: { p5.48xlarge: 3, default: 10 }\n"
                      "    quotas: { us-west-2: { spot_vcpus: 96 } }\n"
                      "    credentials: [{ access_key_id: A, secret_access_key: S }]\n",
                      &d, &c),
        0);
    assert_int_equal(d.errors, 0);
    assert_int_equal(c.seed, 42);
    assert_true(c.time_scale == 0.01);
    assert_true(c.pending_max == 2);
    assert_true(c.buckets[SIM_FAM_RUN].burst == 9);
    assert_true(c.fault_rate[SIM_FAULT_CAPACITY] == 0.5);
    assert_int_equal(c.nregions, 1);
    assert_string_equal(c.regions[0].name, "us-west-2");
    assert_int_equal(c.default_capacity[CORE_CLOUD_AWS], 10);
    assert_int_equal(c.ncapacity, 1);
    assert_int_equal(c.quotas[0].spot_vcpus, 96);
    assert_int_equal(c.quotas[0].on_demand_vcpus, SIM_UNLIMITED);
    assert_string_equal(c.creds[0].access_key_id, "A");
    sim_config_release(&c);
    core_diags_release(&d);
    assert_int_equal(sim_tl_config("latency_ms: { mean: 120 }\n", &d, &c), 0);
    assert_true(c.latency_mean_ms == 120);
    sim_config_release(&c);
    core_diags_release(&d);
}

/* verify.faults takes every verify fault by name (xid included) and lists them when not. */
static void test_cloudsim_config_verify_faults_take_the_verify_fault_names(void **state)
{
    (void)state;
    struct core_diags d;
    struct sim_config c;
    assert_int_equal(sim_tl_config("verify:\n"
                                   "  faults: { g5.xlarge: xid, us-east-1a: nvml_ecc }\n",
                                   &d, &c),
                     0);
    assert_int_equal(c.nverify_faults, 2);
    assert_string_equal(c.verify_faults[0].fault, "xid");
    sim_config_release(&c);
    core_diags_release(&d);
    assert_int_equal(sim_tl_config("verify:\n"
                                   "  faults: { g5.xlarge: lightning }\n",
                                   &d, &c),
                     -1);
    assert_int_equal(d.errors, 1);
    assert_non_null(strstr(d.items[0].message, "(" VERIFY_FAULT_NAMES ", forge, silent or "
                                               "truncate)"));
    core_diags_release(&d);
}

static void test_cloudsim_config_errors_say_file_and_line(void **state)
{
    (void)state;
    struct core_diags d;
    struct sim_config c;
    assert_int_equal(sim_tl_config("seed: 1\n"
                                   "time_scal: 2\n"
                                   "faults: { capacity: 1.5, lightning: 0.1 }\n"
                                   "clouds:\n"
                                   "  aws:\n"
                                   "    regions: [mars-north-1]\n",
                                   &d, &c),
                     -1);
    assert_int_equal(d.errors, 4);
    core_diags_sort(&d);
    assert_int_equal(d.items[0].loc.line, 2);
    assert_non_null(strstr(d.items[0].message, "unknown key 'time_scal'"));
    assert_int_equal(d.items[1].loc.line, 3);
    assert_non_null(strstr(d.items[1].message, "from 0 to 1"));
    assert_non_null(strstr(d.items[2].message, "unknown fault 'lightning'"));
    assert_int_equal(d.items[3].loc.line, 6);
    assert_non_null(strstr(d.items[3].message, "mars-north-1"));
    assert_string_equal(d.items[3].code, "cloudsim-config");
    core_diags_release(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cloudsim_lifecycle_follows_the_fake_clock),
        cmocka_unit_test(test_cloudsim_client_token_is_idempotent),
        cmocka_unit_test(test_cloudsim_capacity_and_quotas_refuse_as_ec2_does),
        cmocka_unit_test(test_cloudsim_filters_match_tags_states_and_wildcards),
        cmocka_unit_test(test_cloudsim_page_tokens_are_opaque_and_checked),
        cmocka_unit_test(test_cloudsim_same_seed_replays_the_same_world),
        cmocka_unit_test(test_cloudsim_token_bucket_refills_on_the_clock),
        cmocka_unit_test(test_cloudsim_spot_interruption_terminates_with_the_spot_reason),
        cmocka_unit_test(test_cloudsim_state_survives_save_and_load),
        cmocka_unit_test(test_cloudsim_ec2_describe_pages_with_next_token),
        cmocka_unit_test(test_cloudsim_ec2_errors_use_the_ec2_envelope),
        cmocka_unit_test(test_cloudsim_form_decoding_refuses_bad_escapes),
        cmocka_unit_test(test_cloudsim_config_loads_the_documented_keys),
        cmocka_unit_test(test_cloudsim_config_errors_say_file_and_line),
        cmocka_unit_test(test_cloudsim_config_verify_faults_take_the_verify_fault_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
