/*
 * gpuform_bench_validate: times `GPUFORM validate PATH` over several runs.
 *
 *   gpuform_bench_validate [-n RUNS] [--warmup W] [--] GPUFORM PATH [EXTRA-ARGS...]
 *
 * Each run is a fork/exec with stdout and stderr on /dev/null, reaped with wait4() for its
 * rusage. Prints the wall time and peak RSS (ru_maxrss) of every run, then the median and
 * minimum wall time, the median peak RSS, the input size (the file, or the *.yaml and *.yml
 * files of a directory) and the ratio peak RSS / input size. The RSS of `GPUFORM version`
 * (the process with its libraries, before any spec is read) is measured too, so the ratio
 * can be read with and without that fixed cost. A last line `result: key=value ...` is for
 * scripts (bench/run.sh). Exits 1 when any run exits non-zero or is killed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_RUNS 1000

struct sample {
    double wall_s;
    double cpu_s; /* user + system */
    long maxrss_kib;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs argv once; returns 0 when it exited 0, else -1 (after saying why). */
static int run_once(char *const argv[], struct sample *s)
{
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "gpuform_bench_validate: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int fd = open("/dev/null", O_RDWR);
        if (fd >= 0) {
            dup2(fd, STDIN_FILENO);
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            if (fd > STDERR_FILENO)
                close(fd);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    struct rusage ru;
    pid_t r;
    do
        r = wait4(pid, &status, 0, &ru);
    while (r < 0 && errno == EINTR);
    s->wall_s = now_s() - t0;
    if (r < 0) {
        fprintf(stderr, "gpuform_bench_validate: wait4: %s\n", strerror(errno));
        return -1;
    }
    s->maxrss_kib = ru.ru_maxrss; /* kilobytes on Linux */
    s->cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status))
        fprintf(stderr, "gpuform_bench_validate: '%s %s' exited %d%s\n", argv[0], argv[1],
                WEXITSTATUS(status), WEXITSTATUS(status) == 127 ? " (could not run it?)" : "");
    else if (WIFSIGNALED(status))
        fprintf(stderr, "gpuform_bench_validate: '%s %s' was killed by signal %d\n", argv[0],
                argv[1], WTERMSIG(status));
    return -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static double median_double(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static long median_long(long *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_long);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static bool yaml_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && ((n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
                              (n > 4 && strcmp(name + n - 4, ".yml") == 0));
}

/* Bytes of spec input at `path`: the file, or the spec files directly in the directory. */
static int input_size(const char *path, uint64_t *bytes)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        *bytes = (uint64_t)st.st_size;
        return 0;
    }
    DIR *d = opendir(path);
    if (!d)
        return -1;
    uint64_t total = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!yaml_name(e->d_name))
            continue;
        char p[4096];
        snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
            total += (uint64_t)st.st_size;
    }
    closedir(d);
    *bytes = total;
    return 0;
}

static void usage(FILE *f)
{
    fputs("usage: gpuform_bench_validate [-n RUNS] [--warmup W] [--] GPUFORM PATH [ARGS...]\n"
          "Runs 'GPUFORM validate [ARGS...] PATH' RUNS times (default 11) after W warm-up runs\n"
          "(default 1) and prints wall time and peak RSS per run, medians and the RSS/input\n"
          "ratio. Fails when any run exits non-zero.\n",
          f);
}

