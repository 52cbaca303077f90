/*
 * `--sim`: cloudsim started in this process on a free loopback port, its world kept beside
 * the stack's state, with the simulated credentials of every cloud set up on both sides, so
 * that `apply`, `refresh`, `plan --refresh-only` and `verify` ADDRESS run against it alike.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/diag.h"
#include "modules/cloudsim/sim.h"
#include "parser/spec.h"

/* The key pair --sim uses on both sides when the environment has none. Not a secret: it
 * opens only the simulated cloud on loopback. */
#define SIM_AKID   "AKIDGPUFORMSIMULATED"
#define SIM_SECRET "gpuform-simulated-secret-not-for-aws"
/* The same for Azure: a service principal, a subscription, a resource group and an SSH key
 * that only the simulated cloud accepts. */
#define SIM_AZURE_TENANT "gpuform-sim-tenant"
#define SIM_AZURE_CLIENT "00000000-0000-4000-8000-00000000c11e"
#define SIM_AZURE_SECRET "gpuform-simulated-azure-secret-not-for-azure"
#define SIM_AZURE_SUB    "00000000-0000-4000-8000-00000000005b"
#define SIM_AZURE_GROUP  "gpuform-sim"
#define SIM_AZURE_KEY    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGdwdWZvcm0tY2xvdWRzaW0 gpuform-sim"

static void setenv_unset(const char *name, const char *value)
{
    const char *v = getenv(name);
    if (!v || !*v)
        setenv(name, value, 1);
}

/*
 * The Azure side of --sim: the service principal of the environment, or (when it names
 * none) the simulated one, registered with the world, and the one the stack names (`az`,
 * may be NULL) when it names all of tenant, client_id and client_secret; the subscription,
 * resource group and SSH key the provider needs, when they are unset. Tokens come from
 * cloudsim too: cli_sim_start points AZURE_AUTHORITY_HOST at it once its port is known. 0, or
 * -1 when out of memory.
 */
static int sim_azure_identity(struct sim_config *c, const struct spec_cloud *az)
{
    const char *t = getenv("AZURE_TENANT_ID"), *id = getenv("AZURE_CLIENT_ID"),
               *s = getenv("AZURE_CLIENT_SECRET");
    if (!t || !*t || !id || !*id || !s || !*s) {
        setenv("AZURE_TENANT_ID", SIM_AZURE_TENANT, 1);
        setenv("AZURE_CLIENT_ID", SIM_AZURE_CLIENT, 1);
        setenv("AZURE_CLIENT_SECRET", SIM_AZURE_SECRET, 1);
    }
    setenv_unset("AZURE_SUBSCRIPTION_ID", SIM_AZURE_SUB);
    setenv_unset("AZURE_RESOURCE_GROUP", SIM_AZURE_GROUP);
    setenv_unset("GPUFORM_AZURE_SSH_PUBLIC_KEY", SIM_AZURE_KEY);
    if (az && az->tenant && az->client_id && az->client_secret &&
        sim_config_add_azure_principal(c, az->tenant, az->client_id, az->client_secret) != 0)
        return -1;
    return sim_config_add_azure_principal(c, getenv("AZURE_TENANT_ID"), getenv("AZURE_CLIENT_ID"),
                                          getenv("AZURE_CLIENT_SECRET"));
}

/*
 * The GCP side of --sim: the key file the stack's clouds.gcp.credentials_file (`gcp`, may be
 * NULL) or GOOGLE_APPLICATION_CREDENTIALS names when it is a service account's, else
 * cloudsim-gcp-key.json in `dir` (its first `dirlen` bytes, with the final '/') (made on the first
 * --sim run: a fresh RSA key, mode 0600, only good for cloudsim), registered with the world for the
 * stack's project (the key's when the stack names none) and pointed at by the environment the
 * provider reads. Its tokens come from cloudsim: cli_sim_start sets GPUFORM_GCP_TOKEN_URI once the
 * port is known. GOOGLE_CLOUD_PROJECT and CLOUDSDK_CORE_PROJECT are unset for the run. 0, or -1.
 */
static int sim_gcp_credentials(struct sim_config *c, const char *dir, int dirlen,
                               const struct spec_cloud *gcp)
{
    char path[4200], why[320];
    const char *project = gcp ? gcp->project : NULL;
    const char *gac = gcp && gcp->credentials_file ? gcp->credentials_file
                                                   : getenv("GOOGLE_APPLICATION_CREDENTIALS");
    if (gac && *gac)
        snprintf(path, sizeof path, "%s", gac);
    else
        snprintf(path, sizeof path, "%.*scloudsim-gcp-key.json", dirlen, dir);
    unsetenv("GOOGLE_CLOUD_PROJECT");
    unsetenv("CLOUDSDK_CORE_PROJECT");
    FILE *f = fopen(path, "rb");
    if (f) {
        char *buf = malloc(65536);
        size_t n = buf ? fread(buf, 1, 65536, f) : 0;
        fclose(f);
        int rc =
            buf && n < 65536 ? sim_gce_account_from_key(c, buf, n, project, why, sizeof why) : -1;
        if (buf)
            memset(buf, 0, n);
        free(buf);
        if (rc == 0)
            return setenv("GOOGLE_APPLICATION_CREDENTIALS", path, 1);
        if (gac && *gac) /* not a service account's: the simulated GCP can't take it */
            fprintf(stderr, "gpuform: --sim: '%s': %s; using a key made for cloudsim instead\n",
                    path, buf ? why : "out of memory");
        snprintf(path, sizeof path, "%.*scloudsim-gcp-key.json", dirlen, dir);
    }
    struct sim_gce_key k;
    if (sim_gce_generate_account(c, project, &k, why, sizeof why) != 0 ||
        sim_gce_write_key_file(&k, "http://127.0.0.1/token", path, why, sizeof why) != 0) {
        sim_gce_key_release(&k);
        fprintf(stderr, "gpuform: --sim: %s\n", why);
        return -1;
    }
    sim_gce_key_release(&k);
    return setenv("GOOGLE_APPLICATION_CREDENTIALS", path, 1);
}

