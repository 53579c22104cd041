"""``[controller] kind = "pid_auto"``: decentralised PI/PID loops paired by the RGA and tuned automatically.

Two methods, both paired, signed and biased at the trim of the plant's python-control model (or, with
``plant_model = "identified"``, of a linear model fitted to an identification experiment flown on the env itself
before the run: :mod:`neurocontrol.controllers._identify`, as the neural kind's):

- ``method = "model"`` (default): the loops are designed before the run on the model's linearisation sampled at
  the control period, for the largest integral gain under a bound on each loop's sensitivity peak
  (:mod:`neurocontrol.controllers.pid_design`), and fly from the first step (:class:`ModelPIDController`);
- ``method = "relay"``: the loops are tuned on the plant itself at the start of each episode, one relay experiment
  per loop (:class:`~neurocontrol.controllers.autotune.PIDAutoController`); the model only sizes the relays.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from neurocontrol._validation import check_int, check_positive, check_real, env_dt, env_input_limits
from neurocontrol.controllers._identify import identified_trim
from neurocontrol.controllers.autotune import PIDAutoController, pair_by_rga, trim_gain, tuning_rule
from neurocontrol.controllers.generic import has_model, trim_linearisation
from neurocontrol.controllers.pid_design import LoopDesign, design_loops, loop_sensitivities
from neurocontrol.controllers.pid_gains import PIDGainsController
from neurocontrol.exceptions import ParameterError

__all__ = ["PIDAutoConfig", "ModelPIDController", "build_pid_auto"]


@dataclass(frozen=True, kw_only=True)
class PIDAutoConfig:
    """``[controller] kind = "pid_auto"``: PI/PID loops tuned on the model (default) or by relay experiments.

    The python-control model gives the trim (the loops' bias input), the pairing (relative gain array of the
    steady-state gain) and each loop's sign. With ``method = "model"`` it also gives the loops' settings (designed
    on its sampled linearisation, :func:`~neurocontrol.controllers.pid_design.design_loops`); with ``"relay"``
    they come from relay experiments on the plant itself at the start of each episode, and the model only sizes
    the relays' time budget.

    Parameters
    ----------
    method : {"model", "relay"}, default "model"
        How the settings are found.
    output_indices : tuple of int, default (0, 1)
        Controlled outputs within the observation.
    design_setpoint : tuple of float, optional
        Controlled-output values of the trim; default ``env.unwrapped.setpoint``.
    plant_model : {"env", "identified"}, default "env"
        The model the model method designs on: the env's python-control model, or a two-lag linear model fitted to
        an open-loop identification experiment flown on the env before the run (the neural kind's
        ``plant_model = "identified"``; an episode of the env, the same experiment for every seed), for an env
        without a model. The identified model is at the experiment's operating input, so ``design_setpoint``
        does not apply.
    structure : {"pi", "pid", "auto"} or None, default None
        Controller structure. ``"auto"`` (model method only): per loop the PID where it more than doubles the
        PI's integral gain. None: ``"auto"`` for the model method, ``"pi"`` for the relay.
    max_sensitivity : float, default 1.7
        Model method: bound on each loop's sensitivity and complementary sensitivity peaks (> 1).
    noise_gain : float or None, default None
        Model method: bound on how much of each output's measurement noise reaches its input, ``|K S|`` at every
        frequency in ranges (an output's noise of 1 % of its declared range moves the input by at most
        ``noise_gain`` % of the input's range). Needs finite declared output ranges. None: no bound (the loops
        are as fast as ``max_sensitivity`` allows, and pass sensor noise on: docs/plants.md).
    rule : {"tyreus_luyben", "ziegler_nichols"}, default "tyreus_luyben"
        Relay method: tuning rule (see :func:`~neurocontrol.controllers.autotune.tuning_rule`).
    relay_fraction : float, default 0.1
        Relay amplitude as a fraction of each input's range, capped at 90 % of
        the room between the trim input and its nearer limit.
    hysteresis_noise : float, default 3.0
        Hysteresis in estimated output-noise standard deviations.
    hysteresis_floor : float, default 0.001
        Smallest hysteresis, as a fraction of the output's declared range
        (of ``max(1, |trim output|)`` when the range is unbounded).
    listen_steps : int, default 20
        Samples at the trim input for the noise estimate.
    range_margin : float, default 0.05
        Fraction of each output's declared range kept clear during the relay.
    derivative_filter : float, default 10.0
        ``N``: the derivative filter's time constant is ``Td / N``.
    discard_cycles : int, default 1
        Relay cycles discarded as the transient.
    measure_cycles : int, default 3
        Relay cycles averaged.
    relay_timeout : float, default 10.0
        Time budget of each loop's relay, in slowest open-loop time constants
        of the linearisation (1000 control periods if it has none).
    """

    kind: ClassVar[str] = "pid_auto"
    method: Literal["model", "relay"] = "model"
    output_indices: tuple[int, ...] = (0, 1)
    design_setpoint: tuple[float, ...] | None = None
    plant_model: Literal["env", "identified"] = "env"
    structure: Literal["pi", "pid", "auto"] | None = None
    max_sensitivity: float = 1.7
    noise_gain: float | None = None
    rule: Literal["tyreus_luyben", "ziegler_nichols"] = "tyreus_luyben"
    relay_fraction: float = 0.1
    hysteresis_noise: float = 3.0
    hysteresis_floor: float = 0.001
    listen_steps: int = 20
    range_margin: float = 0.05
    derivative_filter: float = 10.0
    discard_cycles: int = 1
    measure_cycles: int = 3
    relay_timeout: float = 10.0

    def __post_init__(self):
        if self.method not in ("model", "relay"):
            raise ParameterError(f"`method` must be 'model' or 'relay', got {self.method!r}.")
        if self.plant_model not in ("env", "identified"):
            raise ParameterError(f"`plant_model` must be 'env' or 'identified', got {self.plant_model!r}.")
        if self.plant_model == "identified" and (self.method == "relay" or self.design_setpoint is not None):
            raise ParameterError("`plant_model = 'identified'` designs on the experiment's fit, at its operating "
                                 "input: it needs `method = 'model'` and no `design_setpoint`.")
        if self.structure not in (None, "pi", "pid", "auto"):
            raise ParameterError(f"`structure` must be 'pi', 'pid' or 'auto', got {self.structure!r}.")
        if self.method == "relay" and self.structure == "auto":
            raise ParameterError("`structure = 'auto'` needs `method = 'model'` (the relay rules are PI or PID); "
                                 "give 'pi' or 'pid'.")
        if not check_real(self.max_sensitivity, "max_sensitivity") > 1.0:
            raise ParameterError(f"`max_sensitivity` must be above 1 (a sensitivity peak), got {self.max_sensitivity}; "
                                 "1.4-2 are usual.")
        if self.noise_gain is not None:
            check_positive(self.noise_gain, "noise_gain")
            if self.method == "relay":
                raise ParameterError("`noise_gain` bounds the model method's design; the relay method has none. "
                                     "Leave it out or choose `method = 'model'`.")
        check_real(self.relay_fraction, "relay_fraction", low=0.0, high=1.0, low_open=True)
        check_real(self.range_margin, "range_margin", low=0.0, high=0.5, high_open=True)
        for name in ("hysteresis_noise", "hysteresis_floor"):
            check_positive(getattr(self, name), name, allow_zero=True)
        for name in ("derivative_filter", "relay_timeout"):
            check_positive(getattr(self, name), name)
        check_int(self.listen_steps, "listen_steps", low=3)
        check_int(self.discard_cycles, "discard_cycles", low=0)
        check_int(self.measure_cycles, "measure_cycles", low=1)
        tuning_rule(1.0, 1.0, self.rule, "pi" if self.structure in (None, "auto") else self.structure)


class ModelPIDController(PIDGainsController):
    """The loops of :func:`~neurocontrol.controllers.pid_design.design_loops`, flying from the first step.

    A :class:`~neurocontrol.controllers.pid_gains.PIDGainsController` that keeps its design: ``design`` (one
    :class:`~neurocontrol.controllers.pid_design.LoopDesign` per controlled output), the bound it was designed
    for and the sampled model it was designed on, reported by :meth:`derived_settings` (printed by
    ``neurocontrol run``, kept in the run's record) and :meth:`loop_shapes` (plotted as ``loop_shapes.png``).

    Parameters
    ----------
    design : sequence of LoopDesign
        The designed loops, in the order of the controlled outputs.
    max_sensitivity : float
        The bound they were designed for.
    names : sequence of str
        The controlled outputs' names.
    model : tuple of numpy.ndarray
        ``(Ad, Bd, Cd)``, the sampled linearisation they were designed on (controlled outputs' rows).
    noise_gain : float, optional
        The noise-gain bound they were designed for, in ranges (``PIDAutoConfig.noise_gain``), for the record.
    model_note : str, optional
        Where the model came from when it is not the env's (the identification experiment's note), for the record.
    **kwargs
        As :class:`~neurocontrol.controllers.pid_gains.PIDGainsController`, without ``gains`` (from ``design``).
    """

    def __init__(self, *, design, max_sensitivity: float, names, model, noise_gain=None, model_note=None, **kwargs):
        self.design = tuple(design)
        self.model_note = model_note
        self.max_sensitivity = float(max_sensitivity)
        self.noise_gain = None if noise_gain is None else float(noise_gain)
        self.names = tuple(str(n) for n in names)
        self.model = tuple(np.array(a, dtype=np.float64) for a in model)
        super().__init__(gains=[[lp.kc, lp.ti, lp.td] for lp in self.design], **kwargs)
        self._shapes = None

    def loop_shapes(self) -> dict:
        """Return each loop's ``|S|`` and ``|T|`` on the model with every other loop closed, and the bound.

        Keys: ``frequency`` (rad/s), ``S``, ``T`` (lists per loop), ``outputs``, ``inputs`` (the loop's input),
        ``bound`` (:func:`~neurocontrol.controllers.pid_design.loop_sensitivities`).
        """
        if self._shapes is None:
            w, S, T = loop_sensitivities(*self.model, self.design, self.dt, self.derivative_filter)
            # a frequency where 1 + L vanishes is written as a peak of 1e12 (the record is strict JSON)
            S, T = (np.nan_to_num(a, nan=1e12, posinf=1e12) for a in (S, T))
            self._shapes = {"frequency": w.tolist(), "S": S.tolist(), "T": T.tolist(), "outputs": list(self.names),
                            "inputs": [lp.input for lp in self.design], "bound": self.max_sensitivity}
        return self._shapes

    def derived_settings(self) -> dict:
        """Return each loop's designed settings and sensitivity peaks, one line per controlled output."""
        shapes = self.loop_shapes()
        out = {} if self.model_note is None else {"plant_model": self.model_note}
        for k, (lp, name) in enumerate(zip(self.design, self.names)):
            kind = "PID" if lp.td > 0 else "PI"
            td = f", Td {lp.td:.4g} s" if lp.td > 0 else ""
            whole = max(max(shapes["S"][k]), max(shapes["T"][k]))
            out[f"loop {name}"] = (f"{kind} on input {lp.input}: Kc {lp.kc:.4g}, Ti {lp.ti:.4g} s{td} "
                                   f"(max |S|, |T| {lp.sensitivity_peak:.3g} as designed, bound "
                                   f"{self.max_sensitivity:g}; {whole:.3g} with every other loop closed"
                                   + (f"; noise gain at most {self.noise_gain:g} in ranges" if self.noise_gain else "")
                                   + ")")
        return out


@functools.lru_cache(maxsize=32)
def _designed(key: tuple) -> tuple[LoopDesign, ...]:
    """:func:`design_loops` on the matrices in ``key`` (bytes and shapes): every seed of a sweep designs once."""
    (ad, bd, cd, n, m, p), pairing, signs, dt, structure, bound, n_filter, names, noise = key
    Ad = np.frombuffer(ad).reshape(n, n)
    Bd = np.frombuffer(bd).reshape(n, m)
    Cd = np.frombuffer(cd).reshape(p, n)
    return tuple(design_loops(Ad, Bd, Cd, pairing, signs, dt, structure=structure, max_sensitivity=bound,
                              n_filter=n_filter, names=names, max_noise_gain=noise))


def _build_model(config: PIDAutoConfig, env) -> ModelPIDController:
    """Design the loops on the model's sampled linearisation at the trim."""
    base = env.unwrapped
    dt = env_dt(env, "'pid_auto'")
    lim = env_input_limits(env)
    note = None
    if config.plant_model == "identified":
        space = env.observation_space
        low, high = np.asarray(space.low, float), np.asarray(space.high, float)
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            raise ParameterError("`plant_model = 'identified'` fits the experiment in the declared observation "
                                 f"ranges, and they are not finite ({low.tolist()}, {high.tolist()}); declare them.")
        found = identified_trim(env, config.output_indices, lim, dt, low, high)
        if found.trim is None:
            raise ParameterError(f"'pid_auto' with `plant_model = 'identified'`: {found.note}. Give the env a "
                                 "python-control model, or choose a kind that needs none ('neural').")
        tr, note = found.trim, found.note
    else:
        if not has_model(env):
            raise ParameterError(f"'pid_auto' designs on the plant's python-control model, and "
                                 f"{type(base).__name__} has none: give it one (`to_iosys()`), or set "
                                 "`plant_model = 'identified'` to fit one to an experiment on the env.")
        tr = trim_linearisation(env, config.output_indices, config.design_setpoint, who="pid_auto")
    if tr.discrete and not math.isclose(float(tr.lin.dt), dt, rel_tol=1e-9):
        raise ParameterError(f"the discrete-time model of {tr.sys.name} steps every {tr.lin.dt} s and the env every "
                             f"{dt} s; 'pid_auto' designs on the model at the control period, so they must agree.")
    Ad, Bd = tr.sampled(dt)
    Cd, Dd = tr.controlled_rows()
    if np.any(Dd != 0.0):
        raise ParameterError(f"the model of {tr.sys.name} feeds its inputs straight through to a controlled output "
                             f"(D = {Dd.tolist()}); 'pid_auto' with `method = 'model'` needs a strictly proper "
                             "model. Choose `method = 'relay'` or 'lqr_i'.")
    G = trim_gain(tr)
    pairing = pair_by_rga(G)
    signs = tuple(float(np.sign(G[i, j])) for i, j in enumerate(pairing))
    obs = tuple(getattr(base, "observation_names", ()))
    names = tuple(obs[i] if i < len(obs) else f"output {i}" for i in tr.output_indices)
    noise = None
    if config.noise_gain is not None:
        space = env.observation_space
        span = (np.asarray(space.high, float) - np.asarray(space.low, float))[list(tr.output_indices)]
        if not np.all(np.isfinite(span)) or np.any(span <= 0):
            raise ParameterError(f"`noise_gain` is in ranges, and the controlled outputs' declared ranges are "
                                 f"{span.tolist()}; declare finite observation bounds or leave `noise_gain` out.")
        noise = tuple(float(config.noise_gain * (lim[j, 1] - lim[j, 0]) / span[i]) for i, j in enumerate(pairing))
    arrays = [np.ascontiguousarray(a, dtype=np.float64) for a in (Ad, Bd, Cd)]
    key = ((*(a.tobytes() for a in arrays), Bd.shape[0], Bd.shape[1], Cd.shape[0]), tuple(pairing), signs, dt,
           config.structure or "auto", float(config.max_sensitivity), float(config.derivative_filter), names, noise)
    try:
        design = _designed(key)
    except ParameterError as exc:
        why = None if tr.discrete else _open_loop_trouble(np.asarray(tr.lin.A, float))
        if why is None:
            raise
        raise ParameterError(f"{exc} The linearisation of {tr.sys.name} at the trim has {why}, which one loop per "
                             "output may not be able to stabilise.") from None
    return ModelPIDController(design=design, max_sensitivity=config.max_sensitivity, names=names, model=(Ad, Bd, Cd),
                              noise_gain=config.noise_gain, model_note=note,
                              input_limits=lim, output_indices=tr.output_indices, dt=dt,
                              n_observations=len(tr.obs_idx), pairing=pairing, bias=tr.inputs,
                              derivative_filter=config.derivative_filter)


def build_pid_auto(config: PIDAutoConfig, env) -> PIDAutoController:
    """Make ``pid_auto``'s loops for ``env``: designed on its model, or relay-tuned at the start of each episode.

    Parameters
    ----------
    config : PIDAutoConfig
        The table.
    env : gymnasium.Env
        A plant whose unwrapped env has ``to_iosys()`` (see
        :func:`neurocontrol.controllers.generic.trim_linearisation`), ``dt``,
        an action space with finite limits and optionally finite observation bounds.

    Returns
    -------
    PIDAutoController
        A :class:`ModelPIDController` (model method) or a relay-tuned
        :class:`~neurocontrol.controllers.autotune.PIDAutoController`.

    Raises
    ------
    ParameterError
        If the env has no python-control model, no positive pairing exists, the model method finds no loops within
        the bound (or loops that leave the plant unstable), or the relay method meets a plant it cannot relay-tune
        loop by loop (unstable, a chain of integrators, a discrete-time model, a trim input at a limit).
    TrimError
        If no trim holds the set-point.
    """
    return _build_model(config, env) if config.method == "model" else _build_relay(config, env)


def _open_loop_trouble(A: np.ndarray) -> str | None:
    """Say what makes a continuous linearisation unstable (an unstable pole, or a chain of integrators); None if not."""
    lam = np.linalg.eigvals(A)
    scale = max(1.0, float(np.abs(lam).max(initial=0.0)))
    tol = 1e-6 * scale
    unstable = lam[lam.real > tol]
    n_zero = int(np.sum(np.abs(lam) <= tol))
    chain = n_zero > A.shape[0] - np.linalg.matrix_rank(A, tol=1e-9 * scale)
    if unstable.size:
        return f"unstable poles {np.round(unstable, 4).tolist()}"
    return f"a chain of integrators ({n_zero} poles at s = 0, fewer independent ones)" if chain else None


def _check_relay_tunable(A: np.ndarray, name: str) -> None:
    """Refuse a linearisation with an unstable pole or a chain of integrators (a defective pole at 0)."""
    why = _open_loop_trouble(A)
    if why is not None:
        raise ParameterError(f"'pid_auto' tunes each loop by a relay experiment with the other loops open, which "
                             f"needs an open-loop stable plant (single integrators allowed); the linearisation of "
                             f"{name} at the trim has {why}. Stabilise it first or choose a multivariable kind such "
                             "as 'lqr_i'.")


def _build_relay(config: PIDAutoConfig, env) -> PIDAutoController:
    """Pair, bias and size the relay-tuned PID from the model at the trim (see :func:`build_pid_auto`)."""
    base = env.unwrapped
    tr = trim_linearisation(env, config.output_indices, config.design_setpoint, who="pid_auto")
    tr.require_continuous("'pid_auto' (its relay experiments are sized from the model's poles)")
    A = np.asarray(tr.lin.A, float)
    idx = tr.output_indices
    _check_relay_tunable(A, tr.sys.name)
    G = trim_gain(tr)
    pairing = pair_by_rga(G)
    signs = np.sign([G[i, j] for i, j in enumerate(pairing)])
    lim = env_input_limits(env)
    room = np.minimum(tr.inputs - lim[:, 0], lim[:, 1] - tr.inputs)
    d = np.minimum(config.relay_fraction * (lim[:, 1] - lim[:, 0]), 0.9 * room)[list(pairing)]
    if np.any(d <= 0):
        raise ParameterError(f"the trim input {tr.inputs.tolist()} sits at a limit of {lim.tolist()}, so a relay "
                             "cannot swing around it; give another `design_setpoint`.")
    lo = np.asarray(env.observation_space.low, float)[idx]
    hi = np.asarray(env.observation_space.high, float)[idx]
    span = hi - lo
    y_trim = np.asarray(tr.sys.output(0.0, tr.states, tr.inputs, params=tr.sys.params), float)[tr.obs_idx][idx]
    floor = config.hysteresis_floor * np.where(np.isfinite(span), span, np.maximum(1.0, np.abs(y_trim)))
    dt = float(base.dt)
    rates = -np.linalg.eigvals(A).real
    rates = rates[rates > 1e-9 * max(1.0, float(np.abs(rates).max(initial=0.0)))]
    budget = config.relay_timeout / float(rates.min()) if rates.size else 1000.0 * dt
    return PIDAutoController(input_limits=lim, output_indices=idx, dt=dt, n_observations=len(tr.obs_idx),
                             pairing=pairing, signs=signs, trim_input=tr.inputs, relay_amplitude=d,
                             hysteresis_floor=floor, output_range=np.column_stack([lo, hi]),
                             hysteresis_noise=config.hysteresis_noise, listen_steps=config.listen_steps,
                             range_margin=config.range_margin, rule=config.rule, structure=config.structure or "pi",
                             derivative_filter=config.derivative_filter, discard_cycles=config.discard_cycles,
                             measure_cycles=config.measure_cycles,
                             relay_max_steps=max(1, math.ceil(budget / dt)))
