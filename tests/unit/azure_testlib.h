/*
 * Shared by the Azure provider's unit tests: a core/http transport that replays canned
 * replies in order (status, body, headers, or a connection failure) and records every
 * request (method, URL, headers, body), with a fake clock that sleeping advances. Header-only
 * so each test binary can include it.
 */
#ifndef GPUFORM_TESTS_AZURE_TESTLIB_H
#define GPUFORM_TESTS_AZURE_TESTLIB_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"

#define AZ_MAX 32

struct az_reply {
    long status; /* 0: the connection fails (connect refused) */
    const char *body;
    const char *headers[4]; /* "Name: value" */
};

struct az_seen {
    char method[8];
    char url[1024];
    char headers[1024]; /* joined with '\n' */
    char body[8192];
};

struct az_fake {
    pthread_mutex_t mu;
    struct az_reply replies[4 * AZ_MAX];
    size_t nreplies, next;
    struct az_seen seen[AZ_MAX];
    int calls;
    uint64_t now; /* ms */
    struct core_http_clock clock;
};

static inline int az_transport(void *ctx, const struct core_http_request *req,
                               struct core_http_response *resp, struct core_http_error *err)
{
    struct az_fake *f = ctx;
    pthread_mutex_lock(&f->mu);
    int i = f->calls++;
    if (i < AZ_MAX) {
        struct az_seen *s = &f->seen[i];
        snprintf(s->method, sizeof s->method, "%s", req->method ? req->method : "GET");
        snprintf(s->url, sizeof s->url, "%s", req->url);
        s->headers[0] = '\0';
        for (const char *const *h = req->headers; h && *h; h++) {
            strncat(s->headers, *h, sizeof s->headers - strlen(s->headers) - 2);
            strcat(s->headers, "\n");
        }
        snprintf(s->body, sizeof s->body, "%.*s", (int)req->body_len,
                 req->body ? (const char *)req->body : "");
    }
    const struct az_reply *r = f->next < f->nreplies
                                   ? &f->replies[f->next++]
                                   : &(struct az_reply){.status = 500, .body = "no reply left"};
    pthread_mutex_unlock(&f->mu);
    if (r->status == 0) {
        err->cls = CORE_HTTP_ERR_CONNECT;
        err->sent = false;
        snprintf(err->message, sizeof err->message, "could not connect (refused)");
        return -1;
    }
    resp->status = r->status;
    core_buf_adds(&resp->body, r->body ? r->body : "");
    core_http_response_add_header(resp, "x-ms-request-id", "req-az-1");
    for (int h = 0; h < 4 && r->headers[h]; h++) {
        char name[128];
        const char *colon = strchr(r->headers[h], ':');
        snprintf(name, sizeof name, "%.*s", (int)(colon - r->headers[h]), r->headers[h]);
        core_http_response_add_header(resp, name, colon + 2);
    }
    return 0;
}

static inline uint64_t az_now_ms(void *ctx)
{
    struct az_fake *f = ctx;
    pthread_mutex_lock(&f->mu);
    uint64_t n = f->now;
    pthread_mutex_unlock(&f->mu);
    return n;
}

static inline void az_sleep_ms(void *ctx, uint64_t ms)
{
    struct az_fake *f = ctx;
    pthread_mutex_lock(&f->mu);
    f->now += ms;
    pthread_mutex_unlock(&f->mu);
}

static inline int64_t az_unix_s(void *ctx)
{
    (void)ctx;
    return 1795000000;
}

/* A client whose transport and clock are `f`'s: no network, no real time. */
static inline struct core_http_client *az_client(struct az_fake *f)
{
    pthread_mutex_init(&f->mu, NULL);
    f->now = 1000000;
    f->clock = (struct core_http_clock){az_now_ms, az_sleep_ms, az_unix_s, f};
    struct core_http_options o = {.transport = az_transport,
                                  .transport_ctx = f,
                                  .clock = &f->clock,
                                  .max_attempts = 3,
                                  .backoff_base_ms = 10};
    return core_http_client_new(&o);
}

/* Queues a reply; headers as "Name: value", up to four. */
static inline void az_reply(struct az_fake *f, long status, const char *body, const char *h1,
                            const char *h2)
{
    f->replies[f->nreplies++] = (struct az_reply){status, body, {h1, h2, NULL, NULL}};
}

#define AZ_TOKEN_REPLY(tok)                                                                        \
    "{\"token_type\":\"Bearer\",\"expires_in\":3599,\"ext_expires_in\":3599,\"access_token\":"     \
    "\"" tok "\"}"

#endif
