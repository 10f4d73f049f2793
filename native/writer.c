/* writer.c: NDJSON chunks -> record file (docs/FORMAT.md, section 2).
 *
 * Chunks are transcoded independently (one encoder each, any thread); the
 * writer then takes them in input order: it cuts blocks by size, keeps the
 * name table and type counts, and collects key-index entries in sorted runs
 * of bounded size (spilled to temporary files), merged at finish into the
 * footer. Memory stays flat however large the input. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "internal.h"
#include "bench.h" /* the test hooks defined here */
#include "encoder.h"
#include "file.h"

#define RUN_LIMIT ((size_t)32 << 20) /* bytes of index entries held before a spill */

static size_t run_limit = RUN_LIMIT;

void spooky_test_set_run_limit(size_t bytes) { run_limit = bytes ? bytes : RUN_LIMIT; }


/* ---- a small open-addressing table: name hash -> name and type counts ---------- */

typedef struct {
    uint64_t hash;
    size_t name_off, name_len; /* in the table's heap */
    uint64_t counts[7];
    int used;
} name_slot;

typedef struct {
    name_slot *slots;
    size_t cap, count;
    spooky_buf heap;
} name_table;

static void names_free(name_table *t) {
    free(t->slots);
    spooky_buf_free(&t->heap);
    memset(t, 0, sizeof *t);
}

static name_slot *names_find(const name_table *t, uint64_t hash) {
    if (!t->cap) return NULL;
    size_t i = (size_t)(hash ^ (hash >> 29)) & (t->cap - 1);
    while (t->slots[i].used) {
        if (t->slots[i].hash == hash) return &t->slots[i];
        i = (i + 1) & (t->cap - 1);
    }
    return NULL;
}

static int names_grow(name_table *t) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    name_slot *slots = calloc(cap, sizeof *slots);
    if (!slots) return SPOOKY_E_NOMEM;
    for (size_t j = 0; j < t->cap; j++) {
        if (!t->slots[j].used) continue;
        size_t i = (size_t)(t->slots[j].hash ^ (t->slots[j].hash >> 29)) & (cap - 1);
        while (slots[i].used) i = (i + 1) & (cap - 1);
        slots[i] = t->slots[j];
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return SPOOKY_OK;
}

/* Adds (hash, name) unless present. *clash is set to the existing slot when
 * the hash is there with another name. */
static int names_add(name_table *t, uint64_t hash, const uint8_t *name, size_t len,
                     name_slot **clash) {
    *clash = NULL;
    name_slot *s = names_find(t, hash);
    if (s) {
        if (s->name_len != len || memcmp(t->heap.data + s->name_off, name, len) != 0) *clash = s;
        return SPOOKY_OK;
    }
    if ((t->count + 1) * 2 > t->cap) TRY(names_grow(t));
    size_t i = (size_t)(hash ^ (hash >> 29)) & (t->cap - 1);
    while (t->slots[i].used) i = (i + 1) & (t->cap - 1);
    s = &t->slots[i];
    memset(s, 0, sizeof *s);
    s->used = 1;
    s->hash = hash;
    s->name_off = t->heap.len;
    s->name_len = len;
    TRY(buf_append(&t->heap, name, len));
    t->count++;
    return SPOOKY_OK;
}

/* ---- chunks ------------------------------------------------------------------------ */

struct spooky_chunk {
    spooky_buf entries;   /* [key_len u32][record_len u32][digest u64][key][record] */
    spooky_buf record;    /* one record, reused */
    uint64_t *rec_lines;  /* line of each record within the chunk */
    size_t cap_lines;
    uint64_t lines, records;
    uint64_t big_ints;    /* integers of the records stored as floats */
    spooky_line_error *errors;
    size_t nerrors, cap_errors;
    name_table names;     /* every name in the chunk */
};

spooky_chunk *spooky_chunk_new(void) { return calloc(1, sizeof(spooky_chunk)); }

void spooky_chunk_free(spooky_chunk *c) {
    if (!c) return;
    spooky_buf_free(&c->entries);
    spooky_buf_free(&c->record);
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

static int chunk_error(spooky_chunk *c, uint64_t line, uint64_t offset, int code, const char *msg) {
    if (c->nerrors == c->cap_errors) {
        size_t cap = c->cap_errors ? c->cap_errors * 2 : 16;
        spooky_line_error *e = realloc(c->errors, cap * sizeof *e);
        if (!e) return SPOOKY_E_NOMEM;
        c->errors = e;
        c->cap_errors = cap;
    }
    spooky_line_error *e = &c->errors[c->nerrors++];
    e->line = line;
    e->offset = offset;
    e->code = code;
    e->message = msg;
    return SPOOKY_OK;
}

/* The key of a record in sort form, into key[9] or pointing into the record. */
static int record_key(const uint8_t *rec, size_t len, uint64_t key_hash, uint8_t *fixed,
                      const uint8_t **key, size_t *key_len, uint8_t *kind) {
    spooky_slot s;
    int rc = spooky_record_find(rec, len, key_hash, &s);
    if (rc == SPOOKY_E_NOT_FOUND) return SPOOKY_E_KEY_MISSING;
    if (rc) return rc;
    uint64_t v;
    switch (s.tag) {
    case SPOOKY_I64:
        v = load_u64(rec + s.offset) ^ 0x8000000000000000ULL;
        fixed[0] = 1;
        break;
    case SPOOKY_U64:
        v = load_u64(rec + s.offset);
        fixed[0] = 2;
        break;
    case SPOOKY_STR:
        *kind = 3;
        *key = rec + s.offset;
        *key_len = s.length;
        return SPOOKY_OK;
    default:
        return SPOOKY_E_KEY_TYPE;
    }
    for (int i = 0; i < 8; i++) fixed[1 + i] = (uint8_t)(v >> (56 - 8 * i));
    *kind = fixed[0];
    *key = fixed;
    *key_len = 9;
    return SPOOKY_OK;
}

/* Counts the type of every field of a record in a name table. */
static void count_types(name_table *t, const uint8_t *rec) {
    uint32_t n = load_u32(rec);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = ENTRY(rec, i);
        name_slot *s = names_find(t, load_u64(e));
        if (s && e[16] < 7) s->counts[e[16]]++;
    }
}

