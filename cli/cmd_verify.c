/*
 * `gpuform verify`: runs the GPU node checks (modules/verify) on this host, on the CUDA
 * backend or the CPU reference, and prints the report as a table or JSON; with --calibrate it
 * records this node's numbers as a baseline, which --baseline then judges against; with
 * --agent, the report is the framed block signed with the node's key that a gated apply
 * reads from the node's serial console (executor/verify_frame.h).
 */
#include "cli/cli.h"

#include <getopt.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/build_info.h"
#include "core/cloud.h"
#include "cli/verify_nodes.h"
#include "core/diag.h"
#include "core/file.h"
#include "core/gpu_models.h"
#include "executor/verify_frame.h"
#include "modules/verify/imds.h"
#include "modules/verify/verify.h"
#include "planner/catalog.h"

struct verify_args {
    struct verify_options opts;
    const char *backend;
    const char *instance_type;
    const char *catalog;
    bool json;
    /* calibration and baselines (calibrate_args, run_calibration, load_baseline) */
    bool calibrate;
    const char *out;      /* --out: where --calibrate writes the baseline; NULL: stdout */
    int runs;             /* --runs: calibration runs (0: 3) */
    const char *baseline; /* --baseline FILE */
    bool agent;           /* --agent: the report framed and signed for the console */
    const char *address;  /* --address: the node the agent speaks for */
    const char *key_file; /* --key-file: its key, 64 hex digits */
    const char *request;  /* --request: the re-verification request's nonce the report answers */
    /* --watch: answer re-verification requests read from the instance metadata service */
    bool watch;
    int cloud;     /* --cloud: whose metadata service (enum core_cloud); -1 when not given */
    long interval; /* --interval: seconds between reads (0: WATCH_INTERVAL) */
    bool once;     /* --once: one read, answer it if it is new, exit */
    struct cli_verify_nodes nodes; /* ADDRESS...: a stack's running nodes (cli/verify_nodes.c) */
};

#define WATCH_INTERVAL     30    /* seconds between metadata reads */
#define WATCH_INTERVAL_MAX 86400 /* a day */
#define WATCH_WARN_EVERY   600   /* seconds between two reports of the same metadata error */

#define CALIBRATE_RUNS     3
#define CALIBRATE_MAX_RUNS 20

#define usage(...) cli_usage_error(cli_find("verify"), __VA_ARGS__)

/* Sets expected_gpus and expected_model from the catalog's row for the instance type. */
static int expect_instance(struct verify_args *a)
{
    struct core_diags d;
    core_diags_init(&d, 50);
    struct plan_catalog *cat = NULL;
    int rc =
        a->catalog ? plan_catalog_load(a->catalog, &d, &cat) : plan_catalog_load_bundled(&d, &cat);
    if (rc != 0) {
        core_diags_sort(&d);
        core_diags_render(&d, CORE_DIAG_TEXT, cli_use_color(stderr), stderr);
        core_diags_release(&d);
        return CLI_ERROR;
    }
    core_diags_release(&d);
    const struct plan_offer *hit = NULL;
    for (size_t i = 0; i < cat->noffers && !hit; i++)
        if (!strcmp(cat->offers[i].instance_type, a->instance_type))
            hit = &cat->offers[i];
    if (!hit) {
        fprintf(stderr,
                "gpuform: instance type '%s' is not in the catalog '%s' ('gpuform catalog list' "
                "shows it)\n",
                a->instance_type, cat->name);
        plan_catalog_free(cat);
        return CLI_ERROR;
    }
    a->opts.expected_gpus = hit->gpus;
    const struct core_gpu_model *m = core_gpu_model_find(hit->gpu);
    a->opts.expected_model = m ? m->name : NULL; /* static storage, outlives the catalog */
    plan_catalog_free(cat);
    return CLI_OK;
}

/* A whole number in [lo, hi] from `s` into *v: 0, or -1 when it is not one. */
static int parse_int(const char *s, long lo, long hi, long *v)
{
    char *end;
    long x = strtol(s, &end, 10);
    if (!*s || *end || x < lo || x > hi)
        return -1;
    *v = x;
    return 0;
}

