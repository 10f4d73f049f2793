/* filter.c: records of a record file that match an expression: predicates
 * on fields and paths into them, joined by ALL, SOME and NOT (spooky.h).
 *
 * The program is compiled once (spooky_cli/filter.py) and checked once per
 * call; the predicates' fields and the projection are each a ResolvedSchema
 * (file.h): resolved on the first record, refreshed per record in O(1) while
 * records keep one schema, so a scan does no hashing and no search per record
 * and field. Evaluation short-circuits: a predicate whose answer cannot
 * change the result is not read. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <math.h>
#include <stdlib.h>
#include "internal.h"
#include "chunk.h"
#include "file.h"
#include "path.h"

#define UNORDERED NUMBERS_UNORDERED

static inline int is_number(uint8_t tag) {
    return tag == SPOOKY_I64 || tag == SPOOKY_U64 || tag == SPOOKY_F64;
}

static inline int sign(int64_t a, int64_t b) { return (a > b) - (a < b); }
static inline int usign(uint64_t a, uint64_t b) { return (a > b) - (a < b); }

/* An integer (i64 when !is_u, else u64) against a double, exactly. */
static int cmp_int_f64(int64_t i, uint64_t u, int is_u, double d) {
    if (isnan(d)) return UNORDERED;
    if (is_u) {
        if (d < 0) return 1;
        if (d >= 18446744073709551616.0) return -1;
        double fl = floor(d);
        int c = usign(u, (uint64_t)fl);
        if (c) return c;
        return d > fl ? -1 : 0;
    }
    if (d >= 9223372036854775808.0) return -1;
    if (d < -9223372036854775808.0) return 1;
    double fl = floor(d);
    int c = sign(i, (int64_t)fl);
    if (c) return c;
    return d > fl ? -1 : 0;
}

/* -1, 0, 1, or UNORDERED: two numbers by value. */
int numbers_cmp(uint8_t ta, const uint8_t *a, uint8_t tb, const uint8_t *b) {
    if (ta == SPOOKY_F64 && tb == SPOOKY_F64) {
        double x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (isnan(x) || isnan(y)) return UNORDERED;
        return (x > y) - (x < y);
    }
    if (ta == SPOOKY_F64) {
        int c = numbers_cmp(tb, b, ta, a);
        return c == UNORDERED ? c : -c;
    }
    int64_t i = (int64_t)load_u64(a);
    uint64_t u = load_u64(a);
    if (tb == SPOOKY_F64) {
        double y;
        memcpy(&y, b, 8);
        return cmp_int_f64(i, u, ta == SPOOKY_U64, y);
    }
    int64_t j = (int64_t)load_u64(b);
    uint64_t v = load_u64(b);
    if (ta == tb) return ta == SPOOKY_U64 ? usign(u, v) : sign(i, j);
    if (ta == SPOOKY_I64) return i < 0 ? -1 : usign((uint64_t)i, v); /* i64 vs u64 */
    return j < 0 ? 1 : usign(u, (uint64_t)j); /* u64 vs i64 */
}

/* Value a (tag, bytes) against value b: -1, 0, 1, or UNORDERED. *ordered
 * says whether the two have an order at all (numbers, strings); other values
 * are only equal (0) or not. */
static int compare(uint8_t ta, const uint8_t *a, size_t alen, uint8_t tb, const uint8_t *b,
                   size_t blen, int *ordered) {
    *ordered = 0;
    if (is_number(ta) && is_number(tb)) {
        *ordered = 1;
        return numbers_cmp(ta, a, tb, b);
    }
    if (ta != tb) return UNORDERED;
    if (ta == SPOOKY_STR) {
        *ordered = 1;
        int c = bytes_cmp(a, alen, b, blen);
        return (c > 0) - (c < 0);
    }
    /* null, bool, nested: canonical bytes, so equal values have equal bytes */
    if (alen == blen && (alen == 0 || memcmp(a, b, alen) == 0)) return 0;
    return UNORDERED;
}

/* A value to test: a field's, or one inside a nested field. */
typedef path_value value;

/* Whether the CBOR array [list, list + len) has an element equal to x (0
 * when it is not an array, or not valid CBOR). */
static int array_has(const uint8_t *list, size_t len, uint8_t tag, const uint8_t *v, size_t vlen) {
    const uint8_t *q = list, *end = list + len;
    uint8_t major, ai;
    uint64_t n;
    if (cbor_read_head(&q, end, &major, &ai, &n) || major != 4) return 0;
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *start = q;
        value e;
        int ordered;
        if (cbor_skip_item(&q, end)) return 0;
        if (path_item_value(start, q, &e)) continue;
        if (compare(tag, v, vlen, e.tag, e.v, e.len, &ordered) == 0) return 1;
    }
    return 0;
}

