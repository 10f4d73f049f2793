/* common.c: version, status names, buffers, early writeback. */
#include <fcntl.h>
#include <stdlib.h>
#include "internal.h"
#include "bench.h" /* the test hook defined here */

#ifndef SPOOKY_VERSION
#error "build with -DSPOOKY_VERSION=\"x.y.z\" (native/build.py does)"
#endif

const char *spooky_version(void) { return SPOOKY_VERSION; }

_Thread_local uint64_t spooky_thread_allocs;

uint64_t spooky_test_thread_allocs(void) { return spooky_thread_allocs; }

const char *spooky_strerror(int code) {
    switch (code) {
    case SPOOKY_OK: return "ok";
    case SPOOKY_E_NOMEM: return "out of memory";
    case SPOOKY_E_ARG: return "invalid argument";
    case SPOOKY_E_JSON_SYNTAX: return "invalid JSON";
    case SPOOKY_E_JSON_UTF8: return "invalid UTF-8 or lone surrogate in JSON";
    case SPOOKY_E_JSON_NUMBER: return "number out of range of a double";
    case SPOOKY_E_JSON_DEPTH: return "JSON nested too deeply";
    case SPOOKY_E_JSON_NOT_OBJECT: return "a record must be a JSON object";
    case SPOOKY_E_JSON_BIG_INT: return "integer does not fit i64 or u64";
    case SPOOKY_E_HASH_COLLISION: return "two field names share one xxh64 hash";
    case SPOOKY_E_RECORD_INVALID: return "not a valid record";
    case SPOOKY_E_CBOR_INVALID: return "invalid nested (CBOR) value";
    case SPOOKY_E_NOT_JSON: return "value has no JSON form";
    case SPOOKY_E_NOT_FOUND: return "no such field";
    case SPOOKY_E_TYPE: return "field has another type";
    case SPOOKY_E_LENGTH: return "value has another byte length";
    case SPOOKY_E_EXISTS: return "field already exists";
    case SPOOKY_E_TOO_LARGE: return "record too large";
    case SPOOKY_E_STALE_SLOT: return "slot no longer matches the record (resolve it again)";
    case SPOOKY_E_KEY_MISSING: return "record has no key field";
    case SPOOKY_E_KEY_TYPE: return "key is not a string or an integer";
    case SPOOKY_E_DUPLICATE_KEY: return "key repeats";
    case SPOOKY_E_FILE_TRUNCATED: return "truncated record file (no end magic)";
    case SPOOKY_E_FILE_INVALID: return "not a valid record file";
    case SPOOKY_E_CHECKSUM: return "block checksum mismatch";
    case SPOOKY_E_IO: return "read or write failed";
    case SPOOKY_E_TEMP_FILE: return "could not use a temporary file";
    default: return "unknown error";
    }
}

int spooky_buf_reserve(spooky_buf *buf, size_t cap) {
    if (cap <= buf->cap) return SPOOKY_OK;
    TRY(resize_array(&buf->data, cap, 1));
    buf->cap = cap;
    return SPOOKY_OK;
}

void spooky_buf_free(spooky_buf *buf) {
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

void spooky_start_writeback(int fd, uint64_t offset, uint64_t len) {
#ifdef SYNC_FILE_RANGE_WRITE
    if (len) sync_file_range(fd, (off_t)offset, (off_t)len, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd, (void)offset, (void)len;
#endif
}
