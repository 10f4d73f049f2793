/* names.h: the name table of a chunk or a writer (internal): every field
 * name seen, by its hash, with how many records hold the field with each
 * type. An open-addressing table; names.c. */
#ifndef SPOOKY_NAMES_H
#define SPOOKY_NAMES_H

#include "internal.h"

typedef struct {
    uint64_t hash;
    size_t name_off, name_len; /* in the table's heap */
    uint64_t counts[7]; /* records holding the field, by type tag */
    size_t rank; /* when the name was first added: 0, 1, 2, ... */
    int used;
} name_slot;

typedef struct {
    name_slot *slots;
    size_t cap, count; /* cap: a power of two, or 0 */
    spooky_buf heap; /* the names, back to back */
    uint64_t *seq; /* the hashes in the order the names were first added */
    size_t cap_seq;
} name_table;

/* Where a hash's probe sequence starts. */
static inline size_t names_home(uint64_t hash, size_t cap) {
    return (size_t)(hash ^ (hash >> 29)) & (cap - 1);
}

/* The slot of this hash, or NULL. Inline: looked up for every field. */
static inline name_slot *names_find(const name_table *t, uint64_t hash) {
    if (!t->cap) return NULL;
    size_t i = names_home(hash, t->cap);
    while (t->slots[i].used) {
        if (t->slots[i].hash == hash) return &t->slots[i];
        i = (i + 1) & (t->cap - 1);
    }
    return NULL;
}

static inline const uint8_t *names_name(const name_table *t, const name_slot *s) {
    return t->heap.data + s->name_off;
}

void names_free(name_table *t);
/* Adds (hash, name) unless present. *clash is set to the existing slot when
 * the hash is there with another name. */
int names_add(name_table *t, uint64_t hash, const uint8_t *name, size_t len, name_slot **clash);
/* Adds the names of a valid record to t in the order `order` ranks them
 * (the first-appearance order of the names of order, which holds every one
 * of them), and counts their types. */
int names_add_record(name_table *t, const name_table *order, const uint8_t *rec);
/* Counts the type of every field of a valid record whose names are in t. */
void names_count_types(name_table *t, const uint8_t *rec);
/* Adds every name of src to t, in the order src first saw them, with src's
 * type counts when add_counts. At
 * the first hash t holds with another name it stops: *clash is t's slot and
 * *clash_src src's. */
int names_merge(name_table *t, const name_table *src, int add_counts, const name_slot **clash,
                const name_slot **clash_src);
/* The names section of a record file's footer appended to out: every name
 * sorted by hash, as hash u64 | type counts 7 x u64 | name_len u32 | name. */
int names_put_footer(const name_table *t, spooky_buf *out);
/* The name order section (format 2): for each name in the order it was
 * first added, its position in the hash-sorted names section, a u32. */
int names_put_order(const name_table *t, spooky_buf *out);

#endif
