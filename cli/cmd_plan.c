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

#include <sys/stat.h>

#include "core/diag.h"
#include "executor/backend.h"
#include "executor/diff.h"
#include "executor/diff_render.h"
#include "executor/state.h"
#include "modules/state/state_backends.h"
#include "lua/policy.h"
#include "parser/spec.h"
#include "planner/catalog.h"
#include "planner/plan.h"
#include "planner/plan_render.h"

#define MAX_VARS      256
#define MAX_OVERRIDES 64

struct popts {
    const char *vars[MAX_VARS];
    size_t nvars;
    const char *overrides[MAX_OVERRIDES]; /* --override-policy NAME */
    size_t noverrides;
    const char *catalog; /* NULL: the bundled one */
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
    if ((o->lp_path || o->time_limit > 0) && o->solver != PLAN_SOLVER_EXACT)
        return cli_usage_error(cmd, "--lp and --time-limit go with --solver exact");
    return CLI_OK;
}

/*
 * Reads the stack's state, if it has one, without locking (plan writes nothing). Returns 0
 * with *out (NULL when there is no state yet), or -1 after printing why: a state that can't
 * be read is an error, never silently "no state".
 */
static int read_state(const struct spec *spec, struct state **out)
{
    *out = NULL;
    struct stat sb;
    /* a local state that doesn't exist is "no state" (and its directory is not made) */
    if (spec->state_backend == SPEC_BACKEND_FILE &&
        (!spec->state_file || stat(spec->state_file, &sb) != 0))
        return 0;
    struct state_err err;
    struct state_backend *b = state_backend_open(spec, NULL, NULL, &err);
    int rc = b ? state_load(b, b->ops->where(b), out, &err) : -1;
    if (rc != 0)
        fprintf(stderr, "gpuform: %s\n", err.msg);
    if (b)
        b->ops->close(b);
    return rc;
}

/* The plan document with resource_changes appended as its last member (the members before
 * it are byte for byte what plan_render_json writes). */
static int render_json(const struct plan_result *res, const struct diff *df, FILE *out)
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
        if (diff_write_resource_changes(df, out) == 0) {
            fputs("\n}\n", out);
            rc = ferror(out) ? -1 : 0;
        }
    }
    if (mem)
        fclose(mem);
    free(text);
    return rc;
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
    bool color = !o.no_color && cli_use_color(stderr);
    struct core_diags d;
    core_diags_init(&d, 50);
    struct spec_options sopts = {.vars = o.vars, .nvars = o.nvars};
    struct spec *spec = NULL;
    struct plan_catalog *cat = NULL;
    struct plan_result *res = NULL;
    struct state *st = NULL;
    struct core_arena arena; /* the current placement handed to the solver */
    core_arena_init(&arena, 0);
    struct diff df = {0};
    struct plan_current *cur = NULL;
    size_t ncur = 0;
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
    if (read_state(spec, &st) != 0 || diff_current_from_state(st, &arena, &cur, &ncur) != 0) {
        fprintf(stderr, "%s: can't plan against a state it can't read\n", o.path);
        goto done;
    }
    struct plan_options popts = {.solver = o.solver,
                                 .lp_path = o.lp_path,
                                 .time_limit_s = o.time_limit,
                                 .current = cur,
                                 .ncurrent = ncur};
    if (plan_solve(spec, cat, &popts, &d, &res) != 0) {
        show(&d, color);
        size_t errors = d.errors;
        fprintf(stderr, "%s: no plan: %zu problem%s to fix\n", o.path, errors,
                errors == 1 ? "" : "s");
        goto done;
    }
    if (cli_plan_policies(spec, res, o.overrides, o.noverrides, &d) != 0) {
        show(&d, color);
        fprintf(stderr, "%s: the plan breaks policy: %zu problem%s\n", o.path, d.errors,
                d.errors == 1 ? "" : "s");
        goto done;
    }
    show(&d, color); /* the stack's and the policies' warnings, if any */
    if (diff_compute(res, st, &df) != 0) {
        fprintf(stderr, "gpuform: out of memory comparing the plan with the state\n");
        goto done;
    }
    bool out_color = !o.no_color && cli_use_color(stdout);
    int wr;
    if (o.json)
        wr = render_json(res, &df, stdout);
    else if (o.markdown)
        wr = diff_render_markdown(&df, res, stdout);
    else if (st && st->nnodes > 0)
        wr = diff_render_text(&df, st, out_color, stdout);
    else
        wr = plan_render_text(res, out_color, stdout);
    rc = wr != 0                                                            ? CLI_ERROR
         : o.detailed_exitcode && df.ncreate + df.nreplace + df.ndelete > 0 ? CLI_CHANGES
                                                                            : CLI_OK;
done:
    fflush(stdout);
    diff_release(&df);
    core_arena_release(&arena);
    state_free(st);
    plan_result_free(res);
    plan_catalog_free(cat);
    spec_free(spec);
    core_diags_release(&d);
    return rc;
}
