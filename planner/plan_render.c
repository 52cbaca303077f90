/*
 * Rendering a plan: aligned text for people, and the stable JSON document of
 * docs/plan-json.md for programs. Numbers are rounded the same way in both, so a plan
 * renders to the same bytes wherever it is made.
 */
#include "planner/plan_render.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "planner/plan_int.h"

#define GREEN "\033[32m"
#define RESET "\033[0m"

const char *plan_fmt_price(char *buf, size_t size, double v)
{
    snprintf(buf, size, "%.4f", v);
    size_t n = strlen(buf);
    char *dot = strchr(buf, '.');
    while (dot && n > (size_t)(dot - buf) + 3 && buf[n - 1] == '0')
        buf[--n] = '\0';
    return buf;
}

static const char *place_of(const struct plan_node *n, char *buf, size_t size)
{
    const struct plan_offer *o = n->offer;
    if (o->zone && *o->zone)
        snprintf(buf, size, "%s/%s/%s", core_cloud_name(o->cloud), o->region, o->zone);
    else
        snprintf(buf, size, "%s/%s", core_cloud_name(o->cloud), o->region);
    return buf;
}

static const char *gpus_of(const struct plan_node *n, char *buf, size_t size)
{
    snprintf(buf, size, "%d x %s", n->offer->gpus, n->offer->gpu);
    return buf;
}

static int width(const char *s)
{
    return (int)strlen(s);
}

static void budget_line(struct core_buf *b, const struct plan_budget_use *u, int namew)
{
    char have[48], cap[48];
    const struct spec_budget *bu = u->budget;
    core_buf_addf(b, "  %-*s  %s/h", namew, bu->name, plan_fmt_usd(have, sizeof(have), u->hourly));
    if (bu->has_hourly)
        core_buf_addf(b, " of %s/h", plan_fmt_usd(cap, sizeof(cap), bu->hourly));
    core_buf_addf(b, ", %s a month", plan_fmt_usd(have, sizeof(have), u->monthly));
    if (bu->has_monthly)
        core_buf_addf(b, " of %s", plan_fmt_usd(cap, sizeof(cap), bu->monthly));
    core_buf_addc(b, '\n');
}

/* "within 0.2% of optimal": the gap rounded up to a tenth of a percent. */
static void gap_text(struct core_buf *b, const struct plan_result *r)
{
    char lb[48];
    plan_fmt_usd(lb, sizeof(lb), r->lower_bound);
    if (r->gap <= 0)
        core_buf_addf(b, "optimal (lower bound %s, %s solver)\n", lb, r->solver);
    else
        core_buf_addf(b, "within %.1f%% of optimal (lower bound %s, %s solver)\n",
                      ceil(r->gap * 1000 - 1e-9) / 10, lb, r->solver);
}