/* A predicate on a value that is there or not (NULL). */
static int holds(const spooky_predicate *p, const value *x) {
    if (p->op == SPOOKY_OP_EXISTS) return x != NULL;
    if (p->op == SPOOKY_OP_MISSING) return x == NULL;
    if (p->op == SPOOKY_OP_IS_NULL) return x == NULL || x->tag == SPOOKY_NULL;
    if (!x) return p->op == SPOOKY_OP_NE || p->op == SPOOKY_OP_NOT_IN;
    if (p->op == SPOOKY_OP_IS_NOT_NULL) return x->tag != SPOOKY_NULL;
    if (p->op == SPOOKY_OP_TRUE) return x->tag == SPOOKY_BOOL && x->len == 1 && x->v[0] == 1;
    if (p->op == SPOOKY_OP_STARTSWITH || p->op == SPOOKY_OP_ENDSWITH) {
        if (x->tag != SPOOKY_STR || x->len < p->value_len) return 0;
        const uint8_t *at = p->op == SPOOKY_OP_STARTSWITH ? x->v : x->v + x->len - p->value_len;
        return p->value_len == 0 || memcmp(at, p->value, p->value_len) == 0;
    }
    if (p->op == SPOOKY_OP_IN || p->op == SPOOKY_OP_NOT_IN)
        return array_has(p->value, p->value_len, x->tag, x->v, x->len) == (p->op == SPOOKY_OP_IN);
    if (p->op == SPOOKY_OP_CONTAINS) {
        if (x->tag == SPOOKY_STR && p->tag == SPOOKY_STR) /* a substring */
            return p->value_len == 0 || memmem(x->v, x->len, p->value, p->value_len) != NULL;
        return x->tag == SPOOKY_NESTED && array_has(x->v, x->len, p->tag, p->value, p->value_len);
    }
    int ordered;
    int c = compare(x->tag, x->v, x->len, p->tag, p->value, p->value_len, &ordered);
    switch (p->op) {
    case SPOOKY_OP_EQ: return c == 0;
    case SPOOKY_OP_NE: return c != 0;
    case SPOOKY_OP_LT: return ordered && c == -1;
    case SPOOKY_OP_LE: return ordered && (c == -1 || c == 0);
    case SPOOKY_OP_GT: return ordered && c == 1;
    case SPOOKY_OP_GE: return ordered && (c == 1 || c == 0);
    default: return 0;
    }
}

/* The value a predicate tests in rec (field slot s, or NULL when absent):
 * *found 0 when there is none (an item with no JSON value is none either). */
static int predicate_value(const spooky_predicate *p, const uint8_t *rec, const spooky_slot *s,
                           value *x, int *found) {
    int rc = path_value_of(rec, s, p->path, p->path_len, x, found);
    if (rc == SPOOKY_E_NOT_JSON) return SPOOKY_OK; /* nothing comparable there */
    return rc;
}

static int has_any_step(const uint8_t *path, size_t len) {
    for (size_t k = 0; k < len; k += 4 + (size_t)load_u32(path + k))
        if (load_u32(path + k) == SPOOKY_PATH_ANY) return 1;
    return 0;
}

/* The steps from path[k] on, below the item [p, end), with [*] steps going
 * into every element: *held 1 when p holds for a value reached, *reached 1
 * when any is. Stops at the first that holds. */
static int walk_any(const spooky_predicate *pr, size_t k, const uint8_t *p, const uint8_t *end,
                    int *held, int *reached) {
    if (k == pr->path_len) {
        value x;
        int rc = path_item_value(p, end, &x);
        if (rc == SPOOKY_E_NOT_JSON) return SPOOKY_OK; /* nothing comparable there */
        TRY(rc);
        *reached = 1;
        *held = holds(pr, &x);
        return SPOOKY_OK;
    }
    uint32_t n = load_u32(pr->path + k);
    if (n != SPOOKY_PATH_ANY) {
        int got = path_step(&p, &end, pr->path + k + 4, n);
        if (got < 0) return -got;
        return got ? walk_any(pr, k + 4 + n, p, end, held, reached) : SPOOKY_OK;
    }
    const uint8_t *q = p;
    uint8_t major, ai;
    uint64_t count;
    TRY(cbor_read_head(&q, end, &major, &ai, &count));
    if (major != 4) return SPOOKY_OK; /* [*] of what is not an array reaches nothing */
    for (uint64_t i = 0; i < count && !*held; i++) {
        const uint8_t *start = q;
        TRY(cbor_skip_item(&q, end));
        TRY(walk_any(pr, k + 4, start, q, held, reached));
    }
    return SPOOKY_OK;
}

