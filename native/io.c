/* io.c: the file I/O helpers of io.h, shared by the block writer and the
 * key index: whole reads and writes, unnamed temporary files, range copies
 * and checksums, and the buffered out_stream. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include "io.h"
#include "bench.h" /* the test hooks defined here */

#define IO_CHUNK ((size_t)1 << 20) /* bytes copied or checksummed at once */

int write_all(int fd, const void *data, size_t n) {
    const uint8_t *p = data;
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return SPOOKY_E_IO;
        }
        p += k;
        n -= (size_t)k;
    }
    return SPOOKY_OK;
}

int pwrite_all(int fd, const void *data, size_t n, uint64_t off) {
    const uint8_t *p = data;
    while (n) {
        ssize_t k = pwrite(fd, p, n, (off_t)off);
        if (k < 0) {
            if (errno == EINTR) continue;
            return SPOOKY_E_IO;
        }
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return SPOOKY_OK;
}

int pread_all(int fd, void *data, size_t n, uint64_t off) {
    uint8_t *p = data;
    while (n) {
        ssize_t k = pread(fd, p, n, (off_t)off);
        if (k < 0) {
            if (errno == EINTR) continue;
            return SPOOKY_E_IO;
        }
        if (k == 0) return SPOOKY_E_IO;
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return SPOOKY_OK;
}

static int no_o_tmpfile; /* test hook: take the fallback path */

void spooky_test_set_no_o_tmpfile(int on) { no_o_tmpfile = on; }

int temp_file(const char *dir, int *fd) {
#ifdef O_TMPFILE
    if (!no_o_tmpfile) {
        *fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
        if (*fd >= 0) return SPOOKY_OK;
    }
#endif
    /* a file system without O_TMPFILE: a named file, unlinked at once */
    static const char name[] = "/.spooky-XXXXXX";
    size_t n = strlen(dir);
    char *path = malloc(n + sizeof name);
    if (!path) return SPOOKY_E_NOMEM;
    memcpy(path, dir, n);
    memcpy(path + n, name, sizeof name);
    *fd = mkostemp(path, O_CLOEXEC);
    int saved = errno;
    if (*fd >= 0) unlink(path);
    free(path);
    errno = saved;
    return *fd >= 0 ? SPOOKY_OK : SPOOKY_E_TEMP_FILE;
}

int copy_range(int from, uint64_t from_off, int to, uint64_t to_off, uint64_t n) {
    spooky_buf tmp = {0};
    int rc = buf_grow(&tmp, IO_CHUNK);
    for (uint64_t done = 0; !rc && done < n;) {
        size_t k = n - done < IO_CHUNK ? (size_t)(n - done) : IO_CHUNK;
        rc = pread_all(from, tmp.data, k, from_off + done) ? SPOOKY_E_TEMP_FILE : SPOOKY_OK;
        if (!rc) rc = pwrite_all(to, tmp.data, k, to_off + done);
        done += k;
    }
    spooky_buf_free(&tmp);
    return rc;
}

int checksum_range(int fd, uint64_t off, uint64_t n, uint64_t *sum) {
    spooky_buf tmp = {0};
    int rc = buf_grow(&tmp, IO_CHUNK);
    xxh64_state st;
    xxh64_init(&st, 0);
    for (uint64_t done = 0; !rc && done < n;) {
        size_t k = n - done < IO_CHUNK ? (size_t)(n - done) : IO_CHUNK;
        rc = pread_all(fd, tmp.data, k, off + done);
        if (!rc) xxh64_update(&st, tmp.data, k);
        done += k;
    }
    spooky_buf_free(&tmp);
    *sum = xxh64_digest(&st);
    return rc;
}

static int stream_write(out_stream *s) {
    if (pwrite_all(s->fd, s->buf.data, s->buf.len, s->off))
        return s->io_error ? s->io_error : SPOOKY_E_IO;
    s->off += s->buf.len;
    s->buf.len = 0;
    return SPOOKY_OK;
}

int stream_put(out_stream *s, const void *data, size_t n) {
    if (s->buf.len + n > IO_CHUNK) TRY(stream_write(s));
    return buf_append(&s->buf, data, n);
}

int stream_flush(out_stream *s) {
    TRY(stream_write(s));
    spooky_buf_free(&s->buf);
    return SPOOKY_OK;
}

/* ---- page_out: whole pages, direct I/O where it is taken ---------------------------- */

static int no_direct_io; /* test hook: plain writes only */
static uint64_t direct_bytes; /* test hook: bytes written with O_DIRECT, all writers */

void spooky_test_set_no_direct_io(int on) { no_direct_io = on; }
uint64_t spooky_test_direct_bytes(void) { return __atomic_load_n(&direct_bytes, __ATOMIC_RELAXED); }

/* Turns O_DIRECT on or off for fd; 0 if that failed. */
static int set_direct(int fd, int on) {
#ifdef O_DIRECT
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return 0;
    int want = on ? flags | O_DIRECT : flags & ~O_DIRECT;
    return want == flags || fcntl(fd, F_SETFL, want) == 0;
#else
    (void)fd;
    return !on;
#endif
}

int page_out_init(page_out *o, int fd, size_t cap) {
    memset(o, 0, sizeof *o);
    o->fd = fd;
    cap = (cap + PAGE_OUT_ALIGN - 1) & ~(PAGE_OUT_ALIGN - 1);
    void *p = NULL;
    if (posix_memalign(&p, PAGE_OUT_ALIGN, cap)) return SPOOKY_E_NOMEM;
    o->buf = p;
    o->cap = cap;
    o->direct = !no_direct_io && set_direct(fd, 1);
    return SPOOKY_OK;
}

int page_out_reserve(page_out *o, size_t need, size_t keep) {
    if (need <= o->cap) return SPOOKY_OK;
    size_t cap = o->cap ? o->cap : PAGE_OUT_ALIGN;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) return SPOOKY_E_NOMEM;
        cap *= 2;
    }
    void *p = NULL;
    if (posix_memalign(&p, PAGE_OUT_ALIGN, cap)) return SPOOKY_E_NOMEM;
    if (keep) memcpy(p, o->buf, keep);
    free(o->buf);
    o->buf = p;
    o->cap = cap;
    return SPOOKY_OK;
}

