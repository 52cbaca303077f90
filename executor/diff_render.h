/*
 * A change set for people (`+` create, `-` delete, `-/+` replace, `~` update or verify, with
 * where from and to and why), for pull requests (Markdown with the cost change), and for programs
 * (the `resource_changes` list of the plan document, with Terraform's action lists).
 */
#ifndef GPUFORM_EXECUTOR_DIFF_RENDER_H
#define GPUFORM_EXECUTOR_DIFF_RENDER_H

#include <stdbool.h>
#include <stdio.h>

#include "executor/diff.h"

/* The changes, one line each, no-ops left out, then the cost line; the summary line counts
 * verifies only when there are some. 0, or -1 on a write error. `color` marks creates green,
 * deletes red, replaces, updates and verifies yellow. */
int diff_render_text(const struct diff *d, const struct state *st, bool color, FILE *out);

/* A Markdown pull-request comment: a summary line, the cost change ("monthly estimate rises
 * by $1,240.00 (+3.1%)"), a table of the changes. 0, or -1. */
int diff_render_markdown(const struct diff *d, const struct plan_result *plan, FILE *out);

/* Writes the resource_changes array (docs/plan-json.md), one entry per address, no-ops
 * included, each {address, action, actions, reason, before, after}, streamed (a 100,000-node
 * plan costs no tree in memory), indented to sit at the plan document's top level. */
int diff_write_resource_changes(const struct diff *d, FILE *out);

/* "rises by $1,240.00 (+3.1%)", "falls by ...", "does not change": the monthly estimate. */
void diff_cost_phrase(const struct diff *d, char *out, size_t outlen);

#endif