/* Whether predicate p's path reaches a value in rec (field slot s, or NULL). */
static int reaches(const spooky_predicate *p, const uint8_t *rec, const spooky_slot *s,
                   int *reached) {
    *reached = 0;
    if (!has_any_step(p->path, p->path_len)) {
        value x;
        return predicate_value(p, rec, s, &x, reached);
    }
    int held = 0;
    if (s && s->tag == SPOOKY_NESTED)
        TRY(walk_any(p, 0, rec + s->offset, rec + s->offset + s->length, &held, reached));
    return SPOOKY_OK;
}

/* Whether predicate p holds for rec (field slot s, or NULL when absent). */
static int test(const spooky_predicate *p, const uint8_t *rec, const spooky_slot *s, int *out) {
    if (!has_any_step(p->path, p->path_len)) {
        value x;
        int found = 0;
        TRY(predicate_value(p, rec, s, &x, &found));
        *out = holds(p, found ? &x : NULL);
        return SPOOKY_OK;
    }
    int held = 0, reached = 0;
    if (s && s->tag == SPOOKY_NESTED) /* steps lead only into a nested value */
        TRY(walk_any(p, 0, rec + s->offset, rec + s->offset + s->length, &held, &reached));
    *out = reached ? held : holds(p, NULL);
    return SPOOKY_OK;
}

static int check_program(const spooky_filter_spec *spec);

static int check_spec(const spooky_filter_spec *spec) {
    if (!spec || (!spec->preds && spec->npreds) || (!spec->fields && spec->nfields) ||
        (spec->paths && !spec->fields))
        return SPOOKY_E_ARG;
    for (size_t i = 0; i < spec->npreds; i++) {
        const spooky_predicate *p = &spec->preds[i];
        if (p->op < SPOOKY_OP_EQ || p->op > SPOOKY_OP_TRUE) return SPOOKY_E_ARG;
        if ((p->op == SPOOKY_OP_IN || p->op == SPOOKY_OP_NOT_IN) &&
            (p->tag != SPOOKY_NESTED || p->value_len == 0 || (p->value[0] >> 5) != 4))
            return SPOOKY_E_ARG; /* a list */
        if (!p->path && p->path_len) return SPOOKY_E_ARG;
        for (size_t k = 0; k < p->path_len;) { /* steps that add up; [*] has no bytes */
            if (p->path_len - k < 4) return SPOOKY_E_ARG;
            uint32_t n = load_u32(p->path + k);
            if (n == SPOOKY_PATH_ANY)
                n = 0;
            else if (n > p->path_len - k - 4)
                return SPOOKY_E_ARG;
            k += 4 + (size_t)n;
        }
        if (p->op == SPOOKY_OP_EXISTS || p->op == SPOOKY_OP_MISSING || p->op == SPOOKY_OP_IS_NULL ||
            p->op == SPOOKY_OP_IS_NOT_NULL || p->op == SPOOKY_OP_TRUE)
            continue;
        if ((p->op == SPOOKY_OP_STARTSWITH || p->op == SPOOKY_OP_ENDSWITH) && p->tag != SPOOKY_STR)
            return SPOOKY_E_ARG;
        if (p->tag > SPOOKY_U64 || (!p->value && p->value_len)) return SPOOKY_E_ARG;
        int w = fixed_width(p->tag);
        if (w >= 0 && p->value_len != (size_t)w) return SPOOKY_E_ARG;
    }
    return check_program(spec);
}

/* Whether node i of the expression holds for rec; fields holds predicate
 * j's field as its field j. ALL stops at the first false child, SOME at the
 * first true one. */
