/*
 * Rendering a change set: aligned text, a Markdown comment for pull requests, and the
 * JSON list that policies and CI scripts read. Money is formatted the same way everywhere:
 * two decimals with thousands separators.
 */
#include "executor/diff_render.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cloud.h"
#include "planner/plan_render.h"

#define GREEN  "\033[32m"
#define RED    "\033[31m"
#define YELLOW "\033[33m"
#define RESET  "\033[0m"

/* "$0.526": a price per hour as catalogs state it */
static void price(char *out, size_t n, double v)
{
    char buf[48];
    snprintf(out, n, "$%s", plan_fmt_price(buf, sizeof buf, v));
}

/* Inside a Markdown code span nothing is escaped; only a backtick could end it. */
static void md_code(FILE *out, const char *s)
{
    fputc('`', out);
    for (; *s; s++)
        fputc(*s == '`' ? '\'' : *s, out);
    fputc('`', out);
}

void diff_cost_phrase(const struct diff *d, char *out, size_t outlen)
{
    double before = d->hourly_before * 730, after = d->hourly_after * 730;
    double delta = after - before;
    char amount[64];
    plan_fmt_usd(amount, sizeof amount, fabs(delta));
    if (fabs(delta) < 0.005) {
        snprintf(out, outlen, "does not change");
    } else if (before <= 0) {
        snprintf(out, outlen, "rises by %s (from nothing)", amount);
    } else {
        snprintf(out, outlen, "%s by %s (%+.1f%%)", delta > 0 ? "rises" : "falls", amount,
                 100 * delta / before);
    }
}

static const char *where_want(const struct diff_change *c, char *buf, size_t n)
{
    const struct plan_offer *o = c->want->offer;
    snprintf(buf, n, "%s/%s%s%s %s%s", core_cloud_name(o->cloud), o->region, *o->zone ? "/" : "",
             o->zone, o->instance_type, c->want->spot ? " (spot)" : "");
    return buf;
}

static const char *where_have(const struct diff_change *c, char *buf, size_t n)
{
    const struct state_placement *p = &c->have->placement;
    snprintf(buf, n, "%s/%s%s%s %s%s", p->cloud, p->region, *p->zone ? "/" : "", p->zone,
             p->instance_type, p->spot ? " (spot)" : "");
    return buf;
}

/* ", 2 to verify" when the change set finishes verifications left pending, else "" (so
 * change sets without one read as before). */
static const char *to_verify(const struct diff *d, char *buf, size_t n)
{
    if (!d->nverify)
        return "";
    snprintf(buf, n, ", %zu to verify", d->nverify);
    return buf;
}

int diff_render_text(const struct diff *d, const struct state *st, bool color, FILE *out)
{
    char verifies[48];
    fprintf(out,
            "changes against the state (serial %llu): %zu to create, %zu to replace, %zu to "
            "update%s, %zu to delete, %zu unchanged\n\n",
            st ? (unsigned long long)st->serial : 0ULL, d->ncreate, d->nreplace, d->nupdate,
            to_verify(d, verifies, sizeof verifies), d->ndelete, d->nnoop);
    int w = 0;
    for (size_t i = 0; i < d->nchanges; i++)
        if (d->changes[i].action != DIFF_NOOP && (int)strlen(d->changes[i].address) > w)
            w = (int)strlen(d->changes[i].address);
    for (size_t i = 0; i < d->nchanges; i++) {
        const struct diff_change *c = &d->changes[i];
        char a[200], b[200], pa[32], pb[32];
        switch (c->action) {
        case DIFF_NOOP:
            break;
        case DIFF_CREATE:
            price(pa, sizeof pa, c->want->hourly);
            fprintf(out, "  %s+   %-*s  %s  %s/h%s\n", color ? GREEN : "", w, c->address,
                    where_want(c, a, sizeof a), pa, color ? RESET : "");
            break;
        case DIFF_DELETE:
            price(pa, sizeof pa, c->have->hourly_usd);
            fprintf(out, "  %s-   %-*s  %s  %s/h  (%s)%s\n", color ? RED : "", w, c->address,
                    where_have(c, a, sizeof a), pa, c->reason, color ? RESET : "");
            break;
        case DIFF_REPLACE:
            price(pa, sizeof pa, c->have->hourly_usd);
            price(pb, sizeof pb, c->want->hourly);
            fprintf(out, "  %s-/+ %-*s  %s -> %s  %s/h -> %s/h  (%s)%s\n", color ? YELLOW : "", w,
                    c->address, where_have(c, a, sizeof a), where_want(c, b, sizeof b), pa, pb,
                    c->reason, color ? RESET : "");
            break;
        case DIFF_UPDATE:
        case DIFF_VERIFY:
            price(pa, sizeof pa, c->have->hourly_usd);
            fprintf(out, "  %s~   %-*s  %s  %s/h  (%s)%s\n", color ? YELLOW : "", w, c->address,
                    where_have(c, a, sizeof a), pa, c->reason, color ? RESET : "");
            break;
        }
    }
    char phrase[128], before[32], after[32];
    diff_cost_phrase(d, phrase, sizeof phrase);
    plan_fmt_usd(before, sizeof before, d->hourly_before);
    plan_fmt_usd(after, sizeof after, d->hourly_after);
    fprintf(out, "%scost: %s/h -> %s/h; the monthly estimate %s\n",
            d->nchanges > d->nnoop ? "\n" : "", before, after, phrase);
    return ferror(out) ? -1 : 0;
}

