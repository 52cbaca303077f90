/*
 * `gpuform plan`: loads a stack as `validate` does, places every node over the offer
 * catalog at least cost within every rule (planner/plan.h), and prints the placement for
 * people or as the JSON document of docs/plan-json.md; or says, with counts, why no
 * placement exists.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/stat.h>

#include "cli/override.h"
#include "cli/saved_plan.h"
#include "core/diag.h"
#include "executor/backend.h"
#include "executor/diff.h"
#include "executor/apply.h"
#include "executor/diff_render.h"
#include "executor/state.h"
#include "lua/policy.h"
#include "lua/policy_offer.h"
#include "parser/spec.h"
#include "planner/catalog.h"
#include "planner/plan.h"
#include "planner/plan_render.h"

#define MAX_VARS      256
#define MAX_OVERRIDES 64
#define MAX_TARGETS   256

struct popts {
    const char *vars[MAX_VARS];
    size_t nvars;
    const char *overrides[MAX_OVERRIDES]; /* --override-policy NAME */
    size_t noverrides;
    const char *reason;               /* --override-reason TEXT */
    const char *targets[MAX_TARGETS]; /* --target ADDR */
    size_t ntargets;
    const char *out; /* --out FILE: the saved plan */
    bool refresh_only, sim;
    const char *sim_config; /* --sim=CONFIG */
    const char *catalog;    /* NULL: the bundled one */
    const char *path;
    const char *lp_path;
    double time_limit;
    enum plan_solver solver;
    bool json, markdown, no_color, detailed_exitcode;
};

static int parse_args(int argc, char **argv, struct popts *o)
{
    static const struct option longopts[] = {
        {"var", required_argument, NULL, 'v'},
        {"catalog", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"format", required_argument, NULL, 'f'},
        {"detailed-exitcode", no_argument, NULL, 'x'},
        {"solver", required_argument, NULL, 's'},
        {"lp", required_argument, NULL, 'l'},
        {"time-limit", required_argument, NULL, 't'},
        {"no-color", no_argument, NULL, 'n'},
        {"override-policy", required_argument, NULL, 'o'},
        {"override-reason", required_argument, NULL, 'r'},
        {"target", required_argument, NULL, 'T'},
        {"out", required_argument, NULL, 'O'},
        {"refresh-only", no_argument, NULL, 'R'},
        {"sim", optional_argument, NULL, 'S'},
        {NULL, 0, NULL, 0},
    };
    const struct cli_command *cmd = cli_find("plan");
    optind = 1;
    opterr = 0;
    int ch;
    char *end;
    while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (ch) {
        case 'v':
            if (o->nvars == MAX_VARS)
                return cli_usage_error(cmd, "more than %d --var options", MAX_VARS);
            o->vars[o->nvars++] = optarg;
            break;
        case 'c':
            o->catalog = optarg;
            break;
        case 'j':
            o->json = true;
            break;
        case 'f':
            if (!strcmp(optarg, "json"))
                o->json = true;
            else if (!strcmp(optarg, "markdown"))
                o->markdown = true;
            else if (strcmp(optarg, "text") != 0)
                return cli_usage_error(cmd, "unknown format '%s' (text, json or markdown)", optarg);
            break;
        case 'x':
            o->detailed_exitcode = true;
            break;
        case 's':
            if (!strcmp(optarg, "fast"))
                o->solver = PLAN_SOLVER_FAST;
            else if (!strcmp(optarg, "exact"))
                o->solver = PLAN_SOLVER_EXACT;
            else
                return cli_usage_error(cmd, "unknown solver '%s' (fast or exact)", optarg);
            break;
        case 'l':
            o->lp_path = optarg;
            break;
        case 't':
            o->time_limit = strtod(optarg, &end);
            if (end == optarg || *end || !(o->time_limit > 0) || !isfinite(o->time_limit))
                return cli_usage_error(cmd, "--time-limit takes seconds, more than 0");
            break;
        case 'n':
            o->no_color = true;
            break;
        case 'o':
            if (o->noverrides == MAX_OVERRIDES)
                return cli_usage_error(cmd, "more than %d --override-policy options",
                                       MAX_OVERRIDES);
            o->overrides[o->noverrides++] = optarg;
            break;
        case 'r':
            o->reason = optarg;
            break;
        case 'T':
            if (o->ntargets == MAX_TARGETS)
                return cli_usage_error(cmd, "more than %d --target options", MAX_TARGETS);
            o->targets[o->ntargets++] = optarg;
            break;
        case 'O':
            o->out = optarg;
            break;
        case 'R':
            o->refresh_only = true;
            break;
        case 'S':
            o->sim = true;
            o->sim_config = optarg;
            break;
        case ':':
        default:
            for (const struct option *lo = longopts; lo->name; lo++)
                if (optopt && lo->val == optopt && lo->has_arg)
                    return cli_usage_error(cmd, "option '--%s' needs a value%s", lo->name,
                                           optopt == 'v' ? " (NAME=VALUE)" : "");
            return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind > 1)
        return cli_usage_error(cmd, "plan takes one stack (a directory or a file)");
    o->path = optind < argc ? argv[optind] : ".";
    const char *why = o->reason ? cli_override_reason_problem(o->reason) : NULL;
    if (why)
        return cli_usage_error(cmd, "--override-reason: %s", why);
    if (o->reason && o->noverrides == 0)
        return cli_usage_error(cmd, "--override-reason goes with --override-policy NAME");
    if ((o->lp_path || o->time_limit > 0) && o->solver != PLAN_SOLVER_EXACT)
        return cli_usage_error(cmd, "--lp and --time-limit go with --solver exact");
    if (o->sim && !o->refresh_only)
        return cli_usage_error(cmd, "--sim goes with --refresh-only (a plan reads the state "
                                    "without asking the clouds)");
    if (o->refresh_only && (o->out || o->ntargets || o->markdown || o->lp_path))
        return cli_usage_error(cmd, "--refresh-only shows drift only: no --out, --target, "
                                    "markdown or --lp");
    return CLI_OK;
}

