/*
 * The offer hooks: `filter_offer(workload, offer)` and `score_offer(workload, offer)`, run
 * for every offer the planner may use, are far too many calls to make one by one (10,000
 * workloads x 20,000 offers). They must be pure, so each answer is cached under the values
 * of exactly the fields the call read (the sandbox's tracked views report each read): a
 * later judgement whose inputs agree on those fields gets the same answer without running
 * Lua. The planner also reuses whole summaries between workloads that agree on every
 * workload field the answers depended on (plan_judge.share_*). docs/policies.md.
 */
#include "lua/policy_offer.h"

#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "lua/policy_int.h"

/* Views the tracker tells apart. */
enum { TAG_W = 1, TAG_WLABELS, TAG_WGPU, TAG_O };

/* What a call may depend on. Workload fields below DEP_OFFER (label keys from WD_LABEL0 on,
 * one per key name), offer fields from DEP_OFFER. */
enum {
    WD_ALL, /* pairs over the workload */
    WD_NAME,
    WD_KIND,
    WD_COUNT,
    WD_HOURS,
    WD_SPOT,
    WD_VERIFY,
    WD_GPU,    /* anything of workload.gpu */
    WD_LABELS, /* pairs or # over workload.labels */
    WD_LABEL0,
};
#define DEP_OFFER 0x100000
enum {
    OD_ALL = DEP_OFFER,
    OD_CLOUD,
    OD_REGION,
    OD_ZONE,
    OD_TYPE,
    OD_GPU,
    OD_GPUS,
    OD_GPU_MEMORY,
    OD_VCPUS,
    OD_RAM,
    OD_SPOT,
    OD_PRICE,
    OD_PRICE_PER_GPU,
    OD_ONDEMAND,
    OD_SPOT_PRICE,
    OD_END,
};

static const char *const wfield[] = {
    [WD_NAME] = "name",   [WD_KIND] = "kind", [WD_COUNT] = "count",
    [WD_HOURS] = "hours", [WD_SPOT] = "spot", [WD_VERIFY] = "verify"};
static const char *const ofield[] = {
    [OD_CLOUD - DEP_OFFER] = "cloud",
    [OD_REGION - DEP_OFFER] = "region",
    [OD_ZONE - DEP_OFFER] = "zone",
    [OD_TYPE - DEP_OFFER] = "type",
    [OD_GPU - DEP_OFFER] = "gpu",
    [OD_GPUS - DEP_OFFER] = "gpus",
    [OD_GPU_MEMORY - DEP_OFFER] = "gpu_memory_gb",
    [OD_VCPUS - DEP_OFFER] = "vcpus",
    [OD_RAM - DEP_OFFER] = "memory_gib",
    [OD_SPOT - DEP_OFFER] = "spot",
    [OD_PRICE - DEP_OFFER] = "price",
    [OD_PRICE_PER_GPU - DEP_OFFER] = "price_per_gpu",
    [OD_ONDEMAND - DEP_OFFER] = "ondemand_price",
    [OD_SPOT_PRICE - DEP_OFFER] = "spot_price",
};

/* A set of fields some call read, sorted; and the workload ones among them. */
struct depset {
    int *ids;
    int n;
    int *wids;
    int nw;
};

/* One cached answer: the values of its set's fields (in the pool) and what the hook said. */
struct entry {
    uint64_t hash; /* 0: empty slot */
    int set;
    size_t off, len;
    int ok;        /* filter: 1 allowed, 0 rejected (reason) */
    int reason;    /* filter: interned reason id */
    double factor; /* score */
    double extra;
};

/* The cache of one hook of one file. */
struct memo {
    size_t file;
    bool score; /* score_offer, else filter_offer */
    struct depset *sets;
    int nsets;
    struct entry *tab;
    size_t cap, n;
    int last; /* the set the last answer came from: tried first */
    /* The last workload whose answer read no offer field, and that answer: it holds for
     * every offer, so the next judgements for that workload need no lookup. */
    const struct spec_workload *const_w;
    struct entry *const_e;
    /* share_begin..share_end: the first answer's set, and the workload fields of every
     * set an answer came from (when some read an offer field) */
    int first_set;
    bool dyn;
    struct entry first;
    unsigned char *wmark; /* per workload dep id */
    int nwmark;
    int *wacc;
    int nwacc, capwacc;
};

/* What a summary's judgements depended on, memo by memo: the same answer for every offer
 * (konst), or the workload fields in wids. */
struct share_part {
    bool konst;
    struct entry ans;
    int *wids;
    int nw;
};

