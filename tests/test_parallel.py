"""spooky_cli.parallel.in_order: order kept, errors at their item, and no work
still running once the block is left (the C state it uses is freed next)."""

from __future__ import annotations

import random
import threading
import time

import pytest

from spooky_cli.parallel import in_order


def test_results_come_in_item_order() -> None:
    rng = random.Random(3)
    delays = [rng.random() / 500 for _ in range(40)]

    def work(i: int) -> int:
        time.sleep(delays[i])
        return i * i

    with in_order(work, range(40)) as done:
        assert list(done) == [(i, i * i) for i in range(40)]


def test_an_error_is_raised_at_its_item() -> None:
    def work(i: int) -> int:
        if i == 5:
            raise ValueError("five")
        return i

    seen = []
    with pytest.raises(ValueError, match="five"), in_order(work, range(20)) as done:
        for i, _ in done:
            seen.append(i)
    assert seen == [0, 1, 2, 3, 4]


def test_leaving_early_waits_for_running_work() -> None:
    lock = threading.Lock()
    running = 0
    started = 0

    def work(i: int) -> int:
        nonlocal running, started
        with lock:
            running += 1
            started += 1
        time.sleep(0.02)
        with lock:
            running -= 1
        return i

    with in_order(work, range(100)) as done:
        for i, _ in done:
            if i == 2:
                break
    assert running == 0  # nothing runs after the block
    assert started < 100  # what had not started was cancelled
