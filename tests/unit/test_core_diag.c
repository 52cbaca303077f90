/*
 * Unit tests for diagnostics (core/diag.c): collecting (dedupe, the error cap, notes),
 * sorting into reading order, and the three renderings: text with the quoted source line
 * and a caret, JSON (parsed back with jansson) and GitHub workflow commands. Text output is
 * compared byte for byte.
 */
#include "core/diag.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fixture {
    struct core_diags d;
    char *out;    /* last rendering, freed in teardown */
    json_t *json; /* last JSON rendering parsed back, freed in teardown */
};

static int diag_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    core_diags_init(&f->d, 0);
    *state = f;
    return 0;
}

static int diag_teardown(void **state)
{
    struct fixture *f = *state;
    core_diags_release(&f->d);
    free(f->out);
    json_decref(f->json);
    free(f);
    return 0;
}

/* Starts the fixture's collection over with another error cap. */
static void recap(struct fixture *f, size_t max_errors)
{
    core_diags_release(&f->d);
    core_diags_init(&f->d, max_errors);
}

static struct core_source *add_src(struct fixture *f, const char *path, const char *text)
{
    char *copy = text ? strdup(text) : NULL;
    struct core_source *s = core_diags_add_source(&f->d, path, copy, text ? strlen(text) : 0);
    assert_non_null(s);
    return s;
}

static struct core_loc at(const struct core_source *s, uint32_t line, uint32_t col, uint32_t span)
{
    struct core_loc l = {.src = s};
    core_loc_set(&l, line, col, span); /* spans past 127 are clamped, as the loader does */
    return l;
}

/* Renders into memory; the result stays valid until the next render or teardown. */
static const char *render(struct fixture *f, enum core_diag_format fmt, bool color)
{
    free(f->out);
    f->out = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&f->out, &len);
    assert_non_null(fp);
    assert_int_equal(core_diags_render(&f->d, fmt, color, fp), 0);
    assert_int_equal(fclose(fp), 0);
    assert_non_null(f->out);
    assert_int_equal(strlen(f->out), len);
    return f->out;
}

/* ---- collecting ---- */

static void test_diag_init_with_zero_keeps_fifty_errors(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(f->d.max_errors, 50);
    assert_int_equal(f->d.n, 0);
    assert_false(f->d.truncated);
    recap(f, 7);
    assert_int_equal(f->d.max_errors, 7);
}

static void test_diag_add_records_severity_code_place_and_message(void **state)
{
    struct fixture *f = *state;
    struct core_source *s = add_src(f, "a.yaml", "x: 1\n");
    struct core_loc l = at(s, 1, 4, 1);
    struct core_diag *g =
        core_diag_add(&f->d, CORE_SEV_ERROR, "type", &l, "'%s' must be %s", "x", "a string");
    assert_non_null(g);
    assert_int_equal(g->severity, CORE_SEV_ERROR);
    assert_string_equal(g->code, "type");
    assert_ptr_equal(g->loc.src, s);
    assert_int_equal(g->loc.line, 1);
    assert_int_equal(g->loc.col, 4);
    assert_string_equal(g->message, "'x' must be a string");
    assert_int_equal(f->d.n, 1);
    assert_int_equal(f->d.errors, 1);
    assert_int_equal(f->d.warnings, 0);
    assert_non_null(core_diag_add(&f->d, CORE_SEV_WARNING, "w", NULL, "careful"));
    assert_non_null(core_diag_add(&f->d, CORE_SEV_NOTE, "n", NULL, "fyi"));
    assert_int_equal(f->d.errors, 1);
    assert_int_equal(f->d.warnings, 1);
    assert_int_equal(f->d.n, 3);
}

static void test_diag_add_without_a_place_has_an_empty_location(void **state)
{
    struct fixture *f = *state;
    struct core_diag *g = core_diag_add(&f->d, CORE_SEV_ERROR, "usage", NULL, "bad --var");
    assert_non_null(g);
    assert_null(g->loc.src);
    assert_int_equal(g->loc.line, 0);
    assert_int_equal(g->loc.col, 0);
}

static void test_diag_add_drops_an_exact_duplicate(void **state)
{
    struct fixture *f = *state;
    struct core_source *s = add_src(f, "a.yaml", "x: 1\n");
    struct core_loc l = at(s, 1, 1, 1);
    assert_non_null(core_diag_add(&f->d, CORE_SEV_ERROR, "dup", &l, "same %d", 1));
    assert_null(core_diag_add(&f->d, CORE_SEV_ERROR, "dup", &l, "same %d", 1));
    assert_int_equal(f->d.n, 1);
    assert_int_equal(f->d.errors, 1);
    assert_false(f->d.truncated);
}

