/*
 * measure: runs a command several times and reports its wall time, CPU time and peak RSS,
 * the way bench/bench_validate.c does (fork/exec, reaped with wait4() for its rusage).
 *
 *   cc -O2 -std=c11 -o measure bench/plan/measure.c
 *   measure [-n RUNS] [--warmup W] [-t SECONDS] [-o OUT] [-e ERR] -- COMMAND [ARGS...]
 *
 * -t: a run still going after SECONDS is killed (SIGKILL); it counts with exit=timeout and
 * no further runs are made.
 *
 * The standard output of the last run goes to OUT and its standard error to ERR (both
 * /dev/null when not given); earlier runs write to /dev/null. A non-zero exit status is
 * recorded, not treated as a failure (an infeasible plan exits 1 on purpose), but every run
 * must exit the same way. Prints one line per run, then
 *   result: runs=N exit=E wall_median_s=... wall_min_s=... wall_max_s=... cpu_median_s=...
 *           rss_median_kib=... rss_max_kib=...
 * Exits 0, or 2 on a usage error or when runs disagree on the exit status or a run is
 * killed by a signal.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_RUNS 1000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct sample {
    double wall, cpu;
    long rss_kib;
    int exit_code; /* -signal when killed */
    int timed_out;
};

static double timeout_s;
static volatile sig_atomic_t alarmed;

static void on_alarm(int sig)
{
    (void)sig;
    alarmed = 1;
}

static int run_once(char *const argv[], const char *out, const char *err, struct sample *s)
{
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "measure: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int fo = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(err ? err : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || fo < 0 || fe < 0)
            _exit(126);
        dup2(in, STDIN_FILENO);
        dup2(fo, STDOUT_FILENO);
        dup2(fe, STDERR_FILENO);
        execvp(argv[0], argv);
        _exit(127);
    }
    int status;
    struct rusage ru;
    pid_t r;
    alarmed = 0;
    s->timed_out = 0;
    if (timeout_s > 0) {
        struct itimerval it = {
            {0, 0},
            {(time_t)timeout_s, (suseconds_t)((timeout_s - (double)(time_t)timeout_s) * 1e6)}};
        setitimer(ITIMER_REAL, &it, NULL);
    }
    for (;;) {
        r = wait4(pid, &status, 0, &ru);
        if (r >= 0 || errno != EINTR)
            break;
        if (alarmed && !s->timed_out) {
            s->timed_out = 1;
            kill(pid, SIGKILL);
        }
    }
    if (timeout_s > 0) {
        struct itimerval off = {{0, 0}, {0, 0}};
        setitimer(ITIMER_REAL, &off, NULL);
    }
    s->wall = now_s() - t0;
    if (r < 0) {
        fprintf(stderr, "measure: wait4: %s\n", strerror(errno));
        return -1;
    }
    s->rss_kib = ru.ru_maxrss;
    s->cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
             (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    s->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    return 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmp_l(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int runs = 5, warmup = 0, i;
    const char *out = NULL, *err = NULL;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc)
            warmup = atoi(argv[++i]);
        else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
            timeout_s = atof(argv[++i]);
        else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "-e") == 0 && i + 1 < argc)
            err = argv[++i];
        else
            break;
    }
    if (i >= argc || runs < 1 || runs > MAX_RUNS || warmup < 0 || warmup > MAX_RUNS) {
        fputs("usage: measure [-n RUNS] [--warmup W] [-t SECONDS] [-o OUT] [-e ERR] -- COMMAND "
              "[ARGS...]\n",
              stderr);
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm; /* no SA_RESTART: wait4 returns EINTR */
    sigaction(SIGALRM, &sa, NULL);
    char **cmd = argv + i;
    struct sample s;
    for (int k = 0; k < warmup; k++)
        if (run_once(cmd, NULL, NULL, &s) < 0)
            return 2;
    static double wall[MAX_RUNS], cpu[MAX_RUNS];
    static long rss[MAX_RUNS];
    int code = 0;
    for (int k = 0; k < runs; k++) {
        int last = k == runs - 1;
        if (run_once(cmd, last || timeout_s > 0 ? out : NULL, last || timeout_s > 0 ? err : NULL,
                     &s) < 0)
            return 2;
        if (s.timed_out) {
            printf("  run %2d: killed after %.1f s (the limit)\n", k + 1, s.wall);
            printf("result: runs=%d exit=timeout wall_median_s=%.4f wall_min_s=%.4f "
                   "wall_max_s=%.4f cpu_median_s=%.4f rss_median_kib=%ld rss_max_kib=%ld\n",
                   k + 1, s.wall, s.wall, s.wall, s.cpu, s.rss_kib, s.rss_kib);
            return 0;
        }
        printf("  run %2d: %9.4f s wall, %9.4f s CPU, peak RSS %9ld KiB, exit %d\n", k + 1, s.wall,
               s.cpu, s.rss_kib, s.exit_code);
        if (s.exit_code < 0) {
            fprintf(stderr, "measure: %s killed by signal %d\n", cmd[0], -s.exit_code);
            return 2;
        }
        if (k == 0)
            code = s.exit_code;
        else if (s.exit_code != code) {
            fprintf(stderr, "measure: %s exited %d, then %d\n", cmd[0], code, s.exit_code);
            return 2;
        }
        wall[k] = s.wall;
        cpu[k] = s.cpu;
        rss[k] = s.rss_kib;
    }
    double wmin = wall[0], wmax = wall[0];
    long rmax = rss[0];
    for (int k = 1; k < runs; k++) {
        wmin = wall[k] < wmin ? wall[k] : wmin;
        wmax = wall[k] > wmax ? wall[k] : wmax;
        rmax = rss[k] > rmax ? rss[k] : rmax;
    }
    qsort(wall, (size_t)runs, sizeof(double), cmp_d);
    qsort(cpu, (size_t)runs, sizeof(double), cmp_d);
    qsort(rss, (size_t)runs, sizeof(long), cmp_l);
    int m = runs / 2;
    double wmed = runs % 2 ? wall[m] : (wall[m - 1] + wall[m]) / 2;
    double cmed = runs % 2 ? cpu[m] : (cpu[m - 1] + cpu[m]) / 2;
    long rmed = runs % 2 ? rss[m] : (rss[m - 1] + rss[m]) / 2;
    printf("result: runs=%d exit=%d wall_median_s=%.4f wall_min_s=%.4f wall_max_s=%.4f "
           "cpu_median_s=%.4f rss_median_kib=%ld rss_max_kib=%ld\n",
           runs, code, wmed, wmin, wmax, cmed, rmed, rmax);
    return 0;
}
