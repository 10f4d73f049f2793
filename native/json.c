/* json.c: strict JSON (RFC 8259) straight into record bytes, nested values
 * into the canonical CBOR of docs/FORMAT.md. One pass, no tree. */
#define _GNU_SOURCE
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include "internal.h"
#include "encoder.h"

#define FAIL(enc, code_, msg)                                  \
    do {                                                       \
        (enc)->err_code = (code_);                             \
        (enc)->err_pos = (enc)->p;                             \
        (enc)->err_msg = (msg);                                \
        return (code_);                                        \
    } while (0)

#define TRY(expr)                                              \
    do {                                                       \
        int rc_ = (expr);                                      \
        if (rc_) return rc_;                                   \
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

void spooky_encoder_free(spooky_encoder *enc) {
    if (!enc) return;
    spooky_buf_free(&enc->vals);
    spooky_buf_free(&enc->keys);
    spooky_buf_free(&enc->tmp);
    spooky_buf_free(&enc->num);
    free(enc->fields);
    free(enc->members);
    free(enc);
}

static inline void skip_ws(spooky_encoder *enc) {
    const uint8_t *p = enc->p, *end = enc->end;
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    enc->p = p;
}

/* ---- CBOR heads ---------------------------------------------------------- */

static int cbor_head(spooky_buf *out, uint8_t major, uint64_t n) {
    uint8_t b[9];
    size_t k;
    major <<= 5;
    if (n < 24) { b[0] = major | (uint8_t)n; k = 1; }
    else if (n <= 0xff) { b[0] = major | 24; b[1] = (uint8_t)n; k = 2; }
    else if (n <= 0xffff) { b[0] = major | 25; b[1] = (uint8_t)(n >> 8); b[2] = (uint8_t)n; k = 3; }
    else if (n <= 0xffffffffULL) {
        b[0] = major | 26;
        for (int i = 0; i < 4; i++) b[1 + i] = (uint8_t)(n >> (24 - 8 * i));
        k = 5;
    } else {
        b[0] = major | 27;
        for (int i = 0; i < 8; i++) b[1 + i] = (uint8_t)(n >> (56 - 8 * i));
        k = 9;
    }
    return buf_append(out, b, k);
}

/* The content after a 1-byte placeholder at head_pos is complete: write the
 * shortest head for (major, n), moving the content if the head is longer. */
static int close_head(spooky_buf *out, size_t head_pos, uint8_t major, uint64_t n) {
    if (n < 24) {
        out->data[head_pos] = (uint8_t)(major << 5) | (uint8_t)n;
        return SPOOKY_OK;
    }
    size_t content = out->len - head_pos - 1;
    size_t save = out->len;
    out->len = head_pos;
    TRY(cbor_head(out, major, n));
    size_t head_len = out->len - head_pos;
    uint8_t head[9];
    memcpy(head, out->data + head_pos, head_len);
    out->len = save;
    TRY(buf_grow(out, head_len - 1));
    memmove(out->data + head_pos + head_len, out->data + head_pos + 1, content);
    memcpy(out->data + head_pos, head, head_len);
    out->len = head_pos + head_len + content;
    return SPOOKY_OK;
}

static int cbor_f64(spooky_buf *out, double d) {
    uint64_t bits;
    memcpy(&bits, &d, 8);
    uint8_t b[9];
    b[0] = 0xfb;
    for (int i = 0; i < 8; i++) b[1 + i] = (uint8_t)(bits >> (56 - 8 * i));
    return buf_append(out, b, 9);
}

/* ---- strings --------------------------------------------------------------- */

static int hex4(const uint8_t *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
        else return -1;
    }
    *out = v;
    return 0;
}

static int put_utf8(spooky_buf *out, unsigned cp) {
    uint8_t b[4];
    size_t k;
    if (cp < 0x80) { b[0] = (uint8_t)cp; k = 1; }
    else if (cp < 0x800) { b[0] = 0xc0 | (cp >> 6); b[1] = 0x80 | (cp & 0x3f); k = 2; }
    else if (cp < 0x10000) {
        b[0] = 0xe0 | (cp >> 12); b[1] = 0x80 | ((cp >> 6) & 0x3f); b[2] = 0x80 | (cp & 0x3f); k = 3;
    } else {
        b[0] = 0xf0 | (cp >> 18); b[1] = 0x80 | ((cp >> 12) & 0x3f);
        b[2] = 0x80 | ((cp >> 6) & 0x3f); b[3] = 0x80 | (cp & 0x3f); k = 4;
    }
    return buf_append(out, b, k);
}

