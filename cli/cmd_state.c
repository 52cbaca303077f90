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

#include "core/buf.h"
#include "core/diag.h"
#include "executor/backend.h"
#include "executor/state.h"
#include "modules/state/state_backends.h"
#include "parser/spec.h"

struct sopts {
    const char *stack; /* --stack PATH */
    bool json;
    bool force;          /* push --force */
    const char *version; /* pull --version N */
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
        else if (strcmp(argv[i], "--force") == 0)
            o->force = true;
        else if (strcmp(argv[i], "--version") == 0 && i + 1 < argc)
            o->version = argv[++i];
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
        b = state_backend_open(spec, NULL, NULL, &err);
        *state_path = b ? strdup(b->ops->where(b)) : NULL;
        if (!b || !*state_path) {
            fprintf(stderr, "gpuform: %s\n", b ? "out of memory" : err.msg);
            if (b)
                b->ops->close(b);
            b = NULL;
        }
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

/* Takes the backend's lock for `op` (at once or not at all); -1 after printing why. */
static int take_lock(struct state_backend *b, const char *op)
{
    struct state_err err;
    if (cli_lock_state(b, op, 0, &err) != 0) {
        fprintf(stderr, "gpuform: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int state_rm(const struct sopts *o)
{
    char *path = NULL;
    struct state_backend *b = open_backend(o->stack, &path);
    struct state *st = NULL;
    struct state_err err;
    int rc = CLI_ERROR;
    if (!b)
        goto out;
    if (take_lock(b, "state rm") != 0)
        goto out;
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

/* `state pull [--version N]`: the stored document, byte for byte, on standard output. */
static int state_pull(const struct sopts *o)
{
    char *path = NULL;
    struct state_backend *b = open_backend(o->stack, &path);
    if (!b)
        return CLI_ERROR;
    char *end = NULL;
    unsigned long back = o->version ? strtoul(o->version, &end, 10) : 0;
    int rc = CLI_ERROR;
    char *text = NULL, id[64] = "current";
    size_t len = 0;
    struct state_err err;
    if (o->version && (!*o->version || *end || back > 100000)) {
        fprintf(stderr, "gpuform: --version takes how many versions back (0, 1, ...), not '%s'\n",
                o->version);
    } else if (b->ops->read_version(b, back, &text, &len, id, sizeof id, &err) != 0) {
        fprintf(stderr, "gpuform: %s\n", err.msg);
    } else if (!text) {
        fprintf(stderr, "gpuform: %s at %s\n",
                back ? "no version that old is kept" : "no state yet", path);
    } else if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
        fprintf(stderr, "gpuform: cannot write the state to standard output\n");
    } else {
        if (back)
            fprintf(stderr, "gpuform: %s of %s\n", id, path);
        rc = CLI_OK;
    }
    free(text);
    b->ops->close(b);
    free(path);
    return rc;
}

/* Reads a whole state file given on the command line ("-": standard input). */
static char *read_input(const char *file, size_t *len)
{
    FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
    if (!f)
        return NULL;
    struct core_buf b;
    core_buf_init(&b, 256u << 20);
    char chunk[65536];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = core_buf_add(&b, chunk, n);
    bool bad = rc != 0 || ferror(f);
    if (f != stdin)
        fclose(f);
    *len = b.len;
    char *text = bad ? NULL : core_buf_take(&b);
    core_buf_release(&b);
    return text;
}

/*
 * Whether `next` may replace `cur` (NULL: nothing stored): the same lineage and a serial not
 * older, unless forced. Prints why not.
 */
static bool may_replace(const struct state *cur, const struct state *next, bool force,
                        const char *where)
{
    if (!cur || force)
        return true;
    if (strcmp(cur->lineage, next->lineage) != 0) {
        fprintf(stderr,
                "gpuform: %s holds lineage %s, not %s: a different state; --force replaces it "
                "anyway\n",
                where, cur->lineage, next->lineage);
        return false;
    }
    if (next->serial < cur->serial) {
        fprintf(stderr,
                "gpuform: %s is at serial %llu, newer than serial %llu; --force replaces it "
                "anyway\n",
                where, (unsigned long long)cur->serial, (unsigned long long)next->serial);
        return false;
    }
    return true;
}

/* Writes `next` over what `b` holds (cur), at a serial above both. */
static int replace_state(struct state_backend *b, const struct state *cur, struct state *next,
                         struct state_err *err)
{
    if (cur && cur->serial > next->serial)
        next->serial = cur->serial;
    return state_save(b, next, err);
}

/* `state push FILE [--force]`: replaces the stored state under its lock. */
static int state_push(const struct sopts *o)
{
    size_t len = 0;
    char *text = read_input(o->args[0], &len);
    if (!text) {
        fprintf(stderr, "gpuform: cannot read '%s'\n", o->args[0]);
        return CLI_ERROR;
    }
    struct state *next = NULL, *cur = NULL;
    struct state_err err;
    int rc = CLI_ERROR;
    char *path = NULL;
    struct state_backend *b = NULL;
    if (state_parse(text, len, o->args[0], &next, &err) != 0) {
        fprintf(stderr, "gpuform: %s; nothing was pushed\n", err.msg);
        goto out;
    }
    if (!(b = open_backend(o->stack, &path)) || take_lock(b, "state push") != 0 ||
        load_state(b, path, &cur) < 0 || !may_replace(cur, next, o->force, path))
        goto out;
    if (replace_state(b, cur, next, &err) != 0) {
        fprintf(stderr, "gpuform: %s\n", err.msg);
        goto out;
    }
    printf("pushed the state to %s: serial %llu, lineage %s, %zu node%s\n", path,
           (unsigned long long)next->serial, next->lineage, next->nnodes,
           next->nnodes == 1 ? "" : "s");
    rc = CLI_OK;
out:
    free(text);
    state_free(next);
    state_free(cur);
    if (b)
        b->ops->close(b);
    free(path);
    return rc;
}

int cmd_state(int argc, char **argv)
{
    const struct cli_command *cmd = cli_find("state");
    if (argc < 2)
        return cli_usage_error(cmd, "missing subcommand (list, show, rm, pull or push)");
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
    if (strcmp(argv[1], "pull") == 0) {
        if (o.nargs)
            return cli_usage_error(cmd, "state pull takes no arguments (the stack: --stack PATH)");
        return state_pull(&o);
    }
    if (strcmp(argv[1], "push") == 0) {
        if (o.nargs != 1)
            return cli_usage_error(cmd, "state push takes one state file ('-': standard input)");
        return state_push(&o);
    }
    return cli_usage_error(cmd, "unknown subcommand '%s' (list, show, rm, pull or push)", argv[1]);
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
