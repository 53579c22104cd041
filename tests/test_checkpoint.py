"""Checkpoints: bit-identical continuation, atomic writes, version/corruption errors; sweep --resume."""

import json
import os

import legacy_files
import numpy as np
import pytest

from neurocontrol.checkpoint import (
    FORMAT_VERSION,
    LEGACY_WEIGHTS_FORMAT,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from neurocontrol.exceptions import CheckpointError
from neurocontrol.io import load_weights
from neurocontrol.scenario import Scenario

R = np.array([140.0, 1.0])


def build(noise=False):
    sc = Scenario.from_toml("scenarios/helicopter_hover.toml").set("run.duration", "20")
    if noise:
        sc = sc.set("plant.disturbances.sensor_noise_std", "[0.05, 0.001, 0.001, 0.0, 0.0]")
    return sc.build(0)


def run_to(env, ctrl, obs, n):
    us = []
    for _ in range(n):
        u = ctrl.step(obs, R)
        us.append(u)
        obs, *_ = env.step(u)
    return obs, np.array(us)


@pytest.mark.parametrize("noise", [False, True])
def test_restore_mid_run_continues_bit_identically(tmp_path, noise):
    setup = build(noise)
    env, ctrl = setup.env, setup.controller
    obs, _ = env.reset(seed=11, options=setup.options)
    ctrl.reset(obs, R, seed=12)
    obs, _ = run_to(env, ctrl, obs, 250)               # through the warm-up
    meta = {"step": 250, "plant_state": env.unwrapped.state.tolist(), "observation": obs.tolist(),
            "env_rng": env.unwrapped.np_random.bit_generator.state}
    save_checkpoint(tmp_path / "c.npz", ctrl, meta=meta)
    _, expected = run_to(env, ctrl, obs, 300)
    # a fresh process would build everything again from the scenario
    setup2 = build(noise)
    env2, ctrl2 = setup2.env, setup2.controller
    obs2, _ = env2.reset(seed=99, options=setup2.options)
    ctrl2.reset(obs2, R, seed=99)
    m = load_checkpoint(tmp_path / "c.npz", ctrl2)
    env2.reset(options={"initial_state": m["plant_state"]})
    env2.unwrapped.np_random.bit_generator.state = m["env_rng"]   # after reset: it draws the first noise
    _, got = run_to(env2, ctrl2, np.array(m["observation"]), 300)
    np.testing.assert_array_equal(got, expected)
    assert m["step"] == 250 and m["package_version"]


def test_guarded_controller_checkpoint(tmp_path):
    d = Scenario.from_toml("scenarios/helicopter_hover.toml").to_dict()
    d["controller"] = {"kind": "guarded", "inner": d["controller"]}
    sc = Scenario.from_dict(d)
    ctrl = sc.build(0).controller
    ctrl.reset([140.0, 1.0, 0.0, 0.12, 0.0], R, seed=1)
    for _ in range(120):
        ctrl.step([140.0, 1.0, 0.0, 0.12, 0.0], R)
    save_checkpoint(tmp_path / "g.npz", ctrl)
    a = ctrl.step([140.1, 1.0, 0.0, 0.12, 0.0], R)
    other = sc.build(0).controller
    other.reset([140.0, 1.0, 0.0, 0.12, 0.0], R, seed=5)
    load_checkpoint(tmp_path / "g.npz", other)
    np.testing.assert_array_equal(other.step([140.1, 1.0, 0.0, 0.12, 0.0], R), a)


def saved(tmp_path):
    setup = build()
    ctrl = setup.controller
    ctrl.reset([140.0, 1.0, 0.0, 0.12, 0.0], R, seed=1)
    path = save_checkpoint(tmp_path / "c.npz", ctrl, meta={"a": 1})
    return path, ctrl


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    path, ctrl = saved(tmp_path)
    save_checkpoint(path, ctrl)            # replaces
    assert sorted(os.listdir(tmp_path)) == ["c.npz"]


def rewrite(path, **changes):
    with np.load(path) as npz:
        data = {k: npz[k] for k in npz.files}
    data.update(changes)
    np.savez(path, **data)


def test_bad_checkpoints(tmp_path):
    path, ctrl = saved(tmp_path)
    raw = path.read_bytes()
    (tmp_path / "trunc.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match=r"trunc.npz: not a readable checkpoint \(truncated or corrupted"):
        load_checkpoint(tmp_path / "trunc.npz", ctrl)
    with pytest.raises(CheckpointError, match=r"missing.npz: no such checkpoint file; write one with "
                                              r"save_checkpoint\(path, controller\) or "
                                              r"neurocontrol.io.save_weights\(path, controller\)"):
        load_checkpoint(tmp_path / "missing.npz", ctrl)
    rewrite(path, __format_version__=np.array(FORMAT_VERSION + 1))
    with pytest.raises(CheckpointError, match=r"checkpoint format version 2 is not supported .* reads version 1"):
        load_checkpoint(path, ctrl)
    path, ctrl = saved(tmp_path)
    with np.load(path) as npz:
        W = npz["state/W"] * 1.0
    W[0, 0] += 1e-9
    rewrite(path, **{"state/W": W})
    with pytest.raises(CheckpointError, match=r"checksum mismatch: the checkpoint is corrupted"):
        load_checkpoint(path, ctrl)
    np.savez(tmp_path / "plain.npz", x=np.zeros(3))
    with pytest.raises(CheckpointError, match=r"not a neurocontrol checkpoint \(format 'missing', expected "
                                              r"'neurocontrol.checkpoint'\)"):
        load_checkpoint(tmp_path / "plain.npz", ctrl)
    rewrite(tmp_path / "plain.npz", __format__=np.array("neurocontrol.checkpoint"))
    with pytest.raises(CheckpointError, match=r"the checkpoint has no valid format version; write it again"):
        load_checkpoint(tmp_path / "plain.npz", ctrl)
    rewrite(tmp_path / "plain.npz", __format_version__=np.array(FORMAT_VERSION))
    with pytest.raises(CheckpointError, match=r"the checkpoint header is incomplete \(missing \['__package_version__'"):
        load_checkpoint(tmp_path / "plain.npz", ctrl)
    path, ctrl = saved(tmp_path)
    from plants.helicopter.baselines import LQRController
    lqr = LQRController.from_plant()
    lqr.reset([140.0, 1.0, 0.0, 0.12, 0.0], R)
    with pytest.raises(CheckpointError, match=r"the checkpoint holds a AdaptiveController, not a LQRController"):
        load_checkpoint(path, lqr)
    with pytest.raises(CheckpointError, match=r"`meta` must be JSON-serialisable"):
        save_checkpoint(tmp_path / "m.npz", ctrl, meta={"x": object()})
    with pytest.raises(CheckpointError, match=r"the folder .* does not exist"):
        save_checkpoint(tmp_path / "no" / "c.npz", ctrl)


def assert_same_state(got: dict, want: dict):
    assert sorted(got) == sorted(want)
    for k, v in want.items():
        if isinstance(v, np.ndarray):
            assert got[k].dtype == v.dtype
            np.testing.assert_array_equal(got[k], v, err_msg=k)
        else:
            assert type(got[k]) is type(v) and (got[k] == v or (v != v and got[k] != got[k])), k


def test_files_of_the_earlier_layouts_restore_exactly_their_state():
    """tests/data/legacy_*.npz were written by the code before the single format (see tests/legacy_files.py)."""
    want = legacy_files.pid().get_state()
    for reader, file in ((load_weights, "weights"), (load_checkpoint, "weights"), (load_checkpoint, "checkpoint")):
        target = legacy_files.pid()                      # then reset elsewhere: the file must overwrite it all
        target.reset(legacy_files.Y + 0.5, legacy_files.R)
        meta = reader(legacy_files.DATA / f"legacy_{file}_pid.npz", target)
        assert_same_state(target.get_state(), want)
        if reader is load_checkpoint:
            expected = {**legacy_files.META, "package_version": meta["package_version"]} if file == "checkpoint" \
                else {"package_version": "unknown"}
            assert meta == expected


@pytest.mark.parametrize("name", ["pid", "adaptive"])
def test_contents_of_files_of_the_earlier_layouts(name):
    """The reader returns exactly what the old files hold (read back here with plain numpy)."""
    for file in ("weights", "checkpoint"):
        path = legacy_files.DATA / f"legacy_{file}_{name}.npz"
        got = read_checkpoint(path)
        with np.load(path) as npz:
            raw = {k: npz[k] for k in npz.files}
        prefix = "state/" if file == "checkpoint" else ""
        want = {k[len(prefix):]: v for k, v in raw.items() if k.startswith(prefix) and not k.startswith("__")}
        kinds = json.loads(str(raw["__kinds__"])) if file == "checkpoint" else {}
        assert got.controller == str(raw["__controller__"]) and sorted(got.state) == sorted(want)
        for k, v in want.items():
            if v.ndim == 0 and kinds.get(k, "scalar") != "array":
                assert got.state[k] == v.item() and not isinstance(got.state[k], np.ndarray), k
            else:
                np.testing.assert_array_equal(got.state[k], v, err_msg=k)
        assert got.meta == ({**legacy_files.META, "package_version": str(raw["__package_version__"])}
                            if file == "checkpoint" else {"package_version": "unknown"})


def test_files_of_the_earlier_layouts_fail_with_named_errors(tmp_path):
    pid = legacy_files.pid()
    with pytest.raises(CheckpointError, match=r"legacy_weights_adaptive.npz: the checkpoint holds a "
                                              r"AdaptiveController, not a PIDController"):
        load_weights(legacy_files.DATA / "legacy_weights_adaptive.npz", pid)
    with pytest.raises(CheckpointError, match=r"legacy_checkpoint_adaptive.npz: the checkpoint holds a "
                                              r"AdaptiveController, not a PIDController"):
        load_checkpoint(legacy_files.DATA / "legacy_checkpoint_adaptive.npz", pid)
    np.savez(tmp_path / "old.npz", __format__=np.array(LEGACY_WEIGHTS_FORMAT), integrators=np.zeros(2))
    with pytest.raises(CheckpointError, match=r"old.npz: the weights file names no controller class \(missing "
                                              r"`__controller__`\); write it again with save_checkpoint"):
        load_weights(tmp_path / "old.npz", pid)
    np.savez(tmp_path / "old.npz", __format__=np.array(LEGACY_WEIGHTS_FORMAT),
             __controller__=np.array("PIDController"), integrators=np.zeros(3))
    with pytest.raises(CheckpointError, match=r"old.npz: the checkpoint does not fit this controller: .*; build the "
                                              r"controller with the settings it was saved with"):
        load_weights(tmp_path / "old.npz", pid)


def test_checkpoint_of_other_settings_does_not_fit(tmp_path):
    path, _ = saved(tmp_path)
    sc = Scenario.from_toml("scenarios/helicopter_hover.toml").set("controller.identifier_rule", "{kind = 'two_d'}")
    other = sc.build(0).controller
    other.reset([140.0, 1.0, 0.0, 0.12, 0.0], R, seed=1)
    with pytest.raises(CheckpointError, match=r"does not fit this controller: `state` does not fit"):
        load_checkpoint(path, other)


def test_sweep_resume_skips_finished_seeds(tmp_path, monkeypatch):
    from neurocontrol.experiments import sweeps as sweep_mod

    sc = Scenario.from_toml("scenarios/hover_pid.toml").set("run.duration", "1")
    out = tmp_path / "sw"
    first = sweep_mod.sweep(sc, [0, 1], workers=1, out=out)
    ran = []
    real = sweep_mod._run_jobs
    monkeypatch.setattr(sweep_mod, "_run_jobs", lambda jobs, *args: ran.extend(j.seed for j in jobs)
                        or real(jobs, *args))
    (out / "seed_1" / "run.json").unlink()          # seed 1 "interrupted" after writing its files
    again = sweep_mod.sweep(sc, [0, 1, 2], workers=1, out=out, resume=True)
    assert ran == [1, 2]
    strip = [{k: v for k, v in m.items() if k != "control_step_us"} for m in (*again.metrics[:2], *first.metrics)]
    assert strip[:2] == strip[2:]
    assert json.loads((out / "seed_2" / "run.json").read_text())["scenario_sha256"] == sc.sha256
    ran.clear()
    sweep_mod.sweep(sc.set("run.duration", "2"), [0], workers=1, out=out, resume=True)   # other settings: rerun
    assert ran == [0]


def test_cli_resume(tmp_path):
    from neurocontrol.cli import main

    out = str(tmp_path / "s")
    args = ["sweep", "scenarios/hover_pid.toml", "--set", "run.duration=1", "--seeds", "0:2", "--workers", "1",
            "--out", out, "--json"]
    assert main(args) == 0
    assert main(args + ["--resume"]) == 0
    assert main(args[:-3] + ["--resume"]) == 2
