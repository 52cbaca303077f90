/*
 * `gpuform show [PATH] [--json]`: what a saved plan would do (PATH a `plan --out` file), or
 * what the stack's state records (PATH a stack, '.' by default): Terraform's `show`, for
 * reviewing a plan before applying it and for looking at a deployment.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/saved_plan.h"
#include "core/diag.h"
#include "executor/state.h"
#include "executor/state_override.h"
#include "parser/spec.h"
#include "planner/plan_render.h"

static int show_plan(const char *path, bool json, bool color)
{
    struct saved_plan sp;
    char err[768];
    if (saved_plan_read(path, &sp, err, sizeof err) != 0) {
        fprintf(stderr, "gpuform: %s\n", err);
        return CLI_ERROR;
    }
    int rc;
    if (json)
        rc = json_dumpf(sp.doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 &&
                     fputc('\n', stdout) != EOF
                 ? 0
                 : -1;
    else
        rc = saved_plan_render_text(&sp, color, stdout);
    saved_plan_release(&sp);
    return rc == 0 ? CLI_OK : CLI_ERROR;
}

static void print_state(const struct state *st)
{
    double hourly = 0;
    int w = 7;
    for (size_t i = 0; i < st->nnodes; i++) {
        hourly += st->nodes[i].hourly_usd;
        if ((int)strlen(st->nodes[i].address) > w)
            w = (int)strlen(st->nodes[i].address);
    }
    char h[32], m[32];
    plan_fmt_usd(h, sizeof h, hourly);
    plan_fmt_usd(m, sizeof m, hourly * 730);
    printf("state of stack '%s': serial %llu, lineage %s\n%zu node%s, %s/h (%s a month)\n\n",
           st->stack, (unsigned long long)st->serial, st->lineage, st->nnodes,
           st->nnodes == 1 ? "" : "s", h, m);
    if (st->nnodes)
        printf("  %-*s  %-28s %-18s %-4s %-9s %-20s %-10s %s\n", w, "ADDRESS", "WHERE", "TYPE",
               "GPUS", "STATUS", "ID", "VERIFY", "SINCE");
    for (size_t i = 0; i < st->nnodes; i++) {
        const struct state_node *n = &st->nodes[i];
        char where[160], since[32] = "-", gpus[32];
        snprintf(where, sizeof where, "%s/%s%s", n->placement.cloud,
                 *n->placement.zone ? n->placement.zone : n->placement.region,
                 n->placement.spot ? " spot" : "");
        snprintf(gpus, sizeof gpus, "%d", n->placement.gpus);
        if (n->created_at > 0) {
            time_t t = (time_t)n->created_at;
            struct tm tm;
            strftime(since, sizeof since, "%Y-%m-%d %H:%M", gmtime_r(&t, &tm));
        }
        printf("  %-*s  %-28s %-18s %-4s %-9s %-20s %-10s %s%s\n", w, n->address, where,
               n->placement.instance_type, gpus, state_status_name(n->status),
               *n->cloud_id ? n->cloud_id : "-", state_verify_name(n->verify), since,
               n->tainted ? "  (tainted)" : "");
    }
    if (st->nblocks)
        printf("\n%zu offer%s blocked after capacity or quota errors (the next plans avoid "
               "them):\n",
               st->nblocks, st->nblocks == 1 ? "" : "s");
    for (size_t i = 0; i < st->nblocks; i++) {
        const struct state_block *b = &st->blocks[i];
        time_t t = (time_t)b->until;
        struct tm tm;
        char until[32];
        strftime(until, sizeof until, "%Y-%m-%d %H:%M UTC", gmtime_r(&t, &tm));
        printf("  %s/%s %s%s: %s until %s\n", b->cloud, *b->zone ? b->zone : b->region,
               b->instance_type, b->spot ? " spot" : "", b->error_class, until);
    }
}

/* The policy overrides, newest last, as the state records them (the last 100). */
static void print_overrides(const struct state *st)
{
    if (st->noverrides)
        printf("\n%zu policy override%s (the state keeps the last %d):\n", st->noverrides,
               st->noverrides == 1 ? "" : "s", STATE_OVERRIDES_MAX);
    for (size_t i = 0; i < st->noverrides; i++) {
        const struct state_override *o = &st->overrides[i];
        printf("  %s  serial %llu  by %s (from %s): \"%s\"\n", o->at, (unsigned long long)o->serial,
               o->who, o->who_source, o->reason);
        printf("    --override-policy");
        for (size_t k = 0; k < o->npolicies; k++)
            printf(" %s", o->policies[k]);
        printf("%s%s\n", o->run_url ? "  run " : "", o->run_url ? o->run_url : "");
        for (size_t k = 0; k < o->nfindings; k++) {
            const struct state_override_finding *f = &o->findings[k];
            printf("    %s '%s'%s%s%s: %s\n", f->level, f->policy, f->address ? " on '" : "",
                   f->address ? f->address : "", f->address ? "'" : "", f->message);
        }
    }
}

static int show_state(const char *path, bool json)
{
    struct core_diags d;
    core_diags_init(&d, 50);
    struct spec *spec = NULL;
    struct state *st = NULL;
    int rc = CLI_ERROR;
    if (cli_load_stack(path, &(struct spec_options){0}, &d, &spec) != 0) {
        core_diags_sort(&d);
        core_diags_render(&d, CORE_DIAG_TEXT, cli_use_color(stderr), stderr);
        cli_report_counts(path, d.errors, d.warnings, false);
        goto done;
    }
    if (cli_read_state(spec, &st) != 0)
        goto done;
    if (!st) {
        if (json)
            printf("null\n");
        else
            printf("stack '%s' has no state yet: nothing was applied ('gpuform plan' shows what "
                   "apply would make)\n",
                   spec->stack);
        rc = CLI_OK;
        goto done;
    }
    if (json) {
        size_t len;
        st->verify_secret[0] = '\0'; /* a secret: show never prints it (state pull does) */
        char *text = state_serialize(st, &len);
        if (!text) {
            fprintf(stderr, "gpuform: out of memory\n");
            goto done;
        }
        fwrite(text, 1, len, stdout);
        free(text);
    } else {
        print_state(st);
        print_overrides(st);
    }
    rc = ferror(stdout) ? CLI_ERROR : CLI_OK;
done:
    state_free(st);
    spec_free(spec);
    core_diags_release(&d);
    return rc;
}

int cmd_show(int argc, char **argv)
{
    const struct cli_command *cmd = cli_find("show");
    const char *path = NULL;
    bool json = false, no_color = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = true;
        else if (!strcmp(argv[i], "--no-color"))
            no_color = true;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(cmd->usage, stdout);
            return CLI_OK;
        } else if (argv[i][0] == '-' && argv[i][1])
            return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        else if (path)
            return cli_usage_error(cmd, "show takes one saved plan or one stack");
        else
            path = argv[i];
    }
    if (!path)
        path = ".";
    if (saved_plan_sniff(path))
        return show_plan(path, json, !no_color && cli_use_color(stdout));
    return show_state(path, json);
}
