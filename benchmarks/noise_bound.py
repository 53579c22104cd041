"""The most runs any controller can end in band when sensor noise is all it learns an offset from.

Run: ``python benchmarks/noise_bound.py [--noise 0.01]``. Prints, for the planar VTOL's shipped task
(``scenarios/pvtol_steps.toml``) under sensor noise of the given fraction of each observation's range (the
``noise`` variant of ``bench_plants.py``), the largest success rate on the true outputs that any controller can
have, whatever it knows of the plant, and what that leaves of issue #15's 95 of 100.

Why there is such a bound. The PVTOL's dynamics do not read its position (``plants/pvtol/dynamics.py``'s ``rhs``
uses only the angle and the velocities), and each run starts at rest in hover with only its position drawn,
uniform within +- ``initial_spread`` per axis. So the position at time t is ``x0 + D(t)``, where ``D`` is the
displacement the inputs made, which a controller knowing the model exactly could compute, and the start ``x0``
is learned only from the prior and from the position samples ``z_k = x0 + D(t_k) + n_k`` (the angle and the
velocities carry no information on it). After ``N`` samples of Gaussian noise of standard deviation ``sigma``
the posterior of ``x0`` is the uniform prior times a Gaussian of standard deviation ``s = sigma / sqrt(N)``
around the samples' mean ``m`` (a sufficient statistic). The true error at the end, ``x0 + D(T) - r``, has
``D(T)`` chosen from those samples, so the chance it is within ``tol`` is at most the posterior mass of the best
interval of width ``2 tol``, :func:`best_interval_mass`. Averaged over the draws of ``x0`` and the noise,
:func:`success_bound`, that bounds the success rate of one output; the two axes' draws are independent, so the
product bounds both. A run succeeds only if every sample of its final window is in band, and this bounds the
last one alone, so the true bound is lower still; any less knowledge of the plant lowers it too.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from scipy import integrate
from scipy.special import ndtr
from scipy.stats import binom

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

__all__ = ["best_interval_mass", "success_bound", "pvtol_bound"]


def best_interval_mass(m, s: float, a: float, tol: float):
    """Return the largest posterior mass of an interval of width ``2 tol`` (vectorised over ``m``).

    The posterior is a Gaussian of mean ``m`` and standard deviation ``s`` truncated to ``[-a, a]`` (a uniform
    prior). Its density is log-concave, so an interval's mass is log-concave in its centre, and the best centre
    is ``m`` clipped to ``[-a + tol, a - tol]``; an interval wider than the support holds all of it.

    Parameters
    ----------
    m : float or array_like
        The samples' mean.
    s : float
        Its standard deviation given the start (``sigma / sqrt(N)``), > 0.
    a : float
        Half-width of the uniform prior, >= 0 (0: the start is known, the mass is 1).
    tol : float
        Half-width of the band, > 0.
    """
    m = np.asarray(m, dtype=float)
    if a <= tol:
        return np.ones_like(m)
    c = np.clip(m, -a + tol, a - tol)
    inside = ndtr((c + tol - m) / s) - ndtr((c - tol - m) / s)
    whole = ndtr((a - m) / s) - ndtr((-a - m) / s)
    return inside / whole


def success_bound(sigma: float, n: int, spread: float, tol: float) -> float:
    """Return the largest probability that one output ends within ``tol``, over the draws of start and noise.

    ``E[best_interval_mass(m)]`` with ``x0`` uniform on ``[-spread, spread]`` and ``m ~ N(x0, sigma^2 / n)``:
    the marginal density of ``m`` times the mass is ``(Phi((c + tol - m) / s) - Phi((c - tol - m) / s)) / (2
    spread)``, integrated over ``m`` by adaptive quadrature.

    Parameters
    ----------
    sigma : float
        The sensor noise's standard deviation, > 0.
    n : int
        Position samples the controller's last input can use, >= 1.
    spread : float
        Half-width of the start's uniform draw, >= 0.
    tol : float
        Half-width of the success band, > 0.
    """
    if not (sigma > 0 and n >= 1 and spread >= 0 and tol > 0):
        raise ValueError(f"need sigma > 0, n >= 1, spread >= 0, tol > 0; got {sigma}, {n}, {spread}, {tol}.")
    if spread <= tol:
        return 1.0
    s = sigma / math.sqrt(n)

    def joint(m):
        c = min(max(m, -spread + tol), spread - tol)
        return (ndtr((c + tol - m) / s) - ndtr((c - tol - m) / s)) / (2.0 * spread)

    edge = spread + 12.0 * s
    pts = [-spread, -spread + tol, 0.0, spread - tol, spread]
    value, _ = integrate.quad(joint, -edge, edge, points=pts, limit=400, epsabs=1e-12, epsrel=1e-10)
    return float(value)


def pvtol_bound(noise_fraction: float = 0.01, scenario: str = "scenarios/pvtol_steps.toml", sigma=None) -> dict:
    """Return the PVTOL task's numbers and bounds under sensor noise of ``noise_fraction`` of each range.

    Parameters
    ----------
    noise_fraction : float, default 0.01
        The noise's standard deviation as a fraction of each observation's declared range.
    scenario : str
        The task (path from the project's root).
    sigma : float or sequence of float, optional
        The noise's standard deviation on x and y in m (one value for both), in place of ``noise_fraction``.
    """
    from neurocontrol.scenario import Scenario

    sc = Scenario.from_toml(ROOT / scenario)
    env = sc.build(0).env
    space = env.observation_space
    # samples z_0 .. z_n: every observation of the run, the final one too (one more than a controller can act on,
    # so the bound is looser, never tighter)
    n = int(round(sc.run.duration / sc.plant.dt)) + 1
    out = {"scenario": scenario, "noise_fraction": noise_fraction, "samples": n,
           "initial_spread": float(sc.plant.initial_spread), "outputs": {}}
    joint = 1.0
    for i, name in enumerate(("x", "y")):
        if sigma is None:
            std = noise_fraction * float(space.high[i] - space.low[i])
        else:
            std = float(np.broadcast_to(np.asarray(sigma, dtype=float), (2,))[i])
        tol = float(sc.run.tolerance[name])
        b = success_bound(std, n, out["initial_spread"], tol)
        out["outputs"][name] = {"sigma": std, "posterior_std": std / math.sqrt(n), "tolerance": tol, "bound": b}
        joint *= b
    out["bound"] = joint
    out["expected_of_100"] = 100.0 * joint
    out["p_at_least_95_of_100"] = float(binom.sf(94, 100, joint))
    return out


def main(argv=None) -> int:
    """Print the PVTOL task's bound under the given noise."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--noise", type=float, default=0.01, help="noise std as a fraction of each range (default 0.01)")
    args = ap.parse_args(argv)
    b = pvtol_bound(args.noise)
    print(f"{b['scenario']}: sensor noise {args.noise:g} of each range, {b['samples']} samples, "
          f"start drawn within +-{b['initial_spread']:g} m per axis")
    for name, o in b["outputs"].items():
        print(f"  {name}: noise {o['sigma']:.4g} m, posterior std of the start {o['posterior_std']:.4g} m, band "
              f"+-{o['tolerance']:g} m: at most {100 * o['bound']:.1f} % of runs end in it")
    print(f"  both: at most {100 * b['bound']:.1f} % of runs (expected {b['expected_of_100']:.1f} of 100); "
          f"chance of 95 or more of 100: {b['p_at_least_95_of_100']:.2g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
