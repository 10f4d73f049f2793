/* json.c: strict JSON (RFC 8259) straight into record bytes, nested values
 * into the canonical CBOR of docs/FORMAT.md. One pass, no tree. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include "internal.h"
#include "encoder.h"
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#ifdef __GNUC__
#define NOINLINE __attribute__((noinline)) /* keeps hot callers small */
#define COLD __attribute__((noinline, cold))
#else
#define NOINLINE
#define COLD
#endif

#define FAIL(enc, code_, msg)                                                                      \
    do {                                                                                           \
        (enc)->err_code = (code_);                                                                 \
        (enc)->err_pos = (enc)->p;                                                                 \
        (enc)->err_msg = (msg);                                                                    \
        return (code_);                                                                            \
    } while (0)

/* The parsers take the input position p and return the position after what
 * they parsed, or NULL once fail() has recorded the error in enc. */
COLD static const uint8_t *fail(spooky_encoder *enc, const uint8_t *at, int code, const char *msg) {
    enc->p = at;
    enc->err_code = code;
    enc->err_pos = at;
    enc->err_msg = msg;
    return NULL;
}

COLD static const uint8_t *fail_rc(spooky_encoder *enc, const uint8_t *at, int code) {
    return fail(enc, at, code, spooky_strerror(code));
}

/* fail() for functions that return a status. */
COLD static int fail_code(spooky_encoder *enc, const uint8_t *at, int code, const char *msg) {
    fail(enc, at, code, msg);
    return code;
}

/* NULL from a parser: pass it on. */
#define TRYP(p, expr)                                                                              \
    do {                                                                                           \
        if (!((p) = (expr))) return NULL;                                                          \
    } while (0)

/* A buffer status (SPOOKY_E_NOMEM) from a parser at position at. */
#define TRYB(enc, at, expr)                                                                        \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_) return fail_rc(enc, at, rc_);                                                     \
    } while (0)

static locale_t the_c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static void make_c_locale(void) { the_c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

static locale_t c_locale(void) {
    pthread_once(&c_locale_once, make_c_locale);
    return the_c_locale;
}

spooky_encoder *spooky_encoder_new(void) {
    spooky_encoder *enc = calloc(1, sizeof *enc);
    if (enc && !c_locale()) {
        free(enc);
        return NULL;
    }
    return enc;
}

int spooky_encoder_set_big_int(spooky_encoder *enc, int mode) {
    if (!enc || (mode != SPOOKY_BIG_INT_ERROR && mode != SPOOKY_BIG_INT_FLOAT)) return SPOOKY_E_ARG;
    enc->big_int = mode;
    return SPOOKY_OK;
}

void spooky_encoder_free(spooky_encoder *enc) {
    if (!enc) return;
    spooky_buf_free(&enc->vals);
    spooky_buf_free(&enc->keys);
    spooky_buf_free(&enc->tmp);
    spooky_buf_free(&enc->num);
    free(enc->fields);
    free(enc->sorted);
    spooky_buf_free(&enc->ckeys);
    free(enc->ckey);
    free(enc->members);
    free(enc);
}

/* internal.h's buffer helpers with the growing kept out of line, so that
 * the hot callers need fewer registers. */
NOINLINE static int grow_slow(spooky_buf *buf, size_t extra) { return buf_grow(buf, extra); }

static inline int grow(spooky_buf *buf, size_t extra) {
    return buf->cap - buf->len >= extra ? SPOOKY_OK : grow_slow(buf, extra);
}

static inline int append(spooky_buf *buf, const void *data, size_t n) {
    TRY(grow(buf, n));
    if (n) memcpy(buf->data + buf->len, data, n);
    buf->len += n;
    return SPOOKY_OK;
}

static inline int push(spooky_buf *buf, uint8_t byte) {
    TRY(grow(buf, 1));
    buf->data[buf->len++] = byte;
    return SPOOKY_OK;
}

/* The first non-whitespace byte at or after p (or end). */
static inline const uint8_t *skip_ws(const uint8_t *p, const uint8_t *end) {
    while (p < end && *p <= ' ' && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    return p;
}

/* ---- CBOR heads ---------------------------------------------------------- */

static inline void store_be32(uint8_t *p, uint32_t v) {
#ifdef __GNUC__
    v = __builtin_bswap32(v);
    memcpy(p, &v, 4);
#else
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i));
#endif
}

static inline void store_be64(uint8_t *p, uint64_t v) {
#ifdef __GNUC__
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
#else
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (56 - 8 * i));
#endif
}

/* Writes the shortest head for (major, n) at dst (9 bytes room); returns its length. */
static inline size_t put_head(uint8_t *dst, uint8_t major, uint64_t n) {
    uint8_t m = (uint8_t)(major << 5);
    if (n < 24) {
        dst[0] = m | (uint8_t)n;
        return 1;
    }
    if (n <= 0xff) {
        dst[0] = m | 24;
        dst[1] = (uint8_t)n;
        return 2;
    }
    if (n <= 0xffff) {
        dst[0] = m | 25;
        dst[1] = (uint8_t)(n >> 8);
        dst[2] = (uint8_t)n;
        return 3;
    }
    if (n <= 0xffffffffULL) {
        dst[0] = m | 26;
        store_be32(dst + 1, (uint32_t)n);
        return 5;
    }
    dst[0] = m | 27;
    store_be64(dst + 1, n);
    return 9;
}

static inline int cbor_head(spooky_buf *out, uint8_t major, uint64_t n) {
    TRY(grow(out, 9));
    out->len += put_head(out->data + out->len, major, n);
    return SPOOKY_OK;
}

/* close_head() for n >= 24: the head is longer than its placeholder. */
NOINLINE static int close_long_head(spooky_buf *out, size_t head_pos, uint8_t major, uint64_t n) {
    uint8_t head[9];
    size_t head_len = put_head(head, major, n);
    size_t content = out->len - head_pos - 1;
    TRY(grow(out, head_len - 1));
    memmove(out->data + head_pos + head_len, out->data + head_pos + 1, content);
    memcpy(out->data + head_pos, head, head_len);
    out->len = head_pos + head_len + content;
    return SPOOKY_OK;
}

/* The content after a 1-byte placeholder at head_pos is complete: write the
 * shortest head for (major, n), moving the content if the head is longer. */
static inline int close_head(spooky_buf *out, size_t head_pos, uint8_t major, uint64_t n) {
    if (n < 24) {
        out->data[head_pos] = (uint8_t)(major << 5) | (uint8_t)n;
        return SPOOKY_OK;
    }
    return close_long_head(out, head_pos, major, n);
}

