"""Work on two threads, results in order: the C core releases the GIL, so two
calls into it run at once while this thread writes the finished ones out."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


@contextmanager
def in_order(
    fn: Callable[[T], R], items: Iterable[T], workers: int = 2, ahead: int = 4, name: str = "spooky"
) -> Iterator[Iterator[tuple[T, R]]]:
    """Yields an iterator of (item, fn(item)) in the items' order, fn running on
    `workers` threads with at most `ahead` items in flight. An exception from
    fn is raised at its item. On leaving the block, however, work not started
    is cancelled and running work finished, so nothing fn uses is freed under it.

        with in_order(export_block, blocks) as results:
            for block, text in results:
                out.write(text)
    """
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)

    def results() -> Iterator[tuple[T, R]]:
        pending: deque[tuple[T, Future[R]]] = deque()
        for item in items:
            pending.append((item, pool.submit(fn, item)))
            if len(pending) >= ahead:
                done, fut = pending.popleft()
                yield done, fut.result()
        while pending:
            done, fut = pending.popleft()
            yield done, fut.result()

    try:
        yield results()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
