/* shortest.c: the shortest decimal text that reads back to a given double.
 *
 * spooky_f64_shortest(d, out) writes the shortest decimal that a correctly
 * rounding reader (strtod, Python's float()) turns back into exactly d; of
 * several shortest ones it takes the closest to d (ties: even last digit).
 * The layout is that of Python's repr(): fixed notation when the decimal
 * point falls within -4 < decpt <= 16 ("0.0001", "123.45", "1.0",
 * "1234567890123456.0"), else scientific with a signed exponent of at least
 * two digits ("1e+16", "1.5e-05", "5e-324"). The text always holds a '.' or
 * an 'e', so it re-parses as a float, and it is a valid JSON number.
 *
 * Method (after R. Giulietti, "The Schubfach way to render doubles", 2020):
 * for d = c 2^q, every decimal that rounds to d lies in the rounding interval
 * [cbl, cbr] 2^(q-2) (cbl = 4c - 2, or 4c - 1 at a binade's lower edge;
 * cbr = 4c + 2; closed when c is even, open when odd). The decimal exponent
 * k = floor(log10(width)) makes the interval, measured in units of 10^k,
 * between 1 and 10 units wide, so it holds at most one multiple of 10^(k+1).
 * If it does, that one is the shortest decimal (a one-digit rival, as 9 next
 * to 10, needs d < 20 10^k, i.e. c < 20: those few subnormals were checked
 * one by one); else the answer is s = floor(d / 10^k) or s + 1, whichever lies
 * inside, and the closer one if both do.
 *
 * The three scaled values X = n 2^q / 10^k (n = cbl, 4c, cbr: four times the
 * interval's ends and d, in units of 10^k) are computed as (n 2^h) g / 2^130
 * with a 128-bit g = floor(10^-k 2^r) + 1, which overestimates X by less than
 * 2^-69. Only comparisons of X with even integers are needed, so each X is
 * reduced to "round to odd": floor(X) when X is an integer, floor(X) | 1
 * otherwise. That is certain whenever the computed fraction is at least
 * 2^-64; when it is smaller, X is either an integer (decided exactly by
 * divisibility: n 2^(q-k) 5^-k) or is settled by an exact big-integer
 * comparison (a path that, by Giulietti's analysis, doubles do not reach, but
 * which keeps the result certain without relying on it; building with
 * -DSPOOKY_SHORTEST_FORCE_EXACT takes it always, for testing).
 *
 * The 617 values g are computed once, at first use (pthread_once), with
 * exact integer arithmetic. No floating-point arithmetic, snprintf or strtod
 * is involved; the code is thread-safe and free of locale effects. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include "internal.h"

typedef unsigned __int128 u128;

/* ---- small exact big integers (table set-up and the rare exact path) ---- */

#define BN_LIMBS 40 /* 1280 bits; the largest value used is below 830 bits */

typedef struct {
    uint32_t d[BN_LIMBS]; /* little-endian limbs */
    int n; /* limbs in use; no leading zero limb */
} bignum;

static void bn_set(bignum *b, uint64_t v) {
    b->n = 0;
    while (v) {
        b->d[b->n++] = (uint32_t)v;
        v >>= 32;
    }
}

static void bn_mul_small(bignum *b, uint32_t m) {
    uint64_t carry = 0;
    for (int i = 0; i < b->n; i++) {
        uint64_t t = (uint64_t)b->d[i] * m + carry;
        b->d[i] = (uint32_t)t;
        carry = t >> 32;
    }
    if (carry && b->n < BN_LIMBS) b->d[b->n++] = (uint32_t)carry;
}

static void bn_mul_pow5(bignum *b, int e) {
    for (; e >= 13; e -= 13) bn_mul_small(b, 1220703125u); /* 5^13 */
    uint32_t m = 1;
    for (; e > 0; e--) m *= 5;
    bn_mul_small(b, m);
}

