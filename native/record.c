/* record.c: validation, lookup, slot access and edits of SpookyRecords. */
#include "internal.h"
#include "bench.h" /* the test hooks and C accessors defined here */
#include "file.h"

typedef struct {
    uint64_t hash;
    uint32_t offset, length;
    uint8_t tag;
} entry;

static inline entry read_entry(const uint8_t *rec, uint32_t i) {
    const uint8_t *e = ENTRY(rec, i);
    entry out = {load_u64(e), load_u32(e + 8), load_u32(e + 12), e[16]};
    return out;
}

/* Field count, or -1 when the header or index does not fit in len. */
static inline int64_t checked_count(const uint8_t *rec, size_t len) {
    if (!rec || len < SPOOKY_HEADER_SIZE) return -1;
    uint64_t n = load_u32(rec);
    if (n > (len - SPOOKY_HEADER_SIZE) / SPOOKY_INDEX_ENTRY_SIZE) return -1;
    return (int64_t)n;
}

int spooky_record_validate(const uint8_t *rec, size_t len) {
    int64_t n = checked_count(rec, len);
    if (n < 0) return SPOOKY_E_RECORD_INVALID;
    if (len > UINT32_MAX) return SPOOKY_E_RECORD_INVALID;
    for (int i = 4; i < SPOOKY_HEADER_SIZE; i++)
        if (rec[i]) return SPOOKY_E_RECORD_INVALID;
    uint64_t expect = SPOOKY_HEADER_SIZE + (uint64_t)n * SPOOKY_INDEX_ENTRY_SIZE;
    for (uint32_t i = 0; i < (uint32_t)n; i++) {
        const uint8_t *raw = ENTRY(rec, i);
        entry e = read_entry(rec, i);
        if (raw[17] || raw[18] || raw[19]) return SPOOKY_E_RECORD_INVALID;
        if (i > 0 && load_u64(ENTRY(rec, i - 1)) >= e.hash) return SPOOKY_E_RECORD_INVALID;
        if (e.tag > SPOOKY_U64) return SPOOKY_E_RECORD_INVALID;
        int w = fixed_width(e.tag);
        if (w >= 0 && e.length != (uint32_t)w) return SPOOKY_E_RECORD_INVALID;
        if (e.offset != expect) return SPOOKY_E_RECORD_INVALID; /* packed, in order */
        expect += e.length;
        if (expect > len) return SPOOKY_E_RECORD_INVALID;
        if (e.tag == SPOOKY_BOOL && rec[e.offset] > 1) return SPOOKY_E_RECORD_INVALID;
    }
    return expect == len ? SPOOKY_OK : SPOOKY_E_RECORD_INVALID;
}

static inline void fill_slot(const uint8_t *rec, uint32_t i, spooky_slot *slot) {
    entry e = read_entry(rec, i);
    slot->index = i;
    slot->offset = e.offset;
    slot->length = e.length;
    slot->tag = e.tag;
    slot->name_hash = e.hash;
}

static inline int slot_in_bounds(const spooky_slot *s, size_t len) {
    return (uint64_t)s->offset + s->length <= len;
}

int spooky_record_find(const uint8_t *rec, size_t len, uint64_t hash, spooky_slot *slot) {
    int64_t n = checked_count(rec, len);
    if (n < 0) return SPOOKY_E_RECORD_INVALID;
    uint32_t lo = 0, hi = (uint32_t)n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint64_t h = load_u64(ENTRY(rec, mid));
        if (h < hash)
            lo = mid + 1;
        else if (h > hash)
            hi = mid;
        else {
            fill_slot(rec, mid, slot);
            return slot_in_bounds(slot, len) ? SPOOKY_OK : SPOOKY_E_RECORD_INVALID;
        }
    }
    return SPOOKY_E_NOT_FOUND;
}

int spooky_record_resolve(const uint8_t *rec, size_t len, const uint8_t *name, size_t name_len,
                          spooky_slot *slot) {
    return spooky_record_find(rec, len, spooky_name_hash(name, name_len), slot);
}

int spooky_record_slot_at(const uint8_t *rec, size_t len, uint32_t i, spooky_slot *slot) {
    int64_t n = checked_count(rec, len);
    if (n < 0) return SPOOKY_E_RECORD_INVALID;
    if (i >= (uint64_t)n) return SPOOKY_E_NOT_FOUND;
    fill_slot(rec, i, slot);
    return slot_in_bounds(slot, len) ? SPOOKY_OK : SPOOKY_E_RECORD_INVALID;
}

