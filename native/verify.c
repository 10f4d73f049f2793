/* verify.c: a whole record file checked block by block with flat memory.
 *
 * Each record of a block is looked up in the key index (it must be there,
 * pointing at it, with its digest). A binary search through the map would
 * touch the key index all over (records in random key order) and keep it
 * resident; the verifier instead keeps every step-th key of the index in
 * memory (the samples, read once, front to back) and reads the slice of
 * step index entries a key falls in, and their keys, with pread. A record
 * whose key follows the last one's (a file in key order) is found in the
 * slice read last. Each block's pages are given back once it is checked. */
#include <stdlib.h>
#include "internal.h"
#include "file.h"

#define STEP 64 /* index entries per sample */
#define SAMPLE_BYTES ((uint64_t)16 << 20) /* about the most sample keys kept */
#define SPAN_MAX ((uint64_t)4 << 20) /* a slice's keys read at once, at most */
#define WINDOW ((uint64_t)16 << 20) /* pages given back every WINDOW bytes read */

struct spooky_verifier {
    const spooky_file *f;
    int fd;
    uint64_t step, nsamples;
    uint64_t *sample_at; /* sample j: keys.data + sample_at[j], sample_len[j] bytes */
    uint32_t *sample_len;
    spooky_buf samples;
    /* the slice read last: index positions [lo, hi), entries and their keys */
    uint64_t lo, hi, next; /* next: the position after the last record's */
    int loaded;
    spooky_buf entries;
    spooky_buf keys; /* heap bytes from keys_off; unused when keys_mapped */
    uint64_t keys_off;
    int keys_mapped; /* keys not together in the heap: read through the map */
    spooky_buf scratch;
};

void spooky_verifier_free(spooky_verifier *v) {
    if (!v) return;
    free(v->sample_at);
    free(v->sample_len);
    spooky_buf_free(&v->samples);
    spooky_buf_free(&v->entries);
    spooky_buf_free(&v->keys);
    spooky_buf_free(&v->scratch);
    free(v);
}

/* Every step-th key of the index, read front to back through the map. */
static int take_samples(spooky_verifier *v, spooky_error *err) {
    const spooky_file *f = v->f;
    v->nsamples = (f->record_count + v->step - 1) / v->step;
    size_t n = v->nsamples ? (size_t)v->nsamples : 1;
    v->sample_at = malloc(n * sizeof *v->sample_at);
    v->sample_len = malloc(n * sizeof *v->sample_len);
    if (!v->sample_at || !v->sample_len) return file_fail(err, SPOOKY_E_NOMEM, 0, "no memory");
    uint64_t index = (uint64_t)(f->index - f->data), heap = (uint64_t)(f->heap - f->data);
    uint64_t given = 0;
    for (uint64_t j = 0; j < v->nsamples; j++) {
        const uint8_t *e = f->index + j * v->step * INDEX_ENTRY; /* checked at open */
        uint64_t koff = load_u64(e + 24);
        uint32_t klen = load_u32(e + 20);
        v->sample_at[j] = v->samples.len;
        v->sample_len[j] = klen;
        if (buf_append(&v->samples, f->heap + koff, klen))
            return file_fail(err, SPOOKY_E_NOMEM, 0, "no memory for the key samples");
        uint64_t at = j * v->step * INDEX_ENTRY;
        if (at - given >= WINDOW) { /* keys lie in index order in a written file */
            file_give_back(f, index + given, index + at);
            file_give_back(f, heap, heap + koff);
            given = at;
        }
    }
    file_release(f, f->index, f->record_count * INDEX_ENTRY);
    file_release(f, f->heap, f->heap_len);
    return SPOOKY_OK;
}

int spooky_verifier_new(const spooky_file *f, int fd, uint32_t step, spooky_verifier **out,
                        spooky_error *err) {
    if (!f || !out) return file_fail(err, SPOOKY_E_ARG, 0, "no file or no output");
    *out = NULL;
    spooky_verifier *v = calloc(1, sizeof *v);
    if (!v) return file_fail(err, SPOOKY_E_NOMEM, 0, "no memory");
    v->f = f;
    v->fd = fd;
    v->step = step ? step : STEP;
    if (!step && f->heap_len / SAMPLE_BYTES >= v->step) /* long keys: fewer samples */
        v->step = f->heap_len / SAMPLE_BYTES + 1;
    int rc = take_samples(v, err);
    if (rc) {
        spooky_verifier_free(v);
        return rc;
    }
    *out = v;
    return SPOOKY_OK;
}