/* The plan document with resource_changes appended (the members before it are byte for
 * byte what plan_render_json writes), and policy_override last when `ov` let findings
 * through. */
static int render_json(const struct plan_result *res, const struct diff *df,
                       const struct state_override *ov, FILE *out)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    int rc = -1;
    if (mem && plan_render_json(res, mem) == 0 && fclose(mem) == 0 && len >= 3 &&
        strcmp(text + len - 3, "\n}\n") == 0) {
        mem = NULL;
        fwrite(text, 1, len - 3, out);
        fputs(",\n  \"resource_changes\": ", out);
        json_t *pov = ov && ov->nfindings ? cli_override_plan_json(ov) : NULL;
        if (diff_write_resource_changes(df, out) == 0 && (!ov || !ov->nfindings || pov)) {
            if (pov) {
                fputs(",\n  \"policy_override\": ", out);
                json_dumpf(pov, out, JSON_COMPACT | JSON_PRESERVE_ORDER);
            }
            fputs("\n}\n", out);
            rc = ferror(out) ? -1 : 0;
        }
        json_decref(pov);
    }
    if (mem)
        fclose(mem);
    free(text);
    return rc;
}

/* The plan document (render_json's) as a tree, for the saved plan; NULL when out of memory. */
static json_t *plan_doc(const struct plan_result *res, const struct diff *df,
                        const struct state_override *ov)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    json_t *doc = NULL;
    if (mem && render_json(res, df, ov, mem) == 0 && fclose(mem) == 0) {
        mem = NULL;
        doc = json_loadb(text, len, 0, NULL);
    }
    if (mem)
        fclose(mem);
    free(text);
    return doc;
}

