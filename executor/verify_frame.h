/*
 * Verification-gated apply's contract between a node and gpuform (docs/verify.md, "Gated
 * apply"): the per-node key, the boot script that runs the verify agent, the framed and
 * signed report the agent prints on the serial console, and reading that report back out
 * of the console output a provider returns. Pure functions: no I/O, no provider, so the
 * agent (cli/cmd_verify.c), the engine (executor/apply.c) and cloudsim share one reading.
 */
#ifndef GPUFORM_EXECUTOR_VERIFY_FRAME_H
#define GPUFORM_EXECUTOR_VERIFY_FRAME_H

#include <stdbool.h>
#include <stddef.h>

#define EXEC_VERIFY_KEY_LEN    32                /* bytes of a node key (HMAC-SHA256) */
#define EXEC_VERIFY_SECRET_HEX 65                /* a stack secret in hex, with its NUL */
#define EXEC_REPORT_MAX        ((size_t)1 << 20) /* the largest report accepted, decoded */

/* The marker the boot script carries, which cloudsim looks for. */
#define EXEC_AGENT_MARKER "# gpuform-verify-agent v1"

/* Writes a fresh stack secret (32 bytes from RAND_bytes) as 64 hex digits into out[65].
 * 0, or -1 when OpenSSL has no randomness (out is ""). */
int exec_verify_secret_new(char out[EXEC_VERIFY_SECRET_HEX]);

/*
 * The key of the node created with `token`: HMAC-SHA256(secret, "gpuform verify key v1\n"
 * token). `secret_hex` is the state's 64 hex digits. 0, or -1 for a secret that is not 64
 * hex digits (key zeroed). Wipe the key (OPENSSL_cleanse) when done with it.
 */
int exec_verify_key(const char *secret_hex, const char *token,
                    unsigned char key[EXEC_VERIFY_KEY_LEN]);

/*
 * The report framed for the console, malloc'd (the caller frees), NULL when out of memory
 * or `address` holds a newline:
 *
 *   gpuform-verify begin v1 ADDRESS
 *   gpuform-verify data BASE64URL     (76 characters a line, the report's bytes)
 *   gpuform-verify mac HEX            (HMAC-SHA256(key, ADDRESS "\n" REPORT))
 *   gpuform-verify end
 */
char *exec_frame_write(const char *address, const unsigned char key[EXEC_VERIFY_KEY_LEN],
                       const char *report, size_t len);

enum exec_frame_status {
    EXEC_FRAME_OK,        /* a block for the address, authenticated: *report set */
    EXEC_FRAME_NONE,      /* no block for the address (yet) */
    EXEC_FRAME_TRUNCATED, /* a block for the address began but did not end (yet) */
    EXEC_FRAME_BAD,       /* the last complete block for the address is garbled or wrongly
                           * signed: why[] says which */
};

/*
 * Finds the last complete block for `address` in console output `text` (lines may carry
 * prefixes and "\r", other output may come between a block's lines) and checks its MAC
 * with `key` in constant time. EXEC_FRAME_OK gives the report's bytes in *report (malloc'd,
 * NUL-terminated; the caller frees) and their count in *len. Blocks for other addresses are
 * ignored. Never reads past text[len].
 */
enum exec_frame_status exec_frame_find(const char *text, size_t len, const char *address,
                                       const unsigned char key[EXEC_VERIFY_KEY_LEN], char **report,
                                       size_t *rlen, char *why, size_t whylen);

/* The systemd unit the boot script starts the watcher as, where systemd-run exists. */
#define EXEC_WATCH_UNIT "gpuform-verify-watch"

/*
 * exec_frame_find for a re-verification request: the last block for `address` that is
 * authenticated with `key` and whose report's "request" is `nonce` (32 hex digits) gives
 * EXEC_FRAME_OK (*report as above); blocks answering nothing or another request are passed
 * over. Without one: EXEC_FRAME_BAD when the last complete block for the address is garbled
 * or wrongly signed (why[] says which), else EXEC_FRAME_TRUNCATED when a block for it began
 * and has not ended, else EXEC_FRAME_NONE (not answered yet).
 */
enum exec_frame_status exec_frame_find_request(const char *text, size_t len, const char *address,
                                               const unsigned char key[EXEC_VERIFY_KEY_LEN],
                                               const char *nonce, char **report, size_t *rlen,
                                               char *why, size_t whylen);

/* The identity of the last complete block for `address` in `text` (the SHA-256 of its data,
 * MAC and whether a line was malformed, in hex) into id[EXEC_FRAME_ID_HEX]: 1, or 0 with id
 * "" when there is none. So that a bad block already on the console before a request was
 * made can be told from one that came after it. */
#define EXEC_FRAME_ID_HEX 65
int exec_frame_last_id(const char *text, size_t len, const char *address,
                       char id[EXEC_FRAME_ID_HEX]);

