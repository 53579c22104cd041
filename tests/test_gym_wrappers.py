import functools
import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import plants  # noqa: F401
from neurocontrol.exceptions import ParameterError, ShapeError
from neurocontrol.gym_wrappers import NormalizeObservation, ReferenceSelectionEnv, ResidualControlEnv
from neurocontrol.reference import Constant, MultiSignal
from plants.helicopter.baselines import PIDController

REF = MultiSignal(signals=(Constant(value=140.0), Constant(value=1.0)))


def pid_factory(env):
    return PIDController.from_plant()


def make_residual(steps=200):
    return ResidualControlEnv(gym.make("neurocontrol/Helicopter-v0", max_episode_steps=steps), pid_factory, REF)


def make_reference(steps=200):
    return ReferenceSelectionEnv(gym.make("neurocontrol/Helicopter-v0", max_episode_steps=steps), pid_factory,
                                 reference_low=(130.0, 0.5), reference_high=(150.0, 1.5), hold_steps=5)


def make_adaptive_residual(steps=100):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "examples"))
    from gym_pipeline import make_residual_env

    return make_residual_env(steps * 0.01)


# check_env warns when the env it checks is wrapped; gym.make always wraps (OrderEnforcing, PassiveEnvChecker)
WRAPPED = pytest.mark.filterwarnings("ignore:.*is different from the unwrapped version")
RESIDUAL_ID = "neurocontrol.gym_wrappers:neurocontrol/ResidualControl-v0"   # imports the module, then makes
REFERENCE_ID = "neurocontrol.gym_wrappers:neurocontrol/ReferenceSelection-v0"


@WRAPPED
def test_check_env_residual_made_with_gym_make():
    env = gym.make(RESIDUAL_ID, env=gym.make("neurocontrol/Helicopter-v0", max_episode_steps=200),
                   controller=pid_factory, reference=REF)
    assert env.spec is not None and env.spec.id == "neurocontrol/ResidualControl-v0"
    check_env(env)   # includes re-creating the env from its spec (render modes, close)
    again = env.spec.make()
    np.testing.assert_array_equal(env.reset(seed=4)[0], again.reset(seed=4)[0])


@WRAPPED
def test_check_env_reference_selection_made_with_gym_make():
    env = gym.make(REFERENCE_ID, env=gym.make("neurocontrol/Helicopter-v0", max_episode_steps=200),
                   controller=pid_factory, reference_low=(130.0, 0.5), reference_high=(150.0, 1.5), hold_steps=5)
    assert env.spec is not None and env.spec.id == "neurocontrol/ReferenceSelection-v0"
    check_env(env)


@WRAPPED
@pytest.mark.filterwarnings("ignore:.*we recommend using a symmetric and normalized space")   # physical inputs
def test_check_env_normalize_observation_on_a_gym_make_env():
    env = NormalizeObservation(gym.make("neurocontrol/Helicopter-v0"), low=[0, 0, -3, 0, -10],
                               high=[200, 2, 3, 0.3, 10])
    check_env(env)   # re-creates the wrapper from env.spec: needs the recorded constructor arguments
    spec_wrapper = env.spec.additional_wrappers[-1]
    assert spec_wrapper.entry_point == "neurocontrol.gym_wrappers:NormalizeObservation"
    assert spec_wrapper.kwargs == {"low": [0, 0, -3, 0, -10], "high": [200, 2, 3, 0.3, 10]}
    again = env.spec.make()
    np.testing.assert_array_equal(again.reset(seed=2)[0], env.reset(seed=2)[0])


def scalar_reference(t):
    # the scalar form, reference(t) -> (p,): works only for a float t
    return [140.0 + math.sin(t), 1.0 + 0.1 * t]


def vectorised_reference(t):
    # the vectorised form of simulate, reference(t_array) -> (T, p): needs an array
    return np.column_stack([140.0 + np.sin(t), 1.0 + 0.1 * np.asarray(t)]) if len(t) else np.empty((0, 2))


@pytest.mark.parametrize("reference", [scalar_reference, vectorised_reference, REF])
def test_residual_env_accepts_both_reference_forms(reference):
    env = ResidualControlEnv(gym.make("neurocontrol/Helicopter-v0", max_episode_steps=50), pid_factory, reference)
    obs, _ = env.reset(seed=0)
    constant = reference is REF
    for k in range(1, 6):
        t = 0.01 * (k - 1)
        want = [140.0, 1.0] if constant else [140.0 + math.sin(t), 1.0 + 0.1 * t]
        np.testing.assert_allclose(obs[5:], want, rtol=1e-15)
        obs, *_ = env.step(np.zeros(2))


def test_residual_env_rejects_a_reference_of_the_wrong_shape():
    heli = gym.make("neurocontrol/Helicopter-v0")
    with pytest.raises(ShapeError, match=r"`reference` must map a time t \(s\) to 2 set-points or a time array "
                                         r"\(T,\) to \(T, 2\), got shape \(3,\) for t = 0\.0 and shape \(3,\)"):
        ResidualControlEnv(heli, pid_factory, lambda t: [1.0, 2.0, 3.0])
    with pytest.raises(ShapeError, match=r"got TypeError: object of type 'float' has no len\(\) for t = 0\.0 and "
                                         r"TypeError: unsupported operand"):
        ResidualControlEnv(heli, pid_factory, lambda t: len(t) + None)