/* Writes the saved plan of `--out`; 0, or -1 after saying why. */
static int save_plan(const struct popts *o, const struct spec *spec, const struct cli_envlog *env,
                     const struct plan_catalog *cat, const struct state *st,
                     const struct plan_result *res, const struct diff *df,
                     const struct state_override *ov)
{
    char stack_sha[65], changes_sha[65], err[512];
    if (cli_stack_digest(spec, env, o->vars, o->nvars, stack_sha, err, sizeof err) != 0) {
        fprintf(stderr, "gpuform: %s\n", err);
        return -1;
    }
    json_t *doc = plan_doc(res, df, ov);
    if (!doc || cli_changes_digest(df, changes_sha) != 0) {
        json_decref(doc);
        fprintf(stderr, "gpuform: out of memory writing the saved plan\n");
        return -1;
    }
    struct saved_plan_meta m = {
        .stack_path = o->path,
        .stack_sha256 = stack_sha,
        .vars = o->vars,
        .nvars = o->nvars,
        .catalog_path = o->catalog,
        .catalog_sha256 = cat->sha256,
        .solver = o->solver == PLAN_SOLVER_EXACT ? "exact" : "fast",
        .time_limit_s = o->time_limit,
        .targets = o->targets,
        .ntargets = o->ntargets,
        .overrides = o->overrides,
        .noverrides = o->noverrides,
        .override_reason = o->reason,
        .state = st,
        .changes_sha256 = changes_sha,
    };
    if (saved_plan_write(o->out, &m, df, doc, err, sizeof err) != 0) {
        fprintf(stderr, "gpuform: %s\n", err);
        return -1;
    }
    fprintf(stderr, "Saved the plan to '%s': 'gpuform apply %s' applies exactly these changes\n",
            o->out, o->out);
    return 0;
}

/* Soft findings were let through: who and why, for the output and the saved plan. A saved
 * plan needs the reason now, since apply records it. 0, or -1 after saying why. */
static int note_override(const struct popts *o, struct state_override *ov)
{
    if (cli_override_begin(ov, o->overrides, o->noverrides, o->reason) != 0) {
        fprintf(stderr, "gpuform: out of memory\n");
        return -1;
    }
    cli_override_print(ov, stderr);
    if (o->out && !o->reason) {
        fprintf(stderr,
                "gpuform: --override-policy lets %zu soft finding%s through, and applying a "
                "saved plan records why: add --override-reason TEXT to the plan\n",
                ov->nfindings, ov->nfindings == 1 ? "" : "s");
        return -1;
    }
    return 0;
}

static void show(struct core_diags *d, bool color)
{
    core_diags_sort(d);
    core_diags_render(d, CORE_DIAG_TEXT, color, stderr);
}

