"""``plant_model = "identified"``: a linear model fitted to an identification experiment flown before the run.

For an env without a python-control model (or whose model is not to be read), :func:`identified_trim` flies an
open-loop experiment on the env itself before the run: it resets the env with :data:`IDENTIFY_SEED`, holds the
input the env declares (``operating_point``; else the middle of the limits) plus an APRBS excitation of
:data:`IDENTIFY_AMPLITUDE` of each input's half range (holds of :data:`IDENTIFY_HOLDS` steps), held back while a
controlled output is beyond :data:`~neurocontrol.controllers._warmup.EXCITATION_BACKOFF` of its declared half range
from the middle (or, for a plant that starts beyond that, :data:`START_MARGIN` beyond its start, at most
:data:`BACKOFF_MAX`).
Every :data:`FIT_EVERY` steps from :data:`IDENTIFY_MIN_STEPS` on it fits, by least squares in the declared ranges'
normalised units,

``y(t+1) = A_1 y(t) + ... + A_L y(t-L+1) + B_1 u(t) + ... + B_L u(t-L+1) + c``

over every measured signal (``L`` = :data:`ARX_LAGS`), and ends once the fit is stable and the experiment has lasted
:data:`IDENTIFY_SPANS` of its slowest time constant (two fits in a row agreeing within :data:`TAU_AGREEMENT`), or
after :data:`IDENTIFY_MAX_STEPS` (over more than one episode where the env's time limit ends one). The fit, written
as a discrete-time state-space model in physical units (state: the last ``L`` measurements and the last ``L - 1``
inputs), stands in for the env's model in everything :func:`~neurocontrol.controllers.neural.build_neural` derives
from one (``long_run_signals``, the horizon check, ``warmup_feedforward``). The run itself resets the env again with
its own seed.

The fit is kept only if its free run (the model driven by the experiment's inputs alone) reproduces every controlled
output to at least :data:`FIT_MIN` (:func:`free_run_fit`). Nothing here knows the plant's equations: the control
period, the input limits, the declared observation ranges and the measurements. A plant the experiment cannot fly
open loop (the env ends it, or the fit does not decay) or whose fit fails the check gives no model, and the note
says why.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import control
import numpy as np

from neurocontrol.controllers._warmup import EXCITATION_BACKOFF
from neurocontrol.controllers.generic import Trim, declared_input, slowest_time_constant_steps
from neurocontrol.controllers.identified_warmup import _companion
from neurocontrol.reference import aprbs

__all__ = ["ARX_LAGS", "FIT_EVERY", "FIT_MIN", "IDENTIFY_AMPLITUDE", "IDENTIFY_HOLDS", "IDENTIFY_MAX_STEPS",
           "IDENTIFY_MIN_STEPS", "IDENTIFY_SEED", "IDENTIFY_SPANS", "TAU_AGREEMENT", "Experiment", "Identified",
           "fit_arx", "fit_episodes", "free_run_fit", "free_runs", "identification_experiment", "identified_trim"]

#: The seed of the experiment's env reset and excitation (the same experiment for every run seed).
IDENTIFY_SEED = 0
#: Excitation amplitude, a fraction of each input's half range (that of the identification warm-up).
IDENTIFY_AMPLITUDE = 0.05
#: Shortest and longest hold of the excitation, steps.
IDENTIFY_HOLDS = (5, 50)
#: Where the plant starts beyond the back-off (EXCITATION_BACKOFF of a controlled output's half range from the
#: middle), the excitation is held back only beyond this much more of the half range than the start, at most
#: BACKOFF_MAX: a plant whose declared operating point lies near the end of a range is still excited.
START_MARGIN = 0.05
BACKOFF_MAX = 0.95
#: Steps before the first fit.
IDENTIFY_MIN_STEPS = 100
#: Steps between two fits.
FIT_EVERY = 25
#: The experiment lasts this many of the fit's slowest time constants.
IDENTIFY_SPANS = 3.0
#: Two fits in a row whose slowest time constants differ by less than this fraction settle the experiment's length.
TAU_AGREEMENT = 0.2
#: The longest experiment, steps.
IDENTIFY_MAX_STEPS = 3000
#: Lags ``L`` of the fitted model.
ARX_LAGS = 2
#: The fit must reproduce every controlled output in free run to at least this: ``1 - |y - y_sim| / |y - mean(y)|``
#: over the experiment (:func:`free_run_fit`; the noise-free tanks and CSTR 0.87-0.998, every shipped plant under
#: 1 % sensor noise 0.00-0.35).
FIT_MIN = 0.5
#: Ridge weight of the fit per regressor and transition (normalised units): a prior of zero for directions the
#: data do not excite.
RIDGE = 1e-12


class Experiment(NamedTuple):
    """What :func:`identification_experiment` flew and fitted.

    ``Y`` and ``U``: per episode, the measurements ``(T_e + 1, n)`` and applied inputs ``(T_e, m)``; ``model``: the
    accepted fit (None: none); ``fitted`` and ``theta``: the last fit made, accepted or not (None: none made), as a
    state-space model and as ARX coefficients in normalised units; ``fit``: its free-run fit (None: not checked);
    ``why``: why there is no model (None: there is one); ``ranges``: ``(mid, half, input_mid, input_half)``.
    """

    Y: list
    U: list
    model: object
    fitted: object
    theta: object
    fit: float | None
    why: str | None
    ranges: tuple

    @property
    def steps(self) -> int:
        """Steps flown, every episode."""
        return sum(len(u) for u in self.U)

    def head(self, dt: float, when: str = "") -> str:
        """Return the note's opening, ``an identification experiment of N steps (T s[ over E episodes], open loop...)``.

        Parameters
        ----------
        dt : float
            Control period, s.
        when : str, default ""
            Appended inside the brackets (e.g. ``", before the run"``).
        """
        episodes = sum(1 for u in self.U if len(u))
        over = f" over {episodes} episodes" if episodes > 1 else ""
        return f"an identification experiment of {self.steps} steps ({self.steps * dt:.4g} s{over}, open loop{when})"

    def fit_episodes(self) -> list:
        """Return the episodes long enough to fit, normalised (:func:`fit_episodes`)."""
        return fit_episodes(self.Y, self.U, self.ranges)


class Identified(NamedTuple):
    """What the experiment gave: the fitted trim (None: no model), its length and the note that says so."""

    trim: Trim | None
    steps: int
    note: str


def _normalised(Y, U, mid, half, input_mid, input_half) -> list:
    """Return ``[(yn, un), ...]``, each episode's measurements and inputs in the declared ranges' normalised units."""
    episodes = list(zip(Y, U)) if isinstance(Y, list) else [(Y, U)]
    mid, half = np.asarray(mid, dtype=np.float64), np.asarray(half, dtype=np.float64)
    umid, uhalf = np.asarray(input_mid, dtype=np.float64), np.asarray(input_half, dtype=np.float64)
    return [((np.asarray(y, dtype=np.float64) - mid) / half, (np.asarray(u, dtype=np.float64) - umid) / uhalf)
            for y, u in episodes]


def fit_episodes(Y, U, ranges) -> list:
    """Return the episodes with at least :data:`ARX_LAGS` inputs, normalised: what the fit and its free run use.

    Parameters
    ----------
    Y, U : list of array_like
        Per episode, the measurements and the inputs, physical units.
    ranges : tuple
        ``(mid, half, input_mid, input_half)``, as :attr:`Experiment.ranges`.
    """
    kept = [(np.asarray(y), np.asarray(u)) for y, u in zip(Y, U) if len(u) >= ARX_LAGS]
    return _normalised([y for y, _ in kept], [u for _, u in kept], *ranges)


def _regressor(yn, un, t: int, lags: int) -> np.ndarray:
    return np.concatenate([yn[t - i] for i in range(lags)] + [un[t - j] for j in range(lags)] + [[1.0]])


def _regressors(yn, un, lags: int) -> np.ndarray:
    """Return the rows :func:`_regressor` gives for ``t = lags - 1 .. T - 1`` at once, shape (T - lags + 1, k)."""
    s, T = lags - 1, un.shape[0]
    if T <= s:                                   # too short for one transition
        return np.zeros((0, lags * (yn.shape[1] + un.shape[1]) + 1))
    cols = [yn[s - i:T - i] for i in range(lags)] + [un[s - j:T - j] for j in range(lags)]
    return np.hstack(cols + [np.ones((T - s, 1))])


def _theta(episodes: list, lags: int, ridge: float) -> np.ndarray:
    """Least-squares ARX coefficients in normalised units, shape (n, lags (n + m) + 1), over every episode."""
    s = lags - 1
    phi = np.vstack([_regressors(yn, un, lags) for yn, un in episodes])
    target = np.concatenate([yn[s + 1:un.shape[0] + 1] for yn, un in episodes])
    n, k = target.shape[1], phi.shape[1]
    if ridge > 0.0:                       # the ridge as extra rows: least squares on phi itself, not its normal matrix
        phi = np.vstack([phi, math.sqrt(ridge * phi.shape[0]) * np.eye(k)])
        target = np.vstack([target, np.zeros((k, n))])
    return np.linalg.lstsq(phi, target, rcond=None)[0].T


def _state_space(theta, lags: int, dt: float, half, input_half):
    """Return the ARX coefficients ``theta`` (normalised units) as a discrete-time state-space model, physical units.

    The companion form of :func:`~neurocontrol.controllers.identified_warmup._companion`, its rows taken from
    ``theta``'s columns ``[y(t) .. y(t-L+1), u(t) .. u(t-L+1), 1]``, scaled to the declared ranges.
    """
    half, uhalf = np.asarray(half, dtype=np.float64), np.asarray(input_half, dtype=np.float64)
    n, m = half.shape[0], uhalf.shape[0]
    ny = lags * n                         # [y lags | u(t) | older u | 1] -> [y lags | older u | u(t) | 1]
    rows = np.concatenate([theta[:, :ny], theta[:, ny + m:ny + lags * m], theta[:, ny:ny + m], theta[:, -1:]], axis=1)
    A, B, _ = _companion(rows.T, n, m, lags, difference=False)
    C = np.zeros((n, A.shape[0]))
    C[:, :n] = np.eye(n)
    scale = np.concatenate([np.tile(half, lags), np.tile(uhalf, lags - 1)])     # x_physical = scale * x_normalised
    A = A * scale[:, None] / scale[None, :]
    B = B * scale[:, None] / uhalf[None, :]
    C = C / scale[None, :] * half[:, None]
    return control.ss(A, B, C, np.zeros((n, m)), dt)


def fit_arx(Y, U, lags: int, dt: float, mid, half, input_mid, input_half, ridge: float = RIDGE):
    """Fit ``y(t+1) = sum_i A_i y(t-i) + sum_j B_j u(t-j) + c`` by ridge least squares; return a state-space model.

    Parameters
    ----------
    Y : array_like, shape (T + 1, n), or a list of them
        Measured signals ``y(0) .. y(T)``, physical units; a list: one array per episode (no transition spans two).
    U : array_like, shape (T, m), or a list of them
        Applied inputs ``u(0) .. u(T - 1)`` (of each episode).
    lags : int
        ``L`` >= 1.
    dt : float
        Control period, s (the model's sampling time).
    mid, half, input_mid, input_half : array_like
        The declared ranges' middles and half ranges: the fit is made in these normalised units.
    ridge : float, default :data:`RIDGE`

    Returns
    -------
    control.StateSpace
        Discrete time, physical units; state ``[y(t), ..., y(t-L+1), u(t-1), ..., u(t-L+1)]``, outputs ``y(t)``
        (the offset ``c`` left out: the model of deviations).
    """
    theta = _theta(_normalised(Y, U, mid, half, input_mid, input_half), lags, ridge)
    return _state_space(theta, lags, dt, half, input_half)


def free_runs(theta, episodes: list, lags: int) -> list:
    """Return the ARX model ``theta`` run on each episode's inputs alone from its first ``lags`` measurements.

    ``episodes`` as :func:`_normalised` gives them; each run has the shape of the episode's measurements (its first
    ``lags`` rows are the measured ones), in the same normalised units.
    """
    runs = []
    with np.errstate(over="ignore", invalid="ignore"):
        for yn, un in episodes:
            ys = np.array(yn, dtype=np.float64)
            for t in range(lags - 1, un.shape[0]):
                ys[t + 1] = theta @ _regressor(ys, un, t, lags)
            runs.append(ys)
    return runs


def free_run_fit(theta, episodes: list, lags: int, outputs) -> float:
    """Return the worst, over ``outputs``, of ``1 - |y - y_sim| / |y - mean(y)|`` of the fit's free run (1: exact).

    ``y_sim`` is the ARX model ``theta`` run on each episode's inputs alone from its first ``lags`` measurements
    (normalised units, :func:`_normalised`); the norms are over the steps after those, every episode pooled.
    -inf when the free run is not finite.
    """
    out = list(outputs)
    runs = free_runs(theta, episodes, lags)
    with np.errstate(over="ignore", invalid="ignore"):
        measured = np.concatenate([yn[lags:, out] for yn, _ in episodes])
        err = np.sum((measured - np.concatenate([ys[lags:, out] for ys in runs])) ** 2, axis=0)
        dev = np.sum((measured - measured.mean(axis=0)) ** 2, axis=0)
        fit = 1.0 - np.sqrt(err / np.maximum(dev, 1e-300))
    return float(np.min(fit)) if np.all(np.isfinite(fit)) else -math.inf


def _slowest_steps(sys) -> float | None:
    """Return the slowest mode of a discrete model in control steps (None: not asymptotically stable)."""
    return slowest_time_constant_steps(Trim(sys, [], [], None, None, sys), float(sys.dt))


def identification_experiment(env, output_indices, limits, dt: float, low, high):
    """Fly the experiment (see the module) on ``env``; return an :class:`Experiment`.

    ``Y`` and ``U`` hold one array of measurements and one of inputs per episode: when the env's time
    limit ends an episode (``truncated``), the experiment goes on in a new one (reset with the next seed), and no
    fitted transition spans two. An episode the env ends otherwise (``terminated``) ends it without a model.

    Parameters
    ----------
    env : gymnasium.Env
        The plant; it is reset with :data:`IDENTIFY_SEED` and stepped open loop.
    output_indices : sequence of int
        The controlled outputs within the observation (the excitation's back-off watches them).
    limits : numpy.ndarray, shape (m, 2)
        Input limits.
    dt : float
        Control period, s.
    low, high : array_like, shape (n,)
        Declared range of every measured signal.
    """
    lo, hi = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
    umid, uhalf = 0.5 * (limits[:, 0] + limits[:, 1]), 0.5 * (limits[:, 1] - limits[:, 0])
    start = declared_input(env, limits)
    nominal = umid.copy() if start is None else np.asarray(start, dtype=np.float64)
    rng = np.random.default_rng(IDENTIFY_SEED)
    amp = IDENTIFY_AMPLITUDE * uhalf
    excitation = np.column_stack([aprbs(IDENTIFY_MAX_STEPS, low=-a, high=a, min_hold=IDENTIFY_HOLDS[0],
                                        max_hold=IDENTIFY_HOLDS[1], rng=rng, n_channels=1)[:, 0] for a in amp])
    obs, _ = env.reset(seed=IDENTIFY_SEED)
    out = list(output_indices)
    Y, U = [[np.asarray(obs, dtype=np.float64).ravel()]], [[]]       # per episode
    # the back-off: beyond EXCITATION_BACKOFF of the half range, or a little beyond where the plant starts
    start_at = np.abs(Y[0][0][out] - mid[out]) / half[out]
    backoff = np.minimum(np.maximum(EXCITATION_BACKOFF, start_at + START_MARGIN), BACKOFF_MAX)
    model, theta, fit, last_tau = None, None, None, None

    def done(accepted, why):
        return Experiment([np.asarray(y) for y in Y], [np.asarray(u).reshape(-1, len(uhalf)) for u in U],
                          accepted, model, theta, fit, why, (mid, half, umid, uhalf))

    for k in range(IDENTIFY_MAX_STEPS):
        x = Y[-1][-1]
        near = np.any(np.abs(x[out] - mid[out]) / half[out] > backoff)
        u = np.clip(nominal + (0.0 if near else 1.0) * excitation[k], limits[:, 0], limits[:, 1])
        obs, _, terminated, truncated, _ = env.step(u)
        obs = np.asarray(obs, dtype=np.float64).ravel()
        if not np.all(np.isfinite(obs)):
            return done(None, f"a non-finite measurement at step {k + 1}")
        Y[-1].append(obs)
        U[-1].append(u)
        if terminated:
            return done(None, f"the env ended the experiment at step {k + 1} (open loop)")
        if truncated:                           # the episode's time limit: the experiment goes on in a new one
            obs, _ = env.reset(seed=IDENTIFY_SEED + len(Y))
            Y.append([np.asarray(obs, dtype=np.float64).ravel()])
            U.append([])
        steps = k + 1
        if steps < IDENTIFY_MIN_STEPS or steps % FIT_EVERY:
            continue
        episodes = fit_episodes(Y, U, (mid, half, umid, uhalf))
        theta = _theta(episodes, ARX_LAGS, RIDGE)
        model = _state_space(theta, ARX_LAGS, dt, half, uhalf)
        tau = _slowest_steps(model)
        if tau is not None and last_tau is not None and steps >= IDENTIFY_SPANS * tau \
                and abs(tau - last_tau) <= TAU_AGREEMENT * last_tau:
            fit = free_run_fit(theta, episodes, ARX_LAGS, out)
            if fit >= FIT_MIN:
                return done(model, None)
            return done(None, f"its fit's free run reproduces the controlled outputs to {fit:.2f} only (at least "
                              f"{FIT_MIN:g} needed: 1 - |error| / |deviation from the mean|; sensor noise or a "
                              "plant the two-lag linear model does not describe)")
        last_tau = tau
    if model is not None and _slowest_steps(model) is None:
        return done(None, "its fit has a mode that does not decay (an unstable or integrating plant)")
    return done(None, f"it did not settle within {IDENTIFY_MAX_STEPS} steps")


def identified_trim(env, output_indices, limits, dt: float, low, high) -> Identified:
    """Return the :class:`~neurocontrol.controllers.generic.Trim` of the experiment's fit and its note (the module).

    Its linearisation is the fit itself, whose outputs are every measured signal; its ``inputs`` the input the
    experiment held, its ``states`` None (nothing reads them).

    Parameters
    ----------
    env, output_indices, limits, dt, low, high
        As :func:`identification_experiment`.
    """
    exp = identification_experiment(env, output_indices, limits, dt, low, high)
    model, steps, head = exp.model, exp.steps, exp.head(dt, ", before the run")
    if model is None:
        return Identified(None, steps, f"{head} gave no model: {exp.why}")
    start = declared_input(env, limits)
    u0 = 0.5 * (limits[:, 0] + limits[:, 1]) if start is None else np.asarray(start, dtype=np.float64)
    n = np.asarray(model.C).shape[0]
    trim = Trim(sys=model, obs_idx=list(range(n)), output_indices=list(output_indices), states=None, inputs=u0,
                lin=model)
    tau = _slowest_steps(model)
    return Identified(trim, steps, f"{head}: a linear model with {ARX_LAGS} lags fitted to it, slowest time "
                                   f"constant {tau * dt:.4g} s")