static int cbor_f64(spooky_buf *out, double d) {
    uint64_t bits;
    memcpy(&bits, &d, 8);
    TRY(grow(out, 9));
    uint8_t *b = out->data + out->len;
    b[0] = 0xfb;
    store_be64(b + 1, bits);
    out->len += 9;
    return SPOOKY_OK;
}

/* ---- strings --------------------------------------------------------------- */

/* memcpy(dst, src, n); if room16 (16 bytes may be read at src and written at
 * dst), a short copy is one fixed 16-byte move instead of a call. */
static inline void copy_bytes(uint8_t *dst, const uint8_t *src, size_t n, int room16) {
    if (room16 && n <= 16)
        memcpy(dst, src, 16);
    else
        memcpy(dst, src, n);
}

/* 1 for the bytes a string copies as they are: printable ASCII but '"' and '\\'. */
#define X16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
static const uint8_t PLAIN[256] = {
    X16(0), X16(0), 1,      1,      0,      1,      1,      1,      1,      1,
    1,      1,      1,      1,      1,      1,      1,      1, /* 0x22 '"' */
    X16(1), X16(1), 1,      1,      1,      1,      1,      1,      1,      1,
    1,      1,      1,      1,      0,      1,      1,      1, /* 0x5c '\\' */
    X16(1), X16(1), X16(0), X16(0), X16(0), X16(0), X16(0), X16(0), X16(0), X16(0),
};
#undef X16

#ifdef __SSE2__
/* Bit i is set if p[i] is not plain, for the 16 bytes at p. The signed
 * compare flags bytes below 0x20 and from 0x80 on at once. */
static inline unsigned not_plain16(const uint8_t *p) {
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i special = _mm_or_si128(_mm_cmplt_epi8(x, _mm_set1_epi8(0x20)),
                                   _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
                                                _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))));
    return (unsigned)_mm_movemask_epi8(special);
}
#endif

/* The first byte at or after p (or end) that is not plain. */
static inline const uint8_t *skip_plain(const uint8_t *p, const uint8_t *end) {
#ifdef __SSE2__
    for (; end - p >= 16; p += 16) { /* 16 at a time while 16 remain */
        unsigned mask = not_plain16(p);
        if (mask) return p + __builtin_ctz(mask);
    }
#endif
    while (p < end && PLAIN[*p]) p++;
    return p;
}

static int hex4(const uint8_t *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    *out = v;
    return 0;
}

static int put_utf8(spooky_buf *out, unsigned cp) {
    uint8_t b[4];
    size_t k;
    if (cp < 0x80) {
        b[0] = (uint8_t)cp;
        k = 1;
    } else if (cp < 0x800) {
        b[0] = 0xc0 | (cp >> 6);
        b[1] = 0x80 | (cp & 0x3f);
        k = 2;
    } else if (cp < 0x10000) {
        b[0] = 0xe0 | (cp >> 12);
        b[1] = 0x80 | ((cp >> 6) & 0x3f);
        b[2] = 0x80 | (cp & 0x3f);
        k = 3;
    } else {
        b[0] = 0xf0 | (cp >> 18);
        b[1] = 0x80 | ((cp >> 12) & 0x3f);
        b[2] = 0x80 | ((cp >> 6) & 0x3f);
        b[3] = 0x80 | (cp & 0x3f);
        k = 4;
    }
    return append(out, b, k);
}

/* The rest of a string whose bytes run..p are plain and not yet appended:
 * appends its UTF-8 to out; returns the position past the closing quote. */
NOINLINE static const uint8_t *string_tail(spooky_encoder *enc, spooky_buf *out, const uint8_t *run,
                                           const uint8_t *p) {
    const uint8_t *end = enc->end;
    for (;;) {
        while (p < end && *p >= 0x80) { /* valid UTF-8 continues the run */
            size_t k = utf8_seq(p, end);
            if (!k) break;
            p = skip_plain(p + k, end);
        }
        if (p > run) TRYB(enc, p, append(out, run, (size_t)(p - run)));
        if (p >= end) return fail(enc, p, SPOOKY_E_JSON_SYNTAX, "unterminated string");
        uint8_t c = *p;
        if (c == '"') return p + 1;
        if (c < 0x20) return fail(enc, p, SPOOKY_E_JSON_SYNTAX, "control character in string");
        if (c >= 0x80) return fail(enc, p, SPOOKY_E_JSON_UTF8, "invalid UTF-8 in string");
        /* backslash */
        if (p + 1 >= end) return fail(enc, p, SPOOKY_E_JSON_SYNTAX, "unterminated string");
        uint8_t lit;
        switch (p[1]) {
        case '"': lit = '"'; break;
        case '\\': lit = '\\'; break;
        case '/': lit = '/'; break;
        case 'b': lit = '\b'; break;
        case 'f': lit = '\f'; break;
        case 'n': lit = '\n'; break;
        case 'r': lit = '\r'; break;
        case 't': lit = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (end - p < 6 || hex4(p + 2, &cp))
                return fail(enc, p, SPOOKY_E_JSON_SYNTAX, "bad \\u escape");
            p += 6;
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return fail(enc, p - 6, SPOOKY_E_JSON_UTF8, "lone low surrogate");
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) || lo < 0xdc00 ||
                    lo > 0xdfff)
                    return fail(enc, p - 6, SPOOKY_E_JSON_UTF8, "lone high surrogate");
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                p += 6;
            }
            TRYB(enc, p, put_utf8(out, cp));
            run = p;
            p = skip_plain(p, end);
            continue;
        }
        default: return fail(enc, p, SPOOKY_E_JSON_SYNTAX, "bad escape in string");
        }
        TRYB(enc, p, push(out, lit));
        run = p + 2;
        p = skip_plain(run, end);
    }
}

/* The length of the string body at p (past its opening quote) if it is
 * plain and shorter than 16 bytes, and 16 bytes may be read at p; else -1. */
static inline int short_plain(const uint8_t *p, const uint8_t *end) {
#ifdef __SSE2__
    if (end - p < 16) return -1;
    unsigned mask = not_plain16(p);
    if (!mask) return -1;
    int n = __builtin_ctz(mask);
    return p[n] == '"' ? n : -1;
#else
    (void)p;
    (void)end;
    return -1;
#endif
}

/* Parses the string at p (at its opening quote); appends its UTF-8 to out. */
NOINLINE static const uint8_t *parse_string_any(spooky_encoder *enc, spooky_buf *out,
                                                const uint8_t *p) {
    const uint8_t *end = enc->end;
    p++;
    const uint8_t *q = skip_plain(p, end);
    if (q < end && *q == '"') { /* all plain: one copy */
        size_t n = (size_t)(q - p);
        TRYB(enc, p, grow(out, n + 16));
        copy_bytes(out->data + out->len, p, n, end - p >= 16);
        out->len += n;
        return q + 1;
    }
    return string_tail(enc, out, p, q);
}