static int eval(const spooky_filter_spec *spec, resolved_schema *fields, const uint8_t *rec,
                uint32_t rlen, uint32_t i, int *out) {
    const spooky_expr_node *n = &spec->nodes[i];
    switch (n->kind) {
    case SPOOKY_EXPR_TEST: {
        spooky_slot *s = &fields->slots[n->arg];
        int rc = spooky_slot_refresh(rec, rlen, s);
        if (rc && rc != SPOOKY_E_NOT_FOUND) return rc;
        return test(&spec->preds[n->arg], rec, rc ? NULL : s, out);
    }
    case SPOOKY_EXPR_NOT:
        TRY(eval(spec, fields, rec, rlen, n->arg, out));
        *out = !*out;
        return SPOOKY_OK;
    default: { /* ALL, SOME */
        int want = n->kind == SPOOKY_EXPR_SOME; /* the answer that decides */
        for (uint32_t k = 0; k < n->count; k++) {
            TRY(eval(spec, fields, rec, rlen, spec->children[n->arg + k], out));
            if (*out == want) return SPOOKY_OK;
        }
        *out = !want;
        return SPOOKY_OK;
    }
    }
}

static int matches(const spooky_filter_spec *spec, resolved_schema *fields, const uint8_t *rec,
                   uint32_t rlen, int *match) {
    return eval(spec, fields, rec, rlen, 0, match);
}

#define EXPR_DEPTH 256 /* nesting an expression may have (bounds eval's recursion) */

/* The expression is a tree (a DAG at most) of nodes whose children come after
 * them, predicates and children in range, no deeper than EXPR_DEPTH. */
static int check_program(const spooky_filter_spec *spec) {
    if (!spec->nodes || spec->nnodes == 0 || spec->nnodes > UINT32_MAX ||
        (!spec->children && spec->nchildren))
        return SPOOKY_E_ARG;
    uint16_t *depth = calloc(spec->nnodes, sizeof *depth);
    if (!depth) return SPOOKY_E_NOMEM;
    int rc = SPOOKY_OK;
    for (size_t i = 0; i < spec->nnodes && !rc; i++) {
        const spooky_expr_node *n = &spec->nodes[i];
        if (depth[i] > EXPR_DEPTH)
            rc = SPOOKY_E_ARG;
        else if (n->kind == SPOOKY_EXPR_TEST)
            rc = n->arg < spec->npreds ? SPOOKY_OK : SPOOKY_E_ARG;
        else if (n->kind == SPOOKY_EXPR_NOT) {
            if (n->arg <= i || n->arg >= spec->nnodes)
                rc = SPOOKY_E_ARG;
            else if (depth[n->arg] < depth[i] + 1)
                depth[n->arg] = (uint16_t)(depth[i] + 1);
        } else if (n->kind == SPOOKY_EXPR_ALL || n->kind == SPOOKY_EXPR_SOME) {
            if ((size_t)n->arg + n->count > spec->nchildren) rc = SPOOKY_E_ARG;
            for (uint32_t k = 0; k < n->count && !rc; k++) {
                uint32_t c = spec->children[n->arg + k];
                if (c <= i || c >= spec->nnodes)
                    rc = SPOOKY_E_ARG;
                else if (depth[c] < depth[i] + 1)
                    depth[c] = (uint16_t)(depth[i] + 1);
            }
        } else {
            rc = SPOOKY_E_ARG;
        }
    }
    free(depth);
    return rc;
}

/* The predicates' fields as a ResolvedSchema (one field per predicate). */
static int predicate_fields(const spooky_filter_spec *spec, resolved_schema *s) {
    uint64_t *hashes = calloc(spec->npreds ? spec->npreds : 1, sizeof *hashes);
    if (!hashes) return SPOOKY_E_NOMEM;
    for (size_t i = 0; i < spec->npreds; i++) hashes[i] = spec->preds[i].field;
    int rc = schema_init(s, NULL, hashes, spec->npreds);
    free(hashes);
    return rc;
}

int spooky_filter_match(const uint8_t *rec, size_t len, const spooky_filter_spec *spec,
                        int *match) {
    if (!match) return SPOOKY_E_ARG;
    TRY(check_spec(spec));
    TRY(spooky_record_validate(rec, len));
    resolved_schema fields = {0};
    TRY(predicate_fields(spec, &fields));
    int rc = matches(spec, &fields, rec, (uint32_t)len, match);
    schema_free(&fields);
    return rc;
}

