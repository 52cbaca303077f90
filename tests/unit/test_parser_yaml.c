/*
 * Unit tests for the YAML loader (parser/yaml.c): bytes checked before parsing (binary,
 * encodings, control characters, BOMs), the node tree with 1-based positions, quoting,
 * duplicate keys, `<<` merges, anchors and aliases, and the limits that keep hostile input
 * (alias bombs, deep nesting) from costing more than a clear error.
 */
#include "parser/node.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct fixture {
    struct core_arena arena;
    struct core_diags diags;
    struct core_source *src;
    struct spec_node *root;
    char *text; /* a generated input, freed in teardown */
};

static int yaml_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    core_arena_init(&f->arena, 0);
    core_diags_init(&f->diags, 0);
    *state = f;
    return 0;
}

static int yaml_teardown(void **state)
{
    struct fixture *f = *state;
    core_arena_release(&f->arena);
    core_diags_release(&f->diags);
    free(f->text);
    free(f);
    return 0;
}

/* Registers `len` bytes as a source and parses them; returns spec_yaml_parse's result. */
static int parse_n(struct fixture *f, const char *text, size_t len,
                   const struct spec_yaml_limits *limits)
{
    f->root = (struct spec_node *)&f->root; /* must be overwritten */
    f->src = NULL;
    if (spec_source_from_buffer(&f->diags, "test.yaml", text, len, &f->src) < 0) {
        f->root = NULL;
        return -2;
    }
    assert_non_null(f->src);
    return spec_yaml_parse(&f->arena, &f->diags, f->src, limits, &f->root);
}

static int parse(struct fixture *f, const char *text)
{
    return parse_n(f, text, strlen(text), NULL);
}

/* Parses text that must load without any diagnostic. */
static struct spec_node *parse_ok(struct fixture *f, const char *text)
{
    size_t before = f->diags.n;
    int rc = parse(f, text);
    if (rc != 0 || f->diags.n != before)
        fail_msg("parsing failed (rc %d, %zu new diagnostics, first: %s)", rc, f->diags.n - before,
                 f->diags.n > before ? f->diags.items[before].message : "-");
    assert_non_null(f->root);
    return f->root;
}

static const struct core_diag *find_diag(const struct fixture *f, const char *code)
{
    for (size_t i = 0; i < f->diags.n; i++)
        if (strcmp(f->diags.items[i].code, code) == 0)
            return &f->diags.items[i];
    return NULL;
}

static size_t count_diags(const struct fixture *f, const char *code)
{
    size_t n = 0;
    for (size_t i = 0; i < f->diags.n; i++)
        n += strcmp(f->diags.items[i].code, code) == 0;
    return n;
}

static const struct core_diag *expect_diag(const struct fixture *f, const char *code)
{
    const struct core_diag *g = find_diag(f, code);
    if (!g)
        fail_msg("no '%s' diagnostic (%zu others, first: %s: %s)", code, f->diags.n,
                 f->diags.n ? f->diags.items[0].code : "-",
                 f->diags.n ? f->diags.items[0].message : "-");
    return g;
}

static void assert_at(const struct core_loc *loc, uint32_t line, uint32_t col)
{
    if (loc->line != line || loc->col != col)
        fail_msg("expected %u:%u, got %u:%u", line, col, loc->line, loc->col);
}

static const struct spec_node *get(const struct spec_node *map, const char *key)
{
    const struct spec_node *v = spec_node_get(map, key);
    if (!v)
        fail_msg("no key '%s'", key);
    return v;
}

static void assert_scalar(const struct spec_node *n, const char *s)
{
    assert_non_null(n);
    assert_int_equal(n->kind, SPEC_NODE_SCALAR);
    assert_string_equal(n->u.str.s, s);
    assert_int_equal(n->u.str.len, strlen(s));
}

/* ---- tree and positions ---- */

static void test_yaml_builds_maps_lists_and_scalars(void **state)
{
    struct fixture *f = *state;
    const struct spec_node *root = parse_ok(f, "name: demo\n"
                                               "list:\n"
                                               "  - one\n"
                                               "  - two\n"
                                               "map:\n"
                                               "  k: v\n"
                                               "flow: [1, {a: b}]\n");
    assert_int_equal(root->kind, SPEC_NODE_MAP);
    assert_int_equal(root->u.map.n, 4);
    assert_string_equal(root->u.map.items[0].key->u.str.s, "name");
    assert_string_equal(root->u.map.items[3].key->u.str.s, "flow");
    assert_scalar(get(root, "name"), "demo");
    const struct spec_node *list = get(root, "list");
    assert_int_equal(list->kind, SPEC_NODE_SEQ);
    assert_int_equal(list->u.seq.n, 2);
    assert_scalar(list->u.seq.items[0], "one");
    assert_scalar(list->u.seq.items[1], "two");
    const struct spec_node *map = get(root, "map");
    assert_int_equal(map->kind, SPEC_NODE_MAP);
    assert_scalar(get(map, "k"), "v");
    const struct spec_node *flow = get(root, "flow");
    assert_int_equal(flow->kind, SPEC_NODE_SEQ);
    assert_scalar(flow->u.seq.items[0], "1");
    assert_int_equal(flow->u.seq.items[1]->kind, SPEC_NODE_MAP);
    assert_scalar(get(flow->u.seq.items[1], "a"), "b");
    assert_null(spec_node_get(root, "missing"));
    assert_null(spec_node_get(get(root, "name"), "x")); /* not a mapping */
    assert_null(spec_node_get(NULL, "x"));
}