int cmd_plan(int argc, char **argv)
{
    struct popts o = {.solver = PLAN_SOLVER_FAST};
    if (parse_args(argc, argv, &o) != CLI_OK)
        return CLI_ERROR;
    if (o.refresh_only)
        return cli_plan_refresh_only(
            &(struct cli_plan_refresh){.path = o.path,
                                       .sim = o.sim,
                                       .sim_config = o.sim_config,
                                       .json = o.json,
                                       .detailed_exitcode = o.detailed_exitcode,
                                       .vars = o.vars,
                                       .nvars = o.nvars});
    bool color = !o.no_color && cli_use_color(stderr);
    struct core_diags d;
    core_diags_init(&d, 50);
    struct cli_envlog env;
    cli_envlog_init(&env);
    struct spec_options sopts = {
        .vars = o.vars, .nvars = o.nvars, .getenv = cli_envlog_getenv, .getenv_ud = &env};
    struct spec *spec = NULL;
    struct plan_catalog *cat = NULL, *unblocked = NULL;
    struct plan_result *res = NULL;
    struct state *st = NULL;
    struct core_arena arena; /* the current placement handed to the solver */
    core_arena_init(&arena, 0);
    struct diff df = {0};
    struct plan_current *cur = NULL;
    size_t ncur = 0;
    struct policy_set *ps = NULL;
    struct policy_judge *judge = NULL;
    struct state_override ov = {0}; /* the soft findings --override-policy lets through */
    int rc = CLI_ERROR;
    if (cli_load_stack(o.path, &sopts, &d, &spec) != 0) {
        show(&d, color);
        cli_report_counts(o.path, d.errors, d.warnings, false);
        goto done;
    }
    int crc =
        o.catalog ? plan_catalog_load(o.catalog, &d, &cat) : plan_catalog_load_bundled(&d, &cat);
    if (crc != 0) {
        show(&d, color);
        fprintf(stderr, "%s: can't plan without a catalog\n", o.path);
        goto done;
    }
    if (cli_read_state(spec, &st) != 0 || diff_current_from_state(st, &arena, &cur, &ncur) != 0) {
        fprintf(stderr, "%s: can't plan against a state it can't read\n", o.path);
        goto done;
    }
    /* offers that failed for capacity or quota stay out until their block expires, as in
     * apply, so that the plan is the one apply would make */
    if (st && st->nblocks > 0) {
        if (!(unblocked = exec_catalog_unblocked(cat, st, (int64_t)time(NULL)))) {
            fprintf(stderr, "gpuform: out of memory\n");
            goto done;
        }
    }
    /* one load of the hook files for the planner's offer hooks and for validate_plan */
    if (policy_load_spec(spec, NULL, &d, &ps) != 0 || policy_judge_new(ps, spec, &d, &judge) != 0) {
        show(&d, color);
        fprintf(stderr, "%s: can't plan: the policies did not load\n", o.path);
        goto done;
    }
    struct plan_options popts = {.solver = o.solver,
                                 .lp_path = o.lp_path,
                                 .time_limit_s = o.time_limit,
                                 .current = cur,
                                 .ncurrent = ncur,
                                 .judge = policy_judge_planner(judge)};
    if (plan_solve(spec, unblocked ? unblocked : cat, &popts, &d, &res) != 0) {
        show(&d, color);
        size_t errors = d.errors;
        fprintf(stderr, "%s: no plan: %zu problem%s to fix\n", o.path, errors,
                errors == 1 ? "" : "s");
        goto done;
    }
    if (cli_plan_policies(spec, ps, res, o.overrides, o.noverrides, &ov, &d) != 0) {
        show(&d, color);
        fprintf(stderr, "%s: the plan breaks policy: %zu problem%s\n", o.path, d.errors,
                d.errors == 1 ? "" : "s");
        goto done;
    }
    show(&d, color); /* the stack's and the policies' warnings, if any */
    if (ov.nfindings && note_override(&o, &ov) != 0)
        goto done;
    if (diff_compute(res, st, &df) != 0) {
        fprintf(stderr, "gpuform: out of memory comparing the plan with the state\n");
        goto done;
    }
    const char *unmatched;
    if (diff_restrict(&df, o.targets, o.ntargets, &unmatched) != 0) {
        fprintf(stderr, "gpuform: --target '%s' names no node of the plan or the state\n",
                unmatched);
        goto done;
    }
    if (o.ntargets)
        fprintf(stderr,
                "gpuform: warning: only the targeted nodes are planned (%zu other change%s "
                "left out); the state may not match the stack until a plan without --target\n",
                df.nskipped, df.nskipped == 1 ? "" : "s");
    if (o.out && save_plan(&o, spec, &env, cat, st, res, &df, &ov) != 0)
        goto done;
    bool out_color = !o.no_color && cli_use_color(stdout);
    int wr;
    if (o.json)
        wr = render_json(res, &df, &ov, stdout);
    else if (o.markdown)
        wr = diff_render_markdown(&df, res, stdout);
    else if ((st && st->nnodes > 0) || o.ntargets)
        wr = diff_render_text(&df, st, out_color, stdout);
    else
        wr = plan_render_text(res, out_color, stdout);
    rc = wr != 0 ? CLI_ERROR : o.detailed_exitcode && diff_nchanges(&df) > 0 ? CLI_CHANGES : CLI_OK;
done:
    fflush(stdout);
    state_override_release(&ov);
    diff_release(&df);
    core_arena_release(&arena);
    state_free(st);
    plan_result_free(res);
    cli_offer_judge_free(judge);
    policy_set_free(ps);
    plan_catalog_free(unblocked);
    plan_catalog_free(cat);
    spec_free(spec);
    cli_envlog_release(&env);
    core_diags_release(&d);
    return rc;
}
