/*
 * `gpuform apply` and `gpuform destroy`: lock the stack's state, settle a journal a killed
 * run left behind, plan against the state (nodes stay put), show the changes, ask, and
 * execute them through the providers (executor/apply.h). `--sim` runs it all against
 * cloudsim started in this process on a free loopback port.
 */
#include "cli/cli.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

#include "cli/override.h"
#include "cli/saved_plan.h"
#include "core/cloud.h"
#include "core/diag.h"
#include "executor/apply.h"
#include "executor/backend.h"
#include "executor/diff.h"
#include "executor/diff_render.h"
#include "executor/refresh.h"
#include "lua/policy.h"
#include "lua/policy_offer.h"
#include "executor/state.h"
#include "modules/provider.h"
#include "modules/state/state_backends.h"
#include "parser/spec.h"
#include "planner/catalog.h"
#include "planner/plan.h"

struct aopts {
    bool destroy, auto_approve, sim;
    bool refresh_only; /* `gpuform refresh`: settle, refresh, write; no plan */
    bool plan_refresh; /* `gpuform plan --refresh-only`: refresh in memory, report, write nothing */
    bool json, detailed_exitcode;
    bool import; /* `gpuform import ADDRESS ID`: adopt an instance */
    const char *import_address, *import_id;
    int parallelism;
    double lock_timeout;
    const char *catalog, *sim_config, *path;
    const char *overrides[64]; /* --override-policy NAME */
    size_t noverrides;
    const char *reason;    /* --override-reason TEXT */
    const char *vars[256]; /* --var NAME=VALUE */
    size_t nvars;
    const char *targets[256]; /* --target ADDR */
    size_t ntargets;
    const char *plan_file; /* `apply FILE`: a saved plan */
    double verify_timeout; /* --verify-timeout, seconds; 0: the level's default */
    int verify_retries;    /* --verify-retries N; -1: unset (the engine's default) */
    enum plan_solver solver;
    double time_limit;
};

static bool is_yaml_file(const char *p)
{
    struct stat sb;
    size_t n = strlen(p);
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode) &&
           ((n > 5 && !strcmp(p + n - 5, ".yaml")) || (n > 4 && !strcmp(p + n - 4, ".yml")));
}

static int parse_args(const struct cli_command *cmd, int argc, char **argv, struct aopts *o)
{
    o->parallelism = 10;
    o->verify_retries = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--auto-approve")) {
            o->auto_approve = true;
        } else if (!strcmp(a, "--parallelism") || !strcmp(a, "--lock-timeout") ||
                   !strcmp(a, "--catalog")) {
            if (!val)
                return cli_usage_error(cmd, "option '%s' needs a value", a);
            i++;
            if (!strcmp(a, "--catalog")) {
                o->catalog = val;
            } else if (!strcmp(a, "--parallelism")) {
                char *end;
                long n = strtol(val, &end, 10);
                if (!*val || *end || n < 1 || n > 1000)
                    return cli_usage_error(cmd, "--parallelism takes 1 to 1000, not '%s'", val);
                o->parallelism = (int)n;
            } else if ((o->lock_timeout = cli_parse_duration(val)) < 0) {
                return cli_usage_error(cmd, "--lock-timeout takes a duration (30s, 5m), not '%s'",
                                       val);
            }
        } else if (!strcmp(a, "--verify-timeout") || !strcmp(a, "--verify-retries")) {
            if (!val)
                return cli_usage_error(cmd, "option '%s' needs a value", a);
            i++;
            char *end;
            long n = strtol(val, &end, 10);
            if (!strcmp(a, "--verify-retries") && (!*val || *end || n < 0 || n > 100))
                return cli_usage_error(cmd, "--verify-retries takes 0 to 100, not '%s'", val);
            if (!strcmp(a, "--verify-retries"))
                o->verify_retries = (int)n;
            else if ((o->verify_timeout = cli_parse_duration(val)) <= 0)
                return cli_usage_error(cmd,
                                       "--verify-timeout takes a duration above 0 (90s, 15m), "
                                       "not '%s'",
                                       val);
        } else if (!strcmp(a, "--override-policy")) {
            if (!val)
                return cli_usage_error(cmd, "option '%s' needs a value", a);
            if (o->noverrides == sizeof o->overrides / sizeof *o->overrides)
                return cli_usage_error(cmd, "too many --override-policy options");
            o->overrides[o->noverrides++] = argv[++i];
        } else if (!strcmp(a, "--override-reason")) {
            if (!val)
                return cli_usage_error(cmd, "option '%s' needs a value", a);
            const char *why = cli_override_reason_problem(val);
            if (why)
                return cli_usage_error(cmd, "--override-reason: %s", why);
            o->reason = argv[++i];
        } else if (!strcmp(a, "--var") || !strcmp(a, "--target")) {
            if (!val)
                return cli_usage_error(cmd, "option '%s' needs a value", a);
            bool var = !strcmp(a, "--var");
            size_t *n = var ? &o->nvars : &o->ntargets;
            if (*n == 256)
                return cli_usage_error(cmd, "more than 256 %s options", a);
            (var ? o->vars : o->targets)[(*n)++] = argv[++i];
        } else if (!strcmp(a, "--sim")) {
            o->sim = true;
            /* `--sim CONFIG PATH`: a YAML file followed by the stack */
            if (val && val[0] != '-' && i + 2 < argc && argv[i + 2][0] != '-' && is_yaml_file(val))
                o->sim_config = argv[++i];
        } else if (!strncmp(a, "--sim=", 6)) {
            o->sim = true;
            o->sim_config = a + 6;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(cmd->usage, stdout);
            exit(CLI_OK);
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error(cmd, "unknown option '%s'", a);
        } else if (o->import && !o->import_address) {
            o->import_address = a;
        } else if (o->import && !o->import_id) {
            o->import_id = a;
        } else if (o->path) {
            return cli_usage_error(cmd, "%s takes one stack (a directory or a file)", cmd->name);
        } else {
            o->path = a;
        }
    }
    if (!o->path)
        o->path = ".";
    if (!o->import && !o->refresh_only && saved_plan_sniff(o->path)) {
        if (o->destroy)
            return cli_usage_error(cmd, "destroy takes a stack, not a saved plan");
        if (o->nvars || o->ntargets || o->catalog || o->noverrides || o->reason)
            return cli_usage_error(cmd, "a saved plan carries its own variables, targets, "
                                        "catalog, policy overrides and override reason: pass "
                                        "none of them");
        o->plan_file = o->path;
    }
    if (o->reason && !o->noverrides && !o->plan_file)
        return cli_usage_error(cmd, "--override-reason goes with --override-policy NAME");
    if (o->import && !o->import_id)
        return cli_usage_error(cmd, "import takes the node's ADDRESS and the instance ID");
    return CLI_OK;
}

