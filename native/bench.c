/* bench.c: benchmark kernels of the spooky C core.
 *
 * Each kernel runs its operations in a plain C loop so that the numbers
 * measure the core, not the Python/cffi call overhead. Only the public API of
 * spooky.h is used; the core functions live in other translation units, so
 * (without LTO) the compiler cannot hoist a by-name lookup out of a loop.
 *
 * Timing: clock_gettime(CLOCK_MONOTONIC) around the loop only; setup (slot
 * resolution for the field kernel, encoder creation, input checks) happens
 * before the clock starts.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t f64_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* ---- field access ------------------------------------------------------ */

static int bench_get_i64(uint8_t *rec, size_t len, const uint8_t *name,
                         size_t name_len, int use_slot, uint64_t iters,
                         uint64_t *elapsed_ns, uint64_t *sink)
{
    spooky_slot slot;
    int64_t v = 0;
    uint64_t acc = 0, t0, t1, i;
    int rc;

    if (use_slot) {
        rc = spooky_record_resolve(rec, len, name, name_len, &slot);
        if (rc != SPOOKY_OK)
            return rc;
        rc = spooky_get_i64_at(rec, len, &slot, &v);
        if (rc != SPOOKY_OK)
            return rc;
        t0 = now_ns();
        for (i = 0; i < iters; i++) {
            rc = spooky_get_i64_at(rec, len, &slot, &v);
            if (rc != SPOOKY_OK)
                return rc;
            acc += (uint64_t)v;
        }
        t1 = now_ns();
    } else {
        rc = spooky_get_i64(rec, len, name, name_len, &v);
        if (rc != SPOOKY_OK)
            return rc;
        t0 = now_ns();
        for (i = 0; i < iters; i++) {
            rc = spooky_get_i64(rec, len, name, name_len, &v);
            if (rc != SPOOKY_OK)
                return rc;
            acc += (uint64_t)v;
        }
        t1 = now_ns();
    }
    *elapsed_ns = t1 - t0;
    *sink += acc;
    return SPOOKY_OK;
}

static int bench_get_str(uint8_t *rec, size_t len, const uint8_t *name,
                         size_t name_len, int use_slot, uint64_t iters,
                         uint64_t *elapsed_ns, uint64_t *sink)
{
    spooky_slot slot;
    const uint8_t *s = NULL;
    size_t sl = 0;
    uint64_t acc = 0, t0, t1, i;
    int rc;

    if (use_slot) {
        rc = spooky_record_resolve(rec, len, name, name_len, &slot);
        if (rc != SPOOKY_OK)
            return rc;
        rc = spooky_get_str_at(rec, len, &slot, &s, &sl);
        if (rc != SPOOKY_OK)
            return rc;
        t0 = now_ns();
        for (i = 0; i < iters; i++) {
            rc = spooky_get_str_at(rec, len, &slot, &s, &sl);
            if (rc != SPOOKY_OK)
                return rc;
            acc += (uint64_t)sl + (uint64_t)(uintptr_t)s;
        }
        t1 = now_ns();
    } else {
        rc = spooky_get_str(rec, len, name, name_len, &s, &sl);
        if (rc != SPOOKY_OK)
            return rc;
        t0 = now_ns();
        for (i = 0; i < iters; i++) {
            rc = spooky_get_str(rec, len, name, name_len, &s, &sl);
            if (rc != SPOOKY_OK)
                return rc;
            acc += (uint64_t)sl + (uint64_t)(uintptr_t)s;
        }
        t1 = now_ns();
    }
    *elapsed_ns = t1 - t0;
    *sink += acc;
    return SPOOKY_OK;
}

static int bench_get_bool(uint8_t *rec, size_t len, const uint8_t *name,
                          size_t name_len, int use_slot, uint64_t iters,
                          uint64_t *elapsed_ns, uint64_t *sink)
{
    spooky_slot slot;
    int v = 0;
    uint64_t acc = 0, t0, t1, i;
    int rc;

    if (use_slot) {
        rc = spooky_record_resolve(rec, len, name, name_len, &slot);
        if (rc != SPOOKY_OK)
            return rc;
        rc = spooky_get_bool_at(rec, len, &slot, &v);
        if (rc != SPOOKY_OK)
            return rc;
        t0 = now_ns();
        for (i = 0; i < iters; i++) {
            rc = spooky_get_bool_at(rec, len, &slot, &v);
            if (rc != SPOOKY_OK)
                return rc;
            acc += (uint64_t)v + 1;
        }
        t1 = now_ns();
    } else {
        rc = spooky_get_bool(rec, len, name, name_len, &v);
        if (rc != SPOOKY_OK)
            return rc;
        t0 = now_ns();
        for (i = 0; i < iters; i++) {
            rc = spooky_get_bool(rec, len, name, name_len, &v);
            if (rc != SPOOKY_OK)
                return rc;
            acc += (uint64_t)v + 1;
        }
        t1 = now_ns();
    }
    *elapsed_ns = t1 - t0;
    *sink += acc;
    return SPOOKY_OK;
}

