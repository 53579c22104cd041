"""Settings of the neural predictive controller (``[controller] kind = "neural"``): :class:`NeuralControllerConfig`.

The controller itself is :class:`neurocontrol.controllers.neural.NeuralController` (docs/neural_controller.md).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from neurocontrol._validation import as_float_array, check_int, check_memory, check_positive
from neurocontrol.controllers.gauss_newton import GaussNewtonLaw
from neurocontrol.exceptions import ParameterError
from neurocontrol.nets.ekf import DecoupledEKF, GradientRule, network_floats

__all__ = ["NeuralControllerConfig", "fit_default", "check_controller_memory"]


def check_controller_memory(config, law: GaussNewtonLaw, n_signals: int, n_network_inputs: int, rule,
                            n_inputs: int) -> None:
    """Refuse settings whose arrays would not fit in memory, before any is allocated (a named ParameterError).

    Counts the two networks (the identifier's size twice: the imitator's is at most that), the horizon's
    buffers (its Jacobian to the planned inputs) and the reference model's response matrices over the horizon
    (``2 p N^2`` numbers).

    Parameters
    ----------
    config : NeuralControllerConfig
    law : GaussNewtonLaw
    n_signals, n_network_inputs : int
        The identifier's outputs (the observation and its lags) and inputs (the plant's inputs times the taps).
    rule : DecoupledEKF or GradientRule
    n_inputs : int
        The plant's inputs.
    """
    N, H, n = float(law.horizon), config.hidden_units, n_signals
    planned = len(law.blocks) * n_inputs
    response = 2.0 * len(config.output_indices) * N * (N + 2.0)
    check_memory(2.0 * network_floats(n, n_network_inputs, H, rule) + N * n * (planned + 3.0)
                 + N * (H + n_network_inputs) + response,
                 f"the neural controller ({n} signals, {n_network_inputs} network inputs, {H} hidden units, a "
                 f"horizon of {law.horizon} steps)", "lower `horizon`, `n_hidden`, `output_lags` or `input_taps`.")


def fit_default(config, name: str, n: int) -> tuple:
    """Return ``config.<name>``, fitted to ``n`` entries when it is the field's default and has another length.

    Some defaults are given per output or per input for the two of the first
    plant; on a plant with ``n`` of them the default's first ``n`` entries are
    used, the last one repeated when ``n`` is larger. A value that was set
    (anything but the default) is returned as it is, so a wrong length still
    gets its error.

    Parameters
    ----------
    config : dataclass instance
        The configuration.
    name : str
        The field.
    n : int
        Outputs or inputs of the plant.
    """
    value = getattr(config, name)
    if not isinstance(value, (tuple, list)):
        return value                      # not a sequence: left to the field's own check and error
    value = tuple(value)
    field = next(f for f in dataclasses.fields(config) if f.name == name)
    if value != tuple(field.default) or len(value) == n or n < 1:
        return value
    return value[:n] + (value[-1],) * (n - len(value))


# ---------------------------------------------------------------- settings


@dataclasses.dataclass(frozen=True, kw_only=True)
class NeuralControllerConfig:
    """``[controller] kind = "neural"``: settings of :class:`NeuralController` (ranges, not plant equations).

    Parameters
    ----------
    observation_low, observation_high : tuple of float or None
        Declared range of each measured signal, physical units (mapped onto
        [-1, 1]); None: the env's observation space (must then be finite).
    output_indices : tuple of int, default (0, 1)
        Controlled outputs within the observation.
    rate_indices : tuple of int, default ()
        Per controlled output, the observation entry holding its rate, or -1. Empty: :func:`build_neural` takes
        them from the env's ``observation_rates`` when it declares them (per observation, the index of its rate,
        or -1), else none.
    n_hidden : int, default 8
        Hidden tanh units of the identifier and of the imitator (0: linear networks; a scenario file may write
        ``hidden_units`` in its place).
    learning_rule : {"rtrl_ekf", "rtrl_gradient", "rls"}, default "rtrl_ekf"
        The rule of both networks: the node-decoupled EKF over exact RTRL
        sensitivities (:class:`~neurocontrol.nets.ekf.DecoupledEKF`); a
        normalised gradient step over the same sensitivities
        (:class:`~neurocontrol.nets.ekf.GradientRule`, step ``learning_rate``);
        or the linear baseline, recursive least squares: the EKF on networks
        without hidden units (``n_hidden`` is then not used). The adaptive
        controller's 2-D rule (``kind = "adaptive"``) trains its own network structure.
    learning_rate : float, default 0.5
        Step of ``rtrl_gradient``, in (0, 2).
    input_taps : int, default 1
        Inputs the identifier sees per step: ``u(t), u(t-1), ..., u(t - taps + 1)``
        (more than 1 for a plant or sensor with a delay of a few control steps).
    output_lags : int, default 0
        Past measurements of the controlled outputs ``y(t-1), ..., y(t-L)`` the networks see as extra
        signals (their shift is learned like the rest); for plants measured by their outputs only, whose
        unmeasured states the one-step model cannot otherwise carry (docs/neural_controller.md). With
        ``lag_signals = "rates"``, the rates of every measured signal over the last L steps instead.
    lag_signals : {None, "values", "rates"}, default None
        What the ``output_lags`` signals are: ``"values"``, the controlled outputs' past values; or
        ``"rates"``, the backward differences per second ``(x(t-k+1) - x(t-k)) / dt``, k = 1..L, of every
        measured signal, each normalised to +- its half range times a ``reference_bandwidth`` (the output's
        own, the slowest for the other signals: the rates the reference model asks for). None: the past
        values, except on a plant that measures only its controlled outputs with ``output_lags = 0``, where
        the networks see ``AUTO_RATE_LAGS`` (2) steps of rates (``"values"`` with 0 lags turns that off).
    lag_bandwidth : float or None, default None
        With rate lags, the bandwidth (rad/s) that normalises every rate to +- its signal's half range
        times it, in place of the ``reference_bandwidth`` values: a rate that crosses the half range in
        ``1 / lag_bandwidth`` seconds counts as 1. For a plant much slower than the reference model, whose
        rates would otherwise sit near zero in the networks' inputs, e.g. ``1 / (horizon dt)``
        (docs/neural_controller.md, "The quadruple tank at P+"). None: the reference bandwidths, or
        ``long_run_signals``' choice.
    long_run_signals : bool or None, default None
        On a plant measured by its controlled outputs only (the automatic rate lags) whose python-control model is
        stable at the trim, with ``input_taps`` and ``lag_bandwidth`` at their defaults, :func:`build_neural` gives
        the networks what the long-run gains need: two input taps and rate lags at one half range per horizon
        (``lag_bandwidth = 1 / (horizon dt)``), and a horizon and start fitted to the model. Where its slowest
        right-half-plane transmission zero ``z`` (rad/s) acts within twice its slowest time constant ``tau``
        (s), ``z tau >= 0.5`` (the tank at P+): an identification warm-up of 3 ``tau`` of open-loop excitation at
        5 % of each input's half range, holds of ``tau / 9`` to ``2 tau / 3``, and a horizon of 2 ``tau``, each only
        where its keys are at their defaults. Else, where the step-response gains' determinant takes its
        steady-state sign only after the horizon (:func:`~neurocontrol.controllers.generic.gain_sign_steps`; the
        horizon check; the CSTR): a horizon of ``tau``. A raised horizon is at most ``LONG_RUN_HORIZON_CAP`` (4)
        times the one given. ``derived_settings()["long_run_signals"]`` says what was chosen
        (docs/neural_controller.md, "The quadruple tank at P+" and "Non-minimum-phase plants: the
        identification warm-up"). None (automatic) or True: so; False: never.
    hidden_filters : int or None, default None
        How many of the identifier's hidden units start as leaky filters of the inputs
        (:class:`~neurocontrol.nets.incremental.IncrementalConfig` ``filter_time_constants``), their time
        constants spread geometrically from 2 control steps to the horizon; the others start as random
        features. For plants measured by their outputs only, whose slow unmeasured states the random
        units did not learn to carry (docs/neural_controller.md, "Filter units"). None or 0: none. The
        imitator's units stay random features.
    imitator : {"network", "exact"}, default "network"
        Source of the desired trajectory: the imitator network's free run
        (:class:`~neurocontrol.controllers.imitator.Imitator`), or the
        reference model's exact response.
    imitator_pretrain : int, default 20
        Random set-points of the imitator's pre-training staircase at each
        reset (holds of 1 to 6 time constants of the slowest reference model).
    measurement_noise : float, default 1e-5
        EKF R, variance of the one-step prediction error in normalised units.
    process_noise : float, default 1e-5
        EKF q, added while the change detector signals a plant change (at every update with ``change_gate = 0``,
        then about 1e-7): the covariance reopens so the model re-learns.
    change_gate, change_memory : float or None, tuple of int, default 30.0, (10, 3000)
        The change detector (:class:`~neurocontrol.nets.ekf.DecoupledEKF`): on while the geometric mean of the
        normalised squared one-step error over about 10 updates exceeds 30 times that over about 3000; otherwise
        q = 0 and the identifier fits all it has seen (docs/neural_controller.md, "Process noise on a change").
    output_covariance, hidden_covariance : float, default 1.0, 0.01
        EKF prior covariance of the output rows and of the hidden weights.
    dead_zone : float, default 0.0
        EKF dead zone in noise standard deviations.
    outlier_gate : float, default 10.0
        EKF innovation gate in predicted standard deviations.
    model_growth_limit : float or None, default None
        Opt-in: the identifier's one-step spectral radius is kept at or below ``model_growth_limit ** (1 / horizon)``
        (a mode growing at most this factor over the horizon, e.g. 2.0), checked every 10 updates; above it,
        learning goes back to the last model within it (``IncrementalIdentifier(growth_limit=...)``). None: no check.
    noise_scaled_r : float, default 5.0
        The identifier's EKF R per signal is at least this many times the filter's sensor-noise variance estimate
        (normalised; once its window holds no warm-up step), so under noise each update moves the weights less.
        0: R is ``measurement_noise`` throughout (docs/neural_controller.md, "Long runs under sensor noise").
    disturbance_walk : float, default 3.0
        A random walk on the identifier's biases of the declared rate signals (``rate_indices``; or of
        ``walk_signals`` when given): before every
        update each such bias's variance grows by ``disturbance_walk`` times the EKF's R floor
        (``measurement_noise``), so the model follows an unmeasured force that comes and goes (a gust, a load)
        in the bias instead of in the input weights. Only while that signal's estimated sensor noise variance is
        below 0.2 % of the R floor (a noise-free signal) and once the estimate holds no warm-up step; 0: off
        (docs/neural_controller.md, "Gusts").
    walk_signals : tuple of int or None, default None
        The observation entries whose biases walk (``disturbance_walk``), where unmeasured forces enter; None:
        the controlled outputs' declared rates (``rate_indices``). E.g. ``[0, 2]`` on the helicopter (its neural
        scenarios): the rotor speed (a drag torque) and the climb rate (a vertical force); a drag change is
        re-learned far better (docs/neural_controller.md, "Gusts"). No walk while the measurement filter finds the
        sensor noise risen.
    onset_hold : int, default 12
        Control steps the identifier does not learn after the onset of sensor noise: a step at which more than
        half of the signals' one-step errors exceed the EKF's R at once, jumping 100 times above the change
        detector's slow level, while most signals count as noise-free, starts it; when the measurement filter
        finds the noise risen within these steps the hold lasts until the rise is over (R has caught up with the
        new noise), otherwise it ends after them (a change of the plant: learning goes on, and no new hold starts
        for 200 steps). EKF rule with its change detector and at least 3 measured signals only; 0: off
        (docs/neural_controller.md, "The onset of sensor noise").
    learning_until : float or None, default None
        Run time (s) after which the identifier stops learning (weights
        frozen, hidden state still driven by the measurements); None: never.
    reference_bandwidth, reference_damping : tuple of float, default (4.0, 5.0), (1.0, 1.0)
        Second-order reference model per controlled output (rad/s, -). The
        defaults are given for two outputs; left at the default on a plant
        with another number of controlled outputs, they are fitted to it
        (the first entries, the last one repeated), like the excitation holds
        per input (:func:`fit_default`).
    preview : bool, default True
        Use the reference ahead of time when it is known (see
        :meth:`NeuralController.set_preview`).
    preview_lead : tuple of float or None, default None
        With preview, the reference model's input at step k is the reference
        at ``k dt + lead`` (per controlled output, s, rounded to control
        steps). None: each output's reference model's low-frequency delay
        ``2 damping / bandwidth``, so a smooth reference is followed without
        the model's lag (a step is smoothed around its time instead of after
        it); 0: the reference model lags the reference.
    horizon, blocks, stride, output_weights, move_penalty, damping, range_weight, range_bound
        The synthesiser, see :class:`GaussNewtonLaw`.
    rate_weights : tuple of float or None, default None
        Tracking weight of each controlled output's rate against the reference model's rate. None: 0.3 on each
        output whose rate is measured (``rate_indices``, or the env's ``observation_rates``), 0 on the others; a
        positive entry needs the output's measured rate or rate lags (docs/neural_controller.md, "Tracking the
        measured rates").
    jacobian_every : int, default 1
        Recompute the horizon Jacobian every this many predictive steps (1:
        every step, exact; more: an approximation), see :class:`GaussNewtonLaw`.
    change_caution : float, default 3.0
        Factor on ``move_penalty`` at the steps where the identifier's change detector is on (a model being
        re-learned after a plant change plans smaller moves), and over the start caution below; 1: none. See
        :class:`GaussNewtonLaw`.
    start_caution : float or None, default None
        Horizons of predictive steps after the warm-up planned with ``move_penalty`` times ``change_caution`` (None:
        2 when a warm-up shorter than the horizon starts from the middle of the limits, i.e. without a warm-up
        controller, ``nominal_input`` or a declared operating point, else 0; 0: off): a model that has not yet seen
        its inputs' effect over a horizon plans smaller moves (docs/neural_controller.md, "The move penalty, and
        caution at the start").
    rate_limit : tuple of float or None
        Largest input change per control step after the warm-up, physical units.
    warmup_duration : float, default 1.0
        Seconds of warm-up (warm-up controller or nominal input, plus APRBS),
        rounded to whole control steps but at least ``warmup_min_steps`` when
        positive; 0: no warm-up, the predictive law starts at once from
        ``nominal_input``.
    warmup_min_steps : int, default 5
        Fewest control steps of a positive warm-up: on a slow plant 1 s is one
        step, after which the identifier has seen a single level of the
        excitation (docs/neural_controller.md, "Where a stable plant starts").
    excitation_amplitude : tuple of float or None
        APRBS amplitude per input, physical units; None: 20 % of each input's half range.
    excitation_min_hold, excitation_max_hold : tuple of int, default (5, 1), (30, 4)
        APRBS hold-time range per input, control steps; left at the default
        on a plant with another number of inputs, fitted to it (the first
        entries, the last one repeated).
    nominal_input : tuple of float or None
        Warm-up input without a warm-up controller (without a warm-up, the
        predictive law's first held input); None: the input of the env's
        declared ``operating_point`` (x, u), where the shipped plants start
        (a bumpless start; :func:`build_neural`, when no warm-up controller
        flies), else the middle of the limits.
    warmup_pid : table, optional
        ``[controller.warmup_pid]``: a kind of section ``warmup`` that flies the warm-up.
    auto_warmup : bool, default True
        Without a warm-up controller, when the env has a python-control model
        whose linearisation at the trim is not asymptotically stable (an
        unstable or integrating plant), :func:`build_neural` makes the warm-up
        controller LQR with integral action designed on that model
        (:func:`~neurocontrol.controllers.generic.automatic_warmup`; it flies
        the warm-up only). Without a model (or ``plant_model = false``), see
        ``identified_warmup``. False: the nominal input plus excitation.
    identified_warmup : bool or None, default None
        An open-loop warm-up (no warm-up controller) flown with
        :class:`~neurocontrol.controllers.identified_warmup.IdentifiedLQRI`: a
        linear model of the measured signals fitted to the warm-up's transitions
        so far, and LQR-I on it from the first fit that does not decay within the
        warm-up (unstable or integrating), blended out over half the horizon after
        the hand-over (docs/neural_controller.md, "Warm-up without a model").
        None: where :func:`build_neural` read no model (the env has none, or
        ``plant_model = false``), ``auto_warmup`` is on and a controlled
        output's rate is measured (``rate_indices``, or the env's
        ``observation_rates``): the measured signals then carry the state and
        the fit takes one lag of them. True: on every open-loop warm-up (three
        lags where no rate is measured; on the twin rotor, measured by its
        outputs only, that keeps about as many runs as the open loop); False:
        never.
    warmup_feedforward : bool or None, default None
        An open-loop warm-up (no warm-up controller flies it)
        moves its nominal input with the reference by the inverse of the
        steady-state gain of the env's python-control model at the trim, so a
        reference step during a long warm-up is followed in steady state by the
        model (docs/neural_controller.md, "Feed-forward in an open-loop warm-up").
        None: where :func:`build_neural` reads a model that is stable at the
        trim, has a steady-state gain of full rank, and whose slowest
        right-half-plane zero acts within twice its slowest time constant (the
        identification warm-up's plants, where it was measured to help; on the
        CSTR, whose gains turn with the operating point, it moved an input the
        wrong way). True: wherever there is such a model (an error where there
        is none); false: the nominal input is held.
    warmup_replay : int or None, default None
        Passes of the identifier's learning rule over the warm-up's recorded
        transitions at the hand-over, after the pass made online: each pass
        restarts the hidden state and learns every transition of the warm-up
        again, in order, ending where the run is; the covariance, the counts
        and the change detector are put back as the online pass left them,
        so the replays move the weights only (docs/neural_controller.md,
        "Replaying the warm-up"). None: 2 where ``long_run_signals`` makes
        the warm-up an identification warm-up, else 0.
    change_reidentify : bool, "gains", "open_loop" or None, default None
        After the hand-over, when the identifier's one-step error trips (10
        times its level of the last 100 steps, 3 steps in a row), its weights
        go back to those of 30-40 steps before, and then (``true`` is
        ``"gains"``): ``"gains"``, the predictive law flies on while only one
        gain factor per plant input is learned (an EKF on the factors over the
        identifier's RTRL sensitivities; the rest of the weights stay as they
        were) for as many steps as the planned warm-up (at least 100) and
        until the error level is back within 10 times the one before the
        trip, then the identifier's own update again; ``"open_loop"``, the covariance goes back to its start and for
        as many steps as the planned warm-up the input is the warm-up's
        excitation around a nominal input that integrates the outputs' errors
        through the inverse of the long-run gain the kept weights give, then
        the identifier learns those transitions ``warmup_replay`` more times
        and the law flies again (needs an open-loop warm-up: no warm-up
        controller, a stable plant). (:mod:`neurocontrol.controllers._reidentify`;
        docs/neural_controller.md, "Re-identification after a change".) None:
        ``"gains"`` where ``long_run_signals`` makes the warm-up an
        identification warm-up, else off.
    plant_model : bool, str or None, default None
        Where :func:`build_neural` takes a plant model from: none with false (no
        ``auto_warmup`` LQR-I, no ``long_run_signals``, no horizon check, as for
        an env without one), the env's python-control model with None or true
        (where the env has one), and with ``"identified"`` a linear model fitted
        to an identification experiment flown on the env before the run, which
        stands in for the env's in ``long_run_signals``, the horizon check and
        ``warmup_feedforward`` (:mod:`neurocontrol.controllers._identify`;
        docs/neural_controller.md, "A model identified before the run").
    auto_warmup_weight : float, default 1000.0
        Output weight of that LQR-I, relative to the declared ranges (Bryson's rule; the ``lqr_i`` kind's
        ``output_weight``): 1000 weighs an error of 3 % of an output's range like an input's full range.
    auto_warmup_steps : int, default 150
        With that LQR-I flying it, the warm-up lasts at least this many control steps (``warmup_duration``
        is raised to it; 0: ``warmup_duration`` as given).
    warmup_check : float or None
        Hand-over check: the warm-up goes on past ``warmup_duration`` until the identifier's free runs over
        the horizon predict the warm-up's measurements with at most this times the RMS error of "every signal
        stays where it was" (checked every 10 steps; docs/neural_controller.md, "The warm-up check"); None or
        0: off. ``NeuralController(warmup_check=...)`` overrides it.
    warmup_max_duration : float or None
        Longest warm-up with the check, s (at least ``warmup_duration``); None: 5 times ``warmup_duration``.
    handover_steps : int or None, default None
        Control steps over which the warm-up controller is blended out after the hand-over: at the i-th step
        after it (i = 1 ... K) the input is ``(1 - i/K)`` times the warm-up controller's plus ``i/K`` times the
        predictive law's (the warm-up controller keeps stepping until then). None: half the horizon when
        :func:`build_neural` chose the automatic LQR-I (``auto_warmup``), else 0; 0: a switch
        (docs/neural_controller.md, "A blended hand-over").
    probe : float or None, default None
        Probing a steady offset after the warm-up, the response it aims at (fraction of the outputs' half range; 0:
        off; None: 3e-3 when the warm-up is shorter than the horizon, as on a stable plant flown without a warm-up
        controller, else off): once the set-points have held for a horizon and while the mean tracking error over
        it is not near zero, a small APRBS is added to the synthesised input, each input's level such that the
        identifier's response at the horizon is ``probe`` of the outputs' half range (at most 3 % of the input's
        half range), scaled down as that offset falls below 5 times ``probe``; off while any signal shows sensor
        noise or once learning has stopped (``learning_until``); kept out of the input the next plan starts from
        (:mod:`neurocontrol.controllers._probe`; docs/neural_controller.md, "Probing a steady offset").
    rest_walk : float or None, default None
        A random walk on the identifier's biases of the controlled outputs that have no declared rate while the
        loop is at rest (None: 3, as ``disturbance_walk``, where the probe is on, else off; 0: off; a value given
        needs the probe's error window, the EKF rule and such an output): before an update each such bias's
        variance grows by ``rest_walk`` times the EKF's R floor when the set-points have held for a horizon, the
        mean tracking error over it is below ``probe`` of the outputs' half range on every output and every
        signal counts as noise-free. After a long rest the
        bias is then still free to take a sudden offset (a changed gain at the operating point) instead of the
        weights the rest never excited (docs/neural_controller.md, "A bias walk at rest").
    """

    kind: ClassVar[str] = "neural"
    observation_low: tuple[float, ...] | None = None
    observation_high: tuple[float, ...] | None = None
    output_indices: tuple[int, ...] = (0, 1)
    rate_indices: tuple[int, ...] = ()
    n_hidden: int = dataclasses.field(default=8, metadata={"aliases": ("hidden_units",)})
    learning_rule: str = "rtrl_ekf"
    learning_rate: float = 0.5
    input_taps: int = 1
    output_lags: int = 0
    lag_signals: str | None = None
    lag_bandwidth: float | None = None
    long_run_signals: bool | None = None
    hidden_filters: int | None = None
    imitator: str = "network"
    imitator_pretrain: int = 20
    measurement_noise: float = 1e-5
    process_noise: float = 1e-5
    change_gate: float | None = 30.0
    change_memory: tuple[int, int] = (10, 3000)
    output_covariance: float = 1.0
    hidden_covariance: float = 0.01
    dead_zone: float = 0.0
    outlier_gate: float = 10.0
    model_growth_limit: float | None = None
    noise_scaled_r: float = 5.0
    disturbance_walk: float = 3.0
    walk_signals: tuple[int, ...] | None = None
    onset_hold: int = 12
    learning_until: float | None = None
    reference_bandwidth: tuple[float, ...] = (4.0, 5.0)
    reference_damping: tuple[float, ...] = (1.0, 1.0)
    preview: bool = True
    preview_lead: tuple[float, ...] | None = None
    horizon: int = 50
    blocks: tuple[int, ...] = (0, 5, 15, 30)
    stride: int = 2
    output_weights: tuple[float, ...] | None = None
    rate_weights: tuple[float, ...] | None = None
    move_penalty: float = 0.3
    damping: float = 1e-4
    range_weight: float = 100.0
    range_bound: float = 1.0
    jacobian_every: int = 1
    change_caution: float = 3.0
    start_caution: float | None = None
    rate_limit: tuple[float, ...] | None = None
    warmup_duration: float = 1.0
    warmup_min_steps: int = 5
    excitation_amplitude: tuple[float, ...] | None = None
    excitation_min_hold: tuple[int, ...] = (5, 1)
    excitation_max_hold: tuple[int, ...] = (30, 4)
    nominal_input: tuple[float, ...] | None = None
    warmup_pid: object = dataclasses.field(default=None, metadata={"section": "warmup", "default_kind": "pid"})
    auto_warmup: bool = True
    identified_warmup: bool | None = None
    warmup_feedforward: bool | None = None
    warmup_replay: int | None = None
    change_reidentify: bool | str | None = None
    plant_model: bool | str | None = None
    auto_warmup_weight: float = 1000.0
    auto_warmup_steps: int = 150
    warmup_check: float | None = None
    warmup_max_duration: float | None = None
    handover_steps: int | None = None
    probe: float | None = None
    rest_walk: float | None = None

    def __post_init__(self):
        if (self.observation_low is None) != (self.observation_high is None):
            raise ParameterError("give both `observation_low` and `observation_high`, or neither (then the env's "
                                 "observation space is used).")
        if self.observation_low is not None:
            lo = as_float_array(self.observation_low, "observation_low", (None,))
            hi = as_float_array(self.observation_high, "observation_high", (lo.shape[0],))
            if np.any(hi <= lo):
                raise ParameterError(f"`observation_high` must exceed `observation_low` in every entry, "
                                     f"got low={lo.tolist()}, high={hi.tolist()}.")
        check_int(self.n_hidden, "n_hidden", low=0)
        check_int(self.imitator_pretrain, "imitator_pretrain", low=0)
        check_int(self.input_taps, "input_taps", low=1)
        check_int(self.output_lags, "output_lags", low=0)
        if self.lag_signals not in (None, "values", "rates"):
            raise ParameterError(f"`lag_signals` must be \"values\" (the past outputs) or \"rates\" (their backward "
                                 f"differences per second), got {self.lag_signals!r}.")
        if self.lag_signals == "rates" and self.output_lags == 0:
            raise ParameterError("`lag_signals = \"rates\"` needs `output_lags` >= 1 (the steps of rates the networks "
                                 "see), got output_lags = 0.")
        if self.lag_bandwidth is not None:
            check_positive(self.lag_bandwidth, "lag_bandwidth")
        if self.hidden_filters is not None:
            check_int(self.hidden_filters, "hidden_filters", low=0)
            if self.hidden_filters > self.hidden_units:
                raise ParameterError(f"`hidden_filters` must be at most the networks' hidden units "
                                     f"({self.hidden_units}), got {self.hidden_filters}.")
        if self.learning_rule not in ("rtrl_ekf", "rtrl_gradient", "rls"):
            hint = (" The 2-D rule trains the adaptive controller's networks: `kind = \"adaptive\"`, whose "
                    "imitator learns by it by default (`[controller.imitator_rule] kind = \"two_d\"`; "
                    "`[controller.identifier_rule]` takes it too)." if self.learning_rule == "two_d" else "")
            raise ParameterError(f"`learning_rule` must be \"rtrl_ekf\", \"rtrl_gradient\" or \"rls\", "
                                 f"got {self.learning_rule!r}.{hint}")
        if not isinstance(self.auto_warmup, (bool, np.bool_)):
            raise ParameterError(f"`auto_warmup` must be true or false, got {self.auto_warmup!r}.")
        if self.plant_model is not None and not isinstance(self.plant_model, (bool, np.bool_)) \
                and self.plant_model != "identified":
            raise ParameterError(f"`plant_model` must be true, false or \"identified\" (or absent: true), got "
                                 f"{self.plant_model!r}.")
        if self.identified_warmup is not None and not isinstance(self.identified_warmup, (bool, np.bool_)):
            raise ParameterError(f"`identified_warmup` must be true or false (or absent: automatic), "
                                 f"got {self.identified_warmup!r}.")
        if self.warmup_feedforward is not None and not isinstance(self.warmup_feedforward, (bool, np.bool_)):
            raise ParameterError(f"`warmup_feedforward` must be true or false (or absent: automatic), "
                                 f"got {self.warmup_feedforward!r}.")
        if self.warmup_replay is not None:
            check_int(self.warmup_replay, "warmup_replay", low=0)
        if self.change_reidentify is not None and not isinstance(self.change_reidentify, (bool, np.bool_)) \
                and self.change_reidentify not in ("gains", "open_loop"):
            raise ParameterError(f"`change_reidentify` must be true (the same as \"gains\"), \"gains\", "
                                 f"\"open_loop\" or false (or absent: automatic), got {self.change_reidentify!r}.")
        if self.long_run_signals is not None and not isinstance(self.long_run_signals, (bool, np.bool_)):
            raise ParameterError(f"`long_run_signals` must be true or false (or absent: automatic), "
                                 f"got {self.long_run_signals!r}.")
        if self.imitator not in ("network", "exact"):
            raise ParameterError(f"`imitator` must be \"network\" (the imitator network's prediction) or \"exact\" "
                                 f"(the reference model's response), got {self.imitator!r}.")
        check_positive(self.noise_scaled_r, "noise_scaled_r", allow_zero=True)
        check_positive(self.disturbance_walk, "disturbance_walk", allow_zero=True)
        check_int(self.onset_hold, "onset_hold", low=0)
        if self.warmup_check is not None:
            check_positive(self.warmup_check, "warmup_check", allow_zero=True)
        if self.warmup_max_duration is not None:
            check_positive(self.warmup_max_duration, "warmup_max_duration", unit="s")
        if self.handover_steps is not None:
            check_int(self.handover_steps, "handover_steps", low=0)
        if self.probe is not None and not check_positive(self.probe, "probe", allow_zero=True) < 1.0:
            raise ParameterError(f"`probe` must be below 1 (a fraction of the outputs' half range; 3e-3 is the "
                                 f"automatic level), 0 (off) or None (automatic), got {self.probe!r}.")
        if self.rest_walk is not None:
            check_positive(self.rest_walk, "rest_walk", allow_zero=True)
        if self.start_caution is not None:
            check_positive(self.start_caution, "start_caution", allow_zero=True)
        check_positive(self.auto_warmup_weight, "auto_warmup_weight")
        check_int(self.auto_warmup_steps, "auto_warmup_steps", low=0)
        if self.learning_until is not None:
            check_positive(self.learning_until, "learning_until", unit="s", allow_zero=True)
        if self.model_growth_limit is not None and not check_positive(self.model_growth_limit,
                                                                      "model_growth_limit") >= 1.0:
            raise ParameterError(f"`model_growth_limit` must be at least 1 (a factor over the horizon), or None; "
                                 f"got {self.model_growth_limit!r}.")
        check_positive(self.warmup_duration, "warmup_duration", unit="s", allow_zero=True)
        check_int(self.warmup_min_steps, "warmup_min_steps", low=1)
        for name in ("reference_bandwidth", "reference_damping"):     # the two-output defaults, fitted to p
            object.__setattr__(self, name, fit_default(self, name, len(self.output_indices)))
        bw = as_float_array(self.reference_bandwidth, "reference_bandwidth", (None,))
        if len(self.output_indices) != bw.shape[0]:
            raise ParameterError(f"`reference_bandwidth` must have one entry per controlled output "
                                 f"({len(self.output_indices)}), got {bw.shape[0]}.")
        dz = as_float_array(self.reference_damping, "reference_damping", (bw.shape[0],))
        if np.any(bw <= 0) or np.any(dz <= 0):
            raise ParameterError(f"`reference_bandwidth` and `reference_damping` must be positive, "
                                 f"got {bw.tolist()} and {dz.tolist()}.")
        if self.preview_lead is not None:
            lead = as_float_array(self.preview_lead, "preview_lead", (bw.shape[0],))
            if np.any(lead < 0):
                raise ParameterError(f"`preview_lead` must be non-negative seconds per output, got {lead.tolist()}.")
        if self.excitation_amplitude is not None:
            amp = as_float_array(self.excitation_amplitude, "excitation_amplitude", (None,))
            if np.any(amp < 0):
                raise ParameterError(f"`excitation_amplitude` must be non-negative, got {amp.tolist()}.")
        lo_h, hi_h = np.asarray(self.excitation_min_hold), np.asarray(self.excitation_max_hold)
        if lo_h.shape != hi_h.shape or np.any(lo_h < 1) or np.any(hi_h < lo_h):
            raise ParameterError(f"`excitation_min_hold` and `excitation_max_hold` must give one hold time per "
                                 f"input with 1 <= min <= max steps, got {self.excitation_min_hold!r} and "
                                 f"{self.excitation_max_hold!r}.")
        self.law()
        self.rule()

    @property
    def reads_plant_model(self) -> bool:
        """Whether :func:`build_neural` may read the env's python-control model (``plant_model`` None or true)."""
        return self.plant_model is None or self.plant_model is True or self.plant_model is np.True_

    def law(self) -> GaussNewtonLaw:
        """Return the synthesiser settings as a :class:`GaussNewtonLaw`."""
        names = [f.name for f in dataclasses.fields(GaussNewtonLaw)]
        return GaussNewtonLaw(**{n: getattr(self, n) for n in names})

    def rule(self) -> DecoupledEKF | GradientRule:
        """Return the networks' learning rule (:class:`~neurocontrol.nets.ekf.DecoupledEKF` or ``GradientRule``)."""
        if self.learning_rule == "rtrl_gradient":
            return GradientRule(learning_rate=self.learning_rate, measurement_noise=self.measurement_noise,
                                dead_zone=self.dead_zone, outlier_gate=self.outlier_gate)
        return DecoupledEKF(measurement_noise=self.measurement_noise, process_noise=self.process_noise,
                            output_covariance=self.output_covariance, hidden_covariance=self.hidden_covariance,
                            dead_zone=self.dead_zone, outlier_gate=self.outlier_gate, change_gate=self.change_gate,
                            change_memory=self.change_memory)

    def filter_time_constants(self) -> tuple[float, ...] | None:
        """Time constants in control steps of the identifier's filter units (``hidden_filters``), or None."""
        k = self.hidden_filters or 0
        if k == 0:
            return None
        return tuple(np.geomspace(2.0, max(float(self.horizon), 2.0), k).tolist()) if k > 1 else \
            (max(float(self.horizon), 2.0),)

    @property
    def hidden_units(self) -> int:
        """Hidden units the networks are built with: ``n_hidden``, or 0 for ``learning_rule = "rls"``."""
        return 0 if self.learning_rule == "rls" else self.n_hidden