/* Escapes the characters that would break a Markdown table cell. */
static void md_cell(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|' || *s == '\\' || *s == '`' || *s == '*' || *s == '_' || *s == '[' ||
            *s == ']' || *s == '<' || *s == '>')
            fputc('\\', out);
        fputc(*s == '\n' ? ' ' : *s, out);
    }
}

int diff_render_markdown(const struct diff *d, const struct plan_result *plan, FILE *out)
{
    char phrase[128], before[32], after[32];
    diff_cost_phrase(d, phrase, sizeof phrase);
    plan_fmt_usd(before, sizeof before, d->hourly_before * 730);
    plan_fmt_usd(after, sizeof after, d->hourly_after * 730);
    fputs("### gpuform plan: ", out);
    md_code(out, plan->spec && plan->spec->stack ? plan->spec->stack : "");
    char verifies[48];
    fprintf(out,
            "\n\n**%zu to create, %zu to replace, %zu to update%s, %zu to delete**, %zu "
            "unchanged. ",
            d->ncreate, d->nreplace, d->nupdate, to_verify(d, verifies, sizeof verifies),
            d->ndelete, d->nnoop);
    fprintf(out, "The monthly estimate %s: %s → %s.", phrase, before, after);
    if (plan->gap > 0)
        fprintf(out, " The placement is within %.1f%% of optimal.",
                ceil(plan->gap * 1000 - 1e-9) / 10);
    else
        fprintf(out, " The placement is optimal.");
    fputs("\n\n", out);
    if (d->nchanges == d->nnoop) {
        fputs("No changes.\n", out);
        return ferror(out) ? -1 : 0;
    }
    fputs("| | node | from | to | $/h | why |\n|---|---|---|---|---:|---|\n", out);
    for (size_t i = 0; i < d->nchanges; i++) {
        const struct diff_change *c = &d->changes[i];
        if (c->action == DIFF_NOOP)
            continue;
        char a[200] = "", b[200] = "", cost[80];
        static const char *const sign[] = {"", "+", "−", "∓", "~", "~"};
        if (c->have)
            where_have(c, a, sizeof a);
        if (c->want && c->action != DIFF_UPDATE &&
            c->action != DIFF_VERIFY) /* an update or a verify stays where it is */
            where_want(c, b, sizeof b);
        char pa[32], pb[32];
        if (c->action == DIFF_REPLACE) {
            price(pa, sizeof pa, c->have->hourly_usd);
            price(pb, sizeof pb, c->want->hourly);
            snprintf(cost, sizeof cost, "%s → %s", pa, pb);
        } else {
            price(pa, sizeof pa, c->want ? c->want->hourly : c->have->hourly_usd);
            snprintf(cost, sizeof cost, "%s", pa);
        }
        fprintf(out, "| %s | ", sign[c->action]);
        md_code(out, c->address);
        fputs(" | ", out);
        md_cell(out, a);
        fputs(" | ", out);
        md_cell(out, b);
        fprintf(out, " | %s | ", cost);
        md_cell(out, c->reason);
        fputs(" |\n", out);
    }
    return ferror(out) ? -1 : 0;
}

/* ", \"labels\": {...}": the state node's labels, or else the workload's. */
static void put_labels(FILE *out, const struct state_node *have, const struct spec_workload *w)
{
    fputs(", \"labels\": {", out);
    size_t n = have ? have->nlabels : w ? w->nlabels : 0;
    for (size_t i = 0; i < n; i++) {
        fputs(i ? ", " : "", out);
        plan_json_str(out, have ? have->labels[i].key : w->labels[i].key);
        fputs(": ", out);
        plan_json_str(out, have ? have->labels[i].value : w->labels[i].value);
    }
    fputc('}', out);
}

/* "{cloud, region, zone, instance_type, gpu, gpus, spot, hourly_usd[, id], labels}",
 * streamed. */
static void put_place(FILE *out, const char *cloud, const char *region, const char *zone,
                      const char *itype, const char *gpu, int gpus, bool spot, double hourly,
                      const char *id, const struct state_node *have, const struct spec_workload *w)
{
    fputs("{\"cloud\": ", out);
    plan_json_str(out, cloud);
    fputs(", \"region\": ", out);
    plan_json_str(out, region);
    fputs(", \"zone\": ", out);
    plan_json_str(out, zone);
    fputs(", \"instance_type\": ", out);
    plan_json_str(out, itype);
    fputs(", \"gpu\": ", out);
    plan_json_str(out, gpu);
    fprintf(out, ", \"gpus\": %d, \"spot\": %s, \"hourly_usd\": ", gpus, spot ? "true" : "false");
    plan_json_num(out, hourly);
    if (id) {
        fputs(", \"id\": ", out);
        plan_json_str(out, id);
    }
    put_labels(out, have, w);
    fputc('}', out);
}

int diff_write_resource_changes(const struct diff *d, FILE *out)
{
    fputc('[', out);
    for (size_t i = 0; i < d->nchanges; i++) {
        const struct diff_change *c = &d->changes[i];
        size_t n;
        /* a service's replacement is created before the old node goes */
        bool create_first =
            c->want && c->want->workload && c->want->workload->kind == SPEC_KIND_SERVICE;
        const char *const *acts = diff_action_list(c->action, create_first, &n);
        fputs(i ? ",\n    {\"address\": " : "\n    {\"address\": ", out);
        plan_json_str(out, c->address);
        fputs(", \"action\": ", out);
        plan_json_str(out, diff_action_name(c->action));
        fputs(", \"actions\": [", out);
        for (size_t k = 0; k < n; k++) {
            if (k)
                fputs(", ", out);
            plan_json_str(out, acts[k]);
        }
        fputs("], \"reason\": ", out);
        plan_json_str(out, c->reason ? c->reason : "");
        fputs(",\n     \"before\": ", out);
        if (c->have) {
            const struct state_placement *p = &c->have->placement;
            put_place(out, p->cloud, p->region, p->zone, p->instance_type, p->gpu, p->gpus, p->spot,
                      c->have->hourly_usd, c->have->cloud_id, c->have, NULL);
        } else {
            fputs("null", out);
        }
        fputs(",\n     \"after\": ", out);
        if (c->want) {
            const struct plan_offer *o = c->want->offer;
            put_place(out, core_cloud_name(o->cloud), o->region, o->zone, o->instance_type, o->gpu,
                      o->gpus, c->want->spot, c->want->hourly, NULL, NULL, c->want->workload);
        } else {
            fputs("null", out);
        }
        fputc('}', out);
    }
    fputs(d->nchanges ? "\n  ]" : "]", out);
    return ferror(out) ? -1 : 0;
}
