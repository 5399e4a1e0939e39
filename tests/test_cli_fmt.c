/* test_cli_fmt.c — the CLI's number formatting (src/cli/fmt.c, compiled into this test):
 * cli_fmt_f10 writes exactly what printf's "%.10f" writes, on the values where the two
 * could part: exact ties at the tenth decimal (k / 2^11 ...), neighbours of the rounding
 * boundaries, signed zeros, subnormals, the edge of the integer path (2^30) and beyond,
 * non-finite values, and a few million random doubles of every magnitude. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fmt.h"

static uint64_t state = 0x9e3779b97f4a7c15ULL;
static uint64_t next(void) { /* xorshift64 */
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return state;
}

static long checked;

static void same_as_printf(double v) {
    char got[CLI_FMT_F10_CAP], want[CLI_FMT_F10_CAP];
    const size_t n = cli_fmt_f10(got, v);
    const int m = snprintf(want, sizeof want, "%.10f", v);
    cr_assert_str_eq(got, want, "%a (%.17g)", v, v);
    cr_assert_eq((int)n, m, "%a: length", v);
    checked++;
}

Test(cli_fmt, f10_special_values) {
    const double v[] = {0.0, -0.0, 1.0, -1.0, 0.5, 1.0 / 2048, 3.0 / 2048, 5.0 / 2048, -1.0 / 2048, 1e-10, 5e-11,
                        1e-11, 0.99999999995, 9.99999999995, 4.94e-324, -4.94e-324, 2.2250738585072014e-308,
                        1073741823.9999999, 1073741824.0, -1073741824.5, 2e9, 1e300, -1e300, INFINITY, -INFINITY,
                        NAN, -NAN, 3.5, 4.2999999999, 4.29999999995};
    for (size_t k = 0; k < sizeof v / sizeof *v; k++) same_as_printf(v[k]);
    char buf[CLI_FMT_F10_CAP];
    cr_assert_str_eq((cli_fmt_f10(buf, 1.0 / 2048), buf), "0.0004882812", "a tie goes to the even digit");
    cr_assert_str_eq((cli_fmt_f10(buf, 3.0 / 2048), buf), "0.0014648438", "a tie goes to the even digit");
}

Test(cli_fmt, f10_ties_and_boundaries) {
    for (int k = 0; k < 150000; k++) {
        /* dyadic values with 11 .. 40 fractional bits: exact ties at the 11th decimal */
        same_as_printf(ldexp((double)(next() % ((uint64_t)1 << 40)), -(11 + (int)(next() % 30))));
        /* a decimal boundary n·10^-10 + 5·10^-11 and its neighbours */
        const double w = (double)(next() % 100000000000ULL) / 1e10 + 5e-11;
        same_as_printf(w), same_as_printf(nextafter(w, 0)), same_as_printf(nextafter(w, 10));
    }
}

Test(cli_fmt, f10_random_doubles) {
    for (int k = 0; k < 200000; k++) {
        uint64_t b = next();
        double v;
        memcpy(&v, &b, sizeof v); /* any bit pattern: every magnitude, NaNs, infinities */
        same_as_printf(v);
        same_as_printf(ldexp((double)(next() >> 11), (int)(next() % 90) - 113)); /* 2^-60 .. 2^30 */
        same_as_printf(1.0 + 4.0 * (double)(next() >> 11) / 9007199254740992.0); /* ratings' range */
    }
    cr_assert_geq(checked, 600000);
}
