/*
 * Loading a stack: find its files, parse each, merge them into one document (a key
 * defined in two files is an error naming both places), then decode and check it.
 */
#include "parser/schema_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/digest.h"

#define DEFAULT_MAX_FILE ((size_t)32 << 20)
#define MAX_FILES        1000

/* Sections whose entries may be spread over several files. */
static const char *const merged_sections[] = {
    "variables", "clouds", "budgets", "workloads", "defaults", "state", NULL,
};

static bool is_merged_section(const char *key)
{
    for (const char *const *s = merged_sections; *s; s++)
        if (strcmp(*s, key) == 0)
            return true;
    return false;
}

/* ---- the stack's digest: each file's name (without its directory) and bytes ---- */

static void digest_file(EVP_MD_CTX *md, const char *path, const char *text, size_t len)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char head[64];
    int n = snprintf(head, sizeof head, "%c%zu%c", '\0', len, '\0');
    EVP_DigestUpdate(md, base, strlen(base));
    EVP_DigestUpdate(md, head, (size_t)n);
    EVP_DigestUpdate(md, text, len);
}

/* ---- merging ---- */

struct pairvec {
    struct spec_pair *items;
    size_t n, cap;
};

static int pv_push(struct pairvec *v, const struct spec_pair *p)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        struct spec_pair *items = realloc(v->items, cap * sizeof(*items));
        if (!items)
            return -1;
        v->items = items;
        v->cap = cap;
    }
    v->items[v->n++] = *p;
    return 0;
}

struct merger {
    struct core_arena *arena;
    struct core_diags *diags;
    struct pairvec top;       /* merged top-level pairs, in first-seen order */
    struct pairvec *sections; /* entries of each merged section, parallel to top */
    size_t nsections;
};

static void defined_twice(struct core_diags *d, const struct spec_node *again,
                          const struct spec_node *first, const char *what)
{
    struct core_diag *g = core_diag_add(d, CORE_SEV_ERROR, "duplicate-definition", &again->loc,
                                        "%s is defined in two files", what);
    core_diag_note(g, &first->loc, "first defined here");
}

static int cmp_pairp(const void *a, const void *b)
{
    const struct spec_pair *pa = *(const struct spec_pair *const *)a;
    const struct spec_pair *pb = *(const struct spec_pair *const *)b;
    int c = strcmp(pa->key->u.str.s, pb->key->u.str.s);
    return c ? c : (pa < pb ? -1 : pa > pb);
}

/* Reports section entries defined in two different files. O(n log n). */
static int cross_file_duplicates(struct merger *m, const char *section, struct pairvec *v)
{
    if (v->n < 2)
        return 0;
    struct spec_pair **idx = malloc(v->n * sizeof(*idx));
    if (!idx)
        return -1;
    for (size_t i = 0; i < v->n; i++)
        idx[i] = &v->items[i];
    qsort(idx, v->n, sizeof(*idx), cmp_pairp);
    size_t first = 0; /* the earliest definition of the current key (sort is stable by address) */
    for (size_t i = 1; i < v->n; i++) {
        struct spec_pair *a = idx[first], *b = idx[i];
        if (strcmp(a->key->u.str.s, b->key->u.str.s) != 0) {
            first = i;
            continue;
        }
        if (a->key->loc.src == b->key->loc.src)
            continue;
        char what[512];
        snprintf(what, sizeof(what), "'%s.%s'", section, b->key->u.str.s);
        defined_twice(m->diags, b->key, a->key, what);
    }
    free(idx);
    return 0;
}

static int merge_root(struct merger *m, const struct spec_node *root)
{
    for (size_t i = 0; i < root->u.map.n; i++) {
        const struct spec_pair *p = &root->u.map.items[i];
        const char *key = p->key->u.str.s;
        size_t j = 0;
        while (j < m->top.n && strcmp(m->top.items[j].key->u.str.s, key) != 0)
            j++;
        if (j == m->top.n) {
            if (pv_push(&m->top, p) < 0)
                return -1;
            struct pairvec *s = realloc(m->sections, m->top.n * sizeof(*s));
            if (!s)
                return -1;
            m->sections = s;
            memset(&m->sections[j], 0, sizeof(*s));
            m->nsections = m->top.n;
            if (is_merged_section(key) && p->value->kind == SPEC_NODE_MAP)
                for (size_t k = 0; k < p->value->u.map.n; k++)
                    if (pv_push(&m->sections[j], &p->value->u.map.items[k]) < 0)
                        return -1;
            continue;
        }
        const struct spec_pair *first = &m->top.items[j];
        if (strcmp(key, "version") == 0 && first->value->kind == SPEC_NODE_SCALAR &&
            p->value->kind == SPEC_NODE_SCALAR &&
            strcmp(first->value->u.str.s, p->value->u.str.s) == 0)
            continue; /* every file may say which version it is written in */
        if (is_merged_section(key) && first->value->kind == SPEC_NODE_MAP &&
            p->value->kind == SPEC_NODE_MAP) {
            for (size_t k = 0; k < p->value->u.map.n; k++)
                if (pv_push(&m->sections[j], &p->value->u.map.items[k]) < 0)
                    return -1;
            continue;
        }
        char what[300];
        snprintf(what, sizeof(what), "'%s'", key);
        defined_twice(m->diags, p->key, first->key, what);
    }
    return 0;
}

