/* writer.c: the block writer (docs/FORMAT.md, section 2): chunks in input
 * order -> a record file. It cuts blocks by size, keeps the name table and
 * type counts (names.h) and hands every record's key to the key index
 * (keyindex.h); finish writes the footer, rewriting the live records first
 * when keep_last dropped some. */
#include <stdlib.h>
#include <unistd.h>
#include "internal.h"
#include "chunk.h"
#include "io.h"
#include "keyindex.h"
#include "keys.h"
#include "names.h"
#include "file.h"

#define BLOCK_ROOM ((size_t)2 << 20) /* the output buffer's first size */

typedef struct {
    uint64_t offset;
    uint32_t records;
    uint64_t payload_len;
} block_entry;

struct spooky_writer {
    int fd;
    spooky_key key; /* a copy of the key the writer was made with */
    /* The file's bytes not yet written, whole pages at a time (io.h): the
     * last partial page, the header of the block being filled, then its
     * payload, which `block` views (out owns the memory; block_room grows it). */
    page_out out;
    spooky_buf block; /* payload of the block being filled */
    uint32_t block_records;
    uint64_t block_offset; /* file offset the block will start at */
    int header_written;
    uint8_t sync[16];
    block_entry *blocks;
    size_t nblocks, cap_blocks;
    name_table names;
    key_index keys;
    char *temp_dir; /* where the temporary files go */
    uint64_t records;
    uint64_t bytes_written;
    spooky_buf clash_a, clash_b; /* two names with one hash */
    uint64_t version; /* keep_last by the highest value of this field (has_version) */
    int has_version;
    spooky_buf rec_a, rec_b; /* two records of one key, read back */
};

/* block views the output buffer after the unwritten tail and room for the
 * block header, keeping its length. */
static void block_view(spooky_writer *w) {
    size_t front = w->out.tail + SPOOKY_BLOCK_HEADER_SIZE;
    w->block.data = w->out.buf + front;
    w->block.cap = w->out.cap - front;
}

/* Room for extra more payload bytes (block_view's buffer never reallocs). */
static int block_room(spooky_writer *w, size_t extra) {
    if (w->block.cap - w->block.len >= extra) return SPOOKY_OK;
    size_t used = w->out.tail + SPOOKY_BLOCK_HEADER_SIZE + w->block.len;
    if (extra > SIZE_MAX / 2 - used) return SPOOKY_E_NOMEM;
    TRY(page_out_reserve(&w->out, used + extra, used));
    block_view(w);
    return SPOOKY_OK;
}

spooky_writer *spooky_writer_new(int fd, const spooky_key *key, const char *temp_dir) {
    if (fd < 0 || !key) return NULL;
    spooky_writer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->fd = fd;
    w->temp_dir = strdup(temp_dir ? temp_dir : "/tmp");
    key_index_init(&w->keys, w->temp_dir);
    size_t bad_at;
    const char *why;
    if (!w->temp_dir ||
        key_init(&w->key, key->section.data, key->section.len, key->nparts, &bad_at, &why) ||
        page_out_init(&w->out, fd, BLOCK_ROOM)) {
        spooky_writer_free(w);
        return NULL;
    }
    w->out.tail = SPOOKY_FILE_HEADER_SIZE; /* the file header goes first, once known */
    memset(w->out.buf, 0, SPOOKY_FILE_HEADER_SIZE);
    w->block_offset = SPOOKY_FILE_HEADER_SIZE;
    block_view(w);
    return w;
}

void spooky_writer_free(spooky_writer *w) {
    if (!w) return;
    key_clear(&w->key);
    page_out_free(&w->out); /* block's memory */
    free(w->blocks);
    names_free(&w->names);
    key_index_free(&w->keys);
    free(w->temp_dir);
    spooky_buf_free(&w->clash_a);
    spooky_buf_free(&w->clash_b);
    spooky_buf_free(&w->rec_a);
    spooky_buf_free(&w->rec_b);
    free(w);
}

uint64_t spooky_writer_records(const spooky_writer *w) { return w->records; }
uint64_t spooky_writer_bytes(const spooky_writer *w) { return w->bytes_written; }
uint64_t spooky_writer_replaced(const spooky_writer *w) { return w->keys.ndead; }

int spooky_writer_duplicate(const spooky_writer *w, const uint8_t **key, size_t *key_len,
                            uint32_t *s1, uint64_t *l1, uint32_t *s2, uint64_t *l2) {
    const key_index *k = &w->keys;
    if (!k->dup_key.len) return SPOOKY_E_NOT_FOUND;
    *key = k->dup_key.data;
    *key_len = k->dup_key.len;
    *s1 = k->dup_source[0], *l1 = k->dup_line[0], *s2 = k->dup_source[1], *l2 = k->dup_line[1];
    return SPOOKY_OK;
}

