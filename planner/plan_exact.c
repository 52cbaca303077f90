/*
 * `--solver exact`: the same model as a mixed-integer program in CPLEX LP format, solved by
 * the `cbc` program (Debian's coinor-cbc) and read back. It is the reference the fast
 * solver is tested and benchmarked against, and a way to prove a plan optimal.
 */
#include "planner/plan_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---- the LP file ---- */

struct lp {
    FILE *f;
    int terms; /* on the current line */
    int nrow;
};

/* Writes "+ coef v<a>_<b>", eight terms a line. */
static void term(struct lp *lp, double coef, char var, int a, int b)
{
    if (lp->terms && lp->terms % 8 == 0)
        fputs("\n   ", lp->f);
    fprintf(lp->f, " %s %.17g %c%d_%d", coef < 0 ? "-" : "+", fabs(coef), var, a, b);
    lp->terms++;
}

static void row_begin(struct lp *lp)
{
    fprintf(lp->f, " c%d:", lp->nrow++);
    lp->terms = 0;
}

static void row_end(struct lp *lp, const char *sense, double rhs)
{
    fprintf(lp->f, " %s %.17g\n", sense, rhs);
}

/* Distinct together locations of g: loc ids in first-seen order; returns the count. */
static int locations(const struct plan_group *g, int *locs)
{
    int n = 0;
    for (int o = 0; o < g->nopts; o++) {
        bool seen = false;
        for (int k = 0; k < n && !seen; k++)
            seen = locs[k] == g->opts[o].loc;
        if (!seen)
            locs[n++] = g->opts[o].loc;
    }
    return n;
}

