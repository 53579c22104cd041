"""Gymnasium pipelines around the adaptive controller: residual RL envs in vector envs, with standard wrappers.

Builds :class:`neurocontrol.gym_wrappers.ResidualControlEnv` around the
helicopter and the adaptive controller of ``scenarios/helicopter_hover.toml``
from a top-level (picklable) factory, runs it in ``SyncVectorEnv`` and
``AsyncVectorEnv`` with ``RecordEpisodeStatistics`` and ``RescaleAction``,
and prints the episode returns of a zero residual (= the adaptive
controller alone) and of a random residual.

Run: ``python examples/gym_pipeline.py [--envs 2] [--seconds 5] [--async]``
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

import gymnasium as gym
import numpy as np

import plants  # noqa: F401  (registers neurocontrol/Helicopter-v0)
from neurocontrol.gym_wrappers import ReferenceSelectionEnv, ResidualControlEnv
from neurocontrol.reference import Constant, MultiSignal
from neurocontrol.scenario import Scenario

HOVER = Path(__file__).resolve().parents[1] / "scenarios" / "helicopter_hover.toml"


def adaptive_controller(env):
    """The hover scenario's adaptive controller (with its warm-up PID) for ``env``."""
    from neurocontrol.scenario.kinds import build_adaptive

    return build_adaptive(Scenario.from_toml(HOVER).controller, env)


def make_residual_env(seconds: float = 30.0, residual_scale=(10.0, 30.0)) -> gym.Env:
    """Factory (top level, so AsyncVectorEnv can pickle it): the residual env of the hover task."""
    env = gym.make("neurocontrol/Helicopter-v0", max_episode_steps=int(round(seconds / 0.01)))
    reference = MultiSignal(signals=(Constant(value=140.0), Constant(value=1.0)))
    env = ResidualControlEnv(env, adaptive_controller, reference, residual_scale=residual_scale)
    return gym.wrappers.RecordEpisodeStatistics(env)


def make_reference_env(seconds: float = 30.0) -> gym.Env:
    """Factory: the agent picks rotor-speed and altitude set-points every 0.1 s."""
    env = gym.make("neurocontrol/Helicopter-v0", max_episode_steps=int(round(seconds / 0.01)))
    env = ReferenceSelectionEnv(env, adaptive_controller, reference_low=(120.0, 0.2), reference_high=(160.0, 1.8),
                                hold_steps=10)
    return gym.wrappers.RecordEpisodeStatistics(env)


def run(n_envs: int = 2, seconds: float = 5.0, asynchronous: bool = False, seed: int = 0, final=None) -> dict:
    """Run one episode per sub-env with a zero and with a random residual; return the episode returns.

    ``final``, a dict, receives each label's last observations, shape (n_envs, n + p) (the measurements and
    the reference of every sub-env after its last step).
    """
    factory = functools.partial(make_residual_env, seconds)
    vec_cls = gym.vector.AsyncVectorEnv if asynchronous else gym.vector.SyncVectorEnv
    out = {}
    for label in ("zero residual", "random residual"):
        envs = vec_cls([factory] * n_envs)
        envs = gym.wrappers.vector.RescaleAction(envs, min_action=-2.0, max_action=2.0)
        envs.reset(seed=seed)
        rng = np.random.default_rng(seed)
        returns = [None] * n_envs
        steps = int(round(seconds / 0.01))
        for _ in range(steps):
            a = np.zeros(envs.action_space.shape) if label == "zero residual" else \
                rng.uniform(-2.0, 2.0, envs.action_space.shape)
            obs, reward, terminated, truncated, info = envs.step(a)
            done = terminated | truncated
            if final is not None:      # next-step autoreset: this step's obs is a finished episode's last
                final.setdefault(label, np.full(obs.shape, np.nan))[done] = obs[done]
            if done.any() and "episode" in info:
                for i in np.flatnonzero(info["_episode"]):
                    returns[i] = float(info["episode"]["r"][i])
            if all(r is not None for r in returns):
                break
        envs.close()
        out[label] = returns
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envs", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--async", dest="asynchronous", action="store_true", help="AsyncVectorEnv (one process per env)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out = run(args.envs, args.seconds, args.asynchronous, args.seed)
    kind = "AsyncVectorEnv" if args.asynchronous else "SyncVectorEnv"
    print(f"{kind}, {args.envs} envs, {args.seconds} s episodes: episode returns (inner env reward, 0 is perfect)")
    for label, returns in out.items():
        print(f"  {label:<16} " + "  ".join(f"{r:9.3f}" for r in returns))
    return out


if __name__ == "__main__":
    main()
