/*
 * `gpuform init [--migrate-state [--force] | --reconfigure] [PATH]`: records which backend
 * the stack's state is on (.gpuform/backend.json) and, when the spec's `state:` block names
 * another one, moves the state there under both locks (Terraform's `init -migrate-state`).
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/build_info.h"
#include "core/diag.h"
#include "executor/backend.h"
#include "executor/state.h"
#include "modules/state/state_backends.h"
#include "parser/spec.h"

struct iopts {
    bool migrate, reconfigure, force;
    const char *path;
};

static int lock_for(struct state_backend *b, const char *op)
{
    struct state_lock_info me, holder, stale;
    struct state_err err;
    if (state_lock_info_self(&me, op, GPUFORM_VERSION) != 0 ||
        b->ops->lock(b, &me, 0, &holder, &stale, &err) != 0) {
        fprintf(stderr, "gpuform: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* Fails when `b` has a journal: a run there did not finish, and its changes must be settled
 * where they were journalled. */
static int no_journal(struct state_backend *b)
{
    char *text = NULL;
    size_t len = 0;
    struct state_err err;
    if (b->ops->journal_read(b, &text, &len, &err) != 0) {
        fprintf(stderr, "gpuform: %s\n", err.msg);
        return -1;
    }
    free(text);
    if (text) {
        fprintf(stderr,
                "gpuform: %s has a journal left by a run that did not finish; run 'gpuform "
                "apply' with the old backend first so its changes are settled, then migrate\n",
                b->ops->where(b));
        return -1;
    }
    return 0;
}

/* Copies the state from `from` to `to`, both locked. */
static int migrate(struct state_backend *from, struct state_backend *to, bool force)
{
    struct state *src = NULL, *dst = NULL;
    struct state_err err;
    int rc = -1;
    if (lock_for(from, "init --migrate-state") != 0 || lock_for(to, "init --migrate-state") != 0 ||
        no_journal(from) != 0 || no_journal(to) != 0)
        return -1;
    if (state_load(from, from->ops->where(from), &src, &err) != 0 ||
        state_load(to, to->ops->where(to), &dst, &err) != 0) {
        fprintf(stderr, "gpuform: %s\n", err.msg);
        goto out;
    }
    if (!src) {
        printf("no state at %s: nothing to move\n", from->ops->where(from));
        rc = 0;
        goto out;
    }
    if (dst && !force && (strcmp(dst->lineage, src->lineage) != 0 || dst->serial > src->serial)) {
        fprintf(stderr,
                "gpuform: %s already holds a state (serial %llu, lineage %s) that the one at %s "
                "(serial %llu, lineage %s) would replace; --force replaces it\n",
                to->ops->where(to), (unsigned long long)dst->serial, dst->lineage,
                from->ops->where(from), (unsigned long long)src->serial, src->lineage);
        goto out;
    }
    if (dst && dst->serial > src->serial)
        src->serial = dst->serial;
    if (state_save(to, src, &err) != 0) {
        fprintf(stderr, "gpuform: %s\n", err.msg);
        goto out;
    }
    printf("moved the state (serial %llu, lineage %s, %zu node%s) from %s to %s; the old copy "
           "stays there until you remove it\n",
           (unsigned long long)src->serial, src->lineage, src->nnodes, src->nnodes == 1 ? "" : "s",
           from->ops->where(from), to->ops->where(to));
    rc = 0;
out:
    state_free(src);
    state_free(dst);
    return rc;
}

static int run_init(const struct iopts *o, struct spec *spec)
{
    struct state_err err;
    struct state_backend *to = state_backend_open_unchecked(spec, NULL, NULL, &err), *from = NULL;
    int rc = -1;
    if (!to) {
        fprintf(stderr, "gpuform: %s\n", err.msg);
        return -1;
    }
    if (state_backend_open_marked(spec, &from, &err) != 0) {
        fprintf(stderr, "gpuform: %s\n", err.msg);
        goto out;
    }
    char local[4096];
    snprintf(local, sizeof local, "%s/.gpuform/state.json", spec->dir ? spec->dir : ".");
    if (!from && spec->state_backend != SPEC_BACKEND_FILE && access(local, F_OK) == 0 &&
        !(from = state_local_open(local, &err))) {
        fprintf(stderr, "gpuform: %s\n", err.msg);
        goto out;
    }
    bool same = from && !strcmp(from->ops->name, to->ops->name) &&
                !strcmp(from->ops->where(from), to->ops->where(to));
    if (from && !same && !o->migrate && !o->reconfigure) {
        fprintf(stderr,
                "gpuform: the stack's state is at %s and the spec now keeps it at %s: "
                "--migrate-state moves it, --reconfigure starts from what the new backend "
                "holds\n",
                from->ops->where(from), to->ops->where(to));
        goto out;
    }
    if (from && !same && o->migrate && migrate(from, to, o->force) != 0)
        goto out;
    /* the new backend answers (and holds a readable state, or none) */
    struct state *st = NULL;
    if (state_load(to, to->ops->where(to), &st, &err) != 0) {
        fprintf(stderr, "gpuform: %s\n", err.msg);
        goto out;
    }
    if (state_backend_mark(spec, &err) != 0) {
        fprintf(stderr, "gpuform: %s\n", err.msg);
        state_free(st);
        goto out;
    }
    printf("the state of stack '%s' is on %s (%s)\n", spec->stack, to->ops->where(to),
           st ? "it holds a state" : "no state yet");
    state_free(st);
    rc = 0;
out:
    if (from)
        from->ops->close(from);
    to->ops->close(to);
    return rc;
}

int cmd_init(int argc, char **argv)
{
    const struct cli_command *cmd = cli_find("init");
    struct iopts o = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--migrate-state"))
            o.migrate = true;
        else if (!strcmp(argv[i], "--reconfigure"))
            o.reconfigure = true;
        else if (!strcmp(argv[i], "--force"))
            o.force = true;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(cmd->usage, stdout);
            return CLI_OK;
        } else if (argv[i][0] == '-' && argv[i][1])
            return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        else if (o.path)
            return cli_usage_error(cmd, "init takes one stack (a directory or a file)");
        else
            o.path = argv[i];
    }
    if (o.migrate && o.reconfigure)
        return cli_usage_error(cmd, "--migrate-state and --reconfigure exclude each other");
    if (o.force && !o.migrate)
        return cli_usage_error(cmd, "--force goes with --migrate-state");
    if (!o.path)
        o.path = ".";
    struct core_diags d;
    core_diags_init(&d, 50);
    struct spec *spec = NULL;
    int rc = CLI_ERROR;
    if (cli_load_stack(o.path, &(struct spec_options){0}, &d, &spec) != 0) {
        core_diags_sort(&d);
        core_diags_render(&d, CORE_DIAG_TEXT, cli_use_color(stderr), stderr);
        cli_report_counts(o.path, d.errors, d.warnings, false);
    } else if (run_init(&o, spec) == 0) {
        rc = CLI_OK;
    }
    spec_free(spec);
    core_diags_release(&d);
    return rc;
}