int plan_render_text(const struct plan_result *r, bool color, FILE *out)
{
    struct core_buf b;
    core_buf_init(&b, (size_t)1 << 30);
    const struct plan_catalog *cat = r->catalog;
    char tmp[256], price[48];
    int wa = 0, wp = 0, wt = 0, wg = 0;
    long gpus = 0;
    for (size_t i = 0; i < r->nnodes; i++) {
        const struct plan_node *n = &r->nodes[i];
        wa = width(n->address) > wa ? width(n->address) : wa;
        wp = width(place_of(n, tmp, sizeof(tmp))) > wp ? width(tmp) : wp;
        wt = width(n->offer->instance_type) > wt ? width(n->offer->instance_type) : wt;
        wg = width(gpus_of(n, tmp, sizeof(tmp))) > wg ? width(tmp) : wg;
        gpus += n->offer->gpus;
    }
    size_t creates = r->nnodes - r->nkept;
    core_buf_addf(&b, "plan for stack '%s': %zu node%s, %ld GPU%s\n",
                  r->spec && r->spec->stack ? r->spec->stack : "", r->nnodes,
                  r->nnodes == 1 ? "" : "s", gpus, gpus == 1 ? "" : "s");
    if (cat)
        core_buf_addf(&b, "catalog: %s, prices as of %s, sha256 %.12s\n",
                      cat->name ? cat->name : "", cat->as_of ? cat->as_of : "", cat->sha256);
    if (r->nnodes)
        core_buf_addc(&b, '\n');
    for (size_t i = 0; i < r->nnodes; i++) {
        const struct plan_node *n = &r->nodes[i];
        char place[256], g[128];
        const char *mark = n->kept ? "=" : "+";
        core_buf_addf(&b, "  %s%s%s %-*s  %-*s  %-*s  %-*s  %-9s  $%s/h\n",
                      color && !n->kept ? GREEN : "", mark, color && !n->kept ? RESET : "", wa,
                      n->address, wp, place_of(n, place, sizeof(place)), wt,
                      n->offer->instance_type, wg, gpus_of(n, g, sizeof(g)),
                      n->spot ? "spot" : "on-demand",
                      plan_fmt_price(price, sizeof(price), n->hourly));
    }
    if (r->nbudgets) {
        int nw = 0;
        for (size_t i = 0; i < r->nbudgets; i++)
            nw = width(r->budgets[i].budget->name) > nw ? width(r->budgets[i].budget->name) : nw;
        core_buf_adds(&b, "\nbudgets:\n");
        for (size_t i = 0; i < r->nbudgets; i++)
            budget_line(&b, &r->budgets[i], nw);
    }
    char h[48], mo[48], cost[48], eg[48];
    core_buf_addf(&b, "\ntotal:    %s/h, %s a month (730 h)\n",
                  plan_fmt_usd(h, sizeof(h), r->hourly), plan_fmt_usd(mo, sizeof(mo), r->monthly));
    core_buf_addf(&b, "expected: %s over each workload's hours",
                  plan_fmt_usd(cost, sizeof(cost), r->total_cost));
    if (r->egress > 0)
        core_buf_addf(&b, ", egress %s included", plan_fmt_usd(eg, sizeof(eg), r->egress));
    core_buf_adds(&b, "\ngap:      ");
    gap_text(&b, r);
    core_buf_addf(&b, "\nplan: %zu to create, %zu to keep\n", creates, r->nkept);
    int rc = fputs(core_buf_str(&b), out) < 0 ? -1 : 0;
    core_buf_release(&b);
    return rc;
}

/* Money and hours in JSON: rounded to 1e-6, printed with 15 significant digits. */
static json_t *num(double v)
{
    double r = round(v * 1e6) / 1e6;
    if (r == 0)
        r = 0; /* no "-0.0" */
    return json_real(r);
}

/*
 * The nodes are written straight to the stream rather than built as a jansson tree: a
 * tree of a 300,000-node plan holds millions of small objects (gigabytes) and dumps
 * slowly. The bytes are the ones json_dumpf would write (JSON_INDENT(2),
 * JSON_REAL_PRECISION(15)): the same escapes, "%.15g" reals with ".0" added when they
 * look like integers, and the exponent without '+' or leading zeros.
 */
void plan_json_str(FILE *out, const char *s)
{
    fputc('"', out);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        /* The longest run that needs no escape, in one write. */
        const unsigned char *q = p;
        while (*q >= 0x20 && *q != '"' && *q != '\\')
            q++;
        if (q > p)
            fwrite(p, 1, (size_t)(q - p), out);
        if (!*q)
            break;
        switch (*q) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\b':
            fputs("\\b", out);
            break;
        case '\f':
            fputs("\\f", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        default:
            fprintf(out, "\\u%04X", *q);
        }
        p = q + 1;
    }
    fputc('"', out);
}

void plan_json_num(FILE *out, double v)
{
    double r = round(v * 1e6) / 1e6;
    if (r == 0)
        r = 0; /* no "-0.0" */
    char buf[64];
    int n = snprintf(buf, sizeof(buf) - 3, "%.15g", r);
    if (n < 0 || n >= (int)sizeof(buf) - 3)
        n = 0;
    buf[n] = '\0';
    if (!strchr(buf, '.') && !strchr(buf, 'e'))
        memcpy(buf + n, ".0", 3);
    char *e = strchr(buf, 'e');
    if (e) {
        char *start = e + 1, *end = e + 2;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start)
            memmove(start, end, strlen(end) + 1);
    }
    fputs(buf, out);
}

static void put_key(FILE *out, const char *key, bool first)
{
    fputs(first ? "\n      \"" : ",\n      \"", out);
    fputs(key, out);
    fputs("\": ", out);
}