/*
 * `base` (a boot script, "#!/bin/sh...") with the agent's part appended: the marker, the key
 * written to /etc/gpuform/verify.key (mode 0600), `gpuform verify --agent --level LEVEL
 * --address ADDRESS --key-file ...` with its output on the serial console, then the watcher
 * (`gpuform verify --agent --watch --cloud CLOUD ...`, docs/verify.md "The watcher") started
 * in the background to outlive the script: a transient systemd service EXEC_WATCH_UNIT where
 * systemd-run exists, else setsid nohup; its output on the same console. `cloud` is the
 * cloud's spec name ("aws", "gcp", "azure"). malloc'd (wipe it with OPENSSL_cleanse before
 * freeing: it holds the key), NULL when out of memory, the address can't be quoted for the
 * shell, or `cloud` is not a lowercase name.
 */
char *exec_agent_script(const char *base, const char *address, const char *level, const char *cloud,
                        const unsigned char key[EXEC_VERIFY_KEY_LEN]);

/* What an agent script asks for (exec_agent_parse). */
struct exec_agent_req {
    char address[160];
    char level[8]; /* "quick", "full" */
    char cloud[8]; /* the watcher's --cloud ("aws", "gcp", "azure"); "" when the script
                    * starts no watcher */
    unsigned char key[EXEC_VERIFY_KEY_LEN];
};

/* Reads back what exec_agent_script wrote: 0 with *out filled, -1 when `script` carries no
 * agent (no marker) or a malformed one. Wipe out->key when done. */
int exec_agent_parse(const char *script, struct exec_agent_req *out);

/* A verify report (docs/verify.md, "JSON") in one line. */
struct exec_report_summary {
    bool passed;      /* the report's status is "pass" */
    char level[8];    /* "quick", "full" */
    char backend[16]; /* "cuda", "cpu" */
    int checks;       /* results that ran (not skipped) */
    int failed;       /* ... that failed */
    double seconds;   /* how long the run took */
    char why[256];    /* failed: the failed checks' names, "memory, gemm"; "" when passed */
    char first[384];  /* failed: the first failure's "gpu0 memory: message"; "" when passed */
    char request[40]; /* the request nonce the report answers, "" for a boot report */
};

/* Reads a report's JSON. 0, or -1 with why[] naming what is wrong (not JSON, a field
 * missing or of the wrong type). */
int exec_report_summarize(const char *json, size_t len, struct exec_report_summary *s, char *why,
                          size_t whylen);

/*
 * A node's verdict from what its console gave: `report` (rlen bytes) when an authenticated
 * block came, else NULL and `bad` the reason none did (a garbled or wrongly signed block, no
 * report in time). True when the node passed. *s is the report's summary (zeroed without
 * one); detail[] gets the state's one line, "quick: passed (7 checks, 0.8 s, cpu)" or the
 * reason with the first failure, "verify failed: memory (gpu0 memory: ...)"; reason[] the
 * reason alone ("verify failed: memory", "verify report unreadable: ...", or `bad`), "" when
 * passed. Gated apply and `gpuform verify ADDRESS` judge through it alike.
 */
bool exec_report_verdict(const char *report, size_t rlen, const char *bad,
                         struct exec_report_summary *s, char *reason, size_t reasonlen,
                         char *detail, size_t detaillen);

/*
 * Re-verifying a running node (docs/verify.md, "Verifying running nodes"): gpuform sets the
 * instance's tag (EC2, Azure) or metadata item (Compute Engine) EXEC_VERIFY_REQUEST_KEY to
 * "LEVEL:NONCE"; the agent watching on the node reads it from the instance metadata service,
 * runs that level and prints a block whose report carries "request": NONCE. The nonce is 32
 * lowercase hex digits (16 bytes from RAND_bytes), so a report from before the request can't
 * answer it.
 */
#define EXEC_VERIFY_REQUEST_KEY   "gpuform-verify-request"
#define EXEC_VERIFY_NONCE_HEX     33 /* 32 hex digits and a NUL */
#define EXEC_VERIFY_REQUEST_VALUE 48 /* "full:" + nonce + NUL fits */

/* A fresh request value "LEVEL:NONCE" into out[EXEC_VERIFY_REQUEST_VALUE]; `level` "quick" or
 * "full". 0, or -1 (no randomness, or another level). */
int exec_verify_request_new(const char *level, char out[EXEC_VERIFY_REQUEST_VALUE]);

/* Splits a request value: 0 with level[8] and nonce[EXEC_VERIFY_NONCE_HEX] set, or -1 when
 * `value` is not "quick:" or "full:" and 32 lowercase hex digits (trailing whitespace
 * allowed, nothing else). */
int exec_verify_request_parse(const char *value, char level[8], char nonce[EXEC_VERIFY_NONCE_HEX]);

#endif
