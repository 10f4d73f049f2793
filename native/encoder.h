/* encoder.h: the transcoder's reusable scratch state (internal). */
#ifndef SPOOKY_ENCODER_H
#define SPOOKY_ENCODER_H

#include "internal.h"

/* A top-level field parsed but not yet placed. */
typedef struct {
    uint64_t hash;
    size_t key_off, key_len; /* in enc->keys */
    size_t val_off, val_len; /* in enc->vals */
    size_t src_pos;          /* byte offset of the key in the input */
    uint32_t order;          /* position in the input, for "last wins" */
    uint8_t tag;
} field;

/* A member of a nested object being encoded: its CBOR key and value. */
typedef struct {
    size_t start, end;       /* key head .. end of value, in the output */
    size_t key_off, key_len; /* raw key bytes, in the output */
    uint32_t order;
} member;

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
};

/* Parses the object at enc->p (between enc->start and enc->end) into out. */
int encode_object(spooky_encoder *enc, spooky_buf *out);

#endif
