/*
 * fmt.c — see fmt.h. The "%.10f" of |v| = m · 2^(ex − 53) (m < 2^53, from frexp) is the
 * integer N = round(m · 10^10 / 2^s), s = 53 − ex, written with ten digits after the
 * point: m · 10^10 < 2^87 is exact in 128 bits, and the s bits shifted out decide the
 * rounding (above half up, below down, exactly half to the even N, as glibc in the
 * default rounding mode). ex ≤ 30 (|v| < 2^30) keeps N < 2^30 · 10^10 < 2^64.
 */
#include "fmt.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

size_t cli_fmt_f10(char *buf, double v) {
    static const uint64_t E10 = 10000000000ULL;
    int ex;
    const double f = frexp(fabs(v), &ex); /* |v| = f · 2^ex, f in [0.5, 1) */
    if (!isfinite(v) || ex > 30) return (size_t)snprintf(buf, CLI_FMT_F10_CAP, "%.10f", v);
    const uint64_t m = (uint64_t)ldexp(f, 53); /* exact: |v| = m · 2^(ex − 53) */
    const int s = 53 - ex;                     /* |v| · 10^10 = m · 10^10 / 2^s, s ≥ 23 */
    __extension__ typedef unsigned __int128 u128;
    const u128 P = (u128)m * E10;
    uint64_t N;
    if (s >= 128) {
        N = 0; /* P < 2^87: below 2^-41, far from a half */
    } else {
        const u128 q = P >> s, rem = P - (q << s), half = (u128)1 << (s - 1);
        N = (uint64_t)q + (rem > half || (rem == half && (q & 1)));
    }
    char tmp[24];
    int n = 0;
    uint64_t ip = N / E10, fp = N % E10;
    for (int d = 0; d < 10; d++) tmp[n++] = (char)('0' + fp % 10), fp /= 10;
    tmp[n++] = '.';
    do tmp[n++] = (char)('0' + ip % 10), ip /= 10;
    while (ip);
    size_t len = 0;
    if (signbit(v)) buf[len++] = '-';
    while (n) buf[len++] = tmp[--n];
    buf[len] = '\0';
    return len;
}
