/*
 * `gpuform verify`: runs the GPU node checks (modules/verify) on this host, on the CUDA
 * backend or the CPU reference, and prints the report as a table or JSON; with --agent, as
 * the framed block signed with the node's key that a gated apply reads from the node's
 * serial console (executor/verify_frame.h).
 */
#include "cli/cli.h"

#include <getopt.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "core/gpu_models.h"
#include "executor/verify_frame.h"
#include "modules/verify/verify.h"
#include "planner/catalog.h"

struct verify_args {
    struct verify_options opts;
    const char *backend;
    const char *instance_type;
    const char *catalog;
    bool json;
    bool agent;           /* --agent: the report framed and signed for the console */
    const char *address;  /* --address: the node the agent speaks for */
    const char *key_file; /* --key-file: its key, 64 hex digits */
};

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
        {"agent", no_argument, NULL, 'A'},
        {"address", required_argument, NULL, 'a'},
        {"key-file", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (ch) {
        case 'l':
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
                return usage("unknown fault '%s' (mem_bitflip, gemm_corrupt, nan, slow_bw, "
                             "hide_gpu, nvml_ecc)",
                             optarg);
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
        case 'A':
            a->agent = true;
            break;
        case 'a':
            a->address = optarg;
            break;
        case 'k':
            a->key_file = optarg;
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
    if (!a->agent && (a->address || a->key_file))
        return usage("--address and --key-file go with --agent");
    if (optind < argc)
        return usage("verifying the nodes of a stack ('%s') needs the apply engine, which is not "
                     "in this release; 'gpuform verify' checks this host",
                     argv[optind]);
    return CLI_OK;
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

int cmd_verify(int argc, char **argv)
{
    struct verify_args a = {.backend = NULL}; /* NULL: cuda, else the CPU reference */
    if (parse_args(argc, argv, &a) != CLI_OK)
        return CLI_ERROR;
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
    /* the CPU reference simulates one device unless the instance type promises more */
    if (!strcmp(b->name, "cpu") && a.opts.expected_gpus == 0)
        a.opts.expected_gpus = 1;
    struct verify_report rep;
    verify_report_init(&rep);
    char err[512] = "";
    if (verify_run(b, &a.opts, &rep, err, sizeof(err)) != 0) {
        if (!strcmp(b->name, "cuda"))
            unavailable(&a, err);
        else
            fprintf(stderr, "gpuform: verify: %s\n", err);
        verify_report_release(&rep);
        return CLI_ERROR;
    }
    if (!strcmp(b->name, "cpu"))
        snprintf(rep.note, sizeof(rep.note),
                 "%sCPU reference: the checks' host logic on host "
                 "memory, not a GPU verification",
                 fallback[0] ? "no GPU found, so the CPU reference ran instead. " : "");
    if (a.agent) {
        if (agent_emit(&a, &rep) != 0) {
            verify_report_release(&rep);
            return CLI_ERROR;
        }
    } else if (a.json) {
        char *s = verify_report_json(&rep);
        if (!s) {
            fputs("gpuform: out of memory writing the report\n", stderr);
            verify_report_release(&rep);
            return CLI_ERROR;
        }
        puts(s);
        free(s);
    } else {
        verify_report_print(&rep, stdout);
    }
    int rc = verify_report_failed(&rep) ? CLI_ERROR : CLI_OK;
    verify_report_release(&rep);
    return rc;
}
