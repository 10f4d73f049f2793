/* tojson.c: field values and canonical CBOR back to compact JSON text. */
#include <math.h>
#include <stdlib.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include "internal.h"

#ifdef __GNUC__
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

static const char DIGIT_PAIRS[] =
    "0001020304050607080910111213141516171819202122232425262728293031323334353637383940414243444546"
    "4748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293"
    "949596979899";

/* v < 10^8 as 8 digits at p: its two halves' pairs, independent of each other. */
static inline void put8_digits(char *p, uint32_t v) {
    uint32_t hi = v / 10000, lo = v % 10000;
    memcpy(p, DIGIT_PAIRS + 2 * (hi / 100), 2);
    memcpy(p + 2, DIGIT_PAIRS + 2 * (hi % 100), 2);
    memcpy(p + 4, DIGIT_PAIRS + 2 * (lo / 100), 2);
    memcpy(p + 6, DIGIT_PAIRS + 2 * (lo % 100), 2);
}

/* Eight digits per 64-bit division, then two per 32-bit one. */
static int put_u64(spooky_buf *out, uint64_t v) {
    char b[24];
    int i = 24;
    while (v >= 100000000) {
        uint64_t q = v / 100000000;
        i -= 8;
        put8_digits(b + i, (uint32_t)(v - q * 100000000));
        v = q;
    }
    uint32_t w = (uint32_t)v;
    while (w >= 100) {
        uint32_t r = w % 100;
        w /= 100;
        i -= 2;
        memcpy(b + i, DIGIT_PAIRS + 2 * r, 2);
    }
    if (w >= 10) {
        i -= 2;
        memcpy(b + i, DIGIT_PAIRS + 2 * w, 2);
    } else {
        b[--i] = (char)('0' + w);
    }
    return buf_append(out, b + i, (size_t)(24 - i));
}

static int put_i64(spooky_buf *out, int64_t v) {
    if (v < 0) {
        TRY(buf_push(out, '-'));
        return put_u64(out, (uint64_t)0 - (uint64_t)v);
    }
    return put_u64(out, (uint64_t)v);
}

/* Shortest text that reads back (correctly rounded) to d, always marked as a
 * float by a '.' or an exponent, in Python repr() layout (shortest.c). */
static int put_f64(spooky_buf *out, double d) {
    TRY(buf_grow(out, SPOOKY_F64_TEXT_MAX)); /* written in place: no copy */
    size_t n = spooky_f64_shortest(d, (char *)out->data + out->len);
    if (!n) return SPOOKY_E_NOT_JSON;
    out->len += n;
    return SPOOKY_OK;
}

static const char HEX[] = "0123456789abcdef";

/* Length of the prefix of s that JSON takes as it is (no quote, backslash,
 * control or non-ASCII byte), 16 bytes at a time where SSE2 is there. */
static size_t plain_prefix(const uint8_t *s, size_t n) {
    size_t i = 0;
#ifdef __SSE2__
    const __m128i space = _mm_set1_epi8(0x20), quote = _mm_set1_epi8('"'),
                  backslash = _mm_set1_epi8('\\');
    for (; i + 16 <= n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        /* signed compare: flags bytes < 0x20 and every byte >= 0x80 */
        __m128i bad =
            _mm_or_si128(_mm_cmplt_epi8(x, space),
                         _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)));
        int mask = _mm_movemask_epi8(bad);
        if (mask) return i + (size_t)__builtin_ctz((unsigned)mask);
    }
    if (i < n && n >= 16) { /* the last 16 bytes, overlapping what was checked */
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + n - 16));
        __m128i bad =
            _mm_or_si128(_mm_cmplt_epi8(x, space),
                         _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)));
        unsigned mask = (unsigned)_mm_movemask_epi8(bad) >> (i - (n - 16));
        return mask ? i + (size_t)__builtin_ctz(mask) : n;
    }
#endif
    while (i < n && s[i] >= 0x20 && s[i] != '"' && s[i] != '\\' && s[i] < 0x80) i++;
    return i;
}