struct share {
    struct share_part *parts;       /* one per memo, filters then scores */
    const struct plan_offer *probe; /* the first offer judged, to probe other workloads */
    bool probe_spot;
    double probe_hourly;
};

struct policy_judge {
    struct plan_judge pj;
    struct policy_set *ps;
    const struct spec *spec;
    struct core_diags *diags;
    struct memo *filters, *scores;
    size_t nfilters, nscores;
    char *pool; /* key bytes of every entry */
    size_t pool_len, pool_cap;
    struct core_buf key;
    struct core_buf va, vb; /* share_same's two workloads' values */
    char **labels;          /* interned label key names: WD_LABEL0 + index */
    int nlabels;
    char **reasons; /* interned rejection reasons */
    int nreasons;
    /* the call being made: what it reads */
    const struct spec_workload *w;
    const struct plan_offer *o;
    bool spot;
    double hourly;
    int *read;
    int nread, capread;
    bool oom;
    /* share_begin..share_end: what the answers depended on (per memo) */
    bool sharing, probed;
    const struct plan_offer *probe;
    bool probe_spot;
    double probe_hourly;
    struct share *shares;
    int nshares, capshares;
    bool failed;
    struct policy_judge_stats stats;
};

/* ---- interning ---- */

static int intern(char ***tab, int *n, const char *s, size_t len)
{
    for (int i = 0; i < *n; i++)
        if (strlen((*tab)[i]) == len && memcmp((*tab)[i], s, len) == 0)
            return i;
    char **t = realloc(*tab, (size_t)(*n + 1) * sizeof(*t));
    if (!t)
        return -1;
    *tab = t;
    char *c = malloc(len + 1);
    if (!c)
        return -1;
    memcpy(c, s, len);
    c[len] = '\0';
    t[*n] = c;
    return (*n)++;
}

/* The label key's dep id, interning it; -1 on out of memory. */
static int label_dep(struct policy_judge *j, const char *key, size_t len)
{
    int i = intern(&j->labels, &j->nlabels, key, len);
    return i < 0 ? -1 : WD_LABEL0 + i;
}

/* ---- values ---- */

/* Values are appended to a key; a failed append (out of memory) marks the key bad. */
static _Thread_local bool key_bad;

static void put_str(struct core_buf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (core_buf_addc(b, s ? 's' : '0') != 0 || core_buf_add(b, &n, sizeof n) != 0 ||
        (n && core_buf_add(b, s, n) != 0))
        key_bad = true;
}

static void put_num(struct core_buf *b, double v)
{
    if (core_buf_addc(b, 'n') != 0 || core_buf_add(b, &v, sizeof v) != 0)
        key_bad = true;
}

static const char *label_of(const struct spec_workload *w, const char *key)
{
    for (size_t i = 0; i < w->nlabels; i++)
        if (strcmp(w->labels[i].key, key) == 0)
            return w->labels[i].value;
    return NULL;
}

static void put_gpu(struct core_buf *b, const struct spec_workload *w)
{
    put_num(b, w->gpu.count);
    put_num(b, (double)w->gpu.nnames);
    for (size_t i = 0; i < w->gpu.nnames; i++)
        put_str(b, w->gpu.names[i]);
}

static void put_labels(struct core_buf *b, const struct spec_workload *w)
{
    put_num(b, (double)w->nlabels);
    for (size_t i = 0; i < w->nlabels; i++) {
        put_str(b, w->labels[i].key);
        put_str(b, w->labels[i].value);
    }
}

/* The value of workload field `id` (a workload dep) of w, as bytes. */
static void put_wdep(struct policy_judge *j, struct core_buf *b, int id,
                     const struct spec_workload *w)
{
    switch (id) {
    case WD_ALL:
        put_str(b, w->name);
        put_str(b, spec_kind_name(w->kind));
        put_num(b, w->count);
        put_num(b, w->hours);
        put_str(b, spec_spot_name(w->spot));
        put_str(b, spec_verify_name(w->verify));
        put_gpu(b, w);
        put_labels(b, w);
        break;
    case WD_NAME:
        put_str(b, w->name);
        break;
    case WD_KIND:
        put_str(b, spec_kind_name(w->kind));
        break;
    case WD_COUNT:
        put_num(b, w->count);
        break;
    case WD_HOURS:
        put_num(b, w->hours);
        break;
    case WD_SPOT:
        put_str(b, spec_spot_name(w->spot));
        break;
    case WD_VERIFY:
        put_str(b, spec_verify_name(w->verify));
        break;
    case WD_GPU:
        put_gpu(b, w);
        break;
    case WD_LABELS:
        put_labels(b, w);
        break;
    default:
        put_str(b, label_of(w, j->labels[id - WD_LABEL0]));
        break;
    }
}

