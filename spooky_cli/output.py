"""Output files that appear whole or not at all: temp file beside the target,
fsync, rename. `-` is stdout."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from spooky_cli.errors import SpookyError


@contextmanager
def atomic_output(path: str, binary_to_terminal_ok: bool = True) -> Iterator[BinaryIO]:
    """Yields a binary file to write. For a path, the target is replaced only
    when the block exits cleanly; on any error the temp file is removed and an
    existing target is untouched."""
    if path == "-":
        if not binary_to_terminal_ok and sys.stdout.isatty():
            raise OSError("refusing to write binary output to a terminal (use -o FILE)")
        sys.stdout.flush()
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = os.path.abspath(path)
    directory = os.path.dirname(target)
    fd, tmp = temp_beside(target)
    os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600; a plain file gets 0666 - umask
    try:
        with os.fdopen(fd, "wb") as f:
            yield _Writeback(f)  # type: ignore[misc]
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(directory)


@contextmanager
def record_file_target(output: str) -> Iterator[str]:
    """A path to write a record file to: output itself, or for - a temp file
    whose bytes go to stdout when the block exits cleanly."""
    if output != "-":
        yield output
        return
    if sys.stdout.isatty():
        raise SpookyError("refusing to write a binary record file to a terminal: use -o FILE")
    tmpdir = tempfile.mkdtemp(prefix="spooky-")
    try:
        target = os.path.join(tmpdir, "out.spky")
        yield target
        sys.stdout.flush()
        with open(target, "rb") as f:
            shutil.copyfileobj(f, sys.stdout.buffer, 1 << 20)
        sys.stdout.buffer.flush()
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


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

    def __getattr__(self, name: str) -> object:
        return getattr(self._f, name)


def temp_beside(target: str) -> tuple[int, str]:
    """A new hidden temp file in target's folder (so a rename replaces target
    atomically); errors name the target, not the temp file."""
    directory = os.path.dirname(target)
    prefix = f".{os.path.basename(target)}."
    try:
        return tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=directory)
    except FileNotFoundError:
        raise FileNotFoundError(2, "no such directory", directory) from None
    except PermissionError:
        raise PermissionError(13, "cannot write in this directory", directory) from None


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
