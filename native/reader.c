/* reader.c: record files (docs/FORMAT.md section 2) read from untrusted bytes.
 *
 * spooky_file_open checks the header, the tail and the whole footer once, so
 * the accessors can read the footer sections without further checks. Block
 * payloads are checked when a block is read (verify, export): the block header
 * against the block table, the checksum, the record framing and every record.
 * Every offset and length from the file is compared against what is left
 * before it is added, so no sum can wrap. A spooky_file is read-only after
 * open: any number of threads may use one at once. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include "internal.h"
#include "file.h"
#include "keys.h"

int file_fail(spooky_error *err, int code, uint64_t offset, const char *message) {
    if (err) {
        err->code = code;
        err->offset = (size_t)offset;
        err->message = message;
    }
    return code;
}

static int all_zero(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

/* ---- open ------------------------------------------------------------------ */

void spooky_file_close(spooky_file *f) {
    if (!f) return;
    free(f->names);
    spooky_buf_free(&f->esc);
    key_clear(&f->key);
    free(f);
}

/* The footer payload p (n bytes, at file offset base): fixed part, key
 * section, names, block table, index, heap. */
#define RELEASE_WINDOW ((uint64_t)16 << 20)

/* Gives back the whole pages of a read-only file mapping inside [p, p + n). */
static void release_pages(const uint8_t *p, uint64_t n) {
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t end = ((uintptr_t)p + (uintptr_t)n) & ~(page - 1);
    if (end > start) madvise((void *)start, end - start, MADV_DONTNEED);
}

void file_release(const spooky_file *f, const uint8_t *p, uint64_t n) {
    if (f->release) release_pages(p, n);
}

void spooky_file_release(const spooky_file *f) {
    if (f) file_release(f, f->data, f->len);
}

void file_give_back(const spooky_file *f, uint64_t lo, uint64_t hi) {
    if (!f->release) return;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    lo = lo > FOLIO_SLACK ? lo - FOLIO_SLACK : 0;
    lo -= lo % page;
    hi = (hi + page - 1) / page * page;
    if (hi > f->len) hi = f->len;
    if (hi > lo) release_pages(f->data + lo, hi - lo);
}

int file_read_at(const spooky_file *f, int fd, uint8_t *dst, uint64_t off, uint64_t n,
                 spooky_error *err) {
    if (fd < 0) {
        if (!fits(off, n, f->len))
            return file_fail(err, SPOOKY_E_ARG, off, "read outside the file");
        memcpy(dst, f->data + off, (size_t)n);
        return SPOOKY_OK;
    }
    for (uint64_t done = 0; done < n;) {
        ssize_t got = pread(fd, dst + done, (size_t)(n - done), (off_t)(off + done));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return file_fail(err, SPOOKY_E_IO, off + done, "could not read the file");
        if (got == 0)
            return file_fail(err, SPOOKY_E_FILE_TRUNCATED, off + done,
                             "file is shorter than when it was opened");
        done += (uint64_t)got;
    }
    return SPOOKY_OK;
}

/* xxh64 of n bytes, read in windows released behind when `release`. */
static uint64_t checksum(const uint8_t *p, uint64_t n, int release) {
    if (!release) return spooky_xxh64(p, (size_t)n, 0);
    xxh64_state st;
    xxh64_init(&st, 0);
    for (uint64_t done = 0; done < n;) {
        uint64_t k = n - done < RELEASE_WINDOW ? n - done : RELEASE_WINDOW;
        xxh64_update(&st, p + done, (size_t)k);
        release_pages(p + done, k);
        done += k;
    }
    return xxh64_digest(&st);
}

/* The key section (format 2, at file offset base): parts, each a path of
 * steps, each a u32 length and its UTF-8 bytes (keys.h). */
static int open_key(spooky_file *f, const uint8_t *p, uint32_t len, uint32_t parts, uint64_t base,
                    spooky_error *err) {
    size_t bad_at;
    const char *why;
    int rc = key_init(&f->key, p, len, parts, &bad_at, &why);
    if (rc == SPOOKY_E_NOMEM) return file_fail(err, rc, 0, "no memory for the key");
    if (rc) return file_fail(err, SPOOKY_E_FILE_INVALID, base + bad_at, why);
    return SPOOKY_OK;
}

/* The name order section (format 2): for each name in the order of its
 * first appearance, its position in the names section; a permutation. */
static int open_order(spooky_file *f, const uint8_t *p, uint64_t order_off, uint64_t n,
                      uint64_t base, spooky_error *err) {
    if (order_off > n || f->name_count > (n - order_off) / 4)
        return file_fail(err, SPOOKY_E_FILE_INVALID, base + 72, "name order outside the footer");
    for (uint64_t i = 0; i < f->name_count; i++) f->names[i].rank = UINT32_MAX;
    for (uint64_t i = 0; i < f->name_count; i++) {
        uint32_t pos = load_u32(p + order_off + 4 * i);
        if (pos >= f->name_count || f->names[pos].rank != UINT32_MAX)
            return file_fail(err, SPOOKY_E_FILE_INVALID, base + order_off + 4 * i,
                             "name order is not an order of the names");
        f->names[pos].rank = (uint32_t)i;
    }
    return SPOOKY_OK;
}

