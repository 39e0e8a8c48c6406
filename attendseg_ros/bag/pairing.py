"""Pair two streams (e.g. predicted labels and ground truth) by header stamp; no ROS, no bag I/O.

Unpaired items are never dropped silently: an item whose partner does not arrive within
``timeout`` seconds, or that is pushed out because more than ``max_pending`` items wait on one
side, is counted in :attr:`StampPairer.missing`, as is everything still waiting at :meth:`flush`.
Stamp order follows the node's rules (:class:`~attendseg_ros.runtime.frame_stats.StampOrder`): per
side, a stamp not later than the previous one counts in ``stamps_out_of_order``; a jump back of more
than a second (a bag played in a loop, a reset clock) counts in ``clock_resets`` and pairing starts
over, so the stamps of the next pass pair again instead of counting as duplicates.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..runtime.frame_stats import CLOCK_RESET, StampOrder

L = TypeVar("L")
R = TypeVar("R")


@dataclass
class _Pending(Generic[L]):
    value: L
    arrived: float


class StampPairer(Generic[L, R]):
    """Match ``left`` and ``right`` items carrying the same integer stamp (nanoseconds).

    ``add_left``/``add_right`` return ``(stamp, left, right)`` when the partner was already
    waiting, else ``None``. Counters: ``missing_left`` (a right item whose left never came),
    ``missing_right`` (the reverse), ``duplicates`` (an item for a stamp already paired or
    already waiting on that side, since the last clock reset: ignored, the first one is kept),
    ``stamps_out_of_order`` and ``clock_resets`` (both sides; see the module docstring).
    """

    def __init__(self, max_pending: int = 100, timeout: float | None = None, remember: int = 1000) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, got {max_pending}")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be positive seconds or None, got {timeout}")
        self.max_pending = max_pending
        self.timeout = timeout
        self._left: OrderedDict[int, _Pending[L]] = OrderedDict()
        self._right: OrderedDict[int, _Pending[R]] = OrderedDict()
        self._done: deque[int] = deque(maxlen=remember)
        self._done_set: set[int] = set()
        self.missing_left = 0
        self.missing_right = 0
        self.duplicates = 0
        self.paired = 0
        self._order_left, self._order_right = StampOrder(), StampOrder()

    @property
    def stamps_out_of_order(self) -> int:
        return self._order_left.out_of_order + self._order_right.out_of_order

    @property
    def clock_resets(self) -> int:
        return self._order_left.clock_resets + self._order_right.clock_resets

    @property
    def missing(self) -> int:
        """Items that lost their partner so far (both sides)."""
        return self.missing_left + self.missing_right

    @property
    def pending(self) -> int:
        return len(self._left) + len(self._right)

    def add_left(self, stamp: int, value: L, now: float | None = None) -> tuple[int, L, R] | None:
        match = self._add(stamp, value, self._left, self._right, now)
        if match is None:
            return None
        return stamp, value, match  # type: ignore[return-value]

    def add_right(self, stamp: int, value: R, now: float | None = None) -> tuple[int, L, R] | None:
        match = self._add(stamp, value, self._right, self._left, now)
        if match is None:
            return None
        return stamp, match, value  # type: ignore[return-value]

    def _add(self, stamp: int, value: object, mine: OrderedDict, theirs: OrderedDict, now: float | None) -> object:
        now = time.monotonic() if now is None else now
        self.expire(now)
        order = self._order_left if mine is self._left else self._order_right
        if order.arrived(stamp) == CLOCK_RESET:  # a new pass: its stamps may repeat those of the last one
            self._done.clear()
            self._done_set.clear()
        if stamp in self._done_set or stamp in mine:
            self.duplicates += 1
            return None
        partner = theirs.pop(stamp, None)
        if partner is not None:
            self._remember(stamp)
            self.paired += 1
            return partner.value
        mine[stamp] = _Pending(value, now)
        while len(mine) > self.max_pending:
            evicted, _ = mine.popitem(last=False)
            self._remember(evicted)
            self._count_missing(mine, 1)
        return None

    def _remember(self, stamp: int) -> None:
        if len(self._done) == self._done.maxlen:
            self._done_set.discard(self._done[0])
        self._done.append(stamp)
        self._done_set.add(stamp)

    def _count_missing(self, side: OrderedDict, count: int) -> None:
        # a left item without its right partner means the right one is missing, and vice versa
        if side is self._left:
            self.missing_right += count
        else:
            self.missing_left += count

    def expire(self, now: float | None = None) -> int:
        """Count items older than ``timeout`` as missing; returns how many expired now."""
        if self.timeout is None:
            return 0
        now = time.monotonic() if now is None else now
        expired = 0
        for side in (self._left, self._right):
            while side and now - next(iter(side.values())).arrived > self.timeout:
                stamp, _ = side.popitem(last=False)
                self._remember(stamp)
                self._count_missing(side, 1)
                expired += 1
        return expired

    def flush(self) -> int:
        """End of stream: everything still waiting is missing its partner; returns how many."""
        flushed = len(self._left) + len(self._right)
        for side in (self._left, self._right):
            for stamp in side:
                self._remember(stamp)
            self._count_missing(side, len(side))
            side.clear()
        return flushed

    def pending_left(self) -> list[int]:
        return list(self._left)

    def pending_right(self) -> list[int]:
        return list(self._right)