static void bn_shl(bignum *b, int s) {
    int w = s / 32, r = s % 32;
    if (!b->n) return;
    if (b->n + w + 1 > BN_LIMBS) return; /* cannot happen with the sizes used here */
    b->d[b->n + w] = 0;
    for (int i = b->n - 1; i >= 0; i--) {
        uint64_t t = (uint64_t)b->d[i] << r;
        b->d[i + w + 1] |= (uint32_t)(t >> 32);
        b->d[i + w] = (uint32_t)t;
    }
    for (int i = 0; i < w; i++) b->d[i] = 0;
    b->n += w + 1;
    while (b->n && !b->d[b->n - 1]) b->n--;
}

static int bn_cmp(const bignum *a, const bignum *b) {
    if (a->n != b->n) return a->n < b->n ? -1 : 1;
    for (int i = a->n - 1; i >= 0; i--)
        if (a->d[i] != b->d[i]) return a->d[i] < b->d[i] ? -1 : 1;
    return 0;
}

static void bn_sub(bignum *a, const bignum *b) { /* a -= b, with a >= b */
    int64_t borrow = 0;
    for (int i = 0; i < a->n; i++) {
        int64_t t = (int64_t)a->d[i] - (i < b->n ? b->d[i] : 0) - borrow;
        borrow = t < 0;
        a->d[i] = (uint32_t)(t + (borrow << 32));
    }
    while (a->n && !a->d[a->n - 1]) a->n--;
}

static int bn_bitlen(const bignum *b) {
    if (!b->n) return 0;
    return 32 * (b->n - 1) + (32 - __builtin_clz(b->d[b->n - 1]));
}

static int bn_bit(const bignum *b, int i) {
    return i >= 0 && i / 32 < b->n ? (int)((b->d[i / 32] >> (i % 32)) & 1) : 0;
}

/* ---- the table: g(k) = floor(10^-k 2^(127 - F)) + 1, F = floor(log2 10^-k) ---- */

#define K_MIN (-324)
#define K_MAX 292

static uint64_t g_hi[K_MAX - K_MIN + 1], g_lo[K_MAX - K_MIN + 1];
static int16_t g_f[K_MAX - K_MIN + 1];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;
static atomic_int table_ready; /* set (release) once the table is complete */

static void make_table(void) {
    bignum p5;
    /* m = -k >= 0: 10^m = 5^m 2^m, so g is 5^m's top 128 bits, plus 1. */
    bn_set(&p5, 1);
    for (int m = 0; m <= -K_MIN; m++) {
        if (m) bn_mul_small(&p5, 5);
        int b5 = bn_bitlen(&p5);
        u128 g = 0;
        for (int i = 0; i < 128; i++) g = (g << 1) | (u128)bn_bit(&p5, b5 - 1 - i);
        g += 1;
        int idx = -m - K_MIN;
        g_hi[idx] = (uint64_t)(g >> 64);
        g_lo[idx] = (uint64_t)g;
        g_f[idx] = (int16_t)(b5 - 1 + m);
    }
    /* m = -k < 0, a = -m: 10^m 2^(127 - F) = 2^(127 + b5) / 5^a with
     * b5 = bitlen(5^a) and F = -(b5 + a); long division, one bit at a time. */
    bn_set(&p5, 1);
    for (int a = 1; a <= K_MAX; a++) {
        bn_mul_small(&p5, 5);
        int b5 = bn_bitlen(&p5);
        bignum r;
        bn_set(&r, 1);
        bn_shl(&r, b5 - 1); /* 2^(b5-1) < 5^a */
        u128 g = 0;
        for (int i = 0; i < 128; i++) {
            bn_shl(&r, 1);
            int bit = bn_cmp(&r, &p5) >= 0;
            if (bit) bn_sub(&r, &p5);
            g = (g << 1) | (u128)bit;
        }
        g += 1;
        int idx = a - K_MIN;
        g_hi[idx] = (uint64_t)(g >> 64);
        g_lo[idx] = (uint64_t)g;
        g_f[idx] = (int16_t) - (b5 + a);
    }
    atomic_store_explicit(&table_ready, 1, memory_order_release);
}

/* ---- the scaled values ---- */

