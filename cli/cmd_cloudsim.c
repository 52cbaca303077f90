/*
 * `gpuform cloudsim`: serves the simulated cloud on loopback until SIGINT or SIGTERM.
 * The signals are blocked before the server's threads start and taken with sigwait, so
 * shutdown runs in this thread: the server stops, held connections are released and the
 * world is saved (with --state) before exit.
 */
#include "cli/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/diag.h"
#include "modules/cloudsim/sim.h"

static int parse_listen(const char *s, char host[64], unsigned *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= 64)
        return -1;
    char *end;
    errno = 0;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (!colon[1] || *end || errno || p > 65535)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    *port = (unsigned)p;
    return 0;
}

/* The environment's Azure service principal (AZURE_TENANT_ID, AZURE_CLIENT_ID,
 * AZURE_CLIENT_SECRET, all three set), accepted by the ARM dialect's token endpoint besides
 * those of clouds.azure.service_principals. 0, or -1 when out of memory. */
static int env_azure_principal(struct sim_config *conf)
{
    const char *t = getenv("AZURE_TENANT_ID"), *c = getenv("AZURE_CLIENT_ID"),
               *s = getenv("AZURE_CLIENT_SECRET");
    if (!t || !*t || !c || !*c || !s || !*s)
        return 0;
    return sim_config_add_azure_principal(conf, t, c, s);
}

static int load_config(const char *path, const char *seed, struct sim_config *conf)
{
    struct core_diags d;
    core_diags_init(&d, 0);
    int rc = sim_config_defaults(conf, &d);
    if (rc == 0 && path)
        rc = sim_config_load(conf, path, &d);
    if (rc == 0 && seed) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(seed, &end, 10);
        if (!*seed || *end || errno) {
            fprintf(stderr, "gpuform: --seed wants a whole number, not '%s'\n", seed);
            sim_config_release(conf);
            rc = -1;
        } else {
            conf->seed = (uint64_t)v;
        }
    }
    const char *akid = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
    if (rc == 0 && akid && *akid && secret && *secret &&
        sim_config_add_credential(conf, akid, secret) < 0)
        rc = -1;
    if (rc == 0 && env_azure_principal(conf) < 0) {
        sim_config_release(conf);
        rc = -1;
    }
    if (rc == 0 && conf->ncreds == 0 && sim_config_cloud_regions(conf, CORE_CLOUD_AWS))
        fprintf(stderr, "cloudsim: no AWS credentials to accept, so EC2 requests are refused: "
                        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or list them under "
                        "clouds.aws.credentials in the config\n");
    core_diags_sort(&d);
    core_diags_render(&d, CORE_DIAG_TEXT, cli_use_color(stderr), stderr);
    core_diags_release(&d);
    return rc;
}

/*
 * The GCP service account the simulated GCE accepts besides the config's: the one whose key
 * GOOGLE_APPLICATION_CREDENTIALS names, or, when there is none, one made up now
 * (*made set; its key file is written once the port is known, see write_gcp_key).
 */
static int gcp_credentials(struct sim_config *conf, struct sim_gce_key *made)
{
    const char *gac = getenv("GOOGLE_APPLICATION_CREDENTIALS");
    char why[320];
    memset(made, 0, sizeof *made);
    if (gac && *gac) {
        FILE *f = fopen(gac, "rb");
        char *buf = malloc(65536);
        size_t n = f && buf ? fread(buf, 1, 65536, f) : 0;
        if (f)
            fclose(f);
        int rc = n && n < 65536 ? sim_gce_account_from_key(
                                      conf, buf, n, getenv("GOOGLE_CLOUD_PROJECT"), why, sizeof why)
                                : -1;
        if (buf)
            memset(buf, 0, n);
        free(buf);
        if (rc == 0)
            return 0;
        fprintf(stderr, "gpuform: GOOGLE_APPLICATION_CREDENTIALS '%s': %s\n", gac,
                n ? why : "cannot read it");
        return -1;
    }
    if (sim_gce_generate_account(conf, getenv("GOOGLE_CLOUD_PROJECT"), made, why, sizeof why) == 0)
        return 0;
    fprintf(stderr, "gpuform: %s\n", why);
    return -1;
}