static void test_diag_add_keeps_near_duplicates(void **state)
{
    struct fixture *f = *state;
    struct core_source *s = add_src(f, "a.yaml", "x: 1\n");
    struct core_loc l = at(s, 1, 1, 1), col2 = at(s, 1, 2, 1), line2 = at(s, 2, 1, 1);
    assert_non_null(core_diag_add(&f->d, CORE_SEV_ERROR, "c", &l, "m"));
    assert_non_null(core_diag_add(&f->d, CORE_SEV_WARNING, "c", &l, "m"));   /* severity */
    assert_non_null(core_diag_add(&f->d, CORE_SEV_ERROR, "other", &l, "m")); /* code */
    assert_non_null(core_diag_add(&f->d, CORE_SEV_ERROR, "c", &l, "m2"));    /* message */
    assert_non_null(core_diag_add(&f->d, CORE_SEV_ERROR, "c", &col2, "m"));  /* column */
    assert_non_null(core_diag_add(&f->d, CORE_SEV_ERROR, "c", &line2, "m")); /* line */
    assert_non_null(core_diag_add(&f->d, CORE_SEV_ERROR, "c", NULL, "m"));   /* no place */
    assert_int_equal(f->d.n, 7);
}

static void test_diag_error_cap_drops_further_errors_and_sets_truncated(void **state)
{
    struct fixture *f = *state;
    recap(f, 3);
    struct core_diags *d = &f->d;
    assert_non_null(core_diag_add(d, CORE_SEV_ERROR, "e", NULL, "error %d", 1));
    assert_non_null(core_diag_add(d, CORE_SEV_ERROR, "e", NULL, "error %d", 2));
    assert_false(core_diags_full(d));
    assert_non_null(core_diag_add(d, CORE_SEV_ERROR, "e", NULL, "error %d", 3));
    assert_true(core_diags_full(d)); /* loaders stop looking now */
    assert_false(d->truncated);
    assert_null(core_diag_add(d, CORE_SEV_ERROR, "e", NULL, "error %d", 4));
    assert_true(d->truncated);
    assert_int_equal(d->errors, 3);
    assert_int_equal(d->n, 3);
    /* Warnings are not errors: still recorded past the error cap. */
    assert_non_null(core_diag_add(d, CORE_SEV_WARNING, "w", NULL, "warning"));
    assert_int_equal(d->warnings, 1);
}

static void test_diag_duplicate_at_the_error_cap_does_not_set_truncated(void **state)
{
    struct fixture *f = *state;
    /* Regression: core_diag_add checks the error cap before the duplicate check, so re-adding an
     * error that is already recorded (a node reached twice through a YAML alias) when the
     * cap is reached sets `truncated`, and the text output then claims "too many problems"
     * although nothing was dropped. Correct: a duplicate is dropped as a duplicate. */
    recap(f, 1);
    struct core_diags *d = &f->d;
    assert_non_null(core_diag_add(d, CORE_SEV_ERROR, "e", NULL, "only one"));
    assert_null(core_diag_add(d, CORE_SEV_ERROR, "e", NULL, "only one"));
    assert_false(d->truncated);
}

static void test_diag_total_count_is_capped_at_500(void **state)
{
    struct fixture *f = *state;
    size_t kept = 0;
    for (int i = 0; i < 600; i++)
        kept += core_diag_add(&f->d, CORE_SEV_WARNING, "w", NULL, "warning %d", i) != NULL;
    assert_int_equal(kept, 500);
    assert_int_equal(f->d.n, 500);
    assert_int_equal(f->d.warnings, 500);
    assert_true(f->d.truncated);
}

static void test_diag_message_is_cut_at_4095_bytes(void **state)
{
    struct fixture *f = *state;
    char *big = malloc(10001);
    assert_non_null(big);
    memset(big, 'm', 10000);
    big[10000] = '\0';
    struct core_diag *g = core_diag_add(&f->d, CORE_SEV_ERROR, "big", NULL, "%s", big);
    free(big);
    assert_non_null(g);
    assert_int_equal(strlen(g->message), 4095);
}

static void test_diag_notes_attach_in_order_with_the_parent_code(void **state)
{
    struct fixture *f = *state;
    struct core_source *s = add_src(f, "a.yaml", "a: 1\nb: 2\na: 3\n");
    struct core_loc l3 = at(s, 3, 1, 1), l1 = at(s, 1, 1, 1);
    struct core_diag *g = core_diag_add(&f->d, CORE_SEV_ERROR, "duplicate-key", &l3, "dup 'a'");
    assert_non_null(g);
    core_diag_note(g, &l1, "'%s' was first defined here", "a");
    core_diag_note(g, NULL, "second note");
    assert_int_equal(g->nnotes, 2);
    assert_int_equal(g->notes[0].severity, CORE_SEV_NOTE);
    assert_string_equal(g->notes[0].code, "duplicate-key");
    assert_string_equal(g->notes[0].message, "'a' was first defined here");
    assert_int_equal(g->notes[0].loc.line, 1);
    assert_ptr_equal(g->notes[0].loc.src, s);
    assert_string_equal(g->notes[1].message, "second note");
    assert_null(g->notes[1].loc.src);
    assert_int_equal(g->notes[1].loc.line, 0);
    /* Notes are not top-level diagnostics. */
    assert_int_equal(f->d.n, 1);
    assert_int_equal(f->d.errors, 1);
}

