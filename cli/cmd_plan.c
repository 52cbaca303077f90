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

#include "core/diag.h"
#include "parser/spec.h"
#include "planner/catalog.h"
#include "planner/plan.h"
#include "planner/plan_render.h"

#define MAX_VARS 256

struct popts {
    const char *vars[MAX_VARS];
    size_t nvars;
    const char *catalog; /* NULL: the bundled one */
    const char *path;
    const char *lp_path;
    double time_limit;
    enum plan_solver solver;
    bool json, no_color;
};

static int parse_args(int argc, char **argv, struct popts *o)
{
    static const struct option longopts[] = {
        {"var", required_argument, NULL, 'v'}, {"catalog", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},      {"solver", required_argument, NULL, 's'},
        {"lp", required_argument, NULL, 'l'},  {"time-limit", required_argument, NULL, 't'},
        {"no-color", no_argument, NULL, 'n'},  {NULL, 0, NULL, 0},
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
    struct plan_options popts = {
        .solver = o.solver, .lp_path = o.lp_path, .time_limit_s = o.time_limit};
    if (plan_solve(spec, cat, &popts, &d, &res) != 0) {
        show(&d, color);
        size_t errors = d.errors;
        fprintf(stderr, "%s: no plan: %zu problem%s to fix\n", o.path, errors,
                errors == 1 ? "" : "s");
        goto done;
    }
    show(&d, color); /* the stack's warnings, if any */
    if (o.json)
        rc = plan_render_json(res, stdout) == 0 ? CLI_OK : CLI_ERROR;
    else
        rc = plan_render_text(res, !o.no_color && cli_use_color(stdout), stdout) == 0 ? CLI_OK
                                                                                      : CLI_ERROR;
done:
    fflush(stdout);
    plan_result_free(res);
    plan_catalog_free(cat);
    spec_free(spec);
    core_diags_release(&d);
    return rc;
}
