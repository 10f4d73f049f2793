/* merge.c: spooky merge (spooky.h). The batch is a record file keyed as
 * the store, one record per key. The plan walks both key indexes once in
 * key order and notes each change (a store record updated or deleted, a
 * batch record inserted); the store's blocks are then copied in file order
 * with those changes made, and the inserts follow in batch order. Records
 * are read only where a decision needs their fields (pread, one at a time):
 * a key whose digests agree is unchanged unread. */
#include <stdlib.h>
#include "chunk.h"
#include "file.h"
#include "number.h"

enum { KEEP = 0, UPDATE, DELETE, INSERT, UNCHANGED, STALE, IGNORED };

typedef struct {
    uint64_t store_off, batch_off; /* record offsets in the files */
    uint32_t batch_len;
    uint8_t op; /* UPDATE or DELETE */
} change;

typedef struct {
    uint64_t off;
    uint32_t len, key_len;
} insert_ref;

enum { F_VERSION = 0, F_HASH = 1, F_DELETE = 2, NFIELDS = 3 };

struct spooky_merge {
    spooky_merge_spec spec;
    change *changes;
    size_t nchanges, cap_changes, next_change;
    insert_ref *inserts;
    size_t ninserts, cap_inserts, next_insert;
    spooky_buf rec[2]; /* a store and a batch record, read with pread */
    int loaded[2];
    spooky_slot slots[2][NFIELDS]; /* per file: version, hash, delete (slots per schema) */
    int found[2][NFIELDS];
    name_cache names[2];
    spooky_buf scratch;
};

int version_cmp(const uint8_t *a, const spooky_slot *sa, const uint8_t *b, const spooky_slot *sb) {
    if (!sa || !sb) return NUMBER_UNORDERED;
    int na = sa->tag == SPOOKY_I64 || sa->tag == SPOOKY_U64 || sa->tag == SPOOKY_F64;
    int nb = sb->tag == SPOOKY_I64 || sb->tag == SPOOKY_U64 || sb->tag == SPOOKY_F64;
    if (na && nb) return cmp_numbers(sa->tag, a + sa->offset, sb->tag, b + sb->offset);
    if (sa->tag == SPOOKY_STR && sb->tag == SPOOKY_STR)
        return bytes_cmp(a + sa->offset, sa->length, b + sb->offset, sb->length);
    return NUMBER_UNORDERED;
}

spooky_merge *spooky_merge_new(const spooky_merge_spec *spec) {
    if (!spec || !spec->store || !spec->batch) return NULL;
    spooky_merge *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->spec = *spec;
    const uint64_t hashes[NFIELDS] = {spec->version_field, spec->hash_field, spec->delete_field};
    for (int side = 0; side < 2; side++)
        for (int k = 0; k < NFIELDS; k++) m->slots[side][k].name_hash = hashes[k];
    return m;
}

void spooky_merge_free(spooky_merge *m) {
    if (!m) return;
    free(m->changes);
    free(m->inserts);
    for (int side = 0; side < 2; side++) {
        spooky_buf_free(&m->rec[side]);
        name_cache_free(&m->names[side]);
    }
    spooky_buf_free(&m->scratch);
    free(m);
}

static const spooky_file *file_of(const spooky_merge *m, int side) {
    return side ? m->spec.batch : m->spec.store;
}

/* The record of index entry e of one side into m->rec[side], checked
 * against its digest and whole, its field slots refreshed. */
static int load(spooky_merge *m, int side, const spooky_index_entry *e, spooky_error *err) {
    if (m->loaded[side]) return SPOOKY_OK;
    spooky_buf *b = &m->rec[side];
    if (spooky_buf_reserve(b, e->record_len)) return file_fail(err, SPOOKY_E_NOMEM, 0, "no memory");
    int fd = side ? m->spec.batch_fd : m->spec.store_fd;
    TRY(file_read_at(file_of(m, side), fd, b->data, e->record_offset, e->record_len, err));
    b->len = e->record_len;
    if (spooky_xxh64(b->data, b->len, 0) != e->digest)
        return file_fail(err, SPOOKY_E_CHECKSUM, e->record_offset,
                         "record differs from its digest in the key index");
    if (spooky_record_validate(b->data, b->len))
        return file_fail(err, SPOOKY_E_RECORD_INVALID, e->record_offset, "record is not valid");
    for (int k = 0; k < NFIELDS; k++)
        m->found[side][k] = spooky_slot_refresh(b->data, b->len, &m->slots[side][k]) == SPOOKY_OK;
    m->loaded[side] = 1;
    return SPOOKY_OK;
}