/* Builds the merged document in the arena. */
static struct spec_node *merge_finish(struct merger *m, const struct spec_node *first_root)
{
    struct spec_node *root = core_arena_alloc(m->arena, sizeof(*root));
    struct spec_pair *pairs = core_arena_alloc(m->arena, m->top.n * sizeof(*pairs));
    if (!root || !pairs)
        return NULL;
    *root = *first_root;
    for (size_t i = 0; i < m->top.n; i++) {
        pairs[i] = m->top.items[i];
        struct pairvec *s = &m->sections[i];
        const char *key = pairs[i].key->u.str.s;
        if (!is_merged_section(key) || pairs[i].value->kind != SPEC_NODE_MAP ||
            s->n == pairs[i].value->u.map.n)
            continue; /* only in one file: keep the node as parsed */
        cross_file_duplicates(m, key, s);
        struct spec_node *sec = core_arena_alloc(m->arena, sizeof(*sec));
        struct spec_pair *items = core_arena_alloc(m->arena, s->n * sizeof(*items));
        if (!sec || !items)
            return NULL;
        *sec = *pairs[i].value;
        memcpy(items, s->items, s->n * sizeof(*items));
        sec->u.map.items = items;
        sec->u.map.n = s->n;
        pairs[i].value = sec;
    }
    root->u.map.items = pairs;
    root->u.map.n = m->top.n;
    return root;
}

static void merger_release(struct merger *m)
{
    for (size_t i = 0; i < m->nsections; i++)
        free(m->sections[i].items);
    free(m->sections);
    free(m->top.items);
}

/* ---- files ---- */

