/* bench.c: benchmark kernels of the spooky C core.
 *
 * Each kernel runs its operations in a plain C loop so that the numbers
 * measure the core, not the Python/cffi call overhead. Only the public API of
 * spooky.h is used; the core functions live in other translation units, so
 * (without LTO) the compiler cannot hoist a by-name lookup out of a loop.
 *
 * Timing: clock_gettime(CLOCK_MONOTONIC) around the loop only (TIMED_LOOP);
 * setup (slot resolution for the field kernels, encoder creation, input
 * checks, one untimed call) happens before the clock starts.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Runs CALL (a status) for i = 0 .. iters-1 between t0 and t1, adding FOLD
 * (a value derived from the result) to acc; the first failure stops it with
 * rc set. The loop is spelled out at each use, so no call is indirect. */
#define TIMED_LOOP(CALL, FOLD)                                                                     \
    do {                                                                                           \
        rc = SPOOKY_OK;                                                                            \
        t0 = now_ns();                                                                             \
        for (i = 0; i < iters; i++) {                                                              \
            if ((rc = (CALL)) != SPOOKY_OK) break;                                                 \
            acc += (uint64_t)(FOLD);                                                               \
        }                                                                                          \
        t1 = now_ns();                                                                             \
    } while (0)

/* ---- field access ------------------------------------------------------ */

/* A string read as one value, so that every get kernel has one shape. */
typedef struct {
    const uint8_t *s;
    size_t n;
} str_value;

static inline int get_str_at(const uint8_t *rec, size_t len, const spooky_slot *slot,
                             str_value *v) {
    return spooky_get_str_at(rec, len, slot, &v->s, &v->n);
}

static inline int get_str(const uint8_t *rec, size_t len, const uint8_t *name, size_t name_len,
                          str_value *v) {
    return spooky_get_str(rec, len, name, name_len, &v->s, &v->n);
}

