/*
 * Saved plans (`plan --out FILE`, `apply FILE`, `show FILE`): the file format, the digests
 * that tell whether a plan is still the plan of its inputs, and the rendering for people.
 * docs/state.md ("Saved plans") documents the format.
 */
#include "cli/saved_plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <sys/stat.h>

#include "cli/build_info.h"
#include "cli/override.h"
#include "core/digest.h"
#include "core/file.h"
#include "executor/diff.h"
#include "executor/diff_render.h"
#include "executor/state.h"
#include "parser/spec.h"
#include "planner/plan_render.h"

#define MAX_SAVED_PLAN ((size_t)512 << 20)

/* ---- the environment log ---- */

void cli_envlog_init(struct cli_envlog *l)
{
    core_buf_init(&l->b, (size_t)64 << 20);
    l->failed = false;
}

void cli_envlog_release(struct cli_envlog *l)
{
    core_buf_release(&l->b);
}

const char *cli_envlog_getenv(const char *name, void *ud)
{
    struct cli_envlog *l = ud;
    const char *v = getenv(name);
    if ((v ? core_buf_addf(&l->b, "%s=%s\n", name, v) : core_buf_addf(&l->b, "%s unset\n", name)) !=
        0)
        l->failed = true;
    return v;
}

/* ---- digests ---- */

/* A field of the digest: its bytes then a NUL, so that no two sequences of fields run
 * together into the same bytes. */
static void md_field(EVP_MD_CTX *md, const void *data, size_t len)
{
    EVP_DigestUpdate(md, data, len);
    EVP_DigestUpdate(md, "", 1);
}

static int md_file(EVP_MD_CTX *md, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "can't read hook file '%s': %s", path, strerror(errno));
        return -1;
    }
    char buf[65536];
    size_t n, total = 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        EVP_DigestUpdate(md, buf, n);
        total += n;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "can't read hook file '%s'", path);
        return -1;
    }
    char len[32];
    int k = snprintf(len, sizeof len, "%zu", total);
    md_field(md, len, (size_t)k);
    return 0;
}

int cli_stack_digest(const struct spec *spec, const struct cli_envlog *env, const char *const *vars,
                     size_t nvars, char out[65], char *err, size_t errlen)
{
    out[0] = '\0';
    if (!spec->sha256[0]) {
        snprintf(err, errlen, "the stack's files have no digest (SHA-256 failed)");
        return -1;
    }
    if (env && env->failed) {
        snprintf(err, errlen, "out of memory recording the environment the stack reads");
        return -1;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(md);
        snprintf(err, errlen, "SHA-256 failed (OpenSSL)");
        return -1;
    }
    static const char tag[] = "gpuform-stack-digest-1";
    md_field(md, tag, sizeof tag - 1);
    md_field(md, spec->sha256, 64);
    const char *e = env ? core_buf_str(&env->b) : "";
    md_field(md, e, strlen(e));
    for (size_t i = 0; i < nvars; i++)
        md_field(md, vars[i], strlen(vars[i]));
    md_field(md, "hooks", 5);
    for (size_t i = 0; i < spec->nhooks; i++) {
        md_field(md, spec->hooks[i].path, strlen(spec->hooks[i].path));
        if (md_file(md, spec->hooks[i].resolved, err, errlen) != 0) {
            EVP_MD_CTX_free(md);
            return -1;
        }
    }
    int rc = core_sha256_final_hex(md, out);
    EVP_MD_CTX_free(md);
    if (rc != 0)
        snprintf(err, errlen, "SHA-256 failed (OpenSSL)");
    return rc;
}

int cli_changes_digest(const struct diff *df, char out[65])
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    int rc = -1;
    if (mem && diff_write_resource_changes(df, mem) == 0 && fclose(mem) == 0) {
        mem = NULL;
        rc = core_sha256_hex(text, len, out);
    }
    if (mem)
        fclose(mem);
    free(text);
    return rc;
}

/* ---- writing ---- */