/* Parses the string at enc->p (at its opening quote); appends its UTF-8 to out. */
static int parse_string(spooky_encoder *enc, spooky_buf *out) {
    const uint8_t *p = enc->p + 1, *end = enc->end;
    for (;;) {
        const uint8_t *run = p;
        while (p < end && *p >= 0x20 && *p != '"' && *p != '\\' && *p < 0x80) p++;
        if (p > run) TRY(buf_append(out, run, (size_t)(p - run)));
        if (p >= end) { enc->p = p; FAIL(enc, SPOOKY_E_JSON_SYNTAX, "unterminated string"); }
        uint8_t c = *p;
        if (c == '"') { enc->p = p + 1; return SPOOKY_OK; }
        if (c < 0x20) { enc->p = p; FAIL(enc, SPOOKY_E_JSON_SYNTAX, "control character in string"); }
        if (c >= 0x80) {
            size_t k = utf8_seq(p, end);
            if (!k) { enc->p = p; FAIL(enc, SPOOKY_E_JSON_UTF8, "invalid UTF-8 in string"); }
            TRY(buf_append(out, p, k));
            p += k;
            continue;
        }
        /* backslash */
        if (p + 1 >= end) { enc->p = p; FAIL(enc, SPOOKY_E_JSON_SYNTAX, "unterminated string"); }
        uint8_t e = p[1];
        uint8_t lit;
        switch (e) {
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
            if (end - p < 6 || hex4(p + 2, &cp)) {
                enc->p = p; FAIL(enc, SPOOKY_E_JSON_SYNTAX, "bad \\u escape");
            }
            p += 6;
            if (cp >= 0xdc00 && cp <= 0xdfff) {
                enc->p = p - 6; FAIL(enc, SPOOKY_E_JSON_UTF8, "lone low surrogate");
            }
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) ||
                    lo < 0xdc00 || lo > 0xdfff) {
                    enc->p = p - 6; FAIL(enc, SPOOKY_E_JSON_UTF8, "lone high surrogate");
                }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                p += 6;
            }
            TRY(put_utf8(out, cp));
            continue;
        }
        default:
            enc->p = p; FAIL(enc, SPOOKY_E_JSON_SYNTAX, "bad escape in string");
        }
        TRY(buf_push(out, lit));
        p += 2;
    }
}

/* ---- numbers --------------------------------------------------------------- */

static const double POW10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                               1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

typedef struct {
    uint8_t tag;   /* SPOOKY_I64, SPOOKY_U64 or SPOOKY_F64 */
    int64_t i;
    uint64_t u;
    double d;
} number;

