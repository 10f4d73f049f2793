/* diff.c: two record files compared record by record in key order.
 *
 * Both key indexes are sorted by key, so a diff is one merge walk over them.
 * Every record read is checked against its digest in the index; identical
 * bytes mean an unchanged record, so most records are never parsed. Changed
 * records are compared field by field: all fields (a merge of the two
 * hash-sorted indexes), all but some, or only some (a ResolvedSchema per
 * file: slots resolved once per schema and refreshed per record). With a
 * tolerance numbers compare by value (number.h), nested ones too, so a pair
 * whose bytes differ may still be unchanged; with an array key (deep) the
 * elements of arrays of objects are matched by that field's value. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "internal.h"
#include "file.h"
#include "filter.h"
#include "number.h"
#include "path.h"

#define RED "\x1b[31m"
#define GREEN "\x1b[32m"
#define YELLOW "\x1b[33m"
#define RESET "\x1b[0m"

typedef struct {
    const uint8_t *rec;
    uint32_t len;
    uint64_t off; /* file offset */
    uint64_t digest;
    const uint8_t *key;
    uint32_t key_len;
    int side; /* 0 old, 1 new */
    int valid; /* checked with spooky_record_validate */
    int checked; /* checked whole (check_record, check_new) */
} rec_ref;

/* Only records that differ are read: a key whose index entries hold the
 * same digest and length on both sides is unchanged without reading either
 * record (the index is trusted; `diff --verify` checks every block). The
 * walk plans a batch of differences ahead (up to spec->batch records of each
 * file, and BATCH_BYTES of records, but at least one), then loads the
 * records they need, sorted by file offset; records at most GAP bytes apart
 * make one run. A long run (a file in key order) is read in place and its
 * pages given back at the next batch; short runs (records in random order)
 * are read with pread into a buffer (spec->read_fds), so the file is never
 * mapped whole. Without descriptors every run is read in place. */
#define BATCH_RECORDS 4096
#define BATCH_BYTES ((uint64_t)4 << 20)
#define GAP 4096
#define LONG_RUN ((uint64_t)64 << 10)
#define IN_PLACE UINT64_MAX

typedef struct {
    uint64_t off;
    uint32_t len;
    uint32_t k; /* position in the batch */
} span;

typedef struct {
    uint64_t *pos; /* index positions whose records the batch needs, in key order */
    uint64_t *at; /* record k: buf.data + at[k], or IN_PLACE */
    span *spans;
    size_t n, next, cap; /* needed, loaded so far, room */
    uint64_t bytes; /* of the needed records */
    spooky_buf buf;
    uint64_t lo, hi; /* file bytes read in place, to give back */
} batch;

static void batch_free(batch *b) {
    free(b->pos);
    free(b->at);
    free(b->spans);
    spooky_buf_free(&b->buf);
}

static int by_offset(const void *a, const void *b) {
    uint64_t x = ((const span *)a)->off, y = ((const span *)b)->off;
    return x < y ? -1 : x > y;
}

/* A change: a field's value (tag and bytes) on each side that has it; with
 * deep, the path of a value inside nested fields (values then CBOR items). */
typedef struct {
    int has_old, has_new;
    uint8_t otag, ntag;
    const uint8_t *ov, *nv;
    uint32_t olen, nlen;
    uint64_t hash; /* the top-level field */
    size_t path_off, path_len; /* deep: the path's text in differ.paths */
} field_change;

typedef struct {
    const spooky_diff_spec *spec;
    const spooky_file *files[2];
    spooky_buf *out;
    spooky_error *err;
    int *err_file;
    resolved_schema schemas[2]; /* ONLY mode: spec->fields in each file */
    name_cache caches[2];
    field_change *changes;
    size_t nchanges, cap;
    spooky_buf path; /* deep: the path being walked, as text */
    spooky_buf paths; /* deep: the paths of the changes */
    spooky_buf scratch; /* file_check_fields */
    spooky_slot *pick; /* check_new: the fields to check */
    size_t pick_cap;
    spooky_buf picked;
    batch batches[2];
    number_tolerance tol; /* spec->tolerance */
    uint64_t written; /* differences written (spec->limit) */
    filter_matcher where[2]; /* spec->where, per file */
} differ;

/* Whether the next difference is written out (else only counted). */
static int writing(const differ *d) {
    const spooky_diff_spec *s = d->spec;
    return s->format != SPOOKY_DIFF_COUNT && (s->limit == 0 || d->written < s->limit);
}

/* NDJSON or the JSON document's elements. */
static int json_format(const differ *d) {
    return d->spec->format == SPOOKY_DIFF_NDJSON || d->spec->format == SPOOKY_DIFF_JSON;
}

static int fail_on(differ *d, int side, int code, uint64_t offset, const char *message) {
    if (d->err_file) *d->err_file = side;
    return file_fail(d->err, code, offset, message);
}

/* n bytes of one side's file at off into dst. */
static int read_at(differ *d, int side, uint8_t *dst, uint64_t off, uint64_t n) {
    int rc =
        file_read_at(d->files[side], side ? d->spec->new_fd : d->spec->old_fd, dst, off, n, d->err);
    if (rc && d->err_file) *d->err_file = side;
    return rc;
}

/* The run of sorted spans from i: its end offset, and the span after it. */
static uint64_t run_end(const batch *b, size_t i, size_t n, size_t *next) {
    uint64_t end = b->spans[i].off + b->spans[i].len; /* inside the blocks: checked at open */
    for (i++; i < n && b->spans[i].off <= end + GAP; i++)
        if (b->spans[i].off + b->spans[i].len > end) end = b->spans[i].off + b->spans[i].len;
    *next = i;
    return end;
}

/* Notes that the record of index position pos of one side is needed. */
static int need(differ *d, int side, uint64_t pos) {
    batch *b = &d->batches[side];
    if (b->n == b->cap) { /* three arrays of one capacity */
        size_t cap = b->cap;
        TRY(grow_array(&b->spans, &cap, b->n + 1, sizeof *b->spans));
        TRY(resize_array(&b->at, cap, sizeof *b->at));
        TRY(resize_array(&b->pos, cap, sizeof *b->pos));
        b->cap = cap;
    }
    const uint8_t *e = d->files[side]->index + pos * INDEX_ENTRY; /* checked at open */
    b->pos[b->n] = pos;
    b->spans[b->n] = (span){load_u64(e + 8), load_u32(e + 16), (uint32_t)b->n};
    b->bytes += b->spans[b->n].len;
    b->n++;
    return SPOOKY_OK;
}

