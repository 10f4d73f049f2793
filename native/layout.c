/* layout.c: compact JSON text (as tojson.c writes it) laid out the way
 * orjson writes it, for `spooky get`: floats in orjson's layout and, with an
 * indent, one value per line (orjson's OPT_INDENT_2 is indent 2). One linear
 * pass over the text, no recursion, so any depth. */
#include "internal.h"

/* A number of tojson.c (floats in Python repr layout) in orjson's layout:
 * the same digits, but a decimal exponent of -5 is written out (1.5e-05 ->
 * 0.000015) and a negative exponent loses its leading zero (1e-07 -> 1e-7).
 * Integers and other floats pass unchanged. */
static int put_number(spooky_buf *out, const uint8_t *p, size_t n) {
    const uint8_t *end = p + n, *e = memchr(p, 'e', n);
    if (!e || end - e < 3 || e[1] != '-') return buf_append(out, p, n);
    const uint8_t *x = e + 2; /* exponent digits */
    while (end - x > 1 && *x == '0') x++;
    if (end - x == 1 && *x == '5') {
        if (*p == '-') TRY(buf_push(out, *p++));
        TRY(buf_append(out, "0.0000", 6));
        for (; p < e; p++)
            if (*p != '.') TRY(buf_push(out, *p));
        return SPOOKY_OK;
    }
    TRY(buf_append(out, p, (size_t)(e + 2 - p)));
    return buf_append(out, x, (size_t)(end - x));
}

static int newline(spooky_buf *out, size_t depth, int indent) {
    size_t n = depth * (size_t)indent;
    TRY(buf_grow(out, n + 1));
    out->data[out->len++] = '\n';
    memset(out->data + out->len, ' ', n);
    out->len += n;
    return SPOOKY_OK;
}

static int is_number_char(uint8_t c) {
    return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-';
}

int json_layout(const uint8_t *in, size_t n, int indent, spooky_buf *out) {
    size_t depth = 0, i = 0;
    while (i < n) {
        uint8_t c = in[i];
        if (c == '"') { /* a string, copied up to its closing quote */
            size_t j = i + 1;
            while (j < n && in[j] != '"') j += in[j] == '\\' ? 2 : 1;
            if (j >= n) return SPOOKY_E_ARG;
            TRY(buf_append(out, in + i, j + 1 - i));
            i = j + 1;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t j = i + 1;
            while (j < n && is_number_char(in[j])) j++;
            TRY(put_number(out, in + i, j - i));
            i = j;
        } else if (c == '[' || c == '{') {
            if (i + 1 < n && in[i + 1] == (c == '[' ? ']' : '}')) { /* [] and {}: one line */
                TRY(buf_append(out, in + i, 2));
                i += 2;
                continue;
            }
            TRY(buf_push(out, c));
            depth++;
            if (indent) TRY(newline(out, depth, indent));
            i++;
        } else if (c == ']' || c == '}') {
            if (!depth) return SPOOKY_E_ARG;
            depth--;
            if (indent) TRY(newline(out, depth, indent));
            TRY(buf_push(out, c));
            i++;
        } else if (c == ',') {
            TRY(buf_push(out, c));
            if (indent) TRY(newline(out, depth, indent));
            i++;
        } else if (c == ':') {
            TRY(buf_push(out, c));
            if (indent) TRY(buf_push(out, ' '));
            i++;
        } else { /* the letters of true, false, null */
            TRY(buf_push(out, c));
            i++;
        }
    }
    return depth ? SPOOKY_E_ARG : SPOOKY_OK;
}
