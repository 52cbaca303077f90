/*
 * The apply engine (executor/apply.h): a pool of workers executes the diff's changes through
 * the providers; every mutation is journalled before it is sent; every finished change is
 * written to the state at once under one mutex; capacity and quota errors block the offer
 * and re-plan that node over the catalog without the blocked offers. Also the replay of a
 * journal a killed run left behind.
 */
#include "executor/apply.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "core/cloud.h"
#include "executor/journal.h"
#include "executor/verify_frame.h"

#define DEFAULT_USER_DATA                                                                          \
    "#!/bin/sh\n"                                                                                  \
    "# gpuform node bootstrap: marks the node as managed by gpuform.\n"                            \
    "mkdir -p /etc/gpuform && echo managed-by-gpuform > /etc/gpuform/node\n"

/* The state's structs hold `char *`; borrowed strings are stored there only for the
 * length of a state_put or state_block_put, which copy them. */
#define MUT(s) ((char *)(uintptr_t)(s))

enum task_kind {
    TASK_CREATE,
    TASK_DELETE,
    TASK_REPLACE_DELETE_FIRST, /* delete the old node, then create the new one */
    TASK_REPLACE_CREATE_FIRST, /* services: create the new node, then delete the old one */
    TASK_UPDATE,               /* set the workload's labels on the instance's tags */
    TASK_VERIFY, /* finish the verification a run left pending: read the node's report */
};

/* What a delete needs of the old node, copied: the state changes under the workers. */
struct old_node {
    char *address, *cloud_id, *cloud, *region;
    struct state_node copy; /* for renaming it aside (create-first replace) */
};

struct task {
    enum task_kind kind;
    const char *address;                  /* borrowed from the diff */
    enum spec_kind wkind;                 /* the workload's kind (creates) */
    const struct spec_workload *workload; /* creates and updates: its labels; NULL for deletes */
    struct plan_offer offer; /* where to create: a copy, strings borrowed from the catalog */
    bool spot;
    double hourly;
    struct old_node old;   /* deletes and replaces */
    int ncreates;          /* creates sent for this address in this run */
    double busy_since;     /* when the call in flight was sent (0: none); under log_mu */
    const char *busy_what; /* "creating", "destroying" */
    int busy_reports;      /* "still ..." lines printed for the call in flight */
    int group;             /* its workload's index in exec.groups; -1: none */
    int nverify_failed;    /* its nodes that failed verification in this run */
    bool finish_verify;    /* verifies and updates: the node's verification is pending */
};

/* A workload's changes in this run: its deletes wait until its creates are done, so that a
 * node leaves only once the ones that take its place exist (a service never dips). */
struct group {
    const char *name; /* the address before '[' (borrowed) */
    size_t len;
    size_t pending; /* creates and replaces not finished; under state_mu */
    size_t failed;  /* ... that failed; under state_mu */
    bool service;
};

struct exec {
    struct exec_input in;
    struct exec_options o;
    const char *image, *user_data;
    FILE *log;
    pthread_mutex_t state_mu;   /* the state and its writes */
    pthread_mutex_t journal_mu; /* journal appends */
    pthread_mutex_t log_mu;
    pthread_mutex_t plan_mu; /* failover re-plans, one at a time */
    pthread_mutex_t hook_mu; /* o.on_verify, one call at a time */
    atomic_int stop;         /* no new work: exec_stop, or a fatal error */
    atomic_size_t next;      /* the next task to take */
    struct task *tasks;
    size_t ntasks;
    uint64_t serial0; /* the state's serial when the run began (part of every token) */
    struct exec_result res;
    double started;          /* now_s() when the run began */
    atomic_size_t nfinished; /* tasks finished, failed or not (the live status line) */
    atomic_size_t nfailed;
    pthread_cond_t tick_cv; /* wakes the progress ticker to end it; under log_mu */
    bool done;              /* the workers are finished; under log_mu */
    struct group *groups;
    size_t ngroups;
    pthread_cond_t group_cv; /* a group's pending count fell; under state_mu */
    bool override_noted;     /* in.override is in the state; under state_mu */
};

/* ---- small helpers ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t unix_now(void)
{
    return (int64_t)time(NULL);
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The live status line (o.live), drawn after the last event line; under log_mu. */
static void status_line(struct exec *x)
{
    size_t inflight = 0;
    for (size_t i = 0; i < x->ntasks; i++)
        inflight += x->tasks[i].busy_since > 0;
    size_t failed = atomic_load(&x->nfailed);
    long s = (long)(now_s() - x->started);
    fprintf(x->log, "\r\033[K[%zu of %zu done, %zu in flight%s", atomic_load(&x->nfinished),
            x->ntasks, inflight, failed ? ", " : "");
    if (failed)
        fprintf(x->log, "%zu failed", failed);
    fprintf(x->log, ", %ldm%02lds]", s / 60, s % 60);
    fflush(x->log);
}

static void say(struct exec *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct exec *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&x->log_mu);
    if (x->o.live)
        fputs("\r\033[K", x->log); /* the event replaces the status line, which follows it */
    vfprintf(x->log, fmt, ap);
    fputc('\n', x->log);
    if (x->o.live && !x->done)
        status_line(x);
    fflush(x->log);
    pthread_mutex_unlock(&x->log_mu);
    va_end(ap);
}

static const char *class_name(enum prov_error_class c)
{
    static const char *const names[] = {"ok",   "capacity", "quota",     "throttled",
                                        "auth", "invalid",  "transient", "not-found"};
    return (unsigned)c < sizeof names / sizeof *names ? names[c] : "?";
}