int spooky_filter_block_found(const spooky_file *f, uint64_t i, const spooky_filter_spec *spec,
                              uint8_t *found, spooky_error *err) {
    if (!f || !found || check_spec(spec)) return file_fail(err, SPOOKY_E_ARG, 0, "bad argument");
    block_walk w;
    TRY(file_walk_block(f, i, &w, err));
    resolved_schema fields = {0};
    if (predicate_fields(spec, &fields)) return file_fail(err, SPOOKY_E_NOMEM, 0, "no memory");
    int rc;
    while (file_next_entry(&w, &rc, err)) {
        for (size_t j = 0; j < spec->npreds; j++) {
            if (found[j]) continue;
            int got = spooky_slot_refresh(w.rec, w.rlen, &fields.slots[j]);
            if (got && got != SPOOKY_E_NOT_FOUND) {
                rc = file_fail(err, got, w.rec_off, "record is not valid");
                break;
            }
            int here = 0;
            rc = reaches(&spec->preds[j], w.rec, got ? NULL : &fields.slots[j], &here);
            if (rc) {
                rc = file_fail(err, rc, w.rec_off, "nested field is not valid CBOR");
                break;
            }
            found[j] |= (uint8_t)here;
        }
        if (rc) break;
    }
    schema_free(&fields);
    return rc;
}

/* The projected fields the record has, in name-hash order, as a record;
 * *npicked of them, their slots in rec in picked. */
static int pick(resolved_schema *p, const uint32_t *order, const uint8_t *rec, uint32_t rlen,
                spooky_slot *picked, size_t *npicked, spooky_buf *out, spooky_buf *parts) {
    size_t n = 0;
    /* picked[k]'s kept CBOR: parts[part_at[k], part_end[k]), or UINT64_MAX: whole */
    uint64_t *part_at = NULL, *part_end = NULL;
    if (p->paths) {
        part_at = malloc((p->n ? p->n : 1) * sizeof *part_at);
        part_end = malloc((p->n ? p->n : 1) * sizeof *part_end);
        if (!part_at || !part_end) {
            free(part_at);
            free(part_end);
            return SPOOKY_E_NOMEM;
        }
    }
    int rc = SPOOKY_OK;
    parts->len = 0;
    for (size_t k = 0; k < p->n && !rc; k++) {
        spooky_slot *s = &p->slots[order[k]];
        int got = spooky_slot_refresh(rec, rlen, s);
        if (got == SPOOKY_E_NOT_FOUND) continue;
        if ((rc = got)) break;
        if (n && picked[n - 1].name_hash == s->name_hash) continue; /* asked twice */
        uint32_t root = p->paths ? p->paths->root[order[k]] : 0;
        if (p->paths && p->paths->nodes[root].nchildren) { /* only what the paths keep */
            size_t at = parts->len;
            int wrote = 0;
            if (s->tag == SPOOKY_NESTED)
                rc = projection_put_cbor(p->paths, root, rec + s->offset,
                                         rec + s->offset + s->length, parts, &wrote);
            if (rc || !wrote) continue;
            part_at[n] = at;
            part_end[n] = parts->len;
        } else if (part_at) {
            part_at[n] = UINT64_MAX;
        }
        picked[n++] = *s;
    }
    if (!rc && !part_at) rc = record_pick(rec, picked, n, out);
    if (!rc && part_at) {
        field_value *values = malloc((n ? n : 1) * sizeof *values);
        if (!values) rc = SPOOKY_E_NOMEM;
        for (size_t k = 0; k < n && !rc; k++)
            values[k] =
                part_at[k] == UINT64_MAX
                    ? (field_value){picked[k].name_hash, picked[k].tag, rec + picked[k].offset,
                                    picked[k].length}
                    : (field_value){picked[k].name_hash, SPOOKY_NESTED, parts->data + part_at[k],
                                    (uint32_t)(part_end[k] - part_at[k])};
        if (!rc) rc = record_of(values, n, out);
        free(values);
    }
    free(part_at);
    free(part_end);
    *npicked = n;
    return rc;
}

/* The record a walk read last, about to be copied into a record file: its
 * stored key and every value it carries (file_check_fields), so the output
 * passes `info --verify`. copy is the record itself, or the record pick()
 * made of its fields picked[0..n) (then an error's offset is mapped back
 * into the record). */
static int check_copy(const spooky_file *f, const block_walk *w, const uint8_t *copy, uint32_t clen,
                      const spooky_slot *picked, size_t n, spooky_buf *scratch, spooky_error *err) {
    if (copy == w->rec) return file_check_entry(f, w, scratch, err);
    uint64_t rec_off = w->rec_off;
    TRY(file_check_key(f, w->key, w->klen, w->rec, w->rlen, rec_off - w->klen, scratch, err));
    int rc = file_check_fields(f, copy, clen, 0, scratch, err);
    if (!rc || !err) return rc;
    uint64_t at = err->offset;
    err->offset = (size_t)rec_off;
    for (uint32_t j = 0; j < n; j++) { /* the first value at `at` that can fail */
        spooky_slot s;
        spooky_record_slot_at(copy, clen, j, &s); /* field j of copy is picked[j] */
        int can_fail =
            s.tag == SPOOKY_F64 || s.tag == SPOOKY_NESTED || (s.tag == SPOOKY_STR && s.length);
        if (can_fail && at == s.offset) {
            err->offset = (size_t)(rec_off + picked[j].offset);
            break;
        }
    }
    return rc;
}

