"""The thread team that runs the shopper kernels over groups of chunks."""

from __future__ import annotations

import gc
import signal
import threading
import time

import numpy as np
import pytest

from sim.shoppers.team import Team


def _count(hits: np.ndarray, a: int, b: int) -> None:
    hits[a:b] += 1


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_every_group_runs_once_per_call(threads: int) -> None:
    team = Team(threads)
    hits = np.zeros(40, np.int64)
    groups = [(k, k + 1) for k in range(40)]
    for _ in range(200):
        team.run(_count, (hits,), groups)
    team.close()
    assert hits.tolist() == [200] * 40


def test_the_helper_takes_groups_while_the_caller_works() -> None:
    """Two groups that each wait for the other to start can only finish if two threads
    run them at once: the caller takes one, the helper the other."""
    started = [threading.Event(), threading.Event()]

    def meet(flags: list[threading.Event], a: int, b: int) -> None:
        flags[a].set()
        assert flags[1 - a].wait(10.0), "the other group never started"

    team = Team(2)
    team.run(meet, (started,), [(0, 1), (1, 2)])
    team.close()


def test_a_kernel_error_reaches_the_caller_after_the_other_groups() -> None:
    hits = np.zeros(4, np.int64)

    def fail_on_2(hits: np.ndarray, a: int, b: int) -> None:
        if a == 2:
            raise ValueError("group 2")
        time.sleep(0.001)
        hits[a:b] += 1

    team = Team(2)
    with pytest.raises(ValueError, match="group 2"):
        team.run(fail_on_2, (hits,), [(k, k + 1) for k in range(4)])
    assert hits.tolist() == [1, 1, 0, 1]  # the call returns only when every group is done
    team.run(_count, (hits,), [(0, 4)])  # and the team still works
    assert hits.tolist() == [2, 2, 1, 2]
    team.close()


def test_helpers_stop_on_close_and_when_the_team_is_collected() -> None:
    team = Team(3)
    threads = list(team._helpers)
    assert len(threads) == 2 and all(t.is_alive() for t in threads)
    team.close()
    team.close()  # twice is harmless
    for t in threads:
        t.join(5.0)
    assert not any(t.is_alive() for t in threads)
    team = Team(2)
    threads = list(team._helpers)
    del team
    gc.collect()
    for t in threads:
        t.join(5.0)
    assert not any(t.is_alive() for t in threads)


class _Interrupt(Exception):
    pass


def test_an_interrupted_caller_returns_only_after_the_helpers_groups() -> None:
    """The caller, waiting for the helper's group, is interrupted by a signal: the call
    hands out no more groups and returns (raising) once the helper's group is done, so
    no thread writes into the caller's arrays after the call."""
    main = threading.get_ident()
    done = np.zeros(3, bool)
    helper_started = threading.Event()

    def group(done: np.ndarray, a: int, b: int) -> None:
        if threading.get_ident() == main:
            assert helper_started.wait(10.0)
            return
        helper_started.set()
        time.sleep(0.2)  # the caller is waiting now
        signal.pthread_kill(main, signal.SIGUSR1)
        time.sleep(0.3)
        done[a] = True

    def on_signal(signum: int, frame: object) -> None:
        raise _Interrupt

    old = signal.signal(signal.SIGUSR1, on_signal)
    team = Team(2)
    try:
        with pytest.raises(_Interrupt):
            team.run(group, (done,), [(0, 1), (1, 2)])
        assert done[:2].sum() == 1  # the helper's group finished before the call returned
        team.run(_count_bool, (done,), [(2, 3)])  # and the team still works
        assert done[2]
    finally:
        signal.signal(signal.SIGUSR1, old)
        team.close()


def _count_bool(done: np.ndarray, a: int, b: int) -> None:
    done[a:b] = True