static const spooky_slot *slot(const spooky_merge *m, int side, int k) {
    return m->found[side][k] ? &m->slots[side][k] : NULL;
}

/* The batch record's delete field is true. */
static int delete_flag(const spooky_merge *m) {
    const spooky_slot *s = slot(m, 1, F_DELETE);
    return s && s->tag == SPOOKY_BOOL && s->length == 1 && m->rec[1].data[s->offset] == 1;
}

/* What the batch record (entry b) does to the store record of its key (s). */
static int decide(spooky_merge *m, const spooky_index_entry *s, const spooky_index_entry *b,
                  int *what, spooky_error *err, int *err_file) {
    const spooky_merge_spec *sp = &m->spec;
    int del = 0;
    if (sp->has_delete) {
        *err_file = 1;
        TRY(load(m, 1, b, err));
        del = delete_flag(m);
    }
    if (sp->upsert) {
        *what = del ? DELETE : UPDATE;
        return SPOOKY_OK;
    }
    if (!del && s->digest == b->digest && s->record_len == b->record_len) {
        *what = UNCHANGED;
        return SPOOKY_OK;
    }
    if (sp->has_version) {
        *err_file = 1;
        TRY(load(m, 1, b, err));
        *err_file = 0;
        TRY(load(m, 0, s, err));
        int c = version_cmp(m->rec[1].data, slot(m, 1, F_VERSION), m->rec[0].data,
                            slot(m, 0, F_VERSION));
        if (c != NUMBER_UNORDERED) {
            *what = c <= 0 ? STALE : del ? DELETE : UPDATE;
            return SPOOKY_OK;
        }
    }
    if (del) {
        *what = DELETE;
        return SPOOKY_OK;
    }
    if (sp->has_hash) {
        *err_file = 1;
        TRY(load(m, 1, b, err));
        *err_file = 0;
        TRY(load(m, 0, s, err));
        const spooky_slot *hs = slot(m, 0, F_HASH), *hb = slot(m, 1, F_HASH);
        if (hs && hb) {
            int same =
                hs->tag == hb->tag && hs->length == hb->length &&
                memcmp(m->rec[0].data + hs->offset, m->rec[1].data + hb->offset, hs->length) == 0;
            *what = same ? UNCHANGED : UPDATE;
            return SPOOKY_OK;
        }
    }
    *what = UPDATE;
    return SPOOKY_OK;
}

static int note_change(spooky_merge *m, const spooky_index_entry *s, const spooky_index_entry *b,
                       uint8_t op) {
    TRY(grow_array(&m->changes, &m->cap_changes, m->nchanges + 1, sizeof *m->changes));
    m->changes[m->nchanges++] =
        (change){s->record_offset, b ? b->record_offset : 0, b ? b->record_len : 0, op};
    return SPOOKY_OK;
}

static int by_store_off(const void *a, const void *b) {
    uint64_t x = ((const change *)a)->store_off, y = ((const change *)b)->store_off;
    return x < y ? -1 : x > y;
}

static int by_batch_off(const void *a, const void *b) {
    uint64_t x = ((const insert_ref *)a)->off, y = ((const insert_ref *)b)->off;
    return x < y ? -1 : x > y;
}

#define RELEASE_EVERY 65536 /* index entries walked between page give-backs */

