/*
 * `gpuform verify ADDRESS...`: verifying the running nodes of a stack (cli/verify_nodes.c,
 * over executor/reverify.h), as cli/cmd_verify.c hands it on once it has read the options.
 */
#ifndef GPUFORM_CLI_VERIFY_NODES_H
#define GPUFORM_CLI_VERIFY_NODES_H

#include <stdbool.h>
#include <stddef.h>

struct cli_verify_nodes {
    const char *stack;            /* --stack PATH; NULL: "." */
    bool sim;                     /* --sim[=CONFIG]: cloudsim in this process */
    const char *sim_config;       /* CONFIG, or NULL */
    const char *level;            /* --level; NULL: each node's workload's level */
    double timeout_s;             /* --timeout; 0: 15m, or 30m when a node is verified full */
    double lock_timeout_s;        /* --lock-timeout; 0: at once */
    bool json;                    /* --json: one document on standard output */
    const char *const *addresses; /* nodes ("chat[0]") or workloads ("chat") */
    size_t naddresses;
};

/* Runs it; CLI_OK when every node passed, CLI_ERROR when one failed or could not be verified
 * (or nothing could be done: said on stderr). */
int cli_verify_nodes(const struct cli_verify_nodes *a);

#endif