static int open_footer(spooky_file *f, const uint8_t *p, uint64_t n, uint64_t base, int release,
                       spooky_error *err) {
    uint64_t fixed = f->version == 1 ? 72 : SPOOKY_FOOTER_FIXED_SIZE;
    if (n < fixed)
        return file_fail(err, SPOOKY_E_FILE_INVALID, base, "footer shorter than its fixed part");
    f->record_count = load_u64(p);
    f->block_count = load_u64(p + 8);
    f->name_count = load_u64(p + 16);
    uint64_t names_off = load_u64(p + 24), blocks_off = load_u64(p + 32);
    uint64_t index_off = load_u64(p + 40), heap_off = load_u64(p + 48);
    f->heap_len = load_u64(p + 56);
    uint32_t key_len = load_u32(p + 64);
    if (!fits(fixed, key_len, n))
        return file_fail(err, SPOOKY_E_FILE_INVALID, base + 64, "key section outside the footer");
    if (f->version == 1) { /* the key field's name, then 4 zero bytes */
        if (!all_zero(p + 68, 4))
            return file_fail(err, SPOOKY_E_FILE_INVALID, base + 68,
                             "reserved footer bytes are not zero");
        if (!valid_utf8(p + fixed, key_len))
            return file_fail(err, SPOOKY_E_FILE_INVALID, base + fixed,
                             "key field name is not UTF-8");
        if (key_init_field(&f->key, p + fixed, key_len))
            return file_fail(err, SPOOKY_E_NOMEM, 0, "no memory for the key");
    } else {
        TRY(open_key(f, p + fixed, key_len, load_u32(p + 68), base + fixed, err));
    }

    if (names_off > n || f->name_count > (n - names_off) / NAME_FIXED)
        return file_fail(err, SPOOKY_E_FILE_INVALID, base + 24, "name table outside the footer");
    if (blocks_off > n || f->block_count > (n - blocks_off) / BLOCK_ENTRY)
        return file_fail(err, SPOOKY_E_FILE_INVALID, base + 32, "block table outside the footer");
    if (index_off > n || f->record_count > (n - index_off) / INDEX_ENTRY)
        return file_fail(err, SPOOKY_E_FILE_INVALID, base + 40, "key index outside the footer");
    if (!fits(heap_off, f->heap_len, n))
        return file_fail(err, SPOOKY_E_FILE_INVALID, base + 48, "key heap outside the footer");
    f->blocks = p + blocks_off;
    f->index = p + index_off;
    f->heap = p + heap_off;

    /* names: parse fully, strictly ascending hashes, UTF-8, `"name":` text */
    f->names = calloc(f->name_count ? (size_t)f->name_count : 1, sizeof(name_entry));
    if (!f->names) return file_fail(err, SPOOKY_E_NOMEM, 0, "no memory for the name table");
    uint64_t at = names_off;
    for (uint64_t i = 0; i < f->name_count; i++) {
        if (!fits(at, NAME_FIXED, n))
            return file_fail(err, SPOOKY_E_FILE_INVALID, base + at,
                             "name table entry outside the footer");
        name_entry *e = &f->names[i];
        e->hash = load_u64(p + at);
        e->counts = p + at + 8;
        e->name_len = load_u32(p + at + 64);
        at += NAME_FIXED;
        if (!fits(at, e->name_len, n))
            return file_fail(err, SPOOKY_E_FILE_INVALID, base + at,
                             "field name outside the footer");
        e->name = p + at;
        if (i > 0 && f->names[i - 1].hash >= e->hash)
            return file_fail(err, SPOOKY_E_FILE_INVALID, base + at - NAME_FIXED,
                             "name table is not sorted by hash");
        if (spooky_name_hash(e->name, e->name_len) != e->hash)
            return file_fail(err, SPOOKY_E_FILE_INVALID, base + at - NAME_FIXED,
                             "field name does not match its hash");
        e->esc_off = f->esc.len;
        int rc = spooky_value_to_json(SPOOKY_STR, e->name, e->name_len, &f->esc);
        if (rc == SPOOKY_E_NOMEM) return file_fail(err, rc, 0, "no memory for the name table");
        if (rc) return file_fail(err, SPOOKY_E_FILE_INVALID, base + at, "field name is not UTF-8");
        if (buf_push(&f->esc, ':'))
            return file_fail(err, SPOOKY_E_NOMEM, 0, "no memory for the name table");
        e->esc_len = f->esc.len - e->esc_off;
        e->rank = (uint32_t)i; /* format 1: hash order */
        at += e->name_len;
    }
    if (f->version >= 2) TRY(open_order(f, p, load_u64(p + 72), n, base, err));

    /* block table: back to back from the header to the footer block */
    uint64_t expect = SPOOKY_FILE_HEADER_SIZE, records = 0;
    for (uint64_t i = 0; i < f->block_count; i++) {
        const uint8_t *b = f->blocks + i * BLOCK_ENTRY;
        uint64_t where = base + blocks_off + i * BLOCK_ENTRY;
        uint64_t off = load_u64(b), plen = load_u64(b + 16);
        uint32_t count = load_u32(b + 8);
        if (!all_zero(b + 12, 4))
            return file_fail(err, SPOOKY_E_FILE_INVALID, where + 12,
                             "reserved block table bytes are not zero");
        if (off != expect)
            return file_fail(err, SPOOKY_E_FILE_INVALID, where, "blocks are not back to back");
        if (!fits(off, SPOOKY_BLOCK_HEADER_SIZE, f->footer_offset) ||
            !fits(off + SPOOKY_BLOCK_HEADER_SIZE, plen, f->footer_offset))
            return file_fail(err, SPOOKY_E_FILE_INVALID, where, "block runs into the footer");
        expect = off + SPOOKY_BLOCK_HEADER_SIZE + plen;
        records += count;
    }
    if (expect != f->footer_offset)
        return file_fail(err, SPOOKY_E_FILE_INVALID, base + blocks_off,
                         "blocks do not end where the footer begins");
    if (records != f->record_count)
        return file_fail(err, SPOOKY_E_FILE_INVALID, base,
                         "block record counts do not add up to the index");

    /* key index: key slices in the heap, records inside the blocks, sorted keys */
    const uint8_t *prev = NULL;
    uint32_t prev_len = 0;
    uint64_t heap_released = 0;
    for (uint64_t i = 0; i < f->record_count; i++) {
        const uint8_t *e = f->index + i * INDEX_ENTRY;
        uint64_t where = base + index_off + i * INDEX_ENTRY;
        uint64_t roff = load_u64(e + 8), koff = load_u64(e + 24);
        uint32_t rlen = load_u32(e + 16), klen = load_u32(e + 20);
        if (!fits(koff, klen, f->heap_len))
            return file_fail(err, SPOOKY_E_FILE_INVALID, where, "index key outside the heap");
        if (roff < SPOOKY_FILE_HEADER_SIZE + SPOOKY_BLOCK_HEADER_SIZE ||
            !fits(roff, rlen, f->footer_offset))
            return file_fail(err, SPOOKY_E_FILE_INVALID, where, "index record outside the blocks");
        const uint8_t *k = f->heap + koff;
        if (prev && bytes_cmp(prev, prev_len, k, klen) >= 0)
            return file_fail(err, SPOOKY_E_FILE_INVALID, where, "key index is not sorted by key");
        if (release && i % (RELEASE_WINDOW / INDEX_ENTRY) == RELEASE_WINDOW / INDEX_ENTRY - 1) {
            uint64_t from = i + 1 - RELEASE_WINDOW / INDEX_ENTRY;
            release_pages(f->index + from * INDEX_ENTRY, RELEASE_WINDOW);
            /* the writer lays keys out in index order: drop the heap behind
             * the previous key, which the next comparison still reads */
            if (prev && prev > f->heap + heap_released + RELEASE_WINDOW) {
                release_pages(f->heap + heap_released, (uint64_t)(prev - f->heap) - heap_released);
                heap_released = (uint64_t)(prev - f->heap);
            }
        }
        prev = k;
        prev_len = klen;
    }
    if (release) {
        release_pages(f->index, f->record_count * INDEX_ENTRY);
        release_pages(f->heap, f->heap_len);
    }
    return SPOOKY_OK;
}

