/* project.c: projections that reach into nested values (export --fields and
 * filter --fields with paths, e.g. id,user.plan): for each kept field a tree
 * of the keys (or array indexes) to keep of its value, parsed once; a
 * record's kept part of a value written as JSON, or as canonical CBOR for a
 * record file. Objects keep the kept keys (JSON in the order asked, CBOR in
 * key order, as canonical CBOR wants); arrays keep the kept elements in index
 * order. A value with nothing kept below it is left out. */
#include <stdlib.h>
#include "file.h"
#include "path.h"

#define TREE_DEPTH 64 /* levels a path may reach below its field */

static int parse_node(projection *pj, const uint8_t *p, size_t len, size_t *at, int depth) {
    if (depth > TREE_DEPTH || len - *at < 4) return SPOOKY_E_ARG;
    uint32_t n = load_u32(p + *at);
    *at += 4;
    TRY(grow_array(&pj->nodes, &pj->cap, pj->n + 1, sizeof *pj->nodes));
    size_t me = pj->n++;
    pj->nodes[me] = (tree_node){NULL, 0, n, 0};
    for (uint32_t i = 0; i < n; i++) {
        if (len - *at < 4) return SPOOKY_E_ARG;
        uint32_t step_len = load_u32(p + *at);
        *at += 4;
        if (len - *at < step_len || !valid_utf8(p + *at, step_len)) return SPOOKY_E_ARG;
        size_t child = pj->n;
        const uint8_t *step = p + *at;
        *at += step_len;
        TRY(parse_node(pj, p, len, at, depth + 1));
        pj->nodes[child].step = step;
        pj->nodes[child].step_len = step_len;
    }
    pj->nodes[me].end = (uint32_t)pj->n;
    return SPOOKY_OK;
}

int projection_parse(projection *pj, const uint8_t *trees, size_t len, size_t nfields) {
    memset(pj, 0, sizeof *pj);
    if (!trees) return SPOOKY_OK;
    pj->root = calloc(nfields ? nfields : 1, sizeof *pj->root);
    if (!pj->root) return SPOOKY_E_NOMEM;
    size_t at = 0;
    for (size_t j = 0; j < nfields; j++) {
        pj->root[j] = (uint32_t)pj->n;
        TRY(parse_node(pj, trees, len, &at, 0));
    }
    return at == len ? SPOOKY_OK : SPOOKY_E_ARG;
}

void projection_free(projection *pj) {
    free(pj->nodes);
    free(pj->root);
    memset(pj, 0, sizeof *pj);
}

/* A kept child found in the value: its node and its item. */
typedef struct {
    uint32_t node;
    const uint8_t *p, *end;
    uint64_t index; /* arrays: the element's index */
} kept;

/* The kept children of node i found in the map or array [p, end): *out
 * (free it), *n of them, arrays' in index order; *major the value's type. */
static int find_kept(const projection *pj, uint32_t i, const uint8_t *p, const uint8_t *end,
                     kept **out, size_t *n, uint8_t *major) {
    const uint8_t *q = p;
    uint8_t ai;
    uint64_t count;
    *out = NULL;
    *n = 0;
    TRY(cbor_read_head(&q, end, major, &ai, &count));
    if (*major != 4 && *major != 5) return SPOOKY_OK; /* nothing below a scalar */
    const tree_node *node = &pj->nodes[i];
    kept *k = malloc((node->nchildren ? node->nchildren : 1) * sizeof *k);
    if (!k) return SPOOKY_E_NOMEM;
    size_t found = 0;
    for (uint32_t c = i + 1, m = 0; m < node->nchildren; m++, c = pj->nodes[c].end) {
        const uint8_t *vp = p, *ve = end;
        int got = path_step(&vp, &ve, pj->nodes[c].step, pj->nodes[c].step_len);
        if (got < 0) {
            free(k);
            return -got;
        }
        if (!got) continue;
        kept one = {c, vp, ve, 0};
        if (*major == 4) { /* by index: the step is its decimal digits */
            for (uint32_t d = 0; d < pj->nodes[c].step_len; d++)
                one.index = one.index * 10 + (uint64_t)(pj->nodes[c].step[d] - '0');
            size_t at = found; /* insertion sort: a few children */
            for (; at > 0 && k[at - 1].index > one.index; at--) k[at] = k[at - 1];
            k[at] = one;
            found++;
            continue;
        }
        k[found++] = one;
    }
    *out = k;
    *n = found;
    return SPOOKY_OK;
}