/* The options of calibration, baselines and the per-device threads. */
static int parallel_option(int ch, const char *arg, struct verify_args *a)
{
    long v = 0;
    switch (ch) {
    case 'K':
        a->calibrate = true;
        break;
    case 'o':
        a->out = arg;
        break;
    case 'B':
        a->baseline = arg;
        break;
    case 's':
        a->opts.serial = true;
        break;
    case 'r':
        if (parse_int(arg, 1, CALIBRATE_MAX_RUNS, &v) != 0)
            return usage("--runs wants a count from 1 to %d, not '%s'", CALIBRATE_MAX_RUNS, arg);
        a->runs = (int)v;
        break;
    case 'D':
        if (parse_int(arg, 1, VERIFY_MAX_GPUS, &v) != 0)
            return usage("--devices wants a count from 1 to %d, not '%s'", VERIFY_MAX_GPUS, arg);
        a->opts.devices = (int)v;
        break;
    case 'g':
        if (parse_int(arg, 0, VERIFY_MAX_GPUS - 1, &v) != 0)
            return usage("--inject-gpu wants a device index from 0 to %d, not '%s'",
                         VERIFY_MAX_GPUS - 1, arg);
        a->opts.fault_gpus |= 1u << v;
        break;
    }
    return CLI_OK;
}

/* The combinations that make no sense, refused before anything runs. */
static int calibrate_args(const struct verify_args *a)
{
    if (!a->calibrate && (a->out || a->runs))
        return usage("--out and --runs go with --calibrate");
    if (a->opts.fault_gpus && !a->opts.faults)
        return usage("--inject-gpu names where the --inject faults land; no --inject given");
    if (!a->calibrate)
        return CLI_OK;
    if (a->baseline)
        return usage("--calibrate records a baseline; it does not judge against one (drop "
                     "--baseline)");
    if (a->opts.faults)
        return usage("--calibrate records a healthy node; --inject would record a broken one");
    if (a->json)
        return usage("--calibrate writes the baseline as JSON itself (to --out, or standard "
                     "output); drop --json");
    return CLI_OK;
}

/* Loads --baseline into *out (NULL without one). */
static int load_baseline(const struct verify_args *a, struct verify_baseline **out)
{
    *out = NULL;
    if (!a->baseline)
        return CLI_OK;
    char err[1024];
    if (verify_baseline_load(a->baseline, out, err, sizeof(err)) != 0) {
        fprintf(stderr, "gpuform: %s\n", err);
        return CLI_ERROR;
    }
    return CLI_OK;
}

/* Writes the baseline text to --out (atomically) or standard output. */
static int write_baseline(const struct verify_args *a, char *text, int runs,
                          const struct verify_report *last)
{
    if (!a->out) {
        puts(text);
        return CLI_OK;
    }
    size_t len = strlen(text);
    text[len] = '\n'; /* the NUL's place: the file ends in a newline; written by length */
    int e = core_write_atomic(a->out, text, len + 1, 0644);
    text[len] = 0;
    if (e) {
        fprintf(stderr, "gpuform: cannot write the baseline '%s': %s\n", a->out, strerror(e));
        return CLI_ERROR;
    }
    printf("wrote baseline '%s': backend %s, level %s, %zu device(s), median of %d run(s); use it "
           "with 'gpuform verify --baseline %s'\n",
           a->out, last->backend, last->level == VERIFY_FULL ? "full" : "quick", last->ndevices,
           runs, a->out);
    return CLI_OK;
}

/* --calibrate: runs the suite --runs times with the rates ungated, then records the medians. */
static int run_calibration(const struct verify_backend *b, struct verify_args *a)
{
    int nruns = a->runs ? a->runs : CALIBRATE_RUNS;
    struct verify_report *runs = calloc((size_t)nruns, sizeof(*runs));
    if (!runs) {
        fputs("gpuform: out of memory\n", stderr);
        return CLI_ERROR;
    }
    a->opts.calibrating = true;
    int rc = CLI_ERROR, done = 0;
    char err[1024] = "";
    for (; done < nruns; done++) {
        verify_report_init(&runs[done]);
        if (verify_run(b, &a->opts, &runs[done], err, sizeof(err)) != 0) {
            fprintf(stderr, "gpuform: verify --calibrate: %s\n", err);
            done++;
            goto out;
        }
        fprintf(stderr, "gpuform: calibration run %d of %d: %.2f s\n", done + 1, nruns,
                runs[done].seconds);
    }
    char host[256] = "unknown", date[32] = "";
    if (gethostname(host, sizeof(host) - 1) != 0)
        snprintf(host, sizeof(host), "unknown");
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
    struct verify_baseline_meta meta = {
        .host = host, .date = date, .gpuform_version = GPUFORM_VERSION};
    char *text = verify_baseline_record(runs, (size_t)nruns, &meta, err, sizeof(err));
    if (!text) {
        fprintf(stderr, "gpuform: verify --calibrate: %s; no baseline written\n", err);
        goto out;
    }
    rc = write_baseline(a, text, nruns, &runs[nruns - 1]);
    free(text);
out:
    for (int i = 0; i < done; i++)
        verify_report_release(&runs[i]);
    free(runs);
    return rc;
}

