/*
 * `gpuform policy test DIR`: runs policies against fixture plans and compares their
 * findings with the expected ones, so teams unit-test their policies in their own CI
 * (OPA's `opa test`, Sentinel's `sentinel test`). docs/policies.md, "Testing policies".
 */
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "executor/state_override.h"
#include "lua/policy.h"
#include "lua/policy_offer.h"
#include "planner/plan.h"
#include "planner/plan_render.h"

#define MAX_FIXTURES      1000
#define MAX_FIXTURE_BYTES ((size_t)64 << 20)

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A fixture's policies, resolved against the fixture's directory. */
static char *resolve(const char *dir, const char *path)
{
    size_t n = strlen(dir) + strlen(path) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, path);
    return p;
}

/* Whether finding `f` matches the expected one `e` (level, address, message substring). */
static bool matches(const struct policy_finding *f, json_t *e)
{
    const char *level = json_string_value(json_object_get(e, "level"));
    const char *address = json_string_value(json_object_get(e, "address"));
    const char *message = json_string_value(json_object_get(e, "message"));
    const char *policy = json_string_value(json_object_get(e, "policy"));
    if (level && strcmp(level, policy_level_name(f->level)) != 0)
        return false;
    if (address ? !f->address || strcmp(address, f->address) != 0 : f->address != NULL)
        return false;
    if (message && !strstr(f->message, message))
        return false;
    if (policy && !strstr(f->policy, policy))
        return false;
    return true;
}

static void print_finding(const char *tag, const struct policy_finding *f)
{
    fprintf(stderr, "    %s %s%s%s%s: %s (%s)\n", tag, policy_level_name(f->level),
            f->address ? " on '" : "", f->address ? f->address : "", f->address ? "'" : "",
            f->message, f->policy);
}

/* Runs one fixture; prints what differs. 0 pass, 1 fail, -1 broken fixture. */
static int run_fixture(const char *dir, const char *file)
{
    char *path = resolve(dir, file);
    json_error_t je;
    json_t *fx = path ? json_load_file(path, JSON_REJECT_DUPLICATES, &je) : NULL;
    json_t *policies = json_object_get(fx, "policies"), *plan = json_object_get(fx, "plan"),
           *expect = json_object_get(fx, "expect");
    int rc = -1;
    if (!fx) {
        fprintf(stderr, "%s:%d:%d: error: not a JSON fixture: %s\n", path ? path : file, je.line,
                je.column, je.text);
        free(path);
        return -1;
    }
    /* "workload" and "offers" in place of "plan" and "expect": cli/policy_offers.c */
    bool offers = !plan && json_object_get(fx, "offers");
    if (!json_is_array(policies) || json_array_size(policies) == 0 ||
        (!offers && (!json_is_object(plan) || !json_is_array(expect)))) {
        fprintf(stderr,
                "%s: error: a fixture is an object with \"policies\" (a list of files), "
                "\"plan\" (an object) and \"expect\" (a list of findings)\n",
                path);
        json_decref(fx);
        free(path);
        return -1;
    }
    size_t np = json_array_size(policies);
    const char **names = calloc(np, sizeof *names);
    char **paths = calloc(np, sizeof *paths);
    struct core_diags d;
    core_diags_init(&d, 50);
    struct policy_set *ps = NULL;
    struct policy_findings found = {0};
    bool ok_names = names && paths;
    for (size_t i = 0; ok_names && i < np; i++) {
        names[i] = json_string_value(json_array_get(policies, i));
        paths[i] = names[i] ? resolve(dir, names[i]) : NULL;
        ok_names = paths[i] != NULL;
    }
    if (!ok_names) {
        fprintf(stderr, "%s: error: \"policies\" must list file names (strings)\n", path);
    } else if (offers) {
        rc = cli_policy_offer_fixture(file, path, names, (const char *const *)paths, np, fx);
    } else if (policy_load(names, (const char *const *)paths, np, NULL, &d, &ps) != 0 ||
               policy_validate_plan(ps, plan, &found, &d) != 0) {
        core_diags_sort(&d);
        core_diags_render(&d, CORE_DIAG_TEXT, false, stderr);
        fprintf(stderr, "FAIL %s: a policy failed to run\n", file);
        rc = 1;
    } else {
        /* each expected finding takes the first unclaimed finding it matches */
        bool *claimed = calloc(found.n + 1, sizeof *claimed);
        size_t missing = 0, extra = 0;
        for (size_t e = 0; claimed && e < json_array_size(expect); e++) {
            size_t k = 0;
            while (k < found.n &&
                   (claimed[k] || !matches(&found.items[k], json_array_get(expect, e))))
                k++;
            if (k < found.n) {
                claimed[k] = true;
                continue;
            }
            if (missing++ == 0)
                fprintf(stderr, "FAIL %s\n", file);
            char *want = json_dumps(json_array_get(expect, e), JSON_COMPACT);
            fprintf(stderr, "    missing  %s\n", want ? want : "?");
            free(want);
        }
        for (size_t k = 0; claimed && k < found.n; k++)
            if (!claimed[k]) {
                if (missing == 0 && extra == 0)
                    fprintf(stderr, "FAIL %s\n", file);
                extra++;
                print_finding("unexpected", &found.items[k]);
            }
        if (!claimed) {
            fprintf(stderr, "%s: error: out of memory\n", file);
        } else {
            rc = missing || extra ? 1 : 0;
            if (rc == 0)
                printf("ok   %s (%zu finding%s)\n", file, found.n, found.n == 1 ? "" : "s");
        }
        free(claimed);
    }
    policy_findings_release(&found);
    policy_set_free(ps);
    core_diags_release(&d);
    for (size_t i = 0; paths && i < np; i++)
        free(paths[i]);
    free(paths);
    free(names);
    json_decref(fx);
    free(path);
    return rc;
}