static const uint64_t POW5[24] = {1ull,
                                  5ull,
                                  25ull,
                                  125ull,
                                  625ull,
                                  3125ull,
                                  15625ull,
                                  78125ull,
                                  390625ull,
                                  1953125ull,
                                  9765625ull,
                                  48828125ull,
                                  244140625ull,
                                  1220703125ull,
                                  6103515625ull,
                                  30517578125ull,
                                  152587890625ull,
                                  762939453125ull,
                                  3814697265625ull,
                                  19073486328125ull,
                                  95367431640625ull,
                                  476837158203125ull,
                                  2384185791015625ull,
                                  11920928955078125ull};

/* X = n 2^q / 10^k where the estimate of X is below 2^-64 above x, so X lies
 * in (x - 2^-69, x + 2^-64): returns X rounded to odd, exactly. */
static __attribute__((noinline)) uint64_t scaled_near_integer(uint64_t n, int q, int k,
                                                              uint64_t x) {
    /* n 2^q 10^-k = n 5^-k 2^(q-k) is an integer iff 2^(k-q) divides n and,
     * for k > 0, 5^k does too (5^24 > n). */
    if (__builtin_ctzll(n) >= k - q && (k <= 0 || (k <= 23 && n % POW5[k] == 0))) return x;
    /* Not an integer, so either just above x or just below: compare
     * n 5^-k 2^(q-k) with x exactly, negative powers moved across. */
    bignum l, r;
    bn_set(&l, n);
    bn_set(&r, x);
    if (k < 0)
        bn_mul_pow5(&l, -k);
    else
        bn_mul_pow5(&r, k);
    if (q - k > 0)
        bn_shl(&l, q - k);
    else
        bn_shl(&r, k - q);
    int c = bn_cmp(&l, &r);
    return c > 0 ? (x | 1) : c < 0 ? ((x - 1) | 1) : x;
}

/* X = n 2^q / 10^k (n = 4c etc., so X is 4 d / 10^k or an end of the
 * interval on that scale) rounded to odd: floor(X), with bit 0 set unless X
 * is an integer. ghi:glo is g(k) and h the shift that makes (n 2^h) g / 2^130
 * an overestimate of X by less than 2^-69 (n 2^h < 2^61, g - 10^-k 2^r <= 1). */
static inline uint64_t scaled(uint64_t n, int h, uint64_t ghi, uint64_t glo, int q, int k) {
    uint64_t np = n << h;
    u128 t = (u128)np * ghi + (((u128)np * glo) >> 64); /* floor(n 2^h g / 2^64) */
    uint64_t x = (uint64_t)(t >> 66); /* floor of the estimate */
#ifndef SPOOKY_SHORTEST_FORCE_EXACT /* (tests: take the exact path always) */
    if ((uint64_t)(t >> 2)) return x | 1; /* fraction >= 2^-64 > error: x < X < x + 1 */
#endif
    return scaled_near_integer(n, q, k, x);
}

/* ---- text ---- */

