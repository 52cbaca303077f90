/*
 * A plan as people read it (one line per node, budgets, totals, the optimality gap) and as
 * programs read it (the JSON document of docs/plan-json.md). Both are byte-identical for
 * identical inputs: no times, no addresses, no locale.
 */
#ifndef GPUFORM_PLANNER_PLAN_RENDER_H
#define GPUFORM_PLANNER_PLAN_RENDER_H

#include <stdbool.h>
#include <stdio.h>

#include "planner/plan.h"

/* Writes the plan as text; `color` marks creates in green. 0, or -1 on a write error. */
int plan_render_text(const struct plan_result *r, bool color, FILE *out);

/* Writes the plan as JSON (docs/plan-json.md), with a final newline. 0, or -1. */
int plan_render_json(const struct plan_result *r, FILE *out);

/* Money as every gpuform output writes it, into buf (returned): a count "1,234"; dollars
 * to the cent "$1,234.50"; a price per hour as catalogs state it, 2 to 4 decimals, without
 * the dollar sign ("0.526", "98.32"). */
const char *plan_fmt_count(char *buf, size_t size, size_t v);
const char *plan_fmt_usd(char *buf, size_t size, double v);
const char *plan_fmt_price(char *buf, size_t size, double v);

/* JSON pieces in the document's own style, for writers that extend it (resource_changes):
 * a string with every character that needs it escaped, and a number rounded to six
 * decimals ("88.25", "48.0", never "-0.0"). */
void plan_json_str(FILE *out, const char *s);
void plan_json_num(FILE *out, double v);

/* The JSON document's format_version. */
#define PLAN_JSON_VERSION 1

#endif