/* parse_string_any() with the common case inline. */
static inline const uint8_t *parse_string(spooky_encoder *enc, spooky_buf *out, const uint8_t *p) {
    int n = short_plain(p + 1, enc->end);
    if (n >= 0 && out->cap - out->len >= 16) {
        memcpy(out->data + out->len, p + 1, 16);
        out->len += (size_t)n;
        return p + n + 2;
    }
    return parse_string_any(enc, out, p);
}

/* ---- numbers --------------------------------------------------------------- */

static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

typedef struct {
    uint8_t tag; /* SPOOKY_I64, SPOOKY_U64 or SPOOKY_F64 */
    int64_t i;
    uint64_t u;
    double d;
} number;

static inline int is_digit(uint8_t c) { return (unsigned)c - '0' < 10; }

/* The value of 8 ASCII digits loaded little-endian (pairs, quads, then all). */
static inline uint32_t eight_digits(uint64_t v) {
    v = (v & 0x0F0F0F0F0F0F0F0FULL) * 2561 >> 8;
    v = (v & 0x00FF00FF00FF00FFULL) * 6553601 >> 16;
    return (uint32_t)((v & 0x0000FFFF0000FFFFULL) * 42949672960001ULL >> 32);
}

static const uint64_t POW10_U64[20] = {1ULL,
                                       10ULL,
                                       100ULL,
                                       1000ULL,
                                       10000ULL,
                                       100000ULL,
                                       1000000ULL,
                                       10000000ULL,
                                       100000000ULL,
                                       1000000000ULL,
                                       10000000000ULL,
                                       100000000000ULL,
                                       1000000000000ULL,
                                       10000000000000ULL,
                                       100000000000000ULL,
                                       1000000000000000ULL,
                                       10000000000000000ULL,
                                       100000000000000000ULL,
                                       1000000000000000000ULL,
                                       10000000000000000000ULL};

/* m followed by the digits p..q (the caller keeps the result below 2^64). */
static inline uint64_t digits_value(const uint8_t *p, const uint8_t *q, uint64_t m) {
    for (; q - p >= 8; p += 8) m = m * 100000000 + eight_digits(load_u64(p));
    for (; p < q; p++) m = m * 10 + (unsigned)(*p - '0');
    return m;
}

/* The end of the run of digits at p; *value is their value if there are at
 * most 19 of them (else it has wrapped around). */
static inline const uint8_t *scan_digits(const uint8_t *p, const uint8_t *end, uint64_t *value) {
    uint64_t m = 0;
#ifdef __GNUC__
    /* 8 at a time: a byte is a digit iff (b ^ '0') < 10, i.e. neither it nor
     * it + 6 has a high nibble; a carry only spoils bytes above a bad one. */
    while (end - p >= 8) {
        uint64_t v = load_u64(p), x = v ^ 0x3030303030303030ULL;
        uint64_t bad = (x | (x + 0x0606060606060606ULL)) & 0xF0F0F0F0F0F0F0F0ULL;
        if (bad) {
            unsigned k = (unsigned)__builtin_ctzll(bad) >> 3; /* digits before it */
            if (k) m = m * POW10_U64[k] + eight_digits(v << (64 - 8 * k));
            *value = m;
            return p + k;
        }
        m = m * 100000000 + eight_digits(v);
        p += 8;
    }
#endif
    for (; p < end && is_digit(*p); p++) m = m * 10 + (unsigned)(*p - '0');
    *value = m;
    return p;
}

#ifdef __SIZEOF_INT128__
typedef unsigned __int128 u128;

static inline int bit_length64(uint64_t x) { return 64 - __builtin_clzll(x); }

/* The double nearest to (n + f) * 2^e2, where 0 <= f < 1 is nonzero iff
 * sticky; ties to even. n > 0 and the result must be a normal double. */
static double round_u128(u128 n, int sticky, int e2) {
    uint64_t hi = (uint64_t)(n >> 64);
    int len = hi ? 64 + bit_length64(hi) : bit_length64((uint64_t)n);
    int drop = len - 54; /* keep 53 bits and a rounding bit */
    uint64_t top;
    if (drop > 0) {
        top = (uint64_t)(n >> drop);
        sticky |= (n & (((u128)1 << drop) - 1)) != 0;
    } else {
        top = (uint64_t)n << -drop;
    }
    uint64_t mant = top >> 1;
    if ((top & 1) && (sticky || (mant & 1))) mant++;
    e2 += drop + 1; /* value = mant * 2^e2 */
    if (mant >> 53) {
        mant >>= 1;
        e2++;
    }
    uint64_t bits = ((uint64_t)(e2 + 52 + 1023) << 52) | (mant & ((1ULL << 52) - 1));
    double d;
    memcpy(&d, &bits, 8);
    return d;
}
#endif

/* Sets *d to m * 10^e correctly rounded when that is quick to do exactly;
 * returns 0 (the caller falls back to strtod) otherwise. */
static int decimal_to_double(uint64_t m, long e, double *d) {
    if (m == 0) {
        *d = 0.0;
        return 1;
    }
    if (m <= (1ULL << 53) && e >= -22 && e <= 22) {
        double x = (double)m; /* exact, and so is POW10[|e|]: one rounding */
        *d = e < 0 ? x / POW10[-e] : x * POW10[e];
        return 1;
    }
#ifdef __SIZEOF_INT128__
    if (e >= 0 && e <= 19) { /* exact product below 2^128 */
        *d = round_u128((u128)m * POW10_U64[e], 0, 0);
        return 1;
    }
    if (e < 0 && e >= -19) {
        /* q = floor(m * 2^s / 10^k) with 2^62 < q < 2^64; the remainder
         * says whether anything was cut off. */
        uint64_t div = POW10_U64[-e];
        int s = bit_length64(div) + 63 - bit_length64(m);
        u128 n = (u128)m << s;
        uint64_t q = (uint64_t)(n / div);
        int sticky = n - (u128)q * div != 0;
        *d = round_u128(q, sticky, -s);
        return 1;
    }
#endif
    return 0;
}

