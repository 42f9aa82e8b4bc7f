"""The counter-based generator: exact against plain-Python SplitMix64, and statistically sound."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sim import rng

M64 = (1 << 64) - 1


def _mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def _splitmix_sequence(seed: int, n: int) -> list[int]:
    """The textbook SplitMix64 generator."""
    out, state = [], seed
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) & M64
        out.append(_mix(state))
    return out


@pytest.mark.parametrize("key", [rng.stream_keys(1, 0)[0], 2**64 - 1, 12345])
def test_draws_are_the_splitmix64_sequence_of_the_shopper_key(key):
    h = rng.shopper_key(key, 987)
    assert int(h) == _mix(int(key) ^ ((987 * 0xD1B54A32D192ED03) & M64))
    expected = _splitmix_sequence(int(h), 5)
    assert [int(rng.bits(np.uint64(h), c)) for c in range(5)] == expected
    assert rng.uniform(np.uint64(h), 3) == (expected[3] >> 11) * 2.0**-53
    # a key below 2**63 passed as a Python int is typed int64 by numba: the cast keeps it exact
    small = 12345
    assert int(rng.bits(small, 0)) == _splitmix_sequence(small, 1)[0]


def test_stream_keys_depend_on_seed_replicate_and_stream():
    a, b, c = rng.stream_keys(1, 0), rng.stream_keys(1, 1), rng.stream_keys(2, 0)
    assert len(set(a.tolist()) | set(b.tolist()) | set(c.tolist())) == 3 * len(a)
    np.testing.assert_array_equal(a, rng.stream_keys(1, 0))


def test_uniform_moments_and_ks():
    out = np.empty(200_000)
    rng.fill_uniform(rng.stream_keys(3, 0)[0], 11, 0, out)
    n = len(out)
    # mean and variance within 4 standard errors of 1/2 and 1/12
    assert abs(out.mean() - 0.5) < 4 * math.sqrt(1 / 12 / n)
    assert abs(out.var() - 1 / 12) < 4 * math.sqrt(1 / 180 / n)
    assert stats.kstest(out, "uniform").pvalue > 1e-4


def test_uniform_across_shoppers_is_uniform():
    key = rng.stream_keys(5, 0)[0]
    u = np.array([rng.uniform(np.uint64(rng.shopper_key(key, i)), 0) for i in range(20_000)])
    assert stats.kstest(u, "uniform").pvalue > 1e-4
    # neighbouring shoppers are uncorrelated
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 4 / math.sqrt(len(u))


def test_normal_exponential_poisson_against_theory():
    key = rng.stream_keys(7, 0)[0]
    h = np.uint64(rng.shopper_key(key, 1))
    n = 50_000
    z = np.array([rng.normal(h, 2 * c) for c in range(n)])
    e = np.array([rng.exponential(h, c) for c in range(n)])
    p = np.array([rng.poisson_small(h, c, 2.5) for c in range(n)])
    assert stats.kstest(z, "norm").pvalue > 1e-4
    assert stats.kstest(e, "expon").pvalue > 1e-4
    counts = np.bincount(p, minlength=12)[:12]
    expected = stats.poisson.pmf(np.arange(12), 2.5) * n
    keep = expected > 5
    chi = ((counts[keep] - expected[keep]) ** 2 / expected[keep]).sum()
    assert stats.chi2.sf(chi, keep.sum() - 1) > 1e-4


def test_alias_draw_frequencies():
    from sim.plan import alias_table

    p = np.array([0.1, 0.2, 0.3, 0.4])
    prob, alias = alias_table(p)
    h = np.uint64(rng.shopper_key(rng.stream_keys(9, 0)[0], 0))
    n = 40_000
    draws = np.array([rng.alias_draw(h, c, prob, alias) for c in range(n)])
    counts = np.bincount(draws, minlength=4)
    se = np.sqrt(n * p * (1 - p))
    assert np.all(np.abs(counts - n * p) < 4 * se)
