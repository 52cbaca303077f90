/*
 * cloudsim's Compute Engine dialect without HTTP, on a fake clock: the token endpoint's
 * refusals (grant type, garbage, unknown account, a foreign key, stale iat/exp, no scope),
 * bearer checks (missing, forged, expired, another project), GCE's list filter syntax and its
 * errors, forged page tokens, insert's validation, operations.wait asking to be called
 * again, and a spot reclaim shown as TERMINATED.
 */
#include <jansson.h>
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
#include "modules/cloudsim/sim_int.h"
#include "modules/gcp/gcp_auth.h"

#define T0      1800000000.0
#define PROJECT "proj-u"

struct fix {
    struct sim_world *w;
    struct gcp_credentials cred; /* the registered account's key */
    char bearer[2048];
};

static struct gcp_credentials make_key(struct sim_config *c, bool registered)
{
    struct sim_config throwaway = {0};
    struct sim_gce_key k;
    char why[320], path[] = "/tmp/gce-unit-XXXXXX";
    assert_int_equal(
        sim_gce_generate_account(registered ? c : &throwaway, PROJECT, &k, why, sizeof why), 0);
    int fd = mkstemp(path);
    close(fd);
    assert_int_equal(sim_gce_write_key_file(&k, "http://sim/token", path, why, sizeof why), 0);
    sim_gce_key_release(&k);
    sim_config_release(&throwaway);
    FILE *f = fopen(path, "r");
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    unlink(path);
    struct gcp_credentials cred;
    assert_int_equal(gcp_credentials_parse(buf, n, "k", &cred, why, sizeof why), 0);
    return cred;
}

static void call(struct sim_world *w, const char *method, const char *path, const char *query,
                 const char *auth, const char *body, double now, struct sim_reply *r)
{
    struct sim_query q = {.method = method,
                          .path = path,
                          .body = body ? body : "",
                          .body_len = body ? strlen(body) : 0,
                          .arrived = now};
    if (query)
        assert_int_equal(sim_params_parse(query, strlen(query), &q.p, &q.n, 64), 0);
    q.nquery = q.n;
    if (auth) {
        q.headers[0] = (struct sim_header){"Authorization", auth};
        q.nheaders = 1;
    }
    free(r->body);
    sim_gce_handle(w, &q, now, r);
    sim_params_free(q.p, q.n);
}

static json_t *body_of(const struct sim_reply *r)
{
    json_t *j = json_loadb(r->body, r->len, 0, NULL);
    assert_non_null(j);
    return j;
}

/* The reason of an error reply (errors[0].reason, or OAuth's "error"). */
static const char *reason(const struct sim_reply *r, char out[64])
{
    json_t *j = body_of(r);
    json_t *e = json_object_get(j, "error");
    const char *s = json_is_string(e)
                        ? json_string_value(e)
                        : json_string_value(json_object_get(
                              json_array_get(json_object_get(e, "errors"), 0), "reason"));
    snprintf(out, 64, "%s", s ? s : "");
    json_decref(j);
    return out;
}

static char *grant(const struct gcp_credentials *c, const char *scope, const char *aud, int64_t iat)
{
    char why[128];
    char *jwt = gcp_jwt_sign(c, scope, aud, iat, why, sizeof why);
    assert_non_null(jwt);
    char *form;
    assert_true(asprintf(&form,
                         "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3A"
                         "jwt-bearer&assertion=%s",
                         jwt) > 0);
    free(jwt);
    return form;
}

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof *f);
    struct core_diags d;
    struct sim_config c;
    core_diags_init(&d, 0);
    assert_int_equal(sim_config_defaults(&c, &d), 0);
    core_diags_release(&d);
    c.time_scale = 0.001;
    c.spot_interruption_rate = 0;
    f->cred = make_key(&c, true);
    f->w = sim_world_new(&c);
    struct sim_reply r = {0};
    char *form = grant(&f->cred, GCP_SCOPE_COMPUTE, "http://sim/token", (int64_t)T0);
    call(f->w, "POST", "/token", NULL, NULL, form, T0, &r);
    free(form);
    assert_int_equal(r.status, 200);
    json_t *j = body_of(&r);
    snprintf(f->bearer, sizeof f->bearer, "Bearer %s",
             json_string_value(json_object_get(j, "access_token")));
    assert_int_equal(json_integer_value(json_object_get(j, "expires_in")), 3599);
    json_decref(j);
    free(r.body);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;
    gcp_credentials_release(&f->cred);
    sim_world_free(f->w);
    free(f);
    return 0;
}

