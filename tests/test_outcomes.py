"""Every shipped scenario does what it is there for, on its full horizon, seeds 0-4.

Each scenario file has one entry in ``CLAIMS``: the claim in words (from the
scenario's description, its comments, README.md and docs/reliability.md), and
the check. The claims were written down before the runs; where a run falls
short of a documented figure the test says so (``xfail(strict=True)`` with the
measured figure) instead of a looser claim. Runs take 0.2-1 s each; the
file runs in about a minute.

Recovery is judged as benchmarks/bench_faults.py judges it, on the *true*
plant outputs (``info["state"]`` seen by an outermost monitor): the outputs
enter the success band (``run.tolerance``) no later than ``t_clear +
allowed`` and stay in it to the end, where ``t_clear`` is when the fault
clears (its onset if persistent).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from neurocontrol.scenario import Scenario
from neurocontrol.simulation.loop import simulate

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (0, 1, 2, 3, 4)


class TrueOutputs(gym.Wrapper):
    """Outermost wrapper: counts non-finite and out-of-range actions, records the true controlled outputs."""

    def __init__(self, env, output_indices):
        super().__init__(env)
        self.low = np.asarray(env.action_space.low, dtype=float)
        self.high = np.asarray(env.action_space.high, dtype=float)
        self.idx = list(output_indices)
        self.nonfinite = self.violations = 0
        self.y = []

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.y = [np.asarray(info["state"])[self.idx].copy()]
        return obs, info

    def step(self, action):
        a = np.asarray(action, dtype=float)
        self.nonfinite += int(not np.all(np.isfinite(a)))
        self.violations += int(np.all(np.isfinite(a)) and (np.any(a < self.low) or np.any(a > self.high)))
        out = self.env.step(action)
        self.y.append(np.asarray(out[4]["state"])[self.idx].copy())
        return out


class Run:
    """One full-length run of a shipped scenario: the Result, true outputs, bands and monitor counts."""

    def __init__(self, name, seed):
        sc = Scenario.from_toml(ROOT / "scenarios" / f"{name}.toml")
        self.scenario = sc
        setup = sc.build(seed)
        env = TrueOutputs(setup.env, setup.controller.output_indices)
        self.result = res = simulate(env, setup.controller, setup.reference, duration=sc.run.duration,
                                     seed=setup.seed, options=setup.options, events=setup.events,
                                     tolerance=dict(sc.run.tolerance), final_window_s=sc.run.final_window_s)
        self.nonfinite, self.violations = env.nonfinite, env.violations
        self.y = np.array(env.y)
        n = len(self.y)
        self.t = res.time[:n]
        self.r = res.references[:n]
        self.tol = np.array([sc.run.tolerance[k] for k in res.output_names])
        self.err = np.abs(self.y - self.r)           # true output error, output units

    @property
    def success(self) -> bool:
        return bool(self.result.metrics["success"])

    def inside(self, t0=-math.inf, t1=math.inf) -> bool:
        """True outputs within the success band over ``t0 <= t < t1``."""
        m = (self.t >= t0) & (self.t < t1)
        return bool(m.any() and np.all(self.err[m] <= self.tol))

    def left_band_after(self, t0) -> bool:
        """Some true output leaves the band at or after ``t0`` (the disturbance really bites)."""
        return bool(np.any(self.err[self.t >= t0] > self.tol))

    def time_in_band(self) -> float:
        """First time from which the true outputs stay in the band to the end (inf: never)."""
        out = np.flatnonzero(np.any(self.err > self.tol, axis=1))
        if out.size == 0:
            return 0.0
        return float(self.t[out[-1] + 1]) if out[-1] + 1 < len(self.t) else math.inf

    def recovered(self, t_clear, allowed) -> bool:
        return self.result.status == "completed" and self.time_in_band() <= t_clear + allowed


@functools.cache
def run(name, seed) -> Run:
    return Run(name, seed)


def runs(name, seeds=SEEDS):
    return [run(name, s) for s in seeds]


def clean(rs):
    """No non-finite action, no action outside the env's limits, every run completed."""
    return all(r.nonfinite == 0 and r.violations == 0 and r.result.status == "completed" for r in rs)


# --------------------------------------------------------------------------------------------- the claims
def hover(name, max_settling=10.0, seeds=SEEDS):
    """Success on every seed (README: 100/100 for adaptive, LQR and PID); both outputs settle within 10 s."""
    rs = runs(name, seeds)
    assert clean(rs)
    assert [r.success for r in rs] == [True] * len(rs)
    for r in rs:
        for o in r.result.metrics["outputs"].values():
            assert o["settling_time"] is not None and o["settling_time"] <= max_settling


