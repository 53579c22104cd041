"""Decentralised PI/PID loops designed on a sampled linearisation: the largest integral gain under a robustness bound.

The design of ``pid_auto``'s ``method = "model"`` (:func:`design_loops`). For each loop, on the plant as the loop
sees it (the sampled linearisation, with the loops designed before it closed), it looks for the PI or PID settings
with the **largest integral gain** ``ki = Kc / Ti`` (the integrated error after a load step is ``1 / ki`` for a unit
step, so this is the best load rejection) under the constraint that the loop's sensitivity and complementary
sensitivity stay below ``max_sensitivity`` at every frequency up to the Nyquist frequency, and that closing it
pushes no mode out of the unit circle. It is the constrained design of Astrom and
Hagglund (MIGO), applied here to the discrete loop exactly as
:class:`~neurocontrol.controllers.autotune.PIDAutoController` runs it (backward-difference integral, derivative on the
measurement through a first-order filter of ``Td / N``), so the sampling period's delay is in the design and nothing
is approximated by a low-order model.

Loops are closed one after the other, fastest first: each is designed alone first (the others open), which orders
them by the integral time found, and then designed again in that order on the plant with the earlier loops
closed, so interaction (and a right-half-plane zero that only the closed loops show) is designed for. The full
loop is then checked: all modes strictly inside the unit circle, else :class:`~neurocontrol.exceptions.ParameterError`.

With ``structure = "pid"`` the same search is made for each derivative time of a log-spaced grid (``TD_GRID``
control periods, 0.5 to 2000) and the best kept; ``"auto"`` takes the PID only where it more than doubles the PI's
integral gain.

Limits: each loop's bound holds with the loops before it closed and those after it open; closing the later loops
changes it (the full loop's peaks are not bounded, only its stability is checked). The design is linear, at the
trim: a plant whose gains move far from it along the task (the twin rotor's yaw rotor, the CSTR near its yield
maximum) may oscillate under loops that the model says are well damped.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from neurocontrol.exceptions import ParameterError

__all__ = ["LoopDesign", "pid_state_space", "pid_frequency_response", "close_loops", "design_loop", "design_loops",
           "frequency_grid", "loop_sensitivities"]

#: Derivative times tried for a PID, in control periods (log-spaced).
TD_GRID = np.geomspace(0.5, 2000.0, 12)
#: ``"auto"`` takes the PID where its integral gain is more than this many times the PI's.
PID_GAIN_FACTOR = 2.0
#: Frequencies of the sensitivity check, log-spaced from ``LOW_FREQUENCY`` times the Nyquist frequency to it.
N_FREQUENCIES = 600
LOW_FREQUENCY = 1e-5
#: Proportional gains tried, log-spaced over the range of ``1 / |P|`` on the frequency grid (widened a decade below
#: and above), then refined around the best.
N_GAINS = 48
N_REFINE = 16
#: Bisection steps on ``log ki``.
N_BISECT = 40
#: A mode is outside the unit circle when its modulus is above ``1 + UNIT_TOL``, on or outside it when at least
#: ``1 - UNIT_TOL``.
UNIT_TOL = 1e-9


class LoopDesign(NamedTuple):
    """One designed loop: output ``output`` (row of the controlled outputs) driven by input ``input``."""

    output: int
    input: int
    kc: float                 # signed: the loop's sign times the proportional gain
    ti: float                 # s
    td: float                 # s (0: PI)
    sensitivity_peak: float   # max over the grid of max(|S|, |T|) of this loop as designed


def pid_state_space(kc: float, ti: float, td: float, dt: float, n_filter: float):
    """Return ``(Ac, Bc, Cc, Dc)``: the discrete PI/PID from the measurement ``y`` to the input ``u`` (reference 0).

    The law of :class:`~neurocontrol.controllers.autotune.PIDAutoController` (unsaturated):
    ``u(k) = I(k) + Kc e(k) + D(k)``, ``e = -y``, ``I(k+1) = I(k) + Kc dt / Ti e(k)``, ``D(k) = (Tf D(k-1) - Kc Td
    (y(k) - y(k-1))) / (Tf + dt)``, ``Tf = Td / N``. States ``[I, D(k-1), y(k-1)]`` (``[I]`` without derivative).

    Parameters
    ----------
    kc, ti, td : float
        Proportional gain, integral time (s; ``inf``: no integral), derivative time (s; 0: none).
    dt : float
        Control period, s.
    n_filter : float
        ``N`` of the derivative filter.
    """
    g = kc * dt / ti if math.isfinite(ti) else 0.0
    if td <= 0.0:
        return np.array([[1.0]]), np.array([[-g]]), np.array([[1.0]]), np.array([[-kc]])
    tf = td / n_filter
    a, b = tf / (tf + dt), kc * td / (tf + dt)
    Ac = np.array([[1.0, 0.0, 0.0], [0.0, a, b], [0.0, 0.0, 0.0]])
    Bc = np.array([[-g], [-b], [1.0]])
    Cc = np.array([[1.0, a, b]])
    Dc = np.array([[-(kc + b)]])
    return Ac, Bc, Cc, Dc


def pid_frequency_response(kc, ti, td, dt: float, n_filter: float, z: np.ndarray) -> np.ndarray:
    """Return ``K(z)`` of the same law at the points ``z`` (``u = -K(z) y``), broadcast over the settings.

    ``K(z) = Kc (1 + dt / (Ti (z - 1)) + Td (1 - 1/z) / (Tf + dt - Tf / z))``.

    Parameters
    ----------
    kc, ti, td : float or numpy.ndarray
        As :func:`pid_state_space` (arrays broadcast against ``z``).
    dt, n_filter : float
        Control period (s) and derivative filter ``N``.
    z : numpy.ndarray
        Points of the complex plane (``exp(j w dt)`` on the unit circle).
    """
    zi = 1.0 / z
    k = 1.0 + dt / (ti * (z - 1.0))
    td = np.asarray(td, dtype=float)
    if np.any(td > 0):
        tf = td / n_filter
        k = k + np.where(td > 0, td * (1.0 - zi) / (tf + dt - tf * zi + (td <= 0)), 0.0)
    return kc * k


def close_loops(Ad, Bd, Cd, loops, dt: float, n_filter: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(A, B, C)`` of the plant with ``loops`` closed: inputs and outputs as the plant's.

    The state is the plant's followed by each loop's controller states; the closed loops' inputs are driven by
    their controllers, and an input of ``B`` adds to whatever drives it (so ``B[:, j]`` is still the way into input
    ``j``, for the next loop to close).

    Parameters
    ----------
    Ad, Bd, Cd : numpy.ndarray
        The sampled plant, shapes (n, n), (n, m), (p, n) (the controlled outputs' rows; no direct feed-through).
    loops : sequence of LoopDesign
        The loops to close.
    dt, n_filter : float
        Control period (s) and derivative filter ``N``.
    """
    n, m = Bd.shape
    blocks = [pid_state_space(lp.kc, lp.ti, lp.td, dt, n_filter) for lp in loops]
    nc = sum(b[0].shape[0] for b in blocks)
    A = np.zeros((n + nc, n + nc))
    A[:n, :n] = Ad
    B = np.zeros((n + nc, m))
    B[:n] = Bd
    C = np.zeros((Cd.shape[0], n + nc))
    C[:, :n] = Cd
    at = n
    for lp, (Ac, Bc, Cc, Dc) in zip(loops, blocks):
        k = Ac.shape[0]
        bj, ci = Bd[:, lp.input:lp.input + 1], Cd[lp.output:lp.output + 1]
        A[:n, :n] += bj @ Dc @ ci
        A[:n, at:at + k] = bj @ Cc
        A[at:at + k, :n] = Bc @ ci
        A[at:at + k, at:at + k] = Ac
        at += k
    return A, B, C


