import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import plants
from neurocontrol.exceptions import NonFiniteError, OutOfRangeError, ParameterError, ShapeError
from plants.helicopter import HelicopterEnv, observation_bounds, step, trim

ENV_ID = "neurocontrol/Helicopter-v0"
AT_TRIM = trim(140.0).x


def make_unwrapped(**kwargs):
    return gym.make(ENV_ID, **kwargs).unwrapped


# gymnasium's check_env recommends a [-1, 1] action box; this env's actions are physical
# units by design (normalisation is a wrapper's job), so that one advisory is filtered here.
@pytest.mark.filterwarnings("ignore:.*For Box action spaces, we recommend")
def test_check_env_passes():
    check_env(make_unwrapped())


@pytest.mark.filterwarnings("ignore:.*For Box action spaces, we recommend")
def test_check_env_passes_with_all_disturbances():
    check_env(make_unwrapped(gust_rate=2.0, gust_amplitude=1.0, sensor_noise_std=[0.5, 0.01, 0.01, 0.001, 0.01],
                             param_perturbation=0.05))


def test_registration_and_wrappers():
    spec = gym.spec(ENV_ID)
    assert spec.max_episode_steps == 3000
    plants.register_envs()                     # idempotent: no re-registration warning (warnings are errors)
    env = gym.make(ENV_ID)
    assert isinstance(env.unwrapped, HelicopterEnv) and env.unwrapped.dt == 0.01
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs) and env.observation_space.dtype == np.float64
    assert env.action_space.dtype == np.float64
    np.testing.assert_array_equal(env.action_space.low, [0, -600])
    np.testing.assert_array_equal(env.action_space.high, [400, 600])
    assert set(info) >= {"saturated", "time", "setpoint", "state"}
    for k in range(3000):
        obs, r, terminated, truncated, info = env.step(env.unwrapped.trim_action)
        assert not terminated
    assert truncated and info["time"] == pytest.approx(30.0)


def test_same_seed_is_deterministic_over_1000_steps_with_all_disturbances():
    kwargs = dict(gust_rate=1.0, gust_amplitude=2.0, gust_schedule=[(2.0, 0.5, 3.0)],
                  sensor_noise_std=[0.2, 0.005, 0.01, 0.001, 0.05], param_perturbation=0.05)
    runs = []
    for _ in range(2):
        env = gym.make(ENV_ID, **kwargs)
        obs, info = env.reset(seed=123)
        trace = [obs]
        base = env.unwrapped.trim_action
        for k in range(1000):
            a = base + np.array([5.0 * np.sin(0.01 * k), 2.0 * np.cos(0.03 * k)])
            obs, r, term, trunc, info = env.step(a)
            trace += [obs, r, info["state"], info["time"]]
        runs.append(trace)
    for a, b in zip(*runs):
        assert np.array_equal(a, b)
    env = gym.make(ENV_ID, **kwargs)
    other, _ = env.reset(seed=124)
    assert not np.array_equal(other, runs[0][0])


def test_random_initial_state_is_at_rest_in_the_documented_ranges():
    env = HelicopterEnv()
    for seed in range(20):
        obs, info = env.reset(seed=seed)
        x = info["state"]
        assert 120 <= x[0] <= 160 and 0.2 <= x[1] <= 1.5 and x[2] == 0.0 and x[4] == 0.0
        assert x[3] == pytest.approx(trim(x[0]).collective, abs=1e-12)
        np.testing.assert_array_equal(obs, x)
        np.testing.assert_array_equal(info["setpoint"], [140.0, 1.0])
        assert info["time"] == 0.0 and not info["saturated"].any()