static double per_gpu(const struct plan_offer *o, double hourly)
{
    return hourly / (o->gpus > 0 ? o->gpus : 1);
}

/* The value of offer field `id` for the call's offer, market and price. */
static void put_odep(struct core_buf *b, int id, const struct plan_offer *o, bool spot,
                     double hourly)
{
    switch (id) {
    case OD_CLOUD:
        put_str(b, core_cloud_name(o->cloud));
        break;
    case OD_REGION:
        put_str(b, o->region);
        break;
    case OD_ZONE:
        put_str(b, o->zone && *o->zone ? o->zone : NULL);
        break;
    case OD_TYPE:
        put_str(b, o->instance_type);
        break;
    case OD_GPU:
        put_str(b, o->gpu);
        break;
    case OD_GPUS:
        put_num(b, o->gpus);
        break;
    case OD_GPU_MEMORY:
        put_num(b, o->gpu_memory_gb);
        break;
    case OD_VCPUS:
        put_num(b, o->vcpus);
        break;
    case OD_RAM:
        put_num(b, o->ram_gib);
        break;
    case OD_SPOT:
        put_num(b, spot);
        break;
    case OD_PRICE:
        put_num(b, hourly);
        break;
    case OD_PRICE_PER_GPU:
        put_num(b, per_gpu(o, hourly));
        break;
    case OD_ONDEMAND:
        put_num(b, o->ondemand);
        break;
    case OD_SPOT_PRICE:
        put_num(b, o->spot);
        break;
    default: /* OD_ALL */
        for (int k = OD_CLOUD; k < OD_END; k++)
            put_odep(b, k, o, spot, hourly);
        break;
    }
}

/* The key of set `s` for the call's inputs, in j->key. */
static int make_key(struct policy_judge *j, const struct depset *s, int set)
{
    core_buf_reset(&j->key);
    key_bad = core_buf_add(&j->key, &set, sizeof set) != 0;
    for (int i = 0; i < s->n; i++) {
        if (s->ids[i] >= DEP_OFFER)
            put_odep(&j->key, s->ids[i], j->o, j->spot, j->hourly);
        else
            put_wdep(j, &j->key, s->ids[i], j->w);
    }
    return key_bad ? -1 : 0;
}

static uint64_t fnv(const void *p, size_t n)
{
    const unsigned char *c = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 1099511628211ull;
    return h ? h : 1;
}

static struct entry *find(struct policy_judge *j, struct memo *mm, uint64_t h)
{
    if (!mm->cap)
        return NULL;
    for (size_t i = h & (mm->cap - 1);; i = (i + 1) & (mm->cap - 1)) {
        struct entry *e = &mm->tab[i];
        if (!e->hash)
            return NULL;
        if (e->hash == h && e->len == j->key.len &&
            memcmp(j->pool + e->off, j->key.data, e->len) == 0)
            return e;
    }
}

static struct entry *insert(struct policy_judge *j, struct memo *mm, uint64_t h, int set)
{
    if (2 * (mm->n + 1) > mm->cap) {
        size_t cap = mm->cap ? 2 * mm->cap : 64;
        struct entry *t = calloc(cap, sizeof(*t));
        if (!t)
            return NULL;
        for (size_t i = 0; i < mm->cap; i++) {
            if (!mm->tab[i].hash)
                continue;
            size_t k = mm->tab[i].hash & (cap - 1);
            while (t[k].hash)
                k = (k + 1) & (cap - 1);
            t[k] = mm->tab[i];
        }
        free(mm->tab);
        mm->tab = t;
        mm->cap = cap;
        mm->const_w = NULL; /* it pointed into the old table */
        mm->const_e = NULL;
    }
    if (j->pool_len + j->key.len > j->pool_cap) {
        size_t cap = j->pool_cap ? j->pool_cap : 4096;
        while (cap < j->pool_len + j->key.len)
            cap *= 2;
        char *p = realloc(j->pool, cap);
        if (!p)
            return NULL;
        j->pool = p;
        j->pool_cap = cap;
    }
    memcpy(j->pool + j->pool_len, j->key.data, j->key.len);
    size_t k = h & (mm->cap - 1);
    while (mm->tab[k].hash)
        k = (k + 1) & (mm->cap - 1);
    struct entry *e = &mm->tab[k];
    *e = (struct entry){.hash = h, .set = set, .off = j->pool_len, .len = j->key.len};
    j->pool_len += j->key.len;
    mm->n++;
    return e;
}

