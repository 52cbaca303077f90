/*
 * gpuform_bench_gen: writes a valid stack of about a requested size, for benchmarks.
 *
 *   gpuform_bench_gen [--bytes N] [--seed S] OUT.yaml
 *
 * The output is deterministic for a given size and seed (its own PRNG, no clock, no
 * locale-dependent formatting) and realistic: three clouds with regions and quotas,
 * variables, budgets with label selectors, then workloads of every kind until the size is
 * reached: training (data, labels, run), services (GPU maps with memory ranges, spread,
 * exclude globs, max_per_region), batch, and federated workloads with sites. Block and flow
 * styles, comments, quoted and plain scalars are mixed the way hand-written stacks mix them.
 * Every choice keeps the stack valid and free of warnings: `gpuform validate --strict OUT`
 * must exit 0 (bench/run.sh checks it).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- deterministic randomness (splitmix64) ---- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static unsigned rnd(unsigned n)
{
    return (unsigned)(rng_next() % n);
}

/* Uniform in [lo, hi]. */
static int rnd_range(int lo, int hi)
{
    return lo + (int)rnd((unsigned)(hi - lo + 1));
}

static bool chance(unsigned percent)
{
    return rnd(100) < percent;
}

#define PICK(a) ((a)[rnd(ARRAY_LEN(a))])

/* ---- output with a byte count ---- */

static FILE *out;
static uint64_t written;

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void emit(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vfprintf(out, fmt, ap);
    va_end(ap);
    if (n < 0) {
        fprintf(stderr, "gpuform_bench_gen: write error: %s\n", strerror(errno));
        exit(1);
    }
    written += (uint64_t)n;
}

/* ---- the world the stack describes ---- */

struct region {
    const char *cloud, *name;
};

/* Every region the stack declares (clouds: below lists exactly these). */
static const struct region regions[] = {
    {"aws", "us-east-1"},    {"aws", "us-west-2"}, {"aws", "eu-west-1"},    {"gcp", "us-central1"},
    {"gcp", "europe-west4"}, {"azure", "eastus"},  {"azure", "westeurope"},
};

static const char *const teams[] = {"research", "platform", "vision",   "speech",
                                    "ads",      "search",   "robotics", "health"};
static const char *const envs[] = {"prod", "staging", "dev"};
static const char *const models[] = {"llama",  "mixtral",   "vit",  "whisper", "bert",
                                     "ranker", "diffusion", "clip", "t5",      "embed"};
static const char *const tasks[] = {"pretrain", "finetune", "distill", "eval", "sweep", "rlhf"};
static const char *const svc_tasks[] = {"serve", "api", "embed", "rerank", "chat", "vision"};
static const char *const batch_tasks[] = {"etl",       "index",    "score",
                                          "transcode", "backfill", "features"};
static const char *const fed_tasks[] = {"fl", "federated", "private", "edge"};
static const char *const cities[] = {"boston",   "seattle", "dublin", "iowa",    "amsterdam",
                                     "virginia", "london",  "paris",  "chicago", "oregon"};

/* A GPU and the per-node counts that make sense for it. */
struct gpu {
    const char *name;
    int counts[4];
    int ncounts;
};

static const struct gpu train_gpus[] = {
    {"H100", {8, 8, 4, 2}, 4}, {"A100-80GB", {8, 4, 8, 2}, 4}, {"L40S", {8, 4, 2, 1}, 4},
    {"V100", {8, 4, 1, 8}, 4}, {"A10G", {4, 1, 8, 4}, 4},
};
static const struct gpu infer_gpus[] = {
    {"L4", {1, 2, 4, 8}, 4},   {"A10G", {1, 4, 1, 8}, 4}, {"T4", {1, 4, 1, 2}, 4},
    {"L40S", {1, 2, 4, 8}, 4}, {"H100", {1, 2, 8, 4}, 4}, {"A100-80GB", {1, 2, 4, 8}, 4},
};

