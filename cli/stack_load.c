/*
 * Loading a stack the way every command does it (`validate`, `plan`): the spec, then the
 * hooks' syntax once the spec loaded, and the closing "PATH: N errors, M warnings" line,
 * so that `plan` reports a broken stack exactly as `validate` would.
 */
#include "cli/cli.h"

#include "core/diag.h"
#include "lua/hook_check.h"
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

void cli_report_counts(const char *path, size_t errors, size_t warnings, bool strict_failed)
{
    fprintf(stderr, "%s: %zu error%s, %zu warning%s%s\n", path, errors, errors == 1 ? "" : "s",
            warnings, warnings == 1 ? "" : "s", strict_failed ? " (failing: --strict)" : "");
}