def test_step_clips_and_reports_saturation():
    env = HelicopterEnv()
    env.reset(seed=0, options={"initial_state": AT_TRIM})
    _, _, _, _, info = env.step(np.array([500.0, -700.0]))
    np.testing.assert_array_equal(info["saturated"], [True, True])
    np.testing.assert_array_equal(info["action"], [400.0, -600.0])
    assert info["saturated"].dtype == bool and info["saturated"].shape == (2,)
    ref = step(AT_TRIM, [400.0, -600.0])
    np.testing.assert_array_equal(info["state"], ref)           # the env step is exactly the kernel step
    _, _, _, _, info = env.step([100.0, 600.0])                   # lists work; limits are inclusive
    np.testing.assert_array_equal(info["saturated"], [False, False])


def test_bad_actions_raise_and_never_reach_the_plant():
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    before = env.unwrapped.state
    with pytest.raises(NonFiniteError, match=r"`action` must be finite, got \[nan, 0\.0\]; the plant was not stepped\."):
        env.step(np.array([np.nan, 0.0]))
    with pytest.raises(NonFiniteError, match=r"`action` must be finite, got \[100\.0, inf\]"):
        env.step([100.0, np.inf])
    with pytest.raises(ShapeError, match=r"`action` must have shape \(2,\), got \(3,\)\."):
        env.step(np.zeros(3))
    with pytest.raises(ShapeError, match=r"`action` must have shape \(2,\), got \(\)\."):
        env.step(1.0)
    with pytest.raises(ShapeError, match=r"`action` must be a numeric array, got str"):
        env.step("up")
    np.testing.assert_array_equal(env.unwrapped.state, before)
    assert env.unwrapped.time == 0.0


def test_reset_options_are_validated():
    env = HelicopterEnv()
    with pytest.raises(OutOfRangeError, match=r"`setpoint` rotor speed must be in \[89\.4467, 180\.0000\] rad/s "
                                              r"\(where the helicopter can hover\), got 200\.0\."):
        env.reset(options={"setpoint": (200.0, 1.0)})
    with pytest.raises(OutOfRangeError, match=r"`setpoint` altitude must be in \[0\.0, 2\.0\] m \(the stand\), got -0\.1\."):
        env.reset(options={"setpoint": (140.0, -0.1)})
    with pytest.raises(ShapeError, match=r"`setpoint` must have shape \(2,\), got \(1,\)\."):
        env.reset(options={"setpoint": [140.0]})
    with pytest.raises(OutOfRangeError, match=r"`initial_state\[1\]` \(altitude\) must be in \[0\.0, 2\.0\], got 2\.5\."):
        env.reset(options={"initial_state": [140.0, 2.5, 0.0, 0.1, 0.0]})
    with pytest.raises(OutOfRangeError, match=r"`initial_state\[0\]` \(rotor_speed\) must be in \[74\.25, 180\.0\], got 60\.0\."):
        env.reset(options={"initial_state": [60.0, 1.0, 0.0, 0.1, 0.0]})
    with pytest.raises(OutOfRangeError, match=r"`initial_state\[3\]` \(collective\) must be in \[0\.0175, 0\.245\]"):
        env.reset(options={"initial_state": [140.0, 1.0, 0.0, 0.3, 0.0]})
    with pytest.raises(ShapeError, match=r"`initial_state` must have shape \(5,\), got \(3,\)\."):
        env.reset(options={"initial_state": [140.0, 1.0, 0.0]})
    with pytest.raises(NonFiniteError, match=r"`initial_state` must be finite"):
        env.reset(options={"initial_state": [140.0, np.nan, 0.0, 0.1, 0.0]})
    with pytest.raises(ParameterError, match=r"unknown reset options \['init'\]; valid: 'initial_state', 'setpoint'\."):
        env.reset(options={"init": AT_TRIM})
    obs, info = env.reset(options={"initial_state": AT_TRIM, "setpoint": (120.0, 0.5)})
    np.testing.assert_array_equal(obs, AT_TRIM)
    np.testing.assert_array_equal(env.setpoint, [120.0, 0.5])
    np.testing.assert_allclose(env.trim_action, trim(120.0).u)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"dt": 0.0}, ParameterError, r"`dt` must be a finite number > 0 s, got 0\.0\."),
    ({"substeps": 0}, ParameterError, r"`substeps` must be an integer >= 1 and <= 10000, got 0\."),
    ({"setpoint": (50.0, 1.0)}, OutOfRangeError, r"`setpoint` rotor speed must be in \[89\.4467, 180\.0000\]"),
    ({"reward_weights": (-1.0, 1.0)}, ParameterError, r"`reward_weights` must be non-negative and not both zero"),
    ({"gust_rate": -1.0}, ParameterError, r"`gust_rate` must be a finite number >= 0 1/s, got -1\.0\."),
    ({"gust_duration": 0.0}, ParameterError, r"`gust_duration` must be a finite number > 0 s, got 0\.0\."),
    ({"gust_schedule": [(1.0, -0.5, 2.0)]}, ParameterError, r"`gust_schedule` rows must be \(t_start >= 0 s, duration > 0 s"),
    ({"gust_schedule": [(1.0, 0.5)]}, ShapeError, r"`gust_schedule` must have shape \(N, 3\), got \(1, 2\)\."),
    ({"sensor_noise_std": [0.1, 0.1]}, ShapeError, r"`sensor_noise_std` must have shape \(5,\), got \(2,\)\."),
    ({"sensor_noise_std": [0.1, -0.1, 0, 0, 0]}, ParameterError, r"`sensor_noise_std` must be non-negative"),
    ({"param_perturbation": 0.3}, ParameterError, r"`param_perturbation` must be a finite number >= 0 and <= 0\.25, got 0\.3\."),
    ({"render_mode": "human"}, ParameterError, r"`render_mode` must be None or one of \['rgb_array'\], got 'human'\."),
    ({"params": {"a3": -1.0}}, ParameterError, r"`a3 \+ a4\*theta` must be positive"),
])
def test_constructor_arguments_are_validated(kwargs, error, match):
    with pytest.raises(error, match=match):
        HelicopterEnv(**kwargs)