#define STRING_STEP ((size_t)4096) /* input bytes escaped per reservation */

/* The JSON text of the UTF-8 bytes p..end, appended at o (room for
 * 6 bytes per input byte); returns the end, or NULL if s is not UTF-8. */
static uint8_t *escape_span(uint8_t *o, const uint8_t *p, const uint8_t *end) {
    while (p < end) {
        uint8_t c = *p;
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *o++ = c;
            p++;
            continue;
        }
        if (c >= 0x80) {
            size_t k = utf8_seq(p, end);
            if (!k) return NULL;
            for (size_t i = 0; i < k; i++) o[i] = p[i];
            o += k;
            p += k;
            continue;
        }
        o[0] = '\\';
        switch (c) {
        case '"': o[1] = '"'; break;
        case '\\': o[1] = '\\'; break;
        case '\n': o[1] = 'n'; break;
        case '\r': o[1] = 'r'; break;
        case '\t': o[1] = 't'; break;
        case '\b': o[1] = 'b'; break;
        case '\f': o[1] = 'f'; break;
        default:
            memcpy(o + 1, "u00", 3);
            o[4] = (uint8_t)HEX[c >> 4], o[5] = (uint8_t)HEX[c & 15];
            o += 4;
        }
        o += 2;
        p++;
    }
    return o;
}

/* Whether the 8 bytes of v (little-endian) are all plain (as plain_prefix):
 * none below 0x20, none from 0x80 on, no '"' and no '\\'. */
static inline int plain8(uint64_t v) {
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
    /* a byte below 0x20, or one that is zero after the xor: its high bit set below */
    uint64_t bad = (v - ones * 0x20) | (q - ones) | (b - ones) | v;
    return (bad & high) == 0;
}

/* Whether s[0..n), 4 <= n <= 16, is all plain: two 8- or 4-byte loads that may overlap. */
static inline int short_plain(const uint8_t *s, size_t n) {
    if (n >= 8) return plain8(load_u64(s)) && plain8(load_u64(s + n - 8));
    uint64_t v = (uint64_t)load_u32(s) | (uint64_t)load_u32(s + n - 4) << 32;
    return plain8(v);
}

/* Whether s[0..n) holds a byte that JSON text must escape: '"', '\\' or one
 * below 0x20 (bytes from 0x80 on do not count), 8 bytes at a time; each
 * test below tells exactly whether some byte of the word matches. */
static int needs_escape(const uint8_t *s, size_t n) {
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t found = 0;
    size_t i = 0;
    for (; i + 8 <= n || (i < n && n >= 8); i += 8) {
        uint64_t v = load_u64(s + (i + 8 <= n ? i : n - 8)); /* the last word may overlap */
        uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
        found |= ((v - ones * 0x20) & ~v) | ((q - ones) & ~q) | ((b - ones) & ~b);
    }
    if (n < 8)
        for (; i < n; i++) found |= (uint64_t)(s[i] < 0x20 || s[i] == '"' || s[i] == '\\') << 7;
    return (found & high) != 0;
}