static void test_diag_note_on_a_dropped_diagnostic_is_ignored(void **state)
{
    struct fixture *f = *state;
    core_diag_note(NULL, NULL, "nobody hears this");
    assert_non_null(core_diag_add(&f->d, CORE_SEV_ERROR, "c", NULL, "m"));
    struct core_diag *dup = core_diag_add(&f->d, CORE_SEV_ERROR, "c", NULL, "m");
    assert_null(dup);
    core_diag_note(dup, NULL, "dropped with its parent");
    assert_int_equal(f->d.items[0].nnotes, 0);
}

static void test_diag_severity_names(void **state)
{
    (void)state;
    assert_string_equal(core_severity_name(CORE_SEV_ERROR), "error");
    assert_string_equal(core_severity_name(CORE_SEV_WARNING), "warning");
    assert_string_equal(core_severity_name(CORE_SEV_NOTE), "note");
}

static void test_diag_sources_keep_registration_order(void **state)
{
    struct fixture *f = *state;
    struct core_source *a = add_src(f, "a.yaml", "a");
    struct core_source *b = add_src(f, "b.yaml", NULL);
    struct core_source *c = add_src(f, "c.yaml", "c");
    assert_ptr_equal(f->d.sources, a);
    assert_ptr_equal(a->next, b);
    assert_ptr_equal(b->next, c);
    assert_null(c->next);
    assert_string_equal(b->path, "b.yaml");
    assert_null(b->text);
    assert_int_equal(a->len, 1);
}

/* ---- sorting ---- */

static void test_diag_sort_orders_by_source_then_line_then_column_then_insertion(void **state)
{
    struct fixture *f = *state;
    struct core_source *one = add_src(f, "one.yaml", "1\n2\n3\n4\n5\n");
    struct core_source *two = add_src(f, "two.yaml", "1\n");
    struct core_loc l;
    l = at(two, 1, 1, 1);
    core_diag_add(&f->d, CORE_SEV_ERROR, "c", &l, "d1");
    l = at(one, 5, 1, 1);
    core_diag_add(&f->d, CORE_SEV_WARNING, "c", &l, "d2");
    core_diag_add(&f->d, CORE_SEV_ERROR, "c", NULL, "d3");
    l = at(one, 2, 9, 1);
    core_diag_add(&f->d, CORE_SEV_ERROR, "c", &l, "d4");
    l = at(one, 2, 3, 1);
    core_diag_add(&f->d, CORE_SEV_ERROR, "c", &l, "d5");
    core_diag_add(&f->d, CORE_SEV_ERROR, "c", &l, "d6");
    l = at(two, 0, 0, 0);
    core_diag_add(&f->d, CORE_SEV_ERROR, "c", &l, "d7");
    l = at(one, 10, 1, 1);
    core_diag_add(&f->d, CORE_SEV_ERROR, "c", &l, "d8");
    assert_int_equal(f->d.n, 8);
    core_diags_sort(&f->d);
    const char *expect[] = {"d3", "d5", "d6", "d4", "d2", "d8", "d7", "d1"};
    for (size_t i = 0; i < 8; i++)
        if (strcmp(f->d.items[i].message, expect[i]) != 0)
            fail_msg("position %zu holds %s, expected %s", i, f->d.items[i].message, expect[i]);
}

static void test_diag_sort_keeps_insertion_order_for_the_same_place(void **state)
{
    struct fixture *f = *state;
    struct core_source *s = add_src(f, "a.yaml", "x\n");
    struct core_loc l = at(s, 1, 1, 1);
    char msg[16];
    for (int i = 0; i < 40; i++) {
        snprintf(msg, sizeof(msg), "m%02d", i);
        core_diag_add(&f->d, CORE_SEV_ERROR, "c", &l, "%s", msg);
    }
    core_diags_sort(&f->d);
    for (int i = 0; i < 40; i++) {
        snprintf(msg, sizeof(msg), "m%02d", i);
        assert_string_equal(f->d.items[i].message, msg);
    }
}

static void test_diag_sort_of_one_or_none_is_harmless(void **state)
{
    struct fixture *f = *state;
    core_diags_sort(&f->d);
    assert_int_equal(f->d.n, 0);
    core_diag_add(&f->d, CORE_SEV_ERROR, "c", NULL, "only");
    core_diags_sort(&f->d);
    assert_string_equal(f->d.items[0].message, "only");
}

/* ---- text ---- */