def one_step_law_fails(name):
    """README: the faithful one-step law fails (0 of 20 seeds, median final altitude error 0.70 m): no seed
    succeeds and the final altitude error is at least 10x the 2 cm band on every seed."""
    rs = runs(name)
    assert not any(r.success for r in rs)
    assert all(r.result.metrics["outputs"]["altitude"]["final_error"] >= 10 * 0.02 for r in rs)


def staircase(name):
    """Success, and every level of the staircase is reached: in the last 5 s of each 10 s level the altitude
    (and rotor speed) are within the band."""
    rs = runs(name)
    assert clean(rs) and all(r.success for r in rs)
    for r in rs:
        for t_end in (10.0, 20.0, 30.0, 40.0):
            assert r.inside(t_end - 5.0, t_end), (r.result.meta["seed"], t_end)


def rotor_speed_change(name):
    """Success at the new rotor speed (120 rad/s over the last 5 s), altitude held in its 2 cm band from 5 s
    on, through the change; the rotor speed really changed (ends > 15 rad/s below where it was at 9 s)."""
    rs = runs(name)
    assert clean(rs) and all(r.success for r in rs)
    for r in rs:
        m = r.t >= 5.0
        assert np.all(r.err[m, 1] <= r.tol[1])
        assert r.y[r.t >= 9.0][0, 0] - r.y[-1, 0] > 15.0


def sine_success(name):
    """README: 5.3 cm peak error on the 0.3 m, 0.1 Hz sine, band set to 6 cm: success on every seed."""
    rs = runs(name)
    assert clean(rs) and all(r.success for r in rs)


def sine_tracks(name, seeds=SEEDS):
    """The controller follows the sine rather than holding the offset: over the last 5 s the mean altitude
    error is below a third of what holding 1.0 m gives (mean |0.3 sin| = 0.19 m over whole periods)."""
    for r in runs(name, seeds):
        m = r.t >= r.t[-1] - 5.0
        hold = np.mean(np.abs(r.r[m, 1] - 1.0))
        assert hold > 0.1                                    # the reference really moves in the window
        assert np.mean(r.err[m, 1]) < hold / 3


def succeeds(name, seeds=SEEDS):
    """Success (both outputs in their bands over the final window) on every seed, with clean actions."""
    rs = runs(name, seeds)
    assert clean(rs)
    assert [r.success for r in rs] == [True] * len(rs)


def succeeds_on(name, seeds, low, high, allow_stopped=False):
    """Success on between ``low`` and ``high`` of ``seeds`` (a documented partial outcome), clean actions
    (with ``allow_stopped``, runs the env stopped early are allowed; their actions are still checked)."""
    rs = runs(name, seeds)
    if allow_stopped:
        assert all(r.nonfinite == 0 and r.violations == 0 for r in rs)
    else:
        assert clean(rs)
    assert low <= sum(r.success for r in rs) <= high, [r.success for r in rs]


def runs_clean(name, seeds=SEEDS):
    """Every run completes with no non-finite action and no action outside the limits (success not claimed)."""
    assert clean(runs(name, seeds))


def recovers(t_clear, allowed, onset, min_recovered=None):
    """The disturbance bites (some output leaves the band after ``onset``, for the plant changes and gusts)
    or at least changes the run (outputs differ from the fault-free hover run of the same seed), and the true
    outputs are back in the band by ``t_clear + allowed`` to the end; no bad action."""
    def check(name):
        rs = runs(name)
        assert clean(rs)
        for r in rs:
            base = run("helicopter_hover", r.result.meta["seed"])
            n = min(len(base.y), len(r.y))
            after = r.t[:n] >= onset
            assert not np.array_equal(r.y[:n][after], base.y[:n][after]), "the fault changes nothing"
        ok = [r.recovered(t_clear, allowed) for r in rs]
        need = len(rs) if min_recovered is None else min_recovered
        assert sum(ok) >= need, ok
    return check


def bites(onset):
    def check(name):
        assert all(r.left_band_after(onset) for r in runs(name))
    return check


def dropout_rate(name):
    """5 % of the samples are lost (all-NaN rows in the measurements), never the reset sample."""
    for r in runs(name):
        obs = r.result.observations
        lost = np.all(np.isnan(obs), axis=1)
        assert not lost[0] and 0.03 <= lost.mean() <= 0.07


def ilc_reduces_error(name):
    """docs/ilc.md: the network ILC brings the RMS altitude error within 10 % of trial 1 by trial 3 (issue target;
    measured 3.1 % on seed 0) and to <= 5 % by trial 10 (measured 0.91 %); the last trial succeeds."""
    sc = Scenario.from_toml(ROOT / "scenarios" / f"{name}.toml")
    from neurocontrol.scenario import run_scenario

    res = run_scenario(sc)
    rms = res.metrics["ilc"]["rms_error"]["altitude"]
    assert len(rms) == sc.ilc.trials == 10
    assert rms[2] <= 0.10 * rms[0]
    assert rms[-1] <= 0.05 * rms[0]
    assert res.metrics["success"]