static inline int plain_byte(uint8_t c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

static int put_string_any(spooky_buf *out, const uint8_t *s, size_t n);

/* JSON string of n bytes of UTF-8 (validated): the usual short plain one
 * inline, the others in put_string_any. */
static inline int put_string(spooky_buf *out, const uint8_t *s, size_t n) {
    if (n <= 16) { /* quoted as it is, no loop and no call */
        int plain = n >= 4 ? short_plain(s, n)
                           : (n < 1 || plain_byte(s[0])) && (n < 2 || plain_byte(s[1])) &&
                                 (n < 3 || plain_byte(s[2]));
        if (plain) {
            TRY(buf_grow(out, 18));
            uint8_t *o = out->data + out->len;
            o[0] = '"';
            if (n >= 8) { /* two copies that may overlap: no byte past s is read */
                memcpy(o + 1, s, 8);
                memcpy(o + 1 + n - 8, s + n - 8, 8);
            } else if (n >= 4) {
                memcpy(o + 1, s, 4);
                memcpy(o + 1 + n - 4, s + n - 4, 4);
            } else {
                for (size_t i = 0; i < n; i++) o[1 + i] = s[i];
            }
            o[n + 1] = '"';
            out->len += n + 2;
            return SPOOKY_OK;
        }
    }
    return put_string_any(out, s, n);
}

/* put_string's other cases, out of line so that the usual one stays small. */
NOINLINE static int put_string_any(spooky_buf *out, const uint8_t *s, size_t n) {
    size_t plain = plain_prefix(s, n);
    const uint8_t *p = s + plain, *end = s + n;
    if (!needs_escape(p, n - plain) && valid_utf8(p, n - plain)) { /* UTF-8, nothing to escape */
        TRY(buf_grow(out, n + 2));
        out->data[out->len++] = '"';
        memcpy(out->data + out->len, s, n);
        out->len += n;
        return buf_push(out, '"');
    }
    TRY(buf_grow(out, plain + 2));
    out->data[out->len++] = '"';
    memcpy(out->data + out->len, s, plain);
    out->len += plain;
    while (p < end) { /* the rest in steps, each written straight into room for its worst case */
        size_t step = (size_t)(end - p) < STRING_STEP ? (size_t)(end - p) : STRING_STEP;
        const uint8_t *stop = p + step;
        while (stop < end && (*stop & 0xc0) == 0x80) stop++; /* not inside a character */
        TRY(buf_grow(out, 6 * (size_t)(stop - p)));
        uint8_t *o = escape_span(out->data + out->len, p, stop);
        if (!o) return SPOOKY_E_NOT_JSON;
        out->len = (size_t)(o - out->data);
        p = stop;
    }
    return buf_push(out, '"');
}

typedef struct {
    const uint8_t *p, *end;
} reader;

int cbor_read_head(const uint8_t **p, const uint8_t *end, uint8_t *major, uint8_t *ai,
                   uint64_t *arg) {
    if (*p >= end) return SPOOKY_E_CBOR_INVALID;
    uint8_t b = *(*p)++;
    *major = b >> 5;
    *ai = b & 0x1f;
    if (*ai < 24) {
        *arg = *ai;
        return SPOOKY_OK;
    }
    if (*ai > 27) return SPOOKY_E_CBOR_INVALID; /* reserved or indefinite length */
    size_t k = (size_t)1 << (*ai - 24);
    if ((size_t)(end - *p) < k) return SPOOKY_E_CBOR_INVALID;
    uint64_t v = 0;
#ifdef __GNUC__
    if (k == 8) {
        v = __builtin_bswap64(load_u64(*p)); /* floats and large integers */
    } else
#endif
        for (size_t i = 0; i < k; i++) v = v << 8 | (*p)[i];
    *p += k;
    *arg = v;
    return SPOOKY_OK;
}

int cbor_skip_item(const uint8_t **p, const uint8_t *end) {
    uint64_t due = 1; /* items still to pass: no recursion, so no depth limit needed */
    while (due) {
        due--;
        uint8_t major, ai;
        uint64_t arg;
        TRY(cbor_read_head(p, end, &major, &ai, &arg));
        uint64_t left = (uint64_t)(end - *p);
        switch (major) {
        case 2:
        case 3:
            if (arg > left) return SPOOKY_E_CBOR_INVALID;
            *p += arg;
            break;
        case 4:
            if (arg > left) return SPOOKY_E_CBOR_INVALID; /* >= 1 byte an item */
            due += arg;
            break;
        case 5:
            if (arg > left / 2) return SPOOKY_E_CBOR_INVALID;
            due += 2 * arg;
            break;
        case 6: due += 1; break;
        default: break;
        }
    }
    return SPOOKY_OK;
}

/* Reads a CBOR head: major type and argument (a one-byte head inline). */
static inline int read_head(reader *r, uint8_t *major, uint64_t *arg) {
    if (r->p < r->end && (*r->p & 0x1f) < 24) {
        *major = *r->p >> 5;
        *arg = *r->p++ & 0x1f;
        return SPOOKY_OK;
    }
    uint8_t ai;
    return cbor_read_head(&r->p, r->end, major, &ai, arg);
}

static double half_to_double(uint16_t h) {
    int e = (h >> 10) & 0x1f;
    double m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m + 1024, e - 25);
    return (h & 0x8000) ? -v : v;
}

