/* spooky.h: the public surface of the spooky C core (benchmark kernels and
 * test hooks live in bench.h).
 *
 * This file is also the cffi cdef: native/build.py feeds the part between the
 * CDEF markers to cffi unchanged (then bench.h's), so keep that part to plain
 * declarations that cffi understands (no macros with arguments, no inline
 * code).
 *
 * Every function that can fail returns an int status: SPOOKY_OK (0) or one of
 * the spooky_status codes; spooky_strerror() names it. Records are the
 * SpookyRecord layout of docs/FORMAT.md (all integers little-endian).
 */
#ifndef SPOOKY_H
#define SPOOKY_H

#include <stddef.h>
#include <stdint.h>

/* CDEF-BEGIN */

typedef enum {
    SPOOKY_OK = 0,
    SPOOKY_E_NOMEM = 1, /* allocation failed */
    SPOOKY_E_ARG = 2, /* bad argument from the caller */
    SPOOKY_E_JSON_SYNTAX = 10, /* malformed JSON */
    SPOOKY_E_JSON_UTF8 = 11, /* invalid UTF-8 or lone surrogate */
    SPOOKY_E_JSON_NUMBER = 12, /* number that overflows a double */
    SPOOKY_E_JSON_DEPTH = 13, /* nesting deeper than SPOOKY_MAX_DEPTH */
    SPOOKY_E_JSON_NOT_OBJECT = 14, /* a record must be a JSON object */
    SPOOKY_E_JSON_BIG_INT = 15, /* integer beyond i64 and u64 (SPOOKY_BIG_INT_ERROR) */
    SPOOKY_E_HASH_COLLISION = 20, /* two names with one xxh64 in a record */
    SPOOKY_E_RECORD_INVALID = 30, /* bytes are not a valid record */
    SPOOKY_E_CBOR_INVALID = 31, /* nested value is not valid CBOR */
    SPOOKY_E_NOT_JSON = 32, /* value has no JSON form (NaN, bytes, tag) */
    SPOOKY_E_NOT_FOUND = 40, /* no field with that name */
    SPOOKY_E_TYPE = 41, /* field has another type */
    SPOOKY_E_LENGTH = 42, /* in-place write of another byte length */
    SPOOKY_E_EXISTS = 43, /* add of a field that is already there */
    SPOOKY_E_TOO_LARGE = 44, /* record would exceed the u32 offsets */
    SPOOKY_E_STALE_SLOT = 45, /* a slot's index entry no longer matches the record */
    SPOOKY_E_KEY_MISSING = 50, /* record has no key field */
    SPOOKY_E_KEY_TYPE = 51, /* key is not a string or an integer */
    SPOOKY_E_DUPLICATE_KEY = 52, /* two records with one key */
    SPOOKY_E_FILE_TRUNCATED = 60, /* record file ends early (no end magic) */
    SPOOKY_E_FILE_INVALID = 61, /* record file structure is wrong */
    SPOOKY_E_CHECKSUM = 62, /* block checksum mismatch */
    SPOOKY_E_IO = 63, /* read or write failed (errno is set) */
    SPOOKY_E_TEMP_FILE = 64 /* a temporary file could not be made, written
                                    or read (errno is set) */
} spooky_status;

typedef enum {
    SPOOKY_NULL = 0,
    SPOOKY_BOOL = 1,
    SPOOKY_I64 = 2,
    SPOOKY_F64 = 3,
    SPOOKY_STR = 4,
    SPOOKY_NESTED = 5,
    SPOOKY_U64 = 6
} spooky_type;

/* What a record_edit does with the named field. */
typedef enum {
    SPOOKY_EDIT_REPLACE = 0, /* field must exist */
    SPOOKY_EDIT_INSERT = 1, /* field must not exist */
    SPOOKY_EDIT_UPSERT = 2, /* either */
    SPOOKY_EDIT_REMOVE = 3 /* field must exist */
} spooky_edit_mode;

#define SPOOKY_HEADER_SIZE 20
#define SPOOKY_INDEX_ENTRY_SIZE 20
#define SPOOKY_MAX_DEPTH 1024

/* A growable byte buffer owned by the core. Zero-initialise it; it keeps its
 * capacity across uses (len is reset, cap only grows) until spooky_buf_free. */
typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
} spooky_buf;

