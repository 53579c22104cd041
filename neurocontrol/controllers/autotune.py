"""A generic PID baseline tuned at start-up by relay feedback, one loop at a time, paired by the RGA.

Tuning (Astrom and Hagglund's relay method): with the input of one loop
switched between ``bias + d`` and ``bias - d`` whenever the output error
crosses a hysteresis band ``+-eps``, a plant with enough phase lag settles
into a limit cycle. Its period is the ultimate period ``Tu``, and the
describing function of the relay gives the ultimate gain ``Ku = 4 d / (pi a)``
from the output's half peak-to-peak amplitude ``a``
(:class:`RelayExperiment`). A tuning rule turns ``(Ku, Tu)`` into PI or PID
settings (:func:`tuning_rule`): Tyreus-Luyben by default (``Kc = Ku / 3.2``,
``Ti = 2.2 Tu`` for PI; ``Kc = Ku / 2.2``, ``Ti = 2.2 Tu``, ``Td = Tu / 6.3``
for PID), a more damped rule than Ziegler-Nichols (also offered) and the
usual choice for loops that interact.

Multivariable plants are tuned sequentially (:class:`PIDAutoController`):
loop 1 with the other inputs held at their trim, then loop 2 with loop 1
closed under its new PID, and so on. Which input drives which output comes
from the relative gain array (:func:`relative_gain_array`,
:func:`pair_by_rga`) of the steady-state gain of the plant's python-control
linearisation at the trim (:func:`neurocontrol.controllers.generic.trim_linearisation`),
which also gives each loop's sign and the relay's bias input.

Scenario kind ``[controller] kind = "pid_auto"`` with ``method = "relay"``
(:mod:`neurocontrol.controllers.pid_auto`; its default method designs the
loops on the model instead, :mod:`neurocontrol.controllers.pid_design`).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from neurocontrol._validation import as_float_array, check_int, check_positive
from neurocontrol.controllers.base import AbstractController
from neurocontrol.exceptions import DivergenceError, ParameterError

__all__ = ["RelayTuningError", "relative_gain_array", "pair_by_rga", "steady_state_gain", "tuning_rule",
           "RelayExperiment", "PIDAutoController", "trim_gain"]


class RelayTuningError(DivergenceError):
    """A relay experiment gave no usable limit cycle within its time budget or kept hitting an output range.

    A :class:`~neurocontrol.exceptions.DivergenceError`, so the simulation loop
    ends the run as failed with this reason rather than crashing.
    """


# =========================================================================== pairing


def relative_gain_array(G) -> np.ndarray:
    """Return Bristol's relative gain array ``G * pinv(G).T`` (element-wise product).

    Parameters
    ----------
    G : array_like, shape (p, m)
        Steady-state gain, outputs by inputs (``p <= m``; the pseudo-inverse
        makes it the non-square RGA when ``p < m``).

    Returns
    -------
    numpy.ndarray, shape (p, m)

    Raises
    ------
    ParameterError
        If ``G`` has more rows than columns or is rank-deficient (no input
        combination moves every output independently).

    Examples
    --------
    >>> relative_gain_array([[2.0, 1.0], [1.0, 2.0]]).round(4).tolist()
    [[1.3333, -0.3333], [-0.3333, 1.3333]]
    """
    G = as_float_array(G, "G", (None, None))
    p, m = G.shape
    if p > m:
        raise ParameterError(f"`G` must have no more outputs than inputs to pair them, got shape {G.shape}.")
    if np.linalg.matrix_rank(G) < p:
        raise ParameterError(f"the steady-state gain {G.tolist()} is rank-deficient: the inputs cannot set the "
                             "outputs independently, so no pairing exists; control fewer outputs.")
    return G * np.linalg.pinv(G).T


def pair_by_rga(G) -> tuple[int, ...]:
    """Choose the input of each output from the relative gain array.

    Among the assignments of distinct inputs to the outputs, those with every
    paired relative gain positive are admissible (a negative one makes the
    loop change sign when the others close); of these, the one with the
    smallest sum of ``|lambda - 1|`` is chosen (the loops interact least).

    Parameters
    ----------
    G : array_like, shape (p, m)
        Steady-state gain, outputs by inputs.

    Returns
    -------
    tuple of int
        ``pairing[i]`` is the input paired with output ``i``.

    Raises
    ------
    ParameterError
        If no assignment has every paired relative gain positive, or ``G`` is
        rank-deficient.

    Examples
    --------
    >>> pair_by_rga([[1.0, 3.0], [2.0, 1.0]])
    (1, 0)
    """
    lam = relative_gain_array(G)
    p, m = lam.shape
    best, best_cost = None, math.inf
    for perm in itertools.permutations(range(m), p):
        vals = lam[np.arange(p), list(perm)]
        if np.all(vals > 0):
            cost = float(np.sum(np.abs(vals - 1.0)))
            if cost < best_cost:
                best, best_cost = perm, cost
    if best is None:
        raise ParameterError(f"no pairing of outputs to inputs has every relative gain positive (RGA "
                             f"{np.round(lam, 4).tolist()}); decentralised PID cannot control this plant: choose "
                             "a multivariable controller kind such as 'lqr_i'.")
    return tuple(int(j) for j in best)


def steady_state_gain(A, B, C) -> tuple[np.ndarray, float]:
    """Return the gain ``C (s0 I - A)^-1 B`` and ``s0``: 0 unless ``A`` is singular.

    With a pole at ``s = 0`` (an integrating output) the gain at 0 is
    infinite; it is then taken at ``s0`` = 1e-3 times the smallest non-zero
    pole magnitude (1e-6 if there is none), where the integrating channels
    dominate as they do at steady state. The relative gain array is invariant
    to scaling a row, so the pairing it gives is that of the low frequencies.

    Parameters
    ----------
    A : array_like, shape (n, n)
    B : array_like, shape (n, m)
    C : array_like, shape (p, n)

    Returns
    -------
    G : numpy.ndarray, shape (p, m)
    s0 : float
    """
    A = as_float_array(A, "A", (None, None))
    n = A.shape[0]
    B = as_float_array(B, "B", (n, None))
    C = as_float_array(C, "C", (None, n))
    lam = np.abs(np.linalg.eigvals(A))
    scale = max(1.0, float(lam.max(initial=0.0)))
    zero = lam <= 1e-9 * scale
    s0 = 0.0
    if np.any(zero):
        s0 = 1e-3 * float(lam[~zero].min()) if np.any(~zero) else 1e-6
    return C @ np.linalg.solve(s0 * np.eye(n) - A, B), s0


# =========================================================================== tuning


#: ``(rule, structure) -> (Kc / Ku, Ti / Tu, Td / Tu)``.
_RULES = {
    ("tyreus_luyben", "pi"): (1 / 3.2, 2.2, 0.0),
    ("tyreus_luyben", "pid"): (1 / 2.2, 2.2, 1 / 6.3),
    ("ziegler_nichols", "pi"): (0.45, 1 / 1.2, 0.0),
    ("ziegler_nichols", "pid"): (0.6, 0.5, 0.125),
}


def tuning_rule(ku: float, tu: float, rule: str = "tyreus_luyben", structure: str = "pi") -> tuple[float, ...]:
    """Return PID settings ``(Kc, Ti, Td)`` from the ultimate gain and period.

    Parameters
    ----------
    ku : float
        Ultimate gain (magnitude), input units per output unit.
    tu : float
        Ultimate period, s.
    rule : {"tyreus_luyben", "ziegler_nichols"}
        Tyreus-Luyben (PI: ``Ku/3.2, 2.2 Tu``; PID: ``Ku/2.2, 2.2 Tu, Tu/6.3``)
        or Ziegler-Nichols (PI: ``0.45 Ku, Tu/1.2``; PID: ``0.6 Ku, Tu/2, Tu/8``).
    structure : {"pi", "pid"}

    Returns
    -------
    tuple of float
        ``(Kc, Ti, Td)``; ``Td = 0`` for PI.

    Examples
    --------
    >>> tuning_rule(3.2, 10.0)
    (1.0, 22.0, 0.0)
    """
    ku = check_positive(ku, "ku")
    tu = check_positive(tu, "tu", unit="s")
    if (rule, structure) not in _RULES:
        raise ParameterError(f"`rule` must be 'tyreus_luyben' or 'ziegler_nichols' and `structure` 'pi' or 'pid', "
                             f"got {rule!r}, {structure!r}.")
    k, i, d = _RULES[(rule, structure)]
    return k * ku, i * tu, d * tu


class RelayExperiment:
    """One relay-feedback experiment on sampled data: switches, counts cycles, estimates ``Ku`` and ``Tu``.

    Feed it the loop error (sign-corrected so that a positive relay output
    raises the output) and the output every sample; it returns the relay
    output ``+-amplitude``. A cycle runs from one upward switch to the next
    (switch instants interpolated linearly between samples). After
    ``discard_cycles`` cycles (the transient into the limit cycle), once the
    oscillation is steady (the mean period and amplitude of the last
    ``measure_cycles`` cycles within ``steady_tolerance`` of those of the
    ``measure_cycles`` before; a sampled relay may cycle in a pattern of
    unequal periods, which whole groups average out) it takes the last group: ``Tu`` their mean period, ``a`` the
    mean of their half peak-to-peak output amplitudes, ``Ku = 4 d / (pi a)``
    (the describing function of the relay, hysteresis neglected), and the
    mean relay output (the input that holds the output at its mean level).

    Parameters
    ----------
    amplitude : float
        Relay amplitude ``d``, input units.
    hysteresis : float
        Half-width ``eps`` of the switching band, output units (>= 0).
    dt : float
        Sampling period, s.
    discard_cycles : int, default 1
    measure_cycles : int, default 3
    steady_tolerance : float, default 0.1
        Relative change allowed between the means of two consecutive groups of cycles.
    max_steps : int, optional
        Raise :class:`RelayTuningError` when not done after this many samples.

    Examples
    --------
    >>> relay = RelayExperiment(amplitude=1.0, hysteresis=0.0, dt=0.1)
    >>> relay.step(0.5, 0.0), relay.step(-0.5, 1.0)
    (1.0, -1.0)
    """

    def __init__(self, *, amplitude: float, hysteresis: float, dt: float, discard_cycles: int = 1,
                 measure_cycles: int = 3, steady_tolerance: float = 0.1, max_steps: int | None = None):
        self.amplitude = check_positive(amplitude, "amplitude")
        self.hysteresis = check_positive(hysteresis, "hysteresis", allow_zero=True)
        self.dt = check_positive(dt, "dt", unit="s")
        self.discard_cycles = check_int(discard_cycles, "discard_cycles", low=0)
        self.measure_cycles = check_int(measure_cycles, "measure_cycles", low=1)
        self.steady_tolerance = check_positive(steady_tolerance, "steady_tolerance")
        self.max_steps = None if max_steps is None else check_int(max_steps, "max_steps", low=1)
        self.k = 0                 # samples fed
        self.state = 0             # relay position: +1, -1 (0 before the first sample)
        self.e_prev = 0.0
        self.t_open = math.nan     # interpolated instant (samples) of the open cycle's upward switch
        self.y_max = -math.inf
        self.y_min = math.inf
        self.n_plus = 0            # samples at +d in the open cycle
        self.n_open = 0            # samples in the open cycle
        self.cycles: list = []     # (period s, half peak-to-peak, duty) of each closed cycle
        self.done = False
        self.ku = self.tu = self.a = self.mean_output = math.nan

    def restart(self) -> None:
        """Forget the cycles so far (after a reference change or a smaller amplitude); keep switching."""
        self.t_open = math.nan
        self.cycles = []
        self.y_max, self.y_min, self.n_plus, self.n_open = -math.inf, math.inf, 0, 0

    def step(self, error: float, y: float) -> float:
        """Take one sample and return the relay output ``+-amplitude``.

        Parameters
        ----------
        error : float
            Loop error, sign-corrected (positive: the output should rise).
        y : float
            The loop's output (for the amplitude).
        """
        eps = self.hysteresis
        up = False
        if self.state == 0:
            self.state = 1 if error >= 0 else -1
        elif self.state < 0 and error > eps:
            self.state, up = 1, True
        elif self.state > 0 and error < -eps:
            self.state = -1
        if up:
            frac = (eps - self.e_prev) / (error - self.e_prev) if error != self.e_prev else 1.0
            t_switch = self.k - 1 + min(max(frac, 0.0), 1.0)
            if not math.isnan(self.t_open):
                self.cycles.append(((t_switch - self.t_open) * self.dt, 0.5 * (self.y_max - self.y_min),
                                    self.n_plus / max(self.n_open, 1)))
            self.t_open = t_switch
            self.y_max, self.y_min, self.n_plus, self.n_open = -math.inf, math.inf, 0, 0
            m, kept = self.measure_cycles, np.array(self.cycles[self.discard_cycles:]).reshape(-1, 3)
            if len(kept) >= 2 * m:
                last, prev = kept[-m:, :2].mean(axis=0), kept[-2 * m:-m, :2].mean(axis=0)
                if np.all(np.abs(last - prev) <= self.steady_tolerance * last):
                    self._finish()
        if not math.isnan(self.t_open):
            self.y_max, self.y_min = max(self.y_max, y), min(self.y_min, y)
            self.n_plus += self.state > 0
            self.n_open += 1
        self.e_prev = error
        self.k += 1
        if not self.done and self.max_steps is not None and self.k >= self.max_steps:
            raise RelayTuningError(f"the relay experiment found no steady limit cycle within its time budget "
                                   f"({self.k} samples, {self.k * self.dt:.4g} s; {len(self.cycles)} cycles): "
                                   "raise the relay amplitude or the time budget, or choose another controller kind.")
        return self.state * self.amplitude

    def _finish(self) -> None:
        used = np.array(self.cycles[-self.measure_cycles:])
        self.tu = float(used[:, 0].mean())
        self.a = float(used[:, 1].mean())
        if not self.a > 0:
            raise RelayTuningError("the relay limit cycle has zero output amplitude; the output does not respond "
                                   "to the input (check the pairing and the plant).")
        self.ku = 4.0 * self.amplitude / (math.pi * self.a)
        self.mean_output = float(self.amplitude * (2.0 * used[:, 2].mean() - 1.0))
        self.done = True

    def get_state(self) -> dict:
        """Return the experiment's progress as a flat dict of numbers and arrays (copies)."""
        cyc = np.array(self.cycles, dtype=np.float64).reshape(-1, 3)
        return {"amplitude": self.amplitude, "k": self.k, "state": self.state, "e_prev": self.e_prev,
                "t_open": self.t_open, "y_max": self.y_max, "y_min": self.y_min, "n_plus": self.n_plus,
                "n_open": self.n_open, "cycles": cyc}

    def set_state(self, state: dict) -> None:
        """Restore :meth:`get_state`'s dict.

        Parameters
        ----------
        state : dict
            From :meth:`get_state` of an experiment with the same settings.
        """
        self.amplitude = float(state["amplitude"])
        self.k, self.state, self.n_plus, self.n_open = (int(state[k]) for k in ("k", "state", "n_plus", "n_open"))
        self.e_prev, self.t_open, self.y_max, self.y_min = (float(state[k]) for k in ("e_prev", "t_open", "y_max",
                                                                                       "y_min"))
        self.cycles = [tuple(float(v) for v in row) for row in np.asarray(state["cycles"]).reshape(-1, 3)]
        self.done = False


