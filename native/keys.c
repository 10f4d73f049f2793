/* keys.c: record keys in their sort form (keys.h): a key value to its sort
 * form, a stored sort form back to the value or to JSON, and the two entry
 * points Python calls (spooky_key_sort_form, spooky_key_to_json). */
#include "keys.h"
#include "path.h"

#define FLIP 0x8000000000000000ULL /* i64: negative keys first */

int key_form_of(uint8_t tag, const uint8_t *value, size_t len, key_form *k) {
    k->rest = NULL;
    k->rest_len = 0;
    switch (tag) {
    case SPOOKY_I64:
    case SPOOKY_U64: {
        if (len != 8) return SPOOKY_E_ARG;
        uint64_t v = load_u64(value) ^ (tag == SPOOKY_I64 ? FLIP : 0);
        k->head[0] = tag == SPOOKY_I64 ? KEY_KIND_I64 : KEY_KIND_U64;
        for (int i = 0; i < 8; i++) k->head[1 + i] = (uint8_t)(v >> (56 - 8 * i));
        k->head_len = 9;
        return SPOOKY_OK;
    }
    case SPOOKY_STR:
        k->head[0] = KEY_KIND_STR;
        k->head_len = 1;
        k->rest = value;
        k->rest_len = len;
        return SPOOKY_OK;
    default: return SPOOKY_E_KEY_TYPE;
    }
}

int key_form_equals(const key_form *k, const uint8_t *key, size_t n) {
    return n == key_form_len(k) && (k->head_len == 0 || memcmp(key, k->head, k->head_len) == 0) &&
           (k->rest_len == 0 || memcmp(key + k->head_len, k->rest, k->rest_len) == 0);
}

int key_form_append(const key_form *k, spooky_buf *out) {
    TRY(buf_grow(out, key_form_len(k)));
    TRY(buf_append(out, k->head, k->head_len));
    return buf_append(out, k->rest, k->rest_len);
}

int key_part_append(uint8_t tag, const uint8_t *value, size_t len, int composite, spooky_buf *out) {
    key_form k;
    TRY(key_form_of(tag, value, len, &k));
    if (!composite || tag != SPOOKY_STR) return key_form_append(&k, out);
    /* a string part: its 0x00 bytes escaped, then the end */
    TRY(buf_grow(out, len + 2));
    TRY(buf_push(out, KEY_KIND_STR));
    for (const uint8_t *s = value, *end = value + len; s < end;) {
        const uint8_t *zero = memchr(s, 0, (size_t)(end - s));
        if (!zero) {
            TRY(buf_append(out, s, (size_t)(end - s)));
            break;
        }
        TRY(buf_append(out, s, (size_t)(zero - s) + 1));
        TRY(buf_push(out, KEY_STR_ESC));
        s = zero + 1;
    }
    return buf_push(out, KEY_STR_END);
}

int key_part_at(const uint8_t **p, const uint8_t *end, int composite, uint8_t scratch[8],
                uint8_t *tag, const uint8_t **value, size_t *len) {
    const uint8_t *q = *p;
    if (q >= end) return SPOOKY_E_ARG;
    uint8_t kind = *q++;
    if (kind == KEY_KIND_I64 || kind == KEY_KIND_U64) {
        if (end - q < 8) return SPOOKY_E_ARG;
        uint64_t v = 0;
        for (int i = 0; i < 8; i++) v = v << 8 | q[i];
        *tag = kind == KEY_KIND_I64 ? SPOOKY_I64 : SPOOKY_U64;
        store_u64(scratch, v ^ (kind == KEY_KIND_I64 ? FLIP : 0));
        *value = scratch;
        *len = 8;
        *p = q + 8;
        return SPOOKY_OK;
    }
    if (kind != KEY_KIND_STR) return SPOOKY_E_ARG;
    const uint8_t *stop = end;
    if (composite) { /* UTF-8 between the escapes (no UTF-8 sequence holds a 0x00) */
        const uint8_t *s = q;
        for (;;) {
            const uint8_t *zero = memchr(s, 0, (size_t)(end - s));
            if (!zero || !valid_utf8(s, (size_t)(zero - s))) return SPOOKY_E_ARG;
            if (end - zero > 1 && zero[1] == KEY_STR_ESC) {
                s = zero + 2;
                continue;
            }
            stop = zero;
            break;
        }
    } else if (!valid_utf8(q, (size_t)(end - q))) {
        return SPOOKY_E_ARG;
    }
    *tag = SPOOKY_STR;
    *value = q;
    *len = (size_t)(stop - q);
    *p = stop == end ? end : stop + 1;
    return SPOOKY_OK;
}