/* ---- sharing: what a summary's answers depended on ---- */

static size_t nmemos(const struct policy_judge *j)
{
    return j->nfilters + j->nscores;
}

static struct memo *memo_at(struct policy_judge *j, size_t k)
{
    return k < j->nfilters ? &j->filters[k] : &j->scores[k - j->nfilters];
}

/* Notes, in a share session, that answer e of mm was used. */
static int note_used(struct policy_judge *j, struct memo *mm, const struct entry *e)
{
    if (!j->sharing)
        return 0;
    const struct depset *s = &mm->sets[e->set];
    if (mm->first_set < 0) {
        mm->first_set = e->set;
        mm->first = *e;
    }
    if (s->nw != s->n)
        mm->dyn = true;
    for (int i = 0; i < s->nw; i++) {
        int id = s->wids[i];
        if (id >= mm->nwmark) {
            int n = mm->nwmark ? mm->nwmark : 64;
            while (n <= id)
                n *= 2;
            unsigned char *m = realloc(mm->wmark, (size_t)n);
            if (!m)
                return -1;
            memset(m + mm->nwmark, 0, (size_t)(n - mm->nwmark));
            mm->wmark = m;
            mm->nwmark = n;
        }
        if (mm->wmark[id])
            continue;
        if (mm->nwacc == mm->capwacc) {
            int n = mm->capwacc ? 2 * mm->capwacc : 16;
            int *a = realloc(mm->wacc, (size_t)n * sizeof(*a));
            if (!a)
                return -1;
            mm->wacc = a;
            mm->capwacc = n;
        }
        mm->wmark[id] = 1;
        mm->wacc[mm->nwacc++] = id;
    }
    return 0;
}

static void share_begin(void *ctx)
{
    struct policy_judge *j = ctx;
    j->sharing = true;
    j->probed = false;
    for (size_t k = 0; k < nmemos(j); k++) {
        struct memo *mm = memo_at(j, k);
        for (int i = 0; i < mm->nwacc; i++)
            mm->wmark[mm->wacc[i]] = 0;
        mm->nwacc = 0;
        mm->first_set = -1;
        mm->dyn = false;
    }
}

static int share_end(void *ctx)
{
    struct policy_judge *j = ctx;
    j->sharing = false;
    if (j->nshares == j->capshares) {
        int n = j->capshares ? 2 * j->capshares : 16;
        struct share *s = realloc(j->shares, (size_t)n * sizeof(*s));
        if (!s)
            return -1;
        j->shares = s;
        j->capshares = n;
    }
    struct share *sh = &j->shares[j->nshares];
    memset(sh, 0, sizeof(*sh));
    sh->parts = calloc(nmemos(j) ? nmemos(j) : 1, sizeof(*sh->parts));
    if (!sh->parts)
        return -1;
    j->nshares++; /* freed with the judge from here on */
    sh->probe = j->probed ? j->probe : NULL;
    sh->probe_spot = j->probe_spot;
    sh->probe_hourly = j->probe_hourly;
    for (size_t k = 0; k < nmemos(j); k++) {
        struct memo *mm = memo_at(j, k);
        struct share_part *p = &sh->parts[k];
        /* one workload-only answer for every offer: other workloads with that same answer
         * share it whatever their fields (share_same probes them) */
        if (mm->first_set >= 0 && !mm->dyn && sh->probe) {
            p->konst = true;
            p->ans = mm->first;
            continue;
        }
        p->wids = malloc((size_t)(mm->nwacc ? mm->nwacc : 1) * sizeof(int));
        if (!p->wids)
            return -1;
        if (mm->nwacc > 0)
            memcpy(p->wids, mm->wacc, (size_t)mm->nwacc * sizeof(int));
        p->nw = mm->nwacc;
    }
    return j->nshares - 1;
}

static struct entry *answer(struct policy_judge *j, struct memo *mm);

static bool same_workload_values(struct policy_judge *j, const int *ids, int n,
                                 const struct spec_workload *a, const struct spec_workload *b)
{
    struct core_buf *x = &j->va, *y = &j->vb;
    bool same = true;
    for (int i = 0; i < n && same; i++) {
        core_buf_reset(x);
        core_buf_reset(y);
        key_bad = false;
        put_wdep(j, x, ids[i], a);
        put_wdep(j, y, ids[i], b);
        same = !key_bad && x->len == y->len && memcmp(x->data, y->data, x->len) == 0;
    }
    return same;
}

