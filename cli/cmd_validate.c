/*
 * `gpuform validate`: loads each stack, reports every problem in one run, and prints what
 * a valid stack contains, so a user sees at once what gpuform understood of their spec.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/diag.h"
#include "parser/spec.h"

#define MAX_VARS          256
#define SUMMARY_WORKLOADS 100 /* the summary lists this many; a stack may have thousands */

struct vopts {
    const char *vars[MAX_VARS];
    size_t nvars;
    enum core_diag_format format;
    bool strict, quiet, no_color;
};

static void fmt_money(char *buf, size_t size, double v)
{
    if (v == (double)(long long)v) {
        /* Thousands separators: $250,000 reads faster than $250000. */
        char digits[32];
        snprintf(digits, sizeof(digits), "%lld", (long long)v);
        size_t n = strlen(digits), k = 0;
        for (size_t i = 0; i < n && k + 2 < size; i++) {
            if (i && (n - i) % 3 == 0)
                buf[k++] = ',';
            buf[k++] = digits[i];
        }
        buf[k] = '\0';
    } else {
        snprintf(buf, size, "%.2f", v);
    }
}

static void gpu_text(struct core_buf *b, const struct spec_gpu *g)
{
    for (size_t i = 0; i < g->nnames; i++)
        core_buf_addf(b, "%s%s", i ? "|" : "", g->names[i]);
    core_buf_addf(b, ":%d", g->count);
}

static void print_placement(struct core_buf *b, const struct spec_workload *w)
{
    const struct spec_placement *p = &w->placement;
    if (w->kind == SPEC_KIND_FEDERATED) {
        for (size_t i = 0; i < w->nsites; i++)
            core_buf_addf(b, "%s%s=%s/%s", i ? ", " : "sites ", w->sites[i].name,
                          core_cloud_name(w->sites[i].location.cloud), w->sites[i].location.region);
        return;
    }
    const char *sep = "";
    if (p->clouds) {
        core_buf_adds(b, "clouds ");
        for (int i = 0; i < CORE_CLOUD_COUNT; i++)
            if (p->clouds & (1u << i))
                core_buf_addf(b, "%s%s", sep, core_cloud_name((enum core_cloud)i)), sep = ",";
        sep = "; ";
    }
    if (p->together)
        core_buf_addf(b, "%stogether %s", sep,
                      p->together == SPEC_TOGETHER_ZONE ? "zone" : "region"),
            sep = "; ";
    if (p->spread_clouds)
        core_buf_addf(b, "%sspread over %d clouds", sep, p->spread_clouds), sep = "; ";
    if (p->max_per_region)
        core_buf_addf(b, "%smax %d per region", sep, p->max_per_region), sep = "; ";
    for (size_t i = 0; i < p->nregions_include; i++)
        core_buf_addf(b, "%sregions %s", sep, p->regions_include[i]), sep = "; ";
    for (size_t i = 0; i < p->nregions_exclude; i++)
        core_buf_addf(b, "%snot %s", sep, p->regions_exclude[i]), sep = "; ";
    if (!*sep)
        core_buf_adds(b, "anywhere declared");
}

static void print_summary(const char *path, const struct spec *s, size_t warnings)
{
    struct core_buf b;
    core_buf_init(&b, (size_t)64 << 20);
    int nodes = 0, gpus = 0;
    for (size_t i = 0; i < s->nworkloads; i++) {
        nodes += s->workloads[i].count;
        gpus += s->workloads[i].count * s->workloads[i].gpu.count;
    }
    core_buf_addf(&b, "%s: stack '%s' is valid", path, s->stack);
    if (warnings)
        core_buf_addf(&b, " (%zu warning%s)", warnings, warnings == 1 ? "" : "s");
    core_buf_addf(&b, "\n  clouds:    ");
    for (size_t i = 0; i < s->nclouds; i++)
        core_buf_addf(&b, "%s%s (%zu region%s)", i ? ", " : "", s->clouds[i].name,
                      s->clouds[i].nregions, s->clouds[i].nregions == 1 ? "" : "s");
    if (s->nbudgets) {
        core_buf_addf(&b, "\n  budgets:   ");
        for (size_t i = 0; i < s->nbudgets; i++) {
            const struct spec_budget *bu = &s->budgets[i];
            char h[48], mo[48];
            fmt_money(h, sizeof(h), bu->hourly);
            fmt_money(mo, sizeof(mo), bu->monthly);
            core_buf_addf(&b, "%s%s", i ? "; " : "", bu->name);
            if (bu->has_hourly)
                core_buf_addf(&b, " $%s/h", h);
            if (bu->has_monthly)
                core_buf_addf(&b, "%s $%s/month", bu->has_hourly ? "," : "", mo);
            for (size_t j = 0; j < bu->nmatch; j++) {
                const struct spec_match *m = &bu->match[j];
                core_buf_addf(&b, "%s%s", j == 0 ? " where " : " and ", m->key);
                if (m->nvalues == 1)
                    core_buf_addf(&b, "=%s", m->values[0]);
                for (size_t k = 0; m->nvalues > 1 && k < m->nvalues; k++)
                    core_buf_addf(&b, "%s%s%s", k ? ", " : " in (", m->values[k],
                                  k + 1 == m->nvalues ? ")" : "");
            }
        }
    }
    if (s->state_backend == SPEC_BACKEND_ETCD)
        core_buf_addf(&b, "\n  state:     etcd %s%s/ at %s%s\n", s->state_prefix, s->stack,
                      s->state_endpoints[0], s->nstate_endpoints > 1 ? ", ..." : "");
    else if (s->state_backend == SPEC_BACKEND_S3)
        core_buf_addf(&b, "\n  state:     s3://%s/%s\n", s->state_bucket, s->state_key);
    else
        core_buf_addf(&b, "\n  state:     %s\n", s->state_file ? s->state_file : "-");
    core_buf_addf(&b, "  workloads: %zu, %d node%s, %d GPU%s\n", s->nworkloads, nodes,
                  nodes == 1 ? "" : "s", gpus, gpus == 1 ? "" : "s");
    size_t shown = s->nworkloads > SUMMARY_WORKLOADS ? SUMMARY_WORKLOADS : s->nworkloads;
    for (size_t i = 0; i < shown; i++) {
        const struct spec_workload *w = &s->workloads[i];
        struct core_buf g;
        core_buf_init(&g, 4096);
        gpu_text(&g, &w->gpu);
        char hours[32];
        snprintf(hours, sizeof(hours), "%g h%s", w->hours,
                 w->kind == SPEC_KIND_SERVICE || w->kind == SPEC_KIND_FEDERATED ? "/month" : "");
        core_buf_addf(&b, "    %-16s %-9s %3d x %-14s %-12s spot %-6s verify %-5s ", w->name,
                      spec_kind_name(w->kind), w->count, core_buf_str(&g), hours,
                      spec_spot_name(w->spot), spec_verify_name(w->verify));
        print_placement(&b, w);
        core_buf_addc(&b, '\n');
        core_buf_release(&g);
    }
    if (shown < s->nworkloads)
        core_buf_addf(&b, "    ... and %zu more workloads\n", s->nworkloads - shown);
    if (s->nhooks) {
        core_buf_adds(&b, "  hooks:     ");
        for (size_t i = 0; i < s->nhooks; i++)
            core_buf_addf(&b, "%s%s", i ? ", " : "", s->hooks[i].path);
        core_buf_addc(&b, '\n');
    }
    fputs(core_buf_str(&b), stdout);
    core_buf_release(&b);
}