/* n bytes (whole pages while direct) at off. A direct write refused with
 * EINVAL (the file system takes O_DIRECT but not these writes) turns direct
 * I/O off and goes on plainly. */
static int write_pages(page_out *o, const uint8_t *p, size_t n, uint64_t off) {
    while (n) {
        ssize_t k = pwrite(o->fd, p, n, (off_t)off);
        if (k < 0) {
            if (errno == EINTR) continue;
            if (errno == EINVAL && o->direct) {
                o->direct = 0;
                if (set_direct(o->fd, 0)) continue;
                errno = EINVAL;
            }
            return SPOOKY_E_IO;
        }
        if (o->direct) __atomic_fetch_add(&direct_bytes, (uint64_t)k, __ATOMIC_RELAXED);
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return SPOOKY_OK;
}

#define WRITEBACK_STEP ((uint64_t)8 << 20)

int page_out_write(page_out *o, size_t len) {
    size_t whole = len & ~(PAGE_OUT_ALIGN - 1);
    if (whole) {
        TRY(write_pages(o, o->buf, whole, o->at));
        o->at += whole;
        memmove(o->buf, o->buf + whole, len - whole);
        if (!o->direct && o->at - o->synced >= WRITEBACK_STEP) {
            spooky_start_writeback(o->fd, o->synced, o->at - o->synced);
            o->synced = o->at;
        }
    }
    o->tail = len - whole;
    return SPOOKY_OK;
}

int page_out_end(page_out *o) {
    if (o->direct && !set_direct(o->fd, 0)) return SPOOKY_E_IO;
    o->direct = 0;
    int rc = write_pages(o, o->buf, o->tail, o->at);
    if (!rc) {
        o->at += o->tail;
        o->tail = 0;
    }
    return rc;
}

void page_out_free(page_out *o) {
    free(o->buf);
    o->buf = NULL;
    o->cap = o->tail = 0;
}

/* ---- spooky_sink: page_out for a stream of bytes (export's output) ------------------ */

#define SINK_ROOM ((size_t)1 << 20)

struct spooky_sink {
    page_out out;
};

spooky_sink *spooky_sink_new(int fd) {
    spooky_sink *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    if (page_out_init(&s->out, fd, SINK_ROOM)) {
        free(s);
        return NULL;
    }
    return s;
}

int spooky_sink_write(spooky_sink *s, const uint8_t *data, size_t n) {
    if (!s || (!data && n)) return SPOOKY_E_ARG;
    page_out *o = &s->out;
    while (n) {
        size_t k = o->cap - o->tail < n ? o->cap - o->tail : n;
        memcpy(o->buf + o->tail, data, k);
        o->tail += k;
        data += k;
        n -= k;
        if (o->tail == o->cap) TRY(page_out_write(o, o->tail));
    }
    return SPOOKY_OK;
}

int spooky_sink_finish(spooky_sink *s) {
    if (!s) return SPOOKY_E_ARG;
    TRY(page_out_end(&s->out));
    return lseek(s->out.fd, (off_t)s->out.at, SEEK_SET) < 0 ? SPOOKY_E_IO : SPOOKY_OK;
}

void spooky_sink_free(spooky_sink *s) {
    if (!s) return;
    if (s->out.direct) set_direct(s->out.fd, 0);
    page_out_free(&s->out);
    free(s);
}
