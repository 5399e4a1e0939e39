/*
 * read_num.h — the ratings readers' number parser (private to read_text.c, read_mm.c and
 * their tests).
 *
 * cf_parse_float parses one decimal field that is not NUL-terminated (the readers
 * work on a memory-mapped file): [+-]? digits [. digits] ([eE] [+-]? digits)?, with at
 * least one digit before the exponent and nothing after it. It does not depend on the
 * locale (the decimal point is always '.'), unlike strtod.
 *
 * Method: the first 19 significant digits go into a uint64 mantissa m with a decimal
 * exponent e, so the field is m·10^e up to a relative error below 1e-18 (digits after the
 * 19th are dropped). Then (Clinger's fast path):
 *   - m < 2^24 and |e| ≤ 10 (every rating with up to 7 significant digits): m and 10^|e|
 *     are exact floats, so one float multiply or divide gives the correctly rounded
 *     float, the same as strtof;
 *   - m ≤ 2^53 and |e| ≤ 22: the same in double, then rounded to float;
 *   - otherwise 10^e is applied in double in steps of 1e22 (~1e-15 relative).
 * The last two round twice, so in rare cases the result is one float ulp from the
 * nearest — correct to float precision.
 *
 * "nan", "inf", "infinity" (any case, signed) and values beyond the float range
 * (e.g. 1e999, 1e39) are reported as CF_NUM_NONFINITE, not as syntax errors, so that
 * the readers can say what is wrong.
 */
#ifndef CF_READ_NUM_H
#define CF_READ_NUM_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <strings.h>

enum { CF_NUM_OK = 0, CF_NUM_SYNTAX = 1, CF_NUM_NONFINITE = 2 };

static inline int cf_parse_float(const char *s, size_t len, float *out) {
    static const double pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                      1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                      1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    size_t k = 0;
    int neg = 0;
    if (k < len && (s[k] == '+' || s[k] == '-')) neg = s[k++] == '-';
    if (k < len && (s[k] | 0x20) >= 'a' && (s[k] | 0x20) <= 'z') {
        size_t n = len - k;
        if ((n == 3 && (!strncasecmp(s + k, "nan", 3) || !strncasecmp(s + k, "inf", 3))) ||
            (n == 8 && !strncasecmp(s + k, "infinity", 8)))
            return CF_NUM_NONFINITE;
        return CF_NUM_SYNTAX;
    }
    uint64_t m = 0;
    int nd = 0;        /* significant digits kept in m */
    int64_t e = 0;     /* decimal exponent of m */
    int digits = 0;    /* any mantissa digit at all */
    for (; k < len; k++) {
        unsigned d = (unsigned)(unsigned char)s[k] - '0';
        if (d > 9) break;
        digits = 1;
        if (nd < 19) {
            m = m * 10 + d;
            nd += m != 0;
        } else {
            e++;       /* a dropped integer digit still scales the value */
        }
    }
    if (k < len && s[k] == '.') {
        for (k++; k < len; k++) {
            unsigned d = (unsigned)(unsigned char)s[k] - '0';
            if (d > 9) break;
            digits = 1;
            if (nd < 19) {
                m = m * 10 + d;
                nd += m != 0;
                e--;
            }
        }
    }
    if (!digits) return CF_NUM_SYNTAX;
    if (k < len && (s[k] == 'e' || s[k] == 'E')) {
        k++;
        int eneg = 0;
        if (k < len && (s[k] == '+' || s[k] == '-')) eneg = s[k++] == '-';
        if (k >= len || (unsigned)(unsigned char)s[k] - '0' > 9) return CF_NUM_SYNTAX;
        int64_t x = 0;
        for (; k < len; k++) {
            unsigned d = (unsigned)(unsigned char)s[k] - '0';
            if (d > 9) break;
            if (x < 100000) x = x * 10 + d; /* saturate: beyond ±1e5 it is 0 or ∞ anyway */
        }
        e += eneg ? -x : x;
    }
    if (k != len) return CF_NUM_SYNTAX;

    static const float pow10f[11] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f, 1e6f, 1e7f, 1e8f, 1e9f, 1e10f};
    if (m < (1u << 24) && e >= -10 && e <= 10) {
        float f = e < 0 ? (float)m / pow10f[-e] : (float)m * pow10f[e];
        *out = neg ? -f : f;
        return CF_NUM_OK;
    }
    double v;
    if (m == 0) {
        v = 0.0;
    } else if (m <= (1ULL << 53) && e >= -22 && e <= 22) {
        v = e < 0 ? (double)m / pow10[-e] : (double)m * pow10[e];
    } else if (e > 400) {
        return CF_NUM_NONFINITE;
    } else if (e < -400) {
        v = 0.0;
    } else {
        v = (double)m;
        for (; e > 22; e -= 22) v *= 1e22;
        for (; e < -22; e += 22) v /= 1e22;
        v = e < 0 ? v / pow10[-e] : v * pow10[e];
    }
    float f = (float)v;
    if (isinf(f)) return CF_NUM_NONFINITE;
    *out = neg ? -f : f;
    return CF_NUM_OK;
}

/* cf_parse_time parses a timestamp field: [+-]? digits, within int64 (Unix seconds or any
 * integer clock; a trailing ".0…" — zeros only — is accepted, as some exports write
 * integers as floats). CF_NUM_OK, or CF_NUM_SYNTAX for anything else (an overflow
 * included). */
static inline int cf_parse_time(const char *s, size_t len, int64_t *out) {
    size_t k = 0;
    int neg = 0;
    if (k < len && (s[k] == '+' || s[k] == '-')) neg = s[k++] == '-';
    const size_t d0 = k;
    uint64_t v = 0;
    for (; k < len && (unsigned)(unsigned char)s[k] - '0' <= 9; k++) {
        const unsigned d = (unsigned)(unsigned char)s[k] - '0';
        if (v > (UINT64_MAX - d) / 10) return CF_NUM_SYNTAX;
        v = v * 10 + d;
    }
    if (k == d0) return CF_NUM_SYNTAX;
    if (k < len && s[k] == '.')
        for (k++; k < len && s[k] == '0'; k++) {
        }
    if (k != len || v > (uint64_t)INT64_MAX + (uint64_t)neg) return CF_NUM_SYNTAX;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return CF_NUM_OK;
}

#endif