int spooky_writer_collision(const spooky_writer *w, const uint8_t **a, size_t *a_len,
                            const uint8_t **b, size_t *b_len) {
    if (!w->clash_a.len && !w->clash_b.len) return SPOOKY_E_NOT_FOUND;
    *a = w->clash_a.data, *a_len = w->clash_a.len;
    *b = w->clash_b.data, *b_len = w->clash_b.len;
    return SPOOKY_OK;
}

/* Of two records of one key, the later lives unless the earlier has the
 * higher version (records without comparable versions: the later). Both
 * are read back from the file: repeated keys are few. */
static int later_version_lives(void *ctx, const run_entry *earlier, const run_entry *later,
                               int *later_wins) {
    spooky_writer *w = ctx;
    spooky_buf *a = &w->rec_a, *b = &w->rec_b;
    TRY(spooky_buf_reserve(a, earlier->rec_len));
    TRY(spooky_buf_reserve(b, later->rec_len));
    TRY(pread_all(w->fd, a->data, earlier->rec_len, earlier->rec_off));
    TRY(pread_all(w->fd, b->data, later->rec_len, later->rec_off));
    spooky_slot sa, sb;
    int fa = spooky_record_find(a->data, earlier->rec_len, w->version, &sa);
    int fb = spooky_record_find(b->data, later->rec_len, w->version, &sb);
    int c = version_cmp(a->data, fa ? NULL : &sa, b->data, fb ? NULL : &sb);
    *later_wins = c != 1;
    return SPOOKY_OK;
}

int spooky_writer_keep_highest(spooky_writer *w, uint64_t version_hash) {
    if (!w) return SPOOKY_E_ARG;
    w->version = version_hash;
    w->has_version = 1;
    w->keys.later_lives = later_version_lives;
    w->keys.lives_ctx = w;
    return SPOOKY_OK;
}

/* ---- blocks ------------------------------------------------------------------------ */

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
    uint8_t *h = w->out.buf; /* still in the buffer: nothing is written before the first block */
    memcpy(h, FILE_MAGIC, 8);
    store_u32(h + 8, SPOOKY_FILE_VERSION);
    store_u32(h + 12, 0);
    memcpy(h + 16, w->sync, 16);
    w->header_written = 1;
    w->bytes_written += SPOOKY_FILE_HEADER_SIZE;
    return SPOOKY_OK;
}

static int flush_block(spooky_writer *w) {
    if (!w->block_records) return SPOOKY_OK;
    if (!w->header_written) TRY(write_file_header(w, w->block.data, w->block.len));
    block_header(w->block.data - SPOOKY_BLOCK_HEADER_SIZE, w->sync, 1, w->block_records,
                 w->block.len, spooky_xxh64(w->block.data, w->block.len, 0));
    TRY(page_out_write(&w->out, (size_t)(w->block.data + w->block.len - w->out.buf)));
    TRY(grow_array(&w->blocks, &w->cap_blocks, w->nblocks + 1, sizeof *w->blocks));
    w->blocks[w->nblocks++] = (block_entry){w->block_offset, w->block_records, w->block.len};
    uint64_t size = SPOOKY_BLOCK_HEADER_SIZE + w->block.len;
    w->block_offset += size;
    w->bytes_written += size;
    w->block.len = 0;
    w->block_records = 0;
    block_view(w);
    return SPOOKY_OK;
}

/* Appends one record (key in sort form) to the current block and its entry
 * to the key index. */
static int append_record(spooky_writer *w, const uint8_t *key, uint32_t key_len, const uint8_t *rec,
                         uint32_t rec_len, uint64_t digest, uint32_t source, uint64_t line) {
    uint64_t rec_off = w->block_offset + SPOOKY_BLOCK_HEADER_SIZE + w->block.len + 8 + key_len;
    uint32_t hdr[2] = {key_len, rec_len};
    TRY(block_room(w, 8 + (size_t)key_len + rec_len));
    TRY(buf_append(&w->block, hdr, 8));
    TRY(buf_append(&w->block, key, key_len));
    TRY(buf_append(&w->block, rec, rec_len));
    w->block_records++;
    TRY(key_index_add(&w->keys, key, key_len, rec_len, digest, rec_off, source, line));
    w->records++;
    if (w->block.len >= SPOOKY_BLOCK_TARGET) TRY(flush_block(w));
    return SPOOKY_OK;
}