/* GPU maps with memory ranges some listed model always meets (check_gpu_memory). */
struct gpu_map {
    const char *names, *memory;
};

static const struct gpu_map gpu_maps[] = {
    {"[L4, A10G]", "20GB.."},         {"[A100-80GB, H100]", "40GB..80GB"}, {"L40S", "..48GB"},
    {"[T4, V100, L4]", "..24GB"},     {"[L40S, A100-80GB]", "48GB.."},     {"H100", "80GB"},
    {"[A10G, L4, T4]", "16GB..24GB"},
};

/*
 * Placements for training, batch and service workloads, with what they leave: how many
 * clouds and declared regions remain (for spread and max_per_region). spread needs as many
 * nodes as clouds; together rules out spread >= 2 and max_per_region below the count.
 */
struct placement {
    const char *yaml; /* lines after "placement:", each indented by 6; NULL = no placement */
    int clouds, candidates;
    bool together, spread;
};

static const struct placement placements[] = {
    {NULL, 3, 7, false, false},
    {"      together: region\n      clouds: [aws]\n      regions: [us-*]\n", 1, 2, true, false},
    {"      clouds: [gcp, azure]\n      regions:\n        exclude: [\"*europe*\"]\n", 2, 2, false,
     false},
    {"      spread: {clouds: 2}\n      regions: {exclude: [eu-*, \"*europe*\"]}\n", 3, 4, false,
     true},
    {"      regions:\n        include: [us-*, eastus]\n        exclude: [us-west-*]\n", 3, 3, false,
     false},
    {"      together: zone\n      clouds: [azure]\n", 1, 2, true, false},
    {"      clouds: [aws, gcp]\n      spread:\n        clouds: 2\n", 2, 5, false, true},
    {"      clouds: [aws, gcp, azure]\n      spread: {clouds: 3}\n", 3, 7, false, true},
};

static const char *const train_hours[] = {"72h", "168", "3d", "36h", "1w", "12h30m", "240", "5d"};
static const char *const batch_hours[] = {"1h30m", "2h", "45m", "6", "4h", "0.5", "90m", "24h"};
static const char *const svc_hours[] = {"730", "500h", "30d", "200", "12h", "720", "400", "600"};
static const char *const data_sizes[] = {"500GB", "2TB", "80GiB", "1.5TB", "250GB", "12TB", "4TiB"};
static const char *const spots[] = {"never", "auto", "always"};
static const char *const verifies[] = {"none", "quick", "full"};

/* ---- sections ---- */