static int parse_count(const char *s, int min, int max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"runs", required_argument, NULL, 'n'},
        {"warmup", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int runs = 11, warmup = 1, ch;
    while ((ch = getopt_long(argc, argv, "+n:w:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'n':
            if (parse_count(optarg, 1, MAX_RUNS, &runs) < 0) {
                fprintf(stderr, "gpuform_bench_validate: -n needs 1 to %d\n", MAX_RUNS);
                return 2;
            }
            break;
        case 'w':
            if (parse_count(optarg, 0, MAX_RUNS, &warmup) < 0) {
                fprintf(stderr, "gpuform_bench_validate: --warmup needs 0 to %d\n", MAX_RUNS);
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
    if (argc - optind < 2) {
        usage(stderr);
        return 2;
    }
    const char *gpuform = argv[optind], *path = argv[optind + 1];
    int nextra = argc - optind - 2;
    if (access(gpuform, X_OK) != 0) {
        fprintf(stderr, "gpuform_bench_validate: '%s' is not an executable: %s\n", gpuform,
                strerror(errno));
        return 2;
    }
    uint64_t bytes;
    if (input_size(path, &bytes) < 0 || bytes == 0) {
        fprintf(stderr, "gpuform_bench_validate: no spec input at '%s'\n", path);
        return 2;
    }

    /* argv: GPUFORM validate [ARGS...] PATH */
    char **cmd = calloc((size_t)nextra + 4, sizeof(*cmd));
    if (!cmd)
        return 1;
    size_t k = 0;
    cmd[k++] = (char *)argv[optind];
    cmd[k++] = "validate";
    for (int i = 0; i < nextra; i++)
        cmd[k++] = argv[optind + 2 + i];
    cmd[k++] = (char *)argv[optind + 1];
    cmd[k] = NULL;

    /* Fixed cost: the process and its shared libraries, no spec read. */
    char *base_cmd[] = {(char *)argv[optind], "version", NULL};
    long base_rss[3];
    struct sample s;
    for (int i = 0; i < 3; i++) {
        if (run_once(base_cmd, &s) < 0) {
            free(cmd);
            return 1;
        }
        base_rss[i] = s.maxrss_kib;
    }
    long baseline = median_long(base_rss, 3);

    for (int i = 0; i < warmup; i++)
        if (run_once(cmd, &s) < 0) {
            free(cmd);
            return 1;
        }

    double wall[MAX_RUNS], cpu[MAX_RUNS];
    long rss[MAX_RUNS];
    printf("%s validate%s%s %s: %d runs (%d warm-up), input %llu bytes\n", gpuform,
           nextra ? " " : "", nextra ? "[...]" : "", path, runs, warmup, (unsigned long long)bytes);
    int failed = 0;
    for (int i = 0; i < runs; i++) {
        if (run_once(cmd, &s) < 0) {
            failed = 1;
            break;
        }
        wall[i] = s.wall_s;
        cpu[i] = s.cpu_s;
        rss[i] = s.maxrss_kib;
        printf("  run %2d: %8.4f s wall, %8.4f s CPU, peak RSS %8ld KiB\n", i + 1, s.wall_s,
               s.cpu_s, s.maxrss_kib);
    }
    free(cmd);
    if (failed)
        return 1;
    double wmin = wall[0];
    for (int i = 1; i < runs; i++)
        wmin = wall[i] < wmin ? wall[i] : wmin;
    double wmed = median_double(wall, (size_t)runs);
    double cmed = median_double(cpu, (size_t)runs);
    long rmed = median_long(rss, (size_t)runs);
    double mib = 1024.0 * 1024.0;
    double ratio = (double)rmed * 1024.0 / (double)bytes;
    double ratio_net = (double)(rmed > baseline ? rmed - baseline : 0) * 1024.0 / (double)bytes;
    printf("wall time: median %.4f s, min %.4f s (CPU time, user+system: median %.4f s)\n", wmed,
           wmin, cmed);
    printf("peak RSS:  median %.1f MiB (baseline 'gpuform version': %.1f MiB)\n",
           (double)rmed * 1024.0 / mib, (double)baseline * 1024.0 / mib);
    printf("input:     %llu bytes (%.2f MiB)\n", (unsigned long long)bytes, (double)bytes / mib);
    printf("ratio:     peak RSS / input = %.2f (%.2f above the baseline)\n", ratio, ratio_net);
    printf("result: input_bytes=%llu runs=%d wall_median_s=%.4f wall_min_s=%.4f "
           "cpu_median_s=%.4f rss_median_kib=%ld rss_baseline_kib=%ld ratio=%.2f ratio_net=%.2f\n",
           (unsigned long long)bytes, runs, wmed, wmin, cmed, rmed, baseline, ratio, ratio_net);
    return 0;
}