static json_t *strings(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

int saved_plan_write(const char *path, const struct saved_plan_meta *m, const struct diff *df,
                     json_t *plan_doc, char *err, size_t errlen)
{
    char created[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    char phrase[128];
    diff_cost_phrase(df, phrase, sizeof phrase);
    const char *stack = json_string_value(json_object_get(plan_doc, "stack"));
    json_t *state = m->state ? json_pack("{s:s, s:I}", "lineage", m->state->lineage, "serial",
                                         (json_int_t)m->state->serial)
                             : json_null();
    json_t *doc = json_pack(
        "{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:o, s:{s:o, s:s}, s:{s:s, s:f}, s:o, s:o, s:o, "
        "s:o, s:s, s:{s:I, s:I, s:I, s:I, s:f, s:f, s:s}, s:o}",
        "format", SAVED_PLAN_FORMAT, "format_version", SAVED_PLAN_VERSION, "gpuform_version",
        GPUFORM_VERSION, "created", created, "stack", stack ? stack : "", "stack_path",
        m->stack_path, "stack_sha256", m->stack_sha256, "variables", strings(m->vars, m->nvars),
        "catalog", "path", m->catalog_path ? json_string(m->catalog_path) : json_null(), "sha256",
        m->catalog_sha256, "solver", "name", m->solver, "time_limit_s", m->time_limit_s, "targets",
        strings(m->targets, m->ntargets), "policy_overrides", strings(m->overrides, m->noverrides),
        "override_reason", m->override_reason ? json_string(m->override_reason) : json_null(),
        "state", state, "changes_sha256", m->changes_sha256, "summary", "create",
        (json_int_t)df->ncreate, "replace", (json_int_t)df->nreplace, "update",
        (json_int_t)df->nupdate, "delete", (json_int_t)df->ndelete, "hourly_before_usd",
        df->hourly_before, "hourly_after_usd", df->hourly_after, "monthly_estimate", phrase, "plan",
        plan_doc);
    /* only when there are some, so plans without one are written as before */
    if (doc && df->nverify &&
        json_object_set_new(json_object_get(doc, "summary"), "verify",
                            json_integer((json_int_t)df->nverify)) != 0) {
        json_decref(doc);
        doc = NULL;
    }
    if (!doc) {
        snprintf(err, errlen, "out of memory writing the saved plan");
        return -1;
    }
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!text) {
        snprintf(err, errlen, "out of memory writing the saved plan");
        return -1;
    }
    size_t len = strlen(text);
    text[len] = '\0';
    char *with_nl = realloc(text, len + 2);
    if (with_nl) {
        text = with_nl;
        text[len++] = '\n';
        text[len] = '\0';
    }
    int e = core_write_atomic(path, text, len, 0600);
    free(text);
    if (e)
        snprintf(err, errlen, "can't write '%s': %s", path, strerror(e));
    return e ? -1 : 0;
}

/* ---- reading ---- */

bool saved_plan_sniff(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return false;
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    char head[256];
    size_t n = fread(head, 1, sizeof head - 1, f);
    fclose(f);
    head[n] = '\0';
    const char *p = head;
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
        p++;
    return *p == '{' && strstr(p, "\"format\"") != NULL;
}

static int bad(char *err, size_t errlen, const char *path, const char *what)
{
    snprintf(err, errlen,
             "'%s' is not a usable saved plan: %s (make it again with 'gpuform plan --out')", path,
             what);
    return -1;
}

/* The string member `key` of `o` (NULL when `nullable` and null); false when wrong. */
static bool get_str(json_t *o, const char *key, bool nullable, const char **out)
{
    json_t *v = json_object_get(o, key);
    if (nullable && json_is_null(v)) {
        *out = NULL;
        return true;
    }
    *out = json_string_value(v);
    return *out != NULL;
}

static bool get_strings(json_t *o, const char *key, const char **out, size_t max, size_t *n)
{
    json_t *a = json_object_get(o, key), *v;
    size_t i;
    if (!json_is_array(a) || json_array_size(a) > max)
        return false;
    *n = 0;
    json_array_foreach(a, i, v)
    {
        if (!json_is_string(v))
            return false;
        out[(*n)++] = json_string_value(v);
    }
    return true;
}

static bool is_hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

int saved_plan_read(const char *path, struct saved_plan *sp, char *err, size_t errlen)
{
    memset(sp, 0, sizeof *sp);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        snprintf(err, errlen, "can't read saved plan '%s': %s", path, strerror(errno));
        return -1;
    }
    if ((size_t)sb.st_size > MAX_SAVED_PLAN)
        return bad(err, errlen, path, "larger than 512 MiB");
    json_error_t je;
    sp->doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!sp->doc) {
        char what[256];
        snprintf(what, sizeof what, "line %d: %s", je.line, je.text);
        return bad(err, errlen, path, what);
    }
    json_t *d = sp->doc;
    const char *format = json_string_value(json_object_get(d, "format"));
    if (!format || strcmp(format, SAVED_PLAN_FORMAT) != 0) {
        saved_plan_release(sp);
        return bad(err, errlen, path, "its \"format\" is not \"" SAVED_PLAN_FORMAT "\"");
    }
    json_t *ver = json_object_get(d, "format_version");
    if (!json_is_integer(ver) || json_integer_value(ver) != SAVED_PLAN_VERSION) {
        saved_plan_release(sp);
        return bad(err, errlen, path,
                   "it was written by another gpuform (format_version is not 1)");
    }
    json_t *cat = json_object_get(d, "catalog"), *solver = json_object_get(d, "solver");
    json_t *state = json_object_get(d, "state"), *sum = json_object_get(d, "summary");
    json_t *tl = json_object_get(solver, "time_limit_s");
    const char *what = NULL;
    if (!get_str(d, "created", false, &sp->created) ||
        !get_str(d, "gpuform_version", false, &sp->gpuform_version) ||
        !get_str(d, "stack", false, &sp->stack) ||
        !get_str(d, "stack_path", false, &sp->stack_path) || !*sp->stack_path)
        what = "the stack it was made of is not recorded";
    else if (!get_str(d, "stack_sha256", false, &sp->stack_sha256) || !is_hex64(sp->stack_sha256) ||
             !get_str(d, "changes_sha256", false, &sp->changes_sha256) ||
             !is_hex64(sp->changes_sha256))
        what = "a digest is missing or malformed";
    else if (!json_is_object(cat) || !get_str(cat, "path", true, &sp->catalog_path) ||
             !get_str(cat, "sha256", false, &sp->catalog_sha256) || !is_hex64(sp->catalog_sha256))
        what = "the catalog it was made over is not recorded";
    else if (!json_is_object(solver) || !get_str(solver, "name", false, &sp->solver) ||
             (strcmp(sp->solver, "fast") && strcmp(sp->solver, "exact")) || !json_is_number(tl))
        what = "the solver is not recorded";
    else if (!get_strings(d, "variables", sp->vars, 256, &sp->nvars) ||
             !get_strings(d, "targets", sp->targets, 256, &sp->ntargets) ||
             !get_strings(d, "policy_overrides", sp->overrides, 64, &sp->noverrides))
        what = "variables, targets or policy_overrides are not lists of strings";
    else if (json_object_get(d, "override_reason") && /* absent in plans made before it */
             (!get_str(d, "override_reason", true, &sp->override_reason) ||
              (sp->override_reason && cli_override_reason_problem(sp->override_reason))))
        what = "override_reason is neither null nor a reason (one line of text)";
    else if (!json_is_null(state) &&
             (!json_is_object(state) || !get_str(state, "lineage", false, &sp->lineage) ||
              !json_is_integer(json_object_get(state, "serial")) ||
              json_integer_value(json_object_get(state, "serial")) < 0))
        what = "the state it was made against is not recorded";
    else if (!json_is_object(sum) || !json_is_integer(json_object_get(sum, "create")) ||
             !json_is_integer(json_object_get(sum, "replace")) ||
             !json_is_integer(json_object_get(sum, "delete")) ||
             !json_is_array(json_object_get(json_object_get(d, "plan"), "resource_changes")))
        what = "the changes are missing";
    if (what) {
        saved_plan_release(sp);
        return bad(err, errlen, path, what);
    }
    sp->time_limit_s = json_number_value(tl);
    sp->has_state = !json_is_null(state);
    if (sp->has_state)
        sp->serial = (uint64_t)json_integer_value(json_object_get(state, "serial"));
    sp->ncreate = (size_t)json_integer_value(json_object_get(sum, "create"));
    sp->nreplace = (size_t)json_integer_value(json_object_get(sum, "replace"));
    sp->ndelete = (size_t)json_integer_value(json_object_get(sum, "delete"));
    sp->nupdate = (size_t)json_integer_value(json_object_get(sum, "update"));
    sp->nverify = (size_t)json_integer_value(json_object_get(sum, "verify")); /* 0: absent */
    return 0;
}