static inline uint64_t f64_bits(double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* A get kernel: values of type T through a slot (GET_AT) or by name (GET),
 * each folded into the sink by FOLD(v). The first read is untimed, so that
 * a missing field or another type fails before the clock starts. */
#define BENCH_GET(fn, T, GET_AT, GET, FOLD)                                                        \
    static int fn(uint8_t *rec, size_t len, const uint8_t *name, size_t name_len, int use_slot,    \
                  uint64_t iters, uint64_t *elapsed_ns, uint64_t *sink) {                          \
        spooky_slot slot;                                                                          \
        T v;                                                                                       \
        uint64_t acc = 0, t0, t1, i;                                                               \
        int rc;                                                                                    \
        memset(&v, 0, sizeof v);                                                                   \
        if (use_slot) {                                                                            \
            if ((rc = spooky_record_resolve(rec, len, name, name_len, &slot)) != SPOOKY_OK)        \
                return rc;                                                                         \
            if ((rc = GET_AT(rec, len, &slot, &v)) != SPOOKY_OK) return rc;                        \
            TIMED_LOOP(GET_AT(rec, len, &slot, &v), FOLD(v));                                      \
        } else {                                                                                   \
            if ((rc = GET(rec, len, name, name_len, &v)) != SPOOKY_OK) return rc;                  \
            TIMED_LOOP(GET(rec, len, name, name_len, &v), FOLD(v));                                \
        }                                                                                          \
        if (rc != SPOOKY_OK) return rc;                                                            \
        *elapsed_ns = t1 - t0;                                                                     \
        *sink += acc;                                                                              \
        return SPOOKY_OK;                                                                          \
    }

#define FOLD_INT(v) (v)
#define FOLD_STR(v) ((uint64_t)(v).n + (uint64_t)(uintptr_t)(v).s)
#define FOLD_BOOL(v) ((v) + 1)
#define FOLD_F64(v) f64_bits(v)

BENCH_GET(bench_get_i64, int64_t, spooky_get_i64_at, spooky_get_i64, FOLD_INT)
BENCH_GET(bench_get_str, str_value, get_str_at, get_str, FOLD_STR)
BENCH_GET(bench_get_bool, int, spooky_get_bool_at, spooky_get_bool, FOLD_BOOL)
BENCH_GET(bench_get_f64, double, spooky_get_f64_at, spooky_get_f64, FOLD_F64)

/* Writes v ^ (i & 1): the value alternates, so no write can be folded or
 * hoisted; the original value is written back after the clock stops. */
static int bench_set_i64(uint8_t *rec, size_t len, const uint8_t *name, size_t name_len,
                         int use_slot, uint64_t iters, uint64_t *elapsed_ns, uint64_t *sink) {
    spooky_slot slot;
    int64_t v = 0;
    uint64_t acc = 0, t0, t1, i;
    int rc;

    if ((rc = spooky_get_i64(rec, len, name, name_len, &v)) != SPOOKY_OK) return rc;
    if (use_slot) {
        if ((rc = spooky_record_resolve(rec, len, name, name_len, &slot)) != SPOOKY_OK) return rc;
        TIMED_LOOP(spooky_set_i64_at(rec, len, &slot, v ^ (int64_t)(i & 1)), v ^ (int64_t)(i & 1));
    } else {
        TIMED_LOOP(spooky_set_i64(rec, len, name, name_len, v ^ (int64_t)(i & 1)),
                   v ^ (int64_t)(i & 1));
    }
    int restored = spooky_set_i64(rec, len, name, name_len, v);
    if (rc != SPOOKY_OK) return rc;
    if (restored != SPOOKY_OK) return restored;
    *elapsed_ns = t1 - t0;
    *sink += acc;
    return SPOOKY_OK;
}

/* A same-length string write by name: resolve, then write. */
static inline int set_str_by_name(uint8_t *rec, size_t len, const uint8_t *name, size_t name_len,
                                  const uint8_t *value, size_t value_len) {
    spooky_slot slot;
    int rc = spooky_record_resolve(rec, len, name, name_len, &slot);
    return rc != SPOOKY_OK ? rc : spooky_set_bytes_at(rec, len, &slot, value, value_len);
}

/* Same-length string write. Alternates between the original bytes and a
 * variant whose first byte, if ASCII, has its low bit flipped (still valid
 * UTF-8 of the same length). By name = resolve + write each iteration. */
static int bench_set_str(uint8_t *rec, size_t len, const uint8_t *name, size_t name_len,
                         int use_slot, uint64_t iters, uint64_t *elapsed_ns, uint64_t *sink) {
    spooky_slot slot;
    const uint8_t *s = NULL;
    size_t sl = 0;
    const uint8_t *vals[2];
    uint64_t acc = 0, t0, t1, i;
    int rc;

    if ((rc = spooky_record_resolve(rec, len, name, name_len, &slot)) != SPOOKY_OK) return rc;
    if ((rc = spooky_get_str_at(rec, len, &slot, &s, &sl)) != SPOOKY_OK) return rc;
    /* s points into rec, which the loop overwrites: keep copies. */
    uint8_t *orig = malloc(2 * sl + 2);
    if (orig == NULL) return SPOOKY_E_NOMEM;
    uint8_t *alt = orig + sl + 1;
    if (sl > 0) {
        memcpy(orig, s, sl);
        memcpy(alt, s, sl);
        if (alt[0] < 0x80) alt[0] ^= 1;
    }
    vals[0] = orig;
    vals[1] = alt;

    if (use_slot)
        TIMED_LOOP(spooky_set_bytes_at(rec, len, &slot, vals[i & 1], sl), sl + (i & 1));
    else
        TIMED_LOOP(set_str_by_name(rec, len, name, name_len, vals[i & 1], sl), sl + (i & 1));
    int restored = spooky_set_bytes_at(rec, len, &slot, orig, sl);
    free(orig);
    if (rc != SPOOKY_OK) return rc;
    if (restored != SPOOKY_OK) return restored;
    *elapsed_ns = t1 - t0;
    *sink += acc;
    return SPOOKY_OK;
}

typedef int (*field_kernel)(uint8_t *rec, size_t len, const uint8_t *name, size_t name_len,
                            int use_slot, uint64_t iters, uint64_t *elapsed_ns, uint64_t *sink);

/* By spooky_bench_op. */
static const field_kernel FIELD_KERNELS[] = {
    [SPOOKY_BENCH_GET_I64] = bench_get_i64,   [SPOOKY_BENCH_GET_STR] = bench_get_str,
    [SPOOKY_BENCH_GET_BOOL] = bench_get_bool, [SPOOKY_BENCH_GET_F64] = bench_get_f64,
    [SPOOKY_BENCH_SET_I64] = bench_set_i64,   [SPOOKY_BENCH_SET_STR] = bench_set_str,
};

int spooky_bench_field(uint8_t *rec, size_t len, const uint8_t *name, size_t name_len, int op,
                       int use_slot, uint64_t iters, uint64_t *elapsed_ns, uint64_t *sink) {
    if (rec == NULL || (name == NULL && name_len > 0) || elapsed_ns == NULL || sink == NULL)
        return SPOOKY_E_ARG;
    int rc = spooky_record_validate(rec, len);
    if (rc != SPOOKY_OK) return rc;
    if (op < 0 || (size_t)op >= sizeof FIELD_KERNELS / sizeof *FIELD_KERNELS) return SPOOKY_E_ARG;
    return FIELD_KERNELS[op](rec, len, name, name_len, use_slot, iters, elapsed_ns, sink);
}

/* ---- serialization ----------------------------------------------------- */

int spooky_bench_serialize(const uint8_t *json, const size_t *offsets, size_t n, int reuse,
                           uint64_t *elapsed_ns, uint64_t *sink, uint64_t *allocs) {
    spooky_error err;
    uint64_t acc = 0, t0, t1, a0;
    size_t i;
    int rc = SPOOKY_OK;

    if ((json == NULL && n > 0) || offsets == NULL || elapsed_ns == NULL || sink == NULL ||
        allocs == NULL)
        return SPOOKY_E_ARG;
    for (i = 0; i < n; i++)
        if (offsets[i + 1] < offsets[i]) return SPOOKY_E_ARG;
    spooky_encoder *enc = spooky_encoder_new();
    if (enc == NULL) return SPOOKY_E_NOMEM;
    memset(&err, 0, sizeof err);

    /* untimed: the encoder's scratch (shared by both modes) and the reused
     * buffer reach their size, so the loop counts only the output's allocations */
    spooky_buf buf = {0};
    for (i = 0; i < n && rc == SPOOKY_OK; i++)
        rc = spooky_encode_record(enc, json + offsets[i], offsets[i + 1] - offsets[i], &buf, &err);
    if (!reuse) spooky_buf_free(&buf);

    a0 = spooky_test_thread_allocs();
    t0 = now_ns();
    if (reuse) {
        for (i = 0; i < n && rc == SPOOKY_OK; i++) {
            rc = spooky_encode_record(enc, json + offsets[i], offsets[i + 1] - offsets[i], &buf,
                                      &err);
            acc += buf.len;
        }
    } else {
        for (i = 0; i < n && rc == SPOOKY_OK; i++) {
            spooky_buf fresh = {0}; /* capacity 0: grows like a fresh Vec */
            rc = spooky_encode_record(enc, json + offsets[i], offsets[i + 1] - offsets[i], &fresh,
                                      &err);
            acc += fresh.len;
            spooky_buf_free(&fresh);
        }
    }
    t1 = now_ns();
    *allocs = spooky_test_thread_allocs() - a0;
    spooky_buf_free(&buf);
    spooky_encoder_free(enc);
    if (rc != SPOOKY_OK) return rc;
    *elapsed_ns = t1 - t0;
    *sink += acc;
    return SPOOKY_OK;
}

/* ---- change detection -------------------------------------------------- */

static const uint8_t VERSION_NAME[] = "version";
static const uint8_t HASH_NAME[] = "content_hash";
#define VERSION_LEN (sizeof VERSION_NAME - 1)
#define HASH_LEN (sizeof HASH_NAME - 1)

/* A record's `version` and `content_hash`: through copies of the slots
 * resolved on the first record (refreshed on this one), or by name. */
static inline int read_by_slots(const uint8_t *rec, size_t len, const spooky_slot *ver_slot,
                                const spooky_slot *hash_slot, int64_t *v, uint64_t *h) {
    spooky_slot ver = *ver_slot, hash = *hash_slot;
    int rc;
    if ((rc = spooky_slot_refresh(rec, len, &ver)) != SPOOKY_OK ||
        (rc = spooky_slot_refresh(rec, len, &hash)) != SPOOKY_OK ||
        (rc = spooky_get_i64_at(rec, len, &ver, v)) != SPOOKY_OK)
        return rc;
    return spooky_get_u64_at(rec, len, &hash, h);
}

static inline int read_by_name(const uint8_t *rec, size_t len, const spooky_slot *unused_ver,
                               const spooky_slot *unused_hash, int64_t *v, uint64_t *h) {
    int rc = spooky_get_i64(rec, len, VERSION_NAME, VERSION_LEN, v);
    return rc != SPOOKY_OK ? rc : spooky_get_u64(rec, len, HASH_NAME, HASH_LEN, h);
}

/* The loop of spooky_bench_change_detection (its locals), spelled out per
 * reader so that no call is indirect: counts the pairs whose version or hash
 * differ, READ(rec, len, &ver, &hash, &v, &h) reading each record. */
#define COUNT_CHANGES(READ)                                                                        \
    for (i = 0; i < n; i++) {                                                                      \
        const uint8_t *o = old_recs + old_offsets[i], *w = new_recs + new_offsets[i];              \
        int64_t vo, vn;                                                                            \
        uint64_t ho, hn;                                                                           \
        if ((rc = READ(o, old_offsets[i + 1] - old_offsets[i], &ver, &hash, &vo, &ho)) ||          \
            (rc = READ(w, new_offsets[i + 1] - new_offsets[i], &ver, &hash, &vn, &hn)))            \
            return rc;                                                                             \
        count += (vo != vn) | (ho != hn);                                                          \
    }

int spooky_bench_change_detection(const uint8_t *old_recs, const size_t *old_offsets,
                                  const uint8_t *new_recs, const size_t *new_offsets, size_t n,
                                  int use_slot, uint64_t *elapsed_ns, uint64_t *changed) {
    uint64_t count = 0, t0, t1;
    spooky_slot ver, hash;
    size_t i;
    int rc;

    if (((old_recs == NULL || new_recs == NULL) && n > 0) || old_offsets == NULL ||
        new_offsets == NULL || elapsed_ns == NULL || changed == NULL)
        return SPOOKY_E_ARG;
    for (i = 0; i < n; i++)
        if (old_offsets[i + 1] < old_offsets[i] || new_offsets[i + 1] < new_offsets[i])
            return SPOOKY_E_ARG;
    if (n == 0) {
        *elapsed_ns = 0;
        *changed = 0;
        return SPOOKY_OK;
    }

    t0 = now_ns();
    if (use_slot) { /* resolution is part of the measured cost (once per batch) */
        const uint8_t *first = old_recs + old_offsets[0];
        size_t first_len = old_offsets[1] - old_offsets[0];
        if ((rc = spooky_record_resolve(first, first_len, VERSION_NAME, VERSION_LEN, &ver)) !=
                SPOOKY_OK ||
            (rc = spooky_record_resolve(first, first_len, HASH_NAME, HASH_LEN, &hash)) != SPOOKY_OK)
            return rc;
        COUNT_CHANGES(read_by_slots)
    } else {
        COUNT_CHANGES(read_by_name)
    }
    t1 = now_ns();
    *elapsed_ns = t1 - t0;
    *changed = count;
    return SPOOKY_OK;
}
