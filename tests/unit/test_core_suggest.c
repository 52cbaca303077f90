/*
 * Unit tests for "did you mean" (core/suggest.c): the optimal-string-alignment distance
 * (adjacent swaps cost 1, case ignored, capped) and the choice of a suggestion, which must
 * be close enough to help and never a wild guess.
 */
#include "core/suggest.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#define BIG 100

static void test_distance_of_kitten_and_sitting_is_three(void **state)
{
    (void)state;
    assert_int_equal(core_edit_distance("kitten", "sitting", BIG), 3);
    assert_int_equal(core_edit_distance("sitting", "kitten", BIG), 3);
}

static void test_distance_of_identical_words_is_zero(void **state)
{
    (void)state;
    assert_int_equal(core_edit_distance("workloads", "workloads", BIG), 0);
    assert_int_equal(core_edit_distance("", "", 0), 0);
}

static void test_distance_counts_insertions_deletions_and_substitutions(void **state)
{
    (void)state;
    assert_int_equal(core_edit_distance("", "abc", BIG), 3);
    assert_int_equal(core_edit_distance("abc", "", BIG), 3);
    assert_int_equal(core_edit_distance("node", "nodes", BIG), 1);
    assert_int_equal(core_edit_distance("nodes", "node", BIG), 1);
    assert_int_equal(core_edit_distance("spot", "slot", BIG), 1);
    assert_int_equal(core_edit_distance("flaw", "lawn", BIG), 2);
}

static void test_distance_counts_an_adjacent_transposition_as_one(void **state)
{
    (void)state;
    assert_int_equal(core_edit_distance("abcd", "abdc", BIG), 1);
    assert_int_equal(core_edit_distance("nodse", "nodes", BIG), 1);
    assert_int_equal(core_edit_distance("ab", "ba", BIG), 1);
    assert_int_equal(core_edit_distance("regoins", "regions", BIG), 1);
    /* Optimal string alignment, not full Damerau: a swapped pair is not edited again. */
    assert_int_equal(core_edit_distance("ca", "abc", BIG), 3);
}

static void test_distance_ignores_case(void **state)
{
    (void)state;
    assert_int_equal(core_edit_distance("GPU", "gpu", BIG), 0);
    assert_int_equal(core_edit_distance("H100", "h100", BIG), 0);
    assert_int_equal(core_edit_distance("Kitten", "SITTING", BIG), 3);
    assert_int_equal(core_edit_distance("AB", "ba", BIG), 1); /* swap, case-insensitively */
}

static void test_distance_is_capped_at_cap_plus_one(void **state)
{
    (void)state;
    assert_int_equal(core_edit_distance("kitten", "sitting", 1), 2);
    assert_int_equal(core_edit_distance("kitten", "sitting", 2), 3);
    assert_int_equal(core_edit_distance("kitten", "sitting", 3), 3);
    /* A length difference larger than the cap is enough. */
    assert_int_equal(core_edit_distance("a", "abcdefgh", 2), 3);
    assert_int_equal(core_edit_distance("", "abcdefgh", 0), 1);
}

static void test_distance_of_very_long_words_stays_within_the_cap(void **state)
{
    (void)state;
    char a[200], b[200];
    memset(a, 'a', sizeof(a) - 1);
    a[sizeof(a) - 1] = '\0';
    memcpy(b, a, sizeof(b));
    b[100] = 'b';
    size_t d = core_edit_distance(a, b, 3);
    assert_true(d <= 4);
    assert_true(d >= 1);
}

static void test_suggest_picks_the_closest_candidate(void **state)
{
    (void)state;
    const char *const keys[] = {"version", "stack", "variables", "clouds", "workloads", "budgets"};
    assert_string_equal(core_suggest("workload", keys, 6), "workloads");
    assert_string_equal(core_suggest("cloud", keys, 6), "clouds");
    assert_string_equal(core_suggest("verison", keys, 6), "version");
    assert_string_equal(core_suggest("budgest", keys, 6), "budgets");
}

static void test_suggest_returns_a_pointer_into_the_candidates(void **state)
{
    (void)state;
    const char *const keys[] = {"alpha", "beta"};
    assert_ptr_equal(core_suggest("betta", keys, 2), keys[1]);
}

static void test_suggest_refuses_candidates_past_the_threshold(void **state)
{
    (void)state;
    /* "kitten" has 6 letters: at most 2 edits. */
    const char *const far[] = {"sitting"};
    assert_null(core_suggest("kitten", far, 1));
    const char *const near[] = {"sittin"};
    assert_string_equal(core_suggest("kitten", near, 1), "sittin");
    const char *const keys[] = {"version", "stack", "clouds"};
    assert_null(core_suggest("xyzzy", keys, 3));
    assert_null(core_suggest("hooks", keys, 3));
}

static void test_suggest_allows_one_edit_for_short_words(void **state)
{
    (void)state;
    /* A third of a short word is 0: the threshold never drops below 1. */
    const char *const cands[] = {"aws", "gcp", "azure"};
    assert_string_equal(core_suggest("aw", cands, 3), "aws");
    assert_string_equal(core_suggest("gpc", cands, 3), "gcp");
    assert_null(core_suggest("ibm", cands, 3));
    const char *const two[] = {"ab"};
    assert_null(core_suggest("cd", two, 1));
}

static void test_suggest_always_counts_a_case_only_difference(void **state)
{
    (void)state;
    const char *const cands[] = {"H100", "A100"};
    assert_string_equal(core_suggest("h100", cands, 2), "H100");
    const char *const kinds[] = {"training", "service"};
    assert_string_equal(core_suggest("TRAINING", kinds, 2), "training");
}

static void test_suggest_breaks_ties_in_favour_of_the_earlier_candidate(void **state)
{
    (void)state;
    const char *const cands[] = {"cat", "bat", "rat"};
    assert_string_equal(core_suggest("hat", cands, 3), "cat");
    const char *const rev[] = {"rat", "bat", "cat"};
    assert_string_equal(core_suggest("hat", rev, 3), "rat");
    /* A closer candidate later still wins. */
    const char *const later[] = {"nxdexy", "nodexy"};
    assert_string_equal(core_suggest("nodexx", later, 2), "nodexy");
}

static void test_suggest_skips_null_candidates_and_handles_none(void **state)
{
    (void)state;
    const char *const cands[] = {NULL, "spot", NULL};
    assert_string_equal(core_suggest("spto", cands, 3), "spot");
    assert_null(core_suggest("spot", cands, 0));
    assert_null(core_suggest("spot", NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distance_of_kitten_and_sitting_is_three),
        cmocka_unit_test(test_distance_of_identical_words_is_zero),
        cmocka_unit_test(test_distance_counts_insertions_deletions_and_substitutions),
        cmocka_unit_test(test_distance_counts_an_adjacent_transposition_as_one),
        cmocka_unit_test(test_distance_ignores_case),
        cmocka_unit_test(test_distance_is_capped_at_cap_plus_one),
        cmocka_unit_test(test_distance_of_very_long_words_stays_within_the_cap),
        cmocka_unit_test(test_suggest_picks_the_closest_candidate),
        cmocka_unit_test(test_suggest_returns_a_pointer_into_the_candidates),
        cmocka_unit_test(test_suggest_refuses_candidates_past_the_threshold),
        cmocka_unit_test(test_suggest_allows_one_edit_for_short_words),
        cmocka_unit_test(test_suggest_always_counts_a_case_only_difference),
        cmocka_unit_test(test_suggest_breaks_ties_in_favour_of_the_earlier_candidate),
        cmocka_unit_test(test_suggest_skips_null_candidates_and_handles_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