# =========================================================================== the controller


_PHASES = ("listen", "relay", "pid")


class PIDAutoController(AbstractController):
    """Decentralised PI/PID tuned at the start of each episode by sequential relay experiments.

    Phases (``diagnostics()["mode"]`` is ``"tuning"`` for the first two,
    ``"pid"`` after): *listen*, ``listen_steps`` samples with every input at
    its trim, from which each output's noise is estimated (standard deviation
    of the second difference over sqrt 6, blind to slow drift) and its
    hysteresis set to ``max(hysteresis_noise * noise, hysteresis_floor)``;
    *relay*, one loop at a time in the order of the controlled outputs, loops
    already tuned under their PID and the others at their trim input; *pid*.
    A reference change of the loop under test restarts its cycle count. If a
    controlled output comes within ``range_margin`` of its declared range the
    relay amplitude is halved and the count restarted (at most three times,
    then :class:`RelayTuningError`).

    Each PID: ``u = I + Kc (r - y) + D``; the derivative acts on the
    measurement through a first-order filter of time constant ``Td / N``
    (backward Euler); anti-windup by conditional integration (the integral
    holds while the input is limited unless the error drives it back);
    hand-over: the integral starts where the loop's first PID input equals
    the relay's mean input over the measured cycles (the input that held the
    output at its mean level), so the input steps by less than the relay did.

    Parameters
    ----------
    input_limits : array_like, shape (m, 2)
        Actuator limits.
    output_indices : sequence of int
        Controlled outputs within the observation (p of them).
    dt : float
        Control period, s.
    n_observations : int
        Length of the observation vector.
    pairing : sequence of int
        Input paired with each controlled output (distinct).
    signs : sequence of float
        Sign (+1 or -1) of each paired steady-state gain.
    trim_input : array_like, shape (m,)
        Relay bias and the input of every loop not (yet) under PID.
    relay_amplitude : array_like, shape (p,)
        Relay amplitude of each loop, input units.
    hysteresis_floor : array_like, shape (p,)
        Smallest hysteresis of each loop, output units.
    output_range : array_like, shape (p, 2), optional
        Declared range of each controlled output (inf: none).
    hysteresis_noise : float, default 3.0
    listen_steps : int, default 20
    range_margin : float, default 0.05
        Fraction of the output range kept clear during the relay.
    rule : {"tyreus_luyben", "ziegler_nichols"}
    structure : {"pi", "pid"}
    derivative_filter : float, default 10.0
        ``N`` of the derivative filter.
    discard_cycles, measure_cycles : int
        See :class:`RelayExperiment`.
    relay_max_steps : int, optional
        Time budget of each loop's relay experiment, samples.

    Examples
    --------
    >>> ctrl = PIDAutoController(input_limits=[[0.0, 2.0]], output_indices=[0], dt=0.1, n_observations=1,
    ...                          pairing=[0], signs=[1.0], trim_input=[1.0], relay_amplitude=[0.5],
    ...                          hysteresis_floor=[0.01], listen_steps=2)
    >>> ctrl.reset([0.0], [0.0])
    >>> ctrl.step([0.0], [0.0]).tolist(), ctrl.diagnostics()["mode"]
    ([1.0], 'tuning')
    """

    def __init__(self, *, input_limits, output_indices, dt: float, n_observations: int, pairing, signs, trim_input,
                 relay_amplitude, hysteresis_floor, output_range=None, hysteresis_noise: float = 3.0,
                 listen_steps: int = 20, range_margin: float = 0.05, rule: str = "tyreus_luyben",
                 structure: str = "pi", derivative_filter: float = 10.0, discard_cycles: int = 1,
                 measure_cycles: int = 3, relay_max_steps: int | None = None):
        super().__init__(input_limits=input_limits, output_indices=output_indices, dt=dt)
        m, p = self.n_inputs, len(self.output_indices)
        self._n_obs = check_int(n_observations, "n_observations", low=1)
        if any(not 0 <= i < self._n_obs for i in self.output_indices):
            raise ParameterError(f"`output_indices` {list(self.output_indices)} must index the {self._n_obs} "
                                 "observations.")
        pair = [int(j) for j in pairing]
        if len(pair) != p or len(set(pair)) != p or any(not 0 <= j < m for j in pair):
            raise ParameterError(f"`pairing` must give {p} distinct input indices in [0, {m}), got {list(pairing)}.")
        self.pairing = tuple(pair)
        sg = as_float_array(signs, "signs", (p,))
        if not np.all(np.abs(sg) == 1.0):
            raise ParameterError(f"`signs` must be +1 or -1 per loop, got {sg.tolist()}.")
        self.signs = sg
        self.trim_input = as_float_array(trim_input, "trim_input", (m,))
        self.relay_amplitude = as_float_array(relay_amplitude, "relay_amplitude", (p,))
        if np.any(self.relay_amplitude <= 0):
            raise ParameterError(f"`relay_amplitude` must be > 0 per loop, got {self.relay_amplitude.tolist()}.")
        self.hysteresis_floor = as_float_array(hysteresis_floor, "hysteresis_floor", (p,))
        if np.any(self.hysteresis_floor < 0):
            raise ParameterError(f"`hysteresis_floor` must be >= 0, got {self.hysteresis_floor.tolist()}.")
        rng_ = np.tile([-np.inf, np.inf], (p, 1)) if output_range is None else \
            as_float_array(output_range, "output_range", (p, 2), finite=False)
        self.output_range = rng_
        self.hysteresis_noise = check_positive(hysteresis_noise, "hysteresis_noise", allow_zero=True)
        self.listen_steps = check_int(listen_steps, "listen_steps", low=3)
        self.range_margin = check_positive(range_margin, "range_margin", allow_zero=True)
        tuning_rule(1.0, 1.0, rule, structure)           # names a bad rule or structure now, not after the relay
        self.rule, self.structure = rule, structure
        self.derivative_filter = check_positive(derivative_filter, "derivative_filter")
        self.discard_cycles = check_int(discard_cycles, "discard_cycles", low=0)
        self.measure_cycles = check_int(measure_cycles, "measure_cycles", low=1)
        self.relay_max_steps = None if relay_max_steps is None else check_int(relay_max_steps, "relay_max_steps",
                                                                              low=1)
        span = self.output_range[:, 1] - self.output_range[:, 0]
        self._margin = np.where(np.isfinite(span), self.range_margin * span, 0.0)
        self._idx = list(self.output_indices)
        self._reset_episode()

    # ------------------------------------------------------------------ episode state

    def _reset_episode(self) -> None:
        p = len(self._idx)
        self._phase = "listen"
        self._k = 0
        self._loop = 0
        self._listen = np.zeros((self.listen_steps, p))
        self._eps = self.hysteresis_floor.copy()
        self._relay: RelayExperiment | None = None
        self._backoffs = 0
        self._near = False
        self._r_last = np.full(p, np.nan)
        self._tuned = np.zeros(p, dtype=bool)
        self.ku, self.tu = np.full(p, np.nan), np.full(p, np.nan)
        self.kc, self.ti, self.td = np.zeros(p), np.full(p, np.inf), np.zeros(p)
        self._integral = np.zeros(p)
        self._d = np.zeros(p)
        self._y_prev = np.full(p, np.nan)
        self._dI = np.zeros(p)
        self._proposal = self.trim_input.copy()

    def _reset_impl(self, observation, reference, seed) -> None:
        if observation.shape[0] != self._n_obs:
            raise ParameterError(f"`observation` must have {self._n_obs} entries, got {observation.shape[0]}.")
        self._reset_episode()
        self._y_prev = observation[self._idx].copy()

    @property
    def tuning(self) -> dict:
        """Per loop: ``input``, ``sign``, ``ku``, ``tu`` (s), ``kc``, ``ti``, ``td``, ``hysteresis`` (NaN: not yet)."""
        return {"input": list(self.pairing), "sign": self.signs.tolist(), "ku": self.ku.tolist(),
                "tu": self.tu.tolist(), "kc": self.kc.tolist(), "ti": self.ti.tolist(), "td": self.td.tolist(),
                "hysteresis": self._eps.tolist()}

    def diagnostics(self) -> dict:
        """Mode ``"tuning"`` while listening and relaying, ``"pid"`` after (see the base class)."""
        return {"prediction_error": float("nan"), "inner_iterations": 0,
                "mode": "pid" if self._phase == "pid" else "tuning"}

    # ------------------------------------------------------------------ the loops

    def _pid(self, i: int, r: float, y: float) -> float:
        e = r - y
        td = self.td[i]
        if td > 0:
            tf = td / self.derivative_filter
            self._d[i] = (tf * self._d[i] - self.kc[i] * td * (y - self._y_prev[i])) / (tf + self.dt)
        self._dI[i] = self.kc[i] * self.dt / self.ti[i] * e
        return self._integral[i] + self.kc[i] * e + self._d[i]

    def _start_relay(self) -> None:
        i = self._loop
        self._relay = RelayExperiment(amplitude=self.relay_amplitude[i], hysteresis=self._eps[i], dt=self.dt,
                                      discard_cycles=self.discard_cycles, measure_cycles=self.measure_cycles,
                                      max_steps=self.relay_max_steps)
        self._backoffs, self._near = 0, False

    def _relay_step(self, y: np.ndarray, reference: np.ndarray, u: np.ndarray) -> None:
        i, relay = self._loop, self._relay
        if abs(reference[i] - self._r_last[i]) > self._eps[i]:
            relay.restart()                             # the limit cycle moves with the reference: count afresh
        lo, hi = self.output_range[:, 0] + self._margin, self.output_range[:, 1] - self._margin
        near = bool(np.any((y < lo) | (y > hi)))
        if near and not self._near:
            self._backoffs += 1
            if self._backoffs > 3:
                raise RelayTuningError(f"the relay experiment kept bringing an output within {self.range_margin:.0%} "
                                       f"of its range after halving its amplitude three times (loop {i}, outputs "
                                       f"{y.tolist()}, ranges {self.output_range.tolist()}); lower `relay_fraction` "
                                       "or start nearer the trim.")
            relay.amplitude *= 0.5
            relay.restart()
        self._near = near
        j, s = self.pairing[i], self.signs[i]
        u[j] = self.trim_input[j] + s * relay.step(s * (reference[i] - y[i]), y[i])
        if relay.done:
            self.ku[i], self.tu[i] = relay.ku, relay.tu
            kc, self.ti[i], self.td[i] = tuning_rule(relay.ku, relay.tu, self.rule, self.structure)
            self.kc[i] = s * kc
            self._d[i] = 0.0
            self._integral[i] = 0.0
            start = self.trim_input[j] + s * relay.mean_output
            self._integral[i] = start - self._pid(i, reference[i], y[i])   # bumpless: the PID starts at `start`
            u[j] = start
            self._tuned[i] = True
            self._loop += 1
            if self._loop == len(self._idx):
                self._phase, self._relay = "pid", None
            else:
                self._start_relay()

    def _step_impl(self, observation, reference) -> np.ndarray:
        y = observation[self._idx]
        u = self.trim_input.copy()
        self._dI[:] = 0.0
        for i in np.flatnonzero(self._tuned):
            u[self.pairing[i]] = self._pid(i, reference[i], y[i])
        if self._phase == "listen":
            self._listen[self._k] = y
            if self._k == self.listen_steps - 1:
                with np.errstate(all="ignore"):
                    noise = np.std(np.diff(self._listen, 2, axis=0), axis=0) / math.sqrt(6.0)
                if not np.all(np.isfinite(noise)):
                    raise RelayTuningError(f"the noise estimated over the first {self.listen_steps} samples is not "
                                           f"finite ({noise.tolist()}): a wild measurement while listening, so no "
                                           "relay hysteresis can be set.")
                self._eps = np.maximum(self.hysteresis_noise * noise, self.hysteresis_floor)
                self._phase = "relay"
                self._start_relay()
            self._r_last = reference.copy()
        elif self._phase == "relay":
            self._relay_step(y, reference, u)
            self._r_last = reference.copy()
        self._k += 1
        self._y_prev = y.copy()
        self._proposal = u
        return u

    def _applied(self, u: np.ndarray) -> None:
        wanted = self._proposal if self._feedforward is None else self._proposal + self._feedforward
        for i in np.flatnonzero(self._tuned):
            j = self.pairing[i]
            clipped = u[j] - wanted[j]
            if clipped == 0.0 or clipped * self._dI[i] > 0:   # unsaturated, or the error leads back inside
                self._integral[i] += self._dI[i]

    # ------------------------------------------------------------------ checkpoints

    def get_state(self) -> dict:
        """Phase, listening buffer, relay progress and PID states, copies (see :meth:`AbstractController.get_state`)."""
        state = {"phase": _PHASES.index(self._phase), "k": self._k, "loop": self._loop, "listen": self._listen.copy(),
                 "eps": self._eps.copy(), "backoffs": self._backoffs, "near": int(self._near),
                 "r_last": self._r_last.copy(), "tuned": self._tuned.astype(np.int64), "ku": self.ku.copy(),
                 "tu": self.tu.copy(), "kc": self.kc.copy(), "ti": self.ti.copy(), "td": self.td.copy(),
                 "integral": self._integral.copy(), "d": self._d.copy(), "y_prev": self._y_prev.copy()}
        if self._relay is not None:
            state.update({f"relay.{k}": v for k, v in self._relay.get_state().items()})
        return state

    def set_state(self, state: dict) -> None:
        """Restore :meth:`get_state`'s dict.

        Parameters
        ----------
        state : dict
            From :meth:`get_state` of a controller with the same settings.
        """
        try:
            self._phase = _PHASES[int(state["phase"])]
            self._k, self._loop, self._backoffs = int(state["k"]), int(state["loop"]), int(state["backoffs"])
            self._near = bool(state["near"])
            for key, attr in (("listen", "_listen"), ("eps", "_eps"), ("r_last", "_r_last"), ("ku", "ku"),
                              ("tu", "tu"), ("kc", "kc"), ("ti", "ti"), ("td", "td"), ("integral", "_integral"),
                              ("d", "_d"), ("y_prev", "_y_prev")):
                setattr(self, attr, as_float_array(state[key], key, getattr(self, attr).shape, finite=False).copy())
            self._tuned = np.asarray(state["tuned"]).astype(bool).copy()
            self._relay = None
            if self._phase == "relay":
                self._start_relay()
                self._backoffs, self._near = int(state["backoffs"]), bool(state["near"])
                self._relay.set_state({k[6:]: v for k, v in state.items() if k.startswith("relay.")})
        except KeyError as exc:
            raise ParameterError(f"PIDAutoController state lacks key {exc}; pass a dict from get_state().") from None


def trim_gain(tr) -> np.ndarray:
    """Return the steady-state gain (p, m) from the inputs to the controlled outputs of a trim's linearisation.

    Parameters
    ----------
    tr : Trim
        From :func:`~neurocontrol.controllers.generic.trim_linearisation`.
    """
    A, B = np.asarray(tr.lin.A, float), np.asarray(tr.lin.B, float)
    C = np.asarray(tr.lin.C, float)[tr.obs_idx]
    A = A - np.eye(A.shape[0]) if tr.discrete else A    # x(k+1) - x(k) = (A - I) x + B u: same steady state
    return steady_state_gain(A, B, C[tr.output_indices])[0]
