/*
 * Saved plans: `gpuform plan --out FILE` writes the plan with what it was made from (the
 * stack's digest, the catalog's, the state's lineage and serial, the variables, solver,
 * targets and policy overrides); `gpuform apply FILE` makes the plan again from the same
 * inputs and applies it only when every input and the resulting changes are what the file
 * says, so a reviewed plan is applied exactly or not at all (docs/state.md, "Saved plans").
 */
#ifndef GPUFORM_CLI_SAVED_PLAN_H
#define GPUFORM_CLI_SAVED_PLAN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/buf.h"

struct spec;
struct diff;
struct plan_result;
struct state;

/* The document's "format" and "format_version". */
#define SAVED_PLAN_FORMAT  "gpuform-plan"
#define SAVED_PLAN_VERSION 1

/* The environment lookups a stack's loading made (GPUFORM_VAR_*, ${env.NAME}): pass
 * cli_envlog_getenv with the log as spec_options.getenv/getenv_ud. */
struct cli_envlog {
    struct core_buf b; /* "NAME=VALUE\n" or "NAME unset\n" per lookup, in order */
    bool failed;       /* a lookup could not be recorded: no digest can be trusted */
};

void cli_envlog_init(struct cli_envlog *l);
void cli_envlog_release(struct cli_envlog *l);
const char *cli_envlog_getenv(const char *name, void *ud);

/*
 * The stack's digest for saved plans: SHA-256 over the files the parser read
 * (spec->sha256), the environment lookups, the --var values and the bytes of every hook
 * file. 0 with out[65] (hex), or -1 with the reason in err (a hook file can't be read).
 */
int cli_stack_digest(const struct spec *spec, const struct cli_envlog *env, const char *const *vars,
                     size_t nvars, char out[65], char *err, size_t errlen);

/* SHA-256 of the resource_changes list the diff renders (docs/plan-json.md). 0 or -1. */
int cli_changes_digest(const struct diff *df, char out[65]);

/* What a saved plan records besides the plan itself. Strings are borrowed. */
struct saved_plan_meta {
    const char *stack_path; /* as given to plan, relative to the working directory */
    const char *stack_sha256;
    const char *const *vars; /* "NAME=VALUE" from --var */
    size_t nvars;
    const char *catalog_path; /* NULL: the bundled catalog */
    const char *catalog_sha256;
    const char *solver; /* "fast" or "exact" */
    double time_limit_s;
    const char *const *targets;
    size_t ntargets;
    const char *const *overrides; /* --override-policy */
    size_t noverrides;
    const char *override_reason; /* --override-reason, or NULL */
    const struct state *state;   /* NULL: the stack had no state */
    const char *changes_sha256;
};

/*
 * Writes the saved plan to `path` (mode 0600, through a temporary file renamed into place):
 * the meta, a summary and `plan_doc` (the `plan --json` document, which it steals). 0, or
 * -1 with err set.
 */
int saved_plan_write(const char *path, const struct saved_plan_meta *m, const struct diff *df,
                     json_t *plan_doc, char *err, size_t errlen);

/* A saved plan as read back; strings point into `doc`. */
struct saved_plan {
    json_t *doc;
    const char *created, *gpuform_version, *stack, *stack_path, *stack_sha256;
    const char *catalog_path; /* NULL: bundled */
    const char *catalog_sha256, *solver, *changes_sha256;
    double time_limit_s;
    const char *vars[256];
    size_t nvars;
    const char *targets[256];
    size_t ntargets;
    const char *overrides[64];
    size_t noverrides;
    const char *override_reason; /* NULL: none (or a plan from before the field) */
    bool has_state;
    const char *lineage;
    uint64_t serial;
    size_t ncreate, nreplace, ndelete, nupdate;
    size_t nverify; /* verifications left pending, finished by the apply ("verify", absent: 0) */
};

/* Whether `path` is a regular file that starts like a saved plan (a JSON object), so that
 * `apply FILE` and `show FILE` can tell one from a stack. */
bool saved_plan_sniff(const char *path);

/* Reads and checks a saved plan (format, version, every field's type). 0, or -1 with err
 * naming the file and what is wrong. Release with saved_plan_release. */
int saved_plan_read(const char *path, struct saved_plan *out, char *err, size_t errlen);

void saved_plan_release(struct saved_plan *sp);

/* The saved plan for people: where it came from, the changes (+, -, -/+, ~ for an update or
 * a verify) and the cost line. 0, or -1 on a write error. */
int saved_plan_render_text(const struct saved_plan *sp, bool color, FILE *out);

#endif