/* The first fatal error wins; stops new work. */
static void fatal(struct exec *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fatal(struct exec *x, const char *fmt, ...)
{
    pthread_mutex_lock(&x->state_mu);
    if (!x->res.error[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(x->res.error, sizeof x->res.error, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&x->state_mu);
    atomic_store(&x->stop, 1);
}

static struct prov *find_prov(const struct exec_cloud *clouds, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(clouds[i].name, name) == 0)
            return clouds[i].prov;
    return NULL;
}

void exec_token(const char *lineage, const char *address, uint64_t serial, int k, char out[48])
{
    char buf[1024], hex[65];
    int n =
        snprintf(buf, sizeof buf, "%s/%s/%llu.%d", lineage, address, (unsigned long long)serial, k);
    if (n < 0 || (size_t)n >= sizeof buf)
        n = (int)sizeof buf - 1;
    if (plan_sha256_hex(buf, (size_t)n, hex) != 0)
        memset(hex, '0', sizeof hex - 1), hex[64] = 0;
    snprintf(out, 48, "gf-%.40s", hex);
}

/* Writes the state, serial +1. Call with state_mu held. */
static int write_state_locked(struct state_backend *b, struct state *st, struct state_err *err)
{
    return state_save(b, st, err);
}

/*
 * The engine's state write: with `change` (this write records a change made in a cloud),
 * the run's policy override goes into the state in the same write, and every later write
 * keeps its serial current; before the first change it stays out, so a run that changes
 * nothing records no override. Call with state_mu held.
 */
static int exec_write_locked(struct exec *x, bool change, struct state_err *err)
{
    struct state *st = x->in.state;
    if (x->in.override && (change || x->override_noted)) {
        if (state_override_record(st, x->in.override, st->serial + 1) != 0)
            return state_fail(err, "out of memory recording the policy override");
        x->override_noted = true;
    }
    return write_state_locked(x->in.backend, st, err);
}

static int save_as(struct exec *x, bool change)
{
    struct state_err err;
    pthread_mutex_lock(&x->state_mu);
    int rc = exec_write_locked(x, change, &err);
    pthread_mutex_unlock(&x->state_mu);
    if (rc != 0)
        fatal(x, "%s", err.msg);
    return rc;
}

static int save(struct exec *x)
{
    return save_as(x, false);
}

int exec_save_now(struct exec *x, struct state_err *err)
{
    pthread_mutex_lock(&x->state_mu);
    int rc = exec_write_locked(x, false, err);
    pthread_mutex_unlock(&x->state_mu);
    return rc;
}

/* The run's policy override, journalled before its first intent (exec_replay records it
 * when it settles a change of the run). */
static int journal_override(struct exec *x)
{
    char *line = journal_encode_override(x->in.override);
    struct state_err err;
    int rc = line ? x->in.backend->ops->journal_append(x->in.backend, line, strlen(line), &err)
                  : state_fail(&err, "out of memory writing the journal");
    free(line);
    if (rc != 0)
        fatal(x, "%s", err.msg);
    return rc;
}

void exec_stop(struct exec *x)
{
    atomic_store(&x->stop, 1);
    pthread_mutex_lock(&x->state_mu);
    x->res.interrupted = true;
    pthread_mutex_unlock(&x->state_mu);
}

static int journal(struct exec *x, const struct journal_rec *rec)
{
    char *line = journal_encode(rec);
    struct state_err err;
    int rc = -1;
    if (line) {
        pthread_mutex_lock(&x->journal_mu);
        rc = x->in.backend->ops->journal_append(x->in.backend, line, strlen(line), &err);
        pthread_mutex_unlock(&x->journal_mu);
        free(line);
    } else {
        state_fail(&err, "out of memory writing the journal");
    }
    if (rc != 0)
        fatal(x, "%s", err.msg);
    return rc;
}

static struct state_placement offer_placement(const struct plan_offer *o, bool spot,
                                              const char *zone)
{
    return (struct state_placement){.cloud = MUT(core_cloud_name(o->cloud)),
                                    .region = MUT(o->region),
                                    .zone = MUT((zone ? zone : o->zone)),
                                    .instance_type = MUT(o->instance_type),
                                    .gpu = MUT(o->gpu),
                                    .gpus = o->gpus,
                                    .spot = spot};
}

static const char *where(const struct plan_offer *o, bool spot, char *buf, size_t len)
{
    snprintf(buf, len, "%s %s %s%s", core_cloud_name(o->cloud), *o->zone ? o->zone : o->region,
             o->instance_type, spot ? " spot" : "");
    return buf;
}

/* The zone to ask the cloud for: the offer's when it is a zone name of its region
 * ("us-east-1a"); NULL (the cloud picks) for a regional offer or a zone id ("use1-az1",
 * which EC2's Placement.AvailabilityZone does not take). */
static const char *api_zone(const struct plan_offer *o)
{
    size_t n = strlen(o->region);
    return *o->zone && strncmp(o->zone, o->region, n) == 0 && o->zone[n] ? o->zone : NULL;
}

/* ---- the filtered catalog ---- */

/* Whether a healthy node of the state runs on this offer's market (a zone-less offer covers
 * its region's zones): a block stops new placements there, never moves a node that runs. */
static bool occupied(const struct state *st, const char *cloud, const struct plan_offer *o,
                     bool spot)
{
    for (size_t i = 0; i < st->nnodes; i++) {
        const struct state_node *n = &st->nodes[i];
        const struct state_placement *p = &n->placement;
        if (n->status == STATE_RUNNING && !n->tainted && n->verify != STATE_VERIFY_FAILED &&
            p->spot == spot && !strcmp(p->cloud, cloud) && !strcmp(p->region, o->region) &&
            (!*o->zone || !strcmp(p->zone, o->zone)) && !strcmp(p->instance_type, o->instance_type))
            return true;
    }
    return false;
}

struct plan_catalog *exec_catalog_unblocked(const struct plan_catalog *cat, const struct state *st,
                                            int64_t now)
{
    struct plan_catalog *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    core_arena_init(&c->arena, 0);
    c->name = cat->name;
    c->as_of = cat->as_of;
    memcpy(c->sha256, cat->sha256, sizeof c->sha256);
    c->offers = core_arena_alloc(&c->arena, (cat->noffers ? cat->noffers : 1) * sizeof *c->offers);
    if (!c->offers) {
        plan_catalog_free(c);
        return NULL;
    }
    for (size_t i = 0; i < cat->noffers; i++) {
        struct plan_offer o = cat->offers[i];
        const char *cloud = core_cloud_name(o.cloud);
        /* blocked: closed to new nodes; a market where nodes run stays for them alone */
        if (st && o.ondemand >= 0 &&
            state_blocked(st, cloud, o.region, o.zone, o.instance_type, false, now)) {
            if (occupied(st, cloud, &o, false))
                o.blocked_ondemand = true;
            else
                o.ondemand = -1;
        }
        if (st && o.spot >= 0 &&
            state_blocked(st, cloud, o.region, o.zone, o.instance_type, true, now)) {
            if (occupied(st, cloud, &o, true))
                o.blocked_spot = true;
            else
                o.spot = -1;
        }
        if (o.ondemand >= 0 || o.spot >= 0)
            c->offers[c->noffers++] = o;
    }
    return c;
}

/*
 * The next-best placement for task `t` after its offer was blocked: the catalog without
 * the blocked offers, every other node kept where it is (the plan's placement, or where
 * this run already moved it). 0 with t->offer/spot/hourly changed, -1 when none exists.
 */
static int replan(struct exec *x, struct task *t, char *why, size_t whylen)
{
    pthread_mutex_lock(&x->plan_mu);
    const struct plan_result *plan = x->in.plan;
    pthread_mutex_lock(&x->state_mu);
    struct plan_catalog *cat = exec_catalog_unblocked(x->in.catalog, x->in.state, unix_now());
    pthread_mutex_unlock(&x->state_mu);
    struct plan_current *cur = calloc(plan->nnodes + 1, sizeof *cur);
    size_t ncur = 0;
    int rc = -1;
    snprintf(why, whylen, "out of memory");
    if (!cat || !cur)
        goto done;
    for (size_t i = 0; i < plan->nnodes; i++) {
        const struct plan_node *pn = &plan->nodes[i];
        if (strcmp(pn->address, t->address) == 0)
            continue;
        const struct plan_offer *o = pn->offer;
        bool spot = pn->spot;
        for (size_t k = 0; k < x->ntasks; k++)
            if (x->tasks[k].kind != TASK_DELETE && strcmp(x->tasks[k].address, pn->address) == 0)
                o = &x->tasks[k].offer, spot = x->tasks[k].spot;
        cur[ncur++] = (struct plan_current){.address = pn->address,
                                            .cloud = o->cloud,
                                            .region = o->region,
                                            .zone = o->zone,
                                            .instance_type = o->instance_type,
                                            .spot = spot};
    }
    struct core_diags d;
    core_diags_init(&d, 10);
    struct plan_options po = {
        .solver = PLAN_SOLVER_FAST, .current = cur, .ncurrent = ncur, .judge = x->in.judge};
    struct plan_result *res = NULL;
    if (plan_solve(x->in.spec, cat, &po, &d, &res) != 0) {
        snprintf(why, whylen, "no other placement meets the stack's rules%s%s", d.n ? ": " : "",
                 d.n ? d.items[0].message : "");
    } else {
        for (size_t i = 0; i < res->nnodes; i++) {
            if (strcmp(res->nodes[i].address, t->address) != 0)
                continue;
            t->offer = *res->nodes[i].offer; /* strings borrowed from x->in.catalog */
            t->spot = res->nodes[i].spot;
            t->hourly = res->nodes[i].hourly;
            rc = 0;
        }
        if (rc != 0)
            snprintf(why, whylen, "the re-plan has no node '%s'", t->address);
    }
    plan_result_free(res);
    core_diags_release(&d);
done:
    free(cur);
    plan_catalog_free(cat);
    pthread_mutex_unlock(&x->plan_mu);
    return rc;
}

/* ---- progress: "still creating... [30s elapsed]" ---- */

#define TICK_S 10 /* how often calls in flight are reported */

/* Marks the call in flight for task t (what NULL: it returned). */
static void busy(struct exec *x, struct task *t, const char *what)
{
    pthread_mutex_lock(&x->log_mu);
    t->busy_what = what;
    t->busy_since = what ? now_s() : 0;
    t->busy_reports = 0;
    pthread_mutex_unlock(&x->log_mu);
}

/* Each time a call has been in flight another TICK_S seconds, one line for it (the ticker
 * looks once a second). */
static void *ticker(void *arg)
{
    struct exec *x = arg;
    pthread_mutex_lock(&x->log_mu);
    while (!x->done) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&x->tick_cv, &x->log_mu, &until);
        double now = now_s();
        for (size_t i = 0; !x->done && i < x->ntasks; i++) {
            struct task *t = &x->tasks[i];
            if (t->busy_since > 0 && now - t->busy_since >= TICK_S * (t->busy_reports + 1) &&
                ++t->busy_reports)
                fprintf(x->log, "%s%s: still %s... [%.0fs elapsed]\n", x->o.live ? "\r\033[K" : "",
                        t->address, t->busy_what, now - t->busy_since);
        }
        if (x->o.live && !x->done)
            status_line(x);
        fflush(x->log);
    }
    pthread_mutex_unlock(&x->log_mu);
    return NULL;
}

/* ---- verification gating (docs/verify.md, "Gated apply") ---- */

static int do_delete(struct exec *x, struct task *t, struct old_node *old);
static int old_copy(struct old_node *o, const struct state_node *n);
static void old_release(struct old_node *o);
static bool makes_nodes(const struct task *t);

enum { GATE_KEEP, GATE_FAIL, GATE_REPLACE };

static enum spec_verify task_level(const struct task *t)
{
    return t->workload ? t->workload->verify : SPEC_VERIFY_NONE;
}

