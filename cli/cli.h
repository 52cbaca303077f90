/*
 * The command table and what the subcommands share: output settings and usage printing.
 * One file per subcommand (git's builtin/ style); main.c dispatches.
 */
#ifndef GPUFORM_CLI_CLI_H
#define GPUFORM_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Exit codes are part of the interface (README): */
enum {
    CLI_OK = 0,     /* success */
    CLI_ERROR = 1,  /* an error, a failed check, a usage error */
    CLI_CHANGES = 2 /* changes present, with plan --detailed-exitcode */
};

struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary; /* one line for `gpuform help` */
    const char *usage;   /* the full --help text */
};

/* The commands, in the order `gpuform help` lists them; NULL-name terminated. */
extern const struct cli_command cli_commands[];

/* True when output to `f` should use colour: a terminal and NO_COLOR unset. */
bool cli_use_color(FILE *f);

/* Prints a command's usage to stderr after a usage error and returns CLI_ERROR. */
int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The command named `name`, or NULL. */
const struct cli_command *cli_find(const char *name);

struct core_diags;
struct spec;
struct spec_options;
struct sim_world;
struct sim_server;

/*
 * Loads the stack at `path` as `gpuform validate` does (spec_load, then the hooks' Lua
 * syntax), reporting to `d`. 0 with *out set (the caller frees it with spec_free), or -1
 * with *out NULL when any error was found.
 */
int cli_load_stack(const char *path, const struct spec_options *opts, struct core_diags *d,
                   struct spec **out);

struct state;

/*
 * Reads the stack's state, if it has one, without locking (for commands that write
 * nothing). Returns 0 with *out (NULL when there is no state yet; the caller frees it), or
 * -1 after printing why: a state that can't be read is an error, never silently "no state".
 */
int cli_read_state(const struct spec *spec, struct state **out);

struct state_backend;
struct state_err;

/* Takes the backend's lock for operation `op` ("apply", "state rm"), waiting up to
 * `timeout_s` seconds (0: at once or not at all), and says on stderr when it took over the
 * lock of a run that is gone. 0, or -1 with *err saying why (the caller says it). */
int cli_lock_state(struct state_backend *b, const char *op, double timeout_s,
                   struct state_err *err);

struct plan_result;

struct state_override;

struct policy_set;
struct policy_judge;

/* `policy test` on an offer fixture (cli/policy_offers.c): 0 pass, 1 fail, -1 broken. */
#include <jansson.h>
int cli_policy_offer_fixture(const char *file, const char *path, const char *const *names,
                             const char *const *paths, size_t np, json_t *fx);

/* Frees the planner's judge over the offer hooks (lua/policy_offer.h; NULL is fine),
 * first printing its counts to stderr when GPUFORM_POLICY_STATS is set. */
void cli_offer_judge_free(struct policy_judge *judge);

/*
 * Runs the stack's policies `ps` (loaded with policy_load_spec; NULL when the stack has
 * none) on a plan (validate_plan): hard findings, and soft ones that
 * `overrides` (--override-policy values) don't name, are errors in `d`; advisory and
 * overridden ones warnings, each located at its `hooks:` entry. Each soft finding an
 * override let through is added to `let_through` (NULL: not kept; cli/override.h makes the
 * rest of the record). 0 when the plan may go ahead; -1 otherwise or when out of memory.
 * (cmd_policy.c; used by plan and apply.)
 */
int cli_plan_policies(const struct spec *spec, struct policy_set *ps, const struct plan_result *res,
                      const char *const *overrides, size_t noverrides,
                      struct state_override *let_through, struct core_diags *d);

/* "PATH: N errors, M warnings" on stderr, after a stack's diagnostics. */
void cli_report_counts(const char *path, size_t errors, size_t warnings, bool strict_failed);

/* "30", "30s", "5m", "1h": seconds; -1 when not a duration (cli/stack_load.c). */
double cli_parse_duration(const char *s);

/* `--sim` (cli/sim_run.c): cloudsim running in this process. */
struct cli_sim {
    struct sim_world *world;
    struct sim_server *server;
    char endpoint[64];
    char path[4096]; /* the world, kept beside the state: cloudsim.json */
};

struct spec_cloud;

/*
 * Starts cloudsim on a free loopback port, with the world config `config` (NULL: a fast
 * default like specs/cloudsim/fast.yaml). Its world is kept in cloudsim.json in the stack's
 * local state directory `state_dir` (made when missing; loaded at start, saved after each
 * reply that changed it), so successive --sim runs of a stack see the instances the earlier
 * ones made. The AWS keys, the Azure identity (the stack's `az`, may be NULL) and, when the
 * stack or its state uses gcp (`gcp_used`), the GCP credentials (the stack's `gcp`, or a
 * made-up key kept in `state_dir`) are set up on both sides through the environment. 0, or
 * -1 after printing why. Stop it with cli_sim_stop (also after a failed start).
 */
int cli_sim_start(const char *config, const char *state_dir, const struct spec_cloud *az,
                  bool gcp_used, const struct spec_cloud *gcp, struct cli_sim *s);

/* Stops the server (saving the world) and frees it; a zeroed `s` is fine. */
void cli_sim_stop(struct cli_sim *s);

/* What cli_on_verify needs: the stack's policies (NULL: none) and the state the node is in
 * (for its stack and lineage). Both borrowed. */
struct cli_verify_policy {
    struct policy_set *ps;
    const struct state *st;
};

#include "executor/apply.h" /* exec_on_verify_fn's enum exec_verdict */

/*
 * An exec_on_verify_fn (executor/apply.h) over the policies' on_verify, `ctx` being a
 * struct cli_verify_policy: the node as the state records it (never the stack's secret) and
 * the report (a {"status": "missing"} one when NULL) with its `reason`. 1 when no policy
 * defines on_verify or none decides, 0 with *v and who[] ("policy 'NAME'"), -1 with who[]
 * naming the policy's error (cli/verify_policy.c).
 */
int cli_on_verify(void *ctx, const struct state_node *node, const char *report, const char *reason,
                  enum exec_verdict *v, char *who, size_t wholen);

/* `gpuform plan --refresh-only`: what the plan command passes on (cmd_apply.c runs it). */
struct cli_plan_refresh {
    const char *path;
    bool sim;
    const char *sim_config;
    bool json, detailed_exitcode;
    const char *const *vars;
    size_t nvars;
};

/* Refreshes the stack's state in memory (no lock, nothing written) and reports the drift:
 * text, or JSON with `json`. Returns CLI_OK, CLI_CHANGES (drift that would change the state,
 * with detailed_exitcode) or CLI_ERROR. */
int cli_plan_refresh_only(const struct cli_plan_refresh *pr);

int cmd_validate(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_apply(int argc, char **argv);
int cmd_destroy(int argc, char **argv);
int cmd_refresh(int argc, char **argv);
int cmd_adopt(int argc, char **argv);
int cmd_schema(int argc, char **argv);
int cmd_gpus(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_catalog(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_state(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_force_unlock(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_cloudsim(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_help(int argc, char **argv);

#endif
