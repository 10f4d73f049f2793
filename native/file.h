/* file.h: an opened record file and block walking, shared by reader.c,
 * verify.c, diff.c, filter.c and chunk.c (internal, not the cdef). */
#ifndef SPOOKY_FILE_H
#define SPOOKY_FILE_H

#include "internal.h"
#include "keys.h"

#define KIND_RECORDS 1
#define KIND_FOOTER 2
#define NAME_FIXED (8 + 7 * 8 + 4) /* hash, type counts, name_len */
#define BLOCK_ENTRY 24
#define INDEX_ENTRY 32
#define SYNC_SIZE 16

typedef struct {
    uint64_t hash;
    const uint8_t *name; /* into the footer */
    const uint8_t *counts; /* 7 x u64 in the footer */
    uint32_t name_len;
    uint32_t rank; /* first appearance in the input: 0, 1, ... (format 1: hash order) */
    size_t esc_off, esc_len; /* the name's `"name":` text in spooky_file.esc */
} name_entry;

struct spooky_file {
    const uint8_t *data;
    size_t len;
    const uint8_t *sync;
    uint64_t footer_offset; /* file offset of the footer block's sync */
    uint32_t version; /* the format: 1 or 2 */
    uint64_t record_count, block_count, name_count;
    spooky_key key; /* its parts (a file of format 1: its key field) */
    const uint8_t *blocks, *index, *heap;
    uint64_t heap_len;
    name_entry *names;
    spooky_buf esc; /* `"name":` of every name, back to back */
    int release; /* data is a read-only mapping: pages may be given back */
};

/* A walk over the entries of a block whose header and checksum hold
 * (file_walk_block); key .. rec_off: the entry read last. */
typedef struct {
    spooky_block_info block;
    const uint8_t *p; /* the payload */
    uint64_t at, seen; /* position in the payload, records read */
    const uint8_t *key, *rec;
    uint32_t klen, rlen;
    uint64_t rec_off; /* file offset of rec */
} block_walk;

/* [off, off + n) lies inside [0, size) */
static inline int fits(uint64_t off, uint64_t n, uint64_t size) {
    return off <= size && n <= size - off;
}

/* Gives back the whole pages inside [p, p + n) of f's mapping, when f was
 * opened with SPOOKY_OPEN_RELEASE_PAGES (else nothing): a pass over a large
 * file keeps a flat resident size; the page cache keeps the data. */
void file_release(const spooky_file *f, const uint8_t *p, uint64_t n);

/* Fills err (if given) and returns code. */
int file_fail(spooky_error *err, int code, uint64_t offset, const char *message);
/* A binary search of a sorted key index, or of a slice [lo, hi) of it:
 * the first position whose key (key_at(ctx, pos, &len)) is not below key,
 * or hi; *found (if given): that key is key. */
typedef const uint8_t *(*index_key_fn)(const void *ctx, uint64_t pos, uint32_t *len);
uint64_t file_key_search(uint64_t lo, uint64_t hi, const uint8_t *key, size_t key_len,
                         index_key_fn key_at, const void *ctx, int *found);
/* Index of the name with this hash in f->names, or -1. */
int64_t file_name_index(const spooky_file *f, uint64_t hash);
/* Block i's header against the block table and its checksum, then a walk
 * from its first entry (w->block is set as far as it was read). */
int file_walk_block(const spooky_file *f, uint64_t i, block_walk *w, spooky_error *err);
/* The next entry into w, its record validated: 1, or 0 with *rc the
 * status: SPOOKY_OK at the end of the block, else why it is not valid. */
int file_next_entry(block_walk *w, int *rc, spooky_error *err);
/* Every field of a valid record has a JSON form: strings UTF-8, nested
 * values valid CBOR, floats finite (NaN and infinities are not allowed in a
 * record file: SPOOKY_E_NOT_JSON), and, when f is given, every name in f's
 * name table. What verify checks per record; every writer that copies records
 * checks it too. scratch: reused space for the CBOR check. */
int file_check_fields(const spooky_file *f, const uint8_t *rec, uint32_t rlen, uint64_t rec_off,
                      spooky_buf *scratch, spooky_error *err);
/* The stored key (at file offset key_off) of a valid record is well formed
 * and the sort form of the record's key, made again from f's key parts:
 * what verify checks per key; filter checks it for the records it copies.
 * scratch: reused space for a composite key. */
int file_check_key(const spooky_file *f, const uint8_t *key, uint32_t klen, const uint8_t *rec,
                   uint32_t rlen, uint64_t key_off, spooky_buf *scratch, spooky_error *err);
/* The entry read last by a walk: file_check_key and file_check_fields, what
 * verify checks per record besides the key index. */
int file_check_entry(const spooky_file *f, const block_walk *w, spooky_buf *scratch,
                     spooky_error *err);
/* n bytes of f at file offset off into dst: with pread from fd (a descriptor
 * of the same file), or copied from f's bytes when fd < 0. A short file
 * (changed since it was opened) is SPOOKY_E_FILE_TRUNCATED. (verify.c) */
