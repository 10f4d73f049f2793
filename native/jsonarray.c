/* jsonarray.c: JSON-array input as NDJSON lines (spooky_array_to_lines):
 * a small state machine over the bytes, in place, carried across pieces. */
#include "internal.h"

int spooky_array_to_lines(spooky_array_state *st, uint8_t *data, size_t len, size_t *err_offset) {
    if (!st || (!data && len) || !err_offset) return SPOOKY_E_ARG;
    if (len == 0) {
        *err_offset = 0;
        return st->started && !st->ended ? SPOOKY_E_JSON_SYNTAX : SPOOKY_OK;
    }
    for (size_t i = 0; i < len; i++) {
        uint8_t c = data[i];
        if (st->in_string) {
            if (st->escape)
                st->escape = 0;
            else if (c == '\\')
                st->escape = 1;
            else if (c == '"')
                st->in_string = 0;
            continue;
        }
        int ws = c == ' ' || c == '\t' || c == '\r' || c == '\n';
        if (!st->started || st->ended) {
            if (ws) continue;
            if (!st->started && c == '[') {
                st->started = 1;
                st->depth = 1;
                data[i] = ' ';
                continue;
            }
            *err_offset = i;
            return SPOOKY_E_JSON_SYNTAX;
        }
        switch (c) {
        case '"': st->in_string = 1; break;
        case '[':
        case '{': st->depth++; break;
        case ']':
        case '}':
            if (--st->depth == 0) {
                if (c != ']') {
                    *err_offset = i;
                    return SPOOKY_E_JSON_SYNTAX;
                }
                st->ended = 1;
                data[i] = ' ';
            }
            break;
        case ',':
            if (st->depth == 1) data[i] = '\n';
            break;
        case '\n': data[i] = ' '; break;
        default: break;
        }
    }
    return SPOOKY_OK;
}
