/*
 * cloudsim's verify agent: what booting a node that a gated apply made would do. The boot
 * script carries gpuform's agent (executor/verify_frame.h); here the real verify module runs
 * on this host instead of the script (never a client's shell script), one node at a time on
 * the world's own thread so that no request waits for it, and its report, framed and signed
 * with the node's key, is appended to the node's console output. A new re-verification
 * request on a running node (its gpuform-verify-request tag or metadata item) runs it again,
 * as the node's `gpuform verify --agent --watch` would. Configured faults make a chosen zone
 * or type fail, forge its signature or say nothing (docs/cloudsim.md).
 */
#include "modules/cloudsim/sim.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "executor/verify_frame.h"
#include "modules/verify/verify.h"

#define MAX_QUEUED 256 /* launches past this many waiting get no agent (and say so) */

struct job {
    char id[40];
    struct exec_agent_req req;
    char *fault; /* the config's fault for the instance's zone and type, or NULL */
    char zone[64], type[64];
    char nonce[EXEC_VERIFY_NONCE_HEX]; /* the request this run answers; "" at boot */
};

struct sim_agent {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    struct job *jobs; /* a ring would do; a queue of at most MAX_QUEUED shifted is fine */
    size_t njobs;
};

/* The boot script as plain text: GCE's startup-script item, or the user data (base64 as
 * EC2 and ARM carry it). malloc'd, NULL when there is none. */
static char *script_of(const struct sim_tag *meta, size_t nmeta, const char *user_data)
{
    for (size_t i = 0; i < nmeta; i++)
        if (!strcmp(meta[i].key, "startup-script"))
            return strdup(meta[i].value);
    if (!user_data)
        return NULL;
    size_t n = strlen(user_data);
    if (n % 4 || n > (size_t)1 << 20)
        return NULL;
    unsigned char *out = malloc(n / 4 * 3 + 1);
    int len = out ? EVP_DecodeBlock(out, (const unsigned char *)user_data, (int)n) : -1;
    if (len < 0) {
        free(out);
        return NULL;
    }
    for (size_t k = n; k > 0 && user_data[k - 1] == '='; k--)
        len--; /* EVP_DecodeBlock counts the padding */
    out[len] = '\0';
    return (char *)out;
}

static const char *fault_for(const struct sim_config *c, const char *zone, const char *type)
{
    for (size_t i = 0; i < c->nverify_faults; i++) {
        const struct sim_verify_fault *f = &c->verify_faults[i];
        if ((!*f->zone || !strcmp(f->zone, zone)) && (!*f->type || !strcmp(f->type, type)))
            return f->fault;
    }
    return NULL;
}

/* Runs the checks for one job; the console text to append (malloc'd), or NULL. */
static char *run_job(const struct job *j, unsigned mem_mib)
{
    struct verify_options o = {.level = strcmp(j->req.level, "full") ? VERIFY_QUICK : VERIFY_FULL};
    unsigned bit = 0;
    if (j->fault && verify_fault_parse(j->fault, &bit) == 0)
        o.faults |= bit;
    char why[300];
    const struct verify_backend *b = verify_backend_find("cuda");
    if (b->probe(why, sizeof why) != 0)
        b = verify_backend_find("cpu");
    if (!strcmp(b->name, "cpu")) { /* one simulated device, small: each node takes ~0.5 s */
        o.expected_gpus = 1;
        o.mem_bytes = (uint64_t)(mem_mib ? mem_mib : 8) << 20;
    }
    struct verify_report rep;
    verify_report_init(&rep);
    char err[512] = "", *json = NULL, *out = NULL;
    snprintf(rep.request, sizeof rep.request, "%s", j->nonce);
    if (verify_run(b, &o, &rep, err, sizeof err) == 0)
        json = verify_report_json(&rep);
    verify_report_release(&rep);
    if (!json) {
        if (asprintf(&out, "gpuform-verify agent failed: %s\n", *err ? err : "out of memory") < 0)
            out = NULL;
        return out;
    }
    unsigned char key[EXEC_VERIFY_KEY_LEN];
    memcpy(key, j->req.key, sizeof key);
    if (j->fault && !strcmp(j->fault, "forge") && RAND_bytes(key, sizeof key) != 1)
        memset(key, 0x5a, sizeof key); /* any other key will do */
    out = exec_frame_write(j->req.address, key, json, strlen(json));
    OPENSSL_cleanse(key, sizeof key);
    free(json);
    char *end =
        out && j->fault && !strcmp(j->fault, "truncate") ? strstr(out, "gpuform-verify mac") : NULL;
    if (end)
        *end = '\0'; /* the node "crashed" halfway through its report */
    return out;
}