def frequency_grid(dt: float, n: int = N_FREQUENCIES) -> np.ndarray:
    """Return the design's frequencies (rad/s): ``n`` log-spaced from ``LOW_FREQUENCY`` times Nyquist's to it.

    Parameters
    ----------
    dt : float
        Control period, s.
    n : int, default N_FREQUENCIES
        How many.
    """
    return np.geomspace(LOW_FREQUENCY, 1.0, n) * math.pi / dt


def loop_sensitivities(Ad, Bd, Cd, loops, dt: float, n_filter: float = 10.0, w=None):
    """Return ``(w, S, T)``: each loop's ``|S|`` and ``|T|`` with **every other loop closed**, shapes (k, len(w)).

    The loop is broken at its input: ``L = P K`` with ``P`` the path from its input to its output through the
    plant with the other loops closed, ``K`` its own PI/PID. The design bounds this only for the loop closed last
    (the others were designed with the later loops open), so this is what the whole loop keeps of each bound.

    Parameters
    ----------
    Ad, Bd, Cd : numpy.ndarray
        The sampled plant (see :func:`close_loops`).
    loops : sequence of LoopDesign
        The designed loops.
    dt : float
        Control period, s.
    n_filter : float, default 10.0
        ``N`` of the derivative filter.
    w : numpy.ndarray, optional
        Frequencies, rad/s (default :func:`frequency_grid`).
    """
    Ad, Bd, Cd = (np.asarray(a, dtype=float) for a in (Ad, Bd, Cd))
    w = frequency_grid(dt) if w is None else np.asarray(w, dtype=float)
    z = np.exp(1j * w * dt)
    S = np.empty((len(loops), w.shape[0]))
    T = np.empty_like(S)
    for k, lp in enumerate(loops):
        A, B, C = close_loops(Ad, Bd, Cd, [o for o in loops if o is not lp], dt, n_filter)
        L = _frequency_response(A, B[:, lp.input], C[lp.output], z) * pid_frequency_response(lp.kc, lp.ti, lp.td, dt,
                                                                                             n_filter, z)
        S[k], T[k] = _sensitivities(L)
    return w, S, T