/* Reads the slice of sample j: its index entries and their keys. */
static int load_slice(spooky_verifier *v, uint64_t j, spooky_error *err) {
    const spooky_file *f = v->f;
    uint64_t lo = j * v->step, hi = lo + v->step < f->record_count ? lo + v->step : f->record_count;
    if (v->loaded && v->lo == lo) return SPOOKY_OK;
    v->loaded = 0;
    uint64_t n = (hi - lo) * INDEX_ENTRY;
    if (n >= SIZE_MAX / 2 || spooky_buf_reserve(&v->entries, (size_t)n))
        return file_fail(err, SPOOKY_E_NOMEM, 0, "no memory");
    TRY(file_read_at(f, v->fd, v->entries.data, (uint64_t)(f->index - f->data) + lo * INDEX_ENTRY,
                     n, err));
    /* read again: the bounds open checked must still hold */
    uint64_t klo = UINT64_MAX, khi = 0;
    for (uint64_t k = 0; k < hi - lo; k++) {
        const uint8_t *e = v->entries.data + k * INDEX_ENTRY;
        uint64_t koff = load_u64(e + 24);
        uint32_t klen = load_u32(e + 20);
        if (!fits(koff, klen, f->heap_len))
            return file_fail(err, SPOOKY_E_FILE_INVALID,
                             (uint64_t)(f->index - f->data) + (lo + k) * INDEX_ENTRY,
                             "index key outside the heap (the file changed while it was read)");
        if (koff < klo) klo = koff;
        if (koff + klen > khi) khi = koff + klen;
    }
    v->keys_mapped = khi - klo > SPAN_MAX;
    if (!v->keys_mapped) {
        if (spooky_buf_reserve(&v->keys, (size_t)(khi - klo) + 1))
            return file_fail(err, SPOOKY_E_NOMEM, 0, "no memory");
        TRY(file_read_at(f, v->fd, v->keys.data, (uint64_t)(f->heap - f->data) + klo, khi - klo,
                         err));
        v->keys_off = klo;
    }
    v->lo = lo;
    v->hi = hi;
    v->loaded = 1;
    return SPOOKY_OK;
}

/* The key of index position pos, in the slice read last by the verifier ctx. */
static const uint8_t *slice_key(const void *ctx, uint64_t pos, uint32_t *klen) {
    const spooky_verifier *v = ctx;
    const uint8_t *e = v->entries.data + (pos - v->lo) * INDEX_ENTRY;
    uint64_t koff = load_u64(e + 24);
    *klen = load_u32(e + 20);
    return v->keys_mapped ? v->f->heap + koff : v->keys.data + (koff - v->keys_off);
}

/* The index position of this key (*found 0 when it has none). */
static int find(spooky_verifier *v, const uint8_t *key, uint32_t klen, uint64_t *pos, int *found,
                spooky_error *err) {
    *found = 0;
    uint64_t lo = 0, hi = v->nsamples; /* the last sample <= key */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        const uint8_t *s = v->samples.data + v->sample_at[mid];
        if (bytes_cmp(s, v->sample_len[mid], key, klen) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0) return SPOOKY_OK;
    TRY(load_slice(v, lo - 1, err));
    *pos = file_key_search(v->lo, v->hi, key, klen, slice_key, v, found);
    return SPOOKY_OK;
}

/* The index entry of this key points at this record, with its digest (as
 * check_indexed in reader.c says it). */
static int check_indexed(spooky_verifier *v, const uint8_t *key, uint32_t klen, const uint8_t *rec,
                         uint32_t rlen, uint64_t rec_off, spooky_error *err) {
    uint64_t pos = v->next;
    int found = 0;
    if (v->loaded && pos >= v->lo && pos < v->hi) { /* the key after the last one's */
        uint32_t n;
        const uint8_t *k = slice_key(v, pos, &n);
        found = bytes_cmp(k, n, key, klen) == 0;
    }
    if (!found) TRY(find(v, key, klen, &pos, &found, err));
    if (!found)
        return file_fail(err, SPOOKY_E_FILE_INVALID, rec_off, "record missing from the key index");
    const uint8_t *e = v->entries.data + (pos - v->lo) * INDEX_ENTRY;
    if (load_u64(e + 8) != rec_off || load_u32(e + 16) != rlen)
        return file_fail(err, SPOOKY_E_FILE_INVALID, rec_off,
                         "key index points elsewhere for this key");
    if (load_u64(e) != spooky_xxh64(rec, rlen, 0))
        return file_fail(err, SPOOKY_E_CHECKSUM, rec_off,
                         "record digest differs from the key index");
    v->next = pos + 1;
    return SPOOKY_OK;
}

int spooky_verifier_check_block(spooky_verifier *v, uint64_t i, spooky_error *err) {
    if (!v) return file_fail(err, SPOOKY_E_ARG, 0, "no verifier");
    const spooky_file *f = v->f;
    block_walk w;
    int rc = file_walk_block(f, i, &w, err);
    while (!rc && file_next_entry(&w, &rc, err)) {
        if ((rc = file_check_entry(f, &w, &v->scratch, err))) break;
        rc = check_indexed(v, w.key, w.klen, w.rec, w.rlen, w.rec_off, err);
    }
    const spooky_block_info *b = &w.block;
    if (i < f->block_count) file_give_back(f, b->offset, b->payload_offset + b->payload_len);
    return rc;
}