/* ---- signals: a sigwait thread, so the engine is stopped from ordinary code ----
 * SIGINT and SIGTERM are blocked in every thread from the start (cloudsim's and the
 * workers' threads inherit the mask) and taken by one thread. Before and after the engine
 * runs, a signal ends the command at once: nothing is in flight, and the journal makes even
 * the replay safe to cut short. While it runs, the first signal stops new work; a second
 * SIGINT saves the state and exits. */

struct sigctl {
    pthread_t thread;
    sigset_t set;
    pthread_mutex_t mu; /* guards x */
    struct exec *x;     /* the running engine, or NULL */
    bool running;
};

static void *sig_thread(void *arg)
{
    struct sigctl *c = arg;
    int hits = 0;
    for (;;) {
        int sig = 0;
        if (sigwait(&c->set, &sig) != 0 || sig == SIGUSR2)
            return NULL;
        pthread_mutex_lock(&c->mu);
        if (!c->x) {
            fprintf(stderr, "gpuform: %s before any change was made\n",
                    sig == SIGINT ? "interrupted" : "terminated");
            _exit(CLI_ERROR);
        }
        if (++hits == 1) {
            fprintf(stderr,
                    "gpuform: %s: starting nothing new, waiting for the calls in "
                    "flight (interrupt again to save and stop at once)\n",
                    sig == SIGINT ? "interrupted" : "terminated");
            exec_stop(c->x);
        } else if (sig == SIGINT) {
            struct state_err err;
            if (exec_save_now(c->x, &err) != 0)
                fprintf(stderr, "gpuform: %s\n", err.msg);
            fprintf(stderr, "gpuform: interrupted twice: state saved; the next run settles the "
                            "calls that were in flight from the journal\n");
            _exit(CLI_ERROR);
        }
        pthread_mutex_unlock(&c->mu);
    }
}

static int sig_start(struct sigctl *c)
{
    pthread_mutex_init(&c->mu, NULL);
    sigemptyset(&c->set);
    sigaddset(&c->set, SIGINT);
    sigaddset(&c->set, SIGTERM);
    sigaddset(&c->set, SIGUSR2);
    if (pthread_sigmask(SIG_BLOCK, &c->set, NULL) != 0 ||
        pthread_create(&c->thread, NULL, sig_thread, c) != 0)
        return -1;
    c->running = true;
    return 0;
}

/* Hands the running engine to the signal thread (NULL: none runs). */
static void sig_engine(struct sigctl *c, struct exec *x)
{
    pthread_mutex_lock(&c->mu);
    c->x = x;
    pthread_mutex_unlock(&c->mu);
}

static void sig_stop(struct sigctl *c)
{
    if (!c->running)
        return;
    pthread_kill(c->thread, SIGUSR2);
    pthread_join(c->thread, NULL);
    c->running = false;
    pthread_mutex_destroy(&c->mu);
}

/* ---- the command ---- */

static bool confirm(const char *what)
{
    fprintf(stderr, "\nDo you want to %s? Only 'yes' is accepted: ", what);
    char line[64];
    if (!fgets(line, sizeof line, stdin))
        return false;
    return strcmp(line, "yes\n") == 0 || strcmp(line, "yes") == 0;
}

struct run {
    struct aopts o;
    struct core_diags d;
    struct spec *spec;
    struct plan_catalog *cat, *unblocked;
    struct state_backend *b;
    struct state *st;
    struct plan_result *plan;
    struct plan_result empty; /* destroy: the plan with no nodes */
    struct core_arena arena;
    struct diff df;
    struct cli_sim sim;
    struct exec_cloud clouds[CORE_CLOUD_COUNT];
    size_t nclouds;
    bool clouds_open; /* open_clouds ran (it opens each cloud once) */
    struct sigctl sc;
    struct policy_set *ps; /* the stack's hook files, loaded once */
    /* The same files again, for the planner's offer hooks: failover re-plans run them on
     * the engine's threads under its plan lock while on_verify runs r->ps under another,
     * and one Lua state must not be used by two threads at once. */
    struct policy_set *jps;
    struct policy_judge *judge; /* filter_offer / score_offer, or NULL */
    struct saved_plan sp;       /* `apply FILE` */
    struct state_override ov;   /* the soft findings --override-policy let through, who, why */
    struct cli_envlog env;      /* the stack's environment lookups, for the saved plan's digest */
    bool st_existed;            /* the state existed before this run */
    bool exit_changes;          /* plan --refresh-only --detailed-exitcode found drift: exit 2 */
};