static void wipe_free(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

/* The node key of the create sent with `token` (the state's secret and the token); 0, or -1
 * when the state has no secret. Wipe the key after use. */
static int node_key(struct exec *x, const char *token, unsigned char key[EXEC_VERIFY_KEY_LEN])
{
    pthread_mutex_lock(&x->state_mu);
    int rc = exec_verify_key(x->in.state->verify_secret, token, key);
    pthread_mutex_unlock(&x->state_mu);
    return rc;
}

/* The boot script of a create sent with `token`: for a verified workload, the agent's part
 * added (malloc'd, holding the key: wipe_free it); NULL when the node is not verified, or
 * on failure (*failed set, fatal called). */
static char *boot_script(struct exec *x, const struct task *t, const char *token, bool *failed)
{
    *failed = false;
    enum spec_verify lv = task_level(t);
    if (lv == SPEC_VERIFY_NONE)
        return NULL;
    unsigned char key[EXEC_VERIFY_KEY_LEN];
    int krc = node_key(x, token, key);
    char *s = krc == 0 ? exec_agent_script(x->user_data, t->address, spec_verify_name(lv),
                                           core_cloud_name(t->offer.cloud), key)
                       : NULL;
    OPENSSL_cleanse(key, sizeof key);
    if (!s) {
        *failed = true;
        fatal(x, "%s: can't write its verify agent's boot script: %s", t->address,
              krc ? "the state has no verify secret"
                  : "out of memory, or an address the shell can't take quoted");
    }
    return s;
}

/* A stack whose nodes are verified needs a secret in its state before the first create is
 * sent, so that a run that dies mid-create can still check the node's report. */
static int ensure_secret(struct exec *x)
{
    bool need = false;
    for (size_t i = 0; i < x->ntasks && !need; i++)
        need = makes_nodes(&x->tasks[i]) && task_level(&x->tasks[i]) != SPEC_VERIFY_NONE;
    if (!need || x->in.state->verify_secret[0])
        return 0;
    if (exec_verify_secret_new(x->in.state->verify_secret) != 0) {
        fatal(x, "no randomness from OpenSSL for the stack's verify secret");
        return -1;
    }
    return save(x);
}

/* Sets what the state records of the node `id` at t's address, and writes the state. */
static void mark(struct exec *x, const struct task *t, const char *id, enum state_verify v,
                 const char *detail, bool taint, bool failed)
{
    struct state_err err;
    int rc = 0;
    pthread_mutex_lock(&x->state_mu);
    struct state_node *n = state_find(x->in.state, t->address);
    if (n && strcmp(n->cloud_id, id) == 0) {
        char *d = strdup(detail);
        if (d) {
            free(n->verify_detail);
            n->verify_detail = d;
            n->verify = v;
            n->tainted |= taint;
            if (failed)
                n->status = STATE_FAILED;
            rc = write_state_locked(x->in.backend, x->in.state, &err);
        } else {
            rc = state_fail(&err, "out of memory recording a verification");
        }
    }
    pthread_mutex_unlock(&x->state_mu);
    if (rc != 0)
        fatal(x, "%s", err.msg);
}

static void count(struct exec *x, size_t *field)
{
    pthread_mutex_lock(&x->state_mu);
    (*field)++;
    pthread_mutex_unlock(&x->state_mu);
}

/* Sleeps `ms`, waking early when the run stops. */
static void nap(struct exec *x, unsigned ms)
{
    for (unsigned slept = 0; slept < ms && !atomic_load(&x->stop); slept += 100)
        sleep_ms(ms - slept < 100 ? ms - slept : 100);
}

/* Whether the instance is gone (the console of a live one may not be served yet). */
static bool gone(struct prov *p, const struct task *t, const char *id)
{
    struct prov_instance d;
    struct prov_error pe;
    if (p->ops->describe(p, t->offer.region, id, &d, &pe) != 0)
        return pe.cls == PROV_NOT_FOUND;
    return d.state == PROV_TERMINATED || d.state == PROV_SHUTTING_DOWN;
}

/*
 * Reads the node's console until its report comes, a bad one is found, or the time is up
 * (`deadline`, now_s() time: the console is read at least once; `within` says it in a
 * failure: "within 900s"). 0 with *report set (malloc'd), 1 failed (why[] says why), 2
 * interrupted, -1 fatal (the console can't be read with these credentials: fatal called).
 */
static int collect(struct exec *x, struct task *t, struct prov *p, const char *id,
                   const unsigned char *key, double deadline, const char *within, char **report,
                   size_t *rlen, char *why, size_t whylen)
{
    unsigned delay = x->o.verify_poll_ms;
    char last[700] = "no console output yet";
    int rc;
    busy(x, t, "verifying");
    for (;;) {
        if (atomic_load(&x->stop)) {
            rc = 2;
            break;
        }
        char *text = NULL;
        struct prov_error pe;
        memset(&pe, 0, sizeof pe);
        if (p->ops->console_output(p, t->offer.region, id, &text, &pe) == 0) {
            enum exec_frame_status st =
                exec_frame_find(text ? text : "", text ? strlen(text) : 0, t->address, key, report,
                                rlen, last, sizeof last);
            free(text);
            if (st == EXEC_FRAME_OK || st == EXEC_FRAME_BAD) {
                rc = st == EXEC_FRAME_OK ? 0 : 1;
                snprintf(why, whylen, "%s", last);
                break;
            }
        } else if (pe.cls == PROV_AUTH || pe.cls == PROV_INVALID) {
            fatal(x, "%s: can't read its console output, so it can't be verified: %s", t->address,
                  pe.message);
            rc = -1;
            break;
        } else if (pe.cls == PROV_NOT_FOUND && gone(p, t, id)) {
            snprintf(why, whylen, "the instance went away before it reported");
            rc = 1;
            break;
        } else {
            snprintf(last, sizeof last, "console output: %s", pe.message);
        }
        double left = deadline - now_s();
        if (left <= 0) {
            snprintf(why, whylen, "no verify report %s (%s)", within, last);
            rc = 1;
            break;
        }
        nap(x, delay < left * 1000 ? delay : (unsigned)(left * 1000) + 1);
        delay = delay > x->o.verify_poll_max_ms / 2 ? x->o.verify_poll_max_ms : delay * 2;
    }
    busy(x, t, NULL);
    return rc;
}

/* Asks o.on_verify about node `id` of task t (see exec_on_verify_fn): the node as the state
 * records it, with verify failed and `detail`, as it will be recorded. */
static int decide(struct exec *x, const struct task *t, const char *id, const char *report,
                  const char *reason, const char *detail, enum exec_verdict *v, char *who,
                  size_t wholen)
{
    *v = EXEC_VERDICT_REPLACE;
    if (!x->o.on_verify)
        return 1;
    struct state_node copy;
    bool have = false;
    pthread_mutex_lock(&x->state_mu);
    struct state_node *n = state_find(x->in.state, t->address);
    if (n && strcmp(n->cloud_id, id) == 0)
        have = state_node_copy(&copy, n);
    pthread_mutex_unlock(&x->state_mu);
    char *d = have ? strdup(detail) : NULL;
    if (d) { /* not "pending" (or "none"): the outcome it is asked about */
        free(copy.verify_detail);
        copy.verify_detail = d;
        copy.verify = STATE_VERIFY_FAILED;
    } else if (have) {
        state_node_release(&copy);
        have = false;
    }
    if (!have) {
        snprintf(who, wholen, "out of memory");
        return -1;
    }
    pthread_mutex_lock(&x->hook_mu);
    int rc = x->o.on_verify(x->o.on_verify_ctx, &copy, report, reason, v, who, wholen);
    pthread_mutex_unlock(&x->hook_mu);
    state_node_release(&copy);
    return rc;
}

/* Blocks t's (zone, instance type), both markets, for a verification failure. */
static void block_verify(struct exec *x, const struct task *t, const char *reason)
{
    int64_t now = unix_now();
    int rc = 0;
    struct state_err err;
    pthread_mutex_lock(&x->state_mu);
    for (int spot = 0; spot < 2 && rc == 0; spot++) {
        struct state_block b = {.cloud = MUT(core_cloud_name(t->offer.cloud)),
                                .region = MUT(t->offer.region),
                                .zone = MUT(t->offer.zone),
                                .instance_type = MUT(t->offer.instance_type),
                                .spot = spot,
                                .error_class = "verify",
                                .message = MUT(reason),
                                .at = now,
                                .until = now + x->o.block_ttl_s};
        rc = state_block_put(x->in.state, &b);
    }
    if (rc == 0)
        rc = write_state_locked(x->in.backend, x->in.state, &err);
    else
        state_fail(&err, "out of memory recording a blocked offer");
    pthread_mutex_unlock(&x->state_mu);
    if (rc != 0)
        fatal(x, "%s", err.msg);
}

/* What the policy (or the default) makes of a failed node; GATE_*. */
static int verdict(struct exec *x, struct task *t, const char *id, const char *report,
                   const char *reason, const char *detail)
{
    enum exec_verdict v;
    char who[512] = "", line[900];
    int d = decide(x, t, id, report, reason, detail, &v, who, sizeof who);
    if (d < 0) {
        mark(x, t, id, STATE_VERIFY_FAILED, detail, true, true);
        say(x, "%s: on_verify failed (%s); the node is left tainted and failed", t->address, who);
        count(x, &x->res.verify_failed);
        return GATE_FAIL;
    }
    if (d == 0 && v == EXEC_VERDICT_ACCEPT) {
        snprintf(line, sizeof line, "accepted by %s: %s", who, detail);
        mark(x, t, id, STATE_VERIFY_ACCEPTED, line, false, false);
        say(x, "%s: kept: %s accepted it", t->address, who);
        count(x, &x->res.verify_failed);
        return GATE_KEEP;
    }
    if (d == 0 && v == EXEC_VERDICT_TAINT) {
        mark(x, t, id, STATE_VERIFY_FAILED, detail, true, false);
        say(x, "%s: kept, tainted: %s said taint; the next apply replaces it", t->address, who);
        count(x, &x->res.verify_failed);
        return GATE_KEEP;
    }
    if (++t->nverify_failed > x->o.verify_retries) {
        mark(x, t, id, STATE_VERIFY_FAILED, detail, true, true);
        say(x,
            "%s: failed verification on %d placement%s; left tainted and failed (the next apply "
            "replaces it)",
            t->address, t->nverify_failed, t->nverify_failed == 1 ? "" : "s");
        count(x, &x->res.verify_failed);
        return GATE_FAIL;
    }
    mark(x, t, id, STATE_VERIFY_FAILED, detail, true, false);
    block_verify(x, t, reason);
    return GATE_REPLACE;
}

/*
 * Verifies the node created with `token` (when its workload asks): its report read from the
 * console, the state told the outcome, and a failed node decided on. `pending_since` is 0
 * for a node just created, else the Unix time of the create of a node whose verification a
 * run left pending (the wait for its report counts from then). GATE_KEEP, GATE_FAIL (the
 * task failed; the node stays, marked, or pending when interrupted), or GATE_REPLACE (its
 * place is blocked; the caller re-places it and destroys this one).
 */
static int gate(struct exec *x, struct task *t, struct prov *p, const char *id, const char *token,
                int64_t pending_since)
{
    enum spec_verify lv = task_level(t);
    if (lv == SPEC_VERIFY_NONE)
        return GATE_KEEP;
    double timeout = x->o.verify_timeout_s > 0 ? x->o.verify_timeout_s
                     : lv == SPEC_VERIFY_FULL  ? 1800
                                               : 900;
    double elapsed = 0;
    if (pending_since > 0) {
        int64_t ago = unix_now() - pending_since;
        elapsed = ago > 0 ? (double)ago : 0;
    }
    char within[64];
    snprintf(within, sizeof within, "within %.0fs%s", timeout,
             pending_since > 0 ? " of its create" : "");
    unsigned char key[EXEC_VERIFY_KEY_LEN];
    char *report = NULL, why[700] = "", detail[1100];
    size_t rlen = 0;
    if (pending_since > 0)
        say(x,
            "%s: verifying %s, left pending by an interrupted run (its report within %.0fs of its "
            "create, %.0fs ago)...",
            t->address, spec_verify_name(lv), timeout, elapsed);
    else
        say(x, "%s: verifying %s (its report within %.0fs)...", t->address, spec_verify_name(lv),
            timeout);
    int c = node_key(x, token, key) != 0
                ? (snprintf(why, sizeof why, "the state has no verify secret"), 1)
                : collect(x, t, p, id, key, now_s() + timeout - elapsed, within, &report, &rlen,
                          why, sizeof why);
    OPENSSL_cleanse(key, sizeof key);
    if (c < 0)
        return GATE_FAIL;
    if (c == 2) {
        say(x,
            "%s: verification interrupted; the node is kept, its verification pending (the next "
            "apply finishes it)",
            t->address);
        return GATE_FAIL;
    }
    struct exec_report_summary sum;
    char reason[700];
    if (exec_report_verdict(c == 0 ? report : NULL, rlen, why, &sum, reason, sizeof reason, detail,
                            sizeof detail)) {
        mark(x, t, id, STATE_VERIFY_PASSED, detail, false, false);
        say(x, "%s: verified %s: passed (%d checks, %.1f s)", t->address, sum.level, sum.checks,
            sum.seconds);
        count(x, &x->res.verified);
        free(report);
        return GATE_KEEP;
    }
    say(x, "%s: verification failed: %s", t->address, detail);
    int g = verdict(x, t, id, report, reason, detail);
    free(report);
    return g;
}

/* Re-places t after its node `id` failed verification (its place blocked by gate): the
 * next-best placement, then the failed node destroyed. 0 to create again, -1 when there is
 * nowhere else or the destroy failed (the node stays in the state, tainted). */
static int replace_failed(struct exec *x, struct task *t, const char *id)
{
    char at[256], to[256], why[512];
    where(&t->offer, t->spot, at, sizeof at);
    if (replan(x, t, why, sizeof why) != 0) {
        pthread_mutex_lock(&x->state_mu);
        struct state_node *n = state_find(x->in.state, t->address);
        if (n && strcmp(n->cloud_id, id) == 0)
            n->status = STATE_FAILED;
        pthread_mutex_unlock(&x->state_mu);
        save(x);
        say(x, "%s: verification failed at %s, and %s; left tainted and failed", t->address, at,
            why);
        count(x, &x->res.verify_failed);
        return -1;
    }
    struct old_node bad;
    memset(&bad, 0, sizeof bad);
    pthread_mutex_lock(&x->state_mu);
    struct state_node *n = state_find(x->in.state, t->address);
    int oc = n && strcmp(n->cloud_id, id) == 0 ? old_copy(&bad, n) : -1;
    pthread_mutex_unlock(&x->state_mu);
    int rc = oc == 0 ? do_delete(x, t, &bad) : -1;
    old_release(&bad);
    if (oc != 0)
        fatal(x, "out of memory");
    if (rc != 0)
        return -1;
    count(x, &x->res.verify_replaced);
    say(x, "%s: replacing the node that failed verification at %s with one at %s", t->address, at,
        where(&t->offer, t->spot, to, sizeof to));
    return 0;
}

static int do_create(struct exec *x, struct task *t);

/*
 * Finishes the verification a run left pending on t's node (state verify "pending"): the
 * same gate as after a create, its wait counted from the node's create, with the same
 * outcomes (a failed node is decided on and, replaced, re-placed, destroyed and created again
 * within --verify-retries). 0 when the node or its replacement is kept, -1 otherwise.
 */
static int verify_pending(struct exec *x, struct task *t)
{
    const struct state_node *n = &t->old.copy;
    struct prov *p = find_prov(x->in.clouds, x->in.nclouds, t->old.cloud);
    if (!p) {
        fatal(x, "%s: no provider for cloud '%s'", t->address, t->old.cloud);
        return -1;
    }
    int g = gate(x, t, p, n->cloud_id, n->token, n->created_at > 0 ? n->created_at : 1);
    if (g != GATE_REPLACE)
        return g == GATE_KEEP ? 0 : -1;
    if (replace_failed(x, t, n->cloud_id) != 0)
        return -1;
    return do_create(x, t);
}

/* ---- one create, with failover ---- */

static bool retryable(enum prov_error_class c)
{
    return c == PROV_TRANSIENT || c == PROV_THROTTLED;
}

/* Blocks t's offer in the state (TTL) and writes the state. */
static void block(struct exec *x, const struct task *t, const struct prov_error *pe)
{
    int64_t now = unix_now();
    struct state_block b = {.cloud = MUT(core_cloud_name(t->offer.cloud)),
                            .region = MUT(t->offer.region),
                            .zone = MUT(t->offer.zone),
                            .instance_type = MUT(t->offer.instance_type),
                            .spot = t->spot,
                            .error_class = MUT(class_name(pe->cls)),
                            .message = MUT((*pe->code ? pe->code : pe->message)),
                            .at = now,
                            .until = now + x->o.block_ttl_s};
    struct state_err err;
    pthread_mutex_lock(&x->state_mu);
    int rc = state_block_put(x->in.state, &b);
    if (rc == 0)
        rc = exec_write_locked(x, false, &err);
    else
        state_fail(&err, "out of memory recording a blocked offer");
    pthread_mutex_unlock(&x->state_mu);
    if (rc != 0)
        fatal(x, "%s", err.msg);
}

/* Records a created instance: journal done, then the state. */
/* The workload's labels as state labels (strings borrowed); NULL when it has none or when
 * out of memory (*ok false then). */
static struct state_label *wanted_labels(const struct task *t, size_t *n, bool *ok)
{
    *n = t->workload ? t->workload->nlabels : 0;
    *ok = true;
    if (*n == 0)
        return NULL;
    struct state_label *l = calloc(*n, sizeof *l);
    if (!l) {
        *ok = false;
        return NULL;
    }
    for (size_t i = 0; i < *n; i++)
        l[i] = (struct state_label){MUT(t->workload->labels[i].key),
                                    MUT(t->workload->labels[i].value)};
    return l;
}

static int record_created(struct exec *x, const struct task *t, const char *token,
                          const struct prov_instance *inst)
{
    /* the plan's zone when it named one (so the next diff matches), else where it landed */
    const char *zone = *t->offer.zone ? t->offer.zone : inst->zone;
    struct journal_rec done = {.op = JOURNAL_CREATE,
                               .phase = JOURNAL_DONE,
                               .address = t->address,
                               .provider = core_cloud_name(t->offer.cloud),
                               .token = token,
                               .cloud_id = inst->id,
                               .placement = offer_placement(&t->offer, t->spot, zone),
                               .hourly_usd = t->hourly,
                               .error = "",
                               .at = unix_now(),
                               .verify = task_level(t) != SPEC_VERIFY_NONE};
    /* even when the journal can't take it, the state must: the instance exists */
    int jrc = journal(x, &done);
    struct state_node n = {.address = MUT(t->address),
                           .provider = MUT(core_cloud_name(t->offer.cloud)),
                           .cloud_id = MUT(inst->id),
                           .token = MUT(token),
                           .placement = done.placement,
                           .hourly_usd = t->hourly,
                           .status = STATE_RUNNING,
                           .created_at = done.at,
                           /* gated: pending until the gate reads its report, so that a run
                            * killed before then leaves it for the next apply to verify */
                           .verify = done.verify ? STATE_VERIFY_PENDING : STATE_VERIFY_NONE,
                           .verify_detail = "",
                           .tainted = false};
    bool ok;
    n.labels = wanted_labels(t, &n.nlabels, &ok); /* the create set them as tags */
    struct state_err err;
    pthread_mutex_lock(&x->state_mu);
    int rc = ok && state_put(x->in.state, &n) ? exec_write_locked(x, true, &err)
                                              : state_fail(&err, "out of memory recording a node");
    pthread_mutex_unlock(&x->state_mu);
    free(n.labels);
    if (rc != 0)
        fatal(x, "%s", err.msg);
    return rc != 0 ? rc : jrc;
}

/*
 * Settles a create whose outcome is unknown (transient errors to the end) by its token.
 * 1 adopted, 0 known absent, -1 still unknown.
 */
static int settle_create(struct exec *x, struct prov *p, const struct task *t, const char *token,
                         struct prov_instance *inst_out)
{
    struct prov_instance inst;
    struct prov_error pe;
    bool found = false;
    if (p->ops->find_by_token(p, t->offer.region, token, &inst, &found, &pe) != 0)
        return -1;
    if (!found || inst.state == PROV_TERMINATED || inst.state == PROV_SHUTTING_DOWN)
        return 0;
    *inst_out = inst;
    return record_created(x, t, token, &inst) == 0 ? 1 : -1;
}

/* Sends one create, retrying transient and throttled errors with the same token. */
/* The workload's labels as tags for the provider (strings borrowed); NULL when none or out
 * of memory (then *n is the count, so the caller can tell). */
static struct prov_tag *task_tags(const struct task *t, size_t *n)
{
    *n = t->workload ? t->workload->nlabels : 0;
    struct prov_tag *tags = *n ? calloc(*n, sizeof *tags) : NULL;
    for (size_t i = 0; tags && i < *n; i++)
        tags[i] = (struct prov_tag){t->workload->labels[i].key, t->workload->labels[i].value};
    return tags;
}

static int send_create(struct exec *x, struct prov *p, const struct prov_create *req,
                       struct prov_instance *out, struct prov_error *pe)
{
    unsigned delay = x->o.backoff_ms;
    for (int attempt = 0;; attempt++) {
        memset(pe, 0, sizeof *pe);
        if (p->ops->create(p, req, out, pe) == 0)
            return 0;
        if (!retryable(pe->cls) || attempt >= x->o.max_retries)
            return -1;
        sleep_ms(delay);
        delay *= 2;
    }
}

static int do_create(struct exec *x, struct task *t)
{
    char from[256], to[256], why[512];
    for (int placement = 0; placement < x->o.max_placements;) {
        if (atomic_load(&x->stop))
            return -1;
        /* each placement's own cloud: a failover may move the node to another one */
        const char *cloud = core_cloud_name(t->offer.cloud);
        struct prov *p = find_prov(x->in.clouds, x->in.nclouds, cloud);
        if (!p) {
            fatal(x, "%s: no provider for cloud '%s' (aws, gcp and azure are built)", t->address,
                  cloud);
            return -1;
        }
        char token[48];
        exec_token(x->in.state->lineage, t->address, x->serial0, t->ncreates++, token);
        struct journal_rec intent = {.op = JOURNAL_CREATE,
                                     .phase = JOURNAL_INTENT,
                                     .address = t->address,
                                     .provider = cloud,
                                     .token = token,
                                     .cloud_id = "",
                                     .placement = offer_placement(&t->offer, t->spot, NULL),
                                     .hourly_usd = t->hourly,
                                     .error = "",
                                     .at = unix_now(),
                                     .verify = task_level(t) != SPEC_VERIFY_NONE};
        if (journal(x, &intent) != 0)
            return -1;
        say(x, "%s: creating (%s)...", t->address, where(&t->offer, t->spot, from, sizeof from));
        busy(x, t, "creating");
        double t0 = now_s();
        size_t ntags = 0;
        struct prov_tag *tags = task_tags(t, &ntags);
        bool boot_failed = false;
        char *boot = boot_script(x, t, token, &boot_failed);
        if ((ntags && !tags) || boot_failed) {
            free(tags);
            if (!boot_failed)
                fatal(x, "out of memory");
            return -1;
        }
        struct prov_create req = {.stack = x->in.spec->stack,
                                  .address = t->address,
                                  .token = token,
                                  .region = t->offer.region,
                                  .zone = api_zone(&t->offer),
                                  .instance_type = t->offer.instance_type,
                                  .spot = t->spot,
                                  .image = x->image,
                                  .user_data = boot ? boot : x->user_data,
                                  .tags = tags,
                                  .ntags = ntags,
                                  .gpu = t->offer.gpu,
                                  .gpus = t->offer.gpus,
                                  .metadata_tags = boot != NULL};
        struct prov_instance inst;
        struct prov_error pe;
        int sent = send_create(x, p, &req, &inst, &pe);
        free(tags);
        wipe_free(boot);
        busy(x, t, NULL);
        int made = sent == 0 && record_created(x, t, token, &inst) != 0 ? -1 : sent == 0;
        if (made == 1)
            say(x, "%s: created %s in %.1fs", t->address, inst.id, now_s() - t0);
        if (made == 0 && retryable(pe.cls)) { /* the call may have reached the cloud: ask it */
            int s = settle_create(x, p, t, token, &inst);
            if (s == 1)
                say(x, "%s: created %s in %.1fs (found by its token)", t->address, inst.id,
                    now_s() - t0);
            made = s == 1;
            if (s < 0) {
                pthread_mutex_lock(&x->state_mu);
                x->res.unsettled = true;
                pthread_mutex_unlock(&x->state_mu);
                say(x,
                    "%s: create failed and could not be settled (%s: %s); the next run "
                    "settles it",
                    t->address, class_name(pe.cls), pe.message);
                return -1;
            }
        }
        if (made < 0)
            return -1;
        if (made == 1) {
            int g = gate(x, t, p, inst.id, token, 0);
            if (g != GATE_REPLACE)
                return g == GATE_KEEP ? 0 : -1;
            if (replace_failed(x, t, inst.id) != 0)
                return -1;
            continue; /* a verify failure is counted by the gate, not as a placement */
        }
        struct journal_rec failed = intent;
        failed.phase = JOURNAL_FAILED;
        failed.error = *pe.code ? pe.code : class_name(pe.cls);
        failed.at = unix_now();
        if (journal(x, &failed) != 0)
            return -1;
        if (pe.cls == PROV_AUTH || pe.cls == PROV_INVALID) {
            fatal(x, "%s: %s error from %s, stopping: %s", t->address, class_name(pe.cls), cloud,
                  pe.message);
            return -1;
        }
        if (pe.cls != PROV_CAPACITY && pe.cls != PROV_QUOTA) {
            say(x, "%s: create failed (%s): %s", t->address, class_name(pe.cls), pe.message);
            return -1;
        }
        block(x, t, &pe);
        where(&t->offer, t->spot, from, sizeof from);
        if (placement + 1 >= x->o.max_placements) {
            say(x, "%s: %s at %s: gave up after %d placements", t->address,
                *pe.code ? pe.code : class_name(pe.cls), from, placement + 1);
            return -1;
        }
        if (replan(x, t, why, sizeof why) != 0) {
            say(x, "%s: %s at %s, and %s", t->address, *pe.code ? pe.code : class_name(pe.cls),
                from, why);
            return -1;
        }
        pthread_mutex_lock(&x->state_mu);
        x->res.failovers++;
        pthread_mutex_unlock(&x->state_mu);
        say(x, "%s: failed over from %s to %s: %s", t->address, from,
            where(&t->offer, t->spot, to, sizeof to), *pe.code ? pe.code : class_name(pe.cls));
        placement++;
    }
    return -1;
}

/* ---- one delete ---- */

static int do_delete(struct exec *x, struct task *t, struct old_node *old)
{
    struct prov *p = find_prov(x->in.clouds, x->in.nclouds, old->cloud);
    if (!p) {
        fatal(x, "%s: no provider for cloud '%s' (aws, gcp and azure are built)", old->address,
              old->cloud);
        return -1;
    }
    if (!*old->cloud_id) { /* a create never confirmed: its token says whether it made one */
        struct prov_instance inst;
        struct prov_error pe;
        bool found = false;
        if (*old->copy.token &&
            p->ops->find_by_token(p, old->region, old->copy.token, &inst, &found, &pe) != 0) {
            say(x, "%s: can't tell whether its unconfirmed create made an instance: %s",
                old->address, pe.message);
            return -1;
        }
        if (found && inst.state != PROV_TERMINATED && inst.state != PROV_SHUTTING_DOWN) {
            char *id = strdup(inst.id);
            if (!id) {
                fatal(x, "out of memory");
                return -1;
            }
            free(old->cloud_id);
            old->cloud_id = id;
        } else {
            pthread_mutex_lock(&x->state_mu);
            state_remove(x->in.state, old->address);
            pthread_mutex_unlock(&x->state_mu);
            return save(x);
        }
    }
    struct journal_rec intent = {.op = JOURNAL_DELETE,
                                 .phase = JOURNAL_INTENT,
                                 .address = old->address,
                                 .provider = old->cloud,
                                 .token = "",
                                 .cloud_id = old->cloud_id,
                                 .placement = old->copy.placement,
                                 .hourly_usd = old->copy.hourly_usd,
                                 .error = "",
                                 .at = unix_now()};
    if (journal(x, &intent) != 0)
        return -1;
    say(x, "%s: destroying %s...", old->address, old->cloud_id);
    busy(x, t, "destroying");
    double t0 = now_s();
    struct prov_error pe;
    unsigned delay = x->o.backoff_ms;
    int rc;
    for (int attempt = 0;; attempt++) {
        memset(&pe, 0, sizeof pe);
        rc = p->ops->destroy(p, old->region, old->cloud_id, &pe);
        if (rc == 0 || !retryable(pe.cls) || attempt >= x->o.max_retries)
            break;
        sleep_ms(delay);
        delay *= 2;
    }
    busy(x, t, NULL);
    struct journal_rec out = intent;
    out.phase = rc == 0 ? JOURNAL_DONE : JOURNAL_FAILED;
    out.error = rc == 0 ? "" : *pe.code ? pe.code : class_name(pe.cls);
    out.at = unix_now();
    if (rc != 0 && retryable(pe.cls)) { /* may have been done: the next run describes it */
        pthread_mutex_lock(&x->state_mu);
        x->res.unsettled = true;
        pthread_mutex_unlock(&x->state_mu);
        say(x, "%s: destroy failed (%s): %s; the next run settles it", old->address,
            class_name(pe.cls), pe.message);
        return -1;
    }
    if (journal(x, &out) != 0)
        return -1;
    if (rc != 0) {
        if (pe.cls == PROV_AUTH || pe.cls == PROV_INVALID)
            fatal(x, "%s: %s error from %s, stopping: %s", old->address, class_name(pe.cls),
                  old->cloud, pe.message);
        else
            say(x, "%s: destroy failed (%s): %s", old->address, class_name(pe.cls), pe.message);
        return -1;
    }
    pthread_mutex_lock(&x->state_mu);
    struct state_node *n = state_find(x->in.state, old->address);
    if (n &&
        (strcmp(n->cloud_id, old->cloud_id) == 0 || strcmp(n->cloud_id, old->copy.cloud_id) == 0))
        state_remove(x->in.state, old->address);
    pthread_mutex_unlock(&x->state_mu);
    if (save_as(x, true) != 0)
        return -1;
    say(x, "%s: destroyed %s in %.1fs", old->address, old->cloud_id, now_s() - t0);
    return 0;
}

/* Create-first replace: the old node moves aside to "ADDRESS~old" in the state, so that the
 * new one can take the address; a crash in between leaves "ADDRESS~old" to be deleted by
 * the next apply (it is in no plan). */
static int set_aside(struct exec *x, struct task *t)
{
    char aside[512];
    snprintf(aside, sizeof aside, "%s~old", t->address);
    struct state_node moved = t->old.copy;
    moved.address = aside;
    char *dup = strdup(aside);
    if (!dup) {
        fatal(x, "out of memory");
        return -1;
    }
    pthread_mutex_lock(&x->state_mu);
    bool ok = state_put(x->in.state, &moved) != NULL;
    if (ok)
        state_remove(x->in.state, t->address);
    pthread_mutex_unlock(&x->state_mu);
    if (!ok) {
        free(dup);
        fatal(x, "out of memory");
        return -1;
    }
    free(t->old.address);
    t->old.address = dup;
    return save(x);
}

/*
 * An update: the workload's labels set on the instance's tags and the ones it no longer has
 * removed (retrying transient and throttled errors: setting tags is idempotent), then the
 * node's labels recorded and the state written. No journal: a run that dies in between
 * leaves the state with the old labels, and the next plan updates again.
 */
static int do_update(struct exec *x, struct task *t)
{
    struct prov *p = find_prov(x->in.clouds, x->in.nclouds, t->old.cloud);
    if (!p) {
        fatal(x, "%s: no provider for cloud '%s'", t->address, t->old.cloud);
        return -1;
    }
    if (!p->ops->set_tags) {
        say(x,
            "%s: the %s provider can't change an instance's tags yet; its labels are left as "
            "they are",
            t->address, t->old.cloud);
        return -1;
    }
    size_t nset = 0, nremove = 0;
    struct prov_tag *set = task_tags(t, &nset);
    const struct state_node *have = &t->old.copy;
    const char **remove = have->nlabels ? calloc(have->nlabels, sizeof *remove) : NULL;
    if ((nset && !set) || (have->nlabels && !remove)) {
        free(set);
        free(remove);
        fatal(x, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < have->nlabels; i++) {
        bool kept = false;
        for (size_t k = 0; k < nset && !kept; k++)
            kept = strcmp(set[k].key, have->labels[i].key) == 0;
        if (!kept)
            remove[nremove++] = have->labels[i].key;
    }
    say(x, "%s: updating labels (%s)...", t->address, t->old.cloud_id);
    busy(x, t, "updating");
    double t0 = now_s();
    unsigned delay = x->o.backoff_ms;
    struct prov_error pe;
    int rc;
    for (int attempt = 0;; attempt++) {
        memset(&pe, 0, sizeof pe);
        rc = p->ops->set_tags(p, t->old.region, t->old.cloud_id, set, nset, remove, nremove, &pe);
        if (rc == 0 || !retryable(pe.cls) || attempt >= x->o.max_retries || atomic_load(&x->stop))
            break;
        sleep_ms(delay);
        delay *= 2;
    }
    busy(x, t, NULL);
    free(set);
    free(remove);
    if (rc != 0) {
        say(x, "%s: update failed (%s): %s", t->address, class_name(pe.cls), pe.message);
        if (pe.cls == PROV_AUTH)
            fatal(x, "%s", pe.message);
        return -1;
    }
    bool ok;
    size_t nl;
    struct state_label *labels = wanted_labels(t, &nl, &ok);
    struct state_err err;
    pthread_mutex_lock(&x->state_mu);
    struct state_node *n = state_find(x->in.state, t->address);
    rc = !ok ? state_fail(&err, "out of memory")
         : n && strcmp(n->cloud_id, t->old.cloud_id) == 0 && state_node_set_labels(n, labels, nl)
             ? state_fail(&err, "out of memory")
             : exec_write_locked(x, true, &err);
    pthread_mutex_unlock(&x->state_mu);
    free(labels);
    if (rc != 0) {
        fatal(x, "%s", err.msg);
        return -1;
    }
    say(x, "%s: labels updated in %.1fs", t->address, now_s() - t0);
    return 0;
}

static bool makes_nodes(const struct task *t);
static int wait_for_group(struct exec *x, struct task *t);

static int run_task(struct exec *x, struct task *t)
{
    switch (t->kind) {
    case TASK_CREATE:
        return do_create(x, t);
    case TASK_DELETE:
        if (wait_for_group(x, t) != 0)
            return -1;
        return do_delete(x, t, &t->old);
    case TASK_REPLACE_DELETE_FIRST:
        if (do_delete(x, t, &t->old) != 0 || atomic_load(&x->stop))
            return -1;
        return do_create(x, t);
    case TASK_REPLACE_CREATE_FIRST:
        if (set_aside(x, t) != 0 || do_create(x, t) != 0 || atomic_load(&x->stop))
            return -1;
        return do_delete(x, t, &t->old);
    case TASK_UPDATE:
        if (do_update(x, t) != 0)
            return -1;
        return t->finish_verify ? verify_pending(x, t) : 0;
    case TASK_VERIFY:
        return verify_pending(x, t);
    }
    return -1;
}

static void *worker(void *arg)
{
    struct exec *x = arg;
    for (;;) {
        if (atomic_load(&x->stop))
            break;
        size_t i = atomic_fetch_add(&x->next, 1);
        if (i >= x->ntasks)
            break;
        struct task *t = &x->tasks[i];
        int rc = run_task(x, t);
        pthread_mutex_lock(&x->state_mu);
        if (makes_nodes(t) && t->group >= 0) {
            x->groups[t->group].pending--;
            x->groups[t->group].failed += rc != 0;
            pthread_cond_broadcast(&x->group_cv);
        }
        atomic_fetch_add(&x->nfinished, 1);
        if (rc != 0)
            atomic_fetch_add(&x->nfailed, 1);
        if (rc != 0)
            x->res.failed++;
        else if (t->kind == TASK_CREATE)
            x->res.created++;
        else if (t->kind == TASK_DELETE)
            x->res.deleted++;
        else if (t->kind == TASK_UPDATE)
            x->res.updated++;
        else if (t->kind != TASK_VERIFY) /* a verify is counted by its gate */
            x->res.replaced++;
        pthread_mutex_unlock(&x->state_mu);
    }
    return NULL;
}

/* ---- the run ---- */

struct exec *exec_new(const struct exec_input *in, const struct exec_options *o)
{
    struct exec *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->in = *in;
    if (o)
        x->o = *o;
    if (x->o.parallelism <= 0)
        x->o.parallelism = 10;
    if (x->o.max_placements <= 0)
        x->o.max_placements = 4;
    if (x->o.max_retries <= 0)
        x->o.max_retries = 3;
    if (x->o.backoff_ms == 0)
        x->o.backoff_ms = 500;
    if (x->o.block_ttl_s <= 0)
        x->o.block_ttl_s = 3600;
    if (x->o.verify_retries == 0)
        x->o.verify_retries = 2;
    else if (x->o.verify_retries < 0)
        x->o.verify_retries = 0;
    if (x->o.verify_poll_ms == 0)
        x->o.verify_poll_ms = 2000;
    if (x->o.verify_poll_max_ms == 0)
        x->o.verify_poll_max_ms = 15000;
    const char *ami = getenv("GPUFORM_AWS_AMI");
    x->image = x->o.image ? x->o.image : ami && *ami ? ami : EXEC_DEFAULT_AMI;
    x->user_data = x->o.user_data ? x->o.user_data : DEFAULT_USER_DATA;
    x->log = x->o.log ? x->o.log : stderr;
    pthread_mutex_init(&x->state_mu, NULL);
    pthread_mutex_init(&x->journal_mu, NULL);
    pthread_mutex_init(&x->log_mu, NULL);
    pthread_mutex_init(&x->plan_mu, NULL);
    pthread_mutex_init(&x->hook_mu, NULL);
    pthread_cond_init(&x->tick_cv, NULL);
    pthread_cond_init(&x->group_cv, NULL);
    atomic_init(&x->stop, 0);
    atomic_init(&x->next, 0);
    atomic_init(&x->nfinished, 0);
    atomic_init(&x->nfailed, 0);
    return x;
}

static void old_release(struct old_node *o)
{
    free(o->address);
    free(o->cloud_id);
    free(o->cloud);
    free(o->region);
    state_node_release(&o->copy);
}

void exec_free(struct exec *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->ntasks; i++)
        old_release(&x->tasks[i].old);
    free(x->tasks);
    pthread_mutex_destroy(&x->state_mu);
    pthread_mutex_destroy(&x->journal_mu);
    pthread_mutex_destroy(&x->log_mu);
    pthread_mutex_destroy(&x->plan_mu);
    pthread_mutex_destroy(&x->hook_mu);
    pthread_cond_destroy(&x->tick_cv);
    pthread_cond_destroy(&x->group_cv);
    free(x->groups);
    free(x);
}

static int old_copy(struct old_node *o, const struct state_node *n)
{
    o->address = strdup(n->address);
    o->cloud_id = strdup(n->cloud_id);
    o->cloud = strdup(n->placement.cloud);
    o->region = strdup(n->placement.region);
    bool ok = state_node_copy(&o->copy, n);
    return o->address && o->cloud_id && o->cloud && o->region && ok ? 0 : -1;
}

/* The group of `address`'s workload, made when `add`; -1 when none (or out of memory). */
static int group_of(struct exec *x, const char *address, bool add)
{
    const char *br = strchr(address, '[');
    size_t len = br ? (size_t)(br - address) : strlen(address);
    for (size_t i = 0; i < x->ngroups; i++)
        if (x->groups[i].len == len && strncmp(x->groups[i].name, address, len) == 0)
            return (int)i;
    if (!add)
        return -1;
    struct group *g = realloc(x->groups, (x->ngroups + 1) * sizeof *g);
    if (!g)
        return -1;
    x->groups = g;
    x->groups[x->ngroups] = (struct group){.name = address, .len = len};
    return (int)x->ngroups++;
}

/* Creates, replaces and the tasks that finish a pending verification (which may replace
 * the node): what a workload's deletes wait for. */
static bool makes_nodes(const struct task *t)
{
    return t->kind != TASK_DELETE && (t->kind != TASK_UPDATE || t->finish_verify);
}

/* Groups the tasks by workload; the deletes of a workload wait for its creates. */
static int group_tasks(struct exec *x)
{
    for (size_t i = 0; i < x->ntasks; i++) {
        struct task *t = &x->tasks[i];
        t->group = -1;
        if (!makes_nodes(t))
            continue;
        if ((t->group = group_of(x, t->address, true)) < 0)
            return -1;
        x->groups[t->group].pending++;
        x->groups[t->group].service |= t->wkind == SPEC_KIND_SERVICE;
    }
    for (size_t i = 0; i < x->ntasks; i++)
        if (!makes_nodes(&x->tasks[i]))
            x->tasks[i].group = group_of(x, x->tasks[i].address, false);
    return 0;
}

/* A delete waits until its workload's creates are done. Returns 0 to go ahead, -1 when it
 * is kept: the run is stopping, or a service's new nodes were not all made (deleting the
 * old one then would shrink it). */
static int wait_for_group(struct exec *x, struct task *t)
{
    if (t->group < 0)
        return 0;
    struct group *g = &x->groups[t->group];
    bool said = false;
    pthread_mutex_lock(&x->state_mu);
    while (g->pending > 0 && !atomic_load(&x->stop)) {
        if (!said) {
            size_t n = g->pending;
            pthread_mutex_unlock(&x->state_mu);
            say(x, "%s: waiting for %zu create%s of '%.*s' before destroying", t->address, n,
                n == 1 ? "" : "s", (int)g->len, g->name);
            said = true;
            pthread_mutex_lock(&x->state_mu);
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 200 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&x->group_cv, &x->state_mu, &until);
    }
    size_t failed = g->failed;
    pthread_mutex_unlock(&x->state_mu);
    if (atomic_load(&x->stop))
        return -1;
    if (failed && g->service) {
        say(x,
            "%s: kept: %zu of the new nodes of service '%.*s' were not made, so removing this "
            "one would shrink it; the next apply removes it",
            t->address, failed, (int)g->len, g->name);
        return -1;
    }
    return 0;
}

static int build_tasks(struct exec *x, const struct diff *d)
{
    x->tasks = calloc(d->nchanges ? d->nchanges : 1, sizeof *x->tasks);
    if (!x->tasks)
        return -1;
    for (size_t i = 0; i < d->nchanges; i++) {
        const struct diff_change *c = &d->changes[i];
        if (c->action == DIFF_NOOP)
            continue;
        struct task *t = &x->tasks[x->ntasks++];
        t->address = c->address;
        if (c->want) {
            t->wkind = c->want->workload->kind;
            t->workload = c->want->workload;
            t->offer = *c->want->offer;
            t->spot = c->want->spot;
            t->hourly = c->want->hourly;
        }
        if (c->have && old_copy(&t->old, c->have) != 0)
            return -1;
        t->finish_verify = c->finish_verify;
        switch (c->action) {
        case DIFF_CREATE:
            t->kind = TASK_CREATE;
            break;
        case DIFF_DELETE:
            t->kind = TASK_DELETE;
            break;
        case DIFF_UPDATE:
            t->kind = TASK_UPDATE;
            break;
        case DIFF_VERIFY:
            t->kind = TASK_VERIFY;
            break;
        default:
            t->kind = t->wkind == SPEC_KIND_SERVICE && *c->have->cloud_id &&
                              c->have->status == STATE_RUNNING
                          ? TASK_REPLACE_CREATE_FIRST
                          : TASK_REPLACE_DELETE_FIRST;
        }
    }
    return 0;
}

int exec_run(struct exec *x, const struct diff *d, struct exec_result *res)
{
    memset(&x->res, 0, sizeof x->res);
    x->serial0 = x->in.state->serial;
    x->started = now_s();
    int rc = -1;
    if (build_tasks(x, d) != 0 || group_tasks(x) != 0) {
        snprintf(x->res.error, sizeof x->res.error, "out of memory");
        goto out;
    }
    if (x->in.override && x->ntasks > 0 && journal_override(x) != 0)
        goto out; /* nothing was sent: the error says why */
    if (ensure_secret(x) != 0) {
        x->res.failed = x->ntasks;
        goto out;
    }
    size_t nthreads = (size_t)x->o.parallelism < x->ntasks ? (size_t)x->o.parallelism : x->ntasks;
    pthread_t *th = calloc(nthreads ? nthreads : 1, sizeof *th);
    if (!th) {
        snprintf(x->res.error, sizeof x->res.error, "out of memory");
        goto out;
    }
    pthread_t tick;
    bool ticking = pthread_create(&tick, NULL, ticker, x) == 0;
    size_t started = 0;
    for (; started < nthreads; started++)
        if (pthread_create(&th[started], NULL, worker, x) != 0)
            break;
    if (started == 0 && nthreads > 0)
        worker(x); /* no thread could start: do the work here */
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_lock(&x->log_mu);
    x->done = true;
    if (x->o.live) /* the summary follows the events, not the status line */
        fputs("\r\033[K", x->log);
    pthread_cond_signal(&x->tick_cv);
    pthread_mutex_unlock(&x->log_mu);
    if (ticking)
        pthread_join(tick, NULL);
    free(th);
    /* tasks never started count as failed */
    size_t taken = atomic_load(&x->next);
    if (taken < x->ntasks)
        x->res.failed += x->ntasks - taken;
    /* the state records everything; the journal can go unless an outcome is unknown */
    struct state_err err;
    if (save(x) == 0 && !x->res.unsettled &&
        x->in.backend->ops->journal_clear(x->in.backend, &err) != 0)
        fatal(x, "%s", err.msg);
    rc = x->res.failed == 0 && !x->res.error[0] && !x->res.interrupted ? 0 : -1;
out:
    if (res)
        *res = x->res;
    return rc;
}

/* ---- replay ---- */

static void rlog(FILE *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rlog(FILE *log, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(log ? log : stderr, fmt, ap);
    fputc('\n', log ? log : stderr);
    va_end(ap);
}

/* Settles one create: 1 when the node went into the state, 0 when there was nothing to
 * record, -1 with err set. */
static int replay_create(const struct journal_entry *e, struct state *st, struct prov *p, FILE *log,
                         struct state_err *err)
{
    struct prov_instance inst;
    memset(&inst, 0, sizeof inst);
    const char *id = e->cloud_id;
    const char *zone = e->placement.zone;
    if (e->phase == JOURNAL_FAILED)
        return 0;
    if (e->phase == JOURNAL_INTENT) {
        struct prov_error pe;
        bool found = false;
        if (!p)
            return state_fail(err,
                              "journal: '%s' was being created on '%s', which has no "
                              "provider here",
                              e->address, e->provider);
        if (p->ops->find_by_token(p, e->placement.region, e->token, &inst, &found, &pe) != 0)
            return state_fail(err, "journal: can't settle the create of '%s': %s", e->address,
                              pe.message);
        if (!found || inst.state == PROV_TERMINATED || inst.state == PROV_SHUTTING_DOWN) {
            rlog(log, "%s: an unfinished create made nothing; dropped", e->address);
            return 0;
        }
        id = inst.id;
        if (*inst.zone)
            zone = inst.zone;
        rlog(log, "%s: an unfinished create made %s; adopted", e->address, id);
    }
    const struct state_node *had = state_find(st, e->address);
    if (had && strcmp(had->cloud_id, id) == 0)
        return 1; /* the run recorded it, and maybe its verification since: keep that */
    struct state_node n = {.address = e->address,
                           .provider = e->provider,
                           .cloud_id = MUT(id),
                           .token = e->token,
                           .placement = e->placement,
                           .hourly_usd = e->hourly_usd,
                           .status = STATE_RUNNING,
                           .created_at = e->at,
                           /* its report not read yet: the apply after this replay reads it */
                           .verify = e->verify ? STATE_VERIFY_PENDING : STATE_VERIFY_NONE,
                           .verify_detail = "",
                           .tainted = false};
    n.placement.zone = MUT(zone);
    if (!state_put(st, &n))
        return state_fail(err, "out of memory replaying the journal");
    return 1;
}

/* Settles one delete: 1 when the node left the state, 0 when it stays, -1 with err set. */
static int replay_delete(const struct journal_entry *e, struct state *st, struct prov *p, FILE *log,
                         struct state_err *err)
{
    struct state_node *n = state_find(st, e->address);
    if (e->phase == JOURNAL_FAILED || !n || strcmp(n->cloud_id, e->cloud_id) != 0)
        return 0;
    if (e->phase == JOURNAL_INTENT) {
        if (!p)
            return state_fail(err,
                              "journal: '%s' was being deleted on '%s', which has no "
                              "provider here",
                              e->address, e->provider);
        struct prov_instance inst;
        struct prov_error pe;
        if (p->ops->describe(p, e->placement.region, e->cloud_id, &inst, &pe) == 0) {
            if (inst.state != PROV_TERMINATED && inst.state != PROV_SHUTTING_DOWN) {
                rlog(log, "%s: an unfinished delete left %s running; kept", e->address,
                     e->cloud_id);
                return 0;
            }
        } else if (pe.cls != PROV_NOT_FOUND) {
            return state_fail(err, "journal: can't settle the delete of '%s': %s", e->address,
                              pe.message);
        }
        rlog(log, "%s: an unfinished delete of %s went through", e->address, e->cloud_id);
    }
    state_remove(st, e->address);
    return 1;
}

int exec_replay(struct state_backend *b, struct state *st, const struct exec_cloud *clouds,
                size_t nclouds, FILE *log, size_t *settled, struct state_err *err)
{
    *settled = 0;
    char *text = NULL;
    size_t len = 0;
    if (b->ops->journal_read(b, &text, &len, err) != 0)
        return -1;
    if (!text)
        return 0;
    struct journal_replay r;
    int rc = journal_replay(text, len, "the journal", &r, err);
    free(text);
    if (rc != 0)
        return -1;
    if (r.nentries > 0)
        rlog(log, "gpuform: settling %zu change%s left by a run that did not finish", r.nentries,
             r.nentries == 1 ? "" : "s");
    bool changed = false; /* a change of the run reached the state */
    for (size_t i = 0; rc == 0 && i < r.nentries; i++) {
        const struct journal_entry *e = &r.entries[i];
        struct prov *p = find_prov(clouds, nclouds, e->provider);
        rc = e->op == JOURNAL_CREATE ? replay_create(e, st, p, log, err)
                                     : replay_delete(e, st, p, log, err);
        changed |= rc > 0;
        rc = rc > 0 ? 0 : rc;
    }
    *settled = r.nentries;
    if (rc == 0 && changed && r.override) {
        if (state_override_record(st, r.override, st->serial + 1) != 0)
            rc = state_fail(err, "out of memory recording the policy override");
        else
            rlog(log, "gpuform: the run applied under a policy override (%s: %s); recorded",
                 r.override->who, r.override->reason);
    }
    journal_replay_release(&r);
    if (rc != 0)
        return -1;
    if (*settled > 0 && write_state_locked(b, st, err) != 0)
        return -1;
    return b->ops->journal_clear(b, err);
}
