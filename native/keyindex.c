/* keyindex.c: the key index of a record file being written (keyindex.h):
 * sorted runs of entries, spilled to an unnamed temporary file once a run
 * holds run_limit bytes, and the k-way heap merge of the runs at finish that
 * writes the index entries and the key heap. */
#include <stdlib.h>
#include <unistd.h>
#include "keyindex.h"
#include "bench.h" /* the test hook defined here */
#include "io.h"

#define RUN_LIMIT ((size_t)32 << 20) /* bytes of index entries held before a spill */
#define SPILL_FIXED 44 /* key_len, rec_len, digest, rec_off, ordinal, line, source */
#define CURSOR_READ ((size_t)16 << 10) /* bytes a cursor reads at once */

static size_t run_limit = RUN_LIMIT;

void spooky_test_set_run_limit(size_t bytes) { run_limit = bytes ? bytes : RUN_LIMIT; }

void key_index_init(key_index *k, const char *temp_dir) {
    memset(k, 0, sizeof *k);
    k->temp_dir = temp_dir;
    k->spill_fd = -1;
}

void key_index_drop_spills(key_index *k) {
    if (k->spill_fd >= 0) close(k->spill_fd);
    k->spill_fd = -1;
    k->nspills = 0;
}

void key_index_free(key_index *k) {
    key_index_drop_spills(k);
    free(k->run);
    spooky_buf_free(&k->run_heap);
    free(k->spill_ends);
    spooky_buf_free(&k->dup_key);
    free(k->dead);
}

/* Key order, then ordinal: the order of one sort of all entries. */
static int entry_cmp(const uint8_t *ka, const run_entry *a, const uint8_t *kb, const run_entry *b) {
    int c = bytes_cmp(ka, a->key_len, kb, b->key_len);
    if (c) return c;
    return a->ordinal < b->ordinal ? -1 : (a->ordinal > b->ordinal);
}

static int run_qsort_cmp(const void *a, const void *b, void *heap) {
    const run_entry *x = a, *y = b;
    const uint8_t *h = heap;
    return entry_cmp(h + x->key_off, x, h + y->key_off, y);
}

/* Sorts the run unless it already is (inputs often come in key order). */
static void sort_run(key_index *k) {
    const uint8_t *h = k->run_heap.data;
    for (size_t i = 1; i < k->nrun; i++) {
        const run_entry *a = &k->run[i - 1], *b = &k->run[i];
        if (entry_cmp(h + a->key_off, a, h + b->key_off, b) > 0) {
            qsort_r(k->run, k->nrun, sizeof *k->run, run_qsort_cmp, k->run_heap.data);
            return;
        }
    }
}

/* ---- sorted runs, spilled ----------------------------------------------------------- */

/* Sorts the run and appends it to the spill file. */
static int spill_run(key_index *k) {
    sort_run(k);
    if (k->spill_fd < 0) TRY(temp_file(k->temp_dir, &k->spill_fd));
    TRY(grow_array(&k->spill_ends, &k->cap_spills, k->nspills + 1, sizeof *k->spill_ends));
    uint64_t start = k->nspills ? k->spill_ends[k->nspills - 1] : 0;
    out_stream out = {k->spill_fd, start, {0}, SPOOKY_E_TEMP_FILE};
    int rc = SPOOKY_OK;
    for (size_t i = 0; i < k->nrun && !rc; i++) {
        const run_entry *e = &k->run[i];
        uint8_t fixed[SPILL_FIXED];
        store_u32(fixed, e->key_len);
        store_u32(fixed + 4, e->rec_len);
        store_u64(fixed + 8, e->digest);
        store_u64(fixed + 16, e->rec_off);
        store_u64(fixed + 24, e->ordinal);
        store_u64(fixed + 32, e->line);
        store_u32(fixed + 40, e->source);
        rc = stream_put(&out, fixed, SPILL_FIXED);
        if (!rc) rc = stream_put(&out, k->run_heap.data + e->key_off, e->key_len);
    }
    if (!rc) rc = stream_flush(&out);
    spooky_buf_free(&out.buf);
    TRY(rc);
    k->spill_ends[k->nspills++] = out.off;
    k->nrun = 0;
    k->run_heap.len = 0;
    return SPOOKY_OK;
}