int spooky_merge_plan(spooky_merge *m, spooky_merge_counts *counts, spooky_error *err,
                      int *err_file) {
    if (!m || !counts || !err_file) return file_fail(err, SPOOKY_E_ARG, 0, "bad argument");
    memset(counts, 0, sizeof *counts);
    const spooky_file *S = m->spec.store, *B = m->spec.batch;
    uint64_t ns = spooky_file_record_count(S), nb = spooky_file_record_count(B);
    uint64_t i = 0, j = 0, steps = 0;
    spooky_index_entry se = {0}, be = {0};
    int rc = SPOOKY_OK;
    while (!rc && (i < ns || j < nb)) {
        if (i < ns) spooky_file_index_at(S, i, &se);
        if (j < nb) spooky_file_index_at(B, j, &be);
        int c = i >= ns ? 1 : j >= nb ? -1 : bytes_cmp(se.key, se.key_len, be.key, be.key_len);
        m->loaded[0] = m->loaded[1] = 0;
        int what = KEEP;
        if (c < 0) {
            what = m->spec.delete_missing ? DELETE : KEEP;
            i++;
        } else if (c > 0) {
            what = INSERT;
            if (m->spec.has_delete) {
                *err_file = 1;
                rc = load(m, 1, &be, err);
                if (!rc && delete_flag(m)) what = IGNORED;
            }
            j++;
        } else {
            rc = decide(m, &se, &be, &what, err, err_file);
            i++, j++;
        }
        if (rc) break;
        switch (what) {
        case UPDATE:
            counts->updated++;
            rc = note_change(m, &se, &be, UPDATE);
            break;
        case DELETE:
            counts->deleted++;
            rc = note_change(m, &se, NULL, DELETE);
            break;
        case INSERT:
            counts->inserted++;
            rc = grow_array(&m->inserts, &m->cap_inserts, m->ninserts + 1, sizeof *m->inserts);
            if (!rc)
                m->inserts[m->ninserts++] =
                    (insert_ref){be.record_offset, be.record_len, be.key_len};
            break;
        case UNCHANGED: counts->unchanged++; break;
        case STALE: counts->stale++; break;
        default: break;
        }
        if (++steps % RELEASE_EVERY == 0) {
            spooky_file_release(S);
            spooky_file_release(B);
        }
    }
    if (rc == SPOOKY_E_NOMEM) file_fail(err, rc, 0, "no memory");
    if (rc) return rc;
    spooky_file_release(S);
    spooky_file_release(B);
    if (m->nchanges > 1) qsort(m->changes, m->nchanges, sizeof *m->changes, by_store_off);
    if (m->ninserts > 1) qsort(m->inserts, m->ninserts, sizeof *m->inserts, by_batch_off);
    return SPOOKY_OK;
}

/* ---- the change stream ---- */

static int put(spooky_buf *out, const char *text) { return buf_append(out, text, strlen(text)); }

/* One side's record as JSON, after `label` ("before", "after", "insert", ...). */
static int put_record(spooky_merge *m, int side, const char *label, const uint8_t *rec,
                      uint32_t rlen, uint64_t rec_off, spooky_buf *out, spooky_error *err) {
    TRY(put(out, label));
    return file_put_record(file_of(m, side), rec, rlen, rec_off, &m->names[side], out, err);
}

/* The change lines of one change: op UPDATE (before and after), DELETE
 * (before only) or INSERT (after only). */
static int put_change(spooky_merge *m, int op, const uint8_t *key, uint32_t klen,
                      const uint8_t *before, uint32_t blen, uint64_t boff, const uint8_t *after,
                      uint32_t alen, uint64_t aoff, spooky_buf *out, spooky_error *err,
                      int *err_file) {
    if (!out || m->spec.changes == SPOOKY_CHANGES_NONE) return SPOOKY_OK;
    if (m->spec.changes == SPOOKY_CHANGES_DBSP) {
        if (before) {
            *err_file = 0;
            TRY(put_record(m, 0, "{\"delete\":", before, blen, boff, out, err));
            TRY(put(out, "}\n"));
        }
        if (after) {
            *err_file = 1;
            TRY(put_record(m, 1, "{\"insert\":", after, alen, aoff, out, err));
            TRY(put(out, "}\n"));
        }
        return SPOOKY_OK;
    }
    TRY(put(out, op == UPDATE   ? "{\"op\":\"update\",\"key\":"
                 : op == DELETE ? "{\"op\":\"delete\",\"key\":"
                                : "{\"op\":\"insert\",\"key\":"));
    uint32_t parts = m->spec.store->key.nparts;
    if (spooky_key_to_json(key, klen, parts, out))
        return file_fail(err, SPOOKY_E_FILE_INVALID, boff ? boff : aoff, "stored key not valid");
    if (before) {
        *err_file = 0;
        TRY(put_record(m, 0, ",\"before\":", before, blen, boff, out, err));
    }
    if (after) {
        *err_file = 1;
        TRY(put_record(m, 1, ",\"after\":", after, alen, aoff, out, err));
    }
    return put(out, "}\n");
}

