/*
 * Unit tests for bounded growable buffers (core/buf.c): growth keeps the contents and the
 * NUL terminator, the maximum is enforced without touching the contents, and take/reset/
 * release leave a buffer that can be used again.
 */
#include "core/buf.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

struct fixture {
    struct core_buf b;
};

static int buf_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    core_buf_init(&f->b, 1 << 20);
    *state = f;
    return 0;
}

static int buf_teardown(void **state)
{
    struct fixture *f = *state;
    core_buf_release(&f->b);
    free(f);
    return 0;
}

static void test_buf_starts_empty_with_an_empty_string(void **state)
{
    struct fixture *f = *state;
    assert_null(f->b.data);
    assert_int_equal(f->b.len, 0);
    assert_int_equal(f->b.cap, 0);
    assert_int_equal(f->b.max, 1 << 20);
    assert_non_null(core_buf_str(&f->b));
    assert_string_equal(core_buf_str(&f->b), "");
}

static void test_buf_adding_nothing_succeeds_and_stays_empty(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(core_buf_add(&f->b, "", 0), 0);
    assert_int_equal(f->b.len, 0);
    assert_string_equal(core_buf_str(&f->b), "");
}

static void test_buf_grows_and_keeps_contents_nul_terminated(void **state)
{
    struct fixture *f = *state;
    for (size_t i = 0; i < 10000; i++) {
        assert_int_equal(core_buf_addc(&f->b, (char)('a' + i % 26)), 0);
        assert_int_equal(f->b.len, i + 1);
        assert_true(f->b.cap >= f->b.len + 1);
        assert_int_equal(f->b.data[f->b.len], '\0');
    }
    for (size_t i = 0; i < 10000; i++)
        if (f->b.data[i] != (char)('a' + i % 26))
            fail_msg("byte %zu is '%c'", i, f->b.data[i]);
    assert_int_equal(strlen(core_buf_str(&f->b)), 10000);
}

static void test_buf_add_and_adds_append_in_order(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(core_buf_adds(&f->b, "gpu"), 0);
    assert_int_equal(core_buf_add(&f->b, "formXXX", 4), 0);
    assert_int_equal(core_buf_addc(&f->b, '!'), 0);
    assert_string_equal(core_buf_str(&f->b), "gpuform!");
    assert_int_equal(f->b.len, 8);
}

static void test_buf_keeps_embedded_nul_bytes(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(core_buf_add(&f->b, "a\0b", 3), 0);
    assert_int_equal(f->b.len, 3);
    assert_memory_equal(f->b.data, "a\0b\0", 4);
}

static void test_buf_add_past_max_fails_and_leaves_contents_unchanged(void **state)
{
    (void)state;
    struct core_buf b;
    core_buf_init(&b, 10);
    assert_int_equal(core_buf_adds(&b, "12345678"), 0);
    assert_int_equal(core_buf_adds(&b, "abc"), -1);
    assert_int_equal(b.len, 8);
    assert_string_equal(core_buf_str(&b), "12345678");
    /* Exactly up to the maximum is fine... */
    assert_int_equal(core_buf_adds(&b, "90"), 0);
    assert_string_equal(core_buf_str(&b), "1234567890");
    assert_int_equal(b.len, 10);
    /* ...and nothing more fits, by any route. */
    assert_int_equal(core_buf_addc(&b, 'x'), -1);
    assert_int_equal(core_buf_add(&b, "x", 1), -1);
    assert_int_equal(core_buf_addf(&b, "%d", 7), -1);
    assert_string_equal(core_buf_str(&b), "1234567890");
    assert_int_equal(b.len, 10);
    /* Adding nothing at the maximum still succeeds. */
    assert_int_equal(core_buf_add(&b, "", 0), 0);
    core_buf_release(&b);
}

