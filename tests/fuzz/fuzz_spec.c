/*
 * libFuzzer target: one input is one in-memory spec file. It goes through the whole loader
 * (UTF-8 checks, the YAML event parser, variables, decoding, cross-section checks), then
 * every diagnostic is rendered in all three formats to /dev/null, so the renderer (source
 * line quoting, carets, JSON escaping) sees hostile locations and messages too.
 *
 * Deterministic: GPUFORM_VAR_* and ${env.NAME} come from a fixed table, never the real
 * environment.
 * Built and run by tests/fuzz/CMakeLists.txt (ctest -L fuzz), clang only.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/diag.h"
#include "parser/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static FILE *devnull;

/* A fixed environment: a few names resolve, everything else is unset. */
static const char *fuzz_getenv(const char *name, void *ud)
{
    (void)ud;
    static const char *const env[][2] = {
        {"GPUFORM_VAR_region", "us-east-1"},
        {"GPUFORM_VAR_nodes", "4"},
        {"AZURE_CLIENT_SECRET", "s3cret"},
        {"GCP_PROJECT", "fuzz-project"},
        {"HOME", "/nonexistent"},
    };
    for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++)
        if (strcmp(env[i][0], name) == 0)
            return env[i][1];
    return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    devnull = fopen("/dev/null", "w");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* No --var: one for a variable the input does not declare would be an error on every
     * input. GPUFORM_VAR_* from the fixed environment covers the override path instead. */
    const struct spec_options opts = {
        .getenv = fuzz_getenv,
        .max_file_size = 1 << 20,
    };
    struct core_diags diags;
    core_diags_init(&diags, 50);
    struct spec *spec = NULL;
    (void)spec_load_buffer("fuzz.yaml", (const char *)data, size, &opts, &diags, &spec);
    core_diags_sort(&diags);
    if (devnull) {
        core_diags_render(&diags, CORE_DIAG_TEXT, false, devnull);
        core_diags_render(&diags, CORE_DIAG_TEXT, true, devnull);
        core_diags_render(&diags, CORE_DIAG_JSON, false, devnull);
        core_diags_render(&diags, CORE_DIAG_GITHUB, false, devnull);
    }
    spec_free(spec);
    core_diags_release(&diags);
    return 0;
}
