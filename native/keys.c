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

int key_value_of(const uint8_t *key, size_t n, uint8_t scratch[8], uint8_t *tag,
                 const uint8_t **value, size_t *len) {
    if (n == 0) return SPOOKY_E_ARG;
    if (key[0] == KEY_KIND_I64 || key[0] == KEY_KIND_U64) {
        if (n != 9) return SPOOKY_E_ARG;
        uint64_t v = 0;
        for (int i = 0; i < 8; i++) v = v << 8 | key[1 + i];
        *tag = key[0] == KEY_KIND_I64 ? SPOOKY_I64 : SPOOKY_U64;
        store_u64(scratch, v ^ (key[0] == KEY_KIND_I64 ? FLIP : 0));
        *value = scratch;
        *len = 8;
        return SPOOKY_OK;
    }
    if (key[0] == KEY_KIND_STR && valid_utf8(key + 1, n - 1)) {
        *tag = SPOOKY_STR;
        *value = key + 1;
        *len = n - 1;
        return SPOOKY_OK;
    }
    return SPOOKY_E_ARG;
}

int spooky_key_sort_form(uint8_t tag, const uint8_t *value, size_t len, spooky_buf *out) {
    if (!out || (!value && len)) return SPOOKY_E_ARG;
    if (tag == SPOOKY_STR && !valid_utf8(value, len)) return SPOOKY_E_ARG;
    key_form k;
    TRY(key_form_of(tag, value, len, &k));
    return key_form_append(&k, out);
}

int spooky_key_to_json(const uint8_t *key, size_t len, spooky_buf *out) {
    if (!out || (!key && len)) return SPOOKY_E_ARG;
    uint8_t scratch[8], tag;
    const uint8_t *value;
    size_t n;
    TRY(key_value_of(key, len, scratch, &tag, &value, &n));
    return spooky_value_to_json(tag, value, n, out);
}