def test_zero_residual_equals_the_controller_alone():
    env = make_residual()
    obs, _ = env.reset(seed=3)
    inner = gym.make("neurocontrol/Helicopter-v0", max_episode_steps=200)
    pid = PIDController.from_plant()
    # same seed path as the wrapper: the first draw of the wrapper's np_random seeds the inner env
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(3)))
    y, _ = inner.reset(seed=int(rng.integers(0, 2 ** 31 - 1)))
    np.testing.assert_array_equal(obs[:5], y)
    pid.reset(y, [140.0, 1.0])
    for _ in range(50):
        obs, r, *_ = env.step(np.zeros(2))
        y, r2, *_ = inner.step(pid.step(y, np.array([140.0, 1.0])))
        np.testing.assert_array_equal(obs[:5], y)
        assert r == r2


def test_residual_moves_the_action_and_reports_it():
    env = make_residual()
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([1.0, -1.0]))
    np.testing.assert_allclose(info["residual"], [40.0, -120.0])
    assert not info["diverged"]


@pytest.mark.parametrize("vector", [gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv])
def test_vector_envs_with_standard_wrappers(vector):
    fns = [functools.partial(make_residual, 30), functools.partial(make_residual, 30)]
    envs = vector(fns)
    envs = gym.wrappers.vector.RecordEpisodeStatistics(envs)
    envs = gym.wrappers.vector.RescaleAction(envs, min_action=-2.0, max_action=2.0)
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (2, 7)
    finished = 0
    for _ in range(31):
        obs, r, term, trunc, info = envs.step(np.zeros((2, 2)))
        if "episode" in info:
            finished += int(info["_episode"].sum())
    envs.close()
    assert finished == 2


def test_single_env_wrappers_and_adaptive_controller_async():
    env = gym.wrappers.RescaleAction(gym.wrappers.RecordEpisodeStatistics(make_residual(20)), 0.0, 1.0)
    env.reset(seed=1)
    for _ in range(20):
        *_, term, trunc, info = env.step(np.full(2, 0.5))
    assert trunc and "episode" in info
    envs = gym.vector.AsyncVectorEnv([functools.partial(make_adaptive_residual, 20)] * 2)
    envs.reset(seed=0)
    for _ in range(5):
        obs, *_ = envs.step(np.zeros((2, 2)))
    envs.close()
    assert np.all(np.isfinite(obs))


def test_reference_selection_tracks_chosen_setpoint():
    env = make_reference(steps=2000)
    env.reset(seed=0)
    for _ in range(300):
        obs, r, term, trunc, info = env.step(np.array([1.0, 1.0]))
    assert env.dt == pytest.approx(0.05)
    assert obs[5:].tolist() == [150.0, 1.5]
    assert abs(obs[0] - 150.0) < 2.0


def test_normalize_observation():
    env = NormalizeObservation(gym.make("neurocontrol/Helicopter-v0"), low=[0, 0, -3, 0, -10], high=[200, 2, 3, 0.3, 10])
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    with pytest.raises(ParameterError, match=r"NormalizeObservation needs finite `low` < `high`"):
        NormalizeObservation(gym.make("neurocontrol/Helicopter-v0"), low=[0] * 5, high=[0] * 5)


def test_errors():
    heli = gym.make("neurocontrol/Helicopter-v0")
    with pytest.raises(ParameterError, match=r"`env` must be a gymnasium.Env"):
        ResidualControlEnv("env", pid_factory, REF)
    with pytest.raises(ParameterError, match=r"`controller` must be an AbstractController or a factory"):
        ResidualControlEnv(heli, 3, REF)
    with pytest.raises(ParameterError, match=r"`reference` must be callable"):
        ResidualControlEnv(heli, pid_factory, [140.0, 1.0])
    with pytest.raises(ParameterError, match=r"`residual_scale` must be positive and finite"):
        ResidualControlEnv(heli, pid_factory, REF, residual_scale=[1.0, -1.0])
    with pytest.raises(ParameterError, match=r"`failure_reward` must be a finite number"):
        ResidualControlEnv(heli, pid_factory, REF, failure_reward=float("nan"))
    with pytest.raises(ParameterError, match=r"`reference_low` must be below `reference_high`"):
        ReferenceSelectionEnv(heli, pid_factory, reference_low=(1, 1), reference_high=(0, 2))
    with pytest.raises(ParameterError, match=r"`hold_steps` must be an integer >= 1, got 0\."):
        ReferenceSelectionEnv(heli, pid_factory, reference_low=(1, 1), reference_high=(2, 2), hold_steps=0)

    class NoDt(gym.Env):
        observation_space = gym.spaces.Box(-1, 1, (5,))
        action_space = gym.spaces.Box(-1, 1, (2,))

    with pytest.raises(ParameterError, match=r"must expose its control period as `env.unwrapped.dt`"):
        ResidualControlEnv(NoDt(), pid_factory, REF)


