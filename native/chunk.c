/* chunk.c: chunks (chunk.h). NDJSON lines transcoded into records with
 * their keys in sort form, their lines, the bad lines, and the chunk's name
 * table; and records copied in from a record file (spooky filter -o). */
#include <stdlib.h>
#include "chunk.h"
#include "encoder.h"
#include "file.h"
#include "keys.h"

spooky_chunk *spooky_chunk_new(void) { return calloc(1, sizeof(spooky_chunk)); }

void spooky_chunk_free(spooky_chunk *c) {
    if (!c) return;
    spooky_buf_free(&c->entries);
    spooky_buf_free(&c->record);
    spooky_buf_free(&c->key);
    free(c->rec_lines);
    free(c->errors);
    names_free(&c->names);
    free(c);
}

uint64_t spooky_chunk_lines(const spooky_chunk *c) { return c->lines; }
uint64_t spooky_chunk_records(const spooky_chunk *c) { return c->records; }
uint64_t spooky_chunk_big_ints(const spooky_chunk *c) { return c->big_ints; }
uint64_t spooky_chunk_error_count(const spooky_chunk *c) { return c->nerrors; }

int spooky_chunk_error_at(const spooky_chunk *c, uint64_t i, spooky_line_error *out) {
    if (i >= c->nerrors) return SPOOKY_E_ARG;
    *out = c->errors[i];
    return SPOOKY_OK;
}

static int chunk_error(spooky_chunk *c, uint64_t line, uint64_t offset, int code, const char *msg,
                       uint32_t key_part) {
    TRY(grow_array(&c->errors, &c->cap_errors, c->nerrors + 1, sizeof *c->errors));
    spooky_line_error *e = &c->errors[c->nerrors++];
    e->line = line;
    e->offset = offset;
    e->code = code;
    e->message = msg;
    e->key_part = key_part;
    return SPOOKY_OK;
}

/* The first byte at or after p that is not a blank (or end). */
static const uint8_t *skip_blanks(const uint8_t *p, const uint8_t *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
    return p;
}

/* Where the error of a record parsed from json lies, when the record itself
 * is wrong: the name of the key part's field (hash key_hash) for a key of
 * another type, else the record's first byte. */
static const uint8_t *record_error_at(const spooky_encoder *enc, const uint8_t *json,
                                      const uint8_t *end, int code, uint64_t key_hash) {
    if (code == SPOOKY_E_KEY_TYPE)
        for (size_t i = enc->nfields; i-- > 0;)
            if (enc->fields[i].hash == key_hash) return json + enc->fields[i].src_pos;
    return skip_blanks(json, end);
}

/* Appends an entry [key_len][record_len][digest][key][record] and the
 * record's line; the record's names must be in the chunk's table (its types
 * are counted). */
static int chunk_put(spooky_chunk *c, const key_form *key, const uint8_t *rec, uint32_t rlen,
                     uint64_t line) {
    uint8_t hdr[16];
    store_u32(hdr, (uint32_t)key_form_len(key));
    store_u32(hdr + 4, rlen);
    store_u64(hdr + 8, spooky_xxh64(rec, rlen, 0));
    names_count_types(&c->names, rec);
    TRY(buf_grow(&c->entries, 16 + key_form_len(key) + rlen));
    TRY(buf_append(&c->entries, hdr, 16));
    TRY(key_form_append(key, &c->entries));
    TRY(buf_append(&c->entries, rec, rlen));
    TRY(grow_array(&c->rec_lines, &c->cap_lines, c->records + 1, sizeof *c->rec_lines));
    c->rec_lines[c->records++] = line;
    return SPOOKY_OK;
}

/* Notes the names of the record just encoded; a second name for one hash
 * (across records of the chunk) is a collision. */
static int chunk_names(spooky_chunk *c, const spooky_encoder *enc, const char **msg) {
    for (size_t i = 0; i < enc->nfields; i++) {
        const field *f = &enc->fields[i];
        name_slot *clash;
        name_slot *known = names_find(&c->names, f->hash);
        if (known && known->name_len == f->key_len &&
            memcmp(names_name(&c->names, known), enc->keys.data + f->key_off, f->key_len) == 0)
            continue;
        TRY(names_add(&c->names, f->hash, enc->keys.data + f->key_off, f->key_len, &clash));
        if (clash) {
            *msg = "field name shares its xxh64 hash with another name in the input";
            return SPOOKY_E_HASH_COLLISION;
        }
    }
    return SPOOKY_OK;
}

/* '\n' bytes in [p, end). */
static uint64_t count_newlines(const uint8_t *p, const uint8_t *end) {
    uint64_t n = 0;
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p)))) n++, p++;
    return n;
}