static void test_text_quotes_the_line_with_a_caret_and_span(void **state)
{
    struct fixture *f = *state;
    struct core_source *s = add_src(f, "a.yaml", "version: 1\nstack: Demo\n");
    struct core_loc l = at(s, 2, 8, 4);
    core_diag_add(&f->d, CORE_SEV_ERROR, "invalid-name", &l, "stack name '%s' is bad", "Demo");
    assert_string_equal(render(f, CORE_DIAG_TEXT, false),
                        "a.yaml:2:8: error: stack name 'Demo' is bad\n"
                        "    2 | stack: Demo\n"
                        "      |        ^~~~\n");
}

static void test_text_span_of_zero_or_one_is_a_caret_only(void **state)
{
    struct fixture *f = *state;
    struct core_source *s = add_src(f, "a.yaml", "ab\n");
    struct core_loc l0 = at(s, 1, 1, 0), l1 = at(s, 1, 2, 1);
    core_diag_add(&f->d, CORE_SEV_WARNING, "w", &l0, "zero");
    core_diag_add(&f->d, CORE_SEV_WARNING, "w", &l1, "one");
    assert_string_equal(render(f, CORE_DIAG_TEXT, false), "a.yaml:1:1: warning: zero\n"
                                                          "    1 | ab\n"
                                                          "      | ^\n"
                                                          "a.yaml:1:2: warning: one\n"
                                                          "    1 | ab\n"
                                                          "      |  ^\n");
}

static void test_text_without_a_file_names_gpuform(void **state)
{
    struct fixture *f = *state;
    core_diag_add(&f->d, CORE_SEV_ERROR, "usage", NULL, "--var 'x' is not NAME=VALUE");
    assert_string_equal(render(f, CORE_DIAG_TEXT, false),
                        "gpuform: error: --var 'x' is not NAME=VALUE\n");
}

static void test_text_whole_file_problem_has_no_position_or_quote(void **state)
{
    struct fixture *f = *state;
    struct core_source *s = add_src(f, "bin.yaml", "abc\n");
    struct core_loc l = at(s, 0, 0, 0);
    core_diag_add(&f->d, CORE_SEV_ERROR, "file-binary", &l, "file looks binary");
    assert_string_equal(render(f, CORE_DIAG_TEXT, false), "bin.yaml: error: file looks binary\n");
}

static void test_text_unreadable_source_has_no_quote(void **state)
{
    struct fixture *f = *state;
    struct core_source *s = add_src(f, "gone.yaml", NULL);
    struct core_loc l = at(s, 3, 2, 1);
    core_diag_add(&f->d, CORE_SEV_ERROR, "file-read", &l, "cannot read");
    assert_string_equal(render(f, CORE_DIAG_TEXT, false), "gone.yaml:3:2: error: cannot read\n");
}

static void test_text_line_past_the_end_has_no_quote(void **state)
{
    struct fixture *f = *state;
    struct core_source *s = add_src(f, "a.yaml", "one\ntwo\n");
    struct core_loc l = at(s, 9, 1, 1);
    core_diag_add(&f->d, CORE_SEV_ERROR, "c", &l, "far away");
    assert_string_equal(render(f, CORE_DIAG_TEXT, false), "a.yaml:9:1: error: far away\n");
}

static void test_text_column_zero_is_shown_as_one(void **state)
{
    struct fixture *f = *state;
    struct core_source *s = add_src(f, "a.yaml", "first\nsecond\n");
    struct core_loc l = at(s, 2, 0, 0);
    core_diag_add(&f->d, CORE_SEV_ERROR, "c", &l, "whole line");
    assert_string_equal(render(f, CORE_DIAG_TEXT, false), "a.yaml:2:1: error: whole line\n"
                                                          "    2 | second\n"
                                                          "      | ^\n");
}

static void test_text_notes_follow_their_diagnostic(void **state)
{
    struct fixture *f = *state;
    struct core_source *s = add_src(f, "a.yaml", "a: 1\nb: 2\na: 3\n");
    struct core_loc l3 = at(s, 3, 1, 1), l1 = at(s, 1, 1, 1);
    struct core_diag *g = core_diag_add(&f->d, CORE_SEV_ERROR, "duplicate-key", &l3,
                                        "duplicate key 'a' in this mapping");
    core_diag_note(g, &l1, "'a' was first defined here");
    assert_string_equal(render(f, CORE_DIAG_TEXT, false),
                        "a.yaml:3:1: error: duplicate key 'a' in this mapping\n"
                        "    3 | a: 3\n"
                        "      | ^\n"
                        "a.yaml:1:1: note: 'a' was first defined here\n"
                        "    1 | a: 1\n"
                        "      | ^\n");
}

static void test_text_tabs_in_the_quoted_line_keep_the_caret_aligned(void **state)
{
    struct fixture *f = *state;
    struct core_source *s = add_src(f, "t.yaml", "\tkey: value\nx:\t\tv\n");
    struct core_loc l = at(s, 1, 7, 5), l2 = at(s, 2, 5, 1);
    core_diag_add(&f->d, CORE_SEV_ERROR, "c", &l, "tabbed");
    core_diag_add(&f->d, CORE_SEV_ERROR, "c", &l2, "two tabs");
    assert_string_equal(render(f, CORE_DIAG_TEXT, false), "t.yaml:1:7: error: tabbed\n"
                                                          "    1 | \tkey: value\n"
                                                          "      | \t     ^~~~~\n"
                                                          "t.yaml:2:5: error: two tabs\n"
                                                          "    2 | x:\t\tv\n"
                                                          "      |   \t\t^\n");
}