/* ---- writing ---- */

static int append(spooky_merge *m, int side, spooky_chunk *chunk, const uint8_t *key, uint32_t klen,
                  const uint8_t *rec, uint32_t rlen, uint64_t rec_off, spooky_error *err) {
    int rc = chunk_append_from(chunk, file_of(m, side), key, klen, rec, rlen, NULL, 0);
    if (rc == SPOOKY_E_FILE_INVALID)
        return file_fail(err, rc, rec_off, "record field missing from the name table");
    if (rc) return file_fail(err, rc, 0, "no memory");
    return SPOOKY_OK;
}

int spooky_merge_block(spooky_merge *m, uint64_t i, spooky_chunk *chunk, spooky_buf *changes,
                       spooky_error *err, int *err_file) {
    if (!m || !chunk || !err_file) return file_fail(err, SPOOKY_E_ARG, 0, "bad argument");
    const spooky_file *S = m->spec.store, *B = m->spec.batch;
    chunk_reset(chunk);
    *err_file = 0;
    block_walk w;
    TRY(file_walk_block(S, i, &w, err));
    int rc;
    while (file_next_entry(&w, &rc, err)) {
        const change *ch = NULL;
        if (m->next_change < m->nchanges && m->changes[m->next_change].store_off == w.rec_off)
            ch = &m->changes[m->next_change++];
        if (!ch) { /* kept: copied as it is, checked as filter -o checks a copy */
            *err_file = 0;
            if ((rc = file_check_entry(S, &w, &m->scratch, err))) break;
            if ((rc = append(m, 0, chunk, w.key, w.klen, w.rec, w.rlen, w.rec_off, err))) break;
            continue;
        }
        const uint8_t *brec = ch->op == UPDATE ? B->data + ch->batch_off : NULL;
        rc = put_change(m, ch->op, w.key, w.klen, w.rec, w.rlen, w.rec_off, brec, ch->batch_len,
                        ch->batch_off, changes, err, err_file);
        if (rc) break;
        if (brec) {
            *err_file = 1;
            rc = append(m, 1, chunk, w.key, w.klen, brec, ch->batch_len, ch->batch_off, err);
            if (rc) break;
        }
    }
    file_give_back(S, w.block.payload_offset, w.block.payload_offset + w.block.payload_len);
    /* a change not taken by now points at no record of the blocks walked */
    uint64_t end = w.block.payload_offset + w.block.payload_len;
    int last = i + 1 == spooky_file_block_count(S);
    if (!rc && m->next_change < m->nchanges &&
        (last || m->changes[m->next_change].store_off < end)) {
        *err_file = 0;
        rc = file_fail(err, SPOOKY_E_FILE_INVALID, m->changes[m->next_change].store_off,
                       "key index entry points at no record");
    }
    if (rc == SPOOKY_E_NOMEM) file_fail(err, rc, 0, "no memory");
    if (rc) chunk_reset(chunk);
    return rc;
}

int spooky_merge_inserts(spooky_merge *m, uint64_t max, spooky_chunk *chunk, spooky_buf *changes,
                         uint64_t *taken, spooky_error *err) {
    if (!m || !chunk || !taken) return file_fail(err, SPOOKY_E_ARG, 0, "bad argument");
    const spooky_file *B = m->spec.batch;
    chunk_reset(chunk);
    *taken = 0;
    int rc = SPOOKY_OK, err_file;
    while (!rc && *taken < max && m->next_insert < m->ninserts) {
        const insert_ref *r = &m->inserts[m->next_insert++];
        const uint8_t *rec = B->data + r->off, *key = rec - r->key_len;
        rc = put_change(m, INSERT, key, r->key_len, NULL, 0, 0, rec, r->len, r->off, changes, err,
                        &err_file);
        if (!rc) rc = append(m, 1, chunk, key, r->key_len, rec, r->len, r->off, err);
        ++*taken;
    }
    if (rc == SPOOKY_E_NOMEM) file_fail(err, rc, 0, "no memory");
    return rc;
}