static void test_gce_token_endpoint_refuses_as_google_does(void **state)
{
    struct fix *f = *state;
    struct sim_reply r = {0};
    char why[64];
    call(f->w, "POST", "/token", NULL, NULL, "grant_type=password&username=x", T0, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(reason(&r, why), "unsupported_grant_type");
    call(f->w, "POST", "/token", NULL, NULL,
         "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=abc.def", T0,
         &r);
    assert_string_equal(reason(&r, why), "invalid_grant");
    struct gcp_credentials stranger = make_key(NULL, false);
    char *form = grant(&stranger, GCP_SCOPE_COMPUTE, "http://sim/token", (int64_t)T0);
    call(f->w, "POST", "/token", NULL, NULL, form, T0, &r);
    free(form);
    assert_non_null(strstr(r.body, "Invalid JWT Signature."));
    gcp_credentials_release(&stranger);
    form = grant(&f->cred, GCP_SCOPE_COMPUTE, "http://sim/token", (int64_t)T0 - 7200);
    call(f->w, "POST", "/token", NULL, NULL, form, T0, &r);
    free(form);
    assert_non_null(strstr(r.body, "Check your iat and exp values"));
    form = grant(&f->cred, "", "http://sim/token", (int64_t)T0);
    call(f->w, "POST", "/token", NULL, NULL, form, T0, &r);
    free(form);
    assert_string_equal(reason(&r, why), "invalid_scope");
    form = grant(&f->cred, GCP_SCOPE_COMPUTE, "https://example.com/elsewhere", (int64_t)T0);
    call(f->w, "POST", "/token", NULL, NULL, form, T0, &r);
    free(form);
    assert_non_null(strstr(r.body, "audience"));
    free(r.body);
}

static void test_gce_bearer_tokens_are_checked(void **state)
{
    struct fix *f = *state;
    struct sim_reply r = {0};
    char why[64];
    const char *path = "/compute/v1/projects/" PROJECT "/aggregated/instances";
    call(f->w, "GET", path, NULL, NULL, NULL, T0, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(reason(&r, why), "required");
    call(f->w, "GET", path, NULL, "Bearer ya29.sim.e30.0000", NULL, T0, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(reason(&r, why), "authError");
    char forged[2048];
    snprintf(forged, sizeof forged, "%s", f->bearer);
    forged[strlen(forged) - 1] = forged[strlen(forged) - 1] == '0' ? '1' : '0';
    call(f->w, "GET", path, NULL, forged, NULL, T0, &r);
    assert_int_equal(r.status, 401);
    call(f->w, "GET", path, NULL, f->bearer, NULL, T0 + 4000, &r); /* expired */
    assert_int_equal(r.status, 401);
    call(f->w, "GET", "/compute/v1/projects/other/aggregated/instances", NULL, f->bearer, NULL, T0,
         &r);
    assert_int_equal(r.status, 403);
    assert_string_equal(reason(&r, why), "forbidden");
    call(f->w, "GET", path, NULL, f->bearer, NULL, T0, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
}

static void insert(struct fix *f, const char *name, const char *labels, bool spot, double now)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"name\": \"%s\", \"machineType\": \"zones/us-central1-a/machineTypes/"
             "g2-standard-4\", \"disks\": [{\"boot\": true, \"initializeParams\": "
             "{\"sourceImage\": \"img\"}}], \"labels\": %s, \"scheduling\": {"
             "\"onHostMaintenance\": \"TERMINATE\", \"provisioningModel\": \"%s\"}}",
             name, labels, spot ? "SPOT" : "STANDARD");
    struct sim_reply r = {0};
    call(f->w, "POST", "/compute/v1/projects/" PROJECT "/zones/us-central1-a/instances", NULL,
         f->bearer, body, now, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
}

/* The names a zonal list with `filter` returns, comma-separated, or the status on error. */
static void names(struct fix *f, const char *filter, char *out, size_t len)
{
    char query[512];
    snprintf(query, sizeof query, "filter=%s", filter);
    struct sim_reply r = {0};
    call(f->w, "GET", "/compute/v1/projects/" PROJECT "/zones/us-central1-a/instances", query,
         f->bearer, NULL, T0 + 1, &r);
    if (r.status != 200) {
        snprintf(out, len, "%d", r.status);
        free(r.body);
        return;
    }
    json_t *j = body_of(&r);
    size_t i, k = 0;
    json_t *it;
    out[0] = 0;
    json_array_foreach(json_object_get(j, "items"), i, it) k += (size_t)snprintf(
        out + k, len - k, "%s%s", k ? "," : "", json_string_value(json_object_get(it, "name")));
    json_decref(j);
    free(r.body);
}

static void test_gce_list_filters_follow_gces_syntax(void **state)
{
    struct fix *f = *state;
    insert(f, "a-1", "{\"env\": \"prod\", \"team\": \"ml\"}", false, T0);
    insert(f, "a-2", "{\"env\": \"dev\"}", true, T0);
    insert(f, "b-1", "{\"env\": \"prod\"}", false, T0);
    char out[256];
    names(f, "labels.env%20%3D%20%22prod%22", out, sizeof out); /* labels.env = "prod" */
    assert_string_equal(out, "a-1,b-1");
    names(f, "(labels.env%20%3D%20prod)%20(name%20!%3D%20b-1)", out, sizeof out);
    assert_string_equal(out, "a-1");
    names(f, "(name%20%3D%20a-2)%20OR%20(name%20%3D%20b-1)", out, sizeof out);
    assert_string_equal(out, "a-2,b-1");
    names(f, "name%20eq%20a-.*", out, sizeof out);
    assert_string_equal(out, "a-1,a-2");
    names(f, "name%20ne%20a-.*", out, sizeof out);
    assert_string_equal(out, "b-1");
    names(f, "labels%3Ateam", out, sizeof out); /* labels:team */
    assert_string_equal(out, "a-1");
    names(f, "scheduling.provisioningModel%20%3D%20SPOT%20AND%20labels.env%20%3D%20dev", out,
          sizeof out);
    assert_string_equal(out, "a-2");
    names(f, "colour%20%3D%20red", out, sizeof out);
    assert_string_equal(out, "400");
    names(f, "(name%20%3D%20a-1", out, sizeof out);
    assert_string_equal(out, "400");
    names(f, "name%20%3D", out, sizeof out);
    assert_string_equal(out, "400");
    struct sim_reply r = {0};
    call(f->w, "GET", "/compute/v1/projects/" PROJECT "/zones/us-central1-a/instances",
         "maxResults=1&pageToken=0000000000000000ffffffffffffffff", f->bearer, NULL, T0 + 1, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "pageToken"));
    call(f->w, "GET", "/compute/v1/projects/" PROJECT "/zones/us-central1-a/instances",
         "maxResults=501", f->bearer, NULL, T0 + 1, &r);
    assert_int_equal(r.status, 400);
    free(r.body);
}

static void test_gce_insert_checks_what_gce_checks(void **state)
{
    struct fix *f = *state;
    static const struct {
        const char *zone, *query, *body;
        int status;
        const char *says;
    } cases[] = {
        {"us-central1-a", NULL, "{\"name\": \"Bad_Name\"}", 400, "resource.name"},
        {"us-central1-a", NULL,
         "{\"name\": \"x\", \"machineType\": \"g2-standard-4\", \"disks\": []}", 400,
         "Boot disk must be specified"},
        {"us-central1-a", NULL,
         "{\"name\": \"x\", \"machineType\": \"g2-standard-4\", \"disks\": [{\"boot\": true, "
         "\"initializeParams\": {\"sourceImage\": \"i\"}}], \"labels\": {\"Env\": \"x\"}}",
         400, "resource.labels"},
        {"us-central1-a", NULL,
         "{\"name\": \"x\", \"machineType\": \"n1-highmem-4\", \"disks\": [{\"boot\": true, "
         "\"initializeParams\": {\"sourceImage\": \"i\"}}], \"guestAccelerators\": "
         "[{\"acceleratorType\": \"nvidia-tesla-t4\", \"acceleratorCount\": 1}]}",
         400, "do not support live migration"},
        {"us-central1-a", NULL,
         "{\"name\": \"x\", \"machineType\": \"n1-highmem-4\", \"disks\": [{\"boot\": true, "
         "\"initializeParams\": {\"sourceImage\": \"i\"}}], \"scheduling\": "
         "{\"onHostMaintenance\": \"TERMINATE\"}, \"guestAccelerators\": "
         "[{\"acceleratorType\": \"nvidia-tesla-k80\", \"acceleratorCount\": 1}]}",
         400, "does not exist in zone"},
        {"us-central1-a", NULL,
         "{\"name\": \"x\", \"machineType\": \"p5.48xlarge\", \"disks\": [{\"boot\": true, "
         "\"initializeParams\": {\"sourceImage\": \"i\"}}]}",
         400, "Machine type with name 'p5.48xlarge' does not exist"},
        {"us-central1-a", "requestId=not-a-uuid", "{}", 400, "requestId"},
        {"mars-north1-a", NULL, "{}", 404, "mars-north1-a"},
        {"us-central1-a", NULL, "{not json", 400, "Parse Error"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[256];
        snprintf(path, sizeof path, "/compute/v1/projects/" PROJECT "/zones/%s/instances",
                 cases[i].zone);
        struct sim_reply r = {0};
        /* a second apart: the insert bucket (5, then 2/s) never runs dry */
        call(f->w, "POST", path, cases[i].query, f->bearer, cases[i].body, T0 + (double)i, &r);
        if (r.status != cases[i].status || !strstr(r.body, cases[i].says))
            fail_msg("case %zu: %d %s", i, r.status, r.body);
        free(r.body);
    }
    assert_int_equal(f->w->ninstances, 0);
    /* six inserts at one instant: the sixth is throttled as GCE throttles, 429 */
    char why[64];
    for (int i = 0; i < 6; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"name\": \"t-%d\", \"machineType\": \"g2-standard-4\", \"disks\": "
                 "[{\"boot\": true, \"initializeParams\": {\"sourceImage\": \"i\"}}]}",
                 i);
        struct sim_reply r = {0};
        call(f->w, "POST", "/compute/v1/projects/" PROJECT "/zones/us-central1-a/instances", NULL,
             f->bearer, body, T0 + 100, &r);
        assert_int_equal(r.status, i < 5 ? 200 : 429);
        if (i == 5)
            assert_string_equal(reason(&r, why), "rateLimitExceeded");
        free(r.body);
    }
}

static void test_gce_wait_is_called_again_until_done_and_reclaims_show_terminated(void **state)
{
    struct fix *f = *state;
    insert(f, "s-1", "{}", true, T0);
    const struct sim_operation *op = f->w->ops[f->w->nops - 1];
    char path[256], name[64];
    snprintf(name, sizeof name, "%s", op->name);
    snprintf(path, sizeof path,
             "/compute/v1/projects/" PROJECT "/zones/us-central1-a/operations/%s/wait", name);
    double done = op->done_at;
    struct sim_reply r = {0};
    struct sim_query q = {.method = "POST", .path = path, .arrived = T0};
    q.headers[0] = (struct sim_header){"Authorization", f->bearer};
    q.nheaders = 1;
    sim_gce_handle(f->w, &q, T0, &r);
    assert_true(r.redo_ms > 0); /* not done: the server is asked to call again */
    assert_true(r.redo_ms <= (done - T0) * 1000 + 2);
    assert_null(r.body);
    q.redo = 1;
    sim_gce_handle(f->w, &q, done + 0.001, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"DONE\""));
    free(r.body);
    q.redo = 0; /* the server stopping: reply now, done or not */
    q.last = true;
    memset(&r, 0, sizeof r);
    insert(f, "s-2", "{}", false, done);
    snprintf(path, sizeof path,
             "/compute/v1/projects/" PROJECT "/zones/us-central1-a/operations/%s/wait",
             f->w->ops[f->w->nops - 1]->name);
    q.path = path;
    sim_gce_handle(f->w, &q, done, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"RUNNING\""));
    free(r.body);
    /* a spot reclaim: TERMINATED, "Instance was preempted.", still listed */
    struct sim_instance *i =
        sim_world_find_name(f->w, CORE_CLOUD_GCP, PROJECT, "us-central1-a", "s-1");
    assert_non_null(i);
    sim_world_terminate(f->w, i, done + 1, true, NULL);
    memset(&r, 0, sizeof r);
    call(f->w, "GET", "/compute/v1/projects/" PROJECT "/zones/us-central1-a/instances/s-1", NULL,
         f->bearer, NULL, done + 60, &r);
    assert_int_equal(r.status, 200);
    json_t *j = body_of(&r);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "TERMINATED");
    assert_string_equal(json_string_value(json_object_get(j, "statusMessage")),
                        "Instance was preempted.");
    json_decref(j);
    /* deleting its remains makes it gone */
    call(f->w, "DELETE", "/compute/v1/projects/" PROJECT "/zones/us-central1-a/instances/s-1", NULL,
         f->bearer, NULL, done + 61, &r);
    assert_int_equal(r.status, 200);
    call(f->w, "GET", "/compute/v1/projects/" PROJECT "/zones/us-central1-a/instances/s-1", NULL,
         f->bearer, NULL, done + 62, &r);
    assert_int_equal(r.status, 404);
    free(r.body);
}

