/*
 * `gpuform verify [--stack PATH] [--sim] ADDRESS...`: verifies nodes of a stack that already
 * run (docs/verify.md, "Verifying running nodes"). The stack and its state (read without the
 * lock) say which nodes and their keys; executor/reverify.c asks and listens; the outcome
 * goes into the state under its lock, and out per node as text or JSON.
 */
#include "cli/verify_nodes.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/cloud.h"
#include "core/diag.h"
#include "executor/reverify.h"
#include "executor/state.h"
#include "lua/policy.h"
#include "modules/provider.h"
#include "modules/state/state_backends.h"
#include "parser/spec.h"

#define MAX_NODES 4096

struct vrun {
    const struct cli_verify_nodes *a;
    struct core_diags d;
    struct spec *spec;
    struct state *st; /* read without the lock: which nodes, their tokens, the secret */
    struct exec_reverify_node *nodes;
    size_t n;
    struct cli_sim sim;
    struct exec_cloud clouds[CORE_CLOUD_COUNT];
    size_t nclouds;
};

/* The workload `address` belongs to ("chat" of "chat[0]"), in the spec; NULL when gone. */
static const struct spec_workload *workload_of(const struct spec *spec, const char *address)
{
    size_t len = strcspn(address, "[");
    for (size_t i = 0; i < spec->nworkloads; i++)
        if (strlen(spec->workloads[i].name) == len &&
            !strncmp(spec->workloads[i].name, address, len))
            return &spec->workloads[i];
    return NULL;
}

/* Whether state node `n` is named by ADDRESS `want`: itself, or its workload. */
static bool named(const struct state_node *n, const char *want)
{
    size_t wl = strlen(want);
    return !strcmp(n->address, want) || (!strncmp(n->address, want, wl) && n->address[wl] == '[');
}

/* Adds state node `sn` (once), refusing what can't answer. 0, or -1 having said why. */
static int add(struct vrun *r, const struct state_node *sn)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->nodes[i].address, sn->address))
            return 0;
    if (sn->verify == STATE_VERIFY_NONE) {
        fprintf(stderr,
                "gpuform: '%s' has no verify agent (its verify is 'none' in the state: its boot "
                "script carried none), so nothing on it can answer; set 'verify: quick' (or "
                "full) on its workload and replace it ('gpuform apply')\n",
                sn->address);
        return -1;
    }
    if (sn->status != STATE_RUNNING && sn->status != STATE_FAILED) {
        fprintf(stderr, "gpuform: '%s' is %s, not running; nothing can verify it\n", sn->address,
                state_status_name(sn->status));
        return -1;
    }
    if (!*sn->cloud_id) {
        fprintf(stderr,
                "gpuform: '%s' has no instance id in the state yet; run 'gpuform refresh'\n",
                sn->address);
        return -1;
    }
    if (r->n == MAX_NODES) {
        fprintf(stderr, "gpuform: more than %d nodes named\n", MAX_NODES);
        return -1;
    }
    struct exec_reverify_node *n = &r->nodes[r->n++];
    memset(n, 0, sizeof *n);
    snprintf(n->address, sizeof n->address, "%s", sn->address);
    snprintf(n->cloud, sizeof n->cloud, "%s", sn->placement.cloud);
    snprintf(n->region, sizeof n->region, "%s", sn->placement.region);
    snprintf(n->cloud_id, sizeof n->cloud_id, "%s", sn->cloud_id);
    const struct spec_workload *w = workload_of(r->spec, sn->address);
    const char *lv = r->a->level                          ? r->a->level
                     : w && w->verify != SPEC_VERIFY_NONE ? spec_verify_name(w->verify)
                                                          : "quick";
    snprintf(n->level, sizeof n->level, "%s", lv);
    return 0;
}