/* Writes the made-up account's key file (token_uri: this cloudsim) to `path`, or beside the
 * state, or in a new private directory (tmpdir set: removed at exit), and says where. */
static int write_gcp_key(const struct sim_gce_key *k, const char *path, const char *state,
                         const char *url, char tmpdir[64], char out[4200])
{
    char token_uri[160], why[320];
    snprintf(token_uri, sizeof token_uri, "%s/token", url);
    const char *slash = state ? strrchr(state, '/') : NULL;
    if (path) {
        snprintf(out, 4200, "%s", path);
    } else if (state) {
        snprintf(out, 4200, "%.*scloudsim-gcp-key.json", slash ? (int)(slash - state + 1) : 0,
                 state);
    } else {
        snprintf(tmpdir, 64, "%s", "/tmp/gpuform-cloudsim-XXXXXX");
        if (!mkdtemp(tmpdir)) {
            fprintf(stderr, "gpuform: cannot make a private directory for the GCP key: %s\n",
                    strerror(errno));
            tmpdir[0] = 0;
            return -1;
        }
        snprintf(out, 4200, "%s/gcp-key.json", tmpdir);
    }
    if (sim_gce_write_key_file(k, token_uri, out, why, sizeof why) != 0) {
        fprintf(stderr, "gpuform: %s\n", why);
        return -1;
    }
    printf("cloudsim: gcp service account %s, key file %s (GOOGLE_APPLICATION_CREDENTIALS)\n",
           k->email, out);
    return 0;
}

/* The admin client: `gpuform cloudsim --admin URL health|list|fault|reclaim ...`. */
static int admin(const struct cli_command *cmd, const char *base, int argc, char **argv)
{
    if (argc < 1)
        return cli_usage_error(cmd, "--admin URL needs health, list, fault or reclaim");
    char path[64], body[512] = "";
    const char *what = argv[0];
    if (!strcmp(what, "health") && argc == 1) {
        snprintf(path, sizeof path, "health");
    } else if (!strcmp(what, "list") && argc == 1) {
        snprintf(path, sizeof path, "instances");
    } else if (!strcmp(what, "fault") && (argc == 3 || argc == 4)) {
        char *end;
        bool rate = argc == 4 && !strcmp(argv[2], "rate");
        const char *num = rate ? argv[3] : argv[2];
        double v = strtod(num, &end);
        if (!*num || *end || v < 0 || (argc == 4 && !rate) || (!rate && v != (long)v))
            return cli_usage_error(cmd, "fault wants KIND COUNT or KIND rate R, not '%s'", num);
        snprintf(path, sizeof path, "fault");
        snprintf(body, sizeof body, "{\"kind\": \"%.32s\", \"%s\": %s}", argv[1],
                 rate ? "rate" : "count", num);
    } else if (!strcmp(what, "reclaim") && argc == 2 && strlen(argv[1]) < 32) {
        snprintf(path, sizeof path, "reclaim");
        snprintf(body, sizeof body, "{\"instance_id\": \"%s\"}", argv[1]);
    } else {
        return cli_usage_error(cmd, "unknown admin request '%s'", what);
    }
    char url[1024];
    size_t blen = strlen(base);
    snprintf(url, sizeof url, "%.*s/_cloudsim/%s",
             (int)(blen && base[blen - 1] == '/' ? blen - 1 : blen), base, path);
    CURL *c = curl_easy_init();
    if (!c)
        return CLI_ERROR;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (*body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    CURLcode rc = curl_easy_perform(c); /* the reply goes to stdout */
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        fprintf(stderr, "gpuform: cannot reach cloudsim at '%s': %s\n", url,
                curl_easy_strerror(rc));
        return CLI_ERROR;
    }
    return status == 200 ? CLI_OK : CLI_ERROR;
}