int spooky_file_open(const uint8_t *data, size_t len, int flags, spooky_file **out,
                     spooky_error *err) {
    if (!out || (!data && len)) return file_fail(err, SPOOKY_E_ARG, 0, "no data or no output");
    *out = NULL;
    size_t head = len < 8 ? len : 8;
    if (head && memcmp(data, FILE_MAGIC, head) != 0)
        return file_fail(err, SPOOKY_E_FILE_INVALID, 0, "not a record file (bad magic)");
    if (len < SPOOKY_FILE_HEADER_SIZE + SPOOKY_FILE_TAIL_SIZE)
        return file_fail(err, SPOOKY_E_FILE_TRUNCATED, len, "file shorter than header and tail");
    uint32_t version = load_u32(data + 8);
    if (version != 1 && version != 2)
        return file_fail(err, SPOOKY_E_FILE_INVALID, 8, "unsupported format version");
    if (load_u32(data + 12) != 0)
        return file_fail(err, SPOOKY_E_FILE_INVALID, 12, "unknown header flags");
    const uint8_t *tail = data + len - SPOOKY_FILE_TAIL_SIZE;
    if (memcmp(tail + 24, END_MAGIC, 8) != 0)
        return file_fail(err, SPOOKY_E_FILE_TRUNCATED, len, "no end magic");
    if (!all_zero(tail + 8, 16))
        return file_fail(err, SPOOKY_E_FILE_INVALID, len - SPOOKY_FILE_TAIL_SIZE + 8,
                         "reserved tail bytes are not zero");

    uint64_t body_end = len - SPOOKY_FILE_TAIL_SIZE;
    uint64_t foff = load_u64(tail);
    if (foff < SPOOKY_FILE_HEADER_SIZE || !fits(foff, SPOOKY_BLOCK_HEADER_SIZE, body_end))
        return file_fail(err, SPOOKY_E_FILE_INVALID, body_end, "footer offset outside the file");
    const uint8_t *fb = data + foff;
    if (memcmp(fb, data + 16, SYNC_SIZE) != 0)
        return file_fail(err, SPOOKY_E_FILE_INVALID, foff,
                         "footer block does not start with the sync");
    if (fb[16] != KIND_FOOTER)
        return file_fail(err, SPOOKY_E_FILE_INVALID, foff + 16, "footer block is not of kind 2");
    if (!all_zero(fb + 17, 3) || load_u32(fb + 20) != 0)
        return file_fail(err, SPOOKY_E_FILE_INVALID, foff + 17, "footer block header is not clean");
    uint64_t plen = load_u64(fb + 24);
    uint64_t poff = foff + SPOOKY_BLOCK_HEADER_SIZE;
    if (plen != body_end - poff)
        return file_fail(err, SPOOKY_E_FILE_INVALID, foff + 24,
                         "footer payload does not end at the tail");
    int release = (flags & SPOOKY_OPEN_RELEASE_PAGES) != 0;
    if (checksum(data + poff, plen, release) != load_u64(fb + 32))
        return file_fail(err, SPOOKY_E_CHECKSUM, foff + 32, "footer checksum mismatch");

    spooky_file *f = calloc(1, sizeof *f);
    if (!f) return file_fail(err, SPOOKY_E_NOMEM, 0, "no memory for the file");
    f->data = data;
    f->len = len;
    f->sync = data + 16;
    f->footer_offset = foff;
    f->release = release;
    f->version = version;
    int rc = open_footer(f, data + poff, plen, poff, release, err);
    if (rc) {
        spooky_file_close(f);
        return rc;
    }
    *out = f;
    return SPOOKY_OK;
}

