/*
 * What plan and apply need to record a policy override (docs/policies.md, "Overrides"):
 * who is running gpuform (from the CI's environment or the login), the CI run, a checked
 * --override-reason, and the record itself (executor/state_override.h) for the state, the
 * plan JSON and the messages.
 */
#ifndef GPUFORM_CLI_OVERRIDE_H
#define GPUFORM_CLI_OVERRIDE_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "executor/state_override.h"

/* The longest --override-reason, in bytes. */
#define CLI_OVERRIDE_REASON_MAX 1000

/*
 * Who runs gpuform: the first of GPUFORM_ACTOR, GITHUB_ACTOR, GITLAB_USER_LOGIN and
 * BUILDKITE_BUILD_CREATOR that is set and not empty, else the login name (getpwuid, else
 * USER) "@" the host name. Control characters and bytes outside ASCII become '?', and the
 * name is cut to 200 bytes. Writes it to who[wholen] and the source ("GPUFORM_ACTOR", ...,
 * or "login") to *source (a static string).
 */
void cli_override_actor(char *who, size_t wholen, const char **source);

/*
 * The CI run's address, when the environment gives one: GitHub Actions
 * (GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID), GitLab (CI_JOB_URL),
 * Buildkite (BUILDKITE_BUILD_URL). Writes it to url[len] and returns true, or false.
 */
bool cli_override_run_url(char *url, size_t len);

/* Why `reason` can't be an --override-reason (empty or blank, longer than
 * CLI_OVERRIDE_REASON_MAX, a control character, not UTF-8), or NULL when it can. */
const char *cli_override_reason_problem(const char *reason);

/*
 * Fills the record's id (a new UUID), `at` (now, UTC), who, who_source, run_url, the
 * --override-policy values and `reason` (NULL: none yet, as a plan may have); its findings
 * are what cli_plan_policies added. 0, or -1 when out of memory.
 */
int cli_override_begin(struct state_override *o, const char *const *policies, size_t npolicies,
                       const char *reason);

/* The plan document's "policy_override" member: who, who_source, reason (null when none),
 * policies, findings and run_url. NULL when out of memory. */
json_t *cli_override_plan_json(const struct state_override *o);

/* One line on `f` saying how many findings were let through, by whom and why (plan and
 * apply; the findings themselves are the policies' warnings). */
void cli_override_print(const struct state_override *o, FILE *f);

#endif