static int bench_get_f64(uint8_t *rec, size_t len, const uint8_t *name,
                         size_t name_len, int use_slot, uint64_t iters,
                         uint64_t *elapsed_ns, uint64_t *sink)
{
    spooky_slot slot;
    double v = 0.0;
    uint64_t acc = 0, t0, t1, i;
    int rc;

    if (use_slot) {
        rc = spooky_record_resolve(rec, len, name, name_len, &slot);
        if (rc != SPOOKY_OK)
            return rc;
        rc = spooky_get_f64_at(rec, len, &slot, &v);
        if (rc != SPOOKY_OK)
            return rc;
        t0 = now_ns();
        for (i = 0; i < iters; i++) {
            rc = spooky_get_f64_at(rec, len, &slot, &v);
            if (rc != SPOOKY_OK)
                return rc;
            acc += f64_bits(v);
        }
        t1 = now_ns();
    } else {
        rc = spooky_get_f64(rec, len, name, name_len, &v);
        if (rc != SPOOKY_OK)
            return rc;
        t0 = now_ns();
        for (i = 0; i < iters; i++) {
            rc = spooky_get_f64(rec, len, name, name_len, &v);
            if (rc != SPOOKY_OK)
                return rc;
            acc += f64_bits(v);
        }
        t1 = now_ns();
    }
    *elapsed_ns = t1 - t0;
    *sink += acc;
    return SPOOKY_OK;
}

/* Writes v ^ (i & 1): the value alternates, so no write can be folded or
 * hoisted; the original value is written back after the clock stops. */
static int bench_set_i64(uint8_t *rec, size_t len, const uint8_t *name,
                         size_t name_len, int use_slot, uint64_t iters,
                         uint64_t *elapsed_ns, uint64_t *sink)
{
    spooky_slot slot;
    int64_t v = 0;
    uint64_t acc = 0, t0, t1, i;
    int rc;

    rc = spooky_get_i64(rec, len, name, name_len, &v);
    if (rc != SPOOKY_OK)
        return rc;
    if (use_slot) {
        rc = spooky_record_resolve(rec, len, name, name_len, &slot);
        if (rc != SPOOKY_OK)
            return rc;
        t0 = now_ns();
        for (i = 0; i < iters; i++) {
            int64_t w = v ^ (int64_t)(i & 1);
            rc = spooky_set_i64_at(rec, len, &slot, w);
            if (rc != SPOOKY_OK)
                goto restore;
            acc += (uint64_t)w;
        }
        t1 = now_ns();
    } else {
        t0 = now_ns();
        for (i = 0; i < iters; i++) {
            int64_t w = v ^ (int64_t)(i & 1);
            rc = spooky_set_i64(rec, len, name, name_len, w);
            if (rc != SPOOKY_OK)
                goto restore;
            acc += (uint64_t)w;
        }
        t1 = now_ns();
    }
    rc = spooky_set_i64(rec, len, name, name_len, v);
    if (rc != SPOOKY_OK)
        return rc;
    *elapsed_ns = t1 - t0;
    *sink += acc;
    return SPOOKY_OK;

restore:
    (void)spooky_set_i64(rec, len, name, name_len, v);
    return rc;
}

/* Same-length string write. Alternates between the original bytes and a
 * variant whose first byte, if ASCII, has its low bit flipped (still valid
 * UTF-8 of the same length). By name = resolve + write each iteration. */
