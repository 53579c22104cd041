"""A guard around a learning controller: divergence detection, rollback and a fallback controller.

:class:`GuardedController` wraps a learning controller (an
:class:`~neurocontrol.controllers.adaptive.AdaptiveController` or a
:class:`~neurocontrol.controllers.neural.NeuralController`) and a fallback
controller (any :class:`~neurocontrol.controllers.base.AbstractController`, e.g.
a plant's LQR baseline). Every step it checks the learning controller and the plant's
outputs; on trouble it rolls the learning controller back to its last good
state and/or hands the plant to the fallback, and it hands back when learning
has recovered. Every switch is logged (``switches``) and the current mode is
``diagnostics()["mode"]``: ``"warmup"``, ``"adaptive"`` (the learning controller flies) or ``"fallback"``.

Scenario files: ``[controller] kind = "guarded"`` with the learning controller
in ``[controller.inner]`` (``kind = "adaptive"``, the default, or ``"neural"``) and the fallback in
``[controller.fallback]`` (any registered controller kind, default ``"lqr"``), see
:class:`neurocontrol.scenario.kinds.GuardedScenarioConfig` and docs/reliability.md.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import math
from dataclasses import dataclass

import numpy as np

from neurocontrol._validation import as_float_array, check_int, check_positive
from neurocontrol.controllers.adaptive import AbstractController, AdaptiveController
from neurocontrol.controllers.neural import NeuralController
from neurocontrol.exceptions import DivergenceError, ParameterError, ShapeError

__all__ = ["GuardedController", "GuardSettings", "GUARDABLE"]

#: The controller classes a :class:`GuardedController` can wrap (they expose ``identifier_weights``,
#: ``in_warmup``, ``diagnostics()["prediction_error"]`` and ``get_state``/``set_state``).
GUARDABLE = (AdaptiveController, NeuralController)

_MODES = ("warmup", "adaptive", "fallback")


@dataclass(frozen=True, kw_only=True)
class GuardSettings:
    """Thresholds of :class:`GuardedController` (all keys of ``[controller] kind = "guarded"`` but two tables).

    Parameters
    ----------
    weight_norm_limit : float, default 1e3
        Largest allowed Frobenius norm of the identifier weights (normalised
        units; a healthy hover stays below about 10). Beyond it, or on any
        non-finite weight: divergence.
    error_ratio : float, default 10.0
        Trip when the identifier's one-step prediction error exceeds
        ``error_ratio * max(level, error_floor)`` for ``trip_steps`` steps in
        a row; ``level`` is the error's running mean over healthy steps. No
        error trip over the first ``level_time`` after the warm-up, while the
        level is the plain mean of the errors so far (under sensor noise the
        errors' size is the noise's, which the level must have seen first).
    error_floor : float, default 1e-3
        Floor of the running level (normalised units). Faults the adaptive
        controller learns on its own (30 % actuator loss: errors up to
        3.5e-3) stay below ``error_ratio * error_floor``.
    recover_ratio : float, default 3.0
        Back to adaptive when the (shadow) prediction error stays below
        ``recover_ratio * max(level, error_floor)`` for ``recover_steps``.
    level_time : float, default 2.0
        Time constant of the running level, s (and how long it is learned before the error check trips).
    trip_steps : int, default 3
        Consecutive bad steps that trip the prediction-error and envelope checks.
    recover_steps : int, default 100
        Consecutive good steps in fallback before handing back (M).
    snapshot_interval : int, default 100
        Steps between snapshots of the learning controller while healthy (N).
    envelope_low, envelope_high : tuple of float, optional
        Allowed range of each watched signal (``envelope_signals``; physical
        units); leaving it trips to the fallback. Absent: no envelope, unless
        ``envelope_margin``.
    envelope_margin : float, optional
        Instead of ``envelope_low``/``envelope_high``: the envelope is each
        watched signal's declared range (the learning controller's
        ``observation_low``/``observation_high``) less this fraction of its
        width at each end, in [0, 0.5).
    envelope_signals : tuple of int, optional
        The observation entries the envelope watches (e.g. an attitude that
        is not a controlled output); absent: the controlled outputs.
    max_recoveries : int, default 10
        After this many trips the fallback keeps the plant for good.
    """

    weight_norm_limit: float = 1e3
    error_ratio: float = 10.0
    error_floor: float = 1e-3
    recover_ratio: float = 3.0
    level_time: float = 2.0
    trip_steps: int = 3
    recover_steps: int = 100
    snapshot_interval: int = 100
    envelope_low: tuple[float, ...] | None = None
    envelope_high: tuple[float, ...] | None = None
    envelope_margin: float | None = None
    envelope_signals: tuple[int, ...] | None = None
    max_recoveries: int = 10

    def __post_init__(self):
        for name in ("weight_norm_limit", "error_ratio", "error_floor", "recover_ratio", "level_time"):
            check_positive(getattr(self, name), name)
        for name in ("trip_steps", "recover_steps", "snapshot_interval"):
            check_int(getattr(self, name), name, low=1)
        check_int(self.max_recoveries, "max_recoveries", low=0)
        if self.recover_ratio > self.error_ratio:
            raise ParameterError(f"`recover_ratio` ({self.recover_ratio}) must not exceed `error_ratio` "
                                 f"({self.error_ratio}): hand back only when the error is lower than the trip level.")
        if (self.envelope_low is None) != (self.envelope_high is None):
            raise ParameterError("`envelope_low` and `envelope_high` must be given together (one value per "
                                 "controlled output each).")
        if self.envelope_margin is not None:
            if self.envelope_low is not None:
                raise ParameterError("give either `envelope_margin` (an envelope from the declared ranges) or "
                                     "`envelope_low` and `envelope_high`, not both.")
            m = self.envelope_margin
            if isinstance(m, bool) or not isinstance(m, (int, float)) or not 0.0 <= m < 0.5:
                raise ParameterError(f"`envelope_margin` must be a fraction in [0, 0.5) of each declared range's "
                                     f"width, got {m!r}; e.g. 0.1.")
        if self.envelope_signals is not None:
            sig = self.envelope_signals
            if isinstance(sig, (str, bytes)) or not hasattr(sig, "__len__") or len(sig) == 0 or \
                    any(isinstance(i, bool) or not isinstance(i, (int, np.integer)) or i < 0 for i in sig) or \
                    len(set(int(i) for i in sig)) != len(sig):
                raise ParameterError(f"`envelope_signals` must be distinct observation indices (integers >= 0), "
                                     f"got {sig!r}; e.g. [0, 1, 2].")
            if self.envelope_low is None and self.envelope_margin is None:
                raise ParameterError("`envelope_signals` needs an envelope: give `envelope_low` and "
                                     "`envelope_high`, or `envelope_margin`.")
            object.__setattr__(self, "envelope_signals", tuple(int(i) for i in sig))
        if self.envelope_low is not None:
            lo = as_float_array(self.envelope_low, "envelope_low", (None,), finite=False)
            hi = as_float_array(self.envelope_high, "envelope_high", (lo.shape[0],), finite=False)
            if np.any(np.isnan(lo)) or np.any(np.isnan(hi)) or np.any(hi <= lo):
                raise ParameterError(f"`envelope_high` must exceed `envelope_low` in every entry, got "
                                     f"low={lo.tolist()}, high={hi.tolist()}.")


def _declared_envelope(controller, margin: float, idx: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Return the watched signals' declared ranges (observation_low/high) less ``margin`` of their width."""
    low, high = controller.config.observation_low, controller.config.observation_high
    if low is None or high is None:
        raise ParameterError("`envelope_margin` needs the learning controller's declared ranges "
                             "(observation_low, observation_high); give them, or envelope_low and envelope_high.")
    lo, hi = np.asarray(low, dtype=float)[idx], np.asarray(high, dtype=float)[idx]
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise ParameterError(f"`envelope_margin` needs finite declared ranges of the watched signals, got "
                             f"low={lo.tolist()}, high={hi.tolist()}; give envelope_low and envelope_high.")
    pad = margin * (hi - lo)
    return lo + pad, hi - pad


