"""A team of threads that runs a nogil kernel over groups of chunks, the caller included.

The shopper model makes four or five parallel calls an epoch, a few thousand a
campaign. With a ``ThreadPoolExecutor`` every call submits one future per group and
the calling thread sleeps until they are done: each call paid for waking the workers
and then the caller (about 55 us a call with two threads on this machine, against
1 us of work for an empty kernel). Here the caller hands the call to the helper
threads and takes groups itself straight away; the threads take the groups in turn
from a shared counter, so a helper that wakes late only takes fewer groups, and the
caller waits only for a group still running.

Which thread runs which group does not change the results: every group writes only
its own rows and chunks (see :class:`sim.shoppers.model.ShopperModel`).
"""

from __future__ import annotations

import os
import queue
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any


class _Call:
    """One parallel call: the kernel, its arguments and the groups left to take.

    The counts change under ``cond``. Only the calling thread can be interrupted
    (Python delivers signals to the main thread), so the helpers' counts are always
    right, and an interrupted caller waits for the groups its helpers run (``active``).
    """

    __slots__ = ("active", "args", "cond", "error", "finished", "groups", "kernel", "next",
                 "stop")  # fmt: skip

    def __init__(
        self, kernel: Callable[..., Any], args: tuple[Any, ...], groups: Sequence[tuple[int, int]]
    ) -> None:
        self.kernel, self.args, self.groups = kernel, args, groups
        self.cond = threading.Condition(threading.Lock())
        self.next = 0  # the next group to take
        self.finished = 0  # groups done
        self.active = 0  # groups the helpers are running
        self.stop = False  # abandoned: hand out no more groups
        self.error: BaseException | None = None

    def work(self, helper: bool) -> None:
        """Take groups until none is left (or the call is abandoned)."""
        n = len(self.groups)
        while True:
            with self.cond:
                if self.stop or self.next >= n:
                    return
                k = self.next
                self.next += 1
                self.active += helper
            try:
                self.kernel(*self.args, *self.groups[k])
            except BaseException as exc:  # re-raised by the caller of Team.run
                self.error = exc
            finally:
                with self.cond:
                    self.active -= helper
                    self.finished += 1
                    if self.finished == n or self.active == 0:
                        self.cond.notify_all()

    def wait(self) -> None:
        """Until every group is done."""
        with self.cond:
            while self.finished < len(self.groups):
                self.cond.wait()

    def abandon(self) -> None:
        """Hand out no more groups, and wait for those the helpers are running."""
        with self.cond:
            self.stop = True
            while self.active > 0:
                self.cond.wait(0.1)


def _helper(calls: queue.SimpleQueue[_Call | None]) -> None:
    while (call := calls.get()) is not None:
        call.work(helper=True)


class Team:
    """``threads - 1`` helper threads plus the calling thread.

    Examples
    --------
    >>> import numpy as np
    >>> out = np.zeros(4)
    >>> def fill(out, a, b):
    ...     out[a:b] = a
    >>> team = Team(2)
    >>> team.run(fill, (out,), [(0, 1), (1, 3), (3, 4)])
    >>> out.tolist()
    [0.0, 1.0, 1.0, 3.0]
    >>> team.close()
    """

    def __init__(self, threads: int) -> None:
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._helpers = [
            threading.Thread(target=_helper, args=(self._calls,), daemon=True, name="promosim")
            for _ in range(max(0, threads - 1))
        ]
        for t in self._helpers:
            t.start()
        # helpers that are never closed stop when the team is garbage collected
        self._stop = weakref.finalize(self, _stop, self._calls, len(self._helpers))

    def run(
        self, kernel: Callable[..., Any], args: tuple[Any, ...], groups: Sequence[tuple[int, int]]
    ) -> None:
        """Run ``kernel(*args, a, b)`` for every group (a, b); return when all are done."""
        if not groups:
            return
        call = _Call(kernel, args, groups)
        for _ in self._helpers:
            self._calls.put(call)
        try:
            call.work(helper=False)
            call.wait()
        except BaseException:
            # interrupted (Ctrl-C): hand out no more groups, and return only once no
            # helper is writing into the caller's arrays
            call.abandon()
            raise
        if call.error is not None:
            raise call.error

    def close(self) -> None:
        """Stop the helper threads (they finish the call they are in)."""
        self._stop()


def _stop(calls: queue.SimpleQueue[_Call | None], n: int) -> None:
    for _ in range(n):
        calls.put(None)


def thread_budget() -> int:
    """Threads this process may keep busy: ``NUMBA_NUM_THREADS`` when set to a positive
    number, else the cores it may run on (its CPU affinity, as a batch job's cores)."""
    try:
        n = int(os.environ.get("NUMBA_NUM_THREADS", "0"))
    except ValueError:  # numba itself warns and ignores it
        n = 0
    if n > 0:
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)
