/* encoder.h: the transcoder's reusable scratch state (internal). */
#ifndef SPOOKY_ENCODER_H
#define SPOOKY_ENCODER_H

#include "internal.h"

/* A top-level field parsed but not yet placed. After a record is encoded,
 * fields[0..nfields) still name every field in input order (chunk.c). */
typedef struct {
    uint64_t hash;
    size_t key_off, key_len; /* in enc->keys */
    size_t val_off, val_len; /* in enc->vals */
    size_t src_pos; /* byte offset of the key in the input */
    uint8_t tag;
} field;

/* A field's place in hash order: its hash and index in enc->fields. */
typedef struct {
    uint64_t hash;
    size_t idx;
} field_ref;

/* A member of a nested object being encoded: its CBOR key and value. */
typedef struct {
    size_t start, end; /* key head .. end of value, in the output */
    size_t key_off, key_len; /* raw key bytes, in the output */
    uint64_t prefix; /* key_prefix(): orders most keys at once */
    uint32_t order; /* input position: ties in qsort */
} member;

/* The key order of a nested object's shape seen lately: its keys (at most
 * 8 bytes each, so that key_prefix() and the length tell them apart) in
 * input order, none repeated. */
#define SHAPE_KEYS 8
#define SHAPE_SLOTS 16 /* small_key_order() picks one by a 4-bit hash */
typedef struct {
    uint64_t prefix[SHAPE_KEYS];
    uint8_t len[SHAPE_KEYS];
    uint8_t ord[SHAPE_KEYS]; /* input positions in key order */
    uint8_t n; /* keys; 0: empty slot */
    uint8_t sorted; /* the input order is the key order */
} shape;

/* A key of an earlier record, to know a repeated name without hashing it. */
typedef struct {
    size_t off, len; /* in enc->ckeys; len SIZE_MAX: never matches */
    uint64_t hash;
} cached_key;

struct spooky_encoder {
    const uint8_t *start, *p, *end;
    int err_code;
    const uint8_t *err_pos;
    const char *err_msg;
    spooky_buf vals, keys, tmp, num;
    field *fields;
    size_t nfields, cap_fields;
    member *members;
    size_t nmembers, cap_members;
    field_ref *sorted; /* cap_fields entries: the hash order */
    /* The keys of the last record whose keys differed from the cache, in
     * input order; sorted[] still holds their hash order if ckey_order. */
    spooky_buf ckeys;
    cached_key *ckey; /* cap_fields entries */
    size_t nckeys;
    int ckey_order;
    uint64_t keys_gen; /* counts the changes of the key cache */
    int same_keys; /* the last record's keys were the cache's, in order */
    shape shapes[SHAPE_SLOTS];
    int big_int; /* spooky_big_int */
    uint64_t big_ints; /* integers stored as floats by the current call */
};

/* Parses the object at enc->p (between enc->start and enc->end) into out. */
int encode_object(spooky_encoder *enc, spooky_buf *out);

#endif