int spooky_slot_refresh(const uint8_t *rec, size_t len, spooky_slot *slot) {
    int64_t n = checked_count(rec, len);
    if (n < 0) return SPOOKY_E_RECORD_INVALID;
    if (slot->index < (uint64_t)n && load_u64(ENTRY(rec, slot->index)) == slot->name_hash) {
        fill_slot(rec, slot->index, slot);
        return slot_in_bounds(slot, len) ? SPOOKY_OK : SPOOKY_E_RECORD_INVALID;
    }
    return spooky_record_find(rec, len, slot->name_hash, slot);
}

/* ---- reads through a slot -------------------------------------------------- */

static inline int check_slot(const spooky_slot *s, size_t len, uint8_t tag, uint32_t width) {
    if (!s) return SPOOKY_E_ARG;
    if (s->tag != tag || s->length != width) return SPOOKY_E_TYPE;
    return slot_in_bounds(s, len) ? SPOOKY_OK : SPOOKY_E_RECORD_INVALID;
}

/* An 8-byte value (i64, u64, f64: its bytes as the record stores them) read
 * through a slot. */
static inline int read_8(const uint8_t *rec, size_t len, const spooky_slot *slot, uint8_t tag,
                         void *out) {
    int rc = check_slot(slot, len, tag, 8);
    if (rc) return rc;
    memcpy(out, rec + slot->offset, 8);
    return SPOOKY_OK;
}

int spooky_get_i64_at(const uint8_t *rec, size_t len, const spooky_slot *slot, int64_t *out) {
    return read_8(rec, len, slot, SPOOKY_I64, out);
}

int spooky_get_u64_at(const uint8_t *rec, size_t len, const spooky_slot *slot, uint64_t *out) {
    return read_8(rec, len, slot, SPOOKY_U64, out);
}

int spooky_get_f64_at(const uint8_t *rec, size_t len, const spooky_slot *slot, double *out) {
    return read_8(rec, len, slot, SPOOKY_F64, out);
}

int spooky_get_bool_at(const uint8_t *rec, size_t len, const spooky_slot *slot, int *out) {
    int rc = check_slot(slot, len, SPOOKY_BOOL, 1);
    if (rc) return rc;
    *out = rec[slot->offset] != 0;
    return SPOOKY_OK;
}

int spooky_get_str_at(const uint8_t *rec, size_t len, const spooky_slot *slot, const uint8_t **out,
                      size_t *out_len) {
    if (!slot) return SPOOKY_E_ARG;
    if (slot->tag != SPOOKY_STR) return SPOOKY_E_TYPE;
    if (!slot_in_bounds(slot, len)) return SPOOKY_E_RECORD_INVALID;
    *out = rec + slot->offset;
    *out_len = slot->length;
    return SPOOKY_OK;
}

/* ---- reads by name: hash, search, then the slot read ---------------------- */

#define BY_NAME(fn_at, type)                                                                       \
    spooky_slot slot;                                                                              \
    int rc = spooky_record_resolve(rec, len, name, name_len, &slot);                               \
    if (rc) return rc;                                                                             \
    return fn_at(rec, len, &slot, out)

int spooky_get_i64(const uint8_t *rec, size_t len, const uint8_t *name, size_t name_len,
                   int64_t *out) {
    BY_NAME(spooky_get_i64_at, int64_t);
}
int spooky_get_u64(const uint8_t *rec, size_t len, const uint8_t *name, size_t name_len,
                   uint64_t *out) {
    BY_NAME(spooky_get_u64_at, uint64_t);
}
int spooky_get_f64(const uint8_t *rec, size_t len, const uint8_t *name, size_t name_len,
                   double *out) {
    BY_NAME(spooky_get_f64_at, double);
}
int spooky_get_bool(const uint8_t *rec, size_t len, const uint8_t *name, size_t name_len,
                    int *out) {
    BY_NAME(spooky_get_bool_at, int);
}

int spooky_get_str(const uint8_t *rec, size_t len, const uint8_t *name, size_t name_len,
                   const uint8_t **out, size_t *out_len) {
    spooky_slot slot;
    int rc = spooky_record_resolve(rec, len, name, name_len, &slot);
    if (rc) return rc;
    return spooky_get_str_at(rec, len, &slot, out, out_len);
}