/* The nodes the ADDRESS arguments name. 0, or -1 having said why. */
static int select_nodes(struct vrun *r)
{
    r->nodes = calloc(MAX_NODES, sizeof *r->nodes);
    if (!r->nodes) {
        fprintf(stderr, "gpuform: out of memory\n");
        return -1;
    }
    for (size_t k = 0; k < r->a->naddresses; k++) {
        const char *want = r->a->addresses[k];
        bool any = false;
        for (size_t i = 0; i < r->st->nnodes; i++) {
            if (!named(&r->st->nodes[i], want))
                continue;
            any = true;
            if (add(r, &r->st->nodes[i]) != 0)
                return -1;
        }
        if (!any) {
            fprintf(stderr,
                    "gpuform: '%s' names no node of the state ('gpuform state list' shows "
                    "them)\n",
                    want);
            return -1;
        }
    }
    return 0;
}

/* Whether the stack or the state uses `cloud`. */
static bool cloud_used(const struct vrun *r, const char *cloud)
{
    for (size_t i = 0; i < r->spec->nclouds; i++)
        if (!strcmp(r->spec->clouds[i].name, cloud))
            return true;
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->nodes[i].cloud, cloud))
            return true;
    return false;
}

/* A provider for each cloud the chosen nodes are on. 0, or -1 having said why. */
static int open_clouds(struct vrun *r)
{
    for (int c = 0; c < CORE_CLOUD_COUNT; c++) {
        const char *name = core_cloud_name((enum core_cloud)c);
        bool used = false;
        for (size_t i = 0; i < r->n && !used; i++)
            used = !strcmp(r->nodes[i].cloud, name);
        const struct prov_ops *ops = used ? prov_find(name) : NULL;
        if (!ops)
            continue;
        struct prov_config cfg = {.endpoint = r->a->sim ? r->sim.endpoint : NULL,
                                  .stack = spec_cloud_find(r->spec, (enum core_cloud)c)};
        struct prov_error pe;
        struct prov *p = ops->open(&cfg, &pe);
        if (!p) {
            fprintf(stderr, "gpuform: %s: %s\n", name, pe.message);
            return -1;
        }
        r->clouds[r->nclouds++] = (struct exec_cloud){.name = name, .prov = p};
    }
    return 0;
}

/* Writes the outcomes into the state: locked, re-read, marked, saved. 0, or -1. */
static int record(struct vrun *r)
{
    bool any = false;
    for (size_t i = 0; i < r->n; i++)
        any |= r->nodes[i].status != EXEC_REVERIFY_UNVERIFIED;
    if (!any)
        return 0;
    struct state_err err;
    struct state_backend *b = state_backend_open(r->spec, NULL, NULL, &err);
    if (!b || cli_lock_state(b, "verify", r->a->lock_timeout_s, &err) != 0) {
        fprintf(stderr, "gpuform: %s; the outcome was not recorded\n", err.msg);
        if (b)
            b->ops->close(b);
        return -1;
    }
    struct state *st = NULL;
    struct policy_set *ps = NULL;
    int rc = state_load(b, b->ops->where(b), &st, &err);
    if (rc != 0 || !st) {
        fprintf(stderr, "gpuform: %s; the outcome was not recorded\n",
                rc ? err.msg : "the state is gone");
        rc = -1;
    } else if (r->spec->nhooks && policy_load_spec(r->spec, NULL, &r->d, &ps) != 0) {
        core_diags_render(&r->d, CORE_DIAG_TEXT, cli_use_color(stderr), stderr);
        fprintf(stderr, "gpuform: the policies did not load; the outcome was not recorded\n");
        rc = -1;
    } else {
        struct cli_verify_policy vp = {.ps = ps, .st = st};
        int changed = exec_reverify_mark(st, r->nodes, r->n, cli_on_verify, &vp, stderr);
        rc = changed < 0 ? -1 : 0;
        if (changed < 0) {
            fprintf(stderr, "gpuform: out of memory recording the outcome\n");
        } else if (changed > 0 && state_save(b, st, &err) != 0) {
            fprintf(stderr, "gpuform: %s\n", err.msg);
            for (size_t i = 0; i < r->n; i++)
                r->nodes[i].recorded = false;
            rc = -1;
        }
    }
    policy_set_free(ps);
    state_free(st);
    if (b->ops->unlock(b, &err) != 0)
        fprintf(stderr, "gpuform: %s\n", err.msg);
    b->ops->close(b);
    return rc;
}

