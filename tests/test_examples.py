"""The ecosystem examples run (short options) and do what they claim; the API docs build."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def load(path):
    name = Path(path).stem
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod          # so that pickled top-level factories resolve in worker processes
    spec.loader.exec_module(mod)
    return mod


def test_custom_plant_example_tracks_with_the_adaptive_controller(capsys):
    mod = load("examples/custom_plant.py")
    (res,) = mod.main(["--seed", "1", "--duration", "40"])
    assert res.status == "completed" and res.metrics["success"]
    assert max(o["final_error"] for o in res.metrics["outputs"].values()) < 0.02
    assert "x1 RMSE" in capsys.readouterr().out


def test_gym_pipeline_example_sync_and_async():
    mod = load("examples/gym_pipeline.py")
    sync = mod.run(n_envs=2, seconds=0.3, asynchronous=False)
    asyn = mod.run(n_envs=2, seconds=0.3, asynchronous=True)
    assert sync == asyn and all(r is not None for r in sync["zero residual"])


def test_ppo_example_tiny_budget(capsys):
    pytest.importorskip("stable_baselines3")
    mod = load("examples/ppo_vs_adaptive.py")
    res = mod.main(["--timesteps", "128", "--seeds", "1", "--duration", "1"])
    assert set(res) == {"adaptive", "ppo", "ppo+adaptive"}
    assert "PPO budget 128 env steps" in capsys.readouterr().out


def test_api_reference_builds(tmp_path):
    mod = load("docs/build_api.py")
    paths = mod.build(tmp_path)
    names = {p.name for p in paths}
    assert {"index.md", "neurocontrol.control_bridge.md", "plants.iosys_env.md", "neurocontrol.experiments.tuning.md"} <= names
    text = (tmp_path / "neurocontrol.control_bridge.md").read_text()
    assert "## `controller_iosys(" in text and "Parameters" in text


def test_hover_adaptive_example_runs(tmp_path):
    mod = load("examples/hover_adaptive.py")
    result = mod.main(["--seed", "1", "--duration", "8", "--out", str(tmp_path)])
    assert result.status == "completed" and np.all(np.isfinite(result.inputs))
    assert (tmp_path / "hover.png").stat().st_size > 0
