/*
 * gen_fleet: a consistent (cloudsim world, gpuform state) pair for a stack's plan, as if
 * `gpuform apply` had created every node an hour ago, without 10,000 RunInstances calls
 * through EC2's 2-per-second bucket. Instances are launched with cloudsim's own
 * sim_world_run (what RunInstances calls after parsing), tagged and tokened as the apply
 * engine tags them, and the state records each node as executor/apply.c's record_created
 * does. Used by bench/refresh/run.sh (docs/benchmarks.md, "Refresh and plan at 10,000").
 *
 *   gen_fleet --plan PLAN.json --world-config WORLD.yaml --world OUT.json --state STATE.json
 *
 * PLAN.json is `gpuform plan --json` of the stack with no state (every node a create);
 * WORLD.yaml the world config cloudsim will be started with (its regions must hold the
 * plan's); OUT.json is written in sim_persist.c's format (`gpuform cloudsim --state OUT.json`
 * loads it); STATE.json (which must not exist) through the local state backend, serial 1.
 * Prints "nodes N regions R" and per region "region NAME N" on standard output.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/diag.h"
#include "executor/apply.h"
#include "executor/backend.h"
#include "executor/state.h"
#include "modules/cloudsim/sim.h"

#define MAX_REGIONS 64

struct args {
    const char *plan, *world_config, *world, *state;
};

static int usage(void)
{
    fprintf(stderr, "usage: gen_fleet --plan PLAN.json --world-config WORLD.yaml --world OUT.json "
                    "--state STATE.json\n");
    return 2;
}

static int parse_args(int argc, char **argv, struct args *a)
{
    for (int i = 1; i < argc; i++) {
        const char **slot = !strcmp(argv[i], "--plan")           ? &a->plan
                            : !strcmp(argv[i], "--world-config") ? &a->world_config
                            : !strcmp(argv[i], "--world")        ? &a->world
                            : !strcmp(argv[i], "--state")        ? &a->state
                                                                 : NULL;
        if (!slot || i + 1 >= argc)
            return usage();
        *slot = argv[++i];
    }
    return a->plan && a->world_config && a->world && a->state ? 0 : usage();
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* The zone apply asks the cloud for: a zone name of the region, else none (the cloud
 * picks); as executor/apply.c's api_zone. */
static const char *api_zone(const char *region, const char *zone)
{
    size_t n = strlen(region);
    return *zone && strncmp(zone, region, n) == 0 && zone[n] ? zone : NULL;
}

static struct sim_world *open_world(const char *config)
{
    struct core_diags d;
    core_diags_init(&d, 20);
    struct sim_config c;
    if (sim_config_defaults(&c, &d) != 0 || sim_config_load(&c, config, &d) != 0) {
        core_diags_render(&d, CORE_DIAG_TEXT, false, stderr);
        core_diags_release(&d);
        return NULL;
    }
    core_diags_release(&d);
    return sim_world_new(&c);
}

