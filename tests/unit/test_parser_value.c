/*
 * Unit tests for values with units (parser/value.c): sizes in decimal and binary units,
 * durations in hours, and strict decimal numbers. Anything a user could misread ("2T",
 * hex, "inf") must be refused with a hint, never silently turned into a number.
 */
#include "parser/schema_int.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#define GiB ((uint64_t)1 << 30)

static uint64_t size_ok(const char *s)
{
    uint64_t bytes = 0xDEADBEEF;
    const char *why = NULL;
    if (spec_parse_size(s, &bytes, &why) != 0)
        fail_msg("spec_parse_size(\"%s\") failed: %s", s, why ? why : "(no hint)");
    return bytes;
}

static void size_bad(const char *s)
{
    uint64_t bytes = 12345;
    const char *why = NULL;
    if (spec_parse_size(s, &bytes, &why) != -1)
        fail_msg("spec_parse_size(\"%s\") accepted it as %llu bytes", s, (unsigned long long)bytes);
    assert_non_null(why);
    assert_true(strlen(why) > 0);
    assert_int_equal(bytes, 12345); /* untouched on failure */
}

static double hours_ok(const char *s)
{
    double h = -1;
    const char *why = NULL;
    if (spec_parse_hours(s, &h, &why) != 0)
        fail_msg("spec_parse_hours(\"%s\") failed", s);
    return h;
}

static void hours_bad(const char *s)
{
    double h = -7;
    const char *why = NULL;
    if (spec_parse_hours(s, &h, &why) != -1)
        fail_msg("spec_parse_hours(\"%s\") accepted it as %g hours", s, h);
    assert_non_null(why);
    assert_true(strlen(why) > 0);
}

static void number_bad(const char *s)
{
    double v = 99;
    if (spec_parse_number(s, &v) != -1)
        fail_msg("spec_parse_number(\"%s\") accepted it as %g", s, v);
    assert_true(v == 99);
}

static double number_ok(const char *s)
{
    double v = 0;
    if (spec_parse_number(s, &v) != 0)
        fail_msg("spec_parse_number(\"%s\") failed", s);
    return v;
}

/* ---- sizes ---- */

static void test_size_decimal_units_are_powers_of_1000(void **state)
{
    (void)state;
    assert_int_equal(size_ok("500GB"), 500000000000ull);
    assert_int_equal(size_ok("2TB"), 2000000000000ull);
    assert_int_equal(size_ok("1.5TB"), 1500000000000ull);
    assert_int_equal(size_ok("1B"), 1);
    assert_int_equal(size_ok("3KB"), 3000);
    assert_int_equal(size_ok("7MB"), 7000000);
    assert_int_equal(size_ok("1PB"), 1000000000000000ull);
    assert_int_equal(size_ok("0.5GB"), 500000000ull);
}

static void test_size_binary_units_are_powers_of_1024(void **state)
{
    (void)state;
    assert_int_equal(size_ok("80GiB"), 80 * GiB);
    assert_int_equal(size_ok("1KiB"), 1024);
    assert_int_equal(size_ok("2MiB"), 2 * 1048576);
    assert_int_equal(size_ok("1TiB"), 1024 * GiB);
    assert_int_equal(size_ok("1PiB"), 1024 * 1024 * GiB);
    assert_int_equal(size_ok("1.5GiB"), 3 * GiB / 2);
}

static void test_size_allows_a_space_before_the_unit(void **state)
{
    (void)state;
    assert_int_equal(size_ok("2 TB"), 2000000000000ull);
    assert_int_equal(size_ok("80 GiB"), 80 * GiB);
}

static void test_size_units_are_case_insensitive(void **state)
{
    (void)state;
    assert_int_equal(size_ok("2tb"), 2000000000000ull);
    assert_int_equal(size_ok("2Tb"), 2000000000000ull);
    assert_int_equal(size_ok("80gib"), 80 * GiB);
    assert_int_equal(size_ok("80GIB"), 80 * GiB);
    assert_int_equal(size_ok("500gb"), 500000000000ull);
}

static void test_size_needs_a_unit(void **state)
{
    (void)state;
    size_bad("2");
    size_bad("500");
    size_bad("2 ");
}