static void test_text_columns_count_characters_not_bytes(void **state)
{
    struct fixture *f = *state;
    struct core_source *s = add_src(f, "u.yaml",
                                    "\xC3\xA9t\xC3\xA9: \xE2\x82\xAC"
                                    "5\n");
    struct core_loc l = at(s, 1, 6, 2);
    core_diag_add(&f->d, CORE_SEV_ERROR, "c", &l, "euro");
    assert_string_equal(render(f, CORE_DIAG_TEXT, false), "u.yaml:1:6: error: euro\n"
                                                          "    1 | \xC3\xA9t\xC3\xA9: \xE2\x82\xAC"
                                                          "5\n"
                                                          "      |      ^~\n");
}

static void test_text_control_characters_are_replaced_by_question_marks(void **state)
{
    struct fixture *f = *state;
    struct core_source *s = add_src(f, "c.yaml",
                                    "a\x01"
                                    "b\x7f c\x1b[31mred\n");
    struct core_loc l = at(s, 1, 1, 1);
    core_diag_add(&f->d, CORE_SEV_ERROR, "c", &l, "ctl");
    const char *out = render(f, CORE_DIAG_TEXT, false);
    assert_string_equal(out, "c.yaml:1:1: error: ctl\n"
                             "    1 | a?b? c?[31mred\n"
                             "      | ^\n");
    assert_null(strchr(out, '\x1b'));
}

static void test_text_invalid_utf8_in_the_quoted_line_is_shown_as_question_marks(void **state)
{
    struct fixture *f = *state;
    /* A stray continuation byte, a cut 3-byte sequence and a lone lead byte at the end. */
    struct core_source *s = add_src(f, "b.yaml", "a: \x80x\xE2\x82 \xC3\n");
    struct core_loc l = at(s, 1, 5, 1);
    core_diag_add(&f->d, CORE_SEV_ERROR, "c", &l, "bytes");
    assert_string_equal(render(f, CORE_DIAG_TEXT, false), "b.yaml:1:5: error: bytes\n"
                                                          "    1 | a: ?x?? ?\n"
                                                          "      |     ^\n");
}

static void test_text_crlf_line_endings_are_not_echoed(void **state)
{
    struct fixture *f = *state;
    struct core_source *s = add_src(f, "w.yaml", "a: 1\r\nb: 2\r\n");
    struct core_loc l = at(s, 2, 4, 1);
    core_diag_add(&f->d, CORE_SEV_ERROR, "c", &l, "crlf");
    assert_string_equal(render(f, CORE_DIAG_TEXT, false), "w.yaml:2:4: error: crlf\n"
                                                          "    2 | b: 2\n"
                                                          "      |    ^\n");
}

/* A 300-character line whose character at column c is the digit c % 10. */
static char *digits_line(size_t n)
{
    char *s = malloc(n + 2);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        s[i] = (char)('0' + (i + 1) % 10);
    s[n] = '\n';
    s[n + 1] = '\0';
    return s;
}

static void test_text_long_lines_show_a_window_around_the_column(void **state)
{
    struct fixture *f = *state;
    char *line = digits_line(300);
    struct core_source *s = add_src(f, "long.yaml", line);
    struct core_loc l = at(s, 1, 200, 3);
    core_diag_add(&f->d, CORE_SEV_ERROR, "c", &l, "far right");
    /* Columns 120 to 279 are shown, with "..." on both sides. */
    char expect[1024];
    int n = snprintf(expect, sizeof(expect),
                     "long.yaml:1:200: error: far right\n    1 | ...%.*s...\n"
                     "      |    %80s^~~\n",
                     160, line + 119, "");
    assert_true(n > 0 && (size_t)n < sizeof(expect));
    assert_string_equal(render(f, CORE_DIAG_TEXT, false), expect);
    free(line);
}

static void test_text_long_lines_are_cut_after_160_columns_near_the_start(void **state)
{
    struct fixture *f = *state;
    char *line = digits_line(300);
    struct core_source *s = add_src(f, "long.yaml", line);
    struct core_loc l = at(s, 1, 3, 1);
    core_diag_add(&f->d, CORE_SEV_ERROR, "c", &l, "near left");
    char expect[1024];
    snprintf(expect, sizeof(expect),
             "long.yaml:1:3: error: near left\n    1 | %.*s...\n      |   ^\n", 160, line);
    assert_string_equal(render(f, CORE_DIAG_TEXT, false), expect);
    free(line);
}