static int parse_number(spooky_encoder *enc, number *num) {
    const uint8_t *start = enc->p, *p = start, *end = enc->end;
    int neg = 0, is_int = 1, digits = 0;
    uint64_t mant = 0;
    int frac_digits = 0, overflow = 0;
    if (p < end && *p == '-') { neg = 1; p++; }
    if (p < end && *p == '0') {
        p++;
        if (p < end && *p >= '0' && *p <= '9') { enc->p = p; FAIL(enc, SPOOKY_E_JSON_SYNTAX, "leading zero in number"); }
    } else if (p < end && *p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9') {
            unsigned d = *p - '0';
            if (mant > (UINT64_MAX - d) / 10) overflow = 1;
            else mant = mant * 10 + d;
            digits++;
            p++;
        }
    } else {
        enc->p = p; FAIL(enc, SPOOKY_E_JSON_SYNTAX, "invalid value");
    }
    if (p < end && *p == '.') {
        is_int = 0;
        p++;
        if (!(p < end && *p >= '0' && *p <= '9')) { enc->p = p; FAIL(enc, SPOOKY_E_JSON_SYNTAX, "digit expected after '.'"); }
        while (p < end && *p >= '0' && *p <= '9') {
            if (!overflow && mant <= (UINT64_MAX - 9) / 10) {
                mant = mant * 10 + (unsigned)(*p - '0');
                if (mant) digits++;
                frac_digits++;
            } else {
                overflow = 1;
            }
            p++;
        }
    }
    long exp10 = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        is_int = 0;
        p++;
        int eneg = 0;
        if (p < end && (*p == '+' || *p == '-')) { eneg = *p == '-'; p++; }
        if (!(p < end && *p >= '0' && *p <= '9')) { enc->p = p; FAIL(enc, SPOOKY_E_JSON_SYNTAX, "digit expected in exponent"); }
        while (p < end && *p >= '0' && *p <= '9') {
            if (exp10 < 100000) exp10 = exp10 * 10 + (*p - '0');
            p++;
        }
        if (eneg) exp10 = -exp10;
    }
    enc->p = p;
    if (is_int && !overflow) {
        if (neg) {
            if (mant == 0) { num->tag = SPOOKY_F64; num->d = -0.0; return SPOOKY_OK; }
            if (mant <= (uint64_t)INT64_MAX + 1) {
                num->tag = SPOOKY_I64;
                num->i = (int64_t)(0 - mant);
                return SPOOKY_OK;
            }
        } else if (mant <= (uint64_t)INT64_MAX) {
            num->tag = SPOOKY_I64; num->i = (int64_t)mant; return SPOOKY_OK;
        } else {
            num->tag = SPOOKY_U64; num->u = mant; return SPOOKY_OK;
        }
    }
    num->tag = SPOOKY_F64;
    long e = exp10 - frac_digits;
    if (!overflow && digits <= 19 && mant <= (1ULL << 53) && e >= -22 && e <= 22) {
        double d = (double)mant; /* exact: mant <= 2^53 */
        d = e < 0 ? d / POW10[-e] : d * POW10[e];
        num->d = neg ? -d : d;
        return SPOOKY_OK;
    }
    /* Slow path: correctly rounded strtod in the C locale on a copy. */
    size_t n = (size_t)(p - start);
    enc->num.len = 0;
    TRY(buf_append(&enc->num, start, n));
    TRY(buf_push(&enc->num, 0));
    double d = strtod_l((const char *)enc->num.data, NULL, c_locale());
    if (isinf(d)) { enc->p = start; FAIL(enc, SPOOKY_E_JSON_NUMBER, "number out of range of a double"); }
    num->d = d;
    return SPOOKY_OK;
}

/* ---- nested values -> CBOR ------------------------------------------------- */

static int literal(spooky_encoder *enc, const char *word, size_t n) {
    if ((size_t)(enc->end - enc->p) < n || memcmp(enc->p, word, n) != 0)
        FAIL(enc, SPOOKY_E_JSON_SYNTAX, "invalid value");
    enc->p += n;
    return SPOOKY_OK;
}

static int cbor_value(spooky_encoder *enc, spooky_buf *out, int depth);

static int cbor_string(spooky_encoder *enc, spooky_buf *out) {
    size_t head = out->len;
    TRY(buf_push(out, 0));
    TRY(parse_string(enc, out));
    return close_head(out, head, 3, out->len - head - 1);
}

static int cbor_array(spooky_encoder *enc, spooky_buf *out, int depth) {
    size_t head = out->len;
    uint64_t count = 0;
    TRY(buf_push(out, 0));
    enc->p++; /* '[' */
    skip_ws(enc);
    if (enc->p < enc->end && *enc->p == ']') {
        enc->p++;
        return close_head(out, head, 4, 0);
    }
    for (;;) {
        TRY(cbor_value(enc, out, depth));
        count++;
        skip_ws(enc);
        if (enc->p >= enc->end) FAIL(enc, SPOOKY_E_JSON_SYNTAX, "unterminated array");
        if (*enc->p == ',') { enc->p++; skip_ws(enc); continue; }
        if (*enc->p == ']') { enc->p++; break; }
        FAIL(enc, SPOOKY_E_JSON_SYNTAX, "',' or ']' expected");
    }
    return close_head(out, head, 4, count);
}

static int push_member(spooky_encoder *enc, member m) {
    if (enc->nmembers == enc->cap_members) {
        size_t cap = enc->cap_members ? enc->cap_members * 2 : 64;
        member *mm = realloc(enc->members, cap * sizeof *mm);
        if (!mm) return SPOOKY_E_NOMEM;
        enc->members = mm;
        enc->cap_members = cap;
    }
    enc->members[enc->nmembers++] = m;
    return SPOOKY_OK;
}

static int member_cmp(const member *a, const member *b, const uint8_t *base) {
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = memcmp(base + a->key_off, base + b->key_off, n);
    if (c) return c;
    if (a->key_len != b->key_len) return a->key_len < b->key_len ? -1 : 1;
    return a->order < b->order ? -1 : (a->order > b->order);
}

static int member_qsort_cmp(const void *a, const void *b, void *base) {
    return member_cmp(a, b, base);
}