/* ---- in-place writes -------------------------------------------------------- */

/* check_slot, and the index entry at the slot's position is still the slot's. */
static inline int check_write(const uint8_t *rec, size_t len, const spooky_slot *s, uint8_t tag,
                              uint32_t width) {
    int rc = check_slot(s, len, tag, width);
    if (rc) return rc;
    if (len < SPOOKY_HEADER_SIZE || s->index >= load_u32(rec) ||
        (uint64_t)s->index >= (len - SPOOKY_HEADER_SIZE) / SPOOKY_INDEX_ENTRY_SIZE)
        return SPOOKY_E_STALE_SLOT;
    const uint8_t *e = ENTRY(rec, s->index);
    if (load_u64(e) != s->name_hash || load_u32(e + 8) != s->offset ||
        load_u32(e + 12) != s->length || e[16] != s->tag)
        return SPOOKY_E_STALE_SLOT;
    return SPOOKY_OK;
}

/* A fixed-width value (width bytes at value, as the record stores them)
 * written through a slot. */
static inline int write_fixed(uint8_t *rec, size_t len, const spooky_slot *slot, uint8_t tag,
                              const void *value, uint32_t width) {
    int rc = check_write(rec, len, slot, tag, width);
    if (rc) return rc;
    memcpy(rec + slot->offset, value, width);
    return SPOOKY_OK;
}

int spooky_set_i64_at(uint8_t *rec, size_t len, const spooky_slot *slot, int64_t value) {
    return write_fixed(rec, len, slot, SPOOKY_I64, &value, 8);
}

int spooky_set_u64_at(uint8_t *rec, size_t len, const spooky_slot *slot, uint64_t value) {
    return write_fixed(rec, len, slot, SPOOKY_U64, &value, 8);
}

int spooky_set_f64_at(uint8_t *rec, size_t len, const spooky_slot *slot, double value) {
    return write_fixed(rec, len, slot, SPOOKY_F64, &value, 8);
}

int spooky_set_bool_at(uint8_t *rec, size_t len, const spooky_slot *slot, int value) {
    uint8_t byte = value ? 1 : 0;
    return write_fixed(rec, len, slot, SPOOKY_BOOL, &byte, 1);
}

int spooky_set_bytes_at(uint8_t *rec, size_t len, const spooky_slot *slot, const uint8_t *value,
                        size_t value_len) {
    if (!slot || (!value && value_len)) return SPOOKY_E_ARG;
    if (value_len != slot->length) return SPOOKY_E_LENGTH;
    int rc = check_write(rec, len, slot, slot->tag, slot->length);
    if (rc) return rc;
    if (value_len) memcpy(rec + slot->offset, value, value_len);
    return SPOOKY_OK;
}

int spooky_set_i64(uint8_t *rec, size_t len, const uint8_t *name, size_t name_len, int64_t value) {
    spooky_slot slot;
    int rc = spooky_record_resolve(rec, len, name, name_len, &slot);
    if (rc) return rc;
    return spooky_set_i64_at(rec, len, &slot, value);
}

/* ---- structural edits -------------------------------------------------------- */

typedef struct {
    uint8_t *rec;
    uint32_t next_entry, next_offset;
} writer;

static void emit(writer *w, uint64_t hash, uint8_t tag, const uint8_t *value, uint32_t len) {
    uint8_t *e = ENTRY(w->rec, w->next_entry++);
    store_u64(e, hash);
    store_u32(e + 8, w->next_offset);
    store_u32(e + 12, len);
    e[16] = tag;
    e[17] = e[18] = e[19] = 0;
    if (len) memcpy(w->rec + w->next_offset, value, len);
    w->next_offset += len;
}

