import control
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from neurocontrol.control_bridge import sample_iosys
from neurocontrol.exceptions import DivergenceError, NonFiniteError, ParameterError, ShapeError
from plants.iosys_env import IOSYSTEM_ID, IOSystemEnv, register_env, rk4_step


def lag(**kw):
    return control.nlsys(lambda t, x, u, p: -p.get("a", 1.0) * x + u, None, states=["v"], inputs=["force"],
                         outputs=["v"], name="lag", **kw)


def two_mass():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("custom_plant", Path(__file__).parents[1] / "examples" /
                                                  "custom_plant.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def make(**kw):
    args = dict(dt=0.1, substeps=4, input_limits=[[-1.0, 1.0]], observation_low=[-5.0], observation_high=[5.0])
    args.update(kw)
    return IOSystemEnv(lag(), **args)


def test_check_env_passes_through_make_with_noise_and_sampler():
    env = gym.make(IOSYSTEM_ID, sys=lag(), dt=0.1, substeps=4, input_limits=[[-1.0, 1.0]],
                   x0=lambda rng: rng.uniform(-1, 1, 1), observation_low=[-5], observation_high=[5],
                   output_noise_std=0.01, max_episode_steps=50)
    check_env(env.unwrapped)
    register_env()   # idempotent


# check_env recommends a [-1, 1] action box; physical units are by design (normalisation is a wrapper's job)
@pytest.mark.filterwarnings("ignore:.*For Box action spaces, we recommend")
def test_check_env_two_mass_plant():
    mod = two_mass()
    env = gym.make(IOSYSTEM_ID, sys=mod.make_plant(), dt=0.01, substeps=2, input_limits=[[-10, 10]] * 2,
                   observation_low=[-1.5, -1.5, -4, -4], observation_high=[1.5, 1.5, 4, 4])
    check_env(env.unwrapped)


def test_rk4_matches_exponential_and_names_dt_units():
    env = make(units={"v": "m/s", "force": "N"})
    obs, info = env.reset(seed=0)
    obs, r, term, trunc, info = env.step(np.array([0.0]))
    env.reset(options={"initial_state": [1.0]})
    obs, *_ = env.step(np.array([0.0]))
    assert obs[0] == pytest.approx(np.exp(-0.1), abs=1e-8)
    assert env.unwrapped.dt == 0.1 and env.substeps == 4 and env.integrator.startswith("rk4")
    assert env.state_names == ("v",) and env.input_names == ("force",) and env.observation_names == ("v",)
    assert env.units["v"] == "m/s"


def test_env_equals_input_output_response_of_sampled_system():
    mod = two_mass()
    sys = mod.make_plant()
    env = IOSystemEnv(sys, dt=0.01, substeps=2, input_limits=[[-10, 10]] * 2)
    x0 = np.array([0.2, -0.1, 0.0, 0.3])
    env.reset(options={"initial_state": x0})
    rng = np.random.default_rng(1)
    U = rng.uniform(-5, 5, (2, 200))
    obs = [env.reset(options={"initial_state": x0})[0]]
    for k in range(199):
        obs.append(env.step(U[:, k])[0])
    resp = control.input_output_response(sample_iosys(sys, dt=0.01, substeps=2), np.arange(200) * 0.01, U, x0)
    np.testing.assert_array_equal(np.array(obs).T, resp.outputs)


def test_discrete_system_uses_its_update_and_saturates():
    sys = control.nlsys(lambda t, x, u, p: 0.5 * x + u, None, states=1, inputs=1, outputs=1, dt=0.2)
    env = IOSystemEnv(sys, input_limits=[[-1.0, 1.0]], x0=[2.0])
    assert env.dt == 0.2 and env.discrete
    env.reset(seed=0)
    obs, r, term, trunc, info = env.step(np.array([3.0]))
    assert obs[0] == 2.0 and info["saturated"].tolist() == [True] and info["action"].tolist() == [1.0]


def test_statespace_observation_selection_reward_and_termination():
    ss = control.ss([[0.0, 1.0], [-1.0, -0.5]], [[0.0], [1.0]], np.eye(2), 0, inputs="u", outputs=["pos", "vel"],
                    states=["p", "v"])
    env = IOSystemEnv(ss, dt=0.05, input_limits=[[-1, 1]], observation=["vel"], setpoint=[0.0],
                      state_bounds=[[-0.1, 0.1], [-10, 10]], x0=[0.09, 0.0])
    obs, _ = env.reset(seed=0)
    assert env.observation_names == ("vel",) and obs.shape == (1,)
    terminated = False
    for _ in range(20):
        obs, reward, terminated, _, _ = env.step(np.array([1.0]))
        assert reward == pytest.approx(-obs[0] ** 2)
        if terminated:
            break
    assert terminated


def test_same_seed_same_noise():
    runs = []
    for _ in range(2):
        env = make(output_noise_std=0.1, x0=lambda rng: rng.normal(size=1))
        trace = [env.reset(seed=5)[0]] + [env.step(np.array([0.3]))[0] for _ in range(20)]
        runs.append(np.array(trace))
    np.testing.assert_array_equal(*runs)


def test_rk4_step_order():
    errs = [abs(rk4_step(lambda t, x, u, p: -x, 0.0, np.array([1.0]), np.zeros(0), {}, 1.0, n)[0] - np.exp(-1))
            for n in (4, 8)]
    assert 12 < errs[0] / errs[1] < 20     # fourth order


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(dt=None), ParameterError, r"`dt` is required for a continuous-time system"),
    (dict(dt=-1.0), ParameterError, r"`dt` must be a finite number > 0 s, got -1\.0\."),
    (dict(substeps=0), ParameterError, r"`substeps` must be an integer >= 1 and <= 10000, got 0\."),
    (dict(input_limits=[[1.0, -1.0]]), ParameterError, r"`input_limits` must have lower < upper"),
    (dict(input_limits=[[0.0, 1.0], [0.0, 1.0]]), ShapeError, r"`input_limits` must have shape \(1, 2\)"),
    (dict(observation=["nope"]), ParameterError, r"`observation` names unknown signal 'nope'"),
    (dict(observation=[0, 0]), ParameterError, r"`observation` must name distinct signals"),
    (dict(observation_low=[1.0], observation_high=[0.0]), ParameterError, r"`observation_low` must be below"),
    (dict(output_noise_std=-1.0), ParameterError, r"`output_noise_std` must be non-negative"),
    (dict(units={"speed": "m/s"}), ParameterError, r"`units` names unknown signal 'speed'; the system has "
                                                    r"\['force', 'v'\]"),
    (dict(units={"v": 1.0}), ParameterError, r"`units\['v'\]` must be a unit string such as 'm/s', got 1.0"),
    (dict(units=[("v", "m/s")]), ParameterError, r"`units` must be a mapping signal name -> unit string, got list"),
])
def test_constructor_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        make(**kwargs)


