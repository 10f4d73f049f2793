"""Where a command's output goes, and how it appears there: one opener for
every writer (convert, export, filter, diff, bench --save, RecordFileWriter).

- A regular file, or a path that does not exist yet, appears whole or not at
  all. The bytes go to an unnamed temp file beside it (Linux O_TMPFILE), which
  is fsynced and then linked into place over the old file, so however the
  process ends (SIGKILL, power loss) no named temp file is left. Where the
  filesystem refuses O_TMPFILE, a named hidden temp file is used and removed
  on every error and signal.
- A symlink is followed: its target is what gets replaced.
- `-` (stdout), a device, a FIFO or a socket is written through.
- A directory, or a file that is one of the command's inputs, is refused
  before anything is written.

Errors name the user's path, never a temp file."""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from spooky_cli.errors import SpookyError

_PROC_FD = "/proc/self/fd"
# errors of open(O_TMPFILE) that mean "not here": fall back to a named temp file
_NO_TMPFILE = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT}


class ReaderGone(Exception):
    """The reader of a piped output went away (`spooky export x.spky | head`):
    the command stops quietly (stdout is pointed at /dev/null so the final
    flush cannot fail). The CLI exits 0 (diff: 1)."""


class Output:
    """An output path, checked: `kind` is "stdout", "through" (a device, FIFO
    or socket: written as it is) or "file" (replaced atomically)."""

    def __init__(self, path: str, inputs: Iterable[str] = (), binary: bool = False):
        self.path = path
        if path == "-":
            self.kind = "stdout"
            self.target = path
            if binary and _stdout_is_terminal():
                raise SpookyError("refusing to write binary output to a terminal: use -o FILE")
            _refuse_inputs(self.path, _fstat(1), inputs)
            return
        self.target = os.path.realpath(path)
        try:
            st: os.stat_result | None = os.stat(self.target)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            raise _named(exc, path) from None
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory (give a file name)", path)
        _refuse_inputs(path, st, inputs)
        self.mode = stat.S_IMODE(st.st_mode) if st is not None else None
        if st is not None and not stat.S_ISREG(st.st_mode):
            self.kind = "through"
            return
        self.kind = "file"
        self.directory = os.path.dirname(self.target)
        if not os.path.isdir(self.directory):
            raise FileNotFoundError(errno.ENOENT, "no such directory", os.path.dirname(path) or ".")

    # -- temp files ------------------------------------------------------------------

    def temp_file(self) -> Temp:
        """A new empty temp file open for reading and writing: beside the target
        for a file (so it can be linked into place), else in TMPDIR."""
        if self.kind != "file":
            return Temp(_unnamed(tempfile.gettempdir(), self.path, 0o600), None)
        mode = self.mode if self.mode is not None else 0o666
        if os.path.isdir(_PROC_FD):
            try:
                fd = os.open(self.directory, os.O_TMPFILE | os.O_RDWR, mode)
                if self.mode is not None:
                    os.fchmod(fd, self.mode)  # the old file's mode, umask aside
                return Temp(fd, None)
            except OSError as exc:
                if exc.errno not in _NO_TMPFILE:
                    raise _named(exc, self.path) from None
        try:
            fd, name = tempfile.mkstemp(
                prefix=f".{os.path.basename(self.target)}.", suffix=".tmp", dir=self.directory
            )
        except OSError as exc:
            raise _named(exc, self.path) from None
        os.fchmod(fd, self.mode if self.mode is not None else 0o666 & ~_umask())
        return Temp(fd, name)

    def install(self, temp: Temp) -> None:
        """Makes temp's bytes the output: a file is fsynced and put in place of
        the target; stdout and devices get a copy. temp is closed after."""
        try:
            if self.kind == "file":
                os.fsync(temp.fd)
                self._put_in_place(temp)
            else:
                os.lseek(temp.fd, 0, os.SEEK_SET)
                with open(temp.fd, "rb", closefd=False) as src, self.stream() as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        except OSError as exc:
            raise _named(exc, self.path) from None
        finally:
            temp.discard()

    def _put_in_place(self, temp: Temp) -> None:
        folder = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            while temp.name is None:  # unnamed: give it a name beside the target first
                base = f".{os.path.basename(self.target)}.{secrets.token_hex(6)}.tmp"
                temp.name = os.path.join(self.directory, base)
                try:
                    # linkat(AT_SYMLINK_FOLLOW): os.link uses plain link() without a dir fd
                    os.link(f"{_PROC_FD}/{temp.fd}", base, dst_dir_fd=folder, follow_symlinks=True)
                except FileExistsError:
                    temp.name = None
            os.replace(temp.name, self.target)
            temp.name = None  # nothing of ours to remove any more
            try:
                os.fsync(folder)
            except OSError:
                pass
        finally:
            os.close(folder)

    # -- streams ----------------------------------------------------------------------

    @contextmanager
    def stream(self) -> Iterator[BinaryIO]:
        """A binary stream written through: stdout or the device/FIFO itself.
        A reader that goes away (a broken pipe) raises ReaderGone."""
        if self.kind == "stdout":
            try:
                sys.stdout.flush()
                yield sys.stdout.buffer
                sys.stdout.buffer.flush()
            except BrokenPipeError:
                _quiet_stdout()
                raise ReaderGone(self.path) from None
            return
        try:
            f = open(self.target, "wb", buffering=1 << 16)  # noqa: SIM115
        except OSError as exc:
            raise _named(exc, self.path) from None
        try:
            yield f  # type: ignore[misc]
            f.flush()
        except BrokenPipeError:
            raise ReaderGone(self.path) from None
        except OSError as exc:
            raise _named(exc, self.path) from None
        finally:
            try:
                f.close()
            except OSError:
                pass  # the error that matters was raised above