int file_read_at(const spooky_file *f, int fd, uint8_t *dst, uint64_t off, uint64_t n,
                 spooky_error *err);
/* Gives back the pages holding any of f's bytes [lo, hi), and FOLIO_SLACK
 * bytes before: a fault maps a whole large folio of the page cache (up to
 * 2 MB), so a pass reading forward maps again pages given back behind it. */
#define FOLIO_SLACK ((uint64_t)2 << 20)
void file_give_back(const spooky_file *f, uint64_t lo, uint64_t hi);

/* A field value of a valid record as JSON, appended to out. */
int file_put_value(const uint8_t *rec, const spooky_slot *s, uint64_t rec_off, spooky_buf *out,
                   spooky_error *err);

/* The output order of one schema (a record's set of fields, by their name
 * hashes in index order): index positions sorted by the names' first
 * appearance in the input, and each position's name table entry. */
typedef struct {
    uint32_t n;
    uint64_t *hashes; /* the schema */
    uint32_t *order; /* output position k: index position order[k] */
    int64_t *ni; /* index position j: entry ni[j] of the name table */
} schema_order;

/* The plan's FieldSlotMap: the orders of the last few schemas seen, so that
 * the order is computed once per schema, not once per record. */
#define SCHEMA_CACHE 8
typedef struct {
    schema_order schemas[SCHEMA_CACHE];
    size_t used, next;
} name_cache;
void name_cache_free(name_cache *cache);
/* A valid record's fields as one JSON object (no newline) appended to out,
 * in the order their names first appeared in the input. */
int file_put_record(const spooky_file *f, const uint8_t *rec, uint32_t rlen, uint64_t rec_off,
                    name_cache *cache, spooky_buf *out, spooky_error *err);

/* A ResolvedSchema: a slot per named field, resolved on the first record and
 * refreshed per record (spooky_slot_refresh: O(1) while records keep one
 * schema), so a scan does no hashing and no search per record and field.
 * names[j] is field j's name table entry (NULL when the file has no such
 * name, or no file was given). */
typedef struct tree_node tree_node;
typedef struct projection projection;

typedef struct {
    spooky_slot *slots;
    const name_entry **names;
    size_t n;
    const projection *paths; /* a projection: what to keep below each field, or NULL */
} resolved_schema;
int schema_init(resolved_schema *s, const spooky_file *f, const uint64_t *fields, size_t n);
void schema_free(resolved_schema *s);

/* The schema's fields of a valid record, in its order, as one JSON object. */
int file_put_projected(const spooky_file *f, resolved_schema *p, const uint8_t *rec, uint32_t rlen,
                       uint64_t rec_off, spooky_buf *out, spooky_error *err);
/* The record a walk read last as one NDJSON line: the fields of p, or with
 * p NULL every field (cache as file_put_record's). */
int file_put_line(const spooky_file *f, resolved_schema *p, name_cache *cache, const block_walk *w,
                  spooky_buf *out, spooky_error *err);

/* record.c: a record of the fields of rec at the given slots (valid for rec,
 * strictly ascending name hashes) into out (cleared first). */
int record_pick(const uint8_t *rec, const spooky_slot *slots, size_t n, spooky_buf *out);
/* record.c: a record of n fields (strictly ascending hashes), each a tag and
 * its value bytes, into out (cleared first). */
typedef struct {
    uint64_t hash;
    uint8_t tag;
    const uint8_t *value;
    uint32_t len;
} field_value;
int record_of(const field_value *fields, size_t n, spooky_buf *out);

/* project.c: the paths of a projection (spooky.h, export --fields) as a tree
 * per field: node i's children are nodes i + 1, then each one's `end`, ...;
 * a node with no children keeps its value whole. */
struct tree_node {
    const uint8_t *step; /* the key (or decimal array index) that leads here */
    uint32_t step_len;
    uint32_t nchildren;
    uint32_t end; /* the node after this one's subtree */
};
struct projection {
    tree_node *nodes;
    size_t n, cap;
    uint32_t *root; /* field j's tree: nodes[root[j]] */
};
/* Parses trees (NULL: nothing to parse) for nfields fields; SPOOKY_E_ARG when
 * they are not well formed. */
int projection_parse(projection *pj, const uint8_t *trees, size_t len, size_t nfields);
void projection_free(projection *pj);
/* What node i keeps of the CBOR item [p, end) appended to out as JSON, or as
 * canonical CBOR; *wrote 0 when nothing below it is kept (nothing written). */
int projection_put_json(const projection *pj, uint32_t i, const uint8_t *p, const uint8_t *end,
                        spooky_buf *out, int *wrote);
int projection_put_cbor(const projection *pj, uint32_t i, const uint8_t *p, const uint8_t *end,
                        spooky_buf *out, int *wrote);

/* merge.c: the versions of two valid records at their slots (found, or
 * NULL when the record lacks the field): numbers by value, strings by their
 * bytes: -1, 0, 1, or NUMBER_UNORDERED (number.h; a side lacks it, other types). */
int version_cmp(const uint8_t *a, const spooky_slot *sa, const uint8_t *b, const spooky_slot *sb);

#endif
