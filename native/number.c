/* number.c: numbers by value (number.h): exact comparison across i64, u64
 * and f64, and closeness within a tolerance. */
#include <math.h>
#include "number.h"

static inline int sign(int64_t a, int64_t b) { return (a > b) - (a < b); }
static inline int usign(uint64_t a, uint64_t b) { return (a > b) - (a < b); }

/* An integer (i64 when !is_u, else u64) against a double, exactly. */
static int cmp_int_f64(int64_t i, uint64_t u, int is_u, double d) {
    if (isnan(d)) return NUMBER_UNORDERED;
    if (is_u) {
        if (d < 0) return 1;
        if (d >= 18446744073709551616.0) return -1;
        double fl = floor(d);
        int c = usign(u, (uint64_t)fl);
        if (c) return c;
        return d > fl ? -1 : 0;
    }
    if (d >= 9223372036854775808.0) return -1;
    if (d < -9223372036854775808.0) return 1;
    double fl = floor(d);
    int c = sign(i, (int64_t)fl);
    if (c) return c;
    return d > fl ? -1 : 0;
}

int cmp_numbers(uint8_t ta, const uint8_t *a, uint8_t tb, const uint8_t *b) {
    if (ta == SPOOKY_F64 && tb == SPOOKY_F64) {
        double x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (isnan(x) || isnan(y)) return NUMBER_UNORDERED;
        return (x > y) - (x < y);
    }
    if (ta == SPOOKY_F64) {
        int c = cmp_numbers(tb, b, ta, a);
        return c == NUMBER_UNORDERED ? c : -c;
    }
    int64_t i = (int64_t)load_u64(a);
    uint64_t u = load_u64(a);
    if (tb == SPOOKY_F64) {
        double y;
        memcpy(&y, b, 8);
        return cmp_int_f64(i, u, ta == SPOOKY_U64, y);
    }
    int64_t j = (int64_t)load_u64(b);
    uint64_t v = load_u64(b);
    if (ta == tb) return ta == SPOOKY_U64 ? usign(u, v) : sign(i, j);
    if (ta == SPOOKY_I64) return i < 0 ? -1 : usign((uint64_t)i, v); /* i64 vs u64 */
    return j < 0 ? 1 : usign(u, (uint64_t)j); /* u64 vs i64 */
}

typedef unsigned __int128 u128;

/* |x| of an integer value (i64 or u64) without overflow. */
static uint64_t magnitude(uint8_t t, const uint8_t *p) {
    uint64_t u = load_u64(p);
    if (t == SPOOKY_U64 || (int64_t)u >= 0) return u;
    return 0 - u; /* two's complement: -(i64 min) fits u64 */
}

static int negative(uint8_t t, const uint8_t *p) {
    return t == SPOOKY_I64 && (int64_t)load_u64(p) < 0;
}

/* Two integers: d = |a-b| (< 2^65) against abs and rel * max(|a|,|b|),
 * exactly: rel is m * 2^e (m < 2^53 an integer), so rel * max is the
 * integer m * max (< 2^117) scaled by 2^e, and d, an integer, is at most
 * x / 2^k exactly when it is at most floor(x / 2^k). */
static int ints_close(uint8_t ta, const uint8_t *a, uint8_t tb, const uint8_t *b,
                      const number_tolerance *tol) {
    uint64_t ma = magnitude(ta, a), mb = magnitude(tb, b);
    u128 d = negative(ta, a) == negative(tb, b) ? (u128)(ma > mb ? ma - mb : mb - ma)
                                                : (u128)ma + (u128)mb;
    if (tol->abs >= 0x1p100 || d <= (u128)floor(tol->abs)) return 1;
    if (tol->rel == 0) return 0;
    int exp;
    double fr = frexp(tol->rel, &exp); /* rel = fr * 2^exp, fr in [0.5, 1) */
    uint64_t m = (uint64_t)ldexp(fr, 53);
    int e = exp - 53;
    u128 x = (u128)m * (u128)(ma > mb ? ma : mb);
    if (e >= 0) { /* d <= x * 2^e: ceil(d / 2^e) <= x */
        u128 q = e >= 100 ? (d != 0) : (d >> e) + ((d & (((u128)1 << e) - 1)) != 0);
        return q <= x;
    }
    return -e >= 128 ? d == 0 : d <= (x >> -e);
}

static double as_double(uint8_t t, const uint8_t *p) {
    if (t == SPOOKY_F64) {
        double d;
        memcpy(&d, p, 8);
        return d;
    }
    return t == SPOOKY_U64 ? (double)load_u64(p) : (double)(int64_t)load_u64(p);
}

/* A float with an integral value in the integers' range as one (tag and
 * bytes into p): 1, or 0 when it is not. */
static int integral(const uint8_t *v, uint8_t *tag, uint8_t *p) {
    double d;
    memcpy(&d, v, 8);
    if (!(d == floor(d) && d >= -9223372036854775808.0 && d < 18446744073709551616.0)) return 0;
    if (d < 9223372036854775808.0) {
        *tag = SPOOKY_I64;
        store_u64(p, (uint64_t)(int64_t)d);
    } else {
        *tag = SPOOKY_U64;
        store_u64(p, (uint64_t)d);
    }
    return 1;
}

int numbers_close(uint8_t ta, const uint8_t *a, uint8_t tb, const uint8_t *b,
                  const number_tolerance *tol) {
    int c = cmp_numbers(ta, a, tb, b);
    if (c == 0) return 1;
    if (c == NUMBER_UNORDERED) return 0;
    if (ta != SPOOKY_F64 && tb != SPOOKY_F64) return ints_close(ta, a, tb, b, tol);
    uint8_t fa[8], fb[8]; /* an integer and an integral float: two integers */
    if (ta == SPOOKY_F64 && tb != SPOOKY_F64 && integral(a, &ta, fa))
        return ints_close(ta, fa, tb, b, tol);
    if (tb == SPOOKY_F64 && ta != SPOOKY_F64 && integral(b, &tb, fb))
        return ints_close(ta, a, tb, fb, tol);
    double x = as_double(ta, a), y = as_double(tb, b);
    double d = fabs(x - y), m = fmax(fabs(x), fabs(y));
    if (isinf(d)) /* finite values beyond double's range apart: halved, the same test */
        return fabs(x * 0.5 - y * 0.5) <= tol->rel * (m * 0.5);
    return d <= tol->abs || d <= tol->rel * m;
}
