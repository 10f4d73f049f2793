/* keys.h: record keys in their sort form (docs/FORMAT.md, "key"), the one
 * place that knows its bytes: a kind byte, then an integer's 8 big-endian
 * bytes (i64 with its sign bit flipped) or a string's UTF-8, so that byte
 * order (bytes_cmp) is key order. A key is one component today, the value of
 * the key field; a composite key will be components back to back, each
 * made and read as here. keys.c; spooky_key_sort_form and spooky_key_to_json
 * (spooky.h) are the same for Python. */
#ifndef SPOOKY_KEYS_H
#define SPOOKY_KEYS_H

#include "internal.h"

#define KEY_KIND_I64 1
#define KEY_KIND_U64 2
#define KEY_KIND_STR 3

/* A sort form as two runs of bytes, one after the other: head, held here
 * (the kind byte, and an integer's 8 bytes), then rest, where it lies (a
 * string's UTF-8 in its record, or a whole stored key), so that no key is
 * copied to be written or compared. */
typedef struct {
    uint8_t head[9];
    size_t head_len;
    const uint8_t *rest;
    size_t rest_len;
} key_form;

static inline size_t key_form_len(const key_form *k) { return k->head_len + k->rest_len; }

/* A stored sort form, as it lies. */
static inline key_form key_form_stored(const uint8_t *key, size_t n) {
    key_form k = {{0}, 0, key, n};
    return k;
}

/* The sort form of a value as a record stores it (tag, bytes) used as a
 * key: SPOOKY_E_KEY_TYPE unless an integer (i64, u64) or a string,
 * SPOOKY_E_ARG for an integer that is not 8 bytes. A string's UTF-8 is not
 * checked. */
int key_form_of(uint8_t tag, const uint8_t *value, size_t len, key_form *k);
/* The sort form of the key field (name hash key_hash) of a valid record:
 * SPOOKY_E_KEY_MISSING when it has none, else as key_form_of. */
int key_form_of_record(const uint8_t *rec, size_t len, uint64_t key_hash, key_form *k);
/* Whether the n bytes at key are k. */
int key_form_equals(const key_form *k, const uint8_t *key, size_t n);
/* k's bytes appended to out. */
int key_form_append(const key_form *k, spooky_buf *out);

/* The key value of a stored sort form, as a record stores it: its tag, and
 * its bytes (value, len: an integer's 8 little-endian bytes in scratch, a
 * string's where they lie). SPOOKY_E_ARG when the bytes are no key's sort
 * form (a kind that is not one, an integer not 8 bytes, a string not
 * UTF-8). */
int key_value_of(const uint8_t *key, size_t n, uint8_t scratch[8], uint8_t *tag,
                 const uint8_t **value, size_t *len);

#endif
