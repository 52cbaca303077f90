/*
 * The AWS provider against a running cloudsim, under injected faults: creates N instances
 * (retrying capacity-free failures with the same idempotency token, as the executor does),
 * lists them by stack, deletes them, and checks there is exactly one instance per address
 * and none left alive. cloudsim's endpoint comes from GPUFORM_AWS_ENDPOINT; the faults are
 * set by the calling script through cloudsim's admin view.
 *   aws_provider_e2e N STACK
 * Exit 0 on success; prints one line per check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"
#include "modules/provider.h"

#define MAX_TRIES 20

static int fails;

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

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: aws_provider_e2e N STACK\n");
        return 2;
    }
    int n = atoi(argv[1]);
    const char *stack = argv[2];
    /* short timeouts: cloudsim's "timeout" fault holds the connection */
    struct core_http_options ho = {.timeout_ms = 1500, .connect_timeout_ms = 1000,
                                   .backoff_base_ms = 20, .backoff_cap_ms = 200};
    struct core_http_client *http = core_http_client_new(&ho);
    struct prov_config cfg = {.http = http};
    struct prov_error err;
    struct prov *p = prov_aws.open(&cfg, &err);
    if (!p) {
        fprintf(stderr, "open: %s\n", err.message);
        return 1;
    }
    int created = 0, retried = 0;
    char (*ids)[64] = calloc((size_t)n, sizeof *ids);
    for (int i = 0; i < n; i++) {
        char address[64], token[64];
        snprintf(address, sizeof address, "node[%d]", i);
        snprintf(token, sizeof token, "e2e-%s-%d", stack, i);
        struct prov_create c = {.stack = stack, .address = address, .token = token,
                                .region = "us-east-1", .instance_type = "g5.xlarge",
                                .spot = i % 3 == 0, .image = "ami-0e2e",
                                .user_data = "#!/bin/sh\ntrue\n"};
        struct prov_instance in;
        int tries = 0, rc;
        while ((rc = prov_aws.create(p, &c, &in, &err)) != 0 && retryable(&err) &&
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
    free(ids);
    prov_aws.close(p);
    core_http_client_free(http);
    return fails ? 1 : 0;
}