static void test_size_rejects_unknown_units_and_non_numbers(void **state)
{
    (void)state;
    size_bad("2T");
    size_bad("2G");
    size_bad("2 terabytes");
    size_bad("2XB");
    size_bad("abc");
    size_bad("GB");
    size_bad("");
    size_bad("2TB ");
    size_bad("two TB");
}

static void test_size_rejects_negative_and_malformed_numbers(void **state)
{
    (void)state;
    size_bad("-1GB");
    size_bad("+1GB");
    size_bad("1.2.3GB");
    size_bad("1e3GB");
    size_bad("0x10GB");
    size_bad(".GB");
}

static void test_size_rejects_overflow(void **state)
{
    (void)state;
    size_bad("20000PB");
    size_bad("99999999999999999999B");
    size_bad("100000PiB");
}

static void test_size_converts_values_below_the_cap_exactly(void **state)
{
    (void)state;
    assert_int_equal(size_ok("9000PB"), 9000000000000000000ull);
    assert_int_equal(size_ok("8191PiB"), 8191ull * 1024 * 1024 * GiB);
}

static void test_size_between_2_pow_63_and_the_cap_is_exact(void **state)
{
    (void)state;
    /* Regression: spec_parse_size converts with llround(), which returns long long: any size from
     * 2^63 bytes up to the 18e18 cap overflows and comes back as 0x8000000000000000
     * ("17000PB" -> 9223372036854775808). Accepted sizes must be exact (or the cap lowered
     * to 2^63). */
    assert_int_equal(size_ok("17000PB"), 17000000000000000000ull);
    assert_int_equal(size_ok("10000PB"), 10000000000000000000ull);
}

static void test_size_hints_explain_the_problem(void **state)
{
    (void)state;
    uint64_t b;
    const char *why = NULL;
    assert_int_equal(spec_parse_size("2", &b, &why), -1);
    assert_non_null(strstr(why, "unit"));
    assert_int_equal(spec_parse_size("2T", &b, &why), -1);
    assert_non_null(strstr(why, "unknown size unit"));
    assert_int_equal(spec_parse_size("20000PB", &b, &why), -1);
    assert_non_null(strstr(why, "too large"));
}

static void test_size_rejects_very_long_numbers(void **state)
{
    (void)state;
    char s[200];
    memset(s, '1', 150);
    strcpy(s + 150, "B");
    size_bad(s);
}

/* ---- hours ---- */

static void test_hours_plain_numbers_are_hours(void **state)
{
    (void)state;
    assert_float_equal(hours_ok("72"), 72, 1e-9);
    assert_float_equal(hours_ok("1.5"), 1.5, 1e-9);
    assert_float_equal(hours_ok("1e3"), 1000, 1e-9);
}

static void test_hours_accept_unit_suffixes(void **state)
{
    (void)state;
    assert_float_equal(hours_ok("72h"), 72, 1e-9);
    assert_float_equal(hours_ok("30m"), 0.5, 1e-9);
    assert_float_equal(hours_ok("3d"), 72, 1e-9);
    assert_float_equal(hours_ok("2w"), 336, 1e-9);
    assert_float_equal(hours_ok("3600s"), 1, 1e-9);
    assert_float_equal(hours_ok("1.5h"), 1.5, 1e-9);
}

static void test_hours_combine_several_units(void **state)
{
    (void)state;
    assert_float_equal(hours_ok("1h30m"), 1.5, 1e-9);
    assert_float_equal(hours_ok("1d12h"), 36, 1e-9);
    assert_float_equal(hours_ok("1w1d1h"), 193, 1e-9);
    assert_float_equal(hours_ok("1h 30m"), 1.5, 1e-9);
    assert_float_equal(hours_ok("72 h"), 72, 1e-9);
}

static void test_hours_reject_unknown_units_and_garbage(void **state)
{
    (void)state;
    hours_bad("72x");
    hours_bad("h");
    hours_bad("");
    hours_bad("72hours");
    hours_bad("1h30");
    hours_bad("3 days");
    hours_bad("-1h");
    hours_bad("abc");
    hours_bad("0x10");
    hours_bad("inf");
    hours_bad("nan");
    hours_bad("1e999");
    hours_bad(" 72h");
}

/* ---- numbers ---- */