static bool yaml_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && ((n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
                              (n > 4 && strcmp(name + n - 4, ".yml") == 0));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The spec files of a directory, sorted; malloc'd array of malloc'd paths. */
static int list_dir(struct core_diags *d, const char *dir, char ***out, size_t *count)
{
    DIR *dp = opendir(dir);
    if (!dp) {
        core_diag_add(d, CORE_SEV_ERROR, "file-read", NULL, "cannot open directory '%s': %s", dir,
                      strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(dp))) {
        if (!yaml_name(e->d_name))
            continue;
        if (n == MAX_FILES) {
            core_diag_add(d, CORE_SEV_ERROR, "too-many-files", NULL,
                          "'%s' holds more than %d spec files", dir, MAX_FILES);
            rc = -1;
            break;
        }
        char **nn = realloc(names, (n + 1) * sizeof(*names));
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *path = malloc(len);
        if (!nn || !path) {
            free(nn ? NULL : path);
            if (nn)
                names = nn;
            free(path);
            rc = -1;
            break;
        }
        names = nn;
        size_t dl = strlen(dir);
        snprintf(path, len, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", e->d_name);
        names[n++] = path;
    }
    closedir(dp);
    if (rc == 0 && n == 0) {
        core_diag_add(d, CORE_SEV_ERROR, "no-spec-files", NULL,
                      "'%s' holds no *.yaml or *.yml files; a stack is a directory of specs or "
                      "one spec file",
                      dir);
        rc = -1;
    }
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return -1;
    }
    qsort(names, n, sizeof(*names), cmp_str);
    *out = names;
    *count = n;
    return 0;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

const char *spec_path_join(struct core_arena *a, const char *dir, const char *path)
{
    if (path[0] == '/' || strcmp(dir, ".") == 0)
        return path;
    size_t dl = strlen(dir);
    const char *s = core_arena_printf(a, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", path);
    return s ? s : path;
}

/* ---- decoding ---- */

static struct spec *spec_new(void)
{
    struct spec *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    core_arena_init(&s->arena, 0);
    s->default_spot = SPEC_SPOT_NEVER;
    s->default_verify = SPEC_VERIFY_QUICK;
    s->state_backend = SPEC_BACKEND_FILE;
    return s;
}

void spec_free(struct spec *spec)
{
    if (!spec)
        return;
    core_arena_release(&spec->arena);
    free(spec);
}

static int decode_root(struct spec *spec, struct core_diags *diags, const struct spec_options *opts,
                       const struct spec_node *root)
{
    struct dctx c = {.spec = spec, .diags = diags, .opts = opts};
    if (root->kind != SPEC_NODE_MAP) {
        sch_error(&c, root, "type",
                  "a spec file must be a mapping of keys such as 'version', "
                  "'stack' and 'workloads', not %s",
                  spec_node_kind_name(root));
        return -1;
    }
    spec->loc = root->loc;
    spec_decode_variables(&c, spec_node_get(root, "variables"));
    static const char *const skip[] = {"variables", NULL};
    sch_decode_map(&c, root, &sch_stack, spec, NULL, skip);
    if (!core_diags_full(diags))
        spec_check(&c);
    return diags->errors ? -1 : 0;
}

static int load_roots(const char *path, const char *const *files, size_t nfiles,
                      const struct spec_options *opts, struct core_diags *diags, struct spec **out)
{
    struct spec *spec = spec_new();
    if (!spec)
        return -1;
    char *dir = dir_of(files[0]);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        free(dir);
        dir = strdup(path);
    }
    spec->dir = dir ? core_arena_strdup(&spec->arena, dir) : ".";
    free(dir);
    size_t errors_before = diags->errors;
    size_t max = opts && opts->max_file_size ? opts->max_file_size : DEFAULT_MAX_FILE;
    struct merger m = {.arena = &spec->arena, .diags = diags};
    const struct spec_node *first = NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md && !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(md);
        md = NULL;
    }
    int failed = 0; /* a file that could not be parsed: checking the rest would mislead */
    for (size_t i = 0; i < nfiles && !core_diags_full(diags); i++) {
        struct core_source *src;
        struct spec_node *root;
        if (spec_read_source(diags, files[i], max, &src) < 0 ||
            spec_yaml_parse(&spec->arena, diags, src, NULL, &root) < 0) {
            failed = 1;
            continue;
        }
        if (md)
            digest_file(md, files[i], src->text, src->len);
        core_source_drop_text(src); /* the tree has what decoding needs */
        if (!root || spec_node_is_null(root)) {
            struct core_loc loc = {.src = src};
            if (nfiles > 1)
                core_diag_add(diags, CORE_SEV_WARNING, "empty-file", &loc,
                              "file holds no settings (it is empty or only comments)");
            continue;
        }
        if (root->kind != SPEC_NODE_MAP) {
            core_diag_add(diags, CORE_SEV_ERROR, "type", &root->loc,
                          "a spec file must be a mapping of keys such as 'version', 'stack' and "
                          "'workloads', not %s",
                          spec_node_kind_name(root));
            failed = 1;
            continue;
        }
        if (!first)
            first = root;
        if (merge_root(&m, root) < 0) {
            core_diag_add(diags, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory");
            break;
        }
    }
    int rc = -1;
    if (!failed && !first) {
        core_diag_add(diags, CORE_SEV_ERROR, "empty-stack", NULL,
                      "'%s' holds no settings: write at least 'version', 'stack', 'clouds' and "
                      "'workloads'",
                      path);
    } else if (!failed && !core_diags_full(diags)) {
        const struct spec_node *root = nfiles == 1 ? first : merge_finish(&m, first);
        if (root)
            rc = decode_root(spec, diags, opts, root);
        else
            core_diag_add(diags, CORE_SEV_ERROR, "out-of-memory", NULL, "out of memory");
    }
    merger_release(&m);
    if (md)
        core_sha256_final_hex(md, spec->sha256);
    EVP_MD_CTX_free(md);
    if (rc < 0 || diags->errors > errors_before) {
        spec_free(spec);
        return -1;
    }
    *out = spec;
    return 0;
}

int spec_load(const char *path, const struct spec_options *opts, struct core_diags *diags,
              struct spec **out)
{
    *out = NULL;
    struct stat st;
    if (stat(path, &st) < 0) {
        core_diag_add(diags, CORE_SEV_ERROR, "file-read", NULL, "cannot open '%s': %s", path,
                      strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        const char *files[] = {path};
        return load_roots(path, files, 1, opts, diags, out);
    }
    char **files;
    size_t n;
    if (list_dir(diags, path, &files, &n) < 0)
        return -1;
    int rc = load_roots(path, (const char *const *)files, n, opts, diags, out);
    for (size_t i = 0; i < n; i++)
        free(files[i]);
    free(files);
    return rc;
}

int spec_load_buffer(const char *name, const char *data, size_t len,
                     const struct spec_options *opts, struct core_diags *diags, struct spec **out)
{
    *out = NULL;
    struct spec *spec = spec_new();
    if (!spec)
        return -1;
    spec->dir = ".";
    size_t errors_before = diags->errors;
    struct core_source *src;
    struct spec_node *root = NULL;
    if (spec_source_from_buffer(diags, name, data, len, &src) == 0 &&
        spec_yaml_parse(&spec->arena, diags, src, NULL, &root) == 0) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        if (md && EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
            digest_file(md, name, data, len);
            core_sha256_final_hex(md, spec->sha256);
        }
        EVP_MD_CTX_free(md);
        if (!root || spec_node_is_null(root)) {
            core_diag_add(diags, CORE_SEV_ERROR, "empty-stack", NULL, "'%s' holds no spec", name);
        } else {
            decode_root(spec, diags, opts, root);
        }
    }
    if (diags->errors > errors_before) {
        spec_free(spec);
        return -1;
    }
    *out = spec;
    return 0;
}
