"""Counter-based random numbers: every draw is a pure function of (stream key, shopper, counter).

The generator is SplitMix64 (Steele, Lea & Flood 2014). A shopper's key is
``h = mix(stream_key ^ shopper * C)``; its draw number ``c`` is
``mix(h + (c + 1) * GAMMA)``, which is exactly the SplitMix64 sequence seeded
with ``h``. Draws therefore do not depend on the order in which shoppers are
processed, on the thread count or on chunking, and two scenarios run with the
same seed see the same numbers for the same decisions (common random numbers),
because counters are assigned by purpose, not by consumption.

Stream keys come from :class:`numpy.random.SeedSequence` with
``spawn_key=(replicate, stream)``, so replicate 7 has the same keys whether it
runs alone or in a batch.

These functions are compiled with numba and are also callable from Python
(the pure-Python reference model uses them as they are).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_SHOPPER = np.uint64(0xD1B54A32D192ED03)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53

# Streams (the second element of SeedSequence's spawn_key)
INIT, VISIT, ACCEPT, DECIDE, RECALL, SETTLE = range(6)
STREAM_NAMES = ("init", "visit", "accept", "decide", "recall", "settle")


def stream_keys(seed: int, replicate: int) -> np.ndarray:
    """The uint64 key of every stream of one replicate.

    Examples
    --------
    >>> k = stream_keys(1, 0)
    >>> k.dtype, len(k) == len(STREAM_NAMES)
    (dtype('uint64'), True)
    >>> bool((stream_keys(1, 0) == k).all())
    True
    """
    return np.array(
        [
            np.random.SeedSequence(seed, spawn_key=(replicate, s)).generate_state(1, np.uint64)[0]
            for s in range(len(STREAM_NAMES))
        ],
        dtype=np.uint64,
    )


@njit(cache=True)
def mix64(z: np.uint64) -> np.uint64:
    """SplitMix64's finaliser (a bijection of 64-bit integers)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def shopper_key(stream: np.uint64, shopper: int) -> np.uint64:
    """Per-shopper key; distinct shoppers get distinct keys (a bijection of the index)."""
    # casts: a key passed from Python arrives as int64, and int64 + uint64 is float64 in numba
    return mix64(np.uint64(stream) ^ (np.uint64(shopper) * _SHOPPER))


@njit(cache=True)
def bits(key: np.uint64, counter: int) -> np.uint64:
    """64 random bits: draw ``counter`` of the SplitMix64 sequence seeded with ``key``."""
    return mix64(np.uint64(key) + (np.uint64(counter) + np.uint64(1)) * GAMMA)


@njit(cache=True)
def uniform(key: np.uint64, counter: int) -> float:
    """Uniform on [0, 1) with 53 random bits."""
    return float(bits(key, counter) >> np.uint64(11)) * _TO_UNIT


@njit(cache=True)
def uniform_open(key: np.uint64, counter: int) -> float:
    """Uniform on (0, 1]."""
    return (float(bits(key, counter) >> np.uint64(11)) + 1.0) * _TO_UNIT


@njit(cache=True)
def exponential(key: np.uint64, counter: int) -> float:
    """Exponential with mean 1 (inversion)."""
    return -math.log(uniform_open(key, counter))


@njit(cache=True)
def normal(key: np.uint64, counter: int) -> float:
    """Standard normal (Box-Muller, from draws ``counter`` and ``counter + 1``)."""
    u1 = uniform_open(key, counter)
    u2 = uniform(key, counter + 1)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@njit(cache=True)
def poisson_small(key: np.uint64, counter: int, mean: float) -> int:
    """Poisson by inversion from one uniform; meant for small means (< 30)."""
    u = uniform(key, counter)
    p = math.exp(-mean)
    cdf = p
    k = 0
    while u >= cdf and k < 200:
        k += 1
        p *= mean / k
        cdf += p
    return k


@njit(cache=True)
def alias_draw(key: np.uint64, counter: int, prob: np.ndarray, alias: np.ndarray) -> int:
    """Categorical draw from an alias table (one uniform: column and coin from its bits)."""
    n = prob.shape[0]
    u = uniform(key, counter) * n
    k = int(u)
    if k >= n:
        k = n - 1
    return k if (u - k) < prob[k] else alias[k]


@njit(cache=True, nogil=True)
def fill_uniform(key: np.uint64, shopper: int, start: int, out: np.ndarray) -> None:
    """Fill ``out`` with draws ``start, start+1, ...`` of one shopper (tests, benchmarks)."""
    h = shopper_key(key, shopper)
    for c in range(out.shape[0]):
        out[c] = uniform(h, start + c)