/* Where and why a parse failed: offset is the byte offset in the input. */
typedef struct {
    int code;
    size_t offset;
    const char *message;
} spooky_error;

/* A resolved field: its index position and where its value lies. */
typedef struct {
    uint32_t index;
    uint32_t offset;
    uint32_t length;
    uint8_t tag;
    uint64_t name_hash;
} spooky_slot;

/* Opaque transcoder state: scratch space reused across calls. One per thread. */
typedef struct spooky_encoder spooky_encoder;

/* What an encoder does with an integer literal beyond both i64 and u64. */
typedef enum {
    SPOOKY_BIG_INT_ERROR = 0, /* SPOOKY_E_JSON_BIG_INT at the number (the default) */
    SPOOKY_BIG_INT_FLOAT = 1 /* f64, the nearest double (the reference's rule) */
} spooky_big_int;

const char *spooky_version(void);
const char *spooky_strerror(int code);

uint64_t spooky_xxh64(const uint8_t *data, size_t len, uint64_t seed);
/* The hash of a field name: xxh64, seed 0 (masked only under the test hook). */
uint64_t spooky_name_hash(const uint8_t *name, size_t len);
int spooky_buf_reserve(spooky_buf *buf, size_t cap);
void spooky_buf_free(spooky_buf *buf);

/* Starts writing [offset, offset + len) of fd back to disk without waiting
 * (Linux sync_file_range; elsewhere nothing), so that the fsync that makes
 * an output durable has less left to wait for. */
void spooky_start_writeback(int fd, uint64_t offset, uint64_t len);

/* A sequential output to a new, empty file (an output's temp file), written
 * in whole pages with direct I/O where the file system takes it (no copy
 * into the page cache; the file is fsynced anyway), else plainly.
 * spooky_sink_finish writes the last partial page and leaves fd as it was
 * (no O_DIRECT), at the end of what was written. SPOOKY_E_IO: errno says why. */
typedef struct spooky_sink spooky_sink;
spooky_sink *spooky_sink_new(int fd);
int spooky_sink_write(spooky_sink *s, const uint8_t *data, size_t n);
int spooky_sink_finish(spooky_sink *s);
void spooky_sink_free(spooky_sink *s);

spooky_encoder *spooky_encoder_new(void);
void spooky_encoder_free(spooky_encoder *enc);
/* Sets the spooky_big_int mode for the encoder's next calls. */
int spooky_encoder_set_big_int(spooky_encoder *enc, int mode);

/* One JSON object -> record bytes in out (out is cleared first, its capacity
 * kept). On failure err says where. */
int spooky_encode_record(spooky_encoder *enc, const uint8_t *json, size_t len, spooky_buf *out,
                         spooky_error *err);

/* One JSON value -> a field value: *tag and its value bytes in out (scalars
 * as the record stores them, arrays and objects as canonical CBOR). */
int spooky_encode_value(spooky_encoder *enc, const uint8_t *json, size_t len, spooky_buf *out,
                        uint8_t *tag, spooky_error *err);

/* Checks untrusted bytes: header, index bounds, sorted unique hashes, known
 * tags and lengths, packed data that ends exactly at len. */
int spooky_record_validate(const uint8_t *rec, size_t len);

/* Binary search of a validated record. SPOOKY_E_NOT_FOUND if absent. */
int spooky_record_find(const uint8_t *rec, size_t len, uint64_t name_hash, spooky_slot *slot);
int spooky_record_resolve(const uint8_t *rec, size_t len, const uint8_t *name, size_t name_len,
                          spooky_slot *slot);
/* The slot of index position i (for iteration). */
int spooky_record_slot_at(const uint8_t *rec, size_t len, uint32_t i, spooky_slot *slot);

/* Any structural change: writes the edited record into out (cleared first).
 * Data stay packed in index order, so the result equals a fresh encode. */
int spooky_record_edit(const uint8_t *rec, size_t len, uint64_t name_hash, int mode, uint8_t tag,
                       const uint8_t *value, size_t value_len, spooky_buf *out);

/* Re-points a slot resolved on another record of the same schema (same field
 * set): O(1) when index position slot->index holds slot->name_hash, else one
 * binary search. This is how a ResolvedSchema (native/file.h: export
 * --fields, filter, diff --fields) reads many records. */
int spooky_slot_refresh(const uint8_t *rec, size_t len, spooky_slot *slot);

