/*
 * `gpuform state list|show|rm` and `gpuform force-unlock`: looking at and repairing the
 * state by hand (Terraform's `state` subcommands). The stack (`--stack PATH`, default '.')
 * says where its state is (`state.path`); `rm` takes the lock and writes atomically, like
 * every other writer.
 */
#include "cli/cli.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/build_info.h"
#include "core/diag.h"
#include "executor/backend.h"
#include "executor/state.h"
#include "parser/spec.h"

struct sopts {
    const char *stack; /* --stack PATH */
    bool json;
    const char *args[64];
    size_t nargs;
};

static int parse(const struct cli_command *cmd, int argc, char **argv, int first, struct sopts *o)
{
    o->stack = ".";
    for (int i = first; i < argc; i++) {
        if (strcmp(argv[i], "--stack") == 0 && i + 1 < argc)
            o->stack = argv[++i];
        else if (strncmp(argv[i], "--stack=", 8) == 0)
            o->stack = argv[i] + 8;
        else if (strcmp(argv[i], "--json") == 0)
            o->json = true;
        else if (strcmp(argv[i], "--stack") == 0)
            return cli_usage_error(cmd, "option '--stack' needs a value");
        else if (argv[i][0] == '-' && argv[i][1])
            return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        else if (o->nargs == sizeof o->args / sizeof *o->args)
            return cli_usage_error(cmd, "too many arguments");
        else
            o->args[o->nargs++] = argv[i];
    }
    return CLI_OK;
}

/* Opens the stack's state backend; NULL after printing why. */
static struct state_backend *open_backend(const char *stack, char **state_path)
{
    struct core_diags d;
    core_diags_init(&d, 50);
    struct spec_options sopts = {0};
    struct spec *spec = NULL;
    struct state_backend *b = NULL;
    if (cli_load_stack(stack, &sopts, &d, &spec) != 0) {
        core_diags_sort(&d);
        core_diags_render(&d, CORE_DIAG_TEXT, cli_use_color(stderr), stderr);
        fprintf(stderr, "%s: the stack must load to find its state\n", stack);
    } else {
        struct state_err err;
        *state_path = strdup(spec->state_file);
        b = *state_path ? state_local_open(spec->state_file, &err) : NULL;
        if (!b)
            fprintf(stderr, "gpuform: %s\n", *state_path ? err.msg : "out of memory");
    }
    spec_free(spec);
    core_diags_release(&d);
    return b;
}

/* Reads and parses the state. 1 when there is none, 0 with *out, -1 on an error (printed). */
static int load_state(struct state_backend *b, const char *path, struct state **out)
{
    struct state_err err;
    if (state_load(b, path, out, &err) != 0) {
        fprintf(stderr, "gpuform: %s\n", err.msg);
        return -1;
    }
    return *out ? 0 : 1;
}

static void print_node(const struct state_node *n)
{
    const struct state_placement *p = &n->placement;
    char when[32] = "-";
    time_t t = (time_t)n->created_at;
    struct tm tm;
    if (n->created_at > 0 && gmtime_r(&t, &tm))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
    printf("address:       %s\n", n->address);
    printf("provider:      %s\n", n->provider);
    printf("id:            %s\n", *n->cloud_id ? n->cloud_id : "(not known yet)");
    printf("placement:     %s/%s%s%s %s, %d x %s%s\n", p->cloud, p->region, *p->zone ? "/" : "",
           p->zone, p->instance_type, p->gpus, p->gpu, p->spot ? ", spot" : "");
    printf("price:         $%.3f/h at launch\n", n->hourly_usd);
    printf("status:        %s%s\n", state_status_name(n->status), n->tainted ? ", tainted" : "");
    printf("created:       %s\n", when);
    printf("verification:  %s%s%s\n", state_verify_name(n->verify), *n->verify_detail ? ": " : "",
           n->verify_detail);
}

/* A stack's state, opened and read for looking at (no lock: nothing is written). */
struct opened {
    char *path;
    struct state_backend *b;
    struct state *st;
};

/* 0 with o->st, 1 when there is no state yet (said on stderr), -1 on an error (printed). */
static int open_read(const char *stack, struct opened *o)
{
    memset(o, 0, sizeof *o);
    o->b = open_backend(stack, &o->path);
    int lr = o->b ? load_state(o->b, o->path, &o->st) : -1;
    if (lr == 1)
        fprintf(stderr, "gpuform: no state yet at '%s' (nothing has been applied)\n", o->path);
    return lr;
}

static void close_read(struct opened *o)
{
    state_free(o->st);
    if (o->b)
        o->b->ops->close(o->b);
    free(o->path);
}

static int state_list(const struct sopts *o)
{
    struct opened s;
    int lr = open_read(o->stack, &s);
    for (size_t i = 0; lr == 0 && i < s.st->nnodes; i++)
        printf("%s\n", s.st->nodes[i].address);
    close_read(&s);
    return lr >= 0 ? CLI_OK : CLI_ERROR;
}