/* The options of --watch (the agent answering re-verification requests). */
static int watch_option(int ch, const char *arg, struct verify_args *a)
{
    long v = 0;
    switch (ch) {
    case 'W':
        a->watch = true;
        break;
    case 'c':
        a->cloud = core_cloud_from_name(arg);
        if (a->cloud < 0)
            return usage("--cloud wants the cloud whose metadata service to read (aws, gcp or "
                         "azure), not '%s'",
                         arg);
        break;
    case 'I':
        if (parse_int(arg, 1, WATCH_INTERVAL_MAX, &v) != 0)
            return usage("--interval wants seconds from 1 to %d, not '%s'", WATCH_INTERVAL_MAX,
                         arg);
        a->interval = v;
        break;
    case 'O':
        a->once = true;
        break;
    }
    return CLI_OK;
}

/* The options of verifying a stack's running nodes. */
static int nodes_option(int ch, const char *arg, struct verify_args *a)
{
    struct cli_verify_nodes *n = &a->nodes;
    double *d = ch == 'T' ? &n->timeout_s : &n->lock_timeout_s;
    switch (ch) {
    case 'P':
        n->stack = arg;
        break;
    case 'S':
        n->sim = true;
        n->sim_config = arg;
        break;
    default:
        if ((*d = cli_parse_duration(arg)) < 0 || (ch == 'T' && *d == 0))
            return usage("%s takes a duration (90s, 15m), not '%s'",
                         ch == 'T' ? "--timeout" : "--lock-timeout", arg);
    }
    return CLI_OK;
}

static int watch_args(const struct verify_args *a)
{
    if (!a->watch && (a->cloud >= 0 || a->interval || a->once))
        return usage("--cloud, --interval and --once go with --watch");
    if (!a->watch)
        return CLI_OK;
    if (!a->agent)
        return usage("--watch answers re-verification requests as the node's agent: it goes "
                     "with --agent, --address and --key-file");
    if (a->cloud < 0)
        return usage("--watch needs --cloud aws|gcp|azure: whose metadata service holds the "
                     "requests");
    if (a->request)
        return usage("--watch reads the requests' nonces from the metadata service; drop "
                     "--request");
    if (a->calibrate || a->json)
        return usage("--watch prints signed blocks; --calibrate and --json don't go with it");
    return CLI_OK;
}

/* ADDRESS...: the stack's nodes, with nothing that only verifying this host takes. */
static int nodes_args(struct verify_args *a, int argc, char **argv)
{
    if (a->agent || a->calibrate || a->baseline || a->backend || a->opts.faults ||
        a->instance_type || a->catalog || a->opts.mem_bytes || a->opts.devices || a->opts.serial ||
        a->runs || a->out)
        return usage("verifying nodes ('%s') takes --stack, --sim, --level, --timeout, "
                     "--lock-timeout and --json; the other options verify this host",
                     argv[optind]);
    a->nodes.json = a->json;
    a->nodes.addresses = (const char *const *)(argv + optind);
    a->nodes.naddresses = (size_t)(argc - optind);
    return CLI_OK;
}

