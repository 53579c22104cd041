"""The closed-loop runner: a real loop (plant integrates itself, controller sees only observations),
determinism, stop conditions, events, metadata and argument errors."""

import dataclasses
import math
import sys

import gymnasium as gym
import numpy as np
import pytest

import plants
from neurocontrol.controllers.base import AbstractController
from neurocontrol.exceptions import NonFiniteError, ParameterError, ShapeError
from neurocontrol.reference import Constant, MultiSignal, Sine
from neurocontrol.results import Result
from neurocontrol.simulation import AbstractEvent, ParameterChange, TrialSpec, seed_streams, signal_names, simulate
from plants.helicopter import dynamics, trim
from plants.helicopter.baselines import LQRController, PIDController

ID = plants.HELICOPTER_ID
HOVER = MultiSignal(signals=(Constant(value=140.0), Constant(value=1.0)))
TOL = {"rotor_speed": 1.4, "altitude": 0.02}
DISTURBED = dict(gust_rate=1.0, gust_amplitude=2.0, sensor_noise_std=[0.2, 0.005, 0.01, 0.001, 0.05],
                 param_perturbation=0.05)


class SpyController(AbstractController):
    """Random bounded actions around trim; remembers every argument it was given."""

    def __init__(self, seed=0):
        super().__init__(input_limits=((0.0, 400.0), (-600.0, 600.0)), output_indices=(0, 1), dt=0.01)
        self.rng = np.random.default_rng(seed)
        self.seen, self.refs, self.reset_seed = [], [], None
        self.trim = trim(140.0).u

    def _reset_impl(self, observation, reference, seed):
        self.seen.append(observation.copy())
        self.reset_seed = seed

    def _step_impl(self, observation, reference):
        self.seen.append(observation.copy())
        self.refs.append(reference.copy())
        return self.trim + self.rng.uniform(-20, 20, 2)


def without_timing(metrics):
    return {k: v for k, v in metrics.items() if k != "control_step_us"}


def test_pid_hover_run_succeeds():
    res = simulate(gym.make(ID), PIDController.from_plant(), HOVER, duration=30.0, seed=0, tolerance=TOL)
    assert isinstance(res, Result) and res.status == "completed" and res.n_steps == 3000
    assert res.metrics["success"] and res.metrics["steps"] == 3000
    assert res.output_names == ("rotor_speed", "altitude")
    assert res.input_names == ("throttle", "collective_servo")
    assert res.metrics["outputs"]["altitude"]["tolerance"] == 0.02
    assert res.metrics["control_step_us"] > 0
    np.testing.assert_allclose(res.time[-1], 30.0)
    meta = res.meta
    assert meta["seed"] == 0 and meta["dt"] == 0.01 and meta["integrator"]["substeps"] == 5
    assert meta["integrator"]["method"].startswith("rk4")
    assert set(meta["versions"]) >= {"numpy", "gymnasium", "control", "numba", "neurocontrol", "python"}
    assert meta["modes"] == [{"mode": "baseline", "start_step": 0, "end_step": 3000}]
    assert meta["units"]["altitude"] == "m" and meta["stop_reason"] is None