/* Canonical CBOR of a nested value -> compact JSON text appended to out. */
int spooky_cbor_to_json(const uint8_t *cbor, size_t len, spooky_buf *out);
/* What spooky_cbor_to_json would return for it, without making the text
 * (checks of records copied as they are: merge, filter -o). */
int spooky_cbor_check_json(const uint8_t *cbor, size_t len);

/* Any field value (tag + value bytes) -> JSON text appended to out. Floats
 * use the shortest text that reads back to the same double, with a '.0' or
 * exponent so they stay floats; NaN and infinities are SPOOKY_E_NOT_JSON. */
int spooky_value_to_json(uint8_t tag, const uint8_t *value, size_t len, spooky_buf *out);

/* ---- Record files (docs/FORMAT.md section 2) -------------------------------- */

#define SPOOKY_FILE_HEADER_SIZE 32
#define SPOOKY_BLOCK_HEADER_SIZE 40
#define SPOOKY_FILE_TAIL_SIZE 32
#define SPOOKY_FILE_VERSION 2 /* what the writer writes; readers take 1 and 2 */
#define SPOOKY_FOOTER_FIXED_SIZE 80 /* format 2 (format 1: 72) */
#define SPOOKY_BLOCK_TARGET 1048576

/* A record key (native/keys.c): 1..N parts, each a path, a top-level
 * field and the steps into its nested value (object keys; decimal digits
 * also index arrays). Made once from a key section as docs/FORMAT.md lays
 * it out (parts back to back, each a step_count u32 and then each step: a
 * len u32 and that many bytes of UTF-8), then read by any number of
 * threads. SPOOKY_E_ARG when the section is not well formed. */
typedef struct spooky_key spooky_key;
int spooky_key_new(const uint8_t *section, size_t len, uint32_t parts, spooky_key **out);
void spooky_key_free(spooky_key *key);
/* The key section a key was made from, and its number of parts. */
int spooky_key_section(const spooky_key *key, const uint8_t **section, size_t *len,
                       uint32_t *parts);

/* Writing (native/chunk.c, native/writer.c). A chunk is many NDJSON lines
 * transcoded at once into records with their keys; chunks can be
 * transcoded on several threads (one encoder and chunk each), then handed to
 * the writer in input order. */
typedef struct spooky_chunk spooky_chunk;

typedef struct {
    uint64_t line; /* 0-based line number within the chunk */
    uint64_t offset; /* byte offset of the error within the chunk */
    int code;
    const char *message;
    uint32_t key_part; /* SPOOKY_E_KEY_MISSING, SPOOKY_E_KEY_TYPE: the key part at fault */
} spooky_line_error;

spooky_chunk *spooky_chunk_new(void);
void spooky_chunk_free(spooky_chunk *chunk);
/* Transcodes every line of data (whole lines; the last may lack its '\n';
 * blank lines are skipped) with enc's options. Each record's key is made of
 * the values key's parts lead to: an integer (i64, u64; in a nested value a
 * CBOR integer is the same) or a string; a part that leads nowhere is
 * SPOOKY_E_KEY_MISSING, to another type SPOOKY_E_KEY_TYPE. With skip_errors=0 it stops at the first bad line
 * and returns its code; with 1 it notes every bad line and goes on. original:
 * NULL, or the input's own bytes when data are a JSON array made lines
 * (spooky_array_to_lines): then the line of a record or an error is the
 * input's line it starts on, not its line in data. */
int spooky_chunk_transcode(spooky_encoder *enc, spooky_chunk *chunk, const uint8_t *data,
                           size_t len, const uint8_t *original, const spooky_key *key,
                           int skip_errors);
uint64_t spooky_chunk_lines(const spooky_chunk *chunk);
uint64_t spooky_chunk_records(const spooky_chunk *chunk);
/* Integers of the chunk's records stored as floats (SPOOKY_BIG_INT_FLOAT). */
uint64_t spooky_chunk_big_ints(const spooky_chunk *chunk);
uint64_t spooky_chunk_error_count(const spooky_chunk *chunk);
int spooky_chunk_error_at(const spooky_chunk *chunk, uint64_t i, spooky_line_error *out);

