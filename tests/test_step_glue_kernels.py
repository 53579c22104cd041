"""The neural step's small compiled helpers against the numpy expressions they replace (plain references)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from neurocontrol.controllers._kernels import (
    count_at_least_kernel,
    count_below_kernel,
    fill_preview_kernel,
    finite_sum_kernel,
    set_walk_kernel,
)
from neurocontrol.nets._incremental_kernels import bias_walk_kernel

# values that include NaN, infinities, signed zeros and ties, where a comparison's rewrite could differ
VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                   st.sampled_from([0.0, -0.0, 1.0, 1e-9, np.nan, np.inf, -np.inf]))


def _pair(n):
    return st.tuples(arrays(np.float64, n, elements=VALUES), arrays(np.float64, n, elements=VALUES))


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 9).flatmap(_pair))
def test_counts_match_numpy(ab):
    a, b = ab
    assert count_below_kernel(a, b) == np.count_nonzero(a < b)
    index = np.arange(a.size)[::2].astype(np.int64)
    assert count_at_least_kernel(a, b, index) == np.count_nonzero(a[index] >= b[index])


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.integers(0, 9), elements=st.floats(allow_nan=True, allow_infinity=True, width=64)))
def test_finite_sum_matches_numpy(x):
    with np.errstate(all="ignore"):
        expected = math.isfinite(x.sum())
    if all(math.isfinite(v) for v in x) and not expected:
        return           # finite entries whose sum overflows: the order of the sum decides, and numpy's is pairwise
    assert finite_sum_kernel(x) == expected


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 8).flatmap(lambda n: st.tuples(_pair(n), st.booleans(), st.integers(0, 2 ** 16))))
def test_set_walk_matches_numpy(case):
    (noise_var, quiet_all), on, seed = case
    rng = np.random.default_rng(seed)
    n = noise_var.size
    rows = np.sort(rng.choice(n, size=rng.integers(1, n + 1), replace=False)).astype(np.int64)
    quiet, q = quiet_all[rows], rng.uniform(0.0, 1.0, rows.size)
    walk = rng.normal(size=n)
    expected = walk.copy()
    expected[rows] = np.where(noise_var[rows] < quiet, q, 0.0) if on else 0.0
    set_walk_kernel(on, rows, noise_var, quiet, q, walk)
    np.testing.assert_array_equal(walk, expected)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 6), st.integers(1, 3), st.integers(0, 4), st.integers(0, 2 ** 16))
def test_fill_preview_matches_slices(n, p, off, seed):
    rng = np.random.default_rng(seed)
    lead = rng.integers(0, 4, p).astype(np.int64)
    cache = rng.normal(size=(off + n + int(lead.max()) + 1, p))
    reference = rng.normal(size=p)
    expected = np.empty((n, p))
    for j, lj in enumerate(lead):
        expected[:, j] = cache[off + lj:off + lj + n, j]
        if lj == 0:
            expected[0, j] = reference[j]
    r = np.full((n, p), np.nan)
    fill_preview_kernel(cache, off, lead, reference, r)
    np.testing.assert_array_equal(r, expected)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 4), st.integers(2, 5), st.integers(0, 2 ** 16), st.booleans())
def test_bias_walk_matches_fancy_add(p, bs, seed, zero):
    rng = np.random.default_rng(seed)
    for block, row, col, shape in (
            (np.arange(p), np.full(p, bs - 1), np.full(p, bs - 1), (p + 1, bs, bs)),      # node-decoupled blocks
            (np.zeros(p, dtype=np.intp), np.arange(p) * bs + 1, np.arange(p) * bs + 1, (1, p * bs, p * bs))):  # global
        P = rng.normal(size=shape)
        walk = np.zeros(p) if zero else rng.uniform(0.0, 1.0, p) * (rng.uniform(size=p) < 0.7)
        expected = P.copy()
        if walk.any():
            expected[(block, row, col)] += walk
        bias_walk_kernel(P, block.astype(np.int64), row.astype(np.int64), col.astype(np.int64), walk)
        np.testing.assert_array_equal(P, expected)