def _sensitivities(L) -> tuple[np.ndarray, np.ndarray]:
    """``|S| = |1 / (1 + L)|`` and ``|T| = |L / (1 + L)|`` of a loop's frequency response ``L``."""
    with np.errstate(all="ignore"):
        return np.abs(1.0 / (1.0 + L)), np.abs(L / (1.0 + L))


def _frequency_response(A, b, c, z) -> np.ndarray:
    """``c (z I - A)^-1 b`` at each point of ``z`` (a SISO path)."""
    n = A.shape[0]
    M = z[:, None, None] * np.eye(n)[None] - A[None]
    return np.linalg.solve(M, np.broadcast_to(b, (z.shape[0], n)) [..., None])[..., 0] @ c


def _counts(A) -> tuple[int, int]:
    """Modes of ``A`` outside the unit circle, and on or outside it."""
    r = np.abs(np.linalg.eigvals(A))
    return int(np.sum(r > 1.0 + UNIT_TOL)), int(np.sum(r >= 1.0 - UNIT_TOL))


class _Loop:
    """The search for one loop: the plant as the loop sees it, and its feasibility test."""

    def __init__(self, Ad, Bd, Cd, closed, output, input_, sign, dt, n_filter, bound, noise_gain=None):
        self.dt, self.n_filter, self.bound, self.noise_gain = dt, n_filter, bound, noise_gain
        self.A, B, C = close_loops(Ad, Bd, Cd, closed, dt, n_filter)
        self.b, self.c = B[:, input_], C[output]
        self.before = _counts(self.A)
        self.z = np.exp(1j * frequency_grid(dt) * dt)
        self.P = sign * _frequency_response(self.A, self.b, self.c, self.z)
        self.sign, self.output, self.input = sign, output, input_
        self._cache: dict = {}

    def peak(self, kp, ki, td):
        """Return ``max(|S|, |T|)`` over the grid with the loop closed by ``(kp, ki, td)``."""
        S, T = _sensitivities(self.P * pid_frequency_response(kp, kp / ki, td, self.dt, self.n_filter, self.z))
        return float(np.max(np.maximum(S, T)))

    def stable(self, kp, ki, td) -> bool:
        """Whether closing the loop by ``(kp, ki, td)`` pushes no mode out of the unit circle."""
        Ac, Bc, Cc, Dc = pid_state_space(self.sign * kp, kp / ki, td, self.dt, self.n_filter)
        b, c = self.b[:, None], self.c[None]
        A = np.block([[self.A + b @ Dc @ c, b @ Cc], [Bc @ c, Ac]])
        if not np.all(np.isfinite(A)):
            return False
        out, on = _counts(A)
        # no mode pushed out; the controller's own integrator may still sit on the circle at a vanishing ki
        return out <= self.before[0] and on <= self.before[1] + 1

    def _bases(self, td):
        """``(kb, ka, Q, R)``: the controller ``K = kp kb + ki ka`` and the loop ``L = P K = kp Q + ki R``."""
        if td not in self._cache:
            kb = np.ones_like(self.z)
            if td > 0:
                tf, zi = td / self.n_filter, 1.0 / self.z
                kb = kb + td * (1.0 - zi) / (tf + self.dt - tf * zi)
            ka = self.dt / (self.z - 1.0)
            self._cache[td] = (kb, ka, self.P * kb, self.P * ka)
        return self._cache[td]

    def _noise_limit(self, kp, kb, ka, one, R) -> np.ndarray | None:
        """Per frequency, the first ``ki > 0`` with ``|K| > noise_gain |1 + L|`` (inf: none; None: fails at 0).

        ``f(ki) = |kp kb + ki ka|^2 - g^2 |1 + kp Q + ki R|^2 <= 0`` must hold at 0; whether the parabola opens up
        (then ``f <= 0`` up to its larger root) or down (then ``f > 0`` between two positive roots), the first root
        where it fails is ``(-b + sqrt(disc)) / (2 a)``.
        """
        g2 = self.noise_gain * self.noise_gain
        k0 = kp * kb
        a = (ka * ka.conj()).real - g2 * (R * R.conj()).real
        b = 2.0 * ((k0 * ka.conj()).real - g2 * (one * R.conj()).real)
        c0 = (k0 * k0.conj()).real - g2 * (one * one.conj()).real
        if np.any(c0 > 0.0) or not np.all(np.isfinite(c0)):
            return None
        disc = b * b - 4.0 * a * c0
        lin = np.abs(a) <= 1e-12 * (np.abs(b) + 1e-300)
        root = np.where(lin, np.where(b > 0.0, -c0 / b, np.inf),
                        np.where(disc >= 0.0, (-b + np.sqrt(np.maximum(disc, 0.0))) / (2.0 * a), np.inf))
        return np.where(root > 0.0, root, np.inf)

    def best_ki(self, kp, td) -> float:
        """Return the largest ``ki`` at ``kp`` with every ``ki`` below it within the bound, loop stable (0: none).

        At each frequency ``|1 + L| >= 1 / M`` and ``|L| <= M |1 + L|`` are quadratic inequalities in ``ki``
        (``L = kp Q + ki R``) with a positive leading coefficient: each must hold at ``ki = 0`` (else no ``ki``
        helps at this ``kp``) and first fails at its smaller root, if that is positive. The smallest such root over
        all frequencies is where the bound is first reached; the loop's stability is checked just below it
        (bisection on ``log ki`` below it if it is not stable there).
        """
        kb, ka, Q, R = self._bases(td)
        M2 = self.bound * self.bound
        c = kp * Q
        r2 = (R * R.conj()).real
        with np.errstate(all="ignore"):
            one = 1.0 + c
            first = np.full(self.z.shape[0], np.inf)
            for a, b, c0 in ((r2, 2.0 * (one * R.conj()).real, (one * one.conj()).real - 1.0 / M2),
                             ((M2 - 1.0) * r2, 2.0 * ((M2 - 1.0) * (c * R.conj()).real + M2 * R.real),
                              (M2 - 1.0) * (c * c.conj()).real + 2.0 * M2 * c.real + M2)):
                if np.any(c0 < 0.0) or not np.all(np.isfinite(c0)):
                    return 0.0                          # violated without integral action
                disc = b * b - 4.0 * a * c0
                root = np.where((disc > 0.0) & (b < 0.0) & (a > 0.0), (-b - np.sqrt(disc)) / (2.0 * a), np.inf)
                first = np.minimum(first, root)
            if self.noise_gain is not None:
                noise = self._noise_limit(kp, kb, ka, one, R)
                if noise is None:
                    return 0.0                          # the proportional part alone passes too much noise
                first = np.minimum(first, noise)
        hi = min(float(first.min()), kp / self.dt * 1e3)
        if not hi > 0.0:
            return 0.0
        ki = hi * (1.0 - 1e-9)
        if self.stable(kp, ki, td):
            return ki
        lo = kp * self.dt * 1e-9
        if lo >= ki or not self.stable(kp, lo, td):
            return 0.0
        a, b = math.log(lo), math.log(ki)
        for _ in range(N_BISECT):
            mid = 0.5 * (a + b)
            if self.stable(kp, math.exp(mid), td):
                a = mid
            else:
                b = mid
        return math.exp(a)

    def search(self, td) -> tuple[float, float]:
        """``(kp, ki)`` with the largest feasible ``ki`` (0, 0: none)."""
        mag = np.abs(self.P)
        mag = mag[np.isfinite(mag) & (mag > 0)]
        if mag.size == 0:
            return 0.0, 0.0
        low = 0.1 / mag.max()
        if self.noise_gain is not None:        # |K S| tends to kp |S| at high frequency: a tight bound needs a low kp
            low = min(low, 0.01 * self.noise_gain)
        grid = np.geomspace(low, 10.0 / mag.min(), N_GAINS)
        kis = np.array([self.best_ki(kp, td) for kp in grid])
        best = int(np.argmax(kis))
        if kis[best] <= 0.0:
            return 0.0, 0.0
        fine = np.geomspace(grid[max(best - 1, 0)], grid[min(best + 1, N_GAINS - 1)], N_REFINE)
        kis_f = np.array([self.best_ki(kp, td) for kp in fine])
        k = int(np.argmax(kis_f))
        return (float(fine[k]), float(kis_f[k])) if kis_f[k] > kis[best] else (float(grid[best]), float(kis[best]))