static int parse_args(int argc, char **argv, struct verify_args *a)
{
    static const struct option longopts[] = {
        {"level", required_argument, NULL, 'l'},
        {"json", no_argument, NULL, 'j'},
        {"backend", required_argument, NULL, 'b'},
        {"inject", required_argument, NULL, 'i'},
        {"instance-type", required_argument, NULL, 't'},
        {"catalog", required_argument, NULL, 'C'},
        {"mem-mib", required_argument, NULL, 'm'},
        {"calibrate", no_argument, NULL, 'K'},
        {"out", required_argument, NULL, 'o'},
        {"runs", required_argument, NULL, 'r'},
        {"baseline", required_argument, NULL, 'B'},
        {"devices", required_argument, NULL, 'D'},
        {"inject-gpu", required_argument, NULL, 'g'},
        {"serial", no_argument, NULL, 's'},
        {"agent", no_argument, NULL, 'A'},
        {"address", required_argument, NULL, 'a'},
        {"key-file", required_argument, NULL, 'k'},
        {"request", required_argument, NULL, 'R'},
        {"watch", no_argument, NULL, 'W'},
        {"cloud", required_argument, NULL, 'c'},
        {"interval", required_argument, NULL, 'I'},
        {"once", no_argument, NULL, 'O'},
        {"stack", required_argument, NULL, 'P'},
        {"sim", optional_argument, NULL, 'S'},
        {"timeout", required_argument, NULL, 'T'},
        {"lock-timeout", required_argument, NULL, 'L'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            a->nodes.level = optarg;
            if (!strcmp(optarg, "quick"))
                a->opts.level = VERIFY_QUICK;
            else if (!strcmp(optarg, "full"))
                a->opts.level = VERIFY_FULL;
            else
                return usage("unknown level '%s' (quick or full)", optarg);
            break;
        case 'j':
            a->json = true;
            break;
        case 'b':
            if (!verify_backend_find(optarg))
                return usage("unknown backend '%s' (cuda or cpu)", optarg);
            a->backend = optarg;
            break;
        case 'i': {
            unsigned bit;
            if (verify_fault_parse(optarg, &bit) != 0)
                return usage("unknown fault '%s' (" VERIFY_FAULT_NAMES ")", optarg);
            a->opts.faults |= bit;
            break;
        }
        case 't':
            a->instance_type = optarg;
            break;
        case 'C':
            a->catalog = optarg;
            break;
        case 'm': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end || v == 0 || v > (1ul << 20))
                return usage("--mem-mib wants a size in MiB from 1 to 1048576, not '%s'", optarg);
            a->opts.mem_bytes = (uint64_t)v << 20;
            break;
        }
        case 'K':
        case 'o':
        case 'r':
        case 'B':
        case 'D':
        case 'g':
        case 's':
            if (parallel_option(ch, optarg, a) != CLI_OK)
                return CLI_ERROR;
            break;
        case 'A':
            a->agent = true;
            break;
        case 'a':
            a->address = optarg;
            break;
        case 'k':
            a->key_file = optarg;
            break;
        case 'R':
            if (strlen(optarg) != 32 || strspn(optarg, "0123456789abcdef") != 32)
                return usage("--request wants the request's nonce (32 lowercase hex digits), not "
                             "'%s'",
                             optarg);
            a->request = optarg;
            break;
        case 'W':
        case 'c':
        case 'I':
        case 'O':
            if (watch_option(ch, optarg, a) != CLI_OK)
                return CLI_ERROR;
            break;
        case 'P':
        case 'S':
        case 'T':
        case 'L':
            if (nodes_option(ch, optarg, a) != CLI_OK)
                return CLI_ERROR;
            break;
        case ':':
            return usage("option '%s' needs a value", argv[optind - 1]);
        default:
            return usage("unknown option '%s' for 'verify'", argv[optind - 1]);
        }
    }
    if (a->agent && (!a->address || !a->key_file))
        return usage("--agent needs --address ADDRESS and --key-file PATH (the boot script gpuform "
                     "writes passes them)");
    if (!a->agent && (a->address || a->key_file || a->request))
        return usage("--address, --key-file and --request go with --agent");
    if (watch_args(a) != CLI_OK)
        return CLI_ERROR;
    return optind < argc ? nodes_args(a, argc, argv) : calibrate_args(a);
}

static void unavailable(const struct verify_args *a, const char *why)
{
    const char *hint = "run the CPU reference checks with 'gpuform verify --backend cpu'";
    fprintf(stderr, "gpuform: verify on a GPU is unavailable: %s\nhint: %s\n", why, hint);
    if (!a->json)
        return;
    char *s = NULL;
    json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s}", "version", 1, "backend", "cuda", "status",
                          "unavailable", "reason", why, "hint", hint);
    if (o)
        s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s)
        puts(s);
    free(s);
    json_decref(o);
}