int spooky_writer_add(spooky_writer *w, const spooky_chunk *c, uint32_t source, uint64_t first_line,
                      spooky_error *err) {
    if (!w || !c) return SPOOKY_E_ARG;
    const name_slot *clash, *theirs;
    TRY(names_merge(&w->names, &c->names, 1, &clash, &theirs));
    if (clash) {
        w->clash_a.len = w->clash_b.len = 0;
        TRY(buf_append(&w->clash_a, names_name(&w->names, clash), clash->name_len));
        TRY(buf_append(&w->clash_b, names_name(&c->names, theirs), theirs->name_len));
        if (err) {
            err->code = SPOOKY_E_HASH_COLLISION;
            err->offset = 0;
            err->message = "two field names share one xxh64 hash";
        }
        return SPOOKY_E_HASH_COLLISION;
    }
    chunk_entry e;
    for (size_t at = 0, i = 0; at < c->entries.len; i++) {
        chunk_entry_at(c, &at, i, &e);
        TRY(append_record(w, e.key, e.key_len, e.rec, e.rec_len, e.digest, source,
                          first_line + e.line));
    }
    return SPOOKY_OK;
}

/* ---- finishing --------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Re-reads the blocks written so far and writes the live records (those no
 * later record of their key replaced) to w2. */
static int rewrite_live(spooky_writer *w, spooky_writer *w2) {
    key_index *k = &w->keys;
    qsort(k->dead, k->ndead, sizeof *k->dead, cmp_u64);
    spooky_buf payload = {0};
    uint64_t ordinal = 0;
    size_t d = 0;
    int rc = SPOOKY_OK;
    for (size_t b = 0; b < w->nblocks && !rc; b++) {
        const block_entry *be = &w->blocks[b];
        payload.len = 0;
        rc = buf_grow(&payload, be->payload_len);
        if (!rc)
            rc = pread_all(w->fd, payload.data, be->payload_len,
                           be->offset + SPOOKY_BLOCK_HEADER_SIZE);
        const uint8_t *p = payload.data, *end = p + be->payload_len;
        while (!rc && p < end) {
            uint32_t klen = load_u32(p), rlen = load_u32(p + 4);
            const uint8_t *rec = p + 8 + klen;
            if (d < k->ndead && k->dead[d] == ordinal) {
                d++;
            } else { /* the names of live records only, in the input's order */
                rc = names_add_record(&w2->names, &w->names, rec);
                if (!rc)
                    rc =
                        append_record(w2, p + 8, klen, rec, rlen, spooky_xxh64(rec, rlen, 0), 0, 0);
            }
            p += 8 + (size_t)klen + rlen;
            ordinal++;
        }
    }
    spooky_buf_free(&payload);
    return rc;
}

static int finish_file(spooky_writer *w, int keep_last, int fd_rewrite, int *rewritten);

/* keep_last dropped records: the live ones go to a second writer on
 * fd_rewrite, which finishes the file there. */
static int finish_rewritten(spooky_writer *w, int fd_rewrite, int *rewritten) {
    spooky_writer *w2 = spooky_writer_new(fd_rewrite, &w->key, w->temp_dir);
    if (!w2) return SPOOKY_E_NOMEM;
    int rc = rewrite_live(w, w2);
    int again = 0;
    if (!rc) rc = finish_file(w2, 0, -1, &again);
    w->records = w2->records;
    w->bytes_written = w2->bytes_written;
    spooky_writer_free(w2);
    if (!rc) *rewritten = 1;
    return rc;
}

/* Where the sections of the footer payload go (offsets in the payload). */
typedef struct {
    uint64_t names_off, order_off, blocks_off, index_off, heap_off, heap_len, count;
    uint32_t key_len, key_parts;
} footer_layout;

/* The footer payload up to the index: room for the fixed part, the key
 * section, the names and the block table. */
static int footer_head(const spooky_writer *w, spooky_buf *head, footer_layout *lay) {
    TRY(buf_grow(head, SPOOKY_FOOTER_FIXED_SIZE));
    memset(head->data, 0, SPOOKY_FOOTER_FIXED_SIZE);
    head->len = SPOOKY_FOOTER_FIXED_SIZE;
    /* the key: its parts, each a path of steps */
    TRY(buf_append(head, w->key.section.data, w->key.section.len));
    lay->key_parts = w->key.nparts;
    lay->key_len = (uint32_t)(head->len - SPOOKY_FOOTER_FIXED_SIZE);
    lay->names_off = head->len;
    TRY(names_put_footer(&w->names, head));
    lay->order_off = head->len;
    TRY(names_put_order(&w->names, head));
    lay->blocks_off = head->len;
    for (size_t i = 0; i < w->nblocks; i++) {
        uint8_t b[24] = {0};
        store_u64(b, w->blocks[i].offset);
        store_u32(b + 8, w->blocks[i].records);
        store_u64(b + 16, w->blocks[i].payload_len);
        TRY(buf_append(head, b, 24));
    }
    lay->index_off = head->len;
    return SPOOKY_OK;
}

