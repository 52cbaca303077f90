/*
 * The policies' on_verify for the engines that judge a failed verification (apply's gate,
 * `gpuform verify ADDRESS`): the node as the state records it and the report, handed to
 * lua/policy, its verdict read back (docs/policies.md).
 */
#include "cli/cli.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "executor/state.h"
#include "lua/policy.h"

static void first_diag(struct core_diags *d, char *out, size_t n)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    out[0] = '\0';
    if (!mem)
        return;
    core_diags_render(d, CORE_DIAG_TEXT, false, mem);
    fclose(mem);
    snprintf(out, n, "%.*s", (int)strcspn(text ? text : "", "\n"), text ? text : "");
    free(text);
}

int cli_on_verify(void *ctx, const struct state_node *node, const char *report, const char *reason,
                  enum exec_verdict *v, char *who, size_t wholen)
{
    const struct cli_verify_policy *r = ctx;
    if (!r->ps || !policy_defines(r->ps, "on_verify"))
        return 1;
    struct state one = {
        .stack = r->st->stack, .nodes = (struct state_node *)(uintptr_t)node, .nnodes = 1};
    memcpy(one.lineage, r->st->lineage, sizeof one.lineage);
    size_t len;
    char *text = state_serialize(&one, &len);
    json_t *doc = text ? json_loadb(text, len, 0, NULL) : NULL;
    free(text);
    json_t *n = json_array_get(json_object_get(doc, "nodes"), 0);
    json_t *rep = report ? json_loads(report, 0, NULL) : NULL;
    if (!json_is_object(rep)) {
        json_decref(rep);
        rep = json_pack("{s:s}", "status", "missing");
    }
    if (!n || !rep || json_object_set_new(rep, "reason", json_string(reason)) != 0) {
        json_decref(doc);
        json_decref(rep);
        snprintf(who, wholen, "out of memory");
        return -1;
    }
    struct core_diags d;
    core_diags_init(&d, 20);
    char verdict[16], by[256];
    int rc = policy_on_verify(r->ps, n, rep, verdict, sizeof verdict, by, sizeof by, &d);
    json_decref(doc);
    json_decref(rep);
    if (rc != 0) {
        first_diag(&d, who, wholen);
        rc = -1;
    } else if (!verdict[0]) {
        rc = 1;
    } else {
        *v = !strcmp(verdict, "accept")  ? EXEC_VERDICT_ACCEPT
             : !strcmp(verdict, "taint") ? EXEC_VERDICT_TAINT
                                         : EXEC_VERDICT_REPLACE;
        snprintf(who, wholen, "policy '%s'", by);
    }
    core_diags_release(&d);
    return rc;
}