int projection_put_json(const projection *pj, uint32_t i, const uint8_t *p, const uint8_t *end,
                        spooky_buf *out, int *wrote) {
    *wrote = 0;
    if (pj->nodes[i].nchildren == 0) {
        TRY(spooky_cbor_to_json(p, (size_t)(end - p), out));
        *wrote = 1;
        return SPOOKY_OK;
    }
    kept *k;
    size_t n;
    uint8_t major;
    TRY(find_kept(pj, i, p, end, &k, &n, &major));
    size_t mark = out->len;
    int rc = buf_push(out, major == 5 ? '{' : '['), any = 0;
    for (size_t m = 0; m < n && !rc; m++) {
        size_t before = out->len;
        if (any) rc = buf_push(out, ',');
        if (!rc && major == 5) {
            const tree_node *c = &pj->nodes[k[m].node];
            rc = spooky_value_to_json(SPOOKY_STR, c->step, c->step_len, out);
            if (!rc) rc = buf_push(out, ':');
        }
        int w = 0;
        if (!rc) rc = projection_put_json(pj, k[m].node, k[m].p, k[m].end, out, &w);
        if (!rc && !w) out->len = before; /* nothing kept there */
        any |= w;
    }
    free(k);
    TRY(rc);
    if (!any) {
        out->len = mark;
        return SPOOKY_OK;
    }
    *wrote = 1;
    return buf_push(out, major == 5 ? '}' : ']');
}

/* A CBOR head (major type, argument), shortest form, appended to out. */
static int put_head(spooky_buf *out, uint8_t major, uint64_t arg) {
    uint8_t h[9];
    size_t n = 1;
    if (arg < 24) {
        h[0] = (uint8_t)(major << 5 | arg);
    } else {
        int bytes = arg <= 0xff ? 1 : arg <= 0xffff ? 2 : arg <= 0xffffffffu ? 4 : 8;
        h[0] = (uint8_t)(major << 5 | (bytes == 1 ? 24 : bytes == 2 ? 25 : bytes == 4 ? 26 : 27));
        for (int b = 0; b < bytes; b++) h[1 + b] = (uint8_t)(arg >> (8 * (bytes - 1 - b)));
        n = 1 + (size_t)bytes;
    }
    return buf_append(out, h, n);
}

/* Map children in key order: canonical CBOR sorts keys by their bytes. */
static int by_key(const void *a, const void *b, void *ctx) {
    const projection *pj = ctx;
    const tree_node *x = &pj->nodes[((const kept *)a)->node],
                    *y = &pj->nodes[((const kept *)b)->node];
    return bytes_cmp(x->step, x->step_len, y->step, y->step_len);
}

int projection_put_cbor(const projection *pj, uint32_t i, const uint8_t *p, const uint8_t *end,
                        spooky_buf *out, int *wrote) {
    *wrote = 0;
    if (pj->nodes[i].nchildren == 0) {
        TRY(buf_append(out, p, (size_t)(end - p)));
        *wrote = 1;
        return SPOOKY_OK;
    }
    kept *k;
    size_t n;
    uint8_t major;
    TRY(find_kept(pj, i, p, end, &k, &n, &major));
    if (major == 5) qsort_r(k, n, sizeof *k, by_key, (void *)pj);
    spooky_buf body = {0};
    uint64_t count = 0;
    int rc = SPOOKY_OK;
    for (size_t m = 0; m < n && !rc; m++) {
        size_t before = body.len;
        const tree_node *c = &pj->nodes[k[m].node];
        if (major == 5) {
            rc = put_head(&body, 3, c->step_len);
            if (!rc) rc = buf_append(&body, c->step, c->step_len);
        }
        int w = 0;
        if (!rc) rc = projection_put_cbor(pj, k[m].node, k[m].p, k[m].end, &body, &w);
        if (!rc && !w) body.len = before;
        count += (uint64_t)w;
    }
    free(k);
    if (!rc && count) {
        rc = put_head(out, major, count);
        if (!rc) rc = buf_append(out, body.data, body.len);
        *wrote = !rc;
    }
    spooky_buf_free(&body);
    return rc;
}