/* Parses the number at p into *num. */
NOINLINE static const uint8_t *parse_number_any(spooky_encoder *enc, const uint8_t *p,
                                                number *num) {
    const uint8_t *start = p, *end = enc->end;
    int neg = 0, is_int = 1;
    int fits = 1; /* the integer part fits a u64 (in m) */
    int exact = 1; /* m holds every significant digit */
    size_t sig = 0; /* significant digits in m */
    uint64_t m = 0;
    long frac_digits = 0;
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    if (p < end && *p == '0') {
        p++;
        if (p < end && is_digit(*p))
            return fail(enc, p, SPOOKY_E_JSON_SYNTAX, "leading zero in number");
    } else if (p < end && *p >= '1' && *p <= '9') {
        const uint8_t *ds = p;
        p = scan_digits(p, end, &m);
        sig = (size_t)(p - ds);
        if (sig == 20) { /* fits a u64 unless above 18446744073709551615 */
            uint64_t hi = digits_value(ds, ds + 19, 0);
            unsigned d = (unsigned)(ds[19] - '0');
            if (hi <= (UINT64_MAX - d) / 10)
                m = hi * 10 + d;
            else
                fits = exact = 0;
        } else if (sig > 20) {
            fits = exact = 0;
        }
    } else {
        return fail(enc, p, SPOOKY_E_JSON_SYNTAX, "invalid value");
    }
    if (p < end && *p == '.') {
        is_int = 0;
        p++;
        if (!(p < end && is_digit(*p)))
            return fail(enc, p, SPOOKY_E_JSON_SYNTAX, "digit expected after '.'");
        const uint8_t *fs = p, *nz = p;
        if (m == 0)
            while (nz < end && *nz == '0') nz++; /* zeros before the first significant digit */
        uint64_t f;
        p = scan_digits(nz, end, &f);
        size_t nf = (size_t)(p - nz);
        if (exact && sig + nf <= 19) {
            m = m * POW10_U64[nf] + f;
            sig += nf;
            frac_digits = (long)(p - fs);
        } else {
            exact = 0;
        }
    }
    long exp10 = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        is_int = 0;
        p++;
        int eneg = 0;
        if (p < end && (*p == '+' || *p == '-')) {
            eneg = *p == '-';
            p++;
        }
        if (!(p < end && is_digit(*p)))
            return fail(enc, p, SPOOKY_E_JSON_SYNTAX, "digit expected in exponent");
        while (p < end && is_digit(*p)) {
            if (exp10 < 100000) exp10 = exp10 * 10 + (*p - '0');
            p++;
        }
        if (eneg) exp10 = -exp10;
    }
    if (is_int && fits) {
        if (neg) {
            if (m == 0) {
                num->tag = SPOOKY_F64;
                num->d = -0.0;
                return p;
            }
            if (m <= (uint64_t)INT64_MAX + 1) {
                num->tag = SPOOKY_I64;
                num->i = (int64_t)(0 - m);
                return p;
            }
        } else if (m <= (uint64_t)INT64_MAX) {
            num->tag = SPOOKY_I64;
            num->i = (int64_t)m;
            return p;
        } else {
            num->tag = SPOOKY_U64;
            num->u = m;
            return p;
        }
    }
    if (is_int) { /* beyond i64 and u64 */
        if (enc->big_int != SPOOKY_BIG_INT_FLOAT)
            return fail(enc, start, SPOOKY_E_JSON_BIG_INT, "integer does not fit i64 or u64");
        enc->big_ints++;
    }
    num->tag = SPOOKY_F64;
    double d;
    if (exact && decimal_to_double(m, exp10 - frac_digits, &d)) {
        num->d = neg ? -d : d;
        return p;
    }
    /* Slow path: correctly rounded strtod in the C locale on a copy. */
    size_t n = (size_t)(p - start);
    enc->num.len = 0;
    TRYB(enc, p, append(&enc->num, start, n));
    TRYB(enc, p, push(&enc->num, 0));
    d = strtod_l((const char *)enc->num.data, NULL, c_locale());
    if (isinf(d)) return fail(enc, start, SPOOKY_E_JSON_NUMBER, "number out of range of a double");
    num->d = d;
    return p;
}

/* parse_number_any() with its two common cases inline: plain integers of
 * up to 18 digits, and decimals without an exponent whose digits, read as
 * one integer, fit 2^53 (the same single division parse_number_any makes:
 * decimal_to_double's first case). */
static inline const uint8_t *parse_number(spooky_encoder *enc, const uint8_t *p, number *num) {
    const uint8_t *q = p, *end = enc->end;
    int neg = q < end && *q == '-';
    q += neg;
    if (q < end && *q >= '0' && *q <= '9') {
        uint64_t m = 0;
        const uint8_t *e = *q == '0' ? q + 1 : scan_digits(q, end, &m);
        size_t n_int = (size_t)(e - q);
        int dot = e < end && *e == '.';
        if (n_int <= 18 && !dot && !(e < end && (*e == 'e' || *e == 'E' || is_digit(*e)))) {
            if (!(neg && m == 0)) { /* -0 is a float: parse_number_any */
                num->tag = SPOOKY_I64; /* below 10^18: fits, negated too */
                num->i = neg ? -(int64_t)m : (int64_t)m;
                return e;
            }
        } else if (dot && n_int <= 18) {
            uint64_t f;
            const uint8_t *fe = scan_digits(e + 1, end, &f);
            size_t n_frac = (size_t)(fe - (e + 1));
            if (n_frac >= 1 && n_int + n_frac <= 19 && !(fe < end && (*fe == 'e' || *fe == 'E'))) {
                uint64_t all = m * POW10_U64[n_frac] + f;
                if (all <= (1ULL << 53)) { /* exact, and so is 10^n_frac: one rounding */
                    double d = (double)all / POW10[n_frac];
                    num->tag = SPOOKY_F64;
                    num->d = neg ? -d : d;
                    return fe;
                }
            }
        }
    }
    return parse_number_any(enc, p, num);
}

/* ---- nested values -> CBOR ------------------------------------------------- */

/* The n-byte literal word at p? */
static inline int is_word(const uint8_t *p, const uint8_t *end, const char *word, size_t n) {
    return (size_t)(end - p) >= n && memcmp(p, word, n) == 0;
}

static const uint8_t *cbor_value(spooky_encoder *enc, spooky_buf *out, const uint8_t *p, int depth);

/* The first byte of a value at or after p (whitespace skipped). */
static inline const uint8_t *value_start(spooky_encoder *enc, const uint8_t *p) {
    p = skip_ws(p, enc->end);
    return p < enc->end ? p : fail(enc, p, SPOOKY_E_JSON_SYNTAX, "value expected");
}

/* The literal true, false or null at p appended to out: as a CBOR simple
 * value when cbor, else as a field value (a bool's byte; null has none).
 * *tag: SPOOKY_BOOL or SPOOKY_NULL. */
