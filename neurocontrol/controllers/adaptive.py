"""Controllers: the abstract interface shared by the adaptive controller and the baselines.

A controller maps the latest measurement and the reference to the next plant
input. The public :meth:`AbstractController.step` validates its arguments,
calls the one private hook :meth:`AbstractController._step_impl` and checks
that the action it returns is finite and within the actuator limits, so no
NaN ever reaches a plant.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from neurocontrol._validation import as_float_array
from neurocontrol.controllers import _kernels
from neurocontrol.controllers.base import AbstractController
from neurocontrol.controllers.laws import AbstractLaw, LawContext, PredictiveLaw
from neurocontrol.exceptions import NonFiniteError, ParameterError, ShapeError
from neurocontrol.nets.rtrn import Normalizer, RTRNConfig
from neurocontrol.nets.rules import AbstractLearningRule, RecursiveLeastSquares, TwoDRule
from neurocontrol.reference import aprbs
from neurocontrol.reference_model import SecondOrderReferenceModel

__all__ = ["AdaptiveController", "AdaptiveControllerConfig"]



# =========================================================================== the adaptive controller

@dataclasses.dataclass(frozen=True, kw_only=True)
class AdaptiveControllerConfig:
    """Settings of :class:`AdaptiveController` (model-free: signal ranges, not plant equations).

    Parameters
    ----------
    observation_low, observation_high : tuple of float, shape (n,)
        User-given range of each measured signal, physical units; mapped
        onto ``(-normalized_range, normalized_range)``. Ranges, not a model.
    normalized_range : float in (0, 0.9], default 0.1
        Half-width of the normalised interval. Small keeps tanh close to
        linear over the signal ranges. This matters: with signals spread over
        +-0.45 the imitator's 150-step free run of a linear second-order
        reference model was off by 0.3 (60 % of the range), with +-0.1 by
        0.003 (3 %), because f^-1 = atanh bends a linear system's map. Learning
        rules' covariances scale with 1/range^2 (defaults are set for 0.1).
    rate_indices : tuple of int, shape (p,)
        For each controlled output, the observation entry holding its rate
        (e.g. climb rate for altitude), or -1 if none is measured. The
        imitator then also learns the desired rate.
    identifier_rule : AbstractLearningRule
        How the identifier learns measured transitions every control step.
        Default: recursive least squares in pre-activation space with
        forgetting 0.998, directional forgetting 0.998 along each new
        regressor, and the covariance trace bounded at 2.5e4 (against
        windup while hovering without excitation: with a bound of 2.5e5 a
        4 m/s^2 gust after 15 s of quiet hover threw the model off in 10 of
        100 seeds, with 2.5e4 in 5). The directional forgetting discounts
        twice as fast along what the data excite, which keeps the model
        tracking while a parameter drifts: rotor drag +30 % over 20 s, seeds
        0-99, recovered 94 without it, 100 with it (98 together with the
        outlier gate's slower level below). The one-sample 2-D rule alone
        fits only the latest transition and forgets the rest (measured on
        the hover task: see the
        closing notes / benchmarks), so it is not the identifier's default.
    imitator_rule : AbstractLearningRule
        How the imitator learns the reference model's transitions every
        control step. Default: the 2-D rule (alpha 1, delta 0.1, inner
        iterations until 0.5 |e|^2 < 1e-12 or 10 iterations), reported per
        step in ``diagnostics()["inner_iterations"]``.
    persistence_prior : bool, default True
        Start the identifier at "the next sample equals this one" around the
        first measurement (exact for any sampled plant as dt -> 0) instead of
        random weights.
    seed_weight_scale : float, default 0.1
        Scale of the seeded random initial weights where no prior is used
        (input and bias columns of the imitator; the identifier without a
        persistence prior).
    reference_bandwidth, reference_damping : tuple of float, shape (p,)
        Second-order reference model per controlled output (rad/s, -).
    imitator_pretrain_steps : int, default 3000
        Steps of reference-model response (under seeded random set-point
        steps across the normalised range) the imitator learns at reset,
        before the run; it then keeps learning online.
    law : AbstractLaw
        The control-law synthesiser.
    warmup_duration : float, default 1.0
        Seconds of identification warm-up (persistent excitation under the
        warm-up controller, or around ``nominal_input``). Counts as run time.
    excitation_amplitude : tuple of float, shape (m,)
        APRBS amplitude per input during warm-up, physical units.
    excitation_min_hold, excitation_max_hold : tuple of int, shape (m,)
        APRBS hold-time range (control steps) per input.
    nominal_input : tuple of float or None
        Input around which open-loop warm-up excites when no warm-up
        controller is given (default: the middle of the limits).
    rate_limit : tuple of float or None
        Largest input change per control step, physical units.
    disturbance_filter : float in [0, 1), default 0.95
        Low-pass coefficient of the identifier's net-input residual, added to
        its predictions as a disturbance estimate (0 disables it). Measured
        on the helicopter with rotor drag +30 % at t = 15 s (seeds 0-19):
        median recovery 1.7 s with 0.95, 9.3 s without (seeds 0-3).
    outlier_gate : float >= 0, default 10.0
        The identifier skips learning a sample whose one-step error exceeds
        ``outlier_gate`` times its running level (a geometric mean updated
        by every sample at rate ``outlier_level_rate``; armed when the warm-up
        ends), so a short fault the
        controller is not told of (a stuck actuator) does not rewrite the
        model, while a lasting plant change opens the gate again after about
        ``ln(ln(jump) / ln(gate)) / rate`` steps. 0 disables the gate.
        Measured (seeds 0-99, collective servo stuck for 2 s during a climb,
        without directional forgetting): recovered 62 without the gate, 76
        with 10; with the level rate 0.005 (the gate holds about 3 s) and the
        directional forgetting: 100 (rate 0.01: 84). A gate of 4 also held
        the stuck servo (97.5 % of 40 seeds) but skipped ordinary samples
        and broke slow parameter drift (75 %).
    outlier_level_rate : float in (0, 1], default 0.005
        Rate of the running error level, per control step. With the gate
        at 10, a jump of the one-step error by a factor J keeps the gate
        shut for about ``ln(ln J / ln 10) / rate`` steps (J = 1e5: 3.2 s at
        0.005).
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
    input_limits : array_like, shape (m, 2)
        Actuator limits, physical units.
    output_indices : sequence of int, length p
        Controlled outputs within the observation.
    dt : float
        Control period, s.
    warmup_controller : AbstractController or None
        Flies the plant during warm-up (excitation is added to its action).

    Notes
    -----
    Per control step (normalised units, ``z = [y; u; 1]``):

    1. identifier learns ``z(t-1) -> y(t)`` (measured);
    2. the reference model advances under ``r(t)``; the imitator learns its
       transition;
    3. warm-up: ``u = baseline + excitation``; afterwards ``u = law(...)``,
       limited in rate and range; the next step learns from the *applied*
       input, so saturation never winds up the learned weights.
    """

    def __init__(self, config: AdaptiveControllerConfig, *, input_limits, output_indices, dt: float,
                 warmup_controller: AbstractController | None = None):
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
        if warmup_controller is not None and not isinstance(warmup_controller, AbstractController):
            raise ParameterError(f"`warmup_controller` must be an AbstractController or None, "
                                 f"got {type(warmup_controller).__name__}.")
        self.warmup_controller = warmup_controller
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
        self._no_rate_limit = np.full(m, np.inf)
        self._rate_limit = self._no_rate_limit if config.rate_limit is None else \
            as_float_array(config.rate_limit, "rate_limit", (m,)).copy()
        if np.any(self._rate_limit <= 0):
            raise ParameterError(f"`rate_limit` must be positive, got {self._rate_limit.tolist()}.")
        self._n = n
        self._ready = False

    # ----------------------------------------------------------------- state views
    @property
    def identifier_weights(self) -> np.ndarray:
        """Identifier weights W, shape (n, n + m + 1), normalised units (read-only view)."""
        v = self._W.view()
        v.setflags(write=False)
        return v

    @property
    def imitator_weights(self) -> np.ndarray:
        """Imitator weights W*, shape (n, n + p + 1), normalised units (read-only view)."""
        v = self._Ws.view()
        v.setflags(write=False)
        return v

    @property
    def step_count(self) -> int:
        return self._k

    @property
    def in_warmup(self) -> bool:
        return self._k < self._n_warmup

    def diagnostics(self) -> dict:
        return {"prediction_error": self._pred_err, "inner_iterations": self._iters,
                "mode": "warmup" if self._k <= self._n_warmup else "adaptive"}

    # ----------------------------------------------------------------- learning (fast paths)
    @staticmethod
    def _learn(rule, W, z, target, state) -> int:
        """One learning update of ``W`` in place; returns the inner iterations.

        RLS, the default, calls its compiled kernel directly: every argument
        here was built and checked by this controller, so the public rule's
        per-call validation (about 20 us) is skipped. Any other rule goes
        through its public ``update``.
        """
        if type(rule) is RecursiveLeastSquares:
            state.n_bounded += _kernels.rls_kernel(W, z, target, _kernels.TANH, state.covariance, rule.forgetting,
                                                   rule.directional_forgetting, state.max_trace, state._Pz,
                                                   state._gain)
            state.n_updates += 1
            return 1
        return rule.update(W, z, target, state).iterations

    # ----------------------------------------------------------------- reference model
    def _refmodel_reset(self, values, rates):
        self._rm[:, 0] = values
        self._rm[:, 1] = rates

    def _refmodel_step(self, r):
        """Exact zero-order-hold step of the second-order reference model per output."""
        v = self._rm[:, 0].copy()
        self._rm[:, 0] = self._rm_ad[:, 0, 0] * v + self._rm_ad[:, 0, 1] * self._rm[:, 1] + self._rm_bd[:, 0] * r
        self._rm[:, 1] = self._rm_ad[:, 1, 0] * v + self._rm_ad[:, 1, 1] * self._rm[:, 1] + self._rm_bd[:, 1] * r

    def _fill_desired(self, d):
        """Imitator state from the reference model: [values | rates | hidden = 0], normalised."""
        p = self._rm.shape[0]
        d[:] = 0.0
        d[:p] = self._rm[:, 0] * self._out_scale + self._out_offset
        d[p:2 * p] = self._rm[:, 1] * self._rate_scale + self._rate_offset
        np.clip(d, -0.99, 0.99, out=d)

    def _learn_imitator(self, d_prev, r, d_next) -> int:
        zs = self._zs
        n = self._n
        zs[:n] = d_prev
        zs[n:-1] = r
        zs[-1] = 1.0
        return self._learn(self.config.imitator_rule, self._Ws, zs, d_next[:self._im_cfg.n_outputs], self._im_state)

    def _pretrain_imitator(self, rng, half):
        """The imitator learns the reference model's response to seeded random set-point steps."""
        steps = int(self.config.imitator_pretrain_steps)
        if steps == 0:
            return
        p = len(self.output_indices)
        cmds = _pretrain_commands(steps, p, 0.9 * half, rng)
        phys = self._ref_norm.denormalize(cmds)
        self._refmodel_reset(phys[0], np.zeros(p))
        d_prev = np.zeros(self._n)
        d_next = np.zeros(self._n)
        self._fill_desired(d_prev)
        for k in range(steps):
            self._refmodel_step(phys[k])
            self._fill_desired(d_next)
            self._learn_imitator(d_prev, cmds[k], d_next)
            d_prev, d_next = d_next, d_prev

    # ----------------------------------------------------------------- episode
    def _reset_impl(self, observation, reference, seed) -> None:
        cfg = self.config
        n, m, p = self._n, self.n_inputs, len(self.output_indices)
        if observation.shape != (n,):
            raise ParameterError(f"`observation` must have shape ({n},) to match `observation_low`, "
                                 f"got {observation.shape}.")
        if not np.all(np.isfinite(observation)):
            raise NonFiniteError(f"the first `observation` must be finite, got {observation.tolist()}.")
        ss = np.random.SeedSequence(seed)
        rng_init, rng_exc, rng_pre = (np.random.default_rng(s) for s in ss.spawn(3))
        half = float(cfg.normalized_range)
        y0 = np.clip(observation * self._y_scale + self._y_offset, -0.99, 0.99)
        # identifier
        if cfg.persistence_prior:
            W = np.zeros(self._id_cfg.weight_shape)
            g = 1.0 / (1.0 - y0 * y0)
            W[np.arange(n), np.arange(n)] = g
            W[:, -1] = np.arctanh(y0) - g * y0
        else:
            W = rng_init.uniform(-1, 1, self._id_cfg.weight_shape) * cfg.seed_weight_scale
        self._W = np.ascontiguousarray(W)
        self._id_state = cfg.identifier_rule.init_state(self._id_cfg, self._W)
        # imitator: seeded small weights, then it learns the reference model's response
        self._Ws = np.ascontiguousarray(rng_init.uniform(-1, 1, self._im_cfg.weight_shape) * cfg.seed_weight_scale)
        self._Ws[self._im_cfg.n_outputs:] = 0.0   # hidden units carry nothing
        self._im_state = cfg.imitator_rule.init_state(self._im_cfg, self._Ws)
        self._z = np.empty(self._id_cfg.n_z)
        self._zs = np.empty(self._im_cfg.n_z)
        self._rm = np.zeros((p, 2))
        self._pretrain_imitator(rng_pre, half)
        self._refmodel_reset(observation[self._out], self._measured_rates(observation))
        self._d = np.zeros(n)
        self._fill_desired(self._d)
        # warm-up excitation
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
        self._u = np.clip(nominal, lim[:, 0], lim[:, 1])
        self._nominal = self._u.copy()
        if self.warmup_controller is not None:
            self.warmup_controller.reset(observation, reference)
        self._have_z = False
        self._finite = True
        self._offset = np.zeros(n)
        # the outlier gate starts closed-off (factor 0) and is armed at the hand-over: warm-up errors are wild
        self._scratch = np.array([0.0, 0.0, 0.0, np.nan, cfg.outlier_level_rate, 0.0])
        self._fast = type(cfg.identifier_rule) is RecursiveLeastSquares and \
            type(cfg.imitator_rule) in (RecursiveLeastSquares, TwoDRule)
        if self._fast:
            rule, st, n_cmp = cfg.imitator_rule, self._im_state, self._im_cfg.n_outputs
            if type(rule) is RecursiveLeastSquares:
                self._im_kernel_args = (st.covariance, rule.forgetting, rule.directional_forgetting, st.max_trace,
                                        st._Pz, st._gain, n_cmp, 0,
                                        np.zeros(4))
            else:
                dummy = np.zeros((1, 1))
                self._im_kernel_args = (dummy, 1.0, 1.0, 0.0, np.zeros(1), np.zeros(n_cmp), n_cmp, 1,
                                        np.array([rule.alpha, rule.delta, rule.tol, float(rule.k_max)]))
        self._k = 0
        self._k0 = 0
        self._pred_err = float("nan")
        self._iters = 0
        self._ctx = LawContext(W=self._W, W_star=self._Ws, y=np.zeros(n), d=np.zeros(n), r=np.zeros(p),
                               u_prev=np.zeros(m), desired_map=self._desired_map, offset=self._offset)
        self._fused = self._fast and type(cfg.law) is PredictiveLaw
        if self._fused:
            self._build_arena()
        self._ready = True

    def _build_arena(self):
        """Move the fast path's state into one flat arena for :func:`_kernels.adaptive_step_kernel`.

        Every buffer (weights, covariances, reference model, law workspace)
        becomes a view of one float64 array, so the fused kernel takes 6
        arguments instead of about 50; the attributes keep pointing at the
        same memory, so the Python path, get_state and set_state see it too.
        """
        cfg, law = self.config, self.config.law
        n, m, p = self._n, self.n_inputs, len(self.output_indices)
        ids, ims = self._id_state, self._im_state
        nv = len(law.blocks) * m
        im_rls = type(cfg.imitator_rule) is RecursiveLeastSquares
        n_cmp = self._im_cfg.n_outputs
        lim = self.input_limits
        par = np.array([0.0, cfg.identifier_rule.forgetting, ids.max_trace,
                        cfg.imitator_rule.forgetting if im_rls else 1.0, ims.max_trace if im_rls else 0.0,
                        n_cmp, 0 if im_rls else 1, cfg.disturbance_filter, 0.0, law.horizon, law.stride,
                        cfg.identifier_rule.directional_forgetting,
                        cfg.imitator_rule.directional_forgetting if im_rls else 1.0])
        im_par = np.zeros(4) if im_rls else np.array([cfg.imitator_rule.alpha, cfg.imitator_rule.delta,
                                                       cfg.imitator_rule.tol, float(cfg.imitator_rule.k_max)])
        fields = dict(
            W=self._W, z=self._z, P=ids.covariance, Pz=ids._Pz, gain=ids._gain, Ws=self._Ws, zs=self._zs,
            Ps=ims.covariance if im_rls else np.zeros((1, 1)), Pzs=ims._Pz if im_rls else np.zeros(1),
            gains=ims._gain if im_rls else np.zeros(n_cmp), im_par=im_par,
            y_scale=self._y_scale, y_offset=self._y_offset, r_scale=self._r_scale, r_offset=self._r_offset,
            rm=self._rm, rm_ad=self._rm_ad, rm_bd=self._rm_bd, hv=np.zeros(p), hr=np.zeros(p),
            out_scale=self._out_scale, out_offset=self._out_offset, rate_scale=self._rate_scale,
            rate_offset=self._rate_offset, d=self._d, d_prev=self._ctx.d, offset=self._offset,
            scratch=self._scratch, y=self._ctx.y, u_scale=self._u_scale, u_offset=self._u_offset, u_law=self._u,
            lo=lim[:, 0], hi=lim[:, 1], rate_limit=self._rate_limit, u_out=np.zeros(m),
            q=np.array(law.output_weights), rho=np.full(m, law.move_penalty + 1e-12),
            yh=np.zeros(n), yn=np.zeros(n), dh=np.zeros(n), dn=np.zeros(n), S=np.zeros((n, nv)),
            Sn=np.zeros((n, nv)), A=np.zeros((nv, nv)), b=np.zeros(nv), r_n=np.zeros(p), u_n=np.zeros(m),
            law_out=np.zeros(m), par=par)
        if len(law.output_weights) != n:
            raise ParameterError(f"`output_weights` must have one entry per identifier unit ({n}), "
                                 f"got {len(law.output_weights)}.")
        sizes = [np.asarray(fields[name]).size for name in _kernels.ARENA_FIELDS]
        arena = np.zeros(int(np.sum(sizes)))
        layout = np.zeros(4 * len(sizes), dtype=np.int64)
        views = {}
        o = 0
        for k, name in enumerate(_kernels.ARENA_FIELDS):
            src = np.asarray(fields[name], dtype=np.float64)
            layout[4 * k] = o
            layout[4 * k + 1:4 * k + 1 + src.ndim] = src.shape
            v = arena[o:o + src.size].reshape(src.shape)
            v[...] = src
            views[name] = v
            o += src.size
        self._arena, self._layout, self._av = arena, layout, views
        self._arena_shapes = tuple(np.asarray(fields[name]).shape for name in _kernels.ARENA_FIELDS)
        ints = [self._desired_map, np.array(law.blocks, dtype=np.int64)]
        self._iarena = np.concatenate(ints).astype(np.int64)
        self._ilayout = np.array([0, ints[0].size, 0, 0, ints[0].size, ints[1].size, 0, 0], dtype=np.int64)
        self._relink_arena()

    def _relink_arena(self):
        """Point every state attribute at its view of the arena (after building, copying or unpickling)."""
        views = {}
        for k, (name, shape) in enumerate(zip(_kernels.ARENA_FIELDS, self._arena_shapes)):
            o = int(self._layout[4 * k])
            views[name] = self._arena[o:o + int(np.prod(shape))].reshape(shape)
        self._av = views
        ids, ims = self._id_state, self._im_state
        self._W, self._z, self._Ws, self._zs = views["W"], views["z"], views["Ws"], views["zs"]
        ids.covariance, ids._Pz, ids._gain = views["P"], views["Pz"], views["gain"]
        if type(self.config.imitator_rule) is RecursiveLeastSquares:
            ims.covariance, ims._Pz, ims._gain = views["Ps"], views["Pzs"], views["gains"]
            self._im_kernel_args = (views["Ps"], *self._im_kernel_args[1:3], ims.max_trace, views["Pzs"],
                                    views["gains"]) + self._im_kernel_args[6:]
        else:
            self._im_kernel_args = self._im_kernel_args[:5] + (views["gains"],) + self._im_kernel_args[6:]
        self._rm, self._d, self._offset, self._scratch = views["rm"], views["d"], views["offset"], views["scratch"]
        self._u = views["u_law"]
        p, m = len(self.output_indices), self.n_inputs
        self._ctx = LawContext(W=self._W, W_star=self._Ws, y=views["y"], d=views["d_prev"], r=np.zeros(p),
                               u_prev=np.zeros(m), desired_map=self._desired_map, offset=self._offset)

    def __setstate__(self, state):
        # copy.deepcopy and pickle copy every view of the arena into an unrelated array: point them back
        self.__dict__.update(state)
        if state.get("_ready") and state.get("_fused"):
            self._relink_arena()

    def _step_fused(self, observation, reference) -> np.ndarray:
        """Learning, law and limits in one compiled call (after the warm-up, RLS identifier, predictive law)."""
        av = self._av
        par = av["par"]
        par[0] = 1.0 if self._have_z else 0.0
        handover = self._k == self._n_warmup and self._k0 == 0
        par[8] = 1.0 if handover else 0.0
        if self._k == self._n_warmup:
            self._scratch[2] = self.config.outlier_gate
        if handover:
            av["hv"][:] = observation[self._out]
            av["hr"][:] = self._measured_rates(observation)
        err = _kernels.adaptive_step_kernel(observation, reference, self._arena, self._layout, self._iarena,
                                            self._ilayout)
        self._count_updates(err)
        u = av["u_out"].copy()
        self._u[:] = u
        self._finite = True
        return u

    # ----------------------------------------------------------------- state I/O
    _STATE_ARRAYS = ("_W", "_Ws", "_rm", "_d", "_z", "_zs", "_offset", "_u", "_excitation", "_nominal", "_scratch")
    _STATE_SCALARS = ("_have_z", "_k", "_k0", "_pred_err", "_iters", "_n_warmup", "_finite")

    def get_state(self) -> dict:
        if not self._ready:
            raise ParameterError("call reset(observation, reference) before get_state(): there is no state yet.")
        state = {name[1:]: getattr(self, name).copy() for name in self._STATE_ARRAYS}
        state.update({name[1:]: getattr(self, name) for name in self._STATE_SCALARS})
        state["y"] = self._ctx.y.copy()
        for prefix, st in (("identifier_rule", self._id_state), ("imitator_rule", self._im_state)):
            for key, value in vars(st).items():
                if key == "config":
                    continue
                if isinstance(value, np.ndarray):
                    state[f"{prefix}.{key}"] = value.copy()
                elif isinstance(value, (bool, int, float, np.number)):
                    state[f"{prefix}.{key}"] = value
                else:
                    raise ParameterError(f"the state of {type(self.config.identifier_rule if prefix[1] == 'd' else self.config.imitator_rule).__name__} "
                                         f"holds {type(value).__name__} `{key}`, which get_state cannot save; use RLS or "
                                         "the 2-D rule for checkpoints.")
        if self.warmup_controller is not None:
            state.update({f"warmup.{k}": v for k, v in self.warmup_controller.get_state().items()})
        return state

    def set_state(self, state: dict) -> None:
        if not self._ready:
            raise ParameterError("call reset(observation, reference) once before set_state(), to build the buffers.")
        expected = set(self.get_state())
        got = set(state)
        if got != expected:
            raise ParameterError(f"`state` does not fit this controller: missing {sorted(expected - got)}, "
                                 f"unexpected {sorted(got - expected)}; was it saved from a controller with "
                                 "other settings?")
        for name in self._STATE_ARRAYS:
            cur = getattr(self, name)
            new = np.asarray(state[name[1:]], dtype=np.float64)
            if new.shape != cur.shape:
                raise ShapeError(f"`state[{name[1:]!r}]` must have shape {cur.shape}, got {new.shape}.")
            if name in ("_excitation", "_nominal"):
                setattr(self, name, new.copy())
            else:
                cur[...] = new          # in place: the law context and the kernels hold these buffers
        self._have_z = bool(state["have_z"])
        self._finite = bool(state["finite"])
        self._k, self._k0, self._n_warmup = int(state["k"]), int(state["k0"]), int(state["n_warmup"])
        self._iters = int(state["iters"])
        self._pred_err = float(state["pred_err"])
        self._ctx.y[:] = state["y"]
        for prefix, st in (("identifier_rule", self._id_state), ("imitator_rule", self._im_state)):
            for key, value in vars(st).items():
                full = f"{prefix}.{key}"
                if full not in state:
                    continue
                if isinstance(value, np.ndarray):
                    value[...] = state[full]
                else:
                    setattr(st, key, type(value)(state[full]))
        if self.warmup_controller is not None:
            self.warmup_controller.set_state({k[7:]: v for k, v in state.items() if k.startswith("warmup.")})

    def start_trial(self, observation, reference) -> None:
        """Start another trial of a repeated task, keeping everything learned.

        Unlike :meth:`reset`, the identifier's and imitator's weights and
        learning states carry over and there is no warm-up: the controller
        acts with its learned model from the first step (trial-to-trial
        learning, see :mod:`neurocontrol.ilc`). The reference model restarts
        from the measured outputs.
        """
        if not self._ready:
            raise ParameterError("call reset(observation, reference) once before start_trial().")
        obs = as_float_array(observation, "observation", (self._n,))
        as_float_array(reference, "reference", (len(self.output_indices),))
        self._refmodel_reset(obs[self._out], self._measured_rates(obs))
        self._fill_desired(self._d)
        self._have_z = False
        self._k = self._n_warmup
        self._k0 = self._n_warmup

    def _measured_rates(self, observation):
        return np.array([observation[i] if i >= 0 else 0.0 for i in self._rate_idx])

    def _learn_python(self, observation, reference, finite):
        """Steps 1-2 with the rules' public updates (any rule; the reference for the compiled path)."""
        cfg = self.config
        ctx = self._ctx
        y = ctx.y
        if finite:
            np.multiply(observation, self._y_scale, out=y)
            y += self._y_offset
            np.clip(y, -0.99, 0.99, out=y)
        # 1. the identifier learns the measured transition z(t-1) -> y(t)
        if self._k == self._n_warmup:
            self._scratch[2] = cfg.outlier_gate
        if self._have_z and finite:
            self._pred_err = float(np.linalg.norm(y - np.tanh(self._W @ self._z)))
            learn = self._gate_open(self._pred_err)
            self._scratch[5] = 1.0 if learn else 0.0
            if learn:
                self._iters = self._learn(cfg.identifier_rule, self._W, self._z, y, self._id_state)
            if cfg.disturbance_filter > 0:
                a = cfg.disturbance_filter
                self._offset *= a
                self._offset += (1 - a) * (np.arctanh(y) - self._W @ self._z)
        # 2. the reference model advances under r(t); the imitator learns its transition
        r = reference * self._r_scale + self._r_offset
        if self._k == self._n_warmup and self._k0 == 0 and finite:
            # bumpless hand-over: the desired response starts where the plant is
            self._refmodel_reset(observation[self._out], self._measured_rates(observation))
            self._fill_desired(self._d)
        ctx.d[:] = self._d
        self._refmodel_step(reference)
        self._fill_desired(self._d)
        self._iters += self._learn_imitator(ctx.d, r, self._d)

    def _gate_open(self, err: float) -> bool:
        """The identifier's outlier gate (same arithmetic as the compiled kernel); updates the error level."""
        sc = self._scratch
        if sc[2] <= 0.0:
            return True
        le = math.log(err + 1e-300)
        if math.isnan(sc[3]):
            sc[3] = le
        open_ = le <= math.log(sc[2]) + sc[3]
        sc[3] += sc[4] * (le - sc[3])
        return open_

    def _learn_compiled(self, observation, reference):
        """Steps 1-2 in one compiled call (both rules RLS): same arithmetic as :meth:`_learn_python`."""
        cfg = self.config
        ctx = self._ctx
        handover = self._k == self._n_warmup and self._k0 == 0
        if self._k == self._n_warmup:
            self._scratch[2] = cfg.outlier_gate
        if handover:
            hv, hr = observation[self._out].copy(), self._measured_rates(observation)
        else:
            hv = hr = self._rm[:, 0]
        ids = self._id_state
        err = _kernels.adaptive_learn_kernel(
            observation, reference, ctx.y, self._W, self._z, self._have_z, ids.covariance,
            cfg.identifier_rule.forgetting, cfg.identifier_rule.directional_forgetting, ids.max_trace, ids._Pz,
            ids._gain,
            self._Ws, self._zs, *self._im_kernel_args, self._y_scale, self._y_offset, self._r_scale, self._r_offset,
            self._rm, self._rm_ad, self._rm_bd, handover, hv, hr,
            self._out_scale, self._out_offset, self._rate_scale, self._rate_offset,
            self._d, ctx.d, cfg.disturbance_filter, self._offset, self._scratch)
        self._count_updates(err)

    def _count_updates(self, err):
        """Bookkeeping after a compiled learning step (imitator always, identifier unless gated)."""
        self._im_state.n_updates += 1
        self._iters = int(self._scratch[1])
        if self._have_z:
            self._pred_err = err
            if self._scratch[5]:
                self._id_state.n_updates += 1
                self._iters += 1

    def _step_impl(self, observation, reference) -> np.ndarray:
        if not self._ready:
            raise ParameterError("call reset(observation, reference) before step().")
        cfg = self.config
        lim = self.input_limits
        finite = math.isfinite(observation.sum())
        ctx = self._ctx
        if finite and self._fused and self._k >= self._n_warmup:
            return self._step_fused(observation, reference)
        self._iters = 0
        if finite and self._fast:
            self._learn_compiled(observation, reference)
        else:
            self._learn_python(observation, reference, finite)
        r = reference * self._r_scale + self._r_offset
        # 3. the next input
        u = np.empty(self.n_inputs)
        if not finite:
            u[:] = self._u              # hold the last input on a bad measurement
        elif self._k < self._n_warmup:
            base = self.warmup_controller.step(observation, reference) if self.warmup_controller is not None \
                else self._nominal
            _kernels.limit_input_kernel(base + self._excitation[self._k], False, self._u_scale, self._u_offset,
                                        self._u, self._no_rate_limit, lim[:, 0], lim[:, 1], u)
        else:
            ctx.r[:] = r
            np.multiply(self._u, self._u_scale, out=ctx.u_prev)
            ctx.u_prev += self._u_offset
            _kernels.limit_input_kernel(cfg.law.compute(ctx), True, self._u_scale, self._u_offset, self._u,
                                        self._rate_limit, lim[:, 0], lim[:, 1], u)
        self._u[:] = u
        self._finite = finite
        return u

    def _applied(self, u):
        # 4. the identifier will learn from the input actually applied (no windup of learned weights)
        if self._finite:
            n = self._n
            self._z[:n] = self._ctx.y
            self._z[n:-1] = u * self._u_scale + self._u_offset
            self._z[-1] = 1.0
        self._have_z = self._finite
        self._k += 1