static void test_yaml_positions_are_one_based_lines_and_columns(void **state)
{
    struct fixture *f = *state;
    const struct spec_node *root = parse_ok(f, "a: 1\n"
                                               "b:\n"
                                               "  c: xyz\n"
                                               "  d:\n"
                                               "    - item\n"
                                               "e: [p, q]\n");
    assert_at(&root->loc, 1, 1);
    assert_ptr_equal(root->loc.src, f->src);
    assert_at(&root->u.map.items[0].key->loc, 1, 1);
    assert_at(&get(root, "a")->loc, 1, 4);
    assert_at(&root->u.map.items[1].key->loc, 2, 1);
    const struct spec_node *b = get(root, "b");
    assert_at(&b->loc, 3, 3);
    assert_at(&b->u.map.items[0].key->loc, 3, 3);
    assert_at(&get(b, "c")->loc, 3, 6);
    const struct spec_node *d = get(b, "d");
    assert_at(&d->loc, 5, 5);
    assert_at(&d->u.seq.items[0]->loc, 5, 7);
    const struct spec_node *e = get(root, "e");
    assert_at(&e->loc, 6, 4);
    assert_at(&e->u.seq.items[0]->loc, 6, 5);
    assert_at(&e->u.seq.items[1]->loc, 6, 8);
}

static void test_yaml_columns_count_characters_not_bytes(void **state)
{
    struct fixture *f = *state;
    const struct spec_node *root = parse_ok(f, "caf\xC3\xA9: \xE2\x82\xAC"
                                               "5 x\n");
    const struct spec_node *v = get(root, "caf\xC3\xA9");
    assert_at(&v->loc, 1, 7);
    assert_int_equal(v->loc.span, 4);
}

static void test_yaml_scalar_span_covers_the_value_on_its_line(void **state)
{
    struct fixture *f = *state;
    const struct spec_node *root = parse_ok(f, "name: hello\n"
                                               "q: \"quoted\"\n"
                                               "multi: first\n"
                                               "  second\n");
    assert_int_equal(get(root, "name")->loc.span, 5);
    assert_int_equal(root->u.map.items[0].key->loc.span, 4);
    assert_int_equal(get(root, "q")->loc.span, 8); /* the quotes included */
    /* A scalar over two lines has no span on one line: a caret only. */
    const struct spec_node *m = get(root, "multi");
    assert_scalar(m, "first second");
    assert_true(m->loc.span <= 1);
}

static void test_yaml_quoted_flag_marks_strings_by_construction(void **state)
{
    struct fixture *f = *state;
    const struct spec_node *root = parse_ok(f, "plain: 5\n"
                                               "single: '5'\n"
                                               "double: \"5\"\n"
                                               "literal: |\n"
                                               "  5\n"
                                               "folded: >\n"
                                               "  5\n"
                                               "tagged: !!str 5\n"
                                               "int: !!int 5\n");
    assert_false(get(root, "plain")->quoted);
    assert_true(get(root, "single")->quoted);
    assert_true(get(root, "double")->quoted);
    assert_true(get(root, "literal")->quoted);
    assert_scalar(get(root, "literal"), "5\n");
    assert_true(get(root, "folded")->quoted);
    assert_true(get(root, "tagged")->quoted);
    assert_scalar(get(root, "tagged"), "5");
    assert_false(get(root, "int")->quoted);
}

static void test_yaml_null_scalars_and_kind_names(void **state)
{
    struct fixture *f = *state;
    const struct spec_node *root = parse_ok(f, "a:\n"
                                               "b: ~\n"
                                               "c: null\n"
                                               "d: NULL\n"
                                               "e: Null\n"
                                               "f: ''\n"
                                               "g: nil\n"
                                               "h: [x]\n"
                                               "i: {x: y}\n");
    const char *nulls[] = {"a", "b", "c", "d", "e"};
    for (size_t i = 0; i < 5; i++) {
        assert_true(spec_node_is_null(get(root, nulls[i])));
        assert_string_equal(spec_node_kind_name(get(root, nulls[i])), "nothing");
    }
    assert_false(spec_node_is_null(get(root, "f"))); /* quoted: the empty string */
    assert_false(spec_node_is_null(get(root, "g")));
    assert_true(spec_node_is_null(NULL));
    assert_string_equal(spec_node_kind_name(get(root, "g")), "a scalar");
    assert_string_equal(spec_node_kind_name(get(root, "h")), "a list");
    assert_string_equal(spec_node_kind_name(get(root, "i")), "a mapping");
    assert_string_equal(spec_node_kind_name(NULL), "nothing");
}

static void test_yaml_empty_document_gives_a_null_root(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(parse(f, ""), 0);
    assert_null(f->root);
    assert_int_equal(parse(f, "# only a comment\n\n"), 0);
    assert_null(f->root);
    assert_int_equal(f->diags.n, 0);
}