static void put_node(FILE *out, const struct plan_node *n)
{
    const struct plan_offer *o = n->offer;
    fputs("{", out);
    put_key(out, "address", true);
    plan_json_str(out, n->address);
    put_key(out, "workload", false);
    plan_json_str(out, n->workload->name);
    put_key(out, "site", false);
    if (n->site)
        plan_json_str(out, n->site->name);
    else
        fputs("null", out);
    put_key(out, "index", false);
    if (n->index >= 0)
        fprintf(out, "%lld", (long long)n->index);
    else
        fputs("null", out);
    put_key(out, "action", false);
    plan_json_str(out, n->kept ? "keep" : "create");
    put_key(out, "cloud", false);
    plan_json_str(out, core_cloud_name(o->cloud));
    put_key(out, "region", false);
    plan_json_str(out, o->region);
    put_key(out, "zone", false);
    plan_json_str(out, o->zone ? o->zone : "");
    put_key(out, "instance_type", false);
    plan_json_str(out, o->instance_type);
    put_key(out, "gpu", false);
    plan_json_str(out, o->gpu);
    put_key(out, "gpus", false);
    fprintf(out, "%lld", (long long)o->gpus);
    put_key(out, "spot", false);
    fputs(n->spot ? "true" : "false", out);
    put_key(out, "hourly_usd", false);
    plan_json_num(out, n->hourly);
    put_key(out, "hours", false);
    plan_json_num(out, n->hours);
    put_key(out, "egress_usd", false);
    plan_json_num(out, n->egress);
    put_key(out, "cost_usd", false);
    plan_json_num(out, n->cost);
    fputs("\n    }", out);
}

int plan_render_json(const struct plan_result *r, FILE *out)
{
    json_t *root = json_object();
    long gpus = 0;
    for (size_t i = 0; i < r->nnodes; i++)
        gpus += r->nodes[i].offer->gpus;
    json_object_set_new(root, "format_version", json_integer(PLAN_JSON_VERSION));
    json_object_set_new(root, "stack",
                        json_string(r->spec && r->spec->stack ? r->spec->stack : ""));
    const struct plan_catalog *cat = r->catalog;
    json_t *c = json_object();
    json_object_set_new(c, "name", json_string(cat && cat->name ? cat->name : ""));
    json_object_set_new(c, "sha256", json_string(cat ? cat->sha256 : ""));
    json_object_set_new(c, "as_of", json_string(cat && cat->as_of ? cat->as_of : ""));
    json_object_set_new(root, "catalog", c);
    json_object_set_new(root, "solver", json_string(r->solver));
    json_t *t = json_object();
    json_object_set_new(t, "nodes", json_integer((json_int_t)r->nnodes));
    json_object_set_new(t, "gpus", json_integer(gpus));
    json_object_set_new(t, "create", json_integer((json_int_t)(r->nnodes - r->nkept)));
    json_object_set_new(t, "keep", json_integer((json_int_t)r->nkept));
    json_object_set_new(t, "hourly_usd", num(r->hourly));
    json_object_set_new(t, "monthly_usd", num(r->monthly));
    json_object_set_new(t, "cost_usd", num(r->total_cost));
    json_object_set_new(t, "egress_usd", num(r->egress));
    json_object_set_new(root, "totals", t);
    json_object_set_new(root, "lower_bound_usd", num(r->lower_bound));
    json_object_set_new(root, "gap", num(r->gap));
    json_object_set_new(root, "optimal", json_boolean(r->gap <= 0));
    json_t *budgets = json_array();
    for (size_t i = 0; i < r->nbudgets; i++) {
        const struct plan_budget_use *u = &r->budgets[i];
        json_t *bj = json_object();
        json_object_set_new(bj, "name", json_string(u->budget->name));
        json_object_set_new(bj, "hourly_usd", num(u->hourly));
        json_object_set_new(bj, "monthly_usd", num(u->monthly));
        json_object_set_new(bj, "hourly_cap_usd",
                            u->budget->has_hourly ? num(u->budget->hourly) : json_null());
        json_object_set_new(bj, "monthly_cap_usd",
                            u->budget->has_monthly ? num(u->budget->monthly) : json_null());
        json_array_append_new(budgets, bj);
    }
    json_object_set_new(root, "budgets", budgets);
    /* "nodes" comes last, as an empty array: everything before its "]" is jansson's, the
     * nodes are streamed in its place (put_node). */
    json_object_set_new(root, "nodes", json_array());
    char *head = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    json_decref(root);
    size_t len = head ? strlen(head) : 0;
    if (len < 4 || strcmp(head + len - 4, "[]\n}") != 0) {
        free(head);
        return -1;
    }
    fwrite(head, 1, len - 3, out);
    free(head);
    for (size_t i = 0; i < r->nnodes; i++) {
        fputs(i ? ",\n    " : "\n    ", out);
        put_node(out, &r->nodes[i]);
    }
    fputs(r->nnodes ? "\n  ]\n}\n" : "]\n}\n", out);
    return ferror(out) ? -1 : 0;
}