int key_index_add(key_index *k, const uint8_t *key, uint32_t key_len, uint32_t rec_len,
                  uint64_t digest, uint64_t rec_off, uint32_t source, uint64_t line) {
    TRY(grow_array(&k->run, &k->cap_run, k->nrun + 1, sizeof *k->run));
    run_entry *r = &k->run[k->nrun++];
    r->key_off = k->run_heap.len;
    r->key_len = key_len;
    r->rec_len = rec_len;
    r->digest = digest;
    r->rec_off = rec_off;
    r->ordinal = k->ordinal++;
    r->line = line;
    r->source = source;
    TRY(buf_append(&k->run_heap, key, key_len));
    if (k->nrun * sizeof(run_entry) + k->run_heap.len >= run_limit) TRY(spill_run(k));
    return SPOOKY_OK;
}

/* ---- merging the runs ------------------------------------------------------------- */

/* Reads one spilled run entry by entry. */
typedef struct {
    int fd;
    uint64_t pos, end; /* the run's unread bytes in the spill file */
    spooky_buf buf; /* bytes read, from the current entry on */
    size_t at; /* the next entry in buf */
    run_entry e;
    const uint8_t *key; /* e's key, in buf */
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
    return entry_cmp(a->key, &a->e, b->key, &b->e);
}

/* The merge's output: each key's entry is held until the next key shows
 * that no later record repeats it. */
typedef struct {
    key_index *k;
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

/* Takes entries in key order (equal keys by ordinal); writes the index. */
static int merge_take(merge_state *m, const run_entry *e, const uint8_t *key) {
    if (m->have_prev && m->prev_key.len == e->key_len &&
        memcmp(m->prev_key.data, key, e->key_len) == 0) {
        key_index *k = m->k;
        if (!m->keep_last) {
            k->dup_key.len = 0;
            TRY(buf_append(&k->dup_key, key, e->key_len));
            k->dup_source[0] = m->prev.source, k->dup_line[0] = m->prev.line;
            k->dup_source[1] = e->source, k->dup_line[1] = e->line;
            return SPOOKY_E_DUPLICATE_KEY;
        }
        /* a later record of this key wins, unless later_lives says otherwise */
        int later = 1;
        if (k->later_lives) TRY(k->later_lives(k->lives_ctx, &m->prev, e, &later));
        TRY(grow_array(&k->dead, &k->cap_dead, k->ndead + 1, sizeof *k->dead));
        k->dead[k->ndead++] = later ? m->prev.ordinal : e->ordinal;
        if (later) m->prev = *e;
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
static int merge_spills(key_index *k, merge_state *m) {
    size_t runs = k->nspills, n = 0;
    cursor *cs = calloc(runs, sizeof *cs);
    cursor **heap = malloc(runs * sizeof *heap);
    int rc = cs && heap ? SPOOKY_OK : SPOOKY_E_NOMEM;
    for (size_t i = 0; i < runs && !rc; i++) {
        cs[i].fd = k->spill_fd;
        cs[i].pos = i ? k->spill_ends[i - 1] : 0;
        cs[i].end = k->spill_ends[i];
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
    for (size_t i = 0; cs && i < runs; i++) spooky_buf_free(&cs[i].buf);
    free(cs);
    free(heap);
    return rc;
}

static int merge_runs(key_index *k, merge_state *m) {
    if (k->nspills == 0) {
        sort_run(k);
        for (size_t i = 0; i < k->nrun; i++)
            TRY(merge_take(m, &k->run[i], k->run_heap.data + k->run[i].key_off));
    } else {
        if (k->nrun) TRY(spill_run(k));
        TRY(merge_spills(k, m));
    }
    if (m->have_prev) TRY(emit_entry(m));
    return SPOOKY_OK;
}

int key_index_merge(key_index *k, int keep_last, int fd, uint64_t index_at, key_index_out *out) {
    out->heap_fd = -1;
    /* the heap's size is known only after the merge (keep_last drops
     * entries), so it goes to a temporary file first */
    int heap_fd;
    TRY(temp_file(k->temp_dir, &heap_fd));
    merge_state m = {0};
    m.k = k;
    m.keep_last = keep_last;
    m.index.fd = fd;
    m.index.off = index_at;
    m.heap.fd = heap_fd;
    m.heap.io_error = SPOOKY_E_TEMP_FILE;
    int rc = merge_runs(k, &m);
    if (!rc) rc = stream_flush(&m.index);
    if (!rc) rc = stream_flush(&m.heap);
    spooky_buf_free(&m.prev_key);
    spooky_buf_free(&m.index.buf);
    spooky_buf_free(&m.heap.buf);
    if (rc) {
        close(heap_fd);
        return rc;
    }
    out->count = m.count;
    out->heap_fd = heap_fd;
    out->heap_len = m.heap_off;
    return SPOOKY_OK;
}