void cli_offer_judge_free(struct policy_judge *judge)
{
    const char *env = getenv("GPUFORM_POLICY_STATS");
    if (judge && env && *env && strcmp(env, "0") != 0) {
        struct policy_judge_stats st;
        policy_judge_stats(judge, &st);
        fprintf(stderr,
                "policies: %zu offer judgements, %zu hook calls run, %zu answers from the "
                "cache, %zu rejected\n",
                st.judged, st.lua_calls, st.cache_hits, st.rejected);
    }
    policy_judge_free(judge);
}

/* Whether --override-policy names this policy: its path as the spec writes it, or the
 * file name without directory and ".lua". */
static bool overridden(const char *const *overrides, size_t n, const char *policy)
{
    const char *base = strrchr(policy, '/');
    base = base ? base + 1 : policy;
    size_t stem = strlen(base);
    if (stem > 4 && strcmp(base + stem - 4, ".lua") == 0)
        stem -= 4;
    for (size_t i = 0; i < n; i++)
        if (strcmp(overrides[i], policy) == 0 ||
            (strlen(overrides[i]) == stem && strncmp(overrides[i], base, stem) == 0))
            return true;
    return false;
}

/*
 * Runs the stack's policies on the plan: hard findings and soft ones not overridden are
 * errors, advisory ones and overridden soft ones warnings. Returns 0 when the plan may go
 * ahead.
 */