/*
 * Starts cloudsim on a free loopback port. Its world is kept in cloudsim.json in the stack's
 * local state directory `state_dir` (made when missing; loaded at start, saved after each
 * reply that changed it), so successive --sim runs of a stack see the instances the earlier
 * ones made. The Azure identity (the stack's `az`) and, when the stack or its state uses gcp
 * (`gcp_used`), the GCP credentials (the stack's `gcp`, a made-up key kept in `state_dir`)
 * are set up on both sides.
 */
int cli_sim_start(const char *config, const char *state_dir, const struct spec_cloud *az,
                  bool gcp_used, const struct spec_cloud *gcp, struct cli_sim *s)
{
    const char *akid = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
    if (!akid || !*akid || !secret || !*secret) {
        setenv("AWS_ACCESS_KEY_ID", SIM_AKID, 1);
        setenv("AWS_SECRET_ACCESS_KEY", SIM_SECRET, 1);
        unsetenv("AWS_SESSION_TOKEN");
        akid = SIM_AKID;
        secret = SIM_SECRET;
    }
    struct core_diags d;
    core_diags_init(&d, 0);
    struct sim_config c;
    int rc = sim_config_defaults(&c, &d);
    if (rc == 0 && config) {
        rc = sim_config_load(&c, config, &d);
    } else if (rc == 0) { /* like specs/cloudsim/fast.yaml */
        c.seed = 7;
        c.time_scale = 0.001;
        c.terminated_visible = 60000;
        c.buckets[SIM_FAM_RUN].burst = 50;
    }
    char dir[4200];
    int dirlen = snprintf(dir, sizeof dir, "%s/", state_dir);
    if (rc == 0 && mkdir(state_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "gpuform: cannot make '%s' for cloudsim's world: %s\n", state_dir,
                strerror(errno));
        sim_config_release(&c);
        rc = -1;
    }
    if (rc == 0 &&
        (dirlen < 0 || (size_t)dirlen >= sizeof dir ||
         sim_config_add_credential(&c, akid, secret) != 0 || sim_azure_identity(&c, az) != 0 ||
         (gcp_used && sim_gcp_credentials(&c, dir, dirlen, gcp) != 0))) {
        sim_config_release(&c);
        rc = -1;
    }
    core_diags_sort(&d);
    core_diags_render(&d, CORE_DIAG_TEXT, cli_use_color(stderr), stderr);
    core_diags_release(&d);
    if (rc != 0) {
        fprintf(stderr, "gpuform: cloudsim did not start\n");
        return -1;
    }
    snprintf(s->path, sizeof s->path, "%s/cloudsim.json", state_dir);
    s->world = sim_world_new(&c);
    char err[256] = "";
    if (s->world && sim_world_load(s->world, s->path, err) != 0) {
        fprintf(stderr, "gpuform: %s\n", err);
        sim_world_free(s->world);
        s->world = NULL;
        return -1;
    }
    struct sim_server_options so = {.host = "127.0.0.1", .port = 0, .state_path = s->path};
    s->server = s->world ? sim_server_start(s->world, &so, err) : NULL;
    if (!s->server) {
        fprintf(stderr, "gpuform: cloudsim did not start: %s\n", *err ? err : "out of memory");
        sim_world_free(s->world);
        s->world = NULL;
        return -1;
    }
    snprintf(s->endpoint, sizeof s->endpoint, "http://127.0.0.1:%u", sim_server_port(s->server));
    char token_uri[96];
    snprintf(token_uri, sizeof token_uri, "%s/token", s->endpoint);
    setenv("GPUFORM_GCP_TOKEN_URI", token_uri, 1); /* the provider honours it with --sim only */
    /* Entra ID is simulated on the same port: the secret never leaves for the real one */
    setenv("AZURE_AUTHORITY_HOST", s->endpoint, 1);
    fprintf(stderr, "gpuform: cloudsim (simulated aws, gcp, azure) on %s, its world in '%s'\n",
            s->endpoint, s->path);
    return 0;
}

void cli_sim_stop(struct cli_sim *s)
{
    if (s->server)
        sim_server_stop(s->server);
    sim_world_free(s->world);
}
