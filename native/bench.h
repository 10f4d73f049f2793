/* bench.h: what only `spooky bench` and the tests use, kept out of the
 * user-facing declarations of spooky.h: the benchmark kernels (bench.c), the
 * C field accessors by name and through a slot that they time (record.c),
 * and the test hooks. Its CDEF part is appended to spooky.h's by
 * native/build.py, so the cffi module has both. */
#ifndef SPOOKY_BENCH_H
#define SPOOKY_BENCH_H

#include "spooky.h"

/* CDEF-BEGIN */

/* TESTS ONLY: ANDs every name hash with mask so that collisions can be made.
 * Records written meanwhile are not valid SpookyRecords. ~0 restores. */
void spooky_test_set_name_hash_mask(uint64_t mask);
/* TESTS ONLY: a record writer spills its key-index run to a temporary file
 * once the run holds this many bytes (so that tests reach the merge of many
 * runs with little input). 0 restores the default, 32 MiB. */
void spooky_test_set_run_limit(size_t bytes);
/* TESTS ONLY: 1 makes temporary files without O_TMPFILE (a named file
 * unlinked at once, as on file systems that refuse O_TMPFILE); 0 restores. */
void spooky_test_set_no_o_tmpfile(int on);
/* TESTS ONLY: record files written with plain writes only (on = 1), never with
 * O_DIRECT; and the bytes written with O_DIRECT so far, by all writers. */
void spooky_test_set_no_direct_io(int on);
uint64_t spooky_test_direct_bytes(void);
/* The allocations (reallocs) this thread's growing buffers and arrays made
 * so far (internal.h's growth path; common.c). */
uint64_t spooky_test_thread_allocs(void);

/* Typed reads by name: hash, binary search, tag and length check. */
int spooky_get_i64(const uint8_t *rec, size_t len, const uint8_t *name, size_t name_len,
                   int64_t *out);
int spooky_get_u64(const uint8_t *rec, size_t len, const uint8_t *name, size_t name_len,
                   uint64_t *out);
int spooky_get_f64(const uint8_t *rec, size_t len, const uint8_t *name, size_t name_len,
                   double *out);
int spooky_get_bool(const uint8_t *rec, size_t len, const uint8_t *name, size_t name_len, int *out);
int spooky_get_str(const uint8_t *rec, size_t len, const uint8_t *name, size_t name_len,
                   const uint8_t **out, size_t *out_len);

/* Typed reads and writes through a slot: O(1), no hash, no search. The slot's
 * bounds are still checked against len, so a stale slot never leaves the
 * record; a write also checks that the index entry at slot->index still
 * holds the slot's hash, offset, length and tag (else SPOOKY_E_STALE_SLOT),
 * so a stale slot can never corrupt a record. */
int spooky_get_i64_at(const uint8_t *rec, size_t len, const spooky_slot *slot, int64_t *out);
int spooky_get_u64_at(const uint8_t *rec, size_t len, const spooky_slot *slot, uint64_t *out);
int spooky_get_f64_at(const uint8_t *rec, size_t len, const spooky_slot *slot, double *out);
int spooky_get_bool_at(const uint8_t *rec, size_t len, const spooky_slot *slot, int *out);
int spooky_get_str_at(const uint8_t *rec, size_t len, const spooky_slot *slot, const uint8_t **out,
                      size_t *out_len);
int spooky_set_i64_at(uint8_t *rec, size_t len, const spooky_slot *slot, int64_t value);
int spooky_set_u64_at(uint8_t *rec, size_t len, const spooky_slot *slot, uint64_t value);
int spooky_set_f64_at(uint8_t *rec, size_t len, const spooky_slot *slot, double value);
int spooky_set_bool_at(uint8_t *rec, size_t len, const spooky_slot *slot, int value);
/* Same tag, same byte length only (else SPOOKY_E_TYPE / SPOOKY_E_LENGTH). */
int spooky_set_bytes_at(uint8_t *rec, size_t len, const spooky_slot *slot, const uint8_t *value,
                        size_t value_len);

/* Fixed-width writes by name (in place, layout unchanged). */
int spooky_set_i64(uint8_t *rec, size_t len, const uint8_t *name, size_t name_len, int64_t value);

/* Benchmark kernels (native/bench.c), used by `spooky bench` and benchmarks/.
 * Each runs `iters` operations in a C loop and reports elapsed nanoseconds
 * from a monotonic clock; *sink receives a value derived from every result so
 * the compiler cannot drop the loop. */
typedef enum {
    SPOOKY_BENCH_GET_I64 = 0,
    SPOOKY_BENCH_GET_STR = 1,
    SPOOKY_BENCH_GET_BOOL = 2,
    SPOOKY_BENCH_GET_F64 = 3,
    SPOOKY_BENCH_SET_I64 = 4,
    SPOOKY_BENCH_SET_STR = 5
} spooky_bench_op;

/* One field of one record (rec is modified by the set ops, same bytes back). */
int spooky_bench_field(uint8_t *rec, size_t len, const uint8_t *name, size_t name_len, int op,
                       int use_slot, uint64_t iters, uint64_t *elapsed_ns, uint64_t *sink);
/* n JSON objects (object i is json[offsets[i] .. offsets[i+1])) encoded into
 * a fresh buffer per record (reuse=0) or one reused buffer (reuse=1), after
 * an untimed pass that sizes the encoder's scratch and the reused buffer.
 * *allocs: the buffer allocations counted in the growth path (internal.h)
 * during the timed loop. */
int spooky_bench_serialize(const uint8_t *json, const size_t *offsets, size_t n, int reuse,
                           uint64_t *elapsed_ns, uint64_t *sink, uint64_t *allocs);
/* Change detection over n record pairs (old[i], new[i]), each a record at
 * recs[offsets[i] .. offsets[i+1]]: a pair differs when its `version` (i64)
 * or `content_hash` (u64) differ. By name, or through slots resolved once. */
int spooky_bench_change_detection(const uint8_t *old_recs, const size_t *old_offsets,
                                  const uint8_t *new_recs, const size_t *new_offsets, size_t n,
                                  int use_slot, uint64_t *elapsed_ns, uint64_t *changed);

/* CDEF-END */

#endif /* SPOOKY_BENCH_H */