int spooky_chunk_transcode(spooky_encoder *enc, spooky_chunk *c, const uint8_t *data, size_t len,
                           const uint8_t *original, const spooky_key *key, int skip_errors) {
    if (!enc || !c || (!data && len) || !key) return SPOOKY_E_ARG;
    chunk_reset(c);
    const uint8_t *p = data, *end = data + len;
    size_t counted = 0; /* original[0, counted) holds original_line newlines */
    uint64_t original_line = 0;
    /* the encoder's key cache (keys_gen) of the last record whose names were
     * noted: a record with the cache's keys has no new name (0: none yet) */
    uint64_t noted_gen = 0;
    while (p < end) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *line_end = nl ? nl : end;
        uint64_t line = c->lines++;
        const uint8_t *first = skip_blanks(p, line_end);
        if (original && first < line_end) { /* the line the record starts on */
            size_t at = (size_t)(first - data);
            original_line += count_newlines(original + counted, original + at);
            counted = at;
            line = original_line;
        }
        if (first < line_end) {
            spooky_error err = {0, 0, ""};
            const char *msg = NULL;
            int rc = spooky_encode_record(enc, p, (size_t)(line_end - p), &c->record, &err);
            uint64_t where = (uint64_t)(p - data) + (rc ? err.offset : 0);
            int parsed = rc == SPOOKY_OK;
            if (rc == SPOOKY_OK && !(enc->same_keys && enc->keys_gen == noted_gen)) {
                rc = chunk_names(c, enc, &msg);
                if (rc == SPOOKY_OK) noted_gen = enc->keys_gen;
            }
            key_form k;
            uint32_t part = 0; /* of the key, at fault */
            if (rc == SPOOKY_OK)
                rc = key_form_of_record(c->record.data, c->record.len, key, &c->key, &k, &part);
            if (rc == SPOOKY_OK) {
                TRY(chunk_put(c, &k, c->record.data, (uint32_t)c->record.len, line));
                c->big_ints += enc->big_ints;
            } else if (rc == SPOOKY_E_NOMEM) {
                return rc;
            } else {
                if (!msg)
                    msg = rc == SPOOKY_E_KEY_MISSING || rc == SPOOKY_E_KEY_TYPE
                              ? spooky_strerror(rc)
                              : err.message;
                if (parsed)
                    where =
                        (uint64_t)(record_error_at(enc, p, line_end, rc, key->parts[part].hash) -
                                   data);
                TRY(chunk_error(c, line, where, rc, msg, part));
                if (!skip_errors) return rc;
            }
        }
        if (!nl) break;
        p = nl + 1;
    }
    return SPOOKY_OK;
}

/* ---- records copied from a record file (spooky filter -o) ---- */

void chunk_reset(spooky_chunk *c) {
    c->entries.len = 0;
    c->lines = c->records = c->big_ints = 0;
    c->nerrors = 0;
    names_free(&c->names);
}

/* The rank of name entry e among a record's new names: its place in order
 * (a projection's fields), else after those, by its first appearance. */
static uint64_t new_name_rank(const name_entry *e, const uint64_t *order, size_t norder) {
    for (size_t i = 0; i < norder; i++)
        if (order[i] == e->hash) return i;
    return norder + (uint64_t)e->rank;
}

int chunk_append_from(spooky_chunk *c, const spooky_file *f, const uint8_t *key, uint32_t klen,
                      const uint8_t *rec, uint32_t rlen, const uint64_t *order, size_t norder) {
    /* new names in the order a convert of this record's export would see
     * them: the projection's, else their first appearance in f's input */
    uint32_t n = load_u32(rec);
    const name_entry *small[32], **news = n <= 32 ? small : malloc(n * sizeof *news);
    if (!news) return SPOOKY_E_NOMEM;
    size_t k = 0;
    int rc = SPOOKY_OK;
    for (uint32_t i = 0; i < n && !rc; i++) {
        uint64_t hash = load_u64(ENTRY(rec, i));
        if (names_find(&c->names, hash)) continue;
        int64_t ni = file_name_index(f, hash);
        if (ni < 0) {
            rc = SPOOKY_E_FILE_INVALID;
            break;
        }
        size_t j = k++;
        uint64_t r = new_name_rank(&f->names[ni], order, norder);
        for (; j > 0 && new_name_rank(news[j - 1], order, norder) > r; j--) news[j] = news[j - 1];
        news[j] = &f->names[ni];
    }
    for (size_t i = 0; i < k && !rc; i++) {
        name_slot *clash;
        rc = names_add(&c->names, news[i]->hash, news[i]->name, news[i]->name_len, &clash);
    }
    if (news != small) free(news);
    TRY(rc);
    key_form key_as_stored = key_form_stored(key, klen);
    TRY(chunk_put(c, &key_as_stored, rec, rlen, c->records));
    c->lines++;
    return SPOOKY_OK;
}
