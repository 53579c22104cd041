"""The bound on the success rate under sensor noise (benchmarks/noise_bound.py) against plain references.

The best interval's mass against a search over interval centres on a fine grid; the bound against a seeded
Monte Carlo of the posterior computed on a grid from raw samples (no closed form shared); the PVTOL facts the
bound rests on (dynamics that do not read the position, a start at rest with only the position drawn).
"""

from pathlib import Path

import numpy as np
import pytest
from project_scripts import load_script

ROOT = Path(__file__).resolve().parents[1]
NB = load_script("benchmarks/noise_bound.py")


def _grid_posterior(m, s, a, x):
    """The truncated Gaussian posterior's density on the grid ``x`` (normalised by the trapezoid rule)."""
    d = np.where(np.abs(x) <= a, np.exp(-0.5 * ((x - m) / s) ** 2), 0.0)
    return d / np.trapezoid(d, x)


def test_best_interval_mass_against_a_search_over_centres():
    rng = np.random.default_rng(3)
    x = np.linspace(-1.0, 1.0, 40001)
    dx = x[1] - x[0]
    for _ in range(25):
        a = rng.uniform(0.1, 0.8)
        tol = rng.uniform(0.02, 0.9) * a
        s = rng.uniform(0.01, 0.5)
        m = rng.uniform(-a - 3 * s, a + 3 * s)
        p = _grid_posterior(m, s, a, x)
        w = int(round(2 * tol / dx))
        cum = np.concatenate([[0.0], np.cumsum(0.5 * (p[1:] + p[:-1]) * dx)])
        best = np.max(cum[w:] - cum[:-w])            # every window of width 2 tol on the grid
        assert NB.best_interval_mass(m, s, a, tol) == pytest.approx(best, abs=2e-4)


def test_interval_wider_than_the_prior_holds_everything():
    assert NB.best_interval_mass(0.3, 0.1, 0.05, 0.05) == 1.0
    assert NB.success_bound(1.0, 10, 0.05, 0.1) == 1.0


def test_success_bound_against_monte_carlo_of_raw_samples():
    """Draw a start, n noisy samples of it, the posterior on a grid, its best window; average over draws."""
    rng = np.random.default_rng(11)
    sigma, n, a, tol = 0.4, 200, 0.05, 0.02
    x = np.linspace(-a, a, 2001)
    dx = x[1] - x[0]
    w = int(round(2 * tol / dx))
    masses = []
    for _ in range(3000):
        x0 = rng.uniform(-a, a)
        z = x0 + sigma * rng.standard_normal(n)
        loglik = -0.5 * ((z[:, None] - x[None, :]) ** 2).sum(axis=0) / sigma ** 2
        p = np.exp(loglik - loglik.max())
        p /= np.trapezoid(p, x)
        cum = np.concatenate([[0.0], np.cumsum(0.5 * (p[1:] + p[:-1]) * dx)])
        masses.append(np.max(cum[w:] - cum[:-w]))
    mc, se = np.mean(masses), np.std(masses) / np.sqrt(len(masses))
    bound = NB.success_bound(sigma, n, a, tol)
    assert abs(bound - mc) < 4 * se + 1e-3
    assert bound < 0.9                                # the case is one where the bound binds


def test_bound_falls_with_noise_and_rises_with_samples():
    b = [NB.success_bound(sig, 1000, 0.05, 0.02) for sig in (0.1, 0.2, 0.4, 0.8)]
    assert all(u > v for u, v in zip(b, b[1:]))
    assert NB.success_bound(0.4, 4000, 0.05, 0.02) > NB.success_bound(0.4, 1000, 0.05, 0.02)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="sigma > 0"):
        NB.success_bound(0.0, 10, 0.05, 0.02)


def test_pvtol_dynamics_do_not_read_the_position_and_only_the_position_is_drawn():
    from neurocontrol.scenario import Scenario
    from plants.pvtol.dynamics import rhs

    rng = np.random.default_rng(5)
    for _ in range(20):
        x = rng.normal(size=6)
        u = np.array([rng.uniform(-2, 2), rng.uniform(20, 50)])
        shifted = x.copy()
        shifted[:2] += rng.normal(scale=5.0, size=2)
        np.testing.assert_array_equal(rhs(0.0, x, u), rhs(0.0, shifted, u))
    sc = Scenario.from_toml(ROOT / "scenarios/pvtol_steps.toml")
    starts = []
    for seed in range(6):
        setup = sc.build(seed)
        starts.append(np.asarray(setup.options["initial_state"], float))
    starts = np.array(starts)
    assert np.all(np.abs(starts[:, :2]) <= sc.plant.initial_spread)
    assert np.ptp(starts[:, :2], axis=0).min() > 0                         # the positions are drawn
    assert np.all(np.ptp(starts[:, 2:], axis=0) == 0)                       # the rest is the same hover every time


def test_pvtol_task_under_one_percent_noise_cannot_reach_95_of_100():
    b = NB.pvtol_bound(0.01)
    assert b["samples"] == 1001
    assert all(o["sigma"] == pytest.approx(0.4) for o in b["outputs"].values())
    assert 0.8 < b["bound"] < 0.9
    assert b["p_at_least_95_of_100"] < 0.01


def test_pvtol_bound_takes_the_noise_in_metres_too():
    by_fraction = NB.pvtol_bound(0.01)
    by_sigma = NB.pvtol_bound(sigma=[0.4, 0.4])
    assert by_sigma["bound"] == pytest.approx(by_fraction["bound"], rel=1e-12)
    assert NB.pvtol_bound(sigma=0.2)["bound"] == pytest.approx(NB.pvtol_bound(0.005)["bound"], rel=1e-12)