static void test_yaml_scalar_root_is_allowed(void **state)
{
    struct fixture *f = *state;
    const struct spec_node *root = parse_ok(f, "just text\n");
    assert_scalar(root, "just text");
}

/* ---- duplicates ---- */

static void test_yaml_reports_a_duplicate_key_once_with_a_note(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(parse(f, "a: 1\nb: 2\na: 3\n"), 0);
    assert_int_equal(f->diags.n, 1);
    assert_int_equal(f->diags.errors, 1);
    const struct core_diag *g = expect_diag(f, "duplicate-key");
    assert_int_equal(g->severity, CORE_SEV_ERROR);
    assert_at(&g->loc, 3, 1);
    assert_non_null(strstr(g->message, "'a'"));
    assert_int_equal(g->nnotes, 1);
    assert_at(&g->notes[0].loc, 1, 1);
    /* The first value counts; the second is flagged. */
    assert_non_null(f->root);
    assert_scalar(spec_node_get(f->root, "a"), "1");
    assert_int_equal(f->root->u.map.n, 3);
    assert_false(f->root->u.map.items[0].duplicate);
    assert_true(f->root->u.map.items[2].duplicate);
}

static void test_yaml_reports_a_duplicate_key_in_a_big_mapping(void **state)
{
    struct fixture *f = *state;
    char text[1024] = "";
    for (int i = 0; i < 20; i++) {
        char line[32];
        snprintf(line, sizeof(line), "key%02d: %d\n", i, i);
        strcat(text, line);
    }
    strcat(text, "key07: again\n"); /* line 21 */
    assert_int_equal(parse(f, text), 0);
    assert_int_equal(f->diags.n, 1);
    const struct core_diag *g = expect_diag(f, "duplicate-key");
    assert_at(&g->loc, 21, 1);
    assert_non_null(strstr(g->message, "'key07'"));
    assert_int_equal(g->nnotes, 1);
    assert_at(&g->notes[0].loc, 8, 1);
    assert_scalar(spec_node_get(f->root, "key07"), "7");
}

static void test_yaml_big_mapping_without_duplicates_is_clean(void **state)
{
    struct fixture *f = *state;
    char text[4096] = "";
    for (int i = 0; i < 100; i++) {
        char line[32];
        snprintf(line, sizeof(line), "k%d: v\n", i);
        strcat(text, line);
    }
    const struct spec_node *root = parse_ok(f, text);
    assert_int_equal(root->u.map.n, 100);
}

static void test_yaml_duplicates_in_nested_mappings_are_reported_where_they_are(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(parse(f, "outer:\n  x: 1\n  x: 2\nother:\n  x: 3\n"), 0);
    assert_int_equal(count_diags(f, "duplicate-key"), 1);
    assert_at(&expect_diag(f, "duplicate-key")->loc, 3, 3);
}

/* ---- merges ---- */

static void test_yaml_merge_key_copies_missing_keys_and_explicit_keys_win(void **state)
{
    struct fixture *f = *state;
    const struct spec_node *root = parse_ok(f, "base: &base\n"
                                               "  a: 1\n"
                                               "  b: 2\n"
                                               "derived:\n"
                                               "  <<: *base\n"
                                               "  b: 3\n"
                                               "  c: 4\n");
    const struct spec_node *d = get(root, "derived");
    assert_int_equal(d->u.map.n, 3);
    assert_scalar(get(d, "a"), "1");
    assert_scalar(get(d, "b"), "3");
    assert_scalar(get(d, "c"), "4");
    assert_null(spec_node_get(d, "<<"));
    for (size_t i = 0; i < d->u.map.n; i++) {
        const struct spec_pair *p = &d->u.map.items[i];
        bool from_merge = strcmp(p->key->u.str.s, "a") == 0;
        assert_int_equal(p->merged, from_merge);
    }
    /* The base mapping itself is untouched. */
    assert_int_equal(get(root, "base")->u.map.n, 2);
}

static void test_yaml_merge_key_takes_a_list_of_mappings_earlier_wins(void **state)
{
    struct fixture *f = *state;
    const struct spec_node *root = parse_ok(f, "x: &x {a: 1}\n"
                                               "y: &y {a: 2, b: 2}\n"
                                               "z:\n"
                                               "  <<: [*x, *y]\n"
                                               "  c: 3\n");
    const struct spec_node *z = get(root, "z");
    assert_int_equal(z->u.map.n, 3);
    assert_scalar(get(z, "a"), "1");
    assert_scalar(get(z, "b"), "2");
    assert_scalar(get(z, "c"), "3");
}

static void test_yaml_merge_of_a_non_mapping_is_an_error(void **state)
{
    struct fixture *f = *state;
    parse(f, "a:\n  <<: 5\n  b: 1\n");
    const struct core_diag *g = expect_diag(f, "yaml-merge");
    assert_int_equal(g->severity, CORE_SEV_ERROR);
    assert_at(&g->loc, 2, 3); /* on the merge key */
}