int spooky_record_edit(const uint8_t *rec, size_t len, uint64_t hash, int mode, uint8_t tag,
                       const uint8_t *value, size_t value_len, spooky_buf *out) {
    if (!out || (!value && value_len) || mode < SPOOKY_EDIT_REPLACE || mode > SPOOKY_EDIT_REMOVE)
        return SPOOKY_E_ARG;
    int rc = spooky_record_validate(rec, len);
    if (rc) return rc;
    if (mode != SPOOKY_EDIT_REMOVE) {
        int w = fixed_width(tag);
        if (tag > SPOOKY_U64 || (w >= 0 && value_len != (size_t)w)) return SPOOKY_E_ARG;
        if (tag == SPOOKY_BOOL && value[0] > 1) return SPOOKY_E_ARG;
    }
    uint32_t n = load_u32(rec);
    spooky_slot slot;
    rc = spooky_record_find(rec, len, hash, &slot);
    int found = rc == SPOOKY_OK;
    if (rc && rc != SPOOKY_E_NOT_FOUND) return rc;
    if (!found && (mode == SPOOKY_EDIT_REPLACE || mode == SPOOKY_EDIT_REMOVE))
        return SPOOKY_E_NOT_FOUND;
    if (found && mode == SPOOKY_EDIT_INSERT) return SPOOKY_E_EXISTS;

    /* position of the edited entry in the old index (insertion point if new) */
    uint32_t pos = 0;
    if (found)
        pos = slot.index;
    else
        while (pos < n && load_u64(ENTRY(rec, pos)) < hash) pos++;
    uint32_t new_n = n + (found ? 0 : 1) - (mode == SPOOKY_EDIT_REMOVE ? 1 : 0);
    uint64_t old_data = len - SPOOKY_HEADER_SIZE - (uint64_t)n * SPOOKY_INDEX_ENTRY_SIZE;
    uint64_t data =
        old_data - (found ? slot.length : 0) + (mode == SPOOKY_EDIT_REMOVE ? 0 : value_len);
    uint64_t total = SPOOKY_HEADER_SIZE + (uint64_t)new_n * SPOOKY_INDEX_ENTRY_SIZE + data;
    if (total > UINT32_MAX) return SPOOKY_E_TOO_LARGE;

    out->len = 0;
    rc = buf_grow(out, (size_t)total);
    if (rc) return rc;
    writer w = {out->data, 0, SPOOKY_HEADER_SIZE + new_n * SPOOKY_INDEX_ENTRY_SIZE};
    memset(w.rec, 0, SPOOKY_HEADER_SIZE);
    store_u32(w.rec, new_n);
    int edited = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (i == pos && !edited) {
            edited = 1;
            if (mode != SPOOKY_EDIT_REMOVE) emit(&w, hash, tag, value, (uint32_t)value_len);
            if (found) continue; /* replaced or removed */
        }
        entry e = read_entry(rec, i);
        emit(&w, e.hash, e.tag, rec + e.offset, e.length);
    }
    if (!edited && mode != SPOOKY_EDIT_REMOVE) emit(&w, hash, tag, value, (uint32_t)value_len);
    out->len = (size_t)total;
    return SPOOKY_OK;
}

/* A record of n fields and total bytes in out, header and index entries
 * to be emitted through *w. */
static int record_start(size_t n, uint64_t total, spooky_buf *out, writer *w) {
    if (total > UINT32_MAX) return SPOOKY_E_TOO_LARGE;
    out->len = 0;
    TRY(buf_grow(out, (size_t)total));
    *w = (writer){out->data, 0, (uint32_t)(SPOOKY_HEADER_SIZE + n * SPOOKY_INDEX_ENTRY_SIZE)};
    memset(w->rec, 0, SPOOKY_HEADER_SIZE);
    store_u32(w->rec, (uint32_t)n);
    out->len = (size_t)total;
    return SPOOKY_OK;
}

int record_of(const field_value *fields, size_t n, spooky_buf *out) {
    uint64_t total = SPOOKY_HEADER_SIZE + (uint64_t)n * SPOOKY_INDEX_ENTRY_SIZE;
    for (size_t i = 0; i < n; i++) total += fields[i].len;
    writer w;
    TRY(record_start(n, total, out, &w));
    for (size_t i = 0; i < n; i++)
        emit(&w, fields[i].hash, fields[i].tag, fields[i].value, fields[i].len);
    return SPOOKY_OK;
}

int record_pick(const uint8_t *rec, const spooky_slot *slots, size_t n, spooky_buf *out) {
    uint64_t total = SPOOKY_HEADER_SIZE + (uint64_t)n * SPOOKY_INDEX_ENTRY_SIZE;
    for (size_t i = 0; i < n; i++) total += slots[i].length;
    writer w;
    TRY(record_start(n, total, out, &w));
    for (size_t i = 0; i < n; i++)
        emit(&w, slots[i].name_hash, slots[i].tag, rec + slots[i].offset, slots[i].length);
    return SPOOKY_OK;
}