def test_rotor_leaving_its_range_terminates():
    env = HelicopterEnv()
    env.reset(seed=0, options={"initial_state": AT_TRIM})
    for k in range(1000):
        _, _, terminated, _, info = env.step([0.0, env.trim_action[1]])
        if terminated:
            break
    assert terminated and info["state"][0] < 74.25 and 0.3 < info["time"] < 1.0   # ~170 rad/s^2 of drag


def test_reward_is_zero_at_setpoint_and_normalised():
    env = HelicopterEnv(reward_weights=(1.0, 3.0))
    env.reset(options={"initial_state": AT_TRIM})
    _, r, *_ = env.step(env.trim_action)
    assert r == pytest.approx(0.0, abs=1e-20)
    env.reset(options={"initial_state": [120.0, 0.0, 0.0, 0.1, 0.0], "setpoint": (140.0, 2.0)})
    _, r, *_, info = env.step(env.trim_action)
    x = info["state"]
    expected = -(1.0 * ((x[0] - 140) / 105.75) ** 2 + 3.0 * ((x[1] - 2.0) / 2.0) ** 2) / 4.0
    assert r == pytest.approx(expected, rel=1e-12) and -1.0 <= r < -0.2


def test_true_states_stay_inside_the_sensor_ranges_under_extreme_inputs():
    env = HelicopterEnv()
    rng = np.random.default_rng(7)
    box = env.observation_space
    for episode in range(6):
        env.reset(seed=episode)
        for k in range(600):
            if k % int(rng.integers(5, 80)) == 0:
                a = np.where(rng.random(2) < 0.5, env.action_space.low, env.action_space.high)
            _, _, terminated, _, info = env.step(a)
            assert box.contains(info["state"])
            if terminated:
                break
    np.testing.assert_allclose(observation_bounds(), [[0.0, -0.5, -22.8, -0.09625, -38.08],
                                                      [360.0, 2.5, 22.8, 0.35875, 38.08]])