static void test_yaml_quoted_merge_key_is_an_ordinary_key(void **state)
{
    struct fixture *f = *state;
    const struct spec_node *root = parse_ok(f, "a:\n  \"<<\": {k: v}\n");
    const struct spec_node *a = get(root, "a");
    assert_int_equal(a->u.map.n, 1);
    assert_int_equal(get(a, "<<")->kind, SPEC_NODE_MAP);
}

/* ---- anchors and aliases ---- */

static void test_yaml_aliases_share_the_anchored_node(void **state)
{
    struct fixture *f = *state;
    const struct spec_node *root = parse_ok(f, "a: &shared {k: v}\n"
                                               "b: *shared\n"
                                               "c: &s hello\n"
                                               "d: *s\n");
    assert_ptr_equal(get(root, "a"), get(root, "b"));
    assert_ptr_equal(get(root, "c"), get(root, "d"));
    assert_scalar(get(root, "d"), "hello");
    /* Positions stay those of the anchored node. */
    assert_at(&get(root, "b")->loc, 1, 4);
}

static void test_yaml_alias_expansion_is_counted(void **state)
{
    struct fixture *f = *state;
    const struct spec_node *root = parse_ok(f, "a: &a [x, y]\nb: [*a, *a]\n");
    assert_int_equal(get(root, "a")->expanded, 3);
    assert_int_equal(get(root, "b")->expanded, 7);
}

static void test_yaml_anchor_redefinition_uses_the_latest(void **state)
{
    struct fixture *f = *state;
    const struct spec_node *root = parse_ok(f, "a: &x one\nb: &x two\nc: *x\n");
    assert_scalar(get(root, "c"), "two");
}

static void test_yaml_undefined_alias_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(parse(f, "a: 1\nb: *nope\n"), -1);
    assert_null(f->root);
    const struct core_diag *g = expect_diag(f, "yaml-alias");
    assert_at(&g->loc, 2, 4);
    assert_non_null(strstr(g->message, "nope"));
}

static void test_yaml_alias_to_an_unfinished_node_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(parse(f, "a: &loop\n  b: *loop\n"), -1);
    expect_diag(f, "yaml-alias");
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_yaml_alias_bomb_is_refused_quickly(void **state)
{
    struct fixture *f = *state;
    const char *bomb =
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
        "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
        "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
        "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
        "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
    double t0 = now_seconds();
    assert_int_equal(parse(f, bomb), -1);
    double elapsed = now_seconds() - t0;
    assert_null(f->root);
    const struct core_diag *g = expect_diag(f, "yaml-alias-bomb");
    assert_int_equal(g->loc.line >= 5 && g->loc.line <= 9, 1);
    if (elapsed > 2.0)
        fail_msg("the alias bomb took %.2f s to refuse", elapsed);
}

static void test_yaml_alias_limit_is_configurable(void **state)
{
    struct fixture *f = *state;
    const struct spec_yaml_limits tight = {.max_depth = 64, .max_alias_nodes = 10};
    const char *text = "a: &a [1, 2, 3]\nb: [*a, *a]\nc: [*a]\n"; /* 4 + 4 + 4 > 10 */
    assert_int_equal(parse_n(f, text, strlen(text), &tight), -1);
    assert_at(&expect_diag(f, "yaml-alias-bomb")->loc, 3, 5);
    const struct spec_yaml_limits loose = {.max_depth = 64, .max_alias_nodes = 12};
    core_diags_release(&f->diags);
    core_diags_init(&f->diags, 0);
    assert_int_equal(parse_n(f, text, strlen(text), &loose), 0);
    assert_int_equal(f->diags.n, 0);
}

static void test_yaml_defaults_are_depth_64_and_a_million_alias_nodes(void **state)
{
    (void)state;
    assert_int_equal(spec_yaml_default_limits.max_depth, 64);
    assert_int_equal(spec_yaml_default_limits.max_alias_nodes, 1000000);
}

/* ---- limits on nesting ---- */

static char *nested(size_t depth)
{
    char *s = malloc(2 * depth + 2);
    assert_non_null(s);
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    s[2 * depth] = '\n';
    s[2 * depth + 1] = '\0';
    return s;
}

static void test_yaml_refuses_ten_thousand_nested_lists(void **state)
{
    struct fixture *f = *state;
    f->text = nested(10000);
    double t0 = now_seconds();
    assert_int_equal(parse(f, f->text), -1);
    assert_true(now_seconds() - t0 < 2.0);
    assert_null(f->root);
    const struct core_diag *g = expect_diag(f, "yaml-depth");
    assert_at(&g->loc, 1, 65);
    assert_int_equal(f->diags.errors, 1);
}

static void test_yaml_refuses_unclosed_deep_nesting(void **state)
{
    struct fixture *f = *state;
    f->text = malloc(10002);
    assert_non_null(f->text);
    memset(f->text, '{', 10000);
    strcpy(f->text + 10000, "\n");
    assert_int_equal(parse(f, f->text), -1);
    expect_diag(f, "yaml-depth");
}

static void test_yaml_accepts_nesting_up_to_the_limit(void **state)
{
    struct fixture *f = *state;
    f->text = nested(64);
    assert_int_equal(parse(f, f->text), 0);
    assert_non_null(f->root);
    free(f->text);
    f->text = nested(65);
    assert_int_equal(parse(f, f->text), -1);
    expect_diag(f, "yaml-depth");
}