/* Reads the node key: 64 hex digits and an optional newline. 0, or -1 having said why. */
static int read_key(const char *path, unsigned char key[EXEC_VERIFY_KEY_LEN])
{
    char buf[160] = "";
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    int rc = -1;
    if (!f)
        fprintf(stderr, "gpuform: verify --agent: can't read the key file '%s'\n", path);
    else if (n != 2 * EXEC_VERIFY_KEY_LEN || strspn(buf, "0123456789abcdef") != n)
        fprintf(stderr, "gpuform: verify --agent: '%s' does not hold a key (64 hex digits)\n",
                path);
    else {
        for (size_t i = 0; i < EXEC_VERIFY_KEY_LEN; i++) {
            unsigned v;
            sscanf(buf + 2 * i, "%2x", &v);
            key[i] = (unsigned char)v;
        }
        rc = 0;
    }
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}

/* --agent: the report as one framed, signed block on stdout (the boot script sends stdout
 * to the serial console). 0, or -1 having said why. */
static int agent_emit(const struct verify_args *a, const struct verify_report *rep)
{
    unsigned char key[EXEC_VERIFY_KEY_LEN];
    if (read_key(a->key_file, key) != 0)
        return -1;
    char *json = verify_report_json(rep);
    char *frame = json ? exec_frame_write(a->address, key, json, strlen(json)) : NULL;
    OPENSSL_cleanse(key, sizeof key);
    if (frame)
        fputs(frame, stdout);
    else
        fputs("gpuform: verify --agent: out of memory framing the report\n", stderr);
    fflush(stdout);
    int rc = frame ? 0 : -1;
    free(frame);
    free(json);
    return rc;
}

/* One run of the checks and its output: the table, --json, or (--agent) the signed block
 * answering `request` (a nonce, or NULL for a boot report). CLI_OK when the node passed. */
static int run_once(const struct verify_backend *b, const struct verify_args *a,
                    const char *fallback, const char *request)
{
    struct verify_report rep;
    verify_report_init(&rep);
    char err[1024] = "";
    int rc = CLI_ERROR;
    int vr = verify_run(b, &a->opts, &rep, err, sizeof(err));
    if (vr == -2) {
        fprintf(stderr, "gpuform: %s\n", err); /* the baseline does not fit this node */
        goto out;
    } else if (vr != 0) {
        if (!strcmp(b->name, "cuda"))
            unavailable(a, err);
        else
            fprintf(stderr, "gpuform: verify: %s\n", err);
        goto out;
    }
    if (!strcmp(b->name, "cpu"))
        snprintf(rep.note, sizeof(rep.note),
                 "%sCPU reference: the checks' host logic on host "
                 "memory, not a GPU verification",
                 fallback[0] ? "no GPU found, so the CPU reference ran instead. " : "");
    if (a->agent) {
        if (request)
            snprintf(rep.request, sizeof rep.request, "%s", request);
        if (agent_emit(a, &rep) != 0)
            goto out;
    } else if (a->json) {
        char *s = verify_report_json(&rep);
        if (!s) {
            fputs("gpuform: out of memory writing the report\n", stderr);
            goto out;
        }
        puts(s);
        free(s);
    } else {
        verify_report_print(&rep, stdout);
    }
    rc = verify_report_failed(&rep) ? CLI_ERROR : CLI_OK;
out:
    verify_report_release(&rep);
    return rc;
}

/* Says a metadata error on stderr (the console): the first time, then again only when it
 * changes or WATCH_WARN_EVERY seconds have passed, so a node without its metadata service
 * does not fill its console. msg NULL: the service answers; say so once after errors. */
struct watch_log {
    char last[600];
    time_t at;
};

static void watch_note(struct watch_log *l, const char *msg)
{
    time_t now = time(NULL);
    if (!msg) {
        if (l->last[0])
            fputs("gpuform: verify --watch: the metadata service answers again\n", stderr);
        l->last[0] = '\0';
        return;
    }
    if (!strcmp(l->last, msg) && now - l->at < WATCH_WARN_EVERY)
        return;
    fprintf(stderr, "gpuform: verify --watch: %s\n", msg);
    snprintf(l->last, sizeof l->last, "%s", msg);
    l->at = now;
}

/*
 * --watch: reads EXEC_VERIFY_REQUEST_KEY from the metadata service every --interval seconds;
 * a request ("LEVEL:NONCE") whose nonce differs from the last one answered runs the checks
 * at that level and prints the block answering it. The last nonce lives in memory only, so a
 * restarted watcher answers the standing request once more (harmless: the same nonce, a
 * fresh report). --once: one read. Exits only with --once: CLI_OK when there was nothing to
 * answer or the answer passed, CLI_ERROR when the service could not be read or the node failed.
 */
