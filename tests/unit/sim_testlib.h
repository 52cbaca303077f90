/*
 * Shared by cloudsim's unit tests and the providers' tests against it: a world config from
 * text, and faults armed and counted under the world's lock (as the admin view does).
 * Header-only so each test binary (one per tests/unit/test_*.c) can include it; include
 * <cmocka.h> first.
 */
#ifndef GPUFORM_TESTS_SIM_TESTLIB_H
#define GPUFORM_TESTS_SIM_TESTLIB_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/http.h"
#include "modules/cloudsim/sim.h"

/* Loads `text` as a world config over the defaults (*d initialised here). */
static inline int sim_tl_config(const char *text, struct core_diags *d, struct sim_config *c)
{
    char path[] = "/tmp/cloudsim-conf-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (long)strlen(text));
    close(fd);
    core_diags_init(d, 0);
    assert_int_equal(sim_config_defaults(c, d), 0);
    int rc = sim_config_load(c, path, d);
    unlink(path);
    return rc;
}

/* Arms the next `n` requests with fault `kind`. */
static inline void sim_tl_arm(struct sim_world *w, enum sim_fault kind, long n)
{
    pthread_mutex_lock(&w->lock);
    w->fault_count[kind] = n;
    pthread_mutex_unlock(&w->lock);
}

/* Faults of `kind` still armed (0 once the requests consumed them). */
static inline long sim_tl_armed(struct sim_world *w, enum sim_fault kind)
{
    pthread_mutex_lock(&w->lock);
    long n = w->fault_count[kind];
    pthread_mutex_unlock(&w->lock);
    return n;
}

/* A world from `c` (taken) served on a free loopback port; endpoint[64] gets its URL. */
static inline void sim_tl_serve(struct sim_config *c, struct sim_world **w, struct sim_server **s,
                                char endpoint[64])
{
    *w = sim_world_new(c);
    assert_non_null(*w);
    char err[256] = "";
    struct sim_server_options so = {.host = "127.0.0.1", .port = 0};
    *s = sim_server_start(*w, &so, err);
    if (!*s)
        fail_msg("cloudsim did not start: %s", err);
    snprintf(endpoint, 64, "http://127.0.0.1:%u", sim_server_port(*s));
}

/* Stops what sim_tl_serve started. */
static inline void sim_tl_stop(struct sim_world *w, struct sim_server *s)
{
    sim_server_stop(s);
    sim_world_free(w);
}

/* An HTTP client with a short backoff, so retries are quick (outcomes never depend on it). */
static inline struct core_http_client *sim_tl_http(void)
{
    struct core_http_options o = {
        .backoff_base_ms = 1, .backoff_cap_ms = 10, .max_attempts = 5, .timeout_ms = 20000};
    struct core_http_client *http = core_http_client_new(&o);
    assert_non_null(http);
    return http;
}

#endif