def design_loop(Ad, Bd, Cd, closed, output: int, input_: int, sign: float, dt: float, *, structure: str = "pi",
                max_sensitivity: float = 1.7, n_filter: float = 10.0,
                max_noise_gain: float | None = None) -> LoopDesign | None:
    """Design one loop on the plant with ``closed`` loops closed; None when no setting meets the bound.

    Parameters
    ----------
    Ad, Bd, Cd : numpy.ndarray
        The sampled plant (see :func:`close_loops`).
    closed : sequence of LoopDesign
        Loops already closed.
    output, input_ : int
        The loop's controlled output (row of ``Cd``) and input (column of ``Bd``).
    sign : float
        +1 or -1: the sign of the loop's gain (the input that raises the output).
    dt : float
        Control period, s.
    structure : {"pi", "pid", "auto"}, default "pi"
    max_sensitivity : float, default 1.7
        Bound on ``max(|S|, |T|)`` over frequency.
    n_filter : float, default 10.0
        ``N`` of the derivative filter.
    max_noise_gain : float, optional
        Bound on ``|K S|`` over frequency (input units per output unit): how much of the measurement's noise
        reaches the input. None: no bound.
    """
    if structure not in ("pi", "pid", "auto"):
        raise ParameterError(f"`structure` must be 'pi', 'pid' or 'auto', got {structure!r}.")
    loop = _Loop(Ad, Bd, Cd, closed, output, input_, sign, dt, n_filter, max_sensitivity, max_noise_gain)
    pi = (*loop.search(0.0), 0.0) if structure != "pid" else (0.0, 0.0, 0.0)
    pid = (0.0, 0.0, 0.0)
    if structure != "pi":
        for td in TD_GRID * dt:
            kp, ki = loop.search(float(td))
            if ki > pid[1]:
                pid = (kp, ki, float(td))
    kp, ki, td = pid if structure == "pid" or (structure == "auto" and pid[1] > PID_GAIN_FACTOR * pi[1]) else pi
    if ki <= 0.0:
        return None
    return LoopDesign(output, input_, sign * kp, kp / ki, td, loop.peak(kp, ki, td))