static int cbor_item(reader *r, spooky_buf *out, int depth) {
    if (depth > SPOOKY_MAX_DEPTH) return SPOOKY_E_CBOR_INVALID;
    uint8_t major, ai = r->p < r->end ? (*r->p & 0x1f) : 0;
    uint64_t arg;
    TRY(read_head(r, &major, &arg));
    switch (major) {
    case 0: return put_u64(out, arg);
    case 1: /* -1 - arg */
        TRY(buf_push(out, '-'));
        if (arg == UINT64_MAX) return buf_append(out, "18446744073709551616", 20);
        return put_u64(out, arg + 1);
    case 2: return SPOOKY_E_NOT_JSON; /* byte strings have no JSON form */
    case 3:
        if (arg > (uint64_t)(r->end - r->p)) return SPOOKY_E_CBOR_INVALID;
        TRY(put_string(out, r->p, (size_t)arg));
        r->p += arg;
        return SPOOKY_OK;
    case 4:
        if (arg > (uint64_t)(r->end - r->p)) return SPOOKY_E_CBOR_INVALID; /* >= 1 byte each */
        TRY(buf_push(out, '['));
        for (uint64_t i = 0; i < arg; i++) {
            if (i) TRY(buf_push(out, ','));
            TRY(cbor_item(r, out, depth + 1));
        }
        return buf_push(out, ']');
    case 5:
        if (arg > (uint64_t)(r->end - r->p) / 2) return SPOOKY_E_CBOR_INVALID;
        TRY(buf_push(out, '{'));
        for (uint64_t i = 0; i < arg; i++) {
            if (i) TRY(buf_push(out, ','));
            if (r->p >= r->end) return SPOOKY_E_CBOR_INVALID;
            if ((*r->p >> 5) != 3) return SPOOKY_E_NOT_JSON; /* keys must be text */
            uint8_t key_major;
            uint64_t key_len;
            TRY(read_head(r, &key_major, &key_len)); /* the key here: no call for a text */
            if (key_len > (uint64_t)(r->end - r->p)) return SPOOKY_E_CBOR_INVALID;
            TRY(put_string(out, r->p, (size_t)key_len));
            r->p += key_len;
            TRY(buf_push(out, ':'));
            TRY(cbor_item(r, out, depth + 1));
        }
        return buf_push(out, '}');
    case 6: return SPOOKY_E_NOT_JSON; /* tags */
    default: /* 7: simple values and floats */
        switch (ai) {
        case 20: return buf_append(out, "false", 5);
        case 21: return buf_append(out, "true", 4);
        case 22: return buf_append(out, "null", 4);
        case 25: return put_f64(out, half_to_double((uint16_t)arg));
        case 26: {
            uint32_t bits = (uint32_t)arg;
            float f;
            memcpy(&f, &bits, 4);
            return put_f64(out, (double)f);
        }
        case 27: {
            double d;
            memcpy(&d, &arg, 8);
            return put_f64(out, d);
        }
        default: return SPOOKY_E_NOT_JSON; /* undefined and other simple values */
        }
    }
}

/* cbor_item's checks without its text: what spooky_cbor_to_json would
 * fail on (the same codes), for copies that must stay JSON-able. */