static void test_buf_add_larger_than_max_on_an_empty_buffer_fails(void **state)
{
    (void)state;
    struct core_buf b;
    core_buf_init(&b, 4);
    assert_int_equal(core_buf_adds(&b, "hello"), -1);
    assert_int_equal(b.len, 0);
    assert_string_equal(core_buf_str(&b), "");
    assert_int_equal(core_buf_add(&b, "x", SIZE_MAX), -1);
    assert_int_equal(b.len, 0);
    core_buf_release(&b);
}

static void test_buf_capacity_never_exceeds_max_plus_terminator(void **state)
{
    (void)state;
    struct core_buf b;
    core_buf_init(&b, 100);
    char chunk[33];
    memset(chunk, 'z', 32);
    chunk[32] = '\0';
    assert_int_equal(core_buf_adds(&b, chunk), 0);
    assert_int_equal(core_buf_adds(&b, chunk), 0);
    assert_int_equal(core_buf_adds(&b, chunk), 0);
    assert_int_equal(core_buf_add(&b, chunk, 4), 0);
    assert_int_equal(b.len, 100);
    assert_true(b.cap <= 101);
    assert_int_equal(b.data[100], '\0');
    assert_int_equal(core_buf_addc(&b, 'z'), -1);
    core_buf_release(&b);
}

static void test_buf_addf_formats_and_appends(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(core_buf_addf(&f->b, "%s:%u:%u", "stack.yaml", 12u, 5u), 0);
    assert_int_equal(core_buf_addf(&f->b, " %-5s|%05.1f", "ab", 3.14159), 0);
    assert_string_equal(core_buf_str(&f->b), "stack.yaml:12:5 ab   |003.1");
    assert_int_equal(f->b.len, strlen("stack.yaml:12:5 ab   |003.1"));
}

static void test_buf_addf_of_an_empty_string_leaves_a_valid_string(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(core_buf_addf(&f->b, "%s", ""), 0);
    assert_int_equal(f->b.len, 0);
    assert_string_equal(core_buf_str(&f->b), "");
}

static void test_buf_addf_grows_for_long_output(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(core_buf_adds(&f->b, "head:"), 0);
    assert_int_equal(core_buf_addf(&f->b, "%5000d|", 42), 0);
    assert_int_equal(f->b.len, 5 + 5000 + 1);
    assert_memory_equal(f->b.data, "head:    ", 9);
    assert_memory_equal(f->b.data + 5 + 4998, "42|", 4);
}

static void test_buf_addf_past_max_fails_and_leaves_contents_unchanged(void **state)
{
    (void)state;
    struct core_buf b;
    core_buf_init(&b, 16);
    assert_int_equal(core_buf_addf(&b, "%s", "0123456789"), 0);
    assert_int_equal(core_buf_addf(&b, "%s-%d", "abcdef", 1), -1);
    assert_int_equal(b.len, 10);
    assert_string_equal(core_buf_str(&b), "0123456789");
    assert_int_equal(core_buf_addf(&b, "%s", "abcdef"), 0);
    assert_string_equal(core_buf_str(&b), "0123456789abcdef");
    core_buf_release(&b);
}

static void test_buf_take_hands_over_the_contents_and_empties_the_buffer(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(core_buf_adds(&f->b, "owned by the caller"), 0);
    char *s = core_buf_take(&f->b);
    assert_non_null(s);
    assert_string_equal(s, "owned by the caller");
    assert_null(f->b.data);
    assert_int_equal(f->b.len, 0);
    assert_int_equal(f->b.cap, 0);
    assert_int_equal(f->b.max, 1 << 20);
    assert_string_equal(core_buf_str(&f->b), "");
    /* The buffer is usable again, and independent of what was taken. */
    assert_int_equal(core_buf_adds(&f->b, "next"), 0);
    assert_string_equal(core_buf_str(&f->b), "next");
    assert_string_equal(s, "owned by the caller");
    free(s);
}

static void test_buf_take_of_an_empty_buffer_returns_an_empty_string(void **state)
{
    struct fixture *f = *state;
    char *s = core_buf_take(&f->b);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
}