def design_loops(Ad, Bd, Cd, pairing, signs, dt: float, *, structure: str = "pi", max_sensitivity: float = 1.7,
                 n_filter: float = 10.0, names=None, max_noise_gain=None) -> list[LoopDesign]:
    """Design every loop, fastest first, each on the plant with the earlier ones closed; check the whole loop.

    Parameters
    ----------
    Ad, Bd, Cd : numpy.ndarray
        The sampled plant: state transition (n, n), input (n, m) and the controlled outputs' rows (p, n).
    pairing : sequence of int
        Input of each controlled output.
    signs : sequence of float
        Sign of each loop's gain.
    dt : float
        Control period, s.
    structure : {"pi", "pid", "auto"}, default "pi"
        PI, PID (the derivative time from a grid), or per loop the PID only where it more than doubles the integral
        gain.
    max_sensitivity : float, default 1.7
        Bound on each loop's ``max(|S|, |T|)``.
    n_filter : float, default 10.0
        ``N`` of the derivative filter.
    names : sequence of str, optional
        The controlled outputs' names, for the messages.
    max_noise_gain : sequence of float, optional
        Per loop, the bound on ``|K S|`` (input units per output unit; :func:`design_loop`). None: no bound.

    Returns
    -------
    list of LoopDesign
        In the order of the controlled outputs.

    Raises
    ------
    ParameterError
        If a loop has no setting that meets the bound, or the loops together leave a mode on or outside the unit
        circle.
    """
    if structure not in ("pi", "pid", "auto"):
        raise ParameterError(f"`structure` must be 'pi', 'pid' or 'auto', got {structure!r}.")
    Ad, Bd, Cd = (np.asarray(a, dtype=float) for a in (Ad, Bd, Cd))
    p = Cd.shape[0]
    names = [f"output {i}" for i in range(p)] if names is None else list(names)
    kw = {"structure": structure, "max_sensitivity": max_sensitivity, "n_filter": n_filter}
    noise = [None] * p if max_noise_gain is None else [float(g) for g in max_noise_gain]
    alone = [design_loop(Ad, Bd, Cd, [], i, int(pairing[i]), float(signs[i]), dt, max_noise_gain=noise[i], **kw)
             for i in range(p)]
    order = sorted(range(p), key=lambda i: (alone[i].ti if alone[i] is not None else math.inf, i))
    closed: list[LoopDesign] = []
    for i in order:
        lp = design_loop(Ad, Bd, Cd, closed, i, int(pairing[i]), float(signs[i]), dt, max_noise_gain=noise[i], **kw)
        if lp is None:
            what = "PI or PID" if structure == "auto" else structure.upper()
            raise ParameterError(
                f"no {what} setting keeps the loop of {names[i]} (input {pairing[i]}) within a "
                f"sensitivity peak of {max_sensitivity:g}{' and its noise gain' * (noise[i] is not None)} with "
                f"{len(closed)} other loop(s) closed; raise `max_sensitivity`"
                f"{' or `noise_gain`' * (noise[i] is not None)}, or choose a multivariable kind such as 'lqr_i'.")
        closed.append(lp)
    A, _, _ = close_loops(Ad, Bd, Cd, closed, dt, n_filter)
    rho = float(np.max(np.abs(np.linalg.eigvals(A))))
    if not rho < 1.0 - UNIT_TOL:
        raise ParameterError(f"the designed loops leave a mode of modulus {rho:.6g} on or outside the unit circle "
                             "(the plant has a mode that no loop stabilises); choose a multivariable kind such as "
                             "'lqr_i'.")
    return sorted(closed, key=lambda lp: lp.output)
