/*
 * The state document: parse with every field checked and located ("nodes[3].placement.zone"),
 * serialize in one fixed order so equal states are equal bytes (a diff of two states in git
 * shows only what changed), and the few edits the executor makes.
 */
#include "executor/state.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor/state_override.h"

int state_fail(struct state_err *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static const char *const status_names[] = {"creating", "running", "failed", "deleting"};
static const char *const verify_names[] = {"none", "passed", "failed", "accepted", "pending"};
#define NVERIFY_NAMES (int)(sizeof verify_names / sizeof *verify_names)

const char *state_status_name(enum state_status s)
{
    return (unsigned)s < sizeof status_names / sizeof *status_names ? status_names[s] : "?";
}

const char *state_verify_name(enum state_verify v)
{
    return (unsigned)v < sizeof verify_names / sizeof *verify_names ? verify_names[v] : "?";
}

int state_uuid(char out[37])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1)
        return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10 */
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return 0;
}

static bool is_uuid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

/* ---- ownership ---- */

static void placement_release(struct state_placement *p)
{
    free(p->cloud);
    free(p->region);
    free(p->zone);
    free(p->instance_type);
    free(p->gpu);
}

static void labels_free(struct state_label *l, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(l[i].key);
        free(l[i].value);
    }
    free(l);
}

static void node_release(struct state_node *n)
{
    free(n->address);
    free(n->provider);
    free(n->cloud_id);
    free(n->token);
    free(n->verify_detail);
    placement_release(&n->placement);
    labels_free(n->labels, n->nlabels);
    n->labels = NULL;
    n->nlabels = 0;
}

void state_node_release(struct state_node *n)
{
    node_release(n);
}

static int label_cmp(const void *a, const void *b)
{
    return strcmp(((const struct state_label *)a)->key, ((const struct state_label *)b)->key);
}

int state_node_set_labels(struct state_node *n, const struct state_label *labels, size_t nlabels)
{
    struct state_label *l = nlabels ? calloc(nlabels, sizeof *l) : NULL;
    if (nlabels && !l)
        return -1;
    for (size_t i = 0; i < nlabels; i++) {
        l[i].key = strdup(labels[i].key ? labels[i].key : "");
        l[i].value = strdup(labels[i].value ? labels[i].value : "");
        if (!l[i].key || !l[i].value) {
            labels_free(l, i + 1);
            return -1;
        }
    }
    if (nlabels > 1)
        qsort(l, nlabels, sizeof *l, label_cmp);
    labels_free(n->labels, n->nlabels);
    n->labels = l;
    n->nlabels = nlabels;
    return 0;
}

static void block_release(struct state_block *b)
{
    free(b->cloud);
    free(b->region);
    free(b->zone);
    free(b->instance_type);
    free(b->error_class);
    free(b->message);
}

void state_free(struct state *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->nnodes; i++)
        node_release(&st->nodes[i]);
    for (size_t i = 0; i < st->nblocks; i++)
        block_release(&st->blocks[i]);
    state_overrides_free(st);
    free(st->nodes);
    free(st->blocks);
    free(st->stack);
    OPENSSL_cleanse(st->verify_secret, sizeof st->verify_secret);
    free(st);
}

struct state *state_new(const char *stack)
{
    struct state *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->stack = strdup(stack ? stack : "");
    if (!st->stack || state_uuid(st->lineage) != 0) {
        state_free(st);
        return NULL;
    }
    return st;
}

/* strdup that treats NULL as "" and reports failure through *ok. */
static char *dup(const char *s, bool *ok)
{
    char *d = strdup(s ? s : "");
    if (!d)
        *ok = false;
    return d;
}

static bool node_copy(struct state_node *dst, const struct state_node *src)
{
    bool ok = true;
    *dst = *src;
    dst->address = dup(src->address, &ok);
    dst->provider = dup(src->provider, &ok);
    dst->cloud_id = dup(src->cloud_id, &ok);
    dst->token = dup(src->token, &ok);
    dst->verify_detail = dup(src->verify_detail, &ok);
    dst->placement.cloud = dup(src->placement.cloud, &ok);
    dst->placement.region = dup(src->placement.region, &ok);
    dst->placement.zone = dup(src->placement.zone, &ok);
    dst->placement.instance_type = dup(src->placement.instance_type, &ok);
    dst->placement.gpu = dup(src->placement.gpu, &ok);
    dst->labels = NULL;
    dst->nlabels = 0;
    if (ok && state_node_set_labels(dst, src->labels, src->nlabels) != 0)
        ok = false;
    if (!ok) {
        node_release(dst);
        memset(dst, 0, sizeof *dst);
    }
    return ok;
}