int spooky_filter_block(const spooky_file *f, uint64_t i, const spooky_filter_spec *spec,
                        spooky_buf *json_out, spooky_chunk *chunk_out, uint64_t *matched,
                        spooky_error *err) {
    if (!f || !matched || (json_out && chunk_out) || check_spec(spec))
        return file_fail(err, SPOOKY_E_ARG, 0, "bad argument");
    *matched = 0;
    if (chunk_out) chunk_reset(chunk_out);
    block_walk w;
    TRY(file_walk_block(f, i, &w, err));
    size_t mark = json_out ? json_out->len : 0;
    int project = spec->fields != NULL;
    resolved_schema fields = {0};
    spooky_slot *picked = calloc(spec->nfields ? spec->nfields : 1, sizeof *picked);
    uint32_t *order = calloc(spec->nfields ? spec->nfields : 1, sizeof *order);
    resolved_schema p = {0};
    name_cache cache = {0};
    spooky_buf rec_out = {0}, scratch = {0}, parts = {0};
    projection pj = {0};
    int rc;
    if (!picked || !order || predicate_fields(spec, &fields) ||
        (project && schema_init(&p, f, spec->fields, spec->nfields))) {
        rc = file_fail(err, SPOOKY_E_NOMEM, 0, "no memory");
        goto done;
    }
    if ((rc = projection_parse(&pj, spec->paths, spec->paths_len, spec->nfields))) {
        rc = file_fail(err, rc, 0, rc == SPOOKY_E_NOMEM ? "no memory" : "bad projection paths");
        goto done;
    }
    p.paths = spec->paths ? &pj : NULL;
    /* projected records keep their fields in hash order (few: insertion sort) */
    for (uint32_t k = 0; k < spec->nfields; k++) order[k] = k;
    for (size_t a = 1; a < spec->nfields; a++)
        for (size_t c = a; c > 0 && spec->fields[order[c - 1]] > spec->fields[order[c]]; c--) {
            uint32_t t = order[c];
            order[c] = order[c - 1];
            order[c - 1] = t;
        }
    while (file_next_entry(&w, &rc, err)) {
        int match = 0;
        if ((rc = matches(spec, &fields, w.rec, w.rlen, &match))) {
            rc = file_fail(err, SPOOKY_E_RECORD_INVALID, w.rec_off,
                           rc == SPOOKY_E_CBOR_INVALID ? "nested field is not valid CBOR"
                                                       : "record is not valid");
            break;
        }
        if (!match) continue;
        ++*matched;
        if (json_out) {
            if ((rc = file_put_line(f, project ? &p : NULL, &cache, &w, json_out, err))) break;
        } else if (chunk_out) {
            const uint8_t *copy = w.rec;
            uint32_t clen = w.rlen;
            size_t npicked = 0;
            if (project) {
                if ((rc = pick(&p, order, w.rec, w.rlen, picked, &npicked, &rec_out, &parts)))
                    break;
                copy = rec_out.data;
                clen = (uint32_t)rec_out.len;
            }
            if ((rc = check_copy(f, &w, copy, clen, picked, npicked, &scratch, err))) break;
            rc = chunk_append_from(chunk_out, f, w.key, w.klen, copy, clen, spec->fields,
                                   project ? spec->nfields : 0);
            if (rc == SPOOKY_E_FILE_INVALID) {
                rc = file_fail(err, rc, w.rec_off, "record field missing from the name table");
                break;
            }
            if (rc) break;
        }
    }
done:
    if (rc == SPOOKY_E_NOMEM) file_fail(err, rc, 0, "no memory for the output");
    if (rc && json_out) json_out->len = mark;
    if (rc && chunk_out) chunk_reset(chunk_out);
    schema_free(&fields);
    free(picked);
    free(order);
    schema_free(&p);
    name_cache_free(&cache);
    spooky_buf_free(&rec_out);
    spooky_buf_free(&scratch);
    spooky_buf_free(&parts);
    projection_free(&pj);
    return rc;
}
