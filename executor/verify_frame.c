/*
 * The verify agent's framed, signed report and everything around it (executor/verify_frame.h):
 * node keys derived from the stack's secret, the boot script's agent part and reading it
 * back, writing a report onto the console and finding it again in console output that
 * other boot messages surround. HMAC and randomness through OpenSSL, JSON through jansson.
 */
#include "executor/verify_frame.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/buf.h"
#include "core/digest.h"

#define TAG        "gpuform-verify "
#define KEY_LABEL  "gpuform verify key v1\n"
#define LINE_CHARS 76
#define KEY_FILE   "/etc/gpuform/verify.key"

int exec_verify_secret_new(char out[EXEC_VERIFY_SECRET_HEX])
{
    unsigned char raw[32];
    out[0] = '\0';
    if (RAND_bytes(raw, sizeof raw) != 1)
        return -1;
    core_hex(raw, sizeof raw, out);
    OPENSSL_cleanse(raw, sizeof raw);
    return 0;
}

static int unhex(const char *s, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s[2 * i + (size_t)k];
            unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                         : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                         : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                                : 16u;
            if (d == 16)
                return -1;
            v = v * 16 + d;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

int exec_verify_key(const char *secret_hex, const char *token,
                    unsigned char key[EXEC_VERIFY_KEY_LEN])
{
    unsigned char secret[32];
    memset(key, 0, EXEC_VERIFY_KEY_LEN);
    if (!secret_hex || strlen(secret_hex) != 64 || unhex(secret_hex, 32, secret) != 0)
        return -1;
    size_t tl = strlen(token), ll = strlen(KEY_LABEL);
    unsigned char *msg = malloc(ll + tl + 1);
    unsigned int outlen = 0;
    int rc = -1;
    if (msg) {
        memcpy(msg, KEY_LABEL, ll);
        memcpy(msg + ll, token, tl);
        if (HMAC(EVP_sha256(), secret, sizeof secret, msg, ll + tl, key, &outlen) &&
            outlen == EXEC_VERIFY_KEY_LEN)
            rc = 0;
        free(msg);
    }
    OPENSSL_cleanse(secret, sizeof secret);
    if (rc != 0)
        memset(key, 0, EXEC_VERIFY_KEY_LEN);
    return rc;
}

/* HMAC-SHA256(key, address "\n" report) into mac[32]; 0 or -1 (out of memory). */
static int frame_mac(const unsigned char key[EXEC_VERIFY_KEY_LEN], const char *address,
                     const char *report, size_t len, unsigned char mac[32])
{
    size_t al = strlen(address);
    unsigned char *msg = malloc(al + 1 + len + 1);
    unsigned int n = 0;
    if (!msg)
        return -1;
    memcpy(msg, address, al);
    msg[al] = '\n';
    memcpy(msg + al + 1, report, len);
    bool ok = HMAC(EVP_sha256(), key, EXEC_VERIFY_KEY_LEN, msg, al + 1 + len, mac, &n) && n == 32;
    free(msg);
    return ok ? 0 : -1;
}

char *exec_frame_write(const char *address, const unsigned char key[EXEC_VERIFY_KEY_LEN],
                       const char *report, size_t len)
{
    unsigned char mac[32];
    char hex[65];
    if (strpbrk(address, "\r\n") || frame_mac(key, address, report, len, mac) != 0)
        return NULL;
    core_hex(mac, sizeof mac, hex);
    char *b64 = core_base64url(report, len);
    if (!b64)
        return NULL;
    struct core_buf out;
    core_buf_init(&out, EXEC_REPORT_MAX * 2);
    bool ok = core_buf_addf(&out, TAG "begin v1 %s\n", address) == 0;
    size_t n = strlen(b64);
    for (size_t at = 0; ok && at < n; at += LINE_CHARS)
        ok = core_buf_addf(&out, TAG "data %.*s\n", LINE_CHARS, b64 + at) == 0;
    ok = ok && core_buf_addf(&out, TAG "mac %s\n" TAG "end\n", hex) == 0;
    free(b64);
    if (!ok) {
        core_buf_release(&out);
        return NULL;
    }
    return core_buf_take(&out);
}

/* ---- reading a console ---- */

/* One block being read: where its data lines are, and its MAC. */
struct block {
    bool open, ours;
    struct core_buf data; /* base64url, the data lines joined */
    char mac[65];
    bool bad_line; /* a data or mac line of the block was malformed */
};

static void block_reset(struct block *b, bool open, bool ours)
{
    core_buf_reset(&b->data);
    b->open = open;
    b->ours = ours;
    b->mac[0] = '\0';
    b->bad_line = false;
}

/* The line [s, e) with its "\r" and trailing blanks cut; the part after TAG, or NULL. */
static const char *tagged(const char *s, const char *e, size_t *n)
{
    while (e > s && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
    size_t tl = strlen(TAG);
    for (const char *p = s; p + tl <= e; p++)
        if (memcmp(p, TAG, tl) == 0) {
            *n = (size_t)(e - p - (ptrdiff_t)tl);
            return p + tl;
        }
    return NULL;
}

static bool starts(const char *p, size_t n, const char *word, const char **rest, size_t *rn)
{
    size_t wl = strlen(word);
    if (n < wl || memcmp(p, word, wl) != 0)
        return false;
    *rest = p + wl;
    *rn = n - wl;
    return true;
}

/* Feeds one tagged line to the block; a finished block for the address is copied to `last`
 * (and true returned). */
static bool feed(struct block *b, struct block *last, const char *p, size_t n, const char *address)
{
    const char *rest;
    size_t rn;
    if (starts(p, n, "begin v1 ", &rest, &rn)) {
        bool ours = rn == strlen(address) && memcmp(rest, address, rn) == 0;
        block_reset(b, true, ours);
    } else if (!b->open || !b->ours) {
        return false; /* another node's block, or a line outside any block */
    } else if (starts(p, n, "data ", &rest, &rn)) {
        if (rn > LINE_CHARS || strspn(rest, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                            "0123456789-_") < rn)
            b->bad_line = true;
        else if (core_buf_add(&b->data, rest, rn) != 0)
            b->bad_line = true; /* over the maximum: a report no agent writes */
    } else if (starts(p, n, "mac ", &rest, &rn)) {
        if (rn != 64 || b->mac[0])
            b->bad_line = true;
        else
            memcpy(b->mac, rest, 64), b->mac[64] = '\0';
    } else if (n == 3 && memcmp(p, "end", 3) == 0) {
        core_buf_reset(&last->data);
        if (core_buf_add(&last->data, b->data.data ? b->data.data : "", b->data.len) != 0)
            last->bad_line = true;
        else
            last->bad_line = b->bad_line;
        memcpy(last->mac, b->mac, sizeof last->mac);
        last->open = true; /* "there is a last block" */
        block_reset(b, false, false);
        return true;
    } else {
        b->bad_line = true;
    }
    return false;
}

static enum exec_frame_status bad(char *why, size_t whylen, const char *msg)
{
    snprintf(why, whylen, "%s", msg);
    return EXEC_FRAME_BAD;
}

/* Checks the last block's MAC and decodes it. */
static enum exec_frame_status check_block(struct block *last, const char *address,
                                          const unsigned char key[EXEC_VERIFY_KEY_LEN],
                                          char **report, size_t *rlen, char *why, size_t whylen)
{
    if (last->bad_line)
        return bad(why, whylen, "verify report garbled: a line of the block is malformed");
    if (!last->mac[0])
        return bad(why, whylen, "verify report garbled: the block has no MAC line");
    unsigned char want[32], got[32];
    if (unhex(last->mac, 32, got) != 0)
        return bad(why, whylen, "verify report garbled: the MAC is not hex");
    size_t n = 0;
    char *bytes = core_base64url_decode(last->data.data ? last->data.data : "", last->data.len,
                                        EXEC_REPORT_MAX / 3 * 4 + 4, &n);
    if (!bytes)
        return bad(why, whylen, "verify report garbled: the data is not base64url");
    if (frame_mac(key, address, bytes, n, want) != 0) {
        free(bytes);
        return bad(why, whylen, "verify report not checked: out of memory");
    }
    if (CRYPTO_memcmp(want, got, sizeof want) != 0) {
        free(bytes);
        return bad(why, whylen,
                   "verify report not authenticated: MAC mismatch (a report signed with another "
                   "key)");
    }
    *report = bytes;
    *rlen = n;
    return EXEC_FRAME_OK;
}

/* Whether an authenticated report answers the request `nonce`: its "request" is the nonce. */
static bool answers(const char *report, size_t len, const char *nonce)
{
    json_t *doc = json_loadb(report, len, 0, NULL);
    const char *r = json_string_value(json_object_get(doc, "request"));
    bool yes = r && strcmp(r, nonce) == 0;
    json_decref(doc);
    return yes;
}

/*
 * exec_frame_find and exec_frame_find_request: with `nonce` NULL the last complete block for
 * the address counts; with one, the last authenticated block answering it, else what the
 * last complete block says when it is bad, else none or truncated.
 */
static enum exec_frame_status find(const char *text, size_t len, const char *address,
                                   const unsigned char key[EXEC_VERIFY_KEY_LEN], const char *nonce,
                                   char **report, size_t *rlen, char *why, size_t whylen)
{
    *report = NULL;
    *rlen = 0;
    if (why && whylen)
        why[0] = '\0';
    struct block cur = {0}, last = {0};
    core_buf_init(&cur.data, EXEC_REPORT_MAX / 3 * 4 + 4);
    core_buf_init(&last.data, EXEC_REPORT_MAX / 3 * 4 + 4);
    enum exec_frame_status last_st = EXEC_FRAME_NONE; /* nonce: the last complete block's */
    char last_why[200] = "";
    const char *end = text + len;
    for (const char *s = text; s < end;) {
        const char *e = memchr(s, '\n', (size_t)(end - s));
        const char *next = e ? e + 1 : end;
        if (!e)
            e = end;
        size_t n;
        const char *p = tagged(s, e, &n);
        if (p && feed(&cur, &last, p, n, address) && nonce) {
            char *r = NULL;
            size_t rn = 0;
            last_st = check_block(&last, address, key, &r, &rn, last_why, sizeof last_why);
            if (last_st == EXEC_FRAME_OK && answers(r, rn, nonce)) {
                free(*report);
                *report = r;
                *rlen = rn;
            } else {
                free(r);
            }
        }
        s = next;
    }
    enum exec_frame_status st;
    if (nonce && *report)
        st = EXEC_FRAME_OK;
    else if (nonce && last_st == EXEC_FRAME_BAD)
        st = bad(why, whylen, last_why);
    else if (!nonce && last.open)
        st = check_block(&last, address, key, report, rlen, why, whylen);
    else if (cur.open && cur.ours)
        st = EXEC_FRAME_TRUNCATED;
    else
        st = EXEC_FRAME_NONE;
    if (st == EXEC_FRAME_TRUNCATED)
        snprintf(why, whylen, "verify report truncated: it began but did not end");
    else if (st == EXEC_FRAME_NONE && nonce)
        snprintf(why, whylen, "no verify report answering the request on the console%s",
                 last.open ? " (only earlier ones)" : "");
    else if (st == EXEC_FRAME_NONE)
        snprintf(why, whylen, "no verify report on the console");
    core_buf_release(&cur.data);
    core_buf_release(&last.data);
    return st;
}

int exec_frame_last_id(const char *text, size_t len, const char *address,
                       char id[EXEC_FRAME_ID_HEX])
{
    id[0] = '\0';
    struct block cur = {0}, last = {0};
    core_buf_init(&cur.data, EXEC_REPORT_MAX / 3 * 4 + 4);
    core_buf_init(&last.data, EXEC_REPORT_MAX / 3 * 4 + 4);
    const char *end = text + len;
    for (const char *s = text; s < end;) {
        const char *e = memchr(s, '\n', (size_t)(end - s));
        const char *next = e ? e + 1 : end;
        size_t n;
        const char *p = tagged(s, e ? e : end, &n);
        if (p)
            feed(&cur, &last, p, n, address);
        s = next;
    }
    int rc = 0;
    if (last.open && core_buf_add(&last.data, last.mac, strlen(last.mac)) == 0 &&
        core_buf_add(&last.data, last.bad_line ? "!" : ".", 1) == 0)
        rc = core_sha256_hex(last.data.data, last.data.len, id) == 0;
    core_buf_release(&cur.data);
    core_buf_release(&last.data);
    return rc;
}

enum exec_frame_status exec_frame_find(const char *text, size_t len, const char *address,
                                       const unsigned char key[EXEC_VERIFY_KEY_LEN], char **report,
                                       size_t *rlen, char *why, size_t whylen)
{
    return find(text, len, address, key, NULL, report, rlen, why, whylen);
}

enum exec_frame_status exec_frame_find_request(const char *text, size_t len, const char *address,
                                               const unsigned char key[EXEC_VERIFY_KEY_LEN],
                                               const char *nonce, char **report, size_t *rlen,
                                               char *why, size_t whylen)
{
    return find(text, len, address, key, nonce, report, rlen, why, whylen);
}

/* ---- the boot script ---- */

char *exec_agent_script(const char *base, const char *address, const char *level, const char *cloud,
                        const unsigned char key[EXEC_VERIFY_KEY_LEN])
{
    /* addresses are workload names and an index or site: no quote, no newline */
    if (strpbrk(address, "'\r\n\\") ||
        strlen(address) >= sizeof((struct exec_agent_req *)0)->address)
        return NULL;
    if (!cloud || strspn(cloud, "abcdefghijklmnopqrstuvwxyz") != strlen(cloud) || !*cloud ||
        strlen(cloud) >= sizeof((struct exec_agent_req *)0)->cloud)
        return NULL;
    char hex[2 * EXEC_VERIFY_KEY_LEN + 1];
    core_hex(key, EXEC_VERIFY_KEY_LEN, hex);
    char *s = NULL;
    int n = asprintf(
        &s,
        "%s%s" EXEC_AGENT_MARKER " level=%s\n"
        "# The verify agent: checks this node's GPUs and prints a report signed with\n"
        "# this node's key on the serial console, where gpuform reads it.\n"
        "umask 077\n"
        "mkdir -p /etc/gpuform\n"
        "cat > " KEY_FILE " <<'GPUFORM_KEY'\n"
        "%s\n"
        "GPUFORM_KEY\n"
        "out=/dev/ttyS0; [ -w \"$out\" ] || out=/dev/console\n"
        "gpuform verify --agent --level %s --address '%s' --key-file " KEY_FILE
        " >\"$out\" 2>&1 ||\n"
        "  echo \"gpuform-verify agent failed (exit $?): is gpuform on the image?\" "
        ">\"$out\"\n"
        "# The watcher: answers the re-verification requests gpuform sets on this\n"
        "# instance (docs/verify.md), in the background, past the end of this script.\n"
        "if g=\"$(command -v gpuform)\"; then\n"
        "  if command -v systemd-run >/dev/null 2>&1; then\n"
        "    systemd-run --unit " EXEC_WATCH_UNIT " --quiet -p Restart=on-failure "
        "-p RestartSec=30 \\\n"
        "      -p StandardOutput=file:\"$out\" -p StandardError=file:\"$out\" \\\n"
        "      \"$g\" verify --agent --watch --cloud %s --address '%s' --key-file " KEY_FILE "\n"
        "  else\n"
        "    setsid nohup \"$g\" verify --agent --watch --cloud %s --address '%s' "
        "--key-file " KEY_FILE " >\"$out\" 2>&1 </dev/null &\n"
        "  fi\n"
        "fi\n",
        base, *base && base[strlen(base) - 1] != '\n' ? "\n" : "", level, hex, level, address,
        cloud, address, cloud, address);
    OPENSSL_cleanse(hex, sizeof hex);
    return n < 0 ? NULL : s;
}

int exec_agent_parse(const char *script, struct exec_agent_req *out)
{
    memset(out, 0, sizeof *out);
    const char *m = script ? strstr(script, EXEC_AGENT_MARKER " level=") : NULL;
    if (!m)
        return -1;
    m += strlen(EXEC_AGENT_MARKER " level=");
    size_t ln = strcspn(m, "\n");
    if (ln == 0 || ln >= sizeof out->level)
        return -1;
    memcpy(out->level, m, ln);
    const char *k = strstr(m, "<<'GPUFORM_KEY'\n");
    const char *a = strstr(m, "--address '");
    if (!k || !a)
        return -1;
    k += strlen("<<'GPUFORM_KEY'\n");
    if (strspn(k, "0123456789abcdef") != 2 * EXEC_VERIFY_KEY_LEN || k[64] != '\n' ||
        unhex(k, EXEC_VERIFY_KEY_LEN, out->key) != 0)
        return -1;
    a += strlen("--address '");
    const char *q = strchr(a, '\'');
    if (!q || q == a || (size_t)(q - a) >= sizeof out->address || memchr(a, '\n', (size_t)(q - a)))
        return -1;
    memcpy(out->address, a, (size_t)(q - a));
    /* the watcher's cloud; scripts written before the watcher have none */
    const char *c = strstr(m, "--watch --cloud ");
    if (c) {
        c += strlen("--watch --cloud ");
        size_t cl = strspn(c, "abcdefghijklmnopqrstuvwxyz");
        if (cl == 0 || cl >= sizeof out->cloud || c[cl] != ' ')
            return -1;
        memcpy(out->cloud, c, cl);
    }
    return 0;
}

/* ---- the report in one line ---- */

/* Adds the results of `list` (an array of check objects) to the summary. */
static int count_results(json_t *list, const char *where, struct exec_report_summary *s)
{
    size_t i;
    json_t *r;
    if (!json_is_array(list))
        return -1;
    json_array_foreach(list, i, r)
    {
        const char *check = json_string_value(json_object_get(r, "check"));
        const char *status = json_string_value(json_object_get(r, "status"));
        const char *msg = json_string_value(json_object_get(r, "message"));
        if (!check || !status)
            return -1;
        if (!strcmp(status, "skip"))
            continue;
        s->checks++;
        if (strcmp(status, "fail") != 0)
            continue;
        s->failed++;
        if (!strstr(s->why, check)) { /* each check's name once */
            size_t l = strlen(s->why);
            snprintf(s->why + l, sizeof s->why - l, "%s%s", l ? ", " : "", check);
        }
        if (!s->first[0])
            snprintf(s->first, sizeof s->first, "%s %s: %s", where, check, msg ? msg : "");
    }
    return 0;
}

int exec_report_summarize(const char *json, size_t len, struct exec_report_summary *s, char *why,
                          size_t whylen)
{
    memset(s, 0, sizeof *s);
    json_error_t je;
    json_t *doc = json_loadb(json, len, 0, &je);
    if (!doc) {
        snprintf(why, whylen, "the report is not JSON (line %d: %s)", je.line, je.text);
        return -1;
    }
    const char *status = json_string_value(json_object_get(doc, "status"));
    const char *level = json_string_value(json_object_get(doc, "level"));
    const char *backend = json_string_value(json_object_get(doc, "backend"));
    json_t *secs = json_object_get(doc, "seconds");
    int rc = -1;
    if (!status || !level || !backend || !json_is_number(secs)) {
        snprintf(why, whylen, "the report lacks its status, level, backend or seconds");
        goto out;
    }
    s->passed = !strcmp(status, "pass");
    snprintf(s->level, sizeof s->level, "%s", level);
    snprintf(s->backend, sizeof s->backend, "%s", backend);
    s->seconds = json_number_value(secs);
    json_t *req = json_object_get(doc, "request");
    if (req && !json_is_null(req)) {
        const char *rv = json_string_value(req);
        if (!rv || strlen(rv) != 32 || strspn(rv, "0123456789abcdef") != 32) {
            snprintf(why, whylen, "the report's 'request' is not a nonce (32 hex digits)");
            goto out;
        }
        snprintf(s->request, sizeof s->request, "%s", rv);
    }
    if (count_results(json_object_get(doc, "node"), "node", s) != 0) {
        snprintf(why, whylen, "the report's 'node' results are malformed");
        goto out;
    }
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(doc, "gpus"), i, g)
    {
        char where[32];
        snprintf(where, sizeof where, "gpu%zu", i);
        if (count_results(json_object_get(g, "checks"), where, s) != 0) {
            snprintf(why, whylen, "the report's results of gpu%zu are malformed", i);
            goto out;
        }
    }
    if (s->passed && s->failed) {
        snprintf(why, whylen, "the report says pass but %d check%s failed", s->failed,
                 s->failed == 1 ? "" : "s");
        goto out;
    }
    if (!s->passed && !s->failed)
        snprintf(s->why, sizeof s->why, "status %.40s", status);
    rc = 0;
out:
    json_decref(doc);
    return rc;
}

bool exec_report_verdict(const char *report, size_t rlen, const char *bad,
                         struct exec_report_summary *s, char *reason, size_t reasonlen,
                         char *detail, size_t detaillen)
{
    char swhy[256];
    memset(s, 0, sizeof *s);
    reason[0] = '\0';
    if (report && exec_report_summarize(report, rlen, s, swhy, sizeof swhy) != 0) {
        snprintf(reason, reasonlen, "verify report unreadable: %s", swhy);
    } else if (report && s->passed) {
        snprintf(detail, detaillen, "%s: passed (%d checks, %.1f s, %s)", s->level, s->checks,
                 s->seconds, s->backend);
        return true;
    } else if (report) {
        snprintf(reason, reasonlen, "verify failed: %s", s->why);
    } else {
        snprintf(reason, reasonlen, "%s", bad ? bad : "no verify report");
    }
    snprintf(detail, detaillen, "%s%s%s%s", reason, s->first[0] ? " (" : "", s->first,
             s->first[0] ? ")" : "");
    return false;
}

int exec_verify_request_new(const char *level, char out[EXEC_VERIFY_REQUEST_VALUE])
{
    out[0] = '\0';
    if (!level || (strcmp(level, "quick") && strcmp(level, "full")))
        return -1;
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return -1;
    int n = snprintf(out, EXEC_VERIFY_REQUEST_VALUE, "%s:", level);
    for (size_t i = 0; i < sizeof raw; i++)
        n += snprintf(out + n, EXEC_VERIFY_REQUEST_VALUE - (size_t)n, "%02x", raw[i]);
    return 0;
}

int exec_verify_request_parse(const char *value, char level[8], char nonce[EXEC_VERIFY_NONCE_HEX])
{
    level[0] = nonce[0] = '\0';
    if (!value)
        return -1;
    const char *colon = strchr(value, ':');
    size_t ll = colon ? (size_t)(colon - value) : 0;
    if (!colon ||
        !((ll == 5 && !strncmp(value, "quick", 5)) || (ll == 4 && !strncmp(value, "full", 4))))
        return -1;
    const char *h = colon + 1;
    if (strspn(h, "0123456789abcdef") != 32)
        return -1;
    for (const char *t = h + 32; *t; t++)
        if (*t != ' ' && *t != '\t' && *t != '\r' && *t != '\n')
            return -1;
    memcpy(level, value, ll);
    level[ll] = '\0';
    memcpy(nonce, h, 32);
    nonce[32] = '\0';
    return 0;
}