static void header(uint64_t target, uint64_t seed)
{
    emit("# Generated by gpuform_bench_gen --bytes %" PRIu64 " --seed %" PRIu64 ".\n"
         "# A synthetic but realistic stack for benchmarks; see docs/benchmarks.md.\n"
         "version: 1\n"
         "stack: bench-s%" PRIu64 "\n\n",
         target, seed, seed % 100000);
    emit("variables:\n"
         "  home_region:\n"
         "    type: string\n"
         "    default: us-east-1\n"
         "    description: where the shared datasets live\n"
         "  image_tag:\n"
         "    type: string\n"
         "    default: \"2026.11.1\"\n"
         "    description: release of every team image\n"
         "  default_nodes: {type: number, default: 2}\n"
         "  eval_hours: 6\n\n");
    emit("state:\n"
         "  backend: file\n"
         "  path: .gpuform/bench-state.json\n\n"
         "defaults:\n"
         "  spot: auto\n"
         "  verify: quick\n\n");
    emit("clouds:\n"
         "  aws:\n"
         "    profile: gpu-fleet\n"
         "    regions: [us-east-1, us-west-2, eu-west-1]\n"
         "    quotas:\n"
         "      us-east-1: {gpus: 4096}\n"
         "      us-west-2:\n"
         "        gpus: 2048\n"
         "      \"*\": 512\n"
         "  gcp:\n"
         "    project: acme-ml-prod\n"
         "    credentials_file: ${env.GOOGLE_APPLICATION_CREDENTIALS}\n"
         "    regions:\n"
         "      - us-central1\n"
         "      - europe-west4\n"
         "    quotas: {us-central1: {gpus: 2048}, europe-west4: 1024}\n"
         "  azure:\n"
         "    subscription: 3f2c9a1e-5b7d-4c0e-9a8b-1d2e3f4a5b6c\n"
         "    resource_group: gpu-fleet-rg\n"
         "    tenant: ${env.AZURE_TENANT_ID}\n"
         "    client_id: ${env.AZURE_CLIENT_ID}\n"
         "    client_secret: ${env.AZURE_CLIENT_SECRET}\n"
         "    regions: [eastus, westeurope]\n"
         "    quotas:\n"
         "      \"*\": {gpus: 768}\n\n");
    emit("budgets:\n"
         "  total:\n"
         "    monthly: 25000000\n");
    for (size_t i = 0; i < ARRAY_LEN(teams); i++)
        emit("  team-%s:\n"
             "    hourly: %d\n"
             "    match: {team: %s}\n",
             teams[i], 500 + 250 * (int)i, teams[i]);
    emit("  production:\n"
         "    monthly: 9000000.50\n"
         "    match:\n"
         "      env: [prod, staging]\n"
         "  research-prod:\n"
         "    hourly: 1200\n"
         "    monthly: 800000\n"
         "    match: {team: research, env: prod}\n\n"
         "workloads:\n"
         "  # Nightly evaluation: the one workload that uses every variable.\n"
         "  nightly-eval:\n"
         "    kind: batch\n"
         "    gpu: A100-80GB:8\n"
         "    nodes: ${var.default_nodes}\n"
         "    hours: ${var.eval_hours}\n"
         "    verify: full\n"
         "    data: {location: \"aws/${var.home_region}\", size: 3TB}\n"
         "    labels: {team: research, env: prod}\n"
         "    run:\n"
         "      image: registry.example.com/research/eval:${var.image_tag}\n"
         "      command: [python, -m, eval.nightly, --all]\n");
}

static void labels(const char *team, const char *env)
{
    if (chance(50)) {
        emit("    labels: {team: %s, env: %s, project: proj-%04u}\n", team, env, rnd(5000));
    } else {
        emit("    labels:\n"
             "      team: %s\n"
             "      env: %s\n"
             "      cost-center: \"cc-%04u\"\n"
             "      owner: %s.%s@example.com\n",
             team, env, rnd(10000), PICK(models), team);
    }
}

static void run_section(const char *team, const char *model, bool uses_var)
{
    emit("    run:\n");
    if (uses_var)
        emit("      image: registry.example.com/%s/%s:${var.image_tag}\n", team, model);
    else
        emit("      image: \"registry.example.com/%s/%s:v%u.%u\"\n", team, model, rnd(5), rnd(20));
    switch (rnd(3)) {
    case 0:
        emit("      command: [torchrun, --nproc_per_node=8, train.py, --config, configs/%s.yaml]\n",
             model);
        break;
    case 1:
        emit("      command:\n"
             "        - python\n"
             "        - -m\n"
             "        - %s.main\n"
             "        - --epochs=%u\n",
             model, 1 + rnd(10));
        break;
    default:
        emit("      command: \"bash -c 'python serve.py --model %s --port 8080'\"\n", model);
        break;
    }
    if (chance(70)) {
        emit("      env:\n"
             "        NCCL_DEBUG: %s\n"
             "        WANDB_PROJECT: %s-%s\n",
             chance(50) ? "INFO" : "WARN", team, model);
        if (chance(40))
            emit("        HF_HOME: /mnt/cache/hf\n        OMP_NUM_THREADS: \"%u\"\n", 1 + rnd(16));
    }
}

