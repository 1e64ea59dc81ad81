"""isolated_map: crashes and hangs of one item cost that item only; results keep item order."""

from __future__ import annotations

import os
import signal
import time

from passlib.training_data.isolated_map import Failed, isolated_map


def _work(item: int) -> int:
    if item == 3:
        os.kill(os.getpid(), signal.SIGSEGV)  # a real crash of the worker, as a pass's SIGSEGV
    if item == 5:
        time.sleep(60)  # a hang
    return item * item


def test_crash_and_hang_fail_only_their_item_and_order_is_kept():
    started = time.monotonic()
    results = list(isolated_map(_work, list(range(8)), jobs=2, timeout_s=4.0))
    assert [index for index, _ in results] == list(range(8))
    values = dict(results)
    assert isinstance(values[3], Failed) and "died" in values[3].reason and "-11" in values[3].reason
    assert isinstance(values[5], Failed) and "more than 4 s" in values[5].reason
    assert {index: value for index, value in values.items() if index not in (3, 5)} == {
        index: index * index for index in (0, 1, 2, 4, 6, 7)}
    assert time.monotonic() - started < 40


def test_empty_input():
    assert list(isolated_map(_work, [], jobs=2)) == []
