/* io.h: file I/O for writing record files (internal): whole writes and
 * reads that retry after EINTR, unnamed temporary files, and a buffered
 * sequential writer; io.c. */
#ifndef SPOOKY_IO_H
#define SPOOKY_IO_H

#include "internal.h"

/* Every byte, at the descriptor's position or at off: SPOOKY_E_IO (errno
 * set) on failure, and for pread_all at the end of the file too. */
int write_all(int fd, const void *data, size_t n);
int pwrite_all(int fd, const void *data, size_t n, uint64_t off);
int pread_all(int fd, void *data, size_t n, uint64_t off);

/* An unnamed temporary file in dir, open for reading and writing: it is gone
 * with its descriptor, even when the process is killed. SPOOKY_E_TEMP_FILE
 * (errno set) if dir takes none. */
int temp_file(const char *dir, int *fd);

/* n bytes of from at from_off to to at to_off; a failed read is
 * SPOOKY_E_TEMP_FILE (from is a temporary file), a failed write SPOOKY_E_IO. */
int copy_range(int from, uint64_t from_off, int to, uint64_t to_off, uint64_t n);
/* xxh64 (seed 0) of n bytes of fd at off, read back. */
int checksum_range(int fd, uint64_t off, uint64_t n, uint64_t *sum);

/* A buffered sequential writer at a file offset; a failed write returns
 * io_error (SPOOKY_E_IO when 0). */
typedef struct {
    int fd;
    uint64_t off;
    spooky_buf buf;
    int io_error;
} out_stream;

int stream_put(out_stream *s, const void *data, size_t n);
/* Writes what is buffered and frees the buffer. */
int stream_flush(out_stream *s);

#endif