static inline const uint8_t *put_literal(spooky_encoder *enc, spooky_buf *out, const uint8_t *p,
                                         int cbor, uint8_t *tag) {
    const uint8_t *end = enc->end;
    size_t n;
    uint8_t byte;
    *tag = SPOOKY_BOOL;
    if (is_word(p, end, "true", 4)) {
        n = 4, byte = cbor ? 0xf5 : 1;
    } else if (is_word(p, end, "false", 5)) {
        n = 5, byte = cbor ? 0xf4 : 0;
    } else if (is_word(p, end, "null", 4)) {
        *tag = SPOOKY_NULL;
        if (!cbor) return p + 4;
        n = 4, byte = 0xf6;
    } else {
        return fail(enc, p, SPOOKY_E_JSON_SYNTAX, "invalid value");
    }
    TRYB(enc, p, push(out, byte));
    return p + n;
}

static inline uint64_t load_be64(const uint8_t *p) {
    return (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 |
           (uint64_t)p[3] << 32 | (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 |
           (uint64_t)p[6] << 8 | p[7];
}

/* The first 8 key bytes, big-endian and zero-padded: ordered as the keys
 * are, unless equal. */
static inline uint64_t key_prefix(const uint8_t *k, size_t len) {
    uint64_t v = 0;
    if (len >= 8) return load_be64(k);
    for (size_t i = 0; i < len; i++) v = v << 8 | k[i];
    return len ? v << (64 - 8 * len) : 0;
}

/* A CBOR text string for the JSON string at p (at its opening quote);
 * *text_len is the length of its bytes (the last in out) and, if prefix is
 * not NULL, *prefix their key_prefix(). */
NOINLINE static const uint8_t *cbor_string_any(spooky_encoder *enc, spooky_buf *out,
                                               const uint8_t *p, size_t *text_len,
                                               uint64_t *prefix) {
    const uint8_t *end = enc->end;
    p++;
    const uint8_t *q = skip_plain(p, end);
    if (q < end && *q == '"') { /* all plain: the length is known up front */
        size_t n = (size_t)(q - p);
        TRYB(enc, p, grow(out, 9 + n + 16));
        uint8_t *dst = out->data + out->len;
        size_t k = put_head(dst, 3, n);
        copy_bytes(dst + k, p, n, end - p >= 16);
        out->len += k + n;
        *text_len = n;
        if (prefix) *prefix = key_prefix(p, n);
        return q + 1;
    }
    size_t head = out->len;
    TRYB(enc, p, push(out, 0));
    TRYP(q, string_tail(enc, out, p, q));
    *text_len = out->len - head - 1;
    if (prefix) *prefix = key_prefix(out->data + out->len - *text_len, *text_len);
    TRYB(enc, q, close_head(out, head, 3, *text_len));
    return q;
}

/* cbor_string_any() with the common case inline. */
static inline const uint8_t *cbor_string(spooky_encoder *enc, spooky_buf *out, const uint8_t *p,
                                         size_t *text_len, uint64_t *prefix) {
    int n = short_plain(p + 1, enc->end);
    if (n >= 0 && out->cap - out->len >= 17) {
        uint8_t *dst = out->data + out->len;
        dst[0] = (uint8_t)(0x60 | n); /* major type 3, n < 24 */
        memcpy(dst + 1, p + 1, 16);
        out->len += 1 + (size_t)n;
        *text_len = (size_t)n;
        if (prefix) { /* bytes past the text cleared */
            uint64_t v = load_be64(p + 1);
            *prefix = n >= 8 ? v : v & ~(UINT64_MAX >> (8 * n));
        }
        return p + n + 2;
    }
    return cbor_string_any(enc, out, p, text_len, prefix);
}

/* ---- the punctuation of arrays and objects ---- */

/* Past the '[' or '{' at p, and a 1-byte head placeholder for the container
 * (CBOR major type 4 or 5) at *head in out. *empty: the container closed at
 * once (then its head is written and the position is past its end). */
static inline const uint8_t *open_container(spooky_encoder *enc, spooky_buf *out, const uint8_t *p,
                                            uint8_t major, size_t *head, int *empty) {
    const uint8_t *end = enc->end;
    uint8_t close = major == 4 ? ']' : '}';
    *head = out->len;
    *empty = 0;
    TRYB(enc, p, push(out, 0));
    p = skip_ws(p + 1, end);
    *empty = p < end && *p == close;
    if (*empty) {
        TRYB(enc, p + 1, close_head(out, *head, major, 0));
        return p + 1;
    }
    return p;
}

/* After an element or member at p: past the ',' before the next (*more 1)
 * or past the container's closing byte (*more 0). */
static inline const uint8_t *next_item(spooky_encoder *enc, const uint8_t *p, uint8_t close,
                                       int *more) {
    const uint8_t *end = enc->end;
    int array = close == ']';
    if (p >= end || (*p != ',' && *p != close)) { /* whitespace is rare */
        p = skip_ws(p, end);
        if (p >= end)
            return fail(enc, p, SPOOKY_E_JSON_SYNTAX,
                        array ? "unterminated array" : "unterminated object");
    }
    *more = *p == ',';
    if (*p == ',' || *p == close) return p + 1;
    return fail(enc, p, SPOOKY_E_JSON_SYNTAX,
                array ? "',' or ']' expected" : "',' or '}' expected");
}

/* The opening quote of a member's key at or after p. */
static inline const uint8_t *member_key(spooky_encoder *enc, const uint8_t *p) {
    const uint8_t *end = enc->end;
    if (p >= end || *p != '"') {
        p = skip_ws(p, end);
        if (p >= end || *p != '"') return fail(enc, p, SPOOKY_E_JSON_SYNTAX, "object key expected");
    }
    return p;
}

/* Past the ':' after a member's key, at or after p. */
static inline const uint8_t *member_colon(spooky_encoder *enc, const uint8_t *p) {
    const uint8_t *end = enc->end;
    if (p >= end || *p != ':') {
        p = skip_ws(p, end);
        if (p >= end || *p != ':') return fail(enc, p, SPOOKY_E_JSON_SYNTAX, "':' expected");
    }
    return p + 1;
}

/* ---- arrays and objects -> CBOR ---- */

NOINLINE static const uint8_t *cbor_array(spooky_encoder *enc, spooky_buf *out, const uint8_t *p,
                                          int depth) {
    size_t head;
    uint64_t count = 0;
    int empty, more = 0;
    TRYP(p, open_container(enc, out, p, 4, &head, &empty));
    if (empty) return p;
    do {
        TRYP(p, cbor_value(enc, out, p, depth)); /* skips whitespace before the value */
        count++;
        TRYP(p, next_item(enc, p, ']', &more));
    } while (more);
    TRYB(enc, p, close_head(out, head, 4, count));
    return p;
}

/* Room for one more member. */
static inline int reserve_member(spooky_encoder *enc) {
    if (enc->nmembers < enc->cap_members) return SPOOKY_OK;
    return grow_array(&enc->members, &enc->cap_members, enc->nmembers + 1, sizeof *enc->members);
}

NOINLINE static int key_cmp_bytes(const member *a, const member *b, const uint8_t *base) {
    return bytes_cmp(base + a->key_off, a->key_len, base + b->key_off, b->key_len);
}

/* Key order (UTF-8 bytes) of two members; their keys are at base + key_off. */
static inline int key_cmp(const member *a, const member *b, const uint8_t *base) {
    if (a->prefix != b->prefix) return a->prefix < b->prefix ? -1 : 1;
    if (a->key_len <= 8 && b->key_len <= 8) /* the prefixes hold the keys */
        return a->key_len < b->key_len ? -1 : (a->key_len > b->key_len);
    return key_cmp_bytes(a, b, base);
}

/* Key order, then input order. */
static int member_qsort_cmp(const void *pa, const void *pb, void *base) {
    const member *a = pa, *b = pb;
    int c = key_cmp(a, b, base);
    if (c) return c;
    return a->order < b->order ? -1 : (a->order > b->order);
}

/* The key order of ms[0..n), n <= 16 (input order among equal keys), as
 * input positions in *ord: small[] or a remembered shape's. Returns whether
 * the members need a rewrite: out of order, or a key repeats. */
static int small_key_order(spooky_encoder *enc, const member *ms, size_t n, const uint8_t *base,
                           uint8_t small[16], const uint8_t **ord) {
    shape *sh = NULL;
    if (n >= 2 && n <= SHAPE_KEYS) { /* seen this shape lately? */
        uint64_t h = (ms[0].prefix ^ (ms[n - 1].prefix >> 7) ^ n) * 0x9E3779B97F4A7C15ULL;
        sh = &enc->shapes[h >> 60];
        size_t i = 0;
        if (sh->n == n)
            while (i < n && ms[i].prefix == sh->prefix[i] && ms[i].key_len == sh->len[i]) i++;
        if (i == n) {
            *ord = sh->ord;
            return !sh->sorted;
        }
    }
    int rewrite = 0;
    int cacheable = sh != NULL; /* keys of at most 8 bytes, none repeated */
    for (size_t i = 0; i < n; i++) { /* insertion sort */
        size_t j = i;
        int c = -1;
        while (j > 0 && (c = key_cmp(&ms[small[j - 1]], &ms[i], base)) > 0) {
            small[j] = small[j - 1];
            j--;
        }
        small[j] = (uint8_t)i;
        if (j != i || c == 0) rewrite = 1;
        if (c == 0 || ms[i].key_len > 8) cacheable = 0;
    }
    *ord = small;
    if (cacheable) {
        for (size_t i = 0; i < n; i++) {
            sh->prefix[i] = ms[i].prefix;
            sh->len[i] = (uint8_t)ms[i].key_len;
            sh->ord[i] = small[i];
        }
        sh->n = (uint8_t)n;
        sh->sorted = !rewrite;
    }
    return rewrite;
}

/* Puts the members ms[0..n) of an object whose body starts at out[body] in
 * key order, keeping the last of equal keys; *count is how many stay. */
static int sort_members(spooky_encoder *enc, spooky_buf *out, member *ms, size_t n, size_t body,
                        uint64_t *count) {
    uint8_t small[16];
    const uint8_t *ord = NULL; /* NULL: ms[] itself is in key order */
    int rewrite = 0;
    *count = n;
    if (n <= 16) {
        rewrite = small_key_order(enc, ms, n, out->data, small, &ord);
    } else {
        for (size_t i = 1; i < n && !rewrite; i++)
            if (key_cmp(&ms[i - 1], &ms[i], out->data) >= 0) rewrite = 1;
        if (rewrite) qsort_r(ms, n, sizeof *ms, member_qsort_cmp, out->data);
    }
    if (!rewrite) return SPOOKY_OK;
    /* the members in key order into tmp (16 bytes of slack in both for
     * copy_bytes), then back */
    enc->tmp.len = 0;
    TRY(grow(&enc->tmp, out->len - body + 16));
    TRY(grow(out, 16));
    uint8_t *dst = enc->tmp.data;
    *count = 0;
    for (size_t i = 0; i < n; i++) {
        const member *m = &ms[ord ? ord[i] : i];
        if (i + 1 < n && key_cmp(m, &ms[ord ? ord[i + 1] : i + 1], out->data) == 0) continue;
        size_t len = m->end - m->start;
        copy_bytes(dst, out->data + m->start, len, 1);
        dst += len;
        ++*count;
    }
    size_t body_len = (size_t)(dst - enc->tmp.data);
    for (size_t i = 0; i < body_len; i += 16) /* within the slack */
        memcpy(out->data + body + i, enc->tmp.data + i, 16);
    out->len = body + body_len;
    return SPOOKY_OK;
}

NOINLINE static const uint8_t *cbor_object(spooky_encoder *enc, spooky_buf *out, const uint8_t *p,
                                           int depth) {
    size_t head;
    size_t base = enc->nmembers;
    uint32_t order = 0;
    int empty, more = 0;
    TRYP(p, open_container(enc, out, p, 5, &head, &empty));
    if (empty) return p;
    do {
        TRYP(p, member_key(enc, p));
        TRYB(enc, p, reserve_member(enc));
        size_t k = enc->nmembers++;
        member *m = &enc->members[k];
        m->start = out->len;
        m->order = order++;
        TRYP(p, cbor_string(enc, out, p, &m->key_len, &m->prefix));
        m->key_off = out->len - m->key_len; /* key bytes sit after their head */
        TRYP(p, member_colon(enc, p));
        TRYP(p, cbor_value(enc, out, p, depth)); /* may move enc->members */
        enc->members[k].end = out->len;
        TRYP(p, next_item(enc, p, '}', &more));
    } while (more);
    uint64_t count;
    TRYB(enc, p,
         sort_members(enc, out, enc->members + base, enc->nmembers - base, head + 1, &count));
    enc->nmembers = base;
    TRYB(enc, p, close_head(out, head, 5, count));
    return p;
}

/* One JSON value at p (after optional whitespace) as CBOR appended to out. */
static const uint8_t *cbor_value(spooky_encoder *enc, spooky_buf *out, const uint8_t *p,
                                 int depth) {
    TRYP(p, value_start(enc, p));
    switch (*p) {
    case '{':
        if (depth + 1 > SPOOKY_MAX_DEPTH)
            return fail(enc, p, SPOOKY_E_JSON_DEPTH, "nested too deeply");
        return cbor_object(enc, out, p, depth + 1);
    case '[':
        if (depth + 1 > SPOOKY_MAX_DEPTH)
            return fail(enc, p, SPOOKY_E_JSON_DEPTH, "nested too deeply");
        return cbor_array(enc, out, p, depth + 1);
    case '"': {
        size_t n;
        return cbor_string(enc, out, p, &n, NULL);
    }
    case 't':
    case 'f':
    case 'n': {
        uint8_t tag;
        return put_literal(enc, out, p, 1, &tag);
    }
    default: {
        number num;
        TRYP(p, parse_number(enc, p, &num));
        int rc;
        if (num.tag == SPOOKY_I64)
            rc = num.i >= 0 ? cbor_head(out, 0, (uint64_t)num.i)
                            : cbor_head(out, 1, (uint64_t)(-1 - num.i));
        else if (num.tag == SPOOKY_U64)
            rc = cbor_head(out, 0, num.u);
        else
            rc = cbor_f64(out, num.d);
        TRYB(enc, p, rc);
        return p;
    }
    }
}

/* One JSON value at p (after optional whitespace) as a field value: tag +
 * bytes appended to out. */
static const uint8_t *field_value(spooky_encoder *enc, spooky_buf *out, const uint8_t *p,
                                  uint8_t *tag, int depth) {
    TRYP(p, value_start(enc, p));
    switch (*p) {
    case '{':
    case '[': *tag = SPOOKY_NESTED; return cbor_value(enc, out, p, depth);
    case '"': *tag = SPOOKY_STR; return parse_string(enc, out, p);
    case 't':
    case 'f':
    case 'n': return put_literal(enc, out, p, 0, tag);
    default: {
        number num;
        TRYP(p, parse_number(enc, p, &num));
        *tag = num.tag;
        uint8_t b[8];
        if (num.tag == SPOOKY_I64)
            memcpy(b, &num.i, 8);
        else if (num.tag == SPOOKY_U64)
            memcpy(b, &num.u, 8);
        else
            memcpy(b, &num.d, 8);
        TRYB(enc, p, append(out, b, 8));
        return p;
    }
    }
}

/* ---- top-level records ----------------------------------------------------- */

static int ref_cmp(const void *pa, const void *pb) {
    const field_ref *a = pa, *b = pb;
    if (a->hash != b->hash) return a->hash < b->hash ? -1 : 1;
    return a->idx < b->idx ? -1 : (a->idx > b->idx);
}

/* a[0..n) == b[0..n), n > 0, inline for short keys */
static inline int bytes_eq(const uint8_t *a, const uint8_t *b, size_t n) {
    if (n >= 8 && n <= 16)
        return load_u64(a) == load_u64(b) && load_u64(a + n - 8) == load_u64(b + n - 8);
    if (n >= 4 && n < 8)
        return load_u32(a) == load_u32(b) && load_u32(a + n - 4) == load_u32(b + n - 4);
    if (n < 4) return a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1];
    return memcmp(a, b, n) == 0;
}

/* Room for one more field (and its place in the hash order). */
static int reserve_field(spooky_encoder *enc) {
    if (enc->nfields < enc->cap_fields) return SPOOKY_OK;
    size_t cap = enc->cap_fields; /* three arrays of one capacity */
    TRY(grow_array(&enc->fields, &cap, enc->nfields + 1, sizeof *enc->fields));
    TRY(resize_array(&enc->sorted, cap, sizeof *enc->sorted));
    TRY(resize_array(&enc->ckey, cap, sizeof *enc->ckey));
    enc->cap_fields = cap;
    return SPOOKY_OK;
}

/* Remembers the record's keys (and, if no hash repeats, their order in
 * sorted[]) for the next records. The cache is optional: on failure it is off. */
static void cache_keys(spooky_encoder *enc, int order_ok) {
    const field *fs = enc->fields;
    size_t n = enc->nfields;
    enc->keys_gen++;
    enc->nckeys = 0;
    enc->ckeys.len = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *k = enc->keys.data + fs[i].key_off;
        size_t len = fs[i].key_len, j = 0;
        /* only keys that a JSON string without escapes spells as they are */
        while (j < len && k[j] >= 0x20 && k[j] != '"' && k[j] != '\\') j++;
        enc->ckey[i].off = enc->ckeys.len;
        enc->ckey[i].len = j == len ? len : SIZE_MAX;
        enc->ckey[i].hash = fs[i].hash;
        if (j == len && append(&enc->ckeys, k, len)) return;
    }
    enc->nckeys = n;
    enc->ckey_order = order_ok;
}

