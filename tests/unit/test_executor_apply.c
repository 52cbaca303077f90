/*
 * The apply engine against cloudsim in this process, on loopback: apply creates every node
 * (cloudsim's live instances equal the state's), a second apply has nothing to do, destroy
 * leaves nothing; a zone without capacity sends the nodes elsewhere and blocks the offer in
 * the state; a journal left by a "killed" run (records written by hand) is settled: made
 * instances adopted, unmade ones dropped, no duplicate; a failover that moves a node to
 * another cloud creates it through that cloud's provider. Assertions never depend on timing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/diag.h"
#include "executor/apply.h"
#include "executor/backend.h"
#include "executor/diff.h"
#include "executor/journal.h"
#include "executor/state.h"
#include "modules/cloudsim/sim.h"
#include "modules/provider.h"
#include "parser/spec.h"
#include "planner/catalog.h"
#include "planner/plan.h"

#define AKID   "AKIDGPUFORMAPPLYTEST"
#define SECRET "gpuform-apply-test-secret-0123456789"
#define STACK  "apply-test"

/* Two zones of one region; us-east-1a is cheaper, so the planner wants it. Azure (a stack
 * that declares it) is the dearest. */
static const char catalog_text[] =
    "cloud,region,zone,instance_type,gpu,gpus,gpu_memory_gb,vcpus,ram_gib,ondemand_usd_hour,"
    "spot_usd_hour,as_of,source\n"
    "aws,us-east-1,us-east-1a,g5.xlarge,A10G,1,24,4,16,1,,2026-01-21,test\n"
    "aws,us-east-1,us-east-1b,g5.xlarge,A10G,1,24,4,16,1.2,,2026-01-21,test\n"
    "azure,eastus,,Standard_NC4as_T4_v3,A10G,1,24,4,28,1.5,,2026-01-21,test\n";

static const char spec_text[] = "version: 1\n"
                                "stack: " STACK "\n"
                                "clouds:\n"
                                "  aws: { regions: [us-east-1] }\n"
                                "workloads:\n"
                                "  train:\n"
                                "    kind: training\n"
                                "    gpu: A10G:1\n"
                                "    nodes: 3\n"
                                "    hours: 4\n";

struct fixture {
    char dir[64];
    FILE *log; /* the engine's progress lines; NULL: stderr */
    bool live; /* as on a terminal: a status line under the events */
    struct sim_world *world;
    struct sim_server *server;
    char endpoint[64];
    struct prov *prov;
    struct exec_cloud cloud;
    struct exec_cloud clouds[2]; /* aws, then azure where the stack declares it */
    size_t nclouds;
    struct spec *spec;
    struct plan_catalog *cat;
    struct state_backend *b;
    struct state *st;
    const struct state_override *override; /* the run's policy override, or NULL */
};

