import os
import stat

import numpy as np
import pytest

from neurocontrol._files import atomic_write
from neurocontrol.checkpoint import FORMAT, FORMAT_VERSION, load_checkpoint, save_checkpoint
from neurocontrol.controllers.adaptive import AdaptiveController
from neurocontrol.exceptions import CheckpointError, ParameterError
from neurocontrol.io import load_weights, save_weights
from neurocontrol.scenario import Scenario
from neurocontrol.simulation.loop import simulate


def hover(seed=0):
    return Scenario.from_toml("scenarios/helicopter_hover.toml").set("run.duration", "3").build(seed)


def test_trained_weights_load_into_a_fresh_controller_and_continue_identically(tmp_path):
    a = hover()
    simulate(a.env, a.controller, a.reference, duration=3.0, seed=0, options=a.options)
    path = save_weights(tmp_path / "hover", a.controller)
    assert path.name == "hover.npz" and path.exists()
    b = hover()
    obs, _ = b.env.reset(seed=0, options=b.options)
    b.controller.reset(obs, [140.0, 1.0], seed=1)       # builds the buffers; then the saved state replaces them
    load_weights(path, b.controller)
    np.testing.assert_array_equal(b.controller.identifier_weights, a.controller.identifier_weights)
    np.testing.assert_array_equal(b.controller.imitator_weights, a.controller.imitator_weights)
    y = obs.copy()
    for _ in range(20):
        np.testing.assert_array_equal(a.controller.step(y, np.array([140.0, 1.0])),
                                      b.controller.step(y, np.array([140.0, 1.0])))


def test_errors(tmp_path):
    a = hover()
    obs, _ = a.env.reset(seed=0, options=a.options)
    a.controller.reset(obs, [140.0, 1.0], seed=0)
    with pytest.raises(CheckpointError, match=r"missing.npz: no such checkpoint file; write one with save_checkpoint"):
        load_weights(tmp_path / "missing.npz", a.controller)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match=r"junk.npz: not a readable checkpoint \(truncated or corrupted file"):
        load_weights(tmp_path / "junk.npz", a.controller)
    np.savez(tmp_path / "other.npz", x=np.ones(2))
    with pytest.raises(CheckpointError, match=r"not a neurocontrol checkpoint \(format 'missing', expected "
                                              r"'neurocontrol.checkpoint'\); write it with save_checkpoint"):
        load_weights(tmp_path / "other.npz", a.controller)
    from plants.helicopter.baselines import PIDController

    pid = PIDController.from_plant()
    pid.reset(obs, [140.0, 1.0])
    p = save_weights(tmp_path / "pid.npz", pid)
    with pytest.raises(CheckpointError, match=r"the checkpoint holds a PIDController, not a AdaptiveController; "
                                              r"build the same controller class"):
        load_weights(p, a.controller)
    good = save_weights(tmp_path / "a.npz", a.controller)
    other = hover()
    cfg = other.controller.config
    import dataclasses

    from neurocontrol.controllers.adaptive import AdaptiveControllerConfig
    from neurocontrol.nets.rules import RecursiveLeastSquares

    small = dataclasses.replace(AdaptiveControllerConfig(**{f.name: getattr(cfg, f.name) for f in
                                                            dataclasses.fields(AdaptiveControllerConfig)}),
                                imitator_rule=RecursiveLeastSquares(), warmup_duration=0.5)
    c = AdaptiveController(small, input_limits=((0, 400), (-600, 600)), output_indices=(0, 1), dt=0.01)
    c.reset(obs, [140.0, 1.0])
    with pytest.raises(CheckpointError, match=r"does not fit this controller"):
        load_weights(good, c)


def test_weights_files_are_checkpoints(tmp_path):
    """save_weights writes the one checkpoint format: header, version, checksum; either reader takes it."""
    a = hover()
    obs, _ = a.env.reset(seed=0, options=a.options)
    a.controller.reset(obs, [140.0, 1.0], seed=0)
    path = save_weights(tmp_path / "sub" / "w", a.controller)       # folder created, suffix added
    assert path == tmp_path / "sub" / "w.npz"
    with np.load(path) as npz:
        assert str(npz["__format__"]) == FORMAT and int(npz["__format_version__"]) == FORMAT_VERSION
        assert len(str(npz["__checksum__"])) == 64
        W = npz["state/W"].copy()
        data = {k: npz[k] for k in npz.files}
    b = hover()
    b.controller.reset(obs, [140.0, 1.0], seed=5)
    assert load_checkpoint(path, b.controller) == {"package_version": str(data["__package_version__"])}
    np.testing.assert_array_equal(b.controller.identifier_weights, a.controller.identifier_weights)
    W[0, 0] = np.nextafter(W[0, 0], np.inf)                              # one ulp: the checksum notices
    np.savez(path, **{**data, "state/W": W})
    with pytest.raises(CheckpointError, match=r"checksum mismatch: the checkpoint is corrupted"):
        load_weights(path, b.controller)
    save_checkpoint(tmp_path / "c.npz", a.controller, meta={"k": 1})
    load_weights(tmp_path / "c.npz", b.controller)                       # and a checkpoint loads as weights
    np.testing.assert_array_equal(b.controller.imitator_weights, a.controller.imitator_weights)


def test_atomic_write_replaces_whole_files_and_keeps_plain_permissions(tmp_path):
    p = atomic_write(tmp_path / "a.txt", "grüße")
    assert p.read_bytes() == "grüße".encode() and sorted(os.listdir(tmp_path)) == ["a.txt"]
    plain = tmp_path / "plain.txt"
    with open(plain, "w") as f:
        f.write("x")
    assert stat.S_IMODE(p.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    os.chmod(p, 0o640)
    atomic_write(p, b"\x00\x01")                                        # a replaced file keeps its mode
    assert p.read_bytes() == b"\x00\x01" and stat.S_IMODE(p.stat().st_mode) == 0o640
    with pytest.raises(ParameterError, match=r"`data` must be bytes or str, got dict; encode or serialise it"):
        atomic_write(p, {"a": 1})


def test_atomic_write_failure_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    p = atomic_write(tmp_path / "keep.bin", b"old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(p, b"new content")
    assert p.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["keep.bin"]
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "no" / "x.bin", b"x")