static void test_yaml_depth_limit_is_configurable(void **state)
{
    struct fixture *f = *state;
    const struct spec_yaml_limits two = {.max_depth = 2, .max_alias_nodes = 1000};
    const char *ok = "a: {b: 1}\n", *deep = "a: {b: {c: 1}}\n";
    assert_int_equal(parse_n(f, ok, strlen(ok), &two), 0);
    assert_int_equal(parse_n(f, deep, strlen(deep), &two), -1);
    assert_at(&expect_diag(f, "yaml-depth")->loc, 1, 8);
}

static void test_yaml_refuses_deep_block_nesting(void **state)
{
    struct fixture *f = *state;
    size_t depth = 100, cap = depth * (2 * depth + 4) + 16, k = 0;
    f->text = malloc(cap);
    assert_non_null(f->text);
    for (size_t i = 0; i < depth; i++) {
        memset(f->text + k, ' ', 2 * i);
        k += 2 * i;
        memcpy(f->text + k, "a:\n", 3);
        k += 3;
    }
    f->text[k] = '\0';
    assert_int_equal(parse(f, f->text), -1);
    assert_at(&expect_diag(f, "yaml-depth")->loc, 65, 129);
}

static void test_yaml_refuses_more_than_4096_anchors(void **state)
{
    struct fixture *f = *state;
    size_t cap = 5000 * 24, k = 0;
    f->text = malloc(cap);
    assert_non_null(f->text);
    for (int i = 0; i < 4097; i++)
        k += (size_t)snprintf(f->text + k, cap - k, "k%d: &a%d v\n", i, i);
    assert_int_equal(parse(f, f->text), -1);
    assert_null(f->root);
    assert_at(&expect_diag(f, "yaml-anchors")->loc, 4097, 8);
    /* 4096 are fine. */
    char *cut = strstr(f->text, "k4096:");
    assert_non_null(cut);
    *cut = '\0';
    assert_int_equal(parse(f, f->text), 0);
    assert_int_equal(f->root->u.map.n, 4096);
}

/* ---- refused YAML features ---- */

static void test_yaml_refuses_multiple_documents(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(parse(f, "a: 1\n---\nb: 2\n"), -1);
    assert_null(f->root);
    assert_at(&expect_diag(f, "yaml-multi-document")->loc, 2, 1);
}

static void test_yaml_allows_one_explicit_document(void **state)
{
    struct fixture *f = *state;
    const struct spec_node *root = parse_ok(f, "---\na: 1\n...\n");
    assert_scalar(get(root, "a"), "1");
}

static void test_yaml_refuses_custom_tags(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(parse(f, "a: 1\nb: !custom x\n"), -1);
    const struct core_diag *g = expect_diag(f, "yaml-tag");
    assert_at(&g->loc, 2, 4);
    assert_non_null(strstr(g->message, "!custom"));
    assert_int_equal(parse(f, "x: !!python/object:os.system [ls]\n"), -1);
    assert_int_equal(count_diags(f, "yaml-tag"), 2);
    assert_int_equal(parse(f, "m: !!set {a: null}\n"), -1);
    assert_int_equal(count_diags(f, "yaml-tag"), 3);
}

static void test_yaml_allows_standard_tags(void **state)
{
    struct fixture *f = *state;
    const struct spec_node *root = parse_ok(f, "a: !!str 1\nb: !!int 2\nc: !!map {k: v}\n"
                                               "d: !!seq [1]\ne: !!float 1.5\nf: !!bool true\n"
                                               "g: !!null ~\n");
    assert_int_equal(root->u.map.n, 7);
}

static void test_yaml_tab_indentation_has_its_own_code(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(parse(f, "a:\n\tb: 1\n"), -1);
    const struct core_diag *g = expect_diag(f, "yaml-tab");
    assert_int_equal(g->loc.line, 2);
    assert_null(find_diag(f, "yaml-syntax"));
}

static void test_yaml_syntax_errors_have_a_position(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(parse(f, "a: [1, 2\nb: 3\n"), -1);
    const struct core_diag *g = expect_diag(f, "yaml-syntax");
    assert_ptr_equal(g->loc.src, f->src);
    assert_true(g->loc.line >= 1);
    assert_non_null(strstr(g->message, "invalid YAML"));
}

static void test_yaml_complex_keys_are_refused(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(parse(f, "? [a, b]\n: value\n"), -1);
    expect_diag(f, "yaml-complex-key");
}

/* ---- bytes before YAML ---- */

static void test_yaml_nul_byte_means_binary(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(parse_n(f, "a: 1\0b", 6, NULL), -2);
    const struct core_diag *g = expect_diag(f, "file-binary");
    assert_int_equal(g->loc.line, 0);
    assert_non_null(g->loc.src);
    assert_string_equal(g->loc.src->path, "test.yaml");
}

static void test_yaml_invalid_utf8_is_located(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(parse(f, "a: 1\nb: x\xff\n"), -2);
    const struct core_diag *g = expect_diag(f, "file-encoding");
    assert_at(&g->loc, 2, 5);
    assert_non_null(strstr(g->message, "0xFF"));
}

