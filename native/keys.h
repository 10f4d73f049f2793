/* keys.h: record keys in their sort form (docs/FORMAT.md, "key"), the one
 * place that knows its bytes. A key is 1..N parts, each a value of the
 * record (an integer or a string); the sort form is made so that byte order
 * (bytes_cmp) is key order. One part: a kind byte, then an integer's 8
 * big-endian bytes (i64 with its sign bit flipped) or a string's UTF-8. Two
 * or more: the parts back to back, integers as for one, a string's UTF-8
 * with each 0x00 byte written 0x00 0xFF and then a 0x00, so that the tuple
 * order is byte order. keys.c; spooky_key_sort_form and spooky_key_to_json
 * (spooky.h) are the same for Python. */
#ifndef SPOOKY_KEYS_H
#define SPOOKY_KEYS_H

#include "internal.h"

#define KEY_KIND_I64 1
#define KEY_KIND_U64 2
#define KEY_KIND_STR 3
#define KEY_STR_END 0x00 /* composite: ends a string part */
#define KEY_STR_ESC 0xFF /* composite: 0x00 0xFF is a 0x00 byte of a string part */

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

/* The sort form of a one-part key, a value as a record stores it (tag,
 * bytes): SPOOKY_E_KEY_TYPE unless an integer (i64, u64) or a string,
 * SPOOKY_E_ARG for an integer that is not 8 bytes. A string's UTF-8 is not
 * checked. */
int key_form_of(uint8_t tag, const uint8_t *value, size_t len, key_form *k);
/* A key part: a top-level field, and the steps into its nested value. */
typedef struct {
    uint64_t hash; /* the top-level field's name hash */
    const uint8_t *path; /* the steps below it in path.h's form; path_len 0: the field itself */
    size_t path_len;
} key_part;

/* A record key, resolved once per writer or file: its parts, read from a
 * key section as FORMAT.md lays it out (parts, each step_count u32 and then
 * each step: len u32 and UTF-8 bytes), which it keeps (the parts point into
 * it). */
struct spooky_key {
    uint32_t nparts;
    key_part *parts;
    spooky_buf section;
};

/* k from a key section of `parts` parts (len bytes). SPOOKY_E_ARG when it
 * is not well formed (no parts, a part of no steps, a length past the
 * section, a step not UTF-8, bytes after the parts): *why says what, at
 * byte *bad_at of the section. */
int key_init(spooky_key *k, const uint8_t *section, size_t len, uint32_t parts, size_t *bad_at,
             const char **why);
/* k as one top-level field (a file of format 1). */
int key_init_field(spooky_key *k, const uint8_t *name, size_t len);
void key_clear(spooky_key *k);
/* The sort form of the key of a valid record: the values its parts lead
 * to, each an integer or a string (a CBOR integer inside a nested value is
 * the i64 or u64 a top-level one would be). One part: where the value lies;
 * two or more: built in scratch. SPOOKY_E_KEY_MISSING when a part's field is
 * absent or its path leads nowhere, SPOOKY_E_KEY_TYPE when it leads to
 * another type, SPOOKY_E_CBOR_INVALID on bad CBOR; *bad_part (if given):
 * the part at fault. */
int key_form_of_record(const uint8_t *rec, size_t len, const spooky_key *key, spooky_buf *scratch,
                       key_form *k, uint32_t *bad_part);
/* Whether the n bytes at key are k. */
int key_form_equals(const key_form *k, const uint8_t *key, size_t n);
/* k's bytes appended to out. */
int key_form_append(const key_form *k, spooky_buf *out);

/* One part's sort form appended to out: as a one-part key's (composite 0)
 * or as a part of a key of two or more (composite 1). Errors as key_form_of. */
int key_part_append(uint8_t tag, const uint8_t *value, size_t len, int composite, spooky_buf *out);

/* The part of a stored sort form at *p (before end), as a record stores
 * its value: its tag, and its bytes (value, len: an integer's 8
 * little-endian bytes in scratch; a string's UTF-8 where it lies, for a
 * composite key still escaped, see key_unescape); *p moves past it. A
 * one-part key's string runs to end. SPOOKY_E_ARG when the bytes are no
 * part's sort form (a kind that is not one, an integer cut short, a string
 * not UTF-8 or, in a composite key, without its end). */
int key_part_at(const uint8_t **p, const uint8_t *end, int composite, uint8_t scratch[8],
                uint8_t *tag, const uint8_t **value, size_t *len);
/* A composite key's string part as key_part_at found it, its escapes
 * undone, appended to out. */
int key_unescape(const uint8_t *s, size_t n, spooky_buf *out);
/* Whether the n bytes at key are the sort form of a key of `parts` parts. */
int key_well_formed(const uint8_t *key, size_t n, uint32_t parts);

#endif