int cmd_cloudsim(int argc, char **argv)
{
    const struct cli_command *cmd = cli_find("cloudsim");
    const char *listen = "127.0.0.1:0", *config = NULL, *state = NULL, *seed = NULL;
    const char *gcp_key = NULL;
    if (argc >= 3 && !strcmp(argv[1], "--admin"))
        return admin(cmd, argv[2], argc - 3, argv + 3);
    for (int i = 1; i < argc; i++) {
        const char **slot = !strcmp(argv[i], "--listen")    ? &listen
                            : !strcmp(argv[i], "--config")  ? &config
                            : !strcmp(argv[i], "--state")   ? &state
                            : !strcmp(argv[i], "--seed")    ? &seed
                            : !strcmp(argv[i], "--gcp-key") ? &gcp_key
                                                            : NULL;
        if (!slot)
            return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        if (i + 1 >= argc)
            return cli_usage_error(cmd, "option '%s' needs a value", argv[i]);
        *slot = argv[++i];
    }
    char host[64];
    unsigned port;
    if (parse_listen(listen, host, &port) < 0)
        return cli_usage_error(cmd, "--listen wants HOST:PORT, not '%s'", listen);
    struct sim_config conf;
    struct sim_gce_key made;
    if (load_config(config, seed, &conf) < 0)
        return CLI_ERROR;
    if (gcp_credentials(&conf, &made) < 0) {
        sim_config_release(&conf);
        return CLI_ERROR;
    }
    struct sim_world *w = sim_world_new(&conf);
    if (!w) {
        sim_gce_key_release(&made);
        fprintf(stderr, "gpuform: out of memory\n");
        return CLI_ERROR;
    }
    char err[256];
    if (state && sim_world_load(w, state, err) < 0) {
        fprintf(stderr, "gpuform: %s\n", err);
        sim_gce_key_release(&made);
        sim_world_free(w);
        return CLI_ERROR;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct sim_server_options o = {.host = host, .port = port, .state_path = state};
    struct sim_server *s = sim_server_start(w, &o, err);
    if (!s) {
        fprintf(stderr, "gpuform: %s\n", err);
        sim_gce_key_release(&made);
        sim_world_free(w);
        return CLI_ERROR;
    }
    char clouds[160] = "";
    for (int k = 0, len = 0; k < CORE_CLOUD_COUNT; k++) {
        size_t n = sim_config_cloud_regions(&w->conf, (enum core_cloud)k);
        if (n && len < (int)sizeof clouds)
            len += snprintf(clouds + len, sizeof clouds - (size_t)len, "%s%s %zu region%s",
                            len ? ", " : "", core_cloud_name((enum core_cloud)k), n,
                            n == 1 ? "" : "s");
    }
    printf("cloudsim: listening on http://%s:%u (%s; seed %" PRIu64 ")\n", host, sim_server_port(s),
           *clouds ? clouds : "no regions", w->conf.seed);
    char url[128], tmpdir[64] = "", keyfile[4200] = "";
    snprintf(url, sizeof url, "http://%s:%u", host, sim_server_port(s));
    int krc = made.private_pem ? write_gcp_key(&made, gcp_key, state, url, tmpdir, keyfile) : 0;
    sim_gce_key_release(&made);
    fflush(stdout);
    if (krc != 0) {
        sim_server_stop(s);
        sim_world_free(w);
        if (*tmpdir)
            rmdir(tmpdir);
        return CLI_ERROR;
    }
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "cloudsim: %s, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    sim_server_stop(s);
    sim_world_free(w);
    if (*tmpdir) {
        unlink(keyfile);
        rmdir(tmpdir);
    }
    return CLI_OK;
}