static void test_yaml_invalid_utf8_column_counts_characters(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(parse(f, "x: 1\n\xC3\xA9\xE2\x82\xAC: \xC3\x28\n"), -2);
    assert_at(&expect_diag(f, "file-encoding")->loc, 2, 5);
}

static void test_yaml_refuses_overlong_surrogate_and_truncated_utf8(void **state)
{
    struct fixture *f = *state;
    const char *bad[] = {
        "a: \xC0\x80\n",         /* overlong NUL */
        "a: \xE0\x80\xAF\n",     /* overlong '/' */
        "a: \xED\xA0\x80\n",     /* UTF-16 surrogate */
        "a: \xF4\x90\x80\x80\n", /* past U+10FFFF */
        "a: \xE2\x82\n",         /* cut short */
        "a: \x80\n",             /* stray continuation */
        "a: \xF8\x88\x80\x80\x80\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse(f, bad[i]) != -2)
            fail_msg("input %zu was accepted", i);
    }
    assert_int_equal(count_diags(f, "file-encoding"), sizeof(bad) / sizeof(bad[0]));
}

static void test_yaml_accepts_valid_multibyte_utf8(void **state)
{
    struct fixture *f = *state;
    const struct spec_node *root = parse_ok(
        f, "team: \xE6\x97\xA5\xE6\x9C\xAC\nemoji: \xF0\x9F\x9A\x80\nmax: \xF4\x8F\xBF\xBF\n");
    assert_scalar(get(root, "emoji"), "\xF0\x9F\x9A\x80");
}

static void test_yaml_refuses_utf16_and_utf32_byte_order_marks(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(parse_n(f,
                             "\xFF\xFE"
                             "a\0:\0",
                             6, NULL),
                     -2);
    assert_int_equal(parse_n(f, "\xFE\xFF\0a\0:", 6, NULL), -2);
    assert_int_equal(parse_n(f, "\0\0\xFE\xFF\0\0\0a", 8, NULL), -2);
    assert_int_equal(count_diags(f, "file-encoding"), 3);
    assert_null(find_diag(f, "file-binary"));
    assert_non_null(strstr(expect_diag(f, "file-encoding")->message, "UTF-16"));
}

static void test_yaml_strips_a_utf8_bom_and_keeps_columns_right(void **state)
{
    struct fixture *f = *state;
    const struct spec_node *root = parse_ok(f, "\xEF\xBB\xBFname: demo\nx: y\n");
    assert_int_equal(f->src->len, strlen("name: demo\nx: y\n"));
    assert_memory_equal(f->src->text, "name: demo", 10);
    assert_at(&root->u.map.items[0].key->loc, 1, 1);
    assert_at(&get(root, "name")->loc, 1, 7);
    assert_scalar(root->u.map.items[0].key, "name");
}

static void test_yaml_bom_columns_stay_right_in_errors(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(parse(f, "\xEF\xBB\xBF"
                              "a: \x01\n"),
                     -2);
    assert_at(&expect_diag(f, "file-encoding")->loc, 1, 4);
}

static void test_yaml_refuses_control_characters(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(parse(f, "a: 1\nb: x\x01y\n"), -2);
    const struct core_diag *g = expect_diag(f, "file-encoding");
    assert_at(&g->loc, 2, 5);
    assert_non_null(strstr(g->message, "0x01"));
    assert_int_equal(parse(f, "a: \x7f\n"), -2);
    assert_at(&f->diags.items[f->diags.n - 1].loc, 1, 4);
    assert_int_equal(parse(f, "\x1b[31ma: 1\n"), -2);
    assert_int_equal(count_diags(f, "file-encoding"), 3);
}

static void test_yaml_refuses_cr_only_line_breaks_with_their_position(void **state)
{
    /* libyaml reads a lone CR as a line break (old Mac files) while every other tool counts
     * LF; rather than disagree about line numbers, such files are refused where the first
     * lone CR stands, with a message that says how to fix them. */
    struct fixture *f = *state;
    assert_int_equal(parse(f, "a: 1\rb: 2\r"), -2);
    assert_at(&expect_diag(f, "file-encoding")->loc, 1, 5);
    assert_int_equal(parse(f, "a: 1\r\nb: 2\r\n"), 0);
}

static void test_yaml_allows_tabs_and_crlf_outside_indentation(void **state)
{
    struct fixture *f = *state;
    const struct spec_node *root = parse_ok(f, "a:\t1\r\nb: \"x\ty\"\r\n");
    assert_scalar(get(root, "a"), "1");
    assert_scalar(get(root, "b"), "x\ty");
    assert_at(&get(root, "b")->loc, 2, 4);
}

/* ---- ${...} references ---- */

static void test_yaml_reference_in_a_flow_mapping_is_one_scalar(void **state)
{
    struct fixture *f = *state;
    const struct spec_node *root = parse_ok(f, "{ a: ${var.x}, b: 2 }\n");
    const struct spec_node *a = get(root, "a");
    assert_scalar(a, "${var.x}");
    assert_false(a->quoted);
    assert_at(&a->loc, 1, 6);
    assert_int_equal(a->loc.span, 8);
    /* Columns after the reference are unchanged by the masking. */
    assert_at(&root->u.map.items[1].key->loc, 1, 16);
    assert_scalar(get(root, "b"), "2");
}

