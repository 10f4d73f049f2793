/* path.h: paths into nested (CBOR) values (internal), one walker for every
 * caller: filter's predicates (`user.name == "Ann"`) and nested key parts
 * (`--key user.id`). A path is steps back to back, each a u32 length
 * (little-endian) and that many bytes: a key of an object, or decimal
 * digits, which also index an array. path.c. */
#ifndef SPOOKY_PATH_H
#define SPOOKY_PATH_H

#include "internal.h"

/* A value as a record stores it: a field's, or one read out of a nested
 * field (then a number or bool lies in scratch, and a copy of the struct
 * must point v at its own scratch). */
typedef struct {
    uint8_t tag;
    const uint8_t *v;
    uint32_t len;
    uint8_t scratch[8];
} path_value;

/* The item one step (key or index) below the item [*p, *end): 1 found
 * (with *p, *end narrowed to it), 0 not there (a key that is not there, an
 * index past the end, a step below a scalar), or a negated status. */
int path_step(const uint8_t **p, const uint8_t **end, const uint8_t *step, uint32_t step_len);

/* One CBOR item as a value: an integer as i64 (u64 above i64 max; a
 * negative one below i64 min as the nearest f64), a float as f64, a text
 * string as str, true/false as bool, null, an array or map as nested.
 * SPOOKY_E_NOT_JSON for an item with no JSON value (byte strings, tags). */
int path_item_value(const uint8_t *p, const uint8_t *end, path_value *x);

/* The value at steps (path_len bytes, well formed) below field slot s of a
 * valid record rec (s NULL: the record lacks the field); no steps: the
 * field's own value. *found 0 when the path leads nowhere (a step below a
 * value that is not nested included); SPOOKY_E_NOT_JSON when it leads to an
 * item with no JSON value, SPOOKY_E_CBOR_INVALID on bad CBOR. */
int path_value_of(const uint8_t *rec, const spooky_slot *s, const uint8_t *path, size_t path_len,
                  path_value *x, int *found);

/* Whether path_len bytes at path are steps that add up (each length within
 * what is left). */
int path_well_formed(const uint8_t *path, size_t path_len);

#endif