static int write_lp(const struct plan_model *m, FILE *f)
{
    struct lp lp = {.f = f};
    int maxo = 1;
    for (int g = 0; g < m->ngroups; g++)
        maxo = m->groups[g].nopts > maxo ? m->groups[g].nopts : maxo;
    int *locs = malloc((size_t)maxo * sizeof(int));
    if (!locs)
        return -1;
    fprintf(f, "\\ gpuform placement model: %d groups, %d options, %d quota rows, %d budgets\n",
            m->ngroups, m->nx, m->nrows, m->nbudgets);
    fputs("Minimize\n obj:", f);
    lp.terms = 0;
    for (int g = 0; g < m->ngroups; g++)
        for (int o = 0; o < m->groups[g].nopts; o++)
            term(&lp, m->groups[g].opts[o].adj, 'x', g, o);
    fputs("\nSubject To\n", f);
    for (int g = 0; g < m->ngroups; g++) {
        const struct plan_group *gr = &m->groups[g];
        row_begin(&lp); /* demand */
        for (int o = 0; o < gr->nopts; o++)
            term(&lp, 1, 'x', g, o);
        row_end(&lp, "=", gr->n);
        for (int l = 0; l < gr->nlreg; l++) {
            if (gr->statcap[l] >= gr->n)
                continue;
            row_begin(&lp);
            for (int o = 0; o < gr->nopts; o++)
                if (gr->opts[o].lreg == l)
                    term(&lp, 1, 'x', g, o);
            row_end(&lp, "<=", gr->statcap[l]);
        }
        if (gr->together != SPEC_TOGETHER_NONE) {
            int nl = locations(gr, locs);
            for (int k = 0; k < nl; k++) {
                row_begin(&lp);
                for (int o = 0; o < gr->nopts; o++)
                    if (gr->opts[o].loc == locs[k])
                        term(&lp, 1, 'x', g, o);
                term(&lp, -gr->n, 'y', g, k);
                row_end(&lp, "<=", 0);
            }
            row_begin(&lp);
            for (int k = 0; k < nl; k++)
                term(&lp, 1, 'y', g, k);
            row_end(&lp, "=", 1);
        } else if (gr->spread > 1) {
            for (int c = 0; c < CORE_CLOUD_COUNT; c++) {
                row_begin(&lp);
                term(&lp, 1, 'z', g, c);
                for (int o = 0; o < gr->nopts; o++)
                    if ((int)gr->opts[o].cloud == c)
                        term(&lp, -1, 'x', g, o);
                row_end(&lp, "<=", 0);
            }
            row_begin(&lp);
            for (int c = 0; c < CORE_CLOUD_COUNT; c++)
                term(&lp, 1, 'z', g, c);
            row_end(&lp, ">=", gr->spread);
        }
    }
    for (int r = 0; r < m->nrows; r++) {
        int region = m->row_region[r];
        row_begin(&lp);
        for (int g = 0; g < m->ngroups; g++)
            for (int o = 0; o < m->groups[g].nopts; o++)
                if (m->groups[g].opts[o].region == region)
                    term(&lp, m->groups[g].gpus, 'x', g, o);
        row_end(&lp, "<=", (double)m->regions[region].quota);
    }
    for (int b = 0; b < m->nbudgets; b++) {
        if (!isfinite(m->budgets[b].cap))
            continue;
        bool any = false;
        for (int g = 0; g < m->ngroups; g++)
            for (int k = 0; k < m->groups[g].nbudgets; k++)
                any |= m->groups[g].budgets[k] == b && m->groups[g].nopts > 0;
        if (!any)
            continue;
        row_begin(&lp);
        for (int g = 0; g < m->ngroups; g++) {
            bool in = false;
            for (int k = 0; k < m->groups[g].nbudgets; k++)
                in |= m->groups[g].budgets[k] == b;
            for (int o = 0; in && o < m->groups[g].nopts; o++)
                term(&lp, m->groups[g].opts[o].hourly, 'x', g, o);
        }
        row_end(&lp, "<=", m->budgets[b].cap);
    }
    fputs("Bounds\n", f);
    for (int g = 0; g < m->ngroups; g++)
        for (int o = 0; o < m->groups[g].nopts; o++)
            fprintf(f, " 0 <= x%d_%d <= %d\n", g, o,
                    m->groups[g].opts[o].kept >= 0 ? 1 : m->groups[g].n);
    fputs("Generals\n", f);
    for (int g = 0; g < m->ngroups; g++)
        for (int o = 0; o < m->groups[g].nopts; o++)
            fprintf(f, " x%d_%d\n", g, o);
    fputs("Binaries\n", f);
    for (int g = 0; g < m->ngroups; g++) {
        const struct plan_group *gr = &m->groups[g];
        if (gr->together != SPEC_TOGETHER_NONE) {
            int nl = locations(gr, locs);
            for (int k = 0; k < nl; k++)
                fprintf(f, " y%d_%d\n", g, k);
        } else if (gr->spread > 1) {
            for (int c = 0; c < CORE_CLOUD_COUNT; c++)
                fprintf(f, " z%d_%d\n", g, c);
        }
    }
    fputs("End\n", f);
    free(locs);
    return ferror(f) ? -1 : 0;
}

/* ---- running cbc ---- */

/* The path of `cbc` on PATH, malloc'd, or NULL. */
static char *find_cbc(void)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    const char *p = path;
    while (*p) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char *cand = malloc(len + 6);
        if (!cand)
            return NULL;
        memcpy(cand, len ? p : ".", len ? len : 1);
        strcpy(cand + (len ? len : 1), "/cbc");
        struct stat st;
        if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0)
            return cand;
        free(cand);
        if (!end)
            break;
        p = end + 1;
    }
    return NULL;
}

static int run_cbc(const char *cbc, const char *lp, const char *sol, const char *log,
                   double time_limit, int *status)
{
    char sec[32], a_cbc[] = "cbc", a_sec[] = "sec", a_solve[] = "solve", a_solu[] = "solu";
    char a_lp[4096], a_sol[4096];
    snprintf(sec, sizeof(sec), "%.0f", time_limit > 0 ? ceil(time_limit) : 0);
    snprintf(a_lp, sizeof(a_lp), "%s", lp);
    snprintf(a_sol, sizeof(a_sol), "%s", sol);
    char *argv[10];
    int n = 0;
    argv[n++] = a_cbc;
    argv[n++] = a_lp;
    if (time_limit > 0) {
        argv[n++] = a_sec;
        argv[n++] = sec;
    }
    argv[n++] = a_solve;
    argv[n++] = a_solu;
    argv[n++] = a_sol;
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0)
        return -1;
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawn(&pid, cbc, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    return 0;
}

