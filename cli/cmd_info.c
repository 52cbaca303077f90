/*
 * Commands that describe gpuform itself: `version`, `gpus` (the GPU model table) and
 * `schema` (the spec language as JSON Schema).
 */
#include "cli/cli.h"

#include <curl/curl.h>
#include <libxml/xmlversion.h>
#include <microhttpd.h>
#include <jansson.h>
#include <lua.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cli/build_info.h"
#include "core/gpu_models.h"
#include "parser/spec.h"
#include "modules/verify/verify.h"

int cmd_version(int argc, char **argv)
{
    (void)argv;
    if (argc > 1)
        return cli_usage_error(cli_find("version"), "version takes no arguments");
    curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    printf("gpuform %s (git %s, built %s)\n", GPUFORM_VERSION, GPUFORM_GIT_REV, GPUFORM_BUILD_TYPE);
    printf("libraries: libyaml %s, libcurl %s, jansson %s, %s, %s\n", yaml_get_version_string(),
           cv ? cv->version : "?", jansson_version_str(), OpenSSL_version(OPENSSL_VERSION),
           LUA_RELEASE);
    printf("           libxml2 %s, libmicrohttpd %s\n", LIBXML_DOTTED_VERSION, MHD_get_version());
    char why[300] = "";
    const struct verify_backend *cuda = verify_backend_find("cuda");
    if (!GPUFORM_HAVE_NVCC)
        printf("verify: GPU checks unavailable: built without CUDA (nvcc was not found at build "
               "time); the CPU reference runs ('gpuform verify --backend cpu')\n");
    else if (cuda && cuda->probe(why, sizeof(why)) == 0)
        printf("verify: available (CUDA kernels built with nvcc %s)\n", GPUFORM_NVCC_VERSION);
    else
        printf("verify: CUDA kernels built with nvcc %s; GPU checks unavailable on this host: "
               "%s\n",
               GPUFORM_NVCC_VERSION, why);
    return CLI_OK;
}

int cmd_schema(int argc, char **argv)
{
    (void)argv;
    if (argc > 1)
        return cli_usage_error(cli_find("schema"), "schema takes no arguments");
    char *s = spec_json_schema();
    if (!s) {
        fputs("gpuform: out of memory building the schema\n", stderr);
        return CLI_ERROR;
    }
    puts(s);
    free(s);
    return CLI_OK;
}

static int gpus_json(void)
{
    size_t n;
    const struct core_gpu_model *m = core_gpu_models(&n);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *aliases = json_array();
        for (const char *const *a = m[i].aliases; *a; a++)
            json_array_append_new(aliases, json_string(*a));
        json_array_append_new(
            arr, json_pack("{s:s, s:o, s:s, s:i, s:f, s:f, s:f, s:s}", "name", m[i].name, "aliases",
                           aliases, "vendor", m[i].vendor, "memory_gb", (int)m[i].memory_gb,
                           "memory_bandwidth_gbs", m[i].mem_bw_gbs, "fp32_tflops", m[i].fp32_tflops,
                           "bf16_tflops", m[i].bf16_tflops, "source", m[i].source));
    }
    json_dumpf(arr, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    putchar('\n');
    json_decref(arr);
    return CLI_OK;
}

int cmd_gpus(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--json"))
        return gpus_json();
    if (argc > 1)
        return cli_usage_error(cli_find("gpus"), "unknown argument '%s'", argv[1]);
    size_t n;
    const struct core_gpu_model *m = core_gpu_models(&n);
    printf("%-14s %-7s %7s %9s %8s %8s  %s\n", "MODEL", "VENDOR", "MEMORY", "BANDWIDTH", "FP32",
           "BF16", "ALIASES");
    for (size_t i = 0; i < n; i++) {
        char bf16[16];
        if (m[i].bf16_tflops > 0)
            snprintf(bf16, sizeof(bf16), "%.0f TF", m[i].bf16_tflops);
        else
            snprintf(bf16, sizeof(bf16), "-");
        printf("%-14s %-7s %5u GB %6.0f GB/s %5.1f TF %8s  ", m[i].name, m[i].vendor,
               m[i].memory_gb, m[i].mem_bw_gbs, m[i].fp32_tflops, bf16);
        for (const char *const *a = m[i].aliases; *a; a++)
            printf("%s%s", a == m[i].aliases ? "" : ", ", *a);
        putchar('\n');
    }
    return CLI_OK;
}