int cli_plan_policies(const struct spec *spec, struct policy_set *ps, const struct plan_result *res,
                      const char *const *overrides, size_t noverrides,
                      struct state_override *let_through, struct core_diags *d)
{
    if (!ps || !policy_defines(ps, "validate_plan")) /* no need to hand over the plan */
        return 0;
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    json_t *doc = NULL;
    int rc = -1;
    if (mem && plan_render_json(res, mem) == 0 && fclose(mem) == 0) {
        mem = NULL;
        doc = json_loadb(text, len, 0, NULL);
    }
    if (mem)
        fclose(mem);
    struct policy_findings f = {0};
    if (!doc || policy_add_workloads(doc, spec) != 0) {
        core_diag_add(d, CORE_SEV_ERROR, "out-of-memory", NULL,
                      "out of memory handing the plan to the policies");
    } else if (policy_validate_plan(ps, doc, &f, d) == 0) {
        rc = 0;
        for (size_t i = 0; i < f.n; i++) {
            const struct policy_finding *pf = &f.items[i];
            bool fails =
                pf->level == POLICY_HARD ||
                (pf->level == POLICY_SOFT && !overridden(overrides, noverrides, pf->policy));
            const char *code = pf->level == POLICY_HARD   ? "policy-hard"
                               : pf->level == POLICY_SOFT ? "policy-soft"
                                                          : "policy-advisory";
            /* located at the policy's entry under `hooks:` */
            const struct core_loc *at = NULL;
            for (size_t h = 0; h < spec->nhooks; h++)
                if (strcmp(spec->hooks[h].path, pf->policy) == 0)
                    at = &spec->hooks[h].loc;
            struct core_diag *dg =
                core_diag_add(d, fails ? CORE_SEV_ERROR : CORE_SEV_WARNING, code, at,
                              "policy '%s'%s%s%s: %s", pf->policy, pf->address ? " on '" : "",
                              pf->address ? pf->address : "", pf->address ? "'" : "", pf->message);
            if (pf->level == POLICY_SOFT)
                core_diag_note(dg, NULL,
                               fails ? "a soft policy: --override-policy %s lets the plan through"
                                     : "a soft policy, overridden with --override-policy",
                               pf->policy);
            if (fails)
                rc = -1;
            struct state_override_finding of = {pf->policy,
                                                (char *)(uintptr_t)policy_level_name(pf->level),
                                                pf->message, pf->address};
            if (!fails && pf->level == POLICY_SOFT && let_through &&
                state_override_add_finding(let_through, &of) != 0) {
                core_diag_add(d, CORE_SEV_ERROR, "out-of-memory", NULL,
                              "out of memory recording an overridden finding");
                rc = -1;
            }
        }
    }
    policy_findings_release(&f);
    json_decref(doc);
    free(text);
    return rc;
}

int cmd_policy(int argc, char **argv)
{
    const struct cli_command *cmd = cli_find("policy");
    if (argc < 2)
        return cli_usage_error(cmd, "missing subcommand (test)");
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fputs(cmd->usage, stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "test") != 0)
        return cli_usage_error(cmd, "unknown subcommand '%s' (test)", argv[1]);
    if (argc != 3)
        return cli_usage_error(cmd, "policy test takes one directory of fixtures");
    const char *dir = argv[2];
    DIR *dp = opendir(dir);
    if (!dp) {
        fprintf(stderr, "gpuform policy test: cannot open '%s': %s\n", dir, strerror(errno));
        return CLI_ERROR;
    }
    char *files[MAX_FIXTURES];
    size_t n = 0;
    struct dirent *e;
    bool too_many = false;
    while ((e = readdir(dp))) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0) {
            if (n == MAX_FIXTURES) {
                too_many = true;
                break;
            }
            files[n] = strdup(e->d_name);
            if (files[n])
                n++;
        }
    }
    closedir(dp);
    qsort(files, n, sizeof *files, cmp_str);
    size_t pass = 0, fail = 0, broken = 0;
    for (size_t i = 0; i < n; i++) {
        int r = run_fixture(dir, files[i]);
        pass += r == 0;
        fail += r == 1;
        broken += r < 0;
        free(files[i]);
    }
    if (too_many)
        fprintf(stderr, "gpuform policy test: more than %d fixtures in '%s'; ran the first %d\n",
                MAX_FIXTURES, dir, MAX_FIXTURES);
    if (n == 0) {
        fprintf(stderr, "gpuform policy test: no fixtures (*.json) in '%s'\n", dir);
        return CLI_ERROR;
    }
    printf("%zu fixture%s: %zu passed, %zu failed%s%s\n", n, n == 1 ? "" : "s", pass, fail + broken,
           broken ? " (" : "", broken ? "some could not be read)" : "");
    return fail || broken ? CLI_ERROR : CLI_OK;
}