static void test_yaml_references_survive_in_every_scalar_style(void **state)
{
    struct fixture *f = *state;
    const struct spec_node *root = parse_ok(f, "plain: ${var.a}\n"
                                               "mixed: pre-${var.b}-post\n"
                                               "quoted: \"${env.HOME}\"\n"
                                               "escape: $${var.c}\n"
                                               "list: [${var.d}, x]\n"
                                               "block: |\n"
                                               "  run ${var.e}\n"
                                               "broken: ${var.f\n"
                                               "empty: ${}\n");
    assert_scalar(get(root, "plain"), "${var.a}");
    assert_scalar(get(root, "mixed"), "pre-${var.b}-post");
    assert_scalar(get(root, "quoted"), "${env.HOME}");
    assert_scalar(get(root, "escape"), "$${var.c}");
    assert_scalar(get(root, "list")->u.seq.items[0], "${var.d}");
    assert_scalar(get(root, "block"), "run ${var.e}\n");
    assert_scalar(get(root, "broken"), "${var.f");
}

static void test_yaml_refuses_private_use_mask_characters(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(parse(f, "a: \xEE\x80\x80\n"), -1);
    assert_null(f->root);
    expect_diag(f, "file-encoding");
    assert_int_equal(parse(f, "a: x\xEE\x80\x81y\n"), -1);
    assert_int_equal(count_diags(f, "file-encoding"), 2);
    /* Other private-use characters nearby are fine. */
    const struct spec_node *root = parse_ok(f, "a: \xEE\x80\x82\n");
    assert_scalar(get(root, "a"), "\xEE\x80\x82");
}

/* ---- reading files ---- */

static void test_yaml_read_source_reports_a_missing_file(void **state)
{
    struct fixture *f = *state;
    struct core_source *src = (struct core_source *)&f->src;
    assert_int_equal(spec_read_source(&f->diags, "/nonexistent/gpuform/x.yaml", 1 << 20, &src), -1);
    assert_null(src);
    const struct core_diag *g = expect_diag(f, "file-read");
    assert_non_null(strstr(g->message, "/nonexistent/gpuform/x.yaml"));
}

static void test_yaml_read_source_refuses_a_directory(void **state)
{
    struct fixture *f = *state;
    struct core_source *src = NULL;
    assert_int_equal(spec_read_source(&f->diags, "/tmp", 1 << 20, &src), -1);
    assert_null(src);
    expect_diag(f, "file-read");
}

static void test_yaml_read_source_reads_a_file_and_enforces_the_size_limit(void **state)
{
    struct fixture *f = *state;
    char path[] = "/tmp/gpuform-yaml-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *fp = fdopen(fd, "w");
    assert_non_null(fp);
    /* 200 KiB: several read steps. */
    for (int i = 0; i < 200 * 1024 / 16; i++)
        fputs("k: 0123456789ab\n", fp);
    fclose(fp);
    struct core_source *src = NULL;
    int rc_ok = spec_read_source(&f->diags, path, 1 << 20, &src);
    struct core_source *big = NULL;
    int rc_big = spec_read_source(&f->diags, path, 100 * 1024, &big);
    unlink(path);
    assert_int_equal(rc_ok, 0);
    assert_non_null(src);
    assert_int_equal(src->len, 200 * 1024);
    assert_string_equal(src->path, path);
    assert_int_equal(src->text[src->len], '\0');
    assert_int_equal(rc_big, -1);
    assert_null(big);
    expect_diag(f, "file-too-large");
}

/* ---- fault injection ---- */

static const char *const rich_document = "base: &base\n"
                                         "  kind: training\n"
                                         "  gpu: H100:8\n"
                                         "x: &x {a: 1}\n"
                                         "workloads:\n"
                                         "  one:\n"
                                         "    <<: [*base, *x]\n"
                                         "    hours: ${var.hours}\n"
                                         "    labels: {team: \"r&d\", tier: '1'}\n"
                                         "  two: {<<: *base, nodes: 2, run: {command: [a, b, c]}}\n"
                                         "list: [*x, *x, [1, [2, [3]]]]\n"
                                         "big: |\n"
                                         "  line one\n"
                                         "  line two\n";

/*
 * In the spirit of SQLite's malloc tests: for every arena budget from a few bytes up to
 * what the document needs, parsing either succeeds completely or fails cleanly with an
 * out-of-memory error and no tree; never a crash, a leak or a half-built root.
 */
