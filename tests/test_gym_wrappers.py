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