int key_unescape(const uint8_t *s, size_t n, spooky_buf *out) {
    TRY(buf_grow(out, n));
    for (const uint8_t *end = s + n; s < end;) {
        const uint8_t *zero = memchr(s, 0, (size_t)(end - s));
        if (!zero) return buf_append(out, s, (size_t)(end - s));
        TRY(buf_append(out, s, (size_t)(zero - s) + 1));
        s = zero + 2; /* past the escape: key_part_at found it there */
    }
    return SPOOKY_OK;
}

int key_well_formed(const uint8_t *key, size_t n, uint32_t parts) {
    const uint8_t *p = key, *end = key + n, *value;
    uint8_t scratch[8], tag;
    size_t len;
    if (parts == 0) return 0;
    for (uint32_t i = 0; i < parts; i++)
        if (key_part_at(&p, end, parts > 1, scratch, &tag, &value, &len)) return 0;
    return p == end;
}

/* ---- the key's parts -------------------------------------------------------------- */

void key_clear(spooky_key *k) {
    free(k->parts);
    spooky_buf_free(&k->section);
    memset(k, 0, sizeof *k);
}

int key_init(spooky_key *k, const uint8_t *section, size_t len, uint32_t parts, size_t *bad_at,
             const char **why) {
    memset(k, 0, sizeof *k);
    *bad_at = 0;
    *why = "no memory";
    if (parts == 0 || parts > len / 8) { /* a part takes at least 8 bytes */
        *why = parts ? "more key parts than the key section holds" : "the key has no parts";
        return SPOOKY_E_ARG;
    }
    if (buf_append(&k->section, section, len) || !(k->parts = calloc(parts, sizeof *k->parts))) {
        key_clear(k);
        return SPOOKY_E_NOMEM;
    }
    k->nparts = parts;
    const uint8_t *p = k->section.data;
    size_t at = 0;
    *why = NULL;
    for (uint32_t i = 0; i < parts && !*why; i++) {
        key_part *part = &k->parts[i];
        uint32_t steps = len - at >= 4 ? load_u32(p + at) : 0;
        *bad_at = at;
        if (len - at < 4) {
            *why = "key part runs past the key section";
            break;
        }
        if (steps == 0) {
            *why = "key part has no steps";
            break;
        }
        at += 4;
        for (uint32_t j = 0; j < steps; j++) {
            *bad_at = at;
            if (len - at < 4 || load_u32(p + at) > len - at - 4) {
                *why = "key step runs past the key section";
                break;
            }
            uint32_t n = load_u32(p + at);
            if (!valid_utf8(p + at + 4, n)) {
                *why = "key step is not UTF-8";
                break;
            }
            if (j == 0) part->hash = spooky_name_hash(p + at + 4, n);
            at += 4 + (size_t)n;
            if (j == 0) part->path = p + at;
        }
        if (!*why) part->path_len = (size_t)(p + at - part->path);
    }
    if (!*why && at != len) {
        *bad_at = at;
        *why = "bytes after the key's parts";
    }
    if (!*why) return SPOOKY_OK;
    key_clear(k);
    return SPOOKY_E_ARG;
}

int key_init_field(spooky_key *k, const uint8_t *name, size_t len) {
    spooky_buf section = {0};
    uint8_t head[8];
    size_t bad_at;
    const char *why;
    store_u32(head, 1);
    store_u32(head + 4, (uint32_t)len);
    int rc = buf_append(&section, head, 8);
    if (!rc) rc = buf_append(&section, name, len);
    if (!rc) rc = key_init(k, section.data, section.len, 1, &bad_at, &why);
    spooky_buf_free(&section);
    return rc;
}