/* A JSON array of objects as lines (native/jsonarray.c), in place and the same length (so byte
 * offsets stay the input's): the array's brackets become spaces, newlines
 * inside elements spaces, and the commas between elements newlines. Zero the
 * state before the first piece; it carries across pieces. Not an array, or
 * text after it: SPOOKY_E_JSON_SYNTAX at *err_offset. At the end of input
 * call it with len 0 to check the array was closed. */
typedef struct {
    int started, ended, in_string, escape;
    uint64_t depth;
} spooky_array_state;
int spooky_array_to_lines(spooky_array_state *st, uint8_t *data, size_t len, size_t *err_offset);

typedef struct spooky_writer spooky_writer;

/* A writer appends to fd (open for reading and writing, at offset 0); the
 * footer names key (the writer keeps a copy) as the records' key. Its
 * temporary files (the key index being sorted) go to the folder temp_dir
 * (NULL: /tmp), unnamed: nothing is left there, however the process ends. */
spooky_writer *spooky_writer_new(int fd, const spooky_key *key, const char *temp_dir);
void spooky_writer_free(spooky_writer *w);
/* Adds a chunk's records; source/first_line say where its lines came from
 * (for duplicate-key messages). A name whose hash another name already has
 * gives SPOOKY_E_HASH_COLLISION (err->message names neither; see
 * spooky_writer_collision). */
int spooky_writer_add(spooky_writer *w, const spooky_chunk *chunk, uint32_t source,
                      uint64_t first_line, spooky_error *err);
/* Writes the last block, footer and tail, and closes the temporary files
 * (call it once). Repeated keys: keep_last=0 gives
 * SPOOKY_E_DUPLICATE_KEY (see spooky_writer_duplicate); keep_last=1 keeps the
 * last record of each key, rewriting the file through fd_rewrite when any key
 * repeated (then the result is in fd_rewrite, and *rewritten = 1). */
int spooky_writer_finish(spooky_writer *w, int keep_last, int fd_rewrite, int *rewritten,
                         spooky_error *err);
/* keep_last keeps, of the records of one key, the one whose field
 * version_hash is highest (numbers by value, strings by their bytes; ties,
 * and records without comparable values: the later). Call before finish. */
int spooky_writer_keep_highest(spooky_writer *w, uint64_t version_hash);
uint64_t spooky_writer_records(const spooky_writer *w);
uint64_t spooky_writer_bytes(const spooky_writer *w);
/* After a keep_last finish: how many records a later one of their key replaced. */
uint64_t spooky_writer_replaced(const spooky_writer *w);
/* The repeated key (sort form) and where its two records came from. */
int spooky_writer_duplicate(const spooky_writer *w, const uint8_t **key, size_t *key_len,
                            uint32_t *first_source, uint64_t *first_line, uint32_t *second_source,
                            uint64_t *second_line);
/* The two names that share one hash. */
int spooky_writer_collision(const spooky_writer *w, const uint8_t **a, size_t *a_len,
                            const uint8_t **b, size_t *b_len);

/* Reading (native/reader.c) over the bytes of a whole file (e.g. an mmap). */
typedef struct spooky_file spooky_file;

typedef struct {
    uint64_t hash;
    const uint8_t *name;
    size_t name_len;
    uint64_t type_counts[7];
} spooky_name_info;

typedef struct {
    uint64_t offset; /* file offset of the block's sync */
    uint64_t payload_offset; /* file offset of its payload */
    uint64_t payload_len;
    uint32_t record_count;
} spooky_block_info;

typedef struct {
    uint64_t digest;
    uint64_t record_offset;
    uint32_t record_len;
    const uint8_t *key;
    uint32_t key_len;
} spooky_index_entry;

/* Checks header, tail and footer (checksum, section bounds, every index
 * entry). flags: SPOOKY_OPEN_RELEASE_PAGES when data is a read-only mapping
 * of the file: the footer is then checked in windows whose pages are given
 * back (madvise) as it goes, so opening a huge file keeps memory flat. */
#define SPOOKY_OPEN_RELEASE_PAGES 1
int spooky_file_open(const uint8_t *data, size_t len, int flags, spooky_file **out,
                     spooky_error *err);
