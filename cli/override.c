/*
 * Policy overrides as plan and apply record them: who is running (the CI's own variable, or
 * the login at the host), the CI run's address, the checked reason, and the record handed
 * to the state, the plan JSON and the messages. docs/policies.md, "Overrides".
 */
#include "cli/override.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "executor/backend.h"

/* Copies `s` into out[len], cut to 200 bytes, with control characters and non-ASCII bytes
 * as '?': what the environment says never garbles a message or the state. */
static void clean_copy(char *out, size_t len, const char *s)
{
    size_t n = 0;
    for (; s[n] && n + 1 < len && n < 200; n++)
        out[n] = (unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7e ? '?' : s[n];
    out[n] = '\0';
}

void cli_override_actor(char *who, size_t wholen, const char **source)
{
    static const char *const vars[] = {"GPUFORM_ACTOR", "GITHUB_ACTOR", "GITLAB_USER_LOGIN",
                                       "BUILDKITE_BUILD_CREATOR"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) {
            clean_copy(who, wholen, v);
            *source = vars[i];
            return;
        }
    }
    struct state_lock_info me; /* the lock's holder record: the login name and the host */
    char at[sizeof me.user + sizeof me.host + 2];
    if (state_lock_info_self(&me, "", "") == 0)
        snprintf(at, sizeof at, "%s@%s", me.user, me.host);
    else
        snprintf(at, sizeof at, "unknown");
    clean_copy(who, wholen, at);
    *source = "login";
}

bool cli_override_run_url(char *url, size_t len)
{
    const char *server = getenv("GITHUB_SERVER_URL"), *repo = getenv("GITHUB_REPOSITORY"),
               *run = getenv("GITHUB_RUN_ID"), *gitlab = getenv("CI_JOB_URL"),
               *buildkite = getenv("BUILDKITE_BUILD_URL");
    char raw[600];
    if (server && *server && repo && *repo && run && *run)
        snprintf(raw, sizeof raw, "%.200s/%.200s/actions/runs/%.40s", server, repo, run);
    else if (gitlab && *gitlab)
        snprintf(raw, sizeof raw, "%.400s", gitlab);
    else if (buildkite && *buildkite)
        snprintf(raw, sizeof raw, "%.400s", buildkite);
    else
        return false;
    size_t n = 0;
    for (; raw[n] && n + 1 < len; n++)
        url[n] = (unsigned char)raw[n] <= 0x20 || (unsigned char)raw[n] > 0x7e ? '?' : raw[n];
    url[n] = '\0';
    return true;
}

const char *cli_override_reason_problem(const char *reason)
{
    bool blank = true;
    for (const unsigned char *p = (const unsigned char *)reason; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return "it holds a control character (a newline, a tab): write it on one line";
        if (*p != ' ')
            blank = false;
    }
    if (blank)
        return "it is empty: say why the policy may be overridden";
    if (strlen(reason) > CLI_OVERRIDE_REASON_MAX)
        return "it is longer than 1000 bytes";
    json_t *s = json_string(reason); /* NULL for text that is not UTF-8 */
    json_decref(s);
    return s ? NULL : "it is not UTF-8 text";
}

int cli_override_begin(struct state_override *o, const char *const *policies, size_t npolicies,
                       const char *reason)
{
    char who[256], at[32], url[512];
    const char *source;
    cli_override_actor(who, sizeof who, &source);
    time_t now = time(NULL);
    struct tm tm;
    strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    bool has_url = cli_override_run_url(url, sizeof url);
    free(o->at);
    free(o->who);
    free(o->who_source);
    free(o->reason);
    free(o->run_url);
    for (size_t i = 0; i < o->npolicies; i++)
        free(o->policies[i]);
    free(o->policies);
    o->at = strdup(at);
    o->who = strdup(who);
    o->who_source = strdup(source);
    o->reason = reason ? strdup(reason) : NULL;
    o->run_url = has_url ? strdup(url) : NULL;
    o->policies = npolicies ? calloc(npolicies, sizeof *o->policies) : NULL;
    o->npolicies = 0;
    bool ok = o->at && o->who && o->who_source && (!reason || o->reason) &&
              (!has_url || o->run_url) && (!npolicies || o->policies) && state_uuid(o->id) == 0;
    for (size_t i = 0; ok && i < npolicies; i++)
        ok = (o->policies[o->npolicies++] = strdup(policies[i])) != NULL;
    return ok ? 0 : -1;
}

json_t *cli_override_plan_json(const struct state_override *o)
{
    json_t *v = state_override_to_json(o);
    if (!v)
        return NULL;
    /* a plan records no override yet: it has no id, time or serial of its own */
    json_object_del(v, "id");
    json_object_del(v, "at");
    json_object_del(v, "serial");
    if (!o->reason && json_object_set_new(v, "reason", json_null()) != 0) {
        json_decref(v);
        return NULL;
    }
    return v;
}

void cli_override_print(const struct state_override *o, FILE *f)
{
    fprintf(f,
            "gpuform: --override-policy lets %zu soft finding%s through; override by %s (from "
            "%s)%s%s%s\n",
            o->nfindings, o->nfindings == 1 ? "" : "s", o->who, o->who_source,
            o->reason ? ": \"" : ", with no --override-reason yet", o->reason ? o->reason : "",
            o->reason ? "\"" : "");
}