/* Reads cbc's solution file into sol. 0 solved (proven set), 1 infeasible, -1 unreadable. */
static int read_solution(struct plan_model *m, const char *path, struct plan_sol *sol, bool *proven)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[1024];
    if (!fgets(line, sizeof(line), f)) {
        fclose(f);
        return -1;
    }
    *proven = strncmp(line, "Optimal", 7) == 0;
    if (strstr(line, "nfeasible")) {
        fclose(f);
        return 1;
    }
    memset(sol->x, 0, (size_t)m->nx * sizeof(int));
    while (fgets(line, sizeof(line), f)) {
        int idx, g, o;
        char name[256];
        double v;
        if (sscanf(line, "%d %255s %lf", &idx, name, &v) != 3)
            continue;
        if (sscanf(name, "x%d_%d", &g, &o) != 2 || g < 0 || g >= m->ngroups || o < 0 ||
            o >= m->groups[g].nopts)
            continue;
        sol->x[m->groups[g].xoff + o] = (int)lround(v);
    }
    fclose(f);
    for (int g = 0; g < m->ngroups; g++) {
        int n = 0;
        for (int o = 0; o < m->groups[g].nopts; o++)
            n += sol->x[m->groups[g].xoff + o];
        if (n != m->groups[g].n)
            return -1;
        sol->placed[g] = true;
    }
    plan_sol_eval(m, sol);
    return 0;
}

int plan_exact_solve(struct plan_model *m, const struct plan_options *opts,
                     struct core_diags *diags, struct plan_sol *sol, double *lower_bound,
                     bool *proven)
{
    *proven = false;
    *lower_bound = -INFINITY;
    char *cbc = find_cbc();
    if (!cbc) {
        core_diag_add(diags, CORE_SEV_ERROR, "cbc-missing", NULL,
                      "--solver exact needs the 'cbc' program (Debian: apt-get install "
                      "coinor-cbc), and none was found on PATH; use --solver fast");
        return -1;
    }
    char dir[] = "/tmp/gpuform-cbc-XXXXXX";
    if (!mkdtemp(dir)) {
        core_diag_add(diags, CORE_SEV_ERROR, "solver-failed", NULL,
                      "can't make a temporary directory for cbc: %s", strerror(errno));
        free(cbc);
        return -1;
    }
    char lp_tmp[64], sol_path[64], log_path[64];
    snprintf(lp_tmp, sizeof(lp_tmp), "%s/model.lp", dir);
    snprintf(sol_path, sizeof(sol_path), "%s/solution.txt", dir);
    snprintf(log_path, sizeof(log_path), "%s/cbc.log", dir);
    const char *lp_path = opts && opts->lp_path ? opts->lp_path : lp_tmp;
    int rc = -1, status = 0;
    FILE *f = fopen(lp_path, "w");
    if (!f || write_lp(m, f) != 0) {
        core_diag_add(diags, CORE_SEV_ERROR, "solver-failed", NULL,
                      "can't write the model to %s: %s", lp_path, strerror(errno));
        if (f)
            fclose(f);
        goto done;
    }
    if (fclose(f) != 0) {
        core_diag_add(diags, CORE_SEV_ERROR, "solver-failed", NULL,
                      "can't write the model to %s: %s", lp_path, strerror(errno));
        goto done;
    }
    if (run_cbc(cbc, lp_path, sol_path, log_path, opts ? opts->time_limit_s : 0, &status) != 0) {
        core_diag_add(diags, CORE_SEV_ERROR, "solver-failed", NULL, "can't run %s: %s", cbc,
                      strerror(errno));
        goto done;
    }
    int r = read_solution(m, sol_path, sol, proven);
    if (r == 1) {
        rc = 1;
    } else if (r < 0) {
        core_diag_add(diags, CORE_SEV_ERROR, "solver-failed", NULL,
                      "cbc (exit status %d) gave no usable solution%s", status,
                      opts && opts->time_limit_s > 0 ? "; try a longer time limit" : "");
    } else {
        *lower_bound = *proven ? sol->adj : -INFINITY;
        rc = 0;
    }
done:
    unlink(lp_tmp);
    unlink(sol_path);
    unlink(log_path);
    rmdir(dir);
    free(cbc);
    return rc;
}