static int bench_set_str(uint8_t *rec, size_t len, const uint8_t *name,
                         size_t name_len, int use_slot, uint64_t iters,
                         uint64_t *elapsed_ns, uint64_t *sink)
{
    spooky_slot slot;
    const uint8_t *s = NULL;
    size_t sl = 0;
    uint8_t *orig, *alt;
    const uint8_t *vals[2];
    uint64_t acc = 0, t0, t1, i;
    int rc;

    rc = spooky_record_resolve(rec, len, name, name_len, &slot);
    if (rc != SPOOKY_OK)
        return rc;
    rc = spooky_get_str_at(rec, len, &slot, &s, &sl);
    if (rc != SPOOKY_OK)
        return rc;
    /* s points into rec, which the loop overwrites: keep copies. */
    orig = malloc(2 * sl + 2);
    if (orig == NULL)
        return SPOOKY_E_NOMEM;
    alt = orig + sl + 1;
    if (sl > 0)
        memcpy(orig, s, sl);
    if (sl > 0)
        memcpy(alt, s, sl);
    if (sl > 0 && alt[0] < 0x80)
        alt[0] ^= 1;
    vals[0] = orig;
    vals[1] = alt;

    if (use_slot) {
        t0 = now_ns();
        for (i = 0; i < iters; i++) {
            rc = spooky_set_bytes_at(rec, len, &slot, vals[i & 1], sl);
            if (rc != SPOOKY_OK)
                goto restore;
            acc += sl + (i & 1);
        }
        t1 = now_ns();
    } else {
        t0 = now_ns();
        for (i = 0; i < iters; i++) {
            spooky_slot s2;
            rc = spooky_record_resolve(rec, len, name, name_len, &s2);
            if (rc != SPOOKY_OK)
                goto restore;
            rc = spooky_set_bytes_at(rec, len, &s2, vals[i & 1], sl);
            if (rc != SPOOKY_OK)
                goto restore;
            acc += sl + (i & 1);
        }
        t1 = now_ns();
    }
    rc = spooky_set_bytes_at(rec, len, &slot, orig, sl);
    free(orig);
    if (rc != SPOOKY_OK)
        return rc;
    *elapsed_ns = t1 - t0;
    *sink += acc;
    return SPOOKY_OK;

restore:
    (void)spooky_set_bytes_at(rec, len, &slot, orig, sl);
    free(orig);
    return rc;
}

int spooky_bench_field(uint8_t *rec, size_t len, const uint8_t *name,
                       size_t name_len, int op, int use_slot, uint64_t iters,
                       uint64_t *elapsed_ns, uint64_t *sink)
{
    int rc;

    if (rec == NULL || (name == NULL && name_len > 0) || elapsed_ns == NULL ||
        sink == NULL)
        return SPOOKY_E_ARG;
    rc = spooky_record_validate(rec, len);
    if (rc != SPOOKY_OK)
        return rc;
    switch (op) {
    case SPOOKY_BENCH_GET_I64:
        return bench_get_i64(rec, len, name, name_len, use_slot, iters,
                             elapsed_ns, sink);
    case SPOOKY_BENCH_GET_STR:
        return bench_get_str(rec, len, name, name_len, use_slot, iters,
                             elapsed_ns, sink);
    case SPOOKY_BENCH_GET_BOOL:
        return bench_get_bool(rec, len, name, name_len, use_slot, iters,
                              elapsed_ns, sink);
    case SPOOKY_BENCH_GET_F64:
        return bench_get_f64(rec, len, name, name_len, use_slot, iters,
                             elapsed_ns, sink);
    case SPOOKY_BENCH_SET_I64:
        return bench_set_i64(rec, len, name, name_len, use_slot, iters,
                             elapsed_ns, sink);
    case SPOOKY_BENCH_SET_STR:
        return bench_set_str(rec, len, name, name_len, use_slot, iters,
                             elapsed_ns, sink);
    default:
        return SPOOKY_E_ARG;
    }
}

/* ---- serialization ----------------------------------------------------- */

int spooky_bench_serialize(const uint8_t *json, const size_t *offsets, size_t n,
                           int reuse, uint64_t *elapsed_ns, uint64_t *sink)
{
    spooky_encoder *enc;
    spooky_error err;
    uint64_t acc = 0, t0, t1;
    size_t i;
    int rc = SPOOKY_OK;

    if ((json == NULL && n > 0) || offsets == NULL || elapsed_ns == NULL ||
        sink == NULL)
        return SPOOKY_E_ARG;
    for (i = 0; i < n; i++)
        if (offsets[i + 1] < offsets[i])
            return SPOOKY_E_ARG;
    enc = spooky_encoder_new();
    if (enc == NULL)
        return SPOOKY_E_NOMEM;
    memset(&err, 0, sizeof err);

    if (reuse) {
        spooky_buf buf = {0};
        t0 = now_ns();
        for (i = 0; i < n; i++) {
            rc = spooky_encode_record(enc, json + offsets[i],
                                      offsets[i + 1] - offsets[i], &buf, &err);
            if (rc != SPOOKY_OK)
                break;
            acc += buf.len;
        }
        t1 = now_ns();
        spooky_buf_free(&buf);
    } else {
        t0 = now_ns();
        for (i = 0; i < n; i++) {
            spooky_buf buf = {0}; /* capacity 0: grows like a fresh Vec */
            rc = spooky_encode_record(enc, json + offsets[i],
                                      offsets[i + 1] - offsets[i], &buf, &err);
            acc += buf.len;
            spooky_buf_free(&buf);
            if (rc != SPOOKY_OK)
                break;
        }
        t1 = now_ns();
    }
    spooky_encoder_free(enc);
    if (rc != SPOOKY_OK)
        return rc;
    *elapsed_ns = t1 - t0;
    *sink += acc;
    return SPOOKY_OK;
}