static void *agent_main(void *arg)
{
    struct sim_world *w = arg;
    struct sim_agent *a = w->agent;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (!a->stop && a->njobs == 0)
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->stop)
            break;
        struct job j = a->jobs[0];
        memmove(a->jobs, a->jobs + 1, (a->njobs - 1) * sizeof *a->jobs);
        a->njobs--;
        pthread_mutex_unlock(&a->mu);
        bool silent = j.fault && !strcmp(j.fault, "silent");
        char *text = silent ? NULL : run_job(&j, w->conf.verify_mem_mib);
        OPENSSL_cleanse(&j.req, sizeof j.req);
        pthread_mutex_lock(&w->lock);
        struct sim_instance *inst = sim_world_find(w, j.id);
        char *all = NULL;
        if (inst && text && inst->agent_output &&
            asprintf(&all, "%s%s", inst->agent_output, text) < 0)
            all = NULL;
        if (inst && text && (all || !inst->agent_output)) { /* appended, as a console is */
            free(inst->agent_output);
            inst->agent_output = all ? all : text;
            if (!all)
                text = NULL;
        }
        pthread_mutex_unlock(&w->lock);
        free(text);
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* Queues job `j` (its key wiped here), starting the agent's thread on first use. */
static void enqueue(struct sim_world *w, struct job *j)
{
    if (!w->agent) {
        struct sim_agent *a = calloc(1, sizeof *a);
        if (a)
            a->jobs = calloc(MAX_QUEUED, sizeof *a->jobs);
        if (!a || !a->jobs) {
            free(a);
            OPENSSL_cleanse(&j->req, sizeof j->req);
            return;
        }
        pthread_mutex_init(&a->mu, NULL);
        pthread_cond_init(&a->cv, NULL);
        w->agent = a;
        if (pthread_create(&a->th, NULL, agent_main, w) != 0) {
            w->agent = NULL;
            pthread_mutex_destroy(&a->mu);
            pthread_cond_destroy(&a->cv);
            free(a->jobs);
            free(a);
            OPENSSL_cleanse(&j->req, sizeof j->req);
            return;
        }
    }
    struct sim_agent *a = w->agent;
    pthread_mutex_lock(&a->mu);
    if (a->njobs < MAX_QUEUED)
        a->jobs[a->njobs++] = *j;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
    OPENSSL_cleanse(&j->req, sizeof j->req);
}

/* A job for `inst` from its boot script; -1 when the script carries no agent. */
static int job_for(struct sim_world *w, const struct sim_instance *inst, char *script,
                   struct job *j)
{
    memset(j, 0, sizeof *j);
    int rc = exec_agent_parse(script, &j->req);
    if (script) {
        OPENSSL_cleanse(script, strlen(script));
        free(script);
    }
    if (rc != 0)
        return -1;
    snprintf(j->id, sizeof j->id, "%s", inst->id);
    j->fault = (char *)(uintptr_t)fault_for(&w->conf, inst->zone, inst->type);
    return 0;
}

void sim_agent_boot(struct sim_world *w, const struct sim_instance *inst,
                    const struct sim_run_request *req)
{
    struct job j;
    if (!w->conf.verify_agent_off &&
        job_for(w, inst, script_of(req->meta, req->nmeta, req->user_data), &j) == 0)
        enqueue(w, &j);
}

const char *sim_agent_request_of(const struct sim_instance *inst)
{
    const struct sim_tag *t = inst->cloud == CORE_CLOUD_GCP ? inst->meta : inst->tags;
    size_t n = inst->cloud == CORE_CLOUD_GCP ? inst->nmeta : inst->ntags;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i].key, EXEC_VERIFY_REQUEST_KEY))
            return t[i].value;
    return NULL;
}

void sim_agent_request(struct sim_world *w, const struct sim_instance *inst, const char *before)
{
    const char *now = sim_agent_request_of(inst);
    char level[8], nonce[EXEC_VERIFY_NONCE_HEX];
    if (w->conf.verify_agent_off || inst->state != SIM_RUNNING || !now ||
        (before && !strcmp(before, now)) || exec_verify_request_parse(now, level, nonce) != 0)
        return; /* no watcher runs, nothing new, or a value the watcher would not take */
    struct job j;
    if (job_for(w, inst, script_of(inst->meta, inst->nmeta, inst->user_data), &j) != 0)
        return;
    snprintf(j.req.level, sizeof j.req.level, "%s", level);
    snprintf(j.nonce, sizeof j.nonce, "%s", nonce);
    enqueue(w, &j);
}

void sim_agent_stop(struct sim_world *w)
{
    struct sim_agent *a = w ? w->agent : NULL;
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stop = true;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->th, NULL);
    OPENSSL_cleanse(a->jobs, MAX_QUEUED * sizeof *a->jobs);
    free(a->jobs);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a);
    w->agent = NULL;
}