static void test_text_span_is_clipped_to_the_window(void **state)
{
    struct fixture *f = *state;
    char *line = digits_line(400);
    struct core_source *s = add_src(f, "long.yaml", line);
    struct core_loc l = at(s, 1, 100, 200);
    core_diag_add(&f->d, CORE_SEV_ERROR, "c", &l, "wide");
    const char *out = render(f, CORE_DIAG_TEXT, false);
    /* first = 20, window 20..179: the caret at 100 and tildes for 101..179. */
    const char *caret = strchr(out, '^');
    assert_non_null(caret);
    size_t tildes = strspn(caret + 1, "~");
    assert_int_equal(tildes, 79);
    free(line);
}

static void test_text_reports_truncation_at_the_end(void **state)
{
    struct fixture *f = *state;
    recap(f, 2);
    struct core_diags *d = &f->d;
    core_diag_add(d, CORE_SEV_ERROR, "e", NULL, "one");
    core_diag_add(d, CORE_SEV_ERROR, "e", NULL, "two");
    core_diag_add(d, CORE_SEV_ERROR, "e", NULL, "three");
    assert_string_equal(render(f, CORE_DIAG_TEXT, false),
                        "gpuform: error: one\n"
                        "gpuform: error: two\n"
                        "gpuform: too many problems; stopped after 2 errors: fix these and "
                        "run again\n");
}

static void test_text_reports_stopping_at_the_cap_even_without_a_dropped_error(void **state)
{
    struct fixture *f = *state;
    recap(f, 2);
    core_diag_add(&f->d, CORE_SEV_ERROR, "e", NULL, "one");
    core_diag_add(&f->d, CORE_SEV_ERROR, "e", NULL, "two");
    assert_false(f->d.truncated);
    assert_non_null(strstr(render(f, CORE_DIAG_TEXT, false), "too many problems"));
    recap(f, 3);
    core_diag_add(&f->d, CORE_SEV_ERROR, "e", NULL, "one");
    core_diag_add(&f->d, CORE_SEV_WARNING, "w", NULL, "two");
    assert_null(strstr(render(f, CORE_DIAG_TEXT, false), "too many problems"));
}

static void test_text_color_wraps_severity_and_caret_in_ansi_codes(void **state)
{
    struct fixture *f = *state;
    struct core_source *s = add_src(f, "a.yaml", "ab\n");
    struct core_loc l = at(s, 1, 2, 1);
    core_diag_add(&f->d, CORE_SEV_ERROR, "c", &l, "msg");
    core_diag_add(&f->d, CORE_SEV_WARNING, "c", NULL, "warn");
    assert_string_equal(render(f, CORE_DIAG_TEXT, true),
                        "\033[1ma.yaml:1:2: \033[0m\033[1;31merror:\033[0m msg\n"
                        "    1 | ab\n"
                        "      |  \033[1;32m^\033[0m\n"
                        "\033[1mgpuform: \033[0m\033[1;35mwarning:\033[0m warn\n");
    /* And none without colour. */
    assert_null(strchr(render(f, CORE_DIAG_TEXT, false), '\033'));
}

static void test_text_empty_collection_renders_nothing(void **state)
{
    struct fixture *f = *state;
    assert_string_equal(render(f, CORE_DIAG_TEXT, false), "");
    assert_string_equal(render(f, CORE_DIAG_GITHUB, false), "");
}

static void test_render_reports_write_errors(void **state)
{
    struct fixture *f = *state;
    core_diag_add(&f->d, CORE_SEV_ERROR, "c", NULL, "message");
    FILE *ro = fopen("/dev/null", "r");
    assert_non_null(ro);
    assert_int_equal(core_diags_render(&f->d, CORE_DIAG_TEXT, false, ro), -1);
    assert_int_equal(core_diags_render(&f->d, CORE_DIAG_GITHUB, false, ro), -1);
    assert_int_equal(core_diags_render(&f->d, CORE_DIAG_JSON, false, ro), -1);
    fclose(ro);
}

/* ---- JSON ---- */

static json_t *render_json(struct fixture *f)
{
    const char *out = render(f, CORE_DIAG_JSON, false);
    json_error_t err;
    json_t *root = json_loads(out, 0, &err);
    if (!root)
        fail_msg("JSON output does not parse: %s (line %d)\n%s", err.text, err.line, out);
    json_decref(f->json);
    f->json = root;
    assert_true(json_is_array(root));
    return root;
}