/* The node's part of the state document, exactly as the state holds it. */
static int print_node_json(const struct state *st, struct state_node *n)
{
    struct state one = *st;
    one.nodes = n;
    one.nnodes = 1;
    one.nblocks = 0;
    size_t len;
    char *text = state_serialize(&one, &len);
    json_t *doc = text ? json_loadb(text, len, 0, NULL) : NULL;
    json_t *node = json_array_get(json_object_get(doc, "nodes"), 0);
    char *out =
        node ? json_dumps(node, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))
             : NULL;
    if (out)
        printf("%s\n", out);
    free(out);
    json_decref(doc);
    free(text);
    return out ? CLI_OK : CLI_ERROR;
}

static int state_show(const struct sopts *o)
{
    struct opened s;
    int rc = CLI_ERROR;
    if (open_read(o->stack, &s) == 0) {
        struct state_node *n = state_find(s.st, o->args[0]);
        if (!n) {
            fprintf(stderr,
                    "gpuform: '%s' is not in the state ('gpuform state list' shows what is)\n",
                    o->args[0]);
        } else if (o->json) {
            rc = print_node_json(s.st, n);
        } else {
            print_node(n);
            rc = CLI_OK;
        }
    }
    close_read(&s);
    return rc;
}

static int state_rm(const struct sopts *o)
{
    char *path = NULL;
    struct state_backend *b = open_backend(o->stack, &path);
    struct state *st = NULL;
    struct state_lock_info me, holder, stale;
    struct state_err err;
    int rc = CLI_ERROR;
    if (!b)
        goto out;
    if (state_lock_info_self(&me, "state rm", GPUFORM_VERSION) != 0 ||
        b->ops->lock(b, &me, 0, &holder, &stale, &err) != 0) {
        fprintf(stderr, "gpuform: %s\n", err.msg);
        goto out;
    }
    if (stale.id[0]) {
        char who[512];
        state_lock_info_describe(&stale, who, sizeof who);
        fprintf(stderr, "gpuform: took over the lock left by %s, a run that is gone\n", who);
    }
    int lr = load_state(b, path, &st);
    if (lr == 1)
        fprintf(stderr, "gpuform: no state yet at '%s'\n", path);
    if (lr != 0)
        goto out;
    for (size_t i = 0; i < o->nargs; i++)
        if (!state_find(st, o->args[i])) {
            fprintf(stderr, "gpuform: '%s' is not in the state; nothing was removed\n", o->args[i]);
            goto out;
        }
    for (size_t i = 0; i < o->nargs; i++) {
        const struct state_node *n = state_find(st, o->args[i]);
        if (!n)
            continue; /* named twice */
        printf("removed %s from the state; its instance %s keeps running in %s, no longer "
               "managed by gpuform\n",
               n->address, *n->cloud_id ? n->cloud_id : "(id unknown)", n->placement.cloud);
        state_remove(st, o->args[i]);
    }
    if (state_save(b, st, &err) != 0)
        fprintf(stderr, "gpuform: %s\n", err.msg);
    else
        rc = CLI_OK;
out:
    state_free(st);
    if (b)
        b->ops->close(b);
    free(path);
    return rc;
}

int cmd_state(int argc, char **argv)
{
    const struct cli_command *cmd = cli_find("state");
    if (argc < 2)
        return cli_usage_error(cmd, "missing subcommand (list, show or rm)");
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fputs(cmd->usage, stdout);
        return CLI_OK;
    }
    struct sopts o = {0};
    if (parse(cmd, argc, argv, 2, &o) != CLI_OK)
        return CLI_ERROR;
    if (strcmp(argv[1], "list") == 0) {
        if (o.nargs)
            return cli_usage_error(cmd, "state list takes no arguments (the stack: --stack PATH)");
        return state_list(&o);
    }
    if (strcmp(argv[1], "show") == 0) {
        if (o.nargs != 1)
            return cli_usage_error(cmd, "state show takes one address");
        return state_show(&o);
    }
    if (strcmp(argv[1], "rm") == 0) {
        if (o.nargs == 0)
            return cli_usage_error(cmd, "state rm takes one or more addresses");
        return state_rm(&o);
    }
    return cli_usage_error(cmd, "unknown subcommand '%s' (list, show or rm)", argv[1]);
}

int cmd_force_unlock(int argc, char **argv)
{
    const struct cli_command *cmd = cli_find("force-unlock");
    struct sopts o = {0};
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        fputs(cmd->usage, stdout);
        return CLI_OK;
    }
    if (parse(cmd, argc, argv, 1, &o) != CLI_OK)
        return CLI_ERROR;
    if (o.nargs != 1)
        return cli_usage_error(cmd, "force-unlock takes the lock ID");
    char *path = NULL;
    struct state_backend *b = open_backend(o.stack, &path);
    struct state_err err;
    int rc = CLI_ERROR;
    if (b && b->ops->force_unlock(b, o.args[0], &err) != 0)
        fprintf(stderr, "gpuform: %s\n", err.msg);
    else if (b) {
        printf("unlocked the state of '%s' (lock %s)\n", o.stack, o.args[0]);
        rc = CLI_OK;
    }
    if (b)
        b->ops->close(b);
    free(path);
    return rc;
}