/* The first byte at or after p that is not a blank (or end). */
static const uint8_t *skip_blanks(const uint8_t *p, const uint8_t *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
    return p;
}

/* Where the error of a record parsed from json lies, when the record itself
 * is wrong: the key field's name for a key of another type, else the record's
 * first byte. */
static const uint8_t *record_error_at(const spooky_encoder *enc, const uint8_t *json,
                                      const uint8_t *end, int code, uint64_t key_hash) {
    if (code == SPOOKY_E_KEY_TYPE)
        for (size_t i = enc->nfields; i-- > 0;)
            if (enc->fields[i].hash == key_hash) return json + enc->fields[i].src_pos;
    return skip_blanks(json, end);
}

/* Appends an entry [key_len][record_len][digest][key][record] (the key in
 * sort form, after a 0x03 kind byte when string_kind) and the record's line;
 * the record's names must be in the chunk's table (its types are counted). */
static int chunk_put(spooky_chunk *c, int string_kind, const uint8_t *key, uint32_t klen,
                     const uint8_t *rec, uint32_t rlen, uint64_t line) {
    uint8_t hdr[16];
    store_u32(hdr, klen + (string_kind ? 1 : 0));
    store_u32(hdr + 4, rlen);
    store_u64(hdr + 8, spooky_xxh64(rec, rlen, 0));
    count_types(&c->names, rec);
    TRY(buf_grow(&c->entries, 16 + 1 + (size_t)klen + rlen));
    TRY(buf_append(&c->entries, hdr, 16));
    if (string_kind) TRY(buf_push(&c->entries, 3));
    TRY(buf_append(&c->entries, key, klen));
    TRY(buf_append(&c->entries, rec, rlen));
    if (c->records == c->cap_lines) {
        size_t cap = c->cap_lines ? c->cap_lines * 2 : 1024;
        uint64_t *l = realloc(c->rec_lines, cap * sizeof *l);
        if (!l) return SPOOKY_E_NOMEM;
        c->rec_lines = l;
        c->cap_lines = cap;
    }
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
            memcmp(c->names.heap.data + known->name_off, enc->keys.data + f->key_off, f->key_len) == 0)
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
                           const uint8_t *original, const uint8_t *key, size_t key_len,
                           int skip_errors) {
    if (!enc || !c || (!data && len) || (!key && key_len)) return SPOOKY_E_ARG;
    chunk_reset(c);
    uint64_t key_hash = spooky_name_hash(key, key_len);
    const uint8_t *p = data, *end = data + len;
    size_t counted = 0; /* original[0, counted) holds original_line newlines */
    uint64_t original_line = 0;
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
            if (rc == SPOOKY_OK) rc = chunk_names(c, enc, &msg);
            uint8_t fixed[9], kind = 0;
            const uint8_t *k = NULL;
            size_t klen = 0;
            if (rc == SPOOKY_OK)
                rc = record_key(c->record.data, c->record.len, key_hash, fixed, &k, &klen, &kind);
            if (rc == SPOOKY_OK) {
                TRY(chunk_put(c, kind == 3, k, (uint32_t)klen, c->record.data,
                              (uint32_t)c->record.len, line));
                c->big_ints += enc->big_ints;
            } else if (rc == SPOOKY_E_NOMEM) {
                return rc;
            } else {
                if (!msg) msg = rc == SPOOKY_E_KEY_MISSING || rc == SPOOKY_E_KEY_TYPE
                                    ? spooky_strerror(rc) : err.message;
                if (parsed)
                    where = (uint64_t)(record_error_at(enc, p, line_end, rc, key_hash) - data);
                TRY(chunk_error(c, line, where, rc, msg));
                if (!skip_errors) return rc;
            }
        }
        if (!nl) break;
        p = nl + 1;
    }
    return SPOOKY_OK;
}

/* ---- records copied from a record file (spooky filter) ------------------------------ */

void chunk_reset(spooky_chunk *c) {
    c->entries.len = 0;
    c->lines = c->records = c->big_ints = 0;
    c->nerrors = 0;
    names_free(&c->names);
}

int chunk_append_from(spooky_chunk *c, const spooky_file *f, const uint8_t *key, uint32_t klen,
                      const uint8_t *rec, uint32_t rlen) {
    uint32_t n = load_u32(rec);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t hash = load_u64(ENTRY(rec, i));
        if (names_find(&c->names, hash)) continue;
        int64_t ni = file_name_index(f, hash);
        if (ni < 0) return SPOOKY_E_FILE_INVALID;
        name_slot *clash;
        TRY(names_add(&c->names, hash, f->names[ni].name, f->names[ni].name_len, &clash));
    }
    TRY(chunk_put(c, 0, key, klen, rec, rlen, c->records));
    c->lines++;
    return SPOOKY_OK;
}

/* ---- JSON-array input --------------------------------------------------------------- */

