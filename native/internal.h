/* internal.h: helpers shared by the core's translation units (not the cdef). */
#ifndef SPOOKY_INTERNAL_H
#define SPOOKY_INTERNAL_H

#include <stdlib.h>
#include <string.h>
#include "spooky.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "spooky's core assumes a little-endian host"
#endif

/* Record-file magic bytes at the start and the end (docs/FORMAT.md). */
static const uint8_t FILE_MAGIC[8] = {'S', 'P', 'K', 'Y', 'F', 'I', 'L', 'E'};
static const uint8_t END_MAGIC[8] = {'S', 'P', 'K', 'Y', 'F', 'E', 'N', 'D'};

/* Returns a failing status at once. */
#define TRY(expr)                                                                                  \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_) return rc_;                                                                       \
    } while (0)

static inline uint32_t load_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline uint64_t load_u64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static inline void store_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void store_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* Allocations (reallocs) of the growing arrays and buffers below made by
 * this thread so far: spooky bench reads it (common.c). */
extern _Thread_local uint64_t spooky_thread_allocs;

/* Reallocates the array at *items_ptr (the address of a T *) to n items of
 * item_size bytes; on failure the array is left as it was. */
static inline int resize_array(void *items_ptr, size_t n, size_t item_size) {
    void *items;
    memcpy(&items, items_ptr, sizeof items); /* a T * read as a void *, without aliasing */
    if (n > SIZE_MAX / item_size) return SPOOKY_E_NOMEM;
    spooky_thread_allocs++;
    items = realloc(items, n * item_size);
    if (!items) return SPOOKY_E_NOMEM;
    memcpy(items_ptr, &items, sizeof items);
    return SPOOKY_OK;
}

/* Room for need items in the array at *items_ptr (the address of a T *)
 * whose capacity is *cap: the capacity doubles, from 16, until they fit. On
 * failure the array and *cap are left as they were. */
static inline int grow_array(void *items_ptr, size_t *cap, size_t need, size_t item_size) {
    if (need <= *cap) return SPOOKY_OK;
    size_t n = *cap ? *cap : 16;
    while (n < need) {
        if (n > SIZE_MAX / 2 / item_size) return SPOOKY_E_NOMEM;
        n *= 2;
    }
    int rc = resize_array(items_ptr, n, item_size);
    if (rc == SPOOKY_OK) *cap = n;
    return rc;
}

/* Grows buf so that `extra` more bytes fit after len. */
static inline int buf_grow(spooky_buf *buf, size_t extra) {
    if (buf->cap - buf->len >= extra) return SPOOKY_OK;
    if (extra > SIZE_MAX / 2 - buf->len) return SPOOKY_E_NOMEM;
    return grow_array(&buf->data, &buf->cap, buf->len + extra, 1);
}

static inline int buf_append(spooky_buf *buf, const void *data, size_t n) {
    int rc = buf_grow(buf, n);
    if (rc) return rc;
    if (n) memcpy(buf->data + buf->len, data, n);
    buf->len += n;
    return SPOOKY_OK;
}

static inline int buf_push(spooky_buf *buf, uint8_t byte) {
    if (buf->len == buf->cap) {
        int rc = buf_grow(buf, 1);
        if (rc) return rc;
    }
    buf->data[buf->len++] = byte;
    return SPOOKY_OK;
}

/* Byte length of a fixed-width value of this tag, or -1 for variable ones. */
static inline int fixed_width(uint8_t tag) {
    switch (tag) {
    case SPOOKY_NULL: return 0;
    case SPOOKY_BOOL: return 1;
    case SPOOKY_I64:
    case SPOOKY_F64:
    case SPOOKY_U64: return 8;
    default: return -1;
    }
}

/* Length of the valid UTF-8 sequence at p (RFC 3629), or 0 if invalid. */
static inline size_t utf8_seq(const uint8_t *p, const uint8_t *end) {
    uint8_t c = p[0];
    size_t avail = (size_t)(end - p);
    if (c >= 0xc2 && c <= 0xdf) {
        return (avail >= 2 && (p[1] & 0xc0) == 0x80) ? 2 : 0;
    }
    if (c >= 0xe0 && c <= 0xef) {
        if (avail < 3 || (p[2] & 0xc0) != 0x80) return 0;
        uint8_t lo = 0x80, hi = 0xbf;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f; /* no UTF-16 surrogates */
        return (p[1] >= lo && p[1] <= hi) ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (avail < 4 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80) return 0;
        uint8_t lo = 0x80, hi = 0xbf;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
        return (p[1] >= lo && p[1] <= hi) ? 4 : 0;
    }
    return 0;
}

/* Whether the n bytes at p are valid UTF-8. */
static inline int valid_utf8(const uint8_t *p, size_t n) {
    const uint8_t *end = p + n;
    while (p < end) {
        if (*p < 0x80) {
            p++;
            continue;
        }
        size_t k = utf8_seq(p, end);
        if (!k) return 0;
        p += k;
    }
    return 1;
}

/* Byte order: memcmp, then the shorter first. The order of sort-form keys
 * (keys.h) and of canonical CBOR map keys. */
static inline int bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
    size_t n = an < bn ? an : bn;
    int c = n ? memcmp(a, b, n) : 0;
    if (c) return c;
    return an < bn ? -1 : an > bn ? 1 : 0;
}

/* Streaming xxh64 (xxh64.c). */
typedef struct {
    uint64_t v[4], seed, total;
    uint8_t mem[32];
    size_t fill;
} xxh64_state;
void xxh64_init(xxh64_state *s, uint64_t seed);
void xxh64_update(xxh64_state *s, const uint8_t *p, size_t len);
uint64_t xxh64_digest(const xxh64_state *s);

/* tojson.c: reading canonical CBOR. A head at *p (major type, additional
 * info, argument; *p moves past it), and one whole item skipped. Both check
 * every length against end. */
int cbor_read_head(const uint8_t **p, const uint8_t *end, uint8_t *major, uint8_t *ai,
                   uint64_t *arg);
int cbor_skip_item(const uint8_t **p, const uint8_t *end);

#define ENTRY(rec, i) ((rec) + SPOOKY_HEADER_SIZE + (size_t)(i) * SPOOKY_INDEX_ENTRY_SIZE)

/* ---- shortest.c: float to text (added with the shortest-digits formatter) ---- */
/* Writes the shortest decimal text that reads back to exactly d (Python
 * repr() layout, always with a '.' or an exponent, valid JSON) to out, which
 * must hold SPOOKY_F64_TEXT_MAX bytes (the text is at most 24 long, the rest
 * is scratch); returns its length, or 0 if d is NaN or infinite. No
 * terminating NUL. Thread-safe. */
#define SPOOKY_F64_TEXT_MAX 48
size_t spooky_f64_shortest(double d, char *out);
/* ---- end shortest.c ---- */

/* layout.c: compact JSON text as tojson.c writes it, appended to out as
 * orjson writes it (floats: 1e-7, 0.00001; indent > 0: one value per line,
 * `indent` spaces per level, "key": value, empty [] and {} on one line; 0:
 * one line). No recursion. SPOOKY_E_ARG on unbalanced text. */
int json_layout(const uint8_t *in, size_t n, int indent, spooky_buf *out);

#endif
