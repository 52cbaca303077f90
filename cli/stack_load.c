/*
 * Loading a stack the way every command does it (`validate`, `plan`): the spec, then the
 * hooks' syntax once the spec loaded, and the closing "PATH: N errors, M warnings" line,
 * so that `plan` reports a broken stack exactly as `validate` would; and reading its state
 * without a lock, for the commands that write nothing (`plan`, `show`).
 */
#include "cli/cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/build_info.h"
#include "core/diag.h"
#include "executor/backend.h"
#include "lua/hook_check.h"
#include "modules/state/state_backends.h"
#include "parser/spec.h"

int cli_load_stack(const char *path, const struct spec_options *opts, struct core_diags *d,
                   struct spec **out)
{
    size_t errors = d->errors;
    if (spec_load(path, opts, d, out) == 0)
        hook_check_syntax(*out, d);
    if (d->errors > errors) {
        spec_free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/*
 * Reads the stack's state, if it has one, without locking (plan writes nothing). Returns 0
 * with *out (NULL when there is no state yet), or -1 after printing why: a state that can't
 * be read is an error, never silently "no state".
 */
int cli_read_state(const struct spec *spec, struct state **out)
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

int cli_lock_state(struct state_backend *b, const char *op, double timeout_s, struct state_err *err)
{
    struct state_lock_info me, holder, stale;
    stale.id[0] = '\0';
    if (state_lock_info_self(&me, op, GPUFORM_VERSION) != 0) {
        snprintf(err->msg, sizeof err->msg, "can't describe this run for the state's lock");
        return -1;
    }
    if (b->ops->lock(b, &me, timeout_s, &holder, &stale, err) != 0)
        return -1;
    if (stale.id[0]) {
        char who[512];
        state_lock_info_describe(&stale, who, sizeof who);
        fprintf(stderr, "gpuform: took over the lock left by %s, a run that is gone\n", who);
    }
    return 0;
}

void cli_report_counts(const char *path, size_t errors, size_t warnings, bool strict_failed)
{
    fprintf(stderr, "%s: %zu error%s, %zu warning%s%s\n", path, errors, errors == 1 ? "" : "s",
            warnings, warnings == 1 ? "" : "s", strict_failed ? " (failing: --strict)" : "");
}

double cli_parse_duration(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v < 0)
        return -1;
    if (!*end || !strcmp(end, "s"))
        return v;
    if (!strcmp(end, "m"))
        return v * 60;
    if (!strcmp(end, "h"))
        return v * 3600;
    return -1;
}