/* The instance's metadata fingerprint, as instances.get shows it, into out[32]. */
static void fingerprint_of(struct fix *f, const char *name, char out[32])
{
    char path[256];
    snprintf(path, sizeof path, "/compute/v1/projects/" PROJECT "/zones/us-central1-a/instances/%s",
             name);
    struct sim_reply r = {0};
    call(f->w, "GET", path, NULL, f->bearer, NULL, T0 + 1, &r);
    assert_int_equal(r.status, 200);
    json_t *j = body_of(&r);
    snprintf(out, 32, "%s",
             json_string_value(json_object_get(json_object_get(j, "metadata"), "fingerprint")));
    json_decref(j);
    free(r.body);
}

static void test_gce_set_metadata_needs_the_current_fingerprint(void **state)
{
    struct fix *f = *state;
    insert(f, "m-1", "{}", false, T0);
    char fp0[32], fp1[32], body[512], why[64];
    fingerprint_of(f, "m-1", fp0);
    assert_true(strlen(fp0) == 12);
    const char *path = "/compute/v1/projects/" PROJECT "/zones/us-central1-a/instances/m-1/"
                       "setMetadata";
    snprintf(body, sizeof body,
             "{\"fingerprint\": \"%s\", \"items\": [{\"key\": \"startup-script\", \"value\": "
             "\"#!/bin/sh\\n\"}, {\"key\": \"gpuform-verify-request\", \"value\": \"quick:x\"}]}",
             fp0);
    struct sim_reply r = {0};
    call(f->w, "POST", path, NULL, f->bearer, body, T0 + 1, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "compute#operation"));
    fingerprint_of(f, "m-1", fp1);
    assert_string_not_equal(fp0, fp1); /* it changes with the items */
    struct sim_instance *i =
        sim_world_find_name(f->w, CORE_CLOUD_GCP, PROJECT, "us-central1-a", "m-1");
    assert_non_null(i);
    assert_int_equal(i->nmeta, 2);
    assert_string_equal(i->meta[0].value, "#!/bin/sh\n");
    assert_string_equal(sim_agent_request_of(i), "quick:x");
    /* the old fingerprint is stale now: 412 conditionNotMet, nothing changed */
    call(f->w, "POST", path, NULL, f->bearer, body, T0 + 2, &r);
    assert_int_equal(r.status, 412);
    assert_string_equal(reason(&r, why), "conditionNotMet");
    call(f->w, "POST", path, NULL, f->bearer, "{\"items\": []}", T0 + 2, &r);
    assert_int_equal(r.status, 412);
    snprintf(body, sizeof body,
             "{\"fingerprint\": \"%s\", \"items\": [{\"key\": \"a\", \"value\": \"1\"}, "
             "{\"key\": \"a\", \"value\": \"2\"}]}",
             fp1);
    call(f->w, "POST", path, NULL, f->bearer, body, T0 + 2, &r);
    assert_int_equal(r.status, 400); /* a key twice */
    assert_int_equal(i->nmeta, 2);
    call(f->w, "POST",
         "/compute/v1/projects/" PROJECT "/zones/us-central1-a/instances/nope/setMetadata", NULL,
         f->bearer, body, T0 + 2, &r);
    assert_int_equal(r.status, 404);
    free(r.body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_gce_token_endpoint_refuses_as_google_does, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_gce_bearer_tokens_are_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gce_list_filters_follow_gces_syntax, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gce_insert_checks_what_gce_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gce_set_metadata_needs_the_current_fingerprint, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_gce_wait_is_called_again_until_done_and_reclaims_show_terminated, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