/* Launches the plan's node `n` in `w` at `at`, records it in `st`. 0, or -1 with a message. */
static int place(struct sim_world *w, struct state *st, json_t *n, double at)
{
    const char *address = str(n, "address"), *cloud = str(n, "cloud"), *region = str(n, "region");
    const char *zone = str(n, "zone"), *type = str(n, "instance_type");
    bool spot = json_is_true(json_object_get(n, "spot"));
    if (strcmp(cloud, "aws") != 0) {
        fprintf(stderr, "gen_fleet: %s is on '%s'; cloudsim simulates aws only\n", address, cloud);
        return -1;
    }
    char token[48];
    exec_token(st->lineage, address, 0, 0, token); /* a new state's first apply: serial 0 */
    struct sim_tag tags[] = {{(char *)"gpuform:stack", st->stack},
                             {(char *)"gpuform:address", (char *)(uintptr_t)address}};
    char hash[17];
    snprintf(hash, sizeof hash, "%016llx",
             (unsigned long long)sim_hash(sim_hash(SIM_HASH_INIT, address), type));
    struct sim_run_request rq = {.region = region,
                                 .zone = api_zone(region, zone),
                                 .type = type,
                                 .image = EXEC_DEFAULT_AMI,
                                 .client_token = token,
                                 .min_count = 1,
                                 .max_count = 1,
                                 .spot = spot,
                                 .tags = tags,
                                 .ntags = 2,
                                 .params_hash = hash};
    struct sim_instance *inst = NULL;
    size_t nout = 0;
    struct sim_error e;
    if (sim_world_run(w, &rq, at, &inst, &nout, &e) != 0 || nout != 1) {
        fprintf(stderr, "gen_fleet: %s: cloudsim refused %s in %s: %s %s\n", address, type, region,
                e.code, e.message);
        return -1;
    }
    struct state_node sn = {
        .address = (char *)(uintptr_t)address,
        .provider = (char *)"aws",
        .cloud_id = inst->id,
        .token = token,
        /* the plan's zone when it named one (so the diff matches), else where it landed */
        .placement = {.cloud = (char *)"aws",
                      .region = (char *)(uintptr_t)region,
                      .zone = *zone ? (char *)(uintptr_t)zone : inst->zone,
                      .instance_type = (char *)(uintptr_t)type,
                      .gpu = (char *)(uintptr_t)str(n, "gpu"),
                      .gpus = (int)json_integer_value(json_object_get(n, "gpus")),
                      .spot = spot},
        .hourly_usd = json_number_value(json_object_get(n, "hourly_usd")),
        .status = STATE_RUNNING,
        .created_at = (int64_t)at,
        .verify = STATE_VERIFY_NONE,
        .verify_detail = (char *)"",
    };
    if (!state_put(st, &sn)) {
        fprintf(stderr, "gen_fleet: out of memory\n");
        return -1;
    }
    return 0;
}

static int write_state(const char *path, struct state *st)
{
    if (access(path, F_OK) == 0) {
        fprintf(stderr, "gen_fleet: '%s' exists; remove it first\n", path);
        return -1;
    }
    struct state_err err;
    struct state_backend *b = state_local_open(path, &err);
    struct state *none = NULL;
    int rc = b && state_load(b, path, &none, &err) == 0 && state_save(b, st, &err) == 0 ? 0 : -1;
    if (rc != 0)
        fprintf(stderr, "gen_fleet: %s\n", err.msg);
    state_free(none);
    if (b)
        b->ops->close(b);
    return rc;
}

int main(int argc, char **argv)
{
    struct args a = {0};
    if (parse_args(argc, argv, &a) != 0)
        return 2;
    json_error_t je;
    json_t *plan = json_load_file(a.plan, 0, &je);
    json_t *nodes = plan ? json_object_get(plan, "nodes") : NULL;
    if (!json_is_array(nodes) || !json_is_string(json_object_get(plan, "stack"))) {
        fprintf(stderr, "gen_fleet: %s: not a plan document (%s)\n", a.plan,
                plan ? "no nodes or stack" : je.text);
        json_decref(plan);
        return 1;
    }
    struct sim_world *w = open_world(a.world_config);
    struct state *st = state_new(json_string_value(json_object_get(plan, "stack")));
    int rc = w && st ? 0 : 1;
    /* launched an hour ago, so every instance is running whatever the lifecycle delays */
    double now = (double)time(NULL), at = now - 3600;
    const char *regions[MAX_REGIONS];
    size_t per_region[MAX_REGIONS] = {0}, nregions = 0;
    for (size_t i = 0; rc == 0 && i < json_array_size(nodes); i++) {
        json_t *n = json_array_get(nodes, i);
        if (place(w, st, n, at) != 0) {
            rc = 1;
            break;
        }
        const char *r = str(n, "region");
        size_t k = 0;
        while (k < nregions && strcmp(regions[k], r) != 0)
            k++;
        if (k == nregions && nregions < MAX_REGIONS)
            regions[nregions++] = r;
        if (k < nregions)
            per_region[k]++;
    }
    if (rc == 0) {
        sim_world_advance(w, now);
        char err[256];
        if (sim_world_save(w, a.world, err) != 0) {
            fprintf(stderr, "gen_fleet: %s\n", err);
            rc = 1;
        }
    }
    if (rc == 0 && write_state(a.state, st) != 0)
        rc = 1;
    if (rc == 0) {
        printf("nodes %zu regions %zu\n", st->nnodes, nregions);
        for (size_t k = 0; k < nregions; k++)
            printf("region %s %zu\n", regions[k], per_region[k]);
    }
    state_free(st);
    sim_world_free(w);
    json_decref(plan);
    return rc;
}