def test_sensor_noise_is_seeded_and_measures_the_true_state():
    std = np.array([0.5, 0.01, 0.02, 0.001, 0.05])
    env = HelicopterEnv(sensor_noise_std=std)
    env.reset(seed=3, options={"initial_state": AT_TRIM})
    errors = []
    for _ in range(2000):
        obs, _, _, _, info = env.step(env.trim_action)
        errors.append(obs - info["state"])
    errors = np.array(errors)
    np.testing.assert_allclose(errors.std(axis=0), std, rtol=0.1)
    assert np.all(np.abs(errors.mean(axis=0)) < 4 * std / np.sqrt(2000))
    np.testing.assert_allclose(env.state, AT_TRIM, atol=1e-9)   # noise does not feed back into the plant


def test_gust_schedule_adds_vertical_acceleration_exactly():
    env = HelicopterEnv(gust_schedule=[(0.5, 0.2, 4.0)])
    env.reset(options={"initial_state": AT_TRIM})
    x = AT_TRIM.copy()
    u = env.trim_action
    for k in range(100):
        t = k * 0.01
        x = step(x, u, accel=4.0 if 0.5 <= t + 1e-12 < 0.7 else 0.0)
        _, _, _, _, info = env.step(u)
        assert np.array_equal(info["state"], x), k
    assert 0.7 < x[2] < 0.8           # ~ 4 m/s^2 for 0.2 s, minus friction