bool state_node_copy(struct state_node *dst, const struct state_node *src)
{
    return node_copy(dst, src);
}

static bool block_copy(struct state_block *dst, const struct state_block *src)
{
    bool ok = true;
    *dst = *src;
    dst->cloud = dup(src->cloud, &ok);
    dst->region = dup(src->region, &ok);
    dst->zone = dup(src->zone, &ok);
    dst->instance_type = dup(src->instance_type, &ok);
    dst->error_class = dup(src->error_class, &ok);
    dst->message = dup(src->message, &ok);
    if (!ok)
        block_release(dst);
    return ok;
}

/* ---- lookups and edits; nodes stay sorted by address, blocks by place ---- */

/* Index of `address`, or of where it would go (with *found false). */
static size_t node_slot(const struct state *st, const char *address, bool *found)
{
    size_t lo = 0, hi = st->nnodes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(st->nodes[mid].address, address);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

struct state_node *state_find(const struct state *st, const char *address)
{
    bool found;
    size_t i = node_slot(st, address, &found);
    return found ? &st->nodes[i] : NULL;
}

static bool grow(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p = realloc(*arr, ncap * size);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

struct state_node *state_put(struct state *st, const struct state_node *n)
{
    struct state_node copy;
    if (!n->address || !node_copy(&copy, n))
        return NULL;
    bool found;
    size_t i = node_slot(st, n->address, &found);
    if (found) {
        node_release(&st->nodes[i]);
        st->nodes[i] = copy;
        return &st->nodes[i];
    }
    if (!grow((void **)&st->nodes, &st->capnodes, st->nnodes, sizeof *st->nodes)) {
        node_release(&copy);
        return NULL;
    }
    memmove(&st->nodes[i + 1], &st->nodes[i], (st->nnodes - i) * sizeof *st->nodes);
    st->nodes[i] = copy;
    st->nnodes++;
    return &st->nodes[i];
}

bool state_remove(struct state *st, const char *address)
{
    bool found;
    size_t i = node_slot(st, address, &found);
    if (!found)
        return false;
    node_release(&st->nodes[i]);
    memmove(&st->nodes[i], &st->nodes[i + 1], (st->nnodes - i - 1) * sizeof *st->nodes);
    st->nnodes--;
    return true;
}

static int block_cmp(const struct state_block *a, const char *cloud, const char *region,
                     const char *zone, const char *instance_type, bool spot)
{
    int c = strcmp(a->cloud, cloud);
    if (!c)
        c = strcmp(a->region, region);
    if (!c)
        c = strcmp(a->zone, zone ? zone : "");
    if (!c)
        c = strcmp(a->instance_type, instance_type);
    if (!c)
        c = (int)a->spot - (int)spot;
    return c;
}

int state_block_put(struct state *st, const struct state_block *b)
{
    struct state_block copy;
    if (!b->cloud || !b->region || !b->instance_type || !block_copy(&copy, b))
        return -1;
    size_t i = 0;
    while (i < st->nblocks) {
        int c = block_cmp(&st->blocks[i], copy.cloud, copy.region, copy.zone, copy.instance_type,
                          copy.spot);
        if (c == 0) {
            block_release(&st->blocks[i]);
            st->blocks[i] = copy;
            return 0;
        }
        if (c > 0)
            break;
        i++;
    }
    if (!grow((void **)&st->blocks, &st->capblocks, st->nblocks, sizeof *st->blocks)) {
        block_release(&copy);
        return -1;
    }
    memmove(&st->blocks[i + 1], &st->blocks[i], (st->nblocks - i) * sizeof *st->blocks);
    st->blocks[i] = copy;
    st->nblocks++;
    return 0;
}

size_t state_block_prune(struct state *st, int64_t now)
{
    size_t kept = 0, dropped = 0;
    for (size_t i = 0; i < st->nblocks; i++) {
        if (st->blocks[i].until <= now) {
            block_release(&st->blocks[i]);
            dropped++;
        } else {
            st->blocks[kept++] = st->blocks[i];
        }
    }
    st->nblocks = kept;
    return dropped;
}

bool state_blocked(const struct state *st, const char *cloud, const char *region, const char *zone,
                   const char *instance_type, bool spot, int64_t now)
{
    for (size_t i = 0; i < st->nblocks; i++)
        if (st->blocks[i].until > now &&
            block_cmp(&st->blocks[i], cloud, region, zone, instance_type, spot) == 0)
            return true;
    return false;
}

/* ---- serialize ---- */

static json_t *placement_json(const struct state_placement *p)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:b}", "cloud", p->cloud, "region", p->region,
                     "zone", p->zone, "instance_type", p->instance_type, "gpu", p->gpu, "gpus",
                     p->gpus, "spot", p->spot);
}

