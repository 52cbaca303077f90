/*
 * Unit tests for the planner's internal CSV reader (planner/csv_int.h): fields and their
 * positions, quoting, LF and CRLF, line breaks inside quotes, every syntax error with its
 * place and the recovery after it, limits, and the number, date and text checks.
 */
#include "planner/csv_int.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

/* Reads all of `text`; writes "a|b|c" per record and "!L:C" per error, ';'-separated. */
static void read_all(const char *text, size_t max_fields, char *out, size_t size)
{
    struct plan_csv c;
    assert_int_equal(plan_csv_init(&c, text, strlen(text), max_fields, 64), 0);
    out[0] = '\0';
    size_t o = 0;
    int r;
    while ((r = plan_csv_next(&c)) != 0) {
        if (r < 0) {
            o += (size_t)snprintf(out + o, size - o, "!%zu:%zu;", c.err_line, c.err_col);
            continue;
        }
        for (size_t i = 0; i < c.nfields; i++)
            o += (size_t)snprintf(out + o, size - o, "%s%s", i ? "|" : "", c.fields[i].s);
        o += (size_t)snprintf(out + o, size - o, ";");
        assert_true(o < size);
    }
    plan_csv_release(&c);
}

static void test_csv_reads_fields_with_lf_and_crlf(void **state)
{
    (void)state;
    char out[256];
    read_all("a,b,c\nd,,f\n", 8, out, sizeof(out));
    assert_string_equal(out, "a|b|c;d||f;");
    read_all("a,b,c\r\nd,,f\r\n", 8, out, sizeof(out));
    assert_string_equal(out, "a|b|c;d||f;");
    read_all("a,b,c\r\nd,,f", 8, out, sizeof(out)); /* no final line end */
    assert_string_equal(out, "a|b|c;d||f;");
    read_all("a,\n\n\r\nb,\n", 8, out, sizeof(out)); /* blank lines skipped, trailing empty */
    assert_string_equal(out, "a|;b|;");
    read_all("\xEF\xBB\xBFx,y\n", 8, out, sizeof(out)); /* byte order mark */
    assert_string_equal(out, "x|y;");
}

static void test_csv_unquotes_fields(void **state)
{
    (void)state;
    char out[256];
    read_all("\"a,b\",\"say \"\"hi\"\"\",\"\"\n", 8, out, sizeof(out));
    assert_string_equal(out, "a,b|say \"hi\"|;");
    read_all("\"line\nbreak\",\"crlf\r\nin quotes\"\nnext\n", 8, out, sizeof(out));
    assert_string_equal(out, "line\nbreak|crlf\r\nin quotes;next;");
}

static void test_csv_reports_positions_of_fields(void **state)
{
    (void)state;
    const char *text = "ab,\"c\nd\",\xc3\xa9t\xc3\xa9,x\r\nyy,z\n";
    struct plan_csv c;
    assert_int_equal(plan_csv_init(&c, text, strlen(text), 8, 64), 0);
    assert_int_equal(plan_csv_next(&c), 1);
    assert_int_equal(c.nfields, 4);
    assert_int_equal(c.record_line, 1);
    assert_int_equal(c.fields[1].line, 1);
    assert_int_equal(c.fields[1].col, 4);
    assert_int_equal(c.fields[2].line, 2); /* after the quoted line break */
    assert_int_equal(c.fields[2].col, 4);
    assert_int_equal(c.fields[3].col, 8); /* "été" is 3 characters in 5 bytes */
    assert_int_equal(c.fields[2].len, 5);
    assert_int_equal(plan_csv_next(&c), 1);
    assert_int_equal(c.record_line, 3);
    assert_int_equal(c.fields[1].line, 3);
    assert_int_equal(c.fields[1].col, 4);
    assert_int_equal(plan_csv_next(&c), 0);
    plan_csv_release(&c);
}

