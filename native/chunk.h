/* chunk.h: a chunk of records on its way into a record file (internal):
 * NDJSON lines transcoded by spooky_chunk_transcode, or records copied from
 * a record file by spooky filter; the writer takes it whole
 * (spooky_writer_add). chunk.c. */
#ifndef SPOOKY_CHUNK_H
#define SPOOKY_CHUNK_H

#include "internal.h"
#include "names.h"

struct spooky_chunk {
    spooky_buf entries; /* [key_len u32][record_len u32][digest u64][key][record] */
    spooky_buf record; /* one record, reused */
    spooky_buf key; /* a composite key's sort form, reused */
    uint64_t *rec_lines; /* line of each record within the chunk */
    size_t cap_lines;
    uint64_t lines, records;
    uint64_t big_ints; /* integers of the records stored as floats */
    spooky_line_error *errors;
    size_t nerrors, cap_errors;
    name_table names; /* every name in the chunk, with type counts */
};

/* One record of a chunk: its key in sort form, digest and line. */
typedef struct {
    const uint8_t *key, *rec;
    uint32_t key_len, rec_len;
    uint64_t digest, line;
} chunk_entry;

/* Reads entry i, which starts at *at in c->entries, and moves *at past it;
 * *at == c->entries.len after the last. */
static inline void chunk_entry_at(const spooky_chunk *c, size_t *at, uint64_t i, chunk_entry *e) {
    const uint8_t *p = c->entries.data + *at;
    e->key_len = load_u32(p);
    e->rec_len = load_u32(p + 4);
    e->digest = load_u64(p + 8);
    e->key = p + 16;
    e->rec = p + 16 + e->key_len;
    e->line = c->rec_lines[i];
    *at += 16 + (size_t)e->key_len + e->rec_len;
}

/* Empties a chunk (keeping its buffers). */
void chunk_reset(spooky_chunk *c);
/* Appends a valid record of f and its key in sort form, with the record's
 * names from f's name table (SPOOKY_E_FILE_INVALID when one is missing),
 * new ones in the order of order (norder hashes: a projection's fields, or
 * none), then by their first appearance in f's input. */
int chunk_append_from(spooky_chunk *c, const spooky_file *f, const uint8_t *key, uint32_t klen,
                      const uint8_t *rec, uint32_t rlen, const uint64_t *order, size_t norder);

#endif