static json_t *node_json(const struct state_node *n)
{
    json_t *pl = placement_json(&n->placement), *labels = json_object();
    for (size_t i = 0; labels && i < n->nlabels; i++) /* sorted: a fixed order */
        json_object_set_new(labels, n->labels[i].key, json_string(n->labels[i].value));
    if (!pl || !labels) {
        json_decref(pl);
        json_decref(labels);
        return NULL;
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:f, s:s, s:I, s:{s:s, s:s}, s:b, s:o}", "address",
                     n->address, "provider", n->provider, "cloud_id", n->cloud_id, "token",
                     n->token, "placement", pl, "hourly_usd", n->hourly_usd, "status",
                     state_status_name(n->status), "created_at", (json_int_t)n->created_at,
                     "verify", "result", state_verify_name(n->verify), "detail", n->verify_detail,
                     "tainted", n->tainted, "labels", labels);
}

static json_t *block_json(const struct state_block *b)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:I, s:I}", "cloud", b->cloud, "region",
                     b->region, "zone", b->zone, "instance_type", b->instance_type, "spot", b->spot,
                     "error_class", b->error_class, "message", b->message, "at", (json_int_t)b->at,
                     "until", (json_int_t)b->until);
}

char *state_serialize(const struct state *st, size_t *len)
{
    json_t *nodes = json_array(), *blocks = json_array();
    json_t *doc = NULL;
    char *text = NULL;
    if (!nodes || !blocks)
        goto out;
    for (size_t i = 0; i < st->nnodes; i++)
        if (json_array_append_new(nodes, node_json(&st->nodes[i])) != 0)
            goto out;
    for (size_t i = 0; i < st->nblocks; i++)
        if (json_array_append_new(blocks, block_json(&st->blocks[i])) != 0)
            goto out;
    doc = json_pack("{s:i, s:s, s:I, s:s, s:O, s:O}", "format_version", STATE_FORMAT_VERSION,
                    "lineage", st->lineage, "serial", (json_int_t)st->serial, "stack", st->stack,
                    "nodes", nodes, "blocklist", blocks);
    if (!doc || state_overrides_write(st, doc) != 0)
        goto out;
    if (st->verify_secret[0] && /* only in states of gated applies: others keep their bytes */
        json_object_set_new(doc, "verify_secret", json_string(st->verify_secret)) != 0)
        goto out;
    text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    if (text) {
        size_t n = strlen(text);
        char *t = realloc(text, n + 2);
        if (!t) {
            free(text);
            text = NULL;
            goto out;
        }
        text = t;
        text[n] = '\n';
        text[n + 1] = '\0';
        if (len)
            *len = n + 1;
    }
out:
    json_decref(doc);
    json_decref(nodes);
    json_decref(blocks);
    return text;
}

/* ---- parse ---- */

struct rd {
    const char *what;
    struct state_err *err;
    char path[128]; /* "nodes[3]" */
};

static int bad(struct rd *r, const char *field, const char *problem)
{
    return state_fail(r->err, "state '%s': %s%s%s %s; restore the backup or fix the file", r->what,
                      r->path, *r->path ? "." : "", field, problem);
}

static int get_str(struct rd *r, json_t *obj, const char *key, bool empty_ok, char **out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return bad(r, key, "is missing");
    if (!json_is_string(v))
        return bad(r, key, "is not a string");
    const char *s = json_string_value(v);
    if (!empty_ok && !*s)
        return bad(r, key, "is empty");
    if (strlen(s) != json_string_length(v))
        return bad(r, key, "holds a NUL character");
    *out = strdup(s);
    return *out ? 0 : state_fail(r->err, "out of memory reading state '%s'", r->what);
}

static int get_int(struct rd *r, json_t *obj, const char *key, int64_t lo, int64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return bad(r, key, "is missing");
    if (!json_is_integer(v))
        return bad(r, key, "is not an integer");
    if (json_integer_value(v) < lo)
        return bad(r, key, "is out of range");
    *out = json_integer_value(v);
    return 0;
}

