/*
 * The AWS provider against a running cloudsim, under injected faults: creates N instances
 * (retrying capacity-free failures with the same idempotency token, as the executor does),
 * lists them by stack, deletes them, and checks there is exactly one instance per address
 * and none left alive. cloudsim's endpoint comes from GPUFORM_AWS_ENDPOINT; the faults are
 * set by the calling script through cloudsim's admin view.
 *   aws_provider_e2e N STACK
 * Exit 0 on success; prints one line per check.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"
#include "modules/provider.h"

#define MAX_TRIES 20

static int fails;

/* Replies of 503 seen by an HTTP client (its log lines "POST url -> 503 (...)"). */
struct counter {
    pthread_mutex_t lock;
    int throttled;
};

static void count_503(void *ctx, enum core_http_log_level level, const char *line)
{
    struct counter *c = ctx;
    (void)level;
    if (strstr(line, " -> 503 ")) {
        pthread_mutex_lock(&c->lock);
        c->throttled++;
        pthread_mutex_unlock(&c->lock);
    }
}

struct storm {
    struct prov *p;
    int first, count, ok;
    const char *region, *stack;
};

static void *storm_worker(void *arg)
{
    struct storm *st = arg;
    for (int i = st->first; i < st->first + st->count; i++) {
        char address[64], token[64];
        snprintf(address, sizeof address, "storm[%d]", i);
        snprintf(token, sizeof token, "%s-storm-%d", st->stack, i);
        struct prov_create c = {.stack = st->stack,
                                .address = address,
                                .token = token,
                                .region = st->region,
                                .instance_type = "g5.xlarge",
                                .image = "ami-0e2e"};
        struct prov_instance in;
        struct prov_error err;
        int tries = 0, rc;
        while ((rc = prov_aws.create(st->p, &c, &in, &err)) != 0 &&
               (err.cls == PROV_THROTTLED || err.cls == PROV_TRANSIENT) && ++tries < 20)
            ;
        st->ok += rc == 0;
    }
    return NULL;
}

/*
 * 4 threads x 5 RunInstances at once in `region` (a fresh bucket on both sides), through a
 * client whose RunInstances bucket is EC2's (limited) or none. Returns the 503s seen; *ok
 * gets the creates that succeeded.
 */
static int storm(const char *region, const char *stack, bool limited, int *ok)
{
    struct counter cnt = {PTHREAD_MUTEX_INITIALIZER, 0};
    struct core_http_options ho = {.timeout_ms = 5000,
                                   .backoff_base_ms = 50,
                                   .backoff_cap_ms = 1000,
                                   .max_attempts = 8,
                                   .log = count_503,
                                   .log_ctx = &cnt,
                                   .no_default_rates = !limited};
    struct core_http_client *http = core_http_client_new(&ho);
    struct prov_config cfg = {.http = http};
    struct prov_error err;
    struct prov *p = prov_aws.open(&cfg, &err);
    struct storm w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct storm){p, i * 5, 5, 0, region, stack};
        pthread_create(&t[i], NULL, storm_worker, &w[i]);
    }
    *ok = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        *ok += w[i].ok;
    }
    prov_aws.close(p);
    core_http_client_free(http);
    return cnt.throttled;
}

static void check(int ok, const char *what)
{
    printf("%s - %s\n", ok ? "ok" : "not ok", what);
    if (!ok)
        fails++;
}

/* Retries what the executor retries: throttled and transient, never auth or invalid. */
static bool retryable(const struct prov_error *e)
{
    return e->cls == PROV_THROTTLED || e->cls == PROV_TRANSIENT;
}

/* For creates also capacity: the executor would fail over to another place; here the
 * injected burst of capacity errors passes and the same place is asked again. */