/* placement: block for a workload of `count` nodes; returns the count, maybe raised. */
static int placement(int count, bool allow_spread)
{
    const struct placement *p;
    do
        p = &placements[rnd(ARRAY_LEN(placements))];
    while (p->spread && !allow_spread);
    if (p->spread && count < p->clouds)
        count = p->clouds; /* spread over K clouds needs at least K nodes */
    if (!p->yaml && !chance(30))
        return count;
    emit("    placement:\n");
    if (p->yaml)
        emit("%s", p->yaml);
    if (!p->together && chance(40)) {
        int per = (count + p->candidates - 1) / p->candidates + (int)rnd(3);
        emit("      max_per_region: %d\n", per);
    }
    if (!p->yaml && !p->together)
        emit("      together: none\n");
    return count;
}

static void training(size_t i, const char *team, const char *env, bool batch)
{
    const char *model = PICK(models);
    const char *task = batch ? PICK(batch_tasks) : PICK(tasks);
    emit("  %s-%s-%06zu:\n", model, task, i);
    emit("    kind: %s\n", batch ? "batch" : "training");
    const struct gpu *g =
        batch ? &infer_gpus[rnd(ARRAY_LEN(infer_gpus))] : &train_gpus[rnd(ARRAY_LEN(train_gpus))];
    emit("    gpu: %s:%d\n", g->name, g->counts[rnd((unsigned)g->ncounts)]);
    bool use_var = i % 7 == 0; /* only in strings: a variable's value can't break a rule */
    int nodes = batch ? rnd_range(1, 16) : (chance(20) ? rnd_range(16, 64) : rnd_range(1, 8));
    /* Placement first, in a buffer of our own, since spread may need more nodes. */
    char *pbuf = NULL;
    size_t plen = 0;
    FILE *saved = out;
    uint64_t saved_written = written;
    out = open_memstream(&pbuf, &plen);
    if (!out) {
        perror("gpuform_bench_gen: open_memstream");
        exit(1);
    }
    nodes = placement(nodes, true);
    fclose(out);
    out = saved;
    written = saved_written;
    emit("    nodes: %d\n", nodes);
    emit("    hours: %s\n", batch ? PICK(batch_hours) : PICK(train_hours));
    if (chance(60))
        emit("    spot: %s\n", PICK(spots));
    if (chance(30))
        emit("    verify: %s\n", PICK(verifies));
    emit("%s", pbuf);
    free(pbuf);
    if (!batch || chance(50)) {
        const struct region *r = &regions[rnd(ARRAY_LEN(regions))];
        emit("    data:\n");
        emit("      location: %s/%s\n", r->cloud, r->name);
        emit("      size: %s\n", PICK(data_sizes));
    }
    labels(team, env);
    run_section(team, model, use_var);
}

static void service(size_t i, const char *team, const char *env)
{
    const char *model = PICK(models);
    emit("  %s-%s-%06zu:\n", model, PICK(svc_tasks), i);
    emit("    kind: service\n");
    if (chance(60)) {
        static const int counts[] = {1, 1, 2, 4, 8};
        const struct gpu_map *m = &gpu_maps[rnd(ARRAY_LEN(gpu_maps))];
        if (chance(70))
            emit("    gpu: {name: %s, count: %d, memory: %s}\n", m->names, PICK(counts), m->memory);
        else
            emit("    gpu:\n"
                 "      name: %s\n"
                 "      memory: \"%s\"\n",
                 m->names, m->memory);
    } else {
        const struct gpu *g = &infer_gpus[rnd(ARRAY_LEN(infer_gpus))];
        if (chance(50))
            emit("    gpu: %s:%d\n", g->name, g->counts[rnd((unsigned)g->ncounts)]);
        else
            emit("    gpu:\n"
                 "      name: %s\n"
                 "      count: %d\n",
                 g->name, g->counts[rnd((unsigned)g->ncounts)]);
    }
    int replicas = chance(10) ? rnd_range(16, 128) : rnd_range(1, 12);
    char *pbuf = NULL;
    size_t plen = 0;
    FILE *saved = out;
    uint64_t saved_written = written;
    out = open_memstream(&pbuf, &plen);
    if (!out) {
        perror("gpuform_bench_gen: open_memstream");
        exit(1);
    }
    replicas = placement(replicas, true);
    fclose(out);
    out = saved;
    written = saved_written;
    emit("    replicas: %d\n", replicas);
    if (chance(60))
        emit("    hours: %s\n", PICK(svc_hours));
    if (chance(50))
        emit("    spot: %s\n", chance(70) ? "never" : "auto");
    emit("%s", pbuf);
    free(pbuf);
    labels(team, env);
    run_section(team, model, i % 7 == 0);
}