int spooky_array_to_lines(spooky_array_state *st, uint8_t *data, size_t len, size_t *err_offset) {
    if (!st || (!data && len) || !err_offset) return SPOOKY_E_ARG;
    if (len == 0) {
        *err_offset = 0;
        return st->started && !st->ended ? SPOOKY_E_JSON_SYNTAX : SPOOKY_OK;
    }
    for (size_t i = 0; i < len; i++) {
        uint8_t c = data[i];
        if (st->in_string) {
            if (st->escape) st->escape = 0;
            else if (c == '\\') st->escape = 1;
            else if (c == '"') st->in_string = 0;
            continue;
        }
        int ws = c == ' ' || c == '\t' || c == '\r' || c == '\n';
        if (!st->started || st->ended) {
            if (ws) continue;
            if (!st->started && c == '[') {
                st->started = 1;
                st->depth = 1;
                data[i] = ' ';
                continue;
            }
            *err_offset = i;
            return SPOOKY_E_JSON_SYNTAX;
        }
        switch (c) {
        case '"': st->in_string = 1; break;
        case '[': case '{': st->depth++; break;
        case ']': case '}':
            if (--st->depth == 0) {
                if (c != ']') { *err_offset = i; return SPOOKY_E_JSON_SYNTAX; }
                st->ended = 1;
                data[i] = ' ';
            }
            break;
        case ',': if (st->depth == 1) data[i] = '\n'; break;
        case '\n': data[i] = ' '; break;
        default: break;
        }
    }
    return SPOOKY_OK;
}

/* ---- the writer ----------------------------------------------------------------- */

typedef struct {
    uint64_t offset;
    uint32_t records;
    uint64_t payload_len;
} block_entry;

/* One key-index entry while sorting; its key lives in the run heap. */
typedef struct {
    uint64_t key_off;
    uint32_t key_len, rec_len;
    uint64_t digest, rec_off, ordinal, line;
    uint32_t source;
} run_entry;

#define WRITEBACK_STEP ((uint64_t)8 << 20)
#define SPILL_FIXED 44 /* key_len, rec_len, digest, rec_off, ordinal, line, source */

struct spooky_writer {
    int fd;
    spooky_buf key_field;
    uint64_t key_hash;
    spooky_buf block;           /* payload of the block being filled */
    uint32_t block_records;
    uint64_t block_offset;      /* file offset the block will start at */
    int header_written;
    uint8_t sync[16];
    block_entry *blocks;
    size_t nblocks, cap_blocks;
    name_table names;
    run_entry *run;
    size_t nrun, cap_run;
    spooky_buf run_heap;
    char *temp_dir;             /* where the temporary files go */
    int spill_fd;               /* every spilled run, back to back; -1 before the first */
    uint64_t *spill_ends;       /* where each spilled run ends in it */
    size_t nspills, cap_spills;
    uint64_t records, ordinal;
    uint64_t bytes_written;
    uint64_t synced;            /* writeback started up to here */
    /* what went wrong */
    spooky_buf dup_key;
    uint32_t dup_source[2];
    uint64_t dup_line[2];
    spooky_buf clash_a, clash_b;
    uint64_t *dead;             /* ordinals dropped by keep_last */
    size_t ndead, cap_dead;
};

spooky_writer *spooky_writer_new(int fd, const uint8_t *key_field, size_t key_field_len,
                                 const char *temp_dir) {
    if (fd < 0 || (!key_field && key_field_len)) return NULL;
    spooky_writer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->fd = fd;
    w->spill_fd = -1;
    w->temp_dir = strdup(temp_dir ? temp_dir : "/tmp");
    if (!w->temp_dir || buf_append(&w->key_field, key_field, key_field_len)) {
        spooky_writer_free(w);
        return NULL;
    }
    w->key_hash = spooky_name_hash(key_field, key_field_len);
    w->block_offset = SPOOKY_FILE_HEADER_SIZE;
    return w;
}

void spooky_writer_free(spooky_writer *w) {
    if (!w) return;
    spooky_buf_free(&w->key_field);
    spooky_buf_free(&w->block);
    free(w->blocks);
    names_free(&w->names);
    free(w->run);
    spooky_buf_free(&w->run_heap);
    free(w->temp_dir);
    if (w->spill_fd >= 0) close(w->spill_fd);
    free(w->spill_ends);
    spooky_buf_free(&w->dup_key);
    spooky_buf_free(&w->clash_a);
    spooky_buf_free(&w->clash_b);
    free(w->dead);
    free(w);
}

uint64_t spooky_writer_records(const spooky_writer *w) { return w->records; }
uint64_t spooky_writer_bytes(const spooky_writer *w) { return w->bytes_written; }
uint64_t spooky_writer_replaced(const spooky_writer *w) { return w->ndead; }

int spooky_writer_duplicate(const spooky_writer *w, const uint8_t **key, size_t *key_len,
                            uint32_t *s1, uint64_t *l1, uint32_t *s2, uint64_t *l2) {
    if (!w->dup_key.len) return SPOOKY_E_NOT_FOUND;
    *key = w->dup_key.data;
    *key_len = w->dup_key.len;
    *s1 = w->dup_source[0], *l1 = w->dup_line[0], *s2 = w->dup_source[1], *l2 = w->dup_line[1];
    return SPOOKY_OK;
}

int spooky_writer_collision(const spooky_writer *w, const uint8_t **a, size_t *a_len,
                            const uint8_t **b, size_t *b_len) {
    if (!w->clash_a.len && !w->clash_b.len) return SPOOKY_E_NOT_FOUND;
    *a = w->clash_a.data, *a_len = w->clash_a.len;
    *b = w->clash_b.data, *b_len = w->clash_b.len;
    return SPOOKY_OK;
}

static int write_all(int fd, const void *data, size_t n) {
    const uint8_t *p = data;
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return SPOOKY_E_IO;
        }
        p += k;
        n -= (size_t)k;
    }
    return SPOOKY_OK;
}