static const char DIGITS2[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

static const uint64_t POW10[20] = {1ull,
                                   10ull,
                                   100ull,
                                   1000ull,
                                   10000ull,
                                   100000ull,
                                   1000000ull,
                                   10000000ull,
                                   100000000ull,
                                   1000000000ull,
                                   10000000000ull,
                                   100000000000ull,
                                   1000000000000ull,
                                   10000000000000ull,
                                   100000000000000ull,
                                   1000000000000000ull,
                                   10000000000000000ull,
                                   100000000000000000ull,
                                   1000000000000000000ull,
                                   10000000000000000000ull};

static inline void put8(char *p, uint32_t v) { /* v < 10^8 as 8 digits */
    uint32_t a = v / 10000, b = v % 10000;
    memcpy(p, DIGITS2 + 2 * (a / 100), 2);
    memcpy(p + 2, DIGITS2 + 2 * (a % 100), 2);
    memcpy(p + 4, DIGITS2 + 2 * (b / 100), 2);
    memcpy(p + 6, DIGITS2 + 2 * (b % 100), 2);
}

/* The digits of v (0 < v < 10^17) right-aligned to end at zone + 24; returns
 * their count. */
static inline int put_digits(char *zone, uint64_t v) {
    int t = ((64 - __builtin_clzll(v)) * 1233) >> 12;
    int n = t + 1 - (v < POW10[t]);
    put8(zone + 16, (uint32_t)(v % 100000000));
    if (v >= 100000000) {
        uint64_t u = v / 100000000;
        put8(zone + 8, (uint32_t)(u % 100000000));
        zone[7] = (char)('0' + u / 100000000);
    }
    return n;
}

/* Writes dg[0..n) (no trailing zero) times 10^e in repr layout to p; returns
 * the end. Copies fixed-size blocks: dg must be readable 24 bytes past its
 * start, p writable 34 bytes past. */
static inline char *layout(char *p, const char *dg, int n, int e) {
    int decpt = n + e;
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) { /* 0.000ddd */
            memcpy(p, "0.000", 5);
            p += 2 - decpt;
            memcpy(p, dg, 24);
            return p + n;
        }
        if (decpt < n) { /* dd.ddd: decpt <= 16 and n - decpt <= 16 */
            memcpy(p, dg, 16);
            p[decpt] = '.';
            memcpy(p + decpt + 1, dg + decpt, 16);
            return p + n + 1;
        }
        memcpy(p, dg, 16); /* ddd00.0: n <= decpt <= 16 */
        memset(p + n, '0', 16);
        memcpy(p + decpt, ".0", 2);
        return p + decpt + 2;
    }
    p[0] = dg[0];
    p[1] = '.';
    memcpy(p + 2, dg + 1, 16);
    p += n > 1 ? n + 1 : 1;
    int x = decpt - 1;
    *p++ = 'e';
    *p++ = x < 0 ? '-' : '+';
    if (x < 0) x = -x;
    if (x >= 100) {
        *p++ = (char)('0' + x / 100);
        x %= 100;
    }
    memcpy(p, DIGITS2 + 2 * x, 2);
    return p + 2;
}

/* ---- short decimals: a fast path for the usual data (prices, coordinates) ---- */