/* ---- accessors --------------------------------------------------------------- */

uint64_t spooky_file_record_count(const spooky_file *f) { return f ? f->record_count : 0; }
uint64_t spooky_file_block_count(const spooky_file *f) { return f ? f->block_count : 0; }
uint64_t spooky_file_name_count(const spooky_file *f) { return f ? f->name_count : 0; }
const uint8_t *spooky_file_sync(const spooky_file *f) { return f ? f->sync : NULL; }

const spooky_key *spooky_file_key(const spooky_file *f) { return f ? &f->key : NULL; }

int spooky_file_name_at(const spooky_file *f, uint64_t i, spooky_name_info *out) {
    if (!f || !out || i >= f->name_count) return SPOOKY_E_ARG;
    const name_entry *e = &f->names[i];
    out->hash = e->hash;
    out->name = e->name;
    out->name_len = e->name_len;
    for (int t = 0; t < 7; t++) out->type_counts[t] = load_u64(e->counts + 8 * t);
    return SPOOKY_OK;
}

int spooky_file_block_at(const spooky_file *f, uint64_t i, spooky_block_info *out) {
    if (!f || !out || i >= f->block_count) return SPOOKY_E_ARG;
    const uint8_t *b = f->blocks + i * BLOCK_ENTRY;
    out->offset = load_u64(b);
    out->payload_offset = out->offset + SPOOKY_BLOCK_HEADER_SIZE;
    out->payload_len = load_u64(b + 16);
    out->record_count = load_u32(b + 8);
    return SPOOKY_OK;
}

int spooky_file_index_at(const spooky_file *f, uint64_t i, spooky_index_entry *out) {
    if (!f || !out || i >= f->record_count) return SPOOKY_E_ARG;
    const uint8_t *e = f->index + i * INDEX_ENTRY;
    out->digest = load_u64(e);
    out->record_offset = load_u64(e + 8);
    out->record_len = load_u32(e + 16);
    out->key_len = load_u32(e + 20);
    out->key = f->heap + load_u64(e + 24);
    return SPOOKY_OK;
}

