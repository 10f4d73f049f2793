/* keyindex.h: the key index of a record file being written (internal).
 * Entries come in record order and are kept in sorted runs of bounded size,
 * spilled to one unnamed temporary file; at finish a k-way merge of the runs
 * writes the footer's index and key heap. Memory stays flat however large
 * the input. keyindex.c. */
#ifndef SPOOKY_KEYINDEX_H
#define SPOOKY_KEYINDEX_H

#include "internal.h"

/* One entry while sorting; its key lives in the run heap. ordinal: the
 * record's position in the file, which orders entries of one key. */
typedef struct {
    uint64_t key_off;
    uint32_t key_len, rec_len;
    uint64_t digest, rec_off, ordinal, line;
    uint32_t source;
} run_entry;

typedef struct {
    run_entry *run; /* the run being filled */
    size_t nrun, cap_run;
    spooky_buf run_heap;
    const char *temp_dir; /* where the spill file goes (the writer's) */
    int spill_fd; /* every spilled run, back to back; -1 before the first */
    uint64_t *spill_ends; /* where each spilled run ends in it */
    size_t nspills, cap_spills;
    uint64_t ordinal; /* of the next entry */
    /* what the merge found: a repeated key (keep_last 0) and the two places
     * its records came from ... */
    spooky_buf dup_key;
    uint32_t dup_source[2];
    uint64_t dup_line[2];
    /* ... or (keep_last 1) the ordinals of the records a later one of their
     * key replaced */
    uint64_t *dead;
    size_t ndead, cap_dead;
    /* keep_last: which of two records of one key lives (NULL: the later);
     * *later 1 when the later one does */
    int (*later_lives)(void *ctx, const run_entry *earlier, const run_entry *later,
                       int *later_wins);
    void *lives_ctx;
} key_index;

/* Where the merge put the index and the heap. */
typedef struct {
    uint64_t count; /* index entries (unique keys) */
    int heap_fd; /* a temporary file holding the heap */
    uint64_t heap_len;
} key_index_out;

void key_index_init(key_index *k, const char *temp_dir);
void key_index_free(key_index *k);
/* Adds the entry of a record (key in sort form) at file offset rec_off. */
int key_index_add(key_index *k, const uint8_t *key, uint32_t key_len, uint32_t rec_len,
                  uint64_t digest, uint64_t rec_off, uint32_t source, uint64_t line);
/* Merges every entry in key order and writes the index entries to fd at
 * index_at and the key heap to a new temporary file (out->heap_fd, closed by
 * the caller). A repeated key: SPOOKY_E_DUPLICATE_KEY (the dup_ fields say
 * which) unless keep_last, which keeps the last and notes the others in
 * dead. */
int key_index_merge(key_index *k, int keep_last, int fd, uint64_t index_at, key_index_out *out);
/* Closes the spill file: its space goes back at once. */
void key_index_drop_spills(key_index *k);

#endif