static int agent_watch(const struct verify_backend *b, struct verify_args *a, const char *fallback)
{
    char why[700], value[VERIFY_IMDS_VALUE_MAX + 1], last[EXEC_VERIFY_NONCE_HEX] = "";
    struct verify_imds *m = verify_imds_new((enum core_cloud)a->cloud, NULL, why, sizeof why);
    if (!m) {
        fprintf(stderr, "gpuform: verify --watch: %s\n", why);
        return CLI_ERROR;
    }
    struct watch_log log = {.at = 0};
    int rc = CLI_OK;
    for (;;) {
        enum verify_imds_status st =
            verify_imds_read(m, EXEC_VERIFY_REQUEST_KEY, value, sizeof value, why, sizeof why);
        char level[8], nonce[EXEC_VERIFY_NONCE_HEX];
        rc = st == VERIFY_IMDS_ERROR ? CLI_ERROR : CLI_OK;
        if (st == VERIFY_IMDS_ERROR) {
            watch_note(&log, why);
        } else if (st == VERIFY_IMDS_VALUE && exec_verify_request_parse(value, level, nonce) != 0) {
            watch_note(&log, "the metadata item " EXEC_VERIFY_REQUEST_KEY
                             " is not a request (LEVEL:NONCE); ignored");
        } else {
            watch_note(&log, NULL);
            if (st == VERIFY_IMDS_VALUE && strcmp(nonce, last) != 0) {
                a->opts.level = !strcmp(level, "full") ? VERIFY_FULL : VERIFY_QUICK;
                rc = run_once(b, a, fallback, nonce);
                memcpy(last, nonce, sizeof last); /* answered once, passed or not */
            }
        }
        if (a->once)
            break;
        sleep((unsigned)(a->interval ? a->interval : WATCH_INTERVAL));
    }
    verify_imds_free(m);
    return rc;
}

int cmd_verify(int argc, char **argv)
{
    struct verify_args a = {.backend = NULL, .cloud = -1}; /* backend NULL: cuda, else the CPU
                                                            * reference */
    if (parse_args(argc, argv, &a) != CLI_OK)
        return CLI_ERROR;
    if (a.nodes.naddresses)
        return cli_verify_nodes(&a.nodes);
    if (a.nodes.stack || a.nodes.sim || a.nodes.timeout_s || a.nodes.lock_timeout_s)
        return usage("--stack, --sim, --timeout and --lock-timeout go with the ADDRESS of the "
                     "nodes to verify");
    if (a.instance_type && expect_instance(&a) != CLI_OK)
        return CLI_ERROR;
    char fallback[400] = "";
    const struct verify_backend *b = verify_backend_find(a.backend ? a.backend : "cuda");
    if (!a.backend) {
        /* No backend named: on a host without a usable GPU, say so and run the CPU
         * reference. Not when an instance type promises GPUs: then no GPU is a failure. */
        char why[300] = "";
        if (b->probe(why, sizeof(why)) != 0) {
            if (a.opts.expected_gpus > 0) {
                unavailable(&a, why);
                return CLI_ERROR;
            }
            snprintf(fallback, sizeof(fallback),
                     "no GPU found (%.200s); ran the CPU reference checks instead", why);
            fprintf(stderr, "gpuform: %s\n", fallback);
            b = verify_backend_find("cpu");
        }
    }
    /* the CPU reference simulates one device (or --devices) unless the instance type
     * promises more */
    if (!strcmp(b->name, "cpu") && a.opts.expected_gpus == 0)
        a.opts.expected_gpus = a.opts.devices ? a.opts.devices : 1;
    if (a.opts.devices && strcmp(b->name, "cpu"))
        return usage("--devices simulates devices on the CPU reference; the cuda backend checks "
                     "the GPUs it finds");
    if (a.calibrate)
        return run_calibration(b, &a);
    struct verify_baseline *baseline = NULL;
    if (load_baseline(&a, &baseline) != CLI_OK)
        return CLI_ERROR;
    a.opts.baseline = baseline;
    int rc = a.watch ? agent_watch(b, &a, fallback) : run_once(b, &a, fallback, a.request);
    verify_baseline_free(baseline);
    return rc;
}
