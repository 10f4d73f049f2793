/* keys.c: record keys in their sort form (keys.h): a key value to its sort
 * form, a stored sort form back to the value or to JSON, and the two entry
 * points Python calls (spooky_key_sort_form, spooky_key_to_json). */
#include "keys.h"

#define FLIP 0x8000000000000000ULL /* i64: negative keys first */

int key_form_of(uint8_t tag, const uint8_t *value, size_t len, key_form *k) {
    k->rest = NULL;
    k->rest_len = 0;
    switch (tag) {
    case SPOOKY_I64:
    case SPOOKY_U64: {
        if (len != 8) return SPOOKY_E_ARG;
        uint64_t v = load_u64(value) ^ (tag == SPOOKY_I64 ? FLIP : 0);
        k->head[0] = tag == SPOOKY_I64 ? KEY_KIND_I64 : KEY_KIND_U64;
        for (int i = 0; i < 8; i++) k->head[1 + i] = (uint8_t)(v >> (56 - 8 * i));
        k->head_len = 9;
        return SPOOKY_OK;
    }
    case SPOOKY_STR:
        k->head[0] = KEY_KIND_STR;
        k->head_len = 1;
        k->rest = value;
        k->rest_len = len;
        return SPOOKY_OK;
    default: return SPOOKY_E_KEY_TYPE;
    }
}

int key_form_of_record(const uint8_t *rec, size_t len, uint64_t key_hash, key_form *k) {
    spooky_slot s;
    int rc = spooky_record_find(rec, len, key_hash, &s);
    if (rc == SPOOKY_E_NOT_FOUND) return SPOOKY_E_KEY_MISSING;
    if (rc) return rc;
    return key_form_of(s.tag, rec + s.offset, s.length, k);
}

int key_form_equals(const key_form *k, const uint8_t *key, size_t n) {
    return n == key_form_len(k) && (k->head_len == 0 || memcmp(key, k->head, k->head_len) == 0) &&
           (k->rest_len == 0 || memcmp(key + k->head_len, k->rest, k->rest_len) == 0);
}

int key_form_append(const key_form *k, spooky_buf *out) {
    TRY(buf_grow(out, key_form_len(k)));
    TRY(buf_append(out, k->head, k->head_len));
    return buf_append(out, k->rest, k->rest_len);
}

int key_part_append(uint8_t tag, const uint8_t *value, size_t len, int composite, spooky_buf *out) {
    key_form k;
    TRY(key_form_of(tag, value, len, &k));
    if (!composite || tag != SPOOKY_STR) return key_form_append(&k, out);
    /* a string part: its 0x00 bytes escaped, then the end */
    TRY(buf_grow(out, len + 2));
    TRY(buf_push(out, KEY_KIND_STR));
    for (const uint8_t *s = value, *end = value + len; s < end;) {
        const uint8_t *zero = memchr(s, 0, (size_t)(end - s));
        if (!zero) {
            TRY(buf_append(out, s, (size_t)(end - s)));
            break;
        }
        TRY(buf_append(out, s, (size_t)(zero - s) + 1));
        TRY(buf_push(out, KEY_STR_ESC));
        s = zero + 1;
    }
    return buf_push(out, KEY_STR_END);
}

int key_part_at(const uint8_t **p, const uint8_t *end, int composite, uint8_t scratch[8],
                uint8_t *tag, const uint8_t **value, size_t *len) {
    const uint8_t *q = *p;
    if (q >= end) return SPOOKY_E_ARG;
    uint8_t kind = *q++;
    if (kind == KEY_KIND_I64 || kind == KEY_KIND_U64) {
        if (end - q < 8) return SPOOKY_E_ARG;
        uint64_t v = 0;
        for (int i = 0; i < 8; i++) v = v << 8 | q[i];
        *tag = kind == KEY_KIND_I64 ? SPOOKY_I64 : SPOOKY_U64;
        store_u64(scratch, v ^ (kind == KEY_KIND_I64 ? FLIP : 0));
        *value = scratch;
        *len = 8;
        *p = q + 8;
        return SPOOKY_OK;
    }
    if (kind != KEY_KIND_STR) return SPOOKY_E_ARG;
    const uint8_t *stop = end;
    if (composite) { /* UTF-8 between the escapes (no UTF-8 sequence holds a 0x00) */
        const uint8_t *s = q;
        for (;;) {
            const uint8_t *zero = memchr(s, 0, (size_t)(end - s));
            if (!zero || !valid_utf8(s, (size_t)(zero - s))) return SPOOKY_E_ARG;
            if (end - zero > 1 && zero[1] == KEY_STR_ESC) {
                s = zero + 2;
                continue;
            }
            stop = zero;
            break;
        }
    } else if (!valid_utf8(q, (size_t)(end - q))) {
        return SPOOKY_E_ARG;
    }
    *tag = SPOOKY_STR;
    *value = q;
    *len = (size_t)(stop - q);
    *p = stop == end ? end : stop + 1;
    return SPOOKY_OK;
}

int key_unescape(const uint8_t *s, size_t n, spooky_buf *out) {
    TRY(buf_grow(out, n));
    for (const uint8_t *end = s + n; s < end;) {
        const uint8_t *zero = memchr(s, 0, (size_t)(end - s));
        if (!zero) return buf_append(out, s, (size_t)(end - s));
        TRY(buf_append(out, s, (size_t)(zero - s) + 1));
        s = zero + 2; /* past the escape: key_part_at found it there */
    }
    return SPOOKY_OK;
}

int key_well_formed(const uint8_t *key, size_t n, uint32_t parts) {
    const uint8_t *p = key, *end = key + n, *value;
    uint8_t scratch[8], tag;
    size_t len;
    if (parts == 0) return 0;
    for (uint32_t i = 0; i < parts; i++)
        if (key_part_at(&p, end, parts > 1, scratch, &tag, &value, &len)) return 0;
    return p == end;
}

int spooky_key_sort_form(uint8_t tag, const uint8_t *value, size_t len, int composite,
                         spooky_buf *out) {
    if (!out || (!value && len)) return SPOOKY_E_ARG;
    if (tag == SPOOKY_STR && !valid_utf8(value, len)) return SPOOKY_E_ARG;
    return key_part_append(tag, value, len, composite != 0, out);
}

int spooky_key_to_json(const uint8_t *key, size_t len, uint32_t parts, spooky_buf *out) {
    if (!out || (!key && len) || !key_well_formed(key, len, parts)) return SPOOKY_E_ARG;
    const uint8_t *p = key, *end = key + len, *value;
    uint8_t scratch[8], tag;
    size_t n;
    if (parts == 1) {
        TRY(key_part_at(&p, end, 0, scratch, &tag, &value, &n));
        return spooky_value_to_json(tag, value, n, out);
    }
    size_t mark = out->len;
    spooky_buf plain = {0};
    int rc = buf_push(out, '[');
    for (uint32_t i = 0; i < parts && !rc; i++) {
        if (i) rc = buf_push(out, ',');
        if (!rc) rc = key_part_at(&p, end, 1, scratch, &tag, &value, &n);
        if (!rc && tag == SPOOKY_STR) {
            plain.len = 0;
            rc = key_unescape(value, n, &plain);
            value = plain.data ? plain.data : scratch;
            n = plain.len;
        }
        if (!rc) rc = spooky_value_to_json(tag, value, n, out);
    }
    if (!rc) rc = buf_push(out, ']');
    spooky_buf_free(&plain);
    if (rc) out->len = mark;
    return rc;
}