static void test_json_output_parses_and_carries_every_field(void **state)
{
    struct fixture *f = *state;
    struct core_source *s = add_src(f, "dir/a.yaml", "a: 1\nb: \"x\"\n");
    struct core_loc l = at(s, 2, 4, 3), l1 = at(s, 1, 1, 1);
    struct core_diag *g = core_diag_add(&f->d, CORE_SEV_ERROR, "type", &l,
                                        "'b' must be \"an integer\", not 'x'\tand\\more");
    core_diag_note(g, &l1, "see here");
    core_diag_add(&f->d, CORE_SEV_WARNING, "unused-variable", NULL, "no place");
    json_t *root = render_json(f);
    assert_int_equal(json_array_size(root), 2);

    json_t *o = json_array_get(root, 0);
    assert_string_equal(json_string_value(json_object_get(o, "severity")), "error");
    assert_string_equal(json_string_value(json_object_get(o, "code")), "type");
    assert_string_equal(json_string_value(json_object_get(o, "file")), "dir/a.yaml");
    assert_int_equal(json_integer_value(json_object_get(o, "line")), 2);
    assert_int_equal(json_integer_value(json_object_get(o, "column")), 4);
    assert_string_equal(json_string_value(json_object_get(o, "message")),
                        "'b' must be \"an integer\", not 'x'\tand\\more");
    json_t *notes = json_object_get(o, "notes");
    assert_true(json_is_array(notes));
    assert_int_equal(json_array_size(notes), 1);
    json_t *n = json_array_get(notes, 0);
    assert_string_equal(json_string_value(json_object_get(n, "severity")), "note");
    assert_string_equal(json_string_value(json_object_get(n, "code")), "type");
    assert_string_equal(json_string_value(json_object_get(n, "message")), "see here");
    assert_int_equal(json_integer_value(json_object_get(n, "line")), 1);

    json_t *w = json_array_get(root, 1);
    assert_string_equal(json_string_value(json_object_get(w, "severity")), "warning");
    assert_true(json_is_null(json_object_get(w, "file")));
    assert_int_equal(json_integer_value(json_object_get(w, "line")), 0);
    assert_int_equal(json_integer_value(json_object_get(w, "column")), 0);
    assert_true(json_is_array(json_object_get(w, "notes")));
    assert_int_equal(json_array_size(json_object_get(w, "notes")), 0);
}

static void test_json_of_no_diagnostics_is_an_empty_array(void **state)
{
    struct fixture *f = *state;
    json_t *root = render_json(f);
    assert_int_equal(json_array_size(root), 0);
}

static void test_json_column_defaults_to_one_on_a_known_line(void **state)
{
    struct fixture *f = *state;
    struct core_source *s = add_src(f, "a.yaml", "a\n");
    struct core_loc l = at(s, 1, 0, 0);
    core_diag_add(&f->d, CORE_SEV_ERROR, "c", &l, "m");
    json_t *root = render_json(f);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(root, 0), "column")), 1);
}

static void test_json_keeps_a_message_cut_inside_a_utf8_character(void **state)
{
    /* Regression: messages are cut at 4095 bytes with vsnprintf, which can split a multibyte UTF-8
     * character (a long unknown key written in non-ASCII letters); json_string() then
     * refuses the invalid UTF-8 and returns NULL, so the "message" field silently goes
     * missing from the JSON output. Correct: cut on a character boundary (the message is
     * always present and valid UTF-8). */
    struct fixture *f = *state;
    char msg[4100];
    memset(msg, 'a', 4094);
    memcpy(msg + 4094, "\xC3\xA9xyz", 6); /* 'é' straddles the 4095-byte cut */
    core_diag_add(&f->d, CORE_SEV_ERROR, "unknown-key", NULL, "%s", msg);
    json_t *root = render_json(f);
    json_t *m = json_object_get(json_array_get(root, 0), "message");
    assert_true(json_is_string(m));
    assert_true(json_string_length(m) >= 4094);
}

static void test_json_keeps_the_file_of_a_non_utf8_path(void **state)
{
    /* Regression: file names on Linux are bytes; json_string() returns NULL for a path that is not
     * valid UTF-8 (a Latin-1 "caf\xE9.yaml"), json_object_set_new() then fails and the
     * "file" field silently goes missing from that diagnostic. Correct: "file" is always
     * present (e.g. with invalid bytes replaced, or json_stringn_nocheck/escaped). */
    struct fixture *f = *state;
    struct core_source *s = add_src(f, "caf\xE9.yaml", "a: 1\n");
    struct core_loc l = at(s, 1, 1, 1);
    core_diag_add(&f->d, CORE_SEV_ERROR, "c", &l, "m");
    json_t *root = render_json(f);
    assert_true(json_is_string(json_object_get(json_array_get(root, 0), "file")));
}

/* ---- GitHub ---- */

static void test_github_escapes_properties_and_message(void **state)
{
    struct fixture *f = *state;
    struct core_source *s = add_src(f, "dir/a:b,c.yaml", "x\ny\nzz\n");
    struct core_loc l = at(s, 3, 2, 1);
    core_diag_add(&f->d, CORE_SEV_ERROR, "unknown-key", &l, "100%% sure: a, b\nnext\rline");
    assert_string_equal(render(f, CORE_DIAG_GITHUB, false),
                        "::error file=dir/a%3Ab%2Cc.yaml,line=3,col=2,title=unknown-key::100%25 "
                        "sure: a, b%0Anext%0Dline\n");
}