def ilc_neural_reduces_error(name):
    """docs/ilc.md: around the neural controller the network ILC brings the RMS altitude error within 10 % of trial
    1 by trial 4 (measured 9.0 % on seed 0; the issue's target is trial 3, 15.0 %) and trial 10 within the
    issue's 0.34 mm (measured 5.91 -> 0.310 mm); the last trial succeeds."""
    from neurocontrol.scenario import run_scenario

    res = run_scenario(Scenario.from_toml(ROOT / "scenarios" / f"{name}.toml"))
    rms = res.metrics["ilc"]["rms_error"]["altitude"]
    assert len(rms) == 10 and rms[3] <= 0.10 * rms[0] and rms[-1] <= 0.34e-3, rms
    assert res.metrics["success"]


def reference_file(name):
    """The key reference (every key at its default: PID, constant set-points, two events) runs its full 30 s
    and succeeds: the defaults are a working configuration."""
    rs = runs(name)
    assert clean(rs) and all(r.success for r in rs)


SINE_XFAIL = pytest.mark.xfail(strict=True, reason=(
    "finding: altitude_sine fails its own 6 cm band on seeds 0-4 (peak altitude error over the last 5 s "
    "7.94-8.01 cm; mean 5.04-5.09 cm); the band was set from an earlier 5.3-5.4 cm"))

