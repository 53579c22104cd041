"""The adaptive two-RTRN controller: its settings, episode state (held in a named arena) and control step."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from neurocontrol._validation import as_float_array
from neurocontrol.controllers._kernels import adaptive_step_kernel, denormalize_kernel, fill_desired_kernel
from neurocontrol.controllers.arena import FIELDS, INT_FIELDS, Arena
from neurocontrol.controllers.base import AbstractController, FunctionController
from neurocontrol.controllers.laws import AbstractLaw, LawContext, PredictiveLaw
from neurocontrol.exceptions import NonFiniteError, ParameterError, ShapeError
from neurocontrol.nets._kernels import TANH, rls_kernel, two_d_kernel
from neurocontrol.nets.normalizer import Normalizer
from neurocontrol.nets.rules import AbstractLearningRule, RecursiveLeastSquares, TwoDRule
from neurocontrol.nets.structure import RTRNConfig
from neurocontrol.reference import aprbs
from neurocontrol.reference_model import SecondOrderReferenceModel, second_order_step

__all__ = ["AdaptiveController", "AdaptiveControllerConfig"]

#: Arena fields that change during an episode (saved by ``get_state``); the others are settings and workspace.
_STATE_FIELDS = ("W", "z", "P", "Ws", "zs", "Ps", "rm", "d", "d_prev", "y", "offset", "have_z", "gate_factor",
                 "gate_level", "id_iters", "im_iters", "pred_err", "id_updates", "im_updates", "id_bounded",
                 "im_bounded")
#: Episode state kept outside the arena (Python numbers the compiled step does not read).
_STATE_SCALARS = ("k", "k0", "n_warmup", "finite")


@dataclasses.dataclass(frozen=True, kw_only=True)
class AdaptiveControllerConfig:
    """Settings of :class:`AdaptiveController` (model-free: signal ranges, not plant equations).

    Parameters
    ----------
    observation_low, observation_high : tuple of float, shape (n,)
        User-given range of each measured signal, physical units; mapped
        onto ``(-normalized_range, normalized_range)``. Ranges, not a model.
    normalized_range : float in (0, 0.9], default 0.1
        Half-width of the normalised interval; small keeps tanh nearly
        linear over the signal ranges, so the imitator can represent a
        linear reference model (the rules' covariance defaults assume 0.1).
    rate_indices : tuple of int, shape (p,)
        For each controlled output, the observation entry holding its rate
        (e.g. climb rate for altitude), or -1 if none is measured. The
        imitator then also learns the desired rate.
    identifier_rule : AbstractLearningRule
        How the identifier learns measured transitions every control step.
        Default: recursive least squares (forgetting 0.998, directional
        forgetting 0.998, covariance trace bounded at 2.5e4), because it fits
        all recent transitions rather than only the latest, keeps tracking a
        drifting plant and does not wind up while hovering without excitation.
    imitator_rule : AbstractLearningRule
        How the imitator learns the reference model's transitions every
        control step. Default: the 2-D rule (alpha 1, delta 0.1, inner
        iterations until 0.5 |e|^2 < 1e-12 or 10), which suffices for a
        noise-free desired response; its iterations are reported in
        ``diagnostics()["inner_iterations"]``.
    persistence_prior : bool, default True
        Start the identifier at "the next sample equals this one" around the
        first measurement (exact for any sampled plant as dt -> 0) instead of
        random weights.
    seed_weight_scale : float, default 0.1
        Scale of the seeded random initial weights where no prior is used
        (input and bias columns of the imitator; the identifier without a
        persistence prior), small so the first predictions stay near zero.
    reference_bandwidth, reference_damping : tuple of float, shape (p,)
        Second-order reference model per controlled output (rad/s, -); the
        defaults ask for a critically damped response the helicopter's
        actuators can follow.
    imitator_pretrain_steps : int, default 3000
        Steps of reference-model response (under seeded random set-point
        steps across the normalised range) the imitator learns at reset, so
        it knows the desired response before the run; it then keeps learning
        online.
    law : AbstractLaw
        The control-law synthesiser (default :class:`PredictiveLaw`, which
        looks past the plant's relative degree).
    warmup_duration : float, default 1.0
        Seconds of identification warm-up (persistent excitation under the
        warm-up controller, or around ``nominal_input``), long enough for the
        identifier to see every input move; counts as run time.
    excitation_amplitude : tuple of float, shape (m,)
        APRBS amplitude per input during warm-up, physical units.
    excitation_min_hold, excitation_max_hold : tuple of int, shape (m,)
        APRBS hold-time range (control steps) per input.
    nominal_input : tuple of float or None
        Input around which open-loop warm-up excites when no warm-up
        controller is given (default: the middle of the limits).
    rate_limit : tuple of float or None
        Largest change of the applied input (feedforward included) per
        control step after the warm-up, physical units; None: none.
    disturbance_filter : float in [0, 1), default 0.95
        Low-pass coefficient of the identifier's net-input residual, added to
        its predictions as a disturbance estimate (0 disables it); 0.95
        averages over about 20 steps, slow enough to ignore noise and fast
        enough to cancel a sudden load change.
    outlier_gate : float >= 0, default 10.0
        The identifier skips learning a sample whose one-step error exceeds
        ``outlier_gate`` times its running level (a geometric mean updated by
        every sample at rate ``outlier_level_rate``; armed when the warm-up
        ends), so a short fault the controller is not told of (a stuck
        actuator) does not rewrite the model, while a lasting plant change
        opens the gate again after about ``ln(ln(jump) / ln(gate)) / rate``
        steps. 0 disables the gate; 10 lets ordinary samples and slow drift
        through.
    outlier_level_rate : float in (0, 1], default 0.005
        Rate of the running error level, per control step; 0.005 keeps the
        gate shut for a few seconds after a large jump, about as long as a
        transient fault lasts.
    """

    observation_low: tuple[float, ...]
    observation_high: tuple[float, ...]
    normalized_range: float = 0.1
    rate_indices: tuple[int, ...] = ()
    identifier_rule: AbstractLearningRule = dataclasses.field(
        default_factory=lambda: RecursiveLeastSquares(forgetting=0.998, initial_covariance=2.5e4, max_trace=2.5e4,
                                                      directional_forgetting=0.998))
    imitator_rule: AbstractLearningRule = dataclasses.field(
        default_factory=lambda: TwoDRule(alpha=1.0, delta=0.1, tol=1e-12, k_max=10))
    persistence_prior: bool = True
    seed_weight_scale: float = 0.1
    reference_bandwidth: tuple[float, ...] = (4.0, 5.0)
    reference_damping: tuple[float, ...] = (1.0, 1.0)
    imitator_pretrain_steps: int = 3000
    law: AbstractLaw = dataclasses.field(default_factory=PredictiveLaw)
    warmup_duration: float = 1.0
    excitation_amplitude: tuple[float, ...] = (40.0, 100.0)
    excitation_min_hold: tuple[int, ...] = (5, 1)
    excitation_max_hold: tuple[int, ...] = (30, 4)
    nominal_input: tuple[float, ...] | None = None
    rate_limit: tuple[float, ...] | None = None
    disturbance_filter: float = 0.95
    outlier_gate: float = 10.0
    outlier_level_rate: float = 0.005


    def __post_init__(self):
        lo = as_float_array(self.observation_low, "observation_low", (None,))
        hi = as_float_array(self.observation_high, "observation_high", (lo.shape[0],))
        if np.any(hi <= lo):
            raise ParameterError(f"`observation_high` must exceed `observation_low` in every entry, "
                                 f"got low={lo.tolist()}, high={hi.tolist()}.")
        if not (0.0 < float(self.normalized_range) <= 0.9):
            raise ParameterError(f"`normalized_range` must be in (0, 0.9], got {self.normalized_range!r}.")
        if not isinstance(self.identifier_rule, AbstractLearningRule) or \
                not isinstance(self.imitator_rule, AbstractLearningRule):
            raise ParameterError("`identifier_rule` and `imitator_rule` must be learning-rule objects from "
                                 "neurocontrol.nets.rules (e.g. RecursiveLeastSquares(), TwoDRule()).")
        if not isinstance(self.law, AbstractLaw):
            raise ParameterError(f"`law` must be a law object from neurocontrol.controllers.laws (PredictiveLaw(), "
                                 f"OneStepLaw()), got {type(self.law).__name__}.")
        for name in ("warmup_duration", "seed_weight_scale"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v >= 0):
                raise ParameterError(f"`{name}` must be a non-negative number, got {v!r}.")
        if not (np.isfinite(self.outlier_gate) and (self.outlier_gate == 0 or self.outlier_gate > 1)):
            raise ParameterError(f"`outlier_gate` must be 0 (off) or a factor > 1, got {self.outlier_gate!r}.")
        if not (0.0 < self.outlier_level_rate <= 1.0):
            raise ParameterError(f"`outlier_level_rate` must be in (0, 1], got {self.outlier_level_rate!r}.")
        if not (0.0 <= self.disturbance_filter < 1.0):
            raise ParameterError(f"`disturbance_filter` must be in [0, 1), got {self.disturbance_filter!r}.")
        if isinstance(self.imitator_pretrain_steps, bool) or int(self.imitator_pretrain_steps) < 0:
            raise ParameterError(f"`imitator_pretrain_steps` must be a non-negative integer, "
                                 f"got {self.imitator_pretrain_steps!r}.")
        bw = as_float_array(self.reference_bandwidth, "reference_bandwidth", (None,))
        dz = as_float_array(self.reference_damping, "reference_damping", (bw.shape[0],))
        if np.any(bw <= 0) or np.any(dz <= 0):
            raise ParameterError("`reference_bandwidth` and `reference_damping` must be positive, "
                                 f"got {bw.tolist()} and {dz.tolist()}.")
        amp = as_float_array(self.excitation_amplitude, "excitation_amplitude", (None,))
        lo = np.asarray(self.excitation_min_hold)
        hi = np.asarray(self.excitation_max_hold)
        if lo.shape != amp.shape or hi.shape != amp.shape or np.any(lo < 1) or np.any(hi < lo):
            raise ParameterError(f"`excitation_min_hold` and `excitation_max_hold` must give one hold time per input "
                                 f"({amp.shape[0]}) with 1 <= min <= max steps, got {self.excitation_min_hold!r} and "
                                 f"{self.excitation_max_hold!r}.")
        if np.any(amp < 0):
            raise ParameterError(f"`excitation_amplitude` must be non-negative, got {amp.tolist()}.")


def _pretrain_commands(n_steps, p, half, rng):
    """Seeded random set-point steps (held 0.5-3 s at 100 Hz) across the normalised range."""
    return aprbs(n_steps, low=np.full(p, -half), high=np.full(p, half), min_hold=50, max_hold=300, rng=rng)


class AdaptiveController(AbstractController):
    """Two RTRNs learning online, and a control-law synthesiser using both.

    The **identifier** (an RTRN with one unit per measured signal, teacher
    forced by the measurements) learns the plant's transitions
    ``y(t) -> y(t+1)`` every control step. The **imitator** (an RTRN of the
    same structure: same units, exogenous input = reference command) learns
    the transitions of a second-order reference model per controlled output,
    i.e. the desired response. The **synthesiser** (:mod:`neurocontrol.controllers.laws`)
    computes the next input from both networks' weights, the measured output,
    the imitator's state and the reference.

    The controller is model-free: it gets only measurements, the control
    period, the actuator limits and the user's signal ranges. During a short
    warm-up it applies persistent excitation (APRBS) on top of an optional
    user-configured warm-up controller; its time counts as run time.

    Parameters
    ----------
    config : AdaptiveControllerConfig
        The settings.
    input_limits : array_like, shape (m, 2)
        Actuator limits, physical units.
    output_indices : sequence of int, length p
        Controlled outputs within the observation.
    dt : float
        Control period, s.
    warmup_controller : AbstractController or object or None
        Flies the plant during warm-up (excitation is added to its action):
        any controller object with public methods ``reset(observation,
        reference)`` and ``step(observation, reference) -> input`` (plus
        ``get_state()``/``set_state(state)`` for checkpoints, if it has
        them); one that is not an :class:`AbstractController` is wrapped in
        a :class:`~neurocontrol.controllers.base.FunctionController` with
        this controller's limits, outputs and period. None: open-loop
        excitation around ``nominal_input``.

    Notes
    -----
    Per control step (normalised units, ``z = [y; u; 1]``):

    1. identifier learns ``z(t-1) -> y(t)`` (measured);
    2. the reference model advances under ``r(t)``; the imitator learns its
       transition;
    3. warm-up: ``u = baseline + excitation``; afterwards ``u = law(...)``;
       :meth:`AbstractController.step` adds any feedforward and limits rate
       and range; the next step learns from the *applied* input, so
       saturation never winds up the learned weights.

    The compiled step (identifier RLS, imitator RLS or the 2-D rule) keeps
    the whole episode state in one :class:`~neurocontrol.controllers.arena.Arena`;
    other rules run the same arithmetic in Python with the rules' public
    ``update``.
    """

    def __init__(self, config: AdaptiveControllerConfig, *, input_limits, output_indices, dt: float,
                 warmup_controller: AbstractController | None = None):  # noqa: D107  (documented on the class)
        super().__init__(input_limits=input_limits, output_indices=output_indices, dt=dt)
        if not isinstance(config, AdaptiveControllerConfig):
            raise ParameterError(f"`config` must be an AdaptiveControllerConfig, got {type(config).__name__}.")
        self.config = config
        n = len(config.observation_low)
        m = self.n_inputs
        p = len(self.output_indices)
        if any(not 0 <= i < n for i in self.output_indices):
            raise ParameterError(f"`output_indices` must lie in [0, {n}), got {self.output_indices}.")
        rate_idx = tuple(config.rate_indices) if config.rate_indices else (-1,) * p
        if len(rate_idx) != p or any(not -1 <= i < n for i in rate_idx):
            raise ParameterError(f"`rate_indices` must give one entry per controlled output ({p}) in "
                                 f"[-1, {n}), got {config.rate_indices!r}.")
        if len(config.reference_bandwidth) != p:
            raise ParameterError(f"`reference_bandwidth` must have one entry per controlled output ({p}), "
                                 f"got {len(config.reference_bandwidth)}.")
        if len(config.excitation_amplitude) != m:
            raise ParameterError(f"`excitation_amplitude` must have one entry per input ({m}), "
                                 f"got {len(config.excitation_amplitude)}.")
        self.warmup_controller = self._as_controller(warmup_controller)
        self._n_obs = n
        self._handles_nonfinite = True     # holds its input and skips learning on a bad sample
        half = float(config.normalized_range)
        self._obs_norm = Normalizer(low=config.observation_low, high=config.observation_high, target=(-half, half))
        lim = self.input_limits
        self._in_norm = Normalizer(low=lim[:, 0], high=lim[:, 1], target=(-half, half))
        out = np.array(self.output_indices)
        self._ref_norm = Normalizer(low=self._obs_norm.low[out], high=self._obs_norm.high[out],
                                    target=(-half, half))
        # imitator units: [controlled outputs (p) | their rates (p) | hidden]; as many as the identifier's
        if n < 2 * p:
            raise ParameterError(f"the imitator needs 2 units per controlled output (value and rate), so at least "
                                 f"{2 * p} observation entries; got {n}.")
        if len(set(self.output_indices) | {i for i in rate_idx if i >= 0}) != p + sum(i >= 0 for i in rate_idx):
            raise ParameterError(f"`rate_indices` {rate_idx} must not repeat a controlled output.")
        self._rate_idx = rate_idx
        desired = -np.ones(n, dtype=np.int64)
        desired[list(self.output_indices)] = np.arange(p)
        for i, ri in enumerate(rate_idx):
            if ri >= 0:
                desired[ri] = p + i
        self._desired_map = desired
        # normalisation of the imitator's rate units: the measured rate's own scale where there is one,
        # otherwise the output's scale per (1 / bandwidth) s
        out = np.array(self.output_indices)
        bw = np.asarray(config.reference_bandwidth, dtype=float)
        self._rate_scale = np.array([self._obs_norm.scale[ri] if ri >= 0 else self._obs_norm.scale[o] / bw[i]
                                     for i, (o, ri) in enumerate(zip(out, rate_idx))])
        self._rate_offset = np.array([self._obs_norm.offset[ri] if ri >= 0 else 0.0 for ri in rate_idx])
        self._id_cfg = RTRNConfig(n_outputs=n, n_inputs=m)
        self._im_cfg = RTRNConfig(n_outputs=2 * p, n_hidden=n - 2 * p, n_inputs=p)
        if self._im_cfg.weight_shape[0] != self._id_cfg.weight_shape[0]:
            raise ParameterError("the imitator needs as many units as the identifier")
        self._out = out
        self._y_scale, self._y_offset = self._obs_norm.scale, self._obs_norm.offset
        self._u_scale, self._u_offset = self._in_norm.scale, self._in_norm.offset
        self._r_scale, self._r_offset = self._ref_norm.scale, self._ref_norm.offset
        self._out_scale, self._out_offset = self._obs_norm.scale[out], self._obs_norm.offset[out]
        rm = SecondOrderReferenceModel(bandwidth_rad_s=config.reference_bandwidth, damping=config.reference_damping,
                                       dt=dt)
        self._rm_ad, self._rm_bd = rm.transition_matrix.copy(), rm.input_matrix.copy()
        self._law_rate_limit = self._no_rate_limit if config.rate_limit is None else \
            as_float_array(config.rate_limit, "rate_limit", (m,)).copy()
        if np.any(self._law_rate_limit <= 0):
            raise ParameterError(f"`rate_limit` must be positive, got {self._law_rate_limit.tolist()}.")
        self._compiled = type(config.identifier_rule) is RecursiveLeastSquares and \
            type(config.imitator_rule) in (RecursiveLeastSquares, TwoDRule)
        self._fused_law = self._compiled and type(config.law) is PredictiveLaw
        self._n = n
        self._ready = False

    # ----------------------------------------------------------------- state views
    @property
    def identifier_weights(self) -> np.ndarray:
        """Identifier weights W, shape (n, n + m + 1), normalised units (read-only view)."""
        v = self._arena["W"].view()
        v.setflags(write=False)
        return v

    @property
    def imitator_weights(self) -> np.ndarray:
        """Imitator weights W*, shape (n, n + p + 1), normalised units (read-only view)."""
        v = self._arena["Ws"].view()
        v.setflags(write=False)
        return v

    @property
    def step_count(self) -> int:
        """Control steps since the last reset."""
        return self._k

    @property
    def in_warmup(self) -> bool:
        """True while the identification warm-up runs."""
        return self._k < self._n_warmup

    def diagnostics(self) -> dict:
        """Return what the controller learned at its last step (see :meth:`AbstractController.diagnostics`)."""
        a = self._arena
        return {"prediction_error": a.scalar("pred_err"),
                "inner_iterations": int(a.scalar("id_iters") + a.scalar("im_iters")),
                "mode": "warmup" if self._k <= self._n_warmup else "adaptive"}

    # ----------------------------------------------------------------- episode
    def _reset_impl(self, observation, reference, seed) -> None:
        cfg = self.config
        n, m = self._n, self.n_inputs
        if observation.shape != (n,):
            raise ParameterError(f"`observation` must have shape ({n},) to match `observation_low`, "
                                 f"got {observation.shape}.")
        if not np.all(np.isfinite(observation)):
            raise NonFiniteError(f"the first `observation` must be finite, got {observation.tolist()}.")
        ss = np.random.SeedSequence(seed)
        rng_init, rng_exc, rng_pre = (np.random.default_rng(s) for s in ss.spawn(3))
        half = float(cfg.normalized_range)
        y0 = np.clip(observation * self._y_scale + self._y_offset, -0.99, 0.99)
        if cfg.persistence_prior:
            W = np.zeros(self._id_cfg.weight_shape)
            g = 1.0 / (1.0 - y0 * y0)
            W[np.arange(n), np.arange(n)] = g
            W[:, -1] = np.arctanh(y0) - g * y0
        else:
            W = rng_init.uniform(-1, 1, self._id_cfg.weight_shape) * cfg.seed_weight_scale
        Ws = rng_init.uniform(-1, 1, self._im_cfg.weight_shape) * cfg.seed_weight_scale
        Ws[self._im_cfg.n_outputs:] = 0.0   # hidden units carry nothing
        self._build_arena(W, Ws)
        self._pretrain_imitator(rng_pre, half)
        self._restart_reference_model(observation)
        self._n_warmup = int(round(cfg.warmup_duration / self.dt))
        amp = np.asarray(cfg.excitation_amplitude, dtype=float)
        exc = np.zeros((max(self._n_warmup, 1), m))
        for j in range(m):
            if amp[j] > 0:
                lo, hi = cfg.excitation_min_hold[j], cfg.excitation_max_hold[j]
                exc[:, j] = aprbs(exc.shape[0], low=-amp[j], high=amp[j], min_hold=int(lo), max_hold=int(hi),
                                  rng=rng_exc, n_channels=1)[:, 0]
        self._excitation = exc
        lim = self.input_limits
        nominal = lim.mean(axis=1) if cfg.nominal_input is None else \
            as_float_array(cfg.nominal_input, "nominal_input", (m,))
        # the feedback input (applied input minus feedforward): where the law starts its move from
        self._u = np.clip(nominal, lim[:, 0], lim[:, 1])
        self._nominal = self._u.copy()
        self._last_u = self._u.copy()      # the rate limit's reference before the first step
        if self.warmup_controller is not None:
            self.warmup_controller.reset(observation, reference)
        self._finite = True
        self._k = 0
        self._k0 = 0
        self._ready = True

    def _as_controller(self, warmup) -> AbstractController | None:
        """Return the warm-up controller as an AbstractController: as it is, or a duck-typed object wrapped."""
        if warmup is None or isinstance(warmup, AbstractController):
            return warmup
        missing = [name for name in ("reset", "step") if not callable(getattr(warmup, name, None))]
        if missing:
            raise ParameterError(f"`warmup_controller` must be an AbstractController, any object with public "
                                 f"methods reset(observation, reference) and step(observation, reference), or None; "
                                 f"{type(warmup).__name__} has no {' and no '.join(missing)} method. Wrap a "
                                 "plain function in neurocontrol.controllers.base.FunctionController.")
        stateful = callable(getattr(warmup, "get_state", None)) and callable(getattr(warmup, "set_state", None))
        return FunctionController(warmup.step, reset=warmup.reset, input_limits=self.input_limits,
                                  output_indices=self.output_indices, dt=self.dt,
                                  get_state=warmup.get_state if stateful else None,
                                  set_state=warmup.set_state if stateful else None)

    def _build_arena(self, W, Ws):
        """Allocate the arena (every weight, covariance, reference-model and law buffer) and the settings in it."""
        cfg, law = self.config, self.config.law
        n, m, p = self._n, self.n_inputs, len(self.output_indices)
        nz, nzs = self._id_cfg.n_z, self._im_cfg.n_z
        compiled = self._compiled
        im_rls = compiled and type(cfg.imitator_rule) is RecursiveLeastSquares
        fused = self._fused_law
        if fused and len(law.output_weights) != n:
            raise ParameterError(f"`output_weights` must have one entry per identifier unit ({n}), "
                                 f"got {len(law.output_weights)}.")
        nv = len(law.blocks) * m if fused else 0
        n_law = n if fused else 0
        shapes = dict(W=W.shape, z=(nz,), P=(nz, nz) if compiled else (1, 1), Pz=(nz,), gain=(nz,), Ws=Ws.shape,
                      zs=(nzs,), Ps=(nzs, nzs) if im_rls else (1, 1), Pzs=(nzs,), gains=(nzs,),
                      rm=(p, 2), rm_ad=(p, 2, 2), rm_bd=(p, 2), d=(n,), d_prev=(n,), y=(n,), offset=(n,),
                      u_out=(m,), y_scale=(n,), y_offset=(n,), r_scale=(p,), r_offset=(p,), out_scale=(p,),
                      out_offset=(p,), rate_scale=(p,), rate_offset=(p,), u_scale=(m,), u_offset=(m,),
                      q=(n_law,), rho=(m if fused else 0,), r_n=(p,), u_n=(m,), law_out=(m,), yh=(n_law,),
                      yn=(n_law,), dh=(n_law,), dn=(n_law,), S=(n_law, nv), Sn=(n_law, nv), NA=(nv, nv), Nb=(nv,))
        shapes.update({name: () for name, _ in FIELDS if name not in shapes})
        a = Arena(FIELDS, shapes)
        a["W"], a["Ws"] = W, Ws
        a["rm_ad"], a["rm_bd"] = self._rm_ad, self._rm_bd
        for name in ("y_scale", "y_offset", "r_scale", "r_offset", "out_scale", "out_offset", "rate_scale",
                     "rate_offset", "u_scale", "u_offset"):
            a[name] = getattr(self, "_" + name)
        a["pred_err"] = a["gate_level"] = np.nan
        a["gate_rate"] = cfg.outlier_level_rate
        a["dist_a"] = cfg.disturbance_filter
        ints = {"dmap": (n,), "blocks": (nv // m if fused else 0,)}
        ints.update({name: () for name, _ in INT_FIELDS if name not in ints})
        J = Arena(INT_FIELDS, ints, dtype=np.int64)
        J["dmap"] = self._desired_map
        if compiled:
            rule = cfg.identifier_rule
            a["P"] = rule.initial_covariance * np.eye(nz)
            a["lam"], a["lam_dir"] = rule.forgetting, rule.directional_forgetting
            a["max_trace"] = rule.max_trace if rule.max_trace is not None else nz * rule.initial_covariance
            rule = cfg.imitator_rule
            if im_rls:
                a["Ps"] = rule.initial_covariance * np.eye(nzs)
                a["lam_s"], a["lam_dir_s"] = rule.forgetting, rule.directional_forgetting
                a["max_trace_s"] = rule.max_trace if rule.max_trace is not None else nzs * rule.initial_covariance
            else:
                a["alpha_s"], a["delta_s"], a["tol_s"] = rule.alpha, rule.delta, rule.tol
                J["k_max_s"] = rule.k_max
                J["im_kind"] = 1
            self._rule_states = None
        else:
            # any other rule keeps its own state object and learns through its public update
            self._rule_states = (cfg.identifier_rule.init_state(self._id_cfg, a["W"]),
                                 cfg.imitator_rule.init_state(self._im_cfg, a["Ws"]))
        if fused:
            a["q"] = law.output_weights
            a["rho"] = law.move_penalty + 1e-12
            J["blocks"] = law.blocks
            J["horizon"], J["stride"] = law.horizon, law.stride
        self._arena, self._ints = a, J

    def _learn_imitator(self, d_prev, r, d_next) -> int:
        """Let the imitator learn ``[d_prev; r; 1] -> d_next`` (normalised); return its inner iterations."""
        a = self._arena
        zs, Ws = a["zs"], a["Ws"]
        n, p2 = self._n, self._im_cfg.n_outputs
        zs[:n] = d_prev
        zs[n:-1] = r
        zs[-1] = 1.0
        a["im_updates"] += 1.0
        if self._rule_states is not None:
            return self.config.imitator_rule.update(Ws, zs, d_next[:p2], self._rule_states[1]).iterations
        if self._ints.scalar("im_kind") == 0:
            a["im_bounded"] += rls_kernel(Ws, zs, d_next[:p2], TANH, a["Ps"], a.scalar("lam_s"),
                                          a.scalar("lam_dir_s"), a.scalar("max_trace_s"), a["Pzs"], a["gains"])
            return 1
        return two_d_kernel(Ws, zs, d_next[:p2], TANH, a.scalar("alpha_s"), a.scalar("delta_s"), a.scalar("tol_s"),
                            self._ints.scalar("k_max_s"), a["gains"])

    def _fill_desired(self, d):
        """Fill ``d`` with the imitator state of the reference model's present state."""
        a = self._arena
        fill_desired_kernel(a["rm"], self._out_scale, self._out_offset, self._rate_scale, self._rate_offset, d)

    def _pretrain_imitator(self, rng, half):
        """Let the imitator learn the reference model's response to seeded random set-point steps."""
        steps = int(self.config.imitator_pretrain_steps)
        if steps == 0:
            return
        p = len(self.output_indices)
        cmds = _pretrain_commands(steps, p, 0.9 * half, rng)
        phys = self._ref_norm.denormalize(cmds)
        rm = self._arena["rm"]
        rm[:, 0] = phys[0]
        rm[:, 1] = 0.0
        d_prev = np.zeros(self._n)
        d_next = np.zeros(self._n)
        self._fill_desired(d_prev)
        for k in range(steps):
            second_order_step(rm, self._rm_ad, self._rm_bd, phys[k])
            self._fill_desired(d_next)
            self._learn_imitator(d_prev, cmds[k], d_next)
            d_prev, d_next = d_next, d_prev

    def _restart_reference_model(self, observation):
        """Start the reference model (and the imitator state) at the measured outputs and rates."""
        rm = self._arena["rm"]
        rm[:, 0] = observation[self._out]
        rm[:, 1] = self._measured_rates(observation)
        self._fill_desired(self._arena["d"])

    def _measured_rates(self, observation):
        """Return the measured rate of each controlled output (0 where none is measured)."""
        return np.array([observation[i] if i >= 0 else 0.0 for i in self._rate_idx])

    def _hand_over(self, observation, finite):
        """Hand over from the warm-up to the law: run by every path at step ``n_warmup``.

        Arms the outlier gate (warm-up errors are wild, so it stays off until
        now) and, at the end of a warm-up (not at a trial start), restarts the
        desired response where the plant is, so the law takes over bumplessly.
        """
        self._arena["gate_factor"] = self.config.outlier_gate
        if self._k0 == 0 and finite:
            self._restart_reference_model(observation)

    def start_trial(self, observation, reference) -> None:
        """Start another trial of a repeated task, keeping everything learned.

        Unlike :meth:`reset`, the identifier's and imitator's weights and
        learning states carry over and there is no warm-up: the controller
        acts with its learned model from the first step (trial-to-trial
        learning, see :mod:`neurocontrol.ilc`). The reference model restarts
        from the measured outputs.

        Parameters
        ----------
        observation : array_like, shape (n,)
            The trial's first measurement.
        reference : array_like, shape (p,)
            Its first set-points.
        """
        obs = self._trial_start_observation(observation, reference)
        self._restart_reference_model(obs)
        self._arena["have_z"] = 0.0
        self._k = self._n_warmup
        self._k0 = self._n_warmup

    # ----------------------------------------------------------------- the step
    def _step_impl(self, observation, reference) -> np.ndarray:
        if not self._ready:
            raise ParameterError("call reset(observation, reference) before step().")
        k, n_warmup = self._k, self._n_warmup
        finite = math.isfinite(observation.sum())
        if k == n_warmup:
            self._hand_over(observation, finite)
        adaptive = k >= n_warmup
        self._rate_limit = self._law_rate_limit if adaptive else self._no_rate_limit
        fused = adaptive and finite and self._fused_law
        a = self._arena
        if self._compiled:
            J = self._ints
            adaptive_step_kernel(observation, reference, self._u, a.buffer, a.layout, J.buffer, J.layout, finite,
                                 fused)
        else:
            self._learn_python(observation, reference, finite)
        self._finite = finite
        if fused:
            return a["u_out"].copy()
        if not finite:
            return self._u.copy()          # hold the feedback input on a bad measurement
        if not adaptive:
            base = self.warmup_controller.step(observation, reference) if self.warmup_controller is not None \
                else self._nominal
            return base + self._excitation[k]
        ctx = LawContext(W=a["W"], W_star=a["Ws"], y=a["y"], d=a["d_prev"],
                         r=reference * self._r_scale + self._r_offset, u_prev=self._u * self._u_scale + self._u_offset,
                         desired_map=self._desired_map, offset=a["offset"])
        u = np.empty(self.n_inputs)
        denormalize_kernel(np.asarray(self.config.law.compute(ctx), dtype=np.float64), self._u_scale, self._u_offset,
                           self._u, u)
        return u

    def _learn_python(self, observation, reference, finite):
        """Learn as :func:`adaptive_step_kernel` does, for any rule, through the rules' public ``update``."""
        cfg = self.config
        a = self._arena
        y = a["y"]
        if finite:
            np.multiply(observation, self._y_scale, out=y)
            y += self._y_offset
            np.clip(y, -0.99, 0.99, out=y)
        id_iters = 0
        if a.scalar("have_z") and finite:
            W, z = a["W"], a["z"]
            err = float(np.linalg.norm(y - np.tanh(W @ z)))
            a["pred_err"] = err
            if self._gate_open(err):
                id_iters = cfg.identifier_rule.update(W, z, y, self._rule_states[0]).iterations
                a["id_updates"] += 1.0
            if cfg.disturbance_filter > 0:
                f = cfg.disturbance_filter
                offset = a["offset"]
                offset *= f
                offset += (1 - f) * (np.arctanh(y) - W @ z)
        a["id_iters"] = id_iters
        a["d_prev"] = a["d"]
        second_order_step(a["rm"], self._rm_ad, self._rm_bd, reference)
        self._fill_desired(a["d"])
        a["im_iters"] = self._learn_imitator(a["d_prev"], reference * self._r_scale + self._r_offset, a["d"])

    def _gate_open(self, err: float) -> bool:
        """Return whether the outlier gate lets the identifier learn (as the compiled step); update its level."""
        a = self._arena
        gate = a.scalar("gate_factor")
        if gate <= 0.0:
            return True
        le = math.log(err + 1e-300)
        if math.isnan(a.scalar("gate_level")):
            a["gate_level"] = le
        level = a.scalar("gate_level")
        a["gate_level"] = level + a.scalar("gate_rate") * (le - level)
        return le <= math.log(gate) + level

    def _applied(self, u):
        # the identifier will learn from the input actually applied (no windup of learned weights); the law
        # starts its next move from the feedback part of it
        ff = self._feedforward
        if ff is None:
            self._u[:] = u
        else:
            np.subtract(u, ff, out=self._u)
        a = self._arena
        if self._finite:
            n = self._n
            z = a["z"]
            z[:n] = a["y"]
            z[n:-1] = u * self._u_scale + self._u_offset
            z[-1] = 1.0
        a["have_z"] = 1.0 if self._finite else 0.0
        self._k += 1

    # ----------------------------------------------------------------- state I/O
    def get_state(self) -> dict:
        """Everything that changes during an episode (see :meth:`AbstractController.get_state`)."""
        if not self._ready:
            raise ParameterError("call reset(observation, reference) before get_state(): there is no state yet.")
        a = self._arena
        state = {name: a[name].copy() for name in _STATE_FIELDS}
        state.update(u=self._u.copy(), last_input=self._last_u.copy(), excitation=self._excitation.copy(),
                     nominal=self._nominal.copy())
        state.update({name: getattr(self, "_" + name) for name in _STATE_SCALARS})
        if self._rule_states is not None:
            for prefix, st in zip(("identifier_rule", "imitator_rule"), self._rule_states):
                for key, value in vars(st).items():
                    if key == "config":
                        continue
                    if isinstance(value, np.ndarray):
                        state[f"{prefix}.{key}"] = value.copy()
                    elif isinstance(value, (bool, int, float, np.number)):
                        state[f"{prefix}.{key}"] = value
                    else:
                        raise ParameterError(f"the {prefix.replace('_', ' ')}'s state holds {type(value).__name__} "
                                             f"`{key}`, which get_state cannot save; use RLS or the 2-D rule for "
                                             "checkpoints.")
        return self._with_warmup_state(state)

    def set_state(self, state: dict) -> None:
        """Restore what :meth:`get_state` returned, in place.

        Parameters
        ----------
        state : dict
            A :meth:`get_state` dict of a controller with the same settings.
        """
        if not self._ready:
            raise ParameterError("call reset(observation, reference) once before set_state(), to build the buffers.")
        self._check_state_keys(state)
        for name in _STATE_FIELDS:
            self._arena.load(name, state[name])
        for name in ("u", "last_input", "excitation", "nominal"):
            cur = {"u": self._u, "last_input": self._last_u, "excitation": self._excitation,
                   "nominal": self._nominal}[name]
            new = np.asarray(state[name], dtype=np.float64)
            if new.shape != cur.shape:
                raise ShapeError(f"`state[{name!r}]` must have shape {cur.shape}, got {new.shape}.")
        self._u[:] = state["u"]
        self._last_u = np.array(state["last_input"], dtype=np.float64)
        self._excitation = np.array(state["excitation"], dtype=np.float64)
        self._nominal = np.array(state["nominal"], dtype=np.float64)
        self._finite = bool(state["finite"])
        self._k, self._k0, self._n_warmup = int(state["k"]), int(state["k0"]), int(state["n_warmup"])
        if self._rule_states is not None:
            for prefix, st in zip(("identifier_rule", "imitator_rule"), self._rule_states):
                for key, value in vars(st).items():
                    full = f"{prefix}.{key}"
                    if full not in state:
                        continue
                    if isinstance(value, np.ndarray):
                        value[...] = state[full]
                    else:
                        setattr(st, key, type(value)(state[full]))
        self._restore_warmup_state(state)