class Temp:
    """An open temp file: fd, and its name while it has one (the named fallback,
    or between linking and renaming)."""

    __slots__ = ("fd", "name")

    def __init__(self, fd: int, name: str | None):
        self.fd, self.name = fd, name

    def discard(self) -> None:
        """Closes it and removes its name, if any (an unnamed one just goes)."""
        if self.fd >= 0:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = -1
        if self.name is not None:
            try:
                os.unlink(self.name)
            except FileNotFoundError:
                pass
            self.name = None


def scratch_file(directory: str | None = None) -> Temp:
    """A new unnamed temp file in directory (default TMPDIR), open for reading
    and writing: work space that is gone with its descriptor, however the
    process ends (merge's batch)."""
    folder = directory if directory is not None else tempfile.gettempdir()
    return Temp(_unnamed(folder, folder, 0o600), None)


@contextmanager
def open_output(
    path: str, inputs: Iterable[str] = (), binary: bool = False, direct: bool = False
) -> Iterator[BinaryIO]:
    """A binary file to write the output to. A regular file is replaced only
    when the block exits cleanly; on any error or signal it is untouched and
    nothing is left. `-`, devices and FIFOs are written through.

    direct: a regular file is written in whole pages with direct I/O where
    the file system takes it (large outputs written in large pieces: no copy
    into the page cache, which the fsync makes pointless); write() then
    copies what it is given before it returns.

        with open_output(args.output, inputs=[args.file]) as out:
            out.write(data)
    """
    target = Output(path, inputs, binary)
    if target.kind != "file":
        with target.stream() as f:
            yield f
        return
    temp = target.temp_file()
    try:
        if direct:
            with _Sink(temp.fd) as sink:
                yield sink  # type: ignore[misc]
                sink.finish()
        else:
            with open(temp.fd, "wb", closefd=False) as f:
                yield _Writeback(f)  # type: ignore[misc]
                f.flush()
    except OSError as exc:
        temp.discard()
        raise _named(exc, path) from None
    except BaseException:
        temp.discard()
        raise
    target.install(temp)


class _Sink:
    """A new file written through the core's spooky_sink (direct I/O where
    it is taken, whole pages, the last partial one at finish)."""

    def __init__(self, fd: int):
        from spooky_cli._native import ffi, lib

        self._ffi, self._lib = ffi, lib
        sink = lib.spooky_sink_new(fd)
        if sink == ffi.NULL:
            raise MemoryError("could not allocate an output buffer")
        self._sink = sink

    def write(self, data: bytes | bytearray | memoryview) -> int:
        n = len(data) if not isinstance(data, memoryview) else data.nbytes
        if self._lib.spooky_sink_write(self._sink, self._ffi.from_buffer(data), n):
            self._fail()
        return n

    def finish(self) -> None:
        if self._lib.spooky_sink_finish(self._sink):
            self._fail()

    def _fail(self) -> None:
        code = self._ffi.errno or errno.EIO
        raise OSError(code, os.strerror(code))

    def __enter__(self) -> _Sink:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._lib.spooky_sink_free(self._sink)
        self._sink = self._ffi.NULL


class _Writeback:
    """A file whose written bytes start going to disk every STEP bytes, so
    that the final fsync has little left to wait for."""

    STEP = 8 << 20

    def __init__(self, f: BinaryIO):
        self._f = f
        self._written = self._started = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        n = self._f.write(data)
        self._written += len(data)
        if self._written - self._started >= self.STEP:
            from spooky_cli._native import lib

            self._f.flush()
            lib.spooky_start_writeback(
                self._f.fileno(), self._started, self._written - self._started
            )
            self._started = self._written
        return n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


def _refuse_inputs(path: str, out: os.stat_result | None, inputs: Iterable[str]) -> None:
    """An output that is one of the inputs (after links) is refused."""
    if out is None or not stat.S_ISREG(out.st_mode):
        return
    for name in inputs:
        st = _fstat(0) if name == "-" else _stat(name)
        if st is not None and (st.st_dev, st.st_ino) == (out.st_dev, out.st_ino):
            shown = "stdin" if name == "-" else repr(name)
            raise SpookyError(
                f"output {path!r} is the same file as the input {shown}: write to another file"
            )


def _quiet_stdout() -> None:
    """Points stdout at /dev/null so the interpreter's final flush does not fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _fstat(fd: int) -> os.stat_result | None:
    try:
        return os.fstat(fd)
    except OSError:
        return None


def _stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _named(exc: OSError, path: str) -> OSError:
    """The same error, naming the user's path (not a temp file or a folder)."""
    return type(exc)(exc.errno or errno.EIO, exc.strerror or str(exc), path)


def _unnamed(directory: str, path: str, mode: int) -> int:
    """An unnamed temp file in directory (a named one, removed at once, where
    O_TMPFILE is refused)."""
    try:
        return os.open(directory, os.O_TMPFILE | os.O_RDWR, mode)
    except OSError as exc:
        if exc.errno not in _NO_TMPFILE:
            raise _named(exc, directory) from None
    fd, name = tempfile.mkstemp(prefix="spooky-", dir=directory)
    os.unlink(name)
    return fd


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