uint64_t file_key_search(uint64_t lo, uint64_t hi, const uint8_t *key, size_t key_len,
                         index_key_fn key_at, const void *ctx, int *found) {
    uint64_t end = hi;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        uint32_t klen;
        const uint8_t *k = key_at(ctx, mid, &klen);
        if (bytes_cmp(k, klen, key, key_len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (found) {
        uint32_t klen = 0;
        const uint8_t *k = lo < end ? key_at(ctx, lo, &klen) : NULL;
        *found = k && bytes_cmp(k, klen, key, key_len) == 0;
    }
    return lo;
}

/* The key of index entry i of a file (ctx). */
static const uint8_t *index_key(const void *ctx, uint64_t i, uint32_t *klen) {
    const spooky_file *f = ctx;
    const uint8_t *e = f->index + i * INDEX_ENTRY;
    *klen = load_u32(e + 20);
    return f->heap + load_u64(e + 24);
}

int spooky_file_find_key(const spooky_file *f, const uint8_t *key, size_t key_len,
                         uint64_t *index_pos) {
    if (!f || !index_pos || (!key && key_len)) return SPOOKY_E_ARG;
    int found;
    uint64_t pos = file_key_search(0, f->record_count, key, key_len, index_key, f, &found);
    if (!found) return SPOOKY_E_NOT_FOUND;
    *index_pos = pos;
    return SPOOKY_OK;
}

uint64_t spooky_file_lower_bound(const spooky_file *f, const uint8_t *key, size_t key_len) {
    if (!f || (!key && key_len)) return 0;
    return file_key_search(0, f->record_count, key, key_len, index_key, f, NULL);
}

/* Index of the name with this hash, or -1. */
int64_t file_name_index(const spooky_file *f, uint64_t hash) {
    uint64_t lo = 0, hi = f->name_count;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        uint64_t h = f->names[mid].hash;
        if (h < hash)
            lo = mid + 1;
        else if (h > hash)
            hi = mid;
        else
            return (int64_t)mid;
    }
    return -1;
}

/* ---- blocks --------------------------------------------------------------------- */

/* Block i's header against the block table and its checksum. */
static int open_block(const spooky_file *f, uint64_t i, spooky_block_info *b, spooky_error *err) {
    if (!f || i >= f->block_count) return file_fail(err, SPOOKY_E_ARG, 0, "no such block");
    spooky_file_block_at(f, i, b);
    const uint8_t *h = f->data + b->offset; /* in bounds: checked at open */
    if (memcmp(h, f->sync, SYNC_SIZE) != 0)
        return file_fail(err, SPOOKY_E_FILE_INVALID, b->offset,
                         "block does not start with the sync");
    if (h[16] != KIND_RECORDS)
        return file_fail(err, SPOOKY_E_FILE_INVALID, b->offset + 16, "block is not of kind 1");
    if (!all_zero(h + 17, 3))
        return file_fail(err, SPOOKY_E_FILE_INVALID, b->offset + 17,
                         "reserved block bytes are not zero");
    if (load_u32(h + 20) != b->record_count)
        return file_fail(err, SPOOKY_E_FILE_INVALID, b->offset + 20,
                         "block record count differs from the block table");
    if (load_u64(h + 24) != b->payload_len)
        return file_fail(err, SPOOKY_E_FILE_INVALID, b->offset + 24,
                         "block payload length differs from the block table");
    if (spooky_xxh64(f->data + b->payload_offset, (size_t)b->payload_len, 0) != load_u64(h + 32))
        return file_fail(err, SPOOKY_E_CHECKSUM, b->offset + 32, "block payload checksum mismatch");
    return SPOOKY_OK;
}

int file_walk_block(const spooky_file *f, uint64_t i, block_walk *w, spooky_error *err) {
    memset(w, 0, sizeof *w);
    TRY(open_block(f, i, &w->block, err));
    w->p = f->data + w->block.payload_offset;
    return SPOOKY_OK;
}

/* Ends a walk: 0 with *rc = the status (file_fail when not SPOOKY_OK). */
static int walk_ends(int *rc, spooky_error *err, int code, uint64_t offset, const char *message) {
    *rc = code ? file_fail(err, code, offset, message) : SPOOKY_OK;
    return 0;
}

int file_next_entry(block_walk *w, int *rc, spooky_error *err) {
    uint64_t len = w->block.payload_len, base = w->block.payload_offset;
    if (w->at == len) {
        if (w->seen != w->block.record_count)
            return walk_ends(rc, err, SPOOKY_E_FILE_INVALID, base + w->at,
                             "block holds fewer records than its header says");
        return walk_ends(rc, err, SPOOKY_OK, 0, NULL);
    }
    if (w->seen == w->block.record_count)
        return walk_ends(rc, err, SPOOKY_E_FILE_INVALID, base + w->at,
                         "block holds more records than its header says");
    if (!fits(w->at, 8, len))
        return walk_ends(rc, err, SPOOKY_E_FILE_INVALID, base + w->at, "record entry cut short");
    w->klen = load_u32(w->p + w->at);
    w->rlen = load_u32(w->p + w->at + 4);
    uint64_t k = w->at + 8;
    if (!fits(k, w->klen, len) || !fits(k + w->klen, w->rlen, len))
        return walk_ends(rc, err, SPOOKY_E_FILE_INVALID, base + w->at,
                         "record entry runs past its block");
    w->key = w->p + k;
    w->rec = w->p + k + w->klen;
    w->rec_off = base + k + w->klen;
    w->at = k + w->klen + w->rlen;
    w->seen++;
    if (spooky_record_validate(w->rec, w->rlen) != SPOOKY_OK)
        return walk_ends(rc, err, SPOOKY_E_RECORD_INVALID, w->rec_off, "record is not valid");
    *rc = SPOOKY_OK;
    return 1;
}

int file_check_fields(const spooky_file *f, const uint8_t *rec, uint32_t rlen, uint64_t rec_off,
                      spooky_buf *scratch, spooky_error *err) {
    (void)scratch; /* nested values are checked without their text */
    uint32_t n = load_u32(rec);
    for (uint32_t j = 0; j < n; j++) {
        spooky_slot s = {0};
        spooky_record_slot_at(rec, rlen, j, &s);
        if (f && file_name_index(f, s.name_hash) < 0)
            return file_fail(err, SPOOKY_E_FILE_INVALID, rec_off,
                             "record field missing from the name table");
        if (s.tag == SPOOKY_STR && !valid_utf8(rec + s.offset, s.length))
            return file_fail(err, SPOOKY_E_RECORD_INVALID, rec_off + s.offset,
                             "string field is not UTF-8");
        if (s.tag == SPOOKY_F64) {
            double d;
            memcpy(&d, rec + s.offset, 8);
            if (!isfinite(d))
                return file_fail(err, SPOOKY_E_NOT_JSON, rec_off + s.offset,
                                 "float field is NaN or infinite");
        }
        if (s.tag == SPOOKY_NESTED) {
            int rc = spooky_cbor_check_json(rec + s.offset, s.length);
            if (rc == SPOOKY_E_NOT_JSON)
                return file_fail(
                    err, rc, rec_off + s.offset,
                    "nested field holds a value JSON cannot hold (NaN, infinity, bytes or a tag)");
            if (rc)
                return file_fail(err, SPOOKY_E_RECORD_INVALID, rec_off + s.offset,
                                 "nested field is not valid CBOR");
        }
    }
    return SPOOKY_OK;
}

/* The stored key is well formed and the sort form of the record's key. */
int file_check_key(const spooky_file *f, const uint8_t *key, uint32_t klen, const uint8_t *rec,
                   uint32_t rlen, uint64_t key_off, spooky_buf *scratch, spooky_error *err) {
    if (!key_well_formed(key, klen, f->key.nparts))
        return file_fail(err, SPOOKY_E_RECORD_INVALID, key_off, "stored key is not well formed");
    key_form want;
    int rc = key_form_of_record(rec, rlen, &f->key, scratch, &want, NULL);
    if (rc == SPOOKY_E_NOMEM) return file_fail(err, rc, key_off, "no memory");
    if (rc == SPOOKY_E_KEY_TYPE)
        return file_fail(err, SPOOKY_E_RECORD_INVALID, key_off,
                         "key field is not a string or an integer");
    if (rc == SPOOKY_E_KEY_MISSING)
        return file_fail(err, SPOOKY_E_RECORD_INVALID, key_off, "record has no key field");
    if (rc)
        return file_fail(err, SPOOKY_E_RECORD_INVALID, key_off,
                         "nested key field is not valid CBOR");
    if (!key_form_equals(&want, key, klen))
        return file_fail(err, SPOOKY_E_RECORD_INVALID, key_off,
                         "stored key differs from the key field");
    return SPOOKY_OK;
}

/* The index entry of this key points at this record, with its digest. */
static int check_indexed(const spooky_file *f, const uint8_t *key, uint32_t klen,
                         const uint8_t *rec, uint32_t rlen, uint64_t rec_off, spooky_error *err) {
    uint64_t pos;
    if (spooky_file_find_key(f, key, klen, &pos) != SPOOKY_OK)
        return file_fail(err, SPOOKY_E_FILE_INVALID, rec_off, "record missing from the key index");
    spooky_index_entry e = {0};
    spooky_file_index_at(f, pos, &e);
    if (e.record_offset != rec_off || e.record_len != rlen)
        return file_fail(err, SPOOKY_E_FILE_INVALID, rec_off,
                         "key index points elsewhere for this key");
    if (e.digest != spooky_xxh64(rec, rlen, 0))
        return file_fail(err, SPOOKY_E_CHECKSUM, rec_off,
                         "record digest differs from the key index");
    return SPOOKY_OK;
}

int file_check_entry(const spooky_file *f, const block_walk *w, spooky_buf *scratch,
                     spooky_error *err) {
    TRY(file_check_key(f, w->key, w->klen, w->rec, w->rlen, w->rec_off - w->klen, scratch, err));
    return file_check_fields(f, w->rec, w->rlen, w->rec_off, scratch, err);
}

int spooky_file_verify_block(const spooky_file *f, uint64_t i, spooky_error *err) {
    block_walk w;
    TRY(file_walk_block(f, i, &w, err));
    spooky_buf scratch = {0};
    int rc;
    while (file_next_entry(&w, &rc, err)) {
        if ((rc = file_check_entry(f, &w, &scratch, err))) break;
        if ((rc = check_indexed(f, w.key, w.klen, w.rec, w.rlen, w.rec_off, err))) break;
    }
    spooky_buf_free(&scratch);
    return rc;
}

int spooky_file_block_records(const spooky_file *f, uint64_t i, spooky_index_entry *out,
                              uint64_t cap, uint64_t *n, spooky_error *err) {
    if (!n || (!out && cap)) return file_fail(err, SPOOKY_E_ARG, 0, "bad argument");
    *n = 0;
    block_walk w;
    TRY(file_walk_block(f, i, &w, err));
    if (w.block.record_count > cap)
        return file_fail(err, SPOOKY_E_ARG, w.block.offset, "no room for the records");
    int rc;
    while (file_next_entry(&w, &rc, err)) {
        out[*n] = (spooky_index_entry){0, w.rec_off, w.rlen, w.key, w.klen};
        (*n)++;
    }
    return rc;
}

/* ---- export -------------------------------------------------------------------- */

int file_put_value(const uint8_t *rec, const spooky_slot *s, uint64_t rec_off, spooky_buf *out,
                   spooky_error *err) {
    int rc = spooky_value_to_json(s->tag, rec + s->offset, s->length, out);
    if (rc == SPOOKY_OK) return rc;
    if (rc == SPOOKY_E_NOMEM) return file_fail(err, rc, rec_off, "no memory for the output");
    if (rc == SPOOKY_E_NOT_JSON && s->tag == SPOOKY_F64)
        return file_fail(err, rc, rec_off + s->offset, "float field is NaN or infinite");
    if (rc == SPOOKY_E_NOT_JSON && s->tag == SPOOKY_NESTED)
        return file_fail(
            err, rc, rec_off + s->offset,
            "nested field holds a value JSON cannot hold (NaN, infinity, bytes or a tag)");
    return file_fail(err, SPOOKY_E_RECORD_INVALID, rec_off + s->offset,
                     s->tag == SPOOKY_STR ? "string field is not UTF-8"
                                          : "nested field is not valid CBOR");
}

/* The cached order of rec's schema, computed now if it is not cached. */
static int schema_order_of(const spooky_file *f, const uint8_t *rec, uint32_t rlen,
                           uint64_t rec_off, name_cache *cache, const schema_order **out,
                           spooky_error *err) {
    uint32_t n = load_u32(rec);
    for (size_t i = 0; i < cache->used; i++) {
        const schema_order *s = &cache->schemas[i];
        uint32_t j = 0;
        if (s->n != n) continue;
        while (j < n && s->hashes[j] == load_u64(ENTRY(rec, j))) j++;
        if (j == n) {
            *out = s;
            return SPOOKY_OK;
        }
    }
    size_t at = cache->used < SCHEMA_CACHE ? cache->used++ : cache->next++ % SCHEMA_CACHE;
    schema_order *s = &cache->schemas[at];
    s->n = 0; /* unusable until filled */
    size_t cap = n ? n : 1;
    uint64_t *hashes = realloc(s->hashes, cap * sizeof *hashes);
    if (hashes) s->hashes = hashes;
    uint32_t *order = realloc(s->order, cap * sizeof *order);
    if (order) s->order = order;
    int64_t *ni = realloc(s->ni, cap * sizeof *ni);
    if (ni) s->ni = ni;
    if (!hashes || !order || !ni) return file_fail(err, SPOOKY_E_NOMEM, 0, "no memory");
    for (uint32_t j = 0; j < n; j++) {
        s->hashes[j] = load_u64(ENTRY(rec, j));
        s->ni[j] = file_name_index(f, s->hashes[j]);
        if (s->ni[j] < 0)
            return file_fail(err, SPOOKY_E_FILE_INVALID, rec_off,
                             "record field missing from the name table");
        uint32_t k = j; /* insertion sort by rank: done once per schema */
        for (; k > 0 && f->names[s->ni[s->order[k - 1]]].rank > f->names[s->ni[j]].rank; k--)
            s->order[k] = s->order[k - 1];
        s->order[k] = j;
    }
    s->n = n;
    (void)rlen;
    *out = s;
    return SPOOKY_OK;
}

int file_put_record(const spooky_file *f, const uint8_t *rec, uint32_t rlen, uint64_t rec_off,
                    name_cache *cache, spooky_buf *out, spooky_error *err) {
    const schema_order *s = NULL;
    TRY(schema_order_of(f, rec, rlen, rec_off, cache, &s, err));
    TRY(buf_push(out, '{'));
    for (uint32_t k = 0; k < s->n; k++) {
        uint32_t j = s->order[k];
        spooky_slot slot = {0};
        spooky_record_slot_at(rec, rlen, j, &slot); /* valid record: in bounds */
        const name_entry *e = &f->names[s->ni[j]];
        if (k) TRY(buf_push(out, ','));
        TRY(buf_append(out, f->esc.data + e->esc_off, e->esc_len));
        TRY(file_put_value(rec, &slot, rec_off, out, err));
    }
    return buf_push(out, '}');
}

void name_cache_free(name_cache *cache) {
    for (size_t i = 0; i < SCHEMA_CACHE; i++) {
        free(cache->schemas[i].hashes);
        free(cache->schemas[i].order);
        free(cache->schemas[i].ni);
    }
    memset(cache, 0, sizeof *cache);
}

int schema_init(resolved_schema *s, const spooky_file *f, const uint64_t *fields, size_t n) {
    s->n = n;
    s->paths = NULL;
    s->slots = calloc(n ? n : 1, sizeof *s->slots);
    s->names = calloc(n ? n : 1, sizeof *s->names);
    if (!s->slots || !s->names) {
        schema_free(s);
        return SPOOKY_E_NOMEM;
    }
    for (size_t j = 0; j < n; j++) {
        int64_t ni = f ? file_name_index(f, fields[j]) : -1;
        s->names[j] = ni < 0 ? NULL : &f->names[ni];
        s->slots[j].name_hash = fields[j];
    }
    return SPOOKY_OK;
}

void schema_free(resolved_schema *s) {
    free(s->slots);
    free(s->names);
    s->slots = NULL;
    s->names = NULL;
}

/* The schema's fields, in its order. Hashes the name table lacks name no
 * field of a valid file, so they are left out, as are fields the record lacks. */
int file_put_projected(const spooky_file *f, resolved_schema *p, const uint8_t *rec, uint32_t rlen,
                       uint64_t rec_off, spooky_buf *out, spooky_error *err) {
    TRY(buf_push(out, '{'));
    int first = 1;
    for (size_t j = 0; j < p->n; j++) {
        if (!p->names[j]) continue;
        int r = spooky_slot_refresh(rec, rlen, &p->slots[j]);
        if (r == SPOOKY_E_NOT_FOUND) continue;
        if (r) return file_fail(err, SPOOKY_E_RECORD_INVALID, rec_off, "record is not valid");
        size_t before = out->len;
        if (!first) TRY(buf_push(out, ','));
        TRY(buf_append(out, f->esc.data + p->names[j]->esc_off, p->names[j]->esc_len));
        uint32_t root = p->paths ? p->paths->root[j] : 0;
        if (p->paths && p->paths->nodes[root].nchildren) { /* only what the paths keep */
            const spooky_slot *s = &p->slots[j];
            int wrote = 0, rc = SPOOKY_OK;
            if (s->tag == SPOOKY_NESTED)
                rc = projection_put_json(p->paths, root, rec + s->offset,
                                         rec + s->offset + s->length, out, &wrote);
            if (rc == SPOOKY_E_NOMEM) return file_fail(err, rc, rec_off, "no memory");
            if (rc)
                return file_fail(err, SPOOKY_E_RECORD_INVALID, rec_off + s->offset,
                                 "nested field is not valid CBOR");
            if (!wrote) {
                out->len = before; /* nothing kept: the field is left out */
                continue;
            }
        } else {
            TRY(file_put_value(rec, &p->slots[j], rec_off, out, err));
        }
        first = 0;
    }
    return buf_push(out, '}');
}

int file_put_line(const spooky_file *f, resolved_schema *p, name_cache *cache, const block_walk *w,
                  spooky_buf *out, spooky_error *err) {
    TRY(p ? file_put_projected(f, p, w->rec, w->rlen, w->rec_off, out, err)
          : file_put_record(f, w->rec, w->rlen, w->rec_off, cache, out, err));
    return buf_push(out, '\n');
}

static int export_walk(const spooky_file *f, block_walk *w, resolved_schema *p, spooky_buf *out,
                       spooky_error *err) {
    name_cache cache = {0};
    int rc;
    while (file_next_entry(w, &rc, err))
        if ((rc = file_put_line(f, p, &cache, w, out, err))) break;
    name_cache_free(&cache);
    return rc;
}

int spooky_file_export_block(const spooky_file *f, uint64_t i, const uint64_t *fields,
                             size_t nfields, const uint8_t *paths, size_t paths_len,
                             spooky_buf *out, spooky_error *err) {
    if (!f || !out || (!fields && nfields) || (paths && !fields))
        return file_fail(err, SPOOKY_E_ARG, 0, "bad argument");
    block_walk w;
    TRY(file_walk_block(f, i, &w, err));
    size_t mark = out->len;
    /* A block's JSON is usually about as long as its payload: grow once. */
    uint64_t payload_len = w.block.payload_len;
    if (payload_len < SIZE_MAX / 4 && buf_grow(out, (size_t)payload_len + 64))
        return file_fail(err, SPOOKY_E_NOMEM, 0, "no memory for the output");
    projection pj;
    int prc = projection_parse(&pj, paths, paths_len, nfields);
    if (prc) {
        projection_free(&pj);
        return file_fail(err, prc, 0, prc == SPOOKY_E_NOMEM ? "no memory" : "bad projection paths");
    }
    resolved_schema p = {0};
    if (fields && schema_init(&p, f, fields, nfields)) {
        projection_free(&pj);
        return file_fail(err, SPOOKY_E_NOMEM, 0, "no memory");
    }
    p.paths = paths ? &pj : NULL;
    int rc = export_walk(f, &w, fields ? &p : NULL, out, err);
    schema_free(&p);
    projection_free(&pj);
    if (rc == SPOOKY_E_NOMEM) file_fail(err, rc, 0, "no memory for the output");
    if (rc) out->len = mark;
    return rc;
}

/* ---- one record (spooky get) ----------------------------------------------------- */

int spooky_file_record_json(const spooky_file *f, uint64_t pos, int indent, spooky_buf *out,
                            spooky_error *err) {
    if (!f || !out || pos >= f->record_count || indent < 0 || indent > 16)
        return file_fail(err, SPOOKY_E_ARG, 0, "bad argument");
    spooky_index_entry e;
    spooky_file_index_at(f, pos, &e);
    const uint8_t *rec = f->data + e.record_offset; /* inside the blocks: checked at open */
    if (spooky_xxh64(rec, e.record_len, 0) != e.digest)
        return file_fail(err, SPOOKY_E_CHECKSUM, e.record_offset,
                         "record digest differs from the key index");
    if (spooky_record_validate(rec, e.record_len) != SPOOKY_OK)
        return file_fail(err, SPOOKY_E_RECORD_INVALID, e.record_offset, "record is not valid");
    spooky_buf compact = {0};
    name_cache cache = {0};
    size_t mark = out->len;
    int rc = file_put_record(f, rec, e.record_len, e.record_offset, &cache, &compact, err);
    if (!rc) rc = json_layout(compact.data, compact.len, indent, out);
    if (rc == SPOOKY_E_NOMEM) file_fail(err, rc, 0, "no memory for the output");
    if (rc) out->len = mark;
    name_cache_free(&cache);
    spooky_buf_free(&compact);
    return rc;
}

/* ---- finding blocks in a byte range --------------------------------------------- */

int64_t spooky_find_block(const uint8_t *data, size_t len, const uint8_t *sync, size_t from) {
    if (!data || !sync) return -1;
    while (from < len && len - from >= SPOOKY_BLOCK_HEADER_SIZE) {
        const uint8_t *hit = memmem(data + from, len - from, sync, SYNC_SIZE);
        if (!hit) return -1;
        size_t at = (size_t)(hit - data);
        from = at + 1;
        if (len - at < SPOOKY_BLOCK_HEADER_SIZE) return -1;
        const uint8_t *h = hit;
        if ((h[16] != KIND_RECORDS && h[16] != KIND_FOOTER) || !all_zero(h + 17, 3)) continue;
        if (h[16] == KIND_FOOTER && load_u32(h + 20) != 0) continue;
        uint64_t plen = load_u64(h + 24);
        if (!fits(at + SPOOKY_BLOCK_HEADER_SIZE, plen, len)) continue;
        if (spooky_xxh64(h + SPOOKY_BLOCK_HEADER_SIZE, (size_t)plen, 0) != load_u64(h + 32))
            continue;
        return (int64_t)at;
    }
    return -1;
}