void spooky_file_close(spooky_file *f);
uint64_t spooky_file_record_count(const spooky_file *f);
uint64_t spooky_file_block_count(const spooky_file *f);
uint64_t spooky_file_name_count(const spooky_file *f);
const uint8_t *spooky_file_sync(const spooky_file *f);
/* The file's key (a file of format 1: its one top-level key field). */
const spooky_key *spooky_file_key(const spooky_file *f);
int spooky_file_name_at(const spooky_file *f, uint64_t i, spooky_name_info *out);
int spooky_file_block_at(const spooky_file *f, uint64_t i, spooky_block_info *out);
int spooky_file_index_at(const spooky_file *f, uint64_t i, spooky_index_entry *out);
/* Gives back every page of f's mapping when it was opened with
 * SPOOKY_OPEN_RELEASE_PAGES (else nothing), e.g. after binary searches that
 * touched pages all over its key index; the page cache keeps them. */
void spooky_file_release(const spooky_file *f);
/* Binary search of the key index (key in sort form). */
int spooky_file_find_key(const spooky_file *f, const uint8_t *key, size_t key_len,
                         uint64_t *index_pos);
/* Block i: checksum, record framing, every record valid, keys well formed. */
int spooky_file_verify_block(const spooky_file *f, uint64_t i, spooky_error *err);
/* The records of block i in file order: header against the block table,
 * checksum, framing, every record valid. out (room for the block's record
 * count, spooky_file_block_at) gets each record's offset, length and key;
 * digest is left 0. *n = records written. */
int spooky_file_block_records(const spooky_file *f, uint64_t i, spooky_index_entry *out,
                              uint64_t cap, uint64_t *n, spooky_error *err);
/* A whole file verified block by block with flat memory (info --verify): a
 * verifier keeps every step-th key of the key index (step 0: 64, more for
 * long keys) and reads the rest of a lookup with pread from fd (a
 * descriptor of the same file; -1: from the file's bytes), so the key index
 * is never mapped whole; with SPOOKY_OPEN_RELEASE_PAGES each block's pages
 * are given back once it is checked. One thread at a time per verifier. */
typedef struct spooky_verifier spooky_verifier;
int spooky_verifier_new(const spooky_file *f, int fd, uint32_t step, spooky_verifier **out,
                        spooky_error *err);
void spooky_verifier_free(spooky_verifier *v);
/* Block i, checked as spooky_file_verify_block checks it. */
int spooky_verifier_check_block(spooky_verifier *v, uint64_t i, spooky_error *err);
/* NDJSON of block i's records appended to out, one object per line; fields =
 * NULL for every field (in the order their names first appeared in the
 * input), else the nfields hashes given, in that order (fields a record lacks
 * are left out). paths: NULL, or for each of the fields, back to back, what
 * to keep of its nested value as a tree: a u32 count of children (0: the
 * value whole), then per child its step (u32 length and UTF-8: an object's
 * key or an array's index in decimal) and its own tree. */
int spooky_file_export_block(const spooky_file *f, uint64_t i, const uint64_t *fields,
                             size_t nfields, const uint8_t *paths, size_t paths_len,
                             spooky_buf *out, spooky_error *err);
/* The record at key index position pos as JSON appended to out, as `spooky
 * get` prints it: fields as export writes them, floats and
 * layout as orjson writes them; indent 0: one line, else one value per line
 * (2: orjson's OPT_INDENT_2). Any depth. The record is checked against its
 * digest; a value JSON cannot hold (NaN, infinity) or that is not valid is an
 * error at its byte. */
int spooky_file_record_json(const spooky_file *f, uint64_t pos, int indent, spooky_buf *out,
                            spooky_error *err);
/* Offset of the next block whose sync starts at or after `from` and whose
 * header and checksum hold, or -1: how a byte range of a file finds its blocks. */
int64_t spooky_find_block(const uint8_t *data, size_t len, const uint8_t *sync, size_t from);

/* Record keys (native/keys.c) in their sort form (docs/FORMAT.md), whose byte
 * order is key order. A key is 1..N parts, each an integer or a string. */
/* The sort form of a key part, a value as a record stores it (tag and
 * bytes: SPOOKY_I64 or SPOOKY_U64, 8 bytes, or SPOOKY_STR, UTF-8), appended
 * to out: composite 0 for the one part of a key, 1 for a part of a key of
 * two or more (a key's parts appended one after the other make its sort
 * form). Other tags: SPOOKY_E_KEY_TYPE; bad bytes: SPOOKY_E_ARG. */