static int cbor_check(reader *r, int depth) {
    if (depth > SPOOKY_MAX_DEPTH) return SPOOKY_E_CBOR_INVALID;
    uint8_t major, ai = r->p < r->end ? (*r->p & 0x1f) : 0;
    uint64_t arg;
    TRY(read_head(r, &major, &arg));
    switch (major) {
    case 0:
    case 1: return SPOOKY_OK;
    case 2: return SPOOKY_E_NOT_JSON;
    case 3:
        if (arg > (uint64_t)(r->end - r->p)) return SPOOKY_E_CBOR_INVALID;
        if (!valid_utf8(r->p, (size_t)arg)) return SPOOKY_E_NOT_JSON;
        r->p += arg;
        return SPOOKY_OK;
    case 4:
        if (arg > (uint64_t)(r->end - r->p)) return SPOOKY_E_CBOR_INVALID;
        for (uint64_t i = 0; i < arg; i++) TRY(cbor_check(r, depth + 1));
        return SPOOKY_OK;
    case 5:
        if (arg > (uint64_t)(r->end - r->p) / 2) return SPOOKY_E_CBOR_INVALID;
        for (uint64_t i = 0; i < arg; i++) {
            if (r->p >= r->end) return SPOOKY_E_CBOR_INVALID;
            if ((*r->p >> 5) != 3) return SPOOKY_E_NOT_JSON; /* keys must be text */
            TRY(cbor_check(r, depth + 1));
            TRY(cbor_check(r, depth + 1));
        }
        return SPOOKY_OK;
    case 6: return SPOOKY_E_NOT_JSON;
    default:
        switch (ai) {
        case 20:
        case 21:
        case 22: return SPOOKY_OK;
        case 25: return isfinite(half_to_double((uint16_t)arg)) ? SPOOKY_OK : SPOOKY_E_NOT_JSON;
        case 26: {
            uint32_t bits = (uint32_t)arg;
            float f;
            memcpy(&f, &bits, 4);
            return isfinite(f) ? SPOOKY_OK : SPOOKY_E_NOT_JSON;
        }
        case 27: {
            double d;
            memcpy(&d, &arg, 8);
            return isfinite(d) ? SPOOKY_OK : SPOOKY_E_NOT_JSON;
        }
        default: return SPOOKY_E_NOT_JSON;
        }
    }
}

int spooky_cbor_check_json(const uint8_t *cbor, size_t len) {
    if (!cbor && len) return SPOOKY_E_ARG;
    reader r = {cbor, cbor + len};
    int rc = cbor_check(&r, 0);
    return rc == SPOOKY_OK && r.p != r.end ? SPOOKY_E_CBOR_INVALID : rc;
}

int spooky_cbor_to_json(const uint8_t *cbor, size_t len, spooky_buf *out) {
    if (!out || (!cbor && len)) return SPOOKY_E_ARG;
    reader r = {cbor, cbor + len};
    size_t mark = out->len;
    int rc = cbor_item(&r, out, 0);
    if (rc == SPOOKY_OK && r.p != r.end) rc = SPOOKY_E_CBOR_INVALID;
    if (rc) out->len = mark;
    return rc;
}

int spooky_value_to_json(uint8_t tag, const uint8_t *v, size_t len, spooky_buf *out) {
    if (!out || (!v && len)) return SPOOKY_E_ARG;
    int w = fixed_width(tag);
    if (w >= 0 && len != (size_t)w) return SPOOKY_E_RECORD_INVALID;
    switch (tag) {
    case SPOOKY_NULL: return buf_append(out, "null", 4);
    case SPOOKY_BOOL:
        if (v[0] > 1) return SPOOKY_E_RECORD_INVALID;
        return v[0] ? buf_append(out, "true", 4) : buf_append(out, "false", 5);
    case SPOOKY_I64: return put_i64(out, (int64_t)load_u64(v));
    case SPOOKY_U64: return put_u64(out, load_u64(v));
    case SPOOKY_F64: {
        double d;
        memcpy(&d, v, 8);
        return put_f64(out, d);
    }
    case SPOOKY_STR: return put_string(out, v, len);
    case SPOOKY_NESTED: return spooky_cbor_to_json(v, len, out);
    default: return SPOOKY_E_RECORD_INVALID;
    }
}