static int open_state(struct run *r)
{
    struct state_err err;
    r->b = state_backend_open(r->spec, NULL, NULL, &err);
    if (!r->b) {
        fprintf(stderr, "gpuform: %s\n", err.msg);
        return -1;
    }
    const char *op = r->o.import         ? "import"
                     : r->o.refresh_only ? "refresh"
                     : r->o.destroy      ? "destroy"
                                         : "apply";
    if (!r->o.plan_refresh && /* a plan reads without the lock, as `gpuform plan` does */
        cli_lock_state(r->b, op, r->o.lock_timeout, &err) != 0) {
        fprintf(stderr, "gpuform: %s\n", err.msg);
        return -1;
    }
    if (state_load(r->b, r->b->ops->where(r->b), &r->st, &err) != 0) {
        fprintf(stderr, "gpuform: %s\n", err.msg);
        return -1;
    }
    r->st_existed = r->st != NULL;
    if (!r->st && !(r->st = state_new(r->spec->stack))) {
        fprintf(stderr, "gpuform: out of memory\n");
        return -1;
    }
    return 0;
}

/* Whether the stack declares `cloud` or the state has a node on it. */
static bool cloud_used(const struct run *r, const char *cloud)
{
    for (size_t i = 0; i < r->spec->nclouds; i++)
        if (!strcmp(r->spec->clouds[i].name, cloud))
            return true;
    for (size_t i = 0; r->st && i < r->st->nnodes; i++)
        if (!strcmp(r->st->nodes[i].placement.cloud, cloud))
            return true;
    return false;
}

/* Opens a provider for each cloud the stack or its state uses that has one, once; the
 * credentials are needed only when there is something to do, and only for those clouds. */