def test_other_errors():
    with pytest.raises(ParameterError, match=r"`sys` must be a control.NonlinearIOSystem"):
        IOSystemEnv("plant", dt=0.1, input_limits=[[0, 1]])
    dsys = control.nlsys(lambda t, x, u, p: x, None, states=1, inputs=1, outputs=1, dt=0.2)
    with pytest.raises(ParameterError, match=r"differs from the discrete system's period 0.2 s"):
        IOSystemEnv(dsys, dt=0.1, input_limits=[[0, 1]])
    with pytest.raises(ParameterError, match=r"`substeps` must be 1 for a discrete-time system"):
        IOSystemEnv(dsys, substeps=2, input_limits=[[0, 1]])
    env = make()
    with pytest.raises(ParameterError, match=r"unknown reset options \['setpoint'\]"):
        env.reset(options={"setpoint": 1})
    env.reset(seed=0)
    with pytest.raises(NonFiniteError, match=r"`action` must be finite"):
        env.step(np.array([np.nan]))
    env = make(x0=lambda rng: np.zeros(3))
    with pytest.raises(ParameterError, match=r"the `x0` sampler must return a finite state of shape \(1,\)"):
        env.reset(seed=0)
    boom = control.nlsys(lambda t, x, u, p: x * np.inf, None, states=1, inputs=1, outputs=1)
    env = IOSystemEnv(boom, dt=1.0, substeps=1, input_limits=[[0, 1]], x0=[1e10])
    env.reset(seed=0)
    with pytest.raises(DivergenceError, match=r"the state became non-finite"):
        env.step(np.array([0.0]))


def test_declared_signals_come_from_the_system():
    env = make(units={"v": "m/s", "force": "N"})
    assert (env.observation_names, env.input_names, env.state_names) == (("v",), ("force",), ("v",))
    assert env.units == {"v": "m/s", "force": "N"} and make().units == {}
    mod = two_mass()
    env = mod.make_env()
    assert env.observation_names == ("x1", "x2", "v1", "v2") and env.input_names == ("u1", "u2")
    assert env.units["x1"] == "m" and env.units["u2"] == "N"