static void test_github_escapes_the_title(void **state)
{
    struct fixture *f = *state;
    core_diag_add(&f->d, CORE_SEV_ERROR, "odd:code,x%", NULL, "m");
    assert_string_equal(render(f, CORE_DIAG_GITHUB, false), "::error title=odd%3Acode%2Cx%25::m\n");
}

static void test_github_warnings_and_file_less_diagnostics(void **state)
{
    struct fixture *f = *state;
    struct core_source *s = add_src(f, "a.yaml", "a\n");
    struct core_loc whole = at(s, 0, 0, 0);
    core_diag_add(&f->d, CORE_SEV_WARNING, "unused-variable", NULL, "variable 'x' is unused");
    core_diag_add(&f->d, CORE_SEV_WARNING, "empty-file", &whole, "file is empty");
    assert_string_equal(render(f, CORE_DIAG_GITHUB, false),
                        "::warning title=unused-variable::variable 'x' is unused\n"
                        "::warning file=a.yaml,title=empty-file::file is empty\n");
}

static void test_github_appends_notes_to_the_message(void **state)
{
    struct fixture *f = *state;
    struct core_source *s = add_src(f, "a.yaml", "a: 1\na: 2\n");
    struct core_loc l2 = at(s, 2, 1, 1), l1 = at(s, 1, 1, 1);
    struct core_diag *g = core_diag_add(&f->d, CORE_SEV_ERROR, "duplicate-key", &l2, "dup");
    core_diag_note(g, &l1, "first, here: 50%%");
    core_diag_note(g, NULL, "bare");
    assert_string_equal(render(f, CORE_DIAG_GITHUB, false),
                        "::error file=a.yaml,line=2,col=1,title=duplicate-key::dup"
                        "%0Aa.yaml:1:1: note: first, here: 50%25%0Anote: bare\n");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, diag_setup, diag_teardown)
    const struct CMUnitTest tests[] = {
        T(test_diag_init_with_zero_keeps_fifty_errors),
        T(test_diag_add_records_severity_code_place_and_message),
        T(test_diag_add_without_a_place_has_an_empty_location),
        T(test_diag_add_drops_an_exact_duplicate),
        T(test_diag_add_keeps_near_duplicates),
        T(test_diag_error_cap_drops_further_errors_and_sets_truncated),
        T(test_diag_duplicate_at_the_error_cap_does_not_set_truncated),
        T(test_diag_total_count_is_capped_at_500),
        T(test_diag_message_is_cut_at_4095_bytes),
        T(test_diag_notes_attach_in_order_with_the_parent_code),
        T(test_diag_note_on_a_dropped_diagnostic_is_ignored),
        cmocka_unit_test(test_diag_severity_names),
        T(test_diag_sources_keep_registration_order),
        T(test_diag_sort_orders_by_source_then_line_then_column_then_insertion),
        T(test_diag_sort_keeps_insertion_order_for_the_same_place),
        T(test_diag_sort_of_one_or_none_is_harmless),
        T(test_text_quotes_the_line_with_a_caret_and_span),
        T(test_text_span_of_zero_or_one_is_a_caret_only),
        T(test_text_without_a_file_names_gpuform),
        T(test_text_whole_file_problem_has_no_position_or_quote),
        T(test_text_unreadable_source_has_no_quote),
        T(test_text_line_past_the_end_has_no_quote),
        T(test_text_column_zero_is_shown_as_one),
        T(test_text_notes_follow_their_diagnostic),
        T(test_text_tabs_in_the_quoted_line_keep_the_caret_aligned),
        T(test_text_columns_count_characters_not_bytes),
        T(test_text_control_characters_are_replaced_by_question_marks),
        T(test_text_invalid_utf8_in_the_quoted_line_is_shown_as_question_marks),
        T(test_text_crlf_line_endings_are_not_echoed),
        T(test_text_long_lines_show_a_window_around_the_column),
        T(test_text_long_lines_are_cut_after_160_columns_near_the_start),
        T(test_text_span_is_clipped_to_the_window),
        T(test_text_reports_truncation_at_the_end),
        T(test_text_reports_stopping_at_the_cap_even_without_a_dropped_error),
        T(test_text_color_wraps_severity_and_caret_in_ansi_codes),
        T(test_text_empty_collection_renders_nothing),
        T(test_render_reports_write_errors),
        T(test_json_output_parses_and_carries_every_field),
        T(test_json_of_no_diagnostics_is_an_empty_array),
        T(test_json_column_defaults_to_one_on_a_known_line),
        T(test_json_keeps_a_message_cut_inside_a_utf8_character),
        T(test_json_keeps_the_file_of_a_non_utf8_path),
        T(test_github_escapes_properties_and_message),
        T(test_github_escapes_the_title),
        T(test_github_warnings_and_file_less_diagnostics),
        T(test_github_appends_notes_to_the_message),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