# --------------------------------------------------------------------------- one reference signature in simulate
def test_simulate_accepts_both_reference_forms_with_equal_results():
    # old behaviour: simulate called reference(timepts) only; a pointwise reference(t) -> (p,) failed
    from neurocontrol.scenario import Scenario
    from neurocontrol.simulation.loop import simulate

    sc = Scenario.from_toml("scenarios/hover_pid.toml").set("run.duration", "2")
    results = []
    for form in ("vector", "point"):
        setup = sc.build(0)
        ref = setup.reference
        reference = ref if form == "vector" else (lambda t, ref=ref: ref(float(t)).reshape(-1) if
                                                  not hasattr(t, "__len__") else (_ for _ in ()).throw(TypeError()))
        results.append(simulate(setup.env, setup.controller, reference, duration=2.0, seed=0,
                                options=setup.options))
    assert (results[0].outputs == results[1].outputs).all() and (results[0].inputs == results[1].inputs).all()


def test_sample_reference_forms_and_errors():
    import numpy as np

    from neurocontrol.exceptions import ParameterError, ShapeError
    from neurocontrol.reference import Constant, MultiSignal
    from neurocontrol.simulation.loop import sample_reference

    t = np.arange(5) * 0.1
    vector = MultiSignal(signals=(Constant(value=140.0), Constant(value=1.0)))
    import math

    def pointwise(s):
        return (140.0, 1.0 + math.sin(s))   # math.sin rejects arrays: pointwise form only

    assert np.array_equal(sample_reference(vector, t, 2), np.tile([140.0, 1.0], (5, 1)))
    expect = np.array([[140.0, 1.0 + math.sin(s)] for s in t])
    assert np.array_equal(sample_reference(pointwise, t, 2), expect)
    assert sample_reference(lambda s: 2.0, t, 1).shape == (5, 1)
    with pytest.raises(ShapeError, match=r"must give 2 set-points .* map a time t \(s\) to \(2,\)"):
        sample_reference(lambda s: (1.0, 2.0, 3.0), t, 2)
    with pytest.raises(ParameterError, match="must be callable"):
        sample_reference(3.0, t, 2)


# --------------------------------------------------------------------------- a controller per sub-env of a vector env
def _load_example(name):
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod          # AsyncVectorEnv pickles the example's top-level factory
    spec.loader.exec_module(mod)
    return mod


def _plain_episodes(mod, k, seed, steps, episode_steps):
    """Reference: sub-env k as one env driven by hand, a fresh controller state at each episode."""
    import numpy as np

    from neurocontrol.scenario import Scenario

    sc = Scenario.from_toml(mod.PID)
    reference, ctrl = sc.build(seed).reference, sc.build(seed).controller
    idx = list(ctrl.output_indices)
    env = mod.make_env(episode_steps)
    out = []
    obs, _ = env.reset(seed=seed + k)
    episode, t = 0, 0.0
    ctrl.reset(obs, np.asarray(reference(0.0)).reshape(-1), seed=mod.controller_seed(seed, k, 0))
    while len(out) < steps:
        obs, _, term, trunc, _ = env.step(ctrl.step(obs, np.asarray(reference(t)).reshape(-1)))
        out.append(obs[idx])
        t += ctrl.dt
        if term or trunc:
            out.append(None)                          # the vector env's autoreset step
            obs, _ = env.reset()
            episode, t = episode + 1, 0.0
            ctrl.reset(obs, np.asarray(reference(0.0)).reshape(-1), seed=mod.controller_seed(seed, k, episode))
    env.close()
    return out[:steps]


def test_vector_env_controller_example_matches_a_plain_loop_across_autoresets():
    import gymnasium as gym
    import numpy as np

    mod = _load_example("vector_env_controller")
    steps, episode_steps = 130, 50                  # two autoresets per sub-env
    sync = mod.run(n_envs=2, steps=steps, episode_steps=episode_steps, seed=3)
    assert list(sync["episodes"]) == [3, 3]
    for k in range(2):
        plain = _plain_episodes(mod, k, 3, steps, episode_steps)
        for i, row in enumerate(plain):
            if row is None:
                assert np.all(np.isnan(sync["outputs"][i, k]))
            else:
                assert np.array_equal(sync["outputs"][i, k], row), (k, i)
    asyn = mod.run(n_envs=2, steps=steps, episode_steps=episode_steps, seed=3, asynchronous=True)
    assert np.array_equal(asyn["outputs"], sync["outputs"], equal_nan=True)
    same = mod.run(n_envs=2, steps=steps, episode_steps=episode_steps, seed=3,
                   autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    assert not np.isnan(same["outputs"]).any()     # SAME_STEP has no reset step: the same episodes, without gaps
    for k in range(2):
        episodes = sync["outputs"][:, k][~np.isnan(sync["outputs"][:, k, 0])]
        assert np.array_equal(same["outputs"][: len(episodes), k], episodes)