static const double POW10D[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                  1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                  1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
#define SHORT_DECIMALS 9 /* places tried; more go the general way */

/* The least k in 1..SHORT_DECIMALS for which a decimal m 10^-k (m an
 * integer below 2^50) reads back to the positive non-integer double a of
 * these bits, or 0; m goes to *digits. Then m = round(a 10^k) and m 10^-k is
 * the result the general method gives: a correctly rounded division (m and
 * 10^k exact) decides that it reads back; a unit 10^-k more than 4 times the
 * spacing of doubles near a (m < 2^50) leaves at most one such decimal for
 * each k, so the least k has the fewest digits and no rival to be closer;
 * and such an m lies within m 2^-52 (< 1/4) of the product a 10^k, so
 * rounding the product finds it, and the cheap test before the division
 * keeps it. That one decimal for k = SHORT_DECIMALS is the least k's with
 * trailing zeros, so where a 10^SHORT_DECIMALS < 2^50 one test does: the
 * zeros stripped give k (a shorter decimal would have the same value). */
static int short_decimal_at(double a, int k, uint64_t *digits) {
    double t = a * POW10D[k];
    double m = (double)(uint64_t)(t + 0.5);
    double gap = t > m ? t - m : m - t;
    if (!(gap <= t * 0x1p-50 && m / POW10D[k] == a)) return 0;
    *digits = (uint64_t)m;
    return k;
}

static int short_decimal(uint64_t bits, uint64_t *digits) {
    double a;
    memcpy(&a, &bits, 8);
    if (a * POW10D[SHORT_DECIMALS] < 0x1p50) {
        int k = short_decimal_at(a, SHORT_DECIMALS, digits);
        if (!k) return 0;
        uint64_t m = *digits; /* not an integer: k stays >= 1 */
        for (; k > 4 && m % 10000 == 0; k -= 4) m /= 10000;
        for (; k > 2 && m % 100 == 0; k -= 2) m /= 100;
        for (; k > 1 && m % 10 == 0; k--) m /= 10;
        *digits = m;
        return k;
    }
    for (int k = 1; k <= SHORT_DECIMALS; k++) {
        if (a * POW10D[k] >= 0x1p50) return 0;
        if (short_decimal_at(a, k, digits)) return k;
    }
    return 0;
}

size_t spooky_f64_shortest(double d, char *out) {
    uint64_t bits;
    memcpy(&bits, &d, 8);
    int be = (int)((bits >> 52) & 0x7ff);
    uint64_t f = bits & ((1ull << 52) - 1);
    if (be == 0x7ff) return 0;
    char *p = out;
    if (bits >> 63) *p++ = '-';
    if (be == 0 && f == 0) {
        memcpy(p, "0.0", 3);
        return (size_t)(p + 3 - out);
    }
    uint64_t c = be ? f | (1ull << 52) : f;
    int q = be ? be - 1075 : -1074;
    char zone[48]; /* digits end at zone + 24; the rest keeps block copies in bounds */
    memset(zone + 24, '0', 24);

    if (q <= 0 && q > -53 && (c & ((1ull << -q) - 1)) == 0) { /* an integer below 2^53 */
        int n = put_digits(zone, c >> -q);
        memcpy(p, zone + 24 - n, 16);
        memcpy(p + n, ".0", 2);
        return (size_t)(p + n + 2 - out);
    }

    if (be >= 1023 - 14 && be < 1023 + 52) { /* 2^-14 <= |d| < 2^52: a short decimal? */
        uint64_t m;
        int k = short_decimal(bits & ~(1ull << 63), &m);
        if (k) {
            int n = put_digits(zone, m);
            return (size_t)(layout(p, zone + 24 - n, n, -k) - out);
        }
    }

    if (!atomic_load_explicit(&table_ready, memory_order_acquire))
        pthread_once(&table_once, make_table);
    int regular = f != 0 || be <= 1; /* else the gap below d is half the one above */
    /* k = floor(log10 of the interval's width), kept in e (exponent of dec);
     * floor(q log10 2) and floor(q log10 2 + log10 3/4), exact for every q
     * of a double (checked for all), with an arithmetic shift. */
    int e = regular ? (q * 315653) >> 20 : (q * 315653 - 130958) >> 20;
    int idx = e - K_MIN;
    uint64_t ghi = g_hi[idx], glo = g_lo[idx];
    int h = q + g_f[idx] + 3; /* 3..6 */

    uint64_t cb = c << 2, cbr = cb + 2, cbl = regular ? cb - 2 : cb - 1;
    uint64_t open = c & 1; /* odd c: the interval's ends do not round to d */
    uint64_t vb = scaled(cb, h, ghi, glo, q, e);
    uint64_t vbl = scaled(cbl, h, ghi, glo, q, e);
    uint64_t vbr = scaled(cbr, h, ghi, glo, q, e);

    /* Decided without branches where the data make them unpredictable. */
    uint64_t s = vb >> 2, s10 = s / 10, dec;
    uint64_t sp10 = s10 * 10, tp10 = sp10 + 10;
    int upin = vbl + open <= sp10 << 2, wpin = (tp10 << 2) + open <= vbr;
    int uin = vbl + open <= s << 2, win = ((s + 1) << 2) + open <= vbr;
    uint64_t mid = (s << 2) + 2; /* 4 (s + 1/2): s and s + 1 equally close */
    /* s + 1 if s is out, or both are in and s + 1 is closer (even at a tie) */
    int up = (uin ^ 1) | (win & ((vb > mid) | ((vb == mid) & (int)(s & 1))));
    dec = s + (uint64_t)up;
    if (upin != wpin) { /* the one multiple of 10^(k+1) in the interval */
        dec = s10 + (uint64_t)wpin;
        e++;
        if (dec % 10 == 0) {
            while (dec % 10000 == 0) {
                dec /= 10000;
                e += 4;
            }
            if (dec % 100 == 0) {
                dec /= 100;
                e += 2;
            }
            if (dec % 10 == 0) {
                dec /= 10;
                e += 1;
            }
        }
    }
    int n = put_digits(zone, dec);
    return (size_t)(layout(p, zone + 24 - n, n, e) - out);
}