static void test_number_accepts_decimal_forms(void **state)
{
    (void)state;
    assert_float_equal(number_ok("-3.5"), -3.5, 1e-12);
    assert_float_equal(number_ok("1e3"), 1000, 1e-12);
    assert_float_equal(number_ok("1E3"), 1000, 1e-12);
    assert_float_equal(number_ok("2.5e-3"), 0.0025, 1e-15);
    assert_float_equal(number_ok("+7"), 7, 1e-12);
    assert_float_equal(number_ok("0"), 0, 1e-12);
    assert_float_equal(number_ok(".5"), 0.5, 1e-12);
    assert_float_equal(number_ok("5."), 5, 1e-12);
    assert_float_equal(number_ok("0012"), 12, 1e-12);
}

static void test_number_rejects_hex_inf_nan_and_garbage(void **state)
{
    (void)state;
    number_bad("0x10");
    number_bad("inf");
    number_bad("-inf");
    number_bad("infinity");
    number_bad("nan");
    number_bad("NAN");
    number_bad("1.2.3");
    number_bad("");
    number_bad("-");
    number_bad("+");
    number_bad(".");
    number_bad("e5");
    number_bad("1e");
    number_bad("1e+");
    number_bad("1e5.0");
    number_bad(" 1");
    number_bad("1 ");
    number_bad("1_000");
    number_bad("1,5");
}

static void test_number_rejects_values_out_of_range(void **state)
{
    (void)state;
    number_bad("1e999");
    number_bad("-1e999");
}

static void test_int_accepts_signed_decimal_integers(void **state)
{
    (void)state;
    long long v = 0;
    assert_int_equal(spec_parse_int("42", &v), 0);
    assert_true(v == 42);
    assert_int_equal(spec_parse_int("-17", &v), 0);
    assert_true(v == -17);
    assert_int_equal(spec_parse_int("+8", &v), 0);
    assert_true(v == 8);
    assert_int_equal(spec_parse_int("9223372036854775807", &v), 0);
    assert_true(v == 9223372036854775807LL);
    assert_int_equal(spec_parse_int("-9223372036854775808", &v), 0);
    assert_true(v == -9223372036854775807LL - 1);
}

static void test_int_rejects_non_integers_and_overflow(void **state)
{
    (void)state;
    const char *const bad[] = {"",
                               "+",
                               "-",
                               "1.0",
                               "1e3",
                               "0x10",
                               " 1",
                               "1 ",
                               "abc",
                               "12a",
                               "--1",
                               "9223372036854775808",
                               "-9223372036854775809",
                               "99999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        long long v = 5;
        if (spec_parse_int(bad[i], &v) != -1)
            fail_msg("spec_parse_int(\"%s\") accepted it as %lld", bad[i], v);
        assert_true(v == 5);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_decimal_units_are_powers_of_1000),
        cmocka_unit_test(test_size_binary_units_are_powers_of_1024),
        cmocka_unit_test(test_size_allows_a_space_before_the_unit),
        cmocka_unit_test(test_size_units_are_case_insensitive),
        cmocka_unit_test(test_size_needs_a_unit),
        cmocka_unit_test(test_size_rejects_unknown_units_and_non_numbers),
        cmocka_unit_test(test_size_rejects_negative_and_malformed_numbers),
        cmocka_unit_test(test_size_rejects_overflow),
        cmocka_unit_test(test_size_converts_values_below_the_cap_exactly),
        cmocka_unit_test(test_size_between_2_pow_63_and_the_cap_is_exact),
        cmocka_unit_test(test_size_hints_explain_the_problem),
        cmocka_unit_test(test_size_rejects_very_long_numbers),
        cmocka_unit_test(test_hours_plain_numbers_are_hours),
        cmocka_unit_test(test_hours_accept_unit_suffixes),
        cmocka_unit_test(test_hours_combine_several_units),
        cmocka_unit_test(test_hours_reject_unknown_units_and_garbage),
        cmocka_unit_test(test_number_accepts_decimal_forms),
        cmocka_unit_test(test_number_rejects_hex_inf_nan_and_garbage),
        cmocka_unit_test(test_number_rejects_values_out_of_range),
        cmocka_unit_test(test_int_accepts_signed_decimal_integers),
        cmocka_unit_test(test_int_rejects_non_integers_and_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