/* Loads the records one side's batch needs, in file order. */
static int fill(differ *d, int side) {
    const spooky_file *f = d->files[side];
    batch *b = &d->batches[side];
    if (b->hi > b->lo) file_give_back(f, b->lo, b->hi);
    b->lo = b->hi = 0;
    b->next = 0;
    size_t n = b->n;
    size_t sorted = 1;
    while (sorted < n && b->spans[sorted - 1].off <= b->spans[sorted].off) sorted++;
    if (sorted < n) qsort(b->spans, n, sizeof *b->spans, by_offset);
    int fds = d->spec->read_fds;
    uint64_t room = 1;
    for (size_t i = 0, j; i < n; i = j) {
        uint64_t len = run_end(b, i, n, &j) - b->spans[i].off;
        if (fds && len < LONG_RUN) room += len;
    }
    if (room >= SIZE_MAX / 2 || spooky_buf_reserve(&b->buf, (size_t)room)) return SPOOKY_E_NOMEM;
    b->buf.len = 0;
    for (size_t i = 0, j; i < n; i = j) {
        uint64_t start = b->spans[i].off, end = run_end(b, i, n, &j);
        if (!fds || end - start >= LONG_RUN) {
            for (size_t k = i; k < j; k++) b->at[b->spans[k].k] = IN_PLACE;
            if (b->hi <= b->lo) b->lo = start;
            b->hi = end;
            continue;
        }
        TRY(read_at(d, side, b->buf.data + b->buf.len, start, end - start));
        for (size_t k = i; k < j; k++)
            b->at[b->spans[k].k] = b->buf.len + (b->spans[k].off - start);
        b->buf.len += (size_t)(end - start);
    }
    return SPOOKY_OK;
}

/* Index entry pos of one side, the batch's next record of that side, its
 * record checked against the digest. */
static int load(differ *d, int side, uint64_t pos, rec_ref *r) {
    const spooky_file *f = d->files[side];
    const uint8_t *e = f->index + pos * INDEX_ENTRY; /* bounds checked at open */
    r->digest = load_u64(e);
    r->off = load_u64(e + 8);
    r->len = load_u32(e + 16);
    r->key_len = load_u32(e + 20);
    r->key = f->heap + load_u64(e + 24);
    r->side = side;
    r->valid = r->checked = 0;
    batch *b = &d->batches[side];
    size_t k = b->next++; /* the batch needed them in this order */
    if (k >= b->n || b->pos[k] != pos)
        return fail_on(d, side, SPOOKY_E_ARG, r->off, "diff batch out of step");
    uint64_t at = b->at[k];
    r->rec = at == IN_PLACE ? f->data + r->off : b->buf.data + at;
    if (spooky_xxh64(r->rec, r->len, 0) != r->digest)
        return fail_on(d, side, SPOOKY_E_CHECKSUM, r->off,
                       "record differs from its digest in the key index");
    return SPOOKY_OK;
}

static int validate(differ *d, rec_ref *r) {
    if (r->valid) return SPOOKY_OK;
    if (spooky_record_validate(r->rec, r->len))
        return fail_on(d, r->side, SPOOKY_E_RECORD_INVALID, r->off, "record is not valid");
    r->valid = 1;
    return SPOOKY_OK;
}

/* A record that counts as a difference is checked whole first, as verify
 * checks it (valid, strings UTF-8, nested values CBOR, floats finite, names
 * known), whatever the output: corruption is an error, never a change. */
static int check_record(differ *d, rec_ref *r) {
    if (r->checked) return SPOOKY_OK;
    TRY(validate(d, r));
    int rc = file_check_fields(d->files[r->side], r->rec, r->len, r->off, &d->scratch, d->err);
    if (rc && d->err_file) *d->err_file = r->side;
    r->checked = rc == SPOOKY_OK;
    return rc;
}

/* The key (sort form) as JSON: an integer or a string, an array of them
 * for a composite key. */
static int put_key(differ *d, const rec_ref *r) {
    int rc = spooky_key_to_json(r->key, r->key_len, d->files[r->side]->key.nparts, d->out);
    if (rc == SPOOKY_E_ARG)
        return fail_on(d, r->side, SPOOKY_E_FILE_INVALID, r->off, "stored key is not well formed");
    return rc;
}

static int put(differ *d, const char *text) { return buf_append(d->out, text, strlen(text)); }

static int put_color(differ *d, const char *color) {
    return d->spec->color ? put(d, color) : SPOOKY_OK;
}

/* A record as one JSON object. */
static int put_record(differ *d, const rec_ref *r) {
    int rc = file_put_record(d->files[r->side], r->rec, r->len, r->off, &d->caches[r->side], d->out,
                             d->err);
    if (rc && d->err_file) *d->err_file = r->side;
    return rc;
}

/* A JSON difference begins: the document's elements are ",\n{...}" (the
 * caller drops the first comma), NDJSON's lines "{...}\n". */
static int json_begin(differ *d) {
    d->written++;
    return d->spec->format == SPOOKY_DIFF_JSON ? put(d, ",\n") : SPOOKY_OK;
}

static int json_end(differ *d) { return put(d, d->spec->format == SPOOKY_DIFF_JSON ? "}" : "}\n"); }

/* "- KEY {record}" / "+ KEY {record}", or {"op":"removed"|"added",...}. */
static int emit_whole(differ *d, rec_ref *r) {
    TRY(check_record(d, r));
    if (!writing(d)) return SPOOKY_OK;
    int added = r->side == 1, json = json_format(d);
    if (json) {
        TRY(json_begin(d));
        TRY(put(d, added ? "{\"op\":\"added\",\"key\":" : "{\"op\":\"removed\",\"key\":"));
        TRY(put_key(d, r));
        TRY(put(d, ",\"record\":"));
    } else {
        d->written++;
        TRY(put_color(d, added ? GREEN : RED));
        TRY(put(d, added ? "+ " : "- "));
        TRY(put_key(d, r));
        TRY(put(d, " "));
    }
    TRY(put_record(d, r));
    if (json) return json_end(d);
    TRY(put_color(d, RESET));
    return put(d, "\n");
}

/* Notes a change of field hash: old and/or new value (tag, bytes). */
static int note(differ *d, uint64_t hash, int has_old, uint8_t otag, const uint8_t *ov,
                uint32_t olen, int has_new, uint8_t ntag, const uint8_t *nv, uint32_t nlen) {
    TRY(grow_array(&d->changes, &d->cap, d->nchanges + 1, sizeof *d->changes));
    field_change *c = &d->changes[d->nchanges++];
    c->has_old = has_old;
    c->has_new = has_new;
    c->otag = otag, c->ov = ov, c->olen = olen;
    c->ntag = ntag, c->nv = nv, c->nlen = nlen;
    c->hash = hash;
    c->path_off = d->paths.len;
    c->path_len = d->path.len;
    return buf_append(&d->paths, d->path.data, d->path.len);
}

static int note_change(differ *d, const rec_ref *o, const spooky_slot *so, const rec_ref *n,
                       const spooky_slot *sn) {
    uint64_t hash = so ? so->name_hash : sn->name_hash;
    return note(d, hash, so != NULL, so ? so->tag : 0, so ? o->rec + so->offset : NULL,
                so ? so->length : 0, sn != NULL, sn ? sn->tag : 0, sn ? n->rec + sn->offset : NULL,
                sn ? sn->length : 0);
}