/* Puts the fields in hash order (input order among equal hashes) in
 * enc->sorted. same_keys: the keys are those of the cache, whose order
 * sorted[] may still hold. Returns whether all hashes differ. */
static int sort_fields(spooky_encoder *enc, int same_keys) {
    const field *fs = enc->fields;
    field_ref *s = enc->sorted;
    size_t n = enc->nfields;
    if (same_keys && enc->ckey_order) return 1;
    for (size_t i = 0; i < n; i++) {
        s[i].hash = fs[i].hash;
        s[i].idx = i;
    }
    if (n <= 24) {
        for (size_t i = 1; i < n; i++) {
            field_ref r = s[i];
            size_t j = i;
            while (j > 0 && s[j - 1].hash > r.hash) {
                s[j] = s[j - 1];
                j--;
            }
            s[j] = r;
        }
    } else {
        qsort(s, n, sizeof *s, ref_cmp);
    }
    /* the order is reusable unless names repeat (write_record compacts those) */
    int distinct = 1;
    for (size_t i = 1; i < n && distinct; i++)
        if (s[i - 1].hash == s[i].hash) distinct = 0;
    cache_keys(enc, distinct);
    return distinct;
}

/* Sorts the parsed fields, drops repeated names (last wins), rejects hash
 * collisions and writes the record into out. */