static int get_bool(struct rd *r, json_t *obj, const char *key, bool *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return bad(r, key, "is missing");
    if (!json_is_boolean(v))
        return bad(r, key, "is not true or false");
    *out = json_is_true(v);
    return 0;
}

static int get_name(struct rd *r, json_t *obj, const char *key, const char *const *names,
                    int nnames, int *out)
{
    char *s = NULL;
    if (get_str(r, obj, key, false, &s) != 0)
        return -1;
    for (int i = 0; i < nnames; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            free(s);
            return 0;
        }
    free(s);
    return bad(r, key, "has an unknown value");
}

static int read_placement(struct rd *r, json_t *o, struct state_placement *p)
{
    int64_t gpus;
    if (!json_is_object(o))
        return bad(r, "placement", "is not an object");
    size_t plen = strlen(r->path);
    snprintf(r->path + plen, sizeof r->path - plen, ".placement");
    int rc = get_str(r, o, "cloud", false, &p->cloud) ||
                     get_str(r, o, "region", false, &p->region) ||
                     get_str(r, o, "zone", true, &p->zone) ||
                     get_str(r, o, "instance_type", false, &p->instance_type) ||
                     get_str(r, o, "gpu", true, &p->gpu) || get_int(r, o, "gpus", 0, &gpus) ||
                     get_bool(r, o, "spot", &p->spot)
                 ? -1
                 : 0;
    if (rc == 0 && gpus > 1024)
        rc = bad(r, "gpus", "is out of range");
    p->gpus = (int)gpus;
    r->path[plen] = '\0';
    return rc;
}

/* "labels": an object of strings; absent in states written before labels (none then). */
static int read_labels(struct rd *r, json_t *o, struct state_node *n)
{
    if (!o)
        return 0;
    if (!json_is_object(o) || json_object_size(o) > 4096)
        return bad(r, "labels", "is not an object of labels");
    size_t k = 0, cap = json_object_size(o);
    struct state_label *l = cap ? calloc(cap, sizeof *l) : NULL;
    if (cap && !l)
        return state_fail(r->err, "out of memory reading state '%s'", r->what);
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (!json_is_string(v)) {
            free(l);
            return bad(r, "labels", "holds a value that is not a string");
        }
        l[k++] =
            (struct state_label){(char *)(uintptr_t)key, (char *)(uintptr_t)json_string_value(v)};
    }
    int rc = state_node_set_labels(n, l, k);
    free(l);
    return rc == 0 ? 0 : state_fail(r->err, "out of memory reading state '%s'", r->what);
}

static int read_node(struct rd *r, json_t *o, struct state_node *n)
{
    int status = 0, verify = 0;
    int64_t created;
    if (!json_is_object(o))
        return state_fail(r->err, "state '%s': %s is not an object", r->what, r->path);
    json_t *v = json_object_get(o, "verify");
    json_t *hourly = json_object_get(o, "hourly_usd");
    if (get_str(r, o, "address", false, &n->address) ||
        get_str(r, o, "provider", false, &n->provider) ||
        get_str(r, o, "cloud_id", true, &n->cloud_id) || get_str(r, o, "token", true, &n->token) ||
        read_placement(r, json_object_get(o, "placement"), &n->placement) ||
        get_name(r, o, "status", status_names, 4, &status) ||
        get_int(r, o, "created_at", 0, &created) || get_bool(r, o, "tainted", &n->tainted))
        return -1;
    if (!hourly)
        return bad(r, "hourly_usd", "is missing");
    if (!json_is_number(hourly) || json_number_value(hourly) < 0)
        return bad(r, "hourly_usd", "is not a price");
    if (!json_is_object(v))
        return bad(r, "verify", "is missing or not an object");
    size_t plen = strlen(r->path);
    snprintf(r->path + plen, sizeof r->path - plen, ".verify");
    int rc = get_name(r, v, "result", verify_names, NVERIFY_NAMES, &verify) ||
                     get_str(r, v, "detail", true, &n->verify_detail)
                 ? -1
                 : 0;
    r->path[plen] = '\0';
    if (rc == 0)
        rc = read_labels(r, json_object_get(o, "labels"), n);
    n->hourly_usd = json_number_value(hourly);
    n->status = (enum state_status)status;
    n->verify = (enum state_verify)verify;
    n->created_at = created;
    return rc;
}