static void test_yaml_parse_fails_cleanly_at_every_arena_limit(void **state)
{
    (void)state;
    size_t needed = 0;
    {
        struct core_arena a;
        struct core_diags d;
        core_arena_init(&a, 0);
        core_diags_init(&d, 0);
        struct core_source *src;
        struct spec_node *root;
        assert_int_equal(
            spec_source_from_buffer(&d, "rich.yaml", rich_document, strlen(rich_document), &src),
            0);
        assert_int_equal(spec_yaml_parse(&a, &d, src, NULL, &root), 0);
        assert_int_equal(d.n, 0);
        needed = a.used;
        core_arena_release(&a);
        core_diags_release(&d);
    }
    assert_true(needed > 0);
    size_t failures = 0, successes = 0;
    for (size_t limit = 16; limit <= needed + 64; limit += 16) {
        struct core_arena a;
        struct core_diags d;
        core_arena_init(&a, limit);
        core_diags_init(&d, 0);
        struct core_source *src;
        struct spec_node *root = (struct spec_node *)&root;
        assert_int_equal(
            spec_source_from_buffer(&d, "rich.yaml", rich_document, strlen(rich_document), &src),
            0);
        int rc = spec_yaml_parse(&a, &d, src, NULL, &root);
        bool ok = rc == 0 && root != NULL && d.n == 0;
        bool clean_failure = rc == -1 && root == NULL && d.errors == 1 && d.n == 1 &&
                             strcmp(d.items[0].code, "out-of-memory") == 0;
        if (ok && spec_node_get(spec_node_get(root, "workloads"), "two") == NULL)
            ok = false;
        if (!ok && !clean_failure) {
            size_t n = d.n;
            core_arena_release(&a);
            core_diags_release(&d);
            fail_msg("limit %zu: rc %d, %zu diagnostics: neither success nor a clean failure",
                     limit, rc, n);
        }
        failures += clean_failure;
        successes += ok;
        core_arena_release(&a);
        core_diags_release(&d);
    }
    assert_true(failures > 10);
    assert_true(successes >= 1);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, yaml_setup, yaml_teardown)
    const struct CMUnitTest tests[] = {
        T(test_yaml_builds_maps_lists_and_scalars),
        T(test_yaml_positions_are_one_based_lines_and_columns),
        T(test_yaml_columns_count_characters_not_bytes),
        T(test_yaml_scalar_span_covers_the_value_on_its_line),
        T(test_yaml_quoted_flag_marks_strings_by_construction),
        T(test_yaml_null_scalars_and_kind_names),
        T(test_yaml_empty_document_gives_a_null_root),
        T(test_yaml_scalar_root_is_allowed),
        T(test_yaml_reports_a_duplicate_key_once_with_a_note),
        T(test_yaml_reports_a_duplicate_key_in_a_big_mapping),
        T(test_yaml_big_mapping_without_duplicates_is_clean),
        T(test_yaml_duplicates_in_nested_mappings_are_reported_where_they_are),
        T(test_yaml_merge_key_copies_missing_keys_and_explicit_keys_win),
        T(test_yaml_merge_key_takes_a_list_of_mappings_earlier_wins),
        T(test_yaml_merge_of_a_non_mapping_is_an_error),
        T(test_yaml_quoted_merge_key_is_an_ordinary_key),
        T(test_yaml_aliases_share_the_anchored_node),
        T(test_yaml_alias_expansion_is_counted),
        T(test_yaml_anchor_redefinition_uses_the_latest),
        T(test_yaml_undefined_alias_is_an_error),
        T(test_yaml_alias_to_an_unfinished_node_is_an_error),
        T(test_yaml_alias_bomb_is_refused_quickly),
        T(test_yaml_alias_limit_is_configurable),
        cmocka_unit_test(test_yaml_defaults_are_depth_64_and_a_million_alias_nodes),
        T(test_yaml_refuses_ten_thousand_nested_lists),
        T(test_yaml_refuses_unclosed_deep_nesting),
        T(test_yaml_accepts_nesting_up_to_the_limit),
        T(test_yaml_depth_limit_is_configurable),
        T(test_yaml_refuses_deep_block_nesting),
        T(test_yaml_refuses_more_than_4096_anchors),
        T(test_yaml_refuses_multiple_documents),
        T(test_yaml_allows_one_explicit_document),
        T(test_yaml_refuses_custom_tags),
        T(test_yaml_allows_standard_tags),
        T(test_yaml_tab_indentation_has_its_own_code),
        T(test_yaml_syntax_errors_have_a_position),
        T(test_yaml_complex_keys_are_refused),
        T(test_yaml_nul_byte_means_binary),
        T(test_yaml_invalid_utf8_is_located),
        T(test_yaml_invalid_utf8_column_counts_characters),
        T(test_yaml_refuses_overlong_surrogate_and_truncated_utf8),
        T(test_yaml_accepts_valid_multibyte_utf8),
        T(test_yaml_refuses_utf16_and_utf32_byte_order_marks),
        T(test_yaml_strips_a_utf8_bom_and_keeps_columns_right),
        T(test_yaml_bom_columns_stay_right_in_errors),
        T(test_yaml_refuses_control_characters),
        T(test_yaml_refuses_cr_only_line_breaks_with_their_position),
        T(test_yaml_allows_tabs_and_crlf_outside_indentation),
        T(test_yaml_reference_in_a_flow_mapping_is_one_scalar),
        T(test_yaml_references_survive_in_every_scalar_style),
        T(test_yaml_refuses_private_use_mask_characters),
        T(test_yaml_read_source_reports_a_missing_file),
        T(test_yaml_read_source_refuses_a_directory),
        T(test_yaml_read_source_reads_a_file_and_enforces_the_size_limit),
        cmocka_unit_test(test_yaml_parse_fails_cleanly_at_every_arena_limit),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
