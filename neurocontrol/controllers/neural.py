"""The neural predictive controller: an incremental RTRN identifier learning online and a Gauss-Newton synthesiser.

The identifier is :class:`~neurocontrol.nets.ekf.IncrementalIdentifier` (``y(t+1) = y(t) + A z(t) + V h(t+1)``,
``h(t+1) = tanh(W [h(t); z(t)])``), trained at every control step by the node-decoupled EKF over exact RTRL
sensitivities. The desired response comes from the imitator (:class:`~neurocontrol.controllers.imitator.Imitator`),
a second network of the identifier's structure and rule that learns the reference model; its free run under the
(previewed) reference is the desired trajectory (``imitator = "exact"``: the reference model's exact response).
The synthesiser (:class:`GaussNewtonLaw`, :func:`gauss_newton_step`) takes one damped Gauss-Newton step on the
tracking cost over a horizon, through the identifier's free run and its Jacobian with respect to move-blocked
inputs. Every scale comes from the declared observation ranges and the input limits.

Against sensor noise, the identifier's regressor and the synthesiser's
starting point are a blend of the measurement and the identifier's own
one-step prediction, with a gain per signal from the ratio of the
sensor-noise variance (estimated without a model, from second differences of
the measurements) to the innovation variance
(:class:`~neurocontrol.controllers.measurement_filter.MeasurementFilter`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from neurocontrol import registry
from neurocontrol._validation import (
    as_float_array,
    as_seed_sequence,
    check_indices,
    env_dt,
    env_input_limits,
)
from neurocontrol.controllers import _neural_kernels as _nk
from neurocontrol.controllers._identify import identified_trim
from neurocontrol.controllers._kernels import fill_preview_kernel, finite_sum_kernel
from neurocontrol.controllers._long_run import (
    LONG_RUN_HORIZON_CAP,
    auto_rate_lags,
    long_run_signals,
    warmup_feedforward_gain,
    zero_within_dynamics,
)
from neurocontrol.controllers._neural_settings import NeuralSettings
from neurocontrol.controllers._neural_state import NeuralStateIO
from neurocontrol.controllers._noise import ONSET_COOLDOWN, ONSET_COUNT, ONSET_SIGNALS, WALK_QUIET, SensorNoise
from neurocontrol.controllers._output_lags import OutputLags
from neurocontrol.controllers._plausible import GLITCH_RANGES, lost_sample, plausible_bounds
from neurocontrol.controllers._probe import PROBE_DEFAULT, Probe
from neurocontrol.controllers._reidentify import Reidentification
from neurocontrol.controllers._tracking import Tracking
from neurocontrol.controllers._warmup import WarmupHandover, unchecked_reason
from neurocontrol.controllers.base import AbstractController
from neurocontrol.controllers.gauss_newton import GaussNewtonLaw, gauss_newton_step
from neurocontrol.controllers.generic import (
    automatic_warmup,
    declared_input,
    gain_sign_steps,
    model_trim,
)
from neurocontrol.controllers.identified_warmup import IdentifiedLQRI
from neurocontrol.controllers.imitator import Imitator, reference_model_step, response_matrices
from neurocontrol.controllers.measurement_filter import MeasurementFilter
from neurocontrol.controllers.neural_config import NeuralControllerConfig, check_controller_memory, fit_default
from neurocontrol.exceptions import NonFiniteError, ParameterError, ShapeError
from neurocontrol.nets.ekf import IncrementalIdentifier
from neurocontrol.nets.incremental import IncrementalConfig, split_weights
from neurocontrol.reference_model import SecondOrderReferenceModel

__all__ = ["AUTO_RATE_LAGS", "GLITCH_RANGES", "LONG_RUN_HORIZON_CAP", "auto_rate_lags", "GaussNewtonLaw",
           "gauss_newton_step", "NeuralControllerConfig", "NeuralController", "build_neural"]


#: Steps of rates the networks see by default when the plant measures only its controlled outputs
#: (``lag_signals`` None and ``output_lags`` 0; docs/neural_controller.md, "Rate lags").
AUTO_RATE_LAGS = 2

#: The default ``rest_walk`` where the probe is on: the bias variance per update at rest, times the EKF's R floor.
REST_WALK_DEFAULT = 3.0

#: The default ``start_caution`` where a short warm-up starts from the middle of the limits: horizons of steps.
START_CAUTION_DEFAULT = 2.0


# ---------------------------------------------------------------- the controller


class NeuralController(OutputLags, Tracking, SensorNoise, NeuralStateIO, NeuralSettings, WarmupHandover,
                       AbstractController):
    """Predictive control through an incremental RTRN identifier that learns at every step.

    Parameters
    ----------
    config : NeuralControllerConfig
        The settings (``observation_low``/``observation_high`` must be given here).
    input_limits : array_like, shape (m, 2)
        Actuator limits, physical units.
    dt : float
        Control period, s.
    warmup_controller : AbstractController or None
        Flies the plant during warm-up (APRBS excitation is added to its input).
    preview : callable or None
        ``preview(timepts) -> (T, p)``: the reference as a function of run time (e.g. a scenario's
        :class:`~neurocontrol.reference.MultiSignal`); also settable with :meth:`set_preview`. None: the present
        reference is held over the horizon.
    state_filter : bool, default True
        Blend each measurement with the identifier's one-step prediction for the identifier's regressor and the
        synthesiser's start (:class:`~neurocontrol.controllers.measurement_filter.MeasurementFilter`); False: raw.
    warmup_check, warmup_max_duration : float or None, float or None
        0: the warm-up ends after ``warmup_duration``; above 0 it goes on until the identifier predicts it
        (:mod:`~neurocontrol.controllers._warmup`), at most ``warmup_max_duration`` s (None: 5 times). None
        (default): the config's keys (0 and 5 times when unset).
    warmup_feedforward : array_like, shape (m, p), optional
        An open-loop warm-up's (no warm-up controller) input moves per unit of reference move, physical units: its
        nominal input is ``nominal_input + warmup_feedforward (r - r(0))`` within the limits, ``r(0)`` the reference at
        reset (:func:`build_neural` gives the model's steady-state inverse; config key ``warmup_feedforward``).

    Notes
    -----
    Per control step k (time ``k dt``), normalised units:

    1. the identifier learns the transition ``(x(k-1), u(k-1)) -> y(k)`` (RTRL + decoupled EKF) and its hidden
       state advances to ``h(k)``; ``x(k) = p + K (y(k) - p)`` is the measurement blended with the identifier's
       prediction ``p`` of it (K = 1 during the warm-up and without noise;
       :class:`~neurocontrol.controllers.measurement_filter.MeasurementFilter`);
    2. warm-up: ``u = baseline + APRBS``; afterwards
    3. the desired trajectory ``d(k+1..k+N)`` is the imitator network's
       free run from the reference model's present state under the
       previewed (or held) reference (the imitator learned the reference
       model's transition of step k-1 at the end of the last step);
    4. from the held plan ``v = u(k-1)`` and ``x(k)`` the identifier free-runs N steps
       with the Jacobian to the block inputs, and one damped Gauss-Newton
       step (:func:`gauss_newton_step`) gives the new plan; it is clipped to
       the limits and rates, and its first block is proposed.

    **Two networks** of the same structure and rule: the imitator learns the reference model (``imitator =
    "exact"``: its exact response, an ablation). A lost sample (a non-finite measurement, or a glitch: an entry
    beyond :data:`GLITCH_RANGES` half ranges of its declared range) holds the last applied input and skips that
    transition's learning (with ``output_lags``, also the next L steps'). **Sensor noise**: the blended state
    ``x`` carries ``K`` times the noise in place of all of it, which shrinks the errors-in-variables bias of the
    equation-error identifier, and the EKF's R grows with the estimated noise (``noise_scaled_r``; the covariance of
    the updates made before, at R's floor, is scaled with it; docs/neural_controller.md). **Warm-up**:
    ``round(warmup_duration / dt)`` steps, at least ``warmup_min_steps`` when positive; with 0 the first step is
    predictive from ``nominal_input``.
    """

    _handles_nonfinite = True
    #: The identifier's outcomes after which its one-step error is this step's.
    _SEEN = ("updated", "dead_zone", "outlier", "frozen", "onset", "held")

    def __init__(self, config: NeuralControllerConfig, *, input_limits, dt: float,
                 warmup_controller: AbstractController | None = None, preview: Callable | None = None,
                 state_filter: bool = True, warmup_check: float | None = None,
                 warmup_max_duration: float | None = None, warmup_feedforward=None):  # noqa: D107
        if not isinstance(config, NeuralControllerConfig):
            raise ParameterError(f"`config` must be a NeuralControllerConfig, got {type(config).__name__}.")
        super().__init__(input_limits=input_limits, output_indices=config.output_indices, dt=dt)
        if config.observation_low is None:
            raise ParameterError("`observation_low` and `observation_high` must be given to NeuralController "
                                 "(build_neural fills them from the env's observation space).")
        self.config = config
        if not isinstance(state_filter, (bool, np.bool_)):
            raise ParameterError(f"`state_filter` must be True or False, got {state_filter!r}.")
        self.state_filter = bool(state_filter)
        lo = np.asarray(config.observation_low, dtype=np.float64)
        hi = np.asarray(config.observation_high, dtype=np.float64)
        n, m, p = lo.shape[0], self.n_inputs, len(self.output_indices)
        self._n_obs = n                           # the env's observation; the networks' signals add the lags
        self._plausible = plausible_bounds(lo, hi)     # beyond them a value is a glitch (GLITCH_RANGES)
        if any(not 0 <= i < n for i in self.output_indices):
            raise ParameterError(f"`output_indices` must lie in [0, {n}), got {self.output_indices}.")
        self._rate_idx = check_indices(config.rate_indices or (-1,) * p, "rate_indices", p, -1, n)
        out = list(self.output_indices)
        n_lags, kind = config.output_lags, config.lag_signals
        self._lags_auto = auto_rate_lags(config, n)
        if self._lags_auto:     # the plant measures only the controlled outputs: give the networks their rates
            n_lags, kind = AUTO_RATE_LAGS, "rates"
        self._lag_rates = kind == "rates"
        if self._lag_rates:     # every measured signal's rate, +- its half range times a bandwidth
            self._lag_idx = np.arange(n, dtype=np.int64)
            if config.lag_bandwidth is not None:
                bw = np.full(n, float(config.lag_bandwidth))
            else:                # the reference model's: the output's own, the slowest for the other signals
                bw = np.full(n, min(config.reference_bandwidth))
                bw[out] = config.reference_bandwidth
            span = 0.5 * (hi - lo) * bw
            lag_lo, lag_hi = -span, span
        else:                   # the controlled outputs' past values, with their ranges
            if config.lag_bandwidth is not None:
                raise ParameterError("`lag_bandwidth` normalises rate lags, and this controller's networks see none "
                                     "(the plant measures more than its controlled outputs, or `lag_signals` is "
                                     "\"values\"): give `output_lags` >= 1 with `lag_signals = \"rates\"`, or drop "
                                     "`lag_bandwidth`.")
            self._lag_idx = np.array(out, dtype=np.int64)
            lag_lo, lag_hi = lo[out], hi[out]
        law, self._rule, self._taps = config.law(), config.rule(), config.input_taps
        self.law = law
        # a named error before any array is sized by these settings, not a failed allocation
        check_controller_memory(config, law, n + n_lags * len(self._lag_idx), m * self._taps, self._rule, m)
        lo, hi = np.concatenate([lo, np.tile(lag_lo, n_lags)]), np.concatenate([hi, np.tile(lag_hi, n_lags)])
        n = self._n_sig = lo.shape[0]
        self._lags = np.empty((n_lags, len(self._lag_idx)))   # rows: the lagged signals at t-1, ..., t-L
        self._id_cfg = IncrementalConfig(n_outputs=n, n_inputs=m * self._taps, n_hidden=config.hidden_units,
                                         output_range=np.vstack([lo, hi]),
                                         input_range=np.tile(self.input_limits.T, (1, self._taps)),
                                         filter_time_constants=config.filter_time_constants())
        self._noise_r = float(config.noise_scaled_r) if config.learning_rule != "rtrl_gradient" else 0.0
        self._R0 = self._rule.noise_vector(self._id_cfg)   # checks R's shape; the floor of the noise-scaled R
        walk = float(config.disturbance_walk) if config.learning_rule != "rtrl_gradient" else 0.0
        given = config.walk_signals     # observation entries (check_indices names a bad one)
        if given is not None and np.size(given):
            given = check_indices(given, "walk_signals", np.size(given), 0, self._n_obs)
        where = [i for i in self._rate_idx if i >= 0] if given is None else given
        rows = np.unique(where).astype(np.intp) if walk > 0 else np.zeros(0, np.intp)
        self._walk_rows, self._walk_q = rows, walk * self._R0[rows]
        self._quiet = WALK_QUIET * self._R0       # per signal: noise variance below which it counts as noise-free
        self._walk_quiet = self._quiet[rows]
        self._onset_hold = config.onset_hold if config.learning_rule != "rtrl_gradient" and \
            config.change_gate is not None and self._n_obs >= ONSET_SIGNALS else 0
        self._set_tracking(law, n_lags)
        lim = self.input_limits
        self._u_mid, self._u_half = 0.5 * (lim[:, 0] + lim[:, 1]), 0.5 * (lim[:, 1] - lim[:, 0])
        if config.rate_limit is None:
            self._law_rate = np.full(m, np.inf)
        else:
            self._law_rate = as_float_array(config.rate_limit, "rate_limit", (m,))
            if np.any(self._law_rate <= 0):
                raise ParameterError(f"`rate_limit` must be positive per input, got {self._law_rate.tolist()}.")
        self._rate_n = self._law_rate / self._u_half
        fitted = {name: fit_default(config, name, m) for name in ("excitation_min_hold", "excitation_max_hold")}
        if any(fitted[name] != tuple(getattr(config, name)) for name in fitted):     # the two-input defaults
            config = self.config = dataclasses.replace(config, **fitted)
        for name in ("excitation_min_hold", "excitation_max_hold"):
            if len(getattr(config, name)) != m:
                raise ParameterError(f"`{name}` must have one entry per input ({m}), got {getattr(config, name)!r}.")
        amp = 0.2 * self._u_half if config.excitation_amplitude is None else \
            as_float_array(config.excitation_amplitude, "excitation_amplitude", (m,))
        self._amp = amp
        self._nominal0 = self._u_mid.copy() if config.nominal_input is None else \
            as_float_array(config.nominal_input, "nominal_input", (m,))
        self.warmup_controller = warmup_controller
        self._ff_gain = None if warmup_feedforward is None else \
            as_float_array(warmup_feedforward, "warmup_feedforward", (m, p))
        self._preview = None
        self._use_preview = False
        self._preview_cache, self._preview_k0 = np.empty((0, 0)), 0
        if preview is not None:
            self.set_preview(preview)
        self._prepare_reference_model(p)
        self._imitator = None
        if config.imitator == "network":
            out = list(self.output_indices)
            # no rate sensor: the rate range is +- the output's half range times its reference bandwidth
            span = 0.5 * (hi[out] - lo[out]) * np.asarray(config.reference_bandwidth)
            rate_lo = np.array([lo[j] if j >= 0 else -span[i] for i, j in enumerate(self._rate_idx)])
            rate_hi = np.array([hi[j] if j >= 0 else span[i] for i, j in enumerate(self._rate_idx)])
            slow = min(config.reference_bandwidth)
            self._imitator = Imitator(self._rm_ad, self._rm_bd, np.vstack([lo[out], hi[out]]),
                                      np.vstack([rate_lo, rate_hi]), n_hidden=config.hidden_units, rule=self._rule,
                                      hold_steps=(max(1, round(1.0 / (slow * dt))), max(1, round(6.0 / (slow * dt)))),
                                      pretrain=config.imitator_pretrain)
        self._block_of = law.block_of()
        self._eval = law.eval_steps()
        self._out_idx = np.array(self.output_indices, dtype=np.int64)     # hot-path constants, checked here once
        # each reference model's low-frequency delay 2 zeta / omega (s): the default preview lead
        self._delay_s = 2.0 * np.asarray(config.reference_damping) / np.asarray(config.reference_bandwidth)
        lead_s = self._delay_s if config.preview_lead is None else np.asarray(config.preview_lead, dtype=np.float64)
        self._lead = [int(round(t / dt)) for t in lead_s]
        self._lead_a = np.array(self._lead, dtype=np.int64)
        self._lead_max = max(self._lead)
        self._preview_steps = np.arange(2 * law.horizon + self._lead_max)
        self._r_shape = (law.horizon, p)
        self._r_buf = np.empty(self._r_shape)
        self._no_preview = np.zeros(self._r_shape)
        # the step's scalars; while the identifier's change detector is on, the move penalty times change_caution
        self._gn_scalars, self._gn_caution = ((float(law.move_penalty * f), float(law.damping),
                                               float(law.range_weight), float(law.range_bound))
                                              for f in (1.0, law.change_caution))
        # a positive warm-up lasts at least warmup_min_steps (one step of a slow plant shows one excitation level)
        self._warmup_steps = max(int(round(config.warmup_duration / dt)),
                                 config.warmup_min_steps * (config.warmup_duration > 0))
        # probing a steady offset: by default only where the warm-up is too short to show the inputs' effect
        effect = float(config.probe) if config.probe is not None else \
            PROBE_DEFAULT if self._warmup_steps < law.horizon else 0.0
        self._probe = Probe(effect, m, p, law.horizon) if effect > 0.0 else None
        # caution at the start: by default only where a warm-up too short to show the inputs' effect starts from
        # the middle of the limits, an input nothing says holds the plant (no warm-up controller, no nominal input)
        start = float(config.start_caution) if config.start_caution is not None else \
            START_CAUTION_DEFAULT * (self._warmup_steps < law.horizon and warmup_controller is None
                                     and config.nominal_input is None)
        self._start_caution = int(round(start * law.horizon))
        # a bias walk at rest on the controlled outputs without a declared rate (the probe's window tells rest)
        rest = float(REST_WALK_DEFAULT * (self._probe is not None) if config.rest_walk is None else config.rest_walk)
        rows = [j for j, i in zip(self.output_indices, self._rate_idx)     # the gradient rule: no covariance
                if i < 0 and j not in self._walk_rows and config.learning_rule != "rtrl_gradient"]
        if rest > 0.0 and config.rest_walk is not None and (self._probe is None or not rows):
            why = "the probe's error window: set `probe` > 0 (e.g. 3e-3)" if self._probe is None else \
                "the EKF rule and a controlled output without a declared rate that `walk_signals` does not walk"
            raise ParameterError(f"`rest_walk` ({rest:g}) needs {why}; or set `rest_walk = 0`.")
        self._rest_rows = np.asarray(rows if rest > 0.0 else [], np.intp)
        self._rest, self._rest_q = rest, rest * self._R0[self._rest_rows]
        self._handover, self._replay = int(config.handover_steps or 0), int(config.warmup_replay or 0)
        # an open-loop warm-up flown by LQR-I on a model fitted to its own transitions (identified_warmup)
        self._stabiliser = None
        if config.identified_warmup and warmup_controller is None and self._warmup_steps > 0:
            self._stabiliser = IdentifiedLQRI(
                input_limits=self.input_limits, output_indices=self.output_indices, dt=dt,
                observation_low=config.observation_low, observation_high=config.observation_high,
                nominal_input=self._nominal0,
                lags=1 if any(r >= 0 for r in self._rate_idx) else 3, slow_s=self._warmup_steps * dt,
                output_weight=config.auto_warmup_weight)
            if config.handover_steps is None:
                self._handover = law.horizon // 2
        self._set_warmup_check((config.warmup_check or 0.0) if warmup_check is None else warmup_check,
                               config.warmup_max_duration if warmup_max_duration is None else warmup_max_duration)
        reid_mode = "open_loop" if config.change_reidentify == "open_loop" else "gains"
        if config.change_reidentify and reid_mode == "open_loop" and (
                warmup_controller is not None or self._stabiliser is not None or self._warmup_steps == 0):
            raise ParameterError("`change_reidentify = \"open_loop\"` flies the plant open loop again: it needs an "
                                 "open-loop warm-up (warmup_duration > 0, no warm-up controller, a stable plant); "
                                 "use \"gains\" (or true) or drop the key.")
        if config.change_reidentify and reid_mode == "gains" and config.learning_rule == "rtrl_gradient":
            raise ParameterError("`change_reidentify` re-learns the input gains from the EKF rule's one-step errors "
                                 "and sensitivities: it needs `learning_rule = \"rtrl_ekf\"` (or \"rls\"); drop "
                                 "the key or change the rule.")
        self._reid = None if not config.change_reidentify else Reidentification(
            n_weights=self._id_cfg.n_weights, n_hidden=self._id_cfg.n_hidden, n_signals=self._n_sig,
            n_taps=m * self._taps, n_inputs=m, n_outputs=p, steps=self._warmup_steps, passes=self._replay,
            mode=reid_mode)
        self._ready = False

    # ------------------------------------------------------------------ setup
    def set_preview(self, reference: Callable | None) -> None:
        """Give the controller the reference as a function of run time (for preview); None: no preview.

        Parameters
        ----------
        reference : callable or None
            ``reference(timepts) -> (T, p)`` set-points of the controlled outputs.
        """
        if reference is not None and not callable(reference):
            raise ParameterError(f"`reference` must be callable as reference(timepts) -> (T, p), "
                                 f"got {type(reference).__name__}.")
        self._preview = reference
        self._use_preview = reference is not None and self.config.preview
        self._preview_cache, self._preview_k0 = np.empty((0, 0)), 0

    def _prepare_reference_model(self, p):
        """Precompute the reference model's response over the horizon: d = Phi x + G r (per output)."""
        cfg = self.config
        model = SecondOrderReferenceModel(bandwidth_rad_s=cfg.reference_bandwidth, damping=cfg.reference_damping,
                                          dt=self.dt)
        ad, bd = model.transition_matrix, model.input_matrix
        self._rm_ad, self._rm_bd = np.ascontiguousarray(ad), np.ascontiguousarray(bd)
        self._rm_phi, self._rm_g = response_matrices(ad, bd, self.law.horizon)
        self._rm_g_held = self._rm_g.sum(axis=2)

    @property
    def imitator(self):
        """The imitator network (an IncrementalIdentifier); None with ``imitator = "exact"``."""
        return None if self._imitator is None else self._imitator.network

    def _desired(self, reference):
        """Desired trajectory over the horizon at step ``self._k`` (the next step's index), normalised, (N, q), new."""
        out = np.empty((self.law.horizon, len(self._tracked)))
        r, cfg = self._preview_horizon(reference, self._k), self._id_cfg
        if self._imitator is not None:
            self._imitator.desired(self._rm, r, self._use_preview, reference, cfg.output_mid, cfg.output_half,
                                   self._out_idx, self._rate_rows_a, self._rate_cols, self._im_buf, out)
            return out
        _nk.desired_kernel(self._rm_phi, self._rm_g, self._rm_g_held, self._rm, r, self._use_preview, reference,
                           cfg.output_mid, cfg.output_half, self._out_idx, self._rate_rows_a, self._rate_cols,
                           np.empty(self._rm_phi.shape[:3]), out)
        return out

    def _preview_horizon(self, reference, k):
        """Return the reference model's input over the horizon (N, p) at step ``k`` (dummy without preview).

        Row i, column j: the reference at step ``k + i + lead_j``; with no lead
        row 0 is the present ``reference`` itself.
        """
        if not self._use_preview:
            return self._no_preview
        N, L = self._r_shape[0], self._lead_max
        off = k - self._preview_k0
        if not 0 <= off <= self._preview_cache.shape[0] - N - L:
            # one call of the preview per N steps: the reference at steps k .. k + 2N + L - 1 (a function of time
            # evaluated point by point, so each row is what a call at that step alone would give)
            times = (k + self._preview_steps) * self.dt
            self._preview_cache = np.ascontiguousarray(self._preview(times),
                                                       dtype=np.float64).reshape(times.shape[0], -1)
            self._preview_k0, off = k, 0
        r = self._r_buf
        if L == 0:
            r[:] = self._preview_cache[off:off + N]
            r[0] = reference
            return r
        fill_preview_kernel(self._preview_cache, off, self._lead_a, reference, r)
        return r

    # ------------------------------------------------------------------ episode
    def _reset_impl(self, observation, reference, seed):
        cfg = self.config
        if observation.shape != (self._n_obs,):
            raise ShapeError(f"`observation` must have shape ({self._n_obs},), got {observation.shape}.")
        if not np.all(np.isfinite(observation)):
            raise NonFiniteError(f"`observation` must be finite at reset, got {observation.tolist()}.")
        lost_sample(observation, self._plausible, cfg, "at reset")
        ss = as_seed_sequence(seed)
        # spawn(3)'s first two children are spawn(2)'s; the probe's seed is a fourth child only when it probes
        net_seed, exc_seed, im_seed, *probe_seed = ss.spawn(3 if self._probe is None else 4)
        limit = cfg.model_growth_limit
        self.identifier = IncrementalIdentifier(self._id_cfg, self._rule, rng=np.random.default_rng(net_seed),
                                                growth_limit=None if limit is None else limit ** (1.0 / cfg.horizon))
        self._C, self._W = split_weights(self._id_cfg, self.identifier._theta)
        m, n = self.n_inputs, self._n_sig
        self._n_warmup = self._warmup_steps
        self._start_warmup(np.random.default_rng(exc_seed))
        self._nominal, self._ff_r0 = self._nominal0.copy(), reference.copy()
        if self.warmup_controller is not None:
            self.warmup_controller.reset(observation, reference, seed=exc_seed)
        if self._stabiliser is not None:
            self._stabiliser.reset(observation, reference)
        self._k = 0
        self._y_prev = np.full(n, np.nan)           # the identifier's regressor: the blended state x(k-1)
        self._u_prev = np.full(m * self._taps, np.nan)   # inputs applied at k-1, k-2, ... (the identifier's taps)
        self.filter = MeasurementFilter(n)
        observation = self._start_lags(observation)
        self._x = observation.copy()
        self._rm = np.zeros((len(self.output_indices), 2))
        self._restart_reference_model(observation)
        N, nc = self.law.horizon, len(self.law.blocks) * m
        H = self._id_cfg.n_hidden
        bs, p, q = self._id_cfg.block_size, len(self.output_indices), len(self._tracked)
        # every buffer of the step, allocated once per episode (the order is synthesise_kernel's)
        self._synth_buf = (np.empty(m), np.empty(nc), np.empty(n), np.empty((N, m * self._taps)), np.empty((N, n)),
                           np.empty((N, n, nc)), np.empty(n), np.empty(H), np.empty((n, nc)), np.empty((n, nc)),
                           np.empty((H, nc)), np.empty((H, nc)), np.empty(bs), np.empty(bs), np.empty((p, N, 2)),
                           np.empty((N, q)), np.empty((nc, nc)), np.empty(nc), np.empty((nc, nc)),
                           np.empty((nc, nc)), np.empty(nc), np.empty((len(self._eval), n), dtype=np.int8),
                           np.empty(nc), np.empty(m), np.empty((N, H)))
        self._obs_buf = (np.empty(n), np.empty(n))
        self._x_buf = np.empty(n)
        self._plan = np.zeros(nc)
        self._hold = np.zeros(2)      # [held steps left (-1: until the rise is over), cool-down steps] (onset_hold)
        self._blend = np.zeros(1)     # steps left of blending the warm-up controller out (handover_steps)
        self._caution = np.array([float(self._start_caution)])   # predictive steps planned with caution (start)
        self._preview_cache, self._preview_k0 = np.empty((0, 0)), 0
        if self._imitator is not None:
            self._imitator.reset(np.random.default_rng(im_seed))
            self._im_buf = self._imitator.buffers(N)
        if self._probe is not None:
            self._probe.reset(probe_seed[0])
        if self._reid is not None:
            self._reid.reset()
        self._mode = "warmup" if self._n_warmup > 0 else "predictive"
        self._status = "none"
        self._ready = True

    def _restart_reference_model(self, observation):
        self._rm[:, 0] = observation[list(self.output_indices)]
        self._rm[:, 1] = [observation[j] if j >= 0 else 0.0 for j in self._rate_idx]

    @property
    def state(self) -> np.ndarray:
        """The blended state x(k) of the last step (then the lag signals, with output_lags), physical units."""
        return self._x.copy()

    def _learning(self, k: int) -> bool:
        """Whether the transition measured at step ``k`` (time ``k dt``) is learned."""
        until = self.config.learning_until
        return until is None or k * self.dt < until - 1e-9

    def _step_impl(self, observation, reference):
        if not self._ready:
            raise ParameterError("call reset(observation, reference) before step().")
        k = self._k
        self._k += 1
        self._status = "none"
        if _nk.outside_kernel(observation, *self._plausible):     # NaN, inf or a glitch: a lost sample
            first = self._last_u is None and "at the first step"          # no input to hold: name the entry
            observation = lost_sample(observation, self._plausible, self.config, first)
        raw, observation = observation, self._extended(observation)
        finite = finite_sum_kernel(observation)
        if not finite:
            if self._last_u is None:
                raise NonFiniteError(f"`observation` must be finite at the first step, got {observation.tolist()}.")
            self._y_prev[:] = np.nan               # the next transition is unknown: skip its learning
            if self._stabiliser is not None:
                self._stabiliser.lost_sample()
            self.filter.measure(observation)        # non-finite: restarts the noise estimate's differences
            ahead = self._mode == "predictive" and self._use_preview
            self._advance_reference_model(self._preview_horizon(reference, k)[0] if ahead else reference)
            return self._last_u.copy()
        cfg, f, ident = self._id_cfg, self.filter, self.identifier
        blend = False
        if self._walk_rows.size:     # from the noise estimate of the last step (so a checkpoint carries it)
            self._set_walk(k - 1 >= self._n_warmup + f.window, f.noise_var, ident.bias_walk)
        if self._rest_rows.size:     # from the probe's errors up to the last step, the same noise estimate
            rest = self._probe.at_rest() and self._noise_free(k - 1)
            ident.bias_walk[self._rest_rows] = self._rest_q if rest else 0.0
        if finite_sum_kernel(self._y_prev) and finite_sum_kernel(self._u_prev):
            learn = self._learning(k)
            hold, onset = self._onset_plan(k) if learn and self._onset_hold else (False, None)
            if self._reid is not None and self._reid.adapting:      # after a trip: the input gains only
                self._status = self._reid.learn_gains(ident, self._y_prev, self._u_prev, observation, learn=learn,
                                                      hold=hold)
            else:
                self._status = ident.update(self._y_prev, self._u_prev, observation, learn=learn, hold=hold,
                                            onset_factor=onset, onset_count=ONSET_COUNT)
            if self._status == "onset":
                self._hold[0] = self._onset_hold - 1
                if self._hold[0] == 0.0:
                    self._hold[1] = ONSET_COOLDOWN
            blend = self.state_filter and self._status != "non_finite"
        # the filter's noise estimate (measurement of step k, independent of the update) and the blend, one call
        x = self._x_buf
        f._count = _nk.observe_kernel(observation, cfg.output_mid, cfg.output_half, f._raw, f._d2, f._sorted,
                                      f._count, f.noise_var, f._S, f.gain, f._a, ident._y_hat, blend,
                                      k >= self._n_warmup, *self._obs_buf, x)
        self._x = x
        self._y_prev[:] = x
        self._noise_r_step(k)
        if self._warmup_goes_on(k, x):
            self._advance_reference_model(reference)
            if self.warmup_controller is not None:
                return self.warmup_controller.step(raw, reference) + self._excitation[k]
            if self._stabiliser is not None:      # fits its model; flies the plant once the fit does not decay
                u = self._stabiliser.step(raw, reference)
                if self._stabiliser.engaged:
                    return u + self._excitation[k]
            return self._open_loop_input(k, x, reference)
        if k == self._n_warmup or self._mode == "warmup":     # the hand-over (later if step n_warmup was not finite)
            if self._mode == "warmup":              # not a trial's start: learn the warm-up again (warmup_replay)
                self._replay_warmup(k)
                self._blend[0] = self._handover if self._flying_warmup() is not None else 0.0
            self._restart_reference_model(observation)
            self._rate_limit = self._law_rate
            self._mode = "predictive"
        reid = self._reid                         # re-identification after a change (change_reidentify)
        seen = self._status in self._SEEN
        if reid is not None and (reid.active or reid.watch(self, seen, x, k)):
            u = reid.phase_input(self, k, x, reference, self._learning(k), seen)
            if u is not None:
                self._advance_reference_model(reference)
                return u
            self._restart_reference_model(observation)
        u = self._synthesise(x, reference)
        if self._blend[0] > 0.0:                  # blending the warm-up controller out (handover_steps)
            a = (self._handover - self._blend[0] + 1.0) / self._handover
            u = (1.0 - a) * self._flying_warmup().step(raw, reference) + a * u
            self._blend[0] -= 1.0
        # the reference model's input: the (lead-shifted) previewed reference the synthesiser used
        self._advance_reference_model(self._r_buf[0] if self._use_preview else reference)
        return u

    def _advance_reference_model(self, reference):
        if self._imitator is not None:
            self._imitator.learn(self._rm, reference)     # the same step, and the imitator learns it
            return
        reference_model_step(self._rm, self._rm_ad, self._rm_bd, reference)

    def _synthesise(self, observation, reference):
        """One Gauss-Newton step from the held plan and the state ``observation``; return the first block's input."""
        cfg = self._id_cfg
        held = self._nominal if self._last_u is None else self._last_u   # no warm-up: start from the nominal input
        probe = self._probe
        if probe is not None and self._last_u is not None:
            held = held - probe.level * self._u_half    # the plan starts from the law's input, not the probe's
        b = self._synth_buf
        fresh = (self._k - 1 - self._n_warmup) % self.law.jacobian_every == 0   # this step's k is self._k - 1
        r = self._preview_horizon(reference, self._k - 1)
        given = self._imitator is not None
        if given:
            self._imitator.desired(self._rm, r, self._use_preview, reference, cfg.output_mid, cfg.output_half,
                                   self._out_idx, self._rate_rows_a, self._rate_cols, self._im_buf, b[15])
        ok = _nk.synthesise_kernel(fresh, self._C, self._W, self.identifier._h, observation, cfg.output_mid,
                                   cfg.output_half, held, self._u_prev, self._u_mid, self._u_half, self._rate_n,
                                   self._block_of,
                                   self._rm_phi, self._rm_g, self._rm_g_held, self._rm,
                                   r, self._use_preview, reference, self._out_idx,
                                   self._rate_rows_a, self._rate_cols, self._tracked, self._step_weights(), self._eval,
                                   *(self._gn_caution if self._cautious() else self._gn_scalars), given, *b)
        u = held.copy() if not ok else b[-2]      # a failed solve holds the input
        if ok:
            self._plan[:] = b[-3]
        if probe is not None:
            p, m = len(self.output_indices), self.n_inputs
            error = (observation[self._out_idx] - reference) / cfg.output_half[self._out_idx]
            # only after a solve, while the identifier learns, and noise-free (this step's k is self._k - 1)
            on = ok and self._learning(self._k) and self._noise_free(self._k - 1)
            gain = lambda: b[5][-1][self._out_idx].reshape(p, -1, m).sum(axis=1)   # noqa: E731 held unit steps
            u = u + probe.step(error, reference, on, gain) * self._u_half
        return u

    def _cautious(self) -> bool:
        """Whether this step plans with the move penalty times ``change_caution`` (a change on, or the start)."""
        return self.identifier.changing or self._k - 1 - self._n_warmup < self._caution[0]

    def _flying_warmup(self):
        """Return the warm-up's controller: the given one, the engaged identified LQR-I, or None (open loop)."""
        if self.warmup_controller is not None:
            return self.warmup_controller
        return self._stabiliser if self._stabiliser is not None and self._stabiliser.engaged else None

    def _applied(self, u):
        if self._stabiliser is not None and (self._mode == "warmup" or self._blend[0] > 0.0):
            self._stabiliser.observe_input(u)     # its fit needs the input applied, excitation and limits included
        m = self.n_inputs                         # the identifier learns from the inputs actually applied
        self._u_prev[m:] = self._u_prev[:-m].copy()
        self._u_prev[:m] = u

    # ------------------------------------------------------------------ trials of a repeated task
    def start_trial(self, observation, reference) -> None:
        """Start another trial of a repeated task, keeping everything learned.

        Unlike :meth:`reset`, both networks keep their weights and covariances,
        the measurement filter its noise estimate, and there is no warm-up: the
        law acts with the learned model from the first step (see
        :mod:`neurocontrol.ilc`). The networks' hidden states, the reference
        model, the plan and the input history restart from the new first
        measurement; the last input is held as the rate limit's reference. No
        random number is drawn.

        Parameters
        ----------
        observation : array_like, shape (n,)
            The trial's first measurement (finite).
        reference : array_like, shape (p,)
            Its first set-points.
        """
        obs = self._trial_start_observation(observation, reference)
        obs = self._start_lags(lost_sample(obs, self._plausible, self.config, "at a trial's start"))
        for net in (self.identifier, self.imitator):
            if net is not None:
                net.reset_hidden()
        self._x = obs.copy()
        self._y_prev[:] = np.nan                 # no transition across the trials' boundary
        held = self._nominal if self._last_u is None else self._last_u
        self._u_prev[:] = np.tile(held, self._taps)
        self._restart_reference_model(obs)
        self._plan[:] = 0.0
        if self._probe is not None:
            self._probe.restart()
        if self._reid is not None:               # a new level from the trial's own errors; a phase ends with its trial
            self._reid.reset()
        self._preview_cache, self._preview_k0 = np.empty((0, 0)), 0
        self.filter.measure(np.full(self._n_sig, np.nan))   # restarts the noise estimate's differences, keeps it
        self._k = self._n_warmup = 0
        self._blend[0] = 0.0                     # a trial starts with the predictive law alone
        self._caution[0] = 0.0                   # ... with the model it has: no start caution
        self._mode, self._status, self._rate_limit = "predictive", "none", self._law_rate

    @property
    def preview(self) -> Callable | None:
        """The reference the controller previews (``reference(timepts) -> (T, p)``), None without preview."""
        return self._preview

    @property
    def reference_lag_steps(self) -> np.ndarray:
        """Lag from the reference to the desired response per output, control steps (at least one).

        The reference model's low-frequency delay ``2 zeta / omega``, less the
        preview lead when the controller previews.
        """
        return np.maximum(self._delay_s / self.dt - self.reference_lead_steps, 1.0)

    @property
    def reference_lead_steps(self) -> np.ndarray:
        """How far ahead the controller reads its reference per output, control steps (0 without preview).

        The preview lead: the desired response of output j at step k follows
        the reference at ``k + lead_j``, so the closed loop starts to answer a
        change of its set-points that many steps before it.
        """
        return np.asarray(self._lead, dtype=np.float64) if self._use_preview else np.zeros(len(self._lead))

    def diagnostics(self) -> dict:
        """Return the last step's learning outcome (see :meth:`AbstractController.diagnostics`).

        ``prediction_error``: norm of the identifier's one-step prediction
        error of this step's measurement, normalised units (NaN when no
        transition was taken in); ``inner_iterations``: weight updates this
        step, the identifier's and the imitator's (0-2).
        """
        if not self._ready:
            return {"prediction_error": float("nan"), "inner_iterations": 0, "mode": "warmup"}
        seen = self._status in self._SEEN
        d = self._obs_buf[0] - self.identifier._y_hat
        err = math.sqrt(d.dot(d)) if seen else float("nan")      # np.linalg.norm's own sum
        imitated = self._imitator is not None and self._imitator.last_status == "updated"
        return {"prediction_error": err, "inner_iterations": int(self._status == "updated") + int(imitated),
                "mode": (self._reid is not None and self._reid.mode_now) or self._mode}


# ---------------------------------------------------------------- scenario builder


def build_neural(config: NeuralControllerConfig, env) -> NeuralController:
    """Make a :class:`NeuralController` for ``env`` from a scenario's ``[controller]`` table.

    Parameters
    ----------
    config : NeuralControllerConfig
        The table.
    env : gymnasium.Env
        The plant: its action space gives the input limits, ``unwrapped.dt``
        the control period, its observation space the default signal ranges.

    Returns
    -------
    NeuralController
    """
    limits = env_input_limits(env)
    dt = env_dt(env, "the neural controller")
    if config.observation_low is None:
        obs = env.observation_space
        lo, hi = np.asarray(obs.low, dtype=float), np.asarray(obs.high, dtype=float)
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            raise ParameterError("the env's observation space is unbounded: give `observation_low` and "
                                 "`observation_high` (the declared range of each measured signal).")
        config = dataclasses.replace(config, observation_low=tuple(lo.tolist()), observation_high=tuple(hi.tolist()))
    rates_note = None
    declared = getattr(env.unwrapped, "observation_rates", None)
    if not config.rate_indices and declared is not None:     # the env says which measured signal is which's rate
        n_obs = len(config.observation_low)
        rates = tuple(int(declared[i]) if 0 <= i < len(declared) else -1 for i in config.output_indices)
        if len(declared) == n_obs and any(r >= 0 for r in rates) and all(-1 <= r < n_obs for r in rates):
            config = dataclasses.replace(config, rate_indices=rates)
            rates_note = f"{list(rates)} (the env's observation_rates)"
    warm = None
    if config.warmup_pid is not None:
        regs = [r for r in registry.registered("warmup").values() if r.config is type(config.warmup_pid)]
        if not regs or regs[0].build is None:
            raise ParameterError(f"`warmup_pid` must be a registered warm-up kind, got {type(config.warmup_pid)}.")
        warm = regs[0].build(config.warmup_pid, env)
    try:                                   # the horizon check below is advice: a model it cannot trim gives none
        trim = model_trim(env, config.output_indices) if config.reads_plant_model else None
    except (ValueError, ArithmeticError, np.linalg.LinAlgError):
        trim = None
    identified = None if config.plant_model != "identified" else identified_trim(
        env, config.output_indices, limits, dt, config.observation_low, config.observation_high)
    automatic = config.warmup_pid is None and config.auto_warmup and config.warmup_duration > 0
    if automatic and config.reads_plant_model:
        warm = automatic_warmup(env, config.output_indices, output_weight=config.auto_warmup_weight, trim=trim)
        if warm is not None and config.auto_warmup_steps * dt > config.warmup_duration:
            config = dataclasses.replace(config, warmup_duration=config.auto_warmup_steps * dt)
    if config.identified_warmup is None:   # no model read: a fitted one, where the measurements carry the state
        config = dataclasses.replace(config, identified_warmup=bool(
            automatic and warm is None and trim is None and any(r >= 0 for r in config.rate_indices)))
    trim = trim if identified is None else identified.trim       # the experiment's fit from here on
    start_note = None
    if warm is None and config.nominal_input is None:     # no warm-up controller: take the plant over bumplessly
        start = declared_input(env, limits)
        if start is not None:
            config = dataclasses.replace(config, nominal_input=tuple(start.tolist()))
            start_note = "the env's operating_point input, a bumpless start"
    k, horizon0 = (None if trim is None else gain_sign_steps(trim, dt)), config.horizon
    config, long_run_note = long_run_signals(config, trim, k, dt, 0.5 * (limits[:, 1] - limits[:, 0]))
    blended = warm is not None and config.warmup_pid is None and config.handover_steps is None
    if blended:                                        # the automatic LQR-I: blended out over half the horizon
        config = dataclasses.replace(config, handover_steps=config.horizon // 2)
    auto_ff = config.warmup_feedforward is None and zero_within_dynamics(trim, dt)    # where it was measured to help
    ff = warmup_feedforward_gain(trim) if warm is None and (config.warmup_feedforward or auto_ff) else None
    if ff is None and config.warmup_feedforward:
        raise ParameterError("`warmup_feedforward = true` needs the env's python-control model, stable at the trim "
                             "with a steady-state gain of full rank, and no warm-up controller; drop the key.")
    controller = NeuralController(config, input_limits=limits, dt=dt, warmup_controller=warm, warmup_feedforward=ff)
    if blended:
        controller.handover_note = "automatic: the LQR-I warm-up blended out over half the horizon"
    controller.rates_note = rates_note
    controller.nominal_note = start_note
    if ff is not None:
        source = "the identified model" if identified else "the env's python-control model at the trim"
        controller.warmup_feedforward_note = f"the inverse of the steady-state gain of {source}" + \
            (" (automatic: a right-half-plane zero within twice the slowest time constant)" if auto_ff else "")
    if warm is None:                            # a warm-up without feedback: could the model vouch for it?
        controller.unchecked_note = unchecked_reason(config, env, trim)
    if warm is not None and config.warmup_pid is None:
        controller.warmup_note = (f"LQR-I (output weight {config.auto_warmup_weight:g}) on the plant's python-control "
                                  "model (automatic: its linearisation at the trim is not asymptotically stable)")
    if k is not None and k > horizon0:
        raised = f"; long_run_signals raised it to {config.horizon} steps" if config.horizon != horizon0 else ""
        risk = "the plan past it rests on the long-run gains the networks learned" if config.horizon >= k else \
            "the law may drive the inputs apart"
        controller.horizon_note = (f"the horizon ({horizon0} steps) ends before the plant's step-response gains take "
                                   f"the sign of their steady state ({k} steps, "
                                   f"{'the identified model' if identified else 'python-control model at the trim'}; a "
                                   f"right-half-plane zero){raised}: {risk} "
                                   "(docs/neural_controller.md, 'The quadruple tank at P+')")
    controller.long_run_note = long_run_note
    controller.identified_note = None if identified is None else identified.note
    return controller