static int pwrite_all(int fd, const void *data, size_t n, uint64_t off) {
    const uint8_t *p = data;
    while (n) {
        ssize_t k = pwrite(fd, p, n, (off_t)off);
        if (k < 0) {
            if (errno == EINTR) continue;
            return SPOOKY_E_IO;
        }
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return SPOOKY_OK;
}

static int pread_all(int fd, void *data, size_t n, uint64_t off) {
    uint8_t *p = data;
    while (n) {
        ssize_t k = pread(fd, p, n, (off_t)off);
        if (k < 0) {
            if (errno == EINTR) continue;
            return SPOOKY_E_IO;
        }
        if (k == 0) return SPOOKY_E_IO;
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return SPOOKY_OK;
}

static void block_header(uint8_t *h, const uint8_t *sync, uint8_t kind, uint32_t records,
                         uint64_t payload_len, uint64_t checksum) {
    memcpy(h, sync, 16);
    h[16] = kind;
    h[17] = h[18] = h[19] = 0;
    store_u32(h + 20, records);
    store_u64(h + 24, payload_len);
    store_u64(h + 32, checksum);
}

static int write_file_header(spooky_writer *w, const uint8_t *first_payload, size_t len) {
    store_u64(w->sync, spooky_xxh64(first_payload, len, 0));
    store_u64(w->sync + 8, spooky_xxh64(first_payload, len, 1));
    uint8_t h[SPOOKY_FILE_HEADER_SIZE];
    memcpy(h, FILE_MAGIC, 8);
    store_u32(h + 8, 1);
    store_u32(h + 12, 0);
    memcpy(h + 16, w->sync, 16);
    TRY(write_all(w->fd, h, sizeof h));
    w->header_written = 1;
    w->bytes_written += sizeof h;
    return SPOOKY_OK;
}

static int flush_block(spooky_writer *w) {
    if (!w->block_records) return SPOOKY_OK;
    if (!w->header_written) TRY(write_file_header(w, w->block.data, w->block.len));
    uint8_t h[SPOOKY_BLOCK_HEADER_SIZE];
    block_header(h, w->sync, 1, w->block_records, w->block.len,
                 spooky_xxh64(w->block.data, w->block.len, 0));
    TRY(write_all(w->fd, h, sizeof h));
    TRY(write_all(w->fd, w->block.data, w->block.len));
    if (w->nblocks == w->cap_blocks) {
        size_t cap = w->cap_blocks ? w->cap_blocks * 2 : 64;
        block_entry *b = realloc(w->blocks, cap * sizeof *b);
        if (!b) return SPOOKY_E_NOMEM;
        w->blocks = b;
        w->cap_blocks = cap;
    }
    w->blocks[w->nblocks++] = (block_entry){w->block_offset, w->block_records, w->block.len};
    uint64_t size = SPOOKY_BLOCK_HEADER_SIZE + w->block.len;
    w->block_offset += size;
    /* start writing back what is done, so the final fsync has less to wait for */
    if (w->block_offset - w->synced >= WRITEBACK_STEP) {
        spooky_start_writeback(w->fd, w->synced, w->block_offset - w->synced);
        w->synced = w->block_offset;
    }
    w->bytes_written += size;
    w->block.len = 0;
    w->block_records = 0;
    return SPOOKY_OK;
}

static int run_cmp(const run_entry *a, const run_entry *b, const uint8_t *heap) {
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = memcmp(heap + a->key_off, heap + b->key_off, n);
    if (c) return c;
    if (a->key_len != b->key_len) return a->key_len < b->key_len ? -1 : 1;
    return a->ordinal < b->ordinal ? -1 : (a->ordinal > b->ordinal);
}

static int run_qsort_cmp(const void *a, const void *b, void *heap) { return run_cmp(a, b, heap); }

/* Sorts the run unless it already is (inputs often come in key order). */
static void sort_run(spooky_writer *w) {
    for (size_t i = 1; i < w->nrun; i++) {
        if (run_cmp(&w->run[i - 1], &w->run[i], w->run_heap.data) > 0) {
            qsort_r(w->run, w->nrun, sizeof *w->run, run_qsort_cmp, w->run_heap.data);
            return;
        }
    }
}

/* ---- temporary files ----------------------------------------------------------- */

static int no_o_tmpfile; /* test hook: take the fallback path */

void spooky_test_set_no_o_tmpfile(int on) { no_o_tmpfile = on; }

/* An unnamed temporary file in dir, open for reading and writing: it is gone
 * with its descriptor, even when the process is killed. SPOOKY_E_TEMP_FILE
 * (errno set) if dir takes none. */
static int temp_file(const char *dir, int *fd) {
#ifdef O_TMPFILE
    if (!no_o_tmpfile) {
        *fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
        if (*fd >= 0) return SPOOKY_OK;
    }
#endif
    /* a file system without O_TMPFILE: a named file, unlinked at once */
    static const char name[] = "/.spooky-XXXXXX";
    size_t n = strlen(dir);
    char *path = malloc(n + sizeof name);
    if (!path) return SPOOKY_E_NOMEM;
    memcpy(path, dir, n);
    memcpy(path + n, name, sizeof name);
    *fd = mkostemp(path, O_CLOEXEC);
    int saved = errno;
    if (*fd >= 0) unlink(path);
    free(path);
    errno = saved;
    return *fd >= 0 ? SPOOKY_OK : SPOOKY_E_TEMP_FILE;
}

/* A buffered sequential writer at a file offset; a failed write returns
 * io_error (SPOOKY_E_IO when 0). */
typedef struct {
    int fd;
    uint64_t off;
    spooky_buf buf;
    int io_error;
} out_stream;

static int stream_write(out_stream *s) {
    if (pwrite_all(s->fd, s->buf.data, s->buf.len, s->off))
        return s->io_error ? s->io_error : SPOOKY_E_IO;
    s->off += s->buf.len;
    s->buf.len = 0;
    return SPOOKY_OK;
}

static int stream_put(out_stream *s, const void *data, size_t n) {
    if (s->buf.len + n > (1u << 20)) TRY(stream_write(s));
    return buf_append(&s->buf, data, n);
}

static int stream_flush(out_stream *s) {
    TRY(stream_write(s));
    spooky_buf_free(&s->buf);
    return SPOOKY_OK;
}

/* ---- sorted runs of key-index entries ----------------------------------------------- */

/* Sorts the run and appends it to the spill file. */
static int spill_run(spooky_writer *w) {
    sort_run(w);
    if (w->spill_fd < 0) TRY(temp_file(w->temp_dir, &w->spill_fd));
    if (w->nspills == w->cap_spills) {
        size_t cap = w->cap_spills ? w->cap_spills * 2 : 16;
        uint64_t *e = realloc(w->spill_ends, cap * sizeof *e);
        if (!e) return SPOOKY_E_NOMEM;
        w->spill_ends = e;
        w->cap_spills = cap;
    }
    uint64_t start = w->nspills ? w->spill_ends[w->nspills - 1] : 0;
    out_stream out = {w->spill_fd, start, {0}, SPOOKY_E_TEMP_FILE};
    int rc = SPOOKY_OK;
    for (size_t i = 0; i < w->nrun && !rc; i++) {
        const run_entry *e = &w->run[i];
        uint8_t fixed[SPILL_FIXED];
        store_u32(fixed, e->key_len);
        store_u32(fixed + 4, e->rec_len);
        store_u64(fixed + 8, e->digest);
        store_u64(fixed + 16, e->rec_off);
        store_u64(fixed + 24, e->ordinal);
        store_u64(fixed + 32, e->line);
        store_u32(fixed + 40, e->source);
        rc = stream_put(&out, fixed, SPILL_FIXED);
        if (!rc) rc = stream_put(&out, w->run_heap.data + e->key_off, e->key_len);
    }
    if (!rc) rc = stream_flush(&out);
    spooky_buf_free(&out.buf);
    TRY(rc);
    w->spill_ends[w->nspills++] = out.off;
    w->nrun = 0;
    w->run_heap.len = 0;
    return SPOOKY_OK;
}

/* Appends one record (key in sort form) to the current block. */
static int append_record(spooky_writer *w, const uint8_t *key, uint32_t key_len, const uint8_t *rec,
                         uint32_t rec_len, uint64_t digest, uint32_t source, uint64_t line) {
    uint64_t rec_off = w->block_offset + SPOOKY_BLOCK_HEADER_SIZE + w->block.len + 8 + key_len;
    uint32_t hdr[2] = {key_len, rec_len};
    TRY(buf_grow(&w->block, 8 + (size_t)key_len + rec_len));
    TRY(buf_append(&w->block, hdr, 8));
    TRY(buf_append(&w->block, key, key_len));
    TRY(buf_append(&w->block, rec, rec_len));
    w->block_records++;

    /* key-index entry */
    if (w->nrun == w->cap_run) {
        size_t cap = w->cap_run ? w->cap_run * 2 : 4096;
        run_entry *r = realloc(w->run, cap * sizeof *r);
        if (!r) return SPOOKY_E_NOMEM;
        w->run = r;
        w->cap_run = cap;
    }
    run_entry *r = &w->run[w->nrun++];
    r->key_off = w->run_heap.len;
    r->key_len = key_len;
    r->rec_len = rec_len;
    r->digest = digest;
    r->rec_off = rec_off;
    r->ordinal = w->ordinal++;
    r->line = line;
    r->source = source;
    TRY(buf_append(&w->run_heap, key, key_len));
    w->records++;

    if (w->block.len >= SPOOKY_BLOCK_TARGET) TRY(flush_block(w));
    if (w->nrun * sizeof(run_entry) + w->run_heap.len >= run_limit) TRY(spill_run(w));
    return SPOOKY_OK;
}

int spooky_writer_add(spooky_writer *w, const spooky_chunk *c, uint32_t source, uint64_t first_line,
                      spooky_error *err) {
    if (!w || !c) return SPOOKY_E_ARG;
    /* merge the chunk's names */
    for (size_t i = 0; i < c->names.cap; i++) {
        const name_slot *s = &c->names.slots[i];
        if (!s->used) continue;
        name_slot *clash;
        const uint8_t *name = c->names.heap.data + s->name_off;
        TRY(names_add(&w->names, s->hash, name, s->name_len, &clash));
        if (!clash) {
            name_slot *mine = names_find(&w->names, s->hash);
            for (int t = 0; t < 7; t++) mine->counts[t] += s->counts[t];
        } else {
            w->clash_a.len = w->clash_b.len = 0;
            TRY(buf_append(&w->clash_a, w->names.heap.data + clash->name_off, clash->name_len));
            TRY(buf_append(&w->clash_b, name, s->name_len));
            if (err) {
                err->code = SPOOKY_E_HASH_COLLISION;
                err->offset = 0;
                err->message = "two field names share one xxh64 hash";
            }
            return SPOOKY_E_HASH_COLLISION;
        }
    }
    const uint8_t *p = c->entries.data, *end = p + c->entries.len;
    for (uint64_t i = 0; p < end; i++) {
        uint32_t klen = load_u32(p), rlen = load_u32(p + 4);
        TRY(append_record(w, p + 16, klen, p + 16 + klen, rlen, load_u64(p + 8), source,
                          first_line + c->rec_lines[i]));
        p += 16 + (size_t)klen + rlen;
    }
    return SPOOKY_OK;
}

/* ---- merging the runs ------------------------------------------------------------- */

#define CURSOR_READ ((size_t)16 << 10) /* bytes a cursor reads at once */

/* Reads one spilled run entry by entry. */
typedef struct {
    int fd;
    uint64_t pos, end;    /* the run's unread bytes in the spill file */
    spooky_buf buf;       /* bytes read, from the current entry on */
    size_t at;            /* the next entry in buf */
    run_entry e;
    const uint8_t *key;   /* e's key, in buf */
    int live;
} cursor;

/* At least need bytes at buf.data + at (the run has them). */
static int cursor_fill(cursor *c, size_t need) {
    size_t have = c->buf.len - c->at;
    if (have >= need) return SPOOKY_OK;
    if (need - have > c->end - c->pos) return SPOOKY_E_TEMP_FILE; /* a short run: cannot be */
    if (have) memmove(c->buf.data, c->buf.data + c->at, have);
    c->buf.len = have;
    c->at = 0;
    uint64_t want = need - have > CURSOR_READ ? need - have : CURSOR_READ;
    if (want > c->end - c->pos) want = c->end - c->pos;
    TRY(buf_grow(&c->buf, (size_t)want));
    if (pread_all(c->fd, c->buf.data + have, (size_t)want, c->pos)) return SPOOKY_E_TEMP_FILE;
    c->buf.len += (size_t)want;
    c->pos += want;
    return SPOOKY_OK;
}

static int cursor_next(cursor *c) {
    if (c->at == c->buf.len && c->pos == c->end) {
        c->live = 0;
        return SPOOKY_OK;
    }
    TRY(cursor_fill(c, SPILL_FIXED));
    const uint8_t *fixed = c->buf.data + c->at;
    uint32_t key_len = load_u32(fixed);
    TRY(cursor_fill(c, SPILL_FIXED + (size_t)key_len));
    fixed = c->buf.data + c->at;
    c->e.key_len = key_len;
    c->e.rec_len = load_u32(fixed + 4);
    c->e.digest = load_u64(fixed + 8);
    c->e.rec_off = load_u64(fixed + 16);
    c->e.ordinal = load_u64(fixed + 24);
    c->e.line = load_u64(fixed + 32);
    c->e.source = load_u32(fixed + 40);
    c->e.key_off = 0;
    c->key = fixed + SPILL_FIXED;
    c->at += SPILL_FIXED + (size_t)key_len;
    c->live = 1;
    return SPOOKY_OK;
}

static int cursor_cmp(const cursor *a, const cursor *b) {
    size_t n = a->e.key_len < b->e.key_len ? a->e.key_len : b->e.key_len;
    int c = memcmp(a->key, b->key, n);
    if (c) return c;
    if (a->e.key_len != b->e.key_len) return a->e.key_len < b->e.key_len ? -1 : 1;
    return a->e.ordinal < b->e.ordinal ? -1 : (a->e.ordinal > b->e.ordinal);
}

typedef struct {
    spooky_writer *w;
    int keep_last;
    out_stream index, heap;
    uint64_t heap_off, count;
    int have_prev;
    run_entry prev;
    spooky_buf prev_key;
} merge_state;

static int emit_entry(merge_state *m) {
    uint8_t e[32];
    store_u64(e, m->prev.digest);
    store_u64(e + 8, m->prev.rec_off);
    store_u32(e + 16, m->prev.rec_len);
    store_u32(e + 20, m->prev.key_len);
    store_u64(e + 24, m->heap_off);
    TRY(stream_put(&m->index, e, 32));
    TRY(stream_put(&m->heap, m->prev_key.data, m->prev_key.len));
    m->heap_off += m->prev_key.len;
    m->count++;
    return SPOOKY_OK;
}

static int add_dead(spooky_writer *w, uint64_t ordinal) {
    if (w->ndead == w->cap_dead) {
        size_t cap = w->cap_dead ? w->cap_dead * 2 : 64;
        uint64_t *d = realloc(w->dead, cap * sizeof *d);
        if (!d) return SPOOKY_E_NOMEM;
        w->dead = d;
        w->cap_dead = cap;
    }
    w->dead[w->ndead++] = ordinal;
    return SPOOKY_OK;
}

/* Takes entries in key order (equal keys by ordinal); writes the index. */
static int merge_take(merge_state *m, const run_entry *e, const uint8_t *key) {
    if (m->have_prev && m->prev_key.len == e->key_len && memcmp(m->prev_key.data, key, e->key_len) == 0) {
        spooky_writer *w = m->w;
        if (!m->keep_last) {
            w->dup_key.len = 0;
            TRY(buf_append(&w->dup_key, key, e->key_len));
            w->dup_source[0] = m->prev.source, w->dup_line[0] = m->prev.line;
            w->dup_source[1] = e->source, w->dup_line[1] = e->line;
            return SPOOKY_E_DUPLICATE_KEY;
        }
        TRY(add_dead(w, m->prev.ordinal)); /* a later record of this key wins */
        m->prev = *e;
        return SPOOKY_OK;
    }
    if (m->have_prev) TRY(emit_entry(m));
    m->prev = *e;
    m->prev_key.len = 0;
    TRY(buf_append(&m->prev_key, key, e->key_len));
    m->have_prev = 1;
    return SPOOKY_OK;
}

/* Restores the min-heap order (cursor_cmp) of h[0..n) below position i. */
static void sift_down(cursor **h, size_t n, size_t i) {
    for (;;) {
        size_t least = i, l = 2 * i + 1, r = l + 1;
        if (l < n && cursor_cmp(h[l], h[least]) < 0) least = l;
        if (r < n && cursor_cmp(h[r], h[least]) < 0) least = r;
        if (least == i) return;
        cursor *t = h[i];
        h[i] = h[least];
        h[least] = t;
        i = least;
    }
}

/* k-way merge of the spilled runs: a min-heap of their cursors, so each
 * entry costs O(log runs). Keys and ordinals are unique together, so the
 * order is that of one sort of all entries. */
static int merge_spills(spooky_writer *w, merge_state *m) {
    size_t k = w->nspills, n = 0;
    cursor *cs = calloc(k, sizeof *cs);
    cursor **heap = malloc(k * sizeof *heap);
    int rc = cs && heap ? SPOOKY_OK : SPOOKY_E_NOMEM;
    for (size_t i = 0; i < k && !rc; i++) {
        cs[i].fd = w->spill_fd;
        cs[i].pos = i ? w->spill_ends[i - 1] : 0;
        cs[i].end = w->spill_ends[i];
        rc = cursor_next(&cs[i]);
        if (!rc && cs[i].live) heap[n++] = &cs[i];
    }
    for (size_t i = n / 2; i-- > 0 && !rc;) sift_down(heap, n, i);
    while (n && !rc) {
        cursor *top = heap[0];
        rc = merge_take(m, &top->e, top->key);
        if (!rc) rc = cursor_next(top);
        if (!rc && !top->live) heap[0] = heap[--n];
        sift_down(heap, n, 0);
    }
    for (size_t i = 0; cs && i < k; i++) spooky_buf_free(&cs[i].buf);
    free(cs);
    free(heap);
    return rc;
}

static int merge_runs(spooky_writer *w, merge_state *m) {
    if (w->nspills == 0) {
        sort_run(w);
        for (size_t i = 0; i < w->nrun; i++)
            TRY(merge_take(m, &w->run[i], w->run_heap.data + w->run[i].key_off));
    } else {
        if (w->nrun) TRY(spill_run(w));
        TRY(merge_spills(w, m));
    }
    if (m->have_prev) TRY(emit_entry(m));
    return SPOOKY_OK;
}

/* ---- finishing --------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int name_slot_cmp(const void *a, const void *b) {
    const name_slot *x = *(const name_slot *const *)a, *y = *(const name_slot *const *)b;
    return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/* Re-reads the blocks written so far and writes the live records to w2. */
static int rewrite_live(spooky_writer *w, spooky_writer *w2) {
    qsort(w->dead, w->ndead, sizeof *w->dead, cmp_u64);
    for (size_t i = 0; i < w->names.cap; i++) {
        const name_slot *s = &w->names.slots[i];
        name_slot *clash;
        if (s->used) TRY(names_add(&w2->names, s->hash, w->names.heap.data + s->name_off, s->name_len, &clash));
    }
    spooky_buf payload = {0};
    uint64_t ordinal = 0;
    size_t d = 0;
    int rc = SPOOKY_OK;
    for (size_t b = 0; b < w->nblocks && !rc; b++) {
        const block_entry *be = &w->blocks[b];
        payload.len = 0;
        rc = buf_grow(&payload, be->payload_len);
        if (!rc) rc = pread_all(w->fd, payload.data, be->payload_len, be->offset + SPOOKY_BLOCK_HEADER_SIZE);
        const uint8_t *p = payload.data, *end = p + be->payload_len;
        while (!rc && p < end) {
            uint32_t klen = load_u32(p), rlen = load_u32(p + 4);
            const uint8_t *rec = p + 8 + klen;
            if (d < w->ndead && w->dead[d] == ordinal) {
                d++;
            } else {
                count_types(&w2->names, rec);
                rc = append_record(w2, p + 8, klen, rec, rlen, spooky_xxh64(rec, rlen, 0), 0, 0);
            }
            p += 8 + (size_t)klen + rlen;
            ordinal++;
        }
    }
    spooky_buf_free(&payload);
    return rc;
}

static int finish_file(spooky_writer *w, int keep_last, int fd_rewrite, int *rewritten,
                       spooky_error *err);

int spooky_writer_finish(spooky_writer *w, int keep_last, int fd_rewrite, int *rewritten,
                         spooky_error *err) {
    if (!w || !rewritten) return SPOOKY_E_ARG;
    *rewritten = 0;
    int rc = finish_file(w, keep_last, fd_rewrite, rewritten, err);
    /* the spilled runs are merged (or will never be): their space goes back now,
     * not when the writer is freed */
    if (w->spill_fd >= 0) close(w->spill_fd);
    w->spill_fd = -1;
    w->nspills = 0;
    if (rc && err) {
        err->code = rc;
        err->offset = 0;
        err->message = spooky_strerror(rc);
    }
    return rc;
}

static int finish_file(spooky_writer *w, int keep_last, int fd_rewrite, int *rewritten,
                       spooky_error *err) {
    TRY(flush_block(w));
    if (!w->header_written) TRY(write_file_header(w, NULL, 0));
    uint64_t footer_off = w->block_offset;

    /* sizes of the footer sections before the index */
    size_t nnames = w->names.count;
    const name_slot **sorted = malloc((nnames ? nnames : 1) * sizeof *sorted);
    if (!sorted) return SPOOKY_E_NOMEM;
    size_t j = 0;
    for (size_t i = 0; i < w->names.cap; i++)
        if (w->names.slots[i].used) sorted[j++] = &w->names.slots[i];
    qsort(sorted, nnames, sizeof *sorted, name_slot_cmp);

    spooky_buf head = {0}; /* fixed part, key field, names, blocks */
    int rc = buf_grow(&head, SPOOKY_FOOTER_FIXED_SIZE);
    if (!rc) {
        memset(head.data, 0, SPOOKY_FOOTER_FIXED_SIZE);
        head.len = SPOOKY_FOOTER_FIXED_SIZE;
        rc = buf_append(&head, w->key_field.data, w->key_field.len);
    }
    uint64_t names_off = head.len;
    for (size_t i = 0; i < nnames && !rc; i++) {
        uint8_t fixed[8 + 56 + 4];
        store_u64(fixed, sorted[i]->hash);
        for (int t = 0; t < 7; t++) store_u64(fixed + 8 + 8 * t, sorted[i]->counts[t]);
        store_u32(fixed + 64, (uint32_t)sorted[i]->name_len);
        rc = buf_append(&head, fixed, sizeof fixed);
        if (!rc) rc = buf_append(&head, w->names.heap.data + sorted[i]->name_off, sorted[i]->name_len);
    }
    free(sorted);
    uint64_t blocks_off = head.len;
    for (size_t i = 0; i < w->nblocks && !rc; i++) {
        uint8_t b[24] = {0};
        store_u64(b, w->blocks[i].offset);
        store_u32(b + 8, w->blocks[i].records);
        store_u64(b + 16, w->blocks[i].payload_len);
        rc = buf_append(&head, b, 24);
    }
    uint64_t index_off = head.len;
    if (rc) {
        spooky_buf_free(&head);
        return rc;
    }

    /* the index and the heap stream out of the merge; sizes are known only
     * for keep_last=0 (no drops), so the heap goes to a temporary file first */
    uint64_t payload_start = footer_off + SPOOKY_BLOCK_HEADER_SIZE;
    merge_state m = {0};
    m.w = w;
    m.keep_last = keep_last;
    m.index.fd = w->fd;
    m.index.off = payload_start + index_off;
    int heap_fd;
    rc = temp_file(w->temp_dir, &heap_fd);
    if (rc) {
        spooky_buf_free(&head);
        return rc;
    }
    m.heap.fd = heap_fd;
    m.heap.io_error = SPOOKY_E_TEMP_FILE;
    rc = merge_runs(w, &m);
    if (!rc) rc = stream_flush(&m.index);
    if (!rc) rc = stream_flush(&m.heap);
    spooky_buf_free(&m.prev_key);
    spooky_buf_free(&m.index.buf);
    spooky_buf_free(&m.heap.buf);
    if (!rc && w->ndead) {
        /* keys repeated and the last ones win: write the live records again */
        close(heap_fd);
        spooky_buf_free(&head);
        spooky_writer *w2 =
            spooky_writer_new(fd_rewrite, w->key_field.data, w->key_field.len, w->temp_dir);
        if (!w2) return SPOOKY_E_NOMEM;
        rc = rewrite_live(w, w2);
        int again = 0;
        if (!rc) rc = finish_file(w2, 0, -1, &again, err);
        w->records = w2->records;
        w->bytes_written = w2->bytes_written;
        spooky_writer_free(w2);
        if (!rc) *rewritten = 1;
        return rc;
    }
    if (rc) {
        close(heap_fd);
        spooky_buf_free(&head);
        return rc;
    }
    uint64_t heap_off = index_off + m.count * 32;
    uint64_t heap_len = m.heap_off;
    /* copy the heap after the index */
    spooky_buf tmp = {0};
    rc = buf_grow(&tmp, 1 << 20);
    uint64_t copied = 0;
    while (!rc && copied < heap_len) {
        size_t n = heap_len - copied < (1u << 20) ? (size_t)(heap_len - copied) : (1u << 20);
        rc = pread_all(heap_fd, tmp.data, n, copied) ? SPOOKY_E_TEMP_FILE : SPOOKY_OK;
        if (!rc) rc = pwrite_all(w->fd, tmp.data, n, payload_start + heap_off + copied);
        copied += n;
    }
    close(heap_fd);

    /* fixed part, then the head of the payload */
    if (!rc) {
        uint8_t *f = head.data;
        store_u64(f, m.count);
        store_u64(f + 8, w->nblocks);
        store_u64(f + 16, nnames);
        store_u64(f + 24, names_off);
        store_u64(f + 32, blocks_off);
        store_u64(f + 40, index_off);
        store_u64(f + 48, heap_off);
        store_u64(f + 56, heap_len);
        store_u32(f + 64, (uint32_t)w->key_field.len);
        store_u32(f + 68, 0);
        rc = pwrite_all(w->fd, head.data, head.len, payload_start);
    }
    uint64_t payload_len = heap_off + heap_len;
    spooky_buf_free(&head);

    /* checksum of the payload, read back from the file */
    uint64_t sum = 0;
    if (!rc) {
        xxh64_state st;
        xxh64_init(&st, 0);
        for (uint64_t done = 0; !rc && done < payload_len;) {
            size_t n = payload_len - done < (1u << 20) ? (size_t)(payload_len - done) : (1u << 20);
            rc = pread_all(w->fd, tmp.data, n, payload_start + done);
            xxh64_update(&st, tmp.data, n);
            done += n;
        }
        sum = xxh64_digest(&st);
    }
    spooky_buf_free(&tmp);
    if (!rc) {
        uint8_t h[SPOOKY_BLOCK_HEADER_SIZE];
        block_header(h, w->sync, 2, 0, payload_len, sum);
        rc = pwrite_all(w->fd, h, sizeof h, footer_off);
    }
    if (!rc) {
        uint8_t tail[SPOOKY_FILE_TAIL_SIZE] = {0};
        store_u64(tail, footer_off);
        memcpy(tail + 24, END_MAGIC, 8);
        rc = pwrite_all(w->fd, tail, sizeof tail, payload_start + payload_len);
    }
    if (!rc) w->bytes_written = payload_start + payload_len + SPOOKY_FILE_TAIL_SIZE;
    (void)err;
    return rc;
}
