/*
 * Values with units as users write them: sizes (500GB, 2TB, 80GiB), durations (72h, 30m,
 * 1h30m, 3d) and plain numbers. Strict: "2 TB" and "2tb" are fine, "2T" and "two" are not.
 */
#include "parser/schema_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int spec_parse_number(const char *s, double *v)
{
    /* Decimal only: strtod would also take hex, "inf" and "nan". */
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    int digits = 0, dot = 0;
    for (; *p; p++) {
        if (isdigit((unsigned char)*p))
            digits++;
        else if (*p == '.' && !dot)
            dot = 1;
        else if ((*p == 'e' || *p == 'E') && digits)
            break;
        else
            return -1;
    }
    if (!digits)
        return -1;
    if (*p) { /* exponent */
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
        if (*p)
            return -1;
    }
    errno = 0;
    double d = strtod(s, NULL);
    if (errno == ERANGE || !isfinite(d))
        return -1;
    *v = d;
    return 0;
}

int spec_parse_int(const char *s, long long *v)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (!*p)
        return -1;
    for (; *p; p++)
        if (!isdigit((unsigned char)*p))
            return -1;
    errno = 0;
    long long n = strtoll(s, NULL, 10);
    if (errno == ERANGE)
        return -1;
    *v = n;
    return 0;
}

/* Splits "12.5 GB" into a number and a unit; the unit may be empty. */
static int split_unit(const char *s, double *num, const char **unit)
{
    char buf[64];
    size_t i = 0;
    while (s[i] && (isdigit((unsigned char)s[i]) || s[i] == '.'))
        i++;
    /* "5", "1.5" and "0.5"; not ".5" or "1." (the JSON Schema's pattern agrees). */
    if (i == 0 || i >= sizeof(buf) || !isdigit((unsigned char)s[0]) ||
        !isdigit((unsigned char)s[i - 1]))
        return -1;
    memcpy(buf, s, i);
    buf[i] = '\0';
    if (spec_parse_number(buf, num) < 0)
        return -1;
    while (s[i] == ' ')
        i++;
    *unit = s + i;
    return 0;
}

struct unit {
    const char *name;
    double factor;
};

static const struct unit size_units[] = {
    {"B", 1},
    {"KB", 1e3},
    {"MB", 1e6},
    {"GB", 1e9},
    {"TB", 1e12},
    {"PB", 1e15},
    {"KiB", 1024.0},
    {"MiB", 1048576.0},
    {"GiB", 1073741824.0},
    {"TiB", 1099511627776.0},
    {"PiB", 1125899906842624.0},
};

int spec_parse_size(const char *s, uint64_t *bytes, const char **why)
{
    double num;
    const char *unit;
    *why = "write a size with a unit, e.g. 500GB, 2TB or 80GiB";
    if (split_unit(s, &num, &unit) < 0)
        return -1;
    if (!*unit) {
        *why = "a size needs a unit: B, KB, MB, GB, TB, PB (powers of 1000) or KiB, MiB, GiB, "
               "TiB, PiB (powers of 1024)";
        return -1;
    }
    for (size_t i = 0; i < sizeof(size_units) / sizeof(size_units[0]); i++) {
        if (strcasecmp(unit, size_units[i].name) == 0) {
            double b = num * size_units[i].factor;
            if (b >= 18e18) {
                *why = "that size is too large";
                return -1;
            }
            *bytes = (uint64_t)(b + 0.5); /* below 2^64: llround would overflow past 2^63 */
            return 0;
        }
    }
    *why = "unknown size unit; use B, KB, MB, GB, TB, PB or KiB, MiB, GiB, TiB, PiB";
    return -1;
}

int spec_parse_hours(const char *s, double *hours, const char **why)
{
    *why = "write hours as a number (72) or a duration such as 72h, 30m, 1h30m, 3d or 2w";
    double total = 0;
    const char *p = s;
    if (!*p)
        return -1;
    double plain;
    if (spec_parse_number(s, &plain) == 0) {
        *hours = plain;
        return 0;
    }
    while (*p) {
        double num;
        const char *unit;
        if (split_unit(p, &num, &unit) < 0)
            return -1;
        double f;
        switch (*unit) {
        case 'w':
            f = 168;
            break;
        case 'd':
            f = 24;
            break;
        case 'h':
            f = 1;
            break;
        case 'm':
            f = 1.0 / 60;
            break;
        case 's':
            f = 1.0 / 3600;
            break;
        default:
            return -1;
        }
        total += num * f;
        p = unit + 1;
        while (*p == ' ')
            p++;
    }
    *hours = total;
    return 0;
}