static bool create_retryable(const struct prov_error *e)
{
    return retryable(e) || e->cls == PROV_CAPACITY;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: aws_provider_e2e N STACK\n");
        return 2;
    }
    int n = atoi(argv[1]);
    const char *stack = argv[2];
    /* short timeouts: cloudsim's "timeout" fault holds the connection */
    struct core_http_options ho = {.timeout_ms = 1500,
                                   .connect_timeout_ms = 1000,
                                   .backoff_base_ms = 20,
                                   .backoff_cap_ms = 200};
    struct core_http_client *http = core_http_client_new(&ho);
    struct prov_config cfg = {.http = http};
    struct prov_error err;
    struct prov *p = prov_aws.open(&cfg, &err);
    if (!p) {
        fprintf(stderr, "open: %s\n", err.message);
        return 1;
    }
    int created = 0, retried = 0;
    char(*ids)[64] = calloc((size_t)n, sizeof *ids);
    for (int i = 0; i < n; i++) {
        char address[64], token[64];
        snprintf(address, sizeof address, "node[%d]", i);
        snprintf(token, sizeof token, "e2e-%s-%d", stack, i);
        struct prov_create c = {.stack = stack,
                                .address = address,
                                .token = token,
                                .region = "us-east-1",
                                .instance_type = "g5.xlarge",
                                .spot = i % 3 == 0,
                                .image = "ami-0e2e",
                                .user_data = "#!/bin/sh\ntrue\n"};
        struct prov_instance in;
        int tries = 0, rc;
        while ((rc = prov_aws.create(p, &c, &in, &err)) != 0 && create_retryable(&err) &&
               ++tries < MAX_TRIES)
            retried++;
        if (rc != 0) {
            fprintf(stderr, "create %s: %s (%s)\n", address, err.message,
                    prov_error_class_name(err.cls));
            continue;
        }
        snprintf(ids[i], sizeof ids[i], "%s", in.id);
        created++;
    }
    char line[160];
    snprintf(line, sizeof line, "created %d of %d instances (%d calls retried)", created, n,
             retried);
    check(created == n, line);

    /* list: one instance per address, each the one its create returned */
    struct prov_instance_list l = {0};
    int tries = 0, rc;
    while ((rc = prov_aws.list(p, "us-east-1", stack, &l, &err)) != 0 && retryable(&err) &&
           ++tries < MAX_TRIES)
        prov_instance_list_release(&l);
    check(rc == 0, "list by the stack tag");
    int matched = 0, dup = 0;
    for (int i = 0; i < n; i++) {
        char address[64];
        snprintf(address, sizeof address, "node[%d]", i);
        int seen = 0;
        for (size_t k = 0; k < l.n; k++)
            if (strcmp(l.items[k].address, address) == 0) {
                seen++;
                matched += strcmp(l.items[k].id, ids[i]) == 0;
            }
        dup += seen > 1;
    }
    snprintf(line, sizeof line, "listed %zu instances, %d matching their creates, %d duplicated",
             l.n, matched, dup);
    check(l.n == (size_t)n && matched == n && dup == 0, line);
    prov_instance_list_release(&l);

    /* delete all, then nothing is alive */
    int deleted = 0;
    for (int i = 0; i < n; i++) {
        if (!ids[i][0])
            continue;
        tries = 0;
        while ((rc = prov_aws.destroy(p, "us-east-1", ids[i], &err)) != 0 && retryable(&err) &&
               ++tries < MAX_TRIES)
            ;
        deleted += rc == 0;
    }
    snprintf(line, sizeof line, "deleted %d of %d", deleted, created);
    check(deleted == created, line);
    tries = 0;
    while ((rc = prov_aws.list(p, "us-east-1", stack, &l, &err)) != 0 && retryable(&err) &&
           ++tries < MAX_TRIES)
        prov_instance_list_release(&l);
    size_t alive = 0;
    for (size_t k = 0; k < l.n; k++)
        alive += l.items[k].state == PROV_PENDING || l.items[k].state == PROV_RUNNING;
    snprintf(line, sizeof line, "after delete: %zu alive (of %zu listed)", alive, l.n);
    check(rc == 0 && alive == 0, line);
    prov_instance_list_release(&l);

    /* a console read and a describe of an unknown id */
    if (ids[0][0]) {
        char *text = NULL;
        tries = 0;
        while ((rc = prov_aws.console_output(p, "us-east-1", ids[0], &text, &err)) != 0 &&
               retryable(&err) && ++tries < MAX_TRIES)
            ;
        check(rc == 0 && text && strstr(text, ids[0]), "console output names the instance");
        free(text);
    }
    struct prov_instance in;
    tries = 0;
    while ((rc = prov_aws.describe(p, "us-east-1", "i-00000000000000000", &in, &err)) != 0 &&
           retryable(&err) && ++tries < MAX_TRIES)
        ;
    check(rc == -1 && err.cls == PROV_NOT_FOUND, "describe of an unknown id is not-found");

    /* cloudsim's own view (its admin page): one instance per address, none alive */
    char url[512];
    snprintf(url, sizeof url, "%s/_cloudsim/instances", getenv("GPUFORM_AWS_ENDPOINT"));
    struct core_http_response resp;
    struct core_http_error he;
    json_t *all = NULL;
    if (core_http_get(http, url, &resp, &he) == 0)
        all = json_loadb(resp.body.data, resp.body.len, 0, NULL);
    core_http_response_release(&resp);
    size_t mine = 0, alive_sim = 0, addresses = 0, dups = 0;
    for (int i = 0; i < n; i++) {
        char address[64];
        snprintf(address, sizeof address, "node[%d]", i);
        size_t seen = 0, k;
        json_t *it;
        json_array_foreach(all, k, it)
        {
            json_t *tags = json_object_get(it, "tags");
            const char *st = json_string_value(json_object_get(tags, "gpuform:stack"));
            const char *ad = json_string_value(json_object_get(tags, "gpuform:address"));
            if (!st || strcmp(st, stack) != 0 || !ad || strcmp(ad, address) != 0)
                continue;
            seen++;
            mine++;
            const char *state = json_string_value(json_object_get(it, "state"));
            alive_sim += state && (!strcmp(state, "pending") || !strcmp(state, "running"));
        }
        addresses += seen > 0;
        dups += seen > 1;
    }
    snprintf(line, sizeof line,
             "cloudsim holds %zu instances for %zu of %d addresses, %zu duplicated, %zu alive",
             mine, addresses, n, dups, alive_sim);
    check(json_is_array(all) && addresses == (size_t)n && dups == 0 && alive_sim == 0, line);
    json_decref(all);

    /* a throttling storm: with EC2's bucket on our side nothing goes over cloudsim's bucket
     * (a race at a token boundary may cost one to three), and all succeed; without it, cloudsim
     * throttles */
    if (getenv("GPUFORM_E2E_STORM_REGIONS")) {
        char regions[128];
        snprintf(regions, sizeof regions, "%s", getenv("GPUFORM_E2E_STORM_REGIONS"));
        char *unlimited_region = strchr(regions, ',');
        if (unlimited_region)
            *unlimited_region++ = '\0';
        /* no injected 503s from here on: only buckets speak */
        char furl[512];
        snprintf(furl, sizeof furl, "%s/_cloudsim/fault", getenv("GPUFORM_AWS_ENDPOINT"));
        const char *body = "{\"kind\": \"throttle\", \"rate\": 0}";
        struct core_http_request fr = {.method = "POST",
                                       .url = furl,
                                       .body = body,
                                       .body_len = strlen(body),
                                       .idempotent = true};
        struct core_http_response fresp;
        check(core_http_do(http, &fr, &fresp, &he) == 0, "cloudsim's throttle fault turned off");
        core_http_response_release(&fresp);
        int ok = 0;
        int throttled = storm(regions, stack, true, &ok);
        snprintf(line, sizeof line,
                 "storm of 20 RunInstances from 4 threads, client bucket on: %d succeeded, %d "
                 "throttled by cloudsim",
                 ok, throttled);
        check(ok == 20 && throttled <= 3, line);
        if (unlimited_region) {
            throttled = storm(unlimited_region, stack, false, &ok);
            snprintf(line, sizeof line,
                     "the same storm with the client bucket off: %d succeeded, %d throttled "
                     "(cloudsim's bucket works)",
                     ok, throttled);
            check(ok == 20 && throttled >= 5, line);
        }
    }

    /* bad credentials: a clear auth error that names their source, not the secret */
    const char *good = getenv("AWS_SECRET_ACCESS_KEY");
    char *saved = good ? strdup(good) : NULL;
    setenv("AWS_SECRET_ACCESS_KEY", "definitely-not-the-secret-1234", 1);
    struct prov *bad = prov_aws.open(&cfg, &err);
    if (saved)
        setenv("AWS_SECRET_ACCESS_KEY", saved, 1);
    free(saved);
    struct prov_instance_list bl = {0};
    rc = bad ? prov_aws.list(bad, "us-east-1", stack, &bl, &err) : -1;
    snprintf(line, sizeof line, "a wrong secret: %.140s", rc == 0 ? "accepted!" : err.message);
    check(rc == -1 && err.cls == PROV_AUTH && strstr(err.message, "SignatureDoesNotMatch") &&
              strstr(err.message, "credentials from environment") &&
              !strstr(err.message, "definitely-not"),
          line);
    prov_instance_list_release(&bl);
    prov_aws.close(bad);
    free(ids);
    prov_aws.close(p);
    core_http_client_free(http);
    return fails ? 1 : 0;
}