static int open_clouds(struct run *r)
{
    if (r->clouds_open)
        return 0;
    r->clouds_open = true;
    for (int c = 0; c < CORE_CLOUD_COUNT; c++) {
        const char *name = core_cloud_name((enum core_cloud)c);
        const struct prov_ops *ops = prov_find(name);
        if (!ops || !cloud_used(r, name))
            continue;
        struct prov_config cfg = {.endpoint = r->o.sim ? r->sim.endpoint : NULL,
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

/* Whether the changes need a cloud that has no provider; says which. */
static bool missing_provider(const struct diff *df)
{
    for (size_t i = 0; i < df->nchanges; i++) {
        const struct diff_change *c = &df->changes[i];
        const char *cloud = c->action == DIFF_NOOP ? NULL
                            : c->want              ? core_cloud_name(c->want->offer->cloud)
                                                   : c->have->placement.cloud;
        if (cloud && !prov_find(cloud)) {
            fprintf(stderr,
                    "gpuform: '%s' is on '%s', which has no provider yet (aws and gcp have)\n",
                    c->address, cloud);
            return true;
        }
    }
    return false;
}

static struct prov *cloud_prov(void *ctx, const char *cloud)
{
    struct run *r = ctx;
    for (size_t i = 0; i < r->nclouds; i++)
        if (strcmp(r->clouds[i].name, cloud) == 0)
            return r->clouds[i].prov;
    return NULL;
}

/* `plan --refresh-only --json`: the drift as a document (docs/plan-json.md). */
static void print_drift_json(const struct run *r, const struct refresh_result *rr)
{
    static const char *const kinds[] = {"gone", "changed", "unknown"};
    json_t *items = json_array();
    for (size_t i = 0; items && i < rr->n; i++)
        json_array_append_new(items,
                              json_pack("{s:s, s:s, s:s, s:s}", "address", rr->items[i].address,
                                        "id", rr->items[i].id, "kind", kinds[rr->items[i].kind],
                                        "detail", rr->items[i].detail));
    json_t *doc = json_pack("{s:s, s:s, s:I, s:I, s:o}", "stack", r->spec->stack, "lineage",
                            r->st->lineage, "serial", (json_int_t)r->st->serial, "list_calls",
                            (json_int_t)rr->calls, "drift", items);
    if (doc) {
        json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
    }
    json_decref(doc);
}

/*
 * Refresh before planning: one list call per cloud and region of the state and of the
 * spec's regions (for clouds with a provider). Instances gone out of band (terminated,
 * reclaimed as spot) leave the state, which is written at once; drift is reported.
 */
static int refresh(struct run *r, size_t *ndrift, size_t *ngone)
{
    *ndrift = 0;
    *ngone = 0;
    if (open_clouds(r) != 0)
        return -1;
    struct refresh_place extra[256];
    size_t nextra = 0;
    for (size_t c = 0; c < r->spec->nclouds; c++)
        for (size_t k = 0; k < r->spec->clouds[c].nregions && nextra < 256; k++)
            if (cloud_prov(r, r->spec->clouds[c].name))
                extra[nextra++] =
                    (struct refresh_place){r->spec->clouds[c].name, r->spec->clouds[c].regions[k]};
    struct refresh_result rr;
    struct prov_error pe;
    if (refresh_state(r->st, r->spec->stack, extra, nextra, cloud_prov, r, &rr, &pe) != 0) {
        fprintf(stderr, "gpuform: refresh: %s\n", pe.message);
        return -1;
    }
    size_t gone = 0;
    for (size_t i = 0; i < rr.n; i++) {
        static const char *const what[] = {"gone", "changed", "not in the state"};
        if (!r->o.json)
            fprintf(r->o.plan_refresh ? stdout : stderr, "%s: %s: %s\n",
                    rr.items[i].address[0] ? rr.items[i].address : "?", what[rr.items[i].kind],
                    rr.items[i].detail);
        gone += rr.items[i].kind == REFRESH_GONE;
    }
    *ndrift = rr.n;
    *ngone = gone;
    if (r->o.plan_refresh && r->o.json)
        print_drift_json(r, &rr);
    refresh_result_release(&rr);
    if (gone == 0 || r->o.plan_refresh) /* a plan writes nothing */
        return 0;
    struct state_err err;
    if (state_save(r->b, r->st, &err) != 0) {
        fprintf(stderr, "gpuform: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int make_plan(struct run *r)
{
    if (r->o.destroy) {
        core_arena_init(&r->empty.arena, 0);
        r->empty.spec = r->spec;
        return 0;
    }
    state_block_prune(r->st, (int64_t)time(NULL));
    r->unblocked = exec_catalog_unblocked(r->cat, r->st, (int64_t)time(NULL));
    struct plan_current *cur = NULL;
    size_t ncur = 0;
    if (!r->unblocked || diff_current_from_state(r->st, &r->arena, &cur, &ncur) != 0) {
        fprintf(stderr, "gpuform: out of memory\n");
        return -1;
    }
    if (!r->judge && (policy_load_spec(r->spec, NULL, &r->d, &r->jps) != 0 ||
                      policy_judge_new(r->jps, r->spec, &r->d, &r->judge) != 0)) {
        core_diags_render(&r->d, CORE_DIAG_TEXT, cli_use_color(stderr), stderr);
        fprintf(stderr, "%s: can't plan: the policies did not load\n", r->o.path);
        return -1;
    }
    if (!r->judge) { /* no offer hooks: no second state to keep */
        policy_set_free(r->jps);
        r->jps = NULL;
    }
    struct plan_options po = {.solver = r->o.solver,
                              .time_limit_s = r->o.time_limit,
                              .current = cur,
                              .ncurrent = ncur,
                              .judge = policy_judge_planner(r->judge)};
    if (plan_solve(r->spec, r->unblocked, &po, &r->d, &r->plan) != 0) {
        core_diags_sort(&r->d);
        core_diags_render(&r->d, CORE_DIAG_TEXT, cli_use_color(stderr), stderr);
        fprintf(stderr, "%s: no plan: %zu problem%s to fix\n", r->o.path, r->d.errors,
                r->d.errors == 1 ? "" : "s");
        return -1;
    }
    return 0;
}

/* The first line of the diagnostics, without colour, into out[] ("" when none). */
/* The engine's exec_on_verify_fn: the policies' on_verify (cli_on_verify). */
static int on_verify(void *ctx, const struct state_node *node, const char *report,
                     const char *reason, enum exec_verdict *v, char *who, size_t wholen)
{
    struct run *r = ctx;
    struct cli_verify_policy vp = {.ps = r->ps, .st = r->st};
    return cli_on_verify(&vp, node, report, reason, v, who, wholen);
}

static int execute(struct run *r, const struct plan_result *plan)
{
    struct exec_input in = {.spec = r->spec,
                            .judge = policy_judge_planner(r->judge),
                            .catalog = r->cat,
                            .plan = plan,
                            .backend = r->b,
                            .state = r->st,
                            .clouds = r->clouds,
                            .nclouds = r->nclouds,
                            .override = r->ov.nfindings ? &r->ov : NULL};
    const char *term = getenv("TERM");
    struct exec_options eo = {.parallelism = r->o.parallelism,
                              /* a terminal gets a live status line; CI, one line per event */
                              .live = isatty(STDERR_FILENO) && !(term && !strcmp(term, "dumb")),
                              .verify_retries = r->o.verify_retries < 0    ? 0
                                                : r->o.verify_retries == 0 ? -1
                                                                           : r->o.verify_retries,
                              .verify_timeout_s = r->o.verify_timeout,
                              /* cloudsim's agent reports in a second: read its console often */
                              .verify_poll_ms = r->o.sim ? 200 : 0,
                              .verify_poll_max_ms = r->o.sim ? 400 : 0,
                              .on_verify = on_verify,
                              .on_verify_ctx = r};
    struct exec *x = exec_new(&in, &eo);
    if (!x) {
        fprintf(stderr, "gpuform: out of memory\n");
        return -1;
    }
    sig_engine(&r->sc, x);
    struct exec_result res;
    int rc = exec_run(x, &r->df, &res);
    sig_engine(&r->sc, NULL);
    exec_free(x);
    if (res.error[0])
        fprintf(stderr, "gpuform: error: %s\n", res.error);
    printf("%s %s: %zu created, %zu replaced, %zu updated, %zu destroyed, %zu failed",
           r->o.destroy ? "Destroy" : "Apply",
           rc == 0           ? "complete"
           : res.interrupted ? "interrupted"
                             : "incomplete",
           res.created, res.replaced, res.updated, res.deleted, res.failed);
    if (res.failovers)
        printf("; %zu placement%s given up for capacity or quota (blocked for an hour)",
               res.failovers, res.failovers == 1 ? "" : "s");
    if (res.verified || res.verify_failed || res.verify_replaced)
        printf("; %zu verified, %zu replaced after failing verification, %zu kept failed",
               res.verified, res.verify_replaced, res.verify_failed);
    printf("\n");
    if (res.interrupted)
        fprintf(stderr, "gpuform: interrupted; the state records every change that finished\n");
    if (res.unsettled)
        fprintf(stderr, "gpuform: some outcomes are unknown; the next apply settles them from "
                        "the journal\n");
    for (size_t i = 0; r->ov.nfindings && i < r->st->noverrides; i++)
        if (!strcmp(r->st->overrides[i].id, r->ov.id))
            fprintf(stderr,
                    "gpuform: the policy override is recorded in the state (serial %llu): by %s, "
                    "\"%s\" ('gpuform show' lists overrides)\n",
                    (unsigned long long)r->st->overrides[i].serial, r->ov.who, r->ov.reason);
    return rc;
}

/*
 * --override-policy let soft findings through: the apply goes ahead only with a reason,
 * which the state records with who and when (executor/state_override.h). 0, or -1 after
 * saying what to pass.
 */
static int override_begin(struct run *r)
{
    if (cli_override_begin(&r->ov, r->o.overrides, r->o.noverrides, r->o.reason) != 0) {
        fprintf(stderr, "gpuform: out of memory\n");
        return -1;
    }
    cli_override_print(&r->ov, stderr);
    if (r->o.reason)
        return 0;
    if (r->o.plan_file) {
        fprintf(stderr,
                "gpuform: the saved plan '%s' overrides %zu soft policy finding%s and says "
                "no reason; make it again with --override-reason TEXT ('gpuform plan "
                "--override-policy NAME --override-reason TEXT --out %s %s'). Nothing was "
                "changed.\n",
                r->o.plan_file, r->ov.nfindings, r->ov.nfindings == 1 ? "" : "s", r->o.plan_file,
                r->sp.stack_path);
        return -1;
    }
    cli_usage_error(cli_find(r->o.destroy ? "destroy" : "apply"),
                    "--override-policy lets %zu soft policy finding%s through: say why with "
                    "--override-reason TEXT (recorded in the state with who and when). Nothing "
                    "was changed.",
                    r->ov.nfindings, r->ov.nfindings == 1 ? "" : "s");
    return -1;
}

/* Each change (its resource_changes entry) through before_apply: any veto or policy
 * error stops the apply before anything changes. */
static int before_apply(struct run *r)
{
    if (!policy_defines(r->ps, "before_apply"))
        return 0;
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    json_t *arr = NULL;
    if (mem && diff_write_resource_changes(&r->df, mem) == 0 && fclose(mem) == 0) {
        mem = NULL;
        arr = json_loadb(text, len, 0, NULL);
    }
    if (mem)
        fclose(mem);
    free(text);
    if (!json_is_array(arr)) {
        json_decref(arr);
        fprintf(stderr, "gpuform: out of memory handing the changes to the policies\n");
        return -1;
    }
    size_t i, vetoes = 0;
    json_t *c;
    int rc = 0;
    json_array_foreach(arr, i, c)
    {
        if (!strcmp(json_string_value(json_object_get(c, "action")), "no-op"))
            continue;
        bool vetoed = false;
        char why[512];
        if (policy_before_apply(r->ps, c, &vetoed, why, sizeof why, &r->d) != 0)
            rc = -1;
        if (vetoed) {
            fprintf(stderr, "gpuform: %s %s: %s\n", json_string_value(json_object_get(c, "action")),
                    json_string_value(json_object_get(c, "address")), why);
            vetoes++;
        }
    }
    json_decref(arr);
    if (rc != 0 || vetoes) {
        core_diags_sort(&r->d);
        core_diags_render(&r->d, CORE_DIAG_TEXT, cli_use_color(stderr), stderr);
        fprintf(stderr, "gpuform: %s; nothing was changed\n",
                vetoes ? "a policy vetoed a change" : "a before_apply policy failed");
        return -1;
    }
    return 0;
}

/* Each node made, replaced, updated or verified, as the state now records it, through
 * after_apply. */
static void after_apply(struct run *r)
{
    if (!policy_defines(r->ps, "after_apply"))
        return;
    size_t len;
    char *text = state_serialize(r->st, &len);
    json_t *doc = text ? json_loadb(text, len, 0, NULL) : NULL;
    free(text);
    /* the document lists the nodes in the state's order, so a node's index is its own */
    json_t *nodes = json_object_get(doc, "nodes");
    struct core_diags d;
    core_diags_init(&d, 50);
    for (size_t k = 0; k < r->df.nchanges; k++) {
        const struct diff_change *c = &r->df.changes[k];
        const struct state_node *n = c->action == DIFF_CREATE || c->action == DIFF_REPLACE ||
                                             c->action == DIFF_UPDATE || c->action == DIFF_VERIFY
                                         ? state_find(r->st, c->address)
                                         : NULL;
        if (n)
            policy_after_apply(r->ps, json_array_get(nodes, (size_t)(n - r->st->nodes)), &d);
    }
    core_diags_sort(&d);
    core_diags_render(&d, CORE_DIAG_TEXT, cli_use_color(stderr), stderr);
    core_diags_release(&d);
    json_decref(doc);
}

/*
 * `gpuform import ADDRESS ID`: adopts an instance the state doesn't know as node ADDRESS,
 * which the plan must have. It is looked for in every region of the stack's clouds that
 * have a provider; one tagged for another stack, or already in the state, is refused.
 */
static int do_import(struct run *r)
{
    const char *address = r->o.import_address, *id = r->o.import_id;
    bool wanted = false;
    for (size_t i = 0; i < r->plan->nnodes && !wanted; i++)
        wanted = !strcmp(r->plan->nodes[i].address, address);
    if (!wanted) {
        fprintf(stderr, "gpuform: '%s' is not a node of the stack ('gpuform plan' lists them)\n",
                address);
        return -1;
    }
    if (state_find(r->st, address)) {
        fprintf(stderr, "gpuform: '%s' is already in the state ('gpuform state show %s')\n",
                address, address);
        return -1;
    }
    for (size_t i = 0; i < r->st->nnodes; i++)
        if (!strcmp(r->st->nodes[i].cloud_id, id)) {
            fprintf(stderr, "gpuform: %s is already in the state as '%s'\n", id,
                    r->st->nodes[i].address);
            return -1;
        }
    if (open_clouds(r) != 0)
        return -1;
    struct prov_instance in;
    const char *cloud = NULL;
    for (size_t c = 0; c < r->spec->nclouds && !cloud; c++) {
        struct prov *p = cloud_prov(r, r->spec->clouds[c].name);
        for (size_t k = 0; p && k < r->spec->clouds[c].nregions && !cloud; k++) {
            struct prov_error pe;
            if (p->ops->describe(p, r->spec->clouds[c].regions[k], id, &in, &pe) == 0)
                cloud = r->spec->clouds[c].name;
            else if (pe.cls != PROV_NOT_FOUND && pe.cls != PROV_INVALID) {
                fprintf(stderr, "gpuform: %s\n", pe.message);
                return -1;
            }
        }
    }
    if (!cloud) {
        fprintf(stderr, "gpuform: no instance %s in any region of the stack's clouds\n", id);
        return -1;
    }
    if (in.state != PROV_PENDING && in.state != PROV_RUNNING) {
        fprintf(stderr, "gpuform: %s is %s; only a live instance can be imported\n", id,
                prov_state_name(in.state));
        return -1;
    }
    if (*in.stack && strcmp(in.stack, r->spec->stack) != 0) {
        fprintf(stderr, "gpuform: %s belongs to stack '%s' (its gpuform:stack tag), not '%s'\n", id,
                in.stack, r->spec->stack);
        return -1;
    }
    /* GPUs and price from the catalog's offer of that type in that place */
    const struct plan_offer *o = NULL;
    for (size_t i = 0; i < r->cat->noffers && !o; i++) {
        const struct plan_offer *c = &r->cat->offers[i];
        if (!strcmp(core_cloud_name(c->cloud), cloud) && !strcmp(c->region, in.region) &&
            !strcmp(c->instance_type, in.instance_type))
            o = c;
    }
    struct state_node n = {
        .address = (char *)(uintptr_t)address,
        .provider = (char *)(uintptr_t)cloud,
        .cloud_id = in.id,
        .token = in.token,
        .placement = {(char *)(uintptr_t)cloud, in.region, in.zone, in.instance_type,
                      o ? (char *)(uintptr_t)o->gpu : "", o ? o->gpus : 0, in.spot},
        .hourly_usd = o ? (in.spot && o->spot >= 0 ? o->spot
                           : o->ondemand > 0       ? o->ondemand
                                                   : 0)
                        : 0,
        .status = STATE_RUNNING,
        .created_at = in.launch_time,
    };
    if (!state_put(r->st, &n)) {
        fprintf(stderr, "gpuform: out of memory\n");
        return -1;
    }
    struct state_err err;
    int rc = state_save(r->b, r->st, &err);
    if (rc != 0)
        fprintf(stderr, "gpuform: %s\n", err.msg);
    else
        printf("Imported %s as %s (%s %s %s%s)%s\n", id, address, cloud, in.zone, in.instance_type,
               in.spot ? ", spot" : "",
               o ? "" : "; the catalog has no offer of that type there, so no price");
    return rc;
}

/* ---- saved plans: every input must be what the plan was made of ---- */

static int stale(const struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int stale(const struct run *r, const char *fmt, ...)
{
    char why[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    fprintf(stderr,
            "gpuform: the saved plan '%s' is stale: %s.\nNothing was changed. Make a new plan "
            "('gpuform plan --out %s %s') and apply that.\n",
            r->o.plan_file, why, r->o.plan_file, r->sp.stack_path);
    return -1;
}

/* Reads the saved plan and takes its inputs as the run's options. */
static int saved_plan_open(struct run *r)
{
    char err[768];
    if (saved_plan_read(r->o.plan_file, &r->sp, err, sizeof err) != 0) {
        fprintf(stderr, "gpuform: %s\n", err);
        return -1;
    }
    struct aopts *o = &r->o;
    o->path = r->sp.stack_path;
    o->catalog = r->sp.catalog_path;
    o->solver = strcmp(r->sp.solver, "exact") ? PLAN_SOLVER_FAST : PLAN_SOLVER_EXACT;
    o->time_limit = r->sp.time_limit_s;
    memcpy(o->vars, r->sp.vars, r->sp.nvars * sizeof *o->vars);
    o->nvars = r->sp.nvars;
    memcpy(o->targets, r->sp.targets, r->sp.ntargets * sizeof *o->targets);
    o->ntargets = r->sp.ntargets;
    memcpy(o->overrides, r->sp.overrides, r->sp.noverrides * sizeof *o->overrides);
    o->noverrides = r->sp.noverrides;
    o->reason = r->sp.override_reason;
    struct stat sb;
    if (stat(o->path, &sb) != 0) {
        fprintf(stderr,
                "gpuform: the saved plan '%s' was made of the stack '%s', which is not there "
                "(%s); run apply from the directory plan ran in\n",
                r->o.plan_file, o->path, strerror(errno));
        return -1;
    }
    return 0;
}

/* The stack and the catalog against the saved plan's digests. */
static int saved_plan_check_inputs(struct run *r)
{
    char sha[65], err[512];
    if (cli_stack_digest(r->spec, &r->env, r->o.vars, r->o.nvars, sha, err, sizeof err) != 0) {
        fprintf(stderr, "gpuform: %s\n", err);
        return -1;
    }
    if (strcmp(sha, r->sp.stack_sha256) != 0)
        return stale(r,
                     "the stack '%s' changed since the plan was made (a spec or hook file, a "
                     "variable or an environment value it reads: digest %.12s, was %.12s)",
                     r->sp.stack_path, sha, r->sp.stack_sha256);
    if (strcmp(r->cat->sha256, r->sp.catalog_sha256) != 0)
        return stale(r, "the catalog %s changed since the plan was made (sha256 %.12s, was %.12s)",
                     r->sp.catalog_path ? r->sp.catalog_path : "built into gpuform", r->cat->sha256,
                     r->sp.catalog_sha256);
    return 0;
}

/* The state, locked and read, against the lineage and serial the plan saw. */
static int saved_plan_check_state(struct run *r)
{
    if (!r->sp.has_state && r->st_existed)
        return stale(r, "it was made when the stack had no state, and now it has one (serial %llu)",
                     (unsigned long long)r->st->serial);
    if (r->sp.has_state && !r->st_existed)
        return stale(r, "it was made against state serial %llu, and the stack has no state now",
                     (unsigned long long)r->sp.serial);
    if (r->sp.has_state && strcmp(r->sp.lineage, r->st->lineage) != 0)
        return stale(r, "it was made against another state (lineage %s, now %s)", r->sp.lineage,
                     r->st->lineage);
    if (r->sp.has_state && r->sp.serial != r->st->serial)
        return stale(r,
                     "the state changed since the plan was made (serial %llu, now %llu: another "
                     "run wrote it)",
                     (unsigned long long)r->sp.serial, (unsigned long long)r->st->serial);
    return 0;
}

/* The changes made now against the ones saved. */
static int saved_plan_check_changes(struct run *r)
{
    char sha[65];
    if (cli_changes_digest(&r->df, sha) != 0) {
        fprintf(stderr, "gpuform: out of memory\n");
        return -1;
    }
    if (strcmp(sha, r->sp.changes_sha256) != 0)
        return stale(r,
                     "planned again from the same inputs, the changes differ from the saved "
                     "ones (%zu create, %zu replace, %zu delete now; %zu, %zu, %zu saved): an "
                     "offer's block expired or the solver's time limit cut it short",
                     r->df.ncreate, r->df.nreplace, r->df.ndelete, r->sp.ncreate, r->sp.nreplace,
                     r->sp.ndelete);
    return 0;
}

static int run_apply(struct run *r)
{
    if (r->o.plan_file && saved_plan_open(r) != 0)
        return -1;
    cli_envlog_init(&r->env);
    struct spec_options so = {
        .vars = r->o.vars, .nvars = r->o.nvars, .getenv = cli_envlog_getenv, .getenv_ud = &r->env};
    if (cli_load_stack(r->o.path, &so, &r->d, &r->spec) != 0) {
        core_diags_sort(&r->d);
        core_diags_render(&r->d, CORE_DIAG_TEXT, cli_use_color(stderr), stderr);
        cli_report_counts(r->o.path, r->d.errors, r->d.warnings, false);
        return -1;
    }
    int crc = r->o.catalog ? plan_catalog_load(r->o.catalog, &r->d, &r->cat)
                           : plan_catalog_load_bundled(&r->d, &r->cat);
    if (crc != 0) {
        core_diags_render(&r->d, CORE_DIAG_TEXT, cli_use_color(stderr), stderr);
        fprintf(stderr, "%s: can't plan without a catalog\n", r->o.path);
        return -1;
    }
    if (r->o.plan_file && saved_plan_check_inputs(r) != 0)
        return -1;
    if (open_state(r) != 0 || (r->o.plan_file && saved_plan_check_state(r) != 0))
        return -1;
    if (r->o.sim && cli_sim_start(r->o.sim_config, r->spec->state_dir,
                                  spec_cloud_find(r->spec, CORE_CLOUD_AZURE), cloud_used(r, "gcp"),
                                  spec_cloud_find(r->spec, CORE_CLOUD_GCP), &r->sim) != 0)
        return -1;
    /* a journal left by a killed run is settled before anything is planned */
    char *jtext = NULL;
    size_t jlen = 0, settled = 0;
    struct state_err err;
    if (r->b->ops->journal_read(r->b, &jtext, &jlen, &err) != 0) {
        fprintf(stderr, "gpuform: %s\n", err.msg);
        return -1;
    }
    bool journal_left = jtext != NULL;
    free(jtext);
    if (journal_left && r->o.plan_refresh) {
        fprintf(stderr, "gpuform: warning: a run that was killed left a journal; the next apply "
                        "or refresh settles it, and this plan does not show those changes\n");
        journal_left = false;
    }
    if (journal_left && (open_clouds(r) != 0 || exec_replay(r->b, r->st, r->clouds, r->nclouds,
                                                            stderr, &settled, &err) != 0)) {
        if (r->nclouds > 0)
            fprintf(stderr, "gpuform: %s\n", err.msg);
        return -1;
    }
    if (settled > 0 && r->o.plan_file)
        return stale(r,
                     "a run that was killed left %zu change%s in the journal, now settled into "
                     "the state",
                     settled, settled == 1 ? "" : "s");
    size_t ndrift = 0, ngone = 0;
    if ((r->st->nnodes > 0 || r->o.refresh_only) && refresh(r, &ndrift, &ngone) != 0)
        return -1;
    if (ngone > 0 && r->o.plan_file)
        return stale(r, "%zu node%s of the state went away out of band (refresh above)", ngone,
                     ngone == 1 ? "" : "s");
    if (r->o.plan_refresh) {
        if (!r->o.json)
            printf("%sRefresh-only plan: %zu drift%s (%zu node%s gone would leave the state); "
                   "'gpuform refresh' records it, and apply does before it plans\n",
                   ndrift ? "\n" : "", ndrift, ndrift == 1 ? "" : "s", ngone,
                   ngone == 1 ? "" : "s");
        r->exit_changes = r->o.detailed_exitcode && ngone > 0;
        return 0;
    }
    if (r->o.refresh_only) {
        printf("Refresh complete: %zu node%s in the state, %zu drift%s reported (serial %llu).\n",
               r->st->nnodes, r->st->nnodes == 1 ? "" : "s", ndrift, ndrift == 1 ? "" : "s",
               (unsigned long long)r->st->serial);
        return 0;
    }
    if (make_plan(r) != 0)
        return -1;
    if (r->o.import)
        return do_import(r);
    if (r->spec->nhooks && policy_load_spec(r->spec, NULL, &r->d, &r->ps) != 0) {
        core_diags_render(&r->d, CORE_DIAG_TEXT, cli_use_color(stderr), stderr);
        return -1;
    }
    if (!r->o.destroy && cli_plan_policies(r->spec, r->ps, r->plan, r->o.overrides, r->o.noverrides,
                                           &r->ov, &r->d) != 0) {
        core_diags_sort(&r->d);
        core_diags_render(&r->d, CORE_DIAG_TEXT, cli_use_color(stderr), stderr);
        fprintf(stderr, "gpuform: the plan breaks policy; nothing was changed\n");
        return -1;
    }
    if (r->ov.nfindings && override_begin(r) != 0)
        return -1;
    const struct plan_result *plan = r->o.destroy ? &r->empty : r->plan;
    if (diff_compute(plan, r->st, &r->df) != 0) {
        fprintf(stderr, "gpuform: out of memory comparing the plan with the state\n");
        return -1;
    }
    const char *unmatched;
    if (diff_restrict(&r->df, r->o.targets, r->o.ntargets, &unmatched) != 0) {
        fprintf(stderr, "gpuform: --target '%s' names no node of the plan or the state\n",
                unmatched);
        return -1;
    }
    if (r->o.ntargets)
        fprintf(stderr,
                "gpuform: warning: only the targeted nodes change (%zu other change%s left "
                "out); the state may not match the stack until an apply without --target\n",
                r->df.nskipped, r->df.nskipped == 1 ? "" : "s");
    if (r->o.plan_file && saved_plan_check_changes(r) != 0)
        return -1;
    if (diff_nchanges(&r->df) == 0) {
        printf("No changes: the clouds match the stack (%zu node%s).\n", r->df.nnoop,
               r->df.nnoop == 1 ? "" : "s");
        return 0;
    }
    diff_render_text(&r->df, r->st, cli_use_color(stdout), stdout);
    fflush(stdout);
    if (missing_provider(&r->df) || before_apply(r) != 0)
        return -1;
    if (!r->o.auto_approve && !r->o.plan_file) { /* a saved plan was reviewed already */
        if (!isatty(STDIN_FILENO)) {
            fprintf(stderr,
                    "gpuform: not a terminal: pass --auto-approve to %s without "
                    "confirmation\n",
                    r->o.destroy ? "destroy" : "apply");
            return -1;
        }
        if (!confirm(r->o.destroy ? "destroy every node of the stack" : "apply these changes")) {
            fprintf(stderr, "gpuform: cancelled; nothing was changed\n");
            return -1;
        }
    }
    if (open_clouds(r) != 0)
        return -1;
    int rc = execute(r, plan);
    after_apply(r);
    return rc;
}

static int run_cmd(int argc, char **argv, bool destroy, bool refresh_only, bool import,
                   const struct cli_plan_refresh *pr)
{
    const struct cli_command *cmd = cli_find(import         ? "import"
                                             : refresh_only ? "refresh"
                                             : destroy      ? "destroy"
                                                            : "apply");
    struct run *r = calloc(1, sizeof *r);
    if (!r)
        return CLI_ERROR;
    r->o.destroy = destroy;
    r->o.refresh_only = refresh_only;
    r->o.import = import;
    if (pr) {
        r->o.plan_refresh = r->o.refresh_only = true;
        r->o.path = pr->path;
        r->o.sim = pr->sim;
        r->o.sim_config = pr->sim_config;
        r->o.json = pr->json;
        r->o.detailed_exitcode = pr->detailed_exitcode;
        memcpy(r->o.vars, pr->vars, pr->nvars * sizeof *pr->vars);
        r->o.nvars = pr->nvars;
    } else if (parse_args(cmd, argc, argv, &r->o) != CLI_OK) {
        free(r);
        return CLI_ERROR;
    }
    core_diags_init(&r->d, 50);
    core_arena_init(&r->arena, 0);
    signal(SIGPIPE, SIG_IGN);
    if (sig_start(&r->sc) != 0)
        fprintf(stderr, "gpuform: warning: interrupts will not be caught\n");
    int rc = run_apply(r) != 0 ? CLI_ERROR : r->exit_changes ? CLI_CHANGES : CLI_OK;
    fflush(stdout);
    for (size_t i = 0; i < r->nclouds; i++)
        r->clouds[i].prov->ops->close(r->clouds[i].prov);
    cli_sim_stop(&r->sim);
    sig_stop(&r->sc);
    diff_release(&r->df);
    if (destroy)
        core_arena_release(&r->empty.arena);
    plan_result_free(r->plan);
    core_arena_release(&r->arena);
    state_free(r->st);
    if (r->b)
        r->b->ops->close(r->b);
    plan_catalog_free(r->unblocked);
    plan_catalog_free(r->cat);
    spec_free(r->spec);
    policy_set_free(r->ps);
    cli_offer_judge_free(r->judge);
    policy_set_free(r->jps);
    core_diags_release(&r->d);
    cli_envlog_release(&r->env);
    saved_plan_release(&r->sp);
    state_override_release(&r->ov);
    free(r);
    return rc;
}

int cmd_apply(int argc, char **argv)
{
    return run_cmd(argc, argv, false, false, false, NULL);
}

int cmd_destroy(int argc, char **argv)
{
    return run_cmd(argc, argv, true, false, false, NULL);
}

int cmd_refresh(int argc, char **argv)
{
    return run_cmd(argc, argv, false, true, false, NULL);
}

int cmd_adopt(int argc, char **argv)
{
    return run_cmd(argc, argv, false, false, true, NULL);
}

int cli_plan_refresh_only(const struct cli_plan_refresh *pr)
{
    return run_cmd(0, NULL, false, false, false, pr);
}