static int cbor_object(spooky_encoder *enc, spooky_buf *out, int depth) {
    size_t head = out->len;
    size_t base = enc->nmembers;
    uint32_t order = 0;
    TRY(buf_push(out, 0));
    enc->p++; /* '{' */
    skip_ws(enc);
    if (enc->p < enc->end && *enc->p == '}') {
        enc->p++;
        return close_head(out, head, 5, 0);
    }
    for (;;) {
        if (enc->p >= enc->end || *enc->p != '"') FAIL(enc, SPOOKY_E_JSON_SYNTAX, "object key expected");
        member m;
        m.start = out->len;
        m.order = order++;
        TRY(cbor_string(enc, out));
        /* key bytes sit after their head */
        size_t klen = 0;
        uint8_t h = out->data[m.start] & 0x1f;
        size_t hl = h < 24 ? 1 : h == 24 ? 2 : h == 25 ? 3 : h == 26 ? 5 : 9;
        klen = out->len - m.start - hl;
        m.key_off = m.start + hl;
        m.key_len = klen;
        skip_ws(enc);
        if (enc->p >= enc->end || *enc->p != ':') FAIL(enc, SPOOKY_E_JSON_SYNTAX, "':' expected");
        enc->p++;
        skip_ws(enc);
        TRY(cbor_value(enc, out, depth));
        m.end = out->len;
        TRY(push_member(enc, m));
        skip_ws(enc);
        if (enc->p >= enc->end) FAIL(enc, SPOOKY_E_JSON_SYNTAX, "unterminated object");
        if (*enc->p == ',') { enc->p++; skip_ws(enc); continue; }
        if (*enc->p == '}') { enc->p++; break; }
        FAIL(enc, SPOOKY_E_JSON_SYNTAX, "',' or '}' expected");
    }
    member *ms = enc->members + base;
    size_t n = enc->nmembers - base;
    int sorted = 1;
    for (size_t i = 1; i < n && sorted; i++)
        if (member_cmp(&ms[i - 1], &ms[i], out->data) >= 0) sorted = 0;
    uint64_t count = n;
    if (!sorted) {
        if (n <= 16) {
            for (size_t i = 1; i < n; i++) {
                member m = ms[i];
                size_t j = i;
                while (j > 0 && member_cmp(&ms[j - 1], &m, out->data) > 0) { ms[j] = ms[j - 1]; j--; }
                ms[j] = m;
            }
        } else {
            qsort_r(ms, n, sizeof *ms, member_qsort_cmp, out->data);
        }
        /* rewrite members in key order, keeping the last of equal keys */
        enc->tmp.len = 0;
        count = 0;
        for (size_t i = 0; i < n; i++) {
            if (i + 1 < n && ms[i].key_len == ms[i + 1].key_len &&
                memcmp(out->data + ms[i].key_off, out->data + ms[i + 1].key_off, ms[i].key_len) == 0)
                continue;
            TRY(buf_append(&enc->tmp, out->data + ms[i].start, ms[i].end - ms[i].start));
            count++;
        }
        out->len = head + 1;
        TRY(buf_append(out, enc->tmp.data, enc->tmp.len));
    }
    enc->nmembers = base;
    return close_head(out, head, 5, count);
}

static int cbor_value(spooky_encoder *enc, spooky_buf *out, int depth) {
    if (enc->p >= enc->end) FAIL(enc, SPOOKY_E_JSON_SYNTAX, "value expected");
    switch (*enc->p) {
    case '{':
        if (depth + 1 > SPOOKY_MAX_DEPTH) FAIL(enc, SPOOKY_E_JSON_DEPTH, "nested too deeply");
        return cbor_object(enc, out, depth + 1);
    case '[':
        if (depth + 1 > SPOOKY_MAX_DEPTH) FAIL(enc, SPOOKY_E_JSON_DEPTH, "nested too deeply");
        return cbor_array(enc, out, depth + 1);
    case '"':
        return cbor_string(enc, out);
    case 't': TRY(literal(enc, "true", 4)); return buf_push(out, 0xf5);
    case 'f': TRY(literal(enc, "false", 5)); return buf_push(out, 0xf4);
    case 'n': TRY(literal(enc, "null", 4)); return buf_push(out, 0xf6);
    default: {
        number num;
        TRY(parse_number(enc, &num));
        if (num.tag == SPOOKY_I64)
            return num.i >= 0 ? cbor_head(out, 0, (uint64_t)num.i)
                              : cbor_head(out, 1, (uint64_t)(-1 - num.i));
        if (num.tag == SPOOKY_U64) return cbor_head(out, 0, num.u);
        return cbor_f64(out, num.d);
    }
    }
}