void saved_plan_release(struct saved_plan *sp)
{
    json_decref(sp->doc);
    memset(sp, 0, sizeof *sp);
}

/* ---- rendering ---- */

static void where(json_t *p, char *buf, size_t n)
{
    const char *zone = json_string_value(json_object_get(p, "zone"));
    snprintf(buf, n, "%s/%s%s%s %s%s", json_string_value(json_object_get(p, "cloud")),
             json_string_value(json_object_get(p, "region")), zone && *zone ? "/" : "",
             zone ? zone : "", json_string_value(json_object_get(p, "instance_type")),
             json_is_true(json_object_get(p, "spot")) ? " (spot)" : "");
}

int saved_plan_render_text(const struct saved_plan *sp, bool color, FILE *out)
{
    fprintf(out, "Saved plan of stack '%s' (%s), made %s by gpuform %s\n", sp->stack,
            sp->stack_path, sp->created, sp->gpuform_version);
    if (sp->has_state)
        fprintf(out, "against state %s serial %llu", sp->lineage, (unsigned long long)sp->serial);
    else
        fprintf(out, "against no state (the stack's first apply)");
    fprintf(out, "; catalog %s, sha256 %.12s\n", sp->catalog_path ? sp->catalog_path : "bundled",
            sp->catalog_sha256);
    for (size_t i = 0; i < sp->ntargets; i++)
        fprintf(out, "%s--target %s", i ? " " : "only ", sp->targets[i]);
    if (sp->ntargets)
        fputc('\n', out);
    json_t *pov = json_object_get(json_object_get(sp->doc, "plan"), "policy_override");
    for (size_t i = 0; i < sp->noverrides; i++)
        fprintf(out, "%s--override-policy %s", i ? " " : "", sp->overrides[i]);
    const char *pwho = json_string_value(json_object_get(pov, "who"));
    size_t nlet = json_array_size(json_object_get(pov, "findings"));
    if (pwho)
        fprintf(out, ": %zu soft finding%s let through, planned by %s", nlet, nlet == 1 ? "" : "s",
                pwho);
    if (sp->override_reason)
        fprintf(out, " (\"%s\")", sp->override_reason);
    if (sp->noverrides)
        fputc('\n', out);
    fputc('\n', out);
    json_t *rc = json_object_get(json_object_get(sp->doc, "plan"), "resource_changes"), *c;
    size_t i;
    json_array_foreach(rc, i, c)
    {
        const char *action = json_string_value(json_object_get(c, "action"));
        if (!action || !strcmp(action, "no-op"))
            continue;
        const char *mark = !strcmp(action, "create")   ? "+"
                           : !strcmp(action, "delete") ? "-"
                           : !strcmp(action, "update") ? "~"
                           : !strcmp(action, "verify") ? "~"
                                                       : "-/+";
        const char *col = !color                      ? ""
                          : !strcmp(action, "create") ? "\033[32m"
                          : !strcmp(action, "delete") ? "\033[31m"
                                                      : "\033[33m";
        char before[256] = "", after[256] = "";
        json_t *b = json_object_get(c, "before"), *a = json_object_get(c, "after");
        if (json_is_object(b))
            where(b, before, sizeof before);
        if (json_is_object(a) && strcmp(action, "update") && strcmp(action, "verify"))
            where(a, after, sizeof after); /* an update or a verify stays where it is */
        const char *reason = json_string_value(json_object_get(c, "reason"));
        fprintf(out, "  %s%-3s%s %s  %s%s%s", col, mark, color ? "\033[0m" : "",
                json_string_value(json_object_get(c, "address")), before,
                *before && *after && strcmp(before, after) ? " -> " : "",
                *after && strcmp(before, after) ? after : "");
        if (reason && *reason)
            fprintf(out, "  # %s", reason);
        fputc('\n', out);
    }
    json_t *sum = json_object_get(sp->doc, "summary");
    char verifies[48] = "";
    if (sp->nverify)
        snprintf(verifies, sizeof verifies, ", %zu to verify", sp->nverify);
    fprintf(out,
            "\n%zu to create, %zu to replace, %zu to update%s, %zu to destroy; monthly estimate "
            "%s\n",
            sp->ncreate, sp->nreplace, sp->nupdate, verifies, sp->ndelete,
            json_string_value(json_object_get(sum, "monthly_estimate"))
                ? json_string_value(json_object_get(sum, "monthly_estimate"))
                : "unknown");
    return ferror(out) ? -1 : 0;
}