static void federated(size_t i, const char *team, const char *env)
{
    emit("  %s-%s-%06zu:\n", PICK(models), PICK(fed_tasks), i);
    emit("    kind: federated\n");
    emit("    gpu: %s\n", chance(50) ? "T4" : (chance(50) ? "L4:2" : "A10G"));
    if (chance(50))
        emit("    hours: %s\n", PICK(svc_hours));
    if (chance(30))
        emit("    verify: full\n");
    /* 2 to 6 distinct sites, each pinned to one declared region. */
    unsigned nsites = 2 + rnd(5), start = rnd(ARRAY_LEN(cities));
    emit("    sites:\n");
    for (unsigned k = 0; k < nsites; k++) {
        const struct region *r = &regions[rnd(ARRAY_LEN(regions))];
        const char *city = cities[(start + k) % ARRAY_LEN(cities)];
        if (chance(50))
            emit("      site-%s: {location: %s/%s}\n", city, r->cloud, r->name);
        else
            emit("      site-%s:\n"
                 "        location: %s/%s\n",
                 city, r->cloud, r->name);
    }
    labels(team, env);
}

static void workload(size_t i)
{
    /* Teams and environments cycle, so every budget matches some workload early on. */
    const char *team = teams[i % ARRAY_LEN(teams)];
    const char *env = envs[(i / ARRAY_LEN(teams)) % ARRAY_LEN(envs)];
    if (chance(8))
        emit("\n  # ---- %s / %s ----\n", team, env);
    unsigned k = rnd(100);
    if (k < 40)
        training(i, team, env, false);
    else if (k < 65)
        service(i, team, env);
    else if (k < 85)
        training(i, team, env, true);
    else
        federated(i, team, env);
}

static void usage(FILE *f)
{
    fputs("usage: gpuform_bench_gen [--bytes N] [--seed S] OUT.yaml\n"
          "Writes a valid, deterministic stack of about N bytes (default 10000000) to OUT.yaml\n"
          "('-' for standard output).\n",
          f);
}

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -1;
    *v = x;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"bytes", required_argument, NULL, 'b'},
        {"seed", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t target = 10000000, seed = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "b:s:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'b':
            if (parse_u64(optarg, &target) < 0 || target == 0) {
                fprintf(stderr, "gpuform_bench_gen: --bytes needs a positive integer\n");
                return 2;
            }
            break;
        case 's':
            if (parse_u64(optarg, &seed) < 0) {
                fprintf(stderr, "gpuform_bench_gen: --seed needs a non-negative integer\n");
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    const char *path = argv[optind];
    out = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (!out) {
        fprintf(stderr, "gpuform_bench_gen: cannot write '%s': %s\n", path, strerror(errno));
        return 1;
    }
    rng_state = seed * 0x2545F4914F6CDD1Dull + 1;
    header(target, seed);
    size_t n = 0;
    while (written < target)
        workload(n++);
    if (fflush(out) != 0 || (out != stdout && fclose(out) != 0)) {
        fprintf(stderr, "gpuform_bench_gen: write error on '%s': %s\n", path, strerror(errno));
        return 1;
    }
    fprintf(stderr, "gpuform_bench_gen: wrote %" PRIu64 " bytes, %zu workloads to %s\n", written,
            n + 1, path); /* + nightly-eval, from header() */
    return 0;
}
