/* names.c: the name table (names.h): name hash -> name and per-type counts,
 * kept by chunks while transcoding and by the writer for the footer. */
#include <stdlib.h>
#include "names.h"

void names_free(name_table *t) {
    free(t->slots);
    free(t->seq);
    spooky_buf_free(&t->heap);
    memset(t, 0, sizeof *t);
}

static int names_grow(name_table *t) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    name_slot *slots = calloc(cap, sizeof *slots);
    if (!slots) return SPOOKY_E_NOMEM;
    for (size_t j = 0; j < t->cap; j++) {
        if (!t->slots[j].used) continue;
        size_t i = names_home(t->slots[j].hash, cap);
        while (slots[i].used) i = (i + 1) & (cap - 1);
        slots[i] = t->slots[j];
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return SPOOKY_OK;
}

int names_add(name_table *t, uint64_t hash, const uint8_t *name, size_t len, name_slot **clash) {
    *clash = NULL;
    name_slot *s = names_find(t, hash);
    if (s) {
        if (s->name_len != len || memcmp(names_name(t, s), name, len) != 0) *clash = s;
        return SPOOKY_OK;
    }
    if ((t->count + 1) * 2 > t->cap) TRY(names_grow(t));
    size_t i = names_home(hash, t->cap);
    while (t->slots[i].used) i = (i + 1) & (t->cap - 1);
    s = &t->slots[i];
    memset(s, 0, sizeof *s);
    s->used = 1;
    s->hash = hash;
    s->name_off = t->heap.len;
    s->name_len = len;
    s->rank = t->count;
    TRY(buf_append(&t->heap, name, len));
    TRY(grow_array(&t->seq, &t->cap_seq, t->count + 1, sizeof *t->seq));
    t->seq[t->count++] = hash;
    return SPOOKY_OK;
}

int names_add_record(name_table *t, const name_table *order, const uint8_t *rec) {
    uint32_t n = load_u32(rec);
    const name_slot *small[32], **mine = n <= 32 ? small : malloc(n * sizeof *mine);
    if (!mine) return SPOOKY_E_NOMEM;
    size_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        const name_slot *s = names_find(order, load_u64(ENTRY(rec, i)));
        if (!s || names_find(t, s->hash)) continue;
        size_t j = k++; /* insertion sort by rank: records have few new names */
        for (; j > 0 && mine[j - 1]->rank > s->rank; j--) mine[j] = mine[j - 1];
        mine[j] = s;
    }
    int rc = SPOOKY_OK;
    for (size_t i = 0; i < k && !rc; i++) {
        name_slot *clash;
        rc = names_add(t, mine[i]->hash, names_name(order, mine[i]), mine[i]->name_len, &clash);
    }
    if (mine != small) free(mine);
    if (!rc) names_count_types(t, rec);
    return rc;
}

void names_count_types(name_table *t, const uint8_t *rec) {
    uint32_t n = load_u32(rec);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = ENTRY(rec, i);
        name_slot *s = names_find(t, load_u64(e));
        if (s && e[16] < 7) s->counts[e[16]]++;
    }
}

int names_merge(name_table *t, const name_table *src, int add_counts, const name_slot **clash,
                const name_slot **clash_src) {
    *clash = *clash_src = NULL;
    for (size_t i = 0; i < src->count; i++) {
        const name_slot *s = names_find(src, src->seq[i]);
        name_slot *other;
        TRY(names_add(t, s->hash, names_name(src, s), s->name_len, &other));
        if (other) {
            *clash = other;
            *clash_src = s;
            return SPOOKY_OK;
        }
        if (add_counts) {
            name_slot *mine = names_find(t, s->hash);
            for (int k = 0; k < 7; k++) mine->counts[k] += s->counts[k];
        }
    }
    return SPOOKY_OK;
}

static int by_hash(const void *a, const void *b) {
    const name_slot *x = *(const name_slot *const *)a, *y = *(const name_slot *const *)b;
    return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/* t's slots sorted by hash (free it), or NULL when out of memory. */
static const name_slot **sorted_by_hash(const name_table *t) {
    const name_slot **sorted = malloc((t->count ? t->count : 1) * sizeof *sorted);
    if (!sorted) return NULL;
    size_t n = 0;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].used) sorted[n++] = &t->slots[i];
    qsort(sorted, n, sizeof *sorted, by_hash);
    return sorted;
}

int names_put_order(const name_table *t, spooky_buf *out) {
    const name_slot **sorted = sorted_by_hash(t);
    if (!sorted) return SPOOKY_E_NOMEM;
    int rc = buf_grow(out, 4 * t->count);
    for (size_t i = 0; i < t->count && !rc; i++) {
        size_t lo = 0, hi = t->count; /* the position of seq[i] among the sorted */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (sorted[mid]->hash < t->seq[i])
                lo = mid + 1;
            else
                hi = mid;
        }
        uint8_t pos[4];
        store_u32(pos, (uint32_t)lo);
        rc = buf_append(out, pos, 4);
    }
    free(sorted);
    return rc;
}

int names_put_footer(const name_table *t, spooky_buf *out) {
    const name_slot **sorted = sorted_by_hash(t);
    if (!sorted) return SPOOKY_E_NOMEM;
    size_t n = t->count;
    int rc = SPOOKY_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        uint8_t fixed[8 + 56 + 4];
        store_u64(fixed, sorted[i]->hash);
        for (int k = 0; k < 7; k++) store_u64(fixed + 8 + 8 * k, sorted[i]->counts[k]);
        store_u32(fixed + 64, (uint32_t)sorted[i]->name_len);
        rc = buf_append(out, fixed, sizeof fixed);
        if (!rc) rc = buf_append(out, names_name(t, sorted[i]), sorted[i]->name_len);
    }
    free(sorted);
    return rc;
}