/* ---- deep: changes inside nested values ------------------------------------------- */

#define DEEP_MAX 64 /* levels followed; below that a value changes as a whole */

/* A step's text: bare when it can be (as filter paths read), else a JSON
 * string. */
static int put_step(spooky_buf *path, const uint8_t *step, size_t n) {
    int bare = n > 0;
    for (size_t i = 0; i < n && bare; i++) {
        uint8_t c = step[i];
        bare = c > 0x20 && c != 0x7f && !strchr("=!<>\".", c);
    }
    if (bare) return buf_append(path, step, n);
    int rc = spooky_value_to_json(SPOOKY_STR, step, n, path);
    return rc == SPOOKY_E_NOT_JSON ? SPOOKY_E_CBOR_INVALID : rc;
}

/* Appends a step to the path. Returns the length to cut back to. */
static int push_step(differ *d, const uint8_t *step, size_t n, size_t *mark) {
    *mark = d->path.len;
    if (d->path.len) TRY(buf_push(&d->path, '.'));
    return put_step(&d->path, step, n);
}

/* The top-level field's name as the path's first step. */
static int push_name(differ *d, uint64_t hash, size_t *mark) {
    for (int side = 1; side >= 0; side--) {
        int64_t ni = file_name_index(d->files[side], hash);
        if (ni >= 0)
            return push_step(d, d->files[side]->names[ni].name, d->files[side]->names[ni].name_len,
                             mark);
    }
    return fail_on(d, 1, SPOOKY_E_FILE_INVALID, 0, "record field missing from the name table");
}

typedef struct {
    const uint8_t *p, *end; /* the item */
} item;

static int note_items(differ *d, uint64_t hash, const item *a, const item *b) {
    return note(d, hash, a != NULL, SPOOKY_NESTED, a ? a->p : NULL,
                a ? (uint32_t)(a->end - a->p) : 0, b != NULL, SPOOKY_NESTED, b ? b->p : NULL,
                b ? (uint32_t)(b->end - b->p) : 0);
}

/* The next key and value of a map at *p. */
static int map_entry(const uint8_t **p, const uint8_t *end, item *key, item *value) {
    uint8_t major, ai;
    uint64_t n;
    TRY(cbor_read_head(p, end, &major, &ai, &n));
    if (major != 3 || n > (uint64_t)(end - *p)) return SPOOKY_E_CBOR_INVALID;
    key->p = *p;
    key->end = *p + n;
    *p += n;
    value->p = *p;
    TRY(cbor_skip_item(p, end));
    value->end = *p;
    return SPOOKY_OK;
}

static int deep_items(differ *d, uint64_t hash, const item *a, const item *b, int depth);

/* Whether the current path is one of spec->ignore_paths. */
static int path_ignored(const differ *d) {
    const spooky_diff_spec *s = d->spec;
    for (size_t k = 0; k + 4 <= s->ignore_paths_len;) {
        uint32_t n = load_u32(s->ignore_paths + k);
        if (n > s->ignore_paths_len - k - 4) return 0; /* a length past the end ends the list */
        if (n == d->path.len && memcmp(s->ignore_paths + k + 4, d->path.data, n) == 0) return 1;
        k += 4 + (size_t)n;
    }
    return 0;
}

static int deep_step(differ *d, uint64_t hash, const uint8_t *step, size_t n, const item *a,
                     const item *b, int depth) {
    size_t mark;
    TRY(push_step(d, step, n, &mark));
    int rc = SPOOKY_OK;
    if (!path_ignored(d))
        rc = a && b ? deep_items(d, hash, a, b, depth + 1) : note_items(d, hash, a, b);
    d->path.len = mark;
    return rc;
}

static int same_item(const item *a, const item *b) {
    return a->end - a->p == b->end - b->p && memcmp(a->p, b->p, (size_t)(a->end - a->p)) == 0;
}

/* *close: two items are numbers within the tolerance. */
static int numbers_within(const differ *d, const item *a, const item *b, int *close) {
    path_value x, y;
    *close = 0;
    int ra = path_item_value(a->p, a->end, &x), rb = path_item_value(b->p, b->end, &y);
    if (ra == SPOOKY_E_NOT_JSON || rb == SPOOKY_E_NOT_JSON) return SPOOKY_OK;
    TRY(ra);
    TRY(rb);
    if (is_number(x.tag) && is_number(y.tag))
        *close = numbers_close(x.tag, x.v, y.tag, y.v, &d->tol);
    return SPOOKY_OK;
}

/* *close: two nested items are equal with numbers compared within the
 * tolerance: maps with the same keys and close values, arrays as long with
 * close elements, anything else byte for byte. (Without deep: a field's
 * nested value is one change, or none.) */
static int items_close(const differ *d, const item *a, const item *b, int depth, int *close) {
    *close = same_item(a, b);
    if (*close) return SPOOKY_OK;
    TRY(numbers_within(d, a, b, close));
    if (*close) return SPOOKY_OK;
    const uint8_t *pa = a->p, *pb = b->p;
    uint8_t ma, mb, ai;
    uint64_t na, nb;
    TRY(cbor_read_head(&pa, a->end, &ma, &ai, &na));
    TRY(cbor_read_head(&pb, b->end, &mb, &ai, &nb));
    if (depth >= DEEP_MAX || ma != mb || (ma != 4 && ma != 5) || na != nb) return SPOOKY_OK;
    for (uint64_t i = 0; i < na; i++) {
        item ea, eb;
        if (ma == 5) {
            item ka, kb;
            TRY(map_entry(&pa, a->end, &ka, &ea));
            TRY(map_entry(&pb, b->end, &kb, &eb));
            if (!same_item(&ka, &kb)) return SPOOKY_OK; /* keys sorted: another key set */
        } else {
            ea.p = pa, eb.p = pb;
            TRY(cbor_skip_item(&pa, a->end));
            TRY(cbor_skip_item(&pb, b->end));
            ea.end = pa, eb.end = pb;
        }
        TRY(items_close(d, &ea, &eb, depth + 1, close));
        if (!*close) return SPOOKY_OK;
    }
    *close = 1;
    return SPOOKY_OK;
}

/* ---- deep with an array key: elements matched by a field's value ------------------ */

typedef struct {
    item e; /* the element, an object */
    item key; /* its spec->array_key value */
    uint64_t pos; /* in its array */
} keyed_element;