static void print_text(const struct vrun *r)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct exec_reverify_node *n = &r->nodes[i];
        printf("%s: %s: %s%s\n", n->address, exec_reverify_status_name(n->status), n->detail,
               n->status != EXEC_REVERIFY_UNVERIFIED && !n->recorded ? " (not recorded)" : "");
    }
}

static int print_json(const struct vrun *r)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < r->n; i++) {
        const struct exec_reverify_node *n = &r->nodes[i];
        json_t *rep = n->report ? json_loads(n->report, 0, NULL) : NULL;
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:o}", "address", n->address,
                              "status", exec_reverify_status_name(n->status), "level", n->level,
                              "request", n->nonce, "detail", n->detail, "recorded", n->recorded,
                              "report", rep ? rep : json_null());
        if (!o || json_array_append_new(a, o) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    char *s = a ? json_dumps(a, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(a);
    if (!s) {
        fputs("gpuform: out of memory writing the result\n", stderr);
        return -1;
    }
    puts(s);
    free(s);
    return 0;
}

static int run(struct vrun *r)
{
    const char *path = r->a->stack ? r->a->stack : ".";
    struct spec_options so = {0};
    if (cli_load_stack(path, &so, &r->d, &r->spec) != 0) {
        core_diags_sort(&r->d);
        core_diags_render(&r->d, CORE_DIAG_TEXT, cli_use_color(stderr), stderr);
        cli_report_counts(path, r->d.errors, r->d.warnings, false);
        return -1;
    }
    if (cli_read_state(r->spec, &r->st) != 0)
        return -1;
    if (!r->st) {
        fprintf(stderr, "gpuform: '%s' has no state yet (nothing has been applied)\n", path);
        return -1;
    }
    if (select_nodes(r) != 0)
        return -1;
    if (r->a->sim && cli_sim_start(r->a->sim_config, r->spec->state_dir,
                                   spec_cloud_find(r->spec, CORE_CLOUD_AZURE), cloud_used(r, "gcp"),
                                   spec_cloud_find(r->spec, CORE_CLOUD_GCP), &r->sim) != 0)
        return -1;
    if (open_clouds(r) != 0)
        return -1;
    struct exec_reverify_options o = {.timeout_s = r->a->timeout_s,
                                      /* cloudsim's agent answers in a second */
                                      .poll_ms = r->a->sim ? 200 : 0,
                                      .poll_max_ms = r->a->sim ? 400 : 0,
                                      .log = stderr};
    char err[256];
    if (exec_reverify_run(r->st, r->clouds, r->nclouds, r->nodes, r->n, &o, err, sizeof err) != 0) {
        fprintf(stderr, "gpuform: %s\n", err);
        return -1;
    }
    int rc = record(r);
    if (r->a->json ? print_json(r) != 0 : (print_text(r), false))
        rc = -1;
    for (size_t i = 0; i < r->n; i++)
        if (r->nodes[i].status != EXEC_REVERIFY_PASSED)
            rc = -1;
    return rc;
}

int cli_verify_nodes(const struct cli_verify_nodes *a)
{
    struct vrun *r = calloc(1, sizeof *r);
    if (!r) {
        fputs("gpuform: out of memory\n", stderr);
        return CLI_ERROR;
    }
    r->a = a;
    core_diags_init(&r->d, 50);
    int rc = run(r) == 0 ? CLI_OK : CLI_ERROR;
    fflush(stdout);
    for (size_t i = 0; i < r->nclouds; i++)
        r->clouds[i].prov->ops->close(r->clouds[i].prov);
    cli_sim_stop(&r->sim);
    exec_reverify_release(r->nodes, r->n);
    free(r->nodes);
    state_free(r->st);
    spec_free(r->spec);
    core_diags_release(&r->d);
    free(r);
    return rc;
}