/* The value key part p leads to in a valid record: an integer or a string. */
static int key_part_value(const uint8_t *rec, size_t len, const key_part *p, path_value *x) {
    spooky_slot s;
    int found, rc = spooky_record_find(rec, len, p->hash, &s);
    if (rc == SPOOKY_E_NOT_FOUND) return SPOOKY_E_KEY_MISSING;
    if (rc) return rc;
    rc = path_value_of(rec, &s, p->path, p->path_len, x, &found);
    if (rc == SPOOKY_E_NOT_JSON) return SPOOKY_E_KEY_TYPE; /* a CBOR byte string, a tag */
    if (rc) return rc;
    if (!found) return SPOOKY_E_KEY_MISSING;
    if (x->tag != SPOOKY_I64 && x->tag != SPOOKY_U64 && x->tag != SPOOKY_STR)
        return SPOOKY_E_KEY_TYPE;
    return SPOOKY_OK;
}

int key_form_of_record(const uint8_t *rec, size_t len, const spooky_key *key, spooky_buf *scratch,
                       key_form *k, uint32_t *bad_part) {
    int composite = key->nparts > 1;
    if (composite) scratch->len = 0;
    for (uint32_t i = 0; i < key->nparts; i++) {
        path_value x; /* an integer read out of CBOR lies in x: key_form_of copies it */
        int rc = key_part_value(rec, len, &key->parts[i], &x);
        if (!rc)
            rc = composite ? key_part_append(x.tag, x.v, x.len, 1, scratch)
                           : key_form_of(x.tag, x.v, x.len, k);
        if (rc) {
            if (bad_part) *bad_part = i;
            return rc;
        }
    }
    if (composite) *k = key_form_stored(scratch->data, scratch->len);
    return SPOOKY_OK;
}

int spooky_key_new(const uint8_t *section, size_t len, uint32_t parts, spooky_key **out) {
    if (!out || (!section && len)) return SPOOKY_E_ARG;
    *out = NULL;
    spooky_key *k = calloc(1, sizeof *k);
    if (!k) return SPOOKY_E_NOMEM;
    size_t bad_at;
    const char *why;
    int rc = key_init(k, section, len, parts, &bad_at, &why);
    if (rc) {
        free(k);
        return rc;
    }
    *out = k;
    return SPOOKY_OK;
}

void spooky_key_free(spooky_key *key) {
    if (!key) return;
    key_clear(key);
    free(key);
}

int spooky_key_section(const spooky_key *key, const uint8_t **section, size_t *len,
                       uint32_t *parts) {
    if (!key || !section || !len || !parts) return SPOOKY_E_ARG;
    *section = key->section.data;
    *len = key->section.len;
    *parts = key->nparts;
    return SPOOKY_OK;
}

/* ---- the entry points of keys.py ----------------------------------------------------- */

int spooky_key_sort_form(uint8_t tag, const uint8_t *value, size_t len, int composite,
                         spooky_buf *out) {
    if (!out || (!value && len)) return SPOOKY_E_ARG;
    if (tag == SPOOKY_STR && !valid_utf8(value, len)) return SPOOKY_E_ARG;
    return key_part_append(tag, value, len, composite != 0, out);
}

int spooky_key_to_json(const uint8_t *key, size_t len, uint32_t parts, spooky_buf *out) {
    if (!out || (!key && len) || !key_well_formed(key, len, parts)) return SPOOKY_E_ARG;
    const uint8_t *p = key, *end = key + len, *value;
    uint8_t scratch[8], tag;
    size_t n;
    if (parts == 1) {
        TRY(key_part_at(&p, end, 0, scratch, &tag, &value, &n));
        return spooky_value_to_json(tag, value, n, out);
    }
    size_t mark = out->len;
    spooky_buf plain = {0};
    int rc = buf_push(out, '[');
    for (uint32_t i = 0; i < parts && !rc; i++) {
        if (i) rc = buf_push(out, ',');
        if (!rc) rc = key_part_at(&p, end, 1, scratch, &tag, &value, &n);
        if (!rc && tag == SPOOKY_STR) {
            plain.len = 0;
            rc = key_unescape(value, n, &plain);
            value = plain.data ? plain.data : scratch;
            n = plain.len;
        }
        if (!rc) rc = spooky_value_to_json(tag, value, n, out);
    }
    if (!rc) rc = buf_push(out, ']');
    spooky_buf_free(&plain);
    if (rc) out->len = mark;
    return rc;
}