#: scenario -> [(claim id, check, marks)]
CLAIMS = {
    "helicopter_hover": [("success", hover, ())],
    "hover_lqr": [("success", hover, ())],
    "hover_pid": [("success", hover, ())],
    # added by another engineer during this work; 5 s per run, so two seeds
    "neural_hover": [("success, seeds 0-1", functools.partial(hover, seeds=(0, 1)), ())],
    "guarded_neural_hover": [("success, seeds 0-1", functools.partial(hover, seeds=(0, 1)), ())],
    "hover_one_step_law": [("fails as documented", one_step_law_fails, ())],
    "altitude_staircase": [("every level reached", staircase, ())],
    "altitude_sine": [("success", sine_success, (SINE_XFAIL,)), ("tracks the sine", sine_tracks, ())],
    "rotor_speed_change": [("new speed, altitude held", rotor_speed_change, ())],
    "vertical_gust": [("gust bites", bites(15.0), ()),
                      ("recovered 10 s after the gust", recovers(16.0, 10.0, 15.0), ())],
    "rotor_drag_change": [("drag change bites", bites(15.0), ()),
                          ("recovered within 10 s", recovers(15.0, 10.0, 15.0), ())],
    "thrust_change": [("thrust change bites", bites(15.0), ()),
                      ("recovered within 10 s", recovers(15.0, 10.0, 15.0), ())],
    "sensor_noise": [("success on the measured outputs, >= 4 of 5 seeds",
                      lambda name: (sum(r.success for r in runs(name)) >= 4) or pytest.fail(
                          [r.success for r in runs(name)]), ())],
    "fault_actuator_loss": [("loss bites", bites(15.0), ()),
                            ("recovered within 15 s", recovers(15.0, 15.0, 15.0), ())],
    "guarded_actuator_loss": [("loss bites", bites(15.0), ()),
                              ("recovered within 15 s", recovers(15.0, 15.0, 15.0), ())],
    "fault_stuck_actuator": [("stuck servo bites", bites(15.0), ()),
                             ("recovered 10 s after release", recovers(17.0, 10.0, 15.0), ())],
    "fault_sensor_bias": [("recovered within 10 s", recovers(15.0, 10.0, 15.0), ())],
    "fault_sensor_noise": [("runs clean", runs_clean, ()),
                           # bench_faults: the adaptive controller's true rotor speed leaves the band under the
                           # noise (0/20 recovered); the neural controller recovers (16/20, faults_neural.json)
                           ("recovered within 10 s", recovers(15.0, 10.0, 15.0),
                            (pytest.mark.xfail(strict=True, reason="adaptive: 0/20 recovered (faults.json)"),))],
    "fault_sensor_dropout": [("5 % samples lost", dropout_rate, ()),
                             ("recovered within 10 s", recovers(0.0, 10.0, 0.0), ())],
    # bench_faults: 97/100 recovered; seed 4 is one of the misses
    "fault_measurement_delay": [("recovered, >= 4 of 5 seeds", recovers(0.0, 10.0, 0.0, min_recovered=4), ())],
    "fault_parameter_drift": [("recovered 10 s after the drift ends", recovers(30.0, 10.0, 10.0), ())],
    "ilc_staircase": [("error / 20 over 10 trials", ilc_reduces_error, ())],
    "ilc_neural": [("error / 10 over 10 trials", ilc_neural_reduces_error, ())],
    "reference_all_keys": [("defaults work", reference_file, ())],
    # the tuning scenario flies the hover task with its untuned settings
    "tune_hover": [("success", hover, ())],
    # the published benchmark plants under the generic LQR with integral action (docs/plants.md)
    "quadtank_pminus": [("success", succeeds, ())],
    # ... and under Johansson's published decentralised PI (kind "pid_gains"): 20/20 in plants.json
    "quadtank_pminus_pi": [("success", succeeds, ())],
    "quadtank_pplus": [("success", succeeds, ())],
    "pvtol_steps": [("success", succeeds, ())],
    "pvtol_pose": [("success", succeeds, ())],
    "cstr_setpoint": [("success", succeeds, ())],
    "twin_rotor_steps": [("success", succeeds, ())],
    # the neural controller with rate lags on the twin rotor: 10 of seeds 0-9, 98 of 0-99 measured, none stopped
    # (docs/neural_controller.md, "Rate lags"; 0 of 20 without lags, all stopped)
    "twin_rotor_neural": [("success on 9-10 of seeds 0-9",
                           functools.partial(succeeds_on, seeds=range(10), low=9, high=10), ())],
    # ... and on the tank at P+ with an identification warm-up, taps, rate-lag bandwidth and a 200-step horizon: 10 of
    # seeds 0-9, 100 of 0-99 and 99 of 100-199 measured with the warm-up's feed-forward (99 of 0-99 without), none
    # stopped (docs/neural_controller.md, "The quadruple tank at P+"; the defaults now derive settings of this kind:
    # tests/test_pplus_neural.py)
    "quadtank_pplus_neural": [("success on 9-10 of seeds 0-9",
                               functools.partial(succeeds_on, seeds=range(10), low=9, high=10), ())],
    # ... and through a pump-gain change at P+ (x1.3 at 400 s), its input gains re-learned after it: 10 of seeds 0-9
    # measured, 99 of 0-99, none stopped (benchmarks/records/plants_change_100.json; docs/neural_controller.md,
    # "Re-identification after a change"; 68 of 100 re-identified in open loop, 0 of 100 with 89 stopped before)
    "quadtank_pplus_change": [("success on 9-10 of seeds 0-9, none stopped",
                               functools.partial(succeeds_on, seeds=range(10), low=9, high=10), ())],
    # ... and on the PVTOL measured by its pose: 6 of seeds 0-9 (2 stopped by the env), 68 of 0-99 measured
    "pvtol_pose_neural": [("success on 4-8 of seeds 0-9",
                           functools.partial(succeeds_on, seeds=range(10), low=4, high=8, allow_stopped=True), ())],
    # the neural controller's ablation scenarios (benchmarks/bench_ablation.py); one seed each, they are slow
    "neural_off_nominal": [("success, seed 0", functools.partial(succeeds, seeds=(0,)), ())],
    "neural_sine_fast": [("runs clean, seed 0", functools.partial(runs_clean, seeds=(0,)), ()),
                         # fixed by the preview lead (docs/neural_controller.md); an xfail before it
                         ("tracks the sine, seed 0", lambda n: sine_tracks(n, seeds=(0,)), ()),
                         ("success, seed 0", functools.partial(succeeds, seeds=(0,)), ())],
    "neural_noise_doubled": [("runs clean, seed 0", functools.partial(runs_clean, seeds=(0,)), ()),
                             # 5 of seeds 0-9 hold the bands (measured with the change detector; LQR about 70 %,
                             # docs/neural_controller.md): better than a rare success, and the scenario's miss stands
                             ("success on 4-8 of seeds 0-9",
                              functools.partial(succeeds_on, seeds=range(10), low=4, high=8), ())],
}

SHIPPED = sorted(p.stem for p in (ROOT / "scenarios").glob("*.toml"))
CASES = [pytest.param(name, check, id=f"{name}: {claim}", marks=marks)
         for name in SHIPPED if name in CLAIMS for claim, check, marks in CLAIMS[name]]


def test_every_shipped_scenario_has_a_claim():
    """A scenario file is shipped for an outcome: adding one means adding its claim here."""
    assert [n for n in SHIPPED if n not in CLAIMS] == []


@pytest.mark.parametrize("name, check", CASES)
def test_shipped_scenario_outcome(name, check):
    check(name)
