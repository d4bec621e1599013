"""Rendered pages and downloads, kept per results revision: drawn once, sent many times.

A key always names the exact numbers (``Results.cache_key``: snapshot or live data version, options)
plus what else shapes the output (the full path with its query, the language), so a new revision
or a new live computation can never be answered from an old entry.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: Entries kept (pages of a few tens of KB each).
SIZE = 512

_entries: OrderedDict[tuple, object] = OrderedDict()
_lock = threading.Lock()


def cached(key: tuple, build: Callable[[], T]) -> T:
    with _lock:
        if key in _entries:
            _entries.move_to_end(key)
            return _entries[key]  # type: ignore[return-value]
    value = build()
    with _lock:
        _entries[key] = value
        while len(_entries) > SIZE:
            _entries.popitem(last=False)
    return value


def clear() -> None:
    with _lock:
        _entries.clear()