/* One JSON value as a field value: tag + bytes appended to out. */
static int field_value(spooky_encoder *enc, spooky_buf *out, uint8_t *tag, int depth) {
    if (enc->p >= enc->end) FAIL(enc, SPOOKY_E_JSON_SYNTAX, "value expected");
    switch (*enc->p) {
    case '{':
    case '[':
        *tag = SPOOKY_NESTED;
        return cbor_value(enc, out, depth);
    case '"':
        *tag = SPOOKY_STR;
        return parse_string(enc, out);
    case 't': *tag = SPOOKY_BOOL; TRY(literal(enc, "true", 4)); return buf_push(out, 1);
    case 'f': *tag = SPOOKY_BOOL; TRY(literal(enc, "false", 5)); return buf_push(out, 0);
    case 'n': *tag = SPOOKY_NULL; return literal(enc, "null", 4);
    default: {
        number num;
        TRY(parse_number(enc, &num));
        *tag = num.tag;
        uint8_t b[8];
        if (num.tag == SPOOKY_I64) memcpy(b, &num.i, 8);
        else if (num.tag == SPOOKY_U64) memcpy(b, &num.u, 8);
        else memcpy(b, &num.d, 8);
        return buf_append(out, b, 8);
    }
    }
}

/* ---- top-level records ----------------------------------------------------- */

static int field_cmp(const void *pa, const void *pb) {
    const field *a = pa, *b = pb;
    if (a->hash != b->hash) return a->hash < b->hash ? -1 : 1;
    return a->order < b->order ? -1 : (a->order > b->order);
}

static int push_field(spooky_encoder *enc, field f) {
    if (enc->nfields == enc->cap_fields) {
        size_t cap = enc->cap_fields ? enc->cap_fields * 2 : 32;
        field *ff = realloc(enc->fields, cap * sizeof *ff);
        if (!ff) return SPOOKY_E_NOMEM;
        enc->fields = ff;
        enc->cap_fields = cap;
    }
    enc->fields[enc->nfields++] = f;
    return SPOOKY_OK;
}

/* Sorts the parsed fields, drops repeated names (last wins), rejects hash
 * collisions and writes the record into out. */
static int write_record(spooky_encoder *enc, spooky_buf *out) {
    field *fs = enc->fields;
    size_t n = enc->nfields;
    if (n <= 24) {
        for (size_t i = 1; i < n; i++) {
            field f = fs[i];
            size_t j = i;
            while (j > 0 && field_cmp(&fs[j - 1], &f) > 0) { fs[j] = fs[j - 1]; j--; }
            fs[j] = f;
        }
    } else {
        qsort(fs, n, sizeof *fs, field_cmp);
    }
    size_t kept = 0;
    uint64_t data_len = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && fs[i].hash == fs[i + 1].hash) {
            const field *a = &fs[i], *b = &fs[i + 1];
            if (a->key_len != b->key_len ||
                memcmp(enc->keys.data + a->key_off, enc->keys.data + b->key_off, a->key_len) != 0) {
                enc->p = enc->start + (a->src_pos > b->src_pos ? a->src_pos : b->src_pos);
                FAIL(enc, SPOOKY_E_HASH_COLLISION, "two field names share one xxh64 hash");
            }
            continue; /* repeated name: a later one wins */
        }
        fs[kept++] = fs[i];
        data_len += fs[i].val_len;
    }
    uint64_t total = SPOOKY_HEADER_SIZE + (uint64_t)kept * SPOOKY_INDEX_ENTRY_SIZE + data_len;
    if (total > UINT32_MAX) FAIL(enc, SPOOKY_E_TOO_LARGE, "record larger than 4 GiB");
    out->len = 0;
    TRY(buf_grow(out, (size_t)total));
    uint8_t *r = out->data;
    memset(r, 0, SPOOKY_HEADER_SIZE);
    store_u32(r, (uint32_t)kept);
    uint32_t off = SPOOKY_HEADER_SIZE + (uint32_t)kept * SPOOKY_INDEX_ENTRY_SIZE;
    for (size_t i = 0; i < kept; i++) {
        uint8_t *e = ENTRY(r, i);
        store_u64(e, fs[i].hash);
        store_u32(e + 8, off);
        store_u32(e + 12, (uint32_t)fs[i].val_len);
        e[16] = fs[i].tag;
        e[17] = e[18] = e[19] = 0;
        memcpy(r + off, enc->vals.data + fs[i].val_off, fs[i].val_len);
        off += (uint32_t)fs[i].val_len;
    }
    out->len = (size_t)total;
    return SPOOKY_OK;
}