static int write_record(spooky_encoder *enc, spooky_buf *out, int same_keys) {
    const field *fs = enc->fields;
    field_ref *s = enc->sorted;
    size_t n = enc->nfields, kept = n;
    uint64_t data_len = enc->vals.len; /* all values, if every name is new */
    if (!sort_fields(enc, same_keys)) {
        kept = 0;
        data_len = 0;
        for (size_t i = 0; i < n; i++) {
            if (i + 1 < n && s[i].hash == s[i + 1].hash) {
                const field *a = &fs[s[i].idx], *b = &fs[s[i + 1].idx];
                if (a->key_len != b->key_len ||
                    memcmp(enc->keys.data + a->key_off, enc->keys.data + b->key_off, a->key_len) !=
                        0) {
                    enc->p = enc->start + (a->src_pos > b->src_pos ? a->src_pos : b->src_pos);
                    FAIL(enc, SPOOKY_E_HASH_COLLISION, "two field names share one xxh64 hash");
                }
                continue; /* repeated name: a later one wins */
            }
            s[kept++] = s[i];
            data_len += fs[s[i].idx].val_len;
        }
    }
    uint64_t total = SPOOKY_HEADER_SIZE + (uint64_t)kept * SPOOKY_INDEX_ENTRY_SIZE + data_len;
    if (total > UINT32_MAX) FAIL(enc, SPOOKY_E_TOO_LARGE, "record larger than 4 GiB");
    out->len = 0;
    TRY(grow(out, (size_t)total + 16)); /* 16 bytes of slack for copy_bytes */
    TRY(grow(&enc->vals, 16));
    uint8_t *r = out->data;
    memset(r, 0, SPOOKY_HEADER_SIZE);
    store_u32(r, (uint32_t)kept);
    uint32_t off = SPOOKY_HEADER_SIZE + (uint32_t)kept * SPOOKY_INDEX_ENTRY_SIZE;
    const uint8_t *vals = enc->vals.data;
    for (size_t i = 0; i < kept; i++) {
        const field *f = &fs[s[i].idx];
        uint8_t *e = ENTRY(r, i);
        store_u64(e, f->hash);
        store_u32(e + 8, off);
        store_u32(e + 12, (uint32_t)f->val_len);
        store_u32(e + 16, f->tag); /* the tag and 3 zero bytes */
        copy_bytes(r + off, vals + f->val_off, f->val_len, 1);
        off += (uint32_t)f->val_len;
    }
    out->len = (size_t)total;
    return SPOOKY_OK;
}