int spooky_key_sort_form(uint8_t tag, const uint8_t *value, size_t len, int composite,
                         spooky_buf *out);
/* A stored key (sort form) of `parts` parts as JSON text appended to out:
 * an integer or a string, or for two or more parts an array of them
 * (["acme",42]). SPOOKY_E_ARG when the bytes are no such key's sort form. */
int spooky_key_to_json(const uint8_t *key, size_t len, uint32_t parts, spooky_buf *out);

/* Filtering (native/filter.c): an expression of predicates on fields (and
 * paths into them) joined by ALL, SOME and NOT, compiled once; each
 * predicate's field resolved to a slot once per schema, evaluated with short
 * circuits. A literal is a field value as a record stores it
 * (spooky_encode_value). Numbers compare by value across i64, u64 and f64
 * (exactly, no rounding); strings bytewise (code point order); other values
 * only by == and != (same type, same bytes). A field the record lacks matches
 * only !=, NOT_IN, MISSING and IS_NULL; a type that cannot be ordered matches
 * no ordering. Values inside nested fields (a path) compare the same way; a
 * path step SPOOKY_PATH_ANY goes into every element of an array, and the
 * predicate holds when it holds for some value the path reaches (none: as
 * for a missing field). */
typedef enum {
    SPOOKY_OP_EQ = 0,
    SPOOKY_OP_NE = 1,
    SPOOKY_OP_LT = 2,
    SPOOKY_OP_LE = 3,
    SPOOKY_OP_GT = 4,
    SPOOKY_OP_GE = 5,
    SPOOKY_OP_EXISTS = 6,
    SPOOKY_OP_MISSING = 7,
    SPOOKY_OP_IN = 8, /* == one element of the literal, a JSON array */
    SPOOKY_OP_NOT_IN = 9, /* == none of them (or the field is missing) */
    SPOOKY_OP_CONTAINS = 10, /* an array with an element == the literal, or a string
                                with the literal string in it */
    SPOOKY_OP_STARTSWITH = 11, /* a string that starts with the literal string */
    SPOOKY_OP_ENDSWITH = 12, /* a string that ends with it */
    SPOOKY_OP_IS_NULL = 13, /* null, or missing */
    SPOOKY_OP_IS_NOT_NULL = 14, /* there, and not null */
    SPOOKY_OP_TRUE = 15 /* the value true (a bare path: `active`) */
} spooky_op;

#define SPOOKY_PATH_ANY 4294967295 /* a step's length that means [*]: every element */

/* A node of an expression: a predicate, or all / some of its children true,
 * or not its child. */
typedef enum {
    SPOOKY_EXPR_TEST = 0,
    SPOOKY_EXPR_ALL = 1,
    SPOOKY_EXPR_SOME = 2,
    SPOOKY_EXPR_NOT = 3
} spooky_expr_kind;

typedef struct {
    int kind;
    uint32_t arg; /* TEST: the predicate; NOT: the child node; ALL, SOME: the first
                     of its children in spooky_filter_spec.children */
    uint32_t count; /* ALL, SOME: how many children */
} spooky_expr_node;

typedef struct {
    uint64_t field; /* name hash of the top-level field */
    int op;
    uint8_t tag; /* the literal's type (ignored by EXISTS/MISSING) */
    const uint8_t *value;
    size_t value_len;
    /* A path into a nested field, or path_len 0: steps back to back, each a
     * u32 length (little-endian) and that many bytes: a key of an object, or
     * decimal digits, which also index an array; or the length
     * SPOOKY_PATH_ANY alone: every element of an array. A path that leads
     * nowhere is a missing field. */
    const uint8_t *path;
    size_t path_len;
} spooky_predicate;

typedef struct {
    const spooky_predicate *preds;
    size_t npreds;
    /* the expression: nodes[0] is the root; a node's children come after it */
    const spooky_expr_node *nodes;
    size_t nnodes;
    const uint32_t *children; /* node indexes, for ALL and SOME */
    size_t nchildren;
    const uint64_t *fields; /* projection (hashes, in output order), or NULL */
    size_t nfields;
    /* below the projection's fields, what to keep of their nested values
     * (as spooky_file_export_block's paths), or NULL */
    const uint8_t *paths;
    size_t paths_len;
} spooky_filter_spec;