static int read_block(struct rd *r, json_t *o, struct state_block *b)
{
    if (!json_is_object(o))
        return state_fail(r->err, "state '%s': %s is not an object", r->what, r->path);
    return get_str(r, o, "cloud", false, &b->cloud) || get_str(r, o, "region", false, &b->region) ||
                   get_str(r, o, "zone", true, &b->zone) ||
                   get_str(r, o, "instance_type", false, &b->instance_type) ||
                   get_bool(r, o, "spot", &b->spot) ||
                   get_str(r, o, "error_class", false, &b->error_class) ||
                   get_str(r, o, "message", true, &b->message) || get_int(r, o, "at", 0, &b->at) ||
                   get_int(r, o, "until", 0, &b->until)
               ? -1
               : 0;
}

static int read_nodes(struct rd *r, json_t *arr, struct state *st)
{
    if (!json_is_array(arr))
        return bad(r, "nodes", "is missing or not a list");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        struct state_node n = {0};
        snprintf(r->path, sizeof r->path, "nodes[%zu]", i);
        if (read_node(r, json_array_get(arr, i), &n) != 0) {
            node_release(&n);
            return -1;
        }
        if (state_find(st, n.address)) {
            int rc = state_fail(r->err,
                                "state '%s': %s: the address '%s' appears twice; restore the "
                                "backup or remove one",
                                r->what, r->path, n.address);
            node_release(&n);
            return rc;
        }
        bool ok = state_put(st, &n) != NULL;
        node_release(&n);
        if (!ok)
            return state_fail(r->err, "out of memory reading state '%s'", r->what);
    }
    return 0;
}

static int read_blocks(struct rd *r, json_t *arr, struct state *st)
{
    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return bad(r, "blocklist", "is not a list");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        struct state_block b = {0};
        snprintf(r->path, sizeof r->path, "blocklist[%zu]", i);
        int rc = read_block(r, json_array_get(arr, i), &b);
        if (rc == 0 && state_block_put(st, &b) != 0)
            rc = state_fail(r->err, "out of memory reading state '%s'", r->what);
        block_release(&b);
        if (rc != 0)
            return -1;
    }
    return 0;
}

int state_parse(const char *text, size_t len, const char *what, struct state **out,
                struct state_err *err)
{
    json_error_t je;
    struct rd r = {.what = what, .err = err};
    *out = NULL;
    if (len == 0)
        return state_fail(err, "state '%s' is empty (a write was cut short?); restore the backup",
                          what);
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        return state_fail(err,
                          "state '%s' is not valid JSON (line %d, column %d: %s); it may be "
                          "truncated or corrupt: restore the backup",
                          what, je.line, je.column, je.text);
    struct state *st = calloc(1, sizeof *st);
    int64_t version = 0, serial = 0;
    char *lineage = NULL;
    int rc = -1;
    if (!st) {
        state_fail(err, "out of memory reading state '%s'", what);
        goto out;
    }
    if (!json_is_object(doc)) {
        state_fail(err, "state '%s' is not a JSON object; is it a gpuform state?", what);
        goto out;
    }
    if (get_int(&r, doc, "format_version", 1, &version) != 0)
        goto out;
    if (version > STATE_FORMAT_VERSION) {
        state_fail(err,
                   "state '%s' has format %lld, written by a newer gpuform (this one reads "
                   "format %d); upgrade gpuform",
                   what, (long long)version, STATE_FORMAT_VERSION);
        goto out;
    }
    if (get_str(&r, doc, "lineage", false, &lineage) != 0)
        goto out;
    if (!is_uuid(lineage)) {
        bad(&r, "lineage", "is not a UUID");
        goto out;
    }
    memcpy(st->lineage, lineage, 37);
    if (get_int(&r, doc, "serial", 0, &serial) != 0 ||
        get_str(&r, doc, "stack", true, &st->stack) != 0)
        goto out;
    st->serial = (uint64_t)serial;
    json_t *vs = json_object_get(doc, "verify_secret");
    if (vs && (!json_is_string(vs) || json_string_length(vs) != 64 ||
               strspn(json_string_value(vs), "0123456789abcdef") != 64)) {
        bad(&r, "verify_secret", "is not 64 hex digits");
        goto out;
    }
    if (vs)
        memcpy(st->verify_secret, json_string_value(vs), 65);
    if (read_nodes(&r, json_object_get(doc, "nodes"), st) != 0 ||
        read_blocks(&r, json_object_get(doc, "blocklist"), st) != 0 ||
        state_overrides_read(json_object_get(doc, "policy_overrides"), what, st, err) != 0)
        goto out;
    rc = 0;
out:
    free(lineage);
    json_decref(doc);
    if (rc == 0)
        *out = st;
    else
        state_free(st);
    return rc;
}