static int parse_args(int argc, char **argv, struct vopts *o, int *first_path)
{
    static const struct option longopts[] = {
        {"var", required_argument, NULL, 'v'}, {"format", required_argument, NULL, 'f'},
        {"strict", no_argument, NULL, 's'},    {"quiet", no_argument, NULL, 'q'},
        {"no-color", no_argument, NULL, 'n'},  {NULL, 0, NULL, 0},
    };
    const struct cli_command *cmd = cli_find("validate");
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":q", longopts, NULL)) != -1) {
        switch (ch) {
        case 'v':
            if (o->nvars == MAX_VARS)
                return cli_usage_error(cmd, "more than %d --var options", MAX_VARS);
            o->vars[o->nvars++] = optarg;
            break;
        case 'f':
            if (!strcmp(optarg, "text"))
                o->format = CORE_DIAG_TEXT;
            else if (!strcmp(optarg, "json"))
                o->format = CORE_DIAG_JSON;
            else if (!strcmp(optarg, "github"))
                o->format = CORE_DIAG_GITHUB;
            else
                return cli_usage_error(cmd, "unknown format '%s' (text, json or github)", optarg);
            break;
        case 's':
            o->strict = true;
            break;
        case 'q':
            o->quiet = true;
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
    *first_path = optind;
    return CLI_OK;
}

int cmd_validate(int argc, char **argv)
{
    struct vopts o = {.format = CORE_DIAG_TEXT};
    int first = argc;
    if (parse_args(argc, argv, &o, &first) != CLI_OK)
        return CLI_ERROR;
    char *dot[] = {"."};
    char **paths = first < argc ? argv + first : dot;
    int npaths = first < argc ? argc - first : 1;

    struct spec_options sopts = {.vars = o.vars, .nvars = o.nvars};
    /* Text shows each stack's problems before its summary; json and github print one
     * document for all stacks, so those collect into `all`. */
    struct core_diags all;
    core_diags_init(&all, 50);
    int failed = 0;
    for (int i = 0; i < npaths; i++) {
        struct core_diags own, *d = o.format == CORE_DIAG_TEXT ? &own : &all;
        if (d == &own)
            core_diags_init(&own, 50);
        size_t errors = d->errors, warnings = d->warnings;
        struct spec *spec = NULL;
        cli_load_stack(paths[i], &sopts, d, &spec);
        errors = d->errors - errors;
        warnings = d->warnings - warnings;
        bool bad = errors || (o.strict && warnings);
        failed |= bad;
        if (d == &own) {
            core_diags_sort(d);
            core_diags_render(d, CORE_DIAG_TEXT, !o.no_color && cli_use_color(stderr), stderr);
            if (!bad && !o.quiet)
                print_summary(paths[i], spec, warnings);
            else if (bad)
                cli_report_counts(paths[i], errors, warnings, !errors);
            core_diags_release(d);
        }
        spec_free(spec);
    }
    if (o.format != CORE_DIAG_TEXT) {
        core_diags_sort(&all);
        core_diags_render(&all, o.format, false, stdout);
    }
    core_diags_release(&all);
    fflush(stdout);
    return failed ? CLI_ERROR : CLI_OK;
}