int encode_object(spooky_encoder *enc, spooky_buf *out) {
    enc->nfields = 0;
    enc->nmembers = 0;
    enc->vals.len = 0;
    enc->keys.len = 0;
    if (enc->p >= enc->end || *enc->p != '{') {
        if (enc->p < enc->end && (*enc->p == '[' || *enc->p == '"' || *enc->p == '-' ||
                                  (*enc->p >= '0' && *enc->p <= '9') || *enc->p == 't' ||
                                  *enc->p == 'f' || *enc->p == 'n'))
            FAIL(enc, SPOOKY_E_JSON_NOT_OBJECT, "a record must be a JSON object");
        FAIL(enc, SPOOKY_E_JSON_SYNTAX, "'{' expected");
    }
    enc->p++;
    skip_ws(enc);
    if (enc->p < enc->end && *enc->p == '}') {
        enc->p++;
        return write_record(enc, out);
    }
    uint32_t order = 0;
    for (;;) {
        if (enc->p >= enc->end || *enc->p != '"') FAIL(enc, SPOOKY_E_JSON_SYNTAX, "object key expected");
        field f;
        f.src_pos = (size_t)(enc->p - enc->start);
        f.order = order++;
        f.key_off = enc->keys.len;
        TRY(parse_string(enc, &enc->keys));
        f.key_len = enc->keys.len - f.key_off;
        f.hash = spooky_xxh64(enc->keys.data + f.key_off, f.key_len, 0);
        skip_ws(enc);
        if (enc->p >= enc->end || *enc->p != ':') FAIL(enc, SPOOKY_E_JSON_SYNTAX, "':' expected");
        enc->p++;
        skip_ws(enc);
        f.val_off = enc->vals.len;
        TRY(field_value(enc, &enc->vals, &f.tag, 1));
        f.val_len = enc->vals.len - f.val_off;
        TRY(push_field(enc, f));
        skip_ws(enc);
        if (enc->p >= enc->end) FAIL(enc, SPOOKY_E_JSON_SYNTAX, "unterminated object");
        if (*enc->p == ',') { enc->p++; skip_ws(enc); continue; }
        if (*enc->p == '}') { enc->p++; break; }
        FAIL(enc, SPOOKY_E_JSON_SYNTAX, "',' or '}' expected");
    }
    return write_record(enc, out);
}

static void begin(spooky_encoder *enc, const uint8_t *json, size_t len) {
    enc->start = enc->p = json;
    enc->end = json + len;
    enc->err_code = SPOOKY_OK;
    enc->err_pos = json;
    enc->err_msg = "";
}

static int finish(spooky_encoder *enc, int rc, spooky_error *err) {
    if (rc == SPOOKY_OK) {
        skip_ws(enc);
        if (enc->p != enc->end) {
            enc->err_code = rc = SPOOKY_E_JSON_SYNTAX;
            enc->err_pos = enc->p;
            enc->err_msg = "unexpected data after the JSON value";
        }
    }
    if (rc && err) {
        err->code = rc;
        err->offset = enc->err_code ? (size_t)(enc->err_pos - enc->start) : (size_t)(enc->p - enc->start);
        err->message = enc->err_code ? enc->err_msg : spooky_strerror(rc);
    }
    return rc;
}

int spooky_encode_record(spooky_encoder *enc, const uint8_t *json, size_t len,
                         spooky_buf *out, spooky_error *err) {
    if (!enc || !out || (!json && len)) return SPOOKY_E_ARG;
    begin(enc, json, len);
    skip_ws(enc);
    return finish(enc, encode_object(enc, out), err);
}

int spooky_encode_value(spooky_encoder *enc, const uint8_t *json, size_t len,
                        spooky_buf *out, uint8_t *tag, spooky_error *err) {
    if (!enc || !out || !tag || (!json && len)) return SPOOKY_E_ARG;
    begin(enc, json, len);
    enc->nmembers = 0;
    out->len = 0;
    skip_ws(enc);
    return finish(enc, field_value(enc, out, tag, 0), err);
}