/* Which predicates' fields (paths included) a record of block i holds:
 * found[j] = 1 for predicate j when one does (left as it was otherwise), so
 * that a caller can tell a path no record has (a typo) from a rare one. */
int spooky_filter_block_found(const spooky_file *f, uint64_t i, const spooky_filter_spec *spec,
                              uint8_t *found, spooky_error *err);
/* Whether a valid record matches (*match 0/1). */
int spooky_filter_match(const uint8_t *rec, size_t len, const spooky_filter_spec *spec, int *match);
/* The matching records of block i. json_out: NDJSON appended (projected when
 * spec->fields); chunk_out: records (projected; the caller keeps the field of
 * every key part in the projection) emptied first, then ready for spooky_writer_add; both
 * NULL: count only. *matched = records that matched. */
int spooky_filter_block(const spooky_file *f, uint64_t i, const spooky_filter_spec *spec,
                        spooky_buf *json_out, spooky_chunk *chunk_out, uint64_t *matched,
                        spooky_error *err);

/* Diffing (native/diff.c): two record files with one key, walked in key
 * order through their key indexes. A record whose bytes differ from its
 * digest in the index is SPOOKY_E_CHECKSUM. */
typedef enum {
    SPOOKY_DIFF_ALL_FIELDS = 0, /* every field counts */
    SPOOKY_DIFF_ONLY_FIELDS = 1, /* only spec->fields count (slots per schema) */
    SPOOKY_DIFF_IGNORE_FIELDS = 2 /* every field but spec->fields counts */
} spooky_diff_fields;

typedef enum {
    SPOOKY_DIFF_COUNT = 0, /* counts only, no output */
    SPOOKY_DIFF_NDJSON = 1, /* one JSON object per difference */
    SPOOKY_DIFF_TEXT = 2, /* lines for people: "- KEY {..}", "+ KEY {..}", "~ KEY" */
    SPOOKY_DIFF_JSON = 3 /* a JSON array's elements: ",\n{...}" per difference (the
                          * caller drops the first comma and writes the brackets) */
} spooky_diff_format;

typedef struct {
    const spooky_file *old_file;
    const spooky_file *new_file;
    const uint64_t *fields;
    size_t nfields;
    int fields_mode;
    int format;
    int color; /* TEXT with ANSI colours */
    int deep; /* changes inside nested fields by path (a.b.0) */
    /* deep: paths whose changes do not count, back to back, each a u32 length
     * and the path's text as deep writes it ("user.updated_at"). */
    const uint8_t *ignore_paths;
    size_t ignore_paths_len;
    /* Records are loaded a batch of up to `batch` records of a file at a time
     * (0: 4096), in file order: long runs (a file in key order) in place, their
     * pages given back afterwards; with read_fds 1, scattered records (random
     * key order) with pread from old_fd and new_fd (the two files, open for
     * reading), so a file is never mapped whole, whatever its record order.
     * read_fds 0: every record is read in place. */
    int read_fds;
    int old_fd, new_fd;
    uint32_t batch;
    /* tolerance 1: numbers (i64, u64, f64 in any combination, nested ones
     * too) compare by value, and are equal when |a-b| <= abs_tolerance or
     * |a-b| <= rel_tolerance * max(|a|,|b|) (both finite, >= 0; exact
     * between integers, native/number.h). A pair whose bytes differ may then
     * be unchanged. 0: values compare byte for byte (1 and 1.0 differ). */
    int tolerance;
    double abs_tolerance, rel_tolerance;
    /* deep: arrays whose elements are all objects holding the field
     * array_key (a UTF-8 name; NULL: none), its values unique on each side,
     * are matched element by element by its value, not by position: a path
     * step `items[id=3]`; the order of such elements does not count. */
    const uint8_t *array_key;
    size_t array_key_len;
    int full; /* NDJSON, JSON: a changed key's old and new records too ("old", "new") */
    /* Differences written at most by one call (0: no limit); the rest are
     * only counted. */
    uint64_t limit;
    /* Only keys whose record matches this expression on either side are
     * compared (NULL: every key); the others count nowhere. Every record of
     * the range is then read (a pair with the same digest once), checked
     * whole and tested. */
    const spooky_filter_spec *where;
} spooky_diff_spec;

typedef struct {
    uint64_t added, removed, changed, unchanged;
} spooky_diff_counts;