static bool share_same(void *ctx, int handle, const struct spec_workload *a,
                       const struct spec_workload *b)
{
    struct policy_judge *j = ctx;
    if (handle < 0 || handle >= j->nshares || j->failed)
        return false;
    const struct share *sh = &j->shares[handle];
    /* the values first (cheap), the probes after */
    for (size_t k = 0; k < nmemos(j); k++) {
        const struct share_part *p = &sh->parts[k];
        if (!p->konst && !same_workload_values(j, p->wids, p->nw, a, b))
            return false;
    }
    for (size_t k = 0; k < nmemos(j); k++) {
        const struct share_part *p = &sh->parts[k];
        if (!p->konst)
            continue;
        /* b's answer on any offer: when it comes from a set that reads no offer field,
         * it is b's answer on every offer */
        struct memo *mm = memo_at(j, k);
        j->w = b;
        j->o = sh->probe;
        j->spot = sh->probe_spot;
        j->hourly = sh->probe_hourly;
        struct entry *e = answer(j, mm);
        if (!e)
            return false;
        const struct depset *d = &mm->sets[e->set];
        if (d->nw != d->n || e->ok != p->ans.ok || e->reason != p->ans.reason ||
            e->factor != p->ans.factor || e->extra != p->ans.extra)
            return false;
    }
    return true;
}

/* ---- running a hook ---- */

static void note_read(struct policy_judge *j, int id)
{
    if (id < 0) {
        j->oom = true;
        return;
    }
    if (j->nread == j->capread) {
        int n = j->capread ? 2 * j->capread : 16;
        int *r = realloc(j->read, (size_t)n * sizeof(*r));
        if (!r) {
            j->oom = true;
            return;
        }
        j->read = r;
        j->capread = n;
    }
    j->read[j->nread++] = id;
}

static void tracker(void *ctx, lua_State *L, int tag, int key)
{
    struct policy_judge *j = ctx;
    const char *k = NULL;
    size_t kl = 0;
    if (key && lua_type(L, key) == LUA_TSTRING)
        k = lua_tolstring(L, key, &kl);
    switch (tag) {
    case TAG_W:
        if (!key) {
            note_read(j, WD_ALL);
            return;
        }
        for (int i = WD_NAME; k && i <= WD_VERIFY; i++)
            if (strcmp(k, wfield[i]) == 0)
                note_read(j, i);
        /* "gpu" and "labels" hand out their views: what is read inside counts */
        return;
    case TAG_WLABELS:
        if (!key)
            note_read(j, WD_LABELS);
        else if (k)
            note_read(j, label_dep(j, k, kl));
        return;
    case TAG_WGPU:
        note_read(j, WD_GPU);
        return;
    case TAG_O:
        if (!key) {
            note_read(j, OD_ALL);
            return;
        }
        for (int i = OD_CLOUD; k && i < OD_END; i++)
            if (strcmp(k, ofield[i - DEP_OFFER]) == 0)
                note_read(j, i);
        return;
    default:
        return;
    }
}