def test_same_seed_gives_bit_identical_runs_with_every_disturbance():
    runs = [simulate(gym.make(ID, **DISTURBED), LQRController.from_plant(), HOVER, duration=3.0, seed=11,
                     tolerance=TOL) for _ in range(2)]
    a, b = runs
    for name in ("time", "observations", "outputs", "references", "inputs", "saturated", "prediction_error",
                 "inner_iterations"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert without_timing(a.metrics) == without_timing(b.metrics)
    assert a.meta["seed_streams"] == b.meta["seed_streams"]
    c = simulate(gym.make(ID, **DISTURBED), LQRController.from_plant(), HOVER, duration=3.0, seed=12, tolerance=TOL)
    assert not np.array_equal(a.observations, c.observations)


def test_seed_streams_are_independent_and_reproducible():
    s = seed_streams(5)
    assert s == seed_streams(5)._replace(spare=s.spare) and s.entropy == 5
    assert len({s.plant, s.controller, seed_streams(6).plant}) == 3
    assert seed_streams(None).entropy != seed_streams(None).entropy
    with pytest.raises(ParameterError, match=r"`seed` must be a non-negative int"):
        seed_streams(-1)


def test_loop_is_real_plant_integrates_itself_and_controller_sees_only_observations():
    env = gym.make(ID, sensor_noise_std=[0.5, 0.01, 0.02, 0.002, 0.05], param_perturbation=0.1)
    spy = SpyController()
    states = []
    res = simulate(env, spy, HOVER, duration=1.0, seed=3, tolerance=TOL,
                   callback=lambda k, info: states.append(info["env_info"]["state"]))
    # the controller got exactly the observations the env returned, and the set-points, nothing else
    assert len(spy.seen) == res.n_steps + 1  # reset, then one per step
    np.testing.assert_array_equal(spy.seen[0], res.observations[0])
    np.testing.assert_array_equal(np.array(spy.seen[1:]), res.observations[:-1])
    np.testing.assert_array_equal(np.array(spy.refs), res.references[:-1])
    assert isinstance(spy.reset_seed, int) and spy.reset_seed == res.meta["seed_streams"]["controller"]
    # observations are noisy measurements, not the state
    true = np.array(states)
    assert not np.allclose(res.observations[1:], true)
    # each true state is the plant's own RK4 step of the previous true state under the applied input
    prm = env.unwrapped.params  # the perturbed plant of this episode
    env2 = gym.make(ID, sensor_noise_std=[0.5, 0.01, 0.02, 0.002, 0.05], param_perturbation=0.1)
    _, info0 = env2.reset(seed=res.meta["seed_streams"]["plant"])
    x = info0["state"]
    for k in range(res.n_steps):
        x_next = dynamics.step(x, res.inputs[k], prm, dt=0.01, substeps=5)
        np.testing.assert_array_equal(x_next, true[k])
        x = true[k]


def test_terminated_plant_stops_the_run_as_failed():
    class Idle(SpyController):
        def _step_impl(self, observation, reference):
            return np.array([0.0, 0.0])   # throttle off: the rotor slows below its range

    res = simulate(gym.make(ID), Idle(), HOVER, duration=10.0, seed=0, tolerance=TOL)
    assert res.status == "failed" and not res.metrics["success"]
    assert 0 < res.n_steps < 1000 and res.metrics["steps"] == res.n_steps
    assert "terminated" in res.meta["stop_reason"]
    assert res.saturated[:, 0].all()  # throttle on its lower limit


def test_diverging_controller_is_recorded_as_failed():
    class Broken(SpyController):
        def _step_impl(self, observation, reference):
            self.seen.append(observation)
            return np.array([np.nan, 0.0]) if len(self.seen) > 5 else self.trim

    res = simulate(gym.make(ID), Broken(), HOVER, duration=1.0, seed=0, tolerance=TOL)
    assert res.status == "failed" and res.n_steps == 4 and "diverged" in res.meta["stop_reason"]


def test_callback_returning_false_stops_the_run():
    seen = []

    def stop_at_10(k, info):
        seen.append((k, info["time"]))
        return k < 9 and None

    res = simulate(gym.make(ID), PIDController.from_plant(), HOVER, duration=1.0, seed=0, tolerance=TOL,
                   callback=stop_at_10)
    assert res.status == "converged" and res.meta["stop_reason"] == "callback" and res.n_steps == 10
    assert seen[-1] == (9, pytest.approx(0.1))


def test_parameter_change_event_acts_between_steps():
    env = gym.make(ID)
    applied = []
    res = simulate(env, PIDController.from_plant(), HOVER, duration=1.0, seed=0, tolerance=TOL,
                   events=[ParameterChange(time=0.5, factors={"a8": 1.3, "a9": 1.3})],
                   callback=lambda k, info: applied.append(env.unwrapped.params.a8))
    nominal = env.unwrapped.nominal_params.a8
    assert applied[49] == nominal and applied[50] == pytest.approx(1.3 * nominal)
    (record,) = res.meta["events"]
    assert record["kind"] == "parameter_change" and record["step"] == 50
    assert record["after"]["a9"] == pytest.approx(1.3 * record["before"]["a9"])


def test_events_are_small_frozen_dataclasses_and_validate():
    ev = ParameterChange(time=1, factors={"a8": 2})
    assert ev.time == 1.0 and ev.factors == {"a8": 2.0} and ev.kind == "parameter_change"
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.time = 2.0
    with pytest.raises(ParameterError, match=r"`time` must be a finite number >= 0 s, got -1\."):
        ParameterChange(time=-1, factors={"a8": 2.0})
    with pytest.raises(ParameterError, match=r"`factors\['a8'\]` must be a finite number >= 0, got nan"):
        ParameterChange(time=1, factors={"a8": math.nan})
    with pytest.raises(ParameterError, match=r"`factors` must be a non-empty dict"):
        ParameterChange(time=1, factors={})
    with pytest.raises(ParameterError, match=r"unknown or non-numeric plant parameters \['a99'\]; valid names: .*a8"):
        simulate(gym.make(ID), PIDController.from_plant(), HOVER, duration=1.0, seed=0,
                 events=[ParameterChange(time=0.1, factors={"a99": 2.0})])
    late = simulate(gym.make(ID), PIDController.from_plant(), HOVER, duration=1.0, seed=0,
                    events=[ParameterChange(time=1.0, factors={"a8": 2.0})])  # at the end: never acts
    assert late.meta["events"] == [] and late.meta["events_not_reached"] == [{"kind": "parameter_change", "time": 1.0}]
    with pytest.raises(ParameterError, match=r"`events\[0\]` must be an event such as ParameterChange, got dict"):
        simulate(gym.make(ID), PIDController.from_plant(), HOVER, duration=1.0, events=[{"time": 0.1}])


def test_custom_event_subclass():
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class SetpointNote(AbstractEvent):
        kind = "note"
        text: str

        def _apply_impl(self, env):
            return {"text": self.text}

    res = simulate(gym.make(ID), PIDController.from_plant(), HOVER, duration=0.2, seed=0,
                   events=[SetpointNote(time=0.0, text="hello")])
    assert res.meta["events"] == [{"kind": "note", "time": 0.0, "text": "hello", "step": 0}]


def test_any_box_env_with_output_indices():
    class PendulumP(AbstractController):
        def __init__(self):
            super().__init__(input_limits=[[-2.0, 2.0]], output_indices=(2,), dt=0.05)

        def _reset_impl(self, observation, reference, seed):
            pass

        def _step_impl(self, observation, reference):
            return np.array([0.5 * (reference[0] - observation[2])])

    res = simulate(gym.make("Pendulum-v1"), PendulumP(), Sine(amplitude=1.0, frequency_hz=0.5), duration=2.0,
                   seed=0, tolerance=10.0)
    assert res.status == "completed" and res.n_steps == 40 and res.output_names == ("y0",)
    assert res.observations.shape == (41, 3) and res.inputs.shape == (40, 1)


def test_tolerance_default_and_forms():
    res = simulate(gym.make(ID), PIDController.from_plant(), HOVER, duration=0.1, seed=0)
    assert res.metrics["outputs"]["rotor_speed"]["tolerance"] == pytest.approx(1.4)
    res = simulate(gym.make(ID), PIDController.from_plant(), HOVER, duration=0.1, seed=0, tolerance=[2.0, 0.1])
    assert res.metrics["outputs"]["altitude"]["tolerance"] == 0.1
    with pytest.raises(ParameterError, match=r"`tolerance` must give one value per controlled output .*missing \['altitude'\]"):
        simulate(gym.make(ID), PIDController.from_plant(), HOVER, duration=0.1, tolerance={"rotor_speed": 1.0})
    with pytest.raises(ShapeError, match=r"`tolerance` must be a scalar, shape \(2,\) or a dict"):
        simulate(gym.make(ID), PIDController.from_plant(), HOVER, duration=0.1, tolerance=[1.0, 2.0, 3.0])
    with pytest.raises(ParameterError, match=r"`tolerance` must be positive"):
        simulate(gym.make(ID), PIDController.from_plant(), HOVER, duration=0.1, tolerance=0.0)


def test_argument_errors():
    pid = PIDController.from_plant()
    with pytest.raises(ParameterError, match=r"`duration` must be a finite number > 0 s, got -1\."):
        simulate(gym.make(ID), pid, HOVER, duration=-1)
    with pytest.raises(ParameterError, match=r"shorter than one control period"):
        simulate(gym.make(ID), pid, HOVER, duration=0.001)
    with pytest.raises(ParameterError, match=r"time limit ends the episode after 3000 steps .*max_episode_steps=4000"):
        simulate(gym.make(ID), pid, HOVER, duration=40.0)
    simulate(gym.make(ID, max_episode_steps=4000), pid, HOVER, duration=0.1)  # the fix works
    with pytest.raises(ParameterError, match=r"designed for dt = 0.02 s but the env steps dt = 0.01 s"):
        simulate(gym.make(ID), PIDController.from_plant(dt=0.02), HOVER, duration=1.0)
    with pytest.raises(ShapeError, match=r"`reference` must give 2 set-points"):
        simulate(gym.make(ID), pid, MultiSignal(signals=(Constant(value=1.0),)), duration=1.0)
    with pytest.raises(ParameterError, match=r"`env` must be a gymnasium.Env"):
        simulate("heli", pid, HOVER, duration=1.0)
    with pytest.raises(ParameterError, match=r"`controller` must have `output_indices`"):
        simulate(gym.make(ID), object(), HOVER, duration=1.0)
    with pytest.raises(ParameterError, match=r"`callback` must be callable"):
        simulate(gym.make(ID), pid, HOVER, duration=1.0, callback=3)
    with pytest.raises(ParameterError, match=r"`final_window_s` must be a finite number >= 0 s, got -1\.0"):
        simulate(gym.make(ID), pid, HOVER, duration=1.0, final_window_s=-1.0)


def test_progress_is_silent_without_a_terminal(capsys):
    simulate(gym.make(ID), PIDController.from_plant(), HOVER, duration=0.5, seed=0, progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_modes_and_learning_diagnostics_are_recorded():
    class Learner(SpyController):
        def diagnostics(self):
            n = len(self.seen)
            return {"prediction_error": 1.0 / n, "inner_iterations": n % 3, "mode": "warmup" if n < 10 else "adaptive"}

    res = simulate(gym.make(ID), Learner(), HOVER, duration=0.3, seed=0)
    assert res.meta["modes"] == [{"mode": "warmup", "start_step": 0, "end_step": 8},
                                 {"mode": "adaptive", "start_step": 8, "end_step": 30}]
    assert res.meta["mode_fractions"] == {"warmup": 8 / 30, "adaptive": 22 / 30}
    np.testing.assert_allclose(res.prediction_error, 1.0 / np.arange(2, 32))
    np.testing.assert_array_equal(res.inner_iterations, np.arange(2, 32) % 3)


def test_docstring_examples_run():
    import doctest

    import neurocontrol.simulation.loop

    result = doctest.testmod(neurocontrol.simulation.loop, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


def test_progress_bar_only_on_a_terminal(monkeypatch):
    import io

    pytest.importorskip("tqdm")   # the optional `progress` extra (installed by `test`)

    from neurocontrol.simulation import loop as sim

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert sim._make_progress(100, True) is None          # pytest's stderr is not a terminal
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert sim._make_progress(100, False) is None
    bar = sim._make_progress(100, True)
    assert bar is not None and bar.total == 100
    bar.close()


# --------------------------------------------------------------------------- names declared by the plant


class ScalarEnv(gym.Env):
    """x(t+1) = 0.5 x(t) + u(t), observation (x, 2x); action box [-1, 1]; records the raw actions it is sent."""

    def __init__(self, declare=True, noise=0.0):
        self.dt, self.noise = 0.1, noise
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float64)
        if declare:
            self.observation_names, self.input_names = ("level", "double_level"), ("pump",)
            self.units = {"level": "m", "pump": "m/s"}
        self.sent = []

    def _obs(self):
        return np.array([self.x, 2 * self.x]) + self.noise * self.np_random.standard_normal(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = float((options or {}).get("initial_state", [0.0])[0])
        return self._obs(), {}

    def step(self, action):
        self.sent.append(np.array(action, dtype=float))
        self.x = 0.5 * self.x + float(np.clip(action, -1.0, 1.0)[0])
        return self._obs(), 0.0, False, False, {}


class Echo(AbstractController):
    """u = reference - y (no clipping of its own beyond wide limits); records what it was given."""

    def __init__(self, limit=100.0, with_start_trial=False):
        super().__init__(input_limits=[[-limit, limit]], output_indices=(0,), dt=0.1)
        self.refs, self.calls = [], []
        if with_start_trial:
            self.start_trial = lambda obs, ref: self.calls.append(("start_trial", np.array(ref)))

    def _reset_impl(self, observation, reference, seed):
        self.calls.append(("reset", np.array(reference)))

    def _step_impl(self, observation, reference):
        self.refs.append(reference.copy())
        return np.array([reference[0] - observation[0]])


def test_signal_names_come_from_the_plant_declaration_or_generic_defaults():
    names = signal_names(ScalarEnv(), [1])
    assert names == {"observation_names": ("level", "double_level"), "input_names": ("pump",),
                     "output_names": ("double_level",), "units": {"level": "m", "pump": "m/s"}}
    names = signal_names(ScalarEnv(declare=False), [1])
    assert names == {"observation_names": ("obs0", "obs1"), "input_names": ("u0",), "output_names": ("y0",),
                     "units": {}}
    heli = signal_names(gym.make(ID), [0, 1])          # the helicopter declares its own
    assert heli["output_names"] == ("rotor_speed", "altitude") and heli["units"]["altitude"] == "m"
    res = simulate(ScalarEnv(), Echo(), Constant(value=0.5), duration=0.5, seed=0)
    assert res.output_names == ("level",) and res.input_names == ("pump",) and res.meta["units"]["level"] == "m"
    bad = ScalarEnv()
    bad.observation_names = ("level",)
    with pytest.raises(ParameterError, match=r"`ScalarEnv.observation_names` must name each of the 2 observation "
                                             r"entries with a str, got \('level',\); fix the plant's declaration"):
        signal_names(bad, [0])


def test_the_loop_sends_the_controller_action_unchanged_and_records_what_the_plant_applied():
    env = ScalarEnv()
    res = simulate(env, Echo(), Constant(value=5.0), duration=0.3, seed=0)   # Echo asks for 5 > the box
    assert env.sent[0][0] == 5.0                      # no clipping in the loop: the plant clips for itself
    np.testing.assert_array_equal(res.inputs[:, 0], np.clip([s[0] for s in env.sent], -1, 1))
    assert res.saturated[:, 0].all()


def test_non_finite_reference_is_a_non_finite_error():
    with pytest.raises(NonFiniteError, match=r"`reference` must be finite at every time of the run"):
        simulate(ScalarEnv(), Echo(), lambda t: np.full(len(t), np.nan), duration=0.3)
    with pytest.raises(ParameterError, match=r"`reference` must be callable as reference\(timepts\)"):
        simulate(ScalarEnv(), Echo(), [1.0], duration=0.3)


# --------------------------------------------------------------------------- one trial of a repeated task


def test_trial_gives_the_controller_its_references_and_feedforward_and_records_the_task():
    n = 5
    shifted = np.arange(n, dtype=float)[:, None] / 10
    ff = np.full((n, 1), 0.25)
    ctrl = Echo()
    res = simulate(ScalarEnv(), ctrl, Constant(value=0.5), duration=0.5, seed=0, options={"initial_state": [0.0]},
                   trial=TrialSpec(references=shifted, feedforward=ff))
    np.testing.assert_array_equal(np.array(ctrl.refs), shifted)                 # the controller got r_c
    np.testing.assert_array_equal(res.references, np.full((n + 1, 1), 0.5))     # the record keeps the task
    # plain-numpy reference of the loop: u = r_c - y + v (inside the wide limits), x+ = 0.5 x + clip(u)
    x, xs = 0.0, [0.0]
    for t in range(n):
        u = shifted[t, 0] - x + 0.25
        x = 0.5 * x + float(np.clip(u, -1, 1))
        xs.append(x)
    np.testing.assert_allclose(res.outputs[:, 0], xs, rtol=0, atol=1e-15)
    assert ctrl.calls[0][0] == "reset" and ctrl.calls[0][1][0] == shifted[0, 0]
    assert res.meta["trial_start"] == "reset" and res.meta["feedforward"] is True


def test_trial_start_and_plant_seeding():
    ctrl = Echo(with_start_trial=True)
    simulate(ScalarEnv(), ctrl, Constant(value=0.5), duration=0.2, seed=0, trial=TrialSpec(start="start_trial"))
    assert [c[0] for c in ctrl.calls] == ["start_trial"]
    env = ScalarEnv(noise=0.1)
    a = simulate(env, Echo(), Constant(value=0.5), duration=0.2, seed=4)
    b = simulate(env, Echo(), Constant(value=0.5), duration=0.2, seed=4, trial=TrialSpec(reseed_plant=False))
    c = simulate(env, Echo(), Constant(value=0.5), duration=0.2, seed=4, trial=TrialSpec(reseed_plant=True))
    assert not np.array_equal(a.observations, b.observations)      # the env's stream continued
    np.testing.assert_array_equal(a.observations, c.observations)  # reseeded: the same noise


@pytest.mark.parametrize("trial, controller, error, match", [
    (TrialSpec(start="start_trial"), Echo(), ParameterError, r"'start_trial' needs a controller with start_trial"),
    (TrialSpec(references=np.zeros((3, 1))), Echo(), ShapeError, r"`trial.references` must have shape \(5, 1\)"),
    (TrialSpec(feedforward=np.zeros((5, 2))), Echo(), ShapeError, r"`trial.feedforward` must have shape \(5, 1\)"),
    ("reset", Echo(), ParameterError, r"`trial` must be a TrialSpec or None, got str"),
])
def test_trial_errors(trial, controller, error, match):
    with pytest.raises(error, match=match):
        simulate(ScalarEnv(), controller, Constant(value=0.5), duration=0.5, seed=0, trial=trial)


def test_trial_spec_validates():
    with pytest.raises(ParameterError, match=r"`start` must be one of \('reset', 'start_trial'\), got 'warm'"):
        TrialSpec(start="warm")
    with pytest.raises(NonFiniteError, match=r"`feedforward` must be finite"):
        TrialSpec(feedforward=[[np.nan]])
    with pytest.raises(ParameterError, match=r"`reseed_plant` must be True or False, got 1"):
        TrialSpec(reseed_plant=1)


def test_stop_kind_is_recorded():
    assert simulate(ScalarEnv(), Echo(), Constant(value=0.5), duration=0.2, seed=0).meta["stop_kind"] is None
    res = simulate(ScalarEnv(), Echo(), Constant(value=0.5), duration=0.5, seed=0, callback=lambda k, i: k < 1)
    assert res.meta["stop_kind"] == "callback"


class NotingController(SpyController):
    """A SpyController with ``run_notes``: the number of steps it flew (none: an empty dict)."""

    def __init__(self, quiet=False):
        super().__init__()
        self.quiet = quiet

    def run_notes(self):
        return {} if self.quiet else {"steps_flown": len(self.refs)}


@pytest.mark.parametrize("quiet", [False, True])
def test_a_controllers_run_notes_are_recorded_at_the_end_unless_empty(quiet):
    res = simulate(gym.make(ID), NotingController(quiet), HOVER, duration=0.5, seed=0)
    if quiet:
        assert "controller_notes" not in res.meta
    else:
        assert res.meta["controller_notes"] == {"steps_flown": 50}       # asked after the last step
    plain = simulate(gym.make(ID), SpyController(), HOVER, duration=0.5, seed=0)
    assert "controller_notes" not in plain.meta                          # a controller without the hook