static void test_csv_reports_syntax_errors_and_goes_on(void **state)
{
    (void)state;
    char out[256];
    read_all("a\"b,c\nok\n", 8, out, sizeof(out)); /* a quote inside a field */
    assert_string_equal(out, "!1:2;ok;");
    read_all("\"a\"b,c\nok\n", 8, out, sizeof(out)); /* text after a closing quote */
    assert_string_equal(out, "!1:4;ok;");
    read_all("a\rb\nok\n", 8, out, sizeof(out)); /* a bare carriage return */
    assert_string_equal(out, "!1:2;ok;");
    read_all("ok\nx,\"never closed\nmore\n", 8, out, sizeof(out));
    assert_string_equal(out, "ok;!2:3;");
    read_all("a,b,c,d\nok\n", 3, out, sizeof(out)); /* too many fields */
    assert_string_equal(out, "!1:7;ok;");
    static const char nul[] = "a\0b\nok\n";
    struct plan_csv c;
    assert_int_equal(plan_csv_init(&c, nul, sizeof(nul) - 1, 8, 64), 0);
    assert_int_equal(plan_csv_next(&c), -1);
    assert_int_equal(c.err_col, 2);
    assert_non_null(strstr(c.err, "NUL"));
    assert_int_equal(plan_csv_next(&c), 1);
    assert_string_equal(c.fields[0].s, "ok");
    plan_csv_release(&c);
    /* A record longer than the limit (64 bytes here). */
    char longrow[200];
    memset(longrow, 'x', 150);
    strcpy(longrow + 150, "\nok\n");
    read_all(longrow, 8, out, sizeof(out));
    assert_string_equal(out, "!1:1;ok;");
}

static void test_csv_number_date_and_text_checks(void **state)
{
    (void)state;
    double v;
    assert_int_equal(plan_csv_decimal("12", false, &v), 0);
    assert_true(v == 12);
    assert_int_equal(plan_csv_decimal("0.36979999999999996", false, &v), 0);
    assert_int_equal(plan_csv_decimal("8.0", false, &v), 0);
    assert_int_equal(plan_csv_decimal("1e-05", true, &v), 0);
    assert_true(v == 1e-05);
    static const char *const bad[] = {"",    "-1", "+1", ".5",  "5.",  "1e5", "nan",
                                      "inf", " 1", "1 ", "0x1", "1,5", "$1",  "1..2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (plan_csv_decimal(bad[i], false, &v) == 0)
            fail_msg("'%s' was taken as a number", bad[i]);
    assert_int_equal(plan_csv_decimal("1e999", true, &v), -1);

    assert_true(plan_csv_date_ok("2026-04-02"));
    assert_true(plan_csv_date_ok("2024-02-29"));
    assert_false(plan_csv_date_ok("2026-02-29"));
    assert_false(plan_csv_date_ok("1900-02-29"));
    assert_false(plan_csv_date_ok("2026-13-01"));
    assert_false(plan_csv_date_ok("2026-4-2"));
    assert_false(plan_csv_date_ok("2026/04/02"));
    assert_false(plan_csv_date_ok("1969-12-31"));

    size_t at;
    assert_true(plan_csv_text_ok("caf\xc3\xa9\tok", 8, &at));
    assert_false(plan_csv_text_ok("ab\x01", 3, &at));
    assert_int_equal(at, 2);
    assert_false(plan_csv_text_ok("ab\xff", 3, &at));
    assert_false(plan_csv_text_ok("\xc0\xaf", 2, &at));     /* overlong */
    assert_false(plan_csv_text_ok("\xed\xa0\x80", 3, &at)); /* surrogate */
    assert_int_equal(plan_csv_chars("\xc3\xa9t\xc3\xa9", 5), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_reads_fields_with_lf_and_crlf),
        cmocka_unit_test(test_csv_unquotes_fields),
        cmocka_unit_test(test_csv_reports_positions_of_fields),
        cmocka_unit_test(test_csv_reports_syntax_errors_and_goes_on),
        cmocka_unit_test(test_csv_number_date_and_text_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