/* ---- change detection -------------------------------------------------- */

static const uint8_t VERSION_NAME[] = "version";
static const uint8_t HASH_NAME[] = "content_hash";
#define VERSION_LEN (sizeof VERSION_NAME - 1)
#define HASH_LEN (sizeof HASH_NAME - 1)

int spooky_bench_change_detection(const uint8_t *old_recs,
                                  const size_t *old_offsets,
                                  const uint8_t *new_recs,
                                  const size_t *new_offsets, size_t n,
                                  int use_slot, uint64_t *elapsed_ns,
                                  uint64_t *changed)
{
    uint64_t count = 0, t0, t1;
    size_t i;
    int rc;

    if (((old_recs == NULL || new_recs == NULL) && n > 0) ||
        old_offsets == NULL || new_offsets == NULL || elapsed_ns == NULL ||
        changed == NULL)
        return SPOOKY_E_ARG;
    for (i = 0; i < n; i++) {
        if (old_offsets[i + 1] < old_offsets[i] ||
            new_offsets[i + 1] < new_offsets[i])
            return SPOOKY_E_ARG;
    }
    if (n == 0) {
        *elapsed_ns = 0;
        *changed = 0;
        return SPOOKY_OK;
    }

    if (use_slot) {
        spooky_slot ver, hash;
        /* Resolution is part of the measured cost (once per batch). */
        t0 = now_ns();
        rc = spooky_record_resolve(old_recs + old_offsets[0],
                                   old_offsets[1] - old_offsets[0],
                                   VERSION_NAME, VERSION_LEN, &ver);
        if (rc != SPOOKY_OK)
            return rc;
        rc = spooky_record_resolve(old_recs + old_offsets[0],
                                   old_offsets[1] - old_offsets[0],
                                   HASH_NAME, HASH_LEN, &hash);
        if (rc != SPOOKY_OK)
            return rc;
        for (i = 0; i < n; i++) {
            const uint8_t *o = old_recs + old_offsets[i];
            size_t ol = old_offsets[i + 1] - old_offsets[i];
            const uint8_t *w = new_recs + new_offsets[i];
            size_t wl = new_offsets[i + 1] - new_offsets[i];
            spooky_slot sv, sh;
            int64_t vo, vn;
            uint64_t ho, hn;

            sv = ver;
            sh = hash;
            if ((rc = spooky_slot_refresh(o, ol, &sv)) != SPOOKY_OK ||
                (rc = spooky_slot_refresh(o, ol, &sh)) != SPOOKY_OK ||
                (rc = spooky_get_i64_at(o, ol, &sv, &vo)) != SPOOKY_OK ||
                (rc = spooky_get_u64_at(o, ol, &sh, &ho)) != SPOOKY_OK)
                return rc;
            sv = ver;
            sh = hash;
            if ((rc = spooky_slot_refresh(w, wl, &sv)) != SPOOKY_OK ||
                (rc = spooky_slot_refresh(w, wl, &sh)) != SPOOKY_OK ||
                (rc = spooky_get_i64_at(w, wl, &sv, &vn)) != SPOOKY_OK ||
                (rc = spooky_get_u64_at(w, wl, &sh, &hn)) != SPOOKY_OK)
                return rc;
            count += (vo != vn) | (ho != hn);
        }
        t1 = now_ns();
    } else {
        t0 = now_ns();
        for (i = 0; i < n; i++) {
            const uint8_t *o = old_recs + old_offsets[i];
            size_t ol = old_offsets[i + 1] - old_offsets[i];
            const uint8_t *w = new_recs + new_offsets[i];
            size_t wl = new_offsets[i + 1] - new_offsets[i];
            int64_t vo, vn;
            uint64_t ho, hn;

            if ((rc = spooky_get_i64(o, ol, VERSION_NAME, VERSION_LEN, &vo)) !=
                    SPOOKY_OK ||
                (rc = spooky_get_u64(o, ol, HASH_NAME, HASH_LEN, &ho)) !=
                    SPOOKY_OK ||
                (rc = spooky_get_i64(w, wl, VERSION_NAME, VERSION_LEN, &vn)) !=
                    SPOOKY_OK ||
                (rc = spooky_get_u64(w, wl, HASH_NAME, HASH_LEN, &hn)) !=
                    SPOOKY_OK)
                return rc;
            count += (vo != vn) | (ho != hn);
        }
        t1 = now_ns();
    }
    *elapsed_ns = t1 - t0;
    *changed = count;
    return SPOOKY_OK;
}