/* Index position of the first key >= key (sort form) in f (native/reader.c). */
uint64_t spooky_file_lower_bound(const spooky_file *f, const uint8_t *key, size_t key_len);
/* Diffs old index positions [old_begin, old_end) against new [new_begin,
 * new_end) (ranges that hold the same keys: cut them with lower_bound);
 * output appended to out, counts added to *counts. On error *err_file says
 * which file: 0 old, 1 new. */
int spooky_diff_range(const spooky_diff_spec *spec, uint64_t old_begin, uint64_t old_end,
                      uint64_t new_begin, uint64_t new_end, spooky_buf *out,
                      spooky_diff_counts *counts, spooky_error *err, int *err_file);

/* Diffs the keys at given index positions, n of them, in the order given:
 * old_pos[i] in spec->old_file and new_pos[i] in spec->new_file, or
 * SPOOKY_DIFF_ABSENT on the side that lacks key i (removed, added). This is
 * how a key range gathered from several files is diffed a file pair at a
 * time (spooky_cli.dask): output appended to out as spooky_diff_range
 * writes it, counts added to *counts; what (NULL, or n entries) gets -1
 * removed, 1 added, 0 changed or 2 unchanged (digests differ, the fields
 * that count do not), ends (NULL, or n entries) out->len after each key. */
#define SPOOKY_DIFF_ABSENT 18446744073709551615ULL
int spooky_diff_positions(const spooky_diff_spec *spec, const uint64_t *old_pos,
                          const uint64_t *new_pos, size_t n, spooky_buf *out, int8_t *what,
                          uint64_t *ends, spooky_diff_counts *counts, spooky_error *err,
                          int *err_file);

/* Merging (native/merge.c): a batch (a record file keyed as the store,
 * one record per key) into a store. spooky_merge_plan walks both key
 * indexes once and decides, per key, what the batch record does (insert,
 * update, delete, unchanged, stale: docs/CLI.md, spooky merge); then
 * spooky_merge_block copies each store block in file order with those
 * changes made (unchanged records as bytes), and spooky_merge_inserts gives
 * the inserts in batch order. Memory: 32 bytes per change, whatever the
 * store's size. */
typedef enum {
    SPOOKY_CHANGES_NONE = 0,
    SPOOKY_CHANGES_DEBEZIUM =
        1, /* {"op":"insert"|"update"|"delete","key":K,"before":..,"after":..} */
    SPOOKY_CHANGES_DBSP = 2 /* {"insert":{..}}, {"delete":{..}}; an update: a delete, an insert */
} spooky_changes_format;

typedef struct {
    const spooky_file *store;
    const spooky_file *batch;
    int store_fd, batch_fd; /* descriptors of the files for pread (-1: read in place) */
    uint64_t version_field, hash_field, delete_field; /* name hashes, used when has_... */
    int has_version, has_hash, has_delete;
    int delete_missing; /* store keys absent from the batch are deleted */
    int upsert; /* spooky apply: a batch record updates or inserts its key, whatever
                   the store holds (its delete field true: deletes it) */
    int changes; /* spooky_changes_format */
} spooky_merge_spec;

typedef struct {
    uint64_t inserted, updated, deleted, unchanged, stale;
} spooky_merge_counts;

typedef struct spooky_merge spooky_merge;
spooky_merge *spooky_merge_new(const spooky_merge_spec *spec);
void spooky_merge_free(spooky_merge *m);
/* The walk over both key indexes; *counts filled. On error *err_file says
 * which file: 0 store, 1 batch. */
int spooky_merge_plan(spooky_merge *m, spooky_merge_counts *counts, spooky_error *err,
                      int *err_file);
/* Store block i (blocks in order, each once) into chunk (emptied first):
 * its records in file order, updated ones replaced, deleted ones left out;
 * the change lines appended to changes (NULL: none). */
int spooky_merge_block(spooky_merge *m, uint64_t i, spooky_chunk *chunk, spooky_buf *changes,
                       spooky_error *err, int *err_file);
/* The next inserts, up to max, in batch order into chunk (emptied first),
 * their change lines appended to changes; *taken = how many (0: none left). */
int spooky_merge_inserts(spooky_merge *m, uint64_t max, spooky_chunk *chunk, spooky_buf *changes,
                         uint64_t *taken, spooky_error *err);

/* CDEF-END */

#endif /* SPOOKY_H */