static void start_sim(struct fixture *f, const char *const *full_zones)
{
    struct core_diags d;
    struct sim_config c;
    core_diags_init(&d, 0);
    assert_int_equal(sim_config_defaults(&c, &d), 0);
    core_diags_release(&d);
    c.seed = 3;
    c.time_scale = 0.001;
    c.throttle = false;
    assert_int_equal(sim_config_add_credential(&c, AKID, SECRET), 0);
    assert_int_equal(sim_config_add_azure_principal(&c, "apply-tenant", "apply-client", SECRET), 0);
    for (size_t i = 0; full_zones && full_zones[i]; i++) { /* no room for g5.xlarge */
        struct sim_capacity_rule *r = realloc(c.capacity, (i + 1) * sizeof *r);
        assert_non_null(r);
        c.capacity = r;
        c.capacity[i] = (struct sim_capacity_rule){
            .zone = strdup(full_zones[i]), .type = strdup("g5.xlarge"), .limit = 0};
        c.ncapacity = i + 1;
    }
    f->world = sim_world_new(&c);
    assert_non_null(f->world);
    char err[256] = "";
    struct sim_server_options so = {.host = "127.0.0.1", .port = 0};
    f->server = sim_server_start(f->world, &so, err);
    if (!f->server)
        fail_msg("cloudsim did not start: %s", err);
    snprintf(f->endpoint, sizeof f->endpoint, "http://127.0.0.1:%u", sim_server_port(f->server));
    struct prov_config cfg = {.endpoint = f->endpoint};
    struct prov_error pe;
    f->prov = prov_find("aws")->open(&cfg, &pe);
    if (!f->prov)
        fail_msg("the aws provider did not open: %s", pe.message);
    f->cloud = (struct exec_cloud){.name = "aws", .prov = f->prov};
    f->clouds[0] = f->cloud;
    f->nclouds = 1;
    const struct spec_cloud *azure = NULL;
    for (size_t i = 0; i < f->spec->nclouds; i++)
        if (!strcmp(f->spec->clouds[i].name, "azure"))
            azure = &f->spec->clouds[i];
    if (!azure)
        return;
    setenv("AZURE_TENANT_ID", "apply-tenant", 1);
    setenv("AZURE_CLIENT_ID", "apply-client", 1);
    setenv("AZURE_CLIENT_SECRET", SECRET, 1);
    setenv("AZURE_AUTHORITY_HOST", f->endpoint, 1);
    setenv("GPUFORM_AZURE_SSH_PUBLIC_KEY", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAItest test", 1);
    unsetenv("GPUFORM_AZURE_ENDPOINT");
    struct prov_config az = {.endpoint = f->endpoint, .stack = azure};
    struct prov *p = prov_find("azure")->open(&az, &pe);
    if (!p)
        fail_msg("the azure provider did not open: %s", pe.message);
    f->clouds[f->nclouds++] = (struct exec_cloud){.name = "azure", .prov = p};
}

static int setup_with(void **state, const char *spec_src, const char *const *full_zones)
{
    setenv("AWS_ACCESS_KEY_ID", AKID, 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("GPUFORM_AWS_ENDPOINT");
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/gpuform-apply-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char path[128];
    snprintf(path, sizeof path, "%s/stack.yaml", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(spec_src, fp);
    fclose(fp);
    struct core_diags d;
    core_diags_init(&d, 0);
    assert_int_equal(spec_load(path, NULL, &d, &f->spec), 0);
    assert_int_equal(plan_catalog_parse("test", catalog_text, sizeof catalog_text - 1, &d, &f->cat),
                     0);
    core_diags_release(&d);
    struct state_err err;
    f->b = state_local_open(f->spec->state_file, &err);
    assert_non_null(f->b);
    struct state_lock_info me, holder, stale;
    assert_int_equal(state_lock_info_self(&me, "apply", "test"), 0);
    assert_int_equal(f->b->ops->lock(f->b, &me, 0, &holder, &stale, &err), 0);
    f->st = state_new(STACK);
    assert_non_null(f->st);
    start_sim(f, full_zones);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, spec_text, NULL);
}

static int setup_no_room_in_a(void **state)
{
    static const char *const full[] = {"us-east-1a", NULL};
    return setup_with(state, spec_text, full);
}

static int setup_no_room_anywhere(void **state)
{
    static const char *const full[] = {"us-east-1a", "us-east-1b", NULL};
    return setup_with(state, spec_text, full);
}

static const char service_spec_text[] = "version: 1\n"
                                        "stack: " STACK "\n"
                                        "clouds:\n"
                                        "  aws: { regions: [us-east-1] }\n"
                                        "workloads:\n"
                                        "  chat:\n"
                                        "    kind: service\n"
                                        "    gpu: A10G:1\n"
                                        "    replicas: 2\n";

static const char two_clouds_spec_text[] =
    "version: 1\n"
    "stack: " STACK "\n"
    "clouds:\n"
    "  aws: { regions: [us-east-1] }\n"
    "  azure: { regions: [eastus], subscription: 00000000-0000-4000-8000-0000000000a1, "
    "resource_group: apply-rg }\n"
    "workloads:\n"
    "  train:\n"
    "    kind: training\n"
    "    gpu: A10G:1\n"
    "    nodes: 1\n"
    "    hours: 4\n";

static int setup_two_clouds_aws_full(void **state)
{
    static const char *const full[] = {"us-east-1a", "us-east-1b", NULL};
    return setup_with(state, two_clouds_spec_text, full);
}

static int setup_service(void **state)
{
    return setup_with(state, service_spec_text, NULL);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    f->prov->ops->close(f->prov);
    if (f->nclouds > 1)
        f->clouds[1].prov->ops->close(f->clouds[1].prov);
    sim_server_stop(f->server);
    sim_world_free(f->world);
    state_free(f->st);
    f->b->ops->close(f->b);
    spec_free(f->spec);
    plan_catalog_free(f->cat);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Live (pending or running) instances of the stack in the world; `zone` "" = any. */
static size_t live(struct fixture *f, const char *zone)
{
    size_t n = 0;
    pthread_mutex_lock(&f->world->lock);
    for (size_t i = 0; i < f->world->ninstances; i++) {
        const struct sim_instance *in = f->world->instances[i];
        if (in->state != SIM_PENDING && in->state != SIM_RUNNING)
            continue;
        if (*zone && strcmp(in->zone, zone) != 0)
            continue;
        for (size_t t = 0; t < in->ntags; t++)
            if (!strcmp(in->tags[t].key, "gpuform:stack") && !strcmp(in->tags[t].value, STACK))
                n++;
    }
    pthread_mutex_unlock(&f->world->lock);
    return n;
}

/* Whether the world has a live instance with this id. */
static bool live_id(struct fixture *f, const char *id)
{
    pthread_mutex_lock(&f->world->lock);
    const struct sim_instance *in = sim_world_find(f->world, id);
    bool ok = in && (in->state == SIM_PENDING || in->state == SIM_RUNNING);
    pthread_mutex_unlock(&f->world->lock);
    return ok;
}

/* Plans against the state (as apply does), diffs and executes; returns the diff's change
 * count and the run's result. `destroy`: against an empty plan. */
static size_t apply(struct fixture *f, bool destroy, int *rc, struct exec_result *res)
{
    struct core_arena arena;
    core_arena_init(&arena, 0);
    struct plan_current *cur = NULL;
    size_t ncur = 0;
    assert_int_equal(diff_current_from_state(f->st, &arena, &cur, &ncur), 0);
    struct plan_catalog *unblocked = exec_catalog_unblocked(f->cat, f->st, (int64_t)time(NULL));
    assert_non_null(unblocked);
    struct core_diags d;
    core_diags_init(&d, 0);
    struct plan_options po = {.current = cur, .ncurrent = ncur};
    struct plan_result *plan = NULL, empty = {0};
    core_arena_init(&empty.arena, 0);
    if (!destroy)
        assert_int_equal(plan_solve(f->spec, unblocked, &po, &d, &plan), 0);
    struct diff df;
    assert_int_equal(diff_compute(destroy ? &empty : plan, f->st, &df), 0);
    size_t changes = df.ncreate + df.ndelete + df.nreplace;
    struct exec_input in = {.spec = f->spec,
                            .catalog = f->cat,
                            .plan = destroy ? &empty : plan,
                            .backend = f->b,
                            .state = f->st,
                            .clouds = f->clouds,
                            .nclouds = f->nclouds,
                            .override = f->override};
    /* the stacks verify their nodes (verify: quick by default): cloudsim's agent reports
     * within a second, so its console is read often */
    struct exec_options o = {.parallelism = 4,
                             .backoff_ms = 1,
                             .log = f->log,
                             .live = f->live,
                             .verify_poll_ms = 20,
                             .verify_poll_max_ms = 100};
    struct exec *x = exec_new(&in, &o);
    assert_non_null(x);
    *rc = exec_run(x, &df, res);
    exec_free(x);
    diff_release(&df);
    plan_result_free(plan);
    core_arena_release(&empty.arena);
    plan_catalog_free(unblocked);
    core_diags_release(&d);
    core_arena_release(&arena);
    return changes;
}

/* The state as stored (what the next run reads), parsed. */
static struct state *stored(struct fixture *f)
{
    char *text = NULL;
    size_t len = 0;
    struct state_err err;
    assert_int_equal(f->b->ops->read(f->b, &text, &len, &err), 0);
    assert_non_null(text);
    struct state *st = NULL;
    assert_int_equal(state_parse(text, len, "stored", &st, &err), 0);
    free(text);
    return st;
}

static bool journal_empty(struct fixture *f)
{
    char *text = NULL;
    size_t len = 0;
    struct state_err err;
    assert_int_equal(f->b->ops->journal_read(f->b, &text, &len, &err), 0);
    free(text);
    return !text || len == 0;
}

static void
test_apply_creates_every_node_then_has_nothing_to_do_and_destroy_leaves_nothing(void **state)
{
    struct fixture *f = *state;
    struct exec_result res;
    int rc;
    assert_int_equal(apply(f, false, &rc, &res), 3);
    assert_int_equal(rc, 0);
    assert_int_equal(res.created, 3);
    assert_int_equal(res.failed, 0);
    assert_int_equal(f->st->nnodes, 3);
    assert_int_equal(live(f, ""), 3);
    for (size_t i = 0; i < f->st->nnodes; i++) {
        assert_true(live_id(f, f->st->nodes[i].cloud_id));
        assert_string_equal(f->st->nodes[i].placement.zone, "us-east-1a");
        assert_int_equal(f->st->nodes[i].status, STATE_RUNNING);
    }
    struct state *on_disk = stored(f);
    assert_int_equal(on_disk->nnodes, 3);
    state_free(on_disk);
    assert_true(journal_empty(f));

    assert_int_equal(apply(f, false, &rc, &res), 0); /* a second apply: no changes */
    assert_int_equal(rc, 0);
    assert_int_equal(live(f, ""), 3);

    assert_int_equal(apply(f, true, &rc, &res), 3);
    assert_int_equal(rc, 0);
    assert_int_equal(res.deleted, 3);
    assert_int_equal(f->st->nnodes, 0);
    assert_int_equal(live(f, ""), 0);
    on_disk = stored(f);
    assert_int_equal(on_disk->nnodes, 0);
    state_free(on_disk);
    assert_true(journal_empty(f));
}

static void test_apply_fails_over_to_the_next_zone_and_blocks_the_full_one(void **state)
{
    struct fixture *f = *state;
    struct exec_result res;
    int rc;
    assert_int_equal(apply(f, false, &rc, &res), 3);
    assert_int_equal(rc, 0);
    assert_int_equal(res.created, 3);
    assert_true(res.failovers >= 1);
    assert_int_equal(live(f, "us-east-1a"), 0);
    assert_int_equal(live(f, "us-east-1b"), 3);
    for (size_t i = 0; i < f->st->nnodes; i++)
        assert_string_equal(f->st->nodes[i].placement.zone, "us-east-1b");
    struct state *on_disk = stored(f);
    assert_int_equal(on_disk->nnodes, 3);
    assert_int_equal(on_disk->nblocks, 1);
    assert_string_equal(on_disk->blocks[0].zone, "us-east-1a");
    assert_string_equal(on_disk->blocks[0].instance_type, "g5.xlarge");
    assert_string_equal(on_disk->blocks[0].error_class, "capacity");
    assert_true(on_disk->blocks[0].until - on_disk->blocks[0].at == 3600);
    state_free(on_disk);
    /* the next plan avoids the blocked zone: nothing moves back */
    assert_int_equal(apply(f, false, &rc, &res), 0);
    assert_int_equal(live(f, ""), 3);
}

/* Both AWS zones full: the node fails over twice and lands on Azure, created through the
 * Azure provider (ARM), not sent to EC2 with an Azure placement. */
static void test_a_failover_to_another_cloud_creates_through_that_clouds_provider(void **state)
{
    struct fixture *f = *state;
    struct exec_result res;
    int rc;
    assert_int_equal(apply(f, false, &rc, &res), 1);
    assert_int_equal(rc, 0);
    assert_int_equal(res.created, 1);
    assert_int_equal(res.failed, 0);
    assert_int_equal(res.failovers, 2);
    assert_int_equal(f->st->nnodes, 1);
    const struct state_node *n = &f->st->nodes[0];
    assert_string_equal(n->placement.cloud, "azure");
    assert_string_equal(n->provider, "azure");
    assert_string_equal(n->placement.region, "eastus");
    pthread_mutex_lock(&f->world->lock);
    size_t on_azure = 0;
    for (size_t i = 0; i < f->world->ninstances; i++) {
        const struct sim_instance *in = f->world->instances[i];
        on_azure += in->cloud == CORE_CLOUD_AZURE &&
                    (in->state == SIM_PENDING || in->state == SIM_RUNNING) &&
                    !strcmp(in->name, n->cloud_id);
    }
    pthread_mutex_unlock(&f->world->lock);
    assert_int_equal(on_azure, 1);
    assert_int_equal(live(f, ""), 0); /* nothing on EC2 */
    assert_int_equal(f->st->nblocks, 2);
    assert_int_equal(apply(f, false, &rc, &res), 0); /* the next plan keeps it there */
    assert_int_equal(apply(f, true, &rc, &res), 1);
    assert_int_equal(rc, 0);
    assert_int_equal(f->st->nnodes, 0);
}

/* Where the replay tests' nodes run. */
static struct state_placement east1a(void)
{
    return (struct state_placement){.cloud = "aws",
                                    .region = "us-east-1",
                                    .zone = "us-east-1a",
                                    .instance_type = "g5.xlarge",
                                    .gpu = "A10G",
                                    .gpus = 1};
}

/* Appends a record as a run would have; `verify`: a gated create's. */
static void journal_put_as(struct fixture *f, enum journal_op op, enum journal_phase phase,
                           const char *address, const char *token, const char *id, bool verify)
{
    struct journal_rec r = {.op = op,
                            .phase = phase,
                            .address = address,
                            .provider = "aws",
                            .token = token,
                            .cloud_id = id,
                            .placement = east1a(),
                            .hourly_usd = 1,
                            .error = "",
                            .at = 1795000000,
                            .verify = verify};
    char *line = journal_encode(&r);
    assert_non_null(line);
    struct state_err err;
    assert_int_equal(f->b->ops->journal_append(f->b, line, strlen(line), &err), 0);
    free(line);
}

static void journal_put(struct fixture *f, enum journal_op op, enum journal_phase phase,
                        const char *address, const char *token, const char *id)
{
    journal_put_as(f, op, phase, address, token, id, false);
}

/* Puts a running node on instance `id` (us-east-1a g5.xlarge) into the state, as a run
 * records it; returns the stored node (to change what else a test needs). */
static struct state_node *put_running(struct fixture *f, const char *address, const char *id,
                                      const char *token)
{
    struct state_node n = {.address = (char *)(uintptr_t)address,
                           .provider = "aws",
                           .cloud_id = (char *)(uintptr_t)id,
                           .token = (char *)(uintptr_t)token,
                           .placement = east1a(),
                           .hourly_usd = 1,
                           .status = STATE_RUNNING,
                           .verify_detail = ""};
    struct state_node *stored = state_put(f->st, &n);
    assert_non_null(stored);
    return stored;
}

/* Creates an instance as a killed run's create would have. */
static void made(struct fixture *f, const char *address, const char *token, char id[64])
{
    struct prov_create c = {.stack = STACK,
                            .address = address,
                            .token = token,
                            .region = "us-east-1",
                            .zone = "us-east-1a",
                            .instance_type = "g5.xlarge",
                            .image = EXEC_DEFAULT_AMI,
                            .user_data = ""};
    struct prov_instance out;
    struct prov_error pe;
    assert_int_equal(f->prov->ops->create(f->prov, &c, &out, &pe), 0);
    strcpy(id, out.id);
}

static void
test_replay_adopts_what_was_made_drops_what_was_not_and_apply_makes_no_duplicate(void **state)
{
    struct fixture *f = *state;
    char id0[64], id2[64], gone[64], alive[64];
    /* train[0]: the create reached the cloud, the run died before "done" */
    made(f, "train[0]", "tok-made", id0);
    journal_put(f, JOURNAL_CREATE, JOURNAL_INTENT, "train[0]", "tok-made", "");
    /* train[1]: the run died before the create was sent */
    journal_put(f, JOURNAL_CREATE, JOURNAL_INTENT, "train[1]", "tok-unsent", "");
    /* train[2]: done, but the state was never written */
    made(f, "train[2]", "tok-done", id2);
    journal_put(f, JOURNAL_CREATE, JOURNAL_INTENT, "train[2]", "tok-done", "");
    journal_put(f, JOURNAL_CREATE, JOURNAL_DONE, "train[2]", "tok-done", id2);
    /* old[0]: a delete that went through; old[1]: one that was never sent */
    made(f, "old[0]", "tok-old0", gone);
    made(f, "old[1]", "tok-old1", alive);
    struct state_err err;
    assert_int_equal(f->prov->ops->destroy(f->prov, "us-east-1", gone, &(struct prov_error){0}), 0);
    char *ids[2] = {gone, alive}, addr0[] = "old[0]", addr1[] = "old[1]";
    char *addrs[2] = {addr0, addr1};
    for (int i = 0; i < 2; i++) {
        put_running(f, addrs[i], ids[i], "t");
        journal_put(f, JOURNAL_DELETE, JOURNAL_INTENT, addrs[i], "", ids[i]);
    }
    size_t settled = 0;
    assert_int_equal(exec_replay(f->b, f->st, &f->cloud, 1, stderr, &settled, &err), 0);
    assert_int_equal(settled, 5);
    assert_true(journal_empty(f));
    assert_non_null(state_find(f->st, "train[0]"));
    assert_string_equal(state_find(f->st, "train[0]")->cloud_id, id0);
    assert_null(state_find(f->st, "train[1]"));
    assert_string_equal(state_find(f->st, "train[2]")->cloud_id, id2);
    assert_null(state_find(f->st, "old[0]"));
    assert_non_null(state_find(f->st, "old[1]"));
    struct state *on_disk = stored(f);
    assert_int_equal(on_disk->nnodes, 3);
    state_free(on_disk);

    /* apply: train[1] is made once, old[1] deleted, the adopted ones untouched */
    struct exec_result res;
    int rc;
    assert_int_equal(apply(f, false, &rc, &res), 2);
    assert_int_equal(rc, 0);
    assert_int_equal(res.created, 1);
    assert_int_equal(res.deleted, 1);
    assert_int_equal(live(f, ""), 3);
    assert_true(live_id(f, id0));
    assert_true(live_id(f, id2));
    assert_false(live_id(f, alive));
    assert_int_equal(f->st->nnodes, 3);
    for (size_t i = 0; i < f->st->nnodes; i++)
        assert_true(live_id(f, f->st->nodes[i].cloud_id));
}

/* A gated create settled from the journal (adopted by its token, or done) is recorded verify
 * "pending", so that the next apply reads its report; an ungated one stays "none"; one the
 * state already holds keeps what the state says (its verification included). */
static void test_replay_records_gated_creates_pending(void **state)
{
    struct fixture *f = *state;
    char id0[64], id1[64], id2[64];
    made(f, "train[0]", "tok-adopted", id0);
    journal_put_as(f, JOURNAL_CREATE, JOURNAL_INTENT, "train[0]", "tok-adopted", "", true);
    made(f, "train[1]", "tok-done", id1);
    journal_put_as(f, JOURNAL_CREATE, JOURNAL_INTENT, "train[1]", "tok-done", "", true);
    journal_put_as(f, JOURNAL_CREATE, JOURNAL_DONE, "train[1]", "tok-done", id1, true);
    made(f, "train[2]", "tok-plain", id2);
    journal_put(f, JOURNAL_CREATE, JOURNAL_INTENT, "train[2]", "tok-plain", "");
    /* train[3]: recorded and verified before the run was killed: the state's record stands */
    char id3[64];
    made(f, "train[3]", "tok-verified", id3);
    journal_put_as(f, JOURNAL_CREATE, JOURNAL_INTENT, "train[3]", "tok-verified", "", true);
    journal_put_as(f, JOURNAL_CREATE, JOURNAL_DONE, "train[3]", "tok-verified", id3, true);
    struct state_node *v = put_running(f, "train[3]", id3, "tok-verified");
    v->verify = STATE_VERIFY_PASSED;
    free(v->verify_detail);
    v->verify_detail = strdup("quick: passed (7 checks, 0.5 s, cpu)");
    size_t settled = 0;
    struct state_err err;
    assert_int_equal(exec_replay(f->b, f->st, &f->cloud, 1, stderr, &settled, &err), 0);
    assert_int_equal(settled, 4);
    assert_int_equal(state_find(f->st, "train[0]")->verify, STATE_VERIFY_PENDING);
    assert_int_equal(state_find(f->st, "train[3]")->verify, STATE_VERIFY_PASSED);
    assert_string_equal(state_find(f->st, "train[3]")->verify_detail,
                        "quick: passed (7 checks, 0.5 s, cpu)");
    assert_int_equal(state_find(f->st, "train[1]")->verify, STATE_VERIFY_PENDING);
    assert_int_equal(state_find(f->st, "train[2]")->verify, STATE_VERIFY_NONE);
    struct state *on_disk = stored(f);
    assert_int_equal(state_find(on_disk, "train[1]")->verify, STATE_VERIFY_PENDING);
    state_free(on_disk);
}

/* Runs one apply with its progress captured; returns the lines (free them). */
static char *apply_logged(struct fixture *f, int *rc, struct exec_result *res, size_t *changes)
{
    char *text = NULL;
    size_t len = 0;
    f->log = open_memstream(&text, &len);
    assert_non_null(f->log);
    *changes = apply(f, false, rc, res);
    fclose(f->log);
    f->log = NULL;
    fputs(text, stderr);
    return text;
}

static void taint(struct fixture *f, const char *address)
{
    struct state_node *n = state_find(f->st, address);
    assert_non_null(n);
    n->tainted = true;
}

static void test_a_tainted_service_replica_is_created_anew_before_the_old_one_goes(void **state)
{
    struct fixture *f = *state;
    struct exec_result res;
    int rc;
    assert_int_equal(apply(f, false, &rc, &res), 2);
    assert_int_equal(rc, 0);
    char old_id[64];
    snprintf(old_id, sizeof old_id, "%s", state_find(f->st, "chat[0]")->cloud_id);
    taint(f, "chat[0]");
    size_t changes;
    char *log = apply_logged(f, &rc, &res, &changes);
    assert_int_equal(changes, 1);
    assert_int_equal(rc, 0);
    assert_int_equal(res.replaced, 1);
    const char *made = strstr(log, "chat[0]: created");
    const char *gone = strstr(log, "chat[0]~old: destroying");
    assert_non_null(made);
    assert_non_null(gone);
    assert_true(made < gone); /* the new replica first */
    free(log);
    assert_int_equal(f->st->nnodes, 2);
    assert_null(state_find(f->st, "chat[0]~old"));
    assert_string_not_equal(state_find(f->st, "chat[0]")->cloud_id, old_id);
    assert_false(state_find(f->st, "chat[0]")->tainted);
    assert_false(live_id(f, old_id));
    assert_int_equal(live(f, ""), 2);
}

static void test_a_tainted_training_node_is_deleted_before_it_is_created_anew(void **state)
{
    struct fixture *f = *state;
    struct exec_result res;
    int rc;
    assert_int_equal(apply(f, false, &rc, &res), 3);
    char old_id[64];
    snprintf(old_id, sizeof old_id, "%s", state_find(f->st, "train[1]")->cloud_id);
    taint(f, "train[1]");
    size_t changes;
    char *log = apply_logged(f, &rc, &res, &changes);
    assert_int_equal(changes, 1);
    assert_int_equal(rc, 0);
    assert_int_equal(res.replaced, 1);
    const char *gone = strstr(log, "train[1]: destroying");
    const char *made = strstr(log, "train[1]: creating");
    assert_non_null(made);
    assert_non_null(gone);
    assert_true(gone < made); /* the old node first */
    free(log);
    assert_false(live_id(f, old_id));
    assert_true(live_id(f, state_find(f->st, "train[1]")->cloud_id));
    assert_int_equal(live(f, ""), 3);
}

/* Gives the state's node `from` the address `to` (the instance stays), so that the next plan
 * creates `from` anew and deletes `to`: a create and a delete of one workload in one run. */
static void readdress(struct fixture *f, const char *from, const char *to)
{
    struct state_node copy = *state_find(f->st, from);
    copy.address = (char *)(uintptr_t)to;
    assert_non_null(state_put(f->st, &copy));
    state_remove(f->st, from);
}

static void test_a_block_moves_no_node_that_runs_there(void **state)
{
    struct fixture *f = *state;
    struct exec_result res;
    int rc;
    assert_int_equal(apply(f, false, &rc, &res), 3); /* all in us-east-1a, the cheaper */
    struct state_block b = {"aws",
                            "us-east-1",
                            "us-east-1a",
                            "g5.xlarge",
                            false,
                            "capacity",
                            "InsufficientInstanceCapacity",
                            time(NULL),
                            time(NULL) + 3600};
    assert_int_equal(state_block_put(f->st, &b), 0);
    assert_int_equal(apply(f, false, &rc, &res), 0); /* the three stay */
    assert_int_equal(live(f, "us-east-1a"), 3);
    state_remove(f->st, "train[2]"); /* a node to make anew: not in the blocked zone */
    assert_int_equal(apply(f, false, &rc, &res), 1);
    assert_int_equal(rc, 0);
    assert_string_equal(state_find(f->st, "train[2]")->placement.zone, "us-east-1b");
}

static void test_a_workloads_deletes_wait_for_its_creates(void **state)
{
    struct fixture *f = *state;
    struct exec_result res;
    int rc;
    assert_int_equal(apply(f, false, &rc, &res), 3);
    char moved_id[64];
    snprintf(moved_id, sizeof moved_id, "%s", state_find(f->st, "train[2]")->cloud_id);
    readdress(f, "train[2]", "train[9]");
    pthread_mutex_lock(&f->world->lock); /* a slow cloud: the create is surely in flight */
    f->world->conf.latency_min_ms = f->world->conf.latency_max_ms = 150;
    pthread_mutex_unlock(&f->world->lock);
    size_t changes;
    char *log = apply_logged(f, &rc, &res, &changes);
    assert_int_equal(changes, 2);
    assert_int_equal(rc, 0);
    assert_int_equal(res.created, 1);
    assert_int_equal(res.deleted, 1);
    /* the delete, taken by another worker while the create is in flight, waits for it */
    assert_non_null(strstr(log, "train[9]: waiting for 1 create of 'train' before destroying"));
    const char *made = strstr(log, "train[2]: created");
    const char *gone = strstr(log, "train[9]: destroying");
    assert_non_null(made);
    assert_non_null(gone);
    assert_true(made < gone);
    free(log);
    assert_false(live_id(f, moved_id));
    assert_int_equal(live(f, ""), 3);
}

static void test_a_terminal_gets_a_status_line_that_the_summary_replaces(void **state)
{
    struct fixture *f = *state;
    f->live = true;
    struct exec_result res;
    int rc;
    size_t changes;
    char *log = apply_logged(f, &rc, &res, &changes);
    assert_int_equal(rc, 0);
    assert_int_equal(res.created, 3);
    /* each event line clears the status line first, and the status line follows it */
    assert_non_null(strstr(log, "\r\033[Ktrain[0]: creating"));
    assert_non_null(strstr(log, " of 3 done, "));
    /* the run ends on a cleared line, so the summary stands alone */
    size_t n = strlen(log);
    assert_true(n > 4 && strcmp(log + n - 4, "\r\033[K") == 0);
    free(log);
}

static void test_a_service_keeps_an_old_replica_when_its_new_one_fails(void **state)
{
    struct fixture *f = *state;
    struct exec_result res;
    int rc;
    assert_int_equal(apply(f, false, &rc, &res), 2);
    char kept_id[64];
    snprintf(kept_id, sizeof kept_id, "%s", state_find(f->st, "chat[1]")->cloud_id);
    readdress(f, "chat[1]", "chat[7]");
    pthread_mutex_lock(&f->world->lock); /* every RunInstances from now on: no capacity */
    f->world->fault_count[SIM_FAULT_CAPACITY] = 1000;
    pthread_mutex_unlock(&f->world->lock);
    size_t changes;
    char *log = apply_logged(f, &rc, &res, &changes);
    assert_int_equal(changes, 2);
    assert_int_equal(rc, -1);
    assert_int_equal(res.created, 0);
    assert_int_equal(res.deleted, 0);
    assert_int_equal(res.failed, 2);
    assert_non_null(strstr(log, "chat[7]: kept: 1 of the new nodes of service 'chat' were not "
                                "made"));
    assert_null(strstr(log, "chat[7]: destroying"));
    free(log);
    assert_true(live_id(f, kept_id)); /* the service still has two replicas running */
    assert_non_null(state_find(f->st, "chat[7]"));
    assert_int_equal(live(f, ""), 2);
}

static void test_no_capacity_anywhere_fails_each_node_after_blocking_every_offer(void **state)
{
    struct fixture *f = *state;
    struct exec_result res;
    int rc;
    size_t changes;
    char *log = apply_logged(f, &rc, &res, &changes);
    assert_int_equal(changes, 3);
    assert_int_equal(rc, -1);
    assert_int_equal(res.created, 0);
    assert_int_equal(res.failed, 3);
    assert_non_null(strstr(log, "no other placement"));
    free(log);
    assert_int_equal(live(f, ""), 0);
    assert_int_equal(f->st->nnodes, 0);
    struct state *on_disk = stored(f);
    assert_int_equal(on_disk->nblocks, 2); /* both zones, each blocked once */
    state_free(on_disk);
    assert_true(journal_empty(f)); /* every outcome is known */
}

static void test_an_auth_error_stops_the_run_and_saves_the_state(void **state)
{
    struct fixture *f = *state;
    setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret", 1);
    struct prov_config cfg = {.endpoint = f->endpoint};
    struct prov_error pe;
    struct prov *bad = prov_find("aws")->open(&cfg, &pe);
    assert_non_null(bad);
    struct prov *good = f->clouds[0].prov;
    f->clouds[0].prov = bad;
    struct exec_result res;
    int rc;
    assert_int_equal(apply(f, false, &rc, &res), 3);
    f->clouds[0].prov = good;
    bad->ops->close(bad);
    assert_int_equal(rc, -1);
    assert_int_equal(res.created, 0);
    assert_true(res.failed >= 1);
    assert_non_null(strstr(res.error, "auth"));
    assert_int_equal(live(f, ""), 0);
    struct state *on_disk = stored(f);
    assert_int_equal(on_disk->nnodes, 0);
    assert_int_equal(on_disk->nblocks, 0); /* an auth error blocks no offer */
    state_free(on_disk);
    assert_true(journal_empty(f));
}

static void test_an_unconfirmed_node_is_found_by_its_token_and_deleted(void **state)
{
    struct fixture *f = *state;
    char id[64], addr[] = "stray[0]", token[] = "tok-stray";
    made(f, addr, token, id);
    put_running(f, addr, "", token)->status = STATE_CREATING; /* its create never confirmed */
    struct exec_result res;
    int rc;
    assert_int_equal(apply(f, false, &rc, &res), 4); /* 3 creates and the stray's delete */
    assert_int_equal(rc, 0);
    assert_false(live_id(f, id));
    assert_null(state_find(f->st, addr));
    assert_int_equal(live(f, ""), 3);
}

static void test_tokens_differ_by_address_serial_and_attempt_and_repeat_exactly(void **state)
{
    (void)state;
    char a[48], b[48], c[48], d[48], e[48];
    exec_token("lin", "x[0]", 1, 0, a);
    exec_token("lin", "x[0]", 1, 0, b);
    exec_token("lin", "x[1]", 1, 0, c);
    exec_token("lin", "x[0]", 2, 0, d);
    exec_token("lin", "x[0]", 1, 1, e);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_string_not_equal(a, d);
    assert_string_not_equal(a, e);
    assert_int_equal(strlen(a), 43);
    assert_int_equal(strncmp(a, "gf-", 3), 0);
}

/* A policy override as the CLI hands it to the engine (strings borrowed). */
static struct state_override an_override(const char *id)
{
    static char *policies[] = {"no-spot-in-prod"};
    static struct state_override_finding findings[] = {
        {"no-spot-in-prod.lua", "soft", "spot capacity for a production workload", "train[0]"}};
    struct state_override o = {.at = "2026-11-21T18:02:11Z",
                               .who = "ci-bot",
                               .who_source = "GITHUB_ACTOR",
                               .reason = "capacity crunch",
                               .policies = policies,
                               .npolicies = 1,
                               .findings = findings,
                               .nfindings = 1};
    snprintf(o.id, sizeof o.id, "%s", id);
    return o;
}

static void test_an_override_is_written_with_the_changes_and_not_without(void **state)
{
    struct fixture *f = *state;
    struct state_override o = an_override("aaaaaaaa-0000-4000-8000-000000000001");
    f->override = &o;
    struct exec_result res;
    int rc;
    assert_int_equal(apply(f, false, &rc, &res), 3);
    assert_int_equal(rc, 0);
    struct state *on_disk = stored(f);
    assert_int_equal(on_disk->noverrides, 1);
    assert_string_equal(on_disk->overrides[0].id, o.id);
    assert_string_equal(on_disk->overrides[0].who, "ci-bot");
    /* the serial is the apply's last write: the state the overridden changes led to */
    assert_int_equal(on_disk->overrides[0].serial, on_disk->serial);
    state_free(on_disk);
    assert_true(journal_empty(f));
    /* another override on an apply with nothing to change records nothing */
    struct state_override o2 = an_override("aaaaaaaa-0000-4000-8000-000000000002");
    f->override = &o2;
    assert_int_equal(apply(f, false, &rc, &res), 0);
    on_disk = stored(f);
    assert_int_equal(on_disk->noverrides, 1);
    state_free(on_disk);
}

static void test_an_override_whose_changes_all_failed_is_not_recorded(void **state)
{
    struct fixture *f = *state;
    struct state_override o = an_override("bbbbbbbb-0000-4000-8000-000000000001");
    f->override = &o;
    struct exec_result res;
    int rc;
    assert_int_equal(apply(f, false, &rc, &res), 3);
    assert_int_equal(rc, -1);
    assert_int_equal(res.created, 0);
    struct state *on_disk = stored(f);
    assert_true(on_disk->nblocks > 0); /* the run did write the state */
    assert_int_equal(on_disk->noverrides, 0);
    state_free(on_disk);
}

static void journal_override(struct fixture *f, const struct state_override *o)
{
    char *line = journal_encode_override(o);
    assert_non_null(line);
    struct state_err err;
    assert_int_equal(f->b->ops->journal_append(f->b, line, strlen(line), &err), 0);
    free(line);
}

static void
test_replay_records_the_override_of_a_killed_run_only_when_it_changed_something(void **state)
{
    struct fixture *f = *state;
    struct state_err err;
    size_t settled = 0;
    /* killed after the create reached the cloud: the adopted node came under the override */
    struct state_override o = an_override("cccccccc-0000-4000-8000-000000000001");
    char id0[64];
    journal_override(f, &o);
    made(f, "train[0]", "tok-made", id0);
    journal_put(f, JOURNAL_CREATE, JOURNAL_INTENT, "train[0]", "tok-made", "");
    assert_int_equal(exec_replay(f->b, f->st, &f->cloud, 1, stderr, &settled, &err), 0);
    assert_int_equal(settled, 1);
    struct state *on_disk = stored(f);
    assert_non_null(state_find(on_disk, "train[0]"));
    assert_int_equal(on_disk->noverrides, 1);
    assert_string_equal(on_disk->overrides[0].id, o.id);
    assert_int_equal(on_disk->overrides[0].serial, on_disk->serial);
    state_free(on_disk);
    /* the same journal settled again (a run killed after the state write) adds nothing */
    journal_override(f, &o);
    journal_put(f, JOURNAL_CREATE, JOURNAL_INTENT, "train[0]", "tok-made", "");
    assert_int_equal(exec_replay(f->b, f->st, &f->cloud, 1, stderr, &settled, &err), 0);
    assert_int_equal(f->st->noverrides, 1);
    /* killed before its create was sent: nothing changed, no override */
    struct state_override o2 = an_override("cccccccc-0000-4000-8000-000000000002");
    journal_override(f, &o2);
    journal_put(f, JOURNAL_CREATE, JOURNAL_INTENT, "train[1]", "tok-unsent", "");
    assert_int_equal(exec_replay(f->b, f->st, &f->cloud, 1, stderr, &settled, &err), 0);
    assert_null(state_find(f->st, "train[1]"));
    assert_int_equal(f->st->noverrides, 1);
    assert_true(journal_empty(f));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_apply_creates_every_node_then_has_nothing_to_do_and_destroy_leaves_nothing, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_apply_fails_over_to_the_next_zone_and_blocks_the_full_one, setup_no_room_in_a,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_a_failover_to_another_cloud_creates_through_that_clouds_provider,
            setup_two_clouds_aws_full, teardown),
        cmocka_unit_test_setup_teardown(
            test_replay_adopts_what_was_made_drops_what_was_not_and_apply_makes_no_duplicate, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_replay_records_gated_creates_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_tainted_service_replica_is_created_anew_before_the_old_one_goes, setup_service,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_a_tainted_training_node_is_deleted_before_it_is_created_anew, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_no_capacity_anywhere_fails_each_node_after_blocking_every_offer,
            setup_no_room_anywhere, teardown),
        cmocka_unit_test_setup_teardown(test_a_block_moves_no_node_that_runs_there, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_workloads_deletes_wait_for_its_creates, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_a_terminal_gets_a_status_line_that_the_summary_replaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_service_keeps_an_old_replica_when_its_new_one_fails,
                                        setup_service, teardown),
        cmocka_unit_test_setup_teardown(test_an_auth_error_stops_the_run_and_saves_the_state, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_an_unconfirmed_node_is_found_by_its_token_and_deleted,
                                        setup, teardown),
        cmocka_unit_test(test_tokens_differ_by_address_serial_and_attempt_and_repeat_exactly),
        cmocka_unit_test_setup_teardown(
            test_an_override_is_written_with_the_changes_and_not_without, setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_override_whose_changes_all_failed_is_not_recorded,
                                        setup_no_room_anywhere, teardown),
        cmocka_unit_test_setup_teardown(
            test_replay_records_the_override_of_a_killed_run_only_when_it_changed_something, setup,
            teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