class GuardedController(AbstractController):
    """A learning controller under guard: rollback on divergence, a fallback controller, hand-back on recovery.

    Parameters
    ----------
    controller : AdaptiveController or NeuralController
        The guarded controller (its limits, outputs and ``dt`` are the guard's).
    fallback : AbstractController or None
        Flies the plant while the learning controller is not trusted (e.g.
        the helicopter's :class:`~plants.helicopter.baselines.LQRController`); same limits and
        outputs. None: roll back and carry on adaptively (holding the last
        safe input if the learning controller fails at once).
    settings : GuardSettings, optional
        Thresholds; keyword arguments override single fields, e.g.
        ``GuardedController(ac, lqr, error_ratio=20.0)``.

    Notes
    -----
    Per step, after the learning controller (or, in fallback, the learning
    controller in *shadow*: it computes and learns, but from the fallback's
    applied input, by restoring its state and stepping again with a
    feedforward that makes its applied input the fallback's):

    * **divergence** -- the learning controller raised (non-finite action),
      its identifier weights are non-finite or their norm exceeds
      ``weight_norm_limit``: roll back to the older of the last two
      snapshots (taken every ``snapshot_interval`` healthy steps) and switch
      to the fallback;
    * **prediction error** above ``error_ratio`` times its running level for
      ``trip_steps`` steps, or **outputs outside the envelope**: switch to
      the fallback, keep learning in shadow;
    * in fallback, ``recover_steps`` steps in a row with the shadow error
      below ``recover_ratio`` times the level, healthy weights and outputs in
      the envelope: hand back to the learning controller.

    The fallback runs in shadow every step too (its integrators track), and
    gets the last finite measurement when a sample is lost (NaN). Whatever
    happens, the action returned is finite and within the limits: if both
    controllers fail, the last applied input is held. The switch log
    (:attr:`switches`) holds ``{"time", "step", "from", "to", "reason"}``.

    Examples
    --------
    >>> from neurocontrol.scenario import Scenario, run_scenario
    >>> sc = Scenario.from_toml("scenarios/guarded_hover.toml").set("run.duration", "3")  # doctest: +SKIP
    >>> res = run_scenario(sc, seed=0)                                                     # doctest: +SKIP
    """

    def __init__(self, controller: AdaptiveController | NeuralController, fallback: AbstractController | None = None,
                 settings: GuardSettings | None = None, **overrides):
        if not isinstance(controller, GUARDABLE):
            raise ParameterError(f"`controller` must be an AdaptiveController or a NeuralController, got "
                                 f"{type(controller).__name__}.")
        if fallback is not None and not isinstance(fallback, AbstractController):
            raise ParameterError(f"`fallback` must be an AbstractController (e.g. LQRController) or None, "
                                 f"got {type(fallback).__name__}.")
        super().__init__(input_limits=controller.input_limits, output_indices=controller.output_indices,
                         dt=controller.dt)
        if fallback is not None:
            if fallback.input_limits.shape != controller.input_limits.shape or \
                    tuple(fallback.output_indices) != tuple(controller.output_indices):
                raise ParameterError(f"`fallback` must drive the same inputs and outputs: limits "
                                     f"{fallback.input_limits.tolist()} vs {controller.input_limits.tolist()}, "
                                     f"outputs {fallback.output_indices} vs {controller.output_indices}.")
            if not math.isclose(fallback.dt, controller.dt, rel_tol=1e-9):
                raise ParameterError(f"`fallback` must have the same dt as the controller, got {fallback.dt} s and "
                                     f"{controller.dt} s.")
        if settings is None:
            settings = GuardSettings()
        elif not isinstance(settings, GuardSettings):
            raise ParameterError(f"`settings` must be a GuardSettings, got {type(settings).__name__}.")
        if overrides:
            names = {f.name for f in dataclasses.fields(GuardSettings)}
            bad = sorted(set(overrides) - names)
            if bad:
                raise ParameterError(f"unknown guard setting(s) {bad}; allowed: {', '.join(sorted(names))}.")
            settings = dataclasses.replace(settings, **overrides)
        watched = list(controller.output_indices) if settings.envelope_signals is None \
            else list(settings.envelope_signals)
        bad = [i for i in watched if i >= controller._n_obs]
        if bad:
            raise ParameterError(f"`envelope_signals` {bad} are not observation entries (the observation has "
                                 f"{controller._n_obs}).")
        what = "controlled output" if settings.envelope_signals is None else "watched signal (envelope_signals)"
        if settings.envelope_low is not None and len(settings.envelope_low) != len(watched):
            raise ParameterError(f"`envelope_low` and `envelope_high` must give one value per {what} "
                                 f"({len(watched)}), got {len(settings.envelope_low)}.")
        self.controller = controller
        self.fallback = fallback
        self.settings = settings
        self._n_obs = controller._n_obs
        self._env_lo = None if settings.envelope_low is None else np.array(settings.envelope_low, dtype=float)
        self._env_hi = None if settings.envelope_high is None else np.array(settings.envelope_high, dtype=float)
        if settings.envelope_margin is not None:
            self._env_lo, self._env_hi = _declared_envelope(controller, settings.envelope_margin, watched)
        self._env_idx = watched
        self._alpha = min(1.0, self.dt / settings.level_time)
        self._level_steps = max(1, math.ceil(settings.level_time / self.dt - 1e-9))   # samples before it is used
        self._ready = False

    # ------------------------------------------------------------------ views
    @property
    def mode(self) -> str:
        """``"warmup"``, ``"adaptive"`` or ``"fallback"``."""
        return self._mode

    @property
    def switches(self) -> list[dict]:
        """Every switch so far: ``{"time" s, "step", "from", "to", "reason"}`` (copies)."""
        return [dict(s) for s in self._switches]

    @property
    def error_level(self) -> float:
        """Running level of the identifier's prediction error (normalised units; NaN before the first)."""
        return self._level

    @property
    def preview(self):
        """The learning controller's previewed reference (None: none, or it does not preview)."""
        return getattr(self.controller, "preview", None)

    def set_preview(self, reference) -> None:
        """Give a reference known ahead to the learning controller and to the fallback, where they preview it.

        Parameters
        ----------
        reference : callable or None
            As :meth:`NeuralController.set_preview
            <neurocontrol.controllers.neural.NeuralController.set_preview>`.
        """
        for c in (self.controller, self.fallback):
            if c is not None and callable(getattr(c, "set_preview", None)):
                c.set_preview(reference)

    def derived_settings(self) -> dict:
        """Return the learning controller's and the fallback's own choices, keyed ``inner ...``/``fallback ...``."""
        out = {f"inner {k}": v for k, v in self.controller.derived_settings().items()}
        if self.fallback is not None:
            out.update({f"fallback {k}": v for k, v in self.fallback.derived_settings().items()})
        return out

    def diagnostics(self) -> dict:
        """Return the inner controller's prediction error and iterations, the last step's mode and the switch count.

        ``"mode"`` is the mode that flew the last step; a trip or hand-back decided in it shows from the next
        step (:attr:`mode` is the mode of the next step).
        """
        d = self._diag if self._diag is not None else self.controller.diagnostics()   # the step's, once computed
        return {"prediction_error": d["prediction_error"], "inner_iterations": d["inner_iterations"],
                "mode": self._flown, "switches": len(self._switches)}

    def failure_hint(self) -> str | None:
        """Return why a run the env stopped may have failed, when the guard can tell; else None.

        Asked by :func:`~neurocontrol.simulation.loop.simulate` (``meta["hint"]``). Stopped while the fallback
        flew: when the guard had handed it the plant, and why; stopped while the learning controller flew: its
        own hint, if it has one (the neural controller's, ``guarded=True``).
        """
        if not getattr(self, "_ready", False):
            return None
        t = self._k * self.dt
        if self._flown == "fallback":
            trip = next((sw for sw in reversed(self._switches) if sw["to"] == "fallback"), None)
            since = "" if trip is None else \
                f", {t - trip['time']:.4g} s after the guard handed it the plant ({trip['reason']})"
            return (f"the env stopped the run at {t:.4g} s while the fallback flew{since}. A late trip leaves the "
                    "fallback too little room: an envelope further inside the ranges (`envelope_margin`, or "
                    "`envelope_low` and `envelope_high`) trips earlier; a fallback that cannot hold the plant needs "
                    "other settings (docs/reliability.md, \"The guard around the neural controller\").")
        inner = getattr(self.controller, "failure_hint", None)
        return inner(guarded=True) if callable(inner) else None

    # ------------------------------------------------------------------ episode
    def _reset_impl(self, observation, reference, seed) -> None:
        if observation.shape != (self._n_obs,):
            raise ShapeError(f"`observation` must have shape ({self._n_obs},), got {observation.shape}.")
        self.controller.reset(observation, reference, seed=seed)
        if self.fallback is not None:
            self.fallback.reset(observation, reference)
        self._mode = "warmup" if self.controller.in_warmup else "adaptive"
        self._flown = self._mode
        self._diag = None          # the learning controller's diagnostics of the last step, when the checks took them
        self._switches: list[dict] = []
        self._k = 0
        self._level = math.nan
        self._n_level = 0
        self._bad = 0
        self._good = 0
        self._trips = 0
        self._healthy_since_snapshot = True
        self._snapshots = collections.deque([(0, self.controller.get_state())], maxlen=2)
        self._last_obs = observation.copy()
        self._u_last = self.input_limits.mean(axis=1)
        self._ready = True

    def _log(self, to: str, reason: str) -> None:
        self._switches.append({"time": round(self._k * self.dt, 10), "step": self._k, "from": self._mode, "to": to,
                               "reason": reason})
        self._mode = to

    # ------------------------------------------------------------------ checks
    def _weights_bad(self) -> str | None:
        W = self.controller.identifier_weights
        norm = float(np.sqrt(np.sum(W * W)))
        if not math.isfinite(norm):
            return "non-finite identifier weights"
        if norm > self.settings.weight_norm_limit:
            return f"identifier weight norm {norm:.3g} > {self.settings.weight_norm_limit:.3g}"
        return None

    def _threshold(self, ratio: float) -> float:
        level = self._level if math.isfinite(self._level) else 0.0
        return ratio * max(level, self.settings.error_floor)

    def _outside(self, observation) -> bool:
        if self._env_lo is None:
            return False
        y = observation[self._env_idx]
        return bool(np.any(y < self._env_lo) or np.any(y > self._env_hi))

    def _rollback(self) -> str:
        k, state = self._snapshots[0]
        self.controller.set_state(state)
        self._snapshots = collections.deque([(k, state)], maxlen=2)
        return f"rolled back to the snapshot of t={k * self.dt:.4g} s"

    # ------------------------------------------------------------------ step
    def _inner_step(self, observation, reference, u_applied=None):
        """Step the learning controller; with ``u_applied``, in shadow (it learns from ``u_applied``)."""
        ac = self.controller
        try:
            if u_applied is None:
                with np.errstate(all="ignore"):
                    return ac.step(observation, reference), None
            saved = ac.get_state()
            with np.errstate(all="ignore"):
                u_own = ac.step(observation, reference)
                ac.set_state(saved)
                ac.step(observation, reference, feedforward=u_applied - u_own)
            return u_own, None
        except (DivergenceError, FloatingPointError, np.linalg.LinAlgError) as exc:
            return None, f"learning controller failed: {' '.join(str(exc).split())[:120]}"

    def _fallback_step(self, observation, reference):
        if self.fallback is None:
            return None
        try:
            with np.errstate(all="ignore"):       # absurd measurements: a non-finite result is caught below
                return self.fallback.step(observation, reference)
        except (DivergenceError, FloatingPointError, np.linalg.LinAlgError):
            return None

    def _step_impl(self, observation, reference) -> np.ndarray:
        if not self._ready:
            raise ParameterError("call reset(observation, reference) before step().")
        if observation.shape != (self._n_obs,):
            raise ShapeError(f"`observation` must have shape ({self._n_obs},), got {observation.shape}.")
        s = self.settings
        finite = bool(np.isfinite(observation).all())
        if finite:
            self._last_obs = observation.copy()
        u_fb = self._fallback_step(self._last_obs, reference)
        start_mode = self._mode
        in_fallback = start_mode == "fallback"
        self._diag = None
        u_ad, failure = self._inner_step(observation, reference, u_fb if in_fallback and u_fb is not None else None)
        if failure is None:
            failure = self._weights_bad()
        if failure is not None:
            self._bad = 0
            self._good = 0
            reason = f"{failure}; {self._rollback()}"
            self._healthy_since_snapshot = False
            self._trips += 1
            if self.fallback is not None and not in_fallback:
                self._log("fallback", reason)
            elif self.fallback is None:
                self._switches.append({"time": round(self._k * self.dt, 10), "step": self._k, "from": self._mode,
                                       "to": self._mode, "reason": reason})
            u_ad = None
        elif finite:
            diag = self._diag = self.controller.diagnostics()
            pe = float(diag["prediction_error"])
            warm = diag["mode"] == "warmup"
            outside = self._outside(observation)
            learning = not warm and math.isfinite(pe) and self._n_level < self._level_steps
            if learning:          # the level is learned before it is used (in shadow too, after an early trip)
                self._n_level += 1
                self._level = pe if self._n_level == 1 else self._level + (pe - self._level) / self._n_level
            if not in_fallback:
                too_big = False
                if not warm and not learning and math.isfinite(pe):
                    too_big = pe > self._threshold(s.error_ratio)
                    if not too_big:
                        self._level += self._alpha * (pe - self._level)
                self._bad = self._bad + 1 if (too_big or outside) else 0
                if self._bad:
                    self._healthy_since_snapshot = False
                if self._bad >= s.trip_steps and self.fallback is not None:
                    what = "outputs outside the envelope" if outside else \
                        f"prediction error {pe:.3g} > {self._threshold(s.error_ratio):.3g}"
                    self._trips += 1
                    self._bad = 0
                    self._good = 0
                    self._log("fallback", f"{what} for {s.trip_steps} steps")
                elif self._mode == "warmup" and not self.controller.in_warmup:
                    self._mode = "adaptive"
            else:
                ok = not learning and math.isfinite(pe) and pe <= self._threshold(s.recover_ratio) and not outside
                self._good = self._good + 1 if ok else 0
                if self._good >= s.recover_steps and self._trips <= s.max_recoveries:
                    self._good = 0
                    self._bad = 0
                    self._healthy_since_snapshot = False      # the next snapshot waits a full healthy interval
                    self._log("adaptive", f"prediction error below {self._threshold(s.recover_ratio):.3g} and "
                                          f"outputs in the envelope for {s.recover_steps} steps")
        self._k += 1
        if self._mode != "fallback" and self._k % s.snapshot_interval == 0:
            if self._healthy_since_snapshot:
                self._snapshots.append((self._k, self.controller.get_state()))
            self._healthy_since_snapshot = True
        # the action: the mode at the start of the step decides (the learning controller has taken in the input
        # applied at every step it was not rolled back: its own, or in shadow the fallback's); on a failure the
        # fallback, else hold
        if in_fallback:
            u, self._flown = u_fb, "fallback"
        elif u_ad is not None:
            u, self._flown = u_ad, start_mode
        else:
            u = u_fb if self.fallback is not None and failure else None
            self._flown = "fallback" if u is not None else start_mode
        if u is None or not np.all(np.isfinite(u)):
            u = self._u_last
        return np.array(u, dtype=np.float64)

    def _applied(self, u: np.ndarray) -> None:
        self._u_last = u.copy()

    # ------------------------------------------------------------------ state I/O
    _SCALARS = ("_k", "_level", "_n_level", "_bad", "_good", "_trips", "_healthy_since_snapshot")

    def get_state(self) -> dict:
        """Return the whole state (inner controller, fallback, guard counters, snapshots) for a checkpoint."""
        if not self._ready:
            raise ParameterError("call reset(observation, reference) before get_state(): there is no state yet.")
        state = {f"inner.{k}": v for k, v in self.controller.get_state().items()}
        if self.fallback is not None:
            state.update({f"fallback.{k}": v for k, v in self.fallback.get_state().items()})
        state.update({f"guard.{n[1:]}": getattr(self, n) for n in self._SCALARS})
        state["guard.mode"] = self._mode
        state["guard.switches"] = json.dumps(self._switches)
        state["guard.last_obs"] = self._last_obs.copy()
        state["guard.u_last"] = self._u_last.copy()
        state["guard.n_snapshots"] = len(self._snapshots)
        for i, (k, snap) in enumerate(self._snapshots):
            state[f"snapshot{i}.step"] = k
            state.update({f"snapshot{i}.{key}": (v.copy() if isinstance(v, np.ndarray) else v)
                          for key, v in snap.items()})
        return state

    def set_state(self, state: dict) -> None:
        """Restore a state returned by :meth:`get_state`.

        Parameters
        ----------
        state : dict
            As :meth:`get_state` returned it.
        """
        if not self._ready:
            raise ParameterError("call reset(observation, reference) once before set_state(), to build the buffers.")
        if "guard.n_level" not in state and "guard.level" in state:     # a checkpoint from before the count
            learned = math.isfinite(float(state["guard.level"]))
            state = {**state, "guard.n_level": self._level_steps if learned else 0}
        need = {f"guard.{n[1:]}" for n in self._SCALARS} | {"guard.mode", "guard.switches", "guard.last_obs",
                                                             "guard.u_last", "guard.n_snapshots"}
        missing = sorted(need - set(state))
        if missing:
            raise ParameterError(f"`state` does not fit a GuardedController: missing {missing}.")
        self.controller.set_state({k[6:]: v for k, v in state.items() if k.startswith("inner.")})
        if self.fallback is not None:
            self.fallback.set_state({k[9:]: v for k, v in state.items() if k.startswith("fallback.")})
        mode = str(state["guard.mode"])
        if mode not in _MODES:
            raise ParameterError(f"`state['guard.mode']` must be one of {_MODES}, got {mode!r}.")
        self._mode = self._flown = mode
        self._diag = None
        self._k, self._bad, self._good, self._trips = (int(state[f"guard.{n}"]) for n in ("k", "bad", "good", "trips"))
        self._level = float(state["guard.level"])
        self._n_level = int(state["guard.n_level"])
        self._healthy_since_snapshot = bool(state["guard.healthy_since_snapshot"])
        self._switches = json.loads(str(state["guard.switches"]))
        self._last_obs = as_float_array(state["guard.last_obs"], "state['guard.last_obs']", (self._n_obs,)).copy()
        self._u_last = as_float_array(state["guard.u_last"], "state['guard.u_last']", (self.n_inputs,)).copy()
        snaps = collections.deque(maxlen=2)
        for i in range(int(state["guard.n_snapshots"])):
            prefix = f"snapshot{i}."
            snap = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix) and k != f"{prefix}step"}
            snaps.append((int(state[f"{prefix}step"]), snap))
        self._snapshots = snaps