def test_random_gusts_are_seeded_and_move_the_plant():
    def run(seed):
        env = HelicopterEnv(gust_rate=2.0, gust_amplitude=2.0, gust_duration=0.3)
        env.reset(seed=seed, options={"initial_state": AT_TRIM})
        return np.array([env.step(env.trim_action)[4]["state"] for _ in range(500)])

    a, b, c = run(1), run(1), run(2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.abs(a[:, 2]).max() > 0.05


def test_parameter_perturbation_is_drawn_at_reset():
    env = HelicopterEnv(param_perturbation=0.1)
    env.reset(seed=5)
    p1 = env.params
    env.reset(seed=5)
    assert env.params == p1 and p1 != env.nominal_params
    ratios = np.array(list(p1.coefficients().values())) / np.array(list(env.nominal_params.coefficients().values()))
    assert np.all((ratios >= 0.25) & (ratios <= 1.75)) and np.std(ratios) > 0.02
    env.reset(seed=6)
    assert env.params != p1


def test_set_params_mid_episode_models_a_fault():
    nominal, faulty = HelicopterEnv(), HelicopterEnv()
    for env in (nominal, faulty):
        env.reset(seed=0, options={"initial_state": AT_TRIM})
    p = faulty.params
    bad = p.replace(a8=1.3 * p.a8, a9=1.3 * p.a9)
    u = nominal.trim_action
    for k in range(2000):
        if k == 1500:                                    # t = 15 s
            faulty.set_params(bad)
            x_before = faulty.state
        xa = nominal.step(u)[4]["state"]
        xb = faulty.step(u)[4]["state"]
        if k < 1500:
            assert np.array_equal(xa, xb)
        if k == 1500:
            assert np.array_equal(xb, step(x_before, u, bad))
    assert xb[0] < xa[0] - 10                            # more rotor drag: the rotor slows down
    faulty.reset(seed=0)
    assert faulty.params == faulty.nominal_params        # reset restores the nominal plant
    with pytest.raises(ParameterError, match=r"`params` must be a HelicopterParams, a dict of its fields or None"):
        faulty.set_params(3)


def test_properties_are_read_only_copies():
    env = HelicopterEnv()
    env.reset(seed=0)
    s = env.state
    s[:] = 0.0
    assert env.state[0] > 100
    sp = env.setpoint
    sp[0] = 1.0
    assert env.setpoint[0] == 140.0
    ta = env.trim_action
    ta[:] = 0
    np.testing.assert_allclose(env.trim_action, trim(140.0).u)


def test_render_rgb_array():
    env = HelicopterEnv(render_mode="rgb_array")
    env.reset(seed=0)
    env.step(env.trim_action)
    img = env.render()
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and img.std() > 0
    env.close()
    assert HelicopterEnv().render() is None


def test_dt_and_substeps_are_configurable():
    env = HelicopterEnv(dt=0.02, substeps=20)
    assert env.dt == 0.02 and env.metadata["render_fps"] == 50
    env.reset(options={"initial_state": AT_TRIM})
    u = np.array([180.0, -90.0])
    _, _, _, _, info = env.step(u)
    assert np.array_equal(info["state"], step(AT_TRIM, u, dt=0.02, substeps=20))
    assert info["time"] == 0.02


def test_demo_writes_plots_and_prints_summary(tmp_path, capsys):
    from plants.helicopter.demo import run_demo

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = run_demo(out=tmp_path / "demo", seconds=2.0, seed=1)
    line = capsys.readouterr().out.strip()
    assert line.startswith("plant-demo: 2.00 s simulated") and "\n" not in line
    for f in res["files"]:
        assert f.exists() and f.stat().st_size > 10_000 and f.read_bytes()[:4] == b"\x89PNG"
    assert res["states"].shape == (201, 5)
    assert np.all(np.abs(res["states"][:, 0] - 140) < 5)
    with pytest.raises(ParameterError, match=r"`seconds` must be in \(0, 600\] s, got -1"):
        run_demo(out=tmp_path, seconds=-1)


def test_cli_plant_demo(tmp_path, capsys):
    from neurocontrol.cli import main

    assert main(["plant-demo", "--out", str(tmp_path), "--seconds", "1", "--seed", "2"]) == 0
    assert "plant-demo:" in capsys.readouterr().out
    assert (tmp_path / "states.png").exists() and (tmp_path / "inputs.png").exists()


def test_every_env_declares_its_signals_and_units():
    env = gym.make(ENV_ID).unwrapped
    assert env.observation_names == ("rotor_speed", "altitude", "climb_rate", "collective", "collective_rate")
    assert env.input_names == ("throttle", "collective_servo")
    assert env.units == {"rotor_speed": "rad/s", "altitude": "m", "climb_rate": "m/s", "collective": "rad",
                         "collective_rate": "rad/s", "throttle": "rad/s^2", "collective_servo": "rad/s^2"}
    assert len(env.observation_names) == env.observation_space.shape[0]
    assert len(env.input_names) == env.action_space.shape[0]
    env.units["altitude"] = "ft"                           # a caller's edit stays with that env
    assert gym.make(ENV_ID).unwrapped.units["altitude"] == "m"
    vec = gym.make_vec(ENV_ID, num_envs=2)
    assert (vec.unwrapped.observation_names, vec.unwrapped.input_names) == (env.observation_names, env.input_names)
    assert vec.unwrapped.units == gym.make(ENV_ID).unwrapped.units


def test_import_plants_registers_every_env_id_the_docs_name():
    """In a fresh interpreter: `import plants` alone must make every documented id available."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    texts = [p.read_text() for p in [root / "README.md", *root.glob("docs/*.md"), *root.glob("plants/**/*.py")]]
    from neurocontrol.gym_wrappers import ENV_IDS as WRAPPER_IDS  # registered by importing that module

    ids = sorted(set(re.findall(r"neurocontrol/[A-Za-z]+-v\d+", "\n".join(texts))) - set(WRAPPER_IDS))
    assert {"neurocontrol/Helicopter-v0", "neurocontrol/IOSystem-v0"} <= set(ids)
    code = ("import sys, gymnasium as gym, plants\n"
            "missing = [i for i in sys.argv[1:] if i not in gym.registry]\n"
            "import control\n"
            "sys_ = control.nlsys(lambda t, x, u, p: -x + u, None, states=['v'], inputs=['f'], outputs=['v'])\n"
            "env = gym.make('neurocontrol/IOSystem-v0', sys=sys_, dt=0.1, input_limits=[[-1, 1]])\n"
            "print(missing, env.unwrapped.observation_names)\n")
    out = subprocess.run([sys.executable, "-c", code, *ids], capture_output=True, text=True, cwd=root, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[] ('v',)"
