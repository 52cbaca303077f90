/*
 * `gpuform verify ADDRESS...`'s engine (executor/reverify.h): asks running nodes to verify
 * themselves through their cloud's tags or metadata, reads the signed answers back from
 * their consoles, and marks the outcome in the state. Everything goes through the provider
 * vtable and executor/verify_frame.h; nothing connects to a node.
 */
#include "executor/reverify.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "executor/verify_frame.h"
#include "modules/provider.h"

#define POLL_MS     2000
#define POLL_MAX_MS 15000

const char *exec_reverify_status_name(enum exec_reverify_status s)
{
    return s == EXEC_REVERIFY_PASSED   ? "passed"
           : s == EXEC_REVERIFY_FAILED ? "failed"
                                       : "unverified";
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void nap_ms(double ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {(time_t)(ms / 1000), (long)((long long)ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Per node, while the run goes on. */
struct pending {
    struct prov *p;
    bool waiting;                   /* asked, not answered yet */
    double next;                    /* when to read its console again */
    unsigned delay_ms;              /* the wait after the next read */
    char last[700];                 /* what the last read found */
    char before[EXEC_FRAME_ID_HEX]; /* the last block on the console before the request */
};

static struct prov *prov_of(const struct exec_cloud *clouds, size_t n, const char *cloud)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(clouds[i].name, cloud))
            return clouds[i].prov;
    return NULL;
}

/* The node is left unverified, with why. */
static void unverified(FILE *log, struct exec_reverify_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void unverified(FILE *log, struct exec_reverify_node *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    n->status = EXEC_REVERIFY_UNVERIFIED;
    vsnprintf(n->detail, sizeof n->detail, fmt, ap);
    va_end(ap);
    fprintf(log, "%s: not verified: %s\n", n->address, n->detail);
}

/* Asks one node: it must run, and its cloud must take the request. */
static void ask(FILE *log, struct exec_reverify_node *n, struct pending *q)
{
    struct prov_instance d;
    struct prov_error pe;
    memset(&pe, 0, sizeof pe);
    char value[EXEC_VERIFY_REQUEST_VALUE], level[8];
    if (!q->p || !q->p->ops->request_verify)
        return unverified(log, n, "its cloud '%s' can't be asked to verify a running node",
                          n->cloud);
    if (q->p->ops->describe(q->p, n->region, n->cloud_id, &d, &pe) != 0)
        return unverified(log, n, "can't look at the instance: %s", pe.message);
    if (d.state != PROV_RUNNING)
        return unverified(log, n, "the instance is %s, not running", prov_state_name(d.state));
    if (exec_verify_request_new(n->level, value) != 0 ||
        exec_verify_request_parse(value, level, n->nonce) != 0)
        return unverified(log, n, "%s", "no randomness from OpenSSL for the request's nonce");
    char *text = NULL; /* what is there already: a bad block in it is not the answer */
    if (q->p->ops->console_output(q->p, n->region, n->cloud_id, &text, &pe) == 0 && text)
        exec_frame_last_id(text, strlen(text), n->address, q->before);
    free(text);
    if (q->p->ops->request_verify(q->p, n->region, n->cloud_id, value, &pe) != 0) {
        n->nonce[0] = '\0';
        return unverified(log, n, "the request could not be set: %s", pe.message);
    }
    q->waiting = true;
    fprintf(log, "%s: asked to verify %s (request %.8s...)\n", n->address, n->level, n->nonce);
}

/* The outcome of an authenticated answer (report `r`, taken) or of a bad block (why). */
static void settle(FILE *log, struct exec_reverify_node *n, char *r, size_t rlen, const char *why)
{
    struct exec_report_summary sum;
    n->report = r;
    if (exec_report_verdict(r, rlen, why, &sum, n->reason, sizeof n->reason, n->detail,
                            sizeof n->detail)) {
        n->status = EXEC_REVERIFY_PASSED;
        fprintf(log, "%s: verified %s: passed (%d checks, %.1f s)\n", n->address, sum.level,
                sum.checks, sum.seconds);
        return;
    }
    n->status = EXEC_REVERIFY_FAILED;
    fprintf(log, "%s: verification failed: %s\n", n->address, n->detail);
}

/* Reads one node's console once; settles it when its answer (or a bad block) is there. */
static void poll_one(const struct state *st, FILE *log, struct exec_reverify_node *n,
                     struct pending *q, unsigned max_ms)
{
    char *text = NULL;
    struct prov_error pe;
    memset(&pe, 0, sizeof pe);
    if (q->p->ops->console_output(q->p, n->region, n->cloud_id, &text, &pe) != 0) {
        snprintf(q->last, sizeof q->last, "console output: %s", pe.message);
        if (pe.cls == PROV_AUTH || pe.cls == PROV_INVALID || pe.cls == PROV_NOT_FOUND) {
            q->waiting = false;
            unverified(log, n, "can't read its console output: %s", pe.message);
        }
        return;
    }
    const struct state_node *sn = state_find(st, n->address);
    unsigned char key[EXEC_VERIFY_KEY_LEN];
    char *r = NULL, why[700] = "";
    size_t rlen = 0;
    enum exec_frame_status fs = EXEC_FRAME_NONE;
    if (sn && exec_verify_key(st->verify_secret, sn->token, key) == 0)
        fs = exec_frame_find_request(text ? text : "", text ? strlen(text) : 0, n->address, key,
                                     n->nonce, &r, &rlen, why, sizeof why);
    else
        snprintf(why, sizeof why, "the state has no key for it");
    OPENSSL_cleanse(key, sizeof key);
    char id[EXEC_FRAME_ID_HEX] = "";
    if (fs == EXEC_FRAME_BAD && q->before[0] &&
        exec_frame_last_id(text ? text : "", text ? strlen(text) : 0, n->address, id) &&
        !strcmp(id, q->before)) {
        fs = EXEC_FRAME_NONE; /* the bad block was there before the request: no answer yet */
        snprintf(why, sizeof why,
                 "no answer yet (the console's last report, from before the "
                 "request, is bad)");
    }
    free(text);
    if (fs == EXEC_FRAME_OK || fs == EXEC_FRAME_BAD) {
        q->waiting = false;
        settle(log, n, r, rlen, why);
        return;
    }
    snprintf(q->last, sizeof q->last, "%s", why);
    q->next = mono_s() + q->delay_ms / 1000.0;
    q->delay_ms = q->delay_ms > max_ms / 2 ? max_ms : q->delay_ms * 2;
}

int exec_reverify_run(const struct state *st, const struct exec_cloud *clouds, size_t nclouds,
                      struct exec_reverify_node *nodes, size_t nnodes,
                      const struct exec_reverify_options *o, char *err, size_t errlen)
{
    FILE *log = o->log ? o->log : stderr;
    if (!st->verify_secret[0]) {
        snprintf(err, errlen, "the state has no verify secret: no node of it carries the agent");
        return -1;
    }
    struct pending *q = calloc(nnodes ? nnodes : 1, sizeof *q);
    if (!q) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    unsigned first = o->poll_ms ? o->poll_ms : POLL_MS,
             max = o->poll_max_ms ? o->poll_max_ms : POLL_MAX_MS;
    double timeout = o->timeout_s > 0 ? o->timeout_s : 900; /* the longest level's default */
    for (size_t i = 0; i < nnodes && o->timeout_s <= 0; i++)
        if (!strcmp(nodes[i].level, "full"))
            timeout = 1800;
    for (size_t i = 0; i < nnodes; i++) { /* every request first: the nodes work in parallel */
        nodes[i].status = EXEC_REVERIFY_UNVERIFIED;
        q[i].p = prov_of(clouds, nclouds, nodes[i].cloud);
        q[i].delay_ms = first;
        snprintf(q[i].last, sizeof q[i].last, "no console output read yet");
        ask(log, &nodes[i], &q[i]);
        q[i].next = mono_s() + first / 1000.0;
    }
    double deadline = mono_s() + timeout;
    for (;;) {
        double now = mono_s(), soonest = deadline;
        bool any = false;
        for (size_t i = 0; i < nnodes; i++) {
            if (!q[i].waiting)
                continue;
            if (q[i].next <= now)
                poll_one(st, log, &nodes[i], &q[i], max);
            if (q[i].waiting) {
                any = true;
                soonest = q[i].next < soonest ? q[i].next : soonest;
            }
        }
        if (!any || mono_s() >= deadline)
            break;
        nap_ms((soonest - mono_s()) * 1000);
    }
    for (size_t i = 0; i < nnodes; i++)
        if (q[i].waiting) {
            unverified(log, &nodes[i],
                       "no verify report answering the request within %.0fs (%.600s); is "
                       "'gpuform verify --agent --watch' running on it?",
                       timeout, q[i].last);
        }
    free(q);
    return 0;
}

int exec_reverify_mark(struct state *st, struct exec_reverify_node *nodes, size_t nnodes,
                       exec_on_verify_fn on_verify, void *ctx, FILE *log)
{
    if (!log)
        log = stderr;
    int changed = 0;
    for (size_t i = 0; i < nnodes; i++) {
        struct exec_reverify_node *n = &nodes[i];
        if (n->status == EXEC_REVERIFY_UNVERIFIED)
            continue;
        struct state_node *sn = state_find(st, n->address);
        if (!sn || strcmp(sn->cloud_id, n->cloud_id)) {
            fprintf(log,
                    "%s: not recorded: the node was %s while it was verified (the state now "
                    "holds %s)\n",
                    n->address, sn ? "replaced" : "removed", sn ? sn->cloud_id : "no such node");
            continue;
        }
        enum state_verify v =
            n->status == EXEC_REVERIFY_PASSED ? STATE_VERIFY_PASSED : STATE_VERIFY_FAILED;
        bool taint = n->status == EXEC_REVERIFY_FAILED;
        char detail[1700];
        snprintf(detail, sizeof detail, "%s", n->detail);
        if (taint && on_verify) {
            struct state_node copy;
            if (!state_node_copy(&copy, sn))
                return -1;
            free(copy.verify_detail); /* the policy sees the node as failed, with its detail */
            copy.verify_detail = strdup(n->detail);
            copy.verify = STATE_VERIFY_FAILED;
            enum exec_verdict verdict = EXEC_VERDICT_REPLACE;
            char who[512] = "";
            int d = copy.verify_detail
                        ? on_verify(ctx, &copy, n->report, n->reason, &verdict, who, sizeof who)
                        : -1;
            state_node_release(&copy);
            if (d < 0)
                fprintf(log, "%s: on_verify failed (%s); the node is left tainted\n", n->address,
                        who[0] ? who : "out of memory");
            if (d == 0 && verdict == EXEC_VERDICT_ACCEPT) {
                snprintf(detail, sizeof detail, "accepted by %s: %s", who, n->detail);
                v = STATE_VERIFY_ACCEPTED;
                taint = false;
                fprintf(log, "%s: kept: %s accepted it\n", n->address, who);
            }
        }
        char *dup = strdup(detail);
        if (!dup)
            return -1;
        free(sn->verify_detail);
        sn->verify_detail = dup;
        sn->verify = v;
        sn->tainted |= taint;
        if (taint)
            fprintf(log, "%s: tainted: the next apply replaces it\n", n->address);
        n->recorded = true;
        changed++;
    }
    return changed;
}

void exec_reverify_release(struct exec_reverify_node *nodes, size_t nnodes)
{
    for (size_t i = 0; nodes && i < nnodes; i++) {
        free(nodes[i].report);
        nodes[i].report = NULL;
    }
}
