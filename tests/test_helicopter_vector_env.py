import gymnasium as gym
import numpy as np
import pytest

import plants
from neurocontrol.exceptions import NonFiniteError, ParameterError, ShapeError
from plants.helicopter import HelicopterEnv, HelicopterVectorEnv, step, trim

N = 6


def test_make_vec_uses_the_batched_vector_env():
    envs = gym.make_vec(plants.HELICOPTER_ID, num_envs=N)
    assert isinstance(envs.unwrapped, HelicopterVectorEnv) and envs.num_envs == N
    assert envs.observation_space.shape == (N, 5) and envs.action_space.shape == (N, 2)
    obs, info = envs.reset(seed=0)
    assert envs.observation_space.contains(obs)
    assert info["state"].shape == (N, 5) and info["setpoint"].shape == (N, 2)
    # the same random initial states as single envs drawing from one generator in turn
    single = HelicopterEnv()
    single.reset(seed=0)
    np.testing.assert_array_equal(obs[0], single.state)


def test_vector_step_equals_single_env_steps_exactly():
    rng = np.random.default_rng(1)
    tp = trim(140.0)
    x0 = np.tile(tp.x, (N, 1)) + rng.normal(0, [2, 0.1, 0.1, 0.01, 0.5], (N, 5))
    x0[0, 1:3] = 0.0                                  # one resting on the ground
    envs = HelicopterVectorEnv(num_envs=N)
    envs.reset(seed=0, options={"initial_state": x0})
    u = np.tile(tp.u, (N, 1)) + rng.normal(0, [20, 100], (N, 2))
    u[1, 0] = 1e4                                     # saturates
    obs, reward, terminated, truncated, info = envs.step(u)
    for i in range(N):
        env = HelicopterEnv()
        env.reset(options={"initial_state": x0[i]})
        o, r, te, tr, inf = env.step(u[i])
        assert np.array_equal(info["state"][i], inf["state"]) and np.array_equal(obs[i], o)
        assert reward[i] == r and terminated[i] == te and not truncated[i]
        assert np.array_equal(info["saturated"][i], inf["saturated"])
        assert np.array_equal(inf["state"], step(x0[i], inf["action"]))


def test_next_step_autoreset_after_truncation_and_seeded_determinism():
    def run():
        envs = gym.make_vec(plants.HELICOPTER_ID, num_envs=3, max_episode_steps=5)
        envs.reset(seed=7)
        a = np.tile(trim(140.0).u, (3, 1))
        out = [envs.step(a) for _ in range(6)]
        return out

    out = run()
    assert out[4][3].all() and not out[4][2].any()          # all truncated at step 5
    obs, reward, terminated, truncated, info = out[5]        # reset on the next step
    assert np.all(reward == 0.0) and not terminated.any() and not truncated.any()
    np.testing.assert_array_equal(info["time"], 0.0)
    assert np.all(obs[:, 2] == 0.0) and np.all((obs[:, 0] >= 120) & (obs[:, 0] <= 160))
    again = run()
    for a, b in zip(out, again):
        for x, y in zip(a[:4], b[:4]):
            assert np.array_equal(x, y)


def test_vector_env_errors():
    envs = HelicopterVectorEnv(num_envs=2)
    envs.reset(seed=0)
    before = envs._x.copy()
    with pytest.raises(NonFiniteError, match=r"`actions` must be finite, got NaN or inf in rows \[1\]; nothing was stepped\."):
        envs.step([[170.0, -96.0], [np.nan, 0.0]])
    with pytest.raises(ShapeError, match=r"`actions` must have shape \(2, 2\), got \(2,\)\."):
        envs.step([170.0, -96.0])
    np.testing.assert_array_equal(envs._x, before)
    with pytest.raises(ParameterError, match=r"HelicopterVectorEnv does not support \['gust_rate'\]; use "
                                             r"gym\.make_vec\(\.\.\., vectorization_mode='sync'\)"):
        HelicopterVectorEnv(num_envs=2, gust_rate=1.0)
    with pytest.raises(ParameterError, match=r"`num_envs` must be an integer >= 1, got 0\."):
        HelicopterVectorEnv(num_envs=0)


def test_sync_vectorisation_keeps_disturbances():
    envs = gym.make_vec(plants.HELICOPTER_ID, num_envs=2, vectorization_mode="sync", gust_rate=1.0,
                        gust_amplitude=1.0, sensor_noise_std=[0.1, 0.01, 0.01, 0.001, 0.01])
    obs, _ = envs.reset(seed=0)
    obs, *_ = envs.step(np.tile(trim(140.0).u, (2, 1)))
    assert obs.shape == (2, 5)
    envs.close()