/* The footer's fixed part, at the start of head. */
static void footer_fixed(const spooky_writer *w, const footer_layout *lay, uint8_t *f) {
    store_u64(f, lay->count);
    store_u64(f + 8, w->nblocks);
    store_u64(f + 16, w->names.count);
    store_u64(f + 24, lay->names_off);
    store_u64(f + 32, lay->blocks_off);
    store_u64(f + 40, lay->index_off);
    store_u64(f + 48, lay->heap_off);
    store_u64(f + 56, lay->heap_len);
    store_u32(f + 64, lay->key_len);
    store_u32(f + 68, lay->key_parts);
    store_u64(f + 72, lay->order_off);
}

/* The footer block's header, from the payload read back, and the tail. */
static int seal_footer(spooky_writer *w, uint64_t footer_off, uint64_t payload_len) {
    uint64_t payload_start = footer_off + SPOOKY_BLOCK_HEADER_SIZE;
    uint64_t sum;
    TRY(checksum_range(w->fd, payload_start, payload_len, &sum));
    uint8_t h[SPOOKY_BLOCK_HEADER_SIZE];
    block_header(h, w->sync, 2, 0, payload_len, sum);
    TRY(pwrite_all(w->fd, h, sizeof h, footer_off));
    uint8_t tail[SPOOKY_FILE_TAIL_SIZE] = {0};
    store_u64(tail, footer_off);
    memcpy(tail + 24, END_MAGIC, 8);
    TRY(pwrite_all(w->fd, tail, sizeof tail, payload_start + payload_len));
    w->bytes_written = payload_start + payload_len + SPOOKY_FILE_TAIL_SIZE;
    return SPOOKY_OK;
}

/* The last block, then the footer: its head, the index and heap out of the
 * key index's merge, the heap copied after the index, then the fixed part,
 * checksum and tail. */
static int finish_file(spooky_writer *w, int keep_last, int fd_rewrite, int *rewritten) {
    TRY(flush_block(w));
    if (!w->header_written) TRY(write_file_header(w, NULL, 0));
    TRY(page_out_end(&w->out)); /* the blocks are written: plain I/O from here on */
    uint64_t footer_off = w->block_offset;
    uint64_t payload_start = footer_off + SPOOKY_BLOCK_HEADER_SIZE;
    spooky_buf head = {0};
    footer_layout lay = {0};
    key_index_out merged = {0, -1, 0};
    int rc = footer_head(w, &head, &lay);
    if (!rc)
        rc = key_index_merge(&w->keys, keep_last, w->fd, payload_start + lay.index_off, &merged);
    if (!rc && w->keys.ndead) {
        close(merged.heap_fd);
        spooky_buf_free(&head);
        return finish_rewritten(w, fd_rewrite, rewritten);
    }
    lay.count = merged.count;
    lay.heap_off = lay.index_off + merged.count * 32;
    lay.heap_len = merged.heap_len;
    if (!rc) rc = copy_range(merged.heap_fd, 0, w->fd, payload_start + lay.heap_off, lay.heap_len);
    if (merged.heap_fd >= 0) close(merged.heap_fd);
    if (!rc) {
        footer_fixed(w, &lay, head.data);
        rc = pwrite_all(w->fd, head.data, head.len, payload_start);
    }
    spooky_buf_free(&head);
    if (!rc) rc = seal_footer(w, footer_off, lay.heap_off + lay.heap_len);
    return rc;
}

int spooky_writer_finish(spooky_writer *w, int keep_last, int fd_rewrite, int *rewritten,
                         spooky_error *err) {
    if (!w || !rewritten) return SPOOKY_E_ARG;
    *rewritten = 0;
    int rc = finish_file(w, keep_last, fd_rewrite, rewritten);
    /* the spilled runs are merged (or will never be): their space goes back now,
     * not when the writer is freed */
    key_index_drop_spills(&w->keys);
    if (rc && err) {
        err->code = rc;
        err->offset = 0;
        err->message = spooky_strerror(rc);
    }
    return rc;
}
