/* path.c: paths into nested (CBOR) values (path.h): a step below an item,
 * an item as a value, and the value a path leads to in a record. */
#include <math.h>
#include "path.h"

/* Decimal digits as an index (1 when they are), without overflow. */
static int as_index(const uint8_t *s, uint32_t n, uint64_t *out) {
    if (n == 0 || n > 19 || (n > 1 && s[0] == '0')) return 0;
    uint64_t v = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 1;
}

int path_step(const uint8_t **p, const uint8_t **end, const uint8_t *key, uint32_t key_len) {
    const uint8_t *q = *p;
    uint8_t major, ai;
    uint64_t n, index;
    int rc = cbor_read_head(&q, *end, &major, &ai, &n);
    if (rc) return -rc;
    if (major == 4) {
        if (!as_index(key, key_len, &index) || index >= n) return 0;
        for (uint64_t i = 0; i < index; i++)
            if ((rc = cbor_skip_item(&q, *end))) return -rc;
    } else if (major == 5) {
        uint64_t i = 0;
        for (; i < n; i++) {
            const uint8_t *k = q;
            uint8_t kmajor, kai;
            uint64_t klen;
            if ((rc = cbor_read_head(&k, *end, &kmajor, &kai, &klen))) return -rc;
            if (kmajor == 3 && klen <= (uint64_t)(*end - k) && klen == key_len &&
                memcmp(k, key, key_len) == 0) {
                q = k + klen;
                break;
            }
            if ((rc = cbor_skip_item(&q, *end)) || (rc = cbor_skip_item(&q, *end)))
                return -rc; /* key, value */
        }
        if (i == n) return 0;
    } else {
        return 0; /* a scalar has nothing below it */
    }
    const uint8_t *start = q;
    if ((rc = cbor_skip_item(&q, *end))) return -rc;
    *p = start;
    *end = q;
    return 1;
}

int path_item_value(const uint8_t *p, const uint8_t *end, path_value *x) {
    const uint8_t *q = p;
    uint8_t major, ai;
    uint64_t arg;
    TRY(cbor_read_head(&q, end, &major, &ai, &arg));
    x->v = x->scratch;
    x->len = 8;
    switch (major) {
    case 0:
        x->tag = arg > INT64_MAX ? SPOOKY_U64 : SPOOKY_I64;
        store_u64(x->scratch, arg);
        return SPOOKY_OK;
    case 1:
        if (arg <= INT64_MAX) {
            x->tag = SPOOKY_I64;
            store_u64(x->scratch, (uint64_t)(-1 - (int64_t)arg));
        } else {
            double d = -1.0 - (double)arg;
            x->tag = SPOOKY_F64;
            memcpy(x->scratch, &d, 8);
        }
        return SPOOKY_OK;
    case 3:
        if (arg > (uint64_t)(end - q)) return SPOOKY_E_CBOR_INVALID;
        x->tag = SPOOKY_STR;
        x->v = q;
        x->len = (uint32_t)arg;
        return SPOOKY_OK;
    case 4:
    case 5:
        x->tag = SPOOKY_NESTED;
        x->v = p;
        x->len = (uint32_t)(end - p);
        return SPOOKY_OK;
    case 7: {
        double d;
        if (ai == 20 || ai == 21) {
            x->tag = SPOOKY_BOOL;
            x->scratch[0] = ai == 21;
            x->len = 1;
            return SPOOKY_OK;
        }
        if (ai == 22) {
            x->tag = SPOOKY_NULL;
            x->len = 0;
            return SPOOKY_OK;
        }
        if (ai == 25) {
            int e = (int)(arg >> 10) & 0x1f;
            double m = (double)(arg & 0x3ff);
            d = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m + 1024, e - 25);
            if (arg & 0x8000) d = -d;
        } else if (ai == 26) {
            uint32_t bits = (uint32_t)arg;
            float f;
            memcpy(&f, &bits, 4);
            d = f;
        } else if (ai == 27) {
            memcpy(&d, &arg, 8);
        } else {
            return SPOOKY_E_NOT_JSON;
        }
        x->tag = SPOOKY_F64;
        memcpy(x->scratch, &d, 8);
        return SPOOKY_OK;
    }
    default: return SPOOKY_E_NOT_JSON; /* byte strings, tags: no JSON value */
    }
}

int path_value_of(const uint8_t *rec, const spooky_slot *s, const uint8_t *path, size_t path_len,
                  path_value *x, int *found) {
    *found = 0;
    if (!s) return SPOOKY_OK;
    if (!path_len) {
        x->tag = s->tag;
        x->v = rec + s->offset;
        x->len = s->length;
        *found = 1;
        return SPOOKY_OK;
    }
    if (s->tag != SPOOKY_NESTED) return SPOOKY_OK;
    const uint8_t *at = rec + s->offset, *end = at + s->length;
    for (size_t k = 0; k < path_len;) {
        uint32_t n = load_u32(path + k); /* well formed: the caller checked */
        int got = path_step(&at, &end, path + k + 4, n);
        if (got < 0) return -got;
        if (!got) return SPOOKY_OK;
        k += 4 + (size_t)n;
    }
    TRY(path_item_value(at, end, x));
    *found = 1;
    return SPOOKY_OK;
}

int path_well_formed(const uint8_t *path, size_t path_len) {
    if (!path && path_len) return 0;
    for (size_t k = 0; k < path_len;) {
        if (path_len - k < 4 || load_u32(path + k) > path_len - k - 4) return 0;
        k += 4 + (size_t)load_u32(path + k);
    }
    return 1;
}
