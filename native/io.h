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

/* Sequential output of a new file from offset 0 on, in whole pages, with
 * direct I/O (O_DIRECT) where the file system takes it: the pages go from
 * this buffer to the disk, with no copy into the page cache (the file is
 * fsynced anyway). Where O_DIRECT is refused (tmpfs, some FUSE), or a
 * direct write fails with EINVAL, plain writes of the same bytes.
 *
 * The caller lays the file's next bytes in buf from tail on and hands a
 * prefix of buf over with page_out_write: its whole pages are written at
 * `at`, the partial last page moves to the front (the new tail).
 * page_out_end writes that tail plainly and turns O_DIRECT off, so that the
 * file can then be read and written as any other. */
#define PAGE_OUT_ALIGN ((size_t)4096) /* memory and file offsets of direct writes */
typedef struct {
    int fd;
    int direct; /* O_DIRECT is on for fd */
    uint8_t *buf; /* PAGE_OUT_ALIGN-aligned, cap bytes */
    size_t cap;
    size_t tail; /* buf[0..tail): the bytes from `at` on, not yet written */
    uint64_t at; /* a multiple of PAGE_OUT_ALIGN */
    uint64_t synced; /* plain writes: writeback started up to here */
} page_out;

/* An empty file on fd; cap: the buffer's first size. */
int page_out_init(page_out *o, int fd, size_t cap);
/* Room for need bytes in buf, keeping buf[0..keep) (buf may move). */
int page_out_reserve(page_out *o, size_t need, size_t keep);
/* buf[0..len) are the file's next bytes from `at` on (len >= tail). Plain
 * writes start their writeback every few MB, so that the final fsync has
 * little left to wait for. */
int page_out_write(page_out *o, size_t len);
/* Writes the tail; O_DIRECT is off after, whatever the status. */
int page_out_end(page_out *o);
void page_out_free(page_out *o);

#endif