static void set_str(lua_State *L, const char *k, const char *v)
{
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

static void set_num(lua_State *L, const char *k, double v)
{
    if (v == floor(v) && fabs(v) < 9e15)
        lua_pushinteger(L, (lua_Integer)v);
    else
        lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

/* Pushes the workload and offer tables, tracked (protected: may raise out of memory). */
static int build_args(lua_State *L)
{
    struct policy_judge *j = lua_touserdata(L, 1);
    const struct spec_workload *w = j->w;
    const struct plan_offer *o = j->o;
    lua_settop(L, 0);
    lua_createtable(L, 0, 8);
    set_str(L, "name", w->name);
    set_str(L, "kind", spec_kind_name(w->kind));
    set_num(L, "count", w->count);
    set_num(L, "hours", w->hours);
    set_str(L, "spot", spec_spot_name(w->spot));
    set_str(L, "verify", spec_verify_name(w->verify));
    lua_createtable(L, 0, 2);
    lua_createtable(L, (int)w->gpu.nnames, 0);
    for (size_t i = 0; i < w->gpu.nnames; i++) {
        lua_pushstring(L, w->gpu.names[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "models");
    set_num(L, "count", w->gpu.count);
    if (hook_ro_wrap_tracked(L, "workload.gpu", TAG_WGPU) != 0)
        return luaL_error(L, "not enough memory");
    lua_setfield(L, -2, "gpu");
    lua_createtable(L, 0, (int)w->nlabels);
    for (size_t i = 0; i < w->nlabels; i++)
        set_str(L, w->labels[i].key, w->labels[i].value);
    if (hook_ro_wrap_tracked(L, "workload.labels", TAG_WLABELS) != 0)
        return luaL_error(L, "not enough memory");
    lua_setfield(L, -2, "labels");
    if (hook_ro_wrap_tracked(L, "workload", TAG_W) != 0)
        return luaL_error(L, "not enough memory");

    lua_createtable(L, 0, 14);
    set_str(L, "cloud", core_cloud_name(o->cloud));
    set_str(L, "region", o->region);
    if (o->zone && *o->zone)
        set_str(L, "zone", o->zone);
    set_str(L, "type", o->instance_type);
    set_str(L, "gpu", o->gpu);
    set_num(L, "gpus", o->gpus);
    set_num(L, "gpu_memory_gb", o->gpu_memory_gb);
    set_num(L, "vcpus", o->vcpus);
    set_num(L, "memory_gib", o->ram_gib);
    lua_pushboolean(L, j->spot);
    lua_setfield(L, -2, "spot");
    set_num(L, "price", j->hourly);
    set_num(L, "price_per_gpu", per_gpu(o, j->hourly));
    if (o->ondemand >= 0)
        set_num(L, "ondemand_price", o->ondemand);
    if (o->spot >= 0)
        set_num(L, "spot_price", o->spot);
    if (hook_ro_wrap_tracked(L, "offer", TAG_O) != 0)
        return luaL_error(L, "not enough memory");
    return 2;
}

static int cmp_id(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The set of what the last call read (sorted, unique), found or added; -1 out of memory. */
static int add_set(struct memo *mm, int *read, int n)
{
    if (n > 0)
        qsort(read, (size_t)n, sizeof(int), cmp_id);
    int u = 0;
    for (int i = 0; i < n; i++)
        if (u == 0 || read[u - 1] != read[i])
            read[u++] = read[i];
    for (int s = 0; s < mm->nsets; s++)
        if (mm->sets[s].n == u &&
            (u == 0 || memcmp(mm->sets[s].ids, read, (size_t)u * sizeof(int)) == 0))
            return s;
    struct depset *t = realloc(mm->sets, (size_t)(mm->nsets + 1) * sizeof(*t));
    if (!t)
        return -1;
    mm->sets = t;
    struct depset *d = &t[mm->nsets];
    memset(d, 0, sizeof(*d));
    d->ids = malloc((size_t)(u ? u : 1) * sizeof(int));
    d->wids = malloc((size_t)(u ? u : 1) * sizeof(int));
    if (!d->ids || !d->wids) {
        free(d->ids);
        free(d->wids);
        return -1;
    }
    if (u > 0)
        memcpy(d->ids, read, (size_t)u * sizeof(int));
    d->n = u;
    for (int i = 0; i < u; i++)
        if (read[i] < DEP_OFFER)
            d->wids[d->nw++] = read[i];
    return mm->nsets++;
}

static void fail_result(struct policy_judge *j, size_t file, const char *msg)
{
    struct hook_error err;
    memset(&err, 0, sizeof err);
    snprintf(err.file, sizeof err.file, "%s", hook_vm_file_name(j->ps->vm, file));
    snprintf(err.message, sizeof err.message, "%s", msg);
    policy_report(j->ps, file, "policy-result", &err, j->diags);
    j->failed = true;
}

/* Runs the memo's hook on the call's inputs and caches the answer. NULL when it failed. */
static struct entry *run_hook(struct policy_judge *j, struct memo *mm)
{
    struct hook_vm *vm = j->ps->vm;
    lua_State *L = hook_vm_state(vm);
    const char *hook = mm->score ? "score_offer" : "filter_offer";
    struct hook_error err;
    j->nread = 0;
    j->oom = false;
    hook_vm_track(vm, tracker, j);
    lua_pushcfunction(L, build_args);
    lua_pushlightuserdata(L, j);
    int rc = lua_pcall(L, 1, 2, 0);
    if (rc != LUA_OK) {
        lua_pop(L, 1);
        hook_vm_track(vm, NULL, NULL);
        core_diag_add(j->diags, CORE_SEV_ERROR, "out-of-memory", NULL,
                      "out of memory handing an offer to the policies");
        j->failed = true;
        return NULL;
    }
    rc = hook_vm_call(vm, mm->file, hook, 2, 2, &err);
    hook_vm_track(vm, NULL, NULL);
    j->stats.lua_calls++;
    if (rc != 0) {
        policy_report(j->ps, mm->file, "policy-error", &err, j->diags);
        j->failed = true;
        return NULL;
    }
    struct entry got = {.ok = 1, .reason = -1, .factor = 1, .extra = 0};
    char msg[256];
    msg[0] = '\0';
    int t1 = lua_type(L, -2), t2 = lua_type(L, -1);
    if (!mm->score) {
        if (t1 == LUA_TBOOLEAN && !lua_toboolean(L, -2)) {
            got.ok = 0;
            size_t rl = 0;
            const char *r = t2 == LUA_TSTRING ? lua_tolstring(L, -1, &rl) : NULL;
            char text[400];
            snprintf(text, sizeof text, "%s: %.*s", hook_vm_file_name(vm, mm->file),
                     (int)(r && rl ? (rl > 300 ? 300 : rl) : 8), r && rl ? r : "its rule");
            got.reason = intern(&j->reasons, &j->nreasons, text, strlen(text));
            if (got.reason < 0)
                j->oom = true;
            if (t2 != LUA_TSTRING && t2 != LUA_TNIL)
                snprintf(msg, sizeof msg, "filter_offer's reason must be a string, not a %s",
                         lua_typename(L, t2));
        } else if (t1 != LUA_TNIL && t1 != LUA_TBOOLEAN) {
            snprintf(msg, sizeof msg,
                     "filter_offer must return true, nil, or false and a reason, not a %s",
                     lua_typename(L, t1));
        }
    } else if (t1 != LUA_TNIL) {
        if (t1 != LUA_TNUMBER || (t2 != LUA_TNIL && t2 != LUA_TNUMBER)) {
            snprintf(msg, sizeof msg,
                     "score_offer must return a factor and optionally an extra price in $/h "
                     "(numbers), not a %s%s%s",
                     lua_typename(L, t1), t2 != LUA_TNIL ? " and a " : "",
                     t2 != LUA_TNIL ? lua_typename(L, t2) : "");
        } else {
            got.factor = lua_tonumber(L, -2);
            got.extra = t2 == LUA_TNUMBER ? lua_tonumber(L, -1) : 0;
            if (!isfinite(got.factor) || got.factor <= 0 || got.factor > 1000)
                snprintf(msg, sizeof msg,
                         "score_offer's factor must be above 0 and at most 1000, not %g",
                         got.factor);
            else if (!isfinite(got.extra) || fabs(got.extra) > 1e6)
                snprintf(msg, sizeof msg,
                         "score_offer's extra $/h must be a finite number of at most 1e6, not %g",
                         got.extra);
        }
    }
    lua_pop(L, 2);
    if (msg[0]) {
        fail_result(j, mm->file, msg);
        return NULL;
    }
    int set = j->oom ? -1 : add_set(mm, j->read, j->nread);
    if (set < 0 || make_key(j, &mm->sets[set], set) != 0) {
        core_diag_add(j->diags, CORE_SEV_ERROR, "out-of-memory", NULL,
                      "out of memory caching a policy's answer");
        j->failed = true;
        return NULL;
    }
    struct entry *e = insert(j, mm, fnv(j->key.data, j->key.len), set);
    if (!e) {
        core_diag_add(j->diags, CORE_SEV_ERROR, "out-of-memory", NULL,
                      "out of memory caching a policy's answer");
        j->failed = true;
        return NULL;
    }
    e->ok = got.ok;
    e->reason = got.reason;
    e->factor = got.factor;
    e->extra = got.extra;
    return e;
}

/* Remembers e as the answer for every offer when its set reads no offer field. */
static struct entry *found(struct policy_judge *j, struct memo *mm, struct entry *e)
{
    const struct depset *d = &mm->sets[e->set];
    if (note_used(j, mm, e) != 0)
        return NULL;
    mm->last = e->set;
    if (d->nw == d->n) {
        mm->const_w = j->w;
        mm->const_e = e;
    }
    return e;
}

/* The hook's answer for the call's inputs: cached, or run now. NULL when it failed. */
static struct entry *answer(struct policy_judge *j, struct memo *mm)
{
    if (mm->const_w == j->w && mm->const_e) {
        j->stats.cache_hits++;
        return note_used(j, mm, mm->const_e) == 0 ? mm->const_e : NULL;
    }
    for (int k = -1; k < mm->nsets; k++) {
        int s = k < 0 ? mm->last : k;
        if ((k >= 0 && s == mm->last) || s >= mm->nsets)
            continue;
        if (make_key(j, &mm->sets[s], s) != 0)
            return NULL;
        struct entry *e = find(j, mm, fnv(j->key.data, j->key.len));
        if (e) {
            j->stats.cache_hits++;
            return found(j, mm, e);
        }
    }
    struct entry *e = run_hook(j, mm);
    return e ? found(j, mm, e) : NULL;
}

static int judge(void *ctx, const struct spec_workload *w, const struct plan_offer *o, bool spot,
                 double hourly, double *weighed, int *reason)
{
    struct policy_judge *j = ctx;
    if (j->failed)
        return -1;
    j->stats.judged++;
    if (j->sharing && !j->probed) {
        j->probed = true;
        j->probe = o;
        j->probe_spot = spot;
        j->probe_hourly = hourly;
    }
    j->w = w;
    j->o = o;
    j->spot = spot;
    j->hourly = hourly;
    *weighed = hourly;
    for (size_t f = 0; f < j->nfilters; f++) {
        struct entry *e = answer(j, &j->filters[f]);
        if (!e)
            return -1;
        if (!e->ok) {
            *reason = e->reason;
            j->stats.rejected++;
            return 0;
        }
    }
    for (size_t f = 0; f < j->nscores; f++) {
        struct entry *e = answer(j, &j->scores[f]);
        if (!e)
            return -1;
        *weighed = *weighed * e->factor + e->extra;
    }
    if (!(*weighed >= 0) || !isfinite(*weighed)) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "score_offer made the weighed price of %s %s %s negative (%g $/h): keep "
                 "factor x price + extra at 0 or above",
                 core_cloud_name(o->cloud), o->region, o->instance_type, *weighed);
        fail_result(j, j->scores[j->nscores - 1].file, msg);
        return -1;
    }
    return 1;
}

static const char *reason_text(void *ctx, int id)
{
    struct policy_judge *j = ctx;
    return id >= 0 && id < j->nreasons ? j->reasons[id] : "a policy";
}

/* ---- life ---- */

int policy_judge_new(struct policy_set *ps, const struct spec *spec, struct core_diags *diags,
                     struct policy_judge **out)
{
    *out = NULL;
    if (!ps || (!policy_defines(ps, "filter_offer") && !policy_defines(ps, "score_offer")))
        return 0;
    struct policy_judge *j = calloc(1, sizeof(*j));
    if (j) {
        j->filters = calloc(ps->n, sizeof(*j->filters));
        j->scores = calloc(ps->n, sizeof(*j->scores));
    }
    if (!j || !j->filters || !j->scores) {
        policy_judge_free(j);
        core_diag_add(diags, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory");
        return -1;
    }
    j->ps = ps;
    j->spec = spec;
    j->diags = diags;
    core_buf_init(&j->key, (size_t)1 << 24);
    core_buf_init(&j->va, (size_t)1 << 24);
    core_buf_init(&j->vb, (size_t)1 << 24);
    for (size_t f = 0; f < ps->n; f++) {
        if (hook_vm_defines(ps->vm, f, "filter_offer"))
            j->filters[j->nfilters++] = (struct memo){.file = f};
        if (hook_vm_defines(ps->vm, f, "score_offer"))
            j->scores[j->nscores++] = (struct memo){.file = f, .score = true};
    }
    j->pj = (struct plan_judge){.ctx = j,
                                .judge = judge,
                                .reason = reason_text,
                                .share_begin = share_begin,
                                .share_end = share_end,
                                .share_same = share_same};
    *out = j;
    return 0;
}

const struct plan_judge *policy_judge_planner(struct policy_judge *j)
{
    return j ? &j->pj : NULL;
}

void policy_judge_stats(const struct policy_judge *j, struct policy_judge_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (j)
        *out = j->stats;
}

static void free_memo(struct memo *mm)
{
    free(mm->wmark);
    free(mm->wacc);
    for (int s = 0; s < mm->nsets; s++) {
        free(mm->sets[s].ids);
        free(mm->sets[s].wids);
    }
    free(mm->sets);
    free(mm->tab);
}

void policy_judge_free(struct policy_judge *j)
{
    if (!j)
        return;
    for (size_t f = 0; f < j->nfilters; f++)
        free_memo(&j->filters[f]);
    for (size_t f = 0; f < j->nscores; f++)
        free_memo(&j->scores[f]);
    free(j->filters);
    free(j->scores);
    free(j->pool);
    core_buf_release(&j->key);
    core_buf_release(&j->va);
    core_buf_release(&j->vb);
    for (int i = 0; i < j->nlabels; i++)
        free(j->labels[i]);
    free(j->labels);
    for (int i = 0; i < j->nreasons; i++)
        free(j->reasons[i]);
    free(j->reasons);
    free(j->read);
    for (int i = 0; i < j->nshares; i++) {
        for (size_t k = 0; k < nmemos(j); k++)
            free(j->shares[i].parts[k].wids);
        free(j->shares[i].parts);
    }
    free(j->shares);
    free(j);
}