static void test_buf_reset_empties_but_keeps_memory(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(core_buf_adds(&f->b, "some text to forget"), 0);
    char *data = f->b.data;
    size_t cap = f->b.cap;
    core_buf_reset(&f->b);
    assert_int_equal(f->b.len, 0);
    assert_ptr_equal(f->b.data, data);
    assert_int_equal(f->b.cap, cap);
    assert_string_equal(core_buf_str(&f->b), "");
    assert_int_equal(core_buf_adds(&f->b, "new"), 0);
    assert_string_equal(core_buf_str(&f->b), "new");
}

static void test_buf_reset_of_an_unused_buffer_is_harmless(void **state)
{
    struct fixture *f = *state;
    core_buf_reset(&f->b);
    assert_null(f->b.data);
    assert_string_equal(core_buf_str(&f->b), "");
}

static void test_buf_reset_restores_room_up_to_max(void **state)
{
    (void)state;
    struct core_buf b;
    core_buf_init(&b, 8);
    assert_int_equal(core_buf_adds(&b, "abcdefgh"), 0);
    assert_int_equal(core_buf_addc(&b, 'i'), -1);
    core_buf_reset(&b);
    assert_int_equal(core_buf_adds(&b, "ijklmnop"), 0);
    assert_string_equal(core_buf_str(&b), "ijklmnop");
    core_buf_release(&b);
}

static void test_buf_release_keeps_max_and_allows_reuse(void **state)
{
    (void)state;
    struct core_buf b;
    core_buf_init(&b, 5);
    assert_int_equal(core_buf_adds(&b, "abc"), 0);
    core_buf_release(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.max, 5);
    assert_int_equal(core_buf_adds(&b, "abcdef"), -1);
    assert_int_equal(core_buf_adds(&b, "abcde"), 0);
    core_buf_release(&b);
    core_buf_release(&b); /* twice is harmless */
    assert_null(b.data);
}

static void test_buf_with_zero_max_holds_nothing(void **state)
{
    (void)state;
    struct core_buf b;
    core_buf_init(&b, 0);
    assert_int_equal(core_buf_addc(&b, 'a'), -1);
    assert_int_equal(core_buf_addf(&b, "x"), -1);
    assert_string_equal(core_buf_str(&b), "");
    core_buf_release(&b);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, buf_setup, buf_teardown)
    const struct CMUnitTest tests[] = {
        T(test_buf_starts_empty_with_an_empty_string),
        T(test_buf_adding_nothing_succeeds_and_stays_empty),
        T(test_buf_grows_and_keeps_contents_nul_terminated),
        T(test_buf_add_and_adds_append_in_order),
        T(test_buf_keeps_embedded_nul_bytes),
        cmocka_unit_test(test_buf_add_past_max_fails_and_leaves_contents_unchanged),
        cmocka_unit_test(test_buf_add_larger_than_max_on_an_empty_buffer_fails),
        cmocka_unit_test(test_buf_capacity_never_exceeds_max_plus_terminator),
        T(test_buf_addf_formats_and_appends),
        T(test_buf_addf_of_an_empty_string_leaves_a_valid_string),
        T(test_buf_addf_grows_for_long_output),
        cmocka_unit_test(test_buf_addf_past_max_fails_and_leaves_contents_unchanged),
        T(test_buf_take_hands_over_the_contents_and_empties_the_buffer),
        T(test_buf_take_of_an_empty_buffer_returns_an_empty_string),
        T(test_buf_reset_empties_but_keeps_memory),
        T(test_buf_reset_of_an_unused_buffer_is_harmless),
        cmocka_unit_test(test_buf_reset_restores_room_up_to_max),
        cmocka_unit_test(test_buf_release_keeps_max_and_allows_reuse),
        cmocka_unit_test(test_buf_with_zero_max_holds_nothing),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