static int by_key(const void *a, const void *b) {
    const keyed_element *x = a, *y = b;
    int c = bytes_cmp(x->key.p, (size_t)(x->key.end - x->key.p), y->key.p,
                      (size_t)(y->key.end - y->key.p));
    return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

/* The n elements of an array (p: past its head) in order, with their
 * array_key values, and a copy sorted by them. *ok 1 when every element is
 * an object with that field and no value repeats. */
static int key_elements(const differ *d, const uint8_t *p, const uint8_t *end, uint64_t n,
                        keyed_element *in_order, keyed_element *sorted, int *ok) {
    *ok = 0;
    for (uint64_t i = 0; i < n; i++) {
        keyed_element *k = &in_order[i];
        const uint8_t *q = p;
        uint8_t major, ai;
        uint64_t len;
        TRY(cbor_read_head(&q, end, &major, &ai, &len));
        k->e.p = p;
        TRY(cbor_skip_item(&p, end));
        k->e.end = p;
        k->pos = i;
        if (major != 5) return SPOOKY_OK;
        const uint8_t *kp = k->e.p, *ke = k->e.end;
        int got = path_step(&kp, &ke, d->spec->array_key, (uint32_t)d->spec->array_key_len);
        if (got < 0) return -got;
        if (!got) return SPOOKY_OK;
        k->key = (item){kp, ke};
    }
    if (n) memcpy(sorted, in_order, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, by_key);
    for (uint64_t i = 1; i < n; i++)
        if (same_item(&sorted[i - 1].key, &sorted[i].key)) return SPOOKY_OK;
    *ok = 1;
    return SPOOKY_OK;
}

/* The element of sorted (n, by key) whose key is key, or NULL. */
static const keyed_element *find_key(const keyed_element *sorted, uint64_t n, const item *key) {
    uint64_t lo = 0, hi = n;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        const item *k = &sorted[mid].key;
        int c = bytes_cmp(k->p, (size_t)(k->end - k->p), key->p, (size_t)(key->end - key->p));
        if (c == 0) return &sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The path step of a keyed element, `[FIELD=VALUE]` after the array's path
 * (FIELD bare or a JSON string, VALUE JSON): `items[id=3]`. A bare step
 * never holds '=', so the step reads as no key of an object would. */
static int keyed_step(differ *d, uint64_t hash, const item *key, const item *a, const item *b,
                      int depth) {
    size_t mark = d->path.len;
    int rc = buf_push(&d->path, '[');
    if (!rc) rc = put_step(&d->path, d->spec->array_key, d->spec->array_key_len);
    if (!rc) rc = buf_push(&d->path, '=');
    if (!rc) rc = spooky_cbor_to_json(key->p, (size_t)(key->end - key->p), &d->path);
    if (rc == SPOOKY_E_NOT_JSON) rc = SPOOKY_E_CBOR_INVALID;
    if (!rc) rc = buf_push(&d->path, ']');
    if (!rc && !path_ignored(d))
        rc = a && b ? deep_items(d, hash, a, b, depth + 1) : note_items(d, hash, a, b);
    d->path.len = mark;
    return rc;
}

/* Two arrays (pa, pb: past their heads) whose elements are all objects
 * with the array key, its values unique on each side: elements matched by
 * it, in the old array's order, then the new array's others in theirs
 * (their order does not count). *keyed 0 (nothing done) when they are not. */
static int deep_keyed(differ *d, uint64_t hash, const uint8_t *pa, const item *a, uint64_t na,
                      const uint8_t *pb, const item *b, uint64_t nb, int depth, int *keyed) {
    *keyed = 0;
    if (na > (uint64_t)(a->end - pa) || nb > (uint64_t)(b->end - pb))
        return SPOOKY_E_CBOR_INVALID; /* an element takes a byte at least */
    size_t n = (size_t)na + (size_t)nb;
    keyed_element *k = malloc((2 * n + 1) * sizeof *k);
    uint8_t *matched = calloc((size_t)nb + 1, 1);
    int rc = k && matched ? SPOOKY_OK : SPOOKY_E_NOMEM;
    keyed_element *ao = k, *as = k + na, *bo = k + 2 * na, *bs = k + 2 * na + nb;
    int ok = 0;
    if (!rc) rc = key_elements(d, pa, a->end, na, ao, as, &ok);
    if (!rc && ok) rc = key_elements(d, pb, b->end, nb, bo, bs, &ok);
    if (!rc && ok) {
        *keyed = 1;
        for (uint64_t i = 0; i < na && !rc; i++) {
            const keyed_element *m = find_key(bs, nb, &ao[i].key);
            if (m) matched[m->pos] = 1;
            rc = keyed_step(d, hash, &ao[i].key, &ao[i].e, m ? &m->e : NULL, depth);
        }
        for (uint64_t j = 0; j < nb && !rc; j++)
            if (!matched[j]) rc = keyed_step(d, hash, &bo[j].key, NULL, &bo[j].e, depth);
    }
    free(k);
    free(matched);
    return rc;
}

/* Two nested items at the current path: maps key by key (keys are sorted),
 * arrays element by element (or by the array key), numbers within the
 * tolerance, anything else as a whole. */
static int deep_items(differ *d, uint64_t hash, const item *a, const item *b, int depth) {
    if (same_item(a, b)) return SPOOKY_OK;
    if (d->spec->tolerance) {
        int close;
        TRY(numbers_within(d, a, b, &close));
        if (close) return SPOOKY_OK;
    }
    const uint8_t *pa = a->p, *pb = b->p;
    uint8_t ma, mb, ai;
    uint64_t na, nb;
    TRY(cbor_read_head(&pa, a->end, &ma, &ai, &na));
    TRY(cbor_read_head(&pb, b->end, &mb, &ai, &nb));
    if (depth >= DEEP_MAX || ma != mb || (ma != 4 && ma != 5)) return note_items(d, hash, a, b);
    if (ma == 4 && d->spec->array_key_len) {
        int keyed;
        TRY(deep_keyed(d, hash, pa, a, na, pb, b, nb, depth, &keyed));
        if (keyed) return SPOOKY_OK;
    }
    if (ma == 4) {
        for (uint64_t i = 0; i < na || i < nb; i++) {
            item ea = {pa, pa}, eb = {pb, pb};
            if (i < na) {
                TRY(cbor_skip_item(&pa, a->end));
                ea.end = pa;
            }
            if (i < nb) {
                TRY(cbor_skip_item(&pb, b->end));
                eb.end = pb;
            }
            char digits[24];
            int len = snprintf(digits, sizeof digits, "%llu", (unsigned long long)i);
            TRY(deep_step(d, hash, (const uint8_t *)digits, (size_t)len, i < na ? &ea : NULL,
                          i < nb ? &eb : NULL, depth));
        }
        return SPOOKY_OK;
    }
    uint64_t ia = 0, ib = 0;
    item ka = {0}, va = {0}, kb = {0}, vb = {0};
    if (na) TRY(map_entry(&pa, a->end, &ka, &va));
    if (nb) TRY(map_entry(&pb, b->end, &kb, &vb));
    while (ia < na || ib < nb) {
        int c;
        if (ib == nb)
            c = -1;
        else if (ia == na)
            c = 1;
        else
            c = bytes_cmp(ka.p, (size_t)(ka.end - ka.p), kb.p, (size_t)(kb.end - kb.p));
        const item *key = c <= 0 ? &ka : &kb;
        TRY(deep_step(d, hash, key->p, (size_t)(key->end - key->p), c <= 0 ? &va : NULL,
                      c >= 0 ? &vb : NULL, depth));
        if (c <= 0 && ++ia < na) TRY(map_entry(&pa, a->end, &ka, &va));
        if (c >= 0 && ++ib < nb) TRY(map_entry(&pb, b->end, &kb, &vb));
    }
    return SPOOKY_OK;
}

/* Of two nested values, the one that is not valid CBOR, as an error. */
static int bad_nested(differ *d, const rec_ref *o, const spooky_slot *so, const rec_ref *n,
                      const spooky_slot *sn) {
    const uint8_t *p = o->rec + so->offset, *end = p + so->length;
    int old_ok = cbor_skip_item(&p, end) == SPOOKY_OK && p == end;
    const rec_ref *bad = old_ok ? n : o;
    const spooky_slot *s = old_ok ? sn : so;
    return fail_on(d, bad->side, SPOOKY_E_RECORD_INVALID, bad->off + s->offset,
                   "nested field is not valid CBOR");
}

/* A field in both records with different values. */
static int field_differs(differ *d, const rec_ref *o, const spooky_slot *so, const rec_ref *n,
                         const spooky_slot *sn) {
    if (!d->spec->deep) return note_change(d, o, so, n, sn);
    size_t mark;
    TRY(push_name(d, so->name_hash, &mark));
    int rc;
    if (so->tag == SPOOKY_NESTED && sn->tag == SPOOKY_NESTED) {
        item a = {o->rec + so->offset, o->rec + so->offset + so->length};
        item b = {n->rec + sn->offset, n->rec + sn->offset + sn->length};
        rc = deep_items(d, so->name_hash, &a, &b, 0);
        if (rc == SPOOKY_E_CBOR_INVALID) rc = bad_nested(d, o, so, n, sn);
    } else {
        rc = note_change(d, o, so, n, sn);
    }
    d->path.len = mark;
    return rc;
}

/* A field on one side only. */
static int field_alone(differ *d, const rec_ref *o, const spooky_slot *so, const rec_ref *n,
                       const spooky_slot *sn) {
    if (!d->spec->deep) return note_change(d, o, so, n, sn);
    size_t mark;
    TRY(push_name(d, so ? so->name_hash : sn->name_hash, &mark));
    int rc = note_change(d, o, so, n, sn);
    d->path.len = mark;
    return rc;
}

static int same_value(const rec_ref *a, const spooky_slot *sa, const rec_ref *b,
                      const spooky_slot *sb) {
    return sa->tag == sb->tag && sa->length == sb->length &&
           (sa->length == 0 || memcmp(a->rec + sa->offset, b->rec + sb->offset, sa->length) == 0);
}

/* *eq: two fields' values are the same, byte for byte, or with a tolerance
 * numbers within it (nested values item by item; with deep, field_differs
 * walks them instead). */
static int values_equal(differ *d, const rec_ref *a, const spooky_slot *sa, const rec_ref *b,
                        const spooky_slot *sb, int *eq) {
    *eq = same_value(a, sa, b, sb);
    if (*eq || !d->spec->tolerance) return SPOOKY_OK;
    if (is_number(sa->tag) && is_number(sb->tag)) {
        *eq = numbers_close(sa->tag, a->rec + sa->offset, sb->tag, b->rec + sb->offset, &d->tol);
        return SPOOKY_OK;
    }
    if (d->spec->deep || sa->tag != SPOOKY_NESTED || sb->tag != SPOOKY_NESTED) return SPOOKY_OK;
    item x = {a->rec + sa->offset, a->rec + sa->offset + sa->length};
    item y = {b->rec + sb->offset, b->rec + sb->offset + sb->length};
    int rc = items_close(d, &x, &y, 0, eq);
    return rc == SPOOKY_E_CBOR_INVALID ? bad_nested(d, a, sa, b, sb) : rc;
}

static int ignored(const spooky_diff_spec *s, uint64_t hash) {
    for (size_t k = 0; k < s->nfields; k++)
        if (s->fields[k] == hash) return 1;
    return 0;
}

/* The fields that count and differ, into d->changes. */
static int compare_fields(differ *d, rec_ref *o, rec_ref *n) {
    const spooky_diff_spec *s = d->spec;
    d->nchanges = 0;
    d->path.len = d->paths.len = 0;
    TRY(validate(d, o));
    TRY(validate(d, n));
    if (s->fields_mode == SPOOKY_DIFF_ONLY_FIELDS) {
        for (size_t k = 0; k < s->nfields; k++) {
            spooky_slot *so = &d->schemas[0].slots[k], *sn = &d->schemas[1].slots[k];
            int ro = spooky_slot_refresh(o->rec, o->len, so);
            int rn = spooky_slot_refresh(n->rec, n->len, sn);
            if (ro && ro != SPOOKY_E_NOT_FOUND)
                return fail_on(d, 0, SPOOKY_E_RECORD_INVALID, o->off, "record is not valid");
            if (rn && rn != SPOOKY_E_NOT_FOUND)
                return fail_on(d, 1, SPOOKY_E_RECORD_INVALID, n->off, "record is not valid");
            if (ro && rn) continue;
            if (ro || rn) {
                TRY(field_alone(d, o, ro ? NULL : so, n, rn ? NULL : sn));
                continue;
            }
            int eq;
            TRY(values_equal(d, o, so, n, sn, &eq));
            if (!eq) TRY(field_differs(d, o, so, n, sn));
        }
        return SPOOKY_OK;
    }
    int skip = s->fields_mode == SPOOKY_DIFF_IGNORE_FIELDS;
    uint32_t no = load_u32(o->rec), nn = load_u32(n->rec), i = 0, j = 0;
    while (i < no || j < nn) {
        spooky_slot so = {0}, sn = {0};
        if (i < no) spooky_record_slot_at(o->rec, o->len, i, &so);
        if (j < nn) spooky_record_slot_at(n->rec, n->len, j, &sn);
        if (j == nn || (i < no && so.name_hash < sn.name_hash)) {
            i++;
            if (!(skip && ignored(s, so.name_hash))) TRY(field_alone(d, o, &so, n, NULL));
        } else if (i == no || sn.name_hash < so.name_hash) {
            j++;
            if (!(skip && ignored(s, sn.name_hash))) TRY(field_alone(d, o, NULL, n, &sn));
        } else {
            i++;
            j++;
            if (skip && ignored(s, so.name_hash)) continue;
            int eq;
            TRY(values_equal(d, o, &so, n, &sn, &eq));
            if (!eq) TRY(field_differs(d, o, &so, n, &sn));
        }
    }
    return SPOOKY_OK;
}

/* A field's name as its JSON string ("name":), from the file that has it. */
static int name_text(differ *d, const field_change *c, const uint8_t **text, size_t *len) {
    int side = c->has_new ? 1 : 0;
    const spooky_file *f = d->files[side];
    int64_t ni = file_name_index(f, c->hash);
    if (ni < 0)
        return fail_on(d, side, SPOOKY_E_FILE_INVALID, 0,
                       "record field missing from the name table");
    *text = f->esc.data + f->names[ni].esc_off;
    *len = f->names[ni].esc_len;
    return SPOOKY_OK;
}

/* A value of a change as JSON (side 0 old, 1 new). */
static int put_value(differ *d, const rec_ref *r, uint8_t tag, const uint8_t *v, uint32_t len) {
    int rc = spooky_value_to_json(tag, v, len, d->out);
    if (rc == SPOOKY_OK || rc == SPOOKY_E_NOMEM) return rc;
    if (d->err_file) *d->err_file = r->side;
    uint64_t at = r->off + (uint64_t)(v - r->rec);
    if (rc == SPOOKY_E_NOT_JSON && tag == SPOOKY_F64)
        return file_fail(d->err, rc, at, "float field is NaN or infinite");
    if (rc == SPOOKY_E_NOT_JSON && tag == SPOOKY_NESTED)
        return file_fail(
            d->err, rc, at,
            "nested field holds a value JSON cannot hold (NaN, infinity, bytes or a tag)");
    return file_fail(d->err, SPOOKY_E_RECORD_INVALID, at,
                     tag == SPOOKY_STR ? "string field is not UTF-8"
                                       : "nested field is not valid CBOR");
}

/* The change's label: with deep its path, else the field's name. JSON: a
 * string and a colon; text: as it reads. */
static int put_label(differ *d, const field_change *c, int json) {
    if (d->spec->deep) {
        const uint8_t *path = d->paths.data + c->path_off;
        if (!json) return buf_append(d->out, path, c->path_len);
        int rc = spooky_value_to_json(SPOOKY_STR, path, c->path_len, d->out);
        return rc ? rc : buf_push(d->out, ':');
    }
    const uint8_t *name = NULL;
    size_t name_len = 0;
    TRY(name_text(d, c, &name, &name_len));
    /* text: the name's JSON text without its quotes, control characters escaped */
    return json ? buf_append(d->out, name, name_len) : buf_append(d->out, name + 1, name_len - 3);
}

/* {"op":"changed","key":K,"fields":{"f":{"old":V,"new":V},...}}, or
 * "~ KEY" and a line "    f: OLD -> NEW" per field ("(absent)" if none). */
static int emit_changed(differ *d, rec_ref *o, rec_ref *n) {
    int json = json_format(d);
    if (json) {
        TRY(json_begin(d));
        TRY(put(d, "{\"op\":\"changed\",\"key\":"));
        TRY(put_key(d, n));
        TRY(put(d, ",\"fields\":{"));
    } else {
        d->written++;
        TRY(put_color(d, YELLOW));
        TRY(put(d, "~ "));
        TRY(put_key(d, n));
        TRY(put_color(d, RESET));
        TRY(put(d, "\n"));
    }
    for (size_t k = 0; k < d->nchanges; k++) {
        const field_change *c = &d->changes[k];
        if (json) {
            if (k) TRY(put(d, ","));
            TRY(put_label(d, c, 1));
            TRY(put(d, "{"));
            if (c->has_old) {
                TRY(put(d, "\"old\":"));
                TRY(put_value(d, o, c->otag, c->ov, c->olen));
            }
            if (c->has_new) {
                TRY(put(d, c->has_old ? ",\"new\":" : "\"new\":"));
                TRY(put_value(d, n, c->ntag, c->nv, c->nlen));
            }
            TRY(put(d, "}"));
            continue;
        }
        TRY(put(d, "    "));
        TRY(put_label(d, c, 0));
        TRY(put(d, ": "));
        TRY(put_color(d, RED));
        if (c->has_old)
            TRY(put_value(d, o, c->otag, c->ov, c->olen));
        else
            TRY(put(d, "(absent)"));
        TRY(put_color(d, RESET));
        TRY(put(d, " -> "));
        TRY(put_color(d, GREEN));
        if (c->has_new)
            TRY(put_value(d, n, c->ntag, c->nv, c->nlen));
        else
            TRY(put(d, "(absent)"));
        TRY(put_color(d, RESET));
        TRY(put(d, "\n"));
    }
    if (!json) return SPOOKY_OK;
    TRY(put(d, "}"));
    if (d->spec->full) { /* the whole records beside the fields */
        TRY(put(d, ",\"old\":"));
        TRY(put_record(d, o));
        TRY(put(d, ",\"new\":"));
        TRY(put_record(d, n));
    }
    return json_end(d);
}

/* The new record of a pair whose bytes differ, after the old one was
 * checked: a value the old record holds too, byte for byte, was checked
 * there, so only the others are checked again (in a record of just those
 * fields), and every name against the new file's table. A failure is found
 * again by checking the record whole, which says where. */
static int check_new(differ *d, rec_ref *o, rec_ref *n) {
    if (n->checked) return SPOOKY_OK;
    TRY(validate(d, n));
    const spooky_file *f = d->files[1];
    uint32_t no = load_u32(o->rec), nn = load_u32(n->rec), i = 0;
    TRY(grow_array(&d->pick, &d->pick_cap, nn, sizeof *d->pick));
    size_t k = 0;
    spooky_slot so = {0};
    if (no) spooky_record_slot_at(o->rec, o->len, 0, &so);
    for (uint32_t j = 0; j < nn; j++) {
        spooky_slot sn = {0};
        spooky_record_slot_at(n->rec, n->len, j, &sn); /* both valid: in bounds */
        while (i < no && so.name_hash < sn.name_hash)
            if (++i < no) spooky_record_slot_at(o->rec, o->len, i, &so);
        if (i < no && so.name_hash == sn.name_hash && same_value(o, &so, n, &sn)) {
            if (file_name_index(f, sn.name_hash) < 0) return check_record(d, n);
            continue;
        }
        d->pick[k++] = sn;
    }
    int rc = SPOOKY_OK;
    if (k) rc = record_pick(n->rec, d->pick, k, &d->picked);
    if (k && rc == SPOOKY_OK)
        rc = file_check_fields(f, d->picked.data, (uint32_t)d->picked.len, n->off, &d->scratch,
                               NULL);
    if (rc) return check_record(d, n);
    n->checked = 1;
    return SPOOKY_OK;
}

/* Whether records whose bytes differ differ (canonical records: other
 * bytes, other fields): unless only some fields count, some paths do not,
 * numbers within a tolerance are equal or array elements are matched by
 * key (an order that does not count). */
static int bytes_decide(const spooky_diff_spec *s) {
    return s->fields_mode == SPOOKY_DIFF_ALL_FIELDS && !(s->deep && s->ignore_paths_len) &&
           !s->tolerance && !s->array_key_len;
}

/* One key in both files, their records' bytes different. */
static int diff_pair(differ *d, rec_ref *o, rec_ref *n, spooky_diff_counts *counts) {
    TRY(check_record(d, o));
    TRY(check_new(d, o, n));
    if (!writing(d) && bytes_decide(d->spec)) {
        counts->changed++;
        return SPOOKY_OK;
    }
    TRY(compare_fields(d, o, n));
    if (d->nchanges == 0) {
        counts->unchanged++;
        return SPOOKY_OK;
    }
    counts->changed++;
    return writing(d) ? emit_changed(d, o, n) : SPOOKY_OK;
}

/* --where: whether a record (checked whole) matches (*match 0/1). */
static int where_test(differ *d, const rec_ref *r, int *match) {
    int rc = filter_matcher_test(&d->where[r->side], r->rec, r->len, match);
    if (rc == SPOOKY_E_NOMEM) return rc; /* said once, by spooky_diff_range */
    return rc ? fail_on(d, r->side, rc, r->off, "record could not be tested (--where)") : SPOOKY_OK;
}

/* What the walk does at one key: a record removed or added, or a pair whose
 * digests differ (pairs with the same digest and length count as unchanged
 * as they are planned, and are never read; with --where the old record of
 * such a pair is read, to be tested). */
typedef struct {
    uint64_t oi, ni;
    int what; /* -1 removed, 1 added, 0 a pair, 2 a pair with the same digest (where) */
} step_plan;

/* Does the planned steps, whose records were needed and filled. what: NULL,
 * or per step -1 removed, 1 added, 0 changed, 2 unchanged (fields that
 * count are equal), 3 left out by --where; ends: NULL, or per step out->len
 * after it. */
static int execute(differ *d, const step_plan *plan, size_t steps, spooky_diff_counts *counts,
                   int8_t *what, uint64_t *ends) {
    rec_ref o, n;
    int rc = SPOOKY_OK;
    int where = d->spec->where != NULL;
    for (size_t i = 0; i < steps && !rc; i++) {
        const step_plan *p = &plan[i];
        int8_t did = (int8_t)p->what;
        int in = 1, in_new = 0; /* --where: the record matches (old, new side) */
        if (p->what == 2) {
            rc = load(d, 0, p->oi, &o);
            if (!rc) rc = check_record(d, &o);
            if (!rc) rc = where_test(d, &o, &in);
            if (!rc && in) counts->unchanged++;
            did = in ? 2 : 3;
        } else if (p->what < 0) {
            rc = load(d, 0, p->oi, &o);
            if (!rc && where) rc = check_record(d, &o);
            if (!rc && where) rc = where_test(d, &o, &in);
            if (!rc && in) {
                counts->removed++;
                rc = emit_whole(d, &o);
            }
            if (!in) did = 3;
        } else if (p->what == 1) {
            rc = load(d, 1, p->ni, &n);
            if (!rc && where) rc = check_record(d, &n);
            if (!rc && where) rc = where_test(d, &n, &in);
            if (!rc && in) {
                counts->added++;
                rc = emit_whole(d, &n);
            }
            if (!in) did = 3;
        } else {
            uint64_t same = counts->unchanged;
            rc = load(d, 0, p->oi, &o);
            if (!rc) rc = load(d, 1, p->ni, &n);
            if (!rc && where) {
                rc = check_record(d, &o);
                if (!rc) rc = check_new(d, &o, &n);
                if (!rc) rc = where_test(d, &o, &in);
                if (!rc && !in) rc = where_test(d, &n, &in_new);
            }
            if (!rc && (in || in_new)) rc = diff_pair(d, &o, &n, counts);
            if (!(in || in_new))
                did = 3;
            else if (counts->unchanged != same)
                did = 2;
        }
        if (what) what[i] = did;
        if (ends) ends[i] = d->out->len;
    }
    return rc;
}

static int walk(differ *d, uint64_t oi, uint64_t oend, uint64_t ni, uint64_t nend,
                spooky_diff_counts *counts) {
    uint64_t most = d->spec->batch ? d->spec->batch : BATCH_RECORDS;
    step_plan *plan = malloc((size_t)most * sizeof *plan);
    if (!plan) return SPOOKY_E_NOMEM;
    int rc = SPOOKY_OK;
    while (!rc && (oi < oend || ni < nend)) {
        batch *bo = &d->batches[0], *bn = &d->batches[1];
        bo->n = bn->n = 0;
        bo->bytes = bn->bytes = 0;
        size_t steps = 0;
        while (!rc && (oi < oend || ni < nend) && steps < most &&
               (steps == 0 || bo->bytes + bn->bytes < BATCH_BYTES)) {
            const uint8_t *eo = oi < oend ? d->files[0]->index + oi * INDEX_ENTRY : NULL;
            const uint8_t *en = ni < nend ? d->files[1]->index + ni * INDEX_ENTRY : NULL;
            int c = !en   ? -1
                    : !eo ? 1
                          : bytes_cmp(d->files[0]->heap + load_u64(eo + 24), load_u32(eo + 20),
                                      d->files[1]->heap + load_u64(en + 24), load_u32(en + 20));
            if (c == 0 && load_u64(eo) == load_u64(en) && load_u32(eo + 16) == load_u32(en + 16)) {
                if (!d->spec->where) {
                    counts->unchanged++; /* same digest, same length: not read */
                    oi++, ni++;
                    continue;
                }
                plan[steps++] = (step_plan){oi, ni, 2};
                rc = need(d, 0, oi++);
                ni++;
                continue;
            }
            plan[steps] = (step_plan){oi, ni, c < 0 ? -1 : c > 0};
            if (c <= 0) rc = need(d, 0, oi++);
            if (!rc && c >= 0) rc = need(d, 1, ni++);
            steps++;
        }
        if (!rc) rc = fill(d, 0);
        if (!rc) rc = fill(d, 1);
        if (!rc) rc = execute(d, plan, steps, counts, NULL, NULL);
    }
    free(plan);
    return rc;
}

/* The given steps (positions; SPOOKY_DIFF_ABSENT on a side that lacks the
 * key), a batch at a time, as walk does them. */
static int walk_positions(differ *d, const uint64_t *old_pos, const uint64_t *new_pos, size_t n,
                          spooky_diff_counts *counts, int8_t *what, uint64_t *ends) {
    uint64_t most = d->spec->batch ? d->spec->batch : BATCH_RECORDS;
    step_plan *plan = malloc((size_t)(most < n ? most : (n ? n : 1)) * sizeof *plan);
    if (!plan) return SPOOKY_E_NOMEM;
    int rc = SPOOKY_OK;
    size_t i = 0;
    while (!rc && i < n) {
        batch *bo = &d->batches[0], *bn = &d->batches[1];
        bo->n = bn->n = 0;
        bo->bytes = bn->bytes = 0;
        size_t first = i, steps = 0;
        while (!rc && i < n && steps < most &&
               (steps == 0 || bo->bytes + bn->bytes < BATCH_BYTES)) {
            int has_old = old_pos[i] != SPOOKY_DIFF_ABSENT,
                has_new = new_pos[i] != SPOOKY_DIFF_ABSENT;
            plan[steps] = (step_plan){old_pos[i], new_pos[i], has_old ? (has_new ? 0 : -1) : 1};
            if (has_old) rc = need(d, 0, old_pos[i]);
            if (!rc && has_new) rc = need(d, 1, new_pos[i]);
            steps++, i++;
        }
        if (!rc) rc = fill(d, 0);
        if (!rc) rc = fill(d, 1);
        if (!rc)
            rc = execute(d, plan, steps, counts, what ? what + first : NULL,
                         ends ? ends + first : NULL);
    }
    free(plan);
    return rc;
}

static int bad_spec(const spooky_diff_spec *spec) {
    return !spec || !spec->old_file || !spec->new_file || (!spec->fields && spec->nfields) ||
           spec->fields_mode < SPOOKY_DIFF_ALL_FIELDS ||
           spec->fields_mode > SPOOKY_DIFF_IGNORE_FIELDS || spec->format < SPOOKY_DIFF_COUNT ||
           spec->format > SPOOKY_DIFF_JSON || (!spec->ignore_paths && spec->ignore_paths_len) ||
           (!spec->array_key && spec->array_key_len) || spec->array_key_len > UINT32_MAX ||
           (spec->tolerance && !(isfinite(spec->abs_tolerance) && spec->abs_tolerance >= 0 &&
                                 isfinite(spec->rel_tolerance) && spec->rel_tolerance >= 0));
}

static int differ_start(differ *d, const spooky_diff_spec *spec, spooky_buf *out, spooky_error *err,
                        int *err_file) {
    memset(d, 0, sizeof *d);
    d->spec = spec;
    d->files[0] = spec->old_file;
    d->files[1] = spec->new_file;
    d->out = out;
    d->err = err;
    d->err_file = err_file;
    d->tol = (number_tolerance){spec->abs_tolerance, spec->rel_tolerance};
    int rc = SPOOKY_OK;
    if (spec->fields_mode == SPOOKY_DIFF_ONLY_FIELDS)
        for (int side = 0; side < 2 && !rc; side++)
            rc = schema_init(&d->schemas[side], d->files[side], spec->fields, spec->nfields);
    for (int side = 0; side < 2 && !rc && spec->where; side++) {
        rc = filter_matcher_init(&d->where[side], spec->where);
        if (rc) file_fail(err, rc, 0, "bad --where program");
    }
    return rc;
}

static void differ_free(differ *d) {
    for (int side = 0; side < 2; side++)
        if (d->batches[side].hi > d->batches[side].lo)
            file_give_back(d->files[side], d->batches[side].lo, d->batches[side].hi);
    batch_free(&d->batches[0]);
    batch_free(&d->batches[1]);
    schema_free(&d->schemas[0]);
    schema_free(&d->schemas[1]);
    filter_matcher_free(&d->where[0]);
    filter_matcher_free(&d->where[1]);
    spooky_buf_free(&d->path);
    spooky_buf_free(&d->paths);
    spooky_buf_free(&d->scratch);
    spooky_buf_free(&d->picked);
    free(d->pick);
    name_cache_free(&d->caches[0]);
    name_cache_free(&d->caches[1]);
    free(d->changes);
}

int spooky_diff_positions(const spooky_diff_spec *spec, const uint64_t *old_pos,
                          const uint64_t *new_pos, size_t n, spooky_buf *out, int8_t *what,
                          uint64_t *ends, spooky_diff_counts *counts, spooky_error *err,
                          int *err_file) {
    if (err_file) *err_file = 0;
    if (bad_spec(spec) || !out || !counts || (n && (!old_pos || !new_pos)))
        return file_fail(err, SPOOKY_E_ARG, 0, "bad argument");
    for (size_t i = 0; i < n; i++) {
        int has_old = old_pos[i] != SPOOKY_DIFF_ABSENT, has_new = new_pos[i] != SPOOKY_DIFF_ABSENT;
        if ((!has_old && !has_new) || (has_old && old_pos[i] >= spec->old_file->record_count) ||
            (has_new && new_pos[i] >= spec->new_file->record_count))
            return file_fail(err, SPOOKY_E_ARG, 0, "bad argument: a position past the key index");
    }
    differ d;
    size_t mark = out->len;
    int rc = differ_start(&d, spec, out, err, err_file);
    if (!rc) rc = walk_positions(&d, old_pos, new_pos, n, counts, what, ends);
    differ_free(&d);
    if (rc == SPOOKY_E_NOMEM) file_fail(err, rc, 0, "no memory for the output");
    if (rc) out->len = mark;
    return rc;
}

int spooky_diff_range(const spooky_diff_spec *spec, uint64_t old_begin, uint64_t old_end,
                      uint64_t new_begin, uint64_t new_end, spooky_buf *out,
                      spooky_diff_counts *counts, spooky_error *err, int *err_file) {
    if (err_file) *err_file = 0;
    if (bad_spec(spec) || !out || !counts || old_begin > old_end ||
        old_end > spec->old_file->record_count || new_begin > new_end ||
        new_end > spec->new_file->record_count)
        return file_fail(err, SPOOKY_E_ARG, 0, "bad argument");
    differ d;
    size_t mark = out->len;
    int rc = differ_start(&d, spec, out, err, err_file);
    if (!rc) rc = walk(&d, old_begin, old_end, new_begin, new_end, counts);
    /* the index entries and keys read (the writer lays keys out in index order) */
    uint64_t begin[2] = {old_begin, new_begin}, end[2] = {old_end, new_end};
    for (int side = 0; side < 2; side++) {
        const spooky_file *f = d.files[side];
        if (begin[side] == end[side]) continue;
        uint64_t index = (uint64_t)(f->index - f->data), heap = (uint64_t)(f->heap - f->data);
        file_give_back(f, index + begin[side] * INDEX_ENTRY, index + end[side] * INDEX_ENTRY);
        const uint8_t *first = f->index + begin[side] * INDEX_ENTRY;
        const uint8_t *last = f->index + (end[side] - 1) * INDEX_ENTRY;
        uint64_t lo = load_u64(first + 24), hi = load_u64(last + 24) + load_u32(last + 20);
        if (lo < hi) file_give_back(f, heap + lo, heap + hi);
    }
    differ_free(&d);
    if (rc == SPOOKY_E_NOMEM) file_fail(err, rc, 0, "no memory for the output");
    if (rc) out->len = mark;
    return rc;
}