int encode_object(spooky_encoder *enc, spooky_buf *out) {
    const uint8_t *p = enc->p, *end = enc->end;
    enc->nfields = 0;
    enc->nmembers = 0;
    enc->vals.len = 0;
    enc->keys.len = 0;
    if (p >= end || *p != '{') {
        if (p < end && (*p == '[' || *p == '"' || *p == '-' || (*p >= '0' && *p <= '9') ||
                        *p == 't' || *p == 'f' || *p == 'n'))
            FAIL(enc, SPOOKY_E_JSON_NOT_OBJECT, "a record must be a JSON object");
        FAIL(enc, SPOOKY_E_JSON_SYNTAX, "'{' expected");
    }
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}') {
        enc->p = p + 1;
        enc->same_keys = enc->nckeys == 0;
        return write_record(enc, out, enc->same_keys);
    }
    size_t hits = 0; /* keys found in the cache at their place */
    int more = 0;
    do {
        if (!(p = member_key(enc, p))) return enc->err_code;
        if (reserve_field(enc))
            return fail_code(enc, p, SPOOKY_E_NOMEM, spooky_strerror(SPOOKY_E_NOMEM));
        size_t i = enc->nfields;
        field *f = &enc->fields[i];
        f->src_pos = (size_t)(p - enc->start);
        f->key_off = enc->keys.len;
        const cached_key *ck = i < enc->nckeys ? &enc->ckey[i] : NULL;
        if (ck && ck->len < (size_t)(end - p) - 1 && p[1 + ck->len] == '"' &&
            (ck->len == 0 || bytes_eq(p + 1, enc->ckeys.data + ck->off, ck->len))) {
            /* the same key as the cached record's: no escapes, hash known */
            if (grow(&enc->keys, ck->len + 16))
                return fail_code(enc, p, SPOOKY_E_NOMEM, spooky_strerror(SPOOKY_E_NOMEM));
            copy_bytes(enc->keys.data + enc->keys.len, p + 1, ck->len, end - p > 16);
            enc->keys.len += ck->len;
            f->key_len = ck->len;
            f->hash = ck->hash;
            p += 2 + ck->len;
            hits++;
        } else {
            if (!(p = parse_string(enc, &enc->keys, p))) return enc->err_code;
            f->key_len = enc->keys.len - f->key_off;
            f->hash = spooky_name_hash(enc->keys.data + f->key_off, f->key_len);
        }
        if (!(p = member_colon(enc, p))) return enc->err_code;
        f->val_off = enc->vals.len;
        /* field_value skips whitespace before the value */
        if (!(p = field_value(enc, &enc->vals, p, &f->tag, 1))) return enc->err_code;
        f->val_len = enc->vals.len - f->val_off;
        enc->nfields++;
        if (!(p = next_item(enc, p, '}', &more))) return enc->err_code;
    } while (more);
    enc->p = p;
    enc->same_keys = hits == enc->nfields && hits == enc->nckeys;
    return write_record(enc, out, enc->same_keys);
}

static void begin(spooky_encoder *enc, const uint8_t *json, size_t len) {
    enc->start = enc->p = json;
    enc->end = json + len;
    enc->err_code = SPOOKY_OK;
    enc->err_pos = json;
    enc->err_msg = "";
    enc->big_ints = 0;
}

static int finish(spooky_encoder *enc, int rc, spooky_error *err) {
    if (rc == SPOOKY_OK) {
        enc->p = skip_ws(enc->p, enc->end);
        if (enc->p != enc->end) {
            enc->err_code = rc = SPOOKY_E_JSON_SYNTAX;
            enc->err_pos = enc->p;
            enc->err_msg = "unexpected data after the JSON value";
        }
    }
    if (rc && err) {
        err->code = rc;
        err->offset =
            enc->err_code ? (size_t)(enc->err_pos - enc->start) : (size_t)(enc->p - enc->start);
        err->message = enc->err_code ? enc->err_msg : spooky_strerror(rc);
    }
    return rc;
}

int spooky_encode_record(spooky_encoder *enc, const uint8_t *json, size_t len, spooky_buf *out,
                         spooky_error *err) {
    if (!enc || !out || (!json && len)) return SPOOKY_E_ARG;
    begin(enc, json, len);
    enc->p = skip_ws(enc->p, enc->end);
    return finish(enc, encode_object(enc, out), err);
}

int spooky_encode_value(spooky_encoder *enc, const uint8_t *json, size_t len, spooky_buf *out,
                        uint8_t *tag, spooky_error *err) {
    if (!enc || !out || !tag || (!json && len)) return SPOOKY_E_ARG;
    begin(enc, json, len);
    enc->nmembers = 0;
    out->len = 0;
    const uint8_t *p = field_value(enc, out, skip_ws(enc->p, enc->end), tag, 0);
    if (p) enc->p = p;
    return finish(enc, p ? SPOOKY_OK : enc->err_code, err);
}
